//! The interactive terminal UI: one prompt, several models, one live pane each.
//!
//! Shape (see ARCHITECTURE.md): network tasks stamp their own events and send them over a
//! channel; an input thread turns terminal events into messages; the driver here drains
//! everything queued, folds it through the pure [`app::App::update`], carries out the returned
//! [`app::Effect`]s, and draws at most once per frame (~30 fps) — only when something changed or
//! a live pane's clock has to tick. Nothing here measures time for the metrics: every figure
//! comes from the stamped events.
//!
//! Only this module (and its children) touch ratatui or crossterm.

pub mod app;
pub mod keymap;
pub mod layout;
pub mod pane;
pub mod theme;
pub mod view;
pub mod wrap;

#[cfg(test)]
mod tests;

use crate::cases::Case;
use crate::config::ModelSpec;
use crate::engine::{self, ModelClient};
use crate::eval::{self, Evaluator, EvaluatorSpec};
use crate::event::{EventKind, RequestId, StreamEvent};
use crate::metrics::{Counted, TokenCounter};
use crate::provider::{ErrorKind, Message, RequestError};
use crate::report::{self, ReportOptions};
use crate::session::{self, Environment, Journal, JournalWriter, Session};
use anyhow::{Context as _, Result, bail};
use app::{App, Effect, Msg};
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::{event as ct, execute, terminal};
use std::collections::{HashMap, HashSet, VecDeque};
use std::io::{IsTerminal, Stdout};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::mpsc::{self, UnboundedSender};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Frame budget: at most one draw per this interval (~30 fps).
pub const FRAME: Duration = Duration::from_millis(33);

/// Longest wait on quit for cancelled requests and evaluations to reach the journal.
const QUIT_GRACE: Duration = Duration::from_secs(3);

/// What `bakeoff` (no subcommand) hands the TUI.
#[derive(Clone, Debug)]
pub struct TuiOptions {
    /// All selectable models (all take part at first; the picker can narrow them).
    pub models: Vec<ModelSpec>,
    /// True when running on the built-in demo (the status bar says so).
    pub demo: bool,
    /// Theme name (`--theme`); `None` = dark, or mono under `NO_COLOR`.
    pub theme: Option<String>,
    /// Initial system prompt.
    pub system: Option<String>,
    /// Capture the mouse (wheel scrolls, click focuses). Off by default so the terminal's own
    /// text selection keeps working.
    pub mouse: bool,
    /// Session evaluators (`[[evaluators]]` in the config).
    pub evaluators: Vec<EvaluatorSpec>,
    /// Where relative paths in the session evaluators are found (the config file's directory).
    pub evaluators_dir: PathBuf,
    /// Every configured model, by name: judges are looked up here (a judge need not take part).
    pub judge_models: Vec<ModelSpec>,
    /// Start with blind rounds (`--blind`).
    pub blind: bool,
    /// `--resume [FILE]`: `Some(None)` = the newest journal in the sessions directory.
    pub resume: Option<Option<PathBuf>>,
    /// `--journal FILE`: where a new session's journal goes (default: the sessions directory).
    pub journal: Option<PathBuf>,
    /// `--cases FILE`.
    pub cases: Option<PathBuf>,
    /// `--out DIR`: where reports go (default: `<data dir>/reports`).
    pub out: Option<PathBuf>,
    /// Date of the price table (recorded in the session).
    pub prices_as_of: String,
}

/// Opens the session journal: the one to resume, or a new one (never overwriting a file).
pub fn open_journal(opts: &TuiOptions) -> Result<(Journal, Session)> {
    let dir =
        || session::sessions_dir().context("cannot find a data directory for session journals; use --journal FILE");
    if let Some(resume) = &opts.resume {
        let path = match resume {
            Some(p) => p.clone(),
            None => {
                let d = dir()?;
                session::latest_journal(&d)
                    .with_context(|| format!("no session journal to resume in {}", d.display()))?
            }
        };
        return Journal::resume(&path);
    }
    let env = Environment::here("tui", opts.models.len(), &opts.prices_as_of);
    if let Some(p) = &opts.journal {
        return crate::session::open_journal(None, p, env);
    }
    crate::session::begin_journal(Journal::create_unique(&dir()?, "")?, env)
}

