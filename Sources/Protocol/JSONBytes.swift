import Vocabulary

/// JSON text written straight into bytes, for the codec's hot messages: no `Encoder` machinery,
/// no intermediate `Data`. Writes what Foundation's decoder reads back to the same values.
struct JSONByteWriter {
    /// A value JSON cannot hold.
    struct NonFiniteNumber: Error, CustomStringConvertible {
        var description: String { "NaN and ±∞ cannot be written as JSON numbers" }
    }

    private(set) var bytes: [UInt8] = []

    init(capacity: Int = 256) { bytes.reserveCapacity(capacity) }

    /// Punctuation and keys written as they are, e.g. `{"trial":`.
    mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    /// Bytes that are already JSON text, written as they are.
    mutating func append(_ text: some Collection<UInt8>) {
        bytes.append(contentsOf: text)
    }

    mutating func string(_ text: String) { CanonicalJSON.appendString(text, to: &bytes) }

    mutating func integer(_ value: Int) {
        bytes.append(contentsOf: String(value).utf8)
    }

    /// The shortest text that reads back to the same `Double` (Swift's `description` is valid JSON
    /// for every finite value); throws for NaN and ±∞.
    mutating func number(_ value: Double) throws(NonFiniteNumber) {
        guard value.isFinite else { throw NonFiniteNumber() }
        bytes.append(contentsOf: value.description.utf8)
    }

    mutating func bool(_ value: Bool) {
        value ? raw("true") : raw("false")
    }

    /// An object of `members`, each value written by `value`.
    mutating func object<Value>(
        _ members: [String: Value],
        _ value: (inout JSONByteWriter, Value) throws(NonFiniteNumber) -> Void
    ) throws(NonFiniteNumber) {
        bytes.append(UInt8(ascii: "{"))
        for (index, (key, member)) in members.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            string(key)
            bytes.append(UInt8(ascii: ":"))
            try value(&self, member)
        }
        bytes.append(UInt8(ascii: "}"))
    }

    mutating func numbers(_ values: [String: Double]) throws(NonFiniteNumber) {
        try object(values) { (writer, value) throws(NonFiniteNumber) in try writer.number(value) }
    }

    mutating func value(_ value: JSONValue) throws(NonFiniteNumber) {
        switch value {
        case .null: raw("null")
        case .bool(let flag): bool(flag)
        case .number(let number): try self.number(number)
        case .string(let text): string(text)
        case .array(let elements):
            bytes.append(UInt8(ascii: "["))
            for (index, element) in elements.enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                try self.value(element)
            }
            bytes.append(UInt8(ascii: "]"))
        case .object(let members):
            try object(members) { (writer, member) throws(NonFiniteNumber) in try writer.value(member) }
        }
    }
}

/// An object key as it appears in the text (the reader hands out keys without escapes only), matched
/// against literals: `switch key { case "trial": … }`.
struct JSONKey {
    let bytes: UnsafeBufferPointer<UInt8>

    static func ~= (pattern: StaticString, key: JSONKey) -> Bool {
        pattern.withUTF8Buffer { $0.elementsEqual(key.bytes) }
    }
}

/// A strict, allocation-light JSON reader over bytes for the codec's hot messages. Every method
/// returns nil (or false) at anything it does not read exactly as RFC 8259 and Foundation do, and
/// the codec then leaves the body to Foundation's decoder, which accepts it or names the defect.
/// So this reader only ever makes decoding faster, never more lenient.
struct JSONByteReader {
    private let bytes: UnsafeBufferPointer<UInt8>
    private var index = 0
    /// Nesting this deep is left to Foundation (whose limit is higher), so recursion stays shallow.
    private static let maximumDepth = 32
    private var depth = 0

