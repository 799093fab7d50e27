import Foundation
import ListFn
import Testing

@Suite("Grammar")
struct GrammarTests {
    @Test("fitting on accepted programs raises their probability")
    func learningRaisesProbability() throws {
        let accepted = (UInt64(0)..<60).map { ListFnGenerator.task(seed: $0, difficulty: 3).program }
        let learned = Grammar.fit(programs: accepted)
        for program in accepted {
            let before = try #require(Grammar.initial.logProbability(of: program))
            let after = try #require(learned.logProbability(of: program))
            #expect(after > before, "\(program): \(before) -> \(after)")
        }
        let total = { (g: Grammar) in accepted.reduce(0.0) { $0 + g.logProbability(of: $1)! } }
        #expect(total(learned) > total(Grammar.initial) + 100)
        // Unseen programs from the same distribution gain too: that is what makes the flywheel turn.
        let unseen = (UInt64(1000)..<1060).map { ListFnGenerator.task(seed: $0, difficulty: 3).program }
        let gain = unseen.reduce(0.0) { $0 + learned.logProbability(of: $1)! - Grammar.initial.logProbability(of: $1)! }
        #expect(gain > 0)
    }

    @Test("programs that do not parse or that the grammar cannot produce are ignored by fit")
    func ignoresBadPrograms() {
        #expect(Grammar.fit(programs: []) == Grammar.initial)
        #expect(Grammar.fit(programs: ["(sum $in", "(> 1 2)", "", "(+ (sum $in) 17)"]) == Grammar.initial)
        #expect(Grammar.initial.logProbability(of: "(sum $in") == nil)
        #expect(Grammar.initial.logProbability(of: "(+ (sum $in) 17)") == nil)
        #expect(Grammar.fit(programs: ["(sum $in)"]) != Grammar.initial)
    }

    @Test("the initial grammar is uniform within a hole")
    func initialIsUniform() throws {
        // root list hole: 7 list productions; sum: 1 of 17 int productions at depth 0 (no variables).
        #expect(abs(Grammar.initial.logProbability(of: "$in")! - log(1.0 / 7)) < 1e-12)
        #expect(abs(Grammar.initial.logProbability(of: "(sum $in)")! - log(1.0 / 17) - log(1.0 / 7)) < 1e-12)
    }

    @Test("Codable round trip keeps every weight")
    func codable() throws {
        let g = Grammar.fit(programs: ["(map (lambda (* $0 2)) $in)", "(sum (filter (lambda (> $0 3)) $in))"])
        let data = try JSONEncoder().encode(g)
        #expect(try JSONDecoder().decode(Grammar.self, from: data) == g)
        #expect(g.logWeight(production: "*", context: "map#0")! > g.logWeight(production: "+", context: "map#0")!)
        let bad = Data(#"{"contexts":{"nowhere":{"map":0}}}"#.utf8)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(Grammar.self, from: bad) }
    }
}

@Suite struct GrammarCountsTests {
    static let programs = [
        "(map (+ $0 1) $in)", "(filter (> $0 2) $in)", "(sort $in)", "not a program", "", "(reverse $in)",
        "(map (* $0 2) $in)",
    ]

    @Test("adding programs to a fit equals fitting all of them, and the counts survive encoding")
    func addingEqualsFittingEverything() throws {
        let all = Grammar.fit(programs: Self.programs)
        for split in 0...Self.programs.count {
            let first = Grammar.fit(programs: Array(Self.programs.prefix(split)))
            let added = try #require(first.adding(programs: Array(Self.programs.dropFirst(split))))
            #expect(added == all, "split at \(split)")
        }
        #expect(all.programs == Self.programs.count)
        #expect(all != Grammar.initial)
        let decoded = try JSONDecoder().decode(Grammar.self, from: try JSONEncoder().encode(all))
        #expect(decoded == all)
        #expect(decoded.adding(programs: ["(sort $in)"]) == Grammar.fit(programs: Self.programs + ["(sort $in)"]))
        // A grammar stored before counts were kept decodes without them, and cannot be added to.
        let legacy = try JSONDecoder().decode(Grammar.self, from: Data(#"{"contexts": {}}"#.utf8))
        #expect(legacy.programs == nil && legacy.adding(programs: ["(sort $in)"]) == nil)
    }
}
