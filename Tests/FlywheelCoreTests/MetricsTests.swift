import FlywheelCore
import Foundation
import Testing

@Suite("Prometheus metrics")
struct MetricsTests {
    /// A committed training round.
    static func summary(
        round: Int = 3, errors: [String: Int] = ["timeout": 2, "malformed": 1], verdict: Verdict? = .improved
    ) throws -> RoundSummary {
        var counts = RoundCounts()
        counts.generated = 100
        counts.kept = 90
        counts.duplicates = 7
        counts.contaminated = 3
        counts.attempts = 180
        counts.accepted = 45
        counts.solveErrors = 3
        counts.errorsByKind = errors
        counts.solveSeconds = 12.5
        counts.generateSeconds = 0.25
        counts.promptTokens = 1234
        counts.rawBytes = 4000
        counts.storedBytes = 1000
        return RoundSummary(
            round: round, difficulty: 2, dataPolicy: .accumulate, gate: .noRegression, learning: true,
            solverVersion: 3, candidateVersion: 4, counts: counts,
            heldout: HeldoutSummary(n: 100, score: 0.62, ci: [0.52, 0.71], method: .wilson), heldoutErrors: 0,
            vsPrevious: verdict.map {
                PairedComparison(
                    round: round - 1, b: 2, c: 11, pValue: 0.0225, verdict: $0, method: .mcnemarExact,
                    meanDifference: 0.09)
            }, learnedFrom: 45, learnSeconds: 1.5, evaluateSeconds: 4)
    }

    static func metrics(pipeline: String = "arith", state: RoundState = .promoted) throws -> RoundMetrics {
        RoundMetrics(
            pipeline: pipeline, state: state, summary: try summary(), acceptedTotal: 120,
            committedAt: Date(timeIntervalSince1970: 1_795_000_000))
    }

    /// Sample lines (no comments) as `line → true`, for exact checks.
    static func samples(_ text: String) -> Set<String> {
        Set(text.split(separator: "\n").filter { !$0.hasPrefix("#") }.map(String.init))
    }

