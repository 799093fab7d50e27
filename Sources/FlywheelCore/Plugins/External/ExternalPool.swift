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
    /// Times a request is sent again, on a fresh worker, after a crash, a timeout or a wrong id.
    public var retries: Int = 2

    public init(
        argv: [String], directory: String? = nil, workers: Int = 1, timeout: Double = 30, startupTimeout: Double = 10,
        maxResponseBytes: Int = 1 << 20, retries: Int = 2
    ) {
        self.argv = argv
        self.directory = directory
        self.workers = workers
        self.timeout = timeout
        self.startupTimeout = startupTimeout
        self.maxResponseBytes = maxResponseBytes
        self.retries = retries
    }
}

/// N persistent workers speaking JSON Lines protocol v1; a request waits for a free worker (back-pressure).
///
/// Requests wait in one first-come-first-served queue. A worker that finishes a request takes the next one from
/// the queue on its own thread, and when no other worker is free it writes that next request as soon as the current
/// one is written, so the program finds it waiting the moment it answers: a busy plugin is never left idle while its
/// answer travels back. The program still reads and answers one line at a time, in order; a request written ahead
/// to a worker that then fails is written again to its replacement, without counting as a retry.
final class ExternalPool: Sendable {
    private final class Slot: @unchecked Sendable {
        // `process` and `ahead` are touched only on `queue`.
        let queue: DispatchQueue
        var process: LineWorker?
        /// The next job, taken from the queue while the current one is served, and the worker its line was
        /// written to (nil when writing it failed).
        var ahead: (job: Job, worker: LineWorker?)?
        /// Workers whose input `release()` closed, left to exit until `shutdown` reaps them.
        var released: [LineWorker] = []
        init(label: String) { queue = DispatchQueue(label: label) }
    }

    /// A request waiting for a worker: its line, and how it serves itself on the slot it is given (on that slot's
    /// queue), given the worker its line was already written to, if any.
    private struct Job: Sendable {
        let line: Data
        let run: @Sendable (_ slot: Slot, _ index: Int, _ sent: LineWorker?) -> Void
    }

    /// Lines longer than this are never written ahead: two of them fit in a pipe's buffer with room to spare, so a
    /// write ahead never blocks while the program is blocked writing its answer.
    private static let aheadLimit = 16 * 1024

    private struct Queue: Sendable {
        var waiting: [Job] = []
        /// The first job of `waiting` not yet taken (taken ones are dropped in batches).
        var head = 0
        var idle: [Int]
    }

    let name: String
    let command: ExternalCommand
    private let log: EventLog
    private let slots: [Slot]
    private let queue: Locked<Queue>
    /// The last lines the workers wrote on stderr, for the message of a failure.
    private let stderrTail = Locked<[String]>([])
    private static let stderrTailLines = 10
    /// Set once a request failed to start the program on every try: later requests fail with it at once.
    private let startFailure = Locked<PluginFailure?>(nil)

    init(name: String, command: ExternalCommand, log: EventLog) {
        self.name = name
        self.command = command
        self.log = log
        let count = max(1, command.workers)
        slots = (0..<count).map { Slot(label: "flywheel.\(name).\($0)") }
        queue = Locked(Queue(idle: Array((0..<count).reversed())))
    }

    /// Sends one request object and decodes the response, or says why there is none.
    ///
    /// A crash, a timeout, a wrong id or a failed start is tried again with the same line (same id, same seed) on
    /// a fresh worker in the same slot, up to `command.retries` times; each retry is counted (`PluginRetries`).
    /// Every fault but a refusal is logged as `plugin.fault`, including a response that is JSON but not the shape
    /// `decode` expects. A program that failed to start on every try fails with `.cannotStart`, its stderr tail in
    /// the message, and so does every later request, without trying.
    func request<T: Sendable>(
        _ fields: [String: JSONValue], id: String,
        decode: @escaping @Sendable ([String: JSONValue]) -> Result<T, PluginFailure>
    ) async -> Result<T, PluginFailure> {
        var object = fields
        object["id"] = .string(id)
        let line = JSONValue.object(object).encoded()
        let (result, retries) = await withCheckedContinuation {
            (continuation: CheckedContinuation<(Result<T, PluginFailure>, Int), Never>) in
            let job = Job(line: line) { [self] slot, index, sent in
                if let failure = startFailure.withLock({ $0 }) {
                    continuation.resume(returning: (.failure(failure), 0))
                } else {
                    continuation.resume(
                        returning: serve(on: slot, index: index, line: line, sent: sent, id: id, decode: decode))
                }
            }
            let free = queue.withLock { queue -> Int? in
                if let index = queue.idle.popLast() { return index }
                queue.waiting.append(job)
                return nil
            }
            if let free { slots[free].queue.async { [self] in work(on: free, first: job) } }
        }
        PluginRetries.add(retries)
        return result
    }

