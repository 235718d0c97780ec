import Dispatch
import Foundation
import Vocabulary

/// The recommender of `ml.md`: z = W2·dropout(ReLU(W1·[x; r] + b1)) + b2, with r from the optional
/// GRU branch (``encoder``), and the multi-task head's tag rows [t; 0] through the same layers.
///
/// Parameters live in one flat vector (``parameters``) with a matching ``gradients`` vector.
/// Activations live in buffers sized for the largest batch, so a step allocates nothing.
///
/// **A batch** is ``gather(_:indices:mentioned:)`` (the example rows) and, for multi-task
/// training, ``gatherTags(_:indices:items:)`` (tag rows after them). Both kinds of row share one
/// trunk GEMM and one output GEMM per item block.
///
/// **Speed.** The output layer (N × 512, most of the model) dominates a step, and its work is
/// separable by item. A training step therefore walks the items in blocks of ``itemBlock``: for
/// each block it computes the logits, the loss and ∂L/∂logits, the bias and weight gradients, the
/// block's share of ∂L/∂h, and the optimiser update of the block's rows, while they are in cache.
/// The tag rows' cross-entropy needs each row's log-sum-exp over all N items first, so with tag
/// rows a step makes two passes over the blocks: logits, main loss and per-block softmax sums,
/// then everything else. Blocks run on ``threads`` threads, each calling single-threaded BLAS.
/// Per-block partial sums are combined in block order, so results are bit-identical for any
/// thread count.
///
/// The type is not thread-safe: one trainer owns it.
public final class Recommender {
    /// The trunk's width in `ml.md` (the `hidden` key's default).
    public static let hiddenDimensions = 512
    /// This model's trunk width.
    public let hiddenWidth: Int
    /// Items per block of the output layer: a 256 × 512 weight block (512 KiB) stays in L2.
    public static let itemBlock = 256

    public let inputDimensions: Int
    public let itemCount: Int
    /// The most rows (examples and tags together) one step or evaluation batch holds.
    public let maxBatch: Int
    public let threads: Int
    /// The GRU branch, when the model has one.
    public let encoder: SequenceEncoder?
    /// The trunk's input width: D, plus 256 with the GRU branch.
    public let trunkInputWidth: Int
    public let layout: ParameterLayout
    public let trunk: Linear
    public let output: Linear
    public let dropout: Dropout
    public let parameters: FloatBuffer
    public let gradients: FloatBuffer

    /// The rows of the current batch: examples first, then tag pairs.
    public private(set) var exampleRows = 0
    public private(set) var tagRows = 0
    var rows: Int { exampleRows + tagRows }
    /// The example rows' mentioned items (with the GRU branch).
    private var sequences: [ArraySlice<Int32>] = []

    // Workspace, rows × width, for at most `maxBatch` rows.
    let inputs: FloatBuffer
    let hidden: FloatBuffer
    let mask: FloatBuffer
    public let logits: FloatBuffer
    let logitGradients: FloatBuffer
    let hiddenGradients: FloatBuffer
    /// Per block: its share of ∂L/∂h (rows × 512) and its part of each example row's loss.
    let hiddenPartials: FloatBuffer
    let rowTotals: UnsafeMutableBufferPointer<Double>
    /// Per thread: one block's per-element losses.
    let lossScratch: FloatBuffer
    /// Per tag row: its target item and log-sum-exp; per block and tag row: the block's max and Σ e^(z − max).
    let tagItems: UnsafeMutableBufferPointer<Int32>
    let logSumExps: UnsafeMutableBufferPointer<Double>
    let blockMaxima: FloatBuffer
    let blockSums: FloatBuffer
    /// Per block, for GradNorm: the Gram matrices ∂Z·∂Zᵀ of each task's rows over the block's items.
    private var gramPartials = FloatBuffer(count: 0)
    /// ∂L/∂r of the example rows (GRU branch).
    let sequenceGradients: FloatBuffer
    /// The prior, and the gathered example rows' prior scores (rows × N).
    public let prior: PriorScorer?
    let priorScores: FloatBuffer

    var blockCount: Int { (itemCount + Self.itemBlock - 1) / Self.itemBlock }

