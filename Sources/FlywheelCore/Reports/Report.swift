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
    /// Guarantees across rounds: error spent, power, plateau, shortcuts.
    public var trust: Trust

    public struct Trust: Codable, Sendable, Equatable {
        /// The pipeline's family-wise level for false "improved" verdicts, and the policy sharing it out.
        public var alpha: Double
        public var errorControl: ErrorControl
        /// Spent by the committed rounds so far.
        public var alphaSpent: Double
        public var plateau: Plateau
        /// Rounds whose "improved" verdict is flagged as a suspected shortcut.
        public var suspectedShortcuts: [Int]
        /// Set when the last round's minimum detectable effect exceeds the gains rounds have been making.
        public var powerWarning: String?
        /// Rounds judged by a different checker (fingerprint) than the round before them.
        public var checkerChanges: [Int]
    }

    /// A committed round's error control, power, shortcut check and cost.
    public struct RoundTrust: Codable, Sendable, Equatable {
        /// The level its "improved" verdict had to reach.
        public var alpha: Double?
        public var measures: TrustMeasures
        public var cost: RoundCost
    }

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
        /// Nil until the round commits.
        public var trust: RoundTrust?
        /// The checker audit of the round's training verdicts (nil when none was audited).
        public var audit: AuditSummary?
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
    ///   - settings: the pipeline's settings (its α, error control and plateau rule, for the trust section).
    ///   - prices: what tokens cost, for the money columns.
    public static func build(
        pipeline: String, store: Store, settings: RoundSettings = RoundSettings(), prices: Prices? = nil,
        samples: Int = 5, generatedAt: Date = Date()
    ) throws -> QualityReport {
        var rounds: [Round] = []
        var cumulative = 0
        var cumulativePromoted = 0
        let records = try store.rounds()
        for record in records {
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
                    vsPrevious: summary?.vsPrevious, counts: counts,
                    // Control rounds recorded before learning-off counted 0 still show that nothing was learned.
                    learnedFrom: summary.map { record.learning ? $0.learnedFrom : 0 },
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
                        rejected: try store.sampleRejected(round: record.round, limit: samples)),
                    trust: summary.map { summary in
                        RoundTrust(
                            alpha: summary.vsPrevious?.alpha, measures: summary.trust,
                            cost: RoundCost(summary, prices: prices))
                    },
                    audit: try store.audits(round: record.round).nonEmpty.map(AuditSummary.init)))
        }
        return QualityReport(
            pipeline: pipeline, generatedAt: generatedAt.formatted(.iso8601),
            heldoutItems: try store.heldoutItems().filter { $0.status == .kept }.count, rounds: rounds,
            trust: trust(records, settings: settings, checkers: try records.map { try store.checkerFingerprints(round: $0.round).last }))
    }

    private static func trust(_ records: [RoundRecord], settings: RoundSettings, checkers: [CheckerFingerprint?]) -> Trust {
        let known = zip(records, checkers).compactMap { record, checker in checker.map { (record.round, $0) } }
        let changes = zip(known, known.dropFirst()).compactMap { $0.1 != $1.1 ? $1.0 : nil }
        let summaries = records.compactMap { $0.state.isCommitted ? $0.summary : nil }
        let gains = summaries.compactMap { $0.vsPrevious?.meanDifference }.filter { $0 > 0 }
        var warning: String?
        if let mde = summaries.last?.trust.mde, !gains.isEmpty {
            let typical = gains.reduce(0, +) / Double(gains.count)
            if mde > typical {
                warning = String(
                    format: "The held-out set is too small to detect the gains this pipeline makes: the last round's "
                        + "test detects gains of %.3f or more with 80%% power, rounds have gained %.3f on average. "
                        + "Enlarge heldout.size.", mde, typical)
            }
        }
        return Trust(
            alpha: settings.alpha, errorControl: settings.errorControl,
            alphaSpent: summaries.compactMap(\.vsPrevious?.alpha).reduce(0, +),
            plateau: Plateau(rounds: records, limit: settings.plateau),
            suspectedShortcuts: summaries.filter { $0.trust.suspectedShortcut == true }.map(\.round), powerWarning: warning,
            checkerChanges: changes)
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

extension Array {
    /// Nil when empty.
    var nonEmpty: Self? { isEmpty ? nil : self }
}
