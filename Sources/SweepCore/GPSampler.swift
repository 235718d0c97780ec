import Foundation
import Vocabulary

/// A GP sweep's `gp:` settings, Optuna's `GPSampler` defaults.
public struct GPSettings: Sendable, Equatable {
    /// Configs that must finish before the GP proposes (random draws until then).
    public var startupTrials = 10
    /// Random points the acquisition is evaluated at before the local searches.
    public var candidates = 2048
    /// Local searches of the acquisition: from the best candidate, the best config so far, and
    /// candidates drawn with probability ∝ their expected improvement.
    public var localSearches = 10

    public init() {}
}

/// Gaussian-process Bayesian optimisation, as Optuna 5's `GPSampler` works: log EI with one
/// objective, log EHVI with two to four (Monte Carlo over the boxes the front leaves undominated).
///
/// The first `startup_trials` configs are random search's draws. Then each proposal fits a GP
/// (``GaussianProcess``: Matérn 5/2, a length scale per parameter, hyperparameters by maximum a
/// posteriori under Optuna's priors) to the finished configs in the unit box (`log_uniform` on a
/// log scale; integers and `q_uniform` on their grid widened by half a step; a choice as its index
/// with a 0/1 distance), and maximises log expected improvement over the best score: `candidates`
/// random points, then bounded L-BFGS from the best of them, from the best config so far and from
/// points drawn ∝ EI, alternated with an exhaustive search of each discrete parameter (a line of
/// neighbours past 16 values) until nothing changes.
///
/// With several objectives, a GP per objective, and the acquisition log expected hypervolume
/// improvement over the front of the feasible completed configs (reference point a tenth past
/// every config's worst): 128 normal draws per proposal, each sampled point's overlap with the
/// boxes the front leaves undominated (``Pareto/nonDominatedBoxes(_:reference:)``), with its
/// gradient, so the same L-BFGS maximises it; local searches also start from configs on the front.
///
/// - Running configs (Kriging believer): after the fit, each waiting or running config joins the
///   GP at its posterior mean, which leaves the mean unchanged and shrinks the variance around it,
///   so workers asking together get different configs.
/// - Conditional spaces: the GP models the parameters active in every finished config; the others
///   take TPE's proposal from the same observations (``TPESampler``), and a parameter the GP's
///   choices switch on that TPE's config lacks is drawn as TPE draws it.
/// - Repeats: a config's value is the mean over its seeds; the variance of that mean (from the
///   seeds' spread) is added to the GP's noise at that point.
/// - Pruned configs count at the best score they reached before they were stopped: with a trial's
///   best epoch chosen by that score, what the config would have reached is at least that. (TPE
///   ranks them below every completed config; a GP needs a value, and the worst completed one put
///   configs ASHA stopped at its last rung a hair below the best at the level of the worst.)
/// - Outcome constraints (constrained log EI, as Optuna's): each constraint's margin gets a GP of
///   its own, and the acquisition adds each one's log probability of being met; the improvement is
///   over the best feasible score (with none feasible yet, feasibility alone is sought).
public struct GPSampler: Sampler {
    public let space: SearchSpace
    public let settings: GPSettings
    let tpe: TPESampler

    public init(space: SearchSpace) {
        self.space = space
        settings = space.spec.gp ?? GPSettings()
        tpe = TPESampler(space: space)
    }

    public var configBudget: Int? { space.spec.count }

    /// The startup configs, drawn as random search draws them.
    public func plannedTrials() throws -> [PlannedTrial] { try RandomSampler.firstDraws(space, settings.startupTrials) }

    public func propose(index: Int, observations: [Observation], isTaken: (TrialConfig) -> Bool) -> Proposal? {
        RandomSampler.modelProposal(
            space, index: index, observations: observations, startupTrials: settings.startupTrials, method: .gp, isTaken: isTaken
        ) { tpe.config(from: modelledValues(observations, &$0)) }
    }

    // MARK: The model

    /// One proposal's values (in TPE's keys and representation): TPE's, with the GP's for the
    /// parameters active in every finished config.
    func modelledValues(_ observations: [Observation], _ rng: inout Xoshiro256) -> [Double?] {
        var sampled = tpe.modelledValues(observations, &rng)
        let problem = GPProblem(tpe: tpe, observations: observations, &rng)
        guard let problem, let best = problem.maximizeAcquisition(settings: settings, &rng) else { return sampled }
        for (column, key) in problem.modelled.enumerated() { sampled[key] = problem.external(best[column], column: column) }
        return sampled
    }
}

