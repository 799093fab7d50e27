import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A child run to completion, its stdout and stderr captured in files (no pipes to deadlock on), with a watchdog.
///
/// Started with `posix_spawnp`, not Foundation's `Process`, which hangs intermittently on Linux. A non-zero exit
/// code is a normal outcome, not a thrown error; only a child that cannot be started throws.
public final class ChildProcess: Sendable {
    public let argv: [String]
    public let pid: pid_t
    /// The file capturing the child's stdout: readable while it runs, deleted once the outcome has been read.
    public let stdoutPath: String
    /// The file capturing the child's stderr: readable while it runs, deleted once the outcome has been read.
    public let stderrPath: String
    private let leadsGroup: Bool
    private let started: Double
    private let state = Mutex<Outcome?>(nil)

    /// Starts `argv` (searched on PATH when `argv[0]` has no slash) without a shell.
    /// - Parameters:
    ///   - directory: The child's working directory; nil keeps the parent's.
    ///   - input: A file the child reads as stdin; nil gives it `/dev/null`.
    ///   - captureDirectory: Where the stdout and stderr files go; nil puts them in `directory`, or in the
    ///     temporary folder when that is nil too.
    ///   - newProcessGroup: Makes the child the leader of its own process group, so `killGroup()` also kills
    ///     whatever it started.
    /// - Throws: `SpawnError` when the program cannot be started.
    public init(
        _ argv: [String], in directory: String? = nil, input: String? = nil, captureDirectory: String? = nil,
        newProcessGroup: Bool = false
    ) throws(SpawnError) {
        self.argv = argv
        let folder = captureDirectory ?? directory ?? FileManager.default.temporaryDirectory.path
        let token = UUID().uuidString
        stdoutPath = folder + "/.child-\(token).out"
        stderrPath = folder + "/.child-\(token).err"
        leadsGroup = newProcessGroup
        pid = try Spawn.start(
            argv, stdin: input.map(Spawn.Stream.file) ?? .null, stdout: .file(stdoutPath), stderr: .file(stderrPath),
            directory: directory, newProcessGroup: newProcessGroup)
        started = monotonicSeconds()
    }

    /// How a child process ended, with everything it wrote.
    public struct Outcome: CustomStringConvertible, Sendable {
        public var argv: [String]
        /// The exit code, or nil when a signal ended the process.
        public var exitCode: Int32?
        /// The signal that ended the process, if one did.
        public var signal: Int32?
        public var stdout: String
        public var stderr: String
        /// Seconds from the start to the moment the end was seen (polling adds up to a few milliseconds).
        public var seconds: Double
        /// The watchdog of `wait(timeout:)` killed it.
        public var timedOut: Bool

        /// Whether SIGKILL ended it: `kill()`, a watchdog, or `kill -9` from outside.
        public var killedBySIGKILL: Bool { signal == SIGKILL }

        /// How it ended, as `waitpid` tells it: `exit status 3`, `killed by signal 9`.
        public var statusDescription: String {
            if let signal { return "killed by signal \(signal)" }
            return "exit status \(exitCode ?? 0)"
        }

        public var description: String {
            let how =
                if timedOut {
                    "timed out after \(Int(seconds)) s"
                } else if let exitCode {
                    "exited \(exitCode)"
                } else {
                    "killed by signal \(signal ?? 0)"
                }
            return "`\(argv.joined(separator: " "))` \(how)\n--- stdout (tail):\n\(stdout.suffix(1500))"
                + "\n--- stderr (tail):\n\(stderr.suffix(3000))"
        }
    }

    /// The outcome if the child has ended (reaping it), else nil.
    public func poll() -> Outcome? {
        state.withLock { outcome in
            if let outcome { return outcome }
            guard let status = Spawn.reapIfEnded(pid) else { return nil }
            outcome = finished(status: status, timedOut: false)
            return outcome
        }
    }

    /// Sends SIGKILL to the child alone, as `kill -9 PID` would; anything it started sees its pipes close.
    public func kill() {
        state.withLock { outcome in
            // While the lock is held the child cannot be reaped, so its pid cannot have been reused.
            if outcome == nil { _ = sendSignal(pid, SIGKILL) }
        }
    }

    /// Waits for the child to end; after `timeout` (or when the waiting task is cancelled) kills it with
    /// `killGroup`, and a timeout is reported as `timedOut`.
    public func wait(timeout: Duration = .seconds(120)) async -> Outcome {
        let deadline = monotonicSeconds() + Self.seconds(timeout)
        while monotonicSeconds() < deadline, !Task.isCancelled {
            if let outcome = poll() { return outcome }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return poll() ?? killGroup(timedOut: !Task.isCancelled)
    }

    /// Waits for the child to end, or SIGKILLs it (alone) as soon as `condition` holds, checked every `interval`;
    /// after `timeout` (or on cancellation) kills it with `killGroup`, as `wait(timeout:)` does.
    public func wait(
        timeout: Duration = .seconds(120), interval: Duration = .milliseconds(20),
        killWhen condition: () async throws -> Bool
    ) async rethrows -> Outcome {
        if try await waitUntil(timeout: timeout, interval: interval, condition) {
            kill()
            return await wait(timeout: .seconds(30))
        }
        return poll() ?? killGroup(timedOut: !Task.isCancelled)
    }

    /// Waits until `condition` holds while the child still runs (true), or until the child ends or `timeout`
    /// passes (false; the child is left running on a timeout).
    public func waitUntil(
        timeout: Duration = .seconds(120), interval: Duration = .milliseconds(20),
        _ condition: () async throws -> Bool
    ) async rethrows -> Bool {
        let deadline = monotonicSeconds() + Self.seconds(timeout)
        while poll() == nil, monotonicSeconds() < deadline, !Task.isCancelled {
            if try await condition() { return poll() == nil }
            try? await Task.sleep(for: interval)
        }
        return false
    }

    /// Kills the child with SIGKILL, with its whole process group when it leads one, and reaps it; for watchdogs
    /// and cleanup. Returns the outcome unchanged if the child had already ended.
    @discardableResult
    public func killGroup(timedOut: Bool = false) -> Outcome {
        state.withLock { outcome in
            if let outcome { return outcome }
            _ = sendSignal(leadsGroup ? -pid : pid, SIGKILL)
            // A failed waitpid (the child reaped elsewhere) reads as exit status 0.
            outcome = finished(status: Spawn.reap(pid) ?? 0, timedOut: timedOut)
            return outcome!
        }
    }

    private func finished(status: Int32, timedOut: Bool) -> Outcome {
        let outcome = Outcome(
            argv: argv, exitCode: Spawn.exitCode(status: status), signal: Spawn.signal(status: status),
            stdout: Self.read(stdoutPath), stderr: Self.read(stderrPath), seconds: monotonicSeconds() - started,
            timedOut: timedOut)
        unlink(stdoutPath)
        unlink(stderrPath)
        return outcome
    }

    private static func read(_ path: String) -> String {
        FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) } ?? ""
    }

    private static func seconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}

/// `kill(2)`, out of the reach of `ChildProcess.kill()`'s name.
private func sendSignal(_ pid: pid_t, _ signal: Int32) -> Int32 {
    kill(pid, signal)
}
