import Foundation
import GRDB

extension Store {
    /// The round's training verdicts (check errors aside) that no auditor has judged yet, in task and attempt order.
    public func auditCandidates(round: Int) throws -> [AuditCandidate] {
        try read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT a.id AS attempt_id, t.idx, a.attempt, v.accept, \(Self.text("a.answer")),
                           t.id AS task_id, \(taskColumns("t."))
                    FROM verdicts v JOIN attempts a ON a.id = v.attempt_id JOIN tasks t ON t.id = a.task_id
                    WHERE t.round = ? AND v.error_kind IS NULL
                      AND NOT EXISTS (SELECT 1 FROM audits WHERE audits.attempt_id = a.id)
                    ORDER BY t.idx, a.attempt
                    """, arguments: [round]
            ).map { row in
                let id: Int64 = row["attempt_id"]
                guard let task = try taskSpec(db, row, table: "tasks", id: row["task_id"]),
                    let answer = try text(row, "answer", table: "attempts", id: id)
                else { throw corrupt("attempts", id, "a judged answer without its task or answer text") }
                return AuditCandidate(
                    attemptID: id, taskIndex: row["idx"], attempt: row["attempt"], task: task, answer: answer,
                    accept: row["accept"])
            }
        }
    }

    /// Records the auditor's judgement of one verdict.
    public func insertAudit(
        attemptID: Int64, auditor: CheckerFingerprint, result: Result<Judgement, PluginFailure>
    ) throws {
        let judgement = try? result.get()
        let failure: PluginFailure? = if case .failure(let failure) = result { failure } else { nil }
        try write { db in
            let checker = try Self.checkerID(db, auditor)
            try db.execute(
                literal: """
                    INSERT INTO audits(attempt_id, checker_id, accept, score, reason, error_kind, error)
                    VALUES (\(attemptID), \(checker), \(judgement?.accept ?? false), \(judgement?.score ?? 0),
                            \(text: judgement?.reason), \(failure?.kind.rawValue), \(text: failure?.message))
                    """)
        }
    }

    /// The round's audited verdicts, in task and attempt order; empty for stores without audits.
    public func audits(round: Int) throws -> [AuditedVerdict] {
        guard migrations.contains(Schema.audits) else { return [] }
        return try read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT a.id AS attempt_id, t.idx, a.attempt, v.accept AS checker_accept,
                           au.accept AS audit_accept, au.error_kind, \(Self.text("au.reason")),
                           t.id AS task_id, \(taskColumns("t.")), \(Self.text("a.answer"))
                    FROM audits au JOIN attempts a ON a.id = au.attempt_id JOIN tasks t ON t.id = a.task_id
                    JOIN verdicts v ON v.attempt_id = a.id
                    WHERE t.round = ? ORDER BY t.idx, a.attempt
                    """, arguments: [round]
            ).map { row in
                let id: Int64 = row["attempt_id"]
                let failed = row["error_kind"] as String? != nil
                return AuditedVerdict(
                    taskIndex: row["idx"], attempt: row["attempt"],
                    prompt: try taskSpec(db, row, table: "tasks", id: row["task_id"])?.prompt ?? "",
                    answer: try text(row, "answer", table: "attempts", id: id) ?? "",
                    checkerAccepted: row["checker_accept"], auditAccepted: failed ? nil : row["audit_accept"],
                    auditReason: try text(row, "reason", table: "audits", id: id))
            }
        }
    }
}
