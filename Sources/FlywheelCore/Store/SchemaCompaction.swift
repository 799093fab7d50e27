import Foundation
import GRDB

#if canImport(GRDBSQLite)
    import GRDBSQLite
#else
    import SQLite3
#endif

extension Schema {
    /// v9: each task's and held-out item's prompt, reference and meta become one zstd frame (`task`, with the
    /// dictionary it used in `text_dictionary`); prompt hashes and example checksums become their bytes; an example
    /// may be compressed against its task's text (`against_task`); a verdict names its checker only
    /// when that differs from its `checkers` row's identity; solver state is a zstd frame; held-out results name
    /// their (answer, reason) in `heldout_answers`; held-out results and metrics lose their rowid (their primary key
    /// was a second copy of every row). Every row is converted in place, then a dictionary is trained on the held-out set when the store has
    /// none (`TaskText.trainDictionaryIfDue`).
    static func compact(_ db: Database) throws {
        let dictionaries = DictionaryCache()
        try db.execute(sql: "ALTER TABLE dictionaries ADD COLUMN kind TEXT NOT NULL DEFAULT 'examples'")
        let newest = try dictionaries.newest(db)
        try rebuild(
            db, "tasks",
            columns: """
                id INTEGER PRIMARY KEY,
                round INTEGER NOT NULL REFERENCES rounds(round),
                idx INTEGER NOT NULL,
                seed INTEGER NOT NULL,
                difficulty INTEGER NOT NULL,
                status TEXT NOT NULL CHECK (status IN ('kept', 'duplicate', 'contaminated', 'error')),
                task BLOB,
                text_dictionary INTEGER REFERENCES dictionaries(id),
                prompt_hash BLOB,
                contamination TEXT,
                error_kind TEXT,
                error TEXT,
                seconds REAL NOT NULL DEFAULT 0,
                retries INTEGER NOT NULL DEFAULT 0,
                UNIQUE(round, idx)
                """,
            copy: "id, round, idx, seed, difficulty, status, contamination, error_kind, error, seconds, retries",
            convert: { try convertTaskText(db, "tasks", key: "id", dictionary: newest) })
        try rebuild(
            db, "heldout_items",
            columns: """
                idx INTEGER PRIMARY KEY,
                seed INTEGER NOT NULL,
                status TEXT NOT NULL CHECK (status IN ('kept', 'duplicate', 'error')),
                task BLOB,
                text_dictionary INTEGER REFERENCES dictionaries(id),
                prompt_hash BLOB,
                error_kind TEXT,
                error TEXT,
                retries INTEGER NOT NULL DEFAULT 0
                """,
            copy: "idx, seed, status, error_kind, error, retries",
            convert: { try convertTaskText(db, "heldout_items", key: "idx", dictionary: newest) })
        try rebuild(
            db, "verdicts",
            columns: """
                attempt_id INTEGER PRIMARY KEY REFERENCES attempts(id),
                accept INTEGER NOT NULL,
                score REAL NOT NULL,
                reason TEXT,
                error_kind TEXT,
                error TEXT,
                checker TEXT,
                seconds REAL NOT NULL,
                retries INTEGER NOT NULL DEFAULT 0,
                checker_id INTEGER REFERENCES checkers(id)
                """,
            copy: "attempt_id, accept, score, reason, error_kind, error, seconds, retries, checker_id",
            extra: (
                "checker",
                "CASE WHEN checker = (SELECT c.identity FROM checkers c WHERE c.id = checker_id) THEN NULL ELSE checker END"
            ))
        // A round's held-out answers mostly repeat earlier rounds' (and each other): each (answer, reason) once.
        // No index on the text: a store finds a pair's row through `HeldoutAnswers`, and a pair written twice is
        // only a few bytes lost.
        try db.execute(
            sql: """
                CREATE TABLE heldout_answers (id INTEGER PRIMARY KEY, answer TEXT, reason TEXT);
                INSERT INTO heldout_answers(answer, reason)
                SELECT answer, reason FROM heldout_results WHERE answer IS NOT NULL OR reason IS NOT NULL
                GROUP BY answer, reason ORDER BY min(round), min(idx);
                """)
        try rebuild(
            db, "heldout_results",
            columns: """
                round INTEGER NOT NULL REFERENCES rounds(round),
                idx INTEGER NOT NULL REFERENCES heldout_items(idx),
                solver_version INTEGER NOT NULL REFERENCES solver_versions(id),
                answer_id INTEGER REFERENCES heldout_answers(id),
                accept INTEGER NOT NULL,
                score REAL NOT NULL,
                error_kind TEXT,
                error TEXT,
                usage TEXT,
                retries INTEGER NOT NULL DEFAULT 0,
                checker_id INTEGER REFERENCES checkers(id),
                PRIMARY KEY (round, idx)
                """,
            withoutRowID: true,
            copy: "round, idx, solver_version, accept, score, error_kind, error, usage, retries, checker_id",
            extra: (
                "answer_id",
                """
                (SELECT ha.id FROM heldout_answers ha
                 WHERE ha.answer IS heldout_results.answer AND ha.reason IS heldout_results.reason)
                """
            ))
        try rebuild(
            db, "solver_versions",
            columns: """
                id INTEGER PRIMARY KEY,
                round INTEGER NOT NULL,
                parent INTEGER REFERENCES solver_versions(id),
                state BLOB NOT NULL,
                promoted INTEGER NOT NULL DEFAULT 0,
                UNIQUE(round)
                """,
            copy: "id, round, parent, promoted", extra: ("state", "CAST(state AS BLOB)"))
        try rewrite(db, "solver_versions", "state") {
            try SolverState.compress(Data.fromDatabaseValue($0) ?? Data()).databaseValue
        }
        try rebuild(
            db, "examples",
            columns: """
                id INTEGER PRIMARY KEY,
                attempt_id INTEGER NOT NULL UNIQUE REFERENCES attempts(id),
                round INTEGER NOT NULL REFERENCES rounds(round),
                dictionary_id INTEGER REFERENCES dictionaries(id),
                against_task INTEGER NOT NULL DEFAULT 0,
                payload BLOB NOT NULL,
                raw_bytes INTEGER NOT NULL,
                checksum BLOB NOT NULL
                """,
            copy: "id, attempt_id, round, dictionary_id, payload, raw_bytes", extra: ("checksum", "checksum"))
        try db.execute(sql: "CREATE INDEX examples_round ON examples(round)")
        try rewrite(db, "examples", "checksum") { PackedHex.value(String.fromDatabaseValue($0)) }
        try rebuild(
            db, "metrics",
            columns: """
                round INTEGER NOT NULL REFERENCES rounds(round),
                name TEXT NOT NULL,
                value REAL NOT NULL,
                PRIMARY KEY (round, name)
                """,
            withoutRowID: true, copy: "round, name, value")
        _ = try TaskText.trainDictionaryIfDue(
            db, round: try Int.fetchOne(db, sql: "SELECT max(round) FROM rounds") ?? 0, dictionaries: dictionaries)
    }

