import Foundation

/// The one JSON writer: text straight into bytes, no `Encoder` machinery, no Foundation objects.
/// Compact, for the canonical config text, the store's number objects and the wire's hot bodies;
/// pretty (two-space indents, `": "`), for the large documents (a 10,000-row leaderboard is 10 MB).
/// Everything else is written by `JSONEncoder`. Strings go through the one escaper
/// (``CanonicalJSON/appendString(_:to:)``), numbers in Swift's shortest round-trip form, which
/// Foundation's decoder reads back to the same values.
public struct JSONByteWriter {
    /// A value JSON cannot hold.
    public struct NonFiniteNumber: Error, CustomStringConvertible {
        public var description: String { "NaN and ±∞ cannot be written as JSON numbers" }

        @inlinable public init() {}
    }

    /// The text written so far.
    public var bytes: [UInt8] { output }
    @usableFromInline var output: [UInt8] = []
    /// Whether containers opened with ``beginObject()``/``beginArray()`` put each member on a line.
    @usableFromInline let pretty: Bool
    /// Containers this text will sit in (for a pretty fragment written apart), for its indentation.
    @usableFromInline let baseDepth: Int
    /// Per open container: whether nothing was written in it yet.
    @usableFromInline var empty: [Bool] = []
    /// A key was written and its value is next.
    @usableFromInline var afterKey = false

    /// A compact writer (`{"a":1,"b":2}`).
    @inlinable public init(capacity: Int = 256) {
        self.init(capacity: capacity, pretty: false, baseDepth: 0)
    }

    /// A pretty writer; `baseDepth` counts the containers a fragment written apart will sit in.
    @inlinable public static func pretty(capacity: Int = 4096, baseDepth: Int = 0) -> JSONByteWriter {
        JSONByteWriter(capacity: capacity, pretty: true, baseDepth: baseDepth)
    }

    @usableFromInline init(capacity: Int, pretty: Bool, baseDepth: Int) {
        output.reserveCapacity(capacity)
        self.pretty = pretty
        self.baseDepth = baseDepth
    }

    // MARK: Containers: commas (and, when pretty, lines) placed by the writer

    @inlinable public mutating func beginObject() { open(UInt8(ascii: "{")) }
    @inlinable public mutating func endObject() { close(UInt8(ascii: "}")) }
    @inlinable public mutating func beginArray() { open(UInt8(ascii: "[")) }
    @inlinable public mutating func endArray() { close(UInt8(ascii: "]")) }

    /// An object member's key; its value is written next.
    @inlinable public mutating func key(_ name: String) {
        nextMember()
        CanonicalJSON.appendString(name, to: &output)
        output.append(UInt8(ascii: ":"))
        if pretty { output.append(UInt8(ascii: " ")) }
        afterKey = true
    }

    // MARK: Values

    @inlinable public mutating func string(_ text: String) {
        beginValue()
        CanonicalJSON.appendString(text, to: &output)
    }

    @inlinable public mutating func integer(_ value: Int) {
        beginValue()
        output.append(contentsOf: String(value).utf8)
    }

    @inlinable public mutating func bool(_ value: Bool) {
        beginValue()
        output.append(contentsOf: (value ? "true" : "false").utf8)
    }

    @inlinable public mutating func null() {
        beginValue()
        output.append(contentsOf: "null".utf8)
    }

    /// The shortest text that reads back to the same `Double` (Swift's `description` is valid JSON
    /// for every finite value); throws for NaN and ±∞.
    @inlinable public mutating func number(_ value: Double) throws(NonFiniteNumber) {
        guard value.isFinite else { throw NonFiniteNumber() }
        beginValue()
        output.append(contentsOf: value.description.utf8)
    }

    /// A document's number: nil, NaN and ±∞ (which JSON cannot hold) as `null`.
    @inlinable public mutating func numberOrNull(_ value: Double?) {
        guard let value, value.isFinite else { return null() }
        beginValue()
        output.append(contentsOf: value.description.utf8)
    }

    @inlinable public mutating func integerOrNull(_ value: Int?) {
        if let value { integer(value) } else { null() }
    }

    /// An object of finite numbers, keys in byte order; throws for NaN and ±∞.
    @inlinable public mutating func numbers(_ values: [String: Double]) throws(NonFiniteNumber) {
        beginObject()
        for (name, value) in Self.inByteOrder(values) {
            key(name)
            try number(value)
        }
        endObject()
    }

    /// A document's object of numbers, keys in byte order, NaN and ±∞ as `null`.
    @inlinable public mutating func numbersOrNull(_ values: [String: Double]) {
        beginObject()
        for (name, value) in Self.inByteOrder(values) {
            key(name)
            numberOrNull(value)
        }
        endObject()
    }

