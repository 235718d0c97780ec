import Foundation
import Vocabulary

/// The outcome of training one config on one dataset.
public struct TrainingResult: Sendable {
    public var status: TrainingStatus
    /// The epoch with the best valid `select_metric` (ties: the earliest); nil if no epoch finished.
    public var bestEpoch: Int?
    public var history: [EpochRecord]
    public var timing: TrainingTiming
    /// Why it diverged, when it did.
    public var divergence: String?
    /// The flat parameter vector at the best epoch, when the trainer was asked to keep it.
    public var bestParameters: [Float]?
    /// Time per phase of all training steps, when profiling was asked for.
    public var profile: StepProfile?
    /// Training steps taken.
    public var steps: Int

    /// The record of the best epoch.
    public var best: EpochRecord? { bestEpoch.map { history[$0 - 1] } }

    /// How the run ended, as a worker sends it and `sweep run` tells it: the result is the best
    /// epoch's metrics; a completed run without an epoch failed.
    public var end: RunEnd {
        switch status {
        case .completed:
            guard let best else { return .failed("no epoch finished", epochs: 0) }
            return .completed(
                TrialResult(
                    bestEpoch: best.epoch, valid: best.valid.dictionary, test: best.test.dictionary,
                    history: history, timing: timing))
        case .diverged: return .diverged(divergence ?? "diverged", epochs: history.count)
        case .stopped: return .stopped(epochs: history.count)
        }
    }
}

/// Trains a ``TrialConfig`` on a ``Dataset`` as `ml.md` specifies: seeded init, shuffling and dropout,
/// per-epoch evaluation of valid and test, best-valid-epoch selection and divergence detection.
///
/// Same config, seed, data and BLAS thread count give bit-identical results.
public struct Trainer: Sendable {
    public let config: TrialConfig
    public let dataset: Dataset
    /// OpenBLAS threads (process-wide; set when training starts).
    public let threads: Int
    /// Whether to copy the parameters at each new best epoch (for `--save-model`).
    public let keepBestParameters: Bool

    public init(config: TrialConfig, dataset: Dataset, threads: Int = 1, keepBestParameters: Bool = false) throws {
        if config.multitask {
            guard let tags = dataset.tags else {
                throw ConfigError(
                    key: "multitask", message: "the dataset has no tag pairs (tags.jsonl and tags.npy); set multitask: false or add tags")
            }
            guard tags.count > 0 else {
                throw ConfigError(key: "multitask", message: "the dataset's tags.jsonl is empty; set multitask: false or add tags")
            }
        }
        self.config = config
        self.dataset = dataset
        self.threads = threads
        self.keepBestParameters = keepBestParameters
    }

    /// The main-task loss the config selects for `epoch`, with its data-dependent constants.
    public func loss(epoch: Int = 1) -> LossKind {
        switch config.loss {
        case .bce: .bce
        case .weightedBCE: .weightedBCE(posWeight: Float(config.posWeightMult * dataset.imbalance))
        case .focal: .focal(gamma: Float(config.focalGamma), alpha: Float(config.focalAlpha))
        case .classBalanced:
            .classBalanced(weights: LossKind.classBalancedWeights(itemCounts: dataset.trainItemCounts, beta: config.cbBeta))
        case .ldam:
            // Deferred re-weighting: class-balanced weights (β = 0.9999, the paper's) from `ldam_drw_epoch` on.
            .ldam(
                margins: LossKind.ldamMargins(itemCounts: dataset.trainItemCounts, maxMargin: config.ldamMaxMargin),
                scale: Float(config.ldamScale),
                weights: config.ldamDRWEpoch > 0 && epoch >= config.ldamDRWEpoch
                    ? LossKind.classBalancedWeights(itemCounts: dataset.trainItemCounts, beta: 0.9999) : nil)
        }
    }

    /// The prior (co-occurrence, nearest dialogues) the config asks for, if any.
    public var prior: PriorScorer? { PriorScorer(config: config, dataset: dataset) }

    /// Independent random streams derived from the seed: init, shuffling, dropout, tag shuffling.
    static func stream(_ seed: Int, _ purpose: UInt64) -> Xoshiro256 {
        var mix = SplitMix64(seed: UInt64(seed) &* 0x9E37_79B9_7F4A_7C15 ^ purpose)
        return Xoshiro256(seed: mix.next())
    }

