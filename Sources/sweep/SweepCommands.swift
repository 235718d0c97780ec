import ArgumentParser
import Coordinator
import Dashboard
import Foundation
import LocalRun
import ML
import SweepCore
import Vocabulary

/// The `--db FILE` every store command takes.
struct StoreOptions: ParsableArguments {
    @Option(help: "The sweep's SQLite database.") var db: String

    /// The store, read-only, through a reader that keeps the trials it read (a command reads them
    /// once; `--watch` reads only what changed); trials whose config cannot be read are named on stderr.
    func reader() throws -> CachedReader {
        let reader = CachedReader(store: try SweepStore.openReadOnly(path: db))
        try warnAboutUnreadableTrials(reader)
        return reader
    }
}

/// Names the trials a store holds whose config this build cannot read (they are left out of
/// every list and ranking), so a store with one such trial still opens and says which.
func warnAboutUnreadableTrials(_ source: some SweepSource) throws {
    let unreadable = try source.unreadableTrials()
    guard !unreadable.isEmpty else { return }
    printError(
        "warning: \(source.store.path) holds \(unreadable.count) trial\(unreadable.count == 1 ? "" : "s") whose config cannot be read, left out of what follows:"
    )
    for trial in unreadable.prefix(10) { printError("  \(trial)") }
    if unreadable.count > 10 { printError("  … and \(unreadable.count - 10) more") }
}

/// `--plan-limit`: how many trials a sweep file may plan (``SweepSpec/defaultMaxTrials``).
struct PlanLimitOptions: ParsableArguments {
    @Option(help: "Refuse a sweep file that plans more trials (configs × repeats) than this, before expanding it.")
    var planLimit = SweepSpec.defaultMaxTrials

    func validate() throws {
        guard planLimit >= 1 else { throw ValidationError("--plan-limit must be at least 1") }
    }
}

/// A sweep file applied to its store through its controller: validated and planned, the dataset
/// found (or generated), a program fingerprinted, the store created or extended. Logs how the
/// plan changed the store.
struct OpenedSweep {
    let spec: SweepSpec
    /// nil for a program sweep with `dataset: none`.
    let dataset: ResolvedDataset?
    /// The program a program sweep runs, fingerprinted.
    let program: ServedProgram?
    let controller: TrialController
    var store: SweepStore { controller.store }

    init(file: String, db: String, planLimit: Int) throws {
        spec = try SweepSpec.load(URL(fileURLWithPath: file), maxTrials: planLimit)
        dataset = spec.dataset == .noData ? nil : try ResolvedDataset(spec.dataset)
        program = try spec.program.map { try ServedProgram(folder: $0.directory, command: $0.command) }
        controller = try TrialController(spec: spec, store: try SweepStore.open(path: db), trainExamples: dataset?.dataset.train.count ?? 0)
        let stored = program.map {
            TrialProgram(directory: $0.folder.path, fingerprint: $0.ref.fingerprint, command: spec.program!.command)
        }
        let sync = try controller.applyPlan(
            fingerprint: dataset?.fingerprint.fingerprint ?? DatasetSource.noDataFingerprint,
            popularity: spec.runsOwnCode ? nil : dataset?.popularity, program: stored)
        try warnAboutUnreadableTrials(controller.store)
        if let warm = controller.warmStart { printError(warm.summary) }
        if let program {
            let size = program.ref.files.reduce(0) { $0 + $1.size }
            printError(
                "program \(program.folder.path): \(program.ref.files.count) files, \(decimal(Double(size) / 1_048_576, digits: 2)) MiB, fingerprint \(program.ref.fingerprint.prefix(16))…"
            )
        }
        let planned =
            controller.sampler.configBudget.map { "\(controller.planned.count) trials planned up front, \($0) configs in all" }
            ?? "\(controller.planned.count) trials planned"
        printError(
            "\(spec.name): \(planned) (\(sync.new) new, \(sync.kept) kept, \(sync.retired) retired"
                + (sync.enqueued > 0 ? ", \(sync.enqueued) enqueued configs to run first" : "") + ") in \(db)"
                + (controller.pruner.map { "; early stopping: \($0.summary) on \(spec.earlyStopping!.judged)" } ?? ""))
    }

