import Foundation

/// A contextual probabilistic grammar over DSL programs, as in DreamCoder/EC.
///
/// The probability of filling a hole depends on its context, the parent primitive and argument slot (or the
/// root), and is normalised over the productions that have the hole's type and are allowed at its lambda depth:
/// `P(p | context, type, depth) = exp(w[context][p]) / Σ exp(w[context][q])`. All de Bruijn variables in scope
/// share one weight `$var`, split equally between them. Lambdas are implied by `map`, `filter` and `fold` and
/// cost nothing. Higher-order primitives are not offered when their lambda would take the variable environment
/// deeper than 3, so a program nested deeper has no probability (and is ignored by `fit`).
public struct Grammar: Codable, Sendable, Equatable {
    /// Log-weights, `contextCount × weightCount`, row-major by context.
    var logWeights: [Double]
    /// The production counts `fit` derived the weights from, and how many programs it was given: what learning from
    /// more programs needs (`adding(programs:)`). Nil in a grammar that was not fitted (the generator's), or one
    /// stored before they were kept.
    var counts: [Int]?
    public private(set) var programs: Int?

    /// Grammars are equal when they give every program the same probability and add the same counts to more
    /// programs; how many programs (parsed or not) they were fitted to is bookkeeping.
    public static func == (lhs: Grammar, rhs: Grammar) -> Bool {
        lhs.logWeights == rhs.logWeights && lhs.counts == rhs.counts
    }

    init(logWeights: [Double]) {
        precondition(logWeights.count == Primitive.contextCount * Primitive.weightCount)
        self.logWeights = logWeights
    }

    private init(counts: [Int], programs: Int, pseudocount: Double) {
        let alpha = max(pseudocount, 1e-9)
        self.init(logWeights: counts.map { log(Double($0) + alpha) })
        self.counts = counts
        self.programs = programs
    }

    /// The uninformed prior: every production equally likely in every context; the fit of no programs.
    public static var initial: Grammar { fit(programs: []) }

    /// Re-fits the grammar to accepted programs: the smoothed MAP estimate under a symmetric Dirichlet prior,
    /// `w[context][p] = log(count(context, p) + pseudocount)`.
    ///
    /// - Parameters:
    ///   - programs: accepted programs in concrete syntax; those that fail to parse, type-check or have no
    ///     probability under the grammar's depth limit are ignored. Duplicates count as often as they occur.
    ///   - pseudocount: added to every count; with no programs the result is `Grammar.initial`. Must be > 0.
    public static func fit(programs: [String], pseudocount: Double = 1.0) -> Grammar {
        let counts = [Int](repeating: 0, count: Primitive.contextCount * Primitive.weightCount)
        return Grammar(counts: count(programs, into: counts), programs: programs.count, pseudocount: pseudocount)
    }

    /// The fit of the programs this grammar was fitted to plus `programs`, from its counts alone: equal to `fit` of
    /// all of them (the same counts, so the same weights), at the cost of the new programs only. Nil for a grammar
    /// without counts.
    public func adding(programs more: [String], pseudocount: Double = 1.0) -> Grammar? {
        guard let counts, let programs else { return nil }
        return Grammar(
            counts: Self.count(more, into: counts), programs: programs + more.count, pseudocount: pseudocount)
    }

    /// `counts` plus each production use of `programs` (those that do not parse or type-check are skipped).
    private static func count(_ programs: [String], into counts: [Int]) -> [Int] {
        var counts = counts
        for source in programs {
            guard let program = try? ListFnProgram(parsing: source),
                let uses = GrammarWalk.uses(of: program.code, type: program.type)
            else { continue }
            for use in uses { counts[use.context * Primitive.weightCount + use.weight] += 1 }
        }
        return counts
    }

    /// The log-probability of a program under this grammar.
    ///
    /// - Returns: nil if the program does not parse or type-check, or uses something the grammar cannot
    ///   produce (an integer literal other than 0…5, or lambdas nested deeper than 3 variables).
    public func logProbability(of program: String) -> Double? {
        guard let parsed = try? ListFnProgram(parsing: program) else { return nil }
        guard let uses = GrammarWalk.uses(of: parsed.code, type: parsed.type) else { return nil }
        var total = 0.0
        for use in uses {
            // Normalise over the productions the hole allows, as CompiledGrammar does for the enumerator; the
            // two are computed separately and the tests hold them equal.
            let row = use.context * Primitive.weightCount
            var weights: [Double] = []
            for p in 0..<Primitive.count
            where Primitive.table[p].result == use.type && use.depth + Primitive.maxBinds[p] <= Primitive.maxDepth {
                weights.append(logWeights[row + p])
            }
            let variable = logWeights[row + Primitive.variableWeightIndex] - log(Double(max(use.depth, 1)))
            if use.type == .int {
                for _ in 0..<use.depth { weights.append(variable) }
            }
            let top = weights.max() ?? 0
            let logZ = top + log(weights.reduce(0) { $0 + exp($1 - top) })
            let own = use.weight == Primitive.variableWeightIndex ? variable : logWeights[row + use.weight]
            total += own - logZ
        }
        return total
    }

