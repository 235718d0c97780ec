import Foundation
import Testing
import Vocabulary

@testable import SweepCore

/// A program sweep whose program folder is Tests/Programs/fit.
func programSweep(_ body: String, dataset: String = "none", command: String = "[python3, fit.py]") -> String {
    let fit = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../Programs/fit").standardizedFileURL.path
    return "name: p\nprogram: {dir: \(fit), command: \(command)}\ndataset: \(dataset)\n" + body
}

@Suite struct ProgramSpecTests {
    @Test func programKeysAreFreeAndTravelAsTheProgramsConfig() throws {
        let parsed = try spec(
            programSweep(
                """
                metric: {name: valid_f1-macro, goal: maximize}
                method: grid
                repeats: 2
                fixed: {epochs: 3, model_name: bert-base}
                parameters:
                  learning-rate: {values: [0.1, 0.01]}
                  warmup: {values: [true, false]}
                  dropout.p: {values: [0.1], when: {warmup: true}}
                """))
        #expect(
            parsed.program?.command.command == ["python3", "fit.py"] && parsed.dataset == .noData
                && parsed.ranking.primary.metric == "f1-macro")
        let trials = try SearchSpace(spec: parsed).plan()
        #expect(trials.count == 8)
        let config = trials[0].config
        #expect(config.isProgram && config.selectMetric == "f1-macro" && config.epochBudget == 3)
        #expect(config.programKeys?["model_name"] == .string("bert-base") && config.programKeys?["learning-rate"] != nil)
        // A condition that does not hold leaves its key out.
        #expect(
            trials.filter { $0.config.programKeys?["warmup"] == .bool(false) }.allSatisfy { $0.config.programKeys?["dropout.p"] == nil })
        // The stored canonical form reads back as the same program config, seed included.
        let again = try TrialConfig.parse(json: trials[5].config.jsonText())
        #expect(
            again == trials[5].config && again.seed == trials[5].config.seed && trials[5].config.jsonText().contains("\"program\":true"))
        #expect(Set(trials.map(\.id)).count == 8)
    }

    /// `function:` makes the keys the user's own, as `program:` does, with or without a program;
    /// its trials carry the program marker and a trial file keeps the function's name.
    @Test func functionSweepsUseTheirOwnKeysAndNameTheFunction() throws {
        let functionOnly = try spec(
            """
            name: f
            function: models.train
            dataset: none
            metric: {name: valid_score, goal: minimize}
            method: grid
            fixed: {epochs: 2}
            parameters:
              learning-rate: {values: [0.1, 0.01]}
            """)
        #expect(functionOnly.function == "models.train" && functionOnly.functionOnly && functionOnly.runsOwnCode)
        let trials = try SearchSpace(spec: functionOnly).plan()
        #expect(trials.count == 2 && trials.allSatisfy { $0.config.isProgram && $0.config.selection.goal == .minimize })
        let both = try spec(programSweep("function: train\nmetric: {name: valid_accuracy, goal: maximize}\nmethod: grid\n"))
        #expect(both.function == "train" && !both.functionOnly && both.program != nil)
        let builtIn = try spec(syntheticHeader + "method: grid\nfixed: {epochs: 2}\n")
        #expect(builtIn.function == nil && !builtIn.runsOwnCode)

        for bad in ["1train", "train()", "models..train", "[train]"] {
            let found = issues("name: f\nfunction: \(bad)\ndataset: none\nmetric: {name: valid_s, goal: maximize}\nmethod: grid\n")
            #expect(
                found.contains { $0.path == "function" && $0.line == 2 && $0.message.contains("a Python name such as train") },
                "\(bad): \(found)")
        }
        let noMetric = issues("name: f\nfunction: train\ndataset: none\n")
        #expect(noMetric.contains { $0.path == "metric" && $0.message.contains("program or function sweep") }, "\(noMetric)")

        let file = TrialFile(config: trials[0].config, dataset: .noData, fingerprint: "", threads: 1)
        var named = file
        named.function = "models.train"
        let reread = try TrialFile.parse(try ConfigDocument(text: named.yamlText()), baseDirectory: URL(fileURLWithPath: "/tmp"))
        #expect(reread == named && reread.config.isProgram)
        #expect(throws: ConfigError.self) {
            try TrialFile.parse(try ConfigDocument(text: file.yamlText()), baseDirectory: URL(fileURLWithPath: "/tmp"))
        }
    }

    @Test func programSweepMistakesAreNamed() {
        let found = issues(
            programSweep(
                """
                method: grid
                parameters:
                  seed: {values: [1, 2]}
                  program: {values: [1]}
                  "bad key": {values: [1]}
                """, dataset: "none", command: "[python3, fit.py, --data, \"{data}\"]"))
        let messages = found.map(\.description)
        #expect(messages.contains { $0.contains("metric") && $0.contains("required for a program or function sweep") }, "\(messages)")
        #expect(messages.contains { $0.contains("parameters.seed") && $0.contains("repeats") })
        #expect(messages.contains { $0.contains("parameters.program") && $0.contains("reserved") })
        #expect(messages.contains { $0.contains("bad key") && $0.contains("letters, digits") })
        #expect(messages.contains { $0.contains("{data}") && $0.contains("dataset: none") })
        // Early stopping needs the epoch budget the program honours.
        let noEpochs = issues(
            programSweep(
                """
                metric: {name: valid_accuracy, goal: maximize}
                method: grid
                parameters: {lr: {values: [0.1, 0.2]}}
                early_stopping: {type: asha, min_epochs: 1}
                """)
        ).map(\.description)
        #expect(noEpochs.contains { $0.contains("integer `epochs` key") }, "\(noEpochs)")
        // `dataset: none` is for programs only; test metrics are never ranked on.
        #expect(
            issues(
                syntheticHeader.replacingOccurrences(of: "dataset: {synthetic: {preset: small, seed: 1}}", with: "dataset: none")
                    + "method: grid\nparameters: {lr: {values: [0.1]}}\n"
            ).contains { $0.message.contains("only for a program or function sweep") })
        #expect(
            issues(programSweep("metric: {name: test_accuracy, goal: maximize}\nmethod: grid\nparameters: {lr: {values: [0.1]}}\n"))
                .contains { $0.path == "metric.name" })
        let badEnv = issues(
            programSweep("metric: {name: valid_a, goal: maximize}\nmethod: grid\nparameters: {lr: {values: [0.1]}}\n")
                .replacingOccurrences(
                    of: "command: [python3, fit.py]}", with: "command: [python3, fit.py], env: [SWEEP_X, 1BAD, CUDA_VISIBLE_DEVICES, A=b]}")
        )
        #expect(badEnv.count == 2 && badEnv.allSatisfy { $0.path.hasPrefix("program.env[") }, "\(badEnv)")
    }

    @Test func theStoreKeepsTheProgramAndRefusesAChangedOne() throws {
        let parsed = try spec(
            programSweep("metric: {name: valid_accuracy, goal: maximize}\nmethod: grid\nparameters: {lr: {values: [0.1, 0.2]}}\n"))
        let store = try SweepStore.inMemory()
        let controller = try TrialController(spec: parsed, store: store, trainExamples: 0)
        let program = TrialProgram(
            directory: parsed.program!.directory.path, fingerprint: String(repeating: "a", count: 64), command: parsed.program!.command)
        _ = try controller.applyPlan(fingerprint: DatasetSource.noDataFingerprint, popularity: nil, program: program)
        let record = try #require(try store.sweep())
        #expect(record.program == program && record.dataset == .noData)
        var changed = program
        changed.fingerprint = String(repeating: "b", count: 64)
        #expect(throws: StoreError.self) {
            try controller.applyPlan(fingerprint: DatasetSource.noDataFingerprint, popularity: nil, program: changed)
        }
        #expect(try store.sweep()?.program == program, "the refused launch changed nothing")
        // The export names the program, and reads back.
        let trial = try #require(try store.trials().first)
        let file = try Export.trialFile(for: trial, sweep: record)
        let reread = try TrialFile.parse(try ConfigDocument(text: file.yamlText()), baseDirectory: URL(fileURLWithPath: "/"))
        #expect(reread == file && reread.program == program && reread.dataset == .noData)
    }
}
