import Foundation
import ML
import Testing
@testable import SweepCore

/// The repository's sweeps/ folder.
let sweepsFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../sweeps").standardizedFileURL

/// Parses sweep text as if it were a file in a temporary folder that holds a tiny dataset.
func spec(_ text: String) throws -> SweepSpec {
    try SweepSpec.parse(text, file: URL(fileURLWithPath: "/tmp/sweep-tests/test.yaml"))
}

func issues(_ text: String) -> [SweepIssue] {
    do {
        _ = try spec(text)
        return []
    } catch let error as SweepFileError {
        return error.issues
    } catch {
        return [SweepIssue(path: "?", line: nil, message: "\(error)")]
    }
}

let syntheticHeader = "name: t\ndataset: {synthetic: {preset: small, seed: 1}}\n"

@Suite struct SweepSpecTests {
    @Test func shippedSweepsExpandToTheCountsDerivedByHand() throws {
        // loss-grid: bce 1 + weighted_bce 5 + focal 4 + class_balanced 3 = 13 configs, × 3 seeds.
        let grid = try SweepSpec.load(sweepsFolder.appendingPathComponent("loss-grid.yaml"))
        let trials = try SearchSpace(spec: grid).plan()
        #expect(trials.count == 39)
        #expect(trials.map(\.number) == Array(1...39))
        #expect(Set(trials.map(\.id)).count == 39)
        // Seed-major: every config with seed 0 first.
        #expect(trials.prefix(13).allSatisfy { $0.config.seed == 0 } && trials.suffix(13).allSatisfy { $0.config.seed == 2 })
        // Inactive keys are absent, not null.
        let bce = try #require(trials.first { $0.config.loss == .bce })
        #expect(bce.config.activeDictionary["pos_weight_mult"] == nil && bce.config.activeDictionary["focal_gamma"] == nil)
        #expect(try SearchSpace(spec: SweepSpec.load(sweepsFolder.appendingPathComponent("quickstart.yaml"))).plan().count == 12)
        // seed-diagnosis: 3 arms × rnn × multitask = 12 configs × 3 seeds; alpha only where multitask is on.
        let diagnosis = try SearchSpace(spec: SweepSpec.load(sweepsFolder.appendingPathComponent("seed-diagnosis.yaml"))).plan()
        #expect(diagnosis.count == 36)
        #expect(diagnosis.filter { $0.variant == "original" }.allSatisfy { $0.config.loss == .bce && $0.config.lr == 0.00002 })
        #expect(diagnosis.filter { !$0.config.multitask }.allSatisfy { $0.config.activeDictionary["alpha"] == nil })
        #expect(diagnosis.filter { $0.config.multitask && $0.variant == "original" }.allSatisfy { $0.config.alpha == 1 })
        #expect(try SweepSpec.load(sweepsFolder.appendingPathComponent("random-search.yaml")).method == .random)
        // Every shipped sweep file is valid and plans what its comment says.
        for file in try FileManager.default.contentsOfDirectory(atPath: sweepsFolder.path) where file.hasSuffix(".yaml") {
            #expect(throws: Never.self, "\(file)") { _ = try SearchSpace(spec: SweepSpec.load(sweepsFolder.appendingPathComponent(file))).plan() }
        }
        let asha = try SweepSpec.load(sweepsFolder.appendingPathComponent("loss-search-asha.yaml"))
        #expect(try SearchSpace(spec: asha).plan().count == 48 && asha.earlyStopping?.rule == .asha(minEpochs: 2, reductionFactor: 3))
        let best = try SweepSpec.load(sweepsFolder.appendingPathComponent("redial-best.yaml"))
        #expect(best.method == .tpe && best.repeats == 3 && best.tpe?.startupTrials == 10 && best.earlyStopping != nil)
        // "Learned", "prior" and "both": the prior alone is one of the searched models.
        #expect(best.parameters.first { $0.key == "model" }?.domain == .values([.string("ffn"), .string("none")]))
    }

    @Test func valuesThatChangeNothingCollapse() throws {
        // pos_weight_mult without `when`: ml.md leaves it unused with bce, so bce gets one config.
        let plain = try SearchSpace(spec: spec(syntheticHeader + """
            method: grid
            parameters:
              loss: {values: [bce, weighted_bce]}
              pos_weight_mult: {values: [1, 2]}
              dropout: {value: 0.2}
            """)).plan()
        #expect(plain.count == 3)
        #expect(plain.allSatisfy { $0.config.dropout == 0.2 })
        // A condition with a list means "any of".
        let anyOf = try SearchSpace(spec: spec(syntheticHeader + """
            method: grid
            parameters:
              loss: {values: [bce, focal, class_balanced]}
              lr: {values: [0.001, 0.01], when: {loss: [focal, class_balanced]}}
            """)).plan()
        #expect(anyOf.count == 5)
        #expect(anyOf.filter { $0.config.loss == .bce }.map(\.config.lr) == [0.001])
    }

