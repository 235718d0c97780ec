import Foundation
import Vocabulary

/// Another sweep's finished configs as observations of this sweep's space (`warm_start: {db:
/// previous.db}`): TPE starts from them as from its own results, and they never enter this sweep's
/// store or board. A config is taken when every parameter this space makes active has a value
/// within its range, and every key this sweep fixes has this sweep's value; the rest are left out,
/// counted by reason.
public struct WarmStart: Sendable {
    /// The store read.
    public var path: String
    public var observations: [Observation]
    /// Finished configs of the other store (seeds of one config count once).
    public var finished: Int
    /// Why the configs not taken were left out, and how many each.
    public var leftOut: [String: Int]

    /// Reads `url`'s finished trials for `spec`, whose dataset has `fingerprint`; a store of
    /// another dataset or first objective is refused, saying which.
    public static func load(_ url: URL, spec: SweepSpec, fingerprint: String) throws -> WarmStart {
        let store = try SweepStore.openReadOnly(path: url.path)
        guard let other = try store.sweep() else { throw StoreError(message: "warm_start.db: \(url.path) holds no sweep") }
        guard other.fingerprint == fingerprint else {
            throw StoreError(
                message:
                    "warm_start.db: \(url.path) trained on another dataset (fingerprint \(other.fingerprint.prefix(16))…, this sweep's is \(fingerprint.prefix(16))…): its results do not carry over"
            )
        }
        guard other.ranking.primary == spec.ranking.primary else {
            throw StoreError(
                message:
                    "warm_start.db: \(url.path) selected its trials' best epochs by \(other.ranking.primary), this sweep by \(spec.ranking.primary): its results do not compare"
            )
        }
        let space = SearchSpace(spec: spec)
        var groups: [String: (config: TrialConfig, scores: [[Double]], violations: [Double], stop: Int?)] = [:]
        var order: [String] = []
        var lacking = 0
        for trial in try store.trials() where trial.state == .completed || trial.state == .pruned {
            guard let valid = trial.result?.valid else { continue }
            let key = Leaderboard.configKey(trial.config)
            guard let scores = spec.ranking.scores(valid) else {
                lacking += 1
                continue
            }
            if groups[key] == nil {
                order.append(key)
                groups[key] = (trial.config, [], [], nil)
            }
            groups[key]!.scores.append(scores)
            groups[key]!.violations.append(spec.ranking.violation(valid))
            if trial.state == .pruned, let epoch = trial.stoppedAt { groups[key]!.stop = min(groups[key]!.stop ?? .max, epoch) }
        }
        var warm = WarmStart(path: url.path, observations: [], finished: order.count + lacking, leftOut: [:])
        if lacking > 0 { warm.leftOut["lack a value of \(spec.ranking.objectiveNames)"] = lacking }
        for key in order {
            let group = groups[key]!
            switch space.mapped(group.config) {
            case .failure(let reason): warm.leftOut[reason.description, default: 0] += 1
            case .success(let config):
                let n = Double(group.scores.count)
                let mean = (0..<spec.ranking.objectives.count).map { index in group.scores.map { $0[index] }.reduce(0, +) / n }
                var observation = Observation(
                    order: -(warm.observations.count + 1), config: config,
                    outcome: group.stop.map { .pruned(epoch: $0, scores: mean) } ?? .completed(mean),
                    violation: group.violations.reduce(0, +) / n)
                observation.fromWarmStart = true
                warm.observations.append(observation)
            }
        }
        return warm
    }

    /// `plan`'s line: `warm start: 41 of 48 finished configs from prior.db (7 left out: …)`.
    public var summary: String {
        let left = leftOut.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }
        return "warm start: \(observations.count) of \(finished) finished configs from \(path)"
            + (left.isEmpty ? "" : " (\(finished - observations.count) left out: \(left.joined(separator: "; ")))")
    }
}

/// Why another sweep's config does not map onto this sweep's space.
enum MappingRefusal: Error, CustomStringConvertible {
    case lacks(String)
    case outside(String)
    case fixedDiffers(String)
    case invalid

    var description: String {
        switch self {
        case .lacks(let key): "lack \(key)"
        case .outside(let key): "have \(key) outside this sweep's range"
        case .fixedDiffers(let key): "have another \(key) than this sweep fixes"
        case .invalid: "do not make a valid config here"
        }
    }
}

extension SearchSpace {
    /// Another sweep's config in this space: its value of each parameter active here (within the
    /// parameter's rule), this sweep's fixed keys, which it must share.
    func mapped(_ other: TrialConfig) -> Result<TrialConfig, MappingRefusal> {
        var assignment = base(nil)
        for (key, value) in assignment where other.value(key).map({ !$0.sameValue(as: value) }) ?? false {
            return .failure(.fixedDiffers(key))
        }
        for parameter in orderedParameters where parameter.conditions.allSatisfy({ $0.holds(in: assignment) }) {
            guard other.isActive(parameter.key), let value = other.value(parameter.key) else { return .failure(.lacks(parameter.key)) }
            guard parameter.domain.contains(value) else { return .failure(.outside(parameter.key)) }
            assignment[parameter.key] = value
        }
        return config(from: assignment).map { .success($0) } ?? .failure(.invalid)
    }
}
