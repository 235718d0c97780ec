import ArgumentParser
import Foundation
import ML
import Protocol
import Vocabulary

/// The binary's version, shown by `sweep --version` and hashed into the build id.
let binaryVersion = "0.1.0"

/// The id workers and coordinator compare: same trainer code or no trials.
let buildID = BuildID.make(contractVersion: MLContract.version, binaryVersion: binaryVersion)

@main
struct Sweep: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Distributed hyperparameter sweeps for imbalanced multi-label recommenders.",
        version: "\(binaryVersion) (build \(buildID), \(MLContract.version))",
        subcommands: [
            Launch.self, WorkerCommand.self, Plan.self, Run.self, LeaderboardCommand.self, Show.self, ExportCommand.self, Status.self,
            Retry.self, Cancel.self, Enqueue.self, Train.self, Reproduce.self, Importance.self, DashboardCommand.self, DataCommand.self,
            Keys.self,
            Slurm.self, Bench.self,
        ]
    )
}

/// Writes a line to standard error (logs and progress never go to stdout when it carries JSON).
func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// An output file option (`--json-out`, `--output`): refused before any work
/// when it names a folder or a folder that does not exist, so a long run never ends in an error
/// about where to write.
func checkOutputPath(_ path: String?, option: String) throws {
    guard let path, path != "-" else { return }
    var isFolder: ObjCBool = false
    if FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), isFolder.boolValue {
        throw ValidationError("\(option) \(path) is a folder; give a file name")
    }
    let parent = URL(fileURLWithPath: path).deletingLastPathComponent().path
    guard FileManager.default.fileExists(atPath: parent, isDirectory: &isFolder), isFolder.boolValue else {
        throw ValidationError("\(option) \(path): the folder \(parent) does not exist")
    }
}

/// Writes an output file, naming it and the system's reason when that fails.
func writeOutput(_ data: Data, to path: String, option: String) throws {
    do {
        try data.write(to: URL(fileURLWithPath: path))
    } catch {
        let reason = ((error as NSError).userInfo[NSUnderlyingErrorKey] as? NSError)?.localizedDescription ?? error.localizedDescription
        throw ValidationError("\(option) \(path): cannot write it (\(reason))")
    }
}

/// Formats a metric value for tables.
func decimal(_ value: Double, digits: Int = 4) -> String {
    String(format: "%.\(digits)f", value)
}
