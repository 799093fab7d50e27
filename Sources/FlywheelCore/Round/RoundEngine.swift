import Foundation
import Processes

/// The outcome of one committed round.
public struct RoundOutcome: Sendable {
    public var round: Int
    public var state: RoundState
    public var summary: RoundSummary
}

/// Runs rounds against a store with the plugins and settings it is given: generate → admit → solve → check →
/// store, then learn, evaluate on the frozen held-out set, and decide. Hold the store's lock (`StoreLock`) while
/// it runs.
///
/// A round records its settings when it starts; a resumed round goes on with those, whatever the pipeline file
/// says now.
public final class RoundEngine: Sendable {
    public let store: Store
    public let settings: RoundSettings
    let plugins: Plugins
    let log: EventLog

    public init(store: Store, plugins: Plugins, settings: RoundSettings, log: EventLog) {
        self.store = store
        self.plugins = plugins
        self.settings = settings
        self.log = log
    }

    /// Rounds after the baseline that are committed.
    public func committedRounds() throws -> Int {
        try store.rounds().filter { $0.round > 0 && $0.state.isCommitted }.count
    }

    /// Runs rounds (resuming an interrupted one first) until `rounds` rounds after the baseline are committed, or
    /// the pipeline has plateaued (`RoundSettings.plateau`: then a `run.plateau` event, and no new round starts).
    /// - Parameter onCommit: called after each round commits (e.g. to write metrics).
    public func run(
        rounds target: Int, onCommit: (RoundOutcome) throws -> Void = { _ in }
    ) async throws -> [RoundOutcome] {
        var outcomes: [RoundOutcome] = []
        while try committedRounds() < target || store.round(0)?.state != .promoted {
            if try hasPlateaued() { break }
            let last = try store.round(0)?.state == .promoted && committedRounds() + 1 >= target
            let outcome = try await runRound(last: last)
            try onCommit(outcome)
            outcomes.append(outcome)
        }
        return outcomes
    }

    /// The pipeline's plateau now.
    public func plateau() throws -> Plateau { Plateau(rounds: try store.rounds(), limit: settings.plateau) }

    /// Whether a new round would start on a plateaued pipeline (an interrupted round is always finished first);
    /// logs `run.plateau` when so.
    public func hasPlateaued() throws -> Bool {
        let rounds = try store.rounds()
        let plateau = Plateau(rounds: rounds, limit: settings.plateau)
        guard plateau.reached, rounds.allSatisfy(\.state.isCommitted) else { return false }
        log.event(
            "run.plateau",
            [("rounds_without_improvement", plateau.roundsWithoutImprovement), ("limit", plateau.limit ?? 0)])
        return true
    }

    /// Exactly one round: an interrupted round if there is one, else the baseline if missing, else the next.
    /// - Parameter last: no round follows in this run, so each plugin's workers may stop as soon as the round no
    ///   longer needs them (the generator's, once the training items are done) instead of all at the run's end. A
    ///   round that does follow restarts them.
    public func runRound(last: Bool = false) async throws -> RoundOutcome {
        let record = try openRound()
        plugins.startWorkers()
        do {
            let outcome =
                record.round == 0
                ? try await runBaseline(record) : try await runTraining(record, releasing: last)
            log.event(
                "round.commit",
                [
                    ("round", record.round), ("state", outcome.state.rawValue),
                    ("accepted", outcome.summary.counts.accepted),
                    ("heldout_score", outcome.summary.heldout.score),
                    ("verdict", outcome.summary.vsPrevious?.verdict.rawValue ?? "baseline"),
                ])
            // The run has no more requests for them: they exit while it writes its reports.
            if last { plugins.releaseWorkers() }
            return outcome
        } catch {
            log.endProgress()
            try? store.setRoundState(record.round, .failed)
            log.event("round.failed", [("round", record.round), ("error", "\(error)")])
            throw error
        }
    }

    /// The interrupted round, marked running again, or a new one recorded with today's settings.
    private func openRound() throws -> RoundRecord {
        var (open, isNew) = try plannedRound()
        if isNew {
            try store.insertRound(open)
            log.event("round.start", [("round", open.round)])
            return open
        }
        var discarded = 0
        if open.state == .failed {
            // Whatever failed the round may have been fixed since: its failed items get another chance.
            discarded = try store.discardErrors(round: open.round)
            try store.setRoundState(open.round, .running)
        }
        open.state = .running
        log.event("round.resume", [("round", open.round), ("retrying_errors", discarded)])
        return open
    }

