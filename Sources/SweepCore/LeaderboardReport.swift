import Foundation
import Synchronization
import Vocabulary

/// Renders the leaderboard as a table (fitted to a width by dropping low-priority columns), CSV or JSON.
public struct LeaderboardReport {
    public var trials: [TrialSnapshot]
    public var ranking: Ranking
    public var popularity: [String: [String: Double]]?
    /// Rows at most (nil: every row).
    public var top: Int?
    /// Include trials that did not complete (unranked, with their state).
    public var all: Bool
    /// Table width to fit.
    public var width: Int
    /// Epochs trained against the budget, for the footer (none when nil).
    public var epochs: EpochTotals?

    public init(
        trials: [TrialSnapshot], ranking: Ranking, popularity: [String: [String: Double]]?, top: Int? = nil,
        all: Bool = false, width: Int = 100, epochs: EpochTotals? = nil
    ) {
        self.trials = trials
        self.ranking = ranking
        self.popularity = popularity
        // Fewer than none is none: a count from a request or a file never reaches `prefix` negative.
        self.top = top.map { max($0, 0) }
        self.all = all
        self.width = width
        self.epochs = epochs
    }

    /// The report of a store's sweep as it stands: its trials, metric, baseline and epoch totals
    /// (what `sweep leaderboard`, `run`/`launch` at their end and the dashboard all show).
    public init(_ sweep: SweepRecord, store source: some SweepSource, top: Int? = nil, all: Bool = false) throws {
        let trials = try source.trials()
        self.init(
            trials: trials, ranking: sweep.ranking, popularity: sweep.popularity, top: top, all: all,
            epochs: try source.store.epochTotals(of: trials))
    }

    /// Config keys whose values differ between the trials shown (seed excluded: it is the repeat).
    public var varyingKeys: [String] {
        // One pass over the trials, each compared with the first position by position (a
        // dashboard asks this of 10,000 trials on every refresh: by key, hashing took 20 ms),
        // through each trial's facts (a computed property of an element copies the element).
        let keys = configKeys, builtIn = !trials.contains { $0.facts.config.isProgram }
        func values(_ index: Int) -> [ConfigValue?] {
            builtIn ? trials[index].facts.keyedValues : keys.map { trials[index].facts.activeValues[$0] }
        }
        let shown = trials.indices.lazy.filter { self.all || self.trials[$0].state == .completed }
        guard let first = shown.first else { return [] }
        let reference = values(first)
        var varies = [Bool](repeating: false, count: keys.count)
        for index in shown.dropFirst() {
            let row = values(index)
            for position in keys.indices where !varies[position] {
                switch (row[position], reference[position]) {
                case (nil, nil): break
                case let (value?, expected?): varies[position] = !value.sameValue(as: expected)
                default: varies[position] = true
                }
            }
        }
        return keys.indices.filter { varies[$0] && keys[$0] != "seed" }.map { keys[$0] }
    }

    /// The config keys in order: `ml.md`'s, or the programs' own (by name) for a program sweep.
    var configKeys: [String] {
        var programKeys = Set<String>()
        for index in trials.indices { if let keys = trials[index].facts.config.programKeys { programKeys.formUnion(keys.keys) } }
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
        let values = Set(shownTrials.compactMap { $0.facts.config.isActive(key) ? $0.facts.config.value(key)?.description : nil })
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
        seconds < 60
            ? String(format: "%.1fs", seconds)
            : seconds < 3600 ? String(format: "%.1fm", seconds / 60) : String(format: "%.1fh", seconds / 3600)
    }

    // MARK: Per trial

