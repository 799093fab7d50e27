/// Best-first enumeration of complete programs in order of non-increasing probability.
///
/// A search node is a partial program: the productions chosen so far (in prefix order, shared with its
/// ancestors through a parent link) and a stack of open holes (a persistent linked list, shared with its
/// siblings). A node's children fill its leftmost hole with each production allowed there. The priority of a
/// node is its log-probability plus, for every open hole, the log-probability of the best subtree that could
/// fill it (`CompiledGrammar.best`). That bound is admissible and consistent, and exactly zero for a complete
/// program, so complete programs leave the queue in order of non-increasing probability, as in A*. Equal
/// priorities are broken by (parent node, candidate), both numbered in creation order, so the order is total
/// and the same on every run.
///
/// Children are pushed lazily: the compiled grammar sorts a hole's candidates by priority, so popping a child
/// pushes only its next sibling and its own first child. The queue holds about two entries per pop instead of
/// one per production. Everything lives in flat buffers of plain values: no per-node allocation, no strings, no
/// reference counting in the loop.
struct Enumerator {
    private let grammar: CompiledGrammar

    /// A partial program with open holes. Complete programs are emitted, never stored: nothing points to them.
    private struct Node {
        var logProbability: Double
        /// The sum of `best` over the open holes.
        var heuristic: Double
        var parent: Int32
        /// Top of the stack of open holes (an index into `cells`); never -1 for a stored node.
        var holes: Int32
        /// Productions from the root to this node, this one included.
        var length: Int32
        var production: UInt8
    }

    /// The first 16 productions of a node, byte k of the pair (little-endian) being production k, so that
    /// emitting a program copies its parent's prefix instead of walking the parent links.
    private struct Prefix {
        static let capacity = 16
        var low: UInt64 = 0
        var high: UInt64 = 0

        @inline(__always)
        mutating func set(_ k: Int, _ production: UInt8) {
            if k < 8 {
                low |= UInt64(production) << (8 * k)
            } else {
                high |= UInt64(production) << (8 * (k - 8))
            }
        }
    }

    /// One open hole: its key, and the hole below it on the stack (-1 at the bottom).
    private struct Cell {
        var next: Int32
        var key: UInt16
    }

    /// A child not yet built: `candidate` filling the leftmost hole of `parent`, with its priority.
    ///
    /// The queue's order, higher priority first and then lower (parent, candidate), is encoded as one unsigned
    /// integer, smallest first, so that a comparison is one 128-bit compare without branches: the priority's bits
    /// in the high half, mapped so that a higher priority gives a smaller number, then `parent`, then `candidate`.
    private struct HeapEntry {
        var key: UInt128

        @inline(__always)
        init(priority: Double, parent: Int32, candidate: Int32) {
            // `+ 0` turns -0 into +0, which are equal as doubles but not as bits; it leaves any other value as it
            // is. (No priority is NaN: every hole has a finite best completion.)
            let bits = (priority + 0).bitPattern
            // IEEE doubles in increasing order as unsigned integers: negative ones with all bits flipped,
            // positive ones with the sign bit set.
            let ascending = bits & (1 << 63) != 0 ? ~bits : bits | (1 << 63)
            key = UInt128(~ascending) << 64 | UInt128(UInt32(parent)) << 32 | UInt128(UInt32(candidate))
        }

        var parent: Int { Int(UInt32(truncatingIfNeeded: key >> 32)) }
        var candidate: Int { Int(UInt32(truncatingIfNeeded: key)) }

        @inline(__always)
        func before(_ other: HeapEntry) -> Bool { key < other.key }
    }

    /// Stop growing the search past this many nodes (≈ 40 bytes each) whatever the limit. Complete programs
    /// count as nodes too, although they are not stored.
    static let maxNodes = 20_000_000

    init(grammar: CompiledGrammar) {
        self.grammar = grammar
    }

