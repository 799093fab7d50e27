/// An error that says what went wrong and what to do; the CLI maps `code` to an exit status in one place.
public struct FlywheelError: Error, CustomStringConvertible, Sendable {
    public enum Code: Sendable, Equatable {
        /// The command line was wrong (exit 64).
        case usage
        /// The pipeline file is invalid (exit 78).
        case invalidPipeline
        /// Another run holds the store (exit 75).
        case storeBusy
        /// The store on disk is damaged or from an unknown version (exit 1).
        case corruptStore
        /// A plugin or the run itself failed (exit 1).
        case runFailed
        /// `merge` found shards missing; nothing was merged (exit 75, retry when they are done).
        case shardsMissing
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
