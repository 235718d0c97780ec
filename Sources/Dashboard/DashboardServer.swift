import Foundation
import FlyingFox
import ML
import SweepCore

/// Where the dashboard listens and who may read it.
public struct DashboardSettings: Sendable {
    /// An IPv4 address to bind (loopback by default).
    public var host: String
    /// 0 picks a free port.
    public var port: UInt16
    /// When set, every request must carry it (`?token=`, `Authorization: Bearer`, or the cookie
    /// the first authorised page sets); checked in constant time.
    public var token: String?

    public init(host: String = "127.0.0.1", port: UInt16 = 8080, token: String? = nil) {
        self.host = host
        self.port = port
        self.token = token
    }

    /// Whether the address is reachable only from this machine.
    public var isLoopback: Bool { host == "127.0.0.1" || host == "localhost" || host.hasPrefix("127.") }

    /// A random token of 32 hex digits (128 bits).
    public static func randomToken() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<4).map { _ in String(format: "%08x", UInt32.random(in: .min ... .max, using: &generator)) }.joined()
    }
}

/// The read-only web dashboard of one sweep store: pages for people, `/api/` for programs, both
/// from SweepCore's readers (the store is opened read-only and never written).
public final class DashboardServer: Sendable {
    public let store: SweepStore
    public let settings: DashboardSettings
    private let server: HTTPServer

    /// Opens the store read-only (a missing file, one that is no sweep store, or one from a newer
    /// build is refused here, with the reason).
    public init(storePath: String, settings: DashboardSettings) throws {
        store = try SweepStore.openReadOnly(path: storePath)
        self.settings = settings
        let host = settings.host == "localhost" ? "127.0.0.1" : settings.host
        server = HTTPServer(address: try .inet(ip4: host, port: settings.port), timeout: 30, logger: .disabled,
                            handler: Handler(store: store, token: settings.token))
    }

    /// Serves until the task is cancelled.
    public func run() async throws { try await server.run() }

    /// Waits until it listens; returns the port (the one picked, for port 0).
    public func waitUntilListening() async throws -> UInt16 {
        try await server.waitUntilListening()
        guard case .ip4(_, let port)? = await server.listeningAddress else { throw StoreError(message: "the dashboard is not listening") }
        return port
    }

    /// The address to open: with the token in it when one is needed.
    public func url(port: UInt16) -> String {
        "http://\(settings.host):\(port)/" + (settings.token.map { "?token=\($0)" } ?? "")
    }
}

/// Routes every request: the token first, then pages, fragments, `/api/` and the assets.
struct Handler: HTTPHandler {
    let store: SweepStore
    let token: String?