    init(_ bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x0A, 0x0D, 0x09: index += 1
            default: return
            }
        }
    }

    private mutating func peek() -> UInt8? {
        skipWhitespace()
        return index < bytes.count ? bytes[index] : nil
    }

    /// Consumes `byte` (after whitespace) when it is next.
    mutating func consume(_ byte: UInt8) -> Bool {
        guard peek() == byte else { return false }
        index += 1
        return true
    }

    private mutating func literal(_ text: StaticString) -> Bool {
        text.withUTF8Buffer { word in
            guard index + word.count <= bytes.count,
                word.elementsEqual(UnsafeBufferPointer(rebasing: bytes[index..<index + word.count]))
            else { return false }
            index += word.count
            return true
        }
    }

    /// Whether only whitespace is left.
    mutating func isAtEnd() -> Bool { peek() == nil }

    /// Consumes `null` when it is next.
    mutating func null() -> Bool {
        peek() == UInt8(ascii: "n") && literal("null")
    }

    mutating func bool() -> Bool? {
        switch peek() {
        case UInt8(ascii: "t"): literal("true") ? true : nil
        case UInt8(ascii: "f"): literal("false") ? false : nil
        default: nil
        }
    }

    /// The bytes of a string without escapes, or nil (an escaped or invalid string is Foundation's).
    private mutating func plainStringBytes() -> UnsafeBufferPointer<UInt8>? {
        guard consume(UInt8(ascii: "\"")) else { return nil }
        let start = index
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                index += 1
                return UnsafeBufferPointer(rebasing: bytes[start..<index - 1])
            }
            if byte == UInt8(ascii: "\\") || byte < 0x20 { return nil }
            index += 1
        }
        return nil
    }

    /// A string value; escapes are rare on this wire and are left to Foundation.
    mutating func string() -> String? {
        guard let raw = plainStringBytes() else { return nil }
        return Self.text(raw)
    }

    /// The bytes as a string, or nil when they are not UTF-8. ASCII (every key and almost every
    /// value on this wire) takes the fast path: `String(validating:)` runs unspecialised, with a
    /// metadata lookup per call.
    private static func text(_ bytes: UnsafeBufferPointer<UInt8>) -> String? {
        bytes.allSatisfy({ $0 < 0x80 }) ? String(decoding: bytes, as: UTF8.self) : String(validating: bytes, as: UTF8.self)
    }

    /// The span of a number in the strict JSON grammar: `-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?`.
    private mutating func numberSpan() -> (text: UnsafeBufferPointer<UInt8>, isInteger: Bool)? {
        skipWhitespace()
        let start = index
        func digits(_ reader: inout JSONByteReader) -> Int {
            let first = reader.index
            while reader.index < reader.bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(reader.bytes[reader.index]) {
                reader.index += 1
            }
            return reader.index - first
        }
        if index < bytes.count && bytes[index] == UInt8(ascii: "-") { index += 1 }
        let integerStart = index
        let integerDigits = digits(&self)
        guard integerDigits > 0, integerDigits == 1 || bytes[integerStart] != UInt8(ascii: "0") else { return nil }
        var isInteger = true, zeroFraction = 0
        if index < bytes.count && bytes[index] == UInt8(ascii: ".") {
            index += 1
            let fractionStart = index
            guard digits(&self) > 0 else { return nil }
            isInteger = false
            if bytes[fractionStart..<index].allSatisfy({ $0 == UInt8(ascii: "0") }) { zeroFraction = index - fractionStart }
        }
        if index < bytes.count && (bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E")) {
            // Foundation's decoder (the reference) refuses `0.00e1`, valid JSON though it is: never
            // be more lenient than the reference.
            if integerDigits == 1 && bytes[integerStart] == UInt8(ascii: "0") && zeroFraction >= 2 { return nil }
            index += 1
            if index < bytes.count && (bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-")) { index += 1 }
            guard digits(&self) > 0 else { return nil }
            isInteger = false
        }
        return (UnsafeBufferPointer(rebasing: bytes[start..<index]), isInteger)
    }

    mutating func number() -> Double? {
        guard let (text, isInteger) = numberSpan() else { return nil }
        if isInteger && text.count <= 15, let value = Self.integerValue(text) { return Double(value) }
        return Double(String(decoding: text, as: UTF8.self)).flatMap { $0.isFinite ? $0 : nil }
    }

    /// An integer written without fraction or exponent (others are Foundation's to judge).
    mutating func integer() -> Int? {
        guard let (text, isInteger) = numberSpan(), isInteger, text.count <= 18 else { return nil }
        return Self.integerValue(text)
    }

    private static func integerValue(_ text: UnsafeBufferPointer<UInt8>) -> Int? {
        var value = 0, negative = false
        for byte in text {
            if byte == UInt8(ascii: "-") { negative = true; continue }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
        }
        return negative ? -value : value
    }

    /// Reads an object, handing each key to `member`, which must read its value. A member that
    /// returns false, or any syntax error, fails the whole object.
    mutating func object(_ member: (inout JSONByteReader, JSONKey) -> Bool) -> Bool {
        guard depth < Self.maximumDepth, consume(UInt8(ascii: "{")) else { return false }
        depth += 1
        defer { depth -= 1 }
        if consume(UInt8(ascii: "}")) { return true }
        repeat {
            guard let key = plainStringBytes(), key.allSatisfy({ $0 < 0x80 }) || String(validating: key, as: UTF8.self) != nil,
                consume(UInt8(ascii: ":")), member(&self, JSONKey(bytes: key))
            else { return false }
        } while consume(UInt8(ascii: ","))
        return consume(UInt8(ascii: "}"))
    }

    /// An array whose elements `element` reads; nil when any of them does not read.
    mutating func array<Element>(of element: (inout JSONByteReader) -> Element?) -> [Element]? {
        guard depth < Self.maximumDepth, consume(UInt8(ascii: "[")) else { return nil }
        depth += 1
        defer { depth -= 1 }
        var elements: [Element] = []
        if consume(UInt8(ascii: "]")) { return elements }
        repeat {
            guard let value = element(&self) else { return nil }
            elements.append(value)
        } while consume(UInt8(ascii: ","))
        return consume(UInt8(ascii: "]")) ? elements : nil
    }

    /// An object whose member values `member` reads, by key. A repeated key fails the read.
    mutating func members<Value>(_ member: (inout JSONByteReader) -> Value?) -> [String: Value]? {
        var values: [String: Value] = [:]
        let read = object { reader, key in
            guard let name = Self.text(key.bytes), values.index(forKey: name) == nil,
                let value = member(&reader)
            else { return false }
            values[name] = value
            return true
        }
        return read ? values : nil
    }

    mutating func numbers() -> [String: Double]? {
        members { $0.number() }
    }

    /// The text of an object, read and checked as ``value()`` reads it, kept byte for byte.
    mutating func objectText() -> String? {
        guard peek() == UInt8(ascii: "{") else { return nil }
        let start = index
        guard case .object? = value() else { return nil }
        return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
    }

    /// Any value.
    mutating func value() -> JSONValue? {
        switch peek() {
        case UInt8(ascii: "{"): return members { $0.value() }.map(JSONValue.object)
        case UInt8(ascii: "["): return array(of: { $0.value() }).map(JSONValue.array)
        case UInt8(ascii: "\""): return string().map(JSONValue.string)
        case UInt8(ascii: "t"), UInt8(ascii: "f"): return bool().map(JSONValue.bool)
        case UInt8(ascii: "n"): return null() ? .null : nil
        default: return number().map(JSONValue.number)
        }
    }
}
