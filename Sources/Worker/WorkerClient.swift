import Foundation
import ML
import Programs
import Protocol
import Vocabulary

/// What a worker does.
public struct WorkerSettings: Sendable {
    public var endpoint: String
    public var identity: WorkerIdentity
    public var buildID: String
    /// Stop after this many trials (nil: until the sweep is finished).
    public var maxTrials: Int?
    /// Heartbeat interval before the coordinator's `welcome` says otherwise.
    public var heartbeat: TimeInterval = 1
    public var liveness = 5
    /// Reconnection back-off: first wait, doubling up to the maximum.
    public var backoff: (initial: TimeInterval, maximum: TimeInterval) = (1, 32)
    /// CURVE keys, when the coordinator encrypts and authenticates.
    public var curve: CurveKeys?
    /// Benchmarks only: answer every trial at once with an empty result instead of training, to
    /// measure the coordinator's own overhead.
    public var noopTrials = false
    /// Run program trials (code the coordinator sends); refused without it.
    public var allowPrograms = false
    /// Seconds a stopped program gets between SIGTERM and SIGKILL.
    public var programGrace: TimeInterval = 30
    /// Where program attempts run and keep their output (default: `runs` beside the dataset cache).
    public var runsDirectory: URL?

    public init(endpoint: String, identity: WorkerIdentity, buildID: String, maxTrials: Int? = nil) {
        self.endpoint = endpoint
        self.identity = identity
        self.buildID = buildID
        self.maxTrials = maxTrials
    }
}

/// A worker's CURVE keys (32 bytes each).
public struct CurveKeys: Sendable {
    public var serverKey: [UInt8]
    public var publicKey: [UInt8]
    public var secretKey: [UInt8]

    public init(serverKey: [UInt8], publicKey: [UInt8], secretKey: [UInt8]) {
        self.serverKey = serverKey
        self.publicKey = publicKey
        self.secretKey = secretKey
    }
}

/// Why the worker stopped.
public enum WorkerExit: Sendable, Equatable {
    /// The coordinator said the sweep is finished.
    case finished
    /// `maxTrials` trials were done.
    case maxTrials
    /// Asked to stop (SIGTERM): it said `bye`.
    case stopped
    /// The coordinator refused this worker (another build or protocol).
    case refused(String)
}

/// A training run in progress on its own thread, and what it reports to the socket thread.
final class Job: @unchecked Sendable {
    let lease: LeaseRef
    /// The worker's slot it runs in (its GPU is the slot's, with `--gpus`).
    let slot: Int
    private let lock = NSLock()
    private var epoch = 1, step = 0
    /// Every epoch report so far, and how many of them have been handed to the socket thread.
    private var reports: [EpochRecord] = []
    private var drained = 0
    private var outcome: WorkerMessage?
    /// The step at which the trainer was told to stop, once it has been.
    private var cancelledAt: Int?

    init(lease: LeaseRef, slot: Int) {
        self.lease = lease
        self.slot = slot
    }

    func update(epoch: Int, step: Int) {
        lock.withLock {
            self.epoch = epoch; self.step = step
        }
    }
    func append(_ report: EpochRecord) { lock.withLock { reports.append(report) } }
    func finish(_ message: WorkerMessage) {
        lock.withLock { outcome = message }
        finished.signal()
    }

    private let finished = DispatchSemaphore(value: 0)

    /// Blocks until training has ended (call after ``cancel()``).
    func waitUntilFinished() {
        finished.wait()
        finished.signal()
    }
    /// Asks the trainer to stop at its next step; returns the step it had reached.
    @discardableResult
    func cancel() -> Int {
        lock.withLock {
            if cancelledAt == nil { cancelledAt = step }
            return step
        }
    }
    var isCancelled: Bool { lock.withLock { cancelledAt != nil } }
    /// The step at which the stop arrived and the step the trainer stopped at, once both are known.
    var stopSteps: (received: Int, stopped: Int)? { lock.withLock { cancelledAt.map { ($0, step) } } }
    var progress: TrialProgress { lock.withLock { TrialProgress(lease: lease, epoch: epoch, step: step) } }
    /// Epoch reports not yet handed out, and the final message once training has ended.
    func drain() -> ([EpochRecord], WorkerMessage?) {
        lock.withLock {
            defer { drained = reports.count }
            return (Array(reports[drained...]), outcome)
        }
    }
    /// Every epoch report so far (resent after a reconnect: the coordinator may have missed them).
    var allReports: [EpochRecord] { lock.withLock { reports } }
}

