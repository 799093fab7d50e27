import FlywheelCore
import Foundation
import Processes
import Synchronization
import Testing

/// Weight-level learning for real: llama-finetune trains, llama-quantize converts, llama-server serves each version's
/// own file (the binaries and model of ops/install-llm.sh, which the README's test command runs first).
@Suite("Weight-level learning (real LLM)", .serialized)
struct WeightsLLMTests {
    /// The paths ops/install-llm.sh prints; its fast path takes well under a second once everything is installed.
    static func installed() async throws -> [String: String] {
        let child = try ChildProcess(["bash", Repository.root + "/ops/install-llm.sh"])
        let outcome = await child.wait(timeout: .seconds(60))
        try #require(outcome.exitCode == 0, "run ops/install-llm.sh first: \(outcome)")
        var values: [String: String] = [:]
        for line in outcome.stdout.split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1).map(String.init)
            if parts.count == 2 { values[parts[0]] = parts[1] }
        }
        for key in [
            "FLYWHEEL_LLAMA_SERVER", "FLYWHEEL_LLM_MODEL", "FLYWHEEL_LLAMA_FINETUNE", "FLYWHEEL_LLAMA_QUANTIZE",
        ] {
            try #require(values[key] != nil, "ops/install-llm.sh printed no \(key): \(outcome)")
        }
        return values
    }

    static func sha256(_ path: String) async throws -> String {
        let outcome = await (try ChildProcess(["sha256sum", path])).wait(timeout: .seconds(60))
        try #require(outcome.exitCode == 0, "\(outcome)")
        return String(outcome.stdout.prefix(64))
    }

    /// Collects the event log's lines.
    final class Lines: Sendable {
        private let lines = Mutex<[String]>([])
        var log: EventLog { EventLog(interactive: false) { line in self.lines.withLock { $0.append(line) } } }
        var all: [String] { lines.withLock { $0 } }
        /// The `pid=` of every `llama.start` line.
        var serverPIDs: [pid_t] {
            all.filter { $0.contains(" llama.start ") }.compactMap { line in
                line.split(separator: " ").first { $0.hasPrefix("pid=") }.flatMap { pid_t($0.dropFirst(4)) }
            }
        }
    }

    static func prompt(_ word: String) -> String {
        "Write the word \"\(word)\" in capital letters. Answer with the word only."
    }

    @Test("one short fine-tune on a handful of examples: the new model file answers a probe unlike the base model")
    func aFineTunedModelFileAnswersDifferently() async throws {
        let paths = try await Self.installed()
        let folder = TemporaryDirectory()
        var config = OpenAIConfig(baseURL: "", model: "smollm2")
        config.maxTokens = 16
        config.extraBody = ["cache_prompt": false]
        config.concurrency = 1
        config.learn = .weights
        config.weights.folder = folder.file("trained")
        config.weights.learningRate = 5e-4
        let lines = Lines()
        let trainer = try WeightTrainer(config.weights, slots: 1, environment: paths, log: lines.log)
        let solver = OpenAISolver(config: config, log: lines.log, trainer: trainer)

        let words = ["apple", "garden", "pencil", "rabbit", "silver", "forest"]
        let examples = words.map { Example(prompt: Self.prompt($0), answer: $0.uppercased()) }
        let state = try await solver.learn(from: examples, previous: solver.initialState, round: 1)
        let file = try #require(state.weights, "learning with `learn: weights` made no model file")
        #expect(state.examples.isEmpty, "`learn: weights` keeps no few-shot examples")
        #expect(file.path == folder.file("trained/\(file.sha256).gguf"))
        #expect(try await Self.sha256(file.path) == file.sha256, "the recorded hash is not the file's")
        #expect(lines.all.contains { $0.contains(" train.end ") && $0.contains("seconds=") }, "\(lines.all)")

        // The probe is a training prompt: after the fine-tune the answer must change.
        let probe = SolveRequest(id: "probe", task: TaskSpec(prompt: Self.prompt("apple")), attempt: 0, seed: 1)
        let before = try await solver.solve(probe, with: solver.prepare(solver.initialState)).get()
        let after = try await solver.solve(probe, with: solver.prepare(state)).get()
        #expect(before.trace != after.trace, "the fine-tuned model answered exactly as the base model: \(after)")
        // It takes prompts longer than the context it was trained with (256 tokens), as the base model does.
        let long = SolveRequest(
            id: "long", task: TaskSpec(prompt: String(repeating: "apple garden pencil ", count: 120) + Self.prompt("apple")),
            attempt: 0, seed: 1)
        let longAnswer = await solver.solve(long, with: try solver.prepare(state))
        #expect((try? longAnswer.get()) != nil, "a 400-token prompt failed on the fine-tuned model: \(longAnswer)")
        let served = lines.all.filter { $0.contains(" llama.start ") }
        #expect(served.contains { $0.contains("model=\(file.path)") }, "no server ran the new file: \(served)")

        // A rejected candidate's file goes; the servers are stopped by PID when the solver shuts down.
        await solver.discard(state, promoted: solver.initialState)
        #expect(!FileManager.default.fileExists(atPath: file.path))
        await solver.shutdown()
        let pids = lines.serverPIDs
        #expect(pids.count == 2, "\(lines.all)")
        #expect(pids.allSatisfy { kill($0, 0) != 0 }, "a llama-server still runs after shutdown: \(pids)")
    }

    @Test("a `learn: weights` round evaluates its candidate with the candidate's own file, and a rejected one's goes")
    func aRoundServesTheCandidatesOwnWeights() async throws {
        let paths = try await Self.installed()
        let folder = TemporaryDirectory()
        let original = try String(contentsOfFile: Repository.root + "/Pipelines/words-train.yaml", encoding: .utf8)
        // `must-improve` on 16 held-out items: the candidate is rejected (deterministically so, at temperature 0).
        let yaml =
            original
            .replacingOccurrences(of: "round_size: 40", with: "round_size: 16")
            .replacingOccurrences(of: "size: 80", with: "size: 16")
            .replacingOccurrences(of: "gate: no-regression", with: "gate: must-improve")
            .replacingOccurrences(of: "learning_rate: 0.0001", with: "learning_rate: 0.0005")
            .replacingOccurrences(of: "words/words.py", with: Repository.root + "/Pipelines/words/words.py")
            .replacingOccurrences(of: "      max_examples: 24", with: "      max_examples: 24\n      folder: trained")
        #expect(
            yaml.contains("folder: trained") && yaml.contains("size: 16"), "Pipelines/words-train.yaml changed shape")
        let file = folder.file("words-train.yaml")
        try yaml.write(toFile: file, atomically: true, encoding: .utf8)
        let config = try PipelineConfig.load(path: file)
        let store = try Store(path: folder.file("store.sqlite"))
        try store.claim(for: config.name)
        let lines = Lines()
        let plugins = try Plugins(config, environment: paths, log: lines.log)
        let engine = RoundEngine(store: store, plugins: plugins, settings: config.settings, log: lines.log)
        let outcomes: [RoundOutcome]
        do {
            outcomes = try await engine.run(rounds: 1)
        } catch {
            await plugins.shutdown()
            throw error
        }
        await plugins.shutdown()

        #expect(outcomes.map(\.state) == [.promoted, .rejected], "\(outcomes)")
        let candidate = try #require(try store.version(round: 1))
        let state = try JSONDecoder().decode(FewShot.State.self, from: candidate.state)
        let weights = try #require(state.weights, "the candidate's state names no model file")
        #expect(weights.path == folder.file("trained/\(weights.sha256).gguf"), "\(weights)")
        let served = lines.all.filter { $0.contains(" llama.start ") }
        #expect(served.contains { $0.contains("model=\(weights.path)") }, "the candidate was not served: \(served)")
        #expect(served.count == 2, "one server for the baseline, one for the candidate: \(served)")
        // Its answers are its own: the held-out answers changed against the baseline's.
        let before = try store.heldoutResults(round: 0).map(\.answer)
        let after = try store.heldoutResults(round: 1).map(\.answer)
        #expect(before.count == after.count && before != after, "the candidate answered as the baseline did")
        #expect(lines.all.contains { $0.contains(" weights.removed ") }, "\(lines.all)")
        #expect(!FileManager.default.fileExists(atPath: weights.path), "the rejected candidate's file is still there")
        #expect(lines.serverPIDs.allSatisfy { kill($0, 0) != 0 }, "a llama-server still runs after shutdown")
    }
}
