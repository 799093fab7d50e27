#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// One long-lived child started from an argv list (no shell) with pipes on stdin, stdout and stderr.
/// Every call blocks: the pool drives it from its own dispatch queue, never from the cooperative thread pool.
final class ExternalProcess {
    let pid: pid_t
    private let stdinFD: Int32
    private let stdoutFD: Int32
    private var buffer: [UInt8] = []
    private var exited = false
    private var answered = false

    /// Starts `argv` in `directory`; the child's stderr lines go to `onStderr` from a background thread.
    init(argv: [String], directory: String?, onStderr: @escaping @Sendable (String) -> Void) throws(PluginFailure) {
        var input: [Int32] = [0, 0]
        var output: [Int32] = [0, 0]
        var errors: [Int32] = [0, 0]
        guard systemPipe2(&input, O_CLOEXEC) == 0, systemPipe2(&output, O_CLOEXEC) == 0,
            systemPipe2(&errors, O_CLOEXEC) == 0
        else {
            throw PluginFailure(.crash, "could not create pipes: \(String(cString: strerror(errno)))")
        }
        let started = Spawn.start(argv, directory: directory) { actions in
            posix_spawn_file_actions_adddup2(&actions, input[0], 0)
            posix_spawn_file_actions_adddup2(&actions, output[1], 1)
            posix_spawn_file_actions_adddup2(&actions, errors[1], 2)
        }
        close(input[0])
        close(output[1])
        close(errors[1])
        switch started {
        case .success(let child): pid = child
        case .failure(let error):
            close(input[1])
            close(output[0])
            close(errors[0])
            throw PluginFailure(.crash, error.message)
        }
        stdinFD = input[1]
        stdoutFD = output[0]
        let stderrFD = errors[0]
        Thread.detachNewThread {
            ExternalProcess.forwardLines(from: stderrFD, to: onStderr)
            close(stderrFD)
        }
    }

    deinit {
        terminate()
        close(stdinFD)
        close(stdoutFD)
    }

    /// Writes one line and waits up to `timeout` seconds for one line back.
    func exchange(_ line: Data, timeout: Double, startup: Double, maxBytes: Int) -> Result<Data, PluginFailure> {
        if exited { return .failure(PluginFailure(.crash, "the worker had exited")) }
        var payload = line
        payload.append(0x0A)
        let wrote = payload.withUnsafeBytes { raw -> Bool in
            var offset = 0
            while offset < raw.count {
                let count = write(stdinFD, raw.baseAddress! + offset, raw.count - offset)
                if count < 0 {
                    if errno == EINTR { continue }
                    return false
                }
                offset += count
            }
            return true
        }
        guard wrote else { return .failure(crashed("it closed its input")) }
        // A fresh worker's first answer also pays for its start-up (an interpreter, imports, a model load).
        let allowance = answered ? timeout : timeout + startup
        let result = readLine(deadline: monotonicNow() + allowance, maxBytes: maxBytes)
        answered = true
        return result
    }

    private func readLine(deadline: Double, maxBytes: Int) -> Result<Data, PluginFailure> {
        var scanned = 0
        while true {
            if let newline = buffer[scanned...].firstIndex(of: 0x0A) {
                let line = Data(buffer[..<newline])
                buffer.removeSubrange(...newline)
                return .success(line)
            }
            scanned = buffer.count
            if buffer.count > maxBytes {
                terminate()
                return .failure(PluginFailure(.tooLarge, "the response exceeded \(maxBytes) bytes; worker restarted"))
            }
            let remaining = deadline - monotonicNow()
            if remaining <= 0 {
                terminate()
                return .failure(PluginFailure(.timeout, "no response in time; worker killed and restarted"))
            }
            var poller = pollfd(fd: stdoutFD, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, Int32(min(remaining * 1000, 1000).rounded(.up)))
            if ready < 0 && errno != EINTR { return .failure(crashed("poll failed")) }
            if ready <= 0 { continue }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let count = read(stdoutFD, &chunk, chunk.count)
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { return .failure(crashed("it closed its output")) }
            buffer.append(contentsOf: chunk[..<count])
        }
    }

    private func crashed(_ what: String) -> PluginFailure {
        let status = reap(wait: true)
        return PluginFailure(.crash, "the worker died (\(what); \(status)); it will be restarted")
    }

    /// Closes the child's input and gives it `grace` seconds to exit before killing it.
    func shutdown(grace: Double) {
        guard !exited else { return }
        shutdownInput()
        let deadline = monotonicNow() + grace
        while monotonicNow() < deadline {
            if reapIfExited() { return }
            usleep(10_000)
        }
        terminate()
    }

    private func shutdownInput() {
        // Replacing stdin with /dev/null makes the child see EOF while our descriptor number stays owned.
        let devNull = open("/dev/null", O_RDONLY | O_CLOEXEC)
        if devNull >= 0 {
            dup2(devNull, stdinFD)
            close(devNull)
        }
    }

    func terminate() {
        guard !exited else { return }
        kill(pid, SIGKILL)
        _ = reap(wait: true)
    }

    private func reapIfExited() -> Bool {
        var status: Int32 = 0
        if waitpid(pid, &status, WNOHANG) == pid {
            exited = true
            return true
        }
        return false
    }

    private func reap(wait: Bool) -> String {
        guard !exited else { return "already reaped" }
        var status: Int32 = 0
        var result: pid_t
        repeat { result = waitpid(pid, &status, wait ? 0 : WNOHANG) } while result < 0 && errno == EINTR
        guard result == pid else { return "still running" }
        exited = true
        return Spawn.describe(status: status)
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

func monotonicNow() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}
