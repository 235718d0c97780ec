import Foundation
import SweepCore
import TestSupport
import Testing

/// Many workers at once, and faults in any order: a real `sweep launch` with a thousand simulated
/// workers joining, working and leaving, and the chaos tool's short seeded schedule over two real
/// sweeps with real workers, its checks reading the stores with sqlite3.
@Suite(.serialized) struct ScaleAndFaultTests {
    /// A thousand simulated workers (real sockets, the real protocol) join within two seconds, each
    /// runs one trial and says bye; two hundred more finish the sweep and are told so. Every trial
    /// completes once; the only other attempts are the trials offered with each leaver's ack, handed
    /// back uncounted by its bye; every worker is recorded offline, none lost.
    @Test func aThousandSimulatedWorkersJoinGetTrialsAndLeaveCleanly() throws {
        let fixture = try DistributedFixture(
            trainExamples: 300,
            sweepText: """
                name: thousand
                dataset: data
                method: grid
                fixed: {epochs: 2}
                parameters:
                  lr: {values: [\((1...40).map { String(format: "0.%04d", $0) }.joined(separator: ", "))]}
                  batch_size: {values: [\((1...40).map { "\($0 * 4)" }.joined(separator: ", "))]}

                """)
        let launch = try Child("sweep", ["launch", fixture.sweep, "--db", fixture.db, "--bind", fixture.endpoint])
        defer { launch.kill(SIGKILL) }
        #expect(launch.waitForError("serving on", timeout: 60), "\(launch.stderr)")
        func simulate(_ prefix: String, workers: Int, trialSeconds: Double, ramp: Double, trialsEach: Int?) throws -> Child {
            try Child(
                "sweep",
                [
                    "bench", "workers", "--connect", fixture.endpoint, "--workers", "\(workers)", "--name-prefix", prefix,
                    "--trial-seconds", "\(trialSeconds)", "--epochs", "2", "--ramp-seconds", "\(ramp)", "--json",
                ] + (trialsEach.map { ["--trials-per-worker", "\($0)"] } ?? []))
        }
        let first = try simulate("sim", workers: 1000, trialSeconds: 0.2, ramp: 2, trialsEach: 1).finish(timeout: 120)
        #expect(first.status == 0, "\(first.stderr)")
        let wave = try JSONSerialization.jsonObject(with: Data(first.stdout.utf8)) as? [String: Any]
        #expect(wave?["welcomed"] as? Int == 1000 && wave?["results"] as? Int == 1000 && wave?["left"] as? Int == 1000, "\(wave ?? [:])")
        #expect((wave?["errors"] as? [String: Int])?.isEmpty == true, "\(wave?["errors"] ?? "")")
        // The rest (600 trials, about three a worker) outlast the late workers' joining, so each
        // hears the sweep is finished from the coordinator.
        let second = try simulate("late", workers: 200, trialSeconds: 1, ramp: 0, trialsEach: nil).finish(timeout: 120)
        #expect(second.status == 0, "\(second.stderr)")
        let rest = try JSONSerialization.jsonObject(with: Data(second.stdout.utf8)) as? [String: Any]
        #expect(rest?["results"] as? Int == 600 && rest?["finished"] as? Int == 200, "\(rest ?? [:])")
        let ended = launch.finish(timeout: 60)
        #expect(ended.status == 0, "\(ended.stderr.suffix(2000))")
        let store = try fixture.store()
        let states = try store.stateCounts()
        #expect(states[.completed] == 1600 && states.values.reduce(0, +) == 1600, "\(states)")
        var outcomes: [String: Int] = [:]
        for trial in try store.trials() {
            let attempts = try store.attempts(trial: trial.id)
            #expect(attempts.filter { $0.outcome == .completed }.count == 1, "trial \(trial.number): \(attempts.map(\.outcome))")
            for attempt in attempts {
                outcomes[attempt.outcome?.rawValue ?? "running", default: 0] += 1
                guard attempt.outcome != .completed else { continue }
                #expect(attempt.outcome == .lost && attempt.reason?.contains("left: done 1 trials") == true, "\(attempt.reason ?? "")")
            }
        }
        #expect(outcomes["completed"] == 1600 && (outcomes["lost"] ?? 0) <= 1000, "\(outcomes)")
        let workers = try store.workers()
        #expect(
            workers.count == 1200 && workers.allSatisfy { $0.state == .offline },
            "\(Dictionary(grouping: workers, by: \.state).mapValues(\.count))")
    }

    /// `tools/chaos.py` for 50 seconds: two sweeps (built-in trials with ASHA, a program sweep)
    /// under about twenty seeded faults, every kind at least once (kill -9 of a worker and of a
    /// coordinator, SIGSTOP past liveness, a crashing program; as root also a network link down and
    /// the stores' disk full), then the store checks. Its report is printed whole.
    @Test func aSeededScheduleOfFaultsLosesNothing() throws {
        let chaos = try Child(
            "/usr/bin/python3",
            [
                repositoryRoot.appendingPathComponent("tools/chaos.py").path, "--seconds", "50", "--seed", "11",
                "--sweep", productsDirectory.appendingPathComponent("sweep").path,
            ])
        let (status, output, errors) = chaos.finish(timeout: 400)
        print(output)
        #expect(status == 0, "\(output.suffix(3000))\n\(errors.suffix(2000))")
        #expect(output.contains("chaos: every check passed"))
        let injected = output.split(separator: "\n").first { $0.hasPrefix("faults injected") }
        let count = injected.flatMap { Int($0.split(separator: " ").last ?? "") } ?? 0
        #expect(count >= 15, "\(injected ?? "no count")")
        var kinds = ["kill -9 worker", "kill -9 coordinator", "SIGSTOP worker", "program crash"]
        // Left out only with the reason the tool prints (no root, no network namespaces).
        if !output.contains("left out: drop_network") { kinds.append("network down") }
        if !output.contains("left out: fill_disk") { kinds.append("disk full") }
        for kind in kinds { #expect(output.contains("  \(kind): "), "no \(kind) fault injected") }
        #expect(output.split(separator: "\n").filter { $0.contains("FAIL") }.isEmpty)
    }
}
