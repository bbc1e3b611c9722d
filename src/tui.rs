//! The interactive terminal UI: one prompt, several models, one live pane each.
//!
//! Shape (see ARCHITECTURE.md): network tasks stamp their own events and send them over a
//! channel; an input thread turns terminal events into messages; the driver ([`driver`]) drains
//! everything queued, folds it through the pure [`app::App::update`], carries out the returned
//! [`app::Effect`]s, and draws at most once per frame (~30 fps) — only when something changed or
//! a live pane's clock has to tick. This file wires the real terminal (guard, panic hook, input
//! thread, signals) to it. Nothing here measures time for the metrics: every figure comes from
//! the stamped events.
//!
//! Only this module (and its children) touch ratatui or crossterm.

pub mod app;
pub mod conversation;
pub mod driver;
pub mod keymap;
pub mod layout;
pub mod load_view;
pub mod pane_state;
pub mod theme;
pub mod view;
pub mod wrap;

#[cfg(test)]
mod tests;

use crate::cases::Case;
use crate::config::ModelSpec;
use crate::engine::ModelClient;
use crate::eval::EvaluatorSpec;
use crate::event::StreamEvent;
use crate::metrics::{Counted, TokenCounter};
use crate::report::{self, ReportOptions};
use crate::session::{self, Environment, Journal, JournalWriter, Session};
use anyhow::{Context as _, Result, bail};
use app::{App, Msg};
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::{event as ct, execute, terminal};
use std::collections::{HashMap, HashSet};
use std::io::{IsTerminal, Stdout};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::mpsc::{self, UnboundedSender};

pub use driver::FRAME;

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
    /// The embedding model of `similarity` evaluators (the config's `embedder`).
    pub embedder: Option<ModelSpec>,
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
    /// The results history the session is recorded in (`None`: not recorded).
    pub history: Option<crate::history::Location>,
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
    let clients = driver::Clients::build_in_background(opts.models.clone());
    // Everything that can fail on bad input fails here, before the terminal is taken over.
    let (cases, cases_dir) = load_cases(&opts, &mut app)?;
    let graders = crate::eval::Graders {
        judges: judge_clients(&opts, &cases),
        // One that cannot be built is said on the status line (its evaluators then say there is
        // no embedder).
        embedder: opts.embedder.clone().and_then(|e| match crate::embedder::Embedder::new(e) {
            Ok(e) => Some(e),
            Err(e) => {
                app.notice = Some(crate::sanitize::one_line(&crate::redact::redact_owned(format!("{e:#}"))));
                None
            }
        }),
    };
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
    let writer = {
        // The session's rounds, results and scores also go to the results history as they are
        // journaled; trouble there is a notice, never a stop.
        let mut sinks: Vec<Box<dyn crate::session::EntrySink>> = Vec::new();
        if let Some(db) = &opts.history {
            let meta = crate::history::RunMeta::for_journal(&app.session, &journal_path, None);
            let notify = tx_in.clone();
            sinks.push(Box::new(crate::history::Recorder::start(db, &meta, move |e| {
                let _ = notify.send(Msg::Notice(format!("{e:#}")));
            })));
        }
        let notify = tx_in.clone();
        JournalWriter::spawn_with(journal, sinks, move |e| {
            let _ = notify.send(Msg::Notice(format!("journal write failed: {e:#}")));
        })
    };
    let prompts = crate::metrics::Prompts::default();
    let (tx_ev, rx_ev) = spawn_token_counter(prompts.clone())?;
    let mut ctx = driver::Ctx::new(
        clients,
        graders,
        (opts.evaluators.clone(), opts.evaluators_dir.clone()),
        (cases, cases_dir),
        Some(writer),
        (reports, stem),
        tx_in,
        tx_ev,
        prompts,
    );
    ctx.history = opts.history.clone();
    let requests = RequestRuntime::start()?;
    ctx.run_requests_on(requests.handle());
    let mut signals = crate::signals::Signals::new().context("cannot listen for signals")?;
    let (tx_stop, rx_stop) = mpsc::unbounded_channel();
    let forward_signals = tokio::spawn(async move {
        loop {
            let stop = signals.recv().await;
            if tx_stop.send(stop).is_err() {
                break;
            }
        }
    });
    let inputs = driver::Inputs { events: rx_ev, msgs: rx_in, stops: rx_stop };
    let terminal = &mut term.terminal;
    let result =
        driver::drive(&mut app, &mut ctx, inputs, |app, now| draw_synchronized(terminal, |f| view::draw(f, app, now)))
            .await
            .map(|o| o.stop);
    forward_signals.abort();
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

/// `--cases FILE`: its cases and directory (where their schema files are found). Cases that
/// cannot be read are skipped with a notice; a file with none readable is an error.
fn load_cases(opts: &TuiOptions, app: &mut App) -> Result<(Vec<Case>, PathBuf)> {
    let Some(path) = &opts.cases else { return Ok((Vec::new(), PathBuf::from("."))) };
    let set = crate::cases::load(path)?;
    if set.cases.is_empty() && !set.errors.is_empty() {
        bail!("no case in {} could be read: {}", path.display(), set.errors[0]);
    }
    if let Some(e) = set.errors.first() {
        let more = if set.errors.len() > 1 { format!(" (+{} more)", set.errors.len() - 1) } else { String::new() };
        app.notice = Some(crate::sanitize::one_line(&format!("case skipped: {e}{more}")));
    } else if let Some(w) = set.ignored_warning(path) {
        app.notice = Some(crate::sanitize::one_line(&w));
    }
    Ok((set.cases, path.parent().map(Path::to_path_buf).unwrap_or_default()))
}

/// Clients for every judge model named by the session's or the cases' evaluators.
fn judge_clients(opts: &TuiOptions, cases: &[Case]) -> HashMap<String, ModelClient> {
    let wanted: HashSet<&str> = opts
        .evaluators
        .iter()
        .chain(cases.iter().flat_map(|c| &c.evaluators))
        .flat_map(EvaluatorSpec::judge_models)
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

/// The runtime the requests run on, apart from the one that draws, reads keys and evaluates: a
/// request's task is woken the moment its socket is readable and stamps what it read then, never
/// after a frame, an evaluator or a report build that happened to hold the same worker.
struct RequestRuntime(Option<tokio::runtime::Runtime>);

impl RequestRuntime {
    fn start() -> Result<RequestRuntime> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("bakeoff-requests")
            .enable_all()
            .build()
            .context("cannot start the requests' runtime")?;
        Ok(RequestRuntime(Some(rt)))
    }

    fn handle(&self) -> tokio::runtime::Handle {
        match &self.0 {
            Some(rt) => rt.handle().clone(),
            None => tokio::runtime::Handle::current(),
        }
    }
}

impl Drop for RequestRuntime {
    /// Without waiting: this runs inside the main runtime, where a blocking drop would panic. By
    /// then every request has ended or been cancelled.
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

type Term = ratatui::Terminal<CrosstermBackend<Stdout>>;

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

/// Draws one frame as one synchronized update: terminals that support it (most, and tmux) show
/// the frame whole, without tearing over slow links; others ignore the sequences.
fn draw_synchronized(term: &mut Term, frame: impl FnOnce(&mut ratatui::Frame)) -> std::io::Result<()> {
    execute!(term.backend_mut(), terminal::BeginSynchronizedUpdate)?;
    let drawn = term.draw(frame).map(|_| ());
    execute!(term.backend_mut(), terminal::EndSynchronizedUpdate)?;
    drawn
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
