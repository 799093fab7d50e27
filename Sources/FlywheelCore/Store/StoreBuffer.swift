import Dispatch
import Foundation
import GRDB
import Synchronization

/// The rows of finished items on their way to disk.
///
/// A transaction per item costs more than the item itself when plugins answer in microseconds, so rows written
/// with `Store.buffered(_:)` wait here and go to disk together: as soon as `limit` rows wait, or `interval` seconds
/// after the first of them, whichever comes first, and before any read or other write of the store (so the store
/// always reads what was written, in the order it was written). When items take longer than `interval` each, every
/// row is committed as it comes, as before. A crash loses at most the last `interval` seconds of finished work,
/// which a resumed run redoes with the same seeds, so it still ends as an uninterrupted run would.
///
/// Batches are committed one after another on a queue of their own, in the order they were queued, while the
/// items that queue rows go on; whoever reads or writes the store next waits for them (`Store.flush()`). A batch
/// that fails to commit fails every later call, and no later batch is committed.
///
/// Batches are small (`limit`): a commit takes the core the items' threads were running on, and the scheduler
/// leaves them waiting behind it rather than moving them to the other core. With 512 rows a batch stalled a round's
/// items for ~4 ms every ~30 ms and a 0.15 ms checker went idle meanwhile (fed 5,100 checks/s); with 32, 5,560/s,
/// for the same CPU (`Benchmarks/checker-feed.sh`). But each commit writes the tables' last pages to the log again:
/// with 128 rows an arith round of 3,000 items writes 4.7 MB to the log instead of 8.3 MB, spends 0.06–0.08 s less
/// CPU than with 32, and feeds that checker no worse; with 256 it feeds it less (docs/performance-history.md, eighth
/// session).
final class WriteBuffer: Sendable {
    static let interval = 0.2
    static let limit = 128

    fileprivate typealias Batch = [@Sendable (Database) throws -> Void]

    fileprivate struct State: Sendable {
        var pending: Batch = []
        var lastCommit = monotonicNow()
        var flushScheduled = false
        /// The next row id of each table whose ids the store hands out itself (`Store.nextID(_:)`).
        var nextIDs: [String: Int64] = [:]
    }

    fileprivate let state = Mutex(State())
    /// What a batch failed to commit with; thrown to every later caller.
    fileprivate let failure = Mutex<(any Error)?>(nil)
    fileprivate let committer = DispatchQueue(label: "flywheel.store.commit")

    fileprivate func check() throws {
        if let failure = failure.withLock({ $0 }) { throw failure }
    }

    /// Hands what waits to the committer (call with `state` locked, so batches reach it in order).
    fileprivate func commitPending(
        _ state: inout State, to database: any DatabaseWriter, path: String
    ) {
        guard !state.pending.isEmpty else { return }
        let batch = state.pending
        state.pending.removeAll(keepingCapacity: true)
        state.lastCommit = monotonicNow()
        committer.async { [self] in
            guard failure.withLock({ $0 }) == nil else { return }
            do {
                try database.write { db in
                    for write in batch { try write(db) }
                }
            } catch let error as DatabaseError {
                failure.withLock { $0 = $0 ?? Store.failure(error, path: path) }
            } catch {
                failure.withLock { $0 = $0 ?? error }
            }
        }
    }
}

extension Store {
    /// Queues a write of finished work; see `WriteBuffer` for when it reaches the disk. `body` must not capture the
    /// store: a queued write would keep it alive past its last use, and its `deinit` from committing what waits.
    /// - Throws: `FlywheelError` from an earlier batch that failed to commit.
    func buffered(_ body: @escaping @Sendable (Database) throws -> Void) throws {
        try buffer.check()
        buffer.state.withLock { state in
            state.pending.append(body)
            if state.pending.count >= WriteBuffer.limit
                || monotonicNow() - state.lastCommit >= WriteBuffer.interval
            {
                buffer.commitPending(&state, to: database, path: path)
            } else if !state.flushScheduled {
                state.flushScheduled = true
                // Weakly: a store let go of commits what waits in its `deinit`, at once.
                DispatchQueue.global().asyncAfter(deadline: .now() + WriteBuffer.interval) { [weak self] in
                    guard let self else { return }
                    buffer.state.withLock { state in
                        state.flushScheduled = false
                        buffer.commitPending(&state, to: database, path: path)
                    }
                }
            }
        }
    }

    /// Commits every queued row now, and waits for every batch before them.
    public func flush() throws {
        buffer.state.withLock { buffer.commitPending(&$0, to: database, path: path) }
        buffer.committer.sync {}
        try buffer.check()
    }

    /// A row id for `table` (tasks, attempts) handed out before its row is written, so that rows referring to it
    /// can be queued with it. One store object writes a store (the run's lock sees to that), so ids do not collide.
    func nextID(_ table: String) throws -> Int64 {
        if buffer.state.withLock({ $0.nextIDs[table] }) == nil {
            try flush()
            let first = try database.read { db in
                try Int64.fetchOne(db, sql: "SELECT coalesce(max(id), 0) + 1 FROM \(table)") ?? 1
            }
            buffer.state.withLock { state in
                if state.nextIDs[table] == nil { state.nextIDs[table] = first }
            }
        }
        return buffer.state.withLock { state in
            defer { state.nextIDs[table]! += 1 }
            return state.nextIDs[table]!
        }
    }
}
