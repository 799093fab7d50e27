import Foundation
import GRDB

extension Store {
    // MARK: Tasks

    /// The select-list entries a task row's text and prompt hash are read from (training tasks and held-out items
    /// share them), for `taskSpec(_:_:table:id:)` and `promptHash(_:)`; `alias` prefixes the table's alias.
    func taskColumns(_ alias: String = "") -> String {
        migrations.contains(Schema.compactText)
            ? "\(alias)task, \(alias)text_dictionary, \(alias)prompt_hash"
            : "\(Self.text(alias + "prompt")), \(Self.text(alias + "reference")), \(Self.text(alias + "meta")), "
                + "\(alias)prompt_hash"
    }

    public func tasks(round: Int) throws -> [TaskRecord] {
        try read { db in
            try Self.rows(
                db,
                sql: """
                    SELECT id, idx, seed, difficulty, status, error_kind, \(Self.text("error")), \(taskColumns())
                    FROM tasks WHERE round = ? ORDER BY idx
                    """, arguments: [round]
            ) { row in
                let id: Int64 = row["id"]
                return TaskRecord(
                    id: id, index: row["idx"], seed: UInt64(row["seed"] as Int64), difficulty: row["difficulty"],
                    status: try value(row, "status", table: "tasks", id: id),
                    task: try taskSpec(db, row, table: "tasks", id: id), promptHash: promptHash(row),
                    failure: try failure(row, table: "tasks", id: id))
            }
        }
    }

    /// Normalised-prompt hashes of every task recorded before `round`, for exact-duplicate detection.
    public func promptKeys(before round: Int) throws -> Set<PromptKey> {
        try read { db in
            // Every task of the store's history passes here once per round: read in place, one key apiece.
            var keys = Set<PromptKey>()
            // Sized once from the newest task id (no scan): growing the set as it fills cost more than filling it.
            keys.reserveCapacity(try Int.fetchOne(db, sql: "SELECT coalesce(max(id), 0) FROM tasks") ?? 0)
            let rows = try Row.fetchCursor(
                db, sql: "SELECT prompt_hash FROM tasks WHERE round < ? AND prompt_hash IS NOT NULL",
                arguments: [round])
            while let row = try rows.next() {
                _ = try row.withUnsafeData(atIndex: 0) { data in
                    data.map { bytes in bytes.withUnsafeBytes { keys.insert(PromptKey(stored: $0)) } }
                }
            }
            return keys
        }
    }

    /// - Parameter taskText: `task`'s `TaskCodec.plain` text, when the caller has it already.
    public func insertTask(
        round: Int, index: Int, seed: UInt64, difficulty: Int, status: TaskStatus, task: TaskSpec?,
        taskText: Data? = nil, promptHash: String?, contamination: String?, failure: PluginFailure?, seconds: Double,
        retries: Int = 0
    ) throws -> Int64 {
        let id = try nextID("tasks")
        let hash = PackedHex.value(promptHash)
        let values: [DatabaseValue] = [
            id.databaseValue, round.databaseValue, index.databaseValue, Int64(seed).databaseValue,
            difficulty.databaseValue, status.rawValue.databaseValue, Self.bytes(contamination).databaseValue,
            failure?.kind.rawValue.databaseValue ?? .null, Self.bytes(failure?.message).databaseValue,
            seconds.databaseValue, retries.databaseValue, hash,
        ]
        let dictionaries = dictionaryCache
        try buffered { db in
            let (frame, dictionary) = try Self.compressTask(db, task, text: taskText, dictionaries)
            try Self.stepOnce(
                db.cachedStatement(
                    sql: """
                        INSERT INTO tasks(id, round, idx, seed, difficulty, status, contamination, error_kind, error,
                                          seconds, retries, prompt_hash, task, text_dictionary)
                        VALUES (?, ?, ?, ?, ?, ?, CAST(? AS TEXT), ?, CAST(? AS TEXT), ?, ?, ?, ?, ?)
                        """), values + [frame.databaseValue, dictionary.databaseValue])
        }
        return id
    }

    /// A task's frame, compressed with the store's newest dictionary, and that dictionary's id. Call inside a write;
    /// static, so that a queued write (`buffered(_:)`) need not capture the store.
    private static func compressTask(
        _ db: Database, _ task: TaskSpec?, text: Data? = nil, _ dictionaries: DictionaryCache
    ) throws -> (frame: Data?, dictionary: Int64?) {
        guard let task else { return (nil, nil) }
        let dictionary = try dictionaries.newest(db)
        return (try TaskCodec.compress(task, plain: text, dictionary: dictionary?.prepared), dictionary?.id)
    }

    /// When the store has no dictionary yet, trains one on the held-out items' text, which serves every later
    /// task's text and every example, and recompresses the held-out items with it. Call once the held-out set is
    /// generated, before round 0 commits (committed rows never change).
    /// - Returns: whether a dictionary was trained.
    @discardableResult
    public func trainTaskDictionaryIfDue(round: Int) throws -> Bool {
        try write { db in try TaskText.trainDictionaryIfDue(db, round: round, dictionaries: dictionaryCache) }
    }

