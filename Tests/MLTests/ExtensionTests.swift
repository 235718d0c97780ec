import Foundation
import Testing
import Vocabulary

@testable import ML

/// The contract's extensions (docs/ml-extensions.md): the co-occurrence prior, `model: none`,
/// `hidden`, AdamW's `weight_decay`, and the keys' activity rules.
@Suite struct ExtensionTests {
    /// Four items; train: (mentioned [0], targets [1, 2]), ([1], [2]), ([], [3]).
    static func handBuilt() -> Dataset {
        func split(_ name: String, _ mentioned: [[Int32]], _ targets: [[Int32]]) -> Split {
            Split(
                name: name, dimension: 2, embeddings: [Float](repeating: 0.5, count: 2 * targets.count), mentioned: mentioned,
                targets: targets)
        }
        let train = split("train", [[0], [1], []], [[1, 2], [2], [3]])
        let valid = split("valid", [[0, 1], [3]], [[2], [0]])
        return Dataset(itemCount: 4, titles: ["a", "b", "c", "d"], dimension: 2, train: train, valid: valid, test: valid, tags: nil)
    }

    /// dialogue: example 1 links 0, 1, 2 pairwise; example 2 adds 1–2 again. target: 0→1, 0→2, 1→2.
    @Test func theCountsAreThePairsOfTheTrainDialogues() {
        let dataset = Self.handBuilt()
        let dialogue = CooccurrenceTable(train: dataset.train, itemCount: 4, mode: .dialogue)
        func row(_ table: CooccurrenceTable, _ m: Int) -> [Int32: Float] {
            Dictionary(uniqueKeysWithValues: (table.rowStarts[m]..<table.rowStarts[m + 1]).map { (table.columns[$0], table.counts[$0]) })
        }
        #expect(
            row(dialogue, 0) == [1: 1, 2: 1] && row(dialogue, 1) == [0: 1, 2: 2] && row(dialogue, 2) == [0: 1, 1: 2]
                && row(dialogue, 3).isEmpty)
        let target = CooccurrenceTable(train: dataset.train, itemCount: 4, mode: .target)
        #expect(row(target, 0) == [1: 1, 2: 1] && row(target, 1) == [2: 1] && row(target, 2).isEmpty && target.entries == 3)
    }

    /// With mentioned [0, 1], β = 1, γ = 0.5 and n = (0, 1, 2, 1): Σ C[m, j] = (1, 1, 3, 0), so the
    /// scores are log 2, ½ log 2 + log 2, ½ log 3 + log 4, ½ log 2.
    @Test func priorScoresAreWorkedOutByHand() {
        let dataset = Self.handBuilt()
        let prior = PriorScorer(
            itemCount: 4, table: CooccurrenceTable(train: dataset.train, itemCount: 4, mode: .dialogue), weight: 1,
            popularityWeight: 0.5, itemCounts: dataset.trainItemCounts)
        var row = [Float](repeating: -1, count: 4)
        for _ in 0..<2 {  // the accumulator is clean between rows
            row.withUnsafeMutableBufferPointer { prior.rows(for: dataset.valid).scores(example: 0, into: $0.baseAddress!) }
            let expected = [log(2), 0.5 * log(2) + log(2), 0.5 * log(3) + log(4), 0.5 * log(2)]
            for (value, want) in zip(row, expected) { #expect(abs(Double(value) - want) < 1e-6, "\(row)") }
        }
        // model: none ranks by the prior alone: valid example 1 (mentioned 0, 1; target 2) has item 2 on top.
        var config = TrialConfig()
        config.model = .none
        config.cooc = .dialogue
        config.coocPopularity = 0.5
        let (result, model) = try! Trainer(config: config, dataset: dataset).run()
        #expect(model == nil && result.history.count == 1 && result.bestEpoch == 1 && result.steps == 0)
        let evaluated = Evaluator(dataset: dataset).evaluate(prior: prior, split: dataset.valid)
        #expect(result.best?.valid == evaluated)
        #expect(evaluated.ndcg10 > 0 && result.history[0].lossMain == 0)
    }

    @Test func extensionKeysFollowTheActivityRulesAndKeepV1Ids() throws {
        func rejection(_ values: [String: ConfigValue]) -> String? {
            do {
                _ = try TrialConfig.parse(values)
                return nil
            } catch let error as ConfigError {
                return error.key + ": " + error.message
            } catch {
                return "\(error)"
            }
        }
        #expect(rejection(["ldam_scale": .double(10)])?.hasPrefix("ldam_scale: is set but only used with loss: ldam") == true)
        #expect(
            rejection(["cooc_weight": .double(2)])?.hasPrefix("cooc_weight: is set but only used with cooc: dialogue or target") == true)
        #expect(
            rejection(["model": .string("none"), "lr": .double(0.01), "cooc": .string("dialogue")])?.hasPrefix(
                "lr: is set but not used with model: none") == true)
        #expect(rejection(["model": .string("none")])?.hasPrefix("model: none scores with the prior alone") == true)
        #expect(rejection(["hidden": .int(0)]) == "hidden: must be ≥ 1, got 0")
        #expect(rejection(["cooc": .string("dialogue"), "cooc_weight": .double(-1)]) == "cooc_weight: must be ≥ 0, got -1.0")
        // A v1 config's canonical form, and so its trial id, is unchanged; defaults of the new keys stay out.
        let v1 = TrialConfig()
        let explicit = try TrialConfig.parse(["hidden": .int(512), "weight_decay": .int(0), "model": .string("ffn")])
        #expect(explicit.jsonText() == v1.jsonText() && !v1.jsonText().contains("hidden"))
        let wide = try TrialConfig.parse([
            "hidden": .int(1024), "weight_decay": .double(0.01), "loss": .string("ldam"), "ldam_drw_epoch": .int(5),
        ])
        #expect(
            wide.jsonText().contains("\"hidden\":1024") && wide.jsonText().contains("\"ldam_drw_epoch\":5")
                && !wide.jsonText().contains("ldam_scale"))
        let prior = try TrialConfig.parse(["model": .string("none"), "cooc": .string("target")])
        #expect(prior.activeDictionary.keys.sorted() == ["cooc", "model", "seed", "select_metric"] && prior.epochBudget == 1)
    }

    /// PyTorch's AdamW, one step by hand: p ← p·(1 − lr·λ) − lr·m̂/(√v̂ + ε), m̂ = g, v̂ = g² at step 1.
    @Test func weightDecayIsDecoupledAsAdamW() {
        let adam = Adam(learningRate: 0.1, count: 2, weightDecay: 0.1)
        var parameters: [Float] = [1, -2]
        let gradients: [Float] = [0.5, -0.25]
        parameters.withUnsafeMutableBufferPointer { p in adam.update(parameters: p.baseAddress!, gradients: gradients, count: 2) }
        #expect(abs(parameters[0] - (0.99 - 0.1)) < 1e-6 && abs(parameters[1] - (-1.98 + 0.1)) < 1e-6, "\(parameters)")
    }

    /// `hidden` sets the trunk's width and nothing else; the prior in training leaves the loss's
    /// gradient untouched (it is a constant offset) and changes what the model learns.
    @Test func hiddenAndThePriorTrainAsTheySay() throws {
        let dataset = try Dataset.load(from: SyntheticFixtures.folder(SyntheticFixtures.tiny, seed: 1))
        let (narrow, model) = try Trainer(config: trialConfig(epochs: 2) { $0.hidden = 64 }, dataset: dataset).run()
        #expect(model?.hiddenWidth == 64 && model?.parameters.count == 16 * 64 + 64 + 64 * 200 + 200)
        #expect(narrow.status == .completed)
        let plain = try Trainer(config: trialConfig(epochs: 2) { _ in }, dataset: dataset).run().0
        let withPrior = try Trainer(config: trialConfig(epochs: 2) { $0.cooc = .dialogue }, dataset: dataset).run().0
        let priorOnly = try Trainer(
            config: trialConfig(epochs: 2) {
                $0.model = .none; $0.cooc = .dialogue
            }, dataset: dataset
        ).run().0
        #expect(withPrior.history[0].valid != plain.history[0].valid && priorOnly.best!.valid.ndcg10 > 0)
        // Same config and seed: bit-identical with the prior too.
        let again = try Trainer(config: trialConfig(epochs: 2) { $0.cooc = .dialogue }, dataset: dataset).run().0
        #expect(
            again.history.map(\.lossMain) == withPrior.history.map(\.lossMain)
                && again.history.map(\.valid) == withPrior.history.map(\.valid))
    }
}
