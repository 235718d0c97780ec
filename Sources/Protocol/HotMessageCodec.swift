import Foundation

/// Hand-written JSON for the messages every trial sends (`heartbeat`, `progress`, `result`,
/// `assign`, `ack`, `wait`): the same bodies as their `Codable` conformances, without Foundation's
/// coders, which cost tens of microseconds a message. ``Codec`` uses it first; a body it does not
/// read (escaped strings, repeated keys, deep nesting, any defect) goes to Foundation's decoder,
/// which is the reference and names what is wrong.
enum HotMessageCodec {
    // MARK: Encoding

    /// The body of a hot message, or nil for the other types.
    static func encode(_ message: Message) throws(JSONByteWriter.NonFiniteNumber) -> [UInt8]? {
        var writer = JSONByteWriter()
        switch message {
        case .heartbeat(let heartbeat):
            if let progress = heartbeat.progress {
                writer.raw("{\"progress\":{\"lease\":")
                writer.lease(progress.lease)
                writer.raw(",\"epoch\":")
                writer.integer(progress.epoch)
                writer.raw(",\"step\":")
                writer.integer(progress.step)
                writer.raw("}}")
            } else {
                writer.raw("{}")
            }
        case .progress(let progress):
            writer.raw("{\"lease\":")
            writer.lease(progress.lease)
            writer.raw(",\"report\":")
            try writer.report(progress.report)
            writer.raw("}")
        case .result(let outcome):
            writer.raw("{\"lease\":")
            writer.lease(outcome.lease)
            writer.raw(",\"best_epoch\":")
            writer.integer(outcome.bestEpoch)
            writer.raw(",\"valid\":")
            try writer.numbers(outcome.valid)
            writer.raw(",\"test\":")
            try writer.numbers(outcome.test)
            writer.raw(",\"history\":[")
            for (index, report) in outcome.history.enumerated() {
                if index > 0 { writer.raw(",") }
                try writer.report(report)
            }
            writer.raw("],\"timing\":")
            try writer.timing(outcome.timing)
            writer.raw("}")
        case .assign(let assignment):
            writer.assignmentHead(lease: assignment.lease, number: assignment.number)
            writer.append(assignment.config.text.utf8)
            writer.assignmentTail(dataset: assignment.dataset, program: assignment.program)
        case .ack(let ack):
            writer.raw("{\"lease\":")
            writer.lease(ack.lease)
            writer.raw(",\"kind\":")
            writer.string(ack.kind.rawValue)
            writer.raw("}")
        case .wait(let wait):
            writer.raw("{\"retry_ms\":")
            writer.integer(wait.retryMilliseconds)
            writer.raw("}")
        default:
            return nil
        }
        return writer.bytes
    }

    // MARK: Decoding

    /// The message, or nil when the type is not a hot one or the body is not read here.
    static func decode(type: [UInt8], body: [UInt8]) -> Message? {
        type.withUnsafeBufferPointer { type in body.withUnsafeBufferPointer { buffer in
            var reader = JSONByteReader(buffer)
            let message: Message? = switch JSONKey(bytes: type) {
            case "heartbeat": reader.heartbeat().map(Message.heartbeat)
            case "progress": reader.progress().map(Message.progress)
            case "result": reader.outcome().map(Message.result)
            case "assign": reader.assignment().map(Message.assign)
            case "ack": reader.ack().map(Message.ack)
            case "wait": reader.wait().map(Message.wait)
            default: nil
            }
            return reader.isAtEnd() ? message : nil
        } }
    }
}

/// Stores a field read once: false for a value that did not read or a key seen before (which
/// Foundation's decoder then judges).
private func set<T>(_ field: inout T?, _ value: T?) -> Bool {
    guard field == nil, let value else { return false }
    field = value
    return true
}

/// Stores an optional field that may be `null`: `.some(nil)` once seen as null.
private func setOptional<T>(_ field: inout T??, _ reader: inout JSONByteReader, _ read: (inout JSONByteReader) -> T?) -> Bool {
    guard field == nil else { return false }
    if reader.null() {
        field = .some(nil)
        return true
    }
    guard let value = read(&reader) else { return false }
    field = value
    return true
}

