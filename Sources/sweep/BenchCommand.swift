import ArgumentParser
import Coordinator
import Dashboard
import Foundation
import ML
import Protocol
import SweepCore
import Synchronization
import Vocabulary
import Worker

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmarks of the system itself.",
        subcommands: [CoordinatorBench.self, SimulatedWorkers.self, StoreBench.self, DashboardBench.self])
}

/// A throwaway folder with a tiny synthetic dataset and a random search of `trials` distinct
/// trials over it, planned into a fresh store: what both benchmarks start from.
struct BenchSweep {
    let folder: URL
    let spec: SweepSpec
    let dataset: ResolvedDataset
    let controller: TrialController
    var store: SweepStore { controller.store }

    init(trials: Int) throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("sweep-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try SyntheticDataset(options: .init(items: 50, train: 20, valid: 10, test: 10, dimension: 4, tags: 5, tastes: 2, seed: 0))
            .write(to: folder.appendingPathComponent("data"))
        // A random search over a continuous parameter (draws that round alike are one trial).
        let sweepFile = folder.appendingPathComponent("bench.yaml")
        try Data(
            """
            name: coordinator-bench
            dataset: data
            method: random
            count: \(trials)
            parameters:
              lr: {distribution: uniform, min: 0.0001, max: 0.01}

            """.utf8
        ).write(to: sweepFile)
        spec = try SweepSpec.load(sweepFile)
        dataset = try ResolvedDataset(spec.dataset)
        controller = try TrialController(
            spec: spec, store: try SweepStore.open(path: folder.appendingPathComponent("bench.db").path),
            trainExamples: dataset.dataset.train.count)
        _ = try controller.applyPlan(fingerprint: dataset.fingerprint.fingerprint, popularity: nil)
    }

    func remove() { try? FileManager.default.removeItem(at: folder) }
}

