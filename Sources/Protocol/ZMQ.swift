import CZMQ
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// An error from libzmq, carrying its `errno` and the `zmq_strerror` text.
public struct ZMQError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The `errno` value libzmq reported.
    public let code: Int32
    /// What was being attempted, e.g. `"bind tcp://127.0.0.1:5555"`.
    public let operation: String
    /// `zmq_strerror(code)` (made when asked: a poll loop meets `EAGAIN` on every pass).
    public var message: String { String(cString: zmq_strerror(code)) }

    init(_ operation: String, code: Int32 = zmq_errno()) {
        self.code = code
        self.operation = operation
    }

    /// True when the call would have blocked (`EAGAIN`): a timeout or a full queue.
    public var wouldBlock: Bool { code == EAGAIN }
    /// True when the context was terminated (`ETERM`).
    public var contextTerminated: Bool { code == zmqETERM }
    /// True when the call was interrupted by a signal (`EINTR`).
    public var interrupted: Bool { code == EINTR }
    /// True when a ROUTER with `ROUTER_MANDATORY` had no route to the peer (`EHOSTUNREACH`).
    public var hostUnreachable: Bool { code == EHOSTUNREACH }

    public var description: String { "\(operation): \(message)" }
}

/// libzmq's own errno values are `ZMQ_HAUSNUMERO + n`, macros Swift does not import.
private let zmqHausnumero: Int32 = 156_384_712
let zmqETERM: Int32 = zmqHausnumero + 53

/// A ZeroMQ context: the owner of I/O threads and of every socket made from it.
///
/// A context is thread-safe and may be shared across threads. Closing it terminates every socket
/// made from it; blocking calls on them then throw an error with ``ZMQError/contextTerminated``.
public final class ZMQContext: @unchecked Sendable {
    let handle: UnsafeMutableRawPointer
    private let lock = NSLock()
    private var terminated = false

    /// Creates a context with `ioThreads` I/O threads (1 is right for everything this system does).
    public init(ioThreads: Int32 = 1) throws {
        guard let handle = zmq_ctx_new() else { throw ZMQError("zmq_ctx_new") }
        self.handle = handle
        if zmq_ctx_set(handle, ZMQ_IO_THREADS, ioThreads) != 0 {
            let error = ZMQError("zmq_ctx_set io_threads")
            zmq_ctx_term(handle)
            throw error
        }
    }

    /// Makes blocking calls on this context's sockets return, and frees the context once every
    /// socket has been closed. Called automatically on deinit.
    public func terminate() {
        lock.lock()
        defer { lock.unlock() }
        guard !terminated else { return }
        terminated = true
        while zmq_ctx_term(handle) != 0 && zmq_errno() == EINTR {}
    }

    /// Raises how many sockets this context may hold (`ZMQ_MAX_SOCKETS`, 1,023 by default): a
    /// process simulating thousands of workers holds a socket for each.
    public func setMaximumSockets(_ count: Int32) throws {
        if zmq_ctx_set(handle, ZMQ_MAX_SOCKETS, count) != 0 { throw ZMQError("zmq_ctx_set max_sockets") }
    }

    /// Shuts the context down without waiting: blocking calls return `ETERM` at once.
    public func shutdown() {
        zmq_ctx_shutdown(handle)
    }

    deinit { terminate() }
}

/// The socket types this system uses.
public enum ZMQSocketType: Sendable {
    /// Routes by peer identity; the coordinator's endpoint.
    case router
    /// An asynchronous requester; the worker's socket.
    case dealer
    /// Exclusive pair, for hand-off between two threads over `inproc://`.
    case pair
    /// Fan-in between threads: a worker's training threads push, its socket thread pulls.
    case push, pull
    /// Strict request/reply server; the ZAP authentication handler.
    case rep

    var rawValue: Int32 {
        switch self {
        case .router: ZMQ_ROUTER
        case .dealer: ZMQ_DEALER
        case .pair: ZMQ_PAIR
        case .push: ZMQ_PUSH
        case .pull: ZMQ_PULL
        case .rep: ZMQ_REP
        }
    }
}

