import CSpawn
import Foundation

#if canImport(Glibc)
    import Glibc
    import Vocabulary
#endif

/// One attempt of a program trial: what to run, with which config, where.
public struct ProgramAttempt: Sendable {
    /// The program folder (a worker's verified copy, or the sweep's own folder for `sweep run`).
    public var folder: URL
    public var command: ProgramCommand
    public var config: TrialConfig
    /// The dataset folder (`{data}`), nil for `dataset: none`.
    public var data: URL?
    /// This attempt's folder: the program runs in `run/` (links to the program's files), writes
    /// `{out}` = `out/`, and its report, config and logs sit beside them.
    public var workFolder: URL
    /// Seconds between SIGTERM and SIGKILL when the program is stopped.
    public var grace: TimeInterval
    /// Names for `SWEEP_TRIAL` and `SWEEP_ATTEMPT`.
    public var trial: String
    public var attempt: Int
    /// The environment `env:` entries copy from (the worker's own).
    public var hostEnvironment: [String: String]
    /// The GPU this attempt may use (`sweep worker --gpus`): the program sees only it, as
    /// `CUDA_VISIBLE_DEVICES` and `SWEEP_GPU`. Without one, `CUDA_VISIBLE_DEVICES` is what `env:` says.
    public var gpu: Int?

    public init(
        folder: URL, command: ProgramCommand, config: TrialConfig, data: URL?, workFolder: URL, grace: TimeInterval,
        trial: String, attempt: Int, hostEnvironment: [String: String] = ProcessInfo.processInfo.environment, gpu: Int? = nil
    ) {
        self.folder = folder
        self.command = command
        self.config = config
        self.data = data
        self.workFolder = workFolder
        self.grace = grace
        self.trial = trial
        self.attempt = attempt
        self.hostEnvironment = hostEnvironment
        self.gpu = gpu
    }
}

/// Runs a user program as one trial attempt: the config as arguments, a JSON file or environment
/// variables; epochs read from the JSON lines it appends to `SWEEP_REPORT`; SIGTERM to its process
/// group on stop, SIGKILL after the grace period; anything it left running killed when it ends.
///
/// Reports are checked as they arrive: one object per line, at most ``maximumLineBytes`` a line
/// and ``maximumReportBytes`` in all, epochs 1, 2, 3… in order, numbers finite. Any breach ends
/// the attempt as failed with the line named; the worker never crashes on what a program writes.
public final class ProgramRunner: Sendable {
    public static let maximumLineBytes = 64 << 10
    public static let maximumReportBytes = 16 << 20
    public static let maximumEpochs = 100_000
    /// How often the report file and the process are looked at.
    static let pollSeconds = 0.05

    public let attempt: ProgramAttempt
    public var runFolder: URL { attempt.workFolder.appendingPathComponent("run") }
    public var outFolder: URL { attempt.workFolder.appendingPathComponent("out") }
    public var reportFile: URL { attempt.workFolder.appendingPathComponent("report.jsonl") }
    public var stderrFile: URL { attempt.workFolder.appendingPathComponent("stderr.log") }
    public var stdoutFile: URL { attempt.workFolder.appendingPathComponent("stdout.log") }
    /// Marks every process of this attempt (`SWEEP_RUN`), so ones that left the group are found.
    let runToken = UUID().uuidString

    public init(attempt: ProgramAttempt) { self.attempt = attempt }

    /// The command line with `{data}` and `{out}` filled in and the config appended (`args`).
    public func commandLine() -> [String] {
        var words = attempt.command.command.map { word in
            word.replacingOccurrences(of: "{data}", with: attempt.data?.path ?? "")
                .replacingOccurrences(of: "{out}", with: outFolder.path)
        }
        if attempt.command.configStyle == .args {
            for (key, value) in programValues {
                switch value {
                case .bool(true): words.append("--\(key)")
                case .bool(false): continue
                default: words += ["--\(key)", value.description]
                }
            }
        }
        return words
    }

