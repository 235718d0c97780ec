import Foundation
import SweepCore
import TestSupport
import Testing

/// A one-node Slurm cluster on this machine (Debian's `slurm-wlm` and `munge`): its own munged,
/// slurmctld and slurmd on loopback ports, 2 CPUs, state in a private folder under /tmp (short
/// socket paths), all stopped and removed by ``stop()``. Needs root, as a cluster's daemons do.
final class TestSlurm: @unchecked Sendable {
    let folder: URL
    var conf: String { folder.appendingPathComponent("slurm.conf").path }
    /// The environment every Slurm command runs with (jobs inherit it: their TMPDIR is in `folder`).
    var environment: [String: String] { ["SLURM_CONF": conf, "TMPDIR": folder.appendingPathComponent("tmp").path] }
    private var daemons: [String] = []  // pid files

    static let programs = [
        "/usr/sbin/munged", "/usr/sbin/mungekey", "/usr/sbin/slurmctld", "/usr/sbin/slurmd",
        "/usr/bin/sbatch", "/usr/bin/scancel", "/usr/bin/sinfo", "/usr/bin/sqlite3",
    ]

    /// Why a cluster cannot be started here, or nil when it can.
    static let unavailableReason: String? = {
        guard getuid() == 0 else { return "not root (slurmd runs jobs as root here)" }
        let missing = programs.filter { !FileManager.default.isExecutableFile(atPath: $0) }
        return missing.isEmpty ? nil : "missing \(missing.joined(separator: ", ")) (make deps installs slurm-wlm, munge and sqlite3)"
    }()

