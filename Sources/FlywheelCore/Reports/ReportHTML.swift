extension QualityReport {
    /// Characters of task or model text shown per HTML cell; the JSON form has all of it.
    static let htmlTextLimit = 1500

    /// One self-contained page: inline CSS and SVG, no script, nothing fetched. Its Content-Security-Policy
    /// forbids scripts and every network fetch, a second wall behind ``ReportEscaping/html(_:)``.
    public func html() -> String {
        let name = ReportEscaping.html(pipeline)
        var out = """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>Flywheel quality report: \(name)</title>
            <style>\(Self.css)</style>
            </head>
            <body>
            <header>
            <h1>Quality report: \(name)</h1>
            <p class="meta">Generated \(ReportEscaping.html(generatedAt))</p>
            <p>\(ReportEscaping.html(headline))</p>
            </header>
            <section class="charts">
            \(scoreChart())
            \(acceptanceChart())
            \(cumulativeChart())
            </section>
            <section>
            <h2>Held-out score and gate</h2>
            <p class="note">Score: mean held-out score with its 95% interval. <b>b</b>: held-out items the last \
            promoted round passed and this one failed; <b>c</b>: the reverse; <b>p</b>: the paired test&#39;s \
            two-sided p-value. The verdict is improved or regressed only when p &lt; alpha; the gate then promotes \
            or rejects the round.</p>
            \(Self.html(heldoutTable, rowClasses: rounds.map { "state-\($0.state.rawValue)" }))
            </section>
            <section>
            <h2>Data</h2>
            \(Self.html(dataTable, rowClasses: rounds.map { "state-\($0.state.rawValue)" }))
            </section>
            <section>
            <h2>Time, tokens and storage</h2>
            <p class="note">Generate, solve and check seconds are summed over items, so parallel workers overlap; \
            items/s is training tasks per wall second from start to commit.</p>
            \(Self.html(costTable, rowClasses: rounds.map { "state-\($0.state.rawValue)" }))
            </section>
            <section>
            <h2>Trust</h2>
            \(trustNotes.map { "<p class=\"note\">\(ReportEscaping.html($0))</p>" }.joined(separator: "\n"))
            \(Self.html(trustTable, rowClasses: rounds.filter { $0.trust != nil }.map { "state-\($0.state.rawValue)" }))
            \(auditDisagreementTable.map { "<h3>Checker audit disagreements</h3>\n" + Self.html($0, rowClasses: $0.rows.map { _ in "" }) } ?? "")
            </section>
            <section>
            <h2>Samples</h2>

            """
        for round in rounds {
            out +=
                "<h3 id=\"samples-\(round.round)\">Round \(round.round) "
                + "<span class=\"badge state-\(round.state.rawValue)\">"
                + "\(ReportEscaping.html(Fmt.state(round)))</span></h3>\n"
            for (title, answers) in [("Accepted", round.samples.accepted), ("Rejected", round.samples.rejected)] {
                if answers.isEmpty {
                    out += "<p class=\"note\">\(title): none.</p>\n"
                } else {
                    out += "<h4>\(title)</h4>\n" + Self.html(Self.sampleTable(answers), rowClasses: []) + "\n"
                }
            }
        }
        return out + "</section>\n</body>\n</html>\n"
    }

    static func html(_ table: ReportTable, rowClasses: [String]) -> String {
        var out = "<div class=\"scroll\"><table>\n<thead><tr>"
        for (index, header) in table.headers.enumerated() {
            out += "<th\(table.numeric.contains(index) ? " class=\"num\"" : "")>\(ReportEscaping.html(header))</th>"
        }
        out += "</tr></thead>\n<tbody>\n"
        for (position, row) in table.rows.enumerated() {
            var attributes = ""
            if position < table.rowIDs.count, let id = table.rowIDs[position] { attributes += " id=\"\(id)\"" }
            if position < rowClasses.count { attributes += " class=\"\(rowClasses[position])\"" }
            out += "<tr\(attributes)>"
            for (index, cell) in row.enumerated() {
                switch cell {
                case .text(let text):
                    out +=
                        "<td\(table.numeric.contains(index) ? " class=\"num\"" : "")>\(ReportEscaping.html(text))</td>"
                case .block(let text):
                    let (shown, omitted) = ReportEscaping.truncated(text, to: htmlTextLimit)
                    out += "<td><div class=\"text\">\(ReportEscaping.html(shown))</div>"
                    if omitted > 0 { out += "<div class=\"note\">… \(omitted) more characters</div>" }
                    out += "</td>"
                }
            }
            out += "</tr>\n"
        }
        return out + "</tbody>\n</table></div>"
    }

    static let css = """
        body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d2330; margin: 24px; \
        background: #fff; }
        h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 28px 0 8px; }
        h3 { font-size: 15px; margin: 22px 0 6px; } h4 { font-size: 13px; margin: 12px 0 4px; color: #444; }
        .meta, .note { color: #5b6270; font-size: 12px; }
        .charts { display: flex; flex-wrap: wrap; gap: 12px; margin-top: 16px; }
        .charts svg { border: 1px solid #e3e6ea; border-radius: 4px; background: #fcfcfd; }
        svg text { font: 11px system-ui, sans-serif; fill: #333; } svg text.title { font-size: 13px; font-weight: 600; }
        svg text.label { font-size: 12px; fill: #555; } svg text.value { font-size: 10px; fill: #333; }
        svg .grid { stroke: #e6e8eb; } svg .axis { stroke: #777; }
        svg .band { fill: #7fa7d6; fill-opacity: 0.3; stroke: none; }
        svg .whisker { stroke: #4a6f9e; stroke-width: 1; fill: none; }
        svg polyline.line { fill: none; stroke: #4a6f9e; stroke-width: 1.5; }
        svg .line.all { stroke: #8a8f98; fill: none; stroke-dasharray: 5 3; } svg circle.all { fill: #8a8f98; }
        svg .line.promoted { stroke: #1f7a3a; fill: none; stroke-width: 2; } svg circle.promoted { fill: #1f7a3a; }
        svg line.line { stroke-width: 2; }
        .scroll { overflow-x: auto; }
        table { border-collapse: collapse; font-size: 12px; margin: 4px 0 8px; }
        th, td { border: 1px solid #dde1e6; padding: 3px 5px; vertical-align: top; text-align: left; }
        th { background: #f2f4f7; font-weight: 600; }
        td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; } td.num { white-space: nowrap; }
        tr.state-rejected td { background: #fdf1ef; } tr.state-running td, tr.state-failed td { background: #f4f4f4; \
        color: #666; }
        .text { font: 12px/1.35 ui-monospace, "DejaVu Sans Mono", monospace; white-space: pre-wrap; \
        overflow-wrap: anywhere; max-width: 46ch; max-height: 16em; overflow: auto; }
        .ctl { background: #ffe8a3; color: #6b4b00; border-radius: 2px; padding: 0 2px; font-size: 10px; }
        .badge { font-size: 11px; padding: 1px 6px; border-radius: 8px; color: #fff; background: #8a8f98; }
        .badge.state-promoted { background: #1f7a3a; } .badge.state-rejected { background: #c0392b; }
        """
}
