import Foundation
import ML
import SweepCore

/// The dashboard's pages, rendered on the server from the store's readers. Each page's live part
/// is its `<main>`, which the page's script fetches again every 2 s (`?fragment=1`) and swaps in.
struct Pages {
    let store: SweepStore

    /// A whole page around `body` (the `<main>` content).
    static func layout(title: String, path: String, body: String) -> String {
        let nav = [("/", "Overview"), ("/leaderboard", "Leaderboard"), ("/compare", "Compare"), ("/parameters", "Parameters")].map { link, name in
            "<a href=\"\(link)\"\(link == path ? " aria-current=\"page\"" : "")>\(name)</a>"
        }.joined()
        return """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(escape(title)) · sweep</title><link rel="stylesheet" href="/static/dashboard.css"></head>
            <body data-updates="0"><header><strong>sweep</strong><nav>\(nav)</nav><span id="live-state" aria-live="polite"></span></header>
            <main id="live">\(body)</main>
            <script src="/static/dashboard.js"></script></body></html>
            """
    }

    // MARK: Overview

    func overview() throws -> (title: String, body: String) {
        guard let sweep = try store.sweep() else { return ("empty", "<p>This store holds no sweep yet.</p>") }
        let status = try SweepStatus.read(store)
        let trials = try store.trials()
        var body = "<h1>\(escape(sweep.name))</h1><p class=\"lead\">ranked by valid \(escape(sweep.metric))"
            + (sweep.program.map { " · program \(escape($0.directory))" } ?? "") + "</p>"
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
        body += "<dt>epochs</dt><dd>\(status.epochs.trained) of \(status.epochs.budget) budgeted"
            + (status.epochs.saved > 0 ? "; \(status.epochs.saved) saved by early stopping" : "") + "</dd>"
        body += "<dt>attempts</dt><dd>\(status.attempts)</dd></dl></div></section>"
        body += "<h2>Workers</h2><table class=\"data sortable\" id=\"workers\"><thead><tr><th>name</th><th>host</th><th>state</th><th>trials done</th><th>last seen</th></tr></thead><tbody>"
        let formatter = ISO8601DateFormatter()
        for worker in status.workers {
            body += "<tr data-row><td>\(escape(worker.name))</td><td>\(escape(worker.host))</td><td>\(escape(worker.state))</td><td>\(worker.trialsCompleted)</td><td>\(formatter.string(from: worker.lastSeen))</td></tr>"
        }
        body += "</tbody></table>"
        // Optimisation history: each completed trial's value in the order results arrived, and the best so far.
        let finished = trials.compactMap { trial -> (Date, Double)? in
            guard trial.state == .completed, let result = trial.result, let value = result.valid[sweep.metric] else { return nil }
            return (result.finishedAt, value)
        }.sorted { $0.0 < $1.0 }
        var best = -Double.infinity
        let values = finished.enumerated().map { (x: Double($0.offset + 1), y: $0.element.1) }
        let bests = values.map { point -> (x: Double, y: Double) in
            best = max(best, point.y)
            return (point.x, best)
        }
        body += LineChart(id: "history", title: "Optimisation history: valid \(sweep.metric)", xLabel: "completed trials",
                          series: [.init(name: "trial", points: values, dotsOnly: true), .init(name: "best so far", points: bests)],
                          reference: sweep.popularity?["valid"]?[sweep.metric].map { ("popularity baseline", $0) }).html
        return (sweep.name, body)
    }

    // MARK: Leaderboard

    /// The ranking `sweep leaderboard --format json` prints, as a table: sortable, filterable,
    /// each row linking to its trial and to its trial file.
    func leaderboard(byConfig: Bool, all: Bool) throws -> (title: String, body: String) {
        guard let sweep = try store.sweep() else { return ("empty", "<p>This store holds no sweep yet.</p>") }
        let trials = try store.trials()
        let report = LeaderboardReport(trials: trials, metric: sweep.metric, popularity: sweep.popularity, all: all, epochs: try store.epochTotals())
        let document = try JSONSerialization.jsonObject(with: Data(try report.json(byConfig: byConfig).utf8)) as? [String: Any] ?? [:]
        let rows = document["rows"] as? [[String: Any]] ?? []
        let keys = report.varyingKeys.filter { !byConfig || $0 != "seed" }
        let metric = sweep.metric
        var body = "<h1>Leaderboard</h1><p class=\"lead\">\(escape(sweep.name)): ranked by valid \(escape(metric)), test beside it"
        body += " · <a href=\"/leaderboard?by_config=\(byConfig ? 0 : 1)\(all ? "&amp;all=1" : "")\">\(byConfig ? "by trial" : "by config (mean ± 95% CI over seeds)")</a>"
        body += " · <a href=\"/leaderboard?all=\(all ? 0 : 1)\(byConfig ? "&amp;by_config=1" : "")\">\(all ? "completed only" : "every state")</a></p>"
        body += "<label class=\"filter\">Filter <input id=\"filter\" type=\"search\" placeholder=\"state, variant, key=value…\"></label>"
        let variants = rows.contains { $0["variant"] != nil }
        var header = ["rank"] + (byConfig ? [] : ["#", "trial"]) + (all && !byConfig ? ["state"] : []) + (variants ? ["variant"] : []) + keys
        header += ["valid \(metric)"] + (byConfig ? ["n", "test \(metric)", "p vs best"] : ["test \(metric)", "epoch", "worker", ""])
        body += "<table class=\"data sortable\" id=\"leaderboard\"><thead><tr>" + header.map { "<th>\(escape($0))</th>" }.joined() + "</tr></thead><tbody>"
        for row in rows {
            let config = row["config"] as? [String: Any] ?? [:]
            let valid = row["valid"] as? [String: Double] ?? [:], test = row["test"] as? [String: Double] ?? [:]
            var cells: [String] = [(row["rank"] as? Int).map(String.init) ?? "–"]
            var search = [String]()
            if !byConfig {
                let id = row["trial"] as? String ?? ""
                cells += ["\(row["number"] as? Int ?? 0)", "<a href=\"/trial/\(escape(id))\">\(escape(String(id.prefix(8))))</a>"]
                if all { cells.append(escape(row["state"] as? String ?? "")); search.append(row["state"] as? String ?? "") }
            }
            if variants { cells.append(escape(row["variant"] as? String ?? "–")); search.append(row["variant"] as? String ?? "") }
            for key in keys {
                let value = config[key].map { "\($0)" } ?? "–"
                cells.append(escape(value))
                search.append("\(key)=\(value)")
            }
            if byConfig {
                cells.append(format(valid[metric]) + ((row["ci95"] as? Double).map { " ± " + format($0) } ?? ""))
                cells += ["\(row["n"] as? Int ?? 0)", format(test[metric]), (row["p_value_vs_best"] as? Double).map { String(format: "%.3f", $0) } ?? "–"]
            } else {
                let id = row["trial"] as? String ?? ""
                cells += [format(valid[metric]), format(test[metric]), (row["best_epoch"] as? Int).map(String.init) ?? "–", escape(row["worker"] as? String ?? ""),
                          valid[metric] == nil ? "" : "<a class=\"button\" href=\"/api/export/\(escape(id))\" download=\"trial-\(escape(String(id.prefix(8)))).yaml\">trial file</a>"]
            }
            body += "<tr data-row data-search=\"\(escape(search.joined(separator: " ")))\"" + (byConfig ? "" : " data-trial=\"\(escape(row["trial"] as? String ?? ""))\"") + ">"
                + cells.map { "<td>\($0)</td>" }.joined() + "</tr>"
        }
        if let popularity = sweep.popularity {
            var cells = Array(repeating: "", count: header.count)
            cells[0] = "–"
            let validIndex = header.firstIndex(of: "valid \(metric)")!, testIndex = header.firstIndex(of: "test \(metric)")!
            cells[min(1, validIndex - 1)] = "popularity baseline"
            cells[validIndex] = format(popularity["valid"]?[metric])
            cells[testIndex] = format(popularity["test"]?[metric])
            body += "<tr class=\"baseline\">" + cells.map { "<td>\($0)</td>" }.joined() + "</tr>"
        }
        body += "</tbody></table>"
        if let epochs = document["epochs"] as? [String: Int] {
            body += "<p class=\"note\">epochs trained: \(epochs["trained"] ?? 0) of \(epochs["budget"] ?? 0) budgeted"
                + ((epochs["saved"] ?? 0) > 0 ? "; early stopping saved \(epochs["saved"]!)" : "") + "</p>"
        }
        return ("Leaderboard · \(sweep.name)", body)
    }

    // MARK: Trial

    func trial(_ reference: String) throws -> (title: String, body: String)? {
        guard let sweep = try store.sweep(), let snapshot = try? store.findTrial(reference) else { return nil }
        let attempts = try store.attempts(trial: snapshot.id)
        let records = try store.curve(of: snapshot, attempts: attempts)
        let metric = sweep.metric
        var body = "<h1>Trial #\(snapshot.number) <code>\(escape(snapshot.id))</code></h1><p class=\"lead\">\(escape(snapshot.state.rawValue))"
            + (snapshot.stoppedAt.map { " at epoch \($0)" } ?? "") + (snapshot.variant.map { " · variant \(escape($0))" } ?? "")
            + (snapshot.result.map { " · best epoch \($0.bestEpoch): valid \(escape(metric)) \(format($0.valid[metric])), test \(format($0.test[metric]))" } ?? "")
            + (snapshot.result == nil ? "" : " · <a class=\"button\" href=\"/api/export/\(escape(snapshot.id))\" download=\"trial-\(escape(String(snapshot.id.prefix(8)))).yaml\">trial file</a>")
            + "</p>"
        body += "<section class=\"cards\"><div class=\"card\"><h2>Config</h2><table class=\"data\" id=\"config\"><tbody>"
        for (key, value) in snapshot.config.activeValues { body += "<tr><th>\(escape(key))</th><td>\(escape(value.description))</td></tr>" }
        body += "</tbody></table></div><div class=\"card\"><h2>Attempts</h2><table class=\"data\" id=\"attempts\"><thead><tr><th>#</th><th>worker</th><th>outcome</th><th>reason</th><th>started</th><th>seconds</th></tr></thead><tbody>"
        let formatter = ISO8601DateFormatter()
        for attempt in attempts {
            let seconds = attempt.finished.map { String(format: "%.1f", $0.timeIntervalSince(attempt.started)) } ?? "–"
            body += "<tr><td>\(attempt.attempt)</td><td>\(escape(attempt.worker))</td><td>\(escape(attempt.outcome?.rawValue ?? "running"))</td><td><pre>\(escape(attempt.reason ?? ""))</pre></td><td>\(formatter.string(from: attempt.started))</td><td>\(seconds)</td></tr>"
        }
        body += "</tbody></table></div></section>"
        let epochs = records.map { Double($0.epoch) }
        func series(_ name: String, _ values: [Double?]) -> LineChart.Series {
            .init(name: name, points: zip(epochs, values).compactMap { x, y in y.map { (x, $0) } })
        }
        let best = snapshot.result.map { ("best epoch \($0.bestEpoch)", Double($0.bestEpoch)) }
        body += LineChart(id: "metric", title: "\(metric) per epoch", xLabel: "epoch",
                          series: [series("valid \(metric)", records.map { $0.valid[metric] }), series("test \(metric)", records.map { $0.test[metric] })],
                          mark: best, reference: sweep.popularity?["valid"]?[metric].map { ("popularity baseline (valid)", $0) }).html
        body += LineChart(id: "losses", title: "Training losses", xLabel: "epoch",
                          series: [series("loss_main", records.map(\.lossMain))] + (records.contains { $0.lossAux != nil } ? [series("loss_aux", records.map(\.lossAux))] : []),
                          logY: true, mark: best).html
        if !snapshot.config.isProgram {
            body += LineChart(id: "weights", title: "Task weights (the balancer's)", xLabel: "epoch",
                              series: [series("main", records.map { $0.weights.main })] + (records.contains { $0.weights.aux != nil } ? [series("aux", records.map(\.weights.aux))] : []),
                              mark: best).html
            body += LineChart(id: "collapse", title: "Collapse diagnostics (valid)", xLabel: "epoch",
                              series: [series("coverage@10", records.map { $0.valid["coverage@10"] }), series("pop_overlap@10", records.map { $0.valid["pop_overlap@10"] })],
                              mark: best, reference: sweep.popularity?["valid"]?["pop_overlap@10"].map { ("popularity baseline pop_overlap@10", $0) }).html
        } else {
            let extra = Set(records.flatMap { $0.extra?.keys.map { $0 } ?? [] }).sorted()
            if !extra.isEmpty {
                body += LineChart(id: "reported", title: "The program's other numbers", xLabel: "epoch",
                                  series: extra.map { key in series(key, records.map { $0.extra?[key] }) }, mark: best).html
            }
        }
        return ("Trial #\(snapshot.number) · \(sweep.name)", body)
    }

    // MARK: Compare

    /// 2–8 trials' curves overlaid (the top 4 by the ranking when none are picked).
    func compare(_ picked: [String]) throws -> (title: String, body: String) {
        guard let sweep = try store.sweep() else { return ("empty", "<p>This store holds no sweep yet.</p>") }
        let trials = try store.trials()
        let metric = sweep.metric
        let ranked = Leaderboard.rank(trials, metric: metric).map(\.trial)
        var chosen = picked.compactMap { reference in try? store.findTrial(reference) }
        if chosen.isEmpty { chosen = Array(ranked.prefix(4)) }
        chosen = Array(chosen.prefix(8))
        var body = "<h1>Compare</h1><form action=\"/compare\" method=\"get\" class=\"pick\"><label>Trials (2–8) <select name=\"trials\" multiple size=\"6\">"
        let selected = Set(chosen.map(\.id))
        for trial in (ranked + trials.filter { $0.state != .completed }) where trial.result != nil || trial.state == .running {
            let value = trial.result?.valid[metric].map { " · \(format($0))" } ?? " · \(trial.state.rawValue)"
            body += "<option value=\"\(trial.id)\"\(selected.contains(trial.id) ? " selected" : "")>#\(trial.number) \(String(trial.id.prefix(8)))\(value)</option>"
        }
        body += "</select></label> <button type=\"submit\">Compare</button></form>"
        var curves: [(name: String, records: [EpochRecord])] = []
        for trial in chosen {
            curves.append(("#\(trial.number) \(String(trial.id.prefix(8)))", try store.curve(of: trial, attempts: try store.attempts(trial: trial.id))))
        }
        func series(_ value: (EpochRecord) -> Double?) -> [LineChart.Series] {
            curves.map { curve in .init(name: curve.name, points: curve.records.compactMap { record in value(record).map { (Double(record.epoch), $0) } }) }
        }
        body += "<table class=\"data\" id=\"compared\"><thead><tr><th>trial</th><th>config</th><th>valid \(escape(metric))</th><th>test \(escape(metric))</th></tr></thead><tbody>"
        for trial in chosen {
            body += "<tr><td><a href=\"/trial/\(trial.id)\">#\(trial.number) \(String(trial.id.prefix(8)))</a></td><td>"
                + escape(trial.config.activeValues.filter { $0.key != "select_metric" }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
                + "</td><td>\(format(trial.result?.valid[metric]))</td><td>\(format(trial.result?.test[metric]))</td></tr>"
        }
        body += "</tbody></table>"
        body += LineChart(id: "compare-valid", title: "valid \(metric) per epoch", xLabel: "epoch", series: series { $0.valid[metric] },
                          reference: sweep.popularity?["valid"]?[metric].map { ("popularity baseline", $0) }).html
        body += LineChart(id: "compare-test", title: "test \(metric) per epoch", xLabel: "epoch", series: series { $0.test[metric] },
                          reference: sweep.popularity?["test"]?[metric].map { ("popularity baseline", $0) }).html
        body += LineChart(id: "compare-loss", title: "loss_main per epoch", xLabel: "epoch", series: series(\.lossMain), logY: true).html
        return ("Compare · \(sweep.name)", body)
    }

    // MARK: Parameters

    /// Parallel coordinates of every completed trial, the metric against each parameter, and
    /// each parameter's importance (PED-ANOVA).
    func parameters() throws -> (title: String, body: String) {
        guard let sweep = try store.sweep() else { return ("empty", "<p>This store holds no sweep yet.</p>") }
        let spec = try SweepSpec.parseStored(sweep.specText)
        let every = try store.trials()
        let trials = every.filter { $0.state == .completed && $0.result?.valid[sweep.metric] != nil }
        let metric = sweep.metric
        var axes: [ParallelCoordinates.Axis] = spec.parameters.map { parameter in
            switch parameter.domain {
            case .values(let values): .init(name: parameter.key, choices: values.map(\.description))
            case .logUniform: .init(name: parameter.key, choices: nil, log: true)
            default: .init(name: parameter.key, choices: nil)
            }
        }
        if !spec.variants.isEmpty { axes.insert(.init(name: "variant", choices: spec.variants.map(\.name)), at: 0) }
        axes.append(.init(name: "valid \(metric)", choices: nil))
        let rows = trials.map { trial -> (id: String, values: [ParallelCoordinates.ConfigValueText?]) in
            var values: [ParallelCoordinates.ConfigValueText?] = []
            if !spec.variants.isEmpty { values.append(trial.variant.map { .choice($0) }) }
            for parameter in spec.parameters {
                guard trial.config.isActive(parameter.key), let value = trial.config.value(parameter.key) else { values.append(nil); continue }
                if case .values = parameter.domain { values.append(.choice(value.description)) } else { values.append(value.number.map { .number($0) }) }
            }
            values.append(.number(trial.result!.valid[metric]!))
            return (trial.id, values)
        }
        var body = "<h1>Parameters</h1><p class=\"lead\">\(trials.count) completed trials of \(escape(sweep.name)), by valid \(escape(metric))</p>"
        body += ParallelCoordinates(id: "parallel", title: "Parallel coordinates (darker is better)", axes: axes, rows: rows).html
        let importance = ParameterImportance.of(spec: spec, trials: every)
        body += BarChart(id: "importance", title: "Importance for reaching the top 10% (PED-ANOVA)", bars: importance.map { ($0.key, $0.importance) }).html
        body += "<h2>Slices</h2>"
        for (index, parameter) in spec.parameters.enumerated() {
            var names: [String]?
            if case .values(let values) = parameter.domain { names = values.map(\.description) }
            let points = trials.compactMap { trial -> (x: Double, y: Double)? in
                guard trial.config.isActive(parameter.key), let value = trial.config.value(parameter.key) else { return nil }
                let x = names.flatMap { $0.firstIndex(of: value.description).map(Double.init) } ?? value.number
                return x.map { ($0, trial.result!.valid[metric]!) }
            }
            var chart = LineChart(id: "slice-\(index)", title: "valid \(metric) against \(parameter.key)", xLabel: parameter.key,
                                  series: [.init(name: "trial", points: points, dotsOnly: true)],
                                  reference: sweep.popularity?["valid"]?[metric].map { ("popularity baseline", $0) })
            chart.xNames = names
            if case .logUniform = parameter.domain { chart.logX = true }
            body += chart.html
        }
        return ("Parameters · \(sweep.name)", body)
    }
}
