import Foundation

/// What `flywheel merge` did.
public struct MergeOutcome: Sendable {
    public var round: Int
    public var phase: ShardPhase
    /// The shard count folded; nil when the store already held the phase (a merge resumed after folding).
    public var shards: Int?
    /// The committed round, after the evaluation phase's merge.
    public var committed: RoundOutcome?
    public var seconds: Double
}

extension RoundEngine {
    /// Folds the complete shard files of the round's current phase into the store, in index order, and advances
    /// the round: after the held-out phase the baseline version exists, after training the candidate is learned,
    /// after the evaluation the round is decided and committed. Hold the store's lock.
    ///
    /// Admission (dedup, decontamination), the dictionary and every stored row come out as the unsharded round
    /// makes them. A merge that is interrupted resumes like a round: what it recorded stays, the rest follows.
    /// - Parameter expected: the shard count; nil takes it from the shard files.
    /// - Throws: `FlywheelError(.shardsMissing)` naming the missing shards as a Slurm array expression, having
    ///   changed nothing; `FlywheelError(.usage)` when a shard file is of another plan.
    public func merge(expected: Int?, pipeline: String, pipelineHash: String, folder: ShardFolder) async throws
        -> MergeOutcome
    {
        let start = monotonicNow()
        let (round, phase) = try ShardPhase.current(store: store)
        let contents: ShardContents?
        let shards: Int?
        if try storeHolds(round: round, phase: phase) {
            (contents, shards) = (nil, nil)
        } else {
            let (folded, count) = try readShards(
                round: round, phase: phase, expected: expected, pipeline: pipeline, pipelineHash: pipelineHash,
                folder: folder)
            (contents, shards) = (folded, count)
        }
        var (record, isNew) = try plannedRound()
        if isNew {
            try store.insertRound(record)
            log.event("round.start", [("round", record.round), ("sharded", true)])
        } else if record.state == .failed {
            try store.setRoundState(record.round, .running)
            record.state = .running
        }
        log.event("merge.start", [("round", round), ("phase", phase.rawValue), ("shards", shards ?? 0)])
        do {
            var committed: RoundOutcome?
            switch phase {
            case .heldout:
                if let contents { try foldHeldoutItems(contents) }
                _ = try baselineVersion()
            case .train:
                try trainDictionaryIfDue(round: round)
                if let contents { try foldTraining(contents, record: record) }
                try checkTrainingErrors(round: round)
                try await auditVerdicts(round: round)
                let learned = try await learnCandidate(record)
                try? Data("\(learned.seconds)".utf8).write(to: learnSecondsFile(folder, round: round))
            case .evaluate:
                if let contents { try foldEvaluation(contents, round: round) }
                committed = try await commitEvaluated(record, folder: folder, seconds: monotonicNow() - start)
            }
            // Shards on other machines read the store next: leave it whole in the main file.
            try store.checkpoint()
            let seconds = monotonicNow() - start
            log.event("merge.done", [("round", round), ("phase", phase.rawValue), ("seconds", seconds)])
            if let committed {
                folder.remove(round: round)
                log.event(
                    "round.commit",
                    [
                        ("round", round), ("state", committed.state.rawValue),
                        ("accepted", committed.summary.counts.accepted),
                        ("heldout_score", committed.summary.heldout.score),
                        ("verdict", committed.summary.vsPrevious?.verdict.rawValue ?? "baseline"),
                    ])
            }
            return MergeOutcome(round: round, phase: phase, shards: shards, committed: committed, seconds: seconds)
        } catch {
            try? store.setRoundState(round, .failed)
            log.event("round.failed", [("round", round), ("error", "\(error)")])
            throw error
        }
    }

    private func learnSecondsFile(_ folder: ShardFolder, round: Int) -> URL {
        URL(fileURLWithPath: folder.path + "/round-\(round)-learn-seconds")
    }

    /// Whether the store already holds everything the phase's shards would bring.
    private func storeHolds(round: Int, phase: ShardPhase) throws -> Bool {
        switch phase {
        case .heldout:
            return try store.heldoutItems().count >= settings.heldoutSize
        case .train:
            let tasks = try store.tasks(round: round)
            guard tasks.count >= settings.roundSize else { return false }
            let attempts = try store.attempts(round: round)
            let kept = tasks.count { $0.status == .kept }
            let checked = Set(try store.verdicts(round: round).map(\.attemptID))
            return attempts.count == kept * settings.attempts
                && attempts.allSatisfy { $0.solution == nil || checked.contains($0.id) }
        case .evaluate:
            let kept = try store.heldoutItems().count { $0.status == .kept }
            return try store.heldoutResults(round: round).count >= kept
        }
    }

