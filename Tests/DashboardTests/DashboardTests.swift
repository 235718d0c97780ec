import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import ML
import Testing
import TestSupport
@testable import Dashboard
@testable import SweepCore

/// A store with a finished sweep: 6 trials of a synthetic grid, trained through the controller
/// (no sockets), as `sweep run` leaves it; made once per test process (the dashboard never writes it).
let sharedStore: Result<String, any Error> = Result { try finishedStore() }

func finishedStore() throws -> String {
    let folder = TestFolders.fresh("dashboard")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    let text = """
        name: dash
        dataset: {synthetic: {preset: small, seed: 3}}
        method: grid
        repeats: 2
        fixed: {epochs: 3}
        parameters:
          lr: {values: [0.001, 0.01, 0.05]}

        """
    let spec = try SweepSpec.parse(text, file: folder.appendingPathComponent("sweep.yaml"))
    let dataset = try ResolvedDataset(spec.dataset, cacheRoot: folder)
    let path = folder.appendingPathComponent("s.db").path
    let controller = try TrialController(spec: spec, store: try SweepStore.open(path: path), trainExamples: dataset.dataset.train.count)
    _ = try controller.applyPlan(fingerprint: dataset.fingerprint.fingerprint, popularity: dataset.popularity)
    try LocalRunner(controller: controller, dataset: dataset.dataset, threads: 1, workerName: "local").run()
    return path
}

/// Serves `path` on a free loopback port for the body's duration.
func withDashboard<T>(_ path: String, token: String? = nil, _ body: (URL) async throws -> T) async throws -> T {
    let server = try DashboardServer(storePath: path, settings: DashboardSettings(port: 0, token: token))
    let task = Task { try await server.run() }
    defer { task.cancel() }
    let port = try await server.waitUntilListening()
    return try await body(URL(string: "http://127.0.0.1:\(port)")!)
}

func get(_ url: URL, headers: [String: String] = [:]) async throws -> (status: Int, body: String, headers: [AnyHashable: Any]) {
    var request = URLRequest(url: url)
    for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
    let (data, response) = try await URLSession.shared.data(for: request)
    let http = response as! HTTPURLResponse
    return (http.statusCode, String(decoding: data, as: UTF8.self), http.allHeaderFields)
}

func jsonObject(_ text: String) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
}

@Suite(.serialized) struct DashboardTests {
    @Test func everyApiRouteReturnsTheCLIsDocument() async throws {
        let path = try sharedStore.get()
        let store = try SweepStore.openReadOnly(path: path)
        let sweep = try #require(try store.sweep())
        let trials = try store.trials()
        try await withDashboard(path) { base in
            let leaderboard = try await get(base.appendingPathComponent("api/leaderboard"))
            #expect(leaderboard.status == 200)
            let expected = try LeaderboardReport(trials: trials, metric: sweep.metric, popularity: sweep.popularity, epochs: try store.epochTotals()).json(byConfig: false)
            #expect(leaderboard.body == expected)
            let byConfig = try await get(URL(string: base.absoluteString + "/api/leaderboard?by_config=1")!)
            #expect(try (jsonObject(byConfig.body)["rows"] as? [[String: Any]])?.count == 3)
            let all = try await get(base.appendingPathComponent("api/trials"))
            #expect(try (jsonObject(all.body)["rows"] as? [[String: Any]])?.count == 6)
            let status = try await get(base.appendingPathComponent("api/status"))
            // The same document as `sweep status --json` (its clock-dependent fields aside).
            let served = try jsonObject(status.body), printed = try jsonObject(try Documents.status(store))
            #expect(served["sweep"] as? String == "dash" && (served["trials"] as? NSDictionary) == (printed["trials"] as? NSDictionary))
            #expect(Set(served.keys) == Set(printed.keys))
            let trial = try await get(base.appendingPathComponent("api/trial/\(trials[0].id)"))
            #expect(trial.body == (try Documents.text(try Documents.trial(trials[0], store: store, sweep: sweep))))
            #expect(try (jsonObject(trial.body)["epochs"] as? [Any])?.count == 3)
            let importance = try await get(base.appendingPathComponent("api/importance"))
            #expect(try (jsonObject(importance.body)["importance"] as? [[String: Any]])?.first?["parameter"] as? String == "lr")
            let export = try await get(base.appendingPathComponent("api/export/\(trials[0].id)"))
            #expect(export.body == Export.trialFile(for: trials[0], sweep: sweep).yamlText())
            #expect(try await get(base.appendingPathComponent("api/trial/ffffffffffffffff")).status == 404)
            #expect(try await get(base.appendingPathComponent("nowhere")).status == 404)
        }
    }

