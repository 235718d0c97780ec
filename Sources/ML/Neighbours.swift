import Foundation
import Vocabulary

/// The nearest train dialogues of every example by the cosine of their sentence embeddings
/// (`knn_k`, docs/ml-extensions.md), and the movies each train dialogue names. Built once per
/// dataset and k: one sgemm per block of 256 examples against the whole train split.
public struct NeighbourIndex: Sendable {
    /// The neighbours of each example of one split, best first (ties: the lower train index).
    public struct Lists: Sendable {
        /// Neighbours per example (k, or fewer when the train split is smaller).
        public let width: Int
        /// Example e's neighbours are `trainExamples[e·width ..< (e+1)·width]`, with `similarities`.
        public let trainExamples: [Int32]
        public let similarities: [Float]
    }

    public let k: Int
    /// Train example t's movies (mentioned and targeted, each once) are `items[itemStarts[t] ..< itemStarts[t + 1]]`.
    public let itemStarts: [Int]
    public let items: [Int32]
    /// By split name (`train`, `valid`, `test`). A train example is never its own neighbour.
    public let lists: [String: Lists]

    /// Finds the `k` nearest train examples of every example of `dataset`'s three splits.
    public init(dataset: Dataset, k: Int) {
        precondition(k >= 1)
        self.k = k
        let train = dataset.train
        var starts = [0], items: [Int32] = []
        for example in 0..<train.count {
            for item in train.mentioned[example] + train.targets[example] where !items[starts[example]...].contains(item) {
                items.append(item)
            }
            starts.append(items.count)
        }
        itemStarts = starts
        self.items = items
        lists = [
            train.name: Self.search(train, in: train, k: k, excludingSelf: true),
            dataset.valid.name: Self.search(dataset.valid, in: train, k: k, excludingSelf: false),
            dataset.test.name: Self.search(dataset.test, in: train, k: k, excludingSelf: false),
        ]
    }

    /// The k most similar rows of `train` for each row of `queries` (dot products: the embeddings
    /// are L2-normalised, so these are cosines).
    static func search(_ queries: Split, in train: Split, k: Int, excludingSelf: Bool) -> Lists {
        let width = min(k, train.count - (excludingSelf ? 1 : 0))
        let dimension = train.dimension, block = 256
        var neighbours = [Int32](repeating: 0, count: queries.count * width)
        var similarities = [Float](repeating: 0, count: queries.count * width)
        let blocks = (queries.count + block - 1) / block
        // The blocks run on threads of their own, each sgemm on its caller's thread (as the model's).
        neighbours.withUnsafeMutableBufferPointer { neighbourOut in
            similarities.withUnsafeMutableBufferPointer { similarityOut in
                let (neighbourOut, similarityOut) = (SendableBuffer(neighbourOut), SendableBuffer(similarityOut))
                DispatchQueue.concurrentPerform(iterations: blocks) { blockIndex in
                    let first = blockIndex * block, rows = min(block, queries.count - first)
                    var products = [Float](repeating: 0, count: rows * train.count)
                    queries.embeddings.withUnsafeBufferPointer { query in
                        train.embeddings.withUnsafeBufferPointer { keys in
                            products.withUnsafeMutableBufferPointer { out in
                                BLAS.sgemm(
                                    .none, .transpose, m: rows, n: train.count, k: dimension, alpha: 1,
                                    a: query.baseAddress! + first * dimension, lda: dimension,
                                    b: keys.baseAddress!, ldb: dimension, beta: 0, c: out.baseAddress!, ldc: train.count)
                            }
                        }
                    }
                    var best = TopSimilar(capacity: width)
                    products.withUnsafeBufferPointer { products in
                        for row in 0..<rows {
                            let example = first + row
                            best.removeAll()
                            let scores = products.baseAddress! + row * train.count
                            for candidate in 0..<train.count where !(excludingSelf && candidate == example) {
                                best.offer(index: Int32(candidate), score: scores[candidate])
                            }
                            for (slot, entry) in best.entries.enumerated() {
                                neighbourOut.buffer[example * width + slot] = entry.index
                                similarityOut.buffer[example * width + slot] = entry.score
                            }
                        }
                    }
                }
            }
        }
        return Lists(width: width, trainExamples: neighbours, similarities: similarities)
    }

    /// Indexes already built in this process.
    private static let cache = ProcessCache<NeighbourIndex>()

    /// The index of `dataset` and `k`, built on first use in this process.
    public static func cached(_ dataset: Dataset, k: Int) -> NeighbourIndex {
        var hasher = Hasher()
        for split in [dataset.train, dataset.valid, dataset.test] {
            hasher.combine(split.name)
            hasher.combine(split.embeddings)
            hasher.combine(split.mentioned)
            hasher.combine(split.targets)
        }
        return cache.value("\(hasher.finalize())/\(k)") { NeighbourIndex(dataset: dataset, k: k) }
    }
}

/// The `capacity` highest scores offered, best first; ties keep the one offered first (the lower index).
struct TopSimilar {
    let capacity: Int
    private(set) var entries: [(index: Int32, score: Float)] = []

    init(capacity: Int) {
        self.capacity = capacity
        entries.reserveCapacity(capacity + 1)
    }

    mutating func removeAll() { entries.removeAll(keepingCapacity: true) }

    mutating func offer(index: Int32, score: Float) {
        if entries.count == capacity, let last = entries.last, !(score > last.score) { return }
        var slot = entries.count
        while slot > 0, score > entries[slot - 1].score { slot -= 1 }
        entries.insert((index, score), at: slot)
        if entries.count > capacity { entries.removeLast() }
    }
}

/// A buffer handed to worker threads that write disjoint parts of it.
struct SendableBuffer<Element>: @unchecked Sendable {
    let buffer: UnsafeMutableBufferPointer<Element>
    init(_ buffer: UnsafeMutableBufferPointer<Element>) { self.buffer = buffer }
}
