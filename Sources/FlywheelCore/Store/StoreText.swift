import Foundation
import GRDB

// Free text (anything a plugin, a model, a pipeline file or a JSON encoder produced) goes into the store and comes
// out through the two helpers here, as its UTF-8 bytes. GRDB binds a Swift `String` with
// `sqlite3_bind_text(…, -1, …)` and reads one with `String(cString: sqlite3_column_text(…))`: both stop at the first
// U+0000, so an answer "4\0…" would be stored as "4", and a resumed round would re-check "4". The column stays TEXT
// (the sqlite3 shell, `json_extract` and `typeof` see text); only the way across the C boundary changes.
// Our own enum raw values, hashes, checksums and timestamps are ASCII by construction and bind as plain strings.

extension SQLInterpolation {
    /// Free text bound whole, NULs included: `CAST(<its UTF-8 bytes> AS TEXT)`, or NULL for nil.
    ///
    ///     try db.execute(literal: "INSERT INTO attempts(answer) VALUES (\(text: solution.answer))")
    mutating func appendInterpolation(text: String?) {
        guard let text else {
            appendLiteral("NULL")
            return
        }
        appendInterpolation(sql: "CAST(? AS TEXT)", arguments: [Data(text.utf8)])
    }
}

extension Store {
    /// Free text as a statement argument that keeps its NULs: its UTF-8 bytes, bound in SQL as `CAST(? AS TEXT)`
    /// (the same as `\(text:)` in an `SQL` literal, for statements prepared once and reused).
    static func bytes(_ text: String?) -> Data? { text.map { Data($0.utf8) } }

    /// The select-list entry that reads a free-text column whole: `CAST(t.prompt AS BLOB) AS prompt`.
    /// Read the value back with `text(_:_:table:id:)`.
    static func text(_ column: String, as name: String? = nil) -> String {
        "CAST(\(column) AS BLOB) AS \(name ?? String(column.split(separator: ".").last ?? Substring(column)))"
    }

    /// A free-text column selected with `Store.text(_:)`, or nil when it is NULL.
    /// - Throws: `FlywheelError(.corruptStore)` naming the row when the bytes are not UTF-8.
    func text(_ row: Row, _ name: String, table: String, id: @autoclosure () -> Any) throws -> String? {
        let value: DatabaseValue = row[name]
        switch value.storage {
        case .null:
            return nil
        case .blob(let bytes):
            guard let text = String(validating: bytes, as: UTF8.self) else {
                throw corrupt(table, id(), "`\(name)` is not UTF-8 text")
            }
            return text
        default:
            // Selected without `Store.text(_:)`: GRDB has already cut it at the first NUL.
            assertionFailure("\(table).\(name) was read as \(value), not through Store.text(_:)")
            return String.fromDatabaseValue(value)
        }
    }
}
