//! The summary view (`v`): the session so far as the report sees it — the per-model table from
//! [`crate::report::build`] (so its numbers are the saved report's) with horizontal bar charts of TTFT,
//! latency, cost and quality. The best value of each column is marked `*` (not by colour alone).

use super::{block, put, row, styled};
use crate::format;
use crate::report::{ModelStats, Report};
use crate::tui::app::App;
use crate::tui::theme::Theme;
use crate::tui::wrap::str_width;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;
use std::time::Duration;

fn ms(v: f64) -> String {
    format::ms(Duration::from_secs_f64(v.max(0.0) / 1e3))
}

fn cost_text(m: &ModelStats) -> String {
    match m.cost_usd {
        Some(c) => format::usd(Some(c)),
        None if m.cost_known_usd > 0.0 => format!("≥{}", format::usd(Some(m.cost_known_usd))),
        None => "$—".into(),
    }
}

fn wins(m: &ModelStats) -> u64 {
    m.verdicts.wins + m.pairwise.wins
}

struct Column {
    head: &'static str,
    cells: Vec<String>,
    /// Dropped first when the table is too wide (higher = earlier).
    drop: u8,
    right: bool,
}

/// The table's lines at `width`.
pub fn table_lines(r: &Report, th: &Theme, width: usize) -> Vec<Line<'static>> {
    let best = |key: &str, m: &ModelStats| r.cross.best.get(key).is_some_and(|v| v.contains(&m.model));
    let mark = |s: String, b: bool| if b { format!("{s}*") } else { format!("{s} ") };
    let most_wins = r.models.iter().map(wins).max().unwrap_or(0);
    let col = |head, drop, f: &dyn Fn(&ModelStats) -> String| Column {
        head,
        cells: r.models.iter().map(f).collect(),
        drop,
        right: true,
    };
    let mut cols = vec![
        Column {
            head: "model",
            cells: r.models.iter().map(|m| truncate(&crate::sanitize::one_line(&m.model), 16)).collect(),
            drop: 0,
            right: false,
        },
        col("TTFT p50", 0, &|m| mark(m.ttft_ms.as_ref().map_or("—".into(), |s| ms(s.p50)), best("ttft_p50_ms", m))),
        col("p95", 5, &|m| format!("{} ", m.ttft_ms.as_ref().map_or("—".into(), |s| ms(s.p95)))),
        col("latency", 0, &|m| {
            mark(m.latency_ms.as_ref().map_or("—".into(), |s| ms(s.p50)), best("latency_p50_ms", m))
        }),
        col("tok/s", 2, &|m| mark(format::rate(m.tokens_per_s_mean).replace("/s", ""), best("tokens_per_s_mean", m))),
        col("cost", 0, &|m| mark(cost_text(m), best("cost_usd", m))),
        col("score", 0, &|m| {
            mark(m.manual_score_mean.map_or("—".into(), |v| format!("{v:.1}")), best("manual_score_mean", m))
        }),
        col("accept", 3, &|m| {
            let s = if m.acceptability_known == 0 {
                "—".to_string()
            } else {
                format!("{}/{}", m.acceptable, m.acceptability_known)
            };
            mark(s, best("acceptance_rate", m))
        }),
        col("wins", 4, &|m| mark(wins(m).to_string(), most_wins > 0 && wins(m) == most_wins)),
    ];
    // Tool use, once any model called a tool: answers calling one, calls whose arguments fit
    // (parse, and fit the schema when tools were known), time to the first call.
    if r.models.iter().any(|m| m.tools.is_some()) {
        cols.extend([
            col("tools", 1, &|m| {
                m.tools.as_ref().map_or("—".into(), |t| format!("{}/{} ", t.answers_with_calls, t.answers))
            }),
            col("args ok", 1, &|m| {
                m.tools.as_ref().map_or("—".into(), |t| {
                    let ok = if t.arguments_checked > 0 { t.arguments_valid } else { t.arguments_parsed };
                    format!("{ok}/{} ", t.calls)
                })
            }),
            col("TTF tool", 1, &|m| {
                format!("{} ", m.tools.as_ref().and_then(|t| t.ttf_tool_ms.as_ref()).map_or("—".into(), |s| ms(s.p50)))
            }),
        ]);
    }
    // The prompt cache, once any provider reported using it: cached share of input and savings.
    if r.models.iter().any(|m| m.cache.is_some()) {
        cols.extend([
            col("cache", 1, &|m| {
                m.cache.as_ref().and_then(|c| c.hit_share).map_or("—".into(), |v| format!("{:.0}% ", v * 100.0))
            }),
            col("saved", 1, &|m| {
                m.cache.as_ref().map_or("— ".into(), |c| format!("{} ", format::usd_signed(c.saved_usd)))
            }),
        ]);
    }
    // Structured output, once a schema was asked for: answers that fit it.
    if r.models.iter().any(|m| m.structured.is_some()) {
        cols.push(col("schema", 1, &|m| {
            m.structured.as_ref().map_or("—".into(), |s| format!("{}/{} ", s.valid, s.checked))
        }));
    }
    // Evaluation spend, once a judge ran: what judging the model's answers cost, apart from
    // the model's own cost.
    if r.models.iter().any(|m| m.eval_spend.is_some()) {
        cols.push(col("eval $", 1, &|m| {
            format!("{} ", m.eval_spend.as_ref().map_or("$0".into(), |s| format::usd(s.cost_usd)))
        }));
    }
    let widths = |cols: &[Column]| -> Vec<usize> {
        cols.iter()
            .map(|c| c.cells.iter().map(|s| str_width(s)).chain([str_width(c.head) + 1]).max().unwrap_or(0))
            .collect()
    };
    // Drop the least important columns until the table fits.
    while widths(&cols).iter().sum::<usize>() + cols.len() > width {
        let Some((i, _)) = cols.iter().enumerate().filter(|(_, c)| c.drop > 0).max_by_key(|(_, c)| c.drop) else {
            break;
        };
        cols.remove(i);
    }
    let w = widths(&cols);
    let pad = |s: &str, w: usize, right: bool| {
        let fill = " ".repeat(w.saturating_sub(str_width(s)));
        if right { format!("{fill}{s}") } else { format!("{s}{fill}") }
    };
    let mut out = Vec::new();
    let head: String = cols
        .iter()
        .zip(&w)
        .map(|(c, &w)| if c.right { pad(&format!("{} ", c.head), w, true) } else { pad(c.head, w, false) })
        .collect::<Vec<_>>()
        .join(" ");
    out.push(Line::styled(head, th.title));
    for i in 0..r.models.len() {
        let spans: Vec<Span<'static>> = cols
            .iter()
            .zip(&w)
            .enumerate()
            .flat_map(|(ci, (c, &w))| {
                let cell = &c.cells[i];
                let st = if cell.ends_with('*') {
                    th.ok
                } else if ci == 0 {
                    th.title
                } else {
                    th.text
                };
                let sep = if ci == 0 { "" } else { " " };
                [Span::raw(sep), styled(pad(cell, w, c.right), st)]
            })
            .collect();
        out.push(Line::from(spans));
    }
    out
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max { s.to_string() } else { s.chars().take(max - 1).collect::<String>() + "…" }
}

