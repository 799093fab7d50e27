import Foundation

/// A small line/point/bar chart drawn as inline SVG: axes, ticks, labels and whatever marks are added.
struct SVGChart {
    var title: String
    var xLabel = "round"
    var yLabel: String
    var width = 360.0
    var height = 270.0
    let left = 58.0
    let right = 18.0
    let top = 48.0
    let bottom = 46.0
    /// Rounds on the x axis.
    var rounds: [Int]
    var yMax: Double
    var yTicks: [Double]
    var yFormat: (Double) -> String
    var marks: [String] = []
    var legend: [(label: String, swatch: String)] = []

    init(
        title: String, yLabel: String, rounds: [Int], yMax: Double, yTicks: [Double],
        yFormat: @escaping (Double) -> String
    ) {
        self.title = title
        self.yLabel = yLabel
        self.rounds = rounds
        self.yMax = yMax
        self.yTicks = yTicks
        self.yFormat = yFormat
    }

    private var xMin: Double { Double(rounds.min() ?? 0) - 0.5 }
    private var xMax: Double { Double(rounds.max() ?? 0) + 0.5 }

    func x(_ round: Double) -> Double {
        left + (round - xMin) / max(xMax - xMin, 1e-9) * (width - left - right)
    }

    func y(_ value: Double) -> Double {
        let plot = height - top - bottom
        return top + plot - min(max(value / max(yMax, 1e-9), 0), 1) * plot
    }

    /// Pixels per round on the x axis.
    var step: Double { (width - left - right) / max(xMax - xMin, 1e-9) }

    func svg() -> String {
        var out = """
            <svg viewBox="0 0 \(px(width)) \(px(height))" width="\(px(width))" \
            height="\(px(height))" role="img" aria-label="\(ReportEscaping.html(title))">
            <text class="title" x="\(px(left))" y="18">\(ReportEscaping.html(title))</text>

            """
        for tick in yTicks {
            out +=
                "<line class=\"grid\" x1=\"\(px(left))\" x2=\"\(px(width - right))\" y1=\"\(px(y(tick)))\" "
                + "y2=\"\(px(y(tick)))\"/>\n"
            out +=
                "<text class=\"tick\" x=\"\(px(left - 6))\" y=\"\(px(y(tick) + 4))\" text-anchor=\"end\">"
                + "\(ReportEscaping.html(yFormat(tick)))</text>\n"
        }
        let every = max(1, Int((Double(rounds.count) / 16).rounded(.up)))
        for (position, round) in rounds.enumerated() where position % every == 0 {
            out +=
                "<text class=\"tick\" x=\"\(px(x(Double(round))))\" y=\"\(px(height - bottom + 16))\" "
                + "text-anchor=\"middle\">\(round)</text>\n"
        }
        out +=
            "<line class=\"axis\" x1=\"\(px(left))\" x2=\"\(px(width - right))\" y1=\"\(px(height - bottom))\" "
            + "y2=\"\(px(height - bottom))\"/>\n"
        out +=
            "<line class=\"axis\" x1=\"\(px(left))\" x2=\"\(px(left))\" y1=\"\(px(top))\" "
            + "y2=\"\(px(height - bottom))\"/>\n"
        out +=
            "<text class=\"label\" x=\"\(px(left + (width - left - right) / 2))\" y=\"\(px(height - 8))\" "
            + "text-anchor=\"middle\">\(ReportEscaping.html(xLabel))</text>\n"
        out +=
            "<text class=\"label\" transform=\"translate(14 \(px(top + (height - top - bottom) / 2))) rotate(-90)\" "
            + "text-anchor=\"middle\">\(ReportEscaping.html(yLabel))</text>\n"
        out += marks.joined(separator: "\n") + "\n"
        var legendX = left + 6
        for item in legend {
            defer { legendX += Double(item.label.count) * 6.2 + 26 }
            out +=
                "<g transform=\"translate(\(px(legendX)) 34)\">\(item.swatch)<text class=\"tick\" x=\"12\" y=\"4\">"
                + "\(ReportEscaping.html(item.label))</text></g>\n"
        }
        return out + "</svg>"
    }
}

