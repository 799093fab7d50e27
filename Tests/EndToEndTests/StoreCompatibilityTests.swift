import Foundation
import Testing

/// Stores written by earlier versions of Flywheel open and resume with today's binary, and end where a fresh run
/// of today's binary ends.
///
/// Each fixture store in Fixtures/stores was made by the engine before the typed redesign (schema v2, summaries
/// with camelCase keys, solver state written through a generic JSON value): its baseline and round 1 committed and
/// round 2 killed mid-way with SIGKILL.
@Suite("store compatibility", .serialized)
struct StoreCompatibilityTests {
    @Test("a store of the previous engine resumes and ends as a fresh run does", arguments: ["listfn", "arith"])
    func anEarlierStoreResumes(pipeline: String) async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let file = Repository.root + "/Fixtures/stores/\(pipeline)-small.yaml"
        let old = sandbox.path("old.sqlite")
        try FileManager.default.copyItem(
            atPath: Repository.root + "/Fixtures/stores/\(pipeline)-before-typed.sqlite", toPath: old)
        let fresh = sandbox.path("fresh.sqlite")

        let before = try await sandbox.status(file, store: old)
        #expect(before.report.rounds.map(\.state) == ["promoted", "promoted", "running"])
        let resumed = try await sandbox.flywheel(["run", file, "--rounds", "3", "--store", old])
        try #require(resumed.exitCode == 0, "\(resumed)")
        #expect(resumed.stderr.contains("round.resume"), "\(resumed.stderr.suffix(2000))")
        let reference = try await sandbox.flywheel(["run", file, "--rounds", "3", "--store", fresh])
        try #require(reference.exitCode == 0, "\(reference)")

