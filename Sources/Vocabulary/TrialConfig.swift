import Foundation
import Yams

/// A trial config key set wrongly: unknown, out of range, of the wrong type, or set where it is not used.
public struct ConfigError: Error, CustomStringConvertible, Equatable, Sendable {
    public var key: String
    public var message: String

    public init(key: String, message: String) {
        self.key = key
        self.message = message
    }

    public var description: String { "config key '\(key)': \(message)" }
}

/// A scalar config value as written in YAML or JSON.
public enum ConfigValue: Sendable, Equatable, Hashable, CustomStringConvertible, Decodable {
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)

    /// A YAML scalar as YAML resolves it (`Bool`, `Int`, finite `Double`, `String`); nil for a
    /// mapping, a list, null, `.inf` and `.nan` (no config or store holds a non-finite number).
    public init?(scalar node: Node) {
        guard let value = try? Self.reading(node) else { return nil }
        self = value
    }

    /// Why a YAML node is no config value.
    public enum Refusal: Error {
        /// A number YAML reads as `.inf`, `-.inf` or `.nan`.
        case nonFinite(Double)
        /// A mapping, a list or null.
        case notAScalar
    }

    /// A YAML scalar as YAML resolves it, or why it is none (each reader words the error its own way).
    public static func reading(_ node: Node) throws(Refusal) -> ConfigValue {
        if let number = node.any as? Double, !number.isFinite { throw .nonFinite(number) }
        guard let value = resolved(node) else { throw .notAScalar }
        return value
    }

    /// A scalar node's value (``reading(_:)`` has refused the non-finite numbers already).
    private static func resolved(_ node: Node) -> ConfigValue? {
        guard node.scalar != nil else { return nil }
        switch node.any {
        case let value as Bool: return .bool(value)
        case let value as Int: return .int(value)
        case let value as Double: return .double(value)
        case let value as String: return .string(value)
        default: return nil
        }
    }

    /// Decodes a JSON scalar strictly: `true` is a boolean, `3` an integer, `0.5` a number.
    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int.self) {
            self = .int(value)
        } else if let value = try? container.decode(Double.self) {
            self = .double(value)
        } else {
            self = .string(try container.decode(String.self))
        }
    }

    /// Parses a command-line `key=value` value as a YAML scalar (`true`, `3`, `1e-3`, `focal`).
    public init(parsing text: String) {
        let scalar = (try? Yams.compose(yaml: text)).flatMap { $0.flatMap(ConfigValue.init(scalar:)) }
        self = scalar ?? .string(text)
    }

    public var description: String {
        switch self {
        case .bool(let value): String(value)
        case .int(let value): String(value)
        case .double(let value): String(value)
        case .string(let value): value
        }
    }

    /// The value as a number, when it is one (an integer widened to a double).
    public var number: Double? {
        switch self {
        case .int(let value): Double(value)
        case .double(let value): value
        default: nil
        }
    }

    /// Whether two values are the same: numbers by value (1 equals 1.0), anything else exactly.
    public func sameValue(as other: ConfigValue) -> Bool {
        if let x = number, let y = other.number { return x == y }
        return self == other
    }
}

/// Every parameter of `ml.md` with its default. Parsing rejects unknown keys, out-of-range values
/// and keys set where they are not used; ``activeValues`` holds exactly the keys in use.
public struct TrialConfig: Sendable, Equatable, Hashable {
    public enum Loss: String, Sendable, CaseIterable {
        case bce, weightedBCE = "weighted_bce", focal, classBalanced = "class_balanced", ldam
    }

    /// What scores the items: the network of `ml.md`, or nothing but the co-occurrence prior.
    public enum Model: String, Sendable, CaseIterable {
        case ffn, none
    }

    public enum Balancer: String, Sendable, CaseIterable {
        case fixed, uncertainty, gradnorm, dwa
    }

