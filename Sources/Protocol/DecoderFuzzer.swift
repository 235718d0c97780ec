import Vocabulary

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

    private var random: SplitMix64
    private let seeds: [[[UInt8]]]
    private let codec = Codec()

    /// - Parameter seeds: valid messages of both directions to mutate.
    public init(seed: UInt64, workerMessages: [WorkerMessage], coordinatorMessages: [CoordinatorMessage]) throws {
        random = SplitMix64(seed: seed)
        let codec = Codec()
        seeds = try workerMessages.map { try codec.encode($0) } + coordinatorMessages.map { try codec.encode($0) }
    }

    private mutating func next() -> UInt64 { random.next() }

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
            // Every input is read as each side reads: a coordinator and a worker.
            let frames = input()
            switch (
                Result { () throws(DecodeError) in try codec.decode(frames, as: WorkerMessage.self) },
                Result { () throws(DecodeError) in try codec.decode(frames, as: CoordinatorMessage.self) }
            ) {
            case (.success, _), (_, .success): report.decoded += 1
            case (.failure(let error), .failure): report.rejected[error.code.rawValue, default: 0] += 1
            }
            report.frames += 1
        }
        return report
    }
}
