import Foundation
import SweepCore
import TestSupport
import Testing
import Vocabulary

/// What an operator of a shared cluster relies on, with real processes: time limits that stop a
/// hung program, budgets, and a failure limit that stops a broken sweep.
@Suite(.serialized) struct OperatingTests {
    /// A program sweep of Tests/Programs/fit over `parameters`, with `extra` top-level keys.
    func programSweep(_ fixture: DistributedFixture, parameters: String, extra: String) throws {
        try fixture.writeSweep(
            """
            name: operating
            program:
              dir: \(testPrograms.appendingPathComponent("fit").path)
              command: [python3, fit.py]
              env: [FIT_FAIL_AT]
            dataset: none
            metric: {name: valid_accuracy, goal: maximize}
            method: grid
            fixed: {epochs: 3, sleep: 0.05}
            parameters:
            \(parameters)
            \(extra)

            """)
    }

    /// The worker stays alive and heart-beating while its program hangs after epoch 1: only the
    /// epoch limit catches it. The attempt ends `timed_out`, is retried once, then the trial fails;
    /// the other trial completes.
    @Test func aProgramThatHangsAfterEpochOneTimesOutAndIsRetriedOnce() throws {
        let fixture = try DistributedFixture()
        try programSweep(fixture, parameters: "  hang_at: {values: [0, 1]}", extra: "limits: {epoch: 3s}")
        let coordinator = try fixture.launch()
        let runs = fixture.work.appendingPathComponent("runs").path
        let worker = try Child(
            "sweep",
            [
                "worker", "--connect", fixture.endpoint, "--name", "w", "--allow-programs", "--runs-dir", runs, "--program-grace", "2",
                "--cache-dir", fixture.work.appendingPathComponent("cache").path,
            ])
        let result = coordinator.finish(timeout: 120)
        #expect(result.status == 3, "one trial failed: \(result.stderr)")
        let store = try fixture.store()
        let trials = try store.trials().sorted { $0.number < $1.number }
        #expect(trials.map(\.state) == [.completed, .failed])
        let attempts = try store.attempts(trial: trials[1].id)
        #expect(attempts.map(\.outcome) == [.timedOut, .timedOut], "\(attempts.map(\.reason))")
        #expect(
            attempts.allSatisfy { $0.reason == "timed out: epoch 2 ran past the epoch limit of 3s on w" && $0.worker == "w" },
            "\(attempts.map(\.reason))")
        // Each hung attempt reported its first epoch and was stopped about 3 s after it, not lost.
        for attempt in attempts {
            #expect(try store.epochs(trial: trials[1].id, attempt: attempt.attempt).count == 1)
            let ran = try #require(attempt.finished).timeIntervalSince(attempt.started)
            #expect(ran > 3 && ran < 10, "attempt \(attempt.attempt) ran \(ran) s")
        }
        #expect(!processAlive(withCommandLineContaining: runs), "a hung program outlived its time limit")
        #expect(try store.workers().first?.state == .offline, "the worker was never lost")
        #expect(worker.finish(timeout: 30).status == 0)
        #expect(result.stderr.contains("timed_out: timed out: epoch 2 ran past the epoch limit of 3s"), "\(result.stderr)")
    }

    /// `sweep run` applies the same limits in its own process.
    @Test func sweepRunStopsAHungProgramAtItsLimitToo() throws {
        let fixture = try DistributedFixture()
        try programSweep(fixture, parameters: "  hang_at: {values: [1]}", extra: "limits: {trial: 2s, retries: 0}")
        let run = try runSweep(["run", fixture.sweep, "--db", fixture.db, "--program-grace", "1"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stderr.contains("timed out: the attempt ran past the trial limit of 2s"), "\(run.stderr)")
        let trial = try #require(try fixture.store().trials().first)
        let outcomes = try fixture.store().attempts(trial: trial.id).map(\.outcome)
        #expect(trial.state == .failed && outcomes == [.timedOut])
    }

    /// Two crashing trials stop a sweep whose file allows two failures: the coordinator starts no
    /// third, says why with the program's stderr tail and exits 4; after the fix, `sweep retry` and
    /// a relaunch go on from the store.
    @Test func maxFailedTrialsStopsABrokenSweepAndRetryGoesOnAfterTheFix() throws {
        let fixture = try DistributedFixture()
        try programSweep(fixture, parameters: "  lr: {values: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]}", extra: "max_failed_trials: 2")
        let broken = try fixture.launch(["--local-workers", "1"], environment: ["FIT_FAIL_AT": "1"])
        let result = broken.finish(timeout: 120)
        #expect(result.status == 4, "\(result.stderr)")
        #expect(result.stderr.contains("stopped: 2 trials failed (max_failed_trials: 2); the last failure: crashed: the program"))
        #expect(result.stderr.contains("RuntimeError: failing on purpose at epoch 1"), "the stderr tail: \(result.stderr)")
        #expect(result.stderr.contains("sweep retry --db \(fixture.db) --failed"))
        #expect(try sqlite(fixture.db, "SELECT state, COUNT(*) FROM trial GROUP BY state ORDER BY state") == "failed|2\nwaiting|4")
        let status = try runSweep(["status", "--db", fixture.db])
        #expect(status.stdout.contains("halted: 2 trials failed (max_failed_trials: 2)"), "\(status.stdout)")

        #expect(try runSweep(["retry", "--db", fixture.db, "--failed"]).status == 0)
        let fixed = try fixture.launch(["--local-workers", "1"])
        let after = fixed.finish(timeout: 120)
        #expect(after.status == 0, "\(after.stderr)")
        #expect(try sqlite(fixture.db, "SELECT state, COUNT(*) FROM trial GROUP BY state") == "completed|6")
    }

    /// A budget of 5 trials starts 5 of 12 and says so; a relaunch with a larger one goes on.
    @Test func aTrialsBudgetStopsAtItAndARelaunchWithALargerOneGoesOn() throws {
        let fixture = try DistributedFixture(epochs: 2, trainExamples: 400)
        let grid = """
            name: distributed
            dataset: data
            method: grid
            fixed: {epochs: 2}
            parameters:
              loss: {values: [bce, weighted_bce, focal, class_balanced]}
              lr: {values: [0.001, 0.002, 0.003]}

            """
        try fixture.writeSweep(grid + "budget: {trials: 5}\n")
        let first = try fixture.launch(["--local-workers", "2"]).finish(timeout: 120)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(
            first.stderr.contains("ended: the trials budget is reached (trials 5/5); 7 trials wait: raise the budget"), "\(first.stderr)")
        #expect(try sqlite(fixture.db, "SELECT state, COUNT(*) FROM trial GROUP BY state ORDER BY state") == "completed|5\nwaiting|7")
        #expect(try sqlite(fixture.db, "SELECT COUNT(*) FROM attempt") == "5")
        let status = try runSweep(["status", "--db", fixture.db, "--json"])
        let document = try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any]
        let budget = try #require(document?["budget"] as? [String: Any])
        #expect(budget["reached"] as? String == "trials" && (budget["used"] as? [String: Any])?["trials"] as? Int == 5)

        try fixture.writeSweep(grid + "budget: {trials: 8}\n")
        let second = try fixture.launch(["--local-workers", "2"]).finish(timeout: 120)
        #expect(second.status == 0, "\(second.stderr)")
        #expect(try sqlite(fixture.db, "SELECT state, COUNT(*) FROM trial GROUP BY state ORDER BY state") == "completed|8\nwaiting|4")
    }

    /// `on_reach: cancel`: once the epochs budget is used, running trials are cancelled at once.
    @Test func anEpochsBudgetWithOnReachCancelStopsRunningTrials() throws {
        let fixture = try DistributedFixture()
        try programSweep(
            fixture, parameters: "  lr: {values: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]}", extra: "budget: {epochs: 4, on_reach: cancel}")
        let sweep = try String(contentsOfFile: fixture.sweep, encoding: .utf8)
        try fixture.writeSweep(sweep.replacingOccurrences(of: "fixed: {epochs: 3, sleep: 0.05}", with: "fixed: {epochs: 20, sleep: 0.3}"))
        let result = try fixture.launch(["--local-workers", "2"]).finish(timeout: 120)
        #expect(result.status == 0, "\(result.stderr)")
        let store = try fixture.store()
        let trials = try store.trials()
        #expect(Set(trials.map(\.state)).isSubset(of: [.cancelled, .waiting]), "\(trials.map(\.state))")
        #expect(trials.filter { $0.state == .cancelled }.count == 2 && trials.filter { $0.state == .waiting }.count == 4)
        for trial in trials where trial.state == .cancelled {
            let reason = try store.attempts(trial: trial.id).last?.reason ?? ""
            #expect(reason.hasPrefix("cancelled: the epochs budget is reached (epochs "), "\(reason)")
        }
        // Stopped within a few epochs of the budget, not after their 20.
        #expect((Int(try sqlite(fixture.db, "SELECT COUNT(*) FROM epoch")) ?? 99) < 12)
    }

    /// `--slots 3`: three trials at once, each with its own lease; a kill -9 of the worker
    /// returns all three, which another worker finishes, one result each.
    @Test func aWorkerWithThreeSlotsRunsThreeTrialsAtOnceAndItsKillReturnsAllThree() throws {
        let fixture = try DistributedFixture(epochs: 10, trainExamples: 1000)
        let coordinator = try fixture.launch()
        let wide = try Child(
            "sweep",
            [
                "worker", "--connect", fixture.endpoint, "--name", "wide", "--slots", "3", "--data-root", fixture.data,
                "--cache-dir", fixture.work.appendingPathComponent("cache-wide").path,
            ])
        var held: [String] = []
        try fixture.waitUntil("three trials running on one worker") { store in
            held = try store.trials().filter { $0.state == .running }.compactMap { trial in
                try store.attempts(trial: trial.id).last.flatMap { $0.worker == "wide" && $0.outcome == nil ? trial.id : nil }
            }
            return held.count == 3
        }
        let status = try runSweep(["status", "--db", fixture.db])
        #expect(status.stdout.contains("worker wide (") && status.stdout.contains("3 slots, running #"), "\(status.stdout)")
        wide.kill(SIGKILL)
        let other = try fixture.worker("narrow")
        let result = coordinator.finish(timeout: 180)
        #expect(result.status == 0, "\(result.stderr)")
        try fixture.expectEveryTrialCompletedOnce()
        for trial in held {
            let attempts = try fixture.store().attempts(trial: trial)
            #expect(attempts.map(\.outcome) == [.lost, .completed] && attempts[0].worker == "wide" && attempts[1].worker == "narrow")
        }
        #expect(other.finish(timeout: 30).status == 0)
    }

    /// `--gpus 0,1`: each program trial sees one device, never one a running trial has; a trial
    /// that crashes frees its device for the next.
    @Test func gpusGiveEachProgramTrialADeviceNoOtherRunningTrialHas() throws {
        let fixture = try DistributedFixture()
        try programSweep(fixture, parameters: "  lr: {values: [0.1, 0.2, 0.3]}\n  fail_at: {values: [0, 2]}", extra: "")
        let sweep = try String(contentsOfFile: fixture.sweep, encoding: .utf8)
        try fixture.writeSweep(sweep.replacingOccurrences(of: "fixed: {epochs: 3, sleep: 0.05}", with: "fixed: {epochs: 3, sleep: 0.3}"))
        let coordinator = try fixture.launch()
        let worker = try Child(
            "sweep",
            [
                "worker", "--connect", fixture.endpoint, "--name", "box", "--gpus", "0,1", "--allow-programs",
                "--runs-dir", fixture.work.appendingPathComponent("runs").path,
                "--cache-dir", fixture.work.appendingPathComponent("cache").path,
            ])
        let result = coordinator.finish(timeout: 180)
        #expect(result.status == 3, "three trials fail on purpose: \(result.stderr)")
        let store = try fixture.store()
        // When each program held its device: from its process's start to its last epoch's end.
        var spans: [(gpu: Int, start: Double, end: Double)] = []
        for trial in try store.trials() {
            let attempt = try #require(try store.attempts(trial: trial.id).last)
            let epochs = try store.epochs(trial: trial.id, attempt: attempt.attempt).compactMap(\.extra)
            let devices = Set(epochs.compactMap { $0["gpu"] })
            #expect(devices.count == 1, "trial \(trial.number) saw devices \(devices)")
            spans.append(
                (Int(devices.first ?? -1), try #require(epochs.first?["started"]), try #require(epochs.compactMap { $0["at"] }.max())))
        }
        #expect(spans.count == 6 && Set(spans.map(\.gpu)) == [0, 1])
        var overlapping = 0
        for (i, a) in spans.enumerated() {
            for b in spans[(i + 1)...] where a.start < b.end && b.start < a.end {
                overlapping += 1
                #expect(a.gpu != b.gpu, "two trials ran on GPU \(a.gpu) at once: \(spans)")
            }
        }
        #expect(overlapping >= 2, "the two slots ran trials side by side")
        #expect(worker.finish(timeout: 30).status == 0)
        #expect(try store.workers().first?.gpus == [0, 1])
        // The board's worker column names the device each result came from.
        let board = try runSweep(["leaderboard", "--db", fixture.db, "--format", "csv"]).stdout.split(separator: "\n")
        let column = try #require(board.first?.split(separator: ",").firstIndex(of: "worker"))
        let workers = Set(
            board.dropFirst().filter { !$0.hasPrefix("#") }.map {
                String($0.split(separator: ",", omittingEmptySubsequences: false)[column])
            })
        #expect(workers == ["box gpu 0", "box gpu 1"], "\(board)")
    }

    /// `sweep enqueue`: a config the user knows runs before the plan, one outside the space only
    /// with --force and marked on the board.
    @Test func enqueuedConfigsRunFirstAndAForcedOneIsMarked() throws {
        let fixture = try DistributedFixture()
        try programSweep(fixture, parameters: "  lr: {values: [0.1, 0.2, 0.3]}", extra: "")
        #expect(try runSweep(["run", fixture.sweep, "--db", fixture.db, "--max-trials", "1"]).status == 0)
        let known = fixture.work.appendingPathComponent("known.yaml").path, wide = fixture.work.appendingPathComponent("wide.yaml").path
        try Data("lr: 0.3\n".utf8).write(to: URL(fileURLWithPath: known))
        try Data("lr: 0.7\n".utf8).write(to: URL(fileURLWithPath: wide))
        let refused = try runSweep(["enqueue", "--db", fixture.db, known, wide])
        #expect(
            refused.status != 0
                && refused.stderr.contains("wide.yaml: lr: 0.7 is outside its rule: one of [0.1, 0.2, 0.3] (--force runs it anyway)"))
        #expect(try sqlite(fixture.db, "SELECT COUNT(*) FROM trial") == "3", "one bad file adds nothing")
        let taken = try runSweep(["enqueue", "--db", fixture.db, known, wide, "--force"])
        #expect(taken.status == 0, "\(taken.stderr)")
        #expect(taken.stdout.contains("known.yaml: already planned as trial #3: now runs first"))
        #expect(taken.stdout.contains("wide.yaml: added as trial #4, forced: outside the sweep's space"))
        #expect(try runSweep(["run", fixture.sweep, "--db", fixture.db]).status == 0)
        #expect(
            try sqlite(fixture.db, "SELECT group_concat(trial_number) FROM (SELECT trial_number FROM attempt ORDER BY started_at)")
                == "1,3,4,2")
        let board = try runSweep(["leaderboard", "--db", fixture.db, "--format", "csv"]).stdout
        let header = try #require(board.split(separator: "\n").first).split(separator: ",").map(String.init)
        let column = try #require(header.firstIndex(of: "enqueued"))
        let forced = try #require(board.split(separator: "\n").first { $0.split(separator: ",").dropFirst().first == "4" })
        #expect(forced.split(separator: ",", omittingEmptySubsequences: false)[column] == "forced", "\(board)")
        #expect(try runSweep(["show", "--db", fixture.db, "4"]).stdout.contains("enqueued by the user with --force"))
    }

    /// `warm_start`: TPE's first proposals come from another store's results (the audit says so),
    /// which stay out of this sweep's board.
    @Test func tpeProposesFromAWarmStartsResults() throws {
        let fixture = try DistributedFixture()
        try programSweep(fixture, parameters: "  lr: {values: [0.01, 0.1, 0.5, 1.0, 2.0, 50.0]}", extra: "")
        let previous = fixture.work.appendingPathComponent("previous.db").path
        #expect(try runSweep(["run", fixture.sweep, "--db", previous]).status == 0)
        let sweep = try String(contentsOfFile: fixture.sweep, encoding: .utf8)
            .replacingOccurrences(
                of: "method: grid", with: "method: tpe\ncount: 4\ntpe: {startup_trials: 3}\nwarm_start: {db: previous.db}"
            )
            .replacingOccurrences(
                of: "lr: {values: [0.01, 0.1, 0.5, 1.0, 2.0, 50.0]}", with: "lr: {distribution: log_uniform, min: 0.01, max: 10}")
        try fixture.writeSweep(sweep)
        let plan = try runSweep(["plan", fixture.sweep])
        #expect(
            plan.stderr.contains("warm start: 5 of 6 finished configs from \(previous) (1 left out: 1 have lr outside this sweep's range)"))
        let run = try runSweep(["run", fixture.sweep, "--db", fixture.db])
        #expect(run.status == 0, "\(run.stderr)")
        // The three startup draws are planned; the fourth config is TPE's, from them and the 5 warm results.
        let proposed = try runSweep(["show", "--db", fixture.db, "4"]).stdout
        #expect(proposed.contains("proposed by tpe from 8 finished (5 of them from warm_start) and 0 running configs"), "\(proposed)")
        #expect(try sqlite(fixture.db, "SELECT COUNT(*) FROM trial") == "4", "nothing of the other store is copied in")
    }
}
