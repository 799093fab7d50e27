#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// An exclusive lock on a store, held by the one run that may write it. The kernel drops it when the process
/// dies, even by SIGKILL, so a crashed run never blocks the next one.
public final class StoreLock: Sendable {
    private let descriptor: Int32

    /// Takes the lock at once or throws.
    /// - Throws: `FlywheelError(.storeBusy)` when another run holds the store; `FlywheelError(.runFailed)` when the
    ///   store's folder cannot be created or written.
    public init(storePath: String) throws {
        try Store.prepareFolder(for: storePath)
        let path = storePath + ".lock"
        // O_CLOEXEC: a plugin child must not inherit the lock and outlive us holding it.
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw FlywheelError(.runFailed, "cannot open the lock file \(path): \(String(cString: strerror(errno)))")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            close(descriptor)
            throw FlywheelError(
                .storeBusy, "another flywheel run holds \(storePath) (lock \(path)); retry when it has finished")
        }
        self.descriptor = descriptor
        let pid = "\(getpid())\n"
        _ = ftruncate(descriptor, 0)
        _ = pid.withCString { write(descriptor, $0, strlen($0)) }
    }

    deinit {
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}
