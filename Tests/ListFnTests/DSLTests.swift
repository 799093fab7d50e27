import ListFn
import Testing

@Suite("DSL parsing and semantics")
struct DSLTests {
    @Test(
        "programs print back in canonical form",
        arguments: [
            "(map (lambda (* $0 2)) (filter (lambda (> $0 3)) $in))",
            "(fold (lambda (lambda (+ $1 $0))) 0 $in)",
            "(take 2 (sort $in))",
            "(+ (sum $in) -7)",
        ])
    func roundTrip(source: String) throws {
        let program = try ListFnProgram(parsing: source)
        #expect(program.description == source)
        #expect(
            try ListFnProgram(parsing: "  \n" + source.replacingOccurrences(of: " ", with: "\t ") + " ").description
                == source)
    }

    @Test("semantics: the documented edge cases")
    func semantics() throws {
        func run(_ source: String, _ input: [Int]) throws -> ListFnValue? {
            try ListFnProgram(parsing: source).run(input)
        }
        #expect(try run("(map (lambda (* $0 2)) (filter (lambda (> $0 3)) $in))", [5, 1, 4]) == .list([10, 8]))
        #expect(try run("(fold (lambda (lambda (- $1 $0))) 0 $in)", [1, 2, 3]) == .int(-6))
        #expect(try run("(map (lambda (mod $0 3)) $in)", [-7, 7, 0]) == .list([2, 1, 0]))
        #expect(try run("(map (lambda (mod $0 -3)) $in)", [-7, 7]) == .list([-1, -2]))
        #expect(try run("(take 9 $in)", [1, 2]) == .list([1, 2]))
        #expect(try run("(drop -1 $in)", [1, 2]) == .list([1, 2]))
        #expect(try run("(head $in)", []) == nil)
        #expect(try run("(max $in)", []) == nil)
        #expect(try run("(sum $in)", []) == .int(0))
        #expect(try run("(mod 3 (length $in))", []) == nil)
        #expect(try run("(* (sum $in) 1000)", [1000]) == .int(1_000_000))
        #expect(try run("(* (sum $in) 1000)", [1001]) == nil)
        #expect(try run("(+ (head $in) (last $in))", [Int.max / 2, Int.max / 2, Int.max]) == nil)
        #expect(try run("(sum $in)", [Int.max, Int.max, -Int.max, -Int.max]) == .int(0))
        // The step limit stops runaway programs.
        let deep = (0..<4).reduce("(+ $0 1)") { body, _ in "(fold (lambda (lambda \(body))) 0 $in)" }
        #expect(try run(deep, Array(repeating: 1, count: 30)) == nil)
    }

    @Test(
        "bad programs are errors that say what is wrong",
        arguments: [
            ("", "syntax"), ("(sum $in", "syntax"), ("(sum $in))", "syntax"), ("(frob $in)", "syntax"),
            ("(sum)", "type"), ("(sum 1)", "type"), ("(map (lambda $1) $in)", "type"), ("(map (* $0 2) $in)", "type"),
            ("(> 1 2)", "type"), ("$0", "type"), ("sum", "type"), ("(1 2)", "syntax"), ("99999999", "syntax"),
        ])
    func errors(source: String, kind: String) {
        #expect(throws: ListFnError.self) { try ListFnProgram(parsing: source) }
        do {
            _ = try ListFnProgram(parsing: source)
        } catch {
            #expect(error.description.hasPrefix("\(kind) error: "), "\(source): \(error)")
            #expect(error.description.count > "\(kind) error: ".count + 3, "it says what is wrong: \(error)")
        }
    }

    @Test("prompts and references read back to the pairs they were made from")
    func formats() throws {
        let examples = [
            ListFnExample(input: [3, 1, 2], output: .list([6, 2, 4])), ListFnExample(input: [], output: .int(-5)),
        ]
        #expect(try PromptFormat.examples(in: PromptFormat.prompt(examples)) == examples)
        let json = PromptFormat.referenceJSON(examples)
        #expect(json == #"{"examples":[{"input":[3,1,2],"output":[6,2,4]},{"input":[],"output":-5}]}"#)
        #expect(try PromptFormat.examples(inReferenceJSON: json) == examples)
        #expect(throws: ListFnError.self) { try PromptFormat.examples(in: "no pairs here") }
        #expect(throws: ListFnError.self) { try PromptFormat.examples(in: "f([1, 2) = 3") }
    }

    /// Pairs are read line by line, for every line break a Swift string knows (CR LF, CR, VT, FF, NEL, LS, PS),
    /// after leading spaces and tabs; other lines, blank ones too, are ignored, and a malformed pair line is named in
    /// the error.
    @Test func promptLinesBreakWhereverAStringDoes() throws {
        let prompt =
            "Header\r\n\tf([1]) = 2\rf([2, 3]) = [4]\u{0B}f([]) = -7\u{0C}  f([5]) = 5\u{85}f([6]) = 6"
            + "\u{2028}f([7]) = [7, 8]\u{2029}note f([9]) = 9\n\n \t\nf([8]) = 1\n"
        let expected: [ListFnExample] = [
            .init(input: [1], output: .int(2)), .init(input: [2, 3], output: .list([4])),
            .init(input: [], output: .int(-7)), .init(input: [5], output: .int(5)), .init(input: [6], output: .int(6)),
            .init(input: [7], output: .list([7, 8])), .init(input: [8], output: .int(1)),
        ]
        #expect(try PromptFormat.examples(in: prompt) == expected)
        #expect(
            throws: ListFnError.format("malformed example line: f([1]) = 2 3"),
            performing: { try PromptFormat.examples(in: "f([0]) = 0\n \tf([1]) = 2 3\nf([2]) = 2") })
    }
}
