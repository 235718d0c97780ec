import Foundation

/// Why a frame sequence is not a valid v1 message. Decoding never traps; every defect is one of these.
public enum DecodeError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Not exactly three frames (`[version][type][body]`).
    case wrongFrameCount(Int)
    /// The version frame is not one byte, or names a version this build does not speak.
    case unknownVersion([UInt8])
    /// The type frame names no message of v1.
    case unknownType(String)
    /// The body is larger than the codec accepts.
    case tooLarge(bytes: Int, limit: Int)
    /// The body is not valid JSON for the named type, or misses a field.
    case malformedBody(type: String, detail: String)

    public var description: String {
        switch self {
        case .wrongFrameCount(let count): "expected 3 frames [version][type][body], got \(count)"
        case .unknownVersion(let bytes): "unknown protocol version frame \(bytes.prefix(8).map { String($0) }) (this build speaks \(wireProtocolVersion))"
        case .unknownType(let name): "unknown message type \(name.debugDescription)"
        case .tooLarge(let bytes, let limit): "message body of \(bytes) bytes exceeds the limit of \(limit)"
        case .malformedBody(let type, let detail): "malformed \(type) body: \(detail)"
        }
    }

    /// A short stable code for ``ErrorReport/code``.
    public var code: String {
        switch self {
        case .wrongFrameCount: "bad_frames"
        case .unknownVersion: "bad_version"
        case .unknownType: "unknown_type"
        case .tooLarge: "too_large"
        case .malformedBody: "malformed_body"
        }
    }
}

/// The pure v1 codec: ``Message`` ⇄ `[version][type][body]` frames, body JSON with snake_case keys.
/// It touches no socket, so it is tested without libzmq.
public struct Codec: Sendable {
    /// Largest body accepted by ``decode(_:)``; dataset chunks are far below it.
    public let maximumBodyBytes: Int

    /// The default body limit: 16 MiB.
    public static let defaultMaximumBodyBytes = 16 << 20

    public init(maximumBodyBytes: Int = Codec.defaultMaximumBodyBytes) {
        self.maximumBodyBytes = maximumBodyBytes
    }

    /// One encoder and decoder for every message (both are safe to share); keys are not sorted,
    /// since sorting goes through locale-aware comparison and the wire does not need it.
    private static let encoder = JSONEncoder()
    private static let decoder = JSONDecoder()

    /// Encodes a message to its three frames. Throws only for values JSON cannot hold (NaN, ±∞).
    public func encode(_ message: Message) throws -> [[UInt8]] {
        let body = try HotMessageCodec.encode(message) ?? encodeWithFoundation(message)
        return [[wireProtocolVersion], Array(message.typeName.utf8), body]
    }

    /// The reference encoder: Foundation's, for the types the hot path does not write.
    func encodeWithFoundation(_ message: Message) throws -> [UInt8] {
        let encoder = Self.encoder
        let body: Data = switch message {
        case .ready(let value): try encoder.encode(value)
        case .heartbeat(let value): try encoder.encode(value)
        case .progress(let value): try encoder.encode(value)
        case .result(let value): try encoder.encode(value)
        case .failed(let value): try encoder.encode(value)
        case .bye(let value): try encoder.encode(value)
        case .fetch(let value): try encoder.encode(value)
        case .welcome(let value): try encoder.encode(value)
        case .assign(let value): try encoder.encode(value)
        case .ack(let value): try encoder.encode(value)
        case .chunk(let value): try encoder.encode(value)
        case .wait(let value): try encoder.encode(value)
        case .cancel(let value): try encoder.encode(value)
        case .shutdown(let value): try encoder.encode(value)
        case .error(let value): try encoder.encode(value)
        }
        return Array(body)
    }

    /// Decodes three frames to a message, or throws a ``DecodeError`` naming the defect.
    public func decode(_ frames: [[UInt8]]) throws(DecodeError) -> Message {
        guard frames.count == 3 else { throw .wrongFrameCount(frames.count) }
        guard frames[0] == [wireProtocolVersion] else { throw .unknownVersion(frames[0]) }
        let body = frames[2]
        guard body.count <= maximumBodyBytes else { throw .tooLarge(bytes: body.count, limit: maximumBodyBytes) }
        if let message = HotMessageCodec.decode(type: frames[1], body: body) { return message }
        return try decodeWithFoundation(type: frames[1], body: body)
    }

    /// The reference decoder: Foundation's, for the bodies the hot path does not read and to name
    /// what is wrong with a bad one.
    func decodeWithFoundation(type typeFrame: [UInt8], body: [UInt8]) throws(DecodeError) -> Message {
        let typeName = String(decoding: typeFrame, as: UTF8.self)
        guard let type = Self.decoders[typeName], typeFrame.count <= 16 else { throw .unknownType(typeName) }
        do {
            return try type(Self.decoder, Data(body))
        } catch {
            throw .malformedBody(type: typeName, detail: Self.describe(error))
        }
    }

    private typealias BodyDecoder = @Sendable (JSONDecoder, Data) throws -> Message

    private static let decoders: [String: BodyDecoder] = [
        "ready": { .ready(try $0.decode(Ready.self, from: $1)) },
        "heartbeat": { .heartbeat(try $0.decode(Heartbeat.self, from: $1)) },
        "progress": { .progress(try $0.decode(Progress.self, from: $1)) },
        "result": { .result(try $0.decode(TrialOutcome.self, from: $1)) },
        "failed": { .failed(try $0.decode(Failure.self, from: $1)) },
        "bye": { .bye(try $0.decode(Bye.self, from: $1)) },
        "fetch": { .fetch(try $0.decode(Fetch.self, from: $1)) },
        "welcome": { .welcome(try $0.decode(Welcome.self, from: $1)) },
        "assign": { .assign(try $0.decode(Assignment.self, from: $1)) },
        "ack": { .ack(try $0.decode(Ack.self, from: $1)) },
        "chunk": { .chunk(try $0.decode(Chunk.self, from: $1)) },
        "wait": { .wait(try $0.decode(Wait.self, from: $1)) },
        "cancel": { .cancel(try $0.decode(Cancel.self, from: $1)) },
        "shutdown": { .shutdown(try $0.decode(Shutdown.self, from: $1)) },
        "error": { .error(try $0.decode(ErrorReport.self, from: $1)) },
    ]

    /// Every message type name of v1.
    public static var typeNames: [String] { decoders.keys.sorted() }

    /// A one-line reason from a `DecodingError`, naming the key path.
    private static func describe(_ error: Error) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let keys = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
            return keys.isEmpty ? "body" : keys.joined(separator: ".")
        }
        switch error {
        case DecodingError.keyNotFound(let key, let context):
            return "missing field \(key.stringValue) at \(path(context))"
        case DecodingError.typeMismatch(let type, let context):
            return "\(path(context)) is not a \(type)"
        case DecodingError.valueNotFound(let type, let context):
            return "\(path(context)) is null, expected \(type)"
        case DecodingError.dataCorrupted(let context):
            return "\(path(context)): \(context.debugDescription)"
        default:
            return String(describing: error)
        }
    }
}