    @Test func variantsOverrideParametersAndFollowTheFixedRule() throws {
        let trials = try SearchSpace(spec: spec(syntheticHeader + """
            method: grid
            fixed: {epochs: 2}
            variants:
              - {name: slow, lr: 0.00002}
              - {name: focal, loss: focal, pos_weight_mult: 3}
            parameters:
              loss: {values: [bce, weighted_bce]}
              lr: {values: [0.001, 0.01]}
            """)).plan()
        // slow: loss × 2, lr overridden → 2 configs; focal: loss overridden, lr × 2, pos_weight_mult inactive → 2.
        #expect(trials.count == 4)
        #expect(trials.filter { $0.variant == "slow" }.allSatisfy { $0.config.lr == 0.00002 })
        #expect(trials.filter { $0.variant == "focal" }.allSatisfy { $0.config.loss == .focal && $0.config.activeDictionary["pos_weight_mult"] == nil })
    }

    @Test func randomSearchIsDeterministicAndKeepsEarlierDraws() throws {
        func plan(count: Int, seed: Int = 3) throws -> [PlannedTrial] {
            try SearchSpace(spec: spec(syntheticHeader + """
                method: random
                count: \(count)
                seed: \(seed)
                parameters:
                  loss: {values: [weighted_bce, focal]}
                  pos_weight_mult: {distribution: log_uniform, min: 0.25, max: 4, when: {loss: weighted_bce}}
                  focal_gamma: {distribution: uniform, min: 0, max: 5, when: {loss: focal}}
                  batch_size: {distribution: int_uniform, min: 16, max: 64}
                  dropout: {distribution: q_uniform, min: 0, max: 0.5, q: 0.05}
                """)).plan()
        }
        let ten = try plan(count: 10), twenty = try plan(count: 20)
        #expect(ten.map(\.id) == (try plan(count: 10)).map(\.id))
        #expect(Array(twenty.prefix(10).map(\.id)) == ten.map(\.id))
        #expect(try plan(count: 10, seed: 4).map(\.id) != ten.map(\.id))
        // Distribution sanity over many draws.
        let many = try plan(count: 2000)
        let weights = many.filter { $0.config.loss == .weightedBCE }.map(\.config.posWeightMult)
        #expect(weights.allSatisfy { $0 >= 0.25 && $0 <= 4 })
        let below1 = Double(weights.filter { $0 < 1 }.count) / Double(weights.count)
        #expect(abs(below1 - 0.5) < 0.05)  // log-uniform on [1/4, 4]: half below 1
        let gammas = many.filter { $0.config.loss == .focal }.map(\.config.focalGamma)
        #expect(gammas.allSatisfy { $0 >= 0 && $0 <= 5 } && abs(gammas.reduce(0, +) / Double(gammas.count) - 2.5) < 0.15)
        #expect(Set(many.map(\.config.batchSize)) == Set(16...64))
        #expect(many.allSatisfy { ($0.config.dropout / 0.05).rounded() * 0.05 == $0.config.dropout || abs(($0.config.dropout / 0.05).rounded() * 0.05 - $0.config.dropout) < 1e-12 })
        #expect(Set(many.map(\.config.dropout)).count <= 11)
    }