    /// Emits up to `limit` complete programs of type `request`, most probable first, to `visit`, which gets the
    /// productions in prefix order and the log-probability, and returns true to stop.
    /// - Returns: how many programs were emitted.
    @discardableResult
    func run(
        request: ListFnType, limit: Int, visit: (UnsafeBufferPointer<UInt8>, Double) -> Bool
    ) -> Int {
        guard limit > 0 else { return 0 }
        let g = grammar
        // The grammar's tables are immutable and outlive this call; reading them through buffer pointers keeps
        // bounds checks and retains out of the loop. Every index comes from the tables themselves.
        return g.holes.withUnsafeBufferPointer { holeTable in
            g.candidates.withUnsafeBufferPointer { candidateTable in
                g.childKeys.withUnsafeBufferPointer { childKeys in
                    search(
                        request: request, limit: limit, holeTable: holeTable, candidateTable: candidateTable,
                        childKeys: childKeys, visit: visit)
                }
            }
        }
    }

    @inline(__always)
    private func search(
        request: ListFnType, limit: Int, holeTable: UnsafeBufferPointer<CompiledGrammar.Hole>,
        candidateTable: UnsafeBufferPointer<CompiledGrammar.Candidate>, childKeys: UnsafeBufferPointer<UInt16>,
        visit: (UnsafeBufferPointer<UInt8>, Double) -> Bool
    ) -> Int {
        let expected = min(limit, 1 << 20) * 2
        var nodes = FlatArray<Node>(capacity: expected)
        var cells = FlatArray<Cell>(capacity: expected * 2)
        var heap = Heap(capacity: expected)
        var prefixes = FlatArray<Prefix>(capacity: expected)
        // The program handed to `visit`; at least `Prefix.capacity` bytes.
        var program = UnsafeMutablePointer<UInt8>.allocate(capacity: 64)
        var programCapacity = 64
        defer { program.deallocate() }

        let rootKey = CompiledGrammar.rootKey(request)
        cells.append(Cell(next: -1, key: UInt16(rootKey)))
        nodes.append(
            Node(logProbability: 0, heuristic: holeTable[rootKey].best, parent: -1, holes: 0, length: 0, production: 0))
        prefixes.append(Prefix())
        let first = Int(holeTable[rootKey].candidateStart)
        heap.push(HeapEntry(priority: candidateTable[first].score, parent: 0, candidate: Int32(first)))
        // Nodes made so far, complete programs included, for `maxNodes`.
        var made = 1

        var emitted = 0
        while !heap.isEmpty {
            // The arithmetic below must stay term for term as it is: priorities are compared exactly, and a
            // reordered sum could round differently and reorder candidates of equal probability.
            let entry = heap.top
            let p = entry.parent
            let c = entry.candidate
            let node = nodes[p]
            let stack = Int(node.holes)
            let hole = holeTable[Int(cells[stack].key)]
            let rest = cells[stack].next
            let base = node.heuristic - hole.best
            var sibling: HeapEntry?
            if c + 1 < Int(hole.candidateEnd) {
                sibling = HeapEntry(
                    priority: node.logProbability + base + candidateTable[c + 1].score, parent: Int32(p),
                    candidate: Int32(c + 1))
            }
            if made >= Self.maxNodes { break }
            made += 1

            let candidate = candidateTable[c]
            var top = rest
            var h = base
            var j = Int(candidate.childEnd)
            while j > Int(candidate.childStart) {
                j -= 1
                let childKey = childKeys[j]
                cells.append(Cell(next: top, key: childKey))
                top = Int32(cells.count - 1)
                h += holeTable[Int(childKey)].best
            }
            let lp = node.logProbability + candidate.logProbability

            if top >= 0 {
                let child = nodes.count
                nodes.append(
                    Node(
                        logProbability: lp, heuristic: h, parent: Int32(p), holes: top, length: node.length + 1,
                        production: candidate.production))
                var prefix = prefixes[p]
                if node.length < Prefix.capacity { prefix.set(Int(node.length), candidate.production) }
                prefixes.append(prefix)
                let next = holeTable[Int(cells[Int(top)].key)]
                let firstCandidate = Int(next.candidateStart)
                let childEntry = HeapEntry(
                    priority: lp + h - next.best + candidateTable[firstCandidate].score, parent: Int32(child),
                    candidate: Int32(firstCandidate))
                // The popped entry is replaced rather than removed and the new ones pushed: the queue holds the
                // same entries either way, and its order is total, so what comes out next is the same. The
                // first child is usually the new best (its bound is exact along the best completion), so
                // putting it at the top costs almost nothing, and a sibling pushed at the bottom rarely rises.
                heap.replaceTop(childEntry)
                if let sibling { heap.push(sibling) }
                continue
            }
            if let sibling { heap.replaceTop(sibling) } else { heap.removeTop() }

            emitted += 1
            let length = Int(node.length) + 1
            if length > programCapacity {
                program.deallocate()
                programCapacity = 2 * length
                program = .allocate(capacity: programCapacity)
            }
            let prefix = prefixes[p]
            // Whole words, even past `length`: `program` has room for them.
            let bytes = UnsafeMutableRawPointer(program)
            bytes.storeBytes(of: prefix.low.littleEndian, as: UInt64.self)
            bytes.storeBytes(of: prefix.high.littleEndian, toByteOffset: 8, as: UInt64.self)
            program[length - 1] = candidate.production
            // Productions past the first 16, from the parent links.
            var n = p
            while n > 0 && nodes[n].length > Prefix.capacity {
                let ancestor = nodes[n]
                program[Int(ancestor.length) - 1] = ancestor.production
                n = Int(ancestor.parent)
            }
            let stop = visit(UnsafeBufferPointer(start: program, count: length), lp)
            if stop || emitted >= limit { break }
        }
        return emitted
    }

