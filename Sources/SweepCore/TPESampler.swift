import Foundation
import ML

/// The tree-structured Parzen estimator over a conditional space, as Optuna's `TPESampler` with
/// `multivariate=True, group=True, constant_liar=True` works.
///
/// The first `startup_trials` configs are random search's draws. Once that many have finished,
/// each proposal splits the configs seen so far into the best ⌈gamma·n⌉ (at most 25; completed
/// configs by value, then pruned ones by the epoch they reached and their value, as Optuna ranks a
/// pruned trial below completed ones) and the rest, with running configs among the rest (constant
/// liar), fits l(x) to the first and g(x) to the second, draws `candidates` configs from l and keeps
/// the one with the largest l(x)/g(x). A parameter is modelled only on configs where it was
/// active, and parameters are modelled jointly in groups that always occur together (Optuna's
/// `group=True`), so an `alpha` seen only under `balancer: fixed` never shapes a `focal_gamma`
/// density. With repeats, a config's observation is the mean over its seeds.
public struct TPESampler: Sampler {
    public let space: SearchSpace
    public let settings: TPESettings
    /// The parameters TPE models (those with more than one possible value), by key.
    let modelled: [String: ModelledDomain]

    public init(space: SearchSpace) {
        self.space = space
        settings = space.spec.tpe ?? TPESettings()
        modelled = space.spec.parameters.reduce(into: [:]) { map, parameter in map[parameter.key] = ModelledDomain(parameter.domain) }
    }

    public var configBudget: Int? { space.spec.count }

    /// The startup configs, drawn as random search draws them (draw i depends on the seed and i).
    public func plannedTrials() throws -> [PlannedTrial] {
        let startup = min(settings.startupTrials, space.spec.count ?? 0)
        return try space.trials { emit in
            for draw in 0..<startup { emit(RandomSampler.assignment(space, draw: draw, arm: nil), nil) }
        }
    }

    public func propose(index: Int, observations: [Observation], isTaken: (TrialConfig) -> Bool) -> Proposal? {
        let finished = observations.filter { $0.outcome != .running }.count
        let origin = ProposalOrigin(sampler: finished < settings.startupTrials ? "random" : "tpe", finished: finished,
                                    running: observations.count - finished)
        // A proposal may repeat a config the sweep holds (a small or discrete space): try again
        // with the next random stream, then fall back to random draws past the sweep's own.
        for attempt in 0..<16 {
            var rng = Self.generator(seed: space.spec.seed, index: index, attempt: attempt)
            let config = origin.sampler == "random" ? config(from: RandomSampler.assignment(space, draw: index + attempt * 1_000_003, arm: nil))
                : modelledConfig(observations, &rng)
            if let config, !isTaken(config) { return Proposal(config: config, origin: origin) }
        }
        for draw in 0..<64 {
            if let config = config(from: RandomSampler.assignment(space, draw: (index + 1) * 7_919_011 + draw, arm: nil)), !isTaken(config) {
                return Proposal(config: config, origin: ProposalOrigin(sampler: "random", finished: finished, running: origin.running))
            }
        }
        return nil
    }

    static func generator(seed: Int, index: Int, attempt: Int) -> Xoshiro256 {
        var mix = SplitMix64(seed: UInt64(seed) &* 0x7FB5_D329_728E_A185 &+ UInt64(index) &* 0x9E37_79B9 &+ UInt64(attempt))
        return Xoshiro256(seed: mix.next())
    }

    /// A config from parameter values: fixed keys under them, inactive keys dropped; nil if invalid.
    func config(from assignment: [String: ConfigValue]) -> TrialConfig? {
        var values = assignment
        values["select_metric"] = .string(space.spec.metric)
        return try? TrialConfig.parseDroppingInactive(values)
    }

    // MARK: The model

    /// A parameter's value in the model's representation (a choice index, or the number), or nil
    /// when the config does not use it or it lies outside the parameter's current domain.
    func internalValue(_ key: String, of config: TrialConfig) -> Double? {
        guard let domain = modelled[key], config.isActive(key), let value = config.value(key),
              let parameter = space.spec.parameters.first(where: { $0.key == key }) else { return nil }
        switch (domain.kind, parameter.domain) {
        case (.categorical, .values(let values)): return values.firstIndex { sameValue($0, value) }.map(Double.init)
        case (.numerical(let low, let high, _, _), _):
            let number: Double? = switch value {
            case .int(let v): Double(v)
            case .double(let v): v
            default: nil
            }
            return number.flatMap { $0 >= low && $0 <= high ? $0 : nil }
        default: return nil
        }
    }

