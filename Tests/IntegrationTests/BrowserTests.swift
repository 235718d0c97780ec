import Foundation
import SweepCore
import TestSupport
import Testing

/// Debian's Chromium, which the Makefile's deps step installs.
let chromium = "/usr/bin/chromium"
/// tools/browser.py: drives Chromium over the DevTools protocol and reports what the page did.
let browserDriver = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("tools/browser.py").path

/// What the browser did through a list of steps (see tools/browser.py).
struct BrowserReport {
    var values: [String: Any]
    var consoleErrors: [String]
    var exceptions: [String]
    var requests: [String]
    var failed: String?

    /// Runs the steps in a fresh headless Chromium.
    init(_ steps: [[String: Any]], in folder: URL) throws {
        let file = folder.appendingPathComponent("steps-\(UUID().uuidString).json")
        try JSONSerialization.data(withJSONObject: steps).write(to: file)
        let output = try runProgram("/usr/bin/python3", [browserDriver, file.path, "--chromium", chromium])
        let report = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
        values = report["values"] as? [String: Any] ?? [:]
        consoleErrors = report["console_errors"] as? [String] ?? []
        exceptions = report["exceptions"] as? [String] ?? []
        requests = report["requests"] as? [String] ?? []
        failed = report["failed"] as? String
    }
}

/// The dashboard in a real browser while a sweep runs: the rendered DOM against the CLI, live
/// updates without a reload, no console errors, nothing requested from another host.
@Suite(
    .serialized,
    .enabled(
        if: FileManager.default.isExecutableFile(atPath: chromium),
        "needs Debian's chromium (make deps installs it)"))
struct BrowserTests {
    /// A fresh folder for one test, where its screenshots go (SWEEP_SCREENSHOTS when set, as
    /// docs/screenshots is made, else beside the test), its sweep file and its store.
    static func workspace(_ name: String) throws -> (work: URL, shots: URL, sweep: String, db: String) {
        let work = TestFolders.fresh(name)
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        let shots = ProcessInfo.processInfo.environment["SWEEP_SCREENSHOTS"].map { URL(fileURLWithPath: $0) } ?? work
        return (work, shots, work.appendingPathComponent("sweep.yaml").path, work.appendingPathComponent("s.db").path)
    }

    /// `sweep dashboard` serving `db` on a free loopback port, and its origin (no trailing slash).
    static func dashboard(_ db: String) throws -> (child: Child, origin: String) {
        let dashboard = try Child("sweep", ["dashboard", "--db", db, "--bind", "127.0.0.1:0"])
        try #require(dashboard.waitForError("dashboard of", timeout: 30), "\(dashboard.stderr)")
        let base = try #require(dashboard.stderr.components(separatedBy: " at ").last?.split(separator: "\n").first.map(String.init))
        return (dashboard, String(base.dropLast(base.hasSuffix("/") ? 1 : 0)))
    }

