import Foundation
import Vocabulary

/// One trial of a plan: a (config, repeat seed) pair with a stable id and its plan-order number.
public struct PlannedTrial: Sendable, Equatable {
    /// First 16 hex digits of SHA-256 over the canonical config (active keys, seed included).
    public var id: String
    /// 1, 2, … in plan order.
    public var number: Int
    /// Every active key, defaults filled in; `seed` is the repeat, `select_metric` the sweep's metric.
    public var config: TrialConfig
    /// The variant (arm) it belongs to, if the sweep has variants.
    public var variant: String?

    /// The config as canonical JSON (sorted keys), which the id hashes.
    public var canonicalConfig: String { config.jsonText() }

    public static func id(of config: TrialConfig) -> String {
        String(sha256Hex(Array(config.jsonText().utf8)).prefix(16))
    }
}

/// Expands a sweep into its trials. Conditional parameters form a tree: a parameter whose `when`
/// does not hold, or that `ml.md` deems unused given the other keys, is absent (not null), so the
/// grid never multiplies by values that change nothing; identical configs collapse into one.
public struct SearchSpace: Sendable {
    public let spec: SweepSpec

    public init(spec: SweepSpec) { self.spec = spec }

    /// Every trial the sweep's sampler plans before any result, numbered in plan order: for grid
    /// and random search, all of them; for TPE, its startup draws.
    public func plan() throws -> [PlannedTrial] { try sampler.plannedTrials() }

    /// The sampler of the sweep's `method`.
    public var sampler: any Sampler {
        switch spec.method {
        case .grid: GridSampler(space: self)
        case .random: RandomSampler(space: self)
        case .tpe: TPESampler(space: self)
        case .nsga2: NSGA2Sampler(space: self)
        case .gp: GPSampler(space: self)
        }
    }

    /// The trials of the assignments `generate` emits (each a set of parameter values under an
    /// arm): configs × repeats, the repeats seed-major (all configs with seed 0 first), so a first
    /// pass over every config finishes early. Inactive keys are dropped, identical configs
    /// collapse, and every problem is reported at once with its key path and line.
    func trials(_ generate: (_ emit: ([String: ConfigValue], Variant?) -> Void) -> Void) throws -> [PlannedTrial] {
        if let issue = sizeIssue() { throw SweepFileError(file: spec.name, issues: [issue]) }
        var issues: [SweepIssue] = []
        var configs: [(TrialConfig, String?)] = []
        var seen = Set<String>()
        var activeFixed = Set<String>()
        // Searched keys no trial has had active yet (once found, a key is not looked at again).
        var unusedSearched = Set(spec.parameters.map(\.key))
        // Why such a key was inactive where it was given (the first reason seen).
        var inactiveWhereGiven: [String: String] = [:]

        generate { assignment, arm in
            do {
                let config = try TrialConfig.parseDroppingInactive(spec.configValues(assignment))
                for key in spec.fixed.keys where config.isActive(key) && arm?.values[key] == nil { activeFixed.insert(key) }
                for key in unusedSearched where assignment[key] != nil && arm?.values[key] == nil {
                    if let reason = config.inactiveReason(key) {
                        if inactiveWhereGiven[key] == nil { inactiveWhereGiven[key] = reason }
                    } else {
                        unusedSearched.remove(key)
                    }
                }
                if seen.insert(config.jsonText()).inserted { configs.append((config, arm?.name)) }
            } catch let error as ConfigError {
                let issue = source(of: error.key, arm: arm, message: error.message)
                if !issues.contains(issue) { issues.append(issue) }
            } catch {
                issues.append(SweepIssue(path: "", line: nil, message: "\(error)"))
            }
        }
        for key in spec.fixed.keys.sorted() where !activeFixed.contains(key) && issues.isEmpty {
            issues.append(
                SweepIssue(
                    path: "fixed.\(key)", line: spec.fixedLines[key],
                    message: "is not used by any trial (\(TrialConfig().inactiveReason(key) ?? "every variant overrides it"))"))
        }
        // A searched key active nowhere would collapse a grid without a word. (Random draws and
        // TPE's first draws may miss a rarely active key by chance, so only a grid is judged.)
        for parameter in spec.parameters where spec.method == .grid && unusedSearched.contains(parameter.key) && issues.isEmpty {
            let reason =
                inactiveWhereGiven[parameter.key]
                ?? (parameter.conditions.isEmpty ? "every variant sets it" : "its `when` never holds, or every variant sets it")
            issues.append(
                SweepIssue(
                    path: "parameters.\(parameter.key)", line: parameter.line, message: "is searched but no trial uses it (\(reason))"))
        }
        guard issues.isEmpty else { throw SweepFileError(file: spec.name, issues: issues) }

        var trials: [PlannedTrial] = []
        for repeatSeed in 0..<spec.repeats {
            for (config, variant) in configs {
                var seeded = config
                seeded.seed = repeatSeed
                trials.append(PlannedTrial(id: PlannedTrial.id(of: seeded), number: trials.count + 1, config: seeded, variant: variant))
            }
        }
        return trials
    }

