import Foundation
import Vocabulary

/// One searched parameter as TPE models it, in its internal representation: a categorical index,
/// or a number (in log space for `log_uniform`; on a grid of `step` for `int_uniform` and
/// `q_uniform`).
struct ModelledDomain: Sendable, Equatable {
    enum Kind: Sendable, Equatable {
        case categorical(count: Int)
        case numerical(low: Double, high: Double, log: Bool, step: Double?)
    }

    var kind: Kind

    init?(_ domain: Domain) {
        switch domain {
        case .values(let values):
            guard values.count > 1 else { return nil }  // a single value is no parameter to model
            kind = .categorical(count: values.count)
        case .uniform(let low, let high): kind = .numerical(low: low, high: high, log: false, step: nil)
        case .logUniform(let low, let high): kind = .numerical(low: low, high: high, log: true, step: nil)
        case .intUniform(let low, let high):
            guard high > low else { return nil }
            kind = .numerical(low: Double(low), high: Double(high), log: false, step: 1)
        case .qUniform(let low, let high, let q): kind = .numerical(low: low, high: high, log: false, step: q)
        }
    }

    /// The interval the kernels live on, in the transformed space: widened by half a step on a grid.
    var bounds: (low: Double, high: Double) {
        guard case .numerical(var low, var high, let log, let step) = kind else { return (0, 0) }
        if let step {
            low -= step / 2
            high += step / 2
        }
        return log ? (Foundation.log(low), Foundation.log(high)) : (low, high)
    }
}

/// Optuna's Parzen estimator (TPE's l(x) and g(x)), as `optuna/samplers/_tpe/parzen_estimator.py`
/// builds it: a mixture with one component per observation (weights flat for the 25 most recent,
/// a ramp before them) plus a prior component of weight `priorWeight`. In every component each
/// parameter has its own kernel: a normal truncated to the parameter's range, centred on the
/// observation (the prior's on the middle, as wide as the range), its width the larger gap to a
/// neighbouring observation, clipped to [range / min(100, 1 + kernels), range]; or, for a
/// categorical parameter, the observed choice with the prior's mass spread over all choices. With
/// several parameters, one component is drawn for all of them (multivariate TPE).
struct ParzenEstimator {
    let domains: [ModelledDomain]
    /// log weight of each component (observations, then the prior).
    let logWeights: [Double]
    let components: Int
    /// Per parameter, flat over components: for a number, each kernel's centre, width and the
    /// constant of its log density (−log σ − log √(2π) − log mass of the truncation; on a grid,
    /// −log mass); for a categorical parameter, each component's own choice.
    private let parameters: [Kernels]

    struct Kernels {
        var mu: [Double] = []
        var sigma: [Double] = []
        var constant: [Double] = []
        /// A categorical parameter: each observation's choice (−1 for the prior), and the log
        /// probability its kernel gives its own choice, any other choice, and every choice (prior).
        var choice: [Int] = []
        var logChosen = 0.0, logOther = 0.0, logUniform = 0.0
        var choices = 0
    }

    /// - Parameter observations: each observation's values in internal representation, ordered
    ///   by trial number (the oldest first, which the weight ramp needs).
    init(observations: [[Double]], domains: [ModelledDomain], priorWeight: Double = 1) {
        self.init(
            columns: domains.indices.map { index in observations.map { $0[index] } }, count: observations.count,
            domains: domains, priorWeight: priorWeight)
    }

    /// The same from one column of values per parameter (each `count` long).
    init(columns: [[Double]], count n: Int, domains: [ModelledDomain], priorWeight: Double = 1) {
        self.domains = domains
        // numpy's linspace(1/n, 1, n − 25), then 25 ones.
        var weights: [Double] =
            n < 25
            ? Array(repeating: 1, count: n)
            : (0..<(n - 25)).map { index in
                n == 26 ? 1.0 / Double(n) : 1.0 / Double(n) + (1 - 1.0 / Double(n)) * Double(index) / Double(n - 26)
            }
                + Array(repeating: 1, count: 25)
        weights.append(n == 0 ? 1 : priorWeight)
        let total = weights.reduce(0, +)
        logWeights = weights.map { log($0 / total) }
        components = weights.count
        parameters = domains.enumerated().map { index, domain in Self.kernels(columns[index], domain, priorWeight: priorWeight) }
    }