    func handleRequest(_ request: HTTPRequest) async throws -> HTTPResponse {
        func query(_ name: String) -> String? { request.query.first { $0.name == name }?.value }
        var headers: HTTPHeaders = [HTTPHeader("Cache-Control"): "no-store", HTTPHeader("X-Content-Type-Options"): "nosniff",
                                    HTTPHeader("Content-Security-Policy"): "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'"]
        if let token {
            let cookie = request.headers[HTTPHeader("Cookie")]?.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
                .first { $0.hasPrefix("sweep_token=") }.map { String($0.dropFirst("sweep_token=".count)) }
            let bearer = request.headers[HTTPHeader("Authorization")].flatMap { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : nil }
            let given = query("token") ?? bearer ?? cookie ?? ""
            guard Self.constantTimeEqual(given, token) else {
                return text(.unauthorized, "a token is needed: open the URL `sweep dashboard` printed (…/?token=…)", headers)
            }
            if query("token") != nil { headers.addValue("sweep_token=\(token); HttpOnly; SameSite=Strict; Path=/", for: HTTPHeader("Set-Cookie")) }
        }
        guard request.method == .GET || request.method == .HEAD else { return text(.methodNotAllowed, "the dashboard only reads", headers) }
        let path = request.path
        let pages = Pages(store: store)
        let fragment = query("fragment") == "1"
        do {
            switch path {
            case "/static/dashboard.css": return asset(Assets.css, "text/css; charset=utf-8", headers)
            case "/static/dashboard.js": return asset(Assets.js, "text/javascript; charset=utf-8", headers)
            case "/", "/index.html":
                let page = try pages.overview()
                return html(fragment ? page.body : Pages.layout(title: page.title, path: "/", body: page.body), headers)
            case "/leaderboard":
                let page = try pages.leaderboard(byConfig: query("by_config") == "1", all: query("all") == "1")
                return html(fragment ? page.body : Pages.layout(title: page.title, path: "/leaderboard", body: page.body), headers)
            case "/compare":
                let page = try pages.compare(request.query.filter { $0.name == "trials" }.flatMap { $0.value.split(separator: ",").map(String.init) })
                return html(fragment ? page.body : Pages.layout(title: page.title, path: "/compare", body: page.body), headers)
            case "/parameters":
                let page = try pages.parameters()
                return html(fragment ? page.body : Pages.layout(title: page.title, path: "/parameters", body: page.body), headers)
            case "/api/status": return json(try Documents.status(store), headers)
            case "/api/leaderboard", "/api/trials":
                guard let sweep = try store.sweep() else { return text(.notFound, "no sweep in this store yet", headers) }
                let report = LeaderboardReport(trials: try store.trials(), metric: sweep.metric, popularity: sweep.popularity,
                                               top: query("top").flatMap(Int.init), all: path == "/api/trials" || query("all") == "1",
                                               epochs: try store.epochTotals())
                return json(try report.json(byConfig: path == "/api/leaderboard" && query("by_config") == "1"), headers)
            case "/api/importance":
                guard let sweep = try store.sweep() else { return text(.notFound, "no sweep in this store yet", headers) }
                let quantile = query("quantile").flatMap(Double.init) ?? 0.1
                guard quantile > 0 && quantile < 1 else { return text(.badRequest, "quantile must be in (0, 1)", headers) }
                let spec = try SweepSpec.parseStored(sweep.specText), trials = try store.trials()
                let ranked = ParameterImportance.of(spec: spec, trials: trials, targetQuantile: quantile)
                return json(try Documents.text(ParameterImportance.document(ranked, spec: spec, trials: trials, targetQuantile: quantile)), headers)
            default:
                if let reference = Self.suffix(path, after: "/api/trial/") {
                    guard let sweep = try store.sweep(), let snapshot = try? store.findTrial(reference) else { return text(.notFound, "no trial \(reference)", headers) }
                    return json(try Documents.text(try Documents.trial(snapshot, store: store, sweep: sweep)), headers)
                }
                if let reference = Self.suffix(path, after: "/api/export/") {
                    guard let sweep = try store.sweep(), let snapshot = try? store.findTrial(reference) else { return text(.notFound, "no trial \(reference)", headers) }
                    guard snapshot.result != nil else { return text(.conflict, "trial \(reference) has no result to export", headers) }
                    var fileHeaders = headers
                    fileHeaders[HTTPHeader("Content-Disposition")] = "attachment; filename=\"trial-\(snapshot.id.prefix(8)).yaml\""
                    return asset(Export.trialFile(for: snapshot, sweep: sweep).yamlText(), "application/yaml; charset=utf-8", fileHeaders)
                }
                if let reference = Self.suffix(path, after: "/trial/") {
                    guard let page = try pages.trial(reference) else { return text(.notFound, "no trial \(reference)", headers) }
                    return html(fragment ? page.body : Pages.layout(title: page.title, path: path, body: page.body), headers)
                }
                return text(.notFound, "no page \(path)", headers)
            }
        } catch {
            return text(.internalServerError, "\(error)", headers)
        }
    }

    static func suffix(_ path: String, after prefix: String) -> String? {
        guard path.hasPrefix(prefix), path.count > prefix.count else { return nil }
        let rest = String(path.dropFirst(prefix.count))
        return rest.removingPercentEncoding ?? rest
    }

    /// Equal strings, compared in time that does not depend on where they differ.
    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let (x, y) = (Array(a.utf8), Array(b.utf8))
        var difference = UInt8(x.count == y.count ? 0 : 1)
        for index in 0..<max(x.count, y.count) { difference |= (index < x.count ? x[index] : 0) ^ (index < y.count ? y[index] : 0) }
        return difference == 0
    }

    func html(_ body: String, _ headers: HTTPHeaders) -> HTTPResponse { asset(body, "text/html; charset=utf-8", headers) }
    func json(_ body: String, _ headers: HTTPHeaders) -> HTTPResponse { asset(body, "application/json", headers) }
    func text(_ status: HTTPStatusCode, _ body: String, _ headers: HTTPHeaders) -> HTTPResponse {
        var headers = headers
        headers[HTTPHeader("Content-Type")] = "text/plain; charset=utf-8"
        return HTTPResponse(statusCode: status, headers: headers, body: Data((body + "\n").utf8))
    }

    func asset(_ body: String, _ type: String, _ headers: HTTPHeaders) -> HTTPResponse {
        var headers = headers
        headers[HTTPHeader("Content-Type")] = type
        return HTTPResponse(statusCode: .ok, headers: headers, body: Data(body.utf8))
    }
}