    /// A model with PyTorch-initialised layers drawn from `rng`.
    /// - Parameters:
    ///   - maxBatch: the most rows one call handles (training batch with its tag rows, or evaluation batch).
    ///   - threads: threads for the output layer's blocks (BLAS itself is kept single-threaded).
    ///   - rnn: add the GRU branch over the mentioned items.
    ///   - maxSequences: the most example rows of a training step (the GRU caches that many); default `maxBatch`.
    ///   - hidden: the trunk's width (`ml.md`: 512).
    ///   - prior: a prior added to the example rows' logits (training and evaluation).
    public init(
        inputDimensions: Int, itemCount: Int, dropout: Float, maxBatch: Int, threads: Int = 1,
        rnn: Bool = false, maxSequences: Int? = nil, hidden: Int = Recommender.hiddenDimensions,
        prior: PriorScorer? = nil, rng: inout Xoshiro256
    ) {
        // The model splits its work over its own threads; every BLAS call runs on its caller's
        // thread (`BLAS` starts OpenBLAS with one thread: its sums would otherwise depend on the cores).
        self.inputDimensions = inputDimensions
        self.itemCount = itemCount
        self.maxBatch = maxBatch
        self.threads = max(1, threads)
        hiddenWidth = hidden
        self.prior = prior
        priorScores = FloatBuffer(count: prior == nil ? 0 : maxBatch * itemCount)
        trunkInputWidth = inputDimensions + (rnn ? SequenceEncoder.outputWidth : 0)
        var layout = ParameterLayout()
        trunk = Linear(trunkInputWidth, hidden, name: "trunk", layout: &layout)
        output = Linear(hidden, itemCount, name: "output", layout: &layout)
        let sequenceCapacity = min(maxSequences ?? maxBatch, maxBatch)
        encoder = rnn ? SequenceEncoder(itemCount: itemCount, capacity: sequenceCapacity, threads: threads, layout: &layout) : nil
        self.layout = layout
        self.dropout = Dropout(probability: dropout)
        parameters = FloatBuffer(count: layout.count)
        gradients = FloatBuffer(count: layout.count)
        trunk.initialize(parameters.pointer, rng: &rng)
        output.initialize(parameters.pointer, rng: &rng)
        encoder?.initialize(parameters.pointer, rng: &rng)
        let width = hidden
        inputs = FloatBuffer(count: maxBatch * trunkInputWidth)
        self.hidden = FloatBuffer(count: maxBatch * width)
        mask = FloatBuffer(count: maxBatch * width)
        logits = FloatBuffer(count: maxBatch * itemCount)
        logitGradients = FloatBuffer(count: maxBatch * itemCount)
        hiddenGradients = FloatBuffer(count: maxBatch * width)
        let blocks = (itemCount + Self.itemBlock - 1) / Self.itemBlock
        hiddenPartials = FloatBuffer(count: blocks * maxBatch * width)
        rowTotals = .allocate(capacity: blocks * maxBatch)
        lossScratch = FloatBuffer(count: self.threads * Self.itemBlock)
        tagItems = .allocate(capacity: maxBatch)
        logSumExps = .allocate(capacity: maxBatch)
        blockMaxima = FloatBuffer(count: blocks * maxBatch)
        blockSums = FloatBuffer(count: blocks * maxBatch)
        sequenceGradients = FloatBuffer(count: rnn ? sequenceCapacity * SequenceEncoder.outputWidth : 0)
        sequences.reserveCapacity(maxBatch)
    }

    deinit {
        rowTotals.deallocate()
        tagItems.deallocate()
        logSumExps.deallocate()
    }

    /// Starts a batch with example rows: copies rows `indices` of a row-major `source` (width D),
    /// with the GRU branch takes each one's mentioned items from `mentioned`, and with a prior takes
    /// each one's prior scores from `priorRows` (the same split's). Drops any tag rows.
    public func gather(
        _ source: UnsafePointer<Float>, indices: some Collection<Int>, mentioned: [[Int32]]? = nil,
        priorRows: PriorRows? = nil
    ) {
        precondition(indices.count <= maxBatch)
        precondition(encoder == nil || mentioned != nil, "the GRU branch needs the mentioned items")
        precondition((prior == nil) == (priorRows == nil), "a model with a prior needs its rows, and only it")
        sequences.removeAll(keepingCapacity: true)
        for (row, index) in indices.enumerated() {
            (inputs.pointer + row * trunkInputWidth).update(from: source + index * inputDimensions, count: inputDimensions)
            if encoder != nil { sequences.append(mentioned![index][...]) }
            priorRows?.scores(example: index, into: priorScores.pointer + row * itemCount)
        }
        exampleRows = indices.count
        tagRows = 0
    }

