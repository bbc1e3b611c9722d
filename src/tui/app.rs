//! The TUI's state machine: `App::update(msg) -> Vec<Effect>`.
//!
//! Everything that can happen arrives as a [`Msg`] (a key, a paste, a resize, a stamped stream
//! event, a clock tick); `update` changes state and returns what must be done outside as
//! [`Effect`]s (start a round, cancel requests, quit). It does no I/O and reads no clock, so tests
//! drive the very same path the real app runs, with no runtime and no terminal.

mod rate;

pub use rate::{BlindRound, PaneRating, letter};

use super::conversation::Conversation;
use super::keymap::{self, Action, Context};
use super::layout::{self, Screen, Shape};
use super::pane_state::{Pane, Scroll};
use super::theme::Theme;
use crate::cases::Case;
use crate::config::ModelSpec;
use crate::event::StreamEvent;
use crate::metrics::{Counted, RequestMetrics, RequestResult};
use crate::provider::{Message, Role};
use crate::report::{self, Report, ReportOptions};
use crate::sanitize;
use crate::session::{Entry, EvalResult, Pairwise, Session};
use crate::tokens;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEvent, MouseEventKind};
use ratatui::layout::{Position, Rect};
use ratatui_textarea::{TextArea, WrapMode};

/// Everything that can happen to the app.
/// Prompts up to this size are estimated at once when a round starts (a few milliseconds of
/// BPE at most); larger ones only by the token counting thread.
const SMALL_PROMPT_BYTES: usize = 16 * 1024;

#[derive(Clone, Debug)]
pub enum Msg {
    Key(KeyEvent),
    Paste(String),
    Mouse(MouseEvent),
    Resize(u16, u16),
    /// A network event with its token estimates, counted off this thread ([`TokenCounter`]; a
    /// default `Counted` has the fold count them itself).
    ///
    /// [`TokenCounter`]: crate::metrics::TokenCounter
    Stream(StreamEvent, Counted),
    /// A streaming pane's clock needs redrawing.
    Tick,
    /// Evaluator verdicts on one response (from the driver, after [`Effect::Evaluate`]).
    Evals {
        round: u64,
        model: String,
        results: Vec<EvalResult>,
    },
    /// Pairwise judge verdicts for a round (after [`Effect::RoundDone`]).
    Pairwise {
        round: u64,
        pairs: Vec<Result<Pairwise, String>>,
    },
    /// A report save finished: the files written, or why not.
    Saved(Result<Vec<String>, String>),
    /// A one-line message for the status bar (e.g. a journal write failed).
    Notice(String),
    /// The summary's report, built off the UI thread for [`Effect::BuildSummary`].
    SummaryBuilt {
        key: SummaryKey,
        report: Box<Report>,
    },
    /// The history popup's text (after [`Effect::LoadHistory`]).
    HistoryLoaded(Result<String, String>),
}

/// What a summary report was built from: the session's revision and the accept score.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SummaryKey {
    pub session_rev: u64,
    pub accept_score: u8,
}

/// The report the summary shows: built like a saved one, without a generation time.
pub fn summary_report(session: &Session, accept_score: u8) -> Report {
    let opts = ReportOptions { accept_score, generated_at: Some(String::new()), ..Default::default() };
    report::build(session, &opts)
}

/// What the driver must do for the app.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Start round `run`: one request per model; `models[slot]` indexes the model list, and the
    /// request for slot `i` uses `RequestId { run, slot: i }`.
    StartRound {
        run: u64,
        models: Vec<usize>,
        messages: Vec<Message>,
        /// The case this round asks (index into the loaded cases), for its evaluators.
        case: Option<usize>,
        /// Per slot, the model's earlier turns of the conversation, sent after the system
        /// prompt and before `messages`' turns (empty: none, or a conversation's first turn).
        context: Vec<Vec<Message>>,
    },
    /// A multi-turn case goes on for one model: ask `messages` (its own conversation so far
    /// and the next follow-up) in `slot` of round `run`.
    ContinueTurn {
        run: u64,
        slot: usize,
        model: usize,
        messages: Vec<Message>,
    },
    /// Cancel one slot of a round, or all of it (`slot: None`).
    Cancel {
        run: u64,
        slot: Option<usize>,
    },
    Quit,
    /// Append this entry to the session journal (already applied to `App::session`).
    Journal(Box<Entry>),
    /// Run the round's evaluators on a finished response and answer with [`Msg::Evals`].
    Evaluate {
        round: u64,
        result: Box<RequestResult>,
    },
    /// Every pane of the round has ended: run pairwise judges, if any, and answer with
    /// [`Msg::Pairwise`]. `answers` are (model, text) of the successful responses.
    RoundDone {
        round: u64,
        answers: Vec<(String, String)>,
    },
    /// Build the report from this session and save it; answer with [`Msg::Saved`].
    SaveReport(Box<Session>),
    /// Build the summary's report from this session (off the UI thread: with case rounds its
    /// bootstraps take hundreds of milliseconds) and answer with [`Msg::SummaryBuilt`].
    BuildSummary {
        key: SummaryKey,
        session: Box<Session>,
    },
    /// Read the results history's trends for `models` (off the UI thread) and answer with
    /// [`Msg::HistoryLoaded`].
    LoadHistory {
        models: Vec<String>,
    },
}

