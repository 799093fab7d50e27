import Foundation
import Testing

@Suite("Store lock")
struct LockTests {
    @Test(
        "while a run holds the store, a second run or round exits 75 at once naming the other run; the first completes")
    func secondRunIsRefused() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        var arith = ArithPipeline()
        arith.roundSize = 40
        arith.heldoutSize = 60
        arith.solver = Repository.python("arith_solve.py", "--delay", "0.1")
        let pipeline = try sandbox.write(arith)
        let run = ["run", pipeline, "--rounds", "1", "--store", sandbox.store]

        let first = try sandbox.startFlywheel(run)
        let inProgress = await first.waitUntil(timeout: .seconds(60)) {
            (await sandbox.poll("select count(*) from heldout_results") ?? 0) > 0
        }
        if !inProgress {
            let outcome = await first.wait(timeout: .seconds(5))
            try #require(Bool(false), "the first run was never seen in progress: \(outcome)")
        }

        // Reading is not running: status works while the run goes on, and shows the open round.
        let (during, _) = try await sandbox.status(pipeline)
        #expect(during.rounds.last?.state == "running", "\(during.rounds)")

        for command in ["run", "round"] {
            var arguments = run
            arguments[0] = command
            if command == "round" { arguments.removeSubrange(2...3) }
            let second = try await sandbox.flywheel(arguments, timeout: .seconds(30))
            #expect(second.exitCode == 75, "\(second)")
            #expect(second.seconds < 5, "`\(command)` took \(second.seconds) s to give up")
            #expect(second.stderr.lowercased().contains("another"), "\(second)")
            #expect(second.stderr.contains(sandbox.store), "the message should name the store: \(second)")
        }
        #expect(first.poll() == nil, "the first run ended while the others were refused, so the test proved nothing")

        let outcome = await first.wait()
        #expect(outcome.exitCode == 0, "\(outcome)")
        let (after, _) = try await sandbox.status(pipeline)
        #expect(after.rounds.map(\.round) == [0, 1], "\(after.rounds)")
        #expect(after.rounds.allSatisfy { ["promoted", "rejected"].contains($0.state) })

        // The lock went with the first run: the store is free again (nothing is left to do).
        let again = try await sandbox.flywheel(run)
        #expect(again.exitCode == 0, "\(again)")
    }
}
