import Foundation
import TestSupport
import Testing

@testable import Worker

/// The job script's own behaviour, run by bash with a stand-in `sweep` binary and the variables
/// Slurm sets (the real Slurm runs it in IntegrationTests/SlurmTests).
@Suite struct SlurmWorkerScriptTests {
    func folder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("slurm-script-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Writes a stand-in executable. Written in this process, it would be open for writing while
    /// other tests fork; a child forked then holds that descriptor until it execs, and running the
    /// file in that window fails with "Text file busy". So the text goes to a side file, and
    /// `install` (a child of its own) copies it into place with its mode.
    func writeExecutable(_ text: String, to url: URL) throws {
        let source = url.appendingPathExtension("source")
        try Data(text.utf8).write(to: source)
        let copy = try CleanProcess.spawn(["/usr/bin/install", "-m", "755", source.path, url.path], environment: ["PATH=/usr/bin:/bin"])
        #expect(CleanProcess.wait(copy) == 0)
    }

    @Test func headerCarriesTheSlurmOptionsAndQuotesWhatBashWouldSplit() throws {
        var script = SlurmWorkerScript(connect: "tcp://login1:5555", sweepBinary: "/home/me/my tools/sweep")
        script.workers = 8
        script.cpusPerWorker = 4
        script.time = "04:00:00"
        script.partition = "cpu"
        script.account = "lab"
        script.extraSbatch = ["--mem=8G"]
        try script.validate()
        let lines = script.text.split(separator: "\n").map(String.init)
        for line in [
            "#SBATCH --array=1-8", "#SBATCH --cpus-per-task=4", "#SBATCH --time=04:00:00", "#SBATCH --partition=cpu",
            "#SBATCH --account=lab", "#SBATCH --mem=8G", "sweep='/home/me/my tools/sweep'",
        ] {
            #expect(lines.contains(line), "missing \(line)")
        }
        // Every #SBATCH line comes before the first command, or sbatch ignores it.
        let lastDirective = lines.lastIndex { $0.hasPrefix("#SBATCH") }!, firstCommand = lines.firstIndex { !$0.hasPrefix("#") }!
        #expect(lastDirective < firstCommand)
        #expect(!script.text.contains("--server-key"), "no CURVE unless asked")
    }

    @Test func settingsSlurmWouldRejectAreNamed() {
        func error(_ change: (inout SlurmWorkerScript) -> Void) -> String {
            var script = SlurmWorkerScript(connect: "tcp://login1:5555", sweepBinary: "/opt/sweep")
            change(&script)
            do { try script.validate() } catch { return "\(error)" }
            return ""
        }
        #expect(error { _ in } == "")
        #expect(error { $0.connect = "login1:5555" }.contains("--connect"))
        #expect(error { $0.connect = "tcp://127.0.0.1:5555" }.contains("loopback"))
        #expect(error { $0.sweepBinary = "sweep" }.contains("--sweep-binary"))
        #expect(error { $0.workers = 0 }.contains("--workers"))
        #expect(error { $0.cpusPerWorker = 0 }.contains("--cpus-per-worker"))
        #expect(error { $0.time = "4h" }.contains("--time 4h"))
        #expect(error { $0.time = "1-00:00:00" } == "")
        #expect(error { $0.curve = ("keys/server.pub", "/home/me/authorized") }.contains("absolute"))
        #expect(error { $0.extraSbatch = ["mem=8G"] }.contains("--extra-sbatch"))
        #expect(error { $0.allowPrograms = true }.contains("--allow-programs needs --server-key"))
        var programs = SlurmWorkerScript(connect: "tcp://login1:5555", sweepBinary: "/opt/sweep")
        programs.curve = ("/home/me/server.pub", "/home/me/authorized")
        programs.allowPrograms = true
        #expect(
            error {
                $0.curve = programs.curve; $0.allowPrograms = true
            } == "" && programs.text.contains("arguments+=(--allow-programs)"))
    }

    /// The task authorises its own key, runs the worker, passes SIGTERM on, and cleans up.
    @Test func aTaskAuthorisesItsKeyForwardsSigtermAndRemovesTheKeyAsItEnds() throws {
        let root = try folder()
        defer { try? FileManager.default.removeItem(at: root) }
        let authorized = root.appendingPathComponent("authorized"), temporary = root.appendingPathComponent("tmp")
        for url in [authorized, temporary] { try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true) }
        // A stand-in `sweep`: `keys generate` writes a pair; `worker` logs its arguments, then waits for
        // SIGTERM and exits 0 as the real one does after saying bye.
        let fake = root.appendingPathComponent("sweep")
        try writeExecutable(
            """
            #!/bin/bash
            log=\(root.path)/calls
            if [ "$1" = keys ]; then
                out=$4; name=$6
                echo public > "$out/$name.pub"; echo secret > "$out/$name.key"
                echo "keys $name" >> "$log"; exit 0
            fi
            echo "worker $*" >> "$log"
            trap 'echo "worker got TERM" >> "$log"; exit 0' TERM
            echo started > \(root.path)/started
            while :; do sleep 0.05; done

            """, to: fake)
        var script = SlurmWorkerScript(connect: "tcp://login1:5555", sweepBinary: fake.path)
        script.curve = ("/keys/coordinator.pub", authorized.path)
        script.cacheDirectory = root.appendingPathComponent("cache").path
        let file = root.appendingPathComponent("job.sh")
        try Data(script.text.utf8).write(to: file)

