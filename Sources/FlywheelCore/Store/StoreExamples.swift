import Foundation
import GRDB

/// Which accepted examples to read.
public enum ExampleSelection: Sendable, Equatable {
    /// Every stored example.
    case all
    /// One round's.
    case round(Int)
    /// Those of committed (promoted or rejected) rounds: what a dictionary is trained on.
    case committed
    /// What learning sees in `round` under `policy`: never an example a re-verification flipped, nor a rationalized
    /// one unless `rationalized`, and under `accumulate` only the promoted rounds on the lineage of the version the
    /// round started from (a rollback sets the rounds after its target aside).
    case learning(round: Int, policy: DataPolicy, rationalized: Bool = true)
    /// What `export` writes of one round: its examples that no re-verification flipped (and no rationalized one
    /// unless `rationalized`).
    case export(round: Int, rationalized: Bool = true)
    /// Those of the given attempts.
    case attempts([Int64])
}

extension Store {

    /// The newest dictionary, used for every example (and task text) compressed from now on.
    public func currentDictionary() throws -> ExampleDictionary? {
        try read { db in try dictionaryCache.newest(db) }
    }

    /// Every stored dictionary, digested.
    func dictionaries() throws -> [Int64: Zstd.Dictionary] {
        try read { db in
            var dictionaries: [Int64: Zstd.Dictionary] = [:]
            for id in try Int64.fetchAll(db, sql: "SELECT id FROM dictionaries") {
                dictionaries[id] = try dictionaryCache.dictionary(db, id: id)
            }
            return dictionaries
        }
    }

    /// Stores a dictionary trained on examples; the newest dictionary compresses every later frame.
    public func insertDictionary(_ bytes: Data, round: Int, samples: Int) throws {
        try write { db in
            try db.execute(
                sql: "INSERT INTO dictionaries(zstd_id, created_round, samples, bytes) VALUES (?, ?, ?, ?)",
                arguments: [Int64(Zstd.dictionaryID(ofDictionary: bytes)), round, samples, bytes])
        }
    }

    /// Accepted examples, decompressed, in task order (round, index, attempt) — never in insertion order, which
    /// depends on which item finished first.
    public func examples(_ selection: ExampleSelection) throws -> [StoredExample] {
        try exampleRows(selection).map(\.example)
    }

    /// Examples learning may see in `round`: its own plus, under `accumulate`, every promoted round's.
    public func learningExamples(round: Int, policy: DataPolicy, rationalized: Bool = true) throws -> [Example] {
        try examples(.learning(round: round, policy: policy, rationalized: rationalized)).map {
            Example(prompt: $0.prompt, answer: $0.answer, meta: $0.meta)
        }
    }

    /// How many examples `selection` holds, counted without decompressing any.
    public func count(_ selection: ExampleSelection) throws -> Int {
        let (condition, arguments) = sql(selection)
        return try read { db in
            try Int.fetchOne(
                db,
                sql: """
                    SELECT count(*) FROM examples e JOIN rounds r ON r.round = e.round
                    JOIN attempts a ON a.id = e.attempt_id JOIN tasks t ON t.id = a.task_id WHERE \(condition)
                    """, arguments: arguments) ?? 0
        }
    }

    /// The `WHERE` condition over `examples e JOIN rounds r` (and the example's attempt `a` and task `t`).
    private func sql(_ selection: ExampleSelection) -> (String, StatementArguments) {
        switch selection {
        case .all: ("1", [])
        case .round(let round): ("e.round = ?", [round])
        case .committed: ("r.state IN ('promoted', 'rejected')", [])
        case .learning(let round, .accumulate, let rationalized):
            (
                """
                (e.round = ? OR (r.state = 'promoted' AND e.round > 0 AND e.round IN (\(Self.lineageRounds(
                    from: "(SELECT solver_version FROM rounds WHERE round = ?)"))))) AND \(notFlipped)
                    AND \(rationalizedAllowed(rationalized))
                """, [round, round]
            )
        case .learning(let round, .replace, let rationalized):
            ("e.round = ? AND \(notFlipped) AND \(rationalizedAllowed(rationalized))", [round])
        case .export(let round, let rationalized):
            ("e.round = ? AND \(notFlipped) AND \(rationalizedAllowed(rationalized))", [round])
        case .attempts(let ids): ("e.attempt_id IN (\(ids.map { "\($0)" }.joined(separator: ",")))", [])
        }
    }

    /// True for an example `e` that no re-verification flipped: its latest judged re-check (check errors aside), if
    /// any, accepted it.
    private var notFlipped: String {
        guard migrations.contains(Schema.reverification) else { return "1" }
        return "\(Self.latestJudgedRecheck) IS NOT 0"
    }

    /// True for every example when `allowed`, else for those of attempts that were not rationalized.
    private func rationalizedAllowed(_ allowed: Bool) -> String {
        allowed || !migrations.contains(Schema.rationalization) ? "1" : "a.rationalized = 0"
    }