/// One GP proposal's data: the modelled parameters, the observations in the unit box, and the fitted
/// process conditioned on the running configs.
struct GPProblem {
    /// Indices into the TPE sampler's keys.
    let modelled: [Int]
    let domains: [ModelledDomain]
    let isCategorical: [Bool]
    /// One process per objective, each on its own standardized scores.
    let objectives: [GaussianProcess]
    /// The first objective's process (the only one with one objective).
    var process: GaussianProcess { objectives[0] }
    /// One objective: the best standardized score of a feasible config (the improvement's
    /// threshold; nil when none is feasible, and the acquisition is the probability of feasibility
    /// alone). Nil with several objectives.
    let best: Double?
    /// Several objectives: the hypervolume a point would add to the front of the feasible
    /// completed configs (in standardized scores); nil when none is feasible.
    let improvement: HypervolumeImprovement?
    /// The best configs so far, where local searches start: the best one; with several
    /// objectives, those on the front.
    let bestPoints: [[Double]]
    /// Per outcome constraint, a process of its margin's negation and the standardized value it
    /// must reach (margin 0), as Optuna's constrained log EI models each constraint apart.
    let constraints: [(process: GaussianProcess, threshold: Double)]

    /// Nil when no parameter is active in every finished config, or no config has finished.
    init?(tpe: TPESampler, observations: [Observation], _ rng: inout Xoshiro256) {
        let finished = observations.filter { $0.outcome != .running }
        let rows = finished.map(tpe.internalValues)
        modelled = tpe.keys.indices.filter { key in rows.allSatisfy { $0[key] != nil } }
        guard !modelled.isEmpty, !finished.isEmpty else { return nil }
        domains = modelled.map { tpe.domains[$0] }
        isCategorical = domains.map { domain in
            if case .categorical = domain.kind { return true }
            return false
        }
        let domains = domains, modelled = modelled
        func point(_ row: [Double?]) -> [Double]? {
            var x: [Double] = []
            for (column, key) in modelled.enumerated() {
                guard let value = row[key] else { return nil }
                x.append(Self.unit(value, domains[column]))
            }
            return x
        }
        let points = rows.map { point($0)! }, flat = points.flatMap { $0 }
        // Constraints (when the sweep has them): each margin modelled on its own; the objective then
        // models infeasible configs at their own scores. Without, an infeasible config is held below
        // the worst feasible one, as a pruned config is below the worst completed one.
        let constraintCount = finished.map(\.constraintMargins.count).min() ?? 0
        var constraints: [(process: GaussianProcess, threshold: Double)] = []
        for constraint in 0..<constraintCount {
            // Negated, so larger is better; a missing value (+∞ margin) at the worst seen.
            let negated = finished.map { -$0.constraintMargins[constraint] }
            let worst = negated.filter(\.isFinite).min() ?? 0
            let (values, mean, spread) = Self.standardized(negated.map { $0.isFinite ? $0 : worst })
            if let process = GaussianProcess.fit(points: flat, values: values, isCategorical: isCategorical) {
                constraints.append((process, (0 - mean) / spread))
            }
        }
        self.constraints = constraints
        let feasible = finished.map { $0.violation <= 0 }
        let width =
            finished.map { observation -> Int in
                switch observation.outcome {
                case .completed(let scores), .pruned(_, let scores): scores.count
                case .running: 0
                }
            }.min() ?? 1
        let running = observations.filter { $0.outcome == .running }.compactMap { point(tpe.internalValues($0)) }
        var objectives: [GaussianProcess] = [], columns: [[Double]] = []
        for objective in 0..<max(width, 1) {
            let floor = zip(finished, feasible).compactMap { observation, feasible -> Double? in
                guard feasible, case .completed(let scores) = observation.outcome else { return nil }
                return scores[objective]
            }.min()
            var raw: [Double] = [], noise: [Double] = []
            for (observation, feasible) in zip(finished, feasible) {
                // A pruned config at the best score it reached before it was stopped (a lower bound of
                // what it would have reached when its best epoch is chosen by this score).
                let score: Double
                switch observation.outcome {
                case .completed(let scores), .pruned(_, let scores): score = scores[objective]
                case .running: continue
                }
                raw.append(feasible || !constraints.isEmpty ? score : min(score, floor ?? score))
                noise.append(objective < observation.seedVariance.count ? observation.seedVariance[objective] : 0)
            }
            let (values, _, spread) = Self.standardized(raw)
            guard
                let fitted = GaussianProcess.fit(
                    points: flat, values: values, pointNoise: noise.map { $0 / (spread * spread) }, isCategorical: isCategorical)
            else { return nil }
            // Kriging believer: running configs at the posterior mean.
            let believed = fitted.posterior(running.flatMap { $0 }).means
            objectives.append(running.isEmpty ? fitted : fitted.adding(points: running.flatMap { $0 }, values: believed) ?? fitted)
            columns.append(values)
        }
        self.objectives = objectives
        if columns.count == 1 {
            let values = columns[0]
            let top = values.indices.filter { feasible[$0] || constraints.isEmpty }.max { values[$0] < values[$1] }
            best = top.map { values[$0] }
            bestPoints = [points[top ?? values.indices.max { values[$0] < values[$1] }!]]
            improvement = nil
        } else {
            // The front of the feasible completed configs, and Optuna's reference point (a tenth
            // beyond every config's worst value of each objective, in standardized scores).
            let rows = finished.indices.map { index in columns.map { $0[index] } }
            let eligible = finished.indices.filter { index in
                guard feasible[index] || constraints.isEmpty, case .completed = finished[index].outcome else { return false }
                return true
            }
            let front = zip(eligible, Pareto.fronts(eligible.map { rows[$0] })).filter { $0.1 == 1 }.map(\.0)
            best = nil
            bestPoints = front.isEmpty ? [points[0]] : front.map { points[$0] }
            improvement =
                front.isEmpty
                ? nil
                : HypervolumeImprovement(
                    front: front.map { rows[$0] }, reference: Pareto.nadirReference(rows),
                    draws: (0..<(HypervolumeImprovement.draws * columns.count)).map { _ in rng.nextGaussian() })
        }
    }

