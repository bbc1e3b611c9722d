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

use crate::config::ModelSpec;
use crate::engine::{self, ModelClient};
use crate::event::{EventKind, RequestId, StreamEvent};
use crate::provider::{ErrorKind, RequestError};
use anyhow::{Context as _, Result, bail};
use app::{App, Effect, Msg};
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::{event as ct, execute, terminal};
use std::io::{IsTerminal, Stdout};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::mpsc::{self, UnboundedSender};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Frame budget: at most one draw per this interval (~30 fps).
pub const FRAME: Duration = Duration::from_millis(33);

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
}

/// Builds the app state for `opts` (themes loaded, initial theme chosen).
pub fn new_app(opts: &TuiOptions) -> Result<App> {
    let user_dir = crate::config::default_config_dir().map(|d| d.join("themes"));
    let (themes, problems) = theme::load_all(user_dir.as_deref());
    let idx = theme::initial(&themes, opts.theme.as_deref(), theme::no_color_env())?;
    let mut app = App::new(opts.models.clone(), opts.demo, opts.system.clone(), themes, idx);
    app.mouse = opts.mouse;
    if let Some(p) = problems.first() {
        app.notice = Some(crate::sanitize::one_line(p));
    }
    Ok(app)
}

/// Runs the TUI on the current tokio runtime until the user quits. Refuses (Err with a helpful
/// message naming `bakeoff run`) when stdout is not a terminal.
pub async fn run(opts: TuiOptions) -> Result<()> {
    if !std::io::stdout().is_terminal() {
        bail!(
            "stdout is not a terminal, so the interactive view cannot start; \
             for scripts and pipes use `bakeoff run --prompt \"...\"` instead"
        );
    }
    // The token estimator loads its vocabulary on first use (~1 s); do that off the UI thread now
    // rather than freezing the screen on the first Enter.
    std::thread::spawn(|| crate::tokens::estimate("warm up"));
    let mut app = new_app(&opts)?;
    let clients: Vec<Result<ModelClient, String>> =
        opts.models.iter().map(|s| ModelClient::new(s.clone()).map_err(|e| format!("{e:#}"))).collect();
    install_panic_hook();
    let mut term = Guard::enter(opts.mouse)?;
    let (tx_in, rx_in) = mpsc::unbounded_channel();
    let stop = Arc::new(AtomicBool::new(false));
    let input = spawn_input_thread(tx_in, stop.clone());
    let size = term.terminal.size()?;
    app.update(Msg::Resize(size.width, size.height));
    let result = drive(&mut term.terminal, &mut app, &clients, rx_in).await;
    stop.store(true, Ordering::SeqCst);
    drop(term); // restores the terminal before the caller prints anything
    // The input thread polls with a short timeout and notices `stop`.
    let _ = input.join();
    result
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

async fn drive(
    term: &mut Term,
    app: &mut App,
    clients: &[Result<ModelClient, String>],
    mut rx_in: mpsc::UnboundedReceiver<Msg>,
) -> Result<()> {
    let (tx_ev, mut rx_ev) = mpsc::unbounded_channel::<StreamEvent>();
    let mut running = Running { tokens: Vec::new() };
    let mut events = Vec::with_capacity(4096);
    let mut inputs = Vec::with_capacity(64);
    let mut last_draw: Option<Instant> = None;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        let now = Instant::now();
        if app.dirty && last_draw.is_none_or(|t| now >= t + FRAME) {
            term.draw(|f| view::draw(f, app, now)).context("cannot draw to the terminal")?;
            app.dirty = false;
            last_draw = Some(now);
        }
        // Wake for the next frame when a redraw is pending, or to tick a live clock.
        let wake = (app.dirty || app.is_live()).then(|| last_draw.unwrap_or(now) + FRAME);
        let mut effects = Vec::new();
        tokio::select! {
            _ = rx_ev.recv_many(&mut events, 4096) => {
                for ev in events.drain(..) {
                    effects.extend(app.update(Msg::Stream(ev)));
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
            _ = &mut ctrl_c => effects.push(Effect::Quit),
        }
        for fx in effects {
            match fx {
                Effect::Quit => {
                    running.cancel_everything();
                    return Ok(());
                }
                Effect::Cancel { run, slot } => running.cancel(run, slot),
                Effect::StartRound { run, models, messages } => {
                    running.cancel_everything();
                    for (slot, &m) in models.iter().enumerate() {
                        let id = RequestId { run, slot };
                        let token = CancellationToken::new();
                        match clients.get(m) {
                            Some(Ok(client)) => {
                                let req = engine::chat_request(client.spec(), messages.clone());
                                client.start(id, req, tx_ev.clone(), token.clone());
                                running.tokens.push((id, token));
                            }
                            Some(Err(e)) => fail_now(&tx_ev, id, e),
                            None => fail_now(&tx_ev, id, "model not found"),
                        }
                    }
                }
            }
        }
    }
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
            restore_terminal();
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
