import CZstd
import Foundation

/// Every `ZSTD_*` and `ZDICT_*` call of the project lives in this file.
public enum Zstd {
    public static let frameMagic: [UInt8] = [0x28, 0xB5, 0x2F, 0xFD]
    public static var versionNumber: Int { Int(ZSTD_versionNumber()) }
    /// The level frames are written at unless a caller asks for another; a prepared dictionary is digested at it.
    /// 3, zstd's own default: on the store's small frames (a task, an example against its task) level 6 wrote a
    /// slightly larger store after the listfn demo (668,672 against 663,552 bytes) for ~8 % more CPU per round.
    public static let defaultLevel: Int32 = 3

    /// A dictionary digested once for compression and once for decompression, shared by every frame that uses it.
    /// Preparing one costs far more than a small frame: keep it for as long as the dictionary is in use.
    public final class Dictionary: @unchecked Sendable {
        // Safe to share: zstd never writes to a CDict or DDict after creating it, and any number of contexts may
        // reference one at the same time.
        private let compression: OpaquePointer
        private let decompression: OpaquePointer
        public let bytes: Data

        /// - Throws: `FlywheelError(.corruptStore)` when zstd cannot digest the bytes.
        public init(_ bytes: Data, level: Int32 = Zstd.defaultLevel) throws {
            let digested = bytes.withUnsafeBytes { raw in
                (ZSTD_createCDict(raw.baseAddress, raw.count, level), ZSTD_createDDict(raw.baseAddress, raw.count))
            }
            guard let compression = digested.0, let decompression = digested.1 else {
                ZSTD_freeCDict(digested.0)
                ZSTD_freeDDict(digested.1)
                throw failure("could not digest a dictionary of \(bytes.count) bytes")
            }
            self.compression = compression
            self.decompression = decompression
            self.bytes = bytes
        }

        deinit {
            ZSTD_freeCDict(compression)
            ZSTD_freeDDict(decompression)
        }

        fileprivate func reference(_ context: OpaquePointer) throws {
            try check(ZSTD_CCtx_refCDict(context, compression), "use the dictionary")
        }

        fileprivate func reference(decompression context: OpaquePointer) throws {
            try check(ZSTD_DCtx_refDDict(context, decompression), "use the dictionary")
        }
    }

    /// A zstd frame with the content size and the content checksum on, using `dictionary` when given.
    public static func compress(_ input: Data, level: Int32 = defaultLevel, dictionary: Data? = nil) throws -> Data {
        try compress(input, level: level, dictionary: dictionary.map { try Dictionary($0, level: level) })
    }

