import Foundation

/// A programming-by-example task: the prompt the solver sees, the hidden pairs the checker uses, and the
/// hidden program that produced both.
public struct ListFnTask: Sendable, Equatable {
    /// Plain text: a header and one `f([…]) = …` line per shown pair.
    public var prompt: String
    /// The hidden pairs (none of them shown), which the checker judges an answer on.
    public var hidden: [ListFnExample]
    /// The hidden program in concrete syntax.
    public var program: String

    public init(prompt: String, hidden: [ListFnExample], program: String) {
        self.prompt = prompt
        self.hidden = hidden
        self.program = program
    }

    /// Compact JSON `{"examples":[{"input":[…],"output":…},…]}` with the hidden pairs.
    public var referenceJSON: String { PromptFormat.referenceJSON(hidden) }
}

/// Generates tasks by sampling hidden programs from a skewed "true" grammar.
///
/// The true grammar favours a few idioms (doubling maps, threshold and parity filters, sums and maxima of
/// filtered lists…) much as real data favours a few patterns. The solver starts from the uniform prior; the
/// flywheel's job is to discover the skew from the programs it manages to solve.
public enum ListFnGenerator {
    /// Shown pairs in the prompt.
    public static let shownCount = 4
    /// Hidden pairs in the reference.
    public static let hiddenCount = 6

    /// The program sizes (productions, lambdas not counted) allowed at a difficulty, clamped to 1…5.
    public static func sizeRange(difficulty: Int) -> ClosedRange<Int> {
        switch min(max(difficulty, 1), 5) {
        case 1: return 2...3
        case 2: return 2...5
        case 3: return 3...7
        case 4: return 4...9
        default: return 5...11
        }
    }

    /// The task for a seed: the same seed and difficulty always give the same task.
    ///
    /// Programs that fail on the sampled inputs, give the same output for every input, or return their input
    /// unchanged are rejected and resampled, so every task has a non-trivial answer.
    public static func task(seed: UInt64, difficulty: Int) -> ListFnTask {
        var rng = SplitMix64(seed: SplitMix64.mix(seed, UInt64(truncatingIfNeeded: difficulty)))
        let sizes = sizeRange(difficulty: difficulty)
        let grammar = trueCompiled
        while true {
            guard
                let code = sample(
                    grammar, request: rng.below(100) < 55 ? .list : .int, maxSize: sizes.upperBound, &rng),
                sizes.contains(code.count)
            else { continue }
            let type = Primitive.table[Int(code[0])].result
            let program = ListFnProgram(code: code, type: type)
            guard let examples = examples(of: program, &rng) else { continue }
            if examples.allSatisfy({ $0.output == examples[0].output }) { continue }
            if examples.allSatisfy({ $0.output == .list($0.input) }) { continue }
            return ListFnTask(
                prompt: PromptFormat.prompt(Array(examples[..<shownCount])),
                hidden: Array(examples[shownCount...]),
                program: program.description)
        }
    }

    /// A random input list: 3…7 elements in 0…15 (lengths 1…2 now and then, so `head` and friends are tested).
    static func input(_ rng: inout SplitMix64) -> [Int] {
        let length = rng.below(10) == 0 ? 1 + rng.below(2) : 3 + rng.below(5)
        return (0..<length).map { _ in rng.below(16) }
    }

    private static func examples(of program: ListFnProgram, _ rng: inout SplitMix64) -> [ListFnExample]? {
        var out: [ListFnExample] = []
        out.reserveCapacity(shownCount + hiddenCount)
        var failures = 0
        var machine = Evaluator(code: program.code)
        while out.count < shownCount + hiddenCount {
            let x = input(&rng)
            // Ten short lists: comparing them costs less than hashing them into a set.
            guard !out.contains(where: { $0.input == x }) else { continue }
            guard let y = machine.run(input: x, type: program.type) else {
                failures += 1
                if failures > 20 { return nil }
                continue
            }
            out.append(ListFnExample(input: x, output: y))
        }
        return out
    }

