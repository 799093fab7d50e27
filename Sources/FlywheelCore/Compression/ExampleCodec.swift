import Foundation

public struct ExampleDictionary: Sendable, Equatable {
    public var id: Int64
    public var bytes: Data
}

/// An accepted example ready to be written: a zstd frame naming the dictionary it used.
public struct CompressedExample: Sendable, Equatable {
    public var payload: Data
    public var dictionaryID: Int64?
    public var rawBytes: Int
    /// FNV-1a 64 of the raw JSON, checked again on every read besides zstd's own frame checksum.
    public var checksum: String
}

/// Turns accepted examples into zstd frames and back; the only place that decides how examples are encoded.
public enum ExampleCodec {
    /// Examples a store needs before a dictionary is trained, and the most samples one is trained on.
    public static let dictionaryThreshold = 128
    public static let dictionarySampleLimit = 4096
    public static let dictionaryCapacity = 16 * 1024

    public static func compress(_ example: StoredExample, dictionary: ExampleDictionary?) throws -> CompressedExample {
        let raw = example.encoded()
        return CompressedExample(
            payload: try Zstd.compress(raw, dictionary: dictionary?.bytes), dictionaryID: dictionary?.id,
            rawBytes: raw.count, checksum: StableHash.hex(raw))
    }

    /// - Throws: `FlywheelError(.corruptStore)` when the frame does not decompress or its checksum differs.
    public static func decompress(payload: Data, dictionaryID: Int64?, dictionaries: [Int64: Data], checksum: String)
        throws -> Data
    {
        var dictionary: Data?
        if let dictionaryID {
            guard let bytes = dictionaries[dictionaryID] else {
                throw FlywheelError(.corruptStore, "an example names dictionary \(dictionaryID), which is missing")
            }
            dictionary = bytes
        }
        let raw = try Zstd.decompress(payload, dictionary: dictionary)
        guard StableHash.hex(raw) == checksum else {
            throw FlywheelError(.corruptStore, "an example's content does not match its checksum \(checksum)")
        }
        return raw
    }

    /// Trains a dictionary on the raw JSON of up to `dictionarySampleLimit` examples; nil when ZDICT declines
    /// (too few or too uniform samples), in which case examples stay dictionary-less.
    public static func trainDictionary(on examples: [StoredExample]) -> Data? {
        let samples = examples.prefix(dictionarySampleLimit).map { $0.encoded() }
        return try? Zstd.trainDictionary(samples: Array(samples), capacity: dictionaryCapacity)
    }
}
