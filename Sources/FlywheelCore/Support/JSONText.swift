import Foundation

// `JSONValue` is read and written on every plugin exchange and every stored task, so it has its own reader and
// writer over UTF-8 bytes instead of going through `Codable`. Both give exactly what Foundation's `JSONDecoder` and
// `JSONEncoder` (`.sortedKeys`, `.withoutEscapingSlashes`) give for a `JSONValue` — the same accepted texts and the
// same bytes out — which `JSONTextTests` checks against Foundation on random and hostile values. Stored checksums and
// exported files depend on those bytes never changing.

extension JSONValue {
    /// Compact JSON with sorted keys: the same value always gives the same bytes. A value holding a NaN or an
    /// infinity, which JSON cannot say, is written as `null`.
    public func encoded() -> Data {
        var writer = JSONTextWriter()
        guard writer.write(self) else { return Data("null".utf8) }
        return Data(writer.bytes)
    }

    public var jsonText: String {
        var writer = JSONTextWriter()
        guard writer.write(self) else { return "null" }
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    /// - Throws: `JSONTextError` saying where the text stops being JSON.
    public static func parse(_ data: Data) throws -> JSONValue {
        try data.withUnsafeBytes { raw in
            var reader = JSONTextReader(raw.bindMemory(to: UInt8.self))
            return try reader.document()
        }
    }

    public static func parse(_ text: String) throws -> JSONValue {
        var text = text
        return try text.withUTF8 { bytes in
            var reader = JSONTextReader(bytes)
            return try reader.document()
        }
    }
}

/// Why a text is not JSON, and the byte offset where that became clear.
public struct JSONTextError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var offset: Int
    public var description: String { "\(message) at byte \(offset)" }
}

struct JSONTextWriter {
    var bytes: [UInt8] = []

    init() { bytes.reserveCapacity(256) }

    /// Appends `value`; false when it holds a number JSON cannot say.
    mutating func write(_ value: JSONValue) -> Bool {
        switch value {
        case .null: bytes.append(contentsOf: "null".utf8)
        case .bool(let flag): bytes.append(contentsOf: (flag ? "true" : "false").utf8)
        case .number(let number): return write(number)
        case .string(let text): write(text)
        case .array(let elements):
            bytes.append(UInt8(ascii: "["))
            for (position, element) in elements.enumerated() {
                if position > 0 { bytes.append(UInt8(ascii: ",")) }
                guard write(element) else { return false }
            }
            bytes.append(UInt8(ascii: "]"))
        case .object(let members):
            bytes.append(UInt8(ascii: "{"))
            if members.count <= 2 {
                // Most objects are small: their members put in order without sorting an array of them.
                var iterator = members.makeIterator()
                if var first = iterator.next() {
                    if var second = iterator.next() {
                        if second.key.utf8.lexicographicallyPrecedes(first.key.utf8) { swap(&first, &second) }
                        guard write(member: first) else { return false }
                        bytes.append(UInt8(ascii: ","))
                        guard write(member: second) else { return false }
                    } else {
                        guard write(member: first) else { return false }
                    }
                }
            } else {
                let sorted = members.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
                for (position, member) in sorted.enumerated() {
                    if position > 0 { bytes.append(UInt8(ascii: ",")) }
                    guard write(member: member) else { return false }
                }
            }
            bytes.append(UInt8(ascii: "}"))
        }
        return true
    }

    private mutating func write(member: (key: String, value: JSONValue)) -> Bool {
        write(member.key)
        bytes.append(UInt8(ascii: ":"))
        return write(member.value)
    }

    private mutating func write(_ number: Double) -> Bool {
        guard number.isFinite else { return false }
        // Integral numbers are written without a fraction so seeds and counts round-trip as integers.
        if let integer = JSONValue.exactInteger(number) {
            var magnitude = integer.magnitude
            // "-0" is not written: -0.0 is integral and its Int64 is 0.
            if number < 0 { bytes.append(UInt8(ascii: "-")) }
            let start = bytes.count
            repeat {
                bytes.append(UInt8(ascii: "0") + UInt8(magnitude % 10))
                magnitude /= 10
            } while magnitude > 0
            bytes[start...].reverse()
        } else {
            var text = number.description
            if text.hasSuffix(".0") { text.removeLast(2) }
            bytes.append(contentsOf: text.utf8)
        }
        return true
    }

