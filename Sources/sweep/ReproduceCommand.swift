import ArgumentParser
import Foundation
import ML
import Programs
import Protocol
import SweepCore
import Vocabulary

struct Reproduce: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Run an exported trial file here: a program trial with its program (refused if the folder changed), a built-in trial as `sweep train` does."
    )

    @Argument(help: "A trial file from `sweep export`.") var file: String
    @Option(help: "The program folder, if it moved (its fingerprint must still match).") var programDir: String?
    @Option(help: "The dataset folder, if it moved (its fingerprint must still match).") var data: String?
    @Option(
        help: "The attempt's folder: the program runs in its run/, writes {out} to its out/ (default: ./reproduce-<fingerprint prefix>).")
    var workDir: String?
    @Option(help: "Seconds the program gets between SIGTERM and SIGKILL when interrupted.") var programGrace = 30.0
    @Option(help: "Write the result JSON to FILE ('-' for stdout).") var jsonOut: String?

    func validate() throws { try checkOutputPath(jsonOut, option: "--json-out") }

    /// What to say about a trial only a Python function runs: how to call it.
    static func functionTrial(_ file: String, _ function: String) -> String {
        "\(file) is a trial of function \(function), which runs in Python: `python3 -m sweep_client reproduce \(file) MODULE:\(function)` calls it with this config (docs/python.md)"
    }

    func run() throws {
        let url = URL(fileURLWithPath: file)
        guard let text = try? String(contentsOf: url, encoding: .utf8) else { throw ValidationError("cannot read \(file)") }
        let trialFile = try TrialFile.parse(try ConfigDocument(text: text), baseDirectory: url.deletingLastPathComponent())
        guard let program = trialFile.program else {
            if let function = trialFile.function { throw ValidationError(Self.functionTrial(file, function)) }
            return try Train.parse(["--config", file] + (data.map { ["--data", $0] } ?? []) + (jsonOut.map { ["--json-out", $0] } ?? []))
                .run()
        }
        let folder = URL(fileURLWithPath: programDir ?? program.directory).standardizedFileURL
        let fingerprint = try ProgramFingerprint.compute(folder: folder).fingerprint
        guard fingerprint == program.fingerprint else {
            throw ValidationError(
                """
                the program in \(folder.path) is not the one this trial ran:
                  trial file fingerprint \(program.fingerprint)
                  program fingerprint    \(fingerprint)
                (a file changed, was added or removed; .sweepignore says what does not count)
                """)
        }
        var dataFolder: URL?
        if trialFile.dataset != .noData {
            let located =
                try data.map { URL(fileURLWithPath: $0) }
                ?? DatasetLocator.folder(for: trialFile.dataset, cacheRoot: DatasetLocator.defaultCacheRoot)
            let found = try DatasetFingerprint.compute(folder: located).fingerprint
            guard found == trialFile.fingerprint else {
                throw ValidationError("dataset \(located.path) has fingerprint \(found), the trial ran on \(trialFile.fingerprint)")
            }
            dataFolder = located
        }
        let work = URL(fileURLWithPath: workDir ?? "reproduce-\(program.fingerprint.prefix(12))-seed\(trialFile.config.seed)")
            .standardizedFileURL
        let runner = ProgramRunner(
            attempt: ProgramAttempt(
                folder: folder, command: program.command, config: trialFile.config, data: dataFolder,
                workFolder: work, grace: programGrace, trial: "reproduce", attempt: 1))
        printError("running \(runner.commandLine().joined(separator: " ")) in \(runner.runFolder.path)")
        let stop = StopFlag()
        let signals = stopOnSignals(stop)
        defer { signals.forEach { $0.cancel() } }
        let metric = trialFile.config.selectMetric, started = Date()
        let end = runner.run { event in
            if case .epoch(let record) = event {
                printError(
                    "epoch \(record.epoch)  valid_\(metric) \(decimal(record.valid[metric] ?? .nan))"
                        + (record.test[metric].map { "  test_\(metric) \(decimal($0))" } ?? ""))
            }
            return !stop.isSet
        }
        if let jsonOut {
            let data = Data(
                try Documents.text(ReproducedProgram(end, seconds: Date().timeIntervalSince(started), out: runner.outFolder.path)).utf8)
            if jsonOut == "-" {
                print(String(decoding: data, as: UTF8.self))
            } else {
                try writeOutput(data, to: jsonOut, option: "--json-out")
            }
        }
        switch end {
        case .completed(let result):
            printError(
                "best epoch \(result.bestEpoch): valid_\(metric) \(decimal(result.valid[metric] ?? .nan))"
                    + (result.test[metric].map { ", test_\(metric) \(decimal($0))" } ?? "") + "; output in \(runner.outFolder.path)")
        case .stopped:
            printError("stopped")
            throw ExitCode(130)
        case .diverged(let reason, _), .failed(let reason, _):
            printError("the trial failed: \(reason)")
            throw ExitCode(3)
        }
    }
}

/// `sweep reproduce --json-out` for a program trial: how it ended and, when it completed, the best
/// epoch's metrics.
struct ReproducedProgram: Encodable {
    var status: String
    var reason: String?
    var bestEpoch: Int?
    var valid: [String: Double]?
    var test: [String: Double]?
    var epochs: Int
    var seconds: Double
    var out: String

    init(_ end: RunEnd, seconds: Double, out: String) {
        switch end {
        case .completed(let result): (status, bestEpoch, valid, test) = ("completed", result.bestEpoch, result.valid, result.test)
        case .stopped: status = "stopped"
        case .diverged(let detail, _): (status, reason) = ("diverged", detail)
        case .failed(let detail, _): (status, reason) = ("failed", detail)
        }
        epochs = end.epochs
        self.seconds = seconds
        self.out = out
    }

    enum CodingKeys: String, CodingKey { case status, reason, bestEpoch = "best_epoch", valid, test, epochs, seconds, out }
}
