import Foundation
import Synchronization

/// Counts finished items and reports them: a bar on a terminal, an event every tenth otherwise.
final class StageProgress: Sendable {
    private let log: EventLog
    private let label: String
    private let total: Int
    private let state = Mutex((done: 0, accepted: 0, errors: 0, lastTenth: 0))

    init(log: EventLog, label: String, total: Int, alreadyDone: Int) {
        self.log = log
        self.label = label
        self.total = total
        state.withLock { $0.done = alreadyDone }
        log.event("stage.start", [("stage", label), ("items", "\(total)"), ("done", "\(alreadyDone)")])
    }

    func finished(accepted: Int = 0, errors: Int = 0) {
        let (done, acceptedSoFar, errorsSoFar, tenth) = state.withLock { state in
            state.done += 1
            state.accepted += accepted
            state.errors += errors
            let tenth = total == 0 ? 10 : state.done * 10 / total
            defer { state.lastTenth = max(state.lastTenth, tenth) }
            return (state.done, state.accepted, state.errors, tenth > state.lastTenth ? tenth : nil)
        }
        log.progress("\(label) \(progressBar(done, of: total)) accepted \(acceptedSoFar) errors \(errorsSoFar)")
        if let tenth, tenth < 10, !log.drawsProgress {
            log.event("stage.progress", [("stage", label), ("done", "\(done)"), ("of", "\(total)")])
        }
    }

    func end() {
        log.endProgress()
        let (done, accepted, errors) = state.withLock { ($0.done, $0.accepted, $0.errors) }
        log.event("stage.end", [("stage", label), ("done", "\(done)"), ("accepted", "\(accepted)"), ("errors", "\(errors)")])
    }
}

extension PipelineRunner {
    struct Evaluation {
        var results: [HeldoutResult]
        var heldout: HeldoutSummary
        var errors: Int
    }

    // MARK: Held-out set

    /// Generates the held-out set once, at round 0, and freezes it; duplicates within it are dropped.
    func generateHeldout() async throws {
        let existing = try store.heldoutItems()
        guard existing.count < config.heldoutSize else { return }
        let seen = Locked(Set(existing.compactMap(\.promptHash)))
        let admission = OrderedAdmission(first: existing.count)
        let progress = StageProgress(
            log: log, label: "round 0 held-out generate", total: config.heldoutSize, alreadyDone: existing.count)
        try await forEachBounded(existing.count..<config.heldoutSize, width: config.parallelism) { [self] index in
            do {
                let seed = Seeds.derive(config.seed, "heldout", "\(index)")
                let result = await generator.generate(
                    id: "h\(index)", seed: seed, difficulty: config.difficulty, split: .heldout)
                try await admission.admit(index) {
                    var status = TaskStatus.error
                    var hash: String?
                    if case .success(let task) = result {
                        hash = PromptNormalizer.hash(task.prompt)
                        status = seen.withLock { $0.insert(hash!).inserted } ? .kept : .duplicate
                    }
                    try store.insertHeldoutItem(
                        index: index, seed: seed, status: status, task: try? result.get(), promptHash: hash,
                        failure: Self.failure(result))
                }
                progress.finished(errors: Self.failure(result) == nil ? 0 : 1)
            } catch {
                await admission.poison()
                throw error
            }
        }
        progress.end()
    }