/// A popup that takes the keys while it is open.
#[derive(Debug)]
pub enum Popup {
    Help {
        scroll: u16,
    },
    Picker {
        cursor: usize,
        checked: Vec<bool>,
    },
    System(Box<TextArea<'static>>),
    /// One-line note on the answer in `slot` of the current round.
    Note {
        slot: usize,
        editor: Box<TextArea<'static>>,
    },
    /// Ratings were given since the last save: save and quit / quit / cancel.
    Quit,
    /// Evaluator details of the answer in `slot`.
    Details {
        slot: usize,
        scroll: u16,
    },
    /// The results history's trends for the models on screen: loading (`None`), the text, or
    /// why there is none.
    History {
        scroll: u16,
        text: Option<Result<String, String>>,
    },
}

/// Running sum of costs over finished rounds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CostSum {
    pub known: f64,
    /// Some request's price was unknown: `known` is a lower bound.
    pub unknown: bool,
    /// Some count is still an estimate.
    pub estimated: bool,
    /// Requests counted.
    pub requests: usize,
}

impl CostSum {
    /// A request still waiting for its answer adds nothing yet (nothing is known to be billed);
    /// once it ends it counts the way the report counts it: a failed or cancelled request costs
    /// what its prompt (and any output) did, one that never reached the model costs $0.
    fn add(&mut self, m: &RequestMetrics) {
        if !m.phase.is_finished() && m.first_token.is_none() && m.usage.is_none() {
            return;
        }
        self.requests += 1;
        match m.cost() {
            Some(c) => self.known += c,
            None => self.unknown = true,
        }
        if m.tokens_estimated() {
            self.estimated = true;
        }
    }

    /// A journaled result (on resume), counted like a live pane's metrics.
    pub fn add_result(&mut self, r: &RequestResult) {
        self.requests += 1;
        match r.cost_usd {
            Some(c) => self.known += c,
            None => self.unknown = true,
        }
        if r.tokens_estimated {
            self.estimated = true;
        }
    }

    /// `$0.0012`, `~$0.0012` (estimated), `≥$0.0012` (some unknown), `$—` (nothing known).
    pub fn label(&self) -> String {
        if self.requests == 0 {
            return crate::format::usd(Some(0.0));
        }
        if self.unknown && self.known == 0.0 {
            return "$—".into();
        }
        let v = crate::format::usd(Some(self.known));
        match (self.unknown, self.estimated) {
            (true, _) => format!("≥{v}"),
            (false, true) => format!("~{v}"),
            (false, false) => v,
        }
    }
}

