import Foundation
import SweepCore
import Vocabulary

/// The dashboard's pages, rendered on the server from the store's readers. Each page's live part
/// is its `<main>`, which the page's script fetches again every 2 s (`?fragment=1`) and swaps in.
struct Pages {
    let reader: CachedReader
    var store: SweepStore { reader.store }
    /// The prefix of this store's pages: "" when the dashboard serves one store, `/store/N`
    /// when it serves several.
    var base = ""
    /// Dots and lines a chart draws at most: past this a 10,000-trial sweep's charts are thinned
    /// (and say so), so a page stays a few hundred kilobytes.
    static let drawnPoints = 2_000

    /// A whole page around `body` (the `<main>` content): `path` is the page's own address (its
    /// link is marked current); with several stores, `base` is the store's prefix and the bar
    /// links back to the stores compared.
    static func layout(title: String, path: String, body: String, base: String = "", severalStores: Bool = false) -> String {
        var links = [
            (base + "/", "Overview"), (base + "/leaderboard", "Leaderboard"), (base + "/compare", "Compare"),
            (base + "/parameters", "Parameters"), (base + "/pareto", "Pareto"),
        ]
        if severalStores { links = [("/", "Stores")] + (base.isEmpty ? [] : links) }
        let nav = links.map { link, name in
            "<a href=\"\(link)\"\(link == path ? " aria-current=\"page\"" : "")>\(name)</a>"
        }.joined()
        return """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(escape(title)) · sweep</title><link rel="icon" href="/static/icon.svg" type="image/svg+xml"><link rel="stylesheet" href="/static/dashboard.css"></head>
            <body data-updates="0"><header><strong>sweep</strong><nav>\(nav)</nav><span id="live-state" aria-live="polite"></span></header>
            <main id="live">\(body)</main>
            <script src="/static/dashboard.js"></script></body></html>
            """
    }

    // MARK: Overview

    func overview() throws -> (title: String, body: String) {
        guard let sweep = try store.sweep() else { return ("empty", "<p>This store holds no sweep yet.</p>") }
        let status = try SweepStatus.read(reader)
        let trials = try reader.trials()
        var body =
            "<h1>\(escape(sweep.name))</h1><p class=\"lead\">ranked by \(escape(status.rankedBy))"
            + (sweep.program.map { " · program \(escape($0.directory))" } ?? "") + "</p>"
        let unreadable = try reader.unreadableTrials()
        if !unreadable.isEmpty {
            body +=
                "<p class=\"note\" id=\"unreadable\">\(unreadable.count) stored trial\(unreadable.count == 1 ? "'s config" : "s' configs") cannot be read and "
                + "\(unreadable.count == 1 ? "is" : "are") left out of every page: "
                + unreadable.prefix(10).map { escape($0.description) }.joined(separator: "; ") + "</p>"
        }
        let order: [TrialState] = [.waiting, .running, .completed, .pruned, .failed, .diverged, .cancelled, .retired]
        body += "<section class=\"cards\">"
        body += "<div class=\"card\"><h2>Trials</h2><table class=\"data\" id=\"states\"><tbody>"
        for state in order where status.trials[state, default: 0] > 0 {
            body += "<tr data-state=\"\(state.rawValue)\"><th>\(state.rawValue)</th><td>\(status.trials[state]!)</td></tr>"
        }
        if status.notYetProposed > 0 { body += "<tr><th>not yet proposed</th><td>\(status.notYetProposed)</td></tr>" }
        body += "</tbody></table></div>"
        body += "<div class=\"card\"><h2>Progress</h2><dl>"
        body += "<dt>throughput</dt><dd>\(status.trialsPerHour.map { String(format: "%.1f trials/h", $0) } ?? "–")</dd>"
        body += "<dt>ETA</dt><dd>\(status.etaSeconds.map { LeaderboardReport.duration($0) } ?? "–")</dd>"
        body +=
            "<dt>epochs</dt><dd>\(status.epochs.trained) of \(status.epochs.budget) budgeted"
            + (status.epochs.saved > 0 ? "; \(status.epochs.saved) saved by early stopping" : "") + "</dd>"
        body += "<dt>attempts</dt><dd>\(status.attempts)</dd>"
        if let (limits, usage) = status.budget {
            let reached = limits.reached(usage)
            body +=
                "<dt>budget</dt><dd id=\"budget\">"
                + limits.usageLines(usage).map { escape($0.text) + ($0.kind == reached ? " <strong>reached</strong>" : "") }.joined(
                    separator: "<br>") + "</dd>"
        }
        body += "</dl></div></section>"
        if let halt = status.halt { body += "<p class=\"note\" id=\"halted\">No more trials start: \(escape(halt.description))</p>" }
        body +=
            "<h2>Workers</h2><table class=\"data sortable\" id=\"workers\"><thead><tr><th>name</th><th>host</th><th>state</th><th>slots</th><th>trials done</th><th>last seen</th></tr></thead><tbody>"
        let formatter = ISO8601DateFormatter()
        for worker in status.workers {
            body +=
                "<tr data-row><td>\(escape(worker.name))</td><td>\(escape(worker.host))</td><td>\(worker.state.rawValue)</td><td>\(escape(worker.slotsText))</td><td>\(worker.trialsCompleted)</td><td>\(formatter.string(from: worker.lastSeen))</td></tr>"
        }
        body += "</tbody></table>"
        // Optimisation history: each completed trial's value in the order results arrived, and the
        // best so far as steps. Past 2,000 trials the dots are thinned (every k-th, and each new best).
        let objective = sweep.ranking.primary, metric = objective.metric
        let finished = trials.compactMap { trial -> (Date, Double)? in
            guard trial.state == .completed, let result = trial.result, let value = result.valid[metric] else { return nil }
            return (result.finishedAt, value)
        }.sorted { $0.0 < $1.0 }
        var best: Double?, bests: [(x: Double, y: Double)] = [], improvements = Set<Int>()
        for (index, entry) in finished.enumerated() where best.map({ objective.score(entry.1) > objective.score($0) }) ?? true {
            if let best { bests.append((Double(index + 1), best)) }
            best = entry.1
            bests.append((Double(index + 1), entry.1))
            improvements.insert(index)
        }
        if let last = bests.last, Int(last.x) < finished.count { bests.append((Double(finished.count), last.y)) }
        let stride = max(1, (finished.count + Self.drawnPoints - 1) / Self.drawnPoints)
        let values = finished.enumerated().filter { $0.offset % stride == 0 || improvements.contains($0.offset) }
            .map { (x: Double($0.offset + 1), y: $0.element.1) }
        let thinned = stride > 1 ? " (\(values.count) of \(finished.count) drawn: every \(stride)th and each new best)" : ""
        body +=
            LineChart(
                id: "history", title: "Optimisation history: \(objective.label)\(thinned)", xLabel: "completed trials",
                series: [.init(name: "trial", points: values, dotsOnly: true), .init(name: "best so far", points: bests)],
                reference: sweep.popularity?["valid"]?[metric].map { ("popularity baseline", $0) }
            ).html
        if sweep.ranking.isMultiObjective {
            let history = Leaderboard.hypervolumeHistory(trials, ranking: sweep.ranking)
            let stride = max(1, (history.count + Self.drawnPoints - 1) / Self.drawnPoints)
            let points = history.enumerated().filter { $0.offset % stride == 0 || $0.offset == history.count - 1 }
                .map { (x: Double($0.offset + 1), y: $0.element.hypervolume) }
            body +=
                LineChart(
                    id: "hypervolume",
                    title: "Hypervolume of the front: " + (history.last.map { String(format: "%.6g", $0.hypervolume) } ?? "–"),
                    xLabel: "feasible completed trials", series: [.init(name: "hypervolume", points: points)], reference: nil
                ).html
        }
        return (sweep.name, body)
    }

    // MARK: Leaderboard

    /// What the leaderboard page shows: the view (by trial or config, completed or every state),
    /// the filter words, the sort column and how many rows.
    struct LeaderboardQuery {
        var byConfig = false
        var all = false
        /// Words every shown row must contain (state, variant, `key=value`, trial id, worker).
        var filter = ""
        /// A column's name (nil: the ranking).
        var sort: String?
        var descending = false
        /// Rows at most (nil: every row).
        var limit: Int? = Self.defaultRows
        static let defaultRows = 100

        /// This view's address within the store with some parts changed, for links.
        func link(sort: String?? = nil, descending: Bool? = nil, limit: Int?? = nil, byConfig: Bool? = nil, all: Bool? = nil) -> String {
            var parts: [String] = []
            if byConfig ?? self.byConfig { parts.append("by_config=1") }
            if all ?? self.all { parts.append("all=1") }
            if !filter.isEmpty { parts.append("q=" + (filter.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")) }
            if let column = sort ?? self.sort {
                parts.append("sort=" + (column.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""))
            }
            if descending ?? self.descending { parts.append("desc=1") }
            switch limit ?? self.limit {
            case nil: parts.append("rows=all")
            case let rows? where rows != Self.defaultRows: parts.append("rows=\(rows)")
            default: break
            }
            return "/leaderboard" + (parts.isEmpty ? "" : "?" + parts.joined(separator: "&amp;"))
        }
    }

    /// The ranking `sweep leaderboard --format json` prints, as a table: filtered and sorted on
    /// the server (a 10,000-trial sweep sends its top rows, not all of them), each row linking to
    /// its trial and to its trial file.
    func leaderboard(_ query: LeaderboardQuery) throws -> (title: String, body: String) {
        // The completed trials by rank without a filter or a sort: only the rows shown are made
        // (the order is still found over all of them).
        let plain = query.filter.isEmpty && query.sort == nil && !query.all && !query.byConfig
        guard let sweep = try store.sweep() else { return ("empty", "<p>This store holds no sweep yet.</p>") }
        let report = try LeaderboardReport(sweep, store: reader, top: plain ? query.limit : nil, all: query.all)
        let trials = report.trials
        let metric = sweep.ranking.primary.metric
        var rows = report.rows(byConfig: query.byConfig)
        let columns = report.columns(byConfig: query.byConfig, rows: rows)
        let keys = columns.filter(\.isConfigKey).map(\.name)
        let header = columns.map(\.name)
        if let sort = query.sort, !header.contains(sort) {
            throw BadRequest(
                message:
                    "query parameter 'sort' names no column of this board: '\(QueryParameters.shown(sort))'; columns are \(header.filter { !$0.isEmpty }.joined(separator: ", "))"
            )
        }
        /// What the filter matches: variant, `key=value` of each column key; for a trial also its id, state, worker and seed.
        func search(_ row: BoardRow) -> String {
            let trial = row.trial
            var words = [trial.variant ?? ""] + keys.map { key in "\(key)=\(trial.activeValues[key]?.description ?? "–")" }
            if case .trial = row { words += [trial.id, trial.state.rawValue, trial.result?.worker ?? "", "seed=\(trial.config.seed)"] }
            return words.joined(separator: " ").lowercased()
        }
        let total = plain ? trials.indices.count { trials[$0].state == .completed && trials[$0].result?.valid[metric] != nil } : rows.count
        let words = query.filter.lowercased().split(whereSeparator: \.isWhitespace)
        if !words.isEmpty {
            rows = rows.filter { row in
                let text = search(row); return words.allSatisfy { text.contains($0) }
            }
        }
        let matching = words.isEmpty ? total : rows.count
        if let column = query.sort.flatMap({ header.firstIndex(of: $0) }) {
            // Stable, missing values last in either direction.
            let keyed = rows.map { (row: $0, value: columns[column].value($0)) }
            rows = keyed.indices.sorted { i, j in
                switch (keyed[i].value, keyed[j].value) {
                case (nil, nil): return i < j
                case (nil, _): return false
                case (_, nil): return true
                case let (x?, y?):
                    let order = Self.compare(x, y)
                    return order == 0 ? i < j : query.descending ? order > 0 : order < 0
                }
            }.map { keyed[$0].row }
        }
        let shown = query.limit.map { Array(rows.prefix($0)) } ?? rows

        var body = leaderboardIntro(query, sweep: sweep)
        body +=
            "<p class=\"note\" id=\"row-count\">"
            + (shown.count == matching ? "\(matching) rows" : "the first \(shown.count) of \(matching) rows")
            + (matching < total ? " matching the filter (of \(total))" : "")
            + (shown.count < matching ? " · <a href=\"\(base)\(query.link(limit: .some(nil)))\">show all \(matching)</a>" : "") + "</p>"
        body += "<table class=\"data\" id=\"leaderboard\"><thead><tr>" + sortableHeader(header, query)
        body += "</tr></thead><tbody>"
        let trialColumn = header.firstIndex(of: "trial")
        for row in shown {
            var texts = columns.map { escape($0.text(row)) }
            if case .trial(_, let trial, _) = row, let trialColumn {
                let id = escape(trial.id)
                texts[trialColumn] = "<a href=\"\(base)/trial/\(id)\">\(texts[trialColumn])</a>"
                texts.append(trial.result == nil ? "" : exportLink(trial))
                body += "<tr data-row data-trial=\"\(id)\">"
            } else {
                body += "<tr data-row>"
            }
            body += texts.map { "<td>\($0)</td>" }.joined() + "</tr>"
        }
        if let popularity = sweep.popularity { body += baselineRow(popularity, metric: metric, header: header, byConfig: query.byConfig) }
        body += "</tbody></table>"
        if let epochs = report.epochs {
            body +=
                "<p class=\"note\">epochs trained: \(epochs.trained) of \(epochs.budget) budgeted"
                + (epochs.saved > 0 ? "; early stopping saved \(epochs.saved)" : "") + "</p>"
        }
        return ("Leaderboard · \(sweep.name)", body)
    }

    /// The title, the links to the other views and the filter form (keeping the view's settings).
    func leaderboardIntro(_ query: LeaderboardQuery, sweep: SweepRecord) -> String {
        let metric = sweep.ranking.primary.metric
        var body = "<h1>Leaderboard</h1><p class=\"lead\">\(escape(sweep.name)): ranked by valid \(escape(metric)), test beside it"
        body +=
            " · <a href=\"\(base)\(query.link(byConfig: !query.byConfig))\">\(query.byConfig ? "by trial" : "by config (mean ± 95% CI over seeds)")</a>"
        body += " · <a href=\"\(base)\(query.link(all: !query.all))\">\(query.all ? "completed only" : "every state")</a></p>"
        body +=
            "<form class=\"filter\" method=\"get\" action=\"\(base)/leaderboard\">"
            + (query.byConfig ? "<input type=\"hidden\" name=\"by_config\" value=\"1\">" : "")
            + (query.all ? "<input type=\"hidden\" name=\"all\" value=\"1\">" : "")
            + (query.sort.map { "<input type=\"hidden\" name=\"sort\" value=\"\(escape($0))\">" } ?? "")
            + (query.descending ? "<input type=\"hidden\" name=\"desc\" value=\"1\">" : "")
            + "<label>Filter <input id=\"filter\" name=\"q\" type=\"search\" value=\"\(escape(query.filter))\" placeholder=\"state, variant, key=value…\"></label></form>"
        return body
    }

    /// Header cells that sort by their column (again: the other way).
    func sortableHeader(_ header: [String], _ query: LeaderboardQuery) -> String {
        var cells = ""
        for name in header {
            let sorted = query.sort == name
            let arrow = sorted ? (query.descending ? " ▼" : " ▲") : ""
            cells +=
                "<th\(sorted ? " aria-sort=\"\(query.descending ? "descending" : "ascending")\"" : "")><a href=\"\(base)\(query.link(sort: .some(name), descending: sorted && !query.descending))\">\(escape(name))\(arrow)</a></th>"
        }
        return cells + (query.byConfig ? "" : "<th></th>")
    }

    /// The popularity baseline's row, under the valid and test columns.
    func baselineRow(_ popularity: [String: [String: Double]], metric: String, header: [String], byConfig: Bool) -> String {
        var cells = Array(repeating: "", count: header.count + (byConfig ? 0 : 1))
        let validColumn = header.firstIndex(of: "valid \(metric)")!, testColumn = header.firstIndex(of: "test \(metric)")!
        cells[0] = "–"
        cells[min(1, validColumn - 1)] = "popularity baseline"
        cells[validColumn] = format(popularity["valid"]?[metric])
        cells[testColumn] = format(popularity["test"]?[metric])
        return "<tr class=\"baseline\">" + cells.map { "<td>\($0)</td>" }.joined() + "</tr>"
    }

    /// The button that downloads the trial file `sweep export` writes for a trial.
    func exportLink(_ trial: TrialSnapshot) -> String {
        "<a class=\"button\" href=\"\(base)/api/export/\(escape(trial.id))\" download=\"trial-\(escape(String(trial.id.prefix(8)))).yaml\">trial file</a>"
    }

    /// Numbers by value, text by text, numbers before text.
    static func compare(_ a: ConfigValue, _ b: ConfigValue) -> Int {
        switch (a.number, b.number) {
        case let (x?, y?): return x < y ? -1 : x > y ? 1 : 0
        case (_?, nil): return -1
        case (nil, _?): return 1
        case (nil, nil):
            let (x, y) = (a.description, b.description)
            return x < y ? -1 : x > y ? 1 : 0
        }
    }

    // MARK: Trial

    func trial(_ reference: String) throws -> (title: String, body: String)? {
        guard let sweep = try store.sweep(), let snapshot = try? reader.findTrial(reference) else { return nil }
        let attempts = try store.attempts(trial: snapshot.id)
        let records = try store.curve(of: snapshot, attempts: attempts)
        let metric = sweep.ranking.primary.metric
        var body =
            "<h1>Trial #\(snapshot.number) <code>\(escape(snapshot.id))</code></h1><p class=\"lead\">\(escape(snapshot.state.rawValue))"
            + (snapshot.stoppedAt.map { " at epoch \($0)" } ?? "") + (snapshot.variant.map { " · variant \(escape($0))" } ?? "")
            + (snapshot.result.map {
                " · best epoch \($0.bestEpoch): valid \(escape(metric)) \(format($0.valid[metric])), test \(format($0.test[metric]))"
            } ?? "")
            + (snapshot.result == nil ? "" : " · " + exportLink(snapshot))
            + "</p>"
        body += "<section class=\"cards\"><div class=\"card\"><h2>Config</h2><table class=\"data\" id=\"config\"><tbody>"
        for (key, value) in snapshot.config.activeValues { body += "<tr><th>\(escape(key))</th><td>\(escape(value.description))</td></tr>" }
        body +=
            "</tbody></table></div><div class=\"card\"><h2>Attempts</h2><table class=\"data\" id=\"attempts\"><thead><tr><th>#</th><th>worker</th><th>outcome</th><th>reason</th><th>started</th><th>seconds</th></tr></thead><tbody>"
        let formatter = ISO8601DateFormatter()
        for attempt in attempts {
            let seconds = attempt.finished.map { String(format: "%.1f", $0.timeIntervalSince(attempt.started)) } ?? "–"
            body +=
                "<tr><td>\(attempt.attempt)</td><td>\(escape(attempt.worker))</td><td>\(escape(attempt.outcome?.rawValue ?? "running"))</td><td><pre>\(escape(attempt.reason ?? ""))</pre></td><td>\(formatter.string(from: attempt.started))</td><td>\(seconds)</td></tr>"
        }
        body += "</tbody></table></div></section>"
        let epochs = records.map { Double($0.epoch) }
        func series(_ name: String, _ values: [Double?]) -> LineChart.Series {
            .init(name: name, points: zip(epochs, values).compactMap { x, y in y.map { (x, $0) } })
        }
        let best = snapshot.result.map { ("best epoch \($0.bestEpoch)", Double($0.bestEpoch)) }
        body +=
            LineChart(
                id: "metric", title: "\(metric) per epoch", xLabel: "epoch",
                series: [
                    series("valid \(metric)", records.map { $0.valid[metric] }), series("test \(metric)", records.map { $0.test[metric] }),
                ],
                mark: best, reference: sweep.popularity?["valid"]?[metric].map { ("popularity baseline (valid)", $0) }
            ).html
        body +=
            LineChart(
                id: "losses", title: "Training losses", xLabel: "epoch",
                series: [series("loss_main", records.map(\.lossMain))]
                    + (records.contains { $0.lossAux != nil } ? [series("loss_aux", records.map(\.lossAux))] : []),
                logY: true, mark: best
            ).html
        if !snapshot.config.isProgram {
            body +=
                LineChart(
                    id: "weights", title: "Task weights (the balancer's)", xLabel: "epoch",
                    series: [series("main", records.map { $0.weights.main })]
                        + (records.contains { $0.weights.aux != nil } ? [series("aux", records.map(\.weights.aux))] : []),
                    mark: best
                ).html
            body +=
                LineChart(
                    id: "collapse", title: "Collapse diagnostics (valid)", xLabel: "epoch",
                    series: [
                        series("coverage@10", records.map { $0.valid["coverage@10"] }),
                        series("pop_overlap@10", records.map { $0.valid["pop_overlap@10"] }),
                    ],
                    mark: best, reference: sweep.popularity?["valid"]?["pop_overlap@10"].map { ("popularity baseline pop_overlap@10", $0) }
                ).html
        } else {
            let extra = Set(records.flatMap { $0.extra?.keys.map { $0 } ?? [] }).sorted()
            if !extra.isEmpty {
                body +=
                    LineChart(
                        id: "reported", title: "The program's other numbers", xLabel: "epoch",
                        series: extra.map { key in series(key, records.map { $0.extra?[key] }) }, mark: best
                    ).html
            }
        }
        return ("Trial #\(snapshot.number) · \(sweep.name)", body)
    }

    // MARK: Pareto

    /// Two objectives of a sweep with several against each other: every completed trial (or, with
    /// repeats, every config's means with their 95% CIs as error bars), coloured by front,
    /// infeasible ones grey, each a link to its trial; then the front's members.
    /// `x` and `y` (in `query`) name the objectives drawn, the first two by default.
    func pareto(_ query: QueryParameters) throws -> (title: String, body: String) {
        guard let sweep = try store.sweep() else { return ("empty", "<p>This store holds no sweep yet.</p>") }
        let ranking = sweep.ranking
        var body = "<h1>Pareto front</h1>"
        guard ranking.isMultiObjective else {
            body +=
                "<p class=\"lead\">\(escape(sweep.name)) has one objective (\(escape(ranking.primary.description))): no front to draw. "
                + "A sweep file with <code>objectives:</code> (2 to 4) has one.</p>"
            return ("Pareto · \(sweep.name)", body)
        }
        let (xIndex, yIndex) = (try query.objective("x", in: ranking), try query.objective("y", in: ranking, fallback: 1))
        let (xObjective, yObjective) = (ranking.objectives[xIndex], ranking.objectives[yIndex])
        let trials = try reader.trials()
        let seeded = trials.contains { $0.config.seed != 0 }
        var points: [ScatterChart.Point]
        if seeded {
            points = Leaderboard.rankConfigs(trials, ranking: ranking).compactMap { config in
                guard let px = config.validMean[xObjective.metric], let py = config.validMean[yObjective.metric] else { return nil }
                return ScatterChart.Point(
                    x: px, y: py, xError: config.ci95s[xIndex], yError: config.ci95s[yIndex],
                    front: config.standing.isFeasible ? config.standing.front : nil, link: "\(base)/trial/\(config.trials[0].id)",
                    label: "config of #\(config.trials[0].number) (\(config.n) seed\(config.n == 1 ? "" : "s"))")
            }
        } else {
            points = Leaderboard.rank(trials, ranking: ranking).map { ranked in
                ScatterChart.Point(
                    x: ranked.result.valid[xObjective.metric]!, y: ranked.result.valid[yObjective.metric]!, xError: nil, yError: nil,
                    front: ranked.standing.isFeasible ? ranked.standing.front : nil, link: "\(base)/trial/\(ranked.trial.id)",
                    label: "#\(ranked.trial.number) \(ranked.trial.id.prefix(8))")
            }
        }
        if points.count > Self.drawnPoints {
            points = Array(points.prefix(Self.drawnPoints))  // ranked order: every front first, the worst left out
        }
        let hypervolume = Leaderboard.hypervolume(trials, ranking: ranking)
        body +=
            "<p class=\"lead\">\(escape(sweep.name)): \(ranking.objectives.map { escape($0.description) }.joined(separator: ", "))"
            + (ranking.constraints.isEmpty
                ? "" : "; constraints " + ranking.constraints.map { escape($0.description) }.joined(separator: ", "))
            + " · hypervolume of the front \(String(format: "%.6g", hypervolume))"
            + (seeded ? " · each point a config: the mean over its seeds, bars its 95% CI" : "") + "</p>"
        body += "<form class=\"pick axes\" method=\"get\" action=\"\(base)/pareto\">"
        for (name, chosen) in [("x", xIndex), ("y", yIndex)] {
            body += "<label>\(name) <select name=\"\(name)\">"
            for (index, objective) in ranking.objectives.enumerated() {
                body +=
                    "<option value=\"valid_\(escape(objective.metric))\"\(index == chosen ? " selected" : "")>valid_\(escape(objective.metric))</option>"
            }
            body += "</select></label> "
        }
        body += "<button type=\"submit\">Show</button></form>"
        body +=
            ScatterChart(
                id: "pareto", title: "\(yObjective.label) against \(xObjective.label)", xLabel: xObjective.label, yLabel: yObjective.label,
                points: points
            ).html
        return ("Pareto · \(sweep.name)", body)
    }

    // MARK: Compare

    /// 2–8 trials' curves overlaid (the top 4 by the ranking when none are picked).
    func compare(_ picked: [String]) throws -> (title: String, body: String) {
        guard let sweep = try store.sweep() else { return ("empty", "<p>This store holds no sweep yet.</p>") }
        let trials = try reader.trials()
        let metric = sweep.ranking.primary.metric
        let ranked = Leaderboard.rank(trials, ranking: sweep.ranking).map(\.trial)
        var chosen = picked.compactMap { reference in try? reader.findTrial(reference) }
        if chosen.isEmpty { chosen = Array(ranked.prefix(4)) }
        chosen = Array(chosen.prefix(8))
        var body =
            "<h1>Compare</h1><form action=\"\(base)/compare\" method=\"get\" class=\"pick\"><label>Trials (2–8) <select name=\"trials\" multiple size=\"6\">"
        let selected = Set(chosen.map(\.id))
        for trial in (ranked + trials.filter { $0.state != .completed }) where trial.result != nil || trial.state == .running {
            let value = trial.result?.valid[metric].map { " · \(format($0))" } ?? " · \(trial.state.rawValue)"
            body +=
                "<option value=\"\(trial.id)\"\(selected.contains(trial.id) ? " selected" : "")>#\(trial.number) \(String(trial.id.prefix(8)))\(value)</option>"
        }
        body += "</select></label> <button type=\"submit\">Compare</button></form>"
        var curves: [(name: String, records: [EpochRecord])] = []
        for trial in chosen {
            curves.append(
                (
                    "#\(trial.number) \(String(trial.id.prefix(8)))",
                    try store.curve(of: trial, attempts: try store.attempts(trial: trial.id))
                ))
        }
        func series(_ value: (EpochRecord) -> Double?) -> [LineChart.Series] {
            curves.map { curve in
                .init(name: curve.name, points: curve.records.compactMap { record in value(record).map { (Double(record.epoch), $0) } })
            }
        }
        body +=
            "<table class=\"data\" id=\"compared\"><thead><tr><th>trial</th><th>config</th><th>valid \(escape(metric))</th><th>test \(escape(metric))</th></tr></thead><tbody>"
        for trial in chosen {
            body +=
                "<tr><td><a href=\"\(base)/trial/\(trial.id)\">#\(trial.number) \(String(trial.id.prefix(8)))</a></td><td>"
                + escape(
                    trial.config.activeValues.filter { $0.key != "select_metric" }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
                + "</td><td>\(format(trial.result?.valid[metric]))</td><td>\(format(trial.result?.test[metric]))</td></tr>"
        }
        body += "</tbody></table>"
        body +=
            LineChart(
                id: "compare-valid", title: "valid \(metric) per epoch", xLabel: "epoch", series: series { $0.valid[metric] },
                reference: sweep.popularity?["valid"]?[metric].map { ("popularity baseline", $0) }
            ).html
        body +=
            LineChart(
                id: "compare-test", title: "test \(metric) per epoch", xLabel: "epoch", series: series { $0.test[metric] },
                reference: sweep.popularity?["test"]?[metric].map { ("popularity baseline", $0) }
            ).html
        body += LineChart(id: "compare-loss", title: "loss_main per epoch", xLabel: "epoch", series: series(\.lossMain), logY: true).html
        return ("Compare · \(sweep.name)", body)
    }

    // MARK: Parameters

    /// Parallel coordinates of every completed trial, the metric against each parameter, and
    /// each parameter's importance (PED-ANOVA).
    func parameters() throws -> (title: String, body: String) {
        guard let sweep = try store.sweep() else { return ("empty", "<p>This store holds no sweep yet.</p>") }
        let spec = try reader.spec(of: sweep)
        let every = try reader.trials()
        let metric = sweep.ranking.primary.metric
        let completed = every.filter { $0.state == .completed && $0.result?.valid[metric] != nil }
        // Past `drawnPoints / 2` trials: the best quarter of those drawn, and the rest evenly
        // through the ranking below them, so the shape of the whole stays visible.
        let limit = Self.drawnPoints / 2
        let trials: [TrialSnapshot]
        if completed.count > limit {
            let objective = sweep.ranking.primary
            let ranked = completed.sorted { objective.score($0.result!.valid[metric]!) > objective.score($1.result!.valid[metric]!) }
            let top = limit / 4, step = Double(ranked.count - top) / Double(limit - top)
            trials = Array(ranked.prefix(top)) + (0..<(limit - top)).map { ranked[top + Int(Double($0) * step)] }
        } else {
            trials = completed
        }
        var axes: [ParallelCoordinates.Axis] = spec.parameters.map { parameter in
            switch parameter.domain {
            case .values(let values): .init(name: parameter.key, choices: values)
            case .logUniform: .init(name: parameter.key, choices: nil, log: true)
            default: .init(name: parameter.key, choices: nil)
            }
        }
        if !spec.variants.isEmpty { axes.insert(.init(name: "variant", choices: spec.variants.map { .string($0.name) }), at: 0) }
        axes.append(.init(name: "valid \(metric)", choices: nil))
        let rows = trials.map { trial -> (id: String, values: [ConfigValue?]) in
            var values: [ConfigValue?] = []
            if !spec.variants.isEmpty { values.append(trial.variant.map(ConfigValue.string)) }
            let config = trial.config
            for parameter in spec.parameters { values.append(config.isActive(parameter.key) ? config.value(parameter.key) : nil) }
            values.append(.double(trial.result!.valid[metric]!))
            return (trial.id, values)
        }
        var body =
            "<h1>Parameters</h1><p class=\"lead\">\(completed.count) completed trials of \(escape(sweep.name)), by valid \(escape(metric))"
            + (trials.count < completed.count
                ? "; the charts draw \(trials.count) of them (the best \(limit / 4), the rest evenly through the ranking), importance uses all"
                : "") + "</p>"
        body +=
            ParallelCoordinates(
                id: "parallel", title: "Parallel coordinates (darker is better)", axes: axes, rows: rows, objective: sweep.ranking.primary
            ).html
        let importance = ParameterImportance.of(spec: spec, objective: sweep.ranking.primary, trials: every)
        body +=
            BarChart(
                id: "importance", title: "Importance for reaching the top 10% (PED-ANOVA)", bars: importance.map { ($0.key, $0.importance) }
            ).html
        body += "<h2>Slices</h2>"
        for (index, parameter) in spec.parameters.enumerated() {
            var names: [String]?
            if case .values(let values) = parameter.domain { names = values.map(\.description) }
            let points = trials.compactMap { trial -> (x: Double, y: Double)? in
                let config = trial.config
                guard config.isActive(parameter.key), let value = config.value(parameter.key) else { return nil }
                let x = names.flatMap { $0.firstIndex(of: value.description).map(Double.init) } ?? value.number
                return x.map { ($0, trial.result!.valid[metric]!) }
            }
            var chart = LineChart(
                id: "slice-\(index)", title: "valid \(metric) against \(parameter.key)", xLabel: parameter.key,
                series: [.init(name: "trial", points: points, dotsOnly: true)],
                reference: sweep.popularity?["valid"]?[metric].map { ("popularity baseline", $0) })
            chart.xNames = names
            if case .logUniform = parameter.domain { chart.logX = true }
            body += chart.html
        }
        return ("Parameters · \(sweep.name)", body)
    }
}

// MARK: Several stores

extension Pages {
    /// The stores side by side: each one's best config (by trial, and by config over its seeds
    /// when it repeats), its numbers against its popularity baseline, the keys where the best
    /// configs differ, and the best trials' curves overlaid.
    static func stores(_ readers: [CachedReader]) throws -> (title: String, body: String) {
        struct Column {
            var number: Int
            var store: SweepStore
            var sweep: SweepRecord?
            var trials: [TrialSnapshot]
            var best: RankedTrial?
            var bestConfig: RankedConfig?
        }
        let columns = try readers.enumerated().map { index, reader in
            let store = reader.store, sweep = try store.sweep(), trials = try reader.trials()
            let ranking = sweep?.ranking ?? Ranking(metric: "ndcg@10")
            return Column(
                number: index + 1, store: store, sweep: sweep, trials: trials,
                best: Leaderboard.rank(trials, ranking: ranking, top: 1).first,
                bestConfig: trials.contains { $0.config.seed != trials.first?.config.seed }
                    ? Leaderboard.rankConfigs(trials, ranking: ranking).first : nil)
        }
        let metrics = Set(columns.compactMap { $0.sweep?.ranking.primary.metric })
        var body =
            "<h1>Stores</h1><p class=\"lead\">\(columns.count) sweeps side by side, each by its best trial on valid"
            + (metrics.count > 1 ? " (their metrics differ: \(metrics.sorted().map(escape).joined(separator: ", ")))" : "") + "</p>"
        body += "<div class=\"table-scroll\"><table class=\"data\" id=\"stores\"><thead><tr><th></th>"
        for column in columns {
            body += "<th><a href=\"/store/\(column.number)/\">\(escape(column.sweep?.name ?? "(no sweep yet)"))</a></th>"
        }
        body += "</tr></thead><tbody>"
        func row(_ name: String, _ cells: (Column) -> String) {
            body += "<tr data-row><th>\(escape(name))</th>" + columns.map { "<td>\(cells($0))</td>" }.joined() + "</tr>"
        }
        row("file") { "<code>\(escape(URL(fileURLWithPath: $0.store.path).lastPathComponent))</code>" }
        row("metric") { escape($0.sweep?.ranking.primary.metric ?? "–") }
        row("completed") { column in
            "\(column.trials.filter { $0.state == .completed }.count) of \(column.trials.filter { $0.state != .retired }.count)"
        }
        row("best trial") { column in
            column.best.map {
                "<a href=\"/store/\(column.number)/trial/\(escape($0.trial.id))\">#\($0.trial.number) \(escape(String($0.trial.id.prefix(8))))</a>"
            } ?? "–"
        }
        row("valid") { column in column.best.map { format($0.value) } ?? "–" }
        row("test") { column in format(column.sweep.flatMap { sweep in column.best?.result.test[sweep.ranking.primary.metric] }) }
        row("best config: valid mean ± 95% CI (n)") { column in
            column.bestConfig.map { config in
                format(config.validMean[column.sweep?.ranking.primary.metric ?? ""]) + (config.ci95.map { " ± " + format($0) } ?? "")
                    + " (\(config.n))"
            } ?? "–"
        }
        row("best config: test mean") { column in
            column.bestConfig.map { format($0.testMean[column.sweep?.ranking.primary.metric ?? ""]) } ?? "–"
        }
        row("popularity baseline (valid · test)") { column in
            guard let sweep = column.sweep, let popularity = sweep.popularity else { return "–" }
            return format(popularity["valid"]?[sweep.ranking.primary.metric]) + " · "
                + format(popularity["test"]?[sweep.ranking.primary.metric])
        }
        // The best configs' keys (by the mean over seeds when a store repeats, else its best
        // trial's): where they differ first, then what they share; the seed is the repeat.
        let configs = columns.map { column in
            (column.bestConfig?.trials.first ?? column.best?.trial).map {
                Dictionary(uniqueKeysWithValues: $0.config.activeValues.map { ($0.key, $0.value.description) })
            } ?? [:]
        }
        let keys = Set(configs.flatMap(\.keys)).subtracting(["select_metric", "seed"]).sorted()
        let differing = keys.filter { key in Set(configs.map { $0[key] ?? "–" }).count > 1 }
        for key in differing + keys.filter({ !differing.contains($0) }) {
            row(key) { column in escape(configs[column.number - 1][key] ?? "–") }
        }
        body += "</tbody></table></div>"
        if !differing.isEmpty {
            body += "<p class=\"note\">The best configs differ in: \(differing.map(escape).joined(separator: ", ")).</p>"
        }
        var curves: [LineChart.Series] = []
        for column in columns {
            guard let best = column.best, let metric = column.sweep?.ranking.primary.metric else { continue }
            let records = try column.store.curve(of: best.trial, attempts: try column.store.attempts(trial: best.trial.id))
            curves.append(
                .init(
                    name: "\(column.number): \(column.sweep?.name ?? "") #\(best.trial.number)",
                    points: records.compactMap { record in record.valid[metric].map { (Double(record.epoch), $0) } }))
        }
        body +=
            LineChart(
                id: "stores-valid", title: "Each store's best trial: valid \(metrics.count == 1 ? metrics.first! : "metric") per epoch",
                xLabel: "epoch", series: curves
            ).html
        return ("Stores", body)
    }
}