    /// The groups of parameters that always occur together in the finished configs (Optuna's
    /// group decomposition), then each never-seen parameter on its own.
    func groups(_ active: [Set<String>]) -> [[String]] {
        var groups: [Set<String>] = []
        if settings.multivariate {
            for keys in active {
                var remaining = keys, next: [Set<String>] = []
                for group in groups {
                    next.append(group.intersection(remaining))
                    next.append(group.subtracting(remaining))
                    remaining.subtract(group)
                }
                next.append(remaining)
                groups = next.filter { !$0.isEmpty }
            }
        } else {
            groups = Set(active.flatMap { $0 }).map { [$0] }
        }
        let seen = groups.reduce(into: Set<String>()) { $0.formUnion($1) }
        groups += modelled.keys.filter { !seen.contains($0) }.map { [$0] }
        return groups.map { $0.sorted() }.sorted { $0.joined() < $1.joined() }
    }

    /// The indices of the best `count` finished observations, best first: completed ones by value,
    /// then pruned ones by the epoch they reached and their value (ties: the earlier config).
    func best(_ observations: [Observation], count: Int) -> [Int] {
        func score(_ outcome: Observation.Outcome) -> (Int, Double) {
            switch outcome {
            case .completed(let value): (Int.max, value)
            case .pruned(let epoch, let value): (epoch, value)
            case .running: (Int.min, 0)
            }
        }
        let finished = observations.indices.filter { observations[$0].outcome != .running }
        return Array(finished.sorted { a, b in
            let (x, y) = (score(observations[a].outcome), score(observations[b].outcome))
            return x.0 != y.0 ? x.0 > y.0 : x.1 != y.1 ? x.1 > y.1 : observations[a].order < observations[b].order
        }.prefix(count))
    }

    /// One TPE proposal from every observation.
    func modelledConfig(_ observations: [Observation], _ rng: inout Xoshiro256) -> TrialConfig? {
        let used = settings.constantLiar ? observations : observations.filter { $0.outcome != .running }
        let values = used.map { observation in
            modelled.keys.reduce(into: [String: Double]()) { map, key in map[key] = internalValue(key, of: observation.config) }
        }
        let finished = used.indices.filter { used[$0].outcome != .running }
        let below = Set(best(used, count: min(Int((settings.gamma * Double(finished.count)).rounded(.up)), 25)))
        var sampled: [String: Double] = [:]
        for group in groups(finished.map { index in Set(values[index].keys) }) {
            let domains = group.map { modelled[$0]! }
            func rows(_ indices: [Int]) -> [[Double]] {
                indices.compactMap { index in
                    let row = group.compactMap { values[index][$0] }
                    return row.count == group.count ? row : nil
                }
            }
            let ordered = used.indices.sorted { used[$0].order < used[$1].order }
            let l = ParzenEstimator(observations: rows(ordered.filter { below.contains($0) }), domains: domains)
            let g = ParzenEstimator(observations: rows(ordered.filter { !below.contains($0) }), domains: domains)
            let candidates = l.sample(settings.candidates, &rng)
            let scores = candidates.map { l.logDensity($0) - g.logDensity($0) }
            guard let best = scores.indices.max(by: { scores[$0] < scores[$1] }) else { continue }
            for (key, value) in zip(group, candidates[best]) { sampled[key] = value }
        }
        var assignment = space.base(nil)
        for parameter in space.orderedParameters where parameter.conditions.allSatisfy({ $0.holds(in: assignment) }) {
            switch parameter.domain {
            case .values(let choices):
                assignment[parameter.key] = choices.count == 1 ? choices[0] : sampled[parameter.key].map { choices[Int($0)] }
            case .intUniform: assignment[parameter.key] = sampled[parameter.key].map { .int(Int($0)) }
            default: assignment[parameter.key] = sampled[parameter.key].map { .double(Double(String(format: "%.6g", $0)) ?? $0) }
            }
        }
        return config(from: assignment)
    }
}