    /// Says why no more trials start, if the sweep halted before its plan was done; throws exit
    /// code 4 when failures halted it (`sweep retry` once fixed, then launch again).
    func reportHalt(db: String) throws {
        guard let halt = try controller.halt() else { return }
        let waiting = try store.stateCounts()[.waiting, default: 0]
        if halt.isFailure {
            printError("stopped: \(halt)")
            printError("fix the cause, then `sweep retry --db \(db) --failed` and launch again: the sweep goes on from its store")
            throw ExitCode(4)
        }
        printError(
            "ended: \(halt)" + (waiting > 0 ? "; \(waiting) trials wait: raise the budget in the sweep file and launch again to go on" : "")
        )
    }

    /// The leaderboard's top 10 as `run` and `launch` print it at the end.
    func leaderboard() throws -> String {
        guard let sweep = try store.sweep() else { return "" }
        return try LeaderboardReport(sweep, store: store, top: 10).table(byConfig: spec.repeats > 1)
    }
}

/// Prints JSON text as the only thing on stdout.

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table, csv, json, yaml
}

struct Plan: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validate a sweep file and print the trials it plans, without running anything.")

    @Argument(help: "The sweep file (YAML).") var sweep: String
    @Option(help: "Also compare with this sweep database: how many trials are new, kept, retired.") var db: String?
    @OptionGroup var limit: PlanLimitOptions
    @Option(help: "table or json.") var format: OutputFormat = .table

    func validate() throws {
        guard [.table, .json].contains(format) else { throw ValidationError("--format must be table or json") }
    }

    func run() throws {
        let spec = try SweepSpec.load(URL(fileURLWithPath: sweep), maxTrials: limit.planLimit)
        let trials = try SearchSpace(spec: spec).plan()
        let adaptive = spec.method.isAdaptive ? max(0, (spec.count ?? 0) - Set(trials.map { Leaderboard.configKey($0.config) }).count) : 0
        var comparison: (new: Int, kept: Int, retired: Int)?
        if let db {
            let stored = try SweepStore.openReadOnly(path: db).trials()
            let storedIDs = Set(stored.filter { $0.state != .retired }.map(\.id)), plannedIDs = Set(trials.map(\.id))
            comparison = (
                plannedIDs.subtracting(Set(stored.map(\.id))).count, plannedIDs.intersection(Set(stored.map(\.id))).count,
                storedIDs.subtracting(plannedIDs).count
            )
        }
        if format == .json {
            return print(
                try Documents.text(
                    PlanDocument(
                        count: trials.count,
                        trials: trials.map {
                            .init(
                                id: $0.id, number: $0.number, seed: $0.config.seed, config: $0.config.activeDictionary, variant: $0.variant)
                        },
                        new: comparison?.new, kept: comparison?.kept, retired: comparison?.retired,
                        proposedLater: spec.method.isAdaptive ? adaptive : nil)))
        }
        let configs = Set(trials.map { Leaderboard.configKey($0.config) }).count
        if let url = spec.warmStart {
            let fingerprint =
                spec.dataset == .noData ? DatasetSource.noDataFingerprint : try ResolvedDataset(spec.dataset).fingerprint.fingerprint
            printError(try WarmStart.load(url, spec: spec, fingerprint: fingerprint).summary)
        }
        print(
            "\(spec.name): \(spec.method.rawValue) search, \(configs) config\(configs == 1 ? "" : "s") × \(spec.repeats) repeat\(spec.repeats == 1 ? "" : "s") = \(trials.count) trials, ranked by \(SweepStatus.rankedBy(spec.ranking))"
        )
        if let tpe = spec.tpe {
            print(
                "these are TPE's startup draws; the other \(adaptive) config\(adaptive == 1 ? "" : "s") (of count \(spec.count ?? 0)) depend on the results: "
                    + "each is proposed when a worker asks, from every finished config (startup_trials \(tpe.startupTrials), candidates \(tpe.candidates), "
                    + "\(tpe.multivariate ?? !spec.ranking.isMultiObjective ? "multivariate" : "univariate"), gamma \(tpe.gamma)\(tpe.constantLiar ? ", constant liar" : ""))"
            )
        }
        if let gp = spec.gp {
            print(
                "these are the GP's startup draws; the other \(adaptive) config\(adaptive == 1 ? "" : "s") (of count \(spec.count ?? 0)) depend on the results: "
                    + "each is proposed when a worker asks, where a Gaussian process of every finished config expects the most improvement "
                    + "(startup_trials \(gp.startupTrials), candidates \(gp.candidates), local_searches \(gp.localSearches); running configs at their predicted value)"
            )
        }
        if let nsga2 = spec.nsga2 {
            print(
                "these are NSGA-II's first generation (random draws); the other \(adaptive) config\(adaptive == 1 ? "" : "s") (of count \(spec.count ?? 0)) are bred from the results: "
                    + "population \(nsga2.population), \(nsga2.crossover.rawValue) crossover with probability \(nsga2.crossoverProbability), "
                    + "mutation \(nsga2.mutationProbability.map { String($0) } ?? "1/parameters")"
            )
        }
        if let comparison { print("against \(db!): \(comparison.new) new, \(comparison.kept) kept, \(comparison.retired) to retire") }
        let snapshots = trials.map {
            TrialSnapshot(id: $0.id, number: $0.number, config: $0.config, variant: $0.variant, state: .waiting, attempts: 0, result: nil)
        }
        let report = LeaderboardReport(trials: snapshots, ranking: spec.ranking, popularity: nil, all: true)
        if !report.constantKeys.isEmpty { print("constant: " + report.constantKeys.joined(separator: " ")) }
        let keys = ["#", "trial"] + (spec.variants.isEmpty ? [] : ["variant"]) + report.varyingKeys + ["seed"]
        var rows = [keys]
        for trial in trials {
            var row = [String(trial.number), trial.id]
            if !spec.variants.isEmpty { row.append(trial.variant ?? "–") }
            for key in report.varyingKeys {
                row.append(trial.config.isActive(key) ? trial.config.value(key)?.description ?? "–" : "–")
            }
            row.append(String(trial.config.seed))
            rows.append(row)
        }
        let widths = keys.indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        for row in rows {
            print(
                zip(row, widths).map { $0 + String(repeating: " ", count: $1 - $0.count) }.joined(separator: "  ")
                    .trimmingCharacters(in: .whitespaces))
        }
    }
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create or resume a sweep in a database and train its trials in this process, one after another.")

    @Argument(help: "The sweep file (YAML).") var sweep: String
    @OptionGroup var store: StoreOptions
    @Option(help: "Threads for training.") var threads = 1
    @Option(help: "Run at most this many trials.") var maxTrials: Int?
    @Option(help: "Seconds a stopped program trial gets between SIGTERM and SIGKILL.") var programGrace = 30.0
    @OptionGroup var limit: PlanLimitOptions

    func run() throws {
        let opened = try openOnDisk("sweep run", sweep: sweep, db: store.db) {
            try OpenedSweep(file: sweep, db: store.db, planLimit: limit.planLimit)
        }
        if let function = opened.spec.function, opened.spec.functionOnly {
            throw ValidationError(
                "\(sweep) runs its trials in function workers (function: \(function)), which `sweep run` cannot call: `sweep launch \(sweep)` and start them with sweep_client.work(train=\(function), connect=…), or run trials in your own loop with sweep_client.Study (docs/python.md)"
            )
        }
        let metric = opened.spec.ranking.primary.metric
        var runner = LocalRunner(
            controller: opened.controller, dataset: opened.dataset?.dataset, threads: threads,
            workerName: "local-\(ProcessInfo.processInfo.processIdentifier)")
        if let program = opened.program, let command = opened.spec.program?.command {
            runner.program = LocalRunner.Program(
                folder: program.folder, command: command, data: opened.dataset?.folder,
                runs: URL(fileURLWithPath: store.db + ".runs"), grace: programGrace)
        }
        let ran: Int
        do {
            ran = try runLocally(&runner, metric: metric)
        } catch {
            throw diskFullExit(error, command: "sweep run", sweep: sweep, db: store.db)
        }
        printError("ran \(ran) trial\(ran == 1 ? "" : "s")")
        print(try opened.leaderboard())
        try opened.reportHalt(db: store.db)
    }

    /// Runs the trials, printing how each ended; returns how many ran.
    func runLocally(_ runner: inout LocalRunner, metric: String) throws -> Int {
        try runner.run(limit: maxTrials) { claim, outcome in
            let line =
                switch outcome {
                case .completed(let report):
                    "completed, valid \(metric) \(decimal(report.valid[metric] ?? 0)), \(decimal(report.timing.totalSeconds, digits: 1)) s"
                case .pruned(_, let reason): reason
                case .diverged(let reason): "diverged: \(reason)"
                case .failed(let reason): "failed: \(reason)"
                case .timedOut(let reason): reason
                case .stopped: "stopped (cancelled, retired or past the sweep's budget)"
                }
            printError("trial #\(claim.number) \(claim.trial): \(line)")
        }
    }
}

