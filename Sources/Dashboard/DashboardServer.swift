import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import SweepCore
import Synchronization
import Vocabulary

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

    /// The address to bind: `localhost` as 127.0.0.1; anything but a dotted IPv4 address is
    /// refused with the reason (a shortened `127.1`, a name, an IPv6 address).
    public func bindAddress() throws -> String {
        if host == "localhost" { return "127.0.0.1" }
        var address = in_addr()
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, inet_pton(AF_INET, host, &address) == 1 else {
            throw StoreError(message: "\(host) is not an IPv4 address such as 127.0.0.1 or 0.0.0.0 (the dashboard binds IPv4 only)")
        }
        return host
    }

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
///
/// HTTP is SwiftNIO's parser under Hummingbird, linear in the request's size. A request line over
/// ``RequestLimits/requestLine`` bytes is answered 414 and a header block over
/// ``RequestLimits/headers`` 431, before the token or the route is looked at; past
/// ``RequestLimits/parserCap`` the parser itself refuses it (400) and closes the connection.
public final class DashboardServer: Sendable {
    /// Each store's reader, in the order given.
    public let readers: [CachedReader]
    public let settings: DashboardSettings
    private let renderer = RenderThread()
    private let handler: Handler
    private let host: String
    private let listening = Listening()

    /// Opens each store read-only (a missing file, one that is no sweep store, or one from a
    /// newer build is refused here, with the reason), and checks the address.
    /// - Parameter known: trials whose configs the caller holds (a coordinator's plan): the
    ///   dashboard's reader of the first store takes them instead of parsing their stored text.
    public init(storePaths: [String], settings: DashboardSettings, known: [PlannedTrial] = []) throws {
        guard !storePaths.isEmpty else { throw StoreError(message: "the dashboard needs a sweep store") }
        host = try settings.bindAddress()
        let stores = try storePaths.map { try SweepStore.openReadOnly(path: $0) }
        readers = stores.indices.map { CachedReader(store: stores[$0], known: $0 == 0 ? known : []) }
        self.settings = settings
        handler = Handler(sites: readers.map { Site(reader: $0) }, token: settings.token, renderer: renderer)
    }

    deinit { renderer.stop() }

    /// The dashboard of one store.
    public convenience init(storePath: String, settings: DashboardSettings, known: [PlannedTrial] = []) throws {
        try self.init(storePaths: [storePath], settings: settings, known: known)
    }

    /// Serves until the task is cancelled.
    public func run() async throws {
        let handler = handler, listening = listening
        let responder = CallbackResponder<BasicRequestContext> { request, _ in
            let reply = await handler.respond(to: DashboardRequest(request))
            return reply.response(headOnly: request.method == .head)
        }
        let decoder = HTTP1Channel.Configuration.DecoderConfiguration(
            maxHeaderFieldSize: RequestLimits.parserCap, maxHeaderListSize: RequestLimits.parserCap,
            maxHeaderFieldCount: RequestLimits.parserFieldCap)
        let application = Application(
            responder: responder,
            server: .http1(configuration: .init(idleTimeout: .seconds(30), httpDecoderConfiguration: decoder)),
            configuration: .init(address: .hostname(host, port: Int(settings.port)), serverName: nil),
            onServerRunning: { channel in listening.opened(port: channel.localAddress?.port) },
            logger: Logger(label: "sweep.dashboard", factory: { _ in SwiftLogNoOpLogHandler() }))
        do {
            try await application.run()
            listening.failed(StoreError(message: "the dashboard stopped"))
        } catch {
            let named = StoreError(message: "the dashboard cannot listen on \(host):\(settings.port): \(error)")
            listening.failed(named)
            throw named
        }
    }

    /// Waits until it listens; returns the port (the one picked, for port 0), or throws why it
    /// could not listen.
    public func waitUntilListening() async throws -> UInt16 { try await listening.port() }

    /// The address to open: with the token in it when one is needed.
    public func url(port: UInt16) -> String {
        "http://\(settings.host):\(port)/" + (settings.token.map { "?token=\($0)" } ?? "")
    }
}

/// The port the server listens on once it does, for those who wait for it.
final class Listening: Sendable {
    private let state = Mutex<(result: Result<UInt16, any Error>?, waiting: [CheckedContinuation<UInt16, any Error>])>((nil, []))

    func opened(port: Int?) {
        finish(
            port.flatMap(UInt16.init(exactly:)).map { .success($0) } ?? .failure(StoreError(message: "the dashboard's socket has no port")))
    }

