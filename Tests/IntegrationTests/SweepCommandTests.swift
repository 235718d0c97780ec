import Foundation
import TestSupport
import Testing

/// The sweep commands end to end: plan, run, leaderboard, show, status, export → train.
@Suite struct SweepCommandTests {
    let workspace = Workspace()

    func path(_ name: String) -> String { workspace.path(name) }
    func write(_ name: String, _ text: String) throws { try workspace.write(name, text) }

    func json<T>(_ result: (status: Int32, stdout: String, stderr: String)) throws -> T {
        #expect(result.status == 0, "\(result.stderr)")
        return try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? T)
    }

    /// The rows of `sweep leaderboard --format json`.
    func board(_ arguments: [String]) throws -> [[String: Any]] {
        let document: [String: Any] = try json(try runSweep(["leaderboard"] + arguments + ["--format", "json"]))
        return try #require(document["rows"] as? [[String: Any]])
    }

    /// A sweep over a small synthetic dataset folder next to the sweep file.
    func prepare(losses: String = "[bce, weighted_bce, focal]", repeats: Int = 1) throws {
        let synth = try runSweep([
            "data", "synth", "--preset", "small", "--items", "300", "--train", "200", "--valid", "60",
            "--test", "60", "--dim", "16", "--tags", "40", "--seed", "2", "--out", path("data"),
        ])
        #expect(synth.status == 0)
        try write(
            "sweep.yaml",
            """
            # a tiny loss sweep
            name: tiny
            dataset: data
            metric: {name: valid_ndcg@10, goal: maximize}
            method: grid
            repeats: \(repeats)
            fixed: {epochs: 2}
            parameters:
              loss: {values: \(losses)}

            """)
    }

    @Test func planRunRankShowExportAndReproduce() throws {
        try prepare()
        let plan: [String: Any] = try json(try runSweep(["plan", path("sweep.yaml"), "--format", "json"]))
        #expect(plan["count"] as? Int == 3)
        let planned = try #require(plan["trials"] as? [[String: Any]])
        #expect(Set(planned[0].keys) == ["id", "number", "config", "seed"])
        let run = try runSweep(["run", path("sweep.yaml"), "--db", path("sweep.db")])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stderr.contains("ran 3 trials") && run.stdout.contains("popularity baseline: valid ndcg@10"))

        let board = try self.board(["--db", path("sweep.db")])
        #expect(board.count == 3 && board.map { $0["rank"] as? Int } == [1, 2, 3])
        let values = board.compactMap { ($0["valid"] as? [String: Double])?["ndcg@10"] }
        #expect(values == values.sorted(by: >))
        let best = try #require(board.first?["trial"] as? String)

        let show: [String: Any] = try json(try runSweep(["show", "--db", path("sweep.db"), String(best.prefix(6)), "--json"]))
        #expect(show["trial"] as? String == best && show["state"] as? String == "completed")
        #expect((show["epochs"] as? [[String: Any]])?.count == 2)
        #expect((show["attempts"] as? [[String: Any]])?.first?["outcome"] as? String == "completed")
        let status: [String: Any] = try json(try runSweep(["status", "--db", path("sweep.db"), "--json"]))
        #expect((status["trials"] as? [String: Int])?["completed"] == 3 && status["attempts"] as? Int == 3)
        #expect((status["workers"] as? [[String: Any]])?.count == 1)

        // Export the best and reproduce it with one command: the same metrics.
        let export = try runSweep(["export", "--db", path("sweep.db"), "--best", "-o", path("best.yaml")])
        #expect(export.status == 0 && export.stderr.contains("reproduce it with: sweep train --config \(path("best.yaml"))"))
        let reproduced: [String: Any] = try json(try runSweep(["train", "--config", path("best.yaml"), "--json-out", "-"]))
        #expect(
            NSDictionary(dictionary: reproduced["valid"] as! [String: Any]) == NSDictionary(dictionary: board[0]["valid"] as! [String: Any])
        )
        #expect(
            NSDictionary(dictionary: reproduced["test"] as! [String: Any]) == NSDictionary(dictionary: board[0]["test"] as! [String: Any]))
        let exported = try String(contentsOfFile: path("best.yaml"), encoding: .utf8)
        #expect(exported.contains("path: \"\(path("data"))\""))  // absolute
    }

    @Test func extendingARunSweepAddsOnlyNewTrials() throws {
        try prepare(losses: "[bce, weighted_bce]")
        #expect(try runSweep(["run", path("sweep.yaml"), "--db", path("sweep.db")]).status == 0)
        try prepare(losses: "[weighted_bce, focal]")
        let comparison: [String: Any] = try json(try runSweep(["plan", path("sweep.yaml"), "--db", path("sweep.db"), "--format", "json"]))
        #expect(comparison["new"] as? Int == 1 && comparison["kept"] as? Int == 1 && comparison["retired"] as? Int == 1)
        let run = try runSweep(["run", path("sweep.yaml"), "--db", path("sweep.db")])
        #expect(run.stderr.contains("(1 new, 1 kept, 1 retired)") && run.stderr.contains("ran 1 trial\n"))
        let all = try board(["--db", path("sweep.db"), "--all"])
        #expect(all.map { $0["state"] as? String }.sorted { ($0 ?? "") < ($1 ?? "") } == ["completed", "completed", "retired"])
        let ranked = try board(["--db", path("sweep.db")])
        #expect(ranked.count == 2)
    }

    /// A TPE sweep through `sweep run`: the same seed proposes the same configs, `plan` shows the
    /// startup draws, `show` says what a proposal was conditioned on, and a larger count continues.
    @Test func tpeProposesTheSameConfigsForTheSameSeedAndExtends() throws {
        try prepare()
        func tpe(count: Int) -> String {
            """
            name: tpe
            dataset: data
            method: tpe
            count: \(count)
            seed: 5
            tpe: {startup_trials: 3}
            fixed: {epochs: 2}
            parameters:
              loss: {values: [bce, weighted_bce]}
              pos_weight_mult: {distribution: log_uniform, min: 0.25, max: 4, when: {loss: weighted_bce}}
              lr: {distribution: log_uniform, min: 0.0001, max: 0.01}

            """
        }
        try write("tpe.yaml", tpe(count: 6))
        let plan = try runSweep(["plan", path("tpe.yaml")])
        #expect(
            plan.stdout.contains("3 configs × 1 repeat = 3 trials")
                && plan.stdout.contains("the other 3 configs (of count 6) depend on the results"))
        for db in ["a.db", "b.db"] { #expect(try runSweep(["run", path("tpe.yaml"), "--db", path(db)]).status == 0) }
        let first = try board(["--db", path("a.db")]), second = try board(["--db", path("b.db")])
        #expect(first.count == 6 && Set(first.map { $0["trial"] as? String }) == Set(second.map { $0["trial"] as? String }))
        let show: [String: Any] = try json(try runSweep(["show", "--db", path("a.db"), "6", "--json"]))
        #expect(
            NSDictionary(dictionary: show["origin"] as? [String: Any] ?? [:])
                == NSDictionary(dictionary: ["sampler": "tpe", "finished": 5, "running": 0]))
        #expect(try runSweep(["show", "--db", path("a.db"), "6"]).stdout.contains("proposed by tpe from 5 finished and 0 running configs"))
        // A larger count proposes more from what is stored; the first six stay.
        try write("tpe.yaml", tpe(count: 8))
        let extended = try runSweep(["run", path("tpe.yaml"), "--db", path("a.db")])
        #expect(extended.stderr.contains("(0 new, 6 kept, 0 retired)") && extended.stderr.contains("ran 2 trials"), "\(extended.stderr)")
        #expect(try board(["--db", path("a.db")]).count == 8)
    }

    /// `sweep slurm worker-script` as a user types it: sbatch options that start with dashes, paths
    /// made absolute for the nodes, and a mistake named by its option before anything is written.
    @Test func slurmWorkerScriptTakesSbatchOptionsAndNamesBadSettings() throws {
        try FileManager.default.createDirectory(at: workspace.folder, withIntermediateDirectories: true)
        try write("coordinator.pub", "0000000000000000000000000000000000000000\n")
        try FileManager.default.createDirectory(atPath: path("authorized"), withIntermediateDirectories: true)
        let script = try runSweep([
            "slurm", "worker-script", "--connect", "tcp://login1:5555", "--workers", "4",
            "--extra-sbatch", "--mem=8G", "--extra-sbatch", "--constraint=avx2", "--time", "2:00:00",
            "--server-key", path("coordinator.pub"), "--authorized-workers", path("authorized"), "-o", path("job.sh"),
        ])
        #expect(script.status == 0, "\(script.stderr)")
        let text = try String(contentsOfFile: path("job.sh"), encoding: .utf8)
        for line in ["#SBATCH --array=1-4", "#SBATCH --mem=8G", "#SBATCH --constraint=avx2", "#SBATCH --time=2:00:00"] {
            #expect(text.contains(line + "\n"), "missing \(line)")
        }
        #expect(text.contains("--server-key \(path("coordinator.pub"))") && text.contains("authorized=\(path("authorized"))"))
        #expect((try FileManager.default.attributesOfItem(atPath: path("job.sh"))[.posixPermissions] as? Int) == 0o700)
        let missing = try runSweep([
            "slurm", "worker-script", "--connect", "tcp://login1:5555",
            "--server-key", path("coordinator.pub"), "--authorized-workers", path("nowhere"),
        ])
        #expect(
            missing.status != 0 && missing.stderr.contains("--authorized-workers \(path("nowhere")): no such folder"), "\(missing.stderr)")
        let loopback = try runSweep(["slurm", "worker-script", "--connect", "tcp://127.0.0.1:5555"])
        #expect(loopback.status != 0 && loopback.stderr.contains("loopback"), "\(loopback.stderr)")
    }

    @Test func readersExplainAMissingDatabaseAndCreateNothing() throws {
        try FileManager.default.createDirectory(at: workspace.folder, withIntermediateDirectories: true)
        for command in [["leaderboard"], ["status"], ["export", "--best"], ["show", "1"]] {
            let result = try runSweep(command + ["--db", path("none.db")])
            #expect(result.status != 0)
            #expect(result.stderr.contains("no such sweep database"), "\(command): \(result.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: path("none.db")))
        try write("bad.yaml", "name: x\nmethod: grid\nparameters:\n  lr: {distribution: uniform, min: 1, max: 0}\n")
        let bad = try runSweep(["plan", path("bad.yaml")])
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("line 4: parameters.lr.distribution: a grid needs a list of values"))
        #expect(bad.stderr.contains("line 4: parameters.lr.min: must be less than max"))
        #expect(bad.stderr.contains("dataset: is required"))
    }
}

