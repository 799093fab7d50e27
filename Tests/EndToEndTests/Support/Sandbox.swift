import FlywheelCore
import Foundation
import Processes
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Where the repository, its fixtures and the binary under test are, found from this file.
enum Repository {
    /// The repository root: the nearest folder above this file (symlinks resolved) that holds `Fixtures/plugins`.
    static let root: String = {
        var url = URL(fileURLWithPath: realPath(#filePath))
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Fixtures/plugins").path) {
                return url.path
            }
        }
        fatalError("no Fixtures/plugins above \(#filePath)")
    }()

    /// `FLYWHEEL_BIN`, else the release build, else the debug build.
    static let binary: String = {
        if let path = ProcessInfo.processInfo.environment["FLYWHEEL_BIN"], !path.isEmpty { return path }
        let release = root + "/.build/release/flywheel"
        return FileManager.default.isExecutableFile(atPath: release) ? release : root + "/.build/debug/flywheel"
    }()

    static func plugin(_ name: String) -> String { root + "/Fixtures/plugins/" + name }

    static func pipeline(_ relative: String) -> String { root + "/Fixtures/pipelines/" + relative }

    /// The argv that runs a fixture plugin: `python3 -u /abs/Fixtures/plugins/NAME ARGS…`.
    static func python(_ name: String, _ arguments: String...) -> [String] {
        ["python3", "-u", plugin(name)] + arguments
    }

    static func realPath(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// Whether `program` is on PATH.
    static func onPath(_ program: String) -> Bool {
        (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").contains {
            FileManager.default.isExecutableFile(atPath: "\($0)/\(program)")
        }
    }
}

/// An arith pipeline (fixtures arith_gen.py, arith_solve.py, exact_check.py) written as YAML with absolute paths.
struct ArithPipeline {
    var name = "arith"
    var seed = 7
    var roundSize = 30
    var heldoutSize = 60
    var parallelism = 4
    var generator = Repository.python("arith_gen.py", "--dup-every", "7")
    var solver = Repository.python("arith_solve.py")
    var checker = Repository.python("exact_check.py")
    var solverWorkers = 2
    var checkerWorkers = 2
    /// Extra `key: value` lines of the checker section, e.g. `timeout: 1`.
    var checkerOptions: [String] = []
    /// Extra `key: value` lines of the solver section, e.g. `retries: 0`.
    var solverOptions: [String] = []
    /// Extra top-level lines, e.g. `gate: always`.
    var extra: [String] = []

    /// Adds a checker audit: `checker` judges again a share `fraction` of each round's training verdicts.
    mutating func audit(_ checker: [String], fraction: Double) {
        extra += [
            "audit:", "  checker:", "    command: [" + checker.map { "\"\($0)\"" }.joined(separator: ", ") + "]",
            "  fraction: \(fraction)",
        ]
    }

    var yaml: String {
        func list(_ argv: [String]) -> String {
            // JSON string literals are valid YAML double-quoted scalars.
            "[" + argv.map { String(decoding: try! JSONEncoder().encode($0), as: UTF8.self) }.joined(separator: ", ")
                + "]"
        }
        var lines = [
            "name: \(name)", "seed: \(seed)", "round_size: \(roundSize)", "parallelism: \(parallelism)",
            "heldout:", "  size: \(heldoutSize)",
            "generator:", "  command: \(list(generator))",
            "solver:", "  command: \(list(solver))", "  workers: \(solverWorkers)",
        ]
        lines += solverOptions.map { "  " + $0 }
        lines += ["checker:", "  command: \(list(checker))", "  workers: \(checkerWorkers)"]
        lines += checkerOptions.map { "  " + $0 }
        lines += extra
        return lines.joined(separator: "\n") + "\n"
    }
}

typealias Outcome = ChildProcess.Outcome

/// A fresh temporary folder per test holding its pipeline and store; `remove()` kills what it started and deletes it.
final class Sandbox: Sendable {
    let directory: String
    private let children = Mutex<[ChildProcess]>([])

