import Foundation
import ML

/// Runs a sweep's waiting trials one after another in this process, through the same store
/// operations a remote worker's reports go through (claim, epochs, result or failure).
public struct LocalRunner {
    public let store: SweepStore
    public let dataset: ResolvedDataset
    public let threads: Int
    public let workerName: String

    public init(store: SweepStore, dataset: ResolvedDataset, threads: Int, workerName: String) {
        self.store = store
        self.dataset = dataset
        self.threads = threads
        self.workerName = workerName
    }

    /// Trains waiting trials until none is left (or `limit` have run); `report` hears each outcome.
    /// Returns how many trials ran.
    @discardableResult
    public func run(limit: Int? = nil, report: (Claim, TrainingResult) -> Void = { _, _ in }) throws -> Int {
        var ran = 0
        try store.recordWorker(name: workerName, host: ProcessInfo.processInfo.hostName, cores: ProcessInfo.processInfo.activeProcessorCount,
                               blasThreads: threads, blasCore: BLAS.coreName, state: "online")
        while limit.map({ ran < $0 }) ?? true,
              let claim = try store.claimNextTrial(worker: workerName, lease: "local-\(UUID().uuidString.prefix(8))") {
            let trainer: Trainer
            do {
                trainer = try Trainer(config: claim.config(), dataset: dataset.dataset, threads: threads)
            } catch {
                try store.endAttempt(lease: claim.lease, outcome: .failed, reason: "\(error)", maxAttempts: 1)
                ran += 1
                continue
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            var failure: Error?
            let (result, _) = trainer.run { event in
                switch event {
                case .step(let epoch, let step):
                    do { try store.recordHeartbeat(lease: claim.lease, epoch: epoch, step: step) } catch { failure = error }
                case .epoch(let record):
                    do {
                        try store.recordEpoch(lease: claim.lease, epoch: record.epoch,
                                              record: String(decoding: try encoder.encode(record), as: UTF8.self))
                    } catch { failure = error }
                }
                return failure == nil
            }
            if let failure { throw failure }
            try Self.store(result, for: claim, worker: workerName, in: store)
            report(claim, result)
            ran += 1
        }
        try store.recordWorker(name: workerName, host: ProcessInfo.processInfo.hostName, cores: ProcessInfo.processInfo.activeProcessorCount,
                               blasThreads: threads, blasCore: BLAS.coreName, state: "offline")
        return ran
    }

    /// Records a finished training run under its lease: a result, or the attempt's failure.
    public static func store(_ result: TrainingResult, for claim: Claim, worker: String, in store: SweepStore) throws {
        switch result.status {
        case .completed:
            guard let best = result.best else { return }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            let record = TrialResultRecord(
                bestEpoch: best.epoch, valid: best.valid.dictionary, test: best.test.dictionary,
                history: try result.history.map { String(decoding: try encoder.encode($0), as: UTF8.self) },
                timing: String(decoding: try encoder.encode(result.timing), as: UTF8.self), seconds: result.timing.totalSeconds)
            _ = try store.completeTrial(lease: claim.lease, worker: worker, result: record)
        case .diverged:
            try store.endAttempt(lease: claim.lease, outcome: .diverged, reason: result.divergence ?? "diverged", maxAttempts: 1)
        case .stopped:
            try store.endAttempt(lease: claim.lease, outcome: .cancelled, reason: "stopped", maxAttempts: 1)
        }
    }
}
