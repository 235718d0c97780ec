import ArgumentParser
import Foundation
import ML
import SweepCore
import Vocabulary

struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data",
        abstract: "Make and inspect datasets.",
        subcommands: [Synth.self, Check.self]
    )

    struct Synth: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a synthetic dataset with planted structure, byte-identical per seed on any machine.")

        @Option(help: "Folder to write (created if missing).") var out: String
        @Option(help: "redial (ReDial-shaped, 6,924 items, D = 384) or small (tests and quickstart).") var preset = "redial"
        @Option(help: "Number of items N.") var items: Int?
        @Option(help: "Train examples.") var train: Int?
        @Option(help: "Valid examples.") var valid: Int?
        @Option(help: "Test examples.") var test: Int?
        @Option(help: "Embedding width D.") var dim: Int?
        @Option(help: "Tag pairs for the auxiliary task.") var tags: Int?
        @Option(help: "Random seed.") var seed: UInt64 = 0

        func run() throws {
            guard var options = SyntheticDataset.Options.preset(preset) else {
                throw ValidationError("--preset must be redial or small, got \(preset)")
            }
            options.items = items ?? options.items
            options.train = train ?? options.train
            options.valid = valid ?? options.valid
            options.test = test ?? options.test
            options.dimension = dim ?? options.dimension
            options.tags = tags ?? options.tags
            options.seed = seed
            for (name, value, minimum) in [
                ("--items", options.items, options.tastes), ("--train", options.train, 1),
                ("--valid", options.valid, 1), ("--test", options.test, 1),
                ("--dim", options.dimension, 2), ("--tags", options.tags, 1),
            ] where value < minimum {
                throw ValidationError("\(name) must be at least \(minimum), got \(value)")
            }
            let folder = URL(fileURLWithPath: out)
            try SyntheticDataset(options: options).write(to: folder)
            let fingerprint = try DatasetFingerprint.compute(folder: folder)
            print(
                "wrote \(folder.path): \(options.items) items, \(options.train)/\(options.valid)/\(options.test) examples, D = \(options.dimension), \(options.tags) tags"
            )
            print("fingerprint \(fingerprint.fingerprint)")
        }
    }

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Validate a dataset folder and print its statistics, the popularity baseline and the prior alone (co-occurrence, then with the nearest dialogues)."
        )

        @Argument(help: "The dataset folder.") var folder: String
        @Flag(help: "Print one JSON document to stdout.") var json = false

        func run() throws {
            let url = URL(fileURLWithPath: folder)
            let dataset = try Dataset.load(from: url)
            let fingerprint = try DatasetFingerprint.compute(folder: url)
            let evaluator = Evaluator(dataset: dataset)
            let popularValid = evaluator.popularityBaseline(split: dataset.valid)
            let popularTest = evaluator.popularityBaseline(split: dataset.test)
            // The co-occurrence prior alone, at its defaults (cooc: dialogue, β 1, γ 0.1).
            var priorConfig = TrialConfig()
            priorConfig.cooc = .dialogue
            let prior = PriorScorer(config: priorConfig, dataset: dataset)!
            let priorValid = evaluator.evaluate(prior: prior, split: dataset.valid),
                priorTest = evaluator.evaluate(prior: prior, split: dataset.test)
            // ... and with the 20 nearest train dialogues added (knn_k 20, δ 1, p 1).
            var neighbourConfig = priorConfig
            neighbourConfig.knnK = 20
            let withNeighbours = PriorScorer(config: neighbourConfig, dataset: dataset)!
            let neighbourValid = evaluator.evaluate(prior: withNeighbours, split: dataset.valid)
            let neighbourTest = evaluator.evaluate(prior: withNeighbours, split: dataset.test)
            if json {
                let document = DataCheckDocument(
                    path: url.standardizedFileURL.path, fingerprint: fingerprint.fingerprint, items: dataset.itemCount,
                    dimension: dataset.dimension,
                    examples: ["train": dataset.train.count, "valid": dataset.valid.count, "test": dataset.test.count],
                    tags: dataset.tags?.count ?? 0, averageTargets: dataset.averageTargets, imbalance: dataset.imbalance,
                    posWeight: dataset.imbalance, popularity: ["valid": popularValid.dictionary, "test": popularTest.dictionary],
                    cooccurrencePrior: .init(priorConfig, valid: priorValid, test: priorTest, neighbours: false),
                    neighbourPrior: .init(neighbourConfig, valid: neighbourValid, test: neighbourTest, neighbours: true))
                print(try Documents.text(document))
                return
            }
            print("dataset      \(url.standardizedFileURL.path)")
            print("fingerprint  \(fingerprint.fingerprint)")
            print("items        \(dataset.itemCount)   D = \(dataset.dimension)   tags \(dataset.tags?.count ?? 0)")
            print("examples     train \(dataset.train.count)   valid \(dataset.valid.count)   test \(dataset.test.count)")
            print("targets      \(decimal(dataset.averageTargets, digits: 2)) per train example")
            print(
                "imbalance    N / avg_targets = \(decimal(dataset.imbalance, digits: 1)) → pos_weight \(decimal(dataset.imbalance, digits: 1)) at pos_weight_mult 1"
            )
            print("popularity   valid nDCG@10 \(decimal(popularValid.ndcg10))   test nDCG@10 \(decimal(popularTest.ndcg10))")
            print(
                "prior        valid nDCG@10 \(decimal(priorValid.ndcg10))   test nDCG@10 \(decimal(priorTest.ndcg10))"
                    + "   (co-occurrence prior alone: model: none, cooc: dialogue, cooc_weight 1, cooc_popularity 0.1)")
            print(
                "+ neighbours valid nDCG@10 \(decimal(neighbourValid.ndcg10))   test nDCG@10 \(decimal(neighbourTest.ndcg10))"
                    + "   (that prior with the 20 nearest train dialogues: knn_k 20, knn_weight 1, knn_power 1)")
        }
    }
}

