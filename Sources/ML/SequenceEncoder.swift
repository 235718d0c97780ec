import Dispatch
import Vocabulary

/// The RNN branch of `ml.md`: an item embedding table E (N × 256, init N(0, 1)) and a bidirectional
/// GRU (hidden 128 per direction, PyTorch's equations and gate order r, z, n, init U(−1/√128, 1/√128))
/// over the last 20 mentioned items of each example. Its output per example is
/// r = [h_fwd after the last item ; h_bwd after the first item] ∈ R^256; an empty sequence gives r = 0.
///
/// **Batching.** As PyTorch's packed sequences do, the rows of a batch are ordered by decreasing
/// length, so at step t the rows still running are a prefix of that order: each step is one sgemm
/// over exactly the live rows (no padding, no masks), and the input projections of every token of
/// the batch are one sgemm per direction. The backward direction walks each sequence from its end,
/// so its step t reads item L − 1 − t of a sequence of length L. Backpropagation through time runs
/// the steps in reverse, collects ∂W_hh and ∂b_hh per step and ∂W_ih, ∂b_ih and ∂E with one sgemm
/// over all tokens.
///
/// The encoder owns no parameters: they are regions of the model's flat vector. ∂E is added into
/// the rows of the items seen, and ``clearEmbeddingGradients(_:)`` zeroes those rows again after the
/// optimiser has read them, so the dense gradient of the table costs no pass over all N rows.
/// The two directions are independent until their ∂E meets in the table, so with ``threads`` ≥ 2
/// they run at once (∂E is added afterwards, forward direction first, for the same sums either way).
/// One call to ``encode`` caches what the following ``backward`` needs; not thread-safe.
public final class SequenceEncoder {
    public static let embeddingWidth = 256
    public static let hiddenWidth = 128
    public static let outputWidth = 2 * hiddenWidth
    /// Only the most recent items of a sequence are read.
    public static let maxLength = 20
    static let gateWidth = 3 * hiddenWidth

    /// The parameter regions of one direction, each [out, in] as in PyTorch's `weight_ih_l0` etc.
    public struct Direction: Sendable {
        public let inputWeights: Int, hiddenWeights: Int, inputBias: Int, hiddenBias: Int

        init(_ name: String, layout: inout ParameterLayout) {
            inputWeights = layout.add("gru.\(name).weight_ih", shape: [SequenceEncoder.gateWidth, SequenceEncoder.embeddingWidth])
            hiddenWeights = layout.add("gru.\(name).weight_hh", shape: [SequenceEncoder.gateWidth, SequenceEncoder.hiddenWidth])
            inputBias = layout.add("gru.\(name).bias_ih", shape: [SequenceEncoder.gateWidth])
            hiddenBias = layout.add("gru.\(name).bias_hh", shape: [SequenceEncoder.gateWidth])
        }
    }

    public let itemCount: Int
    /// The most sequences one ``encode`` call takes.
    public let capacity: Int
    public let embeddingOffset: Int
    public let directions: [Direction]
    /// The parameters of the branch: one contiguous range of the flat vector.
    public let parameterRange: Range<Int>
    /// 1, or 2 to run the directions on two threads.
    public let threads: Int

    // The batch of the last `encode`, in packed order (rank i = the i-th longest sequence).
    private var rowOfRank: [Int]
    private var lengthOfRank: [Int]
    /// Per step t: the number of sequences longer than t, and where step t's tokens start.
    private var activeCounts: [Int]
    private var stepStarts: [Int]
    private var tokenCount = 0
    /// Sequences in the last ``encode`` call.
    private var rowCount = 0
    /// Per direction, the item of every token in packed order.
    private var tokens: [[Int32]]
    // Per direction, per token: the embedded input (later ∂input), the input projection, the gates
    // r, z, n, the hidden projection W_hh·h + b_hh and the state before the step; per rank: the state.
    private let inputs: [FloatBuffer], inputProjections: [FloatBuffer], gates: [FloatBuffer]
    private let hiddenProjections: [FloatBuffer], previousStates: [FloatBuffer], states: [FloatBuffer]
    private let gateGradients: [FloatBuffer], stepGateGradients: [FloatBuffer], stateGradients: [FloatBuffer]

