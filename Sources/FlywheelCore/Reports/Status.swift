import Foundation

/// `flywheel status`: the rounds so far, in the shape scripts rely on (SPEC §5); more fields are additive.
public enum Status {
    public static func json(pipeline: String, store: Store?) throws -> JSONValue {
        var rounds: [JSONValue] = []
        for record in try store?.rounds() ?? [] {
            rounds.append(try round(record, store: store!))
        }
        return .object(["pipeline": .string(pipeline), "rounds": .array(rounds)])
    }

    static func round(_ record: RoundRecord, store: Store) throws -> JSONValue {
        let counts = try record.summary?.counts ?? store.counts(round: record.round)
        var object: [String: JSONValue] = [
            "round": .number(Double(record.round)),
            "state": .string(record.state.rawValue),
            "generated": .number(Double(counts.generated)),
            "accepted": .number(Double(counts.accepted)),
            "duplicates": .number(Double(counts.duplicates)),
            "contaminated": .number(Double(counts.contaminated)),
            "attempts": .number(Double(counts.attempts)),
            "errors": .number(Double(counts.generationErrors + counts.solveErrors + counts.checkErrors)),
            "acceptance_rate": .number(counts.acceptanceRate),
            "difficulty": .number(Double(record.difficulty)),
            "data_policy": .string(record.dataPolicy),
            "gate": .string(record.gate),
            "learning": .bool(record.learning),
            "started_at": .string(record.startedAt),
        ]
        if let finished = record.finishedAt { object["finished_at"] = .string(finished) }
        if let summary = record.summary {
            object["heldout"] = .object([
                "n": .number(Double(summary.heldout.n)), "score": .number(summary.heldout.score),
                "ci": .array(summary.heldout.ci.map { .number($0) }), "errors": .number(Double(summary.heldoutErrors)),
            ])
            object["solver_version"] = .number(Double(summary.candidateVersion))
            object["learned_from"] = .number(Double(summary.learnedFrom))
            object["tokens"] = .object([
                "prompt": .number(Double(counts.promptTokens)), "completion": .number(Double(counts.completionTokens)),
                "evaluation_prompt": .number(Double(counts.evaluationPromptTokens)),
                "evaluation_completion": .number(Double(counts.evaluationCompletionTokens)),
            ])
            if let comparison = summary.vsPrevious {
                object["vs_previous"] = .object([
                    "round": summary.comparedWithRound.map { .number(Double($0)) } ?? .null,
                    "b": .number(Double(comparison.b)), "c": .number(Double(comparison.c)),
                    "p_value": .number(comparison.pValue), "verdict": .string(comparison.verdict.rawValue),
                    "method": .string(comparison.method),
                ])
            }
        }
        return .object(object)
    }

    /// The human table: one line a round.
    public static func table(_ status: JSONValue) -> String {
        var lines = ["round  state     generated  accepted  held-out score [95% CI]     vs previous"]
        for round in status["rounds"]?.arrayValue ?? [] {
            let number = Int(round["round"]?.doubleValue ?? 0)
            let state = round["state"]?.stringValue ?? ""
            var heldout = "-"
            if let h = round["heldout"], let score = h["score"]?.doubleValue,
                let ci = h["ci"]?.arrayValue, ci.count == 2
            {
                heldout = String(
                    format: "%.3f [%.3f, %.3f] n=%d", score, ci[0].doubleValue ?? 0, ci[1].doubleValue ?? 0,
                    Int(h["n"]?.doubleValue ?? 0))
            }
            var versus = number == 0 ? "baseline" : "-"
            if let v = round["vs_previous"] {
                versus = (v["verdict"]?.stringValue ?? "")
                    + String(
                        format: " (b=%d c=%d p=%.3g)", Int(v["b"]?.doubleValue ?? 0), Int(v["c"]?.doubleValue ?? 0),
                        v["p_value"]?.doubleValue ?? 1)
            }
            lines.append(
                String(format: "%5d  ", number) + state.padding(toLength: 9, withPad: " ", startingAt: 0)
                    + String(
                        format: " %9d %9d  ", Int(round["generated"]?.doubleValue ?? 0),
                        Int(round["accepted"]?.doubleValue ?? 0))
                    + heldout.padding(toLength: 27, withPad: " ", startingAt: 0) + " " + versus)
        }
        return lines.joined(separator: "\n")
    }
}