    /// The log-weight of `production` (a primitive name, a constant, or `$var`) in `context` (`root` or
    /// `primitive#slot`, e.g. `map#0` for the body of map's lambda); nil for unknown names.
    public func logWeight(production: String, context: String) -> Double? {
        guard let c = Primitive.contextNames.firstIndex(of: context),
            let w = Primitive.weightNames.firstIndex(of: production)
        else { return nil }
        return logWeights[c * Primitive.weightCount + w]
    }

    // MARK: Codable: {"contexts": {"root": {"map": 0.0, …}, "map#0": {…}, …}, "counts": {…}, "programs": N}
    // The non-zero counts by context and production, like the weights; both absent in a grammar without counts.

    private enum CodingKeys: String, CodingKey { case contexts, counts, programs }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let contexts = try container.decode([String: [String: Double]].self, forKey: .contexts)
        var weights = [Double](repeating: 0, count: Primitive.contextCount * Primitive.weightCount)
        for (contextName, row) in contexts {
            guard let c = Primitive.contextNames.firstIndex(of: contextName) else {
                throw DecodingError.dataCorruptedError(
                    forKey: .contexts, in: container, debugDescription: "unknown grammar context '\(contextName)'")
            }
            for (name, w) in row {
                guard let k = Primitive.weightNames.firstIndex(of: name), w.isFinite else {
                    throw DecodingError.dataCorruptedError(
                        forKey: .contexts, in: container,
                        debugDescription: "bad weight '\(name)' in context '\(contextName)'")
                }
                weights[c * Primitive.weightCount + k] = w
            }
        }
        self.init(logWeights: weights)
        guard let programs = try container.decodeIfPresent(Int.self, forKey: .programs) else { return }
        let table = try container.decodeIfPresent([String: [String: Int]].self, forKey: .counts) ?? [:]
        var counts = [Int](repeating: 0, count: Primitive.contextCount * Primitive.weightCount)
        for (contextName, row) in table {
            for (name, count) in row {
                guard let c = Primitive.contextNames.firstIndex(of: contextName),
                    let k = Primitive.weightNames.firstIndex(of: name), count >= 0
                else {
                    throw DecodingError.dataCorruptedError(
                        forKey: .counts, in: container,
                        debugDescription: "bad count '\(name)' in context '\(contextName)'")
                }
                counts[c * Primitive.weightCount + k] = count
            }
        }
        self.counts = counts
        self.programs = programs
    }

    public func encode(to encoder: any Encoder) throws {
        var contexts: [String: [String: Double]] = [:]
        for (c, contextName) in Primitive.contextNames.enumerated() {
            var row: [String: Double] = [:]
            for (k, name) in Primitive.weightNames.enumerated() {
                row[name] = logWeights[c * Primitive.weightCount + k]
            }
            contexts[contextName] = row
        }
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(contexts, forKey: .contexts)
        guard let counts, let programs else { return }
        var table: [String: [String: Int]] = [:]
        for (index, count) in counts.enumerated() where count > 0 {
            table[Primitive.contextNames[index / Primitive.weightCount], default: [:]][
                Primitive.weightNames[index % Primitive.weightCount]] = count
        }
        try container.encode(table, forKey: .counts)
        try container.encode(programs, forKey: .programs)
    }
}

/// Walks a program's prefix code, naming the context and weight of every production.
enum GrammarWalk {
    struct Use {
        var context: Int
        var weight: Int
        var depth: Int
        var type: ListFnType
        var production: Int32
    }

    /// Every production use in prefix order; nil if the program has a literal or exceeds the depth limit.
    static func uses(of code: [Int32], type: ListFnType) -> [Use]? {
        var out: [Use] = []
        var i = 0
        guard walk(code, &i, context: Primitive.rootContext, type: type, depth: 0, into: &out) else { return nil }
        return out
    }

    private static func walk(
        _ code: [Int32], _ i: inout Int, context: Int, type: ListFnType, depth: Int, into out: inout [Use]
    ) -> Bool {
        let p = code[i]
        i += 1
        if p == Primitive.literal { return false }
        if p >= Primitive.variableBase {
            out.append(
                Use(context: context, weight: Primitive.variableWeightIndex, depth: depth, type: type, production: p))
            return Int(p - Primitive.variableBase) < depth
        }
        guard depth + Primitive.maxBinds[Int(p)] <= Primitive.maxDepth else { return false }
        out.append(Use(context: context, weight: Int(p), depth: depth, type: type, production: p))
        let info = Primitive.table[Int(p)]
        for slot in info.arguments.indices {
            guard
                walk(
                    code, &i, context: Primitive.context(parent: p, slot: slot), type: info.arguments[slot],
                    depth: depth + info.binds[slot], into: &out)
            else { return false }
        }
        return true
    }
}
