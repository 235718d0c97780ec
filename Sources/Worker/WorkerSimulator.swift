import Foundation
import HeapModule
import Protocol
import Vocabulary

#if canImport(Glibc)
    import Glibc
#endif

/// A simulation that cannot start, and why.
public struct SimulatorError: Error, CustomStringConvertible {
    public var description: String
}

/// Many workers in one thread, for load tests of a coordinator: each has a DEALER socket of its
/// own and speaks the real protocol (ready, heartbeats with progress, epoch reports, results, bye;
/// CURVE when given keys), but its trials sleep instead of training. One epoll set over the
/// sockets' event descriptors and one timer heap keep the cost of an event independent of how many
/// workers there are, so thousands fit one process.
public final class WorkerSimulator {
    /// What to simulate.
    public struct Settings: Sendable {
        public var endpoint: String
        public var workers: Int
        /// Workers are named `<namePrefix>-<index>`, indices from `firstIndex`.
        public var namePrefix: String
        public var firstIndex: Int
        /// Each trial lasts this long, its epochs evenly spread over it (0: answered at once).
        public var trialSeconds: Double
        /// Epoch reports per trial; 0 sends the result alone.
        public var epochs: Int
        /// Joins are spread evenly over this many seconds.
        public var rampSeconds: Double
        /// After this many results a worker says `bye` and leaves (nil: it stays to the end).
        public var trialsPerWorker: Int?
        /// Workers killed mid-trial (sockets closed without `bye`, as when a host dies), and when.
        public var kills: Int
        public var killAfterSeconds: Double
        /// The build this simulator claims to be (the coordinator admits only its own).
        public var buildID: String
        /// CURVE: the coordinator's public key and the key pair every simulated worker uses.
        public var curve: CurveKeys?

        public init(
            endpoint: String, workers: Int, namePrefix: String = "sim", firstIndex: Int = 0, trialSeconds: Double, epochs: Int,
            rampSeconds: Double = 0, trialsPerWorker: Int? = nil, kills: Int = 0, killAfterSeconds: Double = 0, buildID: String,
            curve: CurveKeys? = nil
        ) {
            self.endpoint = endpoint
            self.workers = workers
            self.namePrefix = namePrefix
            self.firstIndex = firstIndex
            self.trialSeconds = trialSeconds
            self.epochs = epochs
            self.rampSeconds = rampSeconds
            self.trialsPerWorker = trialsPerWorker
            self.kills = kills
            self.killAfterSeconds = killAfterSeconds
            self.buildID = buildID
            self.curve = curve
        }
    }

    /// What the simulated workers saw.
    public struct Report: Codable, Sendable {
        public var workers = 0
        public var welcomed = 0
        /// Results the coordinator acknowledged.
        public var results = 0
        public var epochReports = 0
        /// Trials the coordinator cancelled (pruned, or its lease ended).
        public var cancelled = 0
        /// Workers that said `bye` after `trialsPerWorker` results.
        public var left = 0
        /// Workers the coordinator told the sweep is finished.
        public var finished = 0
        /// Seconds from asking for a trial (a heartbeat or a result) to its `assign`.
        public var assignLatencySeconds: [Double] = []
        /// Each killed worker's name and when it was killed (seconds since 1970).
        public var killed: [String: Double] = [:]
        /// Error replies by code.
        public var errors: [String: Int] = [:]

        public init() {}

        /// Adds another simulator's counts, its assign latencies left out (they can be many).
        public mutating func merge(_ other: Report) {
            workers += other.workers
            welcomed += other.welcomed
            results += other.results
            epochReports += other.epochReports
            cancelled += other.cancelled
            left += other.left
            finished += other.finished
            killed.merge(other.killed) { first, _ in first }
            errors.merge(other.errors, uniquingKeysWith: +)
        }

        enum CodingKeys: String, CodingKey {
            case workers, welcomed, results, cancelled, left, finished, killed, errors
            case epochReports = "epoch_reports", assignLatencySeconds = "assign_latency_s"
        }
    }

