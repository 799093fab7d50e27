import Foundation

/// What `flywheel round --shard` did.
public struct ShardOutcome: Sendable {
    public var plan: ShardPlan
    public var shard: Shard
    /// The complete shard file.
    public var file: String
    /// Whether the file was already complete (nothing was run).
    public var alreadyDone: Bool
}

extension ShardPhase {
    /// The round whose phase runs now and that phase, read from the store: a new round (none open) starts with
    /// its first phase; an open round is in its evaluation once its candidate exists.
    public static func current(store: Store) throws -> (round: Int, phase: ShardPhase) {
        let rounds = try store.rounds()
        guard let open = rounds.first(where: { !$0.state.isCommitted }) else {
            let next = (rounds.last?.round ?? -1) + 1
            return (next, next == 0 ? .heldout : .train)
        }
        if try store.version(round: open.round) != nil { return (open.round, .evaluate) }
        return (open.round, open.round == 0 ? .heldout : .train)
    }
}

extension RoundEngine {
    /// The plan of the round's current parallel phase split `shards` ways; reads the store, writes nothing.
    public func currentPlan(shards: Int, pipeline: String, pipelineHash: String) throws -> (
        plan: ShardPlan, record: RoundRecord, isNew: Bool
    ) {
        guard !settings.exploration.rationalize else {
            throw FlywheelError(
                .invalidPipeline,
                "`exploration.rationalize` is not supported in a sharded round yet: run the round unsharded "
                    + "(flywheel round without --shard) or turn rationalization off")
        }
        let (record, isNew) = try plannedRound()
        let (_, phase) = try ShardPhase.current(store: store)
        var plan = ShardPlan(
            pipeline: pipeline, pipelineHash: pipelineHash, seed: settings.seed, round: record.round, phase: phase,
            shards: shards, solverVersion: nil, items: 0)
        switch phase {
        case .heldout:
            plan.items = settings.heldoutSize
        case .train:
            guard let solving = record.solverVersion else {
                throw FlywheelError(.corruptStore, "round \(record.round) has no promoted solver version to start from")
            }
            plan.solverVersion = solving
            plan.items = settings.roundSize
        case .evaluate:
            plan.solverVersion = try store.version(round: record.round)?.id
            plan.items = try store.heldoutItems().count { $0.status == .kept }
        }
        return (plan, record, isNew)
    }

    /// Runs `shard`'s share of the round's current phase into its shard file in `folder`, resuming what the file
    /// already holds. Writes only that file, never the store.
    public func runShard(_ shard: Shard, pipeline: String, pipelineHash: String, folder: ShardFolder) async throws
        -> ShardOutcome
    {
        let (plan, record, _) = try currentPlan(shards: shard.count, pipeline: pipeline, pipelineHash: pipelineHash)
        let final = folder.file(round: plan.round, phase: plan.phase, shard: shard, partial: false)
        let partial = folder.file(round: plan.round, phase: plan.phase, shard: shard, partial: true)
        if FileManager.default.fileExists(atPath: final) {
            let existing = try ShardFolder.read(final).contents.header.plan
            guard existing == plan else {
                throw FlywheelError(
                    .usage,
                    "the shard file \(final) is from another plan (\(plan.differences(from: existing).joined(separator: "; "))); "
                        + "delete it and run the shard again")
            }
            log.event("shard.done", [("round", plan.round), ("phase", plan.phase.rawValue), ("shard", "\(shard)")])
            return ShardOutcome(plan: plan, shard: shard, file: final, alreadyDone: true)
        }
        try FileManager.default.createDirectory(atPath: folder.path, withIntermediateDirectories: true)
        var contents = ShardContents(header: ShardLine.Header(plan: plan, shard: shard.index))
        var validBytes: Int?
        if FileManager.default.fileExists(atPath: partial) {
            let (found, valid) = try ShardFolder.read(partial)
            if found.header.plan == plan, found.header.shard == shard.index {
                contents = found
                validBytes = valid
            } else {
                // Left by a shard of a plan that no longer applies: nothing in it can be used.
                try FileManager.default.removeItem(atPath: partial)
            }
        }
        let writer = try ShardWriter(file: partial, validBytes: validBytes)
        if validBytes == nil { try writer.append(ShardLine(header: contents.header)) }
        log.event(
            validBytes == nil ? "shard.start" : "shard.resume",
            [("round", plan.round), ("phase", plan.phase.rawValue), ("shard", "\(shard)")])
        switch plan.phase {
        case .heldout: try await generateHeldoutShard(shard, contents: contents, writer: writer)
        case .train: try await trainShard(shard, record: record, plan: plan, contents: contents, writer: writer)
        case .evaluate: try await evaluateShard(shard, plan: plan, contents: contents, writer: writer)
        }
        try writer.complete(as: final)
        log.event("shard.complete", [("round", plan.round), ("phase", plan.phase.rawValue), ("shard", "\(shard)")])
        return ShardOutcome(plan: plan, shard: shard, file: final, alreadyDone: false)
    }

    private func generateHeldoutShard(_ shard: Shard, contents: ShardContents, writer: ShardWriter) async throws {
        let indices = (0..<settings.heldoutSize).filter { shard.owns($0) && contents.generated[$0] == nil }
        try await forEachBounded(indices, width: settings.parallelism) { [self] index in
            let seed = Seeds.derive(settings.seed, "heldout", "\(index)")
            let start = monotonicNow()
            let (result, retries) = await PluginRetries.counting {
                await plugins.generator.generate(
                    id: "h\(index)", seed: seed, difficulty: settings.difficulty, split: .heldout)
            }
            try requireStarted(result)
            try writer.append(
                ShardLine(
                    generated: .init(
                        index: index, seed: seed, task: try? result.get(), failure: result.failure,
                        seconds: monotonicNow() - start, retries: retries)))
        }
    }

