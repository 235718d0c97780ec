import Foundation

/// Where a sweep file's `dataset: {name: NAME}` is looked for: each folder of `SWEEP_DATA_PATH`
/// (colon-separated), then a `data/` folder in the sweep file's folder or any folder above it (so
/// a repository's sweeps find its `data/`), then `$XDG_DATA_HOME/sweep/datasets` (by default
/// `~/.local/share/sweep/datasets`). The first `<folder>/NAME` holding `items.tsv` wins.
public struct DatasetSearch: Sendable {
    /// The folders searched, in order.
    public var folders: [URL]

    /// The search path for a sweep file at `file`, with `environment`'s variables.
    public init(file: URL, environment: [String: String] = ProcessInfo.processInfo.environment) {
        var folders = (environment["SWEEP_DATA_PATH"] ?? "").split(separator: ":").map { URL(fileURLWithPath: String($0)) }
        var folder = file.deletingLastPathComponent().standardizedFileURL
        while true {
            folders.append(folder.appendingPathComponent("data"))
            let parent = folder.deletingLastPathComponent().standardizedFileURL
            if parent.path == folder.path { break }
            folder = parent
        }
        let dataHome =
            environment["XDG_DATA_HOME"].map { URL(fileURLWithPath: $0) }
            ?? URL(fileURLWithPath: environment["HOME"] ?? NSHomeDirectory()).appendingPathComponent(".local/share")
        folders.append(dataHome.appendingPathComponent("sweep/datasets"))
        self.folders = folders
    }

    /// Whether `name` can name a dataset: letters, digits, `_`, `-` and `.`, not `.` or `..`.
    public static func isName(_ name: String) -> Bool {
        !name.isEmpty && name != "." && name != ".."
            && name.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) || "_-.".unicodeScalars.contains($0) }
    }

    /// The first folder named `name` that holds a dataset, or nil.
    public func find(_ name: String) -> URL? {
        folders.map { $0.appendingPathComponent(name) }.first {
            FileManager.default.fileExists(atPath: $0.appendingPathComponent("items.tsv").path)
        }
    }
}