    @Test func everyPageRendersLiveInChromiumWithoutErrorsOrOffHostRequests() throws {
        let (work, shots, sweep, db) = try Self.workspace("browser")
        try Data(
            """
            name: browser
            program: {dir: \(testPrograms.appendingPathComponent("fit").path), command: [python3, fit.py]}
            dataset: none
            metric: {name: valid_accuracy, goal: maximize}
            method: grid
            fixed: {epochs: 4, sleep: 0.5}
            parameters:
              lr: {values: [0.01, 0.1, 0.5, 1.0, 2.0, 4.0]}
              l2: {values: [0, 1]}

            """.utf8
        ).write(to: URL(fileURLWithPath: sweep))
        let coordinator = try Child(
            "sweep", ["launch", sweep, "--db", db, "--bind", "tcp://127.0.0.1:0", "--local-workers", "1"],
            environment: ["XDG_CACHE_HOME": work.appendingPathComponent("cache").path])
        defer { coordinator.kill(SIGTERM) }
        func completed() -> Int {
            (try? SweepStore.openReadOnly(path: db).stateCounts()[.completed] ?? 0) ?? 0
        }
        let deadline = Date().addingTimeInterval(120)
        while completed() < 1 && Date() < deadline && coordinator.process.isRunning { Thread.sleep(forTimeInterval: 0.2) }
        try #require(completed() >= 1, "no result within 2 minutes: \(coordinator.stderr)")
        let (dashboard, origin) = try Self.dashboard(db)
        defer { dashboard.kill(SIGTERM) }

        // While the sweep runs: a new result appears on the open leaderboard without a reload.
        let rows = "document.querySelectorAll('#leaderboard tr[data-row]').length"
        let live = try BrowserReport(
            [
                ["open": origin + "/leaderboard"],
                ["eval": "window.rowsBefore = \(rows)", "name": "rows before"],
                ["eval": "window.notReloaded = true", "name": "marked"],
                ["wait": "\(rows) > window.rowsBefore", "timeout": 90],
                ["eval": rows, "name": "rows after"],
                ["eval": "window.notReloaded === true", "name": "same page"],
                ["eval": "Number(document.body.dataset.updates)", "name": "updates"],
                ["screenshot": shots.appendingPathComponent("leaderboard.png").path],
                ["open": origin + "/"],
                ["eval": "document.querySelectorAll('#history circle.point[data-series=\"trial\"]').length", "name": "history points"],
                ["screenshot": shots.appendingPathComponent("overview.png").path],
                ["open": origin + "/compare"],
                ["screenshot": shots.appendingPathComponent("compare.png").path],
                ["open": origin + "/parameters"],
                ["eval": "document.querySelectorAll('#parallel .trial-line').length", "name": "parallel lines"],
                ["screenshot": shots.appendingPathComponent("parameters.png").path],
            ], in: work)
        #expect(live.failed == nil, "\(live.failed ?? "")")
        let before = live.values["rows before"] as? Int ?? 0, after = live.values["rows after"] as? Int ?? 0
        #expect(before >= 1 && after > before, "rows \(before) → \(after)")
        #expect(live.values["same page"] as? Bool == true && (live.values["updates"] as? Int ?? 0) >= 1)
        #expect((live.values["history points"] as? Int ?? 0) >= after)
        #expect((live.values["parallel lines"] as? Int ?? 0) >= after)

        #expect(coordinator.finish(timeout: 180).status == 0, "\(coordinator.stderr)")

        // Finished: the rows are `sweep leaderboard --format json`'s, in its order with its
        // numbers; a trial's chart has one point per epoch `sweep show` lists; a filter typed
        // into the page is applied by the server; a phone's width scrolls nothing sideways.
        let document = try #require(
            try JSONSerialization.jsonObject(with: Data(try runSweep(["leaderboard", "--db", db, "--format", "json"]).stdout.utf8))
                as? [String: Any])
        let metric = try #require(document["metric"] as? String)
        let expected = try #require(document["rows"] as? [[String: Any]])
        let best = try #require(expected.first?["trial"] as? String)
        let shown = try #require(
            try JSONSerialization.jsonObject(with: Data(try runSweep(["show", best, "--db", db, "--json"]).stdout.utf8)) as? [String: Any])
        let epochs = try #require(shown["epochs"] as? [Any]).count
        let validColumn =
            "Array.from(document.querySelectorAll('#leaderboard thead th')).findIndex(th => th.textContent.startsWith('valid '))"
        let finished = try BrowserReport(
            [
                ["open": origin + "/leaderboard"],
                [
                    "eval":
                        "Array.from(document.querySelectorAll('#leaderboard tr[data-row]')).map(r => [r.dataset.trial, r.cells[\(validColumn)].textContent])",
                    "name": "rows",
                ],
                ["eval": "document.querySelectorAll('#leaderboard tr.baseline').length", "name": "baseline rows"],
                [
                    "eval":
                        "(() => { const f = document.getElementById('filter'); f.focus(); f.value = 'lr=0.5'; f.dispatchEvent(new Event('input')); return true })()",
                    "name": "typed",
                ],
                ["wait": "\(rows) === 2 && location.search.includes('q=lr')", "timeout": 20],
                ["eval": "document.activeElement.id", "name": "focus"],
                ["open": origin + "/trial/\(best)"],
                [
                    "eval": "document.querySelectorAll('#metric circle.point[data-series=\"valid \(metric)\"]').length",
                    "name": "valid points",
                ],
                ["eval": "document.querySelectorAll('#losses circle.point').length > 0", "name": "losses drawn"],
                ["screenshot": shots.appendingPathComponent("trial.png").path],
                ["viewport": [390, 844]],
                ["open": origin + "/leaderboard"],
                ["eval": "document.documentElement.scrollWidth", "name": "phone width"],
            ], in: work)
        #expect(finished.failed == nil, "\(finished.failed ?? "")")
        let pageRows = try #require(finished.values["rows"] as? [[String]])
        #expect(pageRows.map { $0[0] } == expected.compactMap { $0["trial"] as? String }, "the ranking's order")
        #expect(
            pageRows.map { $0[1] } == expected.map { String(format: "%.4f", ($0["valid"] as? [String: Double])?[metric] ?? -1) },
            "the ranking's numbers")
        #expect(pageRows.count == 12 && finished.values["baseline rows"] as? Int == 0, "a program sweep has no popularity baseline")
        #expect(finished.values["focus"] as? String == "filter", "the filter keeps its caret through the refresh")
        #expect(finished.values["valid points"] as? Int == epochs && epochs == 4)
        #expect(finished.values["losses drawn"] as? Bool == true)
        #expect((finished.values["phone width"] as? Int ?? 10_000) <= 390, "\(finished.values["phone width"] ?? "")")

        for report in [live, finished] {
            #expect(report.consoleErrors.isEmpty && report.exceptions.isEmpty, "\(report.consoleErrors) \(report.exceptions)")
            let offHost = report.requests.filter { !$0.hasPrefix(origin + "/") && !$0.hasPrefix("data:") && $0 != "about:blank" }
            #expect(offHost.isEmpty && !report.requests.isEmpty, "requests off the host: \(offHost)")
        }
    }
}