/// A ZeroMQ socket.
///
/// **Threading rule:** a socket belongs to the one thread that uses it (ZeroMQ sockets are not
/// thread-safe). This type is deliberately not `Sendable`, so Swift's strict concurrency checking
/// refuses to move it to another thread or task; other threads talk to its owner over an
/// `inproc://` ``ZMQSocketType/pair`` socket of their own. The socket is closed on deinit
/// (after its linger period) or by ``close()``.
public final class ZMQSocket {
    private var handle: UnsafeMutableRawPointer?
    /// The socket type it was created with.
    public let type: ZMQSocketType
    /// A context keeps running while any socket made from it is open.
    private let context: ZMQContext

    /// Creates a socket. The default linger is 0: pending messages are dropped on close, so closing
    /// never blocks on a peer that has gone away.
    public init(context: ZMQContext, type: ZMQSocketType, linger: Int32 = 0) throws {
        guard let handle = zmq_socket(context.handle, type.rawValue) else {
            throw ZMQError("zmq_socket")
        }
        self.handle = handle
        self.type = type
        self.context = context
        try setOption(ZMQ_LINGER, linger, name: "linger")
    }

    deinit { close() }

    /// Closes the socket. Further calls throw `ENOTSOCK`.
    public func close() {
        if let handle {
            zmq_close(handle)
            self.handle = nil
        }
    }

    fileprivate func live(_ operation: @autoclosure () -> String) throws -> UnsafeMutableRawPointer {
        guard let handle else { throw ZMQError(operation(), code: ENOTSOCK) }
        return handle
    }

    // MARK: Endpoints

    /// Binds to `endpoint`, e.g. `tcp://127.0.0.1:5555`, `tcp://127.0.0.1:*` or `inproc://name`.
    public func bind(_ endpoint: String) throws {
        if zmq_bind(try live("bind \(endpoint)"), endpoint) != 0 { throw ZMQError("bind \(endpoint)") }
    }

    /// Connects to `endpoint`. For tcp this returns at once; the connection is made in the background.
    public func connect(_ endpoint: String) throws {
        if zmq_connect(try live("connect \(endpoint)"), endpoint) != 0 {
            throw ZMQError("connect \(endpoint)")
        }
    }

    /// The endpoint actually bound (resolves a `*` port), from `ZMQ_LAST_ENDPOINT`.
    public func lastEndpoint() throws -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        var size = buffer.count
        if zmq_getsockopt(try live("getsockopt last_endpoint"), ZMQ_LAST_ENDPOINT, &buffer, &size) != 0 {
            throw ZMQError("getsockopt last_endpoint")
        }
        return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    // MARK: Options

    private func setOption(_ option: Int32, _ value: Int32, name: String) throws {
        var value = value
        if zmq_setsockopt(try live("setsockopt \(name)"), option, &value, MemoryLayout<Int32>.size) != 0 {
            throw ZMQError("setsockopt \(name)")
        }
    }

    private func setOption(_ option: Int32, bytes: [UInt8], name: String) throws {
        let handle = try live("setsockopt \(name)")
        let status = bytes.withUnsafeBytes { zmq_setsockopt(handle, option, $0.baseAddress, $0.count) }
        if status != 0 { throw ZMQError("setsockopt \(name)") }
    }