    /// Runs every epoch, calling `callback` with progress; it returns false to stop early.
    /// - Parameter profile: time each phase of every step into ``TrainingResult/profile`` (benchmarks).
    public func run(profile: Bool = false, callback: (TrainingEvent) -> Bool = { _ in true }) -> (TrainingResult, Recommender?) {
        let start = DispatchTime.now()
        if config.model == .none { return (scorePriorAlone(start: start, callback: callback), nil) }
        var initRNG = Self.stream(config.seed, 1)
        var shuffleRNG = Self.stream(config.seed, 2)
        var dropoutRNG = Self.stream(config.seed, 3)
        let batchSize = min(config.batchSize, dataset.train.count)
        let stepRows = config.multitask ? 2 * batchSize : batchSize
        let prior = self.prior
        let model = Recommender(
            inputDimensions: dataset.dimension, itemCount: dataset.itemCount,
            dropout: Float(config.dropout), maxBatch: max(stepRows, Evaluator.batchRows),
            threads: threads, rnn: config.rnn, maxSequences: batchSize, hidden: config.hidden,
            prior: prior, rng: &initRNG)
        if profile { model.profile = StepProfile() }
        let optimizer = Adam(learningRate: Float(config.lr), count: model.parameters.count, weightDecay: Float(config.weightDecay))
        let evaluator = Evaluator(dataset: dataset)
        var loss = self.loss(epoch: 1)
        let train = dataset.train
        let mentioned = config.rnn ? train.mentioned : nil, priorRows = prior?.rows(for: train)
        var tagStream = config.multitask ? TagStream(count: dataset.tags!.count, rng: Self.stream(config.seed, 4)) : nil
        var tagIndices: [Int] = []
        var balancer = config.multitask ? TaskBalancer(config: config) : nil
        var order = Array(0..<train.count)
        var targets = TargetBatch()
        var history: [EpochRecord] = []
        var status = TrainingStatus.completed
        var divergence: String?
        var bestParameters: [Float]?
        var step = 0

        training: for epoch in 1...config.epochs {
            let epochStart = DispatchTime.now()
            if config.loss == .ldam && epoch == config.ldamDRWEpoch { loss = self.loss(epoch: epoch) }
            for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, shuffleRNG.nextIndex(below: i + 1)) }
            var mainSum = 0.0, auxSum = 0.0
            var batches = 0
            for batchStart in stride(from: 0, to: order.count, by: batchSize) {
                let indices = order[batchStart..<min(batchStart + batchSize, order.count)]
                model.timed(.gather) {
                    train.embeddings.withUnsafeBufferPointer {
                        model.gather($0.baseAddress!, indices: indices, mentioned: mentioned, priorRows: priorRows)
                    }
                    if config.multitask, let tags = dataset.tags {
                        tagStream!.next(indices.count, into: &tagIndices)
                        tags.embeddings.withUnsafeBufferPointer {
                            model.gatherTags($0.baseAddress!, indices: tagIndices, items: tags.items)
                        }
                    }
                }
                targets.removeAll()
                for index in indices { targets.appendRow(train.targets[index]) }
                let weights = balancer?.stepWeights ?? (main: 1, aux: 0)
                let losses = model.trainStep(
                    loss: loss, targets: targets, mainWeight: Float(weights.main),
                    auxWeight: Float(weights.aux),
                    measureGradientNorms: balancer?.needsGradientNorms ?? false,
                    dropoutRNG: &dropoutRNG, optimizer: optimizer)
                guard losses.main.isFinite, losses.aux?.isFinite ?? true else {
                    let (name, value) = losses.main.isFinite ? ("auxiliary", losses.aux!) : ("main", losses.main)
                    status = .diverged
                    divergence = "\(name) loss became \(value) at epoch \(epoch), step \(step + 1)"
                    break training
                }
                model.timed(.balancer) { balancer?.record(step: losses) }
                mainSum += losses.main
                auxSum += losses.aux ?? 0
                batches += 1
                step += 1
                if !callback(.step(epoch: epoch, step: step)) {
                    status = .stopped
                    break training
                }
            }
            let trainSeconds = seconds(since: epochStart)
            let lossMain = mainSum / Double(batches), lossAux = config.multitask ? auxSum / Double(batches) : nil
            let weights = balancer?.lastStepWeights ?? .singleTask
            if let lossAux { balancer?.endEpoch(lossMain: lossMain, lossAux: lossAux) }
            let record = EpochRecord(
                epoch: epoch, lossMain: lossMain, lossAux: lossAux, weights: weights,
                valid: evaluator.evaluate(model, split: dataset.valid), test: evaluator.evaluate(model, split: dataset.test),
                seconds: seconds(since: epochStart), trainSeconds: trainSeconds)
            history.append(record)
            if keepBestParameters && bestEpoch(history) == epoch { bestParameters = model.parameters.array }
            if !callback(.epoch(record)) {
                status = .stopped
                break
            }
        }
        let timing = TrainingTiming.measured(
            history, trainExamples: train.count, totalSeconds: seconds(since: start),
            threads: threads, blasCore: BLAS.coreName)
        return (
            TrainingResult(
                status: status, bestEpoch: bestEpoch(history), history: history, timing: timing,
                divergence: divergence, bestParameters: bestParameters, profile: model.profile,
                steps: step), model
        )
    }

    /// `model: none`: the prior alone scores valid and test once, reported as epoch 1 (no loss,
    /// no training time).
    func scorePriorAlone(start: DispatchTime, callback: (TrainingEvent) -> Bool) -> TrainingResult {
        let evaluator = Evaluator(dataset: dataset), prior = self.prior!
        let record = EpochRecord(
            epoch: 1, lossMain: 0, lossAux: nil, weights: .singleTask,
            valid: evaluator.evaluate(prior: prior, split: dataset.valid),
            test: evaluator.evaluate(prior: prior, split: dataset.test),
            seconds: seconds(since: start), trainSeconds: 0)
        let status: TrainingStatus = callback(.epoch(record)) ? .completed : .stopped
        let timing = TrainingTiming(
            examplesPerSecond: 0, secondsPerEpoch: record.seconds, totalSeconds: seconds(since: start),
            threads: threads, blasCore: BLAS.coreName)
        return TrainingResult(
            status: status, bestEpoch: 1, history: [record], timing: timing, divergence: nil,
            bestParameters: nil, profile: nil, steps: 0)
    }

    /// The first epoch with the highest valid `select_metric`.
    func bestEpoch(_ history: [EpochRecord]) -> Int? { EpochRecord.bestEpoch(in: history, by: config.selection) }
}

