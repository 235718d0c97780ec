import Foundation
import Vocabulary

/// Hand-written JSON for the messages every trial sends (`heartbeat`, `progress`, `result`,
/// `assign`, `ack`, `wait`): the same bodies as their `Codable` conformances, without Foundation's
/// coders, which cost tens of microseconds a message. ``Codec`` uses it first; a body it does not
/// read (escaped strings, repeated keys, deep nesting, any defect) goes to Foundation's decoder,
/// which is the reference and names what is wrong.
extension WorkerMessage {
    public func hotBody() throws -> [UInt8]? {
        var writer = JSONByteWriter()
        switch self {
        case .heartbeat(let heartbeat): writer.heartbeat(heartbeat)
        case .progress(let progress):
            writer.raw("{\"lease\":")
            writer.lease(progress.lease)
            writer.raw(",\"report\":")
            try writer.record(progress.report)
            writer.raw("}")
        case .result(let outcome): try writer.outcome(outcome)
        case .ready, .failed, .bye, .fetch: return nil
        }
        return writer.bytes
    }

    public static func hotMessage(type: [UInt8], body: [UInt8]) -> WorkerMessage? {
        readHotBody(type: type, body: body) { reader, type in
            switch type {
            case "heartbeat": reader.heartbeat().map(Self.heartbeat)
            case "progress": reader.progress().map(Self.progress)
            case "result": reader.outcome().map(Self.result)
            default: nil
            }
        }
    }
}

extension CoordinatorMessage {
    public func hotBody() throws -> [UInt8]? {
        var writer = JSONByteWriter()
        switch self {
        case .heartbeat(let heartbeat): writer.heartbeat(heartbeat)
        case .assign(let assignment):
            writer.assignmentHead(lease: assignment.lease, number: assignment.number)
            writer.append(assignment.config.text.utf8)
            try writer.assignmentTail(dataset: assignment.dataset, program: assignment.program)
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
        case .welcome, .chunk, .cancel, .shutdown, .error: return nil
        }
        return writer.bytes
    }

    public static func hotMessage(type: [UInt8], body: [UInt8]) -> CoordinatorMessage? {
        readHotBody(type: type, body: body) { reader, type in
            switch type {
            case "heartbeat": reader.heartbeat().map(Self.heartbeat)
            case "assign": reader.assignment().map(Self.assign)
            case "ack": reader.ack().map(Self.ack)
            case "wait": reader.wait().map(Self.wait)
            default: nil
            }
        }
    }
}

/// Hand-written JSON for the messages every trial sends (`heartbeat`, `progress`, `result`,
/// `assign`, `ack`, `wait`): the same bodies as their `Codable` conformances, without Foundation's
/// coders, which cost tens of microseconds a message (docs/BENCHMARKS.md). ``Codec`` uses it
/// first; a body it does not read (escaped strings, repeated keys, deep nesting, any defect) goes
/// to Foundation's decoder, which is the reference and names what is wrong.
private func readHotBody<Message>(type: [UInt8], body: [UInt8], _ read: (inout JSONByteReader, JSONKey) -> Message?) -> Message? {
    type.withUnsafeBufferPointer { type in
        body.withUnsafeBufferPointer { buffer in
            var reader = JSONByteReader(buffer)
            let message = read(&reader, JSONKey(bytes: type))
            return reader.isAtEnd() ? message : nil
        }
    }
}

extension JSONByteWriter {
    mutating func heartbeat(_ heartbeat: Heartbeat) {
        raw("{")
        if !heartbeat.progress.isEmpty {
            raw("\"progress\":[")
            for (index, progress) in heartbeat.progress.enumerated() {
                raw(index == 0 ? "{\"lease\":" : ",{\"lease\":")
                lease(progress.lease)
                raw(",\"epoch\":")
                integer(progress.epoch)
                raw(",\"step\":")
                integer(progress.step)
                raw("}")
            }
            raw("]")
        }
        if let wants = heartbeat.wants {
            raw(heartbeat.progress.isEmpty ? "\"wants\":" : ",\"wants\":")
            integer(wants)
        }
        raw("}")
    }

    mutating func outcome(_ outcome: TrialOutcome) throws(NonFiniteNumber) {
        raw("{\"lease\":")
        lease(outcome.lease)
        raw(",\"best_epoch\":")
        integer(outcome.result.bestEpoch)
        raw(",\"valid\":")
        try numbers(outcome.result.valid)
        raw(",\"test\":")
        try numbers(outcome.result.test)
        raw(",\"history\":[")
        for (index, record) in outcome.result.history.enumerated() {
            if index > 0 { raw(",") }
            try self.record(record)
        }
        raw("],\"timing\":")
        try timing(outcome.result.timing)
        raw("}")
    }

    /// An `assign` body up to its config: `{"lease":…,"number":…,"config":`.
    mutating func assignmentHead(lease: LeaseRef, number: Int) {
        raw("{\"lease\":")
        self.lease(lease)
        raw(",\"number\":")
        integer(number)
        raw(",\"config\":")
    }

