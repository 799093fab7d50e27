import Foundation
import Testing

/// The reasoning-gym adapter (Plugins/reasoning_gym) against the real library in its venv
/// (ops/install-reasoning-gym.sh, which the README's test command runs).
@Suite("reasoning-gym")
struct ReasoningGymTests {
    @Test("the adapter's self-test: deterministic items, exact-1.0 acceptance, refused families, a clean stdout")
    func adapterSelfTest() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let outcome = try await sandbox.run(
            ["bash", Repository.root + "/Plugins/reasoning_gym/selftest.sh"], timeout: .seconds(300))
        #expect(outcome.exitCode == 0, "\(outcome)")
    }

    @Test("one round of the reasoning-gym pipeline's generator and checker through the binary")
    func pipelineRound() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let adapter = Repository.root + "/Plugins/reasoning_gym/adapter.py"
        let family = #"[python3, -u, \#(adapter), --family, word_sequence_reversal, --config, '{"min_words": 2, "max_words": 2}']"#
        // The solver is an external echo of the question's words reversed: every answer should be accepted.
        try sandbox.write(
            "reverse.py",
            """
            import json, sys
            for line in sys.stdin:
                request = json.loads(line)
                words = request["task"]["prompt"].strip().split(": ")[-1].split(", ")
                print(json.dumps({"id": request["id"], "answer": ", ".join(reversed(words))}), flush=True)
            """)
        let pipeline = try sandbox.write(
            "rg.yaml",
            """
            seed: 4
            round_size: 10
            heldout: {size: 10}
            generator: {command: \(family), startup_timeout: 60}
            solver: {command: [python3, -u, \(sandbox.path("reverse.py"))]}
            checker: {command: \(family), startup_timeout: 60}
            """)
        let run = try await sandbox.flywheel(["run", pipeline, "--rounds", "1", "--store", sandbox.store])
        try #require(run.exitCode == 0, "\(run)")
        let (status, _) = try await sandbox.status(pipeline)
        #expect(status.rounds.first?.heldout?.score == 1.0, "\(status.rounds)")
        #expect(status.rounds.last.map { $0.accepted == $0.generated - ($0.duplicates ?? 0) } == true, "\(status.rounds)")
    }
}