    /// Samples a program's prefix code top-down; nil once it grows past `maxSize`.
    static func sample(
        _ g: CompiledGrammar, request: ListFnType, maxSize: Int, _ rng: inout SplitMix64
    ) -> [Int32]? {
        var code: [Int32] = []
        var stack = [CompiledGrammar.rootKey(request)]
        while let key = stack.popLast() {
            if code.count >= maxSize { return nil }
            var u = rng.unit()
            var chosen = g.candidateStart[key + 1] - 1
            for c in g.candidateStart[key]..<g.candidateStart[key + 1] {
                u -= exp(g.candidateLogProbability[c])
                if u < 0 {
                    chosen = c
                    break
                }
            }
            code.append(Int32(g.candidateProduction[chosen]))
            for j in (g.childStart[chosen]..<g.childStart[chosen + 1]).reversed() { stack.append(Int(g.childKeys[j])) }
        }
        return code
    }

    /// The generator's skewed grammar, public so that experiments can compare what was learned with it.
    public static let trueGrammar: Grammar = {
        // Relative weights per context; anything not listed gets `rare`.
        let rare = 0.3
        let table: [String: [String: Double]] = [
            "root": [
                "map": 30, "filter": 20, "sort": 10, "reverse": 8, "take": 4, "drop": 4,
                "sum": 20, "length": 8, "max": 12, "min": 8, "head": 6, "last": 4, "fold": 6, "+": 4, "-": 2,
            ],
            "map#0": ["*": 30, "+": 25, "-": 8, "mod": 10, "$var": 8],
            "map#1": ["$in": 30, "filter": 8, "sort": 4, "reverse": 3, "map": 2],
            "filter#0": [">": 30, "<": 15, "==": 25],
            "filter#1": ["$in": 30, "map": 6, "sort": 3, "reverse": 2],
            "*#0": ["$var": 30, "sum": 1], "*#1": ["2": 25, "3": 15, "4": 3, "5": 2, "$var": 3],
            "+#0": ["$var": 30, "sum": 3, "max": 2], "+#1": ["1": 20, "2": 8, "3": 6, "5": 4, "$var": 3],
            "-#0": ["$var": 30, "max": 3, "sum": 2], "-#1": ["1": 15, "2": 6, "min": 3, "$var": 3],
            "mod#0": ["$var": 30], "mod#1": ["2": 20, "3": 10, "4": 3, "5": 3],
            ">#0": ["$var": 30], ">#1": ["2": 10, "3": 10, "4": 8, "5": 6, "1": 4, "0": 3],
            "<#0": ["$var": 30], "<#1": ["3": 8, "4": 8, "5": 8, "2": 4],
            "==#0": ["mod": 25, "$var": 8], "==#1": ["0": 25, "1": 8, "3": 3],
            "sum#0": ["$in": 20, "map": 10, "filter": 12, "take": 3, "drop": 3, "sort": 1],
            "max#0": ["$in": 15, "filter": 8, "map": 6], "min#0": ["$in": 15, "filter": 8, "map": 6],
            "head#0": ["sort": 15, "filter": 10, "reverse": 5, "$in": 10, "map": 3],
            "last#0": ["sort": 15, "filter": 10, "$in": 10, "map": 3],
            "length#0": ["filter": 25, "$in": 2],
            "reverse#0": ["$in": 15, "sort": 12, "map": 6, "filter": 6],
            "sort#0": ["$in": 15, "map": 8, "filter": 8, "reverse": 2],
            "take#0": ["2": 10, "3": 10, "1": 5],
            "take#1": ["$in": 10, "sort": 10, "reverse": 6, "map": 3, "filter": 3],
            "drop#0": ["1": 10, "2": 10], "drop#1": ["$in": 10, "sort": 10, "reverse": 6, "map": 3, "filter": 3],
            "fold#0": ["+": 20, "*": 10, "-": 3, "$var": 5], "fold#1": ["0": 20, "1": 10],
            "fold#2": ["$in": 20, "filter": 5, "map": 5],
        ]
        var weights = [Double](repeating: log(rare), count: Primitive.contextCount * Primitive.weightCount)
        for (contextName, row) in table {
            guard let c = Primitive.contextNames.firstIndex(of: contextName) else {
                preconditionFailure("unknown context \(contextName)")
            }
            for (name, w) in row {
                guard let k = Primitive.weightNames.firstIndex(of: name) else { preconditionFailure("unknown \(name)") }
                weights[c * Primitive.weightCount + k] = log(w)
            }
        }
        return Grammar(logWeights: weights)
    }()

    static let trueCompiled = CompiledGrammar(trueGrammar)
}
