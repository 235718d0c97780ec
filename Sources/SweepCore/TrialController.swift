import Foundation
import GRDB
import Vocabulary

/// The ask/tell controller that owns a trial's life, driven alike by `sweep run` (in process) and
/// by `sweep launch` (for remote workers), so both store the same records and make the same
/// early-stopping decisions.
///
/// Ask for a trial for a worker (a config, "not now", or "finished"); tell it each epoch's record
/// (answered: go on, or stop), then the outcome. Each call is one store transaction (or part of
/// the caller's ``SweepStore/batch(_:)``), so a crash never loses a decision or a finished result.
/// Behind it: the sweep's ``Sampler`` and, when the file asks for early stopping, a ``Pruner``.
/// Not thread-safe: it belongs to the thread that drives it.
public final class TrialController {
    public let spec: SweepSpec
    public let store: SweepStore
    public let sampler: any Sampler
    /// The trials the sampler plans before any result.
    public let planned: [PlannedTrial]
    public let pruner: (any Pruner)?
    /// The stored configs read so far, for proposals (which look at every trial, while reading a
    /// config costs tens of microseconds): each distinct config (seed 0) with its first trial
    /// number, each trial's config by trial number, and the highest trial number read (trial
    /// numbers only grow, and a trial's config never changes).
    private var distinctConfigs: [(config: TrialConfig, first: Int)] = []
    private var configOfTrial: [Int] = [-1]
    private var configByKey: [String: Int] = [:]
    /// Each trial's state as last read, with its objectives' scores, its constraint violation and
    /// its stop epoch once it is completed or pruned (finished trials rarely change, so only the
    /// states are read again each time).
    private var outcomeOfTrial: [(state: TrialState, scores: [Double]?, violation: Double, margins: [Double], stopped: Int?)?] = [nil]
    /// Train examples of the dataset (for the timing of a trial stopped mid-way).
    let trainExamples: Int
    /// Failed trials after which no trial starts (``SweepSpec/failureLimit(trials:)``).
    public let failureLimit: Int
    /// Another sweep's finished configs the sampler starts from (`warm_start`), read by ``applyPlan``.
    public private(set) var warmStart: WarmStart?

    /// What an idle worker is given.
    public enum Answer: Equatable, Sendable {
        case trial(Claim)
        /// Nothing waits now, but trials still run (one may come back).
        case notNow
        /// Every trial has ended, or the sweep is halted (``halt()``) and none runs.
        case finished
    }

    /// The answer to an epoch report.
    public enum Verdict: Equatable, Sendable {
        case `continue`
        /// Early stopping ended the trial here: stop training (its result is already stored).
        case stop(reason: String)
        /// The lease is no longer live (the trial was cancelled, retired or lost): stop, nothing stored.
        case stale
    }

    /// Plans the sweep; `trainExamples` is the dataset's train split size.
    public init(spec: SweepSpec, store: SweepStore, trainExamples: Int) throws {
        self.spec = spec
        self.store = store
        self.trainExamples = trainExamples
        sampler = SearchSpace(spec: spec).sampler
        let planned = try sampler.plannedTrials()
        self.planned = planned
        pruner = spec.earlyStopping.map { $0.pruner(maxEpochs: max(planned.map(\.config.epochBudget).max() ?? 2, 2)) }
        failureLimit = spec.failureLimit(trials: SweepStatus.adaptiveTrials(spec) ?? planned.count)
    }

    /// Applies the sweep file to the store: new trials added, finished ones kept, the rest retired.
    /// A program sweep's `program` is its folder, fingerprint and command, which the store keeps.
    public func applyPlan(
        fingerprint: String, popularity: [String: [String: Double]]?, program: TrialProgram? = nil,
        now: Date = Date()
    ) throws -> PlanSync {
        warmStart = try spec.warmStart.map { try WarmStart.load($0, spec: spec, fingerprint: fingerprint) }
        var sync = try store.syncPlan(
            spec: spec, trials: planned, fingerprint: fingerprint, popularity: popularity, program: program, now: now)
        // The file's `enqueue:` configs (checked against the space when it was parsed) go first.
        let space = SearchSpace(spec: spec)
        for entry in spec.enqueue {
            guard let config = space.enqueued(entry.values).config else { continue }
            if case .added = try store.enqueue(config, forced: false, repeats: spec.repeats, now: now) { sync.enqueued += 1 }
        }
        return sync
    }

    // MARK: Ask

