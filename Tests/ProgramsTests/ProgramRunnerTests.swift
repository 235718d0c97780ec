import Foundation
import TestSupport
import Testing
import Vocabulary

@testable import Programs

/// The test programs under Tests/Programs.
let programsFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent(
    "Programs")

@Suite struct ProgramRunnerTests {
    func runner(
        _ folder: String, _ command: [String], style: ProgramConfigStyle = .args, keys: [String: ConfigValue],
        seed: Int = 0, metric: String = "accuracy", grace: TimeInterval = 5, env: [String] = []
    ) -> ProgramRunner {
        ProgramRunner(
            attempt: ProgramAttempt(
                folder: programsFolder.appendingPathComponent(folder), command: ProgramCommand(command: command, config: style, env: env),
                config: TrialConfig(programKeys: keys, seed: seed, selectMetric: metric), data: nil,
                workFolder: TestFolders.fresh("program"), grace: grace, trial: "t", attempt: 1))
    }

    @Test(arguments: ProgramConfigStyle.allCases)
    func theConfigArrivesInEachStyleAndEveryEpochIsRead(style: ProgramConfigStyle) throws {
        let program = runner(
            "fit", ["python3", "fit.py"], style: style, keys: ["lr": .double(0.5), "epochs": .int(3), "l2": .int(0)], seed: 7)
        var heard: [Int] = []
        let end = program.run { event in
            if case .epoch(let record) = event { heard.append(record.epoch) }
            return true
        }
        guard case .completed(let result) = end else { Issue.record("\(end)"); return }
        #expect(heard == [1, 2, 3] && result.history.map(\.epoch) == [1, 2, 3])
        #expect(try String(contentsOf: program.outFolder.appendingPathComponent("style.txt"), encoding: .utf8) == style.rawValue)
        let record = result.history[0]
        #expect(record.valid["accuracy"] != nil && record.test["accuracy"] != nil && record.lossMain != nil)
        #expect(record.extra?["weight_norm"] != nil && record.extra?["phase"] == nil, "text values are the program's own")
        // The best epoch by valid accuracy (earliest of ties), with the final report laid over it.
        let best = result.bestEpoch
        #expect(result.history.allSatisfy { ($0.valid["accuracy"] ?? 0) <= result.history[best - 1].valid["accuracy"]! })
        #expect(result.history[..<(best - 1)].allSatisfy { $0.valid["accuracy"]! < result.history[best - 1].valid["accuracy"]! })
        #expect(result.test["final_accuracy"] != nil && result.valid["accuracy"] == result.history[best - 1].valid["accuracy"])
        if style == .args { #expect(program.commandLine().suffix(8) == ["--epochs", "3", "--l2", "0", "--lr", "0.5", "--seed", "7"]) }
    }

    @Test func theEnvironmentIsScrubbed() throws {
        setenv("SWEEP_TEST_SECRET", "do-not-leak", 1)
        setenv("SWEEP_TEST_PASSED", "copied", 1)
        let program = runner("fit", ["python3", "fit.py"], keys: [:], env: ["SWEEP_TEST_PASSED_NOT", "LITERAL=value"])
        let environment = program.environment()
        #expect(environment["SWEEP_TEST_SECRET"] == nil && environment["HOME"] == nil && environment["LITERAL"] == "value")
        #expect(environment["PATH"] != nil && environment["SWEEP_REPORT"] == program.reportFile.path && environment["SWEEP_SEED"] == "0")
        #expect(
            Set(environment.keys).subtracting(["PATH", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE", "LITERAL"]).allSatisfy {
                $0.hasPrefix("SWEEP_")
            })
    }

    @Test func aCrashIsAFailureWithTheLastLinesOfStderr() {
        let result = runner("fit", ["python3", "fit.py"], keys: ["lr": .double(0.1), "epochs": .int(5), "fail_at": .int(2)]).run()
        guard case .failed(let reason, let epochs) = result else { Issue.record("\(result)"); return }
        #expect(reason.contains("exited with status 1") && reason.contains("failing on purpose at epoch 2"), "\(reason)")
        #expect(epochs == 2, "the epochs reported before the crash count")
    }

    @Test func aMissingCommandIsNamed() {
        let result = runner("fit", ["no-such-interpreter-4711", "fit.py"], keys: [:]).run()
        guard case .failed(let reason, _) = result else { Issue.record("\(result)"); return }
        #expect(reason.contains("no-such-interpreter-4711 was not found in PATH"), "\(reason)")
    }

    @Test func aProgramThatIgnoresSigtermIsKilledAfterTheGrace() {
        let seed = Int.random(in: 100_000...999_999)
        let program = runner("hostile", ["python3", "hostile.py"], keys: ["mode": .string("ignore_term")], seed: seed, grace: 0.5)
        let start = Date()
        let result = program.run { event in
            if case .epoch = event { return false }  // stop once it has reported
            return Date().timeIntervalSince(start) < 20
        }
        #expect(result == .stopped(epochs: 1))
        #expect(Date().timeIntervalSince(start) < 10)
        #expect(!processAlive(withCommandLineContaining: "--seed \(seed)"))
    }

    @Test(arguments: [
        ("huge", "longer than 64 KiB"), ("not_json", "report line 2 is not JSON"),
        ("far_epoch", "is for epoch 1000000000, expected epoch 2"),
        ("no_metric", "lacks valid_accuracy"), ("flood", "larger than 16 MiB"), ("silent", "without reporting an epoch"),
    ])
    func hostileReportsFailTheAttemptWithTheLineNamed(mode: String, expected: String) {
        let result = runner("hostile", ["python3", "hostile.py"], keys: ["mode": .string(mode)]).run()
        guard case .failed(let reason, _) = result else { Issue.record("\(mode): \(result)"); return }
        #expect(reason.contains(expected), "\(mode): \(reason)")
    }

    /// A program that puts a FIFO, a folder or a link to /dev/zero where its report was: the
    /// worker once blocked in open() on the FIFO for good (it then ignored SIGTERM and never took
    /// another trial). Now the attempt fails at once, naming what the file became.
    @Test(arguments: [("fifo", "was replaced by a FIFO"), ("folder", "was replaced by a folder"), ("zero_link", "is a symbolic link")])
    func aReportFileReplacedByASpecialFileFailsTheAttemptAtOnce(mode: String, expected: String) {
        let start = Date()
        let result = runner("hostile", ["python3", "hostile.py"], keys: ["mode": .string(mode)], grace: 1).run()
        guard case .failed(let reason, _) = result else { Issue.record("\(mode): \(result)"); return }
        #expect(reason.contains(expected), "\(mode): \(reason)")
        #expect(result.epochs == 1, "the epoch reported before counts")
        #expect(Date().timeIntervalSince(start) < 20, "ended long before the program's own 30 s")
    }

    /// 64 MiB on each stream: the logs on disk keep the first and last MiB with a line saying how
    /// much was left out, the failure quotes stderr's last lines, and nothing reads the whole log.
    @Test func theProgramsLogsAreCappedKeepingTheStartAndTheEnd() throws {
        let program = runner("hostile", ["python3", "hostile.py"], keys: ["mode": .string("chatty")])
        let result = program.run()
        guard case .failed(let reason, _) = result else { Issue.record("\(result)"); return }
        #expect(reason.contains("exited with status 3") && reason.hasSuffix("last line of stderr"), "\(reason.suffix(200))")
        for (file, stream) in [(program.stdoutFile, "stdout"), (program.stderrFile, "stderr")] {
            let log = try Data(contentsOf: file)
            let total = 21 + 64 * 1024 * 1024 + 20
            #expect(log.count < 2 * 1024 * 1024 + 200, "\(stream): \(log.count) bytes on disk")
            let text = String(decoding: log, as: UTF8.self)
            #expect(text.hasPrefix("first line of \(stream)\n") && text.hasSuffix("last line of \(stream)\n"))
            #expect(text.contains("[sweep: \(total - 2 * 1024 * 1024) bytes left out here"), "\(stream)")
        }
    }

    /// A report that arrives in one piece with millions of short lines is read in one pass (each
    /// line once removed from the front of the buffer moved all the rest: quadratic, hours here).
    @Test func aReportOfManyShortLinesIsReadInOnePass() throws {
        let file = TestFolders.fresh("report")
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        var text = String(repeating: " \n", count: 2_000_000)
        text += #"{"epoch": 1, "valid_accuracy": 0.5}"# + "\n"
        try Data(text.utf8).write(to: file)
        var reader = ReportReader()
        let lines = try reader.newLines(from: file)
        #expect(lines.count == 1 && lines[0].number == 2_000_001)
        #expect(try reader.newLines(from: file).isEmpty, "nothing is read twice")
    }

    @Test func aCappedLogKeepsExactlyItsHeadAndTail() throws {
        let path = TestFolders.fresh("capped").path
        let log = try CappedLog(path: path, headBytes: 4, tailBytes: 6)
        for piece in ["ab", "cdef", "ghijklmnop", "q", "rs"] { Array(piece.utf8).withUnsafeBytes { log.append($0) } }
        log.flush()
        #expect(
            try String(contentsOfFile: path, encoding: .utf8)
                == "abcd\n[sweep: 9 bytes left out here; the log keeps its first 4 and last 6 bytes]\nnopqrs")
        #expect(log.recent.suffix(6) == Array("nopqrs".utf8))
        let short = try CappedLog(path: path + "2", headBytes: 4, tailBytes: 6)
        Array("abc".utf8).withUnsafeBytes { short.append($0) }
        short.flush()
        #expect(try String(contentsOfFile: path + "2", encoding: .utf8) == "abc")
        #expect(throws: ProgramError.self) { try CappedLog(path: NSTemporaryDirectory()) }
    }

