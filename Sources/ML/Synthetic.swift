import Foundation
import Vocabulary

/// A synthetic dataset in the dataset-format, with planted structure: latent user tastes, Zipf item
/// popularity, text embeddings that carry the taste (and a little of the wanted items) under noise,
/// and mentioned items and tags drawn from the same tastes.
///
/// Generation uses only exactly rounded IEEE arithmetic (+, −, ×, ÷, √) on the data path, no libm
/// transcendental functions, so one seed yields byte-identical files on every machine.
public struct SyntheticDataset: Sendable {
    /// Sizes and seed of a synthetic dataset.
    public struct Options: Sendable, Equatable {
        public var items: Int
        public var train: Int
        public var valid: Int
        public var test: Int
        public var dimension: Int
        public var tags: Int
        /// Latent taste clusters.
        public var tastes: Int
        public var seed: UInt64

        public init(items: Int, train: Int, valid: Int, test: Int, dimension: Int, tags: Int, tastes: Int, seed: UInt64) {
            self.items = items
            self.train = train
            self.valid = valid
            self.test = test
            self.dimension = dimension
            self.tags = tags
            self.tastes = tastes
            self.seed = seed
        }

        /// ReDial-shaped: 6,924 items, D = 384, ~3 targets per example, imbalance ≈ 2,000:1.
        public static let redial = Options(
            items: 6924, train: 3502, valid: 393, test: 1253, dimension: 384,
            tags: 2695, tastes: 48, seed: 0)
        /// Small enough for tests and the quickstart (a trial trains in seconds on one thread).
        public static let small = Options(
            items: 1500, train: 2000, valid: 400, test: 400, dimension: 64,
            tags: 800, tastes: 16, seed: 0)

        /// The preset of that name (`redial`, `small`).
        public static func preset(_ name: String) -> Options? {
            switch SyntheticPreset(rawValue: name) {
            case .redial: .redial
            case .small: .small
            case nil: nil
            }
        }
    }

    /// P(k targets) for k = 1…8: mean ≈ 3.1, as in ReDial.
    static let targetCountWeights: [Double] = [0.16, 0.22, 0.24, 0.16, 0.1, 0.06, 0.04, 0.02]
    /// P(k mentioned) for k = 0…5: mean ≈ 2.1, about 90% of examples mention something.
    static let mentionedCountWeights: [Double] = [0.1, 0.25, 0.3, 0.2, 0.1, 0.05]
    // The text embedding is a weighted sum of unit vectors, then L2-normalised.
    /// Weight of the direction every text shares (sentence embeddings are anisotropic: all texts look alike).
    static let commonWeight = 1.0
    /// Weight of the user's taste direction.
    static let tasteWeight = 0.6
    /// Weight of the wanted items' own directions (their normalised sum).
    static let itemWeight = 0.3
    static let noiseWeight = 0.8
    /// Share of an example's items drawn from its own taste rather than from global popularity.
    static let tasteShare = 0.7

    public let options: Options

    public init(options: Options) { self.options = options }

    /// Writes the dataset's files into `folder` (created if missing).
    public func write(to folder: URL) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var rng = Xoshiro256(seed: options.seed)
        let n = options.items, d = options.dimension, k = options.tastes

        // Item popularity: Zipf with exponent 1 over a random rank order.
        var ranks = Array(0..<n)
        shuffle(&ranks, &rng)
        let popularity = ranks.map { 1.0 / Double($0 + 1) }
        // Each item belongs to one taste (the first k items seed one taste each, so none is empty).
        let itemTaste = (0..<n).map { $0 < k ? $0 : rng.nextIndex(below: k) }
        // Unit directions in R^D: one shared by all texts, one per taste, one per item (near its taste's).
        let common = unit(normalVector(d, &rng))
        let tasteDirections = (0..<k).map { _ in unit(normalVector(d, &rng)) }
        let itemDirections = (0..<n).map { j in
            unit(zip(tasteDirections[itemTaste[j]], unit(normalVector(d, &rng))).map { $0 + $1 })
        }
        let globalSampler = WeightedSampler(weights: popularity)
        let tasteSamplers = (0..<k).map { t in
            WeightedSampler(weights: (0..<n).map { itemTaste[$0] == t ? popularity[$0] : 0 })
        }

        var items = "index\tredial_id\ttitle\n"
        for j in 0..<n { items += "\(j)\t\(100_000 + j)\tSynthetic item \(j) (taste \(itemTaste[j]))\n" }
        try Data(items.utf8).write(to: folder.appendingPathComponent("items.tsv"))

