import Foundation
import Synchronization
import Vocabulary

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
    /// The parameters TPE models (those with more than one possible value), sorted by key, with
    /// their domains and, for categorical ones, their values.
    let keys: [String]
    let domains: [ModelledDomain]
    let choices: [[ConfigValue]?]
    /// Each observed config's values in the model's representation, by the config's first trial
    /// number: a proposal looks at every config, and reading one costs more than the model.
    private let known = KnownValues()

    final class KnownValues: @unchecked Sendable {
        let values = Mutex<[Int: [Double?]]>([:])
    }

    public init(space: SearchSpace) {
        self.space = space
        settings = space.spec.tpe ?? TPESettings()
        let modelled = space.spec.parameters.compactMap { parameter in ModelledDomain(parameter.domain).map { (parameter, $0) } }
            .sorted { $0.0.key < $1.0.key }
        keys = modelled.map(\.0.key)
        domains = modelled.map(\.1)
        choices = modelled.map { parameter, _ in
            if case .values(let values) = parameter.domain { return values }
            return nil
        }
    }

    public var configBudget: Int? { space.spec.count }

    /// The startup configs, drawn as random search draws them.
    public func plannedTrials() throws -> [PlannedTrial] { try RandomSampler.firstDraws(space, settings.startupTrials) }

    public func propose(index: Int, observations: [Observation], isTaken: (TrialConfig) -> Bool) -> Proposal? {
        RandomSampler.modelProposal(
            space, index: index, observations: observations, startupTrials: settings.startupTrials, method: .tpe, isTaken: isTaken
        ) { modelledConfig(observations, &$0) }
    }

    static func generator(seed: Int, index: Int, attempt: Int) -> Xoshiro256 {
        var mix = SplitMix64(seed: UInt64(seed) &* 0x7FB5_D329_728E_A185 &+ UInt64(index) &* 0x9E37_79B9 &+ UInt64(attempt))
        return Xoshiro256(seed: mix.next())
    }

    // MARK: The model

    /// A parameter's value in the model's representation (a choice index, or the number), or nil
    /// when the config does not use it or it lies outside the parameter's current domain.
    func internalValue(_ key: String, of config: TrialConfig) -> Double? {
        keys.firstIndex(of: key).flatMap { internalValue($0, of: config) }
    }

    func internalValue(_ index: Int, of config: TrialConfig) -> Double? {
        let key = keys[index]
        guard config.isActive(key), let value = config.value(key) else { return nil }
        if let choices = choices[index] { return choices.firstIndex { $0.sameValue(as: value) }.map(Double.init) }
        guard case .numerical(let low, let high, _, _) = domains[index].kind else { return nil }
        return value.number.flatMap { $0 >= low && $0 <= high ? $0 : nil }
    }

    /// Every modelled parameter's value of an observation (cached by its first trial number).
    func internalValues(_ observation: Observation) -> [Double?] {
        if let values = known.values.withLock({ $0[observation.order] }) { return values }
        let values = keys.indices.map { internalValue($0, of: observation.config) }
        known.values.withLock { $0[observation.order] = values }
        return values
    }

    /// The groups of parameters that always occur together in the finished configs (Optuna's
    /// group decomposition), then each never-seen parameter on its own; by key.
    func groups(_ active: [Set<String>]) -> [[String]] {
        groups(masks: active.map { set in keys.indices.reduce(UInt64(0)) { set.contains(keys[$1]) ? $0 | 1 << UInt64($1) : $0 } })
            .map { mask in keys.indices.filter { mask & 1 << UInt64($0) != 0 }.map { keys[$0] } }
    }

    /// The same over sets of parameter indices as bit masks, in a fixed order.
    func groups(masks active: [UInt64]) -> [UInt64] {
        var groups: [UInt64] = []
        if isMultivariate {
            for keys in active {
                var remaining = keys, next: [UInt64] = []
                for group in groups {
                    next.append(group & remaining)
                    next.append(group & ~remaining)
                    remaining &= ~group
                }
                next.append(remaining)
                groups = next.filter { $0 != 0 }
            }
        } else {
            let seen = active.reduce(UInt64(0), |)
            groups = keys.indices.filter { seen & 1 << UInt64($0) != 0 }.map { 1 << UInt64($0) }
        }
        let seen = groups.reduce(UInt64(0), |)
        groups += keys.indices.filter { seen & 1 << UInt64($0) == 0 }.map { 1 << UInt64($0) }
        return groups.sorted()
    }

    /// The indices of the best `count` finished observations, as Optuna's `TPESampler` splits them:
    /// feasible completed ones first (one objective: by score; several: whole non-dominated fronts,
    /// then from the front that does not fit, the members that add the most hypervolume, greedily,
    /// as Optuna's `_solve_hssp`), then feasible pruned ones by the epoch they reached and their
    /// scores, then infeasible ones by their constraint violation (Optuna's `constraints_func`).
    /// Ties go to the earlier config.
    func best(_ observations: [Observation], count: Int) -> [Int] {
        var completed: [Int] = [], pruned: [Int] = [], infeasible: [Int] = []
        for index in observations.indices {
            switch observations[index].outcome {
            case .running: continue
            case .completed, .pruned:
                if observations[index].violation > 0 {
                    infeasible.append(index)
                } else if case .completed = observations[index].outcome {
                    completed.append(index)
                } else {
                    pruned.append(index)
                }
            }
        }
        func scores(_ index: Int) -> [Double] {
            switch observations[index].outcome {
            case .completed(let scores), .pruned(_, let scores): scores
            case .running: []
            }
        }
        var top = Self.leading(completed.map(scores), count: count).map { completed[$0] }
        if top.count < count {
            // Pruned configs by the epoch reached (further first), each epoch's by scores.
            func reached(_ index: Int) -> Int {
                if case .pruned(let epoch, _) = observations[index].outcome { return epoch }
                return 0
            }
            for epoch in Set(pruned.map(reached)).sorted(by: >) where top.count < count {
                let members = pruned.filter { reached($0) == epoch }
                top += Self.leading(members.map(scores), count: count - top.count).map { members[$0] }
            }
        }
        if top.count < count {
            top += infeasible.sorted { (observations[$0].violation, $0) < (observations[$1].violation, $1) }.prefix(count - top.count)
        }
        return top
    }

    /// Whether parameters are modelled jointly: the file's `multivariate`, else with one objective only.
    var isMultivariate: Bool { settings.multivariate ?? !space.spec.ranking.isMultiObjective }

    /// How many finished configs form l(x): ⌈gamma·n⌉, at most 25 with one objective (Optuna 5's
    /// `default_gamma`; with several, its `default_gamma_multiobjective` has no cap).
    func belowCount(finished n: Int) -> Int {
        let count = Int((settings.gamma * Double(n)).rounded(.up))
        return space.spec.ranking.isMultiObjective ? count : min(count, 25)
    }

    /// The positions of the best `count` score vectors, best first (ties: the earlier position).
    static func leading(_ points: [[Double]], count: Int) -> [Int] {
        guard count > 0, !points.isEmpty else { return [] }
        guard points[0].count > 1 else {
            // The best `count` by insertion into a short sorted list (count ≤ 25): no sort of them all.
            var top: [Int] = []
            for index in points.indices {
                let better = { (a: Int, b: Int) in points[a][0] > points[b][0] }
                guard top.count < count || better(index, top[top.count - 1]) else { continue }
                top.insert(index, at: top.firstIndex { better(index, $0) } ?? top.count)
                if top.count > count { top.removeLast() }
            }
            return top
        }
        let fronts = Pareto.fronts(points)
        var top: [Int] = []
        for front in 1...(fronts.max() ?? 0) {
            let members = points.indices.filter { fronts[$0] == front }
            if top.count + members.count <= count {
                top += members
                if top.count == count { break }
                continue
            }
            // Optuna's reference: just beyond the worst of the front being split.
            let front = members.map { points[$0] }
            top += Pareto.greatestHypervolumeSubset(front, count: count - top.count, reference: Pareto.nadirReference(front))
                .map { members[$0] }
            break
        }
        return top
    }

    /// One TPE proposal from every observation.
    func modelledConfig(_ observations: [Observation], _ rng: inout Xoshiro256) -> TrialConfig? {
        config(from: modelledValues(observations, &rng))
    }

    /// The values of one TPE proposal, by parameter (in ``keys`` order; the model's representation).
    func modelledValues(_ observations: [Observation], _ rng: inout Xoshiro256) -> [Double?] {
        // The controller lists observations by first trial number already (the weight ramp needs that order).
        let used = settings.constantLiar ? observations : observations.filter { $0.outcome != .running }
        let values = used.map(internalValues)
        let finished = used.indices.filter { used[$0].outcome != .running }
        var isBelow = [Bool](repeating: false, count: used.count)
        for index in best(used, count: belowCount(finished: finished.count)) { isBelow[index] = true }
        let masks = finished.map { index in values[index].indices.reduce(UInt64(0)) { values[index][$1] == nil ? $0 : $0 | 1 << UInt64($1) }
        }
        var sampled = [Double?](repeating: nil, count: keys.count)
        for group in groups(masks: masks) {
            let members = keys.indices.filter { group & 1 << UInt64($0) != 0 }
            var below = [[Double]](repeating: [], count: members.count), above = below
            var belowCount = 0, aboveCount = 0
            for (index, row) in values.enumerated() where members.allSatisfy({ row[$0] != nil }) {
                if isBelow[index] {
                    for (column, member) in members.enumerated() { below[column].append(row[member]!) }
                    belowCount += 1
                } else {
                    for (column, member) in members.enumerated() { above[column].append(row[member]!) }
                    aboveCount += 1
                }
            }
            let domains = members.map { self.domains[$0] }
            let l = ParzenEstimator(columns: below, count: belowCount, domains: domains)
            let g = ParzenEstimator(columns: above, count: aboveCount, domains: domains)
            let candidates = l.sample(settings.candidates, &rng)
            let scores = candidates.map { l.logDensity($0) - g.logDensity($0) }
            guard let best = scores.indices.max(by: { scores[$0] < scores[$1] }) else { continue }
            for (member, value) in zip(members, candidates[best]) { sampled[member] = value }
        }
        return sampled
    }

    /// The config of modelled values (in ``keys`` order), each parameter set where its conditions hold.
    func config(from sampled: [Double?]) -> TrialConfig? {
        var assignment = space.base(nil)
        for parameter in space.orderedParameters where parameter.conditions.allSatisfy({ $0.holds(in: assignment) }) {
            let value = keys.firstIndex(of: parameter.key).flatMap { sampled[$0] }
            switch parameter.domain {
            case .values(let choices): assignment[parameter.key] = choices.count == 1 ? choices[0] : value.map { choices[Int($0)] }
            case .intUniform: assignment[parameter.key] = value.map { .int(Int($0)) }
            case .uniform, .logUniform, .qUniform:
                assignment[parameter.key] = value.map { .double(Double(String(format: "%.6g", $0)) ?? $0) }
            }
        }
        return space.config(from: assignment)
    }
}