/// Coordinator overhead: no-op trials (answered at once) through the real coordinator, real
/// sockets to real worker processes, and the real durable store; or, with `--simulated-workers`,
/// thousands of simulated workers (each its own connection) whose trials take `--trial-seconds`.
struct CoordinatorBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coordinator",
        abstract: "Trials per second, assign latency, CPU and memory of a coordinator under many workers.")

    @Option(help: "Worker processes running no-op trials.") var workers = 16
    @Option(
        help:
            "Simulated workers instead of worker processes: each a connection of its own speaking the real protocol, thousands to a process."
    ) var simulatedWorkers: Int?
    @Option(help: "Simulated workers per process (each takes two open files).") var perProcess = 2500
    @Option(help: "Seconds a simulated trial lasts (0: answered at once).") var trialSeconds = 0.0
    @Option(help: "Epoch reports per simulated trial.") var epochs = 0
    @Option(help: "Seconds over which simulated workers join.") var rampSeconds = 0.0
    @Option(help: "Simulated workers killed mid-trial (no bye), to time how soon the coordinator declares them dead.") var kill = 0
    @Option(help: "Seconds after the start at which they are killed.") var killAfter = 10.0
    @Flag(help: "Simulated workers connect over CURVE (one authorised key they share).") var curve = false
    @Option(help: "Trials in the sweep.") var trials = 20_000
    @Flag(help: "Print one JSON document.") var json = false
    @Flag(help: "Also serve the dashboard from this process, its leaderboard page fetched every second.") var dashboard = false

    func validate() throws {
        if workers < 1 { throw ValidationError("--workers must be at least 1") }
        if let simulatedWorkers, simulatedWorkers < 1 { throw ValidationError("--simulated-workers must be at least 1") }
        if perProcess < 1 { throw ValidationError("--per-process must be at least 1") }
        if trialSeconds < 0 || epochs < 0 || rampSeconds < 0 || kill < 0 || killAfter < 0 {
            throw ValidationError("--trial-seconds, --epochs, --ramp-seconds, --kill and --kill-after cannot be negative")
        }
        if simulatedWorkers == nil && (trialSeconds > 0 || epochs > 0 || kill > 0 || curve) {
            throw ValidationError("--trial-seconds, --epochs, --kill and --curve go with --simulated-workers")
        }
        if trials < 2 {
            throw ValidationError("--trials must be at least 2 (throughput is measured between the first result and the last)")
        }
    }

    func run() throws {
        let openFiles = raiseOpenFileLimit()
        let sweep = try BenchSweep(trials: trials)
        defer { sweep.remove() }
        let (spec, dataset, store) = (sweep.spec, sweep.dataset, sweep.store)
        let memoryBefore = residentMegabytes()
        let context = try ZMQContext()
        let keys = try curve ? BenchKeys(folder: sweep.folder, context: context) : nil
        let server = try CoordinatorServer(
            context: context, endpoint: "tcp://127.0.0.1:*", controller: sweep.controller, dataset: dataset.located,
            admission: Admission(buildID: buildID, heartbeatMilliseconds: 1000, liveness: 5, sweepName: spec.name),
            settings: SchedulerSettings(heartbeat: 1, liveness: 5), curve: keys.map { ($0.serverSecret, $0.authenticator) })
        let endpoint = try server.endpoint()
        var serving: Task<Void, any Error>?
        let pages = Mutex<[Double]>([])  // each page's milliseconds (a failed fetch: -1)
        let stopPolling = Mutex(false)
        defer { stopPolling.withLock { $0 = true } }
        if dashboard {
            let web = try DashboardServer(storePath: store.path, settings: DashboardSettings(port: 0), known: sweep.controller.planned)
            serving = Task.detached { try await web.run() }
            let port = try waitForPort(web)
            // As a browser would: one plain GET a second, from a thread of its own (a blocking
            // read on the concurrency pool would hold a thread the server needs).
            let poller = Thread {
                while !stopPolling.withLock({ $0 }) {
                    let start = DispatchTime.now()
                    let status = (try? DashboardBench.get(port: port, path: "/leaderboard"))?.status
                    let milliseconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e6
                    pages.withLock { $0.append(status == 200 ? milliseconds : -1) }
                    Thread.sleep(forTimeInterval: 1)
                }
            }
            poller.start()
        }
        defer { serving?.cancel() }
        let processes = try startWorkers(endpoint: endpoint, keys: keys)
        var peakMemory = memoryBefore, lastSample = Date.distantPast
        server.onProgress = {  // sampled at most 4 times a second, to keep the measurement cheap
            guard Date().timeIntervalSince(lastSample) > 0.25 else { return }
            lastSample = Date()
            peakMemory = max(peakMemory, residentMegabytes())
        }
        let start = Date(), cpuBefore = processCPUSeconds()
        _ = try server.serve(until: StopFlag())
        let seconds = Date().timeIntervalSince(start), cpu = processCPUSeconds() - cpuBefore
        peakMemory = max(peakMemory, residentMegabytes())
        var latencies: [Double] = [], simulated = WorkerSimulator.Report()
        for (process, output) in processes {
            // A simulated worker that joined after the last goodbye waits for a coordinator that is gone.
            awaitExit(process, within: 5)
            let data = output.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            if simulatedWorkers == nil {
                latencies += (try? JSONDecoder().decode(NoopWorkerReport.self, from: data))?.assignLatencySeconds ?? []
            } else {
                let report = try JSONDecoder().decode(WorkerSimulator.Report.self, from: data)
                simulated.merge(report)
                latencies += report.assignLatencySeconds
            }
        }
        latencies.sort()
        func percentile(_ p: Double) -> Double {
            latencies.isEmpty ? 0 : latencies[min(latencies.count - 1, Int(p * Double(latencies.count)))] * 1000
        }
        let states = try store.stateCounts()
        let completed = states[.completed, default: 0]
        if completed < states.values.reduce(0, +) {
            printError(
                "only \(completed) of \(states.values.reduce(0, +)) trials completed: "
                    + states.map { "\($0.value) \($0.key.rawValue)" }.sorted().joined(separator: ", "))
        }
        // Throughput while serving: from the first stored result to the last, so the workers'
        // start-up and the goodbyes at the end do not count (they are in `wall_seconds`).
        guard let span = try store.resultSpan(), span.count > 1 else {
            throw StoreError(message: "the bench stored \(completed) results; it needs two")
        }
        let rate = Double(span.count - 1) / span.last.timeIntervalSince(span.first)
        let counters = server.counters
        let heartbeat = counters.handling["heartbeat"] ?? HandlingTime()
        let detection = try store.workers().compactMap { worker -> Double? in
            guard worker.state == .lost, let killed = simulated.killed[worker.name] else { return nil }
            return worker.lastSeen.timeIntervalSince1970 - killed
        }.sorted()
        let storeBytes = [store.path, store.path + "-wal"].compactMap {
            (try? FileManager.default.attributesOfItem(atPath: $0))?[.size] as? Int
        }.reduce(0, +)
        let report = CoordinatorBenchReport(
            workers: simulatedWorkers ?? workers, simulated: simulatedWorkers != nil, trials: completed, wallSeconds: seconds,
            trialsPerSecond: rate,
            assignLatencyMilliseconds: [
                "p50": percentile(0.5), "p90": percentile(0.9), "p99": percentile(0.99), "p999": percentile(0.999),
                "max": (latencies.last ?? 0) * 1000, "samples": Double(latencies.count),
            ],
            coordinatorMegabytes: ["before": memoryBefore, "peak": peakMemory],
            coordinatorMillisecondsPerTrial: cpu / Double(max(completed, 1)) * 1000,
            coordinatorCPUPerSecond: cpu / seconds,
            heartbeatMicroseconds: heartbeat.count == 0 ? 0 : heartbeat.seconds / Double(heartbeat.count) * 1e6,
            heartbeats: heartbeat.count,
            timerRoundMicroseconds: counters.timerRounds == 0 ? 0 : counters.timerSeconds / Double(counters.timerRounds) * 1e6,
            deadWorkerDetectionSeconds: detection, storeMegabytes: Double(storeBytes) / 1_048_576,
            openFileLimit: openFiles, simulation: simulatedWorkers == nil ? nil : simulated,
            dashboardPagesMilliseconds: pages.withLock { $0 })
        if json { return print(try Documents.text(report)) }
        print(
            String(
                format:
                    "%d %@workers, %d trials in %.2f s (start-up and goodbyes included): %.0f trials/s while serving; assign latency p50 %.2f ms, p99 %.2f ms; coordinator RSS %.0f → %.0f MB, CPU %.3f ms per trial, %.2f s per second",
                report.workers, simulatedWorkers == nil ? "" : "simulated ", completed, seconds, rate, percentile(0.5),
                percentile(0.99), memoryBefore, peakMemory, report.coordinatorMillisecondsPerTrial, report.coordinatorCPUPerSecond))
        print(
            String(
                format: "heartbeats handled: %d, %.1f µs each; timer rounds %.1f µs each; store %.1f MB", heartbeat.count,
                report.heartbeatMicroseconds, report.timerRoundMicroseconds, report.storeMegabytes))
        if !detection.isEmpty {
            print("dead workers declared after (s): " + detection.map { String(format: "%.2f", $0) }.joined(separator: ", "))
        }
        if let simulation = report.simulation, !simulation.errors.isEmpty {
            print("simulated workers' errors: " + simulation.errors.map { "\($0.key) ×\($0.value)" }.sorted().joined(separator: ", "))
        }
        if dashboard {
            let served = pages.withLock { $0 }
            print(
                "leaderboard page fetched \(served.count) times, ms each: "
                    + served.map { $0 < 0 ? "failed" : String(format: "%.0f", $0) }.joined(separator: ", "))
        }
    }

    /// Worker processes (no-op trials), or simulator processes sharing the simulated workers out.
    private func startWorkers(endpoint: String, keys: BenchKeys?) throws -> [(Process, Pipe)] {
        let commands: [[String]]
        if let simulatedWorkers {
            let processCount = (simulatedWorkers + perProcess - 1) / perProcess
            commands = (0..<processCount).map { index in
                let first = index * perProcess, count = min(perProcess, simulatedWorkers - first)
                return [
                    "bench", "workers", "--connect", endpoint, "--workers", "\(count)", "--first-index", "\(first)",
                    "--trial-seconds", "\(trialSeconds)", "--epochs", "\(epochs)", "--ramp-seconds", "\(rampSeconds)", "--json",
                ]
                    + (kill > 0 ? ["--kill", "\(kill * count / simulatedWorkers)", "--kill-after", "\(killAfter)"] : [])
                    + (keys.map { ["--server-key", $0.serverPublicFile.path, "--curve-secret", $0.workerSecretFile.path] } ?? [])
            }
        } else {
            commands = (0..<workers).map {
                ["worker", "--connect", endpoint, "--name", "bench-\($0)", "--noop-trials", "--nice", "\(localWorkerNice)"]
            }
        }
        return try commands.map { arguments in
            let process = Process(), output = Pipe()
            process.executableURL = URL(fileURLWithPath: executablePath())
            process.arguments = arguments
            process.standardOutput = output
            process.standardError = simulatedWorkers == nil ? FileHandle.nullDevice : FileHandle.standardError
            try process.run()
            return (process, output)
        }
    }
}

