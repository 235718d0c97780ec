import Foundation

/// Any JSON value. Used where the wire carries data that `Protocol` does not interpret, such as a
/// trial config (the ML library validates it) or metric maps.
public enum JSONValue: Codable, Hashable, Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else if let value = try? container.decode([String: JSONValue].self) {
            self = .object(value)
        } else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not a JSON value")
        }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }
}

/// The text of one JSON object, carried as it is: a trial config, which only the ML library reads
/// (with each key's own type), travels as the store keeps it. Two texts are equal when they hold
/// the same object, however written.
public struct JSONObjectText: Codable, Hashable, Sendable, CustomStringConvertible {
    public let text: String

    /// `text` must be a JSON object (the coordinator sends its stored canonical configs).
    public init(_ text: String) { self.text = text }

    public var description: String { text }

    public init(from decoder: Decoder) throws {
        let members = try decoder.singleValueContainer().decode([String: JSONValue].self)
        var writer = JSONByteWriter()
        try writer.value(.object(members))
        text = String(decoding: writer.bytes, as: UTF8.self)
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(members)
    }

    /// The object's members (nil when the text is not a JSON object).
    public var members: [String: JSONValue]? {
        try? JSONDecoder().decode([String: JSONValue].self, from: Data(text.utf8))
    }

    public static func == (a: JSONObjectText, b: JSONObjectText) -> Bool {
        a.text == b.text || (a.members != nil && a.members == b.members)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(members.map { $0.keys.sorted() })
    }
}
