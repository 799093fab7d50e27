import FlywheelCore
import Foundation
import Testing

/// Finished items are committed together (`WriteBuffer`): the writer reads what it wrote at once, another reader
/// sees it within a fraction of a second without the writer doing anything more, and rows that refer to each other
/// by the ids the store hands out stay joined.
@Suite struct StoreBufferTests {
    static func openRound(_ store: Store) throws -> Int64 {
        let version = try store.insertVersion(round: 0, parent: nil, state: Data("{}".utf8))
        try store.insertRound(
            RoundRecord(
                round: 1, state: .running, solverVersion: version.id, difficulty: 1, dataPolicy: .accumulate,
                gate: .always, learning: true, startedAt: "now"))
        return version.id
    }

    @Test func theWriterReadsWhatItWroteAtOnceAndOthersSoonAfter() throws {
        let folder = TemporaryDirectory()
        let path = folder.file("s.sqlite")
        let store = try Store(path: path)
        _ = try Self.openRound(store)
        let other = try Store(path: path, access: .readOnly)
        #expect(try other.tasks(round: 1).isEmpty)

        _ = try store.insertTask(
            round: 1, index: 0, seed: 1, difficulty: 1, status: .kept, task: TaskSpec(prompt: "p0"),
            promptHash: "h0", contamination: nil, failure: nil, seconds: 0)
        #expect(try store.tasks(round: 1).map(\.task?.prompt) == ["p0"])

        _ = try store.insertTask(
            round: 1, index: 1, seed: 2, difficulty: 1, status: .kept, task: TaskSpec(prompt: "p1"),
            promptHash: "h1", contamination: nil, failure: nil, seconds: 0)
        // Nobody touches `store` again: the row must still reach the file within the buffer's interval.
        let deadline = Date().addingTimeInterval(5)
        var seen: [String?] = []
        while Date() < deadline {
            seen = try other.tasks(round: 1).map(\.task?.prompt)
            if seen.count == 2 { break }
            Thread.sleep(forTimeInterval: 0.02)
        }
        #expect(seen == ["p0", "p1"])
    }

    @Test func rowsReferToTheIdsTheStoreHandedOut() throws {
        let folder = TemporaryDirectory()
        let path = folder.file("s.sqlite")
        let version: Int64
        do {
            let store = try Store(path: path)
            version = try Self.openRound(store)
            for index in 0..<600 {
                let task = try store.insertTask(
                    round: 1, index: index, seed: UInt64(index), difficulty: 1, status: .kept,
                    task: TaskSpec(prompt: "p\(index)"), promptHash: "h\(index)", contamination: nil, failure: nil,
                    seconds: 0)
                let attempt = try store.insertAttempt(
                    taskID: task, attempt: 0, seed: 0, solverVersion: version,
                    result: .success(Solution(answer: "a\(index)")), seconds: 0)
                try store.insertVerdict(
                    attemptID: attempt, round: 1, result: .success(Judgement(accept: true, score: 1, reason: nil)),
                    checker: "c", seconds: 0, example: nil)
            }
            // The store object goes away here without another read or write: what waits is committed then.
        }
        let store = try Store(path: path, access: .readOnly)
        let tasks = Dictionary(uniqueKeysWithValues: try store.tasks(round: 1).map { ($0.id, $0.index) })
        let attempts = try store.attempts(round: 1)
        #expect(tasks.count == 600)
        #expect(attempts.count == 600)
        #expect(attempts.allSatisfy { "a\(tasks[$0.taskID] ?? -1)" == $0.solution?.answer })
        #expect(Set(try store.verdicts(round: 1).map(\.attemptID)) == Set(attempts.map(\.id)))
    }
}
