import Foundation

/// The canonical form of a prompt, used both for exact-duplicate detection across rounds and for decontamination.
///
/// Normalisation is Unicode NFKC, then lowercasing, then NFKC again, then every run of whitespace collapsed to
/// one space and the ends trimmed. NFKC folds compatibility variants a generator could emit by accident
/// (full-width digits, ligatures such as "ﬁ", non-breaking spaces) into the plain characters; the second NFKC
/// keeps the result stable, so `normalize(normalize(p)) == normalize(p)`. Punctuation is kept: two prompts
/// that differ only in punctuation are different tasks.
public enum PromptNormalizer {
    /// The normalised prompt.
    public static func normalize(_ prompt: String) -> String {
        let folded = prompt.precomposedStringWithCompatibilityMapping.lowercased()
            .precomposedStringWithCompatibilityMapping
        var result = ""
        result.reserveCapacity(folded.utf8.count)
        var pendingSpace = false
        for character in folded {
            if character.isWhitespace {
                pendingSpace = !result.isEmpty
            } else {
                if pendingSpace { result.append(" ") }
                pendingSpace = false
                result.append(character)
            }
        }
        return result
    }

    /// Lowercase hex SHA-256 of the UTF-8 bytes of the normalised prompt: 64 characters, the same on every run
    /// and machine, so it can be stored and compared across rounds.
    public static func hash(_ prompt: String) -> String {
        SHA256.digest(Array(normalize(prompt).utf8)).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }

    /// The words of the normalised prompt: maximal runs of letters and digits, punctuation and spaces dropped.
    public static func tokens(_ prompt: String) -> [String] {
        tokens(normalized: normalize(prompt))
    }

    static func tokens(normalized: String) -> [String] {
        var tokens: [String] = []
        var current = ""
        for character in normalized {
            if character.isLetter || character.isNumber {
                current.append(character)
            } else if !current.isEmpty {
                tokens.append(current)
                current = ""
            }
        }
        if !current.isEmpty { tokens.append(current) }
        return tokens
    }
}

/// Finds generated prompts that overlap the frozen held-out set, so they can be dropped before they leak into
/// training data.
///
/// A prompt is contaminated when its normalised form equals a held-out prompt's, or when it shares any window of
/// `n` consecutive content tokens with one (13 by default, the window used by GPT-3's decontamination). Held-out
/// prompts with fewer than `n` content tokens can therefore only be matched exactly. Matching is exact, not
/// hashed: a shorter shared run never counts.
///
/// Content excludes template text: a token covered by a short window (`min(n, 6)` tokens) that occurs in more
/// than `boilerplateShare` of the held-out prompts (and in at least three) is the generator's boilerplate
/// ("Find the function f on integer lists…", "Answer with one program…"), and windows never span it. Without
/// this, every task of a templated generator would share a window with some held-out task through the template
/// plus one number.
public struct ContaminationIndex: Sendable {
    /// What made a prompt contaminated.
    public enum Finding: Equatable, Sendable {
        /// The normalised prompt equals a held-out prompt.
        case exactCopy
        /// The prompt shares a window of `n` consecutive content tokens with a held-out prompt.
        case sharedNGram(n: Int)
    }

    /// The window length, in tokens.
    public let n: Int
    private let boilerplateWidth: Int
    private let normalizedHeldout: Set<String>
    private let vocabulary: [String: UInt32]
    private let boilerplate: Set<[UInt32]>
    private let windows: Set<[UInt32]>

