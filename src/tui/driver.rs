//! The event loop that carries the app's effects out: it drains everything queued (stream events,
//! keys, background results, signals), folds each through [`App::update`], executes the returned
//! [`Effect`]s, and draws at most once per frame — only when something changed or a live pane's
//! clock has to tick.
//!
//! It knows no terminal: it draws through a closure and reads its inputs from channels, so tests
//! drive it on tokio's paused clock with ratatui's `TestBackend` ([`super::run`] wires the real
//! terminal, the input thread, the token counter and the signals).

use super::app::{self, App, Effect, Msg};
use crate::cases::Case;
use crate::engine::{self, ModelClient};
use crate::eval::{self, Evaluator, EvaluatorSpec};
use crate::event::{EventKind, RequestId, StreamEvent};
use crate::metrics::{Counted, Prompts};
use crate::provider::{ErrorKind, Message, RequestError};
use crate::session::JournalWriter;
use crate::signals::Stop;
use anyhow::{Result, bail};
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Frame budget: at most one draw per this interval (~30 fps).
pub const FRAME: Duration = Duration::from_millis(33);

/// Longest wait on quit for cancelled requests and evaluations to reach the journal.
pub const QUIT_GRACE: Duration = Duration::from_secs(3);

/// Rounds whose context (conversation, evaluators, tools) the driver keeps for late results.
const ROUNDS_KEPT: u64 = 8;

/// When to draw and when to wake: a pure function of the last draw, the time, and whether the
/// app has something new (`dirty`) or a live clock (`live`).
#[derive(Clone, Copy, Debug, Default)]
pub struct FrameClock {
    last_draw: Option<Instant>,
}

impl FrameClock {
    /// Draw when something changed and a frame's time has passed since the last draw.
    pub fn should_draw(&self, now: Instant, dirty: bool) -> bool {
        dirty && self.last_draw.is_none_or(|t| now >= t + FRAME)
    }

    /// When to wake without input: at the next frame while a redraw is pending or a clock runs;
    /// never when idle.
    pub fn next_wake(&self, now: Instant, dirty: bool, live: bool) -> Option<Instant> {
        (dirty || live).then(|| self.last_draw.unwrap_or(now) + FRAME)
    }

    pub fn drew(&mut self, now: Instant) {
        self.last_draw = Some(now);
    }
}

/// What one round's evaluations need.
struct RoundCtx {
    messages: Arc<Vec<Message>>,
    evaluators: Arc<Vec<Evaluator>>,
    /// The case's own tools (else each model's), for tool-call checks.
    tools: Option<Arc<crate::provider::tools::Tools>>,
    /// The case the round asks (its later turns ask it too).
    case: Option<usize>,
}

/// Everything the effects need besides the app.
/// The models' clients, one per model of the app's list in its order (a client that could not be
/// built is its error, shown in that model's pane when it takes part). Building one reads the
/// platform's root certificates (a few ms each, ~150 files on Linux): the TUI builds them on a
/// thread of its own while its first frame draws, and the first use waits for them.
pub enum Clients {
    Ready(Vec<Result<ModelClient, String>>),
    Building { models: usize, thread: std::thread::JoinHandle<Vec<Result<ModelClient, String>>> },
}

impl Clients {
    pub fn build_in_background(specs: Vec<crate::config::ModelSpec>) -> Clients {
        let models = specs.len();
        let thread = std::thread::spawn(move || {
            specs.into_iter().map(|s| ModelClient::new(s).map_err(|e| format!("{e:#}"))).collect()
        });
        Clients::Building { models, thread }
    }

    /// The clients, once built.
    pub fn ready(&mut self) -> &[Result<ModelClient, String>] {
        if let Clients::Building { .. } = self
            && let Clients::Building { models, thread } = std::mem::replace(self, Clients::Ready(Vec::new()))
        {
            let built = thread.join().unwrap_or_else(|_| {
                (0..models).map(|_| Err("internal error: building the HTTP client panicked".to_string())).collect()
            });
            *self = Clients::Ready(built);
        }
        match self {
            Clients::Ready(c) => c,
            Clients::Building { .. } => &[],
        }
    }
}

