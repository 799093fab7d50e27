import Foundation
import GRDB

extension Store {
    /// The id of the version that solves now: the latest round's promoted candidate, unless a rollback was made
    /// after that round, in which case the latest rollback's target.
    func promotedVersionID(_ db: Database) throws -> Int64? {
        let promoted = try Row.fetchOne(
            db, sql: "SELECT id, round FROM solver_versions WHERE promoted = 1 ORDER BY round DESC LIMIT 1")
        guard migrations.contains(Schema.rollbacks),
            let rollback = try Row.fetchOne(
                db, sql: "SELECT after_round, to_version FROM rollbacks ORDER BY id DESC LIMIT 1")
        else { return promoted?["id"] }
        if let promoted, (promoted["round"] as Int) > (rollback["after_round"] as Int) { return promoted["id"] }
        return rollback["to_version"]
    }

    /// A subquery listing the rounds whose candidates are the version `start` (an SQL expression) and its
    /// ancestors: the promoted lineage that version was learned along.
    static func lineageRounds(from start: String) -> String {
        """
        WITH RECURSIVE chain(id) AS (
            SELECT \(start)
            UNION SELECT v.parent FROM solver_versions v JOIN chain c ON v.id = c.id WHERE v.parent IS NOT NULL)
        SELECT sv.round FROM solver_versions sv JOIN chain c ON sv.id = c.id
        """
    }

    /// The promoted rounds whose versions lead to the one that solves now, ascending: every promoted round unless a
    /// rollback set some aside. Export writes these rounds' examples.
    public func promotedLineage() throws -> [Int] {
        try read { db in
            guard let current = try promotedVersionID(db) else { return [] }
            return try Int.fetchAll(
                db,
                sql: """
                    SELECT round FROM rounds WHERE state = 'promoted' AND round IN (\(Self.lineageRounds(from: "?")))
                    ORDER BY round
                    """, arguments: [current])
        }
    }

    /// Every rollback, oldest first.
    public func rollbacks() throws -> [RollbackEvent] {
        guard migrations.contains(Schema.rollbacks) else { return [] }
        return try read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT r.id, r.at, r.after_round, r.from_version, f.round AS from_round, r.to_version,
                           t.round AS to_round
                    FROM rollbacks r JOIN solver_versions f ON f.id = r.from_version
                    JOIN solver_versions t ON t.id = r.to_version ORDER BY r.id
                    """
            ).map { row in
                RollbackEvent(
                    id: row["id"], at: row["at"], afterRound: row["after_round"], fromVersion: row["from_version"],
                    fromRound: row["from_round"], toVersion: row["to_version"], toRound: row["to_round"])
            }
        }
    }

    /// Makes `round`'s candidate the promoted version again, as a new `rollbacks` row; nothing else changes.
    ///
    /// Hold the store's lock: the check and the event are one transaction, but a round starting in between would
    /// solve with the version it read before.
    /// - Returns: The event, or nil when that version is already the promoted one (nothing is recorded).
    /// - Throws: `FlywheelError(.usage)` when the round does not exist, was not promoted (rejected, running,
    ///   failed), or another round is not committed yet.
    public func rollBack(to round: Int, at: String = Timestamp.now()) throws -> RollbackEvent? {
        let rounds = try self.rounds()
        guard let target = rounds.first(where: { $0.round == round }) else {
            let last = rounds.last.map { "the last round is \($0.round)" } ?? "no round has run"
            throw FlywheelError(.usage, "round \(round) does not exist (\(last)); see `flywheel status`")
        }
        guard target.state == .promoted else {
            let why =
                target.state == .rejected
                ? "was rejected by the gate: its candidate never became the promoted version"
                : "is \(target.state.rawValue), not committed"
            throw FlywheelError(
                .usage, "round \(round) \(why); roll back to a promoted round (see `flywheel status`)")
        }
        if let open = rounds.first(where: { !$0.state.isCommitted }) {
            throw FlywheelError(
                .usage,
                "round \(open.round) is \(open.state.rawValue): finish it first (`flywheel round` resumes it), "
                    + "then roll back")
        }
        let last = rounds.last?.round ?? round
        return try write { db in
            guard
                let to = try Row.fetchOne(
                    db, sql: "SELECT id, promoted FROM solver_versions WHERE round = ?", arguments: [round]),
                to["promoted"] as Bool
            else { throw corrupt("rounds", round, "is promoted but its candidate version is missing or not promoted") }
            let toVersion: Int64 = to["id"]
            guard let from = try promotedVersionID(db) else {
                throw corrupt("solver_versions", "promoted", "no version is promoted")
            }
            guard from != toVersion else { return nil }
            try db.execute(
                sql: "INSERT INTO rollbacks(at, after_round, from_version, to_version) VALUES (?, ?, ?, ?)",
                arguments: [at, last, from, toVersion])
            let id = db.lastInsertedRowID
            let fromRound = try Int.fetchOne(
                db, sql: "SELECT round FROM solver_versions WHERE id = ?", arguments: [from])
            return RollbackEvent(
                id: id, at: at, afterRound: last, fromVersion: from, fromRound: fromRound ?? -1,
                toVersion: toVersion, toRound: round)
        }
    }
}
