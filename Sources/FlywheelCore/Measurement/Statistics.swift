import Foundation

/// Held-out statistics: confidence intervals for one version and paired tests between two.
///
/// Everything here is a pure function of its inputs; the bootstrap draws from its own seeded generator, so the
/// same scores and seed give the same numbers on every run and machine.
public enum Statistics {
    /// The two-sided 95% normal quantile, `Φ⁻¹(0.975)`.
    public static let z95 = 1.959963984540054

    /// Wilson score interval for a binomial proportion.
    ///
    /// Bounds are clamped to [0, 1] and are exactly 0 when `successes == 0` and exactly 1 when `successes == n`.
    /// - Returns: `(0, 1)` when `n == 0`: no data constrains the rate.
    public static func wilsonInterval(successes: Int, n: Int, z: Double = z95) -> (lower: Double, upper: Double) {
        precondition(n >= 0 && successes >= 0 && successes <= n, "need 0 ≤ successes ≤ n")
        guard n > 0 else { return (0, 1) }
        let count = Double(n)
        let rate = Double(successes) / count
        let z2 = z * z
        let denominator = 1 + z2 / count
        let center = (rate + z2 / (2 * count)) / denominator
        let halfWidth = z * (rate * (1 - rate) / count + z2 / (4 * count * count)).squareRoot() / denominator
        let lower = successes == 0 ? 0 : max(0, center - halfWidth)
        let upper = successes == n ? 1 : min(1, center + halfWidth)
        return (lower, upper)
    }

    /// Exact two-sided McNemar test on the discordant pairs `b` and `c`.
    ///
    /// Under the null hypothesis each discordant item is equally likely to go either way, so
    /// `p = min(1, 2·P(X ≤ min(b, c)))` with `X ~ Binomial(b + c, 1/2)`. The tail is computed in log space from
    /// Loader's saddle-point binomial density, so it stays accurate (relative error ~1e-13) for `b + c` in the
    /// hundreds of thousands; tails below the smallest double come out as 0.
    /// - Returns: 1 when `b + c == 0`.
    public static func mcnemarExactPValue(b: Int, c: Int) -> Double {
        precondition(b >= 0 && c >= 0, "discordant counts cannot be negative")
        let n = b + c
        let k = min(b, c)
        // P(X ≤ k) ≥ 1/2 here, so the doubled tail is capped; this also covers b + c == 0.
        if 2 * k + 1 >= n { return 1 }
        let logTail = logHalfBinomialProbability(k, of: n) + log(binomialTailSeries(k, of: n))
        return min(1, exp(logTail + ln2))
    }

    /// Percentile bootstrap confidence interval of the mean.
    ///
    /// Draws `resamples` resamples with replacement from a SplitMix64 generator seeded with `seed`, and reads the
    /// interval off the sorted resample means with linear interpolation (NumPy's default percentile rule).
    /// - Returns: `(0, 1)` for no scores, the uninformative interval for scores in [0, 1], as Wilson gives 0 of 0.
    public static func bootstrapMeanInterval(
        _ scores: [Double],
        resamples: Int = 2000,
        seed: UInt64,
        confidence: Double = 0.95
    ) -> (lower: Double, upper: Double) {
        precondition(resamples > 0, "need at least one resample")
        precondition(confidence > 0 && confidence < 1, "confidence must lie strictly between 0 and 1")
        guard !scores.isEmpty else { return (0, 1) }
        let means = resampledMeans(scores, resamples: resamples, seed: seed).sorted()
        let tail = (1 - confidence) / 2
        return (percentile(means, tail), percentile(means, 1 - tail))
    }

    /// Paired bootstrap of `mean(current − previous)` over items aligned by index.
    ///
    /// The p-value is two-sided: the share of resampled mean differences on the far side of 0 from the observed
    /// difference (ties at 0 count as far), with the +1 correction, doubled and capped at 1:
    /// `min(1, 2·(k + 1)/(resamples + 1))`. An observed difference of exactly 0 gives p = 1.
    /// - Returns: the p-value and the percentile interval of the mean difference at `confidence`.
    public static func pairedBootstrap(
        previous: [Double],
        current: [Double],
        resamples: Int = 2000,
        seed: UInt64,
        confidence: Double = 0.95
    ) -> (pValue: Double, lower: Double, upper: Double) {
        precondition(previous.count == current.count, "paired scores must be aligned item by item")
        precondition(resamples > 0, "need at least one resample")
        precondition(confidence > 0 && confidence < 1, "confidence must lie strictly between 0 and 1")
        guard !current.isEmpty else { return (1, 0, 0) }
        let differences = zip(current, previous).map { $0 - $1 }
        let observed = mean(differences)
        let means = resampledMeans(differences, resamples: resamples, seed: seed).sorted()
        let tail = (1 - confidence) / 2
        let lower = percentile(means, tail)
        let upper = percentile(means, 1 - tail)
        guard observed != 0 else { return (1, lower, upper) }
        let farSide = observed > 0 ? means.count(where: { $0 <= 0 }) : means.count(where: { $0 >= 0 })
        let pValue = min(1, 2 * Double(farSide + 1) / Double(resamples + 1))
        return (pValue, lower, upper)
    }

