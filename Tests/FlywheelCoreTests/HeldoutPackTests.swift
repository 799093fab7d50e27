import FlywheelCore
import Foundation
import Processes
import Testing

/// A committed round's held-out results live in one frame (`heldout_packs`); an open round's are rows. Every reader
/// must see the same results either way.
@Suite struct HeldoutPackTests {
    /// A store with held-out items 0..<count and round `round` open, solved by version 1.
    static func openStore(_ path: String, rounds: ClosedRange<Int> = 0...0, items: Int = 4) throws -> Store {
        let store = try Store(path: path)
        for round in rounds {
            try store.insertRound(
                RoundRecord(
                    round: round, state: .running, solverVersion: nil, difficulty: 1, dataPolicy: .accumulate,
                    gate: .always, learning: true, startedAt: "now"))
        }
        _ = try store.insertVersion(round: 0, parent: nil, state: Data("{}".utf8))
        for index in 0..<items {
            try store.insertHeldoutItem(
                index: index, seed: UInt64(index), status: .kept, task: TaskSpec(prompt: "p\(index)"),
                promptHash: nil, failure: nil)
        }
        return store
    }

    /// Results with every column set otherwise: NULs in text, an error, usage, retries, a score that is neither 0
    /// nor 1, a checker, and an item nobody judged.
    static func record(_ store: Store, round: Int) throws {
        let checker = CheckerFingerprint(identity: "check.py", fingerprint: "f1")
        try store.insertHeldoutResult(
            HeldoutResult(
                index: 0, answer: "4\0tail", outcome: .success(Judgement(accept: true, score: 1, reason: "r\0")),
                usage: ["prompt_tokens": 7, "completion_tokens": 2]),
            round: round, solverVersion: 1, retries: 2, fingerprint: checker)
        try store.insertHeldoutResult(
            HeldoutResult(
                index: 1, answer: "5", outcome: .success(Judgement(accept: false, score: 0.25, reason: nil)),
                usage: ["prompt_tokens": 3]),
            round: round, solverVersion: 1, fingerprint: checker)
        try store.insertHeldoutResult(
            HeldoutResult(index: 2, answer: "6", outcome: .failure(PluginFailure(.timeout, "slow\0 checker"))),
            round: round, solverVersion: 1, retries: 1, fingerprint: checker)
        try store.insertHeldoutResult(
            HeldoutResult(index: 3, answer: nil, outcome: .failure(PluginFailure(.crash, "solver died"))),
            round: round, solverVersion: 1)
    }

    /// A store whose round 0 holds `record`'s results and is committed (so they are packed).
    static func committedStore(_ path: String) throws {
        let store = try openStore(path)
        try record(store, round: 0)
        try store.commitRound(0, state: .promoted, summary: summary(round: 0, n: 4), promote: 1, finishedAt: "later")
    }

    static func summary(round: Int, n: Int) -> RoundSummary {
        RoundSummary(
            round: round, difficulty: 1, dataPolicy: .accumulate, gate: .always, learning: true, solverVersion: nil,
            candidateVersion: 1, counts: RoundCounts(),
            heldout: HeldoutSummary(n: n, score: 0.5, ci: [0, 1], method: .wilson), heldoutErrors: 2,
            vsPrevious: nil, learnedFrom: 0, learnSeconds: 0, evaluateSeconds: 0)
    }

    @Test func aCommitPacksTheRoundsResultsAndEveryReaderSeesTheSame() async throws {
        let folder = TemporaryDirectory()
        let path = folder.file("s.sqlite")
        let store = try Self.openStore(path, rounds: 0...1)
        try Self.record(store, round: 0)
        let open = try store.storedHeldoutResults(round: 0)
        let results = try store.heldoutResults(round: 0)
        let counts = try store.counts(round: 0)
        let checkers = try store.checkerFingerprints(round: 0)
        #expect(open.count == 4)
        #expect(open[0].answer == "4\0tail" && open[0].reason == "r\0" && open[0].retries == 2)
        #expect(open[2].error == "slow\0 checker" && open[2].errorKind == "timeout")
        #expect(open[3].answer == nil && open[3].checkerID == nil)
        #expect(counts.evaluationPromptTokens == 10 && counts.evaluationCompletionTokens == 2 && counts.retries == 3)
        #expect(checkers.map(\.fingerprint) == ["f1"])

        try store.commitRound(
            0, state: .promoted, summary: Self.summary(round: 0, n: 4), promote: 1, finishedAt: "later")
        #expect(try store.storedHeldoutResults(round: 0) == open)
        #expect(try store.heldoutResults(round: 0) == results)
        #expect(try store.counts(round: 0) == counts)
        #expect(try store.checkerFingerprints(round: 0) == checkers)
        #expect(try await sqlite(path, "select count(*) from heldout_results") == "0")
        #expect(try await sqlite(path, "select round || ':' || hex(substr(results, 1, 4)) from heldout_packs") == "0:28B52FFD")
        #expect(try store.verify().ok)
        let readOnly = try Store(path: path, access: .readOnly)
        #expect(try readOnly.storedHeldoutResults(round: 0) == open)

        // An identical candidate's round copies the packed results as its own rows, without usage or retries.
        #expect(try store.copyHeldoutResults(from: 0, to: 1, solverVersion: 1) == 4)
        let copied = try store.storedHeldoutResults(round: 1)
        #expect(try await sqlite(path, "select count(*) from heldout_results where round = 1") == "4")
        #expect(copied.map(\.usage).allSatisfy { $0 == nil } && copied.map(\.retries).allSatisfy { $0 == 0 })
        var expected = open
        for index in expected.indices { (expected[index].usage, expected[index].retries) = (nil, 0) }
        #expect(copied == expected)
        #expect(try store.discardErrors(round: 1) == 2)
        #expect(try store.storedHeldoutResults(round: 0) == open, "discarding an open round's errors left round 0 as it was")
    }

    @Test func aPackThatDoesNotDecodeNamesItsRoundAndVerifyStoreReportsIt() async throws {
        let folder = TemporaryDirectory()
        let path = folder.file("s.sqlite")
        try Self.committedStore(path)
        _ = try await sqlite(path, "update heldout_packs set results = substr(results, 1, length(results) - 3)")
        let damaged = try Store(path: path, access: .readOnly)
        do {
            _ = try damaged.heldoutResults(round: 0)
            Issue.record("a damaged pack must not decode silently")
        } catch let error as FlywheelError {
            #expect(error.code == .corruptStore)
            #expect(error.message.contains("heldout_packs row 0: round 0's held-out results do not decode"))
            #expect(error.message.contains("run `flywheel verify-store`"), "\(error.message)")
        }
        let report = try damaged.verify()
        #expect(report.problems.contains { $0.contains("round 0's held-out results do not decode") }, "\(report.problems)")
    }

    @Test func aPackNamingARowThatIsGoneIsReported() async throws {
        let folder = TemporaryDirectory()
        let path = folder.file("s.sqlite")
        try Self.committedStore(path)
        _ = try await sqlite(path, "PRAGMA foreign_keys = OFF; delete from checkers")
        let report = try Store(path: path, access: .readOnly).verify()
        #expect(report.problems.contains { $0.contains("round 0: its packed held-out results name 1 missing checkers rows") }, "\(report.problems)")
    }

    /// One query's output with the `sqlite3` shell.
    func sqlite(_ path: String, _ sql: String) async throws -> String {
        let outcome = try await ChildProcess(["sqlite3", path, sql]).wait(timeout: .seconds(30))
        #expect(outcome.exitCode == 0, "\(outcome)")
        return outcome.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
