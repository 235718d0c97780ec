import Foundation
import TestSupport
import Testing
import Vocabulary

@testable import SweepCore

/// `dataset: {name: NAME}`: found on the search path, first hit wins, a miss says where it looked.
@Suite struct DatasetSearchTests {
    func makeDataset(_ folder: URL) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try Data("index\tredial_id\ttitle\n".utf8).write(to: folder.appendingPathComponent("items.tsv"))
    }

    @Test func aNameIsFoundInTheEnvironmentsFoldersThenInDataFoldersAboveTheFile() throws {
        let root = TestFolders.fresh("dataset-search")
        let file = root.appendingPathComponent("project/sweeps/s.yaml")
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try makeDataset(root.appendingPathComponent("project/data/redial"))
        try makeDataset(root.appendingPathComponent("elsewhere/redial"))
        let home = ["HOME": root.appendingPathComponent("home").path]

        let above = DatasetSearch(file: file, environment: home)
        #expect(above.find("redial")?.path == root.appendingPathComponent("project/data/redial").path)
        #expect(above.folders.first?.path == root.appendingPathComponent("project/sweeps/data").path)
        #expect(above.folders.last?.path == root.appendingPathComponent("home/.local/share/sweep/datasets").path)
        let listed = DatasetSearch(
            file: file, environment: home.merging(["SWEEP_DATA_PATH": "/nowhere:" + root.appendingPathComponent("elsewhere").path]) { $1 })
        #expect(listed.find("redial")?.path == root.appendingPathComponent("elsewhere/redial").path)
        #expect(listed.find("movielens") == nil)
        let xdg = DatasetSearch(file: file, environment: ["XDG_DATA_HOME": "/xdg"])
        #expect(xdg.folders.last?.path == "/xdg/sweep/datasets")

        // Through a sweep file: the folder found becomes the sweep's dataset path.
        let text = "name: t\ndataset: {name: redial}\nmethod: grid\nfixed: {epochs: 1}\n"
        try Data(text.utf8).write(to: file)
        #expect(try SweepSpec.load(file).dataset == .path(root.appendingPathComponent("project/data/redial").path))
        #expect(
            DatasetSearch.isName("redial") && DatasetSearch.isName("ml-25m.v2") && !DatasetSearch.isName("..")
                && !DatasetSearch.isName("a/b"))
    }

    @Test func aMissingOrBadNameIsRefusedWithWhereItLooked() {
        let missing = issues("name: t\ndataset: {name: no-such-dataset}\nmethod: grid\nfixed: {epochs: 1}\n")
        let issue = missing.first { $0.path == "dataset.name" }
        #expect(issue?.line == 2 && issue?.message.contains("no dataset folder no-such-dataset") == true, "\(missing)")
        #expect(issue?.message.contains("/tmp/sweep-tests/data") == true && issue?.message.contains("SWEEP_DATA_PATH") == true)
        let bad = issues("name: t\ndataset: {name: ../etc}\nmethod: grid\nfixed: {epochs: 1}\n")
        #expect(bad.contains { $0.path == "dataset.name" && $0.message.contains("a dataset's folder name") }, "\(bad)")
        let both = issues("name: t\ndataset: {name: redial, synthetic: {preset: small}}\nmethod: grid\nfixed: {epochs: 1}\n")
        #expect(both.contains { $0.path == "dataset" && $0.message.contains("{name: NAME}") }, "\(both)")
    }
}
