import Foundation
import ML
import Protocol
import Vocabulary

/// Who a worker is, as it introduces itself in ``Ready``.
public struct WorkerIdentity: Sendable, Equatable {
    public var name: String
    public var host: String
    public var cores: Int
    public var blasThreads: Int
    public var blasCore: String
    /// Trials it runs at once.
    public var slots = 1
    /// The GPU of each slot, when it has them (`--gpus`).
    public var gpus: [Int]?

    /// The identity of this process: host name, online cores, and the BLAS set-up trials will use.
    /// - Parameters:
    ///   - name: the worker's name; defaults to `host-pid`, unique per machine.
    ///   - blasThreads: the OpenBLAS threads each trial uses.
    ///   - slots: trials it runs at once; `gpus`, when given, sets one slot per device instead.
    public static func current(name: String? = nil, blasThreads: Int, slots: Int = 1, gpus: [Int]? = nil) -> WorkerIdentity {
        let host = ProcessInfo.processInfo.hostName
        return WorkerIdentity(
            name: name ?? "\(host)-\(ProcessInfo.processInfo.processIdentifier)",
            host: host,
            cores: ProcessInfo.processInfo.activeProcessorCount,
            blasThreads: blasThreads,
            blasCore: BLAS.coreName,
            slots: gpus?.count ?? slots,
            gpus: gpus
        )
    }

    /// The `ready` message announcing this worker with the given build id.
    /// - Parameter programs: whether it runs program trials (`--allow-programs`).
    public func ready(buildID: String, programs: Bool = false) -> WorkerMessage {
        .ready(
            Ready(
                buildID: buildID, worker: name, host: host, cores: cores,
                blasThreads: blasThreads, blasCore: blasCore, programs: programs ? true : nil, slots: slots == 1 ? nil : slots,
                gpus: gpus))
    }
}
