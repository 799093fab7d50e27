import FlywheelCore
import Foundation
import Testing

/// A store written row by row through Store's public API: a promoted round whose accepted answer is hostile, a
/// rejected round, and a round still running.
struct HostileStore {
    static let hostile = "<script>alert(1)</script></textarea>\"'\u{1}"
    /// Text that must survive export byte for byte: unicode, CRLF, tabs, edge spaces, a line separator.
    static let prompt = "  Σ → 😀 ✓ «quotes» \"q\"\nline two\r\n\ttabbed\u{2028}after U+2028 \\n not a newline  \n"
    static let answer = hostile + "\n  ünïcödé 👩‍👩‍👧  \u{85}end\n"
    static let reason = "checker says: " + hostile
    static let meta: JSONValue = .object(["family": "hostile", "difficulty": 3, "note": "<b>meta</b>"])

    let store: Store
    let baseline: SolverVersion
    let candidate: SolverVersion

    init(in folder: TemporaryDirectory) throws {
        store = try Store(path: folder.file("hostile.sqlite"))
        try store.insertHeldoutItem(
            index: 0, seed: 1, status: .kept, task: TaskSpec(prompt: "a held-out prompt", reference: "x"),
            promptHash: PromptNormalizer.hash("a held-out prompt"), failure: nil)
        baseline = try store.insertVersion(round: 0, parent: nil, state: Data("{}".utf8), promoted: true)
        try Self.round(store, 0, .promoted, solver: nil)
        candidate = try store.insertVersion(
            round: 1, parent: baseline.id, state: Data(#"{"v":1}"#.utf8), promoted: true)

        try Self.round(store, 1, .running, solver: baseline.id)
        try Self.answer(
            store, round: 1, index: 0, prompt: Self.prompt, answer: Self.answer, accept: true,
            version: baseline.id)
        try Self.answer(
            store, round: 1, index: 1, prompt: "rejected: " + Self.hostile, answer: Self.hostile,
            accept: false, version: baseline.id)
        try store.setRoundState(1, .promoted)

        try Self.round(store, 2, .running, solver: candidate.id)
        try Self.answer(
            store, round: 2, index: 0, prompt: "round 2 was rejected", answer: "42", accept: true,
            version: candidate.id)
        try store.setRoundState(2, .rejected)

        try Self.round(store, 3, .running, solver: candidate.id)
        try Self.answer(
            store, round: 3, index: 0, prompt: "round 3 is running", answer: "43", accept: true,
            version: candidate.id)
    }

    static func round(_ store: Store, _ number: Int, _ state: RoundState, solver: Int64?) throws {
        try store.insertRound(
            RoundRecord(
                round: number, state: state, solverVersion: solver, difficulty: 3, dataPolicy: .accumulate,
                gate: .noRegression, learning: true, startedAt: "2025-01-01T00:00:00Z"))
    }

    static func answer(
        _ store: Store, round: Int, index: Int, prompt: String, answer: String, accept: Bool, version: Int64
    ) throws {
        let task = TaskSpec(prompt: prompt, reference: "ref", meta: meta)
        let taskID = try store.insertTask(
            round: round, index: index, seed: 4200 + UInt64(index), difficulty: 3, status: .kept, task: task,
            promptHash: PromptNormalizer.hash(prompt), contamination: nil, failure: nil, seconds: 0.25)
        let attemptID = try store.insertAttempt(
            taskID: taskID, attempt: 0, seed: 700 + UInt64(index), solverVersion: version,
            result: .success(Solution(answer: answer, usage: .object(["prompt_tokens": 5, "completion_tokens": 2]))),
            seconds: 0.5)
        let example =
            accept
            ? AcceptedExample(
                StoredExample(prompt: prompt, answer: answer, reference: "ref", meta: meta, trace: nil),
                dictionary: nil) : nil
        try store.insertVerdict(
            attemptID: attemptID, round: round,
            result: .success(Judgement(accept: accept, score: accept ? 1 : 0, reason: reason)),
            checker: "fixture-checker --strict", seconds: 0.125, example: example)
    }
}

@Suite struct ReportHostileTests {
    static let escapedHTML =
        "&lt;script&gt;alert(1)&lt;/script&gt;&lt;/textarea&gt;&quot;&#39;<span class=\"ctl\">U+0001</span>"
    static let escapedMarkdown = "&lt;script\\>alert(1)&lt;/script\\>&lt;/textarea\\>\"'`U+0001`"

    @Test func aHostileAnswerAppearsOnlyEscapedInHTML() throws {
        let folder = TemporaryDirectory()
        let fixture = try HostileStore(in: folder)
        let html = try QualityReport.build(pipeline: "<b>pipe</b>", store: fixture.store).html()

        #expect(!html.lowercased().contains("<script"))
        #expect(!html.lowercased().contains("</textarea"))
        #expect(!html.unicodeScalars.contains("\u{1}"))
        #expect(!html.unicodeScalars.contains("\u{85}"))
        #expect(!html.unicodeScalars.contains("\u{2028}"))
        // The answer, the reason and the rejected prompt all carry it, escaped.
        #expect(html.components(separatedBy: Self.escapedHTML).count - 1 >= 4)
        #expect(html.contains("&lt;b&gt;pipe&lt;/b&gt;"))
        #expect(!html.contains("<b>pipe</b>") && !html.contains("<b>meta</b>"))
        // Self-contained: nothing to fetch, and a policy that forbids scripts and fetches anyway.
        for needle in ["src=", "href=", "http://", "https://", "url(", "@import", "<link", "<img", "<iframe"] {
            #expect(!html.lowercased().contains(needle), "the page contains \(needle)")
        }
        #expect(html.contains("content=\"default-src 'none'; style-src 'unsafe-inline'\""))
        #expect(html.components(separatedBy: "<svg").count - 1 == 3)
    }

    @Test func aHostileAnswerAppearsOnlyEscapedInMarkdownAndTablesKeepTheirShape() throws {
        let folder = TemporaryDirectory()
        let fixture = try HostileStore(in: folder)
        let markdown = try QualityReport.build(pipeline: "p", store: fixture.store).markdown()

        #expect(!markdown.lowercased().contains("<script"))
        #expect(!markdown.lowercased().contains("</textarea"))
        #expect(!markdown.unicodeScalars.contains("\u{1}"))
        #expect(markdown.contains(Self.escapedMarkdown))
        // Every table row keeps its column count: no cell's text opened a new row or cell.
        var columns: Int?
        for line in markdown.split(separator: "\n", omittingEmptySubsequences: false) {
            guard line.hasPrefix("|") else {
                columns = nil
                continue
            }
            let separators = Self.unescapedPipes(String(line))
            if let columns {
                #expect(separators == columns, "row \(line)")
            } else {
                columns = separators
            }
        }
        // The prompt's line breaks became <br>, the only tag Markdown output emits besides none.
        #expect(markdown.contains("line two<br>"))
        let tags = markdown.matches(of: /<[a-zA-Z\/][^>]*>/).map { String(markdown[$0.range]) }
        #expect(Set(tags).isSubset(of: ["<br>"]), "tags: \(Set(tags))")
    }

    @Test func theJSONReportKeepsTheTextExactlyAndMarksTheRunningRound() throws {
        let folder = TemporaryDirectory()
        let fixture = try HostileStore(in: folder)
        let report = try QualityReport.build(pipeline: "p", store: fixture.store)
        let decoded = try QualityReport.decode(try report.rendered(.json))
        #expect(decoded == report)

        try #require(decoded.rounds.map(\.round) == [0, 1, 2, 3])
        let one = decoded.rounds[1]
        #expect(one.samples.accepted.map(\.answer) == [HostileStore.answer])
        #expect(one.samples.accepted.map(\.prompt) == [HostileStore.prompt])
        #expect(one.samples.accepted.first?.reason == HostileStore.reason)
        #expect(one.samples.rejected.map(\.answer) == [HostileStore.hostile])
        #expect(one.samples.accepted.first?.lineage.checker == "fixture-checker --strict")
        #expect(one.counts.accepted == 1 && one.counts.rejected == 1 && one.counts.attempts == 2)
        #expect(one.tokens.prompt == 10 && one.tokens.completion == 4)
        #expect(decoded.rounds.map(\.state) == [.promoted, .promoted, .rejected, .running])
        #expect(decoded.rounds.map(\.committed) == [true, true, true, false])
        #expect(decoded.rounds.map(\.cumulativeAccepted) == [0, 1, 2, 3])
        #expect(decoded.rounds.map(\.cumulativePromotedAccepted) == [0, 1, 1, 1])
        #expect(report.html().contains("running (not committed)"))
        #expect(report.markdown().contains("running (not committed)"))
    }

    @Test func htmlEscapingCoversMarkupQuotesAndInvisibleCharacters() {
        #expect(ReportEscaping.html("a&b<c>\"d'e") == "a&amp;b&lt;c&gt;&quot;d&#39;e")
        #expect(ReportEscaping.html("x\u{202E}y") == "x<span class=\"ctl\">U+202E</span>y")
        #expect(
            ReportEscaping.html("\u{0}\u{7F}\u{9B}")
                == "<span class=\"ctl\">U+0000</span><span class=\"ctl\">U+007F</span><span class=\"ctl\">U+009B</span>"
        )
        #expect(ReportEscaping.html("keep\n\ttabs ✓ 👩‍👩‍👧") == "keep\n\ttabs ✓ 👩‍👩‍👧")
        #expect(ReportEscaping.html("&amp;") == "&amp;amp;")
    }

    @Test func markdownEscapingCoversTableAndInlineMarkup() {
        #expect(ReportEscaping.markdownCell("a|b\nc*d_e`f") == "a\\|b<br>c\\*d\\_e\\`f")
        #expect(
            ReportEscaping.markdownCell("<x> & [l](u) ~s~ $m$ \\") == "&lt;x\\> &amp; \\[l\\](u) \\~s\\~ \\$m\\$ \\\\")
        #expect(ReportEscaping.markdownCell("r\r\nn\u{1B}") == "r<br>n`U+001B`")
    }

