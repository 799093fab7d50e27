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

    /// What admission finds in one generated task by itself, whatever came before it: its normalised prompt's hash
    /// and how it overlaps the held-out set.
    public struct Examination: Sendable {
        fileprivate var hash: String
        fileprivate var key: PromptKey
        fileprivate var contamination: String?
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

    /// The part of admission that does not depend on the tasks before `result` (normalising, hashing, checking
    /// against the held-out set, most of its cost), so that items in flight do it at once, each before its turn
    /// in index order; nil when the generator failed.
    /// - Parameter contamination: the index this admission was made with.
    public static func examine(_ result: Result<TaskSpec, PluginFailure>, against contamination: ContaminationIndex?)
        -> Examination?
    {
        guard case .success(let task) = result else { return nil }
        let normalized = PromptNormalizer.normalize(task.prompt)
        let (hash, key) = PromptNormalizer.hash(normalized: normalized)
        let finding: String? =
            switch contamination?.check(normalized: normalized) {
            case .exactCopy: "exact"
            case .embeddedCopy: "embedded"
            case .sharedNGram(let n): "\(n)-gram"
            case .nearCopy: "near-copy"
            case nil: nil
            }
        return Examination(hash: hash, key: key, contamination: finding)
    }

    /// Decides the fate of the task `examination` describes (nil: a generator error) and remembers its prompt, so
    /// that a later copy of it is a duplicate. Call in index order.
    public mutating func admit(_ examination: Examination?) -> Decision {
        guard let examination else { return Decision(status: .error, promptHash: nil, contamination: nil) }
        let fresh = seen.insert(examination.key).inserted
        if let finding = examination.contamination {
            return Decision(status: .contaminated, promptHash: examination.hash, contamination: finding)
        }
        return Decision(status: fresh ? .kept : .duplicate, promptHash: examination.hash, contamination: nil)
    }

    /// `examine` and `admit` in one, for a caller that admits its tasks one after another.
    public mutating func admit(_ result: Result<TaskSpec, PluginFailure>) -> Decision {
        admit(Self.examine(result, against: contamination))
    }
}
