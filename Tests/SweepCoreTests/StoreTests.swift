import Foundation
import GRDB
import TestSupport
import Testing
import Vocabulary

@testable import SweepCore

/// A store with `trials` planned from a small grid.
func plannedStore(lossValues: String = "[bce, weighted_bce, focal]", repeats: Int = 1, path: String? = nil) throws -> (
    SweepStore, SweepSpec, [PlannedTrial]
) {
    let sweep = try spec(syntheticHeader + "method: grid\nrepeats: \(repeats)\nparameters:\n  loss: {values: \(lossValues)}\n")
    let trials = try SearchSpace(spec: sweep).plan()
    let store = try path.map { try SweepStore.open(path: $0) } ?? SweepStore.inMemory()
    _ = try store.syncPlan(
        spec: sweep, trials: trials, fingerprint: "f1", popularity: ["valid": ["ndcg@10": 0.1], "test": ["ndcg@10": 0.09]])
    return (store, sweep, trials)
}

/// An epoch record whose valid and test metrics are all `value` (test 0.01 lower).
func epochRecord(_ epoch: Int, _ value: Double) -> EpochRecord {
    func metrics(_ value: Double) -> RankingMetrics {
        RankingMetrics(dictionary: Dictionary(uniqueKeysWithValues: RankingMetrics.names.map { ($0, value) }))!
    }
    return EpochRecord(
        epoch: epoch, lossMain: 0.5, lossAux: nil, weights: .singleTask, valid: metrics(value), test: metrics(value - 0.01),
        seconds: 2, trainSeconds: 1.5)
}

func result(_ ndcg: Double, epoch: Int = 2) -> TrialResult {
    TrialResult(
        bestEpoch: epoch, valid: ["ndcg@10": ndcg, "recall@10": ndcg * 2], test: ["ndcg@10": ndcg - 0.01],
        history: [epochRecord(1, ndcg / 2), epochRecord(2, ndcg)],
        timing: TrainingTiming(examplesPerSecond: 100, secondsPerEpoch: 6, totalSeconds: 12, threads: 2, blasCore: "Haswell"))
}

