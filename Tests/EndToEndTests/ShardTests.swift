import Foundation
import Testing

/// Runs a pipeline as shards plus merges and compares the store with an unsharded `run` of the same pipeline.
enum Sharded {
    /// A small listfn pipeline (the built-in generator and solver, the Python checker) with an absolute checker path.
    static func listfn(in sandbox: Sandbox, name: String = "listfn.yaml") throws -> String {
        let text = try String(contentsOfFile: Repository.root + "/Pipelines/listfn.yaml", encoding: .utf8)
            .replacingOccurrences(of: "round_size: 200", with: "round_size: 40")
            .replacingOccurrences(of: "size: 400", with: "size: 60")
            .replacingOccurrences(of: "budget: 5000", with: "budget: 1500")
            .replacingOccurrences(of: "listfn/check.py", with: Repository.root + "/Pipelines/listfn/check.py")
        return try sandbox.write(name, text)
    }

    /// Where one shard is killed with SIGKILL and then run again: at `step` (0 is round 0's held-out phase, then
    /// evaluation, then round 1's training…), once its partial file has recorded `answers` solver answers.
    struct Kill {
        var step: Int
        var shard: Int
        var answers: Int
    }

    static func shardFiles(_ store: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: store + ".shards")) ?? []).sorted()
    }

    /// The solver answers a shard file has recorded.
    static func answers(_ file: String) -> Int {
        ((try? String(contentsOfFile: file, encoding: .utf8)) ?? "").split(separator: "\n")
            .count { $0.hasPrefix("{\"solved\":") }
    }

    /// Every phase of `rounds` rounds after the baseline: all shards at once, then merge.
    /// - Returns: the ids of the solve requests the killed shard's file had recorded when it was killed.
    @discardableResult
    static func run(
        _ sandbox: Sandbox, pipeline: String, store: String, shards: Int, rounds: Int, kill: Kill? = nil,
        mergeArguments: [String] = []
    ) async throws -> [String] {
        var recorded: [String] = []
        for step in 0..<(2 * (rounds + 1)) {
            if let kill, kill.step == step {
                let child = try sandbox.startFlywheel([
                    "round", pipeline, "--shard", "\(kill.shard)/\(shards)", "--store", store,
                ])
                let outcome = await child.wait {
                    let file = shardFiles(store).first { $0.hasSuffix("-\(kill.shard)-of-\(shards).jsonl.partial") }
                    return file.map { answers(store + ".shards/" + $0) >= kill.answers } ?? false
                }
                try #require(outcome.killedBySIGKILL, "the shard ended before the kill point: \(outcome)")
                let partial = try #require(shardFiles(store).first { $0.hasSuffix(".partial") })
                let text = try String(contentsOfFile: store + ".shards/" + partial, encoding: .utf8)
                for line in text.split(separator: "\n") {
                    guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                        let solved = object["solved"] as? [String: Any], let index = solved["index"] as? Int,
                        let attempt = solved["attempt"] as? Int
                    else { continue }
                    recorded.append("r\(step / 2)-s\(index)-\(attempt)")
                }
                // A killed shard is not done: merge refuses and names it.
                let early = try await sandbox.flywheel(["merge", pipeline, "--store", store, "--shards", "\(shards)"])
                #expect(early.exitCode == 75, "\(early)")
                #expect(early.stderr.contains("--array="), "\(early)")
            }
            try await phase(
                sandbox, pipeline: pipeline, store: store, shards: shards, label: "step \(step)",
                mergeArguments: mergeArguments)
        }
        return recorded
    }

    /// One phase: every shard at once, then merge.
    static func phase(
        _ sandbox: Sandbox, pipeline: String, store: String, shards: Int, label: String = "",
        mergeArguments: [String] = []
    ) async throws {
        try await withThrowingTaskGroup(of: Outcome.self) { group in
            for index in 0..<shards {
                group.addTask {
                    try await sandbox.flywheel(
                        ["round", pipeline, "--shard", "\(index)/\(shards)", "--store", store],
                        timeout: .seconds(300))
                }
            }
            for try await outcome in group {
                #expect(outcome.exitCode == 0, "\(label): \(outcome)")
            }
        }
        let merge = try await sandbox.flywheel(
            ["merge", pipeline, "--store", store] + mergeArguments, timeout: .seconds(300))
        try #require(merge.exitCode == 0, "\(label): \(merge)")
    }

    /// `status --json` without timings and timestamps.
    static func status(_ sandbox: Sandbox, pipeline: String, store: String) async throws -> NSDictionary {
        let outcome = try await sandbox.flywheel(["status", pipeline, "--store", store, "--json"])
        try #require(outcome.exitCode == 0, "\(outcome)")
        let object = try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8))
        func strip(_ value: Any) -> Any {
            if let object = value as? [String: Any] {
                return object.filter { key, _ in !key.contains("seconds") && !key.hasSuffix("_at") }
                    .mapValues(strip)
            }
            if let array = value as? [Any] { return array.map(strip) }
            return value
        }
        return try #require(strip(object) as? [String: Any]) as NSDictionary
    }

    static func export(_ sandbox: Sandbox, pipeline: String, store: String, to name: String) async throws -> Data {
        let outcome = try await sandbox.flywheel(["export", pipeline, "--store", store, "--out", sandbox.path(name)])
        try #require(outcome.exitCode == 0, "\(outcome)")
        return try Data(contentsOf: URL(fileURLWithPath: sandbox.path(name)))
    }

    /// Export bytes, `status --json` (timings aside) and the stored rows are the same in both stores.
    static func expectSame(
        _ sandbox: Sandbox, pipeline: String, reference: String, sharded: String, rounds: Int
    ) async throws {
        let want = try await export(sandbox, pipeline: pipeline, store: reference, to: "reference.jsonl")
        let got = try await export(sandbox, pipeline: pipeline, store: sharded, to: "sharded.jsonl")
        #expect(!want.isEmpty)
        #expect(got == want, "export differs: \(got.count) bytes sharded, \(want.count) unsharded")
        let expected = try await status(sandbox, pipeline: pipeline, store: reference)
        let actual = try await status(sandbox, pipeline: pipeline, store: sharded)
        #expect((expected["rounds"] as? [Any])?.count == rounds + 1)
        #expect(actual == expected, "status --json differs:\n\(actual)\nunsharded:\n\(expected)")
        for (label, query) in DurabilityTests.contents {
            let a = try await sandbox.sql(query, store: reference)
            let b = try await sandbox.sql(query, store: sharded)
            #expect(a == b, "\(label) differ: \(DurabilityTests.firstDifference(a, b))")
        }
        let verify = try await sandbox.flywheel(["verify-store", pipeline, "--store", sharded])
        #expect(verify.exitCode == 0, "\(verify)")
        #expect(shardFiles(sharded).isEmpty, "merge leaves no shard file of a committed round")
    }
}

