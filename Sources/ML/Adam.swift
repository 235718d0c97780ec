import Foundation

/// Adam (Kingma & Ba 2015) exactly as PyTorch's `torch.optim.Adam` with bias correction, no weight
/// decay, dense: every parameter is updated every step. One fused pass over the flat parameter vector.
public final class Adam {
    public var learningRate: Float
    public var betas: (Float, Float) = (0.9, 0.999)
    public var eps: Float = 1e-8
    /// Steps taken so far.
    public private(set) var step = 0
    private let firstMoment: FloatBuffer
    private let secondMoment: FloatBuffer

    /// State for `count` parameters, zero-initialised.
    public init(learningRate: Float, count: Int) {
        self.learningRate = learningRate
        firstMoment = FloatBuffer(count: count)
        secondMoment = FloatBuffer(count: count)
    }

    /// One update of `parameters[range]` from `gradients[range]` (the whole vector by default).
    public func update(parameters: UnsafeMutablePointer<Float>, gradients: UnsafePointer<Float>, count: Int) {
        precondition(count == firstMoment.count, "Adam state was made for \(firstMoment.count) parameters")
        step += 1
        let (beta1, beta2) = betas
        let correction1 = 1 - pow(Double(beta1), Double(step))
        let correction2 = 1 - pow(Double(beta2), Double(step))
        let stepSize = Float(Double(learningRate) / correction1)
        let inverseRootCorrection2 = Float(1 / correction2.squareRoot())
        let m = firstMoment.pointer, v = secondMoment.pointer
        let oneMinusBeta1 = 1 - beta1, oneMinusBeta2 = 1 - beta2, eps = self.eps
        for i in 0..<count {
            let g = gradients[i]
            let mi = beta1 * m[i] + oneMinusBeta1 * g
            let vi = beta2 * v[i] + oneMinusBeta2 * g * g
            m[i] = mi
            v[i] = vi
            parameters[i] -= stepSize * mi / (vi.squareRoot() * inverseRootCorrection2 + eps)
        }
    }
}
