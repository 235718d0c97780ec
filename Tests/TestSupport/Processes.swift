import Foundation

/// Whether a live process's command line contains `marker` (arguments joined by spaces).
public func processAlive(withCommandLineContaining marker: String) -> Bool {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.contains { entry in
        guard pid_t(entry) != nil, let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { return false }
        return String(decoding: data.map { $0 == 0 ? 32 : $0 }, as: UTF8.self).contains(marker)
    }
}

/// Runs one SQL statement on a store with the sqlite3 command line tool: another process writing
/// the file, as a user (or a second writer) would.
public func runSQLite(_ path: String, _ sql: String) throws {
    let process = Process(), errors = Pipe()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
    process.arguments = [path, sql]
    process.standardError = errors
    try process.run()
    let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { throw SQLiteFailure(statement: sql, message: message) }
}

/// sqlite3 refused a statement.
public struct SQLiteFailure: Error, CustomStringConvertible {
    public var statement: String
    public var message: String
    public var description: String { "sqlite3 failed on \(statement): \(message)" }
}
