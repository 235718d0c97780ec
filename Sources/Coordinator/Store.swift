import Foundation
import GRDB
import ML
import Protocol
import Synchronization

/// A trial's life: `waiting → running → completed | failed | diverged | cancelled`, and `retired`
/// for trials a changed sweep file no longer plans (kept, never deleted).
public enum TrialState: String, Sendable, CaseIterable, Codable {
    case waiting, running, completed, failed, diverged, cancelled, retired

    /// The states a trial may move to from this one.
    var successors: Set<TrialState> {
        switch self {
        case .waiting: [.running, .cancelled, .retired]
        case .running: [.waiting, .completed, .failed, .diverged, .cancelled, .retired]
        case .completed: [.retired]
        case .failed, .cancelled: [.waiting, .retired]
        case .diverged: [.retired]
        case .retired: [.waiting, .completed, .failed, .diverged, .cancelled]
        }
    }

    /// Whether the trial has ended (nothing more will run for it unless retried).
    public var isFinished: Bool { ![.waiting, .running].contains(self) }
}

/// How one attempt ended.
public enum AttemptOutcome: String, Sendable, CaseIterable, Codable {
    /// It produced the trial's result.
    case completed
    /// The worker went silent, stalled, timed out or left: the trial is retried, up to the limit.
    case lost
    /// The trainer failed (e.g. crashed): the trial fails.
    case failed
    /// The loss became NaN/∞: terminal, since the same seed diverges again.
    case diverged
    /// The user cancelled the trial.
    case cancelled
}

/// A write the store refused because the trial was not in a state that allows it.
public struct IllegalTransition: Error, Equatable, CustomStringConvertible, Sendable {
    public var trial: String
    public var from: TrialState
    public var to: TrialState

    public var description: String { "trial \(trial) cannot go from \(from.rawValue) to \(to.rawValue)" }
}

/// A store file that is missing or is not a sweep database.
public struct StoreError: Error, CustomStringConvertible, Sendable {
    public var message: String

    public init(message: String) { self.message = message }

    public var description: String { message }
}

/// A trial handed to a worker.
public struct Claim: Sendable, Equatable {
    public var trial: String
    public var number: Int
    public var attempt: Int
    public var lease: String
    /// The trial's canonical config JSON, as stored (validated when the sweep was planned).
    public var configJSON: String

    /// The config, parsed.
    public func config() throws -> TrialConfig { try TrialConfig.parse(json: configJSON) }
}

/// What happened to a submitted result.
public enum ResultDisposition: Sendable, Equatable {
    /// Stored: the trial is completed with it.
    case stored
    /// The same lease's result was already stored (a resend after a lost `ack`); nothing changed.
    case duplicate
    /// The lease is not the trial's current one (late, from a worker declared dead, or for a
    /// finished trial): recorded as an event and ignored.
    case stale
    /// The lease belongs to another worker: nothing is stored (the sender is answered with an error).
    case foreign
}

/// A finished trial's result as the store keeps it.
public struct TrialResultRecord: Sendable, Equatable {
    public var bestEpoch: Int
    public var valid: [String: Double]
    public var test: [String: Double]
    public var history: [String]
    /// `timing` JSON (examples/s, seconds, threads, BLAS core).
    public var timing: String
    public var seconds: Double

    public init(bestEpoch: Int, valid: [String: Double], test: [String: Double], history: [String], timing: String, seconds: Double) {
        self.bestEpoch = bestEpoch
        self.valid = valid
        self.test = test
        self.history = history
        self.timing = timing
        self.seconds = seconds
    }
}

/// How a changed sweep file was applied to an existing store.
public struct PlanSync: Sendable, Equatable {
    /// Trials added.
    public var new: Int
    /// Trials already there and still planned (finished results kept).
    public var kept: Int
    /// Trials no longer planned, now `retired`.
    public var retired: Int
}

/// The sweep's row: its file, metric and dataset.
public struct SweepRecord: Sendable {
    public var name: String
    public var specText: String
    public var specHash: String
    public var metric: String
    /// The dataset as the trial file writes it: a source and a fingerprint.
    public var dataset: DatasetSource
    public var fingerprint: String
    /// Popularity baseline metrics on valid and test, for scale on the leaderboard.
    public var popularity: [String: [String: Double]]?
}

