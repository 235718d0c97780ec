import Foundation
import Vocabulary

/// One completed trial, ranked.
public struct RankedTrial: Sendable {
    public var rank: Int
    public var trial: TrialSnapshot
    public var result: ResultSnapshot
    /// The primary objective's value on valid.
    public var value: Double
    /// Where it stands: its front and its constraint violation.
    public var standing: Standing
}

/// Where a ranked trial or config stands beside the others.
public struct Standing: Sendable, Equatable {
    /// Its non-dominated front among the feasible (1: the Pareto front); nil with one objective,
    /// and for an infeasible one.
    public var front: Int?
    /// The total violation of the sweep's constraints (0: feasible).
    public var violation: Double

    public var isFeasible: Bool { violation == 0 }

    public init(front: Int?, violation: Double) {
        self.front = front
        self.violation = violation
    }
}

/// One config (all its repeat seeds), ranked by the means of the objectives on valid.
public struct RankedConfig: Sendable {
    public var rank: Int
    /// The config without its seed: the key repeats share.
    public var key: String
    public var trials: [TrialSnapshot]
    public var n: Int { trials.count }
    /// Means of every metric over the config's completed trials, valid and test.
    public var validMean: [String: Double]
    public var testMean: [String: Double]
    /// Half-width of the 95% confidence interval (t distribution) of each objective's valid mean,
    /// in the sweep's order of objectives; nil for n < 2.
    public var ci95s: [Double?]
    /// The primary objective's: the board's `±`.
    public var ci95: Double? { ci95s[0] }
    /// The front of its means and the violation of the constraints by its means.
    public var standing: Standing
    /// The paired test against the best config over the seeds both have: two-sided p, or nil when
    /// it cannot be computed (this is the best config, fewer than 2 shared seeds, or several
    /// objectives).
    public var pValueVersusBest: Double?
    /// Not distinguishable from the best at the 5% level: true for the best itself and for a
    /// config whose paired test says p ≥ 0.05, false for p < 0.05, and nil when no test can be
    /// made (fewer than 2 seeds shared with the best): then nothing can be said either way.
    /// With several objectives: nil.
    public var tiesBest: Bool?
    /// With several objectives, whether no other feasible config dominates it with confidence
    /// (``Leaderboard/dominatesWithConfidence(_:_:objectives:)``): true, false, or nil when it has
    /// fewer than 2 seeds (nothing can be said). Infeasible configs: false. One objective: nil.
    public var confidentlyNonDominated: Bool?
}

/// Ranks completed trials: a pure function over immutable snapshots, by the sweep's ``Ranking``.
/// Feasible trials come first: with one objective by its value (better first), with several by
/// non-dominated front, then by crowding distance within the front (larger first: NSGA-II's
/// order); then infeasible ones by their total violation (smaller first). Ties go to the lower
/// trial number.
public enum Leaderboard {
    /// Completed trials (with every objective in their result) ranked.
    /// With `top`, only the first `top` are made (the order is found over all of them; a
    /// negative `top` makes none).
    public static func rank(_ trials: [TrialSnapshot], ranking: Ranking, top: Int? = nil) -> [RankedTrial] {
        // Positions with what they are sorted by, so the large snapshots are copied once; with one
        // objective a score each, not an array (a dashboard ranks 10,000 trials per refresh).
        var single: [(score: Double, index: Int)] = [], several: [(scores: [Double], index: Int)] = []
        var infeasible: [(violation: Double, index: Int)] = []
        let primary = ranking.primary
        for index in trials.indices where trials[index].state == .completed {
            guard let valid = trials[index].result?.valid else { continue }
            if !ranking.constraints.isEmpty {
                let violation = ranking.violation(valid)
                if violation > 0 {
                    if ranking.scores(valid) != nil { infeasible.append((violation, index)) }
                    continue
                }
            }
            if ranking.isMultiObjective {
                if let scores = ranking.scores(valid) { several.append((scores, index)) }
            } else if let value = valid[primary.metric], value.isFinite {
                single.append((primary.score(value), index))
            }
        }
        var order: [(index: Int, standing: Standing)]
        if ranking.isMultiObjective {
            let (fronts, positions) = Pareto.rank(several.map(\.scores))
            order = positions.map { (several[$0].index, Standing(front: fronts[$0], violation: 0)) }
        } else {
            order = single.sorted { $0.score > $1.score || ($0.score == $1.score && $0.index < $1.index) }
                .map { ($0.index, Standing(front: nil, violation: 0)) }
        }
        order += infeasible.sorted { ($0.violation, $0.index) < ($1.violation, $1.index) }
            .map { ($0.index, Standing(front: nil, violation: $0.violation)) }
        return order.prefix(max(top ?? order.count, 0)).enumerated().map { position, entry in
            let trial = trials[entry.index]
            return RankedTrial(
                rank: position + 1, trial: trial, result: trial.result!, value: trial.result!.valid[primary.metric]!,
                standing: entry.standing)
        }
    }

