import Foundation
import Testing
import Vocabulary

@testable import SweepCore

/// A completed trial with the given valid metrics (and test ones 0.01 lower).
func snapshot(_ number: Int, seed: Int = 0, lr: Double = 0.001, metrics: [String: Double], state: TrialState = .completed)
    -> TrialSnapshot
{
    var config = TrialConfig()
    config.seed = seed
    config.lr = lr
    let result = ResultSnapshot(
        attempt: 1, worker: "w\(number)", finishedAt: Date(timeIntervalSince1970: Double(number)), bestEpoch: 2,
        valid: metrics, test: metrics.mapValues { $0 - 0.01 },
        timing: TrainingTiming(examplesPerSecond: 100, secondsPerEpoch: 25, totalSeconds: 75, threads: 1, blasCore: "Haswell"))
    return TrialSnapshot(
        id: String(format: "%016x", number), number: number, config: config, variant: nil, state: state, attempts: 1, result: result)
}

private let ndcg = Objective(metric: "ndcg@10"), coverage = Objective(metric: "coverage@10")
private let popularity = Objective(metric: "pop_overlap@10", goal: .minimize)

/// Pareto arithmetic against tables worked out by hand, and hypervolume against brute force.
@Suite struct ParetoTests {
    /// | point | scores | dominated by | front |
    /// |---|---|---|---|
    /// | A | (1, 5) | – | 1 |
    /// | B | (2, 4) | – (H is equal, not better) | 1 |
    /// | C | (3, 3) | – | 1 |
    /// | D | (2, 2) | B, C, F, H | 2 |
    /// | E | (1, 1) | D (front 2) and the rest | 3 |
    /// | F | (3, 3) | – (a duplicate of C) | 1 |
    /// | G | (0, 5) | A | 2 |
    /// | H | (2, 4) | – (a duplicate of B) | 1 |
    @Test func nonDominatedSortingWithTiesAndDuplicates() {
        let points: [[Double]] = [[1, 5], [2, 4], [3, 3], [2, 2], [1, 1], [3, 3], [0, 5], [2, 4]]
        #expect(Pareto.fronts(points) == [1, 1, 1, 2, 3, 1, 2, 1])
        #expect(Pareto.dominates([2, 4], [2, 2]) && !Pareto.dominates([2, 4], [2, 4]) && !Pareto.dominates([1, 5], [2, 4]))
        // Deb's definition, checked directly on random points with many ties (two objectives take
        // their own bisection, three the general sort): a point's front is one more than the
        // highest front among the points dominating it.
        var rng = Xoshiro256(seed: 3)
        for round in 0..<100 {
            let random = (0..<30).map { _ in (0..<(2 + round % 2)).map { _ in Double(rng.next() % 5) } }
            let fronts = Pareto.fronts(random)
            for (index, point) in random.enumerated() {
                let dominators = random.indices.filter { Pareto.dominates(random[$0], point) }
                #expect(fronts[index] == 1 + (dominators.map { fronts[$0] }.max() ?? 0))
            }
        }
    }

    /// Front 1 of the table above, as passed: A (1, 5), B (2, 4), C (3, 3), F (3, 3), H (2, 4).
    /// By the first objective (ties by position): A, B, H, C, F, range 2: A and F are extremes;
    /// B gets (2 − 1)/2, H (3 − 2)/2, C (3 − 2)/2. By the second: C, F, B, H, A: C and A are
    /// extremes; F gets (4 − 3)/2, B (4 − 3)/2, H (5 − 4)/2. So A, C, F ∞ and B, H 1.
    @Test func crowdingDistanceAndTheOrderItBreaksTiesBy() {
        #expect(Pareto.crowding([[1, 5], [2, 4], [3, 3], [3, 3], [2, 4]]) == [.infinity, 1, .infinity, .infinity, 1])
        #expect(Pareto.crowding([[1, 1], [2, 2]]) == [.infinity, .infinity])
        let points: [[Double]] = [[1, 5], [2, 4], [3, 3], [2, 2], [1, 1], [3, 3], [0, 5], [2, 4]]
        // Front 1 lonely first (A, C, F), then B and H; front 2 (D, G: two points, both ∞); E.
        #expect(Pareto.rank(points).order == [0, 2, 5, 1, 7, 3, 6, 4])
    }

