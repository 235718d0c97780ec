import Foundation
import Vocabulary
import Yams

/// One problem in a sweep file, with its key path and YAML line.
public struct SweepIssue: Sendable, Equatable, CustomStringConvertible {
    /// Dotted key path, e.g. `parameters.alpha.min`.
    public var path: String
    /// 1-based line in the file, when known.
    public var line: Int?
    public var message: String

    public init(path: String, line: Int?, message: String) {
        self.path = path
        self.line = line
        self.message = message
    }

    public var description: String {
        (line.map { "line \($0): " } ?? "") + (path.isEmpty ? "" : "\(path): ") + message
    }
}

/// Every problem found in a sweep file, reported together.
public struct SweepFileError: Error, Sendable, CustomStringConvertible {
    public var file: String
    public var issues: [SweepIssue]

    public var description: String {
        "\(file): \(issues.count) error\(issues.count == 1 ? "" : "s"):\n" + issues.map { "  \($0)" }.joined(separator: "\n")
    }
}

/// How the coordinator picks configs.
public enum SearchMethod: String, Sendable, CaseIterable {
    /// Every combination of the `values` lists.
    case grid
    /// `count` draws, draw i depending only on (seed, i).
    case random
    /// `count` configs: the first `startup_trials` drawn as random search draws them, the rest
    /// proposed by the tree-structured Parzen estimator from the results so far.
    case tpe
    /// `count` configs in generations of `population`: the first drawn as random search draws
    /// them, the rest bred by NSGA-II from the best of the earlier generations.
    case nsga2
    /// `count` configs: the first `startup_trials` drawn as random search draws them, the rest
    /// where a Gaussian process of the results expects the most improvement.
    case gp

    /// Whether it proposes configs from results (TPE, NSGA-II) rather than planning them all.
    public var isAdaptive: Bool {
        switch self {
        case .grid, .random: false
        case .tpe, .nsga2, .gp: true
        }
    }
}

/// A TPE sweep's `tpe:` settings, with Optuna's defaults except those Optuna's next major version
/// turns on (`multivariate`, `group`, `constant_liar`).
public struct TPESettings: Sendable, Equatable {
    /// Configs that must finish before TPE proposes (random draws until then).
    public var startupTrials = 10
    /// Candidates drawn from l(x) per proposal; the one with the largest l(x)/g(x) wins.
    public var candidates = 24
    /// Model the parameters that occur together jointly (grouped by the set of active
    /// parameters, as Optuna's `group=True`), else each on its own. Not given: jointly with one
    /// objective, each on its own with several (Optuna 5's defaults; on DTLZ2 the joint model
    /// reaches a clearly smaller hypervolume, docs/BENCHMARKS.md).
    public var multivariate: Bool?
    /// The share of finished configs that form l(x): ⌈gamma·n⌉, at most 25 with one objective
    /// (Optuna's default is 0.1).
    public var gamma = 0.1
    /// Count running configs as observed bad values, so idle workers asking together get different configs.
    public var constantLiar = true

    public init() {}
}

/// The values a parameter may take.
public enum Domain: Sendable, Equatable {
    /// A list (a grid axis, or a uniform choice in random search); `value: x` is a list of one.
    case values([ConfigValue])
    case uniform(min: Double, max: Double)
    case logUniform(min: Double, max: Double)
    case intUniform(min: Int, max: Int)
    /// Uniform, then rounded to a multiple of `q`.
    case qUniform(min: Double, max: Double, q: Double)
}

extension Domain {
    /// How many values a grid takes from it (a list's length; 1 for a distribution).
    var choiceCount: Int {
        if case .values(let values) = self { return values.count }
        return 1
    }

    /// Whether `value` is one this domain can produce (continuous draws are rounded to 6
    /// significant digits, so bounds and grids are checked to that precision).
    func contains(_ value: ConfigValue) -> Bool {
        let number = value.number
        func within(_ low: Double, _ high: Double) -> Bool {
            guard let number else { return false }
            let slack = 1e-6 * max(abs(low), abs(high))
            return number >= low - slack && number <= high + slack
        }
        switch self {
        case .values(let values): return values.contains { $0.sameValue(as: value) }
        case .uniform(let low, let high), .logUniform(let low, let high): return within(low, high)
        case .intUniform(let low, let high):
            guard case .int(let v) = value else { return false }
            return v >= low && v <= high
        case .qUniform(let low, let high, let q):
            guard within(low, high), let number else { return false }
            let steps = (number - low) / q
            return abs(steps - steps.rounded()) < 1e-5 || number == high
        }
    }
}

/// `when: {key: value}` (or a list: any of them).
public struct Condition: Sendable, Equatable {
    public var key: String
    public var anyOf: [ConfigValue]

    func holds(in assignment: [String: ConfigValue]) -> Bool {
        guard let value = assignment[key] else { return false }
        return anyOf.contains { $0.sameValue(as: value) }
    }
}

/// A searched parameter: a trial config key, its domain, and when it applies.
public struct Parameter: Sendable, Equatable {
    public var key: String
    public var domain: Domain
    /// All must hold for the parameter to be active.
    public var conditions: [Condition]
    public var line: Int?
}

/// A named partial config: an arm crossed with the parameters.
public struct Variant: Sendable, Equatable {
    public var name: String
    public var values: [String: ConfigValue]
    public var lines: [String: Int]
}

/// A sweep's own training program (`program:`), run by workers instead of the built-in trainer.
public struct ProgramSpec: Sendable, Equatable {
    /// The program folder, shipped to workers by content.
    public var directory: URL
    public var command: ProgramCommand
}