/// Where reports go: `--out DIR`, else `<data dir>/reports`.
pub fn report_dir(opts: &TuiOptions) -> Option<PathBuf> {
    opts.out.clone().or_else(|| directories::ProjectDirs::from("", "", "bakeoff").map(|d| d.data_dir().join("reports")))
}

/// Builds the app state for `opts` (themes loaded, initial theme chosen).
pub fn new_app(opts: &TuiOptions) -> Result<App> {
    let user_dir = crate::config::default_config_dir().map(|d| d.join("themes"));
    let (themes, problems) = theme::load_all(user_dir.as_deref());
    let idx = theme::initial(&themes, opts.theme.as_deref(), theme::no_color_env())?;
    let mut app = App::new(opts.models.clone(), opts.demo, opts.system.clone(), themes, idx);
    app.mouse = opts.mouse;
    app.blind_next = opts.blind;
    if let Some(p) = problems.first() {
        app.notice = Some(crate::sanitize::one_line(p));
    }
    Ok(app)
}

/// Runs the TUI on the current tokio runtime until the user quits. Refuses (Err with a helpful
/// message naming `bakeoff run`) when stdout is not a terminal.
/// Runs the interactive view until the user quits. `Some(stop)` when a signal (SIGINT, SIGTERM,
/// SIGHUP) ended it: the caller exits with its status.
pub async fn run(opts: TuiOptions) -> Result<Option<crate::signals::Stop>> {
    if !std::io::stdout().is_terminal() {
        bail!(
            "standard output is not a terminal, so the TUI cannot start; for scripts and pipes use \
             `bakeoff run --prompt \"...\"` (add --demo to try it without keys)"
        );
    }
    let mut app = new_app(&opts)?;
    let clients: Vec<Result<ModelClient, String>> =
        opts.models.iter().map(|s| ModelClient::new(s.clone()).map_err(|e| format!("{e:#}"))).collect();
    // Everything that can fail on bad input fails here, before the terminal is taken over.
    let (cases, cases_dir) = match &opts.cases {
        Some(path) => {
            let set = crate::cases::load(path)?;
            if set.cases.is_empty() && !set.errors.is_empty() {
                bail!("no case in {} could be read: {}", path.display(), set.errors[0]);
            }
            if let Some(e) = set.errors.first() {
                let more =
                    if set.errors.len() > 1 { format!(" (+{} more)", set.errors.len() - 1) } else { String::new() };
                app.notice = Some(crate::sanitize::one_line(&format!("case skipped: {e}{more}")));
            }
            (set.cases, path.parent().map(Path::to_path_buf).unwrap_or_default())
        }
        None => (Vec::new(), PathBuf::from(".")),
    };
    let judges = judge_clients(&opts, &cases);
    let (journal, session) = open_journal(&opts)?;
    let journal_path = journal.path().to_path_buf();
    let stem = journal.path().file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "session".into());
    let reports = report_dir(&opts).context("cannot find a data directory for reports; use --out DIR")?;
    app.load_cases(cases.clone());
    let resumed = opts.resume.is_some();
    if resumed {
        let chosen_theme = app.theme;
        app.restore(session);
        // A theme asked for now (--theme, NO_COLOR) wins over the session's.
        if opts.theme.is_some() || theme::no_color_env() {
            app.theme = chosen_theme;
        }
    } else {
        app.session = session;
    }
    app.seed(rand::random());
    install_panic_hook();
    let mut term = Guard::enter(opts.mouse)?;
    let (tx_in, rx_in) = mpsc::unbounded_channel();
    let stop = Arc::new(AtomicBool::new(false));
    let input = spawn_input_thread(tx_in.clone(), stop.clone());
    let size = term.terminal.size()?;
    app.update(Msg::Resize(size.width, size.height));
    let mut ctx = Ctx {
        clients,
        judges: Arc::new(judges),
        evaluators: opts.evaluators.clone(),
        evaluators_dir: opts.evaluators_dir.clone(),
        cases,
        cases_dir,
        rounds: HashMap::new(),
        writer: Some({
            let notify = tx_in.clone();
            JournalWriter::spawn(journal, move |e| {
                let _ = notify.send(Msg::Notice(format!("journal write failed: {e:#}")));
            })
        }),
        reports,
        stem,
        tx: tx_in,
    };
    let signals = crate::signals::Signals::new().context("cannot listen for signals")?;
    let result = drive(&mut term.terminal, &mut app, &mut ctx, rx_in, signals).await;
    // Every entry handed to the writer is on disk before we return.
    let flushed = ctx.writer.take().map(JournalWriter::finish).unwrap_or(Ok(()));
    stop.store(true, Ordering::SeqCst);
    drop(term); // restores the terminal before the caller prints anything
    // The input thread polls with a short timeout and notices `stop`.
    let _ = input.join();
    // On the normal screen again: say where everything went, so it can be found after the quit.
    for p in &app.saved_paths {
        eprintln!("report saved: {}", crate::sanitize::one_line(p));
    }
    eprintln!(
        "session journal: {} (continue with `bakeoff --resume {}`)",
        journal_path.display(),
        journal_path.display()
    );
    let stop = result?;
    flushed.map(|()| stop)
}

