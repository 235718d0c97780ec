import Foundation
import GRDB
import TestSupport
import Testing
import Vocabulary

@testable import SweepCore

/// The ask/tell controller over a real store: trial life, early-stopping decisions, restarts.
@Suite struct ControllerTests {
    /// A grid of `lrs.count` configs × `repeats`, 9 epochs each, with ASHA (min 1, η 3: rungs at 1 and 3).
    func sweep(lrs: Int = 6, repeats: Int = 1, earlyStopping: String = "{type: asha, min_epochs: 1, reduction_factor: 3}") throws
        -> SweepSpec
    {
        let values = (1...lrs).map { "0.00\($0)" }.joined(separator: ", ")
        return try spec(
            syntheticHeader + """
                method: grid
                repeats: \(repeats)
                fixed: {epochs: 9}
                early_stopping: \(earlyStopping)
                parameters:
                  lr: {values: [\(values)]}
                """)
    }

    func controller(_ spec: SweepSpec, store: SweepStore? = nil) throws -> TrialController {
        let controller = try TrialController(spec: spec, store: store ?? SweepStore.inMemory(), trainExamples: 100)
        _ = try controller.applyPlan(fingerprint: "f1", popularity: nil)
        try controller.store.recordWorker(name: "w", host: "h", cores: 2, blasThreads: 2, blasCore: "Haswell", state: .online)
        return controller
    }

    func claim(_ controller: TrialController, lease: String) throws -> Claim {
        guard case .trial(let claim) = try controller.ask(worker: "w", lease: lease) else { throw StoreError(message: "no trial to claim") }
        return claim
    }

    /// Claims the next trial and reports `values` as its valid metric, epoch by epoch, until the
    /// controller says stop; then reports a result if it never did. Returns the verdicts.
    @discardableResult
    func train(_ controller: TrialController, _ values: [Double], lease: String) throws -> [TrialController.Verdict] {
        _ = try claim(controller, lease: lease)
        var verdicts: [TrialController.Verdict] = []
        for (index, value) in values.enumerated() {
            let verdict = try controller.tellEpoch(lease: lease, record: epochRecord(index + 1, value))
            verdicts.append(verdict)
            if verdict != .continue { return verdicts }
        }
        let history = values.enumerated().map { epochRecord($0.offset + 1, $0.element) }
        let best = history.max { $0.valid.ndcg10 < $1.valid.ndcg10 }!
        _ = try controller.tellResult(
            lease: lease, worker: "w",
            report: TrialResult(
                bestEpoch: best.epoch, valid: best.valid.dictionary, test: best.test.dictionary, history: history,
                timing: TrainingTiming(examplesPerSecond: 1, secondsPerEpoch: 1, totalSeconds: 9, threads: 2, blasCore: "Haswell")))
        return verdicts
    }