/// Numbers in SVG attributes: two decimals at most, never a locale's comma.
func px(_ value: Double) -> String {
    let rounded = (value * 100).rounded() / 100
    return rounded == rounded.rounded() ? String(Int(rounded)) : String(format: "%.2f", rounded)
}

extension QualityReport {
    static let promotedColor = "#1f7a3a"
    static let rejectedColor = "#c0392b"
    static let runningColor = "#8a8f98"

    /// Held-out score per committed round, its 95% interval as a band, promoted and rejected rounds marked.
    func scoreChart() -> String {
        let scored = rounds.filter { $0.committed && $0.heldout != nil }
        var chart = SVGChart(
            title: "Held-out score with 95% interval", yLabel: "held-out score", rounds: rounds.map(\.round),
            yMax: 1, yTicks: [0, 0.25, 0.5, 0.75, 1], yFormat: { String(format: "%.2f", $0) })
        if scored.count > 1 {
            let upper = scored.map {
                "\(px(chart.x(Double($0.round)))),\(px(chart.y($0.heldout!.ci.last ?? 0)))"
            }
            let lower = scored.reversed().map {
                "\(px(chart.x(Double($0.round)))),\(px(chart.y($0.heldout!.ci.first ?? 0)))"
            }
            chart.marks.append("<polygon class=\"band\" points=\"\((upper + lower).joined(separator: " "))\"/>")
            chart.marks.append(
                "<polyline class=\"line\" points=\""
                    + scored.map { "\(px(chart.x(Double($0.round)))),\(px(chart.y($0.heldout!.score)))" }
                    .joined(separator: " ") + "\"/>")
        }
        for round in scored {
            let heldout = round.heldout!
            let cx = chart.x(Double(round.round))
            let low = chart.y(heldout.ci.first ?? 0)
            let high = chart.y(heldout.ci.last ?? 0)
            chart.marks.append(
                "<path class=\"whisker\" d=\"M\(px(cx - 4)) \(px(low))H\(px(cx + 4))M\(px(cx)) \(px(low))V\(px(high))"
                    + "M\(px(cx - 4)) \(px(high))H\(px(cx + 4))\"/>")
            let tip = "round \(round.round) \(round.state.rawValue): \(Fmt.score(heldout.score)) \(Fmt.ci(heldout.ci))"
            chart.marks.append(
                "<g>" + Self.marker(round.state, x: cx, y: chart.y(heldout.score))
                    + "<title>\(ReportEscaping.html(tip))</title></g>")
        }
        chart.legend = [
            ("promoted", Self.marker(.promoted, x: 0, y: 0)), ("rejected", Self.marker(.rejected, x: 0, y: 0)),
            ("95% interval", "<rect class=\"band\" x=\"-6\" y=\"-5\" width=\"12\" height=\"10\"/>"),
        ]
        return chart.svg()
    }

