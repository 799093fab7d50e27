import Foundation

/// Where an accepted or rejected answer came from: enough to find it again in the store and to reproduce it.
public struct ExampleLineage: Sendable, Equatable, Codable {
    public var round: Int
    public var taskIndex: Int
    /// The seed the generator was given for the task.
    public var taskSeed: UInt64
    public var attempt: Int
    /// The seed the solver was given for this attempt.
    public var attemptSeed: UInt64
    /// Id of the solver version that produced the answer.
    public var solverVersion: Int64
    /// The checker that judged it, as recorded with the verdict.
    public var checker: String
    /// Whether the solver was shown the task's answer as a hint (STaR's rationalization) before answering.
    public var rationalized = false
}

/// One checked answer with its task and the checker's judgement, as the report samples it.
public struct CheckedAnswer: Sendable, Equatable, Codable {
    public var lineage: ExampleLineage
    public var prompt: String
    public var answer: String
    public var accepted: Bool
    public var score: Double
    public var reason: String?
}

/// How one round's accepted examples are stored, per dictionary used.
public struct DictionaryUse: Sendable, Equatable, Codable {
    /// The store's dictionary id; nil for examples compressed without a dictionary.
    public var id: Int64?
    /// Whether these examples were compressed against their task's text instead of a dictionary.
    public var againstTask: Bool = false
    /// The id zstd writes into each frame.
    public var zstdID: Int64?
    public var trainedInRound: Int?
    public var trainingSamples: Int?
    public var examples: Int
    public var rawBytes: Int
    public var storedBytes: Int

    // "zstdId" so that the report's snake_case key strategies turn it into `zstd_id` and back.
    enum CodingKeys: String, CodingKey {
        case id
        case zstdID = "zstdId"
        case trainedInRound, trainingSamples, examples, rawBytes, storedBytes, againstTask
    }

    public init(
        id: Int64?, againstTask: Bool = false, zstdID: Int64?, trainedInRound: Int?, trainingSamples: Int?,
        examples: Int, rawBytes: Int, storedBytes: Int
    ) {
        self.id = id
        self.againstTask = againstTask
        self.zstdID = zstdID
        self.trainedInRound = trainedInRound
        self.trainingSamples = trainingSamples
        self.examples = examples
        self.rawBytes = rawBytes
        self.storedBytes = storedBytes
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decodeIfPresent(Int64.self, forKey: .id)
        againstTask = try container.decodeIfPresent(Bool.self, forKey: .againstTask) ?? false
        zstdID = try container.decodeIfPresent(Int64.self, forKey: .zstdID)
        trainedInRound = try container.decodeIfPresent(Int.self, forKey: .trainedInRound)
        trainingSamples = try container.decodeIfPresent(Int.self, forKey: .trainingSamples)
        examples = try container.decode(Int.self, forKey: .examples)
        rawBytes = try container.decode(Int.self, forKey: .rawBytes)
        storedBytes = try container.decode(Int.self, forKey: .storedBytes)
    }
}
