import Dispatch
import Foundation
import Programs
import Protocol
import SweepCore
import Vocabulary

/// Counters of what the coordinator has seen, for logs and tests.
public struct ServerCounters: Sendable, Equatable {
    public var messages = 0
    public var rejected = 0
    public var droppedReplies = 0
    /// Replies that could not be encoded (a non-finite number in one, say): logged, never sent.
    public var unencodableReplies = 0
    public var staleResults = 0
    public var lostAttempts = 0
    /// Messages handled and the time they took (decoding, the store, replies queued), by type.
    public var handling: [String: HandlingTime] = [:]
    /// Rounds of the timers that ran (liveness scan, store poll, heartbeats out) and their time.
    public var timerRounds = 0
    public var timerSeconds = 0.0
}

/// How many messages of a kind were handled, and the seconds that took.
public struct HandlingTime: Sendable, Equatable {
    public var count = 0
    public var seconds = 0.0

    public init() {}
}

/// Seconds on a monotonic clock, for timing the coordinator's own work.
func monotonicSeconds() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

/// A program sweep's program as the coordinator serves it: its folder here and its reference.
public struct ServedProgram: Sendable {
    public var folder: URL
    public var ref: ProgramRef

    /// Fingerprints `folder` (≤ 256 MiB, `.sweepignore` applied).
    public init(folder: URL, command: ProgramCommand) throws {
        self.folder = folder
        let fingerprint = try ProgramFingerprint.compute(folder: folder)
        ref = ProgramRef(
            fingerprint: fingerprint.fingerprint,
            files: fingerprint.files,
            command: command.command, config: command.config, env: command.env)
    }
}

/// Serves a sweep's trials over a ZeroMQ ROUTER: the Paranoid Pirate coordinator, driving the
/// sweep's ``TrialController`` with what workers report.
///
/// One thread runs ``serve(until:)``; the socket, the controller (and its store writer) and the
/// scheduler belong to it.
/// Workers say `ready` and are welcomed (or refused for another build); an idle worker's heartbeat
/// asks for work and is answered with `assign` or `wait`; results are acknowledged only once
/// durable, and the next trial goes out in the same round trip. Messages that arrive together are
/// handled in one store transaction (group commit, at most ``batchSeconds`` of work), and their
/// replies leave after it commits. Replies are sent without blocking: a peer that does not read
/// loses its reply, never stalls the others.
public final class CoordinatorServer {
    public let controller: TrialController
    public var store: SweepStore { controller.store }
    /// The sweep's dataset (nil for a program sweep with `dataset: none`).
    public let dataset: LocatedDataset?
    /// The program a program sweep runs.
    public let program: ServedProgram?
    public let admission: Admission
    public private(set) var scheduler: Scheduler
    public private(set) var counters = ServerCounters()
    /// Log lines (to stderr by the CLI); without it, no line is even formatted.
    public var log: ((String) -> Void)?
    /// Called after every change of state worth showing (a trial finished, a worker came or went).
    public var onProgress: () -> Void = {}

    private let socket: ZMQSocket
    /// The ZAP handler when the ROUTER is a CURVE server.
    private let authenticator: Authenticator?
    /// Set (by SIGHUP) to re-read the authorised keys at once.
    public let reloadKeys = StopFlag()
    private let codec = Codec()
    private let datasetRef: DatasetRef
    private let assignments: AssignmentEncoder
    private var lastHeartbeat = Date.distantPast
    private var lastStorePoll = Date.distantPast
    private var lastExpiryScan = Date.distantPast
    private var notifiedCancels = Set<String>()
    private var lastRejectLog: [Data: Date] = [:]
    /// Workers that reported a dataset that is not the sweep's: they get no more trials.
    private var quarantined = Set<String>()
    /// Connections whose worker runs programs (`--allow-programs`).
    private var programPeers = Set<Data>()
    private var finishing = false
    private var leases: LeaseIssuer
    /// Replies held back until the batch they answer is durable (nil outside a batch).
    private var heldReplies: [(peer: Data, frames: [[UInt8]])]?
    /// Where replies go instead of the socket when set: the unit tests drive ``handle(_:userID:now:)``
    /// with frames they make and read what it answers here.
    var outbox: [(peer: Data, frames: [[UInt8]])]?
    /// The most handling time one batch takes before it commits: bounds the wait a batch adds to
    /// its first message's reply.
    static let batchSeconds = 0.002

