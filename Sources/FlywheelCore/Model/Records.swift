import Foundation

public enum RoundState: String, Sendable, Codable, CaseIterable {
    case running, promoted, rejected, failed

    /// Promoted or rejected: its numbers are final, and its data is visible to learning, export and reports.
    public var isCommitted: Bool { self == .promoted || self == .rejected }
}

public enum TaskStatus: String, Sendable, Codable, CaseIterable {
    /// Goes on to be solved.
    case kept
    /// Its normalised prompt equals an earlier task's.
    case duplicate
    /// It overlaps the held-out set.
    case contaminated
    /// The generator failed for it.
    case error
}

/// A solver version: the state learning made in `round` from its parent's, as the solver's own JSON.
public struct SolverVersion: Sendable, Equatable, Codable {
    public var id: Int64
    public var round: Int
    public var parent: Int64?
    /// The solver's typed state, encoded as JSON; the solver decodes it once per version (`Solver.State`).
    public var state: Data
    public var promoted: Bool
}

public struct RoundRecord: Sendable, Equatable, Codable {
    public var round: Int
    public var state: RoundState
    public var solverVersion: Int64?
    public var difficulty: Int
    public var dataPolicy: DataPolicy
    public var gate: Gate
    public var learning: Bool
    public var startedAt: String
    public var finishedAt: String?
    public var summary: RoundSummary?

    public init(
        round: Int, state: RoundState, solverVersion: Int64?, difficulty: Int, dataPolicy: DataPolicy, gate: Gate,
        learning: Bool, startedAt: String, finishedAt: String? = nil, summary: RoundSummary? = nil
    ) {
        self.round = round
        self.state = state
        self.solverVersion = solverVersion
        self.difficulty = difficulty
        self.dataPolicy = dataPolicy
        self.gate = gate
        self.learning = learning
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.summary = summary
    }
}

public struct TaskRecord: Sendable, Equatable, Codable {
    public var id: Int64
    public var index: Int
    public var seed: UInt64
    public var difficulty: Int
    public var status: TaskStatus
    public var task: TaskSpec?
    public var promptHash: String?
    public var failure: PluginFailure?
}

public struct AttemptRecord: Sendable, Equatable, Codable {
    public var id: Int64
    public var taskID: Int64
    public var attempt: Int
    /// The version that answered.
    public var solverVersion: Int64
    /// Whether the attempt was shown the task's answer as a hint (`Exploration.rationalize`).
    public var rationalized = false
    public var solution: Solution?
    public var failure: PluginFailure?
}

public struct VerdictRecord: Sendable, Equatable, Codable {
    public var attemptID: Int64
    public var judgement: Judgement?
    public var failure: PluginFailure?
}

/// One held-out item's result for one round: `score` is 0 when the item errored.
public struct HeldoutResult: Sendable, Equatable, Codable {
    public var index: Int
    public var answer: String?
    public var accept: Bool
    public var score: Double
    public var reason: String?
    public var failure: PluginFailure?
    /// The solver's token usage for this item, when it reports one.
    public var usage: JSONValue? = nil

    /// The result of an item the checker judged, or that the solver or the checker failed on (`answer` nil when
    /// the solver failed).
    public init(index: Int, answer: String?, outcome: Result<Judgement, PluginFailure>, usage: JSONValue? = nil) {
        self.index = index
        self.answer = answer
        self.usage = usage
        switch outcome {
        case .success(let judgement):
            (accept, score, reason, failure) = (judgement.accept, judgement.score, judgement.reason, nil)
        case .failure(let failure):
            (accept, score, reason, self.failure) = (false, 0, nil, failure)
        }
    }
}

/// A held-out result as the store keeps it: every column of its row, with the answer and reason its `answer_id`
/// names. `HeldoutResult` is what the engine compares; this is what a test or an audit compares byte for byte.
public struct StoredHeldoutResult: Sendable, Equatable {
    public var index: Int
    public var solverVersion: Int64
    /// The `heldout_answers` row of (`answer`, `reason`); nil when both are nil, and in a store before `v9`.
    public var answerID: Int64?
    public var answer: String?
    public var reason: String?
    public var accept: Bool
    public var score: Double
    public var errorKind: String?
    public var error: String?
    /// The solver's token usage as the JSON text it sent.
    public var usage: String?
    public var retries: Int
    /// The `checkers` row of the checker that judged; nil when none did, and in a store before `v4`.
    public var checkerID: Int64?
}

/// What an accepted example's zstd frame holds.
public struct StoredExample: Sendable, Codable, Equatable {
    public var prompt: String
    public var answer: String
    public var reference: JSONValue?
    public var meta: JSONValue?
    public var trace: String?

    public init(prompt: String, answer: String, reference: JSONValue?, meta: JSONValue?, trace: String?) {
        self.prompt = prompt
        self.answer = answer
        self.reference = reference
        self.meta = meta
        self.trace = trace
    }
}

extension StoredExample {
    /// The example as a stored frame holds it: compact JSON, sorted keys, absent fields left out (the bytes its
    /// `Codable` form gives through `JSONEncoder`, which stored checksums were taken of).
    public func encoded() -> Data {
        var object: [String: JSONValue] = ["prompt": .string(prompt), "answer": .string(answer)]
        if let reference { object["reference"] = reference }
        if let meta { object["meta"] = meta }
        if let trace { object["trace"] = .string(trace) }
        return JSONValue.object(object).encoded()
    }

    /// `encoded()`, made from `taskText`, the `TaskCodec.plain` text of the task this example answers (same prompt,
    /// reference and meta), without encoding those again: its members sit between `answer` and `trace` in sorted
    /// order, so the bytes are the same. Without the text, or with one that is not an object, `encoded()`.
    public func encoded(taskText: Data?) -> Data {
        guard let taskText, taskText.count > 2, taskText.first == UInt8(ascii: "{"),
            taskText.last == UInt8(ascii: "}")
        else { return encoded() }
        var writer = JSONTextWriter()
        writer.bytes.append(contentsOf: #"{"answer":"#.utf8)
        _ = writer.write(.string(answer))
        writer.bytes.append(UInt8(ascii: ","))
        writer.bytes.append(contentsOf: taskText.dropFirst().dropLast())
        if let trace {
            writer.bytes.append(contentsOf: #","trace":"#.utf8)
            _ = writer.write(.string(trace))
        }
        writer.bytes.append(UInt8(ascii: "}"))
        return Data(writer.bytes)
    }

    /// Reads `encoded()`'s JSON, as `JSONDecoder` reads its `Codable` form: other keys ignored, null as absent.
    /// - Throws: `JSONTextError`, or `FlywheelError(.corruptStore)` naming the field that is missing or mistyped.
    public init(json: Data) throws {
        guard case .object(let object) = try JSONValue.parse(json) else {
            throw FlywheelError(.corruptStore, "a stored example is not a JSON object")
        }
        func text(_ key: String, required: Bool) throws -> String? {
            switch object[key] {
            case .string(let value): return value
            case nil, .null?: if !required { return nil }
            default: break
            }
            throw FlywheelError(.corruptStore, "a stored example's `\(key)` is missing or not a string")
        }
        func value(_ key: String) -> JSONValue? { object[key] == .null ? nil : object[key] }
        self.init(
            prompt: try text("prompt", required: true)!, answer: try text("answer", required: true)!,
            reference: value("reference"), meta: value("meta"), trace: try text("trace", required: false))
    }
}