/// The Paranoid Pirate worker: a DEALER that says `ready`, heartbeats, trains on threads other
/// than the socket's (so heartbeats never stop during a long epoch), one trial per slot, each with
/// its own lease, keeps every result until it is acknowledged, and reconnects by itself, with
/// back-off, when the coordinator goes away.
///
/// ``run(stop:)`` owns the socket; call it on the thread that should serve it.
public final class WorkerClient {
    public let settings: WorkerSettings
    public let cache: DatasetCache
    public var log: (String) -> Void = { _ in }
    /// Trials this worker finished (results or failures acknowledged or sent).
    public private(set) var trialsDone = 0
    /// Seconds from asking for work (an idle heartbeat or a result) to receiving `assign`.
    public private(set) var assignLatencies: [Double] = []
    private var askedForWork: Date?

    private let context: ZMQContext
    private let codec = Codec()
    private var socket: ZMQSocket?
    private var welcomed = false
    /// The "not admitted yet" line was logged since the last welcome.
    /// The reason last logged for not being admitted (logged again only when it changes).
    private var reportedUnadmitted: String?
    /// With CURVE: the socket's handshake outcomes, which say why a worker is not admitted.
    private var handshakes: HandshakeMonitor?
    private var heartbeat: TimeInterval
    private var liveness: Int
    private var lastHeard = Date()
    private var lastSent = Date.distantPast
    /// The trials running, each in its slot.
    private var jobs: [Job] = []
    /// Results and failures sent but not yet acknowledged: resent after every reconnect.
    private var pending: [WorkerMessage] = []
    private var datasets: [String: Dataset] = [:]
    /// Where job threads wake the socket thread (an inproc PULL each job's PUSH signals).
    private let jobWakeEndpoint: String
    /// Trials started by this process (``WorkerSettings/maxTrials`` bounds it).
    private var trialsStarted = 0
    /// Messages that arrived while a dataset or program downloaded, handled after it.
    private var deferred: [[[UInt8]]] = []
    /// Dataset and program folders verified by this process, by fingerprint.
    private var verifiedFolders: [String: URL] = [:]
    /// The "programs refused" line was logged.
    private var reportedProgramsRefused = false
    /// Where messages go instead of the socket when set: the unit tests hand ``receive(_:backoff:)``
    /// frames they make and read what the worker sends here.
    var outbox: [[[UInt8]]]?

    public init(settings: WorkerSettings, cache: DatasetCache) throws {
        self.settings = settings
        self.cache = cache
        heartbeat = settings.heartbeat
        liveness = settings.liveness
        context = try ZMQContext()
        jobWakeEndpoint = "inproc://worker-jobs-\(UUID().uuidString)"
    }

    /// Trials it runs at once.
    var slots: Int { settings.identity.slots }