struct LeaderboardCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "leaderboard", abstract: "Rank completed trials by the sweep metric on valid, with test beside it.")

    @OptionGroup var store: StoreOptions
    @Option(help: "Show the top K rows (default: every row).") var top: Int?
    @Option(help: "table, csv or json.") var format: OutputFormat = .table
    @Flag(help: "One row per config (all its repeat seeds): mean, 95% CI, n, and a paired test against the best.") var byConfig = false
    @Option(help: "Comma-separated columns to show, in order (table only).") var columns: String?
    @Flag(help: "Redraw every 2 seconds until interrupted.") var watch = false
    @Flag(help: "Include trials that did not complete (running, failed, retired …).") var all = false

    func validate() throws {
        guard format != .yaml else { throw ValidationError("--format must be table, csv or json") }
        if let top, top < 1 { throw ValidationError("--top must be at least 1") }
    }

    func run() throws {
        let reader = try store.reader()
        repeat {
            guard let sweep = try reader.store.sweep() else { throw StoreError(message: "\(store.db) holds no sweep yet") }
            let report = try LeaderboardReport(sweep, store: reader, top: top, all: all)
            let byConfig = self.byConfig || (format == .table && !all && Set(report.trials.map { $0.config.seed }).count > 1)
            let text: String =
                switch format {
                case .json: report.json(byConfig: self.byConfig)
                case .csv: report.csv(byConfig: self.byConfig)
                default:
                    try report.table(
                        byConfig: byConfig, columns: columns?.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
                }
            if watch {
                print("\u{1B}[2J\u{1B}[H\(sweep.name) — \(Date())\n")
            }
            print(text)
            if watch { Thread.sleep(forTimeInterval: 2) }
        } while watch
    }
}

