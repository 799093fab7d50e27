/// Decides each generated task's fate, one task at a time in index order: kept, an exact duplicate of an earlier
/// task (by normalised prompt), contaminated (it overlaps the held-out set), or a generator error.
///
/// The same rules serve the held-out set (no contamination index: it *is* the held-out set) and training rounds.
public struct TaskAdmission: Sendable {
    /// What admission decided for one task, as the store records it.
    public struct Decision: Sendable, Equatable {
        public var status: TaskStatus
        /// The normalised prompt's hash; nil when the generator failed.
        public var promptHash: String?
        /// How it overlapped the held-out set (`exact`, `embedded`, `N-gram` or `near-copy`), when it did.
        public var contamination: String?
    }

    private var seen: Set<PromptKey>
    private let contamination: ContaminationIndex?

    /// - Parameters:
    ///   - seen: hashes of every task admitted before this one (earlier rounds, earlier indices of this one).
    ///   - contamination: the held-out set's index; nil when admitting the held-out set itself.
    public init(seen: Set<PromptKey>, contamination: ContaminationIndex?) {
        self.seen = seen
        self.contamination = contamination
    }

    /// Decides `result`'s fate and remembers its prompt, so a later copy of it is a duplicate.
    public mutating func admit(_ result: Result<TaskSpec, PluginFailure>) -> Decision {
        guard case .success(let task) = result else {
            return Decision(status: .error, promptHash: nil, contamination: nil)
        }
        let normalized = PromptNormalizer.normalize(task.prompt)
        let (hash, key) = PromptNormalizer.hash(normalized: normalized)
        let fresh = seen.insert(key).inserted
        if let found = contamination?.check(normalized: normalized) {
            let finding =
                switch found {
                case .exactCopy: "exact"
                case .embeddedCopy: "embedded"
                case .sharedNGram(let n): "\(n)-gram"
                case .nearCopy: "near-copy"
                }
            return Decision(status: .contaminated, promptHash: hash, contamination: finding)
        }
        return Decision(status: fresh ? .kept : .duplicate, promptHash: hash, contamination: nil)
    }
}
