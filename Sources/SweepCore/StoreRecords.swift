import Foundation
import Vocabulary

/// A write the store refused because the trial was not in a state that allows it.
public struct IllegalTransition: Error, Equatable, CustomStringConvertible, Sendable {
    public var trial: String
    public var from: TrialState
    public var to: TrialState

    public var description: String { "trial \(trial) cannot go from \(from.rawValue) to \(to.rawValue)" }
}

/// A store file that is missing, is not a sweep database, or holds something this build cannot read.
public struct StoreError: Error, CustomStringConvertible, Sendable {
    public var message: String

    public init(message: String) { self.message = message }

    public var description: String { message }
}

/// A trial handed to a worker.
public struct Claim: Sendable, Equatable {
    public var trial: String
    public var number: Int
    public var attempt: Int
    public var lease: String
    /// The trial's canonical config JSON, as stored: the wire carries this text as it is.
    public var configJSON: String

    /// The config, read back with each key's type.
    public func config() throws -> TrialConfig { try TrialConfig.parse(json: configJSON) }
}

/// What happened to a submitted result.
public enum ResultDisposition: Sendable, Equatable {
    /// Stored: the trial is completed with it.
    case stored
    /// Its history crossed a rung the coordinator had not judged (it was down meanwhile) and early
    /// stopping stopped it there: stored as `pruned` at that epoch, as a live report would have been.
    case pruned(epoch: Int)
    /// The same lease's result was already stored (a resend after a lost `ack`); nothing changed.
    case duplicate
    /// The lease is not the trial's current one (late, from a worker declared dead, or for a
    /// finished trial): recorded as an event and ignored.
    case stale
    /// The lease belongs to another worker: nothing is stored (the sender is answered with an error).
    case foreign
}

/// How a changed sweep file was applied to an existing store.
public struct PlanSync: Sendable, Equatable {
    /// Trials added.
    public var new: Int
    /// Trials already there and still planned (finished results kept).
    public var kept: Int
    /// Trials no longer planned, now `retired`.
    public var retired: Int
    /// Configs of the file's `enqueue:` added to run first.
    public var enqueued = 0
}

/// The sweep's row: its file, what it ranks by and its dataset.
public struct SweepRecord: Sendable {
    public var name: String
    public var specText: String
    public var specHash: String
    public var ranking: Ranking
    /// The dataset as the trial file writes it: a source and a fingerprint.
    public var dataset: DatasetSource
    public var fingerprint: String
    /// Popularity baseline metrics on valid and test, for scale on the leaderboard.
    public var popularity: [String: [String: Double]]?
    /// The program a program sweep runs: its folder and fingerprint when the sweep was last
    /// launched, and its command.
    public var program: TrialProgram?
}

/// The `program` column of the sweep row.
struct StoredProgram: Codable {
    var dir: String
    var fingerprint: String
    var command: ProgramCommand

    init(_ program: TrialProgram) {
        dir = program.directory
        fingerprint = program.fingerprint
        command = program.command
    }

    var program: TrialProgram { TrialProgram(directory: dir, fingerprint: fingerprint, command: command) }
}

/// One early-stopping judgement: a trial's value at a checkpoint epoch, what it was compared
/// with, and the decision. The store keeps one per trial and epoch; the first decision stands.
public struct Judgement: Sendable, Equatable, Codable {
    public enum Decision: String, Sendable, Codable {
        case `continue`, stop
    }

    public var trialNumber: Int
    public var epoch: Int
    /// The Hyperband bracket (0 for the other rules).
    public var bracket: Int
    /// The trial's repeat seed: values are compared only within one seed index.
    public var seed: Int
    /// Each judged objective's value on valid, best so far at `epoch` (one for a single objective).
    public var values: [Double]
    public var decision: Decision
    /// The rule and why, e.g. `asha rung 1 (epoch 6, η 3): 0.1210 is not in the top 1 of 4`.
    public var rule: String
    /// The values other trials had recorded at this checkpoint (same bracket and seed) when it was
    /// judged; the store keeps the first ``keptComparisons`` of them (the rule says the cut).
    public var compared: [[Double]]
    /// How many values it was compared with (more than `compared` holds past ``keptComparisons``).
    public var comparedCount: Int
    public var at: Date

