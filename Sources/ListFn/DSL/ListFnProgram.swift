/// A parsed, type-checked DSL program `[int] -> int` or `[int] -> [int]`.
///
/// Concrete syntax (S-expressions, see docs/listfn.md): `(map (lambda (* $0 2)) (filter (lambda (> $0 3)) $in))`.
/// `$in` is the input list, `$k` a de Bruijn variable (`$0` is bound by the innermost lambda), `fold` takes a
/// curried two-argument lambda whose body sees the accumulator as `$1` and the element as `$0`.
public struct ListFnProgram: Sendable, Hashable, CustomStringConvertible {
    /// The program in prefix order: production ids, with a literal's value in the word after `Primitive.literal`.
    let code: [Int32]
    /// The result type: `.int` or `.list`.
    public let type: ListFnType

    init(code: [Int32], type: ListFnType) {
        self.code = code
        self.type = type
    }

    /// Parses and type-checks a program.
    ///
    /// - Throws: `ListFnError` with code `.syntax` or `.type`. A program of type `bool` is a type error: a hidden
    ///   program always returns an int or a list.
    public init(parsing source: String) throws(ListFnError) {
        var parser = Parser(source: source)
        let tree = try parser.parseAll()
        var code: [Int32] = []
        let type = try Self.compile(tree, depth: 0, into: &code)
        guard type != .bool else { throw ListFnError.type("a program must return an int or a list, not a bool") }
        self.code = code
        self.type = type
    }

    /// The canonical concrete syntax.
    public var description: String { Self.render(code) }

    /// Runs the program on one input.
    ///
    /// - Returns: the output, or nil on a runtime error: `head`/`last`/`max`/`min` of an empty list, `mod` by
    ///   zero, an integer beyond ±1,000,000, or more than `Evaluator.stepLimit` evaluation steps.
    public func run(_ input: [Int]) -> ListFnValue? {
        var machine = Evaluator(code: code)
        return machine.run(input: input, type: type)
    }

    /// Whether the program reproduces every example (a runtime error is a mismatch).
    public func fits(_ examples: [ListFnExample]) -> Bool {
        var machine = Evaluator(code: code)
        for example in examples where !machine.matches(input: example.input, expected: example.output) {
            return false
        }
        return true
    }

    /// Number of productions (primitives, constants, variables); lambdas are not counted.
    public var size: Int {
        var n = 0
        var i = 0
        while i < code.count {
            n += 1
            i += code[i] == Primitive.literal ? 2 : 1
        }
        return n
    }

    // MARK: Rendering

    static func render(_ code: [Int32]) -> String {
        var out = ""
        var i = 0
        render(code, &i, into: &out)
        return out
    }

    private static func render(_ code: [Int32], _ i: inout Int, into out: inout String) {
        let p = code[i]
        i += 1
        if p == Primitive.literal {
            out += String(code[i])
            i += 1
            return
        }
        let arity = Primitive.arity(p)
        if arity == 0 {
            out += Primitive.name(p)
            return
        }
        let info = Primitive.table[Int(p)]
        out += "("
        out += info.name
        for slot in 0..<arity {
            out += " "
            let binds = info.binds[slot]
            for _ in 0..<binds { out += "(lambda " }
            render(code, &i, into: &out)
            for _ in 0..<binds { out += ")" }
        }
        out += ")"
    }

    // MARK: Type checking

