import Foundation
import TestSupport
import Testing
import Vocabulary
import Yams

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
    /// Trial ids are SHA-256 of the canonical config text: moving the config to another module (or
    /// any refactor) must not change one, or every store's results would stop matching their
    /// trials. Pinned per shipped sweep: the count, the first and last id, and a digest of all.
    @Test(arguments: [
        ("quickstart", 12, "a5df69ae7710d7a8", "622429efd839f3d0", "c38381b0c7aed3fd"),
        ("loss-grid", 39, "6039af3c70b02933", "d20bdded511e7d60", "b9fcd1530f11f298"),
        ("random-search", 165, "616c83d346e3797a", "ce99f20cdac5dc91", "28362bac9756230c"),
        ("loss-search-asha", 48, "ba483b3414383321", "f8ed92461205f7a7", "511af956f3ba8cf5"),
        ("seed-diagnosis", 36, "17ec33874bf5a077", "1d08d52ce47b133e", "a85d17939462051b"),
    ])
    func trialIdsOfTheShippedSweepsNeverChange(sweep: String, count: Int, first: String, last: String, digest: String) throws {
        _ = ReDialData.inRepository  // where the ReDial sweeps read their data
        let ids = try SearchSpace(spec: SweepSpec.load(sweepsFolder.appendingPathComponent("\(sweep).yaml"))).plan().map(\.id)
        #expect(ids.count == count && ids.first == first && ids.last == last)
        #expect(String(sha256Hex(Array(ids.joined(separator: ",").utf8)).prefix(16)) == digest)
    }

    @Test func shippedSweepsExpandToTheCountsDerivedByHand() throws {
        _ = ReDialData.inRepository  // where the ReDial sweeps read their data
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
            #expect(throws: Never.self, "\(file)") {
                _ = try SearchSpace(spec: SweepSpec.load(sweepsFolder.appendingPathComponent(file))).plan()
            }
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
        let plain = try SearchSpace(
            spec: spec(
                syntheticHeader + """
                    method: grid
                    parameters:
                      loss: {values: [bce, weighted_bce]}
                      pos_weight_mult: {values: [1, 2]}
                      dropout: {value: 0.2}
                    """)
        ).plan()
        #expect(plain.count == 3)
        #expect(plain.allSatisfy { $0.config.dropout == 0.2 })
        // A condition with a list means "any of".
        let anyOf = try SearchSpace(
            spec: spec(
                syntheticHeader + """
                    method: grid
                    parameters:
                      loss: {values: [bce, focal, class_balanced]}
                      lr: {values: [0.001, 0.01], when: {loss: [focal, class_balanced]}}
                    """)
        ).plan()
        #expect(anyOf.count == 5)
        #expect(anyOf.filter { $0.config.loss == .bce }.map(\.config.lr) == [0.001])
    }

    @Test func variantsOverrideParametersAndFollowTheFixedRule() throws {
        let trials = try SearchSpace(
            spec: spec(
                syntheticHeader + """
                    method: grid
                    fixed: {epochs: 2}
                    variants:
                      - {name: slow, lr: 0.00002}
                      - {name: focal, loss: focal, pos_weight_mult: 3}
                    parameters:
                      loss: {values: [bce, weighted_bce]}
                      lr: {values: [0.001, 0.01]}
                    """)
        ).plan()
        // slow: loss × 2, lr overridden → 2 configs; focal: loss overridden, lr × 2, pos_weight_mult inactive → 2.
        #expect(trials.count == 4)
        #expect(trials.filter { $0.variant == "slow" }.allSatisfy { $0.config.lr == 0.00002 })
        #expect(
            trials.filter { $0.variant == "focal" }.allSatisfy {
                $0.config.loss == .focal && $0.config.activeDictionary["pos_weight_mult"] == nil
            })
    }

    @Test func randomSearchIsDeterministicAndKeepsEarlierDraws() throws {
        func plan(count: Int, seed: Int = 3) throws -> [PlannedTrial] {
            try SearchSpace(
                spec: spec(
                    syntheticHeader + """
                        method: random
                        count: \(count)
                        seed: \(seed)
                        parameters:
                          loss: {values: [weighted_bce, focal]}
                          pos_weight_mult: {distribution: log_uniform, min: 0.25, max: 4, when: {loss: weighted_bce}}
                          focal_gamma: {distribution: uniform, min: 0, max: 5, when: {loss: focal}}
                          batch_size: {distribution: int_uniform, min: 16, max: 64}
                          dropout: {distribution: q_uniform, min: 0, max: 0.5, q: 0.05}
                        """)
            ).plan()
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
        #expect(
            many.allSatisfy {
                ($0.config.dropout / 0.05).rounded() * 0.05 == $0.config.dropout
                    || abs(($0.config.dropout / 0.05).rounded() * 0.05 - $0.config.dropout) < 1e-12
            })
        #expect(Set(many.map(\.config.dropout)).count <= 11)
    }

    @Test func everyValidationErrorIsReportedTogetherWithItsLine() {
        let found = issues(
            """
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
        #expect(
            found.first { $0.path == "fixed.learning_rate" }?.message.contains("did you mean 'gradnorm_lr'?") == true
                || found.first { $0.path == "fixed.learning_rate" }?.message.contains("not a parameter of ml.md") == true)
        #expect(
            found.first { $0.path == "parameters.lr.distribution" }?.message
                == "a grid needs a list of values; log_uniform is for random search and TPE")
        #expect(found.first { $0.path == "parameters.lr.min" }?.message == "a log range needs min > 0, got 0.0")
        #expect(found.first { $0.path == "parameters.alpha.min" }?.message == "must be less than max (2.0 ≥ 1.0)")
        // Value errors surface once the file is otherwise valid, at the parameter's line.
        let values = issues(syntheticHeader + "method: grid\nparameters:\n  loss: {values: [bce, hinge]}\n")
        #expect(
            values == [
                SweepIssue(
                    path: "parameters.loss", line: 5,
                    message: "a value must be one of bce, weighted_bce, focal, class_balanced, ldam, got hinge")
            ])
    }

    /// Bad early stopping is refused at `plan`, with the key path and line.
    @Test func earlyStoppingIsValidatedWithItsLine() throws {
        let base = syntheticHeader + "method: grid\nfixed: {epochs: 6}\nparameters:\n  lr: {values: [0.001, 0.01]}\n"
        func found(_ earlyStopping: String) -> [SweepIssue] { issues(base + "early_stopping: " + earlyStopping + "\n") }
        #expect(found("{type: asha, min_epochs: 2, reduction_factor: 3}").isEmpty)
        #expect(
            found("{type: successive_halving}") == [
                SweepIssue(path: "early_stopping.type", line: 7, message: "must be one of asha, hyperband, median")
            ])
        #expect(
            found("{min_epochs: 2}") == [
                SweepIssue(path: "early_stopping.type", line: 7, message: "is required: one of asha, hyperband, median")
            ])
        #expect(
            found("{type: asha, reduction_factor: 1}") == [
                SweepIssue(path: "early_stopping.reduction_factor", line: 7, message: "must be ≥ 2, got 1")
            ])
        #expect(
            found("{type: asha, grace: 1}") == [
                SweepIssue(
                    path: "early_stopping.grace", line: 7,
                    message: "unknown key for asha; expected type, metric, min_epochs, reduction_factor")
            ])
        #expect(found("{type: median, min_epochs: 1}").map(\.path) == ["early_stopping.min_epochs"])
        #expect(
            found("{type: hyperband, min_epochs: 6}") == [
                SweepIssue(
                    path: "early_stopping.min_epochs", line: 7,
                    message: "must be less than every trial's epochs (6 ≥ 6): no trial would reach a rung")
            ])
        #expect(found("{type: median, warmup_epochs: 5}").map(\.path) == ["early_stopping.warmup_epochs"])
        #expect(found("{type: asha, metric: test_ndcg@10}").first?.message.contains("never on test") == true)
        #expect(
            found("{type: asha, metric: train_loss}").first?.message
                == "train_loss is not a metric the trainer reports; expected one of valid_ndcg@10, valid_recall@10, valid_recall@50, valid_mrr, valid_coverage@10, valid_pop_overlap@10"
        )
        let minimized = try spec(base + "early_stopping: {type: asha, metric: {name: valid_pop_overlap@10, goal: minimize}}\n")
        #expect(minimized.earlyStopping?.objectives == [Objective(metric: "pop_overlap@10", goal: .minimize)])
        #expect(found("{type: asha, metric: valid_pop_overlap@10}").first?.message.contains("better lower") == true)
        // On its own line in block style, errors point at the key's own line.
        #expect(issues(base + "early_stopping:\n  type: asha\n  min_epochs: 9\n").map(\.line) == [9])
        let parsed = try spec(base + "early_stopping: {type: median, metric: valid_mrr}\n")
        #expect(parsed.earlyStopping == EarlyStopping(rule: .median(warmupEpochs: 1, minTrials: 5), objectives: [Objective(metric: "mrr")]))
        #expect(
            try spec(base + "early_stopping: {type: asha}\n").earlyStopping
                == EarlyStopping(rule: .asha(minEpochs: 1, reductionFactor: 3), objectives: [Objective(metric: "ndcg@10")]))
    }

    /// `metric: {name, goal}`, `objectives:` and `constraints:`, and every way to get them wrong,
    /// each refused with its key path and line.
    @Test func objectivesAndConstraintsAreParsedAndCheckedWithTheirLines() throws {
        let base = syntheticHeader + "method: grid\nparameters:\n  lr: {values: [0.001, 0.01]}\n"
        let minimized = try spec(base + "metric: {name: valid_pop_overlap@10, goal: minimize}\n")
        #expect(minimized.ranking == Ranking(objectives: [Objective(metric: "pop_overlap@10", goal: .minimize)]))
        let config = try SearchSpace(spec: minimized).plan()[0].config
        #expect(config.selection == Objective(metric: "pop_overlap@10", goal: .minimize))
        #expect(config.jsonText().contains("\"select_goal\":\"minimize\""))
        // Maximize, the default, leaves the canonical config (and so the trial id) as it was.
        #expect(!(try SearchSpace(spec: spec(base)).plan()[0].config.jsonText().contains("select_goal")))
        let several = try spec(
            base + """
                objectives:
                  - {name: valid_ndcg@10, goal: maximize, reference: 0}
                  - {name: valid_coverage@10, reference: 0.01}
                constraints:
                  - {metric: valid_pop_overlap@10, max: 0.5}
                """)
        #expect(several.ranking.objectives == [Objective(metric: "ndcg@10"), Objective(metric: "coverage@10")])
        #expect(several.ranking.reference == [0, 0.01])
        #expect(several.ranking.constraints == [OutcomeConstraint(metric: "pop_overlap@10", max: 0.5)])
        func found(_ text: String) -> [String] {
            issues(base + text).map { "\($0.line.map(String.init) ?? "-") \($0.path): \($0.message)" }
        }
        #expect(
            found("metric: {name: valid_ndcg@20}\n") == [
                "6 metric.name: valid_ndcg@20 is not a metric the trainer reports; expected one of valid_ndcg@10, valid_recall@10, valid_recall@50, valid_mrr, valid_coverage@10, valid_pop_overlap@10"
            ])
        #expect(found("metric: {name: valid_mrr, goal: lowest}\n") == ["6 metric.goal: must be maximize or minimize"])
        #expect(found("metric: {name: test_mrr}\n") == ["6 metric.name: test_mrr: sweeps rank, constrain and stop on valid, never on test"])
        #expect(
            found("objectives:\n  - {name: valid_mrr}\n  - {name: valid_mrr, goal: minimize}\n") == [
                "8 objectives[1]: valid_mrr is already an objective: each metric once"
            ])
        #expect(
            found("objectives:\n  - {name: valid_mrr}\n") == [
                "7 objectives: must be a list of 2 to 4 objectives ({name: valid_…, goal: maximize | minimize}); one is metric:"
            ])
        #expect(
            found("metric: {name: valid_mrr}\nobjectives:\n  - {name: valid_mrr}\n  - {name: valid_ndcg@10}\n") == [
                "8 objectives: cannot stand beside metric (line 6): metric is one objective, objectives 2 to 4"
            ])
        #expect(
            found(
                "constraints:\n  - {metric: valid_coverage@10, min: 0.5, max: 0.1}\n  - {metric: test_mrr, min: 0}\n  - {metric: valid_mrr}\n"
            )
                == [
                    "7 constraints[0]: min 0.5 is above max 0.1: no value is feasible",
                    "8 constraints[1].metric: test_mrr: sweeps rank, constrain and stop on valid, never on test",
                    "9 constraints[2]: needs min, max or both",
                ])
        #expect(
            found("objectives:\n  - {name: valid_mrr}\n  - {name: valid_ndcg@10}\nearly_stopping: {type: median}\n") == [
                "9 early_stopping.type: median compares one value with the median of others; several objectives have no median: use asha or hyperband"
            ])
        #expect(
            found("objectives:\n  - {name: valid_mrr, reference: 0}\n  - {name: valid_ndcg@10}\n") == [
                "7 objectives: reference is given for some objectives but not all: the hypervolume needs one point"
            ])
        let moasha = try spec(
            base
                + "fixed: {epochs: 6}\nobjectives:\n  - {name: valid_mrr}\n  - {name: valid_pop_overlap@10, goal: minimize}\nearly_stopping: {type: asha}\n"
        )
        #expect(moasha.earlyStopping?.objectives == moasha.ranking.objectives)
    }

    @Test func structuralRules() {
        #expect(issues(syntheticHeader + "method: random\nparameters:\n  lr: {values: [0.1]}\n").contains { $0.path == "count" })
        #expect(issues(syntheticHeader + "method: grid\ncount: 3\n").contains { $0.path == "count" })
        // A fixed key active nowhere.
        #expect(
            issues(syntheticHeader + "method: grid\nfixed: {alpha: 0.1}\nparameters:\n  lr: {values: [0.1]}\n")
                == [
                    SweepIssue(
                        path: "fixed.alpha", line: 4,
                        message: "is not used by any trial (only used with multitask: true and balancer: fixed)")
                ])
        #expect(
            issues(
                syntheticHeader + """
                    method: grid
                    parameters:
                      lr: {values: [0.1], when: {dropout: 0.1}}
                      dropout: {values: [0.1], when: {lr: 0.1}}
                    """
            ).contains { $0.message.hasPrefix("conditions form a cycle") })
        #expect(
            issues(syntheticHeader + "method: grid\nparameters:\n  lr: {values: [0.1]}\nfixed: {lr: 0.2}\n").contains {
                $0.message.contains("also in `fixed`")
            })
        #expect(issues("name: t\ndataset: {synthetic: {preset: huge}}\nmethod: grid\n").contains { $0.path == "dataset.synthetic.preset" })
        #expect(issues("").first?.message == "the file is empty")
        #expect(issues(": : :").first?.message.hasPrefix("not valid YAML") == true)
    }
}

/// Sweep files a careless or hostile user writes: refused at `plan` with the key path and line,
/// before anything is stored or expanded.
@Suite struct SweepFileLimitTests {
    let programHeader = "metric: {name: valid_accuracy, goal: maximize}\nmethod: grid\n"

    /// `.inf`, `.nan` and overflowing ranges were stored as `{"y":inf}`, a text no reader could
    /// parse again, which then failed every command on the store.
    @Test func nonFiniteNumbersAndOverflowingRangesAreRefused() throws {
        for (body, path, line) in [
            ("fixed: {y: .inf}\nparameters: {x: {values: [1, 2]}}\n", "fixed.y", 6),
            ("parameters: {x: {values: [1, .nan]}}\n", "parameters.x.values[1]", 6),
            ("fixed: {y: -.INF}\nparameters: {x: {values: [1, 2]}}\n", "fixed.y", 6),
        ] {
            let found = issues(programSweep(programHeader + body))
            #expect(
                found.count == 1 && found[0].path == path && found[0].line == line && found[0].message.contains("finite number"), "\(found)"
            )
        }
        let wide = issues(
            programSweep(
                "metric: {name: valid_accuracy, goal: maximize}\nmethod: random\ncount: 3\n"
                    + "parameters:\n  x: {distribution: uniform, min: -1e308, max: 1e308}\n"))
        #expect(
            wide.count == 1 && wide[0].path == "parameters.x" && wide[0].line == 8 && wide[0].message.contains("wider than a double"),
            "\(wide)")
        // The built-in trainer's keys were already checked; a program's own now are, in any config.
        #expect(throws: ConfigError.self) {
            try TrialConfig.parse(["program": .bool(true), "select_metric": .string("accuracy"), "y": .double(.infinity)])
        }
        #expect(try [".nan", ".NaN", ".inf", "-.inf"].allSatisfy { ConfigValue(scalar: try #require(try Yams.compose(yaml: $0))) == nil })
    }

    /// `int_uniform` bounds past 2^53 trapped converting a double to Int, or overflowed.
    @Test func hugeIntegerBoundsAreAnErrorNotACrash() {
        for (bounds, field) in [
            ("min: 0, max: 9223372036854775807", "max"), ("min: 0, max: 1e30", "max"),
            ("min: -9223372036854775807, max: 0", "min"),
        ] {
            let found = issues(
                programSweep(
                    "metric: {name: valid_accuracy, goal: maximize}\nmethod: random\ncount: 3\n"
                        + "parameters:\n  k: {distribution: int_uniform, \(bounds)}\n"))
            #expect(
                found.count == 1 && found[0].path == "parameters.k.\(field)" && found[0].message.contains("2^53"), "\(bounds): \(found)")
        }
        #expect(
            issues(
                programSweep(
                    "metric: {name: valid_accuracy, goal: maximize}\nmethod: random\ncount: 3\n"
                        + "parameters:\n  k: {distribution: int_uniform, min: -9007199254740992, max: 9007199254740992}\n")
            ).isEmpty)
    }

    /// A grid of 15 parameters × 10 values reached 7.95 GB within a minute; a count or repeats of
    /// 10^12 likewise. The plan is counted first and refused past the limit, naming the cause.
    @Test func aPlanLargerThanTheLimitIsRefusedBeforeItIsExpanded() throws {
        let grid = "parameters:\n" + (1...15).map { "  p\($0): {values: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]}\n" }.joined()
        let found = issues(programSweep(programHeader + grid))
        #expect(found.count == 1 && found[0].path == "parameters.p1" && found[0].line == 7, "\(found)")
        #expect(
            found.first?.message.contains("more than 100000 trials (configs × repeats), the limit") == true
                && found.first?.message.contains("--plan-limit") == true)
        let count = issues(
            programSweep(
                "metric: {name: valid_accuracy, goal: maximize}\nmethod: random\ncount: 1000000000000\nparameters: {x: {values: [1, 2]}}\n")
        )
        #expect(count.count == 1 && count[0].path == "count", "\(count)")
        let repeats = issues(programSweep(programHeader + "repeats: 1000000000000\nparameters: {x: {values: [1, 2]}}\n"))
        #expect(repeats.count == 1 && repeats[0].path == "repeats" && repeats[0].message.contains("2000000000000 trials"), "\(repeats)")
        // Overflowing count × repeats is still a count, not a trap.
        let both = issues(
            programSweep(
                "metric: {name: valid_accuracy, goal: maximize}\nmethod: random\ncount: 9000000000000000000\nrepeats: 9000000000000000000\nparameters: {x: {values: [1, 2]}}\n"
            ))
        #expect(both.count == 1 && both[0].message.contains("more than 100000"), "\(both)")
        // The limit is exact, conditions counted: 3 × (1 + 2) = 9 configs × 2 repeats = 18 trials.
        let conditional = programSweep(
            programHeader
                + "repeats: 2\nparameters:\n  a: {values: [1, 2, 3]}\n  b: {values: [x, y]}\n  c: {values: [1, 2], when: {b: y}}\n")
        let url = URL(fileURLWithPath: "/tmp/sweep-tests/test.yaml")
        #expect(try SearchSpace(spec: SweepSpec.parse(conditional, file: url, maxTrials: 18)).plan().count == 18)
        #expect(throws: SweepFileError.self) { try SweepSpec.parse(conditional, file: url, maxTrials: 17) }
        // Those who mean it raise the limit.
        let big = programSweep(
            programHeader
                + "parameters:\n  a: {values: [\((1...400).map(String.init).joined(separator: ", "))]}\n  b: {values: [\((1...300).map(String.init).joined(separator: ", "))]}\n"
        )
        #expect(throws: SweepFileError.self) { try SweepSpec.parse(big, file: url) }
        #expect(try SweepSpec.parse(big, file: url, maxTrials: 120_000).parameters.count == 2)
    }
}

/// A searched key that no trial uses once the rules of ml.md apply collapsed the grid without a
/// word (only `fixed` keys were checked): now it is an error naming the key and the rule.
@Suite struct UnusedSearchedKeyTests {
    @Test func aSearchedKeyInactiveInEveryTrialIsNamedWithTheRule() {
        let found = issues(
            syntheticHeader + """
                metric: {name: valid_ndcg@10, goal: maximize}
                method: grid
                fixed: {loss: bce}
                parameters:
                  pos_weight_mult: {values: [1, 2, 4]}
                  lr: {values: [0.001, 0.01]}

                """)
        #expect(found.count == 1 && found[0].path == "parameters.pos_weight_mult" && found[0].line == 7, "\(found)")
        #expect(found.first?.message.contains("only used with loss: weighted_bce") == true, "\(found)")
        let never = issues(
            syntheticHeader + """
                metric: {name: valid_ndcg@10, goal: maximize}
                method: grid
                parameters:
                  loss: {values: [bce, focal]}
                  focal_gamma: {values: [1, 2], when: {loss: weighted_bce}}

                """)
        #expect(
            never.count == 1 && never[0].path == "parameters.focal_gamma" && never[0].message.contains("`when` never holds"), "\(never)")
    }
}
