import Foundation
import GRDB
import Vocabulary

/// An immutable view of one trial, for the leaderboard, `show`, `status` and `export`.
public struct TrialSnapshot: Sendable {
    public var id: String
    public var number: Int
    public var config: TrialConfig { facts.config }
    public var variant: String?
    public var state: TrialState
    public var attempts: Int
    public var result: ResultSnapshot?
    /// For a pruned trial: the epoch at which early stopping stopped it.
    public var stoppedAt: Int?
    /// For a config an adaptive sampler proposed: how, and from what.
    public var origin: ProposalOrigin?
    /// The config's active keys and values (``TrialConfig/activeDictionary``), kept with the
    /// trial, as the leaderboard asks for them on every row of every page.
    public var activeValues: [String: ConfigValue] { facts.activeValues }
    /// The same values by position in ``TrialConfig/keys`` (nil where inactive; empty for a program
    /// config): what the leaderboard compares across 10,000 trials without hashing a key.
    var keyedValues: [ConfigValue?] { facts.keyedValues }
    /// The key its repeats share (``Leaderboard/configKey(_:)``), kept with the trial.
    public var repeatKey: String { facts.repeatKey }
    let facts: ConfigFacts

    public init(
        id: String, number: Int, config: TrialConfig, variant: String?, state: TrialState, attempts: Int, result: ResultSnapshot?,
        stoppedAt: Int? = nil, origin: ProposalOrigin? = nil
    ) {
        self.init(
            id: id, number: number, facts: ConfigFacts(config), variant: variant, state: state, attempts: attempts, result: result,
            stoppedAt: stoppedAt, origin: origin)
    }

    init(
        id: String, number: Int, facts: ConfigFacts, variant: String?, state: TrialState, attempts: Int, result: ResultSnapshot?,
        stoppedAt: Int?, origin: ProposalOrigin?
    ) {
        self.id = id
        self.number = number
        self.facts = facts
        self.variant = variant
        self.state = state
        self.attempts = attempts
        self.result = result
        self.stoppedAt = stoppedAt
        self.origin = origin
    }
}

/// A trial's stored result as the readers list it: every field of its ``TrialResult`` except the
/// epoch history (which only a trial's own view reads, from the epoch table), with the attempt
/// that produced it, the worker that ran it and when it was stored.
public struct ResultSnapshot: Sendable {
    public var attempt: Int
    public var worker: String
    /// When the result was stored.
    public var finishedAt: Date
    public var bestEpoch: Int
    public var valid: [String: Double]
    public var test: [String: Double]
    public var timing: TrainingTiming

    /// The worker that produced it, and the GPU when it ran on one: `box gpu 1`.
    public var ranOn: String { worker + (timing.gpu.map { " gpu \($0)" } ?? "") }
}

/// One attempt of a trial.
public struct AttemptSnapshot: Sendable {
    public var attempt: Int
    public var lease: String
    public var worker: String
    public var outcome: AttemptOutcome?
    public var reason: String?
    public var started: Date
    public var finished: Date?
}

/// A worker as last seen.
public struct WorkerSnapshot: Sendable, Encodable {
    public var name: String
    public var host: String
    public var state: WorkerState
    public var trialsCompleted: Int
    public var lastSeen: Date
    /// Trials it runs at once, and the GPU of each slot when it has them.
    public var slots: Int
    public var gpus: [Int]?
    /// The numbers of the trials it runs now.
    public var running: [Int]

    enum CodingKeys: String, CodingKey {
        case name, host, state, trialsCompleted = "trials_completed", lastSeen = "last_seen", slots, gpus, running
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(host, forKey: .host)
        try container.encode(state, forKey: .state)
        try container.encode(trialsCompleted, forKey: .trialsCompleted)
        try container.encode(ISO8601DateFormatter().string(from: lastSeen), forKey: .lastSeen)
        try container.encode(slots, forKey: .slots)
        try container.encode(gpus, forKey: .gpus)  // null without
        try container.encode(running, forKey: .running)
    }

    /// `3 slots (GPUs 0,1,3), running #4 #7`; `1 slot, idle`.
    public var slotsText: String {
        "\(slots) slot\(slots == 1 ? "" : "s")"
            + (gpus.map { " (GPU\($0.count == 1 ? "" : "s") \($0.map(String.init).joined(separator: ",")))" } ?? "")
            + (running.isEmpty ? ", idle" : ", running " + running.map { "#\($0)" }.joined(separator: " "))
    }
}