    /// Why the plan is too large to expand (more than `spec.maxTrials` trials), counted without
    /// expanding it, or nil. The issue names the key that contributes most: the parameter with the
    /// most values of a grid, or `count`, or `repeats`.
    func sizeIssue() -> SweepIssue? {
        let limit = spec.maxTrials
        func issue(_ trials: String, _ path: String, _ cause: String, line: Int?) -> SweepIssue {
            SweepIssue(
                path: path, line: line,
                message: "the sweep plans \(trials) (\(cause)); narrow the search, or raise the limit with --plan-limit if you mean it")
        }
        let repeatsCause = "repeats: \(spec.repeats)"
        let configs: Int, factor: (path: String, cause: String, line: Int?)
        switch spec.method {
        case .random, .tpe, .nsga2, .gp:
            let count = spec.count ?? 0
            let (product, overflow) = count.multipliedReportingOverflow(by: arms.count)
            configs = overflow ? .max : product
            factor = ("count", "count: \(count)" + (arms.count > 1 ? " × \(arms.count) variants" : ""), nil)
        case .grid:
            // Counting stops once it passes the limit: a grid of 10^15 costs no more than one of 10^5.
            configs = GridSampler(space: self).assignmentCount(upTo: limit)
            let widest = spec.parameters.max { a, b in a.domain.choiceCount < b.domain.choiceCount }
            factor =
                widest.map { ("parameters.\($0.key)", "\($0.domain.choiceCount) values of \($0.key) multiply the grid", $0.line) }
                ?? ("variants", "\(arms.count) variants", nil)
        }
        let (trials, overflow) = configs.multipliedReportingOverflow(by: spec.repeats)
        guard overflow || trials > limit else { return nil }
        let shown =
            overflow || configs > limit
            ? "more than \(limit) trials (configs × repeats), the limit"
            : "\(trials) trials (configs × repeats), more than the limit of \(limit)"
        // The grid or count alone fits, and the repeats outnumber the configs: the repeats are the cause.
        if configs <= limit && spec.repeats > configs { return issue(shown, "repeats", repeatsCause + " × \(configs) configs", line: nil) }
        return issue(shown, factor.path, factor.cause + (spec.repeats > 1 ? " × \(repeatsCause)" : ""), line: factor.line)
    }

    /// Whether the space could have produced `config` (any seed): every searched value within its
    /// domain, given under conditions that hold, and the fixed keys as the file sets them.
    public func admits(_ config: TrialConfig) -> Bool {
        var assignment = base(nil)
        for parameter in orderedParameters where parameter.conditions.allSatisfy({ $0.holds(in: assignment) }) {
            guard config.isActive(parameter.key), let value = config.value(parameter.key) else { continue }
            guard parameter.domain.contains(value) else { return false }
            assignment[parameter.key] = value
        }
        guard var rebuilt = try? TrialConfig.parseDroppingInactive(spec.configValues(assignment)) else { return false }
        rebuilt.seed = config.seed
        return rebuilt == config
    }

