#if canImport(Glibc)
import Glibc
#endif
import Foundation

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
        log.event("train.start", [("round", "\(round)"), ("examples", "\(examples.count)")])
        let result = try await ChildProcess.run(
            argv + [input], directory: directory, timeout: timeout, output: folder.appendingPathComponent("out").path)
        guard result.status == 0 else {
            throw FlywheelError(
                .runFailed, "the train command \(argv.joined(separator: " ")) failed (\(result.describedStatus)): "
                    + result.stderr.suffix(500))
        }
        guard let model = result.stdout.split(separator: "\n").last.map({ $0.trimmingCharacters(in: .whitespaces) }),
            !model.isEmpty
        else {
            throw FlywheelError(.runFailed, "the train command printed no model name on stdout")
        }
        log.event("train.end", [("round", "\(round)"), ("model", model)])
        return model
    }
}

/// A child run to completion with its output captured in files (no pipes to deadlock on).
enum ChildProcess {
    struct Result {
        var status: Int32
        var describedStatus: String
        var stdout: String
        var stderr: String
    }

    static func run(_ argv: [String], directory: String?, timeout: Double, output: String) async throws -> Result {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Swift.Result { try runBlocking(argv, directory: directory, timeout: timeout, output: output) })
            }
        }
    }

    private static func runBlocking(_ argv: [String], directory: String?, timeout: Double, output: String) throws
        -> Result
    {
        let stdoutPath = output + ".stdout"
        let stderrPath = output + ".stderr"
        let started = Spawn.start(argv, directory: directory) { actions in
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
            posix_spawn_file_actions_addopen(&actions, 1, stdoutPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        }
        let pid: pid_t
        switch started {
        case .success(let child): pid = child
        case .failure(let error): throw FlywheelError(.runFailed, error.message)
        }
        let deadline = monotonicNow() + timeout
        var status: Int32 = 0
        var killed = false
        while waitpid(pid, &status, WNOHANG) == 0 {
            if monotonicNow() > deadline, !killed {
                kill(pid, SIGKILL)
                killed = true
            }
            usleep(20_000)
        }
        let read = { (path: String) in (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }
        return Result(
            status: Spawn.exitCode(status: status) ?? -1,
            describedStatus: killed ? "killed after \(timeout) s" : Spawn.describe(status: status),
            stdout: read(stdoutPath), stderr: read(stderrPath))
    }
}
