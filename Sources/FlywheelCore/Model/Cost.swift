/// What tokens cost, per million, in the pipeline's currency (`prices: {prompt: 0.15, completion: 0.6}`).
public struct Prices: Sendable, Equatable, Codable {
    public var prompt: Double
    public var completion: Double

    public init(prompt: Double, completion: Double) {
        self.prompt = prompt
        self.completion = completion
    }
}

/// What a committed round cost: seconds, tokens and (when the pipeline declares prices) money, in total, per
/// accepted example and per held-out point gained (one percentage point of score over the compared round).
///
/// Derived from the round's stored summary, whose stage seconds and tokens are summed over its items' rows, so a
/// resumed round counts the work done before the interruption once, and what was redone after it once more.
public struct RoundCost: Sendable, Equatable, Codable {
    /// Plugin seconds summed over items (generate, solve, check), plus learning and held-out evaluation.
    public var seconds: Double
    /// Prompt and completion tokens of the training solves and the held-out evaluation.
    public var tokens: Int
    public var money: Double?
    /// Nil when nothing was accepted.
    public var perAcceptedExample: Share?
    /// Nil unless the held-out score rose.
    public var perPointGained: Share?

    public struct Share: Sendable, Equatable, Codable {
        public var seconds: Double
        public var tokens: Double
        public var money: Double?
    }

    public init(_ summary: RoundSummary, prices: Prices?) {
        let counts = summary.counts
        seconds =
            counts.generateSeconds + counts.solveSeconds + counts.checkSeconds + summary.learnSeconds
            + summary.evaluateSeconds
        let prompt = counts.promptTokens + counts.evaluationPromptTokens
        let completion = counts.completionTokens + counts.evaluationCompletionTokens
        tokens = prompt + completion
        money = prices.map { (Double(prompt) * $0.prompt + Double(completion) * $0.completion) / 1_000_000 }
        func share(_ count: Double) -> Share? {
            count > 0 ? Share(seconds: seconds / count, tokens: Double(tokens) / count, money: money.map { $0 / count }) : nil
        }
        perAcceptedExample = share(Double(counts.accepted))
        perPointGained = share((summary.vsPrevious?.meanDifference ?? 0) * 100)
    }
}