@Suite("Sharded rounds", .serialized)
struct ShardTests {
    @Test("listfn: round --shard I/N for every I plus merge equals run, byte for byte", arguments: [1, 3, 7])
    func listfn(shards: Int) async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let pipeline = try Sharded.listfn(in: sandbox)
        let reference = sandbox.path("reference.sqlite")
        let sharded = sandbox.path("sharded.sqlite")
        let run = try await sandbox.flywheel(["run", pipeline, "--rounds", "2", "--store", reference])
        try #require(run.exitCode == 0, "\(run)")
        try await Sharded.run(sandbox, pipeline: pipeline, store: sharded, shards: shards, rounds: 2)
        try await Sharded.expectSame(sandbox, pipeline: pipeline, reference: reference, sharded: sharded, rounds: 2)
    }

    @Test(
        "external plugins with duplicates: shards plus merge equal run, a shard killed mid-way and rerun",
        arguments: [1, 3, 7])
    func external(shards: Int) async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        var arith = ArithPipeline()
        arith.parallelism = 2
        let calls = sandbox.path("solve.ids")
        arith.solver = try sandbox.logged("arith_solve.py", ["--delay", "0.05"], log: calls)
        let pipeline = try sandbox.write(arith)
        let reference = sandbox.path("reference.sqlite")
        let sharded = sandbox.path("sharded.sqlite")
        let run = try await sandbox.flywheel(["run", pipeline, "--rounds", "2", "--store", reference])
        try #require(run.exitCode == 0, "\(run)")
        // Round 1's training phase (step 2): the shard dies after a few generated, solved and checked items.
        let kill = Sharded.Kill(step: 2, shard: shards - 1, answers: shards == 7 ? 1 : 3)
        let answered = try await Sharded.run(
            sandbox, pipeline: pipeline, store: sharded, shards: shards, rounds: 2, kill: kill)
        // Every solve the killed shard had recorded was asked once by the reference run and once by the shards:
        // the rerun shard did not ask again.
        let log = try String(contentsOfFile: calls, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(!answered.isEmpty, "the kill came before any recorded answer")
        for id in answered {
            #expect(log.count { $0 == id } == 2, "\(id) was asked \(log.count { $0 == id }) times")
        }
        let duplicates = try await sandbox.sqlInt(
            "select count(*) from tasks where status = 'duplicate'", store: sharded)
        #expect(duplicates > 0, "the arith generator makes duplicates across shards")
        try await Sharded.expectSame(sandbox, pipeline: pipeline, reference: reference, sharded: sharded, rounds: 2)
    }

    @Test("contamination: a generator leaking held-out prompts, sharded 3 ways, equals run")
    func contamination() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        func pipeline(_ label: String) throws -> String {
            var arith = ArithPipeline()
            arith.generator = Repository.python("contaminating_gen.py", "--record", sandbox.path("\(label).records"))
            return try sandbox.write(arith, as: "\(label).yaml")
        }
        // One file per run (the generator records held-out prompts in it), otherwise identical bytes: the plan
        // hash differs, so each store is driven by its own file.
        let referenceFile = try pipeline("reference")
        let shardedFile = try pipeline("sharded")
        let reference = sandbox.path("reference.sqlite")
        let sharded = sandbox.path("sharded.sqlite")
        let run = try await sandbox.flywheel(["run", referenceFile, "--rounds", "1", "--store", reference])
        try #require(run.exitCode == 0, "\(run)")
        try await Sharded.run(sandbox, pipeline: shardedFile, store: sharded, shards: 3, rounds: 1)
        let contaminated = try await sandbox.sqlInt(
            "select count(*) from tasks where status = 'contaminated'", store: sharded)
        #expect(contaminated > 0)
        let want = try await Sharded.export(sandbox, pipeline: referenceFile, store: reference, to: "a.jsonl")
        let got = try await Sharded.export(sandbox, pipeline: shardedFile, store: sharded, to: "b.jsonl")
        #expect(got == want)
        for (label, query) in DurabilityTests.contents {
            let a = try await sandbox.sql(query, store: reference)
            let b = try await sandbox.sql(query, store: sharded)
            #expect(a == b, "\(label) differ: \(DurabilityTests.firstDifference(a, b))")
        }
    }

    @Test("merge with shards missing changes nothing, exits 75 and names them as --array=2,7; status shows them")
    func missingShards() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let pipeline = try sandbox.write(ArithPipeline())
        let store = sandbox.store
        try await Sharded.run(sandbox, pipeline: pipeline, store: store, shards: 2, rounds: 0)
        let before = try await sandbox.sql("select round, state from rounds", store: store)
        for index in [0, 1, 3, 4, 5, 6] {
            let shard = try await sandbox.flywheel(["round", pipeline, "--shard", "\(index)/8", "--store", store])
            #expect(shard.exitCode == 0, "\(shard)")
        }
        let merge = try await sandbox.flywheel(["merge", pipeline, "--store", store])
        #expect(merge.exitCode == 75, "\(merge)")
        #expect(merge.stderr.contains("--array=2,7"), "\(merge)")
        #expect(try await sandbox.sql("select round, state from rounds", store: store) == before)
        #expect(try await sandbox.sqlInt("select count(*) from tasks", store: store) == 0)

        let (_, raw) = try await sandbox.status(pipeline, store: store)
        let shards = try #require(raw["shards"] as? [String: Any], "status --json has no shards: \(raw)")
        #expect(shards["round"] as? Int == 1)
        #expect(shards["phase"] as? String == "train")
        #expect(shards["shards"] as? Int == 8)
        #expect(shards["done"] as? [Int] == [0, 1, 3, 4, 5, 6])
        #expect(shards["missing"] as? [Int] == [2, 7])
        let text = try await sandbox.flywheel(["status", pipeline, "--store", store])
        #expect(text.stdout.contains("round 1 sharded, train phase: 6 of 8 shards done"), "\(text)")

        for index in [2, 7] {
            let shard = try await sandbox.flywheel(["round", pipeline, "--shard", "\(index)/8", "--store", store])
            #expect(shard.exitCode == 0, "\(shard)")
        }
        let again = try await sandbox.flywheel(["merge", pipeline, "--store", store])
        #expect(again.exitCode == 0, "\(again)")
        let (_, after) = try await sandbox.status(pipeline, store: store)
        let phase = (after["shards"] as? [String: Any])?["phase"] as? String
        #expect(phase == nil, "no evaluation shard has run yet: \(after["shards"] ?? "none")")
        #expect(try await sandbox.sqlInt("select count(*) from tasks where round = 1", store: store) == 30)
    }

    @Test("merge refuses shard files of another plan: another pipeline file, seed or shard count")
    func anotherPlan() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let pipeline = try sandbox.write(ArithPipeline())
        var other = ArithPipeline()
        other.seed = 8
        let otherFile = try sandbox.write(other, as: "other.yaml")
        let store = sandbox.store
        try await Sharded.run(sandbox, pipeline: pipeline, store: store, shards: 1, rounds: 0)

        #expect(try await sandbox.flywheel(["round", pipeline, "--shard", "0/2", "--store", store]).exitCode == 0)
        #expect(try await sandbox.flywheel(["round", otherFile, "--shard", "1/2", "--store", store]).exitCode == 0)
        let merge = try await sandbox.flywheel(["merge", pipeline, "--store", store])
        #expect(merge.exitCode == 64, "\(merge)")
        #expect(merge.stderr.contains("another plan"), "\(merge)")
        #expect(merge.stderr.contains("seed 8 not 7"), "\(merge)")
        #expect(merge.stderr.contains("round-1-train-1-of-2.jsonl"), "\(merge)")
        #expect(try await sandbox.sqlInt("select count(*) from rounds", store: store) == 1)

        // The same pipeline split two ways and three ways: which set is meant is unclear.
        #expect(try await sandbox.flywheel(["round", pipeline, "--shard", "1/3", "--store", store]).exitCode == 0)
        try FileManager.default.removeItem(atPath: store + ".shards/round-1-train-1-of-2.jsonl")
        let mixed = try await sandbox.flywheel(["merge", pipeline, "--store", store])
        #expect(mixed.exitCode == 64, "\(mixed)")
        #expect(mixed.stderr.contains("different shard counts"), "\(mixed)")
    }

    @Test("--shard auto reads Slurm's or Kubernetes' index; the count from --shards, FLYWHEEL_SHARDS or Slurm")
    func auto() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let pipeline = try sandbox.write(ArithPipeline())
        let store = sandbox.store
        func shard(_ environment: [String], _ extra: [String] = []) async throws -> Outcome {
            try await sandbox.run(
                [
                    "env", "-u", "SLURM_ARRAY_TASK_ID", "-u", "SLURM_ARRAY_TASK_COUNT", "-u", "JOB_COMPLETION_INDEX",
                    "-u", "FLYWHEEL_SHARDS",
                ] + environment
                    + [Repository.binary, "round", pipeline, "--shard", "auto", "--store", store] + extra)
        }
        let slurm = try await shard(["SLURM_ARRAY_TASK_ID=1", "SLURM_ARRAY_TASK_COUNT=3"])
        #expect(slurm.exitCode == 0, "\(slurm)")
        let k8s = try await shard(["JOB_COMPLETION_INDEX=2", "FLYWHEEL_SHARDS=3"])
        #expect(k8s.exitCode == 0, "\(k8s)")
        // A resubmitted array (--array=0) has SLURM_ARRAY_TASK_COUNT=1: --shards names the plan's count.
        let resubmitted = try await shard(["SLURM_ARRAY_TASK_ID=0", "SLURM_ARRAY_TASK_COUNT=1"], ["--shards", "3"])
        #expect(resubmitted.exitCode == 0, "\(resubmitted)")
        #expect(
            Sharded.shardFiles(store) == [
                "round-0-heldout-0-of-3.jsonl", "round-0-heldout-1-of-3.jsonl", "round-0-heldout-2-of-3.jsonl",
            ])
        let noCount = try await shard(["JOB_COMPLETION_INDEX=0"])
        #expect(noCount.exitCode == 64, "\(noCount)")
        #expect(noCount.stderr.contains("--shards N"), "\(noCount)")
        let nothing = try await shard([])
        #expect(nothing.exitCode == 64, "\(nothing)")
        let outside = try await sandbox.flywheel(["round", pipeline, "--shard", "3/3", "--store", store])
        #expect(outside.exitCode == 64, "\(outside)")
        let merge = try await sandbox.flywheel(["merge", pipeline, "--store", store])
        #expect(merge.exitCode == 0, "\(merge)")
        #expect(try await sandbox.sqlInt("select count(*) from heldout_items", store: store) == 60)
    }

    @Test("a merge killed mid-way leaves a consistent store and is run again: the same end state as run")
    func mergeKilled() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        var arith = ArithPipeline()
        // Large enough that the merge is still recording tasks when the first 50 are visible, with the store
        // polled every millisecond: 1,500 were all recorded before the kill in a release build.
        arith.roundSize = 4000
        arith.heldoutSize = 20
        let pipeline = try sandbox.write(arith)
        let reference = sandbox.path("reference.sqlite")
        let store = sandbox.path("sharded.sqlite")
        async let referenceRun = sandbox.flywheel(
            ["run", pipeline, "--rounds", "1", "--store", reference], timeout: .seconds(300))
        try await Sharded.run(sandbox, pipeline: pipeline, store: store, shards: 2, rounds: 0)
        for index in 0..<2 {
            let shard = try await sandbox.flywheel(
                ["round", pipeline, "--shard", "\(index)/2", "--store", store], timeout: .seconds(300))
            try #require(shard.exitCode == 0, "\(shard)")
        }
        let merge = try sandbox.startFlywheel(["merge", pipeline, "--store", store])
        let killed = await merge.wait(interval: .milliseconds(1)) {
            (await sandbox.poll("select count(*) from tasks where round = 1", store: store) ?? 0) >= 50
        }
        try #require(killed.killedBySIGKILL, "the merge ended before the kill point: \(killed)")
        let recorded = try await sandbox.sqlInt("select count(*) from tasks where round = 1", store: store)
        #expect(recorded < 4000, "the merge had recorded everything before the kill")
        let verify = try await sandbox.flywheel(["verify-store", pipeline, "--store", store])
        #expect(verify.exitCode == 0, "\(verify)")
        let again = try await sandbox.flywheel(["merge", pipeline, "--store", store], timeout: .seconds(300))
        try #require(again.exitCode == 0, "\(again)")
        try await Sharded.phase(sandbox, pipeline: pipeline, store: store, shards: 2, label: "round 1 evaluation")
        let run = try await referenceRun
        try #require(run.exitCode == 0, "\(run)")
        try await Sharded.expectSame(sandbox, pipeline: pipeline, reference: reference, sharded: store, rounds: 1)
    }

    @Test("the zstd dictionary: trained at the start of the training merge as at the start of a round, same frames")
    func dictionary() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        var arith = ArithPipeline()
        arith.roundSize = 300
        arith.heldoutSize = 30
        // Always right: round 1 commits well over the 128 examples a dictionary needs; round 2 uses it.
        arith.solver = Repository.python("arith_solve.py", "--base", "100")
        arith.extra = ["gate: always"]
        let pipeline = try sandbox.write(arith)
        let reference = sandbox.path("reference.sqlite")
        let sharded = sandbox.path("sharded.sqlite")
        let run = try await sandbox.flywheel(["run", pipeline, "--rounds", "2", "--store", reference])
        try #require(run.exitCode == 0, "\(run)")
        try await Sharded.run(sandbox, pipeline: pipeline, store: sharded, shards: 3, rounds: 2)
        // The same dictionaries, trained in the same rounds (the held-out set's at round 0 when it is big enough to
        // train on, the examples' once enough are committed).
        let dictionaries = "select created_round, kind, hex(bytes) from dictionaries order by id"
        let trained = try await sandbox.sql(dictionaries, store: sharded)
        #expect(!trained.isEmpty)
        #expect(trained == (try await sandbox.sql(dictionaries, store: reference)))
        let framed = "select count(*) from examples where round = 2 and (dictionary_id is not null or against_task)"
        #expect(try await sandbox.sqlInt(framed, store: sharded) > 0)
        let frames =
            "select e.round, t.idx, hex(e.payload), hex(t.task) from examples e join attempts a on a.id = e.attempt_id "
            + "join tasks t on t.id = a.task_id order by 1, 2"
        let want = try await sandbox.sql(frames, store: reference)
        let got = try await sandbox.sql(frames, store: sharded)
        #expect(got == want, "zstd frames differ: \(DurabilityTests.firstDifference(want, got))")
        #expect(
            try await sandbox.sql("select hex(bytes) from dictionaries", store: sharded)
                == sandbox.sql("select hex(bytes) from dictionaries", store: reference))
        try await Sharded.expectSame(sandbox, pipeline: pipeline, reference: reference, sharded: sharded, rounds: 2)
    }

    @Test("generator and solver failures (retried, then recorded) and two attempts a task: sharded equals run")
    func failuresAndAttempts() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        func pipeline(_ label: String) throws -> String {
            let state = sandbox.path("\(label)-state")
            try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
            var arith = ArithPipeline()
            // Every 4th (by digit sum) generate request of round 1 and every 5th solve request get a bad answer,
            // every time: retried, then recorded as an error, the same way in both runs.
            arith.generator = Repository.python(
                "flaky.py", "--state", state, "--mode", "garbage", "--always", "--match", "^r1-g", "--every", "4",
                "--", "python3", "-u", Repository.plugin("arith_gen.py"), "--dup-every", "7")
            arith.solver = Repository.python(
                "flaky.py", "--state", state, "--mode", "wrongid", "--always", "--match", "^r1-s", "--every", "5",
                "--", "python3", "-u", Repository.plugin("arith_solve.py"))
            arith.extra = ["attempts: 2"]
            return try sandbox.write(arith, as: "\(label).yaml")
        }
        let referenceFile = try pipeline("reference")
        let shardedFile = try pipeline("sharded")
        let reference = sandbox.path("reference.sqlite")
        let sharded = sandbox.path("sharded.sqlite")
        let run = try await sandbox.flywheel(["run", referenceFile, "--rounds", "1", "--store", reference])
        try #require(run.exitCode == 0, "\(run)")
        try await Sharded.run(sandbox, pipeline: shardedFile, store: sharded, shards: 3, rounds: 1)
        #expect(try await sandbox.sqlInt("select count(*) from tasks where status = 'error'", store: sharded) > 0)
        #expect(
            try await sandbox.sqlInt("select count(*) from attempts where error_kind is not null", store: sharded) > 0)
        #expect(try await sandbox.sqlInt("select count(*) from attempts where attempt = 1", store: sharded) > 0)
        let want = try await Sharded.export(sandbox, pipeline: referenceFile, store: reference, to: "a.jsonl")
        let got = try await Sharded.export(sandbox, pipeline: shardedFile, store: sharded, to: "b.jsonl")
        #expect(got == want)
        let expected = try await Sharded.status(sandbox, pipeline: referenceFile, store: reference)
        let actual = try await Sharded.status(sandbox, pipeline: shardedFile, store: sharded)
        #expect(actual["rounds"] as? NSArray == expected["rounds"] as? NSArray)
        for (label, query) in DurabilityTests.contents + [
            ("retries", "select round, idx, retries from tasks order by 1, 2"),
            (
                "errors",
                "select t.round, t.idx, a.attempt, a.error from attempts a join tasks t on t.id = a.task_id order by 1, 2, 3"
            ),
        ] {
            let a = try await sandbox.sql(query, store: reference)
            let b = try await sandbox.sql(query, store: sharded)
            #expect(a == b, "\(label) differ: \(DurabilityTests.firstDifference(a, b))")
        }
    }

    @Test("a control run (--no-learning) reuses the promoted round's held-out results, with a checker audit: equal")
    func controlWithAudit() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        var arith = ArithPipeline()
        arith.audit(Repository.python("echo_check.py"), fraction: 0.5)
        let pipeline = try sandbox.write(arith)
        let reference = sandbox.path("reference.sqlite")
        let sharded = sandbox.path("sharded.sqlite")
        let run = try await sandbox.flywheel(["run", pipeline, "--rounds", "2", "--no-learning", "--store", reference])
        try #require(run.exitCode == 0, "\(run)")
        try await Sharded.run(
            sandbox, pipeline: pipeline, store: sharded, shards: 3, rounds: 2, mergeArguments: ["--no-learning"])
        // Rounds 1 and 2 evaluated nothing: their results are round 0's, copied by the training merge.
        let copied = try sandbox.heldoutResults(round: 2, store: sharded).count
        let expected = try sandbox.heldoutResults(round: 2, store: reference).count
        #expect(copied > 0 && copied == expected)
        try await Sharded.expectSame(sandbox, pipeline: pipeline, reference: reference, sharded: sharded, rounds: 2)
    }
}
