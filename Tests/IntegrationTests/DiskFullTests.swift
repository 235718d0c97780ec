import Foundation
import SweepCore
import TestSupport
import Testing

/// The store's disk fills up mid-sweep (a small tmpfs, as root): the coordinator stops with a clear
/// error and nothing lost, its worker keeps the result it finished, and after space comes back a
/// relaunch completes every trial once.
@Suite(.serialized) struct DiskFullTests {
    /// Whether this process may mount a tmpfs (root, and a kernel that lets it).
    static let canMount: Bool = {
        guard getuid() == 0 else { return false }
        let probe = TestFolders.fresh("mount-probe")
        try? FileManager.default.createDirectory(at: probe, withIntermediateDirectories: true)
        guard (try? runProgram("/bin/mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", probe.path])) != nil else { return false }
        _ = try? runProgram("/bin/umount", [probe.path])
        return true
    }()

    @Test(.enabled(if: canMount, "mounting a small tmpfs needs root (and a kernel that allows it): the disk-full test is not run"))
    func aFullDiskStopsTheCoordinatorCleanlyAndARelaunchLosesNothing() throws {
        let fixture = try DistributedFixture(
            trainExamples: 300,
            sweepText: """
                name: disk-full
                dataset: data
                method: random
                count: 120
                fixed: {epochs: 3}
                parameters:
                  lr: {distribution: log_uniform, min: 0.0001, max: 0.01}

                """)
        let disk = fixture.work.appendingPathComponent("disk")
        try FileManager.default.createDirectory(at: disk, withIntermediateDirectories: true)
        try runProgram("/bin/mount", ["-t", "tmpfs", "-o", "size=700k", "tmpfs", disk.path])
        defer { _ = try? runProgram("/bin/umount", ["-l", disk.path]) }
        let db = disk.appendingPathComponent("s.db").path
        func launch() throws -> Child {
            try Child(
                "sweep", ["launch", fixture.sweep, "--db", db, "--bind", fixture.endpoint, "--heartbeat-ms", "200", "--liveness", "5"])
        }
        let worker = try fixture.worker("remote")
        let full = try launch().finish(timeout: 120)
        #expect(full.status == 5, "\(full.stderr)")
        #expect(full.stderr.contains("sweep launch: the disk holding \(db) is full"), "\(full.stderr)")
        #expect(full.stderr.contains("everything stored before it is intact"))
        #expect(full.stderr.contains("Free space on that disk, then run `sweep launch"))
        #expect(try sqlite(db, "PRAGMA integrity_check") == "ok")
        let stored = Int(try sqlite(db, "SELECT COUNT(*) FROM result")) ?? 0
        #expect(stored > 0 && stored < 120, "\(stored) results before the disk filled")
        #expect(worker.process.isRunning, "the worker waits for the coordinator's return")

        // A relaunch before space comes back stops at its opening write, saying the same (the
        // chaos run found it exiting 1 with SQLite's own words).
        let early = try launch().finish(timeout: 60)
        #expect(early.status == 5 && early.stderr.contains("sweep launch: the disk holding \(db) is full"), "\(early.stderr)")
        #expect(try sqlite(db, "PRAGMA integrity_check") == "ok")

        try runProgram("/bin/mount", ["-o", "remount,size=8m", disk.path])
        let resumed = try launch().finish(timeout: 180)
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(try sqlite(db, "PRAGMA integrity_check") == "ok")
        // Every trial completed by exactly one attempt: the result finished while the disk was
        // full was kept by the worker and delivered, not trained again.
        #expect(try sqlite(db, "SELECT COUNT(*) FROM result") == "120")
        #expect(try sqlite(db, "SELECT COUNT(*) FROM attempt WHERE outcome IS NOT 'completed'") == "0")
        #expect(try sqlite(db, "SELECT COUNT(*) FROM attempt") == "120")
        #expect(worker.finish(timeout: 30).status == 0)

        // `sweep run` on a full disk says the same, and keeps what it stored.
        for file in try FileManager.default.contentsOfDirectory(atPath: disk.path) {
            try FileManager.default.removeItem(at: disk.appendingPathComponent(file))
        }
        try runProgram("/bin/mount", ["-o", "remount,size=700k", disk.path])
        let local = disk.appendingPathComponent("local.db").path
        let run = try runSweep(["run", fixture.sweep, "--db", local])
        #expect(run.status == 5 && run.stderr.contains("sweep run: the disk holding \(local) is full"), "\(run.stderr)")
        #expect(try sqlite(local, "PRAGMA integrity_check") == "ok")
    }
}
