import FlywheelCore
import Foundation
import ListFn
import Testing

/// Learning costs what a round brought, not the history: a solver whose versions carry sufficient statistics learns
/// each candidate from the promoted version plus the round's own examples, and that must be exactly the state
/// learning from every allowed example makes.
@Suite struct IncrementalLearningTests {
    @Test("listfn: each candidate's grammar equals the grammar fitted to every example its round could learn from")
    func listfnGrammarsEqualTheFullFit() async throws {
        let folder = TemporaryDirectory()
        var yaml = try String(contentsOfFile: Repository.root + "/Pipelines/listfn.yaml", encoding: .utf8)
        yaml = yaml.replacingOccurrences(of: "round_size: 200", with: "round_size: 60")
            .replacingOccurrences(of: "size: 400", with: "size: 100")
            .replacingOccurrences(of: "listfn/", with: Repository.root + "/Pipelines/listfn/")
        try #require(yaml.contains("round_size: 60") && yaml.contains("size: 100"), "Pipelines/listfn.yaml changed shape")
        let run = try PipelineRun(yaml, in: folder)
        let outcomes = try await run.rounds(3)
        #expect(outcomes.dropFirst().allSatisfy { $0.summary.counts.accepted > 0 })
        for round in 1...3 {
            let allowed = try run.store.learningExamples(round: round, policy: .accumulate)
            let full = Grammar.fit(programs: allowed.map(\.answer))
            let stored = try JSONDecoder().decode(Grammar.self, from: try #require(try run.store.version(round: round)).state)
            #expect(stored == full, "round \(round): the incremental grammar differs from the full fit")
            #expect(stored.programs == allowed.count)
        }
    }

    @Test("few-shot: each candidate's pool equals the pool of every example its round could learn from")
    func fewShotPoolsEqualTheFullPool() async throws {
        let folder = TemporaryDirectory()
        let plugin = { (name: String) in "[\"python3\", \"-u\", \"\(Repository.fixture("plugins/\(name)"))\"]" }
        let run = try PipelineRun(
            """
            seed: 5
            round_size: 150
            heldout: {size: 20}
            generator: {command: \(plugin("arith_gen.py"))}
            solver: {command: \(plugin("arith_solve.py")), examples: 3}
            checker: {command: \(plugin("exact_check.py"))}
            gate: always
            """, in: folder)
        _ = try await run.rounds(3)
        for round in 1...3 {
            let allowed = try run.store.learningExamples(round: round, policy: .accumulate)
            let stored = try JSONDecoder().decode(
                FewShot.State.self, from: try #require(try run.store.version(round: round)).state)
            #expect(stored == FewShot.State(learningFrom: allowed), "round \(round)")
        }
        // Past the pool's limit the pool is the last 256, as learning from everything would keep.
        #expect(try run.store.learningExamples(round: 3, policy: .accumulate).count > FewShot.poolLimit)
    }
}
