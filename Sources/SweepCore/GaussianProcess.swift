import Foundation
import ML

/// A Gaussian process over points in the unit box, as Optuna's `GPSampler` builds it
/// (`optuna/_gp/gp.py`): a Matérn 5/2 kernel with one length scale per dimension, k(x, x′) =
/// s · m(r²), r² = Σ λ_d δ_d², where δ_d is the difference for a number and 1 or 0 (choices differ
/// or not) for a categorical dimension; observation noise σ² on the diagonal, plus each point's own
/// known noise (the variance of a mean over repeat seeds). Values are standardized by the caller.
///
/// The kernel matrix's Cholesky factor comes from LAPACK's `dpotrf` in OpenBLAS; solves with it
/// from `dpotrs` and BLAS's `dtrsm` (through ``BLAS``, on the caller's thread).
struct GaussianProcess {
    /// The kernel's parameters: λ_d (1/ℓ_d²), the scale s and the fitted noise σ².
    struct Hyperparameters: Equatable {
        var inverseSquaredLengthscales: [Double]
        var kernelScale: Double
        var noiseVariance: Double

        /// Optuna's starting point: every parameter 1.
        static func initial(dimensions: Int) -> Hyperparameters {
            Hyperparameters(inverseSquaredLengthscales: Array(repeating: 1, count: dimensions), kernelScale: 1, noiseVariance: 1)
        }
    }

    /// Optuna's floor on the fitted noise (`DEFAULT_MINIMUM_NOISE_VAR`).
    static let minimumNoise = 1e-6

    let dimensions: Int
    let isCategorical: [Bool]
    /// count × dimensions, row-major.
    let points: [Double]
    let values: [Double]
    /// Each point's own noise variance, added to σ².
    let pointNoise: [Double]
    let hyperparameters: Hyperparameters
    var count: Int { values.count }
    /// The lower Cholesky factor of K + noise, column-major.
    private let factor: [Double]
    /// (K + noise)⁻¹ y.
    private let weights: [Double]

    /// The process with these hyperparameters, or nil when its kernel matrix is not positive definite.
    init?(points: [Double], values: [Double], pointNoise: [Double]? = nil, isCategorical: [Bool], hyperparameters: Hyperparameters) {
        dimensions = isCategorical.count
        self.isCategorical = isCategorical
        self.points = points
        self.values = values
        self.pointNoise = pointNoise ?? Array(repeating: 0, count: values.count)
        self.hyperparameters = hyperparameters
        var matrix = Self.covariance(
            points, count: values.count, isCategorical: isCategorical, hyperparameters, pointNoise: self.pointNoise, derivative: nil)
        guard Self.choleskyInPlace(&matrix, count: values.count) else { return nil }
        factor = matrix
        weights = Self.solve(factor: matrix, count: values.count, values)
    }

    // MARK: The kernel

    /// Matérn 5/2 of a squared distance t and its derivative in t.
    static func matern52(_ t: Double) -> (value: Double, derivative: Double) {
        let root = (5 * t).squareRoot(), decay = exp(-root)
        return ((1 + root + 5.0 / 3.0 * t) * decay, -5.0 / 6.0 * (1 + root) * decay)
    }

    /// The kernel matrix of `points` plus the noise on its diagonal, column-major (symmetric); and,
    /// when asked, the kernel's derivative m′(r²) at each pair.
    static func covariance(
        _ points: [Double], count n: Int, isCategorical: [Bool], _ parameters: Hyperparameters, pointNoise: [Double],
        derivative: UnsafeMutablePointer<Double>?
    ) -> [Double] {
        let d = isCategorical.count
        var matrix = [Double](repeating: 0, count: n * n)
        points.withUnsafeBufferPointer { x in
            parameters.inverseSquaredLengthscales.withUnsafeBufferPointer { lambda in
                matrix.withUnsafeMutableBufferPointer { k in
                    for j in 0..<n {
                        k[j * n + j] = parameters.kernelScale + parameters.noiseVariance + pointNoise[j]
                        derivative?[j * n + j] = -5.0 / 6.0
                        for i in (j + 1)..<max(n, j + 1) {
                            var t = 0.0
                            for dimension in 0..<d {
                                let delta = x[i * d + dimension] - x[j * d + dimension]
                                t += lambda[dimension] * (isCategorical[dimension] ? (delta == 0 ? 0 : 1) : delta * delta)
                            }
                            let (value, slope) = matern52(t)
                            k[j * n + i] = parameters.kernelScale * value
                            k[i * n + j] = parameters.kernelScale * value
                            if let derivative {
                                derivative[j * n + i] = slope
                                derivative[i * n + j] = slope
                            }
                        }
                    }
                }
            }
        }
        return matrix
    }