    /// Works until the sweep is finished, `maxTrials` are done, or `stop` is set.
    public func run(stop: StopFlag) throws -> WorkerExit {
        var backoff = settings.backoff.initial
        let wake = try ZMQSocket(context: context, type: .pull)
        try wake.bind(jobWakeEndpoint)
        defer { wake.close() }
        try connect()
        while true {
            if stop.isSet {
                send(.bye(Bye(reason: "stopped")))
                log("stopped; said bye")
                // Trainers stop within one step; let them, so the process never exits under them.
                for job in jobs { job.cancel() }
                for job in jobs { job.waitUntilFinished() }
                return .stopped
            }
            // A job's thread wakes this poll when it has an epoch or its outcome, so results leave at once.
            let readable = try socket.map { try ZMQSocket.pollReadable([$0, wake], timeoutMilliseconds: 20) } ?? []
            if readable.contains(1) { while (try? wake.receive(wait: .nonBlocking)) != nil {} }
            if let socket, readable.contains(0) || !deferred.isEmpty {
                while let frames = deferred.isEmpty ? try? socket.receive(wait: .nonBlocking) : deferred.removeFirst() {
                    lastHeard = Date()
                    if let exit = receive(frames, backoff: &backoff) { return exit }
                    if socket !== self.socket { break }
                }
            }
            forwardJobs()
            let now = Date()
            if welcomed && now.timeIntervalSince(lastHeard) > heartbeat * Double(liveness) {
                // A silent coordinator: recreate the socket after a back-off (1 s doubling to 32 s).
                disconnect()
                log("no word from the coordinator; reconnecting in \(backoff) s")
                let deadline = Date().addingTimeInterval(backoff)
                while Date() < deadline && !stop.isSet {
                    forwardJobs()
                    Thread.sleep(forTimeInterval: 0.05)
                }
                backoff = min(backoff * 2, settings.backoff.maximum)
                try connect()
            } else if !welcomed && now.timeIntervalSince(lastHeard) > heartbeat * Double(liveness) {
                // Not admitted: libzmq never reconnects after a refused CURVE handshake (a protocol
                // error), so a worker whose key is authorised a moment later would wait forever.
                // Start afresh, without back-off: libzmq's own reconnects (at most 1 s apart) still
                // reach a coordinator that comes back.
                let reason = unadmittedReason(handshakes?.events() ?? [])
                if reportedUnadmitted != reason {
                    log("not admitted yet (\(reason)); retrying every \(Int(heartbeat * Double(liveness))) s")
                }
                reportedUnadmitted = reason
                disconnect()
                try connect()
            } else if now.timeIntervalSince(lastSent) >= heartbeat {
                // Until welcomed, `ready` again each interval: with ZMQ_IMMEDIATE it only leaves once
                // a connection is up, so it reaches a coordinator as soon as one listens again.
                sendHeartbeat()
            }
        }
    }

    /// Acts on one message from the coordinator (a frame that does not decode is logged and
    /// ignored); returns why to stop, when it says so.
    func receive(_ frames: [[UInt8]], backoff: inout Double) -> WorkerExit? {
        let message: CoordinatorMessage
        do {
            message = try codec.decode(frames)
        } catch {
            log("ignored a message from the coordinator: \(error)")
            return nil
        }
        return handle(message, backoff: &backoff)
    }

    private func handle(_ message: CoordinatorMessage, backoff: inout Double) -> WorkerExit? {
        switch message {
        case .welcome(let welcome):
            welcomed = true
            reportedUnadmitted = nil
            backoff = settings.backoff.initial
            heartbeat = Double(welcome.heartbeatMilliseconds) / 1000
            liveness = welcome.liveness
            log("welcomed by sweep \(welcome.sweep)")
            for message in pending { send(message) }
            sendHeartbeat()
            // Reports sent while the coordinator was away were lost: send them again
            // (storing an epoch twice is harmless), after the heartbeat that re-claims the leases.
            for job in jobs { for report in job.allReports { send(.progress(Progress(lease: job.lease, report: report))) } }
        case .assign(let assignment):
            if jobs.contains(where: { $0.lease == assignment.lease }) { return nil }
            // The coordinator offers only what a heartbeat asked for; one more (a race, or a
            // trial offered after a result past --max-trials) goes back at once.
            guard wanted > 0 else {
                send(.failed(Failure(lease: assignment.lease, reason: .declined, detail: "no free slot")))
                return nil
            }
            if let asked = askedForWork { assignLatencies.append(Date().timeIntervalSince(asked)) }
            askedForWork = nil
            start(assignment)
        case .ack(let ack):
            if let index = pending.firstIndex(where: { Self.lease(of: $0) == ack.lease }) {
                pending.remove(at: index)
                if let maxTrials = settings.maxTrials, trialsDone >= maxTrials, jobs.isEmpty, pending.isEmpty {
                    send(.bye(Bye(reason: "done \(maxTrials) trials")))
                    return .maxTrials
                }
                // No heartbeat here: the coordinator answers every result with the next
                // trial (or `wait`) right after the ack.
            }
        case .cancel(let cancel):
            if let job = jobs.first(where: { $0.lease == cancel.lease }) {
                let step = job.cancel()
                log("trial \(cancel.lease.trial) told to stop at step \(step): \(cancel.reason)")
            }
        case .shutdown(let shutdown):
            if shutdown.reason == .finished && jobs.isEmpty {
                log("the sweep is finished")
                return .finished
            }
            // The coordinator is going away: reconnect later, keep training meanwhile.
            log("coordinator stopping; will reconnect")
            disconnect()
        case .error(let report):
            switch report.code {
            case .notReady:
                welcomed = false
                send(ready)
            case .quarantined:
                log("quarantined by the coordinator: \(report.message)")
            case .programsNotAllowed:
                if !reportedProgramsRefused { log(report.message) }
                reportedProgramsRefused = true
            case .buildMismatch, .protocolMismatch, .functionMismatch:
                return .refused(report.message)
            case .badFrames, .badVersion, .unknownType, .tooLarge, .malformedBody, .notYourLease, .badReport, .noSuchFile, .unreadable:
                log("coordinator error \(report.code.rawValue): \(report.message)")
            }
        case .wait, .heartbeat, .chunk:
            break
        }
        return nil
    }

