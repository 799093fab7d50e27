import Dispatch
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Children that would outlive this process if it ended: servers (llama-server), which, unlike plugin workers, do
/// not stop when their stdin closes. They are registered while they run; when the process is told to stop (SIGTERM
/// from `timeout`, Slurm or Kubernetes, SIGINT, SIGHUP) it kills them by PID before it exits, so a stopped cron
/// round leaves no server behind. Nothing can do this for SIGKILL.
public enum ServerChildren {
    private static let running = Mutex<Set<pid_t>>([])
    /// The handlers' sources, kept for the life of the process.
    nonisolated(unsafe) private static var sources: [any DispatchSourceSignal] = []

    /// Records a started server; `remove` it before stopping it.
    public static func add(_ pid: pid_t) { running.withLock { _ = $0.insert(pid) } }

    public static func remove(_ pid: pid_t) { running.withLock { _ = $0.remove(pid) } }

    /// Handles SIGTERM, SIGINT and SIGHUP from now on: kills every registered server with SIGKILL, then exits with
    /// status 128 + the signal, as the default action would have reported it. Call once, at start-up.
    public static func stopOnTermination() {
        for number in [SIGTERM, SIGINT, SIGHUP] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                running.withLock { pids in for pid in pids { _ = kill(pid, SIGKILL) } }
                exit(128 + number)
            }
            source.resume()
            sources.append(source)
        }
    }
}
