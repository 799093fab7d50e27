/// 64-bit FNV-1a: a stable digest for checksums and prompt hashes, the same on every machine and run.
public enum StableHash {
    public static func fnv1a64<Bytes: Sequence>(_ bytes: Bytes) -> UInt64 where Bytes.Element == UInt8 {
        fnv1a64(bytes, continuing: 0xCBF2_9CE4_8422_2325)
    }

    /// The hash of the bytes hashed into `hash` followed by `bytes`.
    public static func fnv1a64<Bytes: Sequence>(_ bytes: Bytes, continuing hash: UInt64) -> UInt64
    where Bytes.Element == UInt8 {
        // Contiguous bytes (an array, `Data`, a native string's UTF-8) are walked in place, not element by element
        // through the sequence's iterator; any other sequence is copied into an array first.
        bytes.withContiguousStorageIfAvailable({ fnv1a64(buffer: $0, continuing: hash) })
            ?? Array(bytes).withUnsafeBufferPointer { fnv1a64(buffer: $0, continuing: hash) }
    }

    private static func fnv1a64(buffer: UnsafeBufferPointer<UInt8>, continuing hash: UInt64) -> UInt64 {
        var hash = hash
        for byte in buffer {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01B3
        }
        return hash
    }

    public static func hex<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        let value = fnv1a64(bytes)
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
