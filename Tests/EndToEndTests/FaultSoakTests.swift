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
            "select round, idx, seed, status, prompt, prompt_hash from tasks where round in (\(list)) order by 1, 2",
            """
            select t.round, t.idx, a.attempt, a.seed, a.answer, v.accept, v.score, e.checksum
            from attempts a join tasks t on t.id = a.task_id left join verdicts v on v.attempt_id = a.id
            left join examples e on e.attempt_id = a.id where t.round in (\(list)) order by 1, 2, 3
            """,
            "select round, idx, answer, accept, score from heldout_results where round in (\(list)) order by 1, 2",
            "select idx, seed, status, prompt from heldout_items order by idx",
        ]
        var rows: [String] = []
        for query in queries { rows.append(try await sandbox.sql(query, store: store)) }
        return rows.joined(separator: "\n--\n")
    }

    static func committedRounds(_ sandbox: Sandbox, store: String) async -> [Int] {
        guard FileManager.default.fileExists(atPath: store),
            let text = try? await sandbox.sql(
                "select group_concat(round) from rounds where state in ('promoted', 'rejected')", store: store)
        else { return [] }
        return text.split(separator: ",").compactMap { Int($0) }
    }

    @Test("20 kill -9 at random moments: never corrupt, nothing committed lost or changed, resumed == uninterrupted")
    func killNineAtRandomMoments() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        var arith = ArithPipeline()
        arith.roundSize = 40
        arith.solver = Repository.python("arith_solve.py", "--delay", "0.01")
        let pipeline = try sandbox.write(arith)
        let resumed = sandbox.path("resumed.sqlite")
        let reference = sandbox.path("reference.sqlite")
        let run = ["run", pipeline, "--rounds", "3"]
        async let uninterrupted = sandbox.flywheel(run + ["--store", reference], timeout: .seconds(300))

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
            #expect(verify.exitCode == 0 && verify.stdout.hasPrefix("ok"), "trial \(trial): \(verify)")
            // What was committed before this kill is still there, byte for byte.
            let again = try await Self.committedRows(sandbox, store: resumed, rounds: committed)
            #expect(again == snapshot, "trial \(trial): committed rows changed")
            committed = await Self.committedRounds(sandbox, store: resumed)
            snapshot = try await Self.committedRows(sandbox, store: resumed, rounds: committed)
        }
        let last = try await sandbox.flywheel(run + ["--store", resumed], timeout: .seconds(300))
        #expect(last.exitCode == 0, "\(last)")
        let finished = try await uninterrupted
        try #require(finished.exitCode == 0, "\(finished)")
        #expect(kills >= trials / 2, "only \(kills) of \(trials) trials killed a running run")

        let (expected, _) = try await sandbox.status(pipeline, store: reference)
        let (actual, _) = try await sandbox.status(pipeline, store: resumed)
        #expect(expected.rounds.map(\.round) == [0, 1, 2, 3])
        #expect(actual.rounds == expected.rounds)
        for (label, query) in DurabilityTests.contents {
            let want = try await sandbox.sql(query, store: reference)
            let got = try await sandbox.sql(query, store: resumed)
            #expect(want == got, "\(label) differ: \(DurabilityTests.firstDifference(want, got))")
        }
        let exports = ["reference", "resumed"].map { sandbox.path("\($0).jsonl") }
        for (store, out) in zip([reference, resumed], exports) {
            let export = try await sandbox.flywheel(["export", pipeline, "--store", store, "--out", out])
            try #require(export.exitCode == 0, "\(export)")
        }
        #expect(FileManager.default.contents(atPath: exports[0]) == FileManager.default.contents(atPath: exports[1]))
    }
}