        let verify = try await sandbox.flywheel(["verify-store", file, "--store", old])
        #expect(verify.exitCode == 0, "\(verify)")
        let (expected, _) = try await sandbox.status(file, store: fresh)
        let (actual, _) = try await sandbox.status(file, store: old)
        #expect(actual.rounds.map(\.round) == [0, 1, 2, 3])
        #expect(actual.rounds == expected.rounds)
        // The versions' state is the same grammar or pool written differently; equal held-out results show it.
        let contents =
            DurabilityTests.contents.filter { $0.0 != "solver_versions" }
            + [("solver_versions", "select round, parent, promoted from solver_versions order by round")]
        for (label, query) in contents {
            let want = try await sandbox.sql(query, store: fresh)
            let got = try await sandbox.sql(query, store: old)
            #expect(want == got, "\(label) differ: \(DurabilityTests.firstDifference(want, got))")
        }
        let (want, got) = (
            try DurabilityTests.heldoutContents(sandbox, store: fresh),
            try DurabilityTests.heldoutContents(sandbox, store: old)
        )
        #expect(!want.isEmpty)
        #expect(want == got, "heldout_results differ: \(DurabilityTests.firstDifference(want, got))")
        let exports = [fresh, old].map { sandbox.path(URL(fileURLWithPath: $0).lastPathComponent + ".jsonl") }
        for (store, out) in zip([fresh, old], exports) {
            let export = try await sandbox.flywheel(["export", file, "--store", store, "--out", out])
            try #require(export.exitCode == 0, "\(export)")
        }
        #expect(FileManager.default.contents(atPath: exports[0]) == FileManager.default.contents(atPath: exports[1]))
    }

    @Test("a store of schema v8 reads as it is, then upgrades in place (compressed task text, packed held-out results) and resumes")
    func aV8StoreUpgrades() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        // Fixtures/stores/listfn-v8.sqlite: listfn-small.yaml's baseline and rounds 1 and 2, written by Flywheel at
        // a21aa51 (schema v8: task text as plain columns, hex prompt hashes, the checker's argv on every verdict).
        let file = Repository.root + "/Fixtures/stores/listfn-small.yaml"
        let old = sandbox.path("old.sqlite")
        try FileManager.default.copyItem(atPath: Repository.root + "/Fixtures/stores/listfn-v8.sqlite", toPath: old)
        let fresh = sandbox.path("fresh.sqlite")

        // Read-only commands read the old columns without changing the file.
        let textBefore = try sandbox.taskText(store: old)
        let heldoutBefore = try sandbox.heldoutResults(store: old)
        #expect(heldoutBefore.map(\.round).max() == 2 && heldoutBefore.allSatisfy { $0.result.answerID == nil })
        let (statusBefore, _) = try await sandbox.status(file, store: old)
        let exportBefore = sandbox.path("before.jsonl")
        let export = try await sandbox.flywheel(["export", file, "--store", old, "--out", exportBefore])
        try #require(export.exitCode == 0, "\(export)")
        #expect(try await sandbox.sqlInt("select count(*) from grdb_migrations", store: old) == 8)

        let resumed = try await sandbox.flywheel(["run", file, "--rounds", "3", "--store", old])
        try #require(resumed.exitCode == 0, "\(resumed)")
        let reference = try await sandbox.flywheel(["run", file, "--rounds", "3", "--store", fresh])
        try #require(reference.exitCode == 0, "\(reference)")

        // Every old row was converted: no plain text left, hashes are 32 bytes, verdicts name their checker once.
        #expect(try await sandbox.sql("select distinct typeof(task) from tasks", store: old) == "blob")
        #expect(try await sandbox.sql("select distinct length(prompt_hash) from heldout_items", store: old) == "32")
        #expect(try await sandbox.sqlInt("select count(*) from verdicts where checker is not null", store: old) == 0)
        let (statusAfter, _) = try await sandbox.status(file, store: old)
        #expect(Array(statusAfter.rounds.prefix(statusBefore.rounds.count)) == statusBefore.rounds)
        #expect(statusAfter.rounds == (try await sandbox.status(file, store: fresh)).report.rounds)
        let textAfter = try sandbox.taskText(store: old)
        #expect(Set(textBefore.split(separator: "\n")).isSubset(of: textAfter.split(separator: "\n")))
        #expect(textAfter == (try sandbox.taskText(store: fresh)))
        // Every committed round's held-out results were packed, by the migration (rounds 0 to 2) or by the commit
        // (round 3), and read back as they were: every column, the answer and reason now named by `answer_id`.
        #expect(try await sandbox.sql("select group_concat(round) from heldout_packs", store: old) == "0,1,2,3")
        #expect(try await sandbox.sqlInt("select count(*) from heldout_results", store: old) == 0)
        let heldoutAfter = try sandbox.heldoutResults(store: old)
        let migrated = heldoutAfter.filter { $0.round <= 2 }.map { round, result in
            var result = result
            #expect(result.answerID != nil || (result.answer == nil && result.reason == nil))
            result.answerID = nil
            return (round, result)
        }
        #expect(migrated.map(\.0) == heldoutBefore.map(\.round))
        #expect(migrated.map(\.1) == heldoutBefore.map(\.result))
        #expect(
            try DurabilityTests.heldoutContents(sandbox, store: old)
                == DurabilityTests.heldoutContents(sandbox, store: fresh))
        let verify = try await sandbox.flywheel(["verify-store", file, "--store", old])
        #expect(verify.exitCode == 0, "\(verify)")
        for (store, name) in [(old, "old"), (fresh, "fresh")] {
            let out = sandbox.path("\(name).jsonl")
            let export = try await sandbox.flywheel(["export", file, "--store", store, "--out", out])
            try #require(export.exitCode == 0, "\(export)")
        }
        let exported = ["old", "fresh"].map { FileManager.default.contents(atPath: sandbox.path("\($0).jsonl")) }
        #expect(exported[0] == exported[1])
        let before = try #require(FileManager.default.contents(atPath: exportBefore))
        #expect(exported[0]?.prefix(before.count) == before, "the upgrade changed what rounds 1 and 2 export")

        // A task frame that does not decode is named by verify-store.
        let task = try await sandbox.sqlInt("select max(id) from tasks where task is not null", store: old)
        _ = try await sandbox.sql("update tasks set task = substr(task, 1, length(task) - 3) where id = \(task)", store: old)
        let damaged = try await sandbox.flywheel(["verify-store", file, "--store", old])
        #expect(damaged.exitCode == 1, "\(damaged)")
        #expect((damaged.stdout + damaged.stderr).contains("tasks row \(task)"), "\(damaged)")

        // So is a held-out pack, and `status`, which reads it, refuses with the round and what to do.
        _ = try await sandbox.sql(
            "update heldout_packs set results = substr(results, 1, length(results) - 3) where round = 1", store: old)
        let damagedPack = try await sandbox.flywheel(["verify-store", file, "--store", old])
        #expect(damagedPack.exitCode == 1, "\(damagedPack)")
        #expect(
            (damagedPack.stdout + damagedPack.stderr).contains("round 1's held-out results do not decode"),
            "\(damagedPack)")
        let status = try await sandbox.flywheel(["status", file, "--store", old])
        #expect(status.exitCode == 1, "\(status)")
        #expect(status.stderr.contains("heldout_packs row 1: round 1's held-out results do not decode"), "\(status)")
        #expect(status.stderr.contains("run `flywheel verify-store`"), "\(status)")
    }
}