extension JSONByteWriter {
    /// An `assign` body up to its config: `{"lease":…,"number":…,"config":`.
    mutating func assignmentHead(lease: LeaseRef, number: Int) {
        raw("{\"lease\":")
        self.lease(lease)
        raw(",\"number\":")
        integer(number)
        raw(",\"config\":")
    }

    /// An `assign` body after its config: `,"dataset":{…}}`, or `,"dataset":{…},"program":{…}}`.
    mutating func assignmentTail(dataset: DatasetRef, program: ProgramRef?) {
        raw(",\"dataset\":{\"fingerprint\":")
        string(dataset.fingerprint)
        raw(",\"files\":[")
        for (index, file) in dataset.files.enumerated() {
            raw(index > 0 ? ",{\"name\":" : "{\"name\":")
            string(file.name)
            raw(",\"size\":")
            integer(file.size)
            raw(",\"sha256\":")
            string(file.sha256)
            raw("}")
        }
        raw("]}")
        if let program {
            // Once per sweep (the tail is written once), so Foundation's encoder costs nothing here.
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            raw(",\"program\":")
            append((try? encoder.encode(program)) ?? Data("null".utf8))
        }
        raw("}")
    }

    mutating func lease(_ lease: LeaseRef) {
        raw("{\"trial\":")
        string(lease.trial)
        raw(",\"attempt\":")
        integer(lease.attempt)
        raw(",\"lease\":")
        string(lease.lease)
        raw("}")
    }

    mutating func report(_ report: EpochReport) throws(NonFiniteNumber) {
        raw("{\"epoch\":")
        integer(report.epoch)
        if let lossMain = report.lossMain {
            raw(",\"loss_main\":")
            try number(lossMain)
        }
        if let lossAux = report.lossAux {
            raw(",\"loss_aux\":")
            try number(lossAux)
        }
        raw(",\"weights\":")
        try numbers(report.weights)
        raw(",\"valid\":")
        try numbers(report.valid)
        raw(",\"test\":")
        try numbers(report.test)
        raw(",\"seconds\":")
        try number(report.seconds)
        if let trainSeconds = report.trainSeconds {
            raw(",\"train_seconds\":")
            try number(trainSeconds)
        }
        if let extra = report.extra {
            raw(",\"extra\":")
            try numbers(extra)
        }
        raw("}")
    }

    mutating func timing(_ timing: TrialTiming) throws(NonFiniteNumber) {
        raw("{\"examples_per_second\":")
        try number(timing.examplesPerSecond)
        raw(",\"seconds_per_epoch\":")
        try number(timing.secondsPerEpoch)
        raw(",\"total_seconds\":")
        try number(timing.totalSeconds)
        raw(",\"threads\":")
        integer(timing.threads)
        raw(",\"blas_core\":")
        string(timing.blasCore)
        raw("}")
    }
}

private extension JSONByteReader {
    /// A member this build does not know: read and ignored, as Foundation's decoder ignores it.
    mutating func skipUnknown() -> Bool { value() != nil }

    mutating func lease() -> LeaseRef? {
        var trial: String?, attempt: Int?, lease: String?
        let read = object { reader, key in
            switch key {
            case "trial": set(&trial, reader.string())
            case "attempt": set(&attempt, reader.integer())
            case "lease": set(&lease, reader.string())
            default: reader.skipUnknown()
            }
        }
        guard read, let trial, let attempt, let lease else { return nil }
        return LeaseRef(trial: trial, attempt: attempt, lease: lease)
    }

    mutating func heartbeat() -> Heartbeat? {
        var progress: TrialProgress??
        let read = object { reader, key in
            switch key {
            case "progress":
                setOptional(&progress, &reader) { reader in
                    var lease: LeaseRef?, epoch: Int?, step: Int?
                    let read = reader.object { reader, key in
                        switch key {
                        case "lease": set(&lease, reader.lease())
                        case "epoch": set(&epoch, reader.integer())
                        case "step": set(&step, reader.integer())
                        default: reader.skipUnknown()
                        }
                    }
                    guard read, let lease, let epoch, let step else { return nil }
                    return TrialProgress(lease: lease, epoch: epoch, step: step)
                }
            default: reader.skipUnknown()
            }
        }
        return read ? Heartbeat(progress: progress ?? nil) : nil
    }

