import ArgumentParser
import FlywheelCore
import Foundation

/// `--out FILE`, written atomically; a relative path is taken from the current folder.
struct OutputOptions: ParsableArguments {
    @Option(help: "The file to write (atomically: it appears whole or not at all).")
    var out: String

    var path: String { URL(fileURLWithPath: out).standardizedFileURL.path }
}

extension ReportFormat: ExpressibleByArgument {}
extension ExportFormat: ExpressibleByArgument {}

struct Report: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the quality report: HTML (self-contained), Markdown or JSON.",
        discussion: """
            Per round: held-out score with its 95% interval, the paired verdict against the last promoted round, \
            the gate's decision, acceptance and error rates, duplicates and contamination dropped, difficulty, \
            stage times, throughput, tokens, storage, and samples of accepted and rejected answers. \
            A round still running is included and marked. See docs/reports.md.
            """)

    @OptionGroup var options: PipelineOptions
    @OptionGroup var output: OutputOptions

    @Option(help: "html, md or json (default: from --out's extension, else html).")
    var format: ReportFormat?

    @Option(help: "Accepted and rejected answers shown per round (each).")
    var samples: Int = 5

    func validate() throws {
        if samples < 0 { throw ValidationError("--samples cannot be negative") }
    }

    func run() async throws {
        let config = try options.load()
        let store = try options.readStore(for: config)
        let path = output.path
        let chosen = format ?? ReportFormat(path: path)
        let report = try QualityReport.build(
            pipeline: config.name, store: store, settings: config.settings, prices: config.prices, samples: samples)
        try ReportFile.write(try report.rendered(chosen), to: path)
        print("wrote \(chosen.rawValue) report of \(report.rounds.count) rounds to \(path)")
    }
}

struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export accepted examples of promoted rounds as JSONL for fine-tuning, with lineage.",
        discussion: """
            Never exports rejected, running or failed rounds, or held-out items. Prompt and answer are written \
            exactly as stored. See docs/reports.md for the formats.
            """)

    @OptionGroup var options: PipelineOptions
    @OptionGroup var output: OutputOptions

    @Option(help: "Rounds to export, e.g. 1,2,5 (default: every promoted round); each must be promoted.")
    var rounds: String?

    @Option(help: "chat (messages) or prompt-completion.")
    var format: ExportFormat = .chat

    @Flag(help: "Leave out examples the solver answered after being shown the answer (exploration.rationalize).")
    var excludeRationalized = false

    func parsedRounds() throws -> [Int]? {
        guard let rounds else { return nil }
        let parts = rounds.split(separator: ",", omittingEmptySubsequences: false).map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        let numbers = parts.compactMap { Int($0) }
        guard numbers.count == parts.count, !numbers.isEmpty, numbers.allSatisfy({ $0 >= 0 }) else {
            throw ValidationError("--rounds takes round numbers separated by commas, e.g. 1,2,5, not \(rounds)")
        }
        return numbers
    }

    func validate() throws {
        _ = try parsedRounds()
    }

    func run() async throws {
        let store = try options.readStore(for: try options.load())
        let path = output.path
        let summary = try ExampleExporter.export(
            store: store, to: path, rounds: try parsedRounds(), format: format, rationalized: !excludeRationalized)
        let rounds =
            summary.rounds.isEmpty
            ? "no promoted rounds" : "rounds " + summary.rounds.map(String.init).joined(separator: ",")
        print("exported \(summary.examples) examples (\(rounds)) to \(path)")
    }
}
