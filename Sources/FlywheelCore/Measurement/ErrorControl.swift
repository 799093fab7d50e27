/// How the significance level is shared out over a pipeline's rounds, so that the chance of *any* false "improved"
/// verdict over the pipeline's life stays at or below `alpha` (family-wise error).
///
/// Every round tests a new candidate on the same frozen held-out set, so the tests are dependent; the union bound
/// behind alpha spending holds under any dependence, which is why spending is used rather than a product of
/// per-round evidence.
public enum ErrorControl: Sendable, Equatable, Codable {
    /// Every round at the full `alpha`: the chance of some false improvement grows with the number of rounds.
    case perRound
    /// The first `horizon` rounds are each tested at `alpha / (horizon + 1)`; round `horizon + j` after them at
    /// `alpha / ((horizon + 1) · 2^j)`. The levels sum to less than `alpha` however long the pipeline runs.
    case spending(horizon: Int)

    /// The default: spending over 20 rounds, a few weeks of daily cron rounds.
    public static let `default` = ErrorControl.spending(horizon: 20)

    /// The level round `round` (1 is the first after the baseline) is tested at.
    public func level(round: Int, alpha: Double) -> Double {
        precondition(round >= 1, "the baseline is not tested")
        switch self {
        case .perRound:
            return alpha
        case .spending(let horizon):
            let share = alpha / Double(horizon + 1)
            return round <= horizon ? share : share / pow2(round - horizon)
        }
    }

    /// The level spent by rounds 1 through `round`, this one included.
    public func spent(through round: Int, alpha: Double) -> Double {
        guard round >= 1 else { return 0 }
        switch self {
        case .perRound:
            return alpha * Double(round)
        case .spending(let horizon):
            let share = alpha / Double(horizon + 1)
            let within = Double(min(round, horizon)) * share
            let beyond = round > horizon ? share * (1 - 1 / pow2(round - horizon)) : 0
            return within + beyond
        }
    }

    private func pow2(_ exponent: Int) -> Double { Double(sign: .plus, exponent: exponent, significand: 1) }
}

extension ErrorControl: CustomStringConvertible {
    public var description: String {
        switch self {
        case .perRound: "per round (every round at the full α)"
        case .spending(let horizon): "α spending over \(horizon) rounds (α/\(horizon + 1) each, then halving)"
        }
    }
}
