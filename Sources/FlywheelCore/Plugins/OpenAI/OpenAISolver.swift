import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Settings of the OpenAI-compatible solver (`solver: {openai: {…}}` in a pipeline file).
public struct OpenAIConfig: Sendable, Equatable {
    /// Where `/v1/chat/completions` lives, e.g. `http://127.0.0.1:8080`.
    public var baseURL: String
    /// When set, the base URL is read from this environment variable when the run starts (e.g. a test server's port).
    public var baseURLEnvironment: String?
    public var model: String
    /// The environment variable holding the API key; the key itself is never in the pipeline file.
    public var apiKeyEnvironment: String?
    public var temperature: Double = 0
    public var maxTokens: Int = 64
    /// The system message; none when nil.
    public var system: String?
    /// The user message; `{prompt}` is replaced by the task's prompt.
    public var template: String = "{prompt}"
    /// The user message of a rationalization attempt (`exploration.rationalize`): `{prompt}` as in `template`,
    /// `{hint}` the task's answer.
    /// The default was the one of five tried that made SmolLM2-135M state the answer (quoted) instead of echoing
    /// the question (docs/llm.md).
    public var hintTemplate: String = "{prompt}\nThe answer is \"{hint}\". Reply with the answer only."
    /// How the answer is taken from the reply: `trim` (default), `first_line`, or a regex (its first group if it
    /// has one, else the whole match; the first line when it does not match).
    public var extract: Extraction = .trim
    /// Extra fields merged into each request body (e.g. `{cache_prompt: false}` for llama-server).
    public var extraBody: [String: JSONValue] = [:]
    /// Requests in flight at once.
    public var concurrency: Int = 2
    /// Seconds per HTTP request.
    public var timeout: Double = 60
    /// Retries after a 429, a 5xx or a connection error, with exponential backoff and jitter.
    public var retries: Int = 4
    /// The first backoff in seconds (doubled each retry, at most 30 s; `Retry-After` wins when given).
    public var backoff: Double = 0.5
    /// Few-shot examples retrieved from the version's pool per task.
    public var examples: Int = 4
    /// The optional fine-tuning command; its model name becomes the candidate version's model.
    public var train: TrainCommand?
    /// Retrieval, weight-level learning (`weights`), or both.
    public var learn: LearningMode = .retrieval
    /// How weights are learned and served, when `learn` is `weights` or `both`.
    public var weights = WeightsConfig()

    public enum Extraction: Sendable, Equatable {
        case trim, firstLine
        case regex(String)
    }

    public init(baseURL: String, model: String) {
        self.baseURL = baseURL
        self.model = model
    }
}

/// A solver behind an OpenAI-compatible `/v1/chat/completions` endpoint (vLLM, llama-server, Ollama, TGI, hosted).
/// It learns through few-shot examples retrieved from the accepted data (`FewShot`), optionally through a
/// `train` command that fine-tunes on the exported examples and answers with a new model name, or through its own
/// weights (`WeightTrainer`: llama-finetune, and a llama-server per version instead of `base_url`).
public struct OpenAISolver: Solver {
    let config: OpenAIConfig
    let log: EventLog
    let trainer: WeightTrainer?
    private let limiter: AsyncSemaphore
    private let session: URLSession

    public init(config: OpenAIConfig, log: EventLog, trainer: WeightTrainer? = nil) {
        self.config = config
        self.log = log
        self.trainer = trainer
        limiter = AsyncSemaphore(permits: config.concurrency)
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = config.timeout
        configuration.httpMaximumConnectionsPerHost = max(config.concurrency, 1)
        session = URLSession(configuration: configuration)
    }

    public var initialState: FewShot.State { FewShot.State(learningFrom: []) }

    public func prepare(_ state: FewShot.State) throws -> FewShot.Index { FewShot.Index(state) }

    public func solve(_ request: SolveRequest, with index: FewShot.Index) async -> Result<Solution, PluginFailure> {
        var messages: [JSONValue] = []
        if let system = config.system { messages.append(["role": "system", "content": .string(system)]) }
        for example in index.select(for: request.task, k: config.examples) {
            messages.append(["role": "user", "content": .string(userMessage(example.prompt))])
            messages.append(["role": "assistant", "content": .string(example.answer)])
        }
        var question = userMessage(request.task.prompt)
        if let hint = request.hint {
            question = config.hintTemplate.replacingOccurrences(of: "{prompt}", with: question)
                .replacingOccurrences(of: "{hint}", with: hint)
        }
        messages.append(["role": "user", "content": .string(question)])
        var body = config.extraBody
        body["model"] = .string(index.model ?? config.model)
        body["messages"] = .array(messages)
        body["temperature"] = .number(request.temperature ?? config.temperature)
        body["max_tokens"] = .number(Double(config.maxTokens))
        body["seed"] = .number(Double(request.seed & 0x7FFF_FFFF))
        let payload = JSONValue.object(body).encoded()
        return await limiter.withPermit { await post(payload, id: request.id, weights: index.weights) }.flatMap(parse)
    }

    private func userMessage(_ prompt: String) -> String {
        config.template.replacingOccurrences(of: "{prompt}", with: prompt)
    }