impl From<Vec<Result<ModelClient, String>>> for Clients {
    fn from(c: Vec<Result<ModelClient, String>>) -> Clients {
        Clients::Ready(c)
    }
}

pub struct Ctx {
    pub clients: Clients,
    /// Judges and the embedder the evaluators call.
    pub graders: Arc<eval::Graders>,
    pub evaluators: Vec<EvaluatorSpec>,
    pub evaluators_dir: PathBuf,
    pub cases: Vec<Case>,
    pub cases_dir: PathBuf,
    pub writer: Option<JournalWriter>,
    pub reports: PathBuf,
    pub stem: String,
    /// Results of background work come back as messages on the input channel.
    pub tx: UnboundedSender<Msg>,
    /// Where requests send their stamped events (the token counter in front of the loop).
    pub events: UnboundedSender<StreamEvent>,
    /// Round conversations the token counter estimates prompts from.
    pub prompts: Prompts,
    /// The results history (`None`: not recorded, nothing to show on `H`).
    pub history: Option<crate::history::Location>,
    /// Where the requests run: the TUI gives them a runtime of their own
    /// ([`Self::run_requests_on`]), so drawing and evaluations never hold up their stamps.
    requests: tokio::runtime::Handle,
    rounds: HashMap<u64, RoundCtx>,
    running: Vec<(RequestId, CancellationToken)>,
}

impl Ctx {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        clients: Clients,
        graders: eval::Graders,
        evaluators: (Vec<EvaluatorSpec>, PathBuf),
        cases: (Vec<Case>, PathBuf),
        writer: Option<JournalWriter>,
        reports: (PathBuf, String),
        tx: UnboundedSender<Msg>,
        events: UnboundedSender<StreamEvent>,
        prompts: Prompts,
    ) -> Ctx {
        Ctx {
            clients,
            graders: Arc::new(graders),
            evaluators: evaluators.0,
            evaluators_dir: evaluators.1,
            cases: cases.0,
            cases_dir: cases.1,
            writer,
            reports: reports.0,
            stem: reports.1,
            tx,
            events,
            history: None,
            prompts,
            requests: tokio::runtime::Handle::current(),
            rounds: HashMap::new(),
            running: Vec::new(),
        }
    }

    /// Runs the requests on `runtime` instead of the caller's.
    pub fn run_requests_on(&mut self, runtime: tokio::runtime::Handle) {
        self.requests = runtime;
    }

    fn round_evaluators(&self, case: Option<usize>) -> Vec<Evaluator> {
        match case.and_then(|c| self.cases.get(c)) {
            Some(c) => c.evaluators_with(&self.evaluators, &self.cases_dir),
            None => eval::compile_all(&self.evaluators, &self.evaluators_dir),
        }
    }

    fn cancel(&mut self, run: u64, slot: Option<usize>) {
        for (id, t) in &self.running {
            if id.run == run && slot.is_none_or(|s| s == id.slot) {
                t.cancel();
            }
        }
    }

    pub fn cancel_everything(&mut self) {
        self.running.iter().for_each(|(_, t)| t.cancel());
        self.running.clear();
    }
}

/// Where the loop's inputs come from.
pub struct Inputs {
    /// Stamped stream events with their token counts.
    pub events: UnboundedReceiver<(StreamEvent, Counted)>,
    /// Keys, pastes, resizes, and background results.
    pub msgs: UnboundedReceiver<Msg>,
    /// Signals (SIGINT, SIGTERM, SIGHUP).
    pub stops: UnboundedReceiver<Stop>,
}

/// How the loop ended, and what it did.
#[derive(Debug, Default)]
pub struct Outcome {
    /// The signal that stopped it, if one did.
    pub stop: Option<Stop>,
    /// Frames drawn.
    pub frames: u64,
    /// Times the loop woke (an input batch, a frame timer, a signal).
    pub wakeups: u64,
}

/// The quit state: after a quit, requests are cancelled and the loop goes on a moment so their
/// outcomes and the evaluations in flight still reach the journal.
#[derive(Debug, Default)]
struct Quit {
    deadline: Option<Instant>,
    stopped: Option<Stop>,
}

