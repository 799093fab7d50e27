import Foundation

/// A pipeline file, parsed and checked. Defaults are documented where declared; `docs/pipelines.md` lists the keys.
public struct PipelineConfig: Sendable {
    /// Where tasks come from.
    public enum GeneratorSpec: Sendable, Equatable {
        /// The built-in listfn generator (`builtin: listfn`).
        case listfn
        /// A program speaking protocol v1.
        case external(ExternalCommand)
    }

    /// Who answers, with the options that kind of solver takes (an option given to another kind is an error).
    public enum SolverSpec: Sendable, Equatable {
        /// The built-in listfn enumerator; `budget` is the candidate programs it may try per task.
        case listfn(budget: Int)
        /// A program speaking protocol v1, shown `examples` few-shot examples per task.
        case external(ExternalCommand, examples: Int)
        /// An OpenAI-compatible chat-completions endpoint.
        case openai(OpenAIConfig)
    }

    /// Who judges: always an external program, so the checker is independent of the solver.
    public enum CheckerSpec: Sendable, Equatable {
        case external(ExternalCommand)
    }

    /// The name the store and reports use; defaults to the file's base name.
    public var name: String
    /// The pipeline file, absolute.
    public var file: String
    /// Rounds `flywheel run` commits after the baseline when `--rounds` is not given.
    public var rounds: Int = 5
    /// The fingerprint of the checker this file names now (what `Checker.fingerprint` will be).
    public var checkerFingerprint: String {
        switch checker {
        case .external(let command): command.fingerprint
        }
    }

    /// A second checker that judges a sampled share (`RoundSettings.auditFraction`) of the training verdicts again
    /// (`audit: {checker: {command: […]}, fraction: F}`); nil: no audit.
    public var auditor: CheckerSpec?

    /// What tokens cost, for the money column of a round's cost; nil: no money shown.
    public var prices: Prices?
    /// What each round does: sizes, seeds, gate, data policy, curriculum.
    public var settings = RoundSettings()
    public var generator: GeneratorSpec
    public var solver: SolverSpec
    public var checker: CheckerSpec
    /// The store path from the file, relative to it; nil means `.flywheel/<name>.sqlite` under the current folder.
    public var store: String?

    /// The folder of the pipeline file: plugin commands run there.
    public var directory: String { URL(fileURLWithPath: file).deletingLastPathComponent().path }

    public func defaultStorePath(currentDirectory: String = FileManager.default.currentDirectoryPath) -> String {
        if let store { return URL(fileURLWithPath: store, relativeTo: URL(fileURLWithPath: directory + "/")).path }
        return URL(fileURLWithPath: currentDirectory).appendingPathComponent(".flywheel/\(name).sqlite").path
    }
}
