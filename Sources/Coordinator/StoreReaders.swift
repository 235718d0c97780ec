import Foundation
import GRDB
import ML

/// An immutable view of one trial, for the leaderboard, `show`, `status` and `export`.
public struct TrialSnapshot: Sendable {
    public var id: String
    public var number: Int
    public var config: TrialConfig
    public var variant: String?
    public var state: TrialState
    public var attempts: Int
    public var result: ResultSnapshot?

    public init(id: String, number: Int, config: TrialConfig, variant: String?, state: TrialState, attempts: Int, result: ResultSnapshot?) {
        self.id = id
        self.number = number
        self.config = config
        self.variant = variant
        self.state = state
        self.attempts = attempts
        self.result = result
    }
}

/// A stored result.
public struct ResultSnapshot: Sendable {
    public var attempt: Int
    public var bestEpoch: Int
    public var valid: [String: Double]
    public var test: [String: Double]
    public var seconds: Double
    public var worker: String
    /// BLAS threads the trial ran with (from its timing).
    public var threads: Int
    public var blasCore: String
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
public struct WorkerSnapshot: Sendable {
    public var name: String
    public var host: String
    public var state: String
    public var trialsCompleted: Int
    public var lastSeen: Date
}

extension SweepStore {
    /// Every trial (retired ones too), in plan order.
    public func trials() throws -> [TrialSnapshot] {
        try database.read { db in
            let results = try Row.fetchAll(db, sql: "SELECT * FROM result").reduce(into: [String: ResultSnapshot]()) { map, row in
                let timing = (try? JSONSerialization.jsonObject(with: Data((row["timing"] as String).utf8))) as? [String: Any] ?? [:]
                map[row["trial_id"]] = ResultSnapshot(
                    attempt: row["attempt"], bestEpoch: row["best_epoch"], valid: Self.metrics(row["valid"]),
                    test: Self.metrics(row["test"]), seconds: row["seconds"], worker: row["worker"],
                    threads: timing["threads"] as? Int ?? 1, blasCore: timing["blas_core"] as? String ?? "unknown")
            }
            return try Row.fetchAll(db, sql: "SELECT * FROM trial ORDER BY number").map { row in
                let id: String = row["id"]
                return TrialSnapshot(
                    id: id, number: row["number"], config: try TrialConfig.parse(json: row["config"]), variant: row["variant"],
                    state: TrialState(rawValue: row["state"]) ?? .waiting, attempts: row["attempts"], result: results[id])
            }
        }
    }

    /// How many results are stored and when the first and last were (nil without results).
    public func resultSpan() throws -> (count: Int, first: Date, last: Date)? {
        try database.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT COUNT(*), MIN(finished_at), MAX(finished_at) FROM result"),
                  let first = row[1] as Double?, let last = row[2] as Double? else { return nil }
            return (row[0], Date(timeIntervalSince1970: first), Date(timeIntervalSince1970: last))
        }
    }

    /// Trials per state (every state present), in one query: cheap enough for every event.
    public func stateCounts() throws -> [TrialState: Int] {
        try database.read { db in
            var counts = Dictionary(uniqueKeysWithValues: TrialState.allCases.map { ($0, 0) })
            for row in try Row.fetchAll(db, sql: "SELECT state, COUNT(*) AS n FROM trial GROUP BY state") {
                if let state = TrialState(rawValue: row["state"]) { counts[state] = row["n"] }
            }
            return counts
        }
    }