    func failed(_ error: any Error) { finish(.failure(error)) }

    private func finish(_ result: Result<UInt16, any Error>) {
        let waiting = state.withLock { state -> [CheckedContinuation<UInt16, any Error>] in
            guard state.result == nil else { return [] }
            state.result = result
            defer { state.waiting = [] }
            return state.waiting
        }
        for continuation in waiting { continuation.resume(with: result) }
    }

    func port() async throws -> UInt16 {
        try await withCheckedThrowingContinuation { continuation in
            let known = state.withLock { state -> Result<UInt16, any Error>? in
                if state.result == nil { state.waiting.append(continuation) }
                return state.result
            }
            if let known { continuation.resume(with: known) }
        }
    }
}

/// How large a request may be. Common servers refuse a request line or header block of a few
/// KiB (nginx: 8 KiB per line); nothing the dashboard serves needs more.
public enum RequestLimits {
    /// The request line's target (path and query), in bytes: longer is 414 URI Too Long.
    public static let requestLine = 8 << 10
    /// Header names and values together, in bytes: more is 431 Request Header Fields Too Large.
    public static let headers = 8 << 10
    /// Header fields at most (431 past it).
    public static let headerFields = 64
    /// Where the HTTP parser itself stops reading a request (400, connection closed): bytes of
    /// the request line and headers, and header fields.
    public static let parserCap = 32 << 10
    public static let parserFieldCap = 256
}

/// A request as the routes see it: the method, the decoded path and query, and its headers.
struct DashboardRequest: Sendable {
    var method: String
    /// The target as sent (path and query), for the size limit.
    var target: String
    var path: String
    /// The query's items in order, `+` and percent escapes decoded; nil when it cannot be decoded.
    var query: [(name: String, value: String)]?
    var headers: [(name: String, value: String)]

    init(method: String, target: String, headers: [(name: String, value: String)]) {
        self.method = method
        self.target = target
        self.headers = headers
        let question = target.firstIndex(of: "?")
        let rawPath = String(target[..<(question ?? target.endIndex)])
        path = rawPath.removingPercentEncoding ?? rawPath
        query = question.map { Self.decodeQuery(target[target.index(after: $0)...]) } ?? []
    }

    init(_ request: Request) {
        self.init(
            method: request.method.rawValue, target: request.uri.string,
            headers: request.headers.map { ($0.name.canonicalName, $0.value) })
    }

    func header(_ name: String) -> String? { headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value }

    /// `a=1&b=x+y`: each name and value with `+` as a space and percent escapes undone.
    static func decodeQuery(_ text: Substring) -> [(name: String, value: String)]? {
        var items: [(name: String, value: String)] = []
        for piece in text.split(separator: "&") {
            let parts = piece.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ part: Substring) -> String? { part.replacingOccurrences(of: "+", with: " ").removingPercentEncoding }
            guard let name = decode(parts[0]), let value = decode(parts.count > 1 ? parts[1] : "") else { return nil }
            items.append((name, value))
        }
        return items
    }
}

/// What a route answers, before the headers every response carries.
struct Reply: Sendable {
    var status: HTTPResponse.Status = .ok
    var contentType: String
    var body: Data
    /// A download's file name.
    var attachment: String?
    /// Headers besides those every reply carries (the token's cookie).
    var extraHeaders: [(HTTPField.Name, String)] = []

    static func html(_ text: String) -> Reply { Reply(contentType: "text/html; charset=utf-8", body: Data(text.utf8)) }
    static func json(_ text: String) -> Reply { Reply(contentType: "application/json", body: Data(text.utf8)) }
    static func text(_ status: HTTPResponse.Status, _ text: String) -> Reply {
        Reply(status: status, contentType: "text/plain; charset=utf-8", body: Data((text + "\n").utf8))
    }

    static let uriTooLong = HTTPResponse.Status(code: 414, reasonPhrase: "URI Too Long")
    static let headersTooLarge = HTTPResponse.Status(code: 431, reasonPhrase: "Request Header Fields Too Large")

    /// The HTTP response, with the headers every reply carries.
    func response(headOnly: Bool) -> Response {
        var headers: HTTPFields = [
            .cacheControl: "no-store", .contentType: contentType,
            HTTPField.Name("X-Content-Type-Options")!: "nosniff",
            HTTPField.Name("Content-Security-Policy")!:
                "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'",
        ]
        if let attachment { headers[.contentDisposition] = "attachment; filename=\"\(attachment)\"" }
        for (name, value) in extraHeaders { headers.append(HTTPField(name: name, value: value)) }
        headers[.contentLength] = String(body.count)
        let buffer = headOnly ? ByteBuffer() : ByteBuffer(bytes: body)
        return Response(status: status, headers: headers, body: .init(byteBuffer: buffer))
    }
}

