import Foundation
import TestSupport
import Testing
import Vocabulary

@testable import ML

/// Synthetic datasets generated once per process for the training tests.
enum SyntheticFixtures {
    /// A generated dataset folder for (options, seed), cached for the process.
    static func folder(_ options: SyntheticDataset.Options, seed: UInt64) throws -> URL {
        var options = options
        options.seed = seed
        let folder = TestFolders.root.appendingPathComponent("synthetic-\(options.items)-\(options.train)-\(options.dimension)-\(seed)")
        if !FileManager.default.fileExists(atPath: folder.appendingPathComponent("tags.npy").path) {
            try SyntheticDataset(options: options).write(to: folder)
        }
        return folder
    }

    static let tiny = SyntheticDataset.Options(items: 200, train: 300, valid: 100, test: 100, dimension: 16, tags: 50, tastes: 8, seed: 0)
}

/// The default trial config with `epochs`, then `changes`.
func trialConfig(epochs: Int, _ changes: (inout TrialConfig) -> Void) -> TrialConfig {
    var config = TrialConfig()
    config.epochs = epochs
    changes(&config)
    return config
}

@Suite struct TrainerTests {
    func config(_ changes: (inout TrialConfig) -> Void) -> TrialConfig { trialConfig(epochs: 3, changes) }

    @Test func sameConfigSeedAndThreadsGiveIdenticalResults() throws {
        let dataset = try Dataset.load(from: SyntheticFixtures.folder(SyntheticFixtures.tiny, seed: 1))
        let config = config {
            $0.loss = .focal; $0.seed = 3
        }
        let (first, _) = try Trainer(config: config, dataset: dataset).run()
        let (second, _) = try Trainer(config: config, dataset: dataset).run()
        #expect(first.history.count == 3)
        for (a, b) in zip(first.history, second.history) {
            #expect(a.lossMain == b.lossMain && a.valid == b.valid && a.test == b.test)
        }
        var other = config
        other.seed = 4
        let (third, _) = try Trainer(config: other, dataset: dataset).run()
        #expect(third.history[0].lossMain != first.history[0].lossMain)
    }

    /// Blocks of the output layer are combined in block order, so the thread count changes nothing.
    @Test func oneAndTwoThreadsGiveIdenticalResults() throws {
        let dataset = try Dataset.load(from: SyntheticFixtures.folder(.small, seed: 0))
        let config = config {
            $0.epochs = 2; $0.loss = .classBalanced
        }
        let (one, _) = try Trainer(config: config, dataset: dataset, threads: 1).run()
        let (two, _) = try Trainer(config: config, dataset: dataset, threads: 2).run()
        #expect(one.history.map(\.lossMain) == two.history.map(\.lossMain))
        #expect(one.history.map(\.valid) == two.history.map(\.valid))
        #expect(one.history.map(\.test) == two.history.map(\.test))
        #expect(two.timing.threads == 2)
    }

    @Test func bestEpochIsTheFirstWithTheHighestValidMetric() throws {
        let dataset = try Dataset.load(from: SyntheticFixtures.folder(SyntheticFixtures.tiny, seed: 1))
        let (result, _) = try Trainer(
            config: config {
                $0.epochs = 6; $0.selectMetric = "recall@10"
            }, dataset: dataset
        ).run()
        let best = try #require(result.best)
        let values = result.history.map(\.valid.recall10)
        #expect(best.valid.recall10 == values.max())
        #expect(values.firstIndex(of: values.max()!)! + 1 == best.epoch)
        #expect(result.status == .completed)
        #expect(result.timing.examplesPerSecond > 0 && result.timing.threads == 1)
        #expect(result.history.allSatisfy { $0.weights == .singleTask && $0.lossAux == nil })
    }

    @Test func aNonFiniteLossEndsTheTrialAsDiverged() throws {
        let dataset = try Dataset.load(from: SyntheticFixtures.folder(SyntheticFixtures.tiny, seed: 1))
        let (result, _) = try Trainer(
            config: config {
                $0.lr = 1e30; $0.epochs = 20
            }, dataset: dataset
        ).run()
        #expect(result.status == .diverged)
        #expect(result.history.count < 20)
        #expect(result.divergence?.contains("main loss became") == true)
    }

