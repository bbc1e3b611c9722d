//! One model's pane: its request metrics (the fold every number comes from), the sanitized text
//! shown, the scroll position, and the wrap cache that makes drawing proportional to what is
//! visible rather than to what was received.

use super::wrap::Wrapped;
use crate::event::{EventKind, StreamEvent};
use crate::metrics::{Counted, Phase, RequestMetrics, RequestResult, Status};
use crate::provider::ToolCall;
use crate::sanitize;
use std::cell::RefCell;

/// Where the text view of a pane is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scroll {
    /// Stick to the end, following new text.
    Follow,
    /// The top visual line, pinned while text keeps arriving below.
    At(usize),
}

/// What kind of line a visual line is (it decides the style).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineKind {
    /// The conversation's earlier turns and the prompt being answered.
    History,
    ReasoningHeader,
    Reasoning,
    Blank,
    Text,
    /// A tool call the answer made.
    Tool,
    Error,
}

#[derive(Default, Debug)]
struct WrapCache {
    history: Wrapped,
    reasoning: Wrapped,
    text: Wrapped,
    tools: Wrapped,
    error: Wrapped,
}

/// The visual lines of a pane's body at one width, as sections.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sections {
    /// The conversation's earlier turns (and the prompt), then a blank line; 0 outside one.
    pub history: usize,
    /// Header line + reasoning lines (if unfolded) + blank line; 0 when there is no reasoning.
    pub reasoning: usize,
    pub reasoning_shown: bool,
    pub text: usize,
    /// Tool call lines, after a blank line when text precedes them.
    pub tools: usize,
    /// Blank line + error lines; 0 without an error.
    pub error: usize,
}

impl Sections {
    pub fn total(&self) -> usize {
        self.history + self.reasoning + self.text + self.tools + self.error
    }
}

#[derive(Debug)]
pub struct Pane {
    /// Index into the app's model list.
    pub model: usize,
    /// Sanitized model label.
    pub label: String,
    /// `None` before the first round.
    pub metrics: Option<RequestMetrics>,
    /// Sanitized answer text, as shown.
    pub text: String,
    /// Sanitized reasoning text, as shown.
    pub reasoning: String,
    /// The answer's tool calls as shown (sanitized): `⚙ name {arguments}` while they stream,
    /// arguments pretty-printed once the answer is complete.
    pub tools: String,
    /// The call the last piece was appended to (so the next piece of it only appends).
    tools_last: Option<usize>,
    /// Sanitized error message.
    pub error: Option<String>,
    /// The conversation so far, as shown above the answer (sanitized).
    pub history: String,
    /// Sanitized model id the server said answered.
    pub server_model: Option<String>,
    /// A journaled result shown without live metrics (a resumed session's last round).
    pub restored: Option<RequestResult>,
    pub scroll: Scroll,
    wrap: RefCell<WrapCache>,
}

impl Pane {
    pub fn new(model: usize, label: &str, metrics: Option<RequestMetrics>) -> Pane {
        Pane {
            model,
            label: sanitize::one_line(label),
            metrics,
            text: String::new(),
            reasoning: String::new(),
            tools: String::new(),
            tools_last: None,
            error: None,
            history: String::new(),
            server_model: None,
            restored: None,
            scroll: Scroll::Follow,
            wrap: RefCell::new(WrapCache::default()),
        }
    }

    /// A pane showing a journaled result (sanitized like live text).
    pub fn restored(model: usize, label: &str, result: Option<RequestResult>) -> Pane {
        let mut p = Pane::new(model, label, None);
        if let Some(r) = &result {
            sanitize::push_sanitized(&mut p.text, &r.output);
            if let Some(t) = &r.reasoning {
                sanitize::push_sanitized(&mut p.reasoning, t);
            }
            p.tools = finished_tools(&r.tool_calls);
            p.error = r.error.as_deref().filter(|_| r.status == Status::Error).map(sanitize::sanitize);
            p.server_model = r.server_model.as_deref().map(sanitize::one_line);
        }
        p.restored = result;
        p
    }

