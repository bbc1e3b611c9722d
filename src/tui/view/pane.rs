//! One model's pane (header, two metric lines that never scroll away, wrapped text) and its
//! one-line strip for the narrow layout. Every figure comes from `RequestMetrics` at `now`.

use super::{block, put, row, styled};
use crate::format;
use crate::metrics::{Phase, RequestMetrics, RequestResult, Status};
use crate::tui::app::{App, PaneRating};
use crate::tui::layout;
use crate::tui::pane_state::{LineKind, Pane, Scroll};
use crate::tui::theme::Theme;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;
use std::time::Duration;
use tokio::time::Instant;

/// Width of one sparkline bar in time.
const SPARK_BUCKET: Duration = Duration::from_millis(250);
const SPARK_MAX: usize = 16;
const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// The state word and its style. The word alone carries the meaning (NO_COLOR still reads).
pub fn state(p: &Pane, th: &Theme) -> (String, Style) {
    match p.phase() {
        None => match &p.restored {
            Some(r) => match r.status {
                Status::Ok => done_word(r.warning.as_deref(), th),
                Status::Cancelled => ("cancelled".into(), th.warn),
                Status::Error => (
                    format!("error · {}", truncate(p.error.as_deref().unwrap_or("").lines().next().unwrap_or(""), 48)),
                    th.error,
                ),
            },
            None => ("ready".into(), th.muted),
        },
        Some(ph) => {
            let st = match ph {
                Phase::Waiting => th.muted,
                Phase::Connecting | Phase::AwaitingToken => th.warn,
                Phase::Streaming => th.accent,
                Phase::Done { .. } => th.ok,
                Phase::Failed(_) => th.error,
                Phase::Cancelled => th.warn,
            };
            let mut word = ph.label().to_string();
            if let (Phase::Failed(_), Some(e)) = (ph, &p.error) {
                let first = e.lines().next().unwrap_or("");
                word = format!("error · {}", truncate(first, 48));
            }
            if let Phase::Done { .. } = ph {
                return done_word(p.metrics.as_ref().and_then(|m| m.warning.as_deref()), th);
            }
            (word, st)
        }
    }
}

