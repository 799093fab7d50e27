import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The store under faults an operator meets: text with NULs, files that are not stores, stores of other pipelines
/// and other versions, read-only folders, full disks.
@Suite("Store faults")
struct StoreFaultTests {
    /// A pipeline whose every op is `nul_text.py`: prompts, answers, traces, reasons and meta carry U+0000, and the
    /// checker accepts only a whole answer. The checker is slow, so a kill finds answers stored but not yet checked.
    static func nulPipeline(_ sandbox: Sandbox, as name: String) throws -> String {
        var arith = ArithPipeline()
        arith.roundSize = 24
        arith.heldoutSize = 24
        arith.parallelism = 4
        arith.generator = Repository.python("nul_text.py")
        arith.solver = Repository.python("nul_text.py")
        arith.checker = Repository.python("nul_text.py", "--delay", "0.1")
        arith.extra = ["gate: always"]
        return try sandbox.write(arith, as: name)
    }

    /// Text columns as hex, so that the sqlite3 shell (which prints text up to its first NUL) compares every byte.
    static let nulContents = [
        ("tasks", "select round, idx, status, hex(task) from tasks order by 1, 2"),
        (
            "attempts",
            """
            select t.round, t.idx, a.attempt, hex(a.answer), hex(a.trace), a.error_kind
            from attempts a join tasks t on t.id = a.task_id order by 1, 2, 3
            """
        ),
        (
            "verdicts",
            """
            select t.round, t.idx, a.attempt, v.accept, hex(v.reason), v.error_kind
            from verdicts v join attempts a on a.id = v.attempt_id join tasks t on t.id = a.task_id order by 1, 2, 3
            """
        ),
        ("heldout_items", "select idx, status, hex(task) from heldout_items order by idx"),
    ]

    /// Every held-out result with its answer and reason as hex of their UTF-8 bytes, read through the library
    /// (committed rounds keep their results packed).
    static func nulHeldoutResults(_ sandbox: Sandbox, store: String) throws -> String {
        func hex(_ text: String?) -> String { text.map { $0.utf8.map { String(format: "%02X", $0) }.joined() } ?? "" }
        return try sandbox.heldoutResults(store: store).map { round, r in
            "\(round)|\(r.index)|\(hex(r.answer))|\(r.accept)|\(hex(r.reason))"
        }.joined(separator: "\n")
    }

    @Test("answers with NULs: kill -9 between answer and verdict, resume: the uninterrupted run, every byte kept")
    func nulTextSurvivesKillAndResume() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let referenceFile = try Self.nulPipeline(sandbox, as: "reference.yaml")
        let resumedFile = try Self.nulPipeline(sandbox, as: "resumed.yaml")
        let referenceStore = sandbox.path("reference.sqlite")
        let resumedStore = sandbox.path("resumed.sqlite")
        let resumedRun = ["run", resumedFile, "--rounds", "1", "--store", resumedStore]

        let reference = try await sandbox.flywheel(["run", referenceFile, "--rounds", "1", "--store", referenceStore])
        try #require(reference.exitCode == 0, "\(reference)")

        let child = try sandbox.startFlywheel(resumedRun)
        let killed = await child.wait {
            (await sandbox.poll(DurabilityTests.trainingAttempts(1), store: resumedStore) ?? 0) >= 8
        }
        try #require(killed.killedBySIGKILL, "the run ended before the kill: \(killed)")
        let unchecked = try await sandbox.sqlInt(
            "select count(*) from attempts a left join verdicts v on v.attempt_id = a.id where v.attempt_id is null",
            store: resumedStore)
        try #require(unchecked > 0, "no answer was waiting for its verdict at the kill: nothing to re-check")
        let resumed = try await sandbox.flywheel(resumedRun)
        try #require(resumed.exitCode == 0, "\(resumed)")