pub struct App {
    pub models: Vec<ModelSpec>,
    /// Which models take part in the next round.
    pub selected: Vec<bool>,
    pub demo: bool,
    pub system: Option<String>,
    pub themes: Vec<Theme>,
    pub theme: usize,
    pub mouse: bool,
    /// Terminal size (columns, rows).
    pub size: (u16, u16),
    pub editor: TextArea<'static>,
    pub editor_focused: bool,
    /// The focused pane (remembered while the editor has focus).
    pub pane_focus: usize,
    pub zoom: bool,
    pub popup: Option<Popup>,
    pub show_reasoning: bool,
    pub history: Vec<String>,
    /// Position while browsing history; `None` when editing a fresh draft.
    history_pos: Option<usize>,
    draft: Vec<String>,
    /// The current round number (0 before the first).
    pub round: u64,
    pub last_prompt: Option<String>,
    pub panes: Vec<Pane>,
    /// Costs of the rounds before the current one.
    pub past_cost: CostSum,
    /// One-line message in the status bar (cleared by the next key).
    pub notice: Option<String>,
    /// Something changed since the last draw.
    pub dirty: bool,
    /// The session as journaled: every entry this app emits is applied here first, so the
    /// panes, the summary and the saved report all read the same data.
    pub session: Session,
    /// Wall-clock time (RFC 3339) for new rounds; the driver keeps it current (no clock here).
    pub wall: String,
    /// Blind mode for the next round.
    pub blind_next: bool,
    /// The current round's blind state (`None` when not blind).
    pub blind: Option<BlindRound>,
    /// State of the pane-order shuffle (seeded by the driver).
    pub rng: u64,
    /// The summary view is open.
    pub summary: bool,
    /// Ratings (scores, verdicts, notes) were given since the last report save.
    pub unsaved: bool,
    quit_after_save: bool,
    /// Where the last successful save wrote the report (printed when the TUI ends).
    pub saved_paths: Vec<String>,
    /// Loaded cases (`--cases`).
    pub cases: Vec<Case>,
    /// The case the editor shows.
    pub case_idx: usize,
    /// The case the current round asks.
    pub round_case: Option<usize>,
    /// Running the cases unattended.
    pub auto: bool,
    /// The current round's end was handled (journal, pairwise, next case).
    round_done: bool,
    /// Responses whose evaluators have not answered yet.
    pub pending_evals: std::collections::BTreeSet<(u64, String)>,
    /// Panes of earlier rounds still running (cancelled by a new round); their outcome is still
    /// journaled when their last event arrives. (round, slot, pane).
    retired: Vec<(u64, usize, Pane)>,
    /// What the current round sent, for re-runs.
    last_round: Option<(Vec<Message>, Option<usize>)>,
    /// Manual scores at or above this count as acceptable.
    pub accept_score: u8,
    /// Counts changes to `session` (every recorded entry, a restore), so the summary knows when
    /// its report is stale.
    session_rev: u64,
    /// The summary's report and what it was built from. Asked for when the summary opens and when
    /// an entry is recorded while it is open — never per frame — and built off the UI thread.
    summary_report: Option<(SummaryKey, Report)>,
    /// The build in flight, if any (one at a time; a newer change asks again when it lands).
    summary_building: Option<SummaryKey>,
    /// Images and files (`:attach PATH`) that go with the next prompt.
    pub attachments: Vec<crate::provider::attach::Attachment>,
    /// The conversation the next free prompt continues.
    pub conversation: Conversation,
    /// It as it was when the current round started (a re-run asks that turn again).
    conversation_before: Conversation,
    /// The current round's turn in its conversation (0 for a case's round).
    pub round_turn: u32,
    /// A multi-turn case's round: per slot, the turn its model is on and what it was sent.
    case_turns: Vec<(u32, Vec<Message>)>,
}

fn new_editor(lines: Vec<String>, placeholder: &str) -> TextArea<'static> {
    let mut t = TextArea::new(lines);
    t.set_placeholder_text(placeholder);
    t.set_wrap_mode(WrapMode::WordOrGlyph);
    t.set_cursor_line_style(ratatui::style::Style::default());
    t
}

const PROMPT_PLACEHOLDER: &str = "Type a prompt; Enter sends it to every model";

impl App {
    pub fn new(models: Vec<ModelSpec>, demo: bool, system: Option<String>, themes: Vec<Theme>, theme: usize) -> App {
        let themes = if themes.is_empty() { vec![Theme::dark()] } else { themes };
        let theme = theme.min(themes.len() - 1);
        let mut app = App {
            selected: vec![true; models.len()],
            models,
            demo,
            system: system.filter(|s| !s.trim().is_empty()),
            themes,
            theme,
            mouse: false,
            size: (80, 24),
            editor: new_editor(vec![String::new()], PROMPT_PLACEHOLDER),
            editor_focused: true,
            pane_focus: 0,
            zoom: false,
            popup: None,
            show_reasoning: true,
            history: Vec::new(),
            history_pos: None,
            draft: Vec::new(),
            round: 0,
            last_prompt: None,
            panes: Vec::new(),
            past_cost: CostSum::default(),
            notice: None,
            dirty: true,
            session: Session::default(),
            wall: String::new(),
            blind_next: false,
            blind: None,
            rng: 0x5eed_b1ad,
            summary: false,
            unsaved: false,
            quit_after_save: false,
            saved_paths: Vec::new(),
            cases: Vec::new(),
            case_idx: 0,
            round_case: None,
            auto: false,
            round_done: true,
            pending_evals: Default::default(),
            retired: Vec::new(),
            last_round: None,
            accept_score: crate::session::DEFAULT_ACCEPT_SCORE,
            session_rev: 0,
            summary_report: None,
            summary_building: None,
            attachments: Vec::new(),
            conversation: Conversation::default(),
            conversation_before: Conversation::default(),
            round_turn: 0,
            case_turns: Vec::new(),
        };
        app.idle_panes();
        app
    }

