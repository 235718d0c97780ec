import Foundation

// The JSON of the records every trial produces (an epoch, a timing), one writer and one reader for
// the wire's hot messages and the store: both write them on every epoch of every trial.

/// Stores a member that may be `null` read once: `.some(nil)` once seen as null; false for a value
/// that did not read or a key seen before.
@inlinable public func readOnceOrNull<T>(_ field: inout T??, _ reader: inout JSONByteReader, _ read: (inout JSONByteReader) -> T?) -> Bool {
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
    /// An epoch record (what `EpochRecord`'s Codable conformance reads back to the same record).
    public mutating func record(_ record: EpochRecord) throws(NonFiniteNumber) {
        raw("{\"epoch\":")
        integer(record.epoch)
        if let lossMain = record.lossMain {
            raw(",\"loss_main\":")
            try number(lossMain)
        }
        raw(",\"loss_aux\":")
        try optionalNumber(record.lossAux)
        raw(",\"weights\":{\"main\":")
        try number(record.weights.main)
        raw(",\"aux\":")
        try optionalNumber(record.weights.aux)
        if let sMain = record.weights.sMain {
            raw(",\"s_main\":")
            try number(sMain)
        }
        if let sAux = record.weights.sAux {
            raw(",\"s_aux\":")
            try number(sAux)
        }
        raw("},\"valid\":")
        try numbers(record.valid.dictionary)
        raw(",\"test\":")
        try numbers(record.test.dictionary)
        raw(",\"seconds\":")
        try number(record.seconds)
        if let trainSeconds = record.trainSeconds {
            raw(",\"train_seconds\":")
            try number(trainSeconds)
        }
        if let extra = record.extra {
            raw(",\"extra\":")
            try numbers(extra)
        }
        raw("}")
    }

    /// A number, or `null` for none.
    public mutating func optionalNumber(_ value: Double?) throws(NonFiniteNumber) {
        if let value { try number(value) } else { raw("null") }
    }

    /// A timing (what `TrainingTiming`'s Codable conformance reads back).
    public mutating func timing(_ timing: TrainingTiming) throws(NonFiniteNumber) {
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
        if let gpu = timing.gpu {
            raw(",\"gpu\":")
            integer(gpu)
        }
        raw("}")
    }
}

extension JSONByteReader {
    /// A member this build does not know: read and ignored, as Foundation's decoder ignores it.
    public mutating func skipUnknown() -> Bool { value() != nil }

    /// An epoch record as ``JSONByteWriter/record(_:)`` writes it (any order, unknown members skipped).
    public mutating func record() -> EpochRecord? {
        var epoch: Int?, lossMain: Double??, lossAux: Double??, weights: TaskWeights?
        var valid: [String: Double]?, test: [String: Double]?, seconds: Double?, trainSeconds: Double??, extra: [String: Double]??
        let read = object { reader, key in
            switch key {
            case "epoch": readOnce(&epoch, reader.integer())
            case "loss_main": readOnceOrNull(&lossMain, &reader) { $0.number() }
            case "loss_aux": readOnceOrNull(&lossAux, &reader) { $0.number() }
            case "weights": readOnce(&weights, reader.weights())
            case "valid": readOnce(&valid, reader.numbers())
            case "test": readOnce(&test, reader.numbers())
            case "seconds": readOnce(&seconds, reader.number())
            case "train_seconds": readOnceOrNull(&trainSeconds, &reader) { $0.number() }
            case "extra": readOnceOrNull(&extra, &reader) { $0.numbers() }
            default: reader.skipUnknown()
            }
        }
        guard read, let epoch, let weights, let valid, let test, let seconds else { return nil }
        return EpochRecord(
            epoch: epoch, lossMain: lossMain ?? nil, lossAux: lossAux ?? nil, weights: weights,
            valid: RankingMetrics(values: valid), test: RankingMetrics(values: test), seconds: seconds,
            trainSeconds: trainSeconds ?? nil, extra: extra ?? nil)
    }

    public mutating func weights() -> TaskWeights? {
        var main: Double?, aux: Double??, sMain: Double??, sAux: Double??
        let read = object { reader, key in
            switch key {
            case "main": readOnce(&main, reader.number())
            case "aux": readOnceOrNull(&aux, &reader) { $0.number() }
            case "s_main": readOnceOrNull(&sMain, &reader) { $0.number() }
            case "s_aux": readOnceOrNull(&sAux, &reader) { $0.number() }
            default: reader.skipUnknown()
            }
        }
        guard read, let main else { return nil }
        return TaskWeights(main: main, aux: aux ?? nil, sMain: sMain ?? nil, sAux: sAux ?? nil)
    }

    /// A timing as ``JSONByteWriter/timing(_:)`` writes it.
    public mutating func timing() -> TrainingTiming? {
        var examplesPerSecond: Double?, secondsPerEpoch: Double?, totalSeconds: Double?, threads: Int?, blasCore: String?, gpu: Int??
        let read = object { reader, key in
            switch key {
            case "gpu": readOnceOrNull(&gpu, &reader) { $0.integer() }
            case "examples_per_second": readOnce(&examplesPerSecond, reader.number())
            case "seconds_per_epoch": readOnce(&secondsPerEpoch, reader.number())
            case "total_seconds": readOnce(&totalSeconds, reader.number())
            case "threads": readOnce(&threads, reader.integer())
            case "blas_core": readOnce(&blasCore, reader.string())
            default: reader.skipUnknown()
            }
        }
        guard read, let examplesPerSecond, let secondsPerEpoch, let totalSeconds, let threads, let blasCore else { return nil }
        return TrainingTiming(
            examplesPerSecond: examplesPerSecond, secondsPerEpoch: secondsPerEpoch,
            totalSeconds: totalSeconds, threads: threads, blasCore: blasCore, gpu: gpu ?? nil)
    }
}