    /// The keys the program receives: its own and `seed`, in key order.
    var programValues: [(key: String, value: ConfigValue)] {
        ((attempt.config.programKeys ?? [:]).map { ($0.key, $0.value) } + [("seed", .int(attempt.config.seed))]).sorted { $0.key < $1.key }
    }

    /// The program's whole environment: `PATH` (the worker's unless `env:` sets it), what `env:`
    /// names, and `SWEEP_*`.
    public func environment() -> [String: String] {
        var environment: [String: String] = [
            "PATH": attempt.hostEnvironment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin",
            "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1",
        ]
        for entry in attempt.command.env {
            if let equals = entry.firstIndex(of: "=") {
                environment[String(entry[..<equals])] = String(entry[entry.index(after: equals)...])
            } else if let value = attempt.hostEnvironment[entry] {
                environment[entry] = value
            }
        }
        environment["SWEEP_REPORT"] = reportFile.path
        environment["SWEEP_OUT"] = outFolder.path
        environment["SWEEP_TRIAL"] = attempt.trial
        environment["SWEEP_ATTEMPT"] = String(attempt.attempt)
        environment["SWEEP_SEED"] = String(attempt.config.seed)
        environment["SWEEP_METRIC"] = "valid_" + attempt.config.selectMetric
        environment["SWEEP_GOAL"] = attempt.config.selectGoal.rawValue
        environment["SWEEP_RUN"] = runToken
        if let data = attempt.data { environment["SWEEP_DATA"] = data.path }
        if let gpu = attempt.gpu {
            environment["CUDA_VISIBLE_DEVICES"] = String(gpu)
            environment["SWEEP_GPU"] = String(gpu)
        }
        switch attempt.command.configStyle {
        case .json: environment["SWEEP_CONFIG"] = attempt.workFolder.appendingPathComponent("config.json").path
        case .env:
            for (key, value) in programValues {
                let name =
                    "SWEEP_"
                    + String(
                        key.uppercased().unicodeScalars.map { CharacterSet.alphanumerics.contains($0) && $0.isASCII ? Character($0) : "_" })
                environment[name] = value.description
            }
        case .args: break
        }
        return environment
    }

