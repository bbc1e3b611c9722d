//! A session: rounds, their results, evaluator verdicts and manual scores — kept as an
//! append-only JSON Lines journal that is flushed and fsynced per record, so a crash or `kill -9`
//! loses nothing already recorded. Reopening a journal replays it into the same [`Session`].
//!
//! The journal is the source of truth; reports are computed from a [`Session`].

pub use crate::eval::{EvalResult, Pairwise};
use crate::metrics::RequestResult;
use crate::provider::Message;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

/// Journal format version; bump when an entry changes incompatibly.
pub const JOURNAL_VERSION: u32 = 1;

/// Under which conditions the numbers were taken, so a later reader compares like with like.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Environment {
    pub bakeoff_version: String,
    pub os: String,
    /// Requests in flight at once (models per round in the TUI; `--concurrency` in batches).
    pub concurrency: usize,
    /// Each model keeps a connection pool across rounds (see `fresh_connection` per result).
    pub connection_reuse: bool,
    pub prices_as_of: String,
    /// `tui`, `run`, `batch`, `load`.
    pub mode: String,
    /// A batch run's plan, so `bakeoff run --resume J` alone continues exactly that run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<BatchPlan>,
}

/// What a batch run was asked to do: enough to run the rest of it again without any flag, and
/// to notice when the cases or a model's settings changed since.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BatchPlan {
    /// The case file (absolute path) and a hash of its bytes ([`crate::files::content_hash`]).
    pub cases: String,
    pub cases_hash: String,
    /// The built-in demo models; else the models of `config` (absolute path; `None`: none found).
    pub demo: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
    /// `--models` as given (empty: every configured model).
    #[serde(default)]
    pub selection: Vec<String>,
    /// The models that ran, each with a fingerprint of its settings (never a key's value).
    pub models: Vec<PlannedModel>,
    pub repeat: u32,
    pub concurrency: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_provider: Option<u64>,
    pub retries: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
}

/// One model of a [`BatchPlan`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PlannedModel {
    pub name: String,
    pub provider: String,
    pub model: String,
    /// [`crate::config::ModelSpec::fingerprint`].
    pub settings: String,
}

impl Environment {
    pub fn here(mode: &str, concurrency: usize, prices_as_of: &str) -> Environment {
        Environment {
            bakeoff_version: env!("CARGO_PKG_VERSION").to_string(),
            os: format!("{}-{}", std::env::consts::OS, std::env::consts::ARCH),
            concurrency,
            connection_reuse: true,
            prices_as_of: prices_as_of.to_string(),
            mode: mode.to_string(),
            plan: None,
        }
    }
}

/// Who won a round, by a person or a pairwise judge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Winner(String),
    Tie,
}

/// Blind rounds: the label each model was shown under, and the order panes were shown in.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Blind {
    /// model name → label (`A`, `B`, …).
    pub labels: BTreeMap<String, String>,
    /// Model names in the order their panes were shown.
    pub order: Vec<String>,
}

impl Blind {
    /// (label, model) in the order the panes were shown.
    pub fn shown(&self) -> impl Iterator<Item = (&str, &str)> {
        self.order.iter().map(|m| (self.labels.get(m).map_or("?", String::as_str), m.as_str()))
    }
}

/// What a round asked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoundStart {
    pub round: u64,
    /// Wall-clock start, RFC 3339 UTC (for the report; durations never use it).
    pub started_at: String,
    pub messages: Vec<Message>,
    /// Models in this round, by name.
    pub models: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blind: Option<Blind>,
    /// The TUI's theme when the round started (restored on resume).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub theme: Option<String>,
    /// A conversation's turn (2 and on; a round without one starts its conversation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn: Option<u32>,
    /// Per model, the earlier turns it was sent before `messages` (after their system prompt):
    /// its conversation so far, its own answers only. With `messages`, the full list it got.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub context: BTreeMap<String, Vec<Message>>,
    /// A multi-turn case's follow-up prompts, each asked after the model's own answer to the
    /// turns before it (those answers are the results marked `intermediate`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub follow_ups: Vec<String>,
}

