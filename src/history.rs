//! The results history: every run recorded as it happens, so runs can be listed, compared over
//! time and alerted on (`bakeoff history`, `bakeoff trend`).
//!
//! An embedded SQLite database (`<data dir>/history.sqlite`, rusqlite's bundled SQLite: nothing
//! to install) with a versioned schema ([`schema`]). A run is recorded from the same entries its
//! journal gets — the run row first, then one transaction per entry (a finished request, an
//! evaluator verdict, a score) — so a killed run keeps every finished request and stays marked
//! `running`, which the listing shows as incomplete once its process is gone. Each entry is
//! kept whole (`entries`), so any past run rebuilds into a [`Session`] and from it a full report;
//! `requests`, `evals` and `scores` hold the same figures as columns for SQL and exports.
//!
//! WAL and a busy timeout let several runs (processes) write at once. Keys never reach it: a
//! journal entry holds none (model settings are fingerprints).

pub mod alerts;
pub mod db;
pub mod export;
pub mod notify;
pub mod postgres;
pub mod schema;
pub mod trend;

use crate::session::{Entry, Environment, Session};
use anyhow::{Context, Result};
use db::{Backend, vals};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a writer waits for another one holding the database.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Another machine's unfinished run counts as running while it wrote this recently.
const STALE_AFTER: Duration = Duration::from_secs(15 * 60);

/// Where the history lives unless told otherwise: `<data dir>/history.sqlite`.
pub fn default_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "bakeoff").map(|d| d.data_dir().join("history.sqlite"))
}

/// The results-history flags of `bakeoff run` and `bakeoff load`.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct RecordArgs {
    /// A label for this run in the results history (e.g. a release or a week), to filter on
    /// with `bakeoff history --label` and `bakeoff trend --label`.
    #[arg(long, value_name = "TEXT")]
    pub label: Option<String>,

    /// Do not record this run in the results history (`history = false` in the config does
    /// the same for every run).
    #[arg(long)]
    pub no_history: bool,

    /// Push this run's figures to a Prometheus Pushgateway (job "bakeoff", grouped by case set;
    /// a load run's group is "load").
    #[arg(long, value_name = "URL")]
    pub push_gateway: Option<String>,
}

/// The environment variable naming a shared PostgreSQL history (it may hold the password).
pub const URL_ENV: &str = "BAKEOFF_HISTORY_URL";

/// Where a history is: the embedded SQLite file or a PostgreSQL server.
#[derive(Clone, Debug)]
pub enum Location {
    File(PathBuf),
    Postgres(postgres::Target),
}

impl Location {
    /// The history to use: `--db` (a file or a `postgres://` URL without password), else
    /// `$BAKEOFF_HISTORY_URL`, else the config's `history_url`, else `<data dir>/history.sqlite`.
    pub fn resolve(db: Option<&Path>, config_url: Option<&str>) -> Result<Location> {
        if let Some(db) = db {
            return match db.to_str().filter(|s| postgres::is_url(s)) {
                Some(url) => Ok(Location::Postgres(postgres::Target::parse(url, false).context("--db")?)),
                None => Ok(Location::File(db.to_path_buf())),
            };
        }
        if let Some(url) = std::env::var(URL_ENV).ok().filter(|u| !u.trim().is_empty()) {
            return Ok(Location::Postgres(postgres::Target::parse(&url, true).context(format!("${URL_ENV}"))?));
        }
        if let Some(url) = config_url {
            return Ok(Location::Postgres(postgres::Target::parse(url, false).context("history_url")?));
        }
        default_path().map(Location::File).context("no data directory on this platform: pass --db FILE")
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::File(p) => write!(f, "{}", p.display()),
            Location::Postgres(t) => write!(f, "{t}"),
        }
    }
}

impl From<&Path> for Location {
    fn from(p: &Path) -> Location {
        Location::File(p.to_path_buf())
    }
}

impl From<&PathBuf> for Location {
    fn from(p: &PathBuf) -> Location {
        Location::File(p.clone())
    }
}