    /// Binds the ROUTER and adopts the leases a previous run left in the store.
    /// - Parameter curve: the coordinator's CURVE secret key and its ZAP handler, which must already
    ///   be bound (libzmq admits every client while none is); the ROUTER is then a CURVE server and
    ///   workers are named by their key file's stem.
    public init(
        context: ZMQContext, endpoint: String, controller: TrialController, dataset: LocatedDataset?,
        program: ServedProgram? = nil, admission: Admission, settings: SchedulerSettings,
        curve: (secretKey: [UInt8], authenticator: Authenticator)? = nil
    ) throws {
        self.controller = controller
        self.dataset = dataset
        self.program = program
        self.admission = admission
        leases = try LeaseIssuer(store: controller.store)
        scheduler = Scheduler(settings: settings)
        authenticator = curve?.authenticator
        socket = try ZMQSocket(context: context, type: .router)
        if let curve {
            try socket.setZAPDomain("sweep")
            try socket.setCurveServer(secretKey: curve.secretKey)
        }
        try socket.setRouterMandatory(true)
        // Thousands of workers may connect at once (a Slurm array starting): queue them all.
        try socket.setBacklog(4096)
        try socket.setSendHighWaterMark(1000)
        try socket.setMaximumMessageSize(Int64(Codec.defaultMaximumBodyBytes + 4096))
        try socket.bind(endpoint)
        datasetRef = DatasetRef(
            fingerprint: dataset?.fingerprint.fingerprint ?? "",
            files: dataset?.fingerprint.files ?? [])
        assignments = try AssignmentEncoder(dataset: datasetRef, program: program?.ref)
        scheduler.adoptOrphans(try store.liveAttempts().map(\.lease), now: Date())
    }

    /// The endpoint actually bound (a `*` port resolved).
    public func endpoint() throws -> String { try socket.lastEndpoint() }

    /// Serves until every trial has ended (then tells workers `shutdown(finished)`) or `stop` is
    /// set (then `shutdown(stopping)`: workers reconnect when a coordinator returns).
    /// Returns true when the sweep is over. Throws ``StoreFull`` when the store's disk is full,
    /// after telling workers `shutdown(stopping)`: nothing unstored was acknowledged.
    public func serve(until stop: StopFlag) throws -> Bool {
        do {
            return try serveUntilOver(stop)
        } catch {
            guard let full = store.diskFull(error) else { throw error }
            // Nothing more can be stored: no assignment, no ack. Workers keep what they finished
            // and deliver it to the next coordinator.
            lingerForLastWords()
            broadcast(.shutdown(Shutdown(reason: .stopping)))
            note("\(full); workers told to wait for the coordinator's return")
            throw full
        }
    }

    private func serveUntilOver(_ stop: StopFlag) throws -> Bool {
        var overSince: Date?
        while true {
            if stop.isSet {
                lingerForLastWords()
                broadcast(.shutdown(Shutdown(reason: .stopping)))
                note("stopping: workers told to wait for the coordinator's return")
                try markWorkersOffline()
                return false
            }
            let wait = Int(max(10, min(100, scheduler.settings.heartbeat * 250)))
            let readable = try ZMQSocket.pollReadable([socket] + (authenticator.map { [$0.socket] } ?? []), timeoutMilliseconds: wait)
            if readable.contains(1) { authenticator?.serve() }
            if readable.contains(0) {
                // Drain what is queued (for at most 0.1 s), so a burst is handled before the timers
                // run; each batch of it is one transaction.
                var drained = false
                let drainStart = Date()
                while !drained && Date().timeIntervalSince(drainStart) < 0.1 {
                    try inBatch {
                        let start = Date()
                        while Date().timeIntervalSince(start) < Self.batchSeconds {
                            guard let (frames, userID) = try? socket.receiveWithUserID(wait: .nonBlocking) else {
                                drained = true
                                return
                            }
                            try handle(frames, userID: userID, now: Date())
                        }
                    }
                }
            }
            try tick(now: Date())
            if finishing {
                // Linger one heartbeat interval so idle workers hear `finished`.
                let since = overSince ?? Date()
                overSince = since
                if Date().timeIntervalSince(since) > scheduler.settings.heartbeat * 2 || scheduler.sessions.isEmpty {
                    lingerForLastWords()
                    broadcast(.shutdown(Shutdown(reason: .finished)))
                    try markWorkersOffline()
                    return true
                }
            }
        }
    }

