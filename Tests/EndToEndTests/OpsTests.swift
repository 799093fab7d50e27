import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The operator's side: `flywheel init`, the crontab entry, the metrics file and the systemd units in `ops/`.
@Suite("Operations")
struct OpsTests {
    @Test("`flywheel init` writes a pipeline that runs: round 0 is promoted, a second round commits round 1")
    func initOutputRuns() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let folder = sandbox.path("my-pipeline")
        let made = try await sandbox.flywheel(["init", folder])
        try #require(made.exitCode == 0, "\(made)")
        #expect(made.stdout.contains("flywheel round \(folder)/pipeline.yaml"), "no next steps: \(made)")
        for program in ["generate.py", "solve.py", "check.py"] {
            #expect(
                FileManager.default.isExecutableFile(atPath: folder + "/" + program), "\(program) is not executable")
        }
        let pipeline = folder + "/pipeline.yaml"

        let first = try await sandbox.flywheel(["round", pipeline, "--store", sandbox.store])
        try #require(first.exitCode == 0, "\(first)")
        let (baseline, raw) = try await sandbox.status(pipeline)
        #expect(raw["pipeline"] as? String == "my-pipeline")
        #expect(baseline.rounds.map(\.round) == [0])
        #expect(baseline.rounds.first?.state == "promoted", "\(baseline.rounds)")
        #expect(baseline.rounds.first?.heldout?.n == 30, "\(baseline.rounds)")

        let second = try await sandbox.flywheel(["round", pipeline, "--store", sandbox.store])
        try #require(second.exitCode == 0, "\(second)")
        let (after, _) = try await sandbox.status(pipeline)
        #expect(after.rounds.map(\.round) == [0, 1], "\(after.rounds)")
        let round1 = try #require(after.rounds.last)
        #expect(["promoted", "rejected"].contains(round1.state), "\(round1)")
        #expect(round1.generated == 20 && round1.accepted > 0, "\(round1)")
        #expect(round1.vsPrevious != nil, "\(round1)")
    }

    @Test("`flywheel init` refuses a folder holding its files (exit 64, nothing changed) unless --force")
    func initRefusesToOverwrite() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let folder = sandbox.path("pipe")
        try #require(try await sandbox.flywheel(["init", folder]).exitCode == 0)
        let solver = folder + "/solve.py"
        try "# my own solver\n".write(toFile: solver, atomically: true, encoding: .utf8)

        let refused = try await sandbox.flywheel(["init", folder])
        #expect(refused.exitCode == 64, "\(refused)")
        #expect(refused.stderr.contains("solve.py") && refused.stderr.contains("--force"), "\(refused)")
        #expect(try String(contentsOfFile: solver, encoding: .utf8) == "# my own solver\n")

        let forced = try await sandbox.flywheel(["init", folder, "--force"])
        #expect(forced.exitCode == 0, "\(forced)")
        #expect(try String(contentsOfFile: solver, encoding: .utf8).contains("op"))

        let badName = try await sandbox.flywheel(["init", sandbox.path("other"), "--name", "no spaces please"])
        #expect(badName.exitCode == 64, "\(badName)")
        #expect(!FileManager.default.fileExists(atPath: sandbox.path("other")))
    }

    @Test("`flywheel init` writes exactly the embedded templates, which examples/protocol links to")
    func examplesAreInitOutput() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let folder = sandbox.path("protocol")
        try #require(try await sandbox.flywheel(["init", folder, "--name", "example"]).exitCode == 0)
        let examples = Repository.root + "/examples/protocol"
        let written = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
        #expect(try FileManager.default.contentsOfDirectory(atPath: examples).sorted() == written)
        for name in written {
            let expected = try String(contentsOfFile: folder + "/" + name, encoding: .utf8)
            let actual = try String(contentsOfFile: examples + "/" + name, encoding: .utf8)
            #expect(
                actual == expected, "examples/protocol/\(name) differs from what init wrote")
        }
    }

    @Test("the crontab command, started twice at once: one commits a round (exit 0), the other exits 75")
    func cronCommandRunsOnceAtATime() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let folder = sandbox.path("cron")
        try #require(try await sandbox.flywheel(["init", folder]).exitCode == 0)
        try slowDownSolver(in: folder, seconds: 0.05)
        let metrics = sandbox.path("metrics/flywheel-cron.prom")
        try FileManager.default.createDirectory(atPath: sandbox.path("metrics"), withIntermediateDirectories: true)
        let log = sandbox.path("cron.log")
        let command = try CronEntry.command(
            pipeline: folder + "/pipeline.yaml", store: sandbox.store, metrics: metrics, log: log, directory: folder)

        let children = try [sandbox.start(["/bin/sh", "-c", command]), sandbox.start(["/bin/sh", "-c", command])]
        var outcomes: [Outcome] = []
        for child in children { outcomes.append(await child.wait(timeout: .seconds(120))) }
        #expect(outcomes.compactMap(\.exitCode).sorted() == [0, 75], "\(outcomes)")
        let (status, _) = try await sandbox.status(folder + "/pipeline.yaml")
        #expect(status.rounds.map(\.round) == [0] && status.rounds.first?.state == "promoted", "\(status.rounds)")

        // The log holds one JSON event a line; the refused run adds its one-line message.
        let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
        let events = lines.compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
        }
        let commit = try #require(events.first { $0["event"] as? String == "round.commit" }, "\(lines.suffix(5))")
        // Numbers are JSON numbers, not strings, so a log pipeline can sum and compare them.
        #expect(commit["round"] as? Int == 0 && commit["accepted"] as? Int == 0, "\(commit)")
        #expect((commit["heldout_score"] as? Double).map { (0...1).contains($0) } == true, "\(commit)")
        #expect(commit["state"] as? String == "promoted")
        #expect(
            lines.count - events.count <= 1, "lines that are not JSON events: \(lines.filter { !$0.hasPrefix("{") })")
        let exposition = try String(contentsOfFile: metrics, encoding: .utf8)
        #expect(Exposition.problem(in: exposition) == nil, "\(exposition)")
        #expect(Exposition.value("flywheel_round", in: exposition) == 0)

        // The next tick, alone, commits the next round.
        let next = try await sandbox.run(["/bin/sh", "-c", command])
        #expect(next.exitCode == 0, "\(next)")
        let updated = try String(contentsOfFile: metrics, encoding: .utf8)
        #expect(Exposition.value("flywheel_round", in: updated) == 1, "\(updated)")
    }

    @Test("while rounds commit, every read of the metrics file is a complete exposition matching `status --json`")
    func metricsFileIsNeverHalfWritten() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let folder = sandbox.path("metrics-pipeline")
        try #require(try await sandbox.flywheel(["init", folder]).exitCode == 0)
        let pipeline = folder + "/pipeline.yaml"
        let metrics = sandbox.path("flywheel.prom")
        let reader = MetricsReader(path: metrics)
        reader.start()

        let run = try await sandbox.flywheel(
            ["run", pipeline, "--rounds", "8", "--store", sandbox.store, "--metrics-file", metrics],
            timeout: .seconds(300))
        let rounds = try await sandbox.flywheel(
            ["round", pipeline, "--store", sandbox.store, "--metrics-file", metrics, "--log-format", "json"])
        let seen = await reader.stop()
        try #require(run.exitCode == 0, "\(run)")
        try #require(rounds.exitCode == 0, "\(rounds)")

        let torn = seen.problems.count
        #expect(torn == 0, "torn or invalid reads (of \(seen.reads)): \(seen.problems.prefix(3))")
        #expect(seen.reads > 20, "the reader read only \(seen.reads) times")
        #expect(
            seen.rounds.count >= 3, "the reader saw rounds \(seen.rounds.sorted()) only: it did not read during the run"
        )
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: sandbox.directory).filter {
            $0.contains(".prom.tmp")
        }
        #expect(leftovers.isEmpty, "temporary files left: \(leftovers)")

        let final = try String(contentsOfFile: metrics, encoding: .utf8)
        let (status, _) = try await sandbox.status(pipeline)
        let last = try #require(status.rounds.last)
        #expect(last.round == 9)
        #expect(Exposition.value("flywheel_round", in: final) == Double(last.round))
        #expect(Exposition.value("flywheel_heldout_score", in: final) == last.heldout?.score)
        #expect(Exposition.value("flywheel_heldout_ci_low", in: final) == last.heldout?.ci.first)
        #expect(Exposition.value("flywheel_accepted", in: final) == Double(last.accepted))
        #expect(
            Exposition.value("flywheel_accepted_total", in: final) == Double(status.rounds.map(\.accepted).reduce(0, +))
        )
        #expect(final.contains("flywheel_round_state{pipeline=\"metrics-pipeline\",state=\"\(last.state)\"} 1"))

        let badFolder = try await sandbox.flywheel(
            ["round", pipeline, "--store", sandbox.store, "--metrics-file", sandbox.path("missing/x.prom")])
        #expect(badFolder.exitCode == 64, "\(badFolder)")
    }

    @Test("the systemd service and timer units are valid and run `flywheel round` as a oneshot that accepts exit 75")
    func systemdUnitsParse() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let units = Repository.root + "/ops/systemd"
        let serviceText = try String(contentsOfFile: units + "/flywheel-round@.service", encoding: .utf8)
        let timerText = try String(contentsOfFile: units + "/flywheel-round@.timer", encoding: .utf8)
        let service = UnitFile(serviceText)
        let timer = UnitFile(timerText)

        #expect(service["Service", "Type"] == ["oneshot"])
        #expect(service["Service", "WorkingDirectory"].count == 1)
        #expect(service["Service", "SuccessExitStatus"].contains { $0.split(separator: " ").contains("75") })
        let exec = try #require(service["Service", "ExecStart"].first?.split(separator: " ").map(String.init))
        #expect(service["Service", "ExecStart"].count == 1)
        #expect(exec.first?.hasSuffix("/flywheel") == true && exec.dropFirst().first == "round", "\(exec)")
        #expect(exec.contains { $0.contains("%i") }, "the instance name should choose the pipeline: \(exec)")
        for (option, value) in [("--store", nil), ("--metrics-file", nil), ("--log-format", "json")] {
            let index = try #require(exec.firstIndex(of: option), "ExecStart lacks \(option)")
            #expect(index + 1 < exec.count && (value == nil || exec[index + 1] == value), "\(exec)")
        }
        #expect(timer["Timer", "OnCalendar"].count == 1)
        #expect(timer["Timer", "Persistent"] == ["true"])
        #expect(timer["Install", "WantedBy"] == ["timers.target"])

        guard Repository.onPath("systemd-analyze") else { return }
        // `verify` needs an instance name and an executable ExecStart: the binary under test stands in.
        let servicePath = try sandbox.write(
            "flywheel-round@ops-test.service",
            serviceText.replacingOccurrences(of: exec[0], with: Repository.binary))
        let timerPath = try sandbox.write("flywheel-round@ops-test.timer", timerText)
        let verify = try await sandbox.run(["systemd-analyze", "verify", "--man=no", servicePath, timerPath])
        #expect(verify.exitCode == 0, "\(verify)")
        let complaints = verify.stderr.split(separator: "\n").filter { $0.contains("flywheel-round@ops-test") }
        #expect(complaints.isEmpty, "\(complaints)")
    }

    /// Puts a relay in front of the scaffold's solver that waits `seconds` before each request, so a round lasts.
    private func slowDownSolver(in folder: String, seconds: Double) throws {
        let relay = """
            import subprocess, sys, time
            solver = subprocess.Popen([sys.executable, "-u", "solve.py"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            for line in sys.stdin:
                time.sleep(\(seconds))
                solver.stdin.write(line)
                solver.stdin.flush()
                sys.stdout.write(solver.stdout.readline())
                sys.stdout.flush()

            """
        try relay.write(toFile: folder + "/slow_solve.py", atomically: true, encoding: .utf8)
        let file = folder + "/pipeline.yaml"
        let yaml = try String(contentsOfFile: file, encoding: .utf8)
        let slowed = yaml.replacingOccurrences(of: "[python3, -u, solve.py]", with: "[python3, -u, slow_solve.py]")
        try #require(slowed != yaml, "the scaffold's solver command changed; update this test")
        try slowed.write(toFile: file, atomically: true, encoding: .utf8)
    }
}

