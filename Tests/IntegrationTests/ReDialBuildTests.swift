import Foundation
import SweepCore
import TestSupport
import Testing

/// `tools/build-redial.py` builds the dataset from ReDial's and MovieLens' public files: from the
/// raw files the shared copy was built from, its output is byte for byte the shared copy.
@Suite struct ReDialBuildTests {
    static let script = ReDialData.repository.appendingPathComponent("tools/build-redial.py").path
    static let raw = ReDialData.shared.appendingPathComponent("raw")
    static let rawPresent = FileManager.default.fileExists(atPath: raw.appendingPathComponent("movies_with_mentions.csv.gz").path)
    /// The files of the official train split the shared copy was recovered from, in its order.
    static let trainParts = [
        "trainpart_kgsf_valid", "trainpart_shupeili_kgsf_valid", "trainpart_irreel_valid", "trainpart_irreel_test",
        "part_kepler_train", "part_amitkumar_short", "trainpart_cfcrs_valid",
    ].map { raw.appendingPathComponent("\($0).jsonl.gz").path }

    @Test(.enabled(if: rawPresent, "the raw ReDial files are not beside the repository (../shared/data/redial/raw)"))
    func theBuiltFolderIsTheSharedCopyAndChecks() throws {
        let out = TestFolders.fresh("redial")
        let summary = try runProgram(
            "/usr/bin/env",
            [
                "python3", Self.script, "--movies", Self.raw.appendingPathComponent("movies_with_mentions.csv.gz").path,
                "--test", Self.raw.appendingPathComponent("redial_official_test_data.jsonl.gz").path, "--train",
            ] + Self.trainParts + [
                "--ml-movies", Self.raw.appendingPathComponent("ml-latest-small_movies.csv.gz").path,
                "--ml-tags", Self.raw.appendingPathComponent("ml-latest-small_tags.csv.gz").path, "--out", out.path,
            ])
        #expect(summary.contains(#""items": 6924, "train": 3502, "valid": 393, "test": 1253"#), "\(summary)")
        for file in ["items.tsv", "train.jsonl", "valid.jsonl", "test.jsonl", "tags.jsonl"] {
            let built = try Data(contentsOf: out.appendingPathComponent(file))
            let shared = try Data(contentsOf: ReDialData.shared.appendingPathComponent(file))
            #expect(built == shared, "\(file) differs from the shared copy")
        }
        // With the embeddings (tools/embed.py's output, taken from the shared copy) it is a dataset.
        for file in ["train.npy", "valid.npy", "test.npy", "tags.npy"] {
            try FileManager.default.createSymbolicLink(
                at: out.appendingPathComponent(file), withDestinationURL: ReDialData.shared.appendingPathComponent(file))
        }
        let check = try runSweep(["data", "check", out.path])
        #expect(check.status == 0, "\(check.stderr)")
    }

    @Test func aDamagedLineIsNamedWithItsFileAndNumber() throws {
        let workspace = Workspace()
        try workspace.write("movies.csv", "movieId,movieName\n1,Heat (1995)\n")
        try workspace.write("test.jsonl", #"{"conversationId": "1", "messages": [], "initiatorWorkerId": 1}"# + "\n{oops\n")
        let failure = #expect(throws: StoreError.self) {
            try runProgram(
                "/usr/bin/env",
                [
                    "python3", Self.script, "--movies", workspace.path("movies.csv"), "--test", workspace.path("test.jsonl"),
                    "--train", workspace.path("test.jsonl"), "--out", workspace.path("out"),
                ])
        }
        #expect(
            failure?.message.contains("\(workspace.path("test.jsonl")):2: not a ReDial conversation") == true,
            "\(String(describing: failure))")
    }
}
