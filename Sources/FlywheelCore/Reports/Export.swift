import Foundation

/// The shape of each exported JSONL line.
public enum ExportFormat: String, Sendable, CaseIterable {
    /// `{"messages":[{"role":"user","content":PROMPT},{"role":"assistant","content":ANSWER}],"lineage":{…}}`
    case chat
    /// `{"prompt":PROMPT,"completion":ANSWER,"lineage":{…}}`
    case promptCompletion = "prompt-completion"
}

/// What an export wrote.
public struct ExportSummary: Sendable, Equatable {
    public var examples: Int
    /// The promoted rounds exported, ascending.
    public var rounds: [Int]
    /// Examples per exported round.
    public var perRound: [Int: Int]
}

/// Writes accepted examples of promoted rounds as JSONL for fine-tuning (SPEC §5), with their lineage.
///
/// Only examples stored from checker-accepted answers of promoted rounds are written: never a rejected, running or
/// failed round's, and never a held-out item (those live in their own table; an example whose prompt is a held-out
/// prompt is treated as a damaged store). Prompt and answer are written exactly as stored.
public enum ExampleExporter {
    /// Exports to `path` atomically: the file appears whole or not at all.
    /// - Parameter rounds: the rounds to export; nil for every promoted round. Each one named must be promoted.
    /// - Parameter rationalized: false leaves out examples answered after the solver was shown the answer.
    /// - Throws: `FlywheelError(.usage)` when a named round is missing or was not promoted;
    ///   `FlywheelError(.corruptStore)` when an example cannot be read or traced to its training task.
    @discardableResult
    public static func export(
        store: Store, to path: String, rounds: [Int]? = nil, format: ExportFormat = .chat, rationalized: Bool = true
    ) throws -> ExportSummary {
        let chosen = try promotedRounds(store: store, requested: rounds)
        let file = try ReportFile(path: path)
        var summary = ExportSummary(examples: 0, rounds: chosen, perRound: [:])
        try forEachLine(store: store, rounds: chosen, format: format, rationalized: rationalized) { round, line in
            try file.write(line)
            summary.examples += 1
            summary.perRound[round, default: 0] += 1
        }
        try file.commit()
        return summary
    }

    /// The JSONL lines of `rounds` (already checked to be promoted), each ending in a newline, in round, task and
    /// attempt order.
    static func forEachLine(
        store: Store, rounds: [Int], format: ExportFormat, rationalized: Bool = true,
        _ body: (Int, Data) throws -> Void
    ) throws {
        let heldout = try store.heldoutPromptHashes()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        for round in rounds {
            let examples = try store.examplesWithLineage(round: round, rationalized: rationalized)
            for (origin, example) in examples {
                guard !heldout.contains(PromptNormalizer.hash(example.prompt)) else {
                    throw FlywheelError(
                        .corruptStore,
                        "the accepted example of round \(round), task \(origin.taskIndex) has a held-out prompt; "
                            + "refusing to export held-out data")
                }
                let line = Line(format: format, example: example, lineage: origin)
                var data = escapeLineSeparators(try encoder.encode(line))
                data.append(UInt8(ascii: "\n"))
                try body(round, data)
            }
        }
    }

    /// `requested` checked against the store, or every promoted round; after a rollback, the promoted rounds on
    /// the lineage of the version it made current (`Store.promotedLineage()`).
    static func promotedRounds(store: Store, requested: [Int]?) throws -> [Int] {
        let lineage = try store.promotedLineage()
        guard let requested else { return lineage }
        let records = try store.rounds()
        let states = Dictionary(uniqueKeysWithValues: records.map { ($0.round, $0.state) })
        let refused = Set(requested).sorted().compactMap { round -> String? in
            guard let state = states[round] else { return "round \(round) does not exist" }
            guard state == .promoted else { return "round \(round) is \(state.rawValue)" }
            return lineage.contains(round) ? nil : "round \(round) was set aside by a rollback"
        }
        guard refused.isEmpty else {
            throw FlywheelError(
                .usage,
                refused.joined(separator: ", ") + "; only promoted rounds are exported (see `flywheel status`)")
        }
        return Set(requested).sorted()
    }

    /// U+0085, U+2028 and U+2029 written as `\u` escapes: valid JSON either way, but line-splitting readers
    /// (Python's `splitlines`, some editors) would break a line at them.
    static func escapeLineSeparators(_ data: Data) -> Data {
        guard data.contains(0xC2) || data.contains(0xE2) else { return data }
        var out = Data()
        out.reserveCapacity(data.count + 12)
        var index = data.startIndex
        while index < data.endIndex {
            let byte = data[index]
            if byte == 0xC2, index + 1 < data.endIndex, data[index + 1] == 0x85 {
                out.append(contentsOf: Array("\\u0085".utf8))
                index += 2
            } else if byte == 0xE2, index + 2 < data.endIndex, data[index + 1] == 0x80,
                data[index + 2] == 0xA8 || data[index + 2] == 0xA9
            {
                out.append(contentsOf: Array((data[index + 2] == 0xA8 ? "\\u2028" : "\\u2029").utf8))
                index += 3
            } else {
                out.append(byte)
                index += 1
            }
        }
        return out
    }

    /// One JSONL line in either format.
    struct Line: Encodable {
        var format: ExportFormat
        var example: StoredExample
        var lineage: ExampleLineage

        enum CodingKeys: String, CodingKey {
            case messages, prompt, completion, lineage
        }

        enum LineageKeys: String, CodingKey {
            case round
            case solverVersion = "solver_version"
            case checker, seeds, attempt
            case taskIndex = "task_index"
            case meta, rationalized
        }

        struct Message: Encodable {
            var role: String
            var content: String
        }

        func encode(to encoder: Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            switch format {
            case .chat:
                try container.encode(
                    [
                        Message(role: "user", content: example.prompt),
                        Message(role: "assistant", content: example.answer),
                    ],
                    forKey: .messages)
            case .promptCompletion:
                try container.encode(example.prompt, forKey: .prompt)
                try container.encode(example.answer, forKey: .completion)
            }
            var nested = container.nestedContainer(keyedBy: LineageKeys.self, forKey: .lineage)
            try nested.encode(lineage.round, forKey: .round)
            try nested.encode(lineage.solverVersion, forKey: .solverVersion)
            try nested.encode(lineage.checker, forKey: .checker)
            try nested.encode(["task": lineage.taskSeed, "attempt": lineage.attemptSeed], forKey: .seeds)
            try nested.encode(lineage.attempt, forKey: .attempt)
            try nested.encode(lineage.taskIndex, forKey: .taskIndex)
            try nested.encode(example.meta ?? .null, forKey: .meta)
            // Only when true: lines of runs without rationalization stay as they were.
            if lineage.rationalized { try nested.encode(true, forKey: .rationalized) }
        }
    }
}
