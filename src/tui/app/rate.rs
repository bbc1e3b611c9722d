//! The evaluation side of the app: manual ratings (score, winner, tie, note), blind rounds,
//! the session journal, evaluator results, report saves, the quit prompt and case files.
//!
//! Still pure: every journal entry is applied to `App::session` and handed to the driver as
//! [`Effect::Journal`]; evaluations and saves are effects whose results come back as messages.

use super::{App, Effect, PROMPT_PLACEHOLDER, Popup, new_editor};
use crate::metrics::RequestResult;
use crate::provider::{Message, Role};
use crate::sanitize;
use crate::session::{self, Blind, Entry, EvalResult, Pairwise, RoundStart, Session, Verdict};
use crate::tui::keymap::Action;
use crate::tui::pane_state::Pane;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::collections::BTreeMap;

/// The current round's blind state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlindRound {
    /// The names are shown (the round was rated, or revealed by key).
    pub revealed: bool,
}

/// `A`, `B`, … `Z`, `AA`, `AB`, … — the blind label of the pane shown at `i`.
pub fn letter(i: usize) -> String {
    let mut n = i;
    let mut out = Vec::new();
    loop {
        out.push(char::from(b'A' + (n % 26) as u8));
        if n < 26 {
            break;
        }
        n = n / 26 - 1;
    }
    out.iter().rev().collect()
}

/// What a pane shows about its rating and evaluation.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PaneRating {
    pub score: Option<u8>,
    pub winner: bool,
    pub tie: bool,
    pub note: Option<String>,
    pub evals: Vec<EvalResult>,
    /// Evaluators are still running on this answer.
    pub evaluating: bool,
    /// `session::acceptable` once the response has ended (and something judged it).
    pub acceptable: Option<bool>,
}

impl App {
    /// Seeds the pane-order shuffle of blind rounds.
    pub fn seed(&mut self, seed: u64) {
        self.rng = seed;
    }

