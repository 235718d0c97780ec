import ArgumentParser
import Foundation
import ML
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
                let document: [String: Any] = [
                    "path": url.standardizedFileURL.path,
                    "fingerprint": fingerprint.fingerprint,
                    "items": dataset.itemCount,
                    "dimension": dataset.dimension,
                    "examples": ["train": dataset.train.count, "valid": dataset.valid.count, "test": dataset.test.count],
                    "tags": dataset.tags?.count ?? 0,
                    "average_targets": dataset.averageTargets,
                    "imbalance": dataset.imbalance,
                    "pos_weight": dataset.imbalance,
                    "popularity": ["valid": popularValid.dictionary, "test": popularTest.dictionary],
                    "cooccurrence_prior": [
                        "cooc": priorConfig.cooc.rawValue, "cooc_weight": priorConfig.coocWeight,
                        "cooc_popularity": priorConfig.coocPopularity,
                        "valid": priorValid.dictionary, "test": priorTest.dictionary,
                    ],
                    "neighbour_prior": [
                        "cooc": neighbourConfig.cooc.rawValue, "cooc_weight": neighbourConfig.coocWeight,
                        "cooc_popularity": neighbourConfig.coocPopularity, "knn_k": neighbourConfig.knnK,
                        "knn_weight": neighbourConfig.knnWeight, "knn_power": neighbourConfig.knnPower,
                        "valid": neighbourValid.dictionary, "test": neighbourTest.dictionary,
                    ],
                ]
                let data = try JSONSerialization.data(
                    withJSONObject: document, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
                print(String(decoding: data, as: UTF8.self))
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
