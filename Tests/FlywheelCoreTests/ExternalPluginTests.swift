import FlywheelCore
import Foundation
import Synchronization
import Testing

@Suite struct ExternalPluginTests {
    func checker(_ mode: String, timeout: Double = 2, maxBytes: Int = 1 << 20, retries: Int = 0) -> ExternalChecker {
        ExternalChecker(
            command: ExternalCommand(
                argv: ["python3", "-u", Repository.fixture("plugins/faulty_check.py"), "--mode", mode, "--every", "3"],
                workers: 1, timeout: timeout, startupTimeout: 15, maxResponseBytes: maxBytes, retries: retries),
            log: .silent)
    }

    let task = TaskSpec(prompt: "What is 1 + 2?", reference: "3")

    /// Answer 3 triggers the fault; 4 and 5 are ordinary (rejected and accepted against a reference of 4/5).
    func expectRecovery(_ checker: ExternalChecker) async {
        let four = await checker.check(id: "b", task: TaskSpec(prompt: "p", reference: "4"), answer: "4")
        #expect(four == .success(Judgement(accept: true, score: 1, reason: "match")))
        let five = await checker.check(id: "c", task: TaskSpec(prompt: "p", reference: "4"), answer: "5")
        #expect((try? five.get())?.accept == false)
        await checker.shutdown()
    }

    /// The check request is the encoder's JSON of its fields (`op`, `task` with prompt, reference and meta, `answer`,
    /// `id`), whether the checker is given the task's text as the store encoded it (sent as it is) or not: the
    /// program receives that very line, for tasks with and without reference and meta, and answers and texts that
    /// need escaping.
    @Test func aCheckWithTheTaskTextSendsTheSameLine() async throws {
        let echo = """
            import json, sys
            for line in sys.stdin:
                print(json.dumps({"id": json.loads(line)["id"], "accept": True, "score": 1, "reason": line.rstrip("\\n")}))
            """
        let checker = ExternalChecker(
            command: ExternalCommand(argv: ["python3", "-u", "-c", echo], workers: 1, timeout: 10, startupTimeout: 15),
            log: .silent)
        let tasks = [
            TaskSpec(prompt: "What is 1 + 2?", reference: "3"),
            TaskSpec(prompt: "say \"hi\"\n\tthen ✓", reference: nil, meta: .object(["family": "x", "n": 2])),
            TaskSpec(
                prompt: "p", reference: .object(["examples": .array([.object(["input": .array([1, -2]), "output": .number(0.5)])])]),
                meta: .object(["difficulty": 3])),
        ]
        for (index, task) in tasks.enumerated() {
            for answer in ["3", "", "a \"quoted\" \\ answer\n", "é"] {
                var taskObject: [String: JSONValue] = ["prompt": .string(task.prompt)]
                taskObject["reference"] = task.reference
                taskObject["meta"] = task.meta
                let expected = JSONValue.object([
                    "op": "check", "task": .object(taskObject), "answer": .string(answer), "id": .string("f\(index)"),
                ]).jsonText
                let fresh = await checker.check(id: "f\(index)", task: task, text: nil, answer: answer)
                let spliced = await checker.check(
                    id: "f\(index)", task: task, text: TaskCodec.plain(task), answer: answer)
                #expect(try fresh.get().reason == expected)
                #expect(try spliced.get().reason == expected)
            }
        }
        await checker.shutdown()
    }

    @Test func aHungWorkerTimesOutAndIsReplaced() async {
        let checker = checker("hang", timeout: 0.5)
        let result = await checker.check(id: "a", task: task, answer: "3")
        #expect(result == .failure(PluginFailure(.timeout, "no response in time; worker killed and restarted")))
        await expectRecovery(checker)
    }

    @Test func aCrashIsRecordedAndTheWorkerRestarted() async {
        let checker = checker("crash")
        guard case .failure(let failure) = await checker.check(id: "a", task: task, answer: "3") else {
            Issue.record("a crash must fail the item")
            return
        }
        #expect(failure.kind == .crash)
        #expect(failure.message.contains("exit status 3"))
        await expectRecovery(checker)
    }

