import Foundation
import GRDB

// While a round is open its held-out results are rows of `heldout_results`, written one by one and deleted by
// `discardErrors`. Since `v10: held-out packs` the round's commit moves them into one zstd frame per round in
// `heldout_packs` (`HeldoutPackCodec`): 400 rows of some 30 bytes each cost more in b-tree structure than in content.
// Every reader goes through `storedHeldoutResults(_:round:)`, which reads whichever form the round has.

extension Store {
    /// Every column of a round's held-out results, by index: the rows of an open round, the pack of a committed one.
    /// - Throws: `FlywheelError(.corruptStore)` naming the round when its pack does not decode.
    public func storedHeldoutResults(round: Int) throws -> [StoredHeldoutResult] {
        try read { db in try storedHeldoutResults(db, round: round) }
    }

    /// A round's held-out results as the engine compares them.
    /// - Throws: `FlywheelError(.corruptStore)` naming the result when a stored value cannot be read back.
    public func heldoutResults(round: Int) throws -> [HeldoutResult] {
        try storedHeldoutResults(round: round).map { stored in
            let id = "\(round)/\(stored.index)"
            let failure = try stored.errorKind.map { raw in
                guard let kind = PluginFailure.Kind(rawValue: raw) else {
                    throw corrupt(
                        "heldout_results", id, "`error_kind` holds \"\(raw)\", not one of "
                            + PluginFailure.Kind.allCases.map { "`\($0.rawValue)`" }.joined(separator: ", "))
                }
                return PluginFailure(kind, stored.error ?? "")
            }
            let usage: JSONValue?
            do {
                usage = try stored.usage.map(JSONValue.parse)
            } catch {
                throw corrupt("heldout_results", id, "`usage` is not JSON (\(error))")
            }
            return HeldoutResult(
                index: stored.index, answer: stored.answer,
                outcome: failure.map { .failure($0) }
                    ?? .success(Judgement(accept: stored.accept, score: stored.score, reason: stored.reason)),
                usage: usage)
        }
    }

    /// The one reader of held-out results: `round`'s pack when it has one, else its rows.
    /// - Parameter answers: whether the results' `answer` and `reason` are wanted. A pack names them by
    ///   `answerID`, each looked up on its own (400 lookups a round); a caller that reads neither passes false and
    ///   may find them nil.
    func storedHeldoutResults(_ db: Database, round: Int, answers: Bool = true) throws -> [StoredHeldoutResult] {
        guard migrations.contains(Schema.heldoutPacks),
            let frame = try Data.fetchOne(
                db, sql: "SELECT results FROM heldout_packs WHERE round = ?", arguments: [round])
        else {
            return try Self.heldoutRows(db, round: round, columns: heldoutColumns, join: heldoutAnswer.join) { row in
                try storedHeldoutResult(row, round: round)
            }
        }
        var results: [StoredHeldoutResult]
        do {
            results = try HeldoutPackCodec.decompress(frame)
        } catch let error as FlywheelError {
            throw corrupt(
                "heldout_packs", round, "round \(round)'s held-out results do not decode (\(error.message))")
        }
        guard answers else { return results }
        let lookup = try db.cachedStatement(
            sql: "SELECT \(Self.text("answer")), \(Self.text("reason")) FROM heldout_answers WHERE id = ?")
        var texts: [Int64: (answer: String?, reason: String?)] = [:]
        for (position, result) in results.enumerated() {
            guard let id = result.answerID else { continue }
            if texts[id] == nil {
                guard let row = try Row.fetchOne(lookup, arguments: [id]) else {
                    throw corrupt(
                        "heldout_packs", round,
                        "held-out item \(result.index) names heldout_answers row \(id), which is missing")
                }
                texts[id] = (
                    try text(row, "answer", table: "heldout_answers", id: id),
                    try text(row, "reason", table: "heldout_answers", id: id)
                )
            }
            (results[position].answer, results[position].reason) = texts[id]!
        }
        return results
    }

    /// The select-list entries a `heldout_results` row `r` is read with in this store's schema (a column a later
    /// migration added reads as NULL), with `heldoutAnswer.join`.
    private var heldoutColumns: String {
        """
        r.idx, r.solver_version, \(column("r.answer_id", addedBy: Schema.compactText)) AS answer_id,
        \(heldoutAnswer.select), r.accept, r.score, r.error_kind, \(Self.text("r.error")),
        \(Self.text(column("r.usage", addedBy: "v2: held-out token usage"), as: "usage")),
        \(column("r.retries", addedBy: "v3: retries")) AS retries,
        \(column("r.checker_id", addedBy: Schema.checkerFingerprints)) AS checker_id
        """
    }

