import FlywheelCore
import Foundation
import Testing

@Suite struct ErrorControlTests {
    @Test func spendingNeverExceedsAlphaHoweverLongThePipelineRuns() {
        let policy = ErrorControl.spending(horizon: 20)
        #expect(abs(policy.level(round: 1, alpha: 0.05) - 0.05 / 21) < 1e-15)
        #expect(policy.level(round: 20, alpha: 0.05) == policy.level(round: 1, alpha: 0.05))
        #expect(abs(policy.level(round: 21, alpha: 0.05) - 0.05 / 42) < 1e-15)
        var total = 0.0
        for round in 1...500 {
            total += policy.level(round: round, alpha: 0.05)
            #expect(abs(policy.spent(through: round, alpha: 0.05) - total) < 1e-12, "round \(round)")
        }
        #expect(total < 0.05)
        #expect(ErrorControl.perRound.spent(through: 20, alpha: 0.05) == 1)
    }

    /// A deterministic generator for the simulation (SplitMix64).
    struct Random {
        var state: UInt64
        mutating func next() -> Double {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Double((z ^ (z >> 31)) >> 11) / Double(1 << 53)
        }
    }

    /// The share of simulated pipelines in which some round of a solver that never gets better is called "improved".
    ///
    /// Each version passes held-out item i with the same probability p_i (fixed per item, the same for every
    /// version: nothing is learned), drawn afresh per version, as a sampled LLM or a new few-shot set would. The gate
    /// is `no-regression`, so candidates are promoted and the comparison base moves, as in a real run.
    static func falseImprovementRate(policy: ErrorControl, rounds: Int, pipelines: Int, seed: UInt64) -> Double {
        var random = Random(state: seed)
        let items = 150
        let difficulty = (0..<items).map { _ in random.next() }
        func version() -> [Double] { difficulty.map { random.next() < $0 ? 1 : 0 } }
        var fooled = 0
        for _ in 0..<pipelines {
            var promoted = version()
            for round in 1...rounds {
                let candidate = version()
                let comparison = Statistics.compare(
                    previous: promoted, current: candidate, alpha: policy.level(round: round, alpha: 0.05),
                    seed: UInt64(round))
                if comparison.verdict == .improved {
                    fooled += 1
                    break
                }
                if comparison.verdict != .regressed { promoted = candidate }
            }
        }
        return Double(fooled) / Double(pipelines)
    }

    @Test func overTwentyRoundsOfAnUnchangingSolverSpendingKeepsFalseImprovementsAtAlphaPerRoundDoesNot() {
        let pipelines = 2000
        let perRound = Self.falseImprovementRate(policy: .perRound, rounds: 20, pipelines: pipelines, seed: 7)
        let spending = Self.falseImprovementRate(policy: .default, rounds: 20, pipelines: pipelines, seed: 7)
        print("false improvements over 20 rounds, \(pipelines) pipelines: per-round \(perRound), spending \(spending)")
        // The bounds allow for the simulation's own error: 2000 pipelines give a standard error of about 0.005
        // at a rate of 0.05.
        #expect(perRound > 0.15, "per-round testing: \(perRound)")
        #expect(spending <= 0.05, "spending: \(spending)")
    }
}

@Suite struct PowerTests {
    @Test func normalQuantilesMatchTables() {
        #expect(abs(Power.normalQuantile(0.975) - 1.959963984540054) < 1e-9)
        #expect(abs(Power.normalQuantile(0.8) - 0.8416212335729143) < 1e-9)
        #expect(abs(Power.normalCDF(1.959963984540054) - 0.975) < 1e-12)
    }

    @Test func theDetectableGainShrinksWithMoreItemsAndGrowsWithDiscordanceAndAStricterLevel() throws {
        let small = try #require(Power.mcnemarMDE(n: 50, discordance: 0.2, level: 0.05))
        let large = try #require(Power.mcnemarMDE(n: 400, discordance: 0.2, level: 0.05))
        #expect(large < small)
        let noisy = try #require(Power.mcnemarMDE(n: 400, discordance: 0.4, level: 0.05))
        #expect(noisy > large)
        let strict = try #require(Power.mcnemarMDE(n: 400, discordance: 0.2, level: 0.05 / 21))
        #expect(strict > large)
        // Connor's sample size for Δ = 0.1 with 20% discordance at α = 0.05, power 0.8 is n ≈ 153.
        let connor = try #require(Power.mcnemarMDE(n: 153, discordance: 0.2, level: 0.05))
        #expect(abs(connor - 0.1) < 0.003, "\(connor)")
        #expect(Power.mcnemarMDE(n: 0, discordance: 0.2, level: 0.05) == nil)
    }

    @Test func gradedScoresUseTheSpreadOfTheDifferences() throws {
        let mde = try #require(Power.pairedMeanMDE(n: 100, spread: 0.3, level: 0.05))
        #expect(abs(mde - (1.959963984540054 + 0.8416212335729143) * 0.03) < 1e-6)
    }
}

@Suite struct ShortcutTests {
    @Test func trivialAnswers() {
        let prompt = "Sort these words:\nbanana apple\n"
        #expect(Shortcuts.answer(.copyInput, prompt: prompt, mostCommon: nil) == prompt)
        #expect(Shortcuts.answer(.copyLastLine, prompt: prompt, mostCommon: nil) == "banana apple")
        #expect(Shortcuts.answer(.empty, prompt: prompt, mostCommon: "1") == "")
        #expect(Shortcuts.answer(.mostCommonReference, prompt: prompt, mostCommon: nil) == nil)
        let references: [JSONValue?] = ["1", "2", "1", nil, .number(1), "3", "2", "1"]
        #expect(Shortcuts.mostCommonReference(references) == "1")
        #expect(Shortcuts.mostCommonReference([.object([:])]) == nil)
    }

    @Test func answersCollapsedOntoOneValueAreFlagged() {
        // 51 letter-counting items, 45 of whose references are "1": a model answering "1" to all collapsed.
        let references = Shortcuts.Diversity(Array(repeating: "1", count: 45) + ["2", "2", "3", "2", "4", "2"])
        let constant = Shortcuts.Diversity(Array(repeating: "1", count: 51))
        #expect(constant.distinct == 1 && constant.entropy == 0)
        #expect(constant.collapsed(against: references))
        let varied = Shortcuts.Diversity(Array(repeating: "1", count: 43) + ["2", "2", "3", "2", "4", "2", "3", "2"])
        #expect(!varied.collapsed(against: references))
        #expect(!constant.collapsed(against: Shortcuts.Diversity(["x", "x"])), "identical references: no basis")
        #expect(abs(Shortcuts.Diversity(["a", "b", "c", "d"]).entropy - 2) < 1e-12)
    }
}
