import Foundation
import Processes

/// The optional fine-tuning hook: `argv + [EXAMPLES.jsonl]` runs in the pipeline's folder; the examples are in
/// chat format, one per line; the last non-empty line it prints on stdout is the new model's name.
public struct TrainCommand: Sendable, Equatable {
    public var argv: [String]
    public var directory: String?
    /// Seconds it may take before it is killed and the round fails.
    public var timeout: Double = 3600

    public init(argv: [String], directory: String?, timeout: Double = 3600) {
        self.argv = argv
        self.directory = directory
        self.timeout = timeout
    }

    func run(examples: [Example], round: Int, log: EventLog) async throws -> String {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("flywheel-train-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let input = folder.appendingPathComponent("examples.jsonl").path
        var lines = Data()
        for example in examples {
            lines.append(
                JSONValue.object([
                    "messages": .array([
                        ["role": "user", "content": .string(example.prompt)],
                        ["role": "assistant", "content": .string(example.answer)],
                    ])
                ]).encoded())
            lines.append(0x0A)
        }
        try lines.write(to: URL(fileURLWithPath: input))
        return try await Self.logged(round: round, examples: examples.count, log: log, name: \.self) {
            try await run(input: input, folder: folder)
        }
    }

    private func run(input: String, folder: URL) async throws -> String {
        let child: ChildProcess
        do {
            child = try ChildProcess(argv + [input], in: directory, captureDirectory: folder.path)
        } catch {
            throw FlywheelError(.runFailed, error.message)
        }
        let result = await child.wait(timeout: .seconds(timeout))
        guard result.exitCode == 0 else {
            let status = result.timedOut ? "killed after \(timeout) s" : result.statusDescription
            throw FlywheelError(
                .runFailed, "the train command \(argv.joined(separator: " ")) failed (\(status)): "
                    + result.stderr.suffix(500))
        }
        guard let model = result.stdout.split(separator: "\n").last.map({ $0.trimmingCharacters(in: .whitespaces) }),
            !model.isEmpty
        else {
            throw FlywheelError(.runFailed, "the train command printed no model name on stdout")
        }
        return model
    }

    /// Runs one fine-tune between the events `train.start` (round, examples) and `train.end` (round, model,
    /// seconds): the train command and weight-level learning report their cost alike.
    static func logged<Model>(
        round: Int, examples: Int, log: EventLog, name: (Model) -> String, _ body: () async throws -> Model
    ) async throws -> Model {
        log.event("train.start", [("round", round), ("examples", examples)])
        let start = monotonicSeconds()
        let model = try await body()
        log.event("train.end", [("round", round), ("model", name(model)), ("seconds", monotonicSeconds() - start)])
        return model
    }
}
