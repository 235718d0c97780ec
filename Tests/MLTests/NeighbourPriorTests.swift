import Foundation
import Testing
import Vocabulary

@testable import ML

/// The nearest-dialogue prior (`knn_k`) and the co-occurrence prior's leave-one-out on train rows
/// (docs/ml-extensions.md).
@Suite struct NeighbourPriorTests {
    /// Five items, 2-D unit embeddings. Train: t0 (1, 0) names 0 → 1; t1 (0.8, 0.6) targets 2;
    /// t2 (0, 1) names 3 → 2; t3 (−1, 0) targets 4. Valid: v0 (1, 0), v1 (√½, √½).
    static func handBuilt() -> Dataset {
        let half = Float(0.5).squareRoot()
        let train = Split(
            name: "train", dimension: 2, embeddings: [1, 0, 0.8, 0.6, 0, 1, -1, 0],
            mentioned: [[0], [], [3], []], targets: [[1], [2], [2], [4]])
        let valid = Split(name: "valid", dimension: 2, embeddings: [1, 0, half, half], mentioned: [[], [1]], targets: [[1], [2]])
        let test = Split(name: "test", dimension: 2, embeddings: [0, 1], mentioned: [[]], targets: [[3]])
        return Dataset(itemCount: 5, titles: ["a", "b", "c", "d", "e"], dimension: 2, train: train, valid: valid, test: test, tags: nil)
    }

    func scores(_ prior: PriorScorer, _ split: Split, _ example: Int) -> [Double] {
        var row = [Float](repeating: .nan, count: prior.itemCount)
        row.withUnsafeMutableBufferPointer { prior.rows(for: split).scores(example: example, into: $0.baseAddress!) }
        return row.map(Double.init)
    }

