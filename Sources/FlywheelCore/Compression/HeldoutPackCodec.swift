import Foundation

/// Turns a committed round's held-out results into the one zstd frame `heldout_packs` keeps per round (`v10`) and
/// back; the only place that decides how packed results are encoded.
///
/// The frame holds a format byte (1), the row count, then one column after another, each for every row in index
/// order: `idx`, `solver_version`, `answer_id`, `accept`, `score`, `error_kind`, `error`, `usage`, `retries`,
/// `checker_id`. Integers are LEB128 varints: `idx`, `solver_version` and `retries` of the zigzagged difference
/// from the row before; the nullable ids (`answer_id`, `checker_id`) of the value plus 1, 0 for NULL (the ids of
/// repeated answers jump about: their differences compress worse than they do). A score is the 8 IEEE bytes, most
/// significant first, of its bits XOR those of its accept as 1.0 or 0.0 (most scores are exactly that: all zero),
/// the column laid out byte plane after byte plane. A text column is every row's length (0 for NULL, else bytes
/// plus 1), then every row's UTF-8 bytes. Neighbouring rows mostly repeat one another column by column, which is
/// what zstd finds; a row's answer and reason stay in `heldout_answers`, named by `answer_id`.
enum HeldoutPackCodec {
    /// Written once per round, read by reports: worth the slowest level.
    static let level: Int32 = 19
    static let format: UInt8 = 1

    /// The frame of `rows` (sorted by index by the caller). Their `answer` and `reason` are not kept.
    static func compress(_ rows: [StoredHeldoutResult]) throws -> Data {
        var out = Writer()
        out.bytes.append(format)
        out.varint(UInt64(rows.count))
        out.deltas(rows.map { Int64($0.index) })
        out.deltas(rows.map(\.solverVersion))
        out.ids(rows.map(\.answerID))
        out.bytes.append(contentsOf: rows.map { $0.accept ? 1 : 0 })
        let scores = rows.map { $0.score.bitPattern ^ acceptScore($0.accept) }
        for shift in stride(from: 56, through: 0, by: -8) {
            out.bytes.append(contentsOf: scores.map { UInt8(truncatingIfNeeded: $0 >> UInt64(shift)) })
        }
        out.texts(rows.map(\.errorKind))
        out.texts(rows.map(\.error))
        out.texts(rows.map(\.usage))
        out.deltas(rows.map { Int64($0.retries) })
        out.ids(rows.map(\.checkerID))
        return try Zstd.compress(Data(out.bytes), level: level, dictionary: nil)
    }

    /// The rows of a frame, with `answer` and `reason` nil (the store looks them up by `answerID`).
    /// - Throws: `FlywheelError(.corruptStore)` saying what is wrong when the frame does not decompress or does not
    ///   hold packed results.
    static func decompress(_ frame: Data) throws -> [StoredHeldoutResult] {
        var input = Reader(bytes: [UInt8](try Zstd.decompress(frame)))
        guard try input.byte() == format else {
            throw FlywheelError(.corruptStore, "the frame is not in the packed-results format \(format)")
        }
        let count = Int(try input.varint())
        // Each row takes at least 15 bytes (a byte per integer column, its accept byte, its 8 score bytes).
        guard count <= input.remaining / 15 else {
            throw FlywheelError(.corruptStore, "the frame declares \(count) rows but holds too few bytes for them")
        }
        let indexes = try input.deltas(count)
        let versions = try input.deltas(count)
        let answers = try input.ids(count)
        let accepts = Array(try input.take(count))
        var scores = [UInt64](repeating: 0, count: count)
        for _ in 0..<8 {
            for (row, byte) in try input.take(count).enumerated() { scores[row] = scores[row] << 8 | UInt64(byte) }
        }
        let errorKinds = try input.texts(count)
        let errors = try input.texts(count)
        let usages = try input.texts(count)
        let retries = try input.deltas(count)
        let checkers = try input.ids(count)
        guard input.remaining == 0 else {
            throw FlywheelError(.corruptStore, "the frame holds \(input.remaining) bytes after its last column")
        }
        return try (0..<count).map { row in
            guard let index = Int(exactly: indexes[row]), let retried = Int(exactly: retries[row]),
                accepts[row] <= 1
            else { throw FlywheelError(.corruptStore, "row \(row) of the frame holds an impossible value") }
            return StoredHeldoutResult(
                index: index, solverVersion: versions[row], answerID: answers[row], accept: accepts[row] == 1,
                score: Double(bitPattern: scores[row] ^ acceptScore(accepts[row] == 1)), errorKind: errorKinds[row], error: errors[row],
                usage: usages[row], retries: retried, checkerID: checkers[row])
        }
    }

