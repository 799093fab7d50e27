import FlywheelCore
import Foundation
import Testing

@Suite("Faulty checkers")
struct FaultyCheckerTests {
    /// A fault of faulty_check.py, injected on answers n with n % every == 0, and how Flywheel must record it.
    struct Fault: Sendable, CustomTestStringConvertible {
        var mode: String
        var errorKind: String
        var every = 3
        var checkerOptions: [String] = []

        var testDescription: String { "\(mode) → \(errorKind)" }
    }

    static let faults = [
        // Every hang costs the 1 s timeout, so fewer of them.
        Fault(mode: "hang", errorKind: "timeout", every: 7, checkerOptions: ["timeout: 1"]),
        Fault(mode: "crash", errorKind: "crash"),
        Fault(mode: "garbage", errorKind: "malformed"),
        Fault(mode: "wrongid", errorKind: "wrong-id"),
        Fault(mode: "bigline", errorKind: "too-large", checkerOptions: ["max_response_bytes: 65536"]),
        Fault(mode: "error", errorKind: "refused"),
    ]

    @Test(
        "a faulty checker: the run completes, exactly the targeted items get the error, no error is accepted",
        arguments: faults)
    func faultyChecker(_ fault: Fault) async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        var arith = ArithPipeline()
        arith.roundSize = 30
        arith.heldoutSize = 20
        arith.checker = Repository.python("faulty_check.py", "--mode", fault.mode, "--every", "\(fault.every)")
        arith.checkerOptions = fault.checkerOptions
        let pipeline = try sandbox.write(arith)
        let run = try await sandbox.flywheel(["run", pipeline, "--rounds", "1", "--store", sandbox.store])
        #expect(run.exitCode == 0, "\(run)")

        let kinds = try await sandbox.sql(
            "select coalesce(error_kind, 'none') || '=' || count(*) from verdicts group by error_kind order by 1")
        let counts = Dictionary(
            uniqueKeysWithValues: kinds.split(separator: "\n").map { line in
                let parts = line.split(separator: "=")
                return (String(parts[0]), Int(parts[1]) ?? -1)
            })
        #expect(Set(counts.keys) == ["none", fault.errorKind], "verdicts by error_kind: \(kinds)")
        #expect((counts["none"] ?? 0) > 0)
        #expect((counts[fault.errorKind] ?? 0) > 0)

        // The checker fails exactly on the answers it targets, in training and in held-out evaluation alike.
        let target = "(cast(answer as integer) % \(fault.every) = 0)"
        let answers = """
            select 'train', a.answer, v.error_kind, v.error from verdicts v join attempts a on a.id = v.attempt_id
            """
        let heldout = try sandbox.heldoutResults().map(\.result)
        #expect(!heldout.isEmpty)
        /// Whether a held-out answer is targeted, as `target` decides it in SQL (nil: no answer, neither targeted
        /// nor untargeted).
        func targeted(_ answer: String?) -> Bool? {
            answer.map { Self.sqliteInteger($0) % Int64(fault.every) == 0 }
        }
        func line(_ result: StoredHeldoutResult) -> String {
            "held-out|\(result.answer ?? "")|\(result.errorKind ?? "")|\(result.error ?? "")"
        }
        let untouched =
            try await sandbox.sql(
                "select * from (\(answers)) where \(target) and coalesce(error_kind, '') != '\(fault.errorKind)'")
            + heldout.filter { targeted($0.answer) == true && $0.errorKind != fault.errorKind }.map(line)
            .joined(separator: "\n")
        #expect(untouched.isEmpty, "targeted answers not recorded as \(fault.errorKind):\n\(untouched)")
        let spurious =
            try await sandbox.sql("select * from (\(answers)) where not \(target) and error_kind is not null")
            + heldout.filter { targeted($0.answer) == false && $0.errorKind != nil }.map(line).joined(separator: "\n")
        #expect(spurious.isEmpty, "answers that were not targeted but got an error:\n\(spurious)")

        // Errors are never accepted, and the other items still get verdicts and examples.
        #expect(
            try await sandbox.sqlInt("select count(*) from verdicts where error_kind is not null and accept != 0") == 0)
        #expect(heldout.count { $0.errorKind != nil && ($0.accept || $0.score != 0) } == 0)
        let tainted = try await sandbox.sqlInt(
            """
            select count(*) from examples e join verdicts v on v.attempt_id = e.attempt_id
            where v.error_kind is not null or v.accept = 0
            """)
        #expect(tainted == 0, "examples stored from an erroneous or rejecting verdict")
        #expect(
            try await sandbox.sqlInt("select count(*) from examples")
                == (try await sandbox.sqlInt("select count(*) from verdicts where accept = 1")))

        let (status, _) = try await sandbox.status(pipeline)
        try #require(status.rounds.map(\.round) == [0, 1])
        let round = status.rounds[1]
        #expect(["promoted", "rejected"].contains(round.state))
        #expect(round.accepted > 0)
        let errors = try await sandbox.sqlInt(
            """
            select count(*) from verdicts v join attempts a on a.id = v.attempt_id join tasks t on t.id = a.task_id
            where t.round = 1 and v.error_kind is not null
            """)
        #expect(round.errors == errors, "status errors \(String(describing: round.errors)), verdict errors \(errors)")

        let verify = try await sandbox.flywheel(["verify-store", pipeline, "--store", sandbox.store])
        #expect(verify.exitCode == 0, "\(verify)")
    }

    @Test("a worker slower to start than the request timeout still gets to answer")
    func slowStartingWorker() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        var arith = ArithPipeline()
        arith.heldoutSize = 3
        arith.checker = ["sh", "-c", "sleep 1.5; exec python3 -u \"$0\"", Repository.plugin("exact_check.py")]
        arith.checkerWorkers = 1
        arith.checkerOptions = ["timeout: 1"]
        let pipeline = try sandbox.write(arith)
        // `round` on a fresh store runs just the baseline: three held-out checks, each well under a second.
        let run = try await sandbox.flywheel(["round", pipeline, "--store", sandbox.store])
        #expect(run.exitCode == 0, "\(run)")
        let results = try sandbox.heldoutResults()
        #expect(!results.isEmpty)
        let errors = results.filter { $0.result.errorKind != nil }.map { "\($0.result.index) \($0.result.error ?? "")" }
        #expect(errors.isEmpty, "\(errors)")
    }

    /// `CAST(text AS INTEGER)` as SQLite does it: the leading integer, 0 when there is none.
    static func sqliteInteger(_ text: String) -> Int64 {
        var digits = Substring(text.drop { $0 == " " || $0 == "\t" || $0 == "\n" })
        var sign: Int64 = 1
        if let first = digits.first, first == "-" || first == "+" {
            sign = first == "-" ? -1 : 1
            digits = digits.dropFirst()
        }
        return sign * (Int64(digits.prefix { $0.isASCII && $0.isNumber }.prefix(18)) ?? 0)
    }
}
