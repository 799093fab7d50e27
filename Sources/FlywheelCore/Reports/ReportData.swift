import Foundation
import GRDB

/// Where an accepted or rejected answer came from: enough to find it again in the store and to reproduce it.
public struct ExampleLineage: Sendable, Equatable, Codable {
    public var round: Int
    public var taskIndex: Int
    /// The seed the generator was given for the task.
    public var taskSeed: UInt64
    public var attempt: Int
    /// The seed the solver was given for this attempt.
    public var attemptSeed: UInt64
    /// Id of the solver version that produced the answer.
    public var solverVersion: Int64
    /// The checker that judged it, as recorded with the verdict.
    public var checker: String
}

/// One checked answer with its task and the checker's judgement, as the report samples it.
public struct CheckedAnswer: Sendable, Equatable, Codable {
    public var lineage: ExampleLineage
    public var prompt: String
    public var answer: String
    public var accepted: Bool
    public var score: Double
    public var reason: String?
}

/// How one round's accepted examples are stored, per dictionary used.
public struct DictionaryUse: Sendable, Equatable, Codable {
    /// The store's dictionary id; nil for examples compressed without a dictionary.
    public var id: Int64?
    /// The id zstd writes into each frame.
    public var zstdID: Int64?
    public var trainedInRound: Int?
    public var trainingSamples: Int?
    public var examples: Int
    public var rawBytes: Int
    public var storedBytes: Int

    // "zstdId" so that the report's snake_case key strategies turn it into `zstd_id` and back.
    enum CodingKeys: String, CodingKey {
        case id
        case zstdID = "zstdId"
        case trainedInRound, trainingSamples, examples, rawBytes, storedBytes
    }
}

extension Store {
    /// Lineage of every accepted example of `round`, by attempt id.
    ///
    /// The join goes through `tasks`, so an example that does not come from a training task is missing here:
    /// callers treat a missing entry as a damaged store.
    public func exampleLineage(round: Int) throws -> [Int64: ExampleLineage] {
        try read { db in
            var lineage: [Int64: ExampleLineage] = [:]
            let rows = try Row.fetchCursor(
                db,
                sql: """
                    SELECT e.attempt_id, t.round, t.idx, t.seed AS task_seed, a.attempt, a.seed AS attempt_seed,
                           a.solver_version, v.checker
                    FROM examples e JOIN attempts a ON a.id = e.attempt_id JOIN tasks t ON t.id = a.task_id
                    JOIN verdicts v ON v.attempt_id = a.id
                    WHERE e.round = ?
                    """, arguments: [round])
            while let row = try rows.next() {
                lineage[row["attempt_id"]] = Self.lineage(row)
            }
            return lineage
        }
    }

    /// Up to `limit` of the round's accepted examples, spread evenly over its tasks in task order, decompressed
    /// from their zstd frames.
    public func sampleAccepted(round: Int, limit: Int) throws -> [CheckedAnswer] {
        let rows = try read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT e.attempt_id, t.round, t.idx, t.seed AS task_seed, a.attempt, a.seed AS attempt_seed,
                           a.solver_version, v.checker, v.score, v.reason
                    FROM examples e JOIN attempts a ON a.id = e.attempt_id JOIN tasks t ON t.id = a.task_id
                    JOIN verdicts v ON v.attempt_id = a.id
                    WHERE e.round = ? ORDER BY t.idx, a.attempt
                    """, arguments: [round])
        }
        let chosen = Self.spread(rows, limit: limit)
        guard !chosen.isEmpty else { return [] }
        let ids = chosen.map { "\($0["attempt_id"] as Int64)" }.joined(separator: ",")
        let examples = Dictionary(
            uniqueKeysWithValues: try exampleRows(where: "e.attempt_id IN (\(ids))").map { ($0.attemptID, $0.example) })
        return chosen.compactMap { row in
            guard let example = examples[row["attempt_id"]] else { return nil }
            return CheckedAnswer(
                lineage: Self.lineage(row), prompt: example.prompt, answer: example.answer, accepted: true,
                score: row["score"], reason: row["reason"])
        }
    }

    /// Up to `limit` of the round's answers the checker judged and turned down (not check errors), spread evenly
    /// over its tasks in task order.
    public func sampleRejected(round: Int, limit: Int) throws -> [CheckedAnswer] {
        try read { db in
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT a.id AS attempt_id, t.round, t.idx, t.seed AS task_seed, a.attempt,
                           a.seed AS attempt_seed, a.solver_version, v.checker, v.score, v.reason, t.prompt, a.answer
                    FROM verdicts v JOIN attempts a ON a.id = v.attempt_id JOIN tasks t ON t.id = a.task_id
                    WHERE t.round = ? AND v.accept = 0 AND v.error_kind IS NULL
                    ORDER BY t.idx, a.attempt
                    """, arguments: [round])
            return Self.spread(rows, limit: limit).map { row in
                CheckedAnswer(
                    lineage: Self.lineage(row), prompt: row["prompt"] ?? "", answer: row["answer"] ?? "",
                    accepted: false, score: row["score"], reason: row["reason"])
            }
        }
    }

    /// The dictionaries a round's examples were compressed with, and their bytes.
    public func dictionaryUse(round: Int) throws -> [DictionaryUse] {
        try read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT e.dictionary_id, d.zstd_id, d.created_round, d.samples, count(*) AS n,
                           sum(e.raw_bytes) AS raw, sum(length(e.payload)) AS stored
                    FROM examples e LEFT JOIN dictionaries d ON d.id = e.dictionary_id
                    WHERE e.round = ? GROUP BY e.dictionary_id ORDER BY e.dictionary_id
                    """, arguments: [round]
            ).map { row in
                DictionaryUse(
                    id: row["dictionary_id"], zstdID: row["zstd_id"], trainedInRound: row["created_round"],
                    trainingSamples: row["samples"], examples: row["n"], rawBytes: row["raw"],
                    storedBytes: row["stored"])
            }
        }
    }

    /// Normalised-prompt hashes of the frozen held-out items.
    public func heldoutPromptHashes() throws -> Set<String> {
        try read { db in
            Set(try String.fetchAll(db, sql: "SELECT prompt_hash FROM heldout_items WHERE prompt_hash IS NOT NULL"))
        }
    }

    private static func lineage(_ row: Row) -> ExampleLineage {
        ExampleLineage(
            round: row["round"], taskIndex: row["idx"], taskSeed: UInt64(bitPattern: row["task_seed"]),
            attempt: row["attempt"], attemptSeed: UInt64(bitPattern: row["attempt_seed"]),
            solverVersion: row["solver_version"], checker: row["checker"])
    }

    /// `limit` items at even steps through `items`, first one included; all of them when there are few.
    static func spread<T>(_ items: [T], limit: Int) -> [T] {
        guard items.count > limit else { return items }
        guard limit > 0 else { return [] }
        return (0..<limit).map { items[$0 * items.count / limit] }
    }
}
