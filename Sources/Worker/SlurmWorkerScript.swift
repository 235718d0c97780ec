import Foundation

/// An `sbatch` job-array script that adds workers to a running sweep: one `sweep worker` per array
/// task, training with the CPUs Slurm gave the task, shared by its slots, or one slot per GPU Slurm
/// allocated it (`sweep slurm worker-script`; docs/CLUSTERS.md).
///
/// Each task names itself `slurm-JOB-TASK`. With CURVE, it generates its own key pair in a private
/// temporary folder, authorises its public key by writing it into the coordinator's
/// `--authorized-workers` folder (on a shared home), and removes it again when it exits. Slurm's
/// SIGTERM (time limit, `scancel`, pre-emption) reaches the worker, which says `bye`: its trial goes
/// back to the sweep at once without counting an attempt.
public struct SlurmWorkerScript: Sendable {
    /// The coordinator's endpoint, e.g. `tcp://login1:5555`.
    public var connect: String
    /// The `sweep` binary every node runs (an absolute path on a file system the nodes share, or the
    /// same path on each).
    public var sweepBinary: String
    /// CURVE: the coordinator's public key file and the folder it reads authorised worker keys from.
    public var curve: (serverKey: String, authorizedWorkers: String)?
    /// Array tasks, one worker each.
    public var workers = 1
    public var cpusPerWorker = 1
    /// Trials each worker runs at once; its CPUs are shared among them.
    public var slotsPerWorker = 1
    /// GPUs each task asks Slurm for (`--gres=gpu:N`): one slot per GPU Slurm allocates.
    public var gpusPerWorker: Int?
    /// Slurm's `--time` (e.g. `04:00:00`); nil: the partition's default.
    public var time: String?
    public var partition: String?
    public var account: String?
    /// Further `#SBATCH` lines, as given (`--mem=8G`, `--constraint=avx2`, …).
    public var extraSbatch: [String] = []
    /// Where each task's log goes (Slurm's `%A` job and `%a` task patterns).
    public var output = "sweep-worker-%A_%a.log"
    /// The node-local dataset cache; nil: `/tmp/sweep-datasets-$USER` on each node.
    public var cacheDirectory: String?
    /// The workers run program trials (`--allow-programs`; needs CURVE).
    public var allowPrograms = false

    public init(connect: String, sweepBinary: String) {
        self.connect = connect
        self.sweepBinary = sweepBinary
    }

    /// Checks what Slurm would only reject at submission, or what would make every task fail.
    public func validate() throws {
        func fail(_ message: String) -> ScriptError { ScriptError(message: message) }
        guard connect.hasPrefix("tcp://") else { throw fail("--connect must be a tcp:// endpoint the compute nodes can reach") }
        if ["127.0.0.1", "localhost", "[::1]"].contains(where: { connect.hasPrefix("tcp://\($0):") }) {
            throw fail(
                "--connect \(connect) is a loopback address, which compute nodes cannot reach: give the coordinator's host name (on a one-node cluster too)"
            )
        }
        guard sweepBinary.hasPrefix("/") else { throw fail("--sweep-binary must be an absolute path the nodes can run") }
        guard workers >= 1 else { throw fail("--workers must be at least 1") }
        guard cpusPerWorker >= 1 else { throw fail("--cpus-per-worker must be at least 1") }
        guard slotsPerWorker >= 1 else { throw fail("--slots-per-worker must be at least 1") }
        if let gpusPerWorker {
            guard gpusPerWorker >= 1 else { throw fail("--gpus-per-worker must be at least 1") }
            if slotsPerWorker != 1 {
                throw fail("--slots-per-worker and --gpus-per-worker disagree: with GPUs, each worker has one slot per GPU Slurm allocates")
            }
        }
        if allowPrograms && curve == nil {
            throw fail("--allow-programs needs --server-key: workers run program code only from a coordinator CURVE authenticates")
        }
        if let time, time.range(of: #"^(\d+-)?\d+(:\d{2}){0,2}$"#, options: .regularExpression) == nil {
            throw fail("--time \(time) is not a Slurm time (MM, HH:MM:SS or D-HH:MM:SS)")
        }
        if let curve {
            guard curve.serverKey.hasPrefix("/"), curve.authorizedWorkers.hasPrefix("/") else {
                throw fail("--server-key and --authorized-workers must be absolute paths the nodes can read")
            }
        }
        for line in extraSbatch where line.contains("\n") || !line.hasPrefix("-") {
            throw fail("--extra-sbatch \(line.debugDescription) must be one sbatch option, e.g. --mem=8G")
        }
    }