/// `done`, or `done · <warning>` in the warning style when the answer came whole but something
/// was off (the stream's end marker missing).
fn done_word(warning: Option<&str>, th: &Theme) -> (String, Style) {
    match warning {
        Some(w) => (format!("done · {}", truncate(&crate::sanitize::one_line(w), 48)), th.warn),
        None => ("done".into(), th.ok),
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

type Item = Vec<Span<'static>>;

fn item_width(it: &Item) -> usize {
    it.iter().map(Span::width).sum()
}

/// Timing and token items: `TTFT 212ms`, `1.21s…` / `total 1.84s`, `41 tok`, `57.0/s`.
fn time_items(m: &RequestMetrics, th: &Theme, now: Instant) -> Vec<Item> {
    let mut items = vec![vec![styled("TTFT ", th.muted), styled(format::opt_ms(m.ttft()), th.text)]];
    // The answer's own first token, when reasoning came first.
    let ms = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1e3);
    if let Some(a) = format::answer_ttft(ms(m.ttft()), ms(m.ttft_answer())) {
        items.push(vec![styled("answer ", th.muted), styled(format::ms_f64(a), th.text)]);
    }
    let elapsed = m.elapsed(now).map(|d| format::secs(d.as_secs_f64()));
    match (&m.phase, elapsed) {
        (_, None) => {}
        (Phase::Done { .. }, _) => items.push(vec![
            styled("total ", th.muted),
            styled(m.latency().map_or("—".into(), |d| format::secs(d.as_secs_f64())), th.text),
        ]),
        (Phase::Failed(_) | Phase::Cancelled, Some(e)) => {
            items.push(vec![styled("after ", th.muted), styled(e, th.text)])
        }
        (_, Some(e)) => items.push(vec![styled(format!("{e}…"), th.text)]),
    }
    // Token count and rate once there is something to count.
    if m.first_token.is_some() || m.tokens_exact() {
        let tilde = if m.tokens_exact() { "" } else { "~" };
        items.push(vec![styled(format!("{tilde}{} tok", m.output_tokens()), th.text)]);
        items.push(vec![styled(format::rate(live_rate(m, now)), th.text)]);
    }
    if let Some(d) = m.ttf_tool() {
        items.push(vec![styled("tool ", th.muted), styled(format::ms(d), th.text)]);
    }
    items
}

/// A price per million tokens as people write it: `0.60`, `3.00`, `0.075`.
fn per_mtok(v: f64) -> String {
    if (v * 100.0).fract().abs() < 1e-9 { format!("{v:.2}") } else { format!("{v}") }
}

/// A streaming rate is shown once it means something: 250 ms after the first token and with
/// 5 tokens in. Before that it is a burst over a few milliseconds ("3 tok 644/s"). Both, not
/// either: five tokens that arrive together are still a burst. The final rate always shows.
fn live_rate(m: &RequestMetrics, now: Instant) -> Option<f64> {
    const SETTLE: std::time::Duration = std::time::Duration::from_millis(250);
    const MIN_TOKENS: u64 = 5;
    let settled =
        m.first_token.is_some_and(|f| now.saturating_duration_since(f) >= SETTLE) && m.output_tokens() >= MIN_TOKENS;
    if matches!(m.phase, Phase::Streaming) && !settled { None } else { m.tokens_per_s(now) }
}

/// Cost item: `$0.00011 ✓usage`, `~$0.00062 est`, `$—`.
fn cost_item(m: &RequestMetrics, th: &Theme) -> Item {
    // A request that failed before any answer has no cost we could know.
    let nothing_back = m.first_token.is_none() && m.usage.is_none() && m.phase.is_finished();
    match m.cost() {
        None => vec![styled("$—", th.muted)],
        Some(_) if nothing_back => vec![styled("$— (no answer)", th.muted)],
        Some(c) if m.tokens_exact() => vec![styled(format::usd(Some(c)), th.text), styled(" ✓usage", th.ok)],
        Some(c) => vec![styled(format!("~{}", format::usd(Some(c))), th.text), styled(" est", th.warn)],
    }
}

fn join(items: Vec<Item>, sep: &str) -> Line<'static> {
    let mut spans = Vec::new();
    for (i, it) in items.into_iter().enumerate() {
        if i > 0 {
            spans.push(Span::raw(sep.to_string()));
        }
        spans.extend(it);
    }
    Line::from(spans)
}

/// The two metric lines. Wide: timing and tokens on the first, cost, sparkline and longest stall
/// on the second. Narrow: TTFT and elapsed first, cost second, then tokens, rate and stall where
/// they still fit — so a 30-column pane shows the key numbers whole instead of cutting them off.
pub fn metrics_lines(m: &RequestMetrics, th: &Theme, now: Instant, width: usize) -> [Line<'static>; 2] {
    metrics_lines_blind(m, th, now, width, false)
}

