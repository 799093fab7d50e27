import Foundation
import Testing

/// The checker audit through the real binary: a second checker judges sampled training verdicts again, and the
/// report shows where it disagreed.
@Suite("Checker audit", .serialized)
struct CheckerAuditTests {
    func run(fraction: Double) async throws -> (status: [[String: Any]], report: [String: Any], rejected: Int, judged: Int) {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        var arith = ArithPipeline()
        // The auditor accepts everything: it agrees with every acceptance and disagrees with every rejection.
        arith.audit(Repository.python("echo_check.py"), fraction: fraction)
        let file = try sandbox.write(arith)
        let run = try await sandbox.flywheel(["run", file, "--rounds", "1", "--store", sandbox.store])
        try #require(run.exitCode == 0, "\(run)")
        let (_, raw) = try await sandbox.status(file)
        let report = sandbox.path("report.json")
        let made = try await sandbox.flywheel(["report", file, "--store", sandbox.store, "--out", report])
        try #require(made.exitCode == 0, "\(made)")
        let json = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: report))) as? [String: Any])
        let rejected = try await sandbox.sqlInt(
            """
            select count(*) from verdicts v join attempts a on a.id = v.attempt_id join tasks t on t.id = a.task_id
            where t.round = 1 and v.accept = 0 and v.error_kind is null
            """, store: sandbox.store)
        let judged = try await sandbox.sqlInt(
            """
            select count(*) from verdicts v join attempts a on a.id = v.attempt_id join tasks t on t.id = a.task_id
            where t.round = 1 and v.error_kind is null
            """, store: sandbox.store)
        return (try #require(raw["rounds"] as? [[String: Any]]), json, rejected, judged)
    }

    @Test("an accept-everything auditor disagrees with exactly the rejected verdicts, and the report lists them")
    func acceptEverythingAuditorShowsUp() async throws {
        let (status, report, rejected, judged) = try await run(fraction: 1)
        try #require(rejected > 0, "the arith solver makes mistakes at round 1")
        let audit = try #require(status[1]["audit"] as? [String: Int])
        #expect(audit["checked"] == judged)
        #expect(audit["agreed"] == judged - rejected)
        #expect(status[0]["audit"] == nil, "the baseline has no training verdicts")
        let rounds = try #require(report["rounds"] as? [[String: Any]])
        let listed = try #require((rounds[1]["audit"] as? [String: Any])?["disagreements"] as? [[String: Any]])
        #expect(listed.count == rejected)
        #expect(listed.allSatisfy { $0["checker_accepted"] as? Bool == false && $0["audit_accepted"] as? Bool == true })
    }

    @Test("a fraction audits a seeded share of the verdicts")
    func fractionSamples() async throws {
        let (status, _, _, judged) = try await run(fraction: 0.5)
        let audit = try #require(status[1]["audit"] as? [String: Int])
        let checked = try #require(audit["checked"])
        #expect(checked > judged / 5 && checked < judged * 4 / 5, "\(checked) of \(judged)")
        print("audit fraction 0.5: \(checked) of \(judged) verdicts")
    }
}