    /// Reads every complete shard file of the phase into one, after checking that they form a complete set of
    /// this plan.
    private func readShards(
        round: Int, phase: ShardPhase, expected: Int?, pipeline: String, pipelineHash: String, folder: ShardFolder
    ) throws -> (ShardContents, Int) {
        let (names, partial) = folder.files(round: round, phase: phase)
        var files: [(name: String, contents: ShardContents)] = []
        for name in names {
            files.append((name, try ShardFolder.read(folder.path + "/" + name).contents))
        }
        let counts = Set(files.map(\.contents.header.plan.shards))
        guard let count = expected ?? (counts.count == 1 ? counts.first : nil) else {
            if files.isEmpty {
                throw FlywheelError(
                    .shardsMissing,
                    "no shard files of round \(round)'s \(phase.rawValue) phase in \(folder.path)"
                        + (partial.isEmpty
                            ? "" : " (\(partial.count) still running or killed: \(partial.joined(separator: ", ")))")
                        + "; run `flywheel round PIPELINE --shard I/N` for every I, then merge again")
            }
            throw FlywheelError(
                .usage,
                "the shard files of round \(round)'s \(phase.rawValue) phase in \(folder.path) are of different "
                    + "shard counts (\(counts.sorted().map(String.init).joined(separator: ", "))): "
                    + files.map { "\($0.name)" }.joined(separator: ", ")
                    + "; delete the files of the plan you abandoned, or pass --shards N")
        }
        let (plan, _, _) = try currentPlan(shards: count, pipeline: pipeline, pipelineHash: pipelineHash)
        for file in files where file.contents.header.plan != plan {
            throw FlywheelError(
                .usage,
                "the shard file \(folder.path)/\(file.name) is of another plan: "
                    + plan.differences(from: file.contents.header.plan).joined(separator: "; ")
                    + "; delete it and run that shard again with this pipeline and store")
        }
        let present = Set(files.map(\.contents.header.shard))
        let missing = (0..<count).filter { !present.contains($0) }
        guard missing.isEmpty else {
            throw FlywheelError(
                .shardsMissing,
                "round \(round)'s \(phase.rawValue) phase is missing \(missing.count) of \(count) shards: "
                    + "--array=\(Shard.arrayExpression(missing)); nothing was merged. Run them (e.g. `sbatch "
                    + "--array=\(Shard.arrayExpression(missing)) ops/slurm/shard.sbatch …`), then merge again")
        }
        var merged = ShardContents(header: ShardLine.Header(plan: plan, shard: 0))
        for file in files { merged.absorb(file.contents) }
        return (merged, count)
    }

    private func missingItem(_ what: String, _ index: Int) -> FlywheelError {
        FlywheelError(
            .runFailed,
            "the shard files hold no \(what) for item \(index) although the set is complete; a shard file is "
                + "damaged: delete the shard files of this phase and run the shards again")
    }

    private func foldHeldoutItems(_ contents: ShardContents) throws {
        let existing = try store.heldoutItems()
        var admission = TaskAdmission(
            seen: Set(existing.compactMap(\.promptHash).map(PromptKey.init)), contamination: nil)
        for index in existing.count..<settings.heldoutSize {
            guard let generated = contents.generated[index] else { throw missingItem("held-out task", index) }
            let decision = admission.admit(generated.result)
            try store.insertHeldoutItem(
                index: index, seed: generated.seed, status: decision.status, task: generated.task,
                promptHash: decision.promptHash, failure: generated.failure, retries: generated.retries)
        }
    }

