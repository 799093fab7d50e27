import Synchronization

/// Lets items through one at a time in index order, whatever order their generation finished in, so that
/// "duplicate of an earlier task" means the same thing in every run, resumed or not.
///
/// An item whose turn it is goes through on its own thread without suspending: it is the next index as soon as the
/// one before it has passed, and that is the common case when items finish in about the order they started. (An
/// actor here made every item hop to the actor and back, ~0.1 ms of a round's ~0.8 ms per item on 2 cores.)
public final class OrderedAdmission: Sendable {
    private struct State {
        var next: Int
        var waiting: [Int: CheckedContinuation<Void, Never>] = [:]
        var poisoned = false
    }

    private let state: Mutex<State>

    /// - Parameter first: the first index to let through (a resumed round starts after what it recorded).
    public init(first: Int) {
        state = Mutex(State(next: first))
    }

    /// Runs `body` when every lower index has passed; `body` must not suspend. Only the index whose turn it is runs
    /// its `body`, so bodies never overlap.
    public func admit<T: Sendable>(_ index: Int, _ body: () throws -> T) async throws -> T {
        if state.withLock({ $0.next != index && !$0.poisoned }) {
            await withCheckedContinuation { continuation in
                let now = state.withLock { state in
                    guard state.next != index && !state.poisoned else { return true }
                    state.waiting[index] = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        }
        if state.withLock({ $0.poisoned }) { throw CancellationError() }
        defer {
            state.withLock { state in
                state.next = index + 1
                return state.waiting.removeValue(forKey: index + 1)
            }?.resume()
        }
        return try body()
    }

    /// After a failure no later index can be admitted: wake every waiter so the round stops instead of hanging.
    public func poison() {
        let waiters = state.withLock { state in
            state.poisoned = true
            defer { state.waiting.removeAll() }
            return Array(state.waiting.values)
        }
        for waiter in waiters { waiter.resume() }
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
            admission.poison()
            throw error
        }
    }
}

/// The bounds of a training stage's parallel stages: at most `parallelism` items being solved and at most
/// `parallelism` being checked at once, each holding its stage's permit for the one request.
struct TrainingPermits: Sendable {
    let solving: AsyncSemaphore
    let checking: AsyncSemaphore

    init(parallelism: Int) {
        solving = AsyncSemaphore(permits: parallelism)
        checking = AsyncSemaphore(permits: parallelism)
    }
}

/// How a training stage (a round's, a shard's) runs its items: a pipeline of its stages, each bounded by
/// `parallelism` (the spec's "parallelism per stage"): up to `parallelism` items being generated, `parallelism`
/// solved (`permits.solving`) and `parallelism` checked (`permits.checking`) at once, so that each stage has its
/// next requests while the others work. Items pass `admission` in index order.
func forEachTrainingItem(
    _ indices: some Sequence<Int>, parallelism: Int, admission: OrderedAdmission,
    _ work: @escaping @Sendable (_ index: Int, _ permits: TrainingPermits) async throws -> Void
) async throws {
    let permits = TrainingPermits(parallelism: parallelism)
    try await forEachBounded(indices, width: 3 * parallelism, admission: admission) { index in
        try await work(index, permits)
    }
}