    /// A report's numbers are read exactly (Foundation's JSONSerialization, which read them before,
    /// misreads some 17-digit numbers by an ulp on Linux), flags and text are the program's own.
    @Test func reportNumbersAreReadExactly() throws {
        let program = runner("fit", ["python3", "fit.py"], keys: [:])
        let line = #"{"epoch": 1, "valid_accuracy": -0.42963686444051014, "loss": 0.5, "phase": "warm", "ema": true, "note": null}"#
        guard case .epoch(let record) = try program.parse(Array(line.utf8), number: 1, expectedEpoch: 1) else {
            Issue.record("not an epoch"); return
        }
        #expect(record.valid["accuracy"] == Double("-0.42963686444051014") && record.lossMain == 0.5 && record.extra == nil)
        #expect(throws: ProgramRunner.ReportError.self) { try program.parse(Array("[1, 2]".utf8), number: 2, expectedEpoch: 2) }
        #expect(throws: ProgramRunner.ReportError.self) { try program.parse(Array(#"{"epoch": true}"#.utf8), number: 2, expectedEpoch: 2) }
    }

    @Test func aNaNInAReportIsDivergence() {
        let result = runner("hostile", ["python3", "hostile.py"], keys: ["mode": .string("nan")]).run()
        guard case .diverged(let reason, let epochs) = result else { Issue.record("\(result)"); return }
        #expect(reason.contains("non-finite") && epochs == 1)
    }

