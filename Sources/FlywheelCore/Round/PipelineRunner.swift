import Foundation
import Synchronization

/// The outcome of one committed round.
public struct RoundOutcome: Sendable {
    public var round: Int
    public var state: RoundState
    public var summary: RoundSummary
}

/// Runs rounds of one pipeline against its store. Hold the store's lock (`StoreLock`) while it runs.
public final class PipelineRunner: Sendable {
    public let config: PipelineConfig
    public let store: Store
    let generator: any Generator
    let solver: any Solver
    let checker: any Checker
    let log: EventLog

    public init(config: PipelineConfig, store: Store, log: EventLog) throws {
        self.config = config
        self.store = store
        self.log = log
        generator = try Self.makeGenerator(config.generator, log: log)
        solver = try Self.makeSolver(config, log: log)
        checker = try Self.makeChecker(config.checker, log: log)
        if let owner = try store.meta("pipeline"), owner != config.name {
            throw FlywheelError(
                .usage, "the store \(store.path) belongs to pipeline `\(owner)`, not `\(config.name)`; pass --store")
        }
        try store.setMeta("pipeline", config.name)
    }

    private static func makeGenerator(_ plugin: PipelineConfig.Plugin, log: EventLog) throws -> any Generator {
        switch plugin {
        case .builtin: ListFnTaskGenerator()
        case .external(let command): ExternalGenerator(command: command, log: log)
        case .openai: throw FlywheelError(.invalidPipeline, "an OpenAI-compatible endpoint can only be a solver")
        }
    }

    private static func makeSolver(_ config: PipelineConfig, log: EventLog) throws -> any Solver {
        switch config.solver {
        case .builtin: return ListFnProgramSolver(budget: config.solverBudget)
        case .external(let command):
            return ExternalSolver(command: command, exampleCount: config.solverExamples, log: log)
        case .openai(var settings):
            if let variable = settings.baseURLEnvironment {
                guard let value = ProcessInfo.processInfo.environment[variable], !value.isEmpty else {
                    throw FlywheelError(
                        .usage, "\(config.file): `solver.openai.base_url_env` names \(variable), which is not set; "
                            + "export it with the server's base URL (e.g. http://127.0.0.1:8080)")
                }
                settings.baseURL = value
            }
            return OpenAISolver(
                config: settings, exampleCount: config.solverExamples, train: config.solverTrain, log: log)
        }
    }

    private static func makeChecker(_ plugin: PipelineConfig.Plugin, log: EventLog) throws -> any Checker {
        switch plugin {
        case .external(let command): ExternalChecker(command: command, log: log)
        case .builtin(let name): throw FlywheelError(.invalidPipeline, "no built-in checker `\(name)`: use `command:`")
        case .openai: throw FlywheelError(.invalidPipeline, "an OpenAI-compatible endpoint can only be a solver")
        }
    }

    /// Stops the plugin workers.
    public func shutdown() async {
        await generator.shutdown()
        await solver.shutdown()
        await checker.shutdown()
    }

    /// Rounds after the baseline that are committed.
    public func committedRounds() throws -> Int {
        try store.rounds().filter { $0.round > 0 && ($0.state == .promoted || $0.state == .rejected) }.count
    }

    /// Runs rounds (resuming an interrupted one first) until `rounds` rounds after the baseline are committed.
    /// - Parameter onCommit: called after each round commits (e.g. to write metrics).
    public func run(
        rounds target: Int, onCommit: (RoundOutcome) throws -> Void = { _ in }
    ) async throws -> [RoundOutcome] {
        var outcomes: [RoundOutcome] = []
        while try committedRounds() < target || store.round(0)?.state != .promoted {
            let outcome = try await runRound()
            try onCommit(outcome)
            outcomes.append(outcome)
        }
        return outcomes
    }

    /// Exactly one round: an interrupted round if there is one, else the baseline if missing, else the next.
    public func runRound() async throws -> RoundOutcome {
        let rounds = try store.rounds()
        let number: Int
        if let open = rounds.first(where: { $0.state == .running || $0.state == .failed }) {
            number = open.round
            if open.state == .failed { try store.setRoundState(number, .running) }
            log.event("round.resume", [("round", "\(number)")])
        } else {
            number = (rounds.last?.round ?? -1) + 1
            try store.insertRound(
                RoundRecord(
                    round: number, state: .running, solverVersion: try store.lastPromotedVersion()?.id,
                    difficulty: try difficulty(for: number, after: rounds.last), dataPolicy: config.dataPolicy.rawValue,
                    gate: config.gate.rawValue, learning: config.learning, startedAt: Self.now()))
            log.event("round.start", [("round", "\(number)")])
        }
        do {
            let outcome = number == 0 ? try await runBaseline() : try await runTraining(number)
            log.event(
                "round.commit",
                [
                    ("round", "\(number)"), ("state", outcome.state.rawValue),
                    ("accepted", "\(outcome.summary.counts.accepted)"),
                    ("heldout_score", String(format: "%.4f", outcome.summary.heldout.score)),
                    ("verdict", outcome.summary.vsPrevious?.verdict.rawValue ?? "baseline"),
                ])
            return outcome
        } catch {
            log.endProgress()
            try? store.setRoundState(number, .failed)
            log.event("round.failed", [("round", "\(number)"), ("error", "\(error)")])
            throw error
        }
    }

    // MARK: Rounds