    /// The last `shutdown` goes out just before the process ends: the socket keeps it for up to
    /// two seconds after close (its linger is 0 while serving), so a loaded machine's I/O thread
    /// still delivers it and no worker waits for a coordinator that is gone.
    private func lingerForLastWords() {
        do {
            try socket.setLinger(milliseconds: 2000)
        } catch {
            note("could not keep the last messages past close: \(error)")
        }
    }

    /// Workers are online only while a coordinator serves them.
    func markWorkersOffline() throws {
        for session in scheduler.sessions.values where !quarantined.contains(session.name) {
            try store.setWorkerState(name: session.name, state: .offline)
        }
    }

    // MARK: Timers

    func tick(now: Date) throws {
        // The liveness scan walks every session: a few times a heartbeat, not after every batch.
        guard now.timeIntervalSince(lastExpiryScan) >= min(0.25, scheduler.settings.heartbeat / 4) else { return }
        lastExpiryScan = now
        let started = monotonicSeconds()
        defer {
            counters.timerRounds += 1
            counters.timerSeconds += monotonicSeconds() - started
        }
        let expired = scheduler.expire(now: now)
        for name in scheduler.takeDeparted() {
            try store.setWorkerState(name: name, state: .lost, now: now)
            note("worker \(name) silent for \(scheduler.settings.liveness) heartbeats: declared dead")
            onProgress()
        }
        for expiry in expired {
            if let state = try controller.tellFailure(
                lease: expiry.lease, outcome: expiry.outcome, reason: expiry.reason, maxAttempts: expiry.maxAttempts, now: now)
            {
                counters.lostAttempts += 1
                note("lease \(expiry.lease) \(expiry.outcome.rawValue): \(expiry.reason); trial is now \(state.rawValue)")
                if let peer = expiry.peer, let lease = try? leaseRef(expiry.lease) {
                    send(.cancel(Cancel(lease: lease, reason: expiry.reason)), to: peer)
                }
                onProgress()
            }
        }
        if now.timeIntervalSince(lastHeartbeat) >= scheduler.settings.heartbeat {
            lastHeartbeat = now
            broadcast(.heartbeat(Heartbeat()))
        }
        // `sweep cancel` and `sweep retry` write the store from other processes: act within a second.
        if now.timeIntervalSince(lastStorePoll) >= min(1, scheduler.settings.heartbeat) {
            lastStorePoll = now
            if let authenticator {
                if reloadKeys.isSet {
                    reloadKeys.clear()
                    try authenticator.reload()
                    note("re-read \(authenticator.authorized.count) authorised worker keys")
                } else {
                    try authenticator.reloadIfChanged()
                }
            }
            let budgetCancels = try controller.cancelPastBudget(now: now)
            for id in budgetCancels { note("trial \(id) cancelled: the sweep's budget is reached") }
            // Cancels come from another process (`sweep cancel`) or the budget: look only then.
            let cancelsPossible = try store.othersCommitted() || !budgetCancels.isEmpty
            for session in scheduler.sessions.values where cancelsPossible {
                for lease in session.leases.keys {
                    guard !notifiedCancels.contains(lease), let attempt = try store.attempt(lease: lease), attempt.outcome == .cancelled
                    else { continue }
                    notifiedCancels.insert(lease)
                    scheduler.release(lease)
                    send(.cancel(Cancel(lease: try leaseRef(lease), reason: attempt.reason ?? "cancelled")), to: session.peer)
                    onProgress()
                }
            }
            if !finishing, try controller.isOver() {
                finishing = true
                let halt = try controller.halt()
                note(halt.map { "no more trials: \($0)" } ?? "every trial has ended")
            }
        }
    }

    // MARK: Messages

