import CZstd
import Foundation

/// Every `ZSTD_*` and `ZDICT_*` call of the project lives in this file.
public enum Zstd {
    public static let frameMagic: [UInt8] = [0x28, 0xB5, 0x2F, 0xFD]
    public static var versionNumber: Int { Int(ZSTD_versionNumber()) }

    /// A zstd frame with the content size and the content checksum on, using `dictionary` when given.
    public static func compress(_ input: Data, level: Int32 = 6, dictionary: Data? = nil) throws -> Data {
        guard let context = ZSTD_createCCtx() else { throw failure("could not allocate a compression context") }
        defer { ZSTD_freeCCtx(context) }
        try check(ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, level), "set the level")
        try check(ZSTD_CCtx_setParameter(context, ZSTD_c_checksumFlag, 1), "turn the checksum on")
        if let dictionary {
            _ = try dictionary.withUnsafeBytes { raw in
                try check(ZSTD_CCtx_loadDictionary(context, raw.baseAddress, raw.count), "load the dictionary")
            }
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

    /// Decompresses one frame and verifies its checksum; throws if the frame is damaged or needs another dictionary.
    public static func decompress(_ frame: Data, dictionary: Data? = nil) throws -> Data {
        let declared = frame.withUnsafeBytes { ZSTD_getFrameContentSize($0.baseAddress, $0.count) }
        // ZSTD_CONTENTSIZE_UNKNOWN and ZSTD_CONTENTSIZE_ERROR are the two top values.
        guard declared < UInt64.max - 1 else { throw failure("the frame is not a zstd frame with a known size") }
        guard declared <= 1 << 30 else { throw failure("the frame declares \(declared) bytes, over the 1 GiB limit") }
        guard let context = ZSTD_createDCtx() else { throw failure("could not allocate a decompression context") }
        defer { ZSTD_freeDCtx(context) }
        if let dictionary {
            _ = try dictionary.withUnsafeBytes { raw in
                try check(ZSTD_DCtx_loadDictionary(context, raw.baseAddress, raw.count), "load the dictionary")
            }
        }
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

    /// The dictionary ID a frame was compressed with (0 when none).
    public static func dictionaryID(ofFrame frame: Data) -> UInt32 {
        frame.withUnsafeBytes { ZSTD_getDictID_fromFrame($0.baseAddress, $0.count) }
    }

    /// The ID written into a trained dictionary (0 for raw-content dictionaries).
    public static func dictionaryID(ofDictionary dictionary: Data) -> UInt32 {
        dictionary.withUnsafeBytes { ZDICT_getDictID($0.baseAddress, $0.count) }
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
