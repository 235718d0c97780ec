import Coordinator
import Foundation
import Testing

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
        let coordinator = try fixture.launch(["--curve-secret", "\(keys)/coordinator/coordinator.key", "--authorized-workers", "\(keys)/authorized"])
        func worker(_ key: String, name: String) throws -> Child {
            try Child("sweep", ["worker", "--connect", fixture.endpoint, "--name", name, "--data-root", fixture.data,
                                "--server-key", "\(keys)/coordinator/coordinator.pub", "--curve-secret", key])
        }
        let outsider = try worker("\(keys)/outsiders/mallory.key", name: "mallory")
        let insider = try worker("\(keys)/workers/alice.key", name: "pretending-to-be-someone")
        let result = coordinator.finish(timeout: 120)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("refused a CURVE handshake from 127.0.0.1"))
        try fixture.expectEveryTrialCompletedOnce()
        // Every attempt was made by the authorised key, named by its file's stem.
        for trial in try fixture.store().trials() {
            #expect(try fixture.store().attempts(trial: trial.id).allSatisfy { $0.worker == "alice" })
        }
        #expect(try fixture.store().workers().map(\.name) == ["alice"])
        outsider.kill(SIGTERM)
        _ = outsider.finish(timeout: 30)
        #expect(insider.finish(timeout: 30).status == 0)
    }

    @Test func aReachableBindNeedsEncryptionOrAnExplicitInsecure() throws {
        let fixture = try DistributedFixture(epochs: 1, trainExamples: 300)
        let refused = try runSweep(["launch", fixture.sweep, "--db", fixture.db, "--bind", "tcp://0.0.0.0:5555"])
        #expect(refused.status != 0 && refused.stderr.contains("pass --insecure"))
        #expect(!FileManager.default.fileExists(atPath: fixture.db))
    }
}
