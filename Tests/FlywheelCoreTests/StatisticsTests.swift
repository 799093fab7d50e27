import FlywheelCore
import Foundation
import Testing

/// Reference values were computed independently with Python 3 and SciPy 1.17.1; each literal names the expression
/// that produced it. Large-n McNemar values come from exact rational arithmetic (Python `fractions.Fraction` over
/// integer binomial coefficients), which SciPy itself only matches to ~1e-13.
@Suite("Statistics")
struct StatisticsTests {
    private func expectClose(
        _ actual: Double, _ expected: Double, relative: Double = 1e-9,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let scale = max(abs(expected), .leastNormalMagnitude)
        #expect(abs(actual - expected) / scale <= relative, "\(actual) vs \(expected)", sourceLocation: sourceLocation)
    }

    private func expectWithin(
        _ actual: Double, _ expected: Double, absolute: Double = 1e-9,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(abs(actual - expected) <= absolute, "\(actual) vs \(expected)", sourceLocation: sourceLocation)
    }

    @Test("McNemar with no discordant pairs is 1")
    func mcnemarNoDiscordantPairs() {
        #expect(Statistics.mcnemarExactPValue(b: 0, c: 0) == 1)
    }

    // p = min(1, 2*scipy.stats.binom.cdf(min(b, c), b + c, 0.5)), equal to
    // scipy.stats.binomtest(min(b, c), b + c, 0.5).pvalue for every case below.
    @Test(
        "McNemar small and moderate counts match SciPy",
        arguments: [
            (0, 1, 1.0),
            (1, 0, 1.0),
            (0, 5, 0.0625),
            (5, 0, 0.0625),
            (3, 12, 0.03515625),
            (2, 9, 0.0654296875),
            (10, 10, 1.0),
            (25, 40, 0.08168153394154003),
            (40, 25, 0.08168153394154003),
            (100, 200, 8.014875216538921e-09),
            (499, 501, 0.9747749818216395),
            (1000, 1100, 0.03072070786424249),
        ])
    func mcnemarMatchesSciPy(b: Int, c: Int, expected: Double) {
        expectClose(Statistics.mcnemarExactPValue(b: b, c: c), expected)
    }

    // float(min(Fraction(1), Fraction(2 * sum(comb(n, i) for i in range(k + 1)), 2**n))), n = b + c, k = min(b, c),
    // summed with the recurrence comb(n, i) = comb(n, i - 1) * (n - i + 1) // i.
    @Test(
        "McNemar is exact for b + c up to 100 000",
        arguments: [
            (40_000, 41_000, 0.000447821823137557),
            (49_000, 51_000, 2.588716038346898e-10),
            (40_000, 45_000, 6.1398502571797e-66),
        ])
    func mcnemarLargeCounts(b: Int, c: Int, expected: Double) {
        expectClose(Statistics.mcnemarExactPValue(b: b, c: c), expected)
    }

    @Test("McNemar stays finite where the tail underflows, and is 1 when balanced")
    func mcnemarExtremes() {
        // 2 * 2**-1100 is below the smallest subnormal double: exactly 0 in float(Fraction(2, 2**1100)).
        #expect(Statistics.mcnemarExactPValue(b: 0, c: 1100) == 0)
        #expect(Statistics.mcnemarExactPValue(b: 30_000, c: 70_000) == 0)
        #expect(Statistics.mcnemarExactPValue(b: 50_000, c: 50_000) == 1)
        #expect(Statistics.mcnemarExactPValue(b: 49_999, c: 50_000) == 1)
    }

    // scipy.stats.binomtest(k, n).proportion_ci(method='wilson') (confidence_level=0.95).
    @Test(
        "Wilson bounds match SciPy",
        arguments: [
            (0, 1, 0.0, 0.7934506856227626),
            (1, 1, 0.20654931437723745, 1.0),
            (20, 20, 0.8388748419471808, 1.0),
            (0, 20, 0.0, 0.16112515805281935),
            (1, 2, 0.09453120573423074, 0.9054687942657693),
            (37, 300, 0.09081731429366793, 0.16537372402882342),
            (150, 300, 0.4437795161339169, 0.5562204838660831),
            (299, 300, 0.9813633063054688, 0.9994113422781488),
        ])
    func wilsonMatchesSciPy(successes: Int, n: Int, lower: Double, upper: Double) {
        let interval = Statistics.wilsonInterval(successes: successes, n: n)
        expectWithin(interval.lower, lower)
        expectWithin(interval.upper, upper)
    }

