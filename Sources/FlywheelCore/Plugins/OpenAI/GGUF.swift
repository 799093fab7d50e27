import Foundation

/// Reads the few GGUF metadata values weight-level learning needs from a model file's header.
///
/// GGUF (llama.cpp's model format): `GGUF`, version (u32), tensor count (u64), metadata count (u64), then each
/// metadata pair as key (u64 length + UTF-8), value type (u32) and value. Little-endian.
enum GGUF {
    /// The key and value of the model's training context length (`ARCH.context_length`), where `ARCH` is its
    /// `general.architecture`; nil when the header does not name both within its first `limit` bytes.
    ///
    /// llama-finetune writes the context it trained with (`-c`) as the new model's context length, and llama-server
    /// caps each slot's context to it: a model fine-tuned with `-c 256` could not take a prompt of 257 tokens. The
    /// trainer writes the base model's value back (`llama-quantize --override-kv`).
    static func contextLength(of path: String, limit: Int = 8 << 20) -> (key: String, value: Int)? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        guard let data = try? handle.read(upToCount: limit) else { return nil }
        var reader = Reader(bytes: [UInt8](data))
        guard reader.bytes.starts(with: Array("GGUF".utf8)) else { return nil }
        reader.offset = 4
        guard (try? reader.integer(UInt32.self)) != nil, (try? reader.integer(UInt64.self)) != nil,
            let count = try? reader.integer(UInt64.self)
        else { return nil }
        var architecture: String?
        var lengths: [String: Int] = [:]
        for _ in 0..<count {
            guard let key = try? reader.string(), let type = try? reader.integer(UInt32.self) else { return nil }
            if key == "general.architecture", type == 8 {
                architecture = try? reader.string()
            } else if key.hasSuffix(".context_length"), let value = try? reader.scalar(type) {
                lengths[key] = value
            } else if (try? reader.skip(type)) == nil {
                return nil
            }
            if let architecture, let value = lengths[architecture + ".context_length"] {
                return (architecture + ".context_length", value)
            }
        }
        return nil
    }

    private struct Reader {
        let bytes: [UInt8]
        var offset = 0

        struct End: Error {}

        mutating func integer<T: FixedWidthInteger>(_: T.Type) throws -> T {
            let size = MemoryLayout<T>.size
            guard offset + size <= bytes.count else { throw End() }
            var value: T = 0
            for index in 0..<size { value |= T(bytes[offset + index]) << (8 * index) }
            offset += size
            return value
        }

        mutating func string() throws -> String {
            let length = Int(try integer(UInt64.self))
            guard length >= 0, offset + length <= bytes.count else { throw End() }
            defer { offset += length }
            return String(decoding: bytes[offset..<offset + length], as: UTF8.self)
        }

        /// An integer value of GGUF type `type` (u8 … i64).
        mutating func scalar(_ type: UInt32) throws -> Int? {
            switch type {
            case 0: Int(try integer(UInt8.self))
            case 1: Int(try integer(Int8.self))
            case 2: Int(try integer(UInt16.self))
            case 3: Int(try integer(Int16.self))
            case 4: Int(try integer(UInt32.self))
            case 5: Int(try integer(Int32.self))
            case 10: Int(exactly: try integer(UInt64.self))
            case 11: Int(try integer(Int64.self))
            default: nil
            }
        }

        /// Steps over a value of GGUF type `type`.
        mutating func skip(_ type: UInt32) throws {
            let sizes: [UInt32: Int] = [0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8]
            if let size = sizes[type] {
                offset += size
            } else if type == 8 {
                _ = try string()
            } else if type == 9 {
                let element = try integer(UInt32.self)
                let count = try integer(UInt64.self)
                for _ in 0..<count { try skip(element) }
            } else {
                throw End()
            }
            guard offset <= bytes.count else { throw End() }
        }
    }
}