    /// The round `openRound` would open, without writing anything: the interrupted one as recorded, or the next
    /// one with today's settings (`isNew`). Shards plan their share of a round with it.
    func plannedRound() throws -> (record: RoundRecord, isNew: Bool) {
        let rounds = try store.rounds()
        if let open = rounds.first(where: { !$0.state.isCommitted }) { return (open, false) }
        let number = (rounds.last?.round ?? -1) + 1
        let record = RoundRecord(
            round: number, state: .running, solverVersion: try store.lastPromotedVersion()?.id,
            difficulty: difficulty(after: rounds.last), dataPolicy: settings.dataPolicy, gate: settings.gate,
            learning: settings.learning, startedAt: Timestamp.now())
        return (record, true)
    }

    /// The curriculum moves difficulty by the previous committed round's acceptance rate (from round 2 on).
    private func difficulty(after previous: RoundRecord?) -> Int {
        guard let previous else { return settings.difficulty }
        guard previous.round > 0, let curriculum = settings.curriculum, let summary = previous.summary else {
            return previous.difficulty
        }
        return curriculum.next(after: previous.difficulty, acceptance: summary.counts.acceptanceRate)
    }

    // MARK: Rounds

    private func runBaseline(_ record: RoundRecord) async throws -> RoundOutcome {
        try await generateHeldout()
        let version = try baselineVersion()
        let evaluation = try await evaluate(version, round: 0)
        return try await commitBaseline(record, version: version, evaluation: evaluation)
    }

    /// The initial solver's version, once the held-out set holds a usable task.
    func baselineVersion() throws -> SolverVersion {
        try store.trainTaskDictionaryIfDue(round: 0)
        let items = try store.heldoutItems()
        guard items.contains(where: { $0.status == .kept }) else {
            let errors = items.filter { $0.status == .error }
            throw FlywheelError(
                .runFailed,
                "the generator produced no usable held-out task (\(errors.count) of \(items.count) failed"
                    + (errors.first?.failure.map { ", e.g. \($0)" } ?? "") + "); fix the generator and run again")
        }
        return try store.version(round: 0)
            ?? store.insertVersion(round: 0, parent: nil, state: plugins.solver.encodedInitialState())
    }

    func commitBaseline(_ record: RoundRecord, version: SolverVersion, evaluation: Evaluation) async throws
        -> RoundOutcome
    {
        try checkHeldoutErrors(evaluation.results, round: 0)
        let summary = RoundSummary(
            round: 0, difficulty: record.difficulty, dataPolicy: record.dataPolicy, gate: record.gate,
            learning: record.learning, solverVersion: nil, candidateVersion: version.id,
            counts: try store.counts(round: 0), heldout: evaluation.heldout, heldoutErrors: evaluation.errors,
            vsPrevious: nil, learnedFrom: 0, learnSeconds: 0, evaluateSeconds: evaluation.seconds,
            shortcuts: try await shortcutCheck(evaluation, round: 0, earlier: []))
        try store.commitRound(0, state: .promoted, summary: summary, promote: version.id, finishedAt: Timestamp.now())
        return RoundOutcome(round: 0, state: .promoted, summary: summary)
    }

    private func runTraining(_ record: RoundRecord, releasing: Bool) async throws -> RoundOutcome {
        let round = record.round
        guard let solving = record.solverVersion, let solvingVersion = try store.version(id: solving) else {
            throw FlywheelError(.corruptStore, "round \(round) has no promoted solver version to start from")
        }
        try trainDictionaryIfDue(round: round)
        // The items run on the event loop, which also reads their plugins' answers: an answer resumes its item
        // without a hop between threads.
        let fresh = try await withTaskExecutorPreference(EventLoop.shared) {
            try await generateAndSolve(round: round, difficulty: record.difficulty, with: solvingVersion)
        }
        // The training items were the generator's last requests: its programs exit while the round goes on.
        async let generatorStopped: Void = releasing ? plugins.generator.shutdown() : ()
        let counts = try checkTrainingErrors(round: round)
        try await auditVerdicts(round: round)
        let learned = try await learnCandidate(record, fresh: fresh)
        let evaluation = try await evaluate(learned.candidate, round: round)
        let outcome = try await decide(record, learned: learned, evaluation: evaluation, trainingCounts: counts)
        await generatorStopped
        return outcome
    }

