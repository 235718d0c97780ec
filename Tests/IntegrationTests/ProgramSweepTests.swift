import Foundation
import ML
import Programs
import SweepCore
import TestSupport
import Testing
import Vocabulary

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Tests/Programs, the small real programs these sweeps run.
let testPrograms = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent(
    "Programs")

/// `sqlite3 db sql`, the store as any user would query it.
func sqlite(_ db: String, _ sql: String) throws -> String {
    try runProgram("/usr/bin/sqlite3", [db, sql]).trimmingCharacters(in: .whitespacesAndNewlines)
}

@Suite(.serialized) struct ProgramSweepTests {
    /// A copy of Tests/Programs/fit (links resolved) in `folder`, free to edit.
    func copyOfFit(in folder: URL) throws -> URL {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try runProgram("/bin/cp", ["-rL", testPrograms.appendingPathComponent("fit").path, folder.path])
        return folder.appendingPathComponent("fit")
    }

    @Test func twoWorkersOneKilledMidTrialFinishEveryProgramTrialOnceAndARefusingWorkerGetsNone() throws {
        let fixture = try DistributedFixture()
        try fixture.writeSweep(
            """
            name: programs
            program:
              dir: \(testPrograms.appendingPathComponent("fit").path)
              command: [python3, fit.py, --data, "{data}", --out, "{out}"]
            dataset: data
            metric: {name: valid_accuracy, goal: maximize}
            method: grid
            repeats: 2
            fixed: {epochs: 6, sleep: 0.15}
            parameters:
              lr: {values: [0.05, 0.5, 2.0]}
              l2: {values: [0, 1]}

            """)
        let coordinator = try fixture.launch(["--max-attempts", "2"])
        let runs = fixture.work.appendingPathComponent("runs-w2").path
        let w1 = try Child(
            "sweep",
            [
                "worker", "--connect", fixture.endpoint, "--name", "w1", "--allow-programs", "--data-root", fixture.data,
                "--cache-dir", fixture.work.appendingPathComponent("cache-w1").path,
            ])
        let w2 = try Child(
            "sweep",
            [
                "worker", "--connect", fixture.endpoint, "--name", "w2", "--allow-programs", "--runs-dir", runs,
                "--cache-dir", fixture.work.appendingPathComponent("cache-w2").path,
            ])
        let refusing = try Child(
            "sweep",
            [
                "worker", "--connect", fixture.endpoint, "--name", "no-programs", "--data-root", fixture.data,
                "--cache-dir", fixture.work.appendingPathComponent("cache-w3").path,
            ])
        var killed: String?
        try fixture.waitUntil("w2 to be mid-trial") { store in
            guard let trial = try fixture.runningTrial(of: "w2", store: store), let attempt = try store.attempts(trial: trial).last else {
                return false
            }
            killed = trial
            return try store.epochs(trial: trial, attempt: attempt.attempt).count >= 1
        }
        #expect(processAlive(withCommandLineContaining: runs), "w2's program runs")
        w2.kill(SIGKILL)
        // The program dies with its worker (PR_SET_PDEATHSIG), instead of training on unseen.
        let deadline = Date().addingTimeInterval(5)
        while processAlive(withCommandLineContaining: runs) && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        #expect(!processAlive(withCommandLineContaining: runs), "w2's program outlived it")
        let result = coordinator.finish(timeout: 180)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("valid accuracy"), "\(result.stdout)")
        try fixture.expectEveryTrialCompletedOnce()
        let attempts = try fixture.store().attempts(trial: try #require(killed))
        #expect(attempts.first?.worker == "w2" && attempts.first?.outcome == .lost && attempts.last?.outcome == .completed)
        // The worker without --allow-programs was told why and got nothing.
        refusing.kill(SIGTERM)
        #expect(refusing.finish(timeout: 30).stderr.contains("--allow-programs"))
        #expect(try sqlite(fixture.db, "SELECT COUNT(*) FROM attempt WHERE worker = 'no-programs'") == "0")
        // The store, read as any user would: every result, the program's fingerprint, the epochs
        // with the program's own numbers.
        #expect(try sqlite(fixture.db, "SELECT COUNT(*) FROM result") == "12")
        let fingerprint = try ProgramFingerprint.compute(folder: testPrograms.appendingPathComponent("fit")).fingerprint
        #expect(try sqlite(fixture.db, "SELECT json_extract(program, '$.fingerprint') FROM sweep") == fingerprint)
        #expect(
            (Int(try sqlite(fixture.db, "SELECT COUNT(*) FROM epoch WHERE json_extract(record, '$.extra.weight_norm') IS NOT NULL")) ?? 0)
                >= 12 * 6)
        #expect(try sqlite(fixture.db, "SELECT MIN(json_extract(valid, '$.accuracy')) > 0.5 FROM result") == "1")
        for worker in [w1] { #expect(worker.finish(timeout: 30).status == 0) }
    }

