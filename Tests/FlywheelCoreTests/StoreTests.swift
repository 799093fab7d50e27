import Foundation
import FlywheelCore
import GRDB
import Processes
import Testing

@Suite struct StoreTests {
    @Test func aNewStoreIsMigratedInWALMode() throws {
        let folder = TemporaryDirectory()
        let store = try Store(path: folder.file("nested/s.sqlite"))
        #expect(try store.read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") } == "wal")
        #expect(try store.rounds().isEmpty)
        #expect(try store.verify().ok)
    }

    @Test func aMissingStoreIsAUsageErrorWhenNotCreating() {
        let folder = TemporaryDirectory()
        #expect(throws: FlywheelError.self) { try Store(path: folder.file("absent.sqlite"), create: false) }
    }

    @Test func aFileThatIsNotAStoreIsRefusedClearly() throws {
        let folder = TemporaryDirectory()
        try Data("this is not sqlite, just text that is long enough to look like a header".utf8)
            .write(to: URL(fileURLWithPath: folder.file("junk.sqlite")))
        do {
            _ = try Store(path: folder.file("junk.sqlite"))
            Issue.record("opening junk should fail")
        } catch let error as FlywheelError {
            #expect(error.code == .corruptStore)
            #expect(error.message.contains("not a usable Flywheel store"))
        }
    }

    @Test func examplesRoundTripThroughCompressionAndVerifyCatchesDamage() async throws {
        let folder = TemporaryDirectory()
        let path = folder.file("s.sqlite")
        let store = try Store(path: path)
        try store.insertRound(
            RoundRecord(
                round: 1, state: .running, solverVersion: nil, difficulty: 1, dataPolicy: "accumulate",
                gate: "always", learning: true, startedAt: "now", finishedAt: nil, summary: nil))
        let version = try store.insertVersion(round: 0, parent: nil, state: .object([:]))
        let task = TaskSpec(prompt: "What is 2 + 2?", reference: "4", meta: .object(["family": "add"]))
        let taskID = try store.insertTask(
            round: 1, index: 0, seed: 9, difficulty: 1, status: .kept, task: task, promptHash: "h", contamination: nil,
            failure: nil, seconds: 0)
        let attemptID = try store.insertAttempt(
            taskID: taskID, attempt: 0, seed: 3, solverVersion: version.id, result: .success(Solution(answer: "4")),
            seconds: 0)
        let stored = StoredExample(prompt: task.prompt, answer: "4", reference: "4", meta: task.meta, trace: "<b>\u{1}")
        try store.insertVerdict(
            attemptID: attemptID, round: 1, result: .success(Judgement(accept: true, score: 1)), checker: "c",
            seconds: 0, example: try ExampleCodec.compress(stored, dictionary: nil))
        let rows = try store.exampleRows(where: "1")
        #expect(rows.map(\.example) == [stored])
        #expect(try store.verify().ok)

        // Flip one byte inside the frame with the sqlite3 shell, as a disk fault would.
        let status = try await runSQLite(
            path, "UPDATE examples SET payload = substr(payload, 1, 10) || x'00' || substr(payload, 12)")
        #expect(status == 0)
        let report = try Store(path: path).verify()
        #expect(!report.ok)
        #expect(report.problems.contains { $0.contains("example") })
    }

    @Test func versionsAreInsertedOncePerRound() throws {
        let folder = TemporaryDirectory()
        let store = try Store(path: folder.file("s.sqlite"))
        let first = try store.insertVersion(round: 0, parent: nil, state: .object(["a": 1]))
        let again = try store.insertVersion(round: 0, parent: nil, state: .object(["a": 2]))
        #expect(first == again)
    }
}

/// Runs one statement with the `sqlite3` shell and returns its exit code (nil when a signal ended it).
func runSQLite(_ path: String, _ sql: String) async throws -> Int32? {
    let outcome = try await ChildProcess(["sqlite3", path, sql]).wait(timeout: .seconds(30))
    #expect(!outcome.timedOut, "watchdog: \(outcome)")
    return outcome.exitCode
}

@Suite struct RoundSummaryTests {
    @Test func countsWrittenBeforeAFieldExistedStillDecode() throws {
        let old = Data(#"{"generated": 5, "accepted": 2, "errorsByKind": {"timeout": 1}}"#.utf8)
        let counts = try JSONDecoder().decode(RoundSummary.Counts.self, from: old)
        #expect(counts.generated == 5 && counts.accepted == 2 && counts.errorsByKind == ["timeout": 1])
        #expect(counts.evaluationCompletionTokens == 0)
        var full = RoundSummary.Counts()
        full.evaluationPromptTokens = 7
        full.checkSeconds = 1.5
        #expect(try JSONDecoder().decode(RoundSummary.Counts.self, from: JSONEncoder().encode(full)) == full)
    }
}