/// A query parameter a route cannot use, named in the 400 reply.
struct BadRequest: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// A route's query, checked: only the parameters the route takes, each at most once, each of the
/// kind it must be. Every route also takes `token` and `fragment`.
struct QueryParameters {
    private var values: [String: String] = [:]
    private var lists: [String: [String]] = [:]

    /// The parameters of `route`: `names` once each, `repeatable` any number of times.
    init(_ items: [(name: String, value: String)]?, route: String, names: [String], repeatable: [String] = []) throws {
        guard let items else { throw BadRequest(message: "the query of \(route) is not valid percent-encoding") }
        let allowed = names + ["token", "fragment"]
        for (name, value) in items {
            if repeatable.contains(name) {
                lists[name, default: []].append(value)
                continue
            }
            guard allowed.contains(name) else {
                let takes = (names + repeatable).isEmpty ? "takes no parameters" : "takes " + (names + repeatable).joined(separator: ", ")
                throw BadRequest(message: "unknown query parameter '\(name)': \(route) \(takes)")
            }
            guard values[name] == nil else { throw BadRequest(message: "query parameter '\(name)' is given twice") }
            values[name] = value
        }
        _ = try flag("fragment")
    }

    func string(_ name: String) -> String? { values[name] }
    func list(_ name: String) -> [String] { lists[name] ?? [] }

    /// `1` (true) or `0` (false); absent is false.
    func flag(_ name: String) throws -> Bool {
        switch values[name] {
        case nil, "0": return false
        case "1": return true
        case let other?: throw BadRequest(message: "query parameter '\(name)' must be 1 or 0, got '\(Self.shown(other))'")
        }
    }

    /// A whole number in `range`, or nil when absent (or when it is `word`, which the caller
    /// reads itself, such as `rows=all`).
    func integer(_ name: String, in range: ClosedRange<Int>, orWord word: String? = nil) throws -> Int? {
        guard let text = values[name], text != word else { return nil }
        guard let value = Int(text), range.contains(value) else {
            throw BadRequest(
                message:
                    "query parameter '\(name)' must be \(word.map { "\($0) or " } ?? "")a whole number from \(range.lowerBound) to \(range.upperBound), got '\(Self.shown(text))'"
            )
        }
        return value
    }

    /// A number strictly between the bounds, or nil when absent.
    func number(_ name: String, between low: Double, and high: Double) throws -> Double? {
        guard let text = values[name] else { return nil }
        guard let value = Double(text), value > low, value < high else {
            throw BadRequest(
                message: "query parameter '\(name)' must be a number between \(low) and \(high) (exclusive), got '\(Self.shown(text))'")
        }
        return value
    }

    /// The position of the objective the parameter `name` names (`valid_…` or bare), `fallback`
    /// when it is absent.
    func objective(_ name: String, in ranking: Ranking, fallback: Int = 0) throws -> Int {
        guard let text = values[name] else { return fallback }
        guard let index = ranking.objectiveIndex(named: text) else {
            throw BadRequest(
                message:
                    "query parameter '\(name)' names no objective of this sweep: '\(Self.shown(text))'; objectives are \(ranking.objectiveNames)"
            )
        }
        return index
    }

    /// A value as an error shows it: at most 40 characters.
    static func shown(_ text: String) -> String { text.count > 40 ? text.prefix(40) + "…" : text }
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
            guard let entry = entries[address], entry.revision == revision, entry.made.duration(to: .now) < Self.lifetime else {
                return nil
            }
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

/// One store the dashboard serves: its reader, and the replies it made from it.
struct Site: Sendable {
    let reader: CachedReader
    let cache = ReplyCache()
}

/// Routes every request: its size first, then the token, then the store it names, then pages,
/// fragments, `/api/` and the assets. A query parameter a route does not take, or of the wrong
/// kind, is a 400 naming it; nothing a request holds can end the process (a coordinator serving
/// its dashboard serves workers too).
struct Handler: Sendable {
    let sites: [Site]
    let token: String?
    let renderer: RenderThread
    /// The most rows or trials a request may ask for (more than any store holds).
    static let largestCount = 10_000_000

