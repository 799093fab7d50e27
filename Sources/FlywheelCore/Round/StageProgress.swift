import Foundation
import Synchronization

/// Counts finished items and reports them: a bar on a terminal, an event every tenth otherwise.
final class StageProgress: Sendable {
    private let log: EventLog
    private let label: String
    private let total: Int
    private let state = Mutex((done: 0, accepted: 0, errors: 0, lastTenth: 0))

    init(log: EventLog, label: String, total: Int, alreadyDone: Int) {
        self.log = log
        self.label = label
        self.total = total
        state.withLock { $0.done = alreadyDone }
        log.event("stage.start", [("stage", label), ("items", total), ("done", alreadyDone)])
    }

    func finished(accepted: Int = 0, errors: Int = 0) {
        let (done, acceptedSoFar, errorsSoFar, tenth) = state.withLock { state in
            state.done += 1
            state.accepted += accepted
            state.errors += errors
            let tenth = total == 0 ? 10 : state.done * 10 / total
            defer { state.lastTenth = max(state.lastTenth, tenth) }
            return (state.done, state.accepted, state.errors, tenth > state.lastTenth ? tenth : nil)
        }
        log.progress("\(label) \(progressBar(done, of: total)) accepted \(acceptedSoFar) errors \(errorsSoFar)")
        if let tenth, tenth < 10, !log.drawsProgress {
            log.event("stage.progress", [("stage", label), ("done", done), ("of", total)])
        }
    }

    func end() {
        log.endProgress()
        let (done, accepted, errors) = state.withLock { ($0.done, $0.accepted, $0.errors) }
        log.event("stage.end", [("stage", label), ("done", done), ("accepted", accepted), ("errors", errors)])
    }
}
