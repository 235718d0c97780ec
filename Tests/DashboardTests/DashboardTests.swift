import Foundation
import LocalRun
import ML
import TestSupport
import Testing
import Vocabulary

@testable import Dashboard
@testable import SweepCore

/// A store with a finished sweep: 6 trials of a synthetic grid, trained through the controller
/// (no sockets), as `sweep run` leaves it; made once per test process (the dashboard never writes it).
let sharedStore: Result<String, any Error> = Result { try finishedStore() }

func finishedStore(
    _ text: String = """
    name: dash
    dataset: {synthetic: {preset: small, seed: 3}}
    method: grid
    repeats: 2
    fixed: {epochs: 3}
    parameters:
      lr: {values: [0.001, 0.01, 0.05]}

    """
) throws -> String {
    let folder = TestFolders.fresh("dashboard")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    let spec = try SweepSpec.parse(text, file: folder.appendingPathComponent("sweep.yaml"))
    let dataset = try ResolvedDataset(spec.dataset, cacheRoot: folder)
    let path = folder.appendingPathComponent("s.db").path
    let controller = try TrialController(spec: spec, store: try SweepStore.open(path: path), trainExamples: dataset.dataset.train.count)
    _ = try controller.applyPlan(fingerprint: dataset.fingerprint.fingerprint, popularity: dataset.popularity)
    try LocalRunner(controller: controller, dataset: dataset.dataset, threads: 1, workerName: "local").run()
    return path
}

/// The built `sweep` binary (beside the test runner).
let sweepBinary: URL = {
    var url = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    while url.path != "/" && !FileManager.default.fileExists(atPath: url.appendingPathComponent("sweep").path) {
        url.deleteLastPathComponent()
    }
    return url.appendingPathComponent("sweep")
}()

/// Serves `path` with `sweep dashboard` on a free loopback port for the body's duration. A
/// process of its own: the test runner's threads are often all busy with other suites' waits,
/// and an in-process server would queue behind them.
func withDashboard<T>(_ path: String, token: Bool = false, _ body: (_ base: String, _ token: String?) throws -> T) throws -> T {
    try withDashboard([path], token: token, body)
}

/// The same for several stores.
func withDashboard<T>(_ paths: [String], token: Bool = false, _ body: (_ base: String, _ token: String?) throws -> T) throws -> T {
    let process = Process(), errors = Pipe()
    process.executableURL = sweepBinary
    process.arguments = ["dashboard"] + paths.flatMap { ["--db", $0] } + ["--bind", "127.0.0.1:0"] + (token ? ["--token"] : [])
    process.standardError = errors
    try process.run()
    defer {
        process.terminate()
        process.waitUntilExit()
    }
    var printed = Data()
    while !String(decoding: printed, as: UTF8.self).contains("\n") {
        let piece = errors.fileHandleForReading.availableData
        guard !piece.isEmpty else { break }
        printed += piece
    }
    let line = String(decoding: printed, as: UTF8.self)
    let url = try #require(line.components(separatedBy: " at ").last?.split(separator: "\n").first.map(String.init), "\(line)")
    let parts = url.components(separatedBy: "/?token=")
    return try body(String(parts[0].dropLast(parts[0].hasSuffix("/") ? 1 : 0)), parts.count > 1 ? parts[1] : nil)
}

/// GET with curl: status, body and response headers.
func get(_ url: String, headers: [String: String] = [:], maxTime: Int = 60) throws -> (status: Int, body: String, headers: String) {
    let folder = TestFolders.fresh("curl")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    let bodyFile = folder.appendingPathComponent("body").path, headerFile = folder.appendingPathComponent("headers").path
    let process = Process(), output = Pipe()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
    process.arguments =
        ["-s", "-g", "-o", bodyFile, "-D", headerFile, "-w", "%{http_code}", "--max-time", String(maxTime)]
        + headers.flatMap { ["-H", "\($0.key): \($0.value)"] } + [url]
    process.standardOutput = output
    try process.run()
    let status = Int(String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)) ?? 0
    process.waitUntilExit()
    return (
        status, (try? String(contentsOfFile: bodyFile, encoding: .utf8)) ?? "",
        (try? String(contentsOfFile: headerFile, encoding: .utf8)) ?? ""
    )
}