    public var loss = Loss.weightedBCE
    public var posWeightMult = 1.0
    public var focalGamma = 2.0
    public var focalAlpha = 0.25
    public var cbBeta = 0.9999
    public var rnn = false
    public var multitask = false
    public var balancer = Balancer.fixed
    public var alpha = 0.001
    public var gradnormAlpha = 1.5
    public var gradnormLR = 0.025
    public var dwaTemp = 2.0
    public var dropout = 0.1
    public var lr = 0.001
    public var batchSize = 32
    public var epochs = 20
    public var seed = 0
    public var selectMetric = "ndcg@10"
    /// Whether the best epoch has the highest or the lowest `select_metric` (an extension key:
    /// `maximize`, the default, is left out of the canonical config).
    public var selectGoal = Goal.maximize
    // Extensions of the contract (docs/ml-extensions.md).
    public var model = Model.ffn
    public var hidden = 512
    public var weightDecay = 0.0
    public var ldamMaxMargin = 0.5
    public var ldamScale = 1.0
    public var ldamDRWEpoch = 0
    public var cooc = CooccurrenceMode.none
    public var coocWeight = 1.0
    public var coocPopularity = 0.1
    public var knnK = 0
    public var knnWeight = 1.0
    public var knnPower = 1.0
    /// A program trial's own keys (any names, values as the sweep file gives them); nil for the
    /// built-in trainer. A program config has no `ml.md` keys but `seed` (passed to the program
    /// like its own keys) and `select_metric` (a name the program reports on valid).
    public var programKeys: [String: ConfigValue]?

    public init() {}

    /// A program trial's config.
    public init(programKeys: [String: ConfigValue], seed: Int, selectMetric: String, selectGoal: Goal = .maximize) {
        self.programKeys = programKeys
        self.seed = seed
        self.selectMetric = selectMetric
        self.selectGoal = selectGoal
    }

    /// What the trial selects its best epoch by: `select_metric` in `select_goal`.
    public var selection: Objective { Objective(metric: selectMetric, goal: selectGoal) }

    /// The key whose value `true` marks a stored config as a program's; programs cannot use it, nor
    /// `seed`, `select_metric` or `select_goal`, as keys of their own.
    public static let programMarker = "program"
    public static let reservedProgramKeys = sharedProgramKeys.union([programMarker])
    /// The keys a program config has beside its own: its seed and what selects its best epoch.
    static let sharedProgramKeys: Set<String> = ["seed", "select_metric", "select_goal"]

    /// Whether this config runs a user program rather than the built-in trainer.
    public var isProgram: Bool { programKeys != nil }

    /// The keys in `ml.md`'s order, then the extensions'.
    public static let keys = Key.allCases.map(\.rawValue)

    /// The keys docs/ml-extensions.md adds. At its default such a key is left out of a config's
    /// canonical form (and of every listing), so a config of the v1 contract keeps its trial id.
    public static let extensionKeys = Key.allCases.filter(\.isExtension).map(\.rawValue)

    /// Every key, in ``keys`` order. The rules below switch over these: a key's name is hashed
    /// once to find it, where a switch over 30 names compared them one by one (listing 30,000
    /// configs' active values for a dashboard spent most of its time there).
    enum Key: String, CaseIterable {
        case loss, posWeightMult = "pos_weight_mult", focalGamma = "focal_gamma", focalAlpha = "focal_alpha", cbBeta = "cb_beta", rnn,
            multitask, balancer, alpha, gradnormAlpha = "gradnorm_alpha", gradnormLR = "gradnorm_lr", dwaTemp = "dwa_temp", dropout, lr,
            batchSize = "batch_size", epochs, seed, selectMetric = "select_metric"
        case model, hidden, weightDecay = "weight_decay", ldamMaxMargin = "ldam_max_margin", ldamScale = "ldam_scale",
            ldamDRWEpoch = "ldam_drw_epoch", cooc, coocWeight = "cooc_weight", coocPopularity = "cooc_popularity", knnK = "knn_k",
            knnWeight = "knn_weight", knnPower = "knn_power", selectGoal = "select_goal"

        static let byName = Dictionary(uniqueKeysWithValues: allCases.map { ($0.rawValue, $0) })

