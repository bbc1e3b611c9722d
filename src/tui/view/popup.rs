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
        Some(Popup::Note { slot, editor }) => {
            let r = centred(area, 64, 3);
            Clear.render(r, buf);
            let th = app.theme();
            let blk = block(app, true)
                .title(Line::styled(format!(" note on {} ", app.pane_label(*slot)), th.focus))
                .title_bottom(Line::styled(" Enter save (empty clears) · Esc cancel ", th.muted).right_aligned());
            let inner = blk.inner(r);
            blk.render(r, buf);
            if !inner.is_empty() {
                editor.as_ref().render(inner, buf);
            }
        }
        Some(Popup::Quit) => quit(buf, app, area),
        Some(Popup::Details { slot, scroll }) => details(buf, app, area, *slot, *scroll),
        Some(Popup::History { scroll, text }) => history(buf, app, area, *scroll, text.as_ref()),
    }
}

/// The results history's trends for the models on screen (`bakeoff trend`'s tables).
fn history(buf: &mut Buffer, app: &App, area: Rect, scroll: u16, text: Option<&Result<String, String>>) {
    let th = app.theme();
    let lines: Vec<Line<'static>> = match text {
        None => vec![Line::styled("reading the results history…", th.muted)],
        Some(Err(e)) => vec![Line::styled(crate::sanitize::one_line(e), th.warn)],
        Some(Ok(t)) => t.lines().map(|l| Line::styled(crate::sanitize::sanitize(l), th.text)).collect(),
    };
    let within = centred(area, area.width.saturating_sub(4).max(20), area.height);
    scrolled(buf, app, within, " history · these models run after run ", lines, scroll);
}

fn quit(buf: &mut Buffer, app: &App, area: Rect) {
    let th = app.theme();
    let r = centred(area, 50, 7);
    Clear.render(r, buf);
    let blk = block(app, true).title(Line::styled(" quit ", th.focus));
    let inner = blk.inner(r);
    blk.render(r, buf);
    let lines = [
        Line::styled(" Ratings given since the last report save.", th.text),
        Line::raw(""),
        Line::from(vec![styled("  s / Enter ", th.accent), styled("save the report and quit", th.text)]),
        Line::from(vec![styled("  q         ", th.accent), styled("quit without saving (journal kept)", th.text)]),
        Line::from(vec![styled("  Esc       ", th.accent), styled("cancel", th.text)]),
    ];
    for (dy, l) in lines.into_iter().enumerate() {
        put(buf, row(inner, dy as u16), l);
    }
}