/// The CURVE keys of a bench: the coordinator's pair and one worker key every simulated worker
/// shares, authorised by a ZAP handler bound on `context`.
struct BenchKeys {
    let serverSecret: [UInt8]
    let serverPublicFile: URL
    let workerSecretFile: URL
    let authenticator: Authenticator

    init(folder: URL, context: ZMQContext) throws {
        let server = try Curve.generateKeyPair(), worker = try Curve.generateKeyPair()
        let authorized = folder.appendingPathComponent("authorized")
        try FileManager.default.createDirectory(at: authorized, withIntermediateDirectories: true)
        serverPublicFile = folder.appendingPathComponent("server.pub")
        workerSecretFile = folder.appendingPathComponent("sim.key")
        try Data((server.publicKey + "\n").utf8).write(to: serverPublicFile)
        try Data((worker.secretKey + "\n").utf8).write(to: workerSecretFile)
        try Data((worker.publicKey + "\n").utf8).write(to: authorized.appendingPathComponent("sim.pub"))
        guard let secret = Curve.decode(server.secretKey) else { throw ValidationError("a generated CURVE key did not decode") }
        serverSecret = secret
        authenticator = try Authenticator(context: context, keys: authorized)
    }
}

/// `sweep bench workers`: simulated workers against any coordinator.
struct SimulatedWorkers: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "workers",
        abstract: "Simulate many workers against a coordinator: each a connection of its own speaking the real protocol, trials that sleep."
    )

    @Option(help: "The coordinator's endpoint.") var connect: String
    @Option(help: "Simulated workers in this process (each takes two open files).") var workers = 100
    @Option(help: "Workers are named <name-prefix>-<index>.") var namePrefix = "sim"
    @Option(help: "The first worker's index.") var firstIndex = 0
    @Option(help: "Seconds a trial lasts (0: answered at once).") var trialSeconds = 0.0
    @Option(help: "Epoch reports per trial.") var epochs = 0
    @Option(help: "Seconds over which the workers join.") var rampSeconds = 0.0
    @Option(help: "Each worker says bye and leaves after this many results.") var trialsPerWorker: Int?
    @Option(help: "Workers killed mid-trial (sockets closed without bye).") var kill = 0
    @Option(help: "Seconds after the start at which they are killed.") var killAfter = 10.0
    @Option(help: "The coordinator's CURVE public key file (.pub).") var serverKey: String?
    @Option(help: "With --server-key: the CURVE secret key file every simulated worker uses.") var curveSecret: String?
    @Flag(help: "Print one JSON document (assign latencies included).") var json = false

    func validate() throws {
        if workers < 1 { throw ValidationError("--workers must be at least 1") }
        if trialSeconds < 0 || epochs < 0 || rampSeconds < 0 || kill < 0 || killAfter < 0 || firstIndex < 0 {
            throw ValidationError("--trial-seconds, --epochs, --ramp-seconds, --kill, --kill-after and --first-index cannot be negative")
        }
        if let trialsPerWorker, trialsPerWorker < 1 { throw ValidationError("--trials-per-worker must be at least 1") }
        if (serverKey == nil) != (curveSecret == nil) { throw ValidationError("--server-key and --curve-secret go together") }
    }

    func run() throws {
        let simulator = try WorkerSimulator(
            settings: .init(
                endpoint: connect, workers: workers, namePrefix: namePrefix, firstIndex: firstIndex, trialSeconds: trialSeconds,
                epochs: epochs, rampSeconds: rampSeconds, trialsPerWorker: trialsPerWorker, kills: kill, killAfterSeconds: killAfter,
                buildID: buildID,
                curve: try serverKey.map { try WorkerCommand.curveKeys(serverKey: $0, secret: curveSecret ?? "") }))
        let stop = StopFlag()
        let signals = stopOnSignals(stop)
        defer { signals.forEach { $0.cancel() } }
        let report = try simulator.run(until: stop)
        if json { return print(try Documents.text(report)) }
        print(
            "\(report.workers) simulated workers: \(report.welcomed) welcomed, \(report.results) results acknowledged, \(report.epochReports) epoch reports, \(report.cancelled) cancelled, \(report.left) left, \(report.finished) told the sweep is finished, \(report.killed.count) killed"
        )
        if !report.errors.isEmpty {
            print("errors: " + report.errors.map { "\($0.key) ×\($0.value)" }.sorted().joined(separator: ", "))
        }
    }
}

