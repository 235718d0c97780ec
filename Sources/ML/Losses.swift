import Foundation
import Vocabulary

/// The positives of a batch of examples in compressed-row form: row r's target items are
/// `items[rowStarts[r] ..< rowStarts[r + 1]]`, each distinct.
public struct TargetBatch: Sendable {
    public var rowStarts: [Int] = [0]
    public var items: [Int32] = []

    public init() {}

    /// Clears the batch, keeping its capacity.
    public mutating func removeAll() {
        rowStarts.removeAll(keepingCapacity: true)
        rowStarts.append(0)
        items.removeAll(keepingCapacity: true)
    }

    public mutating func appendRow(_ targets: [Int32]) {
        items.append(contentsOf: targets)
        rowStarts.append(items.count)
    }

    public var rows: Int { rowStarts.count - 1 }
}

/// The main-task loss of `ml.md`, each a mean over batch × N elements.
public enum LossKind: Sendable, Equatable {
    /// BCE with logits.
    case bce
    /// BCE with logits and `pos_weight` w on every class: −[w·y·log σ(z) + (1−y)·log(1−σ(z))].
    case weightedBCE(posWeight: Float)
    /// Sigmoid focal loss (torchvision): α_t·(1−p_t)^γ·BCE; α < 0 disables α_t.
    case focal(gamma: Float, alpha: Float)
    /// Class-balanced BCE (Cui et al. 2019): c_j·BCE_j with Σ_j c_j = N.
    case classBalanced(weights: [Float])
    /// LDAM (Cao et al. 2019) for multi-label BCE: w_j·BCE(s·(z_j − y·Δ_j), y), each positive's
    /// logit reduced by its item's margin Δ_j before scaling by s; w_j = 1, or class-balanced
    /// weights once deferred re-weighting starts (docs/ml-extensions.md).
    case ldam(margins: [Float], scale: Float, weights: [Float]?)

    /// LDAM's margins Δ_j = C / max(n_j, 1)^{1/4}, with C such that the largest (an item seen at
    /// most once, or never) is `maxMargin`.
    public static func ldamMargins(itemCounts: [Int], maxMargin: Double) -> [Float] {
        itemCounts.map { Float(maxMargin / pow(Double(max($0, 1)), 0.25)) }
    }

    /// Class-balanced weights c_j = (1−β)/(1−β^{max(n_j,1)}), normalised so Σ_j c_j = N.
    public static func classBalancedWeights(itemCounts: [Int], beta: Double) -> [Float] {
        // 1 − β^n computed as −expm1(n·log1p(β − 1)), accurate as β → 1 (β − 1 is exact there).
        let raw = itemCounts.map { count -> Double in
            beta == 0 ? 1 : (1 - beta) / -expm1(Double(max(count, 1)) * log1p(beta - 1))
        }
        let scale = Double(itemCounts.count) / raw.reduce(0, +)
        return raw.map { Float($0 * scale) }
    }