/// Runs until the user quits (or a signal stops it and the grace period ends). `draw` paints one
/// frame; an error from it means the terminal went away (handled as a hang-up).
pub async fn drive(
    app: &mut App,
    ctx: &mut Ctx,
    mut inputs: Inputs,
    mut draw: impl FnMut(&App, Instant) -> std::io::Result<()>,
) -> Result<Outcome> {
    let mut clock = FrameClock::default();
    let mut quit = Quit::default();
    let mut out = Outcome::default();
    let mut events = Vec::with_capacity(4096);
    let mut msgs = Vec::with_capacity(64);
    let mut stops_open = true;
    loop {
        let now = Instant::now();
        if let Some(deadline) = quit.deadline
            && (!app.settling() || now >= deadline)
        {
            out.stop = quit.stopped;
            return Ok(out);
        }
        // After SIGHUP the terminal is gone: nothing to draw on, but the journal still matters.
        let can_draw = quit.stopped != Some(Stop::Hangup);
        if can_draw && clock.should_draw(now, app.dirty) {
            // A terminal that went away (writes fail once the SSH session or tmux pane closed,
            // often before its SIGHUP is handled) is a hang-up: stop as on SIGHUP, so the round
            // in flight is still cancelled and journaled.
            if draw(app, now).is_err() && quit.stopped.is_none() {
                quit.stopped = Some(Stop::Hangup);
                ctx.cancel_everything();
                quit.deadline = Some(now + QUIT_GRACE);
            }
            out.frames += 1;
            app.dirty = false;
            clock.drew(now);
        }
        let wake = clock.next_wake(now, app.dirty, app.is_live());
        let wake = match quit.deadline {
            Some(d) => Some(wake.map_or(d, |w| w.min(d))),
            None => wake,
        };
        let mut effects = VecDeque::new();
        app.wall = crate::session::rfc3339(std::time::SystemTime::now());
        tokio::select! {
            _ = inputs.events.recv_many(&mut events, 4096) => {
                for (ev, counted) in events.drain(..) {
                    effects.extend(app.update(Msg::Stream(ev, counted)));
                }
            }
            n = inputs.msgs.recv_many(&mut msgs, 64) => {
                if n == 0 {
                    bail!("the terminal input reader stopped");
                }
                for m in msgs.drain(..) {
                    effects.extend(app.update(m));
                }
            }
            _ = tokio::time::sleep_until(wake.unwrap_or(now)), if wake.is_some() => {
                effects.extend(app.update(Msg::Tick));
            }
            stop = inputs.stops.recv(), if stops_open && quit.stopped.is_none() => match stop {
                Some(stop) => {
                    quit.stopped = Some(stop);
                    effects.push_back(Effect::Quit);
                }
                None => stops_open = false,
            },
        }
        out.wakeups += 1;
        while let Some(fx) = effects.pop_front() {
            if let Effect::Quit = fx {
                ctx.cancel_everything();
                if quit.deadline.is_none() {
                    quit.deadline = Some(Instant::now() + QUIT_GRACE);
                    app.notice = Some("quitting…".into());
                }
                continue;
            }
            execute(fx, app, ctx, &mut effects);
        }
    }
}

