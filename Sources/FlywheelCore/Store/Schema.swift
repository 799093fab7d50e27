import Foundation
import GRDB

/// Versioned migrations of the store. A migration once shipped is never edited: add the next one.
enum Schema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                    CREATE TABLE solver_versions (
                        id INTEGER PRIMARY KEY,
                        round INTEGER NOT NULL,
                        parent INTEGER REFERENCES solver_versions(id),
                        state TEXT NOT NULL,
                        promoted INTEGER NOT NULL DEFAULT 0,
                        UNIQUE(round));
                    CREATE TABLE rounds (
                        round INTEGER PRIMARY KEY,
                        state TEXT NOT NULL CHECK (state IN ('running', 'promoted', 'rejected', 'failed')),
                        solver_version INTEGER REFERENCES solver_versions(id),
                        difficulty INTEGER NOT NULL,
                        data_policy TEXT NOT NULL,
                        gate TEXT NOT NULL,
                        learning INTEGER NOT NULL,
                        started_at TEXT NOT NULL,
                        finished_at TEXT,
                        summary TEXT);
                    CREATE TABLE tasks (
                        id INTEGER PRIMARY KEY,
                        round INTEGER NOT NULL REFERENCES rounds(round),
                        idx INTEGER NOT NULL,
                        seed INTEGER NOT NULL,
                        difficulty INTEGER NOT NULL,
                        status TEXT NOT NULL CHECK (status IN ('kept', 'duplicate', 'contaminated', 'error')),
                        prompt TEXT,
                        reference TEXT,
                        meta TEXT,
                        prompt_hash TEXT,
                        contamination TEXT,
                        error_kind TEXT,
                        error TEXT,
                        seconds REAL NOT NULL DEFAULT 0,
                        UNIQUE(round, idx));
                    CREATE INDEX tasks_prompt_hash ON tasks(prompt_hash);
                    CREATE TABLE attempts (
                        id INTEGER PRIMARY KEY,
                        task_id INTEGER NOT NULL REFERENCES tasks(id),
                        attempt INTEGER NOT NULL,
                        seed INTEGER NOT NULL,
                        solver_version INTEGER NOT NULL REFERENCES solver_versions(id),
                        answer TEXT,
                        trace TEXT,
                        usage TEXT,
                        error_kind TEXT,
                        error TEXT,
                        seconds REAL NOT NULL,
                        UNIQUE(task_id, attempt));
                    CREATE TABLE verdicts (
                        attempt_id INTEGER PRIMARY KEY REFERENCES attempts(id),
                        accept INTEGER NOT NULL,
                        score REAL NOT NULL,
                        reason TEXT,
                        error_kind TEXT,
                        error TEXT,
                        checker TEXT NOT NULL,
                        seconds REAL NOT NULL);
                    CREATE TABLE dictionaries (
                        id INTEGER PRIMARY KEY,
                        zstd_id INTEGER NOT NULL,
                        created_round INTEGER NOT NULL,
                        samples INTEGER NOT NULL,
                        bytes BLOB NOT NULL);
                    CREATE TABLE examples (
                        id INTEGER PRIMARY KEY,
                        attempt_id INTEGER NOT NULL UNIQUE REFERENCES attempts(id),
                        round INTEGER NOT NULL REFERENCES rounds(round),
                        dictionary_id INTEGER REFERENCES dictionaries(id),
                        payload BLOB NOT NULL,
                        raw_bytes INTEGER NOT NULL,
                        checksum TEXT NOT NULL);
                    CREATE INDEX examples_round ON examples(round);
                    CREATE TABLE heldout_items (
                        idx INTEGER PRIMARY KEY,
                        seed INTEGER NOT NULL,
                        status TEXT NOT NULL CHECK (status IN ('kept', 'duplicate', 'error')),
                        prompt TEXT,
                        reference TEXT,
                        meta TEXT,
                        prompt_hash TEXT,
                        error_kind TEXT,
                        error TEXT);
                    CREATE TABLE heldout_results (
                        round INTEGER NOT NULL REFERENCES rounds(round),
                        idx INTEGER NOT NULL REFERENCES heldout_items(idx),
                        solver_version INTEGER NOT NULL REFERENCES solver_versions(id),
                        answer TEXT,
                        accept INTEGER NOT NULL,
                        score REAL NOT NULL,
                        reason TEXT,
                        error_kind TEXT,
                        error TEXT,
                        PRIMARY KEY (round, idx));
                    CREATE TABLE metrics (
                        round INTEGER NOT NULL REFERENCES rounds(round),
                        name TEXT NOT NULL,
                        value REAL NOT NULL,
                        PRIMARY KEY (round, name));
                    """)
        }
        migrator.registerMigration("v2: held-out token usage") { db in
            try db.execute(sql: "ALTER TABLE heldout_results ADD COLUMN usage TEXT")
        }
        // Retries a plugin needed for the item (crash, timeout, wrong id, HTTP 429/5xx), written with the item.
        migrator.registerMigration("v3: retries") { db in
            for table in ["tasks", "attempts", "verdicts", "heldout_items", "heldout_results"] {
                try db.execute(sql: "ALTER TABLE \(table) ADD COLUMN retries INTEGER NOT NULL DEFAULT 0")
            }
        }
        migrator.registerMigration(checkerFingerprints) { db in
            // Each distinct checker once; verdicts and held-out results name it by id (NULL: recorded before this).
            try db.execute(
                sql: """
                    CREATE TABLE checkers (
                        id INTEGER PRIMARY KEY,
                        fingerprint TEXT NOT NULL UNIQUE,
                        identity TEXT NOT NULL);
                    ALTER TABLE verdicts ADD COLUMN checker_id INTEGER REFERENCES checkers(id);
                    ALTER TABLE heldout_results ADD COLUMN checker_id INTEGER REFERENCES checkers(id);
                    """)
        }
        migrator.registerMigration(reverification) { db in
            // Append-only: an example's latest judged re-check decides whether it is flipped.
            try db.execute(
                sql: """
                    CREATE TABLE reverifications (
                        id INTEGER PRIMARY KEY,
                        checker_id INTEGER NOT NULL REFERENCES checkers(id),
                        started_at TEXT NOT NULL,
                        finished_at TEXT);
                    CREATE TABLE rechecks (
                        id INTEGER PRIMARY KEY,
                        reverification INTEGER NOT NULL REFERENCES reverifications(id),
                        example_id INTEGER NOT NULL REFERENCES examples(id),
                        \(judgementColumns),
                        UNIQUE(reverification, example_id));
                    CREATE INDEX rechecks_example ON rechecks(example_id, id);
                    """)
        }
        migrator.registerMigration(rollbacks) { db in
            // Append-only events; `after_round` is the last round when it was made: a later promotion supersedes it.
            try db.execute(
                sql: """
                    CREATE TABLE rollbacks (
                        id INTEGER PRIMARY KEY,
                        at TEXT NOT NULL,
                        after_round INTEGER NOT NULL,
                        from_version INTEGER NOT NULL REFERENCES solver_versions(id),
                        to_version INTEGER NOT NULL REFERENCES solver_versions(id));
                    """)
        }
        migrator.registerMigration(audits) { db in
            // A second checker's judgement of a sampled training verdict; one per verdict.
            try db.execute(
                sql: """
                    CREATE TABLE audits (
                        attempt_id INTEGER PRIMARY KEY REFERENCES attempts(id),
                        checker_id INTEGER NOT NULL REFERENCES checkers(id),
                        \(judgementColumns));
                    """)
        }
        migrator.registerMigration(rationalization) { db in
            // 1 for an attempt that was shown the task's answer as a hint (`exploration.rationalize`).
            try db.execute(sql: "ALTER TABLE attempts ADD COLUMN rationalized INTEGER NOT NULL DEFAULT 0")
        }
        migrator.registerMigration(compactText, migrate: compact)
        migrator.registerMigration(heldoutPacks) { db in
            // A committed round's held-out results, every column of every row, in one zstd frame
            // (`HeldoutPackCodec`); an open round's stay rows of `heldout_results` until its commit packs them.
            try db.execute(
                sql: """
                    CREATE TABLE heldout_packs (
                        round INTEGER PRIMARY KEY REFERENCES rounds(round),
                        results BLOB NOT NULL);
                    """)
            let committed = try Int.fetchAll(
                db, sql: "SELECT round FROM rounds WHERE state IN ('promoted', 'rejected') ORDER BY round")
            for round in committed { try Store.packHeldoutResults(db, round: round) }
        }
        return migrator
    }

    static let checkerFingerprints = "v4: checker fingerprints"
    static let reverification = "v5: re-verification"
    static let rollbacks = "v6: rollbacks"
    static let audits = "v7: checker audit"
    static let rationalization = "v8: rationalized attempts"
    static let compactText = "v9: compressed task text"
    static let heldoutPacks = "v10: held-out packs"
    /// A checker's judgement or failure, as `rechecks` (v5) and `audits` (v7) store it. Migrations that shipped
    /// use it: never change it.
    static let judgementColumns =
        "accept INTEGER NOT NULL, score REAL NOT NULL, reason TEXT, error_kind TEXT, error TEXT"
}