    /// - Parameter userID: the sender's key file stem, when CURVE authenticated it.
    func handle(_ frames: [[UInt8]], userID: String? = nil, now: Date) throws {
        counters.messages += 1
        let start = monotonicSeconds()
        guard frames.count >= 2 else { return reject(nil, code: .badFrames, "no routing id") }
        let peer = Data(frames[0])
        let message: WorkerMessage
        do {
            message = try codec.decode(Array(frames.dropFirst()))
        } catch {
            return reject(peer, code: error.code, error.description)
        }
        defer {
            counters.handling[message.typeName, default: HandlingTime()].count += 1
            counters.handling[message.typeName, default: HandlingTime()].seconds += monotonicSeconds() - start
        }
        switch message {
        case .ready(let ready): try admit(ready, from: peer, userID: userID, now: now)
        case .heartbeat(let heartbeat): if let session = known(peer, now: now) { try heard(heartbeat, from: session, now: now) }
        case .progress(let progress): if known(peer, now: now) != nil { try received(progress, from: peer, now: now) }
        case .result(let outcome): if let session = known(peer, now: now) { try received(outcome, from: session, now: now) }
        case .failed(let failure): if let session = known(peer, now: now) { try received(failure, from: session, now: now) }
        case .bye(let bye): if let session = known(peer, now: now) { try left(session, saying: bye, now: now) }
        case .fetch(let fetch): if known(peer, now: now) != nil { send(chunk(for: fetch), to: peer) }
        }
    }

    /// The session of a worker that said `ready`, marked as heard from; a peer this coordinator
    /// does not know (e.g. from before a restart) is told to introduce itself first.
    private func known(_ peer: Data, now: Date) -> Scheduler.Session? {
        guard let session = scheduler.session(peer) else {
            send(.error(ErrorReport(code: .notReady, message: "say ready first")), to: peer)
            return nil
        }
        scheduler.seen(peer, now: now)
        return session
    }

    /// A worker's `ready`: welcomed (and recorded) or refused with the reason.
    private func admit(_ ready: Ready, from peer: Data, userID: String?, now: Date) throws {
        var ready = ready
        // Under CURVE a worker is who its key says: the key's name, then the name it gives when
        // that differs (pods sharing one key stay apart, and no name can pass for another key's).
        if let userID { ready.worker = ready.worker == userID ? userID : "\(userID)/\(ready.worker)" }
        let answer = admission.answer(ready)
        send(answer, to: peer)
        guard case .welcome = answer else {
            counters.rejected += 1
            note("refused worker \(ready.worker) on \(ready.host): \(answer)")
            return
        }
        // A function worker runs the sweep's trials with its own code, as a program would.
        if ready.programs == true || ready.function != nil { programPeers.insert(peer) } else { programPeers.remove(peer) }
        // A repeated `ready` on a live connection only refreshes it (a flood costs no writes).
        if scheduler.session(peer)?.name == ready.worker { return scheduler.seen(peer, now: now) }
        scheduler.join(peer: peer, name: ready.worker, slots: ready.slotCount, now: now)
        try store.recordWorker(
            name: ready.worker, host: ready.host, cores: ready.cores, blasThreads: ready.blasThreads,
            blasCore: ready.blasCore, state: quarantined.contains(ready.worker) ? .quarantined : .online, slots: ready.slotCount,
            gpus: ready.gpus, now: now)
        note(
            "worker \(ready.worker) joined from \(ready.host) (\(ready.slotCount) slot\(ready.slotCount == 1 ? "" : "s")"
                + (ready.gpus.map { ", GPUs \($0.map(String.init).joined(separator: ","))" } ?? "")
                + ", \(ready.blasThreads) BLAS threads each, \(ready.blasCore))")
        onProgress()
    }

    /// A heartbeat: says where each of the worker's trials is, and asks for a trial per free slot.
    private func heard(_ heartbeat: Heartbeat, from session: Scheduler.Session, now: Date) throws {
        let peer = session.peer
        for progress in heartbeat.progress {
            let lease = progress.lease.lease
            // A lease from before a restart may be re-claimed only by the worker that held it.
            if !scheduler.holds(peer, lease), let attempt = try store.attempt(lease: lease), attempt.worker != session.name {
                reject(peer, code: .notYourLease, "lease \(lease) belongs to another worker")
                continue
            }
            scheduler.progress(peer, lease: lease, step: progress.step, now: now)
            if scheduler.holds(peer, lease) {
                try controller.tellProgress(lease: lease, epoch: progress.epoch, step: progress.step, now: now)
            } else {
                // Its lease ended here (lost, cancelled, or the trial finished elsewhere).
                send(.cancel(Cancel(lease: progress.lease, reason: "this lease is no longer valid")), to: peer)
            }
        }
        // Offered to the slots both sides see free: one the worker has not started yet is taken.
        let asked = min(heartbeat.asks(slots: session.slots), scheduler.session(peer)?.free ?? 0)
        for _ in 0..<asked where try offerWork(to: peer, now: now) == false { break }
    }

