import Foundation
import Testing

import FlywheelCore

@Suite struct ZstdTests {
    let samples: [Data] = (0..<600).map { index in
        Data(#"{"answer":"\#(index * 7)","meta":{"difficulty":1,"family":"add"},"prompt":"What is \#(index) + \#(index * 6)?","reference":"\#(index * 7)"}"#.utf8)
    }

    @Test func framesRoundTripWithMagicAndChecksum() throws {
        let input = Data(String(repeating: "flywheel ", count: 100).utf8)
        let frame = try Zstd.compress(input)
        #expect(Array(frame.prefix(4)) == Zstd.frameMagic)
        #expect(frame.count < input.count)
        // Frame header descriptor bit 2 is the content-checksum flag.
        #expect(frame[4] & 0b100 != 0)
        #expect(try Zstd.decompress(frame) == input)
    }

    @Test func aDamagedFrameIsRefused() throws {
        var frame = try Zstd.compress(Data(String(repeating: "abc", count: 50).utf8))
        frame[frame.count - 6] ^= 0xFF
        #expect(throws: FlywheelError.self) { try Zstd.decompress(frame) }
    }

    @Test func aDictionaryShrinksSmallRecordsAndIsNamedInTheFrame() throws {
        let dictionary = try Zstd.trainDictionary(samples: samples, capacity: 8 * 1024)
        let id = Zstd.dictionaryID(ofDictionary: dictionary)
        #expect(id != 0)
        let record = samples[123]
        let plain = try Zstd.compress(record)
        let withDictionary = try Zstd.compress(record, dictionary: dictionary)
        #expect(withDictionary.count < plain.count)
        #expect(Zstd.dictionaryID(ofFrame: withDictionary) == id)
        #expect(try Zstd.decompress(withDictionary, dictionary: dictionary) == record)
        #expect(throws: FlywheelError.self) { try Zstd.decompress(withDictionary) }
    }

    @Test func aPreparedDictionaryServesManyFramesAndCanStayOutOfTheFrame() throws {
        let dictionary = try Zstd.Dictionary(try Zstd.trainDictionary(samples: samples, capacity: 8 * 1024))
        for record in samples.prefix(50) {
            let named = try Zstd.compress(record, dictionary: dictionary)
            let unnamed = try Zstd.compress(record, dictionary: dictionary, namesDictionary: false)
            #expect(Zstd.dictionaryID(ofFrame: named) == Zstd.dictionaryID(ofDictionary: dictionary.bytes))
            #expect(Zstd.dictionaryID(ofFrame: unnamed) == 0)
            #expect(unnamed.count < named.count)
            #expect(try Zstd.decompress(unnamed, dictionary: dictionary) == record)
            #expect(throws: FlywheelError.self) { try Zstd.decompress(unnamed) }
        }
    }

    @Test func taskTextRoundTripsWholeAndRefusesTheWrongDictionary() throws {
        let tasks = [
            TaskSpec(prompt: "What is 1 + 2?\u{0}after the NUL", reference: .null, meta: nil),
            TaskSpec(prompt: "é ✓", reference: .object(["x": .array([.number(1.5), .number(2)])]), meta: .string("m")),
            TaskSpec(prompt: "", reference: nil, meta: .object([:])),
        ]
        let dictionary = try Zstd.Dictionary(try Zstd.trainDictionary(samples: samples, capacity: 8 * 1024))
        for task in tasks {
            for used in [nil, dictionary] {
                #expect(try TaskCodec.decompress(TaskCodec.compress(task, dictionary: used), dictionary: used) == task)
            }
        }
        let frame = try TaskCodec.compress(tasks[1], dictionary: dictionary)
        #expect(throws: FlywheelError.self) { try TaskCodec.decompress(frame, dictionary: nil) }
        #expect(throws: FlywheelError.self) {
            try TaskCodec.decompress(Zstd.compress(Data("[1]".utf8), dictionary: nil), dictionary: nil)
        }
    }
}
