import FlywheelCore
import ListFn

/// A family of prompts: the held-out set is drawn from it, and so are the clean training prompts, with other seeds.
struct PromptSource: Sendable {
    let name: String
    let prompt: @Sendable (UInt64) -> String

    /// listfn's own generator: a fixed header and footer around four `f([…]) = …` lines, difficulty 1 to 5.
    static let templated = PromptSource(name: "templated (listfn)") { seed in
        ListFnGenerator.task(seed: seed, difficulty: 1 + Int(seed % 5)).prompt
    }

    /// Arithmetic and word questions from fixed sentence templates with names, objects and numbers filled in: short
    /// prompts (four tokens), medium ones and three-sentence ones.
    static let natural = PromptSource(name: "natural language (arith/word)") { seed in
        var rng = SplitMix64(seed: SplitMix64.mix(0xA217, seed))
        func pick(_ list: [String]) -> String { list[rng.below(list.count)] }
        func number(_ range: ClosedRange<Int>) -> Int { range.lowerBound + rng.below(range.count) }
        let name = pick(names)
        let other = pick(names)
        let thing = pick(things)
        let (a, b, c) = (number(2...99), number(2...99), number(100...500))
        switch rng.below(10) {
        case 0: return "What is \(a) \(pick(["+", "-", "*"])) \(b)?"
        case 1: return "Is \(c + a) prime?"
        case 2: return "\(name) has \(a) \(thing). \(name) buys \(b) more. How many \(thing) does \(name) have now?"
        case 3:
            return "A train travels at \(a) km per hour for \(b % 12 + 1) hours. How many kilometres does it travel?"
        case 4: return "\(name) reads \(a) pages every day. How many pages does \(name) read in \(b) days?"
        case 5:
            return "There are \(c) \(thing) in a box and \(name) takes out \(a) of them. How many \(thing) are left "
                + "in the box?"
        case 6: return "Compute the sum of \(a), \(b) and \(c)."
        case 7: return "\(name) and \(other) share \(a * 2) \(thing) equally. How many \(thing) does each of them get?"
        case 8: return "What is the remainder when \(c) is divided by \(a)?"
        default:
            return "A shop sells \(thing) for \(a) dollars each. \(name) buys \(b % 9 + 2) of them and pays with a "
                + "\(c) dollar note. How much change does \(name) get back?"
        }
    }

    static let names = [
        "Tom", "Mary", "Ali", "Sofia", "Kenji", "Amara", "Lucas", "Priya", "Omar", "Elena", "Chen", "Fatima", "Jonas",
        "Aisha", "Mateo", "Yuki", "Noah", "Leila", "Ivan", "Grace",
    ]
    static let things = [
        "apples", "marbles", "stickers", "pencils", "books", "cookies", "stamps", "shells", "cards", "balloons",
        "oranges", "coins", "buttons", "candles", "ribbons",
    ]
}

/// What a leak-set item is and whether it should be caught.
enum LeakKind: String, CaseIterable, Sendable {
    /// A held-out prompt with its case and spacing changed.
    case exact = "exact copies"
    /// A held-out prompt inside longer text: an instruction before it, a request after it, or another task.
    case embedded = "embedded copies"
    /// A held-out prompt with one word in four or fewer swapped with its neighbour or a filler word inserted.
    case near = "near copies (words swapped or inserted)"
    /// A fresh prompt from the same family, bare or wrapped the way embedded copies are.
    case clean = "clean prompts"
}

struct LeakItem: Sendable {
    let kind: LeakKind
    let prompt: String
}

/// The held-out set and the leak set of one prompt family, all from seeds, so every run builds the same sets.
struct LeakSet: Sendable {
    let source: PromptSource
    let heldout: [String]
    let items: [LeakItem]
    /// Fresh prompts dropped from the clean set because they equal a held-out prompt (real copies, not clean).
    let cleanCollisions: Int

