import Foundation
import GRDB

#if canImport(GRDBSQLite)
    import GRDBSQLite
#else
    import SQLite3
#endif

extension Store {
    /// Runs `statement` once with `values` bound in order, straight to SQLite: for the statements every item runs
    /// (the INSERTs of its task, attempt, verdict and example, and the lookup of the checker's row). Call inside a
    /// write.
    ///
    /// GRDB's `execute(arguments:)` and `fetchOne` do the same with more around it: arguments boxed as existentials
    /// and then converted, bound through one nested closure per argument, checks for observers, regions and aborted
    /// transactions. The store uses none of those (no observation; these statements run inside the transaction of a
    /// batch). In a 3,000-item arith round this cut the process's CPU by ~4 % (docs/performance-history.md, eleventh
    /// session).
    /// - Returns: `row` applied to the first row, nil when there is none (an INSERT).
    /// - Throws: `DatabaseError` with SQLite's code and message, as GRDB would.
    @discardableResult
    static func stepOnce<T>(
        _ statement: Statement, _ values: [DatabaseValue], row: (SQLiteStatement) -> T = { _ in () }
    ) throws -> T? {
        let handle = statement.sqliteStatement
        sqlite3_reset(handle)
        // A blob or text is copied by SQLite (SQLITE_TRANSIENT): the values are small, and the copy is cheaper than
        // keeping every buffer pinned across the step.
        let transient = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)
        var code = SQLITE_OK
        for (offset, value) in values.enumerated() where code == SQLITE_OK {
            let index = Int32(offset + 1)
            switch value.storage {
            case .null: code = sqlite3_bind_null(handle, index)
            case .int64(let integer): code = sqlite3_bind_int64(handle, index, integer)
            case .double(let real): code = sqlite3_bind_double(handle, index, real)
            case .string(let text): code = sqlite3_bind_text(handle, index, text, -1, transient)
            case .blob(let bytes):
                // As GRDB binds it: an empty Data has no address and is bound as NULL.
                code = bytes.withUnsafeBytes {
                    sqlite3_bind_blob(handle, index, $0.baseAddress, Int32($0.count), transient)
                }
            }
        }
        if code == SQLITE_OK { code = sqlite3_step(handle) }
        let result = code == SQLITE_ROW ? row(handle) : nil
        let message =
            code == SQLITE_DONE || code == SQLITE_ROW ? nil : String(cString: sqlite3_errmsg(sqlite3_db_handle(handle)))
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
        if let message {
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: message, sql: statement.sql)
        }
        return result
    }
}