@Suite struct StoreTests {
    /// Epoch records and timings are stored by the one hand writer and read back by the one hand
    /// reader as the same values; Foundation reads the stored text to the same values, and the
    /// text an older build stored (`JSONEncoder`, keys sorted) still reads.
    @Test func storedRecordsReadBackAsWrittenWhoeverWroteThem() throws {
        let olderBuild = JSONEncoder()
        olderBuild.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let metrics = RankingMetrics(ndcg10: 0.1, recall10: 1.0 / 3, recall50: 0.5, mrr: 1e-300, coverage10: 0.25, popOverlap10: 0)
        for record in [
            EpochRecord(
                epoch: 3, lossMain: 0.25, lossAux: nil, weights: TaskWeights(main: 1, aux: nil, sMain: nil, sAux: nil),
                valid: metrics, test: metrics, seconds: 1.5, trainSeconds: nil, extra: nil),
            EpochRecord(
                epoch: 1, lossMain: nil, lossAux: -0.0, weights: TaskWeights(main: 0.5, aux: 2, sMain: -1, sAux: 123456789012345680),
                valid: metrics, test: RankingMetrics(values: ["ndcg@10": 0.2, "custom": 7]), seconds: 0, trainSeconds: 0.75,
                extra: ["grad_norm": 3.5]),
        ] {
            let stored = try StoredJSON.epoch(record)
            #expect(try StoredJSON.decodeEpoch(stored, "epoch") == record)
            #expect(try JSONDecoder().decode(EpochRecord.self, from: Data(stored.utf8)) == record)
            let older = String(decoding: try olderBuild.encode(record), as: UTF8.self)
            #expect(try StoredJSON.decodeEpoch(older, "epoch") == record)
        }
        let timing = TrainingTiming(examplesPerSecond: 2345.5, secondsPerEpoch: 0.1, totalSeconds: 3, threads: 2, blasCore: "Haswell \"x\"")
        let stored = try StoredJSON.timing(timing)
        #expect(try StoredJSON.decodeTiming(stored, "timing") == timing)
        #expect(try JSONDecoder().decode(TrainingTiming.self, from: Data(stored.utf8)) == timing)
        #expect(try StoredJSON.decodeTiming(String(decoding: try olderBuild.encode(timing), as: UTF8.self), "timing") == timing)
        #expect(throws: StoreError.self) {
            try StoredJSON.epoch(
                EpochRecord(
                    epoch: 1, lossMain: .nan, lossAux: nil, weights: TaskWeights(main: 1, aux: nil, sMain: nil, sAux: nil),
                    valid: metrics, test: metrics, seconds: 1, trainSeconds: nil, extra: nil))
        }
    }

    @Test func claimingIsACompareAndSetInPlanOrder() throws {
        let (store, _, trials) = try plannedStore()
        let first = try #require(try store.claimNextTrial(worker: "w1", lease: "L1"))
        let second = try #require(try store.claimNextTrial(worker: "w2", lease: "L2"))
        #expect(first.trial == trials[0].id && first.attempt == 1 && first.number == 1)
        #expect(second.trial == trials[1].id)
        #expect(try first.config() == trials[0].config)
        _ = try store.claimNextTrial(worker: "w3", lease: "L3")
        #expect(try store.claimNextTrial(worker: "w4", lease: "L4") == nil)
        #expect(try store.trials().allSatisfy { $0.state == .running })
    }

    @Test func aSweepIsUnfinishedWhileATrialWaitsOrRuns() throws {
        let (store, _, trials) = try plannedStore(lossValues: "[bce, focal]")
        #expect(try store.hasUnfinishedTrials())
        let first = try #require(try store.claimNextTrial(worker: "w1", lease: "L1"))
        #expect(try store.completeTrial(lease: first.lease, worker: "w1", result: result(0.2)) == .stored)
        #expect(try store.hasUnfinishedTrials())  // one waits
        _ = try #require(try store.claimNextTrial(worker: "w1", lease: "L2"))
        #expect(try store.hasUnfinishedTrials())  // one runs
        #expect(try store.cancel(trials: [trials[1].id]) == [trials[1].id])
        #expect(try !store.hasUnfinishedTrials())
    }

    @Test func exactlyOneResultPerTrialAndStaleLeasesAreIgnored() throws {
        let (store, _, trials) = try plannedStore()
        let claim = try #require(try store.claimNextTrial(worker: "w1", lease: "L1"))
        let controller = try TrialController(
            spec: try spec(syntheticHeader + "method: grid\nparameters:\n  loss: {values: [bce, weighted_bce, focal]}\n"),
            store: store, trainExamples: 10)
        #expect(try controller.tellEpoch(lease: "L1", record: epochRecord(1, 0.1)) == .continue)
        #expect(try controller.tellEpoch(lease: "L1", record: epochRecord(1, 0.1)) == .continue)  // repeatable
        // Only the worker the attempt was handed to may finish it.
        #expect(try store.completeTrial(lease: "L1", worker: "w2", result: result(0.7)) == .foreign)
        #expect(try store.completeTrial(lease: "L1", worker: "w1", result: result(0.2)) == .stored)
        // A resend after a lost ack changes nothing.
        #expect(try store.completeTrial(lease: "L1", worker: "w1", result: result(0.9)) == .duplicate)
        #expect(try store.completeTrial(lease: "nope", worker: "w9", result: result(0.9)) == .stale)
        let snapshot = try store.findTrial(claim.trial)
        #expect(snapshot.state == .completed && snapshot.result?.valid["ndcg@10"] == 0.2 && snapshot.result?.timing.threads == 2)
        #expect(try store.events().map(\.kind) == ["stale_result"])
        #expect(trials.count == 3)
    }

    /// A result for an attempt that ended meanwhile (lost, or its trial cancelled by `sweep cancel`)
    /// changes nothing but the event log, whoever sends it.
    @Test func aResultForAnEndedAttemptIsStale() throws {
        let (store, _, trials) = try plannedStore()
        _ = try store.claimNextTrial(worker: "w1", lease: "L1")
        _ = try store.claimNextTrial(worker: "w2", lease: "L2")
        try store.endAttempt(lease: "L1", outcome: .lost, reason: "silent", maxAttempts: 3)
        #expect(try store.cancel(trials: [trials[1].id]) == [trials[1].id])
        #expect(try store.completeTrial(lease: "L1", worker: "w1", result: result(0.5)) == .stale)
        #expect(try store.completeTrial(lease: "L2", worker: "w2", result: result(0.5)) == .stale)
        #expect(try store.completeTrial(lease: "L2", worker: "w3", result: result(0.5)) == .foreign)
        #expect(try store.trials().map(\.state) == [.waiting, .cancelled, .waiting])
        #expect(try store.trials().allSatisfy { $0.result == nil })
        #expect(try store.events().filter { $0.kind == "stale_result" }.count == 2)
        // The requeued trial's next attempt completes normally.
        let retry = try #require(try store.claimNextTrial(worker: "w3", lease: "L3"))
        #expect(retry.trial == trials[0].id && retry.attempt == 2)
        #expect(try store.completeTrial(lease: "L3", worker: "w3", result: result(0.4)) == .stored)
        #expect(try store.findTrial(trials[0].id).result?.valid["ndcg@10"] == 0.4)
    }

    /// Group commit: the writes of a batch become durable together, or (when it throws, or a write
    /// inside it failed even if that error was caught) not at all.
    @Test func aBatchCommitsAllOrNothing() throws {
        struct Abort: Error {}
        let (store, _, _) = try plannedStore()
        #expect(throws: Abort.self) {
            try store.batch {
                _ = try store.claimNextTrial(worker: "w1", lease: "L1")
                #expect(try store.completeTrial(lease: "L1", worker: "w1", result: result(0.2)) == .stored)
                throw Abort()
            }
        }
        #expect(try store.trials().allSatisfy { $0.state == .waiting })
        #expect(try store.attempt(lease: "L1") == nil)
        // A write that fails inside a batch spoils the whole batch, even when its error is caught.
        #expect(throws: StoreError.self) {
            try store.batch {
                _ = try store.claimNextTrial(worker: "w1", lease: "L1")
                #expect(try store.completeTrial(lease: "L1", worker: "w1", result: result(0.2)) == .stored)
                do {
                    try store.write { db in
                        try db.execute(sql: "UPDATE trial SET updated_at = -1")
                        try SweepStore.transition(db, "no-such-trial", from: .waiting, to: .running, 0)
                    }
                    Issue.record("an illegal transition was written")
                } catch {
                    #expect(error is IllegalTransition)
                }
                #expect(try store.claimNextTrial(worker: "w2", lease: "L2") != nil)
            }
        }
        #expect(try store.trials().allSatisfy { $0.state == .waiting })
        #expect(try store.database.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM trial WHERE updated_at = -1") } == 0)
        // The next batch starts clean.
        try store.batch {
            _ = try store.claimNextTrial(worker: "w1", lease: "L1")
            _ = try store.claimNextTrial(worker: "w2", lease: "L2")
            #expect(try store.completeTrial(lease: "L1", worker: "w1", result: result(0.2)) == .stored)
        }
        #expect(try store.stateCounts()[.completed] == 1 && store.stateCounts()[.running] == 1)
    }

    /// An epoch record as builds before schema v4 stored a worker's report: no `train_seconds`,
    /// `loss_aux` left out and `aux` null without the tag head.
    static func oldEpochRecord(_ epoch: Int) -> String {
        let metrics = "{" + RankingMetrics.names.map { "\"\($0)\":0.25" }.joined(separator: ",") + "}"
        return #"{"epoch":\#(epoch),"loss_main":0.5,"weights":{"main":1,"aux":null},"valid":\#(metrics),"test":\#(metrics),"seconds":1.5}"#
    }

    /// A store written by the first schema opens under the current one with nothing lost: its
    /// attempts, results and epochs are re-keyed by trial number, and worker counts come from results.
    @Test func aStoreFromTheFirstSchemaMigratesWithItsAttemptsResultsAndEpochs() throws {
        let folder = TestFolders.fresh("store")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("sweep.db").path
        // A store as the first schema left it: a counter on the worker row, which a crash between
        // a result and its counter could leave wrong (here 7 for 1 result).
        let old = try DatabaseQueue(path: path)
        try SweepStore.migrator.migrate(old, upTo: "v1-schema")
        try old.write { db in
            try db.execute(
                sql: """
                    INSERT INTO sweep (id, name, spec_text, spec_hash, metric, dataset, fingerprint, created_at, updated_at) VALUES (1, 's', '', '', 'ndcg@10', '{"path":"/data","fingerprint":"f"}', 'f', 0, 0);
                    INSERT INTO trial (id, number, config, seed, state, updated_at) VALUES ('t1', 1, '{"epochs":2}', 0, 'completed', 0), ('t2', 2, '{"epochs":2}', 0, 'running', 0);
                    INSERT INTO attempt (trial_id, attempt, lease, worker, started_at, heartbeat_at, step_at, outcome) VALUES ('t1', 1, 'L1', 'w1', 0, 0, 0, 'completed');
                    INSERT INTO attempt (trial_id, attempt, lease, worker, started_at, heartbeat_at, step_at) VALUES ('t2', 1, 'L2', 'w1', 0, 0, 0);
                    INSERT INTO result (trial_id, attempt, best_epoch, valid, test, timing, seconds, worker, finished_at) VALUES ('t1', 1, 1, '{"ndcg@10":0.25}', '{}', '{"examples_per_second":1,"seconds_per_epoch":1,"total_seconds":2,"threads":1,"blas_core":"x"}', 1, 'w1', 0);
                    INSERT INTO epoch (trial_id, attempt, epoch, record) VALUES ('t1', 1, 1, '\(Self.oldEpochRecord(1))'), ('t1', 1, 2, '\(Self.oldEpochRecord(2))');
                    INSERT INTO worker (name, host, cores, blas_threads, blas_core, state, first_seen, last_seen, trials_completed) VALUES ('w1', 'h', 2, 1, 'x', 'online', 0, 0, 7);
                    """)
        }
        try old.close()
        // A reader (sweep status, leaderboard, show) brings it to the current schema first.
        let reader = try SweepStore.openReadOnly(path: path)
        #expect(try reader.attempts(trial: "t1").map(\.outcome) == [.completed])
        #expect(try reader.epochs(trial: "t1", attempt: 1).count == 2)
        let store = try SweepStore.open(path: path)
        try store.recordWorker(
            name: "w2", host: "h", cores: 2, blasThreads: 1, blasCore: "x", state: .online, now: Date(timeIntervalSince1970: 1))
        #expect(try store.workers().map { "\($0.name) \($0.trialsCompleted)" } == ["w2 0", "w1 1"])
        #expect(try store.findTrial("t1").result?.valid["ndcg@10"] == 0.25)
        #expect(try store.attempts(trial: "t1").map(\.outcome) == [.completed])
        let epochs = try store.epochs(trial: "t1", attempt: 1)
        #expect(
            epochs.map(\.epoch) == [1, 2]
                && epochs.allSatisfy { $0.trainSeconds == nil && $0.weights.aux == nil && $0.valid.ndcg10 == 0.25 })
        #expect(try store.attempt(lease: "L2")?.trial == "t2")
        #expect(try store.completeTrial(lease: "L2", worker: "w1", result: result(0.4)) == .stored)
        #expect(try store.workers().map { "\($0.name) \($0.trialsCompleted)" } == ["w2 0", "w1 2"])
        #expect(try store.findTrial("t2").state == .completed)
        // The new keys hold the old guarantees: one result per trial, attempts only of real trials.
        #expect(throws: DatabaseError.self) {
            try store.database.write { db in
                try db.execute(
                    sql:
                        "INSERT INTO result (trial_number, trial_id, attempt, best_epoch, valid, test, timing, seconds, worker, finished_at) VALUES (1, 't1', 1, 1, '{}', '{}', '{}', 1, 'w1', 0)"
                )
            }
        }
        #expect(throws: DatabaseError.self) {
            try store.database.write { db in
                try db.execute(
                    sql:
                        "INSERT INTO attempt (trial_number, trial_id, attempt, lease, worker, started_at, heartbeat_at, step_at) VALUES (1, 't2', 9, 'L9', 'w1', 0, 0, 0)"
                )
            }
        }
        // A store a newer build has migrated further is refused, saying so.
        try store.database.write { db in try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v99-from-a-newer-build')") }
        do {
            _ = try SweepStore.openReadOnly(path: path)
            Issue.record("opened a store from a newer build")
        } catch let error as StoreError {
            #expect(error.message.contains("newer version of sweep"))
        }
        #expect(throws: StoreError.self) { try SweepStore.open(path: path) }
    }

    @Test func lostAttemptsRetryUpToTheLimitThenFailKeepingEveryReason() throws {
        let (store, _, _) = try plannedStore(lossValues: "[bce]")
        for attempt in 1...3 {
            let claim = try #require(try store.claimNextTrial(worker: "w\(attempt)", lease: "L\(attempt)"))
            #expect(claim.attempt == attempt)
            let state = try store.endAttempt(lease: "L\(attempt)", outcome: .lost, reason: "silent for 5 heartbeats", maxAttempts: 3)
            #expect(state == (attempt < 3 ? .waiting : .failed))
        }
        let trial = try store.trials()[0]
        #expect(trial.state == .failed)
        let attempts = try store.attempts(trial: trial.id)
        #expect(attempts.map(\.outcome) == [.lost, .lost, .lost] && attempts.allSatisfy { $0.reason == "silent for 5 heartbeats" })
        // A late result from attempt 1 (its worker declared dead) is stale.
        #expect(try store.completeTrial(lease: "L1", worker: "w1", result: result(0.5)) == .stale)
        #expect(try store.endAttempt(lease: "L1", outcome: .lost, reason: "again", maxAttempts: 3) == nil)
        // retry gives a new attempt; diverged trials cannot be retried.
        #expect(try store.retry(trials: nil) == [trial.id])
        let fourth = try #require(try store.claimNextTrial(worker: "w", lease: "L4"))
        #expect(fourth.attempt == 4)
        #expect(try store.endAttempt(lease: "L4", outcome: .diverged, reason: "loss NaN", maxAttempts: 3) == .diverged)
        #expect(throws: StoreError.self) { try store.retry(trials: [trial.id]) }
    }

    @Test func illegalTransitionsAreRefused() throws {
        let (store, _, trials) = try plannedStore(lossValues: "[bce, focal]")
        #expect(throws: IllegalTransition.self) {
            try store.database.write { db in try SweepStore.transition(db, trials[0].id, from: .waiting, to: .completed, 0) }
        }
        #expect(throws: IllegalTransition.self) {  // the old state is checked, not assumed
            try store.database.write { db in try SweepStore.transition(db, trials[0].id, from: .running, to: .completed, 0) }
        }
        _ = try store.claimNextTrial(worker: "w", lease: "L1")
        _ = try store.completeTrial(lease: "L1", worker: "w", result: result(0.3))
        // Cancelling skips finished trials; cancelling a running one ends its attempt.
        _ = try store.claimNextTrial(worker: "w", lease: "L2")
        #expect(try store.cancel(trials: nil) == [trials[1].id])
        #expect(try store.attempts(trial: trials[1].id).last?.outcome == .cancelled)
        #expect(try store.completeTrial(lease: "L2", worker: "w", result: result(0.4)) == .stale)
        #expect(try store.retry(trials: [trials[1].id]) == [trials[1].id])
        #expect(throws: StoreError.self) { try store.retry(trials: [trials[0].id]) }
    }

    @Test func extendingASweepKeepsResultsAddsNewTrialsAndRetiresTheRest() throws {
        let (store, _, trials) = try plannedStore(lossValues: "[bce, weighted_bce, focal]")
        _ = try store.claimNextTrial(worker: "w", lease: "L1")
        _ = try store.completeTrial(lease: "L1", worker: "w", result: result(0.3))
        // The new file drops focal and adds class_balanced and a second seed.
        let changed = try spec(
            syntheticHeader + "method: grid\nrepeats: 2\nparameters:\n  loss: {values: [bce, weighted_bce, class_balanced]}\n")
        let plan = try SearchSpace(spec: changed).plan()
        let sync = try store.syncPlan(spec: changed, trials: plan, fingerprint: "f1", popularity: nil)
        #expect(sync == PlanSync(new: 4, kept: 2, retired: 1))
        let all = try store.trials()
        #expect(all.count == 7)
        #expect(all.first { $0.id == trials[0].id }?.state == .completed)  // the finished result is kept
        #expect(all.first { $0.id == trials[2].id }?.state == .retired)
        #expect(Set(all.map(\.number)).count == 7 && all.map(\.number).max() == 7)
        // Re-applying is a no-op; planning focal again brings it back.
        #expect(
            try store.syncPlan(spec: changed, trials: plan, fingerprint: "f1", popularity: nil) == PlanSync(new: 0, kept: 6, retired: 0))
        let original = try SearchSpace(
            spec: spec(syntheticHeader + "method: grid\nparameters:\n  loss: {values: [bce, weighted_bce, focal]}\n")
        ).plan()
        #expect(
            try store.syncPlan(spec: changed, trials: original, fingerprint: "f1", popularity: nil) == PlanSync(new: 0, kept: 3, retired: 4)
        )
        #expect(try store.findTrial(trials[2].id).state == .waiting)
        // A changed metric or dataset is refused, saying why.
        var otherMetric = changed
        otherMetric.ranking = Ranking(metric: "mrr")
        #expect(throws: StoreError.self) { try store.syncPlan(spec: otherMetric, trials: plan, fingerprint: "f1", popularity: nil) }
        do {
            _ = try store.syncPlan(spec: changed, trials: plan, fingerprint: "f2", popularity: nil)
            Issue.record("a different dataset was accepted")
        } catch let error as StoreError {
            #expect(error.message.contains("fingerprint f2") && error.message.contains("fingerprint f1"))
        }
    }

    /// The writer never checkpoints below 16,384 pages; the background checkpointer copies every
    /// committed page into the database file within a fraction of a second anyway.
    @Test func committedPagesReachTheDatabaseFileWithoutTheWriterCheckpointing() throws {
        let folder = TestFolders.fresh("store")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("sweep.db").path
        let (store, _, _) = try plannedStore(path: path)
        let claim = try #require(try store.claimNextTrial(worker: "w", lease: "L1"))
        #expect(try store.completeTrial(lease: claim.lease, worker: "w", result: result(0.3)) == .stored)
        let bytes = try store.database.read { db in
            try Int.fetchOne(db, sql: "PRAGMA page_count")! * Int.fetchOne(db, sql: "PRAGMA page_size")!
        }
        func fileSize() -> Int { ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int) ?? 0 }
        let deadline = Date().addingTimeInterval(10)
        while fileSize() < bytes && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        #expect(fileSize() == bytes)
        #expect(try SweepStore.openReadOnly(path: path).findTrial(claim.trial).result?.valid["ndcg@10"] == 0.3)
    }

    /// A reader's revision moves exactly when a writer commits, and its trials follow: a new
    /// result and a new state read again, what never changes read from what it parsed before.
    @Test func aReadersRevisionMovesWhenAWriterCommitsAndItsTrialsFollow() throws {
        let folder = TestFolders.fresh("store")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("sweep.db").path
        let (store, _, _) = try plannedStore(path: path)
        let reader = try SweepStore.openReadOnly(path: path)
        #expect(try store.revision() == nil, "a writer knows what it wrote")
        let first = try #require(try reader.revision())
        #expect(try reader.revision() == first)
        let before = try reader.trials()
        let claim = try #require(try store.claimNextTrial(worker: "w", lease: "L1"))
        let claimed = try #require(try reader.revision())
        #expect(claimed != first)
        #expect(try reader.trials().first { $0.id == claim.trial }?.state == .running)
        #expect(try store.completeTrial(lease: claim.lease, worker: "w", result: result(0.3)) == .stored)
        #expect(try reader.revision() != claimed)
        let after = try reader.trials()
        #expect(after.first { $0.id == claim.trial }?.result?.valid["ndcg@10"] == 0.3)
        #expect(after.map(\.config) == before.map(\.config) && after.map(\.id) == before.map(\.id))
        #expect(try reader.epochTotals(of: after) == store.epochTotals())
    }

    /// A long-lived reader's trials patched from those changed since it last read: whatever
    /// the writer does (claims, results, failures and retries, hundreds of trials at once, a
    /// prune, retiring part of the plan), it reads what a fresh reader reads, without reading
    /// everything again.
    @Test func aReadersPatchedTrialsEqualAFreshRead() throws {
        let folder = TestFolders.fresh("store")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("sweep.db").path
        let (store, sweep, planned) = try plannedStore(repeats: 200, path: path)  // 600 trials
        let reader = try SweepStore.openReadOnly(path: path)
        // What the dashboard's reader does after each commit: patch, or read everything again
        // when the patched list does not add up.
        var memo = TrialMemo()
        var list = try reader.readTrials(memo: &memo)
        func patched() throws -> [TrialSnapshot] {
            if try !reader.patch(&list, memo: &memo) { list = try reader.readTrials(memo: &memo) }
            return list.snapshots
        }
        func view(_ trials: [TrialSnapshot]) -> [String] {
            trials.map {
                "\($0.number) \($0.id) \($0.state) \($0.attempts) \(($0.result?.valid ?? [:]).sorted { $0.key < $1.key }) \($0.result?.attempt ?? 0) \($0.stoppedAt ?? 0)"
            }
        }
        func expectFresh(_ step: String) throws {
            let patched = view(try patched()), fresh = view(try SweepStore.openReadOnly(path: path).trials())
            #expect(patched == fresh, "after \(step)")
        }
        var generator = SystemRandomNumberGenerator(), running: [String] = [], leases = 0
        func claim() throws {
            leases += 1
            if let claim = try store.claimNextTrial(worker: "w", lease: "L\(leases)") { running.append(claim.lease) }
        }
        func end(_ step: Int) throws {
            let lease = running.removeFirst()
            if Int.random(in: 0..<4, using: &generator) == 0 {
                _ = try store.endAttempt(lease: lease, outcome: .failed, reason: "test", maxAttempts: 2)
            } else {
                _ = try store.completeTrial(lease: lease, worker: "w", result: result(Double(step) / 1000))
            }
        }
        try expectFresh("nothing")
        #expect(memo.fullReads == 1)
        for step in 0..<60 {
            if step % 15 == 14 {
                // Hundreds of trials changed between two reads, over several commits.
                for _ in 0..<3 {
                    try store.batch { for _ in 0..<40 { try claim() } }
                    try store.batch { while running.count > 1 { try end(step) } }
                }
            } else if running.isEmpty || (running.count < 3 && Bool.random(using: &generator)) {
                try claim()
            } else {
                try end(step)
            }
            try expectFresh("step \(step)")
        }
        // A trial early stopping ended, as the controller writes it: the stop and the pruned
        // state in one transaction.
        try claim()
        let stopped = try #require(running.last)
        try runSQLite(
            path,
            """
            BEGIN;
            INSERT INTO rung (trial_number, epoch, bracket, seed, value, decision, rule, compared, at)
                SELECT trial_number, 3, 0, 0, 0.1, 'stop', 'test', '[]', 1 FROM attempt WHERE lease = '\(stopped)';
            UPDATE trial SET state = 'pruned'
                WHERE number = (SELECT trial_number FROM attempt WHERE lease = '\(stopped)');
            COMMIT;
            """)
        try expectFresh("a pruned trial")
        #expect(try patched().contains { $0.state == .pruned && $0.stoppedAt == 3 })
        // A third of the plan dropped from the sweep file: every one of those trials retired at once.
        _ = try store.syncPlan(spec: sweep, trials: planned.filter { $0.config.loss != .focal }, fingerprint: "f1", popularity: nil)
        try expectFresh("retiring a third of the trials")
        #expect(try patched().filter { $0.state == .retired }.count >= 150)
        #expect(memo.fullReads == 1, "every change since was patched in")
        // A trial gone from the table (no writer of ours deletes one): the count no longer adds up.
        try runSQLite(path, "DELETE FROM trial WHERE number = (SELECT MAX(number) FROM trial WHERE state = 'waiting')")
        try expectFresh("a deleted trial")
        #expect(memo.fullReads == 2)
    }

    @Test func everyWriteToATrialIsLoggedAfterEveryEarlierChange() throws {
        let (store, sweep, planned) = try plannedStore(repeats: 2)
        var seen = 0
        /// The trials logged since the last call, each change numbered after every earlier one.
        func logged() throws -> Set<Int> {
            let rows = try store.database.read { db in
                try Row.fetchAll(db, sql: "SELECT seq, trial_number FROM trial_change WHERE seq > ? ORDER BY seq", arguments: [seen])
            }
            seen = rows.last?["seq"] ?? seen
            return Set(rows.map { $0["trial_number"] as Int })
        }
        #expect(try logged() == Set(1...planned.count), "each planned trial")
        let claim = try #require(try store.claimNextTrial(worker: "w", lease: "L1"))
        #expect(try logged() == [claim.number], "a claim")
        _ = try store.completeTrial(lease: claim.lease, worker: "w", result: result(0.1))
        #expect(try logged() == [claim.number], "a result")
        try store.recordHeartbeat(lease: "L1", epoch: 1, step: 1)
        #expect(try logged().isEmpty, "a heartbeat writes no trial")
        _ = try store.syncPlan(spec: sweep, trials: planned.filter { $0.config.loss != .bce }, fingerprint: "f1", popularity: nil)
        let retired = try Set(store.trials().filter { $0.state == .retired }.map(\.number))
        #expect(retired.count == 2)
        #expect(try logged() == retired, "retiring")
    }

    @Test func readersNeverCreateAFileAndReadWhileAWriterWrites() async throws {
        let folder = TestFolders.fresh("store")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let missing = folder.appendingPathComponent("missing.db").path
        do {
            _ = try SweepStore.openReadOnly(path: missing)
            Issue.record("opened a missing store")
        } catch let error as StoreError {
            #expect(error.message == "\(missing): no such sweep database (sweep launch creates it)")
        }
        #expect(!FileManager.default.fileExists(atPath: missing))

        let path = folder.appendingPathComponent("sweep.db").path
        let (writer, _, _) = try plannedStore(lossValues: "[bce, weighted_bce, focal, class_balanced]", repeats: 25, path: path)
        let reader = try SweepStore.openReadOnly(path: path)
        async let writing: Void = {
            for index in 0..<100 {
                guard let claim = try writer.claimNextTrial(worker: "w", lease: "L\(index)") else { return }
                _ = try writer.completeTrial(lease: claim.lease, worker: "w", result: result(Double(index) / 100))
            }
        }()
        var seen = 0
        for _ in 0..<200 {
            let completed = try reader.trials().filter { $0.state == .completed }.count
            #expect(completed >= seen)  // every snapshot is consistent and never goes back
            seen = completed
        }
        try await writing
        #expect(try reader.trials().filter { $0.state == .completed }.count == 100)
        #expect(throws: (any Error).self) {  // read-only
            try reader.recordWorker(name: "r", host: "h", cores: 1, blasThreads: 1, blasCore: "x", state: .online)
        }
    }
}

