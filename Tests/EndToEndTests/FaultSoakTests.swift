import Foundation
import Processes
import Testing

/// Faults thrown at the real binary many times over, bounded in time for CI: whatever happens, no store is corrupt,
/// no committed row is lost or changed, and the run that finishes equals the uninterrupted one.
@Suite("Fault soak", .serialized)
struct FaultSoakTests {
    /// SplitMix64 from the trial number: the kill times are random-looking but the same on every run.
    static func unit(_ trial: Int, salt: UInt64 = 0) -> Double {
        var z = UInt64(trial) &* 0x9E37_79B9_7F4A_7C15 &+ salt
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Double(z >> 11) / Double(1 << 53)
    }

    /// Rows of the committed rounds `rounds`, which must never change once committed.
    static func committedRows(_ sandbox: Sandbox, store: String, rounds: [Int]) async throws -> String {
        guard !rounds.isEmpty else { return "" }
        let list = rounds.map(String.init).joined(separator: ",")
        let queries = [
            "select round, state, solver_version, difficulty, data_policy, gate, summary from rounds "
                + "where round in (\(list)) order by round",
            "select round, idx, seed, status, hex(task), hex(prompt_hash) from tasks where round in (\(list)) order by 1, 2",
            """
            select t.round, t.idx, a.attempt, a.seed, a.answer, v.accept, v.score, e.checksum
            from attempts a join tasks t on t.id = a.task_id left join verdicts v on v.attempt_id = a.id
            left join examples e on e.attempt_id = a.id where t.round in (\(list)) order by 1, 2, 3
            """,
            "select idx, seed, status, hex(task) from heldout_items order by idx",
        ]
        var rows: [String] = []
        for query in queries { rows.append(try await sandbox.sql(query, store: store)) }
        // Held-out results of committed rounds are packed: read through the library.
        let heldout = try rounds.flatMap { round in try sandbox.heldoutResults(round: round, store: store) }
        rows.append(
            heldout.map { "\($0.round)|\($0.result.index)|\($0.result.answer ?? "")|\($0.result.accept)|\($0.result.score)" }
                .joined(separator: "\n"))
        return rows.joined(separator: "\n--\n")
    }

    static func committedRounds(_ sandbox: Sandbox, store: String) async -> [Int] {
        guard FileManager.default.fileExists(atPath: store),
            let text = try? await sandbox.sql(
                "select group_concat(round) from rounds where state in ('promoted', 'rejected')", store: store)
        else { return [] }
        return text.split(separator: ",").compactMap { Int($0) }
    }

    /// The arith pipeline, its plugins wrapped in `flaky.py` when `faults` is set: the solver crashes on every 5th
    /// id and answers a 64 KiB line (over its 4 KiB cap) on every 11th, the checker hangs past its 1 s timeout on
    /// every 7th. Crashes and hangs happen once per id and are retried; oversize
    /// lines happen every time and are recorded as errors. The record of faults injected is kept in `faults/` next
    /// to the pipeline file (the plugins' working directory), so each run has its own and the argv is the same.
    static func pipeline(_ sandbox: Sandbox, faults: Bool, folder: String) throws -> ArithPipeline {
        var arith = ArithPipeline()
        arith.roundSize = 40
        arith.solver = Repository.python("arith_solve.py", "--delay", "0.01")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        guard faults else { return arith }
        func flaky(_ mode: String, every: Int, always: Bool = false, _ program: [String]) -> [String] {
            Repository.python("flaky.py", "--state", "faults/" + mode, "--mode", mode, "--every", "\(every)")
                + (always ? ["--always"] : []) + ["--"] + program
        }
        for mode in ["crash", "hang", "oversize"] {
            try FileManager.default.createDirectory(
                atPath: folder + "/faults/" + mode, withIntermediateDirectories: true)
        }
        arith.solver = flaky("oversize", every: 11, always: true, flaky("crash", every: 5, arith.solver))
        arith.checker = flaky("hang", every: 7, arith.checker)
        arith.solverOptions = ["max_response_bytes: 4096", "retries: 2"]
        arith.checkerOptions = ["timeout: 1", "retries: 2"]
        arith.extra = ["max_error_rate: 0.5"]
        return arith
    }

