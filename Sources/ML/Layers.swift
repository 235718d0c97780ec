import Vocabulary

/// A fixed-size float buffer allocated once and freed on deinit: the storage for parameters,
/// gradients, optimiser state and activations, so that no training step allocates.
public final class FloatBuffer: @unchecked Sendable {
    public let count: Int
    public let pointer: UnsafeMutablePointer<Float>

    public init(count: Int) {
        self.count = count
        pointer = .allocate(capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
    }

    deinit { pointer.deallocate() }

    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: pointer, count: count) }

    public func zero() { pointer.update(repeating: 0, count: count) }

    public subscript(index: Int) -> Float {
        get { pointer[index] }
        set { pointer[index] = newValue }
    }

    /// A copy of the contents.
    public var array: [Float] { Array(buffer) }
}

/// Hands out consecutive regions of one flat parameter vector, so every parameter, its gradient and
/// its Adam state live in single contiguous buffers that one fused pass can update.
public struct ParameterLayout: Sendable {
    /// One named tensor inside the flat vector.
    public struct Tensor: Sendable, Equatable {
        public var name: String
        public var offset: Int
        public var shape: [Int]
        public var count: Int { shape.reduce(1, *) }
    }

    public private(set) var tensors: [Tensor] = []
    public private(set) var count = 0

    public init() {}

    /// Reserves a tensor and returns its offset.
    public mutating func add(_ name: String, shape: [Int]) -> Int {
        let tensor = Tensor(name: name, offset: count, shape: shape)
        tensors.append(tensor)
        count += tensor.count
        return tensor.offset
    }
}

/// A fully connected layer, y = x·Wᵀ + b, with W of shape [out, in] (PyTorch and MLX layout).
///
/// Init as PyTorch's `nn.Linear`: W and b ~ U(−1/√in, 1/√in). The layer owns no storage: its
/// weight and bias are regions of a flat parameter vector, and ``forward(_:rows:into:parameters:)``
/// writes into a caller-owned buffer. The input is the cache that ``backward`` needs.
public struct Linear: Sendable {
    public let inputDimensions: Int
    public let outputDimensions: Int
    public let weightOffset: Int
    public let biasOffset: Int

    public init(_ inputDimensions: Int, _ outputDimensions: Int, name: String, layout: inout ParameterLayout) {
        self.inputDimensions = inputDimensions
        self.outputDimensions = outputDimensions
        weightOffset = layout.add("\(name).weight", shape: [outputDimensions, inputDimensions])
        biasOffset = layout.add("\(name).bias", shape: [outputDimensions])
    }

    /// Draws W and b from U(−1/√in, 1/√in).
    public func initialize(_ parameters: UnsafeMutablePointer<Float>, rng: inout Xoshiro256) {
        let bound = 1 / Float(inputDimensions).squareRoot()
        for i in 0..<(outputDimensions * inputDimensions) {
            parameters[weightOffset + i] = (rng.nextUniformFloat() * 2 - 1) * bound
        }
        for i in 0..<outputDimensions {
            parameters[biasOffset + i] = (rng.nextUniformFloat() * 2 - 1) * bound
        }
    }

    /// y[rows × out] = x[rows × in]·Wᵀ + b, through sgemm.
    public func forward(
        _ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>,
        parameters: UnsafePointer<Float>
    ) {
        let bias = parameters + biasOffset
        for row in 0..<rows { (y + row * outputDimensions).update(from: bias, count: outputDimensions) }
        BLAS.sgemm(
            .none, .transpose, m: rows, n: outputDimensions, k: inputDimensions, alpha: 1,
            a: x, lda: inputDimensions, b: parameters + weightOffset, ldb: inputDimensions,
            beta: 1, c: y, ldc: outputDimensions)
    }