    /// Ranked completed trials; with `all`, then pruned ones by their primary objective at the
    /// epoch they reached (best first, as Optuna ranks a pruned trial below completed ones), then
    /// the rest.
    public func trialRows() -> [(rank: Int?, trial: TrialSnapshot, standing: Standing?)] {
        var rows = Leaderboard.rank(trials, ranking: ranking, top: top).map {
            (rank: Optional($0.rank), trial: $0.trial, standing: Optional($0.standing))
        }
        if all {
            let primary = ranking.primary
            func score(_ trial: TrialSnapshot) -> Double { trial.result?.valid[primary.metric].map(primary.score) ?? Objective.worstScore }
            let pruned = trials.filter { $0.state == .pruned }.sorted {
                let (a, b) = (score($0), score($1))
                return a > b || (a == b && $0.number < $1.number)
            }
            let ranked = Set(rows.map(\.trial.number))
            rows += pruned.map { (rank: nil, trial: $0, standing: nil) }
            rows += trials.filter { $0.state != .pruned && !ranked.contains($0.number) }.map { (rank: nil, trial: $0, standing: nil) }
        }
        return top.map { Array(rows.prefix($0)) } ?? rows
    }

    /// The hypervolume of the feasible trials' front with several objectives, against
    /// ``Ranking/referenceScores(observed:)``; nil with one objective.
    public var hypervolume: Double? {
        guard ranking.isMultiObjective else { return nil }
        return Leaderboard.hypervolume(trials, ranking: ranking)
    }

    /// How a config stands against the best, as a cell: `best`, `≈` (no difference at the 5%
    /// level), empty (worse), or `n<2` when fewer than 2 shared seeds allow no test at all.
    public static func versusBestCell(_ config: RankedConfig) -> String {
        if config.rank == 1 { return "best" }
        switch config.tiesBest {
        case true?: return "≈"
        case false?: return ""
        case nil: return "n<2"
        }
    }

    /// How a config stands with several objectives: `✓` when no other config dominates it with
    /// confidence, empty when one does, `n<2` when it has too few seeds to say.
    public static func confidenceCell(_ config: RankedConfig) -> String {
        switch config.confidentlyNonDominated {
        case true?: "✓"
        case false?: ""
        case nil: "n<2"
        }
    }

    /// A row's constraints as a cell: `ok`, or `infeasible 0.0123` (the total violation).
    public static func violationCell(_ standing: Standing) -> String {
        standing.isFeasible ? "ok" : "infeasible " + number(standing.violation)
    }

    /// A trial's state as a cell: a pruned trial with the epoch it reached.
    public static func stateCell(_ trial: TrialSnapshot) -> String {
        trial.state == .pruned ? "pruned@\(trial.stoppedAt.map(String.init) ?? "?")" : trial.state.rawValue
    }

    /// The rows of the board: ranked trials (with `all`, the others after them), or configs.
    public func rows(byConfig: Bool) -> [BoardRow] {
        guard byConfig else { return trialRows().map { BoardRow.trial(rank: $0.rank, $0.trial, $0.standing) } }
        let configs = Leaderboard.rankConfigs(trials, ranking: ranking)
        return (top.map { Array(configs.prefix($0)) } ?? configs).map(BoardRow.config)
    }