    @Test func aDetachedGrandchildIsKilledWhenTheProgramEnds() throws {
        let seed = Int.random(in: 100_000...999_999)
        let result = runner("hostile", ["python3", "hostile.py"], keys: ["mode": .string("detach")], seed: seed).run()
        guard case .completed = result else { Issue.record("\(result)"); return }
        let deadline = Date().addingTimeInterval(5)
        while processAlive(withCommandLineContaining: "detached-sleeper-\(seed)") && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.05)
        }
        #expect(!processAlive(withCommandLineContaining: "detached-sleeper-\(seed)"))
    }
}

@Suite struct ProgramFingerprintTests {
    func folder(_ files: [String: String]) throws -> URL {
        let folder = TestFolders.fresh("program-folder")
        for (path, text) in files {
            let url = folder.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(text.utf8).write(to: url)
        }
        return folder
    }

    @Test func sweepignoreFollowsGitignoreRules() throws {
        let root = try folder([
            ".sweepignore": "# data and checkpoints\ndata/\n*.ckpt\n!keep.ckpt\n/top.log\nsrc/**/gen_*.py\n",
            "train.py": "x", "data/big.bin": "x", "sub/data/also.bin": "x", "a.ckpt": "x", "sub/b.ckpt": "x", "keep.ckpt": "x",
            "top.log": "x", "sub/top.log": "x", "src/a/b/gen_1.py": "x", "src/gen_2.py": "x", "src/model.py": "x",
            ".git/HEAD": "x", "__pycache__/m.pyc": "x",
        ])
        let names = try ProgramFingerprint.compute(folder: root).files.map(\.name)
        #expect(names == [".sweepignore", "keep.ckpt", "src/model.py", "sub/top.log", "train.py"])
    }

    @Test func theFingerprintChangesWithAFileOrAPathButNotWithAnIgnoredFile() throws {
        let root = try folder([".sweepignore": "out/\n", "train.py": "print(1)", "lib/util.py": "u"])
        let first = try ProgramFingerprint.compute(folder: root).fingerprint
        try FileManager.default.createDirectory(at: root.appendingPathComponent("out"), withIntermediateDirectories: true)
        try Data("x".utf8).write(to: root.appendingPathComponent("out/ignored.txt"))
        #expect(try ProgramFingerprint.compute(folder: root).fingerprint == first)
        try Data("print(2)".utf8).write(to: root.appendingPathComponent("train.py"))
        let edited = try ProgramFingerprint.compute(folder: root).fingerprint
        #expect(edited != first)
        try FileManager.default.moveItem(at: root.appendingPathComponent("lib/util.py"), to: root.appendingPathComponent("lib/util2.py"))
        #expect(try ProgramFingerprint.compute(folder: root).fingerprint != edited)
    }

