import Foundation

/// What a held-out set of a given size can detect: the minimum detectable effect of the paired test.
public enum Power {
    /// The standard normal distribution function Φ.
    public static func normalCDF(_ x: Double) -> Double { 0.5 * erfc(-x / 2.0.squareRoot()) }

    /// Φ⁻¹(p) for 0 < p < 1, by bisection on `normalCDF` (to 1e-12: plenty for levels and powers).
    public static func normalQuantile(_ p: Double) -> Double {
        precondition(p > 0 && p < 1, "a quantile needs 0 < p < 1")
        var low = -40.0
        var high = 40.0
        for _ in 0..<200 where high - low > 1e-12 {
            let middle = (low + high) / 2
            if normalCDF(middle) < p { low = middle } else { high = middle }
        }
        return (low + high) / 2
    }

    /// The smallest gain in pass rate (candidate minus previous, as a fraction of the `n` items) that a two-sided
    /// McNemar test at `level` detects with probability `power`, when a share `discordance` of the items differ
    /// between the two versions (normal approximation, Connor 1987).
    ///
    /// A gain of Δ needs at least Δ of the items to change sides, so the discordance used is never below the gain
    /// itself: with no observed discordance the answer is the gain that would be detectable were every changed item
    /// a gain.
    /// - Returns: nil when even a gain of 100% is not detectable (tiny `n`).
    public static func mcnemarMDE(n: Int, discordance: Double, level: Double, power: Double = 0.8) -> Double? {
        guard n > 0 else { return nil }
        func probability(of gain: Double) -> Double {
            let discordant = max(discordance, gain)
            let spread = (discordant - gain * gain).squareRoot()
            guard spread > 0 else { return 1 }
            let z = normalQuantile(1 - level / 2)
            return normalCDF((gain * Double(n).squareRoot() - z * discordant.squareRoot()) / spread)
        }
        guard probability(of: 1) >= power else { return nil }
        var low = 0.0
        var high = 1.0
        for _ in 0..<60 {
            let middle = (low + high) / 2
            if probability(of: middle) >= power { high = middle } else { low = middle }
        }
        return high
    }

    /// The smallest mean gain a paired test of graded scores at `level` detects with probability `power`, when the
    /// item differences have standard deviation `spread` (normal approximation).
    public static func pairedMeanMDE(n: Int, spread: Double, level: Double, power: Double = 0.8) -> Double? {
        guard n > 1 else { return nil }
        return (normalQuantile(1 - level / 2) + normalQuantile(power)) * spread / Double(n).squareRoot()
    }

    /// The minimum detectable effect at 80% power of the paired test a round ran on these item-by-item scores at
    /// `level`: McNemar's for pass/fail scores (with the observed share of discordant items), the paired-mean one
    /// for graded scores (with the observed spread of the differences). Nil when nothing is detectable.
    public static func minimumDetectableEffect(previous: [Double], current: [Double], level: Double) -> Double? {
        let n = current.count
        guard n > 0 else { return nil }
        if Statistics.isPassFail(previous) && Statistics.isPassFail(current) {
            let discordant = zip(previous, current).count { $0 != $1 }
            return mcnemarMDE(n: n, discordance: Double(discordant) / Double(n), level: level)
        }
        let differences = zip(current, previous).map { $0 - $1 }
        let average = differences.reduce(0, +) / Double(n)
        let variance = differences.reduce(0) { $0 + ($1 - average) * ($1 - average) } / Double(max(1, n - 1))
        return pairedMeanMDE(n: n, spread: variance.squareRoot(), level: level)
    }
}
