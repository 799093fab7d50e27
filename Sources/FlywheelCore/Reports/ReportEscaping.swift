/// Escaping for text that reaches a report. Tasks, answers and reasons come from plugins and models: they are
/// hostile input, and nothing of theirs may become markup.
public enum ReportEscaping {
    /// Text for HTML element content (never attributes): `& < > " '` become entities, and invisible characters
    /// (controls other than tab and newline, bidi and other format characters, line separators) are shown as
    /// `U+XXXX` in a marked span, so the page shows what the bytes are.
    public static func html(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            case "\n", "\t": out.unicodeScalars.append(scalar)
            default:
                if isInvisible(scalar) {
                    out += "<span class=\"ctl\">\(codePoint(scalar))</span>"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }

    /// Text for one Markdown table cell: the punctuation that makes inline markup (`` \ ` * _ | [ ] ~ $ > ``) is
    /// backslash-escaped, a line break becomes `<br>`, a tab a space, and invisible characters are shown as
    /// `` `U+XXXX` ``. A `<` is backslash-escaped too (`\<1`), except where it could open an HTML tag, comment or
    /// autolink (before a letter, `/`, `!` or `?`): there it becomes `&lt;`, as `&` becomes `&amp;`, because an
    /// entity is the one escape every Markdown renderer honours, and no raw HTML may survive.
    public static func markdownCell(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        let scalars = Array(text.unicodeScalars)
        for (index, scalar) in scalars.enumerated() {
            let previous = index > 0 ? scalars[index - 1] : nil
            switch scalar {
            case "&": out += "&amp;"
            case "<":
                let next = index + 1 < scalars.count ? scalars[index + 1] : nil
                out += next.map(opensMarkup) == true ? "&lt;" : "\\<"
            case "\\", "`", "*", "_", "|", "[", "]", "~", "$", ">":
                out += "\\"
                out.unicodeScalars.append(scalar)
            case "\n":
                if previous != "\r" { out += "<br>" }
            case "\r": out += "<br>"
            case "\t": out += " "
            default:
                if isInvisible(scalar) {
                    out += "`\(codePoint(scalar))`"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }

    /// Whether `<` followed by `next` could start an HTML tag, comment, declaration or autolink in some renderer.
    static func opensMarkup(_ next: Unicode.Scalar) -> Bool {
        next.properties.isAlphabetic || next == "/" || next == "!" || next == "?"
    }

    /// Controls (except tab and newline), format characters such as bidi overrides and zero-width spaces (except
    /// the zero-width joiner emoji need), and line or paragraph separators.
    static func isInvisible(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .control: scalar != "\n" && scalar != "\t"
        case .format: scalar.value != 0x200D
        case .lineSeparator, .paragraphSeparator, .surrogate, .privateUse: true
        default: false
        }
    }

    static func codePoint(_ scalar: Unicode.Scalar) -> String {
        let hex = String(scalar.value, radix: 16, uppercase: true)
        return "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
    }

    /// At most `limit` characters of `text`, with a note of how many were left out.
    static func truncated(_ text: String, to limit: Int) -> (text: String, omitted: Int) {
        guard text.count > limit else { return (text, 0) }
        return (String(text.prefix(limit)), text.count - limit)
    }
}