    /// Serves `first`, then every job waiting, on slot `index`'s queue; the slot is idle again when none waits.
    private func work(on index: Int, first: Job) {
        let slot = slots[index]
        var job = first
        var sent: LineWorker?
        while true {
            job.run(slot, index, sent)
            if let ahead = slot.ahead {
                slot.ahead = nil
                (job, sent) = ahead
                continue
            }
            sent = nil
            guard let next = take(orIdle: index) else { return }
            job = next
        }
    }

    /// The first waiting job; with none, `index` is marked idle (when given) and nil returned.
    private func take(orIdle index: Int?) -> Job? {
        queue.withLock { queue -> Job? in
            guard queue.head < queue.waiting.count else {
                if let index {
                    queue.waiting.removeAll(keepingCapacity: true)
                    queue.head = 0
                    queue.idle.append(index)
                }
                return nil
            }
            // Written ahead only when no other worker could start it now.
            if index == nil, !queue.idle.isEmpty { return nil }
            let job = queue.waiting[queue.head]
            queue.head += 1
            if queue.head >= 256, queue.head * 2 >= queue.waiting.count {
                queue.waiting.removeFirst(queue.head)
                queue.head = 0
            }
            return job
        }
    }

    /// Called once `worker` has been written the current line (of `length` bytes): takes the next waiting job, if
    /// any and no other worker is free, and writes its line too. Only to a worker that has answered before (a fresh
    /// one's first request alone tells whether it starts), and only short lines.
    private func writeAhead(on slot: Slot, worker: LineWorker, after length: Int) {
        guard slot.ahead == nil, worker.hasAnswered, length < Self.aheadLimit else { return }
        guard let next = take(orIdle: nil) else { return }
        guard next.line.count < Self.aheadLimit else {
            slot.ahead = (next, nil)
            return
        }
        slot.ahead = (next, worker.send(next.line) ? worker : nil)
    }

    /// The tries of one request on `slot`'s worker; runs on the slot's queue.
    private func serve<T>(
        on slot: Slot, index: Int, line: Data, sent: LineWorker?, id: String,
        decode: ([String: JSONValue]) -> Result<T, PluginFailure>
    ) -> (Result<T, PluginFailure>, retries: Int) {
        var retries = 0
        while true {
            let result = exchange(on: slot, index: index, line: line, sent: retries == 0 ? sent : nil, id: id)
                .flatMap(decode)
            guard case .failure(let failure) = result, failure.kind != .refused else { return (result, retries) }
            let retrying = failure.isTransient && retries < command.retries
            let then =
                retrying
                ? "retry \(retries + 1) of \(command.retries)"
                : failure.kind == .cannotStart ? "the run stops" : "recorded as an error"
            log.event(
                "plugin.fault",
                [("plugin", name), ("worker", index), ("id", id), ("error", failure.description), ("then", then)])
            guard retrying else {
                if failure.kind == .cannotStart { startFailure.withLock { $0 = failure } }
                return (result, retries)
            }
            retries += 1
        }
    }

    /// One exchange on `slot`'s worker, starting one if it has none; drops the worker whenever its stream can no
    /// longer be trusted.
    private func exchange(on slot: Slot, index: Int, line: Data, sent: LineWorker?, id: String)
        -> Result<[String: JSONValue], PluginFailure>
    {
        if slot.process == nil {
            do {
                try start(slot, index: index)
            } catch {
                return .failure(failure(error))
            }
        }
        let worker = slot.process!
        let answer = worker.exchange(
            line, alreadySent: sent === worker, timeout: command.timeout, startup: command.startupTimeout,
            maxBytes: command.maxResponseBytes
        ) { [self] in writeAhead(on: slot, worker: worker, after: line.count) }
        if case .failure(.cannotStart) = answer { slot.process?.waitForStderr(timeout: 2) }
        let result = answer.mapError(failure).flatMap { Self.validate($0, id: id) }
        if case .failure(let failure) = result, failure.kind != .refused {
            // After a timeout, garbage or a stray id the stream can no longer be trusted: start afresh.
            slot.process = nil
        }
        return result
    }

