// The floor under Flywheel's end-to-end round: the same items through the same Python programs (throughput.sh's arith
// generator, always-right solver and echo checker; 2 workers each, 8 items in flight) with nothing but the exchanges:
// each request built and each response parsed with Flywheel's JSON layer, and no store, admission, few-shot selection,
// held-out evaluation or learning. What a round costs beyond this is the engine's own work.
//
//   orchestration-floor poll ITEMS PYTHON REPO_ROOT
//
// `poll` writes each request from the calling task and reads every worker's answers on one thread polling all their
// pipes, one request per worker at a time. (A `threads` mode drove each worker from its own dispatch queue, as
// `ExternalPool` did before it moved onto the event loop; it went with that design.) Prints
// `MODE: N items, A accepted, in T ms` on stderr.
// Benchmarks/cpu-split.sh runs both beside Flywheel and the reference loop.
import Dispatch
import FlywheelCore
import Foundation
import Processes
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

signal(SIGPIPE, SIG_IGN)
let arguments = CommandLine.arguments
guard arguments.count == 5, arguments[1] == "poll", let items = Int(arguments[2]) else {
    FileHandle.standardError.write(Data("usage: orchestration-floor poll ITEMS PYTHON REPO_ROOT\n".utf8))
    exit(64)
}
let (mode, python, root) = (arguments[1], arguments[3], arguments[4])

typealias Waiter = CheckedContinuation<Data, Never>

/// Two workers of one program; a request waits for a free one.
protocol Workers: Sendable {
    func call(_ line: Data) async -> Data
    func stop()
}

/// Requests waiting for a worker, and the workers free to take one.
struct Queue {
    var idle: [Int]
    var waiting: [(line: Data, waiter: Waiter)] = []
}

/// Requests written by the calling task; every worker's answers read on one thread that polls all their pipes.
final class PollWorkers: Workers, @unchecked Sendable {
    private final class Worker {
        let pid: pid_t, input: Int32, output: Int32
        var buffer: [UInt8] = []
        var waiter: Waiter?
        init(pid: pid_t, input: Int32, output: Int32) { (self.pid, self.input, self.output) = (pid, input, output) }
    }
    private let workers: [Worker]
    private let queue: Mutex<Queue>

    init(argv: [String], count: Int) throws {
        workers = try (0..<count).map { _ in
            let input = try Spawn.pipe()
            let output = try Spawn.pipe()
            let pid = try Spawn.start(argv, stdin: .descriptor(input.read), stdout: .descriptor(output.write))
            close(input.read)
            close(output.write)
            _ = fcntl(output.read, F_SETFL, fcntl(output.read, F_GETFL) | O_NONBLOCK)
            return Worker(pid: pid, input: input.write, output: output.read)
        }
        queue = Mutex(Queue(idle: Array(0..<count)))
    }

    var descriptors: [Int32] { workers.map(\.output) }

    func call(_ line: Data) async -> Data {
        await withCheckedContinuation { waiter in
            let free = queue.withLock { queue -> Int? in
                if let index = queue.idle.popLast() {
                    workers[index].waiter = waiter
                    return index
                }
                queue.waiting.append((line, waiter))
                return nil
            }
            if let free { Self.write(line, to: workers[free].input) }
        }
    }

    /// On the polling thread: reads what `workers[index]` wrote, answers its waiter, gives it the next request.
    func readable(_ index: Int, chunk: inout [UInt8]) {
        let worker = workers[index]
        while true {
            let count = chunk.withUnsafeMutableBytes { read(worker.output, $0.baseAddress, $0.count) }
            if count <= 0 { break }
            worker.buffer.append(contentsOf: chunk[..<count])
        }
        while let newline = worker.buffer.firstIndex(of: 0x0A) {
            let answer = Data(worker.buffer[..<newline])
            worker.buffer.removeSubrange(...newline)
            let waiter = worker.waiter!
            let next = queue.withLock { queue -> (line: Data, waiter: Waiter)? in
                guard !queue.waiting.isEmpty else {
                    worker.waiter = nil
                    queue.idle.append(index)
                    return nil
                }
                let next = queue.waiting.removeFirst()
                worker.waiter = next.waiter
                return next
            }
            if let next { Self.write(next.line, to: worker.input) }
            waiter.resume(returning: answer)
        }
    }

