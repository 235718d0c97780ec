import Protocol
import Testing

@testable import Coordinator

@Suite struct AdmissionTests {
    let admission = Admission(buildID: "aaaa", heartbeatMilliseconds: 250, liveness: 4, sweepName: "s")

    func ready(build: String, version: Int = 1) -> Ready {
        Ready(protocolVersion: version, buildID: build, worker: "w", host: "h", cores: 2, blasThreads: 1, blasCore: "Haswell")
    }

    @Test func sameBuildIsWelcomedWithTheHeartbeatTiming() {
        #expect(admission.answer(ready(build: "aaaa")) == .welcome(Welcome(heartbeatMilliseconds: 250, liveness: 4, sweep: "s")))
    }

    @Test func otherBuildOrVersionIsRefused() {
        guard case .error(let report) = admission.answer(ready(build: "bbbb")) else {
            Issue.record("a different build was admitted")
            return
        }
        #expect(report.code == .buildMismatch)
        #expect(report.message.contains("bbbb") && report.message.contains("aaaa"))
        guard case .error(let versionReport) = admission.answer(ready(build: "aaaa", version: 2)) else {
            Issue.record("a different protocol version was admitted")
            return
        }
        #expect(versionReport.code == .protocolMismatch)
    }
}
