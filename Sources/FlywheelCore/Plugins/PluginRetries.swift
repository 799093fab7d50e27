import Synchronization

/// Counts the retries plugins make while serving one item, so the engine can record them with the item.
///
/// A task-local counter: the engine runs each plugin call inside `counting`, and a plugin that tries a request
/// again (an external worker restarted after a crash, an HTTP request after a 503) calls `add`. Calls outside
/// `counting` are not counted.
enum PluginRetries {
    final class Counter: Sendable {
        let value = Mutex(0)
    }

    @TaskLocal static var current: Counter?

    /// Runs `body` and returns its result with the retries plugins made inside it.
    static func counting<T>(_ body: () async throws -> T) async rethrows -> (result: T, retries: Int) {
        let counter = Counter()
        let result = try await $current.withValue(counter) { try await body() }
        return (result, counter.value.withLock { $0 })
    }

    /// Counts `count` retries against the item being served, if any.
    static func add(_ count: Int = 1) {
        guard count > 0 else { return }
        current?.value.withLock { $0 += count }
    }
}