    /// Values standardized to mean 0 and standard deviation 1 (at least 10⁻¹⁰), with the two.
    static func standardized(_ raw: [Double]) -> (values: [Double], mean: Double, spread: Double) {
        let mean = raw.reduce(0, +) / Double(raw.count)
        let spread = max((raw.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(raw.count)).squareRoot(), 1e-10)
        return (raw.map { ($0 - mean) / spread }, mean, spread)
    }

    /// A modelled value (TPE's representation) in the unit box.
    static func unit(_ value: Double, _ domain: ModelledDomain) -> Double {
        switch domain.kind {
        case .categorical: return value
        case .numerical(_, _, let log, _):
            let (low, high) = domain.bounds
            guard high > low else { return 0.5 }
            return ((log ? Foundation.log(value) : value) - low) / (high - low)
        }
    }

    /// A point's coordinate back in TPE's representation: on the parameter's grid and range.
    func external(_ unit: Double, column: Int) -> Double {
        switch domains[column].kind {
        case .categorical: return unit
        case .numerical(let low, let high, let log, let step):
            let (lower, upper) = domains[column].bounds
            var value = lower + unit * (upper - lower)
            if log { value = exp(value) }
            if let step { value = low + ((value - low) / step).rounded() * step }
            return min(max(value, low), high)
        }
    }

    /// Snaps a coordinate to where the parameter can be: a choice index, or a grid point's image.
    func snapped(_ unit: Double, column: Int) -> Double {
        switch domains[column].kind {
        case .categorical(let count): return min(max(unit.rounded(.down), 0), Double(count - 1))
        case .numerical(_, _, _, let step): return step == nil ? unit : Self.unit(external(unit, column: column), domains[column])
        }
    }

    /// The values a discrete coordinate can take (in the unit box), nil for a continuous one.
    func grid(column: Int) -> [Double]? {
        switch domains[column].kind {
        case .categorical(let count): return (0..<count).map(Double.init)
        case .numerical(let low, let high, _, let step):
            guard let step else { return nil }
            let count = Int(((high - low) / step).rounded()) + 1
            return (0..<count).map { Self.unit(low + Double($0) * step, domains[column]) }
        }
    }