    @Test func tpeProposesProgramConfigsFromTheirResults() throws {
        let work = TestFolders.fresh("program-tpe")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        let sweep = work.appendingPathComponent("tpe.yaml").path, db = work.appendingPathComponent("t.db").path
        try Data(
            """
            name: program-tpe
            program: {dir: \(testPrograms.appendingPathComponent("fit").path), command: [python3, fit.py], config: env}
            dataset: none
            metric: {name: valid_neg_log_loss, goal: maximize}
            method: tpe
            count: 8
            tpe: {startup_trials: 3}
            fixed: {epochs: 2}
            parameters:
              lr: {distribution: log_uniform, min: 0.001, max: 10}
              l2: {distribution: uniform, min: 0, max: 5}

            """.utf8
        ).write(to: URL(fileURLWithPath: sweep))
        let run = try runSweep(["run", sweep, "--db", db])
        #expect(run.status == 0, "\(run.stderr)")
        let trials = try SweepStore.openReadOnly(path: db).trials()
        #expect(trials.count == 8 && trials.allSatisfy { $0.state == .completed })
        #expect(trials.filter { $0.origin?.sampler == .tpe }.count == 5, "\(trials.map { $0.origin?.sampler.rawValue ?? "planned" })")
        #expect(trials.allSatisfy { $0.config.isProgram && $0.config.programKeys?["lr"] != nil })
    }

    @Test func aWorkerRefusesProgramsFromAnUnauthenticatedRemoteCoordinator() throws {
        let refused = try runSweep(["worker", "--connect", "tcp://10.11.12.13:5555", "--allow-programs"])
        #expect(refused.status != 0 && refused.stderr.contains("without CURVE"), "\(refused.stderr)")
    }