/// Stores a careless build or a broken disk left behind: each command still says what it can.
@Suite struct DamagedStoreTests {
    let workspace = Workspace()

    func path(_ name: String) -> String { workspace.path(name) }

    /// A config stored as `{"y":inf}` (as builds before the check wrote `fixed: {y: .inf}`) once
    /// failed status, leaderboard, show and run with "not a JSON object of config keys", even after
    /// the file was fixed. Now the store opens, the trial is named and left out, and a run of the
    /// fixed file retires it and goes on.
    @Test func aStoredConfigNoReaderCanParseIsNamedAndLeftOut() throws {
        let synth = try runSweep([
            "data", "synth", "--preset", "small", "--items", "300", "--train", "200", "--valid", "60",
            "--test", "60", "--dim", "16", "--tags", "40", "--seed", "2", "--out", path("data"),
        ])
        #expect(synth.status == 0)
        let sweep = """
            name: tiny
            dataset: data
            metric: {name: valid_ndcg@10, goal: maximize}
            method: grid
            fixed: {epochs: 1}
            parameters:
              loss: {values: [bce, focal]}

            """
        try workspace.write("sweep.yaml", sweep)
        #expect(try runSweep(["run", path("sweep.yaml"), "--db", path("s.db")]).status == 0)
        // What an older build stored for a non-finite value: a text no JSON reader accepts.
        try runSQLite(
            path("s.db"),
            """
            INSERT INTO trial (id, number, config, seed, variant, state, updated_at)
            VALUES ('badbadbadbadbad0', 3, '{"loss":"bce","lr":inf,"seed":0,"select_metric":"ndcg@10"}', 0, NULL, 'waiting', 0)
            """)
        for command in [["status"], ["leaderboard"], ["show", "1"]] {
            let result = try runSweep(command + ["--db", path("s.db")])
            #expect(result.status == 0, "\(command): \(result.stderr)")
            #expect(
                result.stderr.contains("trial #3 (badbadbadbadbad0)") && result.stderr.contains("cannot be read"),
                "\(command): \(result.stderr)")
        }
        let board = try runSweep(["leaderboard", "--db", path("s.db"), "--format", "json"])
        let rows = try #require(
            (try JSONSerialization.jsonObject(with: Data(board.stdout.utf8)) as? [String: Any])?["rows"] as? [[String: Any]])
        #expect(rows.count == 2, "the two readable trials are ranked")
        // The file (unchanged, fine) applied again: the unreadable trial is not planned, so it is retired.
        let run = try runSweep(["run", path("sweep.yaml"), "--db", path("s.db")])
        #expect(run.status == 0 && run.stderr.contains("1 retired"), "\(run.stderr)")
        #expect(try runSweep(["plan", path("sweep.yaml"), "--db", path("s.db")]).status == 0)
    }

    /// A file of zeros, or any file that is not SQLite, given as a writer's store: refused with the
    /// file named, and left byte for byte as it was.
    @Test func aWriterRefusesAFileThatIsNoSQLiteDatabaseAndLeavesItAlone() throws {
        try workspace.write(
            "sweep.yaml",
            "name: t\ndataset: {synthetic: {preset: small, seed: 1}}\nmetric: {name: valid_ndcg@10, goal: maximize}\nmethod: grid\nfixed: {epochs: 1}\nparameters: {lr: {values: [0.01]}}\n"
        )
        for (name, bytes) in [("zeros.db", Data(count: 8192)), ("text.db", Data("not a database\n".utf8))] {
            try bytes.write(to: URL(fileURLWithPath: path(name)))
            for command in [["run", path("sweep.yaml"), "--db", path(name)], ["status", "--db", path(name)]] {
                let result = try runSweep(command)
                #expect(result.status != 0 && result.stderr.contains(path(name)), "\(command): \(result.stderr)")
                #expect(!result.stderr.contains("SQLite error"), "a reason a person can act on: \(result.stderr)")
            }
            #expect(try Data(contentsOf: URL(fileURLWithPath: path(name))) == bytes, "\(name) untouched")
            #expect(!FileManager.default.fileExists(atPath: path(name) + "-wal"))
        }
    }
}
