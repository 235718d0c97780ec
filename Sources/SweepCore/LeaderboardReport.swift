import Foundation
import ML

/// Renders the leaderboard as a table (fitted to a width by dropping low-priority columns), CSV or JSON.
public struct LeaderboardReport {
    public var trials: [TrialSnapshot]
    public var metric: String
    public var popularity: [String: [String: Double]]?
    /// Rows at most (nil: every row).
    public var top: Int?
    /// Include trials that did not complete (unranked, with their state).
    public var all: Bool
    /// Table width to fit.
    public var width: Int
    /// Epochs trained against the budget, for the footer (none when nil).
    public var epochs: EpochTotals?

    public init(trials: [TrialSnapshot], metric: String, popularity: [String: [String: Double]]?, top: Int? = nil,
                all: Bool = false, width: Int = 100, epochs: EpochTotals? = nil) {
        self.trials = trials
        self.metric = metric
        self.popularity = popularity
        self.top = top
        self.all = all
        self.width = width
        self.epochs = epochs
    }

    /// Config keys whose values differ between the trials shown (seed excluded: it is the repeat).
    public var varyingKeys: [String] {
        configKeys.filter { key in
            key != "seed" && Set(shownTrials.map { $0.config.isActive(key) ? $0.config.value(key)?.description ?? "" : "–" }).count > 1
        }
    }

    /// The config keys in order: `ml.md`'s, or the programs' own (by name) for a program sweep.
    var configKeys: [String] {
        let programKeys = Set(trials.flatMap { $0.config.programKeys?.keys.map { $0 } ?? [] })
        return programKeys.isEmpty ? TrialConfig.keys : programKeys.sorted() + ["seed"]
    }

    /// Keys with one value across every trial shown, as `key=value`.
    public var constantKeys: [String] {
        let varying = Set(varyingKeys)
        guard let first = shownTrials.first else { return [] }
        return first.config.activeValues.filter { !varying.contains($0.key) && $0.key != "seed" }.map { "\($0.key)=\($0.value)" }
    }

    var shownTrials: [TrialSnapshot] { all ? trials : trials.filter { $0.state == .completed } }

    /// Keys taking several values outrank keys that only come and go with another key (such as
    /// `focal_alpha` at its default, present only with the focal loss).
    func priority(of key: String, _ index: Int) -> Int {
        let values = Set(shownTrials.filter { $0.config.isActive(key) }.compactMap { $0.config.value(key)?.description })
        return (values.count > 1 ? 70 : 45) - index
    }

    /// A table column: header, priority (higher survives longer), and each row's text.
    struct Column {
        var name: String
        var priority: Int
        var rightAligned: Bool
        var cells: [String]
    }

    static func number(_ value: Double?) -> String { value.map { String(format: "%.4f", $0) } ?? "–" }

    /// A short human duration: 12.3s, 4.5m, 1.2h.
    public static func duration(_ seconds: Double) -> String {
        seconds < 60 ? String(format: "%.1fs", seconds) : seconds < 3600 ? String(format: "%.1fm", seconds / 60) : String(format: "%.1fh", seconds / 3600)
    }

    // MARK: Per trial

    /// Ranked completed trials; with `all`, then pruned ones by their value at the epoch they
    /// reached (best first, as Optuna ranks a pruned trial below completed ones), then the rest.
    func trialRows() -> [(rank: Int?, trial: TrialSnapshot)] {
        let ranked = Leaderboard.rank(trials, metric: metric).map { (rank: Optional($0.rank), trial: $0.trial) }
        var rows = ranked
        if all {
            let pruned = trials.filter { $0.state == .pruned }.sorted {
                let (a, b) = ($0.result?.valid[metric] ?? -.infinity, $1.result?.valid[metric] ?? -.infinity)
                return a > b || (a == b && $0.number < $1.number)
            }
            rows += pruned.map { (rank: nil, trial: $0) }
            rows += trials.filter { $0.state != .pruned && ($0.state != .completed || $0.result == nil) }.map { (rank: nil, trial: $0) }
        }
        return top.map { Array(rows.prefix($0)) } ?? rows
    }

    /// A trial's state as a cell: a pruned trial with the epoch it reached.
    static func stateCell(_ trial: TrialSnapshot) -> String {
        trial.state == .pruned ? "pruned@\(trial.stoppedAt.map(String.init) ?? "?")" : trial.state.rawValue
    }

