import Foundation
import Vocabulary

/// The JSON documents the CLI prints with `--json` and the dashboard serves under `/api/`: one
/// builder each, so both say the same.
public enum Documents {
    /// JSON text as every command prints it: pretty, keys sorted, slashes unescaped.
    public static func text(_ object: Any) throws -> String {
        String(
            decoding: try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]),
            as: UTF8.self)
    }

    /// A document as every JSON output writes it: pretty, keys sorted, slashes as they are.
    public static func text(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// `sweep status --json`.
    public static func status(_ store: SweepStore) throws -> String { try text(try SweepStatus.read(store)) }

    /// `sweep show TRIAL --json`: config, attempts, the epochs of its result's attempt (else its
    /// last), early-stopping judgements, and its variant, program, stop epoch and origin.
    public static func trial(_ snapshot: TrialSnapshot, store: SweepStore, sweep: SweepRecord) throws -> [String: Any] {
        let attempts = try store.attempts(trial: snapshot.id)
        let records = try store.curve(of: snapshot, attempts: attempts)
        let judgements = try store.judgements(trial: snapshot.id)
        let formatter = ISO8601DateFormatter()
        var document: [String: Any] = [
            "trial": snapshot.id, "number": snapshot.number, "config": snapshot.config.activeDictionary.mapValues(\.foundationValue),
            "state": snapshot.state.rawValue,
            "attempts": attempts.map { attempt -> [String: Any] in
                [
                    "attempt": attempt.attempt, "worker": attempt.worker, "outcome": attempt.outcome?.rawValue ?? NSNull(),
                    "reason": attempt.reason ?? NSNull(), "started": formatter.string(from: attempt.started),
                    "finished": attempt.finished.map { formatter.string(from: $0) } ?? NSNull(),
                ]
            },
            "epochs": try JSONSerialization.jsonObject(with: try JSONEncoder().encode(records)),
            "early_stopping": judgements.map { judgement -> [String: Any] in
                [
                    "epoch": judgement.epoch, "value": judgement.value, "decision": judgement.decision.rawValue, "rule": judgement.rule,
                    "compared": judgement.compared, "bracket": judgement.bracket, "seed": judgement.seed,
                ]
            },
        ]
        if let variant = snapshot.variant { document["variant"] = variant }
        if let program = sweep.program { document["program"] = ["dir": program.directory, "fingerprint": program.fingerprint] }
        if let stoppedAt = snapshot.stoppedAt { document["stopped_at"] = stoppedAt }
        if let origin = snapshot.origin {
            document["origin"] = ["sampler": origin.sampler.rawValue, "finished": origin.finished, "running": origin.running]
        }
        return document
    }
}