    /// Replaces `table` by a new one with `columns` (SQLite's create, copy, drop, rename), copying the `copy`
    /// columns and `extra`'s expression into its column; `convert` fills `<table>_v9` from `table` before the old
    /// table goes. The old table is never renamed: SQLite would point other tables' foreign keys at the old name.
    private static func rebuild(
        _ db: Database, _ table: String, columns: String, withoutRowID: Bool = false, copy: String,
        extra: (column: String, expression: String)? = nil, convert: () throws -> Void = {}
    ) throws {
        try db.execute(sql: "CREATE TABLE \(table)_v9 (\(columns))\(withoutRowID ? " WITHOUT ROWID" : "")")
        let targets = copy + (extra.map { ", \($0.column)" } ?? "")
        let sources = copy + (extra.map { ", \($0.expression)" } ?? "")
        try db.execute(sql: "INSERT INTO \(table)_v9 (\(targets)) SELECT \(sources) FROM \(table)")
        try convert()
        try db.execute(sql: "DROP TABLE \(table)")
        try db.execute(sql: "ALTER TABLE \(table)_v9 RENAME TO \(table)")
    }

    /// Replaces `column` of every row of `table` (keyed by `id`) with `transform` of its value.
    private static func rewrite(
        _ db: Database, _ table: String, _ column: String, _ transform: (DatabaseValue) throws -> DatabaseValue
    ) throws {
        for row in try Row.fetchAll(db, sql: "SELECT id, \(column) AS value FROM \(table)") {
            try db.execute(
                sql: "UPDATE \(table) SET \(column) = ? WHERE id = ?",
                arguments: [try transform(row["value"]), row["id"] as Int64])
        }
    }

