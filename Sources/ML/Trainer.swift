import Foundation

/// The effective multipliers of each raw task loss in an epoch's last step (`ml.md`).
public struct TaskWeights: Sendable, Equatable, Codable {
    public var main: Double
    /// nil without multi-task.
    public var aux: Double?
    /// The uncertainty balancer's log-variances.
    public var sMain: Double?
    public var sAux: Double?

    public static let singleTask = TaskWeights(main: 1, aux: nil, sMain: nil, sAux: nil)

    public init(main: Double, aux: Double?, sMain: Double?, sAux: Double?) {
        self.main = main
        self.aux = aux
        self.sMain = sMain
        self.sAux = sAux
    }

    enum CodingKeys: String, CodingKey { case main, aux, sMain = "s_main", sAux = "s_aux" }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(main, forKey: .main)
        try container.encode(aux, forKey: .aux)  // null without multi-task, as the contract says
        try container.encodeIfPresent(sMain, forKey: .sMain)
        try container.encodeIfPresent(sAux, forKey: .sAux)
    }
}

/// One epoch of training: raw mean losses, task weights, metrics, and time.
public struct EpochRecord: Sendable, Equatable, Codable {
    public var epoch: Int
    /// The main task's loss; nil for a program trial that reported none (`loss_main` or `loss`).
    public var lossMain: Double?
    public var lossAux: Double?
    public var weights: TaskWeights
    public var valid: RankingMetrics
    public var test: RankingMetrics
    /// Wall seconds for the epoch, training and evaluation.
    public var seconds: Double
    /// Wall seconds of training alone (evaluation excluded); nil only in records that a build before
    /// store schema v4 kept from workers, which did not send it.
    public var trainSeconds: Double?
    /// A program trial's other reported numbers (neither `valid_*`, `test_*` nor a loss), by name.
    public var extra: [String: Double]?

    public init(epoch: Int, lossMain: Double?, lossAux: Double?, weights: TaskWeights, valid: RankingMetrics, test: RankingMetrics,
                seconds: Double, trainSeconds: Double?, extra: [String: Double]? = nil) {
        self.epoch = epoch
        self.lossMain = lossMain
        self.lossAux = lossAux
        self.weights = weights
        self.valid = valid
        self.test = test
        self.seconds = seconds
        self.trainSeconds = trainSeconds
        self.extra = extra
    }

    enum CodingKeys: String, CodingKey {
        case epoch, lossMain = "loss_main", lossAux = "loss_aux", weights, valid, test, seconds
        case trainSeconds = "train_seconds", extra
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(epoch, forKey: .epoch)
        try container.encodeIfPresent(lossMain, forKey: .lossMain)
        try container.encode(lossAux, forKey: .lossAux)
        try container.encode(weights, forKey: .weights)
        try container.encode(valid, forKey: .valid)
        try container.encode(test, forKey: .test)
        try container.encode(seconds, forKey: .seconds)
        try container.encodeIfPresent(trainSeconds, forKey: .trainSeconds)
        try container.encodeIfPresent(extra, forKey: .extra)
    }
}

extension EpochRecord {
    /// The first epoch with the highest valid `metric` in `history` (an epoch lacking it ranks
    /// last): a trial's result, for the built-in trainer, a program and a pruned trial alike.
    public static func bestEpoch(in history: [EpochRecord], by metric: String) -> Int? {
        var best: EpochRecord?
        for record in history where (record.valid[metric] ?? -.infinity) > (best?.valid[metric] ?? -.infinity) { best = record }
        return best?.epoch
    }
}

/// How a training run ended.
public enum TrainingStatus: String, Sendable, Codable {
    /// Every epoch ran.
    case completed
    /// A loss became NaN or infinite; the history stops at the last good epoch.
    case diverged
    /// The callback asked to stop (e.g. the trial was cancelled).
    case stopped
}

/// Timings of a run.
public struct TrainingTiming: Sendable, Equatable, Codable {
    /// Train examples ÷ training seconds of an epoch (evaluation excluded), median over epochs.
    public var examplesPerSecond: Double
    /// Median wall seconds of an epoch, evaluation included.
    public var secondsPerEpoch: Double
    public var totalSeconds: Double
    public var threads: Int
    /// The OpenBLAS kernel family in use.
    public var blasCore: String

    public init(examplesPerSecond: Double, secondsPerEpoch: Double, totalSeconds: Double, threads: Int, blasCore: String) {
        self.examplesPerSecond = examplesPerSecond
        self.secondsPerEpoch = secondsPerEpoch
        self.totalSeconds = totalSeconds
        self.threads = threads
        self.blasCore = blasCore
    }