        let job = try CleanProcess.spawn(
            ["/bin/bash", file.path],
            environment: [
                "PATH=/usr/bin:/bin", "TMPDIR=\(temporary.path)", "SLURM_ARRAY_JOB_ID=77", "SLURM_ARRAY_TASK_ID=3", "SLURM_CPUS_PER_TASK=4",
            ])
        let deadline = Date().addingTimeInterval(10)
        while !FileManager.default.fileExists(atPath: root.appendingPathComponent("started").path) && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.02)
        }
        #expect(FileManager.default.fileExists(atPath: authorized.appendingPathComponent("slurm-77-3.pub").path))
        let privateFolders = try FileManager.default.contentsOfDirectory(atPath: temporary.path)
        #expect(privateFolders.count == 1 && privateFolders[0].hasPrefix("sweep-worker."))
        let mode =
            try FileManager.default.attributesOfItem(atPath: temporary.appendingPathComponent(privateFolders[0]).path)[.posixPermissions]
            as? Int
        #expect(mode == 0o700, "the secret key's folder is private")

        kill(job, SIGTERM)  // what Slurm does at the time limit
        let status = CleanProcess.wait(job)
        #expect(status == 0, "exit status \(status)")
        let calls = try String(contentsOf: root.appendingPathComponent("calls"), encoding: .utf8).split(separator: "\n")
        #expect(calls.first == "keys slurm-77-3")
        #expect(
            calls.contains {
                $0.hasPrefix(
                    "worker worker --connect tcp://login1:5555 --name slurm-77-3 --threads 4 --cache-dir \(root.path)/cache --server-key /keys/coordinator.pub --curve-secret \(temporary.path)/sweep-worker."
                )
            })
        #expect(calls.last == "worker got TERM")
        #expect(try FileManager.default.contentsOfDirectory(atPath: authorized.path).isEmpty, "the key is no longer authorised")
        #expect(try FileManager.default.contentsOfDirectory(atPath: temporary.path).isEmpty, "the private folder is gone")
    }

    /// Slots share the task's CPUs; with `--gpus-per-worker` each worker has one slot per GPU Slurm
    /// allocated, from CUDA_VISIBLE_DEVICES or else SLURM_GPUS_ON_NODE.
    @Test func slotsShareTheTasksCPUsAndGPUsComeFromTheAllocation() throws {
        let root = try folder()
        defer { try? FileManager.default.removeItem(at: root) }
        let fake = root.appendingPathComponent("sweep"), calls = root.appendingPathComponent("calls")
        try writeExecutable("#!/bin/bash\necho \"$*\" >> \(calls.path)\n", to: fake)
        func worker(_ configure: (inout SlurmWorkerScript) -> Void, _ environment: [String]) throws -> String {
            var script = SlurmWorkerScript(connect: "tcp://login1:5555", sweepBinary: fake.path)
            script.cacheDirectory = "/cache"
            configure(&script)
            try script.validate()
            let file = root.appendingPathComponent("job.sh")
            try Data(script.text.utf8).write(to: file)
            try? FileManager.default.removeItem(at: calls)
            let job = try CleanProcess.spawn(
                ["/bin/bash", file.path], environment: ["PATH=/usr/bin:/bin", "SLURM_CPUS_PER_TASK=8"] + environment)
            #expect(CleanProcess.wait(job) == 0)
            return try String(contentsOf: calls, encoding: .utf8).trimmingCharacters(in: .newlines)
        }
        let base = "worker --connect tcp://login1:5555 --name slurm-0-0"
        #expect(try worker({ $0.slotsPerWorker = 4 }, []) == base + " --threads 2 --cache-dir /cache --slots 4")
        let gpus: (inout SlurmWorkerScript) -> Void = { $0.gpusPerWorker = 2 }
        #expect(
            try worker(gpus, ["CUDA_VISIBLE_DEVICES=2,3", "SLURM_GPUS_ON_NODE=2"]) == base + " --threads 4 --cache-dir /cache --gpus 2,3")
        #expect(try worker(gpus, ["SLURM_GPUS_ON_NODE=3"]) == base + " --threads 2 --cache-dir /cache --gpus 0,1,2")
        var script = SlurmWorkerScript(connect: "tcp://login1:5555", sweepBinary: fake.path)
        script.gpusPerWorker = 2
        #expect(script.text.contains("#SBATCH --gres=gpu:2"))
        script.slotsPerWorker = 3
        #expect(throws: SlurmWorkerScript.ScriptError.self) { try script.validate() }
    }
}