    /// POSTs with retries to the server answering with `weights` (with learned weights) or to `base_url`; the
    /// outcome of the last try decides.
    private func post(_ payload: Data, id: String, weights: ModelFile?) async -> Result<Data, PluginFailure> {
        let baseURL: String
        do {
            baseURL = try await trainer?.endpoint(weights) ?? config.baseURL
        } catch {
            return .failure(error as? PluginFailure ?? PluginFailure(.cannotStart, "\(error)"))
        }
        guard let url = URL(string: baseURL.trimmingCharacters(in: ["/"]) + "/v1/chat/completions") else {
            return .failure(PluginFailure(.malformed, "the base URL \(baseURL) is not a URL"))
        }
        var request = URLRequest(url: url, timeoutInterval: config.timeout)
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        if let variable = config.apiKeyEnvironment, let key = ProcessInfo.processInfo.environment[variable] {
            request.setValue("Bearer \(key)", forHTTPHeaderField: "Authorization")
        }
        request.httpBody = payload
        var failure = PluginFailure(.connection, "no request was made")
        for attempt in 0...config.retries {
            var retryAfter: Double?
            do {
                let (data, response) = try await session.data(for: request)
                let status = (response as? HTTPURLResponse)?.statusCode ?? 0
                if status == 200 { return .success(data) }
                let text = String(decoding: data.prefix(300), as: UTF8.self)
                failure = PluginFailure(.http, "HTTP \(status): \(text)")
                guard status == 429 || status >= 500 else { return .failure(failure) }
                retryAfter = ((response as? HTTPURLResponse)?.value(forHTTPHeaderField: "Retry-After"))
                    .flatMap(Double.init)
            } catch let error as URLError where error.code == .timedOut {
                failure = PluginFailure(.timeout, "no response within \(config.timeout) s")
            } catch {
                failure = PluginFailure(.connection, "the request failed: \(error.localizedDescription)")
            }
            guard attempt < config.retries else { break }
            PluginRetries.add()
            let delay = retryAfter.map { min($0, 60) } ?? backoff(attempt: attempt, id: id)
            log.event(
                "openai.retry",
                [
                    ("id", id), ("attempt", attempt + 1), ("delay", delay),
                    ("error", failure.description),
                ])
            try? await Task.sleep(nanoseconds: UInt64(delay * 1e9))
        }
        return .failure(failure)
    }

    /// Exponential backoff with jitter; the jitter is derived from the request id, not drawn.
    func backoff(attempt: Int, id: String) -> Double {
        let base = min(30, config.backoff * pow(2, Double(attempt)))
        let unit = Double(StableHash.fnv1a64(Array("\(id)#\(attempt)".utf8)) % 1000) / 1000
        return base * (0.5 + 0.5 * unit)
    }

    private func parse(_ data: Data) -> Result<Solution, PluginFailure> {
        guard let response = try? JSONValue.parse(data) else {
            return .failure(
                PluginFailure(.malformed, "the reply is not JSON: \(String(decoding: data.prefix(200), as: UTF8.self))")
            )
        }
        guard let content = response["choices"]?.arrayValue?.first?["message"]?["content"]?.stringValue else {
            return .failure(PluginFailure(.malformed, "the reply has no choices[0].message.content"))
        }
        var usage: JSONValue?
        if let reported = response["usage"] {
            usage = [
                "prompt_tokens": reported["prompt_tokens"] ?? 0,
                "completion_tokens": reported["completion_tokens"] ?? 0,
            ]
        }
        return .success(Solution(answer: extract(content), trace: content, usage: usage))
    }

    func extract(_ content: String) -> String {
        switch config.extract {
        case .trim:
            return content.trimmingCharacters(in: .whitespacesAndNewlines)
        case .firstLine:
            return Self.firstLine(content)
        case .regex(let pattern):
            // No match falls back to the first line: a model that already answers tersely needs no extraction.
            guard let expression = try? NSRegularExpression(pattern: pattern),
                let match = expression.firstMatch(in: content, range: NSRange(content.startIndex..., in: content)),
                let range = Range(match.numberOfRanges > 1 ? match.range(at: 1) : match.range, in: content)
            else { return Self.firstLine(content) }
            return String(content[range])
        }
    }

    static func firstLine(_ content: String) -> String {
        content.split(whereSeparator: \.isNewline).lazy.map { $0.trimmingCharacters(in: .whitespaces) }
            .first { !$0.isEmpty } ?? ""
    }

    public func learn(from examples: [Example], previous: FewShot.State, round: Int) async throws -> FewShot.State {
        var model = previous.model
        if let train = config.train {
            model = try await train.run(examples: examples, round: round, log: log)
        }
        var state = FewShot.State(learningFrom: config.learn == .weights ? [] : examples, model: model)
        state.weights = previous.weights
        if let trainer, !examples.isEmpty {
            let used = Array(examples.suffix(trainer.settings.maxExamples))
            state.weights = try await TrainCommand.logged(round: round, examples: used.count, log: log, name: \.path) {
                try await trainer.learn(from: used.map(conversation), previous: previous.weights, round: round)
            }
        }
        return state
    }

    /// Retrieval alone keeps sufficient statistics (the pool); a `train` command or weight-level learning trains on
    /// the allowed examples each round, so it reads them all.
    public func absorbed(by state: FewShot.State) -> Int? {
        config.train == nil && config.learn == .retrieval ? state.absorbed : nil
    }

    public func learn(adding examples: [Example], to previous: FewShot.State, round: Int) async throws
        -> FewShot.State
    {
        try FewShot.State.adding(examples, to: previous)
    }

    /// An example as the model is trained on it: the messages a 0-shot solve of its prompt sends, and the answer.
    private func conversation(_ example: Example) -> (messages: [JSONValue], answer: String) {
        var messages: [JSONValue] = []
        if let system = config.system { messages.append(["role": "system", "content": .string(system)]) }
        messages.append(["role": "user", "content": .string(userMessage(example.prompt))])
        return (messages, example.answer)
    }

    public func discard(_ rejected: FewShot.State, promoted: FewShot.State) async {
        if let trainer, let file = rejected.weights { await trainer.discard(file, promoted: promoted.weights) }
    }

    public func shutdown() async {
        await trainer?.shutdown()
        session.invalidateAndCancel()
    }
}