    @Test("Wilson edge cases: no data, all fail, all pass")
    func wilsonEdges() {
        let none = Statistics.wilsonInterval(successes: 0, n: 0)
        #expect(none.lower == 0 && none.upper == 1)
        #expect(Statistics.wilsonInterval(successes: 0, n: 7).lower == 0)
        #expect(Statistics.wilsonInterval(successes: 7, n: 7).upper == 1)
    }

    @Test("A wider z gives a wider Wilson interval")
    func wilsonZ() {
        let narrow = Statistics.wilsonInterval(successes: 37, n: 300, z: 1.0)
        let wide = Statistics.wilsonInterval(successes: 37, n: 300)
        #expect(wide.lower < narrow.lower && narrow.upper < wide.upper)
    }

    private func gradedScores(count: Int, seed: Int) -> [Double] {
        // A fixed, irregular pattern of scores in [0, 1]; no randomness so the fixture never changes.
        (0..<count).map { Double(($0 * 7919 + seed * 104_729) % 101) / 100 }
    }

    @Test("Bootstrap interval is a pure function of the scores and the seed")
    func bootstrapDeterministic() {
        let scores = gradedScores(count: 80, seed: 1)
        let first = Statistics.bootstrapMeanInterval(scores, seed: 42)
        let second = Statistics.bootstrapMeanInterval(scores, seed: 42)
        let other = Statistics.bootstrapMeanInterval(scores, seed: 43)
        #expect(first.lower == second.lower && first.upper == second.upper)
        #expect(first.lower != other.lower || first.upper != other.upper)
    }

    @Test("Bootstrap interval contains the mean and shrinks as n grows")
    func bootstrapContainsMeanAndShrinks() {
        var widths: [Double] = []
        for count in [25, 100, 400] {
            let scores = gradedScores(count: count, seed: 3)
            let interval = Statistics.bootstrapMeanInterval(scores, seed: 7)
            let mean = Statistics.mean(scores)
            #expect(interval.lower < mean && mean < interval.upper)
            widths.append(interval.upper - interval.lower)
        }
        #expect(widths[0] > widths[1] && widths[1] > widths[2])
        // The standard error halves when n quadruples; allow for resampling noise.
        #expect(widths[1] / widths[2] > 1.6 && widths[1] / widths[2] < 2.5)
    }

    @Test("A constant vector has a zero-width bootstrap interval")
    func bootstrapConstant() {
        let interval = Statistics.bootstrapMeanInterval(Array(repeating: 0.25, count: 50), seed: 1)
        #expect(interval.lower == 0.25 && interval.upper == 0.25)
        let single = Statistics.bootstrapMeanInterval([0.6], seed: 1)
        #expect(single.lower == 0.6 && single.upper == 0.6)
    }

    @Test("A higher confidence gives a wider bootstrap interval")
    func bootstrapConfidence() {
        let scores = gradedScores(count: 60, seed: 5)
        let ninety = Statistics.bootstrapMeanInterval(scores, seed: 9, confidence: 0.90)
        let ninetyNine = Statistics.bootstrapMeanInterval(scores, seed: 9, confidence: 0.99)
        #expect(ninetyNine.lower < ninety.lower && ninety.upper < ninetyNine.upper)
    }

    @Test("Paired bootstrap: identical versions give p = 1 and a zero interval")
    func pairedBootstrapIdentical() {
        let scores = gradedScores(count: 60, seed: 2)
        let result = Statistics.pairedBootstrap(previous: scores, current: scores, seed: 11)
        #expect(result.pValue == 1)
        #expect(result.lower == 0 && result.upper == 0)
    }

    @Test("Paired bootstrap: a clear improvement has the smallest p the resamples allow")
    func pairedBootstrapImproved() {
        let previous = gradedScores(count: 60, seed: 4).map { $0 * 0.5 }
        let current = previous.enumerated().map { $0.offset % 4 == 0 ? $0.element : $0.element + 0.3 }
        let result = Statistics.pairedBootstrap(previous: previous, current: current, resamples: 999, seed: 5)
        // No resampled mean difference reaches 0: p = 2 * (0 + 1) / (999 + 1).
        #expect(result.pValue == 0.002)
        #expect(result.lower > 0 && result.upper < 0.3)
        let reversed = Statistics.pairedBootstrap(previous: current, current: previous, resamples: 999, seed: 5)
        #expect(reversed.pValue == 0.002)
        #expect(reversed.upper < 0)
    }