    /// The select-list entries of a `heldout_results` row `r` since `v9` (with `ha`, its `heldout_answers` row);
    /// what packing reads.
    private static let currentHeldoutColumns = """
        r.idx, r.solver_version, r.answer_id, \(text("ha.answer")), \(text("ha.reason")), r.accept, r.score,
        r.error_kind, \(text("r.error")), \(text("r.usage")), r.retries, r.checker_id
        """

    /// A round's `heldout_results` rows `r`, by index, with `columns` and the `join` they read from, transformed.
    private static func heldoutRows<T>(
        _ db: Database, round: Int, columns: String, join: String, _ transform: (Row) throws -> T
    ) throws -> [T] {
        try rows(
            db, sql: "SELECT \(columns) FROM heldout_results r \(join) WHERE r.round = ? ORDER BY r.idx",
            arguments: [round], transform)
    }

    private func storedHeldoutResult(_ row: Row, round: Int) throws -> StoredHeldoutResult {
        try Self.storedHeldoutResult(row) { name in
            try text(row, name, table: "heldout_results", id: "\(round)/\(row["idx"] as Int)")
        }
    }

    /// A row selected with `heldoutColumns` or `currentHeldoutColumns`; `text` reads a free-text column.
    private static func storedHeldoutResult(_ row: Row, text: (String) throws -> String?) throws
        -> StoredHeldoutResult
    {
        StoredHeldoutResult(
            index: row["idx"], solverVersion: row["solver_version"], answerID: row["answer_id"],
            answer: try text("answer"), reason: try text("reason"), accept: row["accept"], score: row["score"],
            errorKind: row["error_kind"], error: try text("error"), usage: try text("usage"),
            retries: row["retries"] ?? 0, checkerID: row["checker_id"])
    }

    /// Moves a committed round's held-out results from their rows into its pack, in the caller's transaction (the
    /// round's commit, or the `v10` migration). A round without results gets no pack.
    /// - Throws: `TaskTextError` naming the result whose text is not UTF-8.
    static func packHeldoutResults(_ db: Database, round: Int) throws {
        let results = try heldoutRows(
            db, round: round, columns: currentHeldoutColumns,
            join: "LEFT JOIN heldout_answers ha ON ha.id = r.answer_id"
        ) { row in
            try storedHeldoutResult(row) { name in
                guard let bytes = row[name] as Data? else { return nil }
                guard let text = String(validating: bytes, as: UTF8.self) else {
                    throw TaskTextError(
                        table: "heldout_results", id: Int64(round),
                        problem: "held-out item \(row["idx"] as Int): `\(name)` is not UTF-8 text")
                }
                return text
            }
        }
        guard !results.isEmpty else { return }
        try db.execute(
            sql: "INSERT INTO heldout_packs(round, results) VALUES (?, ?)",
            arguments: [round, try HeldoutPackCodec.compress(results)])
        try db.execute(sql: "DELETE FROM heldout_results WHERE round = ?", arguments: [round])
    }

    /// Records `from`'s held-out results again as round `to`'s, for a candidate identical to `from`'s version:
    /// the same answers and judgements, with no retries and no token usage, since nothing was asked again.
    /// - Returns: how many results were copied.
    @discardableResult
    public func copyHeldoutResults(from: Int, to round: Int, solverVersion: Int64) throws -> Int {
        try write { db in
            let insert = try db.cachedStatement(
                sql: """
                    INSERT INTO heldout_results(round, idx, solver_version, answer_id, accept, score, error_kind,
                                                error, usage, retries, checker_id)
                    VALUES (?, ?, ?, ?, ?, ?, ?, CAST(? AS TEXT), NULL, 0, ?)
                    """)
            let results = try storedHeldoutResults(db, round: from)
            for result in results {
                try insert.execute(arguments: [
                    round, result.index, solverVersion, result.answerID, result.accept, result.score,
                    result.errorKind, Self.bytes(result.error), result.checkerID,
                ])
            }
            return results.count
        }
    }
}
