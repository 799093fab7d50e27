import Foundation

/// Makes tasks: each from a seed derived from (pipeline seed, round, index), so a run can be reproduced.
public protocol Generator: Sendable, PluginDiagnostics {
    func generate(id: String, seed: UInt64, difficulty: Int, split: Split) async -> Result<TaskSpec, PluginFailure>
    /// Stops any worker processes; called once when the run ends.
    func shutdown() async
}

/// One solve request. `task` never carries the reference: that is for the checker alone; only a rationalization
/// attempt is given the answer, as `hint`.
public struct SolveRequest: Sendable, Equatable {
    public var id: String
    public var task: TaskSpec
    public var attempt: Int
    public var seed: UInt64
    /// The temperature to sample at; nil: the solver's own (always so for held-out items).
    public var temperature: Double?
    /// The task's answer, given only to a rationalization attempt (`Exploration.rationalize`).
    public var hint: String?

    public init(
        id: String, task: TaskSpec, attempt: Int, seed: UInt64, temperature: Double? = nil, hint: String? = nil
    ) {
        self.id = id
        self.task = task.withoutReference
        self.attempt = attempt
        self.seed = seed
        self.temperature = temperature
        self.hint = hint
    }
}

/// A solver answers with a given version; learning turns accepted examples into a candidate version's state.
///
/// A version's `State` is what the store keeps (as JSON); `Prepared` is what solving with it needs (a compiled
/// grammar, a few-shot index), built once per version by `prepare`, never once per task.
public protocol Solver: Sendable, PluginDiagnostics {
    associatedtype State: Codable & Sendable
    associatedtype Prepared: Sendable

    /// The state of the baseline version (round 0).
    var initialState: State { get }
    /// What solving with `state` needs; throws when the state cannot be used (a corrupt version).
    func prepare(_ state: State) throws -> Prepared
    func solve(_ request: SolveRequest, with version: Prepared) async -> Result<Solution, PluginFailure>
    /// A candidate next state from `examples` (already filtered by the data policy), deterministic given its inputs.
    func learn(from examples: [Example], previous: State, round: Int) async throws -> State
    /// How many examples `state` summarizes in sufficient statistics — what `learn(adding:to:round:)` builds on —
    /// or nil (the default) when it does not; then learning always reads every example the data policy allows.
    func absorbed(by state: State) -> Int?
    /// Incremental learning: the state `learn(from: E + examples, …)` would make, from `previous`, which summarizes
    /// `E` (`absorbed(by:)`), and only the new `examples`. Called only for a state with `absorbed(by:)` non-nil.
    func learn(adding examples: [Example], to previous: State, round: Int) async throws -> State
    /// Frees what only a rejected candidate needed (its model file, its server); called once the round that learned
    /// it is committed as rejected, and only when its state differs from `promoted`, whose resources must stay.
    func discard(_ rejected: State, promoted: State) async
    /// Stops any worker processes or connections; called once when the run ends.
    func shutdown() async
    /// Reads a state as the store keeps it (JSON); the default goes through `JSONDecoder`.
    func decodeState(_ stored: Data) throws -> State
}

public protocol Checker: Sendable, PluginDiagnostics {
    /// Names the checker in each verdict's lineage.
    var identity: String { get }
    /// What the checker's judgement depends on, recorded with every verdict so that a changed checker shows: an
    /// external checker's digest of its argv and program files (`ExternalCommand.fingerprint`), a built-in one's
    /// kind and version, e.g. `listfn-checker/1`. Equal fingerprints judge alike.
    var fingerprint: String { get }
    func check(id: String, task: TaskSpec, answer: String) async -> Result<Judgement, PluginFailure>
    /// `check`, given the task's JSON text (`TaskCodec.plain`) that the caller has already encoded, which a checker
    /// that sends the task on may send as it is. The default ignores the text.
    func check(id: String, task: TaskSpec, text: Data?, answer: String) async -> Result<Judgement, PluginFailure>
    /// Stops any worker processes; called once when the run ends.
    func shutdown() async
}

extension Checker {
    public func check(id: String, task: TaskSpec, text: Data?, answer: String) async -> Result<Judgement, PluginFailure>
    {
        await check(id: id, task: task, answer: answer)
    }
}

/// What every kind of plugin can tell about itself when it fails.
public protocol PluginDiagnostics {
    /// The last lines the plugin's programs wrote on stderr, oldest first; empty for in-process plugins.
    var recentStderr: [String] { get }
}

extension PluginDiagnostics {
    public var recentStderr: [String] { [] }
}