    @Test func pagesRenderTheRankingAndOneChartPointPerEpoch() async throws {
        let path = try sharedStore.get()
        let store = try SweepStore.openReadOnly(path: path)
        let trials = try store.trials()
        try await withDashboard(path) { base in
            let overview = try await get(base)
            #expect(overview.status == 200 && overview.body.contains("<h1>dash</h1>") && overview.body.contains("id=\"history\""))
            #expect(overview.body.components(separatedBy: "data-series=\"trial\"").count - 1 == 6, "one point per completed trial")
            let board = try await get(base.appendingPathComponent("leaderboard"))
            let rows = board.body.components(separatedBy: "<tr data-row").count - 1
            #expect(rows == 6 && board.body.contains("popularity baseline") && board.body.contains("/api/export/"))
            // Rows in the ranking's order.
            let ranked = Leaderboard.rank(trials, metric: "ndcg@10").map(\.trial.id)
            let order = ranked.compactMap { id in board.body.range(of: "data-trial=\"\(id)\"")?.lowerBound }
            #expect(order.count == 6 && order == order.sorted())
            let trial = try await get(base.appendingPathComponent("trial/\(trials[0].id)"))
            #expect(trial.body.components(separatedBy: "data-series=\"valid ndcg@10\"").count - 1 == 3)
            #expect(trial.body.contains("id=\"losses\"") && trial.body.contains("id=\"collapse\"") && trial.body.contains("<summary>Table</summary>"))
            // The live part alone, for the page's refresh.
            let fragment = try await get(URL(string: base.absoluteString + "/leaderboard?fragment=1")!)
            #expect(!fragment.body.contains("<html") && fragment.body.contains("<table"))
            // Nothing comes from another host.
            for page in [overview.body, board.body, trial.body] { #expect(!page.contains("http://") && !page.contains("https://")) }
            #expect(try await get(base.appendingPathComponent("static/dashboard.js")).body.contains("setInterval(refresh, 2000)"))
        }
    }

    @Test func compareOverlaysThePickedTrialsAndParametersShowEveryCompletedTrial() async throws {
        let path = try sharedStore.get()
        let trials = try SweepStore.openReadOnly(path: path).trials()
        try await withDashboard(path) { base in
            let compare = try await get(URL(string: base.absoluteString + "/compare?trials=\(trials[0].id)&trials=\(trials[1].number)")!)
            let series = Set(compare.body.components(separatedBy: "data-series=\"").dropFirst().map { $0.prefix { $0 != "\"" } })
            #expect(series == ["#1 \(trials[0].id.prefix(8))", "#2 \(trials[1].id.prefix(8))"], "\(series)")
            let validChart = try #require(compare.body.components(separatedBy: "id=\"compare-valid\"").last?.components(separatedBy: "</figure>").first)
            #expect(validChart.components(separatedBy: "class=\"point\"").count - 1 == 6, "3 epochs of 2 trials")
            let defaults = try await get(base.appendingPathComponent("compare"))
            #expect(defaults.body.components(separatedBy: "<option").count - 1 == 6 && defaults.body.components(separatedBy: " selected>").count - 1 == 4)
            let parameters = try await get(base.appendingPathComponent("parameters"))
            #expect(parameters.body.components(separatedBy: "class=\"trial-line\"").count - 1 == 6, "one line per completed trial")
            #expect(parameters.body.contains("data-label=\"lr\"") && parameters.body.contains("id=\"slice-0\""))
            let slice = try #require(parameters.body.components(separatedBy: "id=\"slice-0\"").last?.components(separatedBy: "</figure>").first)
            #expect(slice.components(separatedBy: "class=\"point\"").count - 1 == 6)
        }
    }

    @Test func aTokenIsCheckedOnEveryRequest() async throws {
        let path = try sharedStore.get()
        try await withDashboard(path, token: "s3cret-token") { base in
            #expect(try await get(base.appendingPathComponent("api/status")).status == 401)
            #expect(try await get(URL(string: base.absoluteString + "/api/status?token=wrong")!).status == 401)
            #expect(try await get(URL(string: base.absoluteString + "/api/status?token=s3cret-tokeX")!).status == 401)
            #expect(try await get(URL(string: base.absoluteString + "/api/status?token=s3cret-token")!).status == 200)
            #expect(try await get(base.appendingPathComponent("api/status"), headers: ["Authorization": "Bearer s3cret-token"]).status == 200)
            let page = try await get(URL(string: base.absoluteString + "/?token=s3cret-token")!)
            #expect(page.status == 200 && "\(page.headers["Set-Cookie"] ?? "")".contains("sweep_token=s3cret-token"))
            #expect(try await get(base.appendingPathComponent("leaderboard"), headers: ["Cookie": "sweep_token=s3cret-token"]).status == 200)
        }
        #expect(Handler.constantTimeEqual("abc", "abc") && !Handler.constantTimeEqual("abc", "abd") && !Handler.constantTimeEqual("abc", "ab"))
    }

    @Test func aMissingStoreOrOneFromANewerBuildIsRefusedWithTheReason() throws {
        #expect { try DashboardServer(storePath: "/nonexistent/s.db", settings: DashboardSettings(port: 0)) } throws: { "\($0)".contains("no such sweep database") }
        // A store with a plan and no results is enough here.
        let path = TestFolders.fresh("dashboard-newer").path
        let spec = try SweepSpec.parse("name: n\ndataset: {synthetic: {preset: small, seed: 1}}\nmethod: grid\nparameters: {lr: {values: [0.01]}}\n",
                                       file: URL(fileURLWithPath: "/tmp/sweep.yaml"))
        _ = try TrialController(spec: spec, store: try SweepStore.open(path: path), trainExamples: 0).applyPlan(fingerprint: "f", popularity: nil)
        try runSQLite(path, "INSERT INTO grdb_migrations (identifier) VALUES ('v99-from-the-future')")
        #expect { try DashboardServer(storePath: path, settings: DashboardSettings(port: 0)) } throws: { "\($0)".contains("newer version") }
    }
}

/// Runs one SQL statement on a store with the sqlite3 command line tool.
func runSQLite(_ path: String, _ sql: String) throws {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
    process.arguments = [path, sql]
    try process.run()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { throw StoreError(message: "sqlite3 failed") }
}
