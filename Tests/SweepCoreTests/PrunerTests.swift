import Testing
import Vocabulary

@testable import SweepCore

private let ndcg = Objective(metric: "ndcg@10")

/// The pruners' decisions against rung tables worked out by hand.
@Suite struct PrunerTests {
    @Test func rungsSitAtMinEpochsTimesPowersOfTheFactorBelowTheBudget() {
        let asha = SuccessiveHalvingPruner(minEpochs: 2, reductionFactor: 3, objectives: [ndcg])
        #expect(asha.checkpoints(budget: 20, bracket: 0) == [2, 6, 18])
        #expect(asha.checkpoints(budget: 18, bracket: 0) == [2, 6])  // a rung at the budget is no rung: the trial has finished
        #expect(asha.checkpoints(budget: 2, bracket: 0) == [])
        #expect(
            SuccessiveHalvingPruner(minEpochs: 1, reductionFactor: 2, objectives: [ndcg]).checkpoints(budget: 10, bracket: 0) == [
                1, 2, 4, 8,
            ])
        #expect(MedianPruner(warmupEpochs: 3, minTrials: 5, objective: ndcg).checkpoints(budget: 8, bracket: 0) == [4, 5, 6, 7])
        #expect(MedianPruner(warmupEpochs: 7, minTrials: 5, objective: ndcg).checkpoints(budget: 8, bracket: 0) == [])
    }

    /// Seven trials reach rung 0 (η = 3) one after another; each is judged against the values the
    /// earlier ones recorded there:
    ///
    /// | trial | value | n | kept ⌊n/η⌋ | cut (kept-th best) | decision |
    /// |---|---|---|---|---|---|
    /// | 1 | 0.50 | 1 | – | – | go on (fewer than η) |
    /// | 2 | 0.40 | 2 | – | – | go on (fewer than η) |
    /// | 3 | 0.30 | 3 | 1 | 0.50 | stop |
    /// | 4 | 0.50 | 4 | 1 | 0.50 | go on (a tie with the cut) |
    /// | 5 | 0.45 | 5 | 1 | 0.50 | stop |
    /// | 6 | 0.60 | 6 | 2 | 0.50 | go on |
    /// | 7 | 0.48 | 7 | 2 | 0.50 | stop |
    @Test func successiveHalvingKeepsTheTopThirdOfWhatTheRungHasSeen() {
        let asha = SuccessiveHalvingPruner(minEpochs: 1, reductionFactor: 3, objectives: [ndcg])
        let values = [0.50, 0.40, 0.30, 0.50, 0.45, 0.60, 0.48]
        let expected: [Judgement.Decision] = [.continue, .continue, .stop, .continue, .stop, .continue, .stop]
        var recorded: [Double] = []
        for (value, decision) in zip(values, expected) {
            let (made, why) = asha.decide(epoch: 1, bracket: 0, values: [value], others: recorded.map { [$0] })
            #expect(made == decision, "\(value) after \(recorded): \(why)")
            recorded.append(value)
        }
        #expect(
            asha.decide(epoch: 3, bracket: 0, values: [0.3], others: [0.5, 0.4].map { [$0] }).1
                == "asha rung 1 (epoch 3, η 3): 0.3000 is below the top 1 of 3 (cut 0.5000)")
        #expect(
            asha.decide(epoch: 1, bracket: 0, values: [0.1], others: [0.5].map { [$0] }).1
                == "asha rung 0 (epoch 1, η 3): 0.1000 goes on: 2 values recorded, fewer than η")
    }

    /// Other trials at epoch 4: [0.25, 0.5] has median 0.375 (the mean of the middle two), [0.1, 0.2, 0.9] has 0.2.
    @Test func medianStopsBelowTheMedianOnceEnoughTrialsReported() {
        let median = MedianPruner(warmupEpochs: 3, minTrials: 2, objective: ndcg)
        #expect(median.decide(epoch: 4, bracket: 0, values: [0.3], others: [0.25, 0.5].map { [$0] }).0 == .stop)
        #expect(median.decide(epoch: 4, bracket: 0, values: [0.375], others: [0.25, 0.5].map { [$0] }).0 == .continue)  // not below
        #expect(median.decide(epoch: 4, bracket: 0, values: [0.19], others: [0.1, 0.2, 0.9].map { [$0] }).0 == .stop)
        #expect(median.decide(epoch: 4, bracket: 0, values: [0.0], others: [0.4].map { [$0] }).0 == .continue)  // fewer than min_trials
        #expect(
            median.decide(epoch: 4, bracket: 0, values: [0.3], others: [0.25, 0.5].map { [$0] }).1
                == "median (epoch 4): 0.3000 is below the median 0.3750 of 2 other trials")
    }

    /// min 1, η 3, up to 20 epochs: ⌊log₃ 20⌋ + 1 = 3 brackets, first rungs 1, 3 and 9, and Optuna's
    /// shares ⌈3·3^s/(s+1)⌉ = 9, 5 and 3 for s = 2, 1, 0.
    @Test func hyperbandBracketsAreOptunasAndFixedByTheConfig() {
        let hyperband = HyperbandPruner(minEpochs: 1, reductionFactor: 3, maxEpochs: 20, objectives: [ndcg])
        #expect(hyperband.brackets == 3 && hyperband.budgets == [9, 5, 3])
        #expect((0..<3).map { hyperband.checkpoints(budget: 20, bracket: $0) } == [[1, 3, 9], [3, 9], [9]])
        #expect(HyperbandPruner(minEpochs: 2, reductionFactor: 2, maxEpochs: 16, objectives: [ndcg]).budgets.count == 4)  // 2, 4, 8, 16
        var counts = [0, 0, 0]
        for index in 0..<3400 { counts[hyperband.bracket(ofConfig: "{\"lr\":\(index)}")] += 1 }
        // 9 : 5 : 3 of 3,400 is 1,800 : 1,000 : 600.
        #expect(abs(counts[0] - 1800) < 120 && abs(counts[1] - 1000) < 100 && abs(counts[2] - 600) < 80, "\(counts)")
        #expect(hyperband.bracket(ofConfig: "{\"lr\":7}") == hyperband.bracket(ofConfig: "{\"lr\":7}"))
        #expect(
            hyperband.decide(epoch: 9, bracket: 2, values: [0.1], others: [0.3, 0.2].map { [$0] }).1.hasPrefix(
                "hyperband bracket 2 rung 0 (epoch 9, η 3)"))
    }
}