    func trialColumns() -> [Column] {
        let rows = trialRows()
        var columns = [
            Column(name: "rank", priority: 100, rightAligned: true, cells: rows.map { $0.rank.map(String.init) ?? "–" }),
            Column(name: "#", priority: 99, rightAligned: true, cells: rows.map { String($0.trial.number) }),
            Column(name: "trial", priority: 40, rightAligned: false, cells: rows.map { String($0.trial.id.prefix(8)) }),
        ]
        if all { columns.append(Column(name: "state", priority: 95, rightAligned: false, cells: rows.map { Self.stateCell($0.trial) })) }
        if trials.contains(where: { $0.variant != nil }) {
            columns.append(Column(name: "variant", priority: 80, rightAligned: false, cells: rows.map { $0.trial.variant ?? "–" }))
        }
        for (index, key) in varyingKeys.enumerated() {
            columns.append(Column(name: key, priority: priority(of: key, index), rightAligned: false, cells: rows.map {
                $0.trial.config.isActive(key) ? $0.trial.config.value(key)?.description ?? "–" : "–"
            }))
        }
        columns += [
            Column(name: "valid \(metric)", priority: 98, rightAligned: true, cells: rows.map { Self.number($0.trial.result?.valid[metric]) }),
            Column(name: "test \(metric)", priority: 90, rightAligned: true, cells: rows.map { Self.number($0.trial.result?.test[metric]) }),
            Column(name: "epoch", priority: 35, rightAligned: true, cells: rows.map { $0.trial.result.map { String($0.bestEpoch) } ?? "–" }),
            Column(name: "time", priority: 30, rightAligned: true, cells: rows.map { $0.trial.result.map { Self.duration($0.seconds) } ?? "–" }),
            Column(name: "cov@10", priority: 25, rightAligned: true, cells: rows.map { Self.number($0.trial.result?.test["coverage@10"]) }),
            Column(name: "pop@10", priority: 20, rightAligned: true, cells: rows.map { Self.number($0.trial.result?.test["pop_overlap@10"]) }),
            Column(name: "worker", priority: 10, rightAligned: false, cells: rows.map { $0.trial.result?.worker ?? "–" }),
        ]
        return withoutEmptyDiagnostics(columns)
    }

    /// The collapse diagnostics are the built-in trainer's: a program sweep's table has none.
    func withoutEmptyDiagnostics(_ columns: [Column]) -> [Column] {
        let diagnostics: Set<String> = ["cov@10", "pop@10"]
        return columns.filter { !diagnostics.contains($0.name) || $0.cells.contains { $0 != "–" } }
    }

    // MARK: Per config

    func configColumns() -> [Column] {
        let configs = top.map { Array(Leaderboard.rankConfigs(trials, metric: metric).prefix($0)) } ?? Leaderboard.rankConfigs(trials, metric: metric)
        var columns = [
            Column(name: "rank", priority: 100, rightAligned: true, cells: configs.map { String($0.rank) }),
            Column(name: "", priority: 97, rightAligned: false, cells: configs.map { $0.rank == 1 ? "best" : $0.tiesBest ? "≈" : "" }),
        ]
        if trials.contains(where: { $0.variant != nil }) {
            columns.append(Column(name: "variant", priority: 80, rightAligned: false, cells: configs.map { $0.trials[0].variant ?? "–" }))
        }
        for (index, key) in varyingKeys.enumerated() {
            columns.append(Column(name: key, priority: priority(of: key, index), rightAligned: false, cells: configs.map {
                $0.trials[0].config.isActive(key) ? $0.trials[0].config.value(key)?.description ?? "–" : "–"
            }))
        }
        columns += [
            Column(name: "valid \(metric)", priority: 98, rightAligned: true, cells: configs.map {
                Self.number($0.validMean[metric]) + ($0.ci95.map { " ± " + String(format: "%.4f", $0) } ?? "")
            }),
            Column(name: "n", priority: 96, rightAligned: true, cells: configs.map { String($0.n) }),
            Column(name: "test \(metric)", priority: 90, rightAligned: true, cells: configs.map { Self.number($0.testMean[metric]) }),
            Column(name: "p vs best", priority: 50, rightAligned: true, cells: configs.map { $0.pValueVersusBest.map { String(format: "%.3f", $0) } ?? "–" }),
            Column(name: "cov@10", priority: 25, rightAligned: true, cells: configs.map { Self.number($0.testMean["coverage@10"]) }),
        ]
        return withoutEmptyDiagnostics(columns)
    }

    /// Drops the lowest-priority columns until the table fits `width`.
    static func fit(_ columns: [Column], width: Int) -> [Column] {
        var kept = columns
        func tableWidth(_ columns: [Column]) -> Int {
            columns.map { ([$0.name] + $0.cells).map(\.count).max() ?? 0 }.reduce(0, +) + 2 * max(columns.count - 1, 0)
        }
        while tableWidth(kept) > width, kept.count > 2, let lowest = kept.indices.min(by: { kept[$0].priority < kept[$1].priority }) {
            kept.remove(at: lowest)
        }
        return kept
    }

    static func table(_ columns: [Column]) -> String {
        let widths = columns.map { ([$0.name] + $0.cells).map(\.count).max() ?? 0 }
        func line(_ cells: [String]) -> String {
            zip(zip(cells, widths), columns).map { pair, column in
                let (cell, width) = pair
                let pad = String(repeating: " ", count: max(width - cell.count, 0))
                return column.rightAligned ? pad + cell : cell + pad
            }.joined(separator: "  ").replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
        }
        let rows = columns.first?.cells.indices.map { row in line(columns.map { $0.cells[row] }) } ?? []
        return ([line(columns.map(\.name))] + rows).joined(separator: "\n")
    }