    /// One worker and thirty requests at once: while one is served the next is written ahead to the same worker.
    /// When the served one kills the worker (every third answer), the one written ahead is written again to the
    /// replacement and answered; it is no fault of its own, so only the faulty ones log a fault and fail.
    @Test(arguments: [("crash", PluginFailure.Kind.crash), ("hang", .timeout), ("garbage", .malformed), ("wrongid", .wrongID)])
    func requestsWrittenAheadSurviveTheFaultOfTheOneBefore(mode: String, kind: PluginFailure.Kind) async {
        let events = Events()
        let checker = ExternalChecker(
            command: ExternalCommand(
                argv: ["python3", "-u", Repository.fixture("plugins/faulty_check.py"), "--mode", mode, "--every", "3"],
                workers: 1, timeout: mode == "hang" ? 0.5 : 20, startupTimeout: 15, retries: 0),
            log: events.log)
        let results = await withTaskGroup(of: (Int, Result<Judgement, PluginFailure>).self) { group in
            for answer in 1...30 {
                group.addTask {
                    let task = TaskSpec(prompt: "p", reference: .string("\(answer)"))
                    return (answer, await checker.check(id: "r\(answer)", task: task, answer: "\(answer)"))
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.count == 30)
        for (answer, result) in results {
            if answer % 3 == 0 {
                guard case .failure(let failure) = result else {
                    Issue.record("answer \(answer) must fail, got \(result)")
                    continue
                }
                #expect(failure.kind == kind, "answer \(answer)")
            } else {
                #expect(result == .success(Judgement(accept: true, score: 1, reason: "match")), "answer \(answer)")
            }
        }
        #expect(events.named("plugin.fault").count == 10, "\(events.named("plugin.fault"))")
        await checker.shutdown()
    }

    @Test func garbageWrongIDsOversizedLinesAndRefusalsAreErrors() async {
        let cases: [(String, PluginFailure.Kind, Int)] = [
            ("garbage", .malformed, 1 << 20), ("wrongid", .wrongID, 1 << 20), ("bigline", .tooLarge, 1 << 16),
            ("error", .refused, 1 << 20),
        ]
        for (mode, kind, maxBytes) in cases {
            let checker = checker(mode, maxBytes: maxBytes)
            let result = await checker.check(id: "a", task: task, answer: "3")
            guard case .failure(let failure) = result else {
                Issue.record("\(mode) must fail the item, got \(result)")
                continue
            }
            #expect(failure.kind == kind, "\(mode)")
            await expectRecovery(checker)
        }
    }

    @Test func aMissingProgramCannotStartAndSaysSo() async {
        let events = Events()
        let checker = ExternalChecker(
            command: ExternalCommand(argv: ["/nonexistent/flywheel-plugin"], timeout: 1, retries: 1), log: events.log)
        let result = await checker.check(id: "a", task: task, answer: "3")
        guard case .failure(let failure) = result else {
            Issue.record("expected a failure")
            return
        }
        #expect(failure.kind == .cannotStart)
        #expect(
            failure.message
                == "the checker `/nonexistent/flywheel-plugin` cannot start: could not start "
                + "`/nonexistent/flywheel-plugin`: No such file or directory; it wrote nothing on stderr")
        let faults = events.named("plugin.fault")
        #expect(
            faults.count == 2 && faults.last?.contains("the run stops") == true, "tried twice, then stop: \(faults)")
    }

    /// The checker behind `flaky.py`: the first request of each targeted id gets `mode`, later ones are served.
    func flakyChecker(_ mode: String, state: TemporaryDirectory, retries: Int, log: EventLog = .silent)
        -> ExternalChecker
    {
        ExternalChecker(
            command: ExternalCommand(
                argv: [
                    "python3", "-u", Repository.fixture("plugins/flaky.py"), "--state", state.path, "--mode", mode,
                    "--match", "^t", "--", "python3", "-u", Repository.fixture("plugins/exact_check.py"),
                ],
                // A hang must time out quickly; for the other faults a long timeout keeps a slow machine from
                // turning them into timeouts.
                workers: 1, timeout: mode == "hang" ? 1 : 20, startupTimeout: 15, retries: retries),
            log: log)
    }

    /// Events of one kind from a log that keeps its lines.
    final class Events: Sendable {
        let lines = Mutex<[String]>([])
        var log: EventLog {
            EventLog(format: .json, interactive: false) { line in self.lines.withLock { $0.append(line) } }
        }
        func named(_ name: String) -> [String] { lines.withLock { $0 }.filter { $0.contains("\"event\":\"\(name)\"") } }
    }

    @Test(
        "a crash, a timeout or a wrong id is retried on a fresh worker with the same request",
        arguments: ["crash", "hang", "wrongid"])
    func transientFaultsAreRetried(mode: String) async {
        let state = TemporaryDirectory()
        let events = Events()
        let checker = flakyChecker(mode, state: state, retries: 2, log: events.log)
        let match = Judgement(accept: true, score: 1, reason: "match")
        let four = TaskSpec(prompt: "p", reference: "4")
        #expect(await checker.check(id: "t1", task: four, answer: "4") == .success(match))
        #expect(await checker.check(id: "u1", task: four, answer: "4") == .success(match))
        #expect(await checker.check(id: "t2", task: four, answer: "4") == .success(match))
        await checker.shutdown()
        let faults = events.named("plugin.fault")
        #expect(faults.count == 2, "one fault per targeted id: \(faults)")
        #expect(faults.allSatisfy { $0.contains("retry 1 of 2") }, "\(faults)")
    }

