#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// An exclusive lock on a store, held by the one run that may write it. The kernel drops it when the process
/// dies, even by SIGKILL, so a crashed run never blocks the next one.
///
/// The lock is `<the store's real path>.lock`: symlinks and `..` are resolved first, as SQLite resolves them to
/// name the store's `-wal` and `-shm` files, so every path that reaches the same file takes the same lock. A store
/// with several hard links is refused outright: SQLite would give each name its own WAL, and a run through one name
/// could not see, or would overwrite, what a run through another left in it.
public final class StoreLock: Sendable {
    private let descriptor: Int32
    /// The resolved path of the store the lock is for.
    public let storePath: String

    /// Takes the lock at once or throws.
    /// - Throws: `FlywheelError(.storeBusy)` when another run holds the store under any of its paths;
    ///   `FlywheelError(.runFailed)` when the store's folder cannot be created or written, or the store has
    ///   several hard links.
    public init(storePath given: String) throws {
        try Store.prepareFolder(for: given)
        let storePath = try Self.resolve(given)
        let path = storePath + ".lock"
        // O_CLOEXEC: a plugin child must not inherit the lock and outlive us holding it.
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw FlywheelError(.runFailed, "cannot open the lock file \(path): \(String(cString: strerror(errno)))")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            close(descriptor)
            let via = storePath == given ? "" : " (the file \(storePath))"
            throw FlywheelError(
                .storeBusy,
                "another flywheel run holds \(given)\(via) (lock \(path)); retry when it has finished")
        }
        var info = stat()
        if stat(storePath, &info) == 0, info.st_nlink > 1 {
            close(descriptor)
            throw FlywheelError(
                .runFailed,
                "\(given) has \(info.st_nlink) names (hard links); SQLite keeps a store's WAL under one name, so "
                    + "a run cannot safely write a store that has several: remove the other links (`find / -samefile "
                    + "\(storePath)`) or copy the store")
        }
        self.descriptor = descriptor
        self.storePath = storePath
        let pid = "\(getpid())\n"
        _ = ftruncate(descriptor, 0)
        _ = pid.withCString { write(descriptor, $0, strlen($0)) }
    }

    deinit {
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }

    /// `path` with every symlink and `.`/`..` resolved, also when the file itself does not exist yet (its folder
    /// does) or is a symlink to a file that does not exist yet: the file SQLite will open.
    static func resolve(_ path: String) throws -> String {
        var path = URL(fileURLWithPath: path).standardizedFileURL.path
        for _ in 0..<40 {
            if let resolved = realpath(path, nil) {
                defer { free(resolved) }
                return String(cString: resolved)
            }
            let url = URL(fileURLWithPath: path)
            let folder = url.deletingLastPathComponent().path
            guard let realFolder = realpath(folder, nil) else {
                throw FlywheelError(
                    .runFailed, "cannot resolve the store's folder \(folder): \(String(cString: strerror(errno)))")
            }
            let candidate = URL(fileURLWithPath: String(cString: realFolder))
                .appendingPathComponent(url.lastPathComponent).path
            free(realFolder)
            // A dangling symlink: follow it to where SQLite will create the file.
            guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: candidate) else {
                return candidate
            }
            path = URL(fileURLWithPath: target, relativeTo: URL(fileURLWithPath: folder, isDirectory: true))
                .standardizedFileURL.path
        }
        throw FlywheelError(.runFailed, "cannot resolve \(path): too many levels of symbolic links")
    }
}