func jsonObject(_ text: String) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
}

@Suite(.serialized) struct DashboardTests {
    @Test func everyApiRouteReturnsTheCLIsDocument() throws {
        let path = try sharedStore.get()
        let store = try SweepStore.openReadOnly(path: path)
        let sweep = try #require(try store.sweep())
        let trials = try store.trials()
        try withDashboard(path) { base, _ in
            let leaderboard = try get(base + "/api/leaderboard")
            #expect(leaderboard.status == 200)
            let expected = LeaderboardReport(
                trials: trials, ranking: sweep.ranking, popularity: sweep.popularity, epochs: try store.epochTotals()
            ).json(byConfig: false)
            #expect(leaderboard.body == expected)
            let byConfig = try get(base + "/api/leaderboard?by_config=1")
            #expect(try (jsonObject(byConfig.body)["rows"] as? [[String: Any]])?.count == 3)
            let all = try get(base + "/api/trials")
            #expect(try (jsonObject(all.body)["rows"] as? [[String: Any]])?.count == 6)
            let status = try get(base + "/api/status")
            // The same document as `sweep status --json` (its clock-dependent fields aside).
            let served = try jsonObject(status.body), printed = try jsonObject(try Documents.status(store))
            #expect(served["sweep"] as? String == "dash" && (served["trials"] as? NSDictionary) == (printed["trials"] as? NSDictionary))
            #expect(Set(served.keys) == Set(printed.keys))
            let trial = try get(base + "/api/trial/\(trials[0].id)")
            #expect(trial.body == (try Documents.text(try Documents.trial(trials[0], store: store, sweep: sweep))))
            #expect(try (jsonObject(trial.body)["epochs"] as? [Any])?.count == 3)
            let importance = try get(base + "/api/importance")
            #expect(try (jsonObject(importance.body)["importance"] as? [[String: Any]])?.first?["parameter"] as? String == "lr")
            let export = try get(base + "/api/export/\(trials[0].id)")
            #expect(export.body == (try Export.trialFile(for: trials[0], sweep: sweep)).yamlText())
            #expect(try get(base + "/api/trial/ffffffffffffffff").status == 404)
            #expect(try get(base + "/nowhere").status == 404)
        }
    }

    @Test func pagesRenderTheRankingAndOneChartPointPerEpoch() throws {
        let path = try sharedStore.get()
        let store = try SweepStore.openReadOnly(path: path)
        let trials = try store.trials()
        try withDashboard(path) { base, _ in
            let overview = try get(base + "/")
            #expect(overview.status == 200 && overview.body.contains("<h1>dash</h1>") && overview.body.contains("id=\"history\""))
            #expect(overview.body.components(separatedBy: "data-series=\"trial\"").count - 1 == 6, "one point per completed trial")
            let board = try get(base + "/leaderboard")
            let rows = board.body.components(separatedBy: "<tr data-row").count - 1
            #expect(rows == 6 && board.body.contains("popularity baseline") && board.body.contains("/api/export/"))
            // Rows in the ranking's order.
            let ranked = Leaderboard.rank(trials, ranking: Ranking(metric: "ndcg@10")).map(\.trial.id)
            let order = ranked.compactMap { id in board.body.range(of: "data-trial=\"\(id)\"")?.lowerBound }
            #expect(order.count == 6 && order == order.sorted())
            let trial = try get(base + "/trial/\(trials[0].id)")
            #expect(trial.body.components(separatedBy: "data-series=\"valid ndcg@10\"").count - 1 == 3)
            #expect(
                trial.body.contains("id=\"losses\"") && trial.body.contains("id=\"collapse\"")
                    && trial.body.contains("<summary>Table</summary>"))
            // The live part alone, for the page's refresh.
            let fragment = try get(base + "/leaderboard?fragment=1")
            #expect(!fragment.body.contains("<html") && fragment.body.contains("<table"))
            // Nothing comes from another host.
            for page in [overview.body, board.body, trial.body] { #expect(!page.contains("http://") && !page.contains("https://")) }
            #expect(try get(base + "/static/dashboard.js").body.contains("setInterval(refresh, 2000)"))
        }
    }

