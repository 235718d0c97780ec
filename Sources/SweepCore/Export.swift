import Foundation
import Vocabulary

/// Turns a stored trial into a self-contained trial file that `sweep train --config FILE`
/// reproduces to the same metrics on the same thread count.
public enum Export {
    /// The trial file of `trial`: its config, the sweep's dataset (an absolute path, or the
    /// synthetic preset) with its fingerprint, the threads the result was measured with, and the
    /// program or function its trials run.
    public static func trialFile(for trial: TrialSnapshot, sweep: SweepRecord) throws -> TrialFile {
        try trialFiles(for: [trial], sweep: sweep)[0]
    }

    /// The trial files of `trials`, the sweep's stored file parsed once for all of them.
    public static func trialFiles(for trials: [TrialSnapshot], sweep: SweepRecord) throws -> [TrialFile] {
        let function = try SweepSpec.parseStored(sweep.specText).function
        let dataset: DatasetSource =
            switch sweep.dataset {
            case .path(let path): .path(URL(fileURLWithPath: path).standardizedFileURL.path)
            case .synthetic, .noData: sweep.dataset
            }
        return trials.map { trial in
            var file = TrialFile(
                config: trial.config, dataset: dataset, fingerprint: dataset == .noData ? "" : sweep.fingerprint,
                threads: trial.result?.timing.threads ?? 1, program: sweep.program)
            file.function = function
            return file
        }
    }

    /// The best completed trial by the sweep's one objective on valid (feasible first), or nil
    /// when none has completed. With several objectives there is no one best: an error that lists
    /// the front and says how to export it.
    public static func best(_ trials: [TrialSnapshot], ranking: Ranking) throws -> TrialSnapshot? {
        guard ranking.isMultiObjective else { return Leaderboard.rank(trials, ranking: ranking, top: 1).first?.trial }
        let members = front(trials, ranking: ranking)
        throw StoreError(
            message:
                "the sweep has \(ranking.objectives.count) objectives, so no one trial is best; its front has \(members.count) trial\(members.count == 1 ? "" : "s"): "
                + members.map { "#\($0.number) \($0.id.prefix(8))" }.joined(separator: ", ")
                + ". Export them all with --front DIR, or one with --trial ID")
    }

    /// The feasible completed trials no other dominates (front 1), in board order.
    public static func front(_ trials: [TrialSnapshot], ranking: Ranking) -> [TrialSnapshot] {
        Leaderboard.rank(trials, ranking: ranking).filter { $0.standing.front == 1 }.map(\.trial)
    }
}
