import Crypto
import Foundation
import Vocabulary

/// A sweep file's `early_stopping`: which rule stops hopeless trials, judged on which metric.
public struct EarlyStopping: Sendable, Equatable {
    public enum Rule: Sendable, Equatable {
        /// Asynchronous successive halving: rungs at `minEpochs·η^k` epochs below the budget.
        case asha(minEpochs: Int, reductionFactor: Int)
        /// Several ASHA brackets with first rungs `minEpochs·η^b`; a config's bracket is fixed by its id.
        case hyperband(minEpochs: Int, reductionFactor: Int)
        /// Stop when the best value so far is below the median of the other trials at that epoch.
        case median(warmupEpochs: Int, minTrials: Int)
    }

    public var rule: Rule
    /// What is judged on valid: the sweep's objectives (several for MOASHA), unless the file
    /// names one metric of its own.
    public var objectives: [Objective]

    public init(rule: Rule, objectives: [Objective]) {
        self.rule = rule
        self.objectives = objectives
    }

    /// How listings name what is judged: `valid_ndcg@10 (maximize)`, joined for several.
    public var judged: String { objectives.map(\.description).joined(separator: ", ") }

    /// The pruner of this rule for a sweep whose largest trial budget is `maxEpochs`.
    public func pruner(maxEpochs: Int) -> any Pruner {
        switch rule {
        case .asha(let minimum, let factor): SuccessiveHalvingPruner(minEpochs: minimum, reductionFactor: factor, objectives: objectives)
        case .hyperband(let minimum, let factor):
            HyperbandPruner(minEpochs: minimum, reductionFactor: factor, maxEpochs: maxEpochs, objectives: objectives)
        case .median(let warmup, let minimum): MedianPruner(warmupEpochs: warmup, minTrials: minimum, objective: objectives[0])
        }
    }
}

/// Decides at checkpoint epochs whether a trial goes on. The values judged are each objective's best
/// so far on valid (a noisy epoch never decides alone); the values compared are those other trials
/// of the same bracket and the same repeat seed recorded at that checkpoint, in any state but
/// retired. Pure: the controller reads and writes the records, so every process makes the same
/// decision.
public protocol Pruner: Sendable {
    /// What the rule is, for logs and `sweep show`.
    var summary: String { get }
    /// The epochs at which a trial with `budget` epochs in `bracket` is judged, ascending, all below
    /// the budget (a trial that reaches its budget has finished).
    func checkpoints(budget: Int, bracket: Int) -> [Int]
    /// The bracket of a config (its key: the canonical config without its seed).
    func bracket(ofConfig key: String) -> Int
    /// The decision at checkpoint `epoch` and why, given the trial's values (one per judged
    /// objective, as the metrics read) and the others'.
    func decide(epoch: Int, bracket: Int, values: [Double], others: [[Double]]) -> (Judgement.Decision, String)
}

/// Asynchronous successive halving, stop-based as in Optuna and Ray Tune: rung k is at
/// `minEpochs·η^(s+k)` epochs (s is the bracket's early-stopping rate, 0 outside Hyperband). A trial
/// reaching a rung goes on only if its value is among the top ⌊n/η⌋ of the n values recorded at
/// that rung so far, its own included (ties with the cut go on); with fewer than η values it goes on.
/// With several objectives (MOASHA, Schmucker et al. 2021) the n value vectors are ranked as
/// NSGA-II ranks them, Syne Tune's `nsga2` priority: by non-dominated front, then by crowding
/// distance within the front (``Pareto/rank(_:)``); the trial goes on if it ranks in the top ⌊n/η⌋,
/// or shares the front and crowding distance of the last kept.
public struct SuccessiveHalvingPruner: Pruner {
    public let minEpochs: Int
    public let reductionFactor: Int
    /// The bracket's first rung is `minEpochs·η^minEarlyStoppingRate`.
    public let minEarlyStoppingRate: Int
    public let objectives: [Objective]

