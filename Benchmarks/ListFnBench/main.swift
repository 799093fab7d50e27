import Dispatch
import Foundation
import ListFn

/// The flywheel experiment for the listfn pipeline, exactly as the round engine runs it, with learning on and
/// off, plus enumerator throughput. `listfn-bench --help` lists the flags.
struct Settings: Sendable {
    /// Training tasks generated per round.
    var roundSize = 200
    /// Frozen held-out tasks (seeds disjoint from training).
    var heldoutSize = 400
    /// Candidate programs per task.
    var budget = 5_000
    /// Program size class of every task (1…5).
    var difficulty = 5
    /// Dirichlet pseudocount of `Grammar.fit`.
    var pseudocount = 1.0
    var rounds = 5
    var seed: UInt64 = 1
    /// Parallel solver workers.
    var workers = 2
}

let usage = """
    usage: listfn-bench [--round-size N] [--heldout N] [--budget N] [--difficulty N] [--pseudocount X] [--rounds N]
                        [--seed N] [--workers N] [--enumerator-only] [--dump-order N]
    The 5-round flywheel experiment with learning on and off, then enumerator throughput on one worker.
      --enumerator-only  only the enumerator throughput (for `perf stat` and profiles)
      --dump-order N     print the first N programs the enumerator yields (with exact log-probability bits) and
                         the solver's answer to 300 tasks, under three grammars; diff two builds' output to check
                         that a change to the enumerator or the evaluator left the search exactly as it was
    """

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("listfn-bench: \(message)\n\(usage)\n".utf8))
    exit(64)
}

/// The flag's value read by `parse`, or exit 64 if it does not parse or is not `valid`.
func value<T>(_ flag: String, _ text: String?, _ parse: (String) -> T?, valid: (T) -> Bool) -> T {
    guard let text else { fail("missing value for \(flag)") }
    guard let v = parse(text), valid(v) else { fail("bad value \(text) for \(flag)") }
    return v
}

var settings = Settings()
var enumeratorOnly = false
var dumpLimit: Int?
var arguments = CommandLine.arguments.dropFirst()
while let flag = arguments.popFirst() {
    switch flag {
    case "--help", "-h":
        print(usage)
        exit(0)
    case "--enumerator-only": enumeratorOnly = true
    case "--dump-order": dumpLimit = value(flag, arguments.popFirst(), { Int($0) }, valid: { $0 > 0 })
    case "--round-size": settings.roundSize = value(flag, arguments.popFirst(), { Int($0) }, valid: { $0 > 0 })
    case "--heldout": settings.heldoutSize = value(flag, arguments.popFirst(), { Int($0) }, valid: { $0 > 0 })
    case "--budget": settings.budget = value(flag, arguments.popFirst(), { Int($0) }, valid: { $0 > 0 })
    case "--difficulty":
        settings.difficulty = value(flag, arguments.popFirst(), { Int($0) }, valid: { (1...5).contains($0) })
    case "--pseudocount":
        settings.pseudocount = value(flag, arguments.popFirst(), { Double($0) }, valid: { $0 > 0 && $0.isFinite })
    case "--rounds": settings.rounds = value(flag, arguments.popFirst(), { Int($0) }, valid: { $0 > 0 })
    case "--seed": settings.seed = value(flag, arguments.popFirst(), { UInt64($0) }, valid: { _ in true })
    case "--workers": settings.workers = value(flag, arguments.popFirst(), { Int($0) }, valid: { $0 > 0 })
    default: fail("unknown flag \(flag)")
    }
}

if let limit = dumpLimit {
    // Fixed grammars and tasks, independent of the other flags, so that two builds' dumps can be compared.
    let learnedSmall = Grammar.fit(
        programs: (UInt64(0)..<50).map { ListFnGenerator.task(seed: $0, difficulty: 4).program })
    let learnedLarge = Grammar.fit(
        programs: (UInt64(100)..<400).map { ListFnGenerator.task(seed: $0, difficulty: 5).program })
    var out = ""
    for (g, grammar) in [Grammar.initial, learnedSmall, learnedLarge].enumerated() {
        for request in [ListFnType.list, .int] {
            let order = ListFnSolver(grammar: grammar, budget: 1).enumerate(request: request, limit: limit)
            for (k, c) in order.enumerated() {
                out += "E \(g) \(request) \(k) \(c.program) \(c.logProbability.bitPattern)\n"
            }
        }
        let solver = ListFnSolver(grammar: grammar, budget: 5000)
        for seed in UInt64(0)..<300 {
            let s = solver.solve(prompt: ListFnGenerator.task(seed: seed, difficulty: 5).prompt)
            out += "S \(g) \(seed) \(s.program ?? "-") \(s.candidatesTried)\n"
        }
    }
    FileHandle.standardOutput.write(Data(out.utf8))
    exit(0)
}

