/// A round's counts, computed from its recorded rows: the one counts type status, report and metrics read.
public struct RoundCounts: Codable, Sendable, Equatable {
    /// Tasks the generator produced (kept, duplicate or contaminated).
    public var generated = 0
    public var kept = 0
    public var duplicates = 0
    public var contaminated = 0
    public var generationErrors = 0
    public var attempts = 0
    public var solveErrors = 0
    public var checked = 0
    public var checkErrors = 0
    public var accepted = 0
    /// Accepted answers of rationalization attempts (shown the answer as a hint), counted in `accepted` too.
    public var rationalized = 0
    /// Errors of every stage by kind (`timeout`, `crash`, `malformed`, …).
    public var errorsByKind: [String: Int] = [:]
    /// Requests plugins sent again after a crash, timeout or wrong id (HTTP: 429, 5xx, no connection), over the
    /// round's training items and its held-out evaluation (round 0: also the held-out set's generation).
    public var retries = 0
    /// Tokens of the training solves.
    public var promptTokens = 0
    public var completionTokens = 0
    /// Tokens of the held-out evaluation.
    public var evaluationPromptTokens = 0
    public var evaluationCompletionTokens = 0
    /// Accepted examples and their bytes before and after compression.
    public var storedExamples = 0
    public var rawBytes = 0
    public var storedBytes = 0
    /// Seconds spent in each stage, summed over items (so a resumed round counts its earlier work).
    public var generateSeconds = 0.0
    public var solveSeconds = 0.0
    public var checkSeconds = 0.0

    public init() {}

    /// Accepted attempts over attempts made.
    public var acceptanceRate: Double { attempts == 0 ? 0 : Double(accepted) / Double(attempts) }
    /// Failed plugin requests of every stage.
    public var errors: Int { generationErrors + solveErrors + checkErrors }
    /// Errors over plugin requests (generate + solve + check).
    public var errorRate: Double {
        let requests = generated + generationErrors + attempts + checked
        return requests == 0 ? 0 : Double(errors) / Double(requests)
    }
    /// Answers the checker judged and turned down.
    public var rejected: Int { checked - checkErrors - accepted }

    /// Counts stored before a field existed read it as 0: every field is optional in the JSON.
    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        func value<T: Decodable>(_ key: CodingKeys, _ fallback: T) throws -> T {
            try container.decodeIfPresent(T.self, forKey: key) ?? fallback
        }
        generated = try value(.generated, 0)
        kept = try value(.kept, 0)
        duplicates = try value(.duplicates, 0)
        contaminated = try value(.contaminated, 0)
        generationErrors = try value(.generationErrors, 0)
        attempts = try value(.attempts, 0)
        solveErrors = try value(.solveErrors, 0)
        checked = try value(.checked, 0)
        checkErrors = try value(.checkErrors, 0)
        accepted = try value(.accepted, 0)
        rationalized = try value(.rationalized, 0)
        errorsByKind = try value(.errorsByKind, [:])
        retries = try value(.retries, 0)
        promptTokens = try value(.promptTokens, 0)
        completionTokens = try value(.completionTokens, 0)
        evaluationPromptTokens = try value(.evaluationPromptTokens, 0)
        evaluationCompletionTokens = try value(.evaluationCompletionTokens, 0)
        storedExamples = try value(.storedExamples, 0)
        rawBytes = try value(.rawBytes, 0)
        storedBytes = try value(.storedBytes, 0)
        generateSeconds = try value(.generateSeconds, 0)
        solveSeconds = try value(.solveSeconds, 0)
        checkSeconds = try value(.checkSeconds, 0)
    }
}

