import Foundation

/// A pipeline's last committed round as Prometheus text-format metrics, for node_exporter's textfile collector.
///
/// Every sample carries `pipeline="NAME"`, so one collector folder can hold a file per pipeline. Round gauges
/// describe the round just committed (promoted or rejected); `flywheel_accepted_total` counts the whole store.
public struct RoundMetrics: Sendable {
    public var pipeline: String
    public var state: RoundState
    public var summary: RoundSummary
    /// Accepted examples over every committed round of the store, this one included.
    public var acceptedTotal: Int
    /// When the round was committed: `flywheel_last_success_timestamp_seconds`.
    public var committedAt: Date

    public init(pipeline: String, state: RoundState, summary: RoundSummary, acceptedTotal: Int, committedAt: Date) {
        self.pipeline = pipeline
        self.state = state
        self.summary = summary
        self.acceptedTotal = acceptedTotal
        self.committedAt = committedAt
    }

    /// The metrics of a round just committed, with the store's running totals.
    public init(pipeline: String, outcome: RoundOutcome, store: Store, committedAt: Date = Date()) throws {
        let committed = try store.rounds().filter { $0.state == .promoted || $0.state == .rejected }
        let others = committed.filter { $0.round != outcome.round }.compactMap(\.summary?.counts.accepted)
        self.init(
            pipeline: pipeline, state: outcome.state, summary: outcome.summary,
            acceptedTotal: others.reduce(outcome.summary.counts.accepted, +), committedAt: committedAt)
    }

    /// The exposition text (format 0.0.4): `# HELP` and `# TYPE` before each family, one sample a line.
    public func render() -> String {
        let counts = summary.counts
        var families: [Prometheus.Family] = []
        func gauge(_ name: String, _ help: String, _ samples: [([(String, String)], Double)]) {
            families.append(Prometheus.Family(name: name, help: help, type: .gauge, samples: samples))
        }
        func gauge(_ name: String, _ help: String, _ value: Double) { gauge(name, help, [([], value)]) }

        gauge("flywheel_round", "Number of the last committed round (0 is the baseline).", Double(summary.round))
        gauge(
            "flywheel_round_state", "1 for the state the last committed round ended in, 0 for the other.",
            [RoundState.promoted, .rejected].map { ([("state", $0.rawValue)], $0 == state ? 1 : 0) })
        gauge(
            "flywheel_last_success_timestamp_seconds", "Unix time the last round was committed.",
            committedAt.timeIntervalSince1970)
        gauge("flywheel_heldout_score", "Mean held-out score of the round's candidate.", summary.heldout.score)
        gauge(
            "flywheel_heldout_ci_low", "Lower end of the held-out score's 95% interval.", summary.heldout.ci.first ?? 0)
        gauge(
            "flywheel_heldout_ci_high", "Upper end of the held-out score's 95% interval.", summary.heldout.ci.last ?? 0)
        gauge("flywheel_heldout_items", "Held-out items scored.", Double(summary.heldout.n))
        gauge(
            "flywheel_heldout_errors", "Held-out items that got no score (plugin errors).",
            Double(summary.heldoutErrors))
        if let comparison = summary.vsPrevious {
            gauge(
                "flywheel_verdict",
                "1 for the paired test's verdict against the last promoted round, 0 for the others.",
                [Verdict.improved, .noChange, .regressed].map {
                    ([("verdict", $0.rawValue)], $0 == comparison.verdict ? 1 : 0)
                })
            gauge("flywheel_verdict_p_value", "Two-sided p-value of the paired test.", comparison.pValue)
            if let level = comparison.alpha {
                gauge("flywheel_alpha", "Level the round's improved verdict had to reach (error control).", level)
            }
        }
        if let spent = summary.trust.alphaSpent {
            gauge("flywheel_alpha_spent", "Share of alpha spent by this round and every earlier one.", spent)
        }
        if let mde = summary.trust.mde {
            gauge("flywheel_mde", "Smallest held-out gain the round's test detects with 80% power.", mde)
        }
        if let baselines = summary.trust.baselines, !baselines.isEmpty {
            gauge(
                "flywheel_baseline_score", "Held-out score of each trivial baseline.",
                baselines.sorted { $0.key < $1.key }.map { ([("baseline", $0.key)], $0.value) })
        }
        if let suspected = summary.trust.suspectedShortcut {
            gauge(
                "flywheel_suspected_shortcut", "1 when an improved verdict may be a shortcut, not skill.",
                suspected ? 1 : 0)
        }
        let cost = RoundCost(summary, prices: nil)
        if let share = cost.perAcceptedExample {
            gauge(
                "flywheel_cost_per_accepted",
                "Seconds (summed over items) and tokens the round spent per accepted example.",
                [([("unit", "seconds")], share.seconds), ([("unit", "tokens")], share.tokens)])
        }
        gauge("flywheel_difficulty", "Difficulty of the round's training tasks.", Double(summary.difficulty))
        gauge(
            "flywheel_tasks", "Training tasks of the round by outcome of generation.",
            [
                ([("outcome", "kept")], Double(counts.kept)), ([("outcome", "duplicate")], Double(counts.duplicates)),
                ([("outcome", "contaminated")], Double(counts.contaminated)),
                ([("outcome", "error")], Double(counts.generationErrors)),
            ])
        gauge("flywheel_attempts", "Solver attempts made in the round.", Double(counts.attempts))
        gauge("flywheel_accepted", "Attempts the checker accepted in the round.", Double(counts.accepted))
        gauge("flywheel_acceptance_rate", "Accepted attempts over attempts made in the round.", counts.acceptanceRate)
        families.append(
            Prometheus.Family(
                name: "flywheel_accepted_total", help: "Accepted examples over every committed round of the store.",
                type: .counter, samples: [([], Double(acceptedTotal))]))
        var kinds = counts.errorsByKind
        for kind in [PluginFailure.Kind.timeout, .crash, .malformed, .refused] where kinds[kind.rawValue] == nil {
            kinds[kind.rawValue] = 0
        }
        gauge(
            "flywheel_errors", "Plugin errors in the round by kind (every stage).",
            kinds.sorted { $0.key < $1.key }.map { ([("kind", $0.key)], Double($0.value)) })
        gauge(
            "flywheel_retries", "Plugin requests sent again in the round after a crash, timeout or wrong id.",
            Double(counts.retries))
        gauge(
            "flywheel_stage_seconds",
            "Seconds spent in each stage of the round (generate, solve and check are summed over items).",
            [
                ("generate", counts.generateSeconds), ("solve", counts.solveSeconds), ("check", counts.checkSeconds),
                ("learn", summary.learnSeconds), ("evaluate", summary.evaluateSeconds),
            ].map { ([("stage", $0.0)], $0.1) })
        gauge(
            "flywheel_tokens", "Solver tokens used in the round, as the solver reported them.",
            [
                ([("kind", "prompt")], Double(counts.promptTokens)),
                ([("kind", "completion")], Double(counts.completionTokens)),
            ])
        gauge(
            "flywheel_example_bytes", "Bytes of the round's accepted examples, raw and as stored (compressed).",
            [([("form", "raw")], Double(counts.rawBytes)), ([("form", "stored")], Double(counts.storedBytes))])
        return Prometheus.render(families, common: [("pipeline", pipeline)])
    }

