import Foundation

/// The wire protocol version carried in every frame's first byte and in ``Ready/protocolVersion``.
public let wireProtocolVersion: UInt8 = 1

/// Names a lease: one attempt of one trial held by one worker. Every message about a running
/// trial carries all three, so a coordinator can tell a current report from a stale one.
public struct LeaseRef: Codable, Hashable, Sendable {
    /// The trial's stable id.
    public var trial: String
    /// 1 for the first attempt, counting up with each retry.
    public var attempt: Int
    /// The coordinator's unique id for this hand-out.
    public var lease: String

    public init(trial: String, attempt: Int, lease: String) {
        self.trial = trial
        self.attempt = attempt
        self.lease = lease
    }
}

// MARK: Worker → coordinator

/// First message of a worker: who it is and what it runs.
public struct Ready: Codable, Hashable, Sendable {
    /// ``wireProtocolVersion`` of the sender.
    public var protocolVersion: Int
    /// Hash of the ML contract version and the binary's version; see ``BuildID``.
    public var buildID: String
    /// The worker's name (unique per coordinator; defaults to host-pid).
    public var worker: String
    public var host: String
    public var cores: Int
    /// OpenBLAS threads each trial uses.
    public var blasThreads: Int
    /// OpenBLAS kernel family in use, e.g. `"Haswell"`.
    public var blasCore: String
    /// Whether it runs program trials (`--allow-programs`); absent means no.
    public var programs: Bool?

    public init(protocolVersion: Int = Int(wireProtocolVersion), buildID: String, worker: String, host: String,
                cores: Int, blasThreads: Int, blasCore: String, programs: Bool? = nil) {
        self.protocolVersion = protocolVersion
        self.buildID = buildID
        self.worker = worker
        self.host = host
        self.cores = cores
        self.blasThreads = blasThreads
        self.blasCore = blasCore
        self.programs = programs
    }

    enum CodingKeys: String, CodingKey {
        case protocolVersion = "protocol", buildID = "build_id", worker, host, cores
        case blasThreads = "blas_threads", blasCore = "blas_core", programs
    }
}

/// Where a running trial is: sent with every heartbeat so the coordinator can detect a hung trainer.
public struct TrialProgress: Codable, Hashable, Sendable {
    public var lease: LeaseRef
    /// The epoch being trained, from 1.
    public var epoch: Int
    /// Training steps done since the trial started; a stalled trainer stops advancing it.
    public var step: Int

    public init(lease: LeaseRef, epoch: Int, step: Int) {
        self.lease = lease
        self.epoch = epoch
        self.step = step
    }
}

/// Proof of life, both ways. A worker's heartbeat carries its trial's progress when it has one.
public struct Heartbeat: Codable, Hashable, Sendable {
    public var progress: TrialProgress?

    public init(progress: TrialProgress? = nil) { self.progress = progress }
}

/// One finished epoch of a trial: the per-epoch record of `sweep train`'s JSON history.
public struct EpochReport: Codable, Hashable, Sendable {
    public var epoch: Int
    /// Raw mean training loss of the main task over the epoch (a program trial may report none).
    public var lossMain: Double?
    /// Raw mean training loss of the auxiliary task; nil without multi-task.
    public var lossAux: Double?
    /// Effective task weights: `main`, `aux` (nil without multi-task), and `s_main`/`s_aux` for uncertainty.
    public var weights: [String: Double?]
    /// Validation metrics, metric name → value.
    public var valid: [String: Double]
    /// Test metrics, metric name → value.
    public var test: [String: Double]
    /// Wall seconds of the epoch, training and evaluation.
    public var seconds: Double
    /// Wall seconds of training alone.
    public var trainSeconds: Double?
    /// A program trial's other reported numbers, by name.
    public var extra: [String: Double]?

    public init(epoch: Int, lossMain: Double?, lossAux: Double?, weights: [String: Double?],
                valid: [String: Double], test: [String: Double], seconds: Double, trainSeconds: Double? = nil,
                extra: [String: Double]? = nil) {
        self.epoch = epoch
        self.lossMain = lossMain
        self.lossAux = lossAux
        self.weights = weights
        self.valid = valid
        self.test = test
        self.seconds = seconds
        self.trainSeconds = trainSeconds
        self.extra = extra
    }

    enum CodingKeys: String, CodingKey {
        case epoch, lossMain = "loss_main", lossAux = "loss_aux", weights, valid, test, seconds, trainSeconds = "train_seconds", extra
    }
}

/// A finished epoch, streamed while a trial runs.
public struct Progress: Codable, Hashable, Sendable {
    public var lease: LeaseRef
    public var report: EpochReport

    public init(lease: LeaseRef, report: EpochReport) {
        self.lease = lease
        self.report = report
    }
}

