import Foundation
import Synchronization
import Vocabulary

/// The co-occurrence counts of the train split, C[m, j], in compressed rows (CSR): row m holds
/// the items that co-occurred with m and how often. Built once per dataset and mode.
public struct CooccurrenceTable: Sendable {
    public let itemCount: Int
    public let mode: CooccurrenceMode
    /// The name of the split the pairs were counted in.
    public let trainName: String
    /// Row m's entries are `columns[rowStarts[m] ..< rowStarts[m + 1]]`, ascending, with `counts`.
    public let rowStarts: [Int]
    public let columns: [Int32]
    public let counts: [Float]

    /// Counts the train split's pairs.
    public init(train: Split, itemCount: Int, mode: CooccurrenceMode) {
        self.itemCount = itemCount
        self.mode = mode
        trainName = train.name
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

    /// Tables already built in this process: building one walks the whole train split.
    private static let cache = ProcessCache<CooccurrenceTable>()

    /// The table of `dataset` and `mode`, built on first use in this process (keyed by the train
    /// split's content, so two loads of one dataset share it).
    public static func cached(_ dataset: Dataset, mode: CooccurrenceMode) -> CooccurrenceTable {
        var hasher = Hasher()
        hasher.combine(dataset.itemCount)
        hasher.combine(dataset.train.mentioned)
        hasher.combine(dataset.train.targets)
        return cache.value("\(hasher.finalize())/\(mode.rawValue)") {
            CooccurrenceTable(train: dataset.train, itemCount: dataset.itemCount, mode: mode)
        }
    }
}

/// What this process built from a dataset, by a key naming the dataset's content and the
/// settings: a worker trains many trials of one dataset and builds each thing once.
final class ProcessCache<Value: Sendable>: Sendable {
    private let values = Mutex<[String: Value]>([:])

    /// The value kept under `key`, built now if there is none.
    func value(_ key: String, build: () -> Value) -> Value {
        if let known = values.withLock({ $0[key] }) { return known }
        let value = build()
        values.withLock { $0[key] = value }
        return value
    }
}

/// The prior of one trial, added to the model's logits in training and evaluation (so a model on
/// top learns the residual) or used alone (`model: none`):
/// score_j = β·log(1 + Σ_{m ∈ mentioned} C[m, j]) + γ·log(1 + n_j) + δ·log(1 + Σ_{t ∈ nearest} max(s_t, 0)^p·[j named in t]),
/// the co-occurrence part with `cooc`, the neighbour part with `knn_k` (docs/ml-extensions.md).
public final class PriorScorer: @unchecked Sendable {
    public let itemCount: Int
    public let table: CooccurrenceTable?
    public let weight: Float
    public let popularityWeight: Float
    public let neighbours: NeighbourIndex?
    public let neighbourWeight: Float
    public let neighbourPower: Float
    /// n_j, and γ·log(1 + n_j) (zero without the co-occurrence part): the dense part every row starts from.
    private let itemCounts: [Int]
    private let popularityScores: [Float]
    /// Per thread of evaluation at most one row is built at a time; a training step builds its
    /// rows one after another. Two accumulators (all zero between rows) and a touched list suffice
    /// per calling thread, so each call takes its own.
    private let scratch = Mutex<[Accumulators]>([])

    private struct Accumulators {
        var cooccurrences: [Float]
        var neighbourMass: [Float]
        var touched: [Int] = []
    }

    /// - Parameters:
    ///   - table: the co-occurrence counts (nil: no co-occurrence part and no popularity term).
    ///   - neighbours: the nearest train dialogues (nil: no neighbour part).
    public init(
        itemCount: Int, table: CooccurrenceTable?, weight: Double = 1, popularityWeight: Double = 0, itemCounts: [Int],
        neighbours: NeighbourIndex? = nil, neighbourWeight: Double = 1, neighbourPower: Double = 1
    ) {
        precondition(table != nil || neighbours != nil, "a prior needs a co-occurrence table or neighbours")
        self.itemCount = itemCount
        self.table = table
        self.weight = Float(weight)
        self.popularityWeight = Float(popularityWeight)
        self.neighbours = neighbours
        self.neighbourWeight = Float(neighbourWeight)
        self.neighbourPower = Float(neighbourPower)
        self.itemCounts = itemCounts
        popularityScores =
            table == nil
            ? [Float](repeating: 0, count: itemCount)
            : itemCounts.map { Float(popularityWeight * log1p(Double($0))) }
    }