    public init(minEpochs: Int, reductionFactor: Int, minEarlyStoppingRate: Int = 0, objectives: [Objective]) {
        precondition(minEpochs >= 1 && reductionFactor >= 2 && minEarlyStoppingRate >= 0 && !objectives.isEmpty)
        self.minEpochs = minEpochs
        self.reductionFactor = reductionFactor
        self.minEarlyStoppingRate = minEarlyStoppingRate
        self.objectives = objectives
    }

    public var summary: String { "asha (min_epochs \(minEpochs), reduction_factor \(reductionFactor))" }

    public func checkpoints(budget: Int, bracket: Int) -> [Int] {
        Self.rungs(minEpochs: minEpochs, factor: reductionFactor, rate: minEarlyStoppingRate, budget: budget)
    }

    static func rungs(minEpochs: Int, factor: Int, rate: Int, budget: Int) -> [Int] {
        var epoch = minEpochs
        for _ in 0..<rate { epoch *= factor }
        var rungs: [Int] = []
        while epoch < budget {
            rungs.append(epoch)
            epoch *= factor
        }
        return rungs
    }

    public func bracket(ofConfig key: String) -> Int { 0 }

    public func decide(epoch: Int, bracket: Int, values: [Double], others: [[Double]]) -> (Judgement.Decision, String) {
        Self.decide(
            label: "asha", epoch: epoch, rung: checkpoints(budget: epoch + 1, bracket: bracket).count - 1,
            factor: reductionFactor, objectives: objectives, values: values, others: others)
    }

    static func decide(label: String, epoch: Int, rung: Int, factor: Int, objectives: [Objective], values: [Double], others: [[Double]])
        -> (Judgement.Decision, String)
    {
        let all = others + [values], n = all.count
        let head = "\(label) rung \(rung) (epoch \(epoch), η \(factor)): \(format(values))"
        guard n >= factor else { return (.continue, "\(head) goes on: \(n) value\(n == 1 ? "" : "s") recorded, fewer than η") }
        let kept = n / factor
        let scores = all.map { point in zip(objectives, point).map { $0.score($1) } }
        guard objectives.count > 1 else {
            let cutScore = scores.map { $0[0] }.sorted(by: >)[kept - 1], cut = objectives[0].score(cutScore)
            return scores[n - 1][0] >= cutScore
                ? (.continue, "\(head) is in the top \(kept) of \(n) (cut \(format(cut)))")
                : (.stop, "\(head) is below the top \(kept) of \(n) (cut \(format(cut)))")
        }
        let (fronts, order) = Pareto.rank(scores)
        let position = order.firstIndex(of: n - 1)!, last = order[kept - 1]
        let tiesCut =
            fronts[n - 1] == fronts[last] && crowdingWithinFront(scores, fronts, n - 1) == crowdingWithinFront(scores, fronts, last)
        let standing = "front \(fronts[n - 1]), place \(position + 1) of \(n)"
        return position < kept || tiesCut
            ? (.continue, "\(head) is in the top \(kept) of \(n) by non-dominated sorting (\(standing))")
            : (.stop, "\(head) is below the top \(kept) of \(n) by non-dominated sorting (\(standing))")
    }

    /// A point's crowding distance among the points of its front.
    static func crowdingWithinFront(_ scores: [[Double]], _ fronts: [Int], _ index: Int) -> Double {
        let members = scores.indices.filter { fronts[$0] == fronts[index] }
        return Pareto.crowding(members.map { scores[$0] })[members.firstIndex(of: index)!]
    }
}

/// Hyperband as several successive-halving brackets, as Optuna's `HyperbandPruner` builds them:
/// ⌊log_η(max/min)⌋ + 1 brackets, bracket b's first rung at `minEpochs·η^b`, and a config's bracket
/// drawn from a hash of its id with Optuna's weights (brackets that stop early get more configs).
/// The bracket is fixed by the config, so every seed of a config and every process agree on it.
public struct HyperbandPruner: Pruner {
    public let minEpochs: Int
    public let reductionFactor: Int
    public let maxEpochs: Int
    public let objectives: [Objective]
    /// Each bracket's share of configs, as Optuna allots them.
    let budgets: [Int]

