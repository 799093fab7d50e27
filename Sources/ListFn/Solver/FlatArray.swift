/// A growable array of plain values that the enumerator owns alone, without `Array`'s per-access checks.
///
/// The enumerator appends a few entries and reads a few dozen per candidate, millions of times per second; with
/// `Array` in a struct every write pays a uniqueness check and every access a bounds check. Here the buffer is
/// owned by one `~Copyable` value, so it can never be shared, and indices are checked by `assert` in debug
/// builds only: every index the enumerator uses is one it has appended before.
struct FlatArray<Element: BitwiseCopyable>: ~Copyable {
    private var base: UnsafeMutablePointer<Element>
    private var capacity: Int
    private(set) var count = 0

    init(capacity: Int) {
        self.capacity = max(capacity, 16)
        base = .allocate(capacity: self.capacity)
    }

    deinit { base.deallocate() }

    var isEmpty: Bool { count == 0 }

    @inline(__always)
    subscript(i: Int) -> Element {
        get {
            assert(i >= 0 && i < count)
            return base[i]
        }
        set {
            assert(i >= 0 && i < count)
            base[i] = newValue
        }
    }

    @inline(__always)
    mutating func append(_ e: Element) {
        if count == capacity { grow() }
        (base + count).initialize(to: e)
        count += 1
    }

    @inline(__always)
    mutating func removeLast() -> Element {
        assert(count > 0)
        count -= 1
        return base[count]
    }

    mutating func removeAll() { count = 0 }

    /// Calls `body` with the elements; the pointer must not escape `body`.
    func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Element>) -> R) -> R {
        body(UnsafeBufferPointer(start: base, count: count))
    }

    @inline(never)
    private mutating func grow() {
        let bigger = UnsafeMutablePointer<Element>.allocate(capacity: capacity * 2)
        // Trivial elements: a bitwise move is a copy, and the old buffer needs no deinitialisation.
        bigger.initialize(from: base, count: count)
        base.deallocate()
        base = bigger
        capacity *= 2
    }
}