    static func kernels(_ values: [Double], _ domain: ModelledDomain, priorWeight: Double) -> Kernels {
        var kernels = Kernels()
        switch domain.kind {
        case .categorical(let count):
            // Each observation's kernel: prior/(n + 1) on every choice, plus 1 on its own, normalised.
            kernels.choices = count
            kernels.choice = values.map { Int($0) } + [-1]
            let base = priorWeight / Double(values.count + 1), sum = base * Double(count) + 1
            kernels.logChosen = log((base + 1) / sum)
            kernels.logOther = log(base / sum)
            kernels.logUniform = log(1 / Double(count))
        case .numerical(_, _, let isLog, let step):
            let (low, high) = domain.bounds
            let mus: [Double] = isLog ? values.map { log($0) } : values
            var sigmas = [Double](repeating: high - low, count: mus.count)
            if !mus.isEmpty {
                let order = mus.indices.sorted { mus[$0] < mus[$1] }
                let sorted: [Double] = [low] + order.map { mus[$0] } + [high]
                var sortedSigmas: [Double] = (1..<(sorted.count - 1)).map { (index: Int) -> Double in
                    let left: Double = sorted[index] - sorted[index - 1], right: Double = sorted[index + 1] - sorted[index]
                    return max(left, right)
                }
                if sorted.count >= 4 {  // the outermost observations look only inwards (consider_endpoints off)
                    sortedSigmas[0] = sorted[2] - sorted[1]
                    sortedSigmas[sortedSigmas.count - 1] = sorted[sorted.count - 2] - sorted[sorted.count - 3]
                }
                let minimum = (high - low) / min(100, 1 + Double(mus.count + 1)), maximum = high - low
                for (rank, index) in order.enumerated() { sigmas[index] = min(max(sortedSigmas[rank], minimum), maximum) }
            }
            kernels.mu = mus + [(low + high) / 2]
            kernels.sigma = sigmas + [high - low]
            kernels.constant = zip(kernels.mu, kernels.sigma).map { mu, sigma in
                let logMass = TruncatedNormal.logMass((low - mu) / sigma, (high - mu) / sigma)
                return step == nil ? -log(sigma) - TruncatedNormal.logRootTwoPi - logMass : -logMass
            }
        }
        return kernels
    }

    /// `count` draws, in internal representation.
    func sample(_ count: Int, _ rng: inout Xoshiro256) -> [[Double]] {
        let weights = logWeights.map(exp)
        return (0..<count).map { _ in
            var u = rng.nextUniform(), component = weights.count - 1
            for (index, weight) in weights.enumerated() {
                u -= weight
                if u < 0 {
                    component = index
                    break
                }
            }
            return domains.indices.map { parameter in
                let kernels = parameters[parameter]
                if kernels.choices > 0 {
                    let own = kernels.choice[component]
                    var u = rng.nextUniform(), choice = kernels.choices - 1
                    for index in 0..<kernels.choices {
                        u -= exp(own < 0 ? kernels.logUniform : index == own ? kernels.logChosen : kernels.logOther)
                        if u < 0 {
                            choice = index
                            break
                        }
                    }
                    return Double(choice)
                }
                let (low, high) = domains[parameter].bounds
                let (mu, sigma) = (kernels.mu[component], kernels.sigma[component])
                let z = TruncatedNormal.sample(a: (low - mu) / sigma, b: (high - mu) / sigma, u: rng.nextUniform())
                return Self.external(mu + sigma * z, domains[parameter])
            }
        }
    }

    /// From the kernel's space to the parameter's own: out of log space, onto the grid.
    static func external(_ value: Double, _ domain: ModelledDomain) -> Double {
        guard case .numerical(let low, let high, let isLog, let step) = domain.kind else { return value }
        var x = isLog ? exp(value) : value
        if let step { x = low + ((x - low) / step).rounded() * step }
        return min(max(x, low), high)
    }

