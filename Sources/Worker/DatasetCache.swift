import Foundation
import ML
import Protocol

/// Finds a trial's dataset by content on this machine, or downloads it from the coordinator.
///
/// A worker never reads the coordinator's path. It looks under `dataRoot` (that folder or any
/// sub-folder whose fingerprint matches), then in its cache (`<cache>/<fingerprint>/`), and
/// otherwise fetches the files in chunks, checks every file's SHA-256 and the fingerprint, and
/// renames the finished folder into the cache, so concurrent workers and a `kill -9`
/// mid-download never leave a broken copy.
public final class DatasetCache {
    public let dataRoot: URL?
    public let cacheDirectory: URL
    /// Fingerprints of folders already hashed under the data root.
    private var known: [String: URL] = [:]
    private var scanned = false

    public init(dataRoot: URL?, cacheDirectory: URL) {
        self.dataRoot = dataRoot
        self.cacheDirectory = cacheDirectory
    }

    /// `--cache-dir`, else `$XDG_CACHE_HOME/sweep/datasets`, else `$HOME/.cache/sweep/datasets`.
    public static func defaultDirectory() -> URL {
        DatasetLocator.defaultCacheRoot.appendingPathComponent("datasets")
    }

    /// The local folder holding the dataset with this fingerprint, if there is one.
    public func locate(_ fingerprint: String) -> URL? {
        if let folder = known[fingerprint] { return folder }
        let cached = cacheDirectory.appendingPathComponent(fingerprint)
        if FileManager.default.fileExists(atPath: cached.appendingPathComponent("items.tsv").path) { return cached }
        if !scanned, let dataRoot {
            scanned = true
            let children = (try? FileManager.default.contentsOfDirectory(at: dataRoot, includingPropertiesForKeys: nil)) ?? []
            for folder in [dataRoot] + children where FileManager.default.fileExists(atPath: folder.appendingPathComponent("items.tsv").path) {
                if let print = try? DatasetFingerprint.compute(folder: folder).fingerprint { known[print] = folder }
            }
            return known[fingerprint]
        }
        return nil
    }

    /// Downloads the dataset through `request` (one `fetch` → one `chunk`), verifies it and moves
    /// it into the cache. Returns its folder.
    public func download(_ dataset: DatasetRef, request: (Fetch) throws -> Chunk) throws -> URL {
        let destination = cacheDirectory.appendingPathComponent(dataset.fingerprint)
        try FileManager.default.createDirectory(at: cacheDirectory, withIntermediateDirectories: true)
        let temporary = cacheDirectory.appendingPathComponent(".download-\(dataset.fingerprint.prefix(16))-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: temporary, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: temporary) }
        for file in dataset.files {
            guard Dataset.formatFiles.contains(file.name) else {
                throw DatasetError(file: file.name, line: nil, message: "is not a file of the dataset format; refusing to write it")
            }
            let url = temporary.appendingPathComponent(file.name)
            guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
                throw DatasetError(file: file.name, line: nil, message: "cannot be created in \(temporary.path)")
            }
            let handle = try FileHandle(forWritingTo: url)
            defer { try? handle.close() }
            var offset = 0
            repeat {
                let chunk = try request(Fetch(fingerprint: dataset.fingerprint, file: file.name, offset: offset))
                guard chunk.file == file.name, chunk.offset == offset, !chunk.data.isEmpty || file.size == 0 else {
                    throw DatasetError(file: file.name, line: nil, message: "the coordinator sent a chunk for \(chunk.file) at \(chunk.offset), expected offset \(offset)")
                }
                try handle.write(contentsOf: chunk.data)
                offset += chunk.data.count
            } while offset < file.size
            try handle.close()
            let digest = sha256Hex(try Data(contentsOf: url))
            guard digest == file.sha256 else {
                throw DatasetError(file: file.name, line: nil, message: "downloaded SHA-256 \(digest) differs from the coordinator's \(file.sha256)")
            }
        }
        let fingerprint = try DatasetFingerprint.compute(folder: temporary).fingerprint
        guard fingerprint == dataset.fingerprint else {
            throw DatasetError(file: temporary.path, line: nil, message: "downloaded dataset has fingerprint \(fingerprint), expected \(dataset.fingerprint)")
        }
        do {
            try FileManager.default.moveItem(at: temporary, to: destination)
        } catch where FileManager.default.fileExists(atPath: destination.appendingPathComponent("items.tsv").path) {
            // Another worker on this machine finished first; its copy is as good.
        }
        known[dataset.fingerprint] = destination
        return destination
    }
}
