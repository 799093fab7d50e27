/// The plain-text prompt and the JSON reference of a task.
///
/// Prompt: a header line, then one `f([3, 1, 2]) = [6, 2, 4]` or `f([3, 1, 2]) = 6` line per shown pair.
/// Reference: compact JSON `{"examples":[{"input":[3,1,2],"output":[6,2,4]},…]}`.
public enum PromptFormat {
    public static let header = "Find the function f on integer lists."

    public static func prompt(_ examples: [ListFnExample]) -> String {
        var bytes = Array(header.utf8)
        for e in examples {
            bytes.append(contentsOf: "\nf(".utf8)
            ListFnValue.list(e.input).write(to: &bytes)
            bytes.append(contentsOf: ") = ".utf8)
            e.output.write(to: &bytes)
        }
        bytes.append(contentsOf: "\nAnswer with one program of the listfn DSL, e.g. (map (lambda (* $0 2)) $in).".utf8)
        return String(decoding: bytes, as: UTF8.self)
    }

    public static func referenceJSON(_ examples: [ListFnExample]) -> String {
        let items = examples.map { "{\"input\":\(ListFnValue.list($0.input).json),\"output\":\($0.output.json)}" }
        return "{\"examples\":[" + items.joined(separator: ",") + "]}"
    }

    /// The shown pairs of a prompt: every line of the form `f([…]) = …` (after any leading spaces and tabs).
    /// - Throws: `ListFnError.format` if there is none or one is malformed.
    public static func examples(in prompt: String) throws(ListFnError) -> [ListFnExample] {
        var out: [ListFnExample] = []
        var scanner = ValueScanner(Array(prompt.utf8))
        while let line = scanner.nextLine() {
            // Each line is read on its own; the blanks `eat` skips first are its leading spaces and tabs.
            (scanner.i, scanner.end) = (line.lowerBound, line.upperBound)
            guard scanner.eat("f(") else { continue }
            guard case .list(let input)? = scanner.value(), scanner.eat(")"), scanner.eat("="),
                let output = scanner.value(), scanner.atEnd
            else {
                let text = String(decoding: scanner.bytes[line], as: UTF8.self)
                throw ListFnError.format("malformed example line: \(text.drop { $0 == " " || $0 == "\t" })")
            }
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

/// Reads ints and int lists, skipping blanks, up to `end`.
struct ValueScanner {
    let bytes: [UInt8]
    var i = 0
    /// Where reading stops: the end of the bytes, or of the line being read.
    var end: Int
    /// Where the next line starts, for `nextLine`.
    private var lineStart = 0

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
        end = bytes.count
    }

    /// The byte range of the next line, without its line break: the breaks are those of `Character.isNewline`
    /// (LF, VT, FF, CR, NEL, LS, PS; CR LF is one). Nil after the last line.
    mutating func nextLine() -> Range<Int>? {
        guard lineStart < bytes.count else { return nil }
        var index = lineStart
        while index < bytes.count {
            let byte = bytes[index]
            let breakLength: Int
            switch byte {
            case 10, 11, 12: breakLength = 1
            case 13: breakLength = index + 1 < bytes.count && bytes[index + 1] == 10 ? 2 : 1
            case 0xC2 where index + 1 < bytes.count && bytes[index + 1] == 0x85: breakLength = 2
            case 0xE2 where index + 2 < bytes.count && bytes[index + 1] == 0x80
                && (bytes[index + 2] == 0xA8 || bytes[index + 2] == 0xA9):
                breakLength = 3
            default:
                index += 1
                continue
            }
            defer { lineStart = index + breakLength }
            return lineStart..<index
        }
        defer { lineStart = bytes.count }
        return lineStart..<bytes.count
    }

    mutating func skip() {
        while i < end, bytes[i] == 32 || bytes[i] == 9 || bytes[i] == 10 || bytes[i] == 13 { i += 1 }
    }

    var atEnd: Bool {
        mutating get {
            skip()
            return i == end
        }
    }

    mutating func eat(_ token: StaticString) -> Bool {
        skip()
        return token.withUTF8Buffer { t in
            guard i + t.count <= end, bytes[i..<(i + t.count)].elementsEqual(t) else { return false }
            i += t.count
            return true
        }
    }

    mutating func int() -> Int? {
        skip()
        let start = i
        let negative = i < end && bytes[i] == UInt8(ascii: "-")
        if negative { i += 1 }
        let digits = i
        var magnitude = 0
        while i < end, bytes[i] >= 48, bytes[i] <= 57 {
            magnitude = magnitude &* 10 &+ Int(bytes[i] &- 48)
            i += 1
        }
        guard i > digits, i - digits <= 18 else {
            i = start
            return nil
        }
        return negative ? -magnitude : magnitude
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
