extension RoundEngine {
    /// The checker audit: the auditor judges again a share of the round's training verdicts, each chosen by its own
    /// derived seed (so a resumed round audits the same ones, and skips those already audited).
    func auditVerdicts(round: Int) async throws {
        guard let auditor = plugins.auditor, settings.auditFraction > 0 else { return }
        let fingerprint = CheckerFingerprint(of: auditor)
        let chosen = try store.auditCandidates(round: round).filter { candidate in
            let seed = Seeds.derive(settings.seed, "audit", "\(round)", "\(candidate.taskIndex)", "\(candidate.attempt)")
            return Double(seed) / Double(1 << 53) < settings.auditFraction  // derived seeds are below 2^53
        }
        guard !chosen.isEmpty else { return }
        try await forEachBounded(chosen.indices, width: settings.parallelism) { [self] position in
            let candidate = chosen[position]
            let judged = await auditor.check(
                id: "r\(round)-a\(candidate.taskIndex)-\(candidate.attempt)", task: candidate.task,
                answer: candidate.answer)
            try store.insertAudit(attemptID: candidate.attemptID, auditor: fingerprint, result: try requireStarted(judged))
        }
        let summary = AuditSummary(try store.audits(round: round))
        log.event(
            "audit.done",
            [("round", round), ("checked", summary.checked), ("agreed", summary.agreed), ("errors", summary.errors)])
    }
}
