import FlywheelCore
import Testing

/// What a terminal is sent for event lines and the progress line kept below them.
@Suite struct ProgressLineTests {
    static let clear = "\r\u{1B}[K"

    @Test("an event while the bar is shown clears the bar, writes the line, then draws the bar again below it")
    func eventAroundTheBar() {
        var line = ProgressLine()
        #expect(line.progress("solve [##  ] 2/4", draw: true, columns: 80) == Self.clear + "solve [##  ] 2/4")
        #expect(
            line.event("t plugin.stderr line=x", columns: 80) == Self.clear + "t plugin.stderr line=x\n"
                + "solve [##  ] 2/4")
        #expect(line.isShown)
    }

    @Test("a bar wider than the terminal is cut to one column less, so clearing its row clears all of it")
    func wideBarIsCut() {
        let bar = "round 12 held-out evaluate [########################] 120/120 accepted 100 errors 10"
        #expect(bar.count > 60)
        let shown = String(bar.prefix(59))
        var line = ProgressLine()
        #expect(line.progress(bar, draw: true, columns: 60) == Self.clear + shown)
        #expect(line.event("t stage.progress", columns: 60) == Self.clear + "t stage.progress\n" + shown)
        // The event line itself is never cut: the terminal wraps it and the newline ends it.
        let event = String(repeating: "e", count: 100)
        #expect(line.event(event, columns: 60) == Self.clear + event + "\n" + shown)
        // Narrowing the terminal between draws: each draw fits the width it is made for.
        #expect(line.progress(bar, draw: true, columns: 30) == Self.clear + String(bar.prefix(29)))
        // Unknown width (no terminal size to read): the bar is left whole.
        #expect(ProgressLine.fitted(bar, columns: nil) == bar)
        #expect(ProgressLine.fitted("short", columns: 60) == "short")
    }

    @Test("without a bar an event is its line; a bar not yet drawn is drawn after the next event; end clears it once")
    func lifecycle() {
        var line = ProgressLine()
        #expect(line.event("a", columns: 80) == "a\n")
        #expect(line.end() == "", "nothing to clear")
        // A throttled update is kept, not drawn, so there is nothing to clear before the next event.
        #expect(line.progress("bar 1/9", draw: false, columns: 80) == "")
        #expect(!line.isShown)
        #expect(line.event("b", columns: 80) == "b\nbar 1/9")
        #expect(line.progress("bar 2/9", draw: false, columns: 80) == "")
        #expect(line.event("c", columns: 80) == Self.clear + "c\nbar 2/9", "the newest text is redrawn")
        #expect(line.end() == Self.clear)
        #expect(line.end() == "")
        #expect(line.text == nil && !line.isShown)
        #expect(line.event("d", columns: 80) == "d\n", "no bar comes back after the end")
    }
}