    /// Solves and checks every kept held-out item with `version`, recording each result as it finishes.
    func evaluate(_ version: SolverVersion, round: Int) async throws -> (Evaluation, Double) {
        let start = monotonicNow()
        let items = try store.heldoutItems().filter { $0.status == .kept }
        let done = Set(try store.heldoutResults(round: round).map(\.index))
        let progress = StageProgress(
            log: log, label: "round \(round) held-out evaluate", total: items.count, alreadyDone: done.count)
        let pending = items.filter { !done.contains($0.index) }
        try await forEachBounded(pending.indices, width: config.parallelism) { [self] position in
            let item = pending[position]
            guard let task = item.task else { return }
            let seed = Seeds.derive(config.seed, "heldout-solve", "\(item.index)")
            let solved = await solver.solve(
                id: "r\(round)-h\(item.index)", task: task.withoutReference, attempt: 0, seed: seed,
                state: version.state)
            var result = HeldoutResult(index: item.index, answer: nil, accept: false, score: 0, reason: nil, failure: nil)
            switch solved {
            case .failure(let failure): result.failure = failure
            case .success(let solution):
                result.answer = solution.answer
                result.usage = solution.usage
                switch await checker.check(id: "r\(round)-hc\(item.index)", task: task, answer: solution.answer) {
                case .failure(let failure): result.failure = failure
                case .success(let judgement):
                    result.accept = judgement.accept
                    result.score = judgement.score
                    result.reason = judgement.reason
                }
            }
            try store.insertHeldoutResult(result, round: round, solverVersion: version.id)
            progress.finished(accepted: result.accept ? 1 : 0, errors: result.failure == nil ? 0 : 1)
        }
        progress.end()
        let results = try store.heldoutResults(round: round)
        let summary = Statistics.summarize(
            scores: results.map(\.score), seed: Seeds.derive(config.seed, "heldout-ci", "\(round)"))
        return (
            Evaluation(results: results, heldout: summary, errors: results.filter { $0.failure != nil }.count),
            monotonicNow() - start
        )
    }

    /// Item-by-item comparison on the held-out items both rounds scored.
    static func compare(previous: [HeldoutResult], current: [HeldoutResult], alpha: Double, seed: UInt64)
        -> PairedComparison
    {
        let before = Dictionary(uniqueKeysWithValues: previous.map { ($0.index, $0.score) })
        let paired = current.compactMap { result in before[result.index].map { ($0, result.score) } }
        return Statistics.compare(previous: paired.map(\.0), current: paired.map(\.1), alpha: alpha, seed: seed)
    }

    // MARK: Training items

    /// Generate → admit (dedup, decontaminate) → solve → verify → store, item by item, resuming what is recorded.
    func generateAndSolve(round: Int, difficulty: Int, version: SolverVersion) async throws {
        let recorded = try store.tasks(round: round)
        let attempts = Dictionary(
            uniqueKeysWithValues: try store.attempts(round: round).map { (AttemptKey(task: $0.taskID, attempt: $0.attempt), $0) })
        let checked = Set(try store.verdicts(round: round).map(\.attemptID))
        let heldout = try store.heldoutItems().filter { $0.status == .kept }
        let contamination = ContaminationIndex(
            heldoutPrompts: heldout.compactMap(\.task?.prompt), n: config.contaminationNGram)
        let seen = Locked(try store.promptHashes(before: round).union(recorded.compactMap(\.promptHash)))
        let dictionary = try store.currentDictionary()
        let admission = OrderedAdmission(first: recorded.count)
        let progress = StageProgress(
            log: log, label: "round \(round) train", total: config.roundSize, alreadyDone: 0)

        try await forEachBounded(0..<config.roundSize, width: config.parallelism) { [self] index in
            do {
                let task: TaskRecord
                if index < recorded.count {
                    task = recorded[index]
                } else {
                    let seed = Seeds.derive(config.seed, "train", "\(round)", "\(index)")
                    let start = monotonicNow()
                    let result = await generator.generate(
                        id: "r\(round)-g\(index)", seed: seed, difficulty: difficulty, split: .train)
                    let seconds = monotonicNow() - start
                    task = try await admission.admit(index) {
                        try admit(
                            result, round: round, index: index, seed: seed, difficulty: difficulty,
                            seconds: seconds, contamination: contamination, seen: seen)
                    }
                }
                var accepted = 0
                var errors = task.failure == nil ? 0 : 1
                if task.status == .kept, let spec = task.task {
                    for attempt in 0..<config.attempts {
                        let outcome = try await solveAndCheck(
                            spec, task: task, attempt: attempt, round: round, version: version,
                            recorded: attempts[AttemptKey(task: task.id, attempt: attempt)], checked: checked,
                            dictionary: dictionary)
                        accepted += outcome.accepted ? 1 : 0
                        errors += outcome.error ? 1 : 0
                    }
                }
                progress.finished(accepted: accepted, errors: errors)
            } catch {
                await admission.poison()
                throw error
            }
        }
        progress.end()
    }