    /// The kernel between `x` and every stored point (and, with `gradient`, its derivative in each
    /// continuous dimension of x, dimension-major: gradient[dimension · count + i]).
    func crossCovariance(_ x: UnsafeBufferPointer<Double>, into k: inout [Double], gradient: UnsafeMutablePointer<Double>?) {
        let d = dimensions, n = count, lambda = hyperparameters.inverseSquaredLengthscales, scale = hyperparameters.kernelScale
        points.withUnsafeBufferPointer { stored in
            for i in 0..<n {
                var t = 0.0
                for dimension in 0..<d {
                    let delta = x[dimension] - stored[i * d + dimension]
                    t += lambda[dimension] * (isCategorical[dimension] ? (delta == 0 ? 0 : 1) : delta * delta)
                }
                let (value, slope) = Self.matern52(t)
                k[i] = scale * value
                if let gradient {
                    for dimension in 0..<d where !isCategorical[dimension] {
                        gradient[dimension * n + i] = scale * slope * 2 * lambda[dimension] * (x[dimension] - stored[i * d + dimension])
                    }
                }
            }
        }
    }

    // MARK: Linear algebra (LAPACK and BLAS in OpenBLAS)

    /// Overwrites a symmetric positive definite column-major matrix with its lower Cholesky factor
    /// (upper part zeroed); false when it is not positive definite.
    static func choleskyInPlace(_ matrix: inout [Double], count n: Int) -> Bool {
        guard n > 0 else { return true }
        guard matrix.withUnsafeMutableBufferPointer({ BLAS.choleskyFactor(n: n, a: $0.baseAddress!) }) else { return false }
        for j in 1..<max(n, 1) { for i in 0..<j { matrix[j * n + i] = 0 } }
        return true
    }

    /// A⁻¹ b from A's lower Cholesky factor.
    static func solve(factor: [Double], count n: Int, _ b: [Double]) -> [Double] {
        guard n > 0 else { return [] }
        var x = b
        factor.withUnsafeBufferPointer { a in
            x.withUnsafeMutableBufferPointer { BLAS.choleskySolve(n: n, columns: 1, factor: a.baseAddress!, b: $0.baseAddress!) }
        }
        return x
    }

    // MARK: Posterior

    /// The posterior mean and variance of f at each of `candidates` (m × dimensions, row-major),
    /// batched: one matrix of cross-covariances, one BLAS product for the means, one triangular
    /// solve for the variances.
    func posterior(_ candidates: [Double]) -> (means: [Double], variances: [Double]) {
        let n = count, m = candidates.count / max(dimensions, 1)
        guard n > 0 else {
            return (Array(repeating: 0, count: m), Array(repeating: hyperparameters.kernelScale, count: m))
        }
        // Column j (n long) holds candidate j's covariances with the stored points.
        var cross = [Double](repeating: 0, count: n * m), column = [Double](repeating: 0, count: n)
        candidates.withUnsafeBufferPointer { all in
            for j in 0..<m {
                crossCovariance(UnsafeBufferPointer(rebasing: all[(j * dimensions)..<((j + 1) * dimensions)]), into: &column, gradient: nil)
                cross.replaceSubrange((j * n)..<((j + 1) * n), with: column)
            }
        }
        var means = [Double](repeating: 0, count: m)
        cross.withUnsafeMutableBufferPointer { cross in
            factor.withUnsafeBufferPointer { factor in
                BLAS.transposedProduct(n: n, m: m, a: cross.baseAddress!, x: weights, y: &means)
                BLAS.lowerSolve(n: n, columns: m, l: factor.baseAddress!, b: cross.baseAddress!)
            }
        }
        let variances = (0..<m).map { j in
            var explained = 0.0
            for i in 0..<n { explained += cross[j * n + i] * cross[j * n + i] }
            return max(hyperparameters.kernelScale - explained, 0)
        }
        return (means, variances)
    }

