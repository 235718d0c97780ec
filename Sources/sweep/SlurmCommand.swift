import ArgumentParser
import Foundation
import Worker

struct Slurm: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Add workers to a sweep with Slurm (docs/CLUSTERS.md).",
        subcommands: [WorkerScript.self])

    struct WorkerScript: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "worker-script",
            abstract: "Write an sbatch job-array script that runs one `sweep worker` per array task.",
            discussion: """
                Submit it with `sbatch`, again to add more workers while the sweep runs; `scancel` removes them \
                (each says bye, its trial goes back at once). With --server-key, each task generates its own \
                CURVE key and authorises it by writing its public key into --authorized-workers (the folder the \
                coordinator was launched with, on a file system the nodes share) until the task ends.
                """)

        @Option(help: "The coordinator's endpoint as the compute nodes reach it, e.g. tcp://login1:5555.") var connect: String
        @Option(help: "The coordinator's CURVE public key file (.pub): encrypt and authenticate.") var serverKey: String?
        @Option(help: "With --server-key: the coordinator's --authorized-workers folder, writable by this user from the nodes.")
        var authorizedWorkers: String?
        @Option(help: "Workers to add: one array task each.") var workers = 1
        @Option(help: "CPUs per worker, shared by its slots: BLAS threads per trial = CPUs / slots.") var cpusPerWorker = 1
        @Option(help: "Trials each worker runs at once.") var slotsPerWorker = 1
        @Option(help: "GPUs per worker (--gres=gpu:N): one slot per GPU; each trial sees only its own.") var gpusPerWorker: Int?
        @Option(help: "Slurm time limit per task (HH:MM:SS or D-HH:MM:SS); at the limit the worker says bye.") var time: String?
        @Option(help: "Slurm partition.") var partition: String?
        @Option(help: "Slurm account.") var account: String?
        @Option(parsing: .unconditionalSingleValue, help: "A further #SBATCH option, e.g. --extra-sbatch --mem=8G (repeatable).")
        var extraSbatch: [String] = []
        @Option(help: "Each task's log file (Slurm patterns: %A job, %a task).") var output = "sweep-worker-%A_%a.log"
        @Option(help: "The node-local dataset cache (default /tmp/sweep-datasets-$USER).") var cacheDir: String?
        @Option(help: "The sweep binary the nodes run (default: this one).") var sweepBinary: String?
        @Flag(help: "The workers run program trials (needs --server-key).") var allowPrograms = false
        @Option(name: .shortAndLong, help: "Write the script here (mode 0700) instead of standard output.") var out: String?

        func validate() throws {
            if (serverKey == nil) != (authorizedWorkers == nil) {
                throw ValidationError("--server-key and --authorized-workers go together")
            }
            if let serverKey, !FileManager.default.isReadableFile(atPath: serverKey) {
                throw ValidationError("--server-key \(serverKey): no such readable file")
            }
            var isFolder: ObjCBool = false
            if let authorizedWorkers,
                !(FileManager.default.fileExists(atPath: authorizedWorkers, isDirectory: &isFolder) && isFolder.boolValue)
            {
                throw ValidationError("--authorized-workers \(authorizedWorkers): no such folder")
            }
        }

        func run() throws {
            func absolute(_ path: String) -> String { URL(fileURLWithPath: path).standardizedFileURL.path }
            var script = SlurmWorkerScript(connect: connect, sweepBinary: absolute(sweepBinary ?? executablePath()))
            if let serverKey, let authorizedWorkers { script.curve = (absolute(serverKey), absolute(authorizedWorkers)) }
            script.workers = workers
            script.cpusPerWorker = cpusPerWorker
            script.slotsPerWorker = slotsPerWorker
            script.gpusPerWorker = gpusPerWorker
            script.time = time
            script.partition = partition
            script.account = account
            script.extraSbatch = extraSbatch
            script.output = output
            script.cacheDirectory = cacheDir
            script.allowPrograms = allowPrograms
            do { try script.validate() } catch { throw ValidationError("\(error)") }
            guard let out else { return print(script.text, terminator: "") }
            try? FileManager.default.removeItem(atPath: out)
            guard FileManager.default.createFile(atPath: out, contents: Data(script.text.utf8), attributes: [.posixPermissions: 0o700])
            else {
                throw ValidationError("cannot write \(out)")
            }
            printError("wrote \(out): `sbatch \(out)` adds \(workers) worker\(workers == 1 ? "" : "s")")
        }
    }
}
