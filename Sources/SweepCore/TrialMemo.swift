import GRDB
import Vocabulary

/// What a reader has already read of a store's trials, so that reading them again parses no
/// config and decodes no result twice. The store's reads (``SweepStore/readTrials(memo:)``,
/// ``SweepStore/patch(_:memo:)``) fill it; a reader that keeps one between reads (the dashboard's)
/// hands it back each time, and ``SweepStore/trials()`` starts from an empty one.
public struct TrialMemo: Sendable {
    /// What never changes in a trial's row (id, config, origin), by trial number.
    var fixed: [Int: FixedTrialParts] = [:]
    /// Decoded results by trial number, with the key that tells a trial's result from an earlier
    /// one's in a store rebuilt under the same reader.
    var results: [Int: (key: ResultKey, result: ResultSnapshot)] = [:]
    /// Configs by trial id (a hash of the config's canonical JSON, the store's own key for it):
    /// those the reader was told of (``know(_:)``) and those it parsed; at most `capacity`, past
    /// which new ones are parsed each time they are read.
    private var configs: [String: ConfigFacts] = [:]
    let capacity: Int
    /// Configs parsed from their stored text, and reads of every trial (for tests).
    public internal(set) var parses = 0
    public internal(set) var fullReads = 0

    public init(capacity: Int = 50_000) { self.capacity = capacity }

    /// Takes the configs of trials the caller holds, so their stored text is neither read nor
    /// parsed: a coordinator serving its own dashboard hands it its plan (parsing 30,000 configs
    /// again would take the coordinator's cores for a second).
    public mutating func know(_ trials: [PlannedTrial]) {
        for trial in trials where configs.count < capacity && configs[trial.id] == nil {
            configs[trial.id] = ConfigFacts(trial.config)
        }
    }

    /// Whether trial `id`'s config is held.
    func knows(id: String) -> Bool { configs[id] != nil }

    /// Trial `id`'s config: held, or parsed now from its stored `json` (read only then; kept).
    mutating func facts(id: String, json: @autoclosure () throws -> String) throws -> ConfigFacts {
        if let known = configs[id] { return known }
        let facts = ConfigFacts(try TrialConfig.parse(json: json()))
        parses += 1
        if configs.count < capacity { configs[id] = facts }
        return facts
    }

    /// The trials a read left out because their config cannot be read, in number order.
    public var unreadable: [UnreadableTrial] {
        fixed.compactMap { number, part in part.unreadable.map { UnreadableTrial(number: number, id: part.id, reason: $0) } }
            .sorted { $0.number < $1.number }
    }
}

/// A trial's parts fixed when it is planned or proposed.
struct FixedTrialParts {
    var id: String
    /// nil for a config this build cannot read (`unreadable` says why): the trial is left out of
    /// every list instead of failing the whole read.
    var facts: ConfigFacts?
    var unreadable: String?
    var origin: ProposalOrigin?
}

/// A stored trial whose config this build cannot read (a store written before non-finite numbers
/// were refused, say): left out of lists and rankings, and named wherever the store is read.
public struct UnreadableTrial: Sendable, Equatable, CustomStringConvertible {
    public var number: Int
    public var id: String
    public var reason: String

    public var description: String { "trial #\(number) (\(id)): \(reason)" }
}

/// A config with what the leaderboard works out from it (its active values by name and by
/// position, the key its repeats share), worked out once when the config is parsed and shared by
/// every snapshot of its trial: a reader copies one reference per trial.
final class ConfigFacts: Sendable {
    let config: TrialConfig
    /// ``TrialConfig/activeValuesByPosition``.
    let keyedValues: [ConfigValue?]
    /// ``TrialConfig/activeDictionary``.
    let activeValues: [String: ConfigValue]
    /// ``Leaderboard/configKey(_:)``.
    let repeatKey: String

    init(_ config: TrialConfig) {
        self.config = config
        keyedValues = config.activeValuesByPosition
        activeValues = config.activeDictionary
        repeatKey = Leaderboard.configKey(config)
    }
}

/// The columns of a trial's row that change.
struct TrialRow {
    static let columns = "number, id, state, attempts, variant"
    var number: Int
    var id: String
    var state: String
    var attempts: Int
    var variant: String?

    init(_ row: Row) {
        (number, id, state, attempts, variant) = (row[0], row[1], row[2], row[3], row[4])
    }
}

/// Every trial in number order, with the last change it includes (a `trial_change` sequence
/// number): what ``SweepStore/patch(_:memo:)`` brings up to date.
public struct TrialList: Sendable {
    var newestChange = 0
    public private(set) var snapshots: [TrialSnapshot] = []
    /// Trials whose config cannot be read, by number: not in `snapshots`.
    var unreadable: Set<Int> = []
    private var positions: [Int: Int] = [:]

    mutating func append(_ snapshot: TrialSnapshot) {
        positions[snapshot.number] = snapshots.count
        snapshots.append(snapshot)
    }

    /// Replaces a trial's snapshot, or appends a trial numbered after every other; false for a
    /// new trial that would fall in between.
    mutating func replaceOrAppend(_ snapshot: TrialSnapshot) -> Bool {
        if let position = positions[snapshot.number] {
            snapshots[position] = snapshot
            return true
        }
        guard snapshot.number > (snapshots.last?.number ?? Int.min) else { return false }
        append(snapshot)
        return true
    }
}

/// Names one stored result.
struct ResultKey: Hashable {
    var trial: Int
    var attempt: Int
    var finishedAt: Double
}
