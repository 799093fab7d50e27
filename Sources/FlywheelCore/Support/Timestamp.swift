import Foundation
import Processes

/// ISO 8601 UTC timestamps with milliseconds, as stored with rounds and written in logs.
public enum Timestamp {
    static let style = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    public static func now() -> String { Date().formatted(style) }

    /// Reads a stored timestamp, with or without fractional seconds.
    public static func parse(_ text: String) -> Date? {
        (try? style.parse(text)) ?? (try? Date.ISO8601FormatStyle().parse(text))
    }
}

/// Seconds on the monotonic clock, for durations: `Processes.monotonicSeconds()`.
func monotonicNow() -> Double { monotonicSeconds() }