    /// The prior a config asks for on `dataset` (its tables built once per process), or nil with
    /// neither `cooc` nor `knn_k`.
    public convenience init?(config: TrialConfig, dataset: Dataset) {
        guard config.cooc != .none || config.knnK > 0 else { return nil }
        self.init(
            itemCount: dataset.itemCount, table: config.cooc == .none ? nil : .cached(dataset, mode: config.cooc),
            weight: config.coocWeight, popularityWeight: config.coocPopularity, itemCounts: dataset.trainItemCounts,
            neighbours: config.knnK > 0 ? .cached(dataset, k: config.knnK) : nil,
            neighbourWeight: config.knnWeight, neighbourPower: config.knnPower)
    }

    /// The prior of `split`'s examples (one of the dataset's three splits).
    public func rows(for split: Split) -> PriorRows {
        var lists: NeighbourIndex.Lists?
        if let neighbours {
            guard let found = neighbours.lists[split.name] else { preconditionFailure("no neighbours for split \(split.name)") }
            lists = found
        }
        return PriorRows(
            scorer: self, mentioned: split.mentioned, ownTargets: split.name == table?.trainName ? split.targets : nil,
            neighbours: lists)
    }

    /// Writes the prior scores of one example into `row` (N floats): one copy of N floats, the
    /// co-occurrence rows of its mentioned items and the movies of its nearest train dialogues.
    func scores(
        mentioned: [Int32], ownTargets: [Int32]?, neighbours list: NeighbourIndex.Lists?, example: Int,
        into row: UnsafeMutablePointer<Float>
    ) {
        var work =
            scratch.withLock { $0.popLast() }
            ?? Accumulators(cooccurrences: [Float](repeating: 0, count: itemCount), neighbourMass: [Float](repeating: 0, count: itemCount))
        popularityScores.withUnsafeBufferPointer { row.update(from: $0.baseAddress!, count: itemCount) }
        if let table {
            if let ownTargets {
                // n_j without the example's own targets (see below).
                for t in ownTargets {
                    let own = ownTargets.reduce(0) { $0 + ($1 == t ? 1 : 0) }
                    row[Int(t)] = popularityWeight * log1pf(Float(itemCounts[Int(t)] - own))
                }
            }
            work.cooccurrences.withUnsafeMutableBufferPointer { counts in
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
                if let ownTargets {
                    // A train example's own pairs are in the table: take them out, so that it is
                    // scored as a valid or test example is, by the other dialogues alone.
                    switch table.mode {
                    case .none: break
                    case .dialogue:
                        var items: [Int32] = []
                        for item in mentioned + ownTargets where !items.contains(item) { items.append(item) }
                        for m in mentioned { for j in items where j != m { counts[Int(j)] -= 1 } }
                    case .target:
                        for m in mentioned { for t in ownTargets where t != m { counts[Int(t)] -= 1 } }
                    }
                }
                for j in work.touched {
                    row[j] += weight * log1pf(counts[j])
                    counts[j] = 0
                }
            }
            work.touched.removeAll(keepingCapacity: true)
        }
        if let neighbours, let list {
            work.neighbourMass.withUnsafeMutableBufferPointer { mass in
                neighbours.items.withUnsafeBufferPointer { items in
                    for slot in example * list.width..<(example + 1) * list.width {
                        let neighbour = Int(list.trainExamples[slot])
                        let share = powf(max(list.similarities[slot], 0), neighbourPower)
                        guard share > 0 else { continue }
                        for index in neighbours.itemStarts[neighbour]..<neighbours.itemStarts[neighbour + 1] {
                            let j = Int(items[index])
                            if mass[j] == 0 { work.touched.append(j) }
                            mass[j] += share
                        }
                    }
                }
                for j in work.touched {
                    row[j] += neighbourWeight * log1pf(mass[j])
                    mass[j] = 0
                }
            }
            work.touched.removeAll(keepingCapacity: true)
        }
        scratch.withLock { $0.append(work) }
    }
}

/// A prior bound to one split: what a batch of that split's examples needs to score them.
public struct PriorRows: Sendable {
    public let scorer: PriorScorer
    let mentioned: [[Int32]]
    /// The train split's targets, when the rows are its own (their pairs are taken out of the counts).
    let ownTargets: [[Int32]]?
    let neighbours: NeighbourIndex.Lists?

    /// Writes example `example`'s prior scores into `row` (N floats).
    public func scores(example: Int, into row: UnsafeMutablePointer<Float>) {
        scorer.scores(mentioned: mentioned[example], ownTargets: ownTargets?[example], neighbours: neighbours, example: example, into: row)
    }
}
