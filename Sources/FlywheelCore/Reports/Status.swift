import Foundation

/// `flywheel status`: the rounds so far, in the shape scripts rely on (SPEC §5); more fields are additive.
/// Encoded with snake_case keys (`JSON.SnakeCase`).
public struct Status: Encodable, Sendable {
    public var pipeline: String
    public var rounds: [Round]
    /// Committed rounds since the last improvement, and the pipeline's `plateau` rule.
    public var plateau: Plateau
    /// Every `flywheel rollback`, oldest first.
    public var rollbacks: [RollbackEvent] = []
    /// The fingerprint of the checker the pipeline file names now, and whether it differs from the one that
    /// judged the last round (then `flywheel reverify` re-checks the stored examples with it).
    public var currentChecker: String
    public var checkerChanged: Bool
    /// The current phase of a sharded round and its shards, while shard files of it exist.
    public var shards: ShardProgress?

    public struct Round: Encodable, Sendable {
        public var round: Int
        public var state: RoundState
        public var generated: Int
        public var accepted: Int
        /// Accepted answers of rationalization attempts (in `accepted` too).
        public var rationalized: Int
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
        /// The level the round's "improved" verdict had to reach under the pipeline's error control, and the
        /// share of `alpha` spent by it and every earlier round.
        public var alpha: Double?
        public var alphaSpent: Double?
        /// The smallest gain this round's test would detect with 80% power.
        public var mde: Double?
        public var cost: RoundCost?
        /// Held-out scores of trivial answers, by baseline.
        public var baselines: [String: Double]?
        /// An "improved" verdict that does not beat the best baseline, or whose answers collapsed.
        public var suspectedShortcut: Bool?
        /// The fingerprint of the checker that judged the round (the last one, if it changed mid-round); nil for
        /// rounds recorded before fingerprints.
        public var checker: String?
        /// The checker audit: verdicts a second checker judged, and how many it agreed with.
        public var audit: Audit?
    }

    public struct Audit: Encodable, Sendable {
        public var checked: Int
        public var agreed: Int
        public var errors: Int
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

    /// The status of `pipeline`'s `store`; no rounds when there is no store yet.
    public init(_ pipeline: PipelineConfig, store: Store?) throws {
        self.pipeline = pipeline.name
        let records = try store?.rounds() ?? []
        rounds = try records.map { record in try Self.round(record, store: store!, prices: pipeline.prices) }
        plateau = Plateau(rounds: records, limit: pipeline.settings.plateau)
        rollbacks = try store?.rollbacks() ?? []
        let current = pipeline.checkerFingerprint
        currentChecker = current
        checkerChanged = rounds.last { $0.checker != nil }.map { $0.checker != current } ?? false
        shards = try store.flatMap { try ShardProgress.current(store: $0) }
    }

    static func round(_ record: RoundRecord, store: Store, prices: Prices?) throws -> Round {
        let counts = try record.summary?.counts ?? store.counts(round: record.round)
        var round = Round(
            round: record.round, state: record.state, generated: counts.generated, accepted: counts.accepted,
            rationalized: counts.rationalized, duplicates: counts.duplicates, contaminated: counts.contaminated, attempts: counts.attempts,
            errors: counts.errors, retries: counts.retries, acceptanceRate: counts.acceptanceRate,
            difficulty: record.difficulty,
            dataPolicy: record.dataPolicy, gate: record.gate, learning: record.learning, startedAt: record.startedAt,
            finishedAt: record.finishedAt)
        round.checker = try store.checkerFingerprints(round: record.round).last?.fingerprint
        round.audit = try store.audits(round: record.round).nonEmpty.map(AuditSummary.init).map {
            Audit(checked: $0.checked, agreed: $0.agreed, errors: $0.errors)
        }
        if let summary = record.summary {
            round.heldout = Heldout(
                n: summary.heldout.n, score: summary.heldout.score, ci: summary.heldout.ci,
                method: summary.heldout.method, errors: summary.heldoutErrors)
            round.solverVersion = summary.candidateVersion
            round.learnedFrom = record.learning ? summary.learnedFrom : 0
            round.tokens = Tokens(
                prompt: counts.promptTokens, completion: counts.completionTokens,
                evaluationPrompt: counts.evaluationPromptTokens, evaluationCompletion: counts.evaluationCompletionTokens)
            round.vsPrevious = summary.vsPrevious
            round.alpha = summary.vsPrevious?.alpha
            round.alphaSpent = summary.trust.alphaSpent
            round.mde = summary.trust.mde
            round.cost = RoundCost(summary, prices: prices)
            round.baselines = summary.trust.baselines
            round.suspectedShortcut = summary.trust.suspectedShortcut
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
                let level = v.alpha.map { String(format: " at α=%.2g", $0) } ?? ""
                versus = v.verdict.rawValue
                    + String(format: " (b=%d c=%d p=%.3g", v.b, v.c, v.pValue) + floor + ", \(v.method.rawValue)"
                    + level + ")" + (round.suspectedShortcut == true ? " SUSPECTED SHORTCUT" : "")
            }
            lines.append(
                String(format: "%5d  ", round.round)
                    + round.state.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0)
                    + String(format: " %9d %9d  ", round.generated, round.accepted)
                    + heldout.padding(toLength: 27, withPad: " ", startingAt: 0) + " " + versus)
        }
        if plateau.reached {
            lines.append(
                "plateau: \(plateau.roundsWithoutImprovement) committed rounds without an improvement "
                    + "(limit \(plateau.limit ?? 0)); `round` does nothing until `--force`")
        }
        if checkerChanged {
            lines.append(
                "checker changed: the pipeline's checker (\(currentChecker.prefix(12))) is not the one that judged the "
                    + "last round; `flywheel reverify` re-checks the stored examples with it")
        }
        if let shards { lines.append(shards.line) }
        lines += rollbacks.map {
            "rollback after round \($0.afterRound): round \($0.toRound)'s version promoted again, replacing round "
                + "\($0.fromRound)'s (\($0.at))"
        }
        return lines.joined(separator: "\n")
    }
}
