import Foundation
import Testing

@Suite("Pipeline files and usage")
struct PipelineFileTests {
    /// A fixture in Fixtures/pipelines/bad/, each one change away from Fixtures/pipelines/arith.yaml.
    struct BadPipeline: Sendable, CustomTestStringConvertible {
        var file: String
        /// The line the error must point at, when there is one to point at.
        var line: Int?
        /// What stderr must say: the key and what was expected.
        var says: [String]

        init(_ file: String, line: Int?, _ says: String...) {
            self.file = file
            self.line = line
            self.says = says
        }

        var testDescription: String { file }
    }

    static let badPipelines = [
        BadPipeline("unknown-key.yaml", line: 4, "unknown key `round_sise`", "expected one of", "round_size"),
        BadPipeline("unknown-nested-key.yaml", line: 11, "unknown key `solver.worker`", "workers"),
        BadPipeline("round-size-not-integer.yaml", line: 4, "`round_size`", "expected an integer", "\"ten\""),
        BadPipeline("round-size-zero.yaml", line: 4, "`round_size`", "expected an integer from 1", "\"0\""),
        BadPipeline("alpha-out-of-range.yaml", line: 15, "`alpha`", "expected a number", "between 0", "\"1.5\""),
        BadPipeline(
            "gate-unknown.yaml", line: 15, "`gate`", "`always`", "`no-regression`", "`must-improve`", "\"sometimes\""),
        BadPipeline("checker-missing.yaml", line: nil, "missing key `checker`"),
        BadPipeline("checker-builtin-and-command.yaml", line: 11, "`checker`", "exactly one of", "builtin", "command"),
        BadPipeline("command-not-a-list.yaml", line: 11, "`checker.command`", "list"),
        BadPipeline(
            "script-missing.yaml", line: 11, "`checker.command`", "no such script ../../plugins/no_such_check.py",
            "looked for \(Repository.plugin("no_such_check.py"))"),
        BadPipeline("invalid-yaml.yaml", line: nil, "not valid YAML"),
        BadPipeline("empty.yaml", line: nil, "empty"),
        BadPipeline("curriculum-band-reversed.yaml", line: 13, "`curriculum.band`", "LOW below HIGH"),
        BadPipeline("heldout-not-a-mapping.yaml", line: 4, "`heldout`", "mapping", "\"60\""),
        BadPipeline("learning-not-boolean.yaml", line: 6, "`learning`", "true or false", "\"maybe\""),
        BadPipeline("solver-builtin-unknown.yaml", line: 9, "`solver.builtin`", "`listfn`", "\"gpt-5\""),
        BadPipeline("timeout-negative.yaml", line: 12, "`checker.timeout`", "\"-5\""),
        BadPipeline(
            "budget-on-external-solver.yaml", line: 10, "`solver.budget`", "no `budget` on a `command:` solver",
            "`builtin: listfn` solver"),
        BadPipeline(
            "examples-on-builtin-solver.yaml", line: 10, "`solver.examples`", "no `examples` on a `builtin:` solver",
            "`command:` or `openai:` solver"),
        BadPipeline(
            "workers-on-builtin-generator.yaml", line: 8, "`generator.workers`",
            "no `workers` on a `builtin:` generator"),
        BadPipeline(
            "program-not-on-path.yaml", line: 11, "`checker.command`", "no program `flywheel-no-such-checker` on PATH"),
        BadPipeline("max-error-rate-out-of-range.yaml", line: 12, "`max_error_rate`", "between 0", "and 1", "\"1.5\""),
        BadPipeline(
            "exploration-temperature-out-of-range.yaml", line: 16, "`exploration.temperature`", "between 0", "and 2",
            "\"5\""),
        BadPipeline(
            "retries-on-builtin-solver.yaml", line: 10, "`solver.retries`", "no `retries` on a `builtin:` solver",
            "`command:` or `openai:` plugin"),
    ]

