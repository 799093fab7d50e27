extension QualityReport {
    /// Characters of task or model text shown per Markdown cell; the JSON form has all of it.
    static let markdownTextLimit = 400

    /// The report as GitHub-flavoured Markdown tables. Every cell is escaped with
    /// ``ReportEscaping/markdownCell(_:)``, so no text from a plugin or model becomes markup.
    public func markdown() -> String {
        var out = "# Quality report: \(ReportEscaping.markdownCell(pipeline))\n\n"
        out += "Generated \(ReportEscaping.markdownCell(generatedAt)). \(ReportEscaping.markdownCell(headline))\n\n"
        out += "## Held-out score and gate\n\n"
        out +=
            "Score is the mean held-out score with its 95% interval. `b`: held-out items the last promoted round "
            + "passed and this one failed; `c`: the reverse; `p`: the paired test's two-sided p-value.\n\n"
        out += Self.markdown(heldoutTable)
        out += "\n## Data\n\n"
        out += Self.markdown(dataTable)
        out += "\n## Time, tokens and storage\n\n"
        out +=
            "Generate, solve and check seconds are summed over items (parallel workers overlap); "
            + "items/s is training tasks per wall second.\n\n"
        out += Self.markdown(costTable)
        out += "\n## Trust\n\n"
        out += trustNotes.map { ReportEscaping.markdownCell($0) + "\n\n" }.joined()
        out += Self.markdown(trustTable)
        if let disagreements = auditDisagreementTable {
            out += "\nChecker audit disagreements:\n\n" + Self.markdown(disagreements)
        }
        out += "\n## Samples\n"
        for round in rounds {
            out += "\n### Round \(round.round) (\(ReportEscaping.markdownCell(Fmt.state(round))))\n\n"
            for (title, answers) in [("Accepted", round.samples.accepted), ("Rejected", round.samples.rejected)] {
                if answers.isEmpty {
                    out += "\(title): none.\n\n"
                } else {
                    out += "\(title):\n\n" + Self.markdown(Self.sampleTable(answers)) + "\n"
                }
            }
        }
        return out
    }

    static func markdown(_ table: ReportTable) -> String {
        var out = "| " + table.headers.map(ReportEscaping.markdownCell).joined(separator: " | ") + " |\n"
        out +=
            "|" + table.headers.indices.map { table.numeric.contains($0) ? "---:" : "---" }.joined(separator: "|")
            + "|\n"
        for row in table.rows {
            let cells = row.map { cell -> String in
                switch cell {
                case .text(let text): return ReportEscaping.markdownCell(text)
                case .block(let text):
                    let (shown, omitted) = ReportEscaping.truncated(text, to: markdownTextLimit)
                    return ReportEscaping.markdownCell(shown) + (omitted > 0 ? " … (\(omitted) more characters)" : "")
                }
            }
            out += "| " + cells.joined(separator: " | ") + " |\n"
        }
        return out
    }
}