    mutating func report() -> EpochReport? {
        var epoch: Int?, lossMain: Double??, lossAux: Double??, weights: [String: Double?]?
        var valid: [String: Double]?, test: [String: Double]?, seconds: Double?, trainSeconds: Double??, extra: [String: Double]??
        let read = object { reader, key in
            switch key {
            case "epoch": set(&epoch, reader.integer())
            case "loss_main": setOptional(&lossMain, &reader) { $0.number() }
            case "loss_aux": setOptional(&lossAux, &reader) { $0.number() }
            case "weights": set(&weights, reader.optionalNumbers())
            case "valid": set(&valid, reader.numbers())
            case "test": set(&test, reader.numbers())
            case "seconds": set(&seconds, reader.number())
            case "train_seconds": setOptional(&trainSeconds, &reader) { $0.number() }
            case "extra": setOptional(&extra, &reader) { $0.numbers() }
            default: reader.skipUnknown()
            }
        }
        guard read, let epoch, let weights, let valid, let test, let seconds else { return nil }
        return EpochReport(epoch: epoch, lossMain: lossMain ?? nil, lossAux: lossAux ?? nil, weights: weights,
                           valid: valid, test: test, seconds: seconds, trainSeconds: trainSeconds ?? nil, extra: extra ?? nil)
    }

    mutating func progress() -> Progress? {
        var lease: LeaseRef?, report: EpochReport?
        let read = object { reader, key in
            switch key {
            case "lease": set(&lease, reader.lease())
            case "report": set(&report, reader.report())
            default: reader.skipUnknown()
            }
        }
        guard read, let lease, let report else { return nil }
        return Progress(lease: lease, report: report)
    }

    mutating func timing() -> TrialTiming? {
        var examplesPerSecond: Double?, secondsPerEpoch: Double?, totalSeconds: Double?, threads: Int?, blasCore: String?
        let read = object { reader, key in
            switch key {
            case "examples_per_second": set(&examplesPerSecond, reader.number())
            case "seconds_per_epoch": set(&secondsPerEpoch, reader.number())
            case "total_seconds": set(&totalSeconds, reader.number())
            case "threads": set(&threads, reader.integer())
            case "blas_core": set(&blasCore, reader.string())
            default: reader.skipUnknown()
            }
        }
        guard read, let examplesPerSecond, let secondsPerEpoch, let totalSeconds, let threads, let blasCore else { return nil }
        return TrialTiming(examplesPerSecond: examplesPerSecond, secondsPerEpoch: secondsPerEpoch,
                           totalSeconds: totalSeconds, threads: threads, blasCore: blasCore)
    }

    mutating func outcome() -> TrialOutcome? {
        var lease: LeaseRef?, bestEpoch: Int?, valid: [String: Double]?, test: [String: Double]?
        var history: [EpochReport]?, timing: TrialTiming?
        let read = object { reader, key in
            switch key {
            case "lease": return set(&lease, reader.lease())
            case "best_epoch": return set(&bestEpoch, reader.integer())
            case "valid": return set(&valid, reader.numbers())
            case "test": return set(&test, reader.numbers())
            case "timing": return set(&timing, reader.timing())
            case "history": return set(&history, reader.array(of: { $0.report() }))
            default: return reader.skipUnknown()
            }
        }
        guard read, let lease, let bestEpoch, let valid, let test, let history, let timing else { return nil }
        return TrialOutcome(lease: lease, bestEpoch: bestEpoch, valid: valid, test: test, history: history, timing: timing)
    }