    /// One simulated worker.
    private struct Peer {
        var socket: ZMQSocket?
        var welcomed = false
        var heartbeatSeconds = 1.0
        var lease: LeaseRef?
        var epochsDone = 0
        var history: [EpochRecord] = []
        /// Bumped when a trial ends, so that trial's pending epoch timer is ignored.
        var trialGeneration: UInt32 = 0
        /// When it asked for the trial it waits for.
        var askedAt: Double?
        var results = 0
        var done = false
    }

    private struct Timer: Comparable {
        enum Kind: UInt8 { case join, heartbeat, epoch, kill }
        var at: Double
        var peer: Int32
        var kind: Kind
        var generation: UInt32

        static func < (a: Timer, b: Timer) -> Bool { a.at < b.at }
    }

    public let settings: Settings
    private var peers: [Peer]
    private var timers = Heap<Timer>()
    private var report = Report()
    private let codec = Codec()
    private let context: ZMQContext
    private let poller: ZMQPoller
    private let start = WorkerSimulator.monotonic()
    private var active: Int
    /// Workers that sent since their socket was last read.
    private var touched: [Int] = []

    public init(settings: Settings) throws {
        self.settings = settings
        peers = Array(repeating: Peer(), count: settings.workers)
        active = settings.workers
        report.workers = settings.workers
        let limit = raiseOpenFileLimit()
        if limit < 2 * settings.workers + 64 {
            throw SimulatorError(
                description:
                    "simulating \(settings.workers) workers needs about \(2 * settings.workers + 64) open files; this process may open \(limit) (ulimit -n), so split them over more processes"
            )
        }
        context = try ZMQContext()
        try context.setMaximumSockets(Int32(settings.workers + 64))
        poller = try ZMQPoller()
        for index in 0..<settings.workers {
            let at = settings.rampSeconds * Double(index) / Double(max(1, settings.workers))
            timers.insert(Timer(at: at, peer: Int32(index), kind: .join, generation: 0))
        }
        if settings.kills > 0 { timers.insert(Timer(at: settings.killAfterSeconds, peer: -1, kind: .kill, generation: 0)) }
    }

    /// Runs until every worker has left, been told the sweep is finished, or been killed, or until
    /// `stop` is set (then every worker says `bye`).
    public func run(until stop: StopFlag) throws -> Report {
        while active > 0 {
            if stop.isSet {
                for index in peers.indices where peers[index].socket != nil {
                    if peers[index].welcomed { send(.bye(Bye(reason: "the simulation stopped")), from: index) }
                    disconnect(index)
                }
                break
            }
            let wait = timers.min.map { max(0, min(100, Int32((($0.at - elapsed) * 1000).rounded(.up)))) } ?? 100
            touched += try poller.wait(timeoutMilliseconds: wait)
            let now = elapsed
            while let next = timers.min, next.at <= now {
                fire(timers.removeMin(), now: now)
            }
            while !touched.isEmpty {
                let sent = touched
                touched = []
                for index in sent { drain(index) }
            }
        }
        for index in peers.indices { disconnect(index) }
        return report
    }

    private var elapsed: Double { Self.monotonic() - start }

