/// Which way a metric is better.
public enum Goal: String, Sendable, Hashable, Codable, CaseIterable {
    case maximize, minimize
}

/// A metric on valid and the way it is better: what a sweep ranks, prunes and proposes by, and
/// what a trial selects its best epoch by.
public struct Objective: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The metric's bare name, e.g. `ndcg@10` (the trainer's) or a program's own key.
    public var metric: String
    public var goal: Goal

    public init(metric: String, goal: Goal = .maximize) {
        self.metric = metric
        self.goal = goal
    }

    /// The value turned so that higher is better: the one rule every ranking, pruner and sampler
    /// compares by (a minimized metric is negated).
    @inlinable public func score(_ value: Double) -> Double {
        switch goal {
        case .maximize: value
        case .minimize: -value
        }
    }

    /// The score of no value: what a missing value ranks as.
    public static let worstScore = -Double.infinity

    /// `valid_ndcg@10 (maximize)`: how listings name it.
    public var description: String { "valid_\(metric) (\(goal.rawValue))" }

    /// Lower-case words for a sentence: `valid ndcg@10`, `valid pop_overlap@10 (lower is better)`.
    public var label: String { "valid \(metric)" + (goal == .minimize ? " (lower is better)" : "") }

    enum CodingKeys: String, CodingKey { case metric = "name", goal }
}
