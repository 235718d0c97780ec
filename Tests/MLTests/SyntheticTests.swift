import Foundation
import TestSupport
import Testing
import Vocabulary

@testable import ML

@Suite struct SyntheticTests {
    @Test func sameSeedGivesByteIdenticalFilesAndOtherSeedsDiffer() throws {
        let options = SyntheticDataset.Options(items: 120, train: 60, valid: 20, test: 20, dimension: 8, tags: 30, tastes: 5, seed: 42)
        let base = TestFolders.fresh("synth")
        try SyntheticDataset(options: options).write(to: base.appendingPathComponent("a"))
        try SyntheticDataset(options: options).write(to: base.appendingPathComponent("b"))
        var other = options
        other.seed = 43
        try SyntheticDataset(options: other).write(to: base.appendingPathComponent("c"))
        let a = try DatasetFingerprint.compute(folder: base.appendingPathComponent("a"))
        #expect(a == (try DatasetFingerprint.compute(folder: base.appendingPathComponent("b"))))
        #expect(a.fingerprint != (try DatasetFingerprint.compute(folder: base.appendingPathComponent("c"))).fingerprint)
        // Only exactly rounded arithmetic is used, so these bytes are the same on every machine.
        #expect(a.fingerprint == "f8a5cc954434c977c393d0b3d807156960aa871f25f244aaf917e26c326310bc")
    }

    @Test func presetsHaveTheAdvertisedShape() throws {
        let dataset = try Dataset.load(from: SyntheticFixtures.folder(.small, seed: 0))
        #expect(dataset.itemCount == 1500 && dataset.dimension == 64 && dataset.tags?.count == 800)
        #expect(abs(dataset.averageTargets - 3.1) < 0.3)
        #expect(dataset.train.mentioned.filter { !$0.isEmpty }.count > dataset.train.count * 8 / 10)
        // Zipf popularity: the most popular item is a target far more often than the median one.
        let counts = dataset.trainItemCounts.sorted()
        #expect(counts.last! > 20 * max(counts[counts.count / 2], 1))
        // Mentioned and targets never overlap, and targets are distinct.
        for (mentioned, targets) in zip(dataset.train.mentioned, dataset.train.targets) {
            #expect(Set(mentioned).isDisjoint(with: targets) && Set(targets).count == targets.count)
        }
        let redial = SyntheticDataset.Options.redial
        #expect(redial.items == 6924 && redial.dimension == 384 && redial.train == 3502)
    }
}
