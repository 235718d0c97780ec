import Foundation
import Vocabulary

/// Adam (Kingma & Ba 2015) exactly as PyTorch's `torch.optim.Adam` with bias correction, dense:
/// every parameter is updated every step; with `weightDecay` > 0, PyTorch's `AdamW` (decoupled:
/// p ← p·(1 − lr·λ) before the Adam step). At λ = 0 the factor is exactly 1, so plain Adam's
/// results are unchanged to the bit.
///
/// A step is ``beginStep()`` and then ``apply(parameters:gradients:range:)`` over ranges that
/// together cover every parameter once, so the trainer can update each block of the model while
/// it is in cache, from several threads at once (ranges must not overlap). The update is a fused,
/// vectorised pass, element-wise, so neither the split nor the order changes a result.
public final class Adam: @unchecked Sendable {
    public let learningRate: Float
    /// AdamW's decoupled weight decay λ.
    public let weightDecay: Float
    public let betas: (Float, Float) = (0.9, 0.999)
    public let eps: Float = 1e-8
    /// Steps begun so far.
    public private(set) var step = 0
    private let firstMoment: FloatBuffer
    private let secondMoment: FloatBuffer
    private var constants = Constants(beta1: 0.9, beta2: 0.999, eps: 1e-8, stepSize: 0, inverseRootCorrection2: 1)

    /// State for `count` parameters, zero-initialised.
    public init(learningRate: Float, count: Int, weightDecay: Float = 0) {
        self.learningRate = learningRate
        self.weightDecay = weightDecay
        firstMoment = FloatBuffer(count: count)
        secondMoment = FloatBuffer(count: count)
    }

    /// Starts step t + 1: fixes its bias corrections for the ``apply`` calls that follow.
    public func beginStep() {
        step += 1
        let (beta1, beta2) = betas
        let correction1 = 1 - pow(Double(beta1), Double(step))
        let correction2 = 1 - pow(Double(beta2), Double(step))
        constants = Constants(
            beta1: beta1, beta2: beta2, eps: eps, stepSize: Float(Double(learningRate) / correction1),
            inverseRootCorrection2: Float(1 / correction2.squareRoot()))
    }

    /// One whole step over all `count` parameters.
    public func update(parameters: UnsafeMutablePointer<Float>, gradients: UnsafePointer<Float>, count: Int) {
        precondition(count == firstMoment.count, "Adam state was made for \(firstMoment.count) parameters")
        beginStep()
        apply(parameters: parameters, gradients: gradients, range: 0..<count)
    }

    struct Constants {
        let beta1: Float, beta2: Float, eps: Float, stepSize: Float, inverseRootCorrection2: Float
    }

    /// PyTorch's step on `range`: m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²;
    /// p ← p − (lr / (1−β1^t))·m / (√v / √(1−β2^t) + ε).
    public func apply(parameters: UnsafeMutablePointer<Float>, gradients: UnsafePointer<Float>, range: Range<Int>) {
        precondition(range.upperBound <= firstMoment.count, "range beyond the parameters")
        // Plain scalar code over raw pointers: LLVM vectorises it (sqrtps, divps).
        let m = firstMoment.pointer, v = secondMoment.pointer, c = constants
        let beta1 = c.beta1, beta2 = c.beta2, oneMinusBeta1 = 1 - c.beta1, oneMinusBeta2 = 1 - c.beta2
        let stepSize = c.stepSize, inverseRootCorrection2 = c.inverseRootCorrection2, eps = c.eps
        let decay = 1 - learningRate * weightDecay
        for i in range {
            let g = gradients[i]
            let mi = beta1 * m[i] + oneMinusBeta1 * g
            let vi = beta2 * v[i] + oneMinusBeta2 * g * g
            m[i] = mi
            v[i] = vi
            parameters[i] = parameters[i] * decay - stepSize * mi / (vi.squareRoot() * inverseRootCorrection2 + eps)
        }
    }
}