/// A horizontal bar of `frac` (0..=1) of `width` cells, in eighths.
pub fn bar(frac: f64, width: usize) -> String {
    const PART: [char; 8] = [' ', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];
    let eighths = (frac.clamp(0.0, 1.0) * width as f64 * 8.0).round() as usize;
    let mut s = "█".repeat(eighths / 8);
    if !eighths.is_multiple_of(8) {
        s.push(PART[eighths % 8]);
    }
    s
}

struct Chart {
    title: &'static str,
    best_key: &'static str,
    get: fn(&ModelStats) -> Option<f64>,
    show: fn(f64) -> String,
}

const CHARTS: [Chart; 4] = [
    Chart {
        title: "TTFT p50 (shorter is better)",
        best_key: "ttft_p50_ms",
        get: |m| m.ttft_ms.as_ref().map(|s| s.p50),
        show: ms,
    },
    Chart {
        title: "latency p50 (shorter is better)",
        best_key: "latency_p50_ms",
        get: |m| m.latency_ms.as_ref().map(|s| s.p50),
        show: ms,
    },
    Chart {
        title: "cost (shorter is better)",
        best_key: "cost_usd",
        get: |m| m.cost_usd,
        show: |v| format::usd(Some(v)),
    },
    Chart {
        title: "quality 0–1 (longer is better)",
        best_key: "quality_mean",
        get: |m| m.quality_mean,
        show: |v| format!("{v:.2}"),
    },
];

fn chart(buf: &mut Buffer, r: &Report, th: &Theme, c: &Chart, area: Rect) {
    if area.is_empty() {
        return;
    }
    put(buf, row(area, 0), Line::styled(c.title, th.title));
    let values: Vec<Option<f64>> = r.models.iter().map(|m| (c.get)(m).filter(|v| v.is_finite())).collect();
    let max = values.iter().flatten().copied().fold(0.0, f64::max);
    let name_w = r.models.iter().map(|m| str_width(&m.model)).max().unwrap_or(0).min(12);
    let texts: Vec<String> = values.iter().map(|v| v.map_or("—".into(), c.show)).collect();
    let val_w = texts.iter().map(|t| str_width(t)).max().unwrap_or(1) + 1;
    let bar_w = usize::from(area.width).saturating_sub(name_w + val_w + 3);
    for (i, m) in r.models.iter().enumerate() {
        let best = r.cross.best.get(c.best_key).is_some_and(|b| b.contains(&m.model));
        let frac = values[i].map_or(0.0, |v| if max > 0.0 { v / max } else { 0.0 });
        let b = bar(frac, bar_w);
        let name = truncate(&crate::sanitize::one_line(&m.model), 12);
        let line = Line::from(vec![
            styled(format!("{name:<name_w$} "), th.text),
            styled(format!("{b:<bar_w$} "), if best { th.ok } else { th.accent }),
            styled(format!("{}{}", texts[i], if best { "*" } else { "" }), if best { th.ok } else { th.text }),
        ]);
        put(buf, row(area, 1 + i as u16), line);
    }
}