/// The entry of `ops/crontab.example`, with its paths replaced by a test's.
enum CronEntry {
    static func command(pipeline: String, store: String, metrics: String, log: String, directory: String) throws
        -> String
    {
        let text = try String(contentsOfFile: Repository.root + "/ops/crontab.example", encoding: .utf8)
        let entries = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { line in
            !line.isEmpty && !line.hasPrefix("#")
                && line.range(of: #"^[A-Za-z_][A-Za-z0-9_]*="#, options: .regularExpression) == nil
        }
        let entry = try #require(entries.count == 1 ? entries.first : nil, "expected one cron entry, got \(entries)")
        let fields = entry.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        try #require(fields.count > 5, "a cron entry is five time fields and a command: \(entry)")
        #expect(fields[0].hasPrefix("*/"), "the entry should run every N minutes: \(fields[0])")
        var words = Array(fields.dropFirst(5))
        #expect(!words.contains { $0.contains("\"") || $0.contains("'") || $0.contains("$") }, "\(words)")

        var replaced: Set<String> = []
        for index in words.indices {
            let previous = index > 0 ? words[index - 1] : ""
            let word = words[index]
            if word.hasSuffix("/flywheel") && words.indices.contains(index + 1) && words[index + 1] == "round" {
                words[index] = Repository.binary
                replaced.insert("binary")
            } else if previous == "cd" {
                words[index] = directory
                replaced.insert("cd")
            } else if previous == "round" {
                words[index] = pipeline
                replaced.insert("pipeline")
            } else if previous == "--store" {
                words[index] = store
                replaced.insert("store")
            } else if previous == "--metrics-file" {
                words[index] = metrics
                replaced.insert("metrics")
            } else if word.hasPrefix("2>>") {
                words[index] = "2>>" + log
                replaced.insert("log")
            }
        }
        #expect(replaced == ["binary", "cd", "pipeline", "store", "metrics", "log"], "\(entry)")
        let json = words.firstIndex(of: "--log-format").map {
            words.indices.contains($0 + 1) && words[$0 + 1] == "json"
        }
        #expect(json == true, "the entry should log JSON: \(entry)")
        return words.joined(separator: " ")
    }
}

/// Checks of the Prometheus text format, as node_exporter's textfile collector reads it.
enum Exposition {
    /// Why `text` is not one complete exposition of Flywheel's metrics, or nil when it is.
    static func problem(in text: String) -> String? {
        guard !text.isEmpty else { return "empty" }
        guard text.hasSuffix("\n") else { return "no final newline" }
        var typed: Set<String> = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).dropLast() {
            if line.hasPrefix("# TYPE ") {
                let parts = line.split(separator: " ")
                guard parts.count == 4, ["gauge", "counter"].contains(parts[3]) else { return "bad TYPE: \(line)" }
                typed.insert(String(parts[2]))
                continue
            }
            if line.hasPrefix("# HELP ") { continue }
            guard let (name, value) = sample(line) else { return "not `name{labels} value`: \(line)" }
            guard typed.contains(name) else { return "\(name) has no TYPE line before it" }
            guard Double(value) != nil || ["NaN", "+Inf", "-Inf"].contains(value) else { return "bad value: \(line)" }
        }
        return typed.contains("flywheel_heldout_score") ? nil : "no flywheel_heldout_score"
    }