/// One line of the journal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Entry {
    Session {
        version: u32,
        started_at: String,
        environment: Environment,
    },
    Round(RoundStart),
    /// A model's request ended (any outcome). A retried request journals each attempt; the last
    /// one counts as the model's result, earlier ones count for cost and retries.
    Result {
        round: u64,
        result: Box<RequestResult>,
    },
    Eval {
        round: u64,
        model: String,
        result: EvalResult,
    },
    /// A manual score 1–5; a later one for the same round and model replaces it. `None` clears.
    Score {
        round: u64,
        model: String,
        score: Option<u8>,
    },
    Note {
        round: u64,
        model: String,
        text: String,
    },
    Verdict {
        round: u64,
        verdict: Option<Verdict>,
    },
    Pairwise {
        round: u64,
        pair: Pairwise,
    },
}

/// One round folded from the journal.
#[derive(Clone, Debug, PartialEq)]
pub struct Round {
    pub start: RoundStart,
    /// Final result per model (the last attempt).
    pub results: BTreeMap<String, RequestResult>,
    /// Earlier failed attempts per model (retries), in order.
    pub retries: BTreeMap<String, Vec<RequestResult>>,
    /// A multi-turn case's earlier turns' answers per model, in order (the final one is in
    /// `results`).
    pub turns: BTreeMap<String, Vec<RequestResult>>,
    pub evals: BTreeMap<String, Vec<EvalResult>>,
    pub scores: BTreeMap<String, u8>,
    pub notes: BTreeMap<String, String>,
    pub verdict: Option<Verdict>,
    pub pairwise: Vec<Pairwise>,
}

impl Round {
    fn new(start: RoundStart) -> Round {
        Round {
            start,
            results: BTreeMap::new(),
            retries: BTreeMap::new(),
            turns: BTreeMap::new(),
            evals: BTreeMap::new(),
            scores: BTreeMap::new(),
            notes: BTreeMap::new(),
            verdict: None,
            pairwise: Vec::new(),
        }
    }

    /// Every model has a result.
    pub fn is_complete(&self) -> bool {
        self.start.models.iter().all(|m| self.results.contains_key(m))
    }
}

/// A session as replayed from its entries.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Session {
    pub started_at: String,
    pub environment: Environment,
    pub rounds: Vec<Round>,
}

impl Session {
    pub fn round(&self, n: u64) -> Option<&Round> {
        self.rounds.iter().find(|r| r.start.round == n)
    }

    fn round_mut(&mut self, n: u64) -> Option<&mut Round> {
        self.rounds.iter_mut().find(|r| r.start.round == n)
    }

    /// Applies one entry. Entries for unknown rounds are ignored (a journal cut mid-write can
    /// only lose its last line, never reorder).
    pub fn apply(&mut self, e: &Entry) {
        match e {
            Entry::Session { started_at, environment, .. } => {
                self.started_at = started_at.clone();
                self.environment = environment.clone();
            }
            Entry::Round(start) => {
                if self.round(start.round).is_none() {
                    self.rounds.push(Round::new(start.clone()));
                }
            }
            Entry::Result { round, result } => {
                if let Some(r) = self.round_mut(*round) {
                    let model = result.model.clone();
                    if result.intermediate {
                        r.turns.entry(model).or_default().push((**result).clone());
                    } else if let Some(prev) = r.results.insert(model.clone(), (**result).clone()) {
                        r.retries.entry(model).or_default().push(prev);
                    }
                }
            }
            Entry::Eval { round, model, result } => {
                if let Some(r) = self.round_mut(*round) {
                    let list = r.evals.entry(model.clone()).or_default();
                    // A re-run of the same evaluator replaces its earlier verdict.
                    list.retain(|x| x.name != result.name);
                    list.push(result.clone());
                }
            }
            Entry::Score { round, model, score } => {
                if let Some(r) = self.round_mut(*round) {
                    match score {
                        Some(s) => r.scores.insert(model.clone(), *s),
                        None => r.scores.remove(model),
                    };
                }
            }
            Entry::Note { round, model, text } => {
                if let Some(r) = self.round_mut(*round) {
                    if text.is_empty() {
                        r.notes.remove(model);
                    } else {
                        r.notes.insert(model.clone(), text.clone());
                    }
                }
            }
            Entry::Verdict { round, verdict } => {
                if let Some(r) = self.round_mut(*round) {
                    r.verdict = verdict.clone();
                }
            }
            Entry::Pairwise { round, pair } => {
                if let Some(r) = self.round_mut(*round) {
                    r.pairwise.push(pair.clone());
                }
            }
        }
    }

    pub fn next_round_number(&self) -> u64 {
        self.rounds.iter().map(|r| r.start.round).max().unwrap_or(0) + 1
    }
}