    @Test("without retries a transient fault is the item's error")
    func noRetriesMeansAnError() async {
        let state = TemporaryDirectory()
        let checker = flakyChecker("crash", state: state, retries: 0)
        let result = await checker.check(id: "t1", task: TaskSpec(prompt: "p", reference: "4"), answer: "4")
        guard case .failure(let failure) = result else {
            Issue.record("expected a crash, got \(result)")
            return
        }
        #expect(failure.kind == .crash)
        await checker.shutdown()
    }

    @Test("a refusal is the program's answer: it is not retried")
    func refusalsAreNotRetried() async {
        let events = Events()
        let checker = ExternalChecker(
            command: ExternalCommand(
                argv: ["python3", "-u", Repository.fixture("plugins/faulty_check.py"), "--mode", "error"], workers: 1,
                retries: 2),
            log: events.log)
        let result = await checker.check(id: "a", task: task, answer: "3")
        #expect(result == .failure(PluginFailure(.refused, "refused")))
        await checker.shutdown()
        let stderr = events.named("plugin.stderr").filter { $0.contains("injecting") }
        #expect(stderr.count == 1, "asked once: \(stderr)")
        #expect(events.named("plugin.fault").isEmpty)
    }

    /// A checker answering every request with `response` (its `id` put in by the program).
    func answering(_ response: String, log: EventLog) -> ExternalChecker {
        let program = """
            import json, sys
            for line in sys.stdin:
                rid = json.loads(line)["id"]
                sys.stdout.write('{"id": %s, %s}\\n' % (json.dumps(rid), '\(response)')); sys.stdout.flush()
            """
        return ExternalChecker(
            command: ExternalCommand(argv: ["python3", "-c", program], workers: 1, retries: 2), log: log)
    }

    @Test(
        "a response that is JSON of the wrong shape, or not JSON at all, is a fault that says what was wrong",
        arguments: [
            (
                #""accept": true, "score": NaN"#,
                "the response line is not valid JSON (NaN and Infinity are not JSON numbers)"
            ),
            (#""accept": true, "score": "NaN""#, #"a check response needs a number `score` from 0 to 1, got "NaN""#),
            (#""accept": true, "score": 1.5"#, "a check response needs a number `score` from 0 to 1, got 1.5"),
            (#""accept": true"#, "a check response needs a number `score` from 0 to 1, got none"),
            (#""accept": "yes", "score": 1"#, #"a check response needs a boolean `accept`, got "yes""#),
        ])
    func malformedResponsesAreFaults(response: String, message: String) async {
        let events = Events()
        let checker = answering(response, log: events.log)
        let result = await checker.check(id: "a", task: task, answer: "3")
        await checker.shutdown()
        guard case .failure(let failure) = result else {
            Issue.record("\(response) must fail the item, got \(result)")
            return
        }
        #expect(failure.kind == .malformed)
        #expect(failure.message.hasPrefix(message), "\(failure.message)")
        let faults = events.named("plugin.fault")
        #expect(faults.count == 1, "malformed answers are not retried, but logged: \(faults)")
        #expect(faults.first?.contains("malformed") == true)
    }

    @Test("a program that dies at start-up on every try cannot start: its stderr in the message, plugin.fault logged")
    func aProgramThatDiesAtStartUpCannotStart() async {
        let events = Events()
        let checker = ExternalChecker(
            command: ExternalCommand(
                argv: ["python3", "-c", "import sys; print('no model at /models/x', file=sys.stderr); sys.exit(3)"],
                workers: 1, retries: 2),
            log: events.log)
        let result = await checker.check(id: "a", task: task, answer: "3")
        await checker.shutdown()
        guard case .failure(let failure) = result else {
            Issue.record("expected a failure, got \(result)")
            return
        }
        #expect(failure.kind == .cannotStart)
        #expect(failure.message.contains("cannot start: it exited before reading its first request (exit status 3)"))
        #expect(failure.message.contains("no model at /models/x"), "the stderr tail: \(failure.message)")
        let faults = events.named("plugin.fault")
        #expect(faults.count == 3, "the first try and two retries, each on a fresh worker: \(faults)")
        #expect(faults.last?.contains("the run stops") == true, "\(faults)")
    }

    @Test func theSolverNeverSeesTheReference() async throws {
        // arith_solve.py refuses any task that carries a reference.
        let solver = ExternalSolver(
            command: ExternalCommand(argv: [
                "python3", "-u", Repository.fixture("plugins/arith_solve.py"), "--base", "100",
            ]),
            exampleCount: 2, log: .silent)
        let request = SolveRequest(
            id: "s", task: TaskSpec(prompt: "What is 2 + 3?", reference: "5"), attempt: 0, seed: 1)
        let result = await solver.solve(request, with: try solver.prepare(solver.initialState))
        #expect((try? result.get())?.answer == "5")
        await solver.shutdown()
    }
}