    pub fn theme(&self) -> &Theme {
        &self.themes[self.theme.min(self.themes.len() - 1)]
    }

    /// Empty panes for the selected models (before the first round).
    fn idle_panes(&mut self) {
        self.panes = self.selected_models().into_iter().map(|i| Pane::new(i, &self.models[i].name, None)).collect();
        self.pane_focus = self.pane_focus.min(self.panes.len().saturating_sub(1));
    }

    fn selected_models(&self) -> Vec<usize> {
        (0..self.models.len()).filter(|&i| self.selected.get(i).copied().unwrap_or(false)).collect()
    }

    /// Any pane's clock is running (the driver ticks while this holds).
    pub fn is_live(&self) -> bool {
        self.panes.iter().any(Pane::is_live)
    }

    pub fn running(&self) -> usize {
        self.panes.iter().filter(|p| p.is_running()).count()
    }

    /// Session cost: finished rounds plus the current one as it stands.
    pub fn session_cost(&self) -> CostSum {
        let mut sum = self.past_cost;
        for p in &self.panes {
            if let Some(m) = &p.metrics {
                sum.add(m);
            }
        }
        sum
    }

    pub fn layout(&self, area: Rect) -> Screen {
        layout::screen(
            area,
            Shape {
                panes: self.panes.len(),
                focus: self.pane_focus,
                zoom: self.zoom,
                editor_focused: self.editor_focused,
                editor_lines: self.editor.lines().len().min(usize::from(u16::MAX)) as u16,
            },
        )
    }

    fn screen_area(&self) -> Rect {
        Rect::new(0, 0, self.size.0, self.size.1)
    }

    pub fn update(&mut self, msg: Msg) -> Vec<Effect> {
        let mut effects = self.handle(msg);
        if self.summary
            && self.summary_building.is_none()
            && !self.summary_report.as_ref().is_some_and(|(k, _)| *k == self.summary_inputs())
        {
            let key = self.summary_inputs();
            self.summary_building = Some(key);
            effects.push(Effect::BuildSummary { key, session: Box::new(self.session.clone()) });
        }
        effects
    }

    fn summary_inputs(&self) -> SummaryKey {
        SummaryKey { session_rev: self.session_rev, accept_score: self.accept_score }
    }

    /// The summary's report as last built (`None` before the first build lands), and whether the
    /// session has changed since.
    pub fn summary_report(&self) -> Option<(&Report, bool)> {
        self.summary_report.as_ref().map(|(k, r)| (r, *k != self.summary_inputs()))
    }

    /// Marks the session changed (see `session_rev`).
    pub(super) fn session_changed(&mut self) {
        self.session_rev += 1;
    }

    fn handle(&mut self, msg: Msg) -> Vec<Effect> {
        match msg {
            Msg::Stream(ev, counted) => self.stream_event(ev, counted),
            Msg::Evals { round, model, results } => self.evals_arrived(round, model, results),
            Msg::Pairwise { round, pairs } => self.pairwise_arrived(round, pairs),
            Msg::Saved(r) => self.saved(r),
            Msg::SummaryBuilt { key, report } => {
                if self.summary_building == Some(key) {
                    self.summary_building = None;
                }
                self.summary_report = Some((key, *report));
                self.dirty = true;
                vec![]
            }
            Msg::Notice(n) => {
                self.notice = Some(sanitize::one_line(&n));
                self.dirty = true;
                vec![]
            }
            Msg::HistoryLoaded(loaded) => {
                if let Some(Popup::History { text, .. }) = &mut self.popup {
                    *text = Some(loaded);
                    self.dirty = true;
                }
                vec![]
            }
            Msg::Tick => {
                self.dirty |= self.is_live();
                vec![]
            }
            Msg::Resize(w, h) => {
                self.size = (w, h);
                self.dirty = true;
                // The editor widget keeps its scroll offset across renders; after being squeezed
                // to one row it would stay scrolled down. A fresh widget re-fits its view.
                let cursor = self.editor.cursor();
                self.editor = new_editor(self.editor.lines().to_vec(), PROMPT_PLACEHOLDER);
                let (r, c) = (cursor.0.min(u16::MAX as usize) as u16, cursor.1.min(u16::MAX as usize) as u16);
                self.editor.move_cursor(ratatui_textarea::CursorMove::Jump(r, c));
                vec![]
            }
            Msg::Paste(s) => {
                self.dirty = true;
                // Pasted text is drawn by the editor: it must not carry control characters either.
                let clean = sanitize::sanitize(&s);
                match &mut self.popup {
                    Some(Popup::System(t)) => {
                        t.insert_str(clean);
                    }
                    Some(Popup::Note { editor, .. }) => {
                        editor.insert_str(clean.replace('\n', " "));
                    }
                    None if self.editor_focused => {
                        self.editor.insert_str(clean);
                    }
                    _ => {}
                }
                vec![]
            }
            Msg::Mouse(m) => self.mouse_event(m),
            Msg::Key(k) => {
                if k.kind == KeyEventKind::Release {
                    return vec![];
                }
                self.dirty = true;
                self.notice = None;
                self.key(k)
            }
        }
    }

