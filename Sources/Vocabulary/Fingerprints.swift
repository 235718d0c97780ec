import Crypto
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// One file named by content: its path (relative, `/`-separated), size in bytes and SHA-256 hex.
/// Datasets and program folders are fingerprinted as lists of these.
public struct FileDigest: Codable, Hashable, Sendable {
    public var name: String
    public var size: Int
    public var sha256: String

    public init(name: String, size: Int, sha256: String) {
        self.name = name
        self.size = size
        self.sha256 = sha256
    }
}

/// A file type as an error names it ("a FIFO", "a folder", …), from `stat`'s mode.
public func fileTypeName(_ mode: mode_t) -> String {
    switch mode & S_IFMT {
    case S_IFIFO: "a FIFO"
    case S_IFCHR: "a character device"
    case S_IFBLK: "a block device"
    case S_IFSOCK: "a socket"
    case S_IFDIR: "a folder"
    case S_IFLNK: "a symbolic link"
    case S_IFREG: "a regular file"
    default: "something other than a regular file"
    }
}

/// Lower-case hex SHA-256 of some bytes.
public func sha256Hex(_ bytes: some DataProtocol) -> String {
    SHA256.hash(data: bytes).map { byte in
        let hex = String(byte, radix: 16)
        return byte < 16 ? "0" + hex : hex
    }.joined()
}

/// A dataset that breaks a rule of `dataset-format.md`, naming the file and, where it applies, the line.
public struct DatasetError: Error, CustomStringConvertible, Equatable, Sendable {
    public var file: String
    public var line: Int?
    public var message: String

    public init(file: String, line: Int?, message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    public var description: String {
        if let line { return "\(file):\(line): \(message)" }
        return "\(file): \(message)"
    }
}

/// A dataset folder found on this machine, with its fingerprint: what a coordinator ships.
public struct LocatedDataset: Sendable {
    public var folder: URL
    public var fingerprint: DatasetFingerprint

    public init(folder: URL, fingerprint: DatasetFingerprint) {
        self.folder = folder
        self.fingerprint = fingerprint
    }
}

/// A dataset's identity by content: SHA-256 over the sorted (relative path, SHA-256) pairs of the
/// format's files. README, raw sources and other extras do not count, so they may differ.
public struct DatasetFingerprint: Sendable, Equatable {
    /// The files of the dataset format present in a folder (README, raw sources and extras excluded).
    public static let formatFiles = [
        "items.tsv", "train.jsonl", "train.npy", "valid.jsonl", "valid.npy",
        "test.jsonl", "test.npy", "tags.jsonl", "tags.npy",
    ]

    public var fingerprint: String
    public var files: [FileDigest]

    public init(fingerprint: String, files: [FileDigest]) {
        self.fingerprint = fingerprint
        self.files = files
    }

    /// Hashes the format files present in `folder`.
    public static func compute(folder: URL) throws -> DatasetFingerprint {
        var files: [FileDigest] = []
        for name in formatFiles.sorted() {
            let url = folder.appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: url.path) else { continue }
            let bytes = try readRegularFile(url)
            files.append(FileDigest(name: name, size: bytes.count, sha256: sha256Hex(bytes)))
        }
        guard !files.isEmpty else {
            throw DatasetError(file: folder.path, line: nil, message: "is not a dataset folder (no items.tsv, *.jsonl or *.npy)")
        }
        let listing = files.map { "\($0.name)\t\($0.sha256)\n" }.joined()
        return DatasetFingerprint(fingerprint: sha256Hex(Array(listing.utf8)), files: files)
    }
}

/// The bytes of a regular file; anything else (a FIFO would block, a link to /dev/zero never
/// end) is refused, naming the file and what it is.
public func readRegularFile(_ url: URL) throws -> [UInt8] {
    // A FIFO would block and a link to /dev/zero would never end: only a regular file is read.
    var status = stat()
    if stat(url.path, &status) == 0, status.st_mode & S_IFMT != S_IFREG {
        throw DatasetError(
            file: url.lastPathComponent, line: nil,
            message: "is not a regular file (it is \(fileTypeName(status.st_mode))) in \(url.deletingLastPathComponent().path)")
    }
    guard let data = FileManager.default.contents(atPath: url.path) else {
        throw DatasetError(
            file: url.lastPathComponent, line: nil,
            message: "cannot be read (missing or unreadable) in \(url.deletingLastPathComponent().path)")
    }
    return [UInt8](data)
}
