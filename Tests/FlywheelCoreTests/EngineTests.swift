import FlywheelCore
import Foundation
import Synchronization
import Testing

// In-process fake plugins: the engine's own behaviour, without child processes.

/// Makes each task's prompt from its index (taken from the request id) and split, or fails where `prompt` gives
/// nil; by default every task of every round is new.
struct FakeGenerator: Generator {
    var prompt: @Sendable (_ index: Int, _ split: Split, _ id: String) -> String? = { _, _, id in "task \(id)" }
    /// How long each call takes (none by default), and how many were in progress at once.
    var pause: Duration?
    let calls = InFlight()

    func generate(id: String, seed: UInt64, difficulty: Int, split: Split) async -> Result<TaskSpec, PluginFailure> {
        await calls.during { if let pause { try? await Task.sleep(for: pause) } }
        let index = Int(id.reversed().prefix { $0.isNumber }.reversed().map(String.init).joined()) ?? -1
        guard let prompt = prompt(index, split, id) else {
            return .failure(PluginFailure(.refused, "no task \(index)"))
        }
        return .success(TaskSpec(prompt: prompt, reference: "right", meta: ["difficulty": .number(Double(difficulty))]))
    }

    func shutdown() async {}
}

/// Answers right when a stable hash of the prompt is below its skill (in %); learning adds `gain` per learning
/// call, and the state records how many examples each learning call saw.
final class FakeSolver: Solver {
    struct State: Codable, Sendable, Equatable {
        var skill: Int
        var learnedFrom: [Int] = []
    }

    let base: Int
    let gain: Int
    /// The round whose first learning call throws (a flaky trainer), if any.
    let failures: Mutex<Int?>
    /// Every learning call's example prompts, in order.
    let learned = Mutex<[[String]]>([])
    /// Solve requests by id, in the order they came.
    let solved = Mutex<[String]>([])
    /// How long each solve takes (none by default), and how many were in progress at once.
    let pause: Duration?
    let calls = InFlight()
    /// Counts solves in progress too, beside other plugins' calls (nil: none).
    let alsoCounted: InFlight?

    init(
        base: Int, gain: Int, failOnceInRound round: Int? = nil, pause: Duration? = nil,
        alsoCounted: InFlight? = nil
    ) {
        self.alsoCounted = alsoCounted
        self.base = base
        self.gain = gain
        failures = Mutex(round)
        self.pause = pause
    }

    var initialState: State { State(skill: base) }

    func prepare(_ state: State) throws -> Int { state.skill }

    func solve(_ request: SolveRequest, with skill: Int) async -> Result<Solution, PluginFailure> {
        #expect(request.task.reference == nil, "the solver must never see the reference")
        solved.withLock { $0.append(request.id) }
        await calls.during(alsoIn: alsoCounted) { if let pause { try? await Task.sleep(for: pause) } }
        let right = StableHashForTests.percent(request.task.prompt) < skill
        return .success(Solution(answer: right ? "right" : "wrong"))
    }

    func learn(from examples: [Example], previous: State, round: Int) async throws -> State {
        learned.withLock { $0.append(examples.map(\.prompt)) }
        let fail = failures.withLock { failing in
            defer { if failing == round { failing = nil } }
            return failing == round
        }
        if fail { throw FlywheelError(.runFailed, "the trainer fell over") }
        return State(skill: previous.skill + gain, learnedFrom: previous.learnedFrom + [examples.count])
    }

    func shutdown() async {}
}

/// Accepts the answer "right" with score 1.
struct FakeChecker: Checker {
    var identity: String { "fake-checker" }
    var fingerprint: String { "fake-checker/1" }
    /// How long each check takes (none by default), how many were in progress at once, and a counter of other
    /// plugins' calls that counts checks in progress too (nil: none).
    var pause: Duration?
    let calls = InFlight()
    var alsoCounted: InFlight?

    func check(id: String, task: TaskSpec, answer: String) async -> Result<Judgement, PluginFailure> {
        await calls.during(alsoIn: alsoCounted) { if let pause { try? await Task.sleep(for: pause) } }
        return .success(Judgement(accept: answer == task.reference?.stringValue, score: answer == "right" ? 1 : 0))
    }

    func shutdown() async {}
}

enum StableHashForTests {
    /// 0..<100 from the prompt's bytes (FNV-1a), the same on every run.
    static func percent(_ text: String) -> Int {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return Int(hash % 100)
    }
}

