import ArgumentParser
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
        subcommands: []
    )
}
