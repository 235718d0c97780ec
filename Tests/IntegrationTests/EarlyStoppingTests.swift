import Foundation
import ML
import SweepCore
import Testing
import Vocabulary

/// Early stopping through `sweep launch` with real worker processes on a small synthetic dataset,
/// checked against `sweep run` of the same file: one controller, so the same records.
@Suite(.serialized) struct EarlyStoppingTests {
    /// Eight learning rates from 1e-5 (stuck near the popularity baseline) to 3e-2, 9 epochs each,
    /// ASHA with rungs at epochs 1 and 3. In this order, `sweep run` stops five trials at epoch 1,
    /// one at epoch 3, and completes two.
    static func sweepText(lrs: [String] = ["0.001", "0.01", "0.0001", "0.03", "0.00001", "0.003", "0.0003", "0.00003"]) -> String {
        """
        name: asha
        dataset: data
        method: grid
        fixed: {epochs: 9, loss: weighted_bce}
        early_stopping: {type: asha, min_epochs: 1, reduction_factor: 3}
        parameters:
          lr: {values: [\(lrs.joined(separator: ", "))]}

        """
    }

    func fixture() throws -> DistributedFixture { try DistributedFixture(trainExamples: 600, sweepText: Self.sweepText()) }

    /// What a sweep decided and kept, per trial: what `run` and `launch` must agree on to the bit.
    struct Kept: Equatable, CustomStringConvertible {
        var number: Int
        var id: String
        var state: TrialState
        var stoppedAt: Int?
        var bestEpoch: Int?
        var valid: [String: Double]?
        var test: [String: Double]?
        var judgements: [String]
        /// The result attempt's epochs: metrics and losses (not times).
        var epochs: [String]

        var description: String { "#\(number) \(state.rawValue)\(stoppedAt.map { "@\($0)" } ?? "") best \(bestEpoch ?? 0) \(judgements)" }
    }

    static func kept(_ path: String) throws -> [Kept] {
        let store = try SweepStore.openReadOnly(path: path)
        return try store.trials().map { trial in
            let epochs = try trial.result.map { try store.epochs(trial: trial.id, attempt: $0.attempt) } ?? []
            return Kept(
                number: trial.number, id: trial.id, state: trial.state, stoppedAt: trial.stoppedAt, bestEpoch: trial.result?.bestEpoch,
                valid: trial.result?.valid, test: trial.result?.test,
                judgements: try store.judgements(trial: trial.id).map {
                    "\($0.epoch) \($0.values[0]) \($0.decision) \($0.compared.map { $0[0] })"
                },
                epochs: epochs.map { "\($0.epoch) \(String(describing: $0.lossMain)) \($0.valid) \($0.test)" })
        }
    }

    /// `sweep run` of the fixture's file into its own store: the reference.
    func reference(_ fixture: DistributedFixture) throws -> [Kept] {
        let path = fixture.work.appendingPathComponent("run.db").path
        let run = try runSweep(["run", fixture.sweep, "--db", path])
        #expect(run.status == 0, "\(run.stderr)")
        let kept = try Self.kept(path)
        // The sweep is worth testing: some trials stopped at each rung, some ran to the end.
        #expect(Set(kept.compactMap(\.stoppedAt)) == [1, 3], "\(kept)")
        #expect(kept.contains { $0.state == .completed })
        return kept
    }

    /// "trial T stopped at step S (the stop arrived at step R)" lines of a worker's log.
    static func stops(_ log: String) -> [(stopped: Int, received: Int)] {
        log.split(separator: "\n").compactMap { line in
            guard let range = line.range(of: "stopped at step ") else { return nil }
            let numbers = line[range.upperBound...].split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
            return numbers.count == 2 ? (numbers[0], numbers[1]) : nil
        }
    }

