import ML

/// Proposes configs; it never changes a trial's state (the controller and the store do).
///
/// Grid and random search know every trial before any result: they plan them all, the store
/// keeps the plan, and what is left is recomputed from the store (the waiting trials), so a
/// restarted coordinator neither repeats nor skips a trial.
public protocol Sampler: Sendable {
    /// The trials known before any result, numbered in plan order.
    func plannedTrials() throws -> [PlannedTrial]
}

/// Every combination of the `values` lists, in file order, per arm; a conditional parameter
/// multiplies only the branches where its `when` holds.
public struct GridSampler: Sampler {
    public let space: SearchSpace

    public init(space: SearchSpace) { self.space = space }

    public func plannedTrials() throws -> [PlannedTrial] {
        let order = space.orderedParameters
        return try space.trials { emit in
            for arm in space.arms {
                func expand(_ index: Int, _ assignment: [String: ConfigValue]) {
                    guard index < order.count else { return emit(assignment, arm) }
                    let parameter = order[index]
                    guard arm?.values[parameter.key] == nil, parameter.conditions.allSatisfy({ $0.holds(in: assignment) }),
                          case .values(let values) = parameter.domain else {
                        return expand(index + 1, assignment)
                    }
                    for value in values {
                        var next = assignment
                        next[parameter.key] = value
                        expand(index + 1, next)
                    }
                }
                expand(0, space.base(arm))
            }
        }
    }
}

/// `count` draws, draw i depending only on (seed, i): every parameter takes exactly one sample per
/// draw, in file order, whatever the conditions, so a larger count keeps the earlier draws.
public struct RandomSampler: Sampler {
    public let space: SearchSpace

    public init(space: SearchSpace) { self.space = space }

    public func plannedTrials() throws -> [PlannedTrial] {
        let spec = space.spec, order = space.orderedParameters
        return try space.trials { emit in
            for draw in 0..<(spec.count ?? 0) {
                var rng = SearchSpace.drawGenerator(seed: spec.seed, draw: draw)
                var drawn: [String: ConfigValue] = [:]
                for parameter in spec.parameters { drawn[parameter.key] = SearchSpace.sample(parameter.domain, &rng) }
                for arm in space.arms {
                    var assignment = space.base(arm)
                    for parameter in order where arm?.values[parameter.key] == nil
                        && parameter.conditions.allSatisfy({ $0.holds(in: assignment) }) {
                        assignment[parameter.key] = drawn[parameter.key]
                    }
                    emit(assignment, arm)
                }
            }
        }
    }
}
