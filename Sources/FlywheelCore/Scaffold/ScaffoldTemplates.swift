// The files `flywheel init` writes, embedded from Scaffold/Templates/ (SwiftPM `embedInCode`): the one copy of
// them. `examples/protocol` is a link to that folder, so the documented examples are exactly what init writes.
enum ScaffoldTemplates {
    /// The pipeline file, with `name:` set to `name` (the template says `name: example`).
    static func pipeline(name: String) -> String {
        text(PackageResources.pipeline_yaml).replacingOccurrences(of: "\nname: example\n", with: "\nname: \(name)\n")
    }

    static let generate = text(PackageResources.generate_py)
    static let solve = text(PackageResources.solve_py)
    static let check = text(PackageResources.check_py)

    private static func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }
}