    pub fn phase(&self) -> Option<&Phase> {
        self.metrics.as_ref().map(|m| &m.phase)
    }

    /// Sent and not yet finished: its clock is running.
    pub fn is_live(&self) -> bool {
        matches!(self.phase(), Some(Phase::Connecting | Phase::AwaitingToken | Phase::Streaming))
    }

    /// Started (or about to be) and not finished: cancellable.
    pub fn is_running(&self) -> bool {
        self.phase().is_some_and(|p| !p.is_finished())
    }

    /// Folds one event into the metrics and the display text. Everything shown is sanitized
    /// here, once, so no drawing path can leak a control character.
    pub fn apply(&mut self, ev: &StreamEvent, counted: Counted) {
        let Some(m) = &mut self.metrics else { return };
        if m.phase.is_finished() {
            return; // the fold ignores late events; so does the display
        }
        m.apply_counted(ev, counted);
        match &ev.kind {
            EventKind::ToolCall(c) if c.is_content() => {
                if self.tools_last == Some(c.index) && c.name.is_none() {
                    sanitize::push_sanitized(&mut self.tools, &c.arguments);
                } else {
                    // A new call (or a name): the calls so far, redrawn.
                    let lines: Vec<String> = m
                        .tool_calls
                        .iter()
                        .filter(|c| !c.name.is_empty() || !c.arguments.is_empty())
                        .map(|c| format!("⚙ {} {}", c.name, c.arguments))
                        .collect();
                    self.set_tools(sanitize::sanitize(&lines.join("\n")));
                    self.tools_last = Some(c.index);
                }
            }
            EventKind::Finished { .. } if !m.tool_calls.is_empty() => {
                let calls: Vec<ToolCall> = m.tool_calls.iter().map(|c| c.finish()).collect();
                self.set_tools(finished_tools(&calls));
            }
            EventKind::Text(t) => sanitize::push_sanitized(&mut self.text, t),
            EventKind::Reasoning(t) => sanitize::push_sanitized(&mut self.reasoning, t),
            EventKind::Failed(e) => self.error = Some(sanitize::sanitize(&e.message)),
            EventKind::ServerModel(s) => self.server_model = Some(sanitize::one_line(s)),
            _ => {}
        }
    }

    /// Starts the pane over for the next turn of a conversation (the text so far moves into
    /// the history the caller sets).
    pub fn next_turn(&mut self, metrics: RequestMetrics) {
        self.metrics = Some(metrics);
        self.text.clear();
        self.reasoning.clear();
        self.set_tools(String::new());
        self.tools_last = None;
        self.error = None;
        self.scroll = Scroll::Follow;
        *self.wrap.borrow_mut() = WrapCache::default();
    }

    /// Sets the conversation shown above the answer (already sanitized).
    pub fn set_history(&mut self, history: String) {
        self.history = history;
        self.wrap.borrow_mut().history = Wrapped::default();
    }

    /// Replaces the tool calls shown (their wrap index starts over).
    pub(crate) fn set_tools(&mut self, tools: String) {
        self.tools = tools;
        self.wrap.borrow_mut().tools = Wrapped::default();
    }

    /// Line counts of the body at `width` (updating the wrap cache).
    pub fn sections(&self, width: usize, show_reasoning: bool) -> Sections {
        let mut c = self.wrap.borrow_mut();
        let mut s = Sections { reasoning_shown: show_reasoning, ..Sections::default() };
        if !self.history.is_empty() {
            c.history.update(&self.history, width);
            s.history = c.history.len() + 1;
        }
        if !self.reasoning.is_empty() {
            s.reasoning = 2;
            if show_reasoning {
                c.reasoning.update(&self.reasoning, width);
                s.reasoning += c.reasoning.len();
            }
        }
        if !self.text.is_empty() {
            c.text.update(&self.text, width);
            s.text = c.text.len();
        }
        if !self.tools.is_empty() {
            c.tools.update(&self.tools, width);
            s.tools = c.tools.len() + usize::from(s.text > 0);
        }
        if let Some(e) = &self.error {
            c.error.update(e, width);
            s.error = c.error.len() + usize::from(s.history + s.reasoning + s.text + s.tools > 0);
        }
        s
    }