/// Manual scores at or above this make a response acceptable when no evaluator judged it.
pub const DEFAULT_ACCEPT_SCORE: u8 = 4;

/// Whether a response is acceptable: it must have succeeded; then, if evaluators ran, every one
/// must have passed (one that failed makes it unacceptable; one that could not decide leaves it
/// unknown unless another failed; a score without a pass mark does not count); with no deciding
/// evaluators, a manual score decides
/// (`>= accept_score`). With neither, it is unknown.
pub fn acceptable(result: &RequestResult, evals: &[EvalResult], manual: Option<u8>, accept_score: u8) -> Option<bool> {
    if !result.status.is_ok() {
        return Some(false);
    }
    // A metric without a pass mark (a score only) does not decide.
    let deciding: Vec<&EvalResult> = evals.iter().filter(|e| !e.is_score_only()).collect();
    if !deciding.is_empty() {
        if deciding.iter().any(|e| e.passed == Some(false)) {
            return Some(false);
        }
        return deciding.iter().all(|e| e.passed == Some(true)).then_some(true);
    }
    manual.map(|s| s >= accept_score)
}

/// Appends entries to a journal file, one JSON object per line, flushed and fsynced per entry.
pub struct Journal {
    path: PathBuf,
    file: File,
}

impl Journal {
    /// Creates a new journal (fails if the file exists) and holds its writer's lock.
    pub fn create(path: &Path) -> Result<Journal> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot create journal {}", path.display()))?;
        lock(&file, path)?;
        Ok(Journal { path: path.to_path_buf(), file })
    }

    /// A new journal in `dir` whose name no other process picks: the time to the millisecond
    /// and this process's id (`20261206-051158-123-p4242{suffix}.jsonl`), created exclusively
    /// (a clash, however unlikely, takes the next `-2`, `-3`…).
    pub fn create_unique(dir: &Path, suffix: &str) -> Result<Journal> {
        let now = std::time::SystemTime::now();
        let ms = now.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_millis());
        let base = format!("{}-{ms:03}-p{}", file_stamp(now), std::process::id());
        for n in 1..100 {
            let name = if n == 1 { format!("{base}{suffix}.jsonl") } else { format!("{base}-{n}{suffix}.jsonl") };
            match Journal::create(&dir.join(name)) {
                Err(e)
                    if e.chain().any(|c| {
                        c.downcast_ref::<std::io::Error>()
                            .is_some_and(|io| io.kind() == std::io::ErrorKind::AlreadyExists)
                    }) =>
                {
                    continue;
                }
                r => return r,
            }
        }
        anyhow::bail!("cannot create a new journal in {}: every name is taken", dir.display())
    }

    /// Opens an existing journal to append to it, returning the session it holds. Fails while
    /// another process writes to it (a journal has one writer). A torn last line (a crash
    /// mid-write) is cut off first, so new entries start on a line of their own.
    pub fn resume(path: &Path) -> Result<(Journal, Session)> {
        let file =
            OpenOptions::new().append(true).open(path).with_context(|| format!("cannot open {}", path.display()))?;
        // Locked before it is read: what is read is then what this process appends to.
        lock(&file, path)?;
        let session = read(path)?;
        let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let keep = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        if keep < bytes.len() {
            file.set_len(keep as u64).with_context(|| format!("cannot repair {}", path.display()))?;
        }
        Ok((Journal { path: path.to_path_buf(), file }, session))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes one entry and makes it durable before returning.
    pub fn append(&mut self, entry: &Entry) -> Result<()> {
        let mut line = crate::sanitize::to_json(entry).context("cannot encode a journal entry")?;
        line.push(b'\n');
        // One write per line: a crash leaves at most a partial last line, which `read` skips.
        self.file.write_all(&line).with_context(|| format!("cannot write to {}", self.path.display()))?;
        self.file.flush()?;
        self.file.sync_data().with_context(|| format!("cannot sync {}", self.path.display()))?;
        Ok(())
    }
}

/// Takes the journal's writer lock (an advisory `flock`, released when the process ends, however
/// it ends) or says who holds it.
fn lock(file: &File, path: &Path) -> Result<()> {
    match file.try_lock() {
        Ok(()) => Ok(()),
        Err(std::fs::TryLockError::WouldBlock) => {
            let who = match lock_holder(file) {
                Some(pid) => format!("another bakeoff process (pid {pid})"),
                None => "another bakeoff process".to_string(),
            };
            anyhow::bail!(
                "journal {} is being written by {who}; a journal has one writer: wait for that run to end, or stop it",
                path.display()
            )
        }
        Err(std::fs::TryLockError::Error(e)) => Err(e).with_context(|| format!("cannot lock {}", path.display())),
    }
}

