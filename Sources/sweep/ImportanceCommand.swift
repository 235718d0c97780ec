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
    @Flag(help: "Print one JSON document.") var json = false

    func validate() throws {
        guard quantile > 0 && quantile < 1 else { throw ValidationError("--quantile must be in (0, 1)") }
    }

    func run() throws {
        let reader = try store.reader()
        guard let sweep = try reader.store.sweep() else { throw StoreError(message: "\(store.db) holds no sweep yet") }
        let spec = try reader.spec(of: sweep)
        let trials = try reader.trials()
        let ranked = ParameterImportance.of(spec: spec, trials: trials, targetQuantile: quantile)
        if json {
            return print(try Documents.text(ParameterImportance.document(ranked, spec: spec, trials: trials, targetQuantile: quantile)))
        }
        let completed = ParameterImportance.completedTrials(trials, metric: spec.metric)
        print(
            "importance for reaching the top \(Int((quantile * 100).rounded()))% by valid \(spec.metric), from \(completed) completed trials (PED-ANOVA)"
        )
        let width = ranked.map(\.key.count).max() ?? 0
        for (key, importance) in ranked {
            let bar = String(repeating: "█", count: Int((importance * 40).rounded()))
            print(key.padding(width) + "  " + String(format: "%.3f", importance) + "  " + bar)
        }
    }
}
