//! A load summary as Markdown and as a self-contained HTML page (`bakeoff report load.json
//! --format markdown|html`): the run's shape, the SLO and goodput, the percentile table, TTFT and
//! latency histograms, throughput and errors over time, and the per-model table. Like the batch
//! report: inline CSS and SVG, no scripts, a CSP that forbids fetching anything, every text
//! escaped.
//!
//! Rates are named for what they count: `stream tok/s` is one request's decode rate, `throughput
//! tok/s` all requests' output tokens per second of the run.

use super::hist::{Hist, Stat};
use super::summary::{GroupSummary, LoopMode, Summary};
use crate::report::html::esc;
use std::fmt::Write;

fn ms(v: f64) -> String {
    crate::format::ms_f64(v)
}

fn shape(s: &Summary) -> String {
    super::summary::run_shape(&s.run)
}

/// The percentile table's rows, those measured: label and n, mean, p50, p90, p95, p99, max.
fn timing_rows(t: &GroupSummary) -> Vec<(&'static str, [String; 7])> {
    [
        ("TTFB", &t.ttfb_ms),
        ("TTFT", &t.ttft_ms),
        ("TTFT from intended start", &t.ttft_response_ms),
        ("latency", &t.latency_ms),
        ("latency from intended start", &t.latency_response_ms),
        ("send delay", &t.send_delay_ms),
        ("inter-token gap", &t.gap_ms),
        ("proxy overhead", &t.proxy_overhead_ms),
    ]
    .into_iter()
    .filter_map(|(name, st)| {
        let st = st.as_ref()?;
        Some((name, [st.n.to_string(), ms(st.mean), ms(st.p50), ms(st.p90), ms(st.p95), ms(st.p99), ms(st.max)]))
    })
    .collect()
}

/// Per-model rows: model, requests, errors, req/s, TTFT p50/p99, latency p50/p99, throughput
/// tok/s, cost.
fn model_rows(s: &Summary) -> Vec<Vec<String>> {
    s.models
        .iter()
        .map(|m| {
            let p = |st: &Option<Stat>, f: fn(&Stat) -> f64| st.as_ref().map_or("—".into(), |s| ms(f(s)));
            let ttft = if m.ttft_response_ms.is_some() { &m.ttft_response_ms } else { &m.ttft_ms };
            let lat = if m.latency_response_ms.is_some() { &m.latency_response_ms } else { &m.latency_ms };
            vec![
                m.model.clone().unwrap_or_default(),
                m.counts.requests.to_string(),
                m.counts.errors.to_string(),
                format!("{:.1}", m.requests_per_s),
                p(ttft, |s| s.p50),
                p(ttft, |s| s.p99),
                p(lat, |s| s.p50),
                p(lat, |s| s.p99),
                format!("{:.0}", m.output_tokens_per_s),
                crate::format::usd(m.cost_usd),
            ]
        })
        .collect()
}

const MODEL_HEAD: [&str; 10] = [
    "model",
    "requests",
    "errors",
    "req/s",
    "TTFT p50",
    "TTFT p99",
    "latency p50",
    "latency p99",
    "throughput tok/s",
    "cost",
];

/// The headline figures: (label, value).
fn tiles(s: &Summary) -> Vec<(String, String)> {
    let t = &s.total;
    let c = &t.counts;
    let mut out = vec![
        (
            "elapsed".into(),
            format!(
                "{}{}",
                crate::format::secs(s.run.elapsed_s),
                if s.run.interrupted { " (interrupted)" } else { "" }
            ),
        ),
        ("requests".into(), format!("{} ({} ok, {} errors)", c.requests, c.ok, c.errors)),
        ("requests/s".into(), format!("{:.1} ({:.1} ok/s)", t.requests_per_s, t.ok_per_s)),
        ("throughput tok/s".into(), format!("{:.0}", t.output_tokens_per_s)),
        (
            "cost".into(),
            match t.cost_usd {
                Some(v) => crate::format::usd(Some(v)),
                None => format!("≥{} ({} without a price)", crate::format::usd(Some(c.cost_known_usd)), c.cost_unknown),
            },
        ),
    ];
    if let (Some(slo), Some(g)) = (&s.run.slo, &t.goodput) {
        out.push(("SLO".into(), slo.describe()));
        out.push(("goodput".into(), format!("{:.1}% met · {:.2} req/s", g.share * 100.0, g.per_s)));
    }
    out
}

