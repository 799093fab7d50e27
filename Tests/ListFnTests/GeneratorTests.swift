import ListFn
import Testing

@Suite("Generator")
struct GeneratorTests {
    @Test("the same seed and difficulty give the same task; different seeds differ")
    func determinism() {
        for seed in UInt64(0)..<50 {
            #expect(ListFnGenerator.task(seed: seed, difficulty: 3) == ListFnGenerator.task(seed: seed, difficulty: 3))
        }
        let prompts = Set((UInt64(0)..<200).map { ListFnGenerator.task(seed: $0, difficulty: 3).prompt })
        #expect(prompts.count > 190)
        // A pinned task: any change to the generator or its PRNG shows up here.
        #expect(ListFnGenerator.task(seed: 42, difficulty: 3).program == Self.pinnedProgram)
    }

    static let pinnedProgram = "(length (filter (lambda (< $0 2)) $in))"

    @Test("tasks are well formed and not degenerate", arguments: 1...5)
    func nonDegenerate(difficulty: Int) throws {
        for seed in UInt64(0)..<100 {
            let task = ListFnGenerator.task(seed: seed &* 31 &+ 7, difficulty: difficulty)
            let program = try ListFnProgram(parsing: task.program)
            #expect(ListFnGenerator.sizeRange(difficulty: difficulty).contains(program.size))
            let shown = try PromptFormat.examples(in: task.prompt)
            let hidden = try PromptFormat.examples(inReferenceJSON: task.referenceJSON)
            #expect(shown.count == ListFnGenerator.shownCount && hidden.count == ListFnGenerator.hiddenCount)
            #expect(program.fits(shown + hidden))
            let all = shown + hidden
            #expect(Set(all.map(\.output)).count > 1, "constant: \(task.program)")
            #expect(!all.allSatisfy { $0.output == .list($0.input) }, "identity: \(task.program)")
            #expect(Set(all.map(\.input)).count == all.count, "repeated input: \(task.program)")
            #expect(task.prompt.hasPrefix(PromptFormat.header))
            #expect(task.prompt.split(separator: "\n").filter { $0.hasPrefix("f(") }.count == shown.count)
        }
    }
}