struct Show: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "One trial: its config, attempts, per-epoch curve and early-stopping judgements.")

    @OptionGroup var store: StoreOptions
    @Argument(help: "Trial id (or a unique prefix) or number.") var trial: String
    @Flag(help: "Print one JSON document.") var json = false

    func run() throws {
        let reader = try store.reader()
        guard let sweep = try reader.store.sweep() else { throw StoreError(message: "\(store.db) holds no sweep yet") }
        let snapshot = try reader.findTrial(trial)
        if json { return print(try Documents.text(try Documents.trial(snapshot, store: reader.store, sweep: sweep))) }
        let attempts = try reader.store.attempts(trial: snapshot.id)
        let records = try reader.store.curve(of: snapshot, attempts: attempts)
        let judgements = try reader.store.judgements(trial: snapshot.id)
        let formatter = ISO8601DateFormatter()
        let state = snapshot.stoppedAt.map { "pruned at epoch \($0) of \(snapshot.config.epochBudget)" } ?? snapshot.state.rawValue
        print("trial \(snapshot.id)  #\(snapshot.number)  \(state)\(snapshot.variant.map { "  variant \($0)" } ?? "")")
        print("config " + snapshot.config.activeValues.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
        if let program = sweep.program { print("program \(program.directory) (fingerprint \(program.fingerprint))") }
        if let function = try reader.store.spec(of: sweep).function { print("function \(function) (run by function workers)") }
        if let origin = snapshot.origin { print(origin.description) }
        for attempt in attempts {
            let outcome = attempt.outcome?.rawValue ?? "running"
            print(
                "attempt \(attempt.attempt): \(attempt.worker), \(outcome)\(attempt.reason.map { " (\($0))" } ?? ""), started \(formatter.string(from: attempt.started))"
            )
        }
        if !records.isEmpty {
            let metric = sweep.ranking.primary.metric
            let valid = records.map { $0.valid[metric] ?? 0 }
            print("\nvalid \(metric) " + Sparkline.render(valid) + String(format: "  %.4f → %.4f", valid.first!, valid.last!))
            if snapshot.config.isProgram {
                printProgramEpochs(records)
            } else {
                print("\nepoch  loss_main  loss_aux  w_main  w_aux    valid ndcg@10  recall@10  test ndcg@10  recall@10")
                for record in records {
                    func number(_ value: Double?, _ digits: Int) -> String { value.map { String(format: "%.\(digits)f", $0) } ?? "–" }
                    print(
                        String(format: "%5d", record.epoch) + "  " + number(record.lossMain, 6).padding(9) + "  "
                            + number(record.lossAux, 4).padding(8) + "  " + number(record.weights.main, 3).padding(6) + "  "
                            + number(record.weights.aux, 4).padding(7) + "  " + number(record.valid.ndcg10, 4).padding(13) + "  "
                            + number(record.valid.recall10, 4).padding(9) + "  " + number(record.test.ndcg10, 4).padding(12) + "  "
                            + number(record.test.recall10, 4))
                }
            }
        }
        if !judgements.isEmpty {
            let judged = try? reader.spec(of: sweep).earlyStopping?.judged
            print("\nearly stopping (\(judged ?? "valid_" + sweep.ranking.primary.metric), best so far):")
            for judgement in judgements {
                let compared = judgement.compared.map { values in
                    values.count == 1
                        ? String(format: "%.4f", values[0]) : "(" + values.map { String(format: "%.4f", $0) }.joined(separator: ", ") + ")"
                }.joined(separator: ", ")
                print("  epoch \(judgement.epoch): \(judgement.decision == .stop ? "STOP" : "go on") — \(judgement.rule)")
                print(
                    "    compared with \(judgement.comparedCount) value\(judgement.comparedCount == 1 ? "" : "s")"
                        + (judgement.comparedCount > judgement.compared.count ? " (the first \(judgement.compared.count) kept)" : "")
                        + (compared.isEmpty ? "" : ": " + compared)
                )
            }
        }
    }

    /// A program's epochs: its loss, then every number it reported, by name.
    func printProgramEpochs(_ records: [EpochRecord]) {
        let valid = Set(records.flatMap { $0.valid.dictionary.keys }).sorted(),
            test = Set(records.flatMap { $0.test.dictionary.keys }).sorted()
        let extra = Set(records.flatMap { $0.extra?.keys.map { $0 } ?? [] }).sorted()
        let headers = ["epoch", "loss"] + valid.map { "valid_\($0)" } + test.map { "test_\($0)" } + extra + ["seconds"]
        let rows = records.map { record -> [String] in
            func number(_ value: Double?) -> String { value.map { String(format: "%.4f", $0) } ?? "–" }
            return [String(record.epoch), number(record.lossMain)] + valid.map { number(record.valid[$0]) }
                + test.map { number(record.test[$0]) }
                + extra.map { number(record.extra?[$0]) } + [String(format: "%.1f", record.seconds)]
        }
        let widths = headers.indices.map { column in ([headers[column]] + rows.map { $0[column] }).map(\.count).max() ?? 0 }
        print("\n" + headers.enumerated().map { $0.element.padding(widths[$0.offset]) }.joined(separator: "  "))
        for row in rows { print(row.enumerated().map { $0.element.padding(widths[$0.offset]) }.joined(separator: "  ")) }
    }
}

