/// Lets items through one at a time in index order, whatever order their generation finished in, so that
/// "duplicate of an earlier task" means the same thing in every run, resumed or not.
public actor OrderedAdmission {
    private var next: Int
    private var waiting: [Int: CheckedContinuation<Void, Never>] = [:]
    private var poisoned = false

    /// - Parameter first: the first index to let through (a resumed round starts after what it recorded).
    public init(first: Int) {
        next = first
    }

    /// Runs `body` when every lower index has passed; `body` must not suspend.
    public func admit<T: Sendable>(_ index: Int, _ body: () throws -> T) async throws -> T {
        if index != next && !poisoned {
            await withCheckedContinuation { waiting[index] = $0 }
        }
        if poisoned { throw CancellationError() }
        defer {
            next = index + 1
            waiting.removeValue(forKey: next)?.resume()
        }
        return try body()
    }

    /// After a failure no later index can be admitted: wake every waiter so the round stops instead of hanging.
    public func poison() {
        poisoned = true
        for waiter in waiting.values { waiter.resume() }
        waiting.removeAll()
    }
}

/// Runs `work` for each index with at most `width` in flight, starting them in order (NIO's ParallelDirCopy
/// pattern: fill the group, then one finishes, one starts).
func forEachBounded(
    _ indices: some Sequence<Int>, width: Int, _ work: @escaping @Sendable (Int) async throws -> Void
) async throws {
    try await withThrowingTaskGroup(of: Void.self) { group in
        var inFlight = 0
        for index in indices {
            if inFlight == width {
                try await group.next()
                inFlight -= 1
            }
            group.addTask { try await work(index) }
            inFlight += 1
        }
        try await group.waitForAll()
    }
}

/// `forEachBounded` for work that passes `admission`: a failure poisons it, so items waiting for their turn stop
/// instead of waiting for an index that will never come.
func forEachBounded(
    _ indices: some Sequence<Int>, width: Int, admission: OrderedAdmission,
    _ work: @escaping @Sendable (Int) async throws -> Void
) async throws {
    try await forEachBounded(indices, width: width) { index in
        do {
            try await work(index)
        } catch {
            await admission.poison()
            throw error
        }
    }
}