pub fn render_markdown(s: &Summary) -> String {
    let md = |x: &str| crate::report::markdown::inline(x);
    let mut o = format!(
        "# bakeoff load report\n\n{} · {} model(s), {} request bodies · started {}\n\n",
        md(&shape(s)),
        s.run.models.len(),
        s.run.mix_size,
        md(&s.run.started_at)
    );
    o.push_str("| figure | value |\n|---|---:|\n");
    for (k, v) in tiles(s) {
        let _ = writeln!(o, "| {} | {} |", md(&k), md(&v));
    }
    o.push_str(
        "\n## Timings\n\n| | n | mean | p50 | p90 | p95 | p99 | max |\n|---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for (name, cells) in timing_rows(&s.total) {
        let _ = writeln!(o, "| {name} | {} |", cells.join(" | "));
    }
    if !s.models.is_empty() {
        let _ = writeln!(
            o,
            "\n## Per model\n\n| {} |\n|---|{}",
            MODEL_HEAD.join(" | "),
            "---:|".repeat(MODEL_HEAD.len() - 1)
        );
        for row in model_rows(s) {
            let cells: Vec<String> = row.iter().map(|c| md(c)).collect();
            let _ = writeln!(o, "| {} |", cells.join(" | "));
        }
    }
    if !s.timeline.is_empty() {
        o.push_str("\n## Over time\n\n| second | ok | errors | output tokens |\n|---:|---:|---:|---:|\n");
        for t in &s.timeline {
            let _ = writeln!(o, "| {} | {} | {} | {} |", t.t, t.ok, t.errors, t.output_tokens);
        }
    }
    for w in &s.warnings {
        let _ = writeln!(o, "\n> warning: {}", md(w));
    }
    o.push_str("\n## Definitions\n\n");
    for d in &s.definitions {
        let _ = writeln!(o, "- **{}**: {}", md(&d.name), md(&d.text));
    }
    o
}

/// A vertical bar chart of (label, value) pairs, `title` and the unit in its title.
fn columns(title: &str, bars: &[(String, f64)], color: &str) -> String {
    let (w, h, top, bottom) = (560.0, 180.0, 24.0, 22.0);
    let max = bars.iter().map(|b| b.1).fold(0.0, f64::max);
    let step = w / bars.len().max(1) as f64;
    let mut s = crate::report::html::chart_open(title, w, h + top + bottom);
    for (i, (label, v)) in bars.iter().enumerate() {
        let bh = if max > 0.0 { v / max * h } else { 0.0 };
        let x = i as f64 * step;
        let _ = write!(
            s,
            "<rect fill=\"{color}\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bh:.1}\"><title>{}: {v}</title></rect>",
            top + h - bh,
            (step - 1.0).max(1.0),
            esc(label)
        );
    }
    // Axis labels: the first and last bars' labels and the largest value.
    if let (Some(first), Some(last)) = (bars.first(), bars.last()) {
        let _ = write!(
            s,
            "<text x=\"0\" y=\"{y}\">{}</text><text x=\"{w}\" y=\"{y}\" text-anchor=\"end\">{}</text>\
             <text x=\"{w}\" y=\"14\" text-anchor=\"end\">max {}</text>",
            esc(&first.0),
            esc(&last.0),
            esc(&format_value(max)),
            y = top + h + 16.0
        );
    }
    s.push_str("</svg></figure>");
    s
}

fn format_value(v: f64) -> String {
    if v.fract() == 0.0 { format!("{v:.0}") } else { format!("{v:.2}") }
}

/// A histogram of `h` (µs) as columns over 30 bins up to its p99, labelled in ms.
fn histogram(title: &str, h: &Hist) -> Option<String> {
    let bins = h.bins(30);
    if bins.is_empty() {
        return None;
    }
    let bars: Vec<(String, f64)> = bins.iter().map(|(lo, n)| (ms(*lo as f64 / 1000.0), *n as f64)).collect();
    Some(columns(&format!("{title} (requests per bin, ms; the last bin holds the slowest 1%)"), &bars, "#4a7bd0"))
}

