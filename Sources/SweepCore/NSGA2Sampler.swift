import Foundation
import Vocabulary

/// A sweep's `nsga2:` settings, with the defaults of Optuna's `NSGAIISampler`.
public struct NSGA2Settings: Sendable, Equatable {
    /// How a child's values come from its two parents.
    public enum Crossover: String, Sendable, CaseIterable {
        /// Each value from one parent or the other (Optuna's default `UniformCrossover`).
        case uniform
        /// Simulated binary crossover for numbers (Deb and Agrawal 1995; log scale for log
        /// ranges), uniform for choices.
        case sbx
    }

    /// Configs per generation; the first generation is random search's first draws.
    public var population = 50
    public var crossover = Crossover.uniform
    /// The chance a child comes from two parents (else it copies one).
    public var crossoverProbability = 0.9
    /// Uniform crossover: the chance each value comes from the second parent.
    public var swappingProbability = 0.5
    /// The chance each value is drawn afresh; nil: 1 / the number of searched parameters.
    public var mutationProbability: Double?
    /// SBX's distribution index (larger: children nearer their parents); Optuna uses 2 with
    /// several objectives and 20 with one, as here when it is not given.
    public var sbxEta: Double?

    public init() {}
}

/// NSGA-II (Deb et al. 2002) as Optuna's `NSGAIISampler` works, asynchronously: config i belongs
/// to generation ⌊i / population⌋. Generation 0 is random search's first draws (planned up front,
/// as TPE's startup draws are). A config of a later generation is bred from the parents: the
/// `population` best completed configs of the earlier generations, ranked feasible first by
/// non-dominated front and crowding distance (``Pareto/rank(_:)``), then infeasible ones by
/// constraint violation (Deb's constrained domination). Two binary tournaments pick the parents
/// (of two random candidates the dominating one, else either); with `crossover_prob` they are
/// crossed, else the first is copied; then each searched value is drawn afresh with
/// `mutation_prob`. A parameter its parents lack (inactive there) is drawn afresh when the child
/// needs it. Elitism over every earlier generation at once is Optuna's over the previous parent
/// population and generation, since that population was itself the elite of the ones before.
public struct NSGA2Sampler: Sampler {
    public let space: SearchSpace
    public let settings: NSGA2Settings

    public init(space: SearchSpace) {
        self.space = space
        settings = space.spec.nsga2 ?? NSGA2Settings()
    }

    public var configBudget: Int? { space.spec.count }

    /// Generation 0: the first `population` draws of random search.
    public func plannedTrials() throws -> [PlannedTrial] { try RandomSampler.firstDraws(space, settings.population) }

    public func propose(index: Int, observations: [Observation], isTaken: (TrialConfig) -> Bool) -> Proposal? {
        let generation = index / settings.population
        let parents = self.parents(Array(observations.prefix(generation * settings.population)))
        let finished = observations.filter { $0.outcome != .running }.count
        let origin = ProposalOrigin(
            sampler: parents.count >= 2 ? .nsga2 : .random, finished: finished, running: observations.count - finished)
        return RandomSampler.untaken(space, index: index, origin: origin, isTaken: isTaken) { attempt in
            var rng = TPESampler.generator(seed: space.spec.seed, index: index, attempt: attempt)
            let drawn = RandomSampler.assignment(space, draw: index + attempt * 1_000_003, arm: nil)
            return space.config(from: origin.sampler == .nsga2 ? child(of: parents, &rng, fresh: drawn) : drawn)
        }
    }

    /// The parents: the best `population` completed configs of `earlier`, best first, with the
    /// scores and violation each is compared by.
    func parents(_ earlier: [Observation]) -> [(config: TrialConfig, scores: [Double], violation: Double)] {
        var feasible: [(TrialConfig, [Double])] = [], infeasible: [(TrialConfig, [Double], Double)] = []
        for observation in earlier {
            guard case .completed(let scores) = observation.outcome else { continue }
            if observation.violation > 0 {
                infeasible.append((observation.config, scores, observation.violation))
            } else {
                feasible.append((observation.config, scores))
            }
        }
        let order = Pareto.rank(feasible.map(\.1)).order
        let ranked =
            order.map { (feasible[$0].0, feasible[$0].1, 0.0) }
            + infeasible.enumerated().sorted { ($0.element.2, $0.offset) < ($1.element.2, $1.offset) }.map(\.element)
        return Array(ranked.prefix(settings.population)).map { (config: $0.0, scores: $0.1, violation: $0.2) }
    }