    /// The posterior mean and variance at one point, and their gradients in its continuous dimensions.
    func posteriorWithGradient(_ x: [Double]) -> (mean: Double, variance: Double, meanGradient: [Double], varianceGradient: [Double]) {
        let n = count, d = dimensions
        var k = [Double](repeating: 0, count: n), dk = [Double](repeating: 0, count: n * d)
        x.withUnsafeBufferPointer { point in
            dk.withUnsafeMutableBufferPointer { crossCovariance(point, into: &k, gradient: $0.baseAddress) }
        }
        var mean = 0.0
        for i in 0..<n { mean += k[i] * weights[i] }
        // w = K⁻¹ k; var = s − kᵀw; ∂var = −2 wᵀ ∂k.
        let w = Self.solve(factor: factor, count: n, k)
        var explained = 0.0
        for i in 0..<n { explained += k[i] * w[i] }
        var meanGradient = [Double](repeating: 0, count: d), varianceGradient = meanGradient
        for dimension in 0..<d where !isCategorical[dimension] {
            var dm = 0.0, dv = 0.0
            for i in 0..<n {
                dm += dk[dimension * n + i] * weights[i]
                dv += dk[dimension * n + i] * w[i]
            }
            meanGradient[dimension] = dm
            varianceGradient[dimension] = -2 * dv
        }
        let variance = hyperparameters.kernelScale - explained
        if variance <= 0 { return (mean, 0, meanGradient, Array(repeating: 0, count: d)) }
        return (mean, variance, meanGradient, varianceGradient)
    }

    // MARK: Fitting (maximum a posteriori)

    /// Optuna's prior on the hyperparameters (`optuna/_gp/prior.py`): −Σ(0.1/λ + 0.1·λ) for the
    /// length scales, Gamma(2, 1) on the scale and Gamma(1.1, 30) on the noise; and its gradient in
    /// the parameters the fit moves (``raw(_:)``).
    static func logPrior(_ parameters: Hyperparameters) -> (value: Double, lambda: [Double], scale: Double, noise: Double) {
        let lambda = parameters.inverseSquaredLengthscales, s = parameters.kernelScale, noise = parameters.noiseVariance
        let value = -lambda.reduce(0) { $0 + 0.1 / $1 + 0.1 * $1 } + (log(s) - s) + (0.1 * log(noise) - 30 * noise)
        return (value, lambda.map { 0.1 / $0 - 0.1 * $0 }, 1 - s, (0.1 / noise - 30) * (noise - minimumNoise))
    }

    /// The log parameters the fit moves: log λ, log s, log(σ² − minimum).
    static func raw(_ parameters: Hyperparameters) -> [Double] {
        parameters.inverseSquaredLengthscales.map { log($0) } + [
            log(parameters.kernelScale), log(max(parameters.noiseVariance - minimumNoise, 1e-300)),
        ]
    }

    static func parameters(_ raw: [Double]) -> Hyperparameters {
        Hyperparameters(
            inverseSquaredLengthscales: raw.dropLast(2).map { exp($0) }, kernelScale: exp(raw[raw.count - 2]),
            noiseVariance: exp(raw[raw.count - 1]) + minimumNoise)
    }