extension RoundSettings {
    static func small(_ change: (inout RoundSettings) -> Void = { _ in }) -> RoundSettings {
        var settings = RoundSettings()
        settings.seed = 1
        settings.roundSize = 40
        settings.heldoutSize = 200
        settings.parallelism = 4
        change(&settings)
        return settings
    }
}

func engine(
    _ folder: TemporaryDirectory, solver: FakeSolver, generator: FakeGenerator = FakeGenerator(),
    checker: FakeChecker = FakeChecker(), settings: RoundSettings
) throws -> RoundEngine {
    RoundEngine(
        store: try Store(path: folder.file("store.sqlite")),
        plugins: Plugins(generator: generator, solver: solver, checker: checker), settings: settings,
        log: .silent)
}

@Suite struct EngineTests {
    @Test(arguments: [
        // gate, gain → verdict and state of round 1
        (Gate.always, -40, Verdict.regressed, RoundState.promoted),
        (.noRegression, -40, .regressed, .rejected),
        (.noRegression, 0, .noChange, .promoted),
        (.noRegression, 40, .improved, .promoted),
        (.mustImprove, 0, .noChange, .rejected),
        (.mustImprove, 40, .improved, .promoted),
    ])
    func theGateDecidesWithInjectedPlugins(gate: Gate, gain: Int, verdict: Verdict, state: RoundState) async throws {
        let folder = TemporaryDirectory()
        let run = try engine(folder, solver: FakeSolver(base: 50, gain: gain), settings: .small { $0.gate = gate })
        let outcomes = try await run.run(rounds: 2)
        #expect(outcomes[1].summary.vsPrevious?.verdict == verdict)
        #expect(outcomes[1].state == state)
        #expect(outcomes[1].summary.vsPrevious?.round == 0)
        // The next round solves with the last promoted version and compares with it.
        #expect(outcomes[2].summary.vsPrevious?.round == (state == .promoted ? 1 : 0))
        let solvedWith = try #require(try run.store.version(round: state == .promoted ? 1 : 0))
        #expect(try run.store.existingRound(2).solverVersion == solvedWith.id)
    }

