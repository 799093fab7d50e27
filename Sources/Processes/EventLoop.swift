import CProcessShim
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One thread that runs the jobs of the tasks that prefer it (a `TaskExecutor`) and, between them, waits on the
/// descriptors and deadlines it watches: an answer on a worker's pipe resumes the task waiting for it on the same
/// thread, with no hop between threads on the way (asyncio's model).
///
/// A round's items run here (`withTaskExecutorPreference`), and every worker's pipes are served here (`LineWorker`).
/// Whatever is watched, and the handlers it calls, belong to the loop's thread: call `watch`, `unwatch` and
/// `schedule` only there (`execute` gets there from anywhere).
public final class EventLoop: TaskExecutor, @unchecked Sendable {
    /// The process's loop, started on first use.
    public static let shared = EventLoop()

    private enum Item {
        case job(UnownedJob)
        case closure(@Sendable () -> Void)
    }

    private struct Inbox: ~Copyable {
        var items: [Item] = []
        /// The loop is about to wait, or waiting: an item added now must wake it.
        var waiting = false
    }

    private let inbox = Mutex(Inbox())
    /// A pipe whose read end the loop watches: one byte written wakes it.
    private let wakeRead: Int32
    private let wakeWrite: Int32
    private let threadID = Atomic<UInt>(0)

    // The loop's thread only.
    private var watched: [Int32: (events: Int16, handler: (Int16) -> Void)] = [:]
    private var timers: [Int: (deadline: Double, fire: () -> Void)] = [:]
    private var nextTimer = 0

    private init() {
        var ends: [Int32] = [0, 0]
        guard flywheel_pipe_cloexec(&ends) == 0 else {
            fatalError("the event loop cannot make its pipe: errno \(errno)")
        }
        (wakeRead, wakeWrite) = (ends[0], ends[1])
        for end in ends { _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK) }
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        let box = Unmanaged.passRetained(self).toOpaque()
        #if canImport(Glibc)
            var thread = pthread_t()
        #else
            var thread: pthread_t?
        #endif
        let started = pthread_create(
            &thread, &attributes,
            { context in
                Unmanaged<EventLoop>.fromOpaque(context!).takeRetainedValue().run()
                return nil
            }, box)
        pthread_attr_destroy(&attributes)
        guard started == 0 else { fatalError("the event loop cannot start its thread: error \(started)") }
    }

    /// Whether the caller runs on the loop's thread.
    public var inLoop: Bool { threadID.load(ordering: .relaxed) == Self.currentThread }

    private static var currentThread: UInt { UInt(bitPattern: Int(bitPattern: pthread_self())) }

    public func enqueue(_ job: consuming ExecutorJob) {
        add(.job(UnownedJob(job)))
    }

    /// Runs `body` on the loop's thread, after what is queued there already.
    public func execute(_ body: @escaping @Sendable () -> Void) {
        add(.closure(body))
    }

    private func add(_ item: Item) {
        let wake = inbox.withLock { inbox in
            inbox.items.append(item)
            defer { inbox.waiting = false }
            return inbox.waiting
        }
        if wake {
            var byte: UInt8 = 1
            _ = write(wakeWrite, &byte, 1)
        }
    }

    /// Calls `handler` with `poll`'s `revents` whenever `descriptor` is ready for `events` (POLLIN, POLLOUT; errors
    /// and hang-ups always count), until `unwatch`. Loop thread only.
    public func watch(_ descriptor: Int32, events: Int16, _ handler: @escaping (Int16) -> Void) {
        precondition(inLoop, "watch from the loop's thread only")
        watched[descriptor] = (events, handler)
    }

    /// Changes the events `descriptor` is watched for. Loop thread only.
    public func rewatch(_ descriptor: Int32, events: Int16) {
        watched[descriptor]?.events = events
    }

    /// Stops watching `descriptor`. Loop thread only.
    public func unwatch(_ descriptor: Int32) {
        watched[descriptor] = nil
    }

    /// Calls `fire` once, at `deadline` (`monotonicSeconds()`), unless cancelled first. Loop thread only.
    /// - Returns: The timer, for `cancel`.
    public func schedule(at deadline: Double, _ fire: @escaping () -> Void) -> Int {
        precondition(inLoop, "schedule from the loop's thread only")
        nextTimer += 1
        timers[nextTimer] = (deadline, fire)
        return nextTimer
    }

    /// Cancels a timer that has not fired. Loop thread only.
    public func cancel(_ timer: Int) {
        timers[timer] = nil
    }

    /// How long the loop runs queued jobs, at most, before it looks at its descriptors again: an answer that
    /// arrives while items run is taken (and the program given its next request) within this.
    private static let pollInterval = 50e-6

    private func run() {
        threadID.store(Self.currentThread, ordering: .relaxed)
        var items: [Item] = []
        while true {
            let idle = inbox.withLock { inbox in
                swap(&items, &inbox.items)
                inbox.waiting = items.isEmpty
                return items.isEmpty
            }
            var polled = monotonicSeconds()
            for item in items {
                switch item {
                case .job(let job): job.runSynchronously(on: asUnownedTaskExecutor())
                case .closure(let body): body()
                }
                let now = monotonicSeconds()
                if now - polled > Self.pollInterval {
                    look(timeout: 0)
                    polled = now
                }
            }
            items.removeAll(keepingCapacity: true)
            // Wait only when nothing is queued: else look at the descriptors and go on with the queue.
            var timeout: Int32 = 0
            if idle {
                if let next = timers.values.lazy.map(\.deadline).min() {
                    timeout = Int32(max(0, min((next - monotonicSeconds()) * 1000, 1000)).rounded(.up))
                } else {
                    timeout = -1
                }
            }
            look(timeout: timeout)
            if idle { inbox.withLock { $0.waiting = false } }
        }
    }

    private var descriptors: [pollfd] = []

    /// Polls the watched descriptors (and the wake-up pipe) for up to `timeout` ms, calls the handlers of those
    /// ready, then fires the timers due.
    private func look(timeout: Int32) {
        descriptors.removeAll(keepingCapacity: true)
        descriptors.append(pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0))
        for (descriptor, watch) in watched {
            descriptors.append(pollfd(fd: descriptor, events: watch.events, revents: 0))
        }
        if poll(&descriptors, nfds_t(descriptors.count), timeout) > 0 {
            if descriptors[0].revents != 0 {
                var drain: (UInt64, UInt64) = (0, 0)
                while read(wakeRead, &drain, 16) > 0 {}
            }
            for descriptor in descriptors.dropFirst() where descriptor.revents != 0 {
                // A handler may have unwatched a descriptor whose turn comes later in this round.
                watched[descriptor.fd]?.handler(descriptor.revents)
            }
        }
        if !timers.isEmpty {
            let now = monotonicSeconds()
            for (timer, entry) in timers where entry.deadline <= now {
                timers[timer] = nil
                entry.fire()
            }
        }
    }
}
