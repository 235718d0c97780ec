import Foundation
import Testing
import Vocabulary

@testable import ML

/// Reference loss of one element in Double, straight from the formulas of ml.md.
func referenceLoss(_ kind: LossKind, z: Double, y: Double, column: Int) -> Double {
    let p = 1 / (1 + exp(-z))
    let bce = -(y * log(p) + (1 - y) * log(1 - p))
    switch kind {
    case .bce: return bce
    case .weightedBCE(let w): return -(Double(w) * y * log(p) + (1 - y) * log(1 - p))
    case .focal(let gamma, let alpha):
        let pt = p * y + (1 - p) * (1 - y)
        let alphaT = alpha < 0 ? 1 : Double(alpha) * y + (1 - Double(alpha)) * (1 - y)
        return alphaT * pow(1 - pt, Double(gamma)) * bce
    case .classBalanced(let c): return Double(c[column]) * bce
    case .ldam(let margins, let scale, let weights):
        // BCE of u = s·(z − y·Δ_j), weighted.
        let u = Double(scale) * (z - y * Double(margins[column])), q = 1 / (1 + exp(-u))
        return Double(weights?[column] ?? 1) * -(y * log(q) + (1 - y) * log(1 - q))
    }
}

@Suite struct LossTests {
    static let kinds: [LossKind] = [
        .bce, .weightedBCE(posWeight: 1), .weightedBCE(posWeight: 37.5),
        .focal(gamma: 0, alpha: 0.25), .focal(gamma: 2, alpha: 0.25), .focal(gamma: 0.5, alpha: -1), .focal(gamma: 3.7, alpha: 0.9),
        .classBalanced(weights: [0.5, 1.5, 1, 0.25, 1.75]),
        .ldam(margins: [0.5, 0.3, 0.2, 0.45, 0.1], scale: 1, weights: nil),
        .ldam(margins: [0.5, 0.3, 0.2, 0.45, 0.1], scale: 3, weights: [0.5, 1.5, 1, 0.25, 1.75]),
    ]

    /// Δ_j = C / max(n_j, 1)^{1/4} with the largest margin (items seen once, or never) at the maximum:
    /// counts 0, 1, 16, 81 give 0.5, 0.5, 0.5/2, 0.5/3.
    @Test func ldamMarginsShrinkWithTheFourthRootOfTheCount() {
        let margins = LossKind.ldamMargins(itemCounts: [0, 1, 16, 81], maxMargin: 0.5)
        #expect(margins == [0.5, 0.5, 0.25, Float(0.5 / 3.0)])
    }

    /// A 3 × 5 batch with positives at (0,1), (0,4), (1,0), (2,2), (2,3).
    func batch() -> ([Float], TargetBatch, [[Double]]) {
        let logits: [Float] = [0.3, -1.2, 2.5, -0.7, 0.05, 1.1, -2.0, 0.4, 3.0, -0.9, -0.2, 0.8, -3.1, 1.7, 0.6]
        var targets = TargetBatch()
        targets.appendRow([1, 4]); targets.appendRow([0]); targets.appendRow([2, 3])
        var dense = [[Double]](repeating: [Double](repeating: 0, count: 5), count: 3)
        for (row, items) in [[1, 4], [0], [2, 3]].enumerated() { for j in items { dense[row][j] = 1 } }
        return (logits, targets, dense)
    }

    func reference(_ kind: LossKind, _ logits: [Double], _ dense: [[Double]]) -> Double {
        var total = 0.0
        for row in 0..<3 { for j in 0..<5 { total += referenceLoss(kind, z: logits[row * 5 + j], y: dense[row][j], column: j) } }
        return total / 15
    }

    @Test(arguments: kinds)
    func valueMatchesTheFormulaAndGradientMatchesFiniteDifferences(kind: LossKind) {
        let (logits, targets, dense) = batch()
        var gradient = [Float](repeating: 0, count: 15)
        let value = logits.withUnsafeBufferPointer { z in
            gradient.withUnsafeMutableBufferPointer { g in
                kind.evaluate(logits: z.baseAddress!, rows: 3, columns: 5, targets: targets, gradient: g.baseAddress!, scale: 2)
            }
        }
        let z = logits.map(Double.init)
        #expect(abs(value - reference(kind, z, dense)) < 1e-5 * max(1, abs(value)))
        for i in 0..<15 {
            let h = 1e-5
            var plus = z, minus = z
            plus[i] += h
            minus[i] -= h
            let numeric = 2 * (reference(kind, plus, dense) - reference(kind, minus, dense)) / (2 * h)
            #expect(abs(Double(gradient[i]) - numeric) < 1e-4 * max(1, abs(numeric)), "element \(i): \(gradient[i]) vs \(numeric)")
        }
    }

    @Test(arguments: kinds)
    func extremeLogitsStayFinite(kind: LossKind) {
        var targets = TargetBatch()
        targets.appendRow([0, 2])
        let logits: [Float] = [-150, 150, 120, -100, 1000]
        var gradient = [Float](repeating: 0, count: 5)
        let value = kind.evaluate(logits: logits, rows: 1, columns: 5, targets: targets, gradient: &gradient)
        #expect(value.isFinite && value > 0)
        #expect(gradient.allSatisfy { $0.isFinite })
        // Confidently wrong (positive at −150, negative at 150, 1000) costs about |z|; right costs ~0.
        if case .bce = kind {
            #expect(abs(value - (150 + 150 + 1000) / 5) < 1e-3)
            for (g, e) in zip(gradient, [-0.2, 0.2, 0, 0, 0.2] as [Float]) { #expect(abs(g - e) < 1e-7) }
        }
    }

    @Test func classBalancedWeightsFollowCuiEtAl() {
        let counts = [0, 1, 2, 10, 1000]
        let beta = 0.99
        let raw = counts.map { (1 - beta) / (1 - pow(beta, Double(max($0, 1)))) }
        let expected = raw.map { $0 * 5 / raw.reduce(0, +) }
        let weights = LossKind.classBalancedWeights(itemCounts: counts, beta: beta)
        for (w, e) in zip(weights, expected) { #expect(abs(Double(w) - e) < 1e-5) }
        #expect(abs(weights.reduce(0, +) - 5) < 1e-4)
        // β = 0: every class weighs 1. β → 1: weights → 1/n_j, normalised.
        #expect(LossKind.classBalancedWeights(itemCounts: counts, beta: 0) == [1, 1, 1, 1, 1])
        let nearOne = LossKind.classBalancedWeights(itemCounts: [1, 2, 4], beta: 1 - 1e-12)
        let inverse = [1.0, 0.5, 0.25].map { $0 * 3 / 1.75 }
        for (w, e) in zip(nearOne, inverse) { #expect(abs(Double(w) - e) < 1e-4) }
    }
}
