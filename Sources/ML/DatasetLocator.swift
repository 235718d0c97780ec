import Foundation
import Vocabulary

/// Finds or makes the dataset folder of a ``DatasetSource``.
public enum DatasetLocator {
    /// The folder for a source: a path as is; a synthetic preset generated once into `cacheRoot`.
    public static func folder(for source: DatasetSource, cacheRoot: URL) throws -> URL {
        switch source {
        case .path(let path):
            return URL(fileURLWithPath: path)
        case .noData:
            throw ConfigError(key: "dataset", message: "is none: this trial has no dataset")
        case .synthetic(let preset, let seed):
            guard var options = SyntheticDataset.Options.preset(preset) else {
                throw ConfigError(key: "dataset.synthetic.preset", message: "unknown preset \(preset)")
            }
            options.seed = UInt64(seed)
            let folder = cacheRoot.appendingPathComponent("synthetic-\(preset)-\(seed)")
            if FileManager.default.fileExists(atPath: folder.appendingPathComponent("tags.npy").path) { return folder }
            // Generate beside it and rename into place, so a concurrent or killed run never leaves half a dataset.
            let temporary = cacheRoot.appendingPathComponent(".tmp-\(preset)-\(seed)-\(ProcessInfo.processInfo.processIdentifier)")
            try? FileManager.default.removeItem(at: temporary)
            try SyntheticDataset(options: options).write(to: temporary)
            do {
                try FileManager.default.moveItem(at: temporary, to: folder)
            } catch  where FileManager.default.fileExists(atPath: folder.path) {
                try? FileManager.default.removeItem(at: temporary)
            }
            return folder
        }
    }

    /// `$XDG_CACHE_HOME/sweep`, else `$HOME/.cache/sweep`.
    public static var defaultCacheRoot: URL {
        let environment = ProcessInfo.processInfo.environment
        if let xdg = environment["XDG_CACHE_HOME"], !xdg.isEmpty {
            return URL(fileURLWithPath: xdg).appendingPathComponent("sweep")
        }
        return URL(fileURLWithPath: environment["HOME"] ?? NSTemporaryDirectory()).appendingPathComponent(".cache/sweep")
    }
}

/// Where a sweep's dataset is and what it is: its folder and fingerprint (what a coordinator
/// ships), and the dataset loaded.
public struct ResolvedDataset: Sendable {
    public var located: LocatedDataset
    public var dataset: Dataset

    public var folder: URL { located.folder }
    public var fingerprint: DatasetFingerprint { located.fingerprint }

    /// Finds (or generates, for a synthetic preset) the dataset and loads it.
    public init(_ source: DatasetSource, cacheRoot: URL = DatasetLocator.defaultCacheRoot) throws {
        let folder = try DatasetLocator.folder(for: source, cacheRoot: cacheRoot)
        located = LocatedDataset(folder: folder, fingerprint: try DatasetFingerprint.compute(folder: folder))
        dataset = try Dataset.load(from: folder)
    }

    /// The popularity baseline's metrics on valid and test, as the store keeps them.
    public var popularity: [String: [String: Double]] {
        let evaluator = Evaluator(dataset: dataset)
        return [
            "valid": evaluator.popularityBaseline(split: dataset.valid).dictionary,
            "test": evaluator.popularityBaseline(split: dataset.test).dictionary,
        ]
    }
}