/// Timings of a finished trial.
public struct TrialTiming: Codable, Hashable, Sendable {
    /// Train examples ÷ training seconds of an epoch, median over epochs.
    public var examplesPerSecond: Double
    public var secondsPerEpoch: Double
    public var totalSeconds: Double
    /// BLAS threads the trial ran with.
    public var threads: Int
    /// OpenBLAS kernel family, e.g. `"Haswell"`.
    public var blasCore: String

    public init(examplesPerSecond: Double, secondsPerEpoch: Double, totalSeconds: Double, threads: Int, blasCore: String) {
        self.examplesPerSecond = examplesPerSecond
        self.secondsPerEpoch = secondsPerEpoch
        self.totalSeconds = totalSeconds
        self.threads = threads
        self.blasCore = blasCore
    }

    enum CodingKeys: String, CodingKey {
        case examplesPerSecond = "examples_per_second", secondsPerEpoch = "seconds_per_epoch"
        case totalSeconds = "total_seconds", threads, blasCore = "blas_core"
    }
}

/// A trial's final outcome: metrics at the best valid epoch and the whole history.
public struct TrialOutcome: Codable, Hashable, Sendable {
    public var lease: LeaseRef
    public var bestEpoch: Int
    public var valid: [String: Double]
    public var test: [String: Double]
    public var history: [EpochReport]
    public var timing: TrialTiming

    public init(lease: LeaseRef, bestEpoch: Int, valid: [String: Double], test: [String: Double],
                history: [EpochReport], timing: TrialTiming) {
        self.lease = lease
        self.bestEpoch = bestEpoch
        self.valid = valid
        self.test = test
        self.history = history
        self.timing = timing
    }

    enum CodingKeys: String, CodingKey {
        case lease, bestEpoch = "best_epoch", valid, test, history, timing
    }
}

/// Why an attempt did not produce a result.
public enum FailureReason: String, Codable, Hashable, Sendable, CaseIterable {
    /// The loss became NaN or infinite; the same seed would diverge again, so it is terminal.
    case diverged
    /// The trainer threw or the config was rejected.
    case crashed
    /// The dataset the worker found or fetched does not match the trial's fingerprint.
    case datasetMismatch = "dataset_mismatch"
    /// The coordinator cancelled the trial.
    case cancelled
}

/// An attempt that ended without a result.
public struct Failure: Codable, Hashable, Sendable {
    public var lease: LeaseRef
    public var reason: FailureReason
    /// Human-readable detail, e.g. the error text.
    public var detail: String
    /// The epoch at which it ended, when known.
    public var epoch: Int?

    public init(lease: LeaseRef, reason: FailureReason, detail: String, epoch: Int? = nil) {
        self.lease = lease
        self.reason = reason
        self.detail = detail
        self.epoch = epoch
    }
}

/// The worker is leaving; its trial, if any, goes back to the queue at once.
public struct Bye: Codable, Hashable, Sendable {
    public var reason: String

    public init(reason: String) { self.reason = reason }
}

/// A request for part of one dataset file.
public struct Fetch: Codable, Hashable, Sendable {
    /// The dataset's fingerprint.
    public var fingerprint: String
    /// A file name of the dataset format, e.g. `train.npy`.
    public var file: String
    public var offset: Int

    public init(fingerprint: String, file: String, offset: Int) {
        self.fingerprint = fingerprint
        self.file = file
        self.offset = offset
    }
}

// MARK: Coordinator → worker

/// The answer to ``Ready``: the heartbeat timing both sides use.
public struct Welcome: Codable, Hashable, Sendable {
    public var heartbeatMilliseconds: Int
    /// Missed intervals after which a peer counts as dead.
    public var liveness: Int
    /// The sweep's name, for the worker's log.
    public var sweep: String

    public init(heartbeatMilliseconds: Int, liveness: Int, sweep: String) {
        self.heartbeatMilliseconds = heartbeatMilliseconds
        self.liveness = liveness
        self.sweep = sweep
    }

    enum CodingKeys: String, CodingKey {
        case heartbeatMilliseconds = "heartbeat_ms", liveness, sweep
    }
}

/// One file of a dataset, as the coordinator describes it.
public struct DatasetFile: Codable, Hashable, Sendable {
    public var name: String
    public var size: Int
    public var sha256: String

    public init(name: String, size: Int, sha256: String) {
        self.name = name
        self.size = size
        self.sha256 = sha256
    }
}

/// A dataset named by content: workers find it by fingerprint, never by the coordinator's path.
public struct DatasetRef: Codable, Hashable, Sendable {
    public var fingerprint: String
    public var files: [DatasetFile]

    public init(fingerprint: String, files: [DatasetFile]) {
        self.fingerprint = fingerprint
        self.files = files
    }
}

/// A program named by content, with how to run it: workers fetch its files like a dataset's
/// (each file's name is its path in the program folder).
public struct ProgramRef: Codable, Hashable, Sendable {
    public var fingerprint: String
    public var files: [DatasetFile]
    /// The command line, with `{data}` and `{out}` to fill in.
    public var command: [String]
    /// How the program gets its config: `args`, `json` or `env`.
    public var config: String
    /// `NAME` (copied from the worker's environment) or `NAME=value`.
    public var env: [String]