    /// −(log marginal likelihood + log prior) at `raw` parameters, and its gradient in them: with
    /// α = K⁻¹y and W = ααᵀ − K⁻¹, ∂/∂θ = −½ tr(W ∂K/∂θ) − ∂ log prior/∂θ. +∞ when K is not
    /// positive definite.
    static func negativeLogPosterior(
        raw: [Double], points: [Double], values: [Double], pointNoise: [Double], isCategorical: [Bool], gradient: inout [Double]
    ) -> Double {
        let n = values.count, d = isCategorical.count, parameters = parameters(raw)
        var slopes = [Double](repeating: 0, count: n * n)
        var matrix = slopes.withUnsafeMutableBufferPointer { slope in
            covariance(points, count: n, isCategorical: isCategorical, parameters, pointNoise: pointNoise, derivative: slope.baseAddress)
        }
        let kernel = matrix
        guard choleskyInPlace(&matrix, count: n) else { return .infinity }
        let alpha = solve(factor: matrix, count: n, values)
        var logDeterminant = 0.0, fit = 0.0
        for i in 0..<n {
            logDeterminant += log(matrix[i * n + i])
            fit += values[i] * alpha[i]
        }
        // K⁻¹ from the factor (LAPACK fills the lower triangle).
        var inverse = matrix
        guard inverse.withUnsafeMutableBufferPointer({ BLAS.choleskyInverse(n: n, a: $0.baseAddress!) }) else { return .infinity }
        let prior = logPrior(parameters)
        var gLambda = [Double](repeating: 0, count: d), gScale = 0.0, gNoise = 0.0
        inverse.withUnsafeBufferPointer { inv in
            points.withUnsafeBufferPointer { x in
                for j in 0..<n {
                    // The diagonal: ∂K_jj/∂log s = s, ∂/∂log(σ² − min) = σ² − min.
                    let wjj = alpha[j] * alpha[j] - inv[j * n + j]
                    gScale += wjj * parameters.kernelScale
                    gNoise += wjj * (parameters.noiseVariance - minimumNoise)
                    for i in (j + 1)..<max(n, j + 1) {
                        // Off the diagonal, twice (W and ∂K are symmetric).
                        let w = 2 * (alpha[i] * alpha[j] - inv[j * n + i])
                        let slope = slopes[j * n + i] * parameters.kernelScale
                        for dimension in 0..<d {
                            let delta = x[i * d + dimension] - x[j * d + dimension]
                            let squared = isCategorical[dimension] ? (delta == 0 ? 0 : 1) : delta * delta
                            gLambda[dimension] += w * slope * parameters.inverseSquaredLengthscales[dimension] * squared
                        }
                        gScale += w * kernel[j * n + i]
                    }
                }
            }
        }
        gradient = (0..<d).map { -0.5 * gLambda[$0] - prior.lambda[$0] } + [-0.5 * gScale - prior.scale, -0.5 * gNoise - prior.noise]
        return 0.5 * fit + logDeterminant - prior.value
    }

    /// The most points the hyperparameters are fitted on: each step of the fit factors and inverts
    /// the kernel matrix (n³), so past this many the fit takes a fixed subset (the posterior still
    /// conditions on every point). 300 keeps a proposal with 1,000 finished configs under a
    /// second (docs/BENCHMARKS.md).
    static let fitLimit = 300

    /// The points the hyperparameters are fitted on: all of them up to `limit`; past it, the best
    /// third of the limit by value and the rest spread evenly over the others in their order.
    static func fitSubset(values: [Double], limit: Int = fitLimit) -> [Int] {
        guard values.count > limit else { return Array(values.indices) }
        let ranked = values.indices.sorted { (values[$0], $1) > (values[$1], $0) }
        let best = Array(ranked.prefix(limit / 3))
        let chosen = Set(best)
        let others = values.indices.filter { !chosen.contains($0) }
        let spread = (0..<(limit - best.count)).map { others[$0 * others.count / (limit - best.count)] }
        return (best + spread).sorted()
    }

