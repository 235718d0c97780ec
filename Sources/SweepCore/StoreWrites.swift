import Foundation
import GRDB
import Vocabulary

/// The live attempt a lease names, with what judging and finishing it needs.
struct LiveAttempt {
    var trialID: String
    var trialNumber: Int
    var attempt: Int
    var worker: String
    var configJSON: String
}

extension SweepStore {
    // MARK: The sweep and its plan

    /// Applies a sweep file's plan: adds new trials, keeps every trial still planned (and its
    /// results), retires trials no longer planned. Retiring a running trial ends its live attempt
    /// (`cancelled`), so its worker is told to stop and its late result is ignored. A changed metric
    /// dataset or program is refused.
    public func syncPlan(
        spec: SweepSpec, trials: [PlannedTrial], fingerprint: String,
        popularity: [String: [String: Double]]?, program: TrialProgram? = nil, now: Date = Date()
    ) throws -> PlanSync {
        try write { db in
            let time = now.timeIntervalSince1970
            try Self.writeSweepRow(db, spec: spec, fingerprint: fingerprint, popularity: popularity, program: program, time: time)
            var sync = PlanSync(new: 0, kept: 0, retired: 0)
            try Self.insertPlanned(db, trials, time, &sync)
            try Self.retireUnplanned(db, planned: Set(trials.map(\.id)), space: SearchSpace(spec: spec), time, &sync)
            return sync
        }
    }

