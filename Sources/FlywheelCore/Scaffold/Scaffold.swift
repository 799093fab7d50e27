import Foundation

/// What `flywheel init DIR` writes: a pipeline file and three protocol-v1 programs that run as they are.
///
/// The templates in `Scaffold/Templates/` are the one copy of these files, embedded in the binary;
/// `examples/protocol` links to that folder.
public struct Scaffold: Sendable {
    public struct File: Sendable, Equatable {
        /// The file name inside the folder.
        public var name: String
        public var text: String
        /// `0o755` for the programs, `0o644` for the pipeline file.
        public var mode: Int
        /// One line for the listing `flywheel init` prints.
        public var purpose: String
    }

    /// The pipeline name written into `pipeline.yaml`.
    public var name: String

    public init(name: String) {
        self.name = name
    }

    /// A pipeline name from a folder: its last component with characters a name may not hold replaced by `-`, or
    /// `pipeline` when nothing usable is left.
    public static func defaultName(forFolder folder: String) -> String {
        let base = URL(fileURLWithPath: folder).standardizedFileURL.lastPathComponent
        let name = String(base.map { isNameCharacter($0) ? $0 : "-" })
        return name.contains(where: { $0.isLetter || $0.isNumber }) ? name : "pipeline"
    }

    /// Whether `name` is a valid pipeline name: letters, digits, `-`, `_` and `.` (it names the store file).
    public static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.allSatisfy(isNameCharacter) && name.contains(where: { $0.isLetter || $0.isNumber })
    }

    private static func isNameCharacter(_ character: Character) -> Bool {
        character.isASCII && (character.isLetter || character.isNumber || "-_.".contains(character))
    }

    public var files: [File] {
        [
            File(
                name: "pipeline.yaml", text: ScaffoldTemplates.pipeline(name: name), mode: 0o644,
                purpose: "the pipeline: sizes, gate and the three programs"),
            File(
                name: "generate.py", text: ScaffoldTemplates.generate, mode: 0o755,
                purpose: "makes tasks (op `generate`)"),
            File(
                name: "solve.py", text: ScaffoldTemplates.solve, mode: 0o755,
                purpose: "answers them, learning from few-shot examples (op `solve`)"),
            File(
                name: "check.py", text: ScaffoldTemplates.check, mode: 0o755,
                purpose: "judges an answer against the task's reference (op `check`)"),
        ]
    }

    /// Writes the files into `folder`, creating it if needed.
    ///
    /// - Parameter force: overwrite files that exist; without it nothing is written when any of them exists.
    /// - Throws: `FlywheelError(.usage)` naming the files that exist, or when `folder` is not a folder.
    public func write(to folder: String, force: Bool = false) throws {
        let manager = FileManager.default
        var isFolder: ObjCBool = false
        if manager.fileExists(atPath: folder, isDirectory: &isFolder), !isFolder.boolValue {
            throw FlywheelError(.usage, "\(folder) exists and is not a folder")
        }
        let existing = files.map(\.name).filter { manager.fileExists(atPath: folder + "/" + $0) }
        if !existing.isEmpty, !force {
            throw FlywheelError(
                .usage,
                "\(folder) already holds \(existing.joined(separator: ", ")); choose another folder or pass --force to overwrite"
            )
        }
        do {
            try manager.createDirectory(atPath: folder, withIntermediateDirectories: true)
            for file in files {
                let path = folder + "/" + file.name
                try Data(file.text.utf8).write(to: URL(fileURLWithPath: path))
                try manager.setAttributes([.posixPermissions: file.mode], ofItemAtPath: path)
            }
        } catch {
            throw FlywheelError(.runFailed, "cannot write the pipeline into \(folder): \(error.localizedDescription)")
        }
    }
}
