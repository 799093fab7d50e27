import Foundation
import FlywheelCore
import Testing

/// Rounds driven through the library with real external plugin programs from Fixtures/plugins.
@Suite struct RoundIntegrationTests {
    static func plugin(_ name: String, _ arguments: String...) -> String {
        (["python3", "-u", Repository.fixture("plugins/\(name)")] + arguments).map { "\"\($0)\"" }
            .joined(separator: ", ")
    }


    @Test func copiesAndNearCopiesOfHeldOutPromptsAreDroppedCountedAndNeverLearned() async throws {
        let folder = TemporaryDirectory()
        let run = try PipelineRun(
            """
            seed: 3
            round_size: 60
            heldout: {size: 20}
            generator: {command: [\(Self.plugin("contaminating_gen.py", "--record", folder.file("heldout.jsonl")))]}
            solver: {command: [\(Self.plugin("arith_solve.py", "--base", "100"))]}
            checker: {command: [\(Self.plugin("exact_check.py"))]}
            gate: always
            """, in: folder)
        let outcome = try await run.rounds(1)[1]

        var table: [String: [String: Int]] = [:]
        for task in try run.store.tasks(round: 1) {
            let kind = task.task?.meta?["contamination"]?.stringValue ?? "error"
            table[kind, default: [:]][task.status.rawValue, default: 0] += 1
        }
        let planted = (table["exact"]?.values.reduce(0, +) ?? 0) + (table["near"]?.values.reduce(0, +) ?? 0)
        #expect(planted >= 10, "the generator should have planted copies: \(table)")
        #expect(table["exact"]?.keys.sorted() == ["contaminated"])
        #expect(table["near"]?.keys.sorted() == ["contaminated"])
        #expect(table["none"]?["contaminated"] == nil)
        #expect(outcome.summary.counts.contaminated == planted)

        let learned = try run.store.examples(.all)
        #expect(!learned.isEmpty)
        #expect(learned.allSatisfy { $0.meta?["contamination"]?.stringValue == "none" })
        let heldout = Set(try run.store.heldoutItems().compactMap { $0.task.map { PromptNormalizer.normalize($0.prompt) } })
        #expect(learned.allSatisfy { !heldout.contains(PromptNormalizer.normalize($0.prompt)) })
        let status = try Status(run.config, store: run.store)
        #expect(status.rounds[1].contaminated == planted)
    }

    /// A solver that gets better (gain > 0), worse (< 0) or stays the same (0) with few-shot examples.
    static func gatePipeline(gate: String, base: Int, gain: Int, folder: TemporaryDirectory) throws -> PipelineRun {
        try PipelineRun(
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
        let run = try Self.gatePipeline(gate: gate, base: base, gain: gain, folder: folder)
        let outcomes = try await run.rounds(2)
        let first = outcomes[1]
        #expect(first.summary.vsPrevious?.verdict == verdict)
        #expect(first.state == state)
        let records = try run.store.rounds()
        let baselineVersion = try #require(try run.store.version(round: 0))
        let roundOneVersion = try #require(try run.store.version(round: 1))
        #expect(roundOneVersion.promoted == (state == .promoted))
        // Round 2 solves with the last promoted version: round 1's when promoted, the baseline's after a rejection.
        #expect(records[2].solverVersion == (state == .promoted ? roundOneVersion.id : baselineVersion.id))
        if state == .rejected {
            // A rejected round keeps its data, flagged by its state, and round 2 compares against round 0.
            #expect(first.summary.counts.accepted > 0)
            #expect(try run.store.examples(.round(1)).count == first.summary.counts.accepted)
            #expect(outcomes[2].summary.vsPrevious?.round == 0)
        }
    }

    @Test(arguments: DataPolicy.allCases)
    func theDataPolicyDecidesWhatLearningSeesAndIsRecorded(policy: DataPolicy) async throws {
        let folder = TemporaryDirectory()
        let run = try PipelineRun(
            """
            seed: 5
            round_size: 30
            heldout: {size: 30}
            generator: {command: [\(Self.plugin("arith_gen.py"))]}
            solver: {command: [\(Self.plugin("arith_solve.py"))]}
            checker: {command: [\(Self.plugin("exact_check.py"))]}
            gate: always
            data_policy: \(policy.rawValue)
            """, in: folder)
        let outcomes = try await run.rounds(3)
        var accumulated = 0
        for outcome in outcomes.dropFirst() {
            accumulated += outcome.summary.counts.accepted
            #expect(outcome.summary.dataPolicy == policy)
            #expect(
                outcome.summary.learnedFrom == (policy == .accumulate ? accumulated : outcome.summary.counts.accepted))
        }
        #expect(try run.store.rounds().allSatisfy { $0.dataPolicy == policy })
    }

    @Test func theCurriculumMovesDifficultyToKeepAcceptanceInItsBand() async throws {
        let folder = TemporaryDirectory()
        let run = try PipelineRun(
            """
            seed: 5
            round_size: 20
            heldout: {size: 20}
            generator: {command: [\(Self.plugin("arith_gen.py"))]}
            solver: {command: [\(Self.plugin("arith_solve.py", "--base", "100"))]}
            checker: {command: [\(Self.plugin("exact_check.py"))]}
            curriculum: {band: [0.2, 0.8], step: 2, max: 4}
            """, in: folder)
        let outcomes = try await run.rounds(4)
        // Everything is accepted (above the band), so difficulty climbs by 2 until the maximum.
        #expect(outcomes.dropFirst().map(\.summary.difficulty) == [1, 3, 4, 4])
        #expect(Set(try run.store.tasks(round: 2).map(\.difficulty)) == [3])
    }
}
