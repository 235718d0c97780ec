import Foundation
import GRDB
import Vocabulary
import Yams

/// `limits:` in a sweep file: how long one attempt may run. An attempt past either limit is
/// stopped and ends `timed_out`; the trial then gets `retries` more attempts before it fails.
public struct TimeLimits: Sendable, Equatable {
    /// Seconds one attempt may take from its start.
    public var trial: TimeInterval?
    /// Seconds one epoch may take: from the attempt's start to its first epoch report, and
    /// between reports. A program that hangs while its worker heart-beats is caught by this.
    public var epoch: TimeInterval?
    /// Attempts after a timed-out one before the trial fails.
    public var retries = 1

    public init(trial: TimeInterval? = nil, epoch: TimeInterval? = nil, retries: Int = 1) {
        self.trial = trial
        self.epoch = epoch
        self.retries = retries
    }

    /// Attempts a trial may make when each times out.
    public var maxAttempts: Int { retries + 1 }

    /// Why an attempt that started at `started`, whose last epoch report came at `lastEpoch` (nil:
    /// none yet) after `epochsReported` epochs, must stop at `now`; nil while it is within both limits.
    public func exceeded(started: Date, lastEpoch: Date?, epochsReported: Int, now: Date) -> String? {
        if let trial, now.timeIntervalSince(started) > trial {
            return "timed out: the attempt ran past the trial limit of \(Self.text(trial))"
        }
        if let epoch, now.timeIntervalSince(lastEpoch ?? started) > epoch {
            return "timed out: epoch \(epochsReported + 1) ran past the epoch limit of \(Self.text(epoch))"
        }
        return nil
    }

    /// A duration as the sweep file writes it: `2h`, `20m`, `1h30m`, `45s`, `1.5s`.
    public static func text(_ seconds: TimeInterval) -> String {
        guard seconds.rounded() == seconds else { return "\(seconds)s" }
        var left = Int(seconds), parts = ""
        for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60)] where left >= size {
            parts += "\(left / size)\(unit)"
            left %= size
        }
        return left > 0 || parts.isEmpty ? parts + "\(left)s" : parts
    }

    /// Reads `2h`, `20m`, `1h30m`, `90s`, `1.5h`, `2d` or a plain number of seconds; nil otherwise.
    public static func seconds(_ text: String) -> TimeInterval? {
        if let plain = Double(text) { return plain > 0 && plain.isFinite ? plain : nil }
        let units: [Character: Double] = ["d": 86_400, "h": 3600, "m": 60, "s": 1]
        var total = 0.0, number = ""
        for character in text {
            if let unit = units[character] {
                guard let value = Double(number), value >= 0 else { return nil }
                total += value * unit
                number = ""
            } else if character.isNumber || character == "." {
                number.append(character)
            } else {
                return nil
            }
        }
        return number.isEmpty && total > 0 && total.isFinite ? total : nil
    }
}

/// What ends a sweep early: `budget: {hours, trials, epochs, target, on_reach}`. Once one is
/// reached no trial starts; running ones finish, or are cancelled with `on_reach: cancel`.
public struct Budget: Sendable, Equatable {
    /// Hours during which at least one attempt of the sweep ran (idle time between launches is
    /// not counted, so a relaunch goes on from what was used).
    public var hours: Double?
    /// Trials started.
    public var trials: Int?
    /// Epochs trained, over every attempt.
    public var epochs: Int?
    /// A value of one objective on valid that, once a finished trial reaches it, is enough.
    public var target: Target?
    public var onReach = OnReach.finish

    /// An objective's value that ends the sweep.
    public struct Target: Sendable, Equatable {
        public var objective: Objective
        public var value: Double

        public init(objective: Objective, value: Double) {
            self.objective = objective
            self.value = value
        }
    }

    /// What happens to running trials once a budget is reached.
    public enum OnReach: String, Sendable, CaseIterable {
        /// They run to their end; no new trial starts.
        case finish
        /// They are cancelled at once.
        case cancel
    }

    /// Which budget: a status names the one that ended the sweep.
    public enum Kind: String, Sendable, CaseIterable, Codable {
        case hours, trials, epochs, target
    }

