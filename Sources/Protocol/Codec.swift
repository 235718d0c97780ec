import Foundation
import Vocabulary

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
        case .unknownVersion(let bytes):
            "unknown protocol version frame \(bytes.prefix(8).map { String($0) }) (this build speaks \(wireProtocolVersion))"
        case .unknownType(let name): "unknown message type \(name.debugDescription)"
        case .tooLarge(let bytes, let limit): "message body of \(bytes) bytes exceeds the limit of \(limit)"
        case .malformedBody(let type, let detail): "malformed \(type) body: \(detail)"
        }
    }

    /// The code the coordinator answers it with.
    public var code: ErrorCode {
        switch self {
        case .wrongFrameCount: .badFrames
        case .unknownVersion: .badVersion
        case .unknownType: .unknownType
        case .tooLarge: .tooLarge
        case .malformedBody: .malformedBody
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
    public func encode(_ message: some WireMessage) throws -> [[UInt8]] {
        let body = try message.hotBody() ?? encodeWithFoundation(message)
        return [[wireProtocolVersion], Array(message.typeName.utf8), body]
    }

    /// The reference encoder: Foundation's, for the types the hot path does not write.
    func encodeWithFoundation(_ message: some WireMessage) throws -> [UInt8] {
        Array(try message.foundationBody(Self.encoder))
    }

    /// Decodes three frames to a message of one direction (a coordinator reads
    /// ``WorkerMessage``s, a worker ``CoordinatorMessage``s), or throws a ``DecodeError`` naming
    /// the defect; a type of the other direction is an unknown type.
    public func decode<Message: WireMessage>(_ frames: [[UInt8]], as _: Message.Type = Message.self) throws(DecodeError) -> Message {
        guard frames.count == 3 else { throw .wrongFrameCount(frames.count) }
        guard frames[0] == [wireProtocolVersion] else { throw .unknownVersion(frames[0]) }
        let body = frames[2]
        guard body.count <= maximumBodyBytes else { throw .tooLarge(bytes: body.count, limit: maximumBodyBytes) }
        if let message = Message.hotMessage(type: frames[1], body: body) { return message }
        return try decodeWithFoundation(type: frames[1], body: body)
    }

    /// The reference decoder: Foundation's, for the bodies the hot path does not read and to name
    /// what is wrong with a bad one.
    func decodeWithFoundation<Message: WireMessage>(type typeFrame: [UInt8], body: [UInt8]) throws(DecodeError) -> Message {
        let typeName = String(decoding: typeFrame, as: UTF8.self)
        guard let type = Message.bodyDecoders[typeName], typeFrame.count <= 16 else { throw .unknownType(typeName) }
        do {
            return try type(Self.decoder, Data(body))
        } catch {
            throw .malformedBody(type: typeName, detail: Self.describe(error))
        }
    }

    /// Every message type name of v1, both directions (`heartbeat` goes both ways).
    public static var typeNames: [String] {
        Set(WorkerMessage.bodyDecoders.keys).union(CoordinatorMessage.bodyDecoders.keys).sorted()
    }

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
