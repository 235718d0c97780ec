import Foundation
import ML
import Protocol
import SweepCore
import Testing
import Vocabulary

/// CURVE: only authorised workers take trials; keys are written safely.
@Suite(.serialized) struct SecurityTests {
    @Test func keysAreWrittenWithSafeModesAndNeverOverwrittenByAccident() throws {
        let workspace = Workspace()
        let folder = workspace.path("keys")
        let first = try runSweep(["keys", "generate", "--out", folder, "--name", "alice"])
        #expect(first.status == 0, "\(first.stderr)")
        let mode = { (path: String) in (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue }
        #expect(try mode(folder) == 0o700 && mode(folder + "/alice.key") == 0o600)
        let publicKey = try String(contentsOfFile: folder + "/alice.pub", encoding: .utf8)
        #expect(publicKey.trimmingCharacters(in: .newlines).count == 40)
        let again = try runSweep(["keys", "generate", "--out", folder, "--name", "alice"])
        #expect(again.status != 0 && again.stderr.contains("exists; pass --force"))
        #expect(try String(contentsOfFile: folder + "/alice.pub", encoding: .utf8) == publicKey)
        #expect(try runSweep(["keys", "generate", "--out", folder, "--name", "alice", "--force"]).status == 0)
        #expect(try String(contentsOfFile: folder + "/alice.pub", encoding: .utf8) != publicKey)
    }

    @Test func anUnauthorisedWorkerStartedWithTheCoordinatorNeverGetsATrial() throws {
        let fixture = try DistributedFixture(epochs: 3, trainExamples: 300)
        let keys = fixture.work.appendingPathComponent("keys").path
        for (folder, name) in [("coordinator", "coordinator"), ("workers", "alice"), ("outsiders", "mallory")] {
            #expect(try runSweep(["keys", "generate", "--out", "\(keys)/\(folder)", "--name", name]).status == 0)
        }
        try FileManager.default.createDirectory(atPath: "\(keys)/authorized", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: "\(keys)/workers/alice.pub", toPath: "\(keys)/authorized/alice.pub")
        // All three at the same instant: the ZAP handler is bound before the ROUTER, so there is no window.
        let coordinator = try fixture.launch([
            "--curve-secret", "\(keys)/coordinator/coordinator.key", "--authorized-workers", "\(keys)/authorized",
        ])
        func worker(_ key: String, name: String) throws -> Child {
            try Child(
                "sweep",
                [
                    "worker", "--connect", fixture.endpoint, "--name", name, "--data-root", fixture.data,
                    "--server-key", "\(keys)/coordinator/coordinator.pub", "--curve-secret", key,
                ])
        }
        let outsider = try worker("\(keys)/outsiders/mallory.key", name: "mallory")
        let insider = try worker("\(keys)/workers/alice.key", name: "pretending-to-be-someone")
        let result = coordinator.finish(timeout: 120)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("refused a CURVE handshake from 127.0.0.1"))
        try fixture.expectEveryTrialCompletedOnce()
        // Every attempt was made by the authorised key, named by its file's stem first.
        for trial in try fixture.store().trials() {
            #expect(try fixture.store().attempts(trial: trial.id).allSatisfy { $0.worker == "alice/pretending-to-be-someone" })
        }
        #expect(try fixture.store().workers().map(\.name) == ["alice/pretending-to-be-someone"])
        outsider.kill(SIGTERM)
        _ = outsider.finish(timeout: 30)
        #expect(insider.finish(timeout: 30).status == 0)
    }