    init() throws {
        try #require(
            FileManager.default.isExecutableFile(atPath: Repository.binary),
            "no flywheel binary at \(Repository.binary): run `swift build` (or -c release) or set FLYWHEEL_BIN")
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("flywheel-e2e-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        directory = Repository.realPath(base.path)
    }

    /// The store every test passes with `--store`.
    var store: String { directory + "/store.sqlite" }

    func path(_ name: String) -> String { directory + "/" + name }

    @discardableResult
    func write(_ name: String, _ text: String) throws -> String {
        let file = path(name)
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    func write(_ pipeline: ArithPipeline, as name: String = "arith.yaml") throws -> String {
        try write(name, pipeline.yaml)
    }

    /// The argv of a fixture plugin (`Repository.python(name, arguments…)`) run behind a wrapper that first appends
    /// the id of every request it reads to `log`, one line a request, whether or not the plugin answers it.
    func logged(_ plugin: String, _ arguments: [String], log: String) throws -> [String] {
        let wrapper = try write(
            "logged_plugin.py",
            """
            import json, os, runpy, sys

            log = sys.argv.pop(1)
            sys.argv = sys.argv[1:]
            # The plugin imports from its own folder, as when python runs it itself.
            sys.path.insert(0, os.path.dirname(os.path.abspath(sys.argv[0])))

            def logged(lines):
                for raw in lines:
                    try:
                        ident = str(json.loads(raw).get("id"))
                    except (ValueError, AttributeError):
                        ident = "?"
                    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                    os.write(fd, (ident + "\\n").encode())
                    os.close(fd)
                    yield raw

            class Stdin:
                def __init__(self, real):
                    self.buffer = logged(real.buffer)

            sys.stdin = Stdin(sys.stdin)
            runpy.run_path(sys.argv[0], run_name="__main__")
            """)
        return ["python3", "-u", wrapper, log, Repository.plugin(plugin)] + arguments
    }

    /// Starts any program in the sandbox folder, in its own process group; `remove()` kills the group if it still runs.
    func start(_ argv: [String]) throws -> ChildProcess {
        let child = try ChildProcess(argv, in: directory, newProcessGroup: true)
        children.withLock { $0.append(child) }
        return child
    }

    /// Starts `flywheel ARGS…` in the background.
    func startFlywheel(_ arguments: [String]) throws -> ChildProcess {
        try start([Repository.binary] + arguments)
    }

    /// Runs `flywheel ARGS…` to the end (the watchdog kills it after `timeout`, failing the test).
    func flywheel(_ arguments: [String], timeout: Duration = .seconds(120)) async throws -> Outcome {
        try await run([Repository.binary] + arguments, timeout: timeout)
    }

    func run(_ argv: [String], timeout: Duration = .seconds(120)) async throws -> Outcome {
        let outcome = try await start(argv).wait(timeout: timeout)
        #expect(!outcome.timedOut, "watchdog: \(outcome)")
        return outcome
    }

    /// Runs one query with the `sqlite3` shell; rows are lines, columns are separated by `|`.
    func sql(_ query: String, store: String? = nil) async throws -> String {
        let outcome = try await run(
            ["sqlite3", "-batch", "-noheader", "-cmd", ".timeout 10000", store ?? self.store, query],
            timeout: .seconds(30))
        try #require(outcome.exitCode == 0, "sqlite3 failed: \(outcome)")
        return outcome.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Every training task (round, then index) and held-out item (index), read through the library: the store keeps
    /// their text compressed, so SQL cannot compare it.
    func taskRows(store: String? = nil) throws -> (tasks: [(round: Int, record: TaskRecord)], heldout: [TaskRecord]) {
        let opened = try Store(path: store ?? self.store, access: .readOnly)
        let tasks = try opened.rounds().flatMap { round in try opened.tasks(round: round.round).map { (round.round, $0) } }
        return (tasks, try opened.heldoutItems())
    }

    /// Every held-out result (round, then index), every column, read through the library: a committed round keeps
    /// its results in one compressed frame (`heldout_packs`) that SQL cannot look into. `round` keeps one round's.
    func heldoutResults(round: Int? = nil, store: String? = nil) throws -> [(round: Int, result: StoredHeldoutResult)] {
        let opened = try Store(path: store ?? self.store, access: .readOnly)
        let rounds = try round.map { [$0] } ?? opened.rounds().map(\.round)
        return try rounds.flatMap { round in try opened.storedHeldoutResults(round: round).map { (round, $0) } }
    }

    /// The decoded text of every task and held-out item, one line each, for comparing two stores.
    func taskText(store: String? = nil) throws -> String {
        let (tasks, heldout) = try taskRows(store: store)
        func line(_ record: TaskRecord) -> String {
            let task = record.task
            return "\(record.index) \(record.status) \(task?.prompt.debugDescription ?? "-") "
                + "\(task?.reference?.jsonText ?? "-") \(task?.meta?.jsonText ?? "-") \(record.promptHash ?? "-")"
        }
        return (tasks.map { "round \($0.round) \(line($0.record))" } + heldout.map { "held-out \(line($0))" })
            .joined(separator: "\n")
    }

    /// One integer from a query, or nil when the store or its tables do not exist yet; for polling a live run.
    func poll(_ query: String, store: String? = nil) async -> Int? {
        let store = store ?? self.store
        guard FileManager.default.fileExists(atPath: store),
            let child = try? start(["sqlite3", "-batch", "-noheader", "-cmd", ".timeout 10000", store, query])
        else { return nil }
        let outcome = await child.wait(timeout: .seconds(30))
        guard outcome.exitCode == 0 else { return nil }
        return Int(outcome.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    func sqlInt(_ query: String, store: String? = nil) async throws -> Int {
        let text = try await sql(query, store: store)
        return try #require(Int(text), "`\(query)` gave \(text.debugDescription), not one integer")
    }

    /// `flywheel status PIPELINE --store STORE --json`, decoded, plus the raw object for key checks.
    func status(_ pipeline: String, store: String? = nil) async throws -> (report: StatusReport, raw: [String: Any]) {
        let outcome = try await flywheel(["status", pipeline, "--store", store ?? self.store, "--json"])
        try #require(outcome.exitCode == 0, "status failed: \(outcome)")
        let data = Data(outcome.stdout.utf8)
        let raw = try #require(
            try JSONSerialization.jsonObject(with: data) as? [String: Any], "status --json is not one object")
        return (try JSONDecoder().decode(StatusReport.self, from: data), raw)
    }

    /// Kills every child still running (with its process group) and deletes the folder.
    func remove() {
        for child in children.withLock({ $0 }) { child.killGroup() }
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// The `status --json` contract of SPEC §5, plus the additive fields these tests compare.
struct StatusReport: Decodable, Equatable {
    var pipeline: String
    var rounds: [RoundStatus]
}

struct RoundStatus: Decodable, Equatable {
    var round: Int
    var state: String
    var generated: Int
    var accepted: Int
    var heldout: Heldout?
    var vsPrevious: Comparison?
    // Additive fields (not in the SPEC §5 contract).
    var duplicates: Int?
    var contaminated: Int?
    var attempts: Int?
    var errors: Int?
    var retries: Int?
    var difficulty: Int?

    struct Heldout: Decodable, Equatable {
        var n: Int
        var score: Double
        var ci: [Double]
    }

    struct Comparison: Decodable, Equatable {
        var b: Int
        var c: Int
        var pValue: Double
        var verdict: String

        enum CodingKeys: String, CodingKey {
            case b, c, verdict
            case pValue = "p_value"
        }
    }

    enum CodingKeys: String, CodingKey {
        case round, state, generated, accepted, heldout, duplicates, contaminated, attempts, errors, retries
        case difficulty
        case vsPrevious = "vs_previous"
    }
}