    /// The script's text.
    public var text: String {
        var lines = [
            "#!/bin/bash",
            "# Written by `sweep slurm worker-script`: \(workers) sweep worker\(workers == 1 ? "" : "s") for \(connect).",
            "# `sbatch` this file to add them (again to add more while the sweep runs); `scancel JOBID` removes",
            "# them: each says bye and its trial goes back to the sweep at once.",
            "#SBATCH --job-name=sweep-worker",
            "#SBATCH --array=1-\(workers)",
            "#SBATCH --ntasks=1",
            "#SBATCH --cpus-per-task=\(cpusPerWorker)",
            "#SBATCH --output=\(output)",
        ]
        if let gpusPerWorker { lines.append("#SBATCH --gres=gpu:\(gpusPerWorker)") }
        if let time { lines.append("#SBATCH --time=\(time)") }
        if let partition { lines.append("#SBATCH --partition=\(partition)") }
        if let account { lines.append("#SBATCH --account=\(account)") }
        lines += extraSbatch.map { "#SBATCH \($0)" }
        lines += [
            "set -uo pipefail",
            "sweep=\(Self.quote(sweepBinary))",
            "name=\"slurm-${SLURM_ARRAY_JOB_ID:-${SLURM_JOB_ID:-0}}-${SLURM_ARRAY_TASK_ID:-0}\"",
            "# Node-local: datasets are fetched from the coordinator once per node, not read over NFS.",
            "cache=\(cacheDirectory.map(Self.quote) ?? "\"/tmp/sweep-datasets-$(id -un)\"")",
        ]
        if gpusPerWorker != nil {
            lines += [
                "# One slot per GPU Slurm allocated (CUDA_VISIBLE_DEVICES lists them; each trial sees only its own).",
                "gpus=\"${CUDA_VISIBLE_DEVICES:-}\"",
                "if [ -z \"$gpus\" ] && [ \"${SLURM_GPUS_ON_NODE:-0}\" -gt 0 ]; then gpus=$(seq -s, 0 $((SLURM_GPUS_ON_NODE - 1))); fi",
                "if [ -z \"$gpus\" ]; then echo \"no GPU allocated to this task (SLURM_GPUS_ON_NODE, CUDA_VISIBLE_DEVICES unset)\" >&2; exit 1; fi",
                "slots=$(( $(tr -cd , <<< \"$gpus\" | wc -c) + 1 ))",
            ]
        } else {
            lines.append("slots=\(slotsPerWorker)")
        }
        lines += [
            "# The task's CPUs, shared by its slots: BLAS threads per trial.",
            "threads=$(( ${SLURM_CPUS_PER_TASK:-1} / slots )); [ \"$threads\" -ge 1 ] || threads=1",
            "arguments=(worker --connect \(Self.quote(connect)) --name \"$name\" --threads \"$threads\" --cache-dir \"$cache\")",
            gpusPerWorker != nil ? "arguments+=(--gpus \"$gpus\")" : "[ \"$slots\" -eq 1 ] || arguments+=(--slots \"$slots\")",
        ]
        if let curve {
            lines += [
                "# This task's own CURVE key pair, in a folder only this user can read, gone when the task ends;",
                "# its public half is authorised in the coordinator's --authorized-workers folder until then.",
                "authorized=\(Self.quote(curve.authorizedWorkers))",
                "private=$(mktemp -d \"${TMPDIR:-/tmp}/sweep-worker.XXXXXX\") || exit 1",
                "trap 'rm -f \"$authorized/$name.pub\"; rm -rf \"$private\"' EXIT",
                "\"$sweep\" keys generate --out \"$private\" --name \"$name\" > /dev/null || exit 1",
                "# Copied under another extension, then renamed: the coordinator never reads half a key.",
                "cp \"$private/$name.pub\" \"$authorized/$name.pub.partial\" && mv \"$authorized/$name.pub.partial\" \"$authorized/$name.pub\" || exit 1",
                "arguments+=(--server-key \(Self.quote(curve.serverKey)) --curve-secret \"$private/$name.key\")",
            ]
        }
        if allowPrograms { lines.append("arguments+=(--allow-programs)") }
        lines += [
            "# Slurm signals SIGTERM at the time limit, on scancel and on pre-emption; the worker turns it",
            "# into `bye` and exits within one training step, well inside Slurm's KillWait.",
            "\"$sweep\" \"${arguments[@]}\" &",
            "worker=$!",
            "trap 'kill -TERM \"$worker\" 2> /dev/null' TERM INT",
            "while true; do",
            "    wait \"$worker\"; status=$?",
            "    kill -0 \"$worker\" 2> /dev/null || break",
            "done",
            "exit $status",
        ]
        return lines.joined(separator: "\n") + "\n"
    }

    /// A word for bash, single-quoted when it holds anything but safe characters.
    static func quote(_ word: String) -> String {
        let safe = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-:+=@,%")
        if !word.isEmpty && word.unicodeScalars.allSatisfy(safe.contains) { return word }
        return "'" + word.replacingOccurrences(of: "'", with: #"'\''"#) + "'"
    }

    /// A setting that cannot work, named by its option.
    public struct ScriptError: Error, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }
}