    /// A sweep a budget ended: the overview says which budget, how much of each was used, why no
    /// trial starts, and each worker's slots.
    @Test func theOverviewSaysWhichBudgetEndedTheSweepAndEachWorkersSlots() throws {
        let path = try finishedStore(
            """
            name: budgeted
            dataset: {synthetic: {preset: small, seed: 3}}
            method: grid
            fixed: {epochs: 2}
            parameters:
              lr: {values: [0.001, 0.01, 0.05]}
            budget: {trials: 2, epochs: 100}

            """)
        try withDashboard(path) { base, _ in
            let overview = try get(base + "/").body
            #expect(overview.contains("<dd id=\"budget\">trials 2/2 <strong>reached</strong><br>epochs 4/100</dd>"), "\(overview)")
            #expect(
                overview.contains("<p class=\"note\" id=\"halted\">No more trials start: the trials budget is reached (trials 2/2)</p>"))
            #expect(overview.contains("<th>slots</th>") && overview.contains("<td>1 slot, idle</td>"))
        }
    }

    /// The leaderboard page filters, sorts and cuts on the server, so a 10,000-trial sweep sends
    /// only the rows shown; the ranking stays the default order.
    @Test func theLeaderboardFiltersSortsAndLimitsOnTheServer() throws {
        let path = try sharedStore.get()
        let trials = try SweepStore.openReadOnly(path: path).trials()
        func rows(_ body: String) -> [String] {
            body.components(separatedBy: "data-trial=\"").dropFirst().map { String($0.prefix { $0 != "\"" }) }
        }
        func lr(_ id: String) -> Double? { trials.first { $0.id == id }?.config.lr }
        try withDashboard(path) { base, _ in
            let filtered = try get(base + "/leaderboard?q=lr%3D0.01")
            #expect(rows(filtered.body).count == 2 && rows(filtered.body).allSatisfy { lr($0) == 0.01 }, "\(rows(filtered.body))")
            #expect(filtered.body.contains("2 rows matching the filter (of 6)") && filtered.body.contains("value=\"lr=0.01\""))
            #expect(rows(try get(base + "/leaderboard?q=lr%3D0.01+seed%3D1").body).count == 1, "every word must match")
            let cut = try get(base + "/leaderboard?rows=2")
            #expect(rows(cut.body).count == 2 && cut.body.contains("the first 2 of 6 rows") && cut.body.contains("rows=all"))
            #expect(rows(try get(base + "/leaderboard?rows=all").body).count == 6)
            let descending = rows(try get(base + "/leaderboard?sort=lr&desc=1").body).compactMap(lr)
            #expect(descending == descending.sorted(by: >) && descending.first == 0.05)
            let ascending = try get(base + "/leaderboard?sort=lr")
            #expect(
                rows(ascending.body).compactMap(lr) == [0.001, 0.001, 0.01, 0.01, 0.05, 0.05]
                    && ascending.body.contains("aria-sort=\"ascending\""))
            let nonsense = try get(base + "/leaderboard?sort=nonsense")
            #expect(
                nonsense.status == 400 && nonsense.body.contains("columns are rank, #, trial"),
                "a column the board lacks is named, not ignored")
            let icon = try get(base + "/favicon.ico")
            #expect(icon.status == 200 && icon.headers.lowercased().contains("image/svg+xml"))
        }
    }

    @Test func compareOverlaysThePickedTrialsAndParametersShowEveryCompletedTrial() throws {
        let path = try sharedStore.get()
        let trials = try SweepStore.openReadOnly(path: path).trials()
        try withDashboard(path) { base, _ in
            let compare = try get(base + "/compare?trials=\(trials[0].id)&trials=\(trials[1].number)")
            let series = Set(compare.body.components(separatedBy: "data-series=\"").dropFirst().map { $0.prefix { $0 != "\"" } })
            #expect(series == ["#1 \(trials[0].id.prefix(8))", "#2 \(trials[1].id.prefix(8))"], "\(series)")
            let validChart = try #require(
                compare.body.components(separatedBy: "id=\"compare-valid\"").last?.components(separatedBy: "</figure>").first)
            #expect(validChart.components(separatedBy: "class=\"point\"").count - 1 == 6, "3 epochs of 2 trials")
            let defaults = try get(base + "/compare")
            #expect(
                defaults.body.components(separatedBy: "<option").count - 1 == 6
                    && defaults.body.components(separatedBy: " selected>").count - 1 == 4)
            let parameters = try get(base + "/parameters")
            #expect(parameters.body.components(separatedBy: "class=\"trial-line\"").count - 1 == 6, "one line per completed trial")
            #expect(parameters.body.contains("data-label=\"lr\"") && parameters.body.contains("id=\"slice-0\""))
            let slice = try #require(
                parameters.body.components(separatedBy: "id=\"slice-0\"").last?.components(separatedBy: "</figure>").first)
            #expect(slice.components(separatedBy: "class=\"point\"").count - 1 == 6)
        }
    }

    /// Every query parameter of every route, given values a careless or hostile client sends: a
    /// 400 naming the parameter, never a crash (`top=-1` once trapped in `prefix` and ended the
    /// process), and the dashboard answers normally afterwards.
    @Test func everyQueryParameterOfEveryRouteIsChecked() throws {
        let path = try sharedStore.get()
        let trial = try SweepStore.openReadOnly(path: path).trials()[0].id
        let routes: [(path: String, parameters: [String])] = [
            ("/", ["fragment"]), ("/leaderboard", ["by_config", "all", "desc", "rows", "fragment"]), ("/compare", ["fragment"]),
            ("/parameters", ["fragment"]), ("/trial/\(trial)", ["fragment"]), ("/api/status", []),
            ("/api/leaderboard", ["top", "all", "by_config"]), ("/api/trials", ["top"]), ("/api/importance", ["quantile"]),
            ("/api/trial/\(trial)", []), ("/api/export/\(trial)", []), ("/static/dashboard.css", []),
        ]
        let flags: Set = ["fragment", "by_config", "all", "desc"]
        let hostile = ["-1", "-5", "0", "99999999999999999999", "-9223372036854775808", "abc", "1e309", "nan", "%zz", ""]
        try withDashboard(path) { base, _ in
            for route in routes {
                for parameter in route.parameters {
                    for value in hostile {
                        let reply = try get(base + route.path + "?\(parameter)=\(value)")
                        // A flag's `0` is the one fine value here.
                        if reply.status == 200 {
                            #expect(flags.contains(parameter) && value == "0", "\(route.path)?\(parameter)=\(value)")
                        } else {
                            #expect(reply.status == 400, "\(route.path)?\(parameter)=\(value): \(reply.status)")
                            #expect(
                                reply.body.contains("'\(parameter)'") || value == "%zz",
                                "\(route.path)?\(parameter)=\(value): \(reply.body)")
                        }
                    }
                }
                let unknown = try get(base + route.path + "?bogus=1")
                #expect(unknown.status == 400 && unknown.body.contains("'bogus'"), "\(route.path): \(unknown.body)")
            }
            #expect(try get(base + "/api/leaderboard?top=1&top=2").body.contains("given twice"))
            #expect(try get(base + "/leaderboard?sort=nonsense").body.contains("'sort' names no column"))
            #expect(try get(base + "/store/-9223372036854775808/").status == 404)
            #expect(try get(base + "/api/leaderboard?top=2").status == 200)
            #expect(try get(base + "/leaderboard?rows=all").status == 200)
        }
    }

    /// A long request line or header block is refused at once, before the token is looked at
    /// (FlyingFox's parser took 1.7 s over a 64 KiB line and minutes over 1 MiB, at full CPU).
    @Test func oversizedRequestsAreRefusedAtOnce() throws {
        let path = try sharedStore.get()
        try withDashboard(path, token: true) { base, token in
            let token = try #require(token)
            #expect(try get(base + "/?token=\(token)&q=" + String(repeating: "a", count: 9 << 10)).status == 414)
            #expect(try get(base + "/?token=\(token)", headers: ["X-Padding": String(repeating: "b", count: 9 << 10)]).status == 431)
            let many = Dictionary(uniqueKeysWithValues: (0..<80).map { ("X-Field-\($0)", "1") })
            #expect(try get(base + "/?token=\(token)", headers: many).status == 431)
            // Past the parser's own cap: refused by the parser, the connection closed. Without a token too.
            // (100 KiB: an argument of curl's command line holds 128 KiB at most.) The server may
            // close before curl has sent it all, so curl sees the 400 or a reset; either way at
            // once (curl gives up after 10 s), and the server serves on.
            for _ in 0..<4 {
                #expect([400, 0].contains(try get(base + "/?q=" + String(repeating: "c", count: 100 << 10), maxTime: 10).status))
            }
            #expect(
                [400, 0].contains(try get(base + "/", headers: ["X-Padding": String(repeating: "d", count: 100 << 10)], maxTime: 10).status)
            )
            #expect(try get(base + "/api/status?token=\(token)").status == 200)
        }
    }

    @Test func aTokenIsCheckedOnEveryRequest() throws {
        let path = try sharedStore.get()
        try withDashboard(path, token: true) { base, token in
            let token = try #require(token)
            #expect(token.count == 32)
            #expect(try get(base + "/api/status").status == 401)
            #expect(try get(base + "/api/status?token=wrong").status == 401)
            #expect(try get(base + "/api/status?token=" + token.dropLast() + "X").status == 401)
            #expect(try get(base + "/api/status?token=" + token).status == 200)
            #expect(try get(base + "/api/status", headers: ["Authorization": "Bearer " + token]).status == 200)
            let page = try get(base + "/?token=" + token)
            #expect(page.status == 200 && page.headers.contains("sweep_token=" + token))
            #expect(try get(base + "/leaderboard", headers: ["Cookie": "sweep_token=" + token]).status == 200)
        }
        #expect(
            Handler.constantTimeEqual("abc", "abc") && !Handler.constantTimeEqual("abc", "abd") && !Handler.constantTimeEqual("abc", "ab"))
    }

    /// Several stores: `/` compares their best configs, each store's pages and API sit under
    /// `/store/N/` with every link kept inside it.
    @Test func severalStoresAreComparedAndEachIsServedUnderItsNumber() throws {
        let first = try sharedStore.get()
        let second = try finishedStore(
            """
            name: other
            dataset: {synthetic: {preset: small, seed: 3}}
            method: grid
            fixed: {epochs: 2, loss: bce}
            parameters:
              lr: {values: [0.02, 0.2]}

            """)
        let stores = try [first, second].map { try SweepStore.openReadOnly(path: $0) }
        let bests = try stores.map { try #require(Leaderboard.rank(try $0.trials(), ranking: Ranking(metric: "ndcg@10")).first) }
        try withDashboard([first, second]) { base, _ in
            let compared = try get(base + "/")
            #expect(
                compared.status == 200 && compared.body.contains("id=\"stores\"") && compared.body.contains(">dash</a>")
                    && compared.body.contains(">other</a>"))
            for (index, best) in bests.enumerated() {
                #expect(compared.body.contains("href=\"/store/\(index + 1)/trial/\(best.trial.id)\""))
                #expect(compared.body.contains(format(best.value)))
            }
            #expect(
                compared.body.contains("The best configs differ in: epochs, loss, lr, pos_weight_mult."),
                "seed is the repeat, not a difference")
            #expect(compared.body.components(separatedBy: "class=\"point\"").count - 1 == 3 + 2, "each best trial's epochs")
            let board = try get(base + "/store/2/leaderboard")
            #expect(board.body.components(separatedBy: "<tr data-row").count - 1 == 2 && board.body.contains("href=\"/store/2/trial/"))
            #expect(!board.body.contains("href=\"/trial/") && !board.body.contains("href=\"/leaderboard"))
            let sweep = try #require(try stores[0].sweep())
            let api = try get(base + "/store/1/api/leaderboard")
            #expect(
                api.body
                    == LeaderboardReport(
                        trials: try stores[0].trials(), ranking: sweep.ranking, popularity: sweep.popularity,
                        epochs: try stores[0].epochTotals()
                    ).json(byConfig: false))
            #expect(try get(base + "/store/2/trial/\(bests[1].trial.id)").status == 200)
            let elsewhere = try get(base + "/leaderboard")
            #expect(elsewhere.status == 404 && elsewhere.body.contains("/store/1/"))
            #expect(try get(base + "/store/3/").status == 404)
        }
    }

    @Test func aMissingStoreOrOneFromANewerBuildIsRefusedWithTheReason() throws {
        #expect { try DashboardServer(storePath: "/nonexistent/s.db", settings: DashboardSettings(port: 0)) } throws: {
            "\($0)".contains("no such sweep database")
        }
        // A store with a plan and no results is enough here.
        let path = TestFolders.fresh("dashboard-newer").path
        let spec = try SweepSpec.parse(
            "name: n\ndataset: {synthetic: {preset: small, seed: 1}}\nmethod: grid\nparameters: {lr: {values: [0.01]}}\n",
            file: URL(fileURLWithPath: "/tmp/sweep.yaml"))
        _ = try TrialController(spec: spec, store: try SweepStore.open(path: path), trainExamples: 0).applyPlan(
            fingerprint: "f", popularity: nil)
        try runSQLite(path, "INSERT INTO grdb_migrations (identifier) VALUES ('v99-from-the-future')")
        #expect { try DashboardServer(storePath: path, settings: DashboardSettings(port: 0)) } throws: { "\($0)".contains("newer version") }
    }

    /// `--bind 127.1:…` printed inet_pton's error; an address that is not dotted IPv4 is named, and
    /// a port already taken says which address could not be had.
    @Test func anAddressItCannotBindIsNamed() async throws {
        let path = try sharedStore.get()
        for host in ["127.1", "::1", "localhost.localdomain"] {
            #expect { try DashboardServer(storePath: path, settings: DashboardSettings(host: host, port: 0)) } throws: {
                "\($0)".contains("\(host) is not an IPv4 address such as 127.0.0.1")
            }
        }
        let first = try DashboardServer(storePath: path, settings: DashboardSettings(port: 0))
        let serving = Task { try await first.run() }
        defer { serving.cancel() }
        let port = try await first.waitUntilListening()
        let second = try DashboardServer(storePath: path, settings: DashboardSettings(port: port))
        await #expect { try await second.run() } throws: { "\($0)".contains("the dashboard cannot listen on 127.0.0.1:\(port)") }
    }
}