    /// Whether a trial is still waiting or running: one probe of the state index, where
    /// ``stateCounts()`` reads all of it (the coordinator asks every second).
    public func hasUnfinishedTrials() throws -> Bool {
        try database.read { db in
            try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM trial WHERE state IN ('waiting', 'running'))") ?? false
        }
    }

    /// The best completed trial's number and valid value of `metric`, in one query.
    public func best(metric: String) throws -> (number: Int, value: Double)? {
        try database.read { db in
            try Row.fetchOne(db, sql: """
                SELECT trial.number AS number, json_extract(result.valid, '$."' || ? || '"') AS value
                FROM result JOIN trial ON trial.id = result.trial_id
                WHERE trial.state = 'completed' ORDER BY value DESC, trial.number ASC LIMIT 1
                """, arguments: [metric]).flatMap { row in
                (row["value"] as Double?).map { (number: row["number"], value: $0) }
            }
        }
    }

    /// Finds a trial by id, id prefix (unique) or number.
    public func findTrial(_ reference: String) throws -> TrialSnapshot {
        let all = try trials()
        if let number = Int(reference), let trial = all.first(where: { $0.number == number }) { return trial }
        let matches = all.filter { $0.id.hasPrefix(reference.lowercased()) }
        guard matches.count == 1 else {
            throw StoreError(message: matches.isEmpty ? "no trial \(reference) in this sweep" : "\(reference) matches \(matches.count) trials; give more of the id")
        }
        return matches[0]
    }

    /// A trial's attempts, in order.
    public func attempts(trial: String) throws -> [AttemptSnapshot] {
        try database.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM attempt WHERE trial_number = (SELECT number FROM trial WHERE id = ?) ORDER BY attempt", arguments: [trial]).map { row in
                AttemptSnapshot(attempt: row["attempt"], lease: row["lease"], worker: row["worker"],
                                outcome: (row["outcome"] as String?).flatMap(AttemptOutcome.init), reason: row["reason"],
                                started: Date(timeIntervalSince1970: row["started_at"]),
                                finished: (row["finished_at"] as Double?).map { Date(timeIntervalSince1970: $0) })
            }
        }
    }

    /// The attempt a lease names: its trial, number, worker, outcome (nil while live) and reason.
    public func attempt(lease: String) throws -> (trial: String, attempt: Int, worker: String, outcome: AttemptOutcome?, reason: String?)? {
        try database.read { db in
            try Row.fetchOne(db, sql: "SELECT trial_id, attempt, worker, outcome, reason FROM attempt WHERE lease = ?", arguments: [lease]).map {
                (trial: $0["trial_id"], attempt: $0["attempt"], worker: $0["worker"],
                 outcome: ($0["outcome"] as String?).flatMap(AttemptOutcome.init), reason: $0["reason"])
            }
        }
    }

    /// The per-epoch records (JSON text, as `sweep train` writes them) of one attempt.
    public func epochs(trial: String, attempt: Int) throws -> [String] {
        try database.read { db in
            try String.fetchAll(db, sql: "SELECT record FROM epoch WHERE trial_number = (SELECT number FROM trial WHERE id = ?) AND attempt = ? ORDER BY epoch", arguments: [trial, attempt])
        }
    }

    /// Every worker seen, most recent first.
    public func workers() throws -> [WorkerSnapshot] {
        try database.read { db in
            try Row.fetchAll(db, sql: """
                SELECT worker.*, COALESCE(done.count, 0) AS trials_completed FROM worker
                LEFT JOIN (SELECT worker, COUNT(*) AS count FROM result GROUP BY worker) AS done ON done.worker = worker.name
                ORDER BY last_seen DESC
                """).map { row in
                WorkerSnapshot(name: row["name"], host: row["host"], state: row["state"], trialsCompleted: row["trials_completed"],
                               lastSeen: Date(timeIntervalSince1970: row["last_seen"]))
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
            try Row.fetchAll(db, sql: "SELECT kind, trial_id, detail FROM event ORDER BY id").map { ($0["kind"], $0["trial_id"], $0["detail"]) }
        }
    }

    /// Result finish times, oldest first.
    public func resultTimes() throws -> [Date] {
        try database.read { db in
            try Double.fetchAll(db, sql: "SELECT finished_at FROM result ORDER BY finished_at").map { Date(timeIntervalSince1970: $0) }
        }
    }

    static func metrics(_ json: String) -> [String: Double] {
        (try? JSONDecoder().decode([String: Double].self, from: Data(json.utf8))) ?? [:]
    }
}