    // MARK: Connection

    private func connect() throws {
        let socket = try ZMQSocket(context: context, type: .dealer)
        try socket.setSendHighWaterMark(1000)
        try socket.setImmediate(true)
        try socket.setReconnectInterval(initialMilliseconds: 100, maximumMilliseconds: 1000)
        if let curve = settings.curve {
            try socket.setCurveClient(serverKey: curve.serverKey, publicKey: curve.publicKey, secretKey: curve.secretKey)
            handshakes = try HandshakeMonitor(socket: socket, context: context)
        }
        try socket.connect(settings.endpoint)
        self.socket = socket
        welcomed = false
        lastHeard = Date()
        send(ready)
    }

    /// Why no welcome came, from the handshakes seen since the socket connected.
    func unadmittedReason(_ events: [HandshakeMonitor.Event]) -> String {
        guard settings.curve != nil else { return "no coordinator answered at \(settings.endpoint)" }
        for event in events.reversed() {
            switch event {
            case .refused(let status):
                return
                    "the coordinator refused this worker's CURVE key (status \(status)): put its .pub in the coordinator's --authorized-workers folder"
            case .failed:
                return
                    "the CURVE handshake broke off: --server-key is probably not the coordinator's public key (compare it with the coordinator's .pub)"
            case .succeeded:
                return "the CURVE handshake succeeded but no welcome came"
            }
        }
        return "no CURVE handshake with \(settings.endpoint) yet: is the coordinator up, and does it use CURVE?"
    }

    private var ready: WorkerMessage { settings.identity.ready(buildID: settings.buildID, programs: settings.allowPrograms) }

    private func disconnect() {
        handshakes = nil
        socket?.close()
        socket = nil
        welcomed = false
    }

    private func send(_ message: WorkerMessage) {
        guard socket != nil || outbox != nil else { return }
        let frames: [[UInt8]]
        do {
            frames = try codec.encode(message)
        } catch {
            return log("could not encode a \(message.typeName) message, so it was not sent: \(error)")
        }
        if outbox != nil { return outbox!.append(frames) }
        if (try? socket?.send(frames, wait: .nonBlocking)) != nil { lastSent = Date() }
    }

    /// Trials this worker would start now: a free slot each, within `--max-trials`.
    private var wanted: Int {
        max(0, min(slots - jobs.count, (settings.maxTrials ?? .max) - trialsStarted))
    }

    /// A heartbeat with every running trial's progress; it asks for a trial per free slot.
    private func sendHeartbeat() {
        guard welcomed else { return send(ready) }
        let wanted = wanted
        if wanted > 0 { askedForWork = Date() }
        send(.heartbeat(Heartbeat(progress: jobs.map(\.progress), wants: wanted < slots - jobs.count ? wanted : nil)))
    }

    // MARK: Training

    /// Sends each job's new epoch reports, and its result once training has ended.
    func forwardJobs() {
        for job in jobs {
            let (reports, outcome) = job.drain()
            for report in reports where welcomed { send(.progress(Progress(lease: job.lease, report: report))) }
            guard let outcome else { continue }
            if let steps = job.stopSteps {
                log("trial \(job.lease.trial) stopped at step \(steps.stopped) (the stop arrived at step \(steps.received))")
            }
            jobs.removeAll { $0 === job }
            trialsDone += 1
            pending.append(outcome)
            askedForWork = Date()  // a result asks for the next trial in the same round trip
            if welcomed { send(outcome) }
        }
    }