    @usableFromInline static func inByteOrder(_ values: [String: Double]) -> [(key: String, value: Double)] {
        values.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
    }

    @inlinable public mutating func strings(_ values: [String]) {
        beginArray()
        for value in values { string(value) }
        endArray()
    }

    /// A config value as a document shows it (a number JSON cannot hold as `null`).
    @inlinable public mutating func value(_ value: ConfigValue) {
        switch value {
        case .bool(let flag): bool(flag)
        case .int(let number): integer(number)
        case .double(let number): numberOrNull(number)
        case .string(let text): string(text)
        }
    }

    /// Any JSON value; throws for a number JSON cannot hold.
    @inlinable public mutating func value(_ value: JSONValue) throws(NonFiniteNumber) {
        switch value {
        case .null: null()
        case .bool(let flag): bool(flag)
        case .number(let number): try self.number(number)
        case .string(let text): string(text)
        case .array(let elements):
            beginArray()
            for element in elements { try self.value(element) }
            endArray()
        case .object(let members):
            beginObject()
            for (name, member) in members {
                key(name)
                try self.value(member)
            }
            endObject()
        }
    }

    // MARK: Text the caller lays out itself (the wire's hot bodies, a document's cached rows)

    /// Punctuation and keys written as they are, e.g. `{"trial":`.
    @inlinable public mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { output.append(contentsOf: $0) }
    }

    /// Bytes that are already JSON text, written as they are.
    @inlinable public mutating func append(_ text: some Collection<UInt8>) {
        output.append(contentsOf: text)
    }

    /// A value written apart (by a pretty writer whose `baseDepth` is this one's depth) with a
    /// number (or null) between its two parts.
    @inlinable public mutating func fragment(_ before: ArraySlice<UInt8>, _ number: Int?, _ after: ArraySlice<UInt8>) {
        beginValue()
        output.append(contentsOf: before)
        if let number { output.append(contentsOf: String(number).utf8) } else { output.append(contentsOf: "null".utf8) }
        output.append(contentsOf: after)
    }

    /// Room for `count` more bytes.
    @inlinable public mutating func reserve(_ count: Int) { output.reserveCapacity(output.count + count) }

    @usableFromInline mutating func open(_ bracket: UInt8) {
        beginValue()
        output.append(bracket)
        empty.append(true)
    }

    @usableFromInline mutating func close(_ bracket: UInt8) {
        if empty.removeLast() == false { newline() }
        output.append(bracket)
    }

    @usableFromInline mutating func beginValue() {
        if afterKey { afterKey = false } else { nextMember() }
    }

    @usableFromInline mutating func nextMember() {
        guard let last = empty.indices.last else { return }
        if !empty[last] { output.append(UInt8(ascii: ",")) }
        empty[last] = false
        newline()
    }

    @usableFromInline mutating func newline() {
        guard pretty else { return }
        output.append(UInt8(ascii: "\n"))
        output.append(contentsOf: repeatElement(UInt8(ascii: " "), count: 2 * (baseDepth + empty.count)))
    }
}

/// Stores a member's value read once: false for a value that did not read or a key seen before
/// (which Foundation's decoder then judges).
@inlinable public func readOnce<T>(_ field: inout T?, _ value: T?) -> Bool {
    guard field == nil, let value else { return false }
    field = value
    return true
}

/// An object key as it appears in the text (the reader hands out keys without escapes only), matched
/// against literals: `switch key { case "trial": … }`.
public struct JSONKey {
    public let bytes: UnsafeBufferPointer<UInt8>

    @inlinable public init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    @inlinable public static func ~= (pattern: StaticString, key: JSONKey) -> Bool {
        pattern.withUTF8Buffer { $0.elementsEqual(key.bytes) }
    }
}

/// The one hand JSON reader: strict and allocation-light, over bytes, for the wire's hot messages
/// and the store's configs, number objects, timings and epoch records. Every method returns nil
/// (or false) at anything it does not read exactly as RFC 8259 and Foundation do, and the caller
/// then leaves the text to Foundation's decoder, which accepts it or names the defect. So this
/// reader only ever makes decoding faster, never more lenient.
public struct JSONByteReader {
    @usableFromInline let bytes: UnsafeBufferPointer<UInt8>
    @usableFromInline var index = 0
    /// Nesting this deep is left to Foundation (whose limit is higher), so recursion stays shallow.
    @usableFromInline static let maximumDepth = 32
    @usableFromInline var depth = 0

