import ArgumentParser
import Coordinator
import Dashboard
import Dispatch
import Foundation
import ML
import Programs
import Protocol
import SweepCore
import Vocabulary
import Worker

/// Sets `flag` on SIGINT and SIGTERM (the signals are then no longer fatal).
func stopOnSignals(_ flag: StopFlag) -> [DispatchSourceSignal] {
    [SIGINT, SIGTERM].map { number in
        signal(number, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
        source.setEventHandler { flag.set() }
        source.resume()
        return source
    }
}

/// Opens (and plans) a sweep's store; a disk too full for that says so and exits 5, as a full disk
/// met while serving does.
func openOnDisk(_ command: String, sweep: String, db: String, _ open: () throws -> OpenedSweep) throws -> OpenedSweep {
    do {
        return try open()
    } catch {
        throw diskFullExit(error, command: command, sweep: sweep, db: db)
    }
}

/// `error` as exit status 5 with what to do, when it is the store's disk being full; else itself.
func diskFullExit(_ error: any Error, command: String, sweep: String, db: String) -> any Error {
    guard let full = SweepStore.diskFull(error, path: db) else { return error }
    printError("\(command): \(full). Free space on that disk, then run `\(command) \(sweep) --db \(db)` again to go on.")
    return ExitCode(5)
}

/// Waits up to `seconds` for `process` to exit by itself, then terminates it.
func awaitExit(_ process: Process, within seconds: TimeInterval) {
    let deadline = Date().addingTimeInterval(seconds)
    while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
    if process.isRunning { process.terminate() }
}

/// This executable's path, for starting local workers.
func executablePath() -> String {
    (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
}

struct Launch: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create or resume a sweep and serve its trials to workers over ZeroMQ until every trial has ended.")

    @Argument(help: "The sweep file (YAML).") var sweep: String
    @OptionGroup var store: StoreOptions
    @Option(help: "The ROUTER endpoint to serve on.") var bind = "tcp://127.0.0.1:5555"
    @Option(help: "Start N worker processes on this machine.") var localWorkers = 0
    @Option(help: "Threads each local worker trains with.") var threadsPerWorker = 1
    @Option(help: "Heartbeat interval, both ways.") var heartbeatMs = 1000
    @Option(help: "Missed heartbeats after which a peer is dead.") var liveness = 5
    @Option(help: "Attempts a trial may make before it fails.") var maxAttempts = 3
    @Option(help: "Seconds without a training step before a trial counts as hung.") var stallTimeout = 600.0
    @Flag(help: "Allow binding a non-loopback address without encryption (a warning is printed).") var insecure = false
    @Option(help: "The coordinator's CURVE secret key file (from `sweep keys generate`): encrypt and authenticate.") var curveSecret:
        String?
    @Option(help: "With --curve-secret: the folder whose *.pub worker keys may connect (re-read on change and on SIGHUP).")
    var authorizedWorkers: String?
    @Option(help: "Also serve the web dashboard on HOST:PORT (e.g. 127.0.0.1:8080; port 0 picks one); the URL is printed.") var dashboard:
        String?
    @Flag(help: "With --dashboard: require a random token, printed in the URL (needed for a non-loopback dashboard address).")
    var dashboardToken = false
    @OptionGroup var limit: PlanLimitOptions

    /// A CURVE secret key file's key, or an error naming the file.
    static func readSecretKey(_ path: String) throws -> [UInt8] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8), let secret = Curve.decode(text) else {
            throw ValidationError("--curve-secret \(path) is not a CURVE secret key file (40 Z85 characters, from `sweep keys generate`)")
        }
        return secret
    }

    func validate() throws {
        if (curveSecret == nil) != (authorizedWorkers == nil) {
            throw ValidationError("--curve-secret and --authorized-workers go together")
        }
        if curveSecret != nil && localWorkers > 0 {
            throw ValidationError(
                "with CURVE, start workers with `sweep worker --server-key … --curve-secret …` (each with an authorised key)")
        }
        if localWorkers < 0 || threadsPerWorker < 1 || heartbeatMs < 10 || liveness < 2 || maxAttempts < 1 || stallTimeout <= 0 {
            throw ValidationError(
                "--local-workers ≥ 0, --threads-per-worker ≥ 1, --heartbeat-ms ≥ 10, --liveness ≥ 2, --max-attempts ≥ 1, --stall-timeout > 0"
            )
        }
        if let dashboard {
            let (host, _) = try DashboardAddress.parse(dashboard)
            do { _ = try DashboardSettings(host: host, port: 0).bindAddress() } catch {
                throw ValidationError("--dashboard \(dashboard): \(error)")
            }
            if !DashboardSettings(host: host, port: 0).isLoopback && !dashboardToken && !insecure {
                throw ValidationError("--dashboard \(dashboard) is reachable from other machines: add --dashboard-token, or --insecure")
            }
        }
        let host = bind.split(separator: "/").last?.split(separator: ":").first.map(String.init) ?? ""
        if bind.hasPrefix("tcp://") && !["127.0.0.1", "localhost", "[::1]"].contains(host) && !insecure && curveSecret == nil {
            throw ValidationError(
                "\(bind) is reachable from other machines and this coordinator does not encrypt: pass --insecure to do it anyway")
        }
    }

    func run() throws {
        if insecure { printError("warning: serving \(bind) without authentication or encryption") }
        // Each worker's connection holds a descriptor: a soft limit of 1,024 would refuse the rest.
        let openFiles = raiseOpenFileLimit()
        if openFiles < 4096 {
            printError("warning: this process may open only \(openFiles) files (ulimit -n), so about as many workers can connect")
        }
        // The key and the folder are checked before the store is created or changed.
        let secretKey = try curveSecret.map(Self.readSecretKey)
        if let authorizedWorkers {
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: authorizedWorkers, isDirectory: &isFolder), isFolder.boolValue else {
                throw ValidationError(
                    "--authorized-workers \(authorizedWorkers) is not a folder (it holds the *.pub keys of the workers admitted)")
            }
        }
        let opened = try openOnDisk("sweep launch", sweep: sweep, db: store.db) {
            try OpenedSweep(file: sweep, db: store.db, planLimit: limit.planLimit)
        }
        let (spec, dataset, writer) = (opened.spec, opened.dataset, opened.store)
        if let function = spec.function, spec.functionOnly, localWorkers > 0 {
            throw ValidationError(
                "\(sweep) runs its trials in function workers (function: \(function)), not in `sweep worker`: drop --local-workers and start them with sweep_client.work(train=\(function), connect=…) (docs/python.md)"
            )
        }
        let settings = SchedulerSettings(
            heartbeat: Double(heartbeatMs) / 1000, liveness: liveness, stallTimeout: stallTimeout,
            limits: spec.limits, maxAttempts: maxAttempts)
        let context = try ZMQContext()
        let admission = Admission(
            buildID: buildID, heartbeatMilliseconds: heartbeatMs, liveness: liveness, sweepName: spec.name, function: spec.function,
            functionOnly: spec.functionOnly)
        var curve: (secretKey: [UInt8], authenticator: Authenticator)?
        if let secret = secretKey, let authorizedWorkers {
            // Bound before the ROUTER: libzmq admits every CURVE client while no ZAP handler is bound.
            let authenticator = try Authenticator(context: context, keys: URL(fileURLWithPath: authorizedWorkers))
            authenticator.log = { printError($0) }
            printError("CURVE on: \(authenticator.authorized.count) authorised worker key(s) in \(authorizedWorkers)")
            // The folder is the trust root: whoever can write into it can add a worker (docs/SECURITY.md).
            if let mode = (try? FileManager.default.attributesOfItem(atPath: authorizedWorkers))?[.posixPermissions] as? Int,
                mode & 0o022 != 0
            {
                printError("warning: \(authorizedWorkers) is writable by other users, so they can authorise workers: chmod go-w it")
            }
            curve = (secret, authenticator)
        }
        let server = try CoordinatorServer(
            context: context, endpoint: bind, controller: opened.controller, dataset: dataset?.located,
            program: opened.program, admission: admission, settings: settings, curve: curve)
        let endpoint = try server.endpoint()
        printError("serving on \(endpoint); start workers with: sweep worker --connect \(endpoint)")
        // The dashboard reads the store through its own read-only connections, on the concurrency
        // runtime's threads, never on the thread that serves workers.
        var dashboardTask: Task<Void, any Error>?
        if let dashboard {
            let (host, port) = try DashboardAddress.parse(dashboard)
            // It is handed the plan, so the coordinator's cores do not parse every config again.
            let web = try DashboardServer(
                storePath: store.db,
                settings: DashboardSettings(host: host, port: port, token: dashboardToken ? DashboardSettings.randomToken() : nil),
                known: opened.controller.planned)
            dashboardTask = Task.detached { try await web.run() }
            let ready = DispatchSemaphore(value: 0)
            nonisolated(unsafe) var url = ""
            Task.detached {
                if let listening = try? await web.waitUntilListening() { url = web.url(port: listening) }
                ready.signal()
            }
            ready.wait()
            printError(url.isEmpty ? "the dashboard could not listen on \(dashboard)" : "dashboard at \(url)")
        }
        defer { dashboardTask?.cancel() }
        let display = ProgressDisplay(store: writer, spec: spec)
        server.log = { display.log($0) }
        server.onProgress = { display.update(workers: server.scheduler.sessions.count) }
        let workers = try (0..<localWorkers).map { index -> Process in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: executablePath())
            process.arguments =
                [
                    "worker", "--connect", endpoint, "--name", "local-\(index + 1)", "--threads", "\(threadsPerWorker)",
                    "--nice", "\(localWorkerNice)",
                ]
                + (dataset.map { ["--data-root", $0.folder.path] } ?? [])
                // The sweep's own program, started by its owner on this machine.
                + (opened.program == nil ? [] : ["--allow-programs", "--runs-dir", store.db + ".runs"])
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            return process
        }
        let stop = StopFlag()
        var signals = stopOnSignals(stop)
        signal(SIGHUP, SIG_IGN)
        let hangup = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        let reload = server.reloadKeys
        hangup.setEventHandler { reload.set() }
        hangup.resume()
        signals.append(hangup)
        /// Local workers end with this launch (told to finish or to stop, they exit by themselves).
        func endLocalWorkers() {
            for worker in workers { awaitExit(worker, within: 5) }
        }
        let over: Bool
        do {
            over = try server.serve(until: stop)
        } catch let full as StoreFull {
            for worker in workers where worker.isRunning { worker.terminate() }
            endLocalWorkers()
            display.finish()
            let results = (try? writer.trials().filter { $0.result != nil }.count).map { " (\($0) results stored)" } ?? ""
            printError(
                """
                sweep launch: \(full)\(results).
                Remote workers were told the coordinator is stopping: each keeps the results it finished and delivers them to the next launch (local workers end with this one).
                Free space on that disk, then run `sweep launch \(sweep) --db \(store.db)` (with the same --bind) to go on.
                """)
            throw ExitCode(5)
        }
        signals.forEach { $0.cancel() }
        endLocalWorkers()
        display.update(workers: 0, force: true)
        display.finish()
        let counted = server.counters
        printError(
            "\(counted.messages) messages; \(counted.rejected) rejected, \(counted.droppedReplies) replies dropped, "
                + "\(counted.staleResults) stale results, \(counted.lostAttempts) lost attempts")
        guard over else {
            printError("stopped; `sweep launch \(sweep) --db \(store.db)` resumes, and workers carry on by themselves")
            return
        }
        let all = try writer.trials()
        print(try opened.leaderboard())
        try opened.reportHalt(db: store.db)
        let cancelled = all.filter { $0.state == .cancelled }
        if !cancelled.isEmpty { printError("\(cancelled.count) trial\(cancelled.count == 1 ? " was" : "s were") cancelled by the user") }
        let bad = all.filter { $0.state == .failed || $0.state == .diverged }
        for trial in bad {
            let reason = try writer.attempts(trial: trial.id).last?.reason ?? ""
            printError("trial #\(trial.number) \(trial.id) \(trial.state.rawValue): \(reason)")
        }
        if !bad.isEmpty { throw ExitCode(3) }
    }
}