    /// (1, 5), (2, 4), (3, 3) above (0, 0): strips of heights 5, 4, 3 one wide: 12. In 3-D the
    /// unit cube plus three unit bumps (2, 1, 1), (1, 2, 1), (1, 1, 2): 2 + 2 + 2 − 1 − 1 − 1 + 1 = 4.
    @Test func hypervolumeByHandInTwoAndThreeDimensions() {
        #expect(Pareto.hypervolume([[1, 5], [2, 4], [3, 3]], reference: [0, 0]) == 12)
        // Dominated and repeated points add nothing.
        #expect(Pareto.hypervolume([[1, 5], [2, 4], [3, 3], [1, 1], [3, 3]], reference: [0, 0]) == 12)
        #expect(Pareto.hypervolume([[1, 5], [2, 4]], reference: [1.5, 0]) == 2)  // (1, 5) is not beyond the reference
        #expect(Pareto.hypervolume([[2, 1, 1], [1, 2, 1], [1, 1, 2]], reference: [0, 0, 0]) == 4)
        #expect(Pareto.hypervolume([[1, 1, 1]], reference: [0, 0, 0]) == 1)
        #expect(Pareto.hypervolume([], reference: [0, 0]) == 0)
    }

    /// The exact volume by brute force: every cell of the grid the points' coordinates make,
    /// counted when some point reaches its far corner.
    @Test(arguments: [2, 3, 4]) func hypervolumeEqualsBruteForceOnRandomPoints(dimensions: Int) {
        var rng = Xoshiro256(seed: UInt64(dimensions))
        for _ in 0..<20 {
            let points = (0..<8).map { _ in (0..<dimensions).map { _ in Double(rng.next() % 1000) / 1000 } }
            let reference = [Double](repeating: 0.1, count: dimensions)
            let edges = (0..<dimensions).map { d in Array(Set([reference[d]] + points.map { max($0[d], reference[d]) })).sorted() }
            var brute = 0.0
            func walk(_ d: Int, _ corner: [Double], _ volume: Double) {
                guard d < dimensions else {
                    if points.contains(where: { point in zip(point, corner).allSatisfy { $0 >= $1 } }) { brute += volume }
                    return
                }
                for cell in 0..<(edges[d].count - 1) {
                    walk(d + 1, corner + [edges[d][cell + 1]], volume * (edges[d][cell + 1] - edges[d][cell]))
                }
            }
            walk(0, [], 1)
            #expect(abs(Pareto.hypervolume(points, reference: reference) - brute) < 1e-12, "\(points)")
        }
    }

    /// Above (0, 0): alone, (1, 5) adds 5, (2, 4) 8, (3, 3) 9, (5, 1) 5: (3, 3) first. Beside it each
    /// other adds 2 (11 in all): the tie goes to the earliest, (1, 5).
    @Test func greedyHypervolumeSubsetTakesTheLargestGainFirst() {
        let points: [[Double]] = [[1, 5], [2, 4], [3, 3], [5, 1]]
        #expect(Pareto.greatestHypervolumeSubset(points, count: 2, reference: [0, 0]) == [2, 0])
        #expect(Pareto.greatestHypervolumeSubset(points, count: 9, reference: [0, 0]).count == 4)
        // The lazy greedy makes the plain greedy's choices: every point tried every round.
        var rng = Xoshiro256(seed: 17)
        for dimensions in [2, 3] {
            for _ in 0..<20 {
                let front = (0..<12).map { _ in (0..<dimensions).map { _ in Double(rng.next() % 1000) / 1000 } }
                let reference = [Double](repeating: -0.1, count: dimensions)
                var plain: [Int] = []
                while plain.count < 5 {
                    let gains = front.indices.map { index in
                        plain.contains(index) ? -1 : Pareto.hypervolume((plain + [index]).map { front[$0] }, reference: reference)
                    }
                    plain.append(gains.indices.max { (gains[$0], -$0) < (gains[$1], -$1) }!)
                }
                #expect(Pareto.greatestHypervolumeSubset(front, count: 5, reference: reference) == plain, "\(front)")
            }
        }
    }
}

