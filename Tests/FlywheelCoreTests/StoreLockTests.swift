import FlywheelCore
import Foundation
import Testing

/// The lock follows the file, not the path string: flock locks conflict between two open files of one process too,
/// so one process can hold a lock through one path and try another.
@Suite struct StoreLockTests {
    func expectBusy(_ path: String, sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try StoreLock(storePath: path)
            Issue.record("\(path) was not refused while the store is locked", sourceLocation: sourceLocation)
        } catch let error as FlywheelError {
            #expect(error.code == .storeBusy, "\(error.message)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("\(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func everyPathToAnExistingStoreTakesTheSameLock() throws {
        let folder = TemporaryDirectory()
        let store = folder.file("data/s.sqlite")
        _ = try Store(path: store)
        let files = FileManager.default
        try files.createSymbolicLink(atPath: folder.file("link.sqlite"), withDestinationPath: "data/s.sqlite")
        try files.createSymbolicLink(atPath: folder.file("alias"), withDestinationPath: folder.file("data"))
        try files.createDirectory(atPath: folder.file("data/sub"), withIntermediateDirectories: true)
        let paths = [
            store, folder.file("link.sqlite"), folder.file("alias/s.sqlite"), folder.file("data/sub/../s.sqlite"),
        ]
        for holder in paths {
            let lock = try StoreLock(storePath: holder)
            for other in paths { expectBusy(other) }
            withExtendedLifetime(lock) {}
        }
    }

    @Test func aStoreNotCreatedYetIsLockedWhereSQLiteWillCreateIt() throws {
        let folder = TemporaryDirectory()
        let files = FileManager.default
        try files.createDirectory(atPath: folder.file("data"), withIntermediateDirectories: true)
        // A symlink to a store that does not exist yet, and a folder symlink.
        try files.createSymbolicLink(atPath: folder.file("link.sqlite"), withDestinationPath: "data/new.sqlite")
        try files.createSymbolicLink(atPath: folder.file("alias"), withDestinationPath: "data")
        let lock = try StoreLock(storePath: folder.file("link.sqlite"))
        #expect(lock.storePath.hasSuffix("/data/new.sqlite"), "\(lock.storePath)")
        expectBusy(folder.file("data/new.sqlite"))
        expectBusy(folder.file("alias/new.sqlite"))
        expectBusy(folder.file("alias/../data/new.sqlite"))
    }

    @Test func aStoreWithTwoHardLinksIsRefused() throws {
        let folder = TemporaryDirectory()
        let store = folder.file("s.sqlite")
        _ = try Store(path: store)
        try FileManager.default.linkItem(atPath: store, toPath: folder.file("other.sqlite"))
        for path in [store, folder.file("other.sqlite")] {
            do {
                _ = try StoreLock(storePath: path)
                Issue.record("a store with two names was locked through \(path)")
            } catch let error as FlywheelError {
                #expect(error.code == .runFailed)
                #expect(error.message.contains("2 names (hard links)"), "\(error.message)")
            }
        }
    }
}