/// Scores every example of a split through the model in batches (one sgemm per layer per batch)
/// and accumulates the ranking metrics.
public struct Evaluator {
    static let batchRows = 256
    public let dataset: Dataset
    let popularity: [Int]

    public init(dataset: Dataset) {
        self.dataset = dataset
        popularity = dataset.trainItemCounts
    }

    public func evaluate(_ model: Recommender, split: Split) -> RankingMetrics {
        let accumulator = MetricAccumulator(itemCount: dataset.itemCount, popularity: popularity, capacity: split.count)
        var noDropout: Xoshiro256? = nil
        let rows = min(Self.batchRows, model.maxBatch)
        let threads = model.threads, items = dataset.itemCount
        let logits = SendablePointer(model.logits.pointer)
        let mentioned = model.encoder == nil ? nil : split.mentioned, priorRows = model.prior?.rows(for: split)
        split.embeddings.withUnsafeBufferPointer { embeddings in
            for start in stride(from: 0, to: split.count, by: rows) {
                let count = min(rows, split.count - start)
                model.gather(embeddings.baseAddress!, indices: start..<(start + count), mentioned: mentioned, priorRows: priorRows)
                model.forward(dropoutRNG: &noDropout)
                DispatchQueue.concurrentPerform(iterations: threads) { thread in
                    var selection = TopK(capacity: MetricAccumulator.depth)
                    for row in stride(from: thread, to: count, by: threads) {
                        let example = start + row
                        accumulator.add(
                            scores: logits.pointer + row * items, mentioned: split.mentioned[example],
                            targets: split.targets[example], example: example, selection: &selection)
                    }
                }
            }
        }
        return accumulator.metrics
    }

    /// The prior alone (`model: none`), with the same masking and tie-breaking.
    public func evaluate(prior: PriorScorer, split: Split) -> RankingMetrics {
        let accumulator = MetricAccumulator(itemCount: dataset.itemCount, popularity: popularity, capacity: split.count)
        var scores = [Float](repeating: 0, count: dataset.itemCount)
        let rows = prior.rows(for: split)
        scores.withUnsafeMutableBufferPointer { row in
            for index in 0..<split.count {
                rows.scores(example: index, into: row.baseAddress!)
                accumulator.add(scores: row.baseAddress!, mentioned: split.mentioned[index], targets: split.targets[index])
            }
        }
        return accumulator.metrics
    }

    /// The popularity baseline: item j scored by n_j, with the same masking and tie-breaking.
    public func popularityBaseline(split: Split) -> RankingMetrics {
        let accumulator = MetricAccumulator(itemCount: dataset.itemCount, popularity: popularity, capacity: split.count)
        var scores = [Float](repeating: 0, count: dataset.itemCount)
        for index in 0..<split.count {
            for j in 0..<dataset.itemCount { scores[j] = Float(popularity[j]) }
            scores.withUnsafeMutableBufferPointer {
                accumulator.add(scores: $0.baseAddress!, mentioned: split.mentioned[index], targets: split.targets[index])
            }
        }
        return accumulator.metrics
    }
}

/// The multi-task head's tag pairs as one endless stream: a permutation of all pairs, reshuffled at
/// the start of every pass, read in order across batches and epochs (a batch may straddle two passes).
struct TagStream {
    private var order: [Int]
    private var position: Int
    private var rng: Xoshiro256

    init(count: Int, rng: Xoshiro256) {
        order = Array(0..<count)
        position = count  // the first read starts a pass
        self.rng = rng
    }

    /// The next `count` pair indices, into `indices` (cleared first).
    mutating func next(_ count: Int, into indices: inout [Int]) {
        indices.removeAll(keepingCapacity: true)
        while indices.count < count {
            if position == order.count {
                for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, rng.nextIndex(below: i + 1)) }
                position = 0
            }
            indices.append(order[position])
            position += 1
        }
    }
}

/// A raw pointer handed to worker threads that touch disjoint parts of what it points to.
struct SendablePointer: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Float>
    init(_ pointer: UnsafeMutablePointer<Float>) { self.pointer = pointer }
}

func seconds(since start: DispatchTime) -> Double {
    Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
}