/// The leaderboard, pruners and samplers with objectives other than one maximized metric.
@Suite struct ObjectivesTests {
    /// Lower pop_overlap@10 is better: trial 2 (0.1) first, then 3 (0.3), 1 (0.5); the trial with
    /// the metric missing is not ranked.
    @Test func minimizingRanksLowestFirst() throws {
        let ranking = Ranking(objectives: [popularity])
        let trials = [
            snapshot(1, metrics: ["pop_overlap@10": 0.5]), snapshot(2, metrics: ["pop_overlap@10": 0.1]),
            snapshot(3, metrics: ["pop_overlap@10": 0.3]), snapshot(4, metrics: ["ndcg@10": 0.3]),
        ]
        #expect(Leaderboard.rank(trials, ranking: ranking).map(\.trial.number) == [2, 3, 1])
        #expect(try Export.best(trials, ranking: ranking)?.number == 2)
        #expect(EpochRecord.bestEpoch(in: [record(1, ["pop_overlap@10": 0.4]), record(2, ["pop_overlap@10": 0.2])], by: popularity) == 2)
        #expect(EpochRecord.bestEpoch(in: [record(1, ["ndcg@10": 0.4]), record(2, ["ndcg@10": 0.2])], by: ndcg) == 1)
        // Configs over seeds: the paired difference is taken so that positive means "the best is better".
        let seeded = [
            snapshot(1, seed: 0, lr: 0.1, metrics: ["pop_overlap@10": 0.50]),
            snapshot(2, seed: 0, lr: 0.2, metrics: ["pop_overlap@10": 0.10]),
            snapshot(3, seed: 1, lr: 0.1, metrics: ["pop_overlap@10": 0.52]),
            snapshot(4, seed: 1, lr: 0.2, metrics: ["pop_overlap@10": 0.12]),
            snapshot(5, seed: 2, lr: 0.1, metrics: ["pop_overlap@10": 0.51]),
            snapshot(6, seed: 2, lr: 0.2, metrics: ["pop_overlap@10": 0.10]),
        ]
        let configs = Leaderboard.rankConfigs(seeded, ranking: ranking)
        #expect(configs.map(\.trials[0].config.lr) == [0.2, 0.1])
        #expect(configs[1].tiesBest == false && configs[1].pValueVersusBest! < 0.01)
    }