    /// Connections the kernel queues before the socket accepts them (`ZMQ_BACKLOG`, 100 by
    /// default): thousands of workers connecting at once overflow a short queue and retry.
    public func setBacklog(_ connections: Int32) throws { try setOption(ZMQ_BACKLOG, connections, name: "backlog") }
    /// Milliseconds pending outgoing messages are kept after close (`ZMQ_LINGER`); 0 drops them.
    public func setLinger(milliseconds: Int32) throws { try setOption(ZMQ_LINGER, milliseconds, name: "linger") }
    /// Outgoing queue limit per peer, in messages (`ZMQ_SNDHWM`).
    public func setSendHighWaterMark(_ messages: Int32) throws { try setOption(ZMQ_SNDHWM, messages, name: "sndhwm") }
    /// Incoming queue limit per peer, in messages (`ZMQ_RCVHWM`).
    public func setReceiveHighWaterMark(_ messages: Int32) throws { try setOption(ZMQ_RCVHWM, messages, name: "rcvhwm") }
    /// Blocking receive timeout (`ZMQ_RCVTIMEO`); -1 waits forever.
    public func setReceiveTimeout(milliseconds: Int32) throws { try setOption(ZMQ_RCVTIMEO, milliseconds, name: "rcvtimeo") }
    /// Blocking send timeout (`ZMQ_SNDTIMEO`); -1 waits forever.
    public func setSendTimeout(milliseconds: Int32) throws { try setOption(ZMQ_SNDTIMEO, milliseconds, name: "sndtimeo") }
    /// Makes a ROUTER report an unroutable peer as `EHOSTUNREACH` instead of dropping silently.
    public func setRouterMandatory(_ on: Bool) throws { try setOption(ZMQ_ROUTER_MANDATORY, on ? 1 : 0, name: "router_mandatory") }
    /// Queue messages only to completed connections (`ZMQ_IMMEDIATE`).
    public func setImmediate(_ on: Bool) throws { try setOption(ZMQ_IMMEDIATE, on ? 1 : 0, name: "immediate") }
    /// Largest inbound message accepted, in bytes (`ZMQ_MAXMSGSIZE`); a peer sending more is disconnected.
    public func setMaximumMessageSize(_ bytes: Int64) throws {
        var value = bytes
        if zmq_setsockopt(try live("setsockopt maxmsgsize"), ZMQ_MAXMSGSIZE, &value, MemoryLayout<Int64>.size) != 0 {
            throw ZMQError("setsockopt maxmsgsize")
        }
    }
    /// ZMTP-level heartbeats: ping every `interval` ms, tell the peer to time out after `ttl` ms,
    /// and drop the connection when no pong arrives within `timeout` ms.
    public func setHeartbeat(intervalMilliseconds: Int32, ttlMilliseconds: Int32, timeoutMilliseconds: Int32) throws {
        try setOption(ZMQ_HEARTBEAT_IVL, intervalMilliseconds, name: "heartbeat_ivl")
        try setOption(ZMQ_HEARTBEAT_TTL, ttlMilliseconds, name: "heartbeat_ttl")
        try setOption(ZMQ_HEARTBEAT_TIMEOUT, timeoutMilliseconds, name: "heartbeat_timeout")
    }
    /// Reconnection back-off: first retry after `initial` ms, doubling up to `maximum` ms.
    public func setReconnectInterval(initialMilliseconds: Int32, maximumMilliseconds: Int32) throws {
        try setOption(ZMQ_RECONNECT_IVL, initialMilliseconds, name: "reconnect_ivl")
        try setOption(ZMQ_RECONNECT_IVL_MAX, maximumMilliseconds, name: "reconnect_ivl_max")
    }
    /// The identity a ROUTER peer sees for this socket (`ZMQ_ROUTING_ID`), 1–255 bytes.
    public func setRoutingID(_ id: [UInt8]) throws { try setOption(ZMQ_ROUTING_ID, bytes: id, name: "routing_id") }
    /// Makes this socket a CURVE server with the given 32-byte secret key.
    public func setCurveServer(secretKey: [UInt8]) throws {
        try setOption(ZMQ_CURVE_SERVER, 1, name: "curve_server")
        try setOption(ZMQ_CURVE_SECRETKEY, bytes: secretKey, name: "curve_secretkey")
    }
    /// Makes this socket a CURVE client of the server whose public key is `serverKey`.
    public func setCurveClient(serverKey: [UInt8], publicKey: [UInt8], secretKey: [UInt8]) throws {
        try setOption(ZMQ_CURVE_SERVERKEY, bytes: serverKey, name: "curve_serverkey")
        try setOption(ZMQ_CURVE_PUBLICKEY, bytes: publicKey, name: "curve_publickey")
        try setOption(ZMQ_CURVE_SECRETKEY, bytes: secretKey, name: "curve_secretkey")
    }
    /// The ZAP domain sent to the authentication handler (`ZMQ_ZAP_DOMAIN`).
    public func setZAPDomain(_ domain: String) throws {
        try setOption(ZMQ_ZAP_DOMAIN, bytes: Array(domain.utf8), name: "zap_domain")
    }

