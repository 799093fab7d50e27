/// Whether a pipeline has stopped improving: committed rounds in a row, newest first, whose verdict was not
/// "improved" (`run --plateau K`, the pipeline's `plateau: K`).
public struct Plateau: Sendable, Equatable, Codable {
    /// Committed rounds since the last "improved" verdict (or since the baseline).
    public var roundsWithoutImprovement: Int
    /// The K the pipeline or the command line set; nil: no plateau rule.
    public var limit: Int?

    /// K committed rounds in a row without an improvement.
    public var reached: Bool

    public init(rounds: [RoundRecord], limit: Int?) {
        let committed = rounds.filter { $0.round > 0 && $0.state.isCommitted }
        let count = committed.reversed().prefix { $0.summary?.vsPrevious?.verdict != .improved }.count
        roundsWithoutImprovement = count
        self.limit = limit
        reached = limit.map { count >= $0 } ?? false
    }
}
