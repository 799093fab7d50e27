import Foundation
import Testing

@Suite("Gate exit code")
struct GateExitTests {
    @Test("a round the gate rejects exits 3 with --fail-on-reject, 0 without; the data stays, flagged")
    func rejectedRoundExitCode() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        var arith = ArithPipeline()
        // Few-shot examples change nothing (gain 0): every round is no-change, which must-improve rejects.
        arith.solver = Repository.python("arith_solve.py", "--gain", "0")
        arith.extra = ["gate: must-improve"]
        let pipeline = try sandbox.write(arith)
        let baseline = try await sandbox.flywheel(["round", pipeline, "--store", sandbox.store, "--fail-on-reject"])
        #expect(baseline.exitCode == 0, "the baseline is always promoted: \(baseline)")
        let strict = try await sandbox.flywheel(["round", pipeline, "--store", sandbox.store, "--fail-on-reject"])
        #expect(strict.exitCode == 3, "\(strict)")
        let lenient = try await sandbox.flywheel(["round", pipeline, "--store", sandbox.store])
        #expect(lenient.exitCode == 0, "\(lenient)")
        let (status, _) = try await sandbox.status(pipeline)
        #expect(status.rounds.map(\.state) == ["promoted", "rejected", "rejected"])
        #expect(status.rounds.dropFirst().allSatisfy { $0.vsPrevious?.verdict == "no-change" && $0.accepted > 0 })
        #expect(try await sandbox.sqlInt("select count(*) from examples where round = 1") == status.rounds[1].accepted)
        #expect(try await sandbox.sqlInt("select count(*) from solver_versions where promoted = 1") == 1)
    }
}
