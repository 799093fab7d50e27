import Foundation
import Testing

@Suite("Rounds")
struct RoundTests {
    static let states: Set<String> = ["promoted", "rejected", "running", "failed"]
    static let verdicts: Set<String> = ["improved", "no-change", "regressed"]

    @Test("run --rounds 2 commits baseline and two rounds; status --json follows SPEC §5 and agrees with the store")
    func roundsCommit() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let pipeline = try sandbox.write(ArithPipeline())
        let run = try await sandbox.flywheel(["run", pipeline, "--rounds", "2", "--store", sandbox.store])
        #expect(run.exitCode == 0, "\(run)")

        let (status, raw) = try await sandbox.status(pipeline)
        #expect(status.pipeline == "arith")
        #expect(raw["pipeline"] is String)
        try #require(status.rounds.map(\.round) == [0, 1, 2], "rounds: \(status.rounds.map(\.round))")
        let rawRounds = try #require(raw["rounds"] as? [[String: Any]])

        var lastPromoted = 0
        for (round, object) in zip(status.rounds, rawRounds) {
            let r = round.round
            #expect(Self.states.contains(round.state), "round \(r): state \(round.state)")
            #expect(["promoted", "rejected"].contains(round.state), "round \(r) is not committed after the run")
            for key in ["round", "generated", "accepted"] {
                #expect(Self.isInteger(object[key]), "round \(r): `\(key)` is \(String(describing: object[key]))")
            }

            let heldout = try #require(round.heldout, "round \(r) has no heldout")
            let heldoutObject = try #require(object["heldout"] as? [String: Any])
            #expect(Self.isInteger(heldoutObject["n"]))
            #expect(heldout.n > 0 && heldout.n <= 60)
            let results = try sandbox.heldoutResults(round: r).map(\.result)
            #expect(heldout.n == results.count)
            #expect(heldout.n == (try await sandbox.sqlInt("select count(*) from heldout_items where status = 'kept'")))
            #expect((0...1).contains(heldout.score))
            let mean = results.map(\.score).reduce(0, +) / Double(results.count)
            #expect(abs(heldout.score - mean) < 1e-9, "round \(r): score \(heldout.score), rows say \(mean)")
            try #require(heldout.ci.count == 2, "round \(r): ci \(heldout.ci)")
            #expect(0 <= heldout.ci[0] && heldout.ci[0] <= heldout.score, "round \(r): ci \(heldout.ci)")
            #expect(heldout.score <= heldout.ci[1] && heldout.ci[1] <= 1, "round \(r): ci \(heldout.ci)")

            let examples = try await sandbox.sqlInt("select count(*) from examples where round = \(r)")
            #expect(round.accepted == examples, "round \(r): accepted \(round.accepted), \(examples) examples stored")
            let acceptedVerdicts = try await sandbox.sqlInt(
                """
                select count(*) from verdicts v join attempts a on a.id = v.attempt_id join tasks t on t.id = a.task_id
                where t.round = \(r) and v.accept = 1
                """)
            #expect(round.accepted == acceptedVerdicts)
            let generatedRows = try await sandbox.sqlInt(
                "select count(*) from tasks where round = \(r) and status != 'error'")
            #expect(round.generated == generatedRows)
            let duplicates = try await sandbox.sqlInt(
                "select count(*) from tasks where round = \(r) and status = 'duplicate'")
            #expect(round.duplicates == duplicates)

            if r == 0 {
                #expect(round.state == "promoted")
                #expect(round.generated == 0 && round.accepted == 0)
                #expect(object["vs_previous"] == nil, "round 0 must have no vs_previous")
                continue
            }
            // Every training round generates round_size tasks (the arith generator never fails).
            #expect(round.generated == 30)
            #expect(round.accepted > 0)
            let versus = try #require(round.vsPrevious, "round \(r) has no vs_previous")
            let versusObject = try #require(object["vs_previous"] as? [String: Any])
            #expect(Self.isInteger(versusObject["b"]) && Self.isInteger(versusObject["c"]))
            #expect(Self.verdicts.contains(versus.verdict), "round \(r): verdict \(versus.verdict)")
            #expect((0...1).contains(versus.pValue))
            // b: passed by the last promoted version and failed now; c: the reverse.
            let previous = Dictionary(
                uniqueKeysWithValues: try sandbox.heldoutResults(round: lastPromoted).map { ($0.result.index, $0.result.accept) })
            let paired = results.compactMap { result in previous[result.index].map { ($0, result.accept) } }
            let pairs = "\(paired.count { $0.0 && !$0.1 })|\(paired.count { !$0.0 && $0.1 })"
            #expect("\(versus.b)|\(versus.c)" == pairs, "round \(r) vs round \(lastPromoted): b|c from rows \(pairs)")
            switch versus.verdict {
            case "improved": #expect(versus.c > versus.b && versus.pValue < 0.05)
            case "regressed": #expect(versus.b > versus.c && versus.pValue < 0.05)
            default: #expect(versus.pValue >= 0.05)
            }
            // The default gate is no-regression.
            #expect(round.state == (versus.verdict == "regressed" ? "rejected" : "promoted"), "round \(r)")
            if round.state == "promoted" { lastPromoted = r }
        }
        let duplicates = status.rounds.compactMap(\.duplicates).reduce(0, +)
        #expect(duplicates > 0, "arith_gen --dup-every 7 must produce counted duplicates")
    }

    @Test(
        "accepted examples are zstd frames, with a dictionary once enough exist; verify-store proves it, catches damage"
    )
    func zstdStore() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        try await Self.runAcceptEverything(sandbox)

        let magics = try await sandbox.sql("select hex(substr(payload, 1, 4)) from examples")
            .split(separator: "\n")
        #expect(magics.count >= 200, "\(magics.count) examples")
        #expect(magics.allSatisfy { $0 == "28B52FFD" }, "not all payloads are zstd frames: \(Set(magics))")
        #expect(try await sandbox.sqlInt("select count(*) from dictionaries") >= 1)
        // Each example is compressed with the dictionary or against its own task's text, whichever is smaller.
        #expect(
            try await sandbox.sqlInt("select count(*) from examples where dictionary_id is not null or against_task")
                == magics.count)
        let smaller = try await sandbox.sqlInt("select count(*) from examples where length(payload) < raw_bytes")
        #expect(smaller > 0, "no example was compressed smaller than its raw form")

        let verify = try await sandbox.flywheel(["verify-store", sandbox.path("arith.yaml"), "--store", sandbox.store])
        #expect(verify.exitCode == 0, "\(verify)")
        #expect(verify.stdout.hasPrefix("ok"), "\(verify)")

        // Damage one frame in its middle: verify-store must notice, name it and fail.
        let id = try await sandbox.sqlInt("select min(id) from examples")
        _ = try await sandbox.sql(
            """
            update examples set payload = substr(payload, 1, length(payload) / 2)
                || (case when substr(payload, length(payload) / 2 + 1, 1) = x'00' then x'01' else x'00' end)
                || substr(payload, length(payload) / 2 + 2) where id = \(id)
            """)
        let damaged = try await sandbox.flywheel(["verify-store", sandbox.path("arith.yaml"), "--store", sandbox.store])
        #expect(damaged.exitCode == 1, "\(damaged)")
        #expect((damaged.stdout + damaged.stderr).contains("example \(id)"), "\(damaged)")
        #expect(!damaged.stdout.hasPrefix("ok"))
    }

    @Test(
        "stored frames decode with the reference zstd tool to the recorded prompt and answer",
        .enabled(if: Repository.onPath("zstd")))
    func zstdFramesDecode() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        try await Self.runAcceptEverything(sandbox)
        let prompts = Dictionary(
            uniqueKeysWithValues: try sandbox.taskRows().tasks.map { ($0.record.id, $0.record.task?.prompt ?? "") })
        // The first example of each kind: compressed with a dictionary, against its task's text, or plain.
        let kinds = try await sandbox.sql(
            """
            select min(e.id), e.dictionary_id, e.against_task from examples e
            group by e.dictionary_id is not null, e.against_task order by 1
            """
        ).split(separator: "\n").map { $0.split(separator: "|", omittingEmptySubsequences: false).map(String.init) }
        #expect(kinds.contains { $0[2] == "1" }, "no example was compressed against its task: \(kinds)")
        for kind in kinds {
            let id = Int(kind[0])!
            let frame = sandbox.path("example-\(id).zst")
            _ = try await sandbox.sql("select writefile('\(frame)', payload) from examples where id = \(id)")
            var dictionary: [String] = []
            if !kind[1].isEmpty {
                let file = sandbox.path("dict-\(kind[1])")
                _ = try await sandbox.sql("select writefile('\(file)', bytes) from dictionaries where id = \(kind[1])")
                dictionary = ["-D", file]
            } else if kind[2] == "1" {
                // The task's text, decoded from its own frame, is the raw-content dictionary of the example's.
                let task = sandbox.path("task-of-\(id).json")
                dictionary = ["-D", task]
                let taskFrame = sandbox.path("task-of-\(id).zst")
                let taskDictionary = sandbox.path("task-dict-of-\(id)")
                let named = try await sandbox.sql(
                    """
                    select writefile('\(taskFrame)', t.task), writefile('\(taskDictionary)', d.bytes) is not null
                    from examples e join attempts a on a.id = e.attempt_id join tasks t on t.id = a.task_id
                    left join dictionaries d on d.id = t.text_dictionary where e.id = \(id)
                    """)
                let withDictionary = named.hasSuffix("|1") ? ["-D", taskDictionary] : []
                let decodedTask = try await sandbox.run(
                    ["zstd", "-d", "-q", "-f", "-o", task] + withDictionary + [taskFrame])
                try #require(decodedTask.exitCode == 0, "\(decodedTask)")
                let fields = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: task)))
                    as? [String: Any]
                #expect(fields?["prompt"] as? String != nil, "the task of example \(id) does not decode to its JSON")
            }
            let decoded = try await sandbox.run(["zstd", "-d", "-q", "-c"] + dictionary + [frame])
            try #require(decoded.exitCode == 0, "\(decoded)")
            let example = try #require(
                try JSONSerialization.jsonObject(with: Data(decoded.stdout.utf8)) as? [String: Any],
                "example \(id) is not a JSON object: \(decoded.stdout.prefix(300))")
            let recorded = try await sandbox.sql(
                """
                select t.id || char(10) || a.answer from examples e join attempts a on a.id = e.attempt_id
                join tasks t on t.id = a.task_id where e.id = \(id)
                """
            ).split(separator: "\n", maxSplits: 1).map(String.init)
            let taskPrompt = prompts[Int64(recorded.first ?? "") ?? -1] ?? "missing task"
            let prompt = example["prompt"] as? String ?? "?"
            let answer = example["answer"] as? String ?? "?"
            #expect(
                [prompt, answer] == [taskPrompt, recorded.last ?? ""], "example \(id): \(decoded.stdout.prefix(300))")
        }
    }

    @Test("a generator that refuses the whole held-out set: the baseline fails clearly, errors counted")
    func allErrorsBaseline() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        var arith = ArithPipeline()
        arith.name = "failing"
        arith.generator = Repository.python("fail_gen.py")
        arith.heldoutSize = 10
        let pipeline = try sandbox.write(arith)
        let run = try await sandbox.flywheel(["run", pipeline, "--rounds", "1", "--store", sandbox.store])
        #expect(run.exitCode == 1, "\(run)")
        #expect(run.stderr.contains("no usable held-out task"), "\(run.stderr)")
        let (status, _) = try await sandbox.status(pipeline)
        #expect(status.rounds.map(\.state) == ["failed"])
        #expect(status.rounds.first?.errors == 10)
        let verify = try await sandbox.flywheel(["verify-store", pipeline, "--store", sandbox.store])
        #expect(verify.exitCode == 0, "\(verify)")
    }

    /// Let through by `max_error_rate: 1`, the resumed round commits with generated 0 and every error counted.
    @Test("a generator that refuses every training task fails the round, unless max_error_rate lets it through")
    func allErrorsGenerator() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        var arith = ArithPipeline()
        arith.name = "failing"
        arith.generator = Repository.python("arith_gen.py") + ["--refuse-split", "train"]
        arith.roundSize = 20
        arith.heldoutSize = 10
        let pipeline = try sandbox.write(arith)
        let failed = try await sandbox.flywheel(["run", pipeline, "--rounds", "1", "--store", sandbox.store])
        #expect(failed.exitCode == 1, "\(failed)")
        #expect(
            failed.stderr.contains(
                "round 1: the generator failed 20 of 20 training generate requests (100%), more than max_error_rate 0.5 "
                    + "allows: refused 20"), "\(failed.stderr)")
        #expect(try await sandbox.sql("select state from rounds where round = 1") == "failed")

        arith.extra = ["max_error_rate: 1"]
        _ = try sandbox.write(arith)
        let run = try await sandbox.flywheel(["run", pipeline, "--rounds", "1", "--store", sandbox.store])
        #expect(run.exitCode == 0, "\(run)")

        let (status, _) = try await sandbox.status(pipeline)
        try #require(status.rounds.map(\.round) == [0, 1])
        let round = status.rounds[1]
        #expect(["promoted", "rejected"].contains(round.state), "round 1: \(round.state)")
        #expect(round.generated == 0)
        #expect(round.accepted == 0)
        #expect(round.errors == 20, "errors: \(String(describing: round.errors))")
        #expect(
            try await sandbox.sql("select status, error_kind, count(*) from tasks where round = 1 group by 1, 2")
                == "error|refused|20")
        #expect(try await sandbox.sqlInt("select count(*) from attempts") == 0)
        #expect(try await sandbox.sqlInt("select count(*) from heldout_items where status = 'error'") == 0)
        #expect(status.rounds[0].heldout?.n == 10)
        #expect(status.rounds[0].errors == 0)

        let verify = try await sandbox.flywheel(["verify-store", pipeline, "--store", sandbox.store])
        #expect(verify.exitCode == 0, "\(verify)")
    }

    /// Three rounds of 70 with a checker that accepts everything: 140 committed examples before round 3,
    /// enough for a dictionary.
    static func runAcceptEverything(_ sandbox: Sandbox) async throws {
        var arith = ArithPipeline()
        arith.generator = Repository.python("arith_gen.py")
        arith.checker = Repository.python("echo_check.py")
        arith.roundSize = 70
        arith.heldoutSize = 20
        let pipeline = try sandbox.write(arith)
        let run = try await sandbox.flywheel(["run", pipeline, "--rounds", "3", "--store", sandbox.store])
        try #require(run.exitCode == 0, "\(run)")
    }

    /// A JSON number with no fractional part (JSONDecoder's `Int` fields already refuse `true` and `1.5`).
    static func isInteger(_ value: Any?) -> Bool {
        guard let number = value as? NSNumber else { return false }
        return number.doubleValue == number.doubleValue.rounded() && abs(number.doubleValue) < 1e15
    }
}
