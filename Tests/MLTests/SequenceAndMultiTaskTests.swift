import Foundation
import Testing
import Vocabulary

@testable import ML

/// The GRU branch, the multi-task head and the balancers against finite differences and
/// hand-computed cases.
@Suite struct SequenceEncoderTests {
    /// Sequences of lengths 0, 1, 2, 20 and 23 (only the last 20 read) in one packed batch.
    static let sequences: [[Int32]] = [
        [], [4], [7, 2], (0..<20).map { Int32($0 % 9) }, [9, 9, 9] + (0..<20).map { Int32(($0 * 5) % 9) },
    ]

    @Test func gruBackwardMatchesFiniteDifferences() {
        var layout = ParameterLayout()
        let encoder = SequenceEncoder(itemCount: 10, capacity: 5, layout: &layout)
        let parameters = FloatBuffer(count: layout.count), gradients = FloatBuffer(count: layout.count)
        var rng = Xoshiro256(seed: 8)
        encoder.initialize(parameters.pointer, rng: &rng)
        let rows = Self.sequences.count, width = SequenceEncoder.outputWidth
        let upstream = (0..<(rows * width)).map { _ in rng.nextUniformFloat() * 2 - 1 }
        let slices = ArraySlice(Self.sequences.map { $0[...] })
        var output = [Float](repeating: 0, count: rows * width)
        // L = Σ upstream ⊙ r, so ∂L/∂r = upstream.
        func loss() -> Double {
            encoder.encode(slices, parameters: parameters.pointer, output: &output, outputStride: width)
            return zip(output, upstream).reduce(0) { $0 + Double($1.0) * Double($1.1) }
        }
        _ = loss()
        #expect(output[0..<width].allSatisfy { $0 == 0 }, "an empty sequence gives r = 0")
        encoder.backward(outputGradient: upstream, stride: width, parameters: parameters.pointer, gradients: gradients.pointer)
        let table = encoder.embeddingOffset..<(encoder.embeddingOffset + 10 * SequenceEncoder.embeddingWidth)
        // Item 9 appears only in the 23-long sequence's first three items, which are cut off.
        let unread = encoder.embeddingOffset + 9 * SequenceEncoder.embeddingWidth
        #expect((unread..<(unread + SequenceEncoder.embeddingWidth)).allSatisfy { gradients[$0] == 0 })
        var sample = Array(stride(from: table.lowerBound, to: table.upperBound, by: 37))
        sample += Array(stride(from: table.upperBound, to: layout.count, by: 211))
        sample += layout.tensors.map(\.offset) + layout.tensors.map { $0.offset + $0.count - 1 }
        let h: Float = 1e-2
        var checked = 0
        for i in sample {
            let numeric = centralDifference(parameters, at: i, h: h, loss)
            #expect(abs(numeric - Double(gradients[i])) < 2e-3 + 0.02 * abs(numeric), "parameter \(i) (\(name(of: i, in: layout)))")
            if gradients[i] != 0 { checked += 1 }
        }
        #expect(checked > sample.count / 2)
    }

    /// The same sequence gives the same r whatever batch it is packed into and wherever it sits
    /// (to rounding: sgemm's kernels differ with the number of rows).
    @Test func packingDoesNotChangeAnOutput() {
        var layout = ParameterLayout()
        let encoder = SequenceEncoder(itemCount: 10, capacity: 5, layout: &layout)
        let parameters = FloatBuffer(count: layout.count)
        var rng = Xoshiro256(seed: 2)
        encoder.initialize(parameters.pointer, rng: &rng)
        let width = SequenceEncoder.outputWidth
        var batch = [Float](repeating: 0, count: 5 * width), alone = [Float](repeating: 0, count: width)
        encoder.encode(ArraySlice(Self.sequences.map { $0[...] }), parameters: parameters.pointer, output: &batch, outputStride: width)
        for (row, sequence) in Self.sequences.enumerated() {
            encoder.encode([sequence[...]], parameters: parameters.pointer, output: &alone, outputStride: width)
            let difference = (0..<width).map { abs(batch[row * width + $0] - alone[$0]) }.max()!
            #expect(difference < 1e-5, "row \(row)")
        }
        // A sequence of one item: r_fwd and r_bwd both run one step from h = 0 on the same input.
        encoder.encode([[4]], parameters: parameters.pointer, output: &alone, outputStride: width)
        #expect(alone[0] != 0 && alone[SequenceEncoder.hiddenWidth] != 0)
    }

