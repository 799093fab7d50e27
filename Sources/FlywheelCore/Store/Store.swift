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

    // MARK: Meta

    public func meta(_ key: String) throws -> String? {
        try pool.read { db in try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = ?", arguments: [key]) }
    }

    public func setMeta(_ key: String, _ value: String) throws {
        try pool.write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", arguments: [key, value])
        }
    }

    // MARK: Solver versions

    /// Inserts the version made in `round`, or returns the one already there (a resumed round reuses it).
    public func insertVersion(round: Int, parent: Int64?, state: JSONValue, promoted: Bool = false) throws
        -> SolverVersion
    {
        try pool.write { db in
            if let existing = try Self.version(db, sql: "WHERE round = ?", [round]) { return existing }
            try db.execute(
                sql: "INSERT INTO solver_versions(round, parent, state, promoted) VALUES (?, ?, ?, ?)",
                arguments: [round, parent, state.jsonText, promoted])
            return SolverVersion(
                id: db.lastInsertedRowID, round: round, parent: parent, state: state, promoted: promoted)
        }
    }

    public func version(round: Int) throws -> SolverVersion? {
        try pool.read { db in try Self.version(db, sql: "WHERE round = ?", [round]) }
    }

    public func version(id: Int64) throws -> SolverVersion? {
        try pool.read { db in try Self.version(db, sql: "WHERE id = ?", [id]) }
    }

    /// The version that solves training tasks now: the last promoted one.
    public func lastPromotedVersion() throws -> SolverVersion? {
        try pool.read { db in try Self.version(db, sql: "WHERE promoted = 1 ORDER BY round DESC LIMIT 1", []) }
    }

    private static func version(_ db: Database, sql: String, _ arguments: StatementArguments) throws
        -> SolverVersion?
    {
        guard
            let row = try Row.fetchOne(
                db, sql: "SELECT id, round, parent, state, promoted FROM solver_versions " + sql, arguments: arguments)
        else { return nil }
        return SolverVersion(
            id: row["id"], round: row["round"], parent: row["parent"],
            state: try JSONValue.parse(row["state"] as String), promoted: row["promoted"])
    }

    // MARK: Rounds

    public func rounds() throws -> [RoundRecord] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM rounds ORDER BY round").map(Self.roundRecord)
        }
    }

    public func round(_ number: Int) throws -> RoundRecord? {
        try pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM rounds WHERE round = ?", arguments: [number]).map(Self.roundRecord)
        }
    }

    private static func roundRecord(_ row: Row) throws -> RoundRecord {
        let summaryText: String? = row["summary"]
        return RoundRecord(
            round: row["round"], state: RoundState(rawValue: row["state"]) ?? .failed,
            solverVersion: row["solver_version"], difficulty: row["difficulty"], dataPolicy: row["data_policy"],
            gate: row["gate"], learning: row["learning"], startedAt: row["started_at"],
            finishedAt: row["finished_at"],
            summary: try summaryText.map { try JSON.decoder.decode(RoundSummary.self, from: Data($0.utf8)) })
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
                    record.dataPolicy, record.gate, record.learning, record.startedAt,
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
                arguments: [state.rawValue, JSON.text(summary), finishedAt, round])
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

    // MARK: Tasks

    public func tasks(round: Int) throws -> [TaskRecord] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM tasks WHERE round = ? ORDER BY idx", arguments: [round]).map {
                row in
                TaskRecord(
                    id: row["id"], index: row["idx"], seed: UInt64(row["seed"] as Int64), difficulty: row["difficulty"],
                    status: TaskStatus(rawValue: row["status"]) ?? .error,
                    task: try Self.taskSpec(row), promptHash: row["prompt_hash"], failure: Self.failure(row))
            }
        }
    }

    /// Normalised-prompt hashes of every task recorded before `round`, for exact-duplicate detection.
    public func promptHashes(before round: Int) throws -> Set<String> {
        try pool.read { db in
            Set(
                try String.fetchAll(
                    db, sql: "SELECT prompt_hash FROM tasks WHERE round < ? AND prompt_hash IS NOT NULL",
                    arguments: [round]))
        }
    }

    public func insertTask(
        round: Int, index: Int, seed: UInt64, difficulty: Int, status: TaskStatus, task: TaskSpec?,
        promptHash: String?, contamination: String?, failure: PluginFailure?, seconds: Double
    ) throws -> Int64 {
        try pool.write { db in
            try db.execute(
                sql: """
                    INSERT INTO tasks(round, idx, seed, difficulty, status, prompt, reference, meta, prompt_hash,
                                      contamination, error_kind, error, seconds)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    round, index, Int64(seed), difficulty, status.rawValue, task?.prompt,
                    task?.reference.map(\.jsonText), task?.meta.map(\.jsonText), promptHash, contamination,
                    failure?.kind.rawValue, failure?.message, seconds,
                ])
            return db.lastInsertedRowID
        }
    }

    private static func taskSpec(_ row: Row) throws -> TaskSpec? {
        guard let prompt: String = row["prompt"] else { return nil }
        let reference: String? = row["reference"]
        let meta: String? = row["meta"]
        return TaskSpec(
            prompt: prompt, reference: try reference.map(JSONValue.parse), meta: try meta.map(JSONValue.parse))
    }

    private static func failure(_ row: Row) -> PluginFailure? {
        guard let kind: String = row["error_kind"] else { return nil }
        return PluginFailure(PluginFailure.Kind(rawValue: kind) ?? .malformed, row["error"] ?? "")
    }

    // MARK: Attempts and verdicts

    public func attempts(round: Int) throws -> [AttemptRecord] {
        try pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT a.* FROM attempts a JOIN tasks t ON t.id = a.task_id WHERE t.round = ?
                    ORDER BY a.task_id, a.attempt
                    """, arguments: [round]
            ).map { row in
                let answer: String? = row["answer"]
                let usage: String? = row["usage"]
                return AttemptRecord(
                    id: row["id"], taskID: row["task_id"], attempt: row["attempt"],
                    solution: try answer.map {
                        Solution(answer: $0, trace: row["trace"], usage: try usage.map(JSONValue.parse))
                    }, failure: Self.failure(row))
            }
        }
    }

    public func insertAttempt(
        taskID: Int64, attempt: Int, seed: UInt64, solverVersion: Int64, result: Result<Solution, PluginFailure>,
        seconds: Double
    ) throws -> Int64 {
        let solution = try? result.get()
        let failure: PluginFailure? = if case .failure(let failure) = result { failure } else { nil }
        return try pool.write { db in
            try db.execute(
                sql: """
                    INSERT INTO attempts(task_id, attempt, seed, solver_version, answer, trace, usage, error_kind,
                                         error, seconds)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    taskID, attempt, Int64(seed), solverVersion, solution?.answer, solution?.trace,
                    solution?.usage.map(\.jsonText), failure?.kind.rawValue, failure?.message, seconds,
                ])
            return db.lastInsertedRowID
        }
    }

    public func verdicts(round: Int) throws -> [VerdictRecord] {
        try pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT v.* FROM verdicts v JOIN attempts a ON a.id = v.attempt_id JOIN tasks t ON t.id = a.task_id
                    WHERE t.round = ?
                    """, arguments: [round]
            ).map { row in
                let failure = Self.failure(row)
                return VerdictRecord(
                    attemptID: row["attempt_id"],
                    judgement: failure == nil
                        ? Judgement(accept: row["accept"], score: row["score"], reason: row["reason"]) : nil,
                    failure: failure)
            }
        }
    }

    /// Records a verdict and, when accepted, its compressed example, in one transaction.
    public func insertVerdict(
        attemptID: Int64, round: Int, result: Result<Judgement, PluginFailure>, checker: String, seconds: Double,
        example: CompressedExample?
    ) throws {
        let judgement = try? result.get()
        let failure: PluginFailure? = if case .failure(let failure) = result { failure } else { nil }
        try pool.write { db in
            try db.execute(
                sql: """
                    INSERT INTO verdicts(attempt_id, accept, score, reason, error_kind, error, checker, seconds)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    attemptID, judgement?.accept ?? false, judgement?.score ?? 0, judgement?.reason,
                    failure?.kind.rawValue, failure?.message, checker, seconds,
                ])
            if let example {
                try db.execute(
                    sql: """
                        INSERT INTO examples(attempt_id, round, dictionary_id, payload, raw_bytes, checksum)
                        VALUES (?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        attemptID, round, example.dictionaryID, example.payload, example.rawBytes, example.checksum,
                    ])
            }
        }
    }

    // MARK: Examples and dictionaries

    /// The newest dictionary, used for every example compressed from now on.
    public func currentDictionary() throws -> ExampleDictionary? {
        try pool.read { db in
            try Row.fetchOne(db, sql: "SELECT id, bytes FROM dictionaries ORDER BY id DESC LIMIT 1").map {
                ExampleDictionary(id: $0["id"], bytes: $0["bytes"])
            }
        }
    }

    public func dictionaries() throws -> [Int64: Data] {
        try pool.read { db in
            Dictionary(
                uniqueKeysWithValues: try Row.fetchAll(db, sql: "SELECT id, bytes FROM dictionaries").map {
                    ($0["id"] as Int64, $0["bytes"] as Data)
                })
        }
    }

    public func insertDictionary(_ bytes: Data, round: Int, samples: Int) throws {
        try pool.write { db in
            try db.execute(
                sql: "INSERT INTO dictionaries(zstd_id, created_round, samples, bytes) VALUES (?, ?, ?, ?)",
                arguments: [Int64(Zstd.dictionaryID(ofDictionary: bytes)), round, samples, bytes])
        }
    }

    /// Raw (decompressed) examples, selected by SQL over `examples e` joined with `rounds r`, in task order
    /// (round, index, attempt) — never in insertion order, which depends on which item finished first.
    public func exampleRows(where condition: String, _ arguments: StatementArguments = []) throws
        -> [(round: Int, attemptID: Int64, example: StoredExample)]
    {
        let dictionaries = try dictionaries()
        return try pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT e.round, e.attempt_id, e.payload, e.dictionary_id, e.checksum FROM examples e
                    JOIN rounds r ON r.round = e.round JOIN attempts a ON a.id = e.attempt_id
                    JOIN tasks t ON t.id = a.task_id
                    WHERE \(condition) ORDER BY e.round, t.idx, a.attempt
                    """, arguments: arguments
            ).map { row in
                let raw = try ExampleCodec.decompress(
                    payload: row["payload"], dictionaryID: row["dictionary_id"], dictionaries: dictionaries,
                    checksum: row["checksum"])
                return (row["round"], row["attempt_id"], try JSON.decoder.decode(StoredExample.self, from: raw))
            }
        }
    }

    /// Examples of committed (promoted or rejected) rounds.
    public func committedExampleCount() throws -> Int {
        try pool.read { db in
            try Int.fetchOne(
                db,
                sql: """
                    SELECT count(*) FROM examples e JOIN rounds r ON r.round = e.round
                    WHERE r.state IN ('promoted', 'rejected')
                    """) ?? 0
        }
    }

    // MARK: Held-out set

    public func heldoutItems() throws -> [TaskRecord] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM heldout_items ORDER BY idx").map { row in
                TaskRecord(
                    id: row["idx"], index: row["idx"], seed: UInt64(row["seed"] as Int64), difficulty: 0,
                    status: TaskStatus(rawValue: row["status"]) ?? .error, task: try Self.taskSpec(row),
                    promptHash: row["prompt_hash"], failure: Self.failure(row))
            }
        }
    }

    public func insertHeldoutItem(
        index: Int, seed: UInt64, status: TaskStatus, task: TaskSpec?, promptHash: String?, failure: PluginFailure?
    ) throws {
        try pool.write { db in
            try db.execute(
                sql: """
                    INSERT INTO heldout_items(idx, seed, status, prompt, reference, meta, prompt_hash, error_kind, error)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    index, Int64(seed), status.rawValue, task?.prompt, task?.reference.map(\.jsonText),
                    task?.meta.map(\.jsonText), promptHash, failure?.kind.rawValue, failure?.message,
                ])
        }
    }

    public func heldoutResults(round: Int) throws -> [HeldoutResult] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM heldout_results WHERE round = ? ORDER BY idx", arguments: [round])
                .map { row in
                    HeldoutResult(
                        index: row["idx"], answer: row["answer"], accept: row["accept"], score: row["score"],
                        reason: row["reason"], failure: Self.failure(row),
                        usage: try (row["usage"] as String?).map(JSONValue.parse))
                }
        }
    }

    public func insertHeldoutResult(_ result: HeldoutResult, round: Int, solverVersion: Int64) throws {
        try pool.write { db in
            try db.execute(
                sql: """
                    INSERT INTO heldout_results(round, idx, solver_version, answer, accept, score, reason,
                                                error_kind, error, usage)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    round, result.index, solverVersion, result.answer, result.accept, result.score, result.reason,
                    result.failure?.kind.rawValue, result.failure?.message, result.usage.map(\.jsonText),
                ])
        }
    }

    // MARK: Reading with SQL

    /// Runs a read-only block, for reports and verification.
    public func read<T>(_ block: (Database) throws -> T) throws -> T {
        try pool.read(block)
    }
}
