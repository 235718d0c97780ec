import Protocol
import Vocabulary

/// Decides whether a worker that said `ready` may take trials: it must speak this protocol version
/// and run the same trainer, since different trainer code would make results incomparable: a
/// `sweep worker` the same build, a function worker (the Python client) the function the sweep names.
public struct Admission: Sendable {
    public var buildID: String
    public var heartbeatMilliseconds: Int
    public var liveness: Int
    public var sweepName: String
    /// The function that function workers may run this sweep's trials with (`function:`), or nil.
    public var function: String?
    /// Whether only function workers can run the trials (a `function:` sweep without `program:`).
    public var functionOnly: Bool

    public init(
        buildID: String, heartbeatMilliseconds: Int, liveness: Int, sweepName: String, function: String? = nil,
        functionOnly: Bool = false
    ) {
        self.buildID = buildID
        self.heartbeatMilliseconds = heartbeatMilliseconds
        self.liveness = liveness
        self.sweepName = sweepName
        self.function = function
        self.functionOnly = functionOnly
    }

    /// `welcome` for a compatible worker, else `error` saying what differs.
    public func answer(_ ready: Ready) -> CoordinatorMessage {
        if ready.protocolVersion != Int(wireProtocolVersion) {
            return .error(
                ErrorReport(
                    code: .protocolMismatch,
                    message: "worker \(ready.worker) speaks protocol \(ready.protocolVersion), coordinator speaks \(wireProtocolVersion)"))
        }
        if let served = ready.function {
            guard let function else {
                return .error(
                    ErrorReport(
                        code: .functionMismatch,
                        message:
                            "worker \(ready.worker) runs trials with function \(served), but sweep \(sweepName) names no function: its trials need `sweep worker` (add `function: \(served)` to the sweep file to let function workers run them)"
                    ))
            }
            if served != function {
                return .error(
                    ErrorReport(
                        code: .functionMismatch,
                        message:
                            "worker \(ready.worker) runs trials with function \(served), but sweep \(sweepName) names function \(function): serve that one"
                    ))
            }
            return welcome
        }
        if functionOnly, let function {
            return .error(
                ErrorReport(
                    code: .functionMismatch,
                    message:
                        "sweep \(sweepName) runs its trials in function workers (function: \(function)), which `sweep worker` is not: start them with sweep_client.work(train=\(function), …) (docs/python.md)"
                ))
        }
        if ready.buildID != buildID {
            return .error(
                ErrorReport(
                    code: .buildMismatch,
                    message:
                        "worker \(ready.worker) runs build \(ready.buildID), coordinator runs \(buildID): install the same sweep binary on both"
                ))
        }
        return welcome
    }

    private var welcome: CoordinatorMessage {
        .welcome(Welcome(heartbeatMilliseconds: heartbeatMilliseconds, liveness: liveness, sweep: sweepName))
    }
}