/// The store's share of a trial on the coordinator's serving thread, without sockets: each
/// transaction tells the controller one result per worker and asks it for each worker's next
/// trial, as a batch of the server's does, on a real WAL file.
struct StoreBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store", abstract: "Microseconds per trial of the store's hot path (result + next claim), by batch size.")

    @Option(help: "Trials in the sweep.") var trials = 20_000
    @Option(help: "Results (each with the next claim) per transaction.") var batch = 8
    @Option(help: "Runs, each on a fresh store; the median is reported.") var runs = 5
    @Flag(help: "Print one JSON document.") var json = false

    func validate() throws {
        if batch < 1 { throw ValidationError("--batch must be at least 1") }
        if runs < 1 { throw ValidationError("--runs must be at least 1") }
        if trials < 2 * batch { throw ValidationError("--trials must be at least twice --batch") }
    }

    func run() throws {
        var figures: [Double] = []
        for _ in 0..<runs {
            let sweep = try BenchSweep(trials: trials)
            defer { sweep.remove() }
            let (store, controller) = (sweep.store, sweep.controller)
            let workers = (0..<batch).map { "bench-\($0)" }
            for worker in workers {
                try store.recordWorker(name: worker, host: "bench", cores: 1, blasThreads: 1, blasCore: "none", state: .online)
            }
            let result = TrialResult(
                bestEpoch: 1, valid: ["ndcg@10": 0], test: ["ndcg@10": 0], history: [],
                timing: TrainingTiming(examplesPerSecond: 0, secondsPerEpoch: 0, totalSeconds: 0, threads: 1, blasCore: "none"))
            var leases = [String?](repeating: nil, count: batch), issued = 0, stored = 0, more = true
            let start = Date()
            while more {
                try store.batch {
                    for (index, worker) in workers.enumerated() {
                        if let lease = leases[index], try controller.tellResult(lease: lease, worker: worker, report: result) == .stored {
                            stored += 1
                        }
                        issued += 1
                        let lease = String(format: "L-%012lx", issued)  // ordered, as the server's are
                        if case .trial = try controller.ask(worker: worker, lease: lease) {
                            leases[index] = lease
                        } else {
                            leases[index] = nil
                            more = false
                        }
                    }
                }
            }
            figures.append(Date().timeIntervalSince(start) / Double(max(stored, 1)) * 1e6)
        }
        let median = figures.sorted()[figures.count / 2]
        if json {
            return print(try Documents.text(StoreBenchReport(trials: trials, batch: batch, median: median, runs: figures)))
        }
        print(
            String(
                format: "store hot path, transactions of %d results each with the next claim: %.1f µs per trial (median of %d runs: %@)",
                batch, median, runs, figures.map { String(format: "%.1f", $0) }.joined(separator: ", ")))
    }
}

