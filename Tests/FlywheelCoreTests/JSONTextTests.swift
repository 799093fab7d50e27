import FlywheelCore
import Foundation
import Testing

/// `JSONValue`'s own reader and writer against Foundation's `JSONDecoder` and `JSONEncoder` (`.sortedKeys`,
/// `.withoutEscapingSlashes`), which wrote every store and export before them: the same bytes out for every value,
/// the same values in for every text, and the same texts refused.
@Suite struct JSONTextTests {
    static let foundationEncoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    /// A splitmix64 stream: the same values on every run.
    struct Stream {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }
    }

    /// Text that needs every kind of escape, and keys whose order differs between byte order and case-folded order.
    static let pieces = [
        "a", "B", "_", "10", "9", "Z", "é", "ß", "日本", "😀", "\"", "\\", "/", "\u{0}", "\u{1}", "\u{8}", "\u{c}",
        "\n", "\r", "\t", "\u{1f}", "\u{7f}", "\u{2028}", "\u{FEFF}", " ", "e\u{301}", "A",
    ]

    static func text(_ stream: inout Stream) -> String {
        (0..<stream.below(4)).map { _ in pieces[stream.below(pieces.count)] }.joined()
    }

    static let numbers: [Double] = [
        0, -0.0, 1, -1, 0.5, -2.25, 1e-7, 123456.789, 1e20, -1e21, 9.007_199_254_740_991e15, 9.007_199_254_740_993e15,
        1.7976931348623157e308, 5e-324, 0.1, 1.0 / 3.0, 4_294_967_296, 2.5e-5, 100, 1e15 + 0.5,
    ]

    static func value(_ stream: inout Stream, depth: Int = 0) -> JSONValue {
        switch stream.below(depth > 3 ? 4 : 6) {
        case 0: return .null
        case 1: return .bool(stream.below(2) == 0)
        case 2: return .number(numbers[stream.below(numbers.count)])
        case 3: return .string(text(&stream))
        case 4: return .array((0..<stream.below(4)).map { _ in value(&stream, depth: depth + 1) })
        default:
            var members: [String: JSONValue] = [:]
            for _ in 0..<stream.below(5) { members[text(&stream)] = value(&stream, depth: depth + 1) }
            return .object(members)
        }
    }

    @Test func writesTheBytesFoundationWrites() throws {
        var stream = Stream(state: 7)
        for _ in 0..<3000 {
            let value = Self.value(&stream)
            let expected = try Self.foundationEncoder.encode(value)
            #expect(value.encoded() == expected, "\(String(decoding: expected, as: UTF8.self))")
            #expect(value.jsonText == String(decoding: expected, as: UTF8.self))
        }
    }

    @Test func readsWhatItWritesAndWhatFoundationReads() throws {
        var stream = Stream(state: 11)
        for _ in 0..<3000 {
            let value = Self.value(&stream)
            let text = value.encoded()
            let ours = try JSONValue.parse(text)
            #expect(ours == (try JSONDecoder().decode(JSONValue.self, from: text)))
            #expect(ours.encoded() == text)
        }
    }

    /// Texts written by other programs: whitespace, escapes Foundation never writes, surrogate pairs, exponents; and
    /// Foundation's leniencies: a trailing comma, and the first of a repeated key kept.
    @Test func readsForeignSpellingsAsFoundationDoes() throws {
        let texts = [
            #" { "b" : [ 1 , 2.50 , -0 , 1E3 , 1e-2 , 2e+2 ] , "a" : "\u00e9\/\ud83d\ude00\u0041" } "#,
            #"[true,false,null,"",{},[]]"#, "\t\r\n7\n", #""only a string""#, "12345678901234567890", "-9007199254740993",
            #"{"k":1,"k":2}"#, "0.1e1", "1.5E-300", "[1,]", #"{"a":1 , }"#,
        ]
        for text in texts {
            let expected = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
            #expect(try JSONValue.parse(text) == expected, "\(text): \(expected)")
            #expect(try JSONValue.parse(Data(text.utf8)) == expected, "\(text)")
        }
    }

    @Test func refusesWhatFoundationRefuses() {
        let texts = [
            "", " ", "{", "[1,,]", "[,]", "{,}", "{a:1}", "'x'", "01", "1.", ".5", "-", "1e", "+1", "NaN", "Infinity",
            "nul", "truex", "[1] 2", "\"a\u{1}b\"", #""\x""#, #""\ud800""#, #""\udc00x""#, #""\u12""#, "\"open",
            "1e999", "[" + String(repeating: "[", count: 600) + String(repeating: "]", count: 601),
        ]
        for text in texts {
            #expect(throws: (any Error).self, "Foundation refuses \(text.debugDescription)") {
                try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
            }
            #expect(throws: JSONTextError.self, "\(text.debugDescription)") { try JSONValue.parse(text) }
        }
        let invalidUTF8 = Data([0x22, 0xC3, 0x28, 0x22])
        #expect(throws: JSONTextError.self) { try JSONValue.parse(invalidUTF8) }
    }

    @Test func numbersJSONCannotSayMakeTheWholeValueNull() {
        let value: JSONValue = ["score": .number(.nan), "n": 1]
        #expect(value.encoded() == Data("null".utf8))
        #expect(JSONValue.array([.number(.infinity)]).jsonText == "null")
    }

    /// A stored example's frame: the same bytes as its `Codable` form through `JSONEncoder` (checksums were taken
    /// of those), read back as `JSONDecoder` reads it, and a frame that is not an example refused.
    @Test func storedExamplesKeepTheirBytes() throws {
        var stream = Stream(state: 19)
        for _ in 0..<1000 {
            func optional<T>(_ make: () -> T) -> T? { stream.below(3) == 0 ? nil : make() }
            let example = StoredExample(
                prompt: Self.text(&stream), answer: Self.text(&stream), reference: optional { Self.value(&stream) },
                meta: optional { Self.value(&stream) }, trace: optional { Self.text(&stream) })
            let expected = try Self.foundationEncoder.encode(example)
            #expect(example.encoded() == expected)
            let task = TaskSpec(prompt: example.prompt, reference: example.reference, meta: example.meta)
            #expect(example.encoded(taskText: TaskCodec.plain(task)) == expected)
            #expect(try StoredExample(json: expected) == (try JSONDecoder().decode(StoredExample.self, from: expected)))
        }
        let foreign = Data(#"{"answer":"4","prompt":"2+2","reference":null,"extra":[1],"trace":null}"#.utf8)
        #expect(try StoredExample(json: foreign) == StoredExample(prompt: "2+2", answer: "4", reference: nil, meta: nil, trace: nil))
        for text in [#"{"prompt":"p"}"#, #"{"prompt":"p","answer":4}"#, #"["p","a"]"#, #"{"prompt":"p","answer":"a","trace":1}"#] {
            #expect(throws: (any Error).self) { try JSONDecoder().decode(StoredExample.self, from: Data(text.utf8)) }
            #expect(throws: FlywheelError.self) { try StoredExample(json: Data(text.utf8)) }
        }
    }
}