    /// Writes ``render()`` to `path` atomically (`ReportFile`): a reader sees the old file or the new one, never a
    /// part. The collector ignores the temporary file beside it, whose name does not end in `.prom`.
    public func write(to path: String) throws {
        try ReportFile.write(Data(render().utf8), to: path)
    }
}

/// The Prometheus text exposition format, as far as Flywheel writes it.
public enum Prometheus {
    /// One metric family: its samples are `(labels, value)`.
    public struct Family: Sendable {
        public var name: String
        public var help: String
        /// `gauge` or `counter`.
        /// The metric types Flywheel writes.
        public enum Kind: String, Sendable {
            case gauge, counter
        }

        public var type: Kind
        public var samples: [([(String, String)], Double)]

        public init(name: String, help: String, type: Kind, samples: [([(String, String)], Double)]) {
            self.name = name
            self.help = help
            self.type = type
            self.samples = samples
        }
    }

    /// Renders families, each sample with the `common` labels first; the text ends with a newline.
    public static func render(_ families: [Family], common: [(String, String)] = []) -> String {
        var text = ""
        for family in families {
            text += "# HELP \(family.name) \(escapeHelp(family.help))\n# TYPE \(family.name) \(family.type.rawValue)\n"
            for (labels, value) in family.samples {
                let all = (common + labels).map { "\($0.0)=\"\(escapeLabel($0.1))\"" }
                text += family.name + (all.isEmpty ? "" : "{" + all.joined(separator: ",") + "}")
                text += " " + format(value) + "\n"
            }
        }
        return text
    }

    /// A label value with `\`, `"` and line feeds escaped as the exposition format requires.
    public static func escapeLabel(_ value: String) -> String {
        escapeHelp(value).replacingOccurrences(of: "\"", with: "\\\"")
    }

    /// HELP text with `\` and line feeds escaped.
    public static func escapeHelp(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\n")
    }

    /// A sample value: integers without a fraction, `NaN`, `+Inf` and `-Inf` as Prometheus spells them.
    public static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }
}