    /// Reserves the branch's parameters in `layout`.
    public init(itemCount: Int, capacity: Int, threads: Int = 1, layout: inout ParameterLayout) {
        self.itemCount = itemCount
        self.capacity = capacity
        self.threads = min(max(threads, 1), 2)
        let start = layout.count
        embeddingOffset = layout.add("item_embedding.weight", shape: [itemCount, Self.embeddingWidth])
        directions = [Direction("forward", layout: &layout), Direction("backward", layout: &layout)]
        parameterRange = start..<layout.count
        let maxTokens = capacity * Self.maxLength
        func perDirection(_ width: Int, rows: Int = maxTokens) -> [FloatBuffer] {
            [FloatBuffer(count: rows * width), FloatBuffer(count: rows * width)]
        }
        inputs = perDirection(Self.embeddingWidth)
        inputProjections = perDirection(Self.gateWidth)
        gates = perDirection(Self.gateWidth)
        hiddenProjections = perDirection(Self.gateWidth)
        previousStates = perDirection(Self.hiddenWidth)
        states = perDirection(Self.hiddenWidth, rows: capacity)
        gateGradients = perDirection(Self.gateWidth)
        stepGateGradients = perDirection(Self.gateWidth, rows: capacity)
        stateGradients = perDirection(Self.hiddenWidth, rows: capacity)
        rowOfRank = .init(repeating: 0, count: capacity)
        lengthOfRank = .init(repeating: 0, count: capacity)
        activeCounts = .init(repeating: 0, count: Self.maxLength)
        stepStarts = .init(repeating: 0, count: Self.maxLength + 1)
        tokens = [.init(repeating: 0, count: maxTokens), .init(repeating: 0, count: maxTokens)]
    }

    /// E ~ N(0, 1); every GRU weight and bias ~ U(−1/√128, 1/√128).
    public func initialize(_ parameters: UnsafeMutablePointer<Float>, rng: inout Xoshiro256) {
        for i in 0..<(itemCount * Self.embeddingWidth) { parameters[embeddingOffset + i] = rng.nextGaussianFloat() }
        let bound = 1 / Float(Self.hiddenWidth).squareRoot()
        for i in (embeddingOffset + itemCount * Self.embeddingWidth)..<parameterRange.upperBound {
            parameters[i] = (rng.nextUniformFloat() * 2 - 1) * bound
        }
    }

    /// Writes r (256 floats) for each sequence to `output + row · outputStride`, and caches the
    /// activations for ``backward``. Only the last ``maxLength`` items of a sequence are read.
    public func encode(
        _ sequences: ArraySlice<ArraySlice<Int32>>, parameters: UnsafePointer<Float>,
        output: UnsafeMutablePointer<Float>, outputStride: Int
    ) {
        precondition(sequences.count <= capacity, "at most \(capacity) sequences per call")
        pack(sequences)
        let parameters = SendablePointer(UnsafeMutablePointer(mutating: parameters))
        bothDirections { encoder, direction in encoder.run(direction, parameters: parameters.pointer) }
        let hidden = Self.hiddenWidth
        for rank in 0..<sequences.count {
            let row = output + rowOfRank[rank] * outputStride
            row.update(from: states[0].pointer + rank * hidden, count: hidden)
            (row + hidden).update(from: states[1].pointer + rank * hidden, count: hidden)
        }
    }

    /// Orders the rows by decreasing length (ties by row) and lays out each direction's tokens.
    private func pack(_ sequences: ArraySlice<ArraySlice<Int32>>) {
        rowCount = sequences.count
        var rank = 0
        for length in stride(from: Self.maxLength, through: 0, by: -1) {
            for (row, sequence) in sequences.enumerated() where min(sequence.count, Self.maxLength) == length {
                rowOfRank[rank] = row
                lengthOfRank[rank] = length
                rank += 1
            }
        }
        tokenCount = 0
        for step in 0..<Self.maxLength {
            stepStarts[step] = tokenCount
            var active = 0
            while active < sequences.count && lengthOfRank[active] > step {
                let sequence = sequences[sequences.startIndex + rowOfRank[active]]
                let last = sequence.suffix(Self.maxLength)
                let length = lengthOfRank[active]
                tokens[0][tokenCount] = last[last.startIndex + step]
                tokens[1][tokenCount] = last[last.startIndex + length - 1 - step]
                tokenCount += 1
                active += 1
            }
            activeCounts[step] = active
        }
        stepStarts[Self.maxLength] = tokenCount
        states[0].pointer.update(repeating: 0, count: sequences.count * Self.hiddenWidth)
        states[1].pointer.update(repeating: 0, count: sequences.count * Self.hiddenWidth)
    }

