#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import FlywheelCore
import Processes
import Foundation

@main
struct Flywheel: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flywheel",
        abstract: "Runs a synthetic-data flywheel: generate, solve, verify, store, learn, evaluate, decide.",
        subcommands: [
            Run.self, Round.self, Status.self, Report.self, Export.self, VerifyStore.self, Init.self, Reverify.self,
            Rollback.self, Merge.self,
        ])

    /// The one place errors become exit codes (SPEC §5).
    static func exitStatus(for error: FlywheelError) -> Int32 {
        switch error.code {
        case .usage: return 64
        case .invalidPipeline: return 78
        case .storeBusy, .shardsMissing: return 75
        case .corruptStore, .runFailed: return 1
        }
    }

    /// Whether the command line asked for JSON log lines, so that even a failure's last line is JSON.
    static var jsonLogRequested: Bool {
        let arguments = CommandLine.arguments
        return arguments.contains("--log-format=json")
            || zip(arguments, arguments.dropFirst()).contains { $0 == "--log-format" && $1 == "json" }
    }

    static func main() async {
        // A plugin that dies must not take the CLI with it through SIGPIPE.
        signal(SIGPIPE, SIG_IGN)
        // Stopped by a signal, the CLI first stops the servers it started (a run with `learn: weights`).
        ServerChildren.stopOnTermination()
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            fail(with: error)
        }
    }

    /// Ends the process for `error`. Help and `--version` print as ArgumentParser prints them and `ExitCode(n)`
    /// exits quietly; every other error is one `flywheel: MESSAGE` line (a JSON event under `--log-format json`):
    /// a `FlywheelError` with its code's status, a command-line mistake with 64 and its usage lines after it, and
    /// anything unforeseen with 1.
    static func fail(with error: Error) -> Never {
        let status: Int32
        let message: String
        if let error = error as? FlywheelError {
            (status, message) = (exitStatus(for: error), error.message)
        } else {
            let text = fullMessage(for: error)
            let code = exitCode(for: error)
            if code == .success || text.isEmpty { exit(withError: error) }
            status = code.rawValue
            message = text.hasPrefix("Error: ") ? String(text.dropFirst("Error: ".count)) : text
        }
        if jsonLogRequested {
            EventLog(format: .json, interactive: false).event("error", [("message", message), ("exit_code", status)])
        } else {
            FileHandle.standardError.write(Data("flywheel: \(message)\n".utf8))
        }
        Foundation.exit(status)
    }
}

struct PipelineOptions: ParsableArguments {
    @Argument(help: "The pipeline file (YAML), e.g. Pipelines/listfn.yaml.")
    var pipeline: String

    @Option(help: "The store (default: .flywheel/<pipeline name>.sqlite under the current folder).")
    var store: String?

    @Option(help: "Log format on stderr: text or json.")
    var logFormat: EventLog.Format = .text

    func load() throws -> PipelineConfig {
        try PipelineConfig.load(path: pipeline)
    }

    func storePath(for config: PipelineConfig) -> String {
        store.map { URL(fileURLWithPath: $0).standardizedFileURL.path } ?? config.defaultStorePath()
    }

    func eventLog() -> EventLog { EventLog(format: logFormat) }

    /// The pipeline and its existing store, opened read-only (never created, migrated or written) and checked to be
    /// this pipeline's, as `round` checks it.
    func readStore(for config: PipelineConfig) throws -> Store {
        let store = try Store(path: storePath(for: config), access: .readOnly)
        try store.checkOwner(config.name)
        return store
    }
}

extension EventLog.Format: ExpressibleByArgument {}

struct RunOptions: ParsableArguments {
    @Flag(help: "Turn learning off for this run: the control (each candidate is the promoted version unchanged).")
    var noLearning = false

    @Flag(help: "Exit 3 when the gate rejects a round.")
    var failOnReject = false

    @Option(
        help: ArgumentHelp(
            "After each committed round, write Prometheus metrics here, atomically (node_exporter textfile collector).",
            valueName: "path"))
    var metricsFile: String?

    @Option(help: "Stop (exit 0) after this many committed rounds in a row without an improved verdict.")
    var plateau: Int?

    func validate() throws {
        if let plateau, plateau < 1 {
            throw ValidationError("--plateau takes a number of rounds ≥ 1, not \(plateau)")
        }
        guard let metricsFile else { return }
        let folder = URL(fileURLWithPath: metricsFile).deletingLastPathComponent().path
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder), isFolder.boolValue else {
            throw ValidationError("--metrics-file \(metricsFile): the folder \(folder) does not exist")
        }
    }

    /// Writes the round's metrics when `--metrics-file` was given.
    func writeMetrics(_ outcome: RoundOutcome, pipeline: String, store: Store) throws {
        guard let metricsFile else { return }
        try RoundMetrics(pipeline: pipeline, outcome: outcome, store: store).write(to: metricsFile)
    }
}

