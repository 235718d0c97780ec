import Foundation
import Testing
import Vocabulary

@testable import Protocol

/// The hand-written JSON of the per-trial messages must be the same wire format as the `Codable`
/// reference, and never more lenient than it.
@Suite struct HotMessageCodecTests {
    let codec = Codec()
    static let hotTypes: Set<String> = ["heartbeat", "progress", "result", "assign", "ack", "wait"]
    static let hotWorkerMessages = workerMessages.filter { hotTypes.contains($0.typeName) }
    static let hotCoordinatorMessages = coordinatorMessages.filter { hotTypes.contains($0.typeName) }

    @Test func everyHotTypeIsCovered() throws {
        #expect(Set(Self.hotWorkerMessages.map(\.typeName)).union(Self.hotCoordinatorMessages.map(\.typeName)) == Self.hotTypes)
        for message in workerMessages where !Self.hotTypes.contains(message.typeName) { #expect(try message.hotBody() == nil) }
        for message in coordinatorMessages where !Self.hotTypes.contains(message.typeName) { #expect(try message.hotBody() == nil) }
    }

    /// Written by hand, read by Foundation; written by Foundation, read by hand (not by falling back).
    func sameWireFormat<Message: WireMessage>(_ message: Message) throws {
        let type = Array(message.typeName.utf8)
        let fast = try #require(try message.hotBody())
        #expect(try codec.decodeWithFoundation(type: type, body: fast) == message)
        let reference = try codec.encodeWithFoundation(message)
        #expect(Message.hotMessage(type: type, body: reference) == message)
    }

    @Test(arguments: hotWorkerMessages)
    func aWorkersHotMessagesAreTheCodableOnes(_ message: WorkerMessage) throws { try sameWireFormat(message) }

    @Test(arguments: hotCoordinatorMessages)
    func aCoordinatorsHotMessagesAreTheCodableOnes(_ message: CoordinatorMessage) throws { try sameWireFormat(message) }

    @Test func valuesThatNeedCareSurviveTheRoundTrip() throws {
        let lease = LeaseRef(trial: "t", attempt: 1, lease: "L")
        let numbers: [Double] = [0, -0.0, 1e-300, .leastNonzeroMagnitude, .greatestFiniteMagnitude, 0.1, 1.0 / 3, 123456789012345680, -42]
        let report = EpochRecord(
            epoch: 1, lossMain: numbers[3], lossAux: numbers[6], weights: TaskWeights(main: numbers[4], aux: 1e-7, sMain: -0.0, sAux: nil),
            valid: RankingMetrics(values: Dictionary(uniqueKeysWithValues: numbers.enumerated().map { ("m\($0.offset)", $0.element) })),
            test: RankingMetrics(values: [:]), seconds: 0, trainSeconds: nil)
        let progress = WorkerMessage.progress(Progress(lease: lease, report: report))
        let frames = try codec.encode(progress)
        #expect(WorkerMessage.hotMessage(type: frames[1], body: frames[2]) == progress)
        #expect(try codec.decodeWithFoundation(type: frames[1], body: frames[2]) == progress)
        let assign = CoordinatorMessage.assign(
            Assignment(
                lease: lease, number: 1, config: JSONObjectText(#"{"nested":[null,false,{"k":-1.5e-9}],"text":"ünïcödé ✓"}"#),
                dataset: DatasetRef(fingerprint: "f", files: [])))
        let assignFrames = try codec.encode(assign)
        #expect(CoordinatorMessage.hotMessage(type: assignFrames[1], body: assignFrames[2]) == assign)
        #expect(try codec.decodeWithFoundation(type: assignFrames[1], body: assignFrames[2]) == assign)
    }

    /// The coordinator's `assign`, with the stored config text spliced in, is the message the codec
    /// writes, byte for byte, and the config reaches the worker as the same text.
    @Test(arguments: [#"{"loss":"focal"}"#, #"{"alpha":0.5,"loss":"focal","nested":[1,{"k":"ü"}],"on":true}"#])
    func assignmentsWithASplicedConfigAreTheCodecsMessage(configJSON: String) throws {
        let dataset = DatasetRef(
            fingerprint: "f0",
            files: [
                FileDigest(name: "items.tsv", size: 12, sha256: "ab"),
                FileDigest(name: "train.npy", size: 3, sha256: "cd"),
            ])
        let lease = LeaseRef(trial: "t1", attempt: 2, lease: "L-1")
        let frames = try AssignmentEncoder(dataset: dataset).frames(lease: lease, number: 7, configJSON: configJSON)
        let message = CoordinatorMessage.assign(Assignment(lease: lease, number: 7, config: JSONObjectText(configJSON), dataset: dataset))
        #expect(try codec.encode(message) == frames)
        guard case .assign(let received) = try codec.decode(frames, as: CoordinatorMessage.self) else {
            Issue.record("not an assign")
            return
        }
        #expect(received.config.text == configJSON)
        #expect(try codec.decodeWithFoundation(type: frames[1], body: frames[2]) == message)
    }

    /// Escapes are written by hand and read by Foundation (the hot reader leaves them to it).
    @Test func escapedStringsGoThroughTheReference() throws {
        let message = CoordinatorMessage.ack(
            Ack(lease: LeaseRef(trial: "quote \" backslash \\ tab \t nul \u{0} é", attempt: 3, lease: "L\n"), kind: .failed))
        let frames = try codec.encode(message)
        #expect(CoordinatorMessage.hotMessage(type: frames[1], body: frames[2]) == nil)
        #expect(try codec.decode(frames, as: CoordinatorMessage.self) == message)
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
        #expect(CoordinatorMessage.hotMessage(type: Array("wait".utf8), body: Array(body.utf8)) == nil)
    }

    /// In a value or in a key, even one that is ignored.
    @Test(arguments: [19, 65])
    func invalidUTF8IsLeftToTheReference(at offset: Int) throws {
        var body = Array(#"{"lease":{"trial":"x","attempt":1,"lease":"L"},"kind":"result","note":1}"#.utf8)
        body[offset] = 0xFF
        #expect(CoordinatorMessage.hotMessage(type: Array("ack".utf8), body: body) == nil)
        #expect(throws: DecodeError.self) { try codec.decode([[1], Array("ack".utf8), body], as: CoordinatorMessage.self) }
    }

    @Test func deepNestingIsLeftToTheReference() {
        let depth = 200
        let body =
            #"{"lease":{"trial":"t","attempt":1,"lease":"L"},"number":1,"config":{"x":"#
            + String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
            + #"},"dataset":{"fingerprint":"f","files":[]}}"#
        #expect(CoordinatorMessage.hotMessage(type: Array("assign".utf8), body: Array(body.utf8)) == nil)
    }

    @Test func nonFiniteNumbersCannotBeWritten() {
        let timing = TrainingTiming(examplesPerSecond: .infinity, secondsPerEpoch: 0, totalSeconds: 0, threads: 1, blasCore: "x")
        #expect(throws: JSONByteWriter.NonFiniteNumber.self) {
            try WorkerMessage.result(
                TrialOutcome(
                    lease: LeaseRef(trial: "t", attempt: 1, lease: "L"),
                    result: TrialResult(
                        bestEpoch: 1, valid: [:], test: [:], history: [], timing: timing))
            ).hotBody()
        }
    }

    /// 200,000 mutated hot messages: whenever the hand-written reader accepts one, the reference
    /// accepts it too and reads the same message.
    @Test func mutatedBodiesReadByHandAgreeWithTheReference() throws {
        var fuzzer = try DecoderFuzzer(
            seed: 0x407, workerMessages: Self.hotWorkerMessages, coordinatorMessages: Self.hotCoordinatorMessages)
        var readByHand = 0
        for _ in 0..<200_000 {
            let frames = fuzzer.input()
            guard frames.count == 3 else { continue }
            if let fast = WorkerMessage.hotMessage(type: frames[1], body: frames[2]) {
                readByHand += 1
                #expect(try codec.decodeWithFoundation(type: frames[1], body: frames[2]) == fast)
            }
            if let fast = CoordinatorMessage.hotMessage(type: frames[1], body: frames[2]) {
                readByHand += 1
                #expect(try codec.decodeWithFoundation(type: frames[1], body: frames[2]) == fast)
            }
        }
        #expect(readByHand > 1_000)
    }
}