    /// The bits of the score an accepting (1.0) or rejecting (0.0) judgement usually has.
    private static func acceptScore(_ accept: Bool) -> UInt64 {
        (accept ? 1.0 : 0.0).bitPattern
    }

    private struct Writer {
        var bytes: [UInt8] = []

        mutating func varint(_ value: UInt64) {
            var value = value
            while value >= 0x80 {
                bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
                value >>= 7
            }
            bytes.append(UInt8(value))
        }

        mutating func deltas(_ values: [Int64]) {
            var previous: Int64 = 0
            for value in values {
                varint(zigzag(value &- previous))
                previous = value
            }
        }

        mutating func ids(_ values: [Int64?]) {
            for value in values { varint(value.map { UInt64(bitPattern: $0) &+ 1 } ?? 0) }
        }

        mutating func texts(_ values: [String?]) {
            for value in values { varint(value.map { UInt64($0.utf8.count) + 1 } ?? 0) }
            for value in values { bytes.append(contentsOf: value?.utf8 ?? "".utf8) }
        }

        private func zigzag(_ value: Int64) -> UInt64 {
            UInt64(bitPattern: (value << 1) ^ (value >> 63))
        }
    }

    private struct Reader {
        let bytes: [UInt8]
        var position = 0
        var remaining: Int { bytes.count - position }

        init(bytes: [UInt8]) { self.bytes = bytes }

        mutating func byte() throws -> UInt8 {
            try take(1).first!
        }

        mutating func take(_ count: Int) throws -> ArraySlice<UInt8> {
            guard count <= remaining else { throw truncated }
            defer { position += count }
            return bytes[position..<position + count]
        }

        mutating func varint() throws -> UInt64 {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                let byte = try byte()
                guard shift < 64 else {
                    throw FlywheelError(.corruptStore, "the frame holds a varint longer than 64 bits")
                }
                value |= UInt64(byte & 0x7F) << shift
                if byte < 0x80 { return value }
                shift += 7
            }
        }

        mutating func deltas(_ count: Int) throws -> [Int64] {
            var previous: Int64 = 0
            return try (0..<count).map { _ in
                previous = previous &+ unzigzag(try varint())
                return previous
            }
        }

        mutating func ids(_ count: Int) throws -> [Int64?] {
            try (0..<count).map { _ in
                let coded = try varint()
                return coded == 0 ? nil : Int64(bitPattern: coded &- 1)
            }
        }

        mutating func texts(_ count: Int) throws -> [String?] {
            let lengths = try (0..<count).map { _ in try varint() }
            return try lengths.map { length in
                guard length > 0 else { return nil }
                guard length - 1 <= UInt64(remaining) else { throw truncated }
                guard let text = String(validating: try take(Int(length - 1)), as: UTF8.self) else {
                    throw FlywheelError(.corruptStore, "the frame holds text that is not UTF-8")
                }
                return text
            }
        }

        private func unzigzag(_ value: UInt64) -> Int64 {
            Int64(bitPattern: value >> 1) ^ -Int64(bitPattern: value & 1)
        }

        private var truncated: FlywheelError {
            FlywheelError(.corruptStore, "the frame ends in the middle of its columns")
        }
    }
}