/// Evaluator results, note and verdicts of one answer.
pub fn details_lines(app: &App, slot: usize) -> Vec<Line<'static>> {
    let th = app.theme();
    let rt = app.rating(slot);
    let mut out = Vec::new();
    let score = rt.score.map_or("—".to_string(), |s| format!("{s}/5"));
    out.push(Line::from(vec![styled("score ", th.muted), styled(score, th.text)]));
    if rt.winner || rt.tie {
        out.push(Line::styled(if rt.winner { "winner of the round" } else { "round called a tie" }, th.text));
    }
    if let Some(n) = &rt.note {
        out.push(Line::from(vec![styled("note ", th.muted), styled(n.clone(), th.text)]));
    }
    let acc = match rt.acceptable {
        Some(true) => "acceptable",
        Some(false) => "not acceptable",
        None => "acceptability unknown",
    };
    out.push(Line::styled(acc, th.muted));
    out.push(Line::raw(""));
    if rt.evals.is_empty() {
        out.push(Line::styled(if rt.evaluating { "evaluating…" } else { "no evaluators ran" }, th.muted));
    }
    for e in &rt.evals {
        let (mark, st) = match e.passed {
            Some(true) => ("✓", th.ok),
            Some(false) => ("✗", th.error),
            None if e.is_score_only() => ("·", th.accent),
            None => ("?", th.warn),
        };
        let mut head = vec![styled(format!("{mark} "), st), styled(crate::sanitize::one_line(&e.name), th.title)];
        match (e.kind, e.raw_score, e.score) {
            (crate::eval::EvaluatorKind::Judge, Some(r), _) => {
                head.push(styled(format!("  {}", crate::format::judge_score(r)), th.text))
            }
            (crate::eval::EvaluatorKind::Similarity, Some(c), _) => {
                head.push(styled(format!("  cosine {c:.3}"), th.text))
            }
            (_, _, Some(s)) => head.push(styled(format!("  score {s:.2}"), th.text)),
            _ => {}
        }
        out.push(Line::from(head));
        for t in e.error.iter().chain(&e.detail) {
            out.push(Line::styled(format!("    {}", crate::sanitize::one_line(t)), th.muted));
        }
        // A panel: each judge's own score and reason.
        for v in e.votes.iter().filter(|_| e.votes.len() > 1) {
            let said = match (v.score, &v.error) {
                (Some(s), _) => format!(
                    "{}{}",
                    crate::format::judge_score(s),
                    v.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default()
                ),
                (None, Some(err)) => format!("failed: {err}"),
                (None, None) => "no verdict".into(),
            };
            out.push(Line::styled(
                format!("    · {}: {}", crate::sanitize::one_line(&v.judge), crate::sanitize::one_line(&said)),
                th.muted,
            ));
        }
    }
    let hidden = app.hidden();
    if let Some(r) = app.session.round(app.round).filter(|r| !r.pairwise.is_empty() && !hidden) {
        out.push(Line::raw(""));
        out.push(Line::styled("pairwise", th.title));
        for p in &r.pairwise {
            let w = match (&p.error, p.winner.as_deref()) {
                (Some(e), _) => format!("not judged ({e})"),
                (None, Some(w)) => format!("{w} wins"),
                (None, None) => "tie".to_string(),
            };
            out.push(Line::styled(
                crate::sanitize::one_line(&format!("  {} vs {}: {w} ({})", p.a, p.b, p.by)),
                th.text,
            ));
        }
    }
    out
}

fn details(buf: &mut Buffer, app: &App, area: Rect, slot: usize, scroll: u16) {
    let title = format!(" {} · evaluation ", app.pane_label(slot));
    scrolled(buf, app, centred(area, 84, u16::MAX), &title, details_lines(app, slot), scroll);
}

/// `lines` in a centred box at most `within` big (shrunk to fit them), titled, scrolled by
/// `scroll`; any key but the arrows closes it.
fn scrolled(buf: &mut Buffer, app: &App, within: Rect, title: &str, lines: Vec<Line<'static>>, scroll: u16) {
    let th = app.theme();
    let r = centred(within, within.width, lines.len() as u16 + 2);
    Clear.render(r, buf);
    let blk = block(app, true)
        .title(Line::styled(title.to_string(), th.focus))
        .title_bottom(Line::styled(" ↑↓ scroll · any other key closes ", th.muted).right_aligned());
    let inner = blk.inner(r);
    blk.render(r, buf);
    let max = (lines.len() as u16).saturating_sub(inner.height);
    for (dy, l) in lines.into_iter().skip(usize::from(scroll.min(max))).take(usize::from(inner.height)).enumerate() {
        put(buf, row(inner, dy as u16), l);
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
    out.push(Line::styled("editor commands (a line of their own; Enter runs them)", th.title));
    for (cmd, what) in [
        (
            ":attach PATH",
            "send an image (PNG, JPEG, GIF, WebP) or a PDF — a file or http(s) URL — with the next prompt",
        ),
        (":detach", "drop the attachments"),
    ] {
        let pad = 22usize.saturating_sub(cmd.len());
        out.push(Line::from(vec![styled(format!("  {cmd}{}", " ".repeat(pad)), th.accent), styled(what, th.text)]));
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
