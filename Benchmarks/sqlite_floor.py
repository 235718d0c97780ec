"""What durably recording a no-op trial costs in SQLite itself, without Swift or GRDB, from
Python's `sqlite3` (microseconds per trial, median of 5 runs of 20,000 trials; a transaction
every 8 trials on a WAL file with synchronous=NORMAL, as the coordinator's store runs):

- arguments only: building the rows' arguments, without SQLite (the Python share of the rest);
- append floor: a claim row and a result row appended to two tables without indexes, the
  cheapest durable write a trial could have;
- store statements: the coordinator's five per-trial statements (result: guarded update of the
  attempt, the trial's state, the result row; claim: the next waiting trial, its attempt row) on a
  copy of the store's current schema (`Sources/SweepCore/StoreSchema.swift`, migration v5), with
  foreign keys on as GRDB runs them.

    python3 Benchmarks/sqlite_floor.py
"""
import hashlib
import os
import sqlite3
import statistics
import tempfile
import time

TRIALS, BATCH = 20_000, 8
METRICS = '{"ndcg@10":0.1234}'

SCHEMA = """
CREATE TABLE trial (id TEXT PRIMARY KEY, number INTEGER NOT NULL UNIQUE, config TEXT NOT NULL, seed INTEGER NOT NULL,
  variant TEXT, state TEXT NOT NULL CHECK (state IN ('waiting','running','completed','pruned','failed','diverged','cancelled','retired')),
  retired_from TEXT CHECK (retired_from IN ('waiting','completed','pruned','failed','diverged','cancelled')),
  attempts INTEGER NOT NULL DEFAULT 0, updated_at REAL NOT NULL, origin TEXT);
CREATE INDEX trial_by_state ON trial(state, number);
CREATE UNIQUE INDEX trial_number_id ON trial(number, id);
CREATE TABLE attempt (trial_number INTEGER NOT NULL, trial_id TEXT NOT NULL, attempt INTEGER NOT NULL, lease TEXT NOT NULL UNIQUE,
  worker TEXT NOT NULL, started_at REAL NOT NULL, heartbeat_at REAL NOT NULL, epoch INTEGER NOT NULL DEFAULT 0,
  step INTEGER NOT NULL DEFAULT 0, step_at REAL NOT NULL, finished_at REAL,
  outcome TEXT CHECK (outcome IN ('completed','pruned','lost','failed','diverged','cancelled')), reason TEXT,
  PRIMARY KEY (trial_number, attempt), FOREIGN KEY (trial_number, trial_id) REFERENCES trial(number, id));
CREATE TABLE result (trial_number INTEGER PRIMARY KEY, trial_id TEXT NOT NULL, attempt INTEGER NOT NULL, best_epoch INTEGER NOT NULL,
  valid TEXT NOT NULL, test TEXT NOT NULL, timing TEXT NOT NULL, seconds REAL NOT NULL, worker TEXT NOT NULL, finished_at REAL NOT NULL,
  FOREIGN KEY (trial_number, attempt) REFERENCES attempt(trial_number, attempt),
  FOREIGN KEY (trial_number, trial_id) REFERENCES trial(number, id));
"""
CLAIM = """UPDATE trial SET state = ?, attempts = attempts + 1, updated_at = ?
  WHERE id = (SELECT id FROM trial WHERE state = ? ORDER BY number LIMIT 1) AND state = ? RETURNING id, number, config, attempts"""
NEW_ATTEMPT = """INSERT INTO attempt (trial_number, trial_id, attempt, lease, worker, started_at, heartbeat_at, step_at)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?)"""
COMPLETE = """UPDATE attempt SET outcome = 'completed', finished_at = ? WHERE lease = ? AND worker = ? AND outcome IS NULL
  AND (SELECT state FROM trial WHERE number = attempt.trial_number) = 'running' RETURNING trial_id, trial_number, attempt"""