    /// The next trial for `worker` under a new `lease`: the lowest-numbered waiting trial, else
    /// (with an adaptive sampler that has configs left to give) a new config proposed from every
    /// result so far, added with one trial per repeat seed.
    /// Nothing starts once the sweep is halted (``halt()``).
    public func ask(worker: String, lease: String, now: Date = Date()) throws -> Answer {
        try store.write { db in
            let time = now.timeIntervalSince1970
            if try halt(db) != nil { return try SweepStore.hasRunningTrials(db) ? .notNow : .finished }
            if let claim = try SweepStore.claim(db, worker: worker, lease: lease, time) { return .trial(claim) }
            if let budget = sampler.configBudget {
                let (observations, configs) = try observe(db)
                // A failed look-up ends the ask with its error (it once counted the config as taken).
                var lookupError: (any Error)?
                let proposal =
                    configs < budget
                    ? sampler.propose(
                        index: configs, observations: (warmStart?.observations ?? []) + observations,
                        isTaken: { config in
                            do {
                                return try SweepStore.hasTrial(db, id: PlannedTrial.id(of: config))
                            } catch {
                                lookupError = lookupError ?? error
                                return true
                            }
                        }) : nil
                if let lookupError { throw lookupError }
                if let proposal {
                    try SweepStore.insertProposal(db, proposal, repeats: spec.repeats, time)
                    if let claim = try SweepStore.claim(db, worker: worker, lease: lease, time) { return .trial(claim) }
                }
            }
            return try SweepStore.hasUnfinishedTrials(db) ? .notNow : .finished
        }
    }

    /// Why no trial starts any more though the plan is not done: `failureLimit` trials failed, or
    /// a budget of the file is reached; nil otherwise.
    public func halt() throws -> SweepHalt? { try store.write { db in try halt(db) } }

    func halt(_ db: Database) throws -> SweepHalt? {
        try SweepHalt.find(db, budget: spec.budget, failureLimit: failureLimit).halt
    }

    /// With `budget: {on_reach: cancel}`, once a budget is reached: cancels the running trials
    /// (their workers hear it as any cancel) and returns their ids; otherwise does nothing.
    @discardableResult
    public func cancelPastBudget(now: Date = Date()) throws -> [String] {
        guard spec.budget?.onReach == .cancel else { return [] }
        return try store.write { db in
            guard let halt = try halt(db), !halt.isFailure else { return [] }
            return try SweepStore.cancelRunning(db, reason: "cancelled: \(halt)", now.timeIntervalSince1970)
        }
    }

    /// Whether the sweep is over: every trial has ended, or it is halted and none runs.
    public func isOver() throws -> Bool {
        try store.write { db in
            try !SweepStore.hasUnfinishedTrials(db) || (halt(db) != nil && !SweepStore.hasRunningTrials(db))
        }
    }

