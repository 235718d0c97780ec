import Foundation

/// Ranking metrics of `ml.md`, averaged over examples, plus two collapse diagnostics; or, for a
/// program trial, the metrics the program reported for a split (its own names).
public struct RankingMetrics: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Metric name → value.
    public private(set) var dictionary: [String: Double]

    /// The metric names used in every JSON output and the leaderboard.
    public static let names = ["ndcg@10", "recall@10", "recall@50", "mrr", "coverage@10", "pop_overlap@10"]

    public init(ndcg10: Double, recall10: Double, recall50: Double, mrr: Double, coverage10: Double, popOverlap10: Double) {
        dictionary = [
            "ndcg@10": ndcg10, "recall@10": recall10, "recall@50": recall50, "mrr": mrr,
            "coverage@10": coverage10, "pop_overlap@10": popOverlap10,
        ]
    }

    /// A program's own metrics, any names.
    public init(values: [String: Double]) { dictionary = values }

    public var ndcg10: Double { dictionary["ndcg@10"] ?? 0 }
    public var recall10: Double { dictionary["recall@10"] ?? 0 }
    public var recall50: Double { dictionary["recall@50"] ?? 0 }
    public var mrr: Double { dictionary["mrr"] ?? 0 }
    /// Fraction of the catalogue that appears in any example's top 10.
    public var coverage10: Double { dictionary["coverage@10"] ?? 0 }
    /// Mean |top10 ∩ global popularity top 10| / 10.
    public var popOverlap10: Double { dictionary["pop_overlap@10"] ?? 0 }

    public subscript(name: String) -> Double? { dictionary[name] }

    /// `name: value` pairs in name order (a dictionary's own order differs between processes).
    public var description: String {
        "[" + dictionary.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ") + "]"
    }

    public init(from decoder: Decoder) throws {
        dictionary = try decoder.singleValueContainer().decode([String: Double].self)
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(dictionary)
    }
}

extension RankingMetrics {
    /// The metrics of the built-in trainer from a name → value map, or nil when one is missing.
    public init?(dictionary: [String: Double]) {
        guard let ndcg10 = dictionary["ndcg@10"], let recall10 = dictionary["recall@10"], let recall50 = dictionary["recall@50"],
            let mrr = dictionary["mrr"], let coverage10 = dictionary["coverage@10"], let popOverlap10 = dictionary["pop_overlap@10"]
        else {
            return nil
        }
        self.init(ndcg10: ndcg10, recall10: recall10, recall50: recall50, mrr: mrr, coverage10: coverage10, popOverlap10: popOverlap10)
    }
}

/// The effective multipliers of each raw task loss in an epoch's last step (`ml.md`).
public struct TaskWeights: Sendable, Hashable, Codable {
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
public struct EpochRecord: Sendable, Hashable, Codable {
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

