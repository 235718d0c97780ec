import SweepCore
import Synchronization
import Vocabulary

/// One store as the dashboard reads it, with everything the dashboard keeps of it between
/// requests (Optuna keeps its in one `_CachedStorage`): the trials as read last and the store
/// revision they were read at, what was parsed of them (``TrialMemo``), the parsed sweep file and
/// the leaderboard document's rows. While no writer has committed it serves what it read; after a
/// commit it reads only the trials changed since, so a page asked every second beside a fast
/// sweep costs what changed. Nothing else feeds it: the caller's plan (``init(store:known:)``) is
/// the only config it is told of. The CLI's read-only commands read through one too, so that
/// `--watch` follows a sweep as the dashboard does and a command reads the trials once.
public final class CachedReader: SweepSource, Sendable {
    public let store: SweepStore
    /// The leaderboard document's rows, written once per trial while it is unchanged.
    let rows = LeaderboardRowCache()
    private let kept: Mutex<Kept>

    private struct Kept {
        var memo = TrialMemo()
        /// The trials, and the store revision they were read at.
        var list: TrialList?
        var revision = 0
        var spec: (text: String, spec: SweepSpec)?
    }

    /// - Parameter known: trials whose configs the caller holds (a coordinator's plan): taken
    ///   instead of parsing their stored text.
    public init(store: SweepStore, known: [PlannedTrial] = []) {
        self.store = store
        var kept = Kept()
        kept.memo.know(known)
        self.kept = Mutex(kept)
    }

    /// Every trial (retired ones too), in plan order, as of the store's latest commit.
    public func trials() throws -> [TrialSnapshot] {
        // One caller brings the list up to date while the others wait for it, and the list is
        // patched in place (its 30,000 snapshots are not copied for each poll).
        try kept.withLock { kept in
            // The revision is read before the trials, so what is kept is at least as new as it says.
            let revision = try store.revision() ?? 0
            if let list = kept.list, kept.revision == revision { return list.snapshots }
            // Taken out, so the patch changes the only copy in place.
            if var list = kept.list.take(), try store.patch(&list, memo: &kept.memo) {
                kept.list = list
            } else {
                kept.list = try store.readTrials(memo: &kept.memo)
            }
            kept.revision = revision
            return kept.list!.snapshots
        }
    }

    /// The trials ``trials()`` leaves out because their config cannot be read, in number order.
    public func unreadableTrials() throws -> [UnreadableTrial] {
        _ = try trials()
        return kept.withLock { $0.memo.unreadable }
    }

    /// The stored sweep file, parsed once per text (expanding a plan of 10,000 random draws takes
    /// most of a second).
    public func spec(of sweep: SweepRecord) throws -> SweepSpec {
        try kept.withLock { kept in
            if let known = kept.spec, known.text == sweep.specText { return known.spec }
            let spec = try store.spec(of: sweep)
            kept.spec = (sweep.specText, spec)
            return spec
        }
    }

    /// A trial by id, id prefix (unique) or number.
    public func findTrial(_ reference: String) throws -> TrialSnapshot {
        try TrialSnapshot.find(reference, in: trials())
    }

    /// Reads of every trial, and configs parsed from stored text (for tests).
    var counts: (fullReads: Int, parses: Int) { kept.withLock { ($0.memo.fullReads, $0.memo.parses) } }
}
