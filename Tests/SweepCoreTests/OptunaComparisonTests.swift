import Foundation
import Testing
import Vocabulary

@testable import SweepCore

/// Whether `python3 -c "import optuna"` works here.
let optunaAvailable: Bool = {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", "-c", "import optuna"]
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    guard (try? process.run()) != nil else { return false }
    process.waitUntilExit()
    return process.terminationStatus == 0
}()

/// Our successive halving against Optuna's `SuccessiveHalvingPruner`, fed the same reports in the
/// same order (four workers' trials interleaved). The one difference, by design: with fewer than
/// η values at a rung, Optuna goes on only with the best value so far, while we (as the ASHA paper
/// and this project's contract) always go on. Every other decision must be Optuna's.
@Suite struct OptunaComparisonTests {
    @Test(.enabled(if: optunaAvailable, "Optuna is not installed (make test installs it with pip): the comparison cannot run"))
    func successiveHalvingMakesOptunasDecisionsSaveTheDocumentedOne() throws {
        let trials = 36, epochs = 10, workers = 4
        let lrs = (1...trials).map { String(format: "0.%04d", $0) }.joined(separator: ", ")
        let spec = try spec(
            syntheticHeader + """
                method: grid
                fixed: {epochs: \(epochs)}
                early_stopping: {type: asha, min_epochs: 1, reduction_factor: 3}
                parameters:
                  lr: {values: [\(lrs)]}
                """)
        let controller = try TrialController(spec: spec, store: try SweepStore.inMemory(), trainExamples: 100)
        _ = try controller.applyPlan(fingerprint: "f", popularity: nil)
        // Each trial's curve: a quality, approached with noise, so trials cross at random.
        var rng = Xoshiro256(seed: 42)
        let quality = (0..<trials).map { _ in rng.nextUniform() }
        func value(_ trial: Int, _ epoch: Int) -> Double {
            (quality[trial] * (1 - exp(-Double(epoch) / 3)) + 0.1 * rng.nextUniform()).rounded(toPlaces: 4)
        }
        var events: [[Any]] = [], ours: [(trial: Int, epoch: Int, stop: Bool)] = []
        var slots: [(lease: String, trial: Int, epoch: Int, best: Double)?] = Array(repeating: nil, count: workers)
        var started = 0
        while started < trials || slots.contains(where: { $0 != nil }) {
            let slot = Int(rng.nextUniform() * Double(workers))
            guard var running = slots[slot] else {
                guard started < trials, case .trial(let claim) = try controller.ask(worker: "w\(slot)", lease: "L\(started)") else {
                    continue
                }
                slots[slot] = (claim.lease, claim.number - 1, 0, 0)
                events.append(["start", claim.number - 1])
                started += 1
                continue
            }
            running.epoch += 1
            running.best = max(running.best, value(running.trial, running.epoch))
            let record = epochRecord(running.epoch, running.best)
            let verdict = try controller.tellEpoch(lease: running.lease, record: record)
            events.append(["report", running.trial, running.epoch, running.best])
            ours.append((running.trial, running.epoch, verdict != .continue))
            if verdict != .continue {
                events.append(["end", running.trial, "pruned", running.best])
                slots[slot] = nil
            } else if running.epoch == epochs {
                events.append(["end", running.trial, "complete", running.best])
                slots[slot] = nil
            } else {
                slots[slot] = running
            }
        }
        let optuna = try #require(try runPython("optuna_asha.py", ["min_epochs": 1, "reduction_factor": 3, "events": events]) as? [Bool])
        #expect(optuna.count == ours.count)
        let trialsByNumber = Dictionary(uniqueKeysWithValues: try controller.store.trials().map { ($0.number - 1, $0.id) })
        var agreedStops = 0, explained = 0
        for (index, decision) in ours.enumerated() where index < optuna.count {
            if decision.stop == optuna[index] {
                if decision.stop { agreedStops += 1 }
                continue
            }
            // The documented difference: fewer than η values at the rung, and not the best of them.
            let judgement = try controller.store.judgements(trial: trialsByNumber[decision.trial]!).first { $0.epoch == decision.epoch }
            let documented =
                !decision.stop && optuna[index]
                && judgement.map {
                    $0.compared.count + 1 < 3 && $0.values[0] < ($0.compared.map { $0[0] }.max() ?? -.infinity)
                } == true
            #expect(
                documented,
                "trial \(decision.trial) epoch \(decision.epoch): ours \(decision.stop ? "stop" : "go on"), Optuna's \(optuna[index] ? "stop" : "go on"), \(String(describing: judgement))"
            )
            explained += documented ? 1 : 0
        }
        // Enough happened to compare: many rung decisions, stops on both sides agreeing.
        #expect(try controller.store.epochTotals().saved > 0 && agreedStops >= 5, "agreed stops \(agreedStops), explained \(explained)")
    }
}

extension Double {
    func rounded(toPlaces places: Int) -> Double {
        let scale = pow(10, Double(places))
        return (self * scale).rounded() / scale
    }
}
