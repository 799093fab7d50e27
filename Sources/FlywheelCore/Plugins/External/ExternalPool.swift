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

/// N persistent workers speaking JSON Lines protocol v1, served on the event loop; a request waits for a worker
/// (back-pressure).
///
/// A program reads the requests waiting in its pipe the moment it has answered the one before, while one asleep in a
/// read takes a wake-up to start: on this machine a request-and-answer with a generator that works 13 µs per request
/// takes 130–150 µs (docs/performance-history.md, tenth session). So a request goes, in this order of preference: to a
/// worker that is answering others and answers so fast (`serviceTime`) that those already written to it will be done
/// within `wakeBudget`; to a free worker; when none is free, to a worker with just one request written (a pool of one
/// worker: to it, as far as its pipe holds); else it waits, first come first served. The program still reads and
/// answers one line at a time, in order; the requests written to a worker that then fails, after the one that failed,
/// are written again elsewhere without counting as retries.
final class ExternalPool: Sendable {
    /// Lines longer than this are never written behind another, and no more than `aheadBytes` of requests wait in a
    /// program's pipe: they fit in a pipe's buffer with room to spare.
    private static let aheadLimit = 16 * 1024
    private static let aheadBytes = 32 * 1024
    /// How long the requests written to a worker may keep a new one waiting behind them, at most, rather than it
    /// waking a free worker: about what a wake-up costs here.
    private static let wakeBudget = 150e-6

    /// A request on its way: its line and id, and who gets the answer (validated), with the index of the worker
    /// that gave it (-1: none was tried) and the retries it took.
    private final class Job {
        let line: Data
        let id: String
        let done: (Result<[String: JSONValue], PluginFailure>, _ worker: Int, _ retries: Int) -> Void
        var retries = 0
        /// Whether it was written behind another request: its answer then times the program's own work.
        var queued = false

        init(
            line: Data, id: String, done: @escaping (Result<[String: JSONValue], PluginFailure>, Int, Int) -> Void
        ) {
            self.line = line
            self.id = id
            self.done = done
        }
    }

    private final class Slot {
        var worker: LineWorker?
        /// The jobs written to `worker` and not answered, oldest first, and their bytes.
        var sent: [Job] = []
        var bytes = 0
        /// When `worker` last answered.
        var lastAnswer = 0.0
        /// Seconds per answer to a request that was waiting in the program's pipe (nil: none seen yet).
        var serviceTime: Double?
        /// Workers whose input `release()` closed, left to exit until `shutdown` reaps them.
        var released: [LineWorker] = []
    }

    /// What the pool keeps on the loop's thread (and only there).
    private final class State: @unchecked Sendable {
        var slots: [Slot]
        /// Jobs that were written to a worker that failed before their turn, and retries: served first.
        var carried: [Job] = []
        var waiting: [Job] = []
        /// The first job of `waiting` not yet taken (taken ones are dropped in batches).
        var head = 0

        init(count: Int) { slots = (0..<count).map { _ in Slot() } }
    }

    let name: String
    let command: ExternalCommand
    private let log: EventLog
    private let loop = EventLoop.shared
    private let state: State
    /// The last lines the workers wrote on stderr, for the message of a failure.
    private let stderrTail = Locked<[String]>([])
    private static let stderrTailLines = 10
    /// Set once a request failed to start the program on every try: later requests fail with it at once.
    private let startFailure = Locked<PluginFailure?>(nil)

    init(name: String, command: ExternalCommand, log: EventLog) {
        self.name = name
        self.command = command
        self.log = log
        state = State(count: max(1, command.workers))
    }

    /// Sends one request object and decodes the response, or says why there is none.
    ///
    /// A crash, a timeout, a wrong id or a failed start is tried again with the same line (same id, same seed) on
    /// a fresh worker in the same slot, before anything else, up to `command.retries` times; each retry is counted
    /// (`PluginRetries`). Every fault but a refusal is logged as `plugin.fault`, including a response that is JSON
    /// but not the shape `decode` expects. A program that failed to start on every try fails with `.cannotStart`,
    /// its stderr tail in the message, and so does every later request, without trying.
    func request<T: Sendable>(
        _ fields: [String: JSONValue], id: String,
        decode: @escaping @Sendable ([String: JSONValue]) -> Result<T, PluginFailure>
    ) async -> Result<T, PluginFailure> {
        var object = fields
        object["id"] = .string(id)
        return await request(line: JSONValue.object(object).encoded(), id: id, decode: decode)
    }

