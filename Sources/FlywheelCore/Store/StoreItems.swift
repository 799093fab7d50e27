import Foundation
import GRDB

extension Store {
    // MARK: Tasks

    public func tasks(round: Int) throws -> [TaskRecord] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM tasks WHERE round = ? ORDER BY idx", arguments: [round]).map {
                row in
                TaskRecord(
                    id: row["id"], index: row["idx"], seed: UInt64(row["seed"] as Int64), difficulty: row["difficulty"],
                    status: try value(row, "status", table: "tasks", id: row["id"] as Int64),
                    task: try taskSpec(row, table: "tasks"), promptHash: row["prompt_hash"],
                    failure: try failure(row, table: "tasks", id: row["id"] as Int64))
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

    private func taskSpec(_ row: Row, table: String) throws -> TaskSpec? {
        guard let prompt: String = row["prompt"] else { return nil }
        let reference: String? = row["reference"]
        let meta: String? = row["meta"]
        do {
            return TaskSpec(
                prompt: prompt, reference: try reference.map(JSONValue.parse), meta: try meta.map(JSONValue.parse))
        } catch {
            throw corrupt(table, row["idx"] as Int, "its reference or meta is not JSON")
        }
    }

    /// The recorded failure of a row, if it has one.
    private func failure(_ row: Row, table: String, id: Any) throws -> PluginFailure? {
        guard row["error_kind"] as String? != nil else { return nil }
        let kind: PluginFailure.Kind = try value(row, "error_kind", table: table, id: id)
        return PluginFailure(kind, row["error"] ?? "")
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
                    solverVersion: row["solver_version"],
                    solution: try answer.map {
                        Solution(answer: $0, trace: row["trace"], usage: try usage.map(JSONValue.parse))
                    }, failure: try failure(row, table: "attempts", id: row["id"] as Int64))
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
                let failure = try failure(row, table: "verdicts", id: row["attempt_id"] as Int64)
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

    // MARK: Held-out set

    public func heldoutItems() throws -> [TaskRecord] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM heldout_items ORDER BY idx").map { row in
                TaskRecord(
                    id: row["idx"], index: row["idx"], seed: UInt64(row["seed"] as Int64), difficulty: 0,
                    status: try value(row, "status", table: "heldout_items", id: row["idx"] as Int),
                    task: try taskSpec(row, table: "heldout_items"), promptHash: row["prompt_hash"],
                    failure: try failure(row, table: "heldout_items", id: row["idx"] as Int))
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
                        reason: row["reason"],
                        failure: try failure(row, table: "heldout_results", id: "\(round)/\(row["idx"] as Int)"),
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
}