    init() throws {
        var template = Array("/tmp/sweep-slurm.XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw StoreError(message: "mkdtemp failed") }
        folder = URL(fileURLWithPath: String(cString: made))
        for sub in ["state", "spool", "munge", "tmp"] {
            try FileManager.default.createDirectory(at: folder.appendingPathComponent(sub), withIntermediateDirectories: true)
        }
    }

    /// Writes the configuration, starts the three daemons and waits until the node is idle.
    func start() throws {
        let path = folder.path, host = Self.shortHostName
        let munge = "\(path)/munge/munge.socket"
        try Data(
            """
            ClusterName=sweeptest
            SlurmctldHost=\(host)(127.0.0.1)
            SlurmctldPort=\(try DistributedFixture.freePort())
            SlurmdPort=\(try DistributedFixture.freePort())
            AuthType=auth/munge
            AuthInfo=socket=\(munge)
            CredType=cred/munge
            SlurmUser=root
            SlurmdUser=root
            StateSaveLocation=\(path)/state
            SlurmdSpoolDir=\(path)/spool
            SlurmctldPidFile=\(path)/slurmctld.pid
            SlurmdPidFile=\(path)/slurmd.pid
            SlurmctldLogFile=\(path)/slurmctld.log
            SlurmdLogFile=\(path)/slurmd.log
            ProctrackType=proctrack/linuxproc
            TaskPlugin=task/none
            JobAcctGatherType=jobacct_gather/none
            AccountingStorageType=accounting_storage/none
            SelectType=select/cons_tres
            SelectTypeParameters=CR_CPU
            ReturnToService=2
            KillWait=20
            MpiDefault=none
            NodeName=\(host) NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN
            PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP

            """.utf8
        ).write(to: URL(fileURLWithPath: conf))
        try run("/usr/sbin/mungekey", ["--create", "--keyfile", "\(path)/munge/munge.key"])
        try daemon(
            "/usr/sbin/munged",
            [
                "--force", "--socket", munge, "--key-file", "\(path)/munge/munge.key",
                "--pid-file", "\(path)/munge/munged.pid", "--log-file", "\(path)/munge/munged.log",
                "--seed-file", "\(path)/munge/seed",
            ])
        daemons.append("\(path)/munge/munged.pid")
        try daemon("/usr/sbin/slurmctld", [])
        daemons.append("\(path)/slurmctld.pid")
        try daemon("/usr/sbin/slurmd", [])
        daemons.append("\(path)/slurmd.pid")
        let deadline = Date().addingTimeInterval(30)
        while (try? run("/usr/bin/sinfo", ["-h", "-o", "%T"]).trimmingCharacters(in: .whitespacesAndNewlines)) != "idle" {
            guard Date() < deadline else { throw StoreError(message: "the Slurm node never became idle: \(log("slurmctld.log"))") }
            Thread.sleep(forTimeInterval: 0.2)
        }
    }

    static var shortHostName: String { ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "localhost" }

    /// Submits a script; returns the job id.
    func sbatch(_ script: String) throws -> String {
        try run("/usr/bin/sbatch", ["--parsable", script]).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Cancels jobs or array tasks the way a user does (`scancel 12_1`): SIGTERM, SIGKILL after KillWait.
    func scancel(_ job: String) throws { try run("/usr/bin/scancel", [job]) }

    func log(_ name: String) -> String { (try? String(contentsOf: folder.appendingPathComponent(name), encoding: .utf8)) ?? "" }

    /// Cancels every job, stops the daemons and removes the folder.
    func stop() {
        _ = try? run("/usr/bin/scancel", ["--user", "root"])
        for pidFile in daemons.reversed() {
            guard let text = try? String(contentsOfFile: pidFile, encoding: .utf8),
                let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
            else { continue }
            kill(pid, SIGTERM)
            let deadline = Date().addingTimeInterval(10)
            while kill(pid, 0) == 0 && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        }
        try? FileManager.default.removeItem(at: folder)
    }

    /// Starts a daemon with no signal blocked, as an init system would (it passes that on to the
    /// jobs it runs), and waits for it to detach.
    func daemon(_ program: String, _ arguments: [String]) throws {
        let variables = ProcessInfo.processInfo.environment.merging(environment) { $1 }.map { "\($0.key)=\($0.value)" }
        let status = CleanProcess.wait(try CleanProcess.spawn([program] + arguments, environment: variables))
        guard status == 0 else { throw StoreError(message: "\(program) exited \(status)") }
    }

    /// Runs a program with the cluster's environment; returns its standard output, throws on failure.
    @discardableResult
    func run(_ program: String, _ arguments: [String]) throws -> String {
        try runProgram(program, arguments, environment: environment)
    }
}

/// A CURVE coordinator serving a synthetic sweep to workers that Slurm job arrays start from the
/// scripts `sweep slurm worker-script` writes. `--max-attempts 1`: a bye that counted an attempt
/// would fail its trial.
final class SlurmSweep {
    let slurm: TestSlurm
    let fixture: DistributedFixture
    let keys: URL
    var authorized: String { keys.appendingPathComponent("authorized").path }
    let port: Substring
    let coordinator: Child

    init(slurm: TestSlurm, epochs: Int) throws {
        self.slurm = slurm
        fixture = try DistributedFixture(epochs: epochs)
        keys = fixture.work.appendingPathComponent("keys")
        try FileManager.default.createDirectory(
            atPath: keys.appendingPathComponent("authorized").path, withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700])
        #expect(try runSweep(["keys", "generate", "--out", keys.path, "--name", "coordinator"]).status == 0)
        port = fixture.endpoint.split(separator: ":").last!
        // The default heartbeat timing (1 s × 5), not the fixture's 0.2 s × 5: with `--max-attempts 1`
        // a Slurm worker starved of CPU for a second by the rest of the suite would fail its trial.
        coordinator = try Child(
            "sweep",
            [
                "launch", fixture.sweep, "--db", fixture.db, "--bind", "tcp://0.0.0.0:\(port)",
                "--max-attempts", "1", "--curve-secret", keys.appendingPathComponent("coordinator.key").path,
                "--authorized-workers", keys.appendingPathComponent("authorized").path,
            ])
    }

    /// Writes a job script and submits it; returns the job id.
    func submit(_ name: String, workers: Int, time: String? = nil) throws -> String {
        let file = fixture.work.appendingPathComponent(name).path
        var arguments = [
            "slurm", "worker-script", "--connect", "tcp://\(TestSlurm.shortHostName):\(port)",
            "--server-key", keys.appendingPathComponent("coordinator.pub").path, "--authorized-workers", authorized,
            "--workers", "\(workers)", "--cpus-per-worker", "1", "--cache-dir", slurm.folder.appendingPathComponent("cache").path,
            "--output", slurm.folder.appendingPathComponent("\(name)-%A_%a.log").path, "-o", file,
        ]
        if let time { arguments += ["--time", time] }
        let written = try runSweep(arguments)
        #expect(written.status == 0, "\(written.stderr)")
        return try slurm.sbatch(file)
    }

    static func worker(_ job: String, _ task: Int) -> String { "slurm-\(job)-\(task)" }

    /// Waits as the fixture does; on a time-out, says what the queue, the tasks and the coordinator show.
    func waitUntil(_ what: String, timeout: TimeInterval, _ condition: (SweepStore) throws -> Bool) throws {
        do {
            try fixture.waitUntil(what, timeout: timeout, condition)
        } catch {
            let logs = ((try? FileManager.default.contentsOfDirectory(atPath: slurm.folder.path)) ?? []).filter { $0.hasSuffix(".log") }
                .sorted()
                .map { "\($0):\n\(slurm.log($0).suffix(2000))" }.joined(separator: "\n")
            Issue.record(
                "\(error)\nsqueue:\n\((try? slurm.run("/usr/bin/squeue", [])) ?? "?")\n\(logs)\ncoordinator:\n\(coordinator.stderr.suffix(3000))"
            )
            throw error
        }
    }

    /// Every attempt of the sweep.
    func attempts() throws -> [AttemptSnapshot] {
        let store = try fixture.store()
        return try store.trials().flatMap { try store.attempts(trial: $0.id) }
    }
}

/// The scripts `sweep slurm worker-script` writes, run by a real one-node Slurm.
@Suite(.serialized) struct SlurmTests {
    /// Counted as skipped, with the reason, where no one-node Slurm can run.
    @Test(
        .enabled(
            if: TestSlurm.unavailableReason == nil,
            Comment(rawValue: "a one-node Slurm cannot run here: \(TestSlurm.unavailableReason ?? "")")))
    func jobArraysAddWorkersAndScancelOrATimeLimitHandsTheTrialBackUncounted() throws {
        let slurm = try TestSlurm()
        defer { slurm.stop() }
        try slurm.start()
        try arraysAndScancel(slurm)
        try timeLimit(slurm)
    }