const CSS: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1200px;padding:0 1em;color:#1b1f24}\
table{border-collapse:collapse;margin:1em 0;font-variant-numeric:tabular-nums}\
th,td{border:1px solid #d0d7de;padding:3px 8px;text-align:right}th:first-child,td:first-child{text-align:left}\
th{background:#f6f8fa}.scroll{overflow-x:auto;max-width:100%}\
.tiles{display:grid;grid-template-columns:repeat(auto-fit,minmax(180px,1fr));gap:.6em}\
.tile{border:1px solid #d0d7de;border-radius:6px;padding:.5em .8em}.tile b{display:block;font-size:1.2em}\
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,500px),1fr));gap:1em 1.5em}.chart{margin:0}\
.chart svg{width:100%;height:auto}.chart text{font:12px system-ui,sans-serif;fill:#1b1f24}\
.warn{background:#fff4d6;border:1px solid #e8c766;padding:6px 10px}dt{font-weight:700}dd{margin:0 0 .5em 1.5em}";

pub fn render_html(s: &Summary) -> String {
    let mut o = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>bakeoff load report {}</title><style>{CSS}</style></head><body>\n<h1>bakeoff load report</h1>\n\
         <p>{} · {} model(s), {} request bodies · started {} · bakeoff {}</p>\n",
        esc(&s.run.started_at),
        esc(&shape(s)),
        s.run.models.len(),
        s.run.mix_size,
        esc(&s.run.started_at),
        esc(&s.bakeoff_version)
    );
    for w in &s.warnings {
        let _ = writeln!(o, "<p class=\"warn\">{}</p>", esc(w));
    }
    o.push_str("<div class=\"tiles\">");
    for (k, v) in tiles(s) {
        let _ = write!(o, "<div class=\"tile\">{}<b>{}</b></div>", esc(&k), esc(&v));
    }
    o.push_str(
        "</div>\n<h2>Timings</h2>\n<div class=\"scroll\"><table><thead><tr><th></th><th>n</th><th>mean</th><th>p50</th>\
                <th>p90</th><th>p95</th><th>p99</th><th>max</th></tr></thead><tbody>",
    );
    for (name, cells) in timing_rows(&s.total) {
        let _ = write!(o, "<tr><td>{name}</td><td>{}</td></tr>", cells.join("</td><td>"));
    }
    o.push_str("</tbody></table></div>\n<div class=\"charts\">");
    let hs = &s.total.histograms;
    for chart in [histogram("TTFT", &hs.ttft_us), histogram("Latency", &hs.latency_us)].into_iter().flatten() {
        o.push_str(&chart);
    }
    if !s.timeline.is_empty() {
        let per_s = |f: fn(&super::summary::Tick) -> u64| -> Vec<(String, f64)> {
            s.timeline.iter().map(|t| (format!("{}s", t.t), f(t) as f64)).collect()
        };
        o.push_str(&columns("Successful requests per second", &per_s(|t| t.ok), "#2e8b57"));
        o.push_str(&columns("Errors per second", &per_s(|t| t.errors), "#c0392b"));
        o.push_str(&columns(
            "Throughput: output tokens per second (all requests)",
            &per_s(|t| t.output_tokens),
            "#4a7bd0",
        ));
    }
    o.push_str("</div>\n");
    if !s.models.is_empty() {
        o.push_str("<h2>Per model</h2>\n<div class=\"scroll\"><table><thead><tr>");
        for h in MODEL_HEAD {
            let _ = write!(o, "<th>{h}</th>");
        }
        o.push_str("</tr></thead><tbody>");
        for row in model_rows(s) {
            o.push_str("<tr>");
            for c in row {
                let _ = write!(o, "<td>{}</td>", esc(&c));
            }
            o.push_str("</tr>");
        }
        o.push_str("</tbody></table></div>\n");
        if s.run.mode == LoopMode::Open {
            o.push_str("<p>Per-model TTFT and latency are measured from each request's intended start.</p>\n");
        }
    }
    o.push_str("<h2>Definitions</h2>\n<dl>");
    for d in &s.definitions {
        let _ = write!(o, "<dt>{}</dt><dd>{}</dd>", esc(&d.name), esc(&d.text));
    }
    o.push_str("</dl>\n</body></html>\n");
    o
}