    /// Compresses the text and packs the prompt hash of each row of `table` (before v9) into `<table>_v9`.
    private static func convertTaskText(_ db: Database, _ table: String, key: String, dictionary: ExampleDictionary?)
        throws
    {
        let rows = try Row.fetchCursor(
            db,
            sql: """
                SELECT \(key) AS id, prompt_hash, \(Store.text("prompt")), \(Store.text("reference")),
                       \(Store.text("meta"))
                FROM \(table)
                """)
        while let row = try rows.next() {
            let id: Int64 = row["id"]
            let task = try TaskText.unversioned(row, table: table, id: id)
            try db.execute(
                sql: "UPDATE \(table)_v9 SET task = ?, text_dictionary = ?, prompt_hash = ? WHERE \(key) = ?",
                arguments: [
                    try task.map { try TaskCodec.compress($0, dictionary: dictionary?.prepared) },
                    task == nil ? nil : dictionary?.id, PackedHex.value(row["prompt_hash"]), id,
                ])
        }
    }
}

/// The `heldout_answers` rows a store has seen, by (answer, reason): the table has no index on its text.
final class HeldoutAnswers: Sendable {
    private struct Key: Hashable, Sendable {
        var answer: String?
        var reason: String?
    }
    private let known = Locked<[Key: Int64]?>(nil)

    /// The row of (`answer`, `reason`), added the first time it is seen; nil when both are nil. Call inside a write.
    func id(_ db: Database, answer: String?, reason: String?) throws -> Int64? {
        guard answer != nil || reason != nil else { return nil }
        let key = Key(answer: answer, reason: reason)
        if known.withLock({ $0 == nil }) {
            var rows: [Key: Int64] = [:]
            let cursor = try Row.fetchCursor(
                db, sql: "SELECT id, \(Store.text("answer")), \(Store.text("reason")) FROM heldout_answers ORDER BY id")
            while let row = try cursor.next() {
                let pair = Key(answer: Self.text(row["answer"]), reason: Self.text(row["reason"]))
                if rows[pair] == nil { rows[pair] = row["id"] }
            }
            known.withLock { $0 = rows }
        }
        // A remembered id is checked against its row: the transaction that added it may have rolled back.
        if let id = known.withLock({ $0?[key] }),
            let row = try Row.fetchOne(
                db, sql: "SELECT \(Store.text("answer")), \(Store.text("reason")) FROM heldout_answers WHERE id = ?",
                arguments: [id]),
            Key(answer: Self.text(row["answer"]), reason: Self.text(row["reason"])) == key
        {
            return id
        }
        try db.execute(literal: "INSERT INTO heldout_answers(answer, reason) VALUES (\(text: answer), \(text: reason))")
        let id = db.lastInsertedRowID
        known.withLock { $0?[key] = id }
        return id
    }

    private static func text(_ bytes: Data?) -> String? {
        bytes.map { String(decoding: $0, as: UTF8.self) }
    }
}

/// Stored dictionaries, each digested once for as long as the store is open.
final class DictionaryCache: Sendable {
    private let prepared = Locked<[Int64: Zstd.Dictionary]>([:])

