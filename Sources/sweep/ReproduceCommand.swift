import ArgumentParser
import Foundation
import ML
import Protocol

struct Reproduce: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run an exported trial file here: a program trial with its program (refused if the folder changed), a built-in trial as `sweep train` does.")

    @Argument(help: "A trial file from `sweep export`.") var file: String
    @Option(help: "The program folder, if it moved (its fingerprint must still match).") var programDir: String?
    @Option(help: "The dataset folder, if it moved (its fingerprint must still match).") var data: String?
    @Option(help: "The attempt's folder: the program runs in its run/, writes {out} to its out/ (default: ./reproduce-<fingerprint prefix>).") var workDir: String?
    @Option(help: "Seconds the program gets between SIGTERM and SIGKILL when interrupted.") var programGrace = 30.0
    @Option(help: "Write the result JSON to FILE ('-' for stdout).") var jsonOut: String?

    func validate() throws { try checkOutputPath(jsonOut, option: "--json-out") }

    func run() throws {
        let url = URL(fileURLWithPath: file)
        guard let text = try? String(contentsOf: url, encoding: .utf8) else { throw ValidationError("cannot read \(file)") }
        let trialFile = try TrialFile.parse(try TrialConfig.loadMapping(text), baseDirectory: url.deletingLastPathComponent())
        guard let program = trialFile.program else {
            return try Train.parse(["--config", file] + (data.map { ["--data", $0] } ?? []) + (jsonOut.map { ["--json-out", $0] } ?? [])).run()
        }
        let folder = URL(fileURLWithPath: programDir ?? program.directory).standardizedFileURL
        let fingerprint = try ProgramFingerprint.compute(folder: folder).fingerprint
        guard fingerprint == program.fingerprint else {
            throw ValidationError("""
                the program in \(folder.path) is not the one this trial ran:
                  trial file fingerprint \(program.fingerprint)
                  program fingerprint    \(fingerprint)
                (a file changed, was added or removed; .sweepignore says what does not count)
                """)
        }
        var dataFolder: URL?
        if trialFile.dataset != .noData {
            let located = try data.map { URL(fileURLWithPath: $0) } ?? DatasetLocator.folder(for: trialFile.dataset, cacheRoot: DatasetLocator.defaultCacheRoot)
            let found = try DatasetFingerprint.compute(folder: located).fingerprint
            guard found == trialFile.fingerprint else {
                throw ValidationError("dataset \(located.path) has fingerprint \(found), the trial ran on \(trialFile.fingerprint)")
            }
            dataFolder = located
        }
        let work = URL(fileURLWithPath: workDir ?? "reproduce-\(program.fingerprint.prefix(12))-seed\(trialFile.config.seed)").standardizedFileURL
        let runner = ProgramRunner(attempt: ProgramAttempt(folder: folder, command: program.command, config: trialFile.config, data: dataFolder,
                                                           workFolder: work, grace: programGrace, trial: "reproduce", attempt: 1))
        printError("running \(runner.commandLine().joined(separator: " ")) in \(runner.runFolder.path)")
        let stop = StopFlag()
        let signals = stopOnSignals(stop)
        defer { signals.forEach { $0.cancel() } }
        let metric = trialFile.config.selectMetric
        let result = runner.run { event in
            if case .epoch(let record) = event {
                printError("epoch \(record.epoch)  valid_\(metric) \(decimal(record.valid[metric] ?? .nan))"
                           + (record.test[metric].map { "  test_\(metric) \(decimal($0))" } ?? ""))
            }
            return !stop.isSet
        }
        let document: [String: Any] = [
            "status": "\(result.status)", "best_epoch": result.bestEpoch ?? NSNull(), "valid": result.valid, "test": result.test,
            "epochs": result.history.count, "seconds": result.timing.totalSeconds, "out": runner.outFolder.path,
        ]
        if let jsonOut {
            let data = try JSONSerialization.data(withJSONObject: document, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
            if jsonOut == "-" { print(String(decoding: data, as: UTF8.self)) } else { try writeOutput(data, to: jsonOut, option: "--json-out") }
        }
        switch result.status {
        case .completed:
            printError("best epoch \(result.bestEpoch ?? 0): valid_\(metric) \(decimal(result.valid[metric] ?? .nan))"
                       + (result.test[metric].map { ", test_\(metric) \(decimal($0))" } ?? "") + "; output in \(runner.outFolder.path)")
        case .stopped:
            printError("stopped")
            throw ExitCode(130)
        case .diverged(let reason), .failed(let reason):
            printError("the trial failed: \(reason)")
            throw ExitCode(3)
        }
    }
}