    /// Six trials in plan order through ASHA's rungs at epochs 1 and 3: the first two always go on
    /// (fewer than η values), the third stops at rung 0 (0.1 is not the best of 3), and so on.
    @Test func ashaStopsTrialsAtTheirRungAndStoresThemAsPruned() throws {
        let controller = try self.controller(try sweep())
        // Valid values per epoch (best so far is what is judged).
        let curves: [[Double]] = [
            [0.30, 0.32, 0.35, 0.36, 0.36, 0.37, 0.38, 0.38, 0.39],  // 1: goes on at 1 (n=1) and 3 (n=1)
            [0.20, 0.25, 0.28, 0.30, 0.31, 0.31, 0.32, 0.32, 0.33],  // 2: goes on at 1 (n=2) and 3 (n=2)
            [0.10, 0.40, 0.40, 0.40, 0.40, 0.40, 0.40, 0.40, 0.40],  // 3: rung 0 cut 0.30 (top 1 of 3): 0.10 stops
            // 4: rung 0 top 1 of 4 is 0.35: goes on; rung 1: best so far 0.36 vs [0.35, 0.28]: 3 values, top 1 is 0.36: goes on
            [0.35, 0.36, 0.20, 0.20, 0.20, 0.20, 0.20, 0.20, 0.20],
            [0.33, 0.33, 0.33, 0.33, 0.33, 0.33, 0.33, 0.33, 0.33],  // 5: rung 0 of 5 values, top 1 = 0.35: stops
            // 6: rung 0 of 6, top 2 (0.36, 0.35): goes on; rung 1: 0.37 of [0.35, 0.28, 0.36, 0.37] top 1 = 0.37: goes on
            [0.36, 0.37, 0.34, 0.34, 0.34, 0.34, 0.34, 0.34, 0.34],
        ]
        var verdicts: [[TrialController.Verdict]] = []
        for (index, curve) in curves.enumerated() { verdicts.append(try train(controller, curve, lease: "L\(index + 1)")) }
        #expect(verdicts[2].count == 1 && verdicts[4].count == 1)
        #expect(
            verdicts[2].last == .stop(reason: "pruned at epoch 1: asha rung 0 (epoch 1, η 3): 0.1000 is below the top 1 of 3 (cut 0.3000)"))
        let trials = try controller.store.trials()
        #expect(trials.map(\.state) == [.completed, .completed, .pruned, .completed, .pruned, .completed])
        #expect(trials.map(\.stoppedAt) == [nil, nil, 1, nil, 1, nil])
        // A pruned trial keeps its best epoch so far as its result, and its attempt ends `pruned`.
        let third = trials[2]
        #expect(third.result?.bestEpoch == 1 && third.result?.valid["ndcg@10"] == 0.10 && third.result?.timing.threads == 2)
        #expect(try controller.store.attempts(trial: third.id).map(\.outcome) == [.pruned])
        #expect(try controller.store.epochs(trial: third.id, attempt: 1).count == 1)
        // The record of every judgement: trial 4 at rung 1 compared with trials 1 and 2 (3 and 5 never got there).
        let fourth = try controller.store.judgements(trial: trials[3].id)
        #expect(fourth.map(\.epoch) == [1, 3] && fourth.map(\.decision) == [.continue, .continue])
        #expect(fourth[1].values == [0.36] && fourth[1].compared == [[0.35], [0.28]])
        #expect(try controller.store.epochTotals() == EpochTotals(trained: 4 * 9 + 2, budget: 54, saved: 16))
        // Pruned is final: never retried, and the refusal says why.
        do {
            _ = try controller.store.retry(trials: [third.id])
            Issue.record("a pruned trial was retried")
        } catch let error as StoreError {
            #expect(error.message.contains("was pruned: early stopping stopped it at epoch 1 (asha rung 0"))
        }
        #expect(try controller.ask(worker: "w", lease: "L9") == .finished)
    }

    /// With repeats, seed 1 of a config is compared with the seed-1 values only: a seed-0 value,
    /// however good, neither protects nor sinks it.
    @Test func repeatsAreJudgedAgainstTheSameSeedIndex() throws {
        let controller = try self.controller(try sweep(lrs: 3, repeats: 2))
        // Seed 0 of configs 1–3, then seed 1 of configs 1–3 (plan order is seed-major).
        for (index, first) in [0.9, 0.8, 0.1, 0.2, 0.3, 0.25].enumerated() {
            try train(controller, [first] + Array(repeating: first, count: 8), lease: "L\(index)")
        }
        let trials = try controller.store.trials()
        #expect(trials.map(\.config.seed) == [0, 0, 0, 1, 1, 1])
        // Seed 0: 0.1 is not the best of [0.9, 0.8, 0.1]. Seed 1: 0.25 is not the best of [0.2, 0.3, 0.25];
        // had the seeds been mixed, 0.2 and 0.3 (the 4th and 5th values) would have been stopped.
        #expect(trials.map(\.state) == [.completed, .completed, .pruned, .completed, .completed, .pruned])
        #expect(try controller.store.judgements(trial: trials[5].id)[0].compared == [[0.2], [0.3]])
    }

    /// A restarted controller (a new process on the same file) keeps every decision, and a result
    /// whose history crossed rungs nobody judged (the coordinator was down) is judged on arrival.
    @Test func decisionsSurviveARestartAndUnjudgedRungsAreJudgedFromTheResult() throws {
        let folder = TestFolders.fresh("controller")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let path = folder.appendingPathComponent("sweep.db").path
        let spec = try sweep(lrs: 4)
        var first: TrialController? = try controller(spec, store: try SweepStore.open(path: path))
        try train(first!, [0.5] + Array(repeating: 0.7, count: 8), lease: "L1")
        try train(first!, Array(repeating: 0.4, count: 9), lease: "L2")
        // Trial 3 is claimed and reports epoch 1 only: the best of [0.5, 0.4, 0.55], it goes on …
        _ = try claim(first!, lease: "L3")
        #expect(try first!.tellEpoch(lease: "L3", record: epochRecord(1, 0.55)) == .continue)
        first = nil
        // … then the coordinator restarts, and the whole run arrives as one result.
        let second = try controller(spec, store: try SweepStore.open(path: path))
        let history = (1...9).map { epochRecord($0, 0.55) }
        let timing = TrainingTiming(examplesPerSecond: 1, secondsPerEpoch: 1, totalSeconds: 9, threads: 2, blasCore: "Haswell")
        let disposition = try second.tellResult(
            lease: "L3", worker: "w",
            report: TrialResult(
                bestEpoch: 1, valid: history[0].valid.dictionary, test: history[0].test.dictionary, history: history, timing: timing))
        // Rung 1 (epoch 3): 0.55 against [0.7, 0.4]: 3 values, the top 1 is 0.7, so it stops there,
        // as it would have live; the epoch-1 decision made before the restart stands.
        #expect(disposition == .pruned(epoch: 3))
        let trial = try second.store.trials()[2]
        #expect(trial.state == .pruned && trial.stoppedAt == 3 && trial.result?.bestEpoch == 1)
        #expect(try second.store.epochs(trial: trial.id, attempt: 1).map(\.epoch) == [1, 2, 3])
        let judgements = try second.store.judgements(trial: trial.id)
        #expect(judgements.map(\.epoch) == [1, 3] && judgements.map(\.decision) == [.continue, .stop])
        #expect(judgements[0].compared == [[0.5], [0.4]] && judgements[1].compared == [[0.7], [0.4]])
        // A resend of that result changes nothing more.
        #expect(
            try second.tellResult(
                lease: "L3", worker: "w",
                report: TrialResult(
                    bestEpoch: 1, valid: [:], test: [:], history: history, timing: timing)) == .stale)
        #expect(try second.store.findTrial(trial.id).result?.valid["ndcg@10"] == 0.55)
    }

    /// A sweep file changed while a trial runs retires it: its attempt ends at once, its worker's
    /// late epoch, result and expiring lease change nothing and throw nothing.
    @Test func retiringARunningTrialEndsItsAttemptCleanly() throws {
        let controller = try self.controller(try sweep(lrs: 3))
        let claim = try self.claim(controller, lease: "L1")
        #expect(try controller.tellEpoch(lease: "L1", record: epochRecord(1, 0.3)) == .continue)
        let edited = try self.controller(try sweep(lrs: 3).replacing("0.001", with: "0.007"), store: controller.store)
        #expect(try controller.store.findTrial(claim.trial).state == .retired)
        #expect(try controller.store.attempts(trial: claim.trial).map(\.outcome) == [.cancelled])
        #expect(try edited.tellEpoch(lease: "L1", record: epochRecord(2, 0.3)) == .stale)
        #expect(try edited.tellResult(lease: "L1", worker: "w", report: result(0.3)) == .stale)
        #expect(try edited.tellFailure(lease: "L1", outcome: .lost, reason: "silent", maxAttempts: 3) == nil)
        #expect(try controller.store.findTrial(claim.trial).state == .retired)
        // Planned again, it comes back as waiting for a new attempt.
        _ = try self.controller(try sweep(lrs: 3), store: controller.store)
        #expect(try controller.store.findTrial(claim.trial).state == .waiting)
    }

    /// A judgement keeps at most 100 of the values it was compared with, and counts them all: kept
    /// whole, a rung's audit grew with the square of the trials (300 MB of a 5,000-trial chaos
    /// run's store). The decision still compares every value.
    @Test func aJudgementKeepsAHundredComparedValuesAndCountsThemAll() throws {
        let values = (1...120).map { "0.000\($0 + 100)" }.joined(separator: ", ")
        let controller = try self.controller(
            try spec(
                syntheticHeader + """
                    method: grid
                    fixed: {epochs: 9}
                    early_stopping: {type: asha, min_epochs: 1, reduction_factor: 3}
                    parameters:
                      lr: {values: [\(values)]}
                    """))
        var last: Claim?
        for index in 0..<120 {
            let claim = try self.claim(controller, lease: "L\(index)")
            _ = try controller.tellEpoch(lease: "L\(index)", record: epochRecord(1, 0.5 - Double(index) / 1000))
            last = claim
        }
        let trial = try #require(last).trial
        let judgement = try #require(try controller.store.judgements(trial: trial).first)
        #expect(judgement.comparedCount == 119 && judgement.compared.count == Judgement.keptComparisons)
        #expect(judgement.decision == .stop, "the worst of 120 is cut, judged against all 119")
        #expect(judgement.rule.contains("top 40 of 120"), "\(judgement.rule)")
    }

    /// Leases never repeat across runs on one store: a run started in the same millisecond as the
    /// last, or on a host whose clock is behind, starts after the latest stored lease. (A
    /// relaunched coordinator once reused its predecessor's first lease when both started within
    /// one millisecond, and its first claim failed on the store's unique index.)
    @Test func leasesStartAfterTheStoresLatestAndIncrease() throws {
        let controller = try self.controller(try sweep(lrs: 4))
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        var first = try LeaseIssuer(store: controller.store, now: now)
        let a = first.next(), b = first.next()
        #expect(a < b && a.hasPrefix("L-") && a.count == b.count)
        _ = try claim(controller, lease: a)
        _ = try claim(controller, lease: b)
        _ = try claim(controller, lease: "local-ffffffff")  // an older build's form: not read
        var sameMillisecond = try LeaseIssuer(store: controller.store, now: now)
        let c = sameMillisecond.next()
        #expect(c > b)
        _ = try claim(controller, lease: c)
        var clockBehind = try LeaseIssuer(store: controller.store, now: now.addingTimeInterval(-3600))
        #expect(clockBehind.next() > c)
        #expect(try controller.store.latestLease(prefix: "L-") == c)
    }

    /// Changing early stopping between launches applies from then on; decisions already made stand.
    @Test func aChangedRuleAppliesFromThenOn() throws {
        let store = try SweepStore.inMemory()
        let asha = try controller(try sweep(lrs: 4), store: store)
        try train(asha, Array(repeating: 0.5, count: 9), lease: "L1")
        try train(asha, Array(repeating: 0.4, count: 9), lease: "L2")
        try train(asha, Array(repeating: 0.1, count: 9), lease: "L3")  // stopped at rung 0
        let median = try controller(try sweep(lrs: 4, earlyStopping: "{type: median, warmup_epochs: 0, min_trials: 2}"), store: store)
        let verdicts = try train(median, [0.45, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3], lease: "L4")
        // Epoch 1 was judged before (by ASHA, for trials 1–3) at the same checkpoint: the median of
        // [0.5, 0.4, 0.1] is 0.4, so 0.45 goes on; at epoch 2 only ASHA never recorded values.
        #expect(verdicts.first == .continue)
        #expect(try store.trials().map(\.state) == [.completed, .completed, .pruned, .completed])
        #expect(try store.judgements(trial: store.trials()[2].id).map(\.decision) == [.stop])
    }
}

extension SweepSpec {
    /// The same sweep with its text's `old` replaced (a sweep file edited between launches).
    func replacing(_ old: String, with new: String) throws -> SweepSpec {
        try spec(text.replacingOccurrences(of: old, with: new))
    }
}