    /// Indexes the held-out prompts.
    /// - Parameters:
    ///   - heldoutPrompts: the frozen held-out prompts, raw; they are normalised here.
    ///   - n: window length in tokens, at least 1.
    ///   - boilerplateShare: short windows in more than this share of the held-out prompts are template text.
    public init(heldoutPrompts: [String], n: Int = 13, boilerplateShare: Double = 0.05) {
        precondition(n >= 1, "the n-gram window must be at least one token")
        self.n = n
        let width = min(n, 6)
        boilerplateWidth = width
        var normalizedHeldout = Set<String>()
        var vocabulary: [String: UInt32] = [:]
        var documents: [[UInt32]] = []
        for prompt in heldoutPrompts {
            let normalized = PromptNormalizer.normalize(prompt)
            normalizedHeldout.insert(normalized)
            documents.append(
                PromptNormalizer.tokens(normalized: normalized).map { token in
                    if let id = vocabulary[token] { return id }
                    let id = UInt32(vocabulary.count)
                    vocabulary[token] = id
                    return id
                })
        }
        var frequency: [[UInt32]: Int] = [:]
        for ids in documents where ids.count >= width {
            let own = Set((0...(ids.count - width)).map { Array(ids[$0..<($0 + width)]) })
            for window in own { frequency[window, default: 0] += 1 }
        }
        let limit = max(2, Int(boilerplateShare * Double(heldoutPrompts.count)))
        self.normalizedHeldout = normalizedHeldout
        self.vocabulary = vocabulary
        let boilerplate = Set(frequency.filter { $0.value > limit }.keys)
        self.boilerplate = boilerplate
        var windows = Set<[UInt32]>()
        for ids in documents {
            windows.formUnion(Self.contentWindows(ids, n: n, boilerplate: boilerplate, width: width))
        }
        self.windows = windows
    }

    /// The `n`-token windows of `ids` that lie wholly outside boilerplate.
    private static func contentWindows(_ ids: [UInt32], n: Int, boilerplate: Set<[UInt32]>, width boilerplateWidth: Int)
        -> [[UInt32]]
    {
        var isTemplate = [Bool](repeating: false, count: ids.count)
        if ids.count >= boilerplateWidth, !boilerplate.isEmpty {
            for start in 0...(ids.count - boilerplateWidth)
            where boilerplate.contains(Array(ids[start..<(start + boilerplateWidth)])) {
                for index in start..<(start + boilerplateWidth) { isTemplate[index] = true }
            }
        }
        var result: [[UInt32]] = []
        var runStart = 0
        for index in 0...ids.count {
            if index == ids.count || isTemplate[index] {
                if index - runStart >= n {
                    for start in runStart...(index - n) { result.append(Array(ids[start..<(start + n)])) }
                }
                runStart = index + 1
            }
        }
        return result
    }

    /// Checks one generated prompt against the held-out set.
    /// - Returns: `nil` when the prompt is clean; `.exactCopy` takes precedence over `.sharedNGram`.
    public func check(_ prompt: String) -> Finding? {
        let normalized = PromptNormalizer.normalize(prompt)
        if normalizedHeldout.contains(normalized) { return .exactCopy }
        guard !windows.isEmpty else { return nil }
        // A token the held-out set never uses breaks every window through it.
        var ids: [UInt32] = []
        for token in PromptNormalizer.tokens(normalized: normalized) {
            ids.append(vocabulary[token] ?? UInt32.max)
        }
        for window in Self.contentWindows(ids, n: n, boilerplate: boilerplate, width: boilerplateWidth) where !window.contains(UInt32.max) && windows.contains(window) {
            return .sharedNGram(n: n)
        }
        return nil
    }
}