    /// Deb's constrained domination: feasible beats infeasible, less violation beats more, and
    /// between feasible ones Pareto dominance.
    static func beats(_ a: (scores: [Double], violation: Double), _ b: (scores: [Double], violation: Double)) -> Bool {
        if a.violation == 0 && b.violation == 0 { return Pareto.dominates(a.scores, b.scores) }
        return a.violation < b.violation
    }

    /// A binary tournament: two distinct random parents, the one that beats the other, else either.
    func tournament(_ parents: [(config: TrialConfig, scores: [Double], violation: Double)], _ rng: inout Xoshiro256) -> Int {
        let first = Int(rng.next() % UInt64(parents.count))
        var second = Int(rng.next() % UInt64(parents.count - 1))
        if second >= first { second += 1 }
        let (a, b) = ((parents[first].scores, parents[first].violation), (parents[second].scores, parents[second].violation))
        if Self.beats(a, b) { return first }
        if Self.beats(b, a) { return second }
        return rng.nextUniform() < 0.5 ? first : second
    }

    /// One child's assignment: crossed (or copied) from two tournament winners, then mutated,
    /// its values taken in the file's dependency order so a `when` sees the values it depends on;
    /// `fresh` is a random draw, for mutations and for values its parents lack.
    func child(
        of parents: [(config: TrialConfig, scores: [Double], violation: Double)], _ rng: inout Xoshiro256,
        fresh: [String: ConfigValue]
    ) -> [String: ConfigValue] {
        let first = parents[tournament(parents, &rng)].config
        var second = first
        for _ in 0..<4 {
            second = parents[tournament(parents, &rng)].config
            if second != first { break }
        }
        let crossing = rng.nextUniform() < settings.crossoverProbability
        let searched = space.spec.parameters.filter { parameter in
            if case .values(let values) = parameter.domain { return values.count > 1 }
            return true
        }
        let mutation = settings.mutationProbability ?? 1 / Double(max(searched.count, 1))
        let eta = settings.sbxEta ?? (space.spec.ranking.isMultiObjective ? 2 : 20)
        var assignment = space.base(nil)
        for parameter in space.orderedParameters where parameter.conditions.allSatisfy({ $0.holds(in: assignment) }) {
            let key = parameter.key
            let a = first.isActive(key) ? first.value(key) : nil, b = second.isActive(key) ? second.value(key) : nil
            var value: ConfigValue?
            if crossing {
                switch (a, b, settings.crossover) {
                case let (x?, y?, .sbx):
                    value = Self.simulatedBinaryCrossover(x, y, parameter.domain, eta: eta, &rng)
                case (_, _, .uniform), (_, _, .sbx):
                    value = rng.nextUniform() < settings.swappingProbability ? (b ?? a) : (a ?? b)
                }
            } else {
                value = a
            }
            if value == nil || rng.nextUniform() < mutation { value = fresh[key] ?? value }
            if let value, parameter.domain.contains(value) {
                assignment[key] = value
            } else {
                assignment[key] = fresh[key]
            }
        }
        return assignment
    }

    /// SBX of two numbers in `domain` (on a log scale for a log range); a choice is either parent's.
    static func simulatedBinaryCrossover(
        _ x: ConfigValue, _ y: ConfigValue, _ domain: Domain, eta: Double, _ rng: inout Xoshiro256
    ) -> ConfigValue {
        let u = rng.nextUniform()
        let beta = u <= 0.5 ? pow(2 * u, 1 / (eta + 1)) : pow(1 / (2 * (1 - u)), 1 / (eta + 1))
        func cross(_ p: Double, _ q: Double) -> Double {
            rng.nextUniform() < 0.5 ? 0.5 * ((1 + beta) * p + (1 - beta) * q) : 0.5 * ((1 - beta) * p + (1 + beta) * q)
        }
        func rounded(_ value: Double) -> ConfigValue { .double(Double(String(format: "%.6g", value)) ?? value) }
        guard let p = x.number, let q = y.number else { return rng.nextUniform() < 0.5 ? x : y }
        switch domain {
        case .values: return rng.nextUniform() < 0.5 ? x : y
        case .uniform(let low, let high): return rounded(min(max(cross(p, q), low), high))
        case .logUniform(let low, let high): return rounded(min(max(exp(cross(log(p), log(q))), low), high))
        case .intUniform(let low, let high): return .int(min(max(Int(cross(p, q).rounded()), low), high))
        case .qUniform(let low, let high, let step):
            return rounded(min(max(low + ((cross(p, q) - low) / step).rounded() * step, low), high))
        }
    }
}
