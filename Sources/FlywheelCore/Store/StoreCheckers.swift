import Foundation
import GRDB

#if canImport(GRDBSQLite)
    import GRDBSQLite
#else
    import SQLite3
#endif

extension Store {
    /// The id of `checker` in the `checkers` table, adding it the first time it is seen. Call inside a write.
    static func checkerID(_ db: Database, _ checker: CheckerFingerprint) throws -> Int64 {
        let lookup = try db.cachedStatement(sql: "SELECT id FROM checkers WHERE fingerprint = CAST(? AS TEXT)")
        let fingerprint = Data(checker.fingerprint.utf8).databaseValue
        if let id = try stepOnce(lookup, [fingerprint], row: { sqlite3_column_int64($0, 0) }) { return id }
        try db.execute(
            literal: """
                INSERT INTO checkers(fingerprint, identity) VALUES (\(text: checker.fingerprint), \(text: checker.identity))
                """)
        return db.lastInsertedRowID
    }

    /// The checkers whose verdicts a round recorded (training verdicts and held-out results), first seen first.
    ///
    /// Usually one; more when the checker changed while the round was interrupted. Empty for a round recorded before
    /// checkers were fingerprinted, or one with no verdict yet.
    public func checkerFingerprints(round: Int) throws -> [CheckerFingerprint] {
        guard migrations.contains(Schema.checkerFingerprints) else { return [] }
        return try read { db in
            var ids = try Int64.fetchSet(
                db,
                sql: """
                    SELECT v.checker_id FROM verdicts v JOIN attempts a ON a.id = v.attempt_id
                    JOIN tasks t ON t.id = a.task_id WHERE t.round = ? AND v.checker_id IS NOT NULL
                    """, arguments: [round])
            ids.formUnion(try storedHeldoutResults(db, round: round, answers: false).compactMap(\.checkerID))
            let lookup = try db.cachedStatement(
                sql: "SELECT id, \(Self.text("fingerprint")), \(Self.text("identity")) FROM checkers WHERE id = ?")
            return try ids.sorted().compactMap { id in
                try Row.fetchOne(lookup, arguments: [id]).map { row in try checkerFingerprint(row, id: id) }
            }
        }
    }

    /// A checker from a row that selected its `fingerprint` and `identity` through `Store.text(_:)`.
    func checkerFingerprint(_ row: Row, id: Int64) throws -> CheckerFingerprint {
        guard let fingerprint = try text(row, "fingerprint", table: "checkers", id: id),
            let identity = try text(row, "identity", table: "checkers", id: id)
        else { throw corrupt("checkers", id, "`fingerprint` or `identity` is NULL") }
        return CheckerFingerprint(identity: identity, fingerprint: fingerprint)
    }
}