    private static func write(_ line: Data, to descriptor: Int32) {
        var payload = line
        payload.append(0x0A)
        payload.withUnsafeBytes { raw in
            var written = 0
            while written < raw.count {
                let count = Glibc.write(descriptor, raw.baseAddress! + written, raw.count - written)
                if count < 0 && errno != EINTR { fatalError("write: errno \(errno)") }
                written += max(count, 0)
            }
        }
    }

    func stop() {
        for worker in workers { close(worker.input) }
        for worker in workers {
            var status: Int32 = 0
            _ = waitpid(worker.pid, &status, 0)
        }
    }
}

/// The one thread that polls every `PollWorkers` pipe, started once all are made.
func startPolling(_ pools: [PollWorkers]) {
    let owners = pools.flatMap { pool in pool.descriptors.indices.map { (pool, $0) } }
    let watched = pools.flatMap(\.descriptors)
    Thread.detachNewThread {
        var descriptors = watched.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        var chunk = [UInt8](repeating: 0, count: 65536)
        while poll(&descriptors, nfds_t(descriptors.count), -1) >= 0 {
            for slot in descriptors.indices where descriptors[slot].revents != 0 {
                if descriptors[slot].revents & Int16(POLLIN) == 0 { descriptors[slot].fd = -1 }  // closed: ignore
                descriptors[slot].revents = 0
                owners[slot].0.readable(owners[slot].1, chunk: &chunk)
            }
        }
    }
}

func program(_ script: String, _ extra: [String] = []) -> [String] {
    [python, "-u", "\(root)/Fixtures/plugins/\(script)"] + extra
}
let argvs = [program("arith_gen.py"), program("arith_solve.py", ["--base", "100"]), program("echo_check.py")]
let polled = try argvs.map { try PollWorkers(argv: $0, count: 2) }
startPolling(polled)
let pools: [any Workers] = polled
let (generator, solver, checker) = (pools[0], pools[1], pools[2])

func object(_ line: Data) -> [String: JSONValue] {
    guard let object = (try? JSONValue.parse(line))?.objectValue else { fatalError("not a JSON object: \(line)") }
    return object
}

let started = monotonicSeconds()
let accepted = await withTaskGroup(of: Bool.self) { group in
    var next = 0
    func add() {
        let index = next
        next += 1
        group.addTask {
            let number = JSONValue.number(Double(index))
            let generated = object(
                await generator.call(
                    JSONValue.object([
                        "op": "generate", "id": .string("g-\(index)"), "seed": number, "difficulty": 1,
                        "split": "train",
                    ]).encoded()))
            guard case .object(let task)? = generated["task"] else { return false }
            var shown = task
            shown["reference"] = nil
            let solved = object(
                await solver.call(
                    JSONValue.object([
                        "op": "solve", "id": .string("s-\(index)"), "task": .object(shown), "examples": [],
                        "attempt": 0, "seed": number,
                    ]).encoded()))
            let verdict = object(
                await checker.call(
                    JSONValue.object([
                        "op": "check", "id": .string("c-\(index)"), "task": .object(task),
                        "answer": solved["answer"] ?? .null,
                    ]).encoded()))
            return verdict["accept"] == .bool(true)
        }
    }
    for _ in 0..<min(8, items) { add() }
    var accepted = 0
    for await ok in group {
        if ok { accepted += 1 }
        if next < items { add() }
    }
    return accepted
}
let milliseconds = Int((monotonicSeconds() - started) * 1000)
for pool in pools { pool.stop() }
FileHandle.standardError.write(Data("\(mode): \(items) items, \(accepted) accepted, in \(milliseconds) ms\n".utf8))
