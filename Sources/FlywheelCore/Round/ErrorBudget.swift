import Foundation

/// The checks that stop a round whose plugins do not work, instead of committing a round of errors: a plugin that
/// cannot start stops it at once, and a plugin whose share of failed requests exceeds `max_error_rate` fails it
/// before anything is learned from, evaluated with or promoted.
extension RoundEngine {
    /// One plugin's failed requests in one stage of a round.
    struct PluginErrors {
        /// `generator`, `solver` or `checker`.
        var plugin: String
        /// What was counted: "training check requests", "held-out items".
        var what: String
        var errors: Int
        var requests: Int
        /// The failures themselves, for their kinds and an example.
        var failures: [PluginFailure]
        var stderr: [String]

        var rate: Double { requests == 0 ? 0 : Double(errors) / Double(requests) }
    }

    /// Passes `result` through unless its plugin cannot start; then no item can be served, so the run stops and
    /// the item is not recorded (the resumed round asks for it again).
    /// - Throws: `FlywheelError(.runFailed)` with the program, how it failed and its stderr tail.
    @discardableResult
    func requireStarted<T>(_ result: Result<T, PluginFailure>) throws -> Result<T, PluginFailure> {
        if case .failure(let failure) = result, failure.kind == .cannotStart {
            throw FlywheelError(
                .runFailed, failure.message + "\nFix it and run again: the round resumes where it stopped.")
        }
        return result
    }

    /// Fails the round when the generator, the solver or the checker failed more of its training requests than
    /// `max_error_rate` allows, counting every recorded item (a resumed round's earlier ones too).
    /// - Returns: the counts it read (`Store.trainingCounts(round:)`), for the round's summary.
    @discardableResult
    func checkTrainingErrors(round: Int) throws -> RoundCounts {
        let counts = try store.trainingCounts(round: round)
        let over = [
            (
                "generator", "training generate requests", counts.generationErrors,
                counts.generated + counts.generationErrors
            ),
            ("solver", "training solve requests", counts.solveErrors, counts.attempts),
            ("checker", "training check requests", counts.checkErrors, counts.checked),
        ].filter { _, _, errors, requests in Self.exceeds(errors, of: requests, settings.maxErrorRate) }
        guard let (plugin, what, errors, requests) = over.first else { return counts }
        let failures: [PluginFailure] =
            switch plugin {
            case "generator": try store.tasks(round: round).compactMap(\.failure)
            case "solver": try store.attempts(round: round).compactMap(\.failure)
            default: try store.verdicts(round: round).compactMap(\.failure)
            }
        throw budgetError(
            round: round,
            PluginErrors(
                plugin: plugin, what: what, errors: errors, requests: requests, failures: failures,
                stderr: stderr(of: plugin)))
    }

    /// Fails the round when more of the held-out items than `max_error_rate` allows got no score; a baseline of
    /// errors would otherwise be frozen as the score every later round is compared with.
    func checkHeldoutErrors(_ results: [HeldoutResult], round: Int) throws {
        let failed = results.filter { $0.failure != nil }
        guard Self.exceeds(failed.count, of: results.count, settings.maxErrorRate) else { return }
        // A failed solve leaves no answer; a failed check has one.
        let solverFailures = failed.filter { $0.answer == nil }.count
        let plugin = solverFailures * 2 > failed.count ? "solver" : "checker"
        throw budgetError(
            round: round,
            PluginErrors(
                plugin: plugin, what: "held-out items", errors: failed.count, requests: results.count,
                failures: failed.compactMap(\.failure), stderr: stderr(of: plugin)))
    }

    static func exceeds(_ errors: Int, of requests: Int, _ maxRate: Double) -> Bool {
        requests > 0 && Double(errors) / Double(requests) > maxRate
    }

    private func stderr(of plugin: String) -> [String] {
        switch plugin {
        case "generator": plugins.generator.recentStderr
        case "solver": plugins.solver.recentStderr
        default: plugins.checker.recentStderr
        }
    }

    /// "round 1: the checker failed 30 of 30 training check requests (100%), more than max_error_rate 0.5
    /// allows: timeout 30. Last error: …", its stderr tail, and what to do.
    private func budgetError(round: Int, _ errors: PluginErrors) -> FlywheelError {
        let name = errors.plugin == "checker" ? "checker `\(plugins.checker.identity)`" : errors.plugin
        var kinds: [String: Int] = [:]
        for failure in errors.failures { kinds[failure.kind.rawValue, default: 0] += 1 }
        var message =
            "round \(round): the \(name) failed \(errors.errors) of \(errors.requests) \(errors.what) "
            + "(\(Self.percent(errors.rate))), more than max_error_rate \(settings.maxErrorRate.formatted()) allows: "
            + kinds.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        if let last = errors.failures.last {
            message += ".\nLast error: \(String(last.description.prefix(500)))"
        }
        message +=
            errors.stderr.isEmpty
            ? "\nIt wrote nothing on stderr."
            : "\nIts stderr ended with:\n" + errors.stderr.map { "    " + $0 }.joined(separator: "\n")
        message +=
            "\nNothing was promoted. Fix the \(errors.plugin) and run again: the round resumes and tries its "
            + "failed solves and checks again"
            + (errors.plugin == "generator" ? " (generator errors stay; raise max_error_rate to let it pass)" : "")
            + "."
        return FlywheelError(.runFailed, message)
    }

    private static func percent(_ rate: Double) -> String {
        String(format: "%.0f%%", rate * 100)
    }
}
