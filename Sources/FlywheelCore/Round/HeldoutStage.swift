import Foundation

extension RoundEngine {
    struct Evaluation {
        /// The kept held-out items the results are for.
        var items: [TaskRecord]
        var results: [HeldoutResult]
        var heldout: HeldoutSummary
        var errors: Int
        var seconds: Double
    }

    /// Generates the held-out set once, at round 0, and freezes it; duplicates within it are dropped.
    func generateHeldout() async throws {
        let existing = try store.heldoutItems()
        guard existing.count < settings.heldoutSize else { return }
        let admission = Locked(
            TaskAdmission(seen: Set(existing.compactMap(\.promptHash).map(PromptKey.init)), contamination: nil))
        let ordered = OrderedAdmission(first: existing.count)
        let progress = StageProgress(
            log: log, label: "round 0 held-out generate", total: settings.heldoutSize, alreadyDone: existing.count)
        try await forEachBounded(existing.count..<settings.heldoutSize, width: settings.parallelism, admission: ordered)
        {
            [self] index in
            let seed = Seeds.derive(settings.seed, "heldout", "\(index)")
            let (result, retries) = await PluginRetries.counting {
                await plugins.generator.generate(
                    id: "h\(index)", seed: seed, difficulty: settings.difficulty, split: .heldout)
            }
            try requireStarted(result)
            let examination = TaskAdmission.examine(result, against: nil)
            try await ordered.admit(index) {
                let decision = admission.withLock { $0.admit(examination) }
                try store.insertHeldoutItem(
                    index: index, seed: seed, status: decision.status, task: try? result.get(),
                    promptHash: decision.promptHash, failure: result.failure, retries: retries)
            }
            progress.finished(errors: result.failure == nil ? 0 : 1)
        }
        progress.end()
    }

    /// Solves and checks every kept held-out item with `version`, recording each result as it finishes.
    func evaluate(_ version: SolverVersion, round: Int) async throws -> Evaluation {
        let start = monotonicNow()
        let solver = try plugins.solver.ready(version)
        let items = try store.heldoutItems().filter { $0.status == .kept }
        let done = Set(try store.heldoutResults(round: round).map(\.index))
        let progress = StageProgress(
            log: log, label: "round \(round) held-out evaluate", total: items.count, alreadyDone: done.count)
        let pending = items.filter { !done.contains($0.index) }
        try await forEachBounded(pending.indices, width: settings.parallelism) { [self] position in
            let item = pending[position]
            guard let task = item.task else { return }
            let (result, retries, checkedBy) = try await evaluateItem(
                task, index: item.index, round: round, solver: solver)
            try store.insertHeldoutResult(
                result, round: round, solverVersion: version.id, retries: retries, fingerprint: checkedBy)
            progress.finished(accepted: result.accept ? 1 : 0, errors: result.failure == nil ? 0 : 1)
        }
        progress.end()
        return try evaluation(round: round, items: items, seconds: monotonicNow() - start)
    }

    /// The round's recorded held-out results on the kept `items`, summarized with their 95% interval.
    func evaluation(round: Int, items: [TaskRecord], seconds: Double) throws -> Evaluation {
        let results = try store.heldoutResults(round: round)
        return Evaluation(
            items: items, results: results,
            heldout: Statistics.summarize(
                scores: results.map(\.score), seed: Seeds.derive(settings.seed, "heldout-ci", "\(round)")),
            errors: results.count { $0.failure != nil }, seconds: seconds)
    }
}

extension RoundEngine {
    /// Solves and checks one held-out item; a plugin failure is part of the result, not an error.
    /// - Returns: the result, the retries it took and the checker that judged it (nil when the solver failed).
    func evaluateItem(_ task: TaskSpec, index: Int, round: Int, solver: ReadySolver) async throws
        -> (result: HeldoutResult, retries: Int, checkedBy: CheckerFingerprint?)
    {
        let request = SolveRequest(
            id: "r\(round)-h\(index)", task: task, attempt: 0,
            seed: Seeds.derive(settings.seed, "heldout-solve", "\(index)"))
        let (solved, solveRetries) = await PluginRetries.counting { await solver.solve(request) }
        var retries = solveRetries
        var checkedBy: CheckerFingerprint?
        let result: HeldoutResult
        switch try requireStarted(solved) {
        case .failure(let failure): result = HeldoutResult(index: index, answer: nil, outcome: .failure(failure))
        case .success(let solution):
            let (judged, checkRetries) = await PluginRetries.counting {
                await plugins.checker.check(id: "r\(round)-hc\(index)", task: task, answer: solution.answer)
            }
            retries += checkRetries
            checkedBy = CheckerFingerprint(of: plugins.checker)
            result = HeldoutResult(
                index: index, answer: solution.answer, outcome: try requireStarted(judged), usage: solution.usage)
        }
        return (result, retries, checkedBy)
    }
}

extension Result where Failure == PluginFailure {
    /// The plugin's failure, if it failed.
    var failure: PluginFailure? {
        if case .failure(let failure) = self { return failure }
        return nil
    }
}

extension RoundEngine {
    /// The shortcut check of a round's held-out `results`: each trivial baseline's answers judged by the checker on
    /// the same kept held-out items (a checker failure scores 0), and the diversity of the candidate's answers
    /// against the references'. The baselines' scores are the last round's when the same checker judged them: the
    /// held-out set is frozen, so only a new checker can change them.
    /// - Parameter earlier: the rounds before this one.
    func shortcutCheck(_ evaluation: Evaluation, round: Int, earlier: [RoundRecord]) async throws -> ShortcutCheck {
        let items = evaluation.items.compactMap { item in item.task.map { (index: item.index, task: $0) } }
        let references = Shortcuts.Diversity(
            items.map { $0.task.reference.map { $0.stringValue ?? $0.jsonText } ?? "" })
        let answers = Shortcuts.Diversity(evaluation.results.map { $0.answer ?? "" })
        if let previous = earlier.last(where: { $0.summary?.trust.baselines != nil }),
            try store.checkerFingerprints(round: previous.round).last?.fingerprint == plugins.checker.fingerprint,
            let baselines = previous.summary?.trust.baselines
        {
            return ShortcutCheck(baselines: baselines, answers: answers, references: references)
        }
        let mostCommon = Shortcuts.mostCommonReference(items.map(\.task.reference))
        var baselines: [String: Double] = [:]
        for baseline in Shortcuts.Baseline.allCases {
            let given = items.map { Shortcuts.answer(baseline, prompt: $0.task.prompt, mostCommon: mostCommon) }
            guard !items.isEmpty, !given.contains(nil) else { continue }
            let scores = Locked([Double](repeating: 0, count: items.count))
            try await forEachBounded(items.indices, width: settings.parallelism) { [self] position in
                let item = items[position]
                let judged = await plugins.checker.check(
                    id: "b\(round)-\(baseline.rawValue)-h\(item.index)", task: item.task, answer: given[position]!)
                if case .success(let judgement) = try requireStarted(judged) {
                    scores.withLock { $0[position] = judgement.score }
                }
            }
            baselines[baseline.rawValue] = scores.withLock { $0.reduce(0, +) } / Double(items.count)
        }
        return ShortcutCheck(baselines: baselines, answers: answers, references: references)
    }
}
