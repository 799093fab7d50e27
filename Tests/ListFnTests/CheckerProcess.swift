import Foundation
import Processes

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Runs Pipelines/listfn/check.py as a real child process over the JSON Lines protocol, requests from a temporary
/// file and responses captured in another (no pipes to deadlock on).
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
    static func run(lines: [String]) async throws -> Result {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("listfn-check-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("requests.jsonl").path
        try lines.map { $0 + "\n" }.joined().write(toFile: input, atomically: true, encoding: .utf8)

        let checker = try ChildProcess(["python3", "-u", scriptPath], input: input, captureDirectory: dir.path)
        let outcome = await checker.wait(timeout: .seconds(600))
        guard !outcome.timedOut else { throw CheckerError(message: "watchdog: \(outcome)") }
        var responses: [[String: Any]] = []
        for line in outcome.stdout.split(separator: "\n") {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8))
            guard let dict = object as? [String: Any] else { throw CheckerError(message: "not an object: \(line)") }
            responses.append(dict)
        }
        return Result(
            exitStatus: outcome.exitCode ?? -1, responses: responses, stdout: outcome.stdout, stderr: outcome.stderr)
    }

    struct CheckerError: Error, CustomStringConvertible {
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
