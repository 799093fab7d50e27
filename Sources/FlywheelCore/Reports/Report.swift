import Foundation

/// The quality report (SPEC §6): one model read from the store, rendered as JSON (the model itself), Markdown and
/// a self-contained HTML page.
///
/// Committed rounds carry their stored summary; a round still running (or failed and waiting to be resumed) is
/// included with the counts recorded so far and `committed == false`, and has no held-out result yet.
public struct QualityReport: Codable, Sendable, Equatable {
    public var pipeline: String
    /// When the report was made, ISO 8601.
    public var generatedAt: String
    /// Kept items of the frozen held-out set.
    public var heldoutItems: Int
    public var rounds: [Round]

    public struct Round: Codable, Sendable, Equatable {
        public var round: Int
        public var state: RoundState
        /// Promoted or rejected: its numbers are final.
        public var committed: Bool
        public var startedAt: String
        public var finishedAt: String?
        public var difficulty: Int
        public var dataPolicy: DataPolicy
        public var gate: Gate
        public var learning: Bool
        /// The version that solved the round's training tasks (nil for the baseline).
        public var solverVersion: Int64?
        /// The version evaluated on the held-out set and promoted or rejected.
        public var candidateVersion: Int64?
        public var heldout: HeldoutSummary?
        public var heldoutErrors: Int?
        /// The paired comparison with the last promoted round; nil for the baseline and uncommitted rounds.
        public var vsPrevious: PairedComparison?
        public var counts: RoundCounts
        /// Examples learning was given (nil until the round commits).
        public var learnedFrom: Int?
        public var times: Times
        public var tokens: Tokens
        public var storage: Storage
        /// Accepted examples stored in this and every earlier round.
        public var cumulativeAccepted: Int
        /// Accepted examples of promoted rounds up to this one: what `flywheel export` would write.
        public var cumulativePromotedAccepted: Int
        public var samples: Samples
    }

    /// Seconds per stage. Generate, solve and check are summed over items, so with parallel workers they exceed
    /// the wall time; learn and evaluate are wall times of one step each.
    public struct Times: Codable, Sendable, Equatable {
        public var generateSeconds: Double
        public var solveSeconds: Double
        public var checkSeconds: Double
        public var learnSeconds: Double?
        public var evaluateSeconds: Double?
        /// From start to commit, whole seconds; includes any time a resumed round spent stopped.
        public var wallSeconds: Double?
        /// Training tasks (including generator errors) per wall second.
        public var itemsPerSecond: Double?
    }

    public struct Tokens: Codable, Sendable, Equatable {
        public var prompt: Int
        public var completion: Int
    }

    public struct Storage: Codable, Sendable, Equatable {
        public var examples: Int
        /// Bytes of the examples' JSON before compression.
        public var rawBytes: Int
        /// Bytes of their zstd frames.
        public var storedBytes: Int
        public var bytesPerExample: Double?
        /// Raw over stored bytes.
        public var compressionRatio: Double?
        public var dictionaries: [DictionaryUse]
    }

    public struct Samples: Codable, Sendable, Equatable {
        public var accepted: [CheckedAnswer]
        public var rejected: [CheckedAnswer]
    }
}

extension QualityReport {
    /// Reads the report's content from `store`.
    /// - Parameters:
    ///   - samples: accepted and rejected examples shown per round (each), chosen deterministically.
    ///   - generatedAt: the timestamp printed in the report.
    public static func build(pipeline: String, store: Store, samples: Int = 5, generatedAt: Date = Date()) throws
        -> QualityReport
    {
        var rounds: [Round] = []
        var cumulative = 0
        var cumulativePromoted = 0
        for record in try store.rounds() {
            let committed = record.state.isCommitted
            let summary = committed ? record.summary : nil
            let counts = try summary?.counts ?? store.counts(round: record.round)
            cumulative += counts.storedExamples
            if record.state == .promoted { cumulativePromoted += counts.storedExamples }
            rounds.append(
                Round(
                    round: record.round, state: record.state, committed: committed, startedAt: record.startedAt,
                    finishedAt: record.finishedAt, difficulty: record.difficulty, dataPolicy: record.dataPolicy,
                    gate: record.gate, learning: record.learning,
                    solverVersion: summary.map(\.solverVersion) ?? record.solverVersion,
                    candidateVersion: summary?.candidateVersion, heldout: summary?.heldout,
                    heldoutErrors: summary?.heldoutErrors,
                    vsPrevious: summary?.vsPrevious, counts: counts, learnedFrom: summary?.learnedFrom,
                    times: Self.times(record, counts: counts, summary: summary),
                    tokens: Tokens(prompt: counts.promptTokens, completion: counts.completionTokens),
                    storage: Storage(
                        examples: counts.storedExamples, rawBytes: counts.rawBytes, storedBytes: counts.storedBytes,
                        bytesPerExample: counts.storedExamples == 0
                            ? nil : Double(counts.storedBytes) / Double(counts.storedExamples),
                        compressionRatio: counts.storedBytes == 0
                            ? nil : Double(counts.rawBytes) / Double(counts.storedBytes),
                        dictionaries: try store.dictionaryUse(round: record.round)),
                    cumulativeAccepted: cumulative, cumulativePromotedAccepted: cumulativePromoted,
                    samples: Samples(
                        accepted: try store.sampleAccepted(round: record.round, limit: samples),
                        rejected: try store.sampleRejected(round: record.round, limit: samples))))
        }
        return QualityReport(
            pipeline: pipeline, generatedAt: generatedAt.formatted(.iso8601),
            heldoutItems: try store.heldoutItems().filter { $0.status == .kept }.count, rounds: rounds)
    }

    private static func times(_ record: RoundRecord, counts: RoundCounts, summary: RoundSummary?) -> Times {
        var wall: Double?
        if let finished = record.finishedAt, let end = Timestamp.parse(finished),
            let start = Timestamp.parse(record.startedAt)
        {
            wall = max(0, end.timeIntervalSince(start))
        }
        let items = counts.generated + counts.generationErrors
        return Times(
            generateSeconds: counts.generateSeconds, solveSeconds: counts.solveSeconds,
            checkSeconds: counts.checkSeconds, learnSeconds: summary?.learnSeconds,
            evaluateSeconds: summary?.evaluateSeconds, wallSeconds: wall,
            itemsPerSecond: wall.flatMap { $0 > 0 && items > 0 ? Double(items) / $0 : nil })
    }
}

/// The three forms of the report.
public enum ReportFormat: String, Sendable, CaseIterable {
    case html, md, json

    /// The format a file name implies: `.html`/`.htm`, `.md`/`.markdown`, `.json`; anything else is HTML.
    public init(path: String) {
        switch URL(fileURLWithPath: path).pathExtension.lowercased() {
        case "md", "markdown": self = .md
        case "json": self = .json
        default: self = .html
        }
    }
}

extension QualityReport {
    /// The report in `format`, as the bytes of its file.
    public func rendered(_ format: ReportFormat) throws -> Data {
        switch format {
        case .json: try jsonData()
        case .md: Data(markdown().utf8)
        case .html: Data(html().utf8)
        }
    }

    /// Pretty-printed JSON with sorted snake_case keys; ``decode(_:)`` reads it back.
    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        var data = try encoder.encode(self)
        data.append(UInt8(ascii: "\n"))
        return data
    }

    public static func decode(_ data: Data) throws -> QualityReport {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(
            positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        return try decoder.decode(QualityReport.self, from: data)
    }
}
