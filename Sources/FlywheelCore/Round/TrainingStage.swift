import Foundation

extension RoundEngine {
    /// Generate → admit (dedup, decontaminate) → solve → verify → store, item by item, resuming what is recorded.
    /// - Returns: The round's accepted examples as they were stored, when this call made every one of them (nil for
    ///   a resumed round: some were made before, and only the store has those).
    func generateAndSolve(round: Int, difficulty: Int, with version: SolverVersion) async throws -> FreshExamples? {
        let solver = try plugins.solver.ready(version)
        let recorded = try store.tasks(round: round)
        let attempts = Dictionary(
            uniqueKeysWithValues: try store.attempts(round: round).map {
                (AttemptKey(task: $0.taskID, attempt: $0.attempt), $0)
            })
        let fresh = recorded.isEmpty && attempts.isEmpty ? FreshExamples() : nil
        let judged = Dictionary(
            uniqueKeysWithValues: try store.verdicts(round: round).map { ($0.attemptID, $0.judgement?.accept == true) })
        let heldout = try store.heldoutItems().filter { $0.status == .kept }
        let contamination = ContaminationIndex(
            heldoutPrompts: heldout.compactMap(\.task?.prompt), n: settings.contaminationNGram)
        let admission = Locked(
            TaskAdmission(
                seen: try store.promptKeys(before: round).union(recorded.compactMap(\.promptHash).map(PromptKey.init)),
                contamination: contamination))
        let dictionary = try store.currentDictionary()
        let ordered = OrderedAdmission(first: recorded.count)
        let progress = StageProgress(log: log, label: "round \(round) train", total: settings.roundSize, alreadyDone: 0)
        try await forEachTrainingItem(0..<settings.roundSize, parallelism: settings.parallelism, admission: ordered) {
            [self] index, permits in
            let task: TaskRecord
            // The task's JSON text, encoded once for its stored frame and for its examples' frames.
            var taskText: Data?
            if index < recorded.count {
                task = recorded[index]
            } else {
                let seed = Seeds.derive(settings.seed, "train", "\(round)", "\(index)")
                let start = monotonicNow()
                let (result, retries) = await PluginRetries.counting {
                    await plugins.generator.generate(
                        id: "r\(round)-g\(index)", seed: seed, difficulty: difficulty, split: .train)
                }
                try requireStarted(result)
                let seconds = monotonicNow() - start
                let spec = try? result.get()
                taskText = spec.map(TaskCodec.plain)
                let examination = TaskAdmission.examine(result, against: contamination)
                task = try await ordered.admit(index) { [taskText] in
                    let decision = admission.withLock { $0.admit(examination) }
                    let id = try store.insertTask(
                        round: round, index: index, seed: seed, difficulty: difficulty, status: decision.status,
                        task: spec, taskText: taskText, promptHash: decision.promptHash,
                        contamination: decision.contamination, failure: result.failure, seconds: seconds,
                        retries: retries)
                    return TaskRecord(
                        id: id, index: index, seed: seed, difficulty: difficulty, status: decision.status, task: spec,
                        promptHash: decision.promptHash, failure: result.failure)
                }
            }
            var accepted = 0
            var errors = task.failure == nil ? 0 : 1
            if task.status == .kept, let spec = task.task {
                for attempt in 0..<settings.attempts {
                    let outcome = try await solveAndCheck(
                        spec, text: taskText, task: task, attempt: attempt, round: round, solver: solver,
                        recorded: attempts[AttemptKey(task: task.id, attempt: attempt)], judged: judged,
                        dictionary: dictionary, fresh: fresh, permits: permits)
                    accepted += outcome.accepted ? 1 : 0
                    errors += outcome.error ? 1 : 0
                }
                if accepted == 0, settings.exploration.rationalize, spec.hint != nil {
                    let attempt = settings.attempts
                    let outcome = try await solveAndCheck(
                        spec, text: taskText, task: task, attempt: attempt, rationalized: true, round: round,
                        solver: solver,
                        recorded: attempts[AttemptKey(task: task.id, attempt: attempt)], judged: judged,
                        dictionary: dictionary, fresh: fresh, permits: permits)
                    accepted += outcome.accepted ? 1 : 0
                    errors += outcome.error ? 1 : 0
                }
            }
            progress.finished(accepted: accepted, errors: errors)
        }
        progress.end()
        return fresh
    }

    private struct AttemptKey: Hashable {
        var task: Int64
        var attempt: Int
    }

