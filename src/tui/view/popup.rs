//! Popups drawn over everything: the help overlay (generated from the keymap), the model
//! checklist and the system-prompt editor.

use super::{block, put, row, styled};
use crate::tui::app::{App, Popup};
use crate::tui::keymap::{self, Context, KEYMAP};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Widget};

/// A centred rectangle of at most `w`×`h` inside `area`.
fn centred(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect { x: area.x + (area.width - w) / 2, y: area.y + (area.height - h) / 2, width: w, height: h }
}

pub fn draw(buf: &mut Buffer, app: &App, area: Rect) {
    match &app.popup {
        None => {}
        Some(Popup::Help { scroll }) => help(buf, app, area, *scroll),
        Some(Popup::Picker { cursor, checked }) => picker(buf, app, area, *cursor, checked),
        Some(Popup::System(t)) => {
            let r = centred(area, 72, 12);
            Clear.render(r, buf);
            let th = app.theme();
            let blk = block(app, true)
                .title(Line::styled(" system prompt ", th.focus))
                .title_bottom(Line::styled(" Enter save · Alt-Enter newline · Esc cancel ", th.muted).right_aligned());
            let inner = blk.inner(r);
            blk.render(r, buf);
            if !inner.is_empty() {
                t.as_ref().render(inner, buf);
            }
        }
    }
}

/// The help lines, generated from the keymap table.
pub fn help_lines(app: &App) -> Vec<Line<'static>> {
    let th = app.theme();
    let mut out = Vec::new();
    for ctx in [Context::Editor, Context::Panes, Context::Global] {
        if !out.is_empty() {
            out.push(Line::raw(""));
        }
        out.push(Line::styled(ctx.title().to_string(), th.title));
        for b in KEYMAP.iter().filter(|b| b.context == ctx) {
            let keys = keymap::keys_label(b);
            let pad = 22usize.saturating_sub(crate::tui::wrap::str_width(&keys));
            out.push(Line::from(vec![
                styled(format!("  {keys}{}", " ".repeat(pad)), th.accent),
                styled(b.help, th.text),
            ]));
        }
    }
    out.push(Line::raw(""));
    out.push(Line::styled("metrics", th.title));
    for s in [
        "  TTFT = first token − request sent; total = stream end − sent",
        "  tok/s = (output tokens − 1) ÷ (end − first token); stall = longest gap",
        "  ~ / est = estimated locally; ✓usage (or ✓) = counted by the provider; $— = unknown price",
    ] {
        out.push(Line::styled(s, th.muted));
    }
    out
}

fn help(buf: &mut Buffer, app: &App, area: Rect, scroll: u16) {
    let lines = help_lines(app);
    let r = centred(area, 92, lines.len() as u16 + 2);
    Clear.render(r, buf);
    let th = app.theme();
    let blk = block(app, true)
        .title(Line::styled(" help — keys ", th.focus))
        .title_bottom(Line::styled(" ↑↓ scroll · any other key closes ", th.muted).right_aligned());
    let inner = blk.inner(r);
    blk.render(r, buf);
    let max_scroll = (lines.len() as u16).saturating_sub(inner.height);
    let scroll = scroll.min(max_scroll);
    for (dy, line) in lines.into_iter().skip(usize::from(scroll)).take(usize::from(inner.height)).enumerate() {
        put(buf, row(inner, dy as u16), line);
    }
}

fn picker(buf: &mut Buffer, app: &App, area: Rect, cursor: usize, checked: &[bool]) {
    let th = app.theme();
    let r = centred(area, 60, app.models.len() as u16 + 2);
    Clear.render(r, buf);
    let blk = block(app, true)
        .title(Line::styled(" models in the next round ", th.focus))
        .title_bottom(Line::styled(" Space toggle · a all · Enter apply · Esc ", th.muted).right_aligned());
    let inner = blk.inner(r);
    blk.render(r, buf);
    let h = usize::from(inner.height).max(1);
    let first = cursor.saturating_sub(h - 1);
    for (dy, (i, spec)) in app.models.iter().enumerate().skip(first).take(h).enumerate() {
        let on = checked.get(i).copied().unwrap_or(false);
        let mark = if on { "[x] " } else { "[ ] " };
        let st = if i == cursor { th.selection } else { th.text };
        let line = Line::from(vec![
            Span::styled(format!(" {mark}{}", crate::sanitize::one_line(&spec.name)), st),
            styled(format!("  {} · {}", spec.provider, crate::sanitize::one_line(&spec.model)), th.muted),
        ]);
        put(buf, row(inner, dy as u16), line);
    }
}