    /// The board's columns, the one definition the terminal table, its CSV and the dashboard's
    /// page share: per trial (rank, number, id, state with `all`, variant, the varying keys, the
    /// metric on valid and test, epoch, time, diagnostics, worker) or per config (rank, standing
    /// against the best, variant, keys, mean ± 95% CI, seeds, test, p-value, diagnostics). The
    /// collapse diagnostics are the built-in trainer's: left out when no row has them.
    public func columns(byConfig: Bool, rows: [BoardRow]) -> [BoardColumn] {
        let ranking = ranking, variants = trials.contains { $0.variant != nil }
        let multi = ranking.isMultiObjective, constrained = !ranking.constraints.isEmpty
        let keys = varyingKeys.enumerated().map { index, key in
            BoardColumn(
                name: key, priority: self.priority(of: key, index), rightAligned: false, value: { $0.trial.activeValues[key] },
                text: { $0.trial.activeValues[key]?.description ?? "–" }, isConfigKey: true)
        }
        var columns: [BoardColumn]
        if byConfig {
            func config(_ row: BoardRow) -> RankedConfig? { if case .config(let config) = row { config } else { nil } }
            columns = [BoardColumn(name: "rank", priority: 100, rightAligned: true) { config($0).map { .int($0.rank) } }]
            if multi {
                columns += [
                    BoardColumn(name: "front", priority: 97, rightAligned: true) { config($0)?.standing.front.map(ConfigValue.int) },
                    BoardColumn(
                        name: "", priority: 96, rightAligned: false,
                        value: { config($0).map { .string(Self.confidenceCell($0)) } }, text: { config($0).map(Self.confidenceCell) ?? "" }),
                ]
            } else {
                columns.append(
                    BoardColumn(
                        name: "", priority: 97, rightAligned: false, value: { config($0).map { .string(Self.versusBestCell($0)) } },
                        text: { config($0).map(Self.versusBestCell) ?? "" }))
            }
            if variants {
                columns.append(BoardColumn(name: "variant", priority: 80, rightAligned: false) { $0.trial.variant.map(ConfigValue.string) })
            }
            // Configs the user enqueued say so; `forced` ones lie outside the sweep's space.
            if rows.contains(where: { $0.trial.origin?.sampler == .enqueued }) {
                columns.append(
                    BoardColumn(name: "enqueued", priority: 85, rightAligned: false) { row in
                        row.trial.origin.flatMap { $0.sampler == .enqueued ? .string($0.forced == true ? "forced" : "yes") : nil }
                    })
            }
            columns += keys
            for (position, objective) in ranking.objectives.enumerated() {
                let metric = objective.metric
                columns.append(
                    BoardColumn(
                        name: "valid \(metric)", priority: 98 - position, rightAligned: true,
                        value: { config($0)?.validMean[metric].map(ConfigValue.double) },
                        text: { row in
                            config(row).map {
                                Self.number($0.validMean[metric]) + ($0.ci95s[position].map { " ± " + String(format: "%.4f", $0) } ?? "")
                            } ?? "–"
                        }))
            }
            columns.append(BoardColumn(name: "n", priority: 96, rightAligned: true) { config($0).map { .int($0.n) } })
            for (position, objective) in ranking.objectives.enumerated() {
                let metric = objective.metric
                columns.append(
                    BoardColumn(name: "test \(metric)", priority: 90 - position, rightAligned: true) {
                        config($0)?.testMean[metric].map(ConfigValue.double)
                    })
            }
            if constrained {
                columns.append(
                    BoardColumn(
                        name: "violation", priority: 94, rightAligned: true, value: { config($0).map { .double($0.standing.violation) } },
                        text: { config($0).map { Self.violationCell($0.standing) } ?? "" }))
            }
            if !multi {
                columns.append(
                    BoardColumn(
                        name: "p vs best", priority: 50, rightAligned: true,
                        value: { config($0)?.pValueVersusBest.map(ConfigValue.double) },
                        text: { config($0)?.pValueVersusBest.map { String(format: "%.3f", $0) } ?? "–" }))
            }
            columns += [
                BoardColumn(name: "cov@10", priority: 25, rightAligned: true) {
                    config($0)?.testMean["coverage@10"].map(ConfigValue.double)
                }
            ]
        } else {
            func rank(_ row: BoardRow) -> Int? { if case .trial(let rank, _, _) = row { rank } else { nil } }
            func standing(_ row: BoardRow) -> Standing? { if case .trial(_, _, let standing) = row { standing } else { nil } }
            columns = [
                BoardColumn(name: "rank", priority: 100, rightAligned: true) { rank($0).map(ConfigValue.int) },
                BoardColumn(name: "#", priority: 99, rightAligned: true) { .int($0.trial.number) },
                BoardColumn(
                    name: "trial", priority: 40, rightAligned: false, value: { .string($0.trial.id) },
                    text: { String($0.trial.id.prefix(8)) }),
            ]
            if multi {
                columns.append(BoardColumn(name: "front", priority: 97, rightAligned: true) { standing($0)?.front.map(ConfigValue.int) })
            }
            if all { columns.append(BoardColumn(name: "state", priority: 95, rightAligned: false) { .string(Self.stateCell($0.trial)) }) }
            if variants {
                columns.append(BoardColumn(name: "variant", priority: 80, rightAligned: false) { $0.trial.variant.map(ConfigValue.string) })
            }
            // Configs the user enqueued say so; `forced` ones lie outside the sweep's space.
            if rows.contains(where: { $0.trial.origin?.sampler == .enqueued }) {
                columns.append(
                    BoardColumn(name: "enqueued", priority: 85, rightAligned: false) { row in
                        row.trial.origin.flatMap { $0.sampler == .enqueued ? .string($0.forced == true ? "forced" : "yes") : nil }
                    })
            }
            columns += keys
            for (position, objective) in ranking.objectives.enumerated() {
                let metric = objective.metric
                columns.append(
                    BoardColumn(name: "valid \(metric)", priority: 98 - position, rightAligned: true) {
                        $0.trial.result?.valid[metric].map(ConfigValue.double)
                    })
            }
            for (position, objective) in ranking.objectives.enumerated() {
                let metric = objective.metric
                columns.append(
                    BoardColumn(name: "test \(metric)", priority: 90 - position, rightAligned: true) {
                        $0.trial.result?.test[metric].map(ConfigValue.double)
                    })
            }
            if constrained {
                columns.append(
                    BoardColumn(
                        name: "violation", priority: 94, rightAligned: true, value: { standing($0).map { .double($0.violation) } },
                        text: { standing($0).map(Self.violationCell) ?? "" }))
            }
            columns += [
                BoardColumn(name: "epoch", priority: 35, rightAligned: true) { $0.trial.result.map { .int($0.bestEpoch) } },
                BoardColumn(
                    name: "time", priority: 30, rightAligned: true, value: { $0.trial.result.map { .double($0.timing.totalSeconds) } },
                    text: { $0.trial.result.map { Self.duration($0.timing.totalSeconds) } ?? "–" }),
                BoardColumn(name: "cov@10", priority: 25, rightAligned: true) {
                    $0.trial.result?.test["coverage@10"].map(ConfigValue.double)
                },
                BoardColumn(name: "pop@10", priority: 20, rightAligned: true) {
                    $0.trial.result?.test["pop_overlap@10"].map(ConfigValue.double)
                },
                // The worker, and with `--gpus` the device the trial ran on.
                BoardColumn(name: "worker", priority: 10, rightAligned: false) {
                    $0.trial.result.map { .string($0.ranOn) }
                },
            ]
        }
        let diagnostics: Set<String> = ["cov@10", "pop@10"]
        return columns.filter { column in !diagnostics.contains(column.name) || rows.contains { column.value($0) != nil } }
    }