    @Test("Paired bootstrap: a one-item difference is not significant")
    func pairedBootstrapNoise() {
        let previous = gradedScores(count: 40, seed: 6)
        var current = previous
        current[3] = min(1, current[3] + 0.2)
        let result = Statistics.pairedBootstrap(previous: previous, current: current, seed: 8)
        #expect(result.pValue > 0.5)
        #expect(result.lower <= 0 && 0 < result.upper)
    }

    @Test("Pass/fail scores are summarised with Wilson")
    func summarizePassFail() {
        let scores = Array(repeating: 1.0, count: 37) + Array(repeating: 0.0, count: 263)
        let summary = Statistics.summarize(scores: scores, seed: 1)
        #expect(summary.n == 300)
        #expect(summary.method == .wilson)
        expectWithin(summary.score, 37.0 / 300)
        // scipy.stats.binomtest(37, 300).proportion_ci(method='wilson')
        expectWithin(summary.ci[0], 0.09081731429366793)
        expectWithin(summary.ci[1], 0.16537372402882342)
    }

    @Test("All-pass, all-fail, single-item and empty summaries")
    func summarizeEdges() {
        let allPass = Statistics.summarize(scores: Array(repeating: 1, count: 20), seed: 1)
        #expect(allPass.score == 1 && allPass.ci[1] == 1)
        // scipy.stats.binomtest(20, 20).proportion_ci(method='wilson').low
        expectWithin(allPass.ci[0], 0.8388748419471808)
        let allFail = Statistics.summarize(scores: Array(repeating: 0, count: 20), seed: 1)
        #expect(allFail.score == 0 && allFail.ci[0] == 0)
        // scipy.stats.binomtest(0, 20).proportion_ci(method='wilson').high
        expectWithin(allFail.ci[1], 0.16112515805281935)
        let one = Statistics.summarize(scores: [1], seed: 1)
        #expect(one.n == 1 && one.method == .wilson)
        // scipy.stats.binomtest(1, 1).proportion_ci(method='wilson').low
        expectWithin(one.ci[0], 0.20654931437723745)
        let empty = Statistics.summarize(scores: [], seed: 1)
        #expect(empty == HeldoutSummary(n: 0, score: 0, ci: [0, 1], method: .wilson))
    }

    @Test("Graded scores are summarised with a seeded bootstrap")
    func summarizeGraded() {
        let scores = gradedScores(count: 50, seed: 8)
        let summary = Statistics.summarize(scores: scores, seed: 77)
        let interval = Statistics.bootstrapMeanInterval(scores, seed: 77)
        #expect(summary.method == .bootstrap)
        #expect(summary.ci == [interval.lower, interval.upper])
        #expect(summary.score == Statistics.mean(scores))
        #expect(summary == Statistics.summarize(scores: scores, seed: 77))
    }

    @Test("Summaries encode as the status --json shape")
    func summaryJSON() throws {
        let summary = HeldoutSummary(n: 2, score: 0.5, ci: [0.25, 0.75], method: .wilson)
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let json = String(decoding: try encoder.encode(summary), as: UTF8.self)
        #expect(json == #"{"ci":[0.25,0.75],"method":"wilson","n":2,"score":0.5}"#)
        #expect(try JSONDecoder().decode(HeldoutSummary.self, from: Data(json.utf8)) == summary)
    }

    /// Builds aligned pass/fail arrays with the given numbers of both-pass, previous-only (b), current-only (c)
    /// and both-fail items, interleaved so the order is not trivially sorted.
    private func passFail(bothPass: Int, b: Int, c: Int, bothFail: Int) -> (previous: [Double], current: [Double]) {
        var pairs =
            Array(repeating: (1.0, 1.0), count: bothPass) + Array(repeating: (1.0, 0.0), count: b)
            + Array(repeating: (0.0, 1.0), count: c) + Array(repeating: (0.0, 0.0), count: bothFail)
        pairs = pairs.enumerated().sorted { ($0.offset * 37) % 101 < ($1.offset * 37) % 101 }.map(\.element)
        return (pairs.map(\.0), pairs.map(\.1))
    }

    @Test("Pass/fail comparison uses exact McNemar on b and c: improved")
    func compareImproved() {
        let data = passFail(bothPass: 50, b: 3, c: 12, bothFail: 35)
        let result = Statistics.compare(previous: data.previous, current: data.current, seed: 1)
        #expect(result.b == 3 && result.c == 12)
        #expect(result.method == .mcnemarExact)
        // 2 * scipy.stats.binom.cdf(3, 15, 0.5)
        expectClose(result.pValue, 0.03515625)
        expectWithin(result.meanDifference, 0.09)
        #expect(result.verdict == .improved)
    }