    /// A finished epoch: stored, and judged by early stopping.
    private func received(_ progress: Protocol.Progress, from peer: Data, now: Date) throws {
        guard scheduler.holds(peer, progress.lease.lease) else { return }
        if let missing = missingRankingMetric(progress.report) {
            return reject(peer, code: .badReport, "epoch \(progress.report.epoch)'s report lacks \(missing), which the sweep ranks on")
        }
        scheduler.epochReported(peer, lease: progress.lease.lease, epoch: progress.report.epoch, now: now)
        switch try controller.tellEpoch(lease: progress.lease.lease, record: progress.report, now: now) {
        case .continue: break
        case .stop(let reason):
            scheduler.release(progress.lease.lease)
            send(.cancel(Cancel(lease: progress.lease, reason: reason)), to: peer)
            note("trial \(progress.lease.trial) \(reason)")
            onProgress()
        case .stale:
            scheduler.release(progress.lease.lease)
            send(.cancel(Cancel(lease: progress.lease, reason: "this lease is no longer valid")), to: peer)
        }
    }

    /// A trial's result: stored, acknowledged once durable, and the next trial offered.
    private func received(_ outcome: TrialOutcome, from session: Scheduler.Session, now: Date) throws {
        let peer = session.peer
        if let missing = outcome.result.history.lazy.compactMap(missingRankingMetric).first {
            return reject(peer, code: .badReport, "the result of lease \(outcome.lease.lease) lacks \(missing) in an epoch")
        }
        // Only the worker an attempt was handed to may finish it (its name, or key under CURVE).
        let disposition = try controller.tellResult(lease: outcome.lease.lease, worker: session.name, report: outcome.result, now: now)
        if disposition == .foreign {
            return reject(peer, code: .notYourLease, "lease \(outcome.lease.lease) belongs to another worker")
        }
        scheduler.release(outcome.lease.lease)
        if disposition == .stale { counters.staleResults += 1 }
        send(.ack(Ack(lease: outcome.lease, kind: .result)), to: peer)
        note("trial \(outcome.lease.trial) attempt \(outcome.lease.attempt) result from \(session.name): \(disposition)")
        onProgress()
        try offerWork(to: peer, now: now)
    }

    /// An attempt that ended without a result.
    private func received(_ failure: Failure, from session: Scheduler.Session, now: Date) throws {
        let peer = session.peer
        let outcome: AttemptOutcome =
            switch failure.reason {
            case .diverged: .diverged
            case .crashed: .failed
            case .datasetMismatch, .declined: .lost
            case .cancelled: .cancelled
            }
        // Told before the heartbeat that would re-claim it: a trial that ended while the coordinator
        // was away (its lease is an orphan here) still ends once, and is not forgotten.
        let holds = try holdsOrReclaims(failure.lease.lease, session, now: now)
        if holds {
            // A worker with the wrong data is at fault, not the trial, and a declined trial never
            // ran: requeued without counting.
            let limit = [.datasetMismatch, .declined].contains(failure.reason) ? Int.max : scheduler.settings.maxAttempts
            try controller.tellFailure(
                lease: failure.lease.lease, outcome: outcome, reason: "\(failure.reason.rawValue): \(failure.detail)",
                maxAttempts: limit, now: now)
            note(
                "trial \(failure.lease.trial) attempt \(failure.lease.attempt) \(failure.reason.rawValue) on \(session.name): \(failure.detail)"
            )
        }
        if holds { scheduler.release(failure.lease.lease) }
        send(.ack(Ack(lease: failure.lease, kind: .failed)), to: peer)
        if failure.reason == .datasetMismatch && quarantined.insert(session.name).inserted {
            try store.setWorkerState(name: session.name, state: .quarantined, now: now)
            note("worker \(session.name) quarantined: its dataset does not match (\(failure.detail))")
        }
        onProgress()
        if failure.reason != .declined { try offerWork(to: peer, now: now) }
    }