    @Test func aCandidateIdenticalToThePromotedVersionReusesItsHeldOutResults() async throws {
        let folder = TemporaryDirectory()
        let solver = FakeSolver(base: 50, gain: 10)
        let run = try engine(folder, solver: solver, settings: .small { $0.learning = false })
        let outcomes = try await run.run(rounds: 2)
        // Only the training tasks were solved after the baseline: no held-out item was asked again.
        let heldoutSolves = solver.solved.withLock { $0.filter { $0.contains("-h") } }
        #expect(heldoutSolves.count == 200 && heldoutSolves.allSatisfy { $0.hasPrefix("r0-") })
        let baseline = try run.store.heldoutResults(round: 0)
        for round in [1, 2] {
            #expect(
                try run.store.heldoutResults(round: round)
                    == baseline.map {
                        var result = $0
                        result.usage = nil
                        return result
                    })
            #expect(outcomes[round].summary.vsPrevious?.verdict == .noChange)
            #expect(outcomes[round].summary.vsPrevious.map { $0.b + $0.c } == 0)
        }
        // With learning on, a changed candidate is evaluated for real.
        let learning = FakeSolver(base: 50, gain: 10)
        let other = TemporaryDirectory()
        _ = try await engine(other, solver: learning, settings: .small()).run(rounds: 1)
        #expect(learning.solved.withLock { $0.filter { $0.hasPrefix("r1-h") }.count } == 200)
    }

    @Test func duplicatesAndContaminationAreDecidedInIndexOrderWhateverOrderGenerationFinishes() async throws {
        let folder = TemporaryDirectory()
        // Tasks 3, 13, 23 … repeat task 3's prompt; task 5 copies a held-out prompt; task 7 fails.
        let generator = FakeGenerator { index, split, _ in
            switch (split, index) {
            case (.heldout, _): return "held-out question number \(index) about the weather"
            case (.train, 7): return nil
            case (.train, 5): return "held-out question number 2 about the weather"
            case (.train, let i) where i % 10 == 3: return "a repeated training task"
            default: return "training task \(index)"
            }
        }
        let run = try engine(
            folder, solver: FakeSolver(base: 50, gain: 0), generator: generator,
            settings: .small {
                $0.heldoutSize = 20
                $0.parallelism = 8
            })
        _ = try await run.run(rounds: 1)
        let tasks = try run.store.tasks(round: 1)
        #expect(tasks.map(\.index) == Array(0..<40))
        #expect(tasks[3].status == .kept, "the first copy is kept")
        #expect([13, 23, 33].allSatisfy { tasks[$0].status == .duplicate })
        #expect(tasks[5].status == .contaminated)
        #expect(tasks[7].status == .error && tasks[7].failure?.kind == .refused)
        let counts = try run.store.counts(round: 1)
        #expect(counts.duplicates == 3 && counts.contaminated == 1 && counts.generationErrors == 1)
    }

    /// Issue 11: a training prompt holding a whole held-out prompt inside longer text used to pass (0 of 12 caught)
    /// and reach the export.
    @Test func trainingPromptsThatEmbedAHeldOutPromptAreDroppedAndNeverExported() async throws {
        let folder = TemporaryDirectory()
        @Sendable func heldout(_ index: Int) -> String {
            "Which river flows through city number \(index) of the atlas?"
        }
        let generator = FakeGenerator { index, split, _ in
            switch split {
            case .heldout: heldout(index)
            case .train where index % 4 == 1: "Please help me with my homework. \(heldout(index / 4)) Thanks a lot!"
            case .train: "A fresh training question, number \(index), about lakes."
            }
        }
        let run = try engine(
            folder, solver: FakeSolver(base: 100, gain: 0), generator: generator,
            settings: .small {
                $0.heldoutSize = 20
                $0.roundSize = 48
                $0.gate = .always
            })
        _ = try await run.run(rounds: 1)
        let tasks = try run.store.tasks(round: 1)
        let embedding = tasks.filter { $0.index % 4 == 1 }
        #expect(embedding.count == 12)
        #expect(embedding.allSatisfy { $0.status == .contaminated }, "\(embedding.map(\.status))")
        #expect(tasks.filter { $0.index % 4 != 1 }.allSatisfy { $0.status == .kept })
        let out = folder.file("export.jsonl")
        let summary = try ExampleExporter.export(store: run.store, to: out)
        #expect(summary.examples == 36)
        let exported = try String(contentsOfFile: out, encoding: .utf8)
        #expect(!exported.contains("atlas"), "a held-out prompt reached the export")
    }

    /// The bug this guards: a resumed round learned with the settings' *current* data policy, while its summary
    /// named the one recorded when it started.
    @Test func aResumedRoundLearnsWithTheDataPolicyItStartedWith() async throws {
        let folder = TemporaryDirectory()
        let solver = FakeSolver(base: 50, gain: 0, failOnceInRound: 2)
        let first = try engine(
            folder, solver: solver,
            settings: .small {
                $0.dataPolicy = .replace
                $0.gate = .always
            })
        _ = try await first.runRound()
        let round1 = try await first.runRound()
        // Round 2 solves and checks everything, then its first learning call fails: the round is left to resume.
        await #expect(throws: FlywheelError.self) { _ = try await first.runRound() }
        #expect(try first.store.existingRound(2).state == .failed)

        // The pipeline file now says `accumulate`; the resumed round still learns under `replace`.
        let resumed = try engine(folder, solver: solver, settings: .small { $0.dataPolicy = .accumulate })
        let round2 = try await resumed.runRound()
        #expect(round2.round == 2)
        #expect(round2.summary.dataPolicy == .replace)
        let roundTwoPrompts = Set(try resumed.store.examples(.round(2)).map(\.prompt))
        #expect(round2.summary.learnedFrom == roundTwoPrompts.count)
        let lastLearning = try #require(solver.learned.withLock { $0.last })
        #expect(Set(lastLearning) == roundTwoPrompts, "learning saw other rounds' examples")
        #expect(round1.summary.counts.accepted > 0)

        // A new round takes the file's policy.
        let round3 = try await resumed.runRound()
        #expect(round3.summary.dataPolicy == .accumulate)
    }

    @Test func theCurriculumMovesDifficultyByTheLastRoundsAcceptance() async throws {
        let folder = TemporaryDirectory()
        let run = try engine(
            folder, solver: FakeSolver(base: 100, gain: 0),
            settings: .small {
                $0.difficulty = 2
                $0.curriculum = Curriculum(low: 0.2, high: 0.8, step: 3, minimum: 1, maximum: 7)
            })
        let outcomes = try await run.run(rounds: 4)
        // Everything is accepted (above the band): 2, then up by 3 a round until the maximum.
        #expect(outcomes.dropFirst().map(\.summary.difficulty) == [2, 5, 7, 7])
        #expect(Set(try run.store.tasks(round: 3).map(\.difficulty)) == [7])
    }
}

