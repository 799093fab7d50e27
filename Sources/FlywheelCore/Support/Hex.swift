/// Lowercase hexadecimal text of bytes, the spelling of every digest the store and the engine compare.
enum Hex {
    static func lowercase(_ bytes: UnsafeRawBufferPointer) -> String {
        String(unsafeUninitializedCapacity: bytes.count * 2) { text in
            for (offset, byte) in bytes.enumerated() {
                text[2 * offset] = digits[Int(byte >> 4)]
                text[2 * offset + 1] = digits[Int(byte & 0xF)]
            }
            return bytes.count * 2
        }
    }

    private static let digits: [UInt8] = Array("0123456789abcdef".utf8)
}