extension BrowserTests {
    /// A finished sweep with two objectives and a constraint: the Pareto page draws every config
    /// (means with error bars over seeds), front 1 is the board's, infeasible ones are grey, a
    /// point opens its trial, and the overview draws the hypervolume's history.
    @Test func theParetoPageDrawsTheBoardsFrontAndEachPointOpensItsTrial() throws {
        let (work, shots, sweep, db) = try Self.workspace("browser-pareto")
        try Data(
            """
            name: pareto
            program: {dir: \(testPrograms.appendingPathComponent("fit").path), command: [python3, fit.py]}
            dataset: none
            objectives:
              - {name: valid_accuracy, goal: maximize}
              - {name: valid_log_loss, goal: minimize}
            constraints:
              - {metric: valid_accuracy, min: 0.7}
            method: grid
            repeats: 2
            fixed: {epochs: 3}
            parameters:
              lr: {values: [0.003, 0.03, 0.3, 1.0, 3.0]}
              l2: {values: [0, 3]}

            """.utf8
        ).write(to: URL(fileURLWithPath: sweep))
        let run = try runSweep(["run", sweep, "--db", db])
        try #require(run.status == 0, "\(run.stderr)")
        let board = try #require(
            try JSONSerialization.jsonObject(
                with: Data(try runSweep(["leaderboard", "--db", db, "--by-config", "--format", "json"]).stdout.utf8))
                as? [String: Any])
        let rows = try #require(board["rows"] as? [[String: Any]])
        let onFront = rows.filter { $0["front"] as? Int == 1 }.count
        let infeasible = rows.filter { ($0["violation"] as? Double ?? 0) > 0 }.count
        let (dashboard, origin) = try Self.dashboard(db)
        defer { dashboard.kill(SIGTERM) }
        let report = try BrowserReport(
            [
                ["open": origin + "/pareto"],
                ["eval": "document.querySelectorAll('#pareto circle.point').length", "name": "points"],
                ["eval": "document.querySelectorAll('#pareto circle.point[data-front=\"1\"]').length", "name": "front 1"],
                ["eval": "document.querySelectorAll('#pareto circle.point[data-front=\"infeasible\"]').length", "name": "infeasible"],
                ["eval": "document.querySelectorAll('#pareto line.error-bar').length", "name": "error bars"],
                ["screenshot": shots.appendingPathComponent("pareto.png").path],
                [
                    "eval": "document.querySelector('#pareto circle.point[data-front=\"1\"]').parentElement.getAttribute('href')",
                    "name": "link",
                ],
                [
                    "eval":
                        "document.querySelector('#pareto circle.point[data-front=\"1\"]').parentElement.dispatchEvent(new MouseEvent('click', {bubbles: true})) || true",
                    "name": "clicked",
                ],
                ["wait": "location.pathname.startsWith('/trial/')", "timeout": 20],
                ["eval": "location.pathname", "name": "opened"],
                ["open": origin + "/"],
                // The trial page's load event may still be on its way: wait for the overview itself.
                ["wait": "location.pathname === '/' && document.querySelector('#hypervolume') !== null", "timeout": 20],
                ["eval": "document.querySelectorAll('#hypervolume circle.point').length", "name": "hypervolume points"],
            ], in: work)
        #expect(report.failed == nil, "\(report.failed ?? "")")
        #expect(report.values["points"] as? Int == rows.count)
        #expect(report.values["front 1"] as? Int == onFront && onFront >= 1)
        #expect(report.values["infeasible"] as? Int == infeasible)
        #expect((report.values["error bars"] as? Int ?? 0) >= 2)
        #expect((report.values["opened"] as? String) == (report.values["link"] as? String), "\(report.values)")
        #expect((report.values["hypervolume points"] as? Int ?? 0) >= 1)
        #expect(report.consoleErrors.isEmpty && report.exceptions.isEmpty, "\(report.consoleErrors) \(report.exceptions)")
        #expect(report.requests.allSatisfy { $0.hasPrefix(origin) || $0.hasPrefix("data:") }, "\(report.requests)")
    }
}
