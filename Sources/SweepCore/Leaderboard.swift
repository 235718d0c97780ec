import Foundation
import Vocabulary

/// One completed trial, ranked.
public struct RankedTrial: Sendable {
    public var rank: Int
    public var trial: TrialSnapshot
    public var result: ResultSnapshot
    /// The sweep metric on valid.
    public var value: Double
}

/// One config (all its repeat seeds), ranked by the mean of the sweep metric on valid.
public struct RankedConfig: Sendable {
    public var rank: Int
    /// The config without its seed: the key repeats share.
    public var key: String
    public var trials: [TrialSnapshot]
    public var n: Int { trials.count }
    /// Means of every metric over the config's completed trials, valid and test.
    public var validMean: [String: Double]
    public var testMean: [String: Double]
    /// Half-width of the 95% confidence interval of the valid sweep metric (t distribution); nil for n < 2.
    public var ci95: Double?
    /// The paired test against the best config over the seeds both have: two-sided p, or nil when
    /// it cannot be computed (this is the best config, or fewer than 2 shared seeds).
    public var pValueVersusBest: Double?
    /// Not distinguishable from the best at the 5% level: true for the best itself and for a
    /// config whose paired test says p ≥ 0.05, false for p < 0.05, and nil when no test can be
    /// made (fewer than 2 seeds shared with the best): then nothing can be said either way.
    public var tiesBest: Bool?
}

/// Ranks completed trials: a pure function over immutable snapshots. Every metric is better
/// higher; ties go to the lower trial number.
public enum Leaderboard {
    /// Completed trials ranked by the sweep metric on valid.
    /// With `top`, only the first `top` are made (the order is found over all of them; a
    /// negative `top` makes none).
    public static func rank(_ trials: [TrialSnapshot], metric: String, top: Int? = nil) -> [RankedTrial] {
        // Sorted as (value, number, index) triples, so the large snapshots are copied once.
        var order: [(value: Double, number: Int, index: Int)] = []
        for index in trials.indices where trials[index].state == .completed {
            if let value = trials[index].result?.valid[metric] { order.append((value, trials[index].number, index)) }
        }
        order.sort { $0.value > $1.value || ($0.value == $1.value && $0.number < $1.number) }
        return order.prefix(max(top ?? order.count, 0)).enumerated().map { position, entry in
            RankedTrial(rank: position + 1, trial: trials[entry.index], result: trials[entry.index].result!, value: entry.value)
        }
    }

    /// The config a trial repeats: its canonical config without the seed.
    public static func configKey(_ config: TrialConfig) -> String {
        var unseeded = config
        unseeded.seed = 0
        return unseeded.jsonText()
    }

    /// Configs ranked by their mean valid metric, with a 95% CI and a paired test against the best.
    public static func rankConfigs(_ trials: [TrialSnapshot], metric: String) -> [RankedConfig] {
        var groups: [String: [TrialSnapshot]] = [:], order: [String] = []
        for entry in rank(trials, metric: metric) {
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
            let values = results.compactMap { $0.valid[metric] }
            let ci =
                values.count >= 2
                ? Statistics.tQuantile975(degrees: values.count - 1) * Statistics.standardDeviation(values)
                    / Double(values.count).squareRoot() : nil
            return RankedConfig(
                rank: 0, key: key, trials: members, validMean: validMean, testMean: testMean, ci95: ci,
                pValueVersusBest: nil, tiesBest: nil)
        }
        configs.sort { a, b in
            let (x, y) = (a.validMean[metric] ?? 0, b.validMean[metric] ?? 0)
            return x > y || (x == y && a.trials[0].number < b.trials[0].number)
        }
        guard let best = configs.first else { return [] }
        let bestBySeed = Dictionary(best.trials.map { ($0.config.seed, $0.result?.valid[metric] ?? 0) }, uniquingKeysWith: { a, _ in a })
        for index in configs.indices {
            configs[index].rank = index + 1
            guard index > 0 else {
                configs[index].tiesBest = true
                continue
            }
            let differences = configs[index].trials.compactMap { trial -> Double? in
                guard let bestValue = bestBySeed[trial.config.seed], let value = trial.result?.valid[metric] else { return nil }
                return bestValue - value
            }
            if let p = Statistics.pairedTTestPValue(differences) {
                configs[index].pValueVersusBest = p
                configs[index].tiesBest = p >= 0.05
            }
        }
        return configs
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