    // MARK: Sending and receiving

    /// How a send or receive waits.
    public enum Wait: Sendable, Equatable {
        /// Wait until done (or the socket's own timeout).
        case blocking
        /// Fail at once with ``ZMQError/wouldBlock`` instead of waiting.
        case nonBlocking
        /// Wait at most this many milliseconds, then fail with ``ZMQError/wouldBlock``.
        case milliseconds(Int32)
    }

    /// Sends one multipart message. Parts are sent atomically: a peer receives all or none.
    ///
    /// With `.nonBlocking`, a ROUTER whose peer's queue is full (or, with `ROUTER_MANDATORY`,
    /// gone) throws at once instead of stalling every other peer.
    public func send(_ parts: [[UInt8]], wait: Wait = .blocking) throws {
        precondition(!parts.isEmpty, "a message has at least one part")
        let handle = try live("send")
        if case .milliseconds(let timeout) = wait {
            guard try poll(events: ZMQ_POLLOUT, timeoutMilliseconds: timeout) else {
                throw ZMQError("send", code: EAGAIN)
            }
        }
        let baseFlags: Int32 = wait == .blocking ? 0 : ZMQ_DONTWAIT
        for (index, part) in parts.enumerated() {
            let flags = baseFlags | (index < parts.count - 1 ? ZMQ_SNDMORE : 0)
            while true {
                let status = part.withUnsafeBytes { zmq_send(handle, $0.baseAddress, $0.count, flags) }
                if status >= 0 { break }
                let error = ZMQError("send")
                if error.interrupted { continue }
                throw error
            }
        }
    }

    /// Receives one multipart message, or throws ``ZMQError/wouldBlock`` when `wait` runs out.
    public func receive(wait: Wait = .blocking) throws -> [[UInt8]] {
        try receive(wait: wait, userID: false).frames
    }

    /// Receives one multipart message and the `User-Id` the ZAP handler gave its sender (CURVE
    /// sockets; nil without authentication).
    public func receiveWithUserID(wait: Wait = .blocking) throws -> (frames: [[UInt8]], userID: String?) {
        try receive(wait: wait, userID: true)
    }

    private func receive(wait: Wait, userID wantsUserID: Bool) throws -> (frames: [[UInt8]], userID: String?) {
        let handle = try live("receive")
        if case .milliseconds(let timeout) = wait {
            guard try poll(events: ZMQ_POLLIN, timeoutMilliseconds: timeout) else {
                throw ZMQError("receive", code: EAGAIN)
            }
        }
        let flags: Int32 = wait == .blocking ? 0 : ZMQ_DONTWAIT
        var parts: [[UInt8]] = []
        var userID: String?
        var message = zmq_msg_t()
        zmq_msg_init(&message)
        defer { zmq_msg_close(&message) }
        repeat {
            while zmq_msg_recv(&message, handle, parts.isEmpty ? flags : 0) < 0 {
                let error = ZMQError("receive")
                if error.interrupted { continue }
                throw error
            }
            // The parts that came over the wire carry the connection's properties; a ROUTER's own
            // routing-id part does not, so ask the last part.
            if wantsUserID && zmq_msg_more(&message) == 0, let property = zmq_msg_gets(&message, "User-Id") {
                userID = String(cString: property)
            }
            let size = zmq_msg_size(&message)
            if size == 0 {
                parts.append([])
            } else {
                let data = zmq_msg_data(&message)!
                parts.append(Array(UnsafeRawBufferPointer(start: data, count: size)))
            }
        } while zmq_msg_more(&message) != 0
        return (parts, userID)
    }

