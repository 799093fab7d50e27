import Foundation

extension ExternalCommand {
    /// A digest of what this command runs: its argv and the bytes of every argument that names a file (the
    /// checker's script, its data), resolved against the working directory. Editing the script changes it; moving
    /// the pipeline folder does not. The interpreter itself (`python3`) is named, not hashed.
    public var fingerprint: String {
        var bytes: [UInt8] = []
        let base = URL(fileURLWithPath: (directory ?? FileManager.default.currentDirectoryPath) + "/")
        for argument in argv {
            bytes += Array(argument.utf8) + [0]
            let path = URL(fileURLWithPath: argument, relativeTo: base).path
            var isFolder: ObjCBool = false
            guard argument != argv.first || argument.contains("/"),
                FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), !isFolder.boolValue,
                let contents = FileManager.default.contents(atPath: path)
            else { continue }
            bytes += Array("\(contents.count):".utf8) + Array(contents) + [0]
        }
        return StableHash.hex(bytes)
    }
}
