import Foundation
import Yams

extension PipelineConfig {
    /// Reads and checks a pipeline file.
    /// - Throws: `FlywheelError(.invalidPipeline)` naming the file, the line, the key and what was expected.
    public static func load(path: String) throws -> PipelineConfig {
        let url = URL(fileURLWithPath: path)
        let file = url.standardizedFileURL.path
        guard let data = FileManager.default.contents(atPath: file) else {
            throw FlywheelError(.invalidPipeline, "\(path): cannot read the pipeline file (does it exist?)")
        }
        let text = String(decoding: data, as: UTF8.self)
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: text) else {
                throw FlywheelError(.invalidPipeline, "\(path): the file is empty; see docs/pipelines.md")
            }
            root = node
        } catch let error as FlywheelError {
            throw error
        } catch {
            throw FlywheelError(.invalidPipeline, "\(path): not valid YAML: \(error)")
        }
        let reader = PipelineReader(path: path, directory: url.deletingLastPathComponent().path)
        return try reader.read(root, file: file)
    }
}

/// Walks the YAML tree, checking every key; the first problem becomes the error.
struct PipelineReader {
    let path: String
    let directory: String

    func fail(_ node: Node?, _ key: String, _ expected: String) -> FlywheelError {
        let line = node?.mark.map { ":\($0.line)" } ?? ""
        let got = node.map { describe($0) }.map { ", got \($0)" } ?? ""
        return FlywheelError(.invalidPipeline, "\(path)\(line): `\(key)`: expected \(expected)\(got)")
    }

