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
        var progress: String?
        var lastDraw = 0.0
    }

    public let format: Format
    private let interactive: Bool
    private let sink: @Sendable (String) -> Void
    private let state = Mutex(State())

    /// - Parameters:
    ///   - interactive: draw a progress line (only when stderr is a terminal and the format is text).
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

    public func event(_ name: String, _ fields: [(String, String)] = []) {
        let line: String
        let time = Timestamp.now()
        switch format {
        case .text:
            line = ([time, name] + fields.map { "\($0.0)=\(Self.quoted($0.1))" }).joined(separator: " ")
        case .json:
            var object: [String: JSONValue] = ["event": .string(name), "time": .string(time)]
            for (key, value) in fields { object[key] = .string(value) }
            line = JSONValue.object(object).jsonText
        }
        state.withLock { state in
            if interactive, state.progress != nil { sink("\r\u{1B}[K" + line) } else { sink(line) }
            if interactive, let progress = state.progress { writeRaw(progress) }
        }
    }

    /// Redraws the progress line (at most ten times a second) on a terminal; does nothing otherwise.
    public func progress(_ text: String, force: Bool = false) {
        guard interactive else { return }
        state.withLock { state in
            let now = monotonicNow()
            state.progress = text
            guard force || now - state.lastDraw >= 0.1 else { return }
            state.lastDraw = now
            writeRaw("\r\u{1B}[K" + text)
        }
    }

    public func endProgress() {
        guard interactive else { return }
        state.withLock { state in
            if state.progress != nil { writeRaw("\r\u{1B}[K") }
            state.progress = nil
        }
    }

    private func writeRaw(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }

    private static func quoted(_ value: String) -> String {
        if !value.isEmpty, !value.contains(where: { $0 == " " || $0 == "\"" || $0 == "=" || $0.isNewline }) {
            return value
        }
        return JSONValue.string(value).jsonText
    }
}

/// A text bar for the progress line: `[#########           ] 45/100`.
public func progressBar(_ done: Int, of total: Int, width: Int = 24) -> String {
    let filled = total == 0 ? width : min(width, done * width / max(total, 1))
    return "[" + String(repeating: "#", count: filled) + String(repeating: " ", count: width - filled) + "] \(done)/\(total)"
}