/// One sweep's durable state in one SQLite file (WAL), through GRDB.
///
/// A process opens one writer (``open(path:)``) or any number of readers (``openReadOnly(path:)``),
/// which never create the file (they bring one from an older build to the current schema) and
/// work while a writer writes. Each method is one
/// transaction, named by intent, and every write is safe to repeat: UNIQUE constraints and state
/// checks make a replayed write a no-op, and a crash loses no committed result.
public final class SweepStore: Sendable {
    let database: any DatabaseWriter & DatabaseReader
    public let path: String
    private let checkpointer: BackgroundCheckpointer?
    /// Why a write nested in the current transaction failed (nil while none has): that transaction
    /// must not commit.
    private let failedWrite = Mutex<String?>(nil)

    private init(database: any DatabaseWriter & DatabaseReader, path: String, checkpointer: BackgroundCheckpointer? = nil) {
        self.database = database
        self.path = path
        self.checkpointer = checkpointer
    }

    deinit { checkpointer?.stop() }

    /// Opens (creating if needed) a store for writing and applies its migrations.
    public static func open(path: String) throws -> SweepStore {
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")  // WAL + NORMAL survives a process crash
            // Checkpoints run on their own thread (below); this only bounds the log if they fall behind.
            try db.execute(sql: "PRAGMA wal_autocheckpoint = 16384")
        }
        let pool = try DatabasePool(path: path, configuration: configuration)
        try pool.read { db in try refuseNewerSchema(db, path: path) }
        try migrator.migrate(pool)
        return SweepStore(database: pool, path: path, checkpointer: try BackgroundCheckpointer(path: path))
    }

    /// Opens an existing store for writing (for commands that change a sweep but never create one).
    public static func openExisting(path: String) throws -> SweepStore {
        _ = try openReadOnly(path: path)
        return try open(path: path)
    }

    /// An in-memory store, for tests.
    public static func inMemory() throws -> SweepStore {
        let queue = try DatabaseQueue()
        try migrator.migrate(queue)
        return SweepStore(database: queue, path: ":memory:")
    }

    /// Opens an existing store read-only; says clearly when it is missing or not a sweep store.
    /// A store an older build wrote is first brought to the current schema (its migrations take
    /// a moment), so every reader meets the schema its queries are written for.
    public static func openReadOnly(path: String) throws -> SweepStore {
        guard FileManager.default.fileExists(atPath: path) else {
            throw StoreError(message: "\(path): no such sweep database (sweep launch creates it)")
        }
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(10)
        func openPool() throws -> (DatabasePool, isCurrent: Bool) {
            let pool: DatabasePool
            do {
                pool = try DatabasePool(path: path, configuration: configuration)
                let ready = try pool.read { db in try db.tableExists("sweep") && Int.fetchOne(db, sql: "SELECT COUNT(*) FROM sweep") == 1 }
                guard ready else { throw StoreError(message: "\(path) is not a sweep database (no sweep in it)") }
            } catch let error as StoreError {
                throw error
            } catch {
                throw StoreError(message: "\(path) is not a sweep database: \(error)")
            }
            return try pool.read { db in
                try refuseNewerSchema(db, path: path)
                return (pool, try migrator.hasCompletedMigrations(db))
            }
        }
        var (pool, isCurrent) = try openPool()
        if !isCurrent {
            do {
                var writing = Configuration()
                writing.busyMode = .timeout(10)
                try migrator.migrate(DatabaseQueue(path: path, configuration: writing))
            } catch {
                throw StoreError(message: "\(path) was written by an older version of sweep and could not be upgraded: \(error)")
            }
            (pool, _) = try openPool()
        }
        return SweepStore(database: pool, path: path)
    }

    /// Throws when a newer build has migrated the store beyond the migrations this build knows.
    private static func refuseNewerSchema(_ db: Database, path: String) throws {
        if try migrator.hasBeenSuperseded(db) {
            throw StoreError(message: "\(path) was written by a newer version of sweep than this one; use that version")
        }
    }

    /// Named migrations, applied in order, each in one transaction. Never edit a shipped one.
    static let migrator: DatabaseMigrator = {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-schema") { db in
            try db.execute(sql: """
                CREATE TABLE sweep (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    name TEXT NOT NULL,
                    spec_text TEXT NOT NULL,
                    spec_hash TEXT NOT NULL,
                    metric TEXT NOT NULL,
                    dataset TEXT NOT NULL,
                    fingerprint TEXT NOT NULL,
                    popularity TEXT,
                    created_at REAL NOT NULL,
                    updated_at REAL NOT NULL
                );
                CREATE TABLE trial (
                    id TEXT PRIMARY KEY,
                    number INTEGER NOT NULL UNIQUE,
                    config TEXT NOT NULL,
                    seed INTEGER NOT NULL,
                    variant TEXT,
                    state TEXT NOT NULL CHECK (state IN ('waiting','running','completed','failed','diverged','cancelled','retired')),
                    retired_from TEXT,
                    attempts INTEGER NOT NULL DEFAULT 0,
                    updated_at REAL NOT NULL
                );
                CREATE INDEX trial_by_state ON trial(state, number);
                CREATE TABLE attempt (
                    trial_id TEXT NOT NULL REFERENCES trial(id),
                    attempt INTEGER NOT NULL,
                    lease TEXT NOT NULL UNIQUE,
                    worker TEXT NOT NULL,
                    started_at REAL NOT NULL,
                    heartbeat_at REAL NOT NULL,
                    epoch INTEGER NOT NULL DEFAULT 0,
                    step INTEGER NOT NULL DEFAULT 0,
                    step_at REAL NOT NULL,
                    finished_at REAL,
                    outcome TEXT CHECK (outcome IN ('completed','lost','failed','diverged','cancelled')),
                    reason TEXT,
                    PRIMARY KEY (trial_id, attempt)
                );
                CREATE TABLE result (
                    trial_id TEXT PRIMARY KEY REFERENCES trial(id),
                    attempt INTEGER NOT NULL,
                    best_epoch INTEGER NOT NULL,
                    valid TEXT NOT NULL,
                    test TEXT NOT NULL,
                    timing TEXT NOT NULL,
                    seconds REAL NOT NULL,
                    worker TEXT NOT NULL,
                    finished_at REAL NOT NULL
                );
                CREATE TABLE epoch (
                    trial_id TEXT NOT NULL,
                    attempt INTEGER NOT NULL,
                    epoch INTEGER NOT NULL,
                    record TEXT NOT NULL,
                    PRIMARY KEY (trial_id, attempt, epoch),
                    FOREIGN KEY (trial_id, attempt) REFERENCES attempt(trial_id, attempt)
                );
                CREATE TABLE worker (
                    name TEXT PRIMARY KEY,
                    host TEXT NOT NULL,
                    cores INTEGER NOT NULL,
                    blas_threads INTEGER NOT NULL,
                    blas_core TEXT NOT NULL,
                    state TEXT NOT NULL,
                    first_seen REAL NOT NULL,
                    last_seen REAL NOT NULL,
                    trials_completed INTEGER NOT NULL DEFAULT 0
                );
                CREATE TABLE event (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    at REAL NOT NULL,
                    kind TEXT NOT NULL,
                    trial_id TEXT,
                    worker TEXT,
                    detail TEXT NOT NULL
                );
                """)
        }
        migrator.registerMigration("v2-worker-counts-from-results") { db in
            // A worker's completed trials are counted from `result` when read: one statement less
            // on every trial's path than a counter kept up to date.
            try db.execute(sql: "ALTER TABLE worker DROP COLUMN trials_completed")
        }
        migrator.registerMigration("v3-attempts-and-results-keyed-by-trial-number") { db in
            // Keyed by the trials' hash ids, each new attempt and result dirtied a random page of
            // its table's primary key index: about 15 of the 24 pages a batch of 8 trials wrote to
            // the WAL. Trials are claimed in number order, so keyed by number they append. The id
            // stays beside the number (readers select by it) and a foreign key keeps the two one
            // trial's.
            try db.execute(sql: """
                CREATE UNIQUE INDEX trial_number_id ON trial(number, id);
                CREATE TABLE attempt_by_number (
                    trial_number INTEGER NOT NULL,
                    trial_id TEXT NOT NULL,
                    attempt INTEGER NOT NULL,
                    lease TEXT NOT NULL UNIQUE,
                    worker TEXT NOT NULL,
                    started_at REAL NOT NULL,
                    heartbeat_at REAL NOT NULL,
                    epoch INTEGER NOT NULL DEFAULT 0,
                    step INTEGER NOT NULL DEFAULT 0,
                    step_at REAL NOT NULL,
                    finished_at REAL,
                    outcome TEXT CHECK (outcome IN ('completed','lost','failed','diverged','cancelled')),
                    reason TEXT,
                    PRIMARY KEY (trial_number, attempt),
                    FOREIGN KEY (trial_number, trial_id) REFERENCES trial(number, id)
                );
                INSERT INTO attempt_by_number SELECT trial.number, attempt.* FROM attempt JOIN trial ON trial.id = attempt.trial_id;
                CREATE TABLE result_by_number (
                    trial_number INTEGER PRIMARY KEY,
                    trial_id TEXT NOT NULL,
                    attempt INTEGER NOT NULL,
                    best_epoch INTEGER NOT NULL,
                    valid TEXT NOT NULL,
                    test TEXT NOT NULL,
                    timing TEXT NOT NULL,
                    seconds REAL NOT NULL,
                    worker TEXT NOT NULL,
                    finished_at REAL NOT NULL,
                    FOREIGN KEY (trial_number, attempt) REFERENCES attempt_by_number(trial_number, attempt),
                    FOREIGN KEY (trial_number, trial_id) REFERENCES trial(number, id)
                );
                INSERT INTO result_by_number SELECT trial.number, result.* FROM result JOIN trial ON trial.id = result.trial_id;
                CREATE TABLE epoch_by_number (
                    trial_number INTEGER NOT NULL,
                    attempt INTEGER NOT NULL,
                    epoch INTEGER NOT NULL,
                    record TEXT NOT NULL,
                    PRIMARY KEY (trial_number, attempt, epoch),
                    FOREIGN KEY (trial_number, attempt) REFERENCES attempt_by_number(trial_number, attempt)
                );
                INSERT INTO epoch_by_number SELECT trial.number, epoch.attempt, epoch.epoch, epoch.record FROM epoch JOIN trial ON trial.id = epoch.trial_id;
                DROP TABLE epoch;
                DROP TABLE result;
                DROP TABLE attempt;
                ALTER TABLE attempt_by_number RENAME TO attempt;
                ALTER TABLE result_by_number RENAME TO result;
                ALTER TABLE epoch_by_number RENAME TO epoch;
                """)
        }
        return migrator
    }()

    // MARK: Transactions

    /// One transaction of the store. Inside another (a ``batch(_:)``) it is part of that one,
    /// which is all-or-nothing: when it throws, the enclosing transaction rolls back as a whole,
    /// even if the caller catches the error.
    func write<T>(_ body: (Database) throws -> T) throws -> T {
        try database.unsafeReentrantWrite { db in
            guard db.isInsideTransaction else { return try transaction(db) { try body(db) } }
            // No savepoint: one costs two statements on the path every trial takes twice, and the
            // enclosing transaction is undone anyway when a write in it fails.
            do {
                return try body(db)
            } catch {
                failedWrite.withLock { $0 = $0 ?? "\(error)" }
                throw error
            }
        }
    }

    /// Group commit: the store writes `body` makes share one transaction, so a burst of results and
    /// claims costs one commit. When this returns, all of them are durable; when it throws (or a
    /// write inside it threw, caught or not), none is. Reads through the store's reader
    /// connections inside `body` see the state before the batch.
    public func batch(_ body: () throws -> Void) throws {
        try database.unsafeReentrantWrite { db in try transaction(db, body) }
    }

    /// Runs `body` as one transaction, rolled back if it throws or a write nested in it failed.
    private func transaction<T>(_ db: Database, _ body: () throws -> T) throws -> T {
        failedWrite.withLock { $0 = nil }
        var result: T?
        try db.inTransaction {
            result = try body()
            if let failure = failedWrite.withLock({ $0 }) {
                throw StoreError(message: "a write in this transaction failed (\(failure)), so none of its writes is kept")
            }
            return .commit
        }
        return result!
    }

    // MARK: The sweep and its plan

    /// Applies a sweep file's plan: adds new trials, keeps every trial still planned (and its
    /// results), retires trials no longer planned. A changed metric or dataset is refused.
    public func syncPlan(spec: SweepSpec, trials: [PlannedTrial], fingerprint: String,
                         popularity: [String: [String: Double]]?, now: Date = Date()) throws -> PlanSync {
        let datasetJSON = try Self.json(Self.datasetObject(spec.dataset, fingerprint: fingerprint))
        let popularityJSON = try popularity.map { try Self.json($0) }
        return try write { db in
            let time = now.timeIntervalSince1970
            if let existing = try Row.fetchOne(db, sql: "SELECT metric, fingerprint FROM sweep WHERE id = 1") {
                let metric: String = existing["metric"], storedFingerprint: String = existing["fingerprint"]
                guard metric == spec.metric else {
                    throw StoreError(message: "the sweep file's metric is valid_\(spec.metric) but this store ranks by valid_\(metric); results would not compare. Use a new --db")
                }
                guard storedFingerprint == fingerprint else {
                    throw StoreError(message: "the sweep file's dataset (fingerprint \(fingerprint)) is not this store's (fingerprint \(storedFingerprint)); results would not compare. Use a new --db")
                }
                try db.execute(sql: """
                    UPDATE sweep SET name = ?, spec_text = ?, spec_hash = ?, dataset = ?, popularity = COALESCE(?, popularity), updated_at = ?
                    WHERE id = 1
                    """, arguments: [spec.name, spec.text, spec.hash, datasetJSON, popularityJSON, time])
            } else {
                try db.execute(sql: """
                    INSERT INTO sweep (id, name, spec_text, spec_hash, metric, dataset, fingerprint, popularity, created_at, updated_at)
                    VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [spec.name, spec.text, spec.hash, spec.metric, datasetJSON, fingerprint, popularityJSON, time, time])
            }
            var sync = PlanSync(new: 0, kept: 0, retired: 0)
            let planned = Set(trials.map(\.id))
            var nextNumber = (try Int.fetchOne(db, sql: "SELECT MAX(number) FROM trial") ?? 0) + 1
            for trial in trials {
                if let state = try Self.state(db, of: trial.id) {
                    sync.kept += 1
                    if state == .retired {
                        try db.execute(sql: "UPDATE trial SET state = COALESCE(retired_from, 'waiting'), retired_from = NULL, updated_at = ? WHERE id = ?",
                                       arguments: [time, trial.id])
                        try Self.event(db, time, "unretired", trial: trial.id, detail: "planned again")
                    }
                } else {
                    // Numbers continue after the largest ever given, so they stay unique and stable.
                    let number = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM trial") == 0 ? trial.number : nextNumber
                    nextNumber = max(nextNumber, number + 1)
                    try db.execute(sql: """
                        INSERT INTO trial (id, number, config, seed, variant, state, updated_at) VALUES (?, ?, ?, ?, ?, 'waiting', ?)
                        """, arguments: [trial.id, number, trial.canonicalConfig, trial.config.seed, trial.variant, time])
                    sync.new += 1
                }
            }
            for id in try String.fetchAll(db, sql: "SELECT id FROM trial WHERE state != 'retired'") where !planned.contains(id) {
                try db.execute(sql: """
                    UPDATE trial SET retired_from = CASE state WHEN 'running' THEN 'waiting' ELSE state END, state = 'retired', updated_at = ?
                    WHERE id = ?
                    """, arguments: [time, id])
                try Self.event(db, time, "retired", trial: id, detail: "no longer planned by the sweep file")
                sync.retired += 1
            }
            return sync
        }
    }

    /// The sweep's row, or nil for a store that has none yet.
    public func sweep() throws -> SweepRecord? {
        try database.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM sweep WHERE id = 1") else { return nil }
            let dataset = try JSONSerialization.jsonObject(with: Data((row["dataset"] as String).utf8)) as? [String: Any] ?? [:]
            let source: DatasetSource
            if let path = dataset["path"] as? String {
                source = .path(path)
            } else {
                let synthetic = dataset["synthetic"] as? [String: Any] ?? [:]
                source = .synthetic(preset: synthetic["preset"] as? String ?? "small", seed: synthetic["seed"] as? Int ?? 0)
            }
            let popularity = (row["popularity"] as String?).flatMap {
                try? JSONDecoder().decode([String: [String: Double]].self, from: Data($0.utf8))
            }
            return SweepRecord(name: row["name"], specText: row["spec_text"], specHash: row["spec_hash"], metric: row["metric"],
                               dataset: source, fingerprint: row["fingerprint"], popularity: popularity)
        }
    }

    // MARK: Scheduling

    /// Compare-and-set: the lowest-numbered waiting trial becomes running under a new lease, or nil.
    public func claimNextTrial(worker: String, lease: String, now: Date = Date()) throws -> Claim? {
        try write { db in
            let time = now.timeIntervalSince1970
            guard let row = try Row.fetchOne(db.cachedStatement(sql: """
                UPDATE trial SET state = 'running', attempts = attempts + 1, updated_at = ?
                WHERE id = (SELECT id FROM trial WHERE state = 'waiting' ORDER BY number LIMIT 1)
                RETURNING id, number, config, attempts
                """), arguments: [time]) else {
                return nil
            }
            let id: String = row[0], number: Int = row[1], attempt: Int = row[3]
            try db.run("INSERT INTO attempt (trial_number, trial_id, attempt, lease, worker, started_at, heartbeat_at, step_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       [number, id, attempt, lease, worker, time, time, time])
            return Claim(trial: id, number: number, attempt: attempt, lease: lease, configJSON: row[2])
        }
    }

    /// Records proof of life and progress for a lease; false when the lease is not live.
    @discardableResult
    public func recordHeartbeat(lease: String, epoch: Int, step: Int, now: Date = Date()) throws -> Bool {
        try write { db in
            let time = now.timeIntervalSince1970
            try db.run("""
                UPDATE attempt SET heartbeat_at = ?, step_at = CASE WHEN ? > step THEN ? ELSE step_at END,
                                   epoch = ?, step = MAX(step, ?)
                WHERE lease = ? AND outcome IS NULL
                """, [time, step, time, epoch, step, lease])
            return db.changesCount == 1
        }
    }

    /// Stores one epoch's record for a live lease (idempotent); false when the lease is not live.
    @discardableResult
    public func recordEpoch(lease: String, epoch: Int, record: String) throws -> Bool {
        try write { db in
            guard let attempt = try Row.fetchOne(db, sql: "SELECT trial_number, attempt FROM attempt WHERE lease = ? AND outcome IS NULL", arguments: [lease]) else {
                return false
            }
            try db.execute(sql: "INSERT OR REPLACE INTO epoch (trial_number, attempt, epoch, record) VALUES (?, ?, ?, ?)",
                           arguments: [attempt["trial_number"], attempt["attempt"], epoch, record])
            return true
        }
    }

    /// Stores a trial's result under its lease and completes the trial, exactly once. Only the
    /// worker the attempt was handed to may finish it (`.foreign` otherwise, nothing written).
    public func completeTrial(lease: String, worker: String, result: TrialResultRecord, now: Date = Date()) throws -> ResultDisposition {
        let valid = try JSONText.numbers(result.valid), test = try JSONText.numbers(result.test)
        return try write { db in
            let time = now.timeIntervalSince1970
            // The common case in one statement: the lease is live and this worker's, so its trial is
            // running under it (a trial has at most one live attempt). Anything else changes nothing
            // here and is sorted out below.
            if let row = try Row.fetchOne(db.cachedStatement(sql: """
                UPDATE attempt SET outcome = 'completed', finished_at = ?
                WHERE lease = ? AND worker = ? AND outcome IS NULL
                  AND (SELECT state FROM trial WHERE number = attempt.trial_number) = 'running'
                RETURNING trial_id, trial_number, attempt
                """), arguments: [time, lease, worker]) {
                let trialID: String = row[0], trialNumber: Int = row[1], attempt: Int = row[2]
                try Self.transition(db, trialID, from: .running, to: .completed, time)
                try db.run("INSERT INTO result (trial_number, trial_id, attempt, best_epoch, valid, test, timing, seconds, worker, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           [trialNumber, trialID, attempt, result.bestEpoch, valid, test, result.timing, result.seconds, worker, time])
                for (index, record) in result.history.enumerated() {
                    try db.run("INSERT OR REPLACE INTO epoch (trial_number, attempt, epoch, record) VALUES (?, ?, ?, ?)",
                               [trialNumber, attempt, index + 1, record])
                }
                return .stored
            }
            guard let attempt = try Row.fetchOne(db.cachedStatement(sql: "SELECT trial_id, attempt, outcome, worker FROM attempt WHERE lease = ?"),
                                                 arguments: [lease]) else {
                try Self.event(db, time, "stale_result", trial: nil, worker: worker, detail: "result for unknown lease \(lease)")
                return .stale
            }
            if (attempt["worker"] as String) != worker { return .foreign }
            let trialID: String = attempt["trial_id"], number: Int = attempt["attempt"]
            if (attempt["outcome"] as String?) == AttemptOutcome.completed.rawValue { return .duplicate }
            let state = try Self.state(db, of: trialID)
            try Self.event(db, time, "stale_result", trial: trialID, worker: worker,
                           detail: "result for lease \(lease) (attempt \(number)) ignored: attempt \(attempt["outcome"] as String? ?? "live"), trial \(state?.rawValue ?? "?")")
            return .stale
        }
    }

    /// Ends a live attempt without a result. `lost` requeues the trial for a new attempt while
    /// fewer than `maxAttempts` have been made, else fails it; `failed`, `diverged` and `cancelled`
    /// end the trial in that state. Returns the trial's new state, or nil for a lease not live.
    @discardableResult
    public func endAttempt(lease: String, outcome: AttemptOutcome, reason: String, maxAttempts: Int,
                           now: Date = Date()) throws -> TrialState? {
        precondition(outcome != .completed, "a completed attempt goes through completeTrial")
        return try write { db in
            let time = now.timeIntervalSince1970
            guard let attempt = try Row.fetchOne(db, sql: "SELECT trial_id, attempt FROM attempt WHERE lease = ? AND outcome IS NULL", arguments: [lease]) else {
                return nil
            }
            let trialID: String = attempt["trial_id"], number: Int = attempt["attempt"]
            try db.execute(sql: "UPDATE attempt SET outcome = ?, reason = ?, finished_at = ? WHERE lease = ?",
                           arguments: [outcome.rawValue, reason, time, lease])
            let next: TrialState = switch outcome {
            case .lost: number < maxAttempts ? .waiting : .failed
            case .failed: .failed
            case .diverged: .diverged
            case .cancelled: .cancelled
            case .completed: .completed
            }
            try Self.transition(db, trialID, from: .running, to: next, time)
            return next
        }
    }

    /// Attempts still running: lease, worker, heartbeat and progress times (for the scheduler).
    public func liveAttempts() throws -> [(lease: String, trial: String, worker: String, started: Date, heartbeat: Date, stepChanged: Date)] {
        try database.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM attempt WHERE outcome IS NULL").map {
                (lease: $0["lease"], trial: $0["trial_id"], worker: $0["worker"],
                 started: Date(timeIntervalSince1970: $0["started_at"]), heartbeat: Date(timeIntervalSince1970: $0["heartbeat_at"]),
                 stepChanged: Date(timeIntervalSince1970: $0["step_at"]))
            }
        }
    }

    /// Cancels waiting and running trials (all of them when `trials` is nil). Running ones end their
    /// live attempt as `cancelled`. Returns the ids cancelled.
    @discardableResult
    public func cancel(trials: [String]?, now: Date = Date()) throws -> [String] {
        try write { db in
            let time = now.timeIntervalSince1970
            let candidates = try trials ?? String.fetchAll(db, sql: "SELECT id FROM trial WHERE state IN ('waiting', 'running') ORDER BY number")
            var cancelled: [String] = []
            for id in candidates {
                guard let state = try Self.state(db, of: id) else {
                    throw StoreError(message: "no trial \(id) in this sweep")
                }
                guard state == .waiting || state == .running else { continue }
                try db.execute(sql: "UPDATE attempt SET outcome = 'cancelled', reason = 'cancelled by the user', finished_at = ? WHERE trial_number = (SELECT number FROM trial WHERE id = ?) AND outcome IS NULL",
                               arguments: [time, id])
                try Self.transition(db, id, from: state, to: .cancelled, time)
                cancelled.append(id)
            }
            return cancelled
        }
    }

    /// Moves failed or cancelled trials back to waiting for a new attempt (`diverged` stays: the
    /// same seed diverges again). `trials` nil means every failed trial. Returns the ids moved.
    @discardableResult
    public func retry(trials: [String]?, now: Date = Date()) throws -> [String] {
        try write { db in
            let time = now.timeIntervalSince1970
            let candidates = try trials ?? String.fetchAll(db, sql: "SELECT id FROM trial WHERE state = 'failed' ORDER BY number")
            var moved: [String] = []
            for id in candidates {
                guard let state = try Self.state(db, of: id) else {
                    throw StoreError(message: "no trial \(id) in this sweep")
                }
                guard state == .failed || state == .cancelled else {
                    throw StoreError(message: "trial \(id) is \(state.rawValue); only failed or cancelled trials can be retried")
                }
                // A retry starts a fresh budget of attempts.
                try Self.transition(db, id, from: state, to: .waiting, time)
                try db.execute(sql: "UPDATE trial SET attempts = (SELECT COUNT(*) FROM attempt WHERE trial_number = trial.number) WHERE id = ?", arguments: [id])
                try Self.event(db, time, "retried", trial: id, detail: "from \(state.rawValue)")
                moved.append(id)
            }
            return moved
        }
    }

    /// Records a worker's introduction (or return).
    public func recordWorker(name: String, host: String, cores: Int, blasThreads: Int, blasCore: String, state: String, now: Date = Date()) throws {
        try write { db in
            let time = now.timeIntervalSince1970
            try db.execute(sql: """
                INSERT INTO worker (name, host, cores, blas_threads, blas_core, state, first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(name) DO UPDATE SET host = excluded.host, cores = excluded.cores, blas_threads = excluded.blas_threads,
                    blas_core = excluded.blas_core, state = excluded.state, last_seen = excluded.last_seen
                """, arguments: [name, host, cores, blasThreads, blasCore, state, time, time])
        }
    }

    /// Marks a worker online, offline or quarantined.
    public func setWorkerState(name: String, state: String, now: Date = Date()) throws {
        try write { db in
            try db.execute(sql: "UPDATE worker SET state = ?, last_seen = ? WHERE name = ?", arguments: [state, now.timeIntervalSince1970, name])
        }
    }

    /// The one place a trial's state changes: checks the old state, refuses illegal moves.
    static func transition(_ db: Database, _ trial: String, from: TrialState, to: TrialState, _ time: Double) throws {
        guard from.successors.contains(to) else { throw IllegalTransition(trial: trial, from: from, to: to) }
        try db.run("UPDATE trial SET state = ?, updated_at = ? WHERE id = ? AND state = ?", [to.rawValue, time, trial, from.rawValue])
        guard db.changesCount == 1 else {
            let actual = try state(db, of: trial)
            throw IllegalTransition(trial: trial, from: actual ?? from, to: to)
        }
    }

    /// A trial's state, or nil when the sweep has no such trial.
    static func state(_ db: Database, of trial: String) throws -> TrialState? {
        try String.fetchOne(db.cachedStatement(sql: "SELECT state FROM trial WHERE id = ?"), arguments: [trial]).flatMap(TrialState.init)
    }

    static func event(_ db: Database, _ time: Double, _ kind: String, trial: String?, worker: String? = nil, detail: String) throws {
        try db.execute(sql: "INSERT INTO event (at, kind, trial_id, worker, detail) VALUES (?, ?, ?, ?, ?)",
                       arguments: [time, kind, trial, worker, detail])
    }

    static func json(_ value: Any) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: value, options: [.withoutEscapingSlashes]), as: UTF8.self)
    }

    static func json(_ value: some Encodable) throws -> String {
        String(decoding: try storeEncoder.encode(value), as: UTF8.self)
    }

    private static let storeEncoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return encoder
    }()

    static func datasetObject(_ source: DatasetSource, fingerprint: String) -> [String: Any] {
        switch source {
        case .path(let path): ["path": path, "fingerprint": fingerprint]
        case .synthetic(let preset, let seed): ["synthetic": ["preset": preset, "seed": seed], "fingerprint": fingerprint]
        }
    }
}

/// Copies the write-ahead log into the database file ten times a second on a connection and thread
/// of its own (passive checkpoints: they never wait for, or block, the writer). A checkpoint copies
/// pages and syncs the file twice; done by the writer after a commit, it stalled the thread that
/// serves workers for milliseconds, the tail of the assign latency.
final class BackgroundCheckpointer: Sendable {
    private let stopped = StopFlag()
    private let wakeUp = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)

    init(path: String) throws {
        let connection = try DatabaseQueue(path: path)
        let (stopped, wakeUp, finished) = (stopped, wakeUp, finished)
        let thread = Thread {
            while !stopped.isSet {
                _ = try? connection.writeWithoutTransaction { try $0.checkpoint(.passive) }
                _ = wakeUp.wait(timeout: .now() + 0.1)
            }
            finished.signal()
        }
        thread.name = "sweep-store-checkpointer"
        thread.start()
    }

    /// Stops the thread and waits for it (at most one checkpoint).
    func stop() {
        stopped.set()
        wakeUp.signal()
        finished.wait()
    }
}

extension Database {
    /// Executes a statement of the hot path from the connection's statement cache: SQLite parses
    /// and GRDB authorises it once per connection instead of on every trial.
    func run(_ sql: String, _ arguments: StatementArguments) throws {
        try cachedStatement(sql: sql).execute(arguments: arguments)
    }
}