    /// A worker holding the wrong coordinator key is told so, not asked whether its own key is
    /// authorised (the coordinator cannot read its hello and closes mid-handshake). A bad
    /// `--curve-secret` is refused before the coordinator creates its store.
    @Test func aWrongServerKeyOrSecretIsNamed() throws {
        let fixture = try DistributedFixture(epochs: 2, trainExamples: 300)
        let keys = fixture.work.appendingPathComponent("keys").path
        for name in ["coordinator", "alice", "impostor"] {
            #expect(try runSweep(["keys", "generate", "--out", keys, "--name", name]).status == 0)
        }
        try FileManager.default.createDirectory(atPath: "\(keys)/authorized", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: "\(keys)/alice.pub", toPath: "\(keys)/authorized/alice.pub")
        try "not a key".write(toFile: "\(keys)/broken.key", atomically: true, encoding: .utf8)
        let broken = try runSweep([
            "launch", fixture.sweep, "--db", fixture.db, "--bind", "tcp://127.0.0.1:0",
            "--curve-secret", "\(keys)/broken.key", "--authorized-workers", "\(keys)/authorized",
        ])
        #expect(
            broken.status != 0 && broken.stderr.contains("--curve-secret \(keys)/broken.key is not a CURVE secret key file"),
            "\(broken.stderr)")
        #expect(!FileManager.default.fileExists(atPath: fixture.db), "nothing stored before the key was read")
        let coordinator = try fixture.launch(["--curve-secret", "\(keys)/coordinator.key", "--authorized-workers", "\(keys)/authorized"])
        let worker = try Child(
            "sweep",
            [
                "worker", "--connect", fixture.endpoint, "--name", "alice", "--data-root", fixture.data,
                "--server-key", "\(keys)/impostor.pub", "--curve-secret", "\(keys)/alice.key",
            ])
        #expect(worker.waitForError("--server-key is probably not the coordinator's public key", timeout: 30), "\(worker.stderr)")
        #expect(!worker.stderr.contains("refused this worker's CURVE key"))
        worker.kill(SIGTERM)
        _ = worker.finish(timeout: 30)
        coordinator.kill(SIGTERM)
        _ = coordinator.finish(timeout: 30)
    }

    /// Job scripts (Slurm) authorise a key as their worker starts: a worker refused because its key
    /// was not there yet must get in once it is, without being restarted.
    @Test func aWorkerWhoseKeyIsAuthorisedAfterItStartedGetsInWithoutARestart() throws {
        let fixture = try DistributedFixture(epochs: 2, trainExamples: 300)
        let keys = fixture.work.appendingPathComponent("keys").path
        for name in ["coordinator", "late"] {
            #expect(try runSweep(["keys", "generate", "--out", keys, "--name", name]).status == 0)
        }
        try FileManager.default.createDirectory(atPath: "\(keys)/authorized", withIntermediateDirectories: true)
        let coordinator = try fixture.launch(["--curve-secret", "\(keys)/coordinator.key", "--authorized-workers", "\(keys)/authorized"])
        let worker = try Child(
            "sweep",
            [
                "worker", "--connect", fixture.endpoint, "--name", "late", "--data-root", fixture.data,
                "--server-key", "\(keys)/coordinator.pub", "--curve-secret", "\(keys)/late.key",
            ])
        #expect(coordinator.waitForError("refused a CURVE handshake", timeout: 20))
        try FileManager.default.copyItem(atPath: "\(keys)/late.pub", toPath: "\(keys)/authorized/late.pub")
        let result = coordinator.finish(timeout: 120)
        #expect(result.status == 0, "\(result.stderr)")
        try fixture.expectEveryTrialCompletedOnce()
        let finished = worker.finish(timeout: 30)
        #expect(
            finished.status == 0 && finished.stderr.contains("not admitted yet (the coordinator refused this worker's CURVE key"),
            "\(finished.stderr)")
    }

    @Test func aReachableBindNeedsEncryptionOrAnExplicitInsecure() throws {
        let fixture = try DistributedFixture(epochs: 1, trainExamples: 300)
        let refused = try runSweep(["launch", fixture.sweep, "--db", fixture.db, "--bind", "tcp://0.0.0.0:5555"])
        #expect(refused.status != 0 && refused.stderr.contains("pass --insecure"))
        #expect(!FileManager.default.fileExists(atPath: fixture.db))
    }
}