    public init(hours: Double? = nil, trials: Int? = nil, epochs: Int? = nil, target: Target? = nil, onReach: OnReach = .finish) {
        self.hours = hours
        self.trials = trials
        self.epochs = epochs
        self.target = target
        self.onReach = onReach
    }

    /// The first budget `usage` has reached (in the order hours, trials, epochs, target), or nil.
    public func reached(_ usage: BudgetUsage) -> Kind? {
        Kind.allCases.first { kind in
            switch kind {
            case .hours: hours.map { usage.hours >= $0 } ?? false
            case .trials: trials.map { usage.trials >= $0 } ?? false
            case .epochs: epochs.map { usage.epochs >= $0 } ?? false
            case .target:
                target.map { target in usage.best.map { target.objective.score($0) >= target.objective.score(target.value) } ?? false }
                    ?? false
            }
        }
    }

    /// Each budget the file sets, with how much of it is used: `trials 5/5`, `hours 0.21/8`,
    /// `target valid_ndcg@10 0.1532/0.15`.
    public func usageLines(_ usage: BudgetUsage) -> [(kind: Kind, text: String)] {
        Kind.allCases.compactMap { kind in
            switch kind {
            case .hours: hours.map { (kind, "hours \(Self.figure(usage.hours))/\(Self.figure($0))") }
            case .trials: trials.map { (kind, "trials \(usage.trials)/\($0)") }
            case .epochs: epochs.map { (kind, "epochs \(usage.epochs)/\($0)") }
            case .target:
                target.map {
                    (kind, "target valid_\($0.objective.metric) \(usage.best.map { Self.figure($0) } ?? "none")/\(Self.figure($0.value))")
                }
            }
        }
    }

    private static func figure(_ value: Double) -> String {
        value.rounded() == value && abs(value) < 1e15 ? String(Int(value)) : String(format: "%.4g", value)
    }
}

/// How much of its budget a sweep has used, read from its store.
public struct BudgetUsage: Sendable, Equatable, Encodable {
    /// Hours during which at least one attempt ran.
    public var hours: Double
    /// Trials with at least one attempt.
    public var trials: Int
    /// Epoch records stored, over every attempt.
    public var epochs: Int
    /// The best value of the budget's target objective among completed and pruned trials.
    public var best: Double?

    public init(hours: Double, trials: Int, epochs: Int, best: Double?) {
        self.hours = hours
        self.trials = trials
        self.epochs = epochs
        self.best = best
    }
}

/// Why a sweep stopped handing out trials before its plan was done.
public enum SweepHalt: Sendable, Equatable, CustomStringConvertible {
    /// A budget of the sweep file was reached.
    case budget(Budget.Kind, usage: String)
    /// `max_failed_trials` trials failed; the last failure's reason (with a program's stderr tail).
    case failures(count: Int, limit: Int, lastReason: String)

    public var description: String {
        switch self {
        case .budget(let kind, let usage): "the \(kind.rawValue) budget is reached (\(usage))"
        case .failures(let count, let limit, let reason):
            "\(count) trials failed (max_failed_trials: \(limit)); the last failure: \(reason)"
        }
    }

    /// Whether the sweep ended as its file asked (a budget) rather than by failing.
    public var isFailure: Bool {
        switch self {
        case .budget: false
        case .failures: true
        }
    }
}

extension SweepHalt {
    /// Whether a sweep is halted, read from its store: `failureLimit` trials failed, or a budget of
    /// `budget` is reached; with the budget's usage when it has one. The one rule the controller
    /// (which starts nothing once halted) and `sweep status` share.
    static func find(_ db: Database, budget: Budget?, failureLimit: Int) throws -> (halt: SweepHalt?, usage: BudgetUsage?) {
        let usage = try budget.map { try SweepStore.budgetUsage(db, target: $0.target?.objective) }
        let failures = try SweepStore.failures(db)
        if failures.count >= failureLimit {
            return (.failures(count: failures.count, limit: failureLimit, lastReason: failures.lastReason ?? "no reason recorded"), usage)
        }
        guard let budget, let usage, let kind = budget.reached(usage),
            let line = budget.usageLines(usage).first(where: { $0.kind == kind })
        else { return (nil, usage) }
        return (.budget(kind, usage: line.text), usage)
    }
}

