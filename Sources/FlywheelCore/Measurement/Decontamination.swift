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
        if let ascii = normalizeASCII(prompt) { return ascii }
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

    /// `normalize` for a prompt that is all ASCII, nil for any other, without Foundation's Unicode passes: NFKC
    /// leaves ASCII as it is, lowercasing only maps A–Z, and the only ASCII whitespace is tab, line feed, vertical
    /// tab, form feed, carriage return and space (`Character.isWhitespace`).
    private static func normalizeASCII(_ prompt: String) -> String? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(prompt.utf8.count)
        var pendingSpace = false
        for byte in prompt.utf8 {
            guard byte < 0x80 else { return nil }
            if isASCIISpace(byte) {
                pendingSpace = !bytes.isEmpty
            } else {
                if pendingSpace { bytes.append(0x20) }
                pendingSpace = false
                bytes.append(byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func isASCIISpace(_ byte: UInt8) -> Bool { byte == 0x20 || (byte >= 0x09 && byte <= 0x0D) }

    /// Lowercase hex SHA-256 of the UTF-8 bytes of the normalised prompt: 64 characters, the same on every run
    /// and machine, so it can be stored and compared across rounds.
    public static func hash(_ prompt: String) -> String {
        hash(normalized: normalize(prompt)).hash
    }

    /// `hash` of a prompt already normalised (`normalize`), and the same digest as the key admission compares.
    static func hash(normalized: String) -> (hash: String, key: PromptKey) {
        let digest = SHA256.digest(Array(normalized.utf8))
        return digest.withUnsafeBytes { (Hex.lowercase($0), PromptKey(digest: $0)) }
    }

    /// The words of the normalised prompt: maximal runs of letters and digits, punctuation and spaces dropped.
    public static func tokens(_ prompt: String) -> [String] {
        tokens(normalized: normalize(prompt))
    }

    static func tokens(normalized: String) -> [String] {
        var tokens: [String] = []
        forEachLexeme(normalized) { lexeme, isWord in
            if isWord { tokens.append(String(decoding: lexeme, as: UTF8.self)) }
        }
        return tokens
    }

    /// Calls `body` with the UTF-8 bytes of each lexeme of a normalised prompt, in order: its tokens (`isWord`:
    /// maximal runs of letters and digits) and every other character except spaces, one at a time.
    static func forEachLexeme(_ normalized: String, _ body: (UnsafeBufferPointer<UInt8>, _ isWord: Bool) -> Void) {
        var text = normalized
        let ascii = text.withUTF8 { bytes -> Bool in
            guard bytes.allSatisfy({ $0 < 0x80 }) else { return false }
            // The same lexemes byte by byte: in ASCII, letters and digits are exactly A–Z, a–z and 0–9.
            var wordStart: Int?
            for index in bytes.indices {
                let byte = bytes[index]
                if (byte >= 0x30 && byte <= 0x39) || (byte | 0x20 >= 0x61 && byte | 0x20 <= 0x7A) {
                    if wordStart == nil { wordStart = index }
                } else {
                    if let start = wordStart {
                        body(UnsafeBufferPointer(rebasing: bytes[start..<index]), true)
                        wordStart = nil
                    }
                    if !isASCIISpace(byte) { body(UnsafeBufferPointer(rebasing: bytes[index..<(index + 1)]), false) }
                }
            }
            if let start = wordStart { body(UnsafeBufferPointer(rebasing: bytes[start...]), true) }
            return true
        }
        guard !ascii else { return }
        func emit(_ lexeme: Substring, _ isWord: Bool) {
            var bytes = String(lexeme)
            bytes.withUTF8 { body($0, isWord) }
        }
        var wordStart: String.Index?
        var index = normalized.startIndex
        while index < normalized.endIndex {
            let character = normalized[index]
            let next = normalized.index(after: index)
            if character.isLetter || character.isNumber {
                if wordStart == nil { wordStart = index }
            } else {
                if let start = wordStart {
                    emit(normalized[start..<index], true)
                    wordStart = nil
                }
                if !character.isWhitespace { emit(normalized[index..<next], false) }
            }
            index = next
        }
        if let start = wordStart { emit(normalized[start...], true) }
    }

    /// Calls `body` with the UTF-8 bytes of each space-separated word of a normalised prompt, in order
    /// (punctuation included; a space that a combining mark follows is part of a character, not a separator).
    static func forEachWord(_ normalized: String, _ body: (UnsafeBufferPointer<UInt8>) -> Void) {
        var text = normalized
        let ascii = text.withUTF8 { bytes -> Bool in
            guard bytes.allSatisfy({ $0 < 0x80 }) else { return false }
            var start = 0
            for index in bytes.indices where bytes[index] == 0x20 {
                if index > start { body(UnsafeBufferPointer(rebasing: bytes[start..<index])) }
                start = index + 1
            }
            if start < bytes.count { body(UnsafeBufferPointer(rebasing: bytes[start...])) }
            return true
        }
        guard !ascii else { return }
        for word in normalized.split(separator: " ") {
            var bytes = String(word)
            bytes.withUTF8 { body($0) }
        }
    }
}

/// Byte strings numbered in the order they are first inserted, looked up in place without making a String:
/// open addressing over a 64-bit hash, every hit confirmed byte for byte. The lexemes and words of normalised
/// (NFKC, so composed) prompts are equal as Strings exactly when their bytes are.
struct ByteVocabulary: Sendable {
    /// Every entry's bytes, back to back; entry `id` ends at `ends[id]` and starts where the one before ends.
    private var storage: [UInt8] = []
    private var ends: [Int] = []
    /// Entry id + 1 by slot; 0 is an empty slot. Its size is a power of two, at least twice the entries.
    private var slots = [UInt32](repeating: 0, count: 16)

    var count: Int { ends.count }

    /// The id of `bytes`, nil when it was never inserted.
    func id(of bytes: UnsafeBufferPointer<UInt8>) -> UInt32? {
        var slot = Int(truncatingIfNeeded: Self.hash(bytes)) & (slots.count - 1)
        while slots[slot] != 0 {
            let id = Int(slots[slot] - 1)
            let start = id == 0 ? 0 : ends[id - 1]
            if ends[id] - start == bytes.count, storage[start..<ends[id]].elementsEqual(bytes) { return UInt32(id) }
            slot = (slot + 1) & (slots.count - 1)
        }
        return nil
    }

    /// The id of `bytes`, numbered next when new.
    mutating func insert(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt32 {
        if let id = id(of: bytes) { return id }
        storage.append(contentsOf: bytes)
        ends.append(storage.count)
        let id = UInt32(ends.count - 1)
        if ends.count * 2 > slots.count {
            slots = [UInt32](repeating: 0, count: slots.count * 2)
            for entry in 0..<ends.count {
                let start = entry == 0 ? 0 : ends[entry - 1]
                storage[start..<ends[entry]].withUnsafeBufferPointer { place(UInt32(entry), hash: Self.hash($0)) }
            }
        } else {
            place(id, hash: Self.hash(bytes))
        }
        return id
    }

    private mutating func place(_ id: UInt32, hash: UInt64) {
        var slot = Int(truncatingIfNeeded: hash) & (slots.count - 1)
        while slots[slot] != 0 { slot = (slot + 1) & (slots.count - 1) }
        slots[slot] = id + 1
    }

    /// FNV-1a, its bits mixed so that the low ones pick the slot well.
    private static func hash(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt64 {
        let hash = StableHash.fnv1a64(bytes)
        return (hash ^ (hash >> 29)) &* 0xBF58_476D_1CE4_E5B9
    }
}

/// Finds generated prompts that overlap the frozen held-out set, so they can be dropped before they leak into
/// training data.
///
/// A prompt is contaminated when, after `PromptNormalizer.normalize`:
/// - it equals a held-out prompt (`exactCopy`);
/// - it contains a whole held-out prompt inside longer text (`embeddedCopy`): the held-out prompt's tokens and
///   punctuation, in order and whole (a token never matches part of a longer one; spacing is ignored);
/// - it shares any window of `n` consecutive content tokens with a held-out prompt (`sharedNGram`; 13 by default,
///   the window used by GPT-3's decontamination);
/// - it holds a held-out prompt's words, in order, with a few words inserted or neighbouring words swapped
///   (`nearCopy`): at most one such edit per `Rules.wordsPerEdit` words of the held-out prompt, and at least one.
///   Words are the normalised prompt's space-separated words, punctuation included, and none may be dropped or
///   changed: "What is 37 - 58?" is another task than "What is 37 + 58?", not a near copy of it.
///
/// Containment and near copies only apply to held-out prompts of at least `Rules.minimumContainedTokens` tokens
/// (4) whose text is not template itself, that is found inside more than `boilerplateShare` of the other held-out
/// prompts (and in at least three): a prompt holding "yes", "yes or no?" or a bare instruction line is not a leak.
/// Shorter held-out prompts are still matched exactly.
///
/// Content excludes template text: a token covered by a short window (`min(n, 6)` tokens) that occurs in more
/// than `boilerplateShare` of the held-out prompts (and in at least three) is the generator's boilerplate
/// ("Find the function f on integer lists…", "Answer with one program…"), and windows never span it. Without
/// this, every task of a templated generator would share a window with some held-out task through the template
/// plus one number. Matching is exact: windows are found by hash and then compared token by token.
///
/// A class: the index is built once per round and never changes, and every training item checks its prompt against
/// it; as a struct of a dozen arrays, sets and dictionaries, each hand-over (into an optional, a closure) retained
/// and released every one of them.
public final class ContaminationIndex: Sendable {
    /// What made a prompt contaminated.
    public enum Finding: Equatable, Sendable {
        /// The normalised prompt equals a held-out prompt.
        case exactCopy
        /// The prompt contains a whole held-out prompt inside longer text.
        case embeddedCopy
        /// The prompt shares a window of `n` consecutive content tokens with a held-out prompt.
        case sharedNGram(n: Int)
        /// The prompt holds a held-out prompt's words in order, with a few words inserted or neighbours swapped.
        case nearCopy
    }

    /// The rules an index applies. The defaults are the round engine's; `docs/decontamination.md` measures them.
    public struct Rules: Sendable, Equatable {
        /// Window length of `sharedNGram`, in tokens, at least 1 (13; the pipeline's `decontamination.ngram`).
        public var n = 13
        /// Short windows, and whole held-out prompts, found in more than this share of the held-out prompts (and in
        /// at least three) are template text (0.05).
        public var boilerplateShare = 0.05
        /// The fewest tokens a held-out prompt needs for `embeddedCopy` and `nearCopy` to apply to it (4, at least
        /// 1): "What is 7 * 8?" counts, "Yes or no?" does not.
        public var minimumContainedTokens = 4
        /// Words of the held-out prompt per edit a `nearCopy` may make, rounded down, at least one edit (5: about
        /// 80 % similarity); `nil` turns near copies off.
        public var wordsPerEdit: Int? = 5

        public init() {}
    }

    /// The window length, in tokens.
    public let n: Int
    /// The rules this index applies.
    public let rules: Rules
    private let normalizedHeldout: Set<String>
    /// Token and punctuation ids; both kinds share one numbering.
    private let vocabulary: ByteVocabulary
    private let boilerplate: WindowSet
    private let windows: WindowSet
    /// Lexeme ids (tokens and punctuation) of every distinct held-out prompt, by document number.
    private let lexemes: [[UInt32]]
    /// Held-out prompts an `embeddedCopy` may contain, found through the rarest `anchorWidth` lexemes of each.
    private let anchors: [UInt64: [Anchor]]
    /// The hashes of `anchors`' keys as bits: most windows of a prompt match no anchor, and testing a bit costs less
    /// than a dictionary lookup.
    private let anchorFilter: HashFilter
    private let anchorWidth: Int
    /// Space-separated word ids; a numbering of their own.
    private let wordVocabulary: ByteVocabulary
    /// Per held-out prompt: its word ids, its distinct ones rarest first, and the edits a near copy of it may make.
    private let nearCopies: [(words: [UInt32], rarestFirst: [UInt32], edits: Int)]
    /// Near copies to align, by the rarest word of their held-out prompt: a near copy holds every word.
    private let nearCopyAnchors: [UInt32: [Int32]]
    /// By word id: whether `nearCopyAnchors` has the word (most words of a prompt are no held-out prompt's rarest).
    private let isNearCopyAnchor: [Bool]

    private struct Anchor: Sendable {
        var document: Int32
        var offset: Int32
    }

    /// Ids of tokens and punctuation the held-out set never uses: they match nothing.
    private static let unknownWord = UInt32.max
    private static let unknownMark = UInt32.max - 1

    /// Indexes the held-out prompts with the default rules and the given window length and template share.
    /// - Parameters:
    ///   - heldoutPrompts: the frozen held-out prompts, raw; they are normalised here.
    ///   - n: window length in tokens, at least 1.
    ///   - boilerplateShare: short windows in more than this share of the held-out prompts are template text.
    public convenience init(heldoutPrompts: [String], n: Int = 13, boilerplateShare: Double = 0.05) {
        var rules = Rules()
        rules.n = n
        rules.boilerplateShare = boilerplateShare
        self.init(heldoutPrompts: heldoutPrompts, rules: rules)
    }

    /// Indexes the held-out prompts.
    /// - Parameters:
    ///   - heldoutPrompts: the frozen held-out prompts, raw; they are normalised here.
    ///   - rules: what counts as contamination.
    public init(heldoutPrompts: [String], rules: Rules) {
        precondition(rules.n >= 1, "the n-gram window must be at least one token")
        precondition(rules.minimumContainedTokens >= 1, "the minimum is at least one token")
        precondition((rules.wordsPerEdit ?? 1) >= 1, "at least one word per edit")
        n = rules.n
        self.rules = rules

        var normalizedHeldout = Set<String>()
        var vocabulary = ByteVocabulary()
        var lexemes: [[UInt32]] = []
        var words: [[UInt32]] = []
        var wordVocabulary = ByteVocabulary()
        var spaced: [[UInt32]] = []
        for prompt in heldoutPrompts {
            let normalized = PromptNormalizer.normalize(prompt)
            guard normalizedHeldout.insert(normalized).inserted else { continue }
            var documentLexemes: [UInt32] = []
            var documentWords: [UInt32] = []
            PromptNormalizer.forEachLexeme(normalized) { lexeme, isWord in
                let id = vocabulary.insert(lexeme)
                documentLexemes.append(id)
                if isWord { documentWords.append(id) }
            }
            lexemes.append(documentLexemes)
            words.append(documentWords)
            var documentSpaced: [UInt32] = []
            PromptNormalizer.forEachWord(normalized) { documentSpaced.append(wordVocabulary.insert($0)) }
            spaced.append(documentSpaced)
        }
        self.normalizedHeldout = normalizedHeldout
        self.vocabulary = vocabulary
        self.lexemes = lexemes
        let limit = max(2, Int(rules.boilerplateShare * Double(lexemes.count)))

        let boilerplateWidth = min(rules.n, 6)
        var boilerplate = WindowSet(width: boilerplateWidth)
        for (window, count) in Self.documentFrequencies(words, width: boilerplateWidth) where count > limit {
            boilerplate.insert(window[...])
        }
        self.boilerplate = boilerplate

        var windows = WindowSet(width: rules.n)
        for ids in words {
            Self.forEachContentWindow(ids, template: Self.templateMask(ids, boilerplate), width: rules.n) {
                windows.insert($0)
            }
        }
        self.windows = windows

        anchorWidth = min(3, rules.minimumContainedTokens)
        let long = Self.anchors(
            lexemes, of: words.map { $0.count >= rules.minimumContainedTokens }, width: anchorWidth)
        let eligible = Self.notTemplate(lexemes, anchors: long, width: anchorWidth, limit: limit)
        anchors = long.compactMapValues { found in
            let kept = found.filter { eligible[Int($0.document)] }
            return kept.isEmpty ? nil : kept
        }
        anchorFilter = HashFilter(anchors.keys)
        self.wordVocabulary = wordVocabulary
        (nearCopies, nearCopyAnchors) = Self.nearCopies(spaced, eligible: eligible, rules: rules)
        var isNearCopyAnchor = [Bool](repeating: false, count: wordVocabulary.count)
        for word in nearCopyAnchors.keys { isNearCopyAnchor[Int(word)] = true }
        self.isNearCopyAnchor = isNearCopyAnchor
    }

    /// Checks one generated prompt against the held-out set.
    /// - Returns: `nil` when the prompt is clean. When several findings apply, the first in declaration order is
    ///   returned: `exactCopy`, `embeddedCopy`, `sharedNGram`, `nearCopy`.
    public func check(_ prompt: String) -> Finding? {
        check(normalized: PromptNormalizer.normalize(prompt))
    }

    /// `check` of a prompt already normalised (`PromptNormalizer.normalize`).
    func check(normalized: String) -> Finding? {
        if normalizedHeldout.contains(normalized) { return .exactCopy }
        guard !lexemes.isEmpty else { return nil }
        var promptLexemes: [UInt32] = []
        var promptWords: [UInt32] = []
        PromptNormalizer.forEachLexeme(normalized) { lexeme, isWord in
            let id = vocabulary.id(of: lexeme) ?? (isWord ? Self.unknownWord : Self.unknownMark)
            promptLexemes.append(id)
            if isWord { promptWords.append(id) }
        }
        if containsHeldout(promptLexemes) { return .embeddedCopy }
        let template = Self.templateMask(promptWords, boilerplate)
        if !windows.isEmpty {
            var shared = false
            Self.forEachContentWindow(promptWords, template: template, width: n) { window in
                if !shared, windows.contains(window) { shared = true }
            }
            if shared { return .sharedNGram(n: n) }
        }
        if !nearCopyAnchors.isEmpty, isNearCopy(normalized) { return .nearCopy }
        return nil
    }

    private func containsHeldout(_ ids: [UInt32]) -> Bool {
        guard !anchors.isEmpty, ids.count >= anchorWidth else { return false }
        for start in 0...(ids.count - anchorWidth) {
            let hash = Self.hash(ids[start..<(start + anchorWidth)])
            guard anchorFilter.mayContain(hash), let found = anchors[hash] else { continue }
            for anchor in found
            where Self.occurs(lexemes[Int(anchor.document)], in: ids, at: start - Int(anchor.offset)) {
                return true
            }
        }
        return false
    }

    private func isNearCopy(_ normalized: String) -> Bool {
        var ids: [UInt32] = []
        PromptNormalizer.forEachWord(normalized) { ids.append(wordVocabulary.id(of: $0) ?? Self.unknownWord) }
        var present: Set<UInt32>?
        var aligned = Set<Int32>()
        for id in ids where Int(id) < isNearCopyAnchor.count && isNearCopyAnchor[Int(id)] {
            for document in nearCopyAnchors[id] ?? [] where aligned.insert(document).inserted {
                // A near copy holds every word; most candidates lack one of their rarer words.
                let copy = nearCopies[Int(document)]
                if present == nil { present = Set(ids) }
                if copy.rarestFirst.allSatisfy(present!.contains),
                    Self.holdsInOrder(copy.words, in: ids, edits: copy.edits)
                {
                    return true
                }
            }
        }
        return false
    }

    /// Whether `haystack` holds every token of `needle`, in order, with at most `limit` edits: a token inserted,
    /// or two neighbours swapped. A token of `needle` dropped or changed is never allowed: that makes another task.
    private static func holdsInOrder(_ needle: [UInt32], in haystack: [UInt32], edits limit: Int) -> Bool {
        let impossible = Int.max / 2
        let columns = haystack.count + 1
        // Rows i-2, i-1 and i of the alignment table; row 0 is all zeros because the copy may start anywhere.
        var before = [Int](repeating: 0, count: columns)
        var previous = [Int](repeating: 0, count: columns)
        var current = [Int](repeating: 0, count: columns)
        var previousBest = 0
        for i in 1...needle.count {
            current[0] = impossible
            var best = impossible
            for j in 1..<columns {
                var cost = min(needle[i - 1] == haystack[j - 1] ? previous[j - 1] : impossible, current[j - 1] + 1)
                if i > 1, j > 1, needle[i - 1] == haystack[j - 2], needle[i - 2] == haystack[j - 1] {
                    cost = min(cost, before[j - 2] + 1)
                }
                current[j] = cost
                best = min(best, cost)
            }
            // Later rows build on this one at no cost, or on the previous one through a swap at cost one.
            if best > limit && previousBest + 1 > limit { return false }
            previousBest = best
            (before, previous, current) = (previous, current, before)
        }
        return previousBest <= limit
    }

    /// Which tokens of `ids` lie under a boilerplate window.
    private static func templateMask(_ ids: [UInt32], _ boilerplate: WindowSet) -> [Bool] {
        var isTemplate = [Bool](repeating: false, count: ids.count)
        let width = boilerplate.width
        guard ids.count >= width, !boilerplate.isEmpty else { return isTemplate }
        for start in 0...(ids.count - width) where boilerplate.contains(ids[start..<(start + width)]) {
            for index in start..<(start + width) { isTemplate[index] = true }
        }
        return isTemplate
    }

    /// Calls `body` with every `width`-token window of `ids` that lies wholly outside template text and holds no
    /// unknown token.
    private static func forEachContentWindow(
        _ ids: [UInt32], template: [Bool], width: Int, _ body: (ArraySlice<UInt32>) -> Void
    ) {
        var runStart = 0
        for index in 0...ids.count where index == ids.count || template[index] || ids[index] == unknownWord {
            if index - runStart >= width {
                for start in runStart...(index - width) { body(ids[start..<(start + width)]) }
            }
            runStart = index + 1
        }
    }

    /// Whether `needle` occurs in `haystack` starting at `start`.
    private static func occurs(_ needle: [UInt32], in haystack: [UInt32], at start: Int) -> Bool {
        start >= 0 && start + needle.count <= haystack.count && haystack[start..<(start + needle.count)] == needle[...]
    }

    /// In how many documents each `width`-token window occurs.
    private static func documentFrequencies(_ documents: [[UInt32]], width: Int) -> [[UInt32]: Int] {
        var frequency: [[UInt32]: Int] = [:]
        for ids in documents where ids.count >= width {
            let own = Set((0...(ids.count - width)).map { Array(ids[$0..<($0 + width)]) })
            for window in own { frequency[window, default: 0] += 1 }
        }
        return frequency
    }

    /// For each chosen held-out prompt, its rarest run of `width` lexemes, so that a prompt sharing the held-out
    /// set's template is compared with few of them.
    private static func anchors(_ lexemes: [[UInt32]], of chosen: [Bool], width: Int) -> [UInt64: [Anchor]] {
        let frequency = documentFrequencies(lexemes, width: width)
        var anchors: [UInt64: [Anchor]] = [:]
        for (document, ids) in lexemes.enumerated() where chosen[document] && ids.count >= width {
            var best = 0
            var bestCount = Int.max
            for start in 0...(ids.count - width) {
                let count = frequency[Array(ids[start..<(start + width)])] ?? 0
                if count < bestCount { (best, bestCount) = (start, count) }
            }
            anchors[hash(ids[best..<(best + width)]), default: []].append(
                Anchor(document: Int32(document), offset: Int32(best)))
        }
        return anchors
    }

    /// Which held-out prompts with an anchor are found inside no more than `limit` other held-out prompts: those
    /// found in more are template text.
    private static func notTemplate(_ lexemes: [[UInt32]], anchors: [UInt64: [Anchor]], width: Int, limit: Int)
        -> [Bool]
    {
        var containers = [Int](repeating: 0, count: lexemes.count)
        for (container, ids) in lexemes.enumerated() where ids.count >= width {
            var contained = Set<Int32>()
            for start in 0...(ids.count - width) {
                for anchor in anchors[hash(ids[start..<(start + width)])] ?? []
                where Int(anchor.document) != container
                    && occurs(lexemes[Int(anchor.document)], in: ids, at: start - Int(anchor.offset))
                    && contained.insert(anchor.document).inserted
                {
                    containers[Int(anchor.document)] += 1
                }
            }
        }
        var eligible = [Bool](repeating: false, count: lexemes.count)
        for anchor in anchors.values.joined() {
            eligible[Int(anchor.document)] = containers[Int(anchor.document)] <= limit
        }
        return eligible
    }

    /// The words and edit budget of every held-out prompt, and the eligible ones by their rarest word.
    private static func nearCopies(_ spaced: [[UInt32]], eligible: [Bool], rules: Rules)
        -> ([(words: [UInt32], rarestFirst: [UInt32], edits: Int)], [UInt32: [Int32]])
    {
        guard let wordsPerEdit = rules.wordsPerEdit else { return ([], [:]) }
        var frequency: [UInt32: Int] = [:]
        for ids in spaced {
            for id in Set(ids) { frequency[id, default: 0] += 1 }
        }
        var anchors: [UInt32: [Int32]] = [:]
        var copies: [(words: [UInt32], rarestFirst: [UInt32], edits: Int)] = []
        for (document, ids) in spaced.enumerated() {
            let rarestFirst = Set(ids).sorted { (frequency[$0]!, $0) < (frequency[$1]!, $1) }
            if eligible[document], let rarest = rarestFirst.first {
                anchors[rarest, default: []].append(Int32(document))
            }
            copies.append((ids, rarestFirst, max(1, ids.count / wordsPerEdit)))
        }
        return (copies, anchors)
    }

    fileprivate static func hash(_ ids: ArraySlice<UInt32>) -> UInt64 {
        var hash: UInt64 = 0x9E37_79B9_7F4A_7C15
        for id in ids {
            hash = (hash ^ UInt64(id)) &* 0xBF58_476D_1CE4_E5B9
            hash ^= hash >> 31
        }
        return hash
    }
}

/// A set of well-mixed 64-bit hashes as one bit each, by their low bits: `mayContain` is false for most hashes not
/// in the set and true for every one in it.
private struct HashFilter: Sendable {
    private var words: [UInt64]

    init(_ hashes: some Collection<UInt64>) {
        // About 16 bits per hash: one in 16 hashes not in the set finds its bit set.
        var count = 1
        while count * 64 < hashes.count * 16 { count *= 2 }
        words = [UInt64](repeating: 0, count: count)
        for hash in hashes { insert(hash) }
    }

    /// Whether the filter has its 16 bits per hash for `count` hashes.
    func fits(_ count: Int) -> Bool { words.count * 64 >= count * 16 }

    mutating func insert(_ hash: UInt64) {
        words[Int(truncatingIfNeeded: hash >> 6) & (words.count - 1)] |= 1 << (hash & 63)
    }

    func mayContain(_ hash: UInt64) -> Bool {
        words[Int(truncatingIfNeeded: hash >> 6) & (words.count - 1)] & (1 << (hash & 63)) != 0
    }
}

/// Windows of a fixed width, found by hash and confirmed id by id, so a hash collision never matches.
private struct WindowSet: Sendable {
    let width: Int
    private var buckets: [UInt64: [Int32]] = [:]
    private var filter = HashFilter([])
    /// The windows, one after another; a bucket holds their offsets.
    private var storage: [UInt32] = []

    init(width: Int) { self.width = width }

    var isEmpty: Bool { buckets.isEmpty }

    mutating func insert(_ window: ArraySlice<UInt32>) {
        let key = ContaminationIndex.hash(window)
        if contains(window, key: key) { return }
        buckets[key, default: []].append(Int32(storage.count))
        storage.append(contentsOf: window)
        if filter.fits(buckets.count) { filter.insert(key) } else { filter = HashFilter(buckets.keys) }
    }

    func contains(_ window: ArraySlice<UInt32>) -> Bool {
        contains(window, key: ContaminationIndex.hash(window))
    }

    private func contains(_ window: ArraySlice<UInt32>, key: UInt64) -> Bool {
        guard filter.mayContain(key), let offsets = buckets[key] else { return false }
        return offsets.contains { storage[Int($0)..<(Int($0) + width)] == window }
    }
}

/// A normalised prompt's SHA-256 (`PromptNormalizer.hash`) as four words: what exact-duplicate detection keeps
/// for every task of a store's history, without a string apiece.
public struct PromptKey: Hashable, Sendable {
    private let words: SIMD4<UInt64>

    /// The key of a hash as `PromptNormalizer.hash` spells it (64 lowercase hex digits). Any other text, which no
    /// store written by Flywheel holds, is keyed by its own SHA-256, so that it equals only itself.
    public init(_ hash: String) {
        let digest =
            Hex.bytes(hash).flatMap { $0.count == 32 ? $0 : nil }
            ?? PromptNormalizer.SHA256.digest(Array("text:\(hash)".utf8))
        self = digest.withUnsafeBytes(PromptKey.init(digest:))
    }

    /// The key of a stored digest's bytes (32 of them since schema v9; text before).
    init(stored bytes: UnsafeRawBufferPointer) {
        self = bytes.count == 32 ? PromptKey(digest: bytes) : PromptKey(String(decoding: bytes, as: UTF8.self))
    }

    /// - Parameter digest: 32 bytes.
    init(digest: UnsafeRawBufferPointer) {
        words = SIMD4(
            digest.loadUnaligned(fromByteOffset: 0, as: UInt64.self),
            digest.loadUnaligned(fromByteOffset: 8, as: UInt64.self),
            digest.loadUnaligned(fromByteOffset: 16, as: UInt64.self),
            digest.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
    }
}

extension PromptNormalizer {
    /// FIPS 180-4 SHA-256, written out because Foundation on Linux has no digest API and the hash must never change.
    enum SHA256 {
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
