import Foundation

/// A stored dictionary, digested once for every frame that uses it.
public struct ExampleDictionary: Sendable, Equatable {
    public var id: Int64
    public var prepared: Zstd.Dictionary
    public var bytes: Data { prepared.bytes }

    public init(id: Int64, prepared: Zstd.Dictionary) {
        self.id = id
        self.prepared = prepared
    }

    public static func == (lhs: ExampleDictionary, rhs: ExampleDictionary) -> Bool {
        lhs.id == rhs.id && lhs.bytes == rhs.bytes
    }
}

/// An accepted example ready to be written: a zstd frame naming the dictionary it used, or compressed against its
/// task's text.
public struct CompressedExample: Sendable, Equatable {
    public var payload: Data
    public var dictionaryID: Int64?
    /// Whether the frame was compressed against its task's text (`TaskCodec.plain`), which the store keeps in the
    /// task's row, rather than with a dictionary: an example repeats its task's prompt, reference and meta whole.
    public var againstTask: Bool
    public var rawBytes: Int
    /// FNV-1a 64 of the raw JSON, checked again on every read besides zstd's own frame checksum.
    public var checksum: String
}

/// An accepted example as the store is given it, compressed (`ExampleCodec.compress`) where the store writes its
/// row: on the store's writer, not on the thread that runs the round's items.
public struct AcceptedExample: Sendable {
    public var example: StoredExample
    /// The `TaskCodec.plain` text of the example's task, when the caller has it already.
    public var taskText: Data?
    public var dictionary: ExampleDictionary?

    public init(_ example: StoredExample, taskText: Data? = nil, dictionary: ExampleDictionary?) {
        self.example = example
        self.taskText = taskText
        self.dictionary = dictionary
    }

    public func compressed() throws -> CompressedExample {
        try ExampleCodec.compress(example, taskText: taskText, dictionary: dictionary)
    }
}

/// Turns accepted examples into zstd frames and back; the only place that decides how examples are encoded.
public enum ExampleCodec {
    /// Examples a store needs before a dictionary is trained, and the most samples one is trained on.
    public static let dictionaryThreshold = 128
    public static let dictionarySampleLimit = 4096
    public static let dictionaryCapacity = 16 * 1024

    /// The frame compressed against the example's task; when that does not halve it, the smaller of it and the
    /// frame compressed with `dictionary`. An example mostly repeats its task, so against it an example usually
    /// shrinks far below half (arith ~45 %, listfn ~6 %) and the second compression is not worth its time.
    /// - Parameter taskText: the example's task's `TaskCodec.plain` text, when the caller has it already.
    public static func compress(
        _ example: StoredExample, taskText: Data? = nil, dictionary: ExampleDictionary?
    ) throws -> CompressedExample {
        let raw = example.encoded(taskText: taskText)
        let againstTask = try Zstd.compress(raw, prefix: taskText ?? TaskCodec.plain(task(of: example)))
        var useTask = true
        var payload = againstTask
        if againstTask.count * 2 > raw.count {
            let withDictionary = try Zstd.compress(raw, dictionary: dictionary?.prepared)
            if withDictionary.count <= againstTask.count { (useTask, payload) = (false, withDictionary) }
        }
        return CompressedExample(
            payload: payload, dictionaryID: useTask ? nil : dictionary?.id, againstTask: useTask,
            rawBytes: raw.count, checksum: StableHash.hex(raw))
    }

    /// The task an example was made from, as far as the example repeats it.
    static func task(of example: StoredExample) -> TaskSpec {
        TaskSpec(prompt: example.prompt, reference: example.reference, meta: example.meta)
    }

    /// - Parameter taskText: the `TaskCodec.plain` text of the example's task, for a frame compressed against it
    ///   (nil otherwise): the store's task frame decompressed, never decoded and encoded again.
    /// - Throws: `FlywheelError(.corruptStore)` when the frame does not decompress or its checksum differs.
    public static func decompress(
        payload: Data, dictionaryID: Int64?, dictionaries: [Int64: Zstd.Dictionary], checksum: String,
        taskText: Data? = nil
    ) throws -> Data {
        if let taskText {
            return try verified(try Zstd.decompress(payload, prefix: taskText), checksum: checksum)
        }
        var dictionary: Zstd.Dictionary?
        if let dictionaryID {
            guard let bytes = dictionaries[dictionaryID] else {
                throw FlywheelError(.corruptStore, "an example names dictionary \(dictionaryID), which is missing")
            }
            dictionary = bytes
        }
        return try verified(try Zstd.decompress(payload, dictionary: dictionary), checksum: checksum)
    }

    private static func verified(_ raw: Data, checksum: String) throws -> Data {
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
