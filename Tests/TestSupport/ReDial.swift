import Foundation

/// The ReDial dataset where the shipped sweeps and examples read it: `data/redial` in the
/// repository (ignored by git). Users put their own copy there; the tests link it to the copy
/// beside the repository (`../shared/data/redial`, which CI has), once per checkout.
public enum ReDialData {
    /// The repository's root.
    public static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// The dataset beside the repository.
    public static let shared = repository.appendingPathComponent("../shared/data/redial").standardizedFileURL

    /// `data/redial` in the repository, linked to ``shared`` when nothing is there yet.
    public static let inRepository: URL = {
        let folder = repository.appendingPathComponent("data/redial")
        if !FileManager.default.fileExists(atPath: folder.path) {
            try? FileManager.default.createDirectory(at: folder.deletingLastPathComponent(), withIntermediateDirectories: true)
            // Another test process may link it at the same moment: either link serves.
            try? FileManager.default.createSymbolicLink(atPath: folder.path, withDestinationPath: shared.path)
        }
        return folder
    }()
}
