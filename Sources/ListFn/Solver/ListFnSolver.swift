/// The answer of the built-in solver.
public struct ListFnSolution: Sendable, Equatable {
    /// The first program, in concrete syntax, that reproduces every shown pair; nil if none was found within
    /// the budget or the prompt could not be read.
    public var program: String?
    /// Complete candidate programs run against the shown pairs, the successful one included.
    public var candidatesTried: Int

    public init(program: String?, candidatesTried: Int) {
        self.program = program
        self.candidatesTried = candidatesTried
    }
}

/// The built-in solver: enumerates programs best-first under a grammar and answers with the first one that
/// fits the shown pairs.
///
/// The budget counts candidate programs, never time, so a solve is fully deterministic: the same grammar,
/// budget and prompt always give the same answer on any machine.
public struct ListFnSolver: Sendable {
    public let grammar: Grammar
    /// Most complete candidate programs tried per task.
    public let budget: Int
    private let compiled: CompiledGrammar

    public init(grammar: Grammar, budget: Int) {
        self.grammar = grammar
        self.budget = budget
        self.compiled = CompiledGrammar(grammar)
    }

    /// Solves a task from its prompt alone (the `f([…]) = …` lines; everything else is ignored).
    public func solve(prompt: String) -> ListFnSolution {
        guard let examples = try? PromptFormat.examples(in: prompt) else {
            return ListFnSolution(program: nil, candidatesTried: 0)
        }
        return solve(examples: examples)
    }

    /// Solves from input/output pairs. Pairs whose outputs mix ints and lists have no solution.
    public func solve(examples: [ListFnExample]) -> ListFnSolution {
        guard let first = examples.first else { return ListFnSolution(program: nil, candidatesTried: 0) }
        let request: ListFnType
        switch first.output {
        case .int: request = .int
        case .list: request = .list
        }
        for e in examples {
            switch (e.output, request) {
            case (.int, .int), (.list, .list): continue
            default: return ListFnSolution(program: nil, candidatesTried: 0)
            }
        }
        let enumerator = Enumerator(grammar: compiled)
        let packed = PackedExamples(examples)
        var machine = Evaluator()
        var found: [Int32]?
        let tried = enumerator.run(request: request, limit: budget) { productions, _ in
            machine.load(productions: productions)
            guard machine.fits(packed) else { return false }
            found = productions.map { Int32($0) }
            return true
        }
        return ListFnSolution(program: found.map { ListFnProgram.render($0) }, candidatesTried: tried)
    }

    /// The first `limit` programs of type `request` in the order the solver tries them, with their
    /// log-probabilities, which never increase along the list.
    public func enumerate(request: ListFnType, limit: Int) -> [(program: String, logProbability: Double)] {
        var out: [(program: String, logProbability: Double)] = []
        let enumerator = Enumerator(grammar: compiled)
        enumerator.run(request: request, limit: limit) { productions, lp in
            out.append((ListFnProgram.render(productions.map { Int32($0) }), lp))
            return false
        }
        return out
    }
}
