import Vocabulary

/// A bound on a metric on valid: a trial outside it is infeasible, ranked after every feasible one.
public struct OutcomeConstraint: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The metric's bare name (`coverage@10`).
    public var metric: String
    public var min: Double?
    public var max: Double?

    public init(metric: String, min: Double? = nil, max: Double? = nil) {
        self.metric = metric
        self.min = min
        self.max = max
    }

    /// How far `value` lies outside the bounds (0 inside); a missing value violates by +∞.
    public func violation(_ value: Double?) -> Double { Swift.max(0, margin(value)) }

    /// The signed distance to the nearer bound: positive outside (the violation), negative inside
    /// by the slack left (0 without bounds); +∞ for a missing value. What the GP models.
    public func margin(_ value: Double?) -> Double {
        guard let value, value.isFinite else { return .infinity }
        return [min.map { $0 - value }, max.map { value - $0 }].compactMap { $0 }.max() ?? 0
    }

    /// `valid_coverage@10 ≥ 0.05`, `0.1 ≤ valid_x ≤ 0.2`.
    public var description: String {
        switch (min, max) {
        case let (low?, high?): "\(low) ≤ valid_\(metric) ≤ \(high)"
        case let (low?, nil): "valid_\(metric) ≥ \(low)"
        case let (nil, high?): "valid_\(metric) ≤ \(high)"
        case (nil, nil): "valid_\(metric) (unbounded)"
        }
    }
}

/// What a sweep ranks by: one objective (`metric:`) or 2 to 4 (`objectives:`), the outcome
/// constraints, and the hypervolume's reference point. The sweep file says it; the store keeps it
/// beside the file; the leaderboard, pruners, samplers and pages all read it from here.
public struct Ranking: Sendable, Hashable, Codable {
    public var objectives: [Objective]
    public var constraints: [OutcomeConstraint]
    /// The hypervolume's reference point, one value per objective, when the file gives one.
    public var reference: [Double]?

    public init(objectives: [Objective], constraints: [OutcomeConstraint] = [], reference: [Double]? = nil) {
        precondition(!objectives.isEmpty)
        self.objectives = objectives
        self.constraints = constraints
        self.reference = reference
    }

    /// One objective, maximized, no constraints: every sweep before objectives existed.
    public init(metric: String) { self.init(objectives: [Objective(metric: metric)]) }

    /// The objective a trial selects its best epoch by: the only one, or the first of several.
    public var primary: Objective { objectives[0] }

    public var isMultiObjective: Bool { objectives.count > 1 }

    /// The position of the objective a user names, as `valid_ndcg@10` or `ndcg@10`; nil for none.
    public func objectiveIndex(named name: String) -> Int? {
        let bare = name.hasPrefix("valid_") ? String(name.dropFirst("valid_".count)) : name
        return objectives.firstIndex { $0.metric == bare }
    }

    /// The objectives as a user names them, for messages: `valid_ndcg@10, valid_coverage@10`.
    public var objectiveNames: String { objectives.map { "valid_\($0.metric)" }.joined(separator: ", ") }

    /// Each objective's score (higher is better) in `valid`, nil when one is missing or not finite.
    public func scores(_ valid: [String: Double]) -> [Double]? {
        var scores: [Double] = []
        scores.reserveCapacity(objectives.count)
        for objective in objectives {
            guard let value = valid[objective.metric], value.isFinite else { return nil }
            scores.append(objective.score(value))
        }
        return scores
    }

    /// The sum of every constraint's violation in `valid` (0: feasible).
    public func violation(_ valid: [String: Double]) -> Double {
        constraints.reduce(0) { $0 + $1.violation(valid[$1.metric]) }
    }

    /// Each constraint's margin in `valid` (``OutcomeConstraint/margin(_:)``).
    public func margins(_ valid: [String: Double]) -> [Double] { constraints.map { $0.margin(valid[$0.metric]) } }

    /// The reference point as scores: the file's, else the worst value each built-in metric can
    /// take (0 for a maximized one, 1 for a minimized one: every metric of the trainer lies in
    /// [0, 1]), else, for a program's metric, the worst score among `observed`.
    public func referenceScores(observed: [[Double]]) -> [Double] {
        objectives.indices.map { index in
            let objective = objectives[index]
            if let reference { return objective.score(reference[index]) }
            if RankingMetrics.names.contains(objective.metric) { return objective.score(objective.goal == .maximize ? 0 : 1) }
            return observed.map { $0[index] }.min() ?? 0
        }
    }

    enum CodingKeys: String, CodingKey { case objectives, constraints, reference }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let objectives = try container.decode([Objective].self, forKey: .objectives)
        guard !objectives.isEmpty else {
            throw DecodingError.dataCorruptedError(forKey: .objectives, in: container, debugDescription: "no objective")
        }
        self.init(
            objectives: objectives, constraints: try container.decode([OutcomeConstraint].self, forKey: .constraints),
            reference: try container.decodeIfPresent([Double].self, forKey: .reference))
    }
}
