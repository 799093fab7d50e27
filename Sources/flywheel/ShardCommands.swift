import ArgumentParser
import FlywheelCore
import Foundation

struct ShardOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Do shard I of N (counted from 0) of the round's current phase into a shard file beside the store, "
                + "without writing the store; `auto` reads SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX.",
            valueName: "I/N|auto"))
    var shard: String?

    @Option(
        help: ArgumentHelp(
            "The shard count, for `--shard auto` (else FLYWHEEL_SHARDS, else SLURM_ARRAY_TASK_COUNT).",
            valueName: "N"))
    var shards: Int?

    func validate() throws {
        if let shards, shards < 1 { throw ValidationError("--shards takes a count ≥ 1, not \(shards)") }
        if shards != nil, shard == nil { throw ValidationError("--shards goes with --shard auto (or --shard I/N)") }
    }
}

/// `round --shard`: loads the pipeline, reads the store without locking or writing it (a missing store reads as a
/// new one), and runs one shard of the round's current phase into its own file.
func runShard(_ options: PipelineOptions, _ runOptions: RunOptions, _ shardOptions: ShardOptions, force: Bool)
    async throws
{
    guard let text = shardOptions.shard else { return }
    var config = try options.load()
    if runOptions.noLearning { config.settings.learning = false }
    if let plateau = runOptions.plateau { config.settings.plateau = plateau }
    let shard = try Shard.parse(text, count: shardOptions.shards, environment: ProcessInfo.processInfo.environment)
    let path = options.storePath(for: config)
    let log = options.eventLog()
    let store: Store
    var scratch: String?
    if FileManager.default.fileExists(atPath: path) {
        store = try options.readStore(for: config)
    } else {
        // No round has been merged yet: read an empty store of this process's own, never the shared path.
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
            "flywheel-shard-\(UUID().uuidString)")
        scratch = folder.path
        store = try Store(path: folder.appendingPathComponent("empty.sqlite").path)
    }
    defer { if let scratch { try? FileManager.default.removeItem(atPath: scratch) } }
    let plugins = try Plugins(config, log: log)
    let engine = RoundEngine(store: store, plugins: plugins, settings: config.settings, log: log)
    do {
        if !force, try engine.hasPlateaued() {
            await plugins.shutdown()
            plateaued(config, engine)
            return
        }
        let outcome = try await engine.runShard(
            shard, pipeline: config.name, pipelineHash: try ShardPlan.pipelineHash(file: config.file),
            folder: ShardFolder(storePath: path))
        await plugins.shutdown()
        print(
            "round \(outcome.plan.round) \(outcome.plan.phase.rawValue) shard \(shard): "
                + (outcome.alreadyDone ? "already done" : "done") + " (\(outcome.file))")
    } catch {
        await plugins.shutdown()
        throw error
    }
}

struct Merge: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fold a complete set of shard files into the store and advance the round.",
        discussion: """
            After the training phase the candidate is learned; after the evaluation phase the round is decided and \
            committed. With shards missing nothing changes and the exit status is 75; the message names them as a \
            Slurm array expression (--array=2,7) to resubmit.
            """)

    @OptionGroup var options: PipelineOptions
    @OptionGroup var runOptions: RunOptions

    @Option(help: ArgumentHelp("The shard count (default: the one the shard files name).", valueName: "N"))
    var shards: Int?

    @Flag(help: "Start the next round even when the pipeline has plateaued.")
    var force = false

    func run() async throws {
        let outcome = try await withEngine(options, runOptions) { config, engine -> MergeOutcome? in
            if !force, try engine.hasPlateaued() {
                plateaued(config, engine)
                return nil
            }
            let outcome = try await engine.merge(
                expected: shards, pipeline: config.name, pipelineHash: try ShardPlan.pipelineHash(file: config.file),
                folder: ShardFolder(storePath: engine.store.path))
            let from = outcome.shards.map { "\($0) shards" } ?? "the store (already folded)"
            print(
                "merged round \(outcome.round) \(outcome.phase.rawValue) phase from \(from) in "
                    + String(format: "%.2f s", outcome.seconds))
            if let committed = outcome.committed {
                try runOptions.writeMetrics(committed, pipeline: config.name, store: engine.store)
                try printCurve(config, engine.store)
            } else {
                print(
                    "next: the \(outcome.phase == .train || outcome.phase == .heldout ? "evaluate" : "next") phase's shards, then merge"
                )
            }
            return outcome
        }
        try rejectExit(outcome?.committed.map { [$0] } ?? [], runOptions)
    }
}

/// Says that a plateaued pipeline starts no new round (as `round` says it).
func plateaued(_ config: PipelineConfig, _ engine: RoundEngine) {
    let plateau = (try? engine.plateau()) ?? Plateau(rounds: [], limit: nil)
    FileHandle.standardError.write(
        Data(
            ("flywheel: pipeline `\(config.name)` has plateaued: \(plateau.roundsWithoutImprovement) committed rounds "
                + "without an improved verdict (limit \(plateau.limit ?? 0)); no round started. Pass --force to start "
                + "one anyway.\n").utf8))
}