        let targetCounts = WeightedSampler(weights: Self.targetCountWeights)
        let mentionedCounts = WeightedSampler(weights: Self.mentionedCountWeights)
        for (name, count) in [("train", options.train), ("valid", options.valid), ("test", options.test)] {
            var lines = ""
            var embeddings: [Float] = []
            embeddings.reserveCapacity(count * d)
            for i in 0..<count {
                let taste = rng.nextIndex(below: k)
                func draw(_ exclude: Set<Int>) -> Int {
                    while true {
                        let sampler = rng.nextUniform() < Self.tasteShare ? tasteSamplers[taste] : globalSampler
                        let item = sampler.sample(&rng)
                        if !exclude.contains(item) { return item }
                    }
                }
                var taken = Set<Int>()
                var targets: [Int] = []
                for _ in 0...targetCounts.sample(&rng) {
                    let item = draw(taken)
                    taken.insert(item)
                    targets.append(item)
                }
                var mentioned: [Int] = []
                for _ in 0..<mentionedCounts.sample(&rng) {
                    let item = draw(taken)
                    taken.insert(item)
                    mentioned.append(item)
                }
                // The text says what the user likes: the taste, something of the wanted items, noise.
                var wanted = [Double](repeating: 0, count: d)
                for item in targets { for c in 0..<d { wanted[c] += itemDirections[item][c] } }
                wanted = unit(wanted)
                let noise = unit(normalVector(d, &rng))
                let text = (0..<d).map { c in
                    Self.commonWeight * common[c] + Self.tasteWeight * tasteDirections[taste][c]
                        + Self.itemWeight * wanted[c] + Self.noiseWeight * noise[c]
                }
                embeddings += unit(text).map { Float($0) }
                lines +=
                    "{\"id\":\"syn-\(name)-\(i)\",\"text\":\"synthetic user with taste \(taste)\",\"mentioned\":\(mentioned),\"targets\":\(targets)}\n"
            }
            try Data(lines.utf8).write(to: folder.appendingPathComponent("\(name).jsonl"))
            let matrix = NPYMatrix(rows: count, columns: d, values: embeddings)
            try Data(NPY.encode(matrix)).write(to: folder.appendingPathComponent("\(name).npy"))
        }

        // Tags describe an item: its direction under noise, items drawn by popularity.
        var tagLines = ""
        var tagEmbeddings: [Float] = []
        for i in 0..<options.tags {
            let item = globalSampler.sample(&rng)
            let noise = unit(normalVector(d, &rng))
            tagEmbeddings += unit(
                (0..<d).map {
                    Self.commonWeight * common[$0] + itemDirections[item][$0] + Self.noiseWeight * noise[$0]
                }
            ).map { Float($0) }
            tagLines += "{\"tag\":\"tag \(i) of taste \(itemTaste[item])\",\"item\":\(item)}\n"
        }
        try Data(tagLines.utf8).write(to: folder.appendingPathComponent("tags.jsonl"))
        try Data(NPY.encode(NPYMatrix(rows: options.tags, columns: d, values: tagEmbeddings)))
            .write(to: folder.appendingPathComponent("tags.npy"))

        let readme = """
            # Synthetic dataset
            Generated by `sweep data synth` with items \(n), train \(options.train), valid \(options.valid), \
            test \(options.test), D \(d), tags \(options.tags), tastes \(k), seed \(options.seed).
            Planted structure: latent tastes, Zipf item popularity, text embeddings carrying the taste with noise.

            """
        try Data(readme.utf8).write(to: folder.appendingPathComponent("README.md"))
    }

    /// An approximately standard normal vector: each entry the Irwin–Hall sum of 12 uniforms − 6.
    private func normalVector(_ d: Int, _ rng: inout Xoshiro256) -> [Double] {
        (0..<d).map { _ in
            var sum = -6.0
            for _ in 0..<12 { sum += rng.nextUniform() }
            return sum
        }
    }

    private func unit(_ vector: [Double]) -> [Double] {
        let norm = vector.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return vector.map { $0 / norm }
    }

    private func shuffle(_ array: inout [Int], _ rng: inout Xoshiro256) {
        for i in stride(from: array.count - 1, to: 0, by: -1) {
            array.swapAt(i, rng.nextIndex(below: i + 1))
        }
    }
}

/// Draws an index with probability proportional to its weight (cumulative sums and binary search).
struct WeightedSampler {
    private let cumulative: [Double]

    init(weights: [Double]) {
        var total = 0.0
        cumulative = weights.map {
            total += $0; return total
        }
    }

    func sample(_ rng: inout Xoshiro256) -> Int {
        let target = rng.nextUniform() * cumulative[cumulative.count - 1]
        var low = 0, high = cumulative.count - 1
        while low < high {
            let middle = (low + high) / 2
            if cumulative[middle] > target { high = middle } else { low = middle + 1 }
        }
        return low
    }
}