TRANSITION = "UPDATE trial SET state = ?, attempts = attempts + ?, updated_at = ? WHERE id = ? AND state = ?"
NEW_RESULT = """INSERT INTO result (trial_number, trial_id, attempt, best_epoch, valid, test, timing, seconds, worker, finished_at)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""


def lease(i):
    return "L-18f00000000-%012x" % i


def opened(folder):
    db = sqlite3.connect(os.path.join(folder, "floor.db"), isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA wal_autocheckpoint=16384")
    db.execute("PRAGMA foreign_keys=ON")
    return db


def appended_rows(i):
    """Trial i's result row and its worker's next claim row, as the append floor writes them."""
    return (i, lease(i), "bench-3", METRICS, METRICS, '{"seconds":0}', time.time()), (i + 1, lease(i + 1), "bench-3", time.time())


def arguments_only(_folder):
    start = time.perf_counter()
    for i in range(TRIALS):
        appended_rows(i)
    return time.perf_counter() - start


def append_floor(folder):
    db = opened(folder)
    db.execute("CREATE TABLE claim (number INTEGER, lease TEXT, worker TEXT, at REAL)")
    db.execute("CREATE TABLE result (number INTEGER, lease TEXT, worker TEXT, valid TEXT, test TEXT, timing TEXT, at REAL)")
    start = time.perf_counter()
    for first in range(0, TRIALS, BATCH):
        db.execute("BEGIN")
        for i in range(first, first + BATCH):
            result, claim = appended_rows(i)
            db.execute("INSERT INTO result VALUES (?, ?, ?, ?, ?, ?, ?)", result)
            db.execute("INSERT INTO claim VALUES (?, ?, ?, ?)", claim)
        db.execute("COMMIT")
    return time.perf_counter() - start


def store_statements(folder):
    db = opened(folder)
    db.executescript(SCHEMA)
    db.execute("BEGIN")
    for number in range(1, TRIALS + 2 * BATCH + 1):
        trial_id = hashlib.sha256(str(number).encode()).hexdigest()[:16]
        config = '{"epochs":20,"loss":"bce","lr":0.00123456,"seed":%d}' % number
        db.execute("INSERT INTO trial (id, number, config, seed, state, updated_at) VALUES (?, ?, ?, ?, 'waiting', 0)",
                   (trial_id, number, config, number))
    db.execute("COMMIT")
    leases, issued = {}, 0

    def claim(worker):
        nonlocal issued
        issued += 1
        now = time.time()
        trial_id, number, _config, attempt = db.execute(CLAIM, ("running", now, "waiting", "waiting")).fetchone()
        db.execute(NEW_ATTEMPT, (number, trial_id, attempt, lease(issued), worker, now, now, now))
        leases[worker] = lease(issued)

    workers = ["bench-%d" % w for w in range(BATCH)]
    db.execute("BEGIN")
    for worker in workers:
        claim(worker)
    db.execute("COMMIT")
    start = time.perf_counter()
    for _ in range(TRIALS // BATCH):
        db.execute("BEGIN")
        for worker in workers:  # each worker's result, then its next trial, as a batch of the server's
            now = time.time()
            trial_id, number, attempt = db.execute(COMPLETE, (now, leases[worker], worker)).fetchone()
            db.execute(TRANSITION, ("completed", 0, now, trial_id, "running"))
            db.execute(NEW_RESULT, (number, trial_id, attempt, 1, METRICS, METRICS, '{"seconds":0}', 0.0, worker, now))
            claim(worker)
        db.execute("COMMIT")
    return time.perf_counter() - start


for name, run in (("arguments only", arguments_only), ("append floor", append_floor), ("store statements", store_statements)):
    figures = []
    for _ in range(5):
        with tempfile.TemporaryDirectory() as folder:
            figures.append(run(folder) / TRIALS * 1e6)
    print(f"{name:18} {statistics.median(figures):5.1f} µs per trial")