    private func start(_ assignment: Assignment) {
        let taken = Set(jobs.map(\.slot))
        let job = Job(lease: assignment.lease, slot: (0..<slots).first { !taken.contains($0) } ?? jobs.count)
        jobs.append(job)
        trialsStarted += 1
        if settings.noopTrials {
            let timing = TrainingTiming(examplesPerSecond: 0, secondsPerEpoch: 0, totalSeconds: 0, threads: 1, blasCore: "none")
            return job.finish(
                .result(
                    TrialOutcome(
                        lease: assignment.lease,
                        result: TrialResult(
                            bestEpoch: 1, valid: ["ndcg@10": 0], test: ["ndcg@10": 0], history: [], timing: timing))))
        }
        log("trial #\(assignment.number) \(assignment.lease.trial) attempt \(assignment.lease.attempt)")
        if let program = assignment.program { return startProgram(assignment, program, job: job) }
        let dataset: Dataset
        do {
            dataset = try loadDataset(assignment.dataset)
        } catch {
            job.finish(.failed(Failure(lease: assignment.lease, reason: .datasetMismatch, detail: "\(error)")))
            return
        }
        let trainer: Trainer
        do {
            trainer = try Trainer(
                config: TrialConfig.parse(json: assignment.config.text), dataset: dataset,
                threads: settings.identity.blasThreads)
        } catch {
            job.finish(.failed(Failure(lease: assignment.lease, reason: .crashed, detail: "\(error)")))
            return
        }
        runOnThread(job) { callback in Self.message(for: trainer.run(callback: callback).0.end, lease: assignment.lease) }
    }

    /// Runs a job's training on a thread of its own: `body` trains with the callback it is given
    /// (progress into the job, a stop once the job is cancelled) and returns the outcome. Each
    /// epoch and the outcome wake the socket thread through an inproc PAIR.
    private func runOnThread(_ job: Job, _ body: @escaping @Sendable (_ callback: (TrainingEvent) -> Bool) -> WorkerMessage) {
        let endpoint = jobWakeEndpoint
        let context = self.context
        let thread = Thread {
            // Created on this thread and used only here (a ZeroMQ socket belongs to one thread).
            let signal = try? ZMQSocket(context: context, type: .push)
            try? signal?.connect(endpoint)
            let outcome = body { event in
                switch event {
                case .step(let epoch, let step): job.update(epoch: epoch, step: step)
                case .epoch(let record):
                    job.append(record)
                    try? signal?.send([[1]], wait: .nonBlocking)
                }
                return !job.isCancelled
            }
            job.finish(outcome)
            try? signal?.send([[1]], wait: .nonBlocking)
            signal?.close()
        }
        thread.stackSize = 8 << 20
        thread.start()
    }

    private func loadDataset(_ reference: DatasetRef) throws -> Dataset {
        if let dataset = datasets[reference.fingerprint] { return dataset }
        let dataset = try Dataset.load(from: try datasetFolder(reference))
        datasets = [reference.fingerprint: dataset]
        return dataset
    }

    /// The verified local folder of a dataset, found or downloaded.
    private func datasetFolder(_ reference: DatasetRef) throws -> URL {
        if let folder = verifiedFolders[reference.fingerprint] { return folder }
        // A download is verified as it lands; a copy found on disk could have been altered since:
        // check it once per process.
        guard let folder = cache.locate(reference.fingerprint) else {
            let folder = try cache.download(reference) { fetch in try self.fetch(fetch) }
            verifiedFolders[reference.fingerprint] = folder
            return folder
        }
        let fingerprint = try DatasetFingerprint.compute(folder: folder).fingerprint
        guard fingerprint == reference.fingerprint else {
            throw DatasetError(
                file: folder.path, line: nil, message: "has fingerprint \(fingerprint), the trial needs \(reference.fingerprint)")
        }
        verifiedFolders[reference.fingerprint] = folder
        return folder
    }

    /// The verified local folder of a program, found in the cache or downloaded.
    private func programFolder(_ program: ProgramRef) throws -> URL {
        if let folder = verifiedFolders[program.fingerprint] { return folder }
        // A download is verified as it lands; a cached copy is checked once per process, and
        // fetched again if it was altered.
        if let cached = cache.locateProgram(program.fingerprint) {
            if try ProgramFingerprint.compute(folder: cached).fingerprint == program.fingerprint {
                verifiedFolders[program.fingerprint] = cached
                return cached
            }
            try? FileManager.default.removeItem(at: cached)
        }
        let folder = try cache.downloadProgram(program) { fetch in try self.fetch(fetch) }
        verifiedFolders[program.fingerprint] = folder
        return folder
    }

