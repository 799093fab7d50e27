import FlywheelCore
import Foundation
import Testing

@Suite struct ExportTests {
    /// The file's lines, each parsed as one JSON object.
    static func lines(_ path: String) throws -> [[String: Any]] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(data.last == UInt8(ascii: "\n") || data.isEmpty, "JSONL ends with a newline")
        return try data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).dropLast().map {
            try #require(try JSONSerialization.jsonObject(with: Data($0)) as? [String: Any], "not an object")
        }
    }

    @Test func chatLinesCarryTheStoredTextExactlyWithLineageAndOnlyPromotedRounds() throws {
        let folder = TemporaryDirectory()
        let fixture = try HostileStore(in: folder)
        let out = folder.file("chat.jsonl")
        let summary = try ExampleExporter.export(store: fixture.store, to: out)
        #expect(summary.examples == 1 && summary.rounds == [0, 1] && summary.perRound == [1: 1])

        let lines = try Self.lines(out)
        try #require(lines.count == 1)
        let line = lines[0]
        #expect(Set(line.keys) == ["messages", "lineage"])
        let messages = try #require(line["messages"] as? [[String: String]])
        #expect(
            messages == [
                ["role": "user", "content": HostileStore.prompt],
                ["role": "assistant", "content": HostileStore.answer],
            ])
        let lineage = try #require(line["lineage"] as? [String: Any])
        #expect(lineage["round"] as? Int == 1)
        #expect(lineage["solver_version"] as? Int64 == fixture.baseline.id)
        #expect(lineage["checker"] as? String == "fixture-checker --strict")
        #expect(lineage["attempt"] as? Int == 0)
        #expect(lineage["task_index"] as? Int == 0)
        #expect(lineage["seeds"] as? [String: Int] == ["task": 4200, "attempt": 700])
        let meta = try #require(lineage["meta"] as? [String: Any])
        #expect(meta["family"] as? String == "hostile" && meta["note"] as? String == "<b>meta</b>")

        // Line separators inside strings are escaped, so every reader splits lines in the same places.
        let text = try String(contentsOfFile: out, encoding: .utf8)
        #expect(!text.unicodeScalars.contains("\u{2028}") && !text.unicodeScalars.contains("\u{85}"))
        #expect(text.contains("\\u2028") && text.contains("\\u0085"))
        #expect(!text.contains("round 2 was rejected") && !text.contains("round 3 is running"))
    }

    @Test func promptCompletionLinesHaveTheSameContent() throws {
        let folder = TemporaryDirectory()
        let fixture = try HostileStore(in: folder)
        let out = folder.file("pc.jsonl")
        try ExampleExporter.export(store: fixture.store, to: out, rounds: [1], format: .promptCompletion)
        let lines = try Self.lines(out)
        try #require(lines.count == 1)
        #expect(Set(lines[0].keys) == ["prompt", "completion", "lineage"])
        #expect(lines[0]["prompt"] as? String == HostileStore.prompt)
        #expect(lines[0]["completion"] as? String == HostileStore.answer)
    }

    @Test func namingARoundThatWasNotPromotedIsAUsageErrorAndLeavesTheFileAlone() throws {
        let folder = TemporaryDirectory()
        let fixture = try HostileStore(in: folder)
        let out = folder.file("keep.jsonl")
        try "old\n".write(toFile: out, atomically: true, encoding: .utf8)
        let cases = [([1, 2], "round 2 is rejected"), ([3], "round 3 is running"), ([9], "round 9 does not exist")]
        for (rounds, mention) in cases {
            let error = try #require(throws: FlywheelError.self) {
                try ExampleExporter.export(store: fixture.store, to: out, rounds: rounds)
            }
            #expect(error.code == .usage)
            #expect(error.message.contains(mention), "\(error.message)")
        }
        #expect(try String(contentsOfFile: out, encoding: .utf8) == "old\n")
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.contains(".tmp-") } == [])
    }

    @Test func anExampleWithAHeldOutPromptIsRefused() throws {
        let folder = TemporaryDirectory()
        let fixture = try HostileStore(in: folder)
        try fixture.store.insertHeldoutItem(
            index: 1, seed: 2, status: .kept, task: TaskSpec(prompt: HostileStore.prompt),
            promptHash: PromptNormalizer.hash(HostileStore.prompt), failure: nil)
        let error = try #require(throws: FlywheelError.self) {
            try ExampleExporter.export(store: fixture.store, to: folder.file("x.jsonl"))
        }
        #expect(error.code == .corruptStore)
        #expect(!FileManager.default.fileExists(atPath: folder.file("x.jsonl")))
    }

    /// Round 1 improves and is promoted; round 2's solver stops improving and must-improve rejects it.
    @Test func aRejectedRoundsExamplesAreNeverExported() async throws {
        let folder = TemporaryDirectory()
        func run(gain: Int) throws -> PipelineRun {
            try PipelineRun(
                """
            name: arith
            seed: 11
            round_size: 40
            heldout: {size: 60}
            generator: {command: [\(RoundIntegrationTests.plugin("arith_gen.py"))]}
            solver:
              command: [\(RoundIntegrationTests.plugin("arith_solve.py", "--base", "30", "--gain", "\(gain)"))]
              examples: 3
            checker: {command: [\(RoundIntegrationTests.plugin("exact_check.py"))]}
            gate: must-improve
            """, in: folder)
        }
        let one = try await run(gain: 20).rounds(1)[1]
        let flat = try run(gain: 0)
        let two = try await flat.engine.runRound()
        await flat.plugins.shutdown()
        try #require(one.state == .promoted && two.state == .rejected, "\(one.state) \(two.state)")
        let store = flat.store
        let roundTwo = Set(try store.examples(.round(2)).map(\.prompt))
        try #require(!roundTwo.isEmpty)

        let out = folder.file("export.jsonl")
        let summary = try ExampleExporter.export(store: store, to: out)
        #expect(summary.rounds == [0, 1])
        let lines = try Self.lines(out)
        #expect(lines.count == one.summary.counts.accepted && summary.examples == lines.count)

        let heldout = Set(try store.heldoutItems().compactMap(\.task?.prompt))
        let expected = Dictionary(uniqueKeysWithValues: try store.examples(.round(1)).map { ($0.prompt, $0.answer) })
        let taskIndex = Dictionary(uniqueKeysWithValues: try store.tasks(round: 1).map { ($0.id, $0.index) })
        let versions = Dictionary(
            uniqueKeysWithValues: try store.attempts(round: 1).map { (taskIndex[$0.taskID]!, $0.solverVersion) })
        var seen = Set<String>()
        for line in lines {
            let messages = try #require(line["messages"] as? [[String: String]])
            let prompt = try #require(messages.first?["content"])
            let lineage = try #require(line["lineage"] as? [String: Any])
            #expect(lineage["round"] as? Int == 1)
            #expect(expected[prompt] == messages.last?["content"], "round-trip of \(prompt)")
            #expect(!roundTwo.contains(prompt) && !heldout.contains(prompt))
            let index = try #require(lineage["task_index"] as? Int)
            #expect(lineage["solver_version"] as? Int64 == versions[index])
            seen.insert(prompt)
        }
        #expect(seen == Set(expected.keys))

        let error = try #require(throws: FlywheelError.self) {
            try ExampleExporter.export(store: store, to: out, rounds: [2])
        }
        #expect(error.code == .usage)
    }
}
