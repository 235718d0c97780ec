import Foundation
import SweepCore
import TestSupport
import Testing
import Vocabulary

/// Objectives end to end, through real `sweep` processes and a program that reports a loss.
@Suite(.serialized) struct ObjectiveSweepTests {
    func fitSweep(_ name: String, ranking: String) throws -> (folder: URL, sweep: String, db: String) {
        let work = TestFolders.fresh(name)
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        try runProgram("/bin/cp", ["-rL", testPrograms.appendingPathComponent("fit").path, work.path])
        let sweep = work.appendingPathComponent("sweep.yaml").path
        try Data(
            """
            name: \(name)
            program: {dir: fit, command: [python3, fit.py], config: json}
            dataset: none
            \(ranking)
            method: grid
            fixed: {epochs: 9}
            parameters:
              lr: {values: [0.03, 3.0, 0.0003, 0.3, 0.003]}
            early_stopping: {type: asha, min_epochs: 1, reduction_factor: 2}

            """.utf8
        ).write(to: URL(fileURLWithPath: sweep))
        return (work, sweep, work.appendingPathComponent("s.db").path)
    }

    /// A program reporting a loss, minimized: each trial's best epoch is its lowest loss, the board
    /// ranks lowest first, ASHA keeps the lowest, and the export is the lowest, reproduced.
    @Test func aMinimizedLossIsRankedPrunedAndExported() throws {
        let (work, sweep, db) = try fitSweep("minimize", ranking: "metric: {name: valid_log_loss, goal: minimize}")
        let run = try runSweep(["run", sweep, "--db", db])
        #expect(run.status == 0, "\(run.stderr)")
        let store = try SweepStore.openReadOnly(path: db)
        let trials = try store.trials()
        let objective = Objective(metric: "log_loss", goal: .minimize)
        for trial in trials where trial.result != nil {
            let epochs = try store.epochs(trial: trial.id, attempt: trial.result!.attempt)
            let lowest = epochs.min { ($0.valid["log_loss"]!, $0.epoch) < ($1.valid["log_loss"]!, $1.epoch) }!
            #expect(trial.result?.bestEpoch == lowest.epoch, "trial #\(trial.number)")
        }
        #expect(trials.contains { $0.state == .pruned }, "\(trials.map(\.state))")
        // ASHA's records: a stopped trial's value is above the cut (the kept-th lowest).
        for trial in trials where trial.state == .pruned {
            let stop = try #require(try store.judgements(trial: trial.id).first { $0.decision == .stop })
            let all = (stop.compared.map { $0[0] } + stop.values).sorted()
            #expect(stop.values[0] > all[all.count / 2 - 1], "\(stop.rule)")
        }
        // The same order as maximizing the negated loss the program also reports.
        let minimized = Leaderboard.rank(trials, ranking: Ranking(objectives: [objective])).map(\.trial.number)
        #expect(minimized == Leaderboard.rank(trials, ranking: Ranking(metric: "neg_log_loss")).map(\.trial.number))
        let values = Leaderboard.rank(trials, ranking: Ranking(objectives: [objective])).map(\.value)
        #expect(values == values.sorted() && values.count >= 2)
        let board = try runSweep(["leaderboard", "--db", db, "--format", "json"])
        let document = try #require(try JSONSerialization.jsonObject(with: Data(board.stdout.utf8)) as? [String: Any])
        #expect((document["objectives"] as? [[String: String]]) == [["name": "valid_log_loss", "goal": "minimize"]])
        let status = try runSweep(["status", "--db", db])
        #expect(
            status.stdout.contains("ranked by valid_log_loss (minimize)") && status.stdout.contains("best: #\(minimized[0])"),
            "\(status.stdout)")
        let exported = work.appendingPathComponent("best.yaml").path
        let export = try runSweep(["export", "--db", db, "--output", exported])
        #expect(export.status == 0 && export.stderr.contains("(#\(minimized[0]),"), "\(export.stderr)")
        #expect(try String(contentsOfFile: exported, encoding: .utf8).contains("select_goal: minimize"))
        let reproduced = try runSweep(["reproduce", exported, "--json-out", "-", "--work-dir", work.appendingPathComponent("again").path])
        struct Reproduced: Decodable { var valid: [String: Double] }
        let again = try JSONDecoder().decode(Reproduced.self, from: Data(reproduced.stdout.utf8))
        #expect(again.valid["log_loss"] == values[0])
    }

    /// Two objectives (accuracy up, loss down) with MOASHA: every judgement keeps both values, the
    /// board has fronts and a hypervolume, `--best` refuses naming the front, `--front` writes it.
    @Test func twoObjectivesGiveAFrontThatExportsAsOneFilePerMember() throws {
        let (work, sweep, db) = try fitSweep(
            "pareto",
            ranking: """
                objectives:
                  - {name: valid_accuracy, goal: maximize, reference: 0}
                  - {name: valid_log_loss, goal: minimize, reference: 1}
                constraints:
                  - {metric: valid_accuracy, min: 0.6}
                """)
        let plan = try runSweep(["plan", sweep])
        #expect(plan.stdout.contains("ranked by objectives valid_accuracy (maximize), valid_log_loss (minimize)"), "\(plan.stdout)")
        let run = try runSweep(["run", sweep, "--db", db])
        #expect(run.status == 0, "\(run.stderr)")
        let store = try SweepStore.openReadOnly(path: db)
        let judgements = try store.trials().flatMap { try store.judgements(trial: $0.id) }
        #expect(!judgements.isEmpty && judgements.allSatisfy { $0.values.count == 2 && $0.compared.allSatisfy { $0.count == 2 } })
        let board = try runSweep(["leaderboard", "--db", db, "--format", "json"])
        let document = try #require(try JSONSerialization.jsonObject(with: Data(board.stdout.utf8)) as? [String: Any])
        let rows = try #require(document["rows"] as? [[String: Any]])
        let hypervolume = try #require(document["hypervolume"] as? Double)
        #expect(hypervolume > 0)
        #expect(rows.first?["front"] as? Int == 1)
        let fronts = rows.compactMap { $0["front"] as? Int }
        #expect(fronts == fronts.sorted())
        let members = rows.filter { $0["front"] as? Int == 1 }.map { $0["trial"] as! String }
        let refused = try runSweep(["export", "--db", db])
        #expect(
            refused.status != 0 && refused.stderr.contains("no one trial is best") && refused.stderr.contains("--front"),
            "\(refused.stderr)")
        let folder = work.appendingPathComponent("front").path
        let written = try runSweep(["export", "--db", db, "--front", folder])
        #expect(written.status == 0, "\(written.stderr)")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder)
        #expect(files.count == members.count && members.allSatisfy { id in files.contains { $0.hasSuffix("-\(id).yaml") } })
        let status = try runSweep(["status", "--db", db, "--json"])
        let statusDocument = try #require(try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any])
        #expect((statusDocument["hypervolume"] as? Double).map { abs($0 - hypervolume) < 1e-12 } == true)
        let importance = try runSweep(["importance", "--db", db, "--objective", "valid_log_loss"])
        #expect(importance.status == 0 && importance.stdout.contains("valid log_loss (lower is better)"), "\(importance.stdout)")
    }
}
