import Foundation
import FlyingFox
import ML
import SweepCore
import Synchronization

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

/// The read-only web dashboard of one or more sweep stores: pages for people, `/api/` for
/// programs, both from SweepCore's readers (each store is opened read-only and never written).
/// With several stores, `/` compares their best configs and each store's pages and API sit under
/// `/store/N/` (N from 1, in the order given).
public final class DashboardServer: Sendable {
    public let stores: [SweepStore]
    public let settings: DashboardSettings
    private let server: HTTPServer
    private let renderer = RenderThread()

    /// Opens each store read-only (a missing file, one that is no sweep store, or one from a
    /// newer build is refused here, with the reason).
    public init(storePaths: [String], settings: DashboardSettings) throws {
        guard !storePaths.isEmpty else { throw StoreError(message: "the dashboard needs a sweep store") }
        stores = try storePaths.map { try SweepStore.openReadOnly(path: $0) }
        self.settings = settings
        let host = settings.host == "localhost" ? "127.0.0.1" : settings.host
        server = HTTPServer(address: try .inet(ip4: host, port: settings.port), timeout: 30, logger: .disabled,
                            handler: Handler(sites: stores.map(Site.init), token: settings.token, renderer: renderer))
    }

    deinit { renderer.stop() }

    /// The dashboard of one store.
    public convenience init(storePath: String, settings: DashboardSettings) throws {
        try self.init(storePaths: [storePath], settings: settings)
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

/// What a route answers, before the headers every response carries.
struct Reply: Sendable {
    var status: HTTPStatusCode = .ok
    var contentType: String
    var body: Data
    /// A download's file name.
    var attachment: String?

    static func html(_ text: String) -> Reply { Reply(contentType: "text/html; charset=utf-8", body: Data(text.utf8)) }
    static func json(_ text: String) -> Reply { Reply(contentType: "application/json", body: Data(text.utf8)) }
    static func text(_ status: HTTPStatusCode, _ text: String) -> Reply {
        Reply(status: status, contentType: "text/plain; charset=utf-8", body: Data((text + "\n").utf8))
    }
}

/// Replies by address, each with the store revision it was read at: served again while no
/// writer has committed since (a finished sweep's pages cost nothing after the first read), for
/// 10 s at most, as the overview's throughput moves with the clock.
final class ReplyCache: Sendable {
    private struct Entry {
        var revision: Int
        var made: ContinuousClock.Instant
        var reply: Reply
    }

    private let entries = Mutex<[String: Entry]>([:])
    static let lifetime = Duration.seconds(10)
    static let capacity = 64

    func reply(for address: String, at revision: Int) -> Reply? {
        entries.withLock { entries in
            guard let entry = entries[address], entry.revision == revision, entry.made.duration(to: .now) < Self.lifetime else { return nil }
            return entry.reply
        }
    }

    func keep(_ reply: Reply, for address: String, at revision: Int) {
        entries.withLock { entries in
            if entries.count >= Self.capacity { entries.removeAll() }
            entries[address] = Entry(revision: revision, made: .now, reply: reply)
        }
    }
}

/// One store the dashboard serves, with what it keeps between requests.
struct Site: Sendable {
    let store: SweepStore
    /// The leaderboard document's rows.
    let rows = LeaderboardRowCache()
    let cache = ReplyCache()
}

/// Routes every request: the token first, then the store it names, then pages, fragments,
/// `/api/` and the assets.
struct Handler: HTTPHandler {
    let sites: [Site]
    let token: String?
    let renderer: RenderThread

    func handleRequest(_ request: HTTPRequest) async throws -> HTTPResponse {
        var headers: HTTPHeaders = [HTTPHeader("Cache-Control"): "no-store", HTTPHeader("X-Content-Type-Options"): "nosniff",
                                    HTTPHeader("Content-Security-Policy"): "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'"]
        let tokenInQuery = request.query.first { $0.name == "token" }?.value
        if let token {
            let cookie = request.headers[HTTPHeader("Cookie")]?.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
                .first { $0.hasPrefix("sweep_token=") }.map { String($0.dropFirst("sweep_token=".count)) }
            let bearer = request.headers[HTTPHeader("Authorization")].flatMap { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : nil }
            let given = tokenInQuery ?? bearer ?? cookie ?? ""
            guard Self.constantTimeEqual(given, token) else {
                return response(.text(.unauthorized, "a token is needed: open the URL `sweep dashboard` printed (…/?token=…)"), headers)
            }
            if tokenInQuery != nil { headers.addValue("sweep_token=\(token); HttpOnly; SameSite=Strict; Path=/", for: HTTPHeader("Set-Cookie")) }
        }
        guard request.method == .GET || request.method == .HEAD else { return response(.text(.methodNotAllowed, "the dashboard only reads"), headers) }
        switch request.path {
        case "/static/dashboard.css": return response(Reply(contentType: "text/css; charset=utf-8", body: Data(Assets.css.utf8)), headers)
        case "/static/dashboard.js": return response(Reply(contentType: "text/javascript; charset=utf-8", body: Data(Assets.js.utf8)), headers)
        case "/static/icon.svg", "/favicon.ico": return response(Reply(contentType: "image/svg+xml", body: Data(Assets.icon.utf8)), headers)
        default: break
        }
        // One store: its pages at the root. Several: `/` compares them, `/store/N/…` is store N's.
        let site: Site, base: String, path: String
        if sites.count == 1 {
            (site, base, path) = (sites[0], "", request.path)
        } else if request.path == "/" || request.path == "/index.html" {
            do {
                let fragment = request.query.contains { $0.name == "fragment" && $0.value == "1" }
                let stores = sites.map(\.store)
                let made = try await renderer.run { try Pages.stores(stores) }
                return response(.html(fragment ? made.body : Pages.layout(title: made.title, path: "/", body: made.body, severalStores: true)), headers)
            } catch {
                return response(.text(.internalServerError, "\(error)"), headers)
            }
        } else if let rest = Self.suffix(request.path, after: "/store/"), let number = Int(rest.prefix { $0 != "/" }), sites.indices.contains(number - 1) {
            let inner = String(rest.drop { $0 != "/" })
            (site, base, path) = (sites[number - 1], "/store/\(number)", inner.isEmpty ? "/" : inner)
        } else {
            return response(.text(.notFound, "no page \(request.path): this dashboard serves \(sites.count) stores, at /store/1/ to /store/\(sites.count)/"), headers)
        }
        let address = request.path + "?" + request.query.filter { $0.name != "token" }.map { "\($0.name)=\($0.value)" }.joined(separator: "&")
        let reply = try await renderer.run { [self] in
            let revision = try? site.store.revision()
            if let revision, let cached = site.cache.reply(for: address, at: revision) { return cached }
            let reply: Reply
            do {
                reply = try route(request, path: path, site: site, base: base)
            } catch {
                reply = .text(.internalServerError, "\(error)")
            }
            if let revision, reply.status == .ok { site.cache.keep(reply, for: address, at: revision) }
            return reply
        }
        return response(reply, headers)
    }

    /// A store's page or document; `path` is the address within the store, `base` its prefix.
    func route(_ request: HTTPRequest, path: String, site: Site, base: String) throws -> Reply {
        func query(_ name: String) -> String? { request.query.first { $0.name == name }?.value }
        let store = site.store
        let pages = Pages(store: store, base: base)
        let fragment = query("fragment") == "1"
        func page(_ made: (title: String, body: String), _ path: String) -> Reply {
            .html(fragment ? made.body : Pages.layout(title: made.title, path: base + path, body: made.body, base: base, severalStores: sites.count > 1))
        }
        switch path {
        case "/", "/index.html": return page(try pages.overview(), "/")
        case "/leaderboard":
            let rows = query("rows")
            return page(try pages.leaderboard(Pages.LeaderboardQuery(
                byConfig: query("by_config") == "1", all: query("all") == "1",
                // A form sends spaces as "+" (which the query parser leaves as it is).
                filter: (query("q") ?? "").replacingOccurrences(of: "+", with: " "),
                sort: query("sort").flatMap { $0.isEmpty ? nil : $0 }, descending: query("desc") == "1",
                limit: rows == "all" ? nil : rows.flatMap(Int.init).map { max(1, $0) } ?? Pages.LeaderboardQuery.defaultRows)), "/leaderboard")
        case "/compare":
            return page(try pages.compare(request.query.filter { $0.name == "trials" }.flatMap { $0.value.split(separator: ",").map(String.init) }), "/compare")
        case "/parameters": return page(try pages.parameters(), "/parameters")
        case "/api/status": return .json(try Documents.status(store))
        case "/api/leaderboard", "/api/trials":
            guard let sweep = try store.sweep() else { return .text(.notFound, "no sweep in this store yet") }
            let report = try LeaderboardReport(sweep, store: store, top: query("top").flatMap(Int.init),
                                               all: path == "/api/trials" || query("all") == "1")
            return Reply(contentType: "application/json",
                         body: Data(report.jsonBytes(byConfig: path == "/api/leaderboard" && query("by_config") == "1", cache: site.rows)))
        case "/api/importance":
            guard let sweep = try store.sweep() else { return .text(.notFound, "no sweep in this store yet") }
            let quantile = query("quantile").flatMap(Double.init) ?? 0.1
            guard quantile > 0 && quantile < 1 else { return .text(.badRequest, "quantile must be in (0, 1)") }
            let spec = try store.spec(of: sweep), trials = try store.trials()
            let ranked = ParameterImportance.of(spec: spec, trials: trials, targetQuantile: quantile)
            return .json(try Documents.text(ParameterImportance.document(ranked, spec: spec, trials: trials, targetQuantile: quantile)))
        default:
            if let reference = Self.suffix(path, after: "/api/trial/") {
                guard let sweep = try store.sweep(), let snapshot = try? store.findTrial(reference) else { return .text(.notFound, "no trial \(reference)") }
                return .json(try Documents.text(try Documents.trial(snapshot, store: store, sweep: sweep)))
            }
            if let reference = Self.suffix(path, after: "/api/export/") {
                guard let sweep = try store.sweep(), let snapshot = try? store.findTrial(reference) else { return .text(.notFound, "no trial \(reference)") }
                guard snapshot.result != nil else { return .text(.conflict, "trial \(reference) has no result to export") }
                var reply = Reply(contentType: "application/yaml; charset=utf-8", body: Data(Export.trialFile(for: snapshot, sweep: sweep).yamlText().utf8))
                reply.attachment = "trial-\(snapshot.id.prefix(8)).yaml"
                return reply
            }
            if let reference = Self.suffix(path, after: "/trial/") {
                guard let made = try pages.trial(reference) else { return .text(.notFound, "no trial \(reference)") }
                return page(made, path)
            }
            return .text(.notFound, "no page \(path)")
        }
    }

    func response(_ reply: Reply, _ headers: HTTPHeaders) -> HTTPResponse {
        var headers = headers
        headers[HTTPHeader("Content-Type")] = reply.contentType
        if let attachment = reply.attachment { headers[HTTPHeader("Content-Disposition")] = "attachment; filename=\"\(attachment)\"" }
        return HTTPResponse(statusCode: reply.status, headers: headers, body: reply.body)
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
}
