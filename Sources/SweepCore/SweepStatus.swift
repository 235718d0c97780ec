import Foundation
import Vocabulary

/// Where a sweep stands: trials per state, attempts, workers, throughput, ETA and epochs trained
/// against the budget (`sweep status`; the JSON contract is in docs/cli.md).
public struct SweepStatus: Sendable, Encodable {
    public var sweep: String
    public var metric: String
    /// State → count, every state present.
    public var trials: [TrialState: Int]
    /// Attempts started.
    public var attempts: Int
    public var workers: [WorkerSnapshot]
    /// Results per hour over the last hour of results (nil with fewer than two).
    public var trialsPerHour: Double?
    /// Time left at that pace (nil when unknown or nothing is left).
    public var etaSeconds: Double?
    public var epochs: EpochTotals

    /// Trials not yet proposed by an adaptive sampler (TPE's `count` × `repeats` less those it has added).
    public var notYetProposed: Int

    /// Trials still to run: waiting, running, or still to be proposed.
    public var left: Int { trials[.waiting, default: 0] + trials[.running, default: 0] + notYetProposed }

    /// The trials an adaptive sweep will add in all (its sampler's config budget × `repeats`);
    /// nil for a planned sweep (every trial is stored at launch).
    public static func adaptiveTrials(_ spec: SweepSpec) -> Int? {
        SearchSpace(spec: spec).sampler.configBudget.map { $0 * spec.repeats }
    }

    /// Reads the status from a store, its trials and sweep file through `source`.
    public static func read(_ source: some SweepSource, now: Date = Date()) throws -> SweepStatus {
        let store = source.store
        guard let sweep = try store.sweep() else { throw StoreError(message: "\(store.path) holds no sweep yet") }
        let counts = try store.stateCounts()
        // Throughput over the last hour of results; ETA for what is left at that pace.
        let recent = try store.resultTimes().filter { $0 > now.addingTimeInterval(-3600) }
        let perHour = recent.count >= 2 ? Double(recent.count - 1) / max(recent.last!.timeIntervalSince(recent.first!), 1) * 3600 : nil
        let present = counts.filter { $0.key != .retired }.values.reduce(0, +)
        let notYetProposed = (try? source.spec(of: sweep)).flatMap(adaptiveTrials).map { max(0, $0 - present) } ?? 0
        let left = counts[.waiting, default: 0] + counts[.running, default: 0] + notYetProposed
        return SweepStatus(
            sweep: sweep.name, metric: sweep.metric, trials: counts, attempts: try store.attemptCount(),
            workers: try store.workers(),
            trialsPerHour: perHour, etaSeconds: left > 0 ? perHour.map { Double(left) / $0 * 3600 } : nil,
            epochs: try store.epochTotals(of: source.trials()),
            notYetProposed: notYetProposed)
    }

    enum CodingKeys: String, CodingKey {
        case sweep, trials, attempts, workers, trialsPerHour = "trials_per_hour", etaSeconds = "eta_seconds", epochs
        case notYetProposed = "not_yet_proposed"
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(sweep, forKey: .sweep)
        try container.encode(Dictionary(uniqueKeysWithValues: trials.map { ($0.key.rawValue, $0.value) }), forKey: .trials)
        try container.encode(attempts, forKey: .attempts)
        try container.encode(workers, forKey: .workers)
        try container.encode(trialsPerHour, forKey: .trialsPerHour)  // null when unknown
        try container.encode(etaSeconds, forKey: .etaSeconds)
        try container.encode(epochs, forKey: .epochs)
        try container.encode(notYetProposed, forKey: .notYetProposed)
    }

    /// The lines `sweep status` prints.
    public var text: String {
        var lines = [
            "\(sweep): \(trials.filter { $0.key != .retired }.values.reduce(0, +)) trials"
                + (notYetProposed > 0 ? " (\(notYetProposed) more to be proposed)" : "") + ", ranked by valid_\(metric)"
        ]
        lines.append(
            TrialState.allCases.filter { trials[$0, default: 0] > 0 }.map { "\($0.rawValue) \(trials[$0]!)" }.joined(separator: "  "))
        lines.append(
            "attempts \(attempts)" + (trialsPerHour.map { String(format: "  %.1f trials/hour", $0) } ?? "")
                + (etaSeconds.map { "  ETA " + LeaderboardReport.duration($0) } ?? ""))
        if epochs.budget > 0 {
            lines.append(
                "epochs trained \(epochs.trained) of \(epochs.budget) budgeted"
                    + (epochs.saved > 0 ? ", \(epochs.saved) saved by early stopping" : ""))
        }
        let formatter = ISO8601DateFormatter()
        for worker in workers {
            lines.append(
                "worker \(worker.name) (\(worker.host)): \(worker.state.rawValue), \(worker.trialsCompleted) completed, last seen \(formatter.string(from: worker.lastSeen))"
            )
        }
        return lines.joined(separator: "\n")
    }
}
