//! The history's schema, versioned (SQLite's `user_version`, a `schema_version` table on PostgreSQL): each migration runs once, in
//! order, in its own transaction, so an older database is brought up to date when opened and a
//! newer one (written by a later bakeoff) is refused rather than misread.

use super::db::Backend;
use anyhow::{Context, Result, bail};

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
    // 3: when a run last wrote, so a shared history tells another machine's live run from a
    // dead one.
    "ALTER TABLE runs ADD COLUMN updated_at TEXT;",
];

/// The schema version this bakeoff writes.
pub const VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database to [`VERSION`].
pub fn migrate(db: &dyn Backend) -> Result<()> {
    migrate_to(db, VERSION)
}

/// Applies the migrations up to `target` (tests start from older versions), each in its own
/// transaction that first takes the schema lock, so two processes opening an old database at
/// once migrate it once.
pub(crate) fn migrate_to(db: &dyn Backend, target: i64) -> Result<()> {
    loop {
        db.begin()?;
        let step = db.lock_schema_version().and_then(|current| {
            if current > VERSION {
                bail!(
                    "the history has schema version {current}, newer than this bakeoff's {VERSION}: \
                     use the bakeoff that wrote it, or another history"
                );
            }
            if current >= target {
                return Ok(false);
            }
            db.execute_batch(MIGRATIONS[current as usize])
                .and_then(|()| db.set_schema_version(current + 1))
                .with_context(|| format!("migration to schema version {}", current + 1))?;
            Ok(true)
        });
        match step {
            Ok(more) => {
                db.commit()?;
                if !more {
                    return Ok(());
                }
            }
            Err(e) => {
                let _ = db.rollback();
                return Err(e);
            }
        }
    }
}
