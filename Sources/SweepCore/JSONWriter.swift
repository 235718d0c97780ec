import Vocabulary

/// Pretty-printed JSON written straight into bytes, for the large documents (a 10,000-row
/// leaderboard is 10 MB): no Foundation objects, no dynamic casts. Members come out in the order
/// they are written; callers write object keys in byte order, as `--json` outputs promise.
struct JSONWriter {
    private(set) var bytes: [UInt8] = []
    /// Per open container: whether nothing was written in it yet.
    private var empty: [Bool] = []
    /// A key was written and its value is next.
    private var afterKey = false
    /// Containers this text will sit in (for a fragment written apart), for its indentation.
    private let baseDepth: Int

    init(capacity: Int = 4096, baseDepth: Int = 0) {
        bytes.reserveCapacity(capacity)
        self.baseDepth = baseDepth
    }

    mutating func beginObject() { open(UInt8(ascii: "{")) }
    mutating func endObject() { close(UInt8(ascii: "}")) }
    mutating func beginArray() { open(UInt8(ascii: "[")) }
    mutating func endArray() { close(UInt8(ascii: "]")) }

    mutating func key(_ name: String) {
        nextMember()
        appendString(name)
        bytes.append(contentsOf: [UInt8(ascii: ":"), UInt8(ascii: " ")])
        afterKey = true
    }

    mutating func string(_ value: String) { beginValue(); appendString(value) }
    mutating func int(_ value: Int) { beginValue(); bytes.append(contentsOf: String(value).utf8) }
    mutating func bool(_ value: Bool) { beginValue(); bytes.append(contentsOf: (value ? "true" : "false").utf8) }
    mutating func null() { beginValue(); bytes.append(contentsOf: "null".utf8) }

    /// A value written apart (by a writer whose `baseDepth` is this one's depth) with a number
    /// (or null) between its two parts.
    mutating func fragment(_ before: ArraySlice<UInt8>, _ number: Int?, _ after: ArraySlice<UInt8>) {
        beginValue()
        bytes.append(contentsOf: before)
        if let number { bytes.append(contentsOf: String(number).utf8) } else { bytes.append(contentsOf: "null".utf8) }
        bytes.append(contentsOf: after)
    }

    /// Room for `count` more bytes.
    mutating func reserve(_ count: Int) { bytes.reserveCapacity(bytes.count + count) }

    /// Shortest round-trip form; NaN and infinities (which JSON cannot hold) as null.
    mutating func double(_ value: Double) {
        guard value.isFinite else { return null() }
        beginValue()
        bytes.append(contentsOf: value.description.utf8)
    }

    mutating func double(_ value: Double?) { if let value { double(value) } else { null() } }
    mutating func int(_ value: Int?) { if let value { int(value) } else { null() } }

    mutating func value(_ value: ConfigValue) {
        switch value {
        case .bool(let flag): bool(flag)
        case .int(let number): int(number)
        case .double(let number): double(number)
        case .string(let text): string(text)
        }
    }

    /// An object of numbers, keys in byte order.
    mutating func numbers(_ values: [String: Double]) {
        beginObject()
        for (name, value) in values.sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }) {
            key(name)
            double(value)
        }
        endObject()
    }

    mutating func strings(_ values: [String]) {
        beginArray()
        for value in values { string(value) }
        endArray()
    }

    private mutating func open(_ bracket: UInt8) {
        beginValue()
        bytes.append(bracket)
        empty.append(true)
    }

    private mutating func close(_ bracket: UInt8) {
        if empty.removeLast() == false { newline() }
        bytes.append(bracket)
    }

    private mutating func beginValue() {
        if afterKey { afterKey = false } else { nextMember() }
    }

    private mutating func nextMember() {
        guard let last = empty.indices.last else { return }
        if !empty[last] { bytes.append(UInt8(ascii: ",")) }
        empty[last] = false
        newline()
    }

    private mutating func newline() {
        bytes.append(UInt8(ascii: "\n"))
        bytes.append(contentsOf: repeatElement(UInt8(ascii: " "), count: 2 * (baseDepth + empty.count)))
    }

    private mutating func appendString(_ text: String) { CanonicalJSON.appendString(text, to: &bytes) }
}
