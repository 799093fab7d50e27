import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

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
        // Slow enough that the first run is still going when polled on a loaded machine.
        arith.solver = Repository.python("arith_solve.py", "--delay", "0.3")
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

    @Test(
        "while a run holds the store, a run through a symlink, a `..` path or a symlinked folder exits 75; a hard link is refused"
    )
    func everyPathToTheStoreIsRefused() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        var arith = ArithPipeline()
        arith.roundSize = 40
        arith.heldoutSize = 60
        // Slow enough that the first run is still going when polled on a loaded machine.
        arith.solver = Repository.python("arith_solve.py", "--delay", "0.3")
        let pipeline = try sandbox.write(arith)
        let first = try sandbox.startFlywheel(["run", pipeline, "--rounds", "1", "--store", sandbox.store])
        let inProgress = await first.waitUntil(timeout: .seconds(60)) {
            (await sandbox.poll("select count(*) from heldout_results") ?? 0) > 0
        }
        try #require(inProgress, "the first run was never seen in progress")

        try FileManager.default.createSymbolicLink(
            atPath: sandbox.path("link.sqlite"), withDestinationPath: sandbox.store)
        try FileManager.default.createDirectory(atPath: sandbox.path("sub"), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(
            atPath: sandbox.path("alias"), withDestinationPath: sandbox.directory)
        let paths = [
            sandbox.path("link.sqlite"), sandbox.path("sub/../store.sqlite"), sandbox.path("alias/store.sqlite"),
        ]
        for path in paths {
            for command in [["run", pipeline, "--rounds", "1"], ["round", pipeline]] {
                let second = try await sandbox.flywheel(command + ["--store", path], timeout: .seconds(30))
                #expect(second.exitCode == 75, "\(path): \(second)")
                #expect(second.stderr.hasPrefix("flywheel: another flywheel run holds"), "\(second)")
                #expect(second.stderr.contains(sandbox.store), "the message should name the file: \(second)")
            }
        }

        // A second name for the same file: SQLite would give it its own WAL, so a run never writes through it.
        let hardLink = sandbox.path("hard.sqlite")
        try #require(link(sandbox.store, hardLink) == 0, "link: \(String(cString: strerror(errno)))")
        let hard = try await sandbox.flywheel(["round", pipeline, "--store", hardLink], timeout: .seconds(30))
        #expect(hard.exitCode == 1, "\(hard)")
        #expect(hard.stderr.hasPrefix("flywheel: \(hardLink) has 2 names (hard links)"), "\(hard)")
        #expect(first.poll() == nil, "the first run ended while the others were refused, so the test proved nothing")
        try FileManager.default.removeItem(atPath: hardLink)

        let outcome = await first.wait()
        #expect(outcome.exitCode == 0, "\(outcome)")
        #expect(!outcome.stderr.contains("UNIQUE constraint"), "\(outcome.stderr.suffix(2000))")
        let (after, _) = try await sandbox.status(pipeline)
        #expect(after.rounds.map(\.round) == [0, 1], "\(after.rounds)")
        let verify = try await sandbox.flywheel(["verify-store", pipeline, "--store", sandbox.store])
        #expect(verify.exitCode == 0, "\(verify)")
    }
}
