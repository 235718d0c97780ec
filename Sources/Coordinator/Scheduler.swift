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
/// A worker has slots (one by default) and holds up to that many leases, each with its own clock.
/// Any message from a worker is proof of life. A worker silent for `liveness` intervals is dead
/// and its leases end `lost`; so does a lease whose step has not advanced for `stallTimeout`. A
/// lease past the sweep file's `limits` (a whole attempt, or one epoch) ends `timed_out`. Leases
/// found in the store at start-up (the coordinator was restarted) are honoured for one silence
/// limit, so a worker that comes back keeps its trials.
public struct Scheduler {
    /// One connected worker.
    public struct Session: Equatable {
        public var peer: Data
        public var name: String
        public var lastSeen: Date
        /// Trials it runs at once.
        public var slots: Int
        /// The leases it holds.
        public var leases: [String: LeaseClock]

        /// Slots without a lease.
        public var free: Int { max(0, slots - leases.count) }
    }

    /// Where one lease's attempt is, for the stall and time limits.
    public struct LeaseClock: Equatable {
        public var started: Date
        public var step: Int
        public var stepChanged: Date
        /// When its last epoch report came (nil: none yet), and how many came.
        public var lastEpoch: Date?
        public var epochsReported: Int

        init(started: Date, step: Int = 0) {
            self.started = started
            self.step = step
            stepChanged = started
            epochsReported = 0
        }
    }

    /// A lease that must end, and why.
    public struct Expiry: Equatable {
        public var lease: String
        /// The session that held it, if it was connected.
        public var peer: Data?
        public var reason: String
        /// `lost` (silence, a stall, an orphan) or `timed_out` (past a limit).
        public var outcome: AttemptOutcome
        /// Attempts the trial may make in all, counting this one, when it ends so: the
        /// coordinator's `--max-attempts` when lost, `limits.retries` + 1 when timed out.
        public var maxAttempts: Int
    }

    public let settings: SchedulerSettings
    public private(set) var sessions: [Data: Session] = [:]
    /// Leases recorded before a restart, waiting for their worker: lease → deadline.
    public private(set) var orphans: [String: Date] = [:]
    /// Which session holds each lease.
    private var holders: [String: Data] = [:]
    /// Names of workers declared dead since the last ``takeDeparted()``.
    private var departed: [String] = []

    public init(settings: SchedulerSettings) { self.settings = settings }

    /// Leases live in the store when the coordinator starts: kept for one silence limit.
    public mutating func adoptOrphans(_ leases: [String], now: Date) {
        for lease in leases { orphans[lease] = now.addingTimeInterval(settings.silenceLimit) }
    }

    /// A worker introduced itself (again, after a reconnect it is a new peer).
    public mutating func join(peer: Data, name: String, slots: Int = 1, now: Date) {
        leave(peer)
        sessions[peer] = Session(peer: peer, name: name, lastSeen: now, slots: max(1, slots), leases: [:])
    }

    public func session(_ peer: Data) -> Session? { sessions[peer] }

    /// Whether `peer` holds `lease`.
    public func holds(_ peer: Data, _ lease: String) -> Bool { holders[lease] == peer }

    /// Any message is proof of life.
    public mutating func seen(_ peer: Data, now: Date) {
        sessions[peer]?.lastSeen = now
    }

    /// A lease handed to (or re-adopted by) a worker.
    public mutating func assign(_ lease: String, to peer: Data, now: Date, step: Int = 0) {
        orphans[lease] = nil
        if let other = holders[lease], other != peer { sessions[other]?.leases[lease] = nil }
        holders[lease] = peer
        sessions[peer]?.leases[lease] = LeaseClock(started: now, step: step)
    }

    /// A heartbeat's progress: the step advancing is what proves the trainer is not hung.
    public mutating func progress(_ peer: Data, lease: String, step: Int, now: Date) {
        guard sessions[peer] != nil else { return }
        guard holders[lease] == peer else {
            // A worker back from a restart keeps its trial.
            if orphans[lease] != nil { assign(lease, to: peer, now: now, step: step) }
            return
        }
        if let clock = sessions[peer]?.leases[lease], step > clock.step {
            sessions[peer]?.leases[lease]?.step = step
            sessions[peer]?.leases[lease]?.stepChanged = now
        }
    }

    /// An epoch report of a lease the peer holds: the epoch limit counts from here.
    public mutating func epochReported(_ peer: Data, lease: String, epoch: Int, now: Date) {
        guard holders[lease] == peer, var clock = sessions[peer]?.leases[lease] else { return }
        clock.lastEpoch = now
        clock.epochsReported = max(clock.epochsReported, epoch)
        sessions[peer]?.leases[lease] = clock
    }

    /// The lease ended (result, failure, bye or cancel); the session stays.
    public mutating func release(_ lease: String) {
        orphans[lease] = nil
        if let peer = holders.removeValue(forKey: lease) { sessions[peer]?.leases[lease] = nil }
    }

    /// The worker is gone (bye, or declared dead).
    public mutating func leave(_ peer: Data) {
        guard let session = sessions.removeValue(forKey: peer) else { return }
        for lease in session.leases.keys { holders[lease] = nil }
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
                leave(peer)
                departed.append(session.name)
                for lease in session.leases.keys {
                    expired.append(
                        Expiry(
                            lease: lease, peer: nil, reason: "worker \(session.name) silent for \(settings.liveness) heartbeats",
                            outcome: .lost, maxAttempts: settings.maxAttempts))
                }
                continue
            }
            for (lease, clock) in session.leases {
                if now.timeIntervalSince(clock.stepChanged) > settings.stallTimeout {
                    expired.append(
                        Expiry(
                            lease: lease, peer: peer,
                            reason: "worker \(session.name) stalled: no training step for \(Int(settings.stallTimeout)) s", outcome: .lost,
                            maxAttempts: settings.maxAttempts))
                    release(lease)
                } else if let reason = settings.limits.exceeded(
                    started: clock.started, lastEpoch: clock.lastEpoch, epochsReported: clock.epochsReported, now: now)
                {
                    expired.append(
                        Expiry(
                            lease: lease, peer: peer, reason: "\(reason) on \(session.name)", outcome: .timedOut,
                            maxAttempts: settings.limits.maxAttempts))
                    release(lease)
                }
            }
        }
        for (lease, deadline) in orphans where now > deadline {
            orphans[lease] = nil
            expired.append(
                Expiry(
                    lease: lease, peer: nil, reason: "its worker did not return after the coordinator restarted", outcome: .lost,
                    maxAttempts: settings.maxAttempts))
        }
        return expired.sorted { $0.lease < $1.lease }
    }
}