/// Clients for every judge model named by the session's or the cases' evaluators.
fn judge_clients(opts: &TuiOptions, cases: &[Case]) -> HashMap<String, ModelClient> {
    let wanted: HashSet<&str> = opts
        .evaluators
        .iter()
        .chain(cases.iter().flat_map(|c| &c.evaluators))
        .filter_map(EvaluatorSpec::judge_model)
        .collect();
    let mut out = HashMap::new();
    for name in wanted {
        let spec = opts.judge_models.iter().chain(&opts.models).find(|s| s.name == name);
        // A judge whose client cannot be built is reported by its evaluator ("not available").
        if let Some(Ok(c)) = spec.map(|s| ModelClient::new(s.clone())) {
            out.insert(name.to_string(), c);
        }
    }
    out
}

/// What one round's evaluations need.
struct RoundCtx {
    messages: Arc<Vec<Message>>,
    evaluators: Arc<Vec<Evaluator>>,
    /// The case's own tools (else each model's), for tool-call checks.
    tools: Option<Arc<crate::provider::tools::Tools>>,
}

/// Rounds whose context (conversation, evaluators, tools) the driver keeps for late results.
const ROUNDS_KEPT: u64 = 8;

/// Everything the driver needs besides the app.
struct Ctx {
    clients: Vec<Result<ModelClient, String>>,
    judges: Arc<HashMap<String, ModelClient>>,
    evaluators: Vec<EvaluatorSpec>,
    evaluators_dir: PathBuf,
    cases: Vec<Case>,
    cases_dir: PathBuf,
    rounds: HashMap<u64, RoundCtx>,
    writer: Option<JournalWriter>,
    reports: PathBuf,
    stem: String,
    /// Results of background work come back as messages on the input channel.
    tx: UnboundedSender<Msg>,
}

impl Ctx {
    fn round_evaluators(&self, case: Option<usize>) -> Vec<Evaluator> {
        match case.and_then(|c| self.cases.get(c)) {
            Some(c) => c.evaluators_with(&self.evaluators, &self.cases_dir),
            None => eval::compile_all(&self.evaluators, &self.evaluators_dir),
        }
    }
}

type Term = ratatui::Terminal<CrosstermBackend<Stdout>>;

/// Requests of the current round that can still be cancelled.
struct Running {
    tokens: Vec<(RequestId, CancellationToken)>,
}

impl Running {
    fn cancel(&mut self, run: u64, slot: Option<usize>) {
        for (id, t) in &self.tokens {
            if id.run == run && slot.is_none_or(|s| s == id.slot) {
                t.cancel();
            }
        }
    }
    fn cancel_everything(&mut self) {
        self.tokens.iter().for_each(|(_, t)| t.cancel());
        self.tokens.clear();
    }
}