    private func exampleRows(_ selection: ExampleSelection) throws -> [(attemptID: Int64, example: StoredExample)] {
        let (condition, arguments) = sql(selection)
        let dictionaries = try dictionaries()
        return try read { db in
            try Self.rows(
                db,
                sql: """
                    SELECT e.attempt_id, \(exampleColumns) FROM examples e
                    JOIN rounds r ON r.round = e.round JOIN attempts a ON a.id = e.attempt_id
                    JOIN tasks t ON t.id = a.task_id
                    WHERE \(condition) ORDER BY e.round, t.idx, a.attempt
                    """, arguments: arguments
            ) { row in (row["attempt_id"], try decodeExample(db, row, dictionaries: dictionaries)) }
        }
    }

    /// The select-list entries an example `e` of task `t` is decoded from, for `decodeExample(_:_:dictionaries:)`.
    var exampleColumns: String {
        "e.id, e.payload, e.dictionary_id, e.checksum, "
            + "\(column("e.against_task", addedBy: Schema.compactText)) AS against_task, t.id AS task_id, "
            + taskColumns("t.")
    }

    /// An example row (selected with `exampleColumns`) decompressed and checked; a failure names the example. The
    /// one decoder of examples.
    func decodeExample(_ db: Database, _ row: Row, dictionaries: [Int64: Zstd.Dictionary]) throws -> StoredExample {
        let id: Int64 = row["id"]
        do {
            // Only stores of v9 or later compress against a task: their task rows are frames of its text.
            let taskText = (row["against_task"] as Bool? ?? false)
                ? try self.taskText(db, row, table: "tasks", id: row["task_id"]) : nil
            let raw = try ExampleCodec.decompress(
                payload: row["payload"], dictionaryID: row["dictionary_id"], dictionaries: dictionaries,
                checksum: PackedHex.text(row["checksum"]) ?? "", taskText: taskText)
            return try StoredExample(json: raw)
        } catch let error as FlywheelError {
            throw corrupt("examples", id, error.message)
        } catch {
            throw corrupt("examples", id, "its content is not an example (\(error))")
        }
    }

    // MARK: Reports and export

    /// A round's accepted examples with their lineage, in task and attempt order: what `export` writes (flipped
    /// examples left out).
    /// - Throws: `FlywheelError(.corruptStore)` when an example cannot be traced to its task, attempt and verdict.
    public func examplesWithLineage(round: Int, rationalized: Bool = true) throws
        -> [(lineage: ExampleLineage, example: StoredExample)]
    {
        let lineage = try exampleLineage(round: round)
        return try exampleRows(.export(round: round, rationalized: rationalized)).map { row in
            guard let origin = lineage[row.attemptID] else {
                throw corrupt("examples", "of attempt \(row.attemptID)", "round \(round)'s example has no training task, attempt or verdict")
            }
            return (origin, row.example)
        }
    }

    /// Lineage of every accepted example of `round`, by attempt id.
    ///
    /// The join goes through `tasks`, so an example that does not come from a training task is missing here:
    /// callers treat a missing entry as a damaged store.
    func exampleLineage(round: Int) throws -> [Int64: ExampleLineage] {
        try read { db in
            var lineage: [Int64: ExampleLineage] = [:]
            let rows = try Row.fetchCursor(
                db,
                sql: """
                    SELECT e.attempt_id, t.round, t.idx, t.seed AS task_seed, a.attempt, a.seed AS attempt_seed,
                           a.solver_version, \(verdictChecker.select),
                           \(column("a.rationalized", addedBy: Schema.rationalization)) AS rationalized
                    FROM examples e JOIN attempts a ON a.id = e.attempt_id JOIN tasks t ON t.id = a.task_id
                    JOIN verdicts v ON v.attempt_id = a.id \(verdictChecker.join)
                    WHERE e.round = ?
                    """, arguments: [round])
            while let row = try rows.next() {
                lineage[row["attempt_id"]] = try self.lineage(row)
            }
            return lineage
        }
    }

