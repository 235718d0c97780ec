// The decoder fuzz target: a seeded mutation loop (see Protocol/DecoderFuzzer.swift) over valid
// encodings of every message type, for a number of seconds.
//   sweep-fuzz-decoder [SECONDS] [SEED]
import Foundation
import Protocol
import Vocabulary

let arguments = CommandLine.arguments
let seconds = arguments.count > 1 ? Double(arguments[1]) ?? 30 : 30
let seed = arguments.count > 2 ? UInt64(arguments[2]) ?? 1 : 1
let lease = LeaseRef(trial: "3f2a9c0d11e4b7a8", attempt: 2, lease: "L-000042")
let report = EpochRecord(
    epoch: 3, lossMain: 0.0123, lossAux: 6.2, weights: TaskWeights(main: 1, aux: 0.001, sMain: nil, sAux: nil),
    valid: RankingMetrics(values: ["ndcg@10": 0.11]), test: RankingMetrics(values: ["ndcg@10": 0.1]),
    seconds: 1.5, trainSeconds: nil)
let timing = TrainingTiming(examplesPerSecond: 4100, secondsPerEpoch: 0.9, totalSeconds: 18, threads: 2, blasCore: "Haswell")
let workerMessages: [WorkerMessage] = [
    .ready(Ready(buildID: "0123456789abcdef", worker: "w1", host: "h", cores: 2, blasThreads: 1, blasCore: "Haswell")),
    .ready(
        Ready(buildID: "0123456789abcdef", worker: "w1", host: "h", cores: 2, blasThreads: 1, blasCore: "Haswell", slots: 2, gpus: [0, 3])),
    .heartbeat(Heartbeat(progress: [TrialProgress(lease: lease, epoch: 4, step: 1234)])),
    .heartbeat(
        Heartbeat(progress: [TrialProgress(lease: lease, epoch: 4, step: 1234), TrialProgress(lease: lease, epoch: 1, step: 7)])),
    .progress(Progress(lease: lease, report: report)),
    .result(
        TrialOutcome(
            lease: lease,
            result: TrialResult(
                bestEpoch: 3, valid: ["ndcg@10": 0.11], test: ["ndcg@10": 0.1],
                history: [report], timing: timing))),
    .failed(Failure(lease: lease, reason: .diverged, detail: "loss is NaN", epoch: 7)),
    .bye(Bye(reason: "SIGTERM")),
    .fetch(Fetch(fingerprint: "ab", file: "train.npy", offset: 1 << 20)),
]
let coordinatorMessages: [CoordinatorMessage] = [
    .welcome(Welcome(heartbeatMilliseconds: 1000, liveness: 5, sweep: "s")),
    .assign(
        Assignment(
            lease: lease, number: 1, config: JSONObjectText(#"{"loss":"focal","lr":0.001}"#),
            dataset: DatasetRef(fingerprint: "ff", files: [FileDigest(name: "items.tsv", size: 10, sha256: "00")]))),
    .ack(Ack(lease: lease, kind: .result)),
    .chunk(Chunk(fingerprint: "ff", file: "train.npy", offset: 0, fileSize: 3, sha256: "aa", data: Data([0, 255, 7]))),
    .wait(Wait(retryMilliseconds: 500)),
    .cancel(Cancel(lease: lease, reason: "user")),
    .shutdown(Shutdown(reason: .stopping)),
    .error(ErrorReport(code: .notReady, message: "y")),
    .heartbeat(Heartbeat()),
]
var fuzzer = try DecoderFuzzer(seed: seed, workerMessages: workerMessages, coordinatorMessages: coordinatorMessages)
let deadline = Date().addingTimeInterval(seconds)
let result = fuzzer.run(count: .max) { Date() < deadline }
let rejected = result.rejected.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
print(
    "fuzzed \(result.frames) inputs in \(Int(seconds)) s (seed \(seed)): \(result.decoded) still decoded; rejected: \(rejected); no crash")
