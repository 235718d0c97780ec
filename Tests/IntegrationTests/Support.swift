import Foundation

/// The folder holding the built products (`sweep`, `sweep-test-peer`): the test runner sits there too.
let productsDirectory: URL = {
    if let override = ProcessInfo.processInfo.environment["SWEEP_PRODUCTS_DIR"] {
        return URL(fileURLWithPath: override)
    }
    var url = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    // On Linux the runner is `<products>/<package>PackageTests.xctest`.
    while url.path != "/" && !FileManager.default.fileExists(atPath: url.appendingPathComponent("sweep").path) {
        url.deleteLastPathComponent()
    }
    return url
}()

/// A started child process whose output is collected in memory.
final class Child: @unchecked Sendable {
    let process = Process()
    private let output = Pipe()
    private let errors = Pipe()

    /// Starts `<products>/<executable> arguments…`.
    init(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws {
        process.executableURL = productsDirectory.appendingPathComponent(executable)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { $1 }
        process.environment = env
        process.standardOutput = output
        process.standardError = errors
        try process.run()
    }

    /// Waits for exit; returns (status, stdout, stderr).
    func finish() -> (status: Int32, stdout: String, stderr: String) {
        let out = output.fileHandleForReading.readDataToEndOfFile()
        let err = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
    }

    func kill(_ signal: Int32) { Foundation.kill(process.processIdentifier, signal) }

    deinit {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
    }
}

/// Runs `<products>/sweep arguments…` to completion.
@discardableResult
func runSweep(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, stdout: String, stderr: String) {
    try Child("sweep", arguments, environment: environment).finish()
}