    @Test("Pass/fail comparison: regressed")
    func compareRegressed() {
        let data = passFail(bothPass: 50, b: 12, c: 3, bothFail: 35)
        let result = Statistics.compare(previous: data.previous, current: data.current, seed: 1)
        #expect(result.b == 12 && result.c == 3)
        expectClose(result.pValue, 0.03515625)
        #expect(result.verdict == .regressed)
        #expect(result.meanDifference < 0)
    }

    @Test("Pass/fail comparison: no significant change, and alpha decides")
    func compareNoChange() {
        let data = passFail(bothPass: 40, b: 25, c: 40, bothFail: 10)
        let result = Statistics.compare(previous: data.previous, current: data.current, seed: 1)
        #expect(result.b == 25 && result.c == 40)
        // 2 * scipy.stats.binom.cdf(25, 65, 0.5)
        expectClose(result.pValue, 0.08168153394154003)
        #expect(result.verdict == .noChange)
        let lenient = Statistics.compare(previous: data.previous, current: data.current, alpha: 0.1, seed: 1)
        #expect(lenient.verdict == .improved)
    }

    @Test("Identical and empty pass/fail results are no-change with p = 1")
    func compareIdentical() {
        let data = passFail(bothPass: 10, b: 0, c: 0, bothFail: 10)
        let same = Statistics.compare(previous: data.previous, current: data.current, seed: 1)
        let expected = PairedComparison(
            b: 0, c: 0, pValue: 1, verdict: .noChange, method: .mcnemarExact, meanDifference: 0, alpha: 0.05)
        #expect(same == expected)
        let empty = Statistics.compare(previous: [], current: [], seed: 1)
        #expect(empty.pValue == 1 && empty.verdict == .noChange)
    }

    @Test("Graded comparison uses the sign-flip test, sampled when many items differ, counting b and c on score 1")
    func compareGraded() {
        let previous: [Double] = (0..<60).map { $0 % 5 == 0 ? 1 : 0.3 }
        var current = previous.map { $0 == 1 ? 1 : 0.7 }
        current[0] = 0.9
        let result = Statistics.compare(previous: previous, current: current, seed: 3)
        #expect(result.method == .signFlipSampled)
        #expect(result.pFloor == 1.0 / 10_001)
        #expect(result.b == 1 && result.c == 0)
        #expect(result.verdict == .improved)
        let differences = zip(current, previous).map { $0 - $1 }
        #expect(result.pValue == Statistics.signFlipTest(differences, seed: 3).pValue)
        let backwards = Statistics.compare(previous: current, current: previous, seed: 3)
        #expect(backwards.verdict == .regressed)
        #expect(backwards.b == 0 && backwards.c == 1)
        let same = Statistics.compare(previous: previous, current: previous, seed: 3)
        #expect(same.verdict == .noChange && same.pValue == 1)
    }

    /// The case the bootstrap got wrong: on graded scores where one item fell and nine rose by a whole point, a paired
    /// bootstrap printed p = 0.001 (its floor); the exact test agrees with McNemar's 0.021.
    @Test("Few differing graded items get the exact sign-flip test")
    func exactSignFlip() {
        var previous = Array(repeating: 0.5, count: 40)
        var current = previous
        previous[0] = 1
        current[0] = 0
        for index in 1...9 {
            previous[index] = 0
            current[index] = 1
        }
        let result = Statistics.compare(previous: previous, current: current, seed: 1)
        #expect(result.method == .signFlipExact && result.pFloor == nil)
        #expect(abs(result.pValue - Statistics.mcnemarExactPValue(b: 1, c: 9)) < 1e-12, "\(result.pValue)")
        #expect(abs(result.pValue - 22.0 / 1024) < 1e-12)
        #expect(result.verdict == .improved)
        #expect(Statistics.signFlipTest([0, 0], seed: 1).pValue == 1)
    }

    @Test("Comparisons encode with the status --json keys")
    func comparisonJSON() throws {
        let comparison = PairedComparison(
            round: 2, b: 3, c: 12, pValue: 0.03515625, verdict: .noChange, method: .mcnemarExact, meanDifference: 0.5)
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        encoder.keyEncodingStrategy = .convertToSnakeCase
        let json = String(decoding: try encoder.encode(comparison), as: UTF8.self)
        let expected =
            #"{"b":3,"c":12,"mean_difference":0.5,"method":"mcnemar-exact","#
            + #""p_value":0.03515625,"round":2,"verdict":"no-change"}"#
        #expect(json == expected)
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        #expect(try decoder.decode(PairedComparison.self, from: Data(json.utf8)) == comparison)
    }
}
