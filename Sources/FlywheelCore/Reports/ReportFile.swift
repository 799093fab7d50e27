import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A report, export or metrics file, written whole or not at all: bytes go to a temporary file beside the target,
/// which is flushed to disk and renamed over the target only by ``commit()``. A reader never sees half a file.
public final class ReportFile {
    public let path: String
    let temporaryPath: String
    private var descriptor: Int32

    /// Creates the temporary file next to `path`.
    /// - Throws: `FlywheelError(.usage)` when the folder does not exist or cannot be written.
    public init(path: String) throws {
        self.path = path
        let url = URL(fileURLWithPath: path)
        temporaryPath =
            url.deletingLastPathComponent().appendingPathComponent(
                ".\(url.lastPathComponent).tmp-\(getpid())-\(UUID().uuidString.prefix(8))"
            ).path
        descriptor = open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw FlywheelError(
                .usage, "cannot write \(path): \(String(cString: strerror(errno))); check that its folder exists")
        }
    }

    deinit {
        if descriptor >= 0 {
            close(descriptor)
            unlink(temporaryPath)
        }
    }

    public func write(_ data: Data) throws {
        try data.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = systemWrite(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    throw FlywheelError(.runFailed, "cannot write \(path): \(String(cString: strerror(errno)))")
                }
                offset += written
            }
        }
    }

    /// Flushes the bytes to disk, renames the temporary file over `path` and flushes the folder, so that the rename
    /// too survives a crash.
    public func commit() throws {
        guard descriptor >= 0 else { return }
        let synced = fsync(descriptor) == 0
        close(descriptor)
        descriptor = -1
        guard synced, rename(temporaryPath, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporaryPath)
            throw FlywheelError(.runFailed, "cannot write \(path): \(reason)")
        }
        // A failure here loses nothing readable: the file is whole under one name or the other.
        let folder = open(URL(fileURLWithPath: path).deletingLastPathComponent().path, O_RDONLY | O_DIRECTORY)
        if folder >= 0 {
            fsync(folder)
            close(folder)
        }
    }

    /// Writes `data` to `path` atomically.
    public static func write(_ data: Data, to path: String) throws {
        let file = try ReportFile(path: path)
        try file.write(data)
        try file.commit()
    }
}

private func systemWrite(_ descriptor: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
    #if canImport(Glibc)
        Glibc.write(descriptor, bytes, count)
    #else
        Darwin.write(descriptor, bytes, count)
    #endif
}