/// The event loop. Returns the signal that stopped it, if one did.
async fn drive(
    term: &mut Term,
    app: &mut App,
    ctx: &mut Ctx,
    mut rx_in: mpsc::UnboundedReceiver<Msg>,
    mut signals: crate::signals::Signals,
) -> Result<Option<crate::signals::Stop>> {
    let prompts = crate::metrics::Prompts::default();
    let (tx_ev, mut rx_ev) = spawn_token_counter(prompts.clone())?;
    let mut running = Running { tokens: Vec::new() };
    let mut events = Vec::with_capacity(4096);
    let mut inputs = Vec::with_capacity(64);
    let mut last_draw: Option<Instant> = None;
    let mut stopped: Option<crate::signals::Stop> = None;
    // After a quit, requests are cancelled and the loop goes on a moment so their outcomes and
    // the evaluations in flight still reach the journal.
    let mut quitting: Option<Instant> = None;
    loop {
        let now = Instant::now();
        if let Some(deadline) = quitting
            && (!app.settling() || now >= deadline)
        {
            return Ok(stopped);
        }
        // After SIGHUP the terminal is gone: nothing to draw on, but the journal still matters.
        let can_draw = stopped != Some(crate::signals::Stop::Hangup);
        if can_draw && app.dirty && last_draw.is_none_or(|t| now >= t + FRAME) {
            // A terminal that went away (writes fail once the SSH session or tmux pane closed,
            // often before its SIGHUP is handled) is a hang-up: stop as on SIGHUP, so the round
            // in flight is still cancelled and journaled.
            if term.draw(|f| view::draw(f, app, now)).is_err() && stopped.is_none() {
                stopped = Some(crate::signals::Stop::Hangup);
                running.cancel_everything();
                quitting = Some(now + QUIT_GRACE);
            }
            app.dirty = false;
            last_draw = Some(now);
        }
        // Wake for the next frame when a redraw is pending, or to tick a live clock.
        let wake = (app.dirty || app.is_live()).then(|| last_draw.unwrap_or(now) + FRAME);
        let wake = match quitting {
            Some(d) => Some(wake.map_or(d, |w| w.min(d))),
            None => wake,
        };
        let mut effects = VecDeque::new();
        app.wall = session::rfc3339(std::time::SystemTime::now());
        tokio::select! {
            _ = rx_ev.recv_many(&mut events, 4096) => {
                for (ev, counted) in events.drain(..) {
                    effects.extend(app.update(Msg::Stream(ev, counted)));
                }
            }
            n = rx_in.recv_many(&mut inputs, 64) => {
                if n == 0 {
                    bail!("the terminal input reader stopped");
                }
                for m in inputs.drain(..) {
                    effects.extend(app.update(m));
                }
            }
            _ = tokio::time::sleep_until(wake.unwrap_or(now)), if wake.is_some() => {
                effects.extend(app.update(Msg::Tick));
            }
            stop = signals.recv(), if stopped.is_none() => {
                stopped = Some(stop);
                effects.push_back(Effect::Quit);
            }
        }
        while let Some(fx) = effects.pop_front() {
            match fx {
                Effect::Quit => {
                    running.cancel_everything();
                    if quitting.is_none() {
                        quitting = Some(Instant::now() + QUIT_GRACE);
                        app.notice = Some("quitting…".into());
                    }
                }
                Effect::Cancel { run, slot } => running.cancel(run, slot),
                Effect::StartRound { run, models, messages, case } => {
                    running.cancel_everything();
                    // Older rounds' requests have long ended; their context goes (a few are kept
                    // for cancelled requests that report late).
                    ctx.rounds.retain(|&r, _| r + ROUNDS_KEPT > run);
                    ctx.rounds.insert(
                        run,
                        RoundCtx {
                            messages: Arc::new(messages.clone()),
                            evaluators: Arc::new(ctx.round_evaluators(case)),
                            tools: case.and_then(|c| ctx.cases.get(c)).and_then(|c| c.tools.clone()).map(Arc::new),
                        },
                    );
                    // Its prompt is estimated by the counter, before its requests' first events.
                    prompts.lock().unwrap_or_else(|e| e.into_inner()).insert(run, Arc::new(messages.clone()));
                    let case_tools = case.and_then(|c| ctx.cases.get(c)).and_then(|c| c.tools.clone());
                    for (slot, &m) in models.iter().enumerate() {
                        let id = RequestId { run, slot };
                        let token = CancellationToken::new();
                        match ctx.clients.get(m) {
                            Some(Ok(client)) => {
                                let mut req = engine::chat_request(client.spec(), messages.clone());
                                if let Some(t) = &case_tools {
                                    req.tools = t.clone();
                                }
                                client.start(id, req, tx_ev.clone(), token.clone());
                                running.tokens.push((id, token));
                            }
                            Some(Err(e)) => fail_now(&tx_ev, id, e),
                            None => fail_now(&tx_ev, id, "model not found"),
                        }
                    }
                }
                Effect::Journal(e) => {
                    if let Some(w) = &ctx.writer {
                        w.send(*e);
                    }
                }
                Effect::Evaluate { round, result } => {
                    let (messages, evaluators, tools) = match ctx.rounds.get(&round) {
                        Some(r) if r.evaluators.iter().any(|e| !e.is_pairwise()) => {
                            let model_tools = || {
                                let spec = ctx
                                    .clients
                                    .iter()
                                    .flatten()
                                    .map(ModelClient::spec)
                                    .find(|s| s.name == result.model);
                                Arc::new(spec.map(|s| s.tools.clone()).unwrap_or_default())
                            };
                            (r.messages.clone(), r.evaluators.clone(), r.tools.clone().unwrap_or_else(model_tools))
                        }
                        // Nothing to run: answer at once, so no "evaluating…" flashes.
                        _ => {
                            let msg = Msg::Evals { round, model: result.model.clone(), results: Vec::new() };
                            effects.extend(app.update(msg));
                            continue;
                        }
                    };
                    let (judges, tx) = (ctx.judges.clone(), ctx.tx.clone());
                    tokio::spawn(async move {
                        let results = eval::evaluate_response(&evaluators, &judges, &messages, &tools, &result).await;
                        let _ = tx.send(Msg::Evals { round, model: result.model.clone(), results });
                    });
                }
                Effect::RoundDone { round, answers } => {
                    let Some(r) = ctx.rounds.get(&round) else { continue };
                    if answers.len() < 2 || !r.evaluators.iter().any(Evaluator::is_pairwise) {
                        continue;
                    }
                    let (messages, evaluators) = (r.messages.clone(), r.evaluators.clone());
                    let (judges, tx) = (ctx.judges.clone(), ctx.tx.clone());
                    tokio::spawn(async move {
                        let pairs = eval::pairwise_all(&evaluators, &judges, &messages, &answers).await;
                        let _ = tx.send(Msg::Pairwise { round, pairs });
                    });
                }
                Effect::BuildSummary { key, session } => {
                    let tx = ctx.tx.clone();
                    tokio::task::spawn_blocking(move || {
                        let report = Box::new(app::summary_report(&session, key.accept_score));
                        let _ = tx.send(Msg::SummaryBuilt { key, report });
                    });
                }
                Effect::SaveReport(session) => {
                    let (dir, stem, tx) = (ctx.reports.clone(), ctx.stem.clone(), ctx.tx.clone());
                    tokio::task::spawn_blocking(move || {
                        let r = save_report(&session, &dir, &stem)
                            .map(|paths| paths.iter().map(|p| p.display().to_string()).collect())
                            .map_err(|e| format!("{e:#}"));
                        let _ = tx.send(Msg::Saved(r));
                    });
                }
            }
        }
    }
}