extension String {
    /// Left-aligned in `width` characters.
    func padding(_ width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }
}

/// A one-line chart of a series, ▁ to █.
enum Sparkline {
    static func render(_ values: [Double]) -> String {
        let bars = Array("▁▂▃▄▅▆▇█")
        guard let low = values.min(), let high = values.max(), high > low else { return String(repeating: "▄", count: values.count) }
        return String(values.map { bars[min(Int(($0 - low) / (high - low) * Double(bars.count)), bars.count - 1)] })
    }
}

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export", abstract: "Write a trial file that `sweep train --config FILE` reproduces.")

    @OptionGroup var store: StoreOptions
    @Flag(help: "The best completed trial (the default; one objective only).") var best = false
    @Option(help: "This trial (id, unique prefix or number) instead of the best.") var trial: String?
    @Option(help: "Write one trial file per member of the front (several objectives) into this folder.") var front: String?
    @Option(help: "yaml or json.") var format: OutputFormat = .yaml
    @Option(name: .shortAndLong, help: "Write to FILE instead of stdout.") var output: String?

    func validate() throws {
        guard [.yaml, .json].contains(format) else { throw ValidationError("--format must be yaml or json") }
        if [best, trial != nil, front != nil].filter({ $0 }).count > 1 { throw ValidationError("give one of --best, --trial and --front") }
        if front != nil && output != nil { throw ValidationError("--front writes a folder of files; --output is for one") }
        try checkOutputPath(output, option: "--output")
    }

    func run() throws {
        let reader = try store.reader()
        guard let sweep = try reader.store.sweep() else { throw StoreError(message: "\(store.db) holds no sweep yet") }
        if let front { return try exportFront(try reader.trials(), sweep: sweep, into: front) }
        let snapshot: TrialSnapshot
        if let trial {
            snapshot = try reader.findTrial(trial)
            guard snapshot.result != nil else {
                throw StoreError(message: "trial \(snapshot.id) has no result (\(snapshot.state.rawValue))")
            }
        } else {
            guard let bestTrial = try Export.best(try reader.trials(), ranking: sweep.ranking) else {
                throw StoreError(message: "no trial has completed yet")
            }
            snapshot = bestTrial
        }
        let file = try Export.trialFile(for: snapshot, sweep: sweep)
        let text = format == .json ? try file.jsonText() + "\n" : file.yamlText()
        if let output {
            try writeOutput(Data(text.utf8), to: output, option: "--output")
            printError(
                "wrote trial \(snapshot.id) (#\(snapshot.number), valid \(sweep.ranking.primary.metric) \(decimal(snapshot.result?.valid[sweep.ranking.primary.metric] ?? 0))) to \(output)"
            )
            printError("reproduce it with: \(Self.reproduceCommand(file, path: output))")
        } else {
            print(text, terminator: "")
        }
    }

    /// One trial file per front member, named `trial-<number>-<id>.<format>`, in `folder`
    /// (created if missing); the front's members and their objectives are listed as they are written.
    func exportFront(_ trials: [TrialSnapshot], sweep: SweepRecord, into folder: String) throws {
        let members = Export.front(trials, ranking: sweep.ranking)
        guard !members.isEmpty else { throw StoreError(message: "no feasible trial has completed yet: the front is empty") }
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        } catch {
            throw ValidationError("--front \(folder): cannot create the folder (\(error.localizedDescription))")
        }
        let files = try Export.trialFiles(for: members, sweep: sweep)
        for (member, file) in zip(members, files) {
            let text = format == .json ? try file.jsonText() + "\n" : file.yamlText()
            let path = URL(fileURLWithPath: folder).appendingPathComponent("trial-\(member.number)-\(member.id).\(format.rawValue)").path
            try writeOutput(Data(text.utf8), to: path, option: "--front")
            let values = sweep.ranking.objectives.map { "\($0.metric) \(decimal(member.result?.valid[$0.metric] ?? .nan))" }
            printError("wrote trial \(member.id) (#\(member.number), \(values.joined(separator: ", "))) to \(path)")
        }
        printError(
            "\(members.count) trial file\(members.count == 1 ? "" : "s") of the front; reproduce one with: \(Self.reproduceCommand(files[0], path: "FILE"))"
        )
    }

    /// The one command that reproduces a trial file: the built-in trainer's, the program's, or the
    /// Python function's.
    static func reproduceCommand(_ file: TrialFile, path: String) -> String {
        if file.program != nil { return "sweep reproduce \(path)" }
        if let function = file.function { return "python3 -m sweep_client reproduce \(path) MODULE:\(function)" }
        return "sweep train --config \(path)"
    }
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Trials per state (pruned included), attempts, workers, throughput, ETA and epochs saved by early stopping.")

    @OptionGroup var store: StoreOptions
    @Flag(help: "Print one JSON document.") var json = false

    func run() throws {
        let reader = try store.reader()
        if json { return print(try Documents.status(reader)) }
        print(try SweepStatus.read(reader).text)
    }
}

