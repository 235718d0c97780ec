import Foundation

/// Ranking metrics of `ml.md`, averaged over examples, plus two collapse diagnostics.
public struct RankingMetrics: Sendable, Equatable, Codable {
    public var ndcg10: Double
    public var recall10: Double
    public var recall50: Double
    public var mrr: Double
    /// Fraction of the catalogue that appears in any example's top 10.
    public var coverage10: Double
    /// Mean |top10 ∩ global popularity top 10| / 10.
    public var popOverlap10: Double

    /// The metric names used in every JSON output and the leaderboard.
    public static let names = ["ndcg@10", "recall@10", "recall@50", "mrr", "coverage@10", "pop_overlap@10"]

    /// Metric name → value.
    public var dictionary: [String: Double] {
        ["ndcg@10": ndcg10, "recall@10": recall10, "recall@50": recall50, "mrr": mrr,
         "coverage@10": coverage10, "pop_overlap@10": popOverlap10]
    }

    public subscript(name: String) -> Double? { dictionary[name] }

    enum CodingKeys: String, CodingKey {
        case ndcg10 = "ndcg@10", recall10 = "recall@10", recall50 = "recall@50", mrr
        case coverage10 = "coverage@10", popOverlap10 = "pop_overlap@10"
    }
}

/// Accumulates ranking metrics one scored example at a time.
///
/// Each example's mentioned items are masked to −∞, the top 100 are found by partial selection
/// (a bounded min-heap, never a full sort of N), and ties go to the lower item index.
public struct MetricAccumulator: Sendable {
    public let itemCount: Int
    /// The global popularity top 10 (by n_j, ties to the lower index), for `pop_overlap@10`.
    public let popularTop10: Set<Int32>
    private var sums = (ndcg: 0.0, recall10: 0.0, recall50: 0.0, mrr: 0.0, overlap: 0.0)
    private var examples = 0
    private var covered: [Bool]
    private var heap: [(score: Float, item: Int32)] = []

    /// Depth of the ranking kept per example: MRR looks at the top 100.
    static let depth = 100
    /// 1/log2(k+1) for k = 1…10.
    static let discounts: [Double] = (1...10).map { 1 / log2(Double($0) + 1) }

    public init(itemCount: Int, popularity: [Int]) {
        self.itemCount = itemCount
        covered = [Bool](repeating: false, count: itemCount)
        var top = TopK(capacity: 10)
        for (item, count) in popularity.enumerated() { top.offer(score: Float(count), item: Int32(item)) }
        popularTop10 = Set(top.sorted().map(\.item))
        heap.reserveCapacity(Self.depth)
    }

    /// Scores one example: `scores` holds N values (modified: mentioned items set to −∞).
    public mutating func add(scores: UnsafeMutablePointer<Float>, mentioned: [Int32], targets: [Int32]) {
        for item in mentioned { scores[Int(item)] = -.infinity }
        var top = TopK(capacity: Self.depth, storage: heap)
        for j in 0..<itemCount { top.offer(score: scores[j], item: Int32(j)) }
        let ranking = top.sorted()
        heap = top.storage
        let targetSet = Set(targets)
        var dcg = 0.0, hits10 = 0, hits50 = 0, firstHit = 0
        for (rank, entry) in ranking.enumerated() where targetSet.contains(entry.item) {
            if rank < 10 { dcg += Self.discounts[rank]; hits10 += 1 }
            if rank < 50 { hits50 += 1 }
            if firstHit == 0 { firstHit = rank + 1 }
        }
        let ideal = Self.discounts.prefix(min(targets.count, 10)).reduce(0, +)
        sums.ndcg += dcg / ideal
        sums.recall10 += Double(hits10) / Double(targets.count)
        sums.recall50 += Double(hits50) / Double(targets.count)
        sums.mrr += firstHit > 0 ? 1 / Double(firstHit) : 0
        var overlap = 0
        for entry in ranking.prefix(10) {
            covered[Int(entry.item)] = true
            if popularTop10.contains(entry.item) { overlap += 1 }
        }
        sums.overlap += Double(overlap) / 10
        examples += 1
    }

    /// The averages over every example added.
    public var metrics: RankingMetrics {
        let count = Double(max(examples, 1))
        return RankingMetrics(
            ndcg10: sums.ndcg / count, recall10: sums.recall10 / count, recall50: sums.recall50 / count,
            mrr: sums.mrr / count, coverage10: Double(covered.lazy.filter { $0 }.count) / Double(itemCount),
            popOverlap10: sums.overlap / count)
    }
}

/// The k best (score, item) pairs by partial selection: a min-heap of size k whose root is the
/// worst kept entry. "Better" is a higher score, then a lower item index.
struct TopK {
    let capacity: Int
    private(set) var storage: [(score: Float, item: Int32)]

    init(capacity: Int, storage: [(score: Float, item: Int32)] = []) {
        self.capacity = capacity
        self.storage = storage
        self.storage.removeAll(keepingCapacity: true)
    }

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
