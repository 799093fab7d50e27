import Foundation

/// A checker as verdicts record it: the command that names it in lineage and the fingerprint of what it runs.
public struct CheckerFingerprint: Sendable, Equatable, Hashable, Codable {
    public var identity: String
    public var fingerprint: String

    public init(identity: String, fingerprint: String) {
        self.identity = identity
        self.fingerprint = fingerprint
    }

    public init(of checker: any Checker) {
        self.init(identity: checker.identity, fingerprint: checker.fingerprint)
    }
}

/// One `flywheel reverify`: every stored accepted example checked again with one checker.
public struct Reverification: Sendable, Equatable, Codable {
    public var id: Int64
    public var checker: CheckerFingerprint
    public var startedAt: String
    /// Nil when the run stopped before it had checked every example.
    public var finishedAt: String?
    /// Examples this run judged (check errors not included).
    public var checked: Int
    /// Examples this run judged and rejected: flipped from then on.
    public var flipped: Int
    /// Examples this run could not judge (the checker failed on them); they keep their earlier standing.
    public var errors: Int
}

/// A `flywheel rollback`: from then on, until a later round promotes a candidate, `toVersion` is the promoted one.
public struct RollbackEvent: Sendable, Equatable, Codable {
    public var id: Int64
    public var at: String
    /// The last round when the rollback was made.
    public var afterRound: Int
    public var fromVersion: Int64
    public var fromRound: Int
    public var toVersion: Int64
    public var toRound: Int
}
