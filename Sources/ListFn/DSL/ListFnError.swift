/// An error from parsing or type-checking a DSL program, or from reading a prompt or a reference.
public struct ListFnError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// The text is not a well-formed S-expression of the DSL.
        case syntax
        /// The program is well formed but mistyped (wrong arity, a list where an int is needed, an unbound variable).
        case type
        /// A prompt or reference could not be read.
        case format
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue) error: \(message)" }
}