    /// The sweep's row: written the first time, updated after (its file, dataset and program
    /// text, what it ranks by); a file whose primary objective, dataset or program is not the
    /// store's is refused, naming both (other objectives and constraints may change: they only
    /// re-rank the stored results).
    static func writeSweepRow(
        _ db: Database, spec: SweepSpec, fingerprint: String, popularity: [String: [String: Double]]?, program: TrialProgram?,
        time: Double
    ) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let datasetJSON = String(decoding: try encoder.encode(DatasetEntry(spec.dataset, fingerprint: fingerprint)), as: UTF8.self)
        let popularityJSON = try popularity.map { String(decoding: try encoder.encode($0), as: UTF8.self) }
        let programJSON = try program.map { String(decoding: try encoder.encode(StoredProgram($0)), as: UTF8.self) }
        let rankingJSON = String(decoding: try encoder.encode(spec.ranking), as: UTF8.self)
        if let existing = try Row.fetchOne(db, sql: "SELECT metric, ranking, fingerprint, program FROM sweep WHERE id = 1") {
            let storedFingerprint: String = existing["fingerprint"]
            let stored = try Self.ranking(metric: existing["metric"], stored: existing["ranking"])
            guard stored.primary == spec.ranking.primary else {
                throw StoreError(
                    message:
                        "the sweep file ranks first by \(spec.ranking.primary) but this store's trials selected their best epochs by \(stored.primary); results would not compare. Use a new --db"
                )
            }
            guard storedFingerprint == fingerprint else {
                throw StoreError(
                    message:
                        "the sweep file's dataset (fingerprint \(fingerprint)) is not this store's (fingerprint \(storedFingerprint)); results would not compare. Use a new --db"
                )
            }
            let storedProgram = try (existing["program"] as String?).map {
                try StoredJSON.decode(StoredProgram.self, $0, "the sweep's program")
            }
            if storedProgram?.fingerprint != program?.fingerprint {
                let was = storedProgram.map { "program fingerprint \($0.fingerprint)" } ?? "the built-in trainer"
                let now = program.map { "program \($0.directory) (fingerprint \($0.fingerprint))" } ?? "the built-in trainer"
                throw StoreError(
                    message:
                        "the sweep file runs \(now) but this store's results come from \(was); results would not compare. Put the program back as it was, or use a new --db"
                )
            }
            try db.execute(
                sql: """
                    UPDATE sweep SET name = ?, spec_text = ?, spec_hash = ?, dataset = ?, popularity = COALESCE(?, popularity), program = ?,
                    ranking = ?, updated_at = ?
                    WHERE id = 1
                    """, arguments: [spec.name, spec.text, spec.hash, datasetJSON, popularityJSON, programJSON, rankingJSON, time])
        } else {
            try db.execute(
                sql: """
                    INSERT INTO sweep (id, name, spec_text, spec_hash, metric, ranking, dataset, fingerprint, popularity, program, created_at, updated_at)
                    VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    spec.name, spec.text, spec.hash, spec.ranking.primary.metric, rankingJSON, datasetJSON, fingerprint, popularityJSON,
                    programJSON, time, time,
                ])
        }
    }

    /// Planned trials the store lacks are added as `waiting` (numbers continue after the largest
    /// ever given, so they stay unique and stable); retired ones planned again come back.
    static func insertPlanned(_ db: Database, _ trials: [PlannedTrial], _ time: Double, _ sync: inout PlanSync) throws {
        var nextNumber = (try Int.fetchOne(db, sql: "SELECT MAX(number) FROM trial") ?? 0) + 1
        let isEmpty = nextNumber == 1
        for trial in trials {
            if let row = try Row.fetchOne(db, sql: "SELECT state, retired_from FROM trial WHERE id = ?", arguments: [trial.id]) {
                sync.kept += 1
                if try Self.trialState(row["state"], trial.id) == .retired {
                    try Self.unretire(db, trial.id, retiredFrom: row["retired_from"], because: "planned again", time)
                }
            } else {
                // Numbers continue after the largest ever given, so they stay unique and stable.
                let number = isEmpty ? trial.number : nextNumber
                nextNumber = max(nextNumber, number + 1)
                try db.execute(
                    sql: """
                        INSERT INTO trial (id, number, config, seed, variant, state, updated_at) VALUES (?, ?, ?, ?, ?, 'waiting', ?)
                        """, arguments: [trial.id, number, trial.canonicalConfig, trial.config.seed, trial.variant, time])
                sync.new += 1
            }
        }
    }

    /// What is no longer planned is retired. A config an adaptive sampler proposed is no plan's:
    /// it stays while the sweep's space still admits it (and comes back when it does again).
    static func retireUnplanned(_ db: Database, planned: Set<String>, space: SearchSpace, _ time: Double, _ sync: inout PlanSync) throws {
        for row in try Row.fetchAll(db, sql: "SELECT id, state, origin, config FROM trial ORDER BY number") {
            let id: String = row["id"]
            guard !planned.contains(id) else { continue }
            let state = try Self.trialState(row["state"], id)
            // A config this build cannot read is admitted by no space: it is retired below.
            // A proposal the space still admits is kept, and so is a config enqueued with --force.
            let origin = try (row["origin"] as String?).map { try StoredJSON.decode(ProposalOrigin.self, $0, "trial \(id)'s origin") }
            if let origin, let config = try? TrialConfig.parse(json: row["config"]), origin.forced == true || space.admits(config) {
                sync.kept += 1
                if state == .retired {
                    try Self.unretire(
                        db, id,
                        retiredFrom: try String.fetchOne(db, sql: "SELECT retired_from FROM trial WHERE id = ?", arguments: [id]),
                        because: "admitted again by the sweep's space", time)
                }
                continue
            }
            guard state != .retired else { continue }
            if state == .running {
                try db.execute(
                    sql: """
                        UPDATE attempt SET outcome = \(AttemptOutcome.cancelled.sql), reason = 'retired: the sweep file no longer plans this trial', finished_at = ?
                        WHERE trial_number = (SELECT number FROM trial WHERE id = ?) AND outcome IS NULL
                        """, arguments: [time, id])
            }
            try Self.transition(db, id, from: state, to: .retired, time)
            try Self.event(db, time, "retired", trial: id, detail: "no longer planned by the sweep file (was \(state.rawValue))")
            sync.retired += 1
        }
    }

    // MARK: Scheduling

    /// Compare-and-set: the first waiting trial (enqueued ones first, then by number) becomes
    /// running under a new lease, or nil.
    public func claimNextTrial(worker: String, lease: String, now: Date = Date()) throws -> Claim? {
        try write { db in try Self.claim(db, worker: worker, lease: lease, now.timeIntervalSince1970) }
    }

    static func claim(_ db: Database, worker: String, lease: String, _ time: Double) throws -> Claim? {
        guard let row = try transitionLowestNumbered(db, from: .waiting, to: .running, time) else { return nil }
        let id: String = row[0], number: Int = row[1], attempt: Int = row[3]
        try db.run(
            "INSERT INTO attempt (trial_number, trial_id, attempt, lease, worker, started_at, heartbeat_at, step_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [number, id, attempt, lease, worker, time, time, time])
        return Claim(trial: id, number: number, attempt: attempt, lease: lease, configJSON: row[2])
    }

    /// Adds a proposed config's trials, one per repeat seed, numbered after every trial so far.
    static func insertProposal(_ db: Database, _ proposal: Proposal, repeats: Int, priority: Int = 0, _ time: Double) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let origin = String(decoding: try encoder.encode(proposal.origin), as: UTF8.self)
        var number = (try Int.fetchOne(db, sql: "SELECT MAX(number) FROM trial") ?? 0) + 1
        for seed in 0..<repeats {
            var config = proposal.config
            config.seed = seed
            let id = PlannedTrial.id(of: config)
            try db.execute(
                sql: """
                    INSERT INTO trial (id, number, config, seed, variant, state, origin, priority, updated_at)
                    VALUES (?, ?, ?, ?, NULL, 'waiting', ?, ?, ?)
                    """, arguments: [id, number, config.jsonText(), seed, origin, priority, time])
            number += 1
        }
    }

    /// Records proof of life and progress for a lease; false when the lease is not live.
    @discardableResult
    public func recordHeartbeat(lease: String, epoch: Int, step: Int, now: Date = Date()) throws -> Bool {
        try write { db in
            let time = now.timeIntervalSince1970
            try db.run(
                """
                UPDATE attempt SET heartbeat_at = ?, step_at = CASE WHEN ? > step THEN ? ELSE step_at END,
                                   epoch = ?, step = MAX(step, ?)
                WHERE lease = ? AND outcome IS NULL
                """, [time, step, time, epoch, step, lease])
            return db.changesCount == 1
        }
    }

    /// The live attempt of a lease whose trial is running, or nil.
    static func liveAttempt(_ db: Database, lease: String) throws -> LiveAttempt? {
        try Row.fetchOne(
            db.cachedStatement(
                sql: """
                    SELECT attempt.trial_id, attempt.trial_number, attempt.attempt, attempt.worker, trial.config
                    FROM attempt JOIN trial ON trial.number = attempt.trial_number
                    WHERE attempt.lease = ? AND attempt.outcome IS NULL AND trial.state = \(TrialState.running.sql)
                    """), arguments: [lease]
        ).map {
            LiveAttempt(trialID: $0[0], trialNumber: $0[1], attempt: $0[2], worker: $0[3], configJSON: $0[4])
        }
    }

    /// Stores one epoch's record of an attempt (idempotent).
    static func storeEpoch(_ db: Database, trialNumber: Int, attempt: Int, _ record: EpochRecord) throws {
        try db.run(
            "INSERT OR REPLACE INTO epoch (trial_number, attempt, epoch, record) VALUES (?, ?, ?, ?)",
            [trialNumber, attempt, record.epoch, try StoredJSON.epoch(record)])
    }

    /// The stored epoch records of an attempt up to `epoch`, in order.
    static func storedEpochs(_ db: Database, trialNumber: Int, attempt: Int, through epoch: Int) throws -> [EpochRecord] {
        try String.fetchAll(
            db, sql: "SELECT record FROM epoch WHERE trial_number = ? AND attempt = ? AND epoch <= ? ORDER BY epoch",
            arguments: [trialNumber, attempt, epoch]
        ).map {
            try StoredJSON.decodeEpoch($0, "an epoch record of trial #\(trialNumber)")
        }
    }

    /// Ends a live attempt with its result: the trial becomes `completed` (or `pruned`) and the
    /// result and every epoch record are stored.
    static func finish(
        _ db: Database, _ live: LiveAttempt, lease: String, as state: TrialState, report: TrialResult,
        reason: String?, _ time: Double
    ) throws {
        let outcome: AttemptOutcome = state == .pruned ? .pruned : .completed
        try db.run("UPDATE attempt SET outcome = ?, reason = ?, finished_at = ? WHERE lease = ?", [outcome.rawValue, reason, time, lease])
        try transition(db, live.trialID, from: .running, to: state, time)
        try storeResult(
            db, trialID: live.trialID, trialNumber: live.trialNumber, attempt: live.attempt, worker: live.worker, report: report, time)
    }

    /// Stores an ended attempt's result row and every epoch record.
    static func storeResult(
        _ db: Database, trialID: String, trialNumber: Int, attempt: Int, worker: String, report: TrialResult,
        _ time: Double
    ) throws {
        let valid = try StoredJSON.numbers(report.valid, "trial #\(trialNumber)'s valid metrics")
        let test = try StoredJSON.numbers(report.test, "trial #\(trialNumber)'s test metrics")
        let timing = try StoredJSON.timing(report.timing)
        try db.run(
            "INSERT INTO result (trial_number, trial_id, attempt, best_epoch, valid, test, timing, seconds, worker, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [trialNumber, trialID, attempt, report.bestEpoch, valid, test, timing, report.timing.totalSeconds, worker, time])
        for record in report.history { try storeEpoch(db, trialNumber: trialNumber, attempt: attempt, record) }
    }

    /// Completes the live attempt of `lease`, when it is `worker`'s, in the fewest statements: the
    /// attempt is ended by the statement that finds it. When it is not live nothing is written, and
    /// the disposition says why.
    static func complete(_ db: Database, lease: String, worker: String, report: TrialResult, _ time: Double) throws -> ResultDisposition {
        guard
            let row = try Row.fetchOne(
                db.cachedStatement(
                    sql: """
                        UPDATE attempt SET outcome = \(AttemptOutcome.completed.sql), finished_at = ?
                        WHERE lease = ? AND worker = ? AND outcome IS NULL
                          AND (SELECT state FROM trial WHERE number = attempt.trial_number) = \(TrialState.running.sql)
                        RETURNING trial_id, trial_number, attempt
                        """), arguments: [time, lease, worker])
        else { return try unacceptedResult(db, lease: lease, worker: worker, time) }
        let trialID: String = row[0], trialNumber: Int = row[1], attempt: Int = row[2]
        try transition(db, trialID, from: .running, to: .completed, time)
        try storeResult(db, trialID: trialID, trialNumber: trialNumber, attempt: attempt, worker: worker, report: report, time)
        return .stored
    }

    /// Why a result for a lease that is not live (or not this worker's) changes nothing.
    static func unacceptedResult(_ db: Database, lease: String, worker: String, _ time: Double) throws -> ResultDisposition {
        guard
            let attempt = try Row.fetchOne(
                db.cachedStatement(sql: "SELECT trial_id, attempt, outcome, worker FROM attempt WHERE lease = ?"),
                arguments: [lease])
        else {
            try event(db, time, "stale_result", trial: nil, worker: worker, detail: "result for unknown lease \(lease)")
            return .stale
        }
        if (attempt["worker"] as String) != worker { return .foreign }
        let trialID: String = attempt["trial_id"], number: Int = attempt["attempt"]
        if (attempt["outcome"] as String?) == AttemptOutcome.completed.rawValue { return .duplicate }
        let state = try Self.state(db, of: trialID)
        try event(
            db, time, "stale_result", trial: trialID, worker: worker,
            detail:
                "result for lease \(lease) (attempt \(number)) ignored: attempt \(attempt["outcome"] as String? ?? "live"), trial \(state?.rawValue ?? "?")"
        )
        return .stale
    }

    /// Stores a trial's result under its lease and completes the trial, exactly once. Only the
    /// worker the attempt was handed to may finish it (`.foreign` otherwise, nothing written).
    /// Early stopping goes through ``TrialController/tellResult(lease:worker:report:now:)``.
    public func completeTrial(lease: String, worker: String, result: TrialResult, now: Date = Date()) throws -> ResultDisposition {
        try write { db in
            let time = now.timeIntervalSince1970
            return try Self.complete(db, lease: lease, worker: worker, report: result, time)
        }
    }

    /// Ends a live attempt without a result. `lost` and `timed_out` requeue the trial for a new
    /// attempt while fewer than `maxAttempts` have been made, else fail it; `failed`, `diverged` and `cancelled`
    /// end the trial in that state. Returns the trial's new state, or nil for a lease not live.
    @discardableResult
    public func endAttempt(
        lease: String, outcome: AttemptOutcome, reason: String, maxAttempts: Int,
        now: Date = Date()
    ) throws -> TrialState? {
        precondition(outcome != .completed && outcome != .pruned, "results go through completeTrial or the controller")
        return try write { db in
            let time = now.timeIntervalSince1970
            guard let live = try Self.liveAttempt(db, lease: lease) else { return nil }
            try db.execute(
                sql: "UPDATE attempt SET outcome = ?, reason = ?, finished_at = ? WHERE lease = ?",
                arguments: [outcome.rawValue, reason, time, lease])
            let next: TrialState =
                switch outcome {
                case .lost, .timedOut: live.attempt < maxAttempts ? .waiting : .failed
                case .failed: .failed
                case .diverged: .diverged
                case .cancelled: .cancelled
                case .completed, .pruned: .completed
                }
            try Self.transition(db, live.trialID, from: .running, to: next, time)
            return next
        }
    }

    /// Cancels waiting and running trials (all of them when `trials` is nil). Running ones end their
    /// live attempt as `cancelled`. Returns the ids cancelled.
    @discardableResult
    public func cancel(trials: [String]?, now: Date = Date()) throws -> [String] {
        try write { db in
            let candidates =
                try trials
                ?? String.fetchAll(
                    db, sql: "SELECT id FROM trial WHERE state IN (\(TrialState.waiting.sql), \(TrialState.running.sql)) ORDER BY number")
            return try Self.cancel(db, candidates, reason: "cancelled by the user", now.timeIntervalSince1970)
        }
    }

    /// Cancels the running trials, their live attempts saying `reason`; returns their ids.
    static func cancelRunning(_ db: Database, reason: String, _ time: Double) throws -> [String] {
        try cancel(
            db, String.fetchAll(db, sql: "SELECT id FROM trial WHERE state = \(TrialState.running.sql) ORDER BY number"), reason: reason,
            time)
    }

    private static func cancel(_ db: Database, _ candidates: [String], reason: String, _ time: Double) throws -> [String] {
        var cancelled: [String] = []
        for id in candidates {
            guard let state = try Self.state(db, of: id) else {
                throw StoreError(message: "no trial \(id) in this sweep")
            }
            guard state == .waiting || state == .running else { continue }
            try db.execute(
                sql:
                    "UPDATE attempt SET outcome = \(AttemptOutcome.cancelled.sql), reason = ?, finished_at = ? WHERE trial_number = (SELECT number FROM trial WHERE id = ?) AND outcome IS NULL",
                arguments: [reason, time, id])
            try Self.transition(db, id, from: state, to: .cancelled, time)
            cancelled.append(id)
        }
        return cancelled
    }

    /// Moves failed or cancelled trials back to waiting for a new attempt. `diverged` stays (the
    /// same seed diverges again), and so does `pruned` (early stopping's decision is part of the
    /// sweep). `trials` nil means every failed trial. Returns the ids moved.
    @discardableResult
    public func retry(trials: [String]?, now: Date = Date()) throws -> [String] {
        try write { db in
            let time = now.timeIntervalSince1970
            let candidates =
                try trials ?? String.fetchAll(db, sql: "SELECT id FROM trial WHERE state = \(TrialState.failed.sql) ORDER BY number")
            var moved: [String] = []
            for id in candidates {
                guard let state = try Self.state(db, of: id) else {
                    throw StoreError(message: "no trial \(id) in this sweep")
                }
                switch state {
                case .failed, .cancelled: break
                case .pruned:
                    let stop = try Row.fetchOne(
                        db,
                        sql: """
                            SELECT rung.epoch, rung.rule FROM rung JOIN (\(Self.stopEpochs())) AS stop
                              ON stop.trial_number = rung.trial_number AND stop.epoch = rung.epoch
                            WHERE rung.trial_number = (SELECT number FROM trial WHERE id = ?)
                            """, arguments: [id])
                    let why =
                        stop.map { "early stopping stopped it at epoch \($0["epoch"] as Int) (\($0["rule"] as String))" }
                        ?? "early stopping stopped it"
                    throw StoreError(
                        message:
                            "trial \(id) was pruned: \(why). A pruned trial is never retried: the decision is part of the sweep, and `sweep show` explains it"
                    )
                case .diverged:
                    throw StoreError(message: "trial \(id) diverged; it is not retried, since the same seed diverges again")
                case .waiting, .running, .completed, .retired:
                    throw StoreError(message: "trial \(id) is \(state.rawValue); only failed or cancelled trials can be retried")
                }
                // A retry starts a fresh budget of attempts.
                try Self.transition(db, id, from: state, to: .waiting, time)
                try db.execute(
                    sql: "UPDATE trial SET attempts = (SELECT COUNT(*) FROM attempt WHERE trial_number = trial.number) WHERE id = ?",
                    arguments: [id])
                try Self.event(db, time, "retried", trial: id, detail: "from \(state.rawValue)")
                moved.append(id)
            }
            return moved
        }
    }

    /// Records a worker's introduction (or return).
    public func recordWorker(
        name: String, host: String, cores: Int, blasThreads: Int, blasCore: String, state: WorkerState, slots: Int = 1,
        gpus: [Int]? = nil, now: Date = Date()
    ) throws {
        try write { db in
            let time = now.timeIntervalSince1970
            let gpuList = gpus.map { "[" + $0.map(String.init).joined(separator: ",") + "]" }
            try db.execute(
                sql: """
                    INSERT INTO worker (name, host, cores, blas_threads, blas_core, state, first_seen, last_seen, slots, gpus)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT(name) DO UPDATE SET host = excluded.host, cores = excluded.cores, blas_threads = excluded.blas_threads,
                        blas_core = excluded.blas_core, state = excluded.state, last_seen = excluded.last_seen,
                        slots = excluded.slots, gpus = excluded.gpus
                    """, arguments: [name, host, cores, blasThreads, blasCore, state.rawValue, time, time, slots, gpuList])
        }
    }

    /// Marks a worker online, offline, lost or quarantined.
    public func setWorkerState(name: String, state: WorkerState, now: Date = Date()) throws {
        try write { db in
            try db.execute(
                sql: "UPDATE worker SET state = ?, last_seen = ? WHERE name = ?",
                arguments: [state.rawValue, now.timeIntervalSince1970, name])
        }
    }

    // MARK: Early stopping

    /// The judgement already made for a trial at an epoch, if any.
    static func judgement(_ db: Database, trialNumber: Int, epoch: Int) throws -> Judgement.Decision? {
        try String.fetchOne(
            db, sql: "SELECT decision FROM rung WHERE trial_number = ? AND epoch = ?",
            arguments: [trialNumber, epoch]
        ).flatMap(Judgement.Decision.init)
    }

    /// The values other (non-retired) trials recorded at a checkpoint of the same bracket and seed,
    /// in the order they were recorded: one vector per trial.
    static func competingValues(_ db: Database, epoch: Int, bracket: Int, seed: Int, excluding trialNumber: Int) throws -> [[Double]] {
        let rows = try Row.fetchCursor(
            db.cachedStatement(
                sql: """
                    SELECT rung.value, rung.objective_values FROM rung JOIN trial ON trial.number = rung.trial_number
                    WHERE rung.epoch = ? AND rung.bracket = ? AND rung.seed = ? AND rung.trial_number != ? AND trial.state != \(TrialState.retired.sql)
                    ORDER BY rung.rowid
                    """), arguments: [epoch, bracket, seed, trialNumber])
        var values: [[Double]] = []
        while let row = try rows.next() { values.append(try judgedValues(value: row[0], objectiveValues: row[1])) }
        return values
    }

    /// A judgement's values from its row: `objective_values` for several objectives, else `value`.
    static func judgedValues(value: Double, objectiveValues: String?) throws -> [Double] {
        try objectiveValues.map { try StoredJSON.decode([Double].self, $0, "a judgement's objective values") } ?? [value]
    }

    static func record(_ db: Database, _ judgement: Judgement) throws {
        // One objective keeps the layout every store had: a value and a flat list compared.
        let single = judgement.values.count == 1
        func list(_ numbers: [Double]) -> String { "[" + numbers.map(\.description).joined(separator: ",") + "]" }
        let kept = judgement.compared.prefix(Judgement.keptComparisons)
        let compared = single ? list(kept.map { $0[0] }) : "[" + kept.map(list).joined(separator: ",") + "]"
        try db.execute(
            sql: """
                INSERT INTO rung (trial_number, epoch, bracket, seed, value, objective_values, decision, rule, compared, compared_count, at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                judgement.trialNumber, judgement.epoch, judgement.bracket, judgement.seed, judgement.values[0],
                single ? nil : list(judgement.values), judgement.decision.rawValue, judgement.rule, compared,
                judgement.comparedCount, judgement.at.timeIntervalSince1970,
            ])
    }