    /// The descriptor an event loop waits on (`ZMQ_FD`): it becomes readable when the socket's state
    /// may have changed. It signals edges, not messages: after it fires, and after every send,
    /// receive without blocking until ``ZMQError/wouldBlock``.
    public func eventDescriptor() throws -> Int32 {
        var descriptor: Int32 = -1
        var size = MemoryLayout<Int32>.size
        if zmq_getsockopt(try live("getsockopt fd"), ZMQ_FD, &descriptor, &size) != 0 { throw ZMQError("getsockopt fd") }
        return descriptor
    }

    /// Whether the socket is ready for `events` within the timeout.
    private func poll(events: Int32, timeoutMilliseconds: Int32) throws -> Bool {
        var item = zmq_pollitem_t(socket: try live("poll"), fd: 0, events: Int16(events), revents: 0)
        while true {
            let count = zmq_poll(&item, 1, Int(timeoutMilliseconds))
            if count >= 0 { return count > 0 }
            let error = ZMQError("poll")
            if !error.interrupted { throw error }
        }
    }

    /// Waits up to `timeoutMilliseconds` (-1: forever) until any of `sockets` has a message to read,
    /// and returns the indices of those that do. An empty result means the timeout ran out. A signal
    /// interrupting the wait also returns an empty result, so a poll loop can check its stop flag.
    public static func pollReadable(_ sockets: [ZMQSocket], timeoutMilliseconds: Int) throws -> [Int] {
        var items = try sockets.map {
            zmq_pollitem_t(socket: try $0.live("poll"), fd: 0, events: Int16(ZMQ_POLLIN), revents: 0)
        }
        let count = zmq_poll(&items, Int32(items.count), timeoutMilliseconds)
        if count < 0 {
            let error = ZMQError("poll")
            if error.interrupted { return [] }
            throw error
        }
        return items.indices.filter { items[$0].revents & Int16(ZMQ_POLLIN) != 0 }
    }
}

/// Waits on thousands of sockets at once: epoll over their event descriptors, so a wait costs
/// the sockets that changed rather than all of them (`zmq_poll` walks every item). A socket a wait
/// names may have messages, or may not: receive from it without blocking until
/// ``ZMQError/wouldBlock``, and do the same after every send on it, which can take its signal.
public final class ZMQPoller {
    private let epoll: Int32
    private var events = [epoll_event](repeating: epoll_event(), count: 1024)

    public init() throws {
        epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        if epoll < 0 { throw ZMQError("epoll_create1", code: errno) }
    }

    deinit { close(epoll) }

    /// Watches `socket`; waits name it by `tag`.
    public func add(_ socket: ZMQSocket, tag: Int) throws {
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.u64 = UInt64(tag)
        if epoll_ctl(epoll, EPOLL_CTL_ADD, try socket.eventDescriptor(), &event) != 0 { throw ZMQError("epoll_ctl add", code: errno) }
    }

    /// Stops watching `socket` (call before closing it).
    public func remove(_ socket: ZMQSocket) {
        if let descriptor = try? socket.eventDescriptor() { epoll_ctl(epoll, EPOLL_CTL_DEL, descriptor, nil) }
    }

    /// The tags of sockets whose state may have changed, after waiting up to `timeoutMilliseconds`
    /// for one; empty when the time ran out or a signal came.
    public func wait(timeoutMilliseconds: Int32) throws -> [Int] {
        let count = epoll_wait(epoll, &events, Int32(events.count), timeoutMilliseconds)
        if count < 0 {
            if errno == EINTR { return [] }
            throw ZMQError("epoll_wait", code: errno)
        }
        return events.prefix(Int(count)).map { Int($0.data.u64) }
    }
}

