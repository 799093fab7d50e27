import Foundation
import Testing

/// The embedded listfn pipeline through the real binary: SIGKILL and resume, and the learning-off control.
@Suite("listfn", .serialized)
struct ListFnEndToEndTests {
    /// 120 held-out items cannot detect these rounds' gains at the default spending's α/21 (its MDE is about 0.1):
    /// the tests here are about learning and resuming, so each round is tested at the full α.
    static func pipeline(_ sandbox: Sandbox, name: String, learning: Bool = true) throws -> String {
        try sandbox.write(
            "\(name).yaml",
            """
            name: listfn
            seed: 3
            round_size: 60
            heldout: {size: 120}
            difficulty: 5
            parallelism: 1
            learning: \(learning)
            error_control: per-round
            generator: {builtin: listfn}
            solver: {builtin: listfn, budget: 20000}
            checker: {command: [python3, -u, \(Repository.root)/Pipelines/listfn/check.py]}
            """)
    }

    @Test("kill -9 during evaluation and training, resume: the same end state as an uninterrupted run")
    func resumedRunEqualsUninterrupted() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let file = try Self.pipeline(sandbox, name: "listfn")
        let referenceStore = sandbox.path("reference.sqlite")
        let resumedStore = sandbox.path("resumed.sqlite")
        let reference = try await sandbox.flywheel(["run", file, "--rounds", "3", "--store", referenceStore])
        try #require(reference.exitCode == 0, "\(reference)")

        let killPoints = [
            (DurabilityTests.heldoutResults(0), 40), (DurabilityTests.trainingAttempts(1), 25),
            (DurabilityTests.heldoutResults(2), 60),
        ]
        let resumedRun = ["run", file, "--rounds", "3", "--store", resumedStore]
        for (query, threshold) in killPoints {
            let point = "\(query) ≥ \(threshold)"
            let child = try sandbox.startFlywheel(resumedRun)
            let outcome = await child.wait { (await sandbox.poll(query, store: resumedStore) ?? 0) >= threshold }
            #expect(outcome.killedBySIGKILL, "the run ended before the kill point \(point): \(outcome)")
            let verify = try await sandbox.flywheel(["verify-store", file, "--store", resumedStore])
            #expect(verify.exitCode == 0, "after the kill at \(point): \(verify)")
        }
        let last = try await sandbox.flywheel(resumedRun)
        #expect(last.exitCode == 0, "\(last)")

        let (expected, _) = try await sandbox.status(file, store: referenceStore)
        let (actual, _) = try await sandbox.status(file, store: resumedStore)
        #expect(expected.rounds.map(\.round) == [0, 1, 2, 3])
        #expect(actual.rounds == expected.rounds)
        for (label, query) in DurabilityTests.contents {
            let want = try await sandbox.sql(query, store: referenceStore)
            let got = try await sandbox.sql(query, store: resumedStore)
            #expect(want == got, "\(label) differ: \(DurabilityTests.firstDifference(want, got))")
        }
    }

    @Test("with learning the held-out score rises; without it, same seeds, every round is unchanged")
    func learningRisesAndTheControlStaysFlat() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let on = try Self.pipeline(sandbox, name: "on")
        let off = try Self.pipeline(sandbox, name: "off", learning: false)
        let runOn = try await sandbox.flywheel(["run", on, "--rounds", "3", "--store", sandbox.path("on.sqlite")])
        let runOff = try await sandbox.flywheel(["run", off, "--rounds", "3", "--store", sandbox.path("off.sqlite")])
        try #require(runOn.exitCode == 0 && runOff.exitCode == 0, "\(runOn)\n\(runOff)")
        let (learned, _) = try await sandbox.status(on, store: sandbox.path("on.sqlite"))
        let (control, _) = try await sandbox.status(off, store: sandbox.path("off.sqlite"))
        let learnedScores = learned.rounds.compactMap { $0.heldout?.score }
        let controlScores = control.rounds.compactMap { $0.heldout?.score }
        #expect(learnedScores.count == 4 && controlScores.count == 4)
        #expect(learnedScores[0] == controlScores[0], "the baselines are the same run")
        #expect(learnedScores[3] > learnedScores[0] + 0.05, "\(learnedScores)")
        #expect(learned.rounds.contains { $0.vsPrevious?.verdict == "improved" }, "\(learned.rounds)")
        #expect(Set(controlScores).count == 1, "\(controlScores)")
        #expect(control.rounds.dropFirst().allSatisfy { $0.vsPrevious?.b == 0 && $0.vsPrevious?.c == 0 })
    }
}