extension PromptNormalizer {
    /// FIPS 180-4 SHA-256, written out because Foundation on Linux has no digest API and the hash must never change.
    fileprivate enum SHA256 {
        private static let roundConstants: [UInt32] = [
            0x428a_2f98, 0x7137_4491, 0xb5c0_fbcf, 0xe9b5_dba5, 0x3956_c25b, 0x59f1_11f1, 0x923f_82a4, 0xab1c_5ed5,
            0xd807_aa98, 0x1283_5b01, 0x2431_85be, 0x550c_7dc3, 0x72be_5d74, 0x80de_b1fe, 0x9bdc_06a7, 0xc19b_f174,
            0xe49b_69c1, 0xefbe_4786, 0x0fc1_9dc6, 0x240c_a1cc, 0x2de9_2c6f, 0x4a74_84aa, 0x5cb0_a9dc, 0x76f9_88da,
            0x983e_5152, 0xa831_c66d, 0xb003_27c8, 0xbf59_7fc7, 0xc6e0_0bf3, 0xd5a7_9147, 0x06ca_6351, 0x1429_2967,
            0x27b7_0a85, 0x2e1b_2138, 0x4d2c_6dfc, 0x5338_0d13, 0x650a_7354, 0x766a_0abb, 0x81c2_c92e, 0x9272_2c85,
            0xa2bf_e8a1, 0xa81a_664b, 0xc24b_8b70, 0xc76c_51a3, 0xd192_e819, 0xd699_0624, 0xf40e_3585, 0x106a_a070,
            0x19a4_c116, 0x1e37_6c08, 0x2748_774c, 0x34b0_bcb5, 0x391c_0cb3, 0x4ed8_aa4a, 0x5b9c_ca4f, 0x682e_6ff3,
            0x748f_82ee, 0x78a5_636f, 0x84c8_7814, 0x8cc7_0208, 0x90be_fffa, 0xa450_6ceb, 0xbef9_a3f7, 0xc671_78f2,
        ]

        private static let initialState: [UInt32] = [
            0x6a09_e667, 0xbb67_ae85, 0x3c6e_f372, 0xa54f_f53a, 0x510e_527f, 0x9b05_688c, 0x1f83_d9ab, 0x5be0_cd19,
        ]

        static func digest(_ message: [UInt8]) -> [UInt8] {
            var padded = message
            padded.append(0x80)
            while padded.count % 64 != 56 { padded.append(0) }
            let bitLength = UInt64(message.count) &* 8
            for shift in stride(from: 56, through: 0, by: -8) {
                padded.append(UInt8(truncatingIfNeeded: bitLength >> UInt64(shift)))
            }

            var state = initialState
            var schedule = [UInt32](repeating: 0, count: 64)
            for blockStart in stride(from: 0, to: padded.count, by: 64) {
                for i in 0..<16 {
                    let at = blockStart + 4 * i
                    schedule[i] =
                        UInt32(padded[at]) << 24 | UInt32(padded[at + 1]) << 16 | UInt32(padded[at + 2]) << 8
                        | UInt32(padded[at + 3])
                }
                for i in 16..<64 {
                    let s0 = rotr(schedule[i - 15], 7) ^ rotr(schedule[i - 15], 18) ^ (schedule[i - 15] >> 3)
                    let s1 = rotr(schedule[i - 2], 17) ^ rotr(schedule[i - 2], 19) ^ (schedule[i - 2] >> 10)
                    schedule[i] = schedule[i - 16] &+ s0 &+ schedule[i - 7] &+ s1
                }
                var a = state[0]
                var b = state[1]
                var c = state[2]
                var d = state[3]
                var e = state[4]
                var f = state[5]
                var g = state[6]
                var h = state[7]
                for i in 0..<64 {
                    let sum1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)
                    let choice = (e & f) ^ (~e & g)
                    let t1 = h &+ sum1 &+ choice &+ roundConstants[i] &+ schedule[i]
                    let sum0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)
                    let majority = (a & b) ^ (a & c) ^ (b & c)
                    let t2 = sum0 &+ majority
                    h = g
                    g = f
                    f = e
                    e = d &+ t1
                    d = c
                    c = b
                    b = a
                    a = t1 &+ t2
                }
                state[0] &+= a
                state[1] &+= b
                state[2] &+= c
                state[3] &+= d
                state[4] &+= e
                state[5] &+= f
                state[6] &+= g
                state[7] &+= h
            }
            return state.flatMap { word in (0..<4).map { UInt8(truncatingIfNeeded: word >> UInt32(24 - 8 * $0)) } }
        }

        private static func rotr(_ x: UInt32, _ count: UInt32) -> UInt32 {
            (x >> count) | (x << (32 - count))
        }
    }
}