        // Every stored answer, trace and prompt kept its NUL and what follows it.
        for store in [referenceStore, resumedStore] {
            let cut = try await sandbox.sqlInt(
                """
                select count(*) from attempts a join tasks t on t.id = a.task_id
                where instr(hex(a.answer), '00') = 0 or instr(hex(a.trace), '00') = 0
                """, store: store)
            #expect(cut == 0, "\(cut) answers or traces lost their NUL in \(store)")
            let (tasks, heldout) = try sandbox.taskRows(store: store)
            let prompts = (tasks.map(\.record) + heldout).compactMap(\.task?.prompt)
            #expect(!prompts.isEmpty && prompts.allSatisfy { $0.contains("\0") }, "a prompt lost its NUL in \(store)")
        }
        let accepted = try await sandbox.sqlInt("select count(*) from verdicts where accept = 1", store: referenceStore)
        let rejected = try await sandbox.sqlInt("select count(*) from verdicts where accept = 0", store: referenceStore)
        #expect(accepted > 0 && rejected > 0, "the fixture should give both verdicts: \(accepted), \(rejected)")

        let (expected, _) = try await sandbox.status(referenceFile, store: referenceStore)
        let (actual, _) = try await sandbox.status(resumedFile, store: resumedStore)
        #expect(actual.rounds == expected.rounds)
        for (label, query) in Self.nulContents {
            let want = try await sandbox.sql(query, store: referenceStore)
            let got = try await sandbox.sql(query, store: resumedStore)
            #expect(want == got, "\(label) differ: \(DurabilityTests.firstDifference(want, got))")
        }
        let (wantHeldout, gotHeldout) = (
            try Self.nulHeldoutResults(sandbox, store: referenceStore),
            try Self.nulHeldoutResults(sandbox, store: resumedStore)
        )
        #expect(wantHeldout.contains("00"), "held-out answers with NULs")
        #expect(
            wantHeldout == gotHeldout,
            "heldout_results differ: \(DurabilityTests.firstDifference(wantHeldout, gotHeldout))")

        // Exports are the same bytes; reports show the same whole samples, rejected answers included.
        var exports: [Data?] = []
        var samples: [[Any]] = []
        for (file, store) in [(referenceFile, referenceStore), (resumedFile, resumedStore)] {
            let out = store + ".jsonl"
            let export = try await sandbox.flywheel(["export", file, "--store", store, "--out", out])
            try #require(export.exitCode == 0, "\(export)")
            exports.append(FileManager.default.contents(atPath: out))
            let reportFile = store + ".report.json"
            let report = try await sandbox.flywheel(["report", file, "--store", store, "--out", reportFile])
            try #require(report.exitCode == 0, "\(report)")
            let object = try #require(
                try JSONSerialization.jsonObject(with: try Data(contentsOf: URL(fileURLWithPath: reportFile)))
                    as? [String: Any])
            let rounds = try #require(object["rounds"] as? [[String: Any]])
            samples.append(rounds.compactMap { $0["samples"] })
        }
        #expect(exports[0] != nil && exports[0] == exports[1])
        #expect(
            try JSONSerialization.data(withJSONObject: samples[0], options: .sortedKeys)
                == JSONSerialization.data(withJSONObject: samples[1], options: .sortedKeys))
        let round1 = try #require(samples[1].last as? [String: Any])
        let shown = try #require(round1["rejected"] as? [[String: Any]])
        try #require(!shown.isEmpty, "round 1 shows no rejected answer")
        for sample in shown {
            let answer = try #require(sample["answer"] as? String)
            #expect(
                answer.contains("\u{0}") && answer.split(separator: "\u{0}").count == 2, "\(answer.debugDescription)")
            #expect((sample["reason"] as? String)?.contains("\u{0}") == true, "\(sample)")
        }
    }

    // MARK: Read-only commands

    /// The read-only commands with their arguments, for a pipeline file and a store.
    static func readCommands(_ pipeline: String, _ store: String, _ sandbox: Sandbox) -> [[String]] {
        [
            ["status", pipeline, "--store", store],
            ["status", pipeline, "--store", store, "--json"],
            ["report", pipeline, "--store", store, "--out", sandbox.path("report.html")],
            ["export", pipeline, "--store", store, "--out", sandbox.path("export.jsonl")],
            ["verify-store", pipeline, "--store", store],
        ]
    }

    /// The files in `folder` and their bytes; `run` and `round` leave their lock file, which is not compared.
    static func snapshot(_ folder: String) throws -> [String: Data] {
        var files: [String: Data] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: folder) where !name.hasSuffix(".lock") {
            files[name] = FileManager.default.contents(atPath: folder + "/" + name)
        }
        return files
    }

    @Test("status, report, export and verify-store refuse a file that is not a Flywheel store (exit 1), unchanged")
    func readCommandsRefuseForeignFiles() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let pipeline = try sandbox.write(ArithPipeline())
        let folder = sandbox.path("foreign")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let database = folder + "/notes.sqlite"
        _ = try await sandbox.sql(
            "create table notes(id integer primary key, body text); insert into notes(body) values ('mine');",
            store: database)
        let text = folder + "/notes.txt"
        try "just some text, long enough to be taken for a database header by nobody\n".write(
            toFile: text, atomically: true, encoding: .utf8)
        let before = try Self.snapshot(folder)

        for store in [database, text] {
            for command in Self.readCommands(pipeline, store, sandbox) + [
                ["run", pipeline, "--store", store, "--rounds", "1"], ["round", pipeline, "--store", store],
            ] {
                let outcome = try await sandbox.flywheel(command)
                #expect(outcome.exitCode == 1, "\(outcome)")
                #expect(outcome.stderr.hasPrefix("flywheel: "), "\(outcome.stderr)")
                #expect(outcome.stderr.contains("not a") && outcome.stderr.contains(store), "\(outcome.stderr)")
                #expect(!outcome.stderr.contains("Error:"), "\(outcome.stderr)")
                #expect(try Self.snapshot(folder) == before, "`\(command[0])` changed \(folder)")
            }
        }
        #expect(try await sandbox.sql("pragma journal_mode", store: database) == "delete")
    }

    @Test("a store of an older schema is read as it is (status, report, export, verify-store); run migrates it")
    func olderStoresAreReadWithoutMigrating() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let pipeline = Repository.root + "/Fixtures/stores/arith-small.yaml"
        let folder = sandbox.path("old")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let store = folder + "/arith.sqlite"
        try FileManager.default.copyItem(
            atPath: Repository.root + "/Fixtures/stores/arith-before-typed.sqlite", toPath: store)
        // Back to schema v1: the held-out token usage column (v2) did not exist yet.
        _ = try await sandbox.sql(
            """
            delete from grdb_migrations where identifier = 'v2: held-out token usage';
            alter table heldout_results drop column usage;
            """, store: store)
        let before = try Self.snapshot(folder)

        for command in Self.readCommands(pipeline, store, sandbox) {
            let outcome = try await sandbox.flywheel(command)
            #expect(outcome.exitCode == 0, "\(outcome)")
            #expect(try Self.snapshot(folder) == before, "`\(command.joined(separator: " "))` changed the store")
        }
        let (status, _) = try await sandbox.status(pipeline, store: store)
        #expect(status.rounds.map(\.state) == ["promoted", "promoted", "running"])
        #expect(try Self.snapshot(folder) == before)

        let run = try await sandbox.flywheel(["run", pipeline, "--rounds", "2", "--store", store])
        #expect(run.exitCode == 0, "\(run)")
        #expect(
            try await sandbox.sqlInt("select count(*) from grdb_migrations where identifier like 'v2:%'", store: store)
                == 1)
        #expect(try await sandbox.sql("pragma journal_mode", store: store) == "wal")
    }

    @Test("a store written by a newer Flywheel is refused by every command (exit 1), unchanged")
    func newerStoresAreRefused() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let pipeline = Repository.root + "/Fixtures/stores/arith-small.yaml"
        let folder = sandbox.path("new")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let store = folder + "/arith.sqlite"
        try FileManager.default.copyItem(
            atPath: Repository.root + "/Fixtures/stores/arith-before-typed.sqlite", toPath: store)
        _ = try await sandbox.sql("insert into grdb_migrations values ('v99: from the future')", store: store)
        let before = try Self.snapshot(folder)
        for command in Self.readCommands(pipeline, store, sandbox) + [["round", pipeline, "--store", store]] {
            let outcome = try await sandbox.flywheel(command)
            #expect(outcome.exitCode == 1, "\(outcome)")
            #expect(outcome.stderr.hasPrefix("flywheel: ") && outcome.stderr.contains("newer"), "\(outcome.stderr)")
            #expect(try Self.snapshot(folder) == before, "`\(command[0])` changed the store")
        }
    }

    @Test("status, report, export and verify-store on another pipeline's store exit 64, as round does")
    func readCommandsRefuseAnotherPipelinesStore() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        var arith = ArithPipeline()
        arith.roundSize = 10
        arith.heldoutSize = 10
        let pipeline = try sandbox.write(arith)
        let made = try await sandbox.flywheel(["round", pipeline, "--store", sandbox.store])
        try #require(made.exitCode == 0, "\(made)")
        arith.name = "other"
        let other = try sandbox.write(arith, as: "other.yaml")
        for command in Self.readCommands(other, sandbox.store, sandbox) + [["round", other, "--store", sandbox.store]] {
            let outcome = try await sandbox.flywheel(command)
            #expect(outcome.exitCode == 64, "\(outcome)")
            #expect(outcome.stderr.contains("belongs to pipeline `arith`, not `other`"), "\(outcome.stderr)")
        }
    }

    // MARK: Read-only and full file systems

    @Test(
        "a read-only file system: reading works, run says the folder is not writable, a missing folder is named (1)",
        .enabled(if: TemporaryMount.permitted, "mounting a tmpfs is not permitted here (needs root and CAP_SYS_ADMIN)"))
    func readOnlyFileSystem() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let mount = try TemporaryMount(at: sandbox.path("mnt"), size: "16m")
        defer { mount.remove() }
        var arith = ArithPipeline()
        arith.roundSize = 10
        arith.heldoutSize = 10
        let pipeline = try sandbox.write(arith)
        let store = mount.path + "/store.sqlite"
        let made = try await sandbox.flywheel(["run", pipeline, "--rounds", "1", "--store", store])
        try #require(made.exitCode == 0, "\(made)")
        try mount.remountReadOnly()
        let before = try Self.snapshot(mount.path)

        for command in Self.readCommands(pipeline, store, sandbox) {
            let outcome = try await sandbox.flywheel(command)
            #expect(outcome.exitCode == 0, "\(outcome)")
        }
        let (status, _) = try await sandbox.status(pipeline, store: store)
        #expect(status.rounds.map(\.round) == [0, 1])

        for command in ["run", "round"] {
            let outcome = try await sandbox.flywheel([command, pipeline, "--store", store])
            #expect(outcome.exitCode == 1, "\(outcome)")
            #expect(
                outcome.stderr.hasPrefix("flywheel: the store's folder \(mount.path) is not writable"), "\(outcome)")
        }
        let missing = try await sandbox.flywheel(["round", pipeline, "--store", mount.path + "/sub/store.sqlite"])
        #expect(missing.exitCode == 1, "\(missing)")
        #expect(missing.stderr.hasPrefix("flywheel: cannot create the store's folder \(mount.path)/sub"), "\(missing)")
        #expect(missing.stderr.contains("Read-only file system"), "\(missing)")
        #expect(try Self.snapshot(mount.path) == before)
    }

    @Test(
        "a full disk stops the run with `flywheel: the disk holding … is full` (exit 1); with space again it resumes",
        .enabled(if: TemporaryMount.permitted, "mounting a tmpfs is not permitted here (needs root and CAP_SYS_ADMIN)"))
    func fullDisk() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let mount = try TemporaryMount(at: sandbox.path("mnt"), size: "400k")
        defer { mount.remove() }
        var arith = ArithPipeline()
        arith.roundSize = 200
        arith.heldoutSize = 100
        let pipeline = try sandbox.write(arith)
        let store = mount.path + "/store.sqlite"

        let full = try await sandbox.flywheel(["run", pipeline, "--rounds", "1", "--store", store])
        #expect(full.exitCode == 1, "\(full)")
        let last = full.stderr.split(separator: "\n").last.map(String.init) ?? ""
        #expect(last.hasPrefix("flywheel: the disk holding \(store) is full"), "\(full.stderr.suffix(1000))")
        #expect(!full.stderr.contains("Error:"), "\(full.stderr.suffix(1000))")

        try mount.resize("64m")
        let resumed = try await sandbox.flywheel(["run", pipeline, "--rounds", "1", "--store", store])
        #expect(resumed.exitCode == 0, "\(resumed)")
        let verify = try await sandbox.flywheel(["verify-store", pipeline, "--store", store])
        #expect(verify.exitCode == 0 && verify.stdout.hasPrefix("ok"), "\(verify)")
    }
}