/// A hostile peer throws everything at a running coordinator, which keeps serving the real worker.
@Suite(.serialized) struct HostileInputTests {
    @Test func theCoordinatorSurvivesGarbageAndStillCompletesTheSweep() throws {
        let fixture = try DistributedFixture(epochs: 8, trainExamples: 600)
        let coordinator = try fixture.launch()
        let worker = try fixture.worker("honest")
        try fixture.waitUntil("the honest worker to be mid-trial") { try fixture.runningTrial(of: "honest", store: $0) != nil }
        let context = try ZMQContext()
        let hostile = try ZMQSocket(context: context, type: .dealer)
        try hostile.connect(fixture.endpoint)
        let codec = Codec()
        func replyCodes(_ timeoutMilliseconds: Int32 = 500) -> [String] {
            var codes: [String] = []
            while let frames = try? hostile.receive(wait: .milliseconds(timeoutMilliseconds)) {
                if case .error(let report)? = try? codec.decode(frames, as: CoordinatorMessage.self) { codes.append(report.code.rawValue) }
            }
            return codes
        }
        var rng = SystemRandomNumberGenerator()
        // Random bytes, wrong frame counts, unknown versions and types, truncated bodies, bad JSON (NaN).
        try hostile.send([(0..<64).map { _ in UInt8.random(in: 0...255, using: &rng) }])
        try hostile.send([[1], Array("heartbeat".utf8), Array("{}".utf8), []])
        try hostile.send([[7], Array("ready".utf8), Array("{}".utf8)])
        try hostile.send([[1], Array("launch_missiles".utf8), Array("{}".utf8)])
        let ready = try codec.encode(
            WorkerMessage.ready(Ready(buildID: "x", worker: "mallory", host: "h", cores: 1, blasThreads: 1, blasCore: "c")))
        try hostile.send([ready[0], ready[1], Array(ready[2].prefix(ready[2].count / 2))])
        try hostile.send([
            [1], Array("result".utf8),
            Array(#"{"lease":{"trial":"t","attempt":1,"lease":"l"},"best_epoch":1,"valid":{"ndcg@10":NaN}}"#.utf8),
        ])
        // Valid messages out of order: a heartbeat before `ready`.
        try hostile.send(try codec.encode(WorkerMessage.heartbeat(Heartbeat())))
        let early = replyCodes()
        for code in ["bad_frames", "bad_version", "unknown_type", "malformed_body", "not_ready"] {
            #expect(early.contains(code), "no \(code) in \(early)")
        }
        // Introduce itself (with the right build, so it is welcomed), then send results it has no right to.
        let honestLease = try #require(try fixture.store().liveAttempts().first?.lease)
        let trial = try #require(try fixture.store().attempt(lease: honestLease)?.trial)
        let admitted = try runSweep(["--version"]).stdout.split(separator: " ")[2].dropLast()  // "(build XXXX,"
        try hostile.send(
            try codec.encode(
                WorkerMessage.ready(Ready(buildID: String(admitted), worker: "mallory", host: "h", cores: 1, blasThreads: 1, blasCore: "c"))
            ))
        let timing = TrainingTiming(examplesPerSecond: 1, secondsPerEpoch: 1, totalSeconds: 1, threads: 1, blasCore: "c")
        func result(_ lease: LeaseRef) throws -> [[UInt8]] {
            try codec.encode(
                WorkerMessage.result(
                    TrialOutcome(
                        lease: lease,
                        result: TrialResult(
                            bestEpoch: 1, valid: ["ndcg@10": 1], test: ["ndcg@10": 1], history: [], timing: timing))))
        }
        try hostile.send(try result(LeaseRef(trial: trial, attempt: 1, lease: honestLease)))  // another worker's lease
        try hostile.send(try result(LeaseRef(trial: "0000000000000000", attempt: 1, lease: "L-none")))  // unknown trial and lease
        // An oversized frame: libzmq drops that connection (ZMQ_MAXMSGSIZE); nobody else notices.
        let giant = try ZMQSocket(context: context, type: .dealer)
        try giant.connect(fixture.endpoint)
        try giant.send([[1], Array("ready".utf8), [UInt8](repeating: 32, count: 17 << 20)])
        // A flood of `ready`, sent without ever reading the answers.
        for _ in 0..<3000 { try? hostile.send(ready, wait: .nonBlocking) }
        let codes = replyCodes()
        #expect(codes.contains("not_your_lease"))

        let finished = coordinator.finish(timeout: 120)
        #expect(finished.status == 0, "\(finished.stderr)")
        try fixture.expectEveryTrialCompletedOnce()
        for trial in try fixture.store().trials() {
            #expect(trial.result?.worker == "honest" && trial.result?.valid["ndcg@10"] != 1)
        }
        #expect(try fixture.store().events().contains { $0.kind == "stale_result" })
        #expect(finished.stderr.contains("rejected a message from"))
        #expect(finished.stderr.range(of: #"messages; [1-9][0-9]* rejected"#, options: .regularExpression) != nil)
        _ = worker.finish(timeout: 30)
    }
}

@Suite(.serialized) struct QuarantineTests {
    /// A worker whose cached dataset is not the sweep's reports it, is quarantined (no more trials,
    /// shown in status), and its trial is requeued without counting the attempt.
    @Test func aWorkerWithTheWrongDataIsQuarantined() throws {
        let fixture = try DistributedFixture(epochs: 3, trainExamples: 300)
        let fingerprint = try DatasetFingerprint.compute(folder: URL(fileURLWithPath: fixture.data)).fingerprint
        // A cache entry under the right fingerprint holding other data (a different seed).
        let cache = fixture.work.appendingPathComponent("bad-cache")
        #expect(
            try runSweep([
                "data", "synth", "--preset", "small", "--items", "1000", "--train", "300", "--valid", "200", "--test", "200",
                "--dim", "32", "--tags", "50", "--seed", "99", "--out", cache.appendingPathComponent(fingerprint).path,
            ]).status == 0)
        let coordinator = try fixture.launch(["--max-attempts", "1"])
        let bad = try fixture.worker("bad", dataRoot: false, cache: cache.path)
        try fixture.waitUntil("the bad worker to be quarantined") { store in
            try store.workers().first { $0.name == "bad" }?.state == .quarantined
        }
        let honest = try fixture.worker("honest")
        let result = coordinator.finish(timeout: 120)
        #expect(result.status == 0, "\(result.stderr)")  // with --max-attempts 1 a counted attempt would have failed a trial
        #expect(result.stderr.contains("worker bad quarantined"))
        try fixture.expectEveryTrialCompletedOnce()
        let status = try runSweep(["status", "--db", fixture.db, "--json"])
        let workers = try #require(
            (try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any])?["workers"] as? [[String: Any]])
        #expect(workers.first { $0["name"] as? String == "bad" }?["state"] as? String == "quarantined")
        let mismatched = try fixture.store().trials().flatMap { try fixture.store().attempts(trial: $0.id) }.filter { $0.worker == "bad" }
        #expect(mismatched.count == 1 && mismatched[0].outcome == .lost && mismatched[0].reason?.hasPrefix("dataset_mismatch") == true)
        bad.kill(SIGTERM)
        _ = bad.finish(timeout: 30)
        _ = honest.finish(timeout: 30)
    }
}