    @Test func theCallbackSeesProgressAndCanStop() throws {
        let dataset = try Dataset.load(from: SyntheticFixtures.folder(SyntheticFixtures.tiny, seed: 1))
        var steps: [Int] = []
        var epochs = 0
        let trainer = try Trainer(
            config: config {
                $0.epochs = 5; $0.batchSize = 30
            }, dataset: dataset)
        let (result, _) = trainer.run { event in
            switch event {
            case .step(_, let step): steps.append(step)
            case .epoch: epochs += 1
            }
            return epochs < 2
        }
        #expect(result.status == .stopped)
        #expect(result.history.count == 2)
        #expect(steps == Array(1...20))  // every step: 10 an epoch, 2 epochs
    }

    @Test func multitaskWithoutTagsIsAConfigError() throws {
        let fixture = try Fixture()
        try fixture.remove("tags.jsonl")
        try fixture.remove("tags.npy")
        let dataset = try Dataset.load(from: fixture.folder)
        #expect(throws: ConfigError.self) { try Trainer(config: config { $0.multitask = true }, dataset: dataset) }
        do {
            _ = try Trainer(config: config { $0.multitask = true }, dataset: dataset)
        } catch let error as ConfigError {
            #expect(error.key == "multitask" && error.description.contains("no tag pairs"))
        }
        _ = try Trainer(config: config { $0.rnn = true }, dataset: dataset)
    }

    @Test func popularityBaselineRanksByTrainCounts() throws {
        let fixture = try Fixture()
        let dataset = try Dataset.load(from: fixture.folder)
        // Counts [0, 1, 1, 1]: ranking 1, 2, 3, 0. Example a (mentions 0, wants 1 and 2): both in the top 2.
        // Example b (wants 3): rank 3.
        let metrics = Evaluator(dataset: dataset).popularityBaseline(split: dataset.valid)
        #expect(abs(metrics.ndcg10 - (1 + 1 / log2(4.0)) / 2) < 1e-12)
        #expect(abs(metrics.mrr - (1 + 1.0 / 3) / 2) < 1e-12)
    }
}

/// The effects this project exists to search over, on the `small` synthetic preset over 3 seeds.
@Suite struct SyntheticBehaviourTests {
    func run(_ dataset: Dataset, loss: TrialConfig.Loss, lr: Double, epochs: Int) throws -> TrainingResult {
        var config = TrialConfig()
        config.loss = loss
        config.lr = lr
        config.epochs = epochs
        return try Trainer(config: config, dataset: dataset).run().0
    }

    @Test func collapseAtTheOriginalLearningRateAndRescueByWeighting() throws {
        var popularity: [Double] = [], weighted: [Double] = [], plain: [Double] = []
        for seed: UInt64 in [0, 1, 2] {
            let dataset = try Dataset.load(from: SyntheticFixtures.folder(.small, seed: seed))
            popularity.append(Evaluator(dataset: dataset).popularityBaseline(split: dataset.valid).ndcg10)
            // lr 2e-5 (the original diagnosis): neither loss gets clear of the popularity baseline.
            for loss in [TrialConfig.Loss.bce, .weightedBCE] {
                for record in try run(dataset, loss: loss, lr: 2e-5, epochs: 10).history {
                    #expect(record.valid.ndcg10 <= 1.1 * popularity.last!, "\(loss) at lr 2e-5, epoch \(record.epoch), seed \(seed)")
                }
            }
            weighted.append(try run(dataset, loss: .weightedBCE, lr: 1e-3, epochs: 10).best!.valid.ndcg10)
            plain.append(try run(dataset, loss: .bce, lr: 1e-3, epochs: 10).best!.valid.ndcg10)
        }
        // lr 1e-3: on mean nDCG@10, weighted BCE beats the popularity baseline and plain BCE.
        func mean(_ values: [Double]) -> Double { values.reduce(0, +) / Double(values.count) }
        #expect(mean(weighted) > mean(popularity), "weighted \(weighted), popularity \(popularity)")
        #expect(mean(weighted) > mean(plain), "weighted \(weighted), plain \(plain)")
    }
}
