import Foundation
import Testing
import Vocabulary

@testable import ML

/// (L(θᵢ + h) − L(θᵢ − h)) / 2h for one entry of `values`, which is restored afterwards.
func centralDifference(_ values: FloatBuffer, at index: Int, h: Float, _ loss: () -> Double) -> Double {
    let saved = values[index]
    values[index] = saved + h; let plus = loss()
    values[index] = saved - h; let minus = loss()
    values[index] = saved
    return (plus - minus) / Double(2 * h)
}

extension Recommender {
    /// `sample` without the trunk weights and biases of hidden units whose pre-activation, over
    /// `rows` rows of `inputs`, lies within 0.01 of ReLU's kink: finite differences step across
    /// the kink there and mean nothing.
    func awayFromReLUKinks(_ sample: [Int], inputs: UnsafePointer<Float>, rows: Int) -> [Int] {
        var preActivations = [Float](repeating: 0, count: rows * Self.hiddenDimensions)
        trunk.forward(inputs, rows: rows, into: &preActivations, parameters: parameters.pointer)
        let nearKink = Set(preActivations.indices.filter { abs(preActivations[$0]) < 0.01 }.map { $0 % Self.hiddenDimensions })
        let trunkWeights = trunk.weightOffset..<trunk.biasOffset, trunkBiases = trunk.biasOffset..<output.weightOffset
        return sample.filter { i in
            let unit = trunkWeights.contains(i) ? (i - trunkWeights.lowerBound) / trunkInputWidth : i - trunk.biasOffset
            return !((trunkWeights.contains(i) || trunkBiases.contains(i)) && nearKink.contains(unit))
        }
    }
}

/// Trains two copies of `model(threads)` for 3 steps: one with the optimiser inside the step (the
/// fused, block-by-block update), one without and then a whole Adam update. Expects the same losses
/// each step and the same parameters to the last bit, for 1 and 2 threads, and across the two.
func expectFusedStepsExact(model: (Int) -> Recommender, step: (Recommender, Adam?) -> StepLosses) {
    var results: [[Float]] = []
    for threads in [1, 2] {
        let fused = model(threads), separate = model(threads)
        let fusedAdam = Adam(learningRate: 0.01, count: fused.parameters.count)
        let separateAdam = Adam(learningRate: 0.01, count: separate.parameters.count)
        for _ in 0..<3 {
            let a = step(fused, fusedAdam)
            let b = step(separate, nil)
            separateAdam.update(
                parameters: separate.parameters.pointer, gradients: separate.gradients.pointer,
                count: separate.parameters.count)
            #expect(a == b)
        }
        #expect(fused.parameters.array == separate.parameters.array)
        results.append(fused.parameters.array)
    }
    #expect(results[0] == results[1])
}