    /// Maximize ndcg@10 and coverage@10:
    ///
    /// | trial | ndcg | coverage | front | crowding in front 1 |
    /// |---|---|---|---|---|
    /// | 1 | 0.30 | 0.10 | 1 | ∞ (best ndcg) |
    /// | 2 | 0.20 | 0.20 | 1 | 2 (0.2/0.2 + 0.2/0.2) |
    /// | 3 | 0.10 | 0.30 | 1 | ∞ (best coverage) |
    /// | 4 | 0.15 | 0.15 | 2 | – (dominated by 2) |
    /// | 5 | 0.25 | 0.05 | 2 | – (dominated by 1) |
    ///
    /// Board: 1, 3 (∞, by number), 2, then front 2 (two points: both ∞): 4, 5.
    @Test func severalObjectivesRankByFrontThenCrowding() throws {
        let ranking = Ranking(objectives: [ndcg, coverage])
        let trials = [
            snapshot(1, metrics: ["ndcg@10": 0.30, "coverage@10": 0.10]), snapshot(2, metrics: ["ndcg@10": 0.20, "coverage@10": 0.20]),
            snapshot(3, metrics: ["ndcg@10": 0.10, "coverage@10": 0.30]), snapshot(4, metrics: ["ndcg@10": 0.15, "coverage@10": 0.15]),
            snapshot(5, metrics: ["ndcg@10": 0.25, "coverage@10": 0.05]),
        ]
        let ranked = Leaderboard.rank(trials, ranking: ranking)
        #expect(ranked.map(\.trial.number) == [1, 3, 2, 4, 5])
        #expect(ranked.map(\.standing.front) == [1, 1, 1, 2, 2])
        // Hypervolume above (0, 0): strips 0.1·0.3 + 0.1·0.2 + 0.1·0.1 = 0.06.
        #expect(abs(Leaderboard.hypervolume(trials, ranking: ranking) - 0.06) < 1e-12)
        #expect(
            Leaderboard.hypervolumeHistory(trials, ranking: ranking).map { ($0.hypervolume * 1e4).rounded() } == [300, 500, 600, 600, 600])
        #expect(Export.front(trials, ranking: ranking).map(\.number) == [1, 3, 2])
        #expect(throws: StoreError.self) { try Export.best(trials, ranking: ranking) }
        let report = LeaderboardReport(trials: trials, ranking: ranking, popularity: nil)
        let table = try report.table(byConfig: false, columns: ["#", "front"])
        // The objectives line, the constant keys, the header, then the rows.
        #expect(
            table.split(separator: "\n").dropFirst(3).map { $0.split(separator: " ").map(String.init) } == [
                ["1", "1"], ["3", "1"], ["2", "1"], ["4", "2"], ["5", "2"],
            ])
        #expect(table.hasPrefix("objectives: valid_ndcg@10 (maximize), valid_coverage@10 (maximize); hypervolume of the front: 0.06"))
        let document = try #require(try JSONSerialization.jsonObject(with: Data(report.json(byConfig: false).utf8)) as? [String: Any])
        #expect((document["hypervolume"] as? Double).map { abs($0 - 0.06) < 1e-12 } == true)
        #expect((document["rows"] as? [[String: Any]])?.map { $0["front"] as? Int } == [1, 1, 1, 2, 2])
        #expect(report.csv(byConfig: false).split(separator: "\n")[0].contains("front"))
    }

    /// coverage@10 ≥ 0.15: trials 1 (0.10, short by 0.05) and 5 (0.05, short by 0.10) are
    /// infeasible: after every feasible one, the smaller violation first; the front is the feasible
    /// trials' (2 and 3; 4 is dominated by 2).
    @Test func infeasibleTrialsFollowTheFeasibleByViolation() throws {
        let constraint = OutcomeConstraint(metric: "coverage@10", min: 0.15)
        #expect(constraint.violation(0.10) == 0.15 - 0.10 && constraint.violation(0.2) == 0 && constraint.violation(nil) == .infinity)
        #expect(OutcomeConstraint(metric: "x", min: 0.1, max: 0.2).violation(0.5) == 0.5 - 0.2)
        let trials = [
            snapshot(1, metrics: ["ndcg@10": 0.30, "coverage@10": 0.10]), snapshot(2, metrics: ["ndcg@10": 0.20, "coverage@10": 0.20]),
            snapshot(3, metrics: ["ndcg@10": 0.10, "coverage@10": 0.30]), snapshot(4, metrics: ["ndcg@10": 0.15, "coverage@10": 0.15]),
            snapshot(5, metrics: ["ndcg@10": 0.25, "coverage@10": 0.05]),
        ]
        let single = Ranking(objectives: [ndcg], constraints: [constraint])
        let ranked = Leaderboard.rank(trials, ranking: single)
        #expect(ranked.map(\.trial.number) == [2, 4, 3, 1, 5])
        #expect(ranked.map(\.standing.isFeasible) == [true, true, true, false, false])
        let multi = Ranking(objectives: [ndcg, coverage], constraints: [constraint])
        #expect(Leaderboard.rank(trials, ranking: multi).map(\.trial.number) == [2, 3, 4, 1, 5])
        #expect(Export.front(trials, ranking: multi).map(\.number) == [2, 3])
        let table = try LeaderboardReport(trials: trials, ranking: single, popularity: nil).table(
            byConfig: false, columns: ["#", "violation"])
        let cells = table.split(separator: "\n").dropFirst(3).map { $0.split(separator: " ").joined(separator: " ") }
        #expect(cells == ["2 ok", "4 ok", "3 ok", "1 infeasible 0.0500", "5 infeasible 0.1000"])
    }

    /// Three seeds each (maximize both):
    ///
    /// | config | seed 0 | seed 1 | seed 2 |
    /// |---|---|---|---|
    /// | A | (0.30, 0.20) | (0.31, 0.21) | (0.32, 0.20) |
    /// | B | (0.20, 0.10) | (0.21, 0.12) | (0.19, 0.11) |  A − B: (0.10, 0.10), (0.10, 0.09), (0.13, 0.09): p < 0.01 → dominated
    /// | C | (0.35, 0.05) | (0.20, 0.30) | (0.36, 0.30) |  means (0.3033, 0.2167) against A's (0.31, 0.2033): on
    /// the front; A − C on coverage 0.15, −0.09, −0.10 has a negative mean → A does not dominate it
    @Test func configsDominatedWithConfidenceAreNotMarked() {
        let ranking = Ranking(objectives: [ndcg, coverage])
        func trial(_ number: Int, _ lr: Double, _ seed: Int, _ values: (Double, Double)) -> TrialSnapshot {
            snapshot(number, seed: seed, lr: lr, metrics: ["ndcg@10": values.0, "coverage@10": values.1])
        }
        let trials = [
            trial(1, 0.1, 0, (0.30, 0.20)), trial(2, 0.2, 0, (0.20, 0.10)), trial(3, 0.3, 0, (0.35, 0.05)),
            trial(4, 0.1, 1, (0.31, 0.21)), trial(5, 0.2, 1, (0.21, 0.12)), trial(6, 0.3, 1, (0.20, 0.30)),
            trial(7, 0.1, 2, (0.32, 0.20)), trial(8, 0.2, 2, (0.19, 0.11)), trial(9, 0.3, 2, (0.36, 0.30)),
        ]
        let configs = Leaderboard.rankConfigs(trials, ranking: ranking)
        let byLR = Dictionary(uniqueKeysWithValues: configs.map { ($0.trials[0].config.lr, $0) })
        #expect(byLR[0.1]?.confidentlyNonDominated == true && byLR[0.3]?.confidentlyNonDominated == true)
        #expect(byLR[0.2]?.confidentlyNonDominated == false && byLR[0.2]?.standing.front == 2)
        #expect(Leaderboard.dominatesWithConfidence(byLR[0.1]!.trials, byLR[0.2]!.trials, objectives: [ndcg, coverage]))
        #expect(!Leaderboard.dominatesWithConfidence(byLR[0.1]!.trials, byLR[0.3]!.trials, objectives: [ndcg, coverage]))
        // Mean ± CI for each objective: A's coverage 0.2033 ± t(2)·0.00577/√3.
        #expect(abs(byLR[0.1]!.ci95s[1]! - 4.3027 * 0.0057735 / 3.0.squareRoot()) < 1e-4)
        let text = LeaderboardReport(trials: trials, ranking: ranking, popularity: nil)
        #expect(text.json(byConfig: true).contains("\"confidently_non_dominated\": false"))
    }

    /// η = 2 on both objectives maximized. Rung values (ndcg, coverage) recorded before: (0.5, 0.1),
    /// (0.1, 0.5), (0.3, 0.3).
    ///
    /// | arriving | front | rank of 4 (kept ⌊4/2⌋ = 2) | decision |
    /// |---|---|---|---|
    /// | (0.2, 0.2) | 2 (dominated by (0.3, 0.3)) | 4 | stop |
    /// | (0.4, 0.4) | 1 with the two extremes, crowding 2 against ∞ | 3 | stop |
    /// | (0.6, 0.6) | 1 alone | 1 | go on |
    @Test func moashaKeepsTheTopByNonDominatedSorting() {
        let asha = SuccessiveHalvingPruner(minEpochs: 1, reductionFactor: 2, objectives: [ndcg, coverage])
        let others: [[Double]] = [[0.5, 0.1], [0.1, 0.5], [0.3, 0.3]]
        #expect(asha.decide(epoch: 1, bracket: 0, values: [0.2, 0.2], others: others).0 == .stop)
        let (decision, rule) = asha.decide(epoch: 1, bracket: 0, values: [0.4, 0.4], others: others)
        #expect(
            decision == .stop
                && rule
                    == "asha rung 0 (epoch 1, η 2): (0.4000, 0.4000) is below the top 2 of 4 by non-dominated sorting (front 1, place 3 of 4)"
        )
        #expect(asha.decide(epoch: 1, bracket: 0, values: [0.6, 0.6], others: others).0 == .continue)
        // Minimizing the second: (0.3, 0.4) beats (0.3, 0.5), (0.3, 0.6) does not.
        let mixed = SuccessiveHalvingPruner(minEpochs: 1, reductionFactor: 2, objectives: [ndcg, popularity])
        #expect(mixed.decide(epoch: 1, bracket: 0, values: [0.3, 0.4], others: [[0.3, 0.5]]).0 == .continue)
        #expect(mixed.decide(epoch: 1, bracket: 0, values: [0.3, 0.6], others: [[0.3, 0.5]]).0 == .stop)
        // One objective minimized: the cut is the kept-th lowest.
        let lowest = SuccessiveHalvingPruner(minEpochs: 1, reductionFactor: 3, objectives: [popularity])
        #expect(lowest.decide(epoch: 1, bracket: 0, values: [0.2], others: [[0.5], [0.3]]).0 == .continue)
        #expect(
            lowest.decide(epoch: 1, bracket: 0, values: [0.4], others: [[0.5], [0.3]]).1.hasSuffix("is below the top 1 of 3 (cut 0.3000)"))
        let median = MedianPruner(warmupEpochs: 0, minTrials: 1, objective: popularity)
        #expect(
            median.decide(epoch: 1, bracket: 0, values: [0.6], others: [[0.4], [0.5]]).1
                == "median (epoch 1): 0.6000 is above the median 0.4500 of 2 other trials")
        #expect(median.decide(epoch: 1, bracket: 0, values: [0.4], others: [[0.4], [0.5]]).0 == .continue)
    }

    /// TPE's split: feasible completed configs first (by front, the front that does not fit by
    /// hypervolume gain), then pruned ones, then infeasible ones by violation.
    @Test func tpeSplitsFeasibleFrontsFirstThenPrunedThenInfeasible() throws {
        func observation(_ order: Int, _ outcome: Observation.Outcome, violation: Double = 0) -> Observation {
            Observation(order: order, config: TrialConfig(), outcome: outcome, violation: violation)
        }
        let observations = [
            observation(1, .completed([0.1, 0.9])), observation(2, .completed([0.5, 0.5])), observation(3, .completed([0.9, 0.1])),
            observation(4, .completed([0.4, 0.4])), observation(5, .completed([1, 1]), violation: 0.2),
            observation(6, .pruned(epoch: 3, scores: [1, 1])), observation(7, .running),
            observation(8, .completed([0.95, 0.95]), violation: 0.1),
        ]
        let indices = Array(observations.indices)
        #expect(TPESampler.leading(indices.prefix(4).map { _ in [0.0] }, count: 2) == [0, 1])
        let sampler = TPESampler(
            space: SearchSpace(
                spec: try spec(
                    syntheticHeader + "method: tpe\ncount: 20\nparameters:\n  lr: {distribution: log_uniform, min: 0.0001, max: 0.1}\n")
            ))
        // Front 1 is {1, 2, 3}; two fit: the greatest hypervolume pair from the nadir.
        #expect(Set(sampler.best(observations, count: 3)) == [0, 1, 2])
        #expect(sampler.best(observations, count: 2).count == 2 && sampler.best(observations, count: 2).allSatisfy { $0 < 3 })
        #expect(sampler.best(observations, count: 5) == sampler.best(observations, count: 4) + [5])
        #expect(Array(sampler.best(observations, count: 7).suffix(2)) == [7, 4])
    }
}

