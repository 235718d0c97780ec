/// The recommender of `ml.md` without the optional branches: z = W2·dropout(ReLU(W1·x + b1)) + b2.
///
/// Parameters live in one flat vector (``parameters``) with a matching ``gradients`` vector, so
/// the optimiser makes one fused pass. Activations live in buffers sized for the largest batch, so a
/// training step allocates nothing. The type is not thread-safe: one trainer owns it.
public final class Recommender {
    public static let hiddenDimensions = 512

    public let inputDimensions: Int
    public let itemCount: Int
    public let maxBatch: Int
    public let layout: ParameterLayout
    public let trunk: Linear
    public let output: Linear
    public let dropout: Dropout
    public let parameters: FloatBuffer
    public let gradients: FloatBuffer

    // Workspace, rows × width, for at most `maxBatch` rows.
    let inputs: FloatBuffer
    let hidden: FloatBuffer
    let mask: FloatBuffer
    public let logits: FloatBuffer
    let logitGradients: FloatBuffer
    let hiddenGradients: FloatBuffer

    /// A model with PyTorch-initialised layers drawn from `rng`.
    public init(inputDimensions: Int, itemCount: Int, dropout: Float, maxBatch: Int, rng: inout Xoshiro256) {
        self.inputDimensions = inputDimensions
        self.itemCount = itemCount
        self.maxBatch = maxBatch
        var layout = ParameterLayout()
        trunk = Linear(inputDimensions, Self.hiddenDimensions, name: "trunk", layout: &layout)
        output = Linear(Self.hiddenDimensions, itemCount, name: "output", layout: &layout)
        self.layout = layout
        self.dropout = Dropout(probability: dropout)
        parameters = FloatBuffer(count: layout.count)
        gradients = FloatBuffer(count: layout.count)
        trunk.initialize(parameters.pointer, rng: &rng)
        output.initialize(parameters.pointer, rng: &rng)
        inputs = FloatBuffer(count: maxBatch * inputDimensions)
        hidden = FloatBuffer(count: maxBatch * Self.hiddenDimensions)
        mask = FloatBuffer(count: maxBatch * Self.hiddenDimensions)
        logits = FloatBuffer(count: maxBatch * itemCount)
        logitGradients = FloatBuffer(count: maxBatch * itemCount)
        hiddenGradients = FloatBuffer(count: maxBatch * Self.hiddenDimensions)
    }

    /// Copies rows `indices` of a row-major `source` (width D) into the input buffer.
    public func gather(_ source: UnsafePointer<Float>, indices: ArraySlice<Int>) {
        precondition(indices.count <= maxBatch)
        for (row, index) in indices.enumerated() {
            (inputs.pointer + row * inputDimensions).update(from: source + index * inputDimensions, count: inputDimensions)
        }
    }

    /// Logits for the `rows` gathered inputs. With `rng`, dropout is on (training); without, off.
    public func forward(rows: Int, dropoutRNG rng: inout Xoshiro256?) {
        let width = Self.hiddenDimensions
        trunk.forward(inputs.pointer, rows: rows, into: hidden.pointer, parameters: parameters.pointer)
        ReLU.forward(hidden.pointer, count: rows * width)
        if rng != nil {
            dropout.forward(hidden.pointer, count: rows * width, mask: mask.pointer, rng: &rng!)
        }
        output.forward(hidden.pointer, rows: rows, into: logits.pointer, parameters: parameters.pointer)
    }

    /// Evaluates `loss` on the last forward pass and writes every parameter's gradient.
    /// Returns the mean loss. Requires a training forward pass (dropout mask drawn).
    public func backward(rows: Int, loss: LossKind, targets: TargetBatch) -> Double {
        let width = Self.hiddenDimensions
        let value = loss.evaluate(logits: logits.pointer, rows: rows, columns: itemCount, targets: targets,
                                  gradient: logitGradients.pointer)
        output.backward(input: hidden.pointer, gradOutput: logitGradients.pointer, rows: rows,
                        gradInput: hiddenGradients.pointer, parameters: parameters.pointer,
                        gradients: gradients.pointer, accumulate: false)
        dropout.backward(gradient: hiddenGradients.pointer, count: rows * width, mask: mask.pointer)
        // The hidden buffer holds dropout(ReLU(·)): positive exactly where ReLU passed and dropout kept.
        ReLU.backward(output: hidden.pointer, gradient: hiddenGradients.pointer, count: rows * width)
        trunk.backward(input: inputs.pointer, gradOutput: hiddenGradients.pointer, rows: rows, gradInput: nil,
                       parameters: parameters.pointer, gradients: gradients.pointer, accumulate: false)
        return value
    }

    /// One tensor's values, for saving.
    public func values(of tensor: ParameterLayout.Tensor) -> [Float] {
        Array(UnsafeBufferPointer(start: parameters.pointer + tensor.offset, count: tensor.count))
    }
}