@Suite struct StatusTests {
    /// A TPE sweep adds trials as results come in: status counts the ones still to be proposed, so
    /// its ETA and "left" cover the whole sweep, not only what is stored.
    @Test func trialsATPESweepHasNotProposedYetCountAsLeft() throws {
        let text = """
            name: t
            dataset: {synthetic: {preset: small, seed: 1}}
            method: tpe
            count: 20
            repeats: 2
            tpe: {startup_trials: 3}
            parameters:
              lr: {distribution: log_uniform, min: 0.0001, max: 0.01}

            """
        #expect(SweepStatus.adaptiveTrials(try SweepSpec.parseStored(text)) == 40)
        #expect(
            SweepStatus.adaptiveTrials(
                try SweepSpec.parseStored(
                    text.replacingOccurrences(of: "method: tpe", with: "method: random")
                        .replacingOccurrences(of: "tpe: {startup_trials: 3}\n", with: ""))) == nil)
        let spec = try SweepSpec.parse(text, file: URL(fileURLWithPath: "t.yaml"))
        let store = try SweepStore.inMemory()
        let first = try SearchSpace(spec: spec).sampler.plannedTrials()
        _ = try store.syncPlan(spec: spec, trials: first, fingerprint: "f", popularity: nil)
        let status = try SweepStatus.read(store)
        #expect(first.count == 6 && status.notYetProposed == 34 && status.left == 40)
        #expect(status.text.contains("t: 6 trials (34 more to be proposed)"), "\(status.text)")
    }
}

