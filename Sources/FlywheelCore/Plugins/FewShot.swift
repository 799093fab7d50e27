import Foundation

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
            // The last `poolLimit` distinct examples, in their order: read from the end, stopping once there are
            // enough, so that learning from a long history costs the pool, not the history.
            var seen = Set<[String]>()
            var distinct: [Example] = []
            for example in examples.reversed() where seen.insert([example.prompt, example.answer]).inserted {
                distinct.append(example)
                if distinct.count == FewShot.poolLimit { break }
            }
            self.init(examples: distinct.reversed(), model: model)
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

    /// A few-shot state as the store keeps it, read with the project's JSON reader: the pool's examples carry free-form
    /// `meta`, which `JSONDecoder` reaches through a chain of failed attempts per value (a 256-example pool took some
    /// 3 ms, three times a round). Accepts what the `Codable` conformance accepts; unknown keys are ignored as there.
    /// - Throws: `JSONTextError` for text that is not JSON, `DecodingError` for JSON of another shape.
    public static func decodeStored(_ stored: Data) throws -> State {
        func mismatch(_ what: String, _ path: String) -> DecodingError {
            DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "\(path): expected \(what)"))
        }
        func string(_ value: JSONValue?, _ path: String) throws -> String {
            guard case .string(let text) = value else { throw mismatch("a string", path) }
            return text
        }
        guard case .object(let fields) = try JSONValue.parse(stored) else { throw mismatch("an object", "state") }
        guard case .array(let items) = fields["examples"] ?? .null else {
            throw mismatch("an array", "state.examples")
        }
        let examples = try items.enumerated().map { index, item in
            let path = "state.examples[\(index)]"
            guard case .object(let example) = item else { throw mismatch("an object", path) }
            let meta = example["meta"]
            return Example(
                prompt: try string(example["prompt"], path + ".prompt"),
                answer: try string(example["answer"], path + ".answer"), meta: meta == .null ? nil : meta)
        }
        var state = State(examples: examples)
        switch fields["model"] {
        case nil, .null?: break
        case let model?: state.model = try string(model, "state.model")
        }
        switch fields["weights"] {
        case nil, .null?: break
        case .object(let weights)?:
            state.weights = ModelFile(
                path: try string(weights["path"], "state.weights.path"),
                sha256: try string(weights["sha256"], "state.weights.sha256"))
        default: throw mismatch("an object", "state.weights")
        }
        if let absorbed = fields["absorbed"], absorbed != .null {
            guard case .number(let count) = absorbed, let integer = JSONValue.exactInteger(count) else {
                throw mismatch("an integer", "state.absorbed")
            }
            state.absorbed = Int(integer)
        }
        return state
    }

    /// A version's pool ready for selection: each example's family, difficulty and prompt hash read once.
    public struct Index: Sendable {
        public let model: String?
        public let weights: ModelFile?
        private let entries: [Entry]

        private struct Entry: Sendable {
            var example: Example
            var family: String?
            var difficulty: Double?
            /// The prompt's FNV-1a hash, and its key in the pair hash (`pairHash`): computed once for every task
            /// the entry is ranked for.
            var promptHash: UInt64
            var promptKey: UInt64
        }

        public init(_ state: State) {
            model = state.model
            weights = state.weights
            entries = state.examples.map {
                let promptHash = StableHash.fnv1a64($0.prompt.utf8)
                return Entry(
                    example: $0, family: $0.meta?["family"]?.stringValue,
                    difficulty: $0.meta?["difficulty"]?.doubleValue, promptHash: promptHash,
                    promptKey: Seeds.mix(promptHash))
            }
        }

        /// `k` examples for `task`: same family first, then nearest difficulty, then a stable hash of the pair (so
        /// the choice is deterministic yet differs between tasks), ties in pool order. Never the task itself.
        public func select(for task: TaskSpec, k: Int) -> [Example] {
            guard k > 0, !entries.isEmpty else { return [] }
            let family = task.meta?["family"]?.stringValue
            let difficulty = task.meta?["difficulty"]?.doubleValue
            let taskHash = StableHash.fnv1a64(task.prompt.utf8)
            // The best `k` so far, best first; a later entry displaces one only when strictly better, so ties keep
            // pool order, as a stable sort of the whole pool would.
            var best: [(rank: (Int, Double, UInt64), entry: Int)] = []
            best.reserveCapacity(k + 1)
            for (position, entry) in entries.enumerated()
            where entry.promptHash != taskHash || entry.example.prompt != task.prompt {
                var distance = 0.0
                if let difficulty { distance = entry.difficulty.map { abs($0 - difficulty) } ?? .infinity }
                let rank = (
                    family != nil && entry.family == family ? 0 : 1, distance,
                    Self.pairHash(task: taskHash, example: entry.promptKey)
                )
                if best.count == k, !(rank < best[k - 1].rank) { continue }
                var slot = best.count
                while slot > 0, rank < best[slot - 1].rank { slot -= 1 }
                best.insert((rank, position), at: slot)
                if best.count > k { best.removeLast() }
            }
            return best.map { entries[$0.entry].example }
        }

        /// The tie-break between examples equally near a task: SplitMix64's finaliser of the task prompt's FNV-1a
        /// hash xor the example's key, the finaliser of its prompt's FNV-1a hash. Deterministic, different for every
        /// task, and one step per example at selection time (hashing the pair's bytes took a pass over every pool
        /// prompt per task: 3% of the CPU of a 3,000-item round against a full pool).
        static func pairHash(task: UInt64, example: UInt64) -> UInt64 { Seeds.mix(task ^ example) }
    }
}

extension Solver where State == FewShot.State {
    public func decodeState(_ stored: Data) throws -> State { try FewShot.decodeStored(stored) }
}