    /// Whether the session holds `lease`; a lease from before a restart that the store says this
    /// worker ran is adopted by it first.
    private func holdsOrReclaims(_ lease: String, _ session: Scheduler.Session, now: Date) throws -> Bool {
        if scheduler.holds(session.peer, lease) { return true }
        guard scheduler.orphans[lease] != nil, try store.attempt(lease: lease)?.worker == session.name else { return false }
        scheduler.assign(lease, to: session.peer, now: now)
        return true
    }

    /// A worker leaving: its trials are requeued at once, not counted against them.
    private func left(_ session: Scheduler.Session, saying bye: Bye, now: Date) throws {
        let peer = session.peer
        for lease in session.leases.keys.sorted() {
            // A worker leaving is no fault of the trial's: requeued at once, not counted.
            try controller.tellFailure(
                lease: lease, outcome: .lost, reason: "worker \(session.name) left: \(bye.reason)",
                maxAttempts: .max, now: now)
        }
        scheduler.leave(peer)
        try store.setWorkerState(name: session.name, state: .offline, now: now)
        note("worker \(session.name) left (\(bye.reason))")
        onProgress()
    }

    /// An idle worker gets the next trial, `wait`, or `shutdown(finished)`.
    /// Returns whether a trial went out.
    @discardableResult
    func offerWork(to peer: Data, now: Date) throws -> Bool {
        guard let session = scheduler.session(peer), session.free > 0 else { return false }
        if finishing {
            if session.leases.isEmpty { try dismiss(session, now: now) }
            return false
        }
        if quarantined.contains(session.name) {
            send(
                .error(
                    ErrorReport(
                        code: .quarantined,
                        message: "this worker's dataset did not match the sweep's; fix its data and restart it under a new name")), to: peer
            )
            return false
        }
        if program != nil && !programPeers.contains(peer) {
            send(
                .error(
                    ErrorReport(
                        code: .programsNotAllowed,
                        message:
                            "this sweep runs a program, and this worker runs none: start it with --allow-programs to run the sweep's code (docs/SECURITY.md)"
                    )), to: peer)
            return false
        }
        let lease = leases.next()
        let claim: Claim
        switch try controller.ask(worker: session.name, lease: lease, now: now) {
        case .trial(let claimed): claim = claimed
        case .notNow:
            send(.wait(Wait(retryMilliseconds: Int(scheduler.settings.heartbeat * 1000))), to: peer)
            return false
        case .finished:
            finishing = true
            if session.leases.isEmpty { try dismiss(session, now: now) }
            return false
        }
        scheduler.assign(lease, to: peer, now: now)
        guard claim.configJSON.utf8.first == UInt8(ascii: "{") else {
            throw StoreError(message: "trial \(claim.trial)'s stored config is not a JSON object")
        }
        send(
            frames: assignments.frames(
                lease: LeaseRef(trial: claim.trial, attempt: claim.attempt, lease: lease),
                number: claim.number, configJSON: claim.configJSON), to: peer)
        note("trial #\(claim.number) \(claim.trial) attempt \(claim.attempt) → \(session.name)")
        onProgress()
        return true
    }

    /// Tells an idle worker the sweep is finished. It exits, so its session ends here, and the
    /// coordinator stops as soon as every worker has heard (not a liveness window later).
    private func dismiss(_ session: Scheduler.Session, now: Date) throws {
        send(.shutdown(Shutdown(reason: .finished)), to: session.peer)
        scheduler.leave(session.peer)
        if !quarantined.contains(session.name) { try store.setWorkerState(name: session.name, state: .offline, now: now) }
    }