    /// What learning made of a round's data.
    struct Learned {
        var candidate: SolverVersion
        var learnedFrom: Int
        var seconds: Double
    }

    /// Learns the round's candidate from the examples the recorded data policy allows, or finds it already learned.
    /// - Parameter fresh: the round's examples as its training stage stored them, when it made all of them.
    func learnCandidate(_ record: RoundRecord, fresh: FreshExamples? = nil) async throws -> Learned {
        let round = record.round
        guard let promoted = try store.lastPromotedVersion() else {
            throw FlywheelError(.corruptStore, "round \(round) has no promoted solver version to start from")
        }
        let learnStart = monotonicNow()
        // The policy recorded when the round started, not the file's current one: a resumed round stays the round
        // it began as.
        let selection = ExampleSelection.learning(
            round: round, policy: record.dataPolicy, rationalized: settings.exploration.learnRationalized)
        let learnedFrom: Int
        let candidate: SolverVersion
        if let existing = try store.version(round: round) {
            // Learned before an interruption: only the count is needed, not the examples again.
            candidate = existing
            learnedFrom = record.learning ? try store.count(selection) : 0
        } else if record.learning {
            let learned = try await learnedState(record, from: promoted, fresh: fresh)
            learnedFrom = learned.examples
            candidate = try store.insertVersion(round: round, parent: promoted.id, state: learned.state)
        } else {
            // The control run: the candidate is the promoted version unchanged, and nothing is learned from.
            learnedFrom = 0
            candidate = try store.insertVersion(round: round, parent: promoted.id, state: promoted.state)
        }
        let learnSeconds = monotonicNow() - learnStart

        try reuseEvaluation(of: promoted, for: candidate, round: round)
        return Learned(candidate: candidate, learnedFrom: learnedFrom, seconds: learnSeconds)
    }

    /// The candidate's state, learned from the examples the round's recorded data policy allows, and how many
    /// those are. Under `accumulate`, when the promoted version summarizes all of them but the round's own
    /// (`summarizesItsLineage`), only the round's own are read and added to it, so learning costs what the round
    /// brought, not the whole history; otherwise every allowed example is read and learned from. The round's own
    /// examples come from `fresh` when it has them, else from the store.
    private func learnedState(_ record: RoundRecord, from promoted: SolverVersion, fresh: FreshExamples?)
        async throws -> (state: Data, examples: Int)
    {
        let round = record.round
        let rationalized = settings.exploration.learnRationalized
        func own() throws -> [Example] {
            try fresh?.learningExamples(rationalized: rationalized)
                ?? store.learningExamples(round: round, policy: .replace, rationalized: rationalized)
        }
        if record.dataPolicy == .accumulate, let absorbed = try plugins.solver.absorbed(by: promoted),
            try summarizesItsLineage(promoted, absorbed: absorbed)
        {
            let own = try own()
            log.event("learn.start", [("round", round), ("examples", absorbed + own.count), ("added", own.count)])
            return (try await plugins.solver.learn(adding: own, to: promoted, round: round), absorbed + own.count)
        }
        let examples =
            record.dataPolicy == .replace
            ? try own()
            : try store.learningExamples(round: round, policy: record.dataPolicy, rationalized: rationalized)
        log.event("learn.start", [("round", round), ("examples", examples.count)])
        return (try await plugins.solver.learn(from: examples, previous: promoted, round: round), examples.count)
    }

    /// Whether `version`, whose state summarizes `absorbed` examples, summarizes every example its lineage lets a
    /// later round learn from under `accumulate`: the baseline summarizes none; a learned version, the examples its
    /// own round learned from under `accumulate` — unless a re-verification has rejected an example since.
    private func summarizesItsLineage(_ version: SolverVersion, absorbed: Int) throws -> Bool {
        guard try !store.anyRecheckRejected() else { return false }
        guard version.round > 0 else { return absorbed == 0 }
        guard let record = try store.round(version.round), record.learning, record.dataPolicy == .accumulate else {
            return false
        }
        return record.summary?.learnedFrom == absorbed
    }

