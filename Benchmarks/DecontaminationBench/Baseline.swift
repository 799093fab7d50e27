import Foundation

// The decontamination index as it was before containment and near copies (commit 76eb634), kept verbatim except
// for its name, the normaliser and tokenizer it used inside FlywheelCore (also as they were) and a switch to today's
// normaliser, so that one run measures before and after, and how much of the difference is the normaliser.

func baselineNormalize(_ prompt: String) -> String {
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

func baselineTokens(_ normalized: String) -> [String] {
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
struct BaselineIndex: Sendable {
    /// What made a prompt contaminated.
    enum Finding: Equatable, Sendable {
        /// The normalised prompt equals a held-out prompt.
        case exactCopy
        /// The prompt shares a window of `n` consecutive content tokens with a held-out prompt.
        case sharedNGram(n: Int)
    }

    /// The window length, in tokens.
    let n: Int
    private let boilerplateWidth: Int
    private let normalizedHeldout: Set<String>
    private let vocabulary: [String: UInt32]
    private let boilerplate: Set<[UInt32]>
    private let windows: Set<[UInt32]>
    private let normalize: @Sendable (String) -> String

    /// Indexes the held-out prompts.
    /// - Parameters:
    ///   - heldoutPrompts: the frozen held-out prompts, raw; they are normalised here.
    ///   - n: window length in tokens, at least 1.
    ///   - boilerplateShare: short windows in more than this share of the held-out prompts are template text.
    init(
        heldoutPrompts: [String], n: Int = 13, boilerplateShare: Double = 0.05,
        normalize: @escaping @Sendable (String) -> String = baselineNormalize
    ) {
        precondition(n >= 1, "the n-gram window must be at least one token")
        self.normalize = normalize
        self.n = n
        let width = min(n, 6)
        boilerplateWidth = width
        var normalizedHeldout = Set<String>()
        var vocabulary: [String: UInt32] = [:]
        var documents: [[UInt32]] = []
        for prompt in heldoutPrompts {
            let normalized = normalize(prompt)
            normalizedHeldout.insert(normalized)
            documents.append(
                baselineTokens(normalized).map { token in
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
    func check(_ prompt: String) -> Finding? {
        let normalized = normalize(prompt)
        if normalizedHeldout.contains(normalized) { return .exactCopy }
        guard !windows.isEmpty else { return nil }
        // A token the held-out set never uses breaks every window through it.
        var ids: [UInt32] = []
        for token in baselineTokens(normalized) {
            ids.append(vocabulary[token] ?? UInt32.max)
        }
        for window in Self.contentWindows(ids, n: n, boilerplate: boilerplate, width: boilerplateWidth)
        where !window.contains(UInt32.max) && windows.contains(window) {
            return .sharedNGram(n: n)
        }
        return nil
    }
}