/// [`metrics_lines`], with the cost hidden while a blind round's names are (a price names the
/// model).
pub fn metrics_lines_blind(
    m: &RequestMetrics,
    th: &Theme,
    now: Instant,
    width: usize,
    hide_cost: bool,
) -> [Line<'static>; 2] {
    let mut first = time_items(m, th, now);
    let cost = if hide_cost { vec![styled("$ hidden (blind)", th.muted)] } else { cost_item(m, th) };
    let stall: Option<Item> =
        m.longest_stall(now).map(|d| vec![styled("stall ", th.muted), styled(format::ms(d), th.text)]);
    // What the provider's prompt cache did, next to the cost it changed.
    let cache: Option<Item> = m
        .usage
        .as_ref()
        .and_then(|u| format::cache_use(u.cached_input_tokens, u.cache_write_tokens))
        .map(|c| vec![styled("cache ", th.muted), styled(c, th.text)]);
    let w =
        |items: &[Item], sep: usize| items.iter().map(item_width).sum::<usize>() + sep * items.len().saturating_sub(1);
    let second: Vec<Item> = std::iter::once(cost.clone()).chain(cache.clone()).chain(stall.clone()).collect();
    for sep in [2, 1] {
        if w(&first, sep) <= width && w(&second, sep) <= width {
            // Room for the sparkline between cost and stall?
            let room = width.saturating_sub(w(&second, sep) + sep).min(SPARK_MAX);
            let mut second = vec![cost];
            second.extend(cache);
            if room >= 3 && m.first_token.is_some() {
                second.push(vec![styled(sparkline(m, now, room), th.accent)]);
            }
            second.extend(stall);
            let sep = " ".repeat(sep);
            return [join(first, &sep), join(second, &sep)];
        }
    }
    let extra = first.split_off(first.len().min(2));
    // Narrow: `✓usage` shrinks to `✓` (the help explains both).
    let mut cost = cost;
    if let Some(last) = cost.last_mut().filter(|s| s.content == " ✓usage") {
        *last = styled(" ✓", th.ok);
    }
    let mut lines = [first, vec![cost]];
    for it in extra.into_iter().chain(cache).chain(stall) {
        if let Some(l) = lines.iter_mut().find(|l| w(l, 1) + 1 + item_width(&it) <= width) {
            l.push(it);
        }
    }
    let [a, b] = lines;
    [join(a, " "), join(b, " ")]
}

/// The token rate over the last `n` buckets, scaled to the highest of them.
fn sparkline(m: &RequestMetrics, now: Instant, n: usize) -> String {
    let tail = m.rate_buckets(SPARK_BUCKET, now, n);
    let max = tail.iter().copied().max().unwrap_or(0).max(1);
    tail.iter().map(|&v| if v == 0 { ' ' } else { BARS[((v * 7).div_ceil(max) as usize).min(7)] }).collect()
}

/// The journaled figures of a restored pane, in the same two lines.
fn result_lines(r: &RequestResult, th: &Theme, hide_cost: bool) -> [Line<'static>; 2] {
    let ms = |v: Option<f64>| v.map_or("—".to_string(), |v| format::ms(Duration::from_secs_f64(v.max(0.0) / 1e3)));
    let tilde = if r.tokens_estimated { "~" } else { "" };
    let mut first = vec![styled("TTFT ", th.muted), styled(ms(r.ttft_ms), th.text)];
    if r.latency_ms.is_some() {
        first.extend([styled("  total ", th.muted), styled(ms(r.latency_ms), th.text)]);
    }
    first.push(styled(format!("  {tilde}{} tok  {}", r.output_tokens, format::rate(r.tokens_per_s)), th.text));
    if r.ttf_tool_ms.is_some() {
        first.extend([styled("  tool ", th.muted), styled(ms(r.ttf_tool_ms), th.text)]);
    }
    let second = match r.cost_usd {
        _ if hide_cost => vec![styled("$ hidden (blind)", th.muted)],
        None => vec![styled("$—", th.muted)],
        Some(c) if r.tokens_estimated => {
            vec![styled(format!("~{}", format::usd(Some(c))), th.text), styled(" est", th.warn)]
        }
        Some(c) => vec![styled(format::usd(Some(c)), th.text), styled(" ✓usage", th.ok)],
    };
    let mut second = second;
    second.push(styled("  (resumed)", th.muted));
    [Line::from(first), Line::from(second)]
}

/// `★★★★☆`
pub fn stars(score: u8) -> String {
    let s = usize::from(score.min(5));
    "★".repeat(s) + &"☆".repeat(5 - s)
}

