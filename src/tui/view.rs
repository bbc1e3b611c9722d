//! Drawing: pure functions of `(&App, now)` onto a frame. No clock is read here — `now` is passed
//! in, so a snapshot at a fixed instant is stable — and no state changes but the wrap caches.

mod pane;
mod popup;
pub mod summary;

pub use pane::metrics_lines as pane_metrics;
pub use popup::details_lines;

use super::app::App;
use super::layout::Arrangement;
use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Paragraph, Widget};
use tokio::time::Instant;

/// Draws the whole screen.
pub fn draw(frame: &mut Frame, app: &App, now: Instant) {
    let area = frame.area();
    render(frame, app, now, area);
}

fn render(frame: &mut Frame, app: &App, now: Instant, area: Rect) {
    let scr = app.layout(area);
    let buf = frame.buffer_mut();
    status_bar(buf, app, scr.status);
    if app.summary {
        let body = Rect { y: scr.status.bottom(), height: scr.footer.y.saturating_sub(scr.status.bottom()), ..area };
        summary::draw(buf, app, body);
        footer(buf, app, scr.footer);
        popup::draw(buf, app, area);
        return;
    }
    if !scr.editor.is_empty() {
        editor(buf, app, scr.editor);
    }
    for (slot, r) in &scr.panes {
        let focused = !app.editor_focused && *slot == app.pane_focus;
        pane::draw(buf, app, *slot, *r, focused || scr.arrangement == Arrangement::Strips, now);
    }
    for (slot, r) in &scr.strips {
        pane::strip(buf, app, *slot, *r);
    }
    footer(buf, app, scr.footer);
    popup::draw(buf, app, area);
}

/// Renders one line into `area` (clipped; nothing when `area` is empty).
pub(super) fn put(buf: &mut Buffer, area: Rect, line: Line) {
    if !area.is_empty() {
        Paragraph::new(line).render(area, buf);
    }
}

/// `area` row `dy` (or an empty rect when out of range).
pub(super) fn row(area: Rect, dy: u16) -> Rect {
    if dy >= area.height { Rect { height: 0, ..area } } else { Rect { y: area.y + dy, height: 1, ..area } }
}

fn status_bar(buf: &mut Buffer, app: &App, area: Rect) {
    let th = app.theme();
    buf.set_style(area, th.status);
    let mut spans =
        vec![Span::styled(" bakeoff", th.status.patch(th.title)), Span::raw(format!(" · round {}", app.round))];
    if app.demo {
        spans.push(Span::raw(" · demo models (built-in mock; real models: README › Configure)"));
    } else {
        spans.push(Span::raw(format!(" · {} models", app.models.len())));
    }
    if let Some(n) = &app.notice {
        spans.push(Span::raw(" · "));
        spans.push(Span::styled(n.clone(), th.status.patch(th.warn)));
    }
    put(buf, area, Line::from(spans).style(th.status));
}

fn editor(buf: &mut Buffer, app: &App, area: Rect) {
    let th = app.theme();
    let focused = app.editor_focused && app.popup.is_none();
    let border = if focused { th.focus } else { th.border };
    let mut title = vec![Span::styled(" prompt ", if focused { th.focus } else { th.title })];
    if app.system.is_some() {
        title.push(Span::styled("· system prompt set ", th.muted));
    }
    // What goes with the next prompt, on the line above it.
    for a in &app.attachments {
        title.push(Span::styled(format!("· {} ", a.label()), th.title));
    }
    let hint = if focused { " Enter send · Alt-Enter newline · ↑↓ history · Tab panes " } else { " i edit " };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Rounded)
        .border_style(border)
        .title(Line::from(title))
        .title_bottom(Line::styled(hint, th.muted).right_aligned());
    let inner = block.inner(area);
    block.render(area, buf);
    if !inner.is_empty() {
        (&app.editor).render(inner, buf);
    }
}

fn footer(buf: &mut Buffer, app: &App, area: Rect) {
    if area.is_empty() {
        return;
    }
    let th = app.theme();
    let selected = app.selected.iter().filter(|s| **s).count();
    let running = app.running();
    let mut right = String::new();
    if let Some(c) = app.case_label() {
        right.push_str(&format!("{c} · "));
    }
    if app.round_turn >= 2 {
        right.push_str(&format!("turn {} · ", app.round_turn));
    }
    if app.auto {
        right.push_str("unattended · ");
    }
    if app.hidden() {
        right.push_str("blind · ");
    } else if app.blind_next {
        right.push_str("blind next · ");
    }
    right.push_str(&format!("round {}", app.round));
    if area.width >= 120 {
        right.push_str(&format!(" · {}/{} models", selected, app.models.len()));
    }
    if running > 0 {
        right.push_str(&format!(" · {running} running"));
    }
    // While a blind round's names are hidden, its cost is too (a price names the model).
    let cost = if app.hidden() { app.past_cost } else { app.session_cost() };
    right.push_str(&format!(" · session {} ", cost.label()));
    let hints: &[&str] = if app.summary {
        &["Esc/v close", "S save report", "? help", "Ctrl-C quit"]
    } else if app.editor_focused && !app.cases.is_empty() {
        &["Enter send", "F7/F8 case", "Tab panes", "F1 help", "Ctrl-S save", "Ctrl-C quit"]
    } else if app.editor_focused {
        &["Enter send", "Tab panes", "F1 help", "F2 system", "F3 models", "F4 theme", "Ctrl-C quit"]
    } else if !app.cases.is_empty() {
        &["Tab focus", "? help", "[ ] case", "A run all", "1-5 score", "w winner", "v summary", "S save", "q quit"]
    } else {
        &[
            "Tab focus",
            "? help",
            "1-5 score",
            "w winner",
            "n note",
            "v summary",
            "S save",
            "b blind",
            "Esc cancel all",
            "x cancel",
            "z zoom",
            "r re-run",
            "q quit",
            "e reasoning",
            "m models",
            "s system",
            "t theme",
        ]
    };
    let rw = super::wrap::str_width(&right) as u16;
    let left_w = area.width.saturating_sub(rw);
    // As many whole hints as fit, most important first.
    let mut left = String::new();
    for h in hints {
        let next = if left.is_empty() { format!(" {h}") } else { format!("{left} · {h}") };
        if super::wrap::str_width(&next) + 1 > usize::from(left_w) {
            break;
        }
        left = next;
    }
    put(buf, Rect { width: left_w, ..area }, Line::styled(left, th.muted));
    put(
        buf,
        Rect { x: area.x + left_w, width: area.width - left_w, ..area },
        Line::styled(right, th.text).right_aligned(),
    );
}

/// A rounded bordered block in the theme's border (or focus) style.
pub(super) fn block<'a>(app: &App, focused: bool) -> Block<'a> {
    let th = app.theme();
    Block::default().borders(Borders::ALL).border_type(BorderType::Rounded).border_style(if focused {
        th.focus
    } else {
        th.border
    })
}

pub(super) fn styled(s: impl Into<String>, st: Style) -> Span<'static> {
    Span::styled(s.into(), st)
}
