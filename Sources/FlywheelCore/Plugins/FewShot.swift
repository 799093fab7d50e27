/// Few-shot learning shared by the external and OpenAI-compatible solvers: a version carries a pool of accepted
/// examples, and each task is shown the `k` most relevant of them.
public enum FewShot {
    /// Examples a version's pool keeps: the most recent ones, in store order.
    public static let poolLimit = 256

    /// The pool a new version carries: the last `poolLimit` of the examples learning may see.
    public static func pool(from examples: [Example]) -> [Example] {
        Array(examples.suffix(poolLimit))
    }

    /// `k` examples for `task`: same family first, then nearest difficulty, then a stable hash of the pair (so
    /// the choice is deterministic yet differs between tasks). Never the task itself.
    public static func select(_ pool: [Example], for task: TaskSpec, k: Int) -> [Example] {
        guard k > 0, !pool.isEmpty else { return [] }
        let family = task.meta?["family"]?.stringValue
        let difficulty = task.meta?["difficulty"]?.doubleValue
        func rank(_ example: Example) -> (Int, Double, UInt64) {
            let sameFamily = family != nil && example.meta?["family"]?.stringValue == family ? 0 : 1
            var distance = 0.0
            if let difficulty {
                distance = example.meta?["difficulty"]?.doubleValue.map { abs($0 - difficulty) } ?? .infinity
            }
            return (sameFamily, distance, StableHash.fnv1a64(Array((task.prompt + "\u{0}" + example.prompt).utf8)))
        }
        return pool.filter { $0.prompt != task.prompt }.map { (rank($0), $0) }
            .sorted { $0.0 < $1.0 }.prefix(k).map(\.1)
    }

    static func state(pool: [Example], model: String? = nil) -> JSONValue {
        var object: [String: JSONValue] = [
            "examples": .array(pool.map { example in
                var fields: [String: JSONValue] = ["prompt": .string(example.prompt), "answer": .string(example.answer)]
                if let meta = example.meta { fields["meta"] = meta }
                return .object(fields)
            })
        ]
        if let model { object["model"] = .string(model) }
        return .object(object)
    }

    /// The examples a version's state carries.
    public static func pool(in state: JSONValue) -> [Example] {
        (state["examples"]?.arrayValue ?? []).compactMap { value in
            guard let prompt = value["prompt"]?.stringValue, let answer = value["answer"]?.stringValue else {
                return nil
            }
            return Example(prompt: prompt, answer: answer, meta: value["meta"])
        }
    }
}
