import Foundation
import Vocabulary

/// How the main task (i = 0) and the auxiliary tag task (i = 1) are weighted, as `ml.md` specifies.
/// Each step the trainer asks for ``stepWeights`` (the multipliers w_i of L = Σ w_i·L_i for the
/// model's update), trains, and reports the raw losses back with ``record(step:)``; each epoch
/// ends with ``endEpoch(lossMain:lossAux:)``.
public struct TaskBalancer: Sendable {
    public enum Kind: Sendable, Equatable {
        /// L = L_main + α·L_aux.
        case fixed(alpha: Double)
        /// Kendall et al. 2018: L = Σ L_i/(2e^{s_i}) + s_i/2, the s_i trained by Adam.
        case uncertainty(learningRate: Double)
        /// Chen et al. 2018, on the output layer's weight matrix W2.
        case gradNorm(asymmetry: Double, learningRate: Double)
        /// Liu et al. 2019: weights from the two previous epochs' mean losses.
        case dynamicWeightAverage(temperature: Double)
    }

    public static let taskCount = 2
    public let kind: Kind
    /// The current w_i (gradnorm, dwa), or unused.
    public private(set) var weights: [Double] = [1, 1]
    /// The uncertainty balancer's log-variances s_i.
    public private(set) var logVariances: [Float] = [0, 0]
    /// GradNorm's L_i at the very first step.
    public private(set) var initialLosses: [Double]?
    /// Per-epoch raw mean losses so far (DWA).
    public private(set) var epochLosses: [[Double]] = []
    /// The effective multipliers of the last recorded step (what an epoch record reports).
    public private(set) var lastStepWeights: TaskWeights
    private let logVarianceOptimizer: Adam?

    public init(_ kind: Kind) {
        self.kind = kind
        if case .uncertainty(let learningRate) = kind {
            logVarianceOptimizer = Adam(learningRate: Float(learningRate), count: Self.taskCount)
        } else {
            logVarianceOptimizer = nil
        }
        lastStepWeights = TaskWeights(main: 1, aux: nil, sMain: nil, sAux: nil)
        lastStepWeights = effectiveWeights
    }

    /// The balancer a trial config names (only meaningful with multi-task).
    public init(config: TrialConfig) {
        switch config.balancer {
        case .fixed: self.init(.fixed(alpha: config.alpha))
        case .uncertainty: self.init(.uncertainty(learningRate: config.lr))
        case .gradnorm: self.init(.gradNorm(asymmetry: config.gradnormAlpha, learningRate: config.gradnormLR))
        case .dwa: self.init(.dynamicWeightAverage(temperature: config.dwaTemp))
        }
    }

    /// Whether the model must measure ‖∇_{W2}(w_i·L_i)‖ per task each step.
    public var needsGradientNorms: Bool {
        if case .gradNorm = kind { return true }
        return false
    }

    /// w_main and w_aux for this step's model update.
    public var stepWeights: (main: Double, aux: Double) {
        switch kind {
        case .fixed(let alpha): (1, alpha)
        case .uncertainty: (Self.uncertaintyWeight(logVariances[0]), Self.uncertaintyWeight(logVariances[1]))
        case .gradNorm, .dynamicWeightAverage: (weights[0], weights[1])
        }
    }

    /// 1/(2e^s), as a float computation so it matches the model's use of it.
    static func uncertaintyWeight(_ s: Float) -> Double { Double(1 / (2 * Foundation.exp(s))) }

    var effectiveWeights: TaskWeights {
        let (main, aux) = stepWeights
        if case .uncertainty = kind {
            return TaskWeights(main: main, aux: aux, sMain: Double(logVariances[0]), sAux: Double(logVariances[1]))
        }
        return TaskWeights(main: main, aux: aux, sMain: nil, sAux: nil)
    }

