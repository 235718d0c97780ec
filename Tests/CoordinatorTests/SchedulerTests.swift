import Foundation
import SweepCore
import Testing

@testable import Coordinator

/// The lease bookkeeping over explicit times: no sockets, no waiting.
@Suite struct SchedulerTests {
    let t0 = Date(timeIntervalSince1970: 1_000_000)
    let peerA = Data([1]), peerB = Data([2])

    func scheduler(stall: TimeInterval = 60, limits: TimeLimits = TimeLimits()) -> Scheduler {
        Scheduler(settings: SchedulerSettings(heartbeat: 1, liveness: 3, stallTimeout: stall, limits: limits, maxAttempts: 3))
    }

    @Test func anyMessageKeepsAWorkerAliveAndSilenceEndsItsLease() {
        var s = scheduler()
        s.join(peer: peerA, name: "a", now: t0)
        s.join(peer: peerB, name: "b", now: t0)
        s.assign("L1", to: peerA, now: t0)
        s.seen(peerA, now: t0.addingTimeInterval(2.5))
        #expect(s.expire(now: t0.addingTimeInterval(3.5)).isEmpty == true)  // b is silent but holds nothing
        #expect(s.takeDeparted() == ["b"])
        #expect(s.session(peerB) == nil && s.session(peerA) != nil)
        let expired = s.expire(now: t0.addingTimeInterval(5.6))
        #expect(
            expired == [
                Scheduler.Expiry(lease: "L1", peer: nil, reason: "worker a silent for 3 heartbeats", outcome: .lost, maxAttempts: 3)
            ])
        #expect(s.takeDeparted() == ["a"] && s.sessions.isEmpty)
    }

    @Test func aStepThatStopsAdvancingOrAnOverlongTrialEndsTheLease() {
        var s = scheduler(stall: 10, limits: TimeLimits(trial: 100))
        s.join(peer: peerA, name: "a", now: t0)
        s.assign("L1", to: peerA, now: t0)
        for second in 1...9 {
            s.progress(peerA, lease: "L1", step: second, now: t0.addingTimeInterval(Double(second)))
        }
        // Heartbeats go on, the step does not move: stalled 10 s after the last advance.
        for second in 10...19 {
            s.seen(peerA, now: t0.addingTimeInterval(Double(second)))
            s.progress(peerA, lease: "L1", step: 9, now: t0.addingTimeInterval(Double(second)))
            #expect(s.expire(now: t0.addingTimeInterval(Double(second))).isEmpty)
        }
        s.seen(peerA, now: t0.addingTimeInterval(19.5))
        let stalled = s.expire(now: t0.addingTimeInterval(19.5))
        #expect(stalled.map(\.lease) == ["L1"] && stalled[0].peer == peerA && stalled[0].reason.contains("stalled"))
        #expect(s.session(peerA)?.leases.isEmpty == true)  // the worker stays, without the lease

        s.assign("L2", to: peerA, now: t0.addingTimeInterval(20))
        var overlong: [Scheduler.Expiry] = []
        for second in stride(from: 21, through: 121, by: 1) {
            let now = t0.addingTimeInterval(Double(second))
            s.seen(peerA, now: now)
            s.progress(peerA, lease: "L2", step: second, now: now)
            overlong += s.expire(now: now)
        }
        #expect(overlong.map(\.lease) == ["L2"] && overlong[0].outcome == .timedOut && overlong[0].maxAttempts == 2)
        #expect(overlong[0].reason == "timed out: the attempt ran past the trial limit of 1m40s on a")
        #expect(stalled[0].outcome == .lost)
    }

    /// A hung program: its worker heart-beats and its polls advance the step, but no epoch comes.
    @Test func anEpochPastTheEpochLimitTimesOutThoughTheWorkerIsAlive() {
        var s = scheduler(stall: 600, limits: TimeLimits(epoch: 20))
        s.join(peer: peerA, name: "a", now: t0)
        s.assign("L1", to: peerA, now: t0)
        var expired: [Scheduler.Expiry] = []
        for second in 1...60 {
            let now = t0.addingTimeInterval(Double(second))
            s.seen(peerA, now: now)
            s.progress(peerA, lease: "L1", step: second, now: now)
            // Epochs 1 and 2 end within the limit (at 15 s and 30 s), then nothing.
            if second == 15 || second == 30 { s.epochReported(peerA, lease: "L1", epoch: second / 15, now: now) }
            expired += s.expire(now: now)
            if second <= 50 { #expect(expired.isEmpty) }
        }
        #expect(expired.map(\.lease) == ["L1"] && expired[0].peer == peerA && expired[0].outcome == .timedOut)
        #expect(expired[0].reason == "timed out: epoch 3 ran past the epoch limit of 20s on a")
        #expect(s.session(peerA) != nil && s.session(peerA)?.leases.isEmpty == true)
    }

    @Test func leasesFromBeforeARestartWaitOneSilenceLimitForTheirWorker() {
        var s = scheduler()
        s.adoptOrphans(["old-1", "old-2"], now: t0)
        s.join(peer: peerA, name: "a", now: t0.addingTimeInterval(1))
        // a comes back and reports progress on old-1: it keeps its trial.
        s.progress(peerA, lease: "old-1", step: 40, now: t0.addingTimeInterval(1.5))
        #expect(s.session(peerA)?.leases.keys.sorted() == ["old-1"])
        // A report on a lease that was never its (and is no orphan) is ignored.
        s.progress(peerA, lease: "someone-else", step: 1, now: t0.addingTimeInterval(1.6))
        #expect(s.session(peerA)?.leases.keys.sorted() == ["old-1"])
        s.seen(peerA, now: t0.addingTimeInterval(3.1))
        let expired = s.expire(now: t0.addingTimeInterval(3.1))
        #expect(expired.map(\.lease) == ["old-2"] && expired[0].reason.contains("did not return"))
        s.release("old-1")
        #expect(s.session(peerA)?.leases.isEmpty == true)
    }

    /// Each lease of a worker with slots keeps its own clock; silence ends them all.
    @Test func aWorkerWithSlotsHoldsSeveralLeasesEachTimedOnItsOwn() {
        var s = scheduler(stall: 600, limits: TimeLimits(epoch: 10))
        s.join(peer: peerA, name: "a", slots: 3, now: t0)
        for (index, lease) in ["L1", "L2", "L3"].enumerated() { s.assign(lease, to: peerA, now: t0.addingTimeInterval(Double(index))) }
        #expect(s.session(peerA)?.free == 0 && s.holds(peerA, "L2"))
        s.seen(peerA, now: t0.addingTimeInterval(8))
        s.epochReported(peerA, lease: "L1", epoch: 1, now: t0.addingTimeInterval(8))
        s.seen(peerA, now: t0.addingTimeInterval(11.5))
        // L2 started at 1 s and L3 at 2 s with no epoch since: past 10 s at 11.5 s is L2 only.
        #expect(s.expire(now: t0.addingTimeInterval(11.5)).map(\.lease) == ["L2"])
        #expect(s.session(peerA)?.free == 1 && !s.holds(peerA, "L2"))
        s.release("L1")
        #expect(s.session(peerA)?.leases.keys.sorted() == ["L3"])
        let silent = s.expire(now: t0.addingTimeInterval(20))
        #expect(silent.map(\.lease) == ["L3"] && silent[0].outcome == .lost && s.takeDeparted() == ["a"])
        #expect(!s.holds(peerA, "L3"))
    }
}