/// A validated sweep file.
public struct SweepSpec: Sendable {
    public var name: String
    /// The dataset (`noData` only for a program that declares `dataset: none`).
    public var dataset: DatasetSource
    /// The program its trials run, or nil for the built-in trainer.
    public var program: ProgramSpec?
    /// The function that function workers (the Python client, docs/python.md) run its trials
    /// with (`function:`), beside the program or instead of it; nil when they may not.
    public var function: String?
    /// What the sweep ranks by (`metric:` or `objectives:`, and `constraints:`); its primary
    /// objective becomes each trial's `select_metric` and `select_goal`.
    public var ranking: Ranking
    public var method: SearchMethod
    public var count: Int?
    /// TPE's settings (method `tpe` only).
    public var tpe: TPESettings?
    /// NSGA-II's settings (method `nsga2` only).
    public var nsga2: NSGA2Settings?
    /// The Gaussian process's settings (method `gp` only).
    public var gp: GPSettings?
    public var seed: Int
    public var repeats: Int
    public var fixed: [String: ConfigValue]
    public var parameters: [Parameter]
    public var variants: [Variant]
    /// Early stopping, when the file asks for it.
    public var earlyStopping: EarlyStopping?
    /// How long an attempt may run (`limits:`).
    public var limits = TimeLimits()
    /// What ends the sweep before its plan is done (`budget:`).
    public var budget: Budget?
    /// Failed trials after which no trial starts (`max_failed_trials:`); nil: the default of
    /// ``failureLimit(trials:)``.
    public var maxFailedTrials: Int?
    /// Configs to run before the plan (`enqueue:`), each a mapping of the sweep's keys with its line.
    public var enqueue: [(values: [String: ConfigValue], line: Int?)] = []
    /// Another sweep's store whose finished configs TPE starts from (`warm_start: {db}`).
    public var warmStart: URL?
    /// The file's text and its SHA-256.
    public var text: String
    public var hash: String
    /// Lines of the `fixed` keys, for errors found during expansion.
    var fixedLines: [String: Int]
    /// The most trials (configs × repeats) the plan may hold: a larger plan is refused before it
    /// is expanded, naming what makes it large. Not part of the file: `--plan-limit` sets it.
    public var maxTrials = SweepSpec.defaultMaxTrials
    /// 100,000 trials: over three times the largest sweep benchmarked (30,000 trials,
    /// docs/BENCHMARKS.md).
    public static let defaultMaxTrials = 100_000

    /// Whether its trials run the user's code (a program or a function) on the user's own config
    /// keys, rather than the built-in trainer on ml.md's.
    public var runsOwnCode: Bool { program != nil || function != nil }

    /// Whether only function workers can run its trials (a `function:` without a `program:`).
    public var functionOnly: Bool { function != nil && program == nil }

    static let topLevelKeys = [
        "name", "description", "program", "function", "dataset", "metric", "objectives", "constraints", "method", "count", "seed",
        "repeats",
        "fixed", "parameters", "variants", "early_stopping", "tpe", "nsga2", "gp", "limits", "budget", "max_failed_trials", "enqueue",
        "warm_start",
    ]

    /// A trial's config values from an assignment of the sweep's keys: the metric it selects its
    /// best epoch by and, for a program sweep, the program marker added.
    func configValues(_ assignment: [String: ConfigValue]) -> [String: ConfigValue] {
        var values = assignment
        values["select_metric"] = .string(ranking.primary.metric)
        if ranking.primary.goal != .maximize { values["select_goal"] = .string(ranking.primary.goal.rawValue) }
        if runsOwnCode { values[TrialConfig.programMarker] = .bool(true) }
        return values
    }

    /// Loads and validates a sweep file; every problem is reported at once in a ``SweepFileError``.
    /// `maxTrials` bounds the plan (``maxTrials``).
    public static func load(_ url: URL, maxTrials: Int = defaultMaxTrials) throws -> SweepSpec {
        guard let text = try? String(contentsOf: url, encoding: .utf8) else {
            throw SweepFileError(file: url.path, issues: [SweepIssue(path: "", line: nil, message: "cannot read the file")])
        }
        return try parse(text, file: url, maxTrials: maxTrials)
    }

    /// Validates sweep-file text; `file` names it in errors and anchors a relative dataset path.
    public static func parse(_ text: String, file: URL, maxTrials: Int = defaultMaxTrials) throws -> SweepSpec {
        try parse(text, file: file, checkFiles: true, maxTrials: maxTrials)
    }

    /// A store's copy of its sweep file, for its search space: the folders it names (dataset,
    /// program) may have moved since, so they are not looked for.
    /// It was checked against its expanded plan when it was stored, so it is not expanded again
    /// (10,000 random draws take most of a second).
    /// Its plan was bounded when it was stored, so no bound is applied again.
    public static func parseStored(_ text: String) throws -> SweepSpec {
        try parse(text, file: URL(fileURLWithPath: "/stored-sweep.yaml"), checkFiles: false, checkPlan: false, maxTrials: .max)
    }

    static func parse(_ text: String, file: URL, checkFiles: Bool, checkPlan: Bool = true, maxTrials: Int) throws -> SweepSpec {
        var parser = SpecParser(file: file)
        parser.checkFiles = checkFiles
        parser.checkPlan = checkPlan
        parser.maxTrials = maxTrials
        let spec = parser.parse(text)
        guard let spec, parser.issues.isEmpty else {
            throw SweepFileError(file: file.path, issues: parser.issues)
        }
        return spec
    }

}

/// Walks the composed YAML tree, collecting every issue instead of stopping at the first.
struct SpecParser {
    let file: URL
    var issues: [SweepIssue] = []
    /// Set once `program:` or `function:` is read: config keys are then the user's own.
    var isProgram = false
    /// Whether the dataset and program folders must exist (not for a stored copy of the file).
    var checkFiles = true
    /// Expand the plan to find what only combinations reveal (off for a stored file, checked when stored).
    var checkPlan = true
    var maxTrials = SweepSpec.defaultMaxTrials

    init(file: URL) { self.file = file }

    mutating func issue(_ path: String, _ node: Node?, _ message: String) {
        issues.append(SweepIssue(path: path, line: node?.mark?.line, message: message))
    }

    /// A mapping's (key, value) pairs in file order; string keys only.
    mutating func pairs(_ node: Node, _ path: String) -> [(String, Node)]? {
        guard case .mapping(let mapping) = node else {
            issue(path, node, "must be a mapping")
            return nil
        }
        var result: [(String, Node)] = []
        for (key, value) in mapping {
            guard let name = key.scalar?.string else {
                issue(path, key, "keys must be names")
                continue
            }
            result.append((name, value))
        }
        return result
    }

    mutating func scalar(_ node: Node, _ path: String) -> ConfigValue? {
        do {
            return try ConfigValue.reading(node)
        } catch {
            switch error {
            case .nonFinite(let number): issue(path, node, "must be a finite number, got \(node.scalar?.string ?? String(number))")
            case .notAScalar: issue(path, node, "must be a single value (number, boolean or name)")
            }
            return nil
        }
    }

    /// A name that must be one of `T`'s raw values; nil, with `message` as the issue, otherwise.
    mutating func choice<T: RawRepresentable>(_ node: Node, _ path: String, _ message: String) -> T? where T.RawValue == String {
        if case .string(let value)? = scalar(node, path), let parsed = T(rawValue: value) { return parsed }
        issue(path, node, message)
        return nil
    }

    mutating func number(_ node: Node?, _ path: String, parent: Node) -> Double? {
        guard let node else {
            issue(path, parent, "is required")
            return nil
        }
        guard let value = scalar(node, path) else { return nil }
        guard let v = value.number, v.isFinite else {
            issue(path, node, "must be a number")
            return nil
        }
        return v
    }

    mutating func integer(_ node: Node, _ path: String, minimum: Int) -> Int? {
        guard case .int(let v)? = scalar(node, path) else {
            if node.scalar != nil { issue(path, node, "must be an integer") }
            return nil
        }
        guard v >= minimum else {
            issue(path, node, "must be ≥ \(minimum), got \(v)")
            return nil
        }
        return v
    }

