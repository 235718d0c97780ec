import Foundation
import SweepCore
import TestSupport
import Testing
import Vocabulary

/// The repository's root (Tests/IntegrationTests/…/../..).
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// The Python client (clients/python) against real coordinators: function workers, ask and tell,
/// CURVE, kills and early stopping, each client a real `python3` process.
@Suite(.serialized) struct PythonClientTests {
    static let clientSource = repositoryRoot.appendingPathComponent("clients/python/src").path

    /// PYTHONPATH for a Python child: the client's sources, `folders`, and what this process has
    /// (where PyTorch may be installed).
    static func pythonPath(_ folders: String...) -> String {
        ([clientSource] + folders + [ProcessInfo.processInfo.environment["PYTHONPATH"]].compactMap { $0 }).joined(separator: ":")
    }

    /// A closed-form objective shared by the program, the function workers and the ask/tell
    /// script: every epoch a little better, best at x = 0.3, y = -0.5.
    static let objectiveModule = """
        import time

        def values(config, epoch):
            x, y = config["x"], config["y"]
            score = -(x - 0.3) ** 2 - (y + 0.5) ** 2 + 0.01 * epoch
            return {"valid_score": score, "test_score": score - 0.05, "loss": (x - 0.3) ** 2}

        def objective(trial):
            for epoch in range(1, trial.config["epochs"] + 1):
                time.sleep(trial.config.get("sleep", 0))
                trial.report(epoch, values(trial.config, epoch))

        """

    /// A function worker: `python3 worker.py ENDPOINT NAME [SERVER_KEY SECRET_KEY]`, exits 3 when refused.
    static let workerScript = """
        import sys
        import sweep_client
        from quad import objective

        endpoint, name = sys.argv[1], sys.argv[2]
        keys = dict(server_key=sys.argv[3], secret_key=sys.argv[4]) if len(sys.argv) > 4 else {}
        try:
            ran = sweep_client.work(objective, connect=endpoint, name=name, **keys)
        except sweep_client.Refused as refusal:
            print("refused:", refusal, file=sys.stderr)
            sys.exit(3)
        print("ran", ran)

        """

    func python(_ script: String, _ arguments: [String], in workspace: Workspace) throws -> Child {
        try Child(
            "/usr/bin/env", ["python3", workspace.path(script)] + arguments,
            environment: [
                "PYTHONPATH": Self.pythonPath(workspace.folder.path), "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1",
            ])
    }

    func functionSweep(_ fixture: DistributedFixture, extra: String = "", parameters: String? = nil) throws {
        try fixture.writeSweep(
            """
            name: functions
            function: objective
            dataset: none
            metric: {name: valid_score, goal: maximize}
            method: grid
            fixed: {epochs: 4, sleep: 0.15}
            parameters:
            \(parameters ?? "  x: {values: [0.1, 0.3, 0.5]}\n  y: {values: [-1, -0.5, 0, 0.5]}")
            \(extra)
            """)
    }

    /// A workspace holding the objective module and the function worker script.
    func workerWorkspace() throws -> Workspace {
        let workspace = Workspace()
        try workspace.write("quad.py", Self.objectiveModule)
        try workspace.write("worker.py", Self.workerScript)
        return workspace
    }

    /// Waits until `worker` holds a trial with an epoch stored (and `also` holds); returns its id.
    func midTrial(_ fixture: DistributedFixture, of worker: String, also: @escaping (SweepStore) throws -> Bool = { _ in true })
        throws -> String
    {
        var found: String?
        try fixture.waitUntil("\(worker) to be mid-trial") { store in
            found = try fixture.runningTrial(of: worker, store: store)
            guard let trial = found, let attempt = try store.attempts(trial: trial).last else { return false }
            return try store.epochs(trial: trial, attempt: attempt.attempt).count >= 1 && also(store)
        }
        return try #require(found)
    }