private func record(_ epoch: Int, _ valid: [String: Double]) -> EpochRecord {
    EpochRecord(
        epoch: epoch, lossMain: 0.1, lossAux: nil, weights: .singleTask, valid: RankingMetrics(values: valid),
        test: RankingMetrics(values: valid), seconds: 1, trainSeconds: 1)
}

/// NSGA-II: its settings, its parents, its children.
@Suite struct NSGA2Tests {
    static let text =
        "name: t\ndataset: none\nprogram: {dir: /nonexistent, command: [python3, f.py]}\n"
        + "objectives:\n  - {name: valid_f1, goal: minimize}\n  - {name: valid_f2, goal: minimize}\n"
        + "method: nsga2\ncount: 40\nnsga2: {population: 8, crossover: sbx, mutation_prob: 0.2}\n"
        + "parameters:\n  x: {distribution: uniform, min: 0, max: 1}\n  y: {distribution: log_uniform, min: 0.001, max: 1}\n"
        + "  kind: {values: [a, b, c]}\n  z: {distribution: int_uniform, min: 1, max: 9, when: {kind: c}}\n"

    @Test func settingsAreParsedAndCheckedWithTheirLines() throws {
        let spec = try SweepSpec.parseStored(Self.text)
        #expect(
            spec.method == .nsga2 && spec.nsga2?.population == 8 && spec.nsga2?.crossover == .sbx && spec.nsga2?.mutationProbability == 0.2)
        #expect(try SearchSpace(spec: spec).plan().count == 8)  // the first generation
        func found(_ nsga2: String) -> [String] {
            do {
                _ = try SweepSpec.parseStored(
                    Self.text.replacingOccurrences(of: "nsga2: {population: 8, crossover: sbx, mutation_prob: 0.2}", with: nsga2))
                return []
            } catch let error as SweepFileError {
                return error.issues.map { "\($0.line.map(String.init) ?? "-") \($0.path): \($0.message)" }
            } catch {
                return ["\(error)"]
            }
        }
        #expect(
            found("nsga2: {population: 1, crossover: blend, crossover_prob: 2}") == [
                "9 nsga2.population: must be ≥ 2, got 1", "9 nsga2.crossover: must be uniform or sbx",
                "9 nsga2.crossover_prob: must be in [0, 1], got 2.0",
            ])
        // nsga2: is for method nsga2 only.
        #expect((try? SweepSpec.parseStored(Self.text.replacingOccurrences(of: "method: nsga2", with: "method: tpe"))) == nil)
    }

    /// Parents: feasible completed configs by front and crowding, then infeasible ones by violation;
    /// pruned and running ones are no parents.
    @Test func parentsAreTheEliteAndChildrenStayInTheSpace() throws {
        let spec = try SweepSpec.parseStored(Self.text)
        let sampler = NSGA2Sampler(space: SearchSpace(spec: spec))
        func config(_ x: Double) -> TrialConfig {
            TrialConfig(programKeys: ["x": .double(x), "y": .double(0.1), "kind": .string("a")], seed: 0, selectMetric: "f1")
        }
        let observations = [
            Observation(order: 1, config: config(0.1), outcome: .completed([-0.5, -0.5])),
            Observation(order: 2, config: config(0.2), outcome: .completed([-0.2, -0.9]), violation: 0.3),
            Observation(order: 3, config: config(0.3), outcome: .completed([-0.9, -0.9])),
            Observation(order: 4, config: config(0.4), outcome: .completed([-0.1, -0.95])),
            Observation(order: 5, config: config(0.5), outcome: .pruned(epoch: 1, scores: [0, 0])),
            Observation(order: 6, config: config(0.6), outcome: .running),
            Observation(order: 7, config: config(0.7), outcome: .completed([-0.3, -0.3]), violation: 0.1),
        ]
        #expect(
            sampler.parents(observations).map { $0.config.value("x") } == [
                .double(0.1), .double(0.4), .double(0.3), .double(0.7), .double(0.2),
            ])
        #expect(NSGA2Sampler.beats(([0, 0], 0), ([-1, -1], 0)) && NSGA2Sampler.beats(([-9, -9], 0), ([0, 0], 0.1)))
        #expect(NSGA2Sampler.beats(([-9, -9], 0.1), ([0, 0], 0.2)) && !NSGA2Sampler.beats(([0, -1], 0), ([-1, 0], 0)))
        // Generation 1 (index 8 of population 8) breeds from these; every child is a valid config of the space.
        var seen = Set<String>()
        for index in 8..<40 {
            let proposal = try #require(
                sampler.propose(index: index, observations: observations, isTaken: { seen.contains($0.jsonText()) }))
            #expect(proposal.origin.sampler == .nsga2)
            seen.insert(proposal.config.jsonText())
            let keys = try #require(proposal.config.programKeys)
            let x = try #require(keys["x"]?.number), y = try #require(keys["y"]?.number)
            #expect(x >= 0 && x <= 1 && y >= 0.001 && y <= 1)
            #expect((keys["kind"] == .string("c")) == (keys["z"] != nil))
        }
        // Before any result, generation 1 is drawn at random; the same index gives the same config.
        #expect(sampler.propose(index: 8, observations: [], isTaken: { _ in false })?.origin.sampler == .random)
        #expect(
            sampler.propose(index: 9, observations: observations, isTaken: { _ in false })
                == sampler.propose(index: 9, observations: observations, isTaken: { _ in false }))
    }
}