    private func describe(_ node: Node) -> String {
        switch node {
        case .scalar(let scalar): return "\"\(scalar.string)\""
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }

    func mapping(_ node: Node, _ key: String, allowed: Set<String>, required: Set<String> = []) throws
        -> [String: Node]
    {
        guard case .mapping(let mapping) = node else { throw fail(node, key, "a mapping of keys") }
        var result: [String: Node] = [:]
        for (keyNode, value) in mapping {
            guard let name = keyNode.string else { throw fail(keyNode, key, "string keys") }
            let qualified = key.isEmpty ? name : "\(key).\(name)"
            guard allowed.contains(name) else {
                throw FlywheelError(
                    .invalidPipeline,
                    "\(path)\(keyNode.mark.map { ":\($0.line)" } ?? ""): unknown key `\(qualified)`; "
                        + "expected one of: \(allowed.sorted().joined(separator: ", "))")
            }
            result[name] = value
        }
        for name in required.sorted() where result[name] == nil {
            let qualified = key.isEmpty ? name : "\(key).\(name)"
            throw FlywheelError(
                .invalidPipeline, "\(path)\(node.mark.map { ":\($0.line)" } ?? ""): missing key `\(qualified)`")
        }
        return result
    }

    func int(_ node: Node, _ key: String, min: Int, max: Int = Int.max) throws -> Int {
        guard case .scalar = node, let value = node.int else {
            throw fail(node, key, "an integer")
        }
        guard value >= min, value <= max else {
            throw fail(node, key, max == Int.max ? "an integer ≥ \(min)" : "an integer from \(min) to \(max)")
        }
        return value
    }

    func double(_ node: Node, _ key: String, range: ClosedRange<Double>, exclusive: Bool = false) throws -> Double {
        guard case .scalar = node, let value = node.float ?? node.int.map(Double.init) else {
            throw fail(node, key, "a number")
        }
        guard range.contains(value), !exclusive || (value != range.lowerBound && value != range.upperBound) else {
            throw fail(node, key, "a number \(exclusive ? "strictly " : "")between \(range.lowerBound) and \(range.upperBound)")
        }
        return value
    }

    func bool(_ node: Node, _ key: String) throws -> Bool {
        guard case .scalar = node, let value = node.bool else { throw fail(node, key, "true or false") }
        return value
    }

    func string(_ node: Node, _ key: String) throws -> String {
        guard case .scalar(let scalar) = node, !scalar.string.isEmpty else { throw fail(node, key, "a string") }
        return scalar.string
    }

    func choice<T: RawRepresentable & CaseIterable>(_ node: Node, _ key: String, _ type: T.Type) throws -> T
    where T.RawValue == String {
        guard let value = node.string.flatMap(T.init(rawValue:)) else {
            throw fail(node, key, "one of " + T.allCases.map { "`\($0.rawValue)`" }.joined(separator: ", "))
        }
        return value
    }

    func read(_ root: Node, file: String) throws -> PipelineConfig {
        let top = try mapping(
            root, "",
            allowed: [
                "name", "seed", "rounds", "round_size", "attempts", "parallelism", "heldout", "generator", "solver",
                "checker", "learning", "gate", "alpha", "data_policy", "decontamination", "difficulty", "curriculum",
                "store",
            ], required: ["generator", "solver", "checker"])
        let baseName = URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent
        var solverExamples = 4
        var solverBudget = 20_000
        var train: [String]?
        var trainTimeout = 3600.0
        var config = PipelineConfig(
            name: try top["name"].map { try name($0) } ?? baseName, file: file,
            generator: try plugin(top["generator"]!, "generator", extra: [:]),
            solver: try plugin(
                top["solver"]!, "solver",
                extra: [
                    "examples": { node in solverExamples = try int(node, "solver.examples", min: 0, max: 1000) },
                    "budget": { node in solverBudget = try int(node, "solver.budget", min: 1, max: 1_000_000_000) },
                    "train": { node in train = try argv(node, "solver.train") },
                    "train_timeout": { node in
                        trainTimeout = try double(node, "solver.train_timeout", range: 0...1_000_000, exclusive: true)
                    },
                    "retries": { _ in }, "backoff": { _ in },
                ]),
            checker: try plugin(top["checker"]!, "checker", extra: [:]))
        config.solverExamples = solverExamples
        config.solverBudget = solverBudget
        if let train {
            guard case .openai = config.solver else {
                throw fail(top["solver"]!, "solver.train", "an `openai:` solver (external solvers train themselves)")
            }
            config.solverTrain = TrainCommand(argv: train, directory: directory, timeout: trainTimeout)
        }
        if case .openai = config.generator { throw fail(top["generator"]!, "generator", "`builtin:` or `command:`") }
        if case .openai = config.checker { throw fail(top["checker"]!, "checker", "`builtin:` or `command:`") }
        if let node = top["seed"] { config.seed = UInt64(try int(node, "seed", min: 0, max: (1 << 53) - 1)) }
        if let node = top["rounds"] { config.rounds = try int(node, "rounds", min: 1, max: 10_000) }
        if let node = top["round_size"] { config.roundSize = try int(node, "round_size", min: 1, max: 10_000_000) }
        if let node = top["attempts"] { config.attempts = try int(node, "attempts", min: 1, max: 100) }
        if let node = top["parallelism"] { config.parallelism = try int(node, "parallelism", min: 1, max: 1024) }
        if let node = top["heldout"] {
            let heldout = try mapping(node, "heldout", allowed: ["size"], required: ["size"])
            config.heldoutSize = try int(heldout["size"]!, "heldout.size", min: 1, max: 10_000_000)
        }
        if let node = top["learning"] { config.learning = try bool(node, "learning") }
        if let node = top["gate"] { config.gate = try choice(node, "gate", PipelineConfig.Gate.self) }
        if let node = top["alpha"] { config.alpha = try double(node, "alpha", range: 0...1, exclusive: true) }
        if let node = top["data_policy"] {
            config.dataPolicy = try choice(node, "data_policy", PipelineConfig.DataPolicy.self)
        }
        if let node = top["decontamination"] {
            let section = try mapping(node, "decontamination", allowed: ["ngram"])
            if let ngram = section["ngram"] {
                config.contaminationNGram = try int(ngram, "decontamination.ngram", min: 1, max: 1000)
            }
        }
        if let node = top["difficulty"] { config.difficulty = try int(node, "difficulty", min: 0, max: 1000) }
        if let node = top["curriculum"] { config.curriculum = try curriculum(node) }
        if let node = top["store"] { config.store = try string(node, "store") }
        return config
    }

    private func name(_ node: Node) throws -> String {
        let value = try string(node, "name")
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-_."))
        guard value.unicodeScalars.allSatisfy(allowed.contains), !value.hasPrefix(".") else {
            throw fail(node, "name", "letters, digits, `-`, `_` and `.` (it names the store file)")
        }
        return value
    }

    private func plugin(_ node: Node, _ key: String, extra: [String: (Node) throws -> Void]) throws
        -> PipelineConfig.Plugin
    {
        let common: Set<String> = [
            "builtin", "command", "openai", "workers", "timeout", "startup_timeout", "max_response_bytes",
        ]
        let section = try mapping(node, key, allowed: common.union(extra.keys))
        for (name, apply) in extra { if let value = section[name] { try apply(value) } }
        if let openai = section["openai"] {
            guard key == "solver", section["builtin"] == nil, section["command"] == nil else {
                throw fail(node, key, key == "solver" ? "exactly one of `builtin`, `command` or `openai`" : "`builtin: NAME` or `command: [PROGRAM, ARG…]`")
            }
            return .openai(try openAI(openai, section))
        }
        for name in ["retries", "backoff", "train", "train_timeout"] where section[name] != nil {
            throw fail(section[name], "\(key).\(name)", "an `openai:` solver to apply to")
        }
        switch (section["builtin"], section["command"]) {
        case (nil, nil), (.some, .some):
            throw fail(node, key, "exactly one of `builtin: NAME` or `command: [PROGRAM, ARG…]`")
        case (.some(let builtin), nil):
            let name = try string(builtin, "\(key).builtin")
            guard BuiltinPlugins.names(for: key).contains(name) else {
                throw fail(
                    builtin, "\(key).builtin",
                    "a built-in \(key): " + BuiltinPlugins.names(for: key).map { "`\($0)`" }.joined(separator: ", "))
            }
            return .builtin(name)
        case (nil, .some(let commandNode)):
            var command = ExternalCommand(argv: try argv(commandNode, "\(key).command"), directory: directory)
            if let value = section["workers"] { command.workers = try int(value, "\(key).workers", min: 1, max: 256) }
            if let value = section["timeout"] {
                command.timeout = try double(value, "\(key).timeout", range: 0...86_400, exclusive: true)
            }
            if let value = section["startup_timeout"] {
                command.startupTimeout = try double(value, "\(key).startup_timeout", range: 0...86_400)
            }
            if let value = section["max_response_bytes"] {
                command.maxResponseBytes = try int(value, "\(key).max_response_bytes", min: 64, max: 1 << 30)
            }
            return .external(command)
        }
    }

    /// A program and its arguments, run without a shell; relative program and script paths must exist.
    private func argv(_ node: Node, _ key: String) throws -> [String] {
        guard case .sequence(let sequence) = node, !sequence.isEmpty else {
            throw fail(node, key, "a non-empty list: [PROGRAM, ARG…] (run without a shell)")
        }
        let argv = try sequence.map { element -> String in
            guard case .scalar(let scalar) = element else { throw fail(element, key, "a list of strings") }
            return scalar.string
        }
        let base = URL(fileURLWithPath: directory + "/")
        // Not `fail`: its "got …" would describe the whole list, while the problem is one file in it.
        func missing(_ what: String, _ given: String, at resolved: String) -> FlywheelError {
            let line = node.mark.map { ":\($0.line)" } ?? ""
            let looked = given == resolved ? "" : " (looked for \(resolved), relative to the pipeline file's folder)"
            return FlywheelError(.invalidPipeline, "\(path)\(line): `\(key)`: \(what) \(given)\(looked)")
        }
        if argv[0].contains("/") {
            let program = URL(fileURLWithPath: argv[0], relativeTo: base).path
            guard FileManager.default.isExecutableFile(atPath: program) else {
                throw missing("no executable program", argv[0], at: program)
            }
        }
        for argument in argv.dropFirst() where argument.hasSuffix(".py") || argument.hasSuffix(".sh") {
            let script = URL(fileURLWithPath: argument, relativeTo: base).path
            guard FileManager.default.fileExists(atPath: script) else {
                throw missing("no such script", argument, at: script)
            }
        }
        return argv
    }

    private func openAI(_ node: Node, _ section: [String: Node]) throws -> OpenAIConfig {
        let fields = try mapping(
            node, "solver.openai",
            allowed: [
                "base_url", "base_url_env", "model", "api_key_env", "temperature", "max_tokens", "system", "template",
                "extract", "extra_body",
            ], required: ["model"])
        guard (fields["base_url"] == nil) != (fields["base_url_env"] == nil) else {
            throw fail(node, "solver.openai", "exactly one of `base_url` or `base_url_env`")
        }
        var config = OpenAIConfig(
            baseURL: try fields["base_url"].map { try string($0, "solver.openai.base_url") } ?? "",
            model: try string(fields["model"]!, "solver.openai.model"))
        if let value = fields["base_url"], URL(string: config.baseURL)?.scheme?.hasPrefix("http") != true {
            throw fail(value, "solver.openai.base_url", "an http(s) URL")
        }
        config.baseURLEnvironment = try fields["base_url_env"].map { try string($0, "solver.openai.base_url_env") }
        config.apiKeyEnvironment = try fields["api_key_env"].map { try string($0, "solver.openai.api_key_env") }
        if let value = fields["temperature"] {
            config.temperature = try double(value, "solver.openai.temperature", range: 0...2)
        }
        if let value = fields["max_tokens"] { config.maxTokens = try int(value, "solver.openai.max_tokens", min: 1) }
        if let value = fields["system"] { config.system = try string(value, "solver.openai.system") }
        if let value = fields["template"] {
            config.template = try string(value, "solver.openai.template")
            guard config.template.contains("{prompt}") else {
                throw fail(value, "solver.openai.template", "a template containing {prompt}")
            }
        }
        if let value = fields["extract"] {
            let text = try string(value, "solver.openai.extract")
            switch text {
            case "trim": config.extract = .trim
            case "first_line": config.extract = .firstLine
            case let pattern where pattern.hasPrefix("regex:"):
                let expression = String(pattern.dropFirst("regex:".count)).trimmingCharacters(in: .whitespaces)
                guard (try? NSRegularExpression(pattern: expression)) != nil else {
                    throw fail(value, "solver.openai.extract", "a valid regular expression after `regex:`")
                }
                config.extract = .regex(expression)
            default:
                throw fail(value, "solver.openai.extract", "`trim`, `first_line` or `regex: PATTERN`")
            }
        }
        if let value = fields["extra_body"] {
            guard case .object(let object) = try json(value, "solver.openai.extra_body") else {
                throw fail(value, "solver.openai.extra_body", "a mapping")
            }
            config.extraBody = object
        }
        if let value = section["workers"] { config.concurrency = try int(value, "solver.workers", min: 1, max: 256) }
        if let value = section["timeout"] {
            config.timeout = try double(value, "solver.timeout", range: 0...86_400, exclusive: true)
        }
        if let value = section["retries"] { config.retries = try int(value, "solver.retries", min: 0, max: 100) }
        if let value = section["backoff"] { config.backoff = try double(value, "solver.backoff", range: 0...600) }
        return config
    }

    private func json(_ node: Node, _ key: String) throws -> JSONValue {
        switch node {
        case .scalar(let scalar):
            if scalar.style == .plain {
                if let value = node.bool { return .bool(value) }
                if let value = node.int { return .number(Double(value)) }
                if let value = node.float { return .number(value) }
                if node.null != nil { return .null }
            }
            return .string(scalar.string)
        case .mapping(let mapping):
            var object: [String: JSONValue] = [:]
            for (name, value) in mapping {
                guard let name = name.string else { throw fail(name, key, "string keys") }
                object[name] = try json(value, "\(key).\(name)")
            }
            return .object(object)
        case .sequence(let sequence):
            return .array(try sequence.map { try json($0, key) })
        case .alias:
            throw fail(node, key, "no aliases")
        }
    }

    private func curriculum(_ node: Node) throws -> PipelineConfig.Curriculum {
        let section = try mapping(node, "curriculum", allowed: ["band", "step", "min", "max"], required: ["band"])
        let bandNode = section["band"]!
        guard case .sequence(let band) = bandNode, band.count == 2 else {
            throw fail(bandNode, "curriculum.band", "a list of two acceptance rates [LOW, HIGH]")
        }
        let low = try double(band[0], "curriculum.band", range: 0...1)
        let high = try double(band[1], "curriculum.band", range: 0...1)
        guard low < high else { throw fail(bandNode, "curriculum.band", "LOW below HIGH") }
        var curriculum = PipelineConfig.Curriculum(low: low, high: high)
        if let value = section["step"] { curriculum.step = try int(value, "curriculum.step", min: 1, max: 1000) }
        if let value = section["min"] { curriculum.minimum = try int(value, "curriculum.min", min: 0, max: 1000) }
        if let value = section["max"] { curriculum.maximum = try int(value, "curriculum.max", min: 0, max: 1000) }
        guard curriculum.minimum <= curriculum.maximum else {
            throw fail(section["max"], "curriculum.max", "a value ≥ curriculum.min")
        }
        return curriculum
    }
}