    /// Summarises one version's held-out scores.
    ///
    /// Pass/fail data (every score exactly 0 or 1, see ``isPassFail(_:)``) gets a Wilson interval; anything else
    /// a bootstrap interval from `seed`. No scores gives `n = 0`, score 0 and the interval [0, 1].
    public static func summarize(scores: [Double], seed: UInt64) -> HeldoutSummary {
        let score = mean(scores)
        if isPassFail(scores) {
            let passes = scores.count(where: { $0 == 1 })
            let interval = wilsonInterval(successes: passes, n: scores.count)
            return HeldoutSummary(
                n: scores.count, score: score, ci: [interval.lower, interval.upper], method: .wilson)
        }
        let interval = bootstrapMeanInterval(scores, seed: seed)
        return HeldoutSummary(n: scores.count, score: score, ci: [interval.lower, interval.upper], method: .bootstrap)
    }

    /// Compares two versions item by item on the same frozen held-out items.
    ///
    /// `b` and `c` always count items passed (score exactly 1) by one version and not the other. When both arrays
    /// are pass/fail the test is exact McNemar on `b` and `c`; otherwise a sign-flip (paired permutation) test of
    /// the score differences: exact when at most `exactSignFlipLimit` items differ, else 10,000 sign flips drawn
    /// from `seed`, whose smallest possible p-value is recorded as `pFloor`. The verdict is `improved` when the
    /// difference is positive and `pValue < improvementLevel` (default `alpha`; the round's share under error
    /// control), `regressed` when it is negative and `pValue < alpha`, otherwise `noChange`.
    /// - Precondition: `previous` and `current` have one score per item, in the same item order.
    public static func compare(
        previous: [Double],
        current: [Double],
        alpha: Double = 0.05,
        improvementLevel: Double? = nil,
        seed: UInt64
    ) -> PairedComparison {
        let improvementLevel = improvementLevel ?? alpha
        precondition(previous.count == current.count, "paired scores must be aligned item by item")
        var b = 0
        var c = 0
        for (before, after) in zip(previous, current) {
            if before == 1 && after != 1 { b += 1 }
            if before != 1 && after == 1 { c += 1 }
        }
        let meanDifference = mean(current) - mean(previous)
        let pValue: Double
        var pFloor: Double?
        let direction: Double
        let method: TestMethod
        if isPassFail(previous) && isPassFail(current) {
            pValue = mcnemarExactPValue(b: b, c: c)
            direction = Double(c - b)
            method = .mcnemarExact
        } else {
            let test = signFlipTest(zip(current, previous).map { $0 - $1 }, seed: seed)
            pValue = test.pValue
            pFloor = test.floor
            direction = meanDifference
            method = test.floor == nil ? .signFlipExact : .signFlipSampled
        }
        let verdict: Verdict =
            if pValue < improvementLevel && direction > 0 {
                .improved
            } else if pValue < alpha && direction < 0 {
                .regressed
            } else {
                .noChange
            }
        return PairedComparison(
            b: b, c: c, pValue: pValue, verdict: verdict, method: method, meanDifference: meanDifference,
            pFloor: pFloor, alpha: improvementLevel)
    }

    /// Items that may differ for the sign-flip test to enumerate every assignment (2^20 sums).
    public static let exactSignFlipLimit = 20

    /// Two-sided sign-flip test of paired differences: under the null each nonzero difference is as likely to have
    /// either sign; p is the share of sign assignments whose sum is at least as far from 0 as the observed one.
    /// - Returns: the p-value, and `floor` (1/(resamples + 1)) when it was estimated from sampled flips rather than
    ///   enumerated exactly.
    public static func signFlipTest(_ differences: [Double], seed: UInt64, resamples: Int = 10_000)
        -> (pValue: Double, floor: Double?)
    {
        let nonzero = differences.filter { $0 != 0 }
        let observed = abs(nonzero.reduce(0, +))
        guard observed > 0 else { return (1, nil) }
        // Sums that differ from the observed one only by rounding count as equal.
        let threshold = observed - 1e-9 * max(1, observed)
        if nonzero.count <= exactSignFlipLimit {
            var sums: [Double] = [0]
            sums.reserveCapacity(1 << nonzero.count)
            for value in nonzero { sums = sums.map { $0 + value } + sums.map { $0 - value } }
            let extreme = sums.count { abs($0) >= threshold }
            return (min(1, Double(extreme) / Double(sums.count)), nil)
        }
        var generator = SplitMix64(state: seed)
        var extreme = 0
        for _ in 0..<resamples {
            var sum = 0.0
            for value in nonzero { sum += generator.next() & 1 == 0 ? value : -value }
            if abs(sum) >= threshold { extreme += 1 }
        }
        let floor = 1 / Double(resamples + 1)
        return (min(1, Double(extreme + 1) / Double(resamples + 1)), floor)
    }

    /// Whether every score is exactly 0 or 1 (vacuously true for no scores).
    public static func isPassFail(_ scores: [Double]) -> Bool {
        scores.allSatisfy { $0 == 0 || $0 == 1 }
    }