@Suite struct RenderThreadTests {
    struct Refused: Error {}

    /// Replies are made on the dashboard's own thread at nice +10 (a coordinator serving its
    /// dashboard keeps precedence), the caller's priority untouched, and errors come back.
    @Test func repliesAreMadeOnOneThreadAtLowerPriority() async throws {
        let renderer = RenderThread()
        defer { renderer.stop() }
        let callers = getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)
        let (niceness, name) = try await renderer.run {
            (
                getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0),
                try String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)
            )
        }
        #expect(
            niceness == max(RenderThread.niceness, callers),
            "a process already nicer than +10 stays so (raising a priority needs privilege)")
        #expect(name == RenderThread.name + "\n")
        #expect(getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0) == callers)
        await #expect(throws: Refused.self) { try await renderer.run { throw Refused() } }
        let answers = try await withThrowingTaskGroup(of: (Int, Int).self) { group in
            for index in 0..<20 { group.addTask { (index, try await renderer.run { index * index }) } }
            return try await group.reduce(into: [(Int, Int)]()) { $0.append($1) }
        }
        #expect(answers.count == 20 && answers.allSatisfy { $0.1 == $0.0 * $0.0 }, "each caller gets its own job's answer")
    }
}

/// The parameters page's parallel coordinates on a grid like the quickstart's: `pos_weight_mult`
/// only under `weighted_bce`, and values written `1` in the file but stored `1.0`.
@Suite struct ParallelCoordinatesTests {
    @Test func everyTrialIsOneUnbrokenLineWithInactiveValuesAtTheirOwnPlace() {
        let axes: [ParallelCoordinates.Axis] = [
            .init(name: "loss", choices: ["bce", "weighted_bce", "focal"].map(ConfigValue.string)),
            .init(name: "pos_weight_mult", choices: [.double(0.5), .int(1), .int(2)]),
            .init(name: "lr", choices: nil, log: true),
            .init(name: "valid ndcg@10", choices: nil),
        ]
        let rows: [(id: String, values: [ConfigValue?])] = [
            ("a", [.string("bce"), nil, .double(0.001), .double(0.46)]),
            ("b", [.string("weighted_bce"), .double(1.0), .double(0.00002), .double(0.20)]),
            ("c", [.string("weighted_bce"), .double(2.0), .double(0.001), .double(0.45)]),
            ("d", [.string("focal"), nil, .double(0.001), .double(0.44)]),
        ]
        let chart = ParallelCoordinates(id: "parallel", title: "t", axes: axes, rows: rows, objective: Objective(metric: "ndcg@10"))
        let positions = chart.positions()
        #expect(positions.allSatisfy { $0.count == axes.count }, "every trial meets every axis")
        // Inactive at the foot (0), active values above it; `1.0` found at the file's `1`.
        #expect(positions[0][1] == 0 && positions[3][1] == 0)
        #expect(abs(positions[1][1] - (0.15 + 0.5 * 0.85)) < 1e-12 && abs(positions[2][1] - 1) < 1e-12)
        // No axis lacks an inactive trial but this one: its values span [0, 1].
        #expect(positions.map { $0[0] } == [0, 0.5, 0.5, 1])
        let html = chart.html
        #expect(html.components(separatedBy: "class=\"trial-line\"").count - 1 == rows.count, "one polyline per trial")
        for line in html.components(separatedBy: "points=\"").dropFirst() {
            #expect(line.prefix { $0 != "\"" }.split(separator: " ").count == axes.count, "a point on each axis")
        }
        #expect(html.contains(">inactive</text>"))
    }
}

