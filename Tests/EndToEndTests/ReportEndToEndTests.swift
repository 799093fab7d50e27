import Foundation
import Testing

/// `flywheel report` and `flywheel export` through the real binary, on a store whose answers are hostile, and the
/// HTML page rendered by headless Chromium with no network.
@Suite("Reports")
struct ReportEndToEndTests {
    static let hostile = "<script>alert(1)</script></textarea>\"'\u{1}"

    /// A solver that is right on more tasks once it has few-shot examples (so round 1 improves and round 2 does
    /// not), and whose every answer carries the hostile text: after the sum when right, alone when wrong.
    static let solver = """
        import hashlib, json, re, sys
        HOSTILE = \(jsonString(hostile))
        for line in sys.stdin:
            req = json.loads(line)
            prompt = req["task"]["prompt"]
            a, b = (int(x) for x in re.findall(r"(-?\\d+)\\s*\\+\\s*(-?\\d+)", prompt)[-1])
            share = 80 if req.get("examples") else 30
            right = int(hashlib.sha256(prompt.encode()).hexdigest(), 16) % 100 < share
            answer = f"{a + b}\\n{HOSTILE}" if right else HOSTILE
            print(json.dumps({"id": req["id"], "answer": answer}), flush=True)
        """

    /// Accepts an answer whose first line is the reference, and quotes the answer in its reason.
    static let checker = """
        import json, sys
        for line in sys.stdin:
            req = json.loads(line)
            answer = req["answer"]
            ok = answer.split("\\n")[0] == req["task"]["reference"]
            print(json.dumps({"id": req["id"], "accept": ok, "score": 1.0 if ok else 0.0,
                              "reason": ("match: " if ok else "wrong: ") + answer}), flush=True)
        """

