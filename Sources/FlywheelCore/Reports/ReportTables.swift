import Foundation

/// One table of the report, the same for the Markdown and HTML forms: plain text cells that the renderer escapes.
struct ReportTable {
    enum Cell {
        /// Short text: numbers, states, names.
        case text(String)
        /// Task or model text: shown preformatted, cut to a length the renderer chooses.
        case block(String)
    }

    var headers: [String]
    /// Columns aligned right (numbers).
    var numeric: Set<Int>
    var rows: [[Cell]]
    /// An anchor per row (`round-3`), used by the HTML form.
    var rowIDs: [String?]
}

extension QualityReport {
    /// A one-paragraph overview for the top of the report.
    var headline: String {
        let promoted = rounds.filter { $0.state == .promoted }.count
        let rejected = rounds.filter { $0.state == .rejected }.count
        let open = rounds.filter { !$0.committed }
        var text = "\(rounds.count) round\(rounds.count == 1 ? "" : "s"): \(promoted) promoted, \(rejected) rejected"
        if !open.isEmpty {
            text += ", " + open.map { "round \($0.round) \($0.state.rawValue)" }.joined(separator: ", ")
        }
        text += ". Held-out set: \(heldoutItems) items."
        if let last = rounds.last(where: { $0.state == .promoted }), let heldout = last.heldout {
            text += " Last promoted: round \(last.round), score \(Fmt.score(heldout.score)) \(Fmt.ci(heldout.ci))."
        }
        if let last = rounds.last {
            text +=
                " Accepted examples: \(last.cumulativeAccepted) stored, \(last.cumulativePromotedAccepted) "
                + "in promoted rounds (exportable)."
        }
        return text
    }

    /// Held-out score, paired verdict and gate decision per round.
    var heldoutTable: ReportTable {
        ReportTable(
            headers: [
                "round", "state", "held-out n", "score", "95% CI", "CI method", "vs round", "b", "c", "p", "test",
                "verdict", "gate",
            ],
            numeric: [0, 2, 3, 6, 7, 8, 9],
            rows: rounds.map { round in
                let versus = round.vsPrevious
                return [
                    .text("\(round.round)"), .text(Fmt.state(round)),
                    .text(round.heldout.map { "\($0.n)" } ?? "–"),
                    .text(round.heldout.map { Fmt.score($0.score) } ?? "–"),
                    .text(round.heldout.map { Fmt.ci($0.ci) } ?? "–"), .text(round.heldout?.method.rawValue ?? "–"),
                    .text(versus?.round.map { "\($0)" } ?? "–"), .text(versus.map { "\($0.b)" } ?? "–"),
                    .text(versus.map { "\($0.c)" } ?? "–"), .text(versus.map { Fmt.p($0.pValue) } ?? "–"),
                    .text(versus?.method.rawValue ?? "–"),
                    .text(versus?.verdict.rawValue ?? (round.round == 0 && round.committed ? "baseline" : "–")),
                    .text(round.gate.rawValue),
                ]
            }, rowIDs: rounds.map { "round-\($0.round)" })
    }

    /// What each round generated, kept, accepted and lost to errors.
    var dataTable: ReportTable {
        ReportTable(
            headers: [
                "round", "difficulty", "data policy", "learning", "generated", "duplicates", "contaminated",
                "attempts", "accepted", "acceptance", "rejected", "errors", "error rate", "errors by kind",
                "retries", "learned from", "cumulative accepted",
            ],
            numeric: [0, 1, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 15, 16],
            rows: rounds.map { round in
                let counts = round.counts
                return [
                    .text("\(round.round)"), .text("\(round.difficulty)"), .text(round.dataPolicy.rawValue),
                    .text(round.learning ? "on" : "off"), .text("\(counts.generated)"), .text("\(counts.duplicates)"),
                    .text("\(counts.contaminated)"), .text("\(counts.attempts)"), .text("\(counts.accepted)"),
                    .text(Fmt.percent(counts.acceptanceRate)), .text("\(counts.rejected)"), .text("\(counts.errors)"),
                    .text(Fmt.percent(counts.errorRate)),
                    .text(
                        counts.errorsByKind.isEmpty
                            ? "–"
                            : counts.errorsByKind.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
                                .joined(separator: ", ")),
                    .text("\(counts.retries)"), .text(round.learnedFrom.map { "\($0)" } ?? "–"),
                    .text("\(round.cumulativeAccepted)"),
                ]
            }, rowIDs: rounds.map { _ in nil })
    }

