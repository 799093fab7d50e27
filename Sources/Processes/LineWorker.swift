import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One long-lived child that answers each line written to its stdin with one line on its stdout.
///
/// Started from an argv list (no shell) with close-on-exec pipes on stdin, stdout and stderr, and served by an
/// `EventLoop`: `send` writes a request without waiting (what the pipe cannot take yet is written as it drains),
/// and each answer, in order, goes to its request's handler on the loop's thread. Requests may be sent before the
/// ones ahead of them are answered: the program finds them waiting in its pipe. Everything but `init` and the async
/// methods runs on the loop's thread. After a failure the stream can no longer be trusted: drop the worker (its
/// `deinit`, on the loop's thread, kills and reaps the child) and start another.
public final class LineWorker: @unchecked Sendable {
    public let pid: pid_t
    private let loop: EventLoop
    private let stdinFD: Int32
    private let stdoutFD: Int32
    /// Bytes of requests not yet taken by the pipe.
    private var outbox: [UInt8] = []
    /// Bytes written to the child's stdin in all, to tell a child that read nothing of its first request.
    private var written = 0
    /// The part of an answer read so far.
    private var buffer: [UInt8] = []
    /// What each read of stdout lands in, allocated once per worker.
    private var chunk = [UInt8](repeating: 0, count: 65536)
    private var exited = false
    private var answered = false
    /// Whether the loop watches the output (for answers) and the input (for room for `outbox`).
    private var watchingOutput = false
    private var watchingInput = false
    /// The child closed its input: nothing more can be written to it.
    private var inputClosed = false
    /// Requests sent and not answered, oldest first.
    private var pending: [Pending] = []
    /// The timer of the oldest request's deadline.
    private var timer: Int?
    /// How the child ended, once `crashed` has reaped it: `exit status 3`.
    private var ending: String?
    /// Signalled when the child's stderr has been forwarded to the end.
    private let stderrDrained = DispatchSemaphore(value: 0)

    private struct Pending {
        /// Bytes of this request still in `outbox` (its newline included).
        var unwritten: Int
        let timeout: Double
        let maxBytes: Int
        /// Gets the answer or the failure that ended the worker; nil when the worker ended before its turn.
        let answer: (Result<Data, LineWorkerError>?) -> Void
    }