/// The configs a reader was told of, found without parsing them.
@Suite struct TrialMemoTests {
    @Test func aConfigTheMemoWasToldOfIsNotParsedAndTheCapacityHolds() throws {
        var memo = TrialMemo(capacity: 2)
        var configs: [TrialConfig] = []
        for lr in [0.001, 0.002, 0.003] {
            var config = TrialConfig()
            config.lr = lr
            configs.append(config)
        }
        memo.know(configs.map { PlannedTrial(id: PlannedTrial.id(of: $0), number: 1, config: $0, variant: nil) })
        for config in configs.prefix(2) {
            let facts = try memo.facts(id: PlannedTrial.id(of: config), json: "not read")
            #expect(facts.config.jsonText() == config.jsonText() && facts.activeValues == config.activeDictionary)
            #expect(facts.keyedValues == config.activeValuesByPosition && facts.repeatKey == Leaderboard.configKey(config))
        }
        #expect(memo.parses == 0)
        // The third was past the capacity: parsed when asked, and not kept (the memo is full).
        let third = PlannedTrial.id(of: configs[2])
        #expect(!memo.knows(id: third))
        #expect(try memo.facts(id: third, json: configs[2].jsonText()).config.lr == 0.003 && memo.parses == 1)
        _ = try memo.facts(id: third, json: configs[2].jsonText())
        #expect(memo.parses == 2)
        // A text that is not a config is an error, not an entry.
        #expect(throws: ConfigError.self) { try memo.facts(id: "bad", json: "{\"lr\":-1}") }
    }