    /// Every config of the sweep (retired trials left out) as the sampler sees it, and how many
    /// configs there are. A config's seeds are one observation: running while one waits or runs,
    /// else the mean of its completed and pruned seeds' scores and constraint violations (pruned if
    /// one was, at the lowest epoch reached); configs whose every seed failed are left out.
    func observe(_ db: Database) throws -> (observations: [Observation], configs: Int) {
        let newTrials = try SweepStore.configs(db, from: configOfTrial.count)
        while let row = try newTrials.next() {
            let number: Int = row[0]
            while configOfTrial.count <= number { configOfTrial.append(-1) }
            // A config this build cannot read (``SweepStore/unreadableTrials()``) is no observation,
            // nor is one enqueued with --force: its values lie outside the space the model covers.
            let origin = try (row[2] as String?).map { try StoredJSON.decode(ProposalOrigin.self, $0, "trial #\(number)'s origin") }
            guard origin?.forced != true, var config = try? TrialConfig.parse(json: row[1]) else { continue }
            let key = Leaderboard.configKey(config)
            config.seed = 0
            if configByKey[key] == nil {
                configByKey[key] = distinctConfigs.count
                distinctConfigs.append((config, number))
            }
            configOfTrial[number] = configByKey[key]!
        }
        while outcomeOfTrial.count < configOfTrial.count { outcomeOfTrial.append(nil) }
        let ranking = spec.ranking, width = ranking.objectives.count
        var running = [Bool](repeating: false, count: distinctConfigs.count), present = running
        // Flat, config-major: one allocation per ask, not one per config.
        var sums = [Double](repeating: 0, count: distinctConfigs.count * width), squares = sums
        var violations = [Double](repeating: 0, count: distinctConfigs.count), counts = [Int](repeating: 0, count: distinctConfigs.count)
        let constraintCount = ranking.constraints.count
        var margins = [Double](repeating: 0, count: distinctConfigs.count * constraintCount)
        var stops = [Int](repeating: .max, count: distinctConfigs.count)
        for (number, state) in try SweepStore.liveStates(db) {
            let index = configOfTrial[number]
            guard index >= 0 else { continue }
            if outcomeOfTrial[number]?.state != state {
                var outcome: (state: TrialState, scores: [Double]?, violation: Double, margins: [Double], stopped: Int?) = (
                    state, nil, 0, [], nil
                )
                if state == .completed || state == .pruned, let valid = try SweepStore.resultValid(db, trialNumber: number) {
                    outcome.scores = ranking.scores(valid)
                    outcome.violation = ranking.violation(valid)
                    outcome.margins = ranking.margins(valid)
                    outcome.stopped = try SweepStore.stopEpoch(db, trialNumber: number)
                }
                outcomeOfTrial[number] = outcome
            }
            let outcome = outcomeOfTrial[number]!
            present[index] = true
            if state == .waiting || state == .running { running[index] = true }
            if let scores = outcome.scores {
                for objective in 0..<width {
                    sums[index * width + objective] += scores[objective]
                    squares[index * width + objective] += scores[objective] * scores[objective]
                }
                violations[index] += outcome.violation
                for constraint in 0..<min(constraintCount, outcome.margins.count) {
                    margins[index * constraintCount + constraint] += outcome.margins[constraint]
                }
                counts[index] += 1
            }
            if state == .pruned, let stopped = outcome.stopped { stops[index] = min(stops[index], stopped) }
        }
        let observations = distinctConfigs.indices.compactMap { index -> Observation? in
            let (config, first) = distinctConfigs[index]
            guard present[index] else { return nil }
            if running[index] { return Observation(order: first, config: config, outcome: .running) }
            guard counts[index] > 0 else { return nil }
            let n = Double(counts[index]), mean = (0..<width).map { sums[index * width + $0] / n }
            var observation = Observation(
                order: first, config: config,
                outcome: stops[index] < .max ? .pruned(epoch: stops[index], scores: mean) : .completed(mean),
                violation: violations[index] / n)
            observation.constraintMargins = (0..<constraintCount).map { margins[index * constraintCount + $0] / n }
            if counts[index] > 1 {
                // The variance of the mean: the seeds' sample variance over their count.
                observation.seedVariance = (0..<width).map { objective in
                    max(squares[index * width + objective] - n * mean[objective] * mean[objective], 0) / (n - 1) / n
                }
            }
            return observation
        }
        return (observations, present.filter { $0 }.count)
    }

    // MARK: Tell

    /// Proof of life and progress of a lease; false when it is not live.
    @discardableResult
    public func tellProgress(lease: String, epoch: Int, step: Int, now: Date = Date()) throws -> Bool {
        try store.recordHeartbeat(lease: lease, epoch: epoch, step: step, now: now)
    }

    /// One finished epoch: stored, then judged at each checkpoint it completes.
    public func tellEpoch(lease: String, record: EpochRecord, now: Date = Date()) throws -> Verdict {
        try store.write { db in
            guard let live = try SweepStore.liveAttempt(db, lease: lease) else { return .stale }
            try SweepStore.storeEpoch(db, trialNumber: live.trialNumber, attempt: live.attempt, record)
            guard let stop = try judge(db, live, through: record.epoch, history: nil, now) else { return .continue }
            try prune(db, live, lease: lease, stop, history: nil, timing: nil, now)
            return .stop(reason: "pruned at epoch \(stop.epoch): \(stop.rule)")
        }
    }

    /// A finished run's result. Rungs its history crossed that were not judged yet (the coordinator
    /// was down when they passed) are judged first, exactly as live reports would have been.
    public func tellResult(lease: String, worker: String, report: TrialResult, now: Date = Date()) throws -> ResultDisposition {
        try store.write { db in
            let time = now.timeIntervalSince1970
            // Nothing to judge (no early stopping, or a run without epochs): the short path.
            if pruner == nil || report.history.isEmpty {
                return try SweepStore.complete(db, lease: lease, worker: worker, report: report, time)
            }
            guard let live = try SweepStore.liveAttempt(db, lease: lease), live.worker == worker else {
                return try SweepStore.unacceptedResult(db, lease: lease, worker: worker, time)
            }
            if let last = report.history.last, let stop = try judge(db, live, through: last.epoch, history: report.history, now) {
                try prune(db, live, lease: lease, stop, history: report.history, timing: report.timing, now)
                return .pruned(epoch: stop.epoch)
            }
            try SweepStore.finish(db, live, lease: lease, as: .completed, report: report, reason: nil, time)
            return .stored
        }
    }

