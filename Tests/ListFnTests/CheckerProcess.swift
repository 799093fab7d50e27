import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Runs Pipelines/listfn/check.py as a real child process over the JSON Lines protocol.
///
/// Spawned with posix_spawn and file redirection (requests from a temporary file, responses to another), not
/// Foundation.Process, which hangs intermittently on the project's Linux machines.
enum CheckerProcess {
    static var scriptPath: String {
        // Resolve symlinks first: the test sources may be reached through a linked directory.
        let file =
            realpath(#filePath, nil).map { p in
                defer { free(p) }
                return String(cString: p)
            } ?? #filePath
        return URL(fileURLWithPath: file)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Pipelines/listfn/check.py").path
    }

    struct Result {
        var exitStatus: Int32
        var responses: [[String: Any]]
        var stdout: String
        var stderr: String
    }

    /// Writes `lines` to the checker's stdin, waits for it to exit at EOF, and parses every stdout line.
    static func run(lines: [String]) throws -> Result {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("listfn-check-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("requests.jsonl").path
        let output = dir.appendingPathComponent("responses.jsonl").path
        let errors = dir.appendingPathComponent("stderr.txt").path
        try lines.map { $0 + "\n" }.joined().write(toFile: input, atomically: true, encoding: .utf8)

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, input, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, errors, O_WRONLY | O_CREAT | O_TRUNC, 0o644)

        let argv = ["python3", "-u", scriptPath]
        var cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { for p in cArgs { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawnp(&pid, "python3", &actions, nil, &cArgs, environ)
        guard rc == 0 else {
            throw SpawnError(message: "posix_spawnp python3 failed: \(String(cString: strerror(rc)))")
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        // WIFEXITED / WEXITSTATUS spelled out: the C macros are not imported into Swift.
        let exited = status & 0x7f == 0
        let exitStatus = exited ? (status >> 8) & 0xff : -1

        let stdout = try String(contentsOfFile: output, encoding: .utf8)
        let stderr = (try? String(contentsOfFile: errors, encoding: .utf8)) ?? ""
        var responses: [[String: Any]] = []
        for line in stdout.split(separator: "\n") {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8))
            guard let dict = object as? [String: Any] else { throw SpawnError(message: "not an object: \(line)") }
            responses.append(dict)
        }
        return Result(exitStatus: exitStatus, responses: responses, stdout: stdout, stderr: stderr)
    }

    struct SpawnError: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }

    /// One `check` request line.
    static func request(id: String, referenceJSON: String, answer: String?) throws -> String {
        let reference = try JSONSerialization.jsonObject(with: Data(referenceJSON.utf8))
        var object: [String: Any] = [
            "op": "check", "id": id,
            "task": ["prompt": "Find the function f on integer lists.", "reference": reference, "meta": [:]],
        ]
        if let answer { object["answer"] = answer }
        return String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
    }
}
