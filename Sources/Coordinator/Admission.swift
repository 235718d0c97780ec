import Protocol
import Vocabulary

/// Decides whether a worker that said `ready` may take trials: it must speak this protocol version
/// and run the same trainer build, since different trainer code would make results incomparable.
public struct Admission: Sendable {
    public var buildID: String
    public var heartbeatMilliseconds: Int
    public var liveness: Int
    public var sweepName: String

    public init(buildID: String, heartbeatMilliseconds: Int, liveness: Int, sweepName: String) {
        self.buildID = buildID
        self.heartbeatMilliseconds = heartbeatMilliseconds
        self.liveness = liveness
        self.sweepName = sweepName
    }

    /// `welcome` for a compatible worker, else `error` saying what differs.
    public func answer(_ ready: Ready) -> CoordinatorMessage {
        if ready.protocolVersion != Int(wireProtocolVersion) {
            return .error(
                ErrorReport(
                    code: .protocolMismatch,
                    message: "worker \(ready.worker) speaks protocol \(ready.protocolVersion), coordinator speaks \(wireProtocolVersion)"))
        }
        if ready.buildID != buildID {
            return .error(
                ErrorReport(
                    code: .buildMismatch,
                    message:
                        "worker \(ready.worker) runs build \(ready.buildID), coordinator runs \(buildID): install the same sweep binary on both"
                ))
        }
        return .welcome(Welcome(heartbeatMilliseconds: heartbeatMilliseconds, liveness: liveness, sweep: sweepName))
    }
}