    /// The dictionary with `id`, nil when the store has none such.
    func dictionary(_ db: Database, id: Int64) throws -> Zstd.Dictionary? {
        if let known = prepared.withLock({ $0[id] }) { return known }
        guard let bytes = try Data.fetchOne(db, sql: "SELECT bytes FROM dictionaries WHERE id = ?", arguments: [id])
        else { return nil }
        let dictionary = try Zstd.Dictionary(bytes)
        prepared.withLock { $0[id] = dictionary }
        return dictionary
    }

    /// The newest dictionary: the one every frame is compressed with from now on. (Asked once per task written:
    /// stepped directly, `Store.stepOnce`, not through GRDB's `fetchOne`.)
    func newest(_ db: Database) throws -> ExampleDictionary? {
        let newest = try db.cachedStatement(sql: "SELECT max(id) FROM dictionaries")
        guard
            let id = try Store.stepOnce(
                newest, [], row: { sqlite3_column_type($0, 0) == SQLITE_NULL ? nil : sqlite3_column_int64($0, 0) })
                ?? nil,
            let dictionary = try dictionary(db, id: id)
        else { return nil }
        return ExampleDictionary(id: id, prepared: dictionary)
    }
}

/// A solver version's state as the store keeps it since v9: a zstd frame of the solver's JSON.
enum SolverState {
    /// Solver state is written once per round and read a few times: worth a slow level, but not level 19, which
    /// took 9.2 ms a round for an arith round's 22 KB few-shot state (15: 2.5 ms), for 1,712 bytes against 1,753;
    /// the listfn demo's states grow by 2 to 5 bytes each at 15.
    static let level: Int32 = 15

    static func compress(_ state: Data) throws -> Data {
        try Zstd.compress(state, level: level, dictionary: nil)
    }
}

/// How task rows (`tasks`, `heldout_items`) keep their text and prompt hash: the one place that reads and writes
/// them, for every schema a store may have.
enum TaskText {
    /// A task from the text columns of a store before v9 (`prompt`, `reference`, `meta`, selected through
    /// `Store.text(_:)`); nil when the row has no prompt (a generator error).
    static func unversioned(_ row: Row, table: String, id: Int64) throws -> TaskSpec? {
        func text(_ column: String) throws -> String? {
            switch (row[column] as DatabaseValue).storage {
            case .null: return nil
            case .blob(let bytes):
                guard let text = String(validating: bytes, as: UTF8.self) else {
                    throw TaskTextError(table: table, id: id, problem: "`\(column)` is not UTF-8 text")
                }
                return text
            default: throw TaskTextError(table: table, id: id, problem: "`\(column)` was not read as bytes")
            }
        }
        guard let prompt = try text("prompt") else { return nil }
        do {
            return TaskSpec(
                prompt: prompt, reference: try text("reference").map(JSONValue.parse),
                meta: try text("meta").map(JSONValue.parse))
        } catch let error as TaskTextError {
            throw error
        } catch {
            throw TaskTextError(table: table, id: id, problem: "its reference or meta is not JSON")
        }
    }

