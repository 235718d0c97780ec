import Foundation
import ML
import Programs
import SweepCore
import Vocabulary

/// Runs a sweep's trials one after another in this process (`sweep run`), driving the same
/// ``TrialController`` a coordinator drives for remote workers: the same claims, epoch records,
/// early-stopping decisions and results.
public struct LocalRunner {
    public let controller: TrialController
    /// The dataset the built-in trainer trains on (nil for a program sweep).
    public let dataset: Dataset?
    public let threads: Int
    public let workerName: String
    /// How program trials run here, for a program sweep.
    public var program: Program?

    /// A program sweep's program as this process runs it: from its own folder, no shipping.
    public struct Program: Sendable {
        public var folder: URL
        public var command: ProgramCommand
        public var data: URL?
        /// Attempt folders go here, one per attempt.
        public var runs: URL
        public var grace: TimeInterval

        public init(folder: URL, command: ProgramCommand, data: URL?, runs: URL, grace: TimeInterval) {
            self.folder = folder
            self.command = command
            self.data = data
            self.runs = runs
            self.grace = grace
        }
    }

    /// How one trial ended here.
    public enum Outcome: Sendable {
        case completed(TrialResult)
        case pruned(epoch: Int, reason: String)
        case diverged(String)
        case failed(String)
        /// It ran past the sweep file's `limits` and was stopped (retried up to `limits.retries`).
        case timedOut(String)
        /// Cancelled or retired by another process while it trained.
        case stopped
    }

    public init(controller: TrialController, dataset: Dataset?, threads: Int, workerName: String) {
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
        try store.recordWorker(name: workerName, host: host, cores: cores, blasThreads: threads, blasCore: BLAS.coreName, state: .online)
        var ran = 0
        var leases = try LeaseIssuer(store: store)
        while limit.map({ ran < $0 }) ?? true,
            case .trial(let claim) = try controller.ask(worker: workerName, lease: leases.next())
        {
            report(claim, try train(claim))
            ran += 1
        }
        try store.recordWorker(name: workerName, host: host, cores: cores, blasThreads: threads, blasCore: BLAS.coreName, state: .offline)
        return ran
    }

    /// Trains one claimed trial, telling the controller each epoch and the outcome.
    private func train(_ claim: Claim) throws -> Outcome {
        let config = try claim.config()
        if config.isProgram { return try runProgram(claim, config) }
        let trainer: Trainer
        do {
            guard let dataset else { throw ConfigError(key: "dataset", message: "the built-in trainer needs a dataset") }
            trainer = try Trainer(config: config, dataset: dataset, threads: threads)
        } catch {
            try controller.tellFailure(lease: claim.lease, outcome: .failed, reason: "\(error)", maxAttempts: 1)
            return .failed("\(error)")
        }
        let teller = Teller(controller: controller, lease: claim.lease)
        let end = trainer.run(callback: teller.hear).0.end
        return try tell(end, of: claim, heard: teller)
    }

    /// Tells the controller how a run ended, unless it stopped the run itself (pruned, or the
    /// trial was cancelled or retired by another process): the one step from a run's end to the
    /// store, for the built-in trainer and a program alike.
    private func tell(_ end: RunEnd, of claim: Claim, heard teller: Teller) throws -> Outcome {
        if let failure = teller.failure { throw failure }
        if let reason = teller.timedOut {
            try controller.tellFailure(
                lease: claim.lease, outcome: .timedOut, reason: reason, maxAttempts: controller.spec.limits.maxAttempts)
            return .timedOut(reason)
        }
        switch (teller.verdict, end) {
        case (.stop(let reason), _):
            return .pruned(epoch: end.epochs, reason: reason)
        case (.stale, _), (_, .stopped):
            return .stopped
        case (.continue, .completed(let result)):
            if case .pruned(let epoch) = try controller.tellResult(lease: claim.lease, worker: workerName, report: result) {
                return .pruned(epoch: epoch, reason: "pruned at epoch \(epoch)")
            }
            return .completed(result)
        case (.continue, .diverged(let reason, _)):
            try controller.tellFailure(lease: claim.lease, outcome: .diverged, reason: "diverged: \(reason)", maxAttempts: 1)
            return .diverged(reason)
        case (.continue, .failed(let reason, _)):
            try controller.tellFailure(lease: claim.lease, outcome: .failed, reason: "crashed: \(reason)", maxAttempts: 1)
            return .failed(reason)
        }
    }

    /// What a run tells the controller, as the training callback: progress at most once a second
    /// (for `sweep status` in other processes), each epoch; stop once the controller says so, a
    /// store write failed, the sweep file's `limits` are passed, or a budget reached with
    /// `on_reach: cancel` cancelled the trial.
    final class Teller {
        let controller: TrialController
        let lease: String
        var failure: Error?
        var verdict = TrialController.Verdict.continue
        /// Why the run passed a limit, once it has.
        var timedOut: String?
        private var lastBeat = Date.distantPast
        private let started = Date()
        private var lastEpoch: Date?
        private var epochs = 0

        init(controller: TrialController, lease: String) {
            self.controller = controller
            self.lease = lease
        }

        func hear(_ event: TrainingEvent) -> Bool {
            let now = Date()
            do {
                switch event {
                case .step(let epoch, let step):
                    if now.timeIntervalSince(lastBeat) >= 1 {
                        lastBeat = now
                        try controller.tellProgress(lease: lease, epoch: epoch, step: step)
                    }
                case .epoch(let record):
                    (lastEpoch, epochs) = (now, record.epoch)
                    verdict = try controller.tellEpoch(lease: lease, record: record)
                    if try verdict == .continue && !controller.cancelPastBudget(now: now).isEmpty { verdict = .stale }
                }
            } catch {
                failure = error
            }
            timedOut = timedOut ?? controller.spec.limits.exceeded(started: started, lastEpoch: lastEpoch, epochsReported: epochs, now: now)
            return failure == nil && verdict == .continue && timedOut == nil
        }
    }

    /// Runs one claimed program trial from the sweep's own folder.
    private func runProgram(_ claim: Claim, _ config: TrialConfig) throws -> Outcome {
        guard let program else {
            try controller.tellFailure(
                lease: claim.lease, outcome: .failed, reason: "a program trial, and this runner has no program", maxAttempts: 1)
            return .failed("a program trial, and this runner has no program")
        }
        let runner = ProgramRunner(
            attempt: ProgramAttempt(
                folder: program.folder, command: program.command, config: config, data: program.data,
                workFolder: program.runs.appendingPathComponent("\(claim.trial)-a\(claim.attempt)"), grace: program.grace,
                trial: claim.trial, attempt: claim.attempt))
        let teller = Teller(controller: controller, lease: claim.lease)
        return try tell(runner.run(callback: teller.hear), of: claim, heard: teller)
    }
}
