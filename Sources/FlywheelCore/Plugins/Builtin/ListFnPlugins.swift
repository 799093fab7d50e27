import Foundation
import ListFn

/// The listfn generator: programming-by-example tasks over integer lists. The reference holds the hidden pairs
/// and the hidden program; neither reaches the solver.
public struct ListFnTaskGenerator: Generator {
    public init() {}

    public func generate(id: String, seed: UInt64, difficulty: Int, split: Split) async
        -> Result<TaskSpec, PluginFailure>
    {
        await offLoop { Self.task(seed: seed, difficulty: difficulty) }
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

    public init(budget: Int) {
        self.budget = budget
    }

    public var initialState: Grammar { .initial }

    public func prepare(_ state: Grammar) throws -> ListFnSolver {
        ListFnSolver(grammar: state, budget: budget)
    }

    public func solve(_ request: SolveRequest, with solver: ListFnSolver) async -> Result<Solution, PluginFailure> {
        let solution = await offLoop { solver.solve(prompt: request.task.prompt) }
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

/// Runs `work` (CPU-bound: enumerating programs) on the cooperative thread pool, not on the event loop the round's
/// items run on, so that it has both cores and does not hold up the loop's exchanges.
func offLoop<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
    await withTaskExecutorPreference(globalConcurrentExecutor) { work() }
}
