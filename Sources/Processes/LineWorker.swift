import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One long-lived child that answers each line written to its stdin with one line on its stdout.
///
/// Started from an argv list (no shell) with close-on-exec pipes on stdin, stdout and stderr. Every call blocks:
/// drive each worker from one serial dispatch queue, never from the cooperative thread pool. After a failure the
/// stream can no longer be trusted; drop the worker (its `deinit` kills and reaps the child) and start another.
public final class LineWorker {
    public let pid: pid_t
    private let stdinFD: Int32
    private let stdoutFD: Int32
    private var buffer: [UInt8] = []
    /// What each read of stdout lands in, allocated once per worker.
    private var chunk = [UInt8](repeating: 0, count: 65536)
    private var exited = false
    private var answered = false
    /// How the child ended, once `crashed` has reaped it: `exit status 3`.
    private var ending: String?
    /// Signalled when the child's stderr has been forwarded to the end.
    private let stderrDrained = DispatchSemaphore(value: 0)

    /// Starts `argv` in `directory` (nil: the current one).
    /// - Parameter onStderr: Receives each line the child writes on stderr (at most 4096 bytes of it), from a
    ///   background thread, until the child closes its stderr.
    /// - Throws: `LineWorkerError.crash` when the pipes cannot be made, `LineWorkerError.cannotStart` when the
    ///   program cannot be started (not found, not executable).
    public init(argv: [String], directory: String?, onStderr: @escaping @Sendable (String) -> Void)
        throws(LineWorkerError)
    {
        _ = Self.pipeSignalIgnored
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
        terminate()
        close(stdinFD)
        close(stdoutFD)
    }

    /// Whether the worker has answered a request (so it has started).
    public var hasAnswered: Bool { answered }

    /// Writes `line` and a newline, without waiting for an answer: a request written ahead, whose `exchange` follows
    /// with `alreadySent`. False when the worker can no longer be written to.
    public func send(_ line: Data) -> Bool {
        writeLine(line).complete
    }

    /// Writes `line` and a newline (unless `alreadySent`), then waits for one line back (without its newline).
    /// - Parameters:
    ///   - timeout: Seconds the answer may take, from when this call starts waiting for it.
    ///   - startup: Seconds added to `timeout` for the worker's first answer only, to pay for its start-up.
    ///   - maxBytes: The longest answer accepted, newline not counted; a longer one kills the worker, and no more
    ///     than `maxBytes + 1` bytes of it are ever held.
    ///   - sent: Called once the line is written, before waiting (to write the next request ahead).
    /// - Returns: The answer, or why there is none: `timeout` and `tooLarge` kill the child, `crash` reaps it.
    ///   A fresh worker that exits without having read any of its first request is `cannotStart`: it failed at
    ///   start-up, whatever it was asked.
    public func exchange(
        _ line: Data, alreadySent: Bool = false, timeout: Double, startup: Double, maxBytes: Int,
        sent: () -> Void = {}
    ) -> Result<Data, LineWorkerError> {
        if exited { return .failure(LineWorkerError.crash("the worker had exited")) }
        let (written, complete) = alreadySent ? (0, true) : writeLine(line)
        let result: Result<Data, LineWorkerError>
        if complete {
            sent()
            // A fresh worker's first answer also pays for its start-up (an interpreter, imports, a model load).
            let allowance = answered ? timeout : timeout + startup
            result = readLine(deadline: monotonicSeconds() + allowance, maxBytes: maxBytes)
        } else {
            result = .failure(crashed("it closed its input"))
        }
        // Only an exit counts: a silent worker may just be slow to start on a loaded machine, and stays a timeout.
        if case .failure(.crash) = result, !answered, let unread = unreadInput(), unread == written {
            return .failure(
                .cannotStart("it exited before reading its first request (\(ending ?? "status unknown"))"))
        }
        answered = true
        return result
    }