    /// A read fills the memo, and a read with it parses no config and reads no result twice.
    @Test func aReadWithAMemoParsesNothingTwice() throws {
        let (store, _, planned) = try plannedStore(repeats: 2)
        let claim = try #require(try store.claimNextTrial(worker: "w", lease: "L1"))
        #expect(try store.completeTrial(lease: claim.lease, worker: "w", result: result(0.3)) == .stored)
        var memo = TrialMemo()
        let first = try store.readTrials(memo: &memo).snapshots
        #expect(memo.parses == planned.count && memo.results.count == 1)
        let again = try store.readTrials(memo: &memo).snapshots
        #expect(memo.parses == planned.count && memo.fullReads == 2)
        #expect(again.map(\.id) == first.map(\.id) && again.first { $0.id == claim.trial }?.result?.valid["ndcg@10"] == 0.3)
        // Told of the plan, a fresh memo parses nothing.
        var told = TrialMemo()
        told.know(planned)
        #expect(try store.readTrials(memo: &told).snapshots.map(\.id) == first.map(\.id) && told.parses == 0)
    }
}

/// A store the build before the module split wrote (commit c634114: `sweep run` of
/// sweeps/quickstart.yaml) opens with this build and keeps every result as it was stored.
@Suite struct StoreCompatibilityTests {
    @Test func aStoreWrittenBeforeTheModuleSplitOpensWithEveryResult() throws {
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/quickstart-c634114.db")
        let copy = TestFolders.fresh("compat").appendingPathComponent("q.db")
        try FileManager.default.createDirectory(at: copy.deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: fixture, to: copy)
        let store = try SweepStore.openReadOnly(path: copy.path)
        let trials = try store.trials()
        #expect(trials.count == 12 && trials.allSatisfy { $0.state == .completed && $0.result != nil })
        let first = try #require(trials.first { $0.id == "a5df69ae7710d7a8" })
        #expect(first.result?.bestEpoch == 27 && first.result?.valid["ndcg@10"] == 0.4587998456534175)
        let epochs = try trials.map { try store.epochs(trial: $0.id, attempt: $0.result!.attempt).count }
        #expect(epochs.reduce(0, +) == 360)
        let best = try #require(try Export.best(trials, ranking: Ranking(metric: "ndcg@10")))
        #expect(best.id.hasPrefix("c146470b") && best.result?.valid["ndcg@10"].map { ($0 * 1e4).rounded() } == 4590)
    }
}