@Sendable func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

/// What the checker does: run the answer on every hidden pair.
func accepts(_ task: ListFnTask, _ answer: String?) -> Bool {
    guard let answer, let program = try? ListFnProgram(parsing: answer),
        let hidden = try? PromptFormat.examples(inReferenceJSON: task.referenceJSON)
    else { return false }
    return program.fits(hidden)
}

final class Counter: @unchecked Sendable {
    // Guarded by `lock`.
    private let lock = NSLock()
    private var value = 0
    func add(_ n: Int) {
        lock.lock()
        value += n
        lock.unlock()
    }
    var total: Int {
        lock.lock()
        defer { lock.unlock() }
        return value
    }
}

struct Experiment: Sendable {
    let settings: Settings
    let candidates = Counter()
    /// Microseconds spent solving.
    let solveTime = Counter()

    /// Solves every task with `workers` threads; returns accept decisions and accepted answers.
    func solveAll(_ tasks: [ListFnTask], grammar: Grammar) -> [String?] {
        let solver = ListFnSolver(grammar: grammar, budget: settings.budget)
        let start = now()
        let results = UnsafeMutableBufferPointer<String?>.allocate(capacity: tasks.count)
        results.initialize(repeating: nil)
        nonisolated(unsafe) let shared = results
        let workers = settings.workers
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            var tried = 0
            for i in stride(from: w, to: tasks.count, by: workers) {
                let s = solver.solve(prompt: tasks[i].prompt)
                tried += s.candidatesTried
                // Each index is written by exactly one worker.
                shared[i] = accepts(tasks[i], s.program) ? s.program : nil
            }
            candidates.add(tried)
        }
        solveTime.add(Int((now() - start) * 1e6))
        let out = Array(results)
        results.deallocate()
        return out
    }

    /// Two-sided exact McNemar p-value: binomial(b + c, 1/2) tail at min(b, c), doubled.
    static func mcnemar(b: Int, c: Int) -> Double {
        let n = b + c
        guard n > 0 else { return 1 }
        var tail = 0.0
        for i in 0...min(b, c) {
            tail += exp(lgamma(Double(n + 1)) - lgamma(Double(i + 1)) - lgamma(Double(n - i + 1)) - Double(n) * log(2))
        }
        return min(1, 2 * tail)
    }

    var heldout: [ListFnTask] {
        (0..<settings.heldoutSize).map {
            ListFnGenerator.task(
                seed: SplitMix64.mix(settings.seed, 0xFFFF_FFFF, UInt64($0)), difficulty: settings.difficulty)
        }
    }

    func run(learning: Bool) -> (curve: [Double], grammar: Grammar) {
        let heldout = self.heldout
        let heldoutPrompts = Set(heldout.map(\.prompt))
        print("learning \(learning ? "on" : "off")")
        print("round  train-accepted  heldout  solve-rate      b    c  p-value   verdict")
        var grammar = Grammar.initial
        var accepted: [String] = []
        var previous = solveAll(heldout, grammar: grammar).map { $0 != nil }
        var curve = [Double(previous.filter { $0 }.count) / Double(heldout.count)]
        print(String(format: "%5d  %14@  %7d  %10.3f", 0, "-", heldout.count, curve[0]))
        for round in 1...settings.rounds {
            var train: [ListFnTask] = []
            var index: UInt64 = 0
            while train.count < settings.roundSize {
                let t = ListFnGenerator.task(
                    seed: SplitMix64.mix(settings.seed, UInt64(round), index), difficulty: settings.difficulty)
                index += 1
                // Decontamination: a training task identical to a held-out one is dropped.
                if !heldoutPrompts.contains(t.prompt) { train.append(t) }
            }
            let answers = solveAll(train, grammar: grammar).compactMap { $0 }
            accepted += answers
            if learning { grammar = Grammar.fit(programs: accepted, pseudocount: settings.pseudocount) }
            let passed = solveAll(heldout, grammar: grammar).map { $0 != nil }
            let b = zip(previous, passed).filter { $0 && !$1 }.count
            let c = zip(previous, passed).filter { !$0 && $1 }.count
            let p = Self.mcnemar(b: b, c: c)
            let rate = Double(passed.filter { $0 }.count) / Double(heldout.count)
            let verdict = p < 0.05 ? (c > b ? "improved" : "regressed") : "no-change"
            print(
                String(
                    format: "%5d  %7d/%-6d  %7d  %10.3f  %5d %4d  %7.2g   %@", round, answers.count,
                    train.count, heldout.count, rate, b, c, p, verdict))
            curve.append(rate)
            previous = passed
        }
        return (curve, grammar)
    }

}

