import FlywheelCore
import Foundation
import Testing

/// `solver.openai.learn` and `solver.openai.weights`: what a pipeline file may say, and the error for what it may not.
@Suite("Weight-level learning keys")
struct WeightsKeysTests {
    static func pipeline(_ openai: String, solver: String = "") -> String {
        """
        generator: {command: [python3, -u, \(Repository.root)/Fixtures/plugins/arith_gen.py]}
        solver:
          openai:
            model: m
        \(openai.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
        \(solver)
        checker: {command: [python3, -u, \(Repository.root)/Fixtures/plugins/exact_check.py]}
        """
    }

    static func load(_ yaml: String, in folder: TemporaryDirectory) throws -> PipelineConfig {
        let file = folder.file("p.yaml")
        try yaml.write(toFile: file, atomically: true, encoding: .utf8)
        return try PipelineConfig.load(path: file)
    }

    static let bad: [(openai: String, solver: String, says: [String])] = [
        ("base_url: http://x\nlearn: sometimes", "", ["`solver.openai.learn`", "`retrieval`", "`weights`", "`both`"]),
        ("base_url: http://x\nlearn: weights", "", ["no `base_url`", "starts a llama-server"]),
        ("learn: both", "  train: [python3, t.py]", ["`solver.train`", "no `train` command with `learn: both`"]),
        ("base_url: http://x\nweights: {epochs: 2}", "", ["`solver.openai.weights`", "`learn: weights`"]),
        ("learn: weights\nweights: {context: 128}", "", ["`solver.openai.weights.context`", "from 256"]),
        ("learn: weights\nweights: {learning_rate: 0}", "", ["`solver.openai.weights.learning_rate`", "strictly"]),
        ("learn: weights\nweights: {max_examples: 0}", "", ["`solver.openai.weights.max_examples`", "from 1"]),
        ("learn: weights\nweights: {server: /a, server_env: B}", "", ["one of `server` or `server_env`"]),
        ("learn: weights\nweights: {lr: 0.1}", "", ["unknown key `solver.openai.weights.lr`", "learning_rate"]),
    ]

    @Test("bad values get the loader's precise errors", arguments: 0..<bad.count)
    func badValues(_ index: Int) throws {
        let (openai, solver, says) = Self.bad[index]
        let folder = TemporaryDirectory()
        do {
            _ = try Self.load(Self.pipeline(openai, solver: solver), in: folder)
            Issue.record("accepted: \(openai)")
        } catch let error as FlywheelError {
            #expect(error.code == .invalidPipeline)
            for text in says { #expect(error.message.contains(text), "\(error.message)") }
        }
    }

    @Test("a valid mapping is read, and the programs come from the environment named by default")
    func validMappingAndMissingPrograms() throws {
        let folder = TemporaryDirectory()
        let config = try Self.load(
            Self.pipeline(
                "learn: both\nweights: {epochs: 2, learning_rate: 0.001, context: 512, max_examples: 8, folder: models}"
            ),
            in: folder)
        guard case .openai(let openai) = config.solver else {
            Issue.record("not an openai solver: \(config.solver)")
            return
        }
        #expect(openai.learn == .both)
        #expect(openai.weights.epochs == 2 && openai.weights.learningRate == 0.001)
        #expect(openai.weights.context == 512 && openai.weights.maxExamples == 8)
        #expect(openai.weights.folder == folder.path + "/models")
        #expect(openai.weights.finetune == .environment("FLYWHEEL_LLAMA_FINETUNE"))
        do {
            _ = try Plugins(config, environment: [:], log: .silent)
            Issue.record("plugins were made without llama-server")
        } catch let error as FlywheelError {
            #expect(error.code == .usage)
            #expect(error.message.contains("FLYWHEEL_LLAMA_SERVER, which is not set"), "\(error.message)")
            #expect(error.message.contains("ops/install-llm.sh"), "\(error.message)")
        }
    }
}