    /// Prepares the attempt's folder, runs the program to its end (or until `callback` returns
    /// false), and says how it went. `callback` hears `.epoch` for each reported epoch and
    /// `.step` while the program is alive (its step counts polls, so a live program never stalls).
    public func run(callback: (TrainingEvent) -> Bool = { _ in true }) -> RunEnd {
        let start = Date()
        var history: [EpochRecord] = []
        var final: [String: Double] = [:], finalTest: [String: Double] = [:]
        /// The result: the best epoch's metrics with a `final: true` report's values laid over them.
        func completed() -> RunEnd {
            guard let best = EpochRecord.bestEpoch(in: history, by: attempt.config.selection) else {
                return .failed("no reported epoch has valid_\(attempt.config.selectMetric)", epochs: history.count)
            }
            let valid = history[best - 1].valid.dictionary.merging(final) { _, new in new }
            let test = history[best - 1].test.dictionary.merging(finalTest) { _, new in new }
            let timing = TrainingTiming.measured(
                history, trainExamples: 0, totalSeconds: Date().timeIntervalSince(start), threads: 1, blasCore: "program",
                gpu: attempt.gpu)
            return .completed(TrialResult(bestEpoch: best, valid: valid, test: test, history: history, timing: timing))
        }

        let pid: pid_t, output: Output
        do {
            try prepareFolder()
            output = try Output(stdoutPath: stdoutFile.path, stderrPath: stderrFile.path)
            pid = try spawn(output)
        } catch {
            return .failed("\(error)", epochs: 0)
        }
        let exitSignal = cspawn_pidfd(pid)
        defer {
            if exitSignal >= 0 { close(exitSignal) }
            killStragglers(group: pid)
            output.drain()
            output.flush()
        }

        var reader = ReportReader()
        var lastEpochAt = start, polls = 0, exitStatus: Int32?, lastFlush = start
        var ending: RunEnd?
        while exitStatus == nil {
            exitStatus = Self.reap(pid)
            output.drain()
            if Date().timeIntervalSince(lastFlush) >= 1 {
                output.flush()
                lastFlush = Date()
            }
            // Read what arrived; after the exit, what is left.
            do {
                for (number, line) in try reader.newLines(from: reportFile) {
                    switch try parse(line, number: number, expectedEpoch: history.count + 1) {
                    case .epoch(var record):
                        let now = Date()
                        record.seconds = now.timeIntervalSince(lastEpochAt)
                        lastEpochAt = now
                        history.append(record)
                        if !callback(.epoch(record)) && ending == nil { ending = .stopped(epochs: history.count) }
                    case .final(let valid, let test):
                        final = valid
                        finalTest = test
                    }
                }
            } catch let error as ReportError {
                ending = error.diverged ? .diverged(error.message, epochs: history.count) : .failed(error.message, epochs: history.count)
            } catch {
                ending = .failed("the report file: \(error)", epochs: history.count)
            }
            if exitStatus != nil { break }
            polls += 1
            if ending == nil && !callback(.step(epoch: history.count + 1, step: polls)) { ending = .stopped(epochs: history.count) }
            if ending != nil {
                exitStatus = terminate(pid)
                break
            }
            output.pipes.withUnsafeBufferPointer {
                cspawn_wait(exitSignal, $0.baseAddress, Int32($0.count), Int32(Self.pollSeconds * 1000))
            }
        }
        if let ending { return ending }
        output.drain()
        let status = exitStatus ?? 0
        guard status == 0 else {
            let how = status > 0 ? "exited with status \(status)" : "was killed by signal \(-status)"
            return .failed("the program \(how)" + Self.tail(of: output.stderr), epochs: history.count)
        }
        guard !history.isEmpty else {
            return .failed(
                "the program exited 0 without reporting an epoch with valid_\(attempt.config.selectMetric) to SWEEP_REPORT"
                    + Self.tail(of: output.stderr), epochs: 0)
        }
        return completed()
    }

    // MARK: Starting

