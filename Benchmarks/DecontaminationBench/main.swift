import Dispatch
import FlywheelCore
import Foundation

/// Recall and false positives of decontamination on a generated leak set, before (the index of commit 76eb634) and
/// after, and the speed of building the index and of `check`, in one run. Usage: decontamination-bench
/// [--heldout N] [--per-kind N] [--clean N] [--seed N] [--sweep]
struct Settings {
    /// Held-out prompts per family, as the engine indexes them once per round.
    var heldout = 400
    /// Exact, embedded and near copies per family.
    var perKind = 400
    /// Clean prompts per family.
    var clean = 5_000
    var seed: UInt64 = 1
    /// Also measure other values of the containment and near-copy rules.
    var sweep = false
}

var settings = Settings()
var arguments = CommandLine.arguments.dropFirst()
while let flag = arguments.popFirst() {
    if flag == "--sweep" {
        settings.sweep = true
        continue
    }
    guard let value = arguments.popFirst() else { fatalError("missing value for \(flag)") }
    switch flag {
    case "--heldout": settings.heldout = Int(value)!
    case "--per-kind": settings.perKind = Int(value)!
    case "--clean": settings.clean = Int(value)!
    case "--seed": settings.seed = UInt64(value)!
    default: fatalError("unknown flag \(flag)")
    }
}

func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

struct Tally {
    var flagged = 0
    var total = 0

    var text: String {
        total == 0 ? "–" : "\(flagged)/\(total) (\(String(format: "%.1f", 100 * Double(flagged) / Double(total))) %)"
    }
}

func tally(_ set: LeakSet, _ isFlagged: (String) -> Bool) -> [LeakKind: Tally] {
    var out: [LeakKind: Tally] = [:]
    for item in set.items {
        out[item.kind, default: Tally()].total += 1
        if isFlagged(item.prompt) { out[item.kind, default: Tally()].flagged += 1 }
    }
    return out
}

/// Prompts per second of `check`, over the prompts again and again for at least a second.
func speed(_ prompts: [String], _ check: (String) -> Bool) -> Double {
    var count = 0
    var flagged = 0
    let start = now()
    repeat {
        for prompt in prompts where check(prompt) { flagged += 1 }
        count += prompts.count
    } while now() - start < 1
    precondition(flagged >= 0)
    return Double(count) / (now() - start)
}

/// Milliseconds to build an index, the best of five.
func buildTime(_ build: () -> Void) -> Double {
    (0..<5).map { _ in
        let start = now()
        build()
        return (now() - start) * 1000
    }.min()!
}

let sets = [PromptSource.templated, PromptSource.natural].map {
    LeakSet(
        source: $0, heldoutCount: settings.heldout, perKind: settings.perKind, cleanCount: settings.clean,
        seed: settings.seed)
}

print(
    "Leak set: \(settings.heldout) held-out prompts per family; \(settings.perKind) exact, embedded and near copies "
        + "each; \(settings.clean) clean prompts (half of them wrapped like embedded copies); seed \(settings.seed).")
print()
print("| held-out set | kind | before | after |")
print("|---|---|---|---|")
var findings: [String: Int] = [:]
for set in sets {
    let before = BaselineIndex(heldoutPrompts: set.heldout)
    let after = ContaminationIndex(heldoutPrompts: set.heldout)
    let old = tally(set) { before.check($0) != nil }
    let new = tally(set) { after.check($0) != nil }
    for kind in LeakKind.allCases {
        print("| \(set.source.name) | \(kind.rawValue) | \(old[kind]!.text) | \(new[kind]!.text) |")
    }
    for item in set.items {
        findings[
            "\(set.source.name), \(item.kind.rawValue): \(after.check(item.prompt).map { "\($0)" } ?? "clean")",
            default: 0] += 1
    }
}
print()
print(
    "Fresh prompts equal to a held-out prompt, left out of the clean set as real copies: "
        + sets.map { "\($0.source.name) \($0.cleanCollisions)" }.joined(separator: ", "))
print()
print("After, by finding:")
for (key, count) in findings.sorted(by: { $0.key < $1.key }) { print("  \(key): \(count)") }

print()
print("Speed on the clean prompts (most generated tasks are clean, and a clean prompt goes through every rule):")
print()
print("| held-out set | build before | build after | check before | before, with today's normaliser | check after |")
print("|---|---|---|---|---|---|")
for set in sets {
    let before = BaselineIndex(heldoutPrompts: set.heldout)
    let beforeFast = BaselineIndex(heldoutPrompts: set.heldout) { PromptNormalizer.normalize($0) }
    let after = ContaminationIndex(heldoutPrompts: set.heldout)
    let clean = set.items.filter { $0.kind == .clean }.map(\.prompt)
    let build = [
        buildTime { _ = BaselineIndex(heldoutPrompts: set.heldout) },
        buildTime { _ = ContaminationIndex(heldoutPrompts: set.heldout) },
    ]
    let checks = [
        speed(clean) { before.check($0) != nil }, speed(clean) { beforeFast.check($0) != nil },
        speed(clean) { after.check($0) != nil },
    ]
    print(
        "| \(set.source.name) | " + build.map { String(format: "%.1f ms", $0) }.joined(separator: " | ") + " | "
            + checks.map { "\(Int($0)) prompts/s" }.joined(separator: " | ") + " |")
}

if settings.sweep {
    print()
    print("Other rules: recall of embedded and near copies and clean prompts flagged, per family.")
    print()
    print("| minimum tokens | words per edit | held-out set | embedded copies | near copies | clean prompts |")
    print("|---|---|---|---|---|---|")
    for minimum in [3, 4, 5] {
        for wordsPerEdit in [4, 5, 8, 10, nil] as [Int?] {
            var rules = ContaminationIndex.Rules()
            rules.minimumContainedTokens = minimum
            rules.wordsPerEdit = wordsPerEdit
            for set in sets {
                let index = ContaminationIndex(heldoutPrompts: set.heldout, rules: rules)
                let result = tally(set) { index.check($0) != nil }
                print(
                    "| \(minimum) | \(wordsPerEdit.map(String.init) ?? "off") | \(set.source.name) | "
                        + "\(result[.embedded]!.text) | \(result[.near]!.text) | \(result[.clean]!.text) |")
            }
        }
    }
}
