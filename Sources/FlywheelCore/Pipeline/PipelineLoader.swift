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
                "store", "max_error_rate", "error_control", "reject_shortcuts", "plateau", "prices", "audit",
                "exploration",
            ], required: ["generator", "solver", "checker"])
        let baseName = URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent
        var config = PipelineConfig(
            name: try top["name"].map { try name($0) } ?? baseName, file: file,
            generator: try generator(top["generator"]!), solver: try solver(top["solver"]!),
            checker: try checker(top["checker"]!))
        var settings = RoundSettings()
        if let node = top["seed"] { settings.seed = UInt64(try int(node, "seed", min: 0, max: (1 << 53) - 1)) }
        if let node = top["rounds"] { config.rounds = try int(node, "rounds", min: 1, max: 10_000) }
        if let node = top["round_size"] { settings.roundSize = try int(node, "round_size", min: 1, max: 10_000_000) }
        if let node = top["attempts"] { settings.attempts = try int(node, "attempts", min: 1, max: 100) }
        if let node = top["exploration"] { settings.exploration = try exploration(node) }
        if let node = top["parallelism"] { settings.parallelism = try int(node, "parallelism", min: 1, max: 1024) }
        if let node = top["heldout"] {
            let heldout = try mapping(node, "heldout", allowed: ["size"], required: ["size"])
            settings.heldoutSize = try int(heldout["size"]!, "heldout.size", min: 1, max: 10_000_000)
        }
        if let node = top["learning"] { settings.learning = try bool(node, "learning") }
        if let node = top["gate"] { settings.gate = try choice(node, "gate", Gate.self) }
        if let node = top["alpha"] { settings.alpha = try double(node, "alpha", range: 0...1, exclusive: true) }
        if let node = top["max_error_rate"] { settings.maxErrorRate = try double(node, "max_error_rate", range: 0...1) }
        if let node = top["data_policy"] { settings.dataPolicy = try choice(node, "data_policy", DataPolicy.self) }
        if let node = top["decontamination"] {
            let section = try mapping(node, "decontamination", allowed: ["ngram"])
            if let ngram = section["ngram"] {
                settings.contaminationNGram = try int(ngram, "decontamination.ngram", min: 1, max: 1000)
            }
        }
        if let node = top["difficulty"] { settings.difficulty = try int(node, "difficulty", min: 0, max: 1000) }
        if let node = top["curriculum"] { settings.curriculum = try curriculum(node) }
        if let node = top["store"] { config.store = try string(node, "store") }
        if let node = top["error_control"] { settings.errorControl = try errorControl(node) }
        if let node = top["reject_shortcuts"] { settings.rejectShortcuts = try bool(node, "reject_shortcuts") }
        if let node = top["plateau"] { settings.plateau = try int(node, "plateau", min: 1, max: 10_000) }
        if let node = top["audit"] {
            let audit = try mapping(node, "audit", allowed: ["checker", "fraction"], required: ["checker"])
            config.auditor = try checker(audit["checker"]!, key: "audit.checker")
            settings.auditFraction =
                try audit["fraction"].map { try double($0, "audit.fraction", range: 0...1, exclusive: false) } ?? 0.1
        }
        if let node = top["prices"] {
            let prices = try mapping(node, "prices", allowed: ["prompt", "completion"])
            config.prices = Prices(
                prompt: try prices["prompt"].map { try double($0, "prices.prompt", range: 0...1e9) } ?? 0,
                completion: try prices["completion"].map { try double($0, "prices.completion", range: 0...1e9) } ?? 0)
        }
        config.settings = settings
        return config
    }

    /// `{temperature: T, rationalize: BOOL, learn_rationalized: BOOL}`, each optional.
    private func exploration(_ node: Node) throws -> Exploration {
        let section = try mapping(node, "exploration", allowed: ["temperature", "rationalize", "learn_rationalized"])
        var exploration = Exploration()
        exploration.temperature = try section["temperature"].map {
            try double($0, "exploration.temperature", range: 0...2)
        }
        if let value = section["rationalize"] { exploration.rationalize = try bool(value, "exploration.rationalize") }
        if let value = section["learn_rationalized"] {
            exploration.learnRationalized = try bool(value, "exploration.learn_rationalized")
        }
        return exploration
    }

    /// `per-round`, `spending` (over the default horizon) or `{spending: HORIZON}`.
    private func errorControl(_ node: Node) throws -> ErrorControl {
        let expected = "`per-round`, `spending` or `{spending: HORIZON}` (rounds)"
        switch node.string {
        case "per-round": return .perRound
        case "spending": return .default
        case .some: throw fail(node, "error_control", expected)
        case nil:
            guard case .mapping = node else { throw fail(node, "error_control", expected) }
            let section = try mapping(node, "error_control", allowed: ["spending"], required: ["spending"])
            return .spending(horizon: try int(section["spending"]!, "error_control.spending", min: 1, max: 100_000))
        }
    }

    private func name(_ node: Node) throws -> String {
        let value = try string(node, "name")
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-_."))
        guard value.unicodeScalars.allSatisfy(allowed.contains), !value.hasPrefix(".") else {
            throw fail(node, "name", "letters, digits, `-`, `_` and `.` (it names the store file)")
        }
        return value
    }

    // MARK: Plugins

    /// Keys every `command:` plugin takes.
    private static let commandKeys: Set<String> = [
        "command", "workers", "timeout", "startup_timeout", "max_response_bytes", "retries",
    ]
    /// Keys only some kinds of solver take, and the kind each belongs to (for the error message).
    private static let solverKeys: [String: String] = [
        "budget": "a `builtin: listfn` solver", "examples": "a `command:` or `openai:` solver",
        "train": "an `openai:` solver (external solvers train themselves)", "train_timeout": "an `openai:` solver",
        "retries": "a `command:` or `openai:` plugin", "backoff": "an `openai:` solver",
        "startup_timeout": "a `command:` plugin", "max_response_bytes": "a `command:` plugin",
        "workers": "a `command:` or `openai:` plugin", "timeout": "a `command:` or `openai:` plugin",
    ]

    /// Fails on the first key of `section` outside `allowed`: an option given to a kind of plugin that has no use
    /// for it is an error, never silently ignored.
    private func only(_ section: [String: Node], _ allowed: Set<String>, _ key: String, kind: String) throws {
        for name in section.keys.sorted() where !allowed.contains(name) {
            let owner =
                key != "solver" && Self.commandKeys.contains(name)
                ? "a `command:` \(key)" : Self.solverKeys[name] ?? "another kind of \(key)"
            throw fail(section[name], "\(key).\(name)", "no `\(name)` on \(kind): it applies to \(owner)")
        }
    }

    /// `builtin: NAME` or `command: [PROGRAM, ARG…]` (or, for a solver, `openai: {…}`): exactly one.
    private enum Source {
        case builtin(String, Node)
        case command
        case openai(Node)
    }

    private func source(_ section: [String: Node], _ node: Node, _ key: String) throws -> Source {
        let given = ["builtin", "command", "openai"].filter { section[$0] != nil }
        guard given.count == 1 else {
            throw fail(
                node, key,
                key == "solver"
                    ? "exactly one of `builtin`, `command` or `openai`"
                    : "exactly one of `builtin: NAME` or `command: [PROGRAM, ARG…]`")
        }
        switch given[0] {
        case "builtin": return .builtin(try string(section["builtin"]!, "\(key).builtin"), section["builtin"]!)
        case "command": return .command
        default: return .openai(section["openai"]!)
        }
    }

    private func generator(_ node: Node) throws -> PipelineConfig.GeneratorSpec {
        let section = try mapping(node, "generator", allowed: Self.commandKeys.union(["builtin", "openai"]))
        switch try source(section, node, "generator") {
        case .builtin(let name, let nameNode):
            guard name == "listfn" else { throw fail(nameNode, "generator.builtin", "a built-in generator: `listfn`") }
            try only(section, ["builtin"], "generator", kind: "a `builtin:` generator")
            return .listfn
        case .command:
            return .external(try command(section, "generator"))
        case .openai:
            throw fail(node, "generator", "`builtin:` or `command:`")
        }
    }

    private func solver(_ node: Node) throws -> PipelineConfig.SolverSpec {
        let section = try mapping(
            node, "solver", allowed: Self.commandKeys.union(Self.solverKeys.keys).union(["builtin", "openai"]))
        switch try source(section, node, "solver") {
        case .builtin(let name, let nameNode):
            guard name == "listfn" else { throw fail(nameNode, "solver.builtin", "a built-in solver: `listfn`") }
            try only(section, ["builtin", "budget"], "solver", kind: "a `builtin:` solver")
            return .listfn(budget: try section["budget"].map { try int($0, "solver.budget", min: 1, max: 1_000_000_000) } ?? 20_000)
        case .command:
            try only(section, Self.commandKeys.union(["examples"]), "solver", kind: "a `command:` solver")
            return .external(try command(section, "solver"), examples: try examples(section) ?? 4)
        case .openai(let openai):
            try only(
                section, ["openai", "examples", "workers", "timeout", "retries", "backoff", "train", "train_timeout"],
                "solver", kind: "an `openai:` solver")
            var config = try openAI(openai, section)
            config.examples = try examples(section) ?? config.examples
            if let train = section["train"] {
                var command = TrainCommand(argv: try argv(train, "solver.train"), directory: directory)
                if let value = section["train_timeout"] {
                    command.timeout = try double(value, "solver.train_timeout", range: 0...1_000_000, exclusive: true)
                }
                config.train = command
            } else if let value = section["train_timeout"] {
                throw fail(value, "solver.train_timeout", "a `train` command to apply to")
            }
            return .openai(config)
        }
    }

    private func examples(_ section: [String: Node]) throws -> Int? {
        try section["examples"].map { try int($0, "solver.examples", min: 0, max: 1000) }
    }

    private func checker(_ node: Node, key: String = "checker") throws -> PipelineConfig.CheckerSpec {
        let section = try mapping(node, key, allowed: Self.commandKeys.union(["builtin", "openai"]))
        switch try source(section, node, key) {
        case .builtin(_, let nameNode):
            throw fail(nameNode, "\(key).builtin", "no built-in checker: use `command:` (the checker is a program)")
        case .command:
            return .external(try command(section, key))
        case .openai:
            throw fail(node, key, "`command:` (an OpenAI-compatible endpoint can only be a solver)")
        }
    }

    private func command(_ section: [String: Node], _ key: String) throws -> ExternalCommand {
        var command = ExternalCommand(argv: try argv(section["command"]!, "\(key).command"), directory: directory)
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
        if let value = section["retries"] { command.retries = try int(value, "\(key).retries", min: 0, max: 100) }
        return command
    }

    /// A program and its arguments, run without a shell; a program named with a slash must exist relative to the
    /// file, one named without must be on PATH (where it will be looked for), and scripts given as arguments must
    /// exist.
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
        } else if Self.onPath(argv[0], from: directory) == nil {
            let line = node.mark.map { ":\($0.line)" } ?? ""
            throw FlywheelError(
                .invalidPipeline,
                "\(path)\(line): `\(key)`: no program `\(argv[0])` on PATH; install it, or name it with a path "
                    + "(relative to the pipeline file's folder)")
        }
        for argument in argv.dropFirst() where argument.hasSuffix(".py") || argument.hasSuffix(".sh") {
            let script = URL(fileURLWithPath: argument, relativeTo: base).path
            guard FileManager.default.fileExists(atPath: script) else {
                throw missing("no such script", argument, at: script)
            }
        }
        return argv
    }

    /// Where `program` (a name without a slash) is found on PATH, as `posix_spawnp` will look for it from a child
    /// started in `directory`.
    static func onPath(
        _ program: String, from directory: String, path: String? = ProcessInfo.processInfo.environment["PATH"]
    ) -> String? {
        // An unset PATH means the system default, as for execvp.
        let folders = (path ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":", omittingEmptySubsequences: false)
        for folder in folders {
            // An empty entry is the current folder; relative entries are relative to where the child starts.
            let base = URL(fileURLWithPath: directory + "/")
            let candidate = URL(fileURLWithPath: folder.isEmpty ? "." : String(folder), relativeTo: base)
                .appendingPathComponent(program).path
            var isFolder: ObjCBool = false
            if FileManager.default.fileExists(atPath: candidate, isDirectory: &isFolder), !isFolder.boolValue,
                FileManager.default.isExecutableFile(atPath: candidate)
            {
                return candidate
            }
        }
        return nil
    }

    private func openAI(_ node: Node, _ section: [String: Node]) throws -> OpenAIConfig {
        let fields = try mapping(
            node, "solver.openai",
            allowed: [
                "base_url", "base_url_env", "model", "api_key_env", "temperature", "max_tokens", "system", "template",
                "hint_template", "extract", "extra_body", "learn", "weights",
            ], required: ["model"])
        let learn = try fields["learn"].map { try choice($0, "solver.openai.learn", LearningMode.self) } ?? .retrieval
        try checkEndpoint(node, fields, learn: learn, train: section["train"])
        var config = OpenAIConfig(
            baseURL: try fields["base_url"].map { try string($0, "solver.openai.base_url") } ?? "",
            model: try string(fields["model"]!, "solver.openai.model"))
        if let value = fields["base_url"], URL(string: config.baseURL)?.scheme?.hasPrefix("http") != true {
            throw fail(value, "solver.openai.base_url", "an http(s) URL")
        }
        config.learn = learn
        config.weights = try weights(fields["weights"], learn: learn)
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
        if let value = fields["hint_template"] {
            config.hintTemplate = try string(value, "solver.openai.hint_template")
            guard config.hintTemplate.contains("{hint}") else {
                throw fail(value, "solver.openai.hint_template", "a template containing {hint}")
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

    private func curriculum(_ node: Node) throws -> Curriculum {
        let section = try mapping(node, "curriculum", allowed: ["band", "step", "min", "max"], required: ["band"])
        let bandNode = section["band"]!
        guard case .sequence(let band) = bandNode, band.count == 2 else {
            throw fail(bandNode, "curriculum.band", "a list of two acceptance rates [LOW, HIGH]")
        }
        let low = try double(band[0], "curriculum.band", range: 0...1)
        let high = try double(band[1], "curriculum.band", range: 0...1)
        guard low < high else { throw fail(bandNode, "curriculum.band", "LOW below HIGH") }
        var curriculum = Curriculum(low: low, high: high)
        if let value = section["step"] { curriculum.step = try int(value, "curriculum.step", min: 1, max: 1000) }
        if let value = section["min"] { curriculum.minimum = try int(value, "curriculum.min", min: 0, max: 1000) }
        if let value = section["max"] { curriculum.maximum = try int(value, "curriculum.max", min: 0, max: 1000) }
        guard curriculum.minimum <= curriculum.maximum else {
            throw fail(section["max"], "curriculum.max", "a value ≥ curriculum.min")
        }
        return curriculum
    }
}
