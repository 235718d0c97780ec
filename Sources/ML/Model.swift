import Dispatch

/// The recommender of `ml.md` without the optional branches: z = W2·dropout(ReLU(W1·x + b1)) + b2.
///
/// Parameters live in one flat vector (``parameters``) with a matching ``gradients`` vector.
/// Activations live in buffers sized for the largest batch, so a step allocates nothing.
///
/// **Speed.** The output layer (N × 512, most of the model) dominates a step, and its work is
/// separable by item. A training step therefore walks the items in blocks of ``itemBlock``: for
/// each block it computes the logits, the loss and ∂L/∂logits, the bias and weight gradients, the
/// block's share of ∂L/∂h, and the optimiser update of the block's rows, while they are in cache.
/// Blocks run on ``threads`` threads, each calling single-threaded BLAS. Per-block partial sums
/// are combined in block order, so results are bit-identical for any thread count.
///
/// The type is not thread-safe: one trainer owns it.
public final class Recommender {
    public static let hiddenDimensions = 512
    /// Items per block of the output layer: a 256 × 512 weight block (512 KiB) stays in L2.
    public static let itemBlock = 256

    public let inputDimensions: Int
    public let itemCount: Int
    public let maxBatch: Int
    public let threads: Int
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
    /// Per block: its share of ∂L/∂h (rows × 512) and its part of each row's loss.
    let hiddenPartials: FloatBuffer
    let rowTotals: UnsafeMutableBufferPointer<Double>
    /// Per thread: one block's per-element losses.
    let lossScratch: FloatBuffer

    var blockCount: Int { (itemCount + Self.itemBlock - 1) / Self.itemBlock }

    /// A model with PyTorch-initialised layers drawn from `rng`.
    /// - Parameters:
    ///   - maxBatch: the most rows one call handles (training batch or evaluation batch).
    ///   - threads: threads for the output layer's blocks (BLAS itself is kept single-threaded).
    public init(inputDimensions: Int, itemCount: Int, dropout: Float, maxBatch: Int, threads: Int = 1,
                rng: inout Xoshiro256) {
        // The model splits its work over its own threads; every BLAS call runs on its caller's
        // thread. (OpenBLAS starts with one thread per core; its sums would then depend on that.)
        BLAS.setThreads(1)
        self.inputDimensions = inputDimensions
        self.itemCount = itemCount
        self.maxBatch = maxBatch
        self.threads = max(1, threads)
        var layout = ParameterLayout()
        trunk = Linear(inputDimensions, Self.hiddenDimensions, name: "trunk", layout: &layout)
        output = Linear(Self.hiddenDimensions, itemCount, name: "output", layout: &layout)
        self.layout = layout
        self.dropout = Dropout(probability: dropout)
        parameters = FloatBuffer(count: layout.count)
        gradients = FloatBuffer(count: layout.count)
        trunk.initialize(parameters.pointer, rng: &rng)
        output.initialize(parameters.pointer, rng: &rng)
        let width = Self.hiddenDimensions
        inputs = FloatBuffer(count: maxBatch * inputDimensions)
        hidden = FloatBuffer(count: maxBatch * width)
        mask = FloatBuffer(count: maxBatch * width)
        logits = FloatBuffer(count: maxBatch * itemCount)
        logitGradients = FloatBuffer(count: maxBatch * itemCount)
        hiddenGradients = FloatBuffer(count: maxBatch * width)
        let blocks = (itemCount + Self.itemBlock - 1) / Self.itemBlock
        hiddenPartials = FloatBuffer(count: blocks * maxBatch * width)
        rowTotals = .allocate(capacity: blocks * maxBatch)
        lossScratch = FloatBuffer(count: self.threads * Self.itemBlock)
    }

    deinit { rowTotals.deallocate() }

    /// Copies rows `indices` of a row-major `source` (width D) into the input buffer.
    public func gather(_ source: UnsafePointer<Float>, indices: some Collection<Int>) {
        precondition(indices.count <= maxBatch)
        for (row, index) in indices.enumerated() {
            (inputs.pointer + row * inputDimensions).update(from: source + index * inputDimensions, count: inputDimensions)
        }
    }

    /// When set, each phase adds its time here (for benchmarks). Phases inside the parallel block
    /// loop add the time of every thread.
    public var profile: StepProfile?

    @inline(__always)
    func timed(_ phase: StepProfile.Phase, _ body: () -> Void) {
        guard profile != nil else { return body() }
        let start = DispatchTime.now().uptimeNanoseconds
        body()
        profile!.add(phase, nanoseconds: DispatchTime.now().uptimeNanoseconds - start)
    }

    /// h = ReLU(W1·x + b1), then dropout when `rng` is given (training).
    func trunkForward(rows: Int, dropoutRNG rng: inout Xoshiro256?) {
        let count = rows * Self.hiddenDimensions
        timed(.trunkForward) {
            trunk.forward(inputs.pointer, rows: rows, into: hidden.pointer, parameters: parameters.pointer)
        }
        timed(.activations) {
            ReLU.forward(hidden.pointer, count: count)
            if rng != nil { dropout.forward(hidden.pointer, count: count, mask: mask.pointer, rng: &rng!) }
        }
    }