        /// An extension key (docs/ml-extensions.md). Every key is listed on one side: a key added
        /// later must be placed, since an extension key at its default leaves the canonical config
        /// (and so every trial id) as it was.
        var isExtension: Bool {
            switch self {
            case .model, .hidden, .weightDecay, .ldamMaxMargin, .ldamScale, .ldamDRWEpoch, .cooc, .coocWeight, .coocPopularity, .knnK,
                .knnWeight, .knnPower, .selectGoal:
                true
            case .loss, .posWeightMult, .focalGamma, .focalAlpha, .cbBeta, .rnn, .multitask, .balancer, .alpha, .gradnormAlpha, .gradnormLR,
                .dwaTemp, .dropout, .lr, .batchSize, .epochs, .seed, .selectMetric:
                false
            }
        }

        /// A key that only matters when a network trains (inactive with `model: none`).
        var trains: Bool {
            switch self {
            case .seed, .selectMetric, .selectGoal, .model, .cooc, .coocWeight, .coocPopularity, .knnK, .knnWeight, .knnPower: false
            case .loss, .posWeightMult, .focalGamma, .focalAlpha, .cbBeta, .rnn, .multitask, .balancer, .alpha, .gradnormAlpha, .gradnormLR,
                .dwaTemp, .dropout, .lr, .batchSize, .epochs, .hidden, .weightDecay, .ldamMaxMargin, .ldamScale, .ldamDRWEpoch:
                true
            }
        }
    }

    /// The epochs the trial trains (1 for a prior alone, which is evaluated once; a program's
    /// integer `epochs` key, else 0: unknown).
    public var epochBudget: Int {
        if let programKeys {
            if case .int(let epochs)? = programKeys["epochs"] { return epochs }
            return 0
        }
        return model == .none ? 1 : epochs
    }

    /// Metrics a trial may select its best epoch by: every metric the trainer reports on valid
    /// (`ml.md`'s four, and docs/ml-extensions.md adds the two collapse diagnostics).
    public static let selectableMetrics = RankingMetrics.names

    /// Whether `key` is used by this config, and if not, why.
    public func inactiveReason(_ key: String) -> String? {
        if let programKeys {
            return programKeys[key] != nil || Self.sharedProgramKeys.contains(key) ? nil : "not a key of this program config"
        }
        return Key.byName[key].flatMap(inactiveReason)
    }

    func inactiveReason(_ key: Key) -> String? {
        if model == .none && key.trains { return "not used with model: none (the prior alone trains nothing)" }
        return switch key {
        case .ldamMaxMargin, .ldamScale, .ldamDRWEpoch: loss == .ldam ? nil : "only used with loss: ldam"
        case .coocWeight, .coocPopularity: cooc != .none ? nil : "only used with cooc: dialogue or target"
        case .knnWeight, .knnPower: knnK > 0 ? nil : "only used with knn_k > 0"
        case .posWeightMult: loss == .weightedBCE ? nil : "only used with loss: weighted_bce"
        case .focalGamma, .focalAlpha: loss == .focal ? nil : "only used with loss: focal"
        case .cbBeta: loss == .classBalanced ? nil : "only used with loss: class_balanced"
        case .balancer: multitask ? nil : "only used with multitask: true"
        case .alpha: multitask && balancer == .fixed ? nil : "only used with multitask: true and balancer: fixed"
        case .gradnormAlpha, .gradnormLR: multitask && balancer == .gradnorm ? nil : "only used with multitask: true and balancer: gradnorm"
        case .dwaTemp: multitask && balancer == .dwa ? nil : "only used with multitask: true and balancer: dwa"
        case .loss, .rnn, .multitask, .dropout, .lr, .batchSize, .epochs, .seed, .selectMetric, .selectGoal, .model, .hidden, .weightDecay,
            .cooc, .knnK:
            nil
        }
    }

    public func isActive(_ key: String) -> Bool { inactiveReason(key) == nil }

    /// The value of a key (active or not).
    public func value(_ key: String) -> ConfigValue? {
        if let programKeys, !Self.sharedProgramKeys.contains(key) { return programKeys[key] }
        return Key.byName[key].map(value)
    }