    /// Visual line `i` of the body, given `sections` computed at the same width just before.
    pub fn line(&self, sections: &Sections, i: usize) -> (LineKind, String) {
        let c = self.wrap.borrow();
        let mut i = i;
        if i < sections.history {
            if i + 1 == sections.history {
                return (LineKind::Blank, String::new());
            }
            return (LineKind::History, c.history.line(&self.history, i).to_string());
        }
        i -= sections.history;
        if i < sections.reasoning {
            if i == 0 {
                return (LineKind::ReasoningHeader, String::new());
            }
            if i + 1 == sections.reasoning {
                return (LineKind::Blank, String::new());
            }
            return (LineKind::Reasoning, c.reasoning.line(&self.reasoning, i - 1).to_string());
        }
        i -= sections.reasoning;
        if i < sections.text {
            return (LineKind::Text, c.text.line(&self.text, i).to_string());
        }
        i -= sections.text;
        if i < sections.tools {
            let gap = usize::from(sections.text > 0);
            if i < gap {
                return (LineKind::Blank, String::new());
            }
            return (LineKind::Tool, c.tools.line(&self.tools, i - gap).to_string());
        }
        i -= sections.tools;
        let gap = usize::from(sections.history + sections.reasoning + sections.text + sections.tools > 0);
        if i < gap {
            return (LineKind::Blank, String::new());
        }
        match &self.error {
            Some(e) => (LineKind::Error, c.error.line(e, i - gap).to_string()),
            None => (LineKind::Blank, String::new()),
        }
    }

    /// Reasoning lines at `width` (for the folded header's count).
    pub fn reasoning_lines(&self, width: usize) -> usize {
        let mut c = self.wrap.borrow_mut();
        c.reasoning.update(&self.reasoning, width);
        c.reasoning.len()
    }

    /// The top line shown for a view of `height` lines over `total` lines.
    pub fn top(&self, total: usize, height: usize) -> usize {
        let max_top = total.saturating_sub(height);
        match self.scroll {
            Scroll::Follow => max_top,
            Scroll::At(t) => t.min(max_top),
        }
    }

    /// Scrolls by `delta` lines (negative = up) in a view of `height` over `total` lines.
    /// Reaching the end resumes following.
    pub fn scroll_by(&mut self, delta: isize, total: usize, height: usize) {
        let top = self.top(total, height);
        let max_top = total.saturating_sub(height);
        let new = top.saturating_add_signed(delta).min(max_top);
        self.scroll = if new >= max_top { Scroll::Follow } else { Scroll::At(new) };
    }
}

/// Finished tool calls as shown: `⚙ name` and the arguments pretty-printed below it, or the
/// arguments as streamed with why they do not parse. Sanitized.
pub fn finished_tools(calls: &[ToolCall]) -> String {
    let mut out = String::new();
    for c in calls {
        if !out.is_empty() {
            out.push('\n');
        }
        match (&c.arguments_error, &c.schema_error) {
            (None, schema_error) => {
                let args = serde_json::to_string_pretty(&c.arguments).unwrap_or_else(|_| c.arguments.to_string());
                let mark = schema_error.as_ref().map(|e| format!(" ✗ {e}")).unwrap_or_default();
                out.push_str(&format!("⚙ {}{mark}\n{args}", c.name));
            }
            (Some(e), _) => out.push_str(&format!("⚙ {} ✗ {e}\n{}", c.name, c.arguments_raw)),
        }
    }
    sanitize::sanitize(&out)
}
