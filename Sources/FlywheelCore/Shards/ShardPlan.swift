import Foundation

/// One shard of a round's parallel phase: `index` of `count`, counted from 0 as Slurm array tasks and Kubernetes
/// completion indices are. Shard `index` does the items whose index `i` has `i % count == index`.
public struct Shard: Sendable, Equatable, Hashable, CustomStringConvertible {
    public var index: Int
    public var count: Int

    public init(index: Int, count: Int) throws {
        guard count >= 1, (0..<count).contains(index) else {
            throw FlywheelError(
                .usage, "shard \(index)/\(count) does not exist: shards are I/N with N ≥ 1 and 0 ≤ I < N")
        }
        self.index = index
        self.count = count
    }

    public var description: String { "\(index)/\(count)" }

    /// Whether item `item` is this shard's.
    public func owns(_ item: Int) -> Bool { item % count == index }

    /// Parses `I/N`, or `auto`: `SLURM_ARRAY_TASK_ID` (a Slurm array task) or `JOB_COMPLETION_INDEX` (a Kubernetes
    /// Indexed Job) for I, and for N `count` (`--shards`), else `FLYWHEEL_SHARDS`, else `SLURM_ARRAY_TASK_COUNT`.
    ///
    /// The explicit count comes first: an array resubmitted for its missing shards (`--array=2,7`) has a
    /// `SLURM_ARRAY_TASK_COUNT` of 2, not the plan's shard count.
    /// - Throws: `FlywheelError(.usage)` naming what is missing or wrong.
    public static func parse(_ text: String, count given: Int?, environment: [String: String]) throws -> Shard {
        if text == "auto" {
            let index: Int
            let source: String
            if let value = environment["SLURM_ARRAY_TASK_ID"], !value.isEmpty {
                (index, source) = (try number(value, "SLURM_ARRAY_TASK_ID"), "SLURM_ARRAY_TASK_ID")
            } else if let value = environment["JOB_COMPLETION_INDEX"], !value.isEmpty {
                (index, source) = (try number(value, "JOB_COMPLETION_INDEX"), "JOB_COMPLETION_INDEX")
            } else {
                throw FlywheelError(
                    .usage,
                    "--shard auto needs SLURM_ARRAY_TASK_ID (a Slurm array task) or JOB_COMPLETION_INDEX (a "
                        + "Kubernetes Indexed Job); neither is set: pass --shard I/N")
            }
            var count = given
            if count == nil, let value = environment["FLYWHEEL_SHARDS"], !value.isEmpty {
                count = try number(value, "FLYWHEEL_SHARDS")
            }
            if count == nil, source == "SLURM_ARRAY_TASK_ID", let value = environment["SLURM_ARRAY_TASK_COUNT"],
                !value.isEmpty
            {
                count = try number(value, "SLURM_ARRAY_TASK_COUNT")
            }
            guard let count else {
                throw FlywheelError(
                    .usage,
                    "--shard auto read shard \(index) from \(source) but no shard count: pass --shards N or set "
                        + "FLYWHEEL_SHARDS")
            }
            return try Shard(index: index, count: count)
        }
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let index = Int(parts[0]), let count = Int(parts[1]) else {
            throw FlywheelError(.usage, "--shard takes I/N (e.g. 0/4, counted from 0) or auto, not `\(text)`")
        }
        if let given, given != count {
            throw FlywheelError(.usage, "--shard \(text) says \(count) shards but --shards says \(given)")
        }
        return try Shard(index: index, count: count)
    }

    private static func number(_ value: String, _ name: String) throws -> Int {
        guard let number = Int(value.trimmingCharacters(in: .whitespaces)) else {
            throw FlywheelError(.usage, "\(name) is `\(value)`, not a whole number")
        }
        return number
    }

    /// The shards as a Slurm `--array` value: `0-3,7`.
    public static func arrayExpression(_ indices: [Int]) -> String {
        var parts: [String] = []
        var sorted = indices.sorted()[...]
        while let first = sorted.popFirst() {
            var last = first
            while sorted.first == last + 1 { last = sorted.removeFirst() }
            parts.append(last == first ? "\(first)" : last == first + 1 ? "\(first),\(last)" : "\(first)-\(last)")
        }
        return parts.joined(separator: ",")
    }
}

/// Which parallel phase of a round the shards do.
public enum ShardPhase: String, Sendable, Codable, CaseIterable {
    /// Round 0: generating the held-out set (admitted in index order at merge).
    case heldout
    /// A training round: generate, admit, solve, check.
    case train
    /// The held-out evaluation of the round's candidate (round 0: of the initial solver).
    case evaluate
}

/// What every shard of one phase agrees on. `merge` folds only shard files whose plan equals its own.
public struct ShardPlan: Sendable, Codable, Equatable {
    public var pipeline: String
    /// A digest of the pipeline file's bytes.
    public var pipelineHash: String
    public var seed: UInt64
    public var round: Int
    public var phase: ShardPhase
    public var shards: Int
    /// The version that solves: the round's solving version (train) or its candidate (evaluate); nil for heldout.
    public var solverVersion: Int64?
    /// Items in the phase: the round size, the held-out size, or the kept held-out items.
    public var items: Int

    /// The digest of a pipeline file as plans record it.
    public static func pipelineHash(file: String) throws -> String {
        guard let bytes = FileManager.default.contents(atPath: file) else {
            throw FlywheelError(.usage, "cannot read the pipeline file \(file)")
        }
        return StableHash.hex(bytes)
    }

    /// How this plan differs from `other`, for the refusal message.
    func differences(from other: ShardPlan) -> [String] {
        var found: [String] = []
        if pipeline != other.pipeline { found.append("pipeline `\(other.pipeline)` not `\(pipeline)`") }
        if pipelineHash != other.pipelineHash {
            found.append("pipeline file hash \(other.pipelineHash) not \(pipelineHash) (the file changed)")
        }
        if seed != other.seed { found.append("seed \(other.seed) not \(seed)") }
        if round != other.round { found.append("round \(other.round) not \(round)") }
        if phase != other.phase { found.append("phase \(other.phase.rawValue) not \(phase.rawValue)") }
        if shards != other.shards { found.append("\(other.shards) shards not \(shards)") }
        if solverVersion != other.solverVersion {
            found.append(
                "solver version \(other.solverVersion.map(String.init) ?? "none") not \(solverVersion.map(String.init) ?? "none")"
            )
        }
        if items != other.items { found.append("\(other.items) items not \(items)") }
        return found
    }
}
