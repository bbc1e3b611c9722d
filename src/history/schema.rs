//! The history's schema, versioned by SQLite's `user_version`: each migration runs once, in
//! order, in its own transaction, so an older database is brought up to date when opened and a
//! newer one (written by a later bakeoff) is refused rather than misread.

use anyhow::{Result, bail};
use rusqlite::Connection;

/// Migration `i` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: runs, every journal entry whole, and their figures as columns.
    "CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        uid TEXT NOT NULL UNIQUE,
        started_at TEXT NOT NULL,
        ended_at TEXT,
        status TEXT NOT NULL,
        mode TEXT NOT NULL,
        label TEXT,
        bakeoff_version TEXT NOT NULL,
        cases TEXT,
        cases_hash TEXT,
        models TEXT NOT NULL DEFAULT '',
        models_hash TEXT,
        host TEXT NOT NULL,
        pid INTEGER,
        journal TEXT,
        environment TEXT NOT NULL
     );
     CREATE INDEX runs_started ON runs (started_at);
     CREATE TABLE entries (
        run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        entry TEXT NOT NULL,
        PRIMARY KEY (run_id, seq)
     );
     CREATE TABLE rounds (
        run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        round INTEGER NOT NULL,
        started_at TEXT NOT NULL,
        case_id TEXT,
        category TEXT,
        repeat INTEGER,
        turn INTEGER,
        PRIMARY KEY (run_id, round)
     );
     CREATE TABLE requests (
        run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        round INTEGER NOT NULL,
        model TEXT NOT NULL,
        provider TEXT NOT NULL,
        status TEXT NOT NULL,
        error_kind TEXT,
        http_status INTEGER,
        ttfb_ms REAL,
        ttft_ms REAL,
        ttft_answer_ms REAL,
        latency_ms REAL,
        input_tokens INTEGER NOT NULL,
        output_tokens INTEGER NOT NULL,
        cached_input_tokens INTEGER,
        tokens_estimated INTEGER NOT NULL,
        tokens_per_s REAL,
        cost_usd REAL,
        intermediate INTEGER NOT NULL,
        output TEXT NOT NULL,
        PRIMARY KEY (run_id, seq)
     );
     CREATE INDEX requests_model ON requests (model, run_id);
     CREATE TABLE evals (
        run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        round INTEGER NOT NULL,
        model TEXT NOT NULL,
        name TEXT NOT NULL,
        kind TEXT NOT NULL,
        score REAL,
        passed INTEGER,
        PRIMARY KEY (run_id, seq)
     );
     CREATE TABLE scores (
        run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        round INTEGER NOT NULL,
        model TEXT NOT NULL,
        score INTEGER,
        PRIMARY KEY (run_id, round, model)
     );",
    // 2: `bakeoff load` summaries, whole (their figures are histograms, not journal entries).
    "CREATE TABLE load_summaries (
        run_id INTEGER PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
        requests INTEGER NOT NULL,
        errors INTEGER NOT NULL,
        summary TEXT NOT NULL
     );",
];

/// The schema version this bakeoff writes.
pub const VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database at `conn` to [`VERSION`].
pub fn migrate(conn: &Connection) -> Result<()> {
    migrate_to(conn, VERSION)
}

/// Applies the migrations up to `target` (tests start from older versions).
pub(crate) fn migrate_to(conn: &Connection, target: i64) -> Result<()> {
    let current: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if current > VERSION {
        bail!(
            "the history has schema version {current}, newer than this bakeoff's {VERSION}: \
             use the bakeoff that wrote it, or another history file"
        );
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().take(target as usize).skip(current as usize) {
        // IMMEDIATE: two processes opening an old database at once migrate it once.
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let v: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if v > i as i64 {
            conn.execute_batch("COMMIT")?;
            continue;
        }
        let applied = conn.execute_batch(sql).and_then(|()| conn.pragma_update(None, "user_version", i as i64 + 1));
        match applied {
            Ok(()) => conn.execute_batch("COMMIT")?,
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                return Err(anyhow::Error::new(e).context(format!("migration to schema version {}", i + 1)));
            }
        }
    }
    Ok(())
}