    /// Two array tasks train; `scancel` of one mid-trial hands its trial on; a second array submitted
    /// mid-sweep gets a trial at once; the sweep completes with every trial once.
    func arraysAndScancel(_ slurm: TestSlurm) throws {
        let sweep = try SlurmSweep(slurm: slurm, epochs: 30)
        let first = try sweep.submit("first.sh", workers: 2)
        var cancelledTrial: String?
        try sweep.waitUntil("both array tasks to be mid-trial", timeout: 90) { store in
            cancelledTrial = try sweep.fixture.runningTrial(of: SlurmSweep.worker(first, 1), store: store)
            let other = try sweep.fixture.runningTrial(of: SlurmSweep.worker(first, 2), store: store)
            return cancelledTrial != nil && other != nil
        }
        try slurm.scancel("\(first)_1")
        try sweep.waitUntil("the cancelled task's trial to go back", timeout: 30) { store in
            try store.attempts(trial: cancelledTrial!).first?.outcome == .lost
        }
        #expect(try sweep.fixture.store().attempts(trial: cancelledTrial!).first?.reason?.contains("left") == true)
        Thread.sleep(forTimeInterval: 1)  // the task's shell removes its key after the worker has exited
        #expect(
            !FileManager.default.fileExists(atPath: "\(sweep.authorized)/\(SlurmSweep.worker(first, 1)).pub"), "the task removes its key")

        let submitted = Date()
        let second = try sweep.submit("second.sh", workers: 1)
        try sweep.waitUntil("the second array's worker to train", timeout: 60) { store in
            try sweep.fixture.runningTrial(of: SlurmSweep.worker(second, 1), store: store) != nil
        }
        #expect(Date().timeIntervalSince(submitted) < 30)
        let result = sweep.coordinator.finish(timeout: 300)
        #expect(result.status == 0, "\(result.stderr)")
        try sweep.fixture.expectEveryTrialCompletedOnce()
        // The store as a user checks it with sqlite3: one completed attempt per trial, no result lost or doubled.
        let counts = try slurm.run(
            "/usr/bin/sqlite3",
            [
                sweep.fixture.db,
                "SELECT count(*), count(DISTINCT trial_id) FROM attempt WHERE outcome = 'completed'; SELECT count(*) FROM trial WHERE state = 'completed';",
            ])
        #expect(counts.split(separator: "\n") == ["12|12", "12"], "\(counts)")
        let workers = Set(try sweep.attempts().map(\.worker))
        #expect(workers == [SlurmSweep.worker(first, 1), SlurmSweep.worker(first, 2), SlurmSweep.worker(second, 1)], "\(workers)")
    }

    /// A task reaching its one-minute `--time` mid-trial: Slurm's SIGTERM becomes bye, and the trial
    /// goes back to waiting without counting an attempt (with --max-attempts 1 a counted one fails it).
    func timeLimit(_ slurm: TestSlurm) throws {
        let sweep = try SlurmSweep(slurm: slurm, epochs: 5000)  // trials far longer than the limit
        let job = try sweep.submit("limited.sh", workers: 1, time: "1")
        var trial: String?
        try sweep.waitUntil("the time-limited task to train", timeout: 60) { store in
            trial = try sweep.fixture.runningTrial(of: SlurmSweep.worker(job, 1), store: store)
            return trial != nil
        }
        // Slurm checks time limits every 30 s: the task ends 60–90 s after it started.
        try sweep.waitUntil("the time limit to end the task", timeout: 150) { store in
            try store.attempts(trial: trial!).first?.outcome == .lost
        }
        let attempt = try sweep.fixture.store().attempts(trial: trial!).first!
        #expect(attempt.reason?.contains("left") == true, "\(attempt)")
        #expect(try sweep.fixture.store().findTrial(trial!).state == .waiting)
        Thread.sleep(forTimeInterval: 1)
        let log = slurm.log("limited.sh-\(job)_1.log")
        #expect(log.contains("DUE TO TIME LIMIT") && log.contains("said bye"), "\(log)")
        #expect(!FileManager.default.fileExists(atPath: "\(sweep.authorized)/\(SlurmSweep.worker(job, 1)).pub"))
        #expect(try runSweep(["cancel", "--db", sweep.fixture.db, "--all"]).status == 0)
        let result = sweep.coordinator.finish(timeout: 60)
        #expect(result.status == 0, "\(result.stderr)")
    }
}
