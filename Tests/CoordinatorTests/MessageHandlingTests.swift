import Foundation
import Protocol
import SweepCore
import Testing
import Vocabulary

@testable import Coordinator

/// The coordinator's message handling driven with frames made here, its replies read from its
/// outbox: no worker process, no network. (The process tests drive the same code over sockets.)
@Suite struct MessageHandlingTests {
    let codec = Codec()
    let t0 = Date(timeIntervalSince1970: 2_000_000)
    let peer = Data([7, 7])

    func server(trials: Int = 2) throws -> CoordinatorServer {
        let values = (1...trials).map { "0.00\($0)" }.joined(separator: ", ")
        let spec = try SweepSpec.parse(
            """
            name: unit
            dataset: {synthetic: {preset: small, seed: 1}}
            method: grid
            fixed: {epochs: 2}
            parameters:
              lr: {values: [\(values)]}
            """, file: URL(fileURLWithPath: "/tmp/unit.yaml"))
        let controller = try TrialController(spec: spec, store: SweepStore.inMemory(), trainExamples: 100)
        _ = try controller.applyPlan(fingerprint: "f1", popularity: nil)
        let server = try CoordinatorServer(
            context: ZMQContext(), endpoint: "inproc://unit-\(UUID().uuidString)", controller: controller, dataset: nil,
            admission: Admission(buildID: "b1", heartbeatMilliseconds: 1000, liveness: 3, sweepName: "unit"),
            settings: SchedulerSettings(heartbeat: 1, liveness: 3))
        server.outbox = []
        return server
    }

    /// Hands `message` to the server as `peer` sent it; returns what it answered.
    func exchange(_ server: CoordinatorServer, _ message: WorkerMessage, at seconds: Double = 0) throws -> [CoordinatorMessage] {
        try exchange(server, frames: try codec.encode(message), at: seconds)
    }

    func exchange(_ server: CoordinatorServer, frames: [[UInt8]], at seconds: Double = 0) throws -> [CoordinatorMessage] {
        server.outbox = []
        try server.handle([Array(peer)] + frames, now: t0.addingTimeInterval(seconds))
        return try server.outbox!.map { reply in
            #expect(reply.peer == peer)
            return try codec.decode(reply.frames, as: CoordinatorMessage.self)
        }
    }

    func ready(build: String = "b1") -> WorkerMessage {
        .ready(Ready(buildID: build, worker: "w1", host: "h", cores: 2, blasThreads: 1, blasCore: "Haswell"))
    }

    func record(_ epoch: Int, _ ndcg: Double, metrics: [String] = RankingMetrics.names) -> EpochRecord {
        let values = Dictionary(uniqueKeysWithValues: metrics.map { ($0, $0 == "ndcg@10" ? ndcg : 0.5) })
        return EpochRecord(
            epoch: epoch, lossMain: 0.1, lossAux: nil, weights: .singleTask, valid: RankingMetrics(values: values),
            test: RankingMetrics(values: values), seconds: 1, trainSeconds: 0.5)
    }

    @Test func aWorkerIsWelcomedGivenATrialAndItsResultIsStoredAndAcknowledged() throws {
        let server = try server()
        #expect(try exchange(server, ready()) == [.welcome(Welcome(heartbeatMilliseconds: 1000, liveness: 3, sweep: "unit"))])
        let offered = try exchange(server, .heartbeat(Heartbeat()), at: 1)
        guard case .assign(let assignment) = offered.first, offered.count == 1 else { Issue.record("\(offered)"); return }
        #expect(try TrialConfig.parse(json: assignment.config.text).lr == 0.001)
        let lease = assignment.lease
        #expect(try exchange(server, .progress(Progress(lease: lease, report: record(1, 0.2))), at: 2).isEmpty)
        let history = [record(1, 0.2), record(2, 0.3)]
        let result = TrialResult(
            bestEpoch: 2, valid: history[1].valid.dictionary, test: history[1].test.dictionary, history: history,
            timing: TrainingTiming(examplesPerSecond: 200, secondsPerEpoch: 1, totalSeconds: 2, threads: 1, blasCore: "Haswell"))
        let replies = try exchange(server, .result(TrialOutcome(lease: lease, result: result)), at: 3)
        // The ack, then the next trial in the same round trip.
        guard replies.count == 2, replies[0] == .ack(Ack(lease: lease, kind: .result)), case .assign(let next) = replies[1] else {
            Issue.record("\(replies)"); return
        }
        #expect(next.lease.trial != lease.trial)
        let stored = try #require(try server.store.trials().first { $0.id == lease.trial })
        #expect(stored.state == .completed && stored.result?.valid["ndcg@10"] == 0.3)
        #expect(try server.store.workers().map(\.state) == [.online])
    }

