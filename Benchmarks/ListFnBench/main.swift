import Dispatch
import Foundation
import ListFn

/// The flywheel experiment for the listfn pipeline, exactly as the round engine runs it, with learning on and
/// off, plus enumerator throughput. Usage: listfn-bench [--round-size N] [--heldout N] [--budget N]
/// [--difficulty N] [--pseudocount X] [--rounds N] [--seed N] [--workers N]
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

var settings = Settings()
var arguments = CommandLine.arguments.dropFirst()
while let flag = arguments.popFirst() {
    guard let value = arguments.popFirst() else { fatalError("missing value for \(flag)") }
    switch flag {
    case "--round-size": settings.roundSize = Int(value)!
    case "--heldout": settings.heldoutSize = Int(value)!
    case "--budget": settings.budget = Int(value)!
    case "--difficulty": settings.difficulty = Int(value)!
    case "--pseudocount": settings.pseudocount = Double(value)!
    case "--rounds": settings.rounds = Int(value)!
    case "--seed": settings.seed = UInt64(value)!
    case "--workers": settings.workers = Int(value)!
    default: fatalError("unknown flag \(flag)")
    }
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

// Enumerator throughput on one worker, on held-out prompts that the initial grammar mostly cannot solve.
let probe = (0..<100).map {
    ListFnGenerator.task(seed: SplitMix64.mix(settings.seed, 0xFFFF_FFFF, UInt64($0)), difficulty: settings.difficulty)
}
let probeSolver = ListFnSolver(grammar: .initial, budget: 50_000)
let probeStart = now()
let probeCandidates = probe.reduce(0) { $0 + probeSolver.solve(prompt: $1.prompt).candidatesTried }
let probeSeconds = now() - probeStart

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
print(
    String(
        format:
            "enumerator, 1 worker, budget 50000 on 100 held-out prompts: %d candidates in %.1f s = %.2f M candidates/s",
        probeCandidates, probeSeconds, Double(probeCandidates) / probeSeconds / 1e6))