/// What a committed round did and measured; stored as JSON with the round and read by status and reports.
public struct RoundSummary: Codable, Sendable, Equatable {
    public var round: Int
    public var difficulty: Int
    public var dataPolicy: DataPolicy
    public var gate: Gate
    public var learning: Bool
    /// The version that solved this round's training tasks (nil for the baseline).
    public var solverVersion: Int64?
    /// The version evaluated on the held-out set and promoted or rejected.
    public var candidateVersion: Int64
    public var counts: RoundCounts
    public var heldout: HeldoutSummary
    public var heldoutErrors: Int
    /// Comparison with the last promoted round's held-out results (nil for the baseline).
    public var vsPrevious: PairedComparison?
    /// Examples learning was given.
    public var learnedFrom: Int
    public var learnSeconds: Double
    public var evaluateSeconds: Double
    /// Error control, power and the shortcut check (fields nil in rounds recorded before them).
    public var trust: TrustMeasures

    public init(
        round: Int, difficulty: Int, dataPolicy: DataPolicy, gate: Gate, learning: Bool, solverVersion: Int64?,
        candidateVersion: Int64, counts: RoundCounts, heldout: HeldoutSummary, heldoutErrors: Int,
        vsPrevious: PairedComparison?, learnedFrom: Int, learnSeconds: Double, evaluateSeconds: Double,
        alphaSpent: Double? = nil, mde: Double? = nil, shortcuts: ShortcutCheck? = nil
    ) {
        self.round = round
        self.difficulty = difficulty
        self.dataPolicy = dataPolicy
        self.gate = gate
        self.learning = learning
        self.solverVersion = solverVersion
        self.candidateVersion = candidateVersion
        self.counts = counts
        self.heldout = heldout
        self.heldoutErrors = heldoutErrors
        self.vsPrevious = vsPrevious
        self.learnedFrom = learnedFrom
        self.learnSeconds = learnSeconds
        self.evaluateSeconds = evaluateSeconds
        trust = TrustMeasures(
            alphaSpent: alphaSpent, mde: mde, baselines: shortcuts?.baselines, answers: shortcuts?.answers,
            references: shortcuts?.references,
            suspectedShortcut: shortcuts.map { $0.suspected(heldout: heldout.score, verdict: vsPrevious?.verdict) })
    }

    /// Summaries written before the compared round moved into `vsPrevious` kept it beside it.
    private enum LegacyKeys: String, CodingKey {
        case comparedWithRound
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        round = try container.decode(Int.self, forKey: .round)
        difficulty = try container.decode(Int.self, forKey: .difficulty)
        dataPolicy = try container.decode(DataPolicy.self, forKey: .dataPolicy)
        gate = try container.decode(Gate.self, forKey: .gate)
        learning = try container.decode(Bool.self, forKey: .learning)
        solverVersion = try container.decodeIfPresent(Int64.self, forKey: .solverVersion)
        candidateVersion = try container.decode(Int64.self, forKey: .candidateVersion)
        counts = try container.decode(RoundCounts.self, forKey: .counts)
        heldout = try container.decode(HeldoutSummary.self, forKey: .heldout)
        heldoutErrors = try container.decode(Int.self, forKey: .heldoutErrors)
        vsPrevious = try container.decodeIfPresent(PairedComparison.self, forKey: .vsPrevious)
        if vsPrevious?.round == nil {
            vsPrevious?.round = try decoder.container(keyedBy: LegacyKeys.self)
                .decodeIfPresent(Int.self, forKey: .comparedWithRound)
        }
        learnedFrom = try container.decode(Int.self, forKey: .learnedFrom)
        learnSeconds = try container.decode(Double.self, forKey: .learnSeconds)
        evaluateSeconds = try container.decode(Double.self, forKey: .evaluateSeconds)
        trust = try container.decodeIfPresent(TrustMeasures.self, forKey: .trust) ?? TrustMeasures()
    }