    /// The columns with every row's text, for the terminal table and CSV.
    func filledColumns(byConfig: Bool) -> [Column] {
        let rows = rows(byConfig: byConfig)
        return columns(byConfig: byConfig, rows: rows).map {
            Column(name: $0.name, priority: $0.priority(), rightAligned: $0.rightAligned, cells: rows.map($0.text))
        }
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
                throw StoreError(
                    message: "no column \(name); columns: \(columns.map(\.name).filter { !$0.isEmpty }.joined(separator: ", "))")
            }
            return column
        }
    }

    var popularityLine: String? {
        guard let popularity else { return nil }
        return "popularity baseline: "
            + ranking.objectives.map {
                "valid \($0.metric) \(Self.number(popularity["valid"]?[$0.metric])), test \($0.metric) \(Self.number(popularity["test"]?[$0.metric]))"
            }.joined(separator: "; ")
    }

    /// The objectives and constraints, and the front's hypervolume: the header of a board that is
    /// not one metric maximized.
    var rankingLine: String? {
        guard ranking.isMultiObjective || ranking.primary.goal != .maximize || !ranking.constraints.isEmpty else { return nil }
        let objectives = ranking.objectives.map(\.description).joined(separator: ", ")
        return (ranking.isMultiObjective ? "objectives: " : "objective: ") + objectives
            + (ranking.constraints.isEmpty ? "" : "; constraints: " + ranking.constraints.map(\.description).joined(separator: ", "))
            + (hypervolume.map { "; hypervolume of the front: " + String(format: "%.6g", $0) } ?? "")
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
        let columns = filledColumns(byConfig: byConfig)
        let chosen = try names.map { try Self.choose(columns, names: $0) } ?? Self.fit(columns, width: width)
        var lines: [String] = []
        if let rankingLine { lines.append(rankingLine) }
        if !constantKeys.isEmpty { lines.append("constant: " + constantKeys.joined(separator: " ")) }
        lines.append(Self.table(chosen))
        if let popularityLine { lines.append(popularityLine) }
        if let epochsLine { lines.append(epochsLine) }
        return lines.joined(separator: "\n")
    }

    /// Every column, comma-separated, with the baseline as a final comment line.
    public func csv(byConfig: Bool) -> String {
        let columns = filledColumns(byConfig: byConfig)
        func escape(_ text: String) -> String {
            text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" })
                ? "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : text
        }
        var lines = [columns.map { escape($0.name.isEmpty ? "ties_best" : $0.name) }.joined(separator: ",")]
        for row in columns.first?.cells.indices ?? 0..<0 { lines.append(columns.map { escape($0.cells[row]) }.joined(separator: ",")) }
        if let rankingLine { lines.append("# " + rankingLine) }
        if let popularityLine { lines.append("# " + popularityLine) }
        if let epochsLine { lines.append("# " + epochsLine) }
        return lines.joined(separator: "\n")
    }

    /// The JSON contract of docs/cli.md: `{metric, rows, epochs, popularity}`, a row per trial, or
    /// per config with `byConfig`.
    /// With a `cache`, each trial's row is written once and reused while the trial is unchanged
    /// (only its rank is written anew): what lets a dashboard serve a 10,000-row document often.
    public func json(byConfig: Bool, cache: LeaderboardRowCache? = nil) -> String {
        String(decoding: jsonBytes(byConfig: byConfig, cache: cache), as: UTF8.self)
    }

    /// The same document as UTF-8 bytes (what a server sends, without a string in between).
    public func jsonBytes(byConfig: Bool, cache: LeaderboardRowCache? = nil) -> [UInt8] {
        var writer = JSONByteWriter.pretty(capacity: 1 << 16)
        writer.beginObject()
        writer.key("epochs")
        if let epochs {
            writer.beginObject()
            writer.key("budget"); writer.integer(epochs.budget)
            writer.key("saved"); writer.integer(epochs.saved)
            writer.key("trained"); writer.integer(epochs.trained)
            writer.endObject()
        } else {
            writer.null()
        }
        writer.key("hypervolume"); writer.numberOrNull(hypervolume)
        writer.key("metric"); writer.string(ranking.primary.metric)
        writer.key("objectives")
        writer.beginArray()
        for objective in ranking.objectives {
            writer.beginObject()
            writer.key("goal"); writer.string(objective.goal.rawValue)
            writer.key("name"); writer.string("valid_" + objective.metric)
            writer.endObject()
        }
        writer.endArray()
        writer.key("popularity")
        if let popularity {
            writer.beginObject()
            for split in popularity.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
                writer.key(split); writer.numbersOrNull(popularity[split]!)
            }
            writer.endObject()
        } else {
            writer.null()
        }
        writer.key("rows")
        writer.beginArray()
        if byConfig {
            let configs = Leaderboard.rankConfigs(trials, ranking: ranking)
            for config in top.map({ Array(configs.prefix($0)) }) ?? configs {
                writer.beginObject()
                writer.key("ci95"); writer.numberOrNull(config.ci95)
                if ranking.isMultiObjective {
                    writer.key("ci95s")
                    writer.beginArray()
                    for ci in config.ci95s { writer.numberOrNull(ci) }
                    writer.endArray()
                }
                writer.key("config"); Self.write(config.trials[0].activeValues, dropSeed: true, to: &writer)
                if ranking.isMultiObjective {
                    writer.key("confidently_non_dominated")
                    if let mark = config.confidentlyNonDominated { writer.bool(mark) } else { writer.null() }
                    writer.key("front"); writer.integerOrNull(config.standing.front)
                }
                writer.key("n"); writer.integer(config.n)
                writer.key("p_value_vs_best"); writer.numberOrNull(config.pValueVersusBest)
                writer.key("rank"); writer.integer(config.rank)
                writer.key("test"); writer.numbersOrNull(config.testMean)
                writer.key("ties_best")
                if let ties = config.tiesBest { writer.bool(ties) } else { writer.null() }
                writer.key("trials"); writer.strings(config.trials.map(\.id))
                writer.key("valid"); writer.numbersOrNull(config.validMean)
                if let variant = config.trials[0].variant { writer.key("variant"); writer.string(variant) }
                if !ranking.constraints.isEmpty { writer.key("violation"); writer.numberOrNull(config.standing.violation) }
                writer.endObject()
            }
        } else {
            let rows = trialRows()
            if let cache {
                cache.write(rows, to: &writer)
            } else {
                for row in rows { Self.writeRow(row.trial, rank: row.rank, standing: row.standing, to: &writer) }
            }
        }
        writer.endArray()
        writer.endObject()
        return writer.bytes
    }

    /// A trial's row; returns where its rank's value is in the writer's bytes. `front` is written
    /// for a trial on a front (several objectives), `violation` for an infeasible one.
    @discardableResult
    static func writeRow(_ trial: TrialSnapshot, rank: Int?, standing: Standing?, to writer: inout JSONByteWriter) -> Range<Int> {
        writer.beginObject()
        writer.key("best_epoch"); writer.integerOrNull(trial.result?.bestEpoch)
        writer.key("config"); write(trial.activeValues, dropSeed: false, to: &writer)
        if let front = standing?.front { writer.key("front"); writer.integer(front) }
        writer.key("number"); writer.integer(trial.number)
        writer.key("rank")
        let rankStart = writer.bytes.count
        writer.integerOrNull(rank)
        let rankEnd = writer.bytes.count
        writer.key("state"); writer.string(trial.state.rawValue)
        if let stoppedAt = trial.stoppedAt { writer.key("stopped_at"); writer.integer(stoppedAt) }
        writer.key("test"); writer.numbersOrNull(trial.result?.test ?? [:])
        writer.key("trial"); writer.string(trial.id)
        writer.key("valid"); writer.numbersOrNull(trial.result?.valid ?? [:])
        if let variant = trial.variant { writer.key("variant"); writer.string(variant) }
        if let standing, !standing.isFeasible { writer.key("violation"); writer.numberOrNull(standing.violation) }
        writer.key("worker"); writer.string(trial.result?.ranOn ?? "")
        writer.endObject()
        return rankStart..<rankEnd
    }

    /// A config's active keys as an object, keys in byte order.
    static func write(_ activeValues: [String: ConfigValue], dropSeed: Bool, to writer: inout JSONByteWriter) {
        writer.beginObject()
        for (key, value) in activeValues.sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) })
        where !(dropSeed && key == "seed") {
            writer.key(key)
            writer.value(value)
        }
        writer.endObject()
    }
}