    /// Starts a worker in `slot`; runs on the slot's queue.
    private func start(_ slot: Slot, index: Int) throws(LineWorkerError) {
        let (name, log, tail) = (name, log, stderrTail)
        slot.process = try LineWorker(argv: command.argv, directory: command.directory) { text in
            tail.withLock { lines in
                lines.append(String(text.prefix(300)))
                if lines.count > Self.stderrTailLines { lines.removeFirst(lines.count - Self.stderrTailLines) }
            }
            log.event("plugin.stderr", [("plugin", name), ("worker", index), ("line", text)])
        }
        log.event("plugin.start", [("plugin", name), ("worker", index), ("pid", slot.process!.pid)])
    }

    /// Starts every worker not running yet, without waiting, so that programs slow to start (an interpreter, a model
    /// load) start together instead of one stage after another as their first requests come. A worker that cannot
    /// start is left to its first request, which says why.
    func startWorkers() {
        guard startFailure.withLock({ $0 }) == nil else { return }
        for (index, slot) in slots.enumerated() {
            slot.queue.async { [self] in
                if slot.process == nil { try? start(slot, index: index) }
            }
        }
    }

    /// The worker's failure in the plugin vocabulary; a start failure names the program and shows its stderr.
    private func failure(_ error: LineWorkerError) -> PluginFailure {
        switch error {
        case .cannotStart(let message):
            PluginFailure(
                .cannotStart,
                "the \(name) `\(command.argv.joined(separator: " "))` cannot start: \(message)" + stderrSummary())
        case .crash(let message): PluginFailure(.crash, message)
        case .timeout(let message): PluginFailure(.timeout, message)
        case .tooLarge(let message): PluginFailure(.tooLarge, message)
        }
    }

    /// The last lines the workers wrote on stderr (at most 10, each cut to 300 bytes), oldest first.
    var recentStderr: [String] { stderrTail.withLock { $0 } }

    /// `; its stderr ended with:` and the tail, indented, or a note that it wrote nothing.
    func stderrSummary() -> String {
        let lines = recentStderr
        guard !lines.isEmpty else { return "; it wrote nothing on stderr" }
        return "; its stderr ended with:\n" + lines.map { "    " + $0 }.joined(separator: "\n")
    }

    static func validate(_ line: Data, id: String) -> Result<[String: JSONValue], PluginFailure> {
        var shown: String { String(decoding: line.prefix(200), as: UTF8.self) + (line.count > 200 ? "…" : "") }
        let value: JSONValue
        do {
            value = try JSONValue.parse(line)
        } catch {
            // NaN and Infinity are what Python's json.dumps writes for such floats; JSON has no word for them.
            let hint =
                shown.contains("NaN") || shown.contains("Infinity")
                ? " (NaN and Infinity are not JSON numbers)" : ""
            return .failure(PluginFailure(.malformed, "the response line is not valid JSON\(hint): \(shown)"))
        }
        guard let object = value.objectValue else {
            return .failure(PluginFailure(.malformed, "the response line is JSON but not an object: \(shown)"))
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

    /// Closes every worker's input without waiting for it to exit: the workers end while the run finishes its
    /// own work, and `shutdown` reaps them. A request after this starts new workers.
    func release() {
        for slot in slots {
            slot.queue.async {
                guard let worker = slot.process else { return }
                worker.closeInput()
                // Its input has ended: a later request starts a new worker.
                slot.released.append(worker)
                slot.process = nil
            }
        }
    }

    /// Closes every worker's input and waits briefly for it to exit, all workers at once.
    func shutdown() async {
        await withTaskGroup(of: Void.self) { group in
            for slot in slots {
                group.addTask {
                    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                        slot.queue.async {
                            slot.process?.shutdown(grace: 2)
                            slot.process = nil
                            for worker in slot.released { worker.shutdown(grace: 2) }
                            slot.released.removeAll()
                            continuation.resume()
                        }
                    }
                }
            }
        }
    }
}
