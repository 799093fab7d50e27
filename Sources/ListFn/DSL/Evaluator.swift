/// The Swift interpreter of the DSL, over programs in prefix code.
///
/// Semantics (check.py implements the same, independently; docs/listfn.md is the reference):
/// every int produced by `+`, `-`, `*`, `sum` must lie within ±`bound`, else the run fails; `head`, `last`, `max`,
/// `min` of an empty list fail; `mod` by zero fails and otherwise takes the divisor's sign (floor modulo);
/// `take`/`drop` clamp their count to `0...count`; `fold f z l` is a left fold, `acc = f acc x`, with the
/// accumulator as `$1` and the element as `$0`; one step per evaluated node, at most `stepLimit` per run.
///
/// The solver runs millions of candidates, so a run allocates nothing and touches no reference count: list
/// values live in a scratch arena reused from run to run (see `Machine`), and the program, its subtree index
/// and the arena are borrowed as raw buffers for the length of one call.
struct Evaluator {
    static let bound = 1_000_000
    static let stepLimit = 100_000

    /// Everything a run reads and writes, in one buffer so that a run borrows it with a single access (no
    /// retain, no copy): the program in prefix code (`codeCount` words), `ends[i]`, the index just past the
    /// subtree starting at `i` (`codeCount` words; unused for a literal's value word), the variable
    /// environment (`envCapacity` words), then the arena of list values.
    private var memory: [Int] = []
    private var codeCount = 0

    /// Each lambda on the path from the root binds at most two variables.
    private var envCapacity: Int { 2 * codeCount + 2 }
    private var arenaStart: Int { 2 * codeCount + envCapacity }

    init() {}

    init(code: [Int32]) {
        load(code)
    }

    /// Replaces the program; `code` must be a well-typed prefix code.
    mutating func load(_ code: [Int32]) {
        code.withUnsafeBufferPointer { code in
            load(count: code.count, hasLiterals: code.contains(Primitive.literal)) { Int(code[$0]) }
        }
    }

    /// Replaces the program with production ids (no literals), as the enumerator produces them.
    mutating func load(productions: UnsafeBufferPointer<UInt8>) {
        load(count: productions.count, hasLiterals: false) { Int(productions[$0]) }
    }