    /// Writes `line` and a newline: the bytes written, and whether that was all of them (false when the child
    /// closed its input).
    private func writeLine(_ line: Data) -> (written: Int, complete: Bool) {
        if exited { return (0, false) }
        var payload = line
        payload.append(0x0A)
        return payload.withUnsafeBytes { raw in
            var written = 0
            while written < raw.count {
                let count = write(stdinFD, raw.baseAddress! + written, raw.count - written)
                if count < 0 {
                    if errno == EINTR { continue }
                    return (written, false)
                }
                written += count
            }
            return (written, true)
        }
    }

    /// Bytes written to the child's stdin that it has not read; nil when the system cannot tell.
    private func unreadInput() -> Int? {
        var count: Int32 = 0
        // FIONREAD on the write end of a pipe counts what is queued in it on Linux; elsewhere it may fail.
        guard ioctl(stdinFD, UInt(FIONREAD), &count) == 0 else { return nil }
        return Int(count)
    }

    /// Reads up to the next newline. A line over `maxBytes` fails as soon as byte `maxBytes + 1` arrives, whether
    /// or not its newline came in the same read: reads never ask for more than that, so nothing past the cap is held.
    private func readLine(deadline: Double, maxBytes: Int) -> Result<Data, LineWorkerError> {
        var scanned = 0
        while true {
            if let newline = buffer[scanned...].firstIndex(of: 0x0A) {
                guard newline <= maxBytes else { return tooLarge(maxBytes) }
                let line = Data(buffer[..<newline])
                buffer.removeSubrange(...newline)
                return .success(line)
            }
            scanned = buffer.count
            if buffer.count > maxBytes { return tooLarge(maxBytes) }
            let remaining = deadline - monotonicSeconds()
            if remaining <= 0 {
                terminate()
                return .failure(LineWorkerError.timeout("no response in time; worker killed and restarted"))
            }
            var poller = pollfd(fd: stdoutFD, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, Int32(min(remaining * 1000, 1000).rounded(.up)))
            if ready < 0 && errno != EINTR { return .failure(crashed("poll failed")) }
            if ready <= 0 { continue }
            // At most one byte past the cap: enough to know the line is too long.
            let wanted = min(chunk.count, maxBytes + 1 - buffer.count)
            let count = chunk.withUnsafeMutableBytes { read(stdoutFD, $0.baseAddress, wanted) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { return .failure(crashed("it closed its output")) }
            buffer.append(contentsOf: chunk[..<count])
        }
    }

    private func tooLarge(_ maxBytes: Int) -> Result<Data, LineWorkerError> {
        terminate()
        buffer.removeAll()
        return .failure(LineWorkerError.tooLarge("the response exceeded \(maxBytes) bytes; worker restarted"))
    }

    /// Waits up to `timeout` seconds for the child's stderr to be forwarded to its end (it ends when the child and
    /// anything it started have closed it): after a failure, so that its last lines are in before they are shown.
    public func waitForStderr(timeout: Double) {
        if stderrDrained.wait(timeout: .now() + timeout) == .success { stderrDrained.signal() }
    }

    private func crashed(_ what: String) -> LineWorkerError {
        let status: String
        if exited {
            status = "already reaped"
        } else if let ended = Spawn.reap(pid) {
            exited = true
            status = Spawn.describe(status: ended)
            ending = status
        } else {
            status = "still running"
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

    /// Closes the child's input and gives it `grace` seconds to exit before killing it.
    public func shutdown(grace: Double) {
        guard !exited else { return }
        closeInput()
        let deadline = monotonicSeconds() + grace
        // Most programs end within a few milliseconds of their input closing (an interpreter's teardown takes
        // 10–30 ms on a busy machine): look often, so that the run does not wait on the pause itself.
        var pause: useconds_t = 200
        while monotonicSeconds() < deadline {
            if Spawn.reapIfEnded(pid) != nil {
                exited = true
                return
            }
            usleep(pause)
            pause = min(pause * 2, 2_000)
        }
        terminate()
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
