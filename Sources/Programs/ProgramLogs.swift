import Foundation

#if canImport(Glibc)
    import Glibc
    import Vocabulary
#endif

/// A program's stdout or stderr, read from a pipe and kept on disk within a bound: the first
/// ``headBytes`` as they came, then a line saying how many bytes were left out, then the last
/// ``tailBytes``. The tail is held in memory (a ring) and rewritten after the head at each
/// ``flush()``, so the file never grows past head + marker + tail, and a failure's reason can
/// quote the end reading at most ``recentBytes`` of the head back, never the whole log.
final class CappedLog {
    /// The start kept of each log: 1 MiB.
    static let headBytes = 1 << 20
    /// The end kept of each log: 1 MiB.
    static let tailBytes = 1 << 20

    private let file: Int32
    private let headLimit: Int
    private let tailLimit: Int
    /// Bytes written to the head so far.
    private var head = 0
    /// The latest bytes past the head, oldest first once `ring` has wrapped (`start` marks it).
    private var ring: [UInt8] = []
    private var start = 0
    /// Bytes past the head that the ring no longer holds.
    private var dropped = 0
    /// Whether the ring changed since the last flush.
    private var dirty = false
    /// How much of its end a log can quote: 4 KiB.
    static let recentBytes = 4 << 10

    /// Creates (or empties) the file; a path that is a folder or otherwise unwritable is an error naming it.
    init(path: String, headBytes: Int = CappedLog.headBytes, tailBytes: Int = CappedLog.tailBytes) throws {
        headLimit = headBytes
        tailLimit = tailBytes
        file = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard file >= 0 else { throw ProgramError("cannot write the log \(path): \(String(cString: strerror(errno)))") }
    }

    deinit { close(file) }

    /// Takes what the program wrote: into the head while it has room, then into the ring.
    func append(_ bytes: UnsafeRawBufferPointer) {
        var rest = bytes[...]
        if head < headLimit {
            let taken = rest.prefix(headLimit - head)
            taken.withUnsafeBytes { piece in
                var offset = 0
                while offset < piece.count {
                    let written = pwrite(file, piece.baseAddress! + offset, piece.count - offset, off_t(head + offset))
                    if written <= 0 { break }
                    offset += written
                }
            }
            head += taken.count
            rest = rest.dropFirst(taken.count)
        }
        guard !rest.isEmpty else { return }
        dirty = true
        // Only the last `tailLimit` bytes of a large piece can survive.
        if rest.count > tailLimit {
            dropped += rest.count - tailLimit
            rest = rest.suffix(tailLimit)
        }
        if ring.count < tailLimit {
            let filling = rest.prefix(tailLimit - ring.count)
            ring.append(contentsOf: filling)
            rest = rest.dropFirst(filling.count)
        }
        // A full ring: overwrite from its oldest byte on, in at most two runs.
        while !rest.isEmpty {
            let run = min(rest.count, tailLimit - start)
            ring.replaceSubrange(start..<(start + run), with: rest.prefix(run))
            start = (start + run) % tailLimit
            dropped += run
            rest = rest.dropFirst(run)
        }
    }

    /// The ring in order.
    private var tail: [UInt8] { Array(ring[start...] + ring[..<start]) }

    /// Writes the marker and the tail after the head, and cuts the file there.
    func flush() {
        guard dirty else { return }
        dirty = false
        var bytes = Array(
            (dropped > 0
                ? "\n[sweep: \(dropped) bytes left out here; the log keeps its first \(headLimit) and last \(tailLimit) bytes]\n" : "").utf8
        )
        bytes += tail
        let written = bytes.withUnsafeBytes { pwrite(file, $0.baseAddress, $0.count, off_t(head)) }
        if written == bytes.count { ftruncate(file, off_t(head + bytes.count)) }
    }

    /// The last bytes the program wrote, at most ``recentBytes`` (for a failure's reason).
    var recent: [UInt8] {
        let fromHead = min(head, max(Self.recentBytes - ring.count, 0))
        var bytes = [UInt8](repeating: 0, count: fromHead)
        let read = bytes.withUnsafeMutableBytes { pread(file, $0.baseAddress, fromHead, off_t(head - fromHead)) }
        return Array((bytes.prefix(max(read, 0)) + tail).suffix(Self.recentBytes))
    }
}