    /// The task of a row that selected `taskColumns(_:)`; nil for a generator error. The one decoder of task text.
    /// - Throws: `FlywheelError(.corruptStore)` naming the row when the text does not decode.
    func taskSpec(_ db: Database, _ row: Row, table: String, id: Int64) throws -> TaskSpec? {
        do {
            guard migrations.contains(Schema.compactText) else {
                return try TaskText.unversioned(row, table: table, id: id)
            }
            guard !(row["task"] as DatabaseValue).isNull else { return nil }
            return try TaskText.decode(
                row["task"], dictionary: try taskDictionary(db, row, table: table, id: id), table: table, id: id)
        } catch let error as TaskTextError {
            throw corrupt(error.table, error.id, error.problem)
        }
    }

    /// The text (`TaskCodec.plain`) of a task row of schema v9 or later that selected `taskColumns(_:)`, without
    /// decoding it: what its examples were compressed against. Nil for a generator error.
    func taskText(_ db: Database, _ row: Row, table: String, id: Int64) throws -> Data? {
        do {
            guard !(row["task"] as DatabaseValue).isNull else { return nil }
            return try TaskText.text(
                row["task"], dictionary: try taskDictionary(db, row, table: table, id: id), table: table, id: id)
        } catch let error as TaskTextError {
            throw corrupt(error.table, error.id, error.problem)
        }
    }

    /// The dictionary a task row's frame names, if any.
    private func taskDictionary(_ db: Database, _ row: Row, table: String, id: Int64) throws -> Zstd.Dictionary? {
        try (row["text_dictionary"] as Int64?).map { dictionaryID in
            guard let dictionary = try dictionaryCache.dictionary(db, id: dictionaryID) else {
                throw TaskTextError(
                    table: table, id: id, problem: "it names dictionary \(dictionaryID), which is missing")
            }
            return dictionary
        }
    }

