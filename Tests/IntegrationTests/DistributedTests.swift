import Foundation
import ML
import Protocol
import SweepCore
import TestSupport
import Testing
import Vocabulary

/// A 12-trial sweep on a small synthetic dataset, served by a real `sweep launch` to real
/// `sweep worker` processes over tcp://127.0.0.1, with small heartbeat timings so faults are
/// detected within about a second.
final class DistributedFixture: @unchecked Sendable {
    let work = TestFolders.fresh("distributed")
    let endpoint: String
    var db: String { work.appendingPathComponent("sweep.db").path }
    var data: String { work.appendingPathComponent("data").path }
    var sweep: String { work.appendingPathComponent("sweep.yaml").path }

    /// - Parameter sweepText: the sweep file (its dataset is `data`); by default a 12-trial grid.
    init(epochs: Int = 20, trainExamples: Int = 1500, sweepText: String? = nil) throws {
        endpoint = "tcp://127.0.0.1:\(try Self.freePort())"
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        let synth = try runSweep([
            "data", "synth", "--preset", "small", "--items", "1000", "--train", "\(trainExamples)", "--valid", "200",
            "--test", "200", "--dim", "32", "--tags", "50", "--seed", "4", "--out", data,
        ])
        guard synth.status == 0 else { throw StoreError(message: synth.stderr) }
        try writeSweep(
            sweepText ?? """
                name: distributed
                dataset: data
                method: grid
                fixed: {epochs: \(epochs)}
                parameters:
                  loss: {values: [bce, weighted_bce, focal, class_balanced]}
                  lr: {values: [0.001, 0.002, 0.003]}

                """)
    }

    func writeSweep(_ text: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: sweep))
    }

    /// A loopback port nothing listens on now.
    static func freePort() throws -> Int {
        let context = try ZMQContext()
        let socket = try ZMQSocket(context: context, type: .router)
        try socket.bind("tcp://127.0.0.1:*")
        let endpoint = try socket.lastEndpoint()
        socket.close()
        return Int(endpoint.split(separator: ":").last!)!
    }

    func launch(_ extra: [String] = [], environment: [String: String] = [:]) throws -> Child {
        try Child(
            "sweep", ["launch", sweep, "--db", db, "--bind", endpoint, "--heartbeat-ms", "200", "--liveness", "5"] + extra,
            environment: environment)
    }

    func worker(_ name: String, dataRoot: Bool = true, cache: String? = nil) throws -> Child {
        var arguments = [
            "worker", "--connect", endpoint, "--name", name,
            "--cache-dir", cache ?? work.appendingPathComponent("cache-\(name)").path,
        ]
        if dataRoot { arguments += ["--data-root", data] }
        return try Child("sweep", arguments)
    }

    func store() throws -> SweepStore { try SweepStore.openReadOnly(path: db) }

    /// Waits until `condition` holds on the store (polled), or fails after `timeout`.
    func waitUntil(_ what: String, timeout: TimeInterval = 60, _ condition: (SweepStore) throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if FileManager.default.fileExists(atPath: db), let store = try? store(), (try? condition(store)) == true { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw StoreError(message: "timed out waiting for \(what)")
    }

    /// The live attempt of a worker that has trained at least one step, if any.
    func runningTrial(of worker: String, store: SweepStore) throws -> String? {
        for trial in try store.trials() where trial.state == .running {
            if let attempt = try store.attempts(trial: trial.id).last, attempt.worker == worker, attempt.outcome == nil {
                return trial.id
            }
        }
        return nil
    }

    /// Every trial completed with exactly one result.
    func expectEveryTrialCompletedOnce() throws {
        let trials = try store().trials()
        #expect(trials.count == 12)
        #expect(trials.allSatisfy { $0.state == .completed && $0.result != nil }, "\(trials.map(\.state))")
        for trial in trials {
            let attempts = try store().attempts(trial: trial.id)
            #expect(attempts.filter { $0.outcome == .completed }.count == 1, "trial \(trial.number): \(attempts.map(\.outcome))")
        }
    }
}