    /// Appends tag rows [t; 0] after the example rows: rows `indices` of the tag embeddings `source`
    /// (width D), each with the item it names in `items`.
    public func gatherTags(_ source: UnsafePointer<Float>, indices: some Collection<Int>, items: [Int32]) {
        precondition(rows + indices.count <= maxBatch)
        for (offset, index) in indices.enumerated() {
            let row = inputs.pointer + (exampleRows + offset) * trunkInputWidth
            row.update(from: source + index * inputDimensions, count: inputDimensions)
            (row + inputDimensions).update(repeating: 0, count: trunkInputWidth - inputDimensions)
            tagItems[offset] = items[index]
        }
        tagRows = indices.count
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

    /// r for the example rows (GRU branch), then h = ReLU(W1·[x; r] + b1), then dropout when `rng`
    /// is given (training).
    func trunkForward(dropoutRNG rng: inout Xoshiro256?) {
        if let encoder {
            timed(.sequenceForward) {
                for start in stride(from: 0, to: exampleRows, by: encoder.capacity) {
                    let end = min(start + encoder.capacity, exampleRows)
                    encoder.encode(
                        sequences[start..<end], parameters: parameters.pointer,
                        output: inputs.pointer + start * trunkInputWidth + inputDimensions, outputStride: trunkInputWidth)
                }
            }
        }
        let count = rows * hiddenWidth
        timed(.trunkForward) {
            trunk.forward(inputs.pointer, rows: rows, into: hidden.pointer, parameters: parameters.pointer)
        }
        timed(.activations) {
            ReLU.forward(hidden.pointer, count: count)
            if rng != nil { dropout.forward(hidden.pointer, count: count, mask: mask.pointer, rng: &rng!) }
        }
    }

    /// Logits for the gathered rows, in ``logits`` (rows × N). With `rng`, dropout is on.
    public func forward(dropoutRNG rng: inout Xoshiro256?) {
        trunkForward(dropoutRNG: &rng)
        let context = BlockContext(self)
        parallelBlocks { block, _ in context.outputForward(block) }
    }

    /// One training step on the gathered rows: forward with dropout, the main `loss` on the example
    /// rows and the cross-entropy on the tag rows, weighted L = mainWeight·L_main + auxWeight·L_aux,
    /// every gradient, and the optimiser's update when one is given (without one, the gradients are
    /// left in ``gradients``). Returns the raw (unweighted) mean losses.
    /// - Parameter measureGradientNorms: also return G_i = ‖∇_{W2}(w_i·L_i)‖ for each task (GradNorm).
    public func trainStep(
        loss: LossKind, targets: TargetBatch, mainWeight: Float = 1, auxWeight: Float = 1,
        measureGradientNorms: Bool = false, dropoutRNG: inout Xoshiro256, optimizer: Adam?
    ) -> StepLosses {
        precondition(targets.rows == exampleRows, "one target row per example row")
        precondition(!measureGradientNorms || tagRows > 0, "gradient norms per task need tag rows")
        precondition(encoder == nil || exampleRows <= encoder!.capacity, "more example rows than the GRU caches")
        var rng: Xoshiro256? = dropoutRNG
        trunkForward(dropoutRNG: &rng)
        dropoutRNG = rng!
        optimizer?.beginStep()
        let gramSize = exampleRows * exampleRows + tagRows * tagRows
        if measureGradientNorms && gramPartials.count < blockCount * gramSize {
            gramPartials = FloatBuffer(count: blockCount * gramSize)
        }
        let context = BlockContext(
            self, loss: loss, targets: targets, mainScale: mainWeight / Float(exampleRows * itemCount),
            auxScale: tagRows > 0 ? auxWeight / Float(tagRows) : 0,
            gramPartials: measureGradientNorms ? gramPartials.pointer : nil, optimizer: optimizer)
        let threadProfiles = UnsafeMutableBufferPointer<StepProfile>.allocate(capacity: threads)
        threadProfiles.initialize(repeating: StepProfile())
        defer { threadProfiles.deallocate() }
        let profiles = ProfileSlots(slots: profile == nil ? nil : threadProfiles.baseAddress)
        var auxiliaryLoss: Double?
        if tagRows == 0 {
            parallelBlocks { block, thread in
                context.forwardAndLoss(block, thread: thread, profile: profiles.slot(thread))
                context.backwardAndUpdate(block, thread: thread, profile: profiles.slot(thread))
            }
        } else {
            parallelBlocks { block, thread in context.forwardAndLoss(block, thread: thread, profile: profiles.slot(thread)) }
            timed(.auxiliaryLoss) { auxiliaryLoss = combineLogSumExps() }
            parallelBlocks { block, thread in context.backwardAndUpdate(block, thread: thread, profile: profiles.slot(thread)) }
        }
        if profile != nil { for slot in threadProfiles { profile!.merge(slot) } }

        // Combine the blocks in block order: the same sums for any thread count.
        let width = hiddenWidth, count = rows * width
        var total = 0.0
        var gradientNorms: (Double, Double)?
        timed(.hiddenGradient) {
            for block in 0..<blockCount { for row in 0..<exampleRows { total += rowTotals[block * exampleRows + row] } }
            hiddenGradients.pointer.update(from: hiddenPartials.pointer, count: count)
            for block in 1..<max(blockCount, 1) {
                let partial = hiddenPartials.pointer + block * maxBatch * width
                for i in 0..<count { hiddenGradients[i] += partial[i] }
            }
        }
        if measureGradientNorms {
            timed(.balancer) {
                gradientNorms = (
                    weightGradientNorm(rows: 0..<exampleRows, gramOffset: 0),
                    weightGradientNorm(rows: exampleRows..<rows, gramOffset: exampleRows * exampleRows)
                )
            }
        }
        timed(.activations) {
            dropout.backward(gradient: hiddenGradients.pointer, count: count, mask: mask.pointer)
            // The hidden buffer holds dropout(ReLU(·)): positive exactly where ReLU passed and dropout kept.
            ReLU.backward(output: hidden.pointer, gradient: hiddenGradients.pointer, count: count)
        }
        timed(.trunkBackward) {
            trunk.weightGradient(
                input: inputs.pointer, gradOutput: hiddenGradients.pointer, rows: rows,
                gradients: gradients.pointer, accumulate: false)
            trunk.biasGradient(gradOutput: hiddenGradients.pointer, rows: rows, gradients: gradients.pointer, accumulate: false)
        }
        if let encoder {
            timed(.sequenceBackward) {
                // ∂L/∂r = ∂L/∂a · W1[:, D..<D+256] for the example rows, then through the GRU.
                BLAS.sgemm(
                    .none, .none, m: exampleRows, n: SequenceEncoder.outputWidth, k: width, alpha: 1,
                    a: hiddenGradients.pointer, lda: width, b: parameters.pointer + trunk.weightOffset + inputDimensions,
                    ldb: trunkInputWidth, beta: 0, c: sequenceGradients.pointer, ldc: SequenceEncoder.outputWidth)
                if optimizer == nil {
                    // No update will clear the rows this step adds to; start from a zero table gradient.
                    (gradients.pointer + encoder.embeddingOffset).update(repeating: 0, count: itemCount * SequenceEncoder.embeddingWidth)
                }
                encoder.backward(
                    outputGradient: sequenceGradients.pointer, stride: SequenceEncoder.outputWidth,
                    parameters: parameters.pointer, gradients: gradients.pointer)
            }
        }
        if let optimizer {
            timed(.adam) {
                optimizer.apply(
                    parameters: parameters.pointer, gradients: gradients.pointer,
                    range: trunk.weightOffset..<output.weightOffset)
                if let encoder {
                    let range = encoder.parameterRange, parts = threads
                    let parameters = SendablePointer(parameters.pointer), gradients = SendablePointer(gradients.pointer)
                    DispatchQueue.concurrentPerform(iterations: parts) { part in
                        let lower = range.lowerBound + range.count * part / parts
                        let upper = range.lowerBound + range.count * (part + 1) / parts
                        optimizer.apply(parameters: parameters.pointer, gradients: gradients.pointer, range: lower..<upper)
                    }
                }
            }
        }
        if optimizer != nil { encoder?.clearEmbeddingGradients(gradients.pointer) }
        return StepLosses(
            main: total / Double(exampleRows * itemCount), aux: auxiliaryLoss,
            mainGradientNorm: gradientNorms?.0, auxGradientNorm: gradientNorms?.1)
    }

    /// ‖∂W2‖ of one task's rows without forming it: ∂W2 = Σ_r ∂z_r ⊗ h_r, so
    /// ‖∂W2‖² = Σ_{r,s} (∂z_r·∂z_s)(h_r·h_s), from the blocks' Gram matrices of ∂z (summed in block
    /// order) and the Gram matrix of h. Costs rows² dot products instead of a second ∂W2.
    private func weightGradientNorm(rows range: Range<Int>, gramOffset: Int) -> Double {
        let count = range.count, width = hiddenWidth, gramSize = exampleRows * exampleRows + tagRows * tagRows
        var logitGram = [Double](repeating: 0, count: count * count)
        for block in 0..<blockCount {
            let partial = gramPartials.pointer + block * gramSize + gramOffset
            for i in 0..<(count * count) { logitGram[i] += Double(partial[i]) }
        }
        var hiddenGram = [Float](repeating: 0, count: count * count)
        let rowsStart = hidden.pointer + range.lowerBound * width
        BLAS.sgemm(
            .none, .transpose, m: count, n: count, k: width, alpha: 1, a: rowsStart, lda: width, b: rowsStart, ldb: width,
            beta: 0, c: &hiddenGram, ldc: count)
        var total = 0.0
        for i in 0..<(count * count) { total += logitGram[i] * Double(hiddenGram[i]) }
        return max(total, 0).squareRoot()
    }

    /// Each tag row's log Σ_j e^(z_j) from the blocks' maxima and sums (in block order), and the
    /// mean cross-entropy of the tag rows, log Σ e^z − z_target.
    private func combineLogSumExps() -> Double {
        var total = 0.0
        for tag in 0..<tagRows {
            var maximum = -Float.infinity
            for block in 0..<blockCount { maximum = max(maximum, blockMaxima[block * maxBatch + tag]) }
            var sum = 0.0
            for block in 0..<blockCount {
                let slot = block * maxBatch + tag
                sum += Double(blockSums[slot]) * Foundation.exp(Double(blockMaxima[slot] - maximum))
            }
            let logSumExp = Double(maximum) + Foundation.log(sum)
            logSumExps[tag] = logSumExp
            total += logSumExp - Double(logits[(exampleRows + tag) * itemCount + Int(tagItems[tag])])
        }
        return total / Double(tagRows)
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

/// The raw mean losses of a training step and, when measured, each task's ‖∇_{W2}(w_i·L_i)‖.
public struct StepLosses: Sendable, Equatable {
    public var main: Double
    /// Mean cross-entropy of the tag rows; nil without them.
    public var aux: Double?
    public var mainGradientNorm: Double?
    public var auxGradientNorm: Double?
}

/// What the threads of one block loop share: raw buffers (each block writes only its own columns,
/// rows of W2, partials and row totals), the layer geometry, and the step's losses and optimiser.
struct BlockContext: @unchecked Sendable {
    let exampleRows: Int, tagRows: Int, items: Int, maxBatch: Int
    /// The trunk's width.
    let width: Int
    /// The example rows' prior scores (rows × N), when the model has a prior.
    let priorScores: UnsafePointer<Float>?
    var rows: Int { exampleRows + tagRows }
    let output: Linear
    let parameters: UnsafeMutablePointer<Float>, gradients: UnsafeMutablePointer<Float>
    let hidden: UnsafePointer<Float>
    let logits: UnsafeMutablePointer<Float>, logitGradients: UnsafeMutablePointer<Float>
    let hiddenPartials: UnsafeMutablePointer<Float>, rowTotals: UnsafeMutablePointer<Double>
    let lossScratch: UnsafeMutablePointer<Float>
    let tagItems: UnsafePointer<Int32>, logSumExps: UnsafePointer<Double>
    let blockMaxima: UnsafeMutablePointer<Float>, blockSums: UnsafeMutablePointer<Float>
    /// Where each block's Gram matrices go when GradNorm measures the tasks' ∂W2 norms; nil otherwise.
    let gramPartials: UnsafeMutablePointer<Float>?
    let loss: LossKind?
    let targets: TargetBatch?
    /// ∂(weighted loss)/∂(raw per-element loss): w_main/(B·N) for the main task, w_aux/A for the tags.
    let mainScale: Float, auxScale: Float
    let optimizer: Adam?

    init(
        _ model: Recommender, loss: LossKind? = nil, targets: TargetBatch? = nil, mainScale: Float = 0,
        auxScale: Float = 0, gramPartials: UnsafeMutablePointer<Float>? = nil, optimizer: Adam? = nil
    ) {
        exampleRows = model.exampleRows
        tagRows = model.tagRows
        items = model.itemCount
        maxBatch = model.maxBatch
        width = model.hiddenWidth
        priorScores = model.prior == nil ? nil : UnsafePointer(model.priorScores.pointer)
        output = model.output
        parameters = model.parameters.pointer
        gradients = model.gradients.pointer
        hidden = UnsafePointer(model.hidden.pointer)
        logits = model.logits.pointer
        logitGradients = model.logitGradients.pointer
        hiddenPartials = model.hiddenPartials.pointer
        rowTotals = model.rowTotals.baseAddress!
        lossScratch = model.lossScratch.pointer
        tagItems = UnsafePointer(model.tagItems.baseAddress!)
        logSumExps = UnsafePointer(model.logSumExps.baseAddress!)
        blockMaxima = model.blockMaxima.pointer
        blockSums = model.blockSums.pointer
        self.gramPartials = gramPartials
        self.loss = loss
        self.targets = targets
        self.mainScale = mainScale
        self.auxScale = auxScale
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
        BLAS.sgemm(
            .none, .transpose, m: rows, n: columns.count, k: width, alpha: 1,
            a: hidden, lda: width, b: parameters + output.weightOffset + columns.lowerBound * width,
            ldb: width, beta: 1, c: logits + columns.lowerBound, ldc: items)
        if let priorScores {
            // The prior is a constant offset of the example rows' scores: ∂L/∂z is unchanged.
            for row in 0..<exampleRows {
                let z = logits + row * items + columns.lowerBound, offset = priorScores + row * items + columns.lowerBound
                for j in 0..<columns.count { z[j] += offset[j] }
            }
        }
    }

    @inline(__always)
    func timed(_ profile: UnsafeMutablePointer<StepProfile>?, _ phase: StepProfile.Phase, _ body: () -> Void) {
        guard let profile else { return body() }
        let start = DispatchTime.now().uptimeNanoseconds
        body()
        profile.pointee.add(phase, nanoseconds: DispatchTime.now().uptimeNanoseconds - start)
    }

    /// A block's logits, the main loss and its ∂L/∂z on the example rows, and each tag row's max
    /// and Σ e^(z − max) over the block.
    func forwardAndLoss(_ block: Int, thread: Int, profile: UnsafeMutablePointer<StepProfile>?) {
        let columns = columns(block)
        timed(profile, .outputForward) { outputForward(block) }
        timed(profile, .loss) {
            loss!.evaluate(
                logits: logits, gradient: logitGradients, rows: exampleRows, stride: items, columns: columns,
                targets: targets!, gradientScale: mainScale, rowTotals: rowTotals + block * exampleRows,
                scratch: lossScratch + thread * Recommender.itemBlock)
        }
        guard tagRows > 0 else { return }
        timed(profile, .auxiliaryLoss) {
            for tag in 0..<tagRows {
                let row = (exampleRows + tag) * items + columns.lowerBound
                let z = logits + row
                var maximum = -Float.infinity
                for j in 0..<columns.count { maximum = max(maximum, z[j]) }
                // e^(z − max) goes where ∂L/∂z will be: the second pass only rescales it.
                let exponentials = logitGradients + row
                for j in 0..<columns.count { exponentials[j] = FastMath.exp(z[j] - maximum) }
                blockMaxima[block * maxBatch + tag] = maximum
                blockSums[block * maxBatch + tag] = Float(FixedOrder.sum(exponentials, columns.count))
            }
        }
    }

    /// The rest of a block once the losses are known: the tag rows' ∂L/∂z = w_aux/A·(softmax − onehot),
    /// ∂b2, this block's share of ∂L/∂h, ∂W2 (per task when GradNorm measures), and the optimiser.
    func backwardAndUpdate(_ block: Int, thread: Int, profile: UnsafeMutablePointer<StepProfile>?) {
        let columns = columns(block)
        let weightBlock = output.weightOffset + columns.lowerBound * width
        if tagRows > 0 {
            timed(profile, .auxiliaryLoss) {
                for tag in 0..<tagRows {
                    // g holds e^(z − max_block): softmax = g·e^(max_block − log Σ e^z).
                    let g = logitGradients + (exampleRows + tag) * items + columns.lowerBound
                    let factor = auxScale * Float(Foundation.exp(Double(blockMaxima[block * maxBatch + tag]) - logSumExps[tag]))
                    for j in 0..<columns.count { g[j] *= factor }
                    let target = Int(tagItems[tag])
                    if columns.contains(target) { g[target - columns.lowerBound] -= auxScale }
                }
            }
        }
        timed(profile, .biasGradients) {
            let db = gradients + output.biasOffset
            for j in columns { db[j] = 0 }
            for row in 0..<rows {
                let dz = logitGradients + row * items
                for j in columns { db[j] += dz[j] }
            }
        }
        timed(profile, .outputInputGradient) {
            // This block's share of ∂L/∂h, from W2 before the optimiser moves it.
            BLAS.sgemm(
                .none, .none, m: rows, n: width, k: columns.count, alpha: 1,
                a: logitGradients + columns.lowerBound, lda: items, b: parameters + weightBlock, ldb: width,
                beta: 0, c: hiddenPartials + block * maxBatch * width, ldc: width)
        }
        timed(profile, .outputWeightGradient) {
            BLAS.sgemm(
                .transpose, .none, m: columns.count, n: width, k: rows, alpha: 1,
                a: logitGradients + columns.lowerBound, lda: items, b: hidden, ldb: width,
                beta: 0, c: gradients + weightBlock, ldc: width)
        }
        if let gramPartials {
            timed(profile, .balancer) {
                // Per task, ∂Z·∂Zᵀ over this block's items (GradNorm's ‖∇_{W2}(w_i·L_i)‖, see the model).
                let gram = gramPartials + block * (exampleRows * exampleRows + tagRows * tagRows)
                func logitGram(first: Int, count: Int, into target: UnsafeMutablePointer<Float>) {
                    let rowsStart = logitGradients + first * items + columns.lowerBound
                    BLAS.sgemm(
                        .none, .transpose, m: count, n: count, k: columns.count, alpha: 1, a: rowsStart, lda: items,
                        b: rowsStart, ldb: items, beta: 0, c: target, ldc: count)
                }
                logitGram(first: 0, count: exampleRows, into: gram)
                logitGram(first: exampleRows, count: tagRows, into: gram + exampleRows * exampleRows)
            }
        }
        if let optimizer {
            timed(profile, .adam) {
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
        case sequenceForward = "GRU (forward)"
        case trunkForward = "trunk GEMM (forward)"
        case activations = "ReLU + dropout (both ways)"
        case outputForward = "output GEMM (forward)"
        case loss = "loss kernel"
        case auxiliaryLoss = "tag cross-entropy (log-softmax)"
        case biasGradients = "output bias gradient"
        case outputInputGradient = "output GEMM (∂h)"
        case outputWeightGradient = "output GEMM (∂W2)"
        case hiddenGradient = "sum ∂h and losses over blocks"
        case trunkBackward = "trunk GEMM + bias (∂W1, ∂b1)"
        case sequenceBackward = "GRU (backward, ∂E)"
        case balancer = "balancer"
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
