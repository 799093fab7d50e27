/// Best-first enumeration of complete programs in order of non-increasing probability.
///
/// A search node is a partial program: the productions chosen so far (in prefix order, shared with its
/// ancestors through a parent link) and a stack of open holes (a persistent linked list, shared with its
/// siblings). A node's children fill its leftmost hole with each production allowed there. The priority of a
/// node is its log-probability plus, for every open hole, the log-probability of the best subtree that could
/// fill it (`CompiledGrammar.best`). That bound is admissible and consistent, and exactly zero for a complete
/// program, so complete programs leave the queue in order of non-increasing probability, as in A*.
///
/// Children are pushed lazily: the compiled grammar sorts a hole's candidates by priority, so popping a child
/// pushes only its next sibling and its own first child. The queue holds about two entries per pop instead of
/// one per production. Everything lives in flat integer arrays: no per-node allocation, no strings.
struct Enumerator {
    private let grammar: CompiledGrammar

    private var parent: [Int32] = []
    private var production: [UInt8] = []
    private var holes: [Int32] = []
    private var logProbability: [Double] = []
    private var heuristic: [Double] = []
    private var cellKey: [UInt16] = []
    private var cellNext: [Int32] = []
    private var heap: [HeapEntry] = []
    private var prefix: [UInt8] = []

    /// A child not yet built: `candidate` filling the leftmost hole of `parent`.
    private struct HeapEntry {
        var priority: Double
        var parent: Int32
        var candidate: Int32

        @inline(__always)
        func before(_ other: HeapEntry) -> Bool {
            if priority != other.priority { return priority > other.priority }
            return parent != other.parent ? parent < other.parent : candidate < other.candidate
        }
    }

    /// Stop growing the search past this many nodes (≈ 40 bytes each) whatever the limit.
    static let maxNodes = 20_000_000

    init(grammar: CompiledGrammar) {
        self.grammar = grammar
    }

    /// Emits up to `limit` complete programs of type `request`, most probable first, to `visit`, which gets the
    /// productions in prefix order and the log-probability, and returns true to stop.
    /// - Returns: how many programs were emitted.
    @discardableResult
    mutating func run(
        request: ListFnType, limit: Int, visit: (UnsafeBufferPointer<UInt8>, Double) -> Bool
    ) -> Int {
        parent.removeAll(keepingCapacity: true)
        production.removeAll(keepingCapacity: true)
        holes.removeAll(keepingCapacity: true)
        logProbability.removeAll(keepingCapacity: true)
        heuristic.removeAll(keepingCapacity: true)
        cellKey.removeAll(keepingCapacity: true)
        cellNext.removeAll(keepingCapacity: true)
        heap.removeAll(keepingCapacity: true)
        guard limit > 0 else { return 0 }
        let expected = min(limit, 1 << 20) * 3
        parent.reserveCapacity(expected)
        production.reserveCapacity(expected)
        holes.reserveCapacity(expected)
        logProbability.reserveCapacity(expected)
        heuristic.reserveCapacity(expected)
        cellKey.reserveCapacity(expected * 2)
        cellNext.reserveCapacity(expected * 2)
        heap.reserveCapacity(expected)

        let g = grammar
        let rootKey = CompiledGrammar.rootKey(request)
        cellKey.append(UInt16(rootKey))
        cellNext.append(-1)
        parent.append(-1)
        production.append(0)
        holes.append(0)
        logProbability.append(0)
        heuristic.append(g.best[rootKey])
        let first = g.candidateStart[rootKey]
        push(HeapEntry(priority: g.candidateScore[first], parent: 0, candidate: Int32(first)))

        var emitted = 0
        while let entry = pop() {
            let p = Int(entry.parent)
            let c = Int(entry.candidate)
            let stack = Int(holes[p])
            let key = Int(cellKey[stack])
            let rest = cellNext[stack]
            let base = heuristic[p] - g.best[key]
            if c + 1 < g.candidateStart[key + 1] {
                push(
                    HeapEntry(
                        priority: logProbability[p] + base + g.candidateScore[c + 1], parent: entry.parent,
                        candidate: Int32(c + 1)))
            }
            if parent.count >= Self.maxNodes { break }

            var top = rest
            var h = base
            let firstChild = g.childStart[c]
            var j = g.childStart[c + 1]
            while j > firstChild {
                j -= 1
                let childKey = g.childKeys[j]
                cellKey.append(childKey)
                cellNext.append(top)
                top = Int32(cellKey.count - 1)
                h += g.best[Int(childKey)]
            }
            let lp = logProbability[p] + g.candidateLogProbability[c]
            let node = parent.count
            parent.append(Int32(p))
            production.append(g.candidateProduction[c])
            holes.append(top)
            logProbability.append(lp)

            if top >= 0 {
                heuristic.append(h)
                let nextKey = Int(cellKey[Int(top)])
                let firstCandidate = g.candidateStart[nextKey]
                push(
                    HeapEntry(
                        priority: lp + h - g.best[nextKey] + g.candidateScore[firstCandidate], parent: Int32(node),
                        candidate: Int32(firstCandidate)))
                continue
            }
            heuristic.append(0)
            emitted += 1
            prefix.removeAll(keepingCapacity: true)
            var n = node
            while n > 0 {
                prefix.append(production[n])
                n = Int(parent[n])
            }
            prefix.reverse()
            let stop = prefix.withUnsafeBufferPointer { visit($0, lp) }
            if stop || emitted >= limit { break }
        }
        return emitted
    }

    // A 4-ary heap: half the depth of a binary one, and the four children of a node share a cache line.
    private mutating func push(_ e: HeapEntry) {
        heap.append(e)
        var i = heap.count - 1
        while i > 0 {
            let p = (i - 1) >> 2
            if !e.before(heap[p]) { break }
            heap[i] = heap[p]
            i = p
        }
        heap[i] = e
    }

    private mutating func pop() -> HeapEntry? {
        guard let last = heap.popLast() else { return nil }
        guard !heap.isEmpty else { return last }
        let top = heap[0]
        let n = heap.count
        var i = 0
        while true {
            let first = 4 * i + 1
            if first >= n { break }
            var c = first
            let end = min(first + 4, n)
            var k = first + 1
            while k < end {
                if heap[k].before(heap[c]) { c = k }
                k += 1
            }
            if !heap[c].before(last) { break }
            heap[i] = heap[c]
            i = c
        }
        heap[i] = last
        return top
    }
}
