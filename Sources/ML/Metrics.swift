import Foundation
import Vocabulary

/// Collects the ranking metrics of a split, one scored example at a time.
///
/// Each example's mentioned items are masked to −∞, the top 100 are found by partial selection
/// (a bounded min-heap, never a full sort of N), and ties go to the lower item index. Per-example
/// values are stored by example index and summed in that order, so several threads may score
/// different examples at once and the averages do not depend on how the work was split.
public final class MetricAccumulator: @unchecked Sendable {
    public let itemCount: Int
    public let capacity: Int
    /// The global popularity top 10 (by n_j, ties to the lower index), for `pop_overlap@10`.
    public let popularTop10: Set<Int32>
    /// Per example: nDCG@10, Recall@10, Recall@50, MRR.
    private let values: UnsafeMutableBufferPointer<Double>
    /// Per example: its top 10 items.
    private let top10: UnsafeMutableBufferPointer<Int32>
    private let filled: UnsafeMutableBufferPointer<Bool>
    private var appended = 0

    /// Depth of the ranking kept per example: MRR looks at the top 100.
    static let depth = 100
    /// 1/log2(k+1) for k = 1…10.
    static let discounts: [Double] = (1...10).map { 1 / log2(Double($0) + 1) }

    /// Room for `capacity` examples.
    public init(itemCount: Int, popularity: [Int], capacity: Int) {
        self.itemCount = itemCount
        self.capacity = capacity
        var top = TopK(capacity: 10)
        for (item, count) in popularity.enumerated() { top.offer(score: Float(count), item: Int32(item)) }
        popularTop10 = Set(top.sorted().map(\.item))
        values = .allocate(capacity: 4 * capacity)
        top10 = .allocate(capacity: 10 * capacity)
        top10.initialize(repeating: -1)
        filled = .allocate(capacity: capacity)
        filled.initialize(repeating: false)
    }

    deinit {
        values.deallocate()
        top10.deallocate()
        filled.deallocate()
    }

    /// Scores the next example (single-threaded use).
    public func add(scores: UnsafeMutablePointer<Float>, mentioned: [Int32], targets: [Int32]) {
        var selection = TopK(capacity: Self.depth)
        add(scores: scores, mentioned: mentioned, targets: targets, example: appended, selection: &selection)
        appended += 1
    }

    /// Scores example `example` from its N `scores` (modified: mentioned items set to −∞).
    /// Safe to call from several threads for different examples, each with its own `selection`.
    public func add(
        scores: UnsafeMutablePointer<Float>, mentioned: [Int32], targets: [Int32], example: Int,
        selection: inout TopK
    ) {
        precondition(example < capacity, "example \(example) beyond the capacity \(capacity)")
        for item in mentioned { scores[Int(item)] = -.infinity }
        selection.removeAll()
        for j in 0..<itemCount { selection.offer(score: scores[j], item: Int32(j)) }
        let ranking = selection.sorted()
        let targetSet = Set(targets)
        var dcg = 0.0, hits10 = 0, hits50 = 0, firstHit = 0
        for (rank, entry) in ranking.enumerated() where targetSet.contains(entry.item) {
            if rank < 10 { dcg += Self.discounts[rank]; hits10 += 1 }
            if rank < 50 { hits50 += 1 }
            if firstHit == 0 { firstHit = rank + 1 }
        }
        let ideal = Self.discounts.prefix(min(targets.count, 10)).reduce(0, +)
        values[4 * example] = dcg / ideal
        values[4 * example + 1] = Double(hits10) / Double(targets.count)
        values[4 * example + 2] = Double(hits50) / Double(targets.count)
        values[4 * example + 3] = firstHit > 0 ? 1 / Double(firstHit) : 0
        for (rank, entry) in ranking.prefix(10).enumerated() { top10[10 * example + rank] = entry.item }
        filled[example] = true
    }

    /// The averages over every example scored, summed in example order.
    public var metrics: RankingMetrics {
        var sums = [0.0, 0.0, 0.0, 0.0], overlap = 0.0, examples = 0
        var covered = [Bool](repeating: false, count: itemCount)
        for example in 0..<capacity where filled[example] {
            for k in 0..<4 { sums[k] += values[4 * example + k] }
            var hits = 0
            for item in top10[(10 * example)..<(10 * example + 10)] where item >= 0 {
                covered[Int(item)] = true
                if popularTop10.contains(item) { hits += 1 }
            }
            overlap += Double(hits) / 10
            examples += 1
        }
        let count = Double(max(examples, 1))
        return RankingMetrics(
            ndcg10: sums[0] / count, recall10: sums[1] / count, recall50: sums[2] / count, mrr: sums[3] / count,
            coverage10: Double(covered.lazy.filter { $0 }.count) / Double(itemCount), popOverlap10: overlap / count)
    }
}

/// The k best (score, item) pairs by partial selection: a min-heap of size k whose root is the
/// worst kept entry. "Better" is a higher score, then a lower item index.
public struct TopK: Sendable {
    let capacity: Int
    private(set) var storage: [(score: Float, item: Int32)]

    public init(capacity: Int) {
        self.capacity = capacity
        storage = []
        storage.reserveCapacity(capacity)
    }

    mutating func removeAll() { storage.removeAll(keepingCapacity: true) }

    @inline(__always)
    static func better(_ a: (score: Float, item: Int32), than b: (score: Float, item: Int32)) -> Bool {
        a.score > b.score || (a.score == b.score && a.item < b.item)
    }

    /// Offers one entry; a NaN score ranks as −∞, so a broken model never breaks the heap's order.
    mutating func offer(score: Float, item: Int32) {
        let entry = (score: score.isNaN ? -Float.infinity : score, item: item)
        if storage.count < capacity {
            storage.append(entry)
            var child = storage.count - 1
            while child > 0 {
                let parent = (child - 1) / 2
                guard Self.better(storage[parent], than: storage[child]) else { break }
                storage.swapAt(parent, child)
                child = parent
            }
        } else if Self.better(entry, than: storage[0]) {
            storage[0] = entry
            var parent = 0
            while true {
                let left = 2 * parent + 1, right = left + 1
                var worst = parent
                if left < storage.count && Self.better(storage[worst], than: storage[left]) { worst = left }
                if right < storage.count && Self.better(storage[worst], than: storage[right]) { worst = right }
                if worst == parent { break }
                storage.swapAt(parent, worst)
                parent = worst
            }
        }
    }

    /// The kept entries, best first.
    func sorted() -> [(score: Float, item: Int32)] {
        storage.sorted { Self.better($0, than: $1) }
    }
}