/// The leaderboard document's trial rows as written last time, for ``LeaderboardReport/json(byConfig:cache:)``:
/// a row depends on the trial's state, result, stop epoch and standing (its front moves only with
/// several objectives), and on its rank, which is written apart, so a finished trial's row is
/// written once.
public final class LeaderboardRowCache: Sendable {
    /// What a row was written from.
    struct Version: Equatable {
        var id: String
        var state: TrialState
        var result: ResultKey?
        var stoppedAt: Int?
        var standing: Standing?

        init(_ trial: TrialSnapshot, standing: Standing?) {
            self.standing = standing
            id = trial.id
            state = trial.state
            result = trial.result.map {
                ResultKey(trial: trial.number, attempt: $0.attempt, finishedAt: $0.finishedAt.timeIntervalSince1970)
            }
            stoppedAt = trial.stoppedAt
        }
    }

    /// A row's bytes at the rows' depth, with its rank's value cut out.
    struct Row {
        var version: Version
        var beforeRank: ArraySlice<UInt8>
        var afterRank: ArraySlice<UInt8>
    }

    private let rows = Mutex<[Int: Row]>([:])

    public init() {}

    /// Writes the rows, each from the cache while its trial is unchanged.
    func write(_ rows: [(rank: Int?, trial: TrialSnapshot, standing: Standing?)], to writer: inout JSONByteWriter) {
        self.rows.withLock { cached in
            let size = cached.values.first.map { $0.beforeRank.count + $0.afterRank.count + 8 } ?? 1024
            writer.reserve(size * rows.count)
            for (rank, trial, standing) in rows {
                let version = Version(trial, standing: standing)
                if cached[trial.number]?.version != version {
                    var fragment = JSONByteWriter.pretty(capacity: 1024, baseDepth: 2)
                    let rankRange = LeaderboardReport.writeRow(trial, rank: nil, standing: standing, to: &fragment)
                    cached[trial.number] = Row(
                        version: version, beforeRank: fragment.bytes[..<rankRange.lowerBound],
                        afterRank: fragment.bytes[rankRange.upperBound...])
                }
                let row = cached[trial.number]!
                writer.fragment(row.beforeRank, rank, row.afterRank)
            }
        }
    }
}