/// The pid holding a `flock` on `file`, from `/proc/locks` (Linux; `None` elsewhere).
fn lock_holder(file: &File) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let ino = file.metadata().ok()?.ino();
        let locks = std::fs::read_to_string("/proc/locks").ok()?;
        // `1: FLOCK  ADVISORY  WRITE 4242 08:01:1234567 0 EOF`; waiters (`1: -> FLOCK …`) skipped.
        locks.lines().filter(|l| !l.contains("->")).find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let this_inode = f.get(5)?.rsplit(':').next()?.parse::<u64>().ok()? == ino;
            if this_inode && f.get(1) == Some(&"FLOCK") { f.get(4)?.parse().ok() } else { None }
        })
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        None
    }
}

/// Something else that gets every journal entry once it is durable (the results history). It
/// never fails the run: it reports its own trouble.
pub trait EntrySink: Send {
    fn entry(&mut self, e: &Entry);
    /// The run ended (`interrupted`: before every item ran).
    fn finish(self: Box<Self>, interrupted: bool);
}

/// Hands journal entries to one writer thread, so appends stay ordered and async code (the TUI,
/// batch workers) never blocks on `fsync`. Each entry is durable a moment after it was sent,
/// and then handed to the sinks.
pub struct JournalWriter {
    tx: std::sync::mpsc::Sender<Entry>,
    handle: std::thread::JoinHandle<WriterEnd>,
}

/// What the writer thread hands back: how writing went, and the sinks to finish.
type WriterEnd = (Result<()>, Vec<Box<dyn EntrySink>>);

impl JournalWriter {
    /// `on_error` is told once if a write fails; the writer stops there and `finish` returns it.
    pub fn spawn(journal: Journal, on_error: impl Fn(&anyhow::Error) + Send + 'static) -> JournalWriter {
        JournalWriter::spawn_with(journal, Vec::new(), on_error)
    }

    /// [`spawn`](Self::spawn), each entry also handed to `sinks` after it is on disk.
    pub fn spawn_with(
        mut journal: Journal,
        mut sinks: Vec<Box<dyn EntrySink>>,
        on_error: impl Fn(&anyhow::Error) + Send + 'static,
    ) -> JournalWriter {
        let (tx, rx) = std::sync::mpsc::channel::<Entry>();
        let handle = std::thread::spawn(move || {
            for entry in rx {
                if let Err(e) = journal.append(&entry) {
                    on_error(&e);
                    return (Err(e), sinks);
                }
                for s in &mut sinks {
                    s.entry(&entry);
                }
            }
            (Ok(()), sinks)
        });
        JournalWriter { tx, handle }
    }

    /// A sender for other tasks.
    pub fn sender(&self) -> std::sync::mpsc::Sender<Entry> {
        self.tx.clone()
    }

    pub fn send(&self, e: Entry) {
        // A stopped writer has already reported why (and `finish` returns it).
        let _ = self.tx.send(e);
    }

    /// Waits until every entry sent so far is on disk, and tells the sinks the run is complete.
    pub fn finish(self) -> Result<()> {
        self.finish_run(false)
    }

    /// [`finish`](Self::finish), telling the sinks whether the run stopped early.
    pub fn finish_run(self, interrupted: bool) -> Result<()> {
        drop(self.tx);
        let (result, sinks) = self.handle.join().map_err(|_| anyhow::anyhow!("the journal writer panicked"))?;
        for s in sinks {
            s.finish(interrupted || result.is_err());
        }
        result
    }
}

/// Replays a journal. A torn last line (crash mid-write) is skipped; a bad line elsewhere is an
/// error naming the line.
pub fn read(path: &Path) -> Result<Session> {
    let file = File::open(path).with_context(|| format!("cannot open journal {}", path.display()))?;
    let lines: Vec<String> = BufReader::new(file)
        .lines()
        .collect::<std::io::Result<_>>()
        .with_context(|| format!("cannot read {}", path.display()))?;
    let mut session = Session::default();
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Entry>(line) {
            Ok(e) => session.apply(&e),
            Err(_) if i + 1 == lines.len() => {} // torn final write
            Err(e) => anyhow::bail!("{}:{}: not a journal entry: {e}", path.display(), i + 1),
        }
    }
    Ok(session)
}

