import Yams

/// `solver.openai.learn` and `solver.openai.weights`.
extension PipelineReader {
    /// With retrieval alone one server answers for every version: exactly one of `base_url` or `base_url_env`.
    /// With learned weights the solver serves each version itself, so neither is allowed, nor a `train` command.
    func checkEndpoint(_ node: Node, _ fields: [String: Node], learn: LearningMode, train: Node?) throws {
        let given = fields["base_url"] ?? fields["base_url_env"]
        switch learn {
        case .retrieval:
            guard (fields["base_url"] == nil) != (fields["base_url_env"] == nil) else {
                throw fail(node, "solver.openai", "exactly one of `base_url` or `base_url_env`")
            }
            if let weights = fields["weights"] {
                throw fail(weights, "solver.openai.weights", "`learn: weights` or `learn: both` to apply to")
            }
        case .weights, .both:
            if let given {
                throw fail(
                    given, "solver.openai",
                    "no `base_url` or `base_url_env` with `learn: \(learn.rawValue)` "
                        + "(the solver starts a llama-server for each version's weights)")
            }
            if let train {
                throw fail(
                    train, "solver.train",
                    "no `train` command with `learn: \(learn.rawValue)` "
                        + "(weights are learned by llama-finetune)")
            }
        }
    }

    /// The `weights:` mapping; every key is optional.
    func weights(_ node: Node?, learn: LearningMode) throws -> WeightsConfig {
        var config = WeightsConfig()
        guard let node else { return config }
        let key = "solver.openai.weights"
        let locations: [(String, WritableKeyPath<WeightsConfig, WeightsConfig.Location>)] = [
            ("server", \.server), ("model", \.model), ("finetune", \.finetune), ("quantize", \.quantize),
        ]
        let fields = try mapping(
            node, key,
            allowed: Set(locations.flatMap { [$0.0, $0.0 + "_env"] }).union([
                "epochs", "learning_rate", "context", "max_examples", "threads", "timeout", "folder",
            ]))
        for (name, path) in locations {
            switch (fields[name], fields[name + "_env"]) {
            case (let value?, nil): config[keyPath: path] = .path(try string(value, "\(key).\(name)"))
            case (nil, let value?): config[keyPath: path] = .environment(try string(value, "\(key).\(name)_env"))
            case (nil, nil): break
            case (let value?, _?): throw fail(value, "\(key).\(name)", "one of `\(name)` or `\(name)_env`, not both")
            }
        }
        if let value = fields["epochs"] { config.epochs = try int(value, "\(key).epochs", min: 1, max: 100) }
        if let value = fields["learning_rate"] {
            config.learningRate = try double(value, "\(key).learning_rate", range: 0...1, exclusive: true)
        }
        if let value = fields["context"] { config.context = try int(value, "\(key).context", min: 256, max: 8192) }
        if let value = fields["max_examples"] {
            config.maxExamples = try int(value, "\(key).max_examples", min: 1, max: 10_000)
        }
        if let value = fields["threads"] { config.threads = try int(value, "\(key).threads", min: 1, max: 256) }
        if let value = fields["timeout"] {
            config.timeout = try double(value, "\(key).timeout", range: 0...1_000_000, exclusive: true)
        }
        if let value = fields["folder"] {
            let folder = try string(value, "\(key).folder")
            config.folder = folder.hasPrefix("/") ? folder : directory + "/" + folder
        }
        return config
    }
}