    /// An attempt that ended without a result (see ``SweepStore/endAttempt(lease:outcome:reason:maxAttempts:now:)``).
    @discardableResult
    public func tellFailure(lease: String, outcome: AttemptOutcome, reason: String, maxAttempts: Int, now: Date = Date()) throws
        -> TrialState?
    {
        try store.endAttempt(lease: lease, outcome: outcome, reason: reason, maxAttempts: maxAttempts, now: now)
    }

    // MARK: Early stopping

    /// Where and why early stopping stopped a trial.
    struct Stop {
        var epoch: Int
        var rule: String
    }

    /// Judges every checkpoint up to `epoch` not judged yet, in order, and records each judgement;
    /// returns the first that stops the trial. A checkpoint whose epochs are not all known yet (a
    /// report lost while the coordinator was down) waits for them.
    private func judge(_ db: Database, _ live: LiveAttempt, through epoch: Int, history: [EpochRecord]?, _ now: Date) throws -> Stop? {
        guard let pruner, let judged = spec.earlyStopping?.objectives else { return nil }
        let config = try TrialConfig.parse(json: live.configJSON)
        let bracket = pruner.bracket(ofConfig: Leaderboard.configKey(config))
        for checkpoint in pruner.checkpoints(budget: config.epochBudget, bracket: bracket) where checkpoint <= epoch {
            if try SweepStore.judgement(db, trialNumber: live.trialNumber, epoch: checkpoint) != nil { continue }
            let records =
                try history.map { $0.filter { $0.epoch <= checkpoint } }
                ?? SweepStore.storedEpochs(db, trialNumber: live.trialNumber, attempt: live.attempt, through: checkpoint)
            guard records.map(\.epoch) == Array(1...checkpoint), let values = Self.bestSoFar(records, judged) else { return nil }
            // Values recorded while the sweep judged another number of objectives do not compare.
            let others = try SweepStore.competingValues(
                db, epoch: checkpoint, bracket: bracket, seed: config.seed, excluding: live.trialNumber
            ).filter { $0.count == values.count }
            let (decision, rule) = pruner.decide(epoch: checkpoint, bracket: bracket, values: values, others: others)
            try SweepStore.record(
                db,
                Judgement(
                    trialNumber: live.trialNumber, epoch: checkpoint, bracket: bracket, seed: config.seed,
                    values: values, decision: decision, rule: rule, compared: others, at: now))
            if decision == .stop { return Stop(epoch: checkpoint, rule: rule) }
        }
        return nil
    }

    /// Each objective's best value on valid in `records`, each on its own (the point no single epoch
    /// need reach: a noisy epoch never decides alone); nil when one never appears.
    static func bestSoFar(_ records: [EpochRecord], _ objectives: [Objective]) -> [Double]? {
        var values: [Double] = []
        for objective in objectives {
            guard let best = records.compactMap({ $0.valid[objective.metric] }).max(by: { objective.score($0) < objective.score($1) })
            else { return nil }
            values.append(best)
        }
        return values
    }

    /// Ends a trial as `pruned` at the stop's epoch, with its best epoch up to there as its result.
    /// The timing is the worker's when it sent a whole run, else measured from the epoch records.
    private func prune(
        _ db: Database, _ live: LiveAttempt, lease: String, _ stop: Stop, history: [EpochRecord]?,
        timing: TrainingTiming?, _ now: Date
    ) throws {
        let config = try TrialConfig.parse(json: live.configJSON)
        let records =
            try history.map { $0.filter { $0.epoch <= stop.epoch } }
            ?? SweepStore.storedEpochs(db, trialNumber: live.trialNumber, attempt: live.attempt, through: stop.epoch)
        let bestEpoch = EpochRecord.bestEpoch(in: records, by: config.selection)
        let best = records.first { $0.epoch == bestEpoch } ?? records[0]
        let measured =
            try timing
            ?? {
                let worker = try SweepStore.workerBLAS(db, name: live.worker)
                return TrainingTiming.measured(
                    records, trainExamples: trainExamples, totalSeconds: records.map(\.seconds).reduce(0, +),
                    threads: worker?.threads ?? 1, blasCore: worker?.core ?? "unknown")
            }()
        let report = TrialResult(
            bestEpoch: best.epoch, valid: best.valid.dictionary, test: best.test.dictionary, history: records, timing: measured)
        try SweepStore.finish(
            db, live, lease: lease, as: .pruned, report: report, reason: "pruned at epoch \(stop.epoch): \(stop.rule)",
            now.timeIntervalSince1970)
    }
}
