import Foundation
import FlywheelCore
import Processes
import Testing

/// A misbehaving OpenAI-compatible server (Fixtures/http/fault_server.py) on 127.0.0.1, for faults a real server
/// will not produce on demand.
final class FaultServer {
    let server: ChildProcess
    let port: Int
    let folder = TemporaryDirectory()

    init(mode: String, arguments: [String] = []) throws {
        let argv = ["python3", "-u", Repository.root + "/Fixtures/http/fault_server.py", "--mode", mode] + arguments
        server = try ChildProcess(argv, captureDirectory: folder.path)
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline, server.poll() == nil {
            if let text = try? String(contentsOfFile: server.stdoutPath, encoding: .utf8),
                let line = text.split(separator: "\n").first(where: { $0.hasPrefix("PORT=") }),
                let port = Int(line.dropFirst(5))
            {
                self.port = port
                return
            }
            usleep(20_000)
        }
        throw FlywheelError(.runFailed, "the fault server did not print its port: \(server.killGroup())")
    }

    deinit {
        server.killGroup()
    }

    var url: String { "http://127.0.0.1:\(port)" }

    func stats() throws -> JSONValue {
        try JSONValue.parse(Data(contentsOf: URL(string: url + "/stats")!))
    }
}

@Suite(.serialized) struct OpenAISolverTests {
    let task = TaskSpec(prompt: "shout this", reference: "SECRET", meta: .object(["family": "upper"]))

    func solver(_ server: FaultServer, _ adjust: (inout OpenAIConfig) -> Void = { _ in }) -> OpenAISolver {
        var config = OpenAIConfig(baseURL: server.url, model: "fault-server")
        config.backoff = 0.05
        config.timeout = 5
        adjust(&config)
        config.examples = 2
        return OpenAISolver(config: config, log: .silent)
    }

    @Test func answersCountTokensAndNeverSendTheReference() async throws {
        let server = try FaultServer(mode: "ok")
        let solver = solver(server)
        let result = await ask(solver, "a", task)
        let solution = try result.get()
        #expect(solution.answer == "SHOUT THIS")
        #expect(solution.usage?["completion_tokens"] == .number(2))
        #expect((solution.usage?["prompt_tokens"]?.doubleValue ?? 0) >= 2)
        await solver.shutdown()
    }

    @Test func fewShotExamplesOfTheSameFamilyAreSentAsEarlierTurns() async throws {
        let server = try FaultServer(mode: "ok")
        let solver = solver(server)
        let pool = [
            Example(prompt: "other family", answer: "x", meta: .object(["family": "lower"])),
            Example(prompt: "loud", answer: "LOUD", meta: .object(["family": "upper"])),
        ]
        let state = try await solver.learn(from: pool, previous: solver.initialState, round: 1)
        let chosen = FewShot.Index(FewShot.State(examples: pool)).select(for: task.withoutReference, k: 1)
        #expect(chosen.map(\.prompt) == ["loud"])
        let result = await ask(solver, "b", task, state)
        // The server echoes the last user message: the task, not an example.
        #expect((try? result.get())?.answer == "SHOUT THIS")
        // prompt_tokens counts words over all messages: the two examples' turns are there.
        #expect(((try? result.get())?.usage?["prompt_tokens"]?.doubleValue ?? 0) >= 5)
        await solver.shutdown()
    }

    @Test func tooManyRequestsAreRetriedAfterRetryAfter() async throws {
        let server = try FaultServer(mode: "429", arguments: ["--k", "2"])
        let solver = solver(server)
        let start = Date()
        let result = await ask(solver, "c", task)
        #expect((try? result.get())?.answer == "SHOUT THIS")
        // Two 429s with `Retry-After: 1` are honoured over the 0.05 s backoff.
        #expect(Date().timeIntervalSince(start) >= 1.9)
        let stats = try server.stats()
        #expect(stats["requests"] == .number(3))
        #expect(stats["by_status"]?["429"] == .number(2))
        await solver.shutdown()
    }