    /// The prompt hash of a row that selected `prompt_hash`, as the engine compares it (lowercase hex).
    func promptHash(_ row: Row) -> String? {
        PackedHex.text(row["prompt_hash"])
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
            try Self.rows(
                db,
                sql: """
                    SELECT a.id, a.task_id, a.attempt, a.solver_version, a.error_kind, \(Self.text("a.answer")),
                           \(column("a.rationalized", addedBy: Schema.rationalization)) AS rationalized,
                           \(Self.text("a.trace")), \(Self.text("a.usage")), \(Self.text("a.error"))
                    FROM attempts a JOIN tasks t ON t.id = a.task_id WHERE t.round = ?
                    ORDER BY a.task_id, a.attempt
                    """, arguments: [round]
            ) { row in
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
        let values: [DatabaseValue] = [
            id.databaseValue, taskID.databaseValue, attempt.databaseValue, Int64(seed).databaseValue,
            solverVersion.databaseValue, rationalized.databaseValue, Self.bytes(solution?.answer).databaseValue,
            Self.bytes(solution?.trace).databaseValue, Self.bytes(solution?.usage?.jsonText).databaseValue,
            failure?.kind.rawValue.databaseValue ?? .null, Self.bytes(failure?.message).databaseValue,
            seconds.databaseValue, retries.databaseValue,
        ]
        try buffered { db in
            try Self.stepOnce(
                db.cachedStatement(
                    sql: """
                        INSERT INTO attempts(id, task_id, attempt, seed, solver_version, rationalized, answer, trace,
                                             usage, error_kind, error, seconds, retries)
                        VALUES (?, ?, ?, ?, ?, ?, CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), ?,
                                CAST(? AS TEXT), ?, ?)
                        """), values)
        }
        return id
    }

    public func verdicts(round: Int) throws -> [VerdictRecord] {
        try read { db in
            try Self.rows(
                db,
                sql: """
                    SELECT v.attempt_id, v.accept, v.score, v.error_kind, \(Self.text("v.reason")),
                           \(Self.text("v.error"))
                    FROM verdicts v JOIN attempts a ON a.id = v.attempt_id JOIN tasks t ON t.id = a.task_id
                    WHERE t.round = ?
                    """, arguments: [round]
            ) { row in
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
        fingerprint: CheckerFingerprint? = nil, seconds: Double, example: AcceptedExample?, retries: Int = 0
    ) throws {
        let judgement = try? result.get()
        let failure: PluginFailure? = if case .failure(let failure) = result { failure } else { nil }
        // The checkers row names the checker; the verdict repeats it only when it was named otherwise.
        let named = fingerprint?.identity == checker ? nil : checker
        let values: [DatabaseValue] = [
            attemptID.databaseValue, (judgement?.accept ?? false).databaseValue, (judgement?.score ?? 0).databaseValue,
            Self.bytes(judgement?.reason).databaseValue, failure?.kind.rawValue.databaseValue ?? .null,
            Self.bytes(failure?.message).databaseValue, Self.bytes(named).databaseValue, seconds.databaseValue,
            retries.databaseValue,
        ]
        try buffered { db in
            let checkerRow = try fingerprint.map { try Self.checkerID(db, $0) }
            try Self.stepOnce(
                db.cachedStatement(
                    sql: """
                        INSERT INTO verdicts(attempt_id, accept, score, reason, error_kind, error, checker, seconds,
                                             retries, checker_id)
                        VALUES (?, ?, ?, CAST(? AS TEXT), ?, CAST(? AS TEXT), CAST(? AS TEXT), ?, ?, ?)
                        """), values + [checkerRow.databaseValue])
            if let example = try example?.compressed() {
                try Self.stepOnce(
                    db.cachedStatement(
                        sql: """
                            INSERT INTO examples(attempt_id, round, dictionary_id, against_task, payload, raw_bytes,
                                                 checksum)
                            VALUES (?, ?, ?, ?, ?, ?, ?)
                            """),
                    [
                        attemptID.databaseValue, round.databaseValue, example.dictionaryID.databaseValue,
                        example.againstTask.databaseValue, example.payload.databaseValue,
                        example.rawBytes.databaseValue, PackedHex.value(example.checksum),
                    ])
            }
        }
    }

    // MARK: Held-out set

    public func heldoutItems() throws -> [TaskRecord] {
        try read { db in
            try Self.rows(
                db,
                sql: """
                    SELECT idx, seed, status, error_kind, \(Self.text("error")), \(taskColumns())
                    FROM heldout_items ORDER BY idx
                    """
            ) { row in
                let index: Int = row["idx"]
                return TaskRecord(
                    id: Int64(index), index: index, seed: UInt64(row["seed"] as Int64), difficulty: 0,
                    status: try value(row, "status", table: "heldout_items", id: index),
                    task: try taskSpec(db, row, table: "heldout_items", id: Int64(index)), promptHash: promptHash(row),
                    failure: try failure(row, table: "heldout_items", id: index))
            }
        }
    }

    public func insertHeldoutItem(
        index: Int, seed: UInt64, status: TaskStatus, task: TaskSpec?, promptHash: String?, failure: PluginFailure?,
        retries: Int = 0
    ) throws {
        let arguments: StatementArguments = [
            index, Int64(seed), status.rawValue, PackedHex.value(promptHash), failure?.kind.rawValue,
            Self.bytes(failure?.message), retries,
        ]
        let dictionaries = dictionaryCache
        try buffered { db in
            let (frame, dictionary) = try Self.compressTask(db, task, dictionaries)
            try db.cachedStatement(
                sql: """
                    INSERT INTO heldout_items(idx, seed, status, prompt_hash, error_kind, error, retries, task,
                                              text_dictionary)
                    VALUES (?, ?, ?, ?, ?, CAST(? AS TEXT), ?, ?, ?)
                    """
            ).execute(arguments: arguments + [frame, dictionary])
        }
    }

    /// - Parameter fingerprint: the checker that judged the answer; nil when none did (the solver failed) or none
    ///   is known (tests).
    public func insertHeldoutResult(
        _ result: HeldoutResult, round: Int, solverVersion: Int64, retries: Int = 0,
        fingerprint: CheckerFingerprint? = nil
    ) throws {
        let arguments: StatementArguments = [
            round, result.index, solverVersion, result.accept, result.score, result.failure?.kind.rawValue,
            Self.bytes(result.failure?.message), Self.bytes(result.usage?.jsonText), retries,
        ]
        let answers = heldoutAnswers
        try buffered { db in
            let checkerRow = try fingerprint.map { try Self.checkerID(db, $0) }
            let answer = try answers.id(db, answer: result.answer, reason: result.reason)
            try db.cachedStatement(
                sql: """
                    INSERT INTO heldout_results(round, idx, solver_version, accept, score, error_kind, error, usage,
                                                retries, checker_id, answer_id)
                    VALUES (?, ?, ?, ?, ?, ?, CAST(? AS TEXT), CAST(? AS TEXT), ?, ?, ?)
                    """
            ).execute(arguments: arguments + [checkerRow, answer])
        }
    }
}

extension Store {
    /// The select-list entries (`answer`, `reason`) and join that read a held-out result `r`'s answer and reason;
    /// since v9 a result names them in `heldout_answers`.
    var heldoutAnswer: (select: String, join: String) {
        guard migrations.contains(Schema.compactText) else {
            return ("\(Self.text("r.answer")), \(Self.text("r.reason"))", "")
        }
        return (
            "\(Self.text("ha.answer")), \(Self.text("ha.reason"))",
            "LEFT JOIN heldout_answers ha ON ha.id = r.answer_id"
        )
    }

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