    private func runBaseline() async throws -> RoundOutcome {
        try await generateHeldout()
        let items = try store.heldoutItems()
        guard items.contains(where: { $0.status == .kept }) else {
            let errors = items.filter { $0.status == .error }
            throw FlywheelError(
                .runFailed,
                "the generator produced no usable held-out task (\(errors.count) of \(items.count) failed"
                    + (errors.first?.failure.map { ", e.g. \($0)" } ?? "") + "); fix the generator and run again")
        }
        let version = try store.version(round: 0)
            ?? store.insertVersion(round: 0, parent: nil, state: solver.initialState)
        let (summary, evaluateSeconds) = try await evaluate(version, round: 0)
        let record = try store.round(0)!
        let result = RoundSummary(
            round: 0, difficulty: record.difficulty, dataPolicy: record.dataPolicy, gate: record.gate,
            learning: record.learning, solverVersion: nil, candidateVersion: version.id, counts: try store.counts(round: 0),
            heldout: summary.heldout, heldoutErrors: summary.errors, vsPrevious: nil, comparedWithRound: nil,
            learnedFrom: 0, learnSeconds: 0, evaluateSeconds: evaluateSeconds)
        try store.commitRound(0, state: .promoted, summary: result, promote: version.id, finishedAt: Self.now())
        return RoundOutcome(round: 0, state: .promoted, summary: result)
    }

    private func runTraining(_ round: Int) async throws -> RoundOutcome {
        let record = try store.round(round)!
        guard let promoted = try store.lastPromotedVersion(), let solving = record.solverVersion,
            let solvingVersion = try store.version(id: solving)
        else {
            throw FlywheelError(.corruptStore, "round \(round) has no promoted solver version to start from")
        }
        try trainDictionaryIfDue(round: round)
        try await generateAndSolve(round: round, difficulty: record.difficulty, version: solvingVersion)

        let learnStart = monotonicNow()
        let examples = try learningExamples(round: round)
        let candidate: SolverVersion
        if let existing = try store.version(round: round) {
            candidate = existing
        } else {
            log.event("learn.start", [("round", "\(round)"), ("examples", "\(examples.count)")])
            let state = record.learning
                ? try await solver.learn(from: examples, previous: promoted.state, round: round) : promoted.state
            candidate = try store.insertVersion(round: round, parent: promoted.id, state: state)
        }
        let learnSeconds = monotonicNow() - learnStart

        let (evaluation, evaluateSeconds) = try await evaluate(candidate, round: round)
        let previous = try store.heldoutResults(round: promoted.round)
        let comparison = Self.compare(
            previous: previous, current: evaluation.results, alpha: config.alpha,
            seed: Seeds.derive(config.seed, "compare", "\(round)"))
        let promote = Self.gatePasses(PipelineConfig.Gate(rawValue: record.gate) ?? config.gate, comparison.verdict)
        let state: RoundState = promote ? .promoted : .rejected
        let summary = RoundSummary(
            round: round, difficulty: record.difficulty, dataPolicy: record.dataPolicy, gate: record.gate,
            learning: record.learning, solverVersion: solving, candidateVersion: candidate.id,
            counts: try store.counts(round: round), heldout: evaluation.heldout, heldoutErrors: evaluation.errors,
            vsPrevious: comparison, comparedWithRound: promoted.round, learnedFrom: examples.count,
            learnSeconds: learnSeconds, evaluateSeconds: evaluateSeconds)
        try store.commitRound(
            round, state: state, summary: summary, promote: promote ? candidate.id : nil, finishedAt: Self.now())
        return RoundOutcome(round: round, state: state, summary: summary)
    }

    static func gatePasses(_ gate: PipelineConfig.Gate, _ verdict: Verdict) -> Bool {
        switch gate {
        case .always: true
        case .noRegression: verdict != .regressed
        case .mustImprove: verdict == .improved
        }
    }

    /// The curriculum moves difficulty by the previous committed round's acceptance rate.
    private func difficulty(for round: Int, after previous: RoundRecord?) throws -> Int {
        guard round > 1, let curriculum = config.curriculum, let previous, let summary = previous.summary else {
            return previous?.difficulty ?? config.difficulty
        }
        let rate = summary.counts.acceptanceRate
        var next = previous.difficulty
        if rate > curriculum.high { next += curriculum.step }
        if rate < curriculum.low { next -= curriculum.step }
        return min(curriculum.maximum, max(curriculum.minimum, next))
    }

    /// Examples learning may see: this round's plus, under `accumulate`, every promoted round's.
    private func learningExamples(round: Int) throws -> [Example] {
        let condition = config.dataPolicy == .accumulate
            ? "(e.round = ? OR (r.state = 'promoted' AND e.round > 0))" : "e.round = ?"
        return try store.exampleRows(where: condition, [round]).map {
            Example(prompt: $0.example.prompt, answer: $0.example.answer, meta: $0.example.meta)
        }
    }

    private func trainDictionaryIfDue(round: Int) throws {
        // Counted before anything is decompressed: most rounds start with too few examples or a dictionary.
        guard try store.currentDictionary() == nil,
            try store.committedExampleCount() >= ExampleCodec.dictionaryThreshold
        else { return }
        let committed = try store.exampleRows(where: "r.state IN ('promoted', 'rejected')")
        guard let dictionary = ExampleCodec.trainDictionary(on: committed.map(\.example)) else {
            log.event("dictionary.skipped", [("samples", "\(committed.count)")])
            return
        }
        try store.insertDictionary(dictionary, round: round, samples: min(committed.count, ExampleCodec.dictionarySampleLimit))
        log.event("dictionary.trained", [("round", "\(round)"), ("bytes", "\(dictionary.count)")])
    }

    static func now() -> String { Timestamp.now() }
}
