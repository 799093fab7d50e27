import ArgumentParser
import FlywheelCore
import Foundation

extension PipelineOptions {
    /// The pipeline's existing store, checked as `readStore` checks it (it exists, is a Flywheel store, is this
    /// pipeline's), then locked and opened for writing; keep the lock alive while writing.
    func lockedStore(for config: PipelineConfig) throws -> (StoreLock, Store) {
        let path = try readStore(for: config).path
        let lock = try StoreLock(storePath: path)
        let store = try Store(path: path)
        try store.checkOwner(config.name)
        return (lock, store)
    }
}

struct Reverify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Re-check every stored accepted example with the pipeline's current checker; record flips.",
        discussion: """
            Every accepted example of every round is checked again with the checker the pipeline file names now, \
            under the store's lock, and each judgement is recorded (nothing is deleted or rewritten). An example \
            whose latest re-check rejects it is flipped: learning and export leave it out from then on. A check \
            that fails is recorded as an error and changes nothing; the command then exits 1. See docs/trust.md.
            """)

    @OptionGroup var options: PipelineOptions

    func run() async throws {
        let config = try options.load()
        let (lock, store) = try options.lockedStore(for: config)
        let log = options.eventLog()
        let checker = Plugins.checker(config, log: log)
        let outcome: Reverification
        do {
            outcome = try await Reverifier.run(
                store: store, checker: checker, parallelism: config.settings.parallelism, log: log)
            await checker.shutdown()
        } catch {
            await checker.shutdown()
            throw error
        }
        withExtendedLifetime(lock) {}
        print(
            "reverify: checked \(outcome.checked), flipped \(outcome.flipped)"
                + (outcome.errors > 0 ? ", errors \(outcome.errors)" : "")
                + " with checker \(outcome.checker.fingerprint) (\(outcome.checker.identity))")
        if outcome.errors > 0 {
            throw FlywheelError(
                .runFailed,
                "the checker failed on \(outcome.errors) example(s), which keep their earlier standing; "
                    + "see the log above, fix the checker and run `flywheel reverify` again")
        }
    }
}

struct Rollback: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make a promoted round's version the promoted one again, recorded as an auditable event.",
        discussion: """
            Nothing is rewritten: the rollback is a new event. From then on, until a later round promotes a new \
            candidate, the next round solves with that version, compares its candidate with that version's \
            held-out results and, under `accumulate`, learns only from the promoted rounds that led to it; export \
            writes those rounds. `status` lists the rollbacks. See docs/trust.md.
            """)

    @OptionGroup var options: PipelineOptions

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp("The promoted round whose version becomes the promoted one.", valueName: "round"))
    var to: Int

    func validate() throws {
        if to < 0 { throw ValidationError("--to takes a round number ≥ 0, not \(to)") }
    }

    func run() async throws {
        let config = try options.load()
        let (lock, store) = try options.lockedStore(for: config)
        let event = try store.rollBack(to: to)
        withExtendedLifetime(lock) {}
        guard let event else {
            print("rollback: round \(to)'s version is already the promoted one; nothing recorded")
            return
        }
        options.eventLog().event(
            "rollback",
            [
                ("id", Int(event.id)), ("from_round", event.fromRound), ("to_round", event.toRound),
                ("after_round", event.afterRound),
            ])
        print(
            "rollback: round \(event.toRound)'s version (\(event.toVersion)) is the promoted one again, "
                + "replacing round \(event.fromRound)'s (\(event.fromVersion)); recorded as rollback \(event.id)")
    }
}