    private struct AttemptKey: Hashable {
        var task: Int64
        var attempt: Int
    }

    /// Decides a generated task's fate in index order and records it.
    private func admit(
        _ result: Result<TaskSpec, PluginFailure>, round: Int, index: Int, seed: UInt64, difficulty: Int,
        seconds: Double, contamination: ContaminationIndex, seen: Locked<Set<String>>
    ) throws -> TaskRecord {
        var status = TaskStatus.error
        var hash: String?
        var finding: String?
        if case .success(let spec) = result {
            hash = PromptNormalizer.hash(spec.prompt)
            let fresh = seen.withLock { $0.insert(hash!).inserted }
            if let found = contamination.check(spec.prompt) {
                status = .contaminated
                finding = switch found {
                case .exactCopy: "exact"
                case .sharedNGram(let n): "\(n)-gram"
                }
            } else {
                status = fresh ? .kept : .duplicate
            }
        }
        let spec = try? result.get()
        let failure = Self.failure(result)
        let id = try store.insertTask(
            round: round, index: index, seed: seed, difficulty: difficulty, status: status, task: spec,
            promptHash: hash, contamination: finding, failure: failure, seconds: seconds)
        return TaskRecord(
            id: id, index: index, seed: seed, difficulty: difficulty, status: status, task: spec, promptHash: hash,
            failure: failure)
    }

    private func solveAndCheck(
        _ spec: TaskSpec, task: TaskRecord, attempt: Int, round: Int, version: SolverVersion,
        recorded: AttemptRecord?, checked: Set<Int64>, dictionary: ExampleDictionary?
    ) async throws -> (accepted: Bool, error: Bool) {
        var record: AttemptRecord
        if let recorded {
            record = recorded
        } else {
            let seed = Seeds.derive(config.seed, "solve", "\(round)", "\(task.index)", "\(attempt)")
            let start = monotonicNow()
            let result = await solver.solve(
                id: "r\(round)-s\(task.index)-\(attempt)", task: spec.withoutReference, attempt: attempt, seed: seed,
                state: version.state)
            let id = try store.insertAttempt(
                taskID: task.id, attempt: attempt, seed: seed, solverVersion: version.id, result: result,
                seconds: monotonicNow() - start)
            record = AttemptRecord(
                id: id, taskID: task.id, attempt: attempt, solution: try? result.get(), failure: Self.failure(result))
        }
        guard let solution = record.solution else { return (false, true) }
        if checked.contains(record.id) { return (false, false) }
        let start = monotonicNow()
        let judged = await checker.check(
            id: "r\(round)-c\(task.index)-\(attempt)", task: spec, answer: solution.answer)
        var example: CompressedExample?
        if case .success(let judgement) = judged, judgement.accept {
            example = try ExampleCodec.compress(
                StoredExample(
                    prompt: spec.prompt, answer: solution.answer, reference: spec.reference, meta: spec.meta,
                    trace: solution.trace), dictionary: dictionary)
        }
        try store.insertVerdict(
            attemptID: record.id, round: round, result: judged, checker: checker.identity,
            seconds: monotonicNow() - start, example: example)
        return (example != nil, Self.failure(judged) != nil)
    }

    static func failure<T>(_ result: Result<T, PluginFailure>) -> PluginFailure? {
        if case .failure(let failure) = result { return failure }
        return nil
    }
}
