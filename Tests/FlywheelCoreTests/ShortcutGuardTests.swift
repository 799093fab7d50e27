import FlywheelCore
import Foundation
import Testing

// The letter-counting shortcut, in miniature: 90% of the references are "1", and a candidate that answers "1" to
// everything beats an honest baseline significantly while having learned nothing.

/// Task `i` asks for a count whose answer is "1" unless `i` is a multiple of 10; the prompt carries the answer so
/// an honest solver can work it out.
struct CountingGenerator: Generator {
    static func answer(_ index: Int) -> String { index % 10 == 0 ? "\(index % 7 + 2)" : "1" }

    func generate(id: String, seed: UInt64, difficulty: Int, split: Split) async -> Result<TaskSpec, PluginFailure> {
        let index = Int(id.reversed().prefix { $0.isNumber }.reversed().map(String.init).joined()) ?? 0
        return .success(
            TaskSpec(prompt: "\(split) task \(index): count = \(Self.answer(index))", reference: .string(Self.answer(index))))
    }

    func shutdown() async {}
}

/// Accepts exactly the reference.
struct ExactChecker: Checker {
    var identity: String { "exact" }
    var fingerprint: String { "exact/1" }

    func check(id: String, task: TaskSpec, answer: String) async -> Result<Judgement, PluginFailure> {
        let right = answer == task.reference?.stringValue
        return .success(Judgement(accept: right, score: right ? 1 : 0))
    }

    func shutdown() async {}
}

/// Version 0 answers right on about 60% of the prompts and "0" otherwise; learning makes it answer `learned` to
/// everything (nil: answer right every time).
struct CountingSolver: Solver {
    struct State: Codable, Sendable, Equatable {
        var constant: String?
        var learned: Bool
    }

    let learned: String?

    var initialState: State { State(constant: nil, learned: false) }

    func prepare(_ state: State) throws -> State { state }

    func solve(_ request: SolveRequest, with state: State) async -> Result<Solution, PluginFailure> {
        if let constant = state.constant { return .success(Solution(answer: constant)) }
        let right = String(request.task.prompt.split(separator: " ").last ?? "")
        let honest = state.learned || StableHashForTests.percent(request.task.prompt) < 60
        return .success(Solution(answer: honest ? right : "0"))
    }

    func learn(from examples: [Example], previous: State, round: Int) async throws -> State {
        State(constant: learned, learned: true)
    }

    func shutdown() async {}
}

@Suite struct ShortcutGuardTests {
    func run(learned: String?, _ change: (inout RoundSettings) -> Void = { _ in }) async throws -> [RoundOutcome] {
        let folder = TemporaryDirectory()
        let engine = RoundEngine(
            store: try Store(path: folder.file("store.sqlite")),
            plugins: Plugins(generator: CountingGenerator(), solver: CountingSolver(learned: learned), checker: ExactChecker()),
            settings: .small(change), log: .silent)
        return try await engine.run(rounds: 1)
    }

    @Test func aCandidateThatCollapsesOntoTheCommonestAnswerIsFlaggedThoughItImprovedSignificantly() async throws {
        let outcomes = try await run(learned: "1")
        let baseline = outcomes[0].summary
        let candidate = outcomes[1].summary
        // The trivial baselines, scored by the checker on the same held-out items: answering "1" gets 90%.
        let baselines = try #require(candidate.trust.baselines)
        #expect(baselines["most-common-reference"] == 0.9)
        #expect(baselines["empty"] == 0)
        #expect(baselines["copy-input"] == 0)
        #expect(baseline.trust.baselines == baselines)
        // The paired test says improved, by a wide margin…
        #expect(candidate.vsPrevious?.verdict == .improved)
        #expect(candidate.heldout.score == 0.9)
        #expect(baseline.heldout.score < 0.7)
        // …but the candidate does not beat "always 1", and its answers collapsed to one value.
        #expect(candidate.trust.answers?.distinct == 1)
        #expect(try #require(candidate.trust.references).distinct > 1)
        #expect(candidate.trust.suspectedShortcut == true)
        #expect(baseline.trust.suspectedShortcut == false)
        #expect(outcomes[1].state == .promoted, "flagged, not blocked, unless the pipeline asks")
    }

    @Test func rejectShortcutsKeepsTheFlaggedCandidateOut() async throws {
        let outcomes = try await run(learned: "1") { $0.rejectShortcuts = true; $0.gate = .mustImprove }
        #expect(outcomes[1].summary.vsPrevious?.verdict == .improved)
        #expect(outcomes[1].summary.trust.suspectedShortcut == true)
        #expect(outcomes[1].state == .rejected)
    }

    @Test func anHonestImprovementBeatsTheBaselinesAndIsNotFlagged() async throws {
        let outcomes = try await run(learned: nil) { $0.rejectShortcuts = true }
        let candidate = outcomes[1].summary
        #expect(candidate.heldout.score == 1)
        #expect(candidate.vsPrevious?.verdict == .improved)
        #expect(candidate.trust.suspectedShortcut == false)
        #expect(outcomes[1].state == .promoted)
        // Under the default error control the verdict was judged at α/21 and that is what was spent.
        let level = try #require(candidate.vsPrevious?.alpha)
        #expect(abs(level - 0.05 / 21) < 1e-12)
        #expect(candidate.trust.alphaSpent == level)
        // 200 held-out items detect a gain of this size; the MDE is a share of items, below the gain seen.
        let mde = try #require(candidate.trust.mde)
        #expect(mde > 0 && mde < candidate.vsPrevious!.meanDifference)
    }
}