    /// A zstd frame with the content size and the content checksum on.
    /// - Parameters:
    ///   - level: ignored with a dictionary, which was digested at its own level.
    ///   - namesDictionary: whether the frame carries the dictionary's ID (4 bytes); leave it out only when the row
    ///     that holds the frame names its dictionary.
    public static func compress(
        _ input: Data, level: Int32 = defaultLevel, dictionary: Dictionary?, namesDictionary: Bool = true
    ) throws -> Data {
        try compressionContexts.using { context in
            try check(ZSTD_CCtx_reset(context, ZSTD_reset_session_and_parameters), "reset a context")
            try check(ZSTD_CCtx_setParameter(context, ZSTD_c_checksumFlag, 1), "turn the checksum on")
            if let dictionary {
                try dictionary.reference(context)
                try check(ZSTD_CCtx_setParameter(context, ZSTD_c_dictIDFlag, namesDictionary ? 1 : 0), "set dictID")
            } else {
                try check(ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, level), "set the level")
            }
            var output = Data(count: ZSTD_compressBound(input.count))
            let written = try output.withUnsafeMutableBytes { out in
                try input.withUnsafeBytes { inp in
                    try check(
                        ZSTD_compress2(context, out.baseAddress, out.count, inp.baseAddress, inp.count), "compress")
                }
            }
            output.count = written
            return output
        }
    }

    /// A zstd frame with the content size and the content checksum on, compressed against `prefix`: raw content
    /// the reader must pass again, byte for byte, to `decompress(_:prefix:)`. For a record that mostly repeats
    /// another the store already keeps.
    public static func compress(_ input: Data, prefix: Data, level: Int32 = defaultLevel) throws -> Data {
        try compressionContexts.using { context in
            try check(ZSTD_CCtx_reset(context, ZSTD_reset_session_and_parameters), "reset a context")
            try check(ZSTD_CCtx_setParameter(context, ZSTD_c_checksumFlag, 1), "turn the checksum on")
            try check(ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, level), "set the level")
            var output = Data(count: ZSTD_compressBound(input.count))
            let written = try output.withUnsafeMutableBytes { out in
                try input.withUnsafeBytes { inp in
                    try prefix.withUnsafeBytes { prefix in
                        // A prefix serves the next frame only, and must stay in place until it is written.
                        try check(ZSTD_CCtx_refPrefix(context, prefix.baseAddress, prefix.count), "use the prefix")
                        return try check(
                            ZSTD_compress2(context, out.baseAddress, out.count, inp.baseAddress, inp.count),
                            "compress")
                    }
                }
            }
            output.count = written
            return output
        }
    }

    /// Decompresses one frame compressed against `prefix` and verifies its checksum.
    public static func decompress(_ frame: Data, prefix: Data) throws -> Data {
        try decompress(frame) { context, decompress in
            try prefix.withUnsafeBytes { prefix in
                try check(ZSTD_DCtx_refPrefix(context, prefix.baseAddress, prefix.count), "use the prefix")
                return try decompress()
            }
        }
    }

    /// Decompresses one frame and verifies its checksum; throws if the frame is damaged or needs another dictionary.
    public static func decompress(_ frame: Data, dictionary: Data?) throws -> Data {
        try decompress(frame, dictionary: dictionary.map { try Dictionary($0) })
    }

    /// Decompresses one frame and verifies its checksum; throws if the frame is damaged or needs another dictionary.
    public static func decompress(_ frame: Data, dictionary: Dictionary? = nil) throws -> Data {
        try decompress(frame) { context, decompress in
            try dictionary?.reference(decompression: context)
            return try decompress()
        }
    }

    /// Decompresses one frame in a pooled context that `prepare` sets up (dictionary or prefix) before it calls the
    /// decompression it is given.
    private static func decompress(
        _ frame: Data, prepare: (OpaquePointer, () throws -> Data) throws -> Data
    ) throws -> Data {
        let declared = frame.withUnsafeBytes { ZSTD_getFrameContentSize($0.baseAddress, $0.count) }
        // ZSTD_CONTENTSIZE_UNKNOWN and ZSTD_CONTENTSIZE_ERROR are the two top values.
        guard declared < UInt64.max - 1 else { throw failure("the frame is not a zstd frame with a known size") }
        guard declared <= 1 << 30 else { throw failure("the frame declares \(declared) bytes, over the 1 GiB limit") }
        return try decompressionContexts.using { context in
            try check(ZSTD_DCtx_reset(context, ZSTD_reset_session_and_parameters), "reset a context")
            return try prepare(context) {
                var output = Data(count: Int(declared))
                let written = try output.withUnsafeMutableBytes { out in
                    try frame.withUnsafeBytes { inp in
                        try check(
                            ZSTD_decompressDCtx(context, out.baseAddress, out.count, inp.baseAddress, inp.count),
                            "decompress")
                    }
                }
                guard written == Int(declared) else {
                    throw failure("the frame declared \(declared) bytes but held \(written)")
                }
                return output
            }
        }
    }

    /// Trains a dictionary of at most `capacity` bytes on the samples (ZDICT's default trainer).
    public static func trainDictionary(samples: [Data], capacity: Int = 16 * 1024) throws -> Data {
        var joined = Data()
        var sizes: [Int] = []
        for sample in samples {
            joined.append(sample)
            sizes.append(sample.count)
        }
        var dictionary = Data(count: capacity)
        let written = try dictionary.withUnsafeMutableBytes { out in
            try joined.withUnsafeBytes { inp in
                let result = ZDICT_trainFromBuffer(
                    out.baseAddress, out.count, inp.baseAddress, sizes, UInt32(sizes.count))
                if ZDICT_isError(result) != 0 {
                    throw failure("could not train a dictionary: \(String(cString: ZDICT_getErrorName(result)))")
                }
                return result
            }
        }
        dictionary.count = written
        return dictionary
    }

    /// The dictionary ID a frame was compressed with (0 when none, or when the frame does not name it).
    public static func dictionaryID(ofFrame frame: Data) -> UInt32 {
        frame.withUnsafeBytes { ZSTD_getDictID_fromFrame($0.baseAddress, $0.count) }
    }

    /// The ID written into a trained dictionary (0 for raw-content dictionaries).
    public static func dictionaryID(ofDictionary dictionary: Data) -> UInt32 {
        dictionary.withUnsafeBytes { ZDICT_getDictID($0.baseAddress, $0.count) }
    }

    // MARK: Contexts

    /// Contexts kept for reuse: making one allocates and zeroes its tables, which costs more than a small frame.
    private static let compressionContexts = ContextPool(
        make: { ZSTD_createCCtx() }, free: { _ = ZSTD_freeCCtx($0) }, name: "compression")
    private static let decompressionContexts = ContextPool(
        make: { ZSTD_createDCtx() }, free: { _ = ZSTD_freeDCtx($0) }, name: "decompression")

    /// Idle contexts of one kind; a caller takes one for one frame and gives it back, so no two threads share one.
    private final class ContextPool: Sendable {
        /// A context nobody is using. Only the pool holds it, behind its lock.
        private struct Idle: @unchecked Sendable { var context: OpaquePointer }
        /// More idle contexts than this are freed: enough for the bounded parallelism a round uses.
        private static let limit = 16
        private let idle = Locked<[Idle]>([])
        private let make: @Sendable () -> OpaquePointer?
        private let free: @Sendable (OpaquePointer) -> Void
        private let name: String

        init(
            make: @escaping @Sendable () -> OpaquePointer?, free: @escaping @Sendable (OpaquePointer) -> Void,
            name: String
        ) {
            self.make = make
            self.free = free
            self.name = name
        }

        func using<T>(_ body: (OpaquePointer) throws -> T) throws -> T {
            guard let context = idle.withLock({ $0.popLast() })?.context ?? make() else {
                throw failure("could not allocate a \(name) context")
            }
            defer {
                let kept = idle.withLock { idle in
                    guard idle.count < Self.limit else { return false }
                    idle.append(Idle(context: context))
                    return true
                }
                if !kept { free(context) }
            }
            return try body(context)
        }
    }

    @discardableResult
    private static func check(_ result: Int, _ action: String) throws -> Int {
        if ZSTD_isError(result) != 0 {
            throw failure("zstd could not \(action): \(String(cString: ZSTD_getErrorName(result)))")
        }
        return result
    }

    private static func failure(_ message: String) -> FlywheelError {
        FlywheelError(.corruptStore, message)
    }
}