impl From<&Location> for Location {
    fn from(l: &Location) -> Location {
        l.clone()
    }
}

/// An open history database.
pub struct Store {
    db: Box<dyn Backend>,
    location: Location,
}

/// How a run ended, as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Still being written — or killed: see [`RunRow::state`].
    Running,
    Complete,
    /// Stopped before every item ran (Ctrl-C, a signal): what finished is kept.
    Interrupted,
}

impl RunStatus {
    fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Complete => "complete",
            RunStatus::Interrupted => "interrupted",
        }
    }

    fn parse(s: &str) -> RunStatus {
        match s {
            "complete" => RunStatus::Complete,
            "interrupted" => RunStatus::Interrupted,
            _ => RunStatus::Running,
        }
    }
}

/// What is known of a run before its first request.
#[derive(Clone, Debug, Default)]
pub struct RunMeta {
    /// Identifies the run across a live recording and a later import of its journal.
    pub uid: String,
    pub started_at: String,
    pub environment: Environment,
    pub label: Option<String>,
    pub journal: Option<PathBuf>,
}

impl RunMeta {
    /// A run journaled to `journal` that started with `session`'s first entry. Its uid is the
    /// journal's file name and a hash of that first entry, so importing the journal later (from
    /// any directory) finds the run recorded live.
    pub fn for_journal(session: &Session, journal: &Path, label: Option<String>) -> RunMeta {
        RunMeta {
            uid: journal_uid(session, journal),
            started_at: session.started_at.clone(),
            environment: session.environment.clone(),
            label,
            journal: Some(journal.to_path_buf()),
        }
    }

    /// A run with no journal (`bakeoff run` of one prompt): a uid of its own.
    pub fn unjournaled(environment: Environment, label: Option<String>) -> RunMeta {
        let now = std::time::SystemTime::now();
        let nanos = now.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        RunMeta {
            uid: format!("run:{nanos}-p{}", std::process::id()),
            started_at: crate::session::rfc3339(now),
            environment,
            label,
            journal: None,
        }
    }
}

fn journal_uid(session: &Session, journal: &Path) -> String {
    let first = Entry::Session {
        version: crate::session::JOURNAL_VERSION,
        started_at: session.started_at.clone(),
        environment: session.environment.clone(),
    };
    let bytes = serde_json::to_vec(&first).unwrap_or_default();
    let name = journal.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    format!("journal:{name}:{}", crate::files::content_hash(&bytes))
}

/// One run as listed.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RunRow {
    pub id: i64,
    pub started_at: String,
    pub ended_at: Option<String>,
    pub status: RunStatus,
    pub mode: String,
    pub label: Option<String>,
    pub bakeoff_version: String,
    pub cases: Option<String>,
    pub cases_hash: Option<String>,
    pub models: Vec<String>,
    pub host: String,
    pub journal: Option<String>,
    pub requests: u64,
    pub errors: u64,
    /// Its process no longer runs (or runs on another host and never finished): `incomplete`.
    pub state: RunState,
}

/// What a person should read of a run's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    Running,
    Complete,
    Interrupted,
    /// Never finished and its process is gone (killed, crashed, the machine lost power).
    Incomplete,
}

impl std::fmt::Display for RunState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RunState::Running => "running",
            RunState::Complete => "complete",
            RunState::Interrupted => "interrupted",
            RunState::Incomplete => "incomplete",
        })
    }
}

/// Which runs to list.
#[derive(Clone, Debug, Default)]
pub struct RunFilter {
    /// Runs started at or after this RFC 3339 time.
    pub since: Option<String>,
    pub model: Option<String>,
    pub label: Option<String>,
    /// Runs of this case file (its path as recorded, or its content hash).
    pub cases: Option<String>,
}

impl Store {
    /// Opens the history (creating a file and its directory when missing) and brings the
    /// schema up to date.
    pub fn open(at: impl Into<Location>) -> Result<Store> {
        match at.into() {
            Location::File(path) => Store::open_file(&path),
            Location::Postgres(target) => {
                let db = postgres::Postgres::connect(&target)?;
                schema::migrate(&db).with_context(|| format!("cannot update the history {target}"))?;
                Ok(Store { db: Box::new(db), location: Location::Postgres(target) })
            }
        }
    }

