import FlywheelCore
import Foundation
import Testing

/// Checker fingerprints on every verdict, `flywheel reverify` and `flywheel rollback`, through the real binary.
@Suite("checker fingerprints, reverify and rollback")
struct TrustCommandTests {
    /// An arith pipeline whose checker is a copy of exact_check.py in the sandbox, so a test can change it (with
    /// the fixtures' protocol loop beside it, which it imports).
    static func editableChecker(_ sandbox: Sandbox) throws -> (pipeline: String, checker: String) {
        let source = try String(contentsOfFile: Repository.plugin("exact_check.py"), encoding: .utf8)
        let checker = try sandbox.write("check.py", source)
        let loop = try String(contentsOfFile: Repository.plugin("fixture_protocol.py"), encoding: .utf8)
        try sandbox.write("fixture_protocol.py", loop)
        var arith = ArithPipeline()
        arith.checker = ["python3", "-u", checker]
        return (try sandbox.write(arith), checker)
    }

    /// Rewrites the sandbox checker so that it also rejects every odd answer.
    static func rejectOddAnswers(_ checker: String) throws {
        let source = try String(contentsOfFile: checker, encoding: .utf8)
        let strict = source.replacingOccurrences(
            of: "if got == expected:", with: "if got == expected and int(got) % 2 == 0:")
        try #require(strict != source, "exact_check.py no longer has the line this test changes")
        try strict.write(toFile: checker, atomically: true, encoding: .utf8)
    }

    /// Every stored example: id, round, task index, attempt, answer and prompt (from its attempt and task rows, not
    /// the frame).
    static func storedExamples(_ sandbox: Sandbox, store: String? = nil) async throws
        -> [(id: Int, round: Int, index: Int, attempt: Int, answer: String, prompt: String)]
    {
        let text = try await sandbox.sql(
            """
            select e.id, e.round, t.idx, a.attempt, a.answer, t.id from examples e
            join attempts a on a.id = e.attempt_id join tasks t on t.id = a.task_id order by e.id
            """, store: store)
        let prompts = Dictionary(
            uniqueKeysWithValues: try sandbox.taskRows(store: store).tasks.map {
                ($0.record.id, $0.record.task?.prompt ?? "")
            })
        return try text.split(separator: "\n").map { line in
            let fields = line.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
            try #require(fields.count == 6, "\(line)")
            let prompt = try #require(prompts[Int64(fields[5])!], "\(line)")
            return (Int(fields[0])!, Int(fields[1])!, Int(fields[2])!, Int(fields[3])!, fields[4], prompt)
        }
    }

