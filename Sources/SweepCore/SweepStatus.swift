import Foundation
import Vocabulary

/// Where a sweep stands: trials per state, attempts, workers, throughput, ETA and epochs trained
/// against the budget (`sweep status`; the JSON contract is in docs/cli.md).
public struct SweepStatus: Sendable, Encodable {
    public var sweep: String
    public var ranking: Ranking
    /// The best feasible completed trial's number and primary value (one objective), or nil.
    public var best: (number: Int, value: Double)?
    /// The front's hypervolume (several objectives), or nil.
    public var hypervolume: Double?
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
    /// The sweep file's budget and how much of it is used, when it sets one.
    public var budget: (limits: Budget, usage: BudgetUsage)?
    /// Failed trials after which no trial starts.
    public var failureLimit: Int
    /// Why no more trials start though some wait (a budget reached, too many failures), or nil.
    public var halt: SweepHalt?

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
        let spec = try? source.spec(of: sweep)
        let notYetProposed = spec.flatMap(adaptiveTrials).map { max(0, $0 - present) } ?? 0
        let left = counts[.waiting, default: 0] + counts[.running, default: 0] + notYetProposed
        let trials = try source.trials()
        // The controller's base: an adaptive sweep's trials in all, else its plan (enqueued trials,
        // which have an origin, and retired ones left out).
        let planned = trials.filter { $0.origin == nil && $0.state != .retired }.count
        let failureLimit = spec.map { $0.failureLimit(trials: adaptiveTrials($0) ?? planned) } ?? .max
        let (halt, usage) = try store.database.read { db in try SweepHalt.find(db, budget: spec?.budget, failureLimit: failureLimit) }
        let best = sweep.ranking.isMultiObjective ? nil : Leaderboard.rank(trials, ranking: sweep.ranking, top: 1).first
        return SweepStatus(
            sweep: sweep.name, ranking: sweep.ranking, best: best.map { ($0.trial.number, $0.value) },
            hypervolume: sweep.ranking.isMultiObjective ? Leaderboard.hypervolume(trials, ranking: sweep.ranking) : nil,
            trials: counts, attempts: try store.attemptCount(),
            workers: try store.workers(),
            trialsPerHour: perHour, etaSeconds: left > 0 ? perHour.map { Double(left) / $0 * 3600 } : nil,
            epochs: try store.epochTotals(of: trials),
            notYetProposed: notYetProposed, budget: spec?.budget.flatMap { limits in usage.map { (limits, $0) } },
            failureLimit: failureLimit, halt: halt)
    }

    enum CodingKeys: String, CodingKey {
        case sweep, trials, attempts, workers, trialsPerHour = "trials_per_hour", etaSeconds = "eta_seconds", epochs
        case notYetProposed = "not_yet_proposed", objectives, best, hypervolume, budget, failureLimit = "max_failed_trials", halted
    }

    /// `budget` in the document: each limit the file sets, what is used, and which was reached.
    struct BudgetDocument: Encodable {
        var limits: [String: Double]
        var used: BudgetUsage
        var reached: Budget.Kind?
        var onReach: String

        enum CodingKeys: String, CodingKey { case limits, used, reached, onReach = "on_reach" }
    }

    /// `best` in the document: `{trial, value}`.
    struct Best: Encodable {
        var trial: Int
        var value: Double
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
        try container.encode(ranking.objectives, forKey: .objectives)
        try container.encode(best.map { Best(trial: $0.number, value: $0.value) }, forKey: .best)  // null without one
        try container.encode(hypervolume, forKey: .hypervolume)  // null with one objective
        try container.encode(failureLimit, forKey: .failureLimit)
        try container.encode(halt?.description, forKey: .halted)  // null while trials may start
        let document = budget.map { limits, usage in
            var numbers: [String: Double] = [:]
            numbers["hours"] = limits.hours
            numbers["trials"] = limits.trials.map(Double.init)
            numbers["epochs"] = limits.epochs.map(Double.init)
            numbers["target"] = limits.target?.value
            return BudgetDocument(limits: numbers, used: usage, reached: limits.reached(usage), onReach: limits.onReach.rawValue)
        }
        try container.encode(document, forKey: .budget)  // null without a budget
    }

    /// What the sweep ranks by, in words: `valid_ndcg@10`, `valid_loss (minimize)`, or the objectives.
    public var rankedBy: String { Self.rankedBy(ranking) }

    /// The same for any ranking (`plan` says it before a sweep has a status).
    public static func rankedBy(_ ranking: Ranking) -> String {
        ranking.isMultiObjective
            ? "objectives " + ranking.objectives.map(\.description).joined(separator: ", ")
            : "valid_\(ranking.primary.metric)" + (ranking.primary.goal == .minimize ? " (minimize)" : "")
    }

    /// The lines `sweep status` prints.
    public var text: String {
        var lines = [
            "\(sweep): \(trials.filter { $0.key != .retired }.values.reduce(0, +)) trials"
                + (notYetProposed > 0 ? " (\(notYetProposed) more to be proposed)" : "") + ", ranked by \(rankedBy)"
        ]
        if let best { lines.append("best: #\(best.number) valid_\(ranking.primary.metric) " + String(format: "%.4f", best.value)) }
        if let hypervolume { lines.append("hypervolume of the front: " + String(format: "%.6g", hypervolume)) }
        if let (limits, usage) = budget {
            let reached = limits.reached(usage)
            lines.append(
                "budget: " + limits.usageLines(usage).map { $0.text + ($0.kind == reached ? " (reached)" : "") }.joined(separator: ", ")
                    + (limits.onReach == .cancel ? "; running trials are cancelled once one is reached" : ""))
        }
        if let halt { lines.append("halted: \(halt)") }
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
                "worker \(worker.name) (\(worker.host)): \(worker.state.rawValue), \(worker.slotsText), \(worker.trialsCompleted) completed, last seen \(formatter.string(from: worker.lastSeen))"
            )
        }
        return lines.joined(separator: "\n")
    }
}
