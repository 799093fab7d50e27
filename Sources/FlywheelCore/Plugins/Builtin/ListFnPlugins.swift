import Foundation
import ListFn
import Synchronization

/// The names a pipeline may give as `builtin:` for each stage.
enum BuiltinPlugins {
    static func names(for stage: String) -> [String] {
        switch stage {
        case "generator", "solver": return ["listfn"]
        default: return []
        }
    }
}

/// The listfn generator: programming-by-example tasks over integer lists. The reference holds the hidden pairs
/// and the hidden program; neither reaches the solver.
public struct ListFnTaskGenerator: Generator {
    public init() {}

    public func generate(id: String, seed: UInt64, difficulty: Int, split: Split) async
        -> Result<TaskSpec, PluginFailure>
    {
        let task = ListFnGenerator.task(seed: seed, difficulty: difficulty)
        guard var reference = try? JSONValue.parse(task.referenceJSON).objectValue else {
            return .failure(PluginFailure(.malformed, "the listfn generator made a reference that is not an object"))
        }
        reference["program"] = .string(task.program)
        return .success(
            TaskSpec(
                prompt: task.prompt, reference: .object(reference),
                meta: .object(["family": "listfn", "difficulty": .number(Double(difficulty))])))
    }

    public func shutdown() async {}
}

/// The listfn solver: enumerates programs by probability under a learned grammar, within a budget counted in
/// candidates. Learning re-fits the grammar to the accepted programs.
public final class ListFnProgramSolver: Solver {
    let budget: Int
    // Decoding a grammar per task would dominate small tasks; versions are few, so cache them by their JSON.
    private let grammars = Mutex<[Data: Grammar]>([:])

    public init(budget: Int) {
        self.budget = budget
    }

    public var initialState: JSONValue { Self.state(of: .initial) }

    public func solve(id: String, task: TaskSpec, attempt: Int, seed: UInt64, state: JSONValue) async
        -> Result<Solution, PluginFailure>
    {
        let grammar: Grammar
        do { grammar = try decode(state) } catch {
            return .failure(PluginFailure(.malformed, "the solver version's grammar does not decode: \(error)"))
        }
        let solution = ListFnSolver(grammar: grammar, budget: budget).solve(prompt: task.prompt)
        let usage: JSONValue = .object(["candidates": .number(Double(solution.candidatesTried))])
        // No program within the budget is an answer too: the empty one, which the checker rejects.
        return .success(Solution(answer: solution.program ?? "", usage: usage))
    }

    public func learn(from examples: [Example], previous: JSONValue, round: Int) async throws -> JSONValue {
        Self.state(of: Grammar.fit(programs: examples.map(\.answer).filter { !$0.isEmpty }))
    }

    public func shutdown() async {}

    private func decode(_ state: JSONValue) throws -> Grammar {
        let data = state.encoded()
        if let cached = grammars.withLock({ $0[data] }) { return cached }
        let grammar = try JSONDecoder().decode(Grammar.self, from: data)
        grammars.withLock { $0[data] = grammar }
        return grammar
    }

    static func state(of grammar: Grammar) -> JSONValue {
        (try? JSONValue.parse(JSONEncoder().encode(grammar))) ?? .null
    }
}
