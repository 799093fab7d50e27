import GRDB

extension Store {
    /// Copies everything in the `-wal` file into the store file and empties the WAL, so that readers on other
    /// machines of a shared file system (shards), which cannot share SQLite's WAL index, read a whole file.
    public func checkpoint() throws {
        try flush()
        do {
            try database.writeWithoutTransaction { db in _ = try db.checkpoint(.truncate) }
        } catch let error as DatabaseError {
            throw Self.failure(error, path: path)
        }
    }
}