/// The evaluator line: `✓ contains ✓ json ✗ judge 2/5 · acceptable`.
pub fn eval_line(rt: &PaneRating, th: &Theme) -> Option<Line<'static>> {
    if rt.evals.is_empty() && !rt.evaluating && rt.acceptable.is_none() {
        return None;
    }
    let mut spans = vec![styled("─ ", th.border)];
    for e in &rt.evals {
        let (mark, st) = match e.passed {
            Some(true) => ("✓", th.ok),
            Some(false) => ("✗", th.error),
            None if e.is_score_only() => ("·", th.accent),
            None => ("?", th.warn),
        };
        spans.push(styled(mark, st));
        let mut name = crate::sanitize::one_line(&e.name);
        if e.kind == crate::eval::EvaluatorKind::Judge
            && let Some(r) = e.raw_score
        {
            // A panel's mean is rarely whole.
            name.push(' ');
            name.push_str(&crate::format::judge_score(r));
        } else if e.kind.is_reference_metric()
            && let Some(s) = e.score
        {
            name.push_str(&format!(" {s:.2}"));
        }
        spans.push(styled(format!(" {name} "), th.text));
    }
    if rt.evaluating {
        spans.push(styled("evaluating… ", th.muted));
    }
    let dot = if spans.len() > 1 { "· " } else { "" };
    match rt.acceptable {
        Some(true) => spans.push(styled(format!("{dot}acceptable "), th.ok)),
        Some(false) => spans.push(styled(format!("{dot}not acceptable "), th.error)),
        None => {}
    }
    Some(Line::from(spans))
}

/// The bottom border: `score ★★★★☆ · winner · note: …`, or a hint on the focused pane.
fn rating_title(rt: &PaneRating, th: &Theme, focused: bool, has_text: bool) -> Option<Line<'static>> {
    let mut parts: Vec<Span<'static>> = Vec::new();
    if let Some(s) = rt.score {
        parts.push(styled(format!(" score {} ", stars(s)), th.accent));
    }
    if rt.winner {
        parts.push(styled(" ★ winner ", th.ok.add_modifier(Modifier::BOLD)));
    } else if rt.tie {
        parts.push(styled(" tie ", th.text));
    }
    if let Some(n) = &rt.note {
        parts.push(styled(format!(" note: {} ", truncate(n, 40)), th.muted));
    }
    if parts.is_empty() && focused && has_text {
        parts.push(styled(" score ☆☆☆☆☆ (1–5 · w winner · n note) ", th.muted));
    }
    (!parts.is_empty()).then(|| Line::from(parts))
}

