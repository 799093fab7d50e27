#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import GRDB

/// The pipeline's SQLite file (WAL mode): finished items are committed together within a fraction of a second of
/// finishing (`WriteBuffer`), so a crash at any moment leaves a consistent store that a resumed run continues.
public final class Store: Sendable {
    /// How a command opens its store.
    public enum Access: Sendable {
        /// `run` and `round`: create the file and its folder when missing, migrate it, write it in WAL mode.
        case readWrite
        /// Every other command: never create, migrate or write (the file stays byte for byte as it was); a file
        /// that is not a Flywheel store is refused. A store of an older schema is read as it is.
        case readOnly
    }

    public let path: String
    public let access: Access
    let database: any DatabaseWriter
    /// Finished work waiting to be committed together (`buffered(_:)`).
    let buffer = WriteBuffer()
    /// The migrations this store has had. A read-only open adds none, so a query of a column that a later migration
    /// added asks `column(_:addedBy:)`.
    let migrations: Set<String>
    /// The store's zstd dictionaries, each digested once.
    let dictionaryCache = DictionaryCache()
    let heldoutAnswers = HeldoutAnswers()

    /// The tables every Flywheel store has had since the first schema.
    static let tables: Set<String> = [
        "meta", "solver_versions", "rounds", "tasks", "attempts", "verdicts", "dictionaries", "examples",
        "heldout_items", "heldout_results", "metrics",
    ]

    static let pageSize = 1024

    /// Opens the store at `path`.
    /// - Parameter access: `.readWrite` (the default) creates and migrates the store as needed; `.readOnly` opens
    ///   an existing store without changing it.
    /// - Throws: `FlywheelError(.usage)` when a read-only open finds no file; `FlywheelError(.corruptStore)` when
    ///   the file is not a Flywheel store, is damaged or was written by a newer Flywheel;
    ///   `FlywheelError(.runFailed)` when the file or its folder cannot be created, read or written.
    public init(path: String, access: Access = .readWrite) throws {
        self.path = path
        self.access = access
        switch access {
        case .readWrite:
            try Self.prepareFolder(for: path)
            // Look before GRDB switches the file to WAL mode: a file that is not ours must stay as it was.
            if FileManager.default.fileExists(atPath: path) {
                let existing = try Self.openReadOnly(path)
                _ = try Self.identify(existing, path: path, emptyIsStore: true)
                try? existing.close()
            }
            var configuration = Configuration()
            configuration.busyMode = .timeout(10)
            configuration.prepareDatabase { db in
                // A new store's page size (an existing file keeps its own). Most rows are small and a store has
                // some thirty tables and indexes, many nearly empty: 1 KiB pages waste less than the 4 KiB default.
                try db.execute(sql: "PRAGMA page_size = \(Self.pageSize)")
                // A new, empty file only (SQLite fixes the setting once the file has pages): the pages a round's
                // commit frees by packing its held-out rows go back to the file system at once (`commitRound`)
                // rather than waiting in the file for the next round. Setting it writes the file's first page, before
                // GRDB turns WAL on; with the journal in memory, a kill then leaves an empty file or a first page, never
                // a hot journal that a read-only open (verify-store) could not roll back.
                if !db.configuration.readonly, try Int.fetchOne(db, sql: "PRAGMA page_count") == 0 {
                    try db.execute(sql: "PRAGMA journal_mode = MEMORY; PRAGMA auto_vacuum = INCREMENTAL")
                }
                try db.execute(sql: "PRAGMA synchronous = NORMAL")
            }
            do {
                let pool = try DatabasePool(path: path, configuration: configuration)
                try Schema.migrator.migrate(pool)
                database = pool
                migrations = Set(Schema.migrator.migrations)
            } catch let error as DatabaseError {
                throw Self.failure(error, path: path)
            } catch let error as TaskTextError {
                throw FlywheelError(
                    .corruptStore,
                    "\(path): \(error.table) row \(error.id): \(error.problem); the store cannot be upgraded and "
                        + "was left as it is: run `flywheel verify-store` with the Flywheel that wrote it")
            }
        case .readOnly:
            guard FileManager.default.fileExists(atPath: path) else {
                throw FlywheelError(
                    .usage, "no store at \(path): run `flywheel run` or `flywheel round` first, or pass --store")
            }
            database = try Self.openReadOnly(path)
            migrations = try Self.identify(database, path: path, emptyIsStore: false)
        }
    }