    /// Up to `limit` of the round's accepted examples, spread evenly over its tasks in task order, decompressed
    /// from their zstd frames.
    public func sampleAccepted(round: Int, limit: Int) throws -> [CheckedAnswer] {
        let rows = try read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT e.attempt_id, t.round, t.idx, t.seed AS task_seed, a.attempt, a.seed AS attempt_seed,
                           a.solver_version, v.score, \(verdictChecker.select), \(Self.text("v.reason"))
                    FROM examples e JOIN attempts a ON a.id = e.attempt_id JOIN tasks t ON t.id = a.task_id
                    JOIN verdicts v ON v.attempt_id = a.id \(verdictChecker.join)
                    WHERE e.round = ? ORDER BY t.idx, a.attempt
                    """, arguments: [round])
        }
        let chosen = Self.spread(rows, limit: limit)
        guard !chosen.isEmpty else { return [] }
        let examples = Dictionary(
            uniqueKeysWithValues: try exampleRows(.attempts(chosen.map { $0["attempt_id"] })).map {
                ($0.attemptID, $0.example)
            })
        return try chosen.compactMap { row in
            guard let example = examples[row["attempt_id"]] else { return nil }
            return CheckedAnswer(
                lineage: try lineage(row), prompt: example.prompt, answer: example.answer, accepted: true,
                score: row["score"], reason: try text(row, "reason", table: "verdicts", id: row["attempt_id"] as Int64))
        }
    }

    /// Up to `limit` of the round's answers the checker judged and turned down (not check errors), spread evenly
    /// over its tasks in task order.
    public func sampleRejected(round: Int, limit: Int) throws -> [CheckedAnswer] {
        try read { db in
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT a.id AS attempt_id, t.round, t.idx, t.seed AS task_seed, a.attempt,
                           a.seed AS attempt_seed, a.solver_version, v.score, \(verdictChecker.select),
                           \(Self.text("v.reason")), t.id AS task_id, \(taskColumns("t.")), \(Self.text("a.answer"))
                    FROM verdicts v JOIN attempts a ON a.id = v.attempt_id JOIN tasks t ON t.id = a.task_id
                    \(verdictChecker.join)
                    WHERE t.round = ? AND v.accept = 0 AND v.error_kind IS NULL
                    ORDER BY t.idx, a.attempt
                    """, arguments: [round])
            return try Self.spread(rows, limit: limit).map { row in
                let id: Int64 = row["attempt_id"]
                return CheckedAnswer(
                    lineage: try lineage(row),
                    prompt: try taskSpec(db, row, table: "tasks", id: row["task_id"])?.prompt ?? "",
                    answer: try text(row, "answer", table: "attempts", id: id) ?? "", accepted: false,
                    score: row["score"], reason: try text(row, "reason", table: "verdicts", id: id))
            }
        }
    }

    /// The dictionaries a round's examples were compressed with, and their bytes.
    public func dictionaryUse(round: Int) throws -> [DictionaryUse] {
        try read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT e.dictionary_id, d.zstd_id, d.created_round, d.samples, count(*) AS n,
                           sum(e.raw_bytes) AS raw, sum(length(e.payload)) AS stored,
                           \(column("e.against_task", addedBy: Schema.compactText)) AS against_task
                    FROM examples e LEFT JOIN dictionaries d ON d.id = e.dictionary_id
                    WHERE e.round = ? GROUP BY e.dictionary_id, against_task ORDER BY against_task, e.dictionary_id
                    """, arguments: [round]
            ).map { row in
                DictionaryUse(
                    id: row["dictionary_id"], againstTask: row["against_task"] ?? false, zstdID: row["zstd_id"],
                    trainedInRound: row["created_round"],
                    trainingSamples: row["samples"], examples: row["n"], rawBytes: row["raw"],
                    storedBytes: row["stored"])
            }
        }
    }

    /// Normalised-prompt hashes of the frozen held-out items.
    public func heldoutPromptHashes() throws -> Set<String> {
        try read { db in
            Set(
                try Row.fetchAll(db, sql: "SELECT prompt_hash FROM heldout_items WHERE prompt_hash IS NOT NULL")
                    .compactMap(promptHash))
        }
    }

    /// The select-list entry and join that read a verdict `v`'s checker as lineage names it. Since v9 a verdict
    /// names its checker only when that differs from the identity of its `checkers` row.
    var verdictChecker: (select: String, join: String) {
        guard migrations.contains(Schema.compactText) else { return (Self.text("v.checker"), "") }
        return (
            "CAST(coalesce(v.checker, vc.identity) AS BLOB) AS checker",
            "LEFT JOIN checkers vc ON vc.id = v.checker_id"
        )
    }

    /// An example's lineage from a row that selected `verdictChecker`.
    private func lineage(_ row: Row) throws -> ExampleLineage {
        ExampleLineage(
            round: row["round"], taskIndex: row["idx"], taskSeed: UInt64(bitPattern: row["task_seed"]),
            attempt: row["attempt"], attemptSeed: UInt64(bitPattern: row["attempt_seed"]),
            solverVersion: row["solver_version"],
            checker: try text(row, "checker", table: "verdicts", id: row["attempt_id"] as Int64) ?? "",
            rationalized: row["rationalized"] ?? false)
    }

    /// `limit` items at even steps through `items`, first one included; all of them when there are few.
    static func spread<T>(_ items: [T], limit: Int) -> [T] {
        guard items.count > limit else { return items }
        guard limit > 0 else { return [] }
        return (0..<limit).map { items[$0 * items.count / limit] }
    }
}
