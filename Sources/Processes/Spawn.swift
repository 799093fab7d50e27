import CProcessShim

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Starting child programs: the one place that calls `posix_spawnp` (no shell; Foundation's `Process` hung here).
public enum Spawn {
    /// Where one of the child's standard descriptors comes from or goes to.
    public enum Stream: Sendable, Equatable {
        /// The parent's own descriptor.
        case inherit
        /// `/dev/null`.
        case null
        /// The file at this path: read from as stdin; created (or truncated) and written to as stdout or stderr.
        case file(String)
        /// A descriptor of the parent (one end of a pipe), duplicated onto the child's.
        case descriptor(Int32)
    }

    /// Starts `argv` without a shell; `argv[0]` is searched on PATH when it has no slash.
    ///
    /// The parent ignores SIGPIPE (the CLI sets that at start-up); the child gets the default disposition back and
    /// an empty signal mask, so a Python plugin writing to a closed pipe dies as it would from a shell.
    /// - Parameters:
    ///   - directory: The child's working directory; nil keeps the parent's.
    ///   - newProcessGroup: Makes the child the leader of its own process group, so `kill(-pid, …)` reaches it and
    ///     everything it starts, and a terminal's Ctrl-C aimed at the parent does not.
    /// - Returns: The child's pid. The caller must reap it with `waitpid`.
    /// - Throws: `SpawnError` when the program cannot be started (not found, not executable, no such directory).
    public static func start(
        _ argv: [String], stdin: Stream = .inherit, stdout: Stream = .inherit, stderr: Stream = .inherit,
        directory: String? = nil, newProcessGroup: Bool = false
    ) throws(SpawnError) -> pid_t {
        precondition(!argv.isEmpty, "an empty argv names no program")
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for (descriptor, stream) in [(Int32(0), stdin), (1, stdout), (2, stderr)] {
            switch stream {
            case .inherit: break
            case .null:
                posix_spawn_file_actions_addopen(
                    &actions, descriptor, "/dev/null", descriptor == 0 ? O_RDONLY : O_WRONLY, 0)
            case .file(let path):
                let flags = descriptor == 0 ? O_RDONLY : O_WRONLY | O_CREAT | O_TRUNC
                posix_spawn_file_actions_addopen(&actions, descriptor, path, flags, 0o644)
            case .descriptor(let source):
                posix_spawn_file_actions_adddup2(&actions, source, descriptor)
            }
        }
        if let directory {
            let status = flywheel_spawn_addchdir(&actions, directory)
            guard status == 0 else {
                throw SpawnError(program: argv[0], code: status, what: "could not start `\(argv[0])` in \(directory)")
            }
        }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        // The CLI ignores SIGPIPE, and handles the termination signals itself (`ServerChildren`): a child starts with
        // the default actions for all of them.
        for signal in [SIGPIPE, SIGTERM, SIGINT, SIGHUP] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attributes, &mask)
        var flags = POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK
        if newProcessGroup {
            posix_spawnattr_setpgroup(&attributes, 0)
            flags |= POSIX_SPAWN_SETPGROUP
        }
        posix_spawnattr_setflags(&attributes, Int16(flags))

        let cArguments: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { for argument in cArguments { free(argument) } }
        var pid: pid_t = 0
        let status = posix_spawnp(&pid, argv[0], &actions, &attributes, cArguments, environ)
        guard status == 0 else {
            throw SpawnError(program: argv[0], code: status, what: "could not start `\(argv[0])`")
        }
        return pid
    }

    /// A pipe whose two descriptors are close-on-exec, so only the child they are handed to inherits them.
    /// - Returns: The descriptor to read from and the one to write to; the caller closes both.
    public static func pipe() throws(SpawnError) -> (read: Int32, write: Int32) {
        var descriptors: [Int32] = [-1, -1]
        guard flywheel_pipe_cloexec(&descriptors) == 0 else {
            throw SpawnError(program: "", code: errno, what: "could not create pipes")
        }
        return (descriptors[0], descriptors[1])
    }

    /// A `waitpid` status in words: `exit status 3`, `killed by signal 9`.
    static func describe(status: Int32) -> String {
        if let signal = signal(status: status) { return "killed by signal \(signal)" }
        return "exit status \(exitCode(status: status) ?? 0)"
    }

    /// The exit code of a `waitpid` status, nil when a signal ended the child.
    static func exitCode(status: Int32) -> Int32? {
        // WIFEXITED / WEXITSTATUS spelled out: the C macros are not imported into Swift.
        status & 0x7F == 0 ? (status >> 8) & 0xFF : nil
    }

    /// The signal that ended the child of a `waitpid` status, nil when it exited.
    static func signal(status: Int32) -> Int32? {
        status & 0x7F == 0 ? nil : status & 0x7F
    }

    /// Blocks until `pid` ends and returns its `waitpid` status, retrying on EINTR; nil when `waitpid` fails.
    static func reap(_ pid: pid_t) -> Int32? {
        var status: Int32 = 0
        var result: pid_t
        repeat { result = waitpid(pid, &status, 0) } while result < 0 && errno == EINTR
        return result == pid ? status : nil
    }

    /// The `waitpid` status of `pid` if it has ended (reaping it), else nil.
    static func reapIfEnded(_ pid: pid_t) -> Int32? {
        var status: Int32 = 0
        var result: pid_t
        repeat { result = waitpid(pid, &status, WNOHANG) } while result < 0 && errno == EINTR
        return result == pid ? status : nil
    }
}

/// A child program could not be started, or the pipes to talk to it could not be made.
public struct SpawnError: Error, Sendable, CustomStringConvertible {
    /// The program as given in `argv[0]`; empty when no program was involved yet.
    public var program: String
    /// The system's error number (an `errno` value).
    public var code: Int32
    /// What went wrong, with the system's reason: "could not start `python4`: No such file or directory".
    public var message: String

    init(program: String, code: Int32, what: String) {
        self.program = program
        self.code = code
        message = "\(what): \(String(cString: strerror(code)))"
    }

    public var description: String { message }
}