/// How much training a sweep has done against its budget.
public struct EpochTotals: Sendable, Equatable, Codable {
    /// Epochs trained and recorded, every attempt counted (retired trials left out).
    public var trained: Int
    /// Σ `epochs` over the sweep's trials (retired ones left out): what it would train without early stopping.
    public var budget: Int
    /// Epochs early stopping spared: Σ (`epochs` − the epoch reached) over pruned trials.
    public var saved: Int
}

/// Where a report reads a sweep's trials and its sweep file: the store itself (read and parsed
/// anew each time) or a reader that keeps what it read between requests (the dashboard's).
public protocol SweepSource: Sendable {
    /// The store, for everything else.
    var store: SweepStore { get }
    func trials() throws -> [TrialSnapshot]
    /// The trials ``trials()`` leaves out because their config cannot be read, in number order.
    func unreadableTrials() throws -> [UnreadableTrial]
    func spec(of sweep: SweepRecord) throws -> SweepSpec
}

extension SweepStore: SweepSource {
    public var store: SweepStore { self }
}

extension SweepStore {
    /// The sweep's row, or nil for a store that has none yet.
    public func sweep() throws -> SweepRecord? {
        try database.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM sweep WHERE id = 1") else { return nil }
            guard let dataset = try StoredJSON.decode(DatasetEntry.self, row["dataset"], "the sweep's dataset").source else {
                throw StoreError(message: "the stored sweep's dataset names neither a path nor a synthetic preset")
            }
            let popularity = try (row["popularity"] as String?).map {
                try StoredJSON.decode([String: [String: Double]].self, $0, "the sweep's popularity baseline")
            }
            let program = try (row["program"] as String?).map {
                try StoredJSON.decode(StoredProgram.self, $0, "the sweep's program").program
            }
            return SweepRecord(
                name: row["name"], specText: row["spec_text"], specHash: row["spec_hash"],
                ranking: try Self.ranking(metric: row["metric"], stored: row["ranking"]),
                dataset: dataset, fingerprint: row["fingerprint"], popularity: popularity, program: program)
        }
    }

    /// What a stored sweep ranks by: its `ranking` column, or for a store written before
    /// objectives existed, its `metric` maximized.
    static func ranking(metric: String, stored: String?) throws -> Ranking {
        try stored.map { try StoredJSON.decode(Ranking.self, $0, "the sweep's objectives") } ?? Ranking(metric: metric)
    }

    /// The sweep file stored with the sweep, parsed without checking files (they belong to the
    /// machine that launched it).
    public func spec(of sweep: SweepRecord) throws -> SweepSpec {
        try SweepSpec.parseStored(sweep.specText)
    }

    /// Every trial (retired ones too), in plan order, each config parsed and result decoded anew
    /// (a reader that reads again and again keeps a ``TrialMemo``).
    public func trials() throws -> [TrialSnapshot] {
        var memo = TrialMemo()
        return try readTrials(memo: &memo).snapshots
    }

    /// The trials ``trials()`` leaves out because their config cannot be read, in number order.
    public func unreadableTrials() throws -> [UnreadableTrial] {
        var memo = TrialMemo()
        _ = try readTrials(memo: &memo)
        return memo.unreadable
    }

    /// Every trial, read from the tables; what `memo` holds (a trial's config and origin, a stored
    /// result) is not read or parsed again, and what is parsed is added to it.
    public func readTrials(memo: inout TrialMemo) throws -> TrialList {
        memo.fullReads += 1
        return try database.read { db in try readTrials(db, memo: &memo) }
    }

    func readTrials(_ db: Database, memo: inout TrialMemo) throws -> TrialList {
        // Results: their keys (a cursor reuses one row), then the rows not decoded before.
        var results: [Int: ResultSnapshot] = [:], unknown: Set<Int> = []
        var earliestUnknown = Double.infinity
        let keys = try Row.fetchCursor(db, sql: "SELECT trial_number, attempt, finished_at FROM result")
        while let row = try keys.next() {
            let key = ResultKey(trial: row[0], attempt: row[1], finishedAt: row[2])
            if let entry = memo.results[key.trial], entry.key == key {
                results[key.trial] = entry.result
            } else {
                unknown.insert(key.trial)
                earliestUnknown = min(earliestUnknown, key.finishedAt)
            }
        }
        if !unknown.isEmpty {
            // Many new results: one scan from the earliest of them (the rows before it are known);
            // a few: one lookup each.
            if unknown.count > 64 {
                let rows = try Row.fetchCursor(
                    db.cachedStatement(sql: "SELECT \(Self.resultColumns) FROM result WHERE finished_at >= ?"),
                    arguments: [earliestUnknown])
                while let row = try rows.next() {
                    if unknown.contains(row[0]) { results[row[0]] = try Self.result(row, memo: &memo) }
                }
            } else {
                for trial in unknown {
                    let row = try Row.fetchOne(
                        db.cachedStatement(sql: "SELECT \(Self.resultColumns) FROM result WHERE trial_number = ?"), arguments: [trial])
                    if let row { results[trial] = try Self.result(row, memo: &memo) }
                }
            }
        }
        let stops = try Dictionary(uniqueKeysWithValues: Row.fetchAll(db, sql: Self.stopEpochs()).map { ($0[0] as Int, $0[1] as Int) })
        // Trials: the columns that change, then config and origin for trials not parsed before.
        var rows: [TrialRow] = []
        let cursor = try Row.fetchCursor(db, sql: "SELECT \(TrialRow.columns) FROM trial ORDER BY number")
        while let row = try cursor.next() { rows.append(TrialRow(row)) }
        try Self.readFixedParts(of: rows, db, memo: &memo)
        var list = TrialList()
        list.newestChange = try Self.newestChange(db)
        for row in rows {
            if let snapshot = try Self.snapshot(row, memo.fixed, result: results[row.number], stoppedAt: stops[row.number]) {
                list.append(snapshot)
            } else {
                list.unreadable.insert(row.number)
            }
        }
        return list
    }

    /// Brings `list` up to date from the trials changed since it was read (five queries
    /// whatever their number); false when the patched list does not add up. Rows are read
    /// through cursors and decoded as they come (GRDB copying 4,000 rows first cost as much as
    /// decoding them).
    public func patch(_ list: inout TrialList, memo: inout TrialMemo) throws -> Bool {
        let since: StatementArguments = [list.newestChange]
        let (rows, results, stops, count, newest) = try database.read { db in
            let changed = "SELECT trial_number FROM trial_change WHERE seq > ?"
            var rows: [TrialRow] = []
            let trials = try Row.fetchCursor(
                db.cachedStatement(sql: "SELECT \(TrialRow.columns) FROM trial WHERE number IN (\(changed)) ORDER BY number"),
                arguments: since)
            while let row = try trials.next() { rows.append(TrialRow(row)) }
            var results: [Int: ResultSnapshot] = [:]
            let resultRows = try Row.fetchCursor(
                db.cachedStatement(sql: "SELECT \(Self.resultColumns) FROM result WHERE trial_number IN (\(changed))"), arguments: since)
            while let row = try resultRows.next() { results[row[0]] = try Self.result(row, memo: &memo) }
            let stops = try Dictionary(
                uniqueKeysWithValues: Row.fetchAll(
                    db.cachedStatement(sql: Self.stopEpochs(where: "trial_number IN (\(changed))")),
                    arguments: since
                ).map { ($0[0] as Int, $0[1] as Int) })
            let count = try Int.fetchOne(db.cachedStatement(sql: "SELECT COUNT(*) FROM trial"))
            try Self.readFixedParts(of: rows, db, memo: &memo)
            return (rows, results, stops, count, try Self.newestChange(db))
        }
        for row in rows {
            guard let snapshot = try Self.snapshot(row, memo.fixed, result: results[row.number], stoppedAt: stops[row.number]) else {
                list.unreadable.insert(row.number)
                continue
            }
            guard list.replaceOrAppend(snapshot) else { return false }
        }
        list.newestChange = newest
        // No writer of ours deletes a trial; a list that lost count is read again all the same.
        return list.snapshots.count + list.unreadable.count == count
    }

    /// The last change to any trial (0 before the first).
    static func newestChange(_ db: Database) throws -> Int {
        try Int.fetchOne(db.cachedStatement(sql: "SELECT COALESCE(MAX(seq), 0) FROM trial_change")) ?? 0
    }

    /// Reads into `memo` the config and origin of the rows' trials it does not hold.
    static func readFixedParts(of rows: [TrialRow], _ db: Database, memo: inout TrialMemo) throws {
        let missing = rows.filter { memo.fixed[$0.number]?.id != $0.id }
        guard !missing.isEmpty else { return }
        // A config the memo holds by its trial id (a coordinator serving its own dashboard told
        // it its plan) is not read again: the cursor leaves its text in the file.
        func add(_ row: Row) throws {
            let (number, id): (Int, String) = (row[0], row[1])
            guard memo.fixed[number]?.id != id else { return }
            var parts = FixedTrialParts(
                id: id, facts: nil, unreadable: nil,
                origin: try (row[2] as String?).map { try StoredJSON.decode(ProposalOrigin.self, $0, "trial #\(number)'s origin") })
            do {
                parts.facts = try memo.facts(id: id, json: row[3])
            } catch {
                parts.unreadable = "its stored config cannot be read (\(error))"
            }
            memo.fixed[number] = parts
        }
        if missing.count > 64 {
            let cursor = try Row.fetchCursor(db, sql: "SELECT number, id, origin, config FROM trial")
            while let row = try cursor.next() { try add(row) }
        } else {
            for trial in missing {
                if let row = try Row.fetchOne(
                    db.cachedStatement(sql: "SELECT number, id, origin, config FROM trial WHERE number = ?"), arguments: [trial.number])
                {
                    try add(row)
                }
            }
        }
    }

    /// The trial's snapshot, or nil when its config cannot be read.
    static func snapshot(_ row: TrialRow, _ fixed: [Int: FixedTrialParts], result: ResultSnapshot?, stoppedAt: Int?) throws
        -> TrialSnapshot?
    {
        guard let parts = fixed[row.number], parts.id == row.id else {
            throw StoreError(message: "trial #\(row.number) changed while it was read")
        }
        guard let facts = parts.facts else { return nil }
        return TrialSnapshot(
            id: parts.id, number: row.number, facts: facts, variant: row.variant,
            state: try trialState(row.state, row.id), attempts: row.attempts, result: result,
            stoppedAt: stoppedAt, origin: parts.origin)
    }

    /// A result row as a snapshot: the one `memo` holds for it, or decoded now and added to it.
    static func result(_ row: Row, memo: inout TrialMemo) throws -> ResultSnapshot {
        let key = ResultKey(trial: row[0], attempt: row[1], finishedAt: row[2])
        if let entry = memo.results[key.trial], entry.key == key { return entry.result }
        let decoded = try result(row, trial: key.trial)
        memo.results[key.trial] = (key, decoded)
        return decoded
    }

    /// The columns a result is decoded from, in the order ``result(_:trial:)`` reads them (by
    /// position: GRDB finds a column by name case-insensitively, lowercasing on every lookup).
    static let resultColumns = "trial_number, attempt, finished_at, best_epoch, valid, test, timing, worker"

    /// A result row of ``resultColumns``, decoded.
    static func result(_ row: Row, trial number: Int) throws -> ResultSnapshot {
        ResultSnapshot(
            attempt: row[1], worker: row[7], finishedAt: Date(timeIntervalSince1970: row[2]), bestEpoch: row[3],
            valid: try StoredJSON.decodeNumbers(row[4], "trial #\(number)'s valid metrics"),
            test: try StoredJSON.decodeNumbers(row[5], "trial #\(number)'s test metrics"),
            timing: try StoredJSON.decodeTiming(row[6], "trial #\(number)'s timing"))
    }

    /// Epochs trained against the budget, and epochs early stopping saved.
    public func epochTotals() throws -> EpochTotals { try epochTotals(of: trials()) }

    /// The same for trials just read: the budget and the savings from their configs, the epochs
    /// trained from one count.
    public func epochTotals(of trials: [TrialSnapshot]) throws -> EpochTotals {
        let trained = try database.read { db in
            try Int.fetchOne(
                db,
                sql: """
                    SELECT COUNT(*) FROM epoch WHERE trial_number NOT IN (SELECT number FROM trial WHERE state = \(TrialState.retired.sql))
                    """) ?? 0
        }
        var budget = 0, saved = 0
        for index in trials.indices where trials[index].state != .retired {  // by index: no snapshot is copied
            let epochs = trials[index].facts.config.epochBudget
            budget += epochs
            if trials[index].state == .pruned, let stoppedAt = trials[index].stoppedAt { saved += epochs - stoppedAt }
        }
        return EpochTotals(trained: trained, budget: budget, saved: saved)
    }

    /// Epochs early stopping spared (a small query: it reads only the stop judgements).
    public func epochsSaved() throws -> Int {
        try database.read(Self.epochsSaved)
    }

    static func epochsSaved(_ db: Database) throws -> Int {
        try Int.fetchOne(
            db,
            sql: """
                SELECT SUM(json_extract(trial.config, '$.epochs') - stop.epoch) FROM (\(stopEpochs())) AS stop JOIN trial ON trial.number = stop.trial_number
                WHERE trial.state = \(TrialState.pruned.sql)
                """) ?? 0
    }

    /// The epoch early stopping stopped each trial at (its first `stop` judgement), as rows of
    /// (trial_number, epoch), for the trials `filter` keeps: the one rule every query that needs a
    /// stop epoch goes through.
    static func stopEpochs(where filter: String? = nil) -> String {
        "SELECT trial_number, MIN(epoch) AS epoch FROM rung WHERE decision = \(Judgement.Decision.stop.sql)"
            + (filter.map { " AND \($0)" } ?? "") + " GROUP BY trial_number"
    }

    /// The epoch early stopping stopped one trial at, or nil.
    static func stopEpoch(_ db: Database, trialNumber: Int) throws -> Int? {
        try Row.fetchOne(db.cachedStatement(sql: stopEpochs(where: "trial_number = ?")), arguments: [trialNumber]).map { $0[1] as Int }
    }

    /// A trial's stored result metrics on valid, or nil without a result.
    static func resultValid(_ db: Database, trialNumber: Int) throws -> [String: Double]? {
        try String.fetchOne(db.cachedStatement(sql: "SELECT valid FROM result WHERE trial_number = ?"), arguments: [trialNumber]).map {
            try StoredJSON.decodeNumbers($0, "trial #\(trialNumber)'s valid metrics")
        }
    }

    /// Whether a trial with this id exists (in any state).
    static func hasTrial(_ db: Database, id: String) throws -> Bool {
        try Bool.fetchOne(db.cachedStatement(sql: "SELECT EXISTS (SELECT 1 FROM trial WHERE id = ?)"), arguments: [id]) == true
    }

    /// Whether any trial waits or runs.
    static func hasUnfinishedTrials(_ db: Database) throws -> Bool {
        try Bool.fetchOne(
            db,
            sql: "SELECT EXISTS (SELECT 1 FROM trial WHERE state IN (\(TrialState.waiting.sql), \(TrialState.running.sql)))")
            == true
    }

    /// How much of a budget the sweep has used. Hours are the union of the attempts' spans, an
    /// attempt ending at its last heartbeat while it runs or once it was lost (so the time a
    /// coordinator was down is not counted); `target` names the objective whose best value on
    /// valid among completed and pruned trials is read.
    static func budgetUsage(_ db: Database, target: Objective?) throws -> BudgetUsage {
        var seconds = 0.0, span: (start: Double, end: Double)?
        let spans = try Row.fetchCursor(
            db,
            sql: """
                SELECT started_at, CASE WHEN outcome IS NULL OR outcome = \(AttemptOutcome.lost.sql) THEN heartbeat_at ELSE finished_at END
                FROM attempt ORDER BY started_at
                """)
        while let row = try spans.next() {
            let start: Double = row[0], end = max(start, row[1] as Double)
            if let open = span, start <= open.end {
                span = (open.start, max(open.end, end))
            } else {
                seconds += span.map { $0.end - $0.start } ?? 0
                span = (start, end)
            }
        }
        seconds += span.map { $0.end - $0.start } ?? 0
        let trials = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM trial WHERE attempts > 0") ?? 0
        let epochs = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM epoch") ?? 0
        let best = try target.flatMap { objective in
            let aggregate =
                switch objective.goal {
                case .maximize: "MAX"
                case .minimize: "MIN"
                }
            return try Double.fetchOne(
                db,
                sql: """
                    SELECT \(aggregate)(json_extract(result.valid, '$."' || ? || '"')) FROM result JOIN trial ON trial.number = result.trial_number
                    WHERE trial.state IN (\(TrialState.completed.sql), \(TrialState.pruned.sql))
                    """, arguments: [objective.metric])
        }
        return BudgetUsage(hours: seconds / 3600, trials: trials, epochs: epochs, best: best)
    }

    /// How much of a budget whose target is `target` the sweep has used (see the static form).
    public func budgetUsage(target: Objective?) throws -> BudgetUsage {
        try database.read { db in try Self.budgetUsage(db, target: target) }
    }

    /// How many trials failed, and the reason their latest failed attempt gave.
    static func failures(_ db: Database) throws -> (count: Int, lastReason: String?) {
        // Asked before every claim: a prepared statement, one probe of the state index.
        let count = try Int.fetchOne(db.cachedStatement(sql: "SELECT COUNT(*) FROM trial WHERE state = \(TrialState.failed.sql)")) ?? 0
        guard count > 0 else { return (0, nil) }
        let reason = try String.fetchOne(
            db,
            sql: """
                SELECT attempt.reason FROM attempt JOIN trial ON trial.number = attempt.trial_number
                WHERE trial.state = \(TrialState.failed.sql) AND attempt.reason IS NOT NULL ORDER BY attempt.finished_at DESC LIMIT 1
                """)
        return (count, reason)
    }

    /// Whether any trial runs.
    static func hasRunningTrials(_ db: Database) throws -> Bool {
        try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM trial WHERE state = \(TrialState.running.sql))") == true
    }

    /// The configs (and origins) of trials numbered `number` and up, in number order.
    static func configs(_ db: Database, from number: Int) throws -> RowCursor {
        try Row.fetchCursor(
            db.cachedStatement(sql: "SELECT number, config, origin FROM trial WHERE number >= ? ORDER BY number"), arguments: [number])
    }

    /// The state of every trial not retired, by number.
    static func liveStates(_ db: Database) throws -> [(number: Int, state: TrialState)] {
        var states: [(number: Int, state: TrialState)] = []
        let rows = try Row.fetchCursor(
            db.cachedStatement(sql: "SELECT number, state FROM trial WHERE state != \(TrialState.retired.sql)"))
        while let row = try rows.next() { states.append((row[0], try trialState(row[1], "#\(row[0] as Int)"))) }
        return states
    }

    /// A worker's BLAS threads and kernel as it last said, or nil for a worker never seen.
    static func workerBLAS(_ db: Database, name: String) throws -> (threads: Int, core: String)? {
        try Row.fetchOne(db.cachedStatement(sql: "SELECT blas_threads, blas_core FROM worker WHERE name = ?"), arguments: [name]).map {
            ($0[0], $0[1])
        }
    }

    /// A trial's early-stopping judgements, in epoch order.
    public func judgements(trial: String) throws -> [Judgement] {
        try database.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT rung.* FROM rung JOIN trial ON trial.number = rung.trial_number WHERE trial.id = ? ORDER BY rung.epoch
                    """, arguments: [trial]
            ).map { row in
                let number: Int = row["trial_number"]
                guard let decision = Judgement.Decision(rawValue: row["decision"]) else {
                    throw StoreError(message: "trial #\(number) has an unknown early-stopping decision \(row["decision"] as String)")
                }
                let values = try Self.judgedValues(value: row["value"], objectiveValues: row["objective_values"])
                let compared =
                    values.count == 1
                    ? try StoredJSON.decode([Double].self, row["compared"], "trial #\(number)'s compared values").map { [$0] }
                    : try StoredJSON.decode([[Double]].self, row["compared"], "trial #\(number)'s compared values")
                return Judgement(
                    trialNumber: number, epoch: row["epoch"], bracket: row["bracket"], seed: row["seed"], values: values,
                    decision: decision, rule: row["rule"], compared: compared, comparedCount: row["compared_count"],
                    at: Date(timeIntervalSince1970: row["at"]))
            }
        }
    }

    /// How many results are stored and when the first and last were (nil without results).
    public func resultSpan() throws -> (count: Int, first: Date, last: Date)? {
        try database.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT COUNT(*), MIN(finished_at), MAX(finished_at) FROM result"),
                let first = row[1] as Double?, let last = row[2] as Double?
            else { return nil }
            return (row[0], Date(timeIntervalSince1970: first), Date(timeIntervalSince1970: last))
        }
    }

    /// Trials per state (every state present), in one query: cheap enough for every event.
    public func stateCounts() throws -> [TrialState: Int] {
        try database.read { db in
            var counts = Dictionary(uniqueKeysWithValues: TrialState.allCases.map { ($0, 0) })
            for row in try Row.fetchAll(db, sql: "SELECT state, COUNT(*) AS n FROM trial GROUP BY state") {
                counts[try Self.trialState(row["state"], "(any)")] = row["n"]
            }
            return counts
        }
    }

    /// Whether a trial is still waiting or running: one probe of the state index, where
    /// ``stateCounts()`` reads all of it (the coordinator asks every second).
    public func hasUnfinishedTrials() throws -> Bool {
        try database.read { db in
            try Self.hasUnfinishedTrials(db)
        }
    }

    /// The best completed trial's number and valid value of `objective`, in one query.
    public func best(objective: Objective) throws -> (number: Int, value: Double)? {
        let direction =
            switch objective.goal {
            case .maximize: "DESC"
            case .minimize: "ASC"
            }
        return try database.read { db in
            try Row.fetchOne(
                db,
                sql: """
                    SELECT trial.number AS number, json_extract(result.valid, '$."' || ? || '"') AS value
                    FROM result JOIN trial ON trial.id = result.trial_id
                    WHERE trial.state = \(TrialState.completed.sql) AND value IS NOT NULL ORDER BY value \(direction), trial.number ASC LIMIT 1
                    """, arguments: [objective.metric]
            ).flatMap { row in
                (row["value"] as Double?).map { (number: row["number"], value: $0) }
            }
        }
    }

    /// Finds a trial by id, id prefix (unique) or number.
    public func findTrial(_ reference: String) throws -> TrialSnapshot {
        try TrialSnapshot.find(reference, in: trials())
    }

    /// A trial's attempts, in order.
    public func attempts(trial: String) throws -> [AttemptSnapshot] {
        try database.read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM attempt WHERE trial_number = (SELECT number FROM trial WHERE id = ?) ORDER BY attempt",
                arguments: [trial]
            ).map { row in
                AttemptSnapshot(
                    attempt: row["attempt"], lease: row["lease"], worker: row["worker"],
                    outcome: try Self.outcome(row["outcome"]), reason: row["reason"],
                    started: Date(timeIntervalSince1970: row["started_at"]),
                    finished: (row["finished_at"] as Double?).map { Date(timeIntervalSince1970: $0) })
            }
        }
    }

    /// The greatest lease that starts with `prefix` (in text order), nil when there is none.
    public func latestLease(prefix: String) throws -> String? {
        // A range on the unique index, [prefix, prefix with its last character the next one);
        // LIKE would ignore case and read every row.
        var end = prefix.unicodeScalars
        guard let last = end.popLast(), let next = UnicodeScalar(last.value + 1) else { return nil }
        end.append(next)
        return try database.read { db in
            try String.fetchOne(
                db, sql: "SELECT MAX(lease) FROM attempt WHERE lease >= ? AND lease < ?", arguments: [prefix, String(end)])
        }
    }

    /// The attempt a lease names: its trial, number, worker, outcome (nil while live) and reason.
    public func attempt(lease: String) throws -> (trial: String, attempt: Int, worker: String, outcome: AttemptOutcome?, reason: String?)? {
        try database.read { db in
            try Row.fetchOne(db, sql: "SELECT trial_id, attempt, worker, outcome, reason FROM attempt WHERE lease = ?", arguments: [lease])
                .map {
                    (
                        trial: $0["trial_id"], attempt: $0["attempt"], worker: $0["worker"],
                        outcome: try Self.outcome($0["outcome"]), reason: $0["reason"]
                    )
                }
        }
    }

    /// A trial's curve: the epochs of its result's attempt, else of its last attempt (`attempts`
    /// as ``attempts(trial:)`` reads them).
    public func curve(of trial: TrialSnapshot, attempts: [AttemptSnapshot]) throws -> [EpochRecord] {
        try (trial.result?.attempt ?? attempts.last?.attempt).map { try epochs(trial: trial.id, attempt: $0) } ?? []
    }

    /// The per-epoch records of one attempt, as `sweep train` reports them.
    public func epochs(trial: String, attempt: Int) throws -> [EpochRecord] {
        try database.read { db in
            try String.fetchAll(
                db,
                sql: "SELECT record FROM epoch WHERE trial_number = (SELECT number FROM trial WHERE id = ?) AND attempt = ? ORDER BY epoch",
                arguments: [trial, attempt]
            ).map { try StoredJSON.decodeEpoch($0, "an epoch record of trial \(trial)") }
        }
    }

    /// Attempts still running: lease, worker, heartbeat and progress times (for the scheduler).
    public func liveAttempts() throws -> [(lease: String, trial: String, worker: String, started: Date, heartbeat: Date, stepChanged: Date)]
    {
        try database.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM attempt WHERE outcome IS NULL").map {
                (
                    lease: $0["lease"], trial: $0["trial_id"], worker: $0["worker"],
                    started: Date(timeIntervalSince1970: $0["started_at"]), heartbeat: Date(timeIntervalSince1970: $0["heartbeat_at"]),
                    stepChanged: Date(timeIntervalSince1970: $0["step_at"])
                )
            }
        }
    }

    /// Every worker seen, most recent first.
    public func workers() throws -> [WorkerSnapshot] {
        try database.read { db in
            var running: [String: [Int]] = [:]
            for row in try Row.fetchAll(
                db,
                sql: """
                    SELECT attempt.worker, attempt.trial_number FROM attempt JOIN trial ON trial.number = attempt.trial_number
                    WHERE attempt.outcome IS NULL AND trial.state = \(TrialState.running.sql) ORDER BY attempt.trial_number
                    """)
            {
                running[row[0], default: []].append(row[1])
            }
            return try Row.fetchAll(
                db,
                sql: """
                    SELECT worker.*, COALESCE(done.count, 0) AS trials_completed FROM worker
                    LEFT JOIN (SELECT result.worker, COUNT(*) AS count FROM result JOIN trial ON trial.number = result.trial_number
                               WHERE trial.state = \(TrialState.completed.sql) GROUP BY result.worker) AS done ON done.worker = worker.name
                    ORDER BY last_seen DESC
                    """
            ).map { row in
                let name: String = row["name"], state: String = row["state"]
                guard let known = WorkerState(rawValue: state) else {
                    throw StoreError(message: "worker \(name) has the state '\(state)', which this build does not know")
                }
                return WorkerSnapshot(
                    name: name, host: row["host"], state: known, trialsCompleted: row["trials_completed"],
                    lastSeen: Date(timeIntervalSince1970: row["last_seen"]), slots: row["slots"],
                    gpus: try (row["gpus"] as String?).map { try StoredJSON.decode([Int].self, $0, "worker \(name)'s GPUs") },
                    running: running[name] ?? [])
            }
        }
    }

    /// Attempts started so far, and the finish times of results (for throughput).
    public func attemptCount() throws -> Int {
        try database.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM attempt") ?? 0 }
    }

    /// Events recorded (stale results, retirements, retries …), oldest first.
    public func events() throws -> [(kind: String, trial: String?, detail: String)] {
        try database.read { db in
            try Row.fetchAll(db, sql: "SELECT kind, trial_id, detail FROM event ORDER BY id").map {
                ($0["kind"], $0["trial_id"], $0["detail"])
            }
        }
    }

    /// Result finish times, oldest first.
    public func resultTimes() throws -> [Date] {
        try database.read { db in
            try Double.fetchAll(db, sql: "SELECT finished_at FROM result ORDER BY finished_at").map { Date(timeIntervalSince1970: $0) }
        }
    }

    /// A stored attempt outcome (nil while live), or an error when this build does not know it.
    static func outcome(_ name: String?) throws -> AttemptOutcome? {
        guard let name else { return nil }
        guard let outcome = AttemptOutcome(rawValue: name) else { throw StoreError(message: "an attempt has an unknown outcome \(name)") }
        return outcome
    }
}

extension TrialSnapshot {
    /// The trial a reference names among `all`: its number, its id or a unique prefix of it.
    public static func find(_ reference: String, in all: [TrialSnapshot]) throws -> TrialSnapshot {
        if let number = Int(reference), let trial = all.first(where: { $0.number == number }) { return trial }
        let matches = all.filter { $0.id.hasPrefix(reference.lowercased()) }
        guard matches.count == 1 else {
            throw StoreError(
                message: matches.isEmpty
                    ? "no trial \(reference) in this sweep" : "\(reference) matches \(matches.count) trials; give more of the id")
        }
        return matches[0]
    }
}