struct Retry: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Move failed or cancelled trials back to waiting for a new attempt (diverged and pruned trials are never retried).")

    @OptionGroup var store: StoreOptions
    @Flag(help: "Every failed trial.") var failed = false
    @Argument(help: "Trials (id, unique prefix or number).") var trials: [String] = []

    func validate() throws {
        if failed == !trials.isEmpty { throw ValidationError("give --failed or trial ids, not both and not neither") }
    }

    func run() throws {
        let writer = try SweepStore.openExisting(path: store.db)
        let ids = try Self.ids(of: trials, in: writer)
        let moved = try writer.retry(trials: failed ? nil : ids)
        print(
            "\(moved.count) trial\(moved.count == 1 ? "" : "s") back to waiting\(moved.isEmpty ? "" : ": " + moved.joined(separator: " "))")
    }
}

struct Enqueue: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Add configs you already know to a sweep, to run before its plan; samplers learn from their results as from their own.")

    @OptionGroup var store: StoreOptions
    @Argument(help: "Config files: YAML mappings of the sweep's keys to values, e.g. {loss: focal, lr: 0.003}.") var configs: [String]
    @Flag(help: "Run configs outside the sweep's space anyway (marked on the board, left out of the samplers' model).") var force = false

    func validate() throws {
        if configs.isEmpty { throw ValidationError("give at least one config file") }
    }

    func run() throws {
        let writer = try SweepStore.openExisting(path: store.db)
        guard let sweep = try writer.sweep() else { throw ValidationError("\(store.db) holds no sweep yet: launch or run it first") }
        let spec = try writer.spec(of: sweep)
        let space = SearchSpace(spec: spec)
        // Every file is checked before any is added: one bad file adds nothing.
        var accepted: [(file: String, config: TrialConfig, forced: Bool)] = [], refusals: [String] = []
        for file in configs {
            let (config, problems) = space.enqueued(try EnqueueFile.read(URL(fileURLWithPath: file)))
            let refused = problems.filter { !(force && $0.forceable) }
            refusals += refused.map { "\(file): \($0)" + ($0.forceable ? " (--force runs it anyway)" : "") }
            if refused.isEmpty, let config { accepted.append((file, config, !problems.isEmpty)) }
        }
        guard refusals.isEmpty else { throw ValidationError("nothing enqueued:\n" + refusals.joined(separator: "\n")) }
        for (file, config, forced) in accepted {
            let line =
                switch try writer.enqueue(config, forced: forced, repeats: spec.repeats) {
                case .added(let number): "added as trial #\(number)\(spec.repeats > 1 ? "…#\(number + spec.repeats - 1)" : "")"
                case .movedUp(let number): "already planned as trial #\(number): now runs first"
                case .alreadyThere(let number, let state): "already in the sweep as trial #\(number) (\(state.rawValue)): nothing to do"
                }
            print("\(file): \(line)\(forced ? ", forced: outside the sweep's space" : "")")
        }
    }
}

