import Dispatch
import Foundation
import Processes

/// How to run one external program: the argv (no shell), where, how many workers, and the limits of each request.
public struct ExternalCommand: Sendable, Equatable {
    public var argv: [String]
    /// The working directory: the pipeline file's folder, so relative paths in `argv` resolve against it.
    public var directory: String?
    /// Workers started for this stage (each once, not once per item).
    public var workers: Int = 1
    /// Seconds a worker has to answer one request before it is killed and restarted.
    public var timeout: Double = 30
    /// Seconds a new worker has on top of `timeout` for its first answer, to start up.
    public var startupTimeout: Double = 10
    /// The longest response line accepted, in bytes.
    public var maxResponseBytes: Int = 1 << 20

    public init(
        argv: [String], directory: String? = nil, workers: Int = 1, timeout: Double = 30, startupTimeout: Double = 10,
        maxResponseBytes: Int = 1 << 20
    ) {
        self.argv = argv
        self.directory = directory
        self.workers = workers
        self.timeout = timeout
        self.startupTimeout = startupTimeout
        self.maxResponseBytes = maxResponseBytes
    }
}

/// N persistent workers speaking JSON Lines protocol v1; a request waits for a free worker (back-pressure).
final class ExternalPool: Sendable {
    private final class Slot: @unchecked Sendable {
        // `process` is touched only on `queue`.
        let queue: DispatchQueue
        var process: LineWorker?
        init(label: String) { queue = DispatchQueue(label: label) }
    }

    let name: String
    let command: ExternalCommand
    private let log: EventLog
    private let slots: [Slot]
    /// One permit per worker; holding one guarantees `idle` has a worker to take.
    private let permits: AsyncSemaphore
    private let idle: Locked<[Int]>

    init(name: String, command: ExternalCommand, log: EventLog) {
        self.name = name
        self.command = command
        self.log = log
        let count = max(1, command.workers)
        slots = (0..<count).map { Slot(label: "flywheel.\(name).\($0)") }
        permits = AsyncSemaphore(permits: count)
        idle = Locked(Array((0..<count).reversed()))
    }

    /// Sends one request object and returns the response object, or why there is none.
    func request(_ fields: [String: JSONValue], id: String) async -> Result<[String: JSONValue], PluginFailure> {
        var object = fields
        object["id"] = .string(id)
        let line = JSONValue.object(object).encoded()
        return await permits.withPermit {
            let index = idle.withLock { $0.removeLast() }
            defer { idle.withLock { $0.append(index) } }
            let slot = slots[index]
            return await withCheckedContinuation { continuation in
                slot.queue.async { [self] in
                    continuation.resume(returning: exchange(on: slot, index: index, line: line, id: id))
                }
            }
        }
    }

    private func exchange(on slot: Slot, index: Int, line: Data, id: String)
        -> Result<[String: JSONValue], PluginFailure>
    {
        if slot.process == nil {
            do {
                let (name, log) = (name, log)
                slot.process = try LineWorker(argv: command.argv, directory: command.directory) { text in
                    log.event("plugin.stderr", [("plugin", name), ("worker", index), ("line", text)])
                }
                log.event("plugin.start", [("plugin", name), ("worker", index), ("pid", slot.process!.pid)])
            } catch {
                return .failure(PluginFailure(error))
            }
        }
        let answer = slot.process!.exchange(
            line, timeout: command.timeout, startup: command.startupTimeout, maxBytes: command.maxResponseBytes)
        let result = answer.mapError(PluginFailure.init).flatMap { Self.validate($0, id: id) }
        if case .failure(let failure) = result, failure.kind != .refused {
            // After a timeout, garbage or a stray id the stream can no longer be trusted: start afresh.
            log.event("plugin.fault", [("plugin", name), ("worker", index), ("error", failure.description)])
            slot.process = nil
        }
        return result
    }

    static func validate(_ line: Data, id: String) -> Result<[String: JSONValue], PluginFailure> {
        guard let value = try? JSONValue.parse(line), let object = value.objectValue else {
            let shown = String(decoding: line.prefix(200), as: UTF8.self)
            return .failure(PluginFailure(.malformed, "the response line is not a JSON object: \(shown)"))
        }
        guard object["id"]?.stringValue == id else {
            return .failure(
                PluginFailure(.wrongID, "expected id \(id), got \(object["id"].map(\.jsonText) ?? "none")"))
        }
        if let error = object["error"] {
            return .failure(PluginFailure(.refused, error.stringValue ?? error.jsonText))
        }
        return .success(object)
    }

    /// Closes every worker's input and waits briefly for it to exit.
    func shutdown() async {
        for slot in slots {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                slot.queue.async {
                    slot.process?.shutdown(grace: 2)
                    slot.process = nil
                    continuation.resume()
                }
            }
        }
    }
}

extension PluginFailure {
    /// The same failure in the plugin vocabulary, message unchanged.
    init(_ failure: LineWorkerError) {
        switch failure {
        case .crash(let message): self.init(.crash, message)
        case .timeout(let message): self.init(.timeout, message)
        case .tooLarge(let message): self.init(.tooLarge, message)
        }
    }
}