@Suite struct GateAndCurriculumTests {
    @Test(arguments: [
        (Gate.always, [true, true, true]),
        (.noRegression, [true, true, false]),
        (.mustImprove, [true, false, false]),
    ])
    func gatePromotes(gate: Gate, promotes: [Bool]) {
        #expect([Verdict.improved, .noChange, .regressed].map(gate.promotes) == promotes)
    }

    @Test func eachTrainingStageRunsParallelismItemsAtOnceAndTheStagesOverlap() async throws {
        let folder = TemporaryDirectory()
        let solvesAndChecks = InFlight()
        let solver = FakeSolver(base: 50, gain: 0, pause: .milliseconds(2), alsoCounted: solvesAndChecks)
        var generator = FakeGenerator()
        generator.pause = .microseconds(200)
        var checker = FakeChecker()
        checker.pause = .milliseconds(2)
        checker.alsoCounted = solvesAndChecks
        let run = try engine(
            folder, solver: solver, generator: generator, checker: checker,
            settings: .small {
                $0.parallelism = 3
                $0.roundSize = 60
                $0.heldoutSize = 20
            })
        _ = try await run.run(rounds: 1)
        #expect(solver.calls.most == 3, "never more solves at once than `parallelism`, and that many at some point")
        #expect(checker.calls.most == 3, "never more checks at once than `parallelism`, and that many at some point")
        #expect(solvesAndChecks.most > 3, "items are solved while others are checked")
        #expect(generator.calls.most > 3, "generation runs ahead of the items being solved")
        #expect(generator.calls.most <= 9, "at most 3 × `parallelism` items are in the stage at once")
    }

    @Test func curriculumStaysInItsBandAndLimits() {
        let curriculum = Curriculum(low: 0.3, high: 0.7, step: 2, minimum: 1, maximum: 6)
        #expect(curriculum.next(after: 3, acceptance: 0.9) == 5)
        #expect(curriculum.next(after: 5, acceptance: 0.9) == 6, "capped at the maximum")
        #expect(curriculum.next(after: 3, acceptance: 0.5) == 3, "inside the band it stays")
        #expect(curriculum.next(after: 3, acceptance: 0.7) == 3, "the band's edges are inside")
        #expect(curriculum.next(after: 3, acceptance: 0.1) == 1)
        #expect(curriculum.next(after: 1, acceptance: 0.0) == 1, "floored at the minimum")
    }
}

@Suite struct AdmissionTests {
    @Test func orderedAdmissionLetsItemsThroughInIndexOrder() async throws {
        let admission = OrderedAdmission(first: 0)
        let order = Recorder()
        try await withThrowingTaskGroup(of: Void.self) { group in
            // Started in a shuffled order with uneven delays, so generation "finishes" out of order.
            for index in (0..<64).shuffled() {
                group.addTask {
                    try await Task.sleep(for: .microseconds(StableHashForTests.percent("\(index)") * 50))
                    try await admission.admit(index) { order.append(index) }
                }
            }
            try await group.waitForAll()
        }
        #expect(order.values == Array(0..<64))
    }

    @Test func aPoisonedAdmissionReleasesEveryWaiter() async throws {
        let admission = OrderedAdmission(first: 0)
        let released = Recorder()
        await withTaskGroup(of: Void.self) { group in
            for index in 1...5 {
                group.addTask {
                    do { _ = try await admission.admit(index) { index } } catch { released.append(index) }
                }
            }
            group.addTask {
                try? await Task.sleep(for: .milliseconds(50))
                admission.poison()
            }
        }
        #expect(released.values.sorted() == [1, 2, 3, 4, 5], "index 0 never came: every waiter is released")
    }

    @Test func aSemaphoreHasAtMostItsPermitsHeldAndServesWaitersInTheOrderTheyAsked() async throws {
        let three = AsyncSemaphore(permits: 3)
        let holders = Recorder()  // +1 as a holder starts, -1 as it ends
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<40 {
                group.addTask {
                    try await three.withPermit {
                        holders.append(1)
                        try await Task.sleep(for: .microseconds(StableHashForTests.percent("\(index)") * 20))
                        holders.append(-1)
                    }
                }
            }
            try await group.waitForAll()
        }
        let most = holders.values.reduce(into: (now: 0, most: 0)) {
            $0.now += $1
            $0.most = max($0.most, $0.now)
        }.most
        #expect(most == 3, "never more than 3 holders, and 3 at some point")

