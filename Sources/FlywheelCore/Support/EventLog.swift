#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Synchronization

/// Log events, one line each on stderr; on a terminal, a progress line is kept below them.
public final class EventLog: Sendable {
    public enum Format: String, Sendable, CaseIterable {
        /// `2026-11-27T14:00:00Z round.start round=1 difficulty=2`
        case text
        /// One JSON object per line: `{"event":"round.start","round":1,…,"time":"…"}`
        case json
    }

    private struct State {
        var screen = ProgressLine()
        var lastDraw = 0.0
    }

    public let format: Format
    private let interactive: Bool
    private let sink: @Sendable (String) -> Void
    private let state = Mutex(State())

    /// - Parameters:
    ///   - interactive: draw a progress line (only when stderr is a terminal and the format is text); then every
    ///     line is written to stderr together with the progress line, and `sink` is not used.
    ///   - sink: where lines go; stderr by default.
    public init(
        format: Format = .text, interactive: Bool = isatty(2) == 1,
        sink: @escaping @Sendable (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
    ) {
        self.format = format
        self.interactive = interactive && format == .text
        self.sink = sink
    }

    /// Whether a progress line is drawn (then periodic progress events are left out).
    public var drawsProgress: Bool { interactive }

    public static let silent = EventLog(interactive: false, sink: { _ in })

    public func event(_ name: String, _ fields: [(String, any LogValue)] = []) {
        let line: String
        let time = Timestamp.now()
        switch format {
        case .text:
            line = ([time, name] + fields.map { "\($0.0)=\(Self.quoted($0.1.logText))" }).joined(separator: " ")
        case .json:
            var object: [String: JSONValue] = ["event": .string(name), "time": .string(time)]
            for (key, value) in fields { object[key] = value.logJSON }
            line = JSONValue.object(object).jsonText
        }
        guard interactive else {
            state.withLock { _ in sink(line) }
            return
        }
        state.withLock { state in writeRaw(state.screen.event(line, columns: Self.terminalColumns())) }
    }

    /// Redraws the progress line (at most ten times a second) on a terminal; does nothing otherwise, without even
    /// building `text`.
    public func progress(_ text: @autoclosure () -> String, force: Bool = false) {
        guard interactive else { return }
        let text = text()
        state.withLock { state in
            let now = monotonicNow()
            let draw = force || now - state.lastDraw >= 0.1
            if draw { state.lastDraw = now }
            writeRaw(state.screen.progress(text, draw: draw, columns: Self.terminalColumns()))
        }
    }

    public func endProgress() {
        guard interactive else { return }
        state.withLock { state in writeRaw(state.screen.end()) }
    }

    private func writeRaw(_ text: String) {
        guard !text.isEmpty else { return }
        FileHandle.standardError.write(Data(text.utf8))
    }

    /// The width of the terminal on stderr, or nil when it cannot be told.
    private static func terminalColumns() -> Int? {
        var size = winsize()
        guard ioctl(2, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 else { return nil }
        return Int(size.ws_col)
    }

    private static func quoted(_ value: String) -> String {
        if !value.isEmpty, !value.contains(where: { $0 == " " || $0 == "\"" || $0 == "=" || $0.isNewline }) {
            return value
        }
        return JSONValue.string(value).jsonText
    }
}

/// A value a log event carries: bare in text lines; a JSON number, boolean or string in JSON lines.
public protocol LogValue: Sendable {
    var logJSON: JSONValue { get }
    var logText: String { get }
}

extension LogValue where Self: CustomStringConvertible {
    public var logText: String { description }
}

extension String: LogValue {
    public var logJSON: JSONValue { .string(self) }
}

extension Int: LogValue {
    public var logJSON: JSONValue { .number(Double(self)) }
}

extension Int32: LogValue {
    public var logJSON: JSONValue { .number(Double(self)) }
}

extension Double: LogValue {
    public var logJSON: JSONValue { .number(self) }
}

extension Bool: LogValue {
    public var logJSON: JSONValue { .bool(self) }
}

/// A text bar for the progress line: `[#########           ] 45/100`.
public func progressBar(_ done: Int, of total: Int, width: Int = 24) -> String {
    let filled = total == 0 ? width : min(width, done * width / max(total, 1))
    return "[" + String(repeating: "#", count: filled) + String(repeating: " ", count: width - filled) + "] \(done)/\(total)"
}

/// The progress line kept below the event lines on a terminal, as the text to write for each change, so that the
/// two never mix: an event line clears the progress line first and draws it again below itself.
///
/// The progress line is cut to one column less than the terminal is wide. A line that wraps would occupy two
/// rows, and `\r` + erase-line clears only the row the cursor is on, leaving the first part of the bar above the
/// next event line.
public struct ProgressLine: Sendable, Equatable {
    /// Carriage return, then erase to the end of the line.
    public static let clear = "\r\u{1B}[K"

    /// The progress text to show, drawn or not yet.
    public private(set) var text: String?
    /// Whether the progress line is on the screen now.
    public private(set) var isShown = false

    public init() {}

    /// The text to write for one event line (given without its newline): the progress line, if shown, is cleared
    /// first, and drawn again below the event line.
    public mutating func event(_ line: String, columns: Int?) -> String {
        var out = isShown ? Self.clear : ""
        out += line + "\n"
        if let text {
            out += Self.fitted(text, columns: columns)
            isShown = true
        }
        return out
    }

    /// Replaces the progress text; the text to write is empty unless `draw` (the caller throttles redraws).
    public mutating func progress(_ text: String, draw: Bool, columns: Int?) -> String {
        self.text = text
        guard draw else { return "" }
        isShown = true
        return Self.clear + Self.fitted(text, columns: columns)
    }

    /// Removes the progress line: the text to write clears it if it is shown.
    public mutating func end() -> String {
        defer { (text, isShown) = (nil, false) }
        return isShown ? Self.clear : ""
    }

    /// `text` cut to `columns - 1` characters (the bar is ASCII), or whole when the width is unknown.
    public static func fitted(_ text: String, columns: Int?) -> String {
        guard let columns, columns > 1, text.count >= columns else { return text }
        return String(text.prefix(columns - 1))
    }
}