    /// Arithmetic mean; 0 for no scores.
    public static func mean(_ scores: [Double]) -> Double {
        scores.isEmpty ? 0 : scores.reduce(0, +) / Double(scores.count)
    }
}

extension Statistics {
    /// SplitMix64 (Steele, Lea & Flood 2014): tiny, fast, and fixed here so resamples never change between
    /// toolchains, unlike the standard library's `random(in:using:)` algorithms.
    private struct SplitMix64 {
        var state: UInt64

        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }

        /// Uniform in `0..<bound` without modulo bias (Lemire 2019).
        mutating func next(below bound: UInt64) -> UInt64 {
            var product = next().multipliedFullWidth(by: bound)
            if product.low < bound {
                let threshold = (0 &- bound) % bound
                while product.low < threshold {
                    product = next().multipliedFullWidth(by: bound)
                }
            }
            return product.high
        }
    }

    private static func resampledMeans(_ values: [Double], resamples: Int, seed: UInt64) -> [Double] {
        var generator = SplitMix64(state: seed)
        let count = UInt64(values.count)
        var means: [Double] = []
        means.reserveCapacity(resamples)
        for _ in 0..<resamples {
            var sum = 0.0
            for _ in 0..<values.count {
                sum += values[Int(generator.next(below: count))]
            }
            means.append(sum / Double(values.count))
        }
        return means
    }

    /// Linear-interpolation percentile of already sorted values, `q` in [0, 1].
    private static func percentile(_ sorted: [Double], _ q: Double) -> Double {
        let position = Double(sorted.count - 1) * q
        let below = Int(position.rounded(.down))
        let above = min(below + 1, sorted.count - 1)
        let fraction = position - Double(below)
        return sorted[below] + fraction * (sorted[above] - sorted[below])
    }
}

extension Statistics {
    private static let ln2 = 0.693_147_180_559_945_309_417_232_121_458_176_568

    /// `log P(X = k)` for `X ~ Binomial(n, 1/2)`, `0 ≤ k < n`.
    ///
    /// Loader (2000), "Fast and Accurate Computation of Binomial Probabilities", as in R's `dbinom_raw`: the
    /// Stirling remainders and the deviance term `bd0` carry the large parts exactly, so nothing cancels.
    private static func logHalfBinomialProbability(_ k: Int, of n: Int) -> Double {
        if k == 0 { return -Double(n) * ln2 }
        let half = Double(n) / 2
        let x = Double(k)
        let y = Double(n - k)
        let logCore = stirlingError(n) - stirlingError(k) - stirlingError(n - k) - deviance(x, half) - deviance(y, half)
        let logScale = log(2 * Double.pi) + log(x) + log1p(-x / Double(n))
        return logCore - 0.5 * logScale
    }

    /// `P(X ≤ k) / P(X = k)` as `1 + r_k + r_k·r_{k−1} + …` with `r_i = i/(n − i + 1)`, all terms ≤ 1.
    private static func binomialTailSeries(_ k: Int, of n: Int) -> Double {
        var sum = 1.0
        var term = 1.0
        var i = k
        while i > 0 {
            let ratio = Double(i) / Double(n - i + 1)
            term *= ratio
            sum += term
            // The ratios shrink as i falls, so what is left is below term·ratio/(1 − ratio).
            if term * ratio < (1 - ratio) * sum * 0x1p-60 { break }
            i -= 1
        }
        return sum
    }

    /// `log(m!) − log(√(2πm)·(m/e)^m)`, the error of Stirling's formula, for m ≥ 1.
    private static func stirlingError(_ m: Int) -> Double {
        let x = Double(m)
        if m <= 15 {
            var logFactorial = 0.0
            for i in stride(from: 2, through: m, by: 1) { logFactorial += log(Double(i)) }
            return logFactorial - (x + 0.5) * log(x) + x - 0.5 * log(2 * Double.pi)
        }
        let s0 = 1.0 / 12
        let s1 = 1.0 / 360
        let s2 = 1.0 / 1260
        let s3 = 1.0 / 1680
        let s4 = 1.0 / 1188
        let x2 = x * x
        if m > 500 { return (s0 - s1 / x2) / x }
        if m > 80 { return (s0 - (s1 - s2 / x2) / x2) / x }
        if m > 35 { return (s0 - (s1 - (s2 - s3 / x2) / x2) / x2) / x }
        return (s0 - (s1 - (s2 - (s3 - s4 / x2) / x2) / x2) / x2) / x
    }

    /// `x·log(x/mean) + mean − x`, by a series when x is near `mean` so that it does not cancel.
    private static func deviance(_ x: Double, _ mean: Double) -> Double {
        guard abs(x - mean) < 0.1 * (x + mean) else { return x * log(x / mean) + mean - x }
        var v = (x - mean) / (x + mean)
        var sum = (x - mean) * v
        var power = 2 * x * v
        v *= v
        var j = 1.0
        while j < 1000 {
            power *= v
            let next = sum + power / (2 * j + 1)
            if next == sum { return next }
            sum = next
            j += 1
        }
        return sum
    }
}