    public init(fingerprint: String, files: [DatasetFile], command: [String], config: String, env: [String]) {
        self.fingerprint = fingerprint
        self.files = files
        self.command = command
        self.config = config
        self.env = env
    }
}

/// A trial handed to a worker.
public struct Assignment: Codable, Hashable, Sendable {
    public var lease: LeaseRef
    /// The trial's sequential number in plan order.
    public var number: Int
    /// The full trial config (every active key) as the store keeps it, read by the worker's ML
    /// library with each key's own type.
    public var config: JSONObjectText
    /// The dataset; no files (and an empty fingerprint) for a program sweep with `dataset: none`.
    public var dataset: DatasetRef
    /// The program to run, for a program trial.
    public var program: ProgramRef?

    public init(lease: LeaseRef, number: Int, config: JSONObjectText, dataset: DatasetRef, program: ProgramRef? = nil) {
        self.lease = lease
        self.number = number
        self.config = config
        self.dataset = dataset
        self.program = program
    }
}

/// What an ``Ack`` acknowledges.
public enum AckKind: String, Codable, Hashable, Sendable {
    case result, failed
}

/// A result or failure is durably stored; the worker may forget it.
public struct Ack: Codable, Hashable, Sendable {
    public var lease: LeaseRef
    public var kind: AckKind

    public init(lease: LeaseRef, kind: AckKind) {
        self.lease = lease
        self.kind = kind
    }
}

/// Part of a dataset file, answering ``Fetch``.
public struct Chunk: Codable, Hashable, Sendable {
    public var fingerprint: String
    public var file: String
    public var offset: Int
    /// The whole file's size, so the worker knows when it is done.
    public var fileSize: Int
    /// SHA-256 of the whole file, checked once all chunks have arrived.
    public var sha256: String
    /// The bytes (base64 in JSON).
    public var data: Data

    public init(fingerprint: String, file: String, offset: Int, fileSize: Int, sha256: String, data: Data) {
        self.fingerprint = fingerprint
        self.file = file
        self.offset = offset
        self.fileSize = fileSize
        self.sha256 = sha256
        self.data = data
    }

    enum CodingKeys: String, CodingKey {
        case fingerprint, file, offset, fileSize = "file_size", sha256, data
    }
}

/// No work right now; ask again after a while.
public struct Wait: Codable, Hashable, Sendable {
    public var retryMilliseconds: Int

    public init(retryMilliseconds: Int) { self.retryMilliseconds = retryMilliseconds }

    enum CodingKeys: String, CodingKey { case retryMilliseconds = "retry_ms" }
}

/// Stop the named trial at the next training step: the user cancelled it, a changed sweep file
/// retired it, its lease ended, or early stopping pruned it (the reason says which; a pruned
/// trial's result is already stored, from the epochs the worker reported).
public struct Cancel: Codable, Hashable, Sendable {
    public var lease: LeaseRef
    public var reason: String

    public init(lease: LeaseRef, reason: String) {
        self.lease = lease
        self.reason = reason
    }
}

/// Why the coordinator is saying goodbye.
public enum ShutdownReason: String, Codable, Hashable, Sendable {
    /// The sweep is finished: the worker exits.
    case finished
    /// The coordinator is going away: reconnect and carry on when it returns.
    case stopping
}

/// The coordinator is going away, or the sweep is over.
public struct Shutdown: Codable, Hashable, Sendable {
    public var reason: ShutdownReason

    public init(reason: ShutdownReason) { self.reason = reason }
}

/// What was wrong with the last message.
public struct ErrorReport: Codable, Hashable, Sendable {
    /// A stable machine-readable code, e.g. `build_mismatch`, `bad_frame`, `unknown_lease`.
    public var code: String
    public var message: String

    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }
}

// MARK: The message

/// Every message of the coordinator↔worker conversation (protocol v1).
public enum Message: Hashable, Sendable {
    // worker → coordinator
    case ready(Ready)
    case heartbeat(Heartbeat)
    case progress(Progress)
    case result(TrialOutcome)
    case failed(Failure)
    case bye(Bye)
    case fetch(Fetch)
    // coordinator → worker
    case welcome(Welcome)
    case assign(Assignment)
    case ack(Ack)
    case chunk(Chunk)
    case wait(Wait)
    case cancel(Cancel)
    case shutdown(Shutdown)
    case error(ErrorReport)

    /// The type name sent in the second frame.
    public var typeName: String {
        switch self {
        case .ready: "ready"
        case .heartbeat: "heartbeat"
        case .progress: "progress"
        case .result: "result"
        case .failed: "failed"
        case .bye: "bye"
        case .fetch: "fetch"
        case .welcome: "welcome"
        case .assign: "assign"
        case .ack: "ack"
        case .chunk: "chunk"
        case .wait: "wait"
        case .cancel: "cancel"
        case .shutdown: "shutdown"
        case .error: "error"
        }
    }
}
