import Foundation

/// `flywheel reverify`: checks every stored accepted example again with the pipeline's current checker and records
/// each judgement as a new `rechecks` row. Nothing is deleted or rewritten; an example whose latest judged re-check
/// rejects it is flipped, and learning and export leave it out from then on (`ExampleSelection`).
public enum Reverifier {
    /// Re-checks every accepted example with `checker`, `parallelism` at a time. Hold the store's lock.
    ///
    /// A check that fails (a timeout, a malformed answer) is recorded as an error and leaves the example as it
    /// stood: an error is not a rejection.
    /// - Returns: What this re-verification found.
    /// - Throws: `FlywheelError(.runFailed)` when the checker cannot start; the re-checks recorded so far stay.
    public static func run(
        store: Store, checker: any Checker, parallelism: Int, log: EventLog
    ) async throws -> Reverification {
        let examples = try store.acceptedExamples()
        let fingerprint = CheckerFingerprint(of: checker)
        let id = try store.beginReverification(fingerprint)
        log.event(
            "reverify.start",
            [("reverification", Int(id)), ("examples", examples.count), ("checker", fingerprint.fingerprint)])
        let progress = StageProgress(log: log, label: "reverify", total: examples.count, alreadyDone: 0)
        try await forEachBounded(examples.indices, width: max(1, parallelism)) { position in
            let stored = examples[position]
            let task = TaskSpec(
                prompt: stored.example.prompt, reference: stored.example.reference, meta: stored.example.meta)
            let result = await checker.check(
                id: "v\(id)-r\(stored.round)-c\(stored.taskIndex)-\(stored.attempt)", task: task,
                answer: stored.example.answer)
            if case .failure(let failure) = result, failure.kind == .cannotStart {
                throw FlywheelError(
                    .runFailed, failure.message + "\nFix the checker and run `flywheel reverify` again.")
            }
            try store.insertRecheck(reverification: id, example: stored.id, result: result)
            let accepted = (try? result.get())?.accept == true
            progress.finished(accepted: accepted ? 1 : 0, errors: result.failure == nil ? 0 : 1)
        }
        progress.end()
        try store.finishReverification(id)
        guard let outcome = try store.reverifications().first(where: { $0.id == id }) else {
            throw FlywheelError(.corruptStore, "\(store.path): re-verification \(id) was recorded and is missing")
        }
        log.event(
            "reverify.done",
            [
                ("reverification", Int(id)), ("checked", outcome.checked), ("flipped", outcome.flipped),
                ("errors", outcome.errors),
            ])
        return outcome
    }
}