    /// Up to 1 MiB of a file of this sweep's dataset (the format's own files) or program (the
    /// files its fingerprint lists).
    func chunk(for fetch: Fetch) -> CoordinatorMessage {
        let shipped: (files: [FileDigest], folder: URL)? =
            if let dataset, fetch.fingerprint == datasetRef.fingerprint {
                (datasetRef.files, dataset.folder)
            } else if let program, fetch.fingerprint == program.ref.fingerprint { (program.ref.files, program.folder) } else { nil }
        guard let shipped, let file = shipped.files.first(where: { $0.name == fetch.file }), fetch.offset >= 0, fetch.offset <= file.size
        else {
            return .error(
                ErrorReport(code: .noSuchFile, message: "no file \(fetch.file) at offset \(fetch.offset) in \(fetch.fingerprint)"))
        }
        guard let handle = FileHandle(forReadingAtPath: shipped.folder.appendingPathComponent(file.name).path) else {
            return .error(ErrorReport(code: .unreadable, message: "the coordinator cannot read \(file.name)"))
        }
        defer { try? handle.close() }
        let data: Data
        do {
            try handle.seek(toOffset: UInt64(fetch.offset))
            data = try handle.read(upToCount: 1 << 20) ?? Data()
        } catch {
            // An empty chunk would read as a truncated file on the worker; say what went wrong instead.
            return .error(
                ErrorReport(code: .unreadable, message: "the coordinator cannot read \(file.name) at offset \(fetch.offset): \(error)"))
        }
        return .chunk(
            Chunk(
                fingerprint: fetch.fingerprint, file: file.name, offset: fetch.offset, fileSize: file.size,
                sha256: file.sha256, data: data))
    }

    // MARK: Sending

    /// Runs `body` as one store transaction and sends the replies it made once that is durable;
    /// if it throws, nothing it wrote is kept and none of its replies (acks included) is sent.
    func inBatch(_ body: () throws -> Void) throws {
        heldReplies = []
        defer { heldReplies = nil }
        try store.batch(body)
        for (peer, frames) in heldReplies! { transmit(frames, to: peer) }
    }

    func send(_ message: CoordinatorMessage, to peer: Data) {
        do {
            send(frames: try codec.encode(message), to: peer)
        } catch {
            counters.unencodableReplies += 1
            note("could not encode a \(message.typeName) reply to \(scheduler.session(peer)?.name ?? "a peer"): \(error)")
        }
    }

    private func send(frames: [[UInt8]], to peer: Data) {
        if heldReplies != nil { return heldReplies!.append((peer, frames)) }
        transmit(frames, to: peer)
    }

    private func transmit(_ frames: [[UInt8]], to peer: Data) {
        if outbox != nil { return outbox!.append((peer, frames)) }
        do {
            try socket.send([Array(peer)] + frames, wait: .nonBlocking)
        } catch {
            counters.droppedReplies += 1
        }
    }

    /// `message` to every worker, encoded once.
    func broadcast(_ message: CoordinatorMessage) {
        let frames: [[UInt8]]
        do {
            frames = try codec.encode(message)
        } catch {
            counters.unencodableReplies += 1
            return note("could not encode a \(message.typeName) for every worker: \(error)")
        }
        for peer in scheduler.sessions.keys { send(frames: frames, to: peer) }
    }

    private func note(_ line: @autoclosure () -> String) {
        log?(line())
    }

    /// Answers a bad message with `error`, counts it, and logs it at most once a minute per peer.
    func reject(_ peer: Data?, code: ErrorCode, _ detail: String) {
        counters.rejected += 1
        guard let peer else { return }
        send(.error(ErrorReport(code: code, message: detail)), to: peer)
        let now = Date()
        if now.timeIntervalSince(lastRejectLog[peer] ?? .distantPast) >= 60 {
            lastRejectLog[peer] = now
            let name = scheduler.session(peer)?.name ?? "an unknown peer"
            note(
                "rejected a message from \(name): \(code.rawValue): \(detail) (further rejections from it are counted, logged once a minute)"
            )
        }
    }

    func leaseRef(_ lease: String) throws -> LeaseRef {
        guard let attempt = try store.attempt(lease: lease) else { throw StoreError(message: "no lease \(lease)") }
        return LeaseRef(trial: attempt.trial, attempt: attempt.attempt, lease: lease)
    }

    /// What an epoch record from a worker lacks of what the sweep ranks on, or nil: for a program,
    /// each objective's metric on valid; for the built-in trainer, every ranking metric on valid and test.
    func missingRankingMetric(_ record: EpochRecord) -> String? {
        if controller.spec.runsOwnCode {
            return controller.spec.ranking.objectives.first { record.valid[$0.metric] == nil }.map { "valid_\($0.metric)" }
        }
        if RankingMetrics(dictionary: record.valid.dictionary) != nil && RankingMetrics(dictionary: record.test.dictionary) != nil {
            return nil
        }
        return "a ranking metric"
    }
}
