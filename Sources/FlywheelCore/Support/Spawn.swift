#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Glibc's module does not export these GNU additions; they are plain C functions with pointer arguments.
@_silgen_name("pipe2")
func systemPipe2(_ descriptors: UnsafeMutablePointer<Int32>, _ flags: Int32) -> Int32
@_silgen_name("posix_spawn_file_actions_addchdir_np")
private func systemAddChdir(
    _ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ path: UnsafePointer<CChar>
) -> Int32

/// Starting child programs: the one place that calls `posix_spawnp` (no shell; Foundation's `Process` hung here).
enum Spawn {
    /// Starts `argv` in `directory` with the file actions `configure` adds (redirections of 0, 1 and 2).
    /// The parent ignores SIGPIPE; the child gets the default dispositions and an empty signal mask back.
    /// - Returns: the child's pid, or the `posix_spawnp` error number.
    static func start(
        _ argv: [String], directory: String?, configure: (inout posix_spawn_file_actions_t) -> Void
    ) -> Result<pid_t, SpawnError> {
        precondition(!argv.isEmpty)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        configure(&actions)
        if let directory { _ = systemAddChdir(&actions, directory) }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGPIPE)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attributes, &mask)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        let cArguments: [UnsafeMutablePointer<CChar>?] = argv.map { text in text.withCString { strdup($0) } } + [nil]
        defer { cArguments.forEach { free($0) } }
        var pid: pid_t = 0
        let status = posix_spawnp(&pid, argv[0], &actions, &attributes, cArguments, environ)
        guard status == 0 else {
            return .failure(SpawnError(message: "could not start `\(argv[0])`: \(String(cString: strerror(status)))"))
        }
        return .success(pid)
    }

    struct SpawnError: Error {
        var message: String
    }

    /// A `waitpid` status in words: `exit status 3`, `killed by signal 9`.
    static func describe(status: Int32) -> String {
        let signal = status & 0x7F
        return signal == 0 ? "exit status \((status >> 8) & 0xFF)" : "killed by signal \(signal)"
    }

    /// The exit code of a `waitpid` status, nil when a signal ended the child.
    static func exitCode(status: Int32) -> Int32? {
        status & 0x7F == 0 ? (status >> 8) & 0xFF : nil
    }
}