/// One row of the board: a ranked trial (no rank for the unranked ones `all` adds), or a config
/// ranked over its seeds.
public enum BoardRow: Sendable {
    case trial(rank: Int?, TrialSnapshot, Standing?)
    case config(RankedConfig)

    /// The trial whose config and variant the row shows (a config's first seed).
    public var trial: TrialSnapshot {
        switch self {
        case .trial(_, let trial, _): trial
        case .config(let config): config.trials[0]
        }
    }
}

/// A column of the board (``LeaderboardReport/columns(byConfig:rows:)``): its header, how long it
/// survives in a narrow terminal, and each row's value (what the page sorts by) and text.
public struct BoardColumn {
    public let name: String
    /// Worked out only for a terminal table (a key's counts its values over every trial).
    let priority: () -> Int
    let rightAligned: Bool
    public let value: (BoardRow) -> ConfigValue?
    public let text: (BoardRow) -> String
    /// Whether it is a config key's column (one of ``LeaderboardReport/varyingKeys``).
    public let isConfigKey: Bool

    init(
        name: String, priority: @autoclosure @escaping () -> Int, rightAligned: Bool, value: @escaping (BoardRow) -> ConfigValue?,
        text: @escaping (BoardRow) -> String, isConfigKey: Bool = false
    ) {
        (self.name, self.priority, self.rightAligned, self.value, self.text) = (name, priority, rightAligned, value, text)
        self.isConfigKey = isConfigKey
    }

    /// A column whose text is its value: numbers to 4 decimals, `–` for none.
    init(name: String, priority: Int, rightAligned: Bool, value: @escaping (BoardRow) -> ConfigValue?) {
        self.init(name: name, priority: priority, rightAligned: rightAligned, value: value) { row in
            switch value(row) {
            case nil: "–"
            case .double(let number)?: LeaderboardReport.number(number)
            case let value?: value.description
            }
        }
    }
}