    private static func monotonic() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }

    private func name(_ index: Int) -> String { "\(settings.namePrefix)-\(settings.firstIndex + index)" }

    // MARK: Timers

    private func fire(_ timer: Timer, now: Double) {
        let index = Int(timer.peer)
        switch timer.kind {
        case .join: join(index, now: now)
        case .heartbeat:
            guard peers[index].socket != nil else { return }
            beat(index, now: now)
            timers.insert(Timer(at: now + peers[index].heartbeatSeconds, peer: timer.peer, kind: .heartbeat, generation: 0))
        case .epoch:
            guard peers[index].lease != nil, peers[index].trialGeneration == timer.generation else { return }
            epoch(index, now: now)
        case .kill: kill(count: settings.kills)
        }
    }

    private func join(_ index: Int, now: Double) {
        do {
            let socket = try ZMQSocket(context: context, type: .dealer)
            if let curve = settings.curve {
                try socket.setCurveClient(serverKey: curve.serverKey, publicKey: curve.publicKey, secretKey: curve.secretKey)
            }
            try socket.connect(settings.endpoint)
            try poller.add(socket, tag: index)
            peers[index].socket = socket
        } catch {
            report.errors["join: \(error)", default: 0] += 1
            peers[index].done = true
            active -= 1
            return
        }
        send(.ready(ready(index)), from: index)
        timers.insert(Timer(at: now + 1, peer: Int32(index), kind: .heartbeat, generation: 0))
    }

    private func ready(_ index: Int) -> Ready {
        Ready(buildID: settings.buildID, worker: name(index), host: "simulated", cores: 1, blasThreads: 1, blasCore: "none")
    }

    /// A heartbeat with the running trial's progress; an idle worker's asks for a trial.
    private func beat(_ index: Int, now: Double) {
        guard peers[index].welcomed else { return send(.ready(ready(index)), from: index) }
        let progress = peers[index].lease.map { [TrialProgress(lease: $0, epoch: peers[index].epochsDone, step: peers[index].epochsDone)] }
        if progress == nil && peers[index].askedAt == nil { peers[index].askedAt = now }
        send(.heartbeat(Heartbeat(progress: progress ?? [])), from: index)
    }

    /// The next epoch of the running trial, and its result after the last.
    private func epoch(_ index: Int, now: Double) {
        guard let lease = peers[index].lease else { return }
        if settings.epochs > 0 {
            peers[index].epochsDone += 1
            let record = Self.record(epoch: peers[index].epochsDone, of: lease, epochs: settings.epochs)
            peers[index].history.append(record)
            send(.progress(Progress(lease: lease, report: record)), from: index)
            report.epochReports += 1
            if peers[index].epochsDone < settings.epochs {
                return scheduleEpoch(index, now: now)
            }
        }
        let history = peers[index].history
        let best = history.max { $0.valid.ndcg10 < $1.valid.ndcg10 }
        let metrics = best?.valid ?? Self.metrics(Self.quality(of: lease))
        let result = TrialResult(
            bestEpoch: best?.epoch ?? 1, valid: metrics.dictionary, test: (best?.test ?? metrics).dictionary, history: history,
            timing: TrainingTiming(
                examplesPerSecond: 0, secondsPerEpoch: settings.trialSeconds / Double(max(1, settings.epochs)),
                totalSeconds: settings.trialSeconds, threads: 1, blasCore: "none"))
        endTrial(index)
        peers[index].askedAt = now
        send(.result(TrialOutcome(lease: lease, result: result)), from: index)
    }

    private func scheduleEpoch(_ index: Int, now: Double) {
        let step = settings.trialSeconds / Double(max(1, settings.epochs))
        timers.insert(Timer(at: now + step, peer: Int32(index), kind: .epoch, generation: peers[index].trialGeneration))
    }

    private func endTrial(_ index: Int) {
        peers[index].lease = nil
        peers[index].history = []
        peers[index].epochsDone = 0
        peers[index].trialGeneration &+= 1
    }

    /// A trial's quality in [0.2, 0.8), fixed by its id, so a rerun of a trial scores alike.
    private static func quality(of lease: LeaseRef) -> Double {
        var hash: UInt64 = 14_695_981_039_346_656_037
        for byte in lease.trial.utf8 { hash = (hash ^ UInt64(byte)) &* 1_099_511_628_211 }
        return 0.2 + 0.6 * Double(hash % 10_000) / 10_000
    }

    private static func metrics(_ value: Double) -> RankingMetrics {
        RankingMetrics(ndcg10: value, recall10: value, recall50: value, mrr: value, coverage10: 0.5, popOverlap10: 0.1)
    }

    /// An epoch whose metric rises towards the trial's quality.
    static func record(epoch: Int, of lease: LeaseRef, epochs: Int) -> EpochRecord {
        let value = quality(of: lease) * Double(epoch) / Double(epochs)
        return EpochRecord(
            epoch: epoch, lossMain: 1 - value, lossAux: nil, weights: .singleTask, valid: metrics(value), test: metrics(value),
            seconds: 0, trainSeconds: 0)
    }

    /// Closes the sockets of `count` workers that run a trial, without a word.
    private func kill(count: Int) {
        let now = Date().timeIntervalSince1970
        for index in peers.indices where peers[index].lease != nil && report.killed.count < count {
            report.killed[name(index)] = now
            disconnect(index)
        }
    }

    private func disconnect(_ index: Int) {
        guard let socket = peers[index].socket else { return }
        poller.remove(socket)
        socket.close()
        peers[index].socket = nil
        if !peers[index].done {
            peers[index].done = true
            active -= 1
        }
    }

    // MARK: Messages

    private func send(_ message: WorkerMessage, from index: Int) {
        guard let socket = peers[index].socket else { return }
        do {
            try socket.send(try codec.encode(message), wait: .nonBlocking)
        } catch {
            report.errors["send: \(error)", default: 0] += 1
        }
        // A send may take the socket's pending read signal: what has come is read after this round.
        touched.append(index)
    }

    /// Handles every message waiting on a worker's socket.
    private func drain(_ index: Int) {
        while let socket = peers[index].socket, let frames = try? socket.receive(wait: .nonBlocking) {
            do {
                handle(try codec.decode(frames, as: CoordinatorMessage.self), at: index)
            } catch {
                report.errors["decode: \(error)", default: 0] += 1
            }
        }
    }

    private func handle(_ message: CoordinatorMessage, at index: Int) {
        let now = elapsed
        switch message {
        case .welcome(let welcome):
            if !peers[index].welcomed { report.welcomed += 1 }
            peers[index].welcomed = true
            peers[index].heartbeatSeconds = Double(welcome.heartbeatMilliseconds) / 1000
            beat(index, now: now)
        case .assign(let assignment):
            guard peers[index].lease == nil else {
                return send(.failed(Failure(lease: assignment.lease, reason: .declined, detail: "no free slot")), from: index)
            }
            if let asked = peers[index].askedAt { report.assignLatencySeconds.append(now - asked) }
            peers[index].askedAt = nil
            peers[index].lease = assignment.lease
            if settings.trialSeconds == 0 && settings.epochs == 0 {
                epoch(index, now: now)
            } else {
                scheduleEpoch(index, now: now)
            }
        case .ack(let ack):
            guard ack.kind == .result else { return }
            report.results += 1
            peers[index].results += 1
            if let limit = settings.trialsPerWorker, peers[index].results >= limit, peers[index].lease == nil {
                send(.bye(Bye(reason: "done \(limit) trials")), from: index)
                report.left += 1
                disconnect(index)
            }
        case .cancel(let cancel):
            guard peers[index].lease == cancel.lease else { return }
            let epoch = peers[index].epochsDone
            endTrial(index)
            report.cancelled += 1
            peers[index].askedAt = now
            send(.failed(Failure(lease: cancel.lease, reason: .cancelled, detail: cancel.reason, epoch: epoch)), from: index)
        case .shutdown(let shutdown):
            switch shutdown.reason {
            case .finished:
                guard peers[index].lease == nil else { return }
                report.finished += 1
                disconnect(index)
            case .stopping:
                // The coordinator is going away: introduce ourselves again when it is back.
                peers[index].welcomed = false
            }
        case .error(let error):
            report.errors[error.code.rawValue, default: 0] += 1
            if error.code == .notReady {
                peers[index].welcomed = false
                send(.ready(ready(index)), from: index)
            }
        case .wait, .heartbeat, .chunk:
            break
        }
    }
}
