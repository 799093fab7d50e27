import ArgumentParser
import FlywheelCore

struct Init: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Scaffold a new pipeline: pipeline.yaml with an example generator, solver and checker in Python.",
        discussion: "The pipeline runs as it is (python3 only); replace the programs with your own.")

    @Argument(help: "The folder to write into; created if missing.")
    var directory: String

    @Option(help: "The pipeline name (default: the folder's name).")
    var name: String?

    @Flag(help: "Overwrite pipeline.yaml, generate.py, solve.py and check.py if they exist.")
    var force = false

    func validate() throws {
        if let name, !Scaffold.isValidName(name) {
            throw ValidationError(
                "--name takes letters, digits, `-`, `_` and `.` (it names the store file), not \(name)")
        }
    }

    func run() async throws {
        let scaffold = Scaffold(name: name ?? Scaffold.defaultName(forFolder: directory))
        try scaffold.write(to: directory, force: force)
        let folder = directory.hasSuffix("/") ? String(directory.dropLast()) : directory
        let pipeline = folder + "/pipeline.yaml"
        let width = scaffold.files.map { folder.count + 1 + $0.name.count }.max() ?? 0
        var lines = ["Created pipeline `\(scaffold.name)`:"]
        for file in scaffold.files {
            let path = folder + "/" + file.name
            lines.append("  " + path.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + file.purpose)
        }
        lines += [
            "",
            "Next steps:",
            "  flywheel round \(pipeline)             # round 0: the held-out set and the baseline score",
            "  flywheel run \(pipeline) --rounds 3    # generate, solve, check, learn, evaluate, promote",
            "  flywheel status \(pipeline)",
            "Then put your model in solve.py and your tasks in generate.py and check.py (protocol: docs/protocol.md);",
            "docs/operations.md shows how to run rounds from cron or systemd.",
        ]
        print(lines.joined(separator: "\n"))
    }
}
