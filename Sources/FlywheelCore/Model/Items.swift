/// Which half of the data a generated task belongs to.
public enum Split: String, Sendable, Codable {
    case train, heldout
}

/// A generated task. `reference` is for the checker alone: the solver never receives it.
public struct TaskSpec: Sendable, Codable, Equatable {
    public var prompt: String
    public var reference: JSONValue?
    public var meta: JSONValue?

    public init(prompt: String, reference: JSONValue? = nil, meta: JSONValue? = nil) {
        self.prompt = prompt
        self.reference = reference
        self.meta = meta
    }

    /// What the solver may see.
    public var withoutReference: TaskSpec { TaskSpec(prompt: prompt, reference: nil, meta: meta) }

    /// The answer a rationalization attempt is shown: the reference when it is a string, else its `answer` field
    /// (a string, or any other JSON as text); nil when the reference names no answer.
    public var hint: String? {
        switch reference {
        case .string(let answer): return answer
        case .object(let fields):
            guard let answer = fields["answer"], answer != .null else { return nil }
            return answer.stringValue ?? answer.jsonText
        default: return nil
        }
    }
}

/// A solved example shown to a solver (few-shot) or given to learning.
public struct Example: Sendable, Codable, Equatable {
    public var prompt: String
    public var answer: String
    public var meta: JSONValue?

    public init(prompt: String, answer: String, meta: JSONValue? = nil) {
        self.prompt = prompt
        self.answer = answer
        self.meta = meta
    }
}

public struct Solution: Sendable, Equatable, Codable {
    public var answer: String
    public var trace: String?
    public var usage: JSONValue?

    public init(answer: String, trace: String? = nil, usage: JSONValue? = nil) {
        self.answer = answer
        self.trace = trace
        self.usage = usage
    }
}

public struct Judgement: Sendable, Equatable, Codable {
    public var accept: Bool
    public var score: Double
    public var reason: String?

    public init(accept: Bool, score: Double, reason: String? = nil) {
        self.accept = accept
        self.score = score
        self.reason = reason
    }
}

/// Why one item got no result. It is recorded with the item; the run goes on.
public struct PluginFailure: Error, Sendable, Equatable, Codable, CustomStringConvertible {
    public enum Kind: String, Sendable, Codable, CaseIterable {
        /// The plugin answered `{"error": …}`.
        case refused
        /// No answer within the per-request timeout; the worker was killed and will be restarted.
        case timeout
        /// The worker exited or could not be started.
        case crash
        /// The response was not a JSON object of the expected shape.
        case malformed
        /// The response carried another request's id.
        case wrongID = "wrong-id"
        /// The response line was longer than the cap.
        case tooLarge = "too-large"
        /// An HTTP server answered with an error status (after any retries).
        case http
        /// An HTTP server could not be reached (after any retries).
        case connection
        /// The program could not be started, or exited before reading its first request, on every try of a
        /// request. Never recorded against an item: the run stops, since no item could be served.
        case cannotStart = "cannot-start"
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { "\(kind.rawValue): \(message)" }

    /// Whether trying the same request again on a fresh worker may succeed: the worker died, went silent,
    /// answered another request's id, or failed at start-up (a start can fail once, e.g. killed for memory). A refusal, a malformed or oversized answer is the program's considered reply and is not retried.
    public var isTransient: Bool { [.crash, .timeout, .wrongID, .cannotStart].contains(kind) }
}