    /// (round, task index, attempt) of every line of an export.
    static func exportedKeys(_ path: String) throws -> [[Int]] {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        return try text.split(separator: "\n").map { line in
            let object = try #require(
                try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)")
            let lineage = try #require(object["lineage"] as? [String: Any])
            return [lineage["round"], lineage["task_index"], lineage["attempt"]].map { ($0 as? Int) ?? -1 }
        }
    }

    @Test("every verdict and held-out result names its checker; a changed checker program gets a new fingerprint")
    func fingerprints() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let (pipeline, checker) = try Self.editableChecker(sandbox)
        let first = try await sandbox.flywheel(["run", pipeline, "--rounds", "1", "--store", sandbox.store])
        try #require(first.exitCode == 0, "\(first)")
        #expect(try await sandbox.sqlInt("select count(*) from verdicts where checker_id is null") == 0)
        #expect(try sandbox.heldoutResults().count { $0.result.answer != nil && $0.result.checkerID == nil } == 0)
        #expect(try await sandbox.sqlInt("select count(*) from checkers") == 1)
        let original = try await sandbox.sql("select fingerprint from checkers")
        #expect(!original.isEmpty)
        #expect(try await sandbox.sql("select identity from checkers") == "python3 -u \(checker)")

        // Same bytes, same fingerprint: a second round adds no checker.
        let second = try await sandbox.flywheel(["round", pipeline, "--store", sandbox.store])
        try #require(second.exitCode == 0, "\(second)")
        #expect(try await sandbox.sqlInt("select count(*) from checkers") == 1)

        // One more line in the program: a new fingerprint, recorded once, on the new round's verdicts only.
        try (try String(contentsOfFile: checker, encoding: .utf8) + "# edited\n")
            .write(toFile: checker, atomically: true, encoding: .utf8)
        let third = try await sandbox.flywheel(["round", pipeline, "--store", sandbox.store])
        try #require(third.exitCode == 0, "\(third)")
        #expect(try await sandbox.sqlInt("select count(*) from checkers") == 2)
        let byRound = try await sandbox.sql(
            """
            select t.round, count(distinct c.fingerprint), min(c.fingerprint) from verdicts v
            join attempts a on a.id = v.attempt_id join tasks t on t.id = a.task_id join checkers c on c.id = v.checker_id
            group by t.round order by t.round
            """)
        let rows = byRound.split(separator: "\n").map { $0.split(separator: "|").map(String.init) }
        try #require(rows.count == 3, "\(byRound)")
        #expect(rows.allSatisfy { $0[1] == "1" })
        #expect(rows[0][2] == original && rows[1][2] == original && rows[2][2] != original)
        let originalID = try await sandbox.sqlInt("select id from checkers where fingerprint = '\(original)'")
        #expect(try sandbox.heldoutResults(round: 3).count { $0.result.checkerID == Int64(originalID) } == 0)
    }

    @Test("reverify flips exactly the examples the changed checker rejects; learning and export leave them out")
    func reverifyFlips() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let (pipeline, checker) = try Self.editableChecker(sandbox)
        let run = try await sandbox.flywheel(["run", pipeline, "--rounds", "2", "--store", sandbox.store])
        try #require(run.exitCode == 0, "\(run)")

        let examples = try await Self.storedExamples(sandbox)
        let expectedFlips = Set(examples.filter { Int($0.answer)! % 2 != 0 }.map(\.id))
        try #require(!expectedFlips.isEmpty && expectedFlips.count < examples.count, "\(examples.count) examples")
        let beforeExport = sandbox.path("before.jsonl")
        let exported = try await sandbox.flywheel(["export", pipeline, "--store", sandbox.store, "--out", beforeExport])
        try #require(exported.exitCode == 0, "\(exported)")
        let verdictsQuery = "select attempt_id, accept, score, reason, checker_id from verdicts order by attempt_id"
        let examplesQuery = "select id, attempt_id, round, checksum from examples order by id"
        let verdictsBefore = try await sandbox.sql(verdictsQuery)
        let examplesBefore = try await sandbox.sql(examplesQuery)

        try Self.rejectOddAnswers(checker)
        let reverify = try await sandbox.flywheel(["reverify", pipeline, "--store", sandbox.store])
        try #require(reverify.exitCode == 0, "\(reverify)")
        let fingerprint = try await sandbox.sql("select fingerprint from checkers order by id desc limit 1")
        #expect(try await sandbox.sqlInt("select count(*) from checkers") == 2, "the edited checker is a new one")
        #expect(
            reverify.stdout.trimmingCharacters(in: .newlines)
                == "reverify: checked \(examples.count), flipped \(expectedFlips.count) with checker \(fingerprint) "
                + "(python3 -u \(checker))")

        // The flips are recorded, one re-check per example, and nothing earlier was deleted or rewritten.
        let rejected = try await sandbox.sql("select example_id from rechecks where accept = 0 order by example_id")
        #expect(Set(rejected.split(separator: "\n").compactMap { Int($0) }) == expectedFlips)
        #expect(try await sandbox.sqlInt("select count(*) from rechecks") == examples.count)
        #expect(try await sandbox.sqlInt("select count(*) from rechecks where error_kind is not null") == 0)
        #expect(try await sandbox.sql(verdictsQuery) == verdictsBefore)
        #expect(try await sandbox.sql(examplesQuery) == examplesBefore)

        // Export leaves out exactly the flipped examples.
        let afterExport = sandbox.path("after.jsonl")
        let exportAfter = try await sandbox.flywheel([
            "export", pipeline, "--store", sandbox.store, "--out", afterExport,
        ])
        try #require(exportAfter.exitCode == 0, "\(exportAfter)")
        let flippedKeys = Set(
            examples.filter { expectedFlips.contains($0.id) }.map { [$0.round, $0.index, $0.attempt] })
        let before = try Self.exportedKeys(beforeExport)
        let after = try Self.exportedKeys(afterExport)
        #expect(after == before.filter { !flippedKeys.contains($0) })
        #expect(after.count < before.count)

        // Again with the same checker: the same flips, recorded as a second re-verification, the same export.
        let again = try await sandbox.flywheel(["reverify", pipeline, "--store", sandbox.store])
        try #require(again.exitCode == 0, "\(again)")
        #expect(again.stdout == reverify.stdout)
        #expect(try await sandbox.sqlInt("select count(*) from rechecks") == 2 * examples.count)
        #expect(try await sandbox.sqlInt("select count(*) from reverifications where finished_at is not null") == 2)
        let againExport = sandbox.path("again.jsonl")
        let exportAgain = try await sandbox.flywheel([
            "export", pipeline, "--store", sandbox.store, "--out", againExport,
        ])
        try #require(exportAgain.exitCode == 0, "\(exportAgain)")
        #expect(FileManager.default.contents(atPath: againExport) == FileManager.default.contents(atPath: afterExport))

        // The next round learns from its own examples and the promoted rounds' unflipped ones only.
        let next = try await sandbox.flywheel(["round", pipeline, "--store", sandbox.store])
        try #require(next.exitCode == 0, "\(next)")
        let states = try await sandbox.sql("select round, state from rounds order by round")
        let promoted = Set(
            states.split(separator: "\n").map { $0.split(separator: "|") }.filter { $0[1] == "promoted" }
                .map { Int($0[0])! })
        let own = try await sandbox.sqlInt("select count(*) from examples where round = 3")
        let kept = examples.filter { promoted.contains($0.round) && $0.round > 0 && !expectedFlips.contains($0.id) }
        let (status, _) = try await sandbox.status(pipeline)
        let learned = try await sandbox.sqlInt(
            "select json_extract(summary, '$.learned_from') from rounds where round = 3")
        #expect(learned == own + kept.count, "\(status.rounds.map(\.state))")
        let state = try #require(
            try Store(path: sandbox.store, access: .readOnly).version(round: 3).map { String(decoding: $0.state, as: UTF8.self) })
        #expect(examples.filter { expectedFlips.contains($0.id) }.allSatisfy { !state.contains($0.prompt) })
        #expect(kept.contains { state.contains($0.prompt) }, "the pool holds the unflipped examples")
    }

    @Test("reverify and rollback refuse a missing store, and create none")
    func missingStore() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let (pipeline, _) = try Self.editableChecker(sandbox)
        let missing = try await sandbox.flywheel(["reverify", pipeline, "--store", sandbox.path("none.sqlite")])
        #expect(missing.exitCode == 64, "\(missing)")
        #expect(missing.stderr.contains("no store at"), "\(missing.stderr)")
        #expect(!FileManager.default.fileExists(atPath: sandbox.path("none.sqlite")))
        let rollback = try await sandbox.flywheel([
            "rollback", pipeline, "--to", "1", "--store", sandbox.path("none.sqlite"),
        ])
        #expect(rollback.exitCode == 64, "\(rollback)")
        #expect(rollback.stderr.contains("no store at"), "\(rollback.stderr)")
    }

    @Test("rollback makes round 1's version the promoted one; the next round solves with it and compares with it")
    func rollback() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        var arith = ArithPipeline()
        arith.extra = ["gate: always"]
        let pipeline = try sandbox.write(arith)
        let run = try await sandbox.flywheel(["run", pipeline, "--rounds", "3", "--store", sandbox.store])
        try #require(run.exitCode == 0, "\(run)")
        let versionsQuery = "select id, round, parent, promoted from solver_versions order by id"
        let versionsBefore = try await sandbox.sql(versionsQuery)
        let version1 = try await sandbox.sqlInt("select id from solver_versions where round = 1")
        let version3 = try await sandbox.sqlInt("select id from solver_versions where round = 3")

        let rolled = try await sandbox.flywheel(["rollback", pipeline, "--to", "1", "--store", sandbox.store])
        try #require(rolled.exitCode == 0, "\(rolled)")
        #expect(rolled.stdout.contains("round 1's version (\(version1)) is the promoted one again"), "\(rolled.stdout)")
        #expect(
            try await sandbox.sql("select after_round, from_version, to_version from rollbacks")
                == "3|\(version3)|\(version1)")
        #expect(try await sandbox.sql("select count(*) from rollbacks where at like '20%T%'") == "1")
        #expect(try await sandbox.sql(versionsQuery) == versionsBefore, "no promoted flag was rewritten")
        let (_, raw) = try await sandbox.status(pipeline)
        let rollbacks = try #require(raw["rollbacks"] as? [[String: Any]], "\(raw.keys)")
        try #require(rollbacks.count == 1)
        #expect(rollbacks[0]["to_round"] as? Int == 1 && rollbacks[0]["from_round"] as? Int == 3)
        #expect(rollbacks[0]["after_round"] as? Int == 3)

        // Export follows the rolled-back lineage.
        let out = sandbox.path("export.jsonl")
        let export = try await sandbox.flywheel(["export", pipeline, "--store", sandbox.store, "--out", out])
        try #require(export.exitCode == 0, "\(export)")
        #expect(export.stdout.contains("(rounds 0,1)"), "\(export.stdout)")
        #expect(try Self.exportedKeys(out).allSatisfy { $0[0] == 1 })
        let setAside = try await sandbox.flywheel(
            ["export", pipeline, "--store", sandbox.store, "--out", out, "--rounds", "2"])
        #expect(setAside.exitCode == 64, "\(setAside)")
        #expect(setAside.stderr.contains("round 2 was set aside by a rollback"), "\(setAside.stderr)")

        let next = try await sandbox.flywheel(["run", pipeline, "--rounds", "4", "--store", sandbox.store])
        try #require(next.exitCode == 0, "\(next)")
        #expect(try await sandbox.sqlInt("select solver_version from rounds where round = 4") == version1)
        #expect(try await sandbox.sqlInt("select parent from solver_versions where round = 4") == version1)
        #expect(
            try await sandbox.sql(
                """
                select distinct a.solver_version from attempts a join tasks t on t.id = a.task_id where t.round = 4
                """) == "\(version1)")
        let (status, rawAfter) = try await sandbox.status(pipeline)
        let round4 = try #require((rawAfter["rounds"] as? [[String: Any]])?.last)
        #expect((round4["vs_previous"] as? [String: Any])?["round"] as? Int == 1, "\(round4)")
        // Learning under accumulate: round 4's examples and round 1's, not those of the rounds set aside.
        let counts = try await sandbox.sql("select round, count(*) from examples group by round order by round")
        let perRound = Dictionary(
            uniqueKeysWithValues: counts.split(separator: "\n").map { $0.split(separator: "|") }.map {
                (Int($0[0])!, Int($0[1])!)
            })
        let learned = try await sandbox.sqlInt(
            "select json_extract(summary, '$.learned_from') from rounds where round = 4")
        #expect(learned == perRound[1, default: 0] + perRound[4, default: 0], "\(perRound)")
        #expect(status.rounds.map(\.state) == ["promoted", "promoted", "promoted", "promoted", "promoted"])

        // Round 4 promoted a new candidate: it is the promoted one now, and export follows it.
        let afterExport = try await sandbox.flywheel(["export", pipeline, "--store", sandbox.store, "--out", out])
        #expect(afterExport.stdout.contains("(rounds 0,1,4)"), "\(afterExport.stdout)")
        let same = try await sandbox.flywheel(["rollback", pipeline, "--to", "4", "--store", sandbox.store])
        #expect(same.exitCode == 0, "\(same)")
        #expect(same.stdout.contains("already the promoted one"), "\(same.stdout)")
        #expect(try await sandbox.sqlInt("select count(*) from rollbacks") == 1)
    }

    @Test("rollback refuses a round that does not exist, was rejected, or a negative one, with exit 64")
    func rollbackRefusals() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        var arith = ArithPipeline()
        arith.solver = Repository.python("arith_solve.py", "--gain", "0")
        arith.extra = ["gate: must-improve"]
        let pipeline = try sandbox.write(arith)
        let run = try await sandbox.flywheel(["run", pipeline, "--rounds", "1", "--store", sandbox.store])
        try #require(run.exitCode == 0, "\(run)")
        try #require(try await sandbox.sql("select state from rounds where round = 1") == "rejected")

        let rejected = try await sandbox.flywheel(["rollback", pipeline, "--to", "1", "--store", sandbox.store])
        #expect(rejected.exitCode == 64, "\(rejected)")
        #expect(rejected.stderr.contains("round 1 was rejected by the gate"), "\(rejected.stderr)")
        let missing = try await sandbox.flywheel(["rollback", pipeline, "--to", "7", "--store", sandbox.store])
        #expect(missing.exitCode == 64, "\(missing)")
        #expect(missing.stderr.contains("round 7 does not exist (the last round is 1)"), "\(missing.stderr)")
        let negative = try await sandbox.flywheel(["rollback", pipeline, "--to", "-1", "--store", sandbox.store])
        #expect(negative.exitCode == 64, "\(negative)")
        #expect(negative.stderr.contains("--to takes a round number"), "\(negative.stderr)")
        #expect(try await sandbox.sqlInt("select count(*) from rollbacks") == 0)
    }

    @Test("rollback refuses while a round is not committed: the failed round must be finished first")
    func rollbackWhileARoundIsOpen() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        var arith = ArithPipeline()
        arith.generator = Repository.python("arith_gen.py", "--refuse-split", "train")
        let pipeline = try sandbox.write(arith)
        let run = try await sandbox.flywheel(["run", pipeline, "--rounds", "1", "--store", sandbox.store])
        try #require(run.exitCode == 1, "every training task fails, so round 1 fails: \(run)")
        try #require(try await sandbox.sql("select state from rounds where round = 1") == "failed")
        let refused = try await sandbox.flywheel(["rollback", pipeline, "--to", "0", "--store", sandbox.store])
        #expect(refused.exitCode == 64, "\(refused)")
        #expect(refused.stderr.contains("round 1 is failed: finish it first"), "\(refused.stderr)")
        #expect(try await sandbox.sqlInt("select count(*) from rollbacks") == 0)
    }

    @Test("a store of an earlier schema migrates: old verdicts have no fingerprint, new ones do, reverify runs")
    func earlierStore() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let file = Repository.root + "/Fixtures/stores/arith-small.yaml"
        let store = sandbox.path("old.sqlite")
        try FileManager.default.copyItem(
            atPath: Repository.root + "/Fixtures/stores/arith-before-typed.sqlite", toPath: store)
        // Read-only commands read the old schema as it is.
        let status = try await sandbox.flywheel(["status", file, "--store", store, "--json"])
        #expect(status.exitCode == 0, "\(status)")
        let run = try await sandbox.flywheel(["run", file, "--rounds", "3", "--store", store])
        try #require(run.exitCode == 0, "\(run)")
        let fingerprinted = try await sandbox.sql(
            """
            select t.round, count(v.checker_id) > 0 from verdicts v join attempts a on a.id = v.attempt_id
            join tasks t on t.id = a.task_id where t.round in (1, 3) group by t.round order by t.round
            """, store: store)
        #expect(fingerprinted == "1|0\n3|1")
        let reverify = try await sandbox.flywheel(["reverify", file, "--store", store])
        #expect(reverify.exitCode == 0, "\(reverify)")
        let examples = try await sandbox.sqlInt("select count(*) from examples", store: store)
        #expect(reverify.stdout.hasPrefix("reverify: checked \(examples), flipped 0 "), "\(reverify.stdout)")
        let verify = try await sandbox.flywheel(["verify-store", file, "--store", store])
        #expect(verify.exitCode == 0, "\(verify)")
    }
}