        let one = AsyncSemaphore(permits: 1)
        let order = Recorder()
        let (opened, open) = AsyncStream.makeStream(of: Void.self)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                // Holds the only permit until every waiter has queued.
                await one.withPermit { for await _ in opened { break } }
            }
            try await Task.sleep(for: .milliseconds(20))
            for index in 0..<5 {
                group.addTask { await one.withPermit { order.append(index) } }
                try await Task.sleep(for: .milliseconds(20))
            }
            open.yield()
            try await group.waitForAll()
        }
        #expect(order.values == [0, 1, 2, 3, 4])
    }

    @Test func taskAdmissionKeepsFirstCopiesAndFlagsOverlapWithTheHeldOutSet() {
        let heldout = ["What is the capital of France? Answer in one word please"]
        var admission = TaskAdmission(seen: [], contamination: ContaminationIndex(heldoutPrompts: heldout, n: 5))
        #expect(admission.admit(.success(TaskSpec(prompt: "What is 2 + 2?"))).status == .kept)
        #expect(admission.admit(.success(TaskSpec(prompt: "  what is 2 + 2?"))).status == .duplicate)
        let copy = admission.admit(.success(TaskSpec(prompt: heldout[0])))
        #expect(copy.status == .contaminated && copy.contamination == "exact")
        let failed = admission.admit(.failure(PluginFailure(.crash, "gone")))
        #expect(failed.status == .error && failed.promptHash == nil)
        var heldoutAdmission = TaskAdmission(
            seen: [PromptKey(PromptNormalizer.hash("seen before"))], contamination: nil)
        #expect(heldoutAdmission.admit(.success(TaskSpec(prompt: "Seen before"))).status == .duplicate)
    }

    @Test func earlierRoundsPromptsAreReadBackAsTheKeysAdmissionCompares() throws {
        let folder = TemporaryDirectory()
        let store = try Store(path: folder.file("s.sqlite"))
        let prompts = ["What is 2 + 2?", "What is 3 + 3?", "Sort [3, 1, 2]."]
        for (round, prompt) in zip([1, 1, 2], prompts) {
            if try store.round(round) == nil {
                try store.insertRound(
                    RoundRecord(
                        round: round, state: .running, solverVersion: nil, difficulty: 1, dataPolicy: .accumulate,
                        gate: .always, learning: true, startedAt: "now", finishedAt: nil, summary: nil))
            }
            _ = try store.insertTask(
                round: round, index: round == 1 && prompt != prompts[0] ? 1 : 0, seed: 1, difficulty: 1,
                status: .kept, task: TaskSpec(prompt: prompt), promptHash: PromptNormalizer.hash(prompt),
                contamination: nil, failure: nil, seconds: 0)
        }
        let keys = try store.promptKeys(before: 2)
        #expect(keys == Set(prompts.prefix(2).map { PromptKey(PromptNormalizer.hash($0)) }))
        #expect(!keys.contains(PromptKey(PromptNormalizer.hash(prompts[2]))), "round 2's own task is not history")
        var admission = TaskAdmission(seen: keys, contamination: nil)
        #expect(admission.admit(.success(TaskSpec(prompt: "what is  2 + 2?"))).status == .duplicate)
        #expect(admission.admit(.success(TaskSpec(prompt: prompts[2]))).status == .kept)
        #expect(PromptKey("not a digest") == PromptKey("not a digest"))
        #expect(PromptKey("not a digest") != PromptKey(PromptNormalizer.hash("not a digest")))
    }
}

/// Counts the calls in progress at once, and the most there ever were.
final class InFlight: Sendable {
    private let state = Mutex((now: 0, most: 0))

    /// Runs `body` counted in progress here, and in `other` too when given.
    func during(alsoIn other: InFlight? = nil, _ body: () async -> Void) async {
        enter()
        other?.enter()
        await body()
        other?.leave()
        leave()
    }

    private func enter() {
        state.withLock {
            $0.now += 1
            $0.most = max($0.most, $0.now)
        }
    }

    private func leave() { state.withLock { $0.now -= 1 } }

    var most: Int { state.withLock { $0.most } }
}

/// Records values from concurrent tasks, synchronously (so it can be called inside an admitted section).
final class Recorder: Sendable {
    private let list = Mutex<[Int]>([])

    func append(_ value: Int) { list.withLock { $0.append(value) } }
    var values: [Int] { list.withLock { $0 } }
}