    /// `request` for a request already encoded: `line` holds its fields, `id` among them.
    func request<T: Sendable>(
        line: Data, id: String, decode: @escaping @Sendable ([String: JSONValue]) -> Result<T, PluginFailure>
    ) async -> Result<T, PluginFailure> {
        if let failure = startFailure.withLock({ $0 }) { return .failure(failure) }
        let (answer, worker, retries) = await withCheckedContinuation { continuation in
            let submit: @Sendable () -> Void = { [self] in
                state.waiting.append(Job(line: line, id: id) { continuation.resume(returning: ($0, $1, $2)) })
                pump()
            }
            if loop.inLoop { submit() } else { loop.execute(submit) }
        }
        PluginRetries.add(retries)
        let result = answer.flatMap(decode)
        if case .success = answer, case .failure(let failure) = result, failure.kind != .refused {
            log.event(
                "plugin.fault",
                [
                    ("plugin", name), ("worker", worker), ("id", id), ("error", failure.description),
                    ("then", "recorded as an error"),
                ])
        }
        return result
    }

    /// Hands waiting jobs to workers, carried ones first, for as long as some worker takes one.
    private func pump() {
        if let failure = startFailure.withLock({ $0 }) {
            let jobs = state.carried + state.waiting[state.head...]
            state.carried.removeAll()
            state.waiting.removeAll()
            state.head = 0
            for job in jobs { job.done(.failure(failure), -1, 0) }
            return
        }
        while true {
            let job: Job
            if let first = state.carried.first {
                job = first
            } else if state.head < state.waiting.count {
                job = state.waiting[state.head]
            } else {
                state.waiting.removeAll(keepingCapacity: true)
                state.head = 0
                return
            }
            guard let index = worker(for: job) else { return }
            if !state.carried.isEmpty {
                state.carried.removeFirst()
            } else {
                state.head += 1
                if state.head >= 256, state.head * 2 >= state.waiting.count {
                    state.waiting.removeFirst(state.head)
                    state.head = 0
                }
            }
            send(job, on: index)
        }
    }

    /// The worker `job` should go to now, if any (see the type's comment).
    private func worker(for job: Job) -> Int? {
        let slots = state.slots
        let short = job.line.count < Self.aheadLimit
        func open(_ slot: Slot) -> Bool {
            short && slot.worker?.hasAnswered == true && slot.bytes + job.line.count <= Self.aheadBytes
        }
        var fastest: (index: Int, wait: Double)?
        for (index, slot) in slots.enumerated() where !slot.sent.isEmpty && open(slot) {
            guard let service = slot.serviceTime else { continue }
            let wait = service * Double(slot.sent.count)
            if wait <= Self.wakeBudget, wait < fastest?.wait ?? .infinity { fastest = (index, wait) }
        }
        if let fastest { return fastest.index }
        // A free worker, one already running first.
        let free = slots.indices.filter { slots[$0].sent.isEmpty }
        if let running = free.first(where: { slots[$0].worker != nil }) ?? free.first { return running }
        // None is free: behind the one request of a busy worker; a single worker takes as many as its pipe holds
        // (there is no other worker the request could go to sooner).
        let depth = slots.count == 1 ? Int.max : 2
        return slots.indices.filter { slots[$0].sent.count < depth && open(slots[$0]) }
            .min { slots[$0].sent.count < slots[$1].sent.count }
    }

    /// Writes `job` to slot `index`'s worker, starting one if it has none.
    private func send(_ job: Job, on index: Int) {
        let slot = state.slots[index]
        if slot.worker == nil {
            do {
                try start(index)
            } catch {
                return finish(job, .failure(failure(error)), on: index)
            }
        }
        let worker = slot.worker!
        job.queued = !slot.sent.isEmpty
        slot.sent.append(job)
        slot.bytes += job.line.count
        worker.send(
            job.line, timeout: command.timeout, startup: command.startupTimeout, maxBytes: command.maxResponseBytes
        ) { [self] answer in
            answered(job, answer, on: index, by: worker)
        }
    }

