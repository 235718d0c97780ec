// Training throughput of the ReDial-shaped model (D = 384, hidden 512, N = 6,924, batch 32) in its
// variants (plain, +rnn, +multitask, +rnn+multitask with GradNorm, plain with the co-occurrence
// prior, plain with it and the nearest dialogues): examples/s, seconds/epoch, a
// per-step time breakdown, and, for the plain FFN, the machine's limit for the same work.
//
//   swift run -c release sweep-bench-training [--data DIR] [--threads 1,2] [--epochs 3] [--repeats 3]
//       [--loss weighted_bce] [--variants plain,rnn,multitask,rnn-multitask,all,cooc,prior]
//
// The runs are interleaved (repeat 1 of every variant and thread count, then repeat 2, …) so that
// a shared machine's slow spells spread over all of them and the ratios between variants hold.
// Without --data it uses the repository's data/redial when present, else the synthetic `redial` preset.
import Dispatch
import Foundation
import ML
import Vocabulary

let options: [String: String] = {
    var arguments = ArraySlice(CommandLine.arguments.dropFirst())
    var options: [String: String] = [:]
    while let flag = arguments.popFirst() {
        guard flag.hasPrefix("--"), let value = arguments.popFirst() else {
            FileHandle.standardError.write(
                Data(
                    "usage: sweep-bench-training [--data DIR] [--threads 1,2] [--epochs N] [--repeats N] [--loss NAME] [--variants plain,rnn,multitask,rnn-multitask,all,cooc,prior]\n"
                        .utf8))
            exit(2)
        }
        options[String(flag.dropFirst(2))] = value
    }
    return options
}()
let threadCounts = (options["threads"] ?? "1,2").split(separator: ",").compactMap { Int($0) }
let epochs = Int(options["epochs"] ?? "3") ?? 3
let repeats = Int(options["repeats"] ?? "3") ?? 3
let variants = (options["variants"] ?? "plain,rnn,multitask,rnn-multitask,all,cooc,prior").split(separator: ",").map(String.init)

/// The model variants of the issue: the FFN, +rnn, +multitask (fixed α), +rnn+multitask with GradNorm;
/// +rnn+multitask with fixed α, to price GradNorm alone; the FFN with the co-occurrence prior, and
/// with it and the 20 nearest train dialogues (`knn_k`).
func config(for variant: String, base: TrialConfig) -> TrialConfig {
    var config = base
    switch variant {
    case "plain": break
    case "rnn": config.rnn = true
    case "multitask": config.multitask = true
    case "rnn-multitask":
        config.rnn = true
        config.multitask = true
    case "all":
        config.rnn = true
        config.multitask = true
        config.balancer = .gradnorm
    case "cooc": config.cooc = .dialogue
    case "prior":
        config.cooc = .dialogue
        config.knnK = 20
    default:
        FileHandle.standardError.write(Data("unknown variant '\(variant)' (plain, rnn, multitask, rnn-multitask, all, cooc, prior)\n".utf8))
        exit(2)
    }
    return config
}

