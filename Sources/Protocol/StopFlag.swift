import Foundation

/// A flag another thread (typically a signal handler) sets to ask a serving loop to stop.
/// The loops poll it between socket waits, so it is honoured within one poll timeout.
public final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false

    public init() {}

    public func set() { lock.withLock { value = true } }
    public func clear() { lock.withLock { value = false } }
    public var isSet: Bool { lock.withLock { value } }
}