    // MARK: The one transition function

    /// A retired trial back in the sweep, in the state it was retired from (`waiting` when none
    /// is known), with an event saying why.
    static func unretire(_ db: Database, _ trial: String, retiredFrom: String?, because reason: String, _ time: Double) throws {
        let restored = try retiredFrom.map { try trialState($0, trial) } ?? .waiting
        try transition(db, trial, from: .retired, to: restored, time)
        try event(db, time, "unretired", trial: trial, detail: reason)
    }

    /// The one place a trial's state changes: checks the old state, refuses illegal moves. Moving
    /// to `retired` remembers the state to restore (`waiting` for a running trial, whose attempt
    /// the caller has ended); leaving it forgets it. A claim counts an attempt.
    static func transition(
        _ db: Database, _ trial: String, from: TrialState, to: TrialState, _ time: Double,
        countingAnAttempt: Bool = false
    ) throws {
        guard from.successors.contains(to) else { throw IllegalTransition(trial: trial, from: from, to: to) }
        if to == .retired || from == .retired {
            let retiredFrom: String? = to == .retired ? (from == .running ? TrialState.waiting : from).rawValue : nil
            try db.run(
                "UPDATE trial SET state = ?, retired_from = ?, attempts = attempts + ?, updated_at = ? WHERE id = ? AND state = ?",
                [to.rawValue, retiredFrom, countingAnAttempt ? 1 : 0, time, trial, from.rawValue])
        } else {
            // The common case touches only what changes (every column set costs a CHECK on the hot path).
            try db.run(
                "UPDATE trial SET state = ?, attempts = attempts + ?, updated_at = ? WHERE id = ? AND state = ?",
                [to.rawValue, countingAnAttempt ? 1 : 0, time, trial, from.rawValue])
        }
        guard db.changesCount == 1 else {
            let actual = try state(db, of: trial)
            throw IllegalTransition(trial: trial, from: actual ?? from, to: to)
        }
    }

