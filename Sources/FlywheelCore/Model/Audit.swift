/// A training verdict a second checker may judge again: the checker audit.
public struct AuditCandidate: Sendable, Equatable {
    public var attemptID: Int64
    public var taskIndex: Int
    public var attempt: Int
    public var task: TaskSpec
    public var answer: String
    /// The pipeline checker's verdict.
    public var accept: Bool
}

/// One audited verdict: the pipeline checker's judgement beside the auditor's.
public struct AuditedVerdict: Sendable, Equatable, Codable {
    public var taskIndex: Int
    public var attempt: Int
    public var prompt: String
    public var answer: String
    public var checkerAccepted: Bool
    /// Nil when the auditor failed on it (then it counts neither as agreement nor as disagreement).
    public var auditAccepted: Bool?
    public var auditReason: String?
}

/// A round's checker audit: how often the second checker agreed, and where it did not.
public struct AuditSummary: Sendable, Equatable, Codable {
    /// Verdicts the auditor judged (its failures aside).
    public var checked: Int
    public var agreed: Int
    /// The auditor's failures.
    public var errors: Int
    public var disagreements: [AuditedVerdict]

    public var agreement: Double? { checked == 0 ? nil : Double(agreed) / Double(checked) }

    public init(_ audited: [AuditedVerdict]) {
        let judged = audited.filter { $0.auditAccepted != nil }
        checked = judged.count
        disagreements = judged.filter { $0.auditAccepted != $0.checkerAccepted }
        agreed = checked - disagreements.count
        errors = audited.count - checked
    }
}
