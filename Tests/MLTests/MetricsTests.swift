import Foundation
import Testing
import Vocabulary

@testable import ML

@Suite struct MetricsTests {
    func score(_ scores: [Float], mentioned: [Int32], targets: [Int32], popularity: [Int]? = nil) -> RankingMetrics {
        let accumulator = MetricAccumulator(
            itemCount: scores.count, popularity: popularity ?? [Int](repeating: 0, count: scores.count), capacity: 1)
        var scores = scores
        accumulator.add(scores: &scores, mentioned: mentioned, targets: targets)
        return accumulator.metrics
    }

    /// Scores fall with the index, except items 1 and 2 tie (the lower index ranks first).
    let twelve: [Float] = [0.99, 0.9, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05]

    @Test func maskingTiesAndPartialHits() {
        // Item 0 is mentioned (masked), so the ranking is 1, 2, 3, …, 11; targets 2 (rank 2) and 11 (rank 11).
        let m = score(twelve, mentioned: [0], targets: [11, 2])
        let discount2 = 1 / log2(3.0)
        #expect(abs(m.ndcg10 - discount2 / (1 + discount2)) < 1e-12)
        #expect(m.recall10 == 0.5)
        #expect(m.recall50 == 1)
        #expect(m.mrr == 0.5)
        #expect(abs(m.coverage10 - 10.0 / 12) < 1e-12)  // items 1…10
    }

    @Test func tieBreaksToTheLowerIndex() {
        let allEqual = [Float](repeating: 0.5, count: 20)
        // Ranking 0, 1, 2, …: target 9 is rank 10, target 10 is rank 11.
        #expect(abs(score(allEqual, mentioned: [], targets: [9]).ndcg10 - 1 / log2(11.0)) < 1e-12)
        #expect(score(allEqual, mentioned: [], targets: [10]).ndcg10 == 0)
        #expect(score(allEqual, mentioned: [], targets: [10]).mrr == 1.0 / 11)
    }

    @Test func moreThanTenTargets() {
        let m = score(twelve, mentioned: [0], targets: Array(1...11))
        #expect(abs(m.ndcg10 - 1) < 1e-12)  // the ideal DCG is capped at 10 hits
        #expect(abs(m.recall10 - 10.0 / 11) < 1e-12)
        #expect(m.recall50 == 1)
        #expect(m.mrr == 1)
    }

    @Test func noHitAnywhereInTheTop100() {
        var scores = [Float](repeating: 1, count: 150)
        scores[120] = 0  // the target ranks last
        let m = score(scores, mentioned: [], targets: [120])
        #expect(m.ndcg10 == 0 && m.recall10 == 0 && m.recall50 == 0 && m.mrr == 0)
    }

    @Test func collapseDiagnosticsAndAveraging() {
        // Popularity: items 11, 10, …, 2 are the top 10 (counts rise with the index; 0 and 1 have none).
        let popularity = (0..<12).map { $0 < 2 ? 0 : $0 }
        let accumulator = MetricAccumulator(itemCount: 12, popularity: popularity, capacity: 2)
        #expect(accumulator.popularTop10 == Set((2...11).map { Int32($0) }))
        var first = twelve  // top 10 after masking item 0: 1…10 → overlap with 2…11 is 9
        accumulator.add(scores: &first, mentioned: [0], targets: [1])
        var second = twelve  // no mask: 0…9 → overlap 8 (2…9)
        accumulator.add(scores: &second, mentioned: [], targets: [11])
        let m = accumulator.metrics
        #expect(abs(m.popOverlap10 - (0.9 + 0.8) / 2) < 1e-12)
        #expect(abs(m.coverage10 - 11.0 / 12) < 1e-12)  // 0…10
        #expect(abs(m.ndcg10 - (1 + 0) / 2) < 1e-12)
        #expect(abs(m.mrr - (1 + 1.0 / 12) / 2) < 1e-12)
    }

    @Test func partialSelectionAgreesWithAFullSort() {
        var rng = Xoshiro256(seed: 8)
        for _ in 0..<50 {
            // Few distinct values, so ties are everywhere.
            let scores = (0..<500).map { _ in Float(rng.nextIndex(below: 20)) }
            var top = TopK(capacity: 100)
            for (j, s) in scores.enumerated() { top.offer(score: s, item: Int32(j)) }
            let expected = scores.enumerated().sorted { $0.element > $1.element || ($0.element == $1.element && $0.offset < $1.offset) }
            #expect(top.sorted().map { Int($0.item) } == expected.prefix(100).map(\.offset))
        }
    }

    @Test func nanScoresNeverCrashAndNeverRankFirst() {
        var scores = [Float](repeating: .nan, count: 30)
        scores[7] = 0.1
        let m = score(scores, mentioned: [], targets: [7])
        #expect(m.mrr == 1)
    }
}
