/// Few-shot learning shared by the external and OpenAI-compatible solvers: a version carries a pool of accepted
/// examples, and each task is shown the `k` most relevant of them.
public enum FewShot {
    /// Examples a version's pool keeps: the most recent ones, in store order.
    public static let poolLimit = 256

    /// A few-shot solver version's state: `{"examples": [{prompt, answer, meta?}], "model"?, "weights"?}`.
    public struct State: Codable, Sendable, Equatable {
        public var examples: [Example]
        /// The model a `train` command made for this version; nil means the configured model.
        public var model: String?
        /// The model file weight-level learning made for this version; nil means the base model.
        public var weights: ModelFile?
        /// How many examples learning gave this state, whose pool is the last `poolLimit` of them: what learning
        /// from more needs (`adding(_:to:)`). Nil in a state stored before it was kept.
        public var absorbed: Int?

        public init(examples: [Example] = [], model: String? = nil, weights: ModelFile? = nil) {
            self.examples = examples
            self.model = model
            self.weights = weights
        }

        /// The state learning makes: the last `poolLimit` of the examples learning may see, each prompt and answer
        /// once (several accepted attempts at a task can answer it alike).
        public init(learningFrom examples: [Example], model: String? = nil) {
            var seen = Set<[String]>()
            let distinct = examples.reversed().filter { seen.insert([$0.prompt, $0.answer]).inserted }.reversed()
            self.init(examples: Array(distinct.suffix(FewShot.poolLimit)), model: model)
            absorbed = examples.count
        }

        /// The state `init(learningFrom: E + more)` makes, where `previous` was learned from `E`: the same pool, as
        /// long as no example of `more` repeats one of `E` (admission drops a prompt seen in an earlier round).
        public static func adding(_ more: [Example], to previous: State) throws -> State {
            guard let absorbed = previous.absorbed else {
                throw FlywheelError(.runFailed, "the promoted few-shot version keeps no count to add to")
            }
            var state = State(learningFrom: previous.examples + more, model: previous.model)
            state.weights = previous.weights
            state.absorbed = absorbed + more.count
            return state
        }
    }

    /// A version's pool ready for selection: each example's family and difficulty read once.
    public struct Index: Sendable {
        public let model: String?
        public let weights: ModelFile?
        private let entries: [(example: Example, family: String?, difficulty: Double?)]

        public init(_ state: State) {
            model = state.model
            weights = state.weights
            entries = state.examples.map {
                ($0, $0.meta?["family"]?.stringValue, $0.meta?["difficulty"]?.doubleValue)
            }
        }

        /// `k` examples for `task`: same family first, then nearest difficulty, then a stable hash of the pair (so
        /// the choice is deterministic yet differs between tasks). Never the task itself.
        public func select(for task: TaskSpec, k: Int) -> [Example] {
            guard k > 0, !entries.isEmpty else { return [] }
            let family = task.meta?["family"]?.stringValue
            let difficulty = task.meta?["difficulty"]?.doubleValue
            let prompt = Array(task.prompt.utf8) + [0]
            func rank(_ entry: (example: Example, family: String?, difficulty: Double?)) -> (Int, Double, UInt64) {
                let sameFamily = family != nil && entry.family == family ? 0 : 1
                var distance = 0.0
                if let difficulty { distance = entry.difficulty.map { abs($0 - difficulty) } ?? .infinity }
                return (sameFamily, distance, StableHash.fnv1a64(prompt + Array(entry.example.prompt.utf8)))
            }
            return entries.filter { $0.example.prompt != task.prompt }.map { (rank($0), $0.example) }
                .sorted { $0.0 < $1.0 }.prefix(k).map(\.1)
        }
    }
}