/// Where journals live: `<data dir>/sessions/`.
pub fn sessions_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "bakeoff").map(|d| d.data_dir().join("sessions"))
}

/// The newest interactive session's journal in `dir` (what the TUI's `--resume` continues):
/// `*.jsonl`, leaving out batch runs' journals (`*-batch.jsonl`, continued with
/// `bakeoff run --resume`).
pub fn latest_journal(dir: &Path) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .filter(|p| !p.file_stem().is_some_and(|s| s.to_string_lossy().ends_with("-batch")))
        .max_by_key(|p| p.file_name().map(|n| n.to_os_string()))
}

/// RFC 3339 UTC timestamp with seconds, e.g. `2026-11-22T21:45:03Z`.
pub fn rfc3339(t: std::time::SystemTime) -> String {
    let secs = t.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = crate::format::civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// A file-name-safe stamp for new journals and reports: `20261122-214503`.
pub fn file_stamp(t: std::time::SystemTime) -> String {
    rfc3339(t).replace(['-', ':'], "").replace('T', "-").trim_end_matches('Z').to_string()
}

/// Opens the journal: a new one, or an existing one to resume.
pub fn open_journal(resume: Option<&Path>, new_path: &Path, env: Environment) -> Result<(Journal, Session)> {
    match resume {
        Some(p) => Journal::resume(p),
        None => begin_journal(Journal::create(new_path)?, env),
    }
}

/// Writes a new journal's first entry.
pub fn begin_journal(mut j: Journal, env: Environment) -> Result<(Journal, Session)> {
    let started_at = rfc3339(std::time::SystemTime::now());
    j.append(&Entry::Session { version: JOURNAL_VERSION, started_at: started_at.clone(), environment: env.clone() })?;
    Ok((j, Session { started_at, environment: env, rounds: Vec::new() }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{RequestMetrics, Status};

    fn result(model: &str, status: &str) -> Box<RequestResult> {
        let mut r = RequestMetrics::new(None, 3).result(model, "openai");
        r.status = status.parse().unwrap();
        Box::new(r)
    }

    fn start(round: u64) -> Entry {
        Entry::Round(RoundStart {
            round,
            started_at: "2026-11-22T00:00:00Z".into(),
            messages: vec![Message::user("hi")],
            models: vec!["a".into(), "b".into()],
            case_id: None,
            category: None,
            repeat: None,
            blind: None,
            theme: None,
            turn: None,
            context: Default::default(),
            follow_ups: Vec::new(),
        })
    }

    #[test]
    fn replay_folds_scores_edits_and_retries() {
        let mut s = Session::default();
        for e in [
            start(1),
            Entry::Result { round: 1, result: result("a", "error") },
            Entry::Result { round: 1, result: result("a", "ok") },
            Entry::Result { round: 1, result: result("b", "ok") },
            Entry::Score { round: 1, model: "a".into(), score: Some(2) },
            Entry::Score { round: 1, model: "a".into(), score: Some(5) },
            Entry::Score { round: 1, model: "b".into(), score: Some(3) },
            Entry::Score { round: 1, model: "b".into(), score: None },
            Entry::Verdict { round: 1, verdict: Some(Verdict::Winner("a".into())) },
            Entry::Note { round: 1, model: "b".into(), text: "rambles".into() },
            Entry::Score { round: 9, model: "a".into(), score: Some(1) },
        ] {
            s.apply(&e);
        }
        let r = s.round(1).unwrap();
        assert!(r.is_complete());
        assert_eq!(r.results["a"].status, Status::Ok);
        assert_eq!(r.retries["a"].len(), 1);
        assert_eq!(r.scores.get("a"), Some(&5));
        assert_eq!(r.scores.get("b"), None);
        assert_eq!(r.verdict, Some(Verdict::Winner("a".into())));
        assert_eq!(r.notes["b"], "rambles");
        assert_eq!(s.next_round_number(), 2);
    }

    #[test]
    fn journal_round_trips_and_survives_a_torn_last_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.jsonl");
        let mut j = Journal::create(&path).unwrap();
        j.append(&Entry::Session {
            version: JOURNAL_VERSION,
            started_at: "x".into(),
            environment: Environment::here("tui", 2, "2026-04-30"),
        })
        .unwrap();
        j.append(&start(1)).unwrap();
        j.append(&Entry::Result { round: 1, result: result("a", "ok") }).unwrap();
        j.append(&Entry::Score { round: 1, model: "a".into(), score: Some(4) }).unwrap();
        drop(j);
        assert!(Journal::create(&path).is_err(), "never overwrite a journal");
        // Simulate a crash mid-write.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(br#"{"type":"score","round":1,"mod"#).unwrap();
        drop(f);
        let (mut j, s) = Journal::resume(&path).unwrap();
        assert_eq!(s.round(1).unwrap().scores["a"], 4);
        assert_eq!(s.environment.mode, "tui");
        // The torn line was cut off: new entries land on their own line.
        j.append(&start(2)).unwrap();
        assert_eq!(read(&path).unwrap().rounds.len(), 2);
        // A bad line that is not the last one is an error naming the line.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"garbage\n").unwrap();
        j.append(&start(3)).unwrap();
        let e = read(&path).unwrap_err().to_string();
        assert!(e.contains(":6:"), "{e}");
    }

    #[test]
    fn acceptability() {
        let ok = result("a", "ok");
        let err = result("a", "error");
        let ev = |passed: Option<bool>| EvalResult {
            name: "x".into(),
            kind: crate::eval::EvaluatorKind::Contains,
            score: passed.map(|p| if p { 1.0 } else { 0.0 }),
            raw_score: None,
            passed,
            error: None,
            detail: None,
            counts: None,
            spend: None,
            votes: Vec::new(),
        };
        assert_eq!(acceptable(&err, &[ev(Some(true))], Some(5), 4), Some(false));
        assert_eq!(acceptable(&ok, &[ev(Some(true)), ev(Some(true))], Some(1), 4), Some(true));
        assert_eq!(acceptable(&ok, &[ev(Some(true)), ev(Some(false))], None, 4), Some(false));
        assert_eq!(acceptable(&ok, &[ev(Some(true)), ev(None)], None, 4), None);
        assert_eq!(acceptable(&ok, &[ev(None), ev(Some(false))], None, 4), Some(false));
        assert_eq!(acceptable(&ok, &[], Some(4), 4), Some(true));
        assert_eq!(acceptable(&ok, &[], Some(3), 4), Some(false));
        assert_eq!(acceptable(&ok, &[], None, 4), None);
    }

    #[test]
    fn timestamps() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_795_470_303);
        assert_eq!(rfc3339(t), "2026-11-23T21:45:03Z");
        assert_eq!(file_stamp(t), "20261123-214503");
    }

    #[test]
    fn the_tui_resumes_the_newest_session_not_a_newer_batch_run() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "20261206-100000-000-p1.jsonl",
            "20261206-110000-000-p2.jsonl",
            "20261206-120000-000-p3-batch.jsonl",
            "notes.txt",
        ] {
            std::fs::write(dir.path().join(name), "").unwrap();
        }
        let latest = latest_journal(dir.path()).unwrap();
        assert_eq!(latest.file_name().unwrap(), "20261206-110000-000-p2.jsonl");
        let only_batch = tempfile::tempdir().unwrap();
        std::fs::write(only_batch.path().join("20261206-120000-000-p3-batch.jsonl"), "").unwrap();
        assert_eq!(latest_journal(only_batch.path()), None);
    }

    #[test]
    fn a_journal_has_one_writer_and_unique_names() {
        let dir = tempfile::tempdir().unwrap();
        let first = Journal::create_unique(dir.path(), "-batch").unwrap();
        let name = first.path().file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.ends_with(&format!("-p{}-batch.jsonl", std::process::id())), "{name}");
        let second = Journal::create_unique(dir.path(), "-batch").unwrap();
        assert_ne!(first.path(), second.path());
        // A second writer (another open file, as in another process) is refused, naming the holder.
        let e = Journal::resume(first.path()).err().expect("locked").to_string();
        assert!(e.contains("being written by another bakeoff process"), "{e}");
        if std::path::Path::new("/proc/locks").exists() {
            assert!(e.contains(&format!("pid {}", std::process::id())), "{e}");
        }
        let path = first.path().to_path_buf();
        drop(first);
        assert!(Journal::resume(&path).is_ok(), "free again once the writer is gone");
        assert_eq!(rfc3339(std::time::UNIX_EPOCH), "1970-01-01T00:00:00Z");
    }
}