    /// A JSON string literal, which Python reads as the same string.
    static func jsonString(_ text: String) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .withoutEscapingSlashes
        return String(decoding: try! encoder.encode(text), as: UTF8.self)
    }

    /// Round 0, round 1 (promoted: few-shot examples help) and round 2 (rejected by must-improve: no change).
    static func hostileRun(_ sandbox: Sandbox) async throws -> String {
        var arith = ArithPipeline()
        arith.solver = ["python3", "-u", try sandbox.write("hostile_solve.py", solver)]
        arith.checker = ["python3", "-u", try sandbox.write("hostile_check.py", checker)]
        arith.extra = ["gate: must-improve"]
        let pipeline = try sandbox.write(arith)
        let run = try await sandbox.flywheel(["run", pipeline, "--rounds", "2", "--store", sandbox.store])
        try #require(run.exitCode == 0, "\(run)")
        return pipeline
    }

    @Test("report writes HTML, Markdown and JSON that agree with status --json and escape hostile answers")
    func reportFormats() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let pipeline = try await Self.hostileRun(sandbox)
        let (status, _) = try await sandbox.status(pipeline)
        try #require(status.rounds.map(\.state) == ["promoted", "promoted", "rejected"], "\(status.rounds)")

        for name in ["report.html", "report.md", "report.json", "report-md.txt"] {
            var arguments = ["report", pipeline, "--store", sandbox.store, "--out", sandbox.path(name)]
            if name.hasSuffix(".txt") { arguments += ["--format", "md"] }
            let outcome = try await sandbox.flywheel(arguments)
            #expect(outcome.exitCode == 0, "\(outcome)")
        }
        let html = try String(contentsOfFile: sandbox.path("report.html"), encoding: .utf8)
        let markdown = try String(contentsOfFile: sandbox.path("report.md"), encoding: .utf8)
        #expect(html.hasPrefix("<!DOCTYPE html>"))
        #expect(markdown.hasPrefix("# Quality report: arith"))
        // The same Markdown but for the "Generated …" timestamp line.
        let asText = try String(contentsOfFile: sandbox.path("report-md.txt"), encoding: .utf8)
        #expect(asText.split(separator: "\n").dropFirst(3) == markdown.split(separator: "\n").dropFirst(3))

        // The JSON form against status --json, round by round (JSONDecoder: it parses doubles exactly).
        let data = try Data(contentsOf: URL(fileURLWithPath: sandbox.path("report.json")))
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let report = try decoder.decode(ReportJSON.self, from: data)
        #expect(report.pipeline == "arith")
        try #require(report.rounds.count == status.rounds.count)
        for (round, expected) in zip(report.rounds, status.rounds) {
            #expect(round.round == expected.round && round.state == expected.state)
            #expect(round.counts.generated == expected.generated && round.counts.accepted == expected.accepted)
            #expect(round.heldout?.n == expected.heldout?.n)
            #expect(round.heldout?.score == expected.heldout?.score)
            #expect(round.heldout?.ci == expected.heldout?.ci)
            #expect(round.vsPrevious?.b == expected.vsPrevious?.b && round.vsPrevious?.c == expected.vsPrevious?.c)
            #expect(round.vsPrevious?.pValue == expected.vsPrevious?.pValue)
            #expect(round.vsPrevious?.verdict == expected.vsPrevious?.verdict)
        }

        // The hostile answer is in the samples, escaped; never as markup.
        let escaped =
            "&lt;script&gt;alert(1)&lt;/script&gt;&lt;/textarea&gt;&quot;&#39;<span class=\"ctl\">U+0001</span>"
        #expect(html.contains(escaped))
        #expect(markdown.contains("&lt;script\\>alert(1)&lt;/script\\>&lt;/textarea\\>\"'`U+0001`"))
        for text in [html, markdown] {
            #expect(!text.lowercased().contains("<script"))
            #expect(!text.lowercased().contains("</textarea"))
            #expect(!text.unicodeScalars.contains("\u{1}"))
        }
        #expect(String(decoding: data, as: UTF8.self).contains("\\u0001"), "JSON keeps the control as an escape")
    }

    /// The parts of `report.json` compared with `status --json`.
    struct ReportJSON: Decodable {
        var pipeline: String
        var rounds: [Round]

        struct Round: Decodable {
            var round: Int
            var state: String
            var counts: Counts
            var heldout: Heldout?
            var vsPrevious: Versus?
        }

        struct Counts: Decodable {
            var generated: Int
            var accepted: Int
        }

        struct Heldout: Decodable {
            var n: Int
            var score: Double
            var ci: [Double]
        }

        struct Versus: Decodable {
            var b: Int
            var c: Int
            var pValue: Double
            var verdict: String
        }
    }

    @Test("headless Chromium renders the HTML report to a PNG with no network and runs no script")
    func chromiumRendersTheReport() async throws {
        try #require(
            Repository.onPath("chromium"),
            "Debian's chromium is needed for this test: apt-get install -y chromium (the README's test command does)")
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let pipeline = try await Self.hostileRun(sandbox)
        let report = sandbox.path("report.html")
        let outcome = try await sandbox.flywheel(["report", pipeline, "--store", sandbox.store, "--out", report])
        try #require(outcome.exitCode == 0, "\(outcome)")

        // Every request would go to a closed loopback port: the page must not need the network.
        let common = [
            "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--proxy-server=127.0.0.1:9", "--user-data-dir=" + sandbox.path("chromium-profile"),
        ]
        let png = sandbox.path("report.png")
        let shot = try await sandbox.run(
            common + ["--screenshot=" + png, "--window-size=1200,2000", "file://" + report], timeout: .seconds(120))
        #expect(shot.exitCode == 0, "\(shot)")
        let image = try Data(contentsOf: URL(fileURLWithPath: png))
        #expect(image.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]), "not a PNG")
        try #require(image.count > 24)
        let width = image[16..<20].reduce(0) { $0 << 8 | Int($1) }
        let height = image[20..<24].reduce(0) { $0 << 8 | Int($1) }
        #expect(width == 1200 && height == 2000)
        // A blank 1200×2000 page compresses to a few KB; charts and tables make far more.
        #expect(image.count > 40_000, "the screenshot is only \(image.count) bytes")

        // The DOM Chromium built holds the hostile text as text: no script element, no textarea left open.
        let dom = try await sandbox.run(common + ["--dump-dom", "file://" + report], timeout: .seconds(120))
        #expect(dom.exitCode == 0, "\(dom)")
        #expect(dom.stdout.contains("</html>"))
        #expect(!dom.stdout.lowercased().contains("<script"))
        #expect(!dom.stdout.lowercased().contains("<textarea"))
        #expect(dom.stdout.contains("&lt;script&gt;alert(1)&lt;/script&gt;&lt;/textarea&gt;"))
        #expect(dom.stdout.components(separatedBy: "<svg").count - 1 == 3)
    }

    @Test("export writes promoted rounds' accepted examples exactly, and refuses rejected rounds")
    func exportThroughTheBinary() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let pipeline = try await Self.hostileRun(sandbox)
        let out = sandbox.path("train.jsonl")
        let outcome = try await sandbox.flywheel(["export", pipeline, "--store", sandbox.store, "--out", out])
        try #require(outcome.exitCode == 0, "\(outcome)")
        let promoted = try await sandbox.sqlInt(
            "select count(*) from examples e join rounds r on r.round = e.round where r.state = 'promoted'")
        let rejected = try await sandbox.sqlInt(
            "select count(*) from examples e join rounds r on r.round = e.round where r.state = 'rejected'")
        try #require(promoted > 0 && rejected > 0, "the run needs both kinds of round")
        #expect(outcome.stdout.contains("exported \(promoted) examples"), "\(outcome.stdout)")

        let text = try String(contentsOfFile: out, encoding: .utf8)
        let lines = text.split(separator: "\n")
        #expect(lines.count == promoted)
        for line in lines {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let messages = try #require(object["messages"] as? [[String: String]])
            #expect(messages.map { $0["role"] } == ["user", "assistant"])
            #expect(messages[1]["content"]?.hasSuffix("\n" + Self.hostile) == true, "answer: \(messages[1])")
            let lineage = try #require(object["lineage"] as? [String: Any])
            #expect(lineage["round"] as? Int == 1)
        }

        let refused = try await sandbox.flywheel(
            ["export", pipeline, "--store", sandbox.store, "--out", out, "--rounds", "1,2"])
        #expect(refused.exitCode == 64, "\(refused)")
        #expect(refused.stderr.contains("round 2 is rejected"), "\(refused.stderr)")
        #expect(try String(contentsOfFile: out, encoding: .utf8) == text, "a refused export leaves the file")

        let completion = try await sandbox.flywheel(
            [
                "export", pipeline, "--store", sandbox.store, "--out", sandbox.path("pc.jsonl"), "--rounds", "1",
                "--format", "prompt-completion",
            ])
        #expect(completion.exitCode == 0, "\(completion)")
        let first = try String(contentsOfFile: sandbox.path("pc.jsonl"), encoding: .utf8).split(separator: "\n").first
        let object = try #require(
            first.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) } as? [String: Any])
        #expect(object["prompt"] is String && object["completion"] is String && object["messages"] == nil)
    }

    @Test("bad report and export arguments are usage errors (exit 64)")
    func usageErrors() async throws {
        let sandbox = try Sandbox()
        defer { sandbox.remove() }
        let pipeline = try sandbox.write(ArithPipeline())
        let missing = try await sandbox.flywheel(
            ["report", pipeline, "--store", sandbox.path("none.sqlite"), "--out", sandbox.path("r.html")])
        #expect(missing.exitCode == 64, "\(missing)")
        #expect(!FileManager.default.fileExists(atPath: sandbox.path("none.sqlite")), "report must not create a store")
        for arguments in [
            ["report", pipeline, "--out", sandbox.path("r.pdf"), "--format", "pdf"],
            ["report", pipeline],
            ["export", pipeline, "--out", sandbox.path("e.jsonl"), "--rounds", "1,x"],
            ["export", pipeline, "--out", sandbox.path("e.jsonl"), "--format", "alpaca"],
        ] {
            let outcome = try await sandbox.flywheel(arguments + ["--store", sandbox.store])
            #expect(outcome.exitCode == 64, "\(outcome)")
        }
    }
}