/// The port a dashboard started on the concurrency pool listens on, waited for from this thread.
func waitForPort(_ web: DashboardServer) throws -> UInt16 {
    let port = Mutex<Result<UInt16, any Error>?>(nil)
    Task.detached {
        let result: Result<UInt16, any Error>
        do { result = .success(try await web.waitUntilListening()) } catch { result = .failure(error) }
        port.withLock { $0 = result }
    }
    while true {
        if let result = port.withLock({ $0 }) { return try result.get() }
        Thread.sleep(forTimeInterval: 0.01)
    }
}

/// CPU seconds (user + system) this process has used, all threads.
func processCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
    return seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// This process's resident set size in MB (Linux /proc).
func residentMegabytes() -> Double {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
        let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
        let kilobytes = Double(line.split(separator: " ").dropFirst().first ?? "")
    else { return 0 }
    return kilobytes / 1024
}

/// What a no-op worker prints for `sweep bench coordinator`: the wait from asking to `assign`.
struct NoopWorkerReport: Codable {
    var assignLatencySeconds: [Double]

    enum CodingKeys: String, CodingKey { case assignLatencySeconds = "assign_latency_s" }
}

/// `sweep bench coordinator --json`.
struct CoordinatorBenchReport: Encodable {
    var workers: Int
    var simulated: Bool
    var trials: Int
    var wallSeconds: Double
    var trialsPerSecond: Double
    /// p50, p90, p99, p999, max and the sample count.
    var assignLatencyMilliseconds: [String: Double]
    var coordinatorMegabytes: [String: Double]
    var coordinatorMillisecondsPerTrial: Double
    /// CPU seconds the coordinator's process used per wall second (the dashboard's too when on).
    var coordinatorCPUPerSecond: Double
    /// Mean time to handle one heartbeat (decoding, the store, the replies), and how many came.
    var heartbeatMicroseconds: Double
    var heartbeats: Int
    /// Mean time of one round of the coordinator's timers (liveness scan, store poll).
    var timerRoundMicroseconds: Double
    /// Seconds from a simulated worker's death to the coordinator declaring it dead, sorted.
    var deadWorkerDetectionSeconds: [Double]
    /// The store's file and its write-ahead log at the end.
    var storeMegabytes: Double
    var openFileLimit: Int
    /// What the simulated workers saw (assign latencies left out: they are above).
    var simulation: WorkerSimulator.Report?
    var dashboardPagesMilliseconds: [Double]