    mutating func datasetFile() -> DatasetFile? {
        var name: String?, size: Int?, sha256: String?
        let read = object { reader, key in
            switch key {
            case "name": set(&name, reader.string())
            case "size": set(&size, reader.integer())
            case "sha256": set(&sha256, reader.string())
            default: reader.skipUnknown()
            }
        }
        guard read, let name, let size, let sha256 else { return nil }
        return DatasetFile(name: name, size: size, sha256: sha256)
    }

    mutating func dataset() -> DatasetRef? {
        var fingerprint: String?, files: [DatasetFile]?
        let read = object { reader, key in
            switch key {
            case "fingerprint": set(&fingerprint, reader.string())
            case "files": set(&files, reader.array(of: { $0.datasetFile() }))
            default: reader.skipUnknown()
            }
        }
        guard read, let fingerprint, let files else { return nil }
        return DatasetRef(fingerprint: fingerprint, files: files)
    }

    mutating func program() -> ProgramRef? {
        var fingerprint: String?, files: [DatasetFile]?, command: [String]?, config: String?, env: [String]?
        let read = object { reader, key in
            switch key {
            case "fingerprint": set(&fingerprint, reader.string())
            case "files": set(&files, reader.array(of: { $0.datasetFile() }))
            case "command": set(&command, reader.array(of: { $0.string() }))
            case "config": set(&config, reader.string())
            case "env": set(&env, reader.array(of: { $0.string() }))
            default: reader.skipUnknown()
            }
        }
        guard read, let fingerprint, let files, let command, let config, let env else { return nil }
        return ProgramRef(fingerprint: fingerprint, files: files, command: command, config: config, env: env)
    }

    mutating func assignment() -> Assignment? {
        var lease: LeaseRef?, number: Int?, config: JSONObjectText?, dataset: DatasetRef?, program: ProgramRef??
        let read = object { reader, key in
            switch key {
            case "lease": return set(&lease, reader.lease())
            case "number": return set(&number, reader.integer())
            case "config": return set(&config, reader.objectText().map(JSONObjectText.init))
            case "dataset": return set(&dataset, reader.dataset())
            case "program": return setOptional(&program, &reader) { $0.program() }
            default: return reader.skipUnknown()
            }
        }
        guard read, let lease, let number, let config, let dataset else { return nil }
        return Assignment(lease: lease, number: number, config: config, dataset: dataset, program: program ?? nil)
    }

    mutating func ack() -> Ack? {
        var lease: LeaseRef?, kind: AckKind?
        let read = object { reader, key in
            switch key {
            case "lease": set(&lease, reader.lease())
            case "kind": set(&kind, reader.string().flatMap(AckKind.init(rawValue:)))
            default: reader.skipUnknown()
            }
        }
        guard read, let lease, let kind else { return nil }
        return Ack(lease: lease, kind: kind)
    }

    mutating func wait() -> Wait? {
        var retry: Int?
        let read = object { reader, key in
            switch key {
            case "retry_ms": set(&retry, reader.integer())
            default: reader.skipUnknown()
            }
        }
        guard read, let retry else { return nil }
        return Wait(retryMilliseconds: retry)
    }
}

/// The `assign` messages of one sweep, written with each trial's config spliced in as the store
/// keeps it: parsing a config only to write it out again cost the coordinator more than the rest
/// of the message, and the dataset part, the same for every trial, is written once.
public struct AssignmentEncoder: Sendable {
    private let tail: [UInt8]

    public init(dataset: DatasetRef, program: ProgramRef? = nil) {
        var writer = JSONByteWriter()
        writer.assignmentTail(dataset: dataset, program: program)
        tail = writer.bytes
    }

    /// The frames of `assign` (as ``Codec/encode(_:)`` makes them) for a trial whose config is
    /// `configJSON`, which must be the text of a JSON object (the store's canonical config).
    public func frames(lease: LeaseRef, number: Int, configJSON: String) -> [[UInt8]] {
        var writer = JSONByteWriter(capacity: 64 + configJSON.utf8.count + tail.count)
        writer.assignmentHead(lease: lease, number: number)
        writer.append(configJSON.utf8)
        writer.append(tail)
        return [[wireProtocolVersion], Array("assign".utf8), writer.bytes]
    }
}
