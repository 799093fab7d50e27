import Foundation
import FlywheelCore
import GRDB
import Testing

/// Rounds driven through the library with real external plugin programs from Fixtures/plugins.
@Suite struct RoundIntegrationTests {
    static func plugin(_ name: String, _ arguments: String...) -> String {
        (["python3", "-u", Repository.fixture("plugins/\(name)")] + arguments).map { "\"\($0)\"" }
            .joined(separator: ", ")
    }

    static func runner(_ yaml: String, in folder: TemporaryDirectory) throws -> PipelineRunner {
        let file = folder.file("pipeline.yaml")
        try yaml.write(toFile: file, atomically: true, encoding: .utf8)
        let config = try PipelineConfig.load(path: file)
        return try PipelineRunner(config: config, store: try Store(path: folder.file("store.sqlite")), log: .silent)
    }

    @Test func copiesAndNearCopiesOfHeldOutPromptsAreDroppedCountedAndNeverLearned() async throws {
        let folder = TemporaryDirectory()
        let runner = try Self.runner(
            """
            seed: 3
            round_size: 60
            heldout: {size: 20}
            generator: {command: [\(Self.plugin("contaminating_gen.py", "--record", folder.file("heldout.jsonl")))]}
            solver: {command: [\(Self.plugin("arith_solve.py", "--base", "100"))]}
            checker: {command: [\(Self.plugin("exact_check.py"))]}
            gate: always
            """, in: folder)
        _ = try await runner.runRound()
        let outcome = try await runner.runRound()
        await runner.shutdown()

        let byKind = try runner.store.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT json_extract(meta, '$.contamination') AS kind, status, count(*) AS n FROM tasks
                    WHERE round = 1 GROUP BY kind, status
                    """)
        }
        var table: [String: [String: Int]] = [:]
        for row in byKind { table[row["kind"], default: [:]][row["status"]] = row["n"] }
        let planted = (table["exact"]?.values.reduce(0, +) ?? 0) + (table["near"]?.values.reduce(0, +) ?? 0)
        #expect(planted >= 10, "the generator should have planted copies: \(table)")
        #expect(table["exact"]?.keys.sorted() == ["contaminated"])
        #expect(table["near"]?.keys.sorted() == ["contaminated"])
        #expect(table["none"]?["contaminated"] == nil)
        #expect(outcome.summary.counts.contaminated == planted)

        let learned = try runner.store.exampleRows(where: "1")
        #expect(!learned.isEmpty)
        #expect(learned.allSatisfy { $0.example.meta?["contamination"]?.stringValue == "none" })
        let heldout = Set(try runner.store.heldoutItems().compactMap { $0.task.map { PromptNormalizer.normalize($0.prompt) } })
        #expect(learned.allSatisfy { !heldout.contains(PromptNormalizer.normalize($0.example.prompt)) })
        let status = try Status.json(pipeline: "p", store: runner.store)
        #expect(status["rounds"]?.arrayValue?[1]["contaminated"] == .number(Double(planted)))
    }

    /// A solver that gets better (gain > 0), worse (< 0) or stays the same (0) with few-shot examples.
    static func gatePipeline(gate: String, base: Int, gain: Int, folder: TemporaryDirectory) throws -> PipelineRunner {
        try runner(
            """
            seed: 11
            round_size: 40
            heldout: {size: 120}
            generator: {command: [\(plugin("arith_gen.py"))]}
            solver: {command: [\(plugin("arith_solve.py", "--base", "\(base)", "--gain", "\(gain)"))], examples: 3}
            checker: {command: [\(plugin("exact_check.py"))]}
            gate: \(gate)
            """, in: folder)
    }

    static func rounds(_ runner: PipelineRunner, _ count: Int) async throws -> [RoundOutcome] {
        var outcomes: [RoundOutcome] = []
        for _ in 0...count { outcomes.append(try await runner.runRound()) }
        await runner.shutdown()
        return outcomes
    }

    @Test(arguments: [
        // gate, base, gain → expected verdict and state of round 1
        ("always", 90, -25, Verdict.regressed, RoundState.promoted),
        ("no-regression", 90, -25, .regressed, .rejected),
        ("no-regression", 30, 0, .noChange, .promoted),
        ("no-regression", 30, 20, .improved, .promoted),
        ("must-improve", 30, 0, .noChange, .rejected),
        ("must-improve", 30, 20, .improved, .promoted),
    ])
    func theGatePromotesAndRejectsAsSpecified(
        gate: String, base: Int, gain: Int, verdict: Verdict, state: RoundState
    ) async throws {
        let folder = TemporaryDirectory()
        let runner = try Self.gatePipeline(gate: gate, base: base, gain: gain, folder: folder)
        let outcomes = try await Self.rounds(runner, 2)
        let first = outcomes[1]
        #expect(first.summary.vsPrevious?.verdict == verdict)
        #expect(first.state == state)
        let records = try runner.store.rounds()
        let baselineVersion = try #require(try runner.store.version(round: 0))
        let roundOneVersion = try #require(try runner.store.version(round: 1))
        #expect(roundOneVersion.promoted == (state == .promoted))
        // Round 2 solves with the last promoted version: round 1's when promoted, the baseline's after a rejection.
        #expect(records[2].solverVersion == (state == .promoted ? roundOneVersion.id : baselineVersion.id))
        if state == .rejected {
            // A rejected round keeps its data, flagged by its state, and round 2 compares against round 0.
            #expect(first.summary.counts.accepted > 0)
            #expect(try runner.store.exampleRows(where: "e.round = 1").count == first.summary.counts.accepted)
            #expect(outcomes[2].summary.comparedWithRound == 0)
        }
    }

    @Test(arguments: ["accumulate", "replace"])
    func theDataPolicyDecidesWhatLearningSeesAndIsRecorded(policy: String) async throws {
        let folder = TemporaryDirectory()
        let runner = try Self.runner(
            """
            seed: 5
            round_size: 30
            heldout: {size: 30}
            generator: {command: [\(Self.plugin("arith_gen.py"))]}
            solver: {command: [\(Self.plugin("arith_solve.py"))]}
            checker: {command: [\(Self.plugin("exact_check.py"))]}
            gate: always
            data_policy: \(policy)
            """, in: folder)
        let outcomes = try await Self.rounds(runner, 3)
        var accumulated = 0
        for outcome in outcomes.dropFirst() {
            accumulated += outcome.summary.counts.accepted
            #expect(outcome.summary.dataPolicy == policy)
            #expect(
                outcome.summary.learnedFrom == (policy == "accumulate" ? accumulated : outcome.summary.counts.accepted))
        }
        #expect(try runner.store.rounds().allSatisfy { $0.dataPolicy == policy })
    }

    @Test func theCurriculumMovesDifficultyToKeepAcceptanceInItsBand() async throws {
        let folder = TemporaryDirectory()
        let runner = try Self.runner(
            """
            seed: 5
            round_size: 20
            heldout: {size: 20}
            generator: {command: [\(Self.plugin("arith_gen.py"))]}
            solver: {command: [\(Self.plugin("arith_solve.py", "--base", "100"))]}
            checker: {command: [\(Self.plugin("exact_check.py"))]}
            curriculum: {band: [0.2, 0.8], step: 2, max: 4}
            """, in: folder)
        let outcomes = try await Self.rounds(runner, 4)
        // Everything is accepted (above the band), so difficulty climbs by 2 until the maximum.
        #expect(outcomes.dropFirst().map(\.summary.difficulty) == [1, 3, 4, 4])
        let recorded = try runner.store.read { db in
            try Int.fetchAll(db, sql: "SELECT DISTINCT difficulty FROM tasks WHERE round = 2")
        }
        #expect(recorded == [3])
    }
}