    /// The sweep's arms: its variants, or one arm without a name.
    var arms: [Variant?] { spec.variants.isEmpty ? [nil] : spec.variants }

    /// Parameters ordered so that each comes after those its conditions name.
    var orderedParameters: [Parameter] { Self.dependencyOrder(spec.parameters).ordered }

    /// The config of an assignment of parameter values (fixed keys under them, inactive keys
    /// dropped), or nil when it is invalid: what an adaptive sampler proposes.
    func config(from assignment: [String: ConfigValue]) -> TrialConfig? {
        try? TrialConfig.parseDroppingInactive(spec.configValues(assignment))
    }

    /// The fixed keys with an arm's keys over them.
    func base(_ arm: Variant?) -> [String: ConfigValue] {
        spec.fixed.merging(arm?.values ?? [:]) { _, variant in variant }
    }

    /// Where a config key came from, for an error found while expanding.
    private func source(of key: String, arm: Variant?, message: String) -> SweepIssue {
        if let arm, arm.values[key] != nil, let index = spec.variants.firstIndex(of: arm) {
            return SweepIssue(path: "variants[\(index)].\(key)", line: arm.lines[key], message: message)
        }
        if let parameter = spec.parameters.first(where: { $0.key == key }) {
            return SweepIssue(path: "parameters.\(key)", line: parameter.line, message: "a value " + message)
        }
        return SweepIssue(path: "fixed.\(key)", line: spec.fixedLines[key], message: message)
    }

    static func drawGenerator(seed: Int, draw: Int) -> Xoshiro256 {
        var mix = SplitMix64(seed: UInt64(seed) &* 0xD1B5_4A32_D192_ED03 &+ UInt64(draw))
        return Xoshiro256(seed: mix.next())
    }

    /// One sample; continuous draws are rounded to 6 significant digits, so plans read well and
    /// are the same on any machine's libm.
    static func sample(_ domain: Domain, _ rng: inout Xoshiro256) -> ConfigValue {
        func rounded(_ value: Double) -> ConfigValue { .double(Double(String(format: "%.6g", value)) ?? value) }
        let u = rng.nextUniform()
        switch domain {
        case .values(let values): return values[Int(u * Double(values.count))]
        case .uniform(let low, let high): return rounded(low + u * (high - low))
        case .logUniform(let low, let high): return rounded(exp(log(low) + u * (log(high) - log(low))))
        case .intUniform(let low, let high): return .int(low + Int(u * Double(high - low + 1)))
        case .qUniform(let low, let high, let q): return rounded(min(max(((low + u * (high - low)) / q).rounded() * q, low), high))
        }
    }

    /// Parameters ordered so that each comes after those its conditions name (file order
    /// otherwise), and those caught in a cycle of conditions, which cannot be ordered.
    static func dependencyOrder(_ parameters: [Parameter]) -> (ordered: [Parameter], cyclic: [Parameter]) {
        let names = Set(parameters.map(\.key))
        var ordered: [Parameter] = [], placed = Set<String>(), remaining = parameters
        while let next = remaining.firstIndex(where: { parameter in
            parameter.conditions.allSatisfy { !names.contains($0.key) || placed.contains($0.key) }
        }) {
            placed.insert(remaining[next].key)
            ordered.append(remaining.remove(at: next))
        }
        return (ordered, remaining)
    }

    /// The parameters whose conditions form a cycle, if any.
    static func conditionCycle(_ parameters: [Parameter]) -> [String]? {
        let cyclic = dependencyOrder(parameters).cyclic
        return cyclic.isEmpty ? nil : cyclic.map(\.key)
    }
}