func datasetFolder(_ options: [String: String]) throws -> URL {
    if let data = options["data"] { return URL(fileURLWithPath: data) }
    let redial = URL(fileURLWithPath: "data/redial")
    if FileManager.default.fileExists(atPath: redial.appendingPathComponent("items.tsv").path) { return redial }
    return try DatasetLocator.folder(for: .synthetic(preset: "redial", seed: 0), cacheRoot: DatasetLocator.defaultCacheRoot)
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

/// Best-of sgemm throughput for the three output-layer shapes of a step, in GFLOP/s.
func measureSgemm(items: Int, batch: Int) -> Double {
    let hidden = Recommender.hiddenDimensions
    let a = FloatBuffer(count: batch * items), w = FloatBuffer(count: items * hidden), h = FloatBuffer(count: batch * hidden)
    for i in 0..<a.count { a[i] = Float(i % 7) * 0.01 }
    for i in 0..<w.count { w[i] = Float(i % 5) * 0.01 }
    var best = Double.infinity
    for _ in 0..<20 {
        let start = now()
        BLAS.sgemm(
            .none, .transpose, m: batch, n: items, k: hidden, alpha: 1, a: h.pointer, lda: hidden, b: w.pointer, ldb: hidden, beta: 0,
            c: a.pointer, ldc: items)
        BLAS.sgemm(
            .transpose, .none, m: items, n: hidden, k: batch, alpha: 1, a: a.pointer, lda: items, b: h.pointer, ldb: hidden, beta: 0,
            c: w.pointer, ldc: hidden)
        BLAS.sgemm(
            .none, .none, m: batch, n: hidden, k: items, alpha: 1, a: a.pointer, lda: items, b: w.pointer, ldb: hidden, beta: 0,
            c: h.pointer, ldc: hidden)
        best = min(best, Double(now() - start))
    }
    return 3 * 2 * Double(batch * items * hidden) / best
}

/// Copy bandwidth over a buffer far larger than the caches, in GB/s (read + write bytes).
func measureCopyBandwidth(threads: Int) -> Double {
    let count = 64 << 20 / 4
    let source = FloatBuffer(count: count), destination = FloatBuffer(count: count)
    var best = Double.infinity
    for _ in 0..<10 {
        let start = now()
        DispatchQueue.concurrentPerform(iterations: threads) { part in
            let chunk = count / threads
            (destination.pointer + part * chunk).update(from: source.pointer + part * chunk, count: chunk)
        }
        best = min(best, Double(now() - start))
    }
    return 2 * Double(count * 4) / best
}

let folder = try datasetFolder(options)
let dataset = try Dataset.load(from: folder)
var baseConfig = TrialConfig()
baseConfig.epochs = epochs
if let loss = options["loss"], let kind = TrialConfig.Loss(rawValue: loss) { baseConfig.loss = kind }
print(
    "dataset \(folder.path): N = \(dataset.itemCount), D = \(dataset.dimension), \(dataset.train.count) train examples; batch \(baseConfig.batchSize); loss \(baseConfig.loss.rawValue)"
)
print("OpenBLAS core \(BLAS.coreName), OPENBLAS_CORETYPE=\(ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] ?? "(unset)")")
struct Measurement {
    var rates: [Double] = [], epochSeconds: [Double] = [], trainSeconds = 0.0
    var profile = StepProfile()
    var steps = 0
}
var cases: [(variant: String, threads: Int)] = []
for variant in variants { for threads in threadCounts { cases.append((variant, threads)) } }
var measurements = [Measurement](repeating: Measurement(), count: cases.count)
for _ in 0..<repeats {
    for (index, (variant, threads)) in cases.enumerated() {
        let (result, _) = try Trainer(config: config(for: variant, base: baseConfig), dataset: dataset, threads: threads).run(profile: true)
        let trainSeconds = result.history.compactMap(\.trainSeconds)  // the trainer always measures it
        measurements[index].rates += trainSeconds.map { Double(dataset.train.count) / $0 }
        measurements[index].epochSeconds += result.history.map(\.seconds)
        measurements[index].trainSeconds += trainSeconds.reduce(0, +)
        for (phase, nanoseconds) in result.profile!.nanoseconds { measurements[index].profile.add(phase, nanoseconds: nanoseconds) }
        measurements[index].steps += result.steps
    }
}
var summary: [(variant: String, threads: Int, rate: Double, step: Double)] = []
for (index, (variant, threads)) in cases.enumerated() {
    let measurement = measurements[index]
    let config = config(for: variant, base: baseConfig)
    let rates = measurement.rates, epochSeconds = measurement.epochSeconds, trainSeconds = measurement.trainSeconds
    let profile = measurement.profile, steps = measurement.steps
    // Phases are thread time (the block loop runs on every thread at once); the step is wall time.
    let stepMilliseconds = StepProfile.Phase.allCases.map { Double(profile.nanoseconds[$0] ?? 0) / Double(steps) / 1e6 }
    let total = stepMilliseconds.reduce(0, +)
    let wallMilliseconds = trainSeconds / Double(steps) * 1000
    let gemmPhases: [StepProfile.Phase] = [.trunkForward, .outputForward, .outputWeightGradient, .outputInputGradient, .trunkBackward]
    let gemm = zip(StepProfile.Phase.allCases, stepMilliseconds).filter { gemmPhases.contains($0.0) }.map(\.1).reduce(0, +)
    summary.append((variant, threads, median(rates), wallMilliseconds))
    print(
        "\n\(variant), \(threads) thread(s): median \(Int(median(rates))) examples/s over \(rates.count) epochs, \(String(format: "%.2f", median(epochSeconds))) s/epoch (evaluation included)"
    )
    print(
        String(
            format: "  step %.2f ms wall (%.2f ms of thread time); sgemm %.0f%% of the thread time",
            wallMilliseconds, total, 100 * gemm / total))
    if variant == "plain" {
        // The machine's limit for this step: its sgemm FLOPs at the measured sgemm rate, plus Adam's
        // ≈ 28 bytes per parameter (read p, g, m, v; write p, m, v) at the measured copy bandwidth.
        let parameters = Double(384 * 512 + 512 + 512 * dataset.itemCount + dataset.itemCount)
        let flops = 2 * Double(config.batchSize) * (3 * 512 * Double(dataset.itemCount) + 2 * 384 * 512)
        BLAS.setThreads(threads)  // the limit counts every core; training itself splits the work by item block
        let gflops = measureSgemm(items: dataset.itemCount, batch: config.batchSize)
        let bandwidth = measureCopyBandwidth(threads: threads)
        BLAS.setThreads(1)
        let limitMilliseconds = flops / gflops / 1e6 + 28 * parameters / bandwidth / 1e6
        print(
            String(
                format:
                    "  machine limit %.2f ms/step = %d examples/s (sgemm %.0f GFLOP/s at %d thread(s), copy %.0f GB/s); speed is %.0f%% of it",
                limitMilliseconds, Int(Double(config.batchSize) / limitMilliseconds * 1000), gflops, threads, bandwidth,
                100 * limitMilliseconds / wallMilliseconds))
    }
    for (phase, milliseconds) in zip(StepProfile.Phase.allCases, stepMilliseconds) where milliseconds > 0 {
        let name = phase.rawValue.padding(toLength: 34, withPad: " ", startingAt: 0)
        print(String(format: "  %@ %7.3f ms  %5.1f%%", name, milliseconds, 100 * milliseconds / total))
    }
}
print("\nsummary (median examples/s; step = wall ms per step)")
for row in summary {
    let name = row.variant.padding(toLength: 14, withPad: " ", startingAt: 0)
    print(String(format: "  %@ %d thread(s)  %6d examples/s  step %6.2f ms", name, row.threads, Int(row.rate), row.step))
}
