import ListFn
import Testing

@Suite("Enumerator and solver")
struct SolverTests {
    @Test(
        "candidates come in non-increasing probability, without repeats, with the grammar's probability",
        arguments: [ListFnType.list, .int])
    func order(request: ListFnType) throws {
        let learned = Grammar.fit(
            programs: (UInt64(0)..<50).map { ListFnGenerator.task(seed: $0, difficulty: 4).program })
        for grammar in [Grammar.initial, learned] {
            let candidates = ListFnSolver(grammar: grammar, budget: 1).enumerate(request: request, limit: 20_000)
            #expect(candidates.count == 20_000)
            for (a, b) in zip(candidates, candidates.dropFirst()) {
                #expect(b.logProbability <= a.logProbability + 1e-9, "\(a) before \(b)")
            }
            #expect(Set(candidates.map(\.program)).count == candidates.count)
            for c in candidates.prefix(2000) {
                let program = try ListFnProgram(parsing: c.program)
                #expect(program.type == request)
                #expect(abs(grammar.logProbability(of: c.program)! - c.logProbability) < 1e-9)
            }
        }
    }

    @Test("the first candidates are the most probable programs of the grammar")
    func firstCandidates() {
        let first = ListFnSolver(grammar: .initial, budget: 1).enumerate(request: .list, limit: 1)
        #expect(first.map(\.program) == ["$in"])
        let g = Grammar.fit(programs: Array(repeating: "(sort (reverse $in))", count: 20))
        let top = ListFnSolver(grammar: g, budget: 1).enumerate(request: .list, limit: 3).map(\.program)
        #expect(top.contains("(sort (reverse $in))"))
    }

    @Test("simple tasks are solved within the budget, and the answers fit the hidden pairs too")
    func solvesSimpleTasks() throws {
        let solver = ListFnSolver(grammar: .initial, budget: 20_000)
        let doubling =
            "Find the function f on integer lists.\nf([3, 1, 2]) = [6, 2, 4]\nf([5]) = [10]\nf([0, 7]) = [0, 14]"
        let solution = solver.solve(prompt: doubling)
        let answer = try #require(solution.program)
        #expect(try ListFnProgram(parsing: answer).run([4, 9]) == .list([8, 18]))
        #expect(solution.candidatesTried > 0 && solution.candidatesTried <= 20_000)

        var solved = 0
        for seed in UInt64(0)..<40 {
            let task = ListFnGenerator.task(seed: seed, difficulty: 1)
            let s = solver.solve(prompt: task.prompt)
            #expect(s.candidatesTried <= 20_000)
            guard let program = s.program else { continue }
            #expect(try ListFnProgram(parsing: program).fits(PromptFormat.examples(in: task.prompt)))
            if try ListFnProgram(parsing: program).fits(PromptFormat.examples(inReferenceJSON: task.referenceJSON)) {
                solved += 1
            }
        }
        #expect(solved >= 30, "solved \(solved) of 40 difficulty-1 tasks")
    }

    @Test("a tiny budget or an unreadable prompt gives no program")
    func tinyBudget() {
        let task = ListFnGenerator.task(seed: 3, difficulty: 4)
        let s = ListFnSolver(grammar: .initial, budget: 1).solve(prompt: task.prompt)
        #expect(s.program == nil && s.candidatesTried == 1)
        let none = ListFnSolver(grammar: .initial, budget: 1000).solve(prompt: "hello")
        #expect(none.program == nil && none.candidatesTried == 0)
    }

    @Test("the solver is deterministic")
    func deterministic() {
        let task = ListFnGenerator.task(seed: 11, difficulty: 3)
        let solver = ListFnSolver(grammar: .initial, budget: 5000)
        #expect(solver.solve(prompt: task.prompt) == solver.solve(prompt: task.prompt))
    }

    @Test("a grammar learned from accepted answers solves more held-out tasks than the prior")
    func flywheelInMiniature() {
        let budget = 2000
        let train = (UInt64(0)..<150).map { ListFnGenerator.task(seed: $0, difficulty: 5) }
        let heldout = (UInt64(10_000)..<10_150).map { ListFnGenerator.task(seed: $0, difficulty: 5) }
        func accepted(_ tasks: [ListFnTask], _ grammar: Grammar) -> [String] {
            let solver = ListFnSolver(grammar: grammar, budget: budget)
            return tasks.compactMap { task in
                guard let answer = solver.solve(prompt: task.prompt).program,
                    let hidden = try? PromptFormat.examples(inReferenceJSON: task.referenceJSON),
                    (try? ListFnProgram(parsing: answer))?.fits(hidden) == true
                else { return nil }
                return answer
            }
        }
        let learned = Grammar.fit(programs: accepted(train, .initial))
        let before = accepted(heldout, .initial).count
        let after = accepted(heldout, learned).count
        #expect(after >= before + 15, "held-out solved: \(before) -> \(after) of 150")
    }
}
