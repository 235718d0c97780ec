import Foundation
import Vocabulary

/// Parameter importance by PED-ANOVA (Watanabe et al., IJCAI 2023), with conditional parameters
/// as in its conditional form (KDD 2026), computed as Optuna 5.0's `PedAnovaImportanceEvaluator`
/// computes it (defaults: the top 10% of completed trials against all of them, 50 grid steps,
/// prior weight 1, Scott's-rule Parzen estimators), then normalised to sum to 1 as
/// `get_param_importances` does.
///
/// A parameter matters when the best trials' distribution of its values differs from everyone's:
/// the importance is the Pearson divergence between the two densities on a grid. A conditional
/// parameter counts only where it was active (its inactive trials form a regime of their own that
/// adds nothing), weighted by how many of the best trials had it active.
public enum ParameterImportance {
    /// One finished trial: the searched parameters it had active, and its value (higher is better).
    public struct Trial: Sendable {
        public var values: [String: ConfigValue]
        public var value: Double

        public init(values: [String: ConfigValue], value: Double) {
            self.values = values
            self.value = value
        }
    }

    static let steps = 50
    static let priorWeight = 1.0
    static let minimumTrialsInRegime = 2

    /// Each searched parameter's importance (summing to 1), most important first; ties by name.
    public static func pedAnova(_ trials: [Trial], parameters: [Parameter], targetQuantile: Double = 0.1) -> [(
        key: String, importance: Double
    )] {
        let trials = trials.filter { $0.value.isFinite }
        let keys = parameters.map(\.key).filter { key in trials.contains { $0.values[key] != nil } }
        var importance = Dictionary(uniqueKeysWithValues: keys.map { ($0, 0.0) })
        if trials.count > 1 {
            // The top quantile by value: every trial at least as good as the ⌈q·n⌉-th best.
            let sorted = trials.map(\.value).sorted(by: >)
            let cutoff = sorted[Int((targetQuantile * Double(trials.count)).rounded(.up)) - 1]
            let isTarget = trials.map { $0.value >= cutoff }
            let targetCount = isTarget.filter { $0 }.count
            let quantile = Double(targetCount) / Double(trials.count)
            for parameter in parameters where importance[parameter.key] != nil {
                let active = trials.indices.filter { trials[$0].values[parameter.key] != nil }
                guard active.count >= minimumTrialsInRegime, let grid = Grid(parameter.domain) else { continue }
                let activeTargets = active.filter { isTarget[$0] }
                guard !activeTargets.isEmpty else { continue }
                let alpha = Double(activeTargets.count) / Double(targetCount), beta = Double(active.count) / Double(trials.count)
                let top = grid.density(activeTargets.map { trials[$0].values[parameter.key]! })
                let local = grid.density(active.map { trials[$0].values[parameter.key]! })
                let divergence = zip(top, local).reduce(0.0) { sum, pair in
                    let (p, q) = (pair.0 + 1e-12, pair.1 + 1e-12)
                    return sum + q * (p / q - 1) * (p / q - 1)
                }
                importance[parameter.key, default: 0] += alpha * alpha / beta * divergence
            }
            for key in keys { importance[key]! *= quantile * quantile }
        }
        let total = importance.values.reduce(0, +)
        let normalised = importance.mapValues { total == 0 ? 1 / Double(importance.count) : $0 / total }
        return normalised.sorted { $0.value > $1.value || ($0.value == $1.value && $0.key < $1.key) }.map { ($0.key, $0.value) }
    }

    /// A parameter's domain discretised as Optuna's evaluator does: choices as they are, a number
    /// range as at most 50 evenly spaced points (in log space for `log_uniform`; no more points
    /// than an integer or `q` grid has).
    struct Grid {
        enum Kind {
            case categorical([ConfigValue])
            case numerical(low: Double, high: Double, log: Bool, steps: Int)
        }

        let kind: Kind

        init?(_ domain: Domain) {
            switch domain {
            case .values(let choices):
                guard choices.count > 1 else { return nil }
                kind = .categorical(choices)
            case .uniform(let low, let high): kind = .numerical(low: low, high: high, log: false, steps: ParameterImportance.steps)
            case .logUniform(let low, let high):
                kind = .numerical(low: log(low), high: log(high), log: true, steps: ParameterImportance.steps)
            case .intUniform(let low, let high):
                guard high > low else { return nil }
                kind = .numerical(low: Double(low), high: Double(high), log: false, steps: min(high - low + 1, ParameterImportance.steps))
            case .qUniform(let low, let high, let q):
                kind = .numerical(
                    low: low, high: high, log: false, steps: min(Int(((high - low) / q).rounded()) + 1, ParameterImportance.steps))
            }
        }

        var size: Int {
            switch kind {
            case .categorical(let choices): choices.count
            case .numerical(_, _, _, let steps): steps
            }
        }

        /// The grid point a value falls on.
        func index(_ value: ConfigValue) -> Int {
            switch kind {
            case .categorical(let choices):
                return choices.firstIndex { $0.sameValue(as: value) } ?? 0
            case .numerical(let low, let high, let isLog, let steps):
                let x = isLog ? log(value.number ?? exp(low)) : value.number ?? low
                let step = (high - low) / Double(steps - 1)
                return min(max(Int(((x - low) / step - 0.5).rounded(.up)), 0), steps - 1)
            }
        }

