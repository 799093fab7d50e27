/// An error from parsing or type-checking a DSL program, or from reading a prompt or a reference; each case carries
/// what was wrong.
public enum ListFnError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The text is not a well-formed S-expression of the DSL.
    case syntax(String)
    /// The program is well formed but mistyped (wrong arity, a list where an int is needed, an unbound variable).
    case type(String)
    /// A prompt or reference could not be read.
    case format(String)

    public var description: String {
        switch self {
        case .syntax(let message): "syntax error: \(message)"
        case .type(let message): "type error: \(message)"
        case .format(let message): "format error: \(message)"
        }
    }
}