    func value(_ key: Key) -> ConfigValue {
        switch key {
        case .loss: .string(loss.rawValue)
        case .posWeightMult: .double(posWeightMult)
        case .focalGamma: .double(focalGamma)
        case .focalAlpha: .double(focalAlpha)
        case .cbBeta: .double(cbBeta)
        case .rnn: .bool(rnn)
        case .multitask: .bool(multitask)
        case .balancer: .string(balancer.rawValue)
        case .alpha: .double(alpha)
        case .gradnormAlpha: .double(gradnormAlpha)
        case .gradnormLR: .double(gradnormLR)
        case .dwaTemp: .double(dwaTemp)
        case .dropout: .double(dropout)
        case .lr: .double(lr)
        case .batchSize: .int(batchSize)
        case .epochs: .int(epochs)
        case .seed: .int(seed)
        case .selectMetric: .string(selectMetric)
        case .selectGoal: .string(selectGoal.rawValue)
        case .model: .string(model.rawValue)
        case .hidden: .int(hidden)
        case .weightDecay: .double(weightDecay)
        case .ldamMaxMargin: .double(ldamMaxMargin)
        case .ldamScale: .double(ldamScale)
        case .ldamDRWEpoch: .int(ldamDRWEpoch)
        case .cooc: .string(cooc.rawValue)
        case .coocWeight: .double(coocWeight)
        case .coocPopularity: .double(coocPopularity)
        case .knnK: .int(knnK)
        case .knnWeight: .double(knnWeight)
        case .knnPower: .double(knnPower)
        }
    }

    /// Every active key with its value, defaults filled in, in `ml.md`'s order (an extension key
    /// only when it is not at its default).
    public var activeValues: [(key: String, value: ConfigValue)] {
        if let programKeys {
            return programKeys.sorted { $0.key < $1.key }.map { ($0.key, $0.value) } + [
                ("seed", .int(seed)), ("select_metric", .string(selectMetric)),
            ] + (selectGoal == .maximize ? [] : [("select_goal", .string(selectGoal.rawValue))])
        }
        return Key.allCases.compactMap { key in activeValue(key).map { (key.rawValue, $0) } }
    }

    /// The same values by position in ``keys`` (nil where a key is not listed); empty for a
    /// program config. No key is named: what a dashboard compares across 30,000 configs.
    public var activeValuesByPosition: [ConfigValue?] {
        programKeys == nil ? Key.allCases.map(activeValue) : []
    }

    /// A key's value when it is listed: active, and for an extension key not at its default.
    func activeValue(_ key: Key) -> ConfigValue? {
        guard inactiveReason(key) == nil else { return nil }
        let value = value(key)
        return key.isExtension && value.sameValue(as: Self.defaults.value(key)) ? nil : value
    }

    /// A config of every default.
    static let defaults = TrialConfig()

    /// The active values as a dictionary (for JSON output).
    public var activeDictionary: [String: ConfigValue] {
        Dictionary(uniqueKeysWithValues: activeValues.map { ($0.key, $0.value) })
    }

    /// Builds a config from explicit key/value pairs, validating each. Keys not given keep defaults.
    public static func parse(_ values: [String: ConfigValue]) throws -> TrialConfig {
        if values[programMarker] == .bool(true) { return try parseProgram(values) }
        var config = TrialConfig()
        for key in values.keys.sorted() where !keys.contains(key) {
            let hint = keys.min { editDistance($0, key) < editDistance($1, key) }.map { " (did you mean '\($0)'?)" } ?? ""
            throw ConfigError(key: key, message: "unknown key\(hint); known keys: \(keys.joined(separator: ", "))")
        }
        for key in Key.allCases { if let value = values[key.rawValue] { try config.set(key, value) } }
        for key in keys where values[key] != nil {
            if let reason = config.inactiveReason(key) {
                throw ConfigError(key: key, message: "is set but \(reason), so it would change nothing")
            }
        }
        if config.model == .none && config.cooc == .none && config.knnK == 0 {
            throw ConfigError(key: "model", message: "none scores with the prior alone: set cooc to dialogue or target, or knn_k above 0")
        }
        return config
    }

    /// Builds a config the way a sweep does: a key that is inactive given the others is dropped
    /// (it applies where it is active and is absent elsewhere); type and range errors still throw.
    public static func parseDroppingInactive(_ values: [String: ConfigValue]) throws -> TrialConfig {
        if values[programMarker] == .bool(true) { return try parseProgram(values) }
        var lenient = TrialConfig()
        for key in Key.allCases { if let value = values[key.rawValue] { try lenient.set(key, value) } }
        return try parse(values.filter { lenient.isActive($0.key) })
    }

