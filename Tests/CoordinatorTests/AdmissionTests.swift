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

/// Function workers (the Python client) are admitted by the function they serve, not the build.
@Suite struct FunctionAdmissionTests {
    func ready(function: String?, build: String = "python-1.0.0") -> Ready {
        Ready(buildID: build, worker: "py", host: "h", cores: 2, blasThreads: 1, blasCore: "function", function: function)
    }

    func refusal(_ answer: CoordinatorMessage) -> ErrorReport? {
        if case .error(let report) = answer { return report }
        return nil
    }

    @Test func theFunctionTheSweepNamesIsWelcomedWhateverItsBuild() {
        let both = Admission(buildID: "aaaa", heartbeatMilliseconds: 250, liveness: 4, sweepName: "s", function: "train")
        #expect(both.answer(ready(function: "train")) == .welcome(Welcome(heartbeatMilliseconds: 250, liveness: 4, sweep: "s")))
        // Beside a program, `sweep worker` of the same build is welcome too.
        #expect(refusal(both.answer(ready(function: nil, build: "aaaa"))) == nil)
        let other = refusal(both.answer(ready(function: "evaluate")))
        #expect(other?.code == .functionMismatch && other?.message.contains("names function train: serve that one") == true)
        // Another protocol version is refused before the function is looked at.
        var old = ready(function: "train")
        old.protocolVersion = 2
        #expect(refusal(both.answer(old))?.code == .protocolMismatch)
    }

    @Test func mismatchesAreRefusedOnBothSides() {
        let none = Admission(buildID: "aaaa", heartbeatMilliseconds: 250, liveness: 4, sweepName: "s")
        let client = refusal(none.answer(ready(function: "train")))
        #expect(client?.code == .functionMismatch && client?.message.contains("add `function: train` to the sweep file") == true)
        let only = Admission(
            buildID: "aaaa", heartbeatMilliseconds: 250, liveness: 4, sweepName: "s", function: "train", functionOnly: true)
        let worker = refusal(only.answer(ready(function: nil, build: "aaaa")))
        #expect(worker?.code == .functionMismatch && worker?.message.contains("sweep_client.work(train=train") == true)
    }
}