    /// Stage times, throughput, tokens and storage.
    var costTable: ReportTable {
        ReportTable(
            headers: [
                "round", "generate s", "solve s", "check s", "learn s", "evaluate s", "wall s", "items/s",
                "prompt tokens", "completion tokens", "examples", "raw bytes", "stored bytes", "bytes/example",
                "compression", "dictionary",
            ],
            numeric: Set(0..<15),
            rows: rounds.map { round in
                let times = round.times
                let storage = round.storage
                return [
                    .text("\(round.round)"), .text(Fmt.seconds(times.generateSeconds)),
                    .text(Fmt.seconds(times.solveSeconds)), .text(Fmt.seconds(times.checkSeconds)),
                    .text(times.learnSeconds.map(Fmt.seconds) ?? "–"),
                    .text(times.evaluateSeconds.map(Fmt.seconds) ?? "–"),
                    .text(times.wallSeconds.map { $0 < 1 ? "<1" : String(format: "%.0f", $0) } ?? "–"),
                    .text(times.itemsPerSecond.map { String(format: "%.2f", $0) } ?? "–"),
                    .text("\(round.tokens.prompt)"), .text("\(round.tokens.completion)"), .text("\(storage.examples)"),
                    .text("\(storage.rawBytes)"), .text("\(storage.storedBytes)"),
                    .text(storage.bytesPerExample.map { String(format: "%.1f", $0) } ?? "–"),
                    .text(storage.compressionRatio.map { String(format: "%.2f×", $0) } ?? "–"),
                    .text(
                        storage.dictionaries.isEmpty
                            ? "–" : storage.dictionaries.map(Fmt.dictionary).joined(separator: "; ")),
                ]
            }, rowIDs: rounds.map { _ in nil })
    }

    /// Per committed round: the level its verdict used and the level spent so far, what its test could detect,
    /// the trivial baselines and answer diversity behind the shortcut flag, and what the round cost.
    var trustTable: ReportTable {
        let committed = rounds.filter { $0.trust != nil }
        return ReportTable(
            headers: [
                "round", "verdict", "level α", "α spent", "MDE (80%)", "best trivial baseline", "distinct answers",
                "answer entropy", "reference entropy", "shortcut?", "s / accepted", "tokens / accepted",
                "money / accepted", "s / point gained", "audit agreement",
            ],
            numeric: [0, 2, 3, 4, 6, 7, 8, 10, 11, 12, 13, 14],
            rows: committed.map { round in
                let trust = round.trust!
                let measures = trust.measures
                let best = measures.bestBaseline
                let perExample = trust.cost.perAcceptedExample
                return [
                    .text("\(round.round)"),
                    .text(round.vsPrevious?.verdict.rawValue ?? (round.round == 0 ? "baseline" : "–")),
                    .text(trust.alpha.map { String(format: "%.4g", $0) } ?? "–"),
                    .text(measures.alphaSpent.map { String(format: "%.4g", $0) } ?? "–"),
                    .text(measures.mde.map(Fmt.score) ?? "–"),
                    .text(best.map { "\($0.name) \(Fmt.score($0.score))" } ?? "–"),
                    .text(measures.answers.map { "\($0.distinct)" } ?? "–"),
                    .text(measures.answers.map { String(format: "%.2f", $0.entropy) } ?? "–"),
                    .text(measures.references.map { String(format: "%.2f", $0.entropy) } ?? "–"),
                    .text(measures.suspectedShortcut == true ? "SUSPECTED" : "no"),
                    .text(perExample.map { String(format: "%.3g", $0.seconds) } ?? "–"),
                    .text(perExample.map { String(format: "%.3g", $0.tokens) } ?? "–"),
                    .text(perExample?.money.map { String(format: "%.3g", $0) } ?? "–"),
                    .text(trust.cost.perPointGained.map { String(format: "%.3g", $0.seconds) } ?? "–"),
                    .text(
                        round.audit.flatMap { audit in
                            audit.agreement.map { Fmt.percent($0) + " of \(audit.checked)" }
                        } ?? "–"),
                ]
            }, rowIDs: committed.map { _ in nil })
    }

