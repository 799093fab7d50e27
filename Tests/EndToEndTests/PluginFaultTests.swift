import Foundation
import Testing

/// Plugins that cannot work must fail the run, with nothing promoted; plugins that fail now and then must lose
/// nothing. Every case runs the binary and reads the store with the `sqlite3` shell.
@Suite("Plugin faults")
struct PluginFaultTests {
    /// The store holds no promoted version and round 0 is `failed`: nothing was committed.
    func expectNothingPromoted(_ sandbox: Sandbox, round: Int = 0) async throws {
        #expect(
            try await sandbox.sqlInt("select count(*) from solver_versions where promoted = 1 and round >= \(round)")
                == 0)
        #expect(try await sandbox.sql("select state from rounds where round = \(round)") == "failed")
    }

    @Test("a checker that dies at start-up fails the run at its first request: exit 1, its stderr, plugin.fault")
    func aCheckerThatDiesAtStartUp() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        var arith = ArithPipeline()
        arith.heldoutSize = 20
        arith.checker = ["python3", "-c", "import sys; print('checker: no rules file', file=sys.stderr); sys.exit(3)"]
        let pipeline = try sandbox.write(arith)
        let run = try await sandbox.flywheel(["run", pipeline, "--rounds", "2", "--store", sandbox.store])
        #expect(run.exitCode == 1, "\(run)")
        #expect(run.stderr.contains("flywheel: the checker `python3 -c"), "\(run.stderr)")
        #expect(run.stderr.contains("cannot start: it exited before reading its first request (exit status 3)"))
        #expect(run.stderr.contains("checker: no rules file"), "the stderr tail: \(run.stderr)")
        // Three tries (two retries) of the requests already sent to its two workers, then the run stops: not
        // three tries of every item.
        let faults = run.stderr.split(separator: "\n").filter { $0.contains("plugin.fault") }
        #expect((3...6).contains(faults.count), "\(faults)")
        #expect(faults.contains { $0.contains("then=\"the run stops\"") }, "\(faults)")
        try await expectNothingPromoted(sandbox)
        #expect(try sandbox.heldoutResults().isEmpty, "no item recorded as an error")
    }

    /// A checker that runs but cannot judge, and what its every answer is recorded as.
    struct Broken: Sendable, CustomTestStringConvertible {
        var mode: String
        var kind: String
        var options: [String] = []
        var testDescription: String { mode }
    }

    @Test(
        "a baseline whose held-out evaluation is all errors is not committed: exit 1, the rate, the stderr tail",
        arguments: [
            Broken(mode: "hang", kind: "timeout", options: ["timeout: 1", "startup_timeout: 4", "retries: 0"]),
            Broken(mode: "garbage", kind: "malformed"),
            Broken(mode: "crash", kind: "crash", options: ["retries: 1"]),
        ])
    func aCheckerThatFailsEveryRequest(_ broken: Broken) async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        var arith = ArithPipeline()
        arith.heldoutSize = 4
        arith.checker = Repository.python("faulty_check.py", "--mode", broken.mode, "--every", "1")
        arith.checkerOptions = broken.options
        let pipeline = try sandbox.write(arith)
        let run = try await sandbox.flywheel(["run", pipeline, "--rounds", "1", "--store", sandbox.store])
        #expect(run.exitCode == 1, "\(run)")
        #expect(
            run.stderr.contains(
                "round 0: the checker `\(arith.checker.joined(separator: " "))` failed 4 of 4 held-out items (100%), "
                    + "more than max_error_rate 0.5 allows: \(broken.kind) 4"), "\(run.stderr)")
        if broken.mode != "hang" {
            // A hung worker is killed at its timeout, which may come before its last stderr line is read.
            #expect(run.stderr.contains("faulty_check: injecting '\(broken.mode)'"), "the stderr tail: \(run.stderr)")
        }
        try await expectNothingPromoted(sandbox)
        let status = try await sandbox.status(pipeline)
        #expect(status.report.rounds.map(\.state) == ["failed"])
    }

    @Test("max_error_rate lets a round with that share of errors through")
    func theBudgetIsConfigurable() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        var arith = ArithPipeline()
        arith.heldoutSize = 6
        arith.checker = Repository.python("faulty_check.py", "--mode", "error", "--every", "1")
        arith.extra = ["max_error_rate: 1"]
        let pipeline = try sandbox.write(arith)
        let run = try await sandbox.flywheel(["round", pipeline, "--store", sandbox.store])
        #expect(run.exitCode == 0, "\(run)")
        #expect(try sandbox.heldoutResults().count { $0.result.errorKind == "refused" } == 6)
    }

    @Test("a round over budget in training fails before learning; fixed, it resumes and checks its failed items again")
    func aTrainingRoundOverBudgetFailsAndResumes() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        var arith = ArithPipeline()
        arith.heldoutSize = 10
        arith.roundSize = 12
        let state = sandbox.path("flaky")
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        // Garbage for every check of round 1's training tasks; held-out checks (r0-hc…, r1-hc…) are served.
        arith.checker =
            Repository.python("flaky.py", "--state", state, "--mode", "garbage", "--always", "--match", "^r1-c-?\\d")
            + ["--"] + Repository.python("exact_check.py")
        let pipeline = try sandbox.write(arith)
        let failed = try await sandbox.flywheel(["run", pipeline, "--rounds", "1", "--store", sandbox.store])
        #expect(failed.exitCode == 1, "\(failed)")
        #expect(failed.stderr.contains("round 1: the checker"), "\(failed.stderr)")
        #expect(failed.stderr.contains("training check requests (100%)"), "\(failed.stderr)")
        #expect(failed.stderr.contains("malformed"), "\(failed.stderr)")
        #expect(failed.stderr.contains("flaky: injecting garbage"), "the stderr tail: \(failed.stderr)")
        #expect(
            try await sandbox.sql("select round || '=' || state from rounds order by round") == "0=promoted\n1=failed")
        #expect(try await sandbox.sqlInt("select count(*) from solver_versions where round = 1") == 0, "not learned")
        let (status, _) = try await sandbox.status(pipeline)
        #expect(status.rounds.map(\.state) == ["promoted", "failed"])

        arith.checker = Repository.python("exact_check.py")
        _ = try sandbox.write(arith)
        let resumed = try await sandbox.flywheel(["run", pipeline, "--rounds", "1", "--store", sandbox.store])
        #expect(resumed.exitCode == 0, "\(resumed)")
        #expect(resumed.stderr.contains("retrying_errors="), "\(resumed.stderr)")
        #expect(try await sandbox.sql("select state from rounds where round = 1") != "failed")
        #expect(
            try await sandbox.sqlInt(
                """
                select count(*) from verdicts v join attempts a on a.id = v.attempt_id join tasks t on t.id = a.task_id
                where t.round = 1 and v.error_kind is not null
                """) == 0, "every failed check was made again")
        let verify = try await sandbox.flywheel(["verify-store", pipeline, "--store", sandbox.store])
        #expect(verify.exitCode == 0, "\(verify)")
    }

    /// Retried with the same request, counted in status and the report, the data equal to a run without faults.
    @Test("a solver and a checker that die once on some items lose none of them", arguments: ["crash", "wrongid"])
    func transientFaultsLoseNothing(mode: String) async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        var clean = ArithPipeline()
        clean.heldoutSize = 12
        clean.roundSize = 15
        var flaky = clean
        let (solverState, checkerState) = (sandbox.path("solver-faults"), sandbox.path("checker-faults"))
        for folder in [solverState, checkerState] {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        }
        flaky.solver =
            Repository.python("flaky.py", "--state", solverState, "--mode", mode, "--every", "3", "--match", "^r", "--")
            + clean.solver
        flaky.checker =
            Repository.python("flaky.py", "--state", checkerState, "--mode", mode, "--every", "4", "--match", "^r", "--")
            + clean.checker
        let cleanStore = sandbox.path("clean.sqlite")
        let cleanFile = try sandbox.write(clean, as: "clean.yaml")
        let flakyFile = try sandbox.write(flaky, as: "flaky.yaml")
        let reference = try await sandbox.flywheel(["run", cleanFile, "--rounds", "1", "--store", cleanStore])
        #expect(reference.exitCode == 0, "\(reference)")
        // One round per process: the counts must come from the store, not from a run's memory.
        for _ in 0..<2 {
            let run = try await sandbox.flywheel(["round", flakyFile, "--store", sandbox.store])
            #expect(run.exitCode == 0, "\(run)")
        }

        let injected = try [solverState, checkerState].map {
            try FileManager.default.contentsOfDirectory(atPath: $0).count
        }
        #expect(injected.allSatisfy { $0 > 0 }, "faults injected into solver and checker: \(injected)")
        let errors = try await sandbox.sqlInt(
            """
            select (select count(*) from attempts where error_kind is not null)
                 + (select count(*) from verdicts where error_kind is not null)
            """) + sandbox.heldoutResults().count { $0.result.errorKind != nil }
        #expect(errors == 0, "every faulted item was retried")
        let (status, raw) = try await sandbox.status(flakyFile)
        #expect(status.rounds.compactMap(\.retries).reduce(0, +) == injected.reduce(0, +), "\(status.rounds)")
        let rounds = try #require(raw["rounds"] as? [[String: Any]])
        #expect(rounds.allSatisfy { $0["retries"] is Int }, "status --json carries `retries` on every round")
        let stored = try await sandbox.sqlInt(
            """
            select (select sum(retries) from attempts) + (select sum(retries) from verdicts)
            """) + sandbox.heldoutResults().map(\.result.retries).reduce(0, +)
        #expect(stored == injected.reduce(0, +))

        // The same requests (same seeds) were answered: the data and the measurements equal the clean run's.
        let (reference_status, _) = try await sandbox.status(cleanFile, store: cleanStore)
        func measured(_ report: StatusReport) -> [String] {
            report.rounds.map {
                "\($0.round) \($0.state) \($0.generated) \($0.accepted) \(String(describing: $0.heldout))"
            }
        }
        #expect(measured(status) == measured(reference_status))
        let exports = try await [(flakyFile, sandbox.store), (cleanFile, cleanStore)].asyncMap { file, store in
            let out = sandbox.path(UUID().uuidString + ".jsonl")
            let export = try await sandbox.flywheel(["export", file, "--store", store, "--out", out])
            #expect(export.exitCode == 0, "\(export)")
            return try String(contentsOfFile: out, encoding: .utf8)
                .replacingOccurrences(of: flaky.checker.joined(separator: " "), with: "CHECKER")
                .replacingOccurrences(of: clean.checker.joined(separator: " "), with: "CHECKER")
        }
        #expect(exports[0] == exports[1], "the export of the retried run equals the clean run's")

        let report = sandbox.path("report.json")
        let written = try await sandbox.flywheel(["report", flakyFile, "--store", sandbox.store, "--out", report])
        #expect(written.exitCode == 0, "\(written)")
        let json = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: report))) as? [String: Any])
        let counts = try #require((json["rounds"] as? [[String: Any]])?.compactMap { $0["counts"] as? [String: Any] })
        #expect(counts.compactMap { $0["retries"] as? Int }.reduce(0, +) == injected.reduce(0, +))
    }
}

extension Array {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var results: [T] = []
        for element in self { results.append(try await transform(element)) }
        return results
    }
}