    /// Folders that once hung `run`/`launch` or shipped copies of themselves: a link cycle (two
    /// `-> .` links grew exponentially; one shipped 41 copies), a link to /dev/zero (hashed without
    /// end), a FIFO (blocked). Each is refused with its path.
    @Test func specialFilesAndLinkCyclesAreRefusedWithTheirPath() throws {
        for (make, expected) in [
            (
                { (root: URL) in
                    try FileManager.default.createSymbolicLink(atPath: root.appendingPathComponent("a").path, withDestinationPath: ".")
                }, "a is a link to"
            ),
            (
                { (root: URL) in
                    try FileManager.default.createSymbolicLink(atPath: root.appendingPathComponent("a").path, withDestinationPath: ".")
                    try FileManager.default.createSymbolicLink(atPath: root.appendingPathComponent("b").path, withDestinationPath: ".")
                }, "is a link to"
            ),
            (
                { (root: URL) in
                    try FileManager.default.createSymbolicLink(
                        atPath: root.appendingPathComponent("sub/up").path, withDestinationPath: "..")
                }, "up is a link to"
            ),
            (
                { (root: URL) in
                    try FileManager.default.createSymbolicLink(
                        atPath: root.appendingPathComponent("zero").path, withDestinationPath: "/dev/zero")
                }, "zero leads to a character device"
            ),
            ({ (root: URL) in _ = mkfifo(root.appendingPathComponent("pipe").path, 0o644) }, "pipe is a FIFO"),
        ] as [((URL) throws -> Void, String)] {
            let root = try folder(["train.py": "x", "sub/util.py": "u"])
            try make(root)
            #expect(throws: ProgramError.self, "\(expected)") { try ProgramFingerprint.compute(folder: root) }
            do {
                _ = try ProgramFingerprint.compute(folder: root)
            } catch {
                #expect("\(error)".contains(expected) && "\(error)".contains(root.path), "\(error)")
            }
            // Left out with a .sweepignore, the folder is fine again.
            try Data("a\nb\nup\nzero\npipe\n".utf8).write(to: root.appendingPathComponent(".sweepignore"))
            #expect(try ProgramFingerprint.compute(folder: root).files.map(\.name) == [".sweepignore", "sub/util.py", "train.py"])
        }
        // A link to a sibling folder is no cycle: its files ship under the link's name.
        let shared = try folder(["train.py": "x", "lib/util.py": "u"])
        try FileManager.default.createSymbolicLink(atPath: shared.appendingPathComponent("alias").path, withDestinationPath: "lib")
        #expect(try ProgramFingerprint.compute(folder: shared).files.map(\.name) == ["alias/util.py", "lib/util.py", "train.py"])
    }

    /// The listing hashed is `name TAB size TAB sha LF`: a file named `a\t0\t<sha of empty>\nb`
    /// holding `hello` made the same listing as files `a` (empty) and `b` (`hello`). Names with a
    /// control character are refused, so no two folders share a listing, and fingerprints of
    /// ordinary folders (in stores and trial files) are unchanged.
    @Test func namesThatCouldForgeAListingAreRefusedAndOrdinaryFingerprintsAreUnchanged() throws {
        let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        let honest = try folder(["a": "", "b": "hello"])
        let forged = try folder(["a\t0\t\(empty)\nb": "hello"])
        #expect(throws: ProgramError.self) { try ProgramFingerprint.compute(folder: forged) }
        do { _ = try ProgramFingerprint.compute(folder: forged) } catch { #expect("\(error)".contains("control character")) }
        // Pinned: the scheme every stored fingerprint was made with.
        #expect(
            try ProgramFingerprint.compute(folder: honest).fingerprint
                == sha256Hex(Array("a\t0\t\(empty)\nb\t5\t\(sha256Hex(Array("hello".utf8)))\n".utf8)))
        #expect(
            ProgramFingerprint.nameProblem("lib/ok.py") == nil && ProgramFingerprint.nameProblem("../x") != nil
                && ProgramFingerprint.nameProblem("a\nb") != nil && ProgramFingerprint.nameProblem("/etc/passwd") != nil)
    }

    @Test func aProgramOverTheLimitIsRefusedNamingSweepignore() throws {
        let root = try folder(["train.py": "x", "weights.bin": String(repeating: "w", count: 2048)])
        #expect(throws: ProgramError.self) { try ProgramFingerprint.compute(folder: root, maximumBytes: 1024) }
        do {
            _ = try ProgramFingerprint.compute(folder: root, maximumBytes: 1024)
        } catch {
            #expect("\(error)".contains(".sweepignore") && "\(error)".contains("weights.bin"))
        }
    }
}