    deinit {
        // The last rows of a command that ended without reading or writing the store again.
        try? flush()
    }

    /// Creates the store's folder when missing and checks that a run can write there (the store, its `-wal` and
    /// `-shm` files and the lock file all live in it).
    /// - Throws: `FlywheelError(.runFailed)` saying which folder and why.
    static func prepareFolder(for path: String) throws {
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        if let failed = makeFolder(folder) {
            throw FlywheelError(
                .runFailed,
                "cannot create the store's folder \(failed.folder) (\(String(cString: strerror(failed.errno)))); "
                    + "pass --store with a path in a folder you can write")
        }
        guard isWritable(folder) else {
            let reason = String(cString: strerror(errno))
            throw FlywheelError(
                .runFailed,
                "the store's folder \(folder) is not writable (\(reason)): `run` and "
                    + "`round` write the store, its -wal and -shm files and its lock there; make the folder "
                    + "writable or pass --store elsewhere (status, report and export can read the store where it is)")
        }
    }

    /// `mkdir -p folder`; nil when it exists afterwards, else the folder that could not be made and why. (Foundation's
    /// `createDirectory` reports a read-only file system as "The volume is read only", without the errno.)
    private static func makeFolder(_ folder: String) -> (folder: String, errno: Int32)? {
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder) {
            return isFolder.boolValue ? nil : (folder, ENOTDIR)
        }
        let parent = URL(fileURLWithPath: folder).deletingLastPathComponent().path
        if parent != folder, let failed = makeFolder(parent) { return failed }
        guard mkdir(folder, 0o777) == 0 || errno == EEXIST else { return (folder, errno) }
        return nil
    }

    /// Whether this process may create files in `folder` (false on a read-only mount, even for root).
    private static func isWritable(_ folder: String) -> Bool {
        #if canImport(Glibc)
            Glibc.access(folder, W_OK) == 0
        #else
            Darwin.access(folder, W_OK) == 0
        #endif
    }

    /// A connection that cannot write. In a folder nobody can write (a read-only mount, a backup), SQLite cannot
    /// create the `-shm` file a WAL store is read through; then, and only when no `-wal` file exists (so no run can
    /// be writing), the file is opened as immutable.
    private static func openReadOnly(_ path: String) throws -> DatabaseQueue {
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(10)
        do {
            let queue = try DatabaseQueue(path: path, configuration: configuration)
            try queue.read { db in _ = try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_master") }
            return queue
        } catch let error as DatabaseError {
            let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
            guard error.resultCode == .SQLITE_CANTOPEN, !isWritable(folder),
                !FileManager.default.fileExists(atPath: path + "-wal")
            else { throw failure(error, path: path) }
            do {
                var uri = URLComponents()
                uri.scheme = "file"
                uri.path = path
                uri.queryItems = [URLQueryItem(name: "immutable", value: "1")]
                return try DatabaseQueue(path: uri.string ?? path, configuration: configuration)
            } catch let error as DatabaseError {
                throw failure(error, path: path)
            }
        }
    }

    /// The migrations a Flywheel store at `path` has had, read without changing it.
    /// - Parameter emptyIsStore: whether a database without tables (a new file) is accepted, as a run accepts it.
    /// - Throws: `FlywheelError(.corruptStore)` when the file is another program's database, not a database at
    ///   all, or a store written by a newer Flywheel.
    private static func identify(_ database: some DatabaseReader, path: String, emptyIsStore: Bool) throws
        -> Set<String>
    {
        let (tables, applied): (Set<String>, Set<String>)
        do {
            (tables, applied) = try database.read { db in
                let tables = try String.fetchSet(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table'")
                let applied =
                    tables.contains("grdb_migrations")
                    ? try String.fetchSet(db, sql: "SELECT identifier FROM grdb_migrations") : []
                return (tables, applied)
            }
        } catch let error as DatabaseError {
            throw failure(error, path: path)
        }
        let userTables = tables.filter { !$0.hasPrefix("sqlite_") }
        // GRDB creates its bookkeeping table before the first migration's transaction: a first run that died in
        // that transaction (a full disk, a kill) leaves only that table, and the file is still a new store.
        if userTables.subtracting(["grdb_migrations"]).isEmpty, applied.isEmpty {
            guard emptyIsStore else {
                throw FlywheelError(
                    .corruptStore,
                    "\(path) is an empty database, not a Flywheel store: no round has been recorded in it; "
                        + "`flywheel round` starts one there")
            }
            return []
        }
        guard applied.contains("v1"), tables.isSuperset(of: Self.tables) else {
            let names = userTables.sorted().prefix(5).joined(separator: ", ")
            throw FlywheelError(
                .corruptStore,
                "\(path) is not a Flywheel store (an SQLite database with the tables \(names)\(userTables.count > 5 ? ", …" : "")); "
                    + "it was left as it is: pass --store with the path of the pipeline's store, or a new path")
        }
        let unknown = applied.subtracting(Schema.migrator.migrations)
        guard unknown.isEmpty else {
            throw FlywheelError(
                .corruptStore,
                "\(path) was written by a newer Flywheel (schema \(unknown.sorted().map { "`\($0)`" }.joined(separator: ", ")) "
                    + "is unknown to this one); use that version or a newer one")
        }
        return applied
    }

    /// `column` when the migration that added it has run on this store, else `NULL`: a read-only open of an older
    /// store reads what it has. Name the result in the select list (`… AS usage`).
    func column(_ column: String, addedBy migration: String) -> String {
        migrations.contains(migration) ? column : "NULL"
    }

    // MARK: Reading and writing

    /// Every row `sql` selects, transformed in place as it is stepped: columns named through the statement's own
    /// index. Rows copied out (`Row.fetchAll`) look a name up by lowercasing every column name, each time.
    static func rows<T>(
        _ db: Database, sql: String, arguments: StatementArguments = [], _ transform: (Row) throws -> T
    ) throws -> [T] {
        let cursor = try Row.fetchCursor(db, sql: sql, arguments: arguments)
        var out: [T] = []
        while let row = try cursor.next() { out.append(try transform(row)) }
        return out
    }

    /// Runs `body` in a read transaction; an SQLite error becomes a `FlywheelError` naming the store.
    func read<T>(_ body: (Database) throws -> T) throws -> T {
        try flush()
        do {
            return try database.read(body)
        } catch let error as DatabaseError {
            throw Self.failure(error, path: path)
        }
    }

    /// Commits the queued writes (`buffered(_:)`), then runs `body` in a write transaction; an SQLite error (a full
    /// disk, a read-only file) becomes a `FlywheelError` naming the store.
    func write<T>(_ body: (Database) throws -> T) throws -> T {
        try flush()
        do {
            return try database.write(body)
        } catch let error as DatabaseError {
            throw Self.failure(error, path: path)
        }
    }

    /// What an SQLite error means to the person running the command, and what to do.
    static func failure(_ error: DatabaseError, path: String) -> FlywheelError {
        let detail = "SQLite: \(error.message ?? "\(error.resultCode)")"
        switch error.resultCode {
        case .SQLITE_FULL:
            return FlywheelError(
                .runFailed,
                "the disk holding \(path) is full (\(detail)); free space and run again: "
                    + "the round resumes where it stopped")
        case .SQLITE_READONLY:
            return FlywheelError(
                .runFailed,
                "\(path) cannot be written (\(detail)); make the file and its folder writable, or pass --store")
        case .SQLITE_CANTOPEN, .SQLITE_PERM, .SQLITE_AUTH:
            return FlywheelError(.runFailed, "cannot open \(path) (\(detail)); check the path and its permissions")
        case .SQLITE_IOERR:
            return FlywheelError(
                .runFailed, "reading or writing \(path) failed (\(detail)); check the disk, then run again")
        case .SQLITE_CORRUPT, .SQLITE_NOTADB:
            return FlywheelError(
                .corruptStore,
                "\(path) is not a usable Flywheel store (\(detail)); it was left as it is: move it aside and start "
                    + "again, or pass --store with the pipeline's store")
        case .SQLITE_BUSY, .SQLITE_LOCKED:
            return FlywheelError(
                .runFailed, "\(path) stayed busy for 10 seconds (\(detail)); another program holds it: retry later")
        default:
            return FlywheelError(.runFailed, "\(path): \(detail)")
        }
    }

    // MARK: Ownership

    /// Marks the store as `pipeline`'s, or fails when another pipeline's run made it.
    /// - Throws: `FlywheelError(.usage)` naming the owner.
    public func claim(for pipeline: String) throws {
        try write { db in
            try checkOwner(db, pipeline)
            try db.execute(literal: "INSERT OR REPLACE INTO meta(key, value) VALUES ('pipeline', \(text: pipeline))")
        }
    }

    /// Fails when the store belongs to another pipeline: the read-side twin of `claim(for:)`.
    /// - Throws: `FlywheelError(.usage)` naming the owner.
    public func checkOwner(_ pipeline: String) throws {
        try read { db in try checkOwner(db, pipeline) }
    }

    private func checkOwner(_ db: Database, _ pipeline: String) throws {
        let row = try Row.fetchOne(db, sql: "SELECT \(Self.text("value")) FROM meta WHERE key = 'pipeline'")
        guard let row, let owner = try text(row, "value", table: "meta", id: "pipeline"), owner != pipeline else {
            return
        }
        throw FlywheelError(
            .usage, "the store \(path) belongs to pipeline `\(owner)`, not `\(pipeline)`; pass --store")
    }

    // MARK: Solver versions

    /// Inserts the version made in `round`, or returns the one already there (a resumed round reuses it).
    public func insertVersion(round: Int, parent: Int64?, state: Data, promoted: Bool = false) throws
        -> SolverVersion
    {
        try write { db in
            if let existing = try version(db, sql: "WHERE round = ?", [round]) { return existing }
            // The state is the solver's JSON, kept byte for byte in a zstd frame.
            try db.execute(
                sql: "INSERT INTO solver_versions(round, parent, state, promoted) VALUES (?, ?, ?, ?)",
                arguments: [round, parent, try SolverState.compress(state), promoted])
            return SolverVersion(
                id: db.lastInsertedRowID, round: round, parent: parent, state: state, promoted: promoted)
        }
    }

    public func version(round: Int) throws -> SolverVersion? {
        try read { db in try version(db, sql: "WHERE round = ?", [round]) }
    }

    public func version(id: Int64) throws -> SolverVersion? {
        try read { db in try version(db, sql: "WHERE id = ?", [id]) }
    }

    /// The version that solves training tasks now: the last promoted one, or the target of a rollback made since
    /// (`rollBack(to:)`).
    public func lastPromotedVersion() throws -> SolverVersion? {
        try read { db in try promotedVersionID(db).flatMap { try version(db, sql: "WHERE id = ?", [$0]) } }
    }

    private func version(_ db: Database, sql: String, _ arguments: StatementArguments) throws -> SolverVersion? {
        guard
            let row = try Row.fetchOne(
                db, sql: "SELECT id, round, parent, \(Self.text("state")), promoted FROM solver_versions " + sql,
                arguments: arguments)
        else { return nil }
        let id: Int64 = row["id"]
        let state = try solverState(row, id: id)
        return SolverVersion(
            id: id, round: row["round"], parent: row["parent"], state: state, promoted: row["promoted"])
    }

    /// A version's state from a row that selected `state` through `Store.text(_:)`: the solver's JSON, from the
    /// zstd frame a v9 store keeps (text before).
    /// - Throws: `FlywheelError(.corruptStore)` naming the version when it is NULL or does not decompress.
    func solverState(_ row: Row, id: Int64) throws -> Data {
        guard let state = row["state"] as Data? else { throw corrupt("solver_versions", id, "`state` is NULL") }
        guard migrations.contains(Schema.compactText) else { return state }
        do {
            return try Zstd.decompress(state)
        } catch let error as FlywheelError {
            throw corrupt("solver_versions", id, "`state` does not decode (\(error.message))")
        }
    }

    // MARK: Rounds

    private static let roundColumns = """
        round, state, solver_version, difficulty, data_policy, gate, learning, started_at, finished_at, \
        \(text("summary"))
        """

    public func rounds() throws -> [RoundRecord] {
        try read { db in
            try Self.rows(db, sql: "SELECT \(Self.roundColumns) FROM rounds ORDER BY round", roundRecord)
        }
    }

    public func round(_ number: Int) throws -> RoundRecord? {
        try read { db in
            try Row.fetchOne(db, sql: "SELECT \(Self.roundColumns) FROM rounds WHERE round = ?", arguments: [number])
                .map(roundRecord)
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
        let summaryText = try text(row, "summary", table: "rounds", id: number)
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
        FlywheelError(.corruptStore, "\(path): \(table) row \(id): \(problem)\(Self.damaged)")
    }

    private static let damaged = "; the store is damaged: run `flywheel verify-store`"

    /// What `verify-store` reports of a row that failed to decode: `corrupt(_:_:_:)`'s message without the store's
    /// path and the advice to run `verify-store`.
    func problem(_ error: any Error) -> String {
        guard let error = error as? FlywheelError else { return "\(error)" }
        var message = Substring(error.message)
        if message.hasPrefix(path + ": ") { message = message.dropFirst(path.count + 2) }
        if message.hasSuffix(Self.damaged) { message = message.dropLast(Self.damaged.count) }
        return String(message)
    }

    public func insertRound(_ record: RoundRecord) throws {
        try write { db in
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
        try write { db in
            try db.execute(sql: "UPDATE rounds SET state = ? WHERE round = ?", arguments: [state.rawValue, round])
        }
    }

    /// Commits a round in one transaction: its state, summary and metrics, the candidate's promotion, and its held-out
    /// results moved from their rows into the round's pack.
    public func commitRound(
        _ round: Int, state: RoundState, summary: RoundSummary, promote candidate: Int64?, finishedAt: String
    ) throws {
        let summaryText = String(decoding: try JSON.SnakeCase.encoder.encode(summary), as: UTF8.self)
        try write { db in
            try db.execute(
                literal: """
                    UPDATE rounds SET state = \(state.rawValue), summary = \(text: summaryText),
                                      finished_at = \(finishedAt)
                    WHERE round = \(round)
                    """)
            if let candidate {
                try db.execute(sql: "UPDATE solver_versions SET promoted = 1 WHERE id = ?", arguments: [candidate])
            }
            for (name, value) in summary.metrics {
                try db.execute(
                    sql: "INSERT OR REPLACE INTO metrics(round, name, value) VALUES (?, ?, ?)",
                    arguments: [round, name, value])
            }
            do {
                try Self.packHeldoutResults(db, round: round)
            } catch let error as TaskTextError {
                throw corrupt(error.table, error.id, error.problem)
            }
            // Returns the freed pages in a store made with auto_vacuum (since v10); a no-op in an older one.
            try db.execute(sql: "PRAGMA incremental_vacuum")
        }
    }
}