    fn open_file(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let db = db::Sqlite::open(path, BUSY_TIMEOUT)
            .with_context(|| format!("cannot open the history {}", path.display()))?;
        schema::migrate(&db).with_context(|| format!("cannot update the history {}", path.display()))?;
        Ok(Store { db: Box::new(db), location: Location::File(path.to_path_buf()) })
    }

    /// Where it is (a PostgreSQL URL without its password).
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// The run with this uid, if recorded.
    pub fn find(&self, uid: &str) -> Result<Option<i64>> {
        self.db.query_opt("SELECT id FROM runs WHERE uid = ?1", vals![uid])?.map(|r| r.int(0)).transpose()
    }

    /// Records a new run (or reopens one with the same uid: a resumed journal) as running.
    pub fn begin(&mut self, meta: &RunMeta) -> Result<i64> {
        let env = &meta.environment;
        let plan = env.plan.as_ref();
        let models: Vec<&str> = plan.map(|p| p.models.iter().map(|m| m.name.as_str()).collect()).unwrap_or_default();
        let models_hash = plan.map(|p| {
            let settings: Vec<&str> = p.models.iter().map(|m| m.settings.as_str()).collect();
            crate::files::content_hash(settings.join(",").as_bytes())
        });
        if let Some(id) = self.find(&meta.uid)? {
            self.db.execute(
                "UPDATE runs SET status = 'running', ended_at = NULL, pid = ?2, host = ?3, \
                 label = COALESCE(?4, label), updated_at = ?5 WHERE id = ?1",
                vals![id, std::process::id(), host(), &meta.label, now()],
            )?;
            return Ok(id);
        }
        self.db.insert(
            "INSERT INTO runs (uid, started_at, status, mode, label, bakeoff_version, cases, cases_hash, \
             models, models_hash, host, pid, journal, environment, updated_at) \
             VALUES (?1, ?2, 'running', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            vals![
                &meta.uid,
                &meta.started_at,
                &env.mode,
                &meta.label,
                &env.bakeoff_version,
                plan.map(|p| p.cases.as_str()),
                plan.map(|p| p.cases_hash.as_str()),
                models.join(","),
                models_hash,
                host(),
                std::process::id(),
                meta.journal.as_ref().map(|p| p.display().to_string()),
                serde_json::to_string(env)?,
                now(),
            ],
        )
    }

    /// Records one journal entry of run `run` in its own transaction.
    pub fn record(&mut self, run: i64, entry: &Entry) -> Result<()> {
        if matches!(entry, Entry::Session { .. }) {
            return Ok(());
        }
        let json = String::from_utf8(crate::sanitize::to_json(entry).context("cannot encode an entry")?)
            .context("an entry is not UTF-8")?;
        let db = &*self.db;
        db.transaction(|| {
            let seq =
                db.query_one("SELECT COALESCE(MAX(seq), 0) + 1 FROM entries WHERE run_id = ?1", vals![run])?.int(0)?;
            db.execute("INSERT INTO entries (run_id, seq, entry) VALUES (?1, ?2, ?3)", vals![run, seq, json])?;
            db.execute("UPDATE runs SET updated_at = ?2 WHERE id = ?1", vals![run, now()])?;
            match entry {
                Entry::Round(start) => {
                    db.execute(
                        "INSERT INTO rounds (run_id, round, started_at, case_id, category, repeat, turn) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (run_id, round) DO UPDATE SET \
                         started_at = excluded.started_at, case_id = excluded.case_id, \
                         category = excluded.category, repeat = excluded.repeat, turn = excluded.turn",
                        vals![
                            run,
                            start.round,
                            &start.started_at,
                            &start.case_id,
                            &start.category,
                            start.repeat,
                            start.turn
                        ],
                    )?;
                }
                Entry::Result { round, result: r } => {
                    db.execute(
                        "INSERT INTO requests (run_id, seq, round, model, provider, status, error_kind, http_status, \
                         ttfb_ms, ttft_ms, ttft_answer_ms, latency_ms, input_tokens, output_tokens, \
                         cached_input_tokens, tokens_estimated, tokens_per_s, cost_usd, intermediate, output) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, \
                         ?19, ?20)",
                        vals![
                            run,
                            seq,
                            *round,
                            &r.model,
                            &r.provider,
                            r.status.to_string(),
                            r.error_kind.map(|k| k.as_str()),
                            r.http_status,
                            r.ttfb_ms,
                            r.ttft_ms,
                            r.ttft_answer_ms,
                            r.latency_ms,
                            r.input_tokens,
                            r.output_tokens,
                            r.cached_input_tokens,
                            r.tokens_estimated,
                            r.tokens_per_s,
                            r.cost_usd,
                            r.intermediate,
                            &r.output,
                        ],
                    )?;
                }
                Entry::Eval { round, model, result } => {
                    db.execute(
                        "INSERT INTO evals (run_id, seq, round, model, name, kind, score, passed) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                        vals![
                            run,
                            seq,
                            *round,
                            model,
                            &result.name,
                            result.kind.to_string(),
                            result.score,
                            result.passed
                        ],
                    )?;
                }
                Entry::Score { round, model, score } => {
                    db.execute(
                        "INSERT INTO scores (run_id, round, model, score) VALUES (?1, ?2, ?3, ?4) \
                         ON CONFLICT (run_id, round, model) DO UPDATE SET score = excluded.score",
                        vals![run, *round, model, *score],
                    )?;
                }
                _ => {}
            }
            Ok(())
        })
    }

    /// Marks run `run` finished: complete, or interrupted when it stopped early.
    pub fn finish(&mut self, run: i64, interrupted: bool) -> Result<()> {
        let status = if interrupted { RunStatus::Interrupted } else { RunStatus::Complete };
        self.db.execute(
            "UPDATE runs SET status = ?2, ended_at = ?3, updated_at = ?3 WHERE id = ?1",
            vals![run, status.as_str(), now()],
        )?;
        Ok(())
    }

    /// Runs matching `filter`, oldest first.
    pub fn runs(&self, filter: &RunFilter) -> Result<Vec<RunRow>> {
        // The casts: PostgreSQL infers no type for a parameter only compared with NULL.
        let rows = self.db.query(
            "SELECT r.id, r.started_at, r.ended_at, r.status, r.mode, r.label, r.bakeoff_version, r.cases, \
             r.cases_hash, r.models, r.host, r.pid, r.journal, \
             (SELECT COUNT(*) FROM requests q WHERE q.run_id = r.id) \
               + COALESCE((SELECT l.requests FROM load_summaries l WHERE l.run_id = r.id), 0), \
             (SELECT COUNT(*) FROM requests q WHERE q.run_id = r.id AND q.status = 'error') \
               + COALESCE((SELECT l.errors FROM load_summaries l WHERE l.run_id = r.id), 0), \
             COALESCE(r.updated_at, r.started_at) \
             FROM runs r \
             WHERE (CAST(?1 AS TEXT) IS NULL OR r.started_at >= ?1) AND (CAST(?2 AS TEXT) IS NULL OR r.label = ?2) \
             AND (CAST(?3 AS TEXT) IS NULL OR r.cases = ?3 OR r.cases_hash = ?3 OR r.cases LIKE '%/' || ?3) \
             ORDER BY r.started_at, r.id",
            vals![&filter.since, &filter.label, &filter.cases],
        )?;
        let mut out = Vec::new();
        let stale = crate::session::rfc3339(std::time::SystemTime::now() - STALE_AFTER);
        for row in rows {
            let status = RunStatus::parse(&row.text(3)?);
            let fresh = row.text(15)? >= stale;
            let host_ = row.text(10)?;
            let pid = row.opt_int(11)?.and_then(|p| u32::try_from(p).ok());
            let mut r = RunRow {
                id: row.int(0)?,
                started_at: row.text(1)?,
                ended_at: row.opt_text(2)?,
                status,
                mode: row.text(4)?,
                label: row.opt_text(5)?,
                bakeoff_version: row.text(6)?,
                cases: row.opt_text(7)?,
                cases_hash: row.opt_text(8)?,
                models: row.text(9)?.split(',').filter(|m| !m.is_empty()).map(str::to_string).collect(),
                state: state(status, &host_, pid, fresh),
                host: host_,
                journal: row.opt_text(12)?,
                requests: row.int(13)?.max(0) as u64,
                errors: row.int(14)?.max(0) as u64,
            };
            if r.models.is_empty() {
                r.models = self.models_of(r.id)?;
            }
            if filter.model.as_ref().is_none_or(|m| r.models.contains(m)) {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// The models that answered in run `run` (for runs without a plan: sessions, one prompt).
    fn models_of(&self, run: i64) -> Result<Vec<String>> {
        let rows = self
            .db
            .query("SELECT model FROM requests WHERE run_id = ?1 GROUP BY model ORDER BY MIN(seq)", vals![run])?;
        rows.iter().map(|r| r.text(0)).collect()
    }

    /// Run `run` as the session its entries make: everything a report needs.
    pub fn session(&self, run: i64) -> Result<Session> {
        let row = self
            .db
            .query_opt("SELECT started_at, environment FROM runs WHERE id = ?1", vals![run])?
            .with_context(|| format!("no run {run} in the history"))?;
        let (started_at, env) = (row.text(0)?, row.text(1)?);
        let environment: Environment =
            serde_json::from_str(&env).with_context(|| format!("run {run}: its environment does not read"))?;
        let mut session = Session { started_at, environment, rounds: Vec::new() };
        self.db.query_each(
            "SELECT seq, entry FROM entries WHERE run_id = ?1 ORDER BY seq",
            vals![run],
            &mut |row| {
                let seq = row.int(0)?;
                let entry: Entry = serde_json::from_str(&row.text(1)?)
                    .with_context(|| format!("run {run}, entry {seq} does not read"))?;
                session.apply(&entry);
                Ok(())
            },
        )?;
        Ok(session)
    }

    /// Records a `bakeoff load` summary (its JSON, as `--report` saves it) as a finished run of
    /// mode `load`, unless it is already there (the same run ids). Returns the run's id and
    /// whether it was new.
    pub fn record_load(&mut self, summary: &serde_json::Value, label: Option<String>) -> Result<(i64, bool)> {
        use serde_json::Value;
        anyhow::ensure!(
            summary.get("kind").and_then(Value::as_str) == Some("bakeoff-load"),
            "not a bakeoff load summary"
        );
        let run = &summary["run"];
        let ids: Vec<&str> = run["run_ids"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        let started_at = run["started_at"].as_str().unwrap_or_default().to_string();
        let uid = format!("load:{}:{}", started_at, ids.join(","));
        if let Some(id) = self.find(&uid)? {
            return Ok((id, false));
        }
        let models: Vec<&str> = run["models"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        // The counts are flattened into the total's object.
        let counts = &summary["total"];
        let mut environment = Environment::here("load", run["concurrency"].as_u64().unwrap_or(0) as usize, "");
        environment.bakeoff_version = summary["bakeoff_version"].as_str().unwrap_or_default().to_string();
        let db = &*self.db;
        let id = db.transaction(|| {
            let id = db.insert(
                "INSERT INTO runs (uid, started_at, ended_at, status, mode, label, bakeoff_version, models, host, \
                 pid, environment) VALUES (?1, ?2, ?3, ?4, 'load', ?5, ?6, ?7, ?8, ?9, ?10)",
                vals![
                    &uid,
                    started_at,
                    summary["generated_at"].as_str(),
                    if run["interrupted"].as_bool() == Some(true) { "interrupted" } else { "complete" },
                    label,
                    &environment.bakeoff_version,
                    models.join(","),
                    host(),
                    std::process::id(),
                    serde_json::to_string(&environment)?,
                ],
            )?;
            db.execute(
                "INSERT INTO load_summaries (run_id, requests, errors, summary) VALUES (?1, ?2, ?3, ?4)",
                vals![
                    id,
                    counts["requests"].as_i64().unwrap_or(0),
                    counts["errors"].as_i64().unwrap_or(0),
                    serde_json::to_string(summary)?
                ],
            )?;
            Ok(id)
        })?;
        Ok((id, true))
    }

    /// Records a finished journal (a saved session or batch run) unless it is already there.
    /// Returns the run's id and whether it was new.
    pub fn import_journal(&mut self, path: &Path) -> Result<(i64, bool)> {
        // A load summary (`bakeoff load --report`) is one JSON document.
        if path.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            let v: serde_json::Value =
                serde_json::from_str(&text).with_context(|| format!("{}: not JSON", path.display()))?;
            return self.record_load(&v, None).with_context(|| path.display().to_string());
        }
        let session = crate::session::read(path)?;
        let meta = RunMeta::for_journal(&session, path, None);
        if let Some(id) = self.find(&meta.uid)? {
            return Ok((id, false));
        }
        let run = self.begin(&meta)?;
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        // Entries as the journal has them, in order (a torn last line skipped, as `read` does).
        for line in text.lines().skip(1) {
            let Ok(entry) = serde_json::from_str::<Entry>(line) else { continue };
            self.record(run, &entry)?;
        }
        self.finish(run, false)?;
        Ok((run, true))
    }
}

/// `running` means running only while its process does (on this machine) or while it keeps
/// writing (another machine's run in a shared history, `fresh`); otherwise it never finished.
fn state(status: RunStatus, run_host: &str, pid: Option<u32>, fresh: bool) -> RunState {
    match status {
        RunStatus::Complete => RunState::Complete,
        RunStatus::Interrupted => RunState::Interrupted,
        RunStatus::Running if run_host == host() => {
            if pid.is_some_and(alive) {
                RunState::Running
            } else {
                RunState::Incomplete
            }
        }
        RunStatus::Running if fresh => RunState::Running,
        RunStatus::Running => RunState::Incomplete,
    }
}

fn now() -> String {
    crate::session::rfc3339(std::time::SystemTime::now())
}

/// A process with this id exists (Linux: `/proc/<pid>`; elsewhere assumed gone).
fn alive(pid: u32) -> bool {
    pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists()
}

/// This machine's name, for telling runs of several boxes apart.
pub fn host() -> String {
    // Read once: the listing asks for every run it shows.
    static HOST: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HOST.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .or_else(|| std::env::var("COMPUTERNAME").ok())
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "unknown".into())
    })
    .clone()
}