    /// After a step trained with ``stepWeights``: the uncertainty balancer takes its Adam step on
    /// s_i (∂L/∂s_i = 1/2 − L_i/(2e^{s_i})); GradNorm updates and renormalises w.
    public mutating func record(step losses: StepLosses) {
        lastStepWeights = effectiveWeights
        let raw = [losses.main, losses.aux ?? 0]
        switch kind {
        case .fixed, .dynamicWeightAverage:
            break
        case .uncertainty:
            let gradients = Self.uncertaintyGradients(losses: raw, logVariances: logVariances)
            logVarianceOptimizer!.update(parameters: &logVariances, gradients: gradients, count: Self.taskCount)
        case .gradNorm(let asymmetry, let learningRate):
            let norms = [losses.mainGradientNorm!, losses.auxGradientNorm!]
            if initialLosses == nil { initialLosses = raw }
            weights = Self.gradNormUpdate(
                weights: weights, norms: norms, losses: raw, initialLosses: initialLosses!,
                asymmetry: asymmetry, learningRate: learningRate)
        }
    }

    /// ∂/∂s_i of Σ_i L_i/(2e^{s_i}) + s_i/2: 1/2 − L_i/(2e^{s_i}).
    public static func uncertaintyGradients(losses: [Double], logVariances: [Float]) -> [Float] {
        (0..<losses.count).map { Float(0.5 - losses[$0] * uncertaintyWeight(logVariances[$0])) }
    }

    /// One GradNorm update (Chen et al. 2018, Algorithm 1). `norms` are G_i = ‖∇_W(w_i·L_i)‖.
    /// L̃_i = L_i/L_i(0), r_i = L̃_i / mean L̃, target_i = mean G · r_i^a (constant),
    /// L_grad = Σ |G_i − target_i|, ∂L_grad/∂w_i = sign(G_i − target_i)·‖∇_W L_i‖·sign(w_i);
    /// w_i ← w_i − lr·∂L_grad/∂w_i, then w ← w·T/Σw.
    public static func gradNormUpdate(
        weights: [Double], norms: [Double], losses: [Double], initialLosses: [Double],
        asymmetry: Double, learningRate: Double
    ) -> [Double] {
        let count = weights.count
        let ratios = (0..<count).map { losses[$0] / initialLosses[$0] }
        let meanRatio = ratios.reduce(0, +) / Double(count)
        let meanNorm = norms.reduce(0, +) / Double(count)
        var updated = weights
        for i in 0..<count {
            let target = meanNorm * Foundation.pow(ratios[i] / meanRatio, asymmetry)
            let difference = norms[i] - target
            let sign: Double = difference > 0 ? 1 : (difference < 0 ? -1 : 0)
            // G_i = |w_i|·‖∇_W L_i‖, so ∂G_i/∂w_i = sign(w_i)·‖∇_W L_i‖ = G_i / w_i.
            let slope = weights[i] == 0 ? 0 : norms[i] / weights[i]
            updated[i] -= learningRate * sign * slope
        }
        let total = updated.reduce(0, +)
        return updated.map { $0 * Double(count) / total }
    }

    /// DWA's weights for epoch t + 1 given the raw mean losses of epochs 1…t: 1 until two epochs
    /// exist, then w_i = T·exp(ℓ_i(t)/ℓ_i(t−1)/τ) / Σ_j exp(ℓ_j(t)/ℓ_j(t−1)/τ).
    public static func dynamicWeights(history: [[Double]], temperature: Double) -> [Double] {
        guard history.count >= 2 else { return [1, 1] }
        let last = history[history.count - 1], before = history[history.count - 2]
        let exponentials = (0..<last.count).map { Foundation.exp(last[$0] / before[$0] / temperature) }
        let total = exponentials.reduce(0, +)
        return exponentials.map { Double(last.count) * $0 / total }
    }

    /// Records an epoch's raw mean training losses; DWA sets the next epoch's weights from them.
    public mutating func endEpoch(lossMain: Double, lossAux: Double) {
        epochLosses.append([lossMain, lossAux])
        if case .dynamicWeightAverage(let temperature) = kind {
            weights = Self.dynamicWeights(history: epochLosses, temperature: temperature)
        }
    }
}