    func name(of index: Int, in layout: ParameterLayout) -> String {
        layout.tensors.first { ($0.offset..<($0.offset + $0.count)).contains(index) }?.name ?? "?"
    }
}

@Suite struct MultiTaskModelTests {
    /// 3 examples (mentioned lengths 0, 2, 3) and 3 tag rows over 600 items (three blocks, two threads).
    func model(rnn: Bool, threads: Int = 2) -> Recommender {
        var rng = Xoshiro256(seed: 31)
        return Recommender(
            inputDimensions: 6, itemCount: 600, dropout: 0.2, maxBatch: 6, threads: threads, rnn: rnn,
            maxSequences: 3, rng: &rng)
    }

    let examples: [Float] = (0..<18).map { Float(($0 * 7) % 11) / 11 - 0.45 }
    let tagEmbeddings: [Float] = (0..<24).map { Float(($0 * 5) % 13) / 13 - 0.5 }
    let tagItems: [Int32] = [5, 300, 599, 42]
    let mentioned: [[Int32]] = [[], [3, 599], [300, 12, 12]]

    func targets() -> TargetBatch {
        var targets = TargetBatch()
        targets.appendRow([1]); targets.appendRow([0, 290]); targets.appendRow([520])
        return targets
    }

    func step(
        _ model: Recommender, mainWeight: Float, auxWeight: Float, measure: Bool = false,
        optimizer: Adam? = nil
    ) -> StepLosses {
        examples.withUnsafeBufferPointer {
            model.gather($0.baseAddress!, indices: 0..<3, mentioned: model.encoder == nil ? nil : mentioned)
        }
        tagEmbeddings.withUnsafeBufferPointer { model.gatherTags($0.baseAddress!, indices: [3, 0, 2], items: tagItems) }
        var dropoutRNG = Xoshiro256(seed: 77)
        return model.trainStep(
            loss: .weightedBCE(posWeight: 20), targets: targets(), mainWeight: mainWeight, auxWeight: auxWeight,
            measureGradientNorms: measure, dropoutRNG: &dropoutRNG, optimizer: optimizer)
    }

    /// L = w_main·L_main + w_aux·CE through the output layer, dropout, ReLU, the trunk, the GRU and
    /// the embedding rows; with w_main = 0 it checks the cross-entropy alone.
    @Test(arguments: [(Float(1), Float(0.5)), (0, 1)])
    func weightedLossGradientsMatchFiniteDifferences(mainWeight: Float, auxWeight: Float) {
        let model = model(rnn: true)
        func lossValue() -> Double {
            let losses = step(model, mainWeight: mainWeight, auxWeight: auxWeight)
            return Double(mainWeight) * losses.main + Double(auxWeight) * losses.aux!
        }
        _ = lossValue()
        let analytic = model.gradients.array
        let encoder = model.encoder!
        var sample = Array(stride(from: 0, to: model.output.weightOffset, by: 1009))
        sample += Array(stride(from: model.output.weightOffset, to: encoder.parameterRange.lowerBound, by: 2503))
        sample += [model.output.biasOffset + 5, model.output.biasOffset + 300, model.output.biasOffset + 599]
        for item in [3, 12, 300, 599] {  // embedding rows the batch reads
            let row = encoder.embeddingOffset + item * SequenceEncoder.embeddingWidth
            sample += [row, row + 77, row + 255]
        }
        sample += Array(stride(from: encoder.directions[0].inputWeights, to: model.parameters.count, by: 1499))
        sample += model.layout.tensors.map(\.offset)
        let h: Float = 1e-3
        // The inputs buffer holds [x; r] and [t; 0] after the step: the rows the trunk saw.
        for i in model.awayFromReLUKinks(sample, inputs: model.inputs.pointer, rows: 6) {
            let numeric = centralDifference(model.parameters, at: i, h: h, lossValue)
            #expect(abs(numeric - Double(analytic[i])) < 5e-4 + 0.03 * abs(numeric), "parameter \(i)")
        }
        // An embedding row no batch reads has no gradient.
        let unread = encoder.embeddingOffset + 100 * SequenceEncoder.embeddingWidth
        #expect((unread..<(unread + SequenceEncoder.embeddingWidth)).allSatisfy { analytic[$0] == 0 })
    }