    static let prefixes = [
        "Here is a problem from the evaluation set:", "Solve the following task.", "Question:",
        "You are a helpful assistant. Read the task below and answer it.", "Task 3 of 10", "Consider this carefully.",
    ]
    static let suffixes = ["Show your reasoning.", "Think step by step before answering.", "Reply in JSON.", "Answer:"]
    static let fillers = ["please", "now", "then", "also", "quickly", "carefully", "exactly", "here", "just", "really"]

    init(source: PromptSource, heldoutCount: Int, perKind: Int, cleanCount: Int, seed: UInt64) {
        self.source = source
        // Held-out seeds are 0, 1, 2, …; training seeds are far away from them, as the engine derives them apart.
        var heldout: [String] = []
        var seen = Set<String>()
        var next: UInt64 = 0
        while heldout.count < heldoutCount {
            let prompt = source.prompt(next)
            next += 1
            if seen.insert(PromptNormalizer.normalize(prompt)).inserted { heldout.append(prompt) }
        }
        self.heldout = heldout
        var rng = SplitMix64(seed: SplitMix64.mix(seed, 0x1EAC))
        var freshSeed: UInt64 = 1 << 40
        var collisions = 0
        // A fresh prompt that equals a held-out one is a real copy, not a clean prompt: skipped and counted.
        func fresh() -> String {
            while true {
                freshSeed += 1
                let prompt = source.prompt(freshSeed)
                if !seen.contains(PromptNormalizer.normalize(prompt)) { return prompt }
                collisions += 1
            }
        }
        func wrap(_ prompt: String, _ rng: inout SplitMix64) -> String {
            switch rng.below(4) {
            case 0: return Self.prefixes[rng.below(Self.prefixes.count)] + "\n" + prompt
            case 1: return prompt + "\n" + Self.suffixes[rng.below(Self.suffixes.count)]
            case 2:
                return Self.prefixes[rng.below(Self.prefixes.count)] + " " + prompt + " "
                    + Self.suffixes[rng.below(Self.suffixes.count)]
            default: return "Solve both.\n1. " + fresh() + "\n2. " + prompt
            }
        }
        var items: [LeakItem] = []
        for _ in 0..<perKind {
            let original = heldout[rng.below(heldout.count)]
            items.append(LeakItem(kind: .exact, prompt: Self.recase(original, &rng)))
        }
        for _ in 0..<perKind {
            items.append(LeakItem(kind: .embedded, prompt: wrap(heldout[rng.below(heldout.count)], &rng)))
        }
        for _ in 0..<perKind {
            items.append(LeakItem(kind: .near, prompt: Self.edit(heldout[rng.below(heldout.count)], &rng)))
        }
        for clean in 0..<cleanCount {
            let prompt = fresh()
            items.append(LeakItem(kind: .clean, prompt: clean % 2 == 0 ? prompt : wrap(prompt, &rng)))
        }
        self.items = items
        cleanCollisions = collisions
    }

    /// Some words upper-cased, some spaces doubled or turned into line breaks.
    static func recase(_ prompt: String, _ rng: inout SplitMix64) -> String {
        var out = ""
        for word in prompt.split(separator: " ", omittingEmptySubsequences: false) {
            if !out.isEmpty { out += ["  ", "\n", " \t", " "][rng.below(4)] }
            out += rng.below(3) == 0 ? word.uppercased() : String(word)
        }
        return out
    }

    /// One to (words / 4) edits, drawn uniformly: swap two neighbouring words, or insert a filler word.
    static func edit(_ prompt: String, _ rng: inout SplitMix64) -> String {
        var words = prompt.split(whereSeparator: \.isWhitespace).map(String.init)
        for _ in 0..<(1 + rng.below(max(1, words.count / 4))) {
            if rng.below(2) == 0, words.count >= 2 {
                let at = rng.below(words.count - 1)
                words.swapAt(at, at + 1)
            } else {
                words.insert(fillers[rng.below(fillers.count)], at: rng.below(words.count + 1))
            }
        }
        return words.joined(separator: " ")
    }
}
