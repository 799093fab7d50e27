/// The output of a program: an integer or a list of integers.
public enum ListFnValue: Sendable, Hashable, CustomStringConvertible {
    case int(Int)
    case list([Int])

    /// The prompt spelling: `7` or `[1, 2, 3]`.
    public var description: String {
        var text = ""
        write(to: &text)
        return text
    }

    /// Compact JSON: `7` or `[1,2,3]`.
    var json: String {
        var text = ""
        write(to: &text, separator: ",")
        return text
    }

    /// Appends the spelling to `text`, list items separated by `separator`.
    func write(to text: inout String, separator: String = ", ") {
        switch self {
        case .int(let v): text += String(v)
        case .list(let l):
            text += "["
            for (index, v) in l.enumerated() {
                if index > 0 { text += separator }
                text += String(v)
            }
            text += "]"
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
