//! The HTML report: one self-contained file with inline CSS and inline SVG bar charts (TTFT p50,
//! latency p50, cost, quality per model). No scripts, no external resources; a
//! Content-Security-Policy forbids both anyway. Every piece of text is HTML-escaped, since model
//! output (and anything else in a report file) is untrusted.

use super::table::{ms, num, summary};
use super::{ModelRound, ModelStats, Report, RoundReport};
use crate::format;
use crate::session::Verdict;
use std::fmt::Write;

/// Escapes text for HTML element content and quoted attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\t' => out.push(c),
            // Controls and bidi overrides as visible stand-ins (`␛`, `\x9b`, `<U+202E>`): an
            // entity would still reorder the page (bidi) or show as a stray glyph (C1).
            c => match crate::sanitize::stand_in(c) {
                Some(v) => out.push_str(&esc(&v)),
                None if c.is_control() => {}
                None => out.push(c),
            },
        }
    }
    out
}

pub(crate) const CSS: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1200px;padding:0 1em;color:#1b1f24}\
table{border-collapse:collapse;margin:1em 0;font-variant-numeric:tabular-nums}\
th,td{border:1px solid #d0d7de;padding:3px 8px;text-align:right}th:first-child,td:first-child{text-align:left}\
th{background:#f6f8fa}td.best{font-weight:700;background:#e6f4ea}\
pre{background:#f6f8fa;border:1px solid #d0d7de;padding:8px;white-space:pre-wrap;word-break:break-word}\
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,500px),1fr));gap:1em 1.5em}.chart{margin:0}.chart text{font:12px system-ui,sans-serif;fill:#1b1f24}\
.bar{fill:#4a7bd0}.bar.partial{fill:#a9c0ea}.warn{background:#fff4d6;border:1px solid #e8c766;padding:6px 10px}\
dt{font-weight:700}dd{margin:0 0 .5em 1.5em}\
.scroll{overflow-x:auto;max-width:100%}.chart svg{width:100%;height:auto}\
.verdict li{margin:.3em 0}.verdict li.warn{list-style:none;margin-left:-1.2em}\
td.pass{background:#e6f4ea}td.fail{background:#fbe4e4}td.mixed{background:#fff4d6}td a{color:inherit}\
summary{cursor:pointer;font-weight:700;margin:.5em 0}";

/// One bar: label, value, the value as text, and whether it is only a lower bound.
type Bar = (String, Option<f64>, String, bool);

/// Colours by model, the same in every chart of a page (the palette repeats after eight).
pub(crate) const PALETTE: [&str; 8] =
    ["#4a7bd0", "#e07b39", "#2e8b57", "#b5446e", "#7a5cc2", "#c49a00", "#1b9aaa", "#8c564b"];
/// What a chart shows of a model: value, text, lower bound.
type Pick<'a> = &'a dyn Fn(&ModelStats) -> (Option<f64>, String, bool);

/// Room a chart leaves for `text` at its 12 px font: a generous width per character, so a figure
/// written after a bar never runs past the chart's edge (which would cut it off).
pub(crate) fn text_room(text: &str) -> f64 {
    text.chars().count() as f64 * 7.4 + 8.0
}

/// An SVG chart's opening: a `w` × `h` view box that scales to its column, its bold title (also
/// its accessible name). Close it with `</svg></figure>`.
pub(crate) fn chart_open(title: &str, w: f64, h: f64) -> String {
    format!(
        "<figure class=\"chart\"><svg role=\"img\" aria-label=\"{t}\" viewBox=\"0 0 {w} {h}\" \
         preserveAspectRatio=\"xMinYMin meet\"><title>{t}</title><text x=\"0\" y=\"14\" font-weight=\"700\">{t}</text>",
        t = esc(title)
    )
}

/// A horizontal bar chart; bars scale to the largest value. `None` draws no bar and says so.
/// `partial` bars (lower bounds) are drawn lighter.
fn bar_chart(title: &str, rows: &[Bar]) -> String {
    let (label_w, bar_w, row_h) = (170.0, 300.0, 22.0);
    let height = 28.0 + row_h * rows.len() as f64;
    let max = rows.iter().filter_map(|r| r.1).filter(|v| v.is_finite()).fold(0.0, f64::max);
    let room = rows.iter().map(|r| text_room(&r.2)).fold(110.0, f64::max);
    let mut s = chart_open(title, label_w + bar_w + room, height);
    for (i, (label, value, text, partial)) in rows.iter().enumerate() {
        let y = 24.0 + row_h * i as f64;
        let short: String = label.chars().take(24).collect();
        let _ = write!(s, "<text x=\"0\" y=\"{}\">{}</text>", y + 14.0, esc(&short));
        let len = match value {
            Some(v) if v.is_finite() && max > 0.0 => (v / max * bar_w).max(1.0),
            _ => 0.0,
        };
        if len > 0.0 {
            let _ = write!(
                s,
                "<rect class=\"bar{}\" x=\"{label_w}\" y=\"{}\" width=\"{len:.1}\" height=\"{}\"/>",
                if *partial { " partial" } else { "" },
                y + 3.0,
                row_h - 6.0
            );
        }
        let _ = write!(s, "<text x=\"{:.1}\" y=\"{}\">{}</text>", label_w + len + 6.0, y + 14.0, esc(text));
    }
    s.push_str("</svg></figure>");
    s
}

/// One model's row of a spread chart: its name, p50, p95 and the p50's 95% interval (batch runs).
struct Spread {
    label: String,
    p50: Option<f64>,
    p95: Option<f64>,
    ci: Option<super::Interval>,
}

/// TTFT or latency per model, in ms: a bar to the p50, a thin whisker on to the p95 and, when the
/// report has one, a bold bracket over the p50's 95% confidence interval (case bootstrap).
fn spread_chart(title: &str, rows: &[Spread]) -> String {
    let (label_w, bar_w, row_h) = (130.0, 220.0, 22.0);
    let height = 28.0 + row_h * rows.len() as f64;
    let finite = |v: &Option<f64>| v.filter(|v| v.is_finite());
    let max = rows
        .iter()
        .flat_map(|r| [r.p50, r.p95, r.ci.map(|c| c.hi)])
        .flatten()
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    let x = |v: f64| if max > 0.0 { label_w + v.max(0.0) / max * bar_w } else { label_w };
    let ci = |row: &Spread| row.ci.filter(|c| c.lo.is_finite() && c.hi.is_finite());
    let text = |row: &Spread| {
        let interval = ci(row).map(|c| format!(" [{}–{}]", ms(Some(c.lo)), ms(Some(c.hi)))).unwrap_or_default();
        format!("{}{interval} · p95 {}", ms(row.p50), ms(row.p95))
    };
    let room = rows.iter().map(|r| text_room(&text(r))).fold(110.0, f64::max);
    let mut s = chart_open(title, label_w + bar_w + room, height);
    for (i, row) in rows.iter().enumerate() {
        let y = 24.0 + row_h * i as f64;
        let mid = y + row_h / 2.0;
        let short: String = row.label.chars().take(17).collect();
        let _ = write!(s, "<text x=\"0\" y=\"{}\">{}</text>", y + 14.0, esc(&short));
        let color = PALETTE[i % PALETTE.len()];
        if let Some(v) = finite(&row.p50) {
            let _ = write!(
                s,
                "<rect fill=\"{color}\" fill-opacity=\"0.75\" x=\"{label_w}\" y=\"{}\" width=\"{:.1}\" height=\"{}\"/>",
                y + 3.0,
                (x(v) - label_w).max(1.0),
                row_h - 6.0
            );
        }
        if let (Some(a), Some(b)) = (finite(&row.p50), finite(&row.p95)) {
            let _ = write!(
                s,
                "<line x1=\"{:.1}\" y1=\"{mid}\" x2=\"{:.1}\" y2=\"{mid}\" stroke=\"#57606a\"/><line x1=\"{:.1}\" \
                 y1=\"{}\" x2=\"{:.1}\" y2=\"{}\" stroke=\"#57606a\"/>",
                x(a),
                x(b),
                x(b),
                mid - 5.0,
                x(b),
                mid + 5.0
            );
        }
        let ci = ci(row);
        if let Some(c) = ci {
            let (lo, hi) = (x(c.lo), x(c.hi).max(x(c.lo) + 1.0));
            let _ = write!(
                s,
                "<g stroke=\"#1b1f24\" stroke-width=\"2\"><line x1=\"{lo:.1}\" y1=\"{y1}\" x2=\"{hi:.1}\" y2=\"{y1}\"/>\
                 <line x1=\"{lo:.1}\" y1=\"{y1}\" x2=\"{lo:.1}\" y2=\"{y2}\"/><line x1=\"{hi:.1}\" y1=\"{y1}\" \
                 x2=\"{hi:.1}\" y2=\"{y2}\"/></g>",
                y1 = y + 5.0,
                y2 = y + 10.0,
            );
        }
        let text = text(row);
        let end =
            [finite(&row.p95), finite(&row.p50), ci.map(|c| c.hi)].into_iter().flatten().map(x).fold(label_w, f64::max);
        let _ = write!(s, "<text x=\"{:.1}\" y=\"{}\">{}</text>", end + 6.0, y + 14.0, esc(&text));
    }
    s.push_str("</svg></figure>");
    s
}

/// Cost against quality: one dot per model (its page colour), quality (acceptance when there is
/// none) up, total cost across; the best corner is top left.
fn cost_quality_chart(r: &Report) -> Option<String> {
    let pts: Vec<(usize, &str, f64, f64)> = r
        .models
        .iter()
        .enumerate()
        .filter_map(|(i, m)| {
            let q = m.acceptance_rate.or(m.quality_mean)?;
            let c = m.cost_usd.or((m.cost_known_usd > 0.0).then_some(m.cost_known_usd))?;
            Some((i, m.model.as_str(), c, q))
        })
        .collect();
    if pts.len() < 2 {
        return None;
    }
    let (w, h, left, top, bottom) = (480.0, 220.0, 50.0, 24.0, 36.0);
    let max_c = pts.iter().map(|p| p.2).fold(0.0, f64::max).max(1e-12);
    let what = if r.models.iter().any(|m| m.acceptance_rate.is_some()) { "acceptance" } else { "quality" };
    let title = format!("Cost (USD, all attempts) against {what} (0–1)");
    let mut s = chart_open(&title, left + w + 20.0, top + h + bottom);
    let _ = write!(
        s,
        "<line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{y0}\" stroke=\"#8c959f\"/>\
         <line x1=\"{left}\" y1=\"{y0}\" x2=\"{x1}\" y2=\"{y0}\" stroke=\"#8c959f\"/>\
         <text x=\"4\" y=\"{}\">1.0</text><text x=\"4\" y=\"{y0}\">0</text>\
         <text x=\"{left}\" y=\"{}\">$0</text><text x=\"{x1}\" y=\"{}\" text-anchor=\"end\">{}</text>",
        top + 10.0,
        top + h + 16.0,
        top + h + 16.0,
        esc(&format::usd(Some(max_c))),
        y0 = top + h,
        x1 = left + w,
    );
    for (i, name, c, q) in pts {
        let (cx, cy) = (left + c / max_c * w, top + (1.0 - q.clamp(0.0, 1.0)) * h);
        let color = PALETTE[i % PALETTE.len()];
        let label: String = name.chars().take(20).collect();
        // The name right of its dot, or left of it where it would run past the chart's edge.
        let (lx, anchor) =
            if cx + 9.0 + text_room(&label) <= left + w + 20.0 { (cx + 9.0, "start") } else { (cx - 9.0, "end") };
        let _ = write!(
            s,
            "<circle cx=\"{cx:.1}\" cy=\"{cy:.1}\" r=\"6\" fill=\"{color}\"><title>{}: {} · {what} {:.2}</title></circle>\
             <text x=\"{lx:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\">{}</text>",
            esc(name),
            esc(&format::usd(Some(c))),
            q,
            cy + 4.0,
            esc(&label)
        );
    }
    s.push_str("</svg></figure>");
    Some(s)
}

fn charts(r: &Report) -> String {
    let rows = |f: Pick| -> Vec<Bar> {
        r.models
            .iter()
            .map(|m| {
                let (v, t, p) = f(m);
                (m.model.clone(), v, t, p)
            })
            .collect()
    };
    let cost = rows(&|m| match m.cost_usd {
        Some(c) => (Some(c), format::usd(Some(c)), false),
        None if m.cost_known_usd > 0.0 => {
            (Some(m.cost_known_usd), format!("≥{} (some prices unknown)", format::usd(Some(m.cost_known_usd))), true)
        }
        None => (None, "$— (price unknown)".into(), false),
    });
    let quality = rows(&|m| (m.quality_mean, num(m.quality_mean, 2), false));
    // The p50's interval comes from the batch statistics (case bootstrap) when the report has them.
    let interval = |model: &str, latency: bool| {
        let g = &r.batch.as_ref()?.models.iter().find(|b| b.model == model)?.overall.ci;
        if latency { g.latency_p50_ms } else { g.ttft_p50_ms }
    };
    let spread = |latency: bool| -> Vec<Spread> {
        r.models
            .iter()
            .map(|m| {
                let s = if latency { m.latency_ms } else { m.ttft_ms };
                Spread {
                    label: m.model.clone(),
                    p50: s.map(|s| s.p50),
                    p95: s.map(|s| s.p95),
                    ci: interval(&m.model, latency),
                }
            })
            .collect()
    };
    let title = |what: &str| {
        let ci = if r.batch.is_some() { " (bracket: 95% CI of p50)" } else { "" };
        format!("{what} p50 and p95, ms{ci}")
    };
    format!(
        "<div class=\"charts\">{}{}{}{}{}</div>",
        cost_quality_chart(r).unwrap_or_default(),
        spread_chart(&title("TTFT"), &spread(false)),
        spread_chart(&title("Latency"), &spread(true)),
        bar_chart("Total cost (USD, all attempts)", &cost),
        bar_chart("Quality (mean, 0–1)", &quality)
    )
}

/// A titled table of text cells (escaped here) with a note under it (our own constant text,
/// written as it is).
fn plain_table(o: &mut String, title: &str, head: &[String], rows: &[Vec<String>], note: &str) {
    let _ = write!(o, "<h3>{}</h3>\n<div class=\"scroll\"><table><thead><tr>", esc(title));
    for h in head {
        let _ = write!(o, "<th>{}</th>", esc(h));
    }
    o.push_str("</tr></thead><tbody>\n");
    for row in rows {
        o.push_str("<tr>");
        for c in row {
            let _ = write!(o, "<td>{}</td>", esc(c));
        }
        o.push_str("</tr>\n");
    }
    let _ = writeln!(o, "</tbody></table></div>\n<p>{note}</p>");
}

/// The case × model matrix: acceptable repeats per cell, coloured, each cell linking to the
/// case's round; all cases, and (open) only those some model failed — no script needed.
fn write_matrix(o: &mut String, r: &Report, b: &super::BatchStats) {
    let models: Vec<&str> = b.models.iter().map(|m| m.model.as_str()).collect();
    let mut cases: Vec<&str> = Vec::new();
    for c in &b.repeats {
        if !cases.contains(&c.case_id.as_str()) {
            cases.push(&c.case_id);
        }
    }
    let cell = |case: &str, model: &str| b.repeats.iter().find(|c| c.case_id == case && c.model == model);
    let failed =
        |case: &str| models.iter().any(|m| cell(case, m).is_some_and(|c| c.acceptable < c.acceptability_known));
    let first_round = |case: &str| r.rounds.iter().find(|x| x.case_id.as_deref() == Some(case)).map(|x| x.round);
    let table = |o: &mut String, list: &[&str]| {
        o.push_str("<div class=\"scroll\"><table><thead><tr><th>case</th><th>category</th>");
        for m in &models {
            let _ = write!(o, "<th>{}</th>", esc(m));
        }
        o.push_str("</tr></thead><tbody>\n");
        for case in list {
            let category = b.repeats.iter().find(|c| c.case_id == *case).map_or("", |c| c.category.as_str());
            let name = match first_round(case) {
                Some(n) => format!("<a href=\"#round-{n}\">{}</a>", esc(case)),
                None => esc(case),
            };
            let _ = write!(o, "<tr><td>{name}</td><td>{}</td>", esc(category));
            for m in &models {
                match cell(case, m) {
                    Some(c) if c.acceptability_known > 0 => {
                        let (class, mark) = match (c.acceptable, c.acceptability_known) {
                            (a, k) if a == k => ("pass", "✓"),
                            (0, _) => ("fail", "✗"),
                            _ => ("mixed", "◐"),
                        };
                        let _ =
                            write!(o, "<td class=\"{class}\">{mark} {}/{}</td>", c.acceptable, c.acceptability_known);
                    }
                    Some(c) => {
                        let _ = write!(o, "<td>? 0/{}</td>", c.repeats);
                    }
                    None => o.push_str("<td>—</td>"),
                }
            }
            o.push_str("</tr>\n");
        }
        o.push_str("</tbody></table></div>\n");
    };
    let failing: Vec<&str> = cases.iter().copied().filter(|c| failed(c)).collect();
    o.push_str(
        "<h2>Cases × models</h2>\n<p>Acceptable answers of each case's repeats: ✓ all, ◐ some, ✗ none, ? \
                no evaluator decided. A case links to its round.</p>\n",
    );
    let _ = write!(o, "<details open><summary>{} case(s) some model failed</summary>", failing.len());
    table(o, &failing);
    let _ = write!(o, "</details>\n<details><summary>all {} case(s)</summary>", cases.len());
    table(o, &cases);
    o.push_str("</details>\n");
}

/// The batch statistics the Markdown report has: per model with intervals, per category, and
/// the significant pairwise differences.
fn write_batch(o: &mut String, b: &super::BatchStats) {
    let _ = writeln!(
        o,
        "<h2>Batch statistics</h2>\n<p>{} case(s), up to {} repeat(s) each. {}; — or no interval with fewer than 2 \
         cases.</p>",
        b.cases,
        b.max_repeats,
        esc(&super::table::ci_method(b))
    );
    let (head, rows) = super::table::batch_model_rows(b, |s| s.to_string());
    plain_table(o, "Per model", &head, &rows, "");
    let (head, rows) = super::table::category_rows(b, |s| s.to_string());
    plain_table(o, "Per category", &head, &rows, "");
    let significant: Vec<&super::Comparison> = b.comparisons.iter().filter(|c| c.significant).collect();
    let _ = write!(
        o,
        "<h3>Pairwise differences</h3><p>{} of {} significant (95% interval excludes 0 and sign test p &lt; 0.05):</p><ul>",
        significant.len(),
        b.comparisons.len()
    );
    for c in significant {
        let _ = write!(o, "<li>{}</li>", esc(&super::table::comparison_line(c, |s| s.to_string())));
    }
    o.push_str("</ul>\n");
}

/// The verdict the page opens with (see [`super::table::verdict`]): warnings in a banner.
fn write_verdict(o: &mut String, b: &super::BatchStats) {
    o.push_str("<h2>Verdict</h2>\n<ul class=\"verdict\">");
    for l in super::table::verdict(b) {
        if l.warn {
            let _ = write!(o, "<li class=\"warn\"><b>{}</b>: {}</li>", esc(&l.scope), esc(&l.text));
        } else {
            let _ = write!(o, "<li><b>{}</b>: {}</li>", esc(&l.scope), esc(&l.text));
        }
    }
    o.push_str(
        "</ul>\n<p>The choice per category is the cheapest model per acceptable answer among those that meet \
                the bounds (see Routing).</p>\n",
    );
}

pub fn to_html(r: &Report) -> String {
    let mut o = String::new();
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>bakeoff report {}</title><style>{CSS}</style></head><body>\n<h1>bakeoff report</h1>\n",
        esc(&r.session_started_at)
    );
    if r.partial {
        o.push_str("<p class=\"warn\"><b>Partial report</b>: some rounds have no result for every model.</p>\n");
    }
    let e = &r.environment;
    let _ = writeln!(
        o,
        "<ul><li>generated {} by bakeoff {} (report version {})</li><li>session started {}</li>\
         <li>environment: mode {}, {}, concurrency {}, connection reuse {}</li><li>prices as of {}</li>\
         <li>{} round(s), {} complete; acceptable manual score ≥ {}</li></ul>",
        esc(&r.generated_at),
        esc(&r.bakeoff_version),
        r.report_version,
        esc(&r.session_started_at),
        esc(&e.mode),
        esc(&e.os),
        e.concurrency,
        e.connection_reuse,
        esc(&r.prices_as_of),
        r.cross.rounds,
        r.cross.complete_rounds,
        r.accept_score
    );
    if let Some(b) = &r.batch {
        write_verdict(&mut o, b);
    }
    o.push_str(&charts(r));
    o.push_str("\n<h2>Summary</h2>\n<div class=\"scroll\"><table><thead><tr>");
    let (head, rows) = summary(r);
    for h in head {
        let _ = write!(o, "<th>{}</th>", esc(h));
    }
    o.push_str("</tr></thead><tbody>\n");
    for row in rows {
        o.push_str("<tr>");
        for c in row {
            let class = if c.best { " class=\"best\"" } else { "" };
            let tied = if c.tied && !c.best { "≈ " } else { "" };
            let _ = write!(o, "<td{class}>{tied}{}</td>", esc(&c.text));
        }
        o.push_str("</tr>\n");
    }
    o.push_str(
        "</tbody></table></div>\n<p>Highlighted: the one best in its column (none on a tie). Cost covers every attempt including failed and retried \
         ones; ≥$ is a lower bound (some prices unknown), $— unknown; ~ estimated tokens.</p>\n",
    );
    if let Some((head, rows)) = super::tool_rows(r) {
        plain_table(
            &mut o,
            "Tool calls",
            &head,
            &rows,
            "Over successful answers. Arguments parse: a JSON object; fit the schema: valid against the offered \
             tool's parameters. TTF tool: request sent → the first tool-call delta naming its function.",
        );
    }
    if let Some((head, rows)) = super::cache_rows(r) {
        plain_table(&mut o, "Prompt cache", &head, &rows, super::CACHE_NOTE);
    }
    if let Some((head, rows)) = super::structured_rows(r) {
        plain_table(&mut o, "Structured output", &head, &rows, super::STRUCTURED_NOTE);
    }
    for (title, head, rows, note) in super::judging_tables(r) {
        plain_table(&mut o, title, &head, &rows, note);
    }
    if !r.cross.judge_agreement.is_empty() {
        o.push_str(
            "<h3>Judge vs manual scores</h3><table><tr><th>judge</th><th>n</th><th>κ</th><th>agreement</th></tr>",
        );
        for a in &r.cross.judge_agreement {
            let _ = write!(
                o,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.0}%</td></tr>",
                esc(&a.judge),
                a.n,
                num(a.kappa, 2),
                a.observed_agreement * 100.0
            );
        }
        o.push_str("</table>\n");
    }
    if let Some(b) = &r.batch {
        write_matrix(&mut o, r, b);
        write_batch(&mut o, b);
    }
    if let Some(b) = &r.batch {
        let (title, head, rows) = super::table::routing_rows(b, |s| s.to_string());
        o.push_str("<h2>Routing</h2>\n");
        plain_table(
            &mut o,
            &title,
            &head,
            &rows,
            "≈ fallback not significantly dearer (the cost-per-acceptable intervals overlap). $— (!) cost per \
             acceptable unknown: chosen only when no model with a known cost qualifies.",
        );
    }
    o.push_str("<h2>Rounds</h2>\n");
    for round in r.rounds_in_order() {
        write_round(&mut o, round);
    }
    o.push_str("<h2>Definitions</h2>\n<dl>");
    for d in &r.definitions {
        let _ = write!(o, "<dt>{}</dt><dd>{}</dd>", esc(&d.name), esc(&d.text));
    }
    o.push_str("</dl>\n</body></html>\n");
    o
}

fn write_round(o: &mut String, round: &RoundReport) {
    let _ = write!(o, "<section id=\"round-{}\"><h3>Round {}", round.round, round.round);
    if let Some(c) = &round.case_id {
        let _ = write!(o, " · case {}", esc(c));
    }
    if let Some(c) = &round.category {
        let _ = write!(o, " · {}", esc(c));
    }
    if let Some(n) = round.repeat {
        let _ = write!(o, " · repeat {n}");
    }
    if let Some(n) = round.turn {
        let _ = write!(o, " · turn {n} (each model after its own earlier turns)");
    }
    let _ = writeln!(
        o,
        "</h3><p>started {}{}</p>",
        esc(&round.started_at),
        if round.complete { "" } else { " · incomplete" }
    );
    for m in &round.messages {
        let role = m.role.as_str();
        let attached: String = m.attachments.iter().map(|a| format!(" <code>{}</code>", esc(&a.label()))).collect();
        let _ = writeln!(o, "<p><b>{}</b>{attached}</p><pre>{}</pre>", esc(role), esc(&m.content));
    }
    for (i, f) in round.follow_ups.iter().enumerate() {
        let _ = writeln!(o, "<p><b>user, turn {}</b> (after the model's own answer)</p><pre>{}</pre>", i + 2, esc(f));
    }
    if let Some(b) = &round.blind {
        let shown: Vec<String> = b.shown().map(|(label, m)| format!("{} = {}", esc(label), esc(m))).collect();
        let _ = writeln!(o, "<p>Blind round; shown as {}.</p>", shown.join(", "));
    }
    match &round.verdict {
        Some(Verdict::Winner(w)) => {
            let _ = writeln!(o, "<p>Verdict: <b>{}</b> won.</p>", esc(w));
        }
        Some(Verdict::Tie) => o.push_str("<p>Verdict: tie.</p>\n"),
        None => {}
    }
    if !round.pairwise.is_empty() {
        o.push_str("<ul>");
        for p in &round.pairwise {
            let outcome = match (&p.error, p.winner.as_deref()) {
                (Some(e), _) => format!("not judged: {}", esc(e)),
                (None, Some(w)) => format!("{} won", esc(w)),
                (None, None) => "tie".to_string(),
            };
            let _ = write!(o, "<li>{} vs {}: {outcome} (by {})</li>", esc(&p.a), esc(&p.b), esc(&p.by));
        }
        o.push_str("</ul>\n");
    }
    for resp in &round.responses {
        write_response(o, resp);
    }
    o.push_str("</section>\n");
}

fn write_response(o: &mut String, m: &ModelRound) {
    let _ = write!(o, "<h4>{}</h4>", esc(&m.model));
    let Some(res) = &m.result else {
        o.push_str("<p>No result.</p>\n");
        return;
    };
    let est = if res.tokens_estimated { "~" } else { "" };
    let answer = format::answer_ttft(res.ttft_ms, res.ttft_answer_ms).map(|a| format!(" · answer {}", ms(Some(a))));
    let cost = format::billed(res.cost_usd, res.server_cost_usd, res.cost_mismatch)
        .unwrap_or_else(|| format::usd(res.cost_usd));
    let cached = res.cached_input_tokens.filter(|c| *c > 0).map(|c| format!(" ({c} cached)")).unwrap_or_default();
    let _ = write!(
        o,
        "<p>{}{} · TTFT {}{} · latency {} · {} tok/s · tokens {est}{} in{cached} / {est}{} out · cost {}",
        esc(res.status.as_str()),
        res.error.as_deref().or(res.warning.as_deref()).map(|e| format!(" ({})", esc(e))).unwrap_or_default(),
        ms(res.ttft_ms),
        answer.unwrap_or_default(),
        ms(res.latency_ms),
        num(res.tokens_per_s, 1),
        res.input_tokens,
        res.output_tokens,
        esc(&cost),
    );
    if let Some(served) = res.server_model.as_deref().filter(|s| !s.is_empty() && *s != m.model) {
        let _ = write!(o, " · answered by {}", esc(served));
    }
    if !m.retries.is_empty() {
        let _ = write!(o, " · {} earlier attempt(s)", m.retries.len());
    }
    let accept = match m.acceptable {
        Some(true) => "yes",
        Some(false) => "no",
        None => "unknown",
    };
    let _ = write!(
        o,
        "<br>manual score {} · quality {} · acceptable {accept}",
        m.manual_score.map_or_else(|| "—".into(), |s| format!("{s}/5")),
        num(m.quality, 2)
    );
    for e in &m.evals {
        let verdict = match e.passed {
            Some(true) => "pass",
            Some(false) => "fail",
            None if e.is_score_only() => "scored",
            None => "error",
        };
        let detail = e.detail.as_deref().or(e.error.as_deref()).map(|d| format!(" — {}", esc(d))).unwrap_or_default();
        let _ = write!(
            o,
            "<br>eval {} ({}): {verdict}, score {}{detail}",
            esc(&e.name),
            esc(e.kind.as_str()),
            num(e.score, 2)
        );
    }
    if let Some(n) = &m.note {
        let _ = write!(o, "<br>note: {}", esc(n));
    }
    o.push_str("</p>\n");
    if let Some(reasoning) = &res.reasoning {
        let _ = writeln!(o, "<details><summary>reasoning</summary><pre>{}</pre></details>", esc(reasoning));
    }
    for t in &m.turns {
        let _ = writeln!(
            o,
            "<details><summary>turn {} answer (TTFT {} · cost {})</summary><pre>{}</pre></details>",
            t.turn.unwrap_or(0),
            ms(t.ttft_ms),
            esc(&format::usd(t.cost_usd)),
            esc(&t.output)
        );
    }
    if !res.output.is_empty() || res.tool_calls.is_empty() {
        let _ = writeln!(o, "<pre>{}</pre>", esc(&res.output));
    }
    if !res.tool_calls.is_empty() {
        let calls: Vec<String> = res.tool_calls.iter().map(super::markdown::call_line).collect();
        let ttf = res.ttf_tool_ms.map(|t| format!(" · TTF tool {}", ms(Some(t)))).unwrap_or_default();
        let _ = writeln!(o, "<p>tool calls{ttf}</p><pre>{}</pre>", esc(&calls.join("\n")));
    }
}
