import Foundation

/// Guards against "improvements" that are shortcuts, not skill: answers a trivial rule would give, or answers that
/// collapsed onto a few values.
public enum Shortcuts {
    /// A rule that answers without solving anything.
    public enum Baseline: String, Sendable, Codable, CaseIterable {
        /// The reference answer most held-out items share (only when references are plain strings).
        case mostCommonReference = "most-common-reference"
        /// The prompt itself.
        case copyInput = "copy-input"
        /// The prompt's last non-empty line.
        case copyLastLine = "copy-last-line"
        /// Nothing at all.
        case empty
    }

    /// The most common reference among those that are strings, ties broken by the smaller string; nil when no
    /// reference is a string.
    public static func mostCommonReference(_ references: [JSONValue?]) -> String? {
        var counts: [String: Int] = [:]
        for case .string(let text)? in references { counts[text, default: 0] += 1 }
        return counts.max { ($0.value, $1.key) < ($1.value, $0.key) }?.key
    }

    /// The answer `baseline` gives to `prompt`; nil when it has none (no most common reference).
    public static func answer(_ baseline: Baseline, prompt: String, mostCommon: String?) -> String? {
        switch baseline {
        case .mostCommonReference: mostCommon
        case .copyInput: prompt
        case .copyLastLine:
            prompt.split(whereSeparator: \.isNewline).last { !$0.allSatisfy(\.isWhitespace) }.map(String.init) ?? ""
        case .empty: ""
        }
    }

    /// How varied a set of answers is.
    public struct Diversity: Sendable, Equatable, Codable {
        /// Distinct answers.
        public var distinct: Int
        /// Shannon entropy of the answers' distribution, in bits.
        public var entropy: Double

        public init(_ answers: [String]) {
            var counts: [String: Int] = [:]
            for answer in answers { counts[answer, default: 0] += 1 }
            distinct = counts.count
            let total = Double(answers.count)
            entropy = counts.values.reduce(0) { sum, count in
                let share = Double(count) / total
                return sum - share * log2(share)
            }
        }

        /// Whether these answers collapsed against the references': fewer than half the references' bits of
        /// entropy, where the references are not all the same.
        public func collapsed(against references: Diversity) -> Bool {
            references.distinct > 1 && entropy < references.entropy / 2
        }
    }
}

/// A round's shortcut check on the held-out set: the trivial baselines' scores, and how varied the candidate's
/// answers are against the references.
public struct ShortcutCheck: Sendable, Equatable {
    /// Held-out score of each trivial baseline, by `Shortcuts.Baseline` raw value.
    public var baselines: [String: Double]
    public var answers: Shortcuts.Diversity
    public var references: Shortcuts.Diversity

    public init(baselines: [String: Double], answers: Shortcuts.Diversity, references: Shortcuts.Diversity) {
        self.baselines = baselines
        self.answers = answers
        self.references = references
    }

    /// Whether an "improved" verdict for a candidate scoring `heldout` may be a shortcut: it does not beat the best
    /// trivial baseline, or its answers collapsed. Other verdicts promote nothing new and are never flagged.
    public func suspected(heldout: Double, verdict: Verdict?) -> Bool {
        guard verdict == .improved else { return false }
        return heldout <= (baselines.values.max() ?? 0) || answers.collapsed(against: references)
    }
}