    /// The value of the first sample named `name`.
    static func value(_ name: String, in text: String) -> Double? {
        text.split(separator: "\n").lazy.compactMap(sample).first { $0.0 == name }.flatMap { Double($0.1) }
    }

    private static func sample(_ line: Substring) -> (String, String)? {
        guard
            let match = line.wholeMatch(
                of: #/([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? (\S+)/#)
        else { return nil }
        return (String(match.1), String(match.5))
    }
}

/// Reads a file in a tight loop on its own thread and records every read that is not a complete exposition.
final class MetricsReader: Sendable {
    struct Seen: Sendable {
        var reads = 0
        var problems: [String] = []
        var rounds: Set<Int> = []
        var stopped = false
        var finished = false
    }

    let path: String
    private let state = Mutex(Seen())

    init(path: String) {
        self.path = path
    }

    func start() {
        Thread { [self] in
            while !state.withLock({ $0.stopped }) {
                // A missing file is fine (before the first round commits); a present one must be whole.
                guard let data = FileManager.default.contents(atPath: path) else {
                    usleep(1000)
                    continue
                }
                let text = String(decoding: data, as: UTF8.self)
                let problem = Exposition.problem(in: text)
                let round = Exposition.value("flywheel_round", in: text).map { Int($0) }
                state.withLock { seen in
                    seen.reads += 1
                    if let problem { seen.problems.append("\(problem) in \(text.count) bytes") }
                    if let round { seen.rounds.insert(round) }
                }
            }
            state.withLock { $0.finished = true }
        }.start()
    }

    /// Stops the thread and returns what it saw.
    func stop() async -> Seen {
        state.withLock { $0.stopped = true }
        while !state.withLock({ $0.finished }) { try? await Task.sleep(for: .milliseconds(5)) }
        return state.withLock { $0 }
    }
}

/// A systemd unit file's settings: every value of a key, by section.
struct UnitFile {
    private var values: [String: [String]] = [:]

    init(_ text: String) {
        var section = ""
        for raw in text.split(separator: "\n") {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("["), line.hasSuffix("]") {
                section = String(line.dropFirst().dropLast())
            } else if let equals = line.firstIndex(of: "=") {
                let key = line[..<equals].trimmingCharacters(in: .whitespaces)
                let value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
                values[section + "." + key, default: []].append(value)
            }
        }
    }

    subscript(section: String, key: String) -> [String] { values[section + "." + key] ?? [] }
}