    /// Generates, admits and solves the shard's training items. Admission here sees earlier rounds and this shard's
    /// earlier items only, so it drops a subset of what merge will drop: every item merge keeps has been solved.
    private func trainShard(
        _ shard: Shard, record: RoundRecord, plan: ShardPlan, contents: ShardContents, writer: ShardWriter
    ) async throws {
        let round = record.round
        guard let solving = plan.solverVersion, let version = try store.version(id: solving) else {
            throw FlywheelError(.corruptStore, "round \(round) has no promoted solver version to start from")
        }
        let solver = try plugins.solver.ready(version)
        let heldout = try store.heldoutItems().filter { $0.status == .kept }
        let contamination = ContaminationIndex(
            heldoutPrompts: heldout.compactMap(\.task?.prompt), n: settings.contaminationNGram)
        let admission = Locked(TaskAdmission(seen: try store.promptKeys(before: round), contamination: contamination))
        let indices = (0..<settings.roundSize).filter { shard.owns($0) }
        let ordered = OrderedAdmission(first: 0)
        let progress = StageProgress(
            log: log, label: "round \(round) train shard \(shard)", total: indices.count, alreadyDone: 0)
        try await forEachTrainingItem(indices.indices, parallelism: settings.parallelism, admission: ordered) {
            [self] position, permits in
            let index = indices[position]
            let generated: ShardLine.Generated
            if let recorded = contents.generated[index] {
                generated = recorded
            } else {
                let seed = Seeds.derive(settings.seed, "train", "\(round)", "\(index)")
                let start = monotonicNow()
                let (result, retries) = await PluginRetries.counting {
                    await plugins.generator.generate(
                        id: "r\(round)-g\(index)", seed: seed, difficulty: record.difficulty, split: .train)
                }
                try requireStarted(result)
                generated = .init(
                    index: index, seed: seed, task: try? result.get(), failure: result.failure,
                    seconds: monotonicNow() - start, retries: retries)
                try writer.append(ShardLine(generated: generated))
            }
            let examination = TaskAdmission.examine(generated.result, against: contamination)
            let decision = try await ordered.admit(position) { admission.withLock { $0.admit(examination) } }
            var accepted = 0
            if decision.status == .kept, let spec = generated.task {
                for attempt in 0..<settings.attempts {
                    let key = ShardKey(index: index, attempt: attempt)
                    let solved: ShardLine.Solved
                    if let recorded = contents.solved[key] {
                        solved = recorded
                    } else {
                        let (seed, result, seconds, retries) = try await solveAttempt(
                            spec, round: round, index: index, attempt: attempt, with: solver, permits: permits)
                        solved = .init(
                            index: index, attempt: attempt, seed: seed, solution: try? result.get(),
                            failure: result.failure, seconds: seconds, retries: retries)
                        try writer.append(ShardLine(solved: solved))
                    }
                    guard let solution = solved.solution else { continue }
                    if let recorded = contents.checked[key] {
                        accepted += recorded.judgement?.accept == true ? 1 : 0
                        continue
                    }
                    let (judged, seconds, retries) = try await checkAttempt(
                        spec, answer: solution.answer, round: round, index: index, attempt: attempt, permits: permits)
                    try writer.append(
                        ShardLine(
                            checked: .init(
                                index: index, attempt: attempt, judgement: try? judged.get(),
                                failure: judged.failure,
                                checker: plugins.checker.identity,
                                fingerprint: CheckerFingerprint(of: plugins.checker),
                                seconds: seconds, retries: retries)))
                    accepted += (try? judged.get())?.accept == true ? 1 : 0
                }
            }
            progress.finished(accepted: accepted, errors: generated.failure == nil ? 0 : 1)
        }
        progress.end()
    }

    private func evaluateShard(_ shard: Shard, plan: ShardPlan, contents: ShardContents, writer: ShardWriter)
        async throws
    {
        guard let id = plan.solverVersion, let version = try store.version(id: id) else {
            throw FlywheelError(.corruptStore, "round \(plan.round) has no candidate version to evaluate")
        }
        let solver = try plugins.solver.ready(version)
        // Results already in the store (the training merge reused the promoted version's for an unchanged
        // candidate) need no shard.
        let stored = Set(try store.heldoutResults(round: plan.round).map(\.index))
        let items = try store.heldoutItems().filter {
            $0.status == .kept && shard.owns($0.index) && contents.evaluated[$0.index] == nil
                && !stored.contains($0.index)
        }
        let progress = StageProgress(
            log: log, label: "round \(plan.round) held-out evaluate shard \(shard)", total: items.count,
            alreadyDone: 0)
        try await forEachBounded(items.indices, width: settings.parallelism) { [self] position in
            let item = items[position]
            guard let task = item.task else { return }
            let (result, retries, checkedBy) = try await evaluateItem(
                task, index: item.index, round: plan.round, solver: solver)
            try writer.append(ShardLine(evaluated: .init(result: result, retries: retries, fingerprint: checkedBy)))
            progress.finished(accepted: result.accept ? 1 : 0, errors: result.failure == nil ? 0 : 1)
        }
        progress.end()
    }
}