    /// Solves and checks one attempt, or takes what the store recorded of it; `accepted` also for a recorded verdict.
    /// `text` is the task's `TaskCodec.plain` text when the item has it already.
    private func solveAndCheck(
        _ spec: TaskSpec, text: Data?, task: TaskRecord, attempt: Int, rationalized: Bool = false, round: Int,
        solver: ReadySolver,
        recorded: AttemptRecord?, judged: [Int64: Bool], dictionary: ExampleDictionary?, fresh: FreshExamples?,
        permits: TrainingPermits
    ) async throws -> (accepted: Bool, error: Bool) {
        var record: AttemptRecord
        if let recorded {
            record = recorded
        } else {
            let (seed, result, seconds, retries) = try await solveAttempt(
                spec, round: round, index: task.index, attempt: attempt, rationalized: rationalized, with: solver,
                permits: permits)
            let id = try store.insertAttempt(
                taskID: task.id, attempt: attempt, seed: seed, solverVersion: solver.version.id,
                rationalized: rationalized, result: result, seconds: seconds, retries: retries)
            record = AttemptRecord(
                id: id, taskID: task.id, attempt: attempt, solverVersion: solver.version.id,
                rationalized: rationalized, solution: try? result.get(), failure: result.failure)
        }
        guard let solution = record.solution else { return (false, true) }
        if let accepted = judged[record.id] { return (accepted, false) }
        let (judged, seconds, retries) = try await checkAttempt(
            spec, text: text, answer: solution.answer, round: round, index: task.index, attempt: attempt,
            permits: permits)
        var example: AcceptedExample?
        if case .success(let judgement) = judged, judgement.accept {
            let stored = StoredExample(
                prompt: spec.prompt, answer: solution.answer, reference: spec.reference, meta: spec.meta,
                trace: solution.trace)
            example = AcceptedExample(stored, taskText: text, dictionary: dictionary)
            fresh?.add(
                index: task.index, attempt: attempt, rationalized: rationalized,
                example: Example(prompt: stored.prompt, answer: stored.answer, meta: stored.meta))
        }
        try store.insertVerdict(
            attemptID: record.id, round: round, result: judged, checker: plugins.checker.identity,
            fingerprint: CheckerFingerprint(of: plugins.checker), seconds: seconds, example: example, retries: retries)
        return (example != nil, judged.failure != nil)
    }

    /// Solves attempt `attempt` of training task `index` with its derived id and seed, timed, its retries counted
    /// (the unsharded round and a shard do it alike), holding a solving permit: at the exploration's temperature, and
    /// shown the task's answer when `rationalized`.
    func solveAttempt(
        _ spec: TaskSpec, round: Int, index: Int, attempt: Int, rationalized: Bool = false, with solver: ReadySolver,
        permits: TrainingPermits
    ) async throws -> (seed: UInt64, result: Result<Solution, PluginFailure>, seconds: Double, retries: Int) {
        let request = SolveRequest(
            id: "r\(round)-s\(index)-\(attempt)", task: spec, attempt: attempt,
            seed: Seeds.derive(settings.seed, "solve", "\(round)", "\(index)", "\(attempt)"),
            temperature: settings.exploration.temperature, hint: rationalized ? spec.hint : nil)
        let (result, seconds, retries) = try await timedRequest(holding: permits.solving) {
            await solver.solve(request)
        }
        return (request.seed, result, seconds, retries)
    }

    /// Checks the answer of attempt `attempt` of training task `index`, timed, its retries counted, holding a
    /// checking permit. `text` is the task's `TaskCodec.plain` text when the caller has it.
    func checkAttempt(
        _ spec: TaskSpec, text: Data? = nil, answer: String, round: Int, index: Int, attempt: Int,
        permits: TrainingPermits
    ) async throws -> (result: Result<Judgement, PluginFailure>, seconds: Double, retries: Int) {
        try await timedRequest(holding: permits.checking) {
            await plugins.checker.check(id: "r\(round)-c\(index)-\(attempt)", task: spec, text: text, answer: answer)
        }
    }

    /// One plugin request of a training item, made holding a permit of `stage`: timed from when the permit is
    /// held, its retries counted. A program that cannot start stops the round (`requireStarted`).
    private func timedRequest<Value: Sendable>(
        holding stage: AsyncSemaphore, _ body: () async -> Result<Value, PluginFailure>
    ) async throws -> (result: Result<Value, PluginFailure>, seconds: Double, retries: Int) {
        let (result, seconds, retries) = await stage.withPermit {
            let start = monotonicNow()
            let (result, retries) = await PluginRetries.counting(body)
            return (result, monotonicNow() - start, retries)
        }
        try requireStarted(result)
        return (result, seconds, retries)
    }
}

/// A round's accepted examples as its training stage stored them, kept so that learning need not read back,
/// decompress and decode what was written moments before. Only for a round made whole in one run: a resumed round's
/// earlier examples are only in the store.
final class FreshExamples: Sendable {
    private struct Entry: Sendable {
        var index: Int
        var attempt: Int
        var rationalized: Bool
        var example: Example
    }

    private let entries = Locked<[Entry]>([])

    /// `example` holds the values its frame's JSON was written from; reading that JSON back gives the same values
    /// (the store's reader takes a null `meta` as none, and so does this).
    func add(index: Int, attempt: Int, rationalized: Bool, example: Example) {
        var example = example
        if example.meta == .null { example.meta = nil }
        entries.withLock {
            $0.append(Entry(index: index, attempt: attempt, rationalized: rationalized, example: example))
        }
    }

    /// What `Store.learningExamples(round:policy: .replace, rationalized:)` reads of this round: in task order
    /// (index, attempt), rationalized ones only when `rationalized`. None can have been flipped: a re-verification
    /// needs the store's lock, which the round holds.
    func learningExamples(rationalized: Bool) -> [Example] {
        entries.withLock { $0 }
            .filter { rationalized || !$0.rationalized }
            .sorted { ($0.index, $0.attempt) < ($1.index, $1.attempt) }
            .map(\.example)
    }
}
