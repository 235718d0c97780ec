import Foundation
import SweepCore
import TestSupport

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

/// A started child process whose output is collected in memory as it arrives.
final class Child: @unchecked Sendable {
    let process = Process()
    private let lock = NSLock()
    private var out = Data(), err = Data()
    private let output = Pipe(), errors = Pipe()

    /// Starts `<products>/<executable> arguments…` (or `executable` itself when it is an absolute
    /// path), inside network namespace `namespace` if given.
    init(_ executable: String, _ arguments: [String], environment: [String: String] = [:], namespace: String? = nil) throws {
        let path = executable.hasPrefix("/") ? URL(fileURLWithPath: executable) : productsDirectory.appendingPathComponent(executable)
        if let namespace {
            process.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
            process.arguments = ["netns", "exec", namespace, path.path] + arguments
        } else {
            process.executableURL = path
            process.arguments = arguments
        }
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { $1 }
        process.environment = env
        process.standardOutput = output
        process.standardError = errors
        output.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            self?.lock.withLock { self?.out.append(data) }
        }
        errors.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            self?.lock.withLock { self?.err.append(data) }
        }
        try process.run()
    }

    var stdout: String { lock.withLock { String(decoding: out, as: UTF8.self) } }
    var stderr: String { lock.withLock { String(decoding: err, as: UTF8.self) } }

    /// Waits until stderr contains `text` (true) or the timeout passes (false).
    func waitForError(_ text: String, timeout: TimeInterval) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if stderr.contains(text) { return true }
            Thread.sleep(forTimeInterval: 0.02)
        }
        return false
    }

    /// Waits for exit (killing the process after `timeout`); returns (status, stdout, stderr).
    @discardableResult
    func finish(timeout: TimeInterval = 600) -> (status: Int32, stdout: String, stderr: String) {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        // Take what the handlers have not read yet.
        output.fileHandleForReading.readabilityHandler = nil
        errors.fileHandleForReading.readabilityHandler = nil
        let restOut = output.fileHandleForReading.readDataToEndOfFile(), restErr = errors.fileHandleForReading.readDataToEndOfFile()
        lock.withLock {
            out.append(restOut)
            err.append(restErr)
        }
        return (process.terminationStatus, stdout, stderr)
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

/// Runs a program (an absolute path) to completion with `environment` over this process's;
/// returns its standard output, or throws with its standard error when it exits non-zero.
@discardableResult
func runProgram(_ program: String, _ arguments: [String], environment: [String: String] = [:]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: program)
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let output = Pipe(), errors = Pipe()
    process.standardOutput = output
    process.standardError = errors
    try process.run()
    let out = output.fileHandleForReading.readDataToEndOfFile(), err = errors.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw StoreError(
            message:
                "\(program) \(arguments.joined(separator: " ")) exited \(process.terminationStatus): \(String(decoding: err, as: UTF8.self))"
        )
    }
    return String(decoding: out, as: UTF8.self)
}

/// A fresh temporary folder for one test, with helpers to name and write files in it.
struct Workspace {
    let folder = TestFolders.fresh("workspace")

    func path(_ name: String) -> String { folder.appendingPathComponent(name).path }

    func write(_ name: String, _ text: String) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try Data(text.utf8).write(to: folder.appendingPathComponent(name))
    }
}