    @inlinable public init(_ bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    @usableFromInline mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x0A, 0x0D, 0x09: index += 1
            default: return
            }
        }
    }

    @usableFromInline mutating func peek() -> UInt8? {
        skipWhitespace()
        return index < bytes.count ? bytes[index] : nil
    }

    /// Consumes `byte` (after whitespace) when it is next.
    @inlinable public mutating func consume(_ byte: UInt8) -> Bool {
        guard peek() == byte else { return false }
        index += 1
        return true
    }

    @usableFromInline mutating func literal(_ text: StaticString) -> Bool {
        text.withUTF8Buffer { word in
            guard index + word.count <= bytes.count,
                word.elementsEqual(UnsafeBufferPointer(rebasing: bytes[index..<index + word.count]))
            else { return false }
            index += word.count
            return true
        }
    }

    /// Whether only whitespace is left.
    @inlinable public mutating func isAtEnd() -> Bool { peek() == nil }

    /// Consumes `null` when it is next.
    @inlinable public mutating func null() -> Bool {
        peek() == UInt8(ascii: "n") && literal("null")
    }

    @inlinable public mutating func bool() -> Bool? {
        switch peek() {
        case UInt8(ascii: "t"): literal("true") ? true : nil
        case UInt8(ascii: "f"): literal("false") ? false : nil
        default: nil
        }
    }

    /// The bytes of a string without escapes, or nil (an escaped or invalid string is Foundation's).
    @usableFromInline mutating func plainStringBytes() -> UnsafeBufferPointer<UInt8>? {
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
    @inlinable public mutating func string() -> String? {
        guard let raw = plainStringBytes() else { return nil }
        return Self.text(raw)
    }

    /// The bytes as a string, or nil when they are not UTF-8. ASCII (every key and almost every
    /// value on this wire) takes the fast path: `String(validating:)` runs unspecialised, with a
    /// metadata lookup per call.
    @usableFromInline static func text(_ bytes: UnsafeBufferPointer<UInt8>) -> String? {
        bytes.allSatisfy({ $0 < 0x80 }) ? String(decoding: bytes, as: UTF8.self) : String(validating: bytes, as: UTF8.self)
    }

    /// The span of a number in the strict JSON grammar: `-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?`.
    @usableFromInline mutating func numberSpan() -> (text: UnsafeBufferPointer<UInt8>, isInteger: Bool)? {
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

    @inlinable public mutating func number() -> Double? {
        guard let (text, isInteger) = numberSpan() else { return nil }
        if isInteger && text.count <= 15, let value = Self.integerValue(text) { return Double(value) }
        return Double(String(decoding: text, as: UTF8.self)).flatMap { $0.isFinite ? $0 : nil }
    }

    /// A number's text as written, and whether it has neither fraction nor exponent.
    @inlinable public mutating func numberText() -> (text: String, isInteger: Bool)? {
        numberSpan().map { (String(decoding: $0.text, as: UTF8.self), $0.isInteger) }
    }

    /// An integer written without fraction or exponent (others are Foundation's to judge).
    @inlinable public mutating func integer() -> Int? {
        guard let (text, isInteger) = numberSpan(), isInteger, text.count <= 18 else { return nil }
        return Self.integerValue(text)
    }

    @usableFromInline static func integerValue(_ text: UnsafeBufferPointer<UInt8>) -> Int? {
        var value = 0, negative = false
        for byte in text {
            if byte == UInt8(ascii: "-") { negative = true; continue }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
        }
        return negative ? -value : value
    }

    /// Reads an object, handing each key to `member`, which must read its value. A member that
    /// returns false, or any syntax error, fails the whole object.
    @inlinable public mutating func object(_ member: (inout JSONByteReader, JSONKey) -> Bool) -> Bool {
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
    @inlinable public mutating func array<Element>(of element: (inout JSONByteReader) -> Element?) -> [Element]? {
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
    @inlinable public mutating func members<Value>(_ member: (inout JSONByteReader) -> Value?) -> [String: Value]? {
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

    @inlinable public mutating func numbers() -> [String: Double]? {
        members { $0.number() }
    }

    /// The text of an object, read and checked as ``value()`` reads it, kept byte for byte.
    @inlinable public mutating func objectText() -> String? {
        guard peek() == UInt8(ascii: "{") else { return nil }
        let start = index
        guard case .object? = value() else { return nil }
        return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
    }

    /// Reads `text` whole with `body`: nil when `body` does, or when more than whitespace is left.
    @inlinable public static func read<Value>(_ text: String, _ body: (inout JSONByteReader) -> Value?) -> Value? {
        var text = text
        return text.withUTF8 { bytes in
            var reader = JSONByteReader(bytes)
            guard let value = body(&reader), reader.isAtEnd() else { return nil }
            return value
        }
    }

    /// Any value.
    @inlinable public mutating func value() -> JSONValue? {
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
