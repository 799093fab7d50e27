import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

// Glibc's module does not export this GNU addition; it is a plain C function.
@_silgen_name("posix_spawn_file_actions_addchdir_np")
private func systemAddChdir(
    _ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ path: UnsafePointer<CChar>
) -> Int32

/// How a child process ended, with everything it wrote.
struct Outcome: CustomStringConvertible, Sendable {
    var argv: [String]
    /// The exit status, or nil when a signal ended the process.
    var exitCode: Int32?
    /// The signal that ended the process, if one did.
    var signal: Int32?
    var stdout: String
    var stderr: String
    var seconds: Double
    /// The watchdog killed it.
    var timedOut: Bool

    var killedBySIGKILL: Bool { signal == SIGKILL }

    var description: String {
        let how =
            if timedOut { "timed out after \(Int(seconds)) s" } else if let exitCode { "exited \(exitCode)" } else {
                "killed by signal \(signal ?? 0)"
            }
        return "`\(argv.joined(separator: " "))` \(how)\n--- stdout (tail):\n\(stdout.suffix(1500))"
            + "\n--- stderr (tail):\n\(stderr.suffix(3000))"
    }
}

/// A child started with posix_spawn (not Foundation.Process, which hangs intermittently on Linux), its stdout and
/// stderr redirected to files, in its own process group so a watchdog can kill it with every plugin it started.
final class ChildProcess: Sendable {
    let argv: [String]
    let pid: pid_t
    private let stdoutPath: String
    private let stderrPath: String
    private let started: Double
    private let state = Mutex<Outcome?>(nil)

    /// Starts `argv` (searched on PATH when it has no slash) in `directory`.
    init(_ argv: [String], in directory: String) throws {
        precondition(!argv.isEmpty)
        self.argv = argv
        let token = UUID().uuidString
        stdoutPath = directory + "/.child-\(token).out"
        stderrPath = directory + "/.child-\(token).err"

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdoutPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        _ = systemAddChdir(&actions, directory)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setpgroup(&attributes, 0)
        // The test runner may ignore SIGPIPE; the child gets default dispositions and an empty mask.
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGPIPE)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attributes, &mask)
        posix_spawnattr_setflags(
            &attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        let cArguments = argv.map { strdup($0) } + [nil]
        defer { for argument in cArguments { free(argument) } }
        var child: pid_t = 0
        let status = posix_spawnp(&child, argv[0], &actions, &attributes, cArguments, environ)
        guard status == 0 else {
            throw SpawnError(message: "cannot start `\(argv[0])`: \(String(cString: strerror(status)))")
        }
        pid = child
        started = Self.now()
    }

    struct SpawnError: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }

    /// The outcome if the child has ended (reaping it), else nil.
    func poll() -> Outcome? {
        state.withLock { outcome in
            if let outcome { return outcome }
            var status: Int32 = 0
            var result: pid_t
            repeat { result = waitpid(pid, &status, WNOHANG) } while result < 0 && errno == EINTR
            guard result == pid else { return nil }
            outcome = finished(status: status, timedOut: false)
            return outcome
        }
    }

    /// Sends SIGKILL to the child alone (its plugins see their input close and exit), as `kill -9 PID` would.
    func kill() {
        if state.withLock({ $0 == nil }) { _ = Glibc.kill(pid, SIGKILL) }
    }

    /// Waits for the child to end; after `timeout` kills its whole process group and reports `timedOut`.
    func wait(timeout: Duration = .seconds(120)) async -> Outcome {
        let deadline = Self.now() + Self.seconds(timeout)
        while Self.now() < deadline {
            if let outcome = poll() { return outcome }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return poll() ?? killGroup(timedOut: true)
    }

    /// Waits for the child to end, or SIGKILLs it (alone) as soon as `condition` holds, checked every `interval`.
    func wait(
        timeout: Duration = .seconds(120), interval: Duration = .milliseconds(20),
        killWhen condition: () async throws -> Bool
    ) async rethrows -> Outcome {
        if try await waitUntil(timeout: timeout, interval: interval, condition) {
            kill()
            return await wait(timeout: .seconds(30))
        }
        return poll() ?? killGroup(timedOut: true)
    }

    /// Waits until `condition` holds while the child still runs (true), or the child ends or `timeout` passes first
    /// (false; the child is left running on a timeout).
    func waitUntil(
        timeout: Duration = .seconds(120), interval: Duration = .milliseconds(20),
        _ condition: () async throws -> Bool
    ) async rethrows -> Bool {
        let deadline = Self.now() + Self.seconds(timeout)
        while poll() == nil, Self.now() < deadline {
            if try await condition() { return poll() == nil }
            try? await Task.sleep(for: interval)
        }
        return false
    }

    /// Kills the child and every process of its group, and reaps it; for watchdogs and cleanup.
    @discardableResult
    func killGroup(timedOut: Bool = false) -> Outcome {
        state.withLock { outcome in
            if let outcome { return outcome }
            _ = Glibc.kill(-pid, SIGKILL)
            var status: Int32 = 0
            var result: pid_t
            repeat { result = waitpid(pid, &status, 0) } while result < 0 && errno == EINTR
            outcome = finished(status: status, timedOut: timedOut)
            return outcome!
        }
    }

    private func finished(status: Int32, timedOut: Bool) -> Outcome {
        let signal = status & 0x7F
        let outcome = Outcome(
            argv: argv, exitCode: signal == 0 ? (status >> 8) & 0xFF : nil, signal: signal == 0 ? nil : signal,
            stdout: Self.read(stdoutPath), stderr: Self.read(stderrPath), seconds: Self.now() - started,
            timedOut: timedOut)
        unlink(stdoutPath)
        unlink(stderrPath)
        return outcome
    }

    private static func read(_ path: String) -> String {
        FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) } ?? ""
    }

    static func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }

    static func seconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
