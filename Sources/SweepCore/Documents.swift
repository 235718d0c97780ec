import Foundation
import Vocabulary

/// The JSON documents the CLI prints with `--json` and the dashboard serves under `/api/`: one
/// builder each, so both say the same.
public enum Documents {
    /// A document as every JSON output writes it: pretty, keys sorted, slashes as they are.
    public static func text(_ value: some Encodable) throws -> String {
        String(decoding: try JSONDocument.data(value), as: UTF8.self)
    }

    /// `sweep status --json`.
    public static func status(_ source: some SweepSource) throws -> String { try text(try SweepStatus.read(source)) }

    /// `sweep show TRIAL --json`: config, attempts, the epochs of its result's attempt (else its
    /// last), early-stopping judgements, and its variant, program, stop epoch and origin.
    public static func trial(_ snapshot: TrialSnapshot, store: SweepStore, sweep: SweepRecord) throws -> TrialDocument {
        let attempts = try store.attempts(trial: snapshot.id)
        return TrialDocument(
            trial: snapshot.id, number: snapshot.number, config: snapshot.config.activeDictionary, state: snapshot.state,
            attempts: attempts.map(TrialDocument.Attempt.init), epochs: try store.curve(of: snapshot, attempts: attempts),
            earlyStopping: try store.judgements(trial: snapshot.id).map(TrialDocument.Judged.init), variant: snapshot.variant,
            program: sweep.program.map { TrialDocument.Program(dir: $0.directory, fingerprint: $0.fingerprint) },
            stoppedAt: snapshot.stoppedAt, origin: snapshot.origin)
    }
}

/// `sweep show TRIAL --json` and `/api/trial/ID` (contract in docs/cli.md).
public struct TrialDocument: Encodable, Sendable {
    public struct Attempt: Encodable, Sendable {
        var attempt: Int
        var worker: String
        var outcome: AttemptOutcome?
        var reason: String?
        var started: Date
        var finished: Date?

        init(_ snapshot: AttemptSnapshot) {
            (attempt, worker, outcome, reason) = (snapshot.attempt, snapshot.worker, snapshot.outcome, snapshot.reason)
            (started, finished) = (snapshot.started, snapshot.finished)
        }

        enum CodingKeys: String, CodingKey { case attempt, worker, outcome, reason, started, finished }

        /// Every member present, `null` where there is nothing yet; times in ISO 8601.
        public func encode(to encoder: Encoder) throws {
            let formatter = ISO8601DateFormatter()
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(attempt, forKey: .attempt)
            try container.encode(worker, forKey: .worker)
            try container.encode(outcome, forKey: .outcome)
            try container.encode(reason, forKey: .reason)
            try container.encode(formatter.string(from: started), forKey: .started)
            try container.encode(finished.map(formatter.string), forKey: .finished)
        }
    }

    /// An early-stopping judgement as the document shows it.
    /// One objective keeps the document's shape of old (`value` a number, `compared` a list of
    /// numbers); several give `values` and `compared` as lists of vectors.
    public struct Judged: Encodable, Sendable {
        var judgement: Judgement

        init(_ judgement: Judgement) { self.judgement = judgement }

        enum CodingKeys: String, CodingKey {
            case epoch, value, values, decision, rule, compared, bracket, seed
            case comparedCount = "compared_count"
        }

        public func encode(to encoder: Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(judgement.epoch, forKey: .epoch)
            if judgement.values.count == 1 {
                try container.encode(judgement.values[0], forKey: .value)
                try container.encode(judgement.compared.map { $0[0] }, forKey: .compared)
            } else {
                try container.encode(judgement.values, forKey: .values)
                try container.encode(judgement.compared, forKey: .compared)
            }
            try container.encode(judgement.comparedCount, forKey: .comparedCount)
            try container.encode(judgement.decision, forKey: .decision)
            try container.encode(judgement.rule, forKey: .rule)
            try container.encode(judgement.bracket, forKey: .bracket)
            try container.encode(judgement.seed, forKey: .seed)
        }
    }

    public struct Program: Encodable, Sendable {
        var dir: String
        var fingerprint: String
    }

    var trial: String
    var number: Int
    var config: [String: ConfigValue]
    var state: TrialState
    var attempts: [Attempt]
    var epochs: [EpochRecord]
    var earlyStopping: [Judged]
    var variant: String?
    var program: Program?
    var stoppedAt: Int?
    var origin: ProposalOrigin?

    enum CodingKeys: String, CodingKey {
        case trial, number, config, state, attempts, epochs, earlyStopping = "early_stopping", variant, program
        case stoppedAt = "stopped_at", origin
    }
}
