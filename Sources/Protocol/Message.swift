import Foundation
import Vocabulary

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
    /// Trials it runs at once (`--slots`, or one per `--gpus` device); absent means 1.
    public var slots: Int?
    /// The GPU devices its slots use, one each (`--gpus`); absent without.
    public var gpus: [Int]?
    /// The function a function worker (the Python client) runs trials with, by the name a sweep's
    /// `function:` gives; absent for a `sweep worker`. Its trainer is that function, so its
    /// `buildID` is not compared.
    public var function: String?

    public init(
        protocolVersion: Int = Int(wireProtocolVersion), buildID: String, worker: String, host: String,
        cores: Int, blasThreads: Int, blasCore: String, programs: Bool? = nil, slots: Int? = nil, gpus: [Int]? = nil,
        function: String? = nil
    ) {
        self.protocolVersion = protocolVersion
        self.buildID = buildID
        self.worker = worker
        self.host = host
        self.cores = cores
        self.blasThreads = blasThreads
        self.blasCore = blasCore
        self.programs = programs
        self.slots = slots
        self.gpus = gpus
        self.function = function
    }

    /// Trials it runs at once.
    public var slotCount: Int { max(1, slots ?? 1) }

    enum CodingKeys: String, CodingKey {
        case protocolVersion = "protocol", buildID = "build_id", worker, host, cores
        case blasThreads = "blas_threads", blasCore = "blas_core", programs, slots, gpus, function
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

/// Proof of life, both ways. A worker's heartbeat carries the progress of every trial it runs
/// (absent when it runs none), and asks for a trial for each of its slots it does not list, or
/// for `wants` trials when that is fewer (a worker near `--max-trials`).
public struct Heartbeat: Codable, Hashable, Sendable {
    public var progress: [TrialProgress]
    /// Trials asked for, when fewer than the free slots; nil: one per free slot.
    public var wants: Int?

    public init(progress: [TrialProgress] = [], wants: Int? = nil) {
        self.progress = progress
        self.wants = wants
    }

    enum CodingKeys: String, CodingKey { case progress, wants }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        progress = try container.decodeIfPresent([TrialProgress].self, forKey: .progress) ?? []
        wants = try container.decodeIfPresent(Int.self, forKey: .wants)
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        if !progress.isEmpty { try container.encode(progress, forKey: .progress) }
        try container.encodeIfPresent(wants, forKey: .wants)
    }

    /// How many trials this heartbeat asks for from a worker with `slots` slots.
    public func asks(slots: Int) -> Int { max(0, min(slots - progress.count, wants ?? .max)) }
}

/// A finished epoch, streamed while a trial runs.
public struct Progress: Codable, Hashable, Sendable {
    public var lease: LeaseRef
    public var report: EpochRecord

    public init(lease: LeaseRef, report: EpochRecord) {
        self.lease = lease
        self.report = report
    }
}

/// A trial's result from the attempt a lease names. On the wire the result's members sit beside
/// `lease` in one object: `{"lease":…,"best_epoch":…,"valid":…,"test":…,"history":[…],"timing":…}`.
public struct TrialOutcome: Codable, Hashable, Sendable {
    public var lease: LeaseRef
    public var result: TrialResult

    public init(lease: LeaseRef, result: TrialResult) {
        self.lease = lease
        self.result = result
    }

    enum CodingKeys: String, CodingKey { case lease }

    public init(from decoder: Decoder) throws {
        lease = try decoder.container(keyedBy: CodingKeys.self).decode(LeaseRef.self, forKey: .lease)
        result = try TrialResult(from: decoder)
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(lease, forKey: .lease)
        try result.encode(to: encoder)
    }
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

/// A dataset named by content: workers find it by fingerprint, never by the coordinator's path.
public struct DatasetRef: Codable, Hashable, Sendable {
    public var fingerprint: String
    public var files: [FileDigest]

    public init(fingerprint: String, files: [FileDigest]) {
        self.fingerprint = fingerprint
        self.files = files
    }
}

/// A program named by content, with how to run it: workers fetch its files like a dataset's
/// (each file's name is its path in the program folder).
public struct ProgramRef: Codable, Hashable, Sendable {
    public var fingerprint: String
    public var files: [FileDigest]
    /// The command line, with `{data}` and `{out}` to fill in.
    public var command: [String]
    /// How the program gets its config: `args`, `json` or `env`.
    public var config: String
    /// `NAME` (copied from the worker's environment) or `NAME=value`.
    public var env: [String]