    /// splitmix64: small, seeded, good enough to shuffle a handful of panes.
    fn next_rand(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Fisher–Yates shuffle.
    pub(super) fn shuffle(&mut self, v: &mut [usize]) {
        for i in (1..v.len()).rev() {
            let j = (self.next_rand() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
    }

    /// Requests, or evaluations of finished ones, are still under way: their outcome is not in
    /// the journal yet.
    pub fn settling(&self) -> bool {
        self.running() > 0 || !self.pending_evals.is_empty() || !self.retired.is_empty()
    }

    /// The current round is blind and its names are not revealed yet.
    pub fn hidden(&self) -> bool {
        self.blind.is_some_and(|b| !b.revealed)
    }

    /// The model name behind pane `slot` of the current round.
    pub fn model_name(&self, slot: usize) -> Option<&str> {
        self.panes.get(slot).and_then(|p| self.models.get(p.model)).map(|m| m.name.as_str())
    }

    /// What pane `slot` is called on screen: its model, or `A`, `B`… while blind.
    pub fn pane_label(&self, slot: usize) -> String {
        match self.panes.get(slot) {
            Some(_) if self.hidden() => letter(slot),
            Some(p) => p.label.clone(),
            None => String::new(),
        }
    }

    /// `case 7/40 · category` when cases are loaded.
    pub fn case_label(&self) -> Option<String> {
        let case = self.cases.get(self.case_idx)?;
        let mut s = format!("case {}/{}", self.case_idx + 1, self.cases.len());
        if let Some(c) = &case.category {
            s.push_str(&format!(" · {}", sanitize::one_line(c)));
        }
        Some(s)
    }

    /// The rating and evaluation of pane `slot` in the current round.
    pub fn rating(&self, slot: usize) -> PaneRating {
        let Some(name) = self.model_name(slot) else { return PaneRating::default() };
        let Some(r) = self.session.round(self.round) else { return PaneRating::default() };
        let score = r.scores.get(name).copied();
        let evals = r.evals.get(name).cloned().unwrap_or_default();
        let judged = !evals.is_empty() || score.is_some();
        PaneRating {
            score,
            winner: r.verdict == Some(Verdict::Winner(name.to_string())),
            tie: r.verdict == Some(Verdict::Tie),
            note: r.notes.get(name).map(|n| sanitize::one_line(n)),
            evaluating: self.pending_evals.contains(&(self.round, name.to_string())),
            acceptable: r
                .results
                .get(name)
                .filter(|_| judged)
                .and_then(|res| session::acceptable(res, &evals, score, self.accept_score)),
            evals,
        }
    }

    /// Applies `e` to the session and hands it to the driver for the journal.
    pub(super) fn record(&mut self, e: Entry, fx: &mut Vec<Effect>) {
        self.session.apply(&e);
        self.session_changed();
        if matches!(e, Entry::Score { .. } | Entry::Note { .. } | Entry::Verdict { .. }) {
            self.unsaved = true;
        }
        self.dirty = true;
        fx.push(Effect::Journal(Box::new(e)));
    }

    /// The journal's record of a round about to start.
    pub(super) fn round_entry(
        &self,
        models: &[usize],
        messages: &[Message],
        case: Option<usize>,
        blind: bool,
        context: &[Vec<Message>],
    ) -> Entry {
        let names: Vec<String> = models.iter().map(|&i| self.models[i].name.clone()).collect();
        let case = case.and_then(|c| self.cases.get(c));
        Entry::Round(RoundStart {
            round: self.round,
            started_at: self.wall.clone(),
            messages: messages.to_vec(),
            models: names.clone(),
            case_id: case.map(|c| c.id.clone()),
            category: case.and_then(|c| c.category.clone()),
            repeat: None,
            blind: blind.then(|| Blind {
                labels: names.iter().enumerate().map(|(i, n)| (n.clone(), letter(i))).collect::<BTreeMap<_, _>>(),
                order: names.clone(),
            }),
            theme: Some(self.theme().name.clone()),
            follow_ups: case.map(|c| c.turns.clone()).unwrap_or_default(),
            turn: Some(self.round_turn).filter(|t| *t >= 2),
            context: names
                .iter()
                .zip(context)
                .filter(|(_, c)| !c.is_empty())
                .map(|(n, c)| (n.clone(), c.clone()))
                .collect(),
        })
    }

    /// The conversation to send for the editor's `prompt`: the current case's (its last user
    /// turn replaced by the editor text) when cases are loaded, else system + prompt.
    pub(super) fn messages_for(&self, prompt: &str) -> (Vec<Message>, Option<usize>) {
        match self.cases.get(self.case_idx) {
            Some(case) => {
                let mut messages = self.case_messages(case);
                if let Some(m) = messages.iter_mut().rev().find(|m| m.role == Role::User) {
                    m.content = prompt.to_string();
                }
                (messages, Some(self.case_idx))
            }
            None => {
                let mut messages = Vec::new();
                if let Some(s) = &self.system {
                    messages.push(Message::system(s.clone()));
                }
                messages.push(Message::user(prompt.to_string()));
                (messages, None)
            }
        }
    }

    /// A case's conversation, with the session's system prompt when it has none of its own.
    fn case_messages(&self, case: &crate::cases::Case) -> Vec<Message> {
        let mut messages = case.messages.clone();
        if let Some(s) = &self.system
            && !messages.iter().any(|m| m.role == Role::System)
        {
            messages.insert(0, Message::system(s.clone()));
        }
        messages
    }

    /// The pane's result, its tool calls checked against the tools its request offered (the
    /// round's case's, else the model's).
    fn result_of(&self, p: &Pane) -> Option<RequestResult> {
        let spec = self.models.get(p.model)?;
        let mut r = p.metrics.as_ref().map(|m| m.result(&spec.name, &spec.provider))?;
        r.family = Some(spec.family());
        let case = self.round_case.and_then(|c| self.cases.get(c));
        let tools = case.and_then(|c| c.tools.as_ref()).unwrap_or(&spec.tools);
        let attachments = self.last_round.as_ref().map_or(0, |(m, _)| m.iter().map(|m| m.attachments.len()).sum());
        r.check_output(tools, case.and_then(|c| c.schema.as_ref()).or(spec.schema.as_ref()), attachments);
        Some(r)
    }

    pub(super) fn stream_event(
        &mut self,
        ev: crate::event::StreamEvent,
        counted: crate::metrics::Counted,
    ) -> Vec<Effect> {
        let mut fx = Vec::new();
        if ev.id.run == self.round {
            let Some(p) = self.panes.get_mut(ev.id.slot) else { return fx };
            let was = p.is_running();
            p.apply(&ev, counted);
            self.dirty = true;
            if was && !p.is_running() {
                if let Some(mut res) = self.panes.get(ev.id.slot).and_then(|p| self.result_of(p)) {
                    if self.next_case_turn(ev.id.slot, &mut res, &mut fx) {
                        return fx;
                    }
                    // Checked against the offered tools now: the pane marks arguments that do
                    // not fit the schema, as the reports do.
                    if !res.tool_calls.is_empty()
                        && let Some(p) = self.panes.get_mut(ev.id.slot)
                    {
                        p.set_tools(crate::tui::pane_state::finished_tools(&res.tool_calls));
                    }
                    self.response_ended(self.round, res, &mut fx);
                }
                self.check_round_done(&mut fx);
            }
        } else if let Some(i) = self.retired.iter().position(|(r, s, _)| *r == ev.id.run && *s == ev.id.slot) {
            self.retired[i].2.apply(&ev, counted);
            if !self.retired[i].2.is_running() {
                let (round, _, p) = self.retired.remove(i);
                if let Some(res) = self.result_of(&p) {
                    self.response_ended(round, res, &mut fx);
                }
            }
        }
        fx
    }

    /// In a multi-turn case's round, a model's answer to a turn before the last: journaled as an
    /// earlier turn, and the model asked the next follow-up after its own answer (`true`). The
    /// last turn's answer — or one the conversation cannot go on from — is marked with its turn
    /// and is the case's (`false`: the caller journals and evaluates it).
    fn next_case_turn(&mut self, slot: usize, res: &mut RequestResult, fx: &mut Vec<Effect>) -> bool {
        let Some(case) = self.round_case.and_then(|c| self.cases.get(c)) else { return false };
        let Some((turn, sent)) = self.case_turns.get(slot).cloned() else { return false };
        let total = 1 + case.turns.len() as u32;
        res.turn = Some(turn);
        if turn >= total {
            return false;
        }
        if !res.status.is_ok() || !res.tool_calls.is_empty() || res.output.trim().is_empty() {
            let note = format!("the conversation stopped at turn {turn} of {total}");
            res.warning = Some(res.warning.take().map_or(note.clone(), |w| format!("{w}; {note}")));
            return false;
        }
        let follow_up = Message::user(case.turns[turn as usize - 1].clone());
        res.intermediate = true;
        self.record(Entry::Result { round: self.round, result: Box::new(res.clone()) }, fx);
        let mut messages = sent;
        messages.push(Message::assistant(res.output.clone()));
        messages.push(follow_up.clone());
        let Some(p) = self.panes.get_mut(slot) else { return false };
        let spec = &self.models[p.model];
        let shown: Vec<Message> = messages.iter().filter(|m| m.role != Role::System).cloned().collect();
        p.next_turn(crate::metrics::RequestMetrics::counted_elsewhere(spec.price, 0));
        p.set_history(crate::tui::conversation::pane_history(&shown[..shown.len() - 1], shown.last()));
        self.case_turns[slot] = (turn + 1, messages.clone());
        fx.push(Effect::ContinueTurn { run: self.round, slot, model: p.model, messages });
        true
    }

    /// A response ended (any outcome): journal it and ask for its evaluation.
    fn response_ended(&mut self, round: u64, result: RequestResult, fx: &mut Vec<Effect>) {
        self.pending_evals.insert((round, result.model.clone()));
        self.record(Entry::Result { round, result: Box::new(result.clone()) }, fx);
        fx.push(Effect::Evaluate { round, result: Box::new(result) });
    }

    fn check_round_done(&mut self, fx: &mut Vec<Effect>) {
        if self.round_done || self.panes.iter().any(|p| p.metrics.is_none() || p.is_running()) {
            return;
        }
        self.round_done = true;
        if self.round_case.is_none() {
            // A free prompt's round is a turn of the conversation the next prompt continues.
            if let Some(r) = self.session.round(self.round)
                && let Some(prompt) = r.start.messages.iter().rev().find(|m| m.role == Role::User)
            {
                let models = &self.models;
                let answers = r
                    .results
                    .iter()
                    .filter_map(|(name, res)| Some((models.iter().position(|m| &m.name == name)?, res)));
                self.conversation.add_turn(prompt, answers);
            }
        }
        let answers: Vec<(String, String)> = self
            .session
            .round(self.round)
            .map(|r| {
                r.start
                    .models
                    .iter()
                    .filter_map(|m| r.results.get(m))
                    .filter(|res| res.status.is_ok())
                    .map(|res| (res.model.clone(), res.output.clone()))
                    .collect()
            })
            .unwrap_or_default();
        fx.push(Effect::RoundDone { round: self.round, answers });
        if self.auto {
            let next = self.round_case.map_or(self.case_idx, |c| c + 1);
            if next < self.cases.len() {
                self.case_idx = next;
                self.show_case(next);
                fx.extend(self.send_case(next));
            } else {
                self.auto = false;
                self.notice = Some(format!("unattended run done: {} cases", self.cases.len()));
            }
        }
    }

    fn send_case(&mut self, i: usize) -> Vec<Effect> {
        let Some(case) = self.cases.get(i) else { return vec![] };
        let messages = self.case_messages(case);
        self.start_round(messages, Some(i))
    }

    pub(super) fn evals_arrived(&mut self, round: u64, model: String, results: Vec<EvalResult>) -> Vec<Effect> {
        let mut fx = Vec::new();
        self.pending_evals.remove(&(round, model.clone()));
        for result in results {
            self.record(Entry::Eval { round, model: model.clone(), result }, &mut fx);
        }
        self.dirty = true;
        fx
    }

    pub(super) fn pairwise_arrived(&mut self, round: u64, pairs: Vec<Result<Pairwise, String>>) -> Vec<Effect> {
        let mut fx = Vec::new();
        let mut errors = Vec::new();
        for p in pairs {
            match p {
                Ok(pair) => {
                    errors.extend(pair.error.clone());
                    self.record(Entry::Pairwise { round, pair }, &mut fx);
                }
                Err(e) => errors.push(e),
            }
        }
        if let Some(e) = errors.first() {
            self.notice = Some(sanitize::one_line(&format!("pairwise judge: {e}")));
        }
        self.dirty = true;
        fx
    }

    pub(super) fn saved(&mut self, r: Result<Vec<String>, String>) -> Vec<Effect> {
        self.dirty = true;
        match r {
            Ok(paths) => {
                self.unsaved = false;
                self.notice = Some(sanitize::one_line(&format!("report saved: {}", compact_paths(&paths))));
                self.saved_paths = paths;
                if std::mem::take(&mut self.quit_after_save) {
                    return self.cancel_all().into_iter().chain([Effect::Quit]).collect();
                }
            }
            Err(e) => {
                self.quit_after_save = false;
                self.notice = Some(sanitize::one_line(&format!("report not saved: {e}")));
            }
        }
        vec![]
    }

    /// Quits, or asks first when ratings were given since the last save.
    pub(super) fn quit(&mut self) -> Vec<Effect> {
        if self.unsaved {
            self.popup = Some(Popup::Quit);
            return vec![];
        }
        self.cancel_all().into_iter().chain([Effect::Quit]).collect()
    }

    pub(super) fn summary_key(&mut self, k: KeyEvent) -> Vec<Effect> {
        let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
        match k.code {
            KeyCode::Char('s') if ctrl => return self.save(),
            KeyCode::Char('S') => return self.save(),
            KeyCode::Char('c') if ctrl => return self.quit(),
            KeyCode::Esc | KeyCode::Char('v') | KeyCode::Char('q') => self.summary = false,
            KeyCode::F(1) | KeyCode::Char('?') => self.popup = Some(Popup::Help { scroll: 0 }),
            _ => {}
        }
        vec![]
    }

    fn save(&mut self) -> Vec<Effect> {
        self.notice = Some("saving the report…".into());
        vec![Effect::SaveReport(Box::new(self.session.clone()))]
    }

    /// The focused answer's model, if it can be rated (it has text).
    fn target(&mut self) -> Option<String> {
        let has_text = self.panes.get(self.pane_focus).is_some_and(|p| !p.text.trim().is_empty());
        if self.round == 0 || !has_text {
            self.notice = Some("nothing to rate yet: the focused answer has no text".into());
            return None;
        }
        self.model_name(self.pane_focus).map(String::from)
    }

    /// Reveals a blind round once it is rated: a winner or tie was called, or every answer with
    /// text has a score.
    fn maybe_reveal(&mut self) {
        if !self.hidden() {
            return;
        }
        let Some(r) = self.session.round(self.round) else { return };
        let with_text: Vec<&str> = (0..self.panes.len())
            .filter(|&s| !self.panes[s].text.trim().is_empty())
            .filter_map(|s| self.model_name(s))
            .collect();
        let rated =
            r.verdict.is_some() || (!with_text.is_empty() && with_text.iter().all(|m| r.scores.contains_key(*m)));
        if rated {
            self.reveal();
        }
    }

    fn reveal(&mut self) {
        if let Some(b) = &mut self.blind {
            b.revealed = true;
            let names: Vec<String> =
                (0..self.panes.len()).map(|s| format!("{} = {}", letter(s), self.panes[s].label)).collect();
            self.notice = Some(format!("revealed: {}", names.join(", ")));
        }
    }

    // Long by design: one arm per rating action of the key table.
    pub(super) fn rating_action(&mut self, a: Action, k: KeyEvent) -> Vec<Effect> {
        let mut fx = Vec::new();
        let round = self.round;
        match a {
            Action::Score | Action::ClearScore => {
                let score = match k.code {
                    KeyCode::Char(c @ '1'..='5') if a == Action::Score => Some(c as u8 - b'0'),
                    _ => None,
                };
                if let Some(model) = self.target() {
                    let label = self.pane_label(self.pane_focus);
                    self.record(Entry::Score { round, model, score }, &mut fx);
                    self.notice = Some(match score {
                        Some(s) => format!("{label}: score {s}/5"),
                        None => format!("{label}: score cleared"),
                    });
                    self.maybe_reveal();
                }
            }
            Action::Winner => {
                if let Some(model) = self.target() {
                    let label = self.pane_label(self.pane_focus);
                    self.record(Entry::Verdict { round, verdict: Some(Verdict::Winner(model)) }, &mut fx);
                    self.notice = Some(format!("{label} wins round {round}"));
                    self.maybe_reveal();
                }
            }
            Action::Tie => {
                if self.round == 0 || self.panes.iter().all(|p| p.text.trim().is_empty()) {
                    self.notice = Some("nothing to rate yet: no answer has text".into());
                } else {
                    self.record(Entry::Verdict { round, verdict: Some(Verdict::Tie) }, &mut fx);
                    self.notice = Some(format!("round {round}: tie"));
                    self.maybe_reveal();
                }
            }
            Action::Note => {
                if let Some(model) = self.target() {
                    let old = self.session.round(round).and_then(|r| r.notes.get(&model).cloned()).unwrap_or_default();
                    let mut editor = new_editor(vec![sanitize::one_line(&old)], "A short note on this answer");
                    editor.move_cursor(ratatui_textarea::CursorMove::End);
                    self.popup = Some(Popup::Note { slot: self.pane_focus, editor: Box::new(editor) });
                }
            }
            Action::Details if self.panes.get(self.pane_focus).is_some() => {
                self.popup = Some(Popup::Details { slot: self.pane_focus, scroll: 0 });
            }
            Action::ToggleBlind => {
                self.blind_next = !self.blind_next;
                self.notice = Some(
                    if self.blind_next {
                        "blind mode on from the next round: names hidden as A, B…, order shuffled"
                    } else {
                        "blind mode off from the next round"
                    }
                    .into(),
                );
            }
            Action::Reveal => {
                if self.hidden() {
                    self.reveal();
                } else {
                    self.notice = Some("nothing hidden: this round is not blind or already revealed".into());
                }
            }
            Action::Summary => {
                if self.hidden() {
                    self.notice = Some("rate this blind round (or B reveals) before the summary".into());
                } else {
                    self.summary = true;
                }
            }
            Action::SaveReport => return self.save(),
            Action::NextCase | Action::PrevCase => {
                if self.cases.is_empty() {
                    self.notice = Some("no cases loaded: start with --cases FILE".into());
                } else {
                    let n = self.cases.len();
                    self.case_idx = if a == Action::NextCase {
                        (self.case_idx + 1).min(n - 1)
                    } else {
                        self.case_idx.saturating_sub(1)
                    };
                    self.show_case(self.case_idx);
                    let id = sanitize::one_line(&self.cases[self.case_idx].id);
                    self.notice = Some(format!("case {}/{n}: {id}", self.case_idx + 1));
                }
            }
            Action::RunAllCases => {
                if self.cases.is_empty() {
                    self.notice = Some("no cases loaded: start with --cases FILE".into());
                } else {
                    self.auto = true;
                    self.notice = Some("running the cases unattended; any key stops".into());
                    let fx = self.send_case(self.case_idx);
                    if fx.is_empty() {
                        self.auto = false;
                    }
                    return fx;
                }
            }
            _ => {}
        }
        fx
    }

    pub(super) fn rating_popup_key(&mut self, k: KeyEvent) -> Vec<Effect> {
        let mut fx = Vec::new();
        match &mut self.popup {
            Some(Popup::Note { slot, editor }) => match k.code {
                KeyCode::Enter => {
                    let text = sanitize::one_line(editor.lines().join(" ").trim());
                    let slot = *slot;
                    self.popup = None;
                    if let Some(model) = self.model_name(slot).map(String::from) {
                        let label = self.pane_label(slot);
                        self.record(Entry::Note { round: self.round, model, text: text.clone() }, &mut fx);
                        self.notice = Some(if text.is_empty() {
                            format!("{label}: note cleared")
                        } else {
                            format!("{label}: note saved")
                        });
                    }
                }
                KeyCode::Esc => self.popup = None,
                _ => {
                    editor.input(k);
                }
            },
            Some(Popup::Quit) => match k.code {
                KeyCode::Enter | KeyCode::Char('s') | KeyCode::Char('y') => {
                    self.popup = None;
                    self.quit_after_save = true;
                    return self.save();
                }
                KeyCode::Char('q') | KeyCode::Char('n') => {
                    self.popup = None;
                    return self.cancel_all().into_iter().chain([Effect::Quit]).collect();
                }
                KeyCode::Esc | KeyCode::Char('c') => self.popup = None,
                _ => {}
            },
            Some(Popup::Details { scroll, .. }) => match k.code {
                KeyCode::Up | KeyCode::Char('k') => *scroll = scroll.saturating_sub(1),
                KeyCode::Down | KeyCode::Char('j') => *scroll = scroll.saturating_add(1),
                _ => self.popup = None,
            },
            _ => {}
        }
        fx
    }

    /// Loads cases: the editor shows the first one's prompt.
    pub fn load_cases(&mut self, cases: Vec<crate::cases::Case>) {
        self.cases = cases;
        self.case_idx = 0;
        if !self.cases.is_empty() {
            self.show_case(0);
        }
    }

    /// Shows case `i`'s last user turn in the editor.
    pub(super) fn show_case(&mut self, i: usize) {
        if let Some(case) = self.cases.get(i) {
            let lines = case.prompt().lines().map(String::from).collect();
            self.editor = new_editor(lines, PROMPT_PLACEHOLDER);
            self.editor.move_cursor(ratatui_textarea::CursorMove::Bottom);
            self.editor.move_cursor(ratatui_textarea::CursorMove::End);
        }
    }

    /// Continues a journaled session: round numbering goes on, the session cost and history
    /// include the earlier rounds, and the last round's answers are shown with their ratings.
    pub fn restore(&mut self, session: Session) {
        let mut past = super::CostSum::default();
        for r in &session.rounds {
            for res in r.results.values().chain(r.retries.values().flatten()) {
                past.add_result(res);
            }
            if let Some(m) = r.start.messages.iter().rev().find(|m| m.role == Role::User)
                && self.history.last() != Some(&m.content)
            {
                self.history.push(m.content.clone());
            }
        }
        self.past_cost = past;
        self.round = session.next_round_number() - 1;
        if let Some(last) = session.round(self.round) {
            let order = last.start.blind.as_ref().map_or(&last.start.models, |b| &b.order);
            let panes: Vec<Pane> = order
                .iter()
                .filter_map(|name| {
                    let i = self.models.iter().position(|m| &m.name == name)?;
                    Some(Pane::restored(i, name, last.results.get(name).cloned()))
                })
                .collect();
            if !panes.is_empty() {
                self.panes = panes;
                self.pane_focus = 0;
                self.editor_focused = false;
            }
            self.last_prompt = last.start.messages.last().map(|m| m.content.clone());
            self.conversation = restored_conversation(last, &self.models);
            self.round_turn = self.conversation.turns;
            let case = last.start.case_id.as_ref().and_then(|id| self.cases.iter().position(|c| &c.id == id));
            self.last_round = Some((last.start.messages.clone(), case));
            if last.start.blind.is_some() {
                self.blind = Some(BlindRound { revealed: false });
                // The session goes on as it was: blind rounds stay blind.
                self.blind_next = true;
            }
            // The models of the last round take part in the next one (when they still exist).
            let selected: Vec<bool> = self.models.iter().map(|m| last.start.models.contains(&m.name)).collect();
            if selected.iter().any(|&s| s) {
                self.selected = selected;
            }
            if let Some(i) = last.start.theme.as_ref().and_then(|t| self.themes.iter().position(|x| &x.name == t)) {
                self.theme = i;
            }
        }
        self.session = session;
        self.session_changed();
        self.maybe_reveal();
        self.notice = Some(format!("resumed a session of {} rounds", self.round));
        self.dirty = true;
    }
}

/// The conversation as it stood after a journaled free-prompt round (a case's round has none):
/// each model's context then, with the prompt and its own answer added.
fn restored_conversation(last: &crate::session::Round, models: &[crate::config::ModelSpec]) -> super::Conversation {
    let mut c = super::Conversation::default();
    if last.start.case_id.is_some() {
        return c;
    }
    let Some(prompt) = last.start.messages.iter().rev().find(|m| m.role == Role::User) else { return c };
    c.turns = last.start.turn.unwrap_or(1) - 1;
    for (name, context) in &last.start.context {
        if let Some(i) = models.iter().position(|m| &m.name == name) {
            c.history.insert(i, context.clone());
        }
    }
    let answers = last.results.iter().filter_map(|(name, r)| Some((models.iter().position(|m| &m.name == name)?, r)));
    c.add_turn(prompt, answers);
    // Journals keep attachments' paths: the files are read again to be sent with the next turn
    // (one that cannot be is that turn's error, naming it).
    for a in c.history.values_mut().flatten().flat_map(|m| m.attachments.iter_mut()) {
        let _ = a.reload();
    }
    c
}

/// `dir/stem.{json,md,html}` for paths that share a directory and stem, else all of them.
fn compact_paths(paths: &[String]) -> String {
    let split = |p: &str| p.rsplit_once('.').map(|(a, b)| (a.to_string(), b.to_string()));
    let parts: Vec<(String, String)> = paths.iter().filter_map(|p| split(p)).collect();
    match parts.first() {
        Some((stem, _)) if parts.len() == paths.len() && parts.iter().all(|(s, _)| s == stem) => {
            let exts: Vec<&str> = parts.iter().map(|(_, e)| e.as_str()).collect();
            format!("{stem}.{{{}}}", exts.join(","))
        }
        _ => paths.join(", "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters() {
        assert_eq!([0, 1, 25, 26, 27].map(letter), ["A", "B", "Z", "AA", "AB"]);
    }

    #[test]
    fn compact() {
        let p = ["/d/s.json".to_string(), "/d/s.md".into(), "/d/s.html".into()];
        assert_eq!(compact_paths(&p), "/d/s.{json,md,html}");
    }
}
