import Foundation
import Testing
@testable import Protocol

/// The hand-written JSON of the per-trial messages must be the same wire format as the `Codable`
/// reference, and never more lenient than it.
@Suite struct HotMessageCodecTests {
    let codec = Codec()
    static let hotTypes: Set<String> = ["heartbeat", "progress", "result", "assign", "ack", "wait"]
    static let hotMessages = everyMessage.filter { hotTypes.contains($0.typeName) }

    @Test func everyHotTypeIsCovered() {
        #expect(Set(Self.hotMessages.map(\.typeName)) == Self.hotTypes)
    }

    /// Written by hand, read by Foundation; written by Foundation, read by hand (not by falling back).
    @Test(arguments: hotMessages)
    func theWireFormatIsTheCodableOne(_ message: Message) throws {
        let type = Array(message.typeName.utf8)
        let fast = try #require(try HotMessageCodec.encode(message))
        #expect(try codec.decodeWithFoundation(type: type, body: fast) == message)
        let reference = try codec.encodeWithFoundation(message)
        #expect(HotMessageCodec.decode(type: type, body: reference) == message)
    }

    @Test func valuesThatNeedCareSurviveTheRoundTrip() throws {
        let lease = LeaseRef(trial: "t", attempt: 1, lease: "L")
        let numbers: [Double] = [0, -0.0, 1e-300, .leastNonzeroMagnitude, .greatestFiniteMagnitude, 0.1, 1.0 / 3, 123456789012345680, -42]
        let report = EpochReport(epoch: 1, lossMain: numbers[3], lossAux: numbers[6], weights: ["main": nil, "aux": 1e-7],
                                 valid: Dictionary(uniqueKeysWithValues: numbers.enumerated().map { ("m\($0.offset)", $0.element) }),
                                 test: [:], seconds: 0)
        let messages: [Message] = [
            .progress(Progress(lease: lease, report: report)),
            .assign(Assignment(lease: lease, number: 1, config: JSONObjectText(#"{"nested":[null,false,{"k":-1.5e-9}],"text":"ünïcödé ✓"}"#),
                               dataset: DatasetRef(fingerprint: "f", files: []))),
        ]
        for message in messages {
            let frames = try codec.encode(message)
            #expect(HotMessageCodec.decode(type: frames[1], body: frames[2]) == message)
            #expect(try codec.decodeWithFoundation(type: frames[1], body: frames[2]) == message)
        }
    }

    /// The coordinator's `assign`, with the stored config text spliced in, is the message the codec
    /// writes, byte for byte, and the config reaches the worker as the same text.
    @Test(arguments: [#"{"loss":"focal"}"#, #"{"alpha":0.5,"loss":"focal","nested":[1,{"k":"ü"}],"on":true}"#])
    func assignmentsWithASplicedConfigAreTheCodecsMessage(configJSON: String) throws {
        let dataset = DatasetRef(fingerprint: "f0", files: [DatasetFile(name: "items.tsv", size: 12, sha256: "ab"),
                                                            DatasetFile(name: "train.npy", size: 3, sha256: "cd")])
        let lease = LeaseRef(trial: "t1", attempt: 2, lease: "L-1")
        let frames = AssignmentEncoder(dataset: dataset).frames(lease: lease, number: 7, configJSON: configJSON)
        let message = Message.assign(Assignment(lease: lease, number: 7, config: JSONObjectText(configJSON), dataset: dataset))
        #expect(try codec.encode(message) == frames)
        guard case .assign(let received) = try codec.decode(frames) else {
            Issue.record("not an assign")
            return
        }
        #expect(received.config.text == configJSON)
        #expect(try codec.decodeWithFoundation(type: frames[1], body: frames[2]) == message)
    }

    /// Escapes are written by hand and read by Foundation (the hot reader leaves them to it).
    @Test func escapedStringsGoThroughTheReference() throws {
        let message = Message.ack(Ack(lease: LeaseRef(trial: "quote \" backslash \\ tab \t nul \u{0} é", attempt: 3, lease: "L\n"), kind: .failed))
        let frames = try codec.encode(message)
        #expect(HotMessageCodec.decode(type: frames[1], body: frames[2]) == nil)
        #expect(try codec.decode(frames) == message)
    }

    /// Bodies the reference rejects or reads differently are never read by hand.
    @Test(arguments: [
        #"{"retry_ms":5,"retry_ms":6}"#,  // a repeated key
        #"{"retry_ms":5.0}"#,  // an integer written with a fraction
        #"{"retry_ms":05}"#, #"{"retry_ms":-}"#, #"{"retry_ms":1e2}"#,
        #"{"retry_ms":5} x"#, #"{"retry_ms":5"#, #"{"retry_ms":5,}"#, #"["retry_ms",5]"#,
        "{\"retry_ms\":5,\"note\":\"\u{1}\"}",  // a raw control character
    ])
    func theHotReaderIsNeverMoreLenient(_ body: String) {
        #expect(HotMessageCodec.decode(type: Array("wait".utf8), body: Array(body.utf8)) == nil)
    }

    /// In a value or in a key, even one that is ignored.
    @Test(arguments: [19, 65])
    func invalidUTF8IsLeftToTheReference(at offset: Int) throws {
        var body = Array(#"{"lease":{"trial":"x","attempt":1,"lease":"L"},"kind":"result","note":1}"#.utf8)
        body[offset] = 0xFF
        #expect(HotMessageCodec.decode(type: Array("ack".utf8), body: body) == nil)
        #expect(throws: DecodeError.self) { try codec.decode([[1], Array("ack".utf8), body]) }
    }

    @Test func deepNestingIsLeftToTheReference() {
        let depth = 200
        let body = #"{"lease":{"trial":"t","attempt":1,"lease":"L"},"number":1,"config":{"x":"#
            + String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
            + #"},"dataset":{"fingerprint":"f","files":[]}}"#
        #expect(HotMessageCodec.decode(type: Array("assign".utf8), body: Array(body.utf8)) == nil)
    }

    @Test func nonFiniteNumbersCannotBeWritten() {
        let timing = TrialTiming(examplesPerSecond: .infinity, secondsPerEpoch: 0, totalSeconds: 0, threads: 1, blasCore: "x")
        #expect(throws: JSONByteWriter.NonFiniteNumber.self) {
            try HotMessageCodec.encode(.result(TrialOutcome(lease: LeaseRef(trial: "t", attempt: 1, lease: "L"), bestEpoch: 1,
                                                            valid: [:], test: [:], history: [], timing: timing)))
        }
    }

    /// 200,000 mutated hot messages: whenever the hand-written reader accepts one, the reference
    /// accepts it too and reads the same message.
    @Test func mutatedBodiesReadByHandAgreeWithTheReference() throws {
        var fuzzer = try DecoderFuzzer(seed: 0x407, seeds: Self.hotMessages)
        var readByHand = 0
        for _ in 0..<200_000 {
            let frames = fuzzer.input()
            guard frames.count == 3, let fast = HotMessageCodec.decode(type: frames[1], body: frames[2]) else { continue }
            readByHand += 1
            #expect(try codec.decodeWithFoundation(type: frames[1], body: frames[2]) == fast)
        }
        #expect(readByHand > 1_000)
    }
}