/// A tmpfs mounted for one test (the test runs as root with CAP_SYS_ADMIN; elsewhere the tests using it are skipped).
struct TemporaryMount {
    let path: String

    static let permitted: Bool = {
        let probe = FileManager.default.temporaryDirectory.appendingPathComponent("flywheel-mount-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: probe) }
        guard (try? FileManager.default.createDirectory(atPath: probe, withIntermediateDirectories: true)) != nil,
            mount("tmpfs", probe, "tmpfs", 0, "size=64k") == 0
        else { return false }
        umount2(probe, Int32(MNT_DETACH))
        return true
    }()

    init(at path: String, size: String) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        guard mount("tmpfs", path, "tmpfs", 0, "size=\(size)") == 0 else {
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EPERM)
        }
        self.path = path
    }

    func remountReadOnly() throws {
        guard mount("tmpfs", path, "tmpfs", UInt(MS_REMOUNT | MS_RDONLY), nil) == 0 else {
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EPERM)
        }
    }

    func resize(_ size: String) throws {
        guard mount("tmpfs", path, "tmpfs", UInt(MS_REMOUNT), "size=\(size)") == 0 else {
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EPERM)
        }
    }

    func remove() {
        umount2(path, Int32(MNT_DETACH))
    }
}

@Suite("Error format")
struct ErrorFormatTests {
    @Test(
        "every failure is one `flywheel: MESSAGE` line first, with its exit code; help still prints usage",
        arguments: [
            (["run"], 64, "flywheel: Missing expected argument"),
            (["run", "PIPELINE", "--rounds", "-1"], 64, "flywheel: --rounds takes a whole number"),
            (["frobnicate"], 64, "flywheel: Unexpected argument 'frobnicate'"),
            (["status", "PIPELINE", "--log-format", "xml"], 64, "flywheel: "),
            (["status", "/nonexistent/pipeline.yaml"], 78, "flywheel: "),
        ] as [([String], Int32, String)])
    func failuresAreOneLine(arguments: [String], status: Int32, prefix: String) async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let pipeline = Repository.pipeline("arith.yaml")
        let outcome = try await sandbox.flywheel(arguments.map { $0 == "PIPELINE" ? pipeline : $0 })
        #expect(outcome.exitCode == status, "\(outcome)")
        #expect(outcome.stderr.hasPrefix(prefix), "\(outcome.stderr)")
        #expect(!outcome.stderr.contains("Error:"), "\(outcome.stderr)")
    }

    @Test("--help prints usage on stdout and exits 0")
    func helpIsNotAnError() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let outcome = try await sandbox.flywheel(["run", "--help"])
        #expect(outcome.exitCode == 0, "\(outcome)")
        #expect(outcome.stdout.contains("USAGE: flywheel run"), "\(outcome)")
        #expect(outcome.stderr.isEmpty, "\(outcome)")
    }
}