    @Test func launchStoresWhatRunStoresAndAPrunedWorkerStopsWithinAStep() throws {
        let fixture = try fixture()
        let expected = try reference(fixture)
        let coordinator = try fixture.launch()
        let worker = try fixture.worker("w1")
        let result = coordinator.finish(timeout: 120)
        #expect(result.status == 0, "\(result.stderr)")  // pruned trials are no failure
        let log = worker.finish(timeout: 30).stderr
        #expect(try Self.kept(fixture.db) == expected)
        // Each pruned trial's trainer stopped within one step of hearing the stop.
        let stops = Self.stops(log)
        #expect(stops.count == expected.filter { $0.state == .pruned }.count, "\(log)")
        #expect(stops.allSatisfy { $0.stopped - $0.received <= 1 }, "\(stops)")
        // The board: pruned trials only under --all, and the footer counts the epochs.
        #expect(result.stdout.contains("epochs trained: ") && result.stdout.contains("early stopping pruned"))
        let board = try runSweep(["leaderboard", "--db", fixture.db, "--all", "--format", "json"])
        let document = try #require(try JSONSerialization.jsonObject(with: Data(board.stdout.utf8)) as? [String: Any])
        let epochs = try #require(document["epochs"] as? [String: Int])
        #expect(epochs["budget"] == 72 && epochs["trained"] == expected.map { $0.stoppedAt ?? 9 }.reduce(0, +))
        #expect(epochs["saved"] == 72 - epochs["trained"]!)
    }

    /// kill -9 of the coordinator while trials run: the worker trains on, its reports and result
    /// reach the next coordinator, rungs passed meanwhile are judged on arrival, and every decision
    /// is the one `sweep run` made.
    @Test func aKilledCoordinatorChangesNoDecision() throws {
        let fixture = try fixture()
        let expected = try reference(fixture)
        var coordinator = try fixture.launch()
        let worker = try fixture.worker("w1")
        // Trial #6 goes on at epoch 1 and stops at epoch 3 (`run` says so): kill as it passes epoch 1.
        #expect(expected[5].stoppedAt == 3)
        try fixture.waitUntil("trial #6 past its first rung") { store in
            try store.judgements(trial: expected[5].id).contains { $0.epoch == 1 }
        }
        coordinator.kill(SIGKILL)
        _ = coordinator.finish(timeout: 10)
        let killed = Date()
        Thread.sleep(forTimeInterval: 2)  // the worker trains on meanwhile, past rungs nobody judges
        coordinator = try fixture.launch()
        let result = coordinator.finish(timeout: 120)
        #expect(result.status == 0, "\(result.stderr)")
        _ = worker.finish(timeout: 30)
        #expect(try Self.kept(fixture.db) == expected)
        // Trial #6 kept its attempt, and the new coordinator stopped it at epoch 3, from what the
        // worker sent again after reconnecting.
        let store = try fixture.store()
        #expect(try store.attempts(trial: expected[5].id).map(\.outcome) == [.pruned])
        #expect(try store.judgements(trial: expected[5].id).map { $0.at > killed } == [false, true])
    }

    /// A trial running when the coordinator died, then dropped from the sweep file, is retired at
    /// relaunch: its worker is told to stop, its late report or result changes nothing, and the
    /// sweep ends with exit 0, the trial shown as retired.
    @Test func aTrialRetiredWhileItRunsEndsCleanly() throws {
        let fixture = try DistributedFixture(
            trainExamples: 1500,
            sweepText: Self.sweepText(lrs: ["0.001", "0.002", "0.003"])
                .replacingOccurrences(of: "epochs: 9", with: "epochs: 60"))
        var coordinator = try fixture.launch()
        let worker = try fixture.worker("w1")
        var running: String?
        try fixture.waitUntil("the second trial to run") { store in
            running = try store.trials().first { $0.state == .running && $0.number == 2 }?.id
            return running != nil
        }
        coordinator.kill(SIGKILL)
        _ = coordinator.finish(timeout: 10)
        try fixture.writeSweep(Self.sweepText(lrs: ["0.001", "0.003"]).replacingOccurrences(of: "epochs: 9", with: "epochs: 60"))
        coordinator = try fixture.launch()
        let result = coordinator.finish(timeout: 120)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("(0 new, 2 kept, 1 retired)"))
        _ = worker.finish(timeout: 30)
        let store = try fixture.store()
        let retired = try store.findTrial(try #require(running))
        #expect(retired.state == .retired && retired.result == nil)
        #expect(try store.attempts(trial: retired.id).map(\.outcome) == [.cancelled])
        #expect(try store.trials().filter { $0.id != retired.id }.allSatisfy { $0.state == .completed })
        let all = try runSweep(["leaderboard", "--db", fixture.db, "--all", "--columns", "#,state"])
        #expect(all.stdout.contains("2  retired"), "\(all.stdout)")
    }
}
