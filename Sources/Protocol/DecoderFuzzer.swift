/// A seeded mutation fuzzer for the v1 decoder: it starts from valid encodings and flips,
/// truncates, inserts, deletes and duplicates bytes and frames, and feeds every result to
/// ``Codec/decode(_:)``, which must return or throw a ``DecodeError`` and never trap.
public struct DecoderFuzzer {
    /// What a run saw.
    public struct Report: Sendable, Equatable {
        public var frames = 0
        /// Inputs that still decoded (mutations that left a valid message).
        public var decoded = 0
        /// Rejections by ``DecodeError/code``.
        public var rejected: [String: Int] = [:]
    }

    private var state: UInt64
    private let seeds: [[[UInt8]]]
    private let codec = Codec()

    /// - Parameter seeds: valid messages to mutate.
    public init(seed: UInt64, seeds: [Message]) throws {
        state = seed
        self.seeds = try seeds.map { try Codec().encode($0) }
    }

    private mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    private mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(max(bound, 1))) }

    /// One input: random frames a quarter of the time, else a valid message mutated 1–4 times.
    public mutating func input() -> [[UInt8]] {
        if below(4) == 0 {
            return (0..<below(5)).map { _ in (0..<below(64)).map { _ in UInt8(truncatingIfNeeded: next()) } }
        }
        var frames = seeds[below(seeds.count)]
        for _ in 0...below(4) {
            let index = below(frames.count)
            var frame = frames[index]
            switch below(6) {
            case 0 where !frame.isEmpty: frame[below(frame.count)] = UInt8(truncatingIfNeeded: next())
            case 1 where !frame.isEmpty: frame.removeSubrange(below(frame.count)...)
            case 2: frame.insert(UInt8(truncatingIfNeeded: next()), at: below(frame.count + 1))
            case 3 where !frame.isEmpty: frame.remove(at: below(frame.count))
            case 4: frames.append(frame)
            default: frame += frame.prefix(below(frame.count + 1))
            }
            frames[index] = frame
        }
        return frames
    }

    /// Decodes `count` inputs (or until `keepGoing` says stop, checked every 1,000).
    public mutating func run(count: Int, keepGoing: () -> Bool = { true }) -> Report {
        var report = Report()
        for index in 0..<count {
            if index % 1000 == 0 && !keepGoing() { break }
            do {
                _ = try codec.decode(input())
                report.decoded += 1
            } catch {
                report.rejected[error.code, default: 0] += 1
            }
            report.frames += 1
        }
        return report
    }
}