    @Test func earlyStoppingCrashesExportAndReproduceWorkForPrograms() throws {
        let work = TestFolders.fresh("program-local")
        let fit = try copyOfFit(in: work)
        let sweep = work.appendingPathComponent("sweep.yaml").path, db = work.appendingPathComponent("s.db").path
        try Data(
            """
            name: program-asha
            program: {dir: fit, command: [python3, fit.py], config: json}
            dataset: none
            metric: {name: valid_neg_log_loss, goal: maximize}
            method: grid
            fixed: {epochs: 9}
            parameters:
              lr: {values: [3.0, 0.3, 0.03, 0.003]}
              fail_at: {values: [0, 2]}
            early_stopping: {type: asha, min_epochs: 1, reduction_factor: 3}

            """.utf8
        ).write(to: URL(fileURLWithPath: sweep))
        let run = try runSweep(["run", sweep, "--db", db])
        #expect(run.status == 0, "\(run.stderr)")
        let store = try SweepStore.openReadOnly(path: db)
        let trials = try store.trials()
        #expect(trials.count == 8)
        // fail_at 2 crashes after epoch 2 unless pruned at epoch 1 first; its reason keeps stderr.
        let crashed = trials.filter { $0.state == .failed }
        #expect(!crashed.isEmpty && crashed.allSatisfy { $0.config.programKeys?["fail_at"] == .int(2) })
        let show = try runSweep(["show", "--db", db, String(try #require(crashed.first).number)])
        #expect(show.stdout.contains("failing on purpose at epoch 2") && show.stdout.contains("program "), "\(show.stdout)")
        // ASHA judged and stopped program trials as it does built-in ones.
        #expect(trials.contains { $0.state == .pruned }, "\(trials.map(\.state))")
        #expect((Int(try sqlite(db, "SELECT COUNT(*) FROM rung WHERE decision = 'stop'")) ?? 0) >= 1)
        let epochsOfPruned = try sqlite(
            db, "SELECT MAX(e.epoch) FROM epoch e JOIN trial t ON t.number = e.trial_number WHERE t.state = 'pruned'")
        #expect((Int(epochsOfPruned) ?? 9) < 9)

        // Export the best, reproduce it: the same numbers.
        let best = try #require(try Export.best(trials, ranking: Ranking(metric: "neg_log_loss")))
        let exported = work.appendingPathComponent("best.yaml").path
        let export = try runSweep(["export", "--db", db, "--output", exported])
        #expect(export.status == 0, "\(export.stderr)")
        let reproduced = try runSweep(["reproduce", exported, "--json-out", "-", "--work-dir", work.appendingPathComponent("again").path])
        #expect(reproduced.status == 0, "\(reproduced.stderr)")
        // Read with JSONDecoder: JSONSerialization on Linux misreads some 17-digit numbers by an ulp.
        struct Reproduced: Decodable { var valid: [String: Double] }
        let document = try JSONDecoder().decode(Reproduced.self, from: Data(reproduced.stdout.utf8))
        #expect(document.valid["neg_log_loss"] == best.result?.valid["neg_log_loss"])
        // A changed program is refused, by reproduce and by the store; an ignored file changes nothing.
        try FileManager.default.createDirectory(at: fit.appendingPathComponent("checkpoints"), withIntermediateDirectories: true)
        try Data("w".utf8).write(to: fit.appendingPathComponent("checkpoints/epoch1.bin"))
        #expect(try runSweep(["reproduce", exported, "--work-dir", work.appendingPathComponent("again2").path]).status == 0)
        try Data("\n# edited\n".utf8).write(to: fit.appendingPathComponent("extra.py"))
        let refused = try runSweep(["reproduce", exported])
        #expect(refused.status != 0 && refused.stderr.contains("is not the one this trial ran"), "\(refused.stderr)")
        let relaunch = try runSweep(["run", sweep, "--db", db])
        #expect(relaunch.status != 0 && relaunch.stderr.contains("Put the program back"), "\(relaunch.stderr)")
        #expect(try SweepStore.openReadOnly(path: db).trials().map(\.state) == trials.map(\.state))
    }
}

/// examples/pytorch: its numpy half (data reading, scoring) checked against ours always; its
/// training only where PyTorch is installed.
@Suite struct ProgramExampleTests {
    static let example = testPrograms.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("examples/pytorch")
    static let redial = ReDialData.inRepository
    static let hasTorch = (try? runProgram("/usr/bin/env", ["python3", "-c", "import torch"])) != nil

    @Test func theExampleReadsTheDatasetAndScoresAsTheBuiltInTrainerDoes() throws {
        let folder = TestFolders.fresh("pytorch-baseline")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let reportFile = folder.appendingPathComponent("report.jsonl").path
        try runProgram(
            "/usr/bin/env", ["python3", Self.example.appendingPathComponent("train.py").path, "--data", Self.redial.path, "--baseline"],
            environment: ["SWEEP_REPORT": reportFile])
        let line = try #require(try String(contentsOfFile: reportFile, encoding: .utf8).split(separator: "\n").first)
        let theirs = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Double])
        let check = try runSweep(["data", "check", Self.redial.path, "--json"])
        let ours = try #require(
            (try JSONSerialization.jsonObject(with: Data(check.stdout.utf8)) as? [String: Any])?["popularity"]
                as? [String: [String: Double]])
        for split in ["valid", "test"] {
            for metric in ["ndcg@10", "recall@10", "recall@50", "mrr"] {
                let (a, b) = (try #require(theirs["\(split)_\(metric)"]), try #require(ours[split]?[metric]))
                #expect(abs(a - b) < 1e-9, "\(split) \(metric): example \(a), built-in \(b)")
            }
        }
        let plan = try runSweep(["plan", Self.example.appendingPathComponent("sweep.yaml").path])
        #expect(plan.status == 0 && plan.stdout.contains("48"), "\(plan.stderr)")
        // The function worker imports the client and the example's fit() (its training needs torch).
        let help = try runProgram(
            "/usr/bin/env", ["python3", Self.example.appendingPathComponent("worker.py").path, "--help"],
            environment: ["PYTHONPATH": PythonClientTests.pythonPath(), "PYTHONDONTWRITEBYTECODE": "1"])
        #expect(help.contains("--connect") && help.contains("same fit() as train.py"))
    }

    /// A two-trial smoke sweep of the example on ReDial, its trials run by `runner` (the sweep
    /// file's `program:` or `function:` line); returns the store's path.
    func smokeSweep(_ name: String, runner: String) throws -> (work: URL, sweep: String, db: String) {
        let work = TestFolders.fresh(name)
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        let sweep = work.appendingPathComponent("sweep.yaml").path
        try Data(
            """
            name: \(name)
            \(runner)
            dataset: \(Self.redial.path)
            metric: {name: valid_ndcg@10, goal: maximize}
            method: grid
            fixed: {epochs: 2, pos_weight_mult: 1}
            parameters: {alpha: {values: [0, 0.001]}}

            """.utf8
        ).write(to: URL(fileURLWithPath: sweep))
        return (work, sweep, work.appendingPathComponent("s.db").path)
    }

    /// Both trials trained to a result.
    func expectTwoTrainedTrials(_ db: String) throws {
        let trials = try SweepStore.openReadOnly(path: db).trials()
        #expect(trials.count == 2 && trials.allSatisfy { $0.state == .completed && ($0.result?.valid["ndcg@10"] ?? 0) > 0 })
    }

    @Test(.enabled(if: hasTorch, "PyTorch is not installed here (pip install torch): the example's function worker is not run"))
    func theExampleTrainsAsAFunctionWorker() throws {
        let (work, sweep, db) = try smokeSweep("pytorch-function", runner: "function: train")
        let endpoint = "tcp://127.0.0.1:\(try DistributedFixture.freePort())"
        let coordinator = try Child("sweep", ["launch", sweep, "--db", db, "--bind", endpoint])
        let worker = try Child(
            "/usr/bin/env",
            [
                "python3", Self.example.appendingPathComponent("worker.py").path, "--connect", endpoint, "--data", Self.redial.path,
                "--out", work.appendingPathComponent("runs").path,
            ], environment: ["PYTHONPATH": PythonClientTests.pythonPath(), "PYTHONDONTWRITEBYTECODE": "1"])
        #expect(coordinator.finish(timeout: 900).status == 0)
        #expect(worker.finish(timeout: 60).stdout.contains("ran 2 trials"))
        try expectTwoTrainedTrials(db)
    }

    @Test(.enabled(if: hasTorch, "PyTorch is not installed here (pip install torch): the example's training is not run"))
    func theExampleTrainsAsAProgramSweep() throws {
        let (_, sweep, db) = try smokeSweep(
            "pytorch-smoke",
            runner:
                "program: {dir: \(Self.example.path), command: [python3, train.py, --data, \"{data}\", --out, \"{out}\"], env: [HOME, PYTHONPATH]}"
        )
        let run = try runSweep(["run", sweep, "--db", db])
        #expect(run.status == 0, "\(run.stderr)")
        try expectTwoTrainedTrials(db)
    }
}

/// `sweep launch --dashboard`: the coordinator serves the dashboard while the sweep runs.
@Suite struct LaunchDashboardTests {
    @Test func theDashboardFollowsARunningSweep() throws {
        let work = TestFolders.fresh("launch-dashboard")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        let sweep = work.appendingPathComponent("sweep.yaml").path, db = work.appendingPathComponent("s.db").path
        try Data(
            """
            name: live
            program: {dir: \(testPrograms.appendingPathComponent("fit").path), command: [python3, fit.py]}
            dataset: none
            metric: {name: valid_accuracy, goal: maximize}
            method: grid
            fixed: {epochs: 3, sleep: 0.2}
            parameters: {lr: {values: [0.01, 0.1, 0.5, 1.0, 2.0, 4.0]}}

            """.utf8
        ).write(to: URL(fileURLWithPath: sweep))
        let coordinator = try Child(
            "sweep", ["launch", sweep, "--db", db, "--bind", "tcp://127.0.0.1:0", "--local-workers", "1", "--dashboard", "127.0.0.1:0"],
            environment: ["XDG_CACHE_HOME": work.appendingPathComponent("cache").path])
        #expect(coordinator.waitForError("dashboard at http://", timeout: 30))
        let url = try #require(
            coordinator.stderr.components(separatedBy: "dashboard at ").last?.split(separator: "\n").first.map(String.init))
        func completed() throws -> Int {
            let data = try Data(contentsOf: URL(string: url + "api/trials")!)
            let rows = (try JSONSerialization.jsonObject(with: data) as? [String: Any])?["rows"] as? [[String: Any]] ?? []
            return rows.filter { $0["state"] as? String == "completed" }.count
        }
        var seen: [Int] = [], hostileAnswers: [Int] = []
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, coordinator.process.isRunning {
            if let count = try? completed(), seen.last != count { seen.append(count) }
            // Requests that once ended the coordinator mid-sweep (a negative count trapped in
            // `prefix`), and a request line the parser once took minutes over.
            if hostileAnswers.isEmpty, seen.last.map({ $0 >= 1 }) == true {
                for path in [
                    "api/leaderboard?top=-1", "api/trials?top=-5", "api/leaderboard?top=99999999999999999999",
                    "leaderboard?rows=-1", "leaderboard?q=" + String(repeating: "a", count: 9 << 10),
                ] {
                    var request = URLRequest(url: URL(string: url + path)!)
                    request.timeoutInterval = 10
                    hostileAnswers.append(httpStatus(request))
                }
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
        #expect(coordinator.finish(timeout: 60).status == 0)
        #expect(seen.count >= 3 && seen == seen.sorted(), "the dashboard saw results arrive one by one: \(seen)")
        let finished = try SweepStore.openReadOnly(path: db).trials()
        #expect(
            finished.count == 6 && finished.allSatisfy { $0.state == .completed },
            "every trial completed, the hostile requests notwithstanding")
        #expect(
            hostileAnswers == [400, 400, 400, 400, 414], "each refused with a status, the coordinator still serving: \(hostileAnswers)")
    }
}

/// The status of a GET (0 when no answer came).
func httpStatus(_ request: URLRequest) -> Int {
    let done = DispatchSemaphore(value: 0)
    nonisolated(unsafe) var status = 0
    URLSession.shared.dataTask(with: request) { _, response, _ in
        status = (response as? HTTPURLResponse)?.statusCode ?? 0
        done.signal()
    }.resume()
    done.wait()
    return status
}