/// Live progress: a redrawn bar on a terminal, plain log lines otherwise.
final class ProgressDisplay {
    let store: SweepStore
    /// The objective whose best the bar shows: one, without constraints (a front or feasibility
    /// would need every result read; the board shows them).
    let shownBest: Objective?
    let terminal = isatty(STDERR_FILENO) == 1
    let started = Date()
    private var lastLine = ""

    /// The trials an adaptive sampler will have added in all (nil: the plan is all).
    let expected: Int?
    /// The sweep file's budget, whose use the bar shows.
    let budget: Budget?

    init(store: SweepStore, spec: SweepSpec) {
        self.store = store
        shownBest = spec.ranking.isMultiObjective || !spec.ranking.constraints.isEmpty ? nil : spec.ranking.primary
        expected = SweepStatus.adaptiveTrials(spec)
        budget = spec.budget
    }

    func log(_ line: String) {
        if terminal { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        printError(line)
        if terminal { FileHandle.standardError.write(Data(lastLine.utf8)) }
    }

    private var lastUpdate = Date.distantPast

    /// Redraws at most 5 times a second, from two small queries (never a scan of every trial).
    func update(workers: Int, force: Bool = false) {
        let now = Date()
        guard force || now.timeIntervalSince(lastUpdate) >= 0.2, let counts = try? store.stateCounts() else { return }
        lastUpdate = now
        let present = counts.filter { $0.key != .retired }.values.reduce(0, +)
        // An adaptive sweep (TPE) adds trials as it goes: count those still to come.
        let total = max(present, expected ?? 0)
        let running = counts[.running, default: 0], waiting = counts[.waiting, default: 0], pruned = counts[.pruned, default: 0]
        let done = present - running - waiting
        let hours = now.timeIntervalSince(started) / 3600
        let rate = hours > 0 ? Double(done) / hours : 0
        let eta = rate > 0 ? LeaderboardReport.duration(Double(total - done) / rate * 3600) : "–"
        let best = shownBest.flatMap { try? store.best(objective: $0) }
        let width = 24, filled = total == 0 ? 0 : width * done / total
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
        let saved = pruned > 0 ? (try? store.epochsSaved()) ?? 0 : 0
        let line =
            "\(bar) \(done)/\(total)  running \(running)  waiting \(waiting)"
            + (pruned > 0 ? "  pruned \(pruned) (\(saved) epochs saved)" : "") + "  workers \(workers)  "
            + String(format: "%.0f trials/h", rate) + "  ETA \(eta)"
            + (best.map { "  best #\($0.number) \(shownBest!.metric) " + String(format: "%.4f", $0.value) } ?? "")
            + (budget.flatMap { budget in
                (try? store.budgetUsage(target: budget.target?.objective)).map {
                    "  budget " + budget.usageLines($0).map(\.text).joined(separator: ", ")
                }
            } ?? "")
        if terminal {
            lastLine = line
            FileHandle.standardError.write(Data(("\r\u{1B}[K" + line).utf8))
        } else if line != lastLine {
            lastLine = line
            printError(line)
        }
    }

    func finish() {
        if terminal { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}

/// Sets the nice value of every thread of this process: Linux's nice value is per thread, and
/// threads started later inherit their creator's.
func setNiceness(_ niceness: Int32) {
    let threads = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task"))?.compactMap { UInt32($0) } ?? [0]
    for thread in threads where setpriority(__priority_which_t(PRIO_PROCESS.rawValue), thread, niceness) != 0 {
        printError("warning: could not lower the priority of thread \(thread): \(String(cString: strerror(errno)))")
    }
}

/// Workers started beside a coordinator run at lower priority: when they keep every core busy,
/// the coordinator still answers at once (assignments, acks, heartbeats).
let localWorkerNice = 10

struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker", abstract: "Train trials for a coordinator until its sweep is finished.")

    @Option(help: "The coordinator, e.g. tcp://host:5555.") var connect: String
    @Option(help: "This worker's name (default: host-pid).") var name: String?
    @Option(help: "Threads each trial trains with.") var threads = 1
    @Option(help: "Trials to run at once, each with its own lease (default 1, or one per --gpus device).") var slots: Int?
    @Option(
        help:
            "GPU devices, e.g. 0,1,3: one slot each; a program trial sees only its own (CUDA_VISIBLE_DEVICES, SWEEP_GPU)."
    ) var gpus: String?
    @Option(help: "Stop after this many trials.") var maxTrials: Int?
    @Option(help: "A folder holding datasets (itself or its sub-folders), found by fingerprint.") var dataRoot: String?
    @Option(help: "Where downloaded datasets are kept (default: $XDG_CACHE_HOME/sweep/datasets, else ~/.cache/sweep/datasets).")
    var cacheDir: String?
    /// A worker's CURVE keys from the coordinator's public key file and the worker's secret key file.
    static func curveKeys(serverKey: String, secret: String) throws -> CurveKeys {
        guard let serverText = try? String(contentsOfFile: serverKey, encoding: .utf8), let server = Curve.decode(serverText) else {
            throw ValidationError("\(serverKey) is not a CURVE public key file")
        }
        guard let secretText = try? String(contentsOfFile: secret, encoding: .utf8), let secretKey = Curve.decode(secretText),
            let publicKey = Curve.decode(try Curve.publicKey(forSecret: secretText))
        else {
            throw ValidationError("\(secret) is not a CURVE secret key file")
        }
        return CurveKeys(serverKey: server, publicKey: publicKey, secretKey: secretKey)
    }

    @Option(help: "The coordinator's CURVE public key file (.pub): encrypt and authenticate.") var serverKey: String?
    @Option(help: "With --server-key: this worker's CURVE secret key file (.key); its .pub must be authorised by the coordinator.")
    var curveSecret: String?
    @Option(help: "Run at nice value N (0–19, lower CPU priority), so a coordinator on the same machine stays responsive.") var nice = 0
    @Flag(help: "Run program trials: code the coordinator sends, as this user (docs/SECURITY.md).") var allowPrograms = false
    @Option(help: "Seconds a stopped program gets between SIGTERM and SIGKILL.") var programGrace = 30.0
    @Option(help: "Where program attempts run and keep their {out} folders (default: runs/ beside the dataset cache).") var runsDir: String?
    @Flag(
        help:
            "With --allow-programs: accept programs from a coordinator on another machine without CURVE (anyone who can reach this worker's connection could run code)."
    ) var insecure = false
    @Flag(help: .hidden) var noopTrials = false

    func validate() throws {
        if (serverKey == nil) != (curveSecret == nil) { throw ValidationError("--server-key and --curve-secret go together") }
        if programGrace < 0 { throw ValidationError("--program-grace must be ≥ 0") }
        let host = connect.split(separator: "/").last?.split(separator: ":").first.map(String.init) ?? ""
        if allowPrograms && serverKey == nil && connect.hasPrefix("tcp://") && !["127.0.0.1", "localhost", "[::1]"].contains(host)
            && !insecure
        {
            throw ValidationError(
                "--allow-programs runs the code the coordinator sends; without CURVE (--server-key) nothing proves \(connect) is your coordinator. Use CURVE, or pass --insecure to accept that"
            )
        }
        if !(0...19).contains(nice) { throw ValidationError("--nice must be between 0 and 19") }
        if threads < 1 { throw ValidationError("--threads must be at least 1") }
        if let maxTrials, maxTrials < 1 { throw ValidationError("--max-trials must be at least 1") }
        if let slots, slots < 1 { throw ValidationError("--slots must be at least 1") }
        let devices = try gpus.map(Self.devices)
        if let slots, let devices, slots != devices.count {
            throw ValidationError(
                "--slots \(slots) disagrees with --gpus \(gpus!), which gives \(devices.count) slots (one per device): give one of them")
        }
    }

    /// `--gpus 0,1,3` as device numbers: non-negative integers, each once.
    static func devices(_ list: String) throws -> [Int] {
        let parts = list.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard !list.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw ValidationError("--gpus is empty: list device numbers, e.g. --gpus 0,1")
        }
        let devices = try parts.map { part -> Int in
            guard let device = Int(part), device >= 0 else {
                throw ValidationError("--gpus \(list): '\(part)' is not a device number (0, 1, …)")
            }
            return device
        }
        if let repeated = devices.first(where: { device in devices.filter { $0 == device }.count > 1 }) {
            throw ValidationError("--gpus \(list): device \(repeated) is listed twice; each device is one slot")
        }
        return devices
    }

    func run() throws {
        if nice > 0 { setNiceness(Int32(nice)) }
        let identity = WorkerIdentity.current(name: name, blasThreads: threads, slots: slots ?? 1, gpus: try gpus.map(Self.devices))
        var settings = WorkerSettings(endpoint: connect, identity: identity, buildID: buildID, maxTrials: maxTrials)
        settings.noopTrials = noopTrials
        settings.allowPrograms = allowPrograms
        settings.programGrace = programGrace
        settings.runsDirectory = runsDir.map { URL(fileURLWithPath: $0) }
        if allowPrograms && insecure && serverKey == nil {
            printError("warning: running programs from \(connect) without authenticating it")
        }
        if let serverKey, let curveSecret { settings.curve = try Self.curveKeys(serverKey: serverKey, secret: curveSecret) }
        let cache = DatasetCache(
            dataRoot: dataRoot.map { URL(fileURLWithPath: $0) },
            cacheDirectory: cacheDir.map { URL(fileURLWithPath: $0) } ?? DatasetCache.defaultDirectory())
        let client = try WorkerClient(settings: settings, cache: cache)
        client.log = { printError("[\(identity.name)] \($0)") }
        let stop = StopFlag()
        let signals = stopOnSignals(stop)
        defer { signals.forEach { $0.cancel() } }
        switch try client.run(stop: stop) {
        case .finished, .maxTrials, .stopped:
            printError("[\(identity.name)] \(client.trialsDone) trial\(client.trialsDone == 1 ? "" : "s") done")
            // `sweep bench coordinator` reads the assign latencies of its no-op workers.
            if noopTrials { print(try Documents.text(NoopWorkerReport(assignLatencySeconds: client.assignLatencies))) }
        case .refused(let reason):
            printError("[\(identity.name)] refused by the coordinator: \(reason)")
            throw ExitCode(2)
        }
    }
}