    /// The process with hyperparameters fitted by maximum a posteriori (L-BFGS from Optuna's
    /// starting point, its tolerance 10⁻²; on ``fitSubset(values:limit:)``), or with the starting
    /// point when the fit fails.
    static func fit(points: [Double], values: [Double], pointNoise: [Double]? = nil, isCategorical: [Bool]) -> GaussianProcess? {
        let noise = pointNoise ?? Array(repeating: 0, count: values.count)
        let d = isCategorical.count, subset = fitSubset(values: values)
        let fitPoints = subset.flatMap { points[($0 * d)..<(($0 + 1) * d)] }
        let fitValues = subset.map { values[$0] }, fitNoise = subset.map { noise[$0] }
        let start = raw(Hyperparameters.initial(dimensions: d))
        let unbounded = Array(repeating: -Double.infinity, count: start.count)
        var search = BoundedLBFGS(lower: unbounded, upper: unbounded.map { -$0 })
        search.gradientTolerance = 1e-2
        let best = search.minimize(from: start) { raw, gradient in
            negativeLogPosterior(
                raw: raw, points: fitPoints, values: fitValues, pointNoise: fitNoise, isCategorical: isCategorical, gradient: &gradient)
        }
        for candidate in [best.x, start] where best.value.isFinite || candidate == start {
            if let process = GaussianProcess(
                points: points, values: values, pointNoise: noise, isCategorical: isCategorical, hyperparameters: parameters(candidate))
            {
                return process
            }
        }
        return nil
    }

    /// The same process conditioned on more points (running configs at their believed values),
    /// its hyperparameters kept.
    func adding(points more: [Double], values moreValues: [Double]) -> GaussianProcess? {
        GaussianProcess(
            points: points + more, values: values + moreValues, pointNoise: pointNoise + Array(repeating: 0, count: moreValues.count),
            isCategorical: isCategorical, hyperparameters: hyperparameters)
    }
}

// MARK: Log expected improvement

/// log E[max(0, f − f₀)] for f ~ N(μ, σ²), computed stably far into the tail (Ament et al. 2023,
/// "Unexpected Improvements to Expected Improvement", eq. 9), with its derivative.
enum LogExpectedImprovement {
    /// log h(z), h(z) = φ(z) + zΦ(z), and d log h / dz = Φ(z) / h(z).
    static func logH(_ z: Double) -> (value: Double, derivative: Double) {
        let logRootTwoPi = 0.5 * log(2 * Double.pi)
        if z > -1 {
            let cdf = 0.5 * erfc(-z / 2.0.squareRoot()), pdf = exp(-0.5 * z * z) / (2 * Double.pi).squareRoot()
            let h = pdf + z * cdf
            return (log(h), cdf / h)
        }
        if z > -1 / Double.ulpOfOne.squareRoot() {
            // h = φ(z)(1 − |z|·√(π/2)·erfcx(|z|/√2)); the bracket by log1mexp of its log.
            let scaled = erfcx(-z / 2.0.squareRoot()) * (Double.pi / 2).squareRoot()
            let a = log(scaled * -z)
            let bracket = -expm1(a)
            return (-0.5 * z * z - logRootTwoPi + log(bracket), scaled / bracket)
        }
        return (-0.5 * z * z - logRootTwoPi - 2 * log(-z), -z - 2 / z)
    }

    /// log Φ(z) and its derivative φ(z)/Φ(z), stable far into the lower tail (where Φ underflows):
    /// there Φ(z) = ½·erfcx(−z/√2)·e^(−z²/2).
    static func logCDF(_ z: Double) -> (value: Double, derivative: Double) {
        if z > -5 {
            let cdf = 0.5 * erfc(-z / 2.0.squareRoot())
            return (log(cdf), exp(-0.5 * z * z) / (2 * Double.pi).squareRoot() / cdf)
        }
        let scaled = erfcx(-z / 2.0.squareRoot())
        return (log(0.5 * scaled) - 0.5 * z * z, 2 / ((2 * Double.pi).squareRoot() * scaled))
    }

    /// log EI at mean μ and variance σ², with best value f₀.
    static func value(mean: Double, variance: Double, best: Double) -> Double {
        let sigma = max(variance, 1e-20).squareRoot()
        return logH((mean - best) / sigma).value + log(sigma)
    }

    /// exp(x²)·erfc(x), the scaled complementary error function: directly below 5, by its
    /// continued fraction (Lentz's form, evaluated backward) from there, where erfc underflows.
    static func erfcx(_ x: Double) -> Double {
        if x < 5 { return exp(x * x) * erfc(x) }
        var tail = x
        for k in stride(from: 60, through: 1, by: -1) { tail = x + Double(k) / 2 / tail }
        return 1 / (Double.pi.squareRoot() * tail)
    }
}