/// Carries out one effect. Work that takes time (requests, evaluations, reports) is spawned and
/// answers later with a message; an answer that is due at once is folded here, its effects queued.
pub fn execute(fx: Effect, app: &mut App, ctx: &mut Ctx, effects: &mut VecDeque<Effect>) {
    match fx {
        Effect::Quit => ctx.cancel_everything(),
        Effect::Cancel { run, slot } => ctx.cancel(run, slot),
        Effect::ContinueTurn { run, slot, model, messages } => {
            let case = ctx.rounds.get(&run).and_then(|r| r.case);
            let _requests = ctx.requests.enter();
            start_one(ctx, RequestId { run, slot }, model, messages, case);
        }
        Effect::StartRound { run, models, messages, case, context } => {
            start_round(ctx, run, &models, messages, case, &context)
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
                            .ready()
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
                    effects.extend(app.update(Msg::Evals { round, model: result.model.clone(), results: Vec::new() }));
                    return;
                }
            };
            let (graders, tx) = (ctx.graders.clone(), ctx.tx.clone());
            tokio::spawn(async move {
                let results = eval::evaluate_response(&evaluators, &graders, &messages, &tools, &result).await;
                let _ = tx.send(Msg::Evals { round, model: result.model.clone(), results });
            });
        }
        Effect::RoundDone { round, answers } => {
            let Some(r) = ctx.rounds.get(&round) else { return };
            if answers.len() < 2 || !r.evaluators.iter().any(Evaluator::is_pairwise) {
                return;
            }
            let (messages, evaluators) = (r.messages.clone(), r.evaluators.clone());
            let (graders, tx) = (ctx.graders.clone(), ctx.tx.clone());
            tokio::spawn(async move {
                let pairs = eval::pairwise_all(&evaluators, &graders, &messages, &answers).await;
                let _ = tx.send(Msg::Pairwise { round, pairs });
            });
        }
        Effect::LoadHistory { models } => {
            let (db, tx) = (ctx.history.clone(), ctx.tx.clone());
            tokio::task::spawn_blocking(move || {
                let text = match db {
                    None => {
                        Err("the results history is off for this session (--no-history, or history = false)".into())
                    }
                    Some(db) => crate::history::Store::open(&db)
                        .and_then(|store| crate::history::trend::overview(&store, &models))
                        .map_err(|e| format!("{e:#}")),
                };
                let _ = tx.send(Msg::HistoryLoaded(text));
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
                let r = super::save_report(&session, &dir, &stem)
                    .map(|paths| paths.iter().map(|p| p.display().to_string()).collect())
                    .map_err(|e| format!("{e:#}"));
                let _ = tx.send(Msg::Saved(r));
            });
        }
    }
}

/// Starts one request per model of round `run` (cancelling the round before).
fn start_round(
    ctx: &mut Ctx,
    run: u64,
    models: &[usize],
    messages: Vec<Message>,
    case: Option<usize>,
    context: &[Vec<Message>],
) {
    ctx.cancel_everything();
    // Older rounds' requests have long ended; their context goes (a few are kept for cancelled
    // requests that report late).
    ctx.rounds.retain(|&r, _| r + ROUNDS_KEPT > run);
    let case_tools = case.and_then(|c| ctx.cases.get(c)).and_then(|c| c.tools.clone());
    ctx.rounds.insert(
        run,
        RoundCtx {
            messages: Arc::new(messages.clone()),
            evaluators: Arc::new(ctx.round_evaluators(case)),
            tools: case_tools.map(Arc::new),
            case,
        },
    );
    // Its prompt is estimated by the counter, before its requests' first events.
    ctx.prompts.lock().unwrap_or_else(|e| e.into_inner()).insert(run, Arc::new(messages.clone()));
    // The requests' tasks (and the connections their clients open) go to the requests' runtime.
    let _requests = ctx.requests.enter();
    for (slot, &m) in models.iter().enumerate() {
        // Each model's own earlier turns of the conversation, if any.
        let sent = match context.get(slot) {
            Some(c) => crate::tui::conversation::with_context(&messages, c),
            None => messages.clone(),
        };
        start_one(ctx, RequestId { run, slot }, m, sent, case);
    }
}

/// Starts one model's request (on the requests' runtime, which the caller has entered).
fn start_one(ctx: &mut Ctx, id: RequestId, model: usize, messages: Vec<Message>, case: Option<usize>) {
    let token = CancellationToken::new();
    match ctx.clients.ready().get(model) {
        Some(Ok(client)) => {
            let mut req = engine::chat_request(client.spec(), messages);
            if let Some(c) = case.and_then(|c| ctx.cases.get(c)) {
                c.apply_to(&mut req);
            }
            client.start(id, req, ctx.events.clone(), token.clone());
            ctx.running.push((id, token));
        }
        Some(Err(e)) => fail_now(&ctx.events, id, e),
        None => fail_now(&ctx.events, id, "model not found"),
    }
}

/// Reports a request that could not even start (its client failed to build) in its pane.
fn fail_now(tx: &UnboundedSender<StreamEvent>, id: RequestId, msg: &str) {
    let e = RequestError::new(ErrorKind::Connect, msg);
    let _ = tx.send(StreamEvent { id, at: Instant::now(), kind: EventKind::Failed(e) });
}