pub fn draw(buf: &mut Buffer, app: &App, slot: usize, area: Rect, focused: bool, now: Instant) {
    let Some(p) = app.panes.get(slot) else { return };
    let th = app.theme();
    let (word, st) = state(p, th);
    let hidden = app.hidden();
    let rt = app.rating(slot);
    let title = Line::from(vec![
        Span::raw(" "),
        styled("●", st),
        Span::raw(" "),
        styled(app.pane_label(slot), if focused { th.focus } else { th.title }),
        Span::raw("  "),
        styled(word, st.add_modifier(Modifier::BOLD)),
        Span::raw(" "),
    ]);
    // The model that answered, when not the one asked for (hidden with the names in a blind round).
    let served = app.models.get(p.model).and_then(|s| format::served_model(&s.model, p.server_model.as_deref()));
    let title = match served.filter(|_| !hidden) {
        Some(s) => {
            let mut spans = title.spans;
            spans.push(styled(format!("→ {s} "), th.muted));
            Line::from(spans)
        }
        None => title,
    };
    let text_area = layout::pane_text(area);
    let (w, h) = (usize::from(text_area.width), usize::from(text_area.height));
    let sections = p.sections(w.max(1), app.show_reasoning);
    let total = sections.total();
    let top = p.top(total, h);
    let mut blk = block(app, focused).title(title);
    if let Some(l) = rating_title(&rt, th, focused, !p.text.trim().is_empty()) {
        blk = blk.title_bottom(l);
    }
    if total > h && h > 0 {
        let end = (top + h).min(total);
        let mark = if matches!(p.scroll, Scroll::At(_)) && end < total { " · End follows" } else { "" };
        blk = blk.title_bottom(Line::styled(format!(" {}–{end}/{total}{mark} ", top + 1), th.muted).right_aligned());
    }
    let inner = blk.inner(area);
    blk.render(area, buf);
    if inner.is_empty() {
        return;
    }
    let sep_row = row(inner, 2);
    let inner = Rect {
        x: inner.x + layout::PANE_PAD.min(inner.width),
        width: inner.width.saturating_sub(2 * layout::PANE_PAD),
        ..inner
    };
    match &p.metrics {
        None if p.restored.is_some() => {
            if let Some(r) = &p.restored {
                let [l1, l2] = result_lines(r, th, hidden);
                put(buf, row(inner, 0), l1);
                put(buf, row(inner, 1), l2);
            }
        }
        None => {
            let spec = &app.models[p.model.min(app.models.len().saturating_sub(1))];
            put(buf, row(inner, 0), Line::styled("TTFT —", th.muted));
            // Before the first answer: what the model costs, or that its price is unknown.
            let price = match spec.price {
                Some(p) => format!("${}/${} per Mtok in/out", per_mtok(p.input), per_mtok(p.output)),
                None => "$— price unknown".into(),
            };
            put(buf, row(inner, 1), Line::styled(price, th.muted));
            let what = crate::sanitize::one_line(&format!("{} · {}", spec.provider, spec.model));
            put(buf, row(inner, 3), Line::styled(what, th.muted));
        }
        Some(m) => {
            let [l1, l2] = metrics_lines_blind(m, th, now, usize::from(inner.width), hidden);
            put(buf, row(inner, 0), l1);
            put(buf, row(inner, 1), l2);
        }
    }
    put(buf, sep_row, Line::styled("─".repeat(usize::from(sep_row.width)), th.border));
    if let Some(l) = eval_line(&rt, th) {
        put(buf, sep_row, l);
    }
    let streaming = matches!(p.phase(), Some(Phase::Streaming));
    let end = (top + h).min(total);
    for (dy, i) in (top..end).enumerate() {
        let (kind, text) = p.line(&sections, i);
        let mut line = match kind {
            LineKind::ReasoningHeader => {
                let label = if sections.reasoning_shown {
                    "▾ reasoning (e folds)".to_string()
                } else {
                    format!("▸ reasoning · {} lines folded (e shows)", p.reasoning_lines(w.max(1)))
                };
                Line::styled(label, th.reasoning.add_modifier(Modifier::BOLD))
            }
            LineKind::Reasoning => Line::styled(text, th.reasoning),
            LineKind::History => Line::styled(text, th.muted),
            LineKind::Blank => Line::raw(""),
            LineKind::Text => Line::styled(text, th.text),
            LineKind::Tool => Line::styled(text, th.accent),
            LineKind::Error => Line::styled(text, th.error),
        };
        // A block cursor after the last streamed character, if it fits.
        if streaming && i + 1 == sections.reasoning + sections.text && line.width() < w {
            line.push_span(styled("▌", th.accent));
        }
        put(buf, row(text_area, dy as u16), line);
    }
}

