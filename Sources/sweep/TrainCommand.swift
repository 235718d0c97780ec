import ArgumentParser
import Foundation
import ML
import Vocabulary

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train one trial config (or reproduce an exported trial file) and report its metrics.")

    @Option(help: "Dataset folder (required with a plain config; overrides a trial file's dataset).") var data: String?
    @Option(help: "A trial config (YAML/JSON) or a trial file from `sweep export`.") var config: String
    @Option(name: .customLong("set"), help: "Override a config key, e.g. --set lr=1e-3 (repeatable).") var overrides: [String] = []
    @Option(help: "OpenBLAS threads (default: the trial file's, else 1).") var threads: Int?
    @Option(help: "Write the result JSON to FILE ('-' for stdout).") var jsonOut: String?
    @Option(help: "Write the best epoch's weights (.npy per tensor + manifest.json) to DIR.") var saveModel: String?

    func validate() throws { try checkOutputPath(jsonOut, option: "--json-out") }

    func run() throws {
        let configURL = URL(fileURLWithPath: config)
        guard let text = try? String(contentsOf: configURL, encoding: .utf8) else {
            throw ValidationError("cannot read --config \(config)")
        }
        let document = try ConfigDocument(text: text)
        // Overrides replace config values before validation, so their inactive-key checks apply.
        var overriding: [String: ConfigValue] = [:]
        for assignment in overrides {
            guard let equals = assignment.firstIndex(of: "="), equals != assignment.startIndex else {
                throw ValidationError("--set takes key=value, got \(assignment)")
            }
            overriding[String(assignment[..<equals])] = ConfigValue(parsing: String(assignment[assignment.index(after: equals)...]))
        }
        let trialConfig: TrialConfig
        var datasetFolder: URL
        var expectedFingerprint: String?
        var threadCount = threads ?? 1
        if document.isTrialFile {
            let file = try TrialFile.parse(document, baseDirectory: configURL.deletingLastPathComponent(), overrides: overriding)
            if file.program != nil { throw ValidationError("\(config) is a program trial: run it with `sweep reproduce \(config)`") }
            if let function = file.function { throw ValidationError(Reproduce.functionTrial(config, function)) }
            trialConfig = file.config
            expectedFingerprint = file.fingerprint
            threadCount = threads ?? file.threads
            datasetFolder =
                try data.map { URL(fileURLWithPath: $0) }
                ?? DatasetLocator.folder(for: file.dataset, cacheRoot: DatasetLocator.defaultCacheRoot)
        } else {
            trialConfig = try TrialConfig.parse(document.values(overriddenBy: overriding))
            guard let data else { throw ValidationError("--data DIR is required with a plain trial config") }
            datasetFolder = URL(fileURLWithPath: data)
        }
        guard threadCount >= 1 else { throw ValidationError("--threads must be at least 1") }
        datasetFolder = datasetFolder.standardizedFileURL
        let fingerprint = try DatasetFingerprint.compute(folder: datasetFolder).fingerprint
        if let expectedFingerprint, expectedFingerprint != fingerprint {
            throw ValidationError(
                """
                dataset \(datasetFolder.path) is not the one this trial ran on:
                  trial file fingerprint \(expectedFingerprint)
                  dataset fingerprint    \(fingerprint)
                """)
        }
        let dataset = try Dataset.load(from: datasetFolder)
        if saveModel != nil && trialConfig.model == .none {
            throw ValidationError("--save-model: model: none trains no weights (the co-occurrence prior is built from the data)")
        }
        let trainer = try Trainer(config: trialConfig, dataset: dataset, threads: threadCount, keepBestParameters: saveModel != nil)
        let toStdout = jsonOut == "-"
        // With JSON on stdout, the human-readable lines go to stderr.
        func say(_ line: String) {
            if toStdout { printError(line) } else { print(line) }
        }
        say("training \(trialConfig.jsonText())")
        say(
            "dataset \(datasetFolder.path) (\(dataset.itemCount) items, \(dataset.train.count) train examples), \(threadCount) BLAS thread(s), \(BLAS.coreName)"
        )
        let (result, model) = trainer.run { event in
            if case .epoch(let record) = event {
                // The prior alone (`model: none`) trains nothing: no rate to print.
                let rate =
                    trialConfig.model == .none
                    ? ""
                    : "  (\(Int(Double(dataset.train.count) / (record.trainSeconds ?? record.seconds))) ex/s)"
                // With the tag head, both raw losses and the weights each got: "CE swamps BCE" shows here.
                let losses =
                    record.lossAux.map { aux in
                        "loss main \(decimal(record.lossMain ?? .nan, digits: 5)) aux \(decimal(aux, digits: 4))"
                            + "  weights \(decimal(record.weights.main, digits: 4))/\(decimal(record.weights.aux ?? 0, digits: 4))"
                    } ?? "loss \(decimal(record.lossMain ?? .nan, digits: 5))"
                say(
                    "epoch \(String(format: "%3d", record.epoch))/\(trialConfig.epochBudget)  \(losses)"
                        + "  valid ndcg@10 \(decimal(record.valid.ndcg10)) recall@10 \(decimal(record.valid.recall10))"
                        + "  test ndcg@10 \(decimal(record.test.ndcg10))  \(decimal(record.seconds, digits: 1))s\(rate)")
            }
            return true
        }
        if let best = result.best {
            say(
                "best epoch \(best.epoch) by valid \(trialConfig.selectMetric): valid ndcg@10 \(decimal(best.valid.ndcg10)) recall@10 \(decimal(best.valid.recall10))"
                    + " | test ndcg@10 \(decimal(best.test.ndcg10)) recall@10 \(decimal(best.test.recall10)) coverage@10 \(decimal(best.test.coverage10))"
            )
        }
        if trialConfig.model == .none {
            say("the prior alone: nothing trained, \(decimal(result.timing.totalSeconds, digits: 1)) s total")
        } else {
            say(
                "median \(Int(result.timing.examplesPerSecond)) examples/s, \(decimal(result.timing.secondsPerEpoch, digits: 2)) s/epoch, \(decimal(result.timing.totalSeconds, digits: 1)) s total"
            )
        }
        if let divergence = result.divergence { say("diverged: \(divergence)") }
        let report = TrainingReport(config: trialConfig, datasetPath: datasetFolder.path, fingerprint: fingerprint, result: result)
        if let jsonOut {
            let data = try report.jsonData()
            if toStdout {
                print(String(decoding: data, as: UTF8.self))
            } else {
                try writeOutput(data, to: jsonOut, option: "--json-out")
            }
        }
        if let saveModel, let parameters = result.bestParameters, let model {
            try ModelExport.write(
                parameters: parameters, layout: model.layout, report: report,
                to: URL(fileURLWithPath: saveModel))
            say("saved the best epoch's weights to \(saveModel)")
        }
        if result.status == .diverged { throw ExitCode(3) }
    }
}