    mutating func configKey(_ key: String, _ node: Node, _ path: String) -> Bool {
        if key == "seed" {
            issue(path, node, "is set by `repeats` (trials use seeds 0…repeats−1)")
            return false
        }
        if key == "select_metric" || key == "select_goal" {
            issue(path, node, "is set by the sweep's `metric` (or its first objective)")
            return false
        }
        if isProgram {
            if key == TrialConfig.programMarker {
                issue(path, node, "is reserved (it marks a program's config); name the key otherwise")
                return false
            }
            guard !key.isEmpty,
                key.unicodeScalars.allSatisfy({ CharacterSet.alphanumerics.contains($0) || "_-.".unicodeScalars.contains($0) })
            else {
                issue(path, node, "a program key is letters, digits, _, - and . (it becomes --\(key) or SWEEP_\(key.uppercased()))")
                return false
            }
            return true
        }
        guard TrialConfig.keys.contains(key) else {
            let hint = TrialConfig.keys.min { editDistance($0, key) < editDistance($1, key) }.map { " (did you mean '\($0)'?)" } ?? ""
            issue(path, node, "is not a parameter of ml.md\(hint)")
            return false
        }
        return true
    }

    mutating func parse(_ text: String) -> SweepSpec? {
        guard let (root, fields) = topLevel(text) else { return nil }
        let name = parseName(fields["name"], root: root)
        let program = fields["program"].flatMap { parseProgram($0) }
        let function = fields["function"].flatMap { parseFunction($0) }
        isProgram = fields["program"] != nil || fields["function"] != nil
        let dataset = parseDataset(fields["dataset"], root: root)
        if dataset == .noData { checkNoData(fields, program: program) }
        let ranking = parseRanking(fields, root: root)
        let (method, count, tpe) = parseSearch(fields, root: root)
        let nsga2 = parseNSGA2(fields["nsga2"], method: method)
        let seed = fields["seed"].flatMap { integer($0, "seed", minimum: 0) } ?? 0
        let repeats = fields["repeats"].flatMap { integer($0, "repeats", minimum: 1) } ?? 1
        let (fixed, fixedLines) = parseFixed(fields["fixed"])
        let variants = fields["variants"].map { parseVariants($0, method: method) } ?? []
        let parameters = parseParameters(fields["parameters"], method: method, fixed: fixed, variants: variants)
        let earlyStopping = fields["early_stopping"].flatMap { parseEarlyStopping($0, ranking: ranking) }
        let limits = fields["limits"].map { parseLimits($0) } ?? TimeLimits()
        let budget = fields["budget"].flatMap { parseBudget($0, ranking: ranking) }
        let maxFailedTrials = fields["max_failed_trials"].flatMap { integer($0, "max_failed_trials", minimum: 1) }
        let enqueue = fields["enqueue"].map { parseEnqueue($0) } ?? []
        let warmStart = fields["warm_start"].flatMap { parseWarmStart($0, method: method) }
        let gp = parseGP(fields["gp"], method: method, methodNode: fields["method"] ?? root, parameters: parameters)
        guard issues.isEmpty, let dataset, let ranking else { return nil }
        var spec = SweepSpec(
            name: name, dataset: dataset, program: program, ranking: ranking, method: method, count: count, tpe: tpe, nsga2: nsga2,
            seed: seed,
            repeats: repeats,
            fixed: fixed, parameters: parameters, variants: variants, earlyStopping: earlyStopping?.earlyStopping, text: text,
            hash: sha256Hex(Array(text.utf8)), fixedLines: fixedLines, maxTrials: maxTrials)
        spec.function = function
        spec.limits = limits
        spec.budget = budget
        spec.maxFailedTrials = maxFailedTrials
        spec.enqueue = enqueue
        spec.warmStart = warmStart
        spec.gp = gp
        if checkPlan { checkEnqueued(spec) }
        return !checkPlan || checkExpanded(spec, earlyStopping) ? spec : nil
    }

    /// The file's top-level mapping, with every unknown key reported.
    mutating func topLevel(_ text: String) -> (root: Node, fields: [String: Node])? {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch {
            issue("", nil, "not valid YAML: \(error)")
            return nil
        }
        guard let root, let top = pairs(root, "") else {
            if root == nil { issue("", nil, "the file is empty") }
            return nil
        }
        for (key, node) in top where !SweepSpec.topLevelKeys.contains(key) {
            issue(key, node, "unknown key; expected one of \(SweepSpec.topLevelKeys.joined(separator: ", "))")
        }
        return (root, Dictionary(top, uniquingKeysWith: { first, _ in first }))
    }

    mutating func parseName(_ node: Node?, root: Node) -> String {
        guard let node else {
            issue("name", root, "is required")
            return ""
        }
        if case .string(let value)? = scalar(node, "name"), !value.isEmpty { return value }
        issue("name", node, "must be a non-empty name")
        return ""
    }

    /// `function: train`: the name function workers serve, a Python (dotted) identifier.
    mutating func parseFunction(_ node: Node) -> String? {
        let rule = "must name the function its function workers serve, a Python name such as train or models.train"
        guard case .string(let name)? = scalar(node, "function") else {
            issue("function", node, rule)
            return nil
        }
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        let identifier = parts.allSatisfy { part in
            guard let first = part.unicodeScalars.first, first == "_" || CharacterSet.letters.contains(first) else { return false }
            return part.unicodeScalars.allSatisfy { $0 == "_" || CharacterSet.alphanumerics.contains($0) }
        }
        guard identifier else {
            issue("function", node, rule)
            return nil
        }
        return name
    }

    /// `dataset: none` is only for a program or function that does not ask for `{data}`.
    mutating func checkNoData(_ fields: [String: Node], program: ProgramSpec?) {
        if !isProgram {
            issue(
                "dataset", fields["dataset"],
                "none is only for a program or function sweep (program: … or function: …); the built-in trainer needs a dataset")
        }
        if let program, program.command.command.contains(where: { $0.contains("{data}") }) {
            issue("program.command", fields["program"], "uses {data} but the sweep has dataset: none")
        }
    }

    /// `method`, and `count` and `tpe` as the method wants them.
    mutating func parseSearch(_ fields: [String: Node], root: Node) -> (SearchMethod, count: Int?, TPESettings?) {
        var method = SearchMethod.grid
        if let node = fields["method"] {
            method = choice(node, "method", "must be grid, random, tpe, nsga2 or gp") ?? method
        } else {
            issue("method", root, "is required (grid, random, tpe, nsga2 or gp)")
        }
        var count: Int?
        if let node = fields["count"] {
            count = integer(node, "count", minimum: 1)
            if method == .grid { issue("count", node, "is for random search, TPE and NSGA-II; a grid runs every combination") }
        } else if method != .grid {
            issue("count", root, "is required with method: \(method.rawValue)")
        }
        var tpe: TPESettings?
        if let node = fields["tpe"] {
            if method == .tpe { tpe = parseTPE(node) } else { issue("tpe", node, "is for method: tpe") }
        } else if method == .tpe {
            tpe = TPESettings()
        }
        return (method, count, tpe)
    }