/// Records one run's entries as they come, and never stops the run: the first failure is
/// reported once (`on_error`) and recording ends there.
pub struct Recorder {
    store: Option<Store>,
    run: i64,
    on_error: Box<dyn Fn(&anyhow::Error) + Send>,
}

impl Recorder {
    /// Opens the history at `path` and records the run's start.
    pub fn start(
        at: impl Into<Location>,
        meta: &RunMeta,
        on_error: impl Fn(&anyhow::Error) + Send + 'static,
    ) -> Recorder {
        let started = Store::open(at).and_then(|mut s| {
            let run = s.begin(meta)?;
            Ok((s, run))
        });
        match started {
            Ok((store, run)) => Recorder { store: Some(store), run, on_error: Box::new(on_error) },
            Err(e) => {
                on_error(&e.context("the results history is off for this run"));
                Recorder { store: None, run: 0, on_error: Box::new(on_error) }
            }
        }
    }

    /// The run's id in the store (`None` when recording is off).
    pub fn run_id(&self) -> Option<i64> {
        self.store.as_ref().map(|_| self.run)
    }

    pub fn record(&mut self, entry: &Entry) {
        let Some(store) = self.store.as_mut() else { return };
        if let Err(e) = store.record(self.run, entry) {
            (self.on_error)(&e.context("the results history stopped recording this run"));
            self.store = None;
        }
    }

