import Foundation

/// A trial's life: `waiting → running → completed | pruned | failed | diverged | cancelled`, and
/// `retired` for trials a changed sweep file no longer plans (kept, never deleted).
public enum TrialState: String, Sendable, CaseIterable, Codable {
    case waiting, running, completed, pruned, failed, diverged, cancelled, retired

    /// The states a trial may move to from this one.
    public var successors: Set<TrialState> {
        switch self {
        case .waiting: [.running, .cancelled, .retired]
        case .running: [.waiting, .completed, .pruned, .failed, .diverged, .cancelled, .retired]
        case .completed, .pruned, .diverged: [.retired]
        case .failed, .cancelled: [.waiting, .retired]
        case .retired: [.waiting, .completed, .pruned, .failed, .diverged, .cancelled]
        }
    }

    /// Whether the trial has ended (nothing more will run for it unless retried).
    public var isFinished: Bool { ![.waiting, .running].contains(self) }
}

/// How one attempt ended.
public enum AttemptOutcome: String, Sendable, CaseIterable, Codable {
    /// It produced the trial's result.
    case completed
    /// Early stopping ended it at a rung; its result is its best epoch so far.
    case pruned
    /// The worker went silent, stalled or left: the trial is retried, up to the limit.
    case lost
    /// The attempt ran past a limit of the sweep file (`limits: {trial, epoch}`) and was stopped:
    /// retried like a failure, `limits.retries` times, then the trial fails.
    case timedOut = "timed_out"
    /// The trainer failed (e.g. crashed): the trial fails.
    case failed
    /// The loss became NaN/∞: terminal, since the same seed diverges again.
    case diverged
    /// The user cancelled the trial, or a changed sweep file retired it while it ran.
    case cancelled
}

/// Why an attempt did not produce a result.
public enum FailureReason: String, Codable, Hashable, Sendable, CaseIterable {
    /// The loss became NaN or infinite; the same seed would diverge again, so it is terminal.
    case diverged
    /// The trainer threw or the config was rejected.
    case crashed
    /// The dataset the worker found or fetched does not match the trial's fingerprint.
    case datasetMismatch = "dataset_mismatch"
    /// The coordinator cancelled the trial.
    case cancelled
    /// The worker could not take the assignment (no free slot, or past `--max-trials`): the trial
    /// goes back to waiting at once, the attempt not counted.
    case declined
}

/// Where a worker is, as the store records it and `sweep status` shows it.
public enum WorkerState: String, Sendable, CaseIterable, Codable {
    /// Said `ready` and is heard from.
    case online
    /// Left, said `bye` or was dismissed at the end.
    case offline
    /// Fell silent past the liveness limit.
    case lost
    /// Reported a dataset that is not the sweep's: it gets no more trials.
    case quarantined
}