    /// One direction's recurrence over the packed tokens:
    /// r = σ(W_ir x + b_ir + W_hr h + b_hr), z = σ(W_iz x + b_iz + W_hz h + b_hz),
    /// n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)), h' = (1 − z) ⊙ n + z ⊙ h.
    func run(_ direction: Int, parameters: UnsafePointer<Float>) {
        let weights = directions[direction], hidden = Self.hiddenWidth, gateWidth = Self.gateWidth
        let width = Self.embeddingWidth, count = tokenCount
        guard count > 0 else { return }
        let x = inputs[direction].pointer, projected = inputProjections[direction].pointer
        let gate = gates[direction].pointer, recurrent = hiddenProjections[direction].pointer
        let previous = previousStates[direction].pointer, state = states[direction].pointer
        tokens[direction].withUnsafeBufferPointer { items in
            for token in 0..<count {
                (x + token * width).update(from: parameters + embeddingOffset + Int(items[token]) * width, count: width)
            }
        }
        for token in 0..<count { (projected + token * gateWidth).update(from: parameters + weights.inputBias, count: gateWidth) }
        BLAS.sgemm(
            .none, .transpose, m: count, n: gateWidth, k: width, alpha: 1, a: x, lda: width,
            b: parameters + weights.inputWeights, ldb: width, beta: 1, c: projected, ldc: gateWidth)
        for step in 0..<Self.maxLength where activeCounts[step] > 0 {
            let active = activeCounts[step], base = stepStarts[step]
            let h0 = previous + base * hidden, gh = recurrent + base * gateWidth
            h0.update(from: state, count: active * hidden)
            for rank in 0..<active { (gh + rank * gateWidth).update(from: parameters + weights.hiddenBias, count: gateWidth) }
            BLAS.sgemm(
                .none, .transpose, m: active, n: gateWidth, k: hidden, alpha: 1, a: h0, lda: hidden,
                b: parameters + weights.hiddenWeights, ldb: hidden, beta: 1, c: gh, ldc: gateWidth)
            for rank in 0..<active {
                let gi = projected + (base + rank) * gateWidth, ghRow = gh + rank * gateWidth
                let g = gate + (base + rank) * gateWidth, hPrevious = h0 + rank * hidden, h = state + rank * hidden
                for k in 0..<hidden {
                    let r = sigmoid(gi[k] + ghRow[k])
                    let z = sigmoid(gi[hidden + k] + ghRow[hidden + k])
                    let n = tanh(gi[2 * hidden + k] + r * ghRow[2 * hidden + k])
                    g[k] = r
                    g[hidden + k] = z
                    g[2 * hidden + k] = n
                    h[k] = (1 - z) * n + z * hPrevious[k]
                }
            }
        }
    }

    /// Given ∂L/∂r for each sequence of the last ``encode`` (at `outputGradient + row · stride`),
    /// writes the GRU's weight and bias gradients into `gradients` and adds ∂L/∂E into the rows of
    /// the items the batch read.
    public func backward(
        outputGradient: UnsafePointer<Float>, stride: Int, parameters: UnsafePointer<Float>,
        gradients: UnsafeMutablePointer<Float>
    ) {
        for direction in 0..<2 {
            let hidden = Self.hiddenWidth, dh = stateGradients[direction].pointer
            for rank in 0..<rowCount {
                dh.advanced(by: rank * hidden).update(from: outputGradient + rowOfRank[rank] * stride + direction * hidden, count: hidden)
            }
        }
        let parameters = SendablePointer(UnsafeMutablePointer(mutating: parameters)), shared = SendablePointer(gradients)
        bothDirections { encoder, direction in
            encoder.backPropagate(direction, parameters: parameters.pointer, gradients: shared.pointer)
        }
        // ∂E: each direction's ∂x rows into the table, in a fixed order.
        let width = Self.embeddingWidth
        for direction in 0..<2 {
            let dx = inputs[direction].pointer
            tokens[direction].withUnsafeBufferPointer { items in
                for token in 0..<tokenCount {
                    let target = gradients + embeddingOffset + Int(items[token]) * width, source = dx + token * width
                    for k in 0..<width { target[k] += source[k] }
                }
            }
        }
    }

    /// Runs `body` for direction 0 and 1, on two threads when ``threads`` allows.
    private func bothDirections(_ body: @escaping @Sendable (SequenceEncoder, Int) -> Void) {
        if threads == 1 {
            body(self, 0)
            body(self, 1)
        } else {
            let encoder = UncheckedEncoder(encoder: self)
            DispatchQueue.concurrentPerform(iterations: 2) { body(encoder.encoder, $0) }
        }
    }

