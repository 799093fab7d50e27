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
final class WriteBuffer: Sendable {
    static let interval = 0.2
    static let limit = 512

    fileprivate struct State: Sendable {
        var pending: [@Sendable (Database) throws -> Void] = []
        var lastCommit = monotonicNow()
        var flushScheduled = false
        /// The next row id of each table whose ids the store hands out itself (`Store.nextID(_:)`).
        var nextIDs: [String: Int64] = [:]
        /// What a scheduled flush failed with; thrown to the next caller.
        var failure: FlywheelError?
    }

    fileprivate let state = Mutex(State())
}

extension Store {
    /// Queues a write of finished work; see `WriteBuffer` for when it reaches the disk. `body` must not capture the
    /// store: a queued write would keep it alive past its last use, and its `deinit` from committing what waits.
    /// - Throws: `FlywheelError` from committing the rows queued before it, when this call commits them.
    func buffered(_ body: @escaping @Sendable (Database) throws -> Void) throws {
        try buffer.state.withLock { state in
            if let failure = state.failure { throw failure }
            state.pending.append(body)
            if state.pending.count >= WriteBuffer.limit
                || monotonicNow() - state.lastCommit >= WriteBuffer.interval
            {
                try commit(&state)
            } else if !state.flushScheduled {
                state.flushScheduled = true
                // Weakly: a store let go of commits what waits in its `deinit`, at once.
                DispatchQueue.global().asyncAfter(deadline: .now() + WriteBuffer.interval) { [weak self] in
                    guard let self else { return }
                    buffer.state.withLock { state in
                        state.flushScheduled = false
                        do { try commit(&state) } catch { state.failure = error as? FlywheelError }
                    }
                }
            }
        }
    }

    /// Commits every queued row now.
    public func flush() throws {
        try buffer.state.withLock { state in
            if let failure = state.failure { throw failure }
            try commit(&state)
        }
    }

    /// A row id for `table` (tasks, attempts) handed out before its row is written, so that rows referring to it
    /// can be queued with it. One store object writes a store (the run's lock sees to that), so ids do not collide.
    func nextID(_ table: String) throws -> Int64 {
        try buffer.state.withLock { state in
            if state.nextIDs[table] == nil {
                try commit(&state)
                state.nextIDs[table] = try database.read { db in
                    try Int64.fetchOne(db, sql: "SELECT coalesce(max(id), 0) + 1 FROM \(table)") ?? 1
                }
            }
            defer { state.nextIDs[table]! += 1 }
            return state.nextIDs[table]!
        }
    }

    private func commit(_ state: inout WriteBuffer.State) throws {
        guard !state.pending.isEmpty else { return }
        let pending = state.pending
        do {
            try database.write { db in
                for write in pending { try write(db) }
            }
        } catch let error as DatabaseError {
            throw Self.failure(error, path: path)
        }
        state.pending.removeAll()
        state.lastCommit = monotonicNow()
    }
}
