import Foundation
import ML
import Protocol
import Testing
import Vocabulary

@testable import Worker

@Suite struct WorkerIdentityTests {
    @Test func readyDescribesThisProcess() throws {
        let identity = WorkerIdentity.current(blasThreads: 1)
        #expect(identity.name == "\(ProcessInfo.processInfo.hostName)-\(getpid())")
        #expect(identity.cores == ProcessInfo.processInfo.activeProcessorCount)
        #expect(identity.blasCore == BLAS.coreName)
        guard case .ready(let ready) = identity.ready(buildID: "b1") else {
            Issue.record("not a ready message")
            return
        }
        #expect(ready.protocolVersion == 1 && ready.buildID == "b1" && ready.blasThreads == 1)
        #expect(WorkerIdentity.current(name: "gpu-box-3", blasThreads: 2).name == "gpu-box-3")
    }
}
