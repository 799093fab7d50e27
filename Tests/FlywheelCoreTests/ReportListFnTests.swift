import FlywheelCore
import Foundation
import Testing

/// The report of a real multi-round listfn store, checked number by number against `Status.json`.
@Suite struct ReportListFnTests {
    /// Pipelines/listfn.yaml with small sizes and the checker found by absolute path.
    static func smallListFn(in folder: TemporaryDirectory) throws -> PipelineConfig {
        var yaml = try String(contentsOfFile: Repository.root + "/Pipelines/listfn.yaml", encoding: .utf8)
        for (from, to) in [
            ("round_size: 200", "round_size: 40"), ("size: 400", "size: 60"), ("budget: 5000", "budget: 2000"),
            ("parallelism: 4", "parallelism: 2"),
            ("listfn/check.py", Repository.root + "/Pipelines/listfn/check.py"),
        ] {
            try #require(yaml.contains(from), "Pipelines/listfn.yaml no longer has `\(from)`")
            yaml = yaml.replacingOccurrences(of: from, with: to)
        }
        let file = folder.file("listfn.yaml")
        try yaml.write(toFile: file, atomically: true, encoding: .utf8)
        return try PipelineConfig.load(path: file)
    }

    @Test func everyFormatAgreesWithStatus() async throws {
        let folder = TemporaryDirectory()
        let config = try Self.smallListFn(in: folder)
        let store = try Store(path: folder.file("store.sqlite"))
        let plugins = try Plugins(config, log: .silent)
        let engine = RoundEngine(store: store, plugins: plugins, settings: config.settings, log: .silent)
        for _ in 0..<3 { _ = try await engine.runRound() }
        await plugins.shutdown()

        let typed = try Status(config, store: store)
        let status = try JSONValue.parse(try typed.json())
        let statusRounds = try #require(status["rounds"]?.arrayValue)
        let built = try QualityReport.build(pipeline: config.name, store: store)
        let report = try QualityReport.decode(try built.rendered(.json))
        #expect(report == built)
        #expect(report.pipeline == "listfn")
        try #require(report.rounds.count == 3 && statusRounds.count == 3)

        let markdown = String(decoding: try built.rendered(.md), as: UTF8.self)
        let heldoutRows = Self.markdownRows(markdown, after: "## Held-out score and gate")
        let dataRows = Self.markdownRows(markdown, after: "## Data")
        let html = String(decoding: try built.rendered(.html), as: UTF8.self)

        for (round, expected) in zip(report.rounds, statusRounds) {
            let r = round.round
            #expect(Double(r) == expected["round"]?.doubleValue)
            #expect(round.state.rawValue == expected["state"]?.stringValue)
            #expect(Double(round.counts.generated) == expected["generated"]?.doubleValue, "round \(r)")
            #expect(Double(round.counts.accepted) == expected["accepted"]?.doubleValue, "round \(r)")
            let heldout = try #require(round.heldout)
            let expectedHeldout = try #require(expected["heldout"])
            #expect(Double(heldout.n) == expectedHeldout["n"]?.doubleValue)
            #expect(heldout.score == expectedHeldout["score"]?.doubleValue)
            #expect(heldout.ci.map { JSONValue.number($0) } == expectedHeldout["ci"]?.arrayValue)
            let ci = String(format: "[%.4f, %.4f]", heldout.ci[0], heldout.ci[1])
            let score = String(format: "%.4f", heldout.score)

            // Markdown: round, state, n, score, CI, method, vs round, b, c, p, test, verdict, gate.
            let md = try #require(heldoutRows.first { $0.first == "\(r)" }, "no Markdown row for round \(r)")
            #expect(md[1] == round.state.rawValue && md[2] == "\(heldout.n)" && md[3] == score)
            #expect(md[4] == ci.replacingOccurrences(of: "[", with: "\\[").replacingOccurrences(of: "]", with: "\\]"))
            let data = try #require(dataRows.first { $0.first == "\(r)" })
            #expect(data[4] == "\(round.counts.generated)" && data[8] == "\(round.counts.accepted)")

            // HTML: the same cells in the row anchored `round-N`.
            let cells = try #require(Self.htmlRow(html, id: "round-\(r)"), "no HTML row for round \(r)")
            #expect(cells.count == 13)
            #expect(
                cells[1] == round.state.rawValue && cells[2] == "\(heldout.n)" && cells[3] == score && cells[4] == ci)

            guard r > 0 else {
                #expect(expected["vs_previous"] == nil && round.vsPrevious == nil)
                #expect(md[11] == "baseline")
                continue
            }
            let versus = try #require(round.vsPrevious)
            let expectedVersus = try #require(expected["vs_previous"])
            #expect(Double(versus.b) == expectedVersus["b"]?.doubleValue)
            #expect(Double(versus.c) == expectedVersus["c"]?.doubleValue)
            #expect(versus.pValue == expectedVersus["p_value"]?.doubleValue)
            #expect(versus.verdict.rawValue == expectedVersus["verdict"]?.stringValue)
            #expect(versus.method.rawValue == expectedVersus["method"]?.stringValue)
            #expect(versus.round.map(Double.init) == expectedVersus["round"]?.doubleValue)
            let p = String(format: "%.4g", versus.pValue)
            for row in [md, cells] {
                #expect(row[6] == "\(versus.round ?? -1)" && row[7] == "\(versus.b)" && row[8] == "\(versus.c)")
                #expect(row[9] == p && row[10] == versus.method.rawValue && row[11] == versus.verdict.rawValue)
            }

            // Samples: accepted ones are stored examples of this round, rejected ones carry the checker's reason.
            let examples = Set(try store.examples(.round(r)).map(\.answer))
            #expect(round.samples.accepted.count == min(5, round.counts.accepted))
            #expect(round.samples.rejected.count == min(5, round.counts.rejected))
            #expect(round.samples.accepted.allSatisfy { examples.contains($0.answer) && $0.accepted })
            #expect(round.samples.rejected.allSatisfy { !$0.accepted && $0.reason != nil })
            #expect(round.storage.examples == round.counts.accepted)
            #expect(round.storage.dictionaries.map(\.examples).reduce(0, +) == round.storage.examples)
        }
        #expect(report.rounds.contains { $0.counts.accepted > 0 && $0.counts.rejected > 0 }, "\(typed.table())")
        #expect(report.rounds.last?.cumulativeAccepted == report.rounds.map(\.counts.accepted).reduce(0, +))
        #expect(!html.lowercased().contains("<script"))
        #expect(html.contains("<polygon class=\"band\""), "the score chart draws its interval band")
    }

    /// The cells of each row of the first Markdown table after `heading`, unescaped pipes splitting them.
    static func markdownRows(_ markdown: String, after heading: String) -> [[String]] {
        guard let start = markdown.range(of: heading + "\n") else { return [] }
        var rows: [[String]] = []
        var inTable = false
        for line in markdown[start.upperBound...].split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("|") {
                inTable = true
                let cells = line.dropFirst(2).dropLast(2).components(separatedBy: " | ")
                rows.append(cells)
            } else if inTable {
                break
            }
        }
        return Array(rows.dropFirst(2))
    }

    /// The text of each `<td>` of the row with `id`, tags stripped and entities left as they are.
    static func htmlRow(_ html: String, id: String) -> [String]? {
        guard let start = html.range(of: "<tr id=\"\(id)\""),
            let end = html.range(of: "</tr>", range: start.upperBound..<html.endIndex)
        else { return nil }
        let row = String(html[start.upperBound..<end.lowerBound])
        return row.matches(of: /<td[^>]*>(.*?)<\/td>/).map { String($0.output.1) }
    }
}