/// The three plugins a round runs with.
public struct Plugins: Sendable {
    public var generator: any Generator
    public var solver: any Solver
    public var checker: any Checker
    /// The checker audit's second checker, if the pipeline has one.
    public var auditor: (any Checker)?

    public init(generator: any Generator, solver: any Solver, checker: any Checker, auditor: (any Checker)? = nil) {
        self.generator = generator
        self.solver = solver
        self.checker = checker
        self.auditor = auditor
    }

    /// Starts every external program's workers at once (`ExternalPool.startWorkers()`).
    public func startWorkers() {
        for case let program as any ExternalProgram in [generator, solver, checker, auditor] as [Any?] {
            program.pool.startWorkers()
        }
    }

    /// Closes the input of every external program's workers without waiting (`ExternalPool.release()`): once a
    /// run has no more requests for them, they exit while it finishes; `shutdown()` reaps them.
    public func releaseWorkers() {
        for case let program as any ExternalProgram in [generator, solver, checker, auditor] as [Any?] {
            program.pool.release()
        }
    }

    /// Stops every plugin's workers, all plugins at once.
    public func shutdown() async {
        async let generator: Void = generator.shutdown()
        async let solver: Void = solver.shutdown()
        async let checker: Void = checker.shutdown()
        async let auditor: Void? = auditor?.shutdown()
        _ = await (generator, solver, checker, auditor)
    }
}

/// A solver version ready to answer: its state decoded and prepared once.
public struct ReadySolver: Sendable {
    public let version: SolverVersion
    private let answer: @Sendable (SolveRequest) async -> Result<Solution, PluginFailure>

    init(version: SolverVersion, answer: @escaping @Sendable (SolveRequest) async -> Result<Solution, PluginFailure>) {
        self.version = version
        self.answer = answer
    }

    public func solve(_ request: SolveRequest) async -> Result<Solution, PluginFailure> { await answer(request) }
}

extension Solver {
    /// No sufficient statistics by default: learning reads every allowed example.
    public func absorbed(by state: State) -> Int? { nil }

    public func learn(adding examples: [Example], to previous: State, round: Int) async throws -> State {
        preconditionFailure("learn(adding:to:round:) called for a solver whose states absorb nothing")
    }

    /// Nothing to free by default.
    public func discard(_ rejected: State, promoted: State) async {}

    public func decodeState(_ stored: Data) throws -> State { try JSON.decoder.decode(State.self, from: stored) }

    /// `discard` for stored states; a state that does not decode has nothing this solver could free.
    public func discard(_ rejected: SolverVersion, promoted: SolverVersion) async {
        guard let rejectedState = try? decodeState(rejected.state),
            let promotedState = try? decodeState(promoted.state)
        else { return }
        await discard(rejectedState, promoted: promotedState)
    }

    /// The baseline state as the store keeps it.
    public func encodedInitialState() throws -> Data { try JSON.encoder.encode(initialState) }

    /// Decodes and prepares `version` once for all the tasks it will answer.
    /// - Throws: `FlywheelError(.corruptStore)` when the stored state is not this solver's.
    public func ready(_ version: SolverVersion) throws -> ReadySolver {
        let prepared: Prepared
        do {
            prepared = try prepare(try decodeState(version.state))
        } catch {
            throw FlywheelError(
                .corruptStore,
                "solver version \(version.id) (round \(version.round)) cannot be used by this solver: \(error); "
                    + "was the pipeline's solver changed? Use a new --store")
        }
        return ReadySolver(version: version) { request in await self.solve(request, with: prepared) }
    }

    /// Learns from `examples` starting at `previous` (a stored state), and returns the candidate's stored state.
    public func learn(from examples: [Example], previous: SolverVersion, round: Int) async throws -> Data {
        try JSON.encoder.encode(try await learn(from: examples, previous: try decode(previous), round: round))
    }

    /// How many examples the stored state of `version` summarizes (`absorbed(by:)`).
    public func absorbed(by version: SolverVersion) throws -> Int? { absorbed(by: try decode(version)) }

    /// `learn(adding:to:round:)` for a stored state.
    public func learn(adding examples: [Example], to previous: SolverVersion, round: Int) async throws -> Data {
        try JSON.encoder.encode(try await learn(adding: examples, to: try decode(previous), round: round))
    }

    private func decode(_ version: SolverVersion) throws -> State {
        do {
            return try decodeState(version.state)
        } catch {
            throw FlywheelError(
                .corruptStore, "solver version \(version.id) (round \(version.round)) does not decode: \(error)")
        }
    }
}
