import Foundation
import Testing

/// Guarantees across rounds through the real binary: the plateau stop, and what `status --json` says per round.
@Suite("Trust across rounds", .serialized)
struct TrustRoundsTests {
    @Test("run --rounds 40 --plateau 2 on the listfn pipeline stops early, says why, and round does nothing until --force")
    func plateauStopsTheRun() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let pipeline = Repository.root + "/Pipelines/listfn.yaml"
        let store = sandbox.path("listfn.sqlite")
        let run = try await sandbox.flywheel(
            ["run", pipeline, "--rounds", "40", "--plateau", "2", "--store", store], timeout: .seconds(600))
        #expect(run.exitCode == 0, "\(run)")
        #expect(run.stdout.contains("Stopped: 2 committed rounds in a row without an improved verdict"), "\(run.stdout)")
        #expect(run.stderr.contains("run.plateau"), "\(run.stderr)")

        let (status, raw) = try await sandbox.status(pipeline, store: store)
        let rounds = try #require(raw["rounds"] as? [[String: Any]])
        #expect(rounds.count > 2 && rounds.count < 20, "stopped well before 40 rounds: \(rounds.count - 1)")
        // The last two verdicts are not improvements, the one before them is.
        let verdicts = status.rounds.dropFirst().map { $0.vsPrevious?.verdict }
        #expect(verdicts.suffix(2).allSatisfy { $0 != "improved" })
        // Status counts the rounds since the last improvement; the limit is the pipeline file's (none here).
        let plateau = try #require(raw["plateau"] as? [String: Any])
        #expect(plateau["rounds_without_improvement"] as? Int == 2)
        #expect(plateau["limit"] == nil && plateau["reached"] as? Bool == false)

        // Every committed round carries the level its verdict used, its MDE, its cost, its checker and the
        // trivial baselines; the levels follow the default spending (α/21 per round) and add up.
        let checker = try #require(raw["current_checker"] as? String)
        var spent = 0.0
        for (index, round) in rounds.enumerated() {
            #expect(round["checker"] as? String == checker, "round \(index)")
            let cost = try #require(round["cost"] as? [String: Any], "round \(index)")
            #expect((cost["seconds"] as? Double ?? 0) > 0)
            let baselines = try #require(round["baselines"] as? [String: Double], "round \(index)")
            #expect(Set(baselines.keys).isSuperset(of: ["copy-input", "copy-last-line", "empty"]))
            #expect(baselines.values.allSatisfy { $0 < 0.2 }, "listfn answers are not trivial: \(baselines)")
            guard index > 0 else { continue }
            let alpha = try #require(round["alpha"] as? Double)
            #expect(abs(alpha - 0.05 / 21) < 1e-12)
            spent += alpha
            #expect(abs((round["alpha_spent"] as? Double ?? 0) - spent) < 1e-12)
            let mde = try #require(round["mde"] as? Double)
            #expect(mde > 0 && mde < 0.2)
            #expect(cost["per_accepted_example"] is [String: Any])
        }
        #expect(raw["checker_changed"] as? Bool == false)

        // A cron `round` on the plateaued pipeline logs it and does nothing…
        let idle = try await sandbox.flywheel(["round", pipeline, "--plateau", "2", "--store", store])
        #expect(idle.exitCode == 0, "\(idle)")
        #expect(idle.stderr.contains("has plateaued"), "\(idle.stderr)")
        let (after, _) = try await sandbox.status(pipeline, store: store)
        #expect(after.rounds.count == status.rounds.count)
        // …unless forced.
        let forced = try await sandbox.flywheel(
            ["round", pipeline, "--plateau", "2", "--force", "--store", store], timeout: .seconds(300))
        #expect(forced.exitCode == 0, "\(forced)")
        let (more, _) = try await sandbox.status(pipeline, store: store)
        #expect(more.rounds.count == status.rounds.count + 1)
    }

    @Test("a --no-learning control run learns from nothing, and the report says so")
    func controlRunLearnsFromNothing() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let file = try ListFnEndToEndTests.pipeline(sandbox, name: "control")
        let store = sandbox.path("control.sqlite")
        let run = try await sandbox.flywheel(["run", file, "--rounds", "2", "--no-learning", "--store", store])
        try #require(run.exitCode == 0, "\(run)")
        let (_, raw) = try await sandbox.status(file, store: store)
        let rounds = try #require(raw["rounds"] as? [[String: Any]])
        #expect(rounds.compactMap { $0["learned_from"] as? Int } == [0, 0, 0])
        let report = sandbox.path("report.json")
        let made = try await sandbox.flywheel(["report", file, "--store", store, "--out", report])
        try #require(made.exitCode == 0, "\(made)")
        let json = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: report))) as? [String: Any])
        let reportRounds = try #require(json["rounds"] as? [[String: Any]])
        #expect(reportRounds.compactMap { $0["learned_from"] as? Int } == [0, 0, 0])
        let trust = try #require(json["trust"] as? [String: Any])
        #expect(trust["alpha_spent"] as? Double ?? 0 > 0)
    }
}