    func respond(to request: DashboardRequest) async -> Reply {
        if request.target.utf8.count > RequestLimits.requestLine {
            return .text(Reply.uriTooLong, "the request line is longer than \(RequestLimits.requestLine) bytes")
        }
        if request.headers.count > RequestLimits.headerFields
            || request.headers.reduce(0, { $0 + $1.name.utf8.count + $1.value.utf8.count }) > RequestLimits.headers
        {
            return .text(
                Reply.headersTooLarge, "the headers are larger than \(RequestLimits.headers) bytes or \(RequestLimits.headerFields) fields")
        }
        var cookie: (HTTPField.Name, String)?
        let tokenInQuery = request.query?.first { $0.name == "token" }?.value
        if let token {
            let cookieToken = request.header("Cookie")?.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
                .first { $0.hasPrefix("sweep_token=") }.map { String($0.dropFirst("sweep_token=".count)) }
            let bearer = request.header("Authorization").flatMap { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : nil }
            let given = tokenInQuery ?? bearer ?? cookieToken ?? ""
            guard Self.constantTimeEqual(given, token) else {
                return .text(.unauthorized, "a token is needed: open the URL `sweep dashboard` printed (…/?token=…)")
            }
            if tokenInQuery != nil { cookie = (.setCookie, "sweep_token=\(token); HttpOnly; SameSite=Strict; Path=/") }
        }
        var reply = await route(request)
        if let cookie { reply.extraHeaders.append(cookie) }
        return reply
    }

    private func route(_ request: DashboardRequest) async -> Reply {
        guard request.method == "GET" || request.method == "HEAD" else { return .text(.methodNotAllowed, "the dashboard only reads") }
        do {
            switch request.path {
            case "/static/dashboard.css", "/static/dashboard.js", "/static/icon.svg", "/favicon.ico":
                _ = try QueryParameters(request.query, route: request.path, names: [])
                switch request.path {
                case "/static/dashboard.css": return Reply(contentType: "text/css; charset=utf-8", body: Data(Assets.css.utf8))
                case "/static/dashboard.js": return Reply(contentType: "text/javascript; charset=utf-8", body: Data(Assets.js.utf8))
                default: return Reply(contentType: "image/svg+xml", body: Data(Assets.icon.utf8))
                }
            default: break
            }
            // One store: its pages at the root. Several: `/` compares them, `/store/N/…` is store N's.
            let site: Site, base: String, path: String
            if sites.count == 1 {
                (site, base, path) = (sites[0], "", request.path)
            } else if request.path == "/" || request.path == "/index.html" {
                let fragment = try QueryParameters(request.query, route: "/", names: []).flag("fragment")
                let readers = sites.map(\.reader)
                let made = try await renderer.run { try Pages.stores(readers) }
                return .html(fragment ? made.body : Pages.layout(title: made.title, path: "/", body: made.body, severalStores: true))
            } else if let rest = Self.suffix(request.path, after: "/store/"), let number = Int(rest.prefix { $0 != "/" }),
                number >= 1 && number <= sites.count
            {
                let inner = String(rest.drop { $0 != "/" })
                (site, base, path) = (sites[number - 1], "/store/\(number)", inner.isEmpty ? "/" : inner)
            } else {
                return .text(
                    .notFound,
                    "no page \(request.path): this dashboard serves \(sites.count) stores, at /store/1/ to /store/\(sites.count)/")
            }
            // Checked before the cache, so a reply is never kept under a query that is refused.
            let query = try Self.parameters(of: request, path: path)
            let address =
                request.path + "?"
                + (request.query ?? []).filter { $0.name != "token" }.map { "\($0.name)=\($0.value)" }.joined(separator: "&")
            // A route's error comes back out of the render thread to the one mapping below.
            return try await renderer.run { [self] in
                let revision = try? site.reader.store.revision()
                if let revision, let cached = site.cache.reply(for: address, at: revision) { return cached }
                let reply = try route(query, path: path, site: site, base: base)
                if let revision, reply.status == .ok { site.cache.keep(reply, for: address, at: revision) }
                return reply
            }
        } catch let error as BadRequest {
            return .text(.badRequest, error.message)
        } catch {
            return .text(.internalServerError, "\(error)")
        }
    }

    /// The query parameters each route of a store takes, checked.
    static func parameters(of request: DashboardRequest, path: String) throws -> QueryParameters {
        switch path {
        case "/leaderboard": try QueryParameters(request.query, route: path, names: ["by_config", "all", "q", "sort", "desc", "rows"])
        case "/compare": try QueryParameters(request.query, route: path, names: [], repeatable: ["trials"])
        case "/api/leaderboard": try QueryParameters(request.query, route: path, names: ["top", "all", "by_config"])
        case "/api/trials": try QueryParameters(request.query, route: path, names: ["top"])
        case "/api/importance": try QueryParameters(request.query, route: path, names: ["quantile", "objective"])
        case "/pareto": try QueryParameters(request.query, route: path, names: ["x", "y"])
        default: try QueryParameters(request.query, route: path, names: [])
        }
    }