    /// `fixed`: config keys and their values, with the line of each.
    mutating func parseFixed(_ node: Node?) -> ([String: ConfigValue], lines: [String: Int]) {
        var fixed: [String: ConfigValue] = [:], lines: [String: Int] = [:]
        if let node, let entries = pairs(node, "fixed") {
            for (key, value) in entries where configKey(key, value, "fixed.\(key)") {
                if let parsed = scalar(value, "fixed.\(key)") {
                    fixed[key] = parsed
                    lines[key] = value.mark?.line
                }
            }
        }
        return (fixed, lines)
    }

    /// `enqueue: [{key: value, …}, …]`: configs to run first.
    mutating func parseEnqueue(_ node: Node) -> [(values: [String: ConfigValue], line: Int?)] {
        guard case .sequence(let entries) = node else {
            issue("enqueue", node, "must be a list of configs ({key: value, …}) to run before the plan")
            return []
        }
        return entries.enumerated().compactMap { index, entry in
            let path = "enqueue[\(index)]"
            guard let fields = pairs(entry, path) else { return nil }
            var values: [String: ConfigValue] = [:]
            for (key, value) in fields where configKey(key, value, "\(path).\(key)") {
                if let parsed = scalar(value, "\(path).\(key)") { values[key] = parsed }
            }
            return (values, entry.mark?.line)
        }
    }

    /// `warm_start: {db: previous.db}` (relative to the sweep file), for TPE.
    mutating func parseWarmStart(_ node: Node, method: SearchMethod) -> URL? {
        guard method == .tpe else {
            issue("warm_start", node, "is for method: tpe (the other methods do not learn from results)")
            return nil
        }
        var url: URL?
        for (key, value) in pairs(node, "warm_start") ?? [] {
            switch key {
            case "db":
                guard case .string(let path)? = scalar(value, "warm_start.db") else {
                    issue("warm_start.db", value, "must be the path of another sweep's store")
                    continue
                }
                let resolved =
                    path.hasPrefix("/") ? URL(fileURLWithPath: path) : file.deletingLastPathComponent().appendingPathComponent(path)
                if checkFiles && !FileManager.default.fileExists(atPath: resolved.path) {
                    issue("warm_start.db", value, "\(resolved.path) does not exist")
                }
                url = resolved.standardizedFileURL
            default: issue("warm_start.\(key)", value, "unknown key; expected db")
            }
        }
        if url == nil && issues.allSatisfy({ !$0.path.hasPrefix("warm_start") }) { issue("warm_start.db", node, "is required") }
        return url
    }

    /// Each `enqueue:` config must lie in the sweep's space (a file cannot force one).
    mutating func checkEnqueued(_ spec: SweepSpec) {
        let space = SearchSpace(spec: spec)
        for (index, entry) in spec.enqueue.enumerated() {
            for problem in space.enqueued(entry.values).problems {
                issues.append(SweepIssue(path: "enqueue[\(index)].\(problem.key)", line: entry.line, message: problem.message))
            }
        }
    }

    /// `variants`: named partial configs, names unique; none with TPE, which searches one space.
    mutating func parseVariants(_ node: Node, method: SearchMethod) -> [Variant] {
        guard case .sequence(let sequence) = node else {
            issue("variants", node, "must be a list of named partial configs")
            return []
        }
        var variants: [Variant] = []
        for (index, item) in sequence.enumerated() {
            if let variant = parseVariant(item, "variants[\(index)]") {
                if method.isAdaptive {
                    issue(
                        "variants", node,
                        "method \(method.rawValue) searches one space: make the arms a parameter (values: [...]) instead of variants"
                    )
                    break
                }
                if variants.contains(where: { $0.name == variant.name }) {
                    issue("variants[\(index)].name", item, "duplicate variant name \(variant.name)")
                }
                variants.append(variant)
            }
        }
        if sequence.isEmpty { issue("variants", node, "must list at least one variant") }
        return variants
    }

    /// `parameters`, each once (not also fixed), their conditions naming known keys and forming no cycle.
    mutating func parseParameters(_ node: Node?, method: SearchMethod, fixed: [String: ConfigValue], variants: [Variant]) -> [Parameter] {
        var parameters: [Parameter] = []
        if let node, let entries = pairs(node, "parameters") {
            for (key, value) in entries {
                let path = "parameters.\(key)"
                guard configKey(key, value, path) else { continue }
                if fixed[key] != nil { issue(path, value, "is also in `fixed`; give it in one place") }
                if let parameter = parseParameter(key, value, path, method: method) { parameters.append(parameter) }
            }
        }
        // Conditions may name parameters, fixed keys or variant keys.
        let known = Set(parameters.map(\.key)).union(fixed.keys).union(variants.flatMap(\.values.keys))
        for parameter in parameters {
            for condition in parameter.conditions where !known.contains(condition.key) {
                issues.append(
                    SweepIssue(
                        path: "parameters.\(parameter.key).when.\(condition.key)", line: parameter.line,
                        message: "names \(condition.key), which is not a parameter, fixed key or variant key of this sweep"))
            }
        }
        if let cycle = SearchSpace.conditionCycle(parameters) {
            issue("parameters", node, "conditions form a cycle: \(cycle.joined(separator: " → "))")
        }
        return parameters
    }

    /// Expanding finds what only combinations reveal: out-of-range values, fixed keys active
    /// nowhere, trials too short for the early-stopping rule. False when it found any.
    mutating func checkExpanded(_ spec: SweepSpec, _ earlyStopping: ParsedEarlyStopping?) -> Bool {
        do {
            let trials = try SearchSpace(spec: spec).plan()
            let budgets = trials.filter { $0.config.isProgram || $0.config.model != .none }.map(\.config.epochBudget)
            if let earlyStopping, budgets.contains(0) {
                issue(
                    "early_stopping", earlyStopping.epochsNode,
                    "needs each trial's epoch budget: give the program an integer `epochs` key (fixed, a parameter or a variant), which it must honour"
                )
                return false
            }
            if let earlyStopping, let shortest = budgets.min() {
                checkEpochs(earlyStopping, shortest: shortest)
            }
        } catch let error as SweepFileError {
            issues += error.issues
        } catch {
            issue("", nil, "\(error)")
        }
        return issues.isEmpty
    }

