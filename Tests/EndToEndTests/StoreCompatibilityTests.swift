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
        let exports = [fresh, old].map { sandbox.path(URL(fileURLWithPath: $0).lastPathComponent + ".jsonl") }
        for (store, out) in zip([fresh, old], exports) {
            let export = try await sandbox.flywheel(["export", file, "--store", store, "--out", out])
            try #require(export.exitCode == 0, "\(export)")
        }
        #expect(FileManager.default.contents(atPath: exports[0]) == FileManager.default.contents(atPath: exports[1]))
    }
}
