import Foundation
import Testing
import Vocabulary

@testable import SweepCore

/// PED-ANOVA importance against Optuna 5.0's `PedAnovaImportanceEvaluator` on the same trials:
/// every kind of domain, a conditional parameter, ties at the cut-off.
@Suite struct ImportanceTests {
    static let parameters: [Parameter] = [
        Parameter(
            key: "loss", domain: .values([.string("bce"), .string("weighted_bce"), .string("focal"), .string("class_balanced")]),
            conditions: [], line: nil),
        Parameter(key: "lr", domain: .logUniform(min: 1e-5, max: 1e-1), conditions: [], line: nil),
        Parameter(key: "dropout", domain: .uniform(min: 0, max: 0.5), conditions: [], line: nil),
        Parameter(key: "batch_size", domain: .intUniform(min: 8, max: 256), conditions: [], line: nil),
        Parameter(key: "layers", domain: .intUniform(min: 1, max: 4), conditions: [], line: nil),
        Parameter(key: "share", domain: .qUniform(min: 0, max: 1, q: 0.1), conditions: [], line: nil),
        Parameter(key: "multitask", domain: .values([.bool(true), .bool(false)]), conditions: [], line: nil),
        Parameter(
            key: "alpha", domain: .logUniform(min: 1e-4, max: 1), conditions: [Condition(key: "multitask", anyOf: [.bool(true)])], line: nil
        ),
    ]

    /// Trials whose value depends mostly on lr (best near 1e-3) and the loss, a little on alpha
    /// where it is active, not at all on the rest; rounded, so values tie.
    static func trials(count: Int, seed: UInt64) -> [ParameterImportance.Trial] {
        var rng = Xoshiro256(seed: seed)
        let losses = ["bce", "weighted_bce", "focal", "class_balanced"]
        return (0..<count).map { _ in
            var values: [String: ConfigValue] = [:]
            let loss = losses[Int(rng.nextUniform() * 4)]
            let lr = exp(log(1e-5) + rng.nextUniform() * (log(1e-1) - log(1e-5)))
            let multitask = rng.nextUniform() < 0.5
            values["loss"] = .string(loss)
            values["lr"] = .double(lr)
            values["dropout"] = .double(rng.nextUniform() * 0.5)
            values["batch_size"] = .int(8 + Int(rng.nextUniform() * 249))
            values["layers"] = .int(1 + Int(rng.nextUniform() * 4))
            values["share"] = .double(Double(Int(rng.nextUniform() * 11)) / 10)
            values["multitask"] = .bool(multitask)
            var value = 0.15 - 0.02 * pow(log10(lr) + 3, 2) + (loss == "weighted_bce" ? 0.03 : 0) + 0.005 * rng.nextUniform()
            if multitask {
                let alpha = exp(log(1e-4) + rng.nextUniform() * (log(1.0) - log(1e-4)))
                values["alpha"] = .double(alpha)
                value -= 0.01 * alpha
            }
            return ParameterImportance.Trial(values: values, value: (value * 1000).rounded() / 1000)
        }
    }

    /// A config value as the JSON object handed to Python holds it.
    static func pythonValue(_ value: ConfigValue) -> Any {
        switch value {
        case .bool(let flag): flag
        case .int(let number): number
        case .double(let number): number
        case .string(let text): text
        }
    }

    static func optunaJob(_ trials: [ParameterImportance.Trial], quantile: Double) -> [String: Any] {
        let distributions: [String: Any] = [
            "loss": ["type": "categorical", "choices": ["bce", "weighted_bce", "focal", "class_balanced"]],
            "lr": ["type": "float", "low": 1e-5, "high": 1e-1, "log": true],
            "dropout": ["type": "float", "low": 0.0, "high": 0.5],
            "batch_size": ["type": "int", "low": 8, "high": 256],
            "layers": ["type": "int", "low": 1, "high": 4],
            "share": ["type": "float", "low": 0.0, "high": 1.0, "step": 0.1],
            "multitask": ["type": "categorical", "choices": [true, false]],
            "alpha": ["type": "float", "low": 1e-4, "high": 1.0, "log": true],
        ]
        return [
            "distributions": distributions, "target_quantile": quantile,
            "trials": trials.map { ["params": $0.values.mapValues(Self.pythonValue), "value": $0.value] as [String: Any] },
        ]
    }

    @Test(
        .enabled(if: optunaAvailable, "Optuna is not installed (make test installs it with pip): the comparison cannot run"),
        arguments: [(200, 0.1, 1 as UInt64), (60, 0.1, 2), (300, 0.25, 3), (25, 0.2, 4)])
    func importancesEqualOptunasOnTheSameTrials(count: Int, quantile: Double, seed: UInt64) throws {
        let trials = Self.trials(count: count, seed: seed)
        let ours = Dictionary(
            uniqueKeysWithValues: ParameterImportance.pedAnova(trials, parameters: Self.parameters, targetQuantile: quantile))
        let theirs = try #require(try runPython("optuna_ped_anova.py", Self.optunaJob(trials, quantile: quantile)) as? [String: Double])
        #expect(Set(ours.keys) == Set(theirs.keys))
        for (key, value) in theirs {
            #expect(
                abs((ours[key] ?? -1) - value) < 1e-6,
                "\(key): ours \(ours[key] ?? -1), Optuna's \(value) (\(count) trials, quantile \(quantile))")
        }
        // The planted structure comes out: lr matters most, then the loss.
        if count >= 200 {
            #expect(ParameterImportance.pedAnova(trials, parameters: Self.parameters, targetQuantile: quantile).first?.key == "lr")
        }
    }

    @Test func equalValuesGiveEqualImportances() {
        let trials = (0..<20).map { index in
            ParameterImportance.Trial(
                values: ["lr": .double(Double(index + 1) * 1e-3), "loss": .string(index % 2 == 0 ? "bce" : "focal")], value: 0.5)
        }
        let parameters = [
            Parameter(key: "lr", domain: .uniform(min: 0, max: 0.1), conditions: [], line: nil),
            Parameter(key: "loss", domain: .values([.string("bce"), .string("focal")]), conditions: [], line: nil),
        ]
        // Every trial ties at the cut-off, so the "best" are all of them: nothing stands out.
        #expect(ParameterImportance.pedAnova(trials, parameters: parameters).map(\.importance) == [0.5, 0.5])
    }
}