    /// When the store has no dictionary yet, trains one on the held-out items' text (they are generated first and
    /// resemble every later task) and recompresses the task rows written without one. Call inside a write.
    /// - Returns: whether a dictionary was trained.
    static func trainDictionaryIfDue(_ db: Database, round: Int, dictionaries: DictionaryCache) throws -> Bool {
        guard try Int.fetchOne(db, sql: "SELECT count(*) FROM dictionaries") == 0 else { return false }
        let items = try Row.fetchAll(
            db, sql: "SELECT idx, task FROM heldout_items WHERE task IS NOT NULL AND text_dictionary IS NULL")
        let tasks = try items.map { row in
            try decode(row["task"], dictionary: nil, table: "heldout_items", id: row["idx"] as Int64)
        }
        guard !tasks.isEmpty, let bytes = TaskCodec.trainDictionary(on: tasks) else { return false }
        try db.execute(
            sql:
                "INSERT INTO dictionaries(zstd_id, created_round, samples, bytes, kind) VALUES (?, ?, ?, ?, 'heldout')",
            arguments: [
                Int64(Zstd.dictionaryID(ofDictionary: bytes)), round,
                min(tasks.count, ExampleCodec.dictionarySampleLimit), bytes,
            ])
        let id = db.lastInsertedRowID
        guard let dictionary = try dictionaries.dictionary(db, id: id) else { return false }
        for (table, key) in [("tasks", "id"), ("heldout_items", "idx")] {
            let rows = try Row.fetchAll(
                db, sql: "SELECT \(key) AS id, task FROM \(table) WHERE task IS NOT NULL AND text_dictionary IS NULL")
            guard !rows.isEmpty else { continue }
            // The rows are written again in key order rather than updated in place: updated rows shrink and would
            // leave their pages mostly empty. Foreign keys are checked at commit, when every row is back.
            try db.execute(
                sql: """
                    PRAGMA defer_foreign_keys = ON;
                    CREATE TEMP TABLE recompressed AS SELECT * FROM \(table);
                    """)
            for row in rows {
                let task = try decode(row["task"], dictionary: nil, table: table, id: row["id"] as Int64)
                try db.execute(
                    sql: "UPDATE temp.recompressed SET task = ?, text_dictionary = ? WHERE \(key) = ?",
                    arguments: [try TaskCodec.compress(task, dictionary: dictionary), id, row["id"] as Int64])
            }
            try db.execute(
                sql: """
                    DELETE FROM \(table);
                    INSERT INTO \(table) SELECT * FROM temp.recompressed ORDER BY \(key);
                    DROP TABLE temp.recompressed;
                    """)
        }
        return true
    }

    /// A `task` frame decoded; a failure names the row.
    static func decode(_ frame: Data?, dictionary: Zstd.Dictionary?, table: String, id: Int64) throws -> TaskSpec {
        let text = try self.text(frame, dictionary: dictionary, table: table, id: id)
        do {
            return try TaskCodec.task(plain: text)
        } catch let error as FlywheelError {
            throw TaskTextError(table: table, id: id, problem: "`task` does not decode (\(error.message))")
        }
    }

    /// A `task` frame's text, as `TaskCodec.plain` wrote it (what an example compressed against its task needs);
    /// a failure names the row.
    static func text(_ frame: Data?, dictionary: Zstd.Dictionary?, table: String, id: Int64) throws -> Data {
        guard let frame else { throw TaskTextError(table: table, id: id, problem: "`task` is not a blob") }
        do {
            return try Zstd.decompress(frame, dictionary: dictionary)
        } catch let error as FlywheelError {
            throw TaskTextError(table: table, id: id, problem: "`task` does not decode (\(error.message))")
        }
    }
}

/// Digests (prompt hashes, example checksums) that the engine handles as lowercase hex and the store keeps, since
/// v9, as the bytes they spell: half the size, and no text index over them.
enum PackedHex {
    /// A digest as stored since v9: lowercase hex as its bytes, anything else as it is.
    static func value(_ hash: String?) -> DatabaseValue {
        guard let hash else { return .null }
        guard let bytes = Hex.bytes(hash) else { return hash.databaseValue }
        return Data(bytes).databaseValue
    }

    /// A stored digest as the engine compares it: lowercase hex.
    static func text(_ value: DatabaseValue) -> String? {
        switch value.storage {
        case .blob(let bytes):
            return bytes.withUnsafeBytes(Hex.lowercase)
        default:
            return String.fromDatabaseValue(value)
        }
    }
}

/// A row whose text cannot be read (a task's; a held-out result's, when it is packed); `Store.corrupt` turns it into
/// the message a user sees.
struct TaskTextError: Error {
    var table: String
    var id: Int64
    var problem: String
}
