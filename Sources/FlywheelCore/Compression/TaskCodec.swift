import Foundation

/// Turns a task's prompt, reference and meta into the one zstd frame the store keeps per task row and back; the
/// only place that decides how task text is encoded.
///
/// The frame holds `{"meta":…,"prompt":…,"reference":…}` (sorted keys, absent fields left out): the same shape as a
/// stored example's JSON, so a dictionary trained on held-out tasks also serves examples.
public enum TaskCodec {
    /// The task's JSON before compression: what a dictionary is trained on.
    public static func plain(_ task: TaskSpec) -> Data {
        var fields: [String: JSONValue] = ["prompt": .string(task.prompt)]
        fields["reference"] = task.reference
        fields["meta"] = task.meta
        return JSONValue.object(fields).encoded()
    }

    /// - Parameters:
    ///   - plain: the task's `plain` text, when the caller has it already.
    ///   - dictionary: the store row names it, so the frame does not.
    public static func compress(_ task: TaskSpec, plain text: Data? = nil, dictionary: Zstd.Dictionary?) throws
        -> Data
    {
        try Zstd.compress(text ?? plain(task), dictionary: dictionary, namesDictionary: false)
    }

    /// - Throws: `FlywheelError(.corruptStore)` saying what is wrong when the frame does not decompress (damaged, or
    ///   compressed with another dictionary) or does not hold a task.
    public static func decompress(_ frame: Data, dictionary: Zstd.Dictionary?) throws -> TaskSpec {
        try task(plain: Zstd.decompress(frame, dictionary: dictionary))
    }

    /// The task whose `plain` text `text` is.
    /// - Throws: `FlywheelError(.corruptStore)` when `text` is not a task's JSON with a prompt.
    public static func task(plain text: Data) throws -> TaskSpec {
        guard case .object(let fields)? = try? JSONValue.parse(text), case .string(let prompt)? = fields["prompt"]
        else {
            throw FlywheelError(.corruptStore, "the frame does not hold a task's JSON with a prompt")
        }
        return TaskSpec(prompt: prompt, reference: fields["reference"], meta: fields["meta"])
    }

    /// Trains a dictionary on the JSON of up to `ExampleCodec.dictionarySampleLimit` tasks; nil when ZDICT declines
    /// (too few or too uniform samples).
    public static func trainDictionary(on tasks: [TaskSpec]) -> Data? {
        let samples = tasks.prefix(ExampleCodec.dictionarySampleLimit).map(plain)
        return try? Zstd.trainDictionary(samples: Array(samples), capacity: ExampleCodec.dictionaryCapacity)
    }
}
