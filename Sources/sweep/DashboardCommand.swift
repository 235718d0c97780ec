import ArgumentParser
import Dashboard
import Foundation
import SweepCore

struct DashboardCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dashboard", abstract: "Serve a read-only web dashboard of a sweep store (beside a running coordinator, or after).",
        discussion:
            "Several --db options serve several stores: the first page compares their best configs, each store's pages follow under /store/N/."
    )

    @Option(name: .customLong("db"), help: "A sweep store (SQLite file); repeat to compare several.") var databases: [String] = []
    @Option(help: "HOST:PORT to listen on (loopback by default; port 0 picks a free one).") var bind = "127.0.0.1:8080"
    @Flag(help: "Require a random token, printed in the URL (needed for a non-loopback address unless --insecure).") var token = false
    @Flag(help: "Serve a non-loopback address without a token (a warning is printed).") var insecure = false

    func parsedBind() throws -> (host: String, port: UInt16) { try DashboardAddress.parse(bind) }

    func validate() throws {
        if databases.isEmpty { throw ValidationError("give a sweep store with --db FILE") }
        let (host, _) = try parsedBind()
        let settings = DashboardSettings(host: host, port: 0)
        do { _ = try settings.bindAddress() } catch { throw ValidationError("--bind \(bind): \(error)") }
        if !settings.isLoopback && !token && !insecure {
            throw ValidationError(
                "\(bind) is reachable from other machines: pass --token (a random token in the URL), or --insecure to serve it to anyone")
        }
    }

    func run() async throws {
        let (host, port) = try parsedBind()
        let settings = DashboardSettings(host: host, port: port, token: token ? DashboardSettings.randomToken() : nil)
        if insecure && !token && !settings.isLoopback { printError("warning: serving \(bind) to anyone who can reach it, without a token") }
        let server = try DashboardServer(storePaths: databases, settings: settings)
        async let serving: Void = server.run()
        let listening = try await server.waitUntilListening()
        printError("dashboard of \(databases.joined(separator: ", ")) at \(server.url(port: listening))")
        for reader in server.readers { try warnAboutUnreadableTrials(reader) }
        try await serving
    }
}

/// `HOST:PORT` (or a bare port, on loopback) for the dashboard.
enum DashboardAddress {
    static func parse(_ text: String) throws -> (host: String, port: UInt16) {
        if let port = UInt16(text) { return ("127.0.0.1", port) }
        guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]) else {
            throw ValidationError("\(text) is not HOST:PORT")
        }
        let host = String(text[..<colon])
        return (host.isEmpty ? "127.0.0.1" : host, port)
    }
}