    /// Flat numbers for the `metrics` table and Prometheus.
    public var metrics: [(String, Double)] {
        var values: [(String, Double)] = [
            ("generated", Double(counts.generated)), ("duplicates", Double(counts.duplicates)),
            ("contaminated", Double(counts.contaminated)), ("accepted", Double(counts.accepted)),
            ("attempts", Double(counts.attempts)), ("acceptance_rate", counts.acceptanceRate),
            ("errors", Double(counts.errors)), ("retries", Double(counts.retries)),
            ("heldout_n", Double(heldout.n)), ("heldout_score", heldout.score),
            ("heldout_ci_low", heldout.ci.first ?? 0), ("heldout_ci_high", heldout.ci.last ?? 0),
            ("difficulty", Double(difficulty)), ("prompt_tokens", Double(counts.promptTokens)),
            ("completion_tokens", Double(counts.completionTokens)),
            ("evaluation_prompt_tokens", Double(counts.evaluationPromptTokens)),
            ("evaluation_completion_tokens", Double(counts.evaluationCompletionTokens)),
            ("stored_bytes", Double(counts.storedBytes)),
            ("raw_bytes", Double(counts.rawBytes)), ("generate_seconds", counts.generateSeconds),
            ("solve_seconds", counts.solveSeconds), ("check_seconds", counts.checkSeconds),
            ("learn_seconds", learnSeconds), ("evaluate_seconds", evaluateSeconds),
        ]
        if let vsPrevious {
            values += [("b", Double(vsPrevious.b)), ("c", Double(vsPrevious.c)), ("p_value", vsPrevious.pValue)]
            if let alpha = vsPrevious.alpha { values.append(("alpha", alpha)) }
        }
        if let alphaSpent = trust.alphaSpent { values.append(("alpha_spent", alphaSpent)) }
        if let mde = trust.mde { values.append(("mde", mde)) }
        if let best = trust.bestBaseline { values.append(("best_baseline_score", best.score)) }
        if let suspected = trust.suspectedShortcut { values.append(("suspected_shortcut", suspected ? 1 : 0)) }
        let cost = RoundCost(self, prices: nil)
        values.append(("cost_seconds", cost.seconds))
        if let share = cost.perAcceptedExample {
            values += [("seconds_per_accepted", share.seconds), ("tokens_per_accepted", share.tokens)]
        }
        if let share = cost.perPointGained {
            values += [("seconds_per_point", share.seconds), ("tokens_per_point", share.tokens)]
        }
        return values
    }
}

/// What a committed round measured for trust across rounds; each field is nil in rounds recorded before it existed.
public struct TrustMeasures: Codable, Sendable, Equatable {
    /// The share of `alpha` spent by this round's test and every earlier round's.
    public var alphaSpent: Double?
    /// The smallest gain in held-out score this round's test would detect with 80% power at its level, given the
    /// held-out size and the observed discordance (nil when not even a gain of 100% would be).
    public var mde: Double?
    /// Held-out scores of trivial answers (`Shortcuts.Baseline` raw values): what a candidate must beat.
    public var baselines: [String: Double]?
    /// How varied the candidate's held-out answers are, and the references'.
    public var answers: Shortcuts.Diversity?
    public var references: Shortcuts.Diversity?
    /// An "improved" verdict that may be a shortcut, not skill: the candidate does not beat the best trivial
    /// baseline, or its answers collapsed.
    public var suspectedShortcut: Bool?

    public init(
        alphaSpent: Double? = nil, mde: Double? = nil, baselines: [String: Double]? = nil,
        answers: Shortcuts.Diversity? = nil, references: Shortcuts.Diversity? = nil, suspectedShortcut: Bool? = nil
    ) {
        self.alphaSpent = alphaSpent
        self.mde = mde
        self.baselines = baselines
        self.answers = answers
        self.references = references
        self.suspectedShortcut = suspectedShortcut
    }

    /// The best trivial baseline's name and held-out score.
    public var bestBaseline: (name: String, score: Double)? {
        baselines?.max { ($0.value, $1.key) < ($1.value, $0.key) }.map { ($0.key, $0.value) }
    }
}