    /// Runs a program trial on its own thread: fetched and verified program, its dataset folder,
    /// a fresh attempt folder; stopped with SIGTERM (then SIGKILL) when the trial is cancelled.
    private func startProgram(_ assignment: Assignment, _ program: ProgramRef, job: Job) {
        let lease = assignment.lease
        guard settings.allowPrograms else {
            return job.finish(
                .failed(
                    Failure(lease: lease, reason: .crashed, detail: "this worker does not run programs (start it with --allow-programs)")))
        }
        let config: TrialConfig
        do {
            config = try TrialConfig.parse(json: assignment.config.text)
        } catch {
            return job.finish(.failed(Failure(lease: lease, reason: .crashed, detail: "\(error)")))
        }
        guard let style = ProgramConfigStyle(rawValue: program.config), config.isProgram else {
            return job.finish(
                .failed(
                    Failure(lease: lease, reason: .crashed, detail: "not a program config, or an unknown config style \(program.config)")))
        }
        let folder: URL, data: URL?
        do {
            folder = try programFolder(program)
            data = assignment.dataset.files.isEmpty ? nil : try datasetFolder(assignment.dataset)
        } catch {
            return job.finish(.failed(Failure(lease: lease, reason: .datasetMismatch, detail: "\(error)")))
        }
        let runs = settings.runsDirectory ?? cache.cacheDirectory.deletingLastPathComponent().appendingPathComponent("runs")
        let runner = ProgramRunner(
            attempt: ProgramAttempt(
                folder: folder, command: ProgramCommand(command: program.command, config: style, env: program.env), config: config,
                data: data,
                workFolder: runs.appendingPathComponent("\(lease.trial)-a\(lease.attempt)"), grace: settings.programGrace,
                trial: lease.trial, attempt: lease.attempt, gpu: settings.identity.gpus?[job.slot]))
        runOnThread(job) { callback in Self.message(for: runner.run(callback: callback), lease: lease) }
    }

    /// One chunk, answered on this socket; other messages meanwhile still count as life.
    private func fetch(_ request: Fetch) throws -> Chunk {
        guard let socket else { throw DatasetError(file: request.file, line: nil, message: "not connected to the coordinator") }
        send(.fetch(request))
        let deadline = Date().addingTimeInterval(heartbeat * Double(liveness))
        while Date() < deadline {
            guard let frames = try? socket.receive(wait: .milliseconds(50)) else { continue }
            lastHeard = Date()
            switch try codec.decode(frames, as: CoordinatorMessage.self) {
            case .chunk(let chunk): return chunk
            case .error(let report):
                throw DatasetError(
                    file: request.file, line: nil, message: "the coordinator says \(report.code.rawValue): \(report.message)")
            case .welcome, .assign, .ack, .wait, .cancel, .shutdown, .heartbeat:
                // Handled once the download is done (another slot's trial, an ack, a cancel).
                deferred.append(frames)
            }
        }
        throw DatasetError(file: request.file, line: nil, message: "no chunk from the coordinator at offset \(request.offset)")
    }

    /// What a run's end is on the wire: its result, or the failure that ended it with the epoch
    /// it ended at (a diverged run failed in the epoch after its last good one).
    static func message(for end: RunEnd, lease: LeaseRef) -> WorkerMessage {
        switch end {
        case .completed(let result):
            .result(TrialOutcome(lease: lease, result: result))
        case .stopped(let epochs):
            .failed(Failure(lease: lease, reason: .cancelled, detail: "cancelled", epoch: epochs))
        case .diverged(let detail, let epochs):
            .failed(Failure(lease: lease, reason: .diverged, detail: detail, epoch: epochs + 1))
        case .failed(let detail, let epochs):
            .failed(Failure(lease: lease, reason: .crashed, detail: detail, epoch: epochs))
        }
    }

    static func lease(of message: WorkerMessage) -> LeaseRef? {
        switch message {
        case .result(let outcome): outcome.lease
        case .failed(let failure): failure.lease
        case .ready, .heartbeat, .progress, .bye, .fetch: nil
        }
    }
}
