import Foundation
import Processes
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A real Slurm on this machine (ops/slurm/local-cluster.sh: munged, slurmctld and slurmd as root on loopback
/// ports), driven by the scripts users run: ops/slurm/submit.sh chains the shard arrays and merges.
@Suite("Slurm", .serialized)
struct SlurmTests {
    static let programs = ["munged", "mungekey", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo"]

    static func installed(_ program: String) -> Bool {
        Repository.onPath(program)
            || ["/usr/sbin/", "/usr/bin/", "/sbin/"].contains {
                FileManager.default.isExecutableFile(atPath: $0 + program)
            }
    }

    @Test("submit.sh on a real Slurm: shard arrays and merges chained by afterok equal an unsharded run")
    func realSlurm() async throws {
        let missing = Self.programs.filter { !Self.installed($0) }
        try #require(
            missing.isEmpty,
            "not installed: \(missing.joined(separator: ", ")); run ops/install-deps.sh --test (make test does)")
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let script = Repository.root + "/ops/slurm/local-cluster.sh"
        let cluster = sandbox.path("slurm")
        let started = try await sandbox.run([script, "start", cluster], timeout: .seconds(90))
        if started.exitCode == 2 {
            try Test.cancel("Slurm's daemons cannot start here: \(started.stderr)")
        }
        try #require(started.exitCode == 0, "the local cluster did not start: \(started)")
        do {
            try await submitAndCompare(sandbox, conf: cluster + "/slurm.conf")
        } catch {
            _ = try? await sandbox.run([script, "stop", cluster])
            throw error
        }
        let stopped = try await sandbox.run([script, "stop", cluster])
        #expect(stopped.exitCode == 0, "\(stopped)")
        for pidFile in ["slurmd.pid", "slurmctld.pid", "munge/munged.pid"] {
            #expect(!FileManager.default.fileExists(atPath: cluster + "/" + pidFile), "\(pidFile) left behind")
        }
    }

    func submitAndCompare(_ sandbox: Sandbox, conf: String) async throws {
        let pipeline = try Sharded.listfn(in: sandbox)
        let reference = sandbox.path("reference.sqlite")
        let sharded = sandbox.path("sharded.sqlite")
        let run = try await sandbox.flywheel(["run", pipeline, "--rounds", "1", "--store", reference])
        try #require(run.exitCode == 0, "\(run)")

        let environment = ["env", "SLURM_CONF=\(conf)"]
        let submit = try await sandbox.run(
            environment + [
                Repository.root + "/ops/slurm/submit.sh", pipeline, "--shards", "3", "--rounds", "1", "--store",
                sharded, "--flywheel", Repository.binary, "--logs", sandbox.path("logs"),
            ])
        try #require(submit.exitCode == 0, "\(submit)")
        // The baseline's two phases and round 1's two: four arrays and four merges.
        let phases = submit.stdout.split(separator: "\n").filter { $0.hasPrefix("phase ") }
        #expect(phases.count == 4, "\(submit.stdout)")

        let deadline = ContinuousClock.now + .seconds(900)
        var queue = ""
        repeat {
            try await Task.sleep(for: .seconds(1))
            let squeue = try await sandbox.run(environment + ["squeue", "-h", "-o", "%i %T %r"])
            try #require(squeue.exitCode == 0, "\(squeue)")
            queue = squeue.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        } while !queue.isEmpty && ContinuousClock.now < deadline
        let logs = (try? FileManager.default.contentsOfDirectory(atPath: sandbox.path("logs"))) ?? []
        #expect(queue.isEmpty, "jobs still queued after 15 minutes: \(queue)")
        #expect(logs.count { $0.hasPrefix("shard-") } == 12, "\(logs.sorted())")
        #expect(logs.count { $0.hasPrefix("merge-") } == 4, "\(logs.sorted())")
        let (status, _) = try await sandbox.status(pipeline, store: sharded)
        if status.rounds.count != 2
            || status.rounds.contains(where: { $0.state != "promoted" && $0.state != "rejected" })
        {
            for log in logs.sorted() where log.hasPrefix("merge-") {
                let text = (try? String(contentsOfFile: sandbox.path("logs/" + log), encoding: .utf8)) ?? ""
                Issue.record("\(log): \(text.suffix(1500))")
            }
        }
        try await Sharded.expectSame(sandbox, pipeline: pipeline, reference: reference, sharded: sharded, rounds: 1)
    }
}