    // MARK: The acquisition

    /// The acquisition at each point: log EI over the best feasible score (with several
    /// objectives, log EHVI over the feasible front), plus each constraint's log probability of
    /// being met (without a feasible config, those alone).
    func acquisition(_ points: [Double]) -> [Double] {
        var total = [Double](repeating: 0, count: points.count / max(domains.count, 1))
        if let improvement {
            let posteriors = objectives.map { $0.posterior(points) }
            for i in total.indices {
                total[i] =
                    improvement.logExpected(
                        means: posteriors.map { $0.means[i] }, deviations: posteriors.map { Self.deviation($0.variances[i]) },
                        withGradient: false
                    ).value
            }
        } else if let best {
            let (means, variances) = process.posterior(points)
            for i in total.indices { total[i] = LogExpectedImprovement.value(mean: means[i], variance: variances[i], best: best) }
        }
        for (constraint, threshold) in constraints {
            let (means, variances) = constraint.posterior(points)
            for i in total.indices {
                total[i] += LogExpectedImprovement.logCDF((means[i] - threshold) / max(variances[i], 1e-20).squareRoot()).value
            }
        }
        return total
    }

    /// A posterior standard deviation, with Optuna's stabilizing noise (10⁻¹²) in the variance.
    static func deviation(_ variance: Double) -> Double { (variance + 1e-12).squareRoot() }

    /// The acquisition at one point and its gradient in the continuous coordinates.
    func acquisitionWithGradient(_ x: [Double]) -> (value: Double, gradient: [Double]) {
        var value = 0.0, gradient = [Double](repeating: 0, count: x.count)
        // A term log g(z), z = (μ − t)/σ, adds log g and g′/g·dz, dz = (dμ − z·dσ)/σ, dσ = dvar/(2σ);
        // log EI adds log σ as well.
        func add(_ process: GaussianProcess, threshold: Double, _ term: (Double) -> (value: Double, derivative: Double), withScale: Bool) {
            let p = process.posteriorWithGradient(x)
            let sigma = max(p.variance, 1e-20).squareRoot(), z = (p.mean - threshold) / sigma
            let (logValue, slope) = term(z)
            value += logValue + (withScale ? log(sigma) : 0)
            for d in x.indices {
                let dSigma = p.varianceGradient[d] / (2 * sigma)
                gradient[d] += (withScale ? dSigma / sigma : 0) + slope * (p.meanGradient[d] - z * dSigma) / sigma
            }
        }
        if let improvement {
            // log EHVI: through each objective's mean and deviation.
            let posteriors = objectives.map { $0.posteriorWithGradient(x) }
            let deviations = posteriors.map { Self.deviation($0.variance) }
            let ehvi = improvement.logExpected(means: posteriors.map(\.mean), deviations: deviations)
            value += ehvi.value
            for (objective, p) in posteriors.enumerated() {
                for d in x.indices {
                    gradient[d] +=
                        ehvi.byMean[objective] * p.meanGradient[d] + ehvi.byDeviation[objective] * p.varianceGradient[d]
                        / (2 * deviations[objective])
                }
            }
        } else if let best {
            add(process, threshold: best, LogExpectedImprovement.logH, withScale: true)
        }
        for (constraint, threshold) in constraints {
            add(constraint, threshold: threshold, LogExpectedImprovement.logCDF, withScale: false)
        }
        return (value, gradient)
    }