    mutating func parseDataset(_ node: Node?, root: Node) -> DatasetSource? {
        guard let node else {
            issue("dataset", root, "is required: a folder, {name: NAME}, or {synthetic: {preset, seed}}" + (isProgram ? ", or none" : ""))
            return nil
        }
        if case .string(DatasetSource.noDataName)? = ConfigValue(scalar: node) { return .noData }
        if case .string(let path)? = ConfigValue(scalar: node) {
            let url =
                path.hasPrefix("/")
                ? URL(fileURLWithPath: path)
                : file.deletingLastPathComponent().appendingPathComponent(path).standardizedFileURL
            guard !checkFiles || FileManager.default.fileExists(atPath: url.appendingPathComponent("items.tsv").path) else {
                issue("dataset", node, "\(url.path) is not a dataset folder (no items.tsv there)")
                return nil
            }
            return .path(url.path)
        }
        guard let entries = pairs(node, "dataset") else { return nil }
        if entries.count == 1, entries[0].0 == "name" { return parseNamedDataset(entries[0].1) }
        guard entries.count == 1, entries[0].0 == "synthetic", let synthetic = pairs(entries[0].1, "dataset.synthetic") else {
            issue("dataset", node, "must be a folder path, {name: NAME} or {synthetic: {preset, seed}}")
            return nil
        }
        var preset: String?, seed = 0
        for (key, value) in synthetic {
            switch key {
            case "preset":
                if case .string(let name)? = scalar(value, "dataset.synthetic.preset"), SyntheticPreset(rawValue: name) != nil {
                    preset = name
                } else {
                    issue("dataset.synthetic.preset", value, "must be \(SyntheticPreset.listed)")
                }
            case "seed": seed = integer(value, "dataset.synthetic.seed", minimum: 0) ?? 0
            default: issue("dataset.synthetic.\(key)", value, "unknown key; expected preset, seed")
            }
        }
        guard let preset else {
            if !issues.contains(where: { $0.path == "dataset.synthetic.preset" }) { issue("dataset.synthetic.preset", node, "is required") }
            return nil
        }
        return .synthetic(preset: preset, seed: seed)
    }

    /// `dataset: {name: redial}`: the folder of that name on the search path (``DatasetSearch``).
    /// A stored copy of the file (no files checked) takes the first candidate.
    mutating func parseNamedDataset(_ node: Node) -> DatasetSource? {
        guard case .string(let name)? = scalar(node, "dataset.name"), DatasetSearch.isName(name) else {
            issue("dataset.name", node, "must be a dataset's folder name (letters, digits, _, - and .), e.g. redial")
            return nil
        }
        let search = DatasetSearch(file: file)
        if let found = search.find(name) { return .path(found.path) }
        guard checkFiles else { return .path(search.folders[0].appendingPathComponent(name).path) }
        issue(
            "dataset.name", node,
            "no dataset folder \(name) (with items.tsv) in \(search.folders.map(\.path).joined(separator: ", ")): put or link it in one of them, or list its parent folder in SWEEP_DATA_PATH"
        )
        return nil
    }

    static let programKeys = ["dir", "command", "config", "env"]