    enum CodingKeys: String, CodingKey {
        case workers, simulated, trials, wallSeconds = "wall_seconds", trialsPerSecond = "trials_per_second"
        case assignLatencyMilliseconds = "assign_latency_ms", coordinatorMegabytes = "coordinator_rss_mb"
        case coordinatorMillisecondsPerTrial = "coordinator_cpu_ms_per_trial", coordinatorCPUPerSecond = "coordinator_cpu_s_per_s"
        case heartbeatMicroseconds = "heartbeat_us", heartbeats, timerRoundMicroseconds = "timer_round_us"
        case deadWorkerDetectionSeconds = "dead_worker_detection_s", storeMegabytes = "store_mb", openFileLimit = "open_file_limit"
        case simulation, dashboardPagesMilliseconds = "dashboard_pages_ms"
    }
}

/// `sweep bench store --json`.
struct StoreBenchReport: Encodable {
    struct Figures: Encodable {
        var median: Double
        var runs: [Double]
    }

    var trials: Int
    var batch: Int
    var microsecondsPerTrial: Figures

    init(trials: Int, batch: Int, median: Double, runs: [Double]) {
        (self.trials, self.batch) = (trials, batch)
        microsecondsPerTrial = Figures(median: median, runs: runs)
    }

    enum CodingKeys: String, CodingKey { case trials, batch, microsecondsPerTrial = "microseconds_per_trial" }
}