    /// Records the training items in index order as the unsharded round does: admission decides each task's
    /// fate; a task merge drops keeps no attempts, whatever its shard solved.
    private func foldTraining(_ contents: ShardContents, record: RoundRecord) throws {
        let round = record.round
        guard let solving = contents.header.plan.solverVersion else {
            throw FlywheelError(.corruptStore, "round \(round) has no promoted solver version to start from")
        }
        let recorded = try store.tasks(round: round)
        var recordedAttempts: [ShardKey: AttemptRecord] = [:]
        let byID = Dictionary(uniqueKeysWithValues: recorded.map { ($0.id, $0.index) })
        for attempt in try store.attempts(round: round) {
            if let index = byID[attempt.taskID] {
                recordedAttempts[ShardKey(index: index, attempt: attempt.attempt)] = attempt
            }
        }
        let checked = Set(try store.verdicts(round: round).map(\.attemptID))
        let heldout = try store.heldoutItems().filter { $0.status == .kept }
        var admission = TaskAdmission(
            seen: try store.promptKeys(before: round).union(recorded.compactMap(\.promptHash).map(PromptKey.init)),
            contamination: ContaminationIndex(
                heldoutPrompts: heldout.compactMap(\.task?.prompt), n: settings.contaminationNGram))
        let dictionary = try store.currentDictionary()
        for index in 0..<settings.roundSize {
            let task: TaskRecord
            if index < recorded.count {
                task = recorded[index]
            } else {
                guard let generated = contents.generated[index] else { throw missingItem("task", index) }
                let decision = admission.admit(generated.result)
                let id = try store.insertTask(
                    round: round, index: index, seed: generated.seed, difficulty: record.difficulty,
                    status: decision.status, task: generated.task, promptHash: decision.promptHash,
                    contamination: decision.contamination, failure: generated.failure, seconds: generated.seconds,
                    retries: generated.retries)
                task = TaskRecord(
                    id: id, index: index, seed: generated.seed, difficulty: record.difficulty, status: decision.status,
                    task: generated.task, promptHash: decision.promptHash, failure: generated.failure)
            }
            guard task.status == .kept, let spec = task.task else { continue }
            for attempt in 0..<settings.attempts {
                let key = ShardKey(index: index, attempt: attempt)
                let attemptID: Int64
                let solution: Solution?
                if let existing = recordedAttempts[key] {
                    (attemptID, solution) = (existing.id, existing.solution)
                } else {
                    guard let solved = contents.solved[key] else { throw missingItem("answer", index) }
                    attemptID = try store.insertAttempt(
                        taskID: task.id, attempt: attempt, seed: solved.seed, solverVersion: solving,
                        result: solved.result, seconds: solved.seconds, retries: solved.retries)
                    solution = solved.solution
                }
                guard let solution, !checked.contains(attemptID) else { continue }
                guard let verdict = contents.checked[key] else { throw missingItem("verdict", index) }
                var example: AcceptedExample?
                if verdict.judgement?.accept == true {
                    example = AcceptedExample(
                        StoredExample(
                            prompt: spec.prompt, answer: solution.answer, reference: spec.reference, meta: spec.meta,
                            trace: solution.trace), dictionary: dictionary)
                }
                try store.insertVerdict(
                    attemptID: attemptID, round: round, result: verdict.result, checker: verdict.checker,
                    fingerprint: verdict.fingerprint, seconds: verdict.seconds, example: example,
                    retries: verdict.retries)
            }
        }
    }

    private func foldEvaluation(_ contents: ShardContents, round: Int) throws {
        guard let version = contents.header.plan.solverVersion else {
            throw FlywheelError(.corruptStore, "round \(round) has no candidate version to evaluate")
        }
        let done = Set(try store.heldoutResults(round: round).map(\.index))
        for item in try store.heldoutItems() where item.status == .kept && !done.contains(item.index) {
            guard let evaluated = contents.evaluated[item.index] else {
                throw missingItem("held-out result", item.index)
            }
            try store.insertHeldoutResult(
                evaluated.result, round: round, solverVersion: version, retries: evaluated.retries,
                fingerprint: evaluated.fingerprint)
        }
    }

    /// Decides and commits a round whose held-out results are all recorded.
    private func commitEvaluated(_ record: RoundRecord, folder: ShardFolder, seconds: Double) async throws
        -> RoundOutcome
    {
        let round = record.round
        let evaluation = try self.evaluation(
            round: round, items: try store.heldoutItems().filter { $0.status == .kept }, seconds: seconds)
        if round == 0 {
            guard let version = try store.version(round: 0) else {
                throw FlywheelError(.corruptStore, "round 0 has no baseline version")
            }
            return try await commitBaseline(record, version: version, evaluation: evaluation)
        }
        var learned = try await learnCandidate(record)
        if let text = try? String(contentsOf: learnSecondsFile(folder, round: round), encoding: .utf8),
            let seconds = Double(text)
        {
            learned.seconds = seconds
        }
        return try await decide(record, learned: learned, evaluation: evaluation)
    }
}