/// Builds the report from `session` and writes `<stem>.json/.md/.html` into `dir`.
pub fn save_report(session: &Session, dir: &Path, stem: &str) -> Result<Vec<PathBuf>> {
    let partial = session.rounds.iter().any(|r| !r.is_complete());
    let report = report::build(session, &ReportOptions { partial, ..ReportOptions::default() });
    report::save(&report, dir, stem)
}

/// The network tasks' events reach the UI through a thread that estimates their tokens first
/// ([`TokenCounter`]): the tokenizer never runs on the thread that draws and reads keys. The
/// thread ends when every sender (the driver's and the network tasks' clones) is gone.
#[allow(clippy::type_complexity)]
fn spawn_token_counter(
    prompts: crate::metrics::Prompts,
) -> Result<(UnboundedSender<StreamEvent>, mpsc::UnboundedReceiver<(StreamEvent, Counted)>)> {
    let (tx_raw, mut rx_raw) = mpsc::unbounded_channel::<StreamEvent>();
    let (tx_counted, rx_counted) = mpsc::unbounded_channel();
    std::thread::Builder::new()
        .name("bakeoff-tokens".into())
        .spawn(move || {
            let mut counter = TokenCounter::with_prompts(prompts);
            while let Some(ev) = rx_raw.blocking_recv() {
                let counted = counter.count(&ev);
                if tx_counted.send((ev, counted)).is_err() {
                    break;
                }
            }
        })
        .context("cannot start the token counting thread")?;
    Ok((tx_raw, rx_counted))
}

