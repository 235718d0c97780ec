import Foundation
import GRDB
import Synchronization
import Vocabulary

/// The disk holding a store is full: the write that found it so was not made (its transaction
/// rolled back), and everything committed before it is intact.
public struct StoreFull: Error, CustomStringConvertible {
    /// The store's file.
    public var path: String
    /// Bytes free on its file system when it was found full, if known.
    public var freeBytes: Int64?

    public var description: String {
        let free = freeBytes.map { " (\($0 / 1024) KiB free)" } ?? ""
        return "the disk holding \(path) is full\(free): the last write was not made, and everything stored before it is intact"
    }
}

/// One sweep's durable state in one SQLite file (WAL), through GRDB.
///
/// A process opens one writer (``open(path:)``) or any number of readers (``openReadOnly(path:)``),
/// which never create the file (they bring one from an older build to the current schema) and
/// work while a writer writes. Each method is one
/// transaction, named by intent, and every write is safe to repeat: UNIQUE constraints and state
/// checks make a replayed write a no-op, and a crash loses no committed result.
public final class SweepStore: Sendable {
    let database: any DatabaseWriter & DatabaseReader
    public let path: String
    private let checkpointer: BackgroundCheckpointer?
    /// Why a write nested in the current transaction failed (nil while none has): that transaction
    /// must not commit.
    private let failedWrite = Mutex<String?>(nil)
    /// A reader's own connection that only asks SQLite whether another connection has committed
    /// since it last asked (`PRAGMA data_version`); nil for a writer.
    let watcher: DatabaseQueue?
    /// The writer connection's `PRAGMA data_version` when ``othersCommitted()`` last read it.
    private let seenDataVersion = Mutex<Int?>(nil)

    private init(
        database: any DatabaseWriter & DatabaseReader, path: String, checkpointer: BackgroundCheckpointer? = nil,
        watcher: DatabaseQueue? = nil
    ) {
        self.database = database
        self.path = path
        self.checkpointer = checkpointer
        self.watcher = watcher
    }

    /// `error` as ``StoreFull`` when it is SQLite's "database or disk is full", else nil.
    public func diskFull(_ error: any Error) -> StoreFull? { Self.diskFull(error, path: path) }

    /// The same for the store at `path` before it is open (a full disk can refuse the opening write).
    public static func diskFull(_ error: any Error, path: String) -> StoreFull? {
        if let full = error as? StoreFull { return full }
        guard let database = error as? DatabaseError, database.resultCode == .SQLITE_FULL else { return nil }
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        let free = (try? FileManager.default.attributesOfFileSystem(forPath: folder))?[.systemFreeSize] as? NSNumber
        return StoreFull(path: path, freeBytes: free?.int64Value)
    }

    /// For a read-only store: a number that changes whenever a writer commits, so what was read
    /// at one revision can be served again while it stays the same; nil for a writer (which
    /// knows what it wrote).
    public func revision() throws -> Int? {
        try watcher?.read { db in try Int.fetchOne(db, sql: "PRAGMA data_version") }
    }

    deinit { checkpointer?.stop() }

    /// Opens (creating if needed) a store for writing and applies its migrations.
    public static func open(path: String) throws -> SweepStore {
        try refuseNonSQLiteFile(path)
        do {
            return try openWriter(path: path)
        } catch let error as StoreError {
            throw error
        } catch {
            throw diskFull(error, path: path) ?? StoreError(message: "\(path): \(error)")
        }
    }

    /// A file that exists but is no SQLite database (zeros, text) is refused by name before a
    /// writer sees it: a writer would otherwise fail halfway with SQLite's own words ("file is not
    /// a database" at a PRAGMA), without naming the file. The look is SQLite's own read-only open:
    /// opening the file through a second descriptor and closing it would drop the POSIX locks this
    /// process's other connections hold on it.
    static func refuseNonSQLiteFile(_ path: String) throws {
        guard FileManager.default.fileExists(atPath: path) else { return }  // created as a new store
        var configuration = Configuration()
        configuration.readonly = true
        // Another connection may be checkpointing or writing (the store of a process that just
        // closed it, a coordinator): wait for it as every other connection does, not fail "locked".
        configuration.busyMode = .timeout(10)
        do {
            _ = try DatabaseQueue(path: path, configuration: configuration).read { db in
                try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM sqlite_master")
            }
        } catch let error as DatabaseError where error.resultCode == .SQLITE_NOTADB {
            throw StoreError(
                message:
                    "\(path) is not a SQLite database (a damaged or foreign file?); it was left as it is: give --db a new file or a sweep store"
            )
        }
    }

