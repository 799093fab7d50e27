import Foundation
import Testing

@Suite("Durability")
struct DurabilityTests {
    /// Where the resumed run is killed: as soon as `query` on its store reaches `atLeast`.
    struct KillPoint: Sendable {
        var label: String
        var query: String
        var atLeast: Int
    }

    static func trainingAttempts(_ round: Int) -> String {
        "select count(*) from attempts a join tasks t on t.id = a.task_id where t.round = \(round)"
    }

    /// Round `round`'s held-out results so far: its rows while it is open; once its commit has packed them (the
    /// evaluation is over), more than any threshold. Rows alone would be seen only between the write buffer's last
    /// commit and the round's, a window a fast round closes before a poll comes: the kill then never lands.
    static func heldoutResults(_ round: Int) -> String {
        """
        select (select count(*) from heldout_results where round = \(round))
            + (select count(*) * 1000000 from heldout_packs where round = \(round))
        """
    }

    static let killPoints = [
        KillPoint(label: "round 0 held-out evaluation", query: heldoutResults(0), atLeast: 20),
        KillPoint(label: "round 1 training, early", query: trainingAttempts(1), atLeast: 5),
        KillPoint(label: "round 1 training, later", query: trainingAttempts(1), atLeast: 15),
        KillPoint(label: "round 2 held-out evaluation", query: heldoutResults(2), atLeast: 20),
        KillPoint(label: "round 3 training", query: trainingAttempts(3), atLeast: 10),
    ]

    static let tables = [
        "rounds", "tasks", "attempts", "verdicts", "examples", "dictionaries", "heldout_items", "heldout_results",
        "heldout_packs", "solver_versions",
    ]

    /// The rows that must come out the same, in a stable order and without timings or timestamps.
    static let contents = [
        ("rounds", "select round, state, solver_version, difficulty, data_policy, gate from rounds order by round"),
        (
            "tasks",
            "select round, idx, seed, difficulty, status, hex(task), hex(prompt_hash), error_kind from tasks order by 1, 2"
        ),
        (
            "attempts",
            """
            select t.round, t.idx, a.attempt, a.seed, a.solver_version, a.answer, a.error_kind
            from attempts a join tasks t on t.id = a.task_id order by 1, 2, 3
            """
        ),
        (
            "verdicts",
            """
            select t.round, t.idx, a.attempt, v.accept, v.score, v.reason, v.error_kind, coalesce(v.checker, c.identity)
            from verdicts v join attempts a on a.id = v.attempt_id join tasks t on t.id = a.task_id
            left join checkers c on c.id = v.checker_id order by 1, 2, 3
            """
        ),
        (
            "examples",
            """
            select e.round, t.idx, a.attempt, e.raw_bytes, e.checksum
            from examples e join attempts a on a.id = e.attempt_id join tasks t on t.id = a.task_id order by 1, 2, 3
            """
        ),
        ("heldout_items", "select idx, seed, status, hex(task), hex(prompt_hash) from heldout_items order by idx"),
        ("solver_versions", "select round, parent, promoted, hex(state) from solver_versions order by round"),
    ]

    /// Every held-out result that must come out the same, one line each, read through the library: committed
    /// rounds keep their results packed (`heldout_packs`), where SQL cannot compare them.
    static func heldoutContents(_ sandbox: Sandbox, store: String) throws -> String {
        try sandbox.heldoutResults(store: store).map { round, r in
            "\(round)|\(r.index)|\(r.solverVersion)|\(r.answer ?? "")|\(r.accept)|\(r.score)|\(r.errorKind ?? "")"
        }.joined(separator: "\n")
    }

    @Test(
        "kill -9 at five points, verify-store after each, resume: the uninterrupted end state, no solver call redone"
    )
    func killAndResume() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let parallelism = 4
        func pipeline(_ label: String) throws -> String {
            var arith = ArithPipeline()
            arith.parallelism = parallelism
            let calls = sandbox.path("\(label).calls")
            // Slow enough that every kill point is seen before the run passes it, on a loaded machine too.
            arith.solver = try sandbox.logged("arith_solve.py", ["--delay", "0.1"], log: calls)
            return try sandbox.write(arith, as: "\(label).yaml")
        }
        let referenceFile = try pipeline("reference")
        let resumedFile = try pipeline("resumed")
        let referenceStore = sandbox.path("reference.sqlite")
        let resumedStore = sandbox.path("resumed.sqlite")
        let resumedRun = ["run", resumedFile, "--rounds", "3", "--store", resumedStore]