/// Reports a request that could not even start (its client failed to build) in its pane.
fn fail_now(tx: &UnboundedSender<StreamEvent>, id: RequestId, msg: &str) {
    let e = RequestError::new(ErrorKind::Connect, msg);
    let _ = tx.send(StreamEvent { id, at: Instant::now(), kind: EventKind::Failed(e) });
}

/// Reads terminal events on a plain thread (crossterm's reader blocks) and posts them.
fn spawn_input_thread(tx: UnboundedSender<Msg>, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        while !stop.load(Ordering::SeqCst) {
            match ct::poll(Duration::from_millis(50)) {
                Ok(false) => continue,
                Ok(true) => {}
                Err(_) => break,
            }
            let msg = match ct::read() {
                Ok(ct::Event::Key(k)) => Msg::Key(k),
                Ok(ct::Event::Paste(s)) => Msg::Paste(s),
                Ok(ct::Event::Mouse(m)) => Msg::Mouse(m),
                Ok(ct::Event::Resize(w, h)) => Msg::Resize(w, h),
                Ok(_) => continue,
                Err(_) => break,
            };
            if tx.send(msg).is_err() {
                break;
            }
        }
    })
}

/// True while the terminal is in raw/alternate-screen mode (so the panic hook knows to restore).
static ACTIVE: AtomicBool = AtomicBool::new(false);
static MOUSE: AtomicBool = AtomicBool::new(false);

/// Puts the terminal back as it was. Safe to call more than once.
fn restore_terminal() {
    if !ACTIVE.swap(false, Ordering::SeqCst) {
        return;
    }
    let mut out = std::io::stdout();
    if MOUSE.load(Ordering::SeqCst) {
        let _ = execute!(out, ct::DisableMouseCapture);
    }
    let _ = execute!(out, ct::DisableBracketedPaste, terminal::LeaveAlternateScreen, ratatui::crossterm::cursor::Show);
    let _ = terminal::disable_raw_mode();
}

/// Restores the terminal before the default hook prints the panic, then chains to it.
fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            // A request's panic is caught and becomes its model's error; the TUI keeps running.
            if !crate::panics::caught_here() {
                restore_terminal();
            }
            prev(info);
        }));
    });
}

/// Owns the terminal while the TUI runs; dropping it restores the terminal.
struct Guard {
    terminal: Term,
}

impl Guard {
    fn enter(mouse: bool) -> Result<Guard> {
        terminal::enable_raw_mode().context("cannot switch the terminal to raw mode")?;
        ACTIVE.store(true, Ordering::SeqCst);
        MOUSE.store(mouse, Ordering::SeqCst);
        let mut out = std::io::stdout();
        let entered = execute!(out, terminal::EnterAlternateScreen, ct::EnableBracketedPaste)
            .and_then(|_| if mouse { execute!(out, ct::EnableMouseCapture) } else { Ok(()) });
        if let Err(e) = entered {
            restore_terminal();
            return Err(e).context("cannot set up the terminal");
        }
        match ratatui::Terminal::new(CrosstermBackend::new(std::io::stdout())) {
            Ok(terminal) => Ok(Guard { terminal }),
            Err(e) => {
                restore_terminal();
                Err(e).context("cannot set up the terminal")
            }
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.terminal.show_cursor();
        restore_terminal();
    }
}
