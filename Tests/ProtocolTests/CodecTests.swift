import Foundation
import Testing
import Vocabulary

@testable import Protocol

let testLease = LeaseRef(trial: "3f2a9c0d11e4b7a8", attempt: 2, lease: "L-000042")

/// One value of every type a worker sends, with every optional field both set and unset somewhere.
let workerMessages: [WorkerMessage] = {
    let lease = testLease
    let report = EpochRecord(
        epoch: 3, lossMain: 0.0123, lossAux: 6.2, weights: TaskWeights(main: 1, aux: 0.001, sMain: nil, sAux: nil),
        valid: RankingMetrics(values: ["ndcg@10": 0.11, "recall@10": 0.2]), test: RankingMetrics(values: ["ndcg@10": 0.1]),
        seconds: 1.5, trainSeconds: 1.25)
    let single = EpochRecord(
        epoch: 1, lossMain: 0.5, lossAux: nil, weights: .singleTask,
        valid: RankingMetrics(values: [:]), test: RankingMetrics(values: [:]), seconds: 0.25, trainSeconds: nil)
    // The uncertainty balancer's epoch: its log-variances travel with the weights.
    let uncertainty = EpochRecord(
        epoch: 2, lossMain: 0.4, lossAux: 6.1, weights: TaskWeights(main: 0.6, aux: 0.01, sMain: -0.5, sAux: 2.25),
        valid: RankingMetrics(values: ["ndcg@10": 0.12]), test: RankingMetrics(values: ["ndcg@10": 0.1]), seconds: 1, trainSeconds: 0.75)
    // A program's epoch: no loss reported, its own numbers kept.
    let program = EpochRecord(
        epoch: 2, lossMain: nil, lossAux: nil, weights: .singleTask,
        valid: RankingMetrics(values: ["f1-macro": 0.7]), test: RankingMetrics(values: ["f1-macro": 0.68]), seconds: 12.5,
        trainSeconds: nil, extra: ["lr": 0.0009, "grad_norm": 3.25])
    return [
        .ready(Ready(buildID: "0123456789abcdef", worker: "w1", host: "hostA", cores: 2, blasThreads: 1, blasCore: "Haswell")),
        .ready(
            Ready(
                buildID: "0123456789abcdef", worker: "gpu-1", host: "hostB", cores: 8, blasThreads: 1, blasCore: "Haswell", programs: true)),
        .ready(
            Ready(
                buildID: "0123456789abcdef", worker: "gpu-4", host: "hostB", cores: 32, blasThreads: 4, blasCore: "Haswell", programs: true,
                slots: 3, gpus: [0, 1, 3])),
        .heartbeat(Heartbeat()),
        .heartbeat(Heartbeat(progress: [TrialProgress(lease: lease, epoch: 4, step: 1234)])),
        .heartbeat(
            Heartbeat(
                progress: [
                    TrialProgress(lease: lease, epoch: 4, step: 1234),
                    TrialProgress(lease: LeaseRef(trial: "0011223344556677", attempt: 1, lease: "L-000043"), epoch: 1, step: 9),
                ], wants: 0)),
        .heartbeat(Heartbeat(wants: 1)),
        .progress(Progress(lease: lease, report: report)),
        .progress(Progress(lease: lease, report: program)),
        .progress(Progress(lease: lease, report: uncertainty)),
        .result(
            TrialOutcome(
                lease: lease,
                result: TrialResult(
                    bestEpoch: 3, valid: ["ndcg@10": 0.11], test: ["ndcg@10": 0.1], history: [single, uncertainty, report],
                    timing: TrainingTiming(examplesPerSecond: 4100, secondsPerEpoch: 0.9, totalSeconds: 18, threads: 2, blasCore: "Haswell")
                ))),
        .failed(Failure(lease: lease, reason: .diverged, detail: "loss is NaN", epoch: 7)),
        .failed(Failure(lease: lease, reason: .datasetMismatch, detail: "fingerprint differs")),
        .bye(Bye(reason: "SIGTERM")),
        .fetch(Fetch(fingerprint: "ab", file: "train.npy", offset: 1 << 20)),
    ]
}()