    /// The trust section's sentences: error spent, plateau, shortcuts, power.
    var trustNotes: [String] {
        var notes = [
            String(
                format: "Error control: %@; α = %.3g over the pipeline's life, %.4g spent so far. "
                    + "\"Regressed\" is judged at the full α.",
                trust.errorControl.description, trust.alpha, trust.alphaSpent)
        ]
        let plateau = trust.plateau
        notes.append(
            "Plateau: \(plateau.roundsWithoutImprovement) committed round(s) since the last improvement"
                + (plateau.limit.map { "; limit \($0)" + (plateau.reached ? ", reached" : "") } ?? "; no limit set")
                + ".")
        if !trust.suspectedShortcuts.isEmpty {
            notes.append(
                "Suspected shortcuts: round(s) " + trust.suspectedShortcuts.map(String.init).joined(separator: ", ")
                    + " improved without beating the best trivial baseline, or with collapsed answers.")
        }
        if let warning = trust.powerWarning { notes.append(warning) }
        let audited = rounds.compactMap(\.audit)
        if !audited.isEmpty {
            let checked = audited.reduce(0) { $0 + $1.checked }
            let agreed = audited.reduce(0) { $0 + $1.agreed }
            notes.append(
                "Checker audit: a second checker agreed with \(agreed) of \(checked) sampled verdicts"
                    + (checked == 0 ? "." : String(format: " (%.1f%%).", 100 * Double(agreed) / Double(checked)))
                    + (agreed < checked ? " The disagreements are listed below." : ""))
        }
        if !trust.checkerChanges.isEmpty {
            notes.append(
                "The checker changed before round(s) " + trust.checkerChanges.map(String.init).joined(separator: ", ")
                    + ": verdicts before and after were made by different programs; `flywheel reverify` re-checks the "
                    + "stored examples with the current one.")
        }
        return notes
    }

    /// The verdicts the checker audit's second checker judged otherwise, every round's (nil when there are none).
    var auditDisagreementTable: ReportTable? {
        let rows = rounds.flatMap { round in (round.audit?.disagreements ?? []).map { (round.round, $0) } }
        guard !rows.isEmpty else { return nil }
        return ReportTable(
            headers: ["round", "task", "attempt", "prompt", "answer", "checker", "auditor", "auditor's reason"],
            numeric: [0, 1, 2],
            rows: rows.map { round, verdict in
                [
                    .text("\(round)"), .text("\(verdict.taskIndex)"), .text("\(verdict.attempt)"), .block(verdict.prompt),
                    .block(verdict.answer), .text(verdict.checkerAccepted ? "accepted" : "rejected"),
                    .text(verdict.auditAccepted == true ? "accepted" : "rejected"), .block(verdict.auditReason ?? ""),
                ]
            }, rowIDs: rows.map { _ in nil })
    }

    /// A round's sampled answers, accepted or rejected.
    static func sampleTable(_ answers: [CheckedAnswer]) -> ReportTable {
        ReportTable(
            headers: [
                "task", "attempt", "seeds (task, attempt)", "solver version", "prompt", "answer", "score",
                "checker's reason",
            ],
            numeric: [0, 1, 3, 6],
            rows: answers.map { answer in
                [
                    .text("\(answer.lineage.taskIndex)"), .text("\(answer.lineage.attempt)"),
                    .text("\(answer.lineage.taskSeed), \(answer.lineage.attemptSeed)"),
                    .text("\(answer.lineage.solverVersion)"), .block(answer.prompt), .block(answer.answer),
                    .text(String(format: "%.3g", answer.score)), .block(answer.reason ?? ""),
                ]
            }, rowIDs: answers.map { _ in nil })
    }
}

/// How the report writes numbers, the same in every form.
enum Fmt {
    static func score(_ value: Double) -> String { String(format: "%.4f", value) }
    static func ci(_ ci: [Double]) -> String {
        ci.count == 2 ? String(format: "[%.4f, %.4f]", ci[0], ci[1]) : "–"
    }
    static func p(_ value: Double) -> String { String(format: "%.4g", value) }
    static func percent(_ value: Double) -> String { String(format: "%.1f%%", value * 100) }
    static func seconds(_ value: Double) -> String { String(format: "%.2f", value) }

    static func state(_ round: QualityReport.Round) -> String {
        round.committed ? round.state.rawValue : "\(round.state.rawValue) (not committed)"
    }

    static func dictionary(_ use: DictionaryUse) -> String {
        if use.againstTask { return "each example's own task text (\(use.examples) examples)" }
        guard let id = use.id else { return "none (\(use.examples) examples)" }
        var text = "#\(id)"
        if let zstd = use.zstdID { text += " zstd id \(zstd)" }
        if let round = use.trainedInRound { text += ", trained in round \(round)" }
        if let samples = use.trainingSamples { text += " on \(samples) examples" }
        return text + " (\(use.examples) examples)"
    }
}
