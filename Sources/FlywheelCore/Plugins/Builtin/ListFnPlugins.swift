import Foundation
import ListFn
import Processes
import Synchronization

/// The listfn generator: programming-by-example tasks over integer lists. The reference holds the hidden pairs
/// and the hidden program; neither reaches the solver.
public struct ListFnTaskGenerator: Generator {
    private let placement = Placement()

    public init() {}

    public func generate(id: String, seed: UInt64, difficulty: Int, split: Split) async
        -> Result<TaskSpec, PluginFailure>
    {
        await placement.run { Self.task(seed: seed, difficulty: difficulty) }
    }

    private static func task(seed: UInt64, difficulty: Int) -> Result<TaskSpec, PluginFailure> {
        let task = ListFnGenerator.task(seed: seed, difficulty: difficulty)
        func json(_ list: [Int]) -> JSONValue { .array(list.map { .number(Double($0)) }) }
        let examples = task.hidden.map { example -> JSONValue in
            let output: JSONValue =
                switch example.output {
                case .int(let value): .number(Double(value))
                case .list(let list): json(list)
                }
            return .object(["input": json(example.input), "output": output])
        }
        return .success(
            TaskSpec(
                prompt: task.prompt,
                reference: .object(["examples": .array(examples), "program": .string(task.program)]),
                meta: .object(["family": "listfn", "difficulty": .number(Double(difficulty))])))
    }

    public func shutdown() async {}
}

/// The listfn solver: enumerates programs by probability under a learned grammar, within a budget counted in
/// candidates. Learning re-fits the grammar to the accepted programs. A version's state is its grammar; solving
/// with it needs the grammar compiled, once per version.
public struct ListFnProgramSolver: Solver {
    /// Candidate programs tried per task.
    let budget: Int
    private let placement = Placement()

    public init(budget: Int) {
        self.budget = budget
    }

    public var initialState: Grammar { .initial }

    public func prepare(_ state: Grammar) throws -> ListFnSolver {
        ListFnSolver(grammar: state, budget: budget)
    }

    public func solve(_ request: SolveRequest, with solver: ListFnSolver) async -> Result<Solution, PluginFailure> {
        let solution = await placement.run { solver.solve(prompt: request.task.prompt) }
        let usage: JSONValue = .object(["candidates": .number(Double(solution.candidatesTried))])
        // No program within the budget is an answer too: the empty one, which the checker rejects.
        return .success(Solution(answer: solution.program ?? "", usage: usage))
    }

    /// The grammar fitted to the examples' programs (an empty or unparsable answer adds no counts).
    public func learn(from examples: [Example], previous: Grammar, round: Int) async throws -> Grammar {
        Grammar.fit(programs: examples.map(\.answer))
    }

    /// A fitted grammar keeps its production counts: learning adds the new programs' to them.
    public func absorbed(by state: Grammar) -> Int? { state.programs }

    public func learn(adding examples: [Example], to previous: Grammar, round: Int) async throws -> Grammar {
        guard let grammar = previous.adding(programs: examples.map(\.answer)) else {
            throw FlywheelError(.runFailed, "the listfn grammar of the promoted version keeps no counts to add to")
        }
        return grammar
    }

    public func shutdown() async {}
}

/// Where a built-in plugin's CPU-bound work runs (enumerating programs, sampling a task): on the event loop that
/// called it when such work has lately taken less than a hop between threads costs, else on the cooperative pool,
/// so that long work has both cores and does not hold up the loop's exchanges.
///
/// A hop to the pool and back is two wake-ups, 30–150 µs each on this machine's 2-core VM; with a 0.15 ms checker
/// they were most of a round's context switches (7,300 in a 2,000-item round against 1,900 with the work run where
/// it was called); run where called, the round fed that checker 4,780 checks/s against 4,585 with 5 % less CPU
/// (medians of 8 interleaved runs, `Benchmarks/checker-feed.sh`'s round). The cost is a moving average of the
/// measured calls, wherever they ran; where the work runs never changes what it returns.
final class Placement: Sendable {
    /// Work that has lately cost less than this runs where it was called.
    static let inlineBelow = 100e-6
    /// The moving average of a call's seconds, as the bits of a Double (0: nothing measured, run where called).
    private let recent = Atomic<UInt64>(0)

    func run<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        if Double(bitPattern: recent.load(ordering: .relaxed)) < Self.inlineBelow, EventLoop.shared.inLoop {
            return measured(work)
        }
        return await withTaskExecutorPreference(globalConcurrentExecutor) { measured(work) }
    }

    private func measured<T>(_ work: () -> T) -> T {
        let start = monotonicSeconds()
        let result = work()
        let seconds = monotonicSeconds() - start
        // An average over about the last 8 calls; racing updates lose one sample, which an estimate can afford.
        let average = Double(bitPattern: recent.load(ordering: .relaxed))
        recent.store((average + (seconds - average) / 8).bitPattern, ordering: .relaxed)
        return result
    }
}