        // The uninterrupted reference runs alongside; both are deterministic.
        async let referenceOutcome = sandbox.flywheel([
            "run", referenceFile, "--rounds", "3", "--store", referenceStore,
        ])

        var kills = 0
        var finished = false
        for point in Self.killPoints {
            let child = try sandbox.startFlywheel(resumedRun)
            let outcome = await child.wait {
                (await sandbox.poll(point.query, store: resumedStore) ?? 0) >= point.atLeast
            }
            guard outcome.killedBySIGKILL else {
                #expect(outcome.exitCode == 0, "\(outcome)")
                Issue.record("the run ended before the kill point \(point.label): \(outcome)")
                finished = true
                break
            }
            kills += 1
            let verify = try await sandbox.flywheel(["verify-store", resumedFile, "--store", resumedStore])
            #expect(verify.exitCode == 0, "after the kill in \(point.label): \(verify)")
            #expect(verify.stdout.hasPrefix("ok"), "after the kill in \(point.label): \(verify)")
            let (status, _) = try await sandbox.status(resumedFile, store: resumedStore)
            #expect(status.rounds.last?.state == "running", "after the kill in \(point.label): \(status.rounds)")
        }
        if !finished {
            let last = try await sandbox.flywheel(resumedRun)
            #expect(last.exitCode == 0, "the resuming run: \(last)")
        }
        let reference = try await referenceOutcome
        try #require(reference.exitCode == 0, "the reference run: \(reference)")

        let (expected, _) = try await sandbox.status(referenceFile, store: referenceStore)
        let (actual, _) = try await sandbox.status(resumedFile, store: resumedStore)
        #expect(expected.rounds.map(\.round) == [0, 1, 2, 3])
        #expect(expected.rounds.allSatisfy { $0.duplicates != nil && $0.contaminated != nil && $0.attempts != nil })
        #expect(actual.rounds == expected.rounds)

        for table in Self.tables {
            let query = "select count(*) from \(table)"
            let want = try await sandbox.sqlInt(query, store: referenceStore)
            let got = try await sandbox.sqlInt(query, store: resumedStore)
            #expect(got == want, "\(table): \(got) rows after resuming, \(want) uninterrupted")
        }
        for (label, query) in Self.contents {
            let want = try await sandbox.sql(query, store: referenceStore)
            let got = try await sandbox.sql(query, store: resumedStore)
            let same = want == got
            #expect(same, "\(label) differ: \(Self.firstDifference(want, got))")
        }
        let (wantHeldout, gotHeldout) = (
            try Self.heldoutContents(sandbox, store: referenceStore),
            try Self.heldoutContents(sandbox, store: resumedStore)
        )
        #expect(!wantHeldout.isEmpty)
        #expect(wantHeldout == gotHeldout, "heldout_results differ: \(Self.firstDifference(wantHeldout, gotHeldout))")

        // Every solver call of the reference became a row; the resumed run may repeat only the calls in flight at
        // each kill (at most `parallelism` items are in flight), never a finished one.
        let solverRows =
            try await sandbox.sqlInt("select count(*) from attempts", store: referenceStore)
            + sandbox.heldoutResults(store: referenceStore).count
        let referenceCalls = Self.lines(sandbox.path("reference.calls"))
        let resumedCalls = Self.lines(sandbox.path("resumed.calls"))
        #expect(referenceCalls == solverRows)
        #expect(
            resumedCalls <= referenceCalls + kills * parallelism,
            "\(resumedCalls) solver calls over \(kills) kills, \(referenceCalls) uninterrupted")
        #expect(kills == Self.killPoints.count)
    }

    static func lines(_ path: String) -> Int {
        (try? String(contentsOfFile: path, encoding: .utf8))?.split(separator: "\n").count ?? 0
    }

    static func firstDifference(_ want: String, _ got: String) -> String {
        let a = want.split(separator: "\n", omittingEmptySubsequences: false)
        let b = got.split(separator: "\n", omittingEmptySubsequences: false)
        for index in 0..<max(a.count, b.count) {
            let x = index < a.count ? String(a[index]) : "<none>"
            let y = index < b.count ? String(b[index]) : "<none>"
            if x != y { return "row \(index + 1): uninterrupted \(x.prefix(300)) | resumed \(y.prefix(300))" }
        }
        return "none"
    }
}