/// `▸ name  streaming  TTFT 212ms  $0.0011` — one line for a pane in the narrow layout.
pub fn strip(buf: &mut Buffer, app: &App, slot: usize, area: Rect) {
    let Some(p) = app.panes.get(slot) else { return };
    let th = app.theme();
    let (word, st) = state(p, th);
    let mut spans =
        vec![styled(" ▸ ", th.border), styled(app.pane_label(slot), th.title), Span::raw("  "), styled(word, st)];
    if let Some(m) = &p.metrics {
        spans.push(styled("  TTFT ", th.muted));
        spans.push(styled(format::opt_ms(m.ttft()), th.text));
        let cost = match m.cost() {
            _ if app.hidden() => "$ hidden".to_string(),
            None => "$—".to_string(),
            Some(c) if m.tokens_exact() => format!("{} ✓", format::usd(Some(c))),
            Some(c) => format!("~{}", format::usd(Some(c))),
        };
        spans.push(styled(format!("  {cost}"), th.text));
    }
    if let Some(s) = app.rating(slot).score {
        spans.push(styled(format!("  {}", stars(s)), th.accent));
    }
    put(buf, area, Line::from(spans));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{EventKind, RequestId, StreamEvent};

    #[test]
    fn a_live_rate_waits_until_it_means_something() {
        let t0 = Instant::now();
        let ms = std::time::Duration::from_millis;
        let mut m = RequestMetrics::new(None, 1);
        let at =
            |m: &mut RequestMetrics, t, kind| m.apply(&StreamEvent { id: RequestId { run: 1, slot: 0 }, at: t, kind });
        at(&mut m, t0, EventKind::Sent);
        // A burst of three tokens within 3 ms: no rate yet, however high it would read.
        for i in 0..3u64 {
            at(&mut m, t0 + ms(100 + i), EventKind::Text(" the".into()));
        }
        assert_eq!(live_rate(&m, t0 + ms(103)), None);
        // Past 250 ms but only 3 tokens: still none.
        assert_eq!(live_rate(&m, t0 + ms(400)), None);
        for i in 3..6u64 {
            at(&mut m, t0 + ms(300 + 10 * i), EventKind::Text(" the".into()));
        }
        let r = live_rate(&m, t0 + ms(400)).expect("6 tokens, 300 ms in");
        assert!((10.0..30.0).contains(&r), "{r}");
        // The final rate always shows.
        let mut short = RequestMetrics::new(None, 1);
        at(&mut short, t0, EventKind::Sent);
        at(&mut short, t0 + ms(10), EventKind::Text(" a".into()));
        at(&mut short, t0 + ms(12), EventKind::Text(" b".into()));
        at(&mut short, t0 + ms(12), EventKind::Finished { reason: None });
        assert!(live_rate(&short, t0 + ms(20)).is_some());
    }

    #[test]
    fn the_prompt_cache_shows_beside_the_cost_and_fits_a_narrow_pane() {
        let t0 = Instant::now();
        let th = Theme::dark();
        let mut m = RequestMetrics::new(Some(crate::pricing::Price::per_mtok(1.0, 2.0)), 1);
        let usage = crate::provider::Usage {
            input_tokens: Some(4_000),
            output_tokens: Some(2),
            cached_input_tokens: Some(3_140),
            ..Default::default()
        };
        for (i, kind) in [
            EventKind::Sent,
            EventKind::Text("a".into()),
            EventKind::Text("b".into()),
            EventKind::Usage(usage),
            EventKind::Finished { reason: None },
        ]
        .into_iter()
        .enumerate()
        {
            m.apply(&StreamEvent { id: RequestId { run: 1, slot: 0 }, at: t0 + Duration::from_millis(i as u64), kind });
        }
        let text = |l: &Line| l.spans.iter().map(|s| s.content.as_ref()).collect::<String>();
        let [_, wide] = metrics_lines(&m, &th, t0, 80);
        assert!(text(&wide).contains("cache 3.1k hit"), "{}", text(&wide));
        for width in [24, 30, 40] {
            for line in metrics_lines(&m, &th, t0, width) {
                assert!(text(&line).chars().count() <= width, "{width}: {:?}", text(&line));
            }
        }
        let plain = RequestMetrics::new(None, 1);
        assert!(!metrics_lines(&plain, &th, t0, 80).iter().any(|l| text(l).contains("cache")));
    }

    #[test]
    fn a_warning_shows_in_the_panes_state() {
        let t0 = Instant::now();
        let th = Theme::dark();
        let id = RequestId { run: 1, slot: 0 };
        let mut p = Pane::new(0, "m", Some(RequestMetrics::new(None, 1)));
        for kind in [
            EventKind::Sent,
            EventKind::Text("hi".into()),
            EventKind::Warning("the stream ended after its finish_reason without [DONE]".into()),
            EventKind::Finished { reason: Some("stop".into()) },
        ] {
            p.apply(&StreamEvent { id, at: t0, kind }, Default::default());
        }
        let (word, style) = state(&p, &th);
        assert!(word.starts_with("done · the stream ended after its finish_reason"), "{word}");
        assert_eq!(style, th.warn);
        let mut clean = Pane::new(0, "m", Some(RequestMetrics::new(None, 1)));
        clean.apply(&StreamEvent { id, at: t0, kind: EventKind::Finished { reason: None } }, Default::default());
        assert_eq!(state(&clean, &th), ("done".to_string(), th.ok));
    }
}