    /// The point with the largest acquisition found: random candidates, then local searches.
    func maximizeAcquisition(settings: GPSettings, _ rng: inout Xoshiro256) -> [Double]? {
        let d = domains.count
        let choices = (0..<d).map { column -> Double? in isCategorical[column] ? Double(grid(column: column)?.count ?? 1) : nil }
        var candidates = [Double](repeating: 0, count: settings.candidates * d)
        for index in 0..<settings.candidates {
            for column in 0..<d {
                let u = rng.nextUniform()
                candidates[index * d + column] = snapped(choices[column].map { u * $0 } ?? u, column: column)
            }
        }
        let values = acquisition(candidates)
        guard let top = values.indices.max(by: { values[$0] < values[$1] }) else { return nil }
        // Starts: the best candidate; the best config so far (with several objectives, up to half the
        // searches from configs on the front, at random, as Optuna); then a roulette ∝
        // exp(acquisition − max).
        var starts = [Array(candidates[(top * d)..<((top + 1) * d)])]
        var front = bestPoints
        for _ in 0..<min(front.count, max(1, settings.localSearches / 2)) {
            starts.append(front.remove(at: rng.nextIndex(below: front.count)))
        }
        var weights = values.map { exp($0 - values[top]) }
        weights[top] = 0
        for _ in 0..<max(0, settings.localSearches - starts.count) {
            let total = weights.reduce(0, +)
            guard total > 0, total.isFinite else { break }
            var u = rng.nextUniform() * total, chosen = weights.count - 1
            for (index, weight) in weights.enumerated() {
                u -= weight
                if u <= 0 && weight > 0 {
                    chosen = index
                    break
                }
            }
            weights[chosen] = 0
            starts.append(Array(candidates[(chosen * d)..<((chosen + 1) * d)]))
        }
        var best: (point: [Double], value: Double)?
        for start in starts {
            let found = localSearch(from: start)
            if best.map({ found.value > $0.value }) ?? true { best = found }
        }
        return best?.point
    }

    /// Alternates bounded L-BFGS over the continuous coordinates (scaled by their length scales,
    /// as Optuna preconditions) with a search of each discrete coordinate, until neither moves.
    func localSearch(from start: [Double]) -> (point: [Double], value: Double) {
        let d = domains.count
        let continuous = (0..<d).filter { grid(column: $0) == nil }
        let grids = (0..<d).map { grid(column: $0) }
        // Optuna's preconditioning: with several objectives, the mean of their inverse squared
        // length scales.
        let scales = continuous.map { column in
            let inverse = objectives.map { $0.hyperparameters.inverseSquaredLengthscales[column] }.reduce(0, +)
            return 1 / (inverse / Double(objectives.count)).squareRoot()
        }
        var x = start, value = acquisition(x)[0]
        for _ in 0..<100 {
            var moved = false
            if !continuous.isEmpty {
                var search = BoundedLBFGS(lower: Array(repeating: 0, count: continuous.count), upper: scales.map { 1 / $0 })
                search.gradientTolerance = 1e-2
                search.maximumIterations = 200
                let scaledStart = continuous.indices.map { x[continuous[$0]] / scales[$0] }
                let result = search.minimize(from: scaledStart) { scaled, gradient in
                    var point = x
                    for (i, column) in continuous.enumerated() { point[column] = scaled[i] * scales[i] }
                    let (v, g) = acquisitionWithGradient(point)
                    for (i, column) in continuous.enumerated() { gradient[i] = -g[column] * scales[i] }
                    return v.isFinite ? -v : .infinity
                }
                if -result.value > value + 1e-12 {
                    for (i, column) in continuous.enumerated() { x[column] = result.x[i] * scales[i] }
                    value = -result.value
                    moved = result.iterations > 0
                }
            }
            for column in 0..<d {
                guard let grid = grids[column], grid.count > 1 else { continue }
                var tries: [Double]
                if grid.count <= 16 {
                    tries = grid.filter { $0 != x[column] }
                } else {
                    // A line of neighbours: one, two, four … steps either way.
                    let here = grid.indices.min { abs(grid[$0] - x[column]) < abs(grid[$1] - x[column]) } ?? 0
                    tries = []
                    var step = 1
                    while step < grid.count {
                        if here - step >= 0 { tries.append(grid[here - step]) }
                        if here + step < grid.count { tries.append(grid[here + step]) }
                        step *= 2
                    }
                }
                var points: [Double] = []
                for value in tries {
                    var point = x
                    point[column] = value
                    points += point
                }
                let values = acquisition(points)
                if let top = values.indices.max(by: { values[$0] < values[$1] }), values[top] > value + 1e-12 {
                    x[column] = tries[top]
                    value = values[top]
                    moved = true
                }
            }
            if !moved { break }
        }
        return (x, value)
    }
}

/// The hypervolume a point adds to a front, in expectation over a posterior: the boxes the front
/// leaves undominated above a reference point, and fixed standard normal draws (a row of one per
/// objective per draw, fixed for a proposal so that the estimate is smooth in the point).
struct HypervolumeImprovement {
    /// Draws of the Monte Carlo estimate (Optuna's and BoTorch's 128).
    static let draws = 128
    /// The least a sampled point's overlap with a box counts in each coordinate (Optuna's 10⁻¹²):
    /// log EHVI stays finite, and its gradient defined, where a point adds nothing.
    static let tiny = 1e-12

