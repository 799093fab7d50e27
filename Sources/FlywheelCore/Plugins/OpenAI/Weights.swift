import Foundation
import Processes

/// How the OpenAI-compatible solver learns (`solver.openai.learn`).
public enum LearningMode: String, Sendable, CaseIterable {
    /// Verified answers come back as few-shot turns; one server (`base_url`) answers for every version.
    case retrieval
    /// Each candidate is the promoted version's model fine-tuned on the allowed examples, served with its own
    /// weights; no few-shot turns.
    case weights
    /// The fine-tuned model of `weights`, plus retrieved few-shot turns.
    case both
}

/// Weight-level learning with llama.cpp's own trainer (`solver.openai.weights`).
public struct WeightsConfig: Sendable, Equatable {
    /// A program or file: a path, or the environment variable holding one (read when the run starts).
    public enum Location: Sendable, Equatable {
        case path(String)
        case environment(String)
    }

    /// `llama-server`, started once per version on a free port of 127.0.0.1.
    public var server = Location.environment("FLYWHEEL_LLAMA_SERVER")
    /// The base model (GGUF) the baseline answers with and the first fine-tune starts from.
    public var model = Location.environment("FLYWHEEL_LLM_MODEL")
    public var finetune = Location.environment("FLYWHEEL_LLAMA_FINETUNE")
    public var quantize = Location.environment("FLYWHEEL_LLAMA_QUANTIZE")
    /// Passes over the examples per fine-tune.
    public var epochs = 1
    /// AdamW's step size; llama-finetune's own default (1e-5) hardly moves greedy answers in one short epoch.
    public var learningRate = 1e-4
    /// Tokens per training window (`-c`, also `-b` and `-ub`, which the trainer needs equal): llama-finetune cuts the
    /// text into windows starting every context/2 tokens. llama.cpp rounds a context up to a multiple of 256, so
    /// 256 is the least; the examples must make more than 1.5 windows of text.
    public var context = 256
    /// The most recent allowed examples one fine-tune uses (tens: one epoch costs ~0.1 s per token on one core).
    public var maxExamples = 24
    /// Threads of llama-finetune (`-t`); each llama-server uses one thread per slot.
    public var threads = 2
    /// Seconds one fine-tune may take before it is killed and the round fails.
    public var timeout: Double = 3600
    /// Where model files go; nil means `$CACHE/trained`, CACHE as in ops/install-llm.sh.
    public var folder: String?

    public init() {}
}

/// A model file a version answers with: its path and the SHA-256 of its bytes, which also names it.
public struct ModelFile: Codable, Sendable, Hashable {
    public var path: String
    public var sha256: String

    public init(path: String, sha256: String) {
        self.path = path
        self.sha256 = sha256
    }
}

/// Fine-tunes a version's weights with `llama-finetune` and serves each version's model file with `ModelServers`.
///
/// Every version's model file is written in `folder` as `SHA256.gguf`, renamed into place, so a file there is whole.
/// The trainer reads and writes F32 only; versions are kept and served as Q8_0 (`servingType`): 145 MB instead of
/// 540 MB per version and 2.2× faster held-out evaluation, with 19 of 20 greedy answers equal to the F32 model's
/// (docs/llm.md). The baseline is served the same way, from the base model converted to F32 and then to Q8_0, both
/// cached by the base model's SHA-256 (`base-SHA256.F32.gguf`, `base-SHA256.Q8_0.gguf`), so that candidates and
/// baseline differ by their weights alone.
public struct WeightTrainer: Sendable {
    /// The llama-quantize type every version is stored and served as.
    static let servingType = "Q8_0"

    public let settings: WeightsConfig
    let server: String
    let model: String
    let finetune: String
    let quantize: String
    let folder: String
    let servers: ModelServers
    let log: EventLog

