import Foundation

/// Names the leases of the attempts one process starts: `L-`, a start time in milliseconds, `-`,
/// a counter, in hex (the counter fixed-width). The start time is past every lease the store
/// already holds, so a coordinator relaunched within the same millisecond, or on a host whose
/// clock is behind, never reuses a lease; and leases increase, so each new attempt lands at the
/// end of the store's lease index rather than on a random page of it.
public struct LeaseIssuer: Sendable {
    private let prefix: String
    private var issued: UInt64 = 0

    /// Starts after `store`'s latest lease of this form (or at `now` when that is later).
    public init(store: SweepStore, now: Date = Date()) throws {
        self.init(after: try store.latestLease(prefix: Self.mark), now: now)
    }

    /// Starts after `latest` (a lease of this form, nil when there is none) or at `now`.
    public init(after latest: String?, now: Date = Date()) {
        let clock = UInt64(max(0, now.timeIntervalSince1970 * 1000))
        let stored = latest.flatMap { lease in
            lease.dropFirst(Self.mark.count).split(separator: "-").first.flatMap { UInt64($0, radix: 16) }
        }
        prefix = Self.mark + String(max(clock, (stored ?? 0) + 1), radix: 16) + "-"
    }

    /// The next lease.
    public mutating func next() -> String {
        issued += 1
        let digits = String(issued, radix: 16)
        return prefix + String(repeating: "0", count: max(0, 12 - digits.count)) + digits
    }

    private static let mark = "L-"
}
