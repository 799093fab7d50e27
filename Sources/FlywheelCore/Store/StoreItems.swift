import Foundation
import GRDB

extension Store {
    // MARK: Tasks

    /// The columns a task row is read from (training tasks and held-out items share them).
    static let taskText = "\(text("prompt")), \(text("reference")), \(text("meta")), \(text("error"))"

    public func tasks(round: Int) throws -> [TaskRecord] {
        try read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT id, idx, seed, difficulty, status, prompt_hash, error_kind, \(Self.taskText)
                    FROM tasks WHERE round = ? ORDER BY idx
                    """, arguments: [round]
            ).map { row in
                let id: Int64 = row["id"]
                return TaskRecord(
                    id: id, index: row["idx"], seed: UInt64(row["seed"] as Int64), difficulty: row["difficulty"],
                    status: try value(row, "status", table: "tasks", id: id),
                    task: try taskSpec(row, table: "tasks", id: id), promptHash: row["prompt_hash"],
                    failure: try failure(row, table: "tasks", id: id))
            }
        }
    }

    /// Normalised-prompt hashes of every task recorded before `round`, for exact-duplicate detection.
    public func promptHashes(before round: Int) throws -> Set<String> {
        try read { db in
            Set(
                try String.fetchAll(
                    db, sql: "SELECT prompt_hash FROM tasks WHERE round < ? AND prompt_hash IS NOT NULL",
                    arguments: [round]))
        }
    }

    public func insertTask(
        round: Int, index: Int, seed: UInt64, difficulty: Int, status: TaskStatus, task: TaskSpec?,
        promptHash: String?, contamination: String?, failure: PluginFailure?, seconds: Double, retries: Int = 0
    ) throws -> Int64 {
        let id = try nextID("tasks")
        let arguments: StatementArguments = [
            id, round, index, Int64(seed), difficulty, status.rawValue, Self.bytes(task?.prompt),
            Self.bytes(task?.reference?.jsonText), Self.bytes(task?.meta?.jsonText), promptHash,
            Self.bytes(contamination), failure?.kind.rawValue, Self.bytes(failure?.message), seconds, retries,
        ]
        try buffered { db in
            try db.cachedStatement(
                sql: """
                    INSERT INTO tasks(id, round, idx, seed, difficulty, status, prompt, reference, meta, prompt_hash,
                                      contamination, error_kind, error, seconds, retries)
                    VALUES (?, ?, ?, ?, ?, ?, CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), ?, CAST(? AS TEXT), ?,
                            CAST(? AS TEXT), ?, ?)
                    """
            ).execute(arguments: arguments)
        }
        return id
    }

    func taskSpec(_ row: Row, table: String, id: Int64) throws -> TaskSpec? {
        guard let prompt = try text(row, "prompt", table: table, id: id) else { return nil }
        let reference = try text(row, "reference", table: table, id: id)
        let meta = try text(row, "meta", table: table, id: id)
        do {
            return TaskSpec(
                prompt: prompt, reference: try reference.map(JSONValue.parse), meta: try meta.map(JSONValue.parse))
        } catch {
            throw corrupt(table, row["idx"] as Int, "its reference or meta is not JSON")
        }
    }

    /// The recorded failure of a row (its `error_kind` and free-text `error`), if it has one.
    func failure(_ row: Row, table: String, id: Any) throws -> PluginFailure? {
        guard row["error_kind"] as String? != nil else { return nil }
        let kind: PluginFailure.Kind = try value(row, "error_kind", table: table, id: id)
        return PluginFailure(kind, try text(row, "error", table: table, id: id) ?? "")
    }

    // MARK: Attempts and verdicts

    public func attempts(round: Int) throws -> [AttemptRecord] {
        try read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT a.id, a.task_id, a.attempt, a.solver_version, a.error_kind, \(Self.text("a.answer")),
                           \(column("a.rationalized", addedBy: Schema.rationalization)) AS rationalized,
                           \(Self.text("a.trace")), \(Self.text("a.usage")), \(Self.text("a.error"))
                    FROM attempts a JOIN tasks t ON t.id = a.task_id WHERE t.round = ?
                    ORDER BY a.task_id, a.attempt
                    """, arguments: [round]
            ).map { row in
                let id: Int64 = row["id"]
                let answer = try text(row, "answer", table: "attempts", id: id)
                let usage = try text(row, "usage", table: "attempts", id: id)
                return AttemptRecord(
                    id: id, taskID: row["task_id"], attempt: row["attempt"], solverVersion: row["solver_version"],
                    rationalized: row["rationalized"] ?? false,
                    solution: try answer.map {
                        Solution(
                            answer: $0, trace: try text(row, "trace", table: "attempts", id: id),
                            usage: try usage.map(JSONValue.parse))
                    }, failure: try failure(row, table: "attempts", id: id))
            }
        }
    }

    public func insertAttempt(
        taskID: Int64, attempt: Int, seed: UInt64, solverVersion: Int64, rationalized: Bool = false,
        result: Result<Solution, PluginFailure>, seconds: Double, retries: Int = 0
    ) throws -> Int64 {
        let solution = try? result.get()
        let failure: PluginFailure? = if case .failure(let failure) = result { failure } else { nil }
        let id = try nextID("attempts")
        let arguments: StatementArguments = [
            id, taskID, attempt, Int64(seed), solverVersion, rationalized, Self.bytes(solution?.answer),
            Self.bytes(solution?.trace), Self.bytes(solution?.usage?.jsonText), failure?.kind.rawValue,
            Self.bytes(failure?.message), seconds, retries,
        ]
        try buffered { db in
            try db.cachedStatement(
                sql: """
                    INSERT INTO attempts(id, task_id, attempt, seed, solver_version, rationalized, answer, trace, usage,
                                         error_kind, error, seconds, retries)
                    VALUES (?, ?, ?, ?, ?, ?, CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), ?, CAST(? AS TEXT),
                            ?, ?)
                    """
            ).execute(arguments: arguments)
        }
        return id
    }

    public func verdicts(round: Int) throws -> [VerdictRecord] {
        try read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT v.attempt_id, v.accept, v.score, v.error_kind, \(Self.text("v.reason")),
                           \(Self.text("v.error"))
                    FROM verdicts v JOIN attempts a ON a.id = v.attempt_id JOIN tasks t ON t.id = a.task_id
                    WHERE t.round = ?
                    """, arguments: [round]
            ).map { row in
                let id: Int64 = row["attempt_id"]
                let failure = try failure(row, table: "verdicts", id: id)
                return VerdictRecord(
                    attemptID: id,
                    judgement: failure == nil
                        ? Judgement(
                            accept: row["accept"], score: row["score"],
                            reason: try text(row, "reason", table: "verdicts", id: id)) : nil,
                    failure: failure)
            }
        }
    }

    /// Records a verdict and, when accepted, its compressed example, in one transaction.
    /// - Parameter fingerprint: the checker that judged; nil only where no checker is known (tests).
    public func insertVerdict(
        attemptID: Int64, round: Int, result: Result<Judgement, PluginFailure>, checker: String,
        fingerprint: CheckerFingerprint? = nil, seconds: Double, example: CompressedExample?, retries: Int = 0
    ) throws {
        let judgement = try? result.get()
        let failure: PluginFailure? = if case .failure(let failure) = result { failure } else { nil }
        let arguments: StatementArguments = [
            attemptID, judgement?.accept ?? false, judgement?.score ?? 0, Self.bytes(judgement?.reason),
            failure?.kind.rawValue, Self.bytes(failure?.message), Self.bytes(checker), seconds, retries,
        ]
        try buffered { db in
            let checkerRow = try fingerprint.map { try Self.checkerID(db, $0) }
            try db.cachedStatement(
                sql: """
                    INSERT INTO verdicts(attempt_id, accept, score, reason, error_kind, error, checker, seconds, retries,
                                         checker_id)
                    VALUES (?, ?, ?, CAST(? AS TEXT), ?, CAST(? AS TEXT), CAST(? AS TEXT), ?, ?, ?)
                    """
            ).execute(arguments: arguments + [checkerRow])
            if let example {
                try db.cachedStatement(
                    sql: """
                        INSERT INTO examples(attempt_id, round, dictionary_id, payload, raw_bytes, checksum)
                        VALUES (?, ?, ?, ?, ?, ?)
                        """
                ).execute(arguments: [
                    attemptID, round, example.dictionaryID, example.payload, example.rawBytes, example.checksum,
                ])
            }
        }
    }

    // MARK: Held-out set

    public func heldoutItems() throws -> [TaskRecord] {
        try read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT idx, seed, status, prompt_hash, error_kind, \(Self.taskText) FROM heldout_items ORDER BY idx
                    """
            ).map { row in
                let index: Int = row["idx"]
                return TaskRecord(
                    id: Int64(index), index: index, seed: UInt64(row["seed"] as Int64), difficulty: 0,
                    status: try value(row, "status", table: "heldout_items", id: index),
                    task: try taskSpec(row, table: "heldout_items", id: Int64(index)), promptHash: row["prompt_hash"],
                    failure: try failure(row, table: "heldout_items", id: index))
            }
        }
    }

    public func insertHeldoutItem(
        index: Int, seed: UInt64, status: TaskStatus, task: TaskSpec?, promptHash: String?, failure: PluginFailure?,
        retries: Int = 0
    ) throws {
        let arguments: StatementArguments = [
            index, Int64(seed), status.rawValue, Self.bytes(task?.prompt), Self.bytes(task?.reference?.jsonText),
            Self.bytes(task?.meta?.jsonText), promptHash, failure?.kind.rawValue, Self.bytes(failure?.message), retries,
        ]
        try buffered { db in
            try db.cachedStatement(
                sql: """
                    INSERT INTO heldout_items(idx, seed, status, prompt, reference, meta, prompt_hash, error_kind, error,
                                              retries)
                    VALUES (?, ?, ?, CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), ?, ?, CAST(? AS TEXT), ?)
                    """
            ).execute(arguments: arguments)
        }
    }

    public func heldoutResults(round: Int) throws -> [HeldoutResult] {
        try read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT idx, accept, score, error_kind, \(Self.text("answer")), \(Self.text("reason")),
                           \(Self.text("error")), \(Self.text(column("usage", addedBy: "v2: held-out token usage"), as: "usage"))
                    FROM heldout_results WHERE round = ? ORDER BY idx
                    """, arguments: [round]
            ).map { row in
                let id = "\(round)/\(row["idx"] as Int)"
                let judgement = Judgement(
                    accept: row["accept"], score: row["score"],
                    reason: try text(row, "reason", table: "heldout_results", id: id))
                return HeldoutResult(
                    index: row["idx"], answer: try text(row, "answer", table: "heldout_results", id: id),
                    outcome: try failure(row, table: "heldout_results", id: id).map { .failure($0) }
                        ?? .success(judgement),
                    usage: try text(row, "usage", table: "heldout_results", id: id).map(JSONValue.parse))
            }
        }
    }

    /// - Parameter fingerprint: the checker that judged the answer; nil when none did (the solver failed) or none
    ///   is known (tests).
    /// Records `from`'s held-out results again as round `to`'s, for a candidate identical to `from`'s version:
    /// the same answers and judgements, with no retries and no token usage, since nothing was asked again.
    /// - Returns: how many results were copied.
    @discardableResult
    public func copyHeldoutResults(from: Int, to round: Int, solverVersion: Int64) throws -> Int {
        try write { db in
            try db.execute(
                sql: """
                    INSERT INTO heldout_results(round, idx, solver_version, answer, accept, score, reason,
                                                error_kind, error, usage, retries, checker_id)
                    SELECT ?, idx, ?, answer, accept, score, reason, error_kind, error, NULL, 0, checker_id
                    FROM heldout_results WHERE round = ? ORDER BY idx
                    """, arguments: [round, solverVersion, from])
            return db.changesCount
        }
    }

    public func insertHeldoutResult(
        _ result: HeldoutResult, round: Int, solverVersion: Int64, retries: Int = 0,
        fingerprint: CheckerFingerprint? = nil
    ) throws {
        let arguments: StatementArguments = [
            round, result.index, solverVersion, Self.bytes(result.answer), result.accept, result.score,
            Self.bytes(result.reason), result.failure?.kind.rawValue, Self.bytes(result.failure?.message),
            Self.bytes(result.usage?.jsonText), retries,
        ]
        try buffered { db in
            let checkerRow = try fingerprint.map { try Self.checkerID(db, $0) }
            try db.cachedStatement(
                sql: """
                    INSERT INTO heldout_results(round, idx, solver_version, answer, accept, score, reason,
                                                error_kind, error, usage, retries, checker_id)
                    VALUES (?, ?, ?, CAST(? AS TEXT), ?, ?, CAST(? AS TEXT), ?, CAST(? AS TEXT), CAST(? AS TEXT), ?, ?)
                    """
            ).execute(arguments: arguments + [checkerRow])
        }
    }
}

extension Store {
    /// Deletes the solver, checker and held-out evaluation errors recorded in `round`, in one transaction, so that
    /// resuming the round after a failure tries those items again. Generator errors stay: a task keeps its index.
    /// - Returns: The rows deleted.
    public func discardErrors(round: Int) throws -> Int {
        try write { db in
            let before = db.totalChangesCount
            for sql in [
                """
                DELETE FROM verdicts WHERE error_kind IS NOT NULL AND attempt_id IN (
                    SELECT a.id FROM attempts a JOIN tasks t ON t.id = a.task_id WHERE t.round = ?)
                """,
                "DELETE FROM attempts WHERE error_kind IS NOT NULL AND task_id IN (SELECT id FROM tasks WHERE round = ?)",
                "DELETE FROM heldout_results WHERE round = ? AND error_kind IS NOT NULL",
            ] {
                try db.execute(sql: sql, arguments: [round])
            }
            return db.totalChangesCount - before
        }
    }
}
