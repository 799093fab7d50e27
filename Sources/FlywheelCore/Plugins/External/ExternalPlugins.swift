import Foundation

/// A generator that is an external program speaking protocol v1 (`op: generate`).
public struct ExternalGenerator: Generator {
    let pool: ExternalPool

    public init(command: ExternalCommand, log: EventLog) {
        pool = ExternalPool(name: "generator", command: command, log: log)
    }

    public func generate(id: String, seed: UInt64, difficulty: Int, split: Split) async
        -> Result<TaskSpec, PluginFailure>
    {
        let request: [String: JSONValue] = [
            "op": "generate", "seed": .number(Double(seed)), "difficulty": .number(Double(difficulty)),
            "split": .string(split.rawValue),
        ]
        return await pool.request(request, id: id) { response in
            guard let task = response["task"]?.objectValue else {
                return .failure(malformed("a generate response needs a `task` object", got: response["task"]))
            }
            guard let prompt = task["prompt"]?.stringValue, !prompt.isEmpty else {
                return .failure(malformed("a generated task needs a non-empty string `prompt`", got: task["prompt"]))
            }
            if let meta = task["meta"], meta != .null, meta.objectValue == nil {
                return .failure(malformed("a generated task's `meta` must be an object", got: meta))
            }
            return .success(TaskSpec(prompt: prompt, reference: task["reference"], meta: task["meta"]))
        }
    }

    public var recentStderr: [String] { pool.recentStderr }

    public func shutdown() async { await pool.shutdown() }
}

/// A solver that is an external program (`op: solve`). Its learning is few-shot: a version carries a pool of
/// accepted examples, and each request shows the task the `k` most relevant of them (`FewShot`).
public struct ExternalSolver: Solver {
    let pool: ExternalPool
    /// Few-shot examples shown per task.
    let exampleCount: Int

    public init(command: ExternalCommand, exampleCount: Int, log: EventLog) {
        pool = ExternalPool(name: "solver", command: command, log: log)
        self.exampleCount = exampleCount
    }

    public var initialState: FewShot.State { FewShot.State(learningFrom: []) }

    public func prepare(_ state: FewShot.State) throws -> FewShot.Index { FewShot.Index(state) }

    public func solve(_ request: SolveRequest, with index: FewShot.Index) async -> Result<Solution, PluginFailure> {
        var taskObject: [String: JSONValue] = ["prompt": .string(request.task.prompt)]
        if let meta = request.task.meta { taskObject["meta"] = meta }
        let examples = index.select(for: request.task, k: exampleCount).map {
            JSONValue.object(["prompt": .string($0.prompt), "answer": .string($0.answer)])
        }
        var fields: [String: JSONValue] = [
            "op": "solve", "task": .object(taskObject), "examples": .array(examples),
            "attempt": .number(Double(request.attempt)), "seed": .number(Double(request.seed)),
        ]
        if let temperature = request.temperature { fields["temperature"] = .number(temperature) }
        if let hint = request.hint { fields["hint"] = .string(hint) }
        return await pool.request(fields, id: request.id) { response in
            guard let answer = response["answer"]?.stringValue else {
                return .failure(malformed("a solve response needs a string `answer`", got: response["answer"]))
            }
            return .success(Solution(answer: answer, trace: response["trace"]?.stringValue, usage: response["usage"]))
        }
    }

    public var recentStderr: [String] { pool.recentStderr }

    public func learn(from examples: [Example], previous: FewShot.State, round: Int) async throws -> FewShot.State {
        FewShot.State(learningFrom: examples)
    }

    public func absorbed(by state: FewShot.State) -> Int? { state.absorbed }

    public func learn(adding examples: [Example], to previous: FewShot.State, round: Int) async throws
        -> FewShot.State
    {
        try FewShot.State.adding(examples, to: previous)
    }

    public func shutdown() async { await pool.shutdown() }
}

/// A checker that is an external program (`op: check`).
public struct ExternalChecker: Checker {
    let pool: ExternalPool
    public let identity: String
    /// Read once, when the checker is made: the program files as they are when the run starts.
    public let fingerprint: String

    public init(command: ExternalCommand, log: EventLog) {
        pool = ExternalPool(name: "checker", command: command, log: log)
        identity = command.argv.joined(separator: " ")
        fingerprint = command.fingerprint
    }

    public func check(id: String, task: TaskSpec, answer: String) async -> Result<Judgement, PluginFailure> {
        await check(id: id, task: task, text: nil, answer: answer)
    }

    /// The request's `task` is the task's `TaskCodec.plain` text: `text` as it was encoded for the store when the
    /// caller has it, not encoded again (its reference is most of a line, and most of the CPU of writing one).
    public func check(id: String, task: TaskSpec, text: Data?, answer: String) async -> Result<Judgement, PluginFailure>
    {
        let line = Self.line(id: id, text: text ?? TaskCodec.plain(task), answer: answer)
        return await pool.request(line: line, id: id) { response in
            guard let accept = response["accept"]?.boolValue else {
                return .failure(malformed("a check response needs a boolean `accept`", got: response["accept"]))
            }
            guard let score = response["score"]?.doubleValue, (0...1).contains(score) else {
                return .failure(
                    malformed("a check response needs a number `score` from 0 to 1", got: response["score"]))
            }
            return .success(Judgement(accept: accept, score: score, reason: response["reason"]?.stringValue))
        }
    }

    /// The check request for the task whose `TaskCodec.plain` text is `text`: the fields `answer`, `id`, `op` and
    /// `task` in the order the encoder sorts them, so the same bytes as `ExternalPool.request` writes for them. A
    /// task JSON cannot say (a non-finite number: its text is `null`) makes the line `null`, as encoding the whole
    /// request does.
    static func line(id: String, text: Data, answer: String) -> Data {
        guard text.first == UInt8(ascii: "{"), text.last == UInt8(ascii: "}") else { return Data("null".utf8) }
        var writer = JSONTextWriter()
        writer.bytes.append(contentsOf: #"{"answer":"#.utf8)
        _ = writer.write(.string(answer))
        writer.bytes.append(contentsOf: #","id":"#.utf8)
        _ = writer.write(.string(id))
        writer.bytes.append(contentsOf: #","op":"check","task":"#.utf8)
        writer.bytes.append(contentsOf: text)
        writer.bytes.append(UInt8(ascii: "}"))
        return Data(writer.bytes)
    }

    public var recentStderr: [String] { pool.recentStderr }

    public func shutdown() async { await pool.shutdown() }
}

/// A response that is JSON but not the shape its op needs: what was expected and what came instead.
private func malformed(_ expected: String, got value: JSONValue?) -> PluginFailure {
    let got = value.map { String($0.jsonText.prefix(100)) } ?? "none"
    return PluginFailure(.malformed, "\(expected), got \(got)")
}

/// A plugin served by an external program's workers.
protocol ExternalProgram {
    var pool: ExternalPool { get }
}

extension ExternalGenerator: ExternalProgram {}
extension ExternalSolver: ExternalProgram {}
extension ExternalChecker: ExternalProgram {}
