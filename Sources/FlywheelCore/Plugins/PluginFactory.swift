import Foundation

extension Plugins {
    /// The one place a pipeline file becomes plugins: it picks each stage's implementation and resolves what the
    /// environment supplies (an endpoint's base URL named by `base_url_env`, the llama.cpp programs and model of
    /// weight-level learning).
    /// - Parameter environment: the process environment, or a test's.
    /// - Throws: `FlywheelError(.usage)` when a variable the pipeline names is not set.
    public init(
        _ config: PipelineConfig, environment: [String: String] = ProcessInfo.processInfo.environment, log: EventLog
    ) throws {
        let generator: any Generator =
            switch config.generator {
            case .listfn: ListFnTaskGenerator()
            case .external(let command): ExternalGenerator(command: command, log: log)
            }
        let solver: any Solver
        switch config.solver {
        case .listfn(let budget):
            solver = ListFnProgramSolver(budget: budget)
        case .external(let command, let examples):
            solver = ExternalSolver(command: command, exampleCount: examples, log: log)
        case .openai(var settings):
            if let variable = settings.baseURLEnvironment {
                guard let value = environment[variable], !value.isEmpty else {
                    throw FlywheelError(
                        .usage, "\(config.file): `solver.openai.base_url_env` names \(variable), which is not set; "
                            + "export it with the server's base URL (e.g. http://127.0.0.1:8080)")
                }
                settings.baseURL = value
            }
            let trainer =
                settings.learn == .retrieval
                ? nil
                : try WeightTrainer(settings.weights, slots: settings.concurrency, environment: environment, log: log)
            solver = OpenAISolver(config: settings, log: log, trainer: trainer)
        }
        self.init(
            generator: generator, solver: solver, checker: Self.checker(config.checker, log: log),
            auditor: config.auditor.map { Self.checker($0, log: log) })
    }

    /// The pipeline's checker alone, for commands that only check (`reverify`).
    public static func checker(_ config: PipelineConfig, log: EventLog) -> any Checker {
        checker(config.checker, log: log)
    }

    static func checker(_ spec: PipelineConfig.CheckerSpec, log: EventLog) -> any Checker {
        switch spec {
        case .external(let command): ExternalChecker(command: command, log: log)
        }
    }
}
