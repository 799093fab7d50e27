import Foundation

/// A pipeline file, parsed and checked. Defaults are documented where declared; `docs/pipelines.md` lists the keys.
public struct PipelineConfig: Sendable {
    public enum Gate: String, Sendable, CaseIterable {
        /// Promote every candidate.
        case always
        /// Promote unless the paired test says the candidate regressed (the default).
        case noRegression = "no-regression"
        /// Promote only a significant improvement.
        case mustImprove = "must-improve"
    }

    public enum DataPolicy: String, Sendable, CaseIterable {
        /// Learning sees this round's accepted data plus every promoted round's (the default: replacing drives
        /// model collapse).
        case accumulate
        /// Learning sees only this round's accepted data.
        case replace
    }

    public enum Plugin: Sendable, Equatable {
        /// A plugin compiled into Flywheel, by name (`listfn`).
        case builtin(String)
        /// A program speaking protocol v1.
        case external(ExternalCommand)
        /// An OpenAI-compatible chat-completions endpoint (solvers only).
        case openai(OpenAIConfig)
    }

    public struct Curriculum: Sendable, Equatable {
        /// Acceptance rate band to keep the training rounds in.
        public var low: Double
        public var high: Double
        /// Difficulty change per round when outside the band.
        public var step: Int = 1
        public var minimum: Int = 1
        public var maximum: Int = 10
    }

    /// The name the store and reports use; defaults to the file's base name.
    public var name: String
    /// The pipeline file, absolute.
    public var file: String
    /// Derives every seed in the run.
    public var seed: UInt64 = 0
    /// Rounds `flywheel run` commits after the baseline when `--rounds` is not given.
    public var rounds: Int = 5
    /// Training tasks generated per round.
    public var roundSize: Int = 100
    /// Solver attempts per training task.
    public var attempts: Int = 1
    /// Items in flight at once; each stage's own limit is its worker count.
    public var parallelism: Int = 4
    /// Held-out items generated at round 0 and frozen.
    public var heldoutSize: Int = 100
    public var generator: Plugin
    public var solver: Plugin
    public var checker: Plugin
    /// Few-shot examples an external solver version carries.
    public var solverExamples: Int = 4
    /// The solver's optional fine-tuning command (OpenAI-compatible solvers).
    public var solverTrain: TrainCommand?
    /// Candidate programs the built-in listfn solver may try per task.
    public var solverBudget: Int = 20_000
    /// With `false` the candidate is the promoted version unchanged: the control run.
    public var learning: Bool = true
    public var gate: Gate = .noRegression
    /// Significance level of the paired test.
    public var alpha: Double = 0.05
    public var dataPolicy: DataPolicy = .accumulate
    /// Token n-gram length that marks a training task as overlapping the held-out set.
    public var contaminationNGram: Int = 13
    /// Difficulty of round 1 (and every round without a curriculum).
    public var difficulty: Int = 1
    public var curriculum: Curriculum?
    /// The store path from the file, relative to it; nil means `.flywheel/<name>.sqlite` under the current folder.
    public var store: String?

    /// The folder of the pipeline file: plugin commands run there.
    public var directory: String { URL(fileURLWithPath: file).deletingLastPathComponent().path }

    public func defaultStorePath(currentDirectory: String = FileManager.default.currentDirectoryPath) -> String {
        if let store { return URL(fileURLWithPath: store, relativeTo: URL(fileURLWithPath: directory + "/")).path }
        return URL(fileURLWithPath: currentDirectory).appendingPathComponent(".flywheel/\(name).sqlite").path
    }
}