    /// Resolves the programs and the base model from the pipeline's settings and `environment`.
    /// - Throws: `FlywheelError(.usage)` naming the missing program or file and telling to run ops/install-llm.sh.
    public init(_ settings: WeightsConfig, slots: Int, environment: [String: String], log: EventLog) throws {
        func resolve(_ location: WeightsConfig.Location, _ key: String, file: Bool = false) throws -> String {
            let path: String
            switch location {
            case .path(let value): path = value
            case .environment(let variable):
                guard let value = environment[variable], !value.isEmpty else {
                    throw FlywheelError(
                        .usage,
                        "`solver.openai.weights.\(key)_env` names \(variable), which is not set: run "
                            + "ops/install-llm.sh and export what it prints (set -a; eval \"$(ops/install-llm.sh)\")")
                }
                path = value
            }
            let usable =
                file
                ? FileManager.default.isReadableFile(atPath: path) : FileManager.default.isExecutableFile(atPath: path)
            guard usable else {
                throw FlywheelError(
                    .usage,
                    "`solver.openai.weights.\(key)`: no \(file ? "readable file" : "executable") at \(path): "
                        + "run ops/install-llm.sh (it builds llama-server, llama-finetune and llama-quantize)")
            }
            return path
        }
        self.settings = settings
        server = try resolve(settings.server, "server")
        model = try resolve(settings.model, "model", file: true)
        finetune = try resolve(settings.finetune, "finetune")
        quantize = try resolve(settings.quantize, "quantize")
        let cache =
            environment["FLYWHEEL_CACHE"]
            ?? ((environment["XDG_CACHE_HOME"] ?? ((environment["HOME"] ?? NSTemporaryDirectory()) + "/.cache"))
                + "/flywheel")
        folder = settings.folder ?? cache + "/trained"
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        } catch {
            throw FlywheelError(.usage, "`solver.openai.weights.folder`: cannot create \(folder): \(error)")
        }
        servers = ModelServers(binary: server, slots: slots, log: log)
        self.log = log
    }

    /// The base URL of the server answering with `file`, or with the base model when `file` is nil.
    func endpoint(_ file: ModelFile?) async throws -> String {
        if let file { return try await servers.url(for: file.path) }
        return try await servers.url(for: base(servingType: true))
    }

    /// A candidate's model file: the `previous` weights (the base model when nil) fine-tuned on `examples`.
    ///
    /// Each example is the prompt exactly as the server renders it for solving (its chat template applied to
    /// `messages`, generation prompt included), then the answer and the model's end-of-turn token. llama-finetune
    /// has no loss masking: the prompt's tokens are trained on as well as the answer's. Given the input weights,
    /// the text and the settings, the F32 result is the same on the same machine and thread count (the trainer
    /// shuffles with a fixed-seed generator; `--seed`, derived from the text and never from the clock, only seeds
    /// its sampler); across CPUs or thread counts float sums may differ.
    func learn(from examples: [(messages: [JSONValue], answer: String)], previous: ModelFile?, round: Int)
        async throws -> ModelFile
    {
        let url = try await endpoint(previous)
        let endOfTurn = try await servers.endOfTurn(url)
        var text = ""
        for example in examples {
            text += try await servers.applyTemplate(url, messages: example.messages) + example.answer + endOfTurn + "\n"
        }
        // The trainer needs one window and the stride after it, else it aborts: a few examples are repeated.
        let tokens = try await servers.tokenCount(url, text)
        let needed = settings.context + settings.context / 2 + 2
        if tokens < needed { text = String(repeating: text, count: (needed + tokens - 1) / max(tokens, 1)) }
        let work = folder + "/.work-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        let start: String
        if let previous {
            start = work + "/start.F32.gguf"
            try await convert(previous.path, to: start, type: "F32")
        } else {
            start = try await base(servingType: false)
        }
        try Data(text.utf8).write(to: URL(fileURLWithPath: work + "/train.txt"))
        let seed = Seeds.derive(StableHash.fnv1a64(Array(text.utf8)), "finetune", "\(round)") & 0x7FFF_FFFF
        let context = "\(settings.context)"
        try await run(
            [
                finetune, "-m", start, "-f", work + "/train.txt", "-o", work + "/out.F32.gguf", "-c", context,
                "-b", context, "-ub", context, "-t", "\(settings.threads)", "--epochs", "\(settings.epochs)",
                "-lr", "\(settings.learningRate)", "-val-split", "0", "--seed", "\(seed)",
            ], timeout: settings.timeout, in: work, what: "llama-finetune")
        // llama-finetune records `-c` as the model's context length, which llama-server would cap every slot to.
        let overrides = GGUF.contextLength(of: model).map { ["--override-kv", "\($0.key)=int:\($0.value)"] } ?? []
        try await convert(work + "/out.F32.gguf", to: work + "/out.gguf", type: Self.servingType, options: overrides)
        return try await store(work + "/out.gguf")
    }

    /// Removes a rejected candidate's model file and stops its server, unless the promoted version uses the file.
    func discard(_ file: ModelFile, promoted: ModelFile?) async {
        guard file != promoted else { return }
        await servers.stop(file.path)
        try? FileManager.default.removeItem(atPath: file.path)
        log.event("weights.removed", [("path", file.path)])
    }

    /// Stops every server this trainer started.
    func shutdown() async { await servers.stopAll() }

    /// The base model as F32 (what the trainer starts from) or as `servingType` (what the baseline answers with),
    /// each converted once and cached by the base model's SHA-256.
    private func base(servingType serving: Bool) async throws -> String {
        let type = serving ? Self.servingType : "F32"
        return try await servers.once("base-" + type) {
            let f32 = serving ? try await base(servingType: false) : model
            let sha = try await servers.once("base-sha256") { try await sha256(model) }
            let path = folder + "/base-\(sha).\(type).gguf"
            guard !FileManager.default.fileExists(atPath: path) else { return path }
            let temporary = folder + "/.base-\(UUID().uuidString).gguf"
            defer { try? FileManager.default.removeItem(atPath: temporary) }
            try await convert(f32, to: temporary, type: type)
            try FileManager.default.moveItem(atPath: temporary, toPath: path)
            return path
        }
    }

    private func convert(_ source: String, to destination: String, type: String, options: [String] = [])
        async throws
    {
        try await run(
            [quantize, "--allow-requantize"] + options + [source, destination, type], timeout: 600, in: folder,
            what: "llama-quantize")
    }

    /// Moves `file` into the folder under its SHA-256.
    private func store(_ file: String) async throws -> ModelFile {
        let sha = try await sha256(file)
        let path = folder + "/\(sha).gguf"
        if FileManager.default.fileExists(atPath: path) {
            try FileManager.default.removeItem(atPath: file)
        } else {
            try FileManager.default.moveItem(atPath: file, toPath: path)
        }
        return ModelFile(path: path, sha256: sha)
    }

    private func sha256(_ file: String) async throws -> String {
        let outcome = try await run(["sha256sum", file], timeout: 600, in: folder, what: "sha256sum")
        let digest = String(outcome.stdout.prefix(64))
        guard digest.count == 64, digest.allSatisfy(\.isHexDigit) else {
            throw FlywheelError(.runFailed, "sha256sum printed no digest for \(file): \(outcome.stdout.prefix(200))")
        }
        return digest
    }

    @discardableResult
    private func run(_ argv: [String], timeout: Double, in directory: String, what: String) async throws
        -> ChildProcess.Outcome
    {
        let child: ChildProcess
        do {
            child = try ChildProcess(argv, in: directory)
        } catch {
            throw FlywheelError(.runFailed, "\(what) could not be started: \(error.message); run ops/install-llm.sh")
        }
        let outcome = await child.wait(timeout: .seconds(timeout))
        guard outcome.exitCode == 0 else {
            let status = outcome.timedOut ? "killed after \(Int(timeout)) s" : outcome.statusDescription
            throw FlywheelError(.runFailed, "\(what) failed (\(status)): \(outcome.stderr.suffix(800))")
        }
        return outcome
    }
}