    /// Logits for the `rows` gathered inputs, in ``logits`` (rows × N). With `rng`, dropout is on.
    public func forward(rows: Int, dropoutRNG rng: inout Xoshiro256?) {
        trunkForward(rows: rows, dropoutRNG: &rng)
        let context = BlockContext(self, rows: rows)
        parallelBlocks { block, _ in context.outputForward(block) }
    }

    /// One training step on the gathered rows: forward with dropout, `loss`, every gradient, and
    /// the optimiser's update when one is given (without one, the gradients are left in
    /// ``gradients``). Returns the mean loss.
    public func trainStep(rows: Int, loss: LossKind, targets: TargetBatch, dropoutRNG: inout Xoshiro256,
                          optimizer: Adam?) -> Double {
        var rng: Xoshiro256? = dropoutRNG
        trunkForward(rows: rows, dropoutRNG: &rng)
        dropoutRNG = rng!
        optimizer?.beginStep()
        let context = BlockContext(self, rows: rows, loss: loss, targets: targets, optimizer: optimizer)
        let threadProfiles = UnsafeMutableBufferPointer<StepProfile>.allocate(capacity: threads)
        threadProfiles.initialize(repeating: StepProfile())
        defer { threadProfiles.deallocate() }
        let profiles = ProfileSlots(slots: profile == nil ? nil : threadProfiles.baseAddress)
        parallelBlocks { block, thread in context.trainBlock(block, thread: thread, profile: profiles.slot(thread)) }
        if profile != nil { for slot in threadProfiles { profile!.merge(slot) } }

        // Combine the blocks in block order: the same sums for any thread count.
        let width = Self.hiddenDimensions, count = rows * width
        var total = 0.0
        timed(.hiddenGradient) {
            for block in 0..<blockCount { for row in 0..<rows { total += rowTotals[block * rows + row] } }
            hiddenGradients.pointer.update(from: hiddenPartials.pointer, count: count)
            for block in 1..<max(blockCount, 1) {
                let partial = hiddenPartials.pointer + block * maxBatch * width
                for i in 0..<count { hiddenGradients[i] += partial[i] }
            }
        }
        timed(.activations) {
            dropout.backward(gradient: hiddenGradients.pointer, count: count, mask: mask.pointer)
            // The hidden buffer holds dropout(ReLU(·)): positive exactly where ReLU passed and dropout kept.
            ReLU.backward(output: hidden.pointer, gradient: hiddenGradients.pointer, count: count)
        }
        timed(.trunkBackward) {
            trunk.weightGradient(input: inputs.pointer, gradOutput: hiddenGradients.pointer, rows: rows,
                                 gradients: gradients.pointer, accumulate: false)
            trunk.biasGradient(gradOutput: hiddenGradients.pointer, rows: rows, gradients: gradients.pointer, accumulate: false)
        }
        if let optimizer {
            timed(.adam) {
                optimizer.apply(parameters: parameters.pointer, gradients: gradients.pointer,
                                range: trunk.weightOffset..<output.weightOffset)
            }
        }
        return total / Double(rows * itemCount)
    }

    /// Runs `body(block, thread)` for every block, block t, t + T, … on thread t.
    func parallelBlocks(_ body: @escaping @Sendable (Int, Int) -> Void) {
        let blocks = blockCount, threads = min(self.threads, blocks)
        if threads == 1 {
            for block in 0..<blocks { body(block, 0) }
        } else {
            DispatchQueue.concurrentPerform(iterations: threads) { thread in
                for block in stride(from: thread, to: blocks, by: threads) { body(block, thread) }
            }
        }
    }
}

/// What the threads of one block loop share: raw buffers (each block writes only its own columns,
/// rows of W2, partial and row totals), the layer geometry, and the step's loss and optimiser.
struct BlockContext: @unchecked Sendable {
    let rows: Int, items: Int, maxBatch: Int
    let output: Linear
    let parameters: UnsafeMutablePointer<Float>, gradients: UnsafeMutablePointer<Float>
    let hidden: UnsafePointer<Float>
    let logits: UnsafeMutablePointer<Float>, logitGradients: UnsafeMutablePointer<Float>
    let hiddenPartials: UnsafeMutablePointer<Float>, rowTotals: UnsafeMutablePointer<Double>
    let lossScratch: UnsafeMutablePointer<Float>
    let loss: LossKind?
    let targets: TargetBatch?
    let optimizer: Adam?

    init(_ model: Recommender, rows: Int, loss: LossKind? = nil, targets: TargetBatch? = nil, optimizer: Adam? = nil) {
        self.rows = rows
        items = model.itemCount
        maxBatch = model.maxBatch
        output = model.output
        parameters = model.parameters.pointer
        gradients = model.gradients.pointer
        hidden = UnsafePointer(model.hidden.pointer)
        logits = model.logits.pointer
        logitGradients = model.logitGradients.pointer
        hiddenPartials = model.hiddenPartials.pointer
        rowTotals = model.rowTotals.baseAddress!
        lossScratch = model.lossScratch.pointer
        self.loss = loss
        self.targets = targets
        self.optimizer = optimizer
    }