    /// Takes `worker`'s answer to `job` (nil: the worker failed before its turn).
    private func answered(
        _ job: Job, _ answer: Result<Data, LineWorkerError>?, on index: Int, by worker: LineWorker
    ) {
        let slot = state.slots[index]
        if let position = slot.sent.firstIndex(where: { $0 === job }) {
            slot.sent.remove(at: position)
            slot.bytes -= job.line.count
        }
        switch answer {
        case nil:
            // Not its fault: it goes again first, and the one that failed has the answer that pumps.
            if slot.worker === worker { slot.worker = nil }
            state.carried.append(job)
            return
        case .failure(let error):
            if case .cannotStart = error { worker.waitForStderr(timeout: 2) }
            if slot.worker === worker { slot.worker = nil }
            finish(job, .failure(failure(error)), on: index)
        case .success(let line):
            let now = monotonicSeconds()
            if job.queued {
                let took = now - slot.lastAnswer
                slot.serviceTime = slot.serviceTime.map { 0.8 * $0 + 0.2 * took } ?? took
            }
            slot.lastAnswer = now
            let result = Self.validate(line, id: job.id)
            if case .failure(let failure) = result, failure.kind != .refused {
                // After garbage or a stray id the stream can no longer be trusted: start afresh.
                if slot.worker === worker { slot.worker = nil }
                worker.stop()
            }
            finish(job, result, on: index)
        }
        pump()
    }

    /// Hands `job` its validated answer, or tries it again on a fresh worker in slot `index` first: a fault but a
    /// refusal is logged, and retried when transient and retries are left.
    private func finish(_ job: Job, _ result: Result<[String: JSONValue], PluginFailure>, on index: Int) {
        if case .failure(let failure) = result, failure.kind != .refused {
            let retrying = failure.isTransient && job.retries < command.retries
            let then =
                retrying
                ? "retry \(job.retries + 1) of \(command.retries)"
                : failure.kind == .cannotStart ? "the run stops" : "recorded as an error"
            log.event(
                "plugin.fault",
                [("plugin", name), ("worker", index), ("id", job.id), ("error", failure.description), ("then", then)])
            if retrying {
                job.retries += 1
                return send(job, on: index)
            }
            if failure.kind == .cannotStart { startFailure.withLock { $0 = failure } }
        }
        job.done(result, index, job.retries)
    }

    /// Starts a worker in slot `index`. Loop thread only.
    private func start(_ index: Int) throws(LineWorkerError) {
        let (name, log, tail) = (name, log, stderrTail)
        let worker = try LineWorker(argv: command.argv, directory: command.directory, loop: loop) { text in
            tail.withLock { lines in
                lines.append(String(text.prefix(300)))
                if lines.count > Self.stderrTailLines { lines.removeFirst(lines.count - Self.stderrTailLines) }
            }
            log.event("plugin.stderr", [("plugin", name), ("worker", index), ("line", text)])
        }
        state.slots[index].worker = worker
        log.event("plugin.start", [("plugin", name), ("worker", index), ("pid", worker.pid)])
    }

    /// Starts every worker not running yet, without waiting, so that programs slow to start (an interpreter, a model
    /// load) start together instead of one stage after another as their first requests come. A worker that cannot
    /// start is left to its first request, which says why.
    func startWorkers() {
        guard startFailure.withLock({ $0 }) == nil else { return }
        loop.execute { [self] in
            for (index, slot) in state.slots.enumerated() where slot.worker == nil { try? start(index) }
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
        loop.execute { [self] in
            for slot in state.slots {
                guard let worker = slot.worker else { continue }
                worker.closeInput()
                // Its input has ended: a later request starts a new worker.
                slot.released.append(worker)
                slot.worker = nil
            }
        }
    }

    /// Closes every worker's input and waits briefly for it to exit, all workers at once.
    func shutdown() async {
        let workers = await withCheckedContinuation { (continuation: CheckedContinuation<[LineWorker], Never>) in
            loop.execute { [self] in
                var workers: [LineWorker] = []
                for slot in state.slots {
                    workers += slot.released + (slot.worker.map { [$0] } ?? [])
                    slot.released.removeAll()
                    slot.worker = nil
                }
                continuation.resume(returning: workers)
            }
        }
        await withTaskGroup(of: Void.self) { group in
            for worker in workers {
                group.addTask { await worker.shutdown(grace: 2) }
            }
        }
    }
}
