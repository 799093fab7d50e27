import FlywheelCore
import Foundation
import Processes
import Testing

/// Text with U+0000 inside comes back from the store whole: GRDB hands a Swift `String` to SQLite as a C string,
/// which ends at the first NUL, so every text column must be written and read as its bytes.
@Suite struct StoreTextTests {
    /// `label` with NULs before, inside and after it, and a non-ASCII character so byte and character counts differ.
    static func nul(_ label: String) -> String { "\u{0}\(label)\u{0}é\u{0}tail" }

    @Test func everyTextFieldRoundTripsWithEmbeddedNULs() async throws {
        let folder = TemporaryDirectory()
        let path = folder.file("s.sqlite")
        let store = try Store(path: path)
        try store.claim(for: Self.nul("pipeline"))
        let state = Data(#"{"grammar":""#.utf8) + Data([0]) + Data(#"x"}"#.utf8)
        let version = try store.insertVersion(round: 0, parent: nil, state: state)
        #expect(try store.version(round: 0)?.state == state)
        try store.insertRound(
            RoundRecord(
                round: 1, state: .running, solverVersion: version.id, difficulty: 1, dataPolicy: .accumulate,
                gate: .always, learning: true, startedAt: "now"))

        // A training task, a failed one, and a solver answer, a solver error, a verdict and a check error.
        let task = TaskSpec(
            prompt: Self.nul("prompt"), reference: .string(Self.nul("reference")),
            meta: .object(["note": .string(Self.nul("meta"))]))
        let taskID = try store.insertTask(
            round: 1, index: 0, seed: 1, difficulty: 1, status: .kept, task: task, promptHash: "h0",
            contamination: Self.nul("contamination"), failure: nil, seconds: 0)
        _ = try store.insertTask(
            round: 1, index: 1, seed: 2, difficulty: 1, status: .error, task: nil, promptHash: nil,
            contamination: nil, failure: PluginFailure(.malformed, Self.nul("generate error")), seconds: 0)
        let solution = Solution(
            answer: Self.nul("answer"), trace: Self.nul("trace"), usage: .object(["note": .string(Self.nul("usage"))]))
        let accepted = try store.insertAttempt(
            taskID: taskID, attempt: 0, seed: 3, solverVersion: version.id, result: .success(solution), seconds: 0)
        let rejected = try store.insertAttempt(
            taskID: taskID, attempt: 1, seed: 4, solverVersion: version.id,
            result: .success(Solution(answer: Self.nul("wrong answer"))), seconds: 0)
        let failed = try store.insertAttempt(
            taskID: taskID, attempt: 2, seed: 5, solverVersion: version.id,
            result: .failure(PluginFailure(.crash, Self.nul("solve error"))), seconds: 0)
        let example = StoredExample(
            prompt: task.prompt, answer: solution.answer, reference: task.reference, meta: task.meta,
            trace: solution.trace)
        try store.insertVerdict(
            attemptID: accepted, round: 1, result: .success(Judgement(accept: true, score: 1, reason: Self.nul("ok"))),
            checker: Self.nul("checker"), seconds: 0, example: AcceptedExample(example, dictionary: nil))
        try store.insertVerdict(
            attemptID: rejected, round: 1,
            result: .success(Judgement(accept: false, score: 0, reason: Self.nul("turned down"))),
            checker: Self.nul("checker"), seconds: 0, example: nil)
        try store.insertVerdict(
            attemptID: failed, round: 1, result: .failure(PluginFailure(.timeout, Self.nul("check error"))),
            checker: Self.nul("checker"), seconds: 0, example: nil)

        let tasks = try store.tasks(round: 1)
        #expect(tasks.map(\.task) == [task, nil])
        #expect(tasks.map(\.failure) == [nil, PluginFailure(.malformed, Self.nul("generate error"))])
        #expect(
            try store.attempts(round: 1).map(\.solution)
                == [solution, Solution(answer: Self.nul("wrong answer")), nil])
        #expect(try store.attempts(round: 1).last?.failure == PluginFailure(.crash, Self.nul("solve error")))
        let verdicts = Dictionary(uniqueKeysWithValues: try store.verdicts(round: 1).map { ($0.attemptID, $0) })
        #expect(verdicts[accepted]?.judgement?.reason == Self.nul("ok"))
        #expect(verdicts[rejected]?.judgement?.reason == Self.nul("turned down"))
        #expect(verdicts[failed]?.failure == PluginFailure(.timeout, Self.nul("check error")))
        #expect(try store.examples(.all) == [example])

        // What reports show.
        let shownAccepted = try #require(try store.sampleAccepted(round: 1, limit: 5).first)
        #expect(shownAccepted.reason == Self.nul("ok") && shownAccepted.lineage.checker == Self.nul("checker"))
        let shownRejected = try #require(try store.sampleRejected(round: 1, limit: 5).first)
        #expect(shownRejected.prompt == task.prompt)
        #expect(shownRejected.answer == Self.nul("wrong answer"))
        #expect(shownRejected.reason == Self.nul("turned down"))
        #expect(try store.examplesWithLineage(round: 1).first?.lineage.checker == Self.nul("checker"))

        // The held-out set and its results.
        try store.insertHeldoutItem(index: 0, seed: 1, status: .kept, task: task, promptHash: "h1", failure: nil)
        try store.insertHeldoutItem(
            index: 1, seed: 2, status: .error, task: nil, promptHash: nil,
            failure: PluginFailure(.refused, Self.nul("heldout error")))
        #expect(try store.heldoutItems().map(\.task) == [task, nil])
        #expect(try store.heldoutItems().last?.failure == PluginFailure(.refused, Self.nul("heldout error")))
        let results = [
            HeldoutResult(
                index: 0, answer: Self.nul("heldout answer"),
                outcome: .success(Judgement(accept: false, score: 0, reason: Self.nul("heldout reason"))),
                usage: .object(["n": .string(Self.nul("u"))])),
            HeldoutResult(
                index: 1, answer: nil, outcome: .failure(PluginFailure(.crash, Self.nul("heldout solve error")))),
        ]
        for result in results { try store.insertHeldoutResult(result, round: 1, solverVersion: version.id) }
        #expect(try store.heldoutResults(round: 1) == results)

        // A store is claimed by its whole name, not by the part before a NUL.
        try store.claim(for: Self.nul("pipeline"))
        #expect(throws: FlywheelError.self) { try store.claim(for: Self.nul("pipeline") + "2") }

        // The columns nothing reads back hold every byte too, as the sqlite3 shell shows.
        let hex = try await ChildProcess(
            ["sqlite3", path, "SELECT hex(contamination) FROM tasks WHERE idx = 0"]
        ).wait(timeout: .seconds(30))
        #expect(hex.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == Self.hex(Self.nul("contamination")))
        #expect(try store.verify().ok)
    }

    static func hex(_ text: String) -> String {
        text.utf8.map { String(format: "%02X", $0) }.joined()
    }
}
