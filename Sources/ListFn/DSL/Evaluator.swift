/// The Swift interpreter of the DSL, over programs in prefix code.
///
/// Semantics (check.py implements the same, independently; docs/listfn.md is the reference):
/// every int produced by `+`, `-`, `*`, `sum` must lie within ±`bound`, else the run fails; `head`, `last`, `max`,
/// `min` of an empty list fail; `mod` by zero fails and otherwise takes the divisor's sign (floor modulo);
/// `take`/`drop` clamp their count to `0...count`; `fold f z l` is a left fold, `acc = f acc x`, with the
/// accumulator as `$1` and the element as `$0`; one step per evaluated node, at most `stepLimit` per run.
struct Evaluator {
    static let bound = 1_000_000
    static let stepLimit = 100_000

    /// The program in prefix code; `load` replaces it, reusing storage (the enumerator runs millions).
    private(set) var code: [Int32] = []
    private var ends: [Int] = []
    private var env: [Int] = []
    private var input: [Int] = []
    private var steps = 0

    init() {
        env.reserveCapacity(8)
    }

    init(code: [Int32]) {
        self.init()
        load(code)
    }

    /// Replaces the program; `code` must be a well-typed prefix code.
    mutating func load(_ newCode: [Int32]) {
        code.removeAll(keepingCapacity: true)
        code.append(contentsOf: newCode)
        indexSubtrees()
    }

    /// Replaces the program with production ids (no literals), as the enumerator produces them.
    mutating func load(productions: UnsafeBufferPointer<UInt8>) {
        code.removeAll(keepingCapacity: true)
        for p in productions { code.append(Int32(p)) }
        indexSubtrees()
    }

    /// ends[i] is the index just past the subtree starting at i.
    private mutating func indexSubtrees() {
        if ends.count < code.count { ends = [Int](repeating: 0, count: code.count) }
        var i = code.count - 1
        // Right to left: a node's children have been indexed when it is reached. Literal words are found by a
        // forward scan first, since a literal's value may equal any production id.
        var isValue = [Bool](repeating: false, count: 0)
        if code.contains(Primitive.literal) {
            isValue = [Bool](repeating: false, count: code.count)
            var j = 0
            while j < code.count {
                if code[j] == Primitive.literal {
                    isValue[j + 1] = true
                    j += 2
                } else {
                    j += 1
                }
            }
        }
        while i >= 0 {
            if !isValue.isEmpty && isValue[i] {
                i -= 1
                continue
            }
            let p = code[i]
            if p == Primitive.literal {
                ends[i] = i + 2
            } else {
                var end = i + 1
                for _ in 0..<Primitive.arity(p) { end = ends[end] }
                ends[i] = end
            }
            i -= 1
        }
    }

    mutating func run(input: [Int], type: ListFnType) -> ListFnValue? {
        self.input = input
        steps = 0
        env.removeAll(keepingCapacity: true)
        switch type {
        case .int: return evalInt(0).map { .int($0) }
        case .list: return evalList(0).map { .list($0) }
        case .bool: return nil
        }
    }

    /// Runs and compares with an expected output without building a `ListFnValue`.
    mutating func matches(input: [Int], expected: ListFnValue) -> Bool {
        self.input = input
        steps = 0
        env.removeAll(keepingCapacity: true)
        switch expected {
        case .int(let v): return evalInt(0) == v
        case .list(let l): return evalList(0) == l
        }
    }

    @inline(__always)
    private func bounded(_ v: Int) -> Int? { (v > Self.bound || v < -Self.bound) ? nil : v }

    private mutating func tick() -> Bool {
        steps += 1
        return steps <= Self.stepLimit
    }

    mutating func evalInt(_ i: Int) -> Int? {
        guard tick() else { return nil }
        let p = code[i]
        if p >= Primitive.constantBase && p < Primitive.constantBase + Primitive.constantCount {
            return Int(p - Primitive.constantBase)
        }
        if p == Primitive.literal { return Int(code[i + 1]) }
        if p >= Primitive.variableBase {
            let k = Int(p - Primitive.variableBase)
            return env[env.count - 1 - k]
        }
        switch p {
        case Primitive.add, Primitive.subtract, Primitive.multiply, Primitive.modulo:
            guard let a = evalInt(i + 1), let b = evalInt(ends[i + 1]) else { return nil }
            // Inputs are not bounded, so the arithmetic itself must not trap: overflow is a runtime error, as
            // the result is beyond the bound anyway.
            let r: (partialValue: Int, overflow: Bool)
            switch p {
            case Primitive.add: r = a.addingReportingOverflow(b)
            case Primitive.subtract: r = a.subtractingReportingOverflow(b)
            case Primitive.multiply: r = a.multipliedReportingOverflow(by: b)
            default:
                guard b != 0 else { return nil }
                let m = a.remainderReportingOverflow(dividingBy: b)
                if m.overflow { return 0 }  // Int.min mod -1
                return (m.partialValue != 0 && (m.partialValue < 0) != (b < 0)) ? m.partialValue + b : m.partialValue
            }
            return r.overflow ? nil : bounded(r.partialValue)
        case Primitive.head:
            return evalList(i + 1)?.first
        case Primitive.last:
            return evalList(i + 1)?.last
        case Primitive.length:
            return evalList(i + 1)?.count
        case Primitive.sum:
            guard let l = evalList(i + 1) else { return nil }
            var s: Int128 = 0
            for x in l { s += Int128(x) }
            return (s > Int128(Self.bound) || s < -Int128(Self.bound)) ? nil : Int(s)
        case Primitive.maximum:
            return evalList(i + 1)?.max()
        case Primitive.minimum:
            return evalList(i + 1)?.min()
        case Primitive.fold:
            let body = i + 1
            let initial = ends[body]
            guard var acc = evalInt(initial), let l = evalList(ends[initial]) else { return nil }
            for x in l {
                env.append(acc)
                env.append(x)
                let next = evalInt(body)
                env.removeLast(2)
                guard let next else { return nil }
                acc = next
            }
            return acc
        default:
            return nil
        }
    }

    mutating func evalBool(_ i: Int) -> Bool? {
        guard tick() else { return nil }
        let p = code[i]
        guard let a = evalInt(i + 1), let b = evalInt(ends[i + 1]) else { return nil }
        switch p {
        case Primitive.greater: return a > b
        case Primitive.less: return a < b
        case Primitive.equal: return a == b
        default: return nil
        }
    }

    mutating func evalList(_ i: Int) -> [Int]? {
        guard tick() else { return nil }
        let p = code[i]
        switch p {
        case Primitive.input:
            return input
        case Primitive.map, Primitive.filter:
            let body = i + 1
            guard let l = evalList(ends[body]) else { return nil }
            var out: [Int] = []
            out.reserveCapacity(l.count)
            for x in l {
                env.append(x)
                defer { env.removeLast() }
                if p == Primitive.map {
                    guard let y = evalInt(body) else { return nil }
                    out.append(y)
                } else {
                    guard let keep = evalBool(body) else { return nil }
                    if keep { out.append(x) }
                }
            }
            return out
        case Primitive.reverse:
            return evalList(i + 1)?.reversed()
        case Primitive.sort:
            return evalList(i + 1)?.sorted()
        case Primitive.take, Primitive.drop:
            guard let n = evalInt(i + 1), let l = evalList(ends[i + 1]) else { return nil }
            let k = min(max(n, 0), l.count)
            return p == Primitive.take ? Array(l[..<k]) : Array(l[k...])
        default:
            return nil
        }
    }
}