    private func prepareFolder() throws {
        let manager = FileManager.default
        try? manager.removeItem(at: attempt.workFolder)
        try manager.createDirectory(at: runFolder, withIntermediateDirectories: true)
        try manager.createDirectory(at: outFolder, withIntermediateDirectories: true)
        // The program's files appear in its working folder as links, so `python3 train.py` works
        // there while what it writes stays in this attempt's folder.
        for name in try manager.contentsOfDirectory(atPath: attempt.folder.path) where name != ".git" {
            try manager.createSymbolicLink(
                at: runFolder.appendingPathComponent(name), withDestinationURL: attempt.folder.appendingPathComponent(name))
        }
        guard manager.createFile(atPath: reportFile.path, contents: nil) else { throw ProgramError("cannot create \(reportFile.path)") }
        if attempt.command.configStyle == .json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            let object = Dictionary(programValues.map { ($0.key, $0.value) }, uniquingKeysWith: { _, last in last })
            try encoder.encode(object).write(to: attempt.workFolder.appendingPathComponent("config.json"))
        }
    }

    /// The executable for the command's first word: a path (relative to the run folder), else
    /// searched in `PATH`.
    func executable(_ name: String, path: String) throws -> String {
        if name.contains("/") {
            let resolved = name.hasPrefix("/") ? name : runFolder.appendingPathComponent(name).path
            guard access(resolved, X_OK) == 0 else { throw ProgramError("the command \(name) is not an executable file (\(resolved))") }
            return resolved
        }
        for folder in path.split(separator: ":") {
            let candidate = "\(folder)/\(name)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        throw ProgramError("the command \(name) was not found in PATH (\(path)); install it on this worker or name it by its full path")
    }

    /// The program's output, read from two pipes as it comes and kept on disk within a bound
    /// (``CappedLog``): a program cannot fill the worker's disk or memory by printing.
    final class Output {
        let stdout: CappedLog
        let stderr: CappedLog
        /// The read ends (non-blocking), -1 once closed.
        private(set) var pipes: [Int32]
        private var buffer = [UInt8](repeating: 0, count: 64 << 10)

        /// The two pipes and their logs; `writeEnds` go to the child.
        init(stdoutPath: String, stderrPath: String) throws {
            stdout = try CappedLog(path: stdoutPath)
            stderr = try CappedLog(path: stderrPath)
            pipes = []
            writeEnds = []
            for _ in 0..<2 {
                var ends: [Int32] = [-1, -1]
                let made = cspawn_output_pipe(&ends)
                guard made == 0 else {
                    throw ProgramError("cannot make a pipe for the program's output: \(String(cString: strerror(-made)))")
                }
                pipes.append(ends[0])
                writeEnds.append(ends[1])
            }
        }

        private(set) var writeEnds: [Int32]

        /// Closes this process's copies of the write ends once the child holds its own.
        func closeWriteEnds() {
            for descriptor in writeEnds where descriptor >= 0 { close(descriptor) }
            writeEnds = [-1, -1]
        }

        deinit {
            closeWriteEnds()
            for descriptor in pipes where descriptor >= 0 { close(descriptor) }
        }

        /// Reads what is waiting in both pipes into the logs, without blocking.
        func drain() {
            for (index, log) in [stdout, stderr].enumerated() where pipes[index] >= 0 {
                while true {
                    let count = buffer.withUnsafeMutableBytes { read(pipes[index], $0.baseAddress, $0.count) }
                    if count > 0 {
                        buffer.withUnsafeBytes { log.append(UnsafeRawBufferPointer(rebasing: $0[..<count])) }
                        continue
                    }
                    if count < 0 && errno == EINTR { continue }
                    if count == 0 || errno != EAGAIN {  // the end of the output (or a broken pipe)
                        close(pipes[index])
                        pipes[index] = -1
                    }
                    break
                }
            }
        }

        func flush() {
            stdout.flush()
            stderr.flush()
        }
    }

    /// Starts the program in a process group of its own, in the run folder, with only its
    /// environment, stdin from /dev/null and its output into `output`'s pipes; it dies with
    /// this process (see `cspawn_program`).
    private func spawn(_ output: Output) throws -> pid_t {
        let words = commandLine()
        let environment = environment()
        let program = try executable(words[0], path: environment["PATH"] ?? "")
        let argv = words.map { strdup($0) } + [nil]
        let envp = environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
            output.closeWriteEnds()
        }
        let pid = cspawn_program(program, argv, envp, runFolder.path, output.writeEnds[0], output.writeEnds[1])
        guard pid > 0 else { throw ProgramError("cannot start \(program): \(String(cString: strerror(-pid)))") }
        return pid
    }

    // MARK: Ending

    /// The exit status once the process has ended (a signal as its negated number), else nil.
    static func reap(_ pid: pid_t, wait: Bool = false) -> Int32? {
        var status: Int32 = 0
        let reaped = waitpid(pid, &status, wait ? 0 : WNOHANG)
        guard reaped == pid else { return reaped < 0 ? -1 : nil }
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : -signal
    }

    /// SIGTERM to the group, SIGKILL after the grace period; returns the exit status.
    private func terminate(_ pid: pid_t) -> Int32 {
        kill(-pid, SIGTERM)
        let deadline = Date().addingTimeInterval(attempt.grace)
        while Date() < deadline {
            if let status = Self.reap(pid) { return status }
            Thread.sleep(forTimeInterval: 0.02)
        }
        kill(-pid, SIGKILL)
        return Self.reap(pid, wait: true) ?? -Int32(SIGKILL)
    }

    /// Kills what the program left behind: its process group, and any process that carries this
    /// attempt's `SWEEP_RUN` (one that started a session of its own to get away).
    private func killStragglers(group: pid_t) {
        kill(-group, SIGKILL)
        let marker = Array("SWEEP_RUN=\(runToken)".utf8)
        let own = getpid()
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return }
        for entry in entries {
            guard let pid = pid_t(entry), pid != own,
                let environ = FileManager.default.contents(atPath: "/proc/\(entry)/environ")
            else { continue }
            if environ.split(separator: 0).contains(where: { $0.elementsEqual(marker) }) { kill(pid, SIGKILL) }
        }
    }

    /// The last lines of the program's stderr, for the failure's reason (from the log's last
    /// 4 KiB: the whole log is never read).
    static func tail(of log: CappedLog, lines: Int = 12, bytes: Int = 2000) -> String {
        let recent = log.recent
        guard !recent.isEmpty else { return "" }
        let text = String(decoding: recent.suffix(bytes * 2), as: UTF8.self)
        let tail = text.split(separator: "\n", omittingEmptySubsequences: true).suffix(lines).joined(separator: "\n")
        return "; stderr ends:\n" + String(tail.suffix(bytes))
    }

    // MARK: Reports

    enum Report {
        case epoch(EpochRecord)
        case final(valid: [String: Double], test: [String: Double])
    }

    struct ReportError: Error {
        var message: String
        var diverged = false
    }

    /// One report line: `{"epoch": n, "valid_…": x, "test_…": y, "loss": z, …}` or `{"final": true, …}`.
    func parse(_ line: [UInt8], number: Int, expectedEpoch: Int) throws -> Report {
        let metric = attempt.config.selectMetric
        let object: [String: ReportValue]
        do {
            object = try JSONDecoder().decode([String: ReportValue].self, from: Data(line))
        } catch DecodingError.typeMismatch {
            throw ReportError(message: "report line \(number) is not a JSON object")
        } catch {
            let text = String(decoding: line.prefix(200), as: UTF8.self)
            if text.contains("NaN") || text.contains("Infinity") {
                throw ReportError(message: "report line \(number) holds a non-finite number: \(text)", diverged: true)
            }
            throw ReportError(message: "report line \(number) is not JSON: \(text)")
        }
        var valid: [String: Double] = [:], test: [String: Double] = [:], extra: [String: Double] = [:]
        var lossMain: Double?, lossAux: Double?
        for (key, value) in object where key != "epoch" && key != "final" {
            guard case .number(let x) = value else { continue }  // text and flags are the program's own
            guard x.isFinite else { throw ReportError(message: "report line \(number) gives \(key) = \(x)", diverged: true) }
            if key.hasPrefix("valid_"), key.count > 6 {
                valid[String(key.dropFirst(6))] = x
            } else if key.hasPrefix("test_"), key.count > 5 {
                test[String(key.dropFirst(5))] = x
            } else if key == "loss_main" || (key == "loss" && object["loss_main"] == nil) {
                lossMain = x
            } else if key == "loss_aux" {
                lossAux = x
            } else {
                extra[key] = x
            }
        }
        if case .flag(true)? = object["final"] {
            return .final(valid: valid, test: test)
        }
        guard case .number(let epochNumber)? = object["epoch"], let epoch = Int(exactly: epochNumber) else {
            throw ReportError(message: "report line \(number) has no integer \"epoch\" (nor \"final\": true)")
        }
        guard epoch == expectedEpoch else {
            throw ReportError(
                message:
                    "report line \(number) is for epoch \(epoch), expected epoch \(expectedEpoch): epochs are reported 1, 2, 3… once each")
        }
        guard epoch <= Self.maximumEpochs else {
            throw ReportError(message: "report line \(number): more than \(Self.maximumEpochs) epochs")
        }
        let budget = attempt.config.epochBudget
        guard budget == 0 || epoch <= budget else {
            throw ReportError(message: "report line \(number) is for epoch \(epoch) but the config's epochs is \(budget)")
        }
        guard valid[metric] != nil else {
            let keys = object.keys.sorted().joined(separator: ", ")
            throw ReportError(
                message: "report line \(number) (epoch \(epoch)) lacks valid_\(metric), which the sweep ranks on; it has \(keys)")
        }
        return .epoch(
            EpochRecord(
                epoch: epoch, lossMain: lossMain, lossAux: lossAux, weights: .singleTask,
                valid: RankingMetrics(values: valid), test: RankingMetrics(values: test), seconds: 0, trainSeconds: nil,
                extra: extra.isEmpty ? nil : extra))
    }

    /// A report member's value as far as the runner cares: a number, a flag, or anything else
    /// (text, null, a list or an object, which are the program's own).
    enum ReportValue: Decodable {
        case number(Double)
        case flag(Bool)
        case other

        init(from decoder: Decoder) throws {
            let value = try decoder.singleValueContainer()
            if let flag = try? value.decode(Bool.self) {
                self = .flag(flag)
            } else if let number = try? value.decode(Double.self) {
                self = .number(number)
            } else {
                self = .other
            }
        }
    }
}