    @Test func everyValidationErrorIsReportedTogetherWithItsLine() {
        let found = issues("""
            name: broken
            dataset: /nonexistent/data
            metric: {name: valid_ndcg@20, goal: maximize}
            method: grid
            colour: blue
            fixed: {epochs: 3, learning_rate: 0.1}
            parameters:
              loss: {values: [bce, hinge]}
              lr: {distribution: log_uniform, min: 0, max: 1}
              dropout: {values: []}
              focal_gamma: {values: [1, 2], when: {losss: focal}}
              seed: {values: [1, 2]}
              alpha: {distribution: uniform, min: 2, max: 1}
            """)
        let expected: [(String, Int)] = [
            ("colour", 5), ("dataset", 2), ("metric.name", 3), ("fixed.learning_rate", 6),
            ("parameters.lr.distribution", 9), ("parameters.lr.min", 9), ("parameters.dropout.values", 10),
            ("parameters.seed", 12), ("parameters.alpha.distribution", 13), ("parameters.alpha.min", 13),
            ("parameters.focal_gamma.when.losss", 11),
        ]
        for (path, line) in expected {
            #expect(found.contains { $0.path == path && $0.line == line }, "missing \(path) at line \(line); got \(found)")
        }
        #expect(found.first { $0.path == "fixed.learning_rate" }?.message.contains("did you mean 'gradnorm_lr'?") == true
                || found.first { $0.path == "fixed.learning_rate" }?.message.contains("not a parameter of ml.md") == true)
        #expect(found.first { $0.path == "parameters.lr.distribution" }?.message == "a grid needs a list of values; log_uniform is for random search and TPE")
        #expect(found.first { $0.path == "parameters.lr.min" }?.message == "a log range needs min > 0, got 0.0")
        #expect(found.first { $0.path == "parameters.alpha.min" }?.message == "must be less than max (2.0 ≥ 1.0)")
        // Value errors surface once the file is otherwise valid, at the parameter's line.
        let values = issues(syntheticHeader + "method: grid\nparameters:\n  loss: {values: [bce, hinge]}\n")
        #expect(values == [SweepIssue(path: "parameters.loss", line: 5, message: "a value must be one of bce, weighted_bce, focal, class_balanced, ldam, got hinge")])
    }

    /// Bad early stopping is refused at `plan`, with the key path and line.
    @Test func earlyStoppingIsValidatedWithItsLine() throws {
        let base = syntheticHeader + "method: grid\nfixed: {epochs: 6}\nparameters:\n  lr: {values: [0.001, 0.01]}\n"
        func found(_ earlyStopping: String) -> [SweepIssue] { issues(base + "early_stopping: " + earlyStopping + "\n") }
        #expect(found("{type: asha, min_epochs: 2, reduction_factor: 3}").isEmpty)
        #expect(found("{type: successive_halving}") == [SweepIssue(path: "early_stopping.type", line: 7, message: "must be one of asha, hyperband, median")])
        #expect(found("{min_epochs: 2}") == [SweepIssue(path: "early_stopping.type", line: 7, message: "is required: one of asha, hyperband, median")])
        #expect(found("{type: asha, reduction_factor: 1}") == [SweepIssue(path: "early_stopping.reduction_factor", line: 7, message: "must be ≥ 2, got 1")])
        #expect(found("{type: asha, grace: 1}") == [SweepIssue(path: "early_stopping.grace", line: 7,
                                                                 message: "unknown key for asha; expected type, metric, min_epochs, reduction_factor")])
        #expect(found("{type: median, min_epochs: 1}").map(\.path) == ["early_stopping.min_epochs"])
        #expect(found("{type: hyperband, min_epochs: 6}") == [SweepIssue(path: "early_stopping.min_epochs", line: 7,
                                                                          message: "must be less than every trial's epochs (6 ≥ 6): no trial would reach a rung")])
        #expect(found("{type: median, warmup_epochs: 5}").map(\.path) == ["early_stopping.warmup_epochs"])
        #expect(found("{type: asha, metric: test_ndcg@10}").first?.message.contains("early stopping never judges on test") == true)
        #expect(found("{type: asha, metric: train_loss}").first?.message
            == "train_loss: the trainer does not report it per epoch; per-epoch metrics are valid_ndcg@10, valid_recall@10, valid_recall@50, valid_mrr, valid_coverage@10")
        #expect(found("{type: asha, metric: valid_pop_overlap@10}").first?.message.contains("better lower") == true)
        // On its own line in block style, errors point at the key's own line.
        #expect(issues(base + "early_stopping:\n  type: asha\n  min_epochs: 9\n").map(\.line) == [9])
        let parsed = try spec(base + "early_stopping: {type: median, metric: valid_mrr}\n")
        #expect(parsed.earlyStopping == EarlyStopping(rule: .median(warmupEpochs: 1, minTrials: 5), metric: "mrr"))
        #expect(try spec(base + "early_stopping: {type: asha}\n").earlyStopping == EarlyStopping(rule: .asha(minEpochs: 1, reductionFactor: 3), metric: "ndcg@10"))
    }

    @Test func structuralRules() {
        #expect(issues(syntheticHeader + "method: random\nparameters:\n  lr: {values: [0.1]}\n").contains { $0.path == "count" })
        #expect(issues(syntheticHeader + "method: grid\ncount: 3\n").contains { $0.path == "count" })
        // A fixed key active nowhere.
        #expect(issues(syntheticHeader + "method: grid\nfixed: {alpha: 0.1}\nparameters:\n  lr: {values: [0.1]}\n")
            == [SweepIssue(path: "fixed.alpha", line: 4, message: "is not used by any trial (only used with multitask: true and balancer: fixed)")])
        #expect(issues(syntheticHeader + """
            method: grid
            parameters:
              lr: {values: [0.1], when: {dropout: 0.1}}
              dropout: {values: [0.1], when: {lr: 0.1}}
            """).contains { $0.message.hasPrefix("conditions form a cycle") })
        #expect(issues(syntheticHeader + "method: grid\nparameters:\n  lr: {values: [0.1]}\nfixed: {lr: 0.2}\n").contains { $0.message.contains("also in `fixed`") })
        #expect(issues("name: t\ndataset: {synthetic: {preset: huge}}\nmethod: grid\n").contains { $0.path == "dataset.synthetic.preset" })
        #expect(issues("").first?.message == "the file is empty")
        #expect(issues(": : :").first?.message.hasPrefix("not valid YAML") == true)
    }
}
