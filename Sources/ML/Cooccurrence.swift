import Foundation
import Synchronization

/// Which pairs of a training dialogue count as co-occurring (`cooc`, docs/ml-extensions.md).
public enum CooccurrenceMode: String, Sendable, CaseIterable {
    /// No prior.
    case none
    /// Every pair of distinct movies mentioned or targeted in one example, both ways.
    case dialogue
    /// Each mentioned movie with each target of the same example (mentioned → target).
    case target
}

/// The co-occurrence counts of the train split, C[m, j], in compressed rows (CSR): row m holds
/// the items that co-occurred with m and how often. Built once per dataset and mode.
public struct CooccurrenceTable: Sendable {
    public let itemCount: Int
    /// Row m's entries are `columns[rowStarts[m] ..< rowStarts[m + 1]]`, ascending, with `counts`.
    public let rowStarts: [Int]
    public let columns: [Int32]
    public let counts: [Float]

    /// Counts the train split's pairs.
    public init(train: Split, itemCount: Int, mode: CooccurrenceMode) {
        self.itemCount = itemCount
        var rows = [[Int32: Float]](repeating: [:], count: itemCount)
        for example in 0..<train.count {
            switch mode {
            case .none: break
            case .dialogue:
                var items: [Int32] = []
                for item in train.mentioned[example] + train.targets[example] where !items.contains(item) { items.append(item) }
                for a in items { for b in items where a != b { rows[Int(a)][b, default: 0] += 1 } }
            case .target:
                for m in train.mentioned[example] {
                    for t in train.targets[example] where t != m { rows[Int(m)][t, default: 0] += 1 }
                }
            }
        }
        var starts = [0], columns: [Int32] = [], counts: [Float] = []
        for row in rows {
            for (column, count) in row.sorted(by: { $0.key < $1.key }) {
                columns.append(column)
                counts.append(count)
            }
            starts.append(columns.count)
        }
        rowStarts = starts
        self.columns = columns
        self.counts = counts
    }

    /// Stored co-occurrences.
    public var entries: Int { columns.count }

    /// Tables already built in this process, by dataset fingerprint and mode: a worker trains many
    /// trials of one dataset, and building one walks the whole train split.
    private static let cache = Mutex<[String: CooccurrenceTable]>([:])

    /// The table of `dataset` and `mode`, built on first use in this process (keyed by the train
    /// split's content, so two loads of one dataset share it).
    public static func cached(_ dataset: Dataset, mode: CooccurrenceMode) -> CooccurrenceTable {
        var hasher = Hasher()
        hasher.combine(dataset.itemCount)
        hasher.combine(dataset.train.mentioned)
        hasher.combine(dataset.train.targets)
        let name = "\(hasher.finalize())/\(mode.rawValue)"
        if let table = cache.withLock({ $0[name] }) { return table }
        let table = CooccurrenceTable(train: dataset.train, itemCount: dataset.itemCount, mode: mode)
        cache.withLock { $0[name] = table }
        return table
    }
}

/// The co-occurrence prior of one trial: score_j = β·log(1 + Σ_{m ∈ mentioned} C[m, j]) + γ·log(1 + n_j).
/// Added to the model's logits in training and evaluation (so a model on top learns the residual),
/// or used alone (`model: none`).
public final class PriorScorer: @unchecked Sendable {
    public let table: CooccurrenceTable
    public let weight: Float
    public let popularityWeight: Float
    /// γ·log(1 + n_j), the dense part every row starts from.
    private let popularityScores: [Float]
    /// Per thread of evaluation at most one row is built at a time; a training step builds its
    /// rows one after another. One accumulator (all zero between rows) and touched list suffice
    /// per calling thread, so each call takes its own.
    private let scratch = Mutex<[(counts: [Float], touched: [Int])]>([])

    public init(table: CooccurrenceTable, weight: Double, popularityWeight: Double, itemCounts: [Int]) {
        self.table = table
        self.weight = Float(weight)
        self.popularityWeight = Float(popularityWeight)
        popularityScores = itemCounts.map { Float(popularityWeight * log1p(Double($0))) }
    }

    /// The prior a config asks for on `dataset` (its table built once per process), or nil with `cooc: none`.
    public convenience init?(config: TrialConfig, dataset: Dataset) {
        guard config.cooc != .none else { return nil }
        self.init(table: .cached(dataset, mode: config.cooc), weight: config.coocWeight,
                  popularityWeight: config.coocPopularity, itemCounts: dataset.trainItemCounts)
    }

    /// Writes the prior scores of an example with these mentioned items into `row` (N floats).
    /// Costs one copy of N floats plus the co-occurrence rows of the mentioned items.
    public func scores(mentioned: [Int32], into row: UnsafeMutablePointer<Float>) {
        var work = scratch.withLock { $0.popLast() } ?? (counts: [Float](repeating: 0, count: table.itemCount), touched: [])
        popularityScores.withUnsafeBufferPointer { row.update(from: $0.baseAddress!, count: table.itemCount) }
        work.counts.withUnsafeMutableBufferPointer { counts in
            table.columns.withUnsafeBufferPointer { columns in
                table.counts.withUnsafeBufferPointer { values in
                    for m in mentioned {
                        for index in table.rowStarts[Int(m)]..<table.rowStarts[Int(m) + 1] {
                            let j = Int(columns[index])
                            if counts[j] == 0 { work.touched.append(j) }
                            counts[j] += values[index]
                        }
                    }
                }
            }
            for j in work.touched {
                row[j] += weight * log1pf(counts[j])
                counts[j] = 0
            }
        }
        work.touched.removeAll(keepingCapacity: true)
        scratch.withLock { $0.append(work) }
    }
}