    mutating func parseProgram(_ node: Node) -> ProgramSpec? {
        guard let entries = pairs(node, "program") else { return nil }
        let fields = Dictionary(entries, uniquingKeysWith: { first, _ in first })
        for (key, value) in entries where !Self.programKeys.contains(key) {
            issue("program.\(key)", value, "unknown key; expected \(Self.programKeys.joined(separator: ", "))")
        }
        var directory: URL?
        if let dirNode = fields["dir"] {
            if case .string(let path)? = scalar(dirNode, "program.dir") {
                let url =
                    path.hasPrefix("/")
                    ? URL(fileURLWithPath: path)
                    : file.deletingLastPathComponent().appendingPathComponent(path).standardizedFileURL
                var isDirectory: ObjCBool = false
                if !checkFiles || (FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) && isDirectory.boolValue) {
                    directory = url
                } else {
                    issue("program.dir", dirNode, "\(url.path) is not a folder")
                }
            } else {
                issue("program.dir", dirNode, "must be a folder path (relative to this file)")
            }
        } else {
            issue("program.dir", node, "is required: the program's folder, shipped to workers")
        }
        var command: [String]?
        if let commandNode = fields["command"] {
            if case .sequence(let items) = commandNode, !items.isEmpty,
                case let words = items.compactMap({ $0.scalar?.string }), words.count == items.count, !words[0].isEmpty
            {
                command = words
            } else {
                issue("program.command", commandNode, "must be a non-empty list of words, e.g. [python3, train.py, --data, \"{data}\"]")
            }
        } else {
            issue("program.command", node, "is required, e.g. [python3, train.py, --data, \"{data}\", --out, \"{out}\"]")
        }
        var style = ProgramConfigStyle.args
        if let styleNode = fields["config"] {
            style =
                choice(styleNode, "program.config", "must be args (--key value), json (a file named by SWEEP_CONFIG) or env (SWEEP_<KEY>)")
                ?? style
        }
        var env: [String] = []
        if let envNode = fields["env"] {
            if case .sequence(let items) = envNode {
                for (index, item) in items.enumerated() {
                    guard let entry = item.scalar?.string else {
                        issue("program.env[\(index)]", item, "must be NAME (copied from the worker's environment) or NAME=value")
                        continue
                    }
                    let name = String(entry.prefix { $0 != "=" })
                    if name.isEmpty || name.first!.isNumber
                        || !name.unicodeScalars.allSatisfy({ ($0.isASCII && CharacterSet.alphanumerics.contains($0)) || $0 == "_" })
                    {
                        issue("program.env[\(index)]", item, "\(name) is not an environment variable name")
                    } else if name.hasPrefix("SWEEP_") {
                        issue("program.env[\(index)]", item, "SWEEP_* variables are set by the worker")
                    } else {
                        env.append(entry)
                    }
                }
            } else {
                issue("program.env", envNode, "must be a list: NAME (copied from the worker's environment) or NAME=value")
            }
        }
        guard let directory, let command else { return nil }
        return ProgramSpec(directory: directory, command: ProgramCommand(command: command, config: style, env: env))
    }

    static let tpeKeys = ["startup_trials", "candidates", "multivariate", "gamma", "constant_liar"]

    mutating func parseTPE(_ node: Node) -> TPESettings? {
        guard let entries = pairs(node, "tpe") else { return nil }
        var settings = TPESettings()
        for (key, value) in entries {
            let path = "tpe.\(key)"
            switch key {
            case "startup_trials": if let count = integer(value, path, minimum: 1) { settings.startupTrials = count }
            case "candidates": if let count = integer(value, path, minimum: 1) { settings.candidates = count }
            case "multivariate", "constant_liar":
                guard case .bool(let flag)? = scalar(value, path) else {
                    if value.scalar != nil { issue(path, value, "must be true or false") }
                    continue
                }
                if key == "multivariate" { settings.multivariate = flag } else { settings.constantLiar = flag }
            case "gamma":
                if let share = number(value, path, parent: node) {
                    if share > 0 && share <= 1 { settings.gamma = share } else { issue(path, value, "must be in (0, 1], got \(share)") }
                }
            default: issue(path, value, "unknown key; expected \(Self.tpeKeys.joined(separator: ", "))")
            }
        }
        return settings
    }

    static let nsga2Keys = ["population", "crossover", "crossover_prob", "swapping_prob", "mutation_prob", "sbx_eta"]

    /// `nsga2:`, for method nsga2 only (its defaults without it).
    mutating func parseNSGA2(_ node: Node?, method: SearchMethod) -> NSGA2Settings? {
        guard let node else { return method == .nsga2 ? NSGA2Settings() : nil }
        guard method == .nsga2 else {
            issue("nsga2", node, "is for method: nsga2")
            return nil
        }
        guard let entries = pairs(node, "nsga2") else { return nil }
        var settings = NSGA2Settings()
        func probability(_ value: Node, _ path: String) -> Double? {
            guard let share = number(value, path, parent: node) else { return nil }
            guard share >= 0 && share <= 1 else {
                issue(path, value, "must be in [0, 1], got \(share)")
                return nil
            }
            return share
        }
        for (key, value) in entries {
            let path = "nsga2.\(key)"
            switch key {
            case "population": if let count = integer(value, path, minimum: 2) { settings.population = count }
            case "crossover":
                settings.crossover = choice(value, path, "must be uniform or sbx") ?? settings.crossover
            case "crossover_prob": if let share = probability(value, path) { settings.crossoverProbability = share }
            case "swapping_prob": if let share = probability(value, path) { settings.swappingProbability = share }
            case "mutation_prob": if let share = probability(value, path) { settings.mutationProbability = share }
            case "sbx_eta":
                if let eta = number(value, path, parent: node) {
                    if eta > 0 { settings.sbxEta = eta } else { issue(path, value, "must be > 0, got \(eta)") }
                }
            default: issue(path, value, "unknown key; expected \(Self.nsga2Keys.joined(separator: ", "))")
            }
        }
        return settings
    }

    static let gpKeys = ["startup_trials", "candidates", "local_searches"]

    /// `gp:`, for method gp only (its defaults without it). A GP models numbers: a space of choices
    /// alone is refused.
    mutating func parseGP(_ node: Node?, method: SearchMethod, methodNode: Node, parameters: [Parameter]) -> GPSettings? {
        guard method == .gp else {
            if let node { issue("gp", node, "is for method: gp") }
            return nil
        }
        let numeric = parameters.contains { parameter in
            switch parameter.domain {
            case .uniform, .logUniform, .qUniform: true
            case .intUniform(let low, let high): high > low
            case .values: false
            }
        }
        if !numeric && !parameters.isEmpty {
            issue(
                "method", methodNode,
                "gp models numbers, and no parameter is a distribution (uniform, log_uniform, int_uniform, q_uniform): for choices alone tpe or grid fits"
            )
        }
        var settings = GPSettings()
        guard let node else { return settings }
        guard let entries = pairs(node, "gp") else { return nil }
        for (key, value) in entries {
            let path = "gp.\(key)"
            switch key {
            case "startup_trials": if let count = integer(value, path, minimum: 1) { settings.startupTrials = count }
            case "candidates": if let count = integer(value, path, minimum: 1) { settings.candidates = count }
            case "local_searches": if let count = integer(value, path, minimum: 1) { settings.localSearches = count }
            default: issue(path, value, "unknown key; expected \(Self.gpKeys.joined(separator: ", "))")
            }
        }
        return settings
    }

    /// `early_stopping` as parsed, with the nodes later checks point at.
    struct ParsedEarlyStopping {
        var earlyStopping: EarlyStopping
        var epochsKey: String
        var epochsNode: Node
    }

    static let earlyStoppingKeys = [
        "asha": ["type", "metric", "min_epochs", "reduction_factor"],
        "hyperband": ["type", "metric", "min_epochs", "reduction_factor"],
        "median": ["type", "metric", "warmup_epochs", "min_trials"],
    ]

    mutating func parseEarlyStopping(_ node: Node, ranking: Ranking?) -> ParsedEarlyStopping? {
        guard let entries = pairs(node, "early_stopping") else { return nil }
        let fields = Dictionary(entries, uniquingKeysWith: { first, _ in first })
        let types = ["asha", "hyperband", "median"]
        guard let typeNode = fields["type"] else {
            issue("early_stopping.type", node, "is required: one of \(types.joined(separator: ", "))")
            return nil
        }
        guard case .string(let type)? = scalar(typeNode, "early_stopping.type"), let keys = Self.earlyStoppingKeys[type] else {
            issue("early_stopping.type", typeNode, "must be one of \(types.joined(separator: ", "))")
            return nil
        }
        for (key, value) in entries where !keys.contains(key) {
            issue("early_stopping.\(key)", value, "unknown key for \(type); expected \(keys.joined(separator: ", "))")
        }
        func count(_ key: String, _ minimum: Int, _ fallback: Int) -> Int? {
            guard let value = fields[key] else { return fallback }
            return integer(value, "early_stopping.\(key)", minimum: minimum)
        }
        var judged = ranking?.objectives
        if let value = fields["metric"] {
            if let ranking, ranking.isMultiObjective {
                issue(
                    "early_stopping.metric", value,
                    "is for one objective; with several, asha and hyperband judge every objective (non-dominated sorting)")
                judged = nil
            } else {
                judged = earlyStoppingObjective(value, ranking: ranking).map { [$0] }
            }
        }
        let rule: EarlyStopping.Rule?, epochsKey: String
        switch type {
        case "median":
            if let ranking, ranking.isMultiObjective {
                issue(
                    "early_stopping.type", typeNode,
                    "median compares one value with the median of others; several objectives have no median: use asha or hyperband")
            }
            epochsKey = "warmup_epochs"
            let warmup = count("warmup_epochs", 0, 1), minimum = count("min_trials", 1, 5)
            rule = warmup.flatMap { warmup in minimum.map { .median(warmupEpochs: warmup, minTrials: $0) } }
        default:
            epochsKey = "min_epochs"
            let minimum = count("min_epochs", 1, 1), factor = count("reduction_factor", 2, 3)
            rule = minimum.flatMap { minimum in
                factor.map {
                    type == "asha" ? .asha(minEpochs: minimum, reductionFactor: $0) : .hyperband(minEpochs: minimum, reductionFactor: $0)
                }
            }
        }
        guard let rule, let judged else { return nil }
        return ParsedEarlyStopping(
            earlyStopping: EarlyStopping(rule: rule, objectives: judged), epochsKey: epochsKey, epochsNode: fields[epochsKey] ?? node)
    }

    /// `early_stopping.metric`: the sweep's objective when it names it; another metric as
    /// `{name, goal}`, or by name alone when it is better higher.
    mutating func earlyStoppingObjective(_ node: Node, ranking: Ranking?) -> Objective? {
        let path = "early_stopping.metric"
        guard case .scalar = node else { return parseObjective(node, path).objective }
        guard let name = metricName(node, path) else { return nil }
        if let sweeps = ranking?.objectives.first(where: { $0.metric == name }) { return sweeps }
        if name == "pop_overlap@10" {
            issue(path, node, "valid_pop_overlap@10 is better lower: write {name: valid_pop_overlap@10, goal: minimize}")
            return nil
        }
        return Objective(metric: name)
    }

    /// A rule needs trials long enough to be judged at least once.
    mutating func checkEpochs(_ parsed: ParsedEarlyStopping, shortest: Int) {
        let path = "early_stopping.\(parsed.epochsKey)"
        switch parsed.earlyStopping.rule {
        case .asha(let minimum, _), .hyperband(let minimum, _):
            if minimum >= shortest {
                issue(
                    path, parsed.epochsNode,
                    "must be less than every trial's epochs (\(minimum) ≥ \(shortest)): no trial would reach a rung")
            }
        case .median(let warmup, _):
            if warmup + 1 >= shortest {
                issue(
                    path, parsed.epochsNode,
                    "must be less than every trial's epochs − 1 (the shortest has \(shortest)): no epoch would be judged")
            }
        }
    }

    /// `metric:` (one objective) or `objectives:` (2 to 4), and `constraints:`.
    mutating func parseRanking(_ fields: [String: Node], root: Node) -> Ranking? {
        var objectives: [Objective]?, reference: [Double]?
        switch (fields["metric"], fields["objectives"]) {
        case (let metric?, let list?):
            issue(
                "objectives", list,
                "cannot stand beside metric (line \((metric.mark?.line).map(String.init) ?? "?")): metric is one objective, objectives 2 to 4"
            )
        case (nil, let list?): (objectives, reference) = parseObjectives(list)
        case (let metric?, nil):
            let parsed = parseObjective(metric, "metric")
            objectives = parsed.objective.map { [$0] }
            reference = parsed.reference.map { [$0] }
        case (nil, nil):
            if isProgram {
                issue(
                    "metric", root,
                    "is required for a program or function sweep: {name: valid_<a key the program reports>, goal: maximize}")
            } else {
                objectives = [Objective(metric: "ndcg@10")]
            }
        }
        let constraints = fields["constraints"].map { parseConstraints($0) } ?? []
        return objectives.map { Ranking(objectives: $0, constraints: constraints, reference: reference) }
    }

    /// `objectives: [{name, goal, reference}, …]`: 2 to 4 distinct metrics; `reference` (the
    /// hypervolume's reference point) on all of them or none.
    mutating func parseObjectives(_ node: Node) -> ([Objective]?, reference: [Double]?) {
        guard case .sequence(let entries) = node, (2...4).contains(entries.count) else {
            issue("objectives", node, "must be a list of 2 to 4 objectives ({name: valid_…, goal: maximize | minimize}); one is metric:")
            return (nil, nil)
        }
        var objectives: [Objective] = [], references: [Double?] = [], failed = false
        for (index, entry) in entries.enumerated() {
            let path = "objectives[\(index)]"
            let (parsed, reference) = parseObjective(entry, path)
            guard let objective = parsed else {
                failed = true
                continue
            }
            references.append(reference)
            if objectives.contains(where: { $0.metric == objective.metric }) {
                issue(path, entry, "valid_\(objective.metric) is already an objective: each metric once")
                failed = true
            }
            objectives.append(objective)
        }
        let given = references.compactMap { $0 }
        if !given.isEmpty && given.count != references.count {
            issue("objectives", node, "reference is given for some objectives but not all: the hypervolume needs one point")
            failed = true
        }
        return failed ? (nil, nil) : (objectives, given.isEmpty ? nil : given)
    }

    /// `{name: valid_…, goal: maximize | minimize, reference: x}`: the objective, and its
    /// coordinate of the hypervolume's reference point when given.
    mutating func parseObjective(_ node: Node, _ path: String) -> (objective: Objective?, reference: Double?) {
        guard let entries = pairs(node, path) else { return (nil, nil) }
        var name: String?, goal = Goal.maximize, reference: Double?, named = false
        for (key, value) in entries {
            switch key {
            case "name":
                named = true
                name = metricName(value, "\(path).name")
            case "goal": goal = choice(value, "\(path).goal", "must be maximize or minimize") ?? goal
            case "reference": reference = number(value, "\(path).reference", parent: node)
            default: issue("\(path).\(key)", value, "unknown key; expected name, goal, reference")
            }
        }
        if !named { issue("\(path).name", node, "is required") }
        return (name.map { Objective(metric: $0, goal: goal) }, reference)
    }

    /// `constraints: [{metric: valid_…, min: x, max: y}, …]`.
    mutating func parseConstraints(_ node: Node) -> [OutcomeConstraint] {
        guard case .sequence(let entries) = node else {
            issue("constraints", node, "must be a list of {metric: valid_…, min: …, max: …}")
            return []
        }
        var constraints: [OutcomeConstraint] = []
        for (index, entry) in entries.enumerated() {
            let path = "constraints[\(index)]"
            guard let fields = pairs(entry, path) else { continue }
            var constraint = OutcomeConstraint(metric: ""), valid = true
            for (key, value) in fields {
                switch key {
                case "metric": if let name = metricName(value, "\(path).metric") { constraint.metric = name } else { valid = false }
                case "min": constraint.min = number(value, "\(path).min", parent: entry)
                case "max": constraint.max = number(value, "\(path).max", parent: entry)
                default: issue("\(path).\(key)", value, "unknown key; expected metric, min, max")
                }
            }
            if valid && constraint.metric.isEmpty { issue("\(path).metric", entry, "is required") }
            if constraint.min == nil && constraint.max == nil { issue(path, entry, "needs min, max or both") }
            if let low = constraint.min, let high = constraint.max, low > high {
                issue(path, entry, "min \(low) is above max \(high): no value is feasible")
            }
            if !constraint.metric.isEmpty { constraints.append(constraint) }
        }
        return constraints
    }

    /// A metric on valid as a sweep file names it (`valid_ndcg@10`), returned bare: for the
    /// built-in trainer one it reports per epoch, for a program any key; never a test metric.
    mutating func metricName(_ node: Node, _ path: String) -> String? {
        let names = TrialConfig.selectableMetrics.map { "valid_\($0)" }
        guard case .string(let name)? = scalar(node, path) else {
            issue(path, node, "must be a metric name such as valid_ndcg@10")
            return nil
        }
        if name.hasPrefix("test_") {
            issue(path, node, "\(name): sweeps rank, constrain and stop on valid, never on test")
            return nil
        }
        let bare = name.hasPrefix("valid_") ? String(name.dropFirst("valid_".count)) : ""
        if isProgram {
            if !bare.isEmpty { return bare }
            issue(path, node, "must be a valid_* key the program reports, e.g. valid_ndcg@10 (sweeps rank on valid, never on test)")
            return nil
        }
        if names.contains(name) { return bare }
        issue(path, node, "\(name) is not a metric the trainer reports; expected one of \(names.joined(separator: ", "))")
        return nil
    }

    mutating func parseVariant(_ node: Node, _ path: String) -> Variant? {
        guard let entries = pairs(node, path) else { return nil }
        var name: String?, values: [String: ConfigValue] = [:], lines: [String: Int] = [:]
        for (key, value) in entries {
            if key == "name" {
                if case .string(let text)? = scalar(value, "\(path).name"), !text.isEmpty {
                    name = text
                } else {
                    issue("\(path).name", value, "must be a non-empty name")
                }
            } else if configKey(key, value, "\(path).\(key)"), let parsed = scalar(value, "\(path).\(key)") {
                values[key] = parsed
                lines[key] = value.mark?.line
            }
        }
        guard let name else {
            if !issues.contains(where: { $0.path == "\(path).name" }) { issue("\(path).name", node, "is required") }
            return nil
        }
        return Variant(name: name, values: values, lines: lines)
    }

    static let parameterKeys = ["values", "value", "distribution", "min", "max", "q", "when"]
    /// 2^53: every integer up to it is exact in a double, which int_uniform draws through.
    static let largestExactInteger = 9_007_199_254_740_992.0

    mutating func parseParameter(_ key: String, _ node: Node, _ path: String, method: SearchMethod) -> Parameter? {
        guard let entries = pairs(node, path) else { return nil }
        let fields = Dictionary(entries, uniquingKeysWith: { first, _ in first })
        for (field, value) in entries where !Self.parameterKeys.contains(field) {
            issue("\(path).\(field)", value, "unknown key; expected values, value, distribution (with min, max, q) or when")
        }
        let forms = ["values", "value", "distribution"].filter { fields[$0] != nil }
        guard forms.count == 1 else {
            issue(path, node, forms.isEmpty ? "needs values, value or distribution" : "give only one of \(forms.joined(separator: ", "))")
            return nil
        }
        var domain: Domain?
        if let list = fields["values"] {
            if case .sequence(let sequence) = list {
                let values = sequence.enumerated().compactMap { scalar($0.element, "\(path).values[\($0.offset)]") }
                if sequence.isEmpty {
                    issue("\(path).values", list, "is empty")
                } else if values.count == sequence.count {
                    domain = .values(values)
                }
            } else {
                issue("\(path).values", list, "must be a list")
            }
        } else if let single = fields["value"] {
            if let value = scalar(single, "\(path).value") { domain = .values([value]) }
        } else if let kindNode = fields["distribution"] {
            let kinds = ["uniform", "log_uniform", "int_uniform", "q_uniform"]
            guard case .string(let kind)? = scalar(kindNode, "\(path).distribution"), kinds.contains(kind) else {
                issue("\(path).distribution", kindNode, "must be one of \(kinds.joined(separator: ", "))")
                return nil
            }
            if method == .grid {
                issue("\(path).distribution", kindNode, "a grid needs a list of values; \(kind) is for random search and TPE")
            }
            let minimum = number(fields["min"], "\(path).min", parent: node)
            let maximum = number(fields["max"], "\(path).max", parent: node)
            if let minimum, let maximum {
                if minimum >= maximum { issue("\(path).min", fields["min"], "must be less than max (\(minimum) ≥ \(maximum))") }
                switch kind {
                case "log_uniform" where minimum <= 0:
                    issue("\(path).min", fields["min"], "a log range needs min > 0, got \(minimum)")
                case "int_uniform" where minimum.rounded() != minimum || maximum.rounded() != maximum:
                    issue("\(path).min", fields["min"], "int_uniform needs integer bounds")
                case "int_uniform" where max(abs(minimum), abs(maximum)) > Self.largestExactInteger:
                    let (field, bound) = abs(minimum) > abs(maximum) ? ("min", minimum) : ("max", maximum)
                    issue(
                        "\(path).\(field)", fields[field],
                        "int_uniform bounds must lie within ±\(Int(Self.largestExactInteger)) (2^53, where a draw is still exact), got \(bound)"
                    )
                    return nil
                case "uniform" where !(maximum - minimum).isFinite, "q_uniform" where !(maximum - minimum).isFinite:
                    issue(
                        path, node,
                        "the range from \(minimum) to \(maximum) is wider than a double can hold, so its draws would be infinite")
                    return nil
                default: break
                }
                if kind == "q_uniform" {
                    let q = number(fields["q"], "\(path).q", parent: node)
                    if let q, q <= 0 { issue("\(path).q", fields["q"], "must be > 0") }
                    if let q, q > 0 { domain = .qUniform(min: minimum, max: maximum, q: q) }
                } else if let stray = fields["q"] {
                    issue("\(path).q", stray, "is only for q_uniform")
                }
                switch kind {
                case "uniform": domain = .uniform(min: minimum, max: maximum)
                case "log_uniform": domain = .logUniform(min: minimum, max: maximum)
                case "int_uniform": domain = .intUniform(min: Int(minimum), max: Int(maximum))
                default: break
                }
            }
        }
        for field in ["min", "max"] where fields[field] != nil && fields["distribution"] == nil {
            issue("\(path).\(field)", fields[field], "is only for a distribution")
        }
        var conditions: [Condition] = []
        if let when = fields["when"], let entries = pairs(when, "\(path).when") {
            if entries.isEmpty { issue("\(path).when", when, "is empty") }
            for (conditionKey, value) in entries {
                let conditionPath = "\(path).when.\(conditionKey)"
                if conditionKey == key { issue(conditionPath, value, "a parameter cannot depend on itself") }
                if case .sequence(let sequence) = value {
                    let values = sequence.compactMap { scalar($0, conditionPath) }
                    if sequence.isEmpty { issue(conditionPath, value, "is an empty list") }
                    conditions.append(Condition(key: conditionKey, anyOf: values))
                } else if let single = scalar(value, conditionPath) {
                    conditions.append(Condition(key: conditionKey, anyOf: [single]))
                }
            }
        }
        guard let domain else { return nil }
        return Parameter(key: key, domain: domain, conditions: conditions, line: node.mark?.line)
    }
}