    /// log of the mixture's density (a probability mass for grid and categorical parameters) at `x`.
    func logDensity(_ x: [Double]) -> Double {
        var terms = logWeights
        terms.withUnsafeMutableBufferPointer { terms in
            for (parameter, domain) in domains.enumerated() {
                let kernels = parameters[parameter], value = x[parameter]
                switch domain.kind {
                case .categorical:
                    let choice = Int(value), (chosen, other, uniform) = (kernels.logChosen, kernels.logOther, kernels.logUniform)
                    kernels.choice.withUnsafeBufferPointer { own in
                        for component in 0..<components {
                            terms[component] += own[component] < 0 ? uniform : own[component] == choice ? chosen : other
                        }
                    }
                case .numerical(_, _, let isLog, let step):
                    kernels.mu.withUnsafeBufferPointer { mu in
                        kernels.sigma.withUnsafeBufferPointer { sigma in
                            kernels.constant.withUnsafeBufferPointer { constant in
                                if let step {
                                    let left = isLog ? log(value - step / 2) : value - step / 2
                                    let right = isLog ? log(value + step / 2) : value + step / 2
                                    for component in 0..<components {
                                        terms[component] +=
                                            TruncatedNormal.logMass(
                                                (left - mu[component]) / sigma[component],
                                                (right - mu[component]) / sigma[component]) + constant[component]
                                    }
                                } else {
                                    let v = isLog ? log(value) : value
                                    for component in 0..<components {
                                        let z = (v - mu[component]) / sigma[component]
                                        terms[component] += -0.5 * z * z + constant[component]
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        let top = terms.max() ?? 0
        guard top.isFinite else { return top }
        return top + log(terms.reduce(0) { $0 + exp($1 - top) })
    }
}

/// The standard normal truncated to [a, b]: stable log masses and inverse-CDF sampling.
enum TruncatedNormal {
    static let logRootTwoPi = 0.5 * log(2 * Double.pi)

    /// Φ(x), accurate in both tails.
    static func cdf(_ x: Double) -> Double { 0.5 * erfc(-x / 2.0.squareRoot()) }

    /// log(Φ(b) − Φ(a)), computed on the side where the difference does not cancel.
    static func logMass(_ a: Double, _ b: Double) -> Double {
        if a > 0 { return logMass(-b, -a) }
        if b <= 0 {
            let (upper, lower) = (cdf(b), cdf(a))
            return log(upper) + log1p(-lower / upper)
        }
        return log1p(-cdf(a) - cdf(-b))
    }

    /// The quantile `u` ∈ [0, 1) of the standard normal truncated to [a, b].
    static func sample(a: Double, b: Double, u: Double) -> Double {
        if a > 0 { return -sample(a: -b, b: -a, u: 1 - u) }  // the left tail keeps its precision
        let (lower, upper) = (cdf(a), cdf(b))
        let z = quantile(lower + u * (upper - lower))
        return min(max(z, a), b)
    }

    /// Φ⁻¹(p): Acklam's rational approximation, refined by one Halley step.
    static func quantile(_ p: Double) -> Double {
        guard p > 0 else { return -.infinity }
        guard p < 1 else { return .infinity }
        let a = [
            -3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02, 1.383577518672690e+02, -3.066479806614716e+01,
            2.506628277459239e+00,
        ]
        let b = [-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01, -1.328068155288572e+01]
        let c = [
            -7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00, -2.549732539343734e+00, 4.374664141464968e+00,
            2.938163982698783e+00,
        ]
        let d = [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00]
        var x: Double
        if p < 0.02425 {
            let q = (-2 * log(p)).squareRoot()
            x =
                (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5])
                / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
        } else if p <= 1 - 0.02425 {
            let q = p - 0.5, r = q * q
            x =
                (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q
                / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
        } else {
            let q = (-2 * log1p(-p)).squareRoot()
            x =
                -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5])
                / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
        }
        let error = cdf(x) - p
        let step = error * (2 * Double.pi).squareRoot() * exp(x * x / 2)
        x -= step / (1 + x * step / 2)
        return x
    }
}
