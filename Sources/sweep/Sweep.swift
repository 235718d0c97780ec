import ArgumentParser
import Foundation
import ML
import Protocol

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
        subcommands: [Launch.self, WorkerCommand.self, Plan.self, Run.self, LeaderboardCommand.self, Show.self, ExportCommand.self, Status.self,
                      Retry.self, Cancel.self, Train.self, Reproduce.self, Importance.self, DashboardCommand.self, DataCommand.self, Keys.self, Slurm.self, Bench.self]
    )
}

/// Writes a line to standard error (logs and progress never go to stdout when it carries JSON).
func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// Formats a metric value for tables.
func decimal(_ value: Double, digits: Int = 4) -> String {
    String(format: "%.\(digits)f", value)
}
