import Foundation
import Vocabulary

/// Turns a stored trial into a self-contained trial file that `sweep train --config FILE`
/// reproduces to the same metrics on the same thread count.
public enum Export {
    /// The trial file of `trial`: its config, the sweep's dataset (an absolute path, or the
    /// synthetic preset) with its fingerprint, and the threads the result was measured with.
    public static func trialFile(for trial: TrialSnapshot, sweep: SweepRecord) -> TrialFile {
        let dataset: DatasetSource =
            switch sweep.dataset {
            case .path(let path): .path(URL(fileURLWithPath: path).standardizedFileURL.path)
            case .synthetic, .noData: sweep.dataset
            }
        return TrialFile(
            config: trial.config, dataset: dataset, fingerprint: dataset == .noData ? "" : sweep.fingerprint,
            threads: trial.result?.timing.threads ?? 1, program: sweep.program)
    }

    /// The best completed trial by the sweep metric on valid, or nil when none has completed.
    public static func best(_ trials: [TrialSnapshot], metric: String) -> TrialSnapshot? {
        Leaderboard.rank(trials, metric: metric, top: 1).first?.trial
    }
}