    /// The client's own unit tests, run from a copy pip installed offline (so the package installs).
    @Test func theClientInstallsWithPipAndItsUnitTestsPass() throws {
        // From a copy: setuptools writes build/ and *.egg-info beside the sources it builds.
        let target = TestFolders.fresh("pip-target"), copy = TestFolders.fresh("client-copy")
        try FileManager.default.createDirectory(at: copy, withIntermediateDirectories: true)
        try runProgram("/bin/cp", ["-r", repositoryRoot.appendingPathComponent("clients/python").path, copy.path])
        _ = try runProgram(
            "/usr/bin/env",
            [
                "python3", "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--disable-pip-version-check",
                "--root-user-action=ignore", "--target", target.path, copy.appendingPathComponent("python").path,
            ])
        #expect(FileManager.default.fileExists(atPath: target.appendingPathComponent("sweep_client/py.typed").path))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "python3", "-m", "unittest", "discover", "-s", repositoryRoot.appendingPathComponent("clients/python/tests").path,
        ]
        process.environment = ProcessInfo.processInfo.environment.merging(["PYTHONPATH": target.path, "PYTHONDONTWRITEBYTECODE": "1"]) {
            $1
        }
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let output = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(output)")
        let summary = output.split(separator: "\n").filter { $0.hasPrefix("Ran ") || $0 == "OK" || $0.hasPrefix("FAILED") }
        print("clients/python unit tests: " + summary.joined(separator: ", "))
        #expect(summary.last == "OK", "\(output)")
        #expect(summary.first.flatMap { Int($0.split(separator: " ")[1]) } ?? 0 >= 10)
    }

    /// The client's type hints hold under `mypy --strict` (installed by `make deps`).
    @Test func theClientsTypeHintsCheck() throws {
        let checked = try runProgram(
            "/usr/bin/env",
            [
                "python3", "-m", "mypy", "--strict", "--cache-dir=/dev/null",
                repositoryRoot.appendingPathComponent("clients/python/src/sweep_client").path,
            ])
        print("clients/python mypy --strict: " + checked.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(checked.contains("Success: no issues found"))
    }

    /// Two function workers over CURVE finish every trial once though one is killed mid-trial; a
    /// client with a key the coordinator does not know, one serving another function and a
    /// `sweep worker` are each refused with the reason and never hold a trial.
    @Test func twoFunctionWorkersOverCurveFinishEveryTrialOnceThroughAKill() throws {
        let fixture = try DistributedFixture()
        try functionSweep(fixture)
        let workspace = try workerWorkspace()
        let keys = workspace.path("keys")
        for (folder, name) in [("coordinator", "coordinator"), ("workers", "py1"), ("workers", "py2"), ("outsiders", "mallory")] {
            #expect(try runSweep(["keys", "generate", "--out", "\(keys)/\(folder)", "--name", name]).status == 0)
        }
        try FileManager.default.createDirectory(atPath: "\(keys)/authorized", withIntermediateDirectories: true)
        for name in ["py1", "py2"] {
            try FileManager.default.copyItem(atPath: "\(keys)/workers/\(name).pub", toPath: "\(keys)/authorized/\(name).pub")
        }
        let local = try runSweep(["launch", fixture.sweep, "--db", fixture.db, "--local-workers", "1"])
        #expect(local.status != 0 && local.stderr.contains("runs its trials in function workers (function: objective)"), "\(local.stderr)")
        let run = try runSweep(["run", fixture.sweep, "--db", fixture.db])
        #expect(run.status != 0 && run.stderr.contains("which `sweep run` cannot call"), "\(run.stderr)")

        let coordinator = try fixture.launch([
            "--curve-secret", "\(keys)/coordinator/coordinator.key", "--authorized-workers", "\(keys)/authorized",
        ])
        let server = "\(keys)/coordinator/coordinator.pub"
        let outsider = try python("worker.py", [fixture.endpoint, "mallory", server, "\(keys)/outsiders/mallory.key"], in: workspace)
        let first = try python("worker.py", [fixture.endpoint, "one", server, "\(keys)/workers/py1.key"], in: workspace)
        let second = try python("worker.py", [fixture.endpoint, "two", server, "\(keys)/workers/py2.key"], in: workspace)
        let swiftWorker = try Child(
            "sweep",
            [
                "worker", "--connect", fixture.endpoint, "--name", "swift", "--server-key", server, "--curve-secret",
                "\(keys)/workers/py2.key",
            ])
        let refusedOutsider = outsider.finish(timeout: 60)
        #expect(
            refusedOutsider.status == 3 && refusedOutsider.stderr.contains("refused this client's CURVE key"), "\(refusedOutsider.stderr)")
        let refusedSwift = swiftWorker.finish(timeout: 60)
        #expect(refusedSwift.status != 0 && refusedSwift.stderr.contains("which `sweep worker` is not"), "\(refusedSwift.stderr)")

        let killed = try midTrial(fixture, of: "py1/one")
        first.kill(SIGKILL)
        let result = coordinator.finish(timeout: 120)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("valid score"), "\(result.stdout)")
        try fixture.expectEveryTrialCompletedOnce()
        let attempts = try fixture.store().attempts(trial: killed)
        #expect(attempts.first?.worker == "py1/one" && attempts.first?.outcome == .lost, "\(attempts)")
        #expect(attempts.last?.worker == "py2/two" && attempts.last?.outcome == .completed, "\(attempts)")
        let finished = second.finish(timeout: 30)
        #expect(finished.status == 0 && finished.stdout.contains("ran "), "\(finished.stderr)")
        #expect(try sqlite(fixture.db, "SELECT COUNT(*) FROM attempt WHERE worker LIKE 'mallory%' OR worker = 'swift'") == "0")
        // The result is the best epoch by the sweep's metric, with the function's own numbers.
        #expect(try sqlite(fixture.db, "SELECT COUNT(*) FROM result WHERE best_epoch = 4") == "12")
        let best = try sqlite(
            fixture.db,
            "SELECT json_extract(t.config, '$.x') || ' ' || json_extract(t.config, '$.y') FROM result r JOIN trial t ON t.number = r.trial_number ORDER BY json_extract(r.valid, '$.score') DESC LIMIT 1"
        )
        #expect(best == "0.3 -0.5")
        // The best trial, exported, reproduces with one command that calls the function here.
        let exported = try runSweep(["export", "--db", fixture.db, "--best", "--format", "json", "-o", workspace.path("best.json")])
        let command = "python3 -m sweep_client reproduce \(workspace.path("best.json")) MODULE:objective"
        #expect(exported.status == 0 && exported.stderr.contains(command), "\(exported.stderr)")
        let refused = try runSweep(["reproduce", workspace.path("best.json")])
        #expect(refused.status != 0 && refused.stderr.contains(command), "\(refused.stderr)")
        try runProgram(
            "/usr/bin/env",
            [
                "python3", "-m", "sweep_client", "reproduce", workspace.path("best.json"), "quad:objective", "--json-out",
                workspace.path("again.json"),
            ],
            environment: ["PYTHONPATH": Self.pythonPath(workspace.folder.path), "PYTHONDONTWRITEBYTECODE": "1"])
        let again =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: workspace.path("again.json")))) as? [String: Any]
        let stored = try sqlite(fixture.db, "SELECT MAX(json_extract(valid, '$.score')) FROM result")
        #expect((again?["valid"] as? [String: Double])?["score"] == Double(stored), "\(String(describing: again)) against \(stored)")

        // A client serving another function is told which one the sweep names.
        try workspace.write(
            "other.py",
            """
            import sys
            import sweep_client
            try:
                sweep_client.work(lambda trial: 1.0, connect=sys.argv[1], function="other")
            except sweep_client.Refused as refusal:
                print(refusal, file=sys.stderr)
                sys.exit(3)

            """)
        let another = try Child(
            "sweep", ["launch", fixture.sweep, "--db", workspace.path("another.db"), "--bind", fixture.endpoint, "--heartbeat-ms", "200"])
        let other = try python("other.py", [fixture.endpoint], in: workspace).finish(timeout: 60)
        #expect(other.status == 3 && other.stderr.contains("names function objective: serve that one"), "\(other.stderr)")
        another.kill(SIGTERM)
        another.finish(timeout: 30)
    }

    /// The coordinator killed (-9) and relaunched mid-sweep: the function worker reconnects, its
    /// result finished while the coordinator was down is resent and kept, and every trial ends once.
    @Test func aFunctionWorkerOutlivesACoordinatorRestart() throws {
        let fixture = try DistributedFixture()
        try functionSweep(fixture)
        let workspace = try workerWorkspace()
        var coordinator = try fixture.launch()
        let worker = try python("worker.py", [fixture.endpoint, "survivor"], in: workspace)
        let inFlight = try midTrial(fixture, of: "survivor") { store in
            try store.trials().filter { $0.state == .completed }.count >= 3
        }
        coordinator.kill(SIGKILL)
        _ = coordinator.finish(timeout: 10)
        Thread.sleep(forTimeInterval: 1.5)  // the trial in flight finishes while no coordinator listens
        coordinator = try fixture.launch()
        let result = coordinator.finish(timeout: 120)
        #expect(result.status == 0, "\(result.stderr)")
        try fixture.expectEveryTrialCompletedOnce()
        let attempts = try fixture.store().attempts(trial: inFlight)
        #expect(attempts.count == 1 && attempts[0].outcome == .completed, "\(attempts)")
        let finished = worker.finish(timeout: 30)
        #expect(finished.status == 0 && finished.stdout.contains("ran 12"), "\(finished.stdout) \(finished.stderr)")
    }

    /// SIGTERM mid-trial: the client says bye, its trial goes back at once (the attempt ends
    /// `lost` with the reason, not after a liveness window) and another worker finishes it.
    @Test func sigtermHandsTheTrialBackAtOnce() throws {
        let fixture = try DistributedFixture()
        try functionSweep(fixture)
        let workspace = try workerWorkspace()
        let coordinator = try fixture.launch()
        let quitter = try python("worker.py", [fixture.endpoint, "quitter"], in: workspace)
        let handedBack = try midTrial(fixture, of: "quitter")
        quitter.kill(SIGTERM)
        let quit = quitter.finish(timeout: 20)
        #expect(quit.status == 0 && quit.stdout.contains("ran "), "\(quit.stdout) \(quit.stderr)")
        let attempts = try fixture.store().attempts(trial: handedBack)
        #expect(attempts.first?.outcome == .lost && attempts.first?.reason == "worker quitter left: SIGTERM", "\(attempts)")
        let finisher = try python("worker.py", [fixture.endpoint, "finisher"], in: workspace)
        #expect(coordinator.finish(timeout: 120).status == 0)
        try fixture.expectEveryTrialCompletedOnce()
        #expect(finisher.finish(timeout: 30).status == 0)
    }

    /// ASHA's stop reaches the function at its next report: `Pruned` is raised there, and the
    /// store keeps the epochs up to the rung.
    @Test func earlyStoppingReachesTheFunctionWithinOneReport() throws {
        let fixture = try DistributedFixture()
        try functionSweep(
            fixture, extra: "early_stopping: {type: asha, min_epochs: 1, reduction_factor: 3}",
            parameters: "  x: {values: [0.3, 0.2, 0.1, 0.0, -0.1, -0.2, -0.3, -0.4, -0.5]}\n  y: {value: -0.5}")
        let workspace = Workspace()
        try workspace.write("quad.py", Self.objectiveModule)
        let log = workspace.path("pruned.log")
        try workspace.write(
            "pruning.py",
            """
            import sys
            import sweep_client
            from quad import objective

            def recorded(trial):
                try:
                    objective(trial)
                except sweep_client.Pruned:
                    with open(sys.argv[2], "a") as out:
                        out.write(f"{trial.number} {trial.epochs_reported + 1}\\n")
                    raise

            import logging
            logging.basicConfig(level=logging.INFO, format="%(asctime)s %(threadName)s %(message)s")
            print("ran", sweep_client.work(recorded, connect=sys.argv[1], function="objective"))

            """)
        let coordinator = try fixture.launch()
        let worker = try python("pruning.py", [fixture.endpoint, log], in: workspace)
        let result = coordinator.finish(timeout: 120)
        #expect(result.status == 0, "\(result.stderr)")
        let finished = worker.finish(timeout: 30)
        #expect(finished.status == 0, "\(finished.stdout) \(finished.stderr)")
        let trials = try fixture.store().trials()
        let pruned = trials.filter { $0.state == .pruned }
        #expect(pruned.count >= 3, "\(trials.map(\.state))")
        let raised = Dictionary(
            uniqueKeysWithValues: try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").map { line in
                let parts = line.split(separator: " ").map { Int($0)! }
                return (parts[0], parts[1])
            })
        for trial in pruned {
            let stopped = try #require(trial.stoppedAt)
            // The report after the rung's epoch raised Pruned: the function trained no further.
            #expect(
                raised[trial.number] == stopped + 1,
                "trial #\(trial.number) stopped at \(stopped), raised at \(String(describing: raised[trial.number]))")
            let attempt = try #require(try fixture.store().attempts(trial: trial.id).last)
            #expect(try fixture.store().epochs(trial: trial.id, attempt: attempt.attempt).count == stopped)
        }
        #expect(Set(raised.keys) == Set(pruned.map(\.number)))
    }

    /// A function that hangs without reporting is stopped at the sweep's time limit: the attempt
    /// ends `timed_out`, the client interrupts the function `stop_grace` after the stop, and the
    /// same worker goes on to finish the other trials.
    @Test func aHungFunctionIsStoppedAtTheSweepsLimitAndTheWorkerGoesOn() throws {
        let fixture = try DistributedFixture()
        try functionSweep(
            fixture, extra: "limits: {trial: 2s, retries: 0}",
            parameters: "  x: {values: [0.1, 0.2, 0.3]}\n  y: {value: -0.5}")
        let workspace = Workspace()
        try workspace.write("quad.py", Self.objectiveModule)
        try workspace.write(
            "hang.py",
            """
            import sys, time
            import sweep_client
            from quad import objective

            def hanging(trial):
                if trial.config["x"] == 0.2:
                    time.sleep(3600)  # never reports, never returns
                objective(trial)

            print("ran", sweep_client.work(hanging, connect=sys.argv[1], function="objective", stop_grace=1))

            """)
        let coordinator = try fixture.launch()
        let worker = try python("hang.py", [fixture.endpoint], in: workspace)
        let result = coordinator.finish(timeout: 120)
        #expect(result.stderr.contains("failed: timed out: the attempt ran past the trial limit of 2s"), "\(result.stderr)")
        let finished = worker.finish(timeout: 30)
        #expect(finished.status == 0 && finished.stdout.contains("ran 3"), "\(finished.stdout) \(finished.stderr)")
        #expect(finished.stderr.contains("went on 1 s past its stop; interrupting it"), "\(finished.stderr)")
        let trials = try fixture.store().trials()
        #expect(trials.filter { $0.state == .completed }.count == 2, "\(trials.map(\.state))")
        let hung = try #require(trials.first { $0.state == .failed })
        let attempts = try fixture.store().attempts(trial: hung.id)
        #expect(attempts.count == 1 && attempts[0].outcome == .timedOut, "\(attempts)")
        #expect(attempts[0].reason?.contains("trial limit of 2s") == true, "\(String(describing: attempts[0].reason))")
    }

    /// A script's own loop with ask and tell ranks the configs as `sweep run` does on the same
    /// file (the program and the function compute the same thing), TPE proposals included.
    @Test func askAndTellRanksAsSweepRunDoes() throws {
        let workspace = Workspace()
        try FileManager.default.createDirectory(atPath: workspace.path("program"), withIntermediateDirectories: true)
        try workspace.write("program/quad.py", Self.objectiveModule)
        try runProgram("/bin/cp", [repositoryRoot.appendingPathComponent("tools/sweep_report.py").path, workspace.path("program/")])
        try workspace.write(
            "program/run.py",
            """
            import json, os
            from quad import values
            from sweep_report import report

            config = json.load(open(os.environ["SWEEP_CONFIG"]))
            for epoch in range(1, config["epochs"] + 1):
                report(dict(values(config, epoch), epoch=epoch))

            """)
        try workspace.write(
            "sweep.yaml",
            """
            name: ask-tell
            program: {dir: program, command: [python3, run.py], config: json}
            function: objective
            dataset: none
            metric: {name: valid_score, goal: maximize}
            method: tpe
            count: 10
            seed: 7
            tpe: {startup_trials: 4}
            fixed: {epochs: 2}
            parameters:
              x: {distribution: uniform, min: -1, max: 1}
              y: {distribution: uniform, min: -1, max: 1}

            """)
        try workspace.write(
            "asktell.py",
            """
            import sys
            sys.path.insert(0, sys.argv[2])
            import sweep_client
            from quad import values

            told = 0
            with sweep_client.Study(connect=sys.argv[1], function="objective") as study:
                while (trial := study.ask(timeout=60)) is not None:
                    for epoch in range(1, trial.config["epochs"] + 1):
                        trial.report(epoch, values(trial.config, epoch))
                    assert study.tell(trial) == "completed"
                    told += 1
            print("told", told)

            """)
        let run = try runSweep(["run", workspace.path("sweep.yaml"), "--db", workspace.path("run.db")])
        #expect(run.status == 0, "\(run.stderr)")
        let endpoint = "tcp://127.0.0.1:\(try DistributedFixture.freePort())"
        let coordinator = try Child(
            "sweep",
            ["launch", workspace.path("sweep.yaml"), "--db", workspace.path("asktell.db"), "--bind", endpoint, "--heartbeat-ms", "200"])
        let script = try python("asktell.py", [endpoint, workspace.path("program")], in: workspace).finish(timeout: 120)
        #expect(script.status == 0 && script.stdout.contains("told 10"), "\(script.stderr)")
        #expect(coordinator.finish(timeout: 60).status == 0)
        func ranking(_ db: String) throws -> [String] {
            let board = try runSweep(["leaderboard", "--db", db, "--format", "json"])
            #expect(board.status == 0, "\(board.stderr)")
            let document = try #require(try JSONSerialization.jsonObject(with: Data(board.stdout.utf8)) as? [String: Any])
            let rows = try #require(document["rows"] as? [[String: Any]])
            return rows.map { row in
                let score = (row["valid"] as? [String: Double])?["score"]
                return "\(row["rank"] ?? "") \(row["trial"] ?? "") \(score.map { String($0) } ?? "none")"
            }
        }
        let byRun = try ranking(workspace.path("run.db")), byAskTell = try ranking(workspace.path("asktell.db"))
        #expect(byRun.count == 10)
        #expect(byRun == byAskTell)
    }
}
