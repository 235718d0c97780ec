import Foundation
import SweepCore
import Testing

/// Three hosts in network namespaces this test makes (a coordinator on A, workers on B and C,
/// joined by veth pairs on a bridge, private test subnet), real TCP between them, CURVE on.
/// Skipped, saying why, where namespaces cannot be made. Everything made is removed at the end.
final class TestNetwork: @unchecked Sendable {
    let tag = String(UUID().uuidString.prefix(6).lowercased())
    var hosts: [String: String] = [:]  // host → namespace
    let subnet = "10.213.\(Int.random(in: 1...250))"
    var bridge: String { "sw\(tag)br" }
    var switchNamespace: String { "sweep-\(tag)-switch" }

    static func ip(_ arguments: [String]) throws {
        try runProgram("/usr/sbin/ip", arguments)
    }

    /// Why namespaces cannot be used here, or nil when they can (probed once).
    static let unavailableReason: String? = {
        guard getuid() == 0 else { return "not root" }
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip") else { return "no /usr/sbin/ip (iproute2)" }
        let probe = "sweep-probe-\(getpid())"
        do {
            try ip(["netns", "add", probe])
            try ip(["netns", "del", probe])
            return nil
        } catch {
            return "network namespaces are not permitted: \(error)"
        }
    }()

    /// Makes hosts A (…1), B (…2), C (…3) on one bridge.
    func create() throws {
        try Self.ip(["netns", "add", switchNamespace])
        try Self.ip(["-n", switchNamespace, "link", "add", bridge, "type", "bridge"])
        try Self.ip(["-n", switchNamespace, "link", "set", bridge, "up"])
        for (index, host) in ["A", "B", "C"].enumerated() {
            let namespace = "sweep-\(tag)-\(host)"
            try Self.ip(["netns", "add", namespace])
            hosts[host] = namespace
            let inner = "sw\(tag)\(host)", outer = "sw\(tag)\(host)x"
            try Self.ip(["link", "add", inner, "netns", namespace, "type", "veth", "peer", "name", outer, "netns", switchNamespace])
            try Self.ip(["-n", switchNamespace, "link", "set", outer, "master", bridge])
            try Self.ip(["-n", switchNamespace, "link", "set", outer, "up"])
            try Self.ip(["-n", namespace, "addr", "add", "\(subnet).\(index + 1)/24", "dev", inner])
            try Self.ip(["-n", namespace, "link", "set", inner, "up"])
            try Self.ip(["-n", namespace, "link", "set", "lo", "up"])
        }
    }

    func address(_ host: String) -> String { "\(subnet).\(["A": 1, "B": 2, "C": 3][host]!)" }

    /// Cuts (or restores) a host's link to the bridge.
    func link(_ host: String, up: Bool) throws {
        try Self.ip(["-n", switchNamespace, "link", "set", "sw\(tag)\(host)x", up ? "up" : "down"])
    }

    /// Runs `sweep arguments…` on a host.
    func sweep(on host: String, _ arguments: [String]) throws -> Child {
        try Child("sweep", arguments, namespace: hosts[host]!)
    }

    func destroy() {
        for namespace in hosts.values + [switchNamespace] { try? Self.ip(["netns", "del", namespace]) }
    }
}

@Suite(.serialized) struct MultiHostTests {
    /// Counted as skipped, with the reason, where network namespaces cannot be made.
    @Test(
        .enabled(
            if: TestNetwork.unavailableReason == nil,
            Comment(rawValue: "hosts in network namespaces cannot be made here: \(TestNetwork.unavailableReason ?? "")")))
    func aCutLinkMovesTheTrialAndTheHostRejoinsWithNothingLostOrDuplicated() throws {
        let network = TestNetwork()
        defer { network.destroy() }
        try network.create()
        let fixture = try DistributedFixture(epochs: 25)
        let keys = fixture.work.appendingPathComponent("keys").path
        for (folder, name) in [("coordinator", "coordinator"), ("workers", "hostB"), ("workers", "hostC"), ("outsiders", "intruder")] {
            #expect(try runSweep(["keys", "generate", "--out", "\(keys)/\(folder)", "--name", name]).status == 0)
        }
        try FileManager.default.createDirectory(atPath: "\(keys)/authorized", withIntermediateDirectories: true)
        for name in ["hostB", "hostC"] {
            try FileManager.default.copyItem(atPath: "\(keys)/workers/\(name).pub", toPath: "\(keys)/authorized/\(name).pub")
        }
        let endpoint = "tcp://\(network.address("A")):6555"
        let coordinator = try network.sweep(
            on: "A",
            [
                "launch", fixture.sweep, "--db", fixture.db, "--bind", endpoint, "--heartbeat-ms", "200", "--liveness", "5",
                "--curve-secret", "\(keys)/coordinator/coordinator.key", "--authorized-workers", "\(keys)/authorized",
            ])
        func worker(on host: String, key: String) throws -> Child {
            let name = URL(fileURLWithPath: key).deletingPathExtension().lastPathComponent
            return try network.sweep(
                on: host,
                [
                    "worker", "--connect", endpoint, "--name", name, "--data-root", fixture.data,
                    "--server-key", "\(keys)/coordinator/coordinator.pub", "--curve-secret", key,
                ])
        }
        let workerB = try worker(on: "B", key: "\(keys)/workers/hostB.key")
        let workerC = try worker(on: "C", key: "\(keys)/workers/hostC.key")
        let intruder = try worker(on: "C", key: "\(keys)/outsiders/intruder.key")
        var cutTrial: String?
        try fixture.waitUntil("host B to be mid-trial") { store in
            cutTrial = try fixture.runningTrial(of: "hostB", store: store)
            return cutTrial != nil
        }
        try network.link("B", up: false)
        try fixture.waitUntil("B's trial to be lost", timeout: 20) { store in
            try store.attempts(trial: cutTrial!).first?.outcome == .lost
        }
        Thread.sleep(forTimeInterval: 1)
        try network.link("B", up: true)
        let restored = Date()
        let result = coordinator.finish(timeout: 180)
        #expect(result.status == 0, "\(result.stderr)")
        try fixture.expectEveryTrialCompletedOnce()
        let store = try fixture.store()
        let attempts = try store.attempts(trial: cutTrial!)
        #expect(attempts.first?.worker == "hostB" && attempts.first?.outcome == .lost)
        #expect(try store.findTrial(cutTrial!).result?.attempt != 1)  // B's late result did not count
        // B came back and got work again after its link was restored.
        let all = try store.trials().flatMap { try store.attempts(trial: $0.id) }
        #expect(all.contains { $0.worker == "hostB" && $0.started > restored })
        #expect(all.allSatisfy { ["hostB", "hostC"].contains($0.worker) })  // the intruder never got a trial
        #expect(result.stderr.contains("refused a CURVE handshake from \(network.address("C"))"))
        intruder.kill(SIGTERM)
        for child in [workerB, workerC, intruder] { _ = child.finish(timeout: 30) }
    }
}