    @inline(__always)
    private mutating func load(count: Int, hasLiterals: Bool, word: (Int) -> Int) {
        codeCount = count
        reserve(inputCount: 0)
        memory.withUnsafeMutableBufferPointer { memory in
            let code = memory.baseAddress!
            let ends = code + count
            for i in 0..<count { code[i] = word(i) }
            // Literal words are found by a forward scan first, since a literal's value may equal any production id.
            var isValue: [Bool] = []
            if hasLiterals {
                isValue = [Bool](repeating: false, count: count)
                var j = 0
                while j < count {
                    if code[j] == Int(Primitive.literal) {
                        isValue[j + 1] = true
                        j += 2
                    } else {
                        j += 1
                    }
                }
            }
            // Right to left: a node's children have been indexed when it is reached.
            var i = count - 1
            while i >= 0 {
                if hasLiterals && isValue[i] {
                    i -= 1
                    continue
                }
                let p = Int32(truncatingIfNeeded: code[i])
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
    }

    mutating func run(input: [Int], type: ListFnType) -> ListFnValue? {
        input.withUnsafeBufferPointer { input in
            withMachine(input: input) { m -> ListFnValue? in
                switch type {
                case .int: return m.evalInt(0).map { .int($0) }
                case .list: return m.evalList(0).map { .list(Array(m.elements($0))) }
                case .bool: return nil
                }
            }
        }
    }

    /// Runs and compares with an expected output without building a `ListFnValue`.
    mutating func matches(input: [Int], expected: ListFnValue) -> Bool {
        switch expected {
        case .int(let v):
            return input.withUnsafeBufferPointer { input in
                withMachine(input: input) { $0.evalInt(0) == v }
            }
        case .list(let l):
            return input.withUnsafeBufferPointer { input in
                l.withUnsafeBufferPointer { l in
                    withMachine(input: input) { m in m.evalList(0).map { m.elements($0).elementsEqual(l) } ?? false }
                }
            }
        }
    }

    /// Whether the loaded program reproduces every pair of `examples`, stopping at the first that it does not.
    mutating func fits(_ examples: PackedExamples) -> Bool {
        reserve(inputCount: examples.longestInput)
        return examples.words.withUnsafeBufferPointer { words in
            examples.pairs.withUnsafeBufferPointer { pairs in
                for e in pairs {
                    let ok = withMachine(input: UnsafeBufferPointer(rebasing: words[e.input])) { m in
                        if e.outputIsList {
                            guard let l = m.evalList(0) else { return false }
                            return m.elements(l).elementsEqual(words[e.output])
                        }
                        return m.evalInt(0) == e.outputInt
                    }
                    if !ok { return false }
                }
                return true
            }
        }
    }

    /// Room for any run of the loaded program on an input of up to `inputCount` elements.
    ///
    /// No DSL operation makes a list longer than its input, and a run holds at most one list per node on the
    /// path from the root to the node being evaluated (see `Machine`), plus the input: `(codeCount + 1) ×
    /// inputCount` words of arena.
    private mutating func reserve(inputCount: Int) {
        let needed = arenaStart + (codeCount + 1) * inputCount + 1
        if memory.count < needed {
            // Appending keeps the program that is already loaded.
            memory.append(contentsOf: repeatElement(0, count: max(needed, 2 * memory.count) - memory.count))
        }
    }

    /// Calls `body` with a machine set up to run the loaded program on `input` (copied into the arena).
    @inline(__always)
    private mutating func withMachine<R>(input: UnsafeBufferPointer<Int>, _ body: (inout Machine) -> R) -> R {
        reserve(inputCount: input.count)
        let (codeCount, envCapacity, arenaStart) = (self.codeCount, self.envCapacity, self.arenaStart)
        return memory.withUnsafeMutableBufferPointer { memory in
            // Borrowed for this call only; `reserve` made room for the run.
            let base = memory.baseAddress!
            let arena = base + arenaStart
            for k in 0..<input.count { arena[k] = input[k] }
            var m = Machine(
                code: base, ends: base + codeCount, env: base + 2 * codeCount, envCapacity: envCapacity,
                arena: arena, arenaCapacity: memory.count - arenaStart, inputCount: input.count)
            return body(&m)
        }
    }
}

/// Input/output pairs flattened into one array of words, so that checking a candidate reads them without a
/// reference count or an enum payload per pair.
struct PackedExamples {
    struct Pair {
        var input: Range<Int>
        var outputIsList: Bool
        var output: Range<Int>
        var outputInt: Int
    }

    var words: [Int] = []
    var pairs: [Pair] = []
    var longestInput = 0

    init(_ examples: [ListFnExample]) {
        for e in examples {
            let input = words.count..<(words.count + e.input.count)
            words += e.input
            longestInput = max(longestInput, e.input.count)
            switch e.output {
            case .int(let v):
                pairs.append(Pair(input: input, outputIsList: false, output: 0..<0, outputInt: v))
            case .list(let l):
                pairs.append(Pair(input: input, outputIsList: true, output: words.count..<(words.count + l.count), outputInt: 0))
                words += l
            }
        }
    }
}

/// A list value inside the arena: `count` words from `start`.
private struct ListRef {
    var start: Int
    var count: Int
}

/// One run of a program on one input, over storage borrowed from the `Evaluator`.
///
/// List values live in `arena` with stack discipline: the input is copied to `arena[0..<inputCount]`, and a
/// node that needs room for a new list takes it at `top`. A node that consumes a list (`head`, `sum`, `fold`,
/// …) resets `top` to where it was before, so the room is reused; a list node whose argument is a fresh list
/// made for it (it starts at or above the node's own starting `top`) works in place (`map`, `filter`,
/// `reverse`, `sort`, `take`, `drop`), so a list node holds at most one list at a time. Lists derived from
/// the input without copying (`$in`, `take`, `drop`) point into `arena[0..<inputCount]` and are never written.
/// The evaluation order and the steps counted are those of the plain recursive interpreter.
private struct Machine {
    let code: UnsafePointer<Int>
    let ends: UnsafePointer<Int>
    let env: UnsafeMutablePointer<Int>
    let envCapacity: Int
    let arena: UnsafeMutablePointer<Int>
    let arenaCapacity: Int
    let inputCount: Int
    var envCount = 0
    var top: Int
    var steps = 0

    init(
        code: UnsafeMutablePointer<Int>, ends: UnsafeMutablePointer<Int>, env: UnsafeMutablePointer<Int>,
        envCapacity: Int, arena: UnsafeMutablePointer<Int>, arenaCapacity: Int, inputCount: Int
    ) {
        self.code = UnsafePointer(code)
        self.ends = UnsafePointer(ends)
        self.env = env
        self.envCapacity = envCapacity
        self.arena = arena
        self.arenaCapacity = arenaCapacity
        self.inputCount = inputCount
        top = inputCount
    }

    func elements(_ l: ListRef) -> UnsafeBufferPointer<Int> {
        UnsafeBufferPointer(start: arena + l.start, count: l.count)
    }

    @inline(__always)
    private func bounded(_ v: Int) -> Int? { (v > Evaluator.bound || v < -Evaluator.bound) ? nil : v }

    @inline(__always)
    private mutating func tick() -> Bool {
        steps += 1
        return steps <= Evaluator.stepLimit
    }

    /// Room for a new list of up to `count` elements at `top`.
    @inline(__always)
    private mutating func allocate(_ count: Int) -> Int {
        // `Evaluator.reserve(inputCount:)` sizes the arena so that this cannot fail; checked anyway, since a wrong
        // bound would otherwise write past the buffer.
        precondition(top + count <= arenaCapacity, "listfn evaluator arena overflow")
        let start = top
        top += count
        return start
    }

    @inline(__always)
    private mutating func bind(_ x: Int) {
        assert(envCount < envCapacity)
        env[envCount] = x
        envCount += 1
    }

    mutating func evalInt(_ i: Int) -> Int? {
        guard tick() else { return nil }
        let p = Int32(truncatingIfNeeded: code[i])
        if p >= Primitive.constantBase && p < Primitive.constantBase + Primitive.constantCount {
            return Int(p - Primitive.constantBase)
        }
        if p == Primitive.literal { return code[i + 1] }
        if p >= Primitive.variableBase {
            let k = Int(p - Primitive.variableBase)
            return env[envCount - 1 - k]
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
        case Primitive.head, Primitive.last, Primitive.length, Primitive.sum, Primitive.maximum, Primitive.minimum:
            let mark = top
            defer { top = mark }
            guard let l = evalList(i + 1) else { return nil }
            let xs = elements(l)
            switch p {
            case Primitive.head: return xs.first
            case Primitive.last: return xs.last
            case Primitive.length: return xs.count
            case Primitive.sum:
                var s: Int128 = 0
                for x in xs { s += Int128(x) }
                return (s > Int128(Evaluator.bound) || s < -Int128(Evaluator.bound)) ? nil : Int(s)
            case Primitive.maximum: return xs.max()
            default: return xs.min()
            }
        case Primitive.fold:
            let body = i + 1
            let initial = ends[body]
            let mark = top
            defer { top = mark }
            guard var acc = evalInt(initial), let l = evalList(ends[initial]) else { return nil }
            // The list stays below `top` while the body runs: the body only takes room above it.
            for k in 0..<l.count {
                bind(acc)
                bind(arena[l.start + k])
                let next = evalInt(body)
                envCount -= 2
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
        let p = Int32(truncatingIfNeeded: code[i])
        guard let a = evalInt(i + 1), let b = evalInt(ends[i + 1]) else { return nil }
        switch p {
        case Primitive.greater: return a > b
        case Primitive.less: return a < b
        case Primitive.equal: return a == b
        default: return nil
        }
    }

    mutating func evalList(_ i: Int) -> ListRef? {
        guard tick() else { return nil }
        let p = Int32(truncatingIfNeeded: code[i])
        switch p {
        case Primitive.input:
            return ListRef(start: 0, count: inputCount)
        case Primitive.map, Primitive.filter:
            let body = i + 1
            let mark = top
            guard let l = evalList(ends[body]) else { return nil }
            // In place over a fresh argument: element k is read before slot k is written, and the body only
            // takes room above `top`. An argument from the input is left alone and the result made at `top`.
            let out = l.start >= mark ? l.start : allocate(l.count)
            var n = 0
            for k in 0..<l.count {
                let x = arena[l.start + k]
                bind(x)
                if p == Primitive.map {
                    guard let y = evalInt(body) else { return nil }
                    arena[out + n] = y
                    n += 1
                } else {
                    guard let keep = evalBool(body) else { return nil }
                    if keep {
                        arena[out + n] = x
                        n += 1
                    }
                }
                envCount -= 1
            }
            return ListRef(start: out, count: n)
        case Primitive.reverse, Primitive.sort:
            let mark = top
            guard let l = evalList(i + 1) else { return nil }
            var out = l
            if l.start < mark {
                out.start = allocate(l.count)
                (arena + out.start).update(from: arena + l.start, count: l.count)
            }
            var xs = UnsafeMutableBufferPointer(start: arena + out.start, count: out.count)
            if p == Primitive.reverse { xs.reverse() } else { xs.sort() }
            return out
        case Primitive.take, Primitive.drop:
            guard let n = evalInt(i + 1), let l = evalList(ends[i + 1]) else { return nil }
            let k = min(max(n, 0), l.count)
            return p == Primitive.take
                ? ListRef(start: l.start, count: k) : ListRef(start: l.start + k, count: l.count - k)
        default:
            return nil
        }
    }
}