    let objectives: Int, boxes: Int
    /// The boxes' lower corners and widths (at least ``tiny``, +∞ where unbounded), a row per
    /// objective (so that the loop over boxes runs in SIMD).
    let lower: [Double], width: [Double]
    let draws: [Double]

    init(front: [[Double]], reference: [Double], draws: [Double]) {
        let boxes = Pareto.nonDominatedBoxes(front, reference: reference)
        objectives = reference.count
        self.boxes = boxes.count
        lower = (0..<objectives).flatMap { i in boxes.map { $0.lower[i] } }
        width = (0..<objectives).flatMap { i in boxes.map { max($0.upper[i] - $0.lower[i], Self.tiny) } }
        self.draws = draws
    }

    /// log EHVI at a point from each objective's posterior mean and standard deviation: the log of
    /// the mean over the draws of the hypervolume the sampled scores add (the overlap with each
    /// box, every coordinate clamped to [``tiny``, the box's width], as Optuna's `logehvi`), with
    /// its derivatives in each mean and each deviation when `withGradient` (else zeros).
    func logExpected(means: [Double], deviations: [Double], withGradient: Bool = true) -> (
        value: Double, byMean: [Double], byDeviation: [Double]
    ) {
        let m = objectives, count = boxes, rows = draws.count / m
        var total = 0.0, byMean = [Double](repeating: 0, count: m), byDeviation = byMean
        var overlap = [Double](repeating: 0, count: m * count), volume = [Double](repeating: 0, count: count)
        lower.withUnsafeBufferPointer { lower in
            width.withUnsafeBufferPointer { width in
                overlap.withUnsafeMutableBufferPointer { overlap in
                    volume.withUnsafeMutableBufferPointer { volume in
                        // Per objective, its row of lower corners, widths and overlaps.
                        let lows = (0..<m).map { lower.baseAddress! + $0 * count }
                        let widths = (0..<m).map { width.baseAddress! + $0 * count }
                        let overlaps = (0..<m).map { overlap.baseAddress! + $0 * count }
                        let volumes = volume.baseAddress!
                        for row in 0..<rows {
                            for i in 0..<m {
                                let y = means[i] + deviations[i] * draws[row * m + i]
                                let (low, width, overlap) = (lows[i], widths[i], overlaps[i])
                                for box in 0..<count { overlap[box] = min(max(y - low[box], Self.tiny), width[box]) }
                                if i == 0 {
                                    for box in 0..<count { volumes[box] = overlap[box] }
                                } else {
                                    for box in 0..<count { volumes[box] *= overlap[box] }
                                }
                            }
                            total += Self.sum(volume)
                            guard withGradient else { continue }
                            // ∂volume/∂y_i = volume / overlap_i where the clamp lets y_i move.
                            for i in 0..<m {
                                let y = means[i] + deviations[i] * draws[row * m + i]
                                let (low, width, overlap) = (lows[i], widths[i], overlaps[i])
                                var slope = 0.0
                                for box in 0..<count {
                                    let raw = y - low[box]
                                    if raw > Self.tiny && raw < width[box] { slope += volumes[box] / overlap[box] }
                                }
                                byMean[i] += slope
                                byDeviation[i] += slope * draws[row * m + i]
                            }
                        }
                    }
                }
            }
        }
        return (log(total / Double(rows)), byMean.map { $0 / total }, byDeviation.map { $0 / total })
    }

    /// A sum in four lanes, which the compiler may keep in vector registers.
    static func sum(_ values: UnsafeMutableBufferPointer<Double>) -> Double {
        var lanes = (0.0, 0.0, 0.0, 0.0), index = 0
        while index + 4 <= values.count {
            lanes.0 += values[index]
            lanes.1 += values[index + 1]
            lanes.2 += values[index + 2]
            lanes.3 += values[index + 3]
            index += 4
        }
        var total = (lanes.0 + lanes.1) + (lanes.2 + lanes.3)
        while index < values.count {
            total += values[index]
            index += 1
        }
        return total
    }
}