    /// Pairs the candidate's held-out `evaluation` with the last promoted version's, applies the gate and commits.
    /// - Parameter trainingCounts: the round's training counts, when this process read them after its training.
    func decide(_ record: RoundRecord, learned: Learned, evaluation: Evaluation, trainingCounts: RoundCounts? = nil)
        async throws -> RoundOutcome
    {
        let round = record.round
        let (candidate, learnedFrom, learnSeconds) = (learned.candidate, learned.learnedFrom, learned.seconds)
        guard let promoted = try store.lastPromotedVersion(), let solving = record.solverVersion else {
            throw FlywheelError(.corruptStore, "round \(round) has no promoted solver version to start from")
        }
        try checkHeldoutErrors(evaluation.results, round: round)
        let level = settings.errorControl.level(round: round, alpha: settings.alpha)
        let paired = Self.pair(previous: try store.heldoutResults(round: promoted.round), current: evaluation.results)
        var comparison = Statistics.compare(
            previous: paired.previous, current: paired.current, alpha: settings.alpha, improvementLevel: level,
            seed: Seeds.derive(settings.seed, "compare", "\(round)"))
        comparison.round = promoted.round
        let earlier = try store.rounds().filter { $0.round < round }
        let summary = RoundSummary(
            round: round, difficulty: record.difficulty, dataPolicy: record.dataPolicy, gate: record.gate,
            learning: record.learning, solverVersion: solving, candidateVersion: candidate.id,
            counts: try store.counts(round: round, training: trainingCounts), heldout: evaluation.heldout,
            heldoutErrors: evaluation.errors, vsPrevious: comparison, learnedFrom: learnedFrom,
            learnSeconds: learnSeconds,
            evaluateSeconds: evaluation.seconds,
            alphaSpent: earlier.compactMap(\.summary?.vsPrevious?.alpha).reduce(level, +),
            mde: Power.minimumDetectableEffect(previous: paired.previous, current: paired.current, level: level),
            shortcuts: try await shortcutCheck(evaluation, round: round, earlier: earlier))
        var promote = record.gate.promotes(comparison.verdict)
        if promote, settings.rejectShortcuts, summary.trust.suspectedShortcut == true {
            promote = false
            log.event("gate.shortcut", [("round", round), ("heldout_score", summary.heldout.score)])
        }
        let state: RoundState = promote ? .promoted : .rejected
        try store.commitRound(
            round, state: state, summary: summary, promote: promote ? candidate.id : nil, finishedAt: Timestamp.now())
        if !promote, candidate.state != promoted.state {
            await plugins.solver.discard(candidate, promoted: promoted)
        }
        return RoundOutcome(round: round, state: state, summary: summary)
    }

    /// A candidate identical to the promoted version (nothing learned, or learning gave back the same state) is
    /// not evaluated again: the promoted round's held-out results are recorded as this round's, as long as the
    /// checker that judged them is still the pipeline's. Held-out solves are seeded by item alone, so a
    /// deterministic solver would give the same answers; an LLM round saves minutes.
    private func reuseEvaluation(of promoted: SolverVersion, for candidate: SolverVersion, round: Int) throws {
        guard candidate.state == promoted.state, try store.heldoutResults(round: round).isEmpty,
            try store.checkerFingerprints(round: promoted.round).last?.fingerprint == plugins.checker.fingerprint
        else { return }
        let copied = try store.copyHeldoutResults(from: promoted.round, to: round, solverVersion: candidate.id)
        log.event("evaluate.reused", [("round", round), ("from_round", promoted.round), ("results", copied)])
    }

    /// The scores of the held-out items both rounds scored, item by item.
    static func pair(previous: [HeldoutResult], current: [HeldoutResult]) -> (previous: [Double], current: [Double]) {
        let before = Dictionary(uniqueKeysWithValues: previous.map { ($0.index, $0.score) })
        let paired = current.compactMap { result in before[result.index].map { ($0, result.score) } }
        return (paired.map(\.0), paired.map(\.1))
    }

    func trainDictionaryIfDue(round: Int) throws {
        // Counted before anything is decompressed: most rounds start with too few examples or a dictionary.
        guard try store.currentDictionary() == nil,
            try store.count(.committed) >= ExampleCodec.dictionaryThreshold
        else { return }
        let committed = try store.examples(.committed)
        guard let dictionary = ExampleCodec.trainDictionary(on: committed) else {
            log.event("dictionary.skipped", [("samples", committed.count)])
            return
        }
        try store.insertDictionary(
            dictionary, round: round, samples: min(committed.count, ExampleCodec.dictionarySampleLimit))
        log.event("dictionary.trained", [("round", round), ("bytes", dictionary.count)])
    }
}
