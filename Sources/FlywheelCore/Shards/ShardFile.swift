import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One line of a shard file (JSON Lines): exactly one of the fields is set. The first line is the header; every
/// later line records one finished request, appended as it finishes, so a shard killed at any moment resumes
/// without asking a plugin again for what it already answered.
struct ShardLine: Codable, Sendable {
    struct Header: Codable, Sendable {
        var plan: ShardPlan
        var shard: Int
    }

    /// A generated task (training or held-out).
    struct Generated: Codable, Sendable {
        var index: Int
        var seed: UInt64
        var task: TaskSpec?
        var failure: PluginFailure?
        var seconds: Double
        var retries: Int

        var result: Result<TaskSpec, PluginFailure> {
            if let task { return .success(task) }
            return .failure(failure ?? PluginFailure(.malformed, "the shard file recorded neither task nor failure"))
        }
    }

    struct Solved: Codable, Sendable {
        var index: Int
        var attempt: Int
        var seed: UInt64
        var solution: Solution?
        var failure: PluginFailure?
        var seconds: Double
        var retries: Int

        var result: Result<Solution, PluginFailure> {
            if let solution { return .success(solution) }
            return .failure(failure ?? PluginFailure(.malformed, "the shard file recorded neither answer nor failure"))
        }
    }

    struct Checked: Codable, Sendable {
        var index: Int
        var attempt: Int
        var judgement: Judgement?
        var failure: PluginFailure?
        var checker: String
        var fingerprint: CheckerFingerprint
        var seconds: Double
        var retries: Int

        var result: Result<Judgement, PluginFailure> {
            if let judgement { return .success(judgement) }
            return .failure(failure ?? PluginFailure(.malformed, "the shard file recorded neither verdict nor failure"))
        }
    }

    struct Evaluated: Codable, Sendable {
        var result: HeldoutResult
        var retries: Int
        var fingerprint: CheckerFingerprint?
    }

    var header: Header?
    var generated: Generated?
    var solved: Solved?
    var checked: Checked?
    var evaluated: Evaluated?
}

/// What a shard file holds, read back.
struct ShardContents: Sendable {
    var header: ShardLine.Header
    var generated: [Int: ShardLine.Generated] = [:]
    var solved: [ShardKey: ShardLine.Solved] = [:]
    var checked: [ShardKey: ShardLine.Checked] = [:]
    var evaluated: [Int: ShardLine.Evaluated] = [:]

    init(header: ShardLine.Header) {
        self.header = header
    }

    mutating func add(_ line: ShardLine) {
        if let g = line.generated { generated[g.index] = g }
        if let s = line.solved { solved[ShardKey(index: s.index, attempt: s.attempt)] = s }
        if let c = line.checked { checked[ShardKey(index: c.index, attempt: c.attempt)] = c }
        if let e = line.evaluated { evaluated[e.result.index] = e }
    }

    /// Folds another shard's contents into this one (merge reads every shard into one).
    mutating func absorb(_ other: ShardContents) {
        generated.merge(other.generated) { a, _ in a }
        solved.merge(other.solved) { a, _ in a }
        checked.merge(other.checked) { a, _ in a }
        evaluated.merge(other.evaluated) { a, _ in a }
    }
}

struct ShardKey: Hashable, Sendable {
    var index: Int
    var attempt: Int
}

/// Where a store's shard files live: `<store>.shards/` beside it, one file per shard and phase,
/// `round-R-PHASE-I-of-N.jsonl` once complete and `….jsonl.partial` while the shard runs.
public struct ShardFolder: Sendable {
    public let path: String

    public init(storePath: String) {
        path = storePath + ".shards"
    }

    func prefix(round: Int, phase: ShardPhase) -> String { "round-\(round)-\(phase.rawValue)-" }

    func file(round: Int, phase: ShardPhase, shard: Shard, partial: Bool) -> String {
        path + "/" + prefix(round: round, phase: phase) + "\(shard.index)-of-\(shard.count).jsonl"
            + (partial ? ".partial" : "")
    }

    /// The complete shard files of a round's phase (names only, sorted), and the partial ones.
    func files(round: Int, phase: ShardPhase) -> (complete: [String], partial: [String]) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        let mine = names.filter { $0.hasPrefix(prefix(round: round, phase: phase)) }.sorted()
        return (mine.filter { $0.hasSuffix(".jsonl") }, mine.filter { $0.hasSuffix(".jsonl.partial") })
    }

    /// Deletes every shard file of `round` (after it commits).
    func remove(round: Int) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        for name in names where name.hasPrefix("round-\(round)-") {
            try? FileManager.default.removeItem(atPath: path + "/" + name)
        }
    }

    /// Reads a shard file: its header and every complete line. A torn last line (the shard was killed while
    /// writing it) is ignored; a damaged line elsewhere is an error naming the file and line.
    static func read(_ file: String) throws -> (contents: ShardContents, validBytes: Int) {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw FlywheelError(.runFailed, "cannot read the shard file \(file)")
        }
        let bytes = [UInt8](data)
        var contents: ShardContents?
        var start = 0
        var lineNumber = 0
        var valid = 0
        while start < bytes.count {
            guard let end = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) else { break }
            lineNumber += 1
            let line: ShardLine
            do {
                line = try JSON.decoder.decode(ShardLine.self, from: Data(bytes[start..<end]))
            } catch {
                throw FlywheelError(
                    .runFailed,
                    "the shard file \(file) line \(lineNumber) is damaged (\(error)); delete the file and run that "
                        + "shard again")
            }
            if contents == nil {
                guard let header = line.header else {
                    throw FlywheelError(
                        .runFailed, "the shard file \(file) has no header line; delete it and run that shard again")
                }
                contents = ShardContents(header: header)
            } else {
                contents!.add(line)
            }
            start = end + 1
            valid = start
        }
        guard let contents else {
            throw FlywheelError(.runFailed, "the shard file \(file) is empty; delete it and run that shard again")
        }
        return (contents, valid)
    }
}

/// Appends lines to a shard file, one `write` per line (O_APPEND), from any task.
final class ShardWriter: Sendable {
    private let descriptor: Int32
    let file: String

    /// Opens `file` for appending, first cutting off a torn last line at `validBytes`.
    init(file: String, validBytes: Int?) throws {
        let descriptor = open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw FlywheelError(
                .runFailed, "cannot write the shard file \(file): \(String(cString: strerror(errno)))")
        }
        if let validBytes { _ = ftruncate(descriptor, off_t(validBytes)) }
        self.descriptor = descriptor
        self.file = file
    }

    deinit { close(descriptor) }

    func append(_ line: ShardLine) throws {
        var data = try JSON.encoder.encode(line)
        data.append(UInt8(ascii: "\n"))
        let written = data.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        guard written == data.count else {
            throw FlywheelError(
                .runFailed, "writing the shard file \(file) failed: \(String(cString: strerror(errno)))")
        }
    }

    /// Flushes the file to disk and gives it its complete name: merge folds only complete files.
    func complete(as final: String) throws {
        guard fsync(descriptor) == 0, rename(file, final) == 0 else {
            throw FlywheelError(
                .runFailed, "cannot complete the shard file \(final): \(String(cString: strerror(errno)))")
        }
    }
}