    public init(
        epoch: Int, lossMain: Double?, lossAux: Double?, weights: TaskWeights, valid: RankingMetrics, test: RankingMetrics,
        seconds: Double, trainSeconds: Double?, extra: [String: Double]? = nil
    ) {
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
    /// The first epoch with the best valid value of `objective` in `history` (an epoch lacking it
    /// ranks last): a trial's result, for the built-in trainer, a program and a pruned trial alike.
    public static func bestEpoch(in history: [EpochRecord], by objective: Objective) -> Int? {
        var best: (epoch: Int, score: Double)?
        for record in history {
            let score = record.valid[objective.metric].map(objective.score) ?? Objective.worstScore
            if score > (best?.score ?? Objective.worstScore) { best = (record.epoch, score) }
        }
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
public struct TrainingTiming: Sendable, Hashable, Codable {
    /// Train examples ÷ training seconds of an epoch (evaluation excluded), median over epochs.
    public var examplesPerSecond: Double
    /// Median wall seconds of an epoch, evaluation included.
    public var secondsPerEpoch: Double
    public var totalSeconds: Double
    public var threads: Int
    /// The OpenBLAS kernel family in use.
    public var blasCore: String
    /// The GPU a program trial ran on (its worker's `--gpus` device), when it had one.
    public var gpu: Int?

    public init(examplesPerSecond: Double, secondsPerEpoch: Double, totalSeconds: Double, threads: Int, blasCore: String, gpu: Int? = nil) {
        self.examplesPerSecond = examplesPerSecond
        self.secondsPerEpoch = secondsPerEpoch
        self.totalSeconds = totalSeconds
        self.threads = threads
        self.blasCore = blasCore
        self.gpu = gpu
    }

    enum CodingKeys: String, CodingKey {
        case examplesPerSecond = "examples_per_second", secondsPerEpoch = "seconds_per_epoch"
        case totalSeconds = "total_seconds", threads, blasCore = "blas_core", gpu
    }

    /// The timing of a run from its epoch records: the one rule for it, whoever measures (the
    /// trainer, the controller for a pruned trial, the program runner). Examples per second is
    /// the median over epochs of `trainExamples` ÷ the epoch's training seconds (0 where no epoch
    /// says how long it trained); seconds per epoch the median of the epochs' wall seconds.
    public static func measured(
        _ records: [EpochRecord], trainExamples: Int, totalSeconds: Double, threads: Int, blasCore: String, gpu: Int? = nil
    ) -> TrainingTiming {
        TrainingTiming(
            examplesPerSecond: median(records.compactMap { $0.trainSeconds.map { Double(trainExamples) / $0 } }),
            secondsPerEpoch: median(records.map(\.seconds)), totalSeconds: totalSeconds, threads: threads, blasCore: blasCore, gpu: gpu)
    }
}

/// The middle value (the mean of the two middle ones for an even count); 0 for none.
public func median(_ values: [Double]) -> Double {
    guard !values.isEmpty else { return 0 }
    let sorted = values.sorted(), middle = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

/// What a run (the trainer or a program) reports to its callback as it goes.
public enum TrainingEvent: Sendable {
    /// After every training step: the current epoch (from 1) and steps done so far in the run.
    /// Returning false here stops the run within one step.
    case step(epoch: Int, step: Int)
    /// After each epoch's evaluation.
    case epoch(EpochRecord)
}

/// A finished trial's result, however it ran (the built-in trainer, a program, a worker far away
/// or this process): the metrics at the best valid epoch, every epoch's record and the timings.
/// Workers send it (`result`), the store keeps it, the leaderboard ranks it.
public struct TrialResult: Sendable, Hashable, Codable {
    /// The first epoch with the best valid `select_metric` (in the config's `select_goal`).
    public var bestEpoch: Int
    public var valid: [String: Double]
    public var test: [String: Double]
    public var history: [EpochRecord]
    public var timing: TrainingTiming

    public init(bestEpoch: Int, valid: [String: Double], test: [String: Double], history: [EpochRecord], timing: TrainingTiming) {
        self.bestEpoch = bestEpoch
        self.valid = valid
        self.test = test
        self.history = history
        self.timing = timing
    }

    enum CodingKeys: String, CodingKey {
        case bestEpoch = "best_epoch", valid, test, history, timing
    }
}

/// How a run of one trial attempt ended, the built-in trainer's or a program's: what a worker
/// sends and what `sweep run` tells the controller are both read from this.
public enum RunEnd: Sendable, Equatable {
    /// Every epoch ran: the result.
    case completed(TrialResult)
    /// It was told to stop (cancelled, pruned or retired) after `epochs` epochs.
    case stopped(epochs: Int)
    /// A loss or reported number became NaN or infinite after `epochs` good epochs: terminal.
    case diverged(String, epochs: Int)
    /// It failed after `epochs` epochs: a crash, a bad report, a non-zero exit, no epoch.
    case failed(String, epochs: Int)

    /// The epochs the run finished.
    public var epochs: Int {
        switch self {
        case .completed(let result): result.history.count
        case .stopped(let epochs), .diverged(_, let epochs), .failed(_, let epochs): epochs
        }
    }
}