    @Test("the control fixture every bad one is derived from is valid")
    func controlIsValid() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let outcome = try await sandbox.flywheel([
            "status", Repository.pipeline("arith.yaml"), "--store", sandbox.store,
        ])
        #expect(outcome.exitCode == 0, "\(outcome)")
    }

    @Test(
        "an invalid pipeline exits 78 naming the file, the line, the key and what was expected", arguments: badPipelines
    )
    func invalidPipeline(_ bad: BadPipeline) async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let file = Repository.pipeline("bad/" + bad.file)
        for command in ["status", "run"] {
            let outcome = try await sandbox.flywheel([command, file, "--store", sandbox.store])
            #expect(outcome.exitCode == 78, "\(outcome)")
            #expect(outcome.stderr.contains(file), "stderr must name \(file): \(outcome.stderr)")
            if let line = bad.line {
                #expect(
                    outcome.stderr.contains("\(file):\(line):"), "stderr must point at line \(line): \(outcome.stderr)")
            }
            for text in bad.says {
                #expect(outcome.stderr.contains(text), "stderr must say \(text.debugDescription): \(outcome.stderr)")
            }
            #expect(outcome.stdout.isEmpty, "\(outcome)")
        }
        #expect(
            !FileManager.default.fileExists(atPath: sandbox.store), "a run of an invalid pipeline created the store")
    }

    @Test("a checker command naming a missing script exits 78 naming the file, line, key and the script, plainly")
    func missingScript() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        var pipeline = ArithPipeline()
        pipeline.checker = ["python3", "missing.py"]
        let file = try sandbox.write(pipeline)
        let line = try #require(
            pipeline.yaml.split(separator: "\n").firstIndex { $0.contains("missing.py") }.map { $0 + 1 })
        for command in ["status", "run", "round"] {
            let outcome = try await sandbox.flywheel([command, file, "--store", sandbox.store])
            #expect(outcome.exitCode == 78, "\(outcome)")
            #expect(
                outcome.stderr.contains("\(file):\(line): `checker.command`: no such script missing.py"),
                "\(outcome.stderr)")
            #expect(outcome.stderr.contains("looked for \(sandbox.path("missing.py"))"), "\(outcome.stderr)")
            #expect(!outcome.stderr.contains("got a list"), "\(outcome.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: sandbox.store))
    }

    @Test("a pipeline file that does not exist exits 78 naming it")
    func missingPipeline() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let file = sandbox.path("no-such-pipeline.yaml")
        for command in ["status", "run", "verify-store"] {
            let outcome = try await sandbox.flywheel([command, file, "--store", sandbox.store])
            #expect(outcome.exitCode == 78, "\(outcome)")
            #expect(outcome.stderr.contains(file), "\(outcome)")
        }
    }

    @Test(
        "command-line mistakes exit 64",
        arguments: [
            ["run"],
            ["run", "PIPELINE", "--rounds", "x"],
            ["run", "PIPELINE", "--rounds"],
            ["run", "PIPELINE", "--no-such-option"],
            ["frobnicate", "PIPELINE"],
            ["status"],
        ])
    func usageErrors(_ arguments: [String]) async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let pipeline = Repository.pipeline("arith.yaml")
        let outcome = try await sandbox.flywheel(
            arguments.map { $0 == "PIPELINE" ? pipeline : $0 } + ["--store", sandbox.store])
        #expect(outcome.exitCode == 64, "\(outcome)")
        #expect(!outcome.stderr.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: sandbox.store), "a usage error created the store")
    }

    @Test("run --rounds -1 exits 64 saying --rounds takes a whole number ≥ 0, not that its value is missing")
    func negativeRounds() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        for rounds in [["--rounds", "-1"], ["--rounds=-1"]] {
            let outcome = try await sandbox.flywheel(
                ["run", Repository.pipeline("arith.yaml")] + rounds + ["--store", sandbox.store])
            #expect(outcome.exitCode == 64, "\(outcome)")
            #expect(outcome.stderr.contains("--rounds takes a whole number ≥ 0"), "\(outcome.stderr)")
            #expect(outcome.stderr.contains("not -1"), "\(outcome.stderr)")
            #expect(!outcome.stderr.contains("Missing value"), "\(outcome.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: sandbox.store), "a usage error created the store")
    }

    @Test("status before any round: the text says there is no store yet and what to do; --json keeps its contract")
    func statusWithoutStore() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let pipeline = Repository.pipeline("arith.yaml")
        let store = sandbox.path("not-yet/arith.sqlite")

        let text = try await sandbox.flywheel(["status", pipeline, "--store", store])
        #expect(text.exitCode == 0, "\(text)")
        #expect(text.stdout.contains("No store at \(store) yet"), "\(text)")
        #expect(text.stdout.contains("flywheel round \(pipeline) --store \(store)"), "\(text)")
        #expect(text.stdout.contains("--store PATH"), "\(text)")
        #expect(!text.stdout.contains("held-out score"), "an empty table instead of the message: \(text)")

        let json = try await sandbox.flywheel(["status", pipeline, "--store", store, "--json"])
        #expect(json.exitCode == 0, "\(json)")
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any], "\(json)")
        #expect(object["pipeline"] as? String == "arith")
        #expect((object["rounds"] as? [Any])?.isEmpty == true, "\(json)")
        #expect(
            Set(object.keys) == ["pipeline", "rounds", "plateau", "rollbacks", "current_checker", "checker_changed"],
            "\(json)")
        #expect((object["rollbacks"] as? [Any])?.isEmpty == true && object["checker_changed"] as? Bool == false)

        #expect(!FileManager.default.fileExists(atPath: sandbox.path("not-yet")), "status created the store")
    }
}
