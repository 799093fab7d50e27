import Foundation
import GRDB

/// What `flywheel verify-store` found.
public struct StoreVerification: Sendable {
    public var problems: [String] = []
    public var examples = 0
    public var dictionaries = 0
    public var rounds = 0
    public var ok: Bool { problems.isEmpty }
}

extension Store {
    /// Proves the store whole: SQLite's integrity and foreign-key checks, every example frame decompresses and
    /// matches its checksum, every task's text and solver version's state decodes, and the counts recorded with
    /// committed rounds agree with the rows.
    public func verify() throws -> StoreVerification {
        var report = StoreVerification()
        try read { db in
            let integrity = try String.fetchAll(db, sql: "PRAGMA integrity_check")
            if integrity != ["ok"] { report.problems += integrity.map { "integrity: \($0)" } }
            let foreign = try Row.fetchAll(db, sql: "PRAGMA foreign_key_check")
            if !foreign.isEmpty { report.problems.append("\(foreign.count) rows reference missing rows") }
            report.dictionaries = try Int.fetchOne(db, sql: "SELECT count(*) FROM dictionaries") ?? 0
            let orphans = try Int.fetchOne(
                db,
                sql: """
                    SELECT count(*) FROM examples e JOIN verdicts v ON v.attempt_id = e.attempt_id WHERE v.accept = 0
                    """) ?? 0
            if orphans > 0 { report.problems.append("\(orphans) stored examples have a rejecting verdict") }
            let missing = try Int.fetchOne(
                db,
                sql: """
                    SELECT count(*) FROM verdicts v LEFT JOIN examples e ON e.attempt_id = v.attempt_id
                    WHERE v.accept = 1 AND v.error_kind IS NULL AND e.id IS NULL
                    """) ?? 0
            if missing > 0 { report.problems.append("\(missing) accepted verdicts have no stored example") }
        }
        let dictionaries = try dictionaries()
        try read { db in
            let rows = try Row.fetchCursor(
                db,
                sql: """
                    SELECT \(exampleColumns) FROM examples e
                    LEFT JOIN attempts a ON a.id = e.attempt_id LEFT JOIN tasks t ON t.id = a.task_id
                    """)
            while let row = try rows.next() {
                report.examples += 1
                let payload: [UInt8] = Array(row["payload"] as Data)
                if Array(payload.prefix(4)) != Zstd.frameMagic {
                    report.problems.append("example \(row["id"] as Int64) is not a zstd frame")
                    continue
                }
                do {
                    _ = try decodeExample(db, row, dictionaries: dictionaries)
                } catch {
                    report.problems.append("example \(row["id"] as Int64): \(problem(error))")
                }
            }
        }
        if migrations.contains(Schema.compactText) {
            report.problems += try undecodableRows()
        }
        for record in try rounds() {
            report.rounds += 1
            guard record.state == .promoted || record.state == .rejected, let summary = record.summary else { continue }
            let heldout: [HeldoutResult]
            do {
                heldout = try heldoutResults(round: record.round)
            } catch {
                report.problems.append(problem(error))
                continue
            }
            let counts = try counts(round: record.round)
            if counts.accepted != summary.counts.accepted || counts.generated != summary.counts.generated
                || counts.storedExamples != summary.counts.storedExamples
            {
                report.problems.append("round \(record.round): its recorded counts differ from its rows")
            }
            if heldout.count != summary.heldout.n {
                report.problems.append(
                    "round \(record.round): \(heldout.count) held-out results, summary says \(summary.heldout.n)")
            }
        }
        if migrations.contains(Schema.heldoutPacks) {
            report.problems += try unreferencedPackedRows()
        }
        return report
    }

    /// A line for each committed round whose packed held-out results name a row that does not exist: SQLite's
    /// `foreign_key_check` sees into no pack.
    private func unreferencedPackedRows() throws -> [String] {
        try read { db in
            let keys: [(table: String, key: String)] = [
                ("heldout_items", "idx"), ("solver_versions", "id"), ("heldout_answers", "id"), ("checkers", "id"),
            ]
            var known: [String: Set<Int64>] = [:]
            for (table, key) in keys {
                known[table] = try Int64.fetchSet(db, sql: "SELECT \(key) FROM \(table)")
            }
            var problems: [String] = []
            for round in try Int.fetchAll(db, sql: "SELECT round FROM heldout_packs ORDER BY round") {
                // A pack that does not decode is reported with its round's counts.
                guard let results = try? storedHeldoutResults(db, round: round) else { continue }
                let named: [(table: String, ids: [Int64])] = [
                    ("heldout_items", results.map { Int64($0.index) }), ("solver_versions", results.map(\.solverVersion)),
                    ("heldout_answers", results.compactMap(\.answerID)), ("checkers", results.compactMap(\.checkerID)),
                ]
                for (table, ids) in named {
                    let missing = Set(ids).subtracting(known[table] ?? [])
                    if !missing.isEmpty {
                        problems.append(
                            "round \(round): its packed held-out results name \(missing.count) missing \(table) rows")
                    }
                }
            }
            return problems
        }
    }

    /// A line for each task row whose text, and each solver version whose state, does not decode.
    private func undecodableRows() throws -> [String] {
        try read { db in
            var problems: [String] = []
            for (table, key) in [("heldout_items", "idx"), ("tasks", "id")] {
                let rows = try Row.fetchCursor(db, sql: "SELECT \(key) AS id, \(taskColumns()) FROM \(table)")
                while let row = try rows.next() {
                    do {
                        _ = try taskSpec(db, row, table: table, id: row["id"])
                    } catch {
                        problems.append(problem(error))
                    }
                }
            }
            let versions = try Row.fetchCursor(db, sql: "SELECT id, \(Self.text("state")) FROM solver_versions")
            while let row = try versions.next() {
                do {
                    _ = try solverState(row, id: row["id"])
                } catch {
                    problems.append(problem(error))
                }
            }
            return problems
        }
    }
}