    public init(minEpochs: Int, reductionFactor: Int, maxEpochs: Int, objectives: [Objective]) {
        precondition(minEpochs >= 1 && reductionFactor >= 2 && maxEpochs > minEpochs && !objectives.isEmpty)
        self.minEpochs = minEpochs
        self.reductionFactor = reductionFactor
        self.maxEpochs = maxEpochs
        self.objectives = objectives
        var brackets = 0, resource = minEpochs
        while resource <= maxEpochs {
            brackets += 1
            resource *= reductionFactor
        }
        budgets = (0..<brackets).map { bracket in
            let s = brackets - 1 - bracket
            var power = 1
            for _ in 0..<s { power *= reductionFactor }
            return (brackets * power + s) / (s + 1)  // ⌈brackets·η^s / (s + 1)⌉
        }
    }

    public var brackets: Int { budgets.count }

    public var summary: String {
        "hyperband (min_epochs \(minEpochs), reduction_factor \(reductionFactor), \(brackets) brackets up to \(maxEpochs) epochs)"
    }

    public func checkpoints(budget: Int, bracket: Int) -> [Int] {
        SuccessiveHalvingPruner.rungs(minEpochs: minEpochs, factor: reductionFactor, rate: bracket, budget: budget)
    }

    public func bracket(ofConfig key: String) -> Int {
        let digest = Array(SHA256.hash(data: Array(key.utf8)))
        let hash = digest.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        var n = Int(hash % UInt64(budgets.reduce(0, +)))
        for (bracket, budget) in budgets.enumerated() {
            n -= budget
            if n < 0 { return bracket }
        }
        return budgets.count - 1
    }

    public func decide(epoch: Int, bracket: Int, values: [Double], others: [[Double]]) -> (Judgement.Decision, String) {
        let rung = checkpoints(budget: epoch + 1, bracket: bracket).count - 1
        return SuccessiveHalvingPruner.decide(
            label: "hyperband bracket \(bracket)", epoch: epoch, rung: rung,
            factor: reductionFactor, objectives: objectives, values: values, others: others)
    }
}

/// Median stopping: after `warmupEpochs`, a trial whose best value so far is worse than the median
/// of the values other trials recorded at the same epoch stops, once at least `minTrials` have.
/// One objective only: several have no median (the sweep file refuses it).
public struct MedianPruner: Pruner {
    public let warmupEpochs: Int
    public let minTrials: Int
    public let objective: Objective

    public init(warmupEpochs: Int, minTrials: Int, objective: Objective) {
        precondition(warmupEpochs >= 0 && minTrials >= 1)
        self.warmupEpochs = warmupEpochs
        self.minTrials = minTrials
        self.objective = objective
    }

    public var summary: String { "median (warmup_epochs \(warmupEpochs), min_trials \(minTrials))" }

    public func checkpoints(budget: Int, bracket: Int) -> [Int] {
        warmupEpochs + 1 < budget ? Array((warmupEpochs + 1)..<budget) : []
    }

    public func bracket(ofConfig key: String) -> Int { 0 }

    public func decide(epoch: Int, bracket: Int, values: [Double], others: [[Double]]) -> (Judgement.Decision, String) {
        let value = values[0], others = others.map { $0[0] }
        let head = "median (epoch \(epoch)): \(format(value))"
        guard others.count >= minTrials else {
            return (
                .continue,
                "\(head) goes on: \(others.count) other trial\(others.count == 1 ? "" : "s") reported here, fewer than min_trials \(minTrials)"
            )
        }
        let middle = median(others)  // numpy's percentile(…, 50)
        let side = objective.goal == .maximize ? "below" : "above"
        return objective.score(value) < objective.score(middle)
            ? (.stop, "\(head) is \(side) the median \(format(middle)) of \(others.count) other trials")
            : (.continue, "\(head) is not \(side) the median \(format(middle)) of \(others.count) other trials")
    }
}

/// Metric values as the judgements show them.
func format(_ value: Double) -> String { String(format: "%.4f", value) }

/// Several objectives' values as a judgement shows them: `0.1210` for one, `(0.1210, 0.0310)` for more.
func format(_ values: [Double]) -> String {
    values.count == 1 ? format(values[0]) : "(" + values.map(format).joined(separator: ", ") + ")"
}
