/// The output of a program: an integer or a list of integers.
public enum ListFnValue: Sendable, Hashable, CustomStringConvertible {
    case int(Int)
    case list([Int])

    /// The prompt and JSON spelling: `7` or `[1, 2, 3]`.
    public var description: String {
        switch self {
        case .int(let v): return String(v)
        case .list(let l): return "[" + l.map(String.init).joined(separator: ", ") + "]"
        }
    }

    /// Compact JSON: `7` or `[1,2,3]`.
    var json: String {
        switch self {
        case .int(let v): return String(v)
        case .list(let l): return "[" + l.map(String.init).joined(separator: ",") + "]"
        }
    }
}

/// One input/output pair of a hidden program.
public struct ListFnExample: Sendable, Hashable {
    public var input: [Int]
    public var output: ListFnValue

    public init(input: [Int], output: ListFnValue) {
        self.input = input
        self.output = output
    }
}
