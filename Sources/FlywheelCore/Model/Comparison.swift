/// The outcome of comparing a candidate with the last promoted version on the frozen held-out set.
public enum Verdict: String, Codable, Sendable, CaseIterable {
    case improved
    case noChange = "no-change"
    case regressed
}

/// One version's result on the held-out set: mean score with its 95% confidence interval.
///
/// Encodes as `{"n", "score", "ci": [lower, upper], "method"}`, the shape `status --json` promises.
public struct HeldoutSummary: Codable, Sendable, Equatable {
    /// Number of held-out items scored.
    public var n: Int
    /// Mean score; for pass/fail data this is the pass rate.
    public var score: Double
    /// `[lower, upper]` of the 95% interval.
    public var ci: [Double]
    public var method: IntervalMethod

    public init(n: Int, score: Double, ci: [Double], method: IntervalMethod) {
        self.n = n
        self.score = score
        self.ci = ci
        self.method = method
    }
}

/// An item-by-item comparison of a candidate with the last promoted version on the same frozen held-out items:
/// the one shape status, report, metrics and the stored round summary share.
///
/// Encode it with `.convertToSnakeCase` (`p_value`, `mean_difference`: the `status --json` contract) and decode it
/// with `.convertFromSnakeCase`, as `JSON.snakeCase` does.
public struct PairedComparison: Codable, Sendable, Equatable {
    /// The last promoted round compared with (nil until the engine records it).
    public var round: Int?
    /// Items the previous version passed (score 1) and this one failed.
    public var b: Int
    /// Items the previous version failed and this one passed (score 1).
    public var c: Int
    /// Two-sided p-value of the paired test named by `method`.
    public var pValue: Double
    public var verdict: Verdict
    public var method: TestMethod
    /// Current mean score minus previous mean score.
    public var meanDifference: Double
    /// The smallest p-value the test could give, for tests that estimate p from samples (nil for exact tests).
    public var pFloor: Double?
    /// The level an "improved" verdict had to reach: the round's share of `alpha` under the pipeline's error
    /// control (nil in rounds recorded before error control). "Regressed" is always judged at the full `alpha`.
    public var alpha: Double?

    public init(
        round: Int? = nil, b: Int, c: Int, pValue: Double, verdict: Verdict, method: TestMethod,
        meanDifference: Double, pFloor: Double? = nil, alpha: Double? = nil
    ) {
        self.round = round
        self.b = b
        self.c = c
        self.pValue = pValue
        self.verdict = verdict
        self.method = method
        self.meanDifference = meanDifference
        self.pFloor = pFloor
        self.alpha = alpha
    }
}
