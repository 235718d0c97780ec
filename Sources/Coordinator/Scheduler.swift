import Foundation
import SweepCore
import Vocabulary

/// Timing rules of a distributed sweep.
public struct SchedulerSettings: Sendable, Equatable {
    /// Heartbeat interval both sides use.
    public var heartbeat: TimeInterval
    /// Missed intervals after which a peer counts as dead.
    public var liveness: Int
    /// A trial whose step has not advanced for this long (heartbeats notwithstanding) is lost.
    public var stallTimeout: TimeInterval
    /// The sweep file's bounds on one attempt and one epoch.
    public var limits: TimeLimits
    /// Attempts a trial may make before it fails, when its workers are lost.
    public var maxAttempts: Int

    public init(
        heartbeat: TimeInterval = 1, liveness: Int = 5, stallTimeout: TimeInterval = 600,
        limits: TimeLimits = TimeLimits(), maxAttempts: Int = 3
    ) {
        self.heartbeat = heartbeat
        self.liveness = liveness
        self.stallTimeout = stallTimeout
        self.limits = limits
        self.maxAttempts = maxAttempts
    }

    /// How long silence lasts before a peer is dead.
    public var silenceLimit: TimeInterval { heartbeat * Double(liveness) }
}

/// Who holds which lease, and who has gone silent or stalled: the Paranoid Pirate bookkeeping of
/// the coordinator, as plain code over explicit times (no sockets, no clock of its own).
///
/// Any message from a worker is proof of life. A worker silent for `liveness` intervals is dead
/// and its lease ends `lost`; so does a lease whose step has not advanced for `stallTimeout`. A
/// lease past the sweep file's `limits` (a whole attempt, or one epoch) ends `timed_out`. Leases found in the store at start-up (the coordinator was
/// restarted) are honoured for one silence limit, so a worker that comes back keeps its trial.
public struct Scheduler {
    /// One connected worker.
    public struct Session: Equatable {
        public var peer: Data
        public var name: String
        public var lastSeen: Date
        public var lease: String?
        public var leaseStarted: Date?
        public var step: Int
        public var stepChanged: Date
        /// When the lease's last epoch report came (nil: none yet), and how many came.
        public var lastEpoch: Date?
        public var epochsReported: Int
    }

    /// A lease that must end, and why.
    public struct Expiry: Equatable {
        public var lease: String
        /// The session that held it, if it was connected.
        public var peer: Data?
        public var reason: String
        /// `lost` (silence, a stall, an orphan) or `timed_out` (past a limit).
        public var outcome: AttemptOutcome
    }

    public let settings: SchedulerSettings
    public private(set) var sessions: [Data: Session] = [:]
    /// Leases recorded before a restart, waiting for their worker: lease → deadline.
    public private(set) var orphans: [String: Date] = [:]
    /// Names of workers declared dead since the last ``takeDeparted()``.
    private var departed: [String] = []

    public init(settings: SchedulerSettings) { self.settings = settings }

    /// Leases live in the store when the coordinator starts: kept for one silence limit.
    public mutating func adoptOrphans(_ leases: [String], now: Date) {
        for lease in leases { orphans[lease] = now.addingTimeInterval(settings.silenceLimit) }
    }

    /// A worker introduced itself (again, after a reconnect it is a new peer).
    public mutating func join(peer: Data, name: String, now: Date) {
        sessions[peer] = Session(
            peer: peer, name: name, lastSeen: now, lease: nil, leaseStarted: nil, step: 0, stepChanged: now, lastEpoch: nil,
            epochsReported: 0)
    }

    public func session(_ peer: Data) -> Session? { sessions[peer] }

    /// Any message is proof of life.
    public mutating func seen(_ peer: Data, now: Date) {
        sessions[peer]?.lastSeen = now
    }

    /// A lease handed to (or re-adopted by) a worker.
    public mutating func assign(_ lease: String, to peer: Data, now: Date) {
        orphans[lease] = nil
        for (other, session) in sessions where session.lease == lease && other != peer { sessions[other]?.lease = nil }
        sessions[peer]?.lease = lease
        sessions[peer]?.leaseStarted = now
        sessions[peer]?.step = 0
        sessions[peer]?.stepChanged = now
        sessions[peer]?.lastEpoch = nil
        sessions[peer]?.epochsReported = 0
    }

    /// An epoch report of the peer's lease: the epoch limit counts from here.
    public mutating func epochReported(_ peer: Data, lease: String, epoch: Int, now: Date) {
        guard var session = sessions[peer], session.lease == lease else { return }
        session.lastEpoch = now
        session.epochsReported = max(session.epochsReported, epoch)
        sessions[peer] = session
    }

    /// A heartbeat's progress: the step advancing is what proves the trainer is not hung.
    public mutating func progress(_ peer: Data, lease: String, step: Int, now: Date) {
        guard var session = sessions[peer] else { return }
        if session.lease != lease {
            guard orphans[lease] != nil else { return }  // a worker back from a restart keeps its trial
            orphans[lease] = nil
            session.lease = lease
            session.leaseStarted = now
            session.step = step
            session.stepChanged = now
            session.lastEpoch = nil
            session.epochsReported = 0
        }
        if step > session.step {
            session.step = step
            session.stepChanged = now
        }
        sessions[peer] = session
    }

    /// The lease ended (result, failure, bye or cancel); the session stays.
    public mutating func release(_ lease: String) {
        orphans[lease] = nil
        for (peer, session) in sessions where session.lease == lease { sessions[peer]?.lease = nil }
    }

    /// The worker is gone (bye, or declared dead).
    public mutating func leave(_ peer: Data) {
        sessions[peer] = nil
    }

    /// The workers declared dead (silent) since the last call.
    public mutating func takeDeparted() -> [String] {
        defer { departed.removeAll() }
        return departed
    }

    /// Sessions silent past the limit (removed; their leases returned), stalled or overlong leases,
    /// and orphans whose worker never came back.
    public mutating func expire(now: Date) -> [Expiry] {
        var expired: [Expiry] = []
        for (peer, session) in sessions {
            if now.timeIntervalSince(session.lastSeen) > settings.silenceLimit {
                sessions[peer] = nil
                departed.append(session.name)
                if let lease = session.lease {
                    expired.append(
                        Expiry(
                            lease: lease, peer: nil, reason: "worker \(session.name) silent for \(settings.liveness) heartbeats",
                            outcome: .lost))
                }
                continue
            }
            guard let lease = session.lease else { continue }
            if now.timeIntervalSince(session.stepChanged) > settings.stallTimeout {
                expired.append(
                    Expiry(
                        lease: lease, peer: peer,
                        reason: "worker \(session.name) stalled: no training step for \(Int(settings.stallTimeout)) s", outcome: .lost))
                sessions[peer]?.lease = nil
            } else if let started = session.leaseStarted,
                let reason = settings.limits.exceeded(
                    started: started, lastEpoch: session.lastEpoch, epochsReported: session.epochsReported, now: now)
            {
                expired.append(Expiry(lease: lease, peer: peer, reason: "\(reason) on \(session.name)", outcome: .timedOut))
                sessions[peer]?.lease = nil
            }
        }
        for (lease, deadline) in orphans where now > deadline {
            orphans[lease] = nil
            expired.append(
                Expiry(lease: lease, peer: nil, reason: "its worker did not return after the coordinator restarted", outcome: .lost))
        }
        return expired.sorted { $0.lease < $1.lease }
    }
}