extension ParsableCommand {
    /// The ids of the trials named on the command line (id, unique prefix or number), found in one read.
    static func ids(of references: [String], in store: SweepStore) throws -> [String] {
        guard !references.isEmpty else { return [] }
        let every = try store.trials()
        return try references.map { try TrialSnapshot.find($0, in: every).id }
    }
}

struct Cancel: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Cancel waiting or running trials.")

    @OptionGroup var store: StoreOptions
    @Flag(help: "Every waiting or running trial.") var all = false
    @Argument(help: "Trials (id, unique prefix or number).") var trials: [String] = []

    func validate() throws {
        if all == !trials.isEmpty { throw ValidationError("give --all or trial ids, not both and not neither") }
    }

    func run() throws {
        let writer = try SweepStore.openExisting(path: store.db)
        let ids = try Self.ids(of: trials, in: writer)
        let cancelled = try writer.cancel(trials: all ? nil : ids)
        print(
            "\(cancelled.count) trial\(cancelled.count == 1 ? "" : "s") cancelled\(cancelled.isEmpty ? "" : ": " + cancelled.joined(separator: " "))"
        )
    }
}

/// `sweep plan --format json` (contract in docs/cli.md): the trials planned up front and, with
/// `--db`, how they compare with the store's.
struct PlanDocument: Encodable {
    struct Trial: Encodable {
        var id: String
        var number: Int
        var seed: Int
        var config: [String: ConfigValue]
        var variant: String?
    }

    var count: Int
    var trials: [Trial]
    var new: Int?
    var kept: Int?
    var retired: Int?
    /// TPE's configs beyond those planned up front.
    var proposedLater: Int?

    enum CodingKeys: String, CodingKey { case count, trials, new, kept, retired, proposedLater = "proposed_later" }
}