    @Test(
        "20 kill -9 at random moments, with and without plugin faults: never corrupt, nothing committed lost or changed, resumed == uninterrupted",
        arguments: [false, true])
    func killNineAtRandomMoments(faults: Bool) async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let resumedFile = try sandbox.write(
            try Self.pipeline(sandbox, faults: faults, folder: sandbox.path("resumed")), as: "resumed/arith.yaml")
        let referenceFile = try sandbox.write(
            try Self.pipeline(sandbox, faults: faults, folder: sandbox.path("reference")), as: "reference/arith.yaml")
        let pipeline = resumedFile
        let resumed = sandbox.path("resumed.sqlite")
        let reference = sandbox.path("reference.sqlite")
        let run = ["run", pipeline, "--rounds", "3"]
        async let uninterrupted = sandbox.flywheel(
            ["run", referenceFile, "--rounds", "3", "--store", reference], timeout: .seconds(600))

        let trials = 20
        var kills = 0
        var committed: [Int] = []
        var snapshot = ""
        for trial in 0..<trials {
            // Kill after 30–330 ms: early in start-up, mid-item, mid-commit; wherever it lands.
            let delay = 0.03 + 0.3 * Self.unit(trial)
            let child = try sandbox.startFlywheel(run + ["--store", resumed])
            let started = monotonicSeconds()
            let outcome = await child.wait(timeout: .seconds(120), interval: .milliseconds(5)) {
                monotonicSeconds() - started >= delay
            }
            if outcome.killedBySIGKILL {
                kills += 1
            } else {
                #expect(outcome.exitCode == 0, "trial \(trial): \(outcome)")
            }
            guard FileManager.default.fileExists(atPath: resumed) else { continue }
            let verify = try await sandbox.flywheel(["verify-store", pipeline, "--store", resumed])
            // Killed before its first migration committed: the file holds no Flywheel tables yet, and nothing is lost.
            if committed.isEmpty, verify.exitCode == 1, verify.stderr.contains("is an empty database") { continue }
            #expect(verify.exitCode == 0 && verify.stdout.hasPrefix("ok"), "trial \(trial): \(verify)")
            // What was committed before this kill is still there, byte for byte.
            let again = try await Self.committedRows(sandbox, store: resumed, rounds: committed)
            #expect(again == snapshot, "trial \(trial): committed rows changed")
            committed = await Self.committedRounds(sandbox, store: resumed)
            snapshot = try await Self.committedRows(sandbox, store: resumed, rounds: committed)
        }
        let last = try await sandbox.flywheel(run + ["--store", resumed], timeout: .seconds(600))
        #expect(last.exitCode == 0, "\(last)")
        let finished = try await uninterrupted
        try #require(finished.exitCode == 0, "\(finished)")
        #expect(kills >= trials / 2, "only \(kills) of \(trials) trials killed a running run")

        let (expected, _) = try await sandbox.status(referenceFile, store: reference)
        let (actual, _) = try await sandbox.status(pipeline, store: resumed)
        #expect(expected.rounds.map(\.round) == [0, 1, 2, 3])
        // A fault injected just before a kill is not injected again on resuming: retry counts may differ, nothing else.
        func comparable(_ rounds: [RoundStatus]) -> [RoundStatus] {
            rounds.map { round in
                var round = round
                if faults { round.retries = nil }
                return round
            }
        }
        #expect(comparable(actual.rounds) == comparable(expected.rounds))
        for (label, query) in DurabilityTests.contents {
            let want = try await sandbox.sql(query, store: reference)
            let got = try await sandbox.sql(query, store: resumed)
            #expect(want == got, "\(label) differ: \(DurabilityTests.firstDifference(want, got))")
        }
        let exports = ["reference", "resumed"].map { sandbox.path("\($0).jsonl") }
        for (file, store, out) in zip3([referenceFile, resumedFile], [reference, resumed], exports) {
            let export = try await sandbox.flywheel(["export", file, "--store", store, "--out", out])
            try #require(export.exitCode == 0, "\(export)")
        }
        #expect(FileManager.default.contents(atPath: exports[0]) == FileManager.default.contents(atPath: exports[1]))
        if faults {
            // The faults really happened, and the crashes and hangs were retried rather than lost.
            let errors = try await sandbox.sqlInt(
                "select count(*) from attempts where error_kind = 'too-large'", store: reference)
            #expect(errors > 0, "no oversize answer was recorded")
            let crashes = try await sandbox.sqlInt(
                "select count(*) from attempts where error_kind = 'crash'", store: reference)
            #expect(crashes == 0, "a crash once per id must be retried, not recorded")
            let retried = try await sandbox.sqlInt(
                "select (select sum(retries) from attempts) + (select sum(retries) from verdicts)", store: reference)
            #expect(retried > 0)
        }
    }

    private func zip3<A, B, C>(_ a: [A], _ b: [B], _ c: [C]) -> [(A, B, C)] {
        zip(a, zip(b, c)).map { ($0, $1.0, $1.1) }
    }
}
