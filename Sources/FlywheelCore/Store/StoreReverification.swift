import Foundation
import GRDB

/// A stored accepted example, as `reverify` checks it again.
public struct StoredAcceptedExample: Sendable, Equatable {
    /// The `examples` row.
    public var id: Int64
    public var round: Int
    public var taskIndex: Int
    public var attempt: Int
    /// Prompt, answer, reference and meta as the frame holds them.
    public var example: StoredExample
}

extension Store {
    /// Every stored accepted example of every round (rejected and uncommitted rounds' too), decompressed, in task
    /// order.
    public func acceptedExamples() throws -> [StoredAcceptedExample] {
        let dictionaries = try dictionaries()
        return try read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT e.round, t.idx, a.attempt, \(exampleColumns) FROM examples e
                    JOIN attempts a ON a.id = e.attempt_id JOIN tasks t ON t.id = a.task_id
                    ORDER BY e.round, t.idx, a.attempt
                    """
            ).map { row in
                StoredAcceptedExample(
                    id: row["id"], round: row["round"], taskIndex: row["idx"], attempt: row["attempt"],
                    example: try decodeExample(db, row, dictionaries: dictionaries))
            }
        }
    }

    /// Records the start of a re-verification with `checker`.
    /// - Returns: Its id, for `insertRecheck` and `finishReverification`.
    public func beginReverification(_ checker: CheckerFingerprint, at: String = Timestamp.now()) throws -> Int64 {
        try write { db in
            let checkerRow = try Self.checkerID(db, checker)
            try db.execute(
                sql: "INSERT INTO reverifications(checker_id, started_at) VALUES (?, ?)", arguments: [checkerRow, at])
            return db.lastInsertedRowID
        }
    }

    /// Records one example's re-check, in its own transaction (a killed `reverify` keeps what it finished).
    public func insertRecheck(
        reverification: Int64, example: Int64, result: Result<Judgement, PluginFailure>
    ) throws {
        let judgement = try? result.get()
        let failure: PluginFailure? = if case .failure(let failure) = result { failure } else { nil }
        try write { db in
            try db.execute(
                literal: """
                    INSERT INTO rechecks(reverification, example_id, accept, score, reason, error_kind, error)
                    VALUES (\(reverification), \(example), \(judgement?.accept ?? false), \(judgement?.score ?? 0),
                            \(text: judgement?.reason), \(failure?.kind.rawValue), \(text: failure?.message))
                    """)
        }
    }

    /// Marks a re-verification as having checked every example.
    public func finishReverification(_ id: Int64, at: String = Timestamp.now()) throws {
        try write { db in
            try db.execute(sql: "UPDATE reverifications SET finished_at = ? WHERE id = ?", arguments: [at, id])
        }
    }

    /// Every re-verification, oldest first, with what each found.
    public func reverifications() throws -> [Reverification] {
        guard migrations.contains(Schema.reverification) else { return [] }
        return try read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT r.id, r.started_at, r.finished_at, c.id AS checker,
                           \(Self.text("c.fingerprint")), \(Self.text("c.identity")),
                           (SELECT count(*) FROM rechecks k WHERE k.reverification = r.id AND k.error_kind IS NULL)
                               AS checked,
                           (SELECT count(*) FROM rechecks k
                            WHERE k.reverification = r.id AND k.error_kind IS NULL AND k.accept = 0) AS flipped,
                           (SELECT count(*) FROM rechecks k WHERE k.reverification = r.id AND k.error_kind IS NOT NULL)
                               AS errors
                    FROM reverifications r JOIN checkers c ON c.id = r.checker_id ORDER BY r.id
                    """
            ).map { row in
                Reverification(
                    id: row["id"], checker: try checkerFingerprint(row, id: row["checker"]),
                    startedAt: row["started_at"],
                    finishedAt: row["finished_at"], checked: row["checked"], flipped: row["flipped"],
                    errors: row["errors"])
            }
        }
    }

    /// The `accept` of example `e`'s latest judged re-check (check errors aside); NULL when it has none.
    static let latestJudgedRecheck = """
        (SELECT k.accept FROM rechecks k WHERE k.example_id = e.id AND k.error_kind IS NULL ORDER BY k.id DESC LIMIT 1)
        """

    /// Whether a re-verification ever judged a stored example wrong (later re-checks aside): cheaper than
    /// `flippedExamples()`, and enough to know that learning from summaries of earlier examples is unsafe.
    public func anyRecheckRejected() throws -> Bool {
        guard migrations.contains(Schema.reverification) else { return false }
        return try read { db in
            try Bool.fetchOne(
                db, sql: "SELECT EXISTS(SELECT 1 FROM rechecks WHERE accept = 0 AND error_kind IS NULL)") ?? false
        }
    }

    /// The `examples` ids a re-verification has flipped: their latest judged re-check rejected them. Learning and
    /// export leave these out.
    public func flippedExamples() throws -> Set<Int64> {
        guard migrations.contains(Schema.reverification) else { return [] }
        return try read { db in
            try Int64.fetchSet(
                db,
                sql: """
                    SELECT e.id FROM examples e WHERE \(Self.latestJudgedRecheck) = 0
                    """)
        }
    }
}