/// What became of a socket's CURVE handshakes, read from libzmq's socket monitor: enough to tell
/// a worker whose key the coordinator refused (ZAP said no) from one that holds the wrong server
/// key (the coordinator cannot read its hello and closes the connection mid-handshake).
public final class HandshakeMonitor {
    /// A handshake outcome.
    public enum Event: Sendable, Equatable {
        case succeeded
        /// The peer's authentication refused this side (a ZAP status such as 400).
        case refused(status: Int)
        /// The connection closed or broke mid-handshake, or the peer broke the protocol.
        case failed
    }

    private let pair: ZMQSocket

    /// Starts monitoring `socket` (call before it connects); one monitor per socket.
    public init(socket: ZMQSocket, context: ZMQContext) throws {
        let address = "inproc://handshake-\(UUID().uuidString)"
        let events =
            ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH
            | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL
        if zmq_socket_monitor(try socket.live("socket_monitor"), address, events) != 0 { throw ZMQError("socket_monitor") }
        pair = try ZMQSocket(context: context, type: .pair)
        try pair.connect(address)
    }

    /// The events that arrived since the last call, oldest first.
    public func events() -> [Event] {
        var events: [Event] = []
        while let frames = try? pair.receive(wait: .nonBlocking), let first = frames.first, first.count >= 6 {
            let kind = Int32(UInt16(first[0]) | UInt16(first[1]) << 8)
            let value = Int(UInt32(first[2]) | UInt32(first[3]) << 8 | UInt32(first[4]) << 16 | UInt32(first[5]) << 24)
            switch kind {
            case ZMQ_EVENT_HANDSHAKE_SUCCEEDED: events.append(.succeeded)
            case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH: events.append(.refused(status: value))
            default: events.append(.failed)
            }
        }
        return events
    }
}

@available(*, unavailable, message: "a ZeroMQ socket belongs to one thread; hand messages over an inproc PAIR instead")
extension ZMQSocket: Sendable {}

/// CURVE key pairs in ZeroMQ's Z85 text form.
public enum Curve {
    /// A new key pair: (public, secret), each 40 characters of Z85.
    public static func generateKeyPair() throws -> (publicKey: String, secretKey: String) {
        var publicKey = [CChar](repeating: 0, count: 41)
        var secretKey = [CChar](repeating: 0, count: 41)
        if zmq_curve_keypair(&publicKey, &secretKey) != 0 { throw ZMQError("zmq_curve_keypair") }
        return (string(publicKey), string(secretKey))
    }

    /// The public key of a secret key, both Z85.
    public static func publicKey(forSecret secret: String) throws -> String {
        var publicKey = [CChar](repeating: 0, count: 41)
        if zmq_curve_public(&publicKey, secret.trimmingCharacters(in: .whitespacesAndNewlines)) != 0 {
            throw ZMQError("zmq_curve_public")
        }
        return string(publicKey)
    }

    /// Decodes a 40-character Z85 key to its 32 bytes, or nil when the text is not a valid key.
    public static func decode(_ z85: String) -> [UInt8]? {
        let text = z85.trimmingCharacters(in: .whitespacesAndNewlines)
        guard text.utf8.count == 40 else { return nil }
        var bytes = [UInt8](repeating: 0, count: 32)
        guard zmq_z85_decode(&bytes, text) != nil else { return nil }
        return bytes
    }

    private static func string(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// Raises this process's soft limit on open files to its hard limit and returns the limit now in
/// force. Each worker connection holds a descriptor (a simulated worker two: its connection and
/// its socket's mailbox), and shells often start processes with a soft limit of 1,024.
@discardableResult
public func raiseOpenFileLimit() -> Int {
    var limit = rlimit()
    guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 0 }
    if limit.rlim_cur < limit.rlim_max {
        var raised = limit
        raised.rlim_cur = limit.rlim_max
        if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
    }
    return Int(clamping: limit.rlim_cur)
}

/// The libzmq version linked at run time, e.g. `"4.3.4"`.
public var zmqVersion: String {
    var major: Int32 = 0, minor: Int32 = 0, patch: Int32 = 0
    zmq_version(&major, &minor, &patch)
    return "\(major).\(minor).\(patch)"
}