    fn mouse_event(&mut self, m: MouseEvent) -> Vec<Effect> {
        if !self.mouse || self.popup.is_some() {
            return vec![];
        }
        let scr = self.layout(self.screen_area());
        let at = Position::new(m.column, m.row);
        let under = scr.panes.iter().chain(&scr.strips).find(|(_, r)| r.contains(at)).map(|(s, _)| *s);
        match m.kind {
            MouseEventKind::ScrollUp | MouseEventKind::ScrollDown => {
                let slot = under.unwrap_or(self.pane_focus);
                let d = if m.kind == MouseEventKind::ScrollUp { -3 } else { 3 };
                self.scroll_pane(slot, d);
                self.dirty = true;
            }
            MouseEventKind::Down(_) => {
                if let Some(slot) = under {
                    self.pane_focus = slot;
                    self.editor_focused = false;
                } else if scr.editor.contains(at) {
                    self.editor_focused = true;
                }
                self.dirty = true;
            }
            _ => {}
        }
        vec![]
    }

    fn key(&mut self, k: KeyEvent) -> Vec<Effect> {
        if self.auto {
            // Any key stops an unattended run (the round in flight finishes); Ctrl-C then goes
            // on to do what it does everywhere (quit), as the help says.
            self.auto = false;
            self.notice = Some("unattended run stopped".into());
            let ctrl_c = k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL);
            if !ctrl_c {
                return vec![];
            }
        }
        if self.popup.is_some() {
            return self.popup_key(k);
        }
        if self.summary {
            return self.summary_key(k);
        }
        let ctx = if self.editor_focused { Context::Editor } else { Context::Panes };
        match keymap::lookup(ctx, &k) {
            Some(a) => self.action(a, k),
            None => {
                if self.editor_focused {
                    self.editor.input(k);
                    self.history_pos = None;
                }
                vec![]
            }
        }
    }

    // Long by design: one arm per action of the key table; each arm is a line or two.
    fn action(&mut self, a: Action, k: KeyEvent) -> Vec<Effect> {
        match a {
            Action::Quit => return self.quit(),
            Action::Help => self.popup = Some(Popup::Help { scroll: 0 }),
            Action::RunHistory => {
                self.popup = Some(Popup::History { scroll: 0, text: None });
                let models = self.selected_models().into_iter().map(|i| self.models[i].name.clone()).collect();
                return vec![Effect::LoadHistory { models }];
            }
            Action::Send => {
                let Some(prompt) = self.take_commands() else { return vec![] };
                if prompt.trim().is_empty() {
                    self.notice = Some("type a prompt first".into());
                    return vec![];
                }
                let (mut messages, case) = self.messages_for(&prompt);
                if let Some(m) = messages.iter_mut().rev().find(|m| m.role == Role::User) {
                    m.attachments.extend(self.attachments.iter().cloned());
                }
                let fx = self.start_round(messages, case);
                if !fx.is_empty() {
                    self.attachments.clear();
                    if self.history.last() != Some(&prompt) {
                        self.history.push(prompt);
                    }
                    self.history_pos = None;
                    match case {
                        // In case mode the editor keeps showing the current case.
                        Some(c) => self.show_case(c),
                        None => self.editor = new_editor(vec![String::new()], PROMPT_PLACEHOLDER),
                    }
                    self.editor_focused = false;
                }
                return fx;
            }
            Action::Rerun => match self.last_round.clone() {
                Some((messages, case)) => {
                    // The same turn again, not one more.
                    self.conversation = self.conversation_before.clone();
                    return self.start_round(messages, case);
                }
                None => self.notice = Some("nothing to re-run yet".into()),
            },
            Action::Newline => {
                self.editor.insert_newline();
            }
            Action::CancelAll => {
                if self.running() > 0 {
                    return self.cancel_all();
                }
                if self.editor_focused && !self.panes.is_empty() {
                    self.editor_focused = false;
                } else if self.zoom {
                    self.zoom = false;
                }
            }
            Action::CancelFocused => {
                if let Some(p) = self.panes.get(self.pane_focus)
                    && p.is_running()
                {
                    return vec![Effect::Cancel { run: self.round, slot: Some(self.pane_focus) }];
                }
                self.notice = Some("the focused model is not running".into());
            }
            Action::FocusNext | Action::FocusPrev => self.cycle_focus(a == Action::FocusNext),
            Action::FocusEditor => self.editor_focused = true,
            Action::Zoom => self.zoom = !self.zoom,
            Action::ScrollUp => self.scroll_focused(-1),
            Action::ScrollDown => self.scroll_focused(1),
            Action::PageUp => {
                let page = self.page_height() as isize;
                self.scroll_focused(-(page - 1).max(1));
            }
            Action::PageDown => {
                let page = self.page_height() as isize;
                self.scroll_focused((page - 1).max(1));
            }
            Action::Top => {
                if let Some(p) = self.panes.get_mut(self.pane_focus) {
                    p.scroll = Scroll::At(0);
                }
            }
            Action::Bottom => {
                if let Some(p) = self.panes.get_mut(self.pane_focus) {
                    p.scroll = Scroll::Follow;
                }
            }
            Action::EditSystem => {
                let lines = self.system.as_deref().map(|s| s.lines().map(String::from).collect()).unwrap_or_default();
                self.popup = Some(Popup::System(Box::new(new_editor(lines, "No system prompt"))));
            }
            Action::PickModels => {
                if self.models.is_empty() {
                    self.notice = Some("no models configured".into());
                } else {
                    self.popup = Some(Popup::Picker { cursor: 0, checked: self.selected.clone() });
                }
            }
            Action::HistoryPrev | Action::HistoryNext => {
                let prev = a == Action::HistoryPrev;
                let row = self.editor.cursor().0;
                let at_edge = if prev { row == 0 } else { row + 1 >= self.editor.lines().len() };
                // ↑/↓ inside a multi-line prompt move the cursor; only at the edge do they browse.
                if k.modifiers.contains(KeyModifiers::CONTROL) || at_edge {
                    self.browse_history(prev);
                } else {
                    self.editor.input(k);
                }
            }
            Action::CycleTheme => {
                self.theme = (self.theme + 1) % self.themes.len();
                self.notice = Some(format!("theme: {}", self.theme().name));
            }
            Action::ToggleReasoning => self.show_reasoning = !self.show_reasoning,
            Action::NewConversation => {
                self.conversation = Conversation::default();
                self.notice = Some("new conversation: the next prompt starts afresh".into());
            }
            Action::Score
            | Action::ClearScore
            | Action::Winner
            | Action::Tie
            | Action::Note
            | Action::Details
            | Action::ToggleBlind
            | Action::Reveal
            | Action::Summary
            | Action::SaveReport
            | Action::NextCase
            | Action::PrevCase
            | Action::RunAllCases => return self.rating_action(a, k),
        }
        vec![]
    }

    /// Runs the editor's command lines — `:attach PATH` (an image or PDF, or an http(s) URL, for
    /// the next prompt) and `:detach` (drop them) — and takes them out of it. Returns the rest of
    /// the prompt, or `None` when only commands were there (nothing to send yet).
    fn take_commands(&mut self) -> Option<String> {
        let lines: Vec<String> = self.editor.lines().to_vec();
        let mut rest = Vec::new();
        let mut ran = false;
        for line in &lines {
            let t = line.trim();
            if let Some(path) = t.strip_prefix(":attach ").map(str::trim).filter(|p| !p.is_empty()) {
                ran = true;
                let image = !path.to_ascii_lowercase().ends_with(".pdf");
                match crate::provider::attach::Attachment::from_spec(path, std::path::Path::new(""), image) {
                    Ok(a) => {
                        self.notice = Some(format!("attached {} — it goes with the next prompt", a.label()));
                        self.attachments.push(a);
                    }
                    Err(e) => self.notice = Some(format!(":attach: {}", crate::sanitize::one_line(&e))),
                }
            } else if t == ":detach" {
                ran = true;
                self.notice = Some(format!("{} attachment(s) dropped", self.attachments.len()));
                self.attachments.clear();
            } else {
                rest.push(line.clone());
            }
        }
        if !ran {
            return Some(lines.join("\n"));
        }
        // The commands leave the editor, so a failed send does not run them twice.
        let prompt = rest.iter().any(|l| !l.trim().is_empty()).then(|| rest.join("\n"));
        self.editor = new_editor(if prompt.is_some() { rest } else { vec![String::new()] }, PROMPT_PLACEHOLDER);
        prompt
    }

    fn cancel_all(&self) -> Vec<Effect> {
        if self.running() > 0 { vec![Effect::Cancel { run: self.round, slot: None }] } else { vec![] }
    }

    /// Starts a new round asking `messages` of the selected models (cancelling one still
    /// running), journaling its start first.
    fn start_round(&mut self, messages: Vec<Message>, case: Option<usize>) -> Vec<Effect> {
        let mut models = self.selected_models();
        if models.is_empty() {
            self.notice = Some("no model selected: press F3 (or m) to pick models".into());
            return vec![];
        }
        let mut fx = self.cancel_all();
        self.past_cost = self.session_cost();
        // Requests still running are cancelled above; their outcome still goes to the journal
        // when the engine reports it.
        let round = self.round;
        for (slot, p) in std::mem::take(&mut self.panes).into_iter().enumerate() {
            if p.is_running() {
                self.retired.push((round, slot, p));
            }
        }
        self.round += 1;
        let blind = self.blind_next;
        if blind {
            self.shuffle(&mut models);
        }
        // A first figure for the panes until their requests start; the token counting thread
        // then sets the estimate (this one only for prompts small enough to cost nothing here,
        // and only once the tokenizer has loaded: its load must not block a key).
        let text_bytes: usize = messages.iter().map(|m| m.content.len()).sum();
        let est_input =
            if text_bytes <= SMALL_PROMPT_BYTES && tokens::ready() { tokens::estimate_prompt(&messages) } else { 0 };
        self.panes = models
            .iter()
            .map(|&i| {
                let spec = &self.models[i];
                Pane::new(i, &spec.name, Some(RequestMetrics::counted_elsewhere(spec.price, est_input)))
            })
            .collect();
        // Each round starts with the first pane focused, so scoring goes left to right.
        self.pane_focus = 0;
        self.blind = blind.then_some(BlindRound { revealed: false });
        self.round_case = case;
        self.round_done = false;
        self.last_prompt = messages.last().map(|m| m.content.clone());
        self.last_round = Some((messages.clone(), case));
        // A free prompt continues the conversation; a case is a conversation of its own.
        self.conversation_before = self.conversation.clone();
        if case.is_some() {
            self.conversation = Conversation::default();
        }
        self.round_turn = if case.is_some() { 0 } else { self.conversation.turns + 1 };
        let mut context: Vec<Vec<Message>> = models.iter().map(|&m| self.conversation.context(m)).collect();
        if self.round_turn >= 2 {
            let prompt = messages.iter().rev().find(|m| m.role == Role::User);
            for (p, c) in self.panes.iter_mut().zip(&context) {
                p.set_history(super::conversation::pane_history(c, prompt));
            }
        }
        if context.iter().all(Vec::is_empty) {
            context.clear();
        }
        // A multi-turn case: each model starts at turn 1 with the case's messages.
        let multi_turn = case.and_then(|c| self.cases.get(c)).is_some_and(|c| !c.turns.is_empty());
        self.case_turns = if multi_turn { models.iter().map(|_| (1, messages.clone())).collect() } else { Vec::new() };
        let entry = self.round_entry(&models, &messages, case, blind, &context);
        self.record(entry, &mut fx);
        fx.push(Effect::StartRound { run: self.round, models, messages, case, context });
        fx
    }

    fn cycle_focus(&mut self, forward: bool) {
        let n = self.panes.len();
        if n == 0 {
            self.editor_focused = true;
            return;
        }
        // The ring is: editor, pane 0, pane 1, … pane n-1.
        let pos = if self.editor_focused { 0 } else { self.pane_focus + 1 };
        let next = if forward { (pos + 1) % (n + 1) } else { (pos + n) % (n + 1) };
        if next == 0 {
            self.editor_focused = true;
        } else {
            self.editor_focused = false;
            self.pane_focus = next - 1;
        }
    }

    /// Text lines visible in a pane (the focused one's area, or a guess before any layout).
    fn page_height(&self) -> usize {
        self.pane_view(self.pane_focus).map_or(10, |(_, h)| h.max(1))
    }

    /// (text width, text height) of `slot` as currently laid out.
    fn pane_view(&self, slot: usize) -> Option<(usize, usize)> {
        let scr = self.layout(self.screen_area());
        let (_, r) = scr.panes.iter().find(|(s, _)| *s == slot)?;
        let t = layout::pane_text(*r);
        Some((usize::from(t.width), usize::from(t.height)))
    }

    fn scroll_focused(&mut self, delta: isize) {
        self.scroll_pane(self.pane_focus, delta);
    }

    fn scroll_pane(&mut self, slot: usize, delta: isize) {
        let Some((w, h)) = self.pane_view(slot) else { return };
        let show = self.show_reasoning;
        if let Some(p) = self.panes.get_mut(slot) {
            let total = p.sections(w.max(1), show).total();
            p.scroll_by(delta, total, h);
        }
    }

    fn browse_history(&mut self, prev: bool) {
        if self.history.is_empty() {
            return;
        }
        let pos = match (self.history_pos, prev) {
            (None, true) => {
                self.draft = self.editor.lines().to_vec();
                Some(self.history.len() - 1)
            }
            (None, false) => return,
            (Some(p), true) => Some(p.saturating_sub(1)),
            (Some(p), false) if p + 1 < self.history.len() => Some(p + 1),
            (Some(_), false) => None,
        };
        self.history_pos = pos;
        let lines = match pos {
            Some(p) => self.history[p].lines().map(String::from).collect(),
            None => std::mem::take(&mut self.draft),
        };
        self.editor = new_editor(lines, PROMPT_PLACEHOLDER);
        self.editor.move_cursor(ratatui_textarea::CursorMove::Bottom);
        self.editor.move_cursor(ratatui_textarea::CursorMove::End);
    }

    fn popup_key(&mut self, k: KeyEvent) -> Vec<Effect> {
        let ctrl_c = k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl_c {
            // Ctrl-C in the quit popup quits for real; elsewhere it asks like q does.
            let force = matches!(self.popup, Some(Popup::Quit));
            self.popup = None;
            if force {
                return self.cancel_all().into_iter().chain([Effect::Quit]).collect();
            }
            return self.quit();
        }
        if matches!(self.popup, Some(Popup::Note { .. } | Popup::Quit | Popup::Details { .. })) {
            return self.rating_popup_key(k);
        }
        let Some(popup) = &mut self.popup else { return vec![] };
        match popup {
            Popup::Help { scroll } | Popup::History { scroll, .. } => match k.code {
                KeyCode::Up | KeyCode::Char('k') => *scroll = scroll.saturating_sub(1),
                KeyCode::Down | KeyCode::Char('j') => *scroll = scroll.saturating_add(1),
                KeyCode::PageUp => *scroll = scroll.saturating_sub(10),
                KeyCode::PageDown | KeyCode::Char(' ') => *scroll = scroll.saturating_add(10),
                _ => self.popup = None,
            },
            Popup::Picker { cursor, checked } => match k.code {
                KeyCode::Up | KeyCode::Char('k') => *cursor = cursor.saturating_sub(1),
                KeyCode::Down | KeyCode::Char('j') => *cursor = (*cursor + 1).min(checked.len().saturating_sub(1)),
                KeyCode::Char(' ') | KeyCode::Char('x') => {
                    if let Some(c) = checked.get_mut(*cursor) {
                        *c = !*c;
                    }
                }
                KeyCode::Char('a') => {
                    let all = checked.iter().all(|c| *c);
                    checked.iter_mut().for_each(|c| *c = !all);
                }
                KeyCode::Enter => {
                    if !checked.iter().any(|c| *c) {
                        self.notice = Some("select at least one model".into());
                        return vec![];
                    }
                    self.selected = checked.clone();
                    self.popup = None;
                    if self.round == 0 {
                        self.idle_panes();
                    } else {
                        let n = self.selected.iter().filter(|c| **c).count();
                        self.notice = Some(format!("{n} models take part from the next round"));
                    }
                }
                KeyCode::Esc | KeyCode::Char('q') => self.popup = None,
                _ => {}
            },
            Popup::System(t) => {
                let newline = (k.code == KeyCode::Enter && k.modifiers.contains(KeyModifiers::ALT))
                    || (k.code == KeyCode::Char('j') && k.modifiers.contains(KeyModifiers::CONTROL));
                match k.code {
                    _ if newline => t.insert_newline(),
                    KeyCode::Enter => {
                        let s = t.lines().join("\n");
                        self.system = (!s.trim().is_empty()).then_some(s);
                        self.popup = None;
                        self.notice = Some(
                            if self.system.is_some() { "system prompt set" } else { "system prompt cleared" }.into(),
                        );
                    }
                    KeyCode::Esc => self.popup = None,
                    _ => {
                        t.input(k);
                    }
                }
            }
            Popup::Note { .. } | Popup::Quit | Popup::Details { .. } => {}
        }
        vec![]
    }
}
