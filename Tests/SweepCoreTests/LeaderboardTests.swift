import Foundation
import Testing
import Vocabulary

@testable import SweepCore

func snapshot(
    _ number: Int, loss: TrialConfig.Loss = .bce, seed: Int = 0, lr: Double = 0.001, valid: Double?, state: TrialState = .completed
) -> TrialSnapshot {
    var config = TrialConfig()
    config.loss = loss
    config.seed = seed
    config.lr = lr
    let result = valid.map {
        ResultSnapshot(
            attempt: 1, worker: "w\(number)", finishedAt: Date(timeIntervalSince1970: Double(number)), bestEpoch: 2,
            valid: ["ndcg@10": $0, "coverage@10": 0.1], test: ["ndcg@10": $0 - 0.01],
            timing: TrainingTiming(examplesPerSecond: 100, secondsPerEpoch: 25, totalSeconds: 75, threads: 1, blasCore: "Haswell"))
    }
    return TrialSnapshot(
        id: String(format: "%016x", number), number: number, config: config, variant: nil, state: state, attempts: 1, result: result)
}

@Suite struct LeaderboardTests {
    /// Varying columns: every key whose value or presence differs among the trials shown, in
    /// ml.md's order, checked against the definition key by key on random trials.
    @Test func varyingKeysAreTheKeysThatDifferAmongTheShownTrials() {
        var rng = Xoshiro256(seed: 9)
        for round in 0..<200 {
            let trials = (0..<(1 + round % 6)).map { number -> TrialSnapshot in
                var config = TrialConfig()
                config.loss = [.bce, .weightedBCE, .focal][rng.nextIndex(below: 3)]
                config.lr = [0.001, 0.002][rng.nextIndex(below: 2)]
                config.multitask = rng.nextIndex(below: 4) == 0
                if config.loss == .focal { config.focalGamma = [2, 3][rng.nextIndex(below: 2)] }
                config.seed = rng.nextIndex(below: 3)
                let state: TrialState = rng.nextIndex(below: 5) == 0 ? .failed : .completed
                return TrialSnapshot(
                    id: String(format: "%016x", number), number: number, config: config, variant: nil, state: state, attempts: 1,
                    result: nil)
            }
            for all in [false, true] {
                let shown = trials.filter { all || $0.state == .completed }
                let expected = TrialConfig.keys.filter { key in
                    key != "seed"
                        && shown.contains {
                            ($0.activeValues[key] == nil) != (shown[0].activeValues[key] == nil)
                                || !($0.activeValues[key].map { value in shown[0].activeValues[key].map(value.sameValue) ?? false } ?? true)
                        }
                }
                let report = LeaderboardReport(trials: trials, ranking: Ranking(metric: "ndcg@10"), popularity: nil, all: all)
                #expect(report.varyingKeys == expected, "round \(round), all \(all)")
            }
        }
        // A program sweep's own keys, by name: `depth` varies, `width` is constant, `dropout` comes and goes.
        let programs = [
            ["depth": ConfigValue.int(2), "width": .int(8)], ["depth": .int(3), "width": .int(8)],
            ["depth": .int(3), "width": .int(8), "dropout": .double(0.1)],
        ].enumerated().map { number, keys in
            TrialSnapshot(
                id: String(format: "%016x", number), number: number,
                config: TrialConfig(programKeys: keys, seed: number, selectMetric: "acc"),
                variant: nil, state: .completed, attempts: 1, result: nil)
        }
        #expect(LeaderboardReport(trials: programs, ranking: Ranking(metric: "acc"), popularity: nil).varyingKeys == ["depth", "dropout"])
    }

    @Test func ranksByValidWithTiesToTheLowerNumber() {
        let trials = [
            snapshot(1, valid: 0.2), snapshot(2, valid: 0.3), snapshot(3, valid: 0.2), snapshot(4, valid: nil, state: .failed),
            snapshot(5, valid: 0.9, state: .retired),
        ]
        let ranked = Leaderboard.rank(trials, ranking: Ranking(metric: "ndcg@10"))
        #expect(ranked.map(\.trial.number) == [2, 1, 3])
        #expect(ranked.map(\.rank) == [1, 2, 3])
    }

    @Test func statisticsAgainstKnownValues() {
        // Student's t: 97.5% quantiles for 1, 2, 4, 10 degrees of freedom.
        for (degrees, quantile) in [(1, 12.7062), (2, 4.3027), (4, 2.7764), (10, 2.2281)] {
            #expect(abs(Statistics.tQuantile975(degrees: degrees) - quantile) < 1e-3)
        }
        // Paired differences 1, 2, 3: t = 2 / (1/√3) = 3.4641, 2 df → p = 0.0742.
        #expect(abs(Statistics.pairedTTestPValue([1, 2, 3])! - 0.07418) < 1e-4)
        #expect(Statistics.pairedTTestPValue([1]) == nil)
        #expect(Statistics.pairedTTestPValue([0, 0]) == 1)
        #expect(abs(Statistics.twoSidedP(t: 0, degrees: 5) - 1) < 1e-12)
    }