    private static func openWriter(path: String) throws -> SweepStore {
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")  // WAL + NORMAL survives a process crash
            // Checkpoints run on their own thread (below); this only bounds the log if they fall behind.
            try db.execute(sql: "PRAGMA wal_autocheckpoint = 16384")
        }
        let pool = try DatabasePool(path: path, configuration: configuration)
        try pool.read { db in try refuseNewerSchema(db, path: path) }
        try migrator.migrate(pool)
        return SweepStore(database: pool, path: path, checkpointer: try BackgroundCheckpointer(path: path))
    }

    /// Opens an existing store for writing (for commands that change a sweep but never create one).
    public static func openExisting(path: String) throws -> SweepStore {
        _ = try openReadOnly(path: path)
        return try open(path: path)
    }

    /// An in-memory store, for tests.
    public static func inMemory() throws -> SweepStore {
        let queue = try DatabaseQueue()
        try migrator.migrate(queue)
        return SweepStore(database: queue, path: ":memory:")
    }

    /// Opens an existing store read-only; says clearly when it is missing or not a sweep store.
    /// A store an older build wrote is first brought to the current schema (its migrations take
    /// a moment), so every reader meets the schema its queries are written for.
    public static func openReadOnly(path: String) throws -> SweepStore {
        guard FileManager.default.fileExists(atPath: path) else {
            throw StoreError(message: "\(path): no such sweep database (sweep launch creates it)")
        }
        try refuseNonSQLiteFile(path)
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(10)
        // Readers map the file: a dashboard scanning 10,000 results each second reads them in
        // place instead of copying every page through read(2).
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA mmap_size = 1073741824") }
        func openPool() throws -> (DatabasePool, isCurrent: Bool) {
            let pool: DatabasePool
            do {
                pool = try DatabasePool(path: path, configuration: configuration)
                let ready = try pool.read { db in try db.tableExists("sweep") && Int.fetchOne(db, sql: "SELECT COUNT(*) FROM sweep") == 1 }
                guard ready else { throw StoreError(message: "\(path) is not a sweep database (no sweep in it)") }
            } catch let error as StoreError {
                throw error
            } catch {
                throw StoreError(message: "\(path) is not a sweep database: \(error)")
            }
            return try pool.read { db in
                try refuseNewerSchema(db, path: path)
                return (pool, try migrator.hasCompletedMigrations(db))
            }
        }
        var (pool, isCurrent) = try openPool()
        if !isCurrent {
            do {
                var writing = Configuration()
                writing.busyMode = .timeout(10)
                try migrator.migrate(DatabaseQueue(path: path, configuration: writing))
            } catch {
                throw StoreError(message: "\(path) was written by an older version of sweep and could not be upgraded: \(error)")
            }
            (pool, _) = try openPool()
        }
        return SweepStore(database: pool, path: path, watcher: try DatabaseQueue(path: path, configuration: configuration))
    }

    /// Throws when a newer build has migrated the store beyond the migrations this build knows.
    private static func refuseNewerSchema(_ db: Database, path: String) throws {
        if try migrator.hasBeenSuperseded(db) {
            throw StoreError(message: "\(path) was written by a newer version of sweep than this one; use that version")
        }
    }

    // MARK: Transactions

    /// One transaction of the store. Inside another (a ``batch(_:)``) it is part of that one,
    /// which is all-or-nothing: when it throws, the enclosing transaction rolls back as a whole,
    /// even if the caller catches the error.
    func write<T>(_ body: (Database) throws -> T) throws -> T {
        try database.unsafeReentrantWrite { db in
            guard db.isInsideTransaction else { return try transaction(db) { try body(db) } }
            // No savepoint: one costs two statements on the path every trial takes twice, and the
            // enclosing transaction is undone anyway when a write in it fails.
            do {
                return try body(db)
            } catch {
                failedWrite.withLock { $0 = $0 ?? "\(error)" }
                throw error
            }
        }
    }

    /// Group commit: the store writes `body` makes share one transaction, so a burst of results and
    /// claims costs one commit. When this returns, all of them are durable; when it throws (or a
    /// write inside it threw, caught or not), none is. Reads through the store's reader
    /// connections inside `body` see the state before the batch.
    public func batch(_ body: () throws -> Void) throws {
        try database.unsafeReentrantWrite { db in try transaction(db, body) }
    }

    /// Whether another connection (another process: `sweep cancel`, `retry`, `enqueue`) has
    /// committed since the last call; true the first time. Asked of the writer connection, whose
    /// own commits do not count, so a coordinator re-reads what others may change only when they
    /// did, not once per running trial every second.
    public func othersCommitted() throws -> Bool {
        let version = try database.unsafeReentrantWrite { db in try Int.fetchOne(db, sql: "PRAGMA data_version") ?? 0 }
        return seenDataVersion.withLock { seen in
            defer { seen = version }
            return seen != version
        }
    }

    /// Runs `body` as one transaction, rolled back if it throws or a write nested in it failed.
    private func transaction<T>(_ db: Database, _ body: () throws -> T) throws -> T {
        failedWrite.withLock { $0 = nil }
        var result: T?
        try db.inTransaction {
            result = try body()
            if let failure = failedWrite.withLock({ $0 }) {
                throw StoreError(message: "a write in this transaction failed (\(failure)), so none of its writes is kept")
            }
            return .commit
        }
        return result!
    }

}

/// Copies the write-ahead log into the database file ten times a second on a connection and thread
/// of its own (passive checkpoints: they never wait for, or block, the writer). A checkpoint copies
/// pages and syncs the file twice; done by the writer after a commit, it stalled the thread that
/// serves workers for milliseconds, the tail of the assign latency.
final class BackgroundCheckpointer: Sendable {
    private let stopped = Atomic<Bool>(false)
    private let wakeUp = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)

    init(path: String) throws {
        let connection = try DatabaseQueue(path: path)
        // The thread holds this object until ``stop()`` ends it.
        let thread = Thread { [self] in
            while !stopped.load(ordering: .relaxed) {
                _ = try? connection.writeWithoutTransaction { try $0.checkpoint(.passive) }
                _ = wakeUp.wait(timeout: .now() + 0.1)
            }
            finished.signal()
        }
        thread.name = "sweep-store-checkpointer"
        thread.start()
    }

    /// Stops the thread and waits for it (at most one checkpoint).
    func stop() {
        stopped.store(true, ordering: .relaxed)
        wakeUp.signal()
        finished.wait()
    }
}

extension Database {
    /// Executes a statement of the hot path from the connection's statement cache: SQLite parses
    /// and GRDB authorises it once per connection instead of on every trial.
    func run(_ sql: String, _ arguments: StatementArguments) throws {
        try cachedStatement(sql: sql).execute(arguments: arguments)
    }
}
