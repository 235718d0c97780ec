import Foundation
import Protocol
import Vocabulary

/// The ZAP handler (ZeroMQ RFC 27) of a CURVE coordinator: admits only worker public keys found as
/// `*.pub` files in one folder, and names each admitted worker by its key file's stem.
///
/// libzmq admits any CURVE client while no ZAP handler is bound, so the handler's socket is bound
/// (``init(context:keys:)``) before the coordinator's ROUTER binds. The folder is re-read when it
/// changes (checked by ``reloadIfChanged()``) or on request (SIGHUP), so workers can be added on
/// the fly. Not thread-safe: it belongs to the coordinator's serving thread.
public final class Authenticator {
    public let keysFolder: URL
    /// Public key (32 bytes) → key file stem.
    public private(set) var authorized: [[UInt8]: String] = [:]
    /// Handshakes refused so far.
    public private(set) var rejected = 0
    public var log: (String) -> Void = { _ in }
    let socket: ZMQSocket
    private var folderStamp: [String]?

    /// The ZAP endpoint libzmq asks.
    public static let endpoint = "inproc://zeromq.zap.01"

    public init(context: ZMQContext, keys: URL) throws {
        keysFolder = keys
        socket = try ZMQSocket(context: context, type: .rep)
        try socket.bind(Self.endpoint)
        try reload()
    }

    /// Reads every `*.pub` in the folder (Z85, 40 characters); unreadable files are logged and skipped.
    public func reload() throws { try reload(stamp: Self.stamp(keysFolder)) }

    /// Reads the folder, `stamp` having been taken first: a key added while it reads changes the
    /// next stamp, so it is read on the next look instead of being missed.
    private func reload(stamp: [String]?) throws {
        let files = try FileManager.default.contentsOfDirectory(at: keysFolder, includingPropertiesForKeys: nil)
        var keys: [[UInt8]: String] = [:]
        for file in files where file.pathExtension == "pub" {
            guard let text = try? String(contentsOf: file, encoding: .utf8), let key = Curve.decode(text) else {
                log("ignored \(file.path): not a Z85 CURVE public key")
                continue
            }
            keys[key] = file.deletingPathExtension().lastPathComponent
        }
        authorized = keys
        folderStamp = stamp
    }

    /// Re-reads the folder when a key file was added, removed or changed.
    public func reloadIfChanged() throws {
        let stamp = Self.stamp(keysFolder)
        if stamp != folderStamp { try reload(stamp: stamp) }
    }

    /// What the folder holds: each `*.pub` file's name, size and modification time. (The folder's own
    /// modification time is not enough: it has one-second resolution on some file systems, so a key
    /// added in the second the folder was last read would go unseen.)
    static func stamp(_ folder: URL) -> [String]? {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder.path) else { return nil }
        return names.filter { $0.hasSuffix(".pub") }.sorted().map { name in
            let attributes = try? FileManager.default.attributesOfItem(atPath: folder.appendingPathComponent(name).path)
            let modified = (attributes?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
            return "\(name) \(attributes?[.size] as? Int ?? -1) \(modified)"
        }
    }

    /// Answers every pending ZAP request.
    public func serve() {
        while let request = try? socket.receive(wait: .nonBlocking) {
            try? socket.send(answer(request), wait: .nonBlocking)
        }
    }

    /// The reply to one request: [version, request id, status code, status text, user id, metadata].
    func answer(_ request: [[UInt8]]) -> [[UInt8]] {
        guard request.count >= 7, request[0] == Array("1.0".utf8) else {
            return [Array("1.0".utf8), request.count > 1 ? request[1] : [], Array("500".utf8), Array("bad ZAP request".utf8), [], []]
        }
        let address = String(decoding: request[3], as: UTF8.self)
        let mechanism = String(decoding: request[5], as: UTF8.self)
        if mechanism == "CURVE", let name = authorized[request[6]] {
            return [Array("1.0".utf8), request[1], Array("200".utf8), Array("OK".utf8), Array(name.utf8), []]
        }
        rejected += 1
        log("refused a \(mechanism) handshake from \(address): key not in \(keysFolder.path) (\(rejected) refused so far)")
        return [Array("1.0".utf8), request[1], Array("400".utf8), Array("unauthorized key".utf8), [], []]
    }
}
