import Foundation
import ML
import Programs
import Protocol
import Vocabulary

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
            for folder in [dataRoot] + children
            where FileManager.default.fileExists(atPath: folder.appendingPathComponent("items.tsv").path) {
                if let print = try? DatasetFingerprint.compute(folder: folder).fingerprint { known[print] = folder }
            }
            return known[fingerprint]
        }
        return nil
    }

    /// Downloads the dataset through `request` (one `fetch` → one `chunk`), verifies it and moves
    /// it into the cache. Returns its folder.
    public func download(_ dataset: DatasetRef, request: (Fetch) throws -> Chunk) throws -> URL {
        for file in dataset.files where !DatasetFingerprint.formatFiles.contains(file.name) {
            throw DatasetError(file: file.name, line: nil, message: "is not a file of the dataset format; refusing to write it")
        }
        let destination = try downloadFolder(fingerprint: dataset.fingerprint, files: dataset.files, into: cacheDirectory, request: request)
        { folder in
            let fingerprint = try DatasetFingerprint.compute(folder: folder).fingerprint
            guard fingerprint == dataset.fingerprint else {
                throw DatasetError(
                    file: folder.path, line: nil,
                    message: "downloaded dataset has fingerprint \(fingerprint), expected \(dataset.fingerprint)")
            }
        }
        known[dataset.fingerprint] = destination
        return destination
    }

    /// Where fetched programs are kept: `<cache>/programs/<fingerprint>/`.
    public var programDirectory: URL { cacheDirectory.appendingPathComponent("programs") }

    /// The program with this fingerprint, fetched before (not yet verified by this process).
    public func locateProgram(_ fingerprint: String) -> URL? {
        let folder = programDirectory.appendingPathComponent(fingerprint)
        return FileManager.default.fileExists(atPath: folder.path) ? folder : nil
    }

    /// Downloads a program's files (paths inside its folder, never outside), verifies them and
    /// its fingerprint, makes them read-only, and moves the folder into the cache.
    public func downloadProgram(_ program: ProgramRef, request: (Fetch) throws -> Chunk) throws -> URL {
        let total = program.files.reduce(0) { $0 + $1.size }
        guard total <= ProgramFingerprint.maximumBytes else {
            throw ProgramError(
                "the program is \(total >> 20) MiB, more than the \(ProgramFingerprint.maximumBytes >> 20) MiB a worker fetches")
        }
        for file in program.files {
            if let problem = ProgramFingerprint.nameProblem(file.name) {
                throw ProgramError("the program file \(file.name.debugDescription) \(problem); refusing the program")
            }
        }
        return try downloadFolder(fingerprint: program.fingerprint, files: program.files, into: programDirectory, request: request) {
            folder in
            let fingerprint = try ProgramFingerprint.compute(folder: folder).fingerprint
            guard fingerprint == program.fingerprint else {
                throw ProgramError("the downloaded program has fingerprint \(fingerprint), expected \(program.fingerprint)")
            }
            for file in program.files {
                try FileManager.default.setAttributes(
                    [.posixPermissions: 0o555], ofItemAtPath: folder.appendingPathComponent(file.name).path)
            }
        }
    }

    /// Fetches `files` chunk by chunk into a temporary folder beside `parent`, checks each file's
    /// SHA-256 and then the whole (`verify`), and renames it to `parent/<fingerprint>`, so
    /// concurrent workers and a `kill -9` mid-download never leave a broken copy.
    private func downloadFolder(
        fingerprint: String, files: [FileDigest], into parent: URL, request: (Fetch) throws -> Chunk,
        verify: (URL) throws -> Void
    ) throws -> URL {
        let destination = parent.appendingPathComponent(fingerprint)
        try FileManager.default.createDirectory(at: parent, withIntermediateDirectories: true)
        let temporary = parent.appendingPathComponent(".download-\(fingerprint.prefix(16))-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: temporary, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: temporary) }
        for file in files {
            let url = temporary.appendingPathComponent(file.name)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
                throw DatasetError(file: file.name, line: nil, message: "cannot be created in \(temporary.path)")
            }
            let handle = try FileHandle(forWritingTo: url)
            defer { try? handle.close() }
            var offset = 0
            repeat {
                let chunk = try request(Fetch(fingerprint: fingerprint, file: file.name, offset: offset))
                guard chunk.file == file.name, chunk.offset == offset, !chunk.data.isEmpty || file.size == 0 else {
                    throw DatasetError(
                        file: file.name, line: nil,
                        message: "the coordinator sent a chunk for \(chunk.file) at \(chunk.offset), expected offset \(offset)")
                }
                guard offset + chunk.data.count <= file.size else {
                    throw DatasetError(file: file.name, line: nil, message: "the coordinator sent more than the file's \(file.size) bytes")
                }
                try handle.write(contentsOf: chunk.data)
                offset += chunk.data.count
            } while offset < file.size
            try handle.close()
            let digest = sha256Hex(try Data(contentsOf: url))
            guard digest == file.sha256 else {
                throw DatasetError(
                    file: file.name, line: nil, message: "downloaded SHA-256 \(digest) differs from the coordinator's \(file.sha256)")
            }
        }
        try verify(temporary)
        do {
            try FileManager.default.moveItem(at: temporary, to: destination)
        } catch  where FileManager.default.fileExists(atPath: destination.path) {
            // Another worker on this machine finished first; its copy is as good.
        }
        return destination
    }
}