    /// Accepted over attempts per round that made attempts; an uncommitted round's bar is grey.
    func acceptanceChart() -> String {
        let training = rounds.filter { $0.counts.attempts > 0 }
        var chart = SVGChart(
            title: "Acceptance rate", yLabel: "accepted / attempts", rounds: rounds.map(\.round), yMax: 1,
            yTicks: [0, 0.25, 0.5, 0.75, 1], yFormat: { String(format: "%.0f%%", $0 * 100) })
        let barWidth = min(40, chart.step * 0.6)
        for round in training {
            let rate = round.counts.acceptanceRate
            let cx = chart.x(Double(round.round))
            let color =
                switch round.state {
                case .promoted: Self.promotedColor
                case .rejected: Self.rejectedColor
                default: Self.runningColor
                }
            let tip = "round \(round.round) \(Fmt.state(round)): \(round.counts.accepted) of \(round.counts.attempts)"
            chart.marks.append(
                "<g><rect x=\"\(px(cx - barWidth / 2))\" y=\"\(px(chart.y(rate)))\" width=\"\(px(barWidth))\" "
                    + "height=\"\(px(chart.y(0) - chart.y(rate)))\" fill=\"\(color)\" fill-opacity=\"0.75\"/>"
                    + "<title>\(ReportEscaping.html(tip))</title></g>")
            chart.marks.append(
                "<text class=\"value\" x=\"\(px(cx))\" y=\"\(px(chart.y(rate) - 4))\" text-anchor=\"middle\">"
                    + "\(Fmt.percent(rate))</text>")
        }
        chart.legend = [
            ("promoted", "<rect x=\"-5\" y=\"-5\" width=\"10\" height=\"10\" fill=\"\(Self.promotedColor)\"/>"),
            ("rejected", "<rect x=\"-5\" y=\"-5\" width=\"10\" height=\"10\" fill=\"\(Self.rejectedColor)\"/>"),
        ]
        return chart.svg()
    }

    /// Accepted examples stored so far, and those of promoted rounds (what export writes).
    func cumulativeChart() -> String {
        let top = Double(rounds.map(\.cumulativeAccepted).max() ?? 0)
        let ticks = Self.ticks(upTo: top)
        var chart = SVGChart(
            title: "Cumulative accepted examples", yLabel: "examples", rounds: rounds.map(\.round),
            yMax: ticks.last ?? 1, yTicks: ticks, yFormat: { String(Int($0)) })
        for (values, cssClass) in [
            (rounds.map(\.cumulativePromotedAccepted), "line promoted"), (rounds.map(\.cumulativeAccepted), "line all"),
        ] {
            let points = zip(rounds, values).map {
                "\(px(chart.x(Double($0.round)))),\(px(chart.y(Double($1))))"
            }
            chart.marks.append("<polyline class=\"\(cssClass)\" points=\"\(points.joined(separator: " "))\"/>")
            for (round, value) in zip(rounds, values) {
                chart.marks.append(
                    "<g><circle class=\"\(cssClass)\" cx=\"\(px(chart.x(Double(round.round))))\" "
                        + "cy=\"\(px(chart.y(Double(value))))\" r=\"3\"/>"
                        + "<title>round \(round.round): \(value)</title></g>"
                )
            }
        }
        chart.legend = [
            ("all stored", "<line class=\"line all\" x1=\"-6\" x2=\"6\" y1=\"0\" y2=\"0\"/>"),
            ("promoted rounds", "<line class=\"line promoted\" x1=\"-6\" x2=\"6\" y1=\"0\" y2=\"0\"/>"),
        ]
        return chart.svg()
    }

    static func marker(_ state: RoundState, x: Double, y: Double) -> String {
        switch state {
        case .promoted:
            return "<circle cx=\"\(px(x))\" cy=\"\(px(y))\" r=\"5\" fill=\"\(promotedColor)\"/>"
        default:
            return
                "<path d=\"M\(px(x - 4.5)) \(px(y - 4.5))L\(px(x + 4.5)) \(px(y + 4.5))M\(px(x - 4.5)) \(px(y + 4.5))"
                + "L\(px(x + 4.5)) \(px(y - 4.5))\" stroke=\"\(rejectedColor)\" stroke-width=\"2.5\"/>"
        }
    }

    /// Round tick values from 0 to at least `top`: 0 and four or five steps of 1, 2 or 5 × 10^k.
    static func ticks(upTo top: Double) -> [Double] {
        guard top > 0 else { return [0, 1] }
        let raw = top / 4
        let magnitude = pow(10, floor(log10(raw)))
        let step = max(1, [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? 10 * magnitude)
        let count = Int((top / step).rounded(.up))
        return (0...count).map { Double($0) * step }
    }
}
