import ListFn
import Testing

@Suite("check.py agrees with the Swift interpreter")
struct CheckerAgreementTests {
    /// Inputs beyond the generator's usual range, so that bounds, empty lists and negatives are exercised.
    static func extraInputs(_ rng: inout SplitMix64) -> [[Int]] {
        [
            [],
            [rng.below(2_000_001) - 1_000_000, rng.below(2_000_001) - 1_000_000],
            (0..<rng.below(12)).map { _ in rng.below(41) - 20 },
            (0..<(1 + rng.below(9))).map { _ in rng.below(1000) },
        ]
    }

    /// The program with one integer constant replaced by a random one in -3…8 (negative counts, zero divisors).
    static func constantMutation(of program: String, _ rng: inout SplitMix64) -> String {
        var tokens = program.replacingOccurrences(of: "(", with: "( ").replacingOccurrences(of: ")", with: " )")
            .split(separator: " ").map(String.init)
        let numeric = tokens.indices.filter { Int(tokens[$0]) != nil }
        guard !numeric.isEmpty else { return program }
        tokens[numeric[rng.below(numeric.count)]] = String(rng.below(12) - 3)
        return tokens.joined(separator: " ").replacingOccurrences(of: "( ", with: "(")
            .replacingOccurrences(of: " )", with: ")")
    }

    /// A deliberately wrong (usually) answer: another task's program, a token-level mutation, or garbage.
    static func wrongAnswer(for program: String, other: String, _ rng: inout SplitMix64) -> String {
        let names = [
            "map", "filter", "reverse", "sort", "take", "drop", "head", "last", "length", "sum", "max", "min", "+",
            "-", "*", "mod", ">", "<", "==", "0", "1", "2", "3", "7", "-4", "$0", "$1", "$in", "(", ")", "lambda",
        ]
        switch rng.below(4) {
        case 0:
            return other
        case 1, 2:
            var tokens = program.replacingOccurrences(of: "(", with: "( ").replacingOccurrences(of: ")", with: " )")
                .split(separator: " ").map(String.init)
            let i = rng.below(tokens.count)
            tokens[i] = names[rng.below(names.count)]
            return tokens.joined(separator: " ").replacingOccurrences(of: "( ", with: "(")
                .replacingOccurrences(of: " )", with: ")")
        default:
            return ["", "   ", "(map", "(lambda $0)", "(head)", "$2", "(sum $in) extra", "((sum $in))"][rng.below(8)]
        }
    }

    @Test("accept decisions agree on 1200 generated programs with one right and three wrong answers each")
    func agreement() async throws {
        var rng = SplitMix64(seed: 2024)
        var lines: [String] = []
        var expected: [Bool] = []
        let tasks = (0..<1200).map { ListFnGenerator.task(seed: UInt64($0) &* 7919, difficulty: 1 + $0 % 5) }
        for (i, task) in tasks.enumerated() {
            let truth = try ListFnProgram(parsing: task.program)
            var examples = try PromptFormat.examples(inReferenceJSON: task.referenceJSON)
            for x in Self.extraInputs(&rng) {
                if let y = truth.run(x) { examples.append(ListFnExample(input: x, output: y)) }
            }
            let reference = PromptFormat.referenceJSON(examples)
            let answers = [
                task.program,
                Self.wrongAnswer(for: task.program, other: tasks[(i + 1) % tasks.count].program, &rng),
                Self.wrongAnswer(for: task.program, other: tasks[(i + 7) % tasks.count].program, &rng),
                Self.constantMutation(of: task.program, &rng),
            ]
            for (k, answer) in answers.enumerated() {
                lines.append(try CheckerProcess.request(id: "\(i).\(k)", referenceJSON: reference, answer: answer))
                let swiftAccepts = (try? ListFnProgram(parsing: answer))?.fits(examples) ?? false
                expected.append(swiftAccepts)
            }
        }
        let result = try await CheckerProcess.run(lines: lines)
        #expect(result.exitStatus == 0, "check.py stderr: \(result.stderr)")
        try #require(result.responses.count == lines.count, "check.py stderr: \(result.stderr)")
        var disagreements: [String] = []
        for (n, response) in result.responses.enumerated() {
            let accept = response["accept"] as? Bool
            #expect(response["id"] as? String == "\(n / 4).\(n % 4)")
            if accept != expected[n] {
                disagreements.append("\(lines[n]) -> swift \(expected[n]), check.py \(response)")
            }
        }
        #expect(disagreements.isEmpty, "\(disagreements.count) disagreements, e.g. \(disagreements.prefix(3))")
        // The sample is only meaningful if it holds both verdicts in number, the right answers all accepted.
        #expect(expected.filter { $0 }.count >= 1200)
        #expect(expected.filter { !$0 }.count > 1000)
        #expect(stride(from: 0, to: expected.count, by: 4).allSatisfy { expected[$0] })
    }

    @Test("malformed, mistyped, runaway and empty answers are rejected with a reason; bad requests get an error")
    func robustness() async throws {
        let nines = Array(repeating: "9", count: 30).joined(separator: ",")
        let reference = #"{"examples":[{"input":[1,2,3],"output":6},{"input":["# + nines + #"],"output":270}]}"#
        // 30^4 innermost steps: far past the step limit.
        let runaway = (0..<4).reduce("(+ $0 1)") { body, _ in "(fold (lambda (lambda \(body))) 0 $in)" }
        let rejected: [String?] = [
            "", "  ", nil, "(sum $in", "(sum $in))", "(sum)", "(sum 3)", "(> (sum $in) 1)", "(map (lambda $1) $in)",
            "(sum (map (* $0 2) $in))", "(frobnicate $in)", "(fold (lambda (lambda (* $1 10))) 1 $in)",
            runaway, "(head (filter (lambda (> $0 100)) $in))", "(mod (sum $in) 0)",
            String(repeating: "(reverse ", count: 300) + "$in" + String(repeating: ")", count: 300),
        ]
        var lines = try rejected.enumerated().map {
            try CheckerProcess.request(id: "r\($0)", referenceJSON: reference, answer: $1)
        }
        lines.append(
            try CheckerProcess.request(
                id: "ok", referenceJSON: reference, answer: "(fold (lambda (lambda (+ $1 $0))) 0 $in)"))
        lines.append("this is not json")
        lines.append(#"{"op":"generate","id":"g"}"#)
        lines.append(#"{"op":"check","id":"noref","task":{"prompt":"x"},"answer":"(sum $in)"}"#)
        let result = try await CheckerProcess.run(lines: lines)
        #expect(result.exitStatus == 0)
        try #require(result.responses.count == lines.count, "stderr: \(result.stderr)")
        for (i, answer) in rejected.enumerated() {
            let r = result.responses[i]
            #expect(r["accept"] as? Bool == false, "answer \(answer ?? "nil") got \(r)")
            #expect(r["score"] as? Double == 0.0)
            #expect(!((r["reason"] as? String) ?? "").isEmpty)
            // The Swift side rejects the same answers.
            if let answer, let program = try? ListFnProgram(parsing: answer) {
                #expect(!program.fits(try PromptFormat.examples(inReferenceJSON: reference)), "\(answer)")
            }
        }
        let ok = result.responses[rejected.count]
        #expect(ok["accept"] as? Bool == true && ok["score"] as? Double == 1.0)
        for r in result.responses.suffix(3) {
            #expect(r["error"] is String && r["accept"] == nil, "\(r)")
        }
        #expect(result.responses[rejected.count + 2]["id"] as? String == "g")
    }
}