pub fn draw(buf: &mut Buffer, app: &App, area: Rect) {
    if area.is_empty() {
        return;
    }
    let th = app.theme();
    let Some((r, stale)) = app.summary_report() else {
        let blk = block(app, true).title(Line::styled(" summary ", th.focus));
        let inner = blk.inner(area);
        blk.render(area, buf);
        put(buf, row(inner, 0), Line::styled(" building the summary…", th.muted));
        return;
    };
    let updating = if stale { "· updating… " } else { "" };
    let title = format!(" summary · {} rounds · {} models {updating}", r.cross.rounds, r.models.len());
    let blk = block(app, true)
        .title(Line::styled(title, th.focus))
        .title_bottom(Line::styled(" * best in column · S saves the report · Esc/v closes ", th.muted).right_aligned());
    let inner = blk.inner(area);
    blk.render(area, buf);
    let inner = Rect { x: inner.x + 1, width: inner.width.saturating_sub(2), ..inner };
    if inner.is_empty() {
        return;
    }
    if r.models.is_empty() {
        put(buf, row(inner, 0), Line::styled("No finished answers yet: send a prompt first.", th.muted));
        return;
    }
    let table = table_lines(r, th, usize::from(inner.width));
    let th_h = table.len() as u16;
    for (dy, l) in table.into_iter().enumerate() {
        put(buf, row(inner, dy as u16), l);
    }
    let top = inner.y + th_h + 1;
    if top >= inner.bottom() {
        return;
    }
    let rest = Rect { y: top, height: inner.bottom() - top, ..inner };
    let chart_h = 1 + r.models.len() as u16;
    let two_cols = rest.width >= 70;
    let cols: u16 = if two_cols { 2 } else { 1 };
    let col_w = rest.width / cols;
    let mut below = rest.y;
    for (i, c) in CHARTS.iter().enumerate() {
        let (cx, cy) = (i as u16 % cols, i as u16 / cols);
        let y = rest.y + cy * (chart_h + 1);
        if y + 1 >= rest.bottom() {
            return;
        }
        let x = rest.x + cx * col_w;
        let w = if cx + 1 == cols { rest.right() - x } else { col_w - 2 };
        let a = Rect { x, y, width: w, height: chart_h.min(rest.bottom() - y) };
        chart(buf, r, th, c, a);
        below = y + chart_h + 1;
    }
    // The judging tables the report has (reference metrics, evaluation spend, pairwise judges,
    // agreement, self-preference, judges vs people), as far as the screen goes.
    for (dy, l) in judging_lines(r, th).into_iter().enumerate() {
        let y = below + dy as u16;
        if y >= inner.bottom() {
            break;
        }
        put(buf, Rect { y, height: 1, ..inner }, l);
    }
}

/// The report's judging tables as aligned text lines, each under its title; cells from outside
/// (model and judge names) pass the terminal filter; the screen cuts what is wider than it.
pub fn judging_lines(r: &Report, th: &Theme) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    for (title, head, rows, _) in crate::report::judging_tables(r) {
        let rows: Vec<Vec<String>> =
            rows.iter().map(|row| row.iter().map(|c| truncate(&crate::sanitize::one_line(c), 40)).collect()).collect();
        let widths: Vec<usize> = (0..head.len())
            .map(|i| rows.iter().filter_map(|r| r.get(i)).chain([&head[i]]).map(|c| str_width(c)).max().unwrap_or(0))
            .collect();
        let render = |cells: &[String]| -> String {
            cells
                .iter()
                .zip(&widths)
                .enumerate()
                .map(|(i, (c, &w))| {
                    let fill = " ".repeat(w.saturating_sub(str_width(c)));
                    if i == 0 { format!("{c}{fill}") } else { format!("{fill}{c}") }
                })
                .collect::<Vec<_>>()
                .join("  ")
        };
        out.push(Line::styled(title.to_lowercase(), th.title));
        out.push(Line::styled(render(&head), th.muted));
        out.extend(rows.iter().map(|row| Line::styled(render(row), th.text)));
        out.push(Line::raw(""));
    }
    out
}
