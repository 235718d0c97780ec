import Foundation
import TestSupport
import Testing
import Vocabulary

@testable import SweepCore

/// `limits`, `budget` and `max_failed_trials`: how the file says them, and how the controller
/// halts a sweep over a real store.
@Suite struct LimitsTests {
    let grid = ControllerTests()
    let t0 = Date(timeIntervalSince1970: 2_000_000)

    @Test func durationsReadAndWriteAsTheFileSaysThem() {
        let cases: [(String, TimeInterval?)] = [
            ("90s", 90), ("20m", 1200), ("2h", 7200), ("1h30m", 5400), ("1.5h", 5400), ("2d", 172_800), ("45", 45), ("0.5", 0.5),
            ("", nil), ("0s", nil), ("-5", nil), ("5x", nil), ("h", nil), ("1h30", nil), ("inf", nil),
        ]
        for (text, seconds) in cases { #expect(TimeLimits.seconds(text) == seconds, "\(text)") }
        #expect([90, 1200, 7200, 5400, 3661, 0.5].map(TimeLimits.text) == ["1m30s", "20m", "2h", "1h30m", "1h1m1s", "0.5s"])
    }

    @Test func anAttemptPastEitherLimitSaysWhichAndAfterWhatEpoch() {
        let limits = TimeLimits(trial: 100, epoch: 30)
        #expect(limits.exceeded(started: t0, lastEpoch: nil, epochsReported: 0, now: t0.addingTimeInterval(30)) == nil)
        #expect(
            limits.exceeded(started: t0, lastEpoch: nil, epochsReported: 0, now: t0.addingTimeInterval(31))
                == "timed out: epoch 1 ran past the epoch limit of 30s")
        #expect(
            limits.exceeded(started: t0, lastEpoch: t0.addingTimeInterval(80), epochsReported: 3, now: t0.addingTimeInterval(100)) == nil)
        #expect(
            limits.exceeded(started: t0, lastEpoch: t0.addingTimeInterval(80), epochsReported: 3, now: t0.addingTimeInterval(101))
                == "timed out: the attempt ran past the trial limit of 1m40s")
        #expect(TimeLimits().exceeded(started: t0, lastEpoch: nil, epochsReported: 0, now: .distantFuture) == nil)
        #expect(TimeLimits().maxAttempts == 2 && TimeLimits(retries: 0).maxAttempts == 1)
    }

    @Test func theFileSaysLimitsBudgetsAndTheFailureLimit() throws {
        let parsed = try spec(
            syntheticHeader + """
                method: grid
                parameters:
                  lr: {values: [0.001, 0.002]}
                limits: {trial: 2h, epoch: 20m, retries: 2}
                budget: {hours: 8, trials: 500, epochs: 20000, target: 0.15, on_reach: cancel}
                max_failed_trials: 3
                """)
        #expect(parsed.limits == TimeLimits(trial: 7200, epoch: 1200, retries: 2))
        #expect(
            parsed.budget
                == Budget(
                    hours: 8, trials: 500, epochs: 20000, target: Budget.Target(objective: Objective(metric: "ndcg@10"), value: 0.15),
                    onReach: .cancel))
        #expect(parsed.maxFailedTrials == 3 && parsed.failureLimit(trials: 1000) == 3)
        let plain = try spec(syntheticHeader + "method: grid\nparameters:\n  lr: {values: [0.001]}\n")
        #expect(plain.limits == TimeLimits() && plain.budget == nil)
        // The default: a fifth of the trials, at least 5.
        #expect([1, 25, 26, 100, 1000].map { plain.failureLimit(trials: $0) } == [5, 5, 6, 20, 200])
        let named = try spec(
            syntheticHeader + """
                method: grid
                objectives:
                  - {name: valid_ndcg@10, goal: maximize}
                  - {name: valid_coverage@10, goal: maximize}
                parameters:
                  lr: {values: [0.001]}
                budget: {target: {metric: valid_coverage@10, value: 0.3}}
                """)
        #expect(named.budget?.target == Budget.Target(objective: Objective(metric: "coverage@10"), value: 0.3))
    }

    @Test func badLimitsAndBudgetsAreRefusedWithTheirKeyAndLine() {
        let base = syntheticHeader + "method: grid\nparameters:\n  lr: {values: [0.001]}\n"
        let baseLines = base.split(separator: "\n", omittingEmptySubsequences: false).count
        func found(_ text: String) -> [String] {
            issues(base + text).map { "\($0.line.map { String($0 - baseLines + 1) } ?? "-") \($0.path): \($0.message)" }
        }
        #expect(found("limits: {trial: soon}\n") == ["1 limits.trial: must be a duration such as 90s, 20m, 2h or 1h30m"])
        #expect(found("limits: {epoch: -3}\n") == ["1 limits.epoch: must be a duration such as 90s, 20m, 2h or 1h30m"])
        #expect(found("limits:\n  retries: -1\n") == ["2 limits.retries: must be ≥ 0, got -1"])
        #expect(found("limits: {wall: 2h}\n") == ["1 limits.wall: unknown key; expected trial, epoch, retries"])
        #expect(found("budget: {}\n") == ["1 budget: needs hours, trials, epochs or target"])
        #expect(found("budget: {trials: 0}\n").first == "1 budget.trials: must be ≥ 1, got 0")
        #expect(found("budget: {hours: 0}\n").first == "1 budget.hours: must be > 0")
        #expect(found("budget: {trials: 5, on_reach: stop}\n") == ["1 budget.on_reach: must be finish or cancel"])
        #expect(
            found("budget:\n  target: {metric: valid_coverage@10, value: 0.2}\n") == [
                "2 budget.target.metric: valid_coverage@10 is not an objective of this sweep (valid_ndcg@10): a target is a value of what the sweep optimises"
            ])
        #expect(found("budget: {target: {metric: valid_ndcg@10}}\n") == ["1 budget.target.value: is required"])
        #expect(found("budget: {target: {metric: test_ndcg@10, value: 1}}\n").first?.contains("never on test") == true)
        #expect(found("max_failed_trials: 0\n") == ["1 max_failed_trials: must be ≥ 1, got 0"])
        let several = issues(
            syntheticHeader + """
                method: grid
                objectives: [{name: valid_ndcg@10}, {name: valid_coverage@10}]
                parameters:
                  lr: {values: [0.001]}
                budget: {target: 0.2}
                """)
        #expect(several.map(\.message) == ["with several objectives, say which: {metric: valid_…, value: 0.2}"])
    }

    /// A 6-trial grid with a budget, over a real store.
    func budgeted(_ budget: String, failures: String = "") throws -> TrialController {
        try grid.controller(
            try spec(
                syntheticHeader + """
                    method: grid
                    fixed: {epochs: 3}
                    parameters:
                      lr: {values: [0.001, 0.002, 0.003, 0.004, 0.005, 0.006]}
                    budget: \(budget)
                    \(failures)
                    """))
    }

    @Test func aTrialsBudgetStartsThatManyTrialsThenEndsTheSweepOnceTheyEnd() throws {
        let controller = try budgeted("{trials: 2}")
        try grid.train(controller, [0.1, 0.2, 0.3], lease: "L1")
        _ = try grid.claim(controller, lease: "L2")
        #expect(try controller.halt() == .budget(.trials, usage: "trials 2/2"))
        // A third worker asks while the second trial runs: nothing for it, and not over yet.
        #expect(try controller.ask(worker: "w", lease: "L3") == .notNow)
        #expect(try !controller.isOver())
        _ = try controller.tellFailure(lease: "L2", outcome: .failed, reason: "crashed", maxAttempts: 1)
        #expect(try controller.ask(worker: "w", lease: "L4") == .finished)
        #expect(try controller.isOver())
        #expect(try controller.store.stateCounts()[.waiting] == 4)
        let status = try SweepStatus.read(controller.store)
        #expect(
            status.text.contains("budget: trials 2/2 (reached)")
                && status.text.contains("halted: the trials budget is reached (trials 2/2)"))
        let json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(status)) as! [String: Any]
        let budget = try #require(json["budget"] as? [String: Any])
        #expect(budget["reached"] as? String == "trials" && (budget["used"] as? [String: Any])?["trials"] as? Int == 2)
        #expect(json["halted"] as? String == "the trials budget is reached (trials 2/2)" && json["max_failed_trials"] as? Int == 5)
    }

    @Test func epochsAndTargetBudgetsCountWhatWasTrainedAndFound() throws {
        let epochs = try budgeted("{epochs: 5}")
        try grid.train(epochs, [0.1, 0.2, 0.3], lease: "L1")
        #expect(try epochs.halt() == nil)
        _ = try grid.claim(epochs, lease: "L2")
        _ = try epochs.tellEpoch(lease: "L2", record: epochRecord(1, 0.1))
        #expect(try epochs.halt() == nil)
        _ = try epochs.tellEpoch(lease: "L2", record: epochRecord(2, 0.1))
        #expect(try epochs.halt() == .budget(.epochs, usage: "epochs 5/5"))

        let target = try budgeted("{target: 0.25}")
        try grid.train(target, [0.1, 0.2, 0.22], lease: "L1")
        #expect(try target.halt() == nil)
        try grid.train(target, [0.1, 0.3, 0.2], lease: "L2")
        #expect(try target.halt() == .budget(.target, usage: "target valid_ndcg@10 0.3/0.25"))
        #expect(try target.ask(worker: "w", lease: "L3") == .finished)
    }

    /// Hours are the time some attempt ran: two overlapping attempts and a gap between launches
    /// count once each, and a lost attempt ends at its last heartbeat.
    @Test func anHoursBudgetCountsTheTimeSomeAttemptRan() throws {
        let controller = try budgeted("{hours: 2}")
        func at(_ hours: Double) -> Date { t0.addingTimeInterval(hours * 3600) }
        guard case .trial = try controller.ask(worker: "w", lease: "A", now: at(0)),
            case .trial = try controller.ask(worker: "w", lease: "B", now: at(0.5))
        else { throw StoreError(message: "no trials") }
        _ = try controller.tellFailure(lease: "A", outcome: .failed, reason: "x", maxAttempts: 1, now: at(1))
        _ = try controller.tellFailure(lease: "B", outcome: .failed, reason: "x", maxAttempts: 1, now: at(1.25))
        // A day passes between launches; then an attempt whose worker is lost after a heartbeat at +0.5 h.
        guard case .trial = try controller.ask(worker: "w", lease: "C", now: at(25)) else { throw StoreError(message: "no trial") }
        try controller.tellProgress(lease: "C", epoch: 1, step: 10, now: at(25.5))
        _ = try controller.tellFailure(lease: "C", outcome: .lost, reason: "silent", maxAttempts: 1, now: at(30))
        #expect(abs(try controller.store.budgetUsage(target: nil).hours - 1.75) < 1e-9)
        #expect(try controller.halt() == nil)
        guard case .trial = try controller.ask(worker: "w", lease: "D", now: at(31)) else { throw StoreError(message: "no trial") }
        try controller.tellProgress(lease: "D", epoch: 1, step: 10, now: at(31.25))
        #expect(try controller.halt() == .budget(.hours, usage: "hours 2/2"))
    }

    @Test func enoughFailedTrialsHaltTheSweepWithTheLastReasonAndRetryGoesOn() throws {
        let controller = try budgeted("{trials: 100}", failures: "max_failed_trials: 2")
        #expect(controller.failureLimit == 2)
        for (lease, reason) in [("L1", "crashed: first"), ("L2", "crashed: the program exited 1; stderr ends:\nboom")] {
            _ = try grid.claim(controller, lease: lease)
            _ = try controller.tellFailure(lease: lease, outcome: .failed, reason: reason, maxAttempts: 1)
        }
        let halt = try controller.halt()
        #expect(halt == .failures(count: 2, limit: 2, lastReason: "crashed: the program exited 1; stderr ends:\nboom"))
        #expect(halt?.isFailure == true)
        #expect(try controller.ask(worker: "w", lease: "L3") == .finished)
        #expect(try controller.store.retry(trials: nil).count == 2)
        #expect(try controller.halt() == nil)
        if case .trial = try controller.ask(worker: "w", lease: "L4") {} else { Issue.record("no trial after the retry") }
    }

    /// Diverged trials are results of the search, not failures of the set-up.
    @Test func divergedTrialsAreNotFailures() throws {
        let controller = try budgeted("{trials: 100}", failures: "max_failed_trials: 1")
        _ = try grid.claim(controller, lease: "L1")
        _ = try controller.tellFailure(lease: "L1", outcome: .diverged, reason: "loss is NaN", maxAttempts: 1)
        #expect(try controller.halt() == nil)
    }

    @Test func aTimedOutAttemptIsRetriedThenTheTrialFails() throws {
        let controller = try budgeted("{trials: 100}")
        let first = try grid.claim(controller, lease: "L1")
        #expect(try controller.tellFailure(lease: "L1", outcome: .timedOut, reason: "timed out", maxAttempts: 2) == .waiting)
        let second = try grid.claim(controller, lease: "L2")
        #expect(second.trial == first.trial && second.attempt == 2)
        #expect(try controller.tellFailure(lease: "L2", outcome: .timedOut, reason: "timed out", maxAttempts: 2) == .failed)
        #expect(try controller.store.attempts(trial: first.trial).map(\.outcome) == [.timedOut, .timedOut])
    }

    @Test func onReachCancelCancelsTheRunningTrialsOnly() throws {
        let controller = try budgeted("{trials: 2, on_reach: cancel}")
        let running = try grid.claim(controller, lease: "L1")
        #expect(try controller.cancelPastBudget().isEmpty)
        _ = try grid.claim(controller, lease: "L2")
        let cancelled = try controller.cancelPastBudget()
        #expect(cancelled.count == 2 && cancelled.contains(running.trial))
        let attempt = try #require(try controller.store.attempts(trial: running.trial).last)
        #expect(attempt.outcome == .cancelled && attempt.reason == "cancelled: the trials budget is reached (trials 2/2)")
        #expect(try controller.store.stateCounts()[.waiting] == 4 && controller.isOver())
    }

    /// `sweep status` states the failure limit the controller applies, enqueued trials or not.
    @Test func statusStatesTheControllersFailureLimit() throws {
        let lrs = (1...30).map { "0.00\($0)" }.joined(separator: ", ")
        let parsed = try spec(syntheticHeader + "method: grid\nparameters:\n  lr: {values: [\(lrs)]}\n")
        let controller = try grid.controller(parsed)
        let space = SearchSpace(spec: parsed)
        for index in 1...10 {
            let config = try #require(space.enqueued(["lr": .double(0.5 + Double(index))]).config)
            _ = try controller.store.enqueue(config, forced: true, repeats: 1)
        }
        #expect(controller.failureLimit == 6)
        #expect(try SweepStatus.read(controller.store).failureLimit == 6)
    }
}