    /// The mean loss over `rows × columns` logits, and ∂(scale·L)/∂z written into `gradient`.
    public func evaluate(
        logits: UnsafePointer<Float>, rows: Int, columns: Int, targets: TargetBatch,
        gradient: UnsafeMutablePointer<Float>, scale: Float = 1
    ) -> Double {
        let rowTotals = UnsafeMutablePointer<Double>.allocate(capacity: rows)
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: columns)
        defer {
            rowTotals.deallocate()
            scratch.deallocate()
        }
        evaluate(
            logits: logits, gradient: gradient, rows: rows, stride: columns, columns: 0..<columns, targets: targets,
            gradientScale: scale / Float(rows * columns), rowTotals: rowTotals, scratch: scratch)
        return (0..<rows).reduce(0) { $0 + rowTotals[$1] } / Double(rows * columns)
    }

    /// The loss over a block of columns of a row-major `rows × stride` logit matrix: writes
    /// gradientScale·∂loss/∂z for those columns into `gradient` (same layout) and each row's summed
    /// loss over them into `rowTotals[row]`. One vectorised pass over the logits (every element as a
    /// negative) plus a fix-up per positive; stable for any |z|, since every term is built from
    /// e = exp(−|z|) ∈ (0, 1]. Sums run in a fixed order, so results are the same on every machine.
    ///
    /// - Parameter scratch: room for `columns.count` floats.
    public func evaluate(
        logits: UnsafePointer<Float>, gradient: UnsafeMutablePointer<Float>, rows: Int, stride: Int,
        columns: Range<Int>, targets: TargetBatch, gradientScale: Float,
        rowTotals: UnsafeMutablePointer<Double>, scratch: UnsafeMutablePointer<Float>
    ) {
        precondition(targets.rows == rows, "one target row per logit row")
        for row in 0..<rows {
            let z = logits + row * stride + columns.lowerBound, g = gradient + row * stride + columns.lowerBound
            negatives(z, g, scratch, columns, gradientScale)
            var rowTotal = FixedOrder.sum(scratch, columns.count)
            for index in targets.rowStarts[row]..<targets.rowStarts[row + 1] {
                let item = Int(targets.items[index])
                guard columns.contains(item) else { continue }
                let j = item - columns.lowerBound
                let (negativeLoss, _) = negative(Terms(z[j]), column: item)
                let (positiveLoss, positiveSlope) = positive(Terms(z[j]), column: item)
                rowTotal += Double(positiveLoss - negativeLoss)
                g[j] = positiveSlope * gradientScale
            }
            rowTotals[row] = rowTotal
        }
    }

    /// Every element of a row block as a negative: losses into `losses`, scaled slopes into `g`
    /// (both indexed from the block's first column). One loop per kind, so each inner loop is
    /// branch-free and vectorises.
    @inline(__always)
    private func negatives(
        _ z: UnsafePointer<Float>, _ g: UnsafeMutablePointer<Float>,
        _ losses: UnsafeMutablePointer<Float>, _ block: Range<Int>, _ gradientScale: Float
    ) {
        let columns = block.count
        switch self {
        case .bce, .weightedBCE:
            for j in 0..<columns {
                let t = Terms(z[j])
                losses[j] = t.softplus
                g[j] = t.p * gradientScale
            }
        case .classBalanced(let weights):
            precondition(weights.count >= block.upperBound, "one class weight per column")
            weights.withUnsafeBufferPointer { weights in
                let c = weights.baseAddress! + block.lowerBound
                for j in 0..<columns {
                    let t = Terms(z[j])
                    losses[j] = c[j] * t.softplus
                    g[j] = c[j] * t.p * gradientScale
                }
            }
        case .focal(let gamma, let alpha):
            let weight: Float = alpha < 0 ? 1 : 1 - alpha
            for j in 0..<columns {
                let t = Terms(z[j])
                let modulation = weight * Self.modulation(t.p, gamma)
                losses[j] = modulation * t.softplus
                g[j] = modulation * (gamma * t.q * t.softplus + t.p) * gradientScale
            }
        case .ldam(_, let scale, let weights):
            let slopeScale = scale * gradientScale
            if let weights {
                precondition(weights.count >= block.upperBound, "one class weight per column")
                weights.withUnsafeBufferPointer { weights in
                    let c = weights.baseAddress! + block.lowerBound
                    for j in 0..<columns {
                        let t = Terms(scale * z[j])
                        losses[j] = c[j] * t.softplus
                        g[j] = c[j] * t.p * slopeScale
                    }
                }
            } else {
                for j in 0..<columns {
                    let t = Terms(scale * z[j])
                    losses[j] = t.softplus
                    g[j] = t.p * slopeScale
                }
            }
        }
    }

    /// The quantities every loss is built from.
    struct Terms {
        let z: Float
        /// σ(z) and σ(−z) = 1 − σ(z), each computed without cancellation.
        let p: Float, q: Float
        /// softplus(z) = log(1 + e^z) = −log(1 − σ(z)); softplus(−z) = softplus(z) − z.
        let softplus: Float

        @inline(__always)
        init(_ z: Float) {
            self.z = z
            let e = FastMath.exp(-abs(z))
            let small = e / (1 + e), large = 1 / (1 + e)
            p = z >= 0 ? large : small
            q = z >= 0 ? small : large
            softplus = max(z, 0) + FastMath.log1pUnit(e)
        }
    }

    /// (1 − p_t)^γ with the exact shortcuts γ = 0, 1, 2 (0^0 = 1, as in PyTorch).
    @inline(__always)
    static func modulation(_ x: Float, _ gamma: Float) -> Float {
        switch gamma {
        case 0: 1
        case 1: x
        case 2: x * x
        default: FastMath.power(x, gamma)
        }
    }

    /// Loss and ∂loss/∂z of one element as a negative (y = 0), class weight included.
    @inline(__always)
    func negative(_ t: Terms, column: Int) -> (Float, Float) {
        switch self {
        case .bce, .weightedBCE:
            return (t.softplus, t.p)
        case .classBalanced(let weights):
            return (weights[column] * t.softplus, weights[column] * t.p)
        case .focal(let gamma, let alpha):
            // (1 − α)·p^γ·softplus(z); slope (1 − α)·p^γ·(γ·q·softplus(z) + p).
            let modulation = (alpha < 0 ? 1 : 1 - alpha) * Self.modulation(t.p, gamma)
            return (modulation * t.softplus, modulation * (gamma * t.q * t.softplus + t.p))
        case .ldam(_, let scale, let weights):
            let u = Terms(scale * t.z), w = weights?[column] ?? 1
            return (w * u.softplus, w * scale * u.p)
        }
    }

    /// Loss and ∂loss/∂z of one element as a positive (y = 1), class weight included.
    @inline(__always)
    func positive(_ t: Terms, column: Int) -> (Float, Float) {
        let crossEntropy = t.softplus - t.z  // softplus(−z) = −log σ(z)
        switch self {
        case .bce:
            return (crossEntropy, -t.q)
        case .weightedBCE(let w):
            return (w * crossEntropy, -w * t.q)
        case .classBalanced(let weights):
            return (weights[column] * crossEntropy, -weights[column] * t.q)
        case .focal(let gamma, let alpha):
            // The negative case mirrored (z → −z, p ↔ q), with the slope's sign flipped.
            let modulation = (alpha < 0 ? 1 : alpha) * Self.modulation(t.q, gamma)
            return (modulation * crossEntropy, -modulation * (gamma * t.p * crossEntropy + t.q))
        case .ldam(let margins, let scale, let weights):
            // −log σ(u) with u = s·(z − Δ_j); slope −w·s·σ(−u).
            let u = Terms(scale * (t.z - margins[column])), w = weights?[column] ?? 1
            return (w * (u.softplus - u.z), -w * scale * u.q)
        }
    }
}
