import Foundation
import GRDB

/// The pipeline's SQLite file (WAL mode): every finished item is written as it finishes, each in its own
/// transaction, so a crash at any moment leaves a consistent store that a resumed run continues.
public final class Store: Sendable {
    public let path: String
    let pool: DatabasePool

    /// Opens (creating and migrating as needed) the store at `path`.
    /// - Throws: `FlywheelError(.corruptStore)` when the file is not a Flywheel store or is damaged.
    public init(path: String, create: Bool = true) throws {
        self.path = path
        let fileManager = FileManager.default
        if !fileManager.fileExists(atPath: path) {
            guard create else {
                throw FlywheelError(
                    .usage, "no store at \(path): run `flywheel run` or `flywheel round` first, or pass --store")
            }
            try fileManager.createDirectory(
                at: URL(fileURLWithPath: path).deletingLastPathComponent(), withIntermediateDirectories: true)
        }
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
            try Schema.migrator.migrate(pool)
        } catch let error as DatabaseError {
            throw FlywheelError(
                .corruptStore,
                "\(path) is not a usable Flywheel store (\(error.message ?? "\(error)")); "
                    + "move it aside and start again, or run `flywheel verify-store`")
        }
    }

    // MARK: Ownership

    /// Marks the store as `pipeline`'s, or fails when another pipeline's run made it.
    /// - Throws: `FlywheelError(.usage)` naming the owner.
    public func claim(for pipeline: String) throws {
        try pool.write { db in
            let owner = try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'pipeline'")
            if let owner, owner != pipeline {
                throw FlywheelError(
                    .usage, "the store \(path) belongs to pipeline `\(owner)`, not `\(pipeline)`; pass --store")
            }
            try db.execute(sql: "INSERT OR REPLACE INTO meta(key, value) VALUES ('pipeline', ?)", arguments: [pipeline])
        }
    }

    // MARK: Solver versions

    /// Inserts the version made in `round`, or returns the one already there (a resumed round reuses it).
    public func insertVersion(round: Int, parent: Int64?, state: Data, promoted: Bool = false) throws
        -> SolverVersion
    {
        try pool.write { db in
            if let existing = try version(db, sql: "WHERE round = ?", [round]) { return existing }
            try db.execute(
                sql: "INSERT INTO solver_versions(round, parent, state, promoted) VALUES (?, ?, ?, ?)",
                arguments: [round, parent, String(decoding: state, as: UTF8.self), promoted])
            return SolverVersion(
                id: db.lastInsertedRowID, round: round, parent: parent, state: state, promoted: promoted)
        }
    }

    public func version(round: Int) throws -> SolverVersion? {
        try pool.read { db in try version(db, sql: "WHERE round = ?", [round]) }
    }

    public func version(id: Int64) throws -> SolverVersion? {
        try pool.read { db in try version(db, sql: "WHERE id = ?", [id]) }
    }

    /// The version that solves training tasks now: the last promoted one.
    public func lastPromotedVersion() throws -> SolverVersion? {
        try pool.read { db in try version(db, sql: "WHERE promoted = 1 ORDER BY round DESC LIMIT 1", []) }
    }

    private func version(_ db: Database, sql: String, _ arguments: StatementArguments) throws -> SolverVersion? {
        guard
            let row = try Row.fetchOne(
                db, sql: "SELECT id, round, parent, state, promoted FROM solver_versions " + sql, arguments: arguments)
        else { return nil }
        return SolverVersion(
            id: row["id"], round: row["round"], parent: row["parent"], state: Data((row["state"] as String).utf8),
            promoted: row["promoted"])
    }

    // MARK: Rounds

    public func rounds() throws -> [RoundRecord] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM rounds ORDER BY round").map(roundRecord)
        }
    }

    public func round(_ number: Int) throws -> RoundRecord? {
        try pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM rounds WHERE round = ?", arguments: [number]).map(roundRecord)
        }
    }

    /// The round `number`, which the caller knows exists.
    /// - Throws: `FlywheelError(.corruptStore)` when it is missing.
    public func existingRound(_ number: Int) throws -> RoundRecord {
        guard let record = try round(number) else {
            throw FlywheelError(.corruptStore, "\(path): round \(number) is missing; run `flywheel verify-store`")
        }
        return record
    }

    private func roundRecord(_ row: Row) throws -> RoundRecord {
        let number: Int = row["round"]
        let summaryText: String? = row["summary"]
        let summary: RoundSummary?
        do {
            summary = try summaryText.map { try JSON.SnakeCase.decoder.decode(RoundSummary.self, from: Data($0.utf8)) }
        } catch {
            throw corrupt("rounds", number, "its summary does not decode (\(error))")
        }
        return RoundRecord(
            round: number, state: try value(row, "state", table: "rounds", id: number),
            solverVersion: row["solver_version"], difficulty: row["difficulty"],
            dataPolicy: try value(row, "data_policy", table: "rounds", id: number),
            gate: try value(row, "gate", table: "rounds", id: number), learning: row["learning"],
            startedAt: row["started_at"], finishedAt: row["finished_at"], summary: summary)
    }

    // MARK: Decoding rows

    /// A stored raw value read back as its enum; anything else is a damaged store, named to the row.
    func value<T: RawRepresentable & CaseIterable>(_ row: Row, _ column: String, table: String, id: Any) throws -> T
    where T.RawValue == String {
        let raw: String? = row[column]
        guard let raw, let value = T(rawValue: raw) else {
            throw corrupt(
                table, id, "`\(column)` holds \(raw.map { "\"\($0)\"" } ?? "NULL"), not one of "
                    + T.allCases.map { "`\($0.rawValue)`" }.joined(separator: ", "))
        }
        return value
    }

    func corrupt(_ table: String, _ id: Any, _ problem: String) -> FlywheelError {
        FlywheelError(
            .corruptStore, "\(path): \(table) row \(id): \(problem); the store is damaged: run `flywheel verify-store`")
    }

    public func insertRound(_ record: RoundRecord) throws {
        try pool.write { db in
            try db.execute(
                sql: """
                    INSERT INTO rounds(round, state, solver_version, difficulty, data_policy, gate, learning, started_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    record.round, record.state.rawValue, record.solverVersion, record.difficulty,
                    record.dataPolicy.rawValue, record.gate.rawValue, record.learning, record.startedAt,
                ])
        }
    }

    public func setRoundState(_ round: Int, _ state: RoundState) throws {
        try pool.write { db in
            try db.execute(sql: "UPDATE rounds SET state = ? WHERE round = ?", arguments: [state.rawValue, round])
        }
    }

    /// Commits a round in one transaction: its state, summary and metrics, and the candidate's promotion.
    public func commitRound(
        _ round: Int, state: RoundState, summary: RoundSummary, promote candidate: Int64?, finishedAt: String
    ) throws {
        try pool.write { db in
            try db.execute(
                sql: "UPDATE rounds SET state = ?, summary = ?, finished_at = ? WHERE round = ?",
                arguments: [state.rawValue, String(decoding: try JSON.SnakeCase.encoder.encode(summary), as: UTF8.self), finishedAt, round])
            if let candidate {
                try db.execute(sql: "UPDATE solver_versions SET promoted = 1 WHERE id = ?", arguments: [candidate])
            }
            for (name, value) in summary.metrics {
                try db.execute(
                    sql: "INSERT OR REPLACE INTO metrics(round, name, value) VALUES (?, ?, ?)",
                    arguments: [round, name, value])
            }
        }
    }
}