    /// Given ∂L/∂y, adds ∂L/∂W = (∂L/∂y)ᵀ·x and ∂L/∂b = Σ_rows ∂L/∂y into `gradients` (or overwrites
    /// them when `accumulate` is false), and writes ∂L/∂x = (∂L/∂y)·W into `gradInput` when given.
    public func backward(
        input x: UnsafePointer<Float>, gradOutput dy: UnsafePointer<Float>, rows: Int,
        gradInput dx: UnsafeMutablePointer<Float>?, parameters: UnsafePointer<Float>,
        gradients: UnsafeMutablePointer<Float>, accumulate: Bool
    ) {
        weightGradient(input: x, gradOutput: dy, rows: rows, gradients: gradients, accumulate: accumulate)
        biasGradient(gradOutput: dy, rows: rows, gradients: gradients, accumulate: accumulate)
        if let dx { inputGradient(gradOutput: dy, rows: rows, into: dx, parameters: parameters) }
    }

    /// ∂L/∂W = (∂L/∂y)ᵀ·x, one sgemm, added to (or overwriting) the weight's gradient.
    public func weightGradient(
        input x: UnsafePointer<Float>, gradOutput dy: UnsafePointer<Float>, rows: Int,
        gradients: UnsafeMutablePointer<Float>, accumulate: Bool
    ) {
        BLAS.sgemm(
            .transpose, .none, m: outputDimensions, n: inputDimensions, k: rows, alpha: 1,
            a: dy, lda: outputDimensions, b: x, ldb: inputDimensions,
            beta: accumulate ? 1 : 0, c: gradients + weightOffset, ldc: inputDimensions)
    }

    /// ∂L/∂b = Σ_rows ∂L/∂y, added to (or overwriting) the bias's gradient.
    public func biasGradient(
        gradOutput dy: UnsafePointer<Float>, rows: Int, gradients: UnsafeMutablePointer<Float>,
        accumulate: Bool
    ) {
        let db = gradients + biasOffset
        if !accumulate { db.update(repeating: 0, count: outputDimensions) }
        for row in 0..<rows {
            let source = dy + row * outputDimensions
            for j in 0..<outputDimensions { db[j] += source[j] }
        }
    }

    /// ∂L/∂x = (∂L/∂y)·W, one sgemm.
    public func inputGradient(
        gradOutput dy: UnsafePointer<Float>, rows: Int, into dx: UnsafeMutablePointer<Float>,
        parameters: UnsafePointer<Float>
    ) {
        BLAS.sgemm(
            .none, .none, m: rows, n: inputDimensions, k: outputDimensions, alpha: 1,
            a: dy, lda: outputDimensions, b: parameters + weightOffset, ldb: inputDimensions,
            beta: 0, c: dx, ldc: inputDimensions)
    }
}

/// max(0, x), applied in place; the output is its own cache.
public enum ReLU {
    public static func forward(_ x: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { x[i] = max(x[i], 0) }
    }

    /// ∂L/∂x = ∂L/∂y where the output y was positive, else 0.
    public static func backward(output y: UnsafePointer<Float>, gradient: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count where y[i] <= 0 { gradient[i] = 0 }
    }
}

/// Inverted dropout: in training each unit is zeroed with probability p and the survivors scaled by
/// 1/(1−p), as PyTorch does; identity in evaluation. The mask (0 or 1/(1−p)) is the cache.
public struct Dropout: Sendable {
    public let probability: Float

    public init(probability: Float) { self.probability = probability }

    /// Draws a mask into `mask` and multiplies `x` by it, in place.
    public func forward(
        _ x: UnsafeMutablePointer<Float>, count: Int, mask: UnsafeMutablePointer<Float>,
        rng: inout Xoshiro256
    ) {
        guard probability > 0 else {
            mask.update(repeating: 1, count: count)
            return
        }
        let scale = 1 / (1 - probability)
        for i in 0..<count {
            mask[i] = rng.nextUniformFloat() < probability ? 0 : scale
            x[i] *= mask[i]
        }
    }

    /// ∂L/∂x = ∂L/∂y · mask, in place.
    public func backward(gradient: UnsafeMutablePointer<Float>, count: Int, mask: UnsafePointer<Float>) {
        for i in 0..<count { gradient[i] *= mask[i] }
    }
}