/// `sweep data check --json` (contract in docs/cli.md): the dataset's shape and the baselines a
/// trained model is measured against.
struct DataCheckDocument: Encodable {
    /// A prior's settings and its metrics on valid and test.
    struct Prior: Encodable {
        var cooc: String
        var coocWeight: Double
        var coocPopularity: Double
        var knnK: Int?
        var knnWeight: Double?
        var knnPower: Double?
        var valid: [String: Double]
        var test: [String: Double]

        init(_ config: TrialConfig, valid: RankingMetrics, test: RankingMetrics, neighbours: Bool) {
            (cooc, coocWeight, coocPopularity) = (config.cooc.rawValue, config.coocWeight, config.coocPopularity)
            if neighbours { (knnK, knnWeight, knnPower) = (config.knnK, config.knnWeight, config.knnPower) }
            (self.valid, self.test) = (valid.dictionary, test.dictionary)
        }

        enum CodingKeys: String, CodingKey {
            case cooc, coocWeight = "cooc_weight", coocPopularity = "cooc_popularity", knnK = "knn_k", knnWeight = "knn_weight"
            case knnPower = "knn_power", valid, test
        }
    }

    var path: String
    var fingerprint: String
    var items: Int
    var dimension: Int
    var examples: [String: Int]
    var tags: Int
    var averageTargets: Double
    var imbalance: Double
    var posWeight: Double
    var popularity: [String: [String: Double]]
    var cooccurrencePrior: Prior
    var neighbourPrior: Prior

    enum CodingKeys: String, CodingKey {
        case path, fingerprint, items, dimension, examples, tags, averageTargets = "average_targets", imbalance
        case posWeight = "pos_weight", popularity, cooccurrencePrior = "cooccurrence_prior", neighbourPrior = "neighbour_prior"
    }
}