    /// A program config: `program: true`, `seed`, `select_metric` and the program's own keys.
    static func parseProgram(_ values: [String: ConfigValue]) throws -> TrialConfig {
        var seed = 0
        if let value = values["seed"] {
            guard case .int(let v) = value, v >= 0 else { throw ConfigError(key: "seed", message: "must be an integer ≥ 0, got \(value)") }
            seed = v
        }
        guard case .string(let metric)? = values["select_metric"], !metric.isEmpty else {
            throw ConfigError(key: "select_metric", message: "a program config needs the name of the metric it is ranked on")
        }
        for (key, value) in values.sorted(by: { $0.key < $1.key }) {
            if let number = value.number, !number.isFinite { throw ConfigError(key: key, message: "must be a finite number, got \(value)") }
        }
        var goal = Goal.maximize
        if let value = values["select_goal"] {
            guard case .string(let text) = value, let named = Goal(rawValue: text) else {
                throw ConfigError(key: "select_goal", message: "must be maximize or minimize, got \(value)")
            }
            goal = named
        }
        return TrialConfig(
            programKeys: values.filter { !reservedProgramKeys.contains($0.key) }, seed: seed, selectMetric: metric, selectGoal: goal)
    }

    /// Parses a YAML or JSON mapping of config keys.
    public static func parse(yaml text: String) throws -> TrialConfig {
        try parse(ConfigDocument(text: text).values())
    }

    /// Parses a JSON object of config keys (faster than YAML, for stored canonical configs).
    public static func parse(json text: String) throws -> TrialConfig {
        // A stored config (``jsonText()``) is read by hand; what that reader leaves (escapes, a
        // repeated key) goes to JSONDecoder, which accepts it or says why not.
        if let values = JSONByteReader.read(text, { $0.members { $0.configValue() } }) {
            return try parse(values)
        }
        guard let values = try? JSONDecoder().decode([String: ConfigValue].self, from: Data(text.utf8)) else {
            throw ConfigError(key: "(document)", message: "not a JSON object of config keys")
        }
        return try parse(values)
    }

