import Foundation
import Protocol
import TestSupport
import Testing
import Vocabulary

@testable import Worker

/// The worker's side of the conversation driven with frames made here, what it sends read from
/// its outbox: no coordinator, no socket. (The process tests drive the same code over sockets.)
@Suite struct WorkerLoopTests {
    let codec = Codec()
    let lease = LeaseRef(trial: "0123456789abcdef", attempt: 1, lease: "L-1")

    func worker(maxTrials: Int? = nil) throws -> WorkerClient {
        var settings = WorkerSettings(
            endpoint: "tcp://127.0.0.1:1", identity: WorkerIdentity.current(name: "w1", blasThreads: 1), buildID: "b1",
            maxTrials: maxTrials)
        settings.noopTrials = true
        let folder = TestFolders.fresh("worker-loop")
        let client = try WorkerClient(settings: settings, cache: DatasetCache(dataRoot: nil, cacheDirectory: folder))
        client.outbox = []
        return client
    }

    /// Hands the worker one coordinator message; returns why it stops (if it does) and what it sent.
    func deliver(_ message: CoordinatorMessage, to worker: WorkerClient) throws -> (WorkerExit?, [WorkerMessage]) {
        worker.outbox = []
        var backoff = 8.0
        let exit = worker.receive(try codec.encode(message), backoff: &backoff)
        return (exit, try worker.outbox!.map { try codec.decode($0, as: WorkerMessage.self) })
    }

    @Test func aWelcomedWorkerAsksForWorkSendsItsResultAndLeavesAfterItsLastTrial() throws {
        let worker = try worker(maxTrials: 1)
        let (welcomeExit, afterWelcome) = try deliver(.welcome(Welcome(heartbeatMilliseconds: 200, liveness: 3, sweep: "s")), to: worker)
        #expect(welcomeExit == nil && afterWelcome == [.heartbeat(Heartbeat())], "an idle worker's heartbeat asks for work")
        let assignment = Assignment(
            lease: lease, number: 1, config: JSONObjectText(#"{"lr":0.01}"#), dataset: DatasetRef(fingerprint: "f", files: []))
        #expect(try deliver(.assign(assignment), to: worker).1.isEmpty)
        worker.outbox = []
        worker.forwardJobs()  // the no-op trial has finished: its result goes out at once
        let sent = try worker.outbox!.map { try codec.decode($0, as: WorkerMessage.self) }
        guard sent.count == 1, case .result(let outcome) = sent[0] else { Issue.record("\(sent)"); return }
        #expect(outcome.lease == lease)
        // A second assign past --max-trials is not started: it goes back, declined.
        let second = Assignment(
            lease: LeaseRef(trial: "fedcba9876543210", attempt: 1, lease: "L-2"), number: 2, config: JSONObjectText(#"{"lr":0.02}"#),
            dataset: DatasetRef(fingerprint: "f", files: []))
        #expect(
            try deliver(.assign(second), to: worker).1 == [.failed(Failure(lease: second.lease, reason: .declined, detail: "no free slot"))]
        )
        let (exit, afterAck) = try deliver(.ack(Ack(lease: lease, kind: .result)), to: worker)
        #expect(exit == .maxTrials && afterAck == [.bye(Bye(reason: "done 1 trials"))])
    }

    @Test func errorCodesAreActedOnByKind() throws {
        let worker = try worker()
        _ = try deliver(.welcome(Welcome(heartbeatMilliseconds: 200, liveness: 3, sweep: "s")), to: worker)
        let (_, reintroduced) = try deliver(.error(ErrorReport(code: .notReady, message: "say ready first")), to: worker)
        guard reintroduced.count == 1, case .ready(let ready) = reintroduced[0] else { Issue.record("\(reintroduced)"); return }
        #expect(ready.worker == "w1" && ready.buildID == "b1")
        let (refused, _) = try deliver(.error(ErrorReport(code: .buildMismatch, message: "another build")), to: worker)
        #expect(refused == .refused("another build"))
        let (quarantined, nothing) = try deliver(.error(ErrorReport(code: .quarantined, message: "bad data")), to: worker)
        #expect(quarantined == nil && nothing.isEmpty)
        #expect(try deliver(.shutdown(Shutdown(reason: .finished)), to: worker).0 == .finished)
    }

    @Test func framesThatDoNotDecodeAreIgnored() throws {
        let worker = try worker()
        var backoff = 1.0
        let ready = try codec.encode(
            WorkerMessage.ready(Ready(buildID: "b1", worker: "x", host: "h", cores: 1, blasThreads: 1, blasCore: "c")))
        for frames in [[[1], Array("welcome".utf8)], [[2], Array("ack".utf8), Array("{}".utf8)], ready] {
            #expect(worker.receive(frames, backoff: &backoff) == nil)
        }
        #expect(worker.outbox!.isEmpty)
    }
}