    /// The cross-entropy is log Σ e^z − z_target, stable for large logits.
    @Test func crossEntropyMatchesADirectComputation() {
        let model = model(rnn: false)
        // Large output biases: a naive Σ e^z would overflow.
        for j in 0..<600 { model.parameters[model.output.biasOffset + j] = j == 42 ? 200 : 150 + Float(j % 7) }
        let losses = step(model, mainWeight: 1, auxWeight: 1)
        let expected =
            [(3, 42), (4, 5), (5, 599)].map { row, item -> Double in
                let z = (0..<600).map { Double(model.logits[row * 600 + $0]) }
                let maximum = z.max()!
                return maximum + Foundation.log(z.reduce(0) { $0 + Foundation.exp($1 - maximum) }) - z[item]
            }.reduce(0, +) / 3
        #expect(losses.aux!.isFinite)
        #expect(abs(losses.aux! - expected) < 1e-4 * max(1, expected))
    }

    /// GradNorm's per-task norms are ‖∇_{W2}(w_i·L_i)‖, and measuring them leaves the step's
    /// gradients as they were.
    @Test func gradientNormsPerTask() {
        let model = model(rnn: true)
        let w2 = model.output.weightOffset..<model.output.biasOffset
        func norm() -> Double { w2.reduce(0) { $0 + Double(model.gradients[$1]) * Double(model.gradients[$1]) }.squareRoot() }
        _ = step(model, mainWeight: 0.7, auxWeight: 0)
        let mainNorm = norm()
        _ = step(model, mainWeight: 0, auxWeight: 1.3)
        let auxNorm = norm()
        _ = step(model, mainWeight: 0.7, auxWeight: 1.3)
        let combined = model.gradients.array
        let measured = step(model, mainWeight: 0.7, auxWeight: 1.3, measure: true)
        #expect(abs(measured.mainGradientNorm! - mainNorm) < 1e-5 * mainNorm)
        #expect(abs(measured.auxGradientNorm! - auxNorm) < 1e-5 * auxNorm)
        for i in stride(from: 0, to: combined.count, by: 101) {
            #expect(abs(model.gradients[i] - combined[i]) <= 1e-6 + 1e-5 * abs(combined[i]), "parameter \(i)")
        }
    }

    /// With the GRU and the tag rows, a fused step still equals gradients-then-Adam to the last bit,
    /// and 1 or 2 threads change nothing.
    @Test func fusedStepsAreExactAndThreadIndependent() {
        expectFusedStepsExact(model: { model(rnn: true, threads: $0) }) { model, optimizer in
            step(model, mainWeight: 1, auxWeight: 0.3, measure: true, optimizer: optimizer)
        }
    }
}

@Suite struct BalancerTests {
    /// Two tasks, hand-computed: w = (1, 1), G = (2, 1), L = (0.5, 2), L(0) = (1, 1), a = 1.5, lr = 0.025.
    /// L̃ = (0.5, 2), r = (0.4, 1.6), Ḡ = 1.5, targets = 1.5·(0.4^1.5, 1.6^1.5) = (0.37947, 3.03579);
    /// sign(G − target) = (+1, −1), ∂G_i/∂w_i = (2, 1): w = (0.95, 1.025), renormalised ×2/1.975.
    @Test func gradNormUpdateMatchesAHandComputedCase() {
        let weights = TaskBalancer.gradNormUpdate(
            weights: [1, 1], norms: [2, 1], losses: [0.5, 2], initialLosses: [1, 1],
            asymmetry: 1.5, learningRate: 0.025)
        #expect(abs(weights[0] - 0.95 * 2 / 1.975) < 1e-12)
        #expect(abs(weights[1] - 1.025 * 2 / 1.975) < 1e-12)
        #expect(abs(weights.reduce(0, +) - 2) < 1e-12)
    }

