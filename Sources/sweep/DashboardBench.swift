import ArgumentParser
import Dashboard
import Foundation
import ML
import SweepCore
import Vocabulary

/// The dashboard's latency on a large store: N finished trials of the loss-search space (three
/// epochs each, values from a closed-form function of the config), every route fetched over HTTP.
/// `--live` stores results before each request (one, or `--results-per-request`), as during a
/// running sweep, so nothing the dashboard remembers from the previous request is simply still valid.
struct DashboardBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dashboard", abstract: "Milliseconds per dashboard request (median, p99) on a store of N finished trials.")

    @Option(help: "Finished trials in the store.") var trials = 10_000
    @Option(help: "Requests per route.") var requests = 100
    @Flag(help: "Store results before each request (a running sweep).") var live = false
    @Option(help: "With --live: results stored before each request (a fast sweep finishes thousands between two polls).")
    var resultsPerRequest = 1
    @Flag(help: "Print one JSON document.") var json = false
    @Option(name: .customLong("route"), help: "Only these routes (repeatable; default: every page and API route).") var onlyRoutes:
        [String] = []
    @Option(help: "Keep the store at this path (built there when missing, reused when it holds the same sweep).") var store: String?

    func validate() throws {
        if trials < 1 { throw ValidationError("--trials must be at least 1") }
        if requests < 1 { throw ValidationError("--requests must be at least 1") }
        if resultsPerRequest < 1 { throw ValidationError("--results-per-request must be at least 1") }
    }

    func run() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sweep-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        // Trials left waiting for the requests to finish: a result before each (and each warm-up).
        let routeCount = onlyRoutes.isEmpty ? Self.everyRoute(trial: "").count : onlyRoutes.count
        let spares = live ? ((requests + 1) * routeCount + 1) * resultsPerRequest : 0
        let spec = try SweepSpec.parse(
            """
            name: dashboard-bench
            dataset: {synthetic: {preset: small, seed: 1}}
            method: random
            count: \(trials + spares)
            fixed: {epochs: 3}
            parameters:
              loss: {values: [bce, weighted_bce, focal, class_balanced]}
              pos_weight_mult: {distribution: log_uniform, min: 0.25, max: 4, when: {loss: weighted_bce}}
              rnn: {values: [false, true]}
              multitask: {values: [false, true]}
              balancer: {values: [fixed, uncertainty, gradnorm, dwa], when: {multitask: true}}
              alpha: {distribution: log_uniform, min: 0.0001, max: 1, when: {balancer: fixed}}
              lr: {distribution: log_uniform, min: 0.00001, max: 0.003}

            """, file: folder.appendingPathComponent("bench.yaml"))
        let path = store ?? folder.appendingPathComponent("bench.db").path
        let reused = FileManager.default.fileExists(atPath: path)
        let controller = try TrialController(spec: spec, store: try SweepStore.open(path: path), trainExamples: 1)
        _ = try controller.applyPlan(fingerprint: "bench", popularity: nil)
        try controller.store.recordWorker(name: "bench", host: "bench", cores: 1, blasThreads: 1, blasCore: "none", state: .online)
        var stored = reused ? try controller.store.stateCounts()[.completed, default: 0] : 0
        func storeOne() throws {
            guard case .trial(let claim) = try controller.ask(worker: "bench", lease: "L\(stored)") else { return }
            let value = Self.value(try claim.config())
            var history: [EpochRecord] = []
            for epoch in 1...3 {
                let scaled = value * Double(epoch) / 3
                let metrics = RankingMetrics(dictionary: Dictionary(uniqueKeysWithValues: RankingMetrics.names.map { ($0, scaled) }))!
                history.append(
                    EpochRecord(
                        epoch: epoch, lossMain: 0.01 / Double(epoch), lossAux: nil, weights: .singleTask,
                        valid: metrics, test: metrics, seconds: 1, trainSeconds: 1))
                _ = try controller.tellEpoch(lease: claim.lease, record: history.last!)
            }
            _ = try controller.tellResult(
                lease: claim.lease, worker: "bench",
                report: TrialResult(
                    bestEpoch: 3, valid: history[2].valid.dictionary, test: history[2].test.dictionary, history: history,
                    timing: TrainingTiming(examplesPerSecond: 1, secondsPerEpoch: 1, totalSeconds: 3, threads: 1, blasCore: "none")))
            stored += 1
        }
        let fillStart = Date()
        if !reused { try controller.store.batch { for _ in 0..<trials { try storeOne() } } }
        let fillSeconds = Date().timeIntervalSince(fillStart)
        let someTrial = try controller.store.trials()[trials / 2].id

        // As `sweep dashboard` in a process of its own: its reader knows none of the configs.
        let server = try DashboardServer(storePath: path, settings: DashboardSettings(port: 0))
        let serving = Task.detached { try await server.run() }
        defer { serving.cancel() }
        let port = try await server.waitUntilListening()
        let routes = onlyRoutes.isEmpty ? Self.everyRoute(trial: someTrial) : onlyRoutes
        // The server's very first request reads and parses every trial: reported apart.
        let coldStart = DispatchTime.now()
        _ = try Self.get(port: port, path: routes[0])
        let firstRequest = Double(DispatchTime.now().uptimeNanoseconds - coldStart.uptimeNanoseconds) / 1e6
        var figures: [(route: String, median: Double, p99: Double, bytes: Int)] = []
        for route in routes {
            _ = try Self.get(port: port, path: route)  // warm-up
            var milliseconds: [Double] = [], bytes = 0
            for _ in 0..<requests {
                if live { try controller.store.batch { for _ in 0..<resultsPerRequest { try storeOne() } } }
                let start = DispatchTime.now()
                let (status, body) = try Self.get(port: port, path: route)
                milliseconds.append(Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e6)
                guard status == 200 else {
                    throw StoreError(message: "\(route) answered \(status): \(String(decoding: body, as: UTF8.self))")
                }
                bytes = body.count
            }
            milliseconds.sort()
            figures.append(
                (
                    route, milliseconds[milliseconds.count / 2],
                    milliseconds[min(milliseconds.count - 1, Int(0.99 * Double(milliseconds.count)))], bytes
                ))
        }
        if json {
            return print(
                try Documents.text(
                    DashboardBenchReport(
                        trials: trials, requests: requests, live: live, resultsPerRequest: live ? resultsPerRequest : 0,
                        fillSeconds: fillSeconds, firstRequestMilliseconds: firstRequest,
                        routes: figures.map {
                            .init(route: $0.route, medianMilliseconds: $0.median, p99Milliseconds: $0.p99, bytes: $0.bytes)
                        })))
        }
        let more = resultsPerRequest == 1 ? "one more" : "\(resultsPerRequest) more"
        print(
            "\(trials) finished trials\(live ? ", \(more) stored before each request" : ""); \(requests) requests per route after one warm-up"
        )
        print(String(format: "  the server's first request (%@): %.1f ms", routes[0], firstRequest))
        for figure in figures {
            print(
                String(
                    format: "  %-28@ median %7.1f ms   p99 %7.1f ms   %8d bytes", figure.route as NSString, figure.median, figure.p99,
                    figure.bytes))
        }
    }

    /// Every page and API route, with `trial` for the trial page.
    static func everyRoute(trial: String) -> [String] {
        [
            "/leaderboard", "/api/leaderboard", "/leaderboard?by_config=1", "/", "/api/status", "/parameters",
            "/api/importance", "/trial/\(trial)", "/compare", "/api/trials",
        ]
    }

    /// One HTTP/1.1 GET over a plain socket, read to the end of its body: the request as a
    /// browser's costs the server, without an HTTP library's own overhead in the figure.
    static func get(port: UInt16, path: String) throws -> (status: Int, body: ArraySlice<UInt8>) {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { throw StoreError(message: "socket: \(String(cString: strerror(errno)))") }
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw StoreError(message: "connect: \(String(cString: strerror(errno)))") }
        let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8)
        guard write(socket, request, request.count) == request.count else {
            throw StoreError(message: "write: \(String(cString: strerror(errno)))")
        }
        var response: [UInt8] = [], buffer = [UInt8](repeating: 0, count: 1 << 16)
        var headerEnd: Int?, length: Int?
        while true {
            let count = read(socket, &buffer, buffer.count)
            if count <= 0 { break }
            response.append(contentsOf: buffer[..<count])
            if headerEnd == nil, let end = response.firstRange(of: Array("\r\n\r\n".utf8))?.upperBound {
                headerEnd = end
                let header = String(decoding: response[..<end], as: UTF8.self).lowercased()
                length = header.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }.flatMap {
                    Int($0.dropFirst(15).trimmingCharacters(in: .whitespaces))
                }
                if let length { response.reserveCapacity(end + length) }  // one buffer for a 10 MB body, as a browser's
            }
            if let headerEnd, let length, response.count >= headerEnd + length { break }
        }
        guard let headerEnd,
            let statusText = String(decoding: response[..<headerEnd], as: UTF8.self).split(separator: " ").dropFirst().first,
            let status = Int(statusText)
        else { throw StoreError(message: "\(path): no HTTP response") }
        return (status, response[headerEnd...])
    }

    /// A smooth function of the config with its best at weighted BCE, lr 10^-2.8 (sweep-bench-tpe's).
    static func value(_ config: TrialConfig) -> Double {
        var value = 0.06 + ["bce": 0.0, "weighted_bce": 0.05, "focal": 0.03, "class_balanced": 0.02][config.loss.rawValue]!
        value -= 0.02 * pow(log10(config.lr) + 2.8, 2)
        if config.loss == .weightedBCE { value -= 0.03 * pow(log2(config.posWeightMult) - 0.5, 2) }
        if config.rnn { value -= 0.03 }
        if config.multitask { value -= config.balancer == .fixed ? 0.01 * pow(log10(config.alpha) + 3, 2) : 0.006 }
        return max(value, 0.001)
    }
}

/// `sweep bench dashboard --json`.
struct DashboardBenchReport: Encodable {
    struct Route: Encodable {
        var route: String
        var medianMilliseconds: Double
        var p99Milliseconds: Double
        var bytes: Int

        enum CodingKeys: String, CodingKey { case route, medianMilliseconds = "median_ms", p99Milliseconds = "p99_ms", bytes }
    }

    var trials: Int
    var requests: Int
    var live: Bool
    var resultsPerRequest: Int
    var fillSeconds: Double
    var firstRequestMilliseconds: Double
    var routes: [Route]

    enum CodingKeys: String, CodingKey {
        case trials, requests, live, resultsPerRequest = "results_per_request", fillSeconds = "fill_seconds"
        case firstRequestMilliseconds = "first_request_ms", routes
    }
}