    /// An `assign` body after its config: `,"dataset":{…}}`, or `,"dataset":{…},"program":{…}}`.
    mutating func assignmentTail(dataset: DatasetRef, program: ProgramRef?) throws {
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
            append(try encoder.encode(program))
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

}

extension JSONByteReader {
    mutating func lease() -> LeaseRef? {
        var trial: String?, attempt: Int?, lease: String?
        let read = object { reader, key in
            switch key {
            case "trial": readOnce(&trial, reader.string())
            case "attempt": readOnce(&attempt, reader.integer())
            case "lease": readOnce(&lease, reader.string())
            default: reader.skipUnknown()
            }
        }
        guard read, let trial, let attempt, let lease else { return nil }
        return LeaseRef(trial: trial, attempt: attempt, lease: lease)
    }

    mutating func heartbeat() -> Heartbeat? {
        var progress: [TrialProgress]??, wants: Int??
        let read = object { reader, key in
            switch key {
            case "wants": readOnceOrNull(&wants, &reader) { $0.integer() }
            case "progress":
                readOnceOrNull(&progress, &reader) { reader in
                    reader.array(of: { reader in
                        var lease: LeaseRef?, epoch: Int?, step: Int?
                        let read = reader.object { reader, key in
                            switch key {
                            case "lease": readOnce(&lease, reader.lease())
                            case "epoch": readOnce(&epoch, reader.integer())
                            case "step": readOnce(&step, reader.integer())
                            default: reader.skipUnknown()
                            }
                        }
                        guard read, let lease, let epoch, let step else { return nil }
                        return TrialProgress(lease: lease, epoch: epoch, step: step)
                    })
                }
            default: reader.skipUnknown()
            }
        }
        return read ? Heartbeat(progress: (progress ?? nil) ?? [], wants: wants ?? nil) : nil
    }

    mutating func progress() -> Progress? {
        var lease: LeaseRef?, report: EpochRecord?
        let read = object { reader, key in
            switch key {
            case "lease": readOnce(&lease, reader.lease())
            case "report": readOnce(&report, reader.record())
            default: reader.skipUnknown()
            }
        }
        guard read, let lease, let report else { return nil }
        return Progress(lease: lease, report: report)
    }

    mutating func outcome() -> TrialOutcome? {
        var lease: LeaseRef?, bestEpoch: Int?, valid: [String: Double]?, test: [String: Double]?
        var history: [EpochRecord]?, timing: TrainingTiming?
        let read = object { reader, key in
            switch key {
            case "lease": return readOnce(&lease, reader.lease())
            case "best_epoch": return readOnce(&bestEpoch, reader.integer())
            case "valid": return readOnce(&valid, reader.numbers())
            case "test": return readOnce(&test, reader.numbers())
            case "timing": return readOnce(&timing, reader.timing())
            case "history": return readOnce(&history, reader.array(of: { $0.record() }))
            default: return reader.skipUnknown()
            }
        }
        guard read, let lease, let bestEpoch, let valid, let test, let history, let timing else { return nil }
        return TrialOutcome(
            lease: lease, result: TrialResult(bestEpoch: bestEpoch, valid: valid, test: test, history: history, timing: timing))
    }

    mutating func datasetFile() -> FileDigest? {
        var name: String?, size: Int?, sha256: String?
        let read = object { reader, key in
            switch key {
            case "name": readOnce(&name, reader.string())
            case "size": readOnce(&size, reader.integer())
            case "sha256": readOnce(&sha256, reader.string())
            default: reader.skipUnknown()
            }
        }
        guard read, let name, let size, let sha256 else { return nil }
        return FileDigest(name: name, size: size, sha256: sha256)
    }

    mutating func dataset() -> DatasetRef? {
        var fingerprint: String?, files: [FileDigest]?
        let read = object { reader, key in
            switch key {
            case "fingerprint": readOnce(&fingerprint, reader.string())
            case "files": readOnce(&files, reader.array(of: { $0.datasetFile() }))
            default: reader.skipUnknown()
            }
        }
        guard read, let fingerprint, let files else { return nil }
        return DatasetRef(fingerprint: fingerprint, files: files)
    }

    mutating func program() -> ProgramRef? {
        var fingerprint: String?, files: [FileDigest]?, command: [String]?, config: String?, env: [String]?
        let read = object { reader, key in
            switch key {
            case "fingerprint": readOnce(&fingerprint, reader.string())
            case "files": readOnce(&files, reader.array(of: { $0.datasetFile() }))
            case "command": readOnce(&command, reader.array(of: { $0.string() }))
            case "config": readOnce(&config, reader.string())
            case "env": readOnce(&env, reader.array(of: { $0.string() }))
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
            case "lease": return readOnce(&lease, reader.lease())
            case "number": return readOnce(&number, reader.integer())
            case "config": return readOnce(&config, reader.objectText().map(JSONObjectText.init))
            case "dataset": return readOnce(&dataset, reader.dataset())
            case "program": return readOnceOrNull(&program, &reader) { $0.program() }
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
            case "lease": readOnce(&lease, reader.lease())
            case "kind": readOnce(&kind, reader.string().flatMap(AckKind.init(rawValue:)))
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
            case "retry_ms": readOnce(&retry, reader.integer())
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

    public init(dataset: DatasetRef, program: ProgramRef? = nil) throws {
        var writer = JSONByteWriter()
        try writer.assignmentTail(dataset: dataset, program: program)
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