/// The dashboard's one reader of a store: it reads every trial once, then only what a writer
/// changed, and never parses a config it was told of or has parsed.
@Suite struct CachedReaderTests {
    @Test func itReadsEverythingOnceThenOnlyWhatAWriterChanged() throws {
        let folder = TestFolders.fresh("reader")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("s.db").path
        let spec = try SweepSpec.parse(
            "name: r\ndataset: {synthetic: {preset: small, seed: 1}}\nmethod: grid\nrepeats: 3\nparameters:\n  lr: {values: [0.001, 0.01]}\n",
            file: folder.appendingPathComponent("sweep.yaml"))
        let planned = try SearchSpace(spec: spec).plan()
        let writer = try SweepStore.open(path: path)
        _ = try writer.syncPlan(spec: spec, trials: planned, fingerprint: "f", popularity: nil)
        let reader = CachedReader(store: try SweepStore.openReadOnly(path: path))
        #expect(try reader.trials().map(\.id) == planned.map(\.id))
        #expect(reader.counts == (1, planned.count))
        #expect(try reader.trials().count == planned.count && reader.counts == (1, planned.count), "no commit: nothing read")
        let claim = try #require(try writer.claimNextTrial(worker: "w", lease: "L1"))
        let trialResult = TrialResult(
            bestEpoch: 1, valid: ["ndcg@10": 0.25], test: ["ndcg@10": 0.2], history: [],
            timing: TrainingTiming(examplesPerSecond: 1, secondsPerEpoch: 1, totalSeconds: 1, threads: 1, blasCore: "Haswell"))
        #expect(try writer.completeTrial(lease: claim.lease, worker: "w", result: trialResult) == .stored)
        let after = try reader.trials()
        #expect(after.first { $0.id == claim.trial }?.state == .completed)
        #expect(after.first { $0.id == claim.trial }?.result?.valid["ndcg@10"] == 0.25)
        #expect(reader.counts == (1, planned.count), "the change was patched in, no config parsed again")
        #expect(try reader.findTrial(String(claim.trial.prefix(8))).id == claim.trial)
        // A reader told of the plan (a coordinator serving its dashboard) parses no stored config.
        let told = CachedReader(store: try SweepStore.openReadOnly(path: path), known: planned)
        #expect(try told.trials().map(\.id) == planned.map(\.id) && told.counts == (1, 0))
        let sweep = try #require(try writer.sweep())
        #expect(try told.spec(of: sweep).repeats == 3)
    }
}