    /// The same transition for the lowest-numbered trial in `from`, found and changed in one
    /// statement (a claim: it counts an attempt): the trial's id, number, config and attempts, or
    /// nil when no trial is in `from`.
    static func transitionLowestNumbered(_ db: Database, from: TrialState, to: TrialState, _ time: Double) throws -> Row? {
        guard from.successors.contains(to), to != .retired, from != .retired else {
            throw IllegalTransition(trial: "(the next \(from.rawValue))", from: from, to: to)
        }
        return try Row.fetchOne(
            db.cachedStatement(
                sql: """
                    UPDATE trial SET state = ?, attempts = attempts + 1, updated_at = ?
                    WHERE id = (SELECT id FROM trial WHERE state = ? ORDER BY priority DESC, number LIMIT 1) AND state = ?
                    RETURNING id, number, config, attempts
                    """), arguments: [to.rawValue, time, from.rawValue, from.rawValue])
    }

    /// A trial's state, or nil when the sweep has no such trial.
    static func state(_ db: Database, of trial: String) throws -> TrialState? {
        try String.fetchOne(db.cachedStatement(sql: "SELECT state FROM trial WHERE id = ?"), arguments: [trial]).map {
            try trialState($0, trial)
        }
    }

    /// A stored state name, or an error naming the trial when this build does not know it.
    static func trialState(_ name: String, _ trial: String) throws -> TrialState {
        guard let state = TrialState(rawValue: name) else { throw StoreError(message: "trial \(trial) has an unknown state \(name)") }
        return state
    }

    static func event(_ db: Database, _ time: Double, _ kind: String, trial: String?, worker: String? = nil, detail: String) throws {
        try db.execute(
            sql: "INSERT INTO event (at, kind, trial_id, worker, detail) VALUES (?, ?, ?, ?, ?)",
            arguments: [time, kind, trial, worker, detail])
    }
}
