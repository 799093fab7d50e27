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
