import FlywheelCore
import Foundation
import Processes
import Testing

@Suite struct StoreTests {
    @Test func aNewStoreIsMigratedInWALMode() async throws {
        let folder = TemporaryDirectory()
        let store = try Store(path: folder.file("nested/s.sqlite"))
        let mode = try await ChildProcess(["sqlite3", folder.file("nested/s.sqlite"), "PRAGMA journal_mode"]).wait()
        #expect(mode.stdout == "wal\n", "\(mode)")
        #expect(try store.rounds().isEmpty)
        #expect(try store.verify().ok)
    }

    @Test func aMissingStoreIsAUsageErrorWhenNotCreating() {
        let folder = TemporaryDirectory()
        #expect(throws: FlywheelError.self) { try Store(path: folder.file("absent.sqlite"), access: .readOnly) }
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

    @Test func aFirstRunThatDiedInItsFirstMigrationLeftANewStore() async throws {
        // GRDB creates its bookkeeping table before the migration's transaction; a kill or a full disk in that
        // transaction leaves only that table.
        let folder = TemporaryDirectory()
        let path = folder.file("s.sqlite")
        #expect(try await runSQLite(path, "CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY)") == 0)
        do {
            _ = try Store(path: path, access: .readOnly)
            Issue.record("reading an empty store should say there is nothing in it")
        } catch let error as FlywheelError {
            #expect(error.code == .corruptStore)
            #expect(error.message.contains("empty database"), "\(error.message)")
        }
        let store = try Store(path: path)
        #expect(try store.rounds().isEmpty)
        #expect(try Store(path: path, access: .readOnly).verify().ok)
    }

    @Test func examplesRoundTripThroughCompressionAndVerifyCatchesDamage() async throws {
        let folder = TemporaryDirectory()
        let path = folder.file("s.sqlite")
        let store = try Store(path: path)
        try store.insertRound(
            RoundRecord(
                round: 1, state: .running, solverVersion: nil, difficulty: 1, dataPolicy: .accumulate,
                gate: .always, learning: true, startedAt: "now", finishedAt: nil, summary: nil))
        let version = try store.insertVersion(round: 0, parent: nil, state: Data("{}".utf8))
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
            seconds: 0, example: AcceptedExample(stored, dictionary: nil))
        #expect(try store.examples(.all) == [stored])
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
        let first = try store.insertVersion(round: 0, parent: nil, state: Data(#"{"a":1}"#.utf8))
        let again = try store.insertVersion(round: 0, parent: nil, state: Data(#"{"a":2}"#.utf8))
        #expect(first == again)
    }

    @Test(arguments: [
        ("UPDATE rounds SET gate = 'sometimes'", "rounds row 1", "`gate` holds \"sometimes\""),
        ("UPDATE rounds SET data_policy = 'forget'", "rounds row 1", "`data_policy` holds \"forget\""),
        ("UPDATE rounds SET summary = '{\"round\": 1}'", "rounds row 1", "summary does not decode"),
    ])
    func aValueThatDoesNotDecodeIsACorruptStoreErrorNamingTheRow(sql: String, row: String, problem: String) async throws
    {
        let folder = TemporaryDirectory()
        let path = folder.file("s.sqlite")
        try Store(path: path).insertRound(
            RoundRecord(
                round: 1, state: .running, solverVersion: nil, difficulty: 1, dataPolicy: .accumulate, gate: .always,
                learning: true, startedAt: "now"))
        #expect(try await runSQLite(path, sql) == 0)
        do {
            _ = try Store(path: path).rounds()
            Issue.record("a damaged value must not decode silently")
        } catch let error as FlywheelError {
            #expect(error.code == .corruptStore)
            #expect(error.message.contains(row), "\(error.message)")
            #expect(error.message.contains(problem), "\(error.message)")
        }
    }

    @Test func aStoreBelongsToThePipelineThatMadeIt() throws {
        let folder = TemporaryDirectory()
        let store = try Store(path: folder.file("s.sqlite"))
        try store.claim(for: "words")
        try store.claim(for: "words")
        #expect(throws: FlywheelError.self) { try store.claim(for: "listfn") }
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
        let counts = try JSONDecoder().decode(RoundCounts.self, from: old)
        #expect(counts.generated == 5 && counts.accepted == 2 && counts.errorsByKind == ["timeout": 1])
        #expect(counts.evaluationCompletionTokens == 0)
        var full = RoundCounts()
        full.evaluationPromptTokens = 7
        full.checkSeconds = 1.5
        #expect(try JSONDecoder().decode(RoundCounts.self, from: JSONEncoder().encode(full)) == full)
    }
}
