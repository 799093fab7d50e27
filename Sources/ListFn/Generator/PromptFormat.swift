/// The plain-text prompt and the JSON reference of a task.
///
/// Prompt: a header line, then one `f([3, 1, 2]) = [6, 2, 4]` or `f([3, 1, 2]) = 6` line per shown pair.
/// Reference: compact JSON `{"examples":[{"input":[3,1,2],"output":[6,2,4]},…]}`.
public enum PromptFormat {
    public static let header = "Find the function f on integer lists."

    public static func prompt(_ examples: [ListFnExample]) -> String {
        var lines = [header]
        for e in examples { lines.append("f(\(ListFnValue.list(e.input))) = \(e.output)") }
        lines.append("Answer with one program of the listfn DSL, e.g. (map (lambda (* $0 2)) $in).")
        return lines.joined(separator: "\n")
    }

    public static func referenceJSON(_ examples: [ListFnExample]) -> String {
        let items = examples.map { "{\"input\":\(ListFnValue.list($0.input).json),\"output\":\($0.output.json)}" }
        return "{\"examples\":[" + items.joined(separator: ",") + "]}"
    }

    /// The shown pairs of a prompt: every line of the form `f([…]) = …`.
    /// - Throws: `ListFnError.format` if there is none or one is malformed.
    public static func examples(in prompt: String) throws(ListFnError) -> [ListFnExample] {
        var out: [ListFnExample] = []
        for raw in prompt.split(whereSeparator: \.isNewline) {
            let line = String(raw.drop { $0 == " " || $0 == "\t" })
            guard line.hasPrefix("f(") else { continue }
            var scanner = ValueScanner(Array(line.utf8))
            scanner.i = 2
            guard case .list(let input)? = scanner.value(), scanner.eat(")"), scanner.eat("="),
                let output = scanner.value(), scanner.atEnd
            else { throw ListFnError.format("malformed example line: \(line)") }
            out.append(ListFnExample(input: input, output: output))
        }
        guard !out.isEmpty else { throw ListFnError.format("the prompt shows no f(…) = … pairs") }
        return out
    }

    /// The pairs of a reference JSON object.
    /// - Throws: `ListFnError.format` unless it is `{"examples":[{"input":[…],"output":…},…]}`.
    public static func examples(inReferenceJSON json: String) throws(ListFnError) -> [ListFnExample] {
        var s = ValueScanner(Array(json.utf8))
        var out: [ListFnExample] = []
        let bad = ListFnError.format("reference is not {\"examples\":[{\"input\":[…],\"output\":…},…]}")
        guard s.eat("{"), s.eat("\"examples\""), s.eat(":"), s.eat("[") else { throw bad }
        if !s.eat("]") {
            repeat {
                guard s.eat("{"), s.eat("\"input\""), s.eat(":"), case .list(let input)? = s.value(), s.eat(","),
                    s.eat("\"output\""), s.eat(":"), let output = s.value(), s.eat("}")
                else { throw bad }
                out.append(ListFnExample(input: input, output: output))
            } while s.eat(",")
            guard s.eat("]") else { throw bad }
        }
        guard s.eat("}"), s.atEnd else { throw bad }
        return out
    }
}

/// Reads ints and int lists, skipping blanks.
struct ValueScanner {
    let bytes: [UInt8]
    var i = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func skip() {
        while i < bytes.count, bytes[i] == 32 || bytes[i] == 9 || bytes[i] == 10 || bytes[i] == 13 { i += 1 }
    }

    var atEnd: Bool {
        mutating get {
            skip()
            return i == bytes.count
        }
    }

    mutating func eat(_ token: String) -> Bool {
        skip()
        let t = Array(token.utf8)
        guard i + t.count <= bytes.count, Array(bytes[i..<(i + t.count)]) == t else { return false }
        i += t.count
        return true
    }

    mutating func int() -> Int? {
        skip()
        let start = i
        if i < bytes.count, bytes[i] == UInt8(ascii: "-") { i += 1 }
        let digits = i
        while i < bytes.count, bytes[i] >= 48, bytes[i] <= 57 { i += 1 }
        guard i > digits, i - digits <= 18 else {
            i = start
            return nil
        }
        return Int(String(decoding: bytes[start..<i], as: UTF8.self))
    }

    mutating func value() -> ListFnValue? {
        skip()
        if eat("[") {
            var l: [Int] = []
            if eat("]") { return .list(l) }
            repeat {
                guard let v = int() else { return nil }
                l.append(v)
            } while eat(",")
            return eat("]") ? .list(l) : nil
        }
        return int().map { .int($0) }
    }
}