    @Test func repeatsBecomeOneRowPerConfigWithAConfidenceIntervalAndAPairedTest() {
        let trials = [
            // A: 0.30, 0.32, 0.31; B (≈ A, noisy): 0.29, 0.33, 0.30; C (clearly worse): 0.20, 0.21, 0.22.
            snapshot(1, loss: .weightedBCE, seed: 0, valid: 0.30), snapshot(2, loss: .focal, seed: 0, valid: 0.29),
            snapshot(3, seed: 0, valid: 0.20),
            snapshot(4, loss: .weightedBCE, seed: 1, valid: 0.32), snapshot(5, loss: .focal, seed: 1, valid: 0.33),
            snapshot(6, seed: 1, valid: 0.21),
            snapshot(7, loss: .weightedBCE, seed: 2, valid: 0.31), snapshot(8, loss: .focal, seed: 2, valid: 0.30),
            snapshot(9, seed: 2, valid: 0.22),
        ]
        let configs = Leaderboard.rankConfigs(trials, ranking: Ranking(metric: "ndcg@10"))
        #expect(configs.map(\.trials[0].config.loss) == [.weightedBCE, .focal, .bce])
        #expect(configs.map(\.n) == [3, 3, 3])
        #expect(abs(configs[0].validMean["ndcg@10"]! - 0.31) < 1e-12)
        // CI half-width: t(0.975, 2) · s / √3 with s = 0.01.
        #expect(abs(configs[0].ci95! - 4.3027 * 0.01 / 3.0.squareRoot()) < 1e-4)
        #expect(configs[0].tiesBest == true && configs[0].pValueVersusBest == nil)
        #expect(configs[1].tiesBest == true && configs[1].pValueVersusBest! > 0.05)
        // C: differences 0.10, 0.11, 0.09 → t ≈ 17.3 → p ≈ 0.003.
        #expect(configs[2].tiesBest == false && configs[2].pValueVersusBest! < 0.01)
    }

    /// One seed each: no paired test exists, so a config far below the best is not called a tie
    /// (the board said `≈ best` of 11 of 12 quickstart configs, one at 0.20 against 0.46).
    @Test func configsWithOneSeedAreNotCalledTiesOfTheBest() throws {
        let trials = [
            snapshot(1, loss: .bce, valid: 0.46), snapshot(2, loss: .focal, valid: 0.20), snapshot(3, loss: .weightedBCE, valid: 0.45),
        ]
        let configs = Leaderboard.rankConfigs(trials, ranking: Ranking(metric: "ndcg@10"))
        #expect(configs.map(\.tiesBest) == [true, nil, nil])
        #expect(configs.map(LeaderboardReport.versusBestCell) == ["best", "n<2", "n<2"])
        let report = LeaderboardReport(trials: trials, ranking: Ranking(metric: "ndcg@10"), popularity: nil)
        #expect(try report.table(byConfig: true).contains("n<2"))
        #expect(try !report.table(byConfig: true).contains("≈"))
        #expect(report.json(byConfig: true).contains("\"ties_best\": null"))
    }