    private static func compile(_ node: SExpr, depth: Int, into code: inout [Int32]) throws(ListFnError) -> ListFnType {
        switch node {
        case .integer(let v):
            if v >= 0 && v < Int(Primitive.constantCount) {
                code.append(Primitive.constantBase + Int32(v))
            } else {
                guard abs(v) <= Evaluator.bound else {
                    throw ListFnError.syntax("integer literal \(v) is beyond ±\(Evaluator.bound)")
                }
                code.append(Primitive.literal)
                code.append(Int32(v))
            }
            return .int
        case .symbol(let s):
            if s == "$in" {
                code.append(Primitive.input)
                return .list
            }
            if s.hasPrefix("$"), let k = Int(s.dropFirst()), k >= 0, String(k) == String(s.dropFirst()) {
                guard k < depth else { throw ListFnError.type("variable \(s) is not bound by an enclosing lambda") }
                code.append(Primitive.variableBase + Int32(k))
                return .int
            }
            if s == "lambda" { throw ListFnError.syntax("lambda must be written (lambda BODY)") }
            if let p = Primitive.byName[s] {
                throw ListFnError.type("\(s) takes \(Primitive.arity(p)) argument(s); write (\(s) …)")
            }
            throw ListFnError.syntax("unknown symbol '\(s)'")
        case .list(let items):
            guard case .symbol(let head)? = items.first else {
                throw ListFnError.syntax("a parenthesised form must start with a primitive name")
            }
            if head == "lambda" {
                throw ListFnError.type("a lambda may only be the function argument of map, filter or fold")
            }
            guard let p = Primitive.byName[head] else { throw ListFnError.syntax("unknown primitive '\(head)'") }
            let info = Primitive.table[Int(p)]
            guard items.count - 1 == info.arguments.count, !info.arguments.isEmpty else {
                throw ListFnError.type("\(head) takes \(info.arguments.count) argument(s), got \(items.count - 1)")
            }
            code.append(p)
            for slot in info.arguments.indices {
                var argument = items[slot + 1]
                for _ in 0..<info.binds[slot] {
                    guard case .list(let l) = argument, l.count == 2, case .symbol("lambda") = l[0] else {
                        let shape = info.binds[slot] == 2 ? "(lambda (lambda BODY))" : "(lambda BODY)"
                        throw ListFnError.type("argument \(slot + 1) of \(head) must be \(shape)")
                    }
                    argument = l[1]
                }
                let t = try compile(argument, depth: depth + info.binds[slot], into: &code)
                guard t == info.arguments[slot] else {
                    throw ListFnError.type(
                        "argument \(slot + 1) of \(head) must be \(info.arguments[slot].rawValue), got \(t.rawValue)")
                }
            }
            return info.result
        }
    }
}

/// A raw S-expression.
enum SExpr: Equatable {
    case integer(Int)
    case symbol(String)
    case list([SExpr])
}

struct Parser {
    static let maxNesting = 200
    private let bytes: [UInt8]
    private var i = 0

    init(source: String) { bytes = Array(source.utf8) }

    mutating func parseAll() throws(ListFnError) -> SExpr {
        skipSpace()
        guard i < bytes.count else { throw ListFnError.syntax("empty program") }
        let e = try parse(nesting: 0)
        skipSpace()
        guard i == bytes.count else { throw ListFnError.syntax("unexpected text after the program at offset \(i)") }
        return e
    }

    private mutating func skipSpace() {
        while i < bytes.count, bytes[i] == 32 || bytes[i] == 9 || bytes[i] == 10 || bytes[i] == 13 { i += 1 }
    }

    private mutating func parse(nesting: Int) throws(ListFnError) -> SExpr {
        guard nesting < Self.maxNesting else { throw ListFnError.syntax("program nested too deeply") }
        skipSpace()
        guard i < bytes.count else { throw ListFnError.syntax("unexpected end of program: missing ')'") }
        if bytes[i] == UInt8(ascii: "(") {
            i += 1
            var items: [SExpr] = []
            while true {
                skipSpace()
                guard i < bytes.count else { throw ListFnError.syntax("unexpected end of program: missing ')'") }
                if bytes[i] == UInt8(ascii: ")") {
                    i += 1
                    break
                }
                items.append(try parse(nesting: nesting + 1))
            }
            guard !items.isEmpty else { throw ListFnError.syntax("empty form ()") }
            return .list(items)
        }
        if bytes[i] == UInt8(ascii: ")") { throw ListFnError.syntax("unexpected ')' at offset \(i)") }
        let start = i
        while i < bytes.count, bytes[i] != 32, bytes[i] != 9, bytes[i] != 10, bytes[i] != 13,
            bytes[i] != UInt8(ascii: "("), bytes[i] != UInt8(ascii: ")")
        {
            i += 1
        }
        let token = String(decoding: bytes[start..<i], as: UTF8.self)
        if isInteger(bytes[start..<i]) {
            guard let v = Int(token) else { throw ListFnError.syntax("integer literal \(token) is too large") }
            return .integer(v)
        }
        return .symbol(token)
    }

    private func isInteger(_ token: ArraySlice<UInt8>) -> Bool {
        var digits = token[...]
        if digits.first == UInt8(ascii: "-") { digits = digits.dropFirst() }
        return !digits.isEmpty && digits.allSatisfy { $0 >= 48 && $0 <= 57 }
    }
}