    enum CodingKeys: String, CodingKey {
        case examplesPerSecond = "examples_per_second", secondsPerEpoch = "seconds_per_epoch"
        case totalSeconds = "total_seconds", threads, blasCore = "blas_core"
    }

    /// The timing of a run from its epoch records: the one rule for it, whoever measures (the
    /// trainer, the controller for a pruned trial, the program runner). Examples per second is
    /// the median over epochs of `trainExamples` ÷ the epoch's training seconds (0 where no epoch
    /// says how long it trained); seconds per epoch the median of the epochs' wall seconds.
    public static func measured(_ records: [EpochRecord], trainExamples: Int, totalSeconds: Double, threads: Int, blasCore: String) -> TrainingTiming {
        TrainingTiming(examplesPerSecond: median(records.compactMap { $0.trainSeconds.map { Double(trainExamples) / $0 } }),
                       secondsPerEpoch: median(records.map(\.seconds)), totalSeconds: totalSeconds, threads: threads, blasCore: blasCore)
    }
}

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
}

/// What the trainer reports to its callback.
public enum TrainingEvent: Sendable {
    /// After every training step: the current epoch (from 1) and steps done so far in the run.
    /// Returning false here stops the run within one step.
    case step(epoch: Int, step: Int)
    /// After each epoch's evaluation.
    case epoch(EpochRecord)
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
                throw ConfigError(key: "multitask", message: "the dataset has no tag pairs (tags.jsonl and tags.npy); set multitask: false or add tags")
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
        case .classBalanced: .classBalanced(weights: LossKind.classBalancedWeights(itemCounts: dataset.trainItemCounts, beta: config.cbBeta))
        case .ldam:
            // Deferred re-weighting: class-balanced weights (β = 0.9999, the paper's) from `ldam_drw_epoch` on.
            .ldam(margins: LossKind.ldamMargins(itemCounts: dataset.trainItemCounts, maxMargin: config.ldamMaxMargin),
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
        let model = Recommender(inputDimensions: dataset.dimension, itemCount: dataset.itemCount,
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
                    train.embeddings.withUnsafeBufferPointer { model.gather($0.baseAddress!, indices: indices, mentioned: mentioned, priorRows: priorRows) }
                    if config.multitask, let tags = dataset.tags {
                        tagStream!.next(indices.count, into: &tagIndices)
                        tags.embeddings.withUnsafeBufferPointer { model.gatherTags($0.baseAddress!, indices: tagIndices, items: tags.items) }
                    }
                }
                targets.removeAll()
                for index in indices { targets.appendRow(train.targets[index]) }
                let weights = balancer?.stepWeights ?? (main: 1, aux: 0)
                let losses = model.trainStep(loss: loss, targets: targets, mainWeight: Float(weights.main),
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
        let timing = TrainingTiming.measured(history, trainExamples: train.count, totalSeconds: seconds(since: start),
                                             threads: threads, blasCore: BLAS.coreName)
        return (TrainingResult(status: status, bestEpoch: bestEpoch(history), history: history, timing: timing,
                               divergence: divergence, bestParameters: bestParameters, profile: model.profile,
                               steps: step), model)
    }

    /// `model: none`: the prior alone scores valid and test once, reported as epoch 1 (no loss,
    /// no training time).
    func scorePriorAlone(start: DispatchTime, callback: (TrainingEvent) -> Bool) -> TrainingResult {
        let evaluator = Evaluator(dataset: dataset), prior = self.prior!
        let record = EpochRecord(epoch: 1, lossMain: 0, lossAux: nil, weights: .singleTask,
                                 valid: evaluator.evaluate(prior: prior, split: dataset.valid),
                                 test: evaluator.evaluate(prior: prior, split: dataset.test),
                                 seconds: seconds(since: start), trainSeconds: 0)
        let status: TrainingStatus = callback(.epoch(record)) ? .completed : .stopped
        let timing = TrainingTiming(examplesPerSecond: 0, secondsPerEpoch: record.seconds, totalSeconds: seconds(since: start),
                                    threads: threads, blasCore: BLAS.coreName)
        return TrainingResult(status: status, bestEpoch: 1, history: [record], timing: timing, divergence: nil,
                              bestParameters: nil, profile: nil, steps: 0)
    }

    /// The first epoch with the highest valid `select_metric`.
    func bestEpoch(_ history: [EpochRecord]) -> Int? { EpochRecord.bestEpoch(in: history, by: config.selectMetric) }
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
                        accumulator.add(scores: logits.pointer + row * items, mentioned: split.mentioned[example],
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

/// The middle value (the mean of the two middle ones for an even count); 0 for none.
public func median(_ values: [Double]) -> Double {
    guard !values.isEmpty else { return 0 }
    let sorted = values.sorted(), middle = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}