    /// ℓ(1) = (1, 4), ℓ(2) = (0.5, 4), τ = 2: w = 2·softmax(0.25, 0.5) = (0.875647, 1.124353).
    @Test func dwaWeightsFromTheLossHistory() {
        #expect(TaskBalancer.dynamicWeights(history: [], temperature: 2) == [1, 1])
        #expect(TaskBalancer.dynamicWeights(history: [[1, 4]], temperature: 2) == [1, 1])
        let weights = TaskBalancer.dynamicWeights(history: [[1, 4], [0.5, 4]], temperature: 2)
        let a = Foundation.exp(0.25), b = Foundation.exp(0.5)
        #expect(abs(weights[0] - 2 * a / (a + b)) < 1e-12 && abs(weights[1] - 2 * b / (a + b)) < 1e-12)
        #expect(abs(weights[0] - 0.875647) < 1e-6)
        var balancer = TaskBalancer(.dynamicWeightAverage(temperature: 2))
        balancer.endEpoch(lossMain: 1, lossAux: 4)
        #expect(balancer.stepWeights == (1, 1))
        balancer.endEpoch(lossMain: 0.5, lossAux: 4)
        #expect(abs(balancer.stepWeights.main - weights[0]) < 1e-12)
    }

    /// ∂/∂s_i of Σ L_i/(2e^{s_i}) + s_i/2 against finite differences, and the balancer's Adam step on it.
    @Test func uncertaintyGradientMatchesFiniteDifferences() {
        let losses = [0.004, 6.2]
        for s: [Float] in [[0, 0], [-1.5, 2]] {
            let analytic = TaskBalancer.uncertaintyGradients(losses: losses, logVariances: s)
            for i in 0..<2 {
                let h = 1e-4
                func loss(_ shift: Double) -> Double {
                    (0..<2).reduce(0) { total, j in
                        let sj = Double(s[j]) + (j == i ? shift : 0)
                        return total + losses[j] / (2 * Foundation.exp(sj)) + sj / 2
                    }
                }
                let numeric = (loss(h) - loss(-h)) / (2 * h)
                #expect(abs(numeric - Double(analytic[i])) < 1e-4 * max(1, abs(numeric)), "s = \(s), task \(i)")
            }
        }
        var balancer = TaskBalancer(.uncertainty(learningRate: 0.1))
        #expect(balancer.stepWeights == (0.5, 0.5))
        balancer.record(step: StepLosses(main: 0.004, aux: 6.2))
        // Adam's first step moves each s by lr against the gradient's sign: the CE's s rises.
        #expect(abs(balancer.logVariances[0] - -0.1) < 1e-6 && abs(balancer.logVariances[1] - 0.1) < 1e-6)
        #expect(balancer.lastStepWeights == TaskWeights(main: 0.5, aux: 0.5, sMain: 0, sAux: 0))
        #expect(balancer.stepWeights.aux < 0.5 && balancer.stepWeights.main > 0.5)
    }
}

@Suite struct MultiTaskTrainingTests {
    func config(_ changes: (inout TrialConfig) -> Void) -> TrialConfig { trialConfig(epochs: 2, changes) }