/// One value of every type a coordinator sends.
let coordinatorMessages: [CoordinatorMessage] = {
    let lease = testLease
    return [
        .heartbeat(Heartbeat()),
        .welcome(Welcome(heartbeatMilliseconds: 1000, liveness: 5, sweep: "loss-search")),
        .assign(
            Assignment(
                lease: lease, number: 17,
                config: JSONObjectText(#"{"focal_gamma":2,"loss":"focal","rnn":true}"#),
                dataset: DatasetRef(fingerprint: "ff", files: [FileDigest(name: "items.tsv", size: 10, sha256: "00")]))),
        .assign(
            Assignment(
                lease: lease, number: 18,
                config: JSONObjectText(#"{"lr":0.01,"program":true,"seed":1,"select_metric":"f1-macro"}"#),
                dataset: DatasetRef(fingerprint: "", files: []),
                program: ProgramRef(
                    fingerprint: "0063", files: [FileDigest(name: "train.py", size: 5, sha256: "01")],
                    command: ["python3", "train.py", "--out", "{out}"], config: "json", env: ["CUDA_VISIBLE_DEVICES"]))),
        .ack(Ack(lease: lease, kind: .result)),
        .chunk(Chunk(fingerprint: "ff", file: "train.npy", offset: 0, fileSize: 3, sha256: "aa", data: Data([0, 255, 7]))),
        .wait(Wait(retryMilliseconds: 500)),
        .cancel(Cancel(lease: lease, reason: "cancelled by user")),
        .shutdown(Shutdown(reason: .stopping)),
        .shutdown(Shutdown(reason: .finished)),
        .error(ErrorReport(code: .buildMismatch, message: "different trainer")),
    ]
}()

@Suite struct CodecTests {
    let codec = Codec()

    @Test func everyTypeIsCovered() {
        #expect(Set(workerMessages.map(\.typeName)).union(coordinatorMessages.map(\.typeName)) == Set(Codec.typeNames))
        #expect(Codec.typeNames.count == 15)
    }

    func roundTrip<Message: WireMessage>(_ message: Message) throws {
        let frames = try codec.encode(message)
        #expect(frames.count == 3)
        #expect(frames[0] == [1])
        #expect(String(decoding: frames[1], as: UTF8.self) == message.typeName)
        #expect(try codec.decode(frames, as: Message.self) == message)
    }

    @Test(arguments: workerMessages)
    func workerMessagesRoundTrip(_ message: WorkerMessage) throws { try roundTrip(message) }

    @Test(arguments: coordinatorMessages)
    func coordinatorMessagesRoundTrip(_ message: CoordinatorMessage) throws { try roundTrip(message) }

    /// Each side reads only what the other sends: a coordinator's `wait` is an unknown type to a
    /// coordinator, a worker's `ready` to a worker (`heartbeat` goes both ways).
    @Test func eachSideReadsOnlyTheOtherSidesMessages() throws {
        let wait = try codec.encode(CoordinatorMessage.wait(Wait(retryMilliseconds: 5)))
        #expect(throws: DecodeError.unknownType("wait")) { try codec.decode(wait, as: WorkerMessage.self) }
        let ready = try codec.encode(workerMessages[0])
        #expect(throws: DecodeError.unknownType("ready")) { try codec.decode(ready, as: CoordinatorMessage.self) }
        let heartbeat = try codec.encode(WorkerMessage.heartbeat(Heartbeat()))
        #expect(try codec.decode(heartbeat, as: CoordinatorMessage.self) == .heartbeat(Heartbeat()))
    }

    @Test func bodyUsesSnakeCaseKeys() throws {
        let frames = try codec.encode(workerMessages[0])
        let json = String(decoding: frames[2], as: UTF8.self)
        #expect(json.contains("\"build_id\":\"0123456789abcdef\""))
        #expect(json.contains("\"blas_core\":\"Haswell\""))
        #expect(json.contains("\"protocol\":1"))
    }

    @Test func typedErrors() throws {
        let good = try codec.encode(CoordinatorMessage.wait(Wait(retryMilliseconds: 5)))
        func decode(_ frames: [[UInt8]], with codec: Codec = Codec()) throws(DecodeError) -> CoordinatorMessage { try codec.decode(frames) }
        #expect(throws: DecodeError.wrongFrameCount(2)) { try decode(Array(good.prefix(2))) }
        #expect(throws: DecodeError.wrongFrameCount(4)) { try decode(good + [[]]) }
        #expect(throws: DecodeError.unknownVersion([2])) { try decode([[2], good[1], good[2]]) }
        #expect(throws: DecodeError.unknownVersion([])) { try decode([[], good[1], good[2]]) }
        #expect(throws: DecodeError.unknownType("launch")) { try decode([[1], Array("launch".utf8), good[2]]) }
        #expect(throws: DecodeError.tooLarge(bytes: good[2].count, limit: 4)) { try decode(good, with: Codec(maximumBodyBytes: 4)) }
        #expect(throws: DecodeError.malformedBody(type: "wait", detail: "missing field retry_ms at body")) {
            try decode([[1], Array("wait".utf8), Array("{}".utf8)])
        }
        do {
            _ = try decode([[1], Array("assign".utf8), Array("{\"lease\":{\"trial\":1}}".utf8)])
            Issue.record("a malformed assign decoded")
        } catch {
            #expect(error.code == .malformedBody)
            #expect(error.description.contains("lease.trial"))
        }
    }

    @Test func nanCannotBeEncoded() {
        let report = EpochRecord(
            epoch: 1, lossMain: .nan, lossAux: nil, weights: .singleTask, valid: RankingMetrics(values: [:]),
            test: RankingMetrics(values: [:]), seconds: 0, trainSeconds: nil)
        #expect(throws: (any Error).self) {
            try codec.encode(WorkerMessage.progress(Progress(lease: LeaseRef(trial: "t", attempt: 1, lease: "l"), report: report)))
        }
    }

    /// 100,000 random and mutated frame sequences: the decoder returns or throws a DecodeError, never traps.
    @Test func decoderSurvivesRandomAndMutatedFrames() throws {
        var fuzzer = try DecoderFuzzer(seed: 0xC0DEC, workerMessages: workerMessages, coordinatorMessages: coordinatorMessages)
        let report = fuzzer.run(count: 100_000)
        #expect(report.frames == 100_000)
        // Some mutations leave a valid message (e.g. a changed digit); most do not, for every reason.
        #expect(report.decoded > 0 && report.decoded < 50_000)
        #expect(Set(report.rejected.keys) == ["bad_frames", "bad_version", "unknown_type", "malformed_body"])
    }
}