    func expectClose(_ got: [Double], _ want: [Double], _ comment: Comment? = nil) {
        #expect(got.count == want.count)
        for (value, expected) in zip(got, want) { #expect(abs(value - expected) < 1e-6, "\(got) vs \(want) \(comment?.rawValue ?? "")") }
    }

    /// Cosines by hand: v0 → t0 1, t1 0.8; v1 → t1 0.99, then t0 and t2 tie at √½ (t0, the lower
    /// index, wins); t0 (itself excluded) → t1 0.8, t2 0; t3 (−1, 0) → t2 0, t1 −0.8.
    @Test func neighboursAreTheMostSimilarOtherTrainDialogues() {
        let index = NeighbourIndex(dataset: Self.handBuilt(), k: 2)
        let valid = index.lists["valid"]!, train = index.lists["train"]!
        #expect(valid.width == 2 && valid.trainExamples == [0, 1, 1, 0])
        #expect(
            abs(valid.similarities[0] - 1) < 1e-6 && abs(valid.similarities[1] - 0.8) < 1e-6 && abs(valid.similarities[2] - 0.98995) < 1e-4)
        #expect(train.trainExamples[0..<2] == [1, 2] && train.trainExamples[2..<4] == [0, 2] && train.trainExamples[6..<8] == [2, 1])
        for example in 0..<4 { #expect(!train.trainExamples[(2 * example)..<(2 * example + 2)].contains(Int32(example))) }
        #expect(Array(index.items[index.itemStarts[2]..<index.itemStarts[3]]) == [3, 2])
        // k above what the train split holds: every other train dialogue, still never itself.
        let wide = NeighbourIndex(dataset: Self.handBuilt(), k: 10)
        #expect(wide.lists["train"]!.width == 3 && wide.lists["valid"]!.width == 4)
    }

    /// score_j = δ·log(1 + Σ_t max(s_t, 0)^p·[j named in t]).
    @Test func neighbourScoresAreWorkedOutByHand() {
        let dataset = Self.handBuilt()
        let index = NeighbourIndex(dataset: dataset, k: 2)
        let linear = PriorScorer(
            itemCount: 5, table: nil, itemCounts: dataset.trainItemCounts, neighbours: index, neighbourWeight: 2, neighbourPower: 1)
        // v0: t0 (s 1) names 0, 1; t1 (s 0.8) names 2.
        expectClose(scores(linear, dataset.valid, 0), [2 * log(2), 2 * log(2), 2 * log(1.8), 0, 0])
        // t0 on train: t1 (0.8) names 2; t2 has s = 0, so it adds nothing at p = 1.
        expectClose(scores(linear, dataset.train, 0), [0, 0, 2 * log(1.8), 0, 0])
        // p = 0 counts each neighbour once: t2 adds 3 and 2 too.
        let flat = PriorScorer(
            itemCount: 5, table: nil, itemCounts: dataset.trainItemCounts, neighbours: index, neighbourWeight: 1, neighbourPower: 0)
        expectClose(scores(flat, dataset.train, 0), [0, 0, log(3), log(2), 0])
        // p = 2 squares the similarities; repeated calls leave no residue in the accumulators.
        let sharp = PriorScorer(
            itemCount: 5, table: nil, itemCounts: dataset.trainItemCounts, neighbours: index, neighbourWeight: 1, neighbourPower: 2)
        for _ in 0..<2 { expectClose(scores(sharp, dataset.valid, 0), [log(2), log(2), log(1.64), 0, 0]) }
        // With the co-occurrence part both add up: v1 mentions 1, which co-occurs with 0 (dialogue).
        let table = CooccurrenceTable(train: dataset.train, itemCount: 5, mode: .dialogue)
        let both = PriorScorer(
            itemCount: 5, table: table, weight: 1, popularityWeight: 0.5, itemCounts: dataset.trainItemCounts,
            neighbours: index, neighbourWeight: 1, neighbourPower: 1)
        let s1 = 0.8 * Double(0.5).squareRoot() + 0.6 * Double(0.5).squareRoot(), s0 = Double(0.5).squareRoot()
        let popularity = [0, 1, 2, 0, 1].map { 0.5 * log(1 + Double($0)) }
        expectClose(
            scores(both, dataset.valid, 1),
            [log(2) + log(1 + s0), log(1 + s0), log(1 + s1), 0, 0].enumerated().map { $0.element + popularity[$0.offset] })
    }

    /// A train row's prior is the prior a table without that example gives it as a new example,
    /// for both pair modes, with the popularity term: nothing of its own targets leaks in.
    @Test func trainRowsSeeThePriorOfTheOtherDialogues() throws {
        let dataset = try Dataset.load(from: SyntheticFixtures.folder(SyntheticFixtures.tiny, seed: 2))
        let train = dataset.train
        for mode in [CooccurrenceMode.dialogue, .target] {
            let full = PriorScorer(
                itemCount: dataset.itemCount, table: CooccurrenceTable(train: train, itemCount: dataset.itemCount, mode: mode),
                weight: 1.5, popularityWeight: 0.3, itemCounts: dataset.trainItemCounts)
            var checked = 0
            for example in stride(from: 0, to: train.count, by: 37) where !train.mentioned[example].isEmpty {
                let others = (0..<train.count).filter { $0 != example }
                let rest = Split(
                    name: "train", dimension: train.dimension,
                    embeddings: others.flatMap { train.embeddings[($0 * train.dimension)..<(($0 + 1) * train.dimension)] },
                    mentioned: others.map { train.mentioned[$0] }, targets: others.map { train.targets[$0] })
                var counts = [Int](repeating: 0, count: dataset.itemCount)
                for targets in rest.targets { for item in targets { counts[Int(item)] += 1 } }
                let heldOut = PriorScorer(
                    itemCount: dataset.itemCount, table: CooccurrenceTable(train: rest, itemCount: dataset.itemCount, mode: mode),
                    weight: 1.5, popularityWeight: 0.3, itemCounts: counts)
                let alone = Split(
                    name: "query", dimension: train.dimension,
                    embeddings: Array(train.embeddings[(example * train.dimension)..<((example + 1) * train.dimension)]),
                    mentioned: [train.mentioned[example]], targets: [train.targets[example]])
                let got = scores(full, train, example), want = scores(heldOut, alone, 0)
                expectClose(got, want, "\(mode) example \(example)")
                // ... and the full table does count the example's own pairs (so the check has teeth).
                #expect(scores(full, alone, 0) != got)
                checked += 1
            }
            #expect(checked >= 5)
        }
    }

    @Test func knnKeysFollowTheActivityRules() throws {
        #expect(throws: ConfigError.self) { try TrialConfig.parse(["knn_weight": .double(2)]) }
        do {
            _ = try TrialConfig.parse(["knn_power": .double(2)])
        } catch let error as ConfigError {
            #expect(error.key == "knn_power" && error.message.contains("only used with knn_k > 0"))
        }
        #expect(throws: ConfigError.self) { try TrialConfig.parse(["knn_k": .int(-1)]) }
        #expect(throws: ConfigError.self) { try TrialConfig.parse(["knn_k": .double(2.5)]) }
        // The prior alone may be the neighbours alone; knn_k 0 keeps a config's id.
        let alone = try TrialConfig.parse(["model": .string("none"), "knn_k": .int(20), "knn_power": .int(4)])
        #expect(alone.activeDictionary.keys.sorted() == ["knn_k", "knn_power", "model", "seed", "select_metric"])
        #expect(try TrialConfig.parse(["knn_k": .int(0)]).jsonText() == TrialConfig().jsonText())
    }

    /// In training the neighbours change what the model learns, bit-identically for one seed;
    /// the prior alone with them ranks the valid split as the evaluator's prior path does.
    @Test func theNeighbourPriorTrainsAndScoresAlone() throws {
        let dataset = try Dataset.load(from: SyntheticFixtures.folder(SyntheticFixtures.tiny, seed: 1))
        let plain = try Trainer(config: trialConfig(epochs: 2) { _ in }, dataset: dataset).run().0
        let withNeighbours = try Trainer(config: trialConfig(epochs: 2) { $0.knnK = 10 }, dataset: dataset).run().0
        let again = try Trainer(config: trialConfig(epochs: 2) { $0.knnK = 10 }, dataset: dataset).run().0
        #expect(withNeighbours.history.map(\.lossMain) != plain.history.map(\.lossMain))
        #expect(
            again.history.map(\.lossMain) == withNeighbours.history.map(\.lossMain)
                && again.history.map(\.valid) == withNeighbours.history.map(\.valid))
        var priorOnly = TrialConfig()
        priorOnly.model = .none
        priorOnly.knnK = 10
        let result = try Trainer(config: priorOnly, dataset: dataset).run().0
        let direct = Evaluator(dataset: dataset).evaluate(prior: PriorScorer(config: priorOnly, dataset: dataset)!, split: dataset.valid)
        #expect(result.best?.valid == direct && direct.ndcg10 > Evaluator(dataset: dataset).popularityBaseline(split: dataset.valid).ndcg10)
    }
}
