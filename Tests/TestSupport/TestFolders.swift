import Foundation

/// Every folder a test makes lives under one folder per test process, removed when it exits,
/// so running the suite leaves nothing behind in the temporary directory.
public enum TestFolders {
    /// `$TMPDIR/sweep-tests-<pid>`, created on first use.
    public static let root: URL = {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("sweep-tests-\(getpid())")
        try? FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(at: TestFolders.root) }
        return root
    }()

    /// A new folder's URL (not created) named `prefix` and a UUID.
    public static func fresh(_ prefix: String) -> URL { root.appendingPathComponent("\(prefix)-\(UUID().uuidString)") }
}
