import GRDB
import Vocabulary

extension SweepStore {
    /// Named migrations, applied in order, each in one transaction. Never edit a shipped one.
    static let migrator: DatabaseMigrator = {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-schema") { db in
            try db.execute(
                sql: """
                    CREATE TABLE sweep (
                        id INTEGER PRIMARY KEY CHECK (id = 1),
                        name TEXT NOT NULL,
                        spec_text TEXT NOT NULL,
                        spec_hash TEXT NOT NULL,
                        metric TEXT NOT NULL,
                        dataset TEXT NOT NULL,
                        fingerprint TEXT NOT NULL,
                        popularity TEXT,
                        created_at REAL NOT NULL,
                        updated_at REAL NOT NULL
                    );
                    CREATE TABLE trial (
                        id TEXT PRIMARY KEY,
                        number INTEGER NOT NULL UNIQUE,
                        config TEXT NOT NULL,
                        seed INTEGER NOT NULL,
                        variant TEXT,
                        state TEXT NOT NULL CHECK (state IN ('waiting','running','completed','failed','diverged','cancelled','retired')),
                        retired_from TEXT,
                        attempts INTEGER NOT NULL DEFAULT 0,
                        updated_at REAL NOT NULL
                    );
                    CREATE INDEX trial_by_state ON trial(state, number);
                    CREATE TABLE attempt (
                        trial_id TEXT NOT NULL REFERENCES trial(id),
                        attempt INTEGER NOT NULL,
                        lease TEXT NOT NULL UNIQUE,
                        worker TEXT NOT NULL,
                        started_at REAL NOT NULL,
                        heartbeat_at REAL NOT NULL,
                        epoch INTEGER NOT NULL DEFAULT 0,
                        step INTEGER NOT NULL DEFAULT 0,
                        step_at REAL NOT NULL,
                        finished_at REAL,
                        outcome TEXT CHECK (outcome IN ('completed','lost','failed','diverged','cancelled')),
                        reason TEXT,
                        PRIMARY KEY (trial_id, attempt)
                    );
                    CREATE TABLE result (
                        trial_id TEXT PRIMARY KEY REFERENCES trial(id),
                        attempt INTEGER NOT NULL,
                        best_epoch INTEGER NOT NULL,
                        valid TEXT NOT NULL,
                        test TEXT NOT NULL,
                        timing TEXT NOT NULL,
                        seconds REAL NOT NULL,
                        worker TEXT NOT NULL,
                        finished_at REAL NOT NULL
                    );
                    CREATE TABLE epoch (
                        trial_id TEXT NOT NULL,
                        attempt INTEGER NOT NULL,
                        epoch INTEGER NOT NULL,
                        record TEXT NOT NULL,
                        PRIMARY KEY (trial_id, attempt, epoch),
                        FOREIGN KEY (trial_id, attempt) REFERENCES attempt(trial_id, attempt)
                    );
                    CREATE TABLE worker (
                        name TEXT PRIMARY KEY,
                        host TEXT NOT NULL,
                        cores INTEGER NOT NULL,
                        blas_threads INTEGER NOT NULL,
                        blas_core TEXT NOT NULL,
                        state TEXT NOT NULL,
                        first_seen REAL NOT NULL,
                        last_seen REAL NOT NULL,
                        trials_completed INTEGER NOT NULL DEFAULT 0
                    );
                    CREATE TABLE event (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        at REAL NOT NULL,
                        kind TEXT NOT NULL,
                        trial_id TEXT,
                        worker TEXT,
                        detail TEXT NOT NULL
                    );
                    """)
        }
        migrator.registerMigration("v2-worker-counts-from-results") { db in
            // A worker's completed trials are counted from `result` when read: one statement less
            // on every trial's path than a counter kept up to date.
            try db.execute(sql: "ALTER TABLE worker DROP COLUMN trials_completed")
        }
        migrator.registerMigration("v3-attempts-and-results-keyed-by-trial-number") { db in
            // Keyed by the trials' hash ids, each new attempt and result dirtied a random page of
            // its table's primary key index: about 15 of the 24 pages a batch of 8 trials wrote to
            // the WAL. Trials are claimed in number order, so keyed by number they append. The id
            // stays beside the number (readers select by it) and a foreign key keeps the two one
            // trial's.
            try db.execute(
                sql: """
                    CREATE UNIQUE INDEX trial_number_id ON trial(number, id);
                    CREATE TABLE attempt_by_number (
                        trial_number INTEGER NOT NULL,
                        trial_id TEXT NOT NULL,
                        attempt INTEGER NOT NULL,
                        lease TEXT NOT NULL UNIQUE,
                        worker TEXT NOT NULL,
                        started_at REAL NOT NULL,
                        heartbeat_at REAL NOT NULL,
                        epoch INTEGER NOT NULL DEFAULT 0,
                        step INTEGER NOT NULL DEFAULT 0,
                        step_at REAL NOT NULL,
                        finished_at REAL,
                        outcome TEXT CHECK (outcome IN ('completed','lost','failed','diverged','cancelled')),
                        reason TEXT,
                        PRIMARY KEY (trial_number, attempt),
                        FOREIGN KEY (trial_number, trial_id) REFERENCES trial(number, id)
                    );
                    INSERT INTO attempt_by_number SELECT trial.number, attempt.* FROM attempt JOIN trial ON trial.id = attempt.trial_id;
                    CREATE TABLE result_by_number (
                        trial_number INTEGER PRIMARY KEY,
                        trial_id TEXT NOT NULL,
                        attempt INTEGER NOT NULL,
                        best_epoch INTEGER NOT NULL,
                        valid TEXT NOT NULL,
                        test TEXT NOT NULL,
                        timing TEXT NOT NULL,
                        seconds REAL NOT NULL,
                        worker TEXT NOT NULL,
                        finished_at REAL NOT NULL,
                        FOREIGN KEY (trial_number, attempt) REFERENCES attempt_by_number(trial_number, attempt),
                        FOREIGN KEY (trial_number, trial_id) REFERENCES trial(number, id)
                    );
                    INSERT INTO result_by_number SELECT trial.number, result.* FROM result JOIN trial ON trial.id = result.trial_id;
                    CREATE TABLE epoch_by_number (
                        trial_number INTEGER NOT NULL,
                        attempt INTEGER NOT NULL,
                        epoch INTEGER NOT NULL,
                        record TEXT NOT NULL,
                        PRIMARY KEY (trial_number, attempt, epoch),
                        FOREIGN KEY (trial_number, attempt) REFERENCES attempt_by_number(trial_number, attempt)
                    );
                    INSERT INTO epoch_by_number SELECT trial.number, epoch.attempt, epoch.epoch, epoch.record FROM epoch JOIN trial ON trial.id = epoch.trial_id;
                    DROP TABLE epoch;
                    DROP TABLE result;
                    DROP TABLE attempt;
                    ALTER TABLE attempt_by_number RENAME TO attempt;
                    ALTER TABLE result_by_number RENAME TO result;
                    ALTER TABLE epoch_by_number RENAME TO epoch;
                    """)
        }
        migrator.registerMigration("v4-pruned-state-and-rungs") { db in
            // Early stopping: a terminal `pruned` state for trials and attempts (SQLite cannot change
            // a CHECK constraint, so both tables are rebuilt), and the values and decisions at each
            // rung, so a restarted coordinator keeps every decision. `retired_from` gets a CHECK too.
            try db.execute(
                sql: """
                    CREATE TABLE trial_v4 (
                        id TEXT PRIMARY KEY,
                        number INTEGER NOT NULL UNIQUE,
                        config TEXT NOT NULL,
                        seed INTEGER NOT NULL,
                        variant TEXT,
                        state TEXT NOT NULL CHECK (state IN ('waiting','running','completed','pruned','failed','diverged','cancelled','retired')),
                        retired_from TEXT CHECK (retired_from IN ('waiting','completed','pruned','failed','diverged','cancelled')),
                        attempts INTEGER NOT NULL DEFAULT 0,
                        updated_at REAL NOT NULL
                    );
                    INSERT INTO trial_v4 (id, number, config, seed, variant, state, retired_from, attempts, updated_at)
                        SELECT id, number, config, seed, variant, state, retired_from, attempts, updated_at FROM trial;
                    DROP TABLE trial;
                    ALTER TABLE trial_v4 RENAME TO trial;
                    CREATE INDEX trial_by_state ON trial(state, number);
                    CREATE UNIQUE INDEX trial_number_id ON trial(number, id);
                    CREATE TABLE attempt_v4 (
                        trial_number INTEGER NOT NULL,
                        trial_id TEXT NOT NULL,
                        attempt INTEGER NOT NULL,
                        lease TEXT NOT NULL UNIQUE,
                        worker TEXT NOT NULL,
                        started_at REAL NOT NULL,
                        heartbeat_at REAL NOT NULL,
                        epoch INTEGER NOT NULL DEFAULT 0,
                        step INTEGER NOT NULL DEFAULT 0,
                        step_at REAL NOT NULL,
                        finished_at REAL,
                        outcome TEXT CHECK (outcome IN ('completed','pruned','lost','failed','diverged','cancelled')),
                        reason TEXT,
                        PRIMARY KEY (trial_number, attempt),
                        FOREIGN KEY (trial_number, trial_id) REFERENCES trial(number, id)
                    );
                    INSERT INTO attempt_v4 (trial_number, trial_id, attempt, lease, worker, started_at, heartbeat_at, epoch, step, step_at, finished_at, outcome, reason)
                        SELECT trial_number, trial_id, attempt, lease, worker, started_at, heartbeat_at, epoch, step, step_at, finished_at, outcome, reason FROM attempt;
                    DROP TABLE attempt;
                    ALTER TABLE attempt_v4 RENAME TO attempt;
                    CREATE TABLE rung (
                        trial_number INTEGER NOT NULL REFERENCES trial(number),
                        epoch INTEGER NOT NULL,
                        bracket INTEGER NOT NULL,
                        seed INTEGER NOT NULL,
                        value REAL NOT NULL,
                        decision TEXT NOT NULL CHECK (decision IN ('continue','stop')),
                        rule TEXT NOT NULL,
                        compared TEXT NOT NULL,
                        at REAL NOT NULL,
                        PRIMARY KEY (trial_number, epoch)
                    );
                    CREATE INDEX rung_by_checkpoint ON rung(epoch, bracket, seed);
                    """)
        }
        migrator.registerMigration("v5-proposal-origin") { db in
            // A config an adaptive sampler proposed keeps what it was conditioned on (JSON:
            // sampler, finished, running); planned trials have none.
            try db.execute(sql: "ALTER TABLE trial ADD COLUMN origin TEXT")
        }
        migrator.registerMigration("v6-program") { db in
            // A program sweep keeps its program (folder, fingerprint, command) beside its dataset.
            try db.execute(sql: "ALTER TABLE sweep ADD COLUMN program TEXT")
        }
        migrator.registerMigration("v7-trial-change-log") { db in
            // Every write to a trial's row appends its number to a log (in commit order: writers
            // take turns), so a reader asks exactly for what changed since it last read (a
            // dashboard beside a sweep finishing 5,000 trials a second reads those, not all
            // 30,000). Triggers, so that no write can forget it; an append is the cheapest write.
            try db.execute(
                sql: """
                    CREATE TABLE trial_change (seq INTEGER PRIMARY KEY, trial_number INTEGER NOT NULL);
                    CREATE TRIGGER trial_inserted AFTER INSERT ON trial BEGIN INSERT INTO trial_change (trial_number) VALUES (NEW.number); END;
                    CREATE TRIGGER trial_updated AFTER UPDATE ON trial BEGIN INSERT INTO trial_change (trial_number) VALUES (NEW.number); END;
                    """)
        }
        migrator.registerMigration("v8-objectives") { db in
            // What the sweep ranks by ({objectives, constraints, reference}; NULL: `metric`,
            // maximized, as every sweep before), and each judgement's values of every objective
            // (NULL: one objective, whose value is `value`; `compared` then holds a list of vectors).
            try db.execute(
                sql: """
                    ALTER TABLE sweep ADD COLUMN ranking TEXT;
                    ALTER TABLE rung ADD COLUMN objective_values TEXT;
                    """)
        }
        migrator.registerMigration("v9-timed-out-attempts-worker-slots-enqueued-trials") { db in
            // An attempt stopped by the sweep file's `limits` ends `timed_out`: the outcome's CHECK
            // gains it (SQLite cannot change a CHECK constraint, so the table is rebuilt as in v4).
            // A worker runs `slots` trials at once, one per GPU of `gpus` (a JSON list) when it has them.
            // Enqueued trials (priority 1) are claimed before the plan: the claim's index leads with it.
            try db.execute(
                sql: """
                    CREATE TABLE attempt_v9 (
                        trial_number INTEGER NOT NULL,
                        trial_id TEXT NOT NULL,
                        attempt INTEGER NOT NULL,
                        lease TEXT NOT NULL UNIQUE,
                        worker TEXT NOT NULL,
                        started_at REAL NOT NULL,
                        heartbeat_at REAL NOT NULL,
                        epoch INTEGER NOT NULL DEFAULT 0,
                        step INTEGER NOT NULL DEFAULT 0,
                        step_at REAL NOT NULL,
                        finished_at REAL,
                        outcome TEXT CHECK (outcome IN ('completed','pruned','lost','timed_out','failed','diverged','cancelled')),
                        reason TEXT,
                        PRIMARY KEY (trial_number, attempt),
                        FOREIGN KEY (trial_number, trial_id) REFERENCES trial(number, id)
                    );
                    INSERT INTO attempt_v9 SELECT trial_number, trial_id, attempt, lease, worker, started_at, heartbeat_at, epoch, step, step_at, finished_at, outcome, reason FROM attempt;
                    DROP TABLE attempt;
                    ALTER TABLE attempt_v9 RENAME TO attempt;
                    ALTER TABLE worker ADD COLUMN slots INTEGER NOT NULL DEFAULT 1;
                    ALTER TABLE worker ADD COLUMN gpus TEXT;
                    ALTER TABLE trial ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
                    DROP INDEX trial_by_state;
                    CREATE INDEX trial_by_state ON trial(state, priority DESC, number);
                    """)
        }
        // A judgement keeps at most 100 compared values and counts them all (stores made before
        // kept every one; their count is their list's length).
        migrator.registerMigration("v10-rung-compared-count") { db in
            try db.execute(sql: "ALTER TABLE rung ADD COLUMN compared_count INTEGER")
        }
        return migrator
    }()
}
