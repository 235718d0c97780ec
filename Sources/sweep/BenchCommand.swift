import ArgumentParser
import Coordinator
import Dashboard
import Foundation
import ML
import Protocol
import SweepCore
import Synchronization
import Vocabulary

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmarks of the system itself.", subcommands: [CoordinatorBench.self, StoreBench.self, DashboardBench.self])
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
        // A random search over a continuous parameter: every draw a distinct trial.
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
/// sockets to real worker processes, and the real durable store.
struct CoordinatorBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coordinator", abstract: "Trials per second and assign latency with no-op trials.")

    @Option(help: "Worker processes.") var workers = 16
    @Option(help: "Trials in the sweep.") var trials = 20_000
    @Flag(help: "Print one JSON document.") var json = false
    @Flag(help: "Also serve the dashboard from this process, its leaderboard page fetched every second.") var dashboard = false

    func validate() throws {
        if workers < 1 { throw ValidationError("--workers must be at least 1") }
        if trials < 2 {
            throw ValidationError("--trials must be at least 2 (throughput is measured between the first result and the last)")
        }
    }

    func run() throws {
        let sweep = try BenchSweep(trials: trials)
        defer { sweep.remove() }
        let (spec, dataset, store) = (sweep.spec, sweep.dataset, sweep.store)
        let memoryBefore = residentMegabytes()
        let context = try ZMQContext()
        let server = try CoordinatorServer(
            context: context, endpoint: "tcp://127.0.0.1:*", controller: sweep.controller, dataset: dataset.located,
            admission: Admission(buildID: buildID, heartbeatMilliseconds: 1000, liveness: 5, sweepName: spec.name),
            settings: SchedulerSettings(heartbeat: 1, liveness: 5))
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
        let processes = try (0..<workers).map { index -> (Process, Pipe) in
            let process = Process(), output = Pipe()
            process.executableURL = URL(fileURLWithPath: executablePath())
            process.arguments = [
                "worker", "--connect", endpoint, "--name", "bench-\(index)", "--noop-trials", "--nice", "\(localWorkerNice)",
            ]
            process.standardOutput = output
            process.standardError = FileHandle.nullDevice
            try process.run()
            return (process, output)
        }
        var peakMemory = memoryBefore, lastSample = Date.distantPast
        server.onProgress = {  // sampled at most 4 times a second, to keep the measurement cheap
            guard Date().timeIntervalSince(lastSample) > 0.25 else { return }
            lastSample = Date()
            peakMemory = max(peakMemory, residentMegabytes())
        }
        let start = Date(), cpuBefore = processCPUSeconds()
        _ = try server.serve(until: StopFlag())
        let seconds = Date().timeIntervalSince(start), cpu = processCPUSeconds() - cpuBefore
        var latencies: [Double] = []
        for (process, output) in processes {
            let data = output.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            latencies += (try? JSONDecoder().decode(NoopWorkerReport.self, from: data))?.assignLatencySeconds ?? []
        }
        latencies.sort()
        func percentile(_ p: Double) -> Double {
            latencies.isEmpty ? 0 : latencies[min(latencies.count - 1, Int(p * Double(latencies.count)))] * 1000
        }
        let completed = try store.stateCounts()[.completed, default: 0]
        // Throughput while serving: from the first stored result to the last, so the workers'
        // start-up and the goodbyes at the end do not count (they are in `wall_seconds`).
        guard let span = try store.resultSpan(), span.count > 1 else {
            throw StoreError(message: "the bench stored \(completed) results; it needs two")
        }
        let rate = Double(span.count - 1) / span.last.timeIntervalSince(span.first)
        if json {
            return print(
                try Documents.text(
                    CoordinatorBenchReport(
                        workers: workers, trials: completed, wallSeconds: seconds, trialsPerSecond: rate,
                        assignLatencyMilliseconds: [
                            "p50": percentile(0.5), "p90": percentile(0.9), "p99": percentile(0.99), "p999": percentile(0.999),
                            "max": (latencies.last ?? 0) * 1000, "samples": Double(latencies.count),
                        ],
                        coordinatorMegabytes: ["before": memoryBefore, "peak": peakMemory],
                        coordinatorMillisecondsPerTrial: cpu / Double(max(completed, 1)) * 1000,
                        dashboardPagesMilliseconds: pages.withLock { $0 })))
        }
        print(
            String(
                format:
                    "%d workers, %d no-op trials in %.2f s (start-up and goodbyes included): %.0f trials/s while serving; assign latency p50 %.2f ms, p99 %.2f ms; coordinator RSS %.0f → %.0f MB, CPU %.3f ms per trial",
                workers, completed, seconds, rate, percentile(0.5), percentile(0.99), memoryBefore, peakMemory,
                cpu / Double(max(completed, 1)) * 1000))
        if dashboard {
            let served = pages.withLock { $0 }
            print(
                "leaderboard page fetched \(served.count) times, ms each: "
                    + served.map { $0 < 0 ? "failed" : String(format: "%.0f", $0) }.joined(separator: ", "))
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
    var trials: Int
    var wallSeconds: Double
    var trialsPerSecond: Double
    /// p50, p90, p99, p999, max and the sample count.
    var assignLatencyMilliseconds: [String: Double]
    var coordinatorMegabytes: [String: Double]
    var coordinatorMillisecondsPerTrial: Double
    var dashboardPagesMilliseconds: [Double]

    enum CodingKeys: String, CodingKey {
        case workers, trials, wallSeconds = "wall_seconds", trialsPerSecond = "trials_per_second"
        case assignLatencyMilliseconds = "assign_latency_ms", coordinatorMegabytes = "coordinator_rss_mb"
        case coordinatorMillisecondsPerTrial = "coordinator_cpu_ms_per_trial", dashboardPagesMilliseconds = "dashboard_pages_ms"
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
