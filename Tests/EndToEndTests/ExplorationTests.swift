import Foundation
import Testing

/// Cold start through the real binary: a solver whose greedy answer is never right learns nothing without
/// exploration; with sampled attempts and rationalization it gets accepted training examples in round 1, marked in
/// lineage, while held-out items stay greedy and unhinted.
@Suite("Exploration and rationalization")
struct ExplorationTests {
    static func pipeline(exploration: [String]) -> ArithPipeline {
        var pipeline = ArithPipeline()
        pipeline.solver = Repository.python("explore_solve.py")
        pipeline.heldoutSize = 30
        pipeline.extra = exploration
        return pipeline
    }

    static let exploring = ["attempts: 3", "exploration:", "  temperature: 0.8", "  rationalize: true"]

    @Test("sampled attempts and rationalization give a greedy-wrong solver examples in round 1; held-out stays greedy")
    func coldStart() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let control = try sandbox.write(Self.pipeline(exploration: []), as: "control.yaml")
        let greedy = try await sandbox.flywheel(["run", control, "--rounds", "1", "--store", sandbox.path("control.sqlite")])
        try #require(greedy.exitCode == 0, "\(greedy)")
        let (flat, _) = try await sandbox.status(control, store: sandbox.path("control.sqlite"))
        #expect(flat.rounds.map(\.accepted) == [0, 0], "the greedy solver is never right: nothing to learn from")

        let exploring = try sandbox.write(Self.pipeline(exploration: Self.exploring), as: "explore.yaml")
        let run = try await sandbox.flywheel(["run", exploring, "--rounds", "1", "--store", sandbox.store])
        try #require(run.exitCode == 0, "\(run)")
        let (status, raw) = try await sandbox.status(exploring, store: sandbox.store)
        let round = try #require(status.rounds.last)
        let rationalized = try #require((raw["rounds"] as? [[String: Any]])?.last?["rationalized"] as? Int)
        #expect(round.accepted > rationalized && rationalized > 0, "sampled and rationalized examples: \(round)")
        // Held-out answers are the greedy, unhinted ones: always wrong.
        #expect(status.rounds.allSatisfy { $0.heldout?.score == 0 }, "\(status.rounds)")
        #expect(try sandbox.heldoutResults().count { $0.result.accept } == 0)

        // Rationalization is the 4th attempt, made exactly for the tasks none of whose 3 samples was accepted.
        let rationalizedAttempts = try await sandbox.sql(
            "SELECT DISTINCT attempt FROM attempts WHERE rationalized = 1")
        #expect(rationalizedAttempts.trimmingCharacters(in: .whitespacesAndNewlines) == "3")
        let misplaced = try await sandbox.sqlInt(
            """
            SELECT count(*) FROM tasks t WHERE t.round = 1 AND t.status = 'kept' AND
              (SELECT count(*) FROM attempts a JOIN verdicts v ON v.attempt_id = a.id
                 WHERE a.task_id = t.id AND a.rationalized = 0 AND v.accept = 1) > 0
              = (SELECT count(*) FROM attempts a WHERE a.task_id = t.id AND a.rationalized = 1)
            """)
        #expect(misplaced == 0, "a task got a rationalization attempt although a sample was accepted, or vice versa")
        #expect(
            try await sandbox.sqlInt(
                "SELECT count(*) FROM attempts a JOIN verdicts v ON v.attempt_id = a.id WHERE a.rationalized = 1 AND v.accept = 1")
                == rationalized)

        // Export marks rationalized examples and can leave them out.
        let all = try await sandbox.flywheel(
            ["export", exploring, "--store", sandbox.store, "--out", sandbox.path("all.jsonl")])
        try #require(all.exitCode == 0, "\(all)")
        let some = try await sandbox.flywheel(
            [
                "export", exploring, "--store", sandbox.store, "--out", sandbox.path("some.jsonl"),
                "--exclude-rationalized",
            ])
        try #require(some.exitCode == 0, "\(some)")
        let lines = try Self.lines(sandbox.path("all.jsonl"))
        let marked = lines.filter { ($0["lineage"] as? [String: Any])?["rationalized"] as? Bool == true }
        #expect(lines.count == round.accepted && marked.count == rationalized)
        #expect(try Self.lines(sandbox.path("some.jsonl")).count == round.accepted - rationalized)
    }

    @Test("learn_rationalized: false keeps rationalized examples out of learning")
    func rationalizedExamplesCanBeLeftOutOfLearning() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let file = try sandbox.write(
            Self.pipeline(exploration: Self.exploring + ["  learn_rationalized: false"]), as: "explore.yaml")
        let run = try await sandbox.flywheel(["run", file, "--rounds", "1", "--store", sandbox.store])
        try #require(run.exitCode == 0, "\(run)")
        let (_, raw) = try await sandbox.status(file, store: sandbox.store)
        let round = try #require((raw["rounds"] as? [[String: Any]])?.last)
        let accepted = try #require(round["accepted"] as? Int)
        let rationalized = try #require(round["rationalized"] as? Int)
        #expect(rationalized > 0)
        #expect(round["learned_from"] as? Int == accepted - rationalized, "\(round)")
    }

    static func lines(_ path: String) throws -> [[String: Any]] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
    }
}