/// Enumerator throughput on one worker, on held-out prompts that the initial grammar mostly cannot solve.
func enumeratorThroughput(_ settings: Settings) -> String {
    let probe = (0..<100).map {
        ListFnGenerator.task(
            seed: SplitMix64.mix(settings.seed, 0xFFFF_FFFF, UInt64($0)), difficulty: settings.difficulty)
    }
    let probeSolver = ListFnSolver(grammar: .initial, budget: 50_000)
    let probeStart = now()
    let probeCandidates = probe.reduce(0) { $0 + probeSolver.solve(prompt: $1.prompt).candidatesTried }
    let probeSeconds = now() - probeStart
    return String(
        format:
            "enumerator, 1 worker, budget 50000 on 100 held-out prompts: %d candidates in %.2f s = %.2f M candidates/s",
        probeCandidates, probeSeconds, Double(probeCandidates) / probeSeconds / 1e6)
}

if enumeratorOnly {
    print(enumeratorThroughput(settings))
    exit(0)
}

print(
    "settings: roundSize=\(settings.roundSize) heldout=\(settings.heldoutSize) budget=\(settings.budget) "
        + "difficulty=\(settings.difficulty) pseudocount=\(settings.pseudocount) rounds=\(settings.rounds) "
        + "seed=\(settings.seed) workers=\(settings.workers)")
let experiment = Experiment(settings: settings)
let onStart = now()
let (on, learned) = experiment.run(learning: true)
let onSeconds = now() - onStart
let onCandidates = experiment.candidates.total
let onSolveSeconds = Double(experiment.solveTime.total) / 1e6
let offStart = now()
let (off, _) = experiment.run(learning: false)
let offSeconds = now() - offStart

print("\nlog-probability of some programs: initial grammar, round-\(settings.rounds) grammar, generator's true grammar")
for program in [
    "(map (lambda (* $0 2)) $in)", "(sum (filter (lambda (> $0 3)) $in))", "(max (map (lambda (+ $0 1)) $in))",
    "(filter (lambda (== (mod $0 2) 0)) $in)", "(reverse (sort $in))",
] {
    let row = [Grammar.initial, learned, ListFnGenerator.trueGrammar].map {
        String(format: "%7.2f", $0.logProbability(of: program)!)
    }
    print("  " + row.joined(separator: " ") + "  " + program)
}

print("")
print(
    String(
        format: "held-out solve rate, round 0 -> %d: learning on %.3f -> %.3f (%+.1f points), off %.3f -> %.3f",
        settings.rounds, on.first!, on.last!, 100 * (on.last! - on.first!), off.first!, off.last!))
print(
    String(
        format: "wall time of the %d-round run (generate, solve, check, fit, evaluate): learning on %.1f s, off %.1f s",
        settings.rounds, onSeconds, offSeconds))
print(
    String(
        format: "enumerator, %d workers, in the run: %d candidates in %.1f s = %.2f M candidates/s",
        settings.workers, onCandidates, onSolveSeconds, Double(onCandidates) / onSolveSeconds / 1e6))
print(enumeratorThroughput(settings))