/// Loads the pipeline, opens its store under the lock, makes the plugins and the engine, runs `body`, and always
/// stops the plugin workers.
/// - Parameter startingWorkers: start the external programs' workers as soon as the store is open, so that they
///   start up (an interpreter, a model load) while the round is being planned and recorded, instead of when it asks
///   for them. (Not before: a store that cannot be used is refused before anything is started.)
func withEngine<T>(
    _ options: PipelineOptions, _ runOptions: RunOptions, startingWorkers: Bool = false,
    _ body: (PipelineConfig, RoundEngine) async throws -> T
) async throws -> T {
    var config = try options.load()
    if runOptions.noLearning { config.settings.learning = false }
    if let plateau = runOptions.plateau { config.settings.plateau = plateau }
    let log = options.eventLog()
    let path = options.storePath(for: config)
    let lock = try StoreLock(storePath: path)
    let store = try Store(path: path)
    try store.claim(for: config.name)
    let plugins = try Plugins(config, log: log)
    if startingWorkers { plugins.startWorkers() }
    let engine = RoundEngine(store: store, plugins: plugins, settings: config.settings, log: log)
    do {
        let result = try await body(config, engine)
        // Commits what waits and folds the WAL into the store file, which is then the whole store.
        try store.checkpoint()
        await plugins.shutdown()
        withExtendedLifetime(lock) {}
        return result
    } catch {
        // Finished items still waiting to be committed are kept: the resumed round starts after them.
        try? store.flush()
        await plugins.shutdown()
        throw error
    }
}

func printCurve(_ config: PipelineConfig, _ store: Store) throws {
    print(try FlywheelCore.Status(config, store: store).table())
}

func rejectExit(_ outcomes: [RoundOutcome], _ options: RunOptions) throws {
    if options.failOnReject, outcomes.contains(where: { $0.state == .rejected }) {
        throw ExitCode(3)
    }
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run rounds until N rounds after the baseline are committed (resuming first).")

    @OptionGroup var options: PipelineOptions
    @OptionGroup var runOptions: RunOptions

    // `.unconditional` reads `-1` as the value: by default ArgumentParser takes it for a flag and reports the
    // value as missing, hiding the real mistake.
    @Option(parsing: .unconditional, help: "Rounds after the baseline (default: the pipeline's `rounds`).")
    var rounds: Int?

    func validate() throws {
        if let rounds, rounds < 0 {
            throw ValidationError("--rounds takes a whole number ≥ 0 (rounds after the baseline), not \(rounds)")
        }
    }

    func run() async throws {
        let outcomes = try await withEngine(options, runOptions, startingWorkers: true) { config, engine in
            let outcomes = try await engine.run(rounds: rounds ?? config.rounds) { outcome in
                try runOptions.writeMetrics(outcome, pipeline: config.name, store: engine.store)
            }
            try printCurve(config, engine.store)
            let plateau = try engine.plateau()
            if plateau.reached, try engine.committedRounds() < rounds ?? config.rounds {
                print(
                    "Stopped: \(plateau.roundsWithoutImprovement) committed rounds in a row without an improved "
                        + "verdict (plateau limit \(plateau.limit ?? 0)).")
            }
            return outcomes
        }
        try rejectExit(outcomes, runOptions)
    }
}

struct Round: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Exactly one round, resuming an interrupted one first: the cron entry point.")

    @OptionGroup var options: PipelineOptions
    @OptionGroup var runOptions: RunOptions

    @Flag(help: "Run the round even when the pipeline has plateaued.")
    var force = false

    @OptionGroup var shardOptions: ShardOptions

    func run() async throws {
        if shardOptions.shard != nil { return try await runShard(options, runOptions, shardOptions, force: force) }
        let outcome = try await withEngine(options, runOptions, startingWorkers: true) {
            config, engine -> RoundOutcome? in
            if !force, try engine.hasPlateaued() {
                let plateau = try engine.plateau()
                FileHandle.standardError.write(
                    Data(
                        ("flywheel: pipeline `\(config.name)` has plateaued: \(plateau.roundsWithoutImprovement) "
                            + "committed rounds without an improved verdict (limit \(plateau.limit ?? 0)); "
                            + "no round run. Pass --force to run one anyway.\n").utf8))
                return nil
            }
            let outcome = try await engine.runRound(last: true)
            try runOptions.writeMetrics(outcome, pipeline: config.name, store: engine.store)
            try printCurve(config, engine.store)
            return outcome
        }
        try rejectExit(outcome.map { [$0] } ?? [], runOptions)
    }
}

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "The rounds so far.")

    @OptionGroup var options: PipelineOptions

    @Flag(help: "Print one JSON object (the contract scripts rely on).")
    var json = false

    func run() async throws {
        let config = try options.load()
        let path = options.storePath(for: config)
        // No store yet is not an error: no round has run. `--json` keeps its contract (`"rounds": []`, exit 0);
        // the text form says so, rather than showing an empty table that looks like the wrong store.
        guard FileManager.default.fileExists(atPath: path) else {
            print(json ? try FlywheelCore.Status(config, store: nil).json() : noStoreYet(path, pipeline: config.name))
            return
        }
        let status = try FlywheelCore.Status(config, store: try options.readStore(for: config))
        print(json ? try status.json() : status.table())
    }

    func noStoreYet(_ path: String, pipeline name: String) -> String {
        let command = options.pipeline + (options.store.map { " --store \($0)" } ?? "")
        return """
            No store at \(path) yet: pipeline `\(name)` has no rounds.
            Start it with `flywheel round \(command)` (round 0, the baseline) or \
            `flywheel run \(command) --rounds N`,
            or pass --store PATH if the store is elsewhere.
            """
    }
}

struct VerifyStore: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify-store", abstract: "Prove the store is whole.")

    @OptionGroup var options: PipelineOptions

    func run() async throws {
        let store = try options.readStore(for: try options.load())
        let report = try store.verify()
        if report.ok {
            print("ok: \(report.rounds) rounds, \(report.examples) examples, \(report.dictionaries) dictionaries")
        } else {
            for problem in report.problems { print("problem: \(problem)") }
            throw FlywheelError(.corruptStore, "the store \(store.path) has \(report.problems.count) problem(s)")
        }
    }
}
