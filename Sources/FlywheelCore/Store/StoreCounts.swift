import Foundation
import GRDB

extension Store {
    /// A round's counts, computed from its recorded rows: the same whether or not the round was resumed.
    /// - Parameter training: the round's `trainingCounts(round:)` when already read since its training stage ended
    ///   (nothing changes them after it): then only the held-out evaluation's share is read.
    public func counts(round: Int, training: RoundCounts? = nil) throws -> RoundCounts {
        try read { db in
            var counts = try training ?? trainingCounts(db, round: round)
            // A committed round's held-out results are one frame, summed here rather than in SQL.
            let heldout = try storedHeldoutResults(db, round: round, answers: false)
            var evaluationTokens = (prompt: 0.0, completion: 0.0)
            for result in heldout {
                guard let text = result.usage, case .object(let usage)? = try? JSONValue.parse(text) else { continue }
                evaluationTokens.prompt += usage["prompt_tokens"]?.doubleValue ?? 0
                evaluationTokens.completion += usage["completion_tokens"]?.doubleValue ?? 0
            }
            func tokens(_ sum: Double) -> Int { sum.isFinite && abs(sum) < 1e18 ? Int(sum) : 0 }
            counts.retries += heldout.reduce(0) { $0 + $1.retries }
            counts.evaluationPromptTokens = tokens(evaluationTokens.prompt)
            counts.evaluationCompletionTokens = tokens(evaluationTokens.completion)
            return counts
        }
    }

    /// A round's counts without its held-out evaluation's share (its retries and tokens): what its generate, solve
    /// and check requests recorded, and the examples they stored.
    public func trainingCounts(round: Int) throws -> RoundCounts {
        try read { db in try trainingCounts(db, round: round) }
    }

    private func trainingCounts(_ db: Database, round: Int) throws -> RoundCounts {
        var counts = RoundCounts()
        // Before v3 no retries were recorded: those columns read as NULL, summed as 0.
        let retries = { (table: String) in self.column("\(table).retries", addedBy: "v3: retries") }
        var taskErrors = 0
        var retried = 0
        for row in try Row.fetchAll(
            db,
            sql: """
                SELECT status, count(*) AS n, sum(seconds) AS s, count(error_kind) AS errors,
                       coalesce(sum(\(retries("tasks"))), 0) AS retries
                FROM tasks WHERE round = ? GROUP BY status
                """,
            arguments: [round])
        {
            let n: Int = row["n"]
            switch TaskStatus(rawValue: row["status"]) {
            case .kept: counts.kept = n
            case .duplicate: counts.duplicates = n
            case .contaminated: counts.contaminated = n
            default: counts.generationErrors = n
            }
            counts.generateSeconds += row["s"] ?? 0
            taskErrors += row["errors"] as Int
            retried += row["retries"] as Int
        }
        counts.generated = counts.kept + counts.duplicates + counts.contaminated
        if round == 0 {
            // The baseline generates only the held-out set: its failures are round 0's generation errors.
            for row in try Row.fetchAll(
                db,
                sql: "SELECT error_kind AS kind, count(*) AS n FROM heldout_items WHERE status = 'error' GROUP BY kind")
            {
                counts.generationErrors += row["n"] as Int
                counts.errorsByKind[row["kind"] ?? "error", default: 0] += row["n"] as Int
            }
            retried +=
                try Int.fetchOne(
                    db, sql: "SELECT coalesce(sum(\(retries("heldout_items"))), 0) FROM heldout_items") ?? 0
        }
        // One row per attempt and at most one verdict per attempt, so the left join counts each once.
        let items = try Row.fetchOne(
            db,
            sql: """
                SELECT count(*) AS attempts, count(a.error_kind) AS solve_errors,
                       coalesce(sum(a.seconds), 0) AS solve_seconds,
                       coalesce(sum(json_extract(a.usage, '$.prompt_tokens')), 0) AS prompt_tokens,
                       coalesce(sum(json_extract(a.usage, '$.completion_tokens')), 0) AS completion_tokens,
                       count(v.attempt_id) AS checked, count(v.error_kind) AS check_errors,
                       coalesce(sum(v.accept), 0) AS accepted, coalesce(sum(v.seconds), 0) AS check_seconds,
                       coalesce(sum(v.accept * \(column("a.rationalized", addedBy: Schema.rationalization))), 0)
                           AS rationalized,
                       coalesce(sum(\(retries("a"))), 0) + coalesce(sum(\(retries("v"))), 0) AS retries
                FROM attempts a JOIN tasks t ON t.id = a.task_id LEFT JOIN verdicts v ON v.attempt_id = a.id
                WHERE t.round = ?
                """, arguments: [round])!
        counts.attempts = items["attempts"]
        counts.solveErrors = items["solve_errors"]
        counts.solveSeconds = items["solve_seconds"]
        counts.promptTokens = items["prompt_tokens"]
        counts.completionTokens = items["completion_tokens"]
        counts.checked = items["checked"]
        counts.checkErrors = items["check_errors"]
        counts.accepted = items["accepted"]
        counts.rationalized = items["rationalized"]
        counts.checkSeconds = items["check_seconds"]
        retried += items["retries"] as Int
        // Most rounds have no errors: their kinds are looked up only when there are some.
        if taskErrors + counts.solveErrors + counts.checkErrors > 0 {
            let kinds = try Row.fetchAll(
                db,
                sql: """
                    SELECT error_kind AS kind, count(*) AS n FROM (
                        SELECT error_kind FROM tasks WHERE round = ?1 AND error_kind IS NOT NULL
                        UNION ALL SELECT a.error_kind FROM attempts a JOIN tasks t ON t.id = a.task_id
                            WHERE t.round = ?1 AND a.error_kind IS NOT NULL
                        UNION ALL SELECT v.error_kind FROM verdicts v JOIN attempts a ON a.id = v.attempt_id
                            JOIN tasks t ON t.id = a.task_id WHERE t.round = ?1 AND v.error_kind IS NOT NULL)
                    GROUP BY error_kind
                    """, arguments: [round])
            for row in kinds { counts.errorsByKind[row["kind"], default: 0] += row["n"] as Int }
        }
        let storage = try Row.fetchOne(
            db,
            sql: """
                SELECT count(*) AS n, coalesce(sum(raw_bytes), 0) AS raw, coalesce(sum(length(payload)), 0) AS stored
                FROM examples WHERE round = ?
                """, arguments: [round])!
        counts.retries = retried
        counts.storedExamples = storage["n"]
        counts.rawBytes = storage["raw"]
        counts.storedBytes = storage["stored"]
        return counts
    }
}
