import Foundation
import Testing

/// `sweep data` and `sweep train` as a user runs them: real binary, real files, exit codes and output contracts.
@Suite struct TrainCommandTests {
    let workspace = Workspace()

    func path(_ name: String) -> String { workspace.path(name) }
    func write(_ name: String, _ text: String) throws { try workspace.write(name, text) }

    func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    /// A small synthetic dataset, made through the CLI.
    func synth(_ name: String = "data", seed: Int = 5) throws -> String {
        let result = try runSweep([
            "data", "synth", "--preset", "small", "--items", "300", "--train", "200", "--valid", "60",
            "--test", "60", "--dim", "16", "--tags", "40", "--seed", "\(seed)", "--out", path(name),
        ])
        #expect(result.status == 0, "\(result.stderr)")
        return path(name)
    }

    /// An output path that is a folder once failed after training with
    /// "NSCocoaErrorDomain Code=512 (null)"; now it is named before any work, and so is a missing folder.
    @Test func anOutputPathThatIsAFolderIsNamedBeforeTraining() throws {
        let data = try synth()
        try write("config.yaml", "epochs: 1\n")
        try FileManager.default.createDirectory(atPath: path("out"), withIntermediateDirectories: true)
        let folder = try runSweep(["train", "--data", data, "--config", path("config.yaml"), "--json-out", path("out")])
        #expect(folder.status != 0 && folder.stderr.contains("--json-out \(path("out")) is a folder; give a file name"), "\(folder.stderr)")
        #expect(!folder.stderr.contains("NSCocoaErrorDomain") && !folder.stderr.contains("examples/s"), "refused before training")
        let missing = try runSweep(["train", "--data", data, "--config", path("config.yaml"), "--json-out", path("nowhere/result.json")])
        #expect(missing.status != 0 && missing.stderr.contains("the folder \(path("nowhere")) does not exist"), "\(missing.stderr)")
        #expect(
            try runSweep(["train", "--data", data, "--config", path("config.yaml"), "--json-out", path("out/result.json")]).status == 0)
    }

    @Test func dataSynthAndCheck() throws {
        let data = try synth()
        let again = try runSweep([
            "data", "synth", "--preset", "small", "--items", "300", "--train", "200", "--valid", "60",
            "--test", "60", "--dim", "16", "--tags", "40", "--seed", "5", "--out", path("again"),
        ])
        let fingerprintLine = { (text: String) in text.split(separator: "\n").first { $0.hasPrefix("fingerprint") } }
        let check = try runSweep(["data", "check", data, "--json"])
        #expect(check.status == 0)
        let stats = try json(check.stdout)
        #expect(stats["items"] as? Int == 300)
        #expect((stats["examples"] as? [String: Int]) == ["train": 200, "valid": 60, "test": 60])
        let popularity = try #require(stats["popularity"] as? [String: [String: Double]])
        #expect(Set(popularity["valid"]!.keys) == ["ndcg@10", "recall@10", "recall@50", "mrr", "coverage@10", "pop_overlap@10"])
        #expect((stats["imbalance"] as! Double) > 50)
        #expect(fingerprintLine(again.stdout).map { "fingerprint \(stats["fingerprint"]!)" == String($0) } == true)
        let table = try runSweep(["data", "check", data])
        #expect(table.stdout.contains("imbalance    N / avg_targets = "))
        let broken = try runSweep(["data", "check", path("missing")])
        #expect(broken.status != 0)
        #expect(broken.stderr.contains("items.tsv: cannot be read"))
    }

    @Test func trainPrintsOneJSONDocumentAndIsDeterministic() throws {
        let data = try synth()
        try write("config.yaml", "loss: focal\nepochs: 3\nfocal_gamma: 1\n")
        let first = try runSweep(["train", "--data", data, "--config", path("config.yaml"), "--set", "lr=0.002", "--json-out", "-"])
        #expect(first.status == 0, "\(first.stderr)")
        let report = try json(first.stdout)
        #expect(Set(report.keys) == ["config", "dataset", "status", "best_epoch", "valid", "test", "history", "timing"])
        let config = try #require(report["config"] as? [String: Any])
        #expect(config["lr"] as? Double == 0.002 && config["focal_gamma"] as? Double == 1 && config["focal_alpha"] as? Double == 0.25)
        #expect(config["pos_weight_mult"] == nil)
        let history = try #require(report["history"] as? [[String: Any]])
        #expect(history.count == 3)
        #expect(Set(history[0].keys).isSuperset(of: ["epoch", "loss_main", "loss_aux", "weights", "valid", "test", "seconds"]))
        #expect(history[0]["loss_aux"] is NSNull)
        #expect((history[0]["weights"] as? [String: Any])?["aux"] is NSNull)
        let timing = try #require(report["timing"] as? [String: Any])
        #expect(timing["threads"] as? Int == 1 && (timing["examples_per_second"] as? Double ?? 0) > 0)
        #expect(!(timing["blas_core"] as? String ?? "").isEmpty)
        #expect(first.stderr.contains("epoch   3/3"))
        let second = try runSweep(["train", "--data", data, "--config", path("config.yaml"), "--set", "lr=0.002", "--json-out", "-"])
        let again = try json(second.stdout)
        #expect(NSDictionary(dictionary: report["valid"] as! [String: Any]) == NSDictionary(dictionary: again["valid"] as! [String: Any]))
        #expect(NSDictionary(dictionary: report["test"] as! [String: Any]) == NSDictionary(dictionary: again["test"] as! [String: Any]))
    }

    /// The prior alone trains nothing: one evaluation, reported as epoch 1 of 1, without a rate.
    @Test func trainRunsThePriorAlone() throws {
        let data = try synth()
        try write("prior.yaml", "model: none\ncooc: dialogue\nknn_k: 10\n")
        let run = try runSweep(["train", "--data", data, "--config", path("prior.yaml"), "--json-out", "-"])
        #expect(run.status == 0, "\(run.stderr)")
        let report = try json(run.stdout)
        #expect((report["history"] as? [[String: Any]])?.count == 1 && report["best_epoch"] as? Int == 1)
        #expect(((report["valid"] as? [String: Any])?["ndcg@10"] as? Double ?? 0) > 0)
        #expect(
            run.stderr.contains("epoch   1/1") && run.stderr.contains("the prior alone: nothing trained") && !run.stderr.contains("ex/s"))
    }

    @Test func badConfigsNameTheKey() throws {
        let data = try synth()
        try write("bad.yaml", "loss: bce\npos_weight_mult: 2\n")
        let inactive = try runSweep(["train", "--data", data, "--config", path("bad.yaml")])
        #expect(inactive.status != 0)
        #expect(inactive.stderr.contains("config key 'pos_weight_mult': is set but only used with loss: weighted_bce"))
        try write("ok.yaml", "epochs: 1\n")
        let range = try runSweep(["train", "--data", data, "--config", path("ok.yaml"), "--set", "dropout=1.5"])
        #expect(range.stderr.contains("config key 'dropout': must be in [0, 1), got 1.5"))
        let noData = try runSweep(["train", "--config", path("ok.yaml")])
        #expect(noData.status != 0 && noData.stderr.contains("--data DIR is required"))
    }

    @Test func aTrialFileReproducesAndRefusesOtherData() throws {
        let data = try synth()
        let check = try json(try runSweep(["data", "check", data, "--json"]).stdout)
        let fingerprint = check["fingerprint"] as! String
        // The dataset path is relative to the trial file's folder.
        try write(
            "trial.yaml",
            """
            trial: {loss: weighted_bce, pos_weight_mult: 0.5, epochs: 2, seed: 9}
            dataset: {path: data, fingerprint: \(fingerprint)}
            threads: 1

            """)
        try write("plain.yaml", "loss: weighted_bce\npos_weight_mult: 0.5\nepochs: 2\nseed: 9\n")
        let fromFile = try json(try runSweep(["train", "--config", path("trial.yaml"), "--json-out", "-"]).stdout)
        let fromPlain = try json(try runSweep(["train", "--data", data, "--config", path("plain.yaml"), "--json-out", "-"]).stdout)
        #expect(
            NSDictionary(dictionary: fromFile["valid"] as! [String: Any]) == NSDictionary(dictionary: fromPlain["valid"] as! [String: Any]))
        let other = try synth("other", seed: 6)
        let refused = try runSweep(["train", "--config", path("trial.yaml"), "--data", other])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("trial file fingerprint \(fingerprint)"))
        #expect(refused.stderr.contains("dataset fingerprint    "))
    }

    @Test func aSyntheticTrialFileRegeneratesItsDataAndSaveModelWritesWeights() throws {
        let cache = path("cache")
        // The fingerprint of preset small, seed 3, computed by generating it once through the CLI.
        _ = try runSweep(["data", "synth", "--preset", "small", "--seed", "3", "--out", path("small3")])
        let fingerprint = try json(try runSweep(["data", "check", path("small3"), "--json"]).stdout)["fingerprint"] as! String
        try write("synthetic.yaml", "trial: {epochs: 1}\ndataset: {synthetic: {preset: small, seed: 3}, fingerprint: \(fingerprint)}\n")
        let result = try runSweep(
            ["train", "--config", path("synthetic.yaml"), "--save-model", path("model")],
            environment: ["XDG_CACHE_HOME": cache])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(FileManager.default.fileExists(atPath: cache + "/sweep/synthetic-small-3/train.npy"))
        let manifest = try json(String(decoding: try Data(contentsOf: URL(fileURLWithPath: path("model/manifest.json"))), as: UTF8.self))
        let tensors = try #require(manifest["tensors"] as? [[String: Any]])
        #expect(tensors.map { $0["name"] as! String } == ["trunk.weight", "trunk.bias", "output.weight", "output.bias"])
        let weights = try Data(contentsOf: URL(fileURLWithPath: path("model/output.weight.npy")))
        #expect(weights.count == 128 + 1500 * 512 * 4)
    }
}