@Suite(.serialized) struct DistributedTests {
    @Test func aKilledWorkersTrialMovesToAnotherAndEveryTrialEndsOnce() throws {
        let fixture = try DistributedFixture()
        let coordinator = try fixture.launch()
        let workers = try ["w1", "w2", "w3"].map { try fixture.worker($0) }
        var killed: String?
        try fixture.waitUntil("w2 to be mid-trial") { store in
            killed = try fixture.runningTrial(of: "w2", store: store)
            return killed != nil
        }
        Thread.sleep(forTimeInterval: 0.3)
        workers[1].kill(SIGKILL)
        let result = coordinator.finish(timeout: 120)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("popularity baseline"))
        try fixture.expectEveryTrialCompletedOnce()
        let attempts = try fixture.store().attempts(trial: try #require(killed))
        #expect(attempts.count == 2)
        #expect(attempts[0].worker == "w2" && attempts[0].outcome == .lost && attempts[0].reason?.contains("silent") == true)
        #expect(attempts[1].outcome == .completed && attempts[1].worker != "w2")
        for worker in [workers[0], workers[2]] { #expect(worker.finish(timeout: 30).status == 0) }
        let seen = try fixture.store().workers()
        #expect(Set(seen.map(\.name)) == ["w1", "w2", "w3"])
        #expect(seen.first { $0.name == "w2" }?.state == .lost && seen.filter { $0.state == .offline }.count == 2)
    }

    @Test func aKilledCoordinatorResumesAndKeepsResultsFinishedWhileItWasDown() throws {
        let fixture = try DistributedFixture()
        var coordinator = try fixture.launch()
        let workers = try ["a", "b"].map { try fixture.worker($0) }
        try fixture.waitUntil("three results and both workers mid-trial") { store in
            let completed = try store.trials().filter { $0.state == .completed }.count
            let a = try fixture.runningTrial(of: "a", store: store), b = try fixture.runningTrial(of: "b", store: store)
            return completed >= 3 && a != nil && b != nil
        }
        let before = try fixture.store().trials().filter { $0.state == .completed }
        let inFlight = try ["a", "b"].compactMap { try fixture.runningTrial(of: $0, store: fixture.store()) }
        coordinator.kill(SIGKILL)
        _ = coordinator.finish(timeout: 10)
        // Down long enough for the workers to finish their trials (≈ 2 s each) and keep the results.
        Thread.sleep(forTimeInterval: 4)
        coordinator = try fixture.launch()
        let result = coordinator.finish(timeout: 120)
        #expect(result.status == 0, "\(result.stderr)")
        try fixture.expectEveryTrialCompletedOnce()
        let after = try fixture.store().trials()
        for trial in before {  // nothing finished is lost or changed
            #expect(after.first { $0.id == trial.id }?.result?.valid == trial.result?.valid)
        }
        // The trials in flight at the kill were finished during the downtime and kept, not recomputed.
        for trial in inFlight {
            let attempts = try fixture.store().attempts(trial: trial)
            #expect(attempts.count == 1 && attempts[0].outcome == .completed, "\(trial): \(attempts.map { ($0.outcome, $0.reason) })")
        }
        for worker in workers { #expect(worker.finish(timeout: 30).status == 0) }
    }

    @Test func lateJoinersGetWorkStalledWorkersLoseTheirTrialAndSigtermRequeuesAtOnce() throws {
        let fixture = try DistributedFixture()
        let coordinator = try fixture.launch()
        let stalled = try fixture.worker("stalled")
        var stalledTrial: String?
        try fixture.waitUntil("the first worker to be mid-trial") { store in
            stalledTrial = try fixture.runningTrial(of: "stalled", store: store)
            return stalledTrial != nil
        }
        stalled.kill(SIGSTOP)
        // A worker joining after the sweep began gets work at once, including the stalled one's trial.
        let late = try fixture.worker("late")
        try fixture.waitUntil("the stalled worker's trial to be lost") { store in
            try store.attempts(trial: stalledTrial!).first?.outcome == .lost
        }
        stalled.kill(SIGCONT)
        try fixture.waitUntil("the late worker to be mid-trial") { store in try fixture.runningTrial(of: "late", store: store) != nil }
        let leaving = try fixture.runningTrial(of: "late", store: fixture.store())!
        late.kill(SIGTERM)
        #expect(late.finish(timeout: 30).status == 0)
        let bye = try fixture.store().attempts(trial: leaving)
        #expect(bye.first?.outcome == .lost && bye.first?.reason?.contains("left") == true)
        // Requeued at once: waiting (or already taken again), not failed.
        #expect([TrialState.waiting, .running, .completed].contains(try fixture.store().findTrial(leaving).state))
        let helper = try fixture.worker("helper")
        let result = coordinator.finish(timeout: 120)
        #expect(result.status == 0, "\(result.stderr)")
        try fixture.expectEveryTrialCompletedOnce()
        let first = try fixture.store().attempts(trial: stalledTrial!)
        #expect(first.count >= 2 && first[0].worker == "stalled" && first[0].outcome == .lost)
        // Whatever the stalled worker sent after SIGCONT did not count: its attempt stays lost.
        #expect(try fixture.store().findTrial(stalledTrial!).result?.attempt != 1)
        for worker in [stalled, helper] { _ = worker.finish(timeout: 30) }
    }

    @Test func cancellingARunningTrialReachesItsWorkerWithinASecond() throws {
        let fixture = try DistributedFixture(epochs: 200)
        let coordinator = try fixture.launch()
        let worker = try fixture.worker("busy", dataRoot: true)
        var running: String?
        try fixture.waitUntil("a trial to run") { store in
            running = try fixture.runningTrial(of: "busy", store: store)
            return running != nil
        }
        let cancelled = Date()
        #expect(try runSweep(["cancel", "--db", fixture.db, running!]).status == 0)
        // The worker hears `cancel` and stops within a step, then takes the next trial.
        try fixture.waitUntil("the worker to move on", timeout: 10) { store in
            let next = try fixture.runningTrial(of: "busy", store: store)
            return next != nil && next != running
        }
        #expect(Date().timeIntervalSince(cancelled) < 5)
        #expect(try fixture.store().attempts(trial: running!).first?.outcome == .cancelled)
        #expect(try runSweep(["cancel", "--db", fixture.db, "--all"]).status == 0)
        let result = coordinator.finish(timeout: 60)
        #expect(result.status == 0, "\(result.stderr)")  // cancelled by the user is not a failure
        #expect(result.stderr.contains("12 trials were cancelled by the user"))
        _ = worker.finish(timeout: 30)
    }

    /// `--local-workers` run at `--nice 10`, so the coordinator keeps answering while they keep
    /// every core busy; and an idle worker told `finished` leaves at once, so the coordinator exits
    /// when the last one has heard instead of lingering two heartbeats (here 4 s each).
    @Test func localWorkersRunNicedAndTheCoordinatorExitsOnceEveryWorkerHasHeard() throws {
        let fixture = try DistributedFixture(epochs: 3, trainExamples: 300)
        let coordinator = try Child(
            "sweep",
            [
                "launch", fixture.sweep, "--db", fixture.db, "--bind", fixture.endpoint,
                "--heartbeat-ms", "4000", "--local-workers", "2",
            ])
        var niceness: [Int] = []
        // A worker lowers its priority as it starts, so the first look may come before that.
        do {
            try fixture.waitUntil("both local workers to run at nice 10", timeout: 30) { _ in
                niceness = Self.processes(commandContaining: fixture.endpoint).filter { $0.command.contains(" worker --connect ") }.map(
                    \.nice)
                return niceness == [10, 10]
            }
        } catch {
            Issue.record("local workers' nice values: \(niceness)")
        }
        try fixture.waitUntil("every trial to end", timeout: 120) { store in try store.stateCounts()[.completed] == 12 }
        let lastResult = Date()
        let result = coordinator.finish(timeout: 60)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(Date().timeIntervalSince(lastResult) < 6.5, "a lingering coordinator waits 2 × 4 s")
        try fixture.expectEveryTrialCompletedOnce()
    }

    /// Processes whose command line contains `text`, with their nice value (from /proc).
    static func processes(commandContaining text: String) -> [(command: String, nice: Int)] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.filter { Int($0) != nil }.compactMap { pid in
            guard let raw = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"),
                let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
            else { return nil }
            let command = String(decoding: raw.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
            // Fields after the parenthesised name: state is 3rd, nice is 19th.
            let fields = stat[stat.index(after: stat.lastIndex(of: ")")!)...].split(separator: " ")
            guard command.contains(text), fields.count > 16, let nice = Int(fields[16]) else { return nil }
            return (command, nice)
        }
    }

    @Test func aWorkerWithoutDataFetchesAndCachesTheDataset() throws {
        let fixture = try DistributedFixture(epochs: 2, trainExamples: 300)
        let coordinator = try fixture.launch()
        let cache = fixture.work.appendingPathComponent("empty-cache").path
        let worker = try fixture.worker("fresh", dataRoot: false, cache: cache)
        let result = coordinator.finish(timeout: 120)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(worker.finish(timeout: 30).status == 0)
        try fixture.expectEveryTrialCompletedOnce()
        let fingerprint = try fixture.store().sweep()!.fingerprint
        let cached = URL(fileURLWithPath: cache).appendingPathComponent(fingerprint)
        #expect(try DatasetFingerprint.compute(folder: cached).fingerprint == fingerprint)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: cache).filter { $0.hasPrefix(".download") }
        #expect(leftovers.isEmpty)
    }
}
