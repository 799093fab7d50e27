import FlywheelCore
import Foundation

/// A fresh folder per test, removed when the value goes away.
final class TemporaryDirectory {
    let path: String

    init() {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("flywheel-test-\(UUID().uuidString)").path
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }

    func file(_ name: String) -> String { path + "/" + name }
}

enum Repository {
    /// The repository root, found from this file.
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    static func fixture(_ relative: String) -> String { root + "/Fixtures/" + relative }
}

/// A pipeline file's engine on a fresh store, wired as the CLI wires it: the test's way to run real rounds.
struct PipelineRun {
    let config: PipelineConfig
    let store: Store
    let plugins: Plugins
    let engine: RoundEngine

    /// Writes `yaml` as the pipeline file in `folder` and opens its store there.
    init(_ yaml: String, in folder: TemporaryDirectory, environment: [String: String] = [:]) throws {
        let file = folder.file("pipeline.yaml")
        try yaml.write(toFile: file, atomically: true, encoding: .utf8)
        config = try PipelineConfig.load(path: file)
        store = try Store(path: folder.file("store.sqlite"))
        try store.claim(for: config.name)
        plugins = try Plugins(config, environment: environment, log: .silent)
        engine = RoundEngine(store: store, plugins: plugins, settings: config.settings, log: .silent)
    }

    /// Runs `count` rounds after the baseline (one by one, as cron would) and stops the plugins.
    func rounds(_ count: Int) async throws -> [RoundOutcome] {
        var outcomes: [RoundOutcome] = []
        for _ in 0...count { outcomes.append(try await engine.runRound()) }
        await plugins.shutdown()
        return outcomes
    }
}