    pub fn finish(mut self, interrupted: bool) {
        let Some(store) = self.store.as_mut() else { return };
        if let Err(e) = store.finish(self.run, interrupted) {
            (self.on_error)(&e.context("the results history could not mark this run finished"));
        }
    }
}

impl crate::session::EntrySink for Recorder {
    fn entry(&mut self, e: &Entry) {
        self.record(e);
    }

    fn finish(self: Box<Self>, interrupted: bool) {
        Recorder::finish(*self, interrupted);
    }
}

/// `--since`: an age (`30d`, `12h`, `2w`, `90m`) back from now, or a date (`2026-11-01`) or
/// RFC 3339 time; the RFC 3339 UTC time runs are compared with.
pub fn parse_since(s: &str) -> Result<String> {
    let s = s.trim();
    let unit = |c: char| match c {
        'm' => Some(60),
        'h' => Some(3600),
        'd' => Some(86_400),
        'w' => Some(7 * 86_400),
        _ => None,
    };
    let age = s.len() >= 2 && s[..s.len() - 1].bytes().all(|b| b.is_ascii_digit());
    if let Some(last) = s.chars().last().filter(|c| c.is_ascii_alphabetic() && age) {
        let n: u64 =
            s[..s.len() - 1].parse().ok().filter(|n| *n <= 100 * 365).with_context(|| {
                format!("--since {s:?}: give an age like 30d, 12h or 2w, or a date like 2026-11-01")
            })?;
        let secs =
            unit(last).with_context(|| format!("--since {s:?}: the unit is m (minutes), h, d or w (weeks)"))? * n;
        let t = std::time::SystemTime::now() - Duration::from_secs(secs);
        return Ok(crate::session::rfc3339(t));
    }
    let date = s.get(..10).unwrap_or("");
    let ok = date.len() == 10
        && date.bytes().enumerate().all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() });
    anyhow::ensure!(ok, "--since {s:?}: give an age like 30d, 12h or 2w, or a date like 2026-11-01");
    // RFC 3339 times compare as text; a bare date means its start.
    Ok(if s.len() == 10 { format!("{s}T00:00:00Z") } else { s.to_string() })
}

