import Foundation
import TestSupport
import Testing
import Vocabulary

@testable import SweepCore

/// Warm starts: configs a user enqueues run first, and another sweep's results seed TPE.
@Suite struct EnqueueTests {
    let grid = ControllerTests()

    /// A conditional space: `focal_gamma` only for the focal loss.
    let conditional =
        syntheticHeader + """
            method: grid
            fixed: {epochs: 3, hidden: 64}
            parameters:
              loss: {values: [bce, focal]}
              lr: {values: [0.001, 0.002]}
              focal_gamma: {values: [1.0, 2.0], when: {loss: focal}}
            """

    func values(_ pairs: [String: ConfigValue]) -> [String: ConfigValue] { pairs }

    @Test func aConfigOutsideTheSpaceIsRefusedWithTheKeyAndTheRule() throws {
        let space = SearchSpace(spec: try spec(conditional))
        let fine = space.enqueued(["loss": .string("focal"), "lr": .double(0.002), "focal_gamma": .double(2)])
        #expect(fine.problems.isEmpty && fine.config?.lr == 0.002)
        func problems(_ values: [String: ConfigValue]) -> [String] { space.enqueued(values).problems.map(\.description) }
        #expect(
            problems(["loss": .string("bce"), "lr": .double(0.5)]) == ["lr: 0.5 is outside its rule: one of [0.001, 0.002]"])
        #expect(
            problems(["loss": .string("bce"), "lr": .double(0.001), "hidden": .int(128)]) == [
                "hidden: is fixed at 64 by the sweep file, not 128"
            ])
        #expect(
            problems(["loss": .string("bce"), "lr": .double(0.001), "dropout": .double(0.2)]) == [
                "dropout: is not a key this sweep searches or fixes (it searches loss, lr, focal_gamma)"
            ])
        #expect(
            problems(["loss": .string("focal"), "lr": .double(0.001)]) == [
                "focal_gamma: is missing: the sweep searches it, so give its value"
            ])
        #expect(
            problems(["loss": .string("bce"), "lr": .double(0.001), "focal_gamma": .double(2)]) == [
                "focal_gamma: is inactive for this config (it applies when loss in [focal])"
            ])
        // --force runs what the user may mean (other values, other keys), never what cannot run.
        let outside = space.enqueued(["loss": .string("bce"), "lr": .double(0.5)]).problems
        let missing = space.enqueued(["loss": .string("focal"), "lr": .double(0.001)]).problems
        #expect(outside.allSatisfy { $0.forceable } && missing.allSatisfy { !$0.forceable })
        let invalid = space.enqueued(["loss": .string("bce"), "lr": .double(-1)]).problems
        #expect(invalid.contains { $0.key == "config" && !$0.forceable })
    }

    @Test func enqueuedConfigsRunBeforeThePlanAndStayThroughRelaunches() throws {
        let parsed = try spec(conditional)
        let controller = try grid.controller(parsed)
        let space = SearchSpace(spec: parsed)
        let outside = try #require(space.enqueued(["loss": .string("bce"), "lr": .double(0.01)]).config)
        let planned = try #require(space.enqueued(["loss": .string("focal"), "lr": .double(0.002), "focal_gamma": .double(2)]).config)
        #expect(try controller.store.enqueue(outside, forced: true, repeats: 1) == .added(firstNumber: 7))
        #expect(try controller.store.enqueue(planned, forced: false, repeats: 1) == .movedUp(firstNumber: 6))
        // The enqueued ones first (in number order), then the plan from its start.
        let order = try (1...3).map { try grid.claim(controller, lease: "L\($0)").number }
        #expect(order == [6, 7, 1])
        let first = try #require(try controller.store.trials().first { $0.number == 6 })
        #expect(try controller.store.enqueue(first.config, forced: false, repeats: 1) == .alreadyThere(firstNumber: 6, state: .running))
        // A relaunch keeps the forced config (outside the space) and the planned one.
        let sync = try controller.applyPlan(fingerprint: "f1", popularity: nil)
        #expect(sync.retired == 0)
        let forced = try #require(try controller.store.trials().first { $0.number == 7 })
        #expect(forced.origin == ProposalOrigin(sampler: .enqueued, finished: 0, running: 0, forced: true))
        #expect(forced.origin?.description == "enqueued by the user with --force (outside the sweep's space)")
        let sweep = try #require(try controller.store.sweep())
        let board = try LeaderboardReport(sweep, store: controller.store, all: true).table(byConfig: false)
        #expect(board.contains("enqueued"))
    }

    @Test func theSweepFilesEnqueueListIsCheckedAndRunsFirst() throws {
        let bad = issues(conditional + "\nenqueue:\n  - {loss: bce, lr: 0.7}\n  - {loss: focal, lr: 0.001}\n")
        #expect(
            bad.map { "\($0.line ?? 0) \($0.path): \($0.message)" } == [
                "10 enqueue[0].lr: 0.7 is outside its rule: one of [0.001, 0.002]",
                "11 enqueue[1].focal_gamma: is missing: the sweep searches it, so give its value",
            ])
        let parsed = try spec(conditional + "\nenqueue:\n  - {loss: focal, lr: 0.001, focal_gamma: 1.0}\n")
        let controller = try TrialController(spec: parsed, store: SweepStore.inMemory(), trainExamples: 100)
        #expect(try controller.applyPlan(fingerprint: "f1", popularity: nil).enqueued == 0, "a planned config moves up, adds nothing")
        let claim = try grid.claim(controller, lease: "L1")
        #expect(try claim.config().loss == .focal && claim.config().focalGamma == 1)
    }

    /// TPE's proposals start from another sweep's results, which never enter this sweep's board.
    @Test func aWarmStartSeedsTPEWithAnotherSweepsResultsOfACompatibleSpace() throws {
        let folder = TestFolders.fresh("warm-start")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let previousPath = folder.appendingPathComponent("previous.db").path
        let previous = try grid.controller(
            try spec(
                syntheticHeader + """
                    method: grid
                    fixed: {epochs: 3}
                    parameters:
                      lr: {values: [0.001, 0.002, 0.003, 0.02]}
                    """), store: SweepStore.open(path: previousPath))
        for (index, value) in [0.1, 0.3, 0.2, 0.4].enumerated() { try grid.train(previous, [value], lease: "P\(index)") }
        let text =
            syntheticHeader + """
                method: tpe
                count: 6
                tpe: {startup_trials: 3}
                fixed: {epochs: 3}
                parameters:
                  lr: {distribution: log_uniform, min: 0.001, max: 0.01}
                warm_start: {db: previous.db}
                """
        let parsed = try SweepSpec.parse(text, file: folder.appendingPathComponent("tpe.yaml"))
        let controller = try grid.controller(parsed)
        let warm = try #require(controller.warmStart)
        #expect(warm.observations.count == 3 && warm.finished == 4 && warm.leftOut == ["have lr outside this sweep's range": 1])
        #expect(warm.summary.hasSuffix("(1 left out: 1 have lr outside this sweep's range)"))
        // Three finished configs already: past the startup draws, the first proposal is TPE's.
        for lease in ["L1", "L2", "L3"] { _ = try grid.claim(controller, lease: lease) }
        let proposed = try grid.claim(controller, lease: "L4")
        let origin = try #require(try controller.store.trials().first { $0.id == proposed.trial }?.origin)
        #expect(origin.sampler == .tpe && origin.warmStart == 3 && origin.finished == 3)
        #expect(origin.description == "proposed by tpe from 3 finished (3 of them from warm_start) and 3 running configs")
        #expect(try controller.store.trials().count == 4, "nothing of the other store is copied in")

        // Another dataset, or another first objective, is refused, saying which.
        #expect(throws: StoreError.self) { try WarmStart.load(URL(fileURLWithPath: previousPath), spec: parsed, fingerprint: "other") }
        let minimize = try SweepSpec.parse(
            text.replacingOccurrences(of: "method: tpe", with: "metric: {name: valid_mrr}\nmethod: tpe"),
            file: folder.appendingPathComponent("tpe.yaml"))
        do {
            _ = try WarmStart.load(URL(fileURLWithPath: previousPath), spec: minimize, fingerprint: "f1")
            Issue.record("another first objective was accepted")
        } catch {
            #expect("\(error)".contains("selected its trials' best epochs by"))
        }
        #expect(
            issues(syntheticHeader + "method: grid\nparameters:\n  lr: {values: [0.1]}\nwarm_start: {db: x.db}\n").map(\.path) == [
                "warm_start"
            ])
    }
}
