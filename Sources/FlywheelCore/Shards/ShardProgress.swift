import Foundation

/// A sharded round in progress, as `status` shows it: the phase its shards do now, and which shards of that
/// phase have finished (complete files), are running or were killed (partial files), or have not started.
public struct ShardProgress: Encodable, Sendable, Equatable {
    public var round: Int
    public var phase: ShardPhase
    /// The shard count the files name; nil while only partial files exist and they disagree.
    public var shards: Int?
    public var done: [Int]
    /// Shards with a partial file: running now, or killed (rerun them).
    public var started: [Int]
    public var missing: [Int]

    /// The progress of the current phase of `store`'s round, or nil when no shard file of it exists.
    public static func current(store: Store) throws -> ShardProgress? {
        let (round, phase) = try ShardPhase.current(store: store)
        let folder = ShardFolder(storePath: store.path)
        let (complete, partial) = folder.files(round: round, phase: phase)
        guard !complete.isEmpty || !partial.isEmpty else { return nil }
        // round-R-PHASE-I-of-N.jsonl[.partial]
        func parse(_ name: String) -> (index: Int, count: Int)? {
            let stem = name.replacingOccurrences(of: ".partial", with: "").replacingOccurrences(of: ".jsonl", with: "")
            let parts = stem.split(separator: "-")
            guard parts.count >= 3, parts[parts.count - 2] == "of", let index = Int(parts[parts.count - 3]),
                let count = Int(parts[parts.count - 1])
            else { return nil }
            return (index, count)
        }
        let finished = complete.compactMap(parse)
        let running = partial.compactMap(parse)
        let counts = Set((finished + running).map(\.count))
        let count = counts.count == 1 ? counts.first : nil
        let done = Set(finished.map(\.index))
        let started = Set(running.map(\.index)).subtracting(done)
        let missing = count.map { (0..<$0).filter { !done.contains($0) && !started.contains($0) } } ?? []
        return ShardProgress(
            round: round, phase: phase, shards: count, done: done.sorted(), started: started.sorted(),
            missing: missing)
    }

    /// One line for the status table.
    public var line: String {
        let of = shards.map { " of \($0)" } ?? ""
        var text = "round \(round) sharded, \(phase.rawValue) phase: \(done.count)\(of) shards done"
        if !started.isEmpty { text += ", running or killed: \(Shard.arrayExpression(started))" }
        if !missing.isEmpty { text += ", not started: \(Shard.arrayExpression(missing))" }
        if let shards, done.count == shards { text += "; ready for `flywheel merge`" }
        return text
    }
}