    /// The most compared values a stored judgement keeps: keeping them all made the store grow
    /// with the square of the trials (a 5,000-trial ASHA sweep's rungs took 300 MB).
    public static let keptComparisons = 100

    public init(
        trialNumber: Int, epoch: Int, bracket: Int, seed: Int, values: [Double], decision: Decision, rule: String,
        compared: [[Double]], comparedCount: Int? = nil, at: Date
    ) {
        self.trialNumber = trialNumber
        self.epoch = epoch
        self.bracket = bracket
        self.seed = seed
        self.values = values
        self.decision = decision
        self.rule = rule
        self.compared = compared
        self.comparedCount = comparedCount ?? compared.count
        self.at = at
    }
}

/// The JSON texts the store keeps: written one way whichever process trained the trial, so `sweep
/// run` and `sweep launch` store the same records.
enum StoredJSON {
    /// An epoch record, by hand: it is written for every epoch of every trial.
    static func epoch(_ record: EpochRecord) throws -> String {
        try written("epoch \(record.epoch)'s record", capacity: 512) { (writer) throws(NonFiniteNumber) in try writer.record(record) }
    }

    /// An epoch record, as ``epoch(_:)`` (or an older build's `JSONEncoder`) wrote it.
    static func decodeEpoch(_ text: String, _ what: @autoclosure () -> String) throws -> EpochRecord {
        try JSONByteReader.read(text, { $0.record() }) ?? decode(EpochRecord.self, text, what())
    }

    /// Metric name → value, keys in byte order.
    static func numbers(_ values: [String: Double], _ what: String) throws -> String {
        try written(what, capacity: 32 * values.count + 2) { (writer) throws(NonFiniteNumber) in try writer.numbers(values) }
    }

    /// The timing object, by hand: it is written for every trial on the coordinator's hot path.
    static func timing(_ timing: TrainingTiming) throws -> String {
        try written("a trial's timing", capacity: 160) { (writer) throws(NonFiniteNumber) in try writer.timing(timing) }
    }

    typealias NonFiniteNumber = JSONByteWriter.NonFiniteNumber

    /// The text `write` writes; a NaN or infinite number in it is an error naming `what`.
    private static func written(
        _ what: @autoclosure () -> String, capacity: Int, _ write: (inout JSONByteWriter) throws(NonFiniteNumber) -> Void
    ) throws -> String {
        var writer = JSONByteWriter(capacity: capacity)
        do {
            try write(&writer)
        } catch {
            throw StoreError(message: "\(what()) holds a NaN or infinite value")
        }
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    /// Metric name → value, as ``numbers(_:_:)`` wrote it.
    static func decodeNumbers(_ text: String, _ what: @autoclosure () -> String) throws -> [String: Double] {
        try JSONByteReader.read(text, { $0.numbers() }) ?? decode([String: Double].self, text, what())
    }

    /// A timing, as ``timing(_:)`` (or an older build, keys sorted) wrote it.
    static func decodeTiming(_ text: String, _ what: @autoclosure () -> String) throws -> TrainingTiming {
        try JSONByteReader.read(text, { $0.timing() }) ?? decode(TrainingTiming.self, text, what())
    }

    static func decode<T: Decodable>(_ type: T.Type, _ text: String, _ what: @autoclosure () -> String) throws -> T {
        do {
            return try JSONDecoder().decode(type, from: Data(text.utf8))
        } catch {
            throw StoreError(message: "\(what()) is not readable: \(error)")
        }
    }
}

/// A stored name (a state, an outcome, a decision) as an SQL literal: a query names the enum's
/// case, so a renamed case is a compile error rather than a query that silently matches nothing.
protocol SQLLiteral: RawRepresentable where RawValue == String {}

extension SQLLiteral {
    var sql: String { "'\(rawValue)'" }
}

extension TrialState: SQLLiteral {}
extension AttemptOutcome: SQLLiteral {}
extension Judgement.Decision: SQLLiteral {}