    /// Every pass over the tags is a fresh permutation, and a batch may straddle two passes.
    @Test func tagStreamReshufflesEachPass() {
        var stream = TagStream(count: 5, rng: Xoshiro256(seed: 1))
        var drawn: [Int] = [], batch: [Int] = []
        for _ in 0..<5 {
            stream.next(3, into: &batch)
            #expect(batch.count == 3)
            drawn += batch
        }
        for pass in 0..<3 { #expect(drawn[(pass * 5)..<(pass * 5 + 5)].sorted() == [0, 1, 2, 3, 4], "pass \(pass)") }
        #expect(Array(drawn[0..<5]) != Array(drawn[5..<10]) || Array(drawn[5..<10]) != Array(drawn[10..<15]))
    }

    /// The full model (GRU, tag head, GradNorm) gives the same numbers for 1 and 2 threads, and
    /// each epoch reports both losses and the task weights.
    @Test func everythingOnIsThreadIndependentAndReported() throws {
        let dataset = try Dataset.load(from: SyntheticFixtures.folder(SyntheticFixtures.tiny, seed: 1))
        let config = config {
            $0.rnn = true; $0.multitask = true; $0.balancer = .gradnorm
        }
        let (one, _) = try Trainer(config: config, dataset: dataset, threads: 1).run()
        let (two, _) = try Trainer(config: config, dataset: dataset, threads: 2).run()
        #expect(
            one.history
                == two.history.map { record in
                    var record = record
                    record.seconds = one.history[record.epoch - 1].seconds
                    record.trainSeconds = one.history[record.epoch - 1].trainSeconds
                    return record
                })
        for record in one.history {
            let aux = try #require(record.weights.aux)
            #expect(record.lossAux != nil && record.lossAux! > 0)
            #expect(abs(record.weights.main + aux - 2) < 1e-9, "GradNorm keeps Σw = T")
            #expect(record.weights.main != 1)
        }
        let (uncertainty, _) = try Trainer(
            config: self.config {
                $0.multitask = true; $0.balancer = .uncertainty
            }, dataset: dataset
        ).run()
        let last = uncertainty.history.last!.weights
        #expect(abs(last.main - 1 / (2 * Foundation.exp(last.sMain!))) < 1e-6)
        #expect(abs(last.aux! - 1 / (2 * Foundation.exp(last.sAux!))) < 1e-6)
        let (fixed, _) = try Trainer(
            config: self.config {
                $0.multitask = true; $0.alpha = 0.25
            }, dataset: dataset
        ).run()
        #expect(fixed.history.allSatisfy { $0.weights == TaskWeights(main: 1, aux: 0.25, sMain: nil, sAux: nil) })
    }

    /// On synthetic data whose tags describe the items, the tag head learns (its cross-entropy
    /// falls) and the main task's nDCG@10 stays within noise of single-task training or better,
    /// with the original's equal weights and with the uncertainty balancer.
    @Test func multitaskLearnsTheTagsAndKeepsTheMainTask() throws {
        var single: [Double] = [], equal: [Double] = [], uncertainty: [Double] = []
        for seed: UInt64 in [0, 1] {
            let dataset = try Dataset.load(from: SyntheticFixtures.folder(.small, seed: seed))
            single.append(try Trainer(config: config { $0.epochs = 8 }, dataset: dataset, threads: 2).run().0.best!.valid.ndcg10)
            for balancer in [TrialConfig.Balancer.fixed, .uncertainty] {
                let config = config {
                    $0.epochs = 8
                    $0.multitask = true
                    $0.balancer = balancer
                    if balancer == .fixed { $0.alpha = 1 }
                }
                let result = try Trainer(config: config, dataset: dataset, threads: 2).run().0
                let first = result.history.first!.lossAux!, last = result.history.last!.lossAux!
                #expect(last < 0.5 * first, "\(balancer), seed \(seed): tag cross-entropy \(first) → \(last)")
                if balancer == .fixed { equal.append(result.best!.valid.ndcg10) } else { uncertainty.append(result.best!.valid.ndcg10) }
            }
        }
        func mean(_ values: [Double]) -> Double { values.reduce(0, +) / Double(values.count) }
        // The valid split has 400 examples: nDCG@10's standard error is about 0.015.
        #expect(mean(equal) > mean(single) - 0.02, "equal weights \(equal), single-task \(single)")
        #expect(mean(uncertainty) > mean(single) - 0.02, "uncertainty \(uncertainty), single-task \(single)")
    }
}
