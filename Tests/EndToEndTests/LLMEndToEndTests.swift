import Foundation
import Testing

/// The real LLM path: llama-server with SmolLM2-135M-Instruct (installed by ops/install-llm.sh, which the
/// README's test command runs), started on 127.0.0.1 by ops/llm-server.sh and stopped by its PID.
@Suite("Real LLM", .serialized)
struct LLMEndToEndTests {
    struct Server {
        var url: String
        var pid: String
    }

    static func startServer(_ sandbox: Sandbox) async throws -> Server {
        let start = try await sandbox.run(["bash", Repository.root + "/ops/llm-server.sh", "start"], timeout: .seconds(90))
        try #require(start.exitCode == 0, "llama-server did not start (run ops/install-llm.sh first): \(start)")
        var values: [String: String] = [:]
        for line in start.stdout.split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1).map(String.init)
            if parts.count == 2 { values[parts[0]] = parts[1].trimmingCharacters(in: CharacterSet(charactersIn: "'\"")) }
        }
        return Server(
            url: try #require(values["FLYWHEEL_LLM_URL"], "\(start)"), pid: try #require(values["FLYWHEEL_LLM_PID"]))
    }

    static func pipeline(_ sandbox: Sandbox, server: Server, name: String) throws -> String {
        let original = try String(contentsOfFile: Repository.root + "/Pipelines/words.yaml", encoding: .utf8)
        let yaml = original
            .replacingOccurrences(of: "base_url_env: FLYWHEEL_LLM_URL", with: "base_url: \"\(server.url)\"")
            .replacingOccurrences(of: "round_size: 40", with: "round_size: 24")
            .replacingOccurrences(of: "size: 80", with: "size: 40")
            .replacingOccurrences(of: "words/words.py", with: Repository.root + "/Pipelines/words/words.py")
        #expect(yaml.contains(server.url) && yaml.contains("size: 40"), "Pipelines/words.yaml changed shape")
        return try sandbox.write("\(name).yaml", yaml)
    }

    @Test("rounds against the live server: retrieved verified examples change the answers; the control stays flat")
    func wordsPipelineLearnsAndTheControlDoesNot() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let server = try await Self.startServer(sandbox)
        // Stopped by its PID whatever happens (the script's `stop` waits for it; here a signal is enough).
        defer { if let pid = pid_t(server.pid) { kill(pid, SIGTERM) } }

        let learning = try Self.pipeline(sandbox, server: server, name: "learning")
        let control = try Self.pipeline(sandbox, server: server, name: "control")
        let run = try await sandbox.flywheel(
            ["run", learning, "--rounds", "2", "--store", sandbox.path("learning.sqlite")], timeout: .seconds(600))
        try #require(run.exitCode == 0, "\(run)")
        let flat = try await sandbox.flywheel(
            ["run", control, "--rounds", "2", "--no-learning", "--store", sandbox.path("control.sqlite")],
            timeout: .seconds(600))
        try #require(flat.exitCode == 0, "\(flat)")

        let (status, raw) = try await sandbox.status(learning, store: sandbox.path("learning.sqlite"))
        #expect(status.rounds.map(\.round) == [0, 1, 2])
        #expect(status.rounds.allSatisfy { ["promoted", "rejected"].contains($0.state) })
        #expect(status.rounds.allSatisfy { ($0.heldout?.n ?? 0) >= 30 }, "\(status.rounds)")
        #expect(status.rounds.dropFirst().allSatisfy { $0.generated > 0 && $0.vsPrevious != nil })
        #expect(status.rounds.dropFirst().contains { $0.accepted > 0 }, "no answer was ever accepted")
        // Tokens are accounted per round.
        let rounds = try #require(raw["rounds"] as? [[String: Any]])
        let tokens = rounds.dropFirst().compactMap { ($0["tokens"] as? [String: Any])?["completion"] as? Int }
        #expect(tokens.count == 2 && tokens.allSatisfy { $0 > 0 }, "\(rounds.map { $0["tokens"] ?? "none" })")

        // Retrieval changes the prompts, so the held-out answers change; without it (the control) they cannot.
        #expect(
            status.rounds.dropFirst().contains { ($0.vsPrevious?.b ?? 0) + ($0.vsPrevious?.c ?? 0) > 0 },
            "learning never changed a held-out answer: \(status.rounds)")
        let versions = try await sandbox.sql(
            "select round, json_array_length(state, '$.examples') from solver_versions order by round",
            store: sandbox.path("learning.sqlite"))
        #expect(versions.hasPrefix("0|0\n1|"), "\(versions)")
        #expect(!versions.contains("2|0"), "round 2's version carries no examples: \(versions)")

        let (controlStatus, _) = try await sandbox.status(control, store: sandbox.path("control.sqlite"))
        #expect(controlStatus.rounds.first?.heldout == status.rounds.first?.heldout, "the baselines are the same run")
        #expect(
            controlStatus.rounds.dropFirst().allSatisfy { $0.vsPrevious?.b == 0 && $0.vsPrevious?.c == 0 },
            "without retrieval, temperature 0 and no prompt cache, every round answers the same: \(controlStatus.rounds)")
    }

    @Test("cold start: a reasoning-gym family the model never answers right greedily gets accepted examples in round 1")
    func coldStartWithExplorationAndRationalization() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let server = try await Self.startServer(sandbox)
        defer { if let pid = pid_t(server.pid) { kill(pid, SIGTERM) } }

        let original = try String(
            contentsOfFile: Repository.root + "/Pipelines/reasoning-gym-explore.yaml", encoding: .utf8)
        let yaml = original
            .replacingOccurrences(of: "base_url_env: FLYWHEEL_LLM_URL", with: "base_url: \"\(server.url)\"")
            .replacingOccurrences(of: "round_size: 40", with: "round_size: 12")
            .replacingOccurrences(of: "size: 60", with: "size: 20")
            .replacingOccurrences(of: "../Plugins/", with: Repository.root + "/Plugins/")
        #expect(yaml.contains(server.url) && yaml.contains("size: 20"), "Pipelines/reasoning-gym-explore.yaml changed shape")
        let file = try sandbox.write("explore.yaml", yaml)
        let run = try await sandbox.flywheel(["run", file, "--rounds", "1", "--store", sandbox.store], timeout: .seconds(900))
        try #require(run.exitCode == 0, "\(run)")

        // Greedy and unhinted, the model answers no held-out item right at round 0…
        #expect(try await sandbox.sqlInt("SELECT count(*) FROM heldout_results WHERE round = 0 AND accept = 1") == 0)
        // …yet round 1's training, with sampled attempts and rationalization, has accepted examples.
        let (_, raw) = try await sandbox.status(file)
        let round = try #require((raw["rounds"] as? [[String: Any]])?.last)
        #expect(round["round"] as? Int == 1)
        #expect((round["accepted"] as? Int ?? 0) > 0, "no training answer was accepted: \(round)")
    }
}
