import FlywheelCore
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
        // Solver state is a zstd frame in the store: read it through the library.
        let learned = try Store(path: sandbox.path("learning.sqlite"), access: .readOnly)
        let versions: String = try learned.rounds().compactMap { try learned.version(round: $0.round) }.map { version in
            let state = try JSONSerialization.jsonObject(with: version.state) as? [String: Any]
            return "\(version.round)|\((state?["examples"] as? [Any])?.count ?? -1)"
        }.joined(separator: "\n")
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
        #expect(try sandbox.heldoutResults(round: 0).count { $0.result.accept } == 0)
        // …yet round 1's training, with sampled attempts and rationalization, has accepted examples.
        let (_, raw) = try await sandbox.status(file)
        let round = try #require((raw["rounds"] as? [[String: Any]])?.last)
        #expect(round["round"] as? Int == 1)
        #expect((round["accepted"] as? Int ?? 0) > 0, "no training answer was accepted: \(round)")
    }

    @Test("SIGTERM to a `learn: weights` run stops the llama-server it started, then the run exits 143")
    func aTerminatedRunLeavesNoServerBehind() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let install = try await sandbox.run(["bash", Repository.root + "/ops/install-llm.sh"], timeout: .seconds(60))
        try #require(install.exitCode == 0, "run ops/install-llm.sh first: \(install)")
        let original = try String(contentsOfFile: Repository.root + "/Pipelines/words-train.yaml", encoding: .utf8)
        var yaml = original.replacingOccurrences(
            of: "words/words.py", with: Repository.root + "/Pipelines/words/words.py")
        // The binaries by path (the keys the environment variables stand for), as a cron job's file would name them.
        let keys = [
            "FLYWHEEL_LLAMA_SERVER": "server", "FLYWHEEL_LLM_MODEL": "model", "FLYWHEEL_LLAMA_FINETUNE": "finetune",
            "FLYWHEEL_LLAMA_QUANTIZE": "quantize",
        ]
        var paths: [String] = []
        for line in install.stdout.split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1).map(String.init)
            if parts.count == 2, let key = keys[parts[0]] { paths.append("      \(key): \(parts[1])") }
        }
        try #require(paths.count == 4, "\(install.stdout)")
        yaml = yaml.replacingOccurrences(
            of: "    weights:\n", with: "    weights:\n" + paths.joined(separator: "\n") + "\n      folder: trained\n")
        #expect(yaml.contains("folder: trained"), "Pipelines/words-train.yaml changed shape")
        let file = try sandbox.write("words-train.yaml", yaml)

        let run = try sandbox.startFlywheel(["run", file, "--rounds", "1", "--store", sandbox.store])
        var server: pid_t?
        _ = await run.waitUntil(timeout: .seconds(120)) {
            let log = (try? String(contentsOfFile: run.stderrPath, encoding: .utf8)) ?? ""
            server = log.split(separator: "\n").first { $0.contains("llama.start") }
                .flatMap { $0.split(separator: " ").first { $0.hasPrefix("pid=") } }.flatMap { pid_t($0.dropFirst(4)) }
            return server != nil
        }
        let pid = try #require(server, "the run started no llama-server: \(run.poll().map { "\($0)" } ?? "")")
        #expect(Self.alive(pid), "llama-server \(pid) is not running while the run is")
        kill(run.pid, SIGTERM)
        let outcome = await run.wait(timeout: .seconds(30))
        #expect(outcome.exitCode == 143, "\(outcome)")
        var gone = false
        for _ in 0..<50 where !gone {
            gone = !Self.alive(pid)
            if !gone { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(gone, "llama-server \(pid) outlived the terminated run")
        if !gone { kill(pid, SIGKILL) }
    }

    /// Whether `pid` runs (a zombie waiting for its new parent to reap it does not).
    static func alive(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return false }
        return stat.split(separator: ")").last?.split(separator: " ").first != "Z"
    }
}
