import ArgumentParser
import Dashboard
import Foundation
import ML
import SweepCore
import Vocabulary

struct Importance: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "How much each searched parameter mattered for reaching the best trials (PED-ANOVA, as Optuna computes it).")

    @OptionGroup var store: StoreOptions
    @Option(help: "The share of completed trials counted as the best (Optuna's target_quantile).") var quantile = 0.1
    @Option(help: "The objective to explain (valid_…), with several; the first when not given.") var objective: String?
    @Flag(help: "Print one JSON document.") var json = false

    func validate() throws {
        guard quantile > 0 && quantile < 1 else { throw ValidationError("--quantile must be in (0, 1)") }
    }

    func run() throws {
        let reader = try store.reader()
        guard let sweep = try reader.store.sweep() else { throw StoreError(message: "\(store.db) holds no sweep yet") }
        let spec = try reader.spec(of: sweep)
        let trials = try reader.trials()
        let chosen = try chosenObjective(sweep.ranking)
        let ranked = ParameterImportance.of(spec: spec, objective: chosen, trials: trials, targetQuantile: quantile)
        if json {
            return print(
                try Documents.text(ParameterImportance.document(ranked, objective: chosen, trials: trials, targetQuantile: quantile)))
        }
        let completed = ParameterImportance.completedTrials(trials, objective: chosen)
        print(
            "importance for reaching the top \(Int((quantile * 100).rounded()))% by \(chosen.label), from \(completed) completed trials (PED-ANOVA)"
        )
        let width = ranked.map { $0.key.count }.max() ?? 0
        for (key, importance) in ranked {
            let bar = String(repeating: "█", count: Int((importance * 40).rounded()))
            print(key.padding(width) + "  " + String(format: "%.3f", importance) + "  " + bar)
        }
    }

    /// `--objective` among the sweep's objectives (`valid_` optional), else the first.
    func chosenObjective(_ ranking: Ranking) throws -> Objective {
        guard let objective else { return ranking.primary }
        guard let index = ranking.objectiveIndex(named: objective) else {
            throw ValidationError(
                "--objective \(objective) is not an objective of this sweep; its objectives are \(ranking.objectiveNames)")
        }
        return ranking.objectives[index]
    }
}