    @Test func theTableFitsAHundredColumnsAndNamesConstantKeys() throws {
        var trials: [TrialSnapshot] = []
        for number in 1...6 {
            trials.append(
                snapshot(number, loss: number % 2 == 0 ? .focal : .weightedBCE, lr: number < 4 ? 0.001 : 0.01, valid: Double(number) / 10))
        }
        let report = LeaderboardReport(
            trials: trials, ranking: Ranking(metric: "ndcg@10"), popularity: ["valid": ["ndcg@10": 0.05], "test": ["ndcg@10": 0.04]])
        let table = try report.table(byConfig: false)
        let lines = table.split(separator: "\n")
        #expect(lines.allSatisfy { $0.count <= 100 })
        #expect(lines[0].hasPrefix("constant: rnn=false multitask=false dropout=0.1 batch_size=32 epochs=20"))
        #expect(lines[1].contains("loss") && lines[1].contains("lr") && lines[1].contains("valid ndcg@10"))
        #expect(lines.last == "popularity baseline: valid ndcg@10 0.0500, test ndcg@10 0.0400")
        #expect(lines[2].hasPrefix("   1  6  focal"))  // rank 1 is trial #6
        let narrow = LeaderboardReport(trials: trials, ranking: Ranking(metric: "ndcg@10"), popularity: nil, width: 60)
        let narrowTable = try narrow.table(byConfig: false)
        let narrowLines = narrowTable.split(separator: "\n").map(String.init)
        #expect(narrowLines.dropFirst().allSatisfy { $0.count <= 60 })
        #expect(!narrowTable.contains("worker") && narrowTable.contains("valid ndcg@10"))
        let chosen = try report.table(byConfig: false, columns: ["#", "worker"])
        #expect(chosen.split(separator: "\n")[1] == "#  worker")
        #expect(throws: StoreError.self) { try report.table(byConfig: false, columns: ["nope"]) }
        let csv = report.csv(byConfig: false).split(separator: "\n")
        #expect(csv[0].hasPrefix("rank,#,trial,"))
        #expect(csv.count == 8 && csv.last?.hasPrefix("# popularity baseline") == true)
        let document = try #require(try JSONSerialization.jsonObject(with: Data(report.json(byConfig: false).utf8)) as? [String: Any])
        #expect(
            Set(document.keys) == ["metric", "objectives", "hypervolume", "rows", "epochs", "popularity"]
                && document["metric"] as? String == "ndcg@10")
        let json = try #require(document["rows"] as? [[String: Any]])
        #expect(json.count == 6)
        #expect(Set(json[0].keys) == ["rank", "trial", "number", "config", "state", "best_epoch", "valid", "test", "worker"])
        #expect(json[0]["rank"] as? Int == 1 && json[0]["number"] as? Int == 6 && json[0]["worker"] as? String == "w6")
    }

    /// Pruned trials are never ranked; `--all` lists them after the ranked ones, best value first,
    /// with the epoch they reached, and every format ends with the epochs trained against the budget.
    @Test func prunedTrialsFollowTheRankedOnesAndTheFooterCountsEpochs() throws {
        var pruned = snapshot(3, valid: 0.5, state: .pruned), worse = snapshot(4, valid: 0.1, state: .pruned)
        pruned.stoppedAt = 2
        worse.stoppedAt = 6
        let trials = [snapshot(1, valid: 0.2), snapshot(2, valid: 0.3), worse, pruned, snapshot(5, valid: nil, state: .waiting)]
        let epochs = EpochTotals(trained: 48, budget: 100, saved: 32)
        #expect(Leaderboard.rank(trials, ranking: Ranking(metric: "ndcg@10")).map(\.trial.number) == [2, 1])
        let all = LeaderboardReport(trials: trials, ranking: Ranking(metric: "ndcg@10"), popularity: nil, all: true, epochs: epochs)
        #expect(all.trialRows().map(\.trial.number) == [2, 1, 3, 4, 5])
        #expect(all.trialRows().map(\.rank) == [1, 2, nil, nil, nil])
        let table = try all.table(byConfig: false, columns: ["#", "state"])
        #expect(table.contains("3  pruned@2") && table.contains("4  pruned@6"))
        let footer = "epochs trained: 48 of 100 budgeted (48%); early stopping pruned 2 trials and saved 32 epochs"
        #expect(table.hasSuffix(footer))
        #expect(all.csv(byConfig: false).hasSuffix("# " + footer))
        let document = try #require(try JSONSerialization.jsonObject(with: Data(all.json(byConfig: false).utf8)) as? [String: Any])
        #expect(document["epochs"] as? [String: Int] == ["trained": 48, "budget": 100, "saved": 32])
        let rows = try #require(document["rows"] as? [[String: Any]])
        #expect(rows.map { $0["stopped_at"] as? Int } == [nil, nil, 2, 6, nil])
        #expect(rows.map { $0["state"] as? String } == ["completed", "completed", "pruned", "pruned", "waiting"])
        // Without `--all` the board shows only ranked trials, with the same footer.
        let ranked = try LeaderboardReport(trials: trials, ranking: Ranking(metric: "ndcg@10"), popularity: nil, epochs: epochs).table(
            byConfig: false)
        #expect(!ranked.contains("pruned@") && ranked.hasSuffix(footer))
    }

    /// The JSON document written with a row cache equals the one written without, before and
    /// after trials change (a new result, a new rank for every row below it).
    @Test func theRowCacheWritesTheSameDocumentAsTrialsChange() throws {
        let cache = LeaderboardRowCache()
        var trials = (1...5).map { snapshot($0, lr: 0.001 * Double($0), valid: Double($0) / 10) }
        trials[4] = snapshot(5, lr: 0.005, valid: nil, state: .running)
        for round in 0..<2 {
            let report = LeaderboardReport(
                trials: trials, ranking: Ranking(metric: "ndcg@10"), popularity: ["valid": ["ndcg@10": 0.05]], all: true,
                epochs: EpochTotals(trained: 9, budget: 15, saved: 0))
            let cached = report.json(byConfig: false, cache: cache), plain = report.json(byConfig: false)
            #expect(cached == plain, "round \(round)")
            let document = try #require(try JSONSerialization.jsonObject(with: Data(cached.utf8)) as? [String: Any])
            #expect((document["rows"] as? [[String: Any]])?.count == 5)
            // The running trial finishes best: every other row's rank moves.
            trials[4] = snapshot(5, lr: 0.005, valid: 0.9)
        }
    }
}