/// The run list as a table: when, state, mode, label, case set, models, requests and errors.
pub fn render_runs(runs: &[RunRow], db: &Location) -> String {
    use std::fmt::Write;
    let clean = crate::sanitize::sanitize;
    let mut o = String::new();
    if runs.is_empty() {
        let _ = writeln!(o, "no runs recorded yet in {db} (every `bakeoff run` is)");
        return o;
    }
    let cases = |r: &RunRow| {
        r.cases
            .as_deref()
            .map(|c| Path::new(c).file_name().map_or(c.to_string(), |n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "—".into())
    };
    let rows: Vec<[String; 8]> = runs
        .iter()
        .map(|r| {
            [
                r.id.to_string(),
                r.started_at.replace('T', " ").trim_end_matches('Z').to_string(),
                r.state.to_string(),
                r.mode.clone(),
                clean(r.label.as_deref().unwrap_or("—")),
                clean(&cases(r)),
                clean(&r.models.join(",")),
                format!("{} ({} err)", r.requests, r.errors),
            ]
        })
        .collect();
    let head = ["run", "started (UTC)", "state", "mode", "label", "cases", "models", "requests"];
    let mut widths: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count()).min(48);
        }
    }
    let line = |cells: Vec<&str>| {
        let parts: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| {
                let c: String = c.chars().take(*w).collect();
                format!("{c:<w$}")
            })
            .collect();
        parts.join("  ").trim_end().to_string()
    };
    let _ = writeln!(o, "{}", line(head.to_vec()));
    for row in &rows {
        let _ = writeln!(o, "{}", line(row.iter().map(String::as_str).collect()));
    }
    let _ = writeln!(o, "\n{} run(s) in {db}", runs.len());
    o
}

#[cfg(test)]
mod pg_server;
#[cfg(test)]
mod tests;
