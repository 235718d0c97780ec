import Foundation
import ML
import Testing
import TestSupport

/// The test programs under Tests/Programs.
let programsFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Programs")

@Suite struct ProgramRunnerTests {
    func runner(_ folder: String, _ command: [String], style: ProgramConfigStyle = .args, keys: [String: ConfigValue],
                seed: Int = 0, metric: String = "accuracy", grace: TimeInterval = 5, env: [String] = []) -> ProgramRunner {
        ProgramRunner(attempt: ProgramAttempt(
            folder: programsFolder.appendingPathComponent(folder), command: ProgramCommand(command: command, config: style, env: env),
            config: TrialConfig(programKeys: keys, seed: seed, selectMetric: metric), data: nil,
            workFolder: TestFolders.fresh("program"), grace: grace, trial: "t", attempt: 1))
    }

    @Test(arguments: ProgramConfigStyle.allCases)
    func theConfigArrivesInEachStyleAndEveryEpochIsRead(style: ProgramConfigStyle) throws {
        let program = runner("fit", ["python3", "fit.py"], style: style, keys: ["lr": .double(0.5), "epochs": .int(3), "l2": .int(0)], seed: 7)
        var heard: [Int] = []
        let result = program.run { event in
            if case .epoch(let record) = event { heard.append(record.epoch) }
            return true
        }
        #expect(result.status == .completed, "\(result.status)")
        #expect(heard == [1, 2, 3] && result.history.map(\.epoch) == [1, 2, 3])
        #expect(try String(contentsOf: program.outFolder.appendingPathComponent("style.txt"), encoding: .utf8) == style.rawValue)
        let record = result.history[0]
        #expect(record.valid["accuracy"] != nil && record.test["accuracy"] != nil && record.lossMain != nil)
        #expect(record.extra?["weight_norm"] != nil && record.extra?["phase"] == nil, "text values are the program's own")
        // The best epoch by valid accuracy (earliest of ties), with the final report laid over it.
        let best = try #require(result.bestEpoch)
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
        #expect(Set(environment.keys).subtracting(["PATH", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE", "LITERAL"]).allSatisfy { $0.hasPrefix("SWEEP_") })
    }

    @Test func aCrashIsAFailureWithTheLastLinesOfStderr() {
        let result = runner("fit", ["python3", "fit.py"], keys: ["lr": .double(0.1), "epochs": .int(5), "fail_at": .int(2)]).run()
        guard case .failed(let reason) = result.status else { Issue.record("\(result.status)"); return }
        #expect(reason.contains("exited with status 1") && reason.contains("failing on purpose at epoch 2"), "\(reason)")
        #expect(result.history.count == 2, "the epochs reported before the crash are kept")
    }

    @Test func aMissingCommandIsNamed() {
        let result = runner("fit", ["no-such-interpreter-4711", "fit.py"], keys: [:]).run()
        guard case .failed(let reason) = result.status else { Issue.record("\(result.status)"); return }
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
        #expect(result.status == .stopped && result.history.count == 1)
        #expect(Date().timeIntervalSince(start) < 10)
        #expect(!processAlive(withCommandLineContaining: "--seed \(seed)"))
    }

    @Test(arguments: [("huge", "longer than 64 KiB"), ("not_json", "report line 2 is not JSON"), ("far_epoch", "is for epoch 1000000000, expected epoch 2"),
                      ("no_metric", "lacks valid_accuracy"), ("flood", "larger than 16 MiB"), ("silent", "without reporting an epoch")])
    func hostileReportsFailTheAttemptWithTheLineNamed(mode: String, expected: String) {
        let result = runner("hostile", ["python3", "hostile.py"], keys: ["mode": .string(mode)]).run()
        guard case .failed(let reason) = result.status else { Issue.record("\(mode): \(result.status)"); return }
        #expect(reason.contains(expected), "\(mode): \(reason)")
    }

    @Test func aNaNInAReportIsDivergence() {
        let result = runner("hostile", ["python3", "hostile.py"], keys: ["mode": .string("nan")]).run()
        guard case .diverged(let reason) = result.status else { Issue.record("\(result.status)"); return }
        #expect(reason.contains("non-finite") && result.history.count == 1)
    }

    @Test func aDetachedGrandchildIsKilledWhenTheProgramEnds() throws {
        let seed = Int.random(in: 100_000...999_999)
        let result = runner("hostile", ["python3", "hostile.py"], keys: ["mode": .string("detach")], seed: seed).run()
        #expect(result.status == .completed)
        let deadline = Date().addingTimeInterval(5)
        while processAlive(withCommandLineContaining: "detached-sleeper-\(seed)") && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
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