/// Finite-difference checks of every layer's backward pass and of the whole model.
@Suite struct LayerGradientTests {
    @Test func linearBackwardMatchesFiniteDifferences() {
        var layout = ParameterLayout()
        let layer = Linear(5, 4, name: "l", layout: &layout)
        let parameters = FloatBuffer(count: layout.count), gradients = FloatBuffer(count: layout.count)
        var rng = Xoshiro256(seed: 11)
        layer.initialize(parameters.pointer, rng: &rng)
        let rows = 3
        var x = (0..<(rows * 5)).map { _ in rng.nextUniformFloat() * 2 - 1 }
        let upstream = (0..<(rows * 4)).map { _ in rng.nextUniformFloat() * 2 - 1 }
        // L = Σ upstream ⊙ y, so ∂L/∂y = upstream.
        func loss() -> Double {
            var y = [Float](repeating: 0, count: rows * 4)
            layer.forward(x, rows: rows, into: &y, parameters: parameters.pointer)
            return zip(y, upstream).reduce(0) { $0 + Double($1.0) * Double($1.1) }
        }
        var dx = [Float](repeating: 0, count: rows * 5)
        layer.backward(
            input: x, gradOutput: upstream, rows: rows, gradInput: &dx, parameters: parameters.pointer,
            gradients: gradients.pointer, accumulate: false)
        let h: Float = 1e-2
        for i in 0..<layout.count {
            #expect(abs(centralDifference(parameters, at: i, h: h, loss) - Double(gradients[i])) < 1e-3, "parameter \(i)")
        }
        for i in x.indices {
            let saved = x[i]
            x[i] = saved + h; let plus = loss()
            x[i] = saved - h; let minus = loss()
            x[i] = saved
            #expect(abs((plus - minus) / Double(2 * h) - Double(dx[i])) < 1e-3, "input \(i)")
        }
        // accumulate: true adds to what is there.
        let first = gradients.array
        layer.backward(
            input: x, gradOutput: upstream, rows: rows, gradInput: nil, parameters: parameters.pointer,
            gradients: gradients.pointer, accumulate: true)
        for i in 0..<layout.count { #expect(abs(gradients[i] - 2 * first[i]) < 1e-5) }
    }

    @Test func reluAndDropout() {
        var x: [Float] = [-1, 0, 0.5, 2, -3, 4]
        ReLU.forward(&x, count: 6)
        #expect(x == [0, 0, 0.5, 2, 0, 4])
        var gradient: [Float] = [1, 1, 1, 1, 1, 1]
        ReLU.backward(output: x, gradient: &gradient, count: 6)
        #expect(gradient == [0, 0, 1, 1, 0, 1])

        let dropout = Dropout(probability: 0.25)
        var rng = Xoshiro256(seed: 3)
        let count = 40_000
        var values = [Float](repeating: 1, count: count)
        var mask = [Float](repeating: 0, count: count)
        dropout.forward(&values, count: count, mask: &mask, rng: &rng)
        let kept = values.filter { $0 != 0 }
        #expect(kept.allSatisfy { abs($0 - 4 / 3) < 1e-6 })
        #expect(abs(Double(kept.count) / Double(count) - 0.75) < 0.01)
        var upstream = [Float](repeating: 2, count: count)
        dropout.backward(gradient: &upstream, count: count, mask: mask)
        #expect(zip(upstream, values).allSatisfy { $0 == 2 * $1 })
    }

    /// The whole model: loss → output layer → dropout → ReLU → trunk, against finite differences
    /// on a sample of parameters, with the same dropout mask in every evaluation.
    @Test(arguments: [
        (LossKind.weightedBCE(posWeight: 3), 7, 1), (.focal(gamma: 2, alpha: 0.25), 7, 1),
        (.classBalanced(weights: [1, 2, 0.5, 1, 1.5, 0.5, 0.5]), 7, 1),
        // Three item blocks (256, 256, 88) on two threads.
        (.weightedBCE(posWeight: 3), 600, 2), (.focal(gamma: 1.5, alpha: -1), 600, 2),
    ])
    func modelBackwardMatchesFiniteDifferences(loss: LossKind, items: Int, threads: Int) {
        var rng = Xoshiro256(seed: 5)
        let model = Recommender(inputDimensions: 6, itemCount: items, dropout: 0.3, maxBatch: 3, threads: threads, rng: &rng)
        let inputs = (0..<18).map { _ in rng.nextUniformFloat() * 2 - 1 }
        var targets = TargetBatch()
        targets.appendRow([1]); targets.appendRow([0, 6]); targets.appendRow([3])
        if items > 300 { targets.items[2] = 290 }  // a positive in the second block
        func lossValue() -> Double {
            inputs.withUnsafeBufferPointer { model.gather($0.baseAddress!, indices: [0, 1, 2]) }
            var dropoutRNG = Xoshiro256(seed: 99)
            return model.trainStep(loss: loss, targets: targets, dropoutRNG: &dropoutRNG, optimizer: nil).main
        }
        _ = lossValue()
        let analytic = model.gradients.array
        let h: Float = 1e-3
        var sample = Array(stride(from: 0, to: model.parameters.count, by: items > 300 ? 1201 : 97))
        if items > 300 {
            sample += [model.output.weightOffset + 290 * 512 + 3, model.output.biasOffset + 290, model.output.biasOffset + 599]
        }
        sample += model.layout.tensors.map(\.offset)  // the first entry of every tensor
        for i in model.awayFromReLUKinks(sample, inputs: inputs, rows: 3) {
            let numeric = centralDifference(model.parameters, at: i, h: h, lossValue)
            #expect(abs(numeric - Double(analytic[i])) < 3e-4 + 0.02 * abs(numeric), "parameter \(i)")
        }
    }

    /// The fused step (gradients and the optimiser's update block by block) equals computing every
    /// gradient first and then one Adam step, to the last bit; and 1 or 2 threads change nothing.
    @Test func fusedStepEqualsGradientsThenAdam() {
        func model(threads: Int) -> Recommender {
            var rng = Xoshiro256(seed: 21)
            return Recommender(inputDimensions: 5, itemCount: 700, dropout: 0.1, maxBatch: 4, threads: threads, rng: &rng)
        }
        var targets = TargetBatch()
        for row in 0..<4 { targets.appendRow([Int32(row * 150), Int32(699 - row)]) }
        let inputs = (0..<20).map { Float($0 % 7) / 7 - 0.4 }
        let loss = LossKind.weightedBCE(posWeight: 50)
        expectFusedStepsExact(model: model(threads:)) { model, optimizer in
            var dropoutRNG = Xoshiro256(seed: 4)
            inputs.withUnsafeBufferPointer { model.gather($0.baseAddress!, indices: 0..<4) }
            return model.trainStep(loss: loss, targets: targets, dropoutRNG: &dropoutRNG, optimizer: optimizer)
        }
    }

    @Test func adamMatchesPyTorchsUpdate() {
        let optimizer = Adam(learningRate: 0.1, count: 2)
        var parameters: [Float] = [1, -2]
        var m = [0.0, 0.0], v = [0.0, 0.0]
        var expected = [1.0, -2.0]
        for (step, gradient) in [[0.5, -3.0], [-1.0, 0.25], [2.0, 0.0]].enumerated() {
            optimizer.update(parameters: &parameters, gradients: gradient.map(Float.init), count: 2)
            let t = Double(step + 1)
            for i in 0..<2 {
                m[i] = 0.9 * m[i] + 0.1 * gradient[i]
                v[i] = 0.999 * v[i] + 0.001 * gradient[i] * gradient[i]
                let mHat = m[i] / (1 - pow(0.9, t)), vHat = v[i] / (1 - pow(0.999, t))
                expected[i] -= 0.1 * mHat / (vHat.squareRoot() + 1e-8)
            }
            for i in 0..<2 { #expect(abs(Double(parameters[i]) - expected[i]) < 1e-5, "step \(step + 1), parameter \(i)") }
        }
        #expect(optimizer.step == 3)
    }
}
