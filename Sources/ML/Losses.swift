import Foundation

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

    /// Class-balanced weights c_j = (1−β)/(1−β^{max(n_j,1)}), normalised so Σ_j c_j = N.
    public static func classBalancedWeights(itemCounts: [Int], beta: Double) -> [Float] {
        // 1 − β^n computed as −expm1(n·log1p(β − 1)), accurate as β → 1 (β − 1 is exact there).
        let raw = itemCounts.map { count -> Double in
            beta == 0 ? 1 : (1 - beta) / -expm1(Double(max(count, 1)) * log1p(beta - 1))
        }
        let scale = Double(itemCounts.count) / raw.reduce(0, +)
        return raw.map { Float($0 * scale) }
    }

    /// The mean loss over `rows × columns` logits, and ∂(scale·L)/∂z written into `gradient`,
    /// in one pass over the logits (negatives) plus a fix-up per positive. Stable for any |z|:
    /// every term is built from e = exp(−|z|) ∈ (0, 1].
    public func evaluate(logits: UnsafePointer<Float>, rows: Int, columns: Int, targets: TargetBatch,
                         gradient: UnsafeMutablePointer<Float>, scale: Float = 1) -> Double {
        precondition(targets.rows == rows, "one target row per logit row")
        let gradientScale = scale / Float(rows * columns)
        var total = 0.0
        switch self {
        case .bce, .weightedBCE:
            let posWeight: Float = if case .weightedBCE(let w) = self { w } else { 1 }
            for row in 0..<rows {
                let z = logits + row * columns, g = gradient + row * columns
                var sum: Float = 0
                for j in 0..<columns {
                    let (p, softplus) = Self.sigmoidAndSoftplus(z[j])
                    sum += softplus
                    g[j] = p * gradientScale
                }
                var rowTotal = Double(sum)
                for index in targets.rowStarts[row]..<targets.rowStarts[row + 1] {
                    let j = Int(targets.items[index])
                    let (p, softplus) = Self.sigmoidAndSoftplus(z[j])
                    // y = 1: loss w·softplus(−z) = w·(softplus(z) − z), gradient −w·(1 − p).
                    rowTotal += Double(posWeight * (softplus - z[j]) - softplus)
                    g[j] = -posWeight * (1 - p) * gradientScale
                }
                total += rowTotal
            }
        case .classBalanced(let weights):
            weights.withUnsafeBufferPointer { c in
                for row in 0..<rows {
                    let z = logits + row * columns, g = gradient + row * columns
                    var sum: Float = 0
                    for j in 0..<columns {
                        let (p, softplus) = Self.sigmoidAndSoftplus(z[j])
                        sum += c[j] * softplus
                        g[j] = c[j] * p * gradientScale
                    }
                    var rowTotal = Double(sum)
                    for index in targets.rowStarts[row]..<targets.rowStarts[row + 1] {
                        let j = Int(targets.items[index])
                        // y = 1: c·softplus(−z) = c·(softplus(z) − z).
                        let (p, _) = Self.sigmoidAndSoftplus(z[j])
                        rowTotal -= Double(c[j] * z[j])
                        g[j] = -c[j] * (1 - p) * gradientScale
                    }
                    total += rowTotal
                }
            }
        case .focal(let gamma, let alpha):
            let (alphaPositive, alphaNegative): (Float, Float) = alpha < 0 ? (1, 1) : (alpha, 1 - alpha)
            for row in 0..<rows {
                let z = logits + row * columns, g = gradient + row * columns
                var sum: Float = 0
                for j in 0..<columns {
                    let (loss, slope) = Self.focalNegative(z[j], gamma: gamma)
                    sum += alphaNegative * loss
                    g[j] = alphaNegative * slope * gradientScale
                }
                var rowTotal = Double(sum)
                for index in targets.rowStarts[row]..<targets.rowStarts[row + 1] {
                    let j = Int(targets.items[index])
                    // y = 1 is y = 0 mirrored: z → −z, and the slope changes sign.
                    let (negativeLoss, _) = Self.focalNegative(z[j], gamma: gamma)
                    let (loss, slope) = Self.focalNegative(-z[j], gamma: gamma)
                    rowTotal += Double(alphaPositive * loss - alphaNegative * negativeLoss)
                    g[j] = -alphaPositive * slope * gradientScale
                }
                total += rowTotal
            }
        }
        return total / Double(rows * columns)
    }

    /// σ(z) and softplus(z) = log(1 + e^z), from one exp and one log1p.
    @inline(__always)
    static func sigmoidAndSoftplus(_ z: Float) -> (Float, Float) {
        let e = expf(-abs(z))
        let p = z >= 0 ? 1 / (1 + e) : e / (1 + e)
        return (p, max(z, 0) + log1pf(e))
    }

    /// Focal loss of a negative (y = 0) without α: p^γ·softplus(z), and its slope
    /// p^γ·(γ·(1−p)·softplus(z) + p).
    @inline(__always)
    static func focalNegative(_ z: Float, gamma: Float) -> (loss: Float, slope: Float) {
        let e = expf(-abs(z))
        let p = z >= 0 ? 1 / (1 + e) : e / (1 + e)
        let q = z >= 0 ? e / (1 + e) : 1 / (1 + e)
        let ce = max(z, 0) + log1pf(e)
        let modulation: Float = switch gamma {
        case 0: 1
        case 1: p
        case 2: p * p
        default: powf(p, gamma)
        }
        return (modulation * ce, modulation * (gamma * q * ce + p))
    }
}