    /// A store's page or document; `path` is the address within the store, `base` its prefix.
    func route(_ query: QueryParameters, path: String, site: Site, base: String) throws -> Reply {
        let reader = site.reader, store = reader.store
        let pages = Pages(reader: reader, base: base)
        let fragment = try query.flag("fragment")
        func page(_ made: (title: String, body: String), _ path: String) -> Reply {
            .html(
                fragment
                    ? made.body
                    : Pages.layout(title: made.title, path: base + path, body: made.body, base: base, severalStores: sites.count > 1))
        }
        switch path {
        case "/", "/index.html": return page(try pages.overview(), "/")
        case "/leaderboard":
            let rows =
                query.string("rows") == "all"
                ? nil
                : try query.integer("rows", in: 1...Self.largestCount, orWord: "all") ?? Pages.LeaderboardQuery.defaultRows
            return page(
                try pages.leaderboard(
                    Pages.LeaderboardQuery(
                        byConfig: try query.flag("by_config"), all: try query.flag("all"), filter: query.string("q") ?? "",
                        sort: query.string("sort").flatMap { $0.isEmpty ? nil : $0 }, descending: try query.flag("desc"), limit: rows)),
                "/leaderboard")
        case "/compare":
            return page(try pages.compare(query.list("trials").flatMap { $0.split(separator: ",").map(String.init) }), "/compare")
        case "/parameters": return page(try pages.parameters(), "/parameters")
        case "/pareto": return page(try pages.pareto(query), "/pareto")
        case "/api/status": return .json(try Documents.status(reader))
        case "/api/leaderboard", "/api/trials":
            guard let sweep = try store.sweep() else { return .text(.notFound, "no sweep in this store yet") }
            let top = try query.integer("top", in: 1...Self.largestCount)
            let byConfig = path == "/api/leaderboard" ? try query.flag("by_config") : false
            let all = path == "/api/trials" ? true : try query.flag("all")
            let report = try LeaderboardReport(sweep, store: reader, top: top, all: all)
            return Reply(contentType: "application/json", body: Data(report.jsonBytes(byConfig: byConfig, cache: reader.rows)))
        case "/api/importance":
            guard let sweep = try store.sweep() else { return .text(.notFound, "no sweep in this store yet") }
            let quantile = try query.number("quantile", between: 0, and: 1) ?? 0.1
            let spec = try reader.spec(of: sweep), trials = try reader.trials()
            let objective = sweep.ranking.objectives[try query.objective("objective", in: sweep.ranking)]
            let ranked = ParameterImportance.of(spec: spec, objective: objective, trials: trials, targetQuantile: quantile)
            return .json(
                try Documents.text(ParameterImportance.document(ranked, objective: objective, trials: trials, targetQuantile: quantile)))
        default:
            if let reference = Self.suffix(path, after: "/api/trial/") {
                guard let sweep = try store.sweep(), let snapshot = try? reader.findTrial(reference) else {
                    return .text(.notFound, "no trial \(reference)")
                }
                return .json(try Documents.text(try Documents.trial(snapshot, store: store, sweep: sweep)))
            }
            if let reference = Self.suffix(path, after: "/api/export/") {
                guard let sweep = try store.sweep(), let snapshot = try? reader.findTrial(reference) else {
                    return .text(.notFound, "no trial \(reference)")
                }
                guard snapshot.result != nil else { return .text(.conflict, "trial \(reference) has no result to export") }
                var reply = Reply(
                    contentType: "application/yaml; charset=utf-8",
                    body: Data(try Export.trialFile(for: snapshot, sweep: sweep).yamlText().utf8))
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

    static func suffix(_ path: String, after prefix: String) -> String? {
        guard path.hasPrefix(prefix), path.count > prefix.count else { return nil }
        return String(path.dropFirst(prefix.count))
    }

    /// Equal strings, compared in time that does not depend on where they differ.
    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let (x, y) = (Array(a.utf8), Array(b.utf8))
        var difference = UInt8(x.count == y.count ? 0 : 1)
        for index in 0..<max(x.count, y.count) { difference |= (index < x.count ? x[index] : 0) ^ (index < y.count ? y[index] : 0) }
        return difference == 0
    }
}