        /// The Parzen estimator of `values` (Scott's rule, one kernel per occupied grid point
        /// weighted by its count, plus a prior kernel), evaluated at every grid point.
        func density(_ values: [ConfigValue]) -> [Double] {
            var counts = [Double](repeating: 0, count: size)
            for value in values { counts[index(value)] += 1 }
            let observed = counts.indices.filter { counts[$0] > 0 }
            let weights = observed.map { counts[$0] }
            let total = weights.reduce(0, +) + ParameterImportance.priorWeight
            let mixture = weights.map { $0 / total } + [ParameterImportance.priorWeight / total]
            switch kind {
            case .categorical:
                // Each kernel: its own choice, plus the prior's mass spread over every choice.
                let kernels = Double(observed.count + 1), spread = ParameterImportance.priorWeight / kernels
                let row = spread * Double(size) + 1
                return (0..<size).map { point in
                    var density = mixture[observed.count] * (1.0 / Double(size))
                    for (k, choice) in observed.enumerated() { density += mixture[k] * ((choice == point ? 1 : 0) + spread) / row }
                    return density
                }
            case .numerical:
                let (low, high) = (0.0, Double(size - 1))
                let points = observed.map(Double.init), sum = weights.reduce(0, +)
                let mean = zip(points, weights).reduce(0) { $0 + $1.0 * $1.1 } / sum
                var sigma = (zip(points, weights).reduce(0) { $0 + ($1.0 - mean) * ($1.0 - mean) * $1.1 } / max(1, sum - 1)).squareRoot()
                var cumulative: [Double] = []
                for weight in weights { cumulative.append((cumulative.last ?? 0) + weight) }
                let first = cumulative.firstIndex { $0 >= (sum / 4).rounded(.down) } ?? cumulative.count
                let third = cumulative.firstIndex { $0 > (sum * 3 / 4).rounded(.down) } ?? cumulative.count
                let iqr = points[min(points.count - 1, third)] - points[min(points.count - 1, first)]
                sigma = 1.059 * min(iqr / 1.34, sigma) * pow(sum, -0.2)
                let width = max(sigma, 0.5 / 1.64)
                let mus = points + [(low + high) / 2], sigmas = [Double](repeating: width, count: points.count) + [high - low + 1]
                return (0..<size).map { point in
                    let x = Double(point)
                    var density = 0.0
                    for k in mus.indices {
                        let (mu, s) = (mus[k], sigmas[k])
                        // Far in a tail both ends' Φ underflow (NaN here): the mass there is nil.
                        let mass = exp(
                            TruncatedNormal.logMass((x - 0.5 - mu) / s, (x + 0.5 - mu) / s)
                                - TruncatedNormal.logMass((low - 0.5 - mu) / s, (high + 0.5 - mu) / s))
                        if mass.isFinite { density += mixture[k] * mass }
                    }
                    return density
                }
            }
        }
    }
}

extension ParameterImportance {
    /// How many trials the importance is computed from: completed, with the objective's metric.
    public static func completedTrials(_ trials: [TrialSnapshot], objective: Objective) -> Int {
        trials.filter { $0.state == .completed && $0.result?.valid[objective.metric] != nil }.count
    }

    /// The importance of a stored sweep's searched parameters (and of its variant, when it has
    /// variants) for reaching the best of one objective on valid (the sweep's primary unless
    /// named), from its completed trials.
    public static func of(spec: SweepSpec, objective: Objective, trials: [TrialSnapshot], targetQuantile: Double = 0.1)
        -> [(key: String, importance: Double)]
    {
        var parameters = spec.parameters
        if !spec.variants.isEmpty {
            parameters.append(Parameter(key: "variant", domain: .values(spec.variants.map { .string($0.name) }), conditions: [], line: nil))
        }
        let finished = trials.filter { $0.state == .completed }.compactMap { trial -> Trial? in
            guard let value = trial.result?.valid[objective.metric].map(objective.score) else { return nil }
            var values: [String: ConfigValue] = [:]
            for parameter in spec.parameters where trial.config.isActive(parameter.key) {
                values[parameter.key] = trial.config.value(parameter.key)
            }
            if let variant = trial.variant { values["variant"] = .string(variant) }
            return Trial(values: values, value: value)
        }
        return pedAnova(finished, parameters: parameters, targetQuantile: targetQuantile)
    }

    /// The JSON document of `sweep importance --json` (and the dashboard's `/api/importance`) for
    /// `ranked`, what ``of(spec:objective:trials:targetQuantile:)`` found.
    public static func document(
        _ ranked: [(key: String, importance: Double)], objective: Objective, trials: [TrialSnapshot],
        targetQuantile: Double
    ) -> ImportanceDocument {
        ImportanceDocument(
            metric: "valid_\(objective.metric)", goal: objective.goal, method: "ped-anova", targetQuantile: targetQuantile,
            completedTrials: completedTrials(trials, objective: objective),
            importance: ranked.map { ImportanceDocument.Entry(parameter: $0.key, importance: $0.importance) })
    }
}

/// `sweep importance --json` and `/api/importance` (contract in docs/cli.md).
public struct ImportanceDocument: Encodable, Sendable {
    public struct Entry: Encodable, Sendable {
        var parameter: String
        var importance: Double
    }

    var metric: String
    var goal: Goal
    var method: String
    var targetQuantile: Double
    var completedTrials: Int
    var importance: [Entry]

    enum CodingKeys: String, CodingKey {
        case metric, goal, method, targetQuantile = "target_quantile", completedTrials = "completed_trials", importance
    }
}
