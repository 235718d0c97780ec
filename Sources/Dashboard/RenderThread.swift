import Foundation
import Synchronization
import Vocabulary

/// The one thread that reads the stores and renders every reply, at a lower scheduling priority
/// than the rest of the process (nice +10, as the local workers `sweep launch` starts). A
/// coordinator serving its own dashboard keeps its cores for assignments and results when the
/// machine is busy; a page then waits its turn instead, and on an idle machine nothing changes.
/// One reply at a time: the readers behind them share one list of trials anyway.
final class RenderThread: Sendable {
    static let niceness: Int32 = 10
    /// The thread's name, as `top -H` and /proc/PID/task show it (15 characters at most).
    static let name = "sweep-dashboard"

    /// The replies asked for, and whether the thread should end once they are made.
    private final class Jobs: Sendable {
        let pending = Mutex<(queue: [@Sendable () -> Void], stopped: Bool)>(([], false))
        let wake = DispatchSemaphore(value: 0)

        /// The next job, or nil once stopped and drained.
        func next() -> (@Sendable () -> Void)? {
            while true {
                wake.wait()
                let (job, stopped) = pending.withLock { pending in
                    (pending.queue.isEmpty ? nil : pending.queue.removeFirst(), pending.stopped)
                }
                if let job { return job }
                if stopped { return nil }
            }
        }
    }

    private let jobs = Jobs()

    init() {
        Thread { [jobs] in
            try? RenderThread.name.write(toFile: "/proc/thread-self/comm", atomically: false, encoding: .utf8)
            // Linux's nice value is per thread: "the calling process" (0) is this thread alone.
            setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, Self.niceness)
            while let job = jobs.next() { job() }
        }.start()
    }

    /// Runs `body` on the thread and returns what it returned (or throws what it threw).
    func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            jobs.pending.withLock { $0.queue.append { continuation.resume(with: Result { try body() }) } }
            jobs.wake.signal()
        }
    }

    /// Ends the thread once the replies asked for so far are made.
    func stop() {
        jobs.pending.withLock { $0.stopped = true }
        jobs.wake.signal()
    }
}
