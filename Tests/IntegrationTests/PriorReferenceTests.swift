import Foundation
import Testing

/// Whether NumPy imports here (make test installs it with Optuna).
let numpyAvailable = (try? runProgram("/usr/bin/env", ["python3", "-c", "import numpy"])) != nil

/// `sweep data check`'s prior alone on the real ReDial data against `prior_reference.py`, an
/// independent NumPy implementation of docs/ml-extensions.md's formulas (float64, its own
/// co-occurrence counts, neighbour search and metric).
@Suite struct PriorReferenceTests {
    static let redial = ProgramExampleTests.redial
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("prior_reference.py").path

    @Test(.enabled(if: numpyAvailable, "NumPy is not installed (make test installs it with Optuna): the reference cannot run"))
    func thePriorAloneIsTheReferencesOnReDial() throws {
        let check = try runSweep(["data", "check", Self.redial.path, "--json"])
        #expect(check.status == 0, "\(check.stderr)")
        let ours = try #require(try JSONSerialization.jsonObject(with: Data(check.stdout.utf8)) as? [String: Any])
        for (document, k) in [("cooccurrence_prior", 0), ("neighbour_prior", 20)] {
            let prior = try #require(ours[document] as? [String: Any])
            #expect(prior["cooc"] as? String == "dialogue")
            let arguments = [
                Self.script, Self.redial.path, "\(prior["cooc_weight"]!)", "\(prior["cooc_popularity"]!)", "\(k)",
                "\(prior["knn_weight"] ?? 1)", "\(prior["knn_power"] ?? 1)",
            ]
            let reference = try #require(
                try JSONSerialization.jsonObject(with: Data(try runProgram("/usr/bin/env", ["python3"] + arguments).utf8))
                    as? [String: [String: Double]])
            for split in ["valid", "test"] {
                let mine = try #require(prior[split] as? [String: Double])
                for metric in ["ndcg@10", "recall@10"] {
                    let (a, b) = (try #require(mine[metric]), try #require(reference[split]?[metric]))
                    // float32 against float64 scores may order one near-tie differently: a few
                    // 1e-5 on 1,253 examples; a wrong formula moves these by 1e-2.
                    #expect(abs(a - b) < 3e-4, "\(document) \(split) \(metric): ours \(a), NumPy's \(b)")
                }
            }
        }
        // The neighbours add to the co-occurrence prior on ReDial's valid split (0.186 against 0.162).
        let valid = { (name: String) in ((ours[name] as? [String: Any])?["valid"] as? [String: Double])?["ndcg@10"] ?? 0 }
        #expect(valid("neighbour_prior") > valid("cooccurrence_prior") + 0.01)
    }
}