    /// A 4-ary heap, first entry first: half the depth of a binary one. The buffer is aligned so that the four
    /// children of an entry fill exactly one 64-byte cache line.
    private struct Heap: ~Copyable {
        /// Entry i is at `entries[i]`; `entries` is 3 slots past a 64-byte boundary, so the children of i,
        /// `4i + 1 ... 4i + 4`, start on one.
        private var entries: UnsafeMutablePointer<HeapEntry>
        private var capacity: Int
        private var count = 0

        init(capacity: Int) {
            self.capacity = max(capacity, 64)
            entries = Self.allocate(self.capacity)
        }

        deinit { (entries - 3).deallocate() }

        private static func allocate(_ capacity: Int) -> UnsafeMutablePointer<HeapEntry> {
            let raw = UnsafeMutableRawPointer.allocate(
                byteCount: (capacity + 3) * MemoryLayout<HeapEntry>.stride, alignment: 64)
            return raw.bindMemory(to: HeapEntry.self, capacity: capacity + 3) + 3
        }

        var isEmpty: Bool { count == 0 }

        var top: HeapEntry {
            assert(count > 0)
            return entries[0]
        }

        mutating func push(_ e: HeapEntry) {
            if count == capacity {
                let bigger = Self.allocate(capacity * 2)
                bigger.initialize(from: entries, count: count)
                (entries - 3).deallocate()
                entries = bigger
                capacity *= 2
            }
            var i = count
            count += 1
            while i > 0 {
                let parent = (i - 1) >> 2
                let above = entries[parent]
                if !e.before(above) { break }
                entries[i] = above
                i = parent
            }
            entries[i] = e
        }

        mutating func removeTop() {
            assert(count > 0)
            count -= 1
            if count > 0 { siftDown(entries[count]) }
        }

        /// Removes the top and inserts `e`, in one pass from the root.
        mutating func replaceTop(_ e: HeapEntry) {
            assert(count > 0)
            siftDown(e)
        }

        /// Puts `e` in the root's place and moves it down to where it belongs.
        private mutating func siftDown(_ e: HeapEntry) {
            let n = count
            var i = 0
            while true {
                let first = 4 * i + 1
                if first >= n { break }
                var c = first
                var best = entries[first]
                let end = min(first + 4, n)
                var k = first + 1
                while k < end {
                    let candidate = entries[k]
                    if candidate.before(best) {
                        c = k
                        best = candidate
                    }
                    k += 1
                }
                if !best.before(e) { break }
                entries[i] = best
                i = c
            }
            entries[i] = e
        }
    }
}