    /// The config a trial repeats: its canonical config without the seed.
    public static func configKey(_ config: TrialConfig) -> String {
        var unseeded = config
        unseeded.seed = 0
        return unseeded.jsonText()
    }

    /// Configs ranked by the means of their objectives over seeds, as ``rank(_:ranking:top:)``
    /// ranks trials, with each objective's 95% CI; with one objective, a paired test against the
    /// best; with several, the mark of configs no other dominates with confidence.
    public static func rankConfigs(_ trials: [TrialSnapshot], ranking: Ranking) -> [RankedConfig] {
        var groups: [String: [TrialSnapshot]] = [:], order: [String] = []
        for entry in rank(trials, ranking: ranking) {
            let key = entry.trial.repeatKey
            if groups[key] == nil { order.append(key) }
            groups[key, default: []].append(entry.trial)
        }
        func mean(_ values: [Double]) -> Double { values.reduce(0, +) / Double(max(values.count, 1)) }
        var configs = order.map { key -> RankedConfig in
            let members = groups[key]!.sorted { $0.config.seed < $1.config.seed }
            let results = members.compactMap(\.result)
            var validMean: [String: Double] = [:], testMean: [String: Double] = [:]
            // Every metric the results hold: the six of ml.md, or a program's own.
            for name in Set(results.flatMap { $0.valid.keys }) { validMean[name] = mean(results.compactMap { $0.valid[name] }) }
            for name in Set(results.flatMap { $0.test.keys }) { testMean[name] = mean(results.compactMap { $0.test[name] }) }
            let ci95s = ranking.objectives.map { objective -> Double? in
                let values = results.compactMap { $0.valid[objective.metric] }
                return values.count >= 2
                    ? Statistics.tQuantile975(degrees: values.count - 1) * Statistics.standardDeviation(values)
                        / Double(values.count).squareRoot() : nil
            }
            return RankedConfig(
                rank: 0, key: key, trials: members, validMean: validMean, testMean: testMean, ci95s: ci95s,
                standing: Standing(front: nil, violation: ranking.constraints.isEmpty ? 0 : ranking.violation(validMean)),
                pValueVersusBest: nil, tiesBest: nil, confidentlyNonDominated: nil)
        }
        let feasible = configs.filter(\.standing.isFeasible)
        let infeasible = configs.filter { !$0.standing.isFeasible }.sorted {
            ($0.standing.violation, $0.trials[0].number) < ($1.standing.violation, $1.trials[0].number)
        }
        if ranking.isMultiObjective {
            let byNumber = feasible.sorted { $0.trials[0].number < $1.trials[0].number }
            let (fronts, positions) = Pareto.rank(byNumber.map { ranking.scores($0.validMean)! })
            configs = positions.map { position in
                var config = byNumber[position]
                config.standing.front = fronts[position]
                return config
            }
            for index in configs.indices where configs[index].n >= 2 {
                configs[index].confidentlyNonDominated = !configs.indices.contains { other in
                    other != index && dominatesWithConfidence(configs[other].trials, configs[index].trials, objectives: ranking.objectives)
                }
            }
            for index in infeasible.indices {
                configs.append(infeasible[index]); configs[configs.count - 1].confidentlyNonDominated = false
            }
        } else {
            let objective = ranking.primary
            func score(_ config: RankedConfig) -> Double { objective.score(config.validMean[objective.metric] ?? 0) }
            configs =
                feasible.sorted { a, b in
                    score(a) > score(b) || (score(a) == score(b) && a.trials[0].number < b.trials[0].number)
                } + infeasible
            if let best = configs.first {
                let bestBySeed = Dictionary(
                    best.trials.map { ($0.config.seed, $0.result?.valid[objective.metric] ?? 0) }, uniquingKeysWith: { a, _ in a })
                for index in configs.indices.dropFirst() {
                    let differences = configs[index].trials.compactMap { trial -> Double? in
                        guard let bestValue = bestBySeed[trial.config.seed], let value = trial.result?.valid[objective.metric] else {
                            return nil
                        }
                        return objective.score(bestValue) - objective.score(value)
                    }
                    if let p = Statistics.pairedTTestPValue(differences) {
                        configs[index].pValueVersusBest = p
                        configs[index].tiesBest = p >= 0.05
                    }
                }
                configs[0].tiesBest = true
            }
        }
        for index in configs.indices { configs[index].rank = index + 1 }
        return configs
    }