/// Reads the complete lines appended to a report file since the last call, with the limits.
struct ReportReader {
    private var offset: UInt64 = 0
    private var pending: [UInt8] = []
    private var linesRead = 0

    /// The new complete lines, each with its 1-based number (blank lines skipped). The file is
    /// opened without blocking and without following a link, and must be a regular file: a
    /// program that puts a FIFO, a device or a link in its place fails its attempt instead of
    /// blocking the worker in `open` or `read`.
    mutating func newLines(from file: URL) throws -> [(number: Int, bytes: [UInt8])] {
        let descriptor = open(file.path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC)
        if descriptor < 0 {
            if errno == ENOENT { return [] }
            let reason = errno == ELOOP ? "is a symbolic link" : String(cString: strerror(errno))
            throw ProgramRunner.ReportError(
                message: "the report file \(file.path) \(reason); the worker reads only the regular file it made there")
        }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0, status.st_mode & S_IFMT == S_IFREG else {
            throw ProgramRunner.ReportError(
                message:
                    "the report file \(file.path) was replaced by \(fileTypeName(status.st_mode)); the worker reads only the regular file it made there"
            )
        }
        // One byte past the limit is enough to know it was passed.
        let wanted = ProgramRunner.maximumReportBytes + 1 - Int(offset)
        var data = [UInt8](repeating: 0, count: max(0, min(wanted, Int(status.st_size) - Int(offset))))
        let count = data.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, off_t(offset)) }
        data.removeLast(data.count - max(count, 0))
        offset += UInt64(data.count)
        guard offset <= UInt64(ProgramRunner.maximumReportBytes) else {
            throw ProgramRunner.ReportError(message: "the report file is larger than \(ProgramRunner.maximumReportBytes >> 20) MiB")
        }
        pending += data
        var lines: [(number: Int, bytes: [UInt8])] = []
        // The consumed lines leave `pending` in one cut at the end: removing each line as it was
        // read moved the rest of the buffer every time, quadratic in a report of many short lines.
        var start = pending.startIndex
        defer { pending.removeSubrange(..<start) }
        while let newline = pending[start...].firstIndex(of: UInt8(ascii: "\n")) {
            let line = Array(pending[start..<newline])
            start = newline + 1
            linesRead += 1
            guard line.count <= ProgramRunner.maximumLineBytes else {
                throw ProgramRunner.ReportError(
                    message: "report line \(linesRead) is longer than \(ProgramRunner.maximumLineBytes >> 10) KiB")
            }
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0d }) { continue }
            lines.append((linesRead, line))
        }
        guard pending.count - start <= ProgramRunner.maximumLineBytes else {
            throw ProgramRunner.ReportError(
                message: "report line \(linesRead + 1) is longer than \(ProgramRunner.maximumLineBytes >> 10) KiB")
        }
        return lines
    }
}
