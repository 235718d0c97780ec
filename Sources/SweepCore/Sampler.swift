import Foundation
import Vocabulary

/// Proposes configs; it never changes a trial's state (the controller and the store do).
///
/// Grid and random search know every trial before any result: they plan them all, the store
/// keeps the plan, and what is left is recomputed from the store (the waiting trials), so a
/// restarted coordinator neither repeats nor skips a trial. An adaptive sampler (TPE) plans its
/// first configs the same way and proposes the rest one at a time from what the store holds.
public protocol Sampler: Sendable {
    /// The trials known before any result, numbered in plan order.
    func plannedTrials() throws -> [PlannedTrial]
    /// How many configs it proposes in all, the planned ones included (nil: only the plan).
    var configBudget: Int? { get }
    /// The config to add as the `index`-th (0-based), given every config seen so far; nil when it
    /// has none left to give. `isTaken` says whether a config is already in the sweep.
    func propose(index: Int, observations: [Observation], isTaken: (TrialConfig) -> Bool) -> Proposal?
}

extension Sampler {
    public var configBudget: Int? { nil }
    public func propose(index: Int, observations: [Observation], isTaken: (TrialConfig) -> Bool) -> Proposal? { nil }
}

/// A config the sweep has tried (all its repeat seeds together) and how it fared.
public struct Observation: Sendable, Equatable {
    /// Scores are each objective's value turned so that higher is better (``Objective/score(_:)``),
    /// in the sweep's order of objectives.
    public enum Outcome: Sendable, Equatable {
        /// Every seed completed: the mean of their scores.
        case completed([Double])
        /// Early stopping stopped a seed: the lowest epoch reached, and the mean of the seeds' scores.
        case pruned(epoch: Int, scores: [Double])
        /// A seed waits or runs.
        case running
    }

    /// The config's first trial number (observations are ordered by it).
    public var order: Int
    /// The config, seed 0.
    public var config: TrialConfig
    public var outcome: Outcome
    /// The mean over seeds of the total constraint violation (0: feasible).
    public var violation: Double
    /// Per objective, the variance of the mean score over its seeds (the seeds' sample variance
    /// over their count); empty with fewer than two seeds finished.
    public var seedVariance: [Double] = []
    /// Per constraint, the mean over seeds of its margin (``OutcomeConstraint/margin(_:)``).
    public var constraintMargins: [Double] = []
    /// It comes from another sweep's store (`warm_start`), not this sweep's trials.
    public var fromWarmStart = false

    public init(order: Int, config: TrialConfig, outcome: Outcome, violation: Double = 0) {
        self.order = order
        self.config = config
        self.outcome = outcome
        self.violation = violation
    }
}

/// A config an adaptive sampler proposes, and what it was conditioned on.
public struct Proposal: Sendable, Equatable {
    /// The config, seed 0 (the controller adds one trial per repeat seed).
    public var config: TrialConfig
    public var origin: ProposalOrigin

    public init(config: TrialConfig, origin: ProposalOrigin) {
        self.config = config
        self.origin = origin
    }
}

/// How a proposed config came about, kept with its trials (`sweep show` prints it).
public struct ProposalOrigin: Sendable, Equatable, Codable {
    /// What proposed a config.
    public enum Method: String, Sendable, Codable {
        /// TPE's model of the finished configs.
        case tpe
        /// NSGA-II's breeding from the best configs of earlier generations.
        case nsga2
        /// The Gaussian process's expected improvement.
        case gp
        /// A random draw, while too few configs have finished for the model (or when its
        /// proposals repeat configs the sweep holds).
        case random
        /// A config the user asked for (`sweep enqueue`, `enqueue:`), run before the plan.
        case enqueued
    }

    public var sampler: Method
    /// Finished (completed or pruned) configs it was conditioned on.
    public var finished: Int
    /// Configs waiting or running when it was proposed (bad values to TPE under constant liar).
    public var running: Int
    /// An enqueued config outside the sweep's space, run anyway (`--force`); nil otherwise.
    public var forced: Bool?
    /// How many of the finished configs came from another sweep's store (`warm_start`); nil: none.
    public var warmStart: Int?

    public init(sampler: Method, finished: Int, running: Int, forced: Bool? = nil, warmStart: Int? = nil) {
        self.sampler = sampler
        self.finished = finished
        self.running = running
        self.forced = forced
        self.warmStart = warmStart
    }

    enum CodingKeys: String, CodingKey { case sampler, finished, running, forced, warmStart = "warm_start" }

    /// How `sweep show` says it.
    public var description: String {
        switch sampler {
        case .enqueued: forced == true ? "enqueued by the user with --force (outside the sweep's space)" : "enqueued by the user"
        case .tpe, .nsga2, .gp, .random:
            "proposed by \(sampler.rawValue) from \(finished) finished"
                + (warmStart.map { " (\($0) of them from warm_start)" } ?? "")
                + " and \(running) running config\(running == 1 ? "" : "s")"
        }
    }
}

/// Every combination of the `values` lists, in file order, per arm; a conditional parameter
/// multiplies only the branches where its `when` holds.
public struct GridSampler: Sampler {
    public let space: SearchSpace

    public init(space: SearchSpace) { self.space = space }

    public func plannedTrials() throws -> [PlannedTrial] {
        let order = space.orderedParameters
        return try space.trials { emit in
            for arm in space.arms {
                func expand(_ index: Int, _ assignment: [String: ConfigValue]) {
                    guard index < order.count else { return emit(assignment, arm) }
                    let parameter = order[index]
                    guard arm?.values[parameter.key] == nil, parameter.conditions.allSatisfy({ $0.holds(in: assignment) }),
                        case .values(let values) = parameter.domain
                    else {
                        return expand(index + 1, assignment)
                    }
                    for value in values {
                        var next = assignment
                        next[parameter.key] = value
                        expand(index + 1, next)
                    }
                }
                expand(0, space.base(arm))
            }
        }
    }
}