    @Test("a round renders as gauges and a counter, every sample labelled with the pipeline")
    func rendersSummary() throws {
        let text = try Self.metrics().render()
        let samples = Self.samples(text)
        for expected in [
            #"flywheel_round{pipeline="arith"} 3"#,
            #"flywheel_round_state{pipeline="arith",state="promoted"} 1"#,
            #"flywheel_round_state{pipeline="arith",state="rejected"} 0"#,
            #"flywheel_heldout_score{pipeline="arith"} 0.62"#,
            #"flywheel_heldout_ci_low{pipeline="arith"} 0.52"#,
            #"flywheel_heldout_ci_high{pipeline="arith"} 0.71"#,
            #"flywheel_heldout_items{pipeline="arith"} 100"#,
            #"flywheel_acceptance_rate{pipeline="arith"} 0.25"#,
            #"flywheel_accepted{pipeline="arith"} 45"#,
            #"flywheel_accepted_total{pipeline="arith"} 120"#,
            #"flywheel_attempts{pipeline="arith"} 180"#,
            #"flywheel_tasks{pipeline="arith",outcome="duplicate"} 7"#,
            #"flywheel_tasks{pipeline="arith",outcome="contaminated"} 3"#,
            #"flywheel_errors{pipeline="arith",kind="timeout"} 2"#,
            #"flywheel_errors{pipeline="arith",kind="malformed"} 1"#,
            #"flywheel_errors{pipeline="arith",kind="crash"} 0"#,
            #"flywheel_stage_seconds{pipeline="arith",stage="solve"} 12.5"#,
            #"flywheel_stage_seconds{pipeline="arith",stage="learn"} 1.5"#,
            #"flywheel_stage_seconds{pipeline="arith",stage="evaluate"} 4"#,
            #"flywheel_verdict{pipeline="arith",verdict="improved"} 1"#,
            #"flywheel_verdict{pipeline="arith",verdict="regressed"} 0"#,
            #"flywheel_verdict_p_value{pipeline="arith"} 0.0225"#,
            #"flywheel_tokens{pipeline="arith",kind="prompt"} 1234"#,
            #"flywheel_example_bytes{pipeline="arith",form="stored"} 1000"#,
            #"flywheel_last_success_timestamp_seconds{pipeline="arith"} 1795000000"#,
        ] {
            #expect(samples.contains(expected), "missing \(expected) in\n\(text)")
        }
        #expect(text.hasSuffix("\n"))
        #expect(text.contains("# TYPE flywheel_accepted_total counter\n"))
        #expect(text.contains("# TYPE flywheel_heldout_score gauge\n"))

        // Each family: HELP, then TYPE, then its samples, and each name once.
        var names: [String] = []
        var current: String?
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            if line.hasPrefix("# HELP ") {
                names.append(String(parts[2]))
                current = nil
            } else if line.hasPrefix("# TYPE ") {
                #expect(String(parts[2]) == names.last, "TYPE without its HELP: \(line)")
                current = String(parts[2])
            } else {
                let name = String(line.prefix { $0 != "{" && $0 != " " })
                #expect(name == current, "sample outside its family: \(line)")
            }
        }
        #expect(Set(names).count == names.count, "a family appears twice: \(names)")
    }

    @Test("a rejected round flags `rejected`; the baseline has no verdict")
    func stateAndBaseline() throws {
        let rejected = Self.samples(try Self.metrics(state: .rejected).render())
        #expect(rejected.contains(#"flywheel_round_state{pipeline="arith",state="rejected"} 1"#))
        #expect(rejected.contains(#"flywheel_round_state{pipeline="arith",state="promoted"} 0"#))

        let baseline = RoundMetrics(
            pipeline: "arith", state: .promoted, summary: try Self.summary(round: 0, errors: [:], verdict: nil),
            acceptedTotal: 0, committedAt: Date())
        let text = baseline.render()
        #expect(!text.contains("flywheel_verdict"))
        #expect(Self.samples(text).contains(#"flywheel_errors{pipeline="arith",kind="timeout"} 0"#))
    }

    @Test("label values escape backslash, double quote and line feed; HELP escapes backslash and line feed")
    func escaping() throws {
        #expect(Prometheus.escapeLabel(#"a\b"#) == #"a\\b"#)
        #expect(Prometheus.escapeLabel(#"say "hi""#) == #"say \"hi\""#)
        #expect(Prometheus.escapeLabel("two\nlines") == #"two\nlines"#)
        #expect(Prometheus.escapeLabel(#"\""#) == #"\\\""#)
        #expect(Prometheus.escapeHelp("a \"quote\" \\ and\nline") == #"a "quote" \\ and\nline"#)

        let text = try Self.metrics(pipeline: "we\"ird\\name\n").render()
        #expect(text.contains(#"flywheel_round{pipeline="we\"ird\\name\n"} 3"#), "\(text)")
        #expect(!text.contains("name\n\""), "a raw line feed inside a label")
    }

    @Test("values: integers without a fraction, Prometheus spellings of NaN and infinities")
    func values() {
        #expect(Prometheus.format(3) == "3")
        #expect(Prometheus.format(-2) == "-2")
        #expect(Prometheus.format(0.25) == "0.25")
        #expect(Prometheus.format(1e-7) == "1e-07")
        #expect(Prometheus.format(.nan) == "NaN")
        #expect(Prometheus.format(.infinity) == "+Inf")
        #expect(Prometheus.format(-.infinity) == "-Inf")
        #expect(Double(Prometheus.format(1_795_000_000.123456)) == 1_795_000_000.123456)
    }

    @Test("the atomic write replaces the file whole and leaves no temporary file, even when it fails")
    func atomicWrite() throws {
        let folder = TemporaryDirectory()
        let path = folder.file("flywheel.prom")
        try "old\n".write(toFile: path, atomically: false, encoding: .utf8)
        let metrics = try Self.metrics()
        try metrics.write(to: path)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == metrics.render())
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["flywheel.prom"])

        // A folder in the way of the rename: the error names the file, the old content stays, no temporary remains.
        let blocked = folder.file("blocked.prom")
        try FileManager.default.createDirectory(atPath: blocked + "/occupied", withIntermediateDirectories: true)
        let error = #expect(throws: FlywheelError.self) { try metrics.write(to: blocked) }
        #expect(error?.code == .runFailed && error?.message.contains(blocked) == true, "\(String(describing: error))")
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted() == [
                "blocked.prom", "flywheel.prom",
            ])

        #expect(throws: FlywheelError.self) { try metrics.write(to: folder.file("missing/flywheel.prom")) }
    }
}