    /// Picks the named columns, in that order (for `--columns`); unknown names are an error.
    static func choose(_ columns: [Column], names: [String]) throws -> [Column] {
        try names.map { name in
            guard let column = columns.first(where: { $0.name == name }) else {
                throw StoreError(message: "no column \(name); columns: \(columns.map(\.name).filter { !$0.isEmpty }.joined(separator: ", "))")
            }
            return column
        }
    }

    var popularityLine: String? {
        guard let popularity else { return nil }
        return "popularity baseline: valid \(metric) \(Self.number(popularity["valid"]?[metric])), test \(metric) \(Self.number(popularity["test"]?[metric]))"
    }

    /// The footer: epochs trained against the full budget, and what early stopping saved.
    var epochsLine: String? {
        guard let epochs, epochs.budget > 0 else { return nil }
        let share = String(format: "%.0f%%", 100 * Double(epochs.trained) / Double(epochs.budget))
        let pruned = trials.filter { $0.state == .pruned }.count
        return "epochs trained: \(epochs.trained) of \(epochs.budget) budgeted (\(share))"
            + (pruned > 0 ? "; early stopping pruned \(pruned) trial\(pruned == 1 ? "" : "s") and saved \(epochs.saved) epochs" : "")
    }

    /// The table for a terminal: a header with the constant keys, the rows, the baseline line.
    public func table(byConfig: Bool, columns names: [String]? = nil) throws -> String {
        let columns = byConfig ? configColumns() : trialColumns()
        let chosen = try names.map { try Self.choose(columns, names: $0) } ?? Self.fit(columns, width: width)
        var lines: [String] = []
        if !constantKeys.isEmpty { lines.append("constant: " + constantKeys.joined(separator: " ")) }
        lines.append(Self.table(chosen))
        if let popularityLine { lines.append(popularityLine) }
        if let epochsLine { lines.append(epochsLine) }
        return lines.joined(separator: "\n")
    }

    /// Every column, comma-separated, with the baseline as a final comment line.
    public func csv(byConfig: Bool) -> String {
        let columns = byConfig ? configColumns() : trialColumns()
        func escape(_ text: String) -> String {
            text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) ? "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : text
        }
        var lines = [columns.map { escape($0.name.isEmpty ? "ties_best" : $0.name) }.joined(separator: ",")]
        for row in columns.first?.cells.indices ?? 0..<0 { lines.append(columns.map { escape($0.cells[row]) }.joined(separator: ",")) }
        if let popularityLine { lines.append("# " + popularityLine) }
        if let epochsLine { lines.append("# " + epochsLine) }
        return lines.joined(separator: "\n")
    }

    /// The JSON contract of docs/cli.md: `{metric, rows, epochs, popularity}`, a row per trial, or
    /// per config with `byConfig`.
    public func json(byConfig: Bool) throws -> String {
        let rows: [[String: Any]]
        if byConfig {
            let configs = Leaderboard.rankConfigs(trials, metric: metric)
            rows = (top.map { Array(configs.prefix($0)) } ?? configs).map { config in
                var object: [String: Any] = [
                    "rank": config.rank, "config": Self.configObject(config.trials[0].config, dropSeed: true),
                    "trials": config.trials.map(\.id), "n": config.n, "valid": config.validMean, "test": config.testMean,
                    "ci95": config.ci95 ?? NSNull(), "p_value_vs_best": config.pValueVersusBest ?? NSNull(), "ties_best": config.tiesBest,
                ]
                if let variant = config.trials[0].variant { object["variant"] = variant }
                return object
            }
        } else {
            rows = trialRows().map { rank, trial in
                var object: [String: Any] = [
                    "rank": rank ?? NSNull(), "trial": trial.id, "number": trial.number, "config": Self.configObject(trial.config, dropSeed: false),
                    "state": trial.state.rawValue, "best_epoch": trial.result?.bestEpoch ?? NSNull(),
                    "valid": trial.result?.valid ?? [:], "test": trial.result?.test ?? [:], "worker": trial.result?.worker ?? "",
                ]
                if let variant = trial.variant { object["variant"] = variant }
                if let stoppedAt = trial.stoppedAt { object["stopped_at"] = stoppedAt }
                return object
            }
        }
        let document: [String: Any] = [
            "metric": metric, "rows": rows, "popularity": popularity ?? NSNull(),
            "epochs": epochs.map { ["trained": $0.trained, "budget": $0.budget, "saved": $0.saved] } ?? NSNull(),
        ]
        let data = try JSONSerialization.data(withJSONObject: document, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self)
    }

    static func configObject(_ config: TrialConfig, dropSeed: Bool) -> [String: Any] {
        var object = config.activeDictionary.mapValues(\.foundationValue)
        if dropSeed { object["seed"] = nil }
        return object
    }
}
