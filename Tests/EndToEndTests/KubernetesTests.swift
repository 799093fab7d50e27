import Foundation
import Testing
import Yams

/// ops/k8s: the Indexed Job of shards and the merge Job, rendered by ops/k8s/render.sh and checked field by field
/// (no cluster here: what a cluster would read is what is checked).
@Suite("Kubernetes manifests")
struct KubernetesTests {
    static let render = Repository.root + "/ops/k8s/render.sh"

    func documents(_ yaml: String) throws -> [[String: Any]] {
        try Yams.load_all(yaml: yaml).map { try #require($0 as? [String: Any], "a document is not a mapping") }
    }

    func value(_ object: Any?, _ path: String...) -> Any? {
        var current = object
        for key in path {
            if let index = Int(key), let array = current as? [Any] {
                current = index < array.count ? array[index] : nil
            } else {
                current = (current as? [String: Any])?[key]
            }
        }
        return current
    }

    @Test("render.sh: an Indexed Job of N shards on the shared claim, then a merge Job of the same plan")
    func rendered() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let outcome = try await sandbox.run([
            Self.render, "--name", "listfn-r1-train", "--image", "registry.example/flywheel:1.0", "--shards", "8",
            "--parallelism", "4", "--pipeline", "/data/listfn.yaml", "--store", "/data/listfn.sqlite", "--claim",
            "flywheel-data",
        ])
        try #require(outcome.exitCode == 0, "\(outcome)")
        #expect(!outcome.stdout.contains("${"), "a placeholder was left: \(outcome.stdout)")
        let docs = try documents(outcome.stdout)
        try #require(docs.count == 2)
        let (shards, merge) = (docs[0], docs[1])
        for job in docs {
            #expect(value(job, "apiVersion") as? String == "batch/v1")
            #expect(value(job, "kind") as? String == "Job")
            #expect(value(job, "spec", "template", "spec", "restartPolicy") as? String == "Never")
            #expect(
                value(job, "spec", "template", "spec", "volumes", "0", "persistentVolumeClaim", "claimName") as? String
                    == "flywheel-data")
            #expect(
                value(job, "spec", "template", "spec", "containers", "0", "volumeMounts", "0", "mountPath") as? String
                    == "/data")
            #expect(
                value(job, "spec", "template", "spec", "containers", "0", "image") as? String
                    == "registry.example/flywheel:1.0")
        }
        #expect(value(shards, "metadata", "name") as? String == "listfn-r1-train-shards")
        #expect(value(shards, "spec", "completionMode") as? String == "Indexed")
        #expect(value(shards, "spec", "completions") as? Int == 8)
        #expect(value(shards, "spec", "parallelism") as? Int == 4)
        #expect((value(shards, "spec", "backoffLimitPerIndex") as? Int ?? 0) >= 1)
        let command = try #require(value(shards, "spec", "template", "spec", "containers", "0", "command") as? [String])
        #expect(command.starts(with: ["flywheel", "round", "/data/listfn.yaml", "--shard", "auto"]), "\(command)")
        #expect(command.contains("/data/listfn.sqlite"))
        let env = try #require(value(shards, "spec", "template", "spec", "containers", "0", "env") as? [[String: Any]])
        #expect(env.contains { $0["name"] as? String == "FLYWHEEL_SHARDS" && $0["value"] as? String == "8" }, "\(env)")

        #expect(value(merge, "metadata", "name") as? String == "listfn-r1-train-merge")
        #expect(value(merge, "spec", "completionMode") == nil)
        #expect(value(merge, "spec", "completions") as? Int == 1)
        let mergeCommand = try #require(
            value(merge, "spec", "template", "spec", "containers", "0", "command") as? [String])
        #expect(
            mergeCommand == [
                "flywheel", "merge", "/data/listfn.yaml", "--shards", "8", "--store", "/data/listfn.sqlite",
                "--log-format", "json",
            ])

        // --part prints one Job: the shards are applied first, the merge once they are complete.
        for (part, name) in [("shards", "listfn-r1-train-shards"), ("merge", "listfn-r1-train-merge")] {
            let one = try await sandbox.run([
                Self.render, "--name", "listfn-r1-train", "--image", "i", "--shards", "8", "--pipeline",
                "/data/listfn.yaml", "--store", "/data/listfn.sqlite", "--claim", "c", "--part", part,
            ])
            let docs = try documents(one.stdout)
            #expect(docs.count == 1 && value(docs.first, "metadata", "name") as? String == name, "\(one)")
        }
    }

    @Test("the container's command works: the shard Job's argv with JOB_COMPLETION_INDEX runs that shard here")
    func commandRuns() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let pipeline = try sandbox.write(ArithPipeline())
        let outcome = try await sandbox.run([
            Self.render, "--name", "arith", "--image", "flywheel", "--shards", "2", "--pipeline", pipeline,
            "--store", sandbox.store, "--claim", "data", "--mount", sandbox.directory,
        ])
        try #require(outcome.exitCode == 0, "\(outcome)")
        let docs = try documents(outcome.stdout)
        for index in 0..<2 {
            let command = try #require(
                value(docs[0], "spec", "template", "spec", "containers", "0", "command") as? [String])
            let shard = try await sandbox.run(
                [
                    "env", "-u", "SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX=\(index)", "FLYWHEEL_SHARDS=2",
                    Repository.binary,
                ] + command.dropFirst())
            #expect(shard.exitCode == 0, "\(shard)")
        }
        let mergeCommand = try #require(
            value(docs[1], "spec", "template", "spec", "containers", "0", "command") as? [String])
        let merge = try await sandbox.run([Repository.binary] + mergeCommand.dropFirst())
        #expect(merge.exitCode == 0, "\(merge)")
        #expect(try await sandbox.sqlInt("select count(*) from heldout_items") == 60)
    }

    @Test("render.sh refuses a missing value, a bad shard count and paths off the shared volume (exit 64)")
    func refusals() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let base = [
            "--name", "x", "--image", "i", "--pipeline", "/data/p.yaml", "--store", "/data/s.sqlite", "--claim", "c",
        ]
        for (arguments, message) in [
            (base, "--shards is required"),
            (base + ["--shards", "0"], "--shards takes a count"),
            (base + ["--shards", "2", "--store", "/tmp/s.sqlite"], "not on the shared volume"),
            (base + ["--shards", "2", "--replicas", "3"], "unknown option"),
            (base + ["--shards", "2", "--part", "both"], "--part takes shards or merge"),
        ] {
            let outcome = try await sandbox.run([Self.render] + arguments)
            #expect(outcome.exitCode == 64, "\(arguments): \(outcome)")
            #expect(outcome.stderr.contains(message), "\(arguments): \(outcome)")
        }
    }
}
