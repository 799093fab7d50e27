import Foundation

/// A grammar turned into flat tables for the enumerator and the sampler.
///
/// A hole is identified by a small integer key (context, type, lambda depth). For each key the table lists the
/// productions that may fill it, best possible completion first, with their normalised log-probability and the
/// keys of the holes they open. `best[key]` is the log-probability of the most probable complete subtree for the hole, an
/// upper bound the enumerator uses as an A* heuristic.
final class CompiledGrammar: Sendable {
    static let depthSlots = Primitive.maxDepth + 1
    static let keyCount = Primitive.contextCount * 3 * depthSlots

    @inline(__always)
    static func key(context: Int, type: ListFnType, depth: Int) -> Int {
        (context * 3 + typeIndex(type)) * depthSlots + depth
    }

    @inline(__always)
    static func typeIndex(_ t: ListFnType) -> Int {
        switch t {
        case .int: return 0
        case .bool: return 1
        case .list: return 2
        }
    }

    /// Candidates of key k are `candidateStart[k] ..< candidateStart[k + 1]`.
    let candidateStart: [Int]
    let candidateProduction: [UInt8]
    let candidateLogProbability: [Double]
    /// The candidate's log-probability plus the best completion of the holes it opens; candidates of a key
    /// are sorted by it, highest first.
    let candidateScore: [Double]
    /// Child keys of candidate c are `childKeys[childStart[c] ..< childStart[c + 1]]`, in argument order.
    let childStart: [Int]
    let childKeys: [UInt16]
    let best: [Double]

    /// The enumerator's copy of `best` and `candidateStart`, one record per key.
    struct Hole {
        var best: Double
        var candidateStart: Int32
        var candidateEnd: Int32
    }

    /// The enumerator's copy of the per-candidate tables, one record per candidate (32 bytes, so one step of the
    /// search reads one cache line per candidate instead of one per table).
    struct Candidate {
        var score: Double
        var logProbability: Double
        var childStart: Int32
        var childEnd: Int32
        var production: UInt8
    }

    let holes: [Hole]
    let candidates: [Candidate]

    init(_ grammar: Grammar) {
        var candidateStart: [Int] = [0]
        var candidateProduction: [UInt8] = []
        var candidateLogProbability: [Double] = []
        var childStart: [Int] = [0]
        var childKeys: [UInt16] = []
        for context in 0..<Primitive.contextCount {
            let row = Array(
                grammar.logWeights[(context * Primitive.weightCount)..<((context + 1) * Primitive.weightCount)])
            for type in [ListFnType.int, .bool, .list] {
                for depth in 0..<Self.depthSlots {
                    var options: [(production: Int32, weight: Double)] = []
                    for p in 0..<Primitive.count {
                        let info = Primitive.table[p]
                        if info.result == type && depth + Primitive.maxBinds[p] <= Primitive.maxDepth {
                            options.append((Int32(p), row[p]))
                        }
                    }
                    if type == .int && depth > 0 {
                        let w = row[Primitive.variableWeightIndex] - log(Double(depth))
                        for k in 0..<depth { options.append((Primitive.variableBase + Int32(k), w)) }
                    }
                    let top = options.map(\.weight).max() ?? 0
                    let logZ = top + log(options.reduce(0) { $0 + exp($1.weight - top) })
                    // Stable: equal weights keep production-id order, so enumeration order is reproducible.
                    let sorted = options.enumerated().sorted {
                        $0.element.weight != $1.element.weight
                            ? $0.element.weight > $1.element.weight : $0.offset < $1.offset
                    }
                    for (_, option) in sorted {
                        candidateProduction.append(UInt8(option.production))
                        candidateLogProbability.append(option.weight - logZ)
                        if option.production < Int32(Primitive.count) {
                            let p = option.production
                            let info = Primitive.table[Int(p)]
                            for slot in info.arguments.indices {
                                let childKey = Self.key(
                                    context: Primitive.context(parent: p, slot: slot), type: info.arguments[slot],
                                    depth: depth + info.binds[slot])
                                childKeys.append(UInt16(childKey))
                            }
                        }
                        childStart.append(childKeys.count)
                    }
                    candidateStart.append(candidateProduction.count)
                }
            }
        }
        // Most probable complete subtree per key: Bellman-Ford style relaxation from -inf.
        var best = [Double](repeating: -.infinity, count: Self.keyCount)
        var changed = true
        var rounds = 0
        while changed && rounds < 200 {
            changed = false
            rounds += 1
            for k in 0..<Self.keyCount {
                var value = best[k]
                for c in candidateStart[k]..<candidateStart[k + 1] {
                    var v = candidateLogProbability[c]
                    for j in childStart[c]..<childStart[c + 1] { v += best[Int(childKeys[j])] }
                    if v > value { value = v }
                }
                if value > best[k] + 1e-12 || (best[k] == -.infinity && value > -.infinity) {
                    best[k] = value
                    changed = true
                }
            }
        }
        // Re-order each key's candidates by the best completion through them, so that the enumerator's
        // siblings come in non-increasing priority and can be pushed lazily, one at a time.
        var score = [Double](repeating: 0, count: candidateProduction.count)
        for c in score.indices {
            var v = candidateLogProbability[c]
            for j in childStart[c]..<childStart[c + 1] { v += best[Int(childKeys[j])] }
            score[c] = v
        }
        var production2: [UInt8] = []
        var logProbability2: [Double] = []
        var score2: [Double] = []
        var childStart2: [Int] = [0]
        var childKeys2: [UInt16] = []
        for k in 0..<Self.keyCount {
            let order = (candidateStart[k]..<candidateStart[k + 1]).sorted {
                score[$0] != score[$1] ? score[$0] > score[$1] : $0 < $1
            }
            for c in order {
                production2.append(candidateProduction[c])
                logProbability2.append(candidateLogProbability[c])
                score2.append(score[c])
                childKeys2.append(contentsOf: childKeys[childStart[c]..<childStart[c + 1]])
                childStart2.append(childKeys2.count)
            }
        }
        self.candidateStart = candidateStart
        self.candidateProduction = production2
        self.candidateLogProbability = logProbability2
        self.candidateScore = score2
        self.childStart = childStart2
        self.childKeys = childKeys2
        self.best = best
        holes = (0..<Self.keyCount).map {
            Hole(best: best[$0], candidateStart: Int32(candidateStart[$0]), candidateEnd: Int32(candidateStart[$0 + 1]))
        }
        candidates = production2.indices.map {
            Candidate(
                score: score2[$0], logProbability: logProbability2[$0], childStart: Int32(childStart2[$0]),
                childEnd: Int32(childStart2[$0 + 1]), production: production2[$0])
        }
    }

    static func rootKey(_ type: ListFnType) -> Int {
        key(context: Primitive.rootContext, type: type, depth: 0)
    }
}