extension GridSampler {
    /// How many assignments the grid emits (before identical configs collapse), or `limit + 1`
    /// (`Int.max` at most) once it is past `limit`. Only parameters some condition names are
    /// branched on; the others multiply, so the count costs little even for a grid of 10^15.
    func assignmentCount(upTo limit: Int) -> Int {
        let order = space.orderedParameters
        let named = Set(space.spec.parameters.flatMap { $0.conditions.map(\.key) })
        var total = 0
        for arm in space.arms {
            func count(_ index: Int, _ assignment: [String: ConfigValue], _ multiplier: Int) -> Bool {
                guard index < order.count else {
                    let (sum, overflow) = total.addingReportingOverflow(multiplier)
                    total = sum
                    return !overflow && total <= limit
                }
                let parameter = order[index]
                guard arm?.values[parameter.key] == nil, parameter.conditions.allSatisfy({ $0.holds(in: assignment) }),
                    case .values(let values) = parameter.domain
                else {
                    return count(index + 1, assignment, multiplier)
                }
                guard named.contains(parameter.key) else {
                    let (product, overflow) = multiplier.multipliedReportingOverflow(by: values.count)
                    return !overflow && product <= limit && count(index + 1, assignment, product)
                }
                for value in values {
                    var next = assignment
                    next[parameter.key] = value
                    guard count(index + 1, next, multiplier) else { return false }
                }
                return true
            }
            guard count(0, space.base(arm), 1) else { return limit == .max ? .max : limit + 1 }
        }
        return total
    }
}

/// `count` draws, draw i depending only on (seed, i): every parameter takes exactly one sample per
/// draw, in file order, whatever the conditions, so a larger count keeps the earlier draws.
public struct RandomSampler: Sampler {
    public let space: SearchSpace

    public init(space: SearchSpace) { self.space = space }

    public func plannedTrials() throws -> [PlannedTrial] {
        try space.trials { emit in
            for draw in 0..<(space.spec.count ?? 0) {
                for arm in space.arms { emit(Self.assignment(space, draw: draw, arm: arm), arm) }
            }
        }
    }

    /// An adaptive sampler's start-up configs, planned up front: the first `count` draws of random
    /// search (draw i depends on the seed and i), at most the sweep's `count`.
    static func firstDraws(_ space: SearchSpace, _ count: Int) throws -> [PlannedTrial] {
        try space.trials { emit in
            for draw in 0..<min(count, space.spec.count ?? 0) { emit(assignment(space, draw: draw, arm: nil), nil) }
        }
    }

    /// A model-based sampler's proposal (TPE, GP): random search's draw until `startupTrials`
    /// configs have finished, then `model`'s config from each attempt's own random stream (seeded
    /// by the sweep's seed, `index` and the attempt), untaken as ``untaken(_:index:origin:isTaken:_:)`` finds it.
    static func modelProposal(
        _ space: SearchSpace, index: Int, observations: [Observation], startupTrials: Int, method: ProposalOrigin.Method,
        isTaken: (TrialConfig) -> Bool, _ model: (inout Xoshiro256) -> TrialConfig?
    ) -> Proposal? {
        let finished = observations.filter { $0.outcome != .running }.count
        let warm = observations.filter(\.fromWarmStart).count
        let origin = ProposalOrigin(
            sampler: finished < startupTrials ? .random : method, finished: finished,
            running: observations.count - finished, warmStart: warm > 0 ? warm : nil)
        return untaken(space, index: index, origin: origin, isTaken: isTaken) { attempt in
            var rng = TPESampler.generator(seed: space.spec.seed, index: index, attempt: attempt)
            return origin.sampler == .random
                ? space.config(from: assignment(space, draw: index + attempt * 1_000_003, arm: nil)) : model(&rng)
        }
    }

    /// An adaptive sampler's proposal: up to 16 attempts of `make` (its own config for the
    /// attempt's random stream, nil when it has none) until one is new to the sweep (a small or
    /// discrete space repeats), then random draws past the sweep's own; nil when all are taken.
    static func untaken(
        _ space: SearchSpace, index: Int, origin: ProposalOrigin, isTaken: (TrialConfig) -> Bool, _ make: (_ attempt: Int) -> TrialConfig?
    ) -> Proposal? {
        for attempt in 0..<16 {
            if let config = make(attempt), !isTaken(config) { return Proposal(config: config, origin: origin) }
        }
        for draw in 0..<64 {
            if let config = space.config(from: assignment(space, draw: (index + 1) * 7_919_011 + draw, arm: nil)), !isTaken(config) {
                return Proposal(
                    config: config, origin: ProposalOrigin(sampler: .random, finished: origin.finished, running: origin.running))
            }
        }
        return nil
    }

    /// Draw `draw`'s parameter values under `arm`, conditions applied.
    static func assignment(_ space: SearchSpace, draw: Int, arm: Variant?) -> [String: ConfigValue] {
        var rng = SearchSpace.drawGenerator(seed: space.spec.seed, draw: draw)
        var drawn: [String: ConfigValue] = [:]
        for parameter in space.spec.parameters { drawn[parameter.key] = SearchSpace.sample(parameter.domain, &rng) }
        var assignment = space.base(arm)
        for parameter in space.orderedParameters
        where arm?.values[parameter.key] == nil
            && parameter.conditions.allSatisfy({ $0.holds(in: assignment) })
        {
            assignment[parameter.key] = drawn[parameter.key]
        }
        return assignment
    }
}
