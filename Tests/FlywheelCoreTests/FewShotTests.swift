import FlywheelCore
import Foundation
import Testing

/// The few-shot choice decides what every external and LLM solve request shows, so a faster selection must choose
/// exactly what the definition chooses: rank the whole pool by (same family, difficulty distance, hash of the pair:
/// SplitMix64's finaliser of the task prompt's FNV-1a hash xor the finaliser of the example prompt's), keep pool order
/// among equals, drop the task itself, take the first `k`.
@Suite struct FewShotTests {
    /// The definition, written the plain way: a stable sort of the whole pool.
    static func definition(_ pool: [Example], task: TaskSpec, k: Int) -> [Example] {
        guard k > 0 else { return [] }
        let family = task.meta?["family"]?.stringValue
        let difficulty = task.meta?["difficulty"]?.doubleValue
        return pool.filter { $0.prompt != task.prompt }.map { example -> ((Int, Double, UInt64), Example) in
            let sameFamily = family != nil && example.meta?["family"]?.stringValue == family ? 0 : 1
            var distance = 0.0
            if let difficulty {
                distance = example.meta?["difficulty"]?.doubleValue.map { abs($0 - difficulty) } ?? .infinity
            }
            let hash = mix(StableHash.fnv1a64(task.prompt.utf8) ^ mix(StableHash.fnv1a64(example.prompt.utf8)))
            return ((sameFamily, distance, hash), example)
        }.sorted { $0.0 < $1.0 }.prefix(k).map(\.1)
    }

    /// SplitMix64's finaliser.
    static func mix(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    @Test func choosesWhatAStableSortOfThePoolChooses() {
        var state: UInt64 = 3
        func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
        func meta() -> JSONValue? {
            switch next(4) {
            case 0: nil
            case 1: ["family": .string(["a", "b"][next(2)])]
            default: ["family": .string(["a", "b", "c"][next(3)]), "difficulty": .number(Double(next(4)))]
            }
        }
        for _ in 0..<400 {
            // Few distinct prompts, so that the task itself, repeated prompts and equal ranks all occur.
            let pool = (0..<next(40)).map { _ in
                Example(prompt: "p\(next(12))", answer: "a\(next(3))", meta: meta())
            }
            let task = TaskSpec(prompt: "p\(next(12))", meta: meta())
            let k = next(6)
            let chosen = FewShot.Index(FewShot.State(examples: pool)).select(for: task, k: k)
            #expect(chosen == Self.definition(pool, task: task, k: k))
            #expect(!chosen.contains { $0.prompt == task.prompt })
        }
    }

    @Test func storedStatesReadAsJSONDecoderReadsThem() throws {
        var state: UInt64 = 5
        func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
        let metas: [JSONValue?] = [
            nil, .null, ["family": "arith", "difficulty": 3], .number(2.5), .string("x"), .array([.bool(true), .null]),
        ]
        for _ in 0..<200 {
            var few = FewShot.State(
                examples: (0..<next(5)).map { _ in
                    Example(prompt: "p\(next(9)) \"q\"\n", answer: "a\(next(3))", meta: metas[next(metas.count)])
                }, model: next(2) == 0 ? nil : "model-\(next(3))",
                weights: next(2) == 0 ? nil : ModelFile(path: "/m/\(next(4)).gguf", sha256: "ab\(next(9))"))
            few.absorbed = next(2) == 0 ? nil : next(1000)
            let stored = try JSONEncoder().encode(few)
            let expected = try JSONDecoder().decode(FewShot.State.self, from: stored)
            #expect(try FewShot.decodeStored(stored) == expected)
        }
    }

    @Test(arguments: [
        "", "[]", "{}", #"{"examples": {}}"#, #"{"examples": [1]}"#, #"{"examples": [{"prompt": 1, "answer": "a"}]}"#,
        #"{"examples": [{"prompt": "p"}]}"#, #"{"examples": [], "model": 3}"#, #"{"examples": [], "weights": "w"}"#,
        #"{"examples": [], "weights": {"path": "p"}}"#, #"{"examples": [], "absorbed": 1.5}"#,
        #"{"examples": [], "absorbed": "3"}"#, #"{"examples": []"#,
    ])
    func malformedStatesAreRefusedAsJSONDecoderRefusesThem(_ text: String) {
        let stored = Data(text.utf8)
        #expect(throws: (any Error).self) { try JSONDecoder().decode(FewShot.State.self, from: stored) }
        #expect(throws: (any Error).self) { try FewShot.decodeStored(stored) }
    }
}