    /// The feasible completed trials' scores, in the order they finished.
    static func feasibleScores(_ trials: [TrialSnapshot], ranking: Ranking) -> [(finishedAt: Date, scores: [Double])] {
        trials.compactMap { trial -> (Date, [Double])? in
            guard trial.state == .completed, let result = trial.result, let scores = ranking.scores(result.valid),
                ranking.constraints.isEmpty || ranking.violation(result.valid) == 0
            else { return nil }
            return (result.finishedAt, scores)
        }.sorted { $0.0 < $1.0 }
    }

    /// The hypervolume of the feasible completed trials against ``Ranking/referenceScores(observed:)``.
    public static func hypervolume(_ trials: [TrialSnapshot], ranking: Ranking) -> Double {
        let points = feasibleScores(trials, ranking: ranking).map(\.scores)
        return Pareto.hypervolume(points, reference: ranking.referenceScores(observed: points))
    }

    /// The hypervolume after each feasible completed trial, in the order they finished (one
    /// reference point for the whole history, so the values compare).
    public static func hypervolumeHistory(_ trials: [TrialSnapshot], ranking: Ranking) -> [(finishedAt: Date, hypervolume: Double)] {
        let finished = feasibleScores(trials, ranking: ranking)
        let reference = ranking.referenceScores(observed: finished.map(\.scores))
        var front: [[Double]] = [], volume = 0.0
        return finished.map { entry in
            if !front.contains(where: { Pareto.dominates($0, entry.scores) || $0 == entry.scores }) {
                front = front.filter { !Pareto.dominates(entry.scores, $0) } + [entry.scores]
                volume = Pareto.hypervolume(front, reference: reference)
            }
            return (entry.finishedAt, volume)
        }
    }

