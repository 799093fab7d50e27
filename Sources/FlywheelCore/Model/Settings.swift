/// Which candidates a round promotes, given the paired test's verdict against the last promoted version.
public enum Gate: String, Sendable, Codable, CaseIterable {
    /// Promote every candidate.
    case always
    /// Promote unless the paired test says the candidate regressed (the default).
    case noRegression = "no-regression"
    /// Promote only a significant improvement.
    case mustImprove = "must-improve"

    /// Whether a candidate with `verdict` is promoted.
    public func promotes(_ verdict: Verdict) -> Bool {
        switch self {
        case .always: true
        case .noRegression: verdict != .regressed
        case .mustImprove: verdict == .improved
        }
    }
}

/// Which accepted examples learning sees.
public enum DataPolicy: String, Sendable, Codable, CaseIterable {
    /// This round's accepted data plus every promoted round's (the default: replacing drives model collapse).
    case accumulate
    /// Only this round's accepted data.
    case replace
}

/// The paired test behind a verdict.
public enum TestMethod: String, Sendable, Codable, CaseIterable {
    /// Exact McNemar on the discordant pairs: pass/fail scores.
    case mcnemarExact = "mcnemar-exact"
    /// Sign-flip (paired permutation) test of the score differences, every assignment enumerated: graded scores
    /// with few differing items.
    case signFlipExact = "sign-flip-exact"
    /// Sign-flip test from 10,000 sampled assignments: graded scores with many differing items (p floors at 1/10,001).
    case signFlipSampled = "sign-flip-sampled"
    /// Paired bootstrap of the score differences (p floors at 1/2,001): what graded rounds recorded before the
    /// sign-flip test.
    case pairedBootstrap = "paired-bootstrap"
}

/// How a held-out score's 95% interval was computed.
public enum IntervalMethod: String, Sendable, Codable, CaseIterable {
    /// Wilson score interval: pass/fail scores.
    case wilson
    /// Percentile bootstrap of the mean: graded scores.
    case bootstrap
}

/// Moves difficulty between rounds to keep the training acceptance rate inside a band.
public struct Curriculum: Sendable, Equatable, Codable {
    /// Acceptance-rate band to keep the training rounds in.
    public var low: Double
    public var high: Double
    /// Difficulty change per round when outside the band.
    public var step: Int = 1
    public var minimum: Int = 1
    public var maximum: Int = 10

    public init(low: Double, high: Double, step: Int = 1, minimum: Int = 1, maximum: Int = 10) {
        self.low = low
        self.high = high
        self.step = step
        self.minimum = minimum
        self.maximum = maximum
    }

    /// The next round's difficulty after a round at `difficulty` whose training acceptance rate was `acceptance`:
    /// up a step above the band, down a step below it, always within `minimum...maximum`.
    public func next(after difficulty: Int, acceptance: Double) -> Int {
        var next = difficulty
        if acceptance > high { next += step }
        if acceptance < low { next -= step }
        return min(maximum, max(minimum, next))
    }
}

/// How training tasks are explored beyond the solver's greedy answer (`exploration:`): the `attempts` sample at a
/// temperature of their own, and when none of them is accepted, one more attempt is shown the task's answer as a
/// hint and must still pass the checker (STaR's rationalization). Held-out items are always solved at the solver's
/// own settings, with no hint.
public struct Exploration: Sendable, Equatable {
    /// The temperature training attempts sample at; nil: the solver's own.
    public var temperature: Double?
    /// When no attempt at a task is accepted, one more attempt sees the answer (`TaskSpec.hint`) as a hint.
    public var rationalize = false
    /// Whether learning sees rationalized examples (they are always stored, marked, and judged by the checker).
    public var learnRationalized = true

    public init(temperature: Double? = nil, rationalize: Bool = false, learnRationalized: Bool = true) {
        self.temperature = temperature
        self.rationalize = rationalize
        self.learnRationalized = learnRationalized
    }
}

/// What a round does, independent of which plugins do it. Defaults are the pipeline file's defaults
/// (`docs/pipelines.md`).
public struct RoundSettings: Sendable, Equatable {
    /// Derives every seed in the run.
    public var seed: UInt64 = 0
    /// Training tasks generated per round.
    public var roundSize: Int = 100
    /// Solver attempts per training task.
    public var attempts: Int = 1
    /// Sampling and rationalization of training attempts (`exploration:`).
    public var exploration = Exploration()
    /// Items in flight at once; each stage's own limit is its worker count.
    public var parallelism: Int = 4
    /// Held-out items generated at round 0 and frozen.
    public var heldoutSize: Int = 100
    /// With `false` the candidate is the promoted version unchanged: the control run.
    public var learning: Bool = true
    public var gate: Gate = .noRegression
    /// Significance level of the paired test.
    public var alpha: Double = 0.05
    public var dataPolicy: DataPolicy = .accumulate
    /// Token n-gram length that marks a training task as overlapping the held-out set.
    public var contaminationNGram: Int = 13
    /// Difficulty of round 1 (and every round without a curriculum).
    public var difficulty: Int = 1
    public var curriculum: Curriculum?
    /// The share of a plugin's requests in a round that may fail before the round fails (`max_error_rate`):
    /// each of generator, solver and checker over its training requests, and the held-out evaluation over its
    /// items. Not recorded with the round: a resumed round is judged by the file's current value.
    public var maxErrorRate: Double = 0.5
    /// How `alpha` is shared out over the rounds so that the chance of any false "improved" verdict over the
    /// pipeline's life stays at or below it (`error_control`).
    public var errorControl: ErrorControl = .default
    /// With `true` the gate never promotes a candidate flagged as a suspected shortcut (`reject_shortcuts`).
    public var rejectShortcuts: Bool = false
    /// Committed rounds in a row without an "improved" verdict after which the pipeline has plateaued (`plateau`);
    /// nil: never.
    public var plateau: Int?
    /// The share of each round's training verdicts the auditor judges again, chosen by seed (0: no audit).
    public var auditFraction: Double = 0

    public init() {}
}
