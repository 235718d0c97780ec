import Foundation
import GRDB
import Vocabulary
import Yams

/// What is wrong with a config a user enqueues.
public struct EnqueueProblem: Sendable, Equatable, CustomStringConvertible {
    /// The config key it concerns.
    public var key: String
    public var message: String
    /// Whether `--force` runs the config anyway: a key the sweep does not search or a value
    /// outside a parameter's rule may be meant; a missing parameter or an invalid config never is.
    public var forceable: Bool

    public var description: String { "\(key): \(message)" }
}

extension Domain {
    /// The rule a value must follow, as a refusal names it.
    var rule: String {
        switch self {
        case .values(let values): "one of [\(values.map(\.description).joined(separator: ", "))]"
        case .uniform(let low, let high): "uniform in [\(low), \(high)]"
        case .logUniform(let low, let high): "log-uniform in [\(low), \(high)]"
        case .intUniform(let low, let high): "an integer in [\(low), \(high)]"
        case .qUniform(let low, let high, let q): "a multiple of \(q) from \(low) in [\(low), \(high)]"
        }
    }
}

/// A config file for `sweep enqueue`: a YAML mapping of config keys to single values.
public enum EnqueueFile {
    /// The file's keys and values; an error names the file, and the line of what is wrong.
    public static func read(_ url: URL) throws -> [String: ConfigValue] {
        func fail(_ line: Int?, _ message: String) -> SweepFileError {
            SweepFileError(file: url.path, issues: [SweepIssue(path: "", line: line, message: message)])
        }
        guard let text = try? String(contentsOf: url, encoding: .utf8) else { throw fail(nil, "cannot read the file") }
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch { throw fail(nil, "not valid YAML: \(error)") }
        guard case .mapping(let mapping)? = root else {
            throw fail(root?.mark?.line, "must be a mapping of the sweep's keys to values, e.g. {loss: focal, lr: 0.003}")
        }
        var values: [String: ConfigValue] = [:]
        for (key, value) in mapping {
            guard let name = key.scalar?.string, let parsed = ConfigValue(scalar: value) else {
                throw fail(
                    value.mark?.line, "\(key.scalar?.string ?? "a key") must be a name with one finite value (number, boolean or name)")
            }
            guard values.updateValue(parsed, forKey: name) == nil else { throw fail(key.mark?.line, "\(name) is given twice") }
        }
        return values
    }
}

extension SearchSpace {
    /// The trial config (seed 0) that `values` (config keys → values, as the user writes them)
    /// ask for, and what is wrong with it. Every parameter active for those values must be given,
    /// within its rule; fixed keys may be repeated with their value; nothing else may be named.
    public func enqueued(_ values: [String: ConfigValue]) -> (config: TrialConfig?, problems: [EnqueueProblem]) {
        var problems: [EnqueueProblem] = []
        guard spec.variants.isEmpty else {
            let problem = "this sweep has variants: add the config as a variant of the sweep file instead"
            return (nil, [EnqueueProblem(key: "variants", message: problem, forceable: false)])
        }
        var assignment = base(nil)
        let searched = Set(spec.parameters.map(\.key))
        for (key, value) in values.sorted(by: { $0.key < $1.key }) where !searched.contains(key) {
            if let fixed = assignment[key] {
                if !fixed.sameValue(as: value) {
                    problems.append(
                        EnqueueProblem(key: key, message: "is fixed at \(fixed) by the sweep file, not \(value)", forceable: true))
                }
            } else {
                problems.append(
                    EnqueueProblem(
                        key: key,
                        message:
                            "is not a key this sweep searches or fixes (it searches \(spec.parameters.map(\.key).joined(separator: ", ")))",
                        forceable: true))
            }
            assignment[key] = value
        }
        for parameter in orderedParameters {
            let active = parameter.conditions.allSatisfy { $0.holds(in: assignment) }
            switch (active, values[parameter.key]) {
            case (true, let value?):
                if !parameter.domain.contains(value) {
                    problems.append(
                        EnqueueProblem(
                            key: parameter.key, message: "\(value) is outside its rule: \(parameter.domain.rule)", forceable: true))
                }
                assignment[parameter.key] = value
            case (true, nil):
                problems.append(
                    EnqueueProblem(key: parameter.key, message: "is missing: the sweep searches it, so give its value", forceable: false))
            case (false, _?):
                let when = parameter.conditions.map { "\($0.key) in [\($0.anyOf.map(\.description).joined(separator: ", "))]" }
                problems.append(
                    EnqueueProblem(
                        key: parameter.key, message: "is inactive for this config (it applies when \(when.joined(separator: " and ")))",
                        forceable: false))
            case (false, nil): break
            }
        }
        do {
            return (try TrialConfig.parseDroppingInactive(spec.configValues(assignment)), problems)
        } catch {
            return (nil, problems + [EnqueueProblem(key: "config", message: "\(error)", forceable: false)])
        }
    }
}

/// How an enqueued config was taken.
public enum EnqueueOutcome: Sendable, Equatable {
    /// New trials (one per repeat seed), to run before every other waiting trial.
    case added(firstNumber: Int)
    /// The sweep already had them waiting: they now run first.
    case movedUp(firstNumber: Int)
    /// The sweep already ran this config: nothing to do.
    case alreadyThere(firstNumber: Int, state: TrialState)
}

extension SweepStore {
    /// Adds `config`'s trials (one per seed of `repeats`) ahead of every waiting trial, marked as
    /// enqueued (and `forced` when it lies outside the sweep's space); trials the sweep already
    /// holds are moved up if they wait, and left as they are otherwise.
    public func enqueue(_ config: TrialConfig, forced: Bool, repeats: Int, now: Date = Date()) throws -> EnqueueOutcome {
        try write { db in try Self.enqueue(db, config, forced: forced, repeats: repeats, now.timeIntervalSince1970) }
    }

    static func enqueue(_ db: Database, _ config: TrialConfig, forced: Bool, repeats: Int, _ time: Double) throws -> EnqueueOutcome {
        var first = config
        first.seed = 0
        if let row = try Row.fetchOne(db, sql: "SELECT number, state FROM trial WHERE id = ?", arguments: [PlannedTrial.id(of: first)]) {
            let number: Int = row["number"], state = try trialState(row["state"], "#\(number)")
            guard state == .waiting else { return .alreadyThere(firstNumber: number, state: state) }
            for seed in 0..<repeats {
                var trial = config
                trial.seed = seed
                try db.execute(
                    sql: "UPDATE trial SET priority = \(enqueuedPriority) WHERE id = ? AND state = \(TrialState.waiting.sql)",
                    arguments: [PlannedTrial.id(of: trial)])
            }
            return .movedUp(firstNumber: number)
        }
        let number = (try Int.fetchOne(db, sql: "SELECT MAX(number) FROM trial") ?? 0) + 1
        try insertProposal(
            db, Proposal(config: first, origin: ProposalOrigin(sampler: .enqueued, finished: 0, running: 0, forced: forced ? true : nil)),
            repeats: repeats, priority: enqueuedPriority, time)
        return .added(firstNumber: number)
    }

    /// The priority of enqueued trials: waiting trials are claimed by priority, then number, so
    /// these go before the plan, in the order they were added.
    static let enqueuedPriority = 1
}