    public init(fingerprint: String, files: [FileDigest], command: [String], config: String, env: [String]) {
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
    public var code: ErrorCode
    public var message: String

    public init(code: ErrorCode, message: String) {
        self.code = code
        self.message = message
    }
}

/// Why the coordinator refused a message or request: a stable machine-readable code, the same
/// enum on both sides.
public enum ErrorCode: String, Codable, Hashable, Sendable, CaseIterable {
    // A message that did not decode (``DecodeError``).
    case badFrames = "bad_frames", badVersion = "bad_version", unknownType = "unknown_type", tooLarge = "too_large"
    case malformedBody = "malformed_body"
    // Admission.
    case protocolMismatch = "protocol_mismatch", buildMismatch = "build_mismatch", notReady = "not_ready"
    case quarantined, programsNotAllowed = "programs_not_allowed", functionMismatch = "function_mismatch"
    // Reports.
    case notYourLease = "not_your_lease", badReport = "bad_report"
    // Fetching a dataset's or program's file.
    case noSuchFile = "no_such_file", unreadable
}

// MARK: The messages, one enum per direction

/// A message of the coordinator↔worker conversation (protocol v1), in one direction. The codec
/// reads and writes either direction through this; each side switches over its own enum.
public protocol WireMessage: Hashable, Sendable {
    /// The type name sent in the second frame.
    var typeName: String { get }
    /// The body as Foundation's encoder writes it (the reference for the hand-written bodies).
    func foundationBody(_ encoder: JSONEncoder) throws -> Data
    /// The body written by hand, for the messages every trial sends; nil for the others.
    func hotBody() throws -> [UInt8]?
    /// Reads a hot body by hand; nil for another type or a body left to Foundation's decoder.
    static func hotMessage(type: [UInt8], body: [UInt8]) -> Self?
    /// Foundation's decoder for each type name of this direction.
    static var bodyDecoders: [String: @Sendable (JSONDecoder, Data) throws -> Self] { get }
}

/// What a worker sends to its coordinator.
public enum WorkerMessage: WireMessage {
    case ready(Ready)
    case heartbeat(Heartbeat)
    case progress(Progress)
    case result(TrialOutcome)
    case failed(Failure)
    case bye(Bye)
    case fetch(Fetch)

    public var typeName: String {
        switch self {
        case .ready: "ready"
        case .heartbeat: "heartbeat"
        case .progress: "progress"
        case .result: "result"
        case .failed: "failed"
        case .bye: "bye"
        case .fetch: "fetch"
        }
    }

    public func foundationBody(_ encoder: JSONEncoder) throws -> Data {
        switch self {
        case .ready(let value): try encoder.encode(value)
        case .heartbeat(let value): try encoder.encode(value)
        case .progress(let value): try encoder.encode(value)
        case .result(let value): try encoder.encode(value)
        case .failed(let value): try encoder.encode(value)
        case .bye(let value): try encoder.encode(value)
        case .fetch(let value): try encoder.encode(value)
        }
    }

    public static let bodyDecoders: [String: @Sendable (JSONDecoder, Data) throws -> WorkerMessage] = [
        "ready": { .ready(try $0.decode(Ready.self, from: $1)) },
        "heartbeat": { .heartbeat(try $0.decode(Heartbeat.self, from: $1)) },
        "progress": { .progress(try $0.decode(Progress.self, from: $1)) },
        "result": { .result(try $0.decode(TrialOutcome.self, from: $1)) },
        "failed": { .failed(try $0.decode(Failure.self, from: $1)) },
        "bye": { .bye(try $0.decode(Bye.self, from: $1)) },
        "fetch": { .fetch(try $0.decode(Fetch.self, from: $1)) },
    ]
}

/// What a coordinator sends to a worker.
public enum CoordinatorMessage: WireMessage {
    case welcome(Welcome)
    case assign(Assignment)
    case ack(Ack)
    case chunk(Chunk)
    case wait(Wait)
    case cancel(Cancel)
    case shutdown(Shutdown)
    case error(ErrorReport)
    /// Proof of life, as the worker's own heartbeat (without progress).
    case heartbeat(Heartbeat)

    public var typeName: String {
        switch self {
        case .welcome: "welcome"
        case .assign: "assign"
        case .ack: "ack"
        case .chunk: "chunk"
        case .wait: "wait"
        case .cancel: "cancel"
        case .shutdown: "shutdown"
        case .error: "error"
        case .heartbeat: "heartbeat"
        }
    }

    public func foundationBody(_ encoder: JSONEncoder) throws -> Data {
        switch self {
        case .welcome(let value): try encoder.encode(value)
        case .assign(let value): try encoder.encode(value)
        case .ack(let value): try encoder.encode(value)
        case .chunk(let value): try encoder.encode(value)
        case .wait(let value): try encoder.encode(value)
        case .cancel(let value): try encoder.encode(value)
        case .shutdown(let value): try encoder.encode(value)
        case .error(let value): try encoder.encode(value)
        case .heartbeat(let value): try encoder.encode(value)
        }
    }

    public static let bodyDecoders: [String: @Sendable (JSONDecoder, Data) throws -> CoordinatorMessage] = [
        "welcome": { .welcome(try $0.decode(Welcome.self, from: $1)) },
        "assign": { .assign(try $0.decode(Assignment.self, from: $1)) },
        "ack": { .ack(try $0.decode(Ack.self, from: $1)) },
        "chunk": { .chunk(try $0.decode(Chunk.self, from: $1)) },
        "wait": { .wait(try $0.decode(Wait.self, from: $1)) },
        "cancel": { .cancel(try $0.decode(Cancel.self, from: $1)) },
        "shutdown": { .shutdown(try $0.decode(Shutdown.self, from: $1)) },
        "error": { .error(try $0.decode(ErrorReport.self, from: $1)) },
        "heartbeat": { .heartbeat(try $0.decode(Heartbeat.self, from: $1)) },
    ]
}
