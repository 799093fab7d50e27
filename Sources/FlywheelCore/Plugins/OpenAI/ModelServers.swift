import Foundation
import Processes

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One llama-server process per model file, each on a free port of 127.0.0.1, started on first use and stopped by
/// its PID (never by name): the least recently started when a third is needed, a discarded version's at once, and
/// all of them at `stopAll()`, which the solver's `shutdown()` calls when the run ends or fails.
///
/// Two stay running, the promoted version's and the candidate's: a round solves its training tasks with the
/// first and evaluates the second. Starting one takes about a second (the model is read from the page cache).
actor ModelServers {
    struct Server: Sendable {
        var child: ChildProcess
        var url: String
    }

    /// Servers kept running at once.
    static let kept = 2
    /// Seconds a server may take to answer `GET /health` with 200.
    static let startTimeout = 60.0

    private let binary: String
    private let slots: Int
    private let log: EventLog
    private let session: URLSession
    private var servers: [String: Task<Server, any Error>] = [:]
    private var started: [String] = []
    private var memo: [String: Task<String, any Error>] = [:]

    init(binary: String, slots: Int, log: EventLog) {
        self.binary = binary
        self.slots = max(slots, 1)
        self.log = log
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = 30
        session = URLSession(configuration: configuration)
    }

    /// The base URL of the server answering with `model`, started if it is not running.
    /// - Throws: `PluginFailure(.cannotStart)` with the server's last log lines when it does not become healthy.
    func url(for model: String) async throws -> String {
        if let running = servers[model] { return try await running.value.url }
        let (binary, slots, session, log) = (binary, slots, session, log)
        servers[model] = Task { try await Self.start(binary, model: model, slots: slots, session: session, log: log) }
        started.append(model)
        while started.count > Self.kept { await stop(started[0]) }
        guard let starting = servers[model] else {
            throw PluginFailure(.cannotStart, "the server for \(model) was stopped while it started")
        }
        return try await starting.value.url
    }

    /// Stops the server answering with `model`, if one runs.
    func stop(_ model: String) async {
        started.removeAll { $0 == model }
        guard let task = servers.removeValue(forKey: model), let server = try? await task.value else { return }
        ServerChildren.remove(server.child.pid)
        server.child.kill()
        _ = await server.child.wait(timeout: .seconds(10))
        log.event("llama.stop", [("pid", Int(server.child.pid)), ("model", model)])
    }

    func stopAll() async {
        for model in Array(servers.keys) { await stop(model) }
        session.invalidateAndCancel()
    }

    /// `body`'s result, computed once per `key` for the life of this object (a failure is not kept).
    func once(_ key: String, _ body: @escaping @Sendable () async throws -> String) async throws -> String {
        if let task = memo[key] { return try await task.value }
        let task = Task { try await body() }
        memo[key] = task
        do {
            return try await task.value
        } catch {
            memo[key] = nil
            throw error
        }
    }

    /// The prompt the server at `url` feeds its model for `messages`: its chat template applied, with the
    /// generation prompt (llama-server's `POST /apply-template`).
    func applyTemplate(_ url: String, messages: [JSONValue]) async throws -> String {
        try await fetch(url, "/apply-template", body: ["messages": .array(messages)], field: "prompt")
    }

    /// The text of the end-of-turn token of the server's model (`GET /props`, `eos_token`): `<|im_end|>` in ChatML.
    func endOfTurn(_ url: String) async throws -> String {
        try await fetch(url, "/props", body: nil, field: "eos_token")
    }

    /// How many tokens the server's model makes of `text`, special tokens parsed as llama-finetune (patched by
    /// ops/install-llm.sh) parses them (`POST /tokenize`).
    func tokenCount(_ url: String, _ text: String) async throws -> Int {
        let (data, _) = try await send(url, "/tokenize", body: ["content": .string(text)])
        guard let tokens = (try? JSONValue.parse(data))?["tokens"]?.arrayValue else {
            throw FlywheelError(.runFailed, "llama-server at \(url)/tokenize gave no `tokens`")
        }
        return tokens.count
    }

    private func fetch(_ url: String, _ path: String, body: JSONValue?, field: String) async throws -> String {
        let (data, status) = try await send(url, path, body: body)
        guard status == 200, let value = (try? JSONValue.parse(data))?[field]?.stringValue else {
            throw FlywheelError(
                .runFailed,
                "llama-server at \(url)\(path) gave no `\(field)`: "
                    + String(decoding: data.prefix(300), as: UTF8.self))
        }
        return value
    }

    /// A POST of `body`, or a GET when it is nil; the reply and its status.
    private func send(_ url: String, _ path: String, body: JSONValue?) async throws -> (Data, Int) {
        var request = URLRequest(url: URL(string: url + path)!)
        if let body {
            request.httpMethod = "POST"
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            request.httpBody = body.encoded()
        }
        let (data, response) = try await session.data(for: request)
        return (data, (response as? HTTPURLResponse)?.statusCode ?? 0)
    }

    private static func start(_ binary: String, model: String, slots: Int, session: URLSession, log: EventLog)
        async throws -> Server
    {
        let begin = monotonicSeconds()
        var failure = "no attempt was made"
        // A free port can be taken between the probe and the bind: up to three tries.
        for _ in 1...3 {
            let port = try freePort()
            let url = "http://127.0.0.1:\(port)"
            let child: ChildProcess
            do {
                child = try ChildProcess(
                    [
                        binary, "-m", model, "--host", "127.0.0.1", "--port", "\(port)", "-t", "1", "-np", "\(slots)",
                        "-c", "\(2048 * slots)", "--no-webui",
                    ], captureDirectory: NSTemporaryDirectory())
                ServerChildren.add(child.pid)
            } catch {
                throw PluginFailure(
                    .cannotStart, "llama-server could not be started: \(error.message); run ops/install-llm.sh")
            }
            let deadline = monotonicSeconds() + startTimeout
            while monotonicSeconds() < deadline {
                if let outcome = child.poll() {
                    failure =
                        "llama-server -m \(model) exited (\(outcome.statusDescription)): \(outcome.stderr.suffix(800))"
                    break
                }
                if await healthy(url, session: session) {
                    log.event(
                        "llama.start",
                        [
                            ("pid", Int(child.pid)), ("url", url), ("model", model),
                            ("seconds", monotonicSeconds() - begin),
                        ])
                    return Server(child: child, url: url)
                }
                try? await Task.sleep(for: .milliseconds(100))
            }
            ServerChildren.remove(child.pid)
            if child.poll() == nil {
                let outcome = child.killGroup()
                throw PluginFailure(
                    .cannotStart,
                    "llama-server -m \(model) was not healthy after \(Int(startTimeout)) s: \(outcome.stderr.suffix(800))"
                )
            }
            guard failure.contains("bind") || failure.contains("address already in use") else { break }
        }
        throw PluginFailure(.cannotStart, failure)
    }

    private static func healthy(_ url: String, session: URLSession) async -> Bool {
        var request = URLRequest(url: URL(string: url + "/health")!, timeoutInterval: 2)
        request.httpMethod = "GET"
        guard let (_, response) = try? await session.data(for: request) else { return false }
        return (response as? HTTPURLResponse)?.statusCode == 200
    }

    /// A port of 127.0.0.1 that nothing listens on now (the kernel's pick for a socket bound to port 0).
    private static func freePort() throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw PluginFailure(.cannotStart, "no socket for a port probe: errno \(errno)") }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, length) == 0 && getsockname(descriptor, $0, &length) == 0
            }
        }
        guard bound else { throw PluginFailure(.cannotStart, "no free port on 127.0.0.1: errno \(errno)") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
