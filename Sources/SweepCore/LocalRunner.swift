import Foundation
import ML

/// Runs a sweep's trials one after another in this process (`sweep run`), driving the same
/// ``TrialController`` a coordinator drives for remote workers: the same claims, epoch records,
/// early-stopping decisions and results.
public struct LocalRunner {
    public let controller: TrialController
    public let dataset: Dataset
    public let threads: Int
    public let workerName: String

    /// How one trial ended here.
    public enum Outcome: Sendable {
        case completed(TrialReport)
        case pruned(epoch: Int, reason: String)
        case diverged(String)
        case failed(String)
        /// Cancelled or retired by another process while it trained.
        case stopped
    }

    public init(controller: TrialController, dataset: Dataset, threads: Int, workerName: String) {
        self.controller = controller
        self.dataset = dataset
        self.threads = threads
        self.workerName = workerName
    }

    /// Trains trials until none is left (or `limit` have run); `report` hears each outcome.
    /// Returns how many trials ran.
    @discardableResult
    public func run(limit: Int? = nil, report: (Claim, Outcome) -> Void = { _, _ in }) throws -> Int {
        let store = controller.store
        let host = ProcessInfo.processInfo.hostName, cores = ProcessInfo.processInfo.activeProcessorCount
        try store.recordWorker(name: workerName, host: host, cores: cores, blasThreads: threads, blasCore: BLAS.coreName, state: "online")
        var ran = 0
        while limit.map({ ran < $0 }) ?? true,
              case .trial(let claim) = try controller.ask(worker: workerName, lease: "local-\(UUID().uuidString.prefix(8))") {
            report(claim, try train(claim))
            ran += 1
        }
        try store.recordWorker(name: workerName, host: host, cores: cores, blasThreads: threads, blasCore: BLAS.coreName, state: "offline")
        return ran
    }

    /// Trains one claimed trial, telling the controller each epoch and the outcome.
    private func train(_ claim: Claim) throws -> Outcome {
        let trainer: Trainer
        do {
            trainer = try Trainer(config: claim.config(), dataset: dataset, threads: threads)
        } catch {
            try controller.tellFailure(lease: claim.lease, outcome: .failed, reason: "\(error)", maxAttempts: 1)
            return .failed("\(error)")
        }
        var failure: Error?, verdict = TrialController.Verdict.continue, lastBeat = Date.distantPast
        let (result, _) = trainer.run { event in
            do {
                switch event {
                case .step(let epoch, let step):
                    // Progress for `sweep status` in other processes, at most once a second.
                    if Date().timeIntervalSince(lastBeat) >= 1 {
                        lastBeat = Date()
                        try controller.tellProgress(lease: claim.lease, epoch: epoch, step: step)
                    }
                case .epoch(let record):
                    verdict = try controller.tellEpoch(lease: claim.lease, record: record)
                }
            } catch {
                failure = error
            }
            return failure == nil && verdict == .continue
        }
        if let failure { throw failure }
        switch (verdict, result.status) {
        case (.stop(let reason), _):
            return .pruned(epoch: result.history.count, reason: reason)
        case (.stale, _):
            return .stopped
        case (_, .completed):
            guard let best = result.best else {
                try controller.tellFailure(lease: claim.lease, outcome: .failed, reason: "no epoch finished", maxAttempts: 1)
                return .failed("no epoch finished")
            }
            let trialReport = TrialReport(bestEpoch: best.epoch, valid: best.valid.dictionary, test: best.test.dictionary,
                                          history: result.history, timing: result.timing)
            if case .pruned(let epoch) = try controller.tellResult(lease: claim.lease, worker: workerName, report: trialReport) {
                return .pruned(epoch: epoch, reason: "pruned at epoch \(epoch)")
            }
            return .completed(trialReport)
        case (_, .diverged):
            let reason = result.divergence ?? "diverged"
            try controller.tellFailure(lease: claim.lease, outcome: .diverged, reason: reason, maxAttempts: 1)
            return .diverged(reason)
        case (_, .stopped):
            return .stopped
        }
    }
}