    func backPropagate(_ direction: Int, parameters: UnsafePointer<Float>, gradients: UnsafeMutablePointer<Float>) {
        let weights = directions[direction], hidden = Self.hiddenWidth, gateWidth = Self.gateWidth
        let width = Self.embeddingWidth, count = tokenCount
        let inputWeightGradients = gradients + weights.inputWeights, hiddenWeightGradients = gradients + weights.hiddenWeights
        let inputBiasGradients = gradients + weights.inputBias, hiddenBiasGradients = gradients + weights.hiddenBias
        inputWeightGradients.update(repeating: 0, count: gateWidth * width)
        hiddenWeightGradients.update(repeating: 0, count: gateWidth * hidden)
        inputBiasGradients.update(repeating: 0, count: gateWidth)
        hiddenBiasGradients.update(repeating: 0, count: gateWidth)
        guard count > 0 else { return }
        let gate = gates[direction].pointer, recurrent = hiddenProjections[direction].pointer
        let previous = previousStates[direction].pointer
        let dGates = gateGradients[direction].pointer, dStep = stepGateGradients[direction].pointer
        let dh = stateGradients[direction].pointer
        for step in stride(from: Self.maxLength - 1, through: 0, by: -1) where activeCounts[step] > 0 {
            let active = activeCounts[step], base = stepStarts[step]
            for rank in 0..<active {
                let token = base + rank
                let g = gate + token * gateWidth, ghRow = recurrent + token * gateWidth
                let hPrevious = previous + token * hidden, dhRow = dh + rank * hidden
                let dInput = dGates + token * gateWidth, dRecurrent = dStep + rank * gateWidth
                for k in 0..<hidden {
                    let r = g[k], z = g[hidden + k], n = g[2 * hidden + k], upstream = dhRow[k]
                    let dn = upstream * (1 - z) * (1 - n * n)
                    let dz = upstream * (hPrevious[k] - n) * z * (1 - z)
                    let dr = dn * ghRow[2 * hidden + k] * r * (1 - r)
                    dInput[k] = dr
                    dInput[hidden + k] = dz
                    dInput[2 * hidden + k] = dn
                    dRecurrent[k] = dr
                    dRecurrent[hidden + k] = dz
                    dRecurrent[2 * hidden + k] = dn * r
                    dhRow[k] = upstream * z
                }
            }
            // ∂h_{t−1} += ∂gh·W_hh; ∂W_hh += ∂ghᵀ·h_{t−1}; ∂b_hh += Σ ∂gh.
            BLAS.sgemm(
                .none, .none, m: active, n: hidden, k: gateWidth, alpha: 1, a: dStep, lda: gateWidth,
                b: parameters + weights.hiddenWeights, ldb: hidden, beta: 1, c: dh, ldc: hidden)
            BLAS.sgemm(
                .transpose, .none, m: gateWidth, n: hidden, k: active, alpha: 1, a: dStep, lda: gateWidth,
                b: previous + base * hidden, ldb: hidden, beta: 1, c: hiddenWeightGradients, ldc: hidden)
            for rank in 0..<active {
                let row = dStep + rank * gateWidth
                for k in 0..<gateWidth { hiddenBiasGradients[k] += row[k] }
            }
        }
        // Over every token at once: ∂W_ih = ∂giᵀ·x, ∂b_ih = Σ ∂gi, ∂x = ∂gi·W_ih (into the input buffer,
        // which ``backward`` then adds into ∂E).
        let x = inputs[direction].pointer
        BLAS.sgemm(
            .transpose, .none, m: gateWidth, n: width, k: count, alpha: 1, a: dGates, lda: gateWidth,
            b: x, ldb: width, beta: 0, c: inputWeightGradients, ldc: width)
        for token in 0..<count {
            let row = dGates + token * gateWidth
            for k in 0..<gateWidth { inputBiasGradients[k] += row[k] }
        }
        BLAS.sgemm(
            .none, .none, m: count, n: width, k: gateWidth, alpha: 1, a: dGates, lda: gateWidth,
            b: parameters + weights.inputWeights, ldb: width, beta: 0, c: x, ldc: width)
    }

    /// Zeroes the embedding-gradient rows the last ``backward`` wrote (the others are already zero).
    public func clearEmbeddingGradients(_ gradients: UnsafeMutablePointer<Float>) {
        // Both directions read the same tokens, in different orders.
        for token in 0..<tokenCount {
            (gradients + embeddingOffset + Int(tokens[0][token]) * Self.embeddingWidth).update(repeating: 0, count: Self.embeddingWidth)
        }
    }

    /// σ(x) = 1 / (1 + e^−x), from ``FastMath/exp(_:)`` so results do not depend on the libm.
    @inline(__always)
    private func sigmoid(_ x: Float) -> Float { 1 / (1 + FastMath.exp(-x)) }

    /// tanh(x) = sign(x)·(1 − e^−2|x|) / (1 + e^−2|x|).
    @inline(__always)
    private func tanh(_ x: Float) -> Float {
        let e = FastMath.exp(-2 * abs(x))
        let magnitude = (1 - e) / (1 + e)
        return x < 0 ? -magnitude : magnitude
    }
}

/// The encoder handed to the two direction threads, which touch disjoint buffers (the ∂E rows they
/// share are written after both finish).
private struct UncheckedEncoder: @unchecked Sendable {
    let encoder: SequenceEncoder
}