    /// Whether config `a` dominates config `b` with confidence, paired over the seeds both
    /// completed (at least 2): on every objective `a`'s mean score over those seeds is at least
    /// `b`'s, and on one at least it is better with a two-sided paired t-test p < 0.05.
    public static func dominatesWithConfidence(_ a: [TrialSnapshot], _ b: [TrialSnapshot], objectives: [Objective]) -> Bool {
        let bySeed = Dictionary(
            a.compactMap { trial in trial.result.map { (trial.config.seed, $0.valid) } }, uniquingKeysWith: { x, _ in x })
        let pairs = b.compactMap { trial -> (a: [String: Double], b: [String: Double])? in
            guard let valid = trial.result?.valid, let other = bySeed[trial.config.seed] else { return nil }
            return (other, valid)
        }
        guard pairs.count >= 2 else { return false }
        var significant = false
        for objective in objectives {
            let differences = pairs.compactMap { pair -> Double? in
                guard let x = pair.a[objective.metric], let y = pair.b[objective.metric] else { return nil }
                return objective.score(x) - objective.score(y)
            }
            guard differences.count == pairs.count else { return false }
            let mean = differences.reduce(0, +) / Double(differences.count)
            if mean < 0 { return false }
            if mean > 0, let p = Statistics.pairedTTestPValue(differences), p < 0.05 { significant = true }
        }
        return significant
    }
}

/// The little statistics the leaderboard needs: Student's t distribution via the regularised
/// incomplete beta function (Numerical Recipes' continued fraction).
public enum Statistics {
    public static func standardDeviation(_ values: [Double]) -> Double {
        let mean = values.reduce(0, +) / Double(values.count)
        return (values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count - 1)).squareRoot()
    }

    /// Two-sided p of a paired t-test on the differences (H0: mean 0); nil for fewer than 2.
    /// Identical differences give p = 1 when all are 0, else 0.
    public static func pairedTTestPValue(_ differences: [Double]) -> Double? {
        guard differences.count >= 2 else { return nil }
        let mean = differences.reduce(0, +) / Double(differences.count)
        let deviation = standardDeviation(differences)
        guard deviation > 0 else { return mean == 0 ? 1 : 0 }
        let t = mean / (deviation / Double(differences.count).squareRoot())
        return twoSidedP(t: t, degrees: differences.count - 1)
    }

    /// P(|T| ≥ |t|) for Student's t with `degrees` degrees of freedom.
    public static func twoSidedP(t: Double, degrees: Int) -> Double {
        let v = Double(degrees)
        return regularizedIncompleteBeta(a: v / 2, b: 0.5, x: v / (v + t * t))
    }

    /// The 97.5% quantile of Student's t (for a two-sided 95% interval), by bisection.
    public static func tQuantile975(degrees: Int) -> Double {
        var low = 0.0, high = 1000.0
        for _ in 0..<200 {
            let middle = (low + high) / 2
            if twoSidedP(t: middle, degrees: degrees) > 0.05 { low = middle } else { high = middle }
        }
        return (low + high) / 2
    }

    /// I_x(a, b).
    static func regularizedIncompleteBeta(a: Double, b: Double, x: Double) -> Double {
        guard x > 0 else { return 0 }
        guard x < 1 else { return 1 }
        let logBeta: Double = lgamma(a) + lgamma(b) - lgamma(a + b)
        let logFront: Double = a * log(x) + b * log(1 - x) - logBeta
        let front = exp(logFront)
        if x < (a + 1) / (a + b + 2) { return front * betaContinuedFraction(a: a, b: b, x: x) / a }
        return 1 - front * betaContinuedFraction(a: b, b: a, x: 1 - x) / b
    }

    private static func betaContinuedFraction(a: Double, b: Double, x: Double) -> Double {
        let tiny = 1e-300
        var c = 1.0, d = 1 - (a + b) * x / (a + 1)
        if abs(d) < tiny { d = tiny }
        d = 1 / d
        var h = d
        for m in 1...300 {
            let m = Double(m)
            var aa = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
            d = 1 + aa * d; if abs(d) < tiny { d = tiny }
            c = 1 + aa / c; if abs(c) < tiny { c = tiny }
            d = 1 / d
            h *= d * c
            aa = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
            d = 1 + aa * d; if abs(d) < tiny { d = tiny }
            c = 1 + aa / c; if abs(c) < tiny { c = tiny }
            d = 1 / d
            let delta = d * c
            h *= delta
            if abs(delta - 1) < 1e-15 { break }
        }
        return h
    }
}