    private mutating func set(_ key: Key, _ value: ConfigValue) throws {
        let keyName = key.rawValue
        func number() throws -> Double {
            guard let v = value.number, v.isFinite else {
                throw ConfigError(key: keyName, message: "must be a finite number, got \(value)")
            }
            return v
        }
        func integer(minimum: Int) throws -> Int {
            guard case .int(let v) = value else { throw ConfigError(key: keyName, message: "must be an integer, got \(value)") }
            guard v >= minimum else { throw ConfigError(key: keyName, message: "must be ≥ \(minimum), got \(v)") }
            return v
        }
        func flag() throws -> Bool {
            guard case .bool(let v) = value else { throw ConfigError(key: keyName, message: "must be true or false, got \(value)") }
            return v
        }
        func name<T: RawRepresentable & CaseIterable>(_: T.Type) throws -> T where T.RawValue == String {
            guard case .string(let text) = value, let v = T(rawValue: text) else {
                throw ConfigError(
                    key: keyName, message: "must be one of \(T.allCases.map(\.rawValue).joined(separator: ", ")), got \(value)")
            }
            return v
        }
        func check(_ ok: Bool, _ rule: String, _ v: Double) throws -> Double {
            guard ok else { throw ConfigError(key: keyName, message: "must be \(rule), got \(v)") }
            return v
        }
        switch key {
        case .loss: loss = try name(Loss.self)
        case .posWeightMult: let v = try number(); posWeightMult = try check(v > 0, "> 0", v)
        case .focalGamma: let v = try number(); focalGamma = try check(v >= 0, "≥ 0", v)
        case .focalAlpha: let v = try number(); focalAlpha = try check(v <= 1, "in [0, 1], or < 0 to disable", v)
        case .cbBeta: let v = try number(); cbBeta = try check(v >= 0 && v < 1, "in [0, 1)", v)
        case .rnn: rnn = try flag()
        case .multitask: multitask = try flag()
        case .balancer: balancer = try name(Balancer.self)
        case .alpha: let v = try number(); alpha = try check(v >= 0, "≥ 0", v)
        case .gradnormAlpha: let v = try number(); gradnormAlpha = try check(v >= 0, "≥ 0", v)
        case .gradnormLR: let v = try number(); gradnormLR = try check(v > 0, "> 0", v)
        case .dwaTemp: let v = try number(); dwaTemp = try check(v > 0, "> 0", v)
        case .dropout: let v = try number(); dropout = try check(v >= 0 && v < 1, "in [0, 1)", v)
        case .lr: let v = try number(); lr = try check(v > 0, "> 0", v)
        case .batchSize: batchSize = try integer(minimum: 1)
        case .epochs: epochs = try integer(minimum: 1)
        case .seed: seed = try integer(minimum: 0)
        case .model: model = try name(Model.self)
        case .hidden: hidden = try integer(minimum: 1)
        case .weightDecay: let v = try number(); weightDecay = try check(v >= 0, "≥ 0", v)
        case .ldamMaxMargin: let v = try number(); ldamMaxMargin = try check(v > 0, "> 0", v)
        case .ldamScale: let v = try number(); ldamScale = try check(v > 0, "> 0", v)
        case .ldamDRWEpoch: ldamDRWEpoch = try integer(minimum: 0)
        case .cooc: cooc = try name(CooccurrenceMode.self)
        case .coocWeight: let v = try number(); coocWeight = try check(v >= 0, "≥ 0", v)
        case .coocPopularity: let v = try number(); coocPopularity = try check(v >= 0, "≥ 0", v)
        case .knnK: knnK = try integer(minimum: 0)
        case .knnWeight: let v = try number(); knnWeight = try check(v >= 0, "≥ 0", v)
        case .knnPower: let v = try number(); knnPower = try check(v >= 0, "≥ 0", v)
        case .selectMetric:
            guard case .string(let text) = value, Self.selectableMetrics.contains(text) else {
                throw ConfigError(key: keyName, message: "must be one of \(Self.selectableMetrics.joined(separator: ", ")), got \(value)")
            }
            selectMetric = text
        case .selectGoal: selectGoal = try name(Goal.self)
        }
    }

    /// The active keys as canonical JSON: keys in byte order, numbers in Swift's shortest
    /// round-trip form, no spaces. Trial ids hash this text, so it must never depend on the locale
    /// or the platform's JSON writer.
    public func jsonText() -> String {
        var writer = JSONByteWriter()
        writer.beginObject()
        for (key, value) in canonicalValues.sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }) {
            writer.key(key)
            switch value {
            case .bool(let flag): writer.bool(flag)
            case .int(let number): writer.integer(number)
            // An integral double is written as an integer (`lr: 1` and `lr: 1.0` are one trial).
            case .double(let number) where number == number.rounded() && abs(number) < 1e15: writer.integer(Int(number))
            case .double(let number): writer.numberOrNull(number)  // a config's numbers are finite
            case .string(let text): writer.string(text)
            }
        }
        writer.endObject()
        return String(decoding: writer.bytes, as: UTF8.self)
    }
}

extension TrialConfig {
    /// The active values and, for a program config, its marker: what the canonical JSON holds.
    var canonicalValues: [(key: String, value: ConfigValue)] {
        activeValues + (isProgram ? [(Self.programMarker, .bool(true))] : [])
    }
}

extension ConfigValue: Encodable {
    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .bool(let value): try container.encode(value)
        case .int(let value): try container.encode(value)
        case .double(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        }
    }
}

/// A config travels and is stored as its canonical JSON (``TrialConfig/jsonText()``) and is read
/// back key by key with each key's own type and range: `1` is a valid `lr`, `1.5` is not a valid
/// `batch_size`. This is the one form a config takes between the sweep file and the trainer.
extension TrialConfig: Codable {
    public init(from decoder: Decoder) throws {
        self = try Self.parse(try decoder.singleValueContainer().decode([String: ConfigValue].self))
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(Dictionary(uniqueKeysWithValues: canonicalValues.map { ($0.key, $0.value) }))
    }
}

