import Foundation
import FlywheelCore
import Testing

@Suite struct ExternalPluginTests {
    func checker(_ mode: String, timeout: Double = 2, maxBytes: Int = 1 << 20) -> ExternalChecker {
        ExternalChecker(
            command: ExternalCommand(
                argv: ["python3", "-u", Repository.fixture("plugins/faulty_check.py"), "--mode", mode, "--every", "3"],
                workers: 1, timeout: timeout, startupTimeout: 15, maxResponseBytes: maxBytes),
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

    @Test func aMissingProgramIsACrashNotAHang() async {
        let checker = ExternalChecker(
            command: ExternalCommand(argv: ["/nonexistent/flywheel-plugin"], timeout: 1), log: .silent)
        let result = await checker.check(id: "a", task: task, answer: "3")
        guard case .failure(let failure) = result else {
            Issue.record("expected a failure")
            return
        }
        #expect(failure.kind == .crash)
    }

    @Test func theSolverNeverSeesTheReference() async throws {
        // arith_solve.py refuses any task that carries a reference.
        let solver = ExternalSolver(
            command: ExternalCommand(argv: ["python3", "-u", Repository.fixture("plugins/arith_solve.py"), "--base", "100"]),
            exampleCount: 2, log: .silent)
        let request = SolveRequest(id: "s", task: TaskSpec(prompt: "What is 2 + 3?", reference: "5"), attempt: 0, seed: 1)
        let result = await solver.solve(request, with: try solver.prepare(solver.initialState))
        #expect((try? result.get())?.answer == "5")
        await solver.shutdown()
    }
}
