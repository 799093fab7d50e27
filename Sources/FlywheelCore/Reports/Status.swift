import Foundation

/// `flywheel status`: the rounds so far, in the shape scripts rely on (SPEC §5); more fields are additive.
/// Encoded with snake_case keys (`JSON.SnakeCase`).
public struct Status: Encodable, Sendable {
    public var pipeline: String
    public var rounds: [Round]
    /// Every `flywheel rollback`, oldest first.
    public var rollbacks: [RollbackEvent] = []

    public struct Round: Encodable, Sendable {
        public var round: Int
        public var state: RoundState
        public var generated: Int
        public var accepted: Int
        public var duplicates: Int
        public var contaminated: Int
        public var attempts: Int
        public var errors: Int
        /// Plugin requests sent again after a crash, timeout or wrong id (held-out evaluation included).
        public var retries: Int
        public var acceptanceRate: Double
        public var difficulty: Int
        public var dataPolicy: DataPolicy
        public var gate: Gate
        public var learning: Bool
        public var startedAt: String
        public var finishedAt: String?
        /// The rest is known once the round commits.
        public var heldout: Heldout?
        public var solverVersion: Int64?
        public var learnedFrom: Int?
        public var tokens: Tokens?
        public var vsPrevious: PairedComparison?
    }

    public struct Heldout: Encodable, Sendable {
        public var n: Int
        public var score: Double
        public var ci: [Double]
        public var method: IntervalMethod
        /// Items that got no score (plugin errors).
        public var errors: Int
    }

    public struct Tokens: Encodable, Sendable {
        public var prompt: Int
        public var completion: Int
        public var evaluationPrompt: Int
        public var evaluationCompletion: Int
    }

    /// The status of `store`; no rounds when there is no store yet.
    public init(pipeline: String, store: Store?) throws {
        self.pipeline = pipeline
        rounds = try (store?.rounds() ?? []).map { record in try Self.round(record, store: store!) }
        rollbacks = try store?.rollbacks() ?? []
    }

    static func round(_ record: RoundRecord, store: Store) throws -> Round {
        let counts = try record.summary?.counts ?? store.counts(round: record.round)
        var round = Round(
            round: record.round, state: record.state, generated: counts.generated, accepted: counts.accepted,
            duplicates: counts.duplicates, contaminated: counts.contaminated, attempts: counts.attempts,
            errors: counts.errors, retries: counts.retries, acceptanceRate: counts.acceptanceRate,
            difficulty: record.difficulty,
            dataPolicy: record.dataPolicy, gate: record.gate, learning: record.learning, startedAt: record.startedAt,
            finishedAt: record.finishedAt)
        if let summary = record.summary {
            round.heldout = Heldout(
                n: summary.heldout.n, score: summary.heldout.score, ci: summary.heldout.ci,
                method: summary.heldout.method, errors: summary.heldoutErrors)
            round.solverVersion = summary.candidateVersion
            round.learnedFrom = summary.learnedFrom
            round.tokens = Tokens(
                prompt: counts.promptTokens, completion: counts.completionTokens,
                evaluationPrompt: counts.evaluationPromptTokens, evaluationCompletion: counts.evaluationCompletionTokens)
            round.vsPrevious = summary.vsPrevious
        }
        return round
    }

    /// The JSON object, one line.
    public func json() throws -> String {
        String(decoding: try JSON.SnakeCase.encoder.encode(self), as: UTF8.self)
    }

    /// The human table: one line a round.
    public func table() -> String {
        var lines = ["round  state     generated  accepted  held-out score [95% CI]     vs previous"]
        for round in rounds {
            var heldout = "-"
            if let h = round.heldout, h.ci.count == 2 {
                heldout = String(format: "%.3f [%.3f, %.3f] n=%d", h.score, h.ci[0], h.ci[1], h.n)
            }
            var versus = round.round == 0 ? "baseline" : "-"
            if let v = round.vsPrevious {
                let floor = v.pFloor.map { String(format: " ≥%.2g", $0) } ?? ""
                versus = v.verdict.rawValue
                    + String(format: " (b=%d c=%d p=%.3g", v.b, v.c, v.pValue) + floor + ", \(v.method.rawValue))"
            }
            lines.append(
                String(format: "%5d  ", round.round)
                    + round.state.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0)
                    + String(format: " %9d %9d  ", round.generated, round.accepted)
                    + heldout.padding(toLength: 27, withPad: " ", startingAt: 0) + " " + versus)
        }
        lines += rollbacks.map {
            "rollback after round \($0.afterRound): round \($0.toRound)'s version promoted again, replacing round "
                + "\($0.fromRound)'s (\($0.at))"
        }
        return lines.joined(separator: "\n")
    }
}