    func columns(_ block: Int) -> Range<Int> {
        let start = block * Recommender.itemBlock
        return start..<min(start + Recommender.itemBlock, items)
    }

    /// logits[:, block] = h·W2[block]ᵀ + b2[block].
    func outputForward(_ block: Int) {
        let columns = columns(block)
        let bias = parameters + output.biasOffset + columns.lowerBound
        for row in 0..<rows { (logits + row * items + columns.lowerBound).update(from: bias, count: columns.count) }
        BLAS.sgemm(.none, .transpose, m: rows, n: columns.count, k: Recommender.hiddenDimensions, alpha: 1,
                   a: hidden, lda: Recommender.hiddenDimensions,
                   b: parameters + output.weightOffset + columns.lowerBound * Recommender.hiddenDimensions,
                   ldb: Recommender.hiddenDimensions, beta: 1, c: logits + columns.lowerBound, ldc: items)
    }

    /// The whole training pipeline of one block of items, while its data is in cache.
    func trainBlock(_ block: Int, thread: Int, profile: UnsafeMutablePointer<StepProfile>?) {
        let columns = columns(block), width = Recommender.hiddenDimensions
        let weightBlock = output.weightOffset + columns.lowerBound * width
        func timed(_ phase: StepProfile.Phase, _ body: () -> Void) {
            guard let profile else { return body() }
            let start = DispatchTime.now().uptimeNanoseconds
            body()
            profile.pointee.add(phase, nanoseconds: DispatchTime.now().uptimeNanoseconds - start)
        }
        timed(.outputForward) { outputForward(block) }
        timed(.loss) {
            loss!.evaluate(logits: logits, gradient: logitGradients, rows: rows, stride: items, columns: columns,
                           targets: targets!, gradientScale: 1 / Float(rows * items),
                           rowTotals: rowTotals + block * rows, scratch: lossScratch + thread * Recommender.itemBlock)
        }
        timed(.biasGradients) {
            let db = gradients + output.biasOffset
            for j in columns { db[j] = 0 }
            for row in 0..<rows {
                let dz = logitGradients + row * items
                for j in columns { db[j] += dz[j] }
            }
        }
        timed(.outputInputGradient) {
            // This block's share of ∂L/∂h, from W2 before the optimiser moves it.
            BLAS.sgemm(.none, .none, m: rows, n: width, k: columns.count, alpha: 1,
                       a: logitGradients + columns.lowerBound, lda: items, b: parameters + weightBlock, ldb: width,
                       beta: 0, c: hiddenPartials + block * maxBatch * width, ldc: width)
        }
        timed(.outputWeightGradient) {
            BLAS.sgemm(.transpose, .none, m: columns.count, n: width, k: rows, alpha: 1,
                       a: logitGradients + columns.lowerBound, lda: items, b: hidden, ldb: width,
                       beta: 0, c: gradients + weightBlock, ldc: width)
        }
        if let optimizer {
            timed(.adam) {
                optimizer.apply(parameters: parameters, gradients: gradients, range: weightBlock..<(weightBlock + columns.count * width))
                let biasBlock = output.biasOffset + columns.lowerBound
                optimizer.apply(parameters: parameters, gradients: gradients, range: biasBlock..<(biasBlock + columns.count))
            }
        }
    }
}

/// Per-thread profile slots (or none).
struct ProfileSlots: @unchecked Sendable {
    let slots: UnsafeMutablePointer<StepProfile>?
    func slot(_ thread: Int) -> UnsafeMutablePointer<StepProfile>? { slots.map { $0 + thread } }
}

/// Time per phase of training steps, for the benchmark's breakdown.
public struct StepProfile: Sendable {
    public enum Phase: String, CaseIterable, Sendable {
        case gather = "gather batch"
        case trunkForward = "trunk GEMM (forward)"
        case activations = "ReLU + dropout (both ways)"
        case outputForward = "output GEMM (forward)"
        case loss = "loss kernel"
        case biasGradients = "output bias gradient"
        case outputInputGradient = "output GEMM (∂h)"
        case outputWeightGradient = "output GEMM (∂W2)"
        case hiddenGradient = "sum ∂h and losses over blocks"
        case trunkBackward = "trunk GEMM + bias (∂W1, ∂b1)"
        case adam = "Adam"
    }

    public private(set) var nanoseconds: [Phase: UInt64] = [:]

    public init() {}

    public mutating func add(_ phase: Phase, nanoseconds elapsed: UInt64) {
        nanoseconds[phase, default: 0] += elapsed
    }

    public mutating func merge(_ other: StepProfile) {
        for (phase, elapsed) in other.nanoseconds { add(phase, nanoseconds: elapsed) }
    }
}