    @Test func anUnknownPeerAnotherBuildAndBadFramesAreAnsweredWithTheirCode() throws {
        let server = try server()
        #expect(try exchange(server, .heartbeat(Heartbeat())) == [.error(ErrorReport(code: .notReady, message: "say ready first"))])
        guard case .error(let refused) = try exchange(server, ready(build: "other")).first else { Issue.record("welcomed"); return }
        #expect(refused.code == .buildMismatch)
        let codes = try [
            [[1], Array("launch".utf8), Array("{}".utf8)],
            [[1], Array("wait".utf8), Array(#"{"retry_ms":5}"#.utf8)],  // the coordinator's own message
            [[9], Array("ready".utf8), Array("{}".utf8)],
            [[1], Array("progress".utf8), Array("{".utf8)],
        ].map { frames -> ErrorCode? in
            guard case .error(let report) = try exchange(server, frames: frames).first else { return nil }
            return report.code
        }
        #expect(codes == [.unknownType, .unknownType, .badVersion, .malformedBody])
        #expect(server.counters.rejected == 5)
    }

    @Test func aReportWithoutTheRankingMetricsIsRefusedAndNothingIsStored() throws {
        let server = try server()
        _ = try exchange(server, ready())
        guard case .assign(let assignment) = try exchange(server, .heartbeat(Heartbeat()), at: 1).first else {
            Issue.record("no trial"); return
        }
        let partial = record(1, 0.2, metrics: ["ndcg@10"])
        guard case .error(let report) = try exchange(server, .progress(Progress(lease: assignment.lease, report: partial)), at: 2).first
        else {
            Issue.record("a report without recall@10 was taken"); return
        }
        #expect(report.code == .badReport)
        #expect(try server.store.epochs(trial: assignment.lease.trial, attempt: assignment.lease.attempt).isEmpty)
    }

    @Test func aFailureIsAcknowledgedAndAByeRequeuesTheTrial() throws {
        let server = try server(trials: 1)
        _ = try exchange(server, ready())
        guard case .assign(let assignment) = try exchange(server, .heartbeat(Heartbeat()), at: 1).first else {
            Issue.record("no trial"); return
        }
        _ = try exchange(server, .bye(Bye(reason: "SIGTERM")), at: 2)
        #expect(try server.store.trials().map(\.state) == [.waiting], "a worker leaving requeues its trial")
        #expect(try server.store.workers().map(\.state) == [.offline])
        _ = try exchange(server, ready(), at: 3)
        guard case .assign(let again) = try exchange(server, .heartbeat(Heartbeat()), at: 4).first else { Issue.record("no trial"); return }
        #expect(again.lease.trial == assignment.lease.trial && again.lease.attempt == 2)
        let failed = Failure(lease: again.lease, reason: .diverged, detail: "loss is NaN", epoch: 1)
        #expect(try exchange(server, .failed(failed), at: 5).first == .ack(Ack(lease: again.lease, kind: .failed)))
        #expect(try server.store.trials().map(\.state) == [.diverged])
    }

    /// A trial that failed while the coordinator was away: the worker tells the next coordinator
    /// before the heartbeat that re-claims the lease. The attempt ends once, as the worker said
    /// (the chaos run found it left running forever: the failure was acknowledged and dropped,
    /// and its orphan lease forgotten). Another worker's word on it changes nothing.
    @Test func aFailureToldToARestartedCoordinatorEndsItsOrphanAttempt() throws {
        let first = try server(trials: 2)
        _ = try exchange(first, ready())
        guard case .assign(let assignment) = try exchange(first, .heartbeat(Heartbeat()), at: 1).first else {
            Issue.record("no trial"); return
        }
        let restarted = try CoordinatorServer(
            context: ZMQContext(), endpoint: "inproc://unit-\(UUID().uuidString)", controller: first.controller, dataset: nil,
            admission: first.admission, settings: first.scheduler.settings)
        restarted.outbox = []
        let failure = Failure(lease: assignment.lease, reason: .crashed, detail: "exit 3", epoch: 1)
        let stranger = WorkerMessage.ready(Ready(buildID: "b1", worker: "w2", host: "h", cores: 1, blasThreads: 1, blasCore: "Haswell"))
        _ = try exchange(restarted, stranger, at: 2)
        #expect(try exchange(restarted, .failed(failure), at: 2).first == .ack(Ack(lease: assignment.lease, kind: .failed)))
        #expect(try restarted.store.attempt(lease: assignment.lease.lease)?.outcome == nil, "another worker cannot end it")
        #expect(restarted.scheduler.orphans[assignment.lease.lease] != nil)
        _ = try exchange(restarted, ready(), at: 2)
        #expect(try exchange(restarted, .failed(failure), at: 2).first == .ack(Ack(lease: assignment.lease, kind: .failed)))
        #expect(try restarted.store.attempt(lease: assignment.lease.lease)?.outcome == .failed)
        #expect(try restarted.store.trials().first { $0.id == assignment.lease.trial }?.state == .failed)
        #expect(restarted.scheduler.orphans.isEmpty && !restarted.scheduler.holds(Data(peer), assignment.lease.lease))
    }

    /// A worker with three slots: its idle heartbeat gets three trials, a heartbeat listing two
    /// asks for none more than its free slot, a declined trial goes back uncounted, and its bye
    /// requeues every trial it held.
    @Test func aWorkerWithSlotsHoldsOneLeasePerSlot() throws {
        let server = try server(trials: 5)
        let ready = WorkerMessage.ready(
            Ready(buildID: "b1", worker: "w1", host: "h", cores: 8, blasThreads: 1, blasCore: "Haswell", slots: 3))
        _ = try exchange(server, ready)
        let offered = try exchange(server, .heartbeat(Heartbeat()), at: 1).compactMap { message -> Assignment? in
            if case .assign(let assignment) = message { return assignment }
            return nil
        }
        #expect(offered.count == 3 && Set(offered.map(\.lease.trial)).count == 3)
        #expect(server.scheduler.session(peer)?.free == 0)
        // Two started, the third still on its way: nothing more is offered.
        let two = offered.prefix(2).map { TrialProgress(lease: $0.lease, epoch: 1, step: 5) }
        #expect(try exchange(server, .heartbeat(Heartbeat(progress: two)), at: 2).isEmpty)
        // The worker declines the third (say it reached --max-trials): requeued, attempt not counted.
        let declined = Failure(lease: offered[2].lease, reason: .declined, detail: "no free slot")
        #expect(try exchange(server, .failed(declined), at: 3) == [.ack(Ack(lease: offered[2].lease, kind: .failed))])
        #expect(try server.store.trials().first { $0.id == offered[2].lease.trial }?.state == .waiting)
        // `wants: 0`: a free slot, but it asks for nothing.
        #expect(try exchange(server, .heartbeat(Heartbeat(progress: two, wants: 0)), at: 4).isEmpty)
        _ = try exchange(server, .bye(Bye(reason: "SIGTERM")), at: 5)
        #expect(try server.store.trials().filter { $0.state == .waiting }.count == 5)
        #expect(try server.store.workers().first?.slots == 3)
    }
}