    private mutating func write(_ text: String) {
        bytes.append(UInt8(ascii: "\""))
        var text = text
        text.withUTF8 { utf8 in
            // Runs that need no escape (most strings are one) are copied in one go.
            var runStart = 0
            for (index, byte) in utf8.enumerated()
            where byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<index]))
                runStart = index + 1
                switch byte {
                case UInt8(ascii: "\""): bytes.append(contentsOf: #"\""#.utf8)
                case UInt8(ascii: "\\"): bytes.append(contentsOf: #"\\"#.utf8)
                case 0x08: bytes.append(contentsOf: #"\b"#.utf8)
                case 0x0C: bytes.append(contentsOf: #"\f"#.utf8)
                case 0x0A: bytes.append(contentsOf: #"\n"#.utf8)
                case 0x0D: bytes.append(contentsOf: #"\r"#.utf8)
                case 0x09: bytes.append(contentsOf: #"\t"#.utf8)
                default:
                    bytes.append(contentsOf: #"\u00"#.utf8)
                    bytes.append(Hex.digits[Int(byte >> 4)])
                    bytes.append(Hex.digits[Int(byte & 0x0F)])
                }
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart...]))
        }
        bytes.append(UInt8(ascii: "\""))
    }
}

struct JSONTextReader {
    private let bytes: UnsafeBufferPointer<UInt8>
    private var offset = 0
    private var depth = 0
    /// Nesting deeper than this is refused rather than risking the stack (Foundation's limit too).
    private static let maximumDepth = 512

    init(_ bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    /// One value and nothing after it but whitespace.
    mutating func document() throws -> JSONValue {
        let value = try self.value()
        skipWhitespace()
        guard offset == bytes.count else { throw failure("unexpected text after the value") }
        return value
    }

    private func failure(_ message: String) -> JSONTextError { JSONTextError(message: message, offset: offset) }

    private mutating func skipWhitespace() {
        while offset < bytes.count {
            switch bytes[offset] {
            case 0x20, 0x09, 0x0A, 0x0D: offset += 1
            default: return
            }
        }
    }

    private mutating func value() throws -> JSONValue {
        skipWhitespace()
        guard offset < bytes.count else { throw failure("unexpected end of the text") }
        switch bytes[offset] {
        case UInt8(ascii: "{"): return try object()
        case UInt8(ascii: "["): return try array()
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): return try word("true", .bool(true))
        case UInt8(ascii: "f"): return try word("false", .bool(false))
        case UInt8(ascii: "n"): return try word("null", .null)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
        default: throw failure("unexpected character")
        }
    }

    private mutating func word(_ text: StaticString, _ value: JSONValue) throws -> JSONValue {
        let count = text.utf8CodeUnitCount
        guard offset + count <= bytes.count,
            memcmp(bytes.baseAddress! + offset, text.utf8Start, count) == 0
        else { throw failure("unexpected character") }
        offset += count
        return value
    }

    private mutating func nest() throws {
        depth += 1
        guard depth <= Self.maximumDepth else { throw failure("nested deeper than \(Self.maximumDepth) levels") }
    }

    private mutating func object() throws -> JSONValue {
        var members: [String: JSONValue] = [:]
        // Room for a protocol message's members at once, instead of regrowing the table as they come.
        members.reserveCapacity(8)
        try items(closedBy: UInt8(ascii: "}")) { reader in
            guard reader.offset < reader.bytes.count, reader.bytes[reader.offset] == UInt8(ascii: "\"") else {
                throw reader.failure("expected a key in quotes")
            }
            let key = try reader.string()
            reader.skipWhitespace()
            guard reader.offset < reader.bytes.count, reader.bytes[reader.offset] == UInt8(ascii: ":") else {
                throw reader.failure("expected ':'")
            }
            reader.offset += 1
            let member = try reader.value()
            // Foundation keeps the first of a repeated key.
            if members[key] == nil { members[key] = member }
        }
        return .object(members)
    }

    private mutating func array() throws -> JSONValue {
        var elements: [JSONValue] = []
        try items(closedBy: UInt8(ascii: "]")) { reader in elements.append(try reader.value()) }
        return .array(elements)
    }

    /// The comma-separated items of an object or array, from its opening bracket to `closing`, each read by `item`
    /// (which starts at the item, whitespace skipped). Like Foundation, a trailing comma is accepted.
    private mutating func items(closedBy closing: UInt8, _ item: (inout JSONTextReader) throws -> Void) throws {
        try nest()
        defer { depth -= 1 }
        offset += 1
        skipWhitespace()
        if offset < bytes.count, bytes[offset] == closing {
            offset += 1
            return
        }
        while true {
            skipWhitespace()
            try item(&self)
            skipWhitespace()
            guard offset < bytes.count else { throw failure("unexpected end of the text") }
            switch bytes[offset] {
            case UInt8(ascii: ","):
                offset += 1
                skipWhitespace()
                if offset < bytes.count, bytes[offset] == closing {
                    offset += 1
                    return
                }
            case closing:
                offset += 1
                return
            default: throw failure("expected ',' or '\(Character(Unicode.Scalar(closing)))'")
            }
        }
    }

    /// A string starting at the opening quote: plain runs are taken whole, escapes decoded, and the result must be
    /// UTF-8 without unescaped control characters.
    private mutating func string() throws -> String {
        offset += 1
        let start = offset
        while offset < bytes.count {
            let byte = bytes[offset]
            if byte == UInt8(ascii: "\"") {
                let run = UnsafeBufferPointer(rebasing: bytes[start..<offset])
                offset += 1
                guard let text = String(validating: run, as: UTF8.self) else { throw failure("invalid UTF-8") }
                return text
            }
            if byte == UInt8(ascii: "\\") { return try escapedString(from: start) }
            guard byte >= 0x20 else { throw failure("unescaped control character in a string") }
            offset += 1
        }
        throw failure("unterminated string")
    }

    private mutating func escapedString(from start: Int) throws -> String {
        var decoded = Array(bytes[start..<offset])
        while offset < bytes.count {
            let byte = bytes[offset]
            switch byte {
            case UInt8(ascii: "\""):
                offset += 1
                guard let text = String(validating: decoded, as: UTF8.self) else { throw failure("invalid UTF-8") }
                return text
            case UInt8(ascii: "\\"):
                offset += 1
                guard offset < bytes.count else { break }
                let escape = bytes[offset]
                offset += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): decoded.append(escape)
                case UInt8(ascii: "b"): decoded.append(0x08)
                case UInt8(ascii: "f"): decoded.append(0x0C)
                case UInt8(ascii: "n"): decoded.append(0x0A)
                case UInt8(ascii: "r"): decoded.append(0x0D)
                case UInt8(ascii: "t"): decoded.append(0x09)
                case UInt8(ascii: "u"): decoded.append(contentsOf: String(try unicodeEscape()).utf8)
                default:
                    offset -= 1
                    throw failure("invalid escape")
                }
            default:
                guard byte >= 0x20 else { throw failure("unescaped control character in a string") }
                decoded.append(byte)
                offset += 1
            }
        }
        throw failure("unterminated string")
    }

    /// The scalar of `\uXXXX` (the `\u` already read), joining a surrogate pair written as two escapes.
    private mutating func unicodeEscape() throws -> Character {
        let first = try hexQuad()
        if (0xD800..<0xDC00).contains(first) {
            guard offset + 1 < bytes.count, bytes[offset] == UInt8(ascii: "\\"), bytes[offset + 1] == UInt8(ascii: "u")
            else { throw failure("unpaired surrogate in a \\u escape") }
            offset += 2
            let second = try hexQuad()
            guard (0xDC00..<0xE000).contains(second) else { throw failure("unpaired surrogate in a \\u escape") }
            return Character(Unicode.Scalar(0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00))!)
        }
        guard let scalar = Unicode.Scalar(first) else { throw failure("unpaired surrogate in a \\u escape") }
        return Character(scalar)
    }

    private mutating func hexQuad() throws -> UInt32 {
        guard offset + 4 <= bytes.count else { throw failure("incomplete \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[offset]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw failure("invalid \\u escape")
            }
            value = value << 4 | UInt32(digit)
            offset += 1
        }
        return value
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, as a Double; one too large for a Double is refused.
    private mutating func number() throws -> Double {
        let start = offset
        var integral = true
        if bytes[offset] == UInt8(ascii: "-") { offset += 1 }
        guard offset < bytes.count, isDigit(bytes[offset]) else { throw failure("invalid number") }
        if bytes[offset] == UInt8(ascii: "0") {
            offset += 1
            if offset < bytes.count, isDigit(bytes[offset]) { throw failure("invalid number: leading zero") }
        } else {
            digits()
        }
        if offset < bytes.count, bytes[offset] == UInt8(ascii: ".") {
            integral = false
            offset += 1
            guard offset < bytes.count, isDigit(bytes[offset]) else { throw failure("invalid number") }
            digits()
        }
        if offset < bytes.count, bytes[offset] == UInt8(ascii: "e") || bytes[offset] == UInt8(ascii: "E") {
            integral = false
            offset += 1
            if offset < bytes.count, bytes[offset] == UInt8(ascii: "+") || bytes[offset] == UInt8(ascii: "-") {
                offset += 1
            }
            guard offset < bytes.count, isDigit(bytes[offset]) else { throw failure("invalid number") }
            digits()
        }
        let text = UnsafeBufferPointer(rebasing: bytes[start..<offset])
        // Up to 15 digits an integer is exact in a Double: add it up without going through text.
        if integral, text.count <= 16 {
            var negative = false
            var magnitude: Int64 = 0
            for byte in text {
                if byte == UInt8(ascii: "-") { negative = true } else { magnitude = magnitude * 10 + Int64(byte - 48) }
            }
            if magnitude < 1 << 53 { return Double(negative ? -magnitude : magnitude) }
        }
        guard let value = Double(String(decoding: text, as: UTF8.self)), value.isFinite else {
            throw JSONTextError(message: "number out of range", offset: start)
        }
        return value
    }

    private func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    private mutating func digits() {
        while offset < bytes.count, isDigit(bytes[offset]) { offset += 1 }
    }
}