/// The one JSON string escaper (what the canonical config text, and so every trial id, is made
/// with): stable across platforms and locales.
public enum CanonicalJSON {
    /// A JSON string literal.
    public static func string(_ text: String) -> String {
        var bytes: [UInt8] = []
        appendString(text, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends `text` as a JSON string literal: `\"`, `\\` and `\n` escaped, other control
    /// characters as `\u00xx`, everything else as its UTF-8. The one escaper: the canonical config
    /// text (trial ids hash it, so it never changes), the wire's hand-written bodies and the
    /// documents the store's readers write.
    public static func appendString(_ text: String, to bytes: inout [UInt8]) {
        bytes.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): bytes += [UInt8(ascii: "\\"), byte]
            case UInt8(ascii: "\n"): bytes += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            case ..<0x20:
                bytes += [
                    UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hexDigits[Int(byte >> 4)],
                    hexDigits[Int(byte & 15)],
                ]
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)
}

extension JSONByteReader {
    /// A config value as `JSONDecoder` reads one: a boolean, a string, or a number, which is an
    /// `Int` when it is integral.
    mutating func configValue() -> ConfigValue? {
        if let flag = bool() { return .bool(flag) }
        if let text = string() { return .string(text) }
        guard let (text, isInteger) = numberText() else { return nil }
        if isInteger, let integer = Int(text) { return .int(integer) }
        guard let number = Double(text), number.isFinite else { return nil }
        return Int(exactly: number).map(ConfigValue.int) ?? .double(number)
    }
}

/// Levenshtein distance, for "did you mean" hints.
public func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    var previous = Array(0...b.count)
    for i in 1...max(a.count, 1) where !a.isEmpty {
        var current = [i] + [Int](repeating: 0, count: b.count)
        for j in stride(from: 1, through: b.count, by: 1) {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        previous = current
    }
    return previous[b.count]
}

/// Which pairs of a training dialogue count as co-occurring (`cooc`, docs/ml-extensions.md).
public enum CooccurrenceMode: String, Sendable, CaseIterable {
    /// No prior.
    case none
    /// Every pair of distinct movies mentioned or targeted in one example, both ways.
    case dialogue
    /// Each mentioned movie with each target of the same example (mentioned → target).
    case target
}

/// A YAML (or JSON) document that is a mapping with string keys: a config of its own, or a trial
/// file (``TrialFile``) whose `trial` holds one. What `sweep train --config` and `sweep reproduce` read.
public struct ConfigDocument {
    /// The document's top-level values by key.
    let fields: [String: Node]

    public init(text: String) throws {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch {
            throw ConfigError(key: "(document)", message: "not valid YAML or JSON: \(error)")
        }
        fields = try Self.keyed(root, "(document)", "must be a mapping of config keys")
    }

    /// Whether it is a trial file (has `trial`) rather than a plain config.
    public var isTrialFile: Bool { fields["trial"] != nil }

    /// Its values as config values, `overrides` (`sweep train --set`) replacing theirs: each must
    /// be one finite scalar.
    public func values(overriddenBy overrides: [String: ConfigValue] = [:]) throws -> [String: ConfigValue] {
        try Self.values(of: fields).merging(overrides) { _, override in override }
    }

    /// A mapping node's values by key; `message` names what it must be when it is not a mapping
    /// with string keys.
    static func keyed(_ node: Node?, _ path: String, _ message: String) throws -> [String: Node] {
        guard case .mapping(let mapping)? = node else { throw ConfigError(key: path, message: message) }
        var fields: [String: Node] = [:]
        for (key, value) in mapping {
            guard let name = key.scalar?.string else { throw ConfigError(key: path, message: "keys must be names") }
            fields[name] = value
        }
        return fields
    }

    /// Config values of a mapping's nodes.
    static func values(of fields: [String: Node]) throws -> [String: ConfigValue] {
        var values: [String: ConfigValue] = [:]
        for (key, node) in fields {
            do {
                values[key] = try ConfigValue.reading(node)
            } catch {
                switch error {
                case .nonFinite(let number): throw ConfigError(key: key, message: "must be a finite number, got \(number)")
                case .notAScalar: throw ConfigError(key: key, message: "must be a scalar (number, boolean or name)")
                }
            }
        }
        return values
    }
}
