import Foundation
import Vocabulary

/// The JSON document `sweep train --json-out` writes (contract in docs/cli.md).
public struct TrainingReport: Encodable, Sendable {
    public struct DatasetInfo: Encodable, Sendable {
        public var path: String
        public var fingerprint: String
    }

    public var config: [String: ConfigValue]
    public var dataset: DatasetInfo
    public var status: TrainingStatus
    public var bestEpoch: Int?
    public var valid: RankingMetrics?
    public var test: RankingMetrics?
    public var history: [EpochRecord]
    public var timing: TrainingTiming
    public var divergence: String?

    public init(config: TrialConfig, datasetPath: String, fingerprint: String, result: TrainingResult) {
        self.config = config.activeDictionary
        dataset = DatasetInfo(path: datasetPath, fingerprint: fingerprint)
        status = result.status
        bestEpoch = result.bestEpoch
        valid = result.best?.valid
        test = result.best?.test
        history = result.history
        timing = result.timing
        divergence = result.divergence
    }

    enum CodingKeys: String, CodingKey {
        case config, dataset, status, bestEpoch = "best_epoch", valid, test, history, timing, divergence
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(config, forKey: .config)
        try container.encode(dataset, forKey: .dataset)
        try container.encode(status, forKey: .status)
        try container.encode(bestEpoch, forKey: .bestEpoch)
        try container.encode(valid, forKey: .valid)
        try container.encode(test, forKey: .test)
        try container.encode(history, forKey: .history)
        try container.encode(timing, forKey: .timing)
        try container.encodeIfPresent(divergence, forKey: .divergence)
    }

    /// Pretty JSON with sorted keys.
    public func jsonData() throws -> Data {
        try JSONDocument.data(self)
    }
}