extension SweepSpec {
    /// Failed trials after which no trial starts: `max_failed_trials`, else a fifth of the sweep's
    /// `trials`, at least 5.
    public func failureLimit(trials: Int) -> Int { maxFailedTrials ?? max(5, (trials + 4) / 5) }
}

extension SpecParser {
    /// A duration: `2h`, `20m`, `1h30m`, `90s`, or a number of seconds.
    mutating func duration(_ node: Node, _ path: String) -> TimeInterval? {
        let text: String? =
            switch scalar(node, path) {
            case .string(let value)?: value
            case .int(let value)?: String(value)
            case .double(let value)?: String(value)
            case .bool?, nil: nil
            }
        if let text, let seconds = TimeLimits.seconds(text) { return seconds }
        issue(path, node, "must be a duration such as 90s, 20m, 2h or 1h30m")
        return nil
    }

    /// `limits: {trial: 2h, epoch: 20m, retries: 1}`.
    mutating func parseLimits(_ node: Node) -> TimeLimits {
        var limits = TimeLimits()
        for (key, value) in pairs(node, "limits") ?? [] {
            switch key {
            case "trial": limits.trial = duration(value, "limits.trial")
            case "epoch": limits.epoch = duration(value, "limits.epoch")
            case "retries": if let count = integer(value, "limits.retries", minimum: 0) { limits.retries = count }
            default: issue("limits.\(key)", value, "unknown key; expected trial, epoch, retries")
            }
        }
        return limits
    }

    /// `budget: {hours, trials, epochs, target, on_reach}`; `target` is a value of the sweep's one
    /// objective, or `{metric: valid_…, value: x}` naming one of its objectives.
    mutating func parseBudget(_ node: Node, ranking: Ranking?) -> Budget? {
        guard let entries = pairs(node, "budget") else { return nil }
        var budget = Budget()
        for (key, value) in entries {
            let path = "budget.\(key)"
            switch key {
            case "hours":
                if let hours = number(value, path, parent: node) {
                    if hours > 0 { budget.hours = hours } else { issue(path, value, "must be > 0") }
                }
            case "trials": budget.trials = integer(value, path, minimum: 1)
            case "epochs": budget.epochs = integer(value, path, minimum: 1)
            case "target": budget.target = parseTarget(value, ranking: ranking)
            case "on_reach": budget.onReach = choice(value, path, "must be finish or cancel") ?? .finish
            default: issue(path, value, "unknown key; expected hours, trials, epochs, target, on_reach")
            }
        }
        if !entries.contains(where: { ["hours", "trials", "epochs", "target"].contains($0.0) }) {
            issue("budget", node, "needs hours, trials, epochs or target")
        }
        return budget
    }

    private mutating func parseTarget(_ node: Node, ranking: Ranking?) -> Budget.Target? {
        if case .scalar = node {
            guard let value = number(node, "budget.target", parent: node), let ranking else { return nil }
            guard !ranking.isMultiObjective else {
                issue("budget.target", node, "with several objectives, say which: {metric: valid_…, value: \(value)}")
                return nil
            }
            return Budget.Target(objective: ranking.primary, value: value)
        }
        guard let fields = pairs(node, "budget.target") else { return nil }
        var metric: String?, value: Double?
        for (key, field) in fields {
            switch key {
            case "metric": metric = metricName(field, "budget.target.metric")
            case "value": value = number(field, "budget.target.value", parent: node)
            default: issue("budget.target.\(key)", field, "unknown key; expected metric, value")
            }
        }
        for key in ["metric", "value"] where !fields.contains(where: { $0.0 == key }) { issue("budget.target.\(key)", node, "is required") }
        guard let metric, let value, let ranking else { return nil }
        guard let index = ranking.objectiveIndex(named: metric) else {
            issue(
                "budget.target.metric", node,
                "valid_\(metric) is not an objective of this sweep (\(ranking.objectiveNames)): a target is a value of what the sweep optimises"
            )
            return nil
        }
        return Budget.Target(objective: ranking.objectives[index], value: value)
    }
}