    @Test func serverErrorsAreRetriedThenRecordedWhenRetriesRunOut() async throws {
        let server = try FaultServer(mode: "500", arguments: ["--k", "3"])
        let patient = solver(server) { $0.retries = 3 }
        #expect((try? await ask(patient, "d", task).get())?.answer
            == "SHOUT THIS")
        let hasty = solver(server) { $0.retries = 1 }
        let other = TaskSpec(prompt: "another prompt")
        guard case .failure(let failure) = await ask(hasty, "e", other)
        else {
            Issue.record("two tries against three 500s must fail")
            return
        }
        #expect(failure.kind == .http)
        #expect(failure.message.contains("500"))
        await patient.shutdown()
        await hasty.shutdown()
    }

    @Test func aSlowServerTimesOut() async throws {
        let server = try FaultServer(mode: "slow", arguments: ["--sleep", "3"])
        let solver = solver(server) {
            $0.timeout = 0.5
            $0.retries = 1
        }
        let start = Date()
        guard case .failure(let failure) = await ask(solver, "f", task)
        else {
            Issue.record("a 3 s answer must time out at 0.5 s")
            return
        }
        #expect(failure.kind == .timeout)
        #expect(Date().timeIntervalSince(start) < 2.9)
        await solver.shutdown()
    }

    @Test(arguments: ["garbage", "badshape"])
    func malformedRepliesAreErrors(mode: String) async throws {
        let server = try FaultServer(mode: mode)
        let solver = solver(server)
        guard case .failure(let failure) = await ask(solver, "g", task)
        else {
            Issue.record("a \(mode) reply must fail the item")
            return
        }
        #expect(failure.kind == .malformed)
        await solver.shutdown()
    }

    @Test func aRefusedConnectionIsRetriedThenRecorded() async throws {
        // A port nobody listens on: bind one, read its number, close it.
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, length) }
        }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socket, $0, &length) }
        }
        close(socket)
        var config = OpenAIConfig(baseURL: "http://127.0.0.1:\(UInt16(bigEndian: address.sin_port))", model: "m")
        config.retries = 2
        config.backoff = 0.05
        config.examples = 0
        let solver = OpenAISolver(config: config, log: .silent)
        guard case .failure(let failure) = await ask(solver, "h", task)
        else {
            Issue.record("nobody listens there")
            return
        }
        #expect(failure.kind == .connection)
        await solver.shutdown()
    }

    @Test func concurrencyIsBounded() async throws {
        let server = try FaultServer(mode: "slow", arguments: ["--sleep", "0.3"])
        let solver = solver(server) { $0.concurrency = 2 }
        await withTaskGroup(of: Void.self) { group in
            for index in 0..<6 {
                group.addTask {
                    _ = await ask(solver, "i\(index)", TaskSpec(prompt: "p\(index)"))
                }
            }
        }
        let stats = try server.stats()
        #expect(stats["requests"] == .number(6))
        #expect(stats["max_in_flight"] == .number(2))
        await solver.shutdown()
    }

    @Test func anOpenAIPipelineThroughFaultsLosesNoItem() async throws {
        let server = try FaultServer(mode: "500", arguments: ["--k", "1"])
        let folder = TemporaryDirectory()
        let file = folder.file("p.yaml")
        try """
            seed: 2
            round_size: 20
            heldout: {size: 10}
            generator: {command: [python3, -u, \(Repository.root)/Fixtures/plugins/arith_gen.py]}
            solver:
              openai: {base_url: "\(server.url)", model: m}
              workers: 3
              retries: 2
              backoff: 0.01
            checker: {command: [python3, -u, \(Repository.root)/Fixtures/plugins/exact_check.py]}
            gate: always
            """.write(toFile: file, atomically: true, encoding: .utf8)
        let config = try PipelineConfig.load(path: file)
        let store = try Store(path: folder.file("s.sqlite"))
        let plugins = try Plugins(config, log: .silent)
        _ = try await RoundEngine(store: store, plugins: plugins, settings: config.settings, log: .silent).run(rounds: 1)
        await plugins.shutdown()
        let counts = try store.counts(round: 1)
        #expect(counts.kept > 0)
        #expect(counts.attempts == counts.kept)
        #expect(counts.solveErrors == 0)
        #expect(counts.checked == counts.attempts)
        // Each prompt failed once (500) and was retried.
        let stats = try server.stats()
        #expect(stats["by_status"]?["500"] == stats["prompts"])
    }

    @Test func theTrainHookGetsTheExamplesAndNamesTheNextModel() async throws {
        let folder = TemporaryDirectory()
        let script = folder.file("train.py")
        // Counts the examples it was given, keeps a copy, and answers with a model name built from the count.
        try """
            import json, shutil, sys
            rows = [json.loads(line) for line in open(sys.argv[1])]
            shutil.copy(sys.argv[1], sys.argv[1] + ".seen")
            shutil.copy(sys.argv[1], "seen.jsonl")
            print("training on", len(rows), file=sys.stderr)
            print("progress lines may come first")
            print(f"tuned-{len(rows)}")
            """.write(toFile: script, atomically: true, encoding: .utf8)
        var config = OpenAIConfig(baseURL: "http://127.0.0.1:9", model: "base")
        config.retries = 0
        config.examples = 1
        config.train = TrainCommand(argv: ["python3", script], directory: folder.path, timeout: 60)
        let solver = OpenAISolver(config: config, log: .silent)
        let examples = [Example(prompt: "a\nb", answer: "ü"), Example(prompt: "c", answer: "d")]
        let state = try await solver.learn(from: examples, previous: solver.initialState, round: 1)
        #expect(state.model == "tuned-2")
        #expect(state.examples.map(\.answer) == ["ü", "d"])
        let seen = try String(contentsOfFile: folder.file("seen.jsonl"), encoding: .utf8)
        let first = try JSONValue.parse(String(seen.split(separator: "\n")[0]))
        #expect(first["messages"]?.arrayValue?.map { $0["content"] } == [.string("a\nb"), .string("ü")])

        config.train = TrainCommand(argv: ["python3", "-c", "import sys; sys.exit(4)"], directory: folder.path)
        let failing = OpenAISolver(config: config, log: .silent)
        await #expect(throws: FlywheelError.self) {
            _ = try await failing.learn(from: examples, previous: failing.initialState, round: 1)
        }
    }
}

/// One solve with `state`'s few-shot pool, as the engine asks it.
func ask(
    _ solver: OpenAISolver, _ id: String, _ task: TaskSpec, _ state: FewShot.State = FewShot.State()
) async -> Result<Solution, PluginFailure> {
    await solver.solve(SolveRequest(id: id, task: task, attempt: 0, seed: 1), with: FewShot.Index(state))
}
