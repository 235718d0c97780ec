"""The cheapest durable SQLite write a trial could have: a claim row and a result row appended to
two tables without indexes, committed every 8 trials on a WAL file (synchronous=NORMAL, as the
store runs), in microseconds per trial, beside the same loop building the arguments without
SQLite. Median of 5 runs of 20,000 trials.

    python3 Benchmarks/sqlite_append_floor.py
"""
import os
import sqlite3
import statistics
import tempfile
import time

TRIALS, BATCH = 20_000, 8
METRICS = '{"ndcg@10":0.1234}'


def rows(i):
    lease = "L-18f00000000-%012x" % i
    return (i, lease, "bench-3", METRICS, METRICS, '{"seconds":0}', time.time()), (i + 1, lease, "bench-3", time.time())


def appended(folder):
    db = sqlite3.connect(os.path.join(folder, "floor.db"), isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE claim (number INTEGER, lease TEXT, worker TEXT, at REAL)")
    db.execute("CREATE TABLE result (number INTEGER, lease TEXT, worker TEXT, valid TEXT, test TEXT, timing TEXT, at REAL)")
    start = time.perf_counter()
    for first in range(0, TRIALS, BATCH):
        db.execute("BEGIN")
        for i in range(first, first + BATCH):
            result, claim = rows(i)
            db.execute("INSERT INTO result VALUES (?, ?, ?, ?, ?, ?, ?)", result)
            db.execute("INSERT INTO claim VALUES (?, ?, ?, ?)", claim)
        db.execute("COMMIT")
    seconds = time.perf_counter() - start
    db.close()
    return seconds / TRIALS * 1e6


def arguments_only(_folder):
    start = time.perf_counter()
    for i in range(TRIALS):
        rows(i)
    return (time.perf_counter() - start) / TRIALS * 1e6


for name, run in (("arguments only", arguments_only), ("appended and committed", appended)):
    figures = []
    for _ in range(5):
        with tempfile.TemporaryDirectory() as folder:
            figures.append(run(folder))
    print(f"{name:24} {statistics.median(figures):5.1f} µs per trial")