    @Test func aLessThanSignIsEscapedTheMarkdownWayUnlessItCouldOpenMarkup() {
        // No markup can start here: a backslash escape, readable in the Markdown source.
        #expect(ReportEscaping.markdownCell("<1") == "\\<1")
        #expect(ReportEscaping.markdownCell("p < 0.05, n<=3, a<<2, <") == "p \\< 0.05, n\\<=3, a\\<\\<2, \\<")
        #expect(ReportEscaping.markdownCell("->") == "-\\>")
        // A tag, closing tag, comment, declaration, processing instruction or autolink could: an entity.
        for (text, escaped) in [
            ("<b>", "&lt;b\\>"), ("</b>", "&lt;/b\\>"), ("<!-- c -->", "&lt;!-- c --\\>"), ("<!x>", "&lt;!x\\>"),
            ("<?php", "&lt;?php"), ("<https://x.example>", "&lt;https://x.example\\>"), ("<é>", "&lt;é\\>"),
        ] {
            #expect(ReportEscaping.markdownCell(text) == escaped)
        }
    }

    @Test func aSubSecondWallTimeReadsAsLessThanOneInTheMarkdownSource() throws {
        let folder = TemporaryDirectory()
        let fixture = try HostileStore(in: folder)
        var report = try QualityReport.build(pipeline: "p", store: fixture.store)
        for index in report.rounds.indices { report.rounds[index].times.wallSeconds = 0.4 }
        let markdown = report.markdown()
        let costRows = markdown.split(separator: "\n").filter { $0.hasPrefix("| 0 |") || $0.hasPrefix("| 1 |") }
        #expect(costRows.contains { $0.contains(" | \\<1 | ") }, "\(costRows)")
        #expect(!markdown.contains("&lt;1"))
        #expect(report.html().contains("&lt;1"), "HTML keeps its entity")
    }

    @Test func theFormatFollowsTheExtensionElseHTML() {
        #expect(ReportFormat(path: "/tmp/r.md") == .md)
        #expect(ReportFormat(path: "r.JSON") == .json)
        #expect(ReportFormat(path: "r.html") == .html)
        #expect(ReportFormat(path: "report") == .html)
        #expect(ReportFormat(path: "r.txt") == .html)
    }

    /// `|` characters not preceded by a backslash.
    static func unescapedPipes(_ line: String) -> Int {
        var count = 0
        var escaped = false
        for character in line {
            if escaped {
                escaped = false
            } else if character == "\\" {
                escaped = true
            } else if character == "|" {
                count += 1
            }
        }
        return count
    }
}