    /// Starts `argv` in `directory` (nil: the current one), to be served by `loop`.
    /// - Parameter onStderr: Receives each line the child writes on stderr (at most 4096 bytes of it), from a
    ///   background thread, until the child closes its stderr.
    /// - Throws: `LineWorkerError.crash` when the pipes cannot be made, `LineWorkerError.cannotStart` when the
    ///   program cannot be started (not found, not executable).
    public init(
        argv: [String], directory: String?, loop: EventLoop = .shared, onStderr: @escaping @Sendable (String) -> Void
    ) throws(LineWorkerError) {
        _ = Self.pipeSignalIgnored
        self.loop = loop
        var opened: [Int32] = []
        func makePipe() throws(LineWorkerError) -> (read: Int32, write: Int32) {
            do {
                let ends = try Spawn.pipe()
                opened += [ends.read, ends.write]
                return ends
            } catch {
                for descriptor in opened { close(descriptor) }
                throw LineWorkerError.crash(error.message)
            }
        }
        let input = try makePipe()
        let output = try makePipe()
        let errors = try makePipe()
        let started = Result { () throws(SpawnError) in
            try Spawn.start(
                argv, stdin: .descriptor(input.read), stdout: .descriptor(output.write),
                stderr: .descriptor(errors.write), directory: directory)
        }
        close(input.read)
        close(output.write)
        close(errors.write)
        switch started {
        case .success(let child): pid = child
        case .failure(let error):
            close(input.write)
            close(output.read)
            close(errors.read)
            throw LineWorkerError.cannotStart(error.message)
        }
        stdinFD = input.write
        stdoutFD = output.read
        for descriptor in [stdinFD, stdoutFD] {
            _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK)
        }
        let stderrFD = errors.read
        let drained = stderrDrained
        Thread.detachNewThread {
            LineWorker.forwardLines(from: stderrFD, to: onStderr)
            close(stderrFD)
            drained.signal()
        }
    }

    /// Writing to a worker that has died (a request written ahead, or one written as it exits) must fail with
    /// EPIPE, not kill this process with SIGPIPE: ignored once for the process, by whoever starts workers (the CLI
    /// does so at start-up too). Children get the default back (`Spawn`).
    private static let pipeSignalIgnored: Void = { signal(SIGPIPE, SIG_IGN) }()

    deinit {
        unwatchAll()
        if let timer { loop.cancel(timer) }
        terminate()
        close(stdinFD)
        close(stdoutFD)
    }

    /// Whether the worker has answered a request (so it has started).
    public var hasAnswered: Bool { answered }

    /// Requests sent and not yet answered.
    public var outstanding: Int { pending.count }

    /// Sends `line` and a newline; `answer` gets the line the child answers it with (without its newline), after
    /// the answers to the requests sent before it, on the loop's thread. Loop thread only.
    /// - Parameters:
    ///   - timeout: Seconds the answer may take, from when the line is written and the answers before it are in;
    ///     the worker's first answer has `startup` seconds more, to pay for its start-up (an interpreter, imports,
    ///     a model load).
    ///   - maxBytes: The longest answer accepted, newline not counted; a longer one kills the worker, and no more
    ///     than `maxBytes + 1` bytes of it are ever held.
    ///   - answer: The answer, or why there is none: `timeout` and `tooLarge` kill the child, `crash` reaps it. A
    ///     fresh worker that exits without having read any of its first request is `cannotStart`: it failed at
    ///     start-up, whatever it was asked. Nil for a request still waiting its turn when the worker failed: it
    ///     was not this request's fault, and it may be sent again elsewhere.
    public func send(
        _ line: Data, timeout: Double, startup: Double = 0, maxBytes: Int,
        answer: @escaping (Result<Data, LineWorkerError>?) -> Void
    ) {
        precondition(loop.inLoop, "a LineWorker is served on its loop's thread")
        if exited {
            answer(.failure(LineWorkerError.crash("the worker had exited")))
            return
        }
        outbox.append(contentsOf: line)
        outbox.append(0x0A)
        pending.append(
            Pending(
                unwritten: line.count + 1, timeout: answered || pending.count > 0 ? timeout : timeout + startup,
                maxBytes: maxBytes, answer: answer))
        flush()
    }

    /// Writes what the pipe takes of `outbox`; watches for room when some is left, and for answers while any
    /// request waits for one.
    private func flush() {
        // Nothing more reaches a child whose input closed: what waits for it is dropped, not watched for.
        if inputClosed { outbox.removeAll() }
        if !outbox.isEmpty {
            let taken = outbox.withUnsafeBytes { raw in
                var done = 0
                while done < raw.count {
                    let count = write(stdinFD, raw.baseAddress! + done, raw.count - done)
                    if count < 0 {
                        if errno == EINTR { continue }
                        return errno == EAGAIN || errno == EWOULDBLOCK ? done : -1
                    }
                    done += count
                }
                return done
            }
            if taken < 0 {
                // The child closed its input: it is ending. Its output says how far it got (the answers it wrote
                // before, then the end of it), so the request it died on, not this one, takes the failure.
                inputClosed = true
                outbox.removeAll()
            } else {
                outbox.removeFirst(taken)
                written += taken
                var left = taken
                for index in pending.indices where pending[index].unwritten > 0 && left > 0 {
                    let part = min(left, pending[index].unwritten)
                    pending[index].unwritten -= part
                    left -= part
                }
            }
        }
        if timer == nil, let head = pending.first, head.unwritten == 0 || inputClosed {
            timer = loop.schedule(at: monotonicSeconds() + head.timeout) { [unowned self] in
                timer = nil
                terminate()
                fail(LineWorkerError.timeout("no response in time; worker killed and restarted"))
            }
        }
        // Answers are read while any is awaited; the input is watched for room while some of `outbox` waits.
        watch(stdoutFD, POLLIN, while: !pending.isEmpty, &watchingOutput) { [unowned self] in readAnswers() }
        watch(stdinFD, POLLOUT, while: !outbox.isEmpty, &watchingInput) { [unowned self] in flush() }
    }

    /// Watches `descriptor` for `event` on the loop while `wanted` (calling `handler` when it is ready, or errs),
    /// and not otherwise.
    private func watch(
        _ descriptor: Int32, _ event: Int32, while wanted: Bool, _ watching: inout Bool,
        _ handler: @escaping () -> Void = {}
    ) {
        guard wanted != watching else { return }
        watching = wanted
        if wanted {
            loop.watch(descriptor, events: Int16(event)) { _ in handler() }
        } else {
            loop.unwatch(descriptor)
        }
    }

    /// Stops watching both pipes.
    private func unwatchAll() {
        watch(stdoutFD, POLLIN, while: false, &watchingOutput)
        watch(stdinFD, POLLOUT, while: false, &watchingInput)
    }

    /// Reads what has arrived and hands over each whole answer. An answer over its request's cap fails as soon as
    /// byte `maxBytes + 1` arrives: reads never ask for more than that, so nothing past the cap is held.
    private func readAnswers() {
        while let head = pending.first {
            let wanted = min(chunk.count, head.maxBytes + 1 - buffer.count)
            let count = chunk.withUnsafeMutableBytes { read(stdoutFD, $0.baseAddress, wanted) }
            if count < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK { break }
                fail(crashed("reading its output failed"))
                return
            }
            if count == 0 {
                fail(crashed("it closed its output"))
                return
            }
            var start = buffer.count
            buffer.append(contentsOf: chunk[..<count])
            while let newline = buffer[start...].firstIndex(of: 0x0A) {
                guard let current = pending.first else { break }
                guard newline <= current.maxBytes else { return tooLarge(current.maxBytes) }
                let line = Data(buffer[..<newline])
                buffer.removeSubrange(...newline)
                start = 0
                pending.removeFirst()
                answered = true
                if let timer { loop.cancel(timer) }
                timer = nil
                current.answer(.success(line))
                // The handler may have dropped or failed the worker.
                if exited { return }
            }
            if let current = pending.first, buffer.count > current.maxBytes { return tooLarge(current.maxBytes) }
        }
        flush()
    }

    private func tooLarge(_ maxBytes: Int) {
        terminate()
        buffer.removeAll()
        fail(LineWorkerError.tooLarge("the response exceeded \(maxBytes) bytes; worker restarted"))
    }

    /// Ends the worker with `error`: the oldest request gets it, the others nil. A fresh worker that exits without
    /// having read any of its first request could not start.
    private func fail(_ error: LineWorkerError) {
        var error = error
        if case .crash = error, !answered, let unread = unreadInput(), unread == written {
            error = .cannotStart("it exited before reading its first request (\(ending ?? "status unknown"))")
        }
        guard !pending.isEmpty else { return stop() }
        let head = pending.removeFirst()
        stop()
        head.answer(.failure(error))
    }

    /// Kills the child: each request not answered yet gets nil (it may be sent again elsewhere). For a worker that
    /// can no longer be trusted (it answered with garbage or a stray id).
    public func stop() {
        terminate()
        unwatchAll()
        if let timer { loop.cancel(timer) }
        timer = nil
        let unanswered = pending
        pending.removeAll()
        outbox.removeAll()
        for request in unanswered { request.answer(nil) }
    }

    /// Bytes written to the child's stdin that it has not read; nil when the system cannot tell.
    private func unreadInput() -> Int? {
        var count: Int32 = 0
        // FIONREAD on the write end of a pipe counts what is queued in it on Linux; elsewhere it may fail.
        guard ioctl(stdinFD, UInt(FIONREAD), &count) == 0 else { return nil }
        return Int(count)
    }

    /// Sends `line` from any thread and waits for its answer (nil from `send` is a crash here: nothing else was
    /// sent).
    public func exchange(_ line: Data, timeout: Double, startup: Double, maxBytes: Int) async
        -> Result<Data, LineWorkerError>
    {
        await withCheckedContinuation { continuation in
            loop.execute { [self] in
                send(line, timeout: timeout, startup: startup, maxBytes: maxBytes) {
                    continuation.resume(returning: $0 ?? .failure(.crash("the worker ended before answering")))
                }
            }
        }
    }

    /// Waits up to `timeout` seconds for the child's stderr to be forwarded to its end (it ends when the child and
    /// anything it started have closed it): after a failure, so that its last lines are in before they are shown.
    public func waitForStderr(timeout: Double) {
        if stderrDrained.wait(timeout: .now() + timeout) == .success { stderrDrained.signal() }
    }

    /// Reaps the child that closed a pipe, giving it a moment to exit, and says how it ended.
    private func crashed(_ what: String) -> LineWorkerError {
        let status: String
        if exited {
            status = "already reaped"
        } else {
            // A child that closed its output is exiting: wait for it briefly (the loop waits with it), then kill.
            let deadline = monotonicSeconds() + 0.5
            var ended = Spawn.reapIfEnded(pid)
            while ended == nil, monotonicSeconds() < deadline {
                usleep(500)
                ended = Spawn.reapIfEnded(pid)
            }
            if let ended {
                exited = true
                status = Spawn.describe(status: ended)
                ending = status
            } else {
                status = "still running; killed"
                terminate()
            }
        }
        return LineWorkerError.crash("the worker died (\(what); \(status)); it will be restarted")
    }

    /// Closes the child's input, so that it sees the end of its requests and can exit on its own, without waiting
    /// for it to (`shutdown` then finds it gone sooner). Nothing can be written to it after this.
    public func closeInput() {
        guard !exited else { return }
        // Replacing stdin with /dev/null makes the child see EOF while our descriptor number stays owned.
        let devNull = open("/dev/null", O_RDONLY | O_CLOEXEC)
        if devNull >= 0 {
            dup2(devNull, stdinFD)
            close(devNull)
        }
    }

    /// Closes the child's input and gives it `grace` seconds to exit before killing it; waits without holding the
    /// loop.
    public func shutdown(grace: Double) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            loop.execute { [self] in
                guard !exited else { return continuation.resume() }
                closeInput()
                let deadline = monotonicSeconds() + grace
                // Most programs end within a few milliseconds of their input closing (an interpreter's teardown
                // takes 10–30 ms on a busy machine): look often, so that the run does not wait on the pause itself.
                func look(after pause: Double) {
                    if Spawn.reapIfEnded(pid) != nil {
                        exited = true
                        return continuation.resume()
                    }
                    guard monotonicSeconds() < deadline else {
                        terminate()
                        return continuation.resume()
                    }
                    _ = loop.schedule(at: monotonicSeconds() + pause) { look(after: min(pause * 2, 0.002)) }
                }
                look(after: 0.0002)
            }
        }
    }

    /// Kills the child with SIGKILL and reaps it; does nothing once it has been reaped.
    public func terminate() {
        guard !exited else { return }
        kill(pid, SIGKILL)
        exited = true
        _ = Spawn.reap(pid)
    }

    private static func forwardLines(from fd: Int32, to sink: @Sendable (String) -> Void) {
        var pending: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 8192)
        while true {
            let count = read(fd, &chunk, chunk.count)
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            pending.append(contentsOf: chunk[..<count])
            while let newline = pending.firstIndex(of: 0x0A) {
                sink(String(decoding: pending[..<newline].prefix(4096), as: UTF8.self))
                pending.removeSubrange(...newline)
            }
            if pending.count > 65536 {
                sink(String(decoding: pending.prefix(4096), as: UTF8.self) + "…")
                pending.removeAll()
            }
        }
        if !pending.isEmpty { sink(String(decoding: pending.prefix(4096), as: UTF8.self)) }
    }
}

/// Why a `LineWorker` gave no answer; each case carries what happened, ending with what becomes of the worker
/// ("no response in time; worker killed and restarted").
public enum LineWorkerError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The program could not be started, or a fresh worker exited without reading any of its first request: it
    /// dies at start-up, whatever it is asked.
    case cannotStart(String)
    /// The worker exited or closed a pipe (or the pipes could not be made).
    case crash(String)
    /// No whole line within the allowance; the worker was killed.
    case timeout(String)
    /// The answer grew past the byte cap; the worker was killed.
    case tooLarge(String)

    public var description: String {
        switch self {
        case .cannotStart(let message), .crash(let message), .timeout(let message), .tooLarge(let message): message
        }
    }
}
