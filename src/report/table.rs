//! The per-model summary as cells (shared by the terminal, Markdown and HTML writers) and the
//! terminal table itself, in the style of [`crate::headless::table`].

use super::{ModelStats, Record, Report};
use crate::format;
use crate::sanitize::sanitize as printable;
use std::time::Duration;

/// One summary cell: its text and whether it holds the column's best value.
pub(crate) struct Cell {
    pub text: String,
    pub best: bool,
}

/// Milliseconds as `212ms` / `12.3s`; `—` when unknown.
pub(crate) fn ms(v: Option<f64>) -> String {
    v.filter(|v| v.is_finite() && *v >= 0.0)
        .map_or_else(|| "—".into(), |v| format::ms(Duration::from_secs_f64(v / 1000.0)))
}

/// A model's total cost: exact, `≥$x` when some attempts' prices are unknown (a lower bound,
/// never shown as the total), or `$—` when nothing is known.
pub(crate) fn cost(m: &ModelStats) -> String {
    match m.cost_usd {
        Some(c) => format::usd(Some(c)),
        None if m.cost_known_usd > 0.0 => format!("≥{}", format::usd(Some(m.cost_known_usd))),
        None => format::usd(None),
    }
}

/// `83% (5/6)`.
pub(crate) fn acceptance(m: &ModelStats) -> String {
    match m.acceptance_rate {
        Some(r) => format!("{:.0}% ({}/{})", r * 100.0, m.acceptable, m.acceptability_known),
        None => "—".into(),
    }
}

pub(crate) fn num(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(|| "—".into(), |v| format!("{v:.decimals$}"))
}

pub(crate) fn record(r: Record) -> String {
    format!("{}-{}-{}", r.wins, r.ties, r.losses)
}

pub(crate) fn tokens(m: &ModelStats) -> String {
    let est = if m.tokens_estimated { "~" } else { "" };
    format!("{est}{}/{est}{}", m.input_tokens, m.output_tokens)
}

/// Column headers and one row of cells per model. Verdict, pairwise and Bradley–Terry columns
/// appear only when the session has them.
pub(crate) fn summary(report: &Report) -> (Vec<&'static str>, Vec<Vec<Cell>>) {
    let ms_ = &report.models;
    let verdicts = ms_.iter().any(|m| m.verdicts != Record::default());
    let pairwise = ms_.iter().any(|m| m.pairwise != Record::default());
    let bt = report.cross.bradley_terry.is_some();
    let is_best = |key: &str, m: &ModelStats| report.cross.best.get(key).is_some_and(|v| v.contains(&m.model));
    let mut head = vec![
        "model",
        "rounds",
        "req",
        "retry",
        "err",
        "TTFT p50",
        "TTFT p95",
        "lat p50",
        "lat p95",
        "tok/s",
        "in/out tok",
        "cost",
        "accept",
        "quality",
        "score",
        "eval",
        "$/qual pt",
        "$/accept",
    ];
    if verdicts {
        head.push("verdict W-T-L");
    }
    if pairwise {
        head.push("pairwise W-T-L");
    }
    if bt {
        head.push("BT");
    }
    let rows = ms_
        .iter()
        .map(|m| {
            let c = |text: String, key: &str| Cell { text, best: !key.is_empty() && is_best(key, m) };
            let mut row = vec![
                c(m.model.clone(), ""),
                c(m.rounds.to_string(), ""),
                c(m.requests.to_string(), ""),
                c(m.retries.to_string(), ""),
                c(m.errors.to_string(), ""),
                c(ms(m.ttft_ms.map(|s| s.p50)), "ttft_p50_ms"),
                c(ms(m.ttft_ms.map(|s| s.p95)), ""),
                c(ms(m.latency_ms.map(|s| s.p50)), "latency_p50_ms"),
                c(ms(m.latency_ms.map(|s| s.p95)), ""),
                c(num(m.tokens_per_s_mean, 1), "tokens_per_s_mean"),
                c(tokens(m), ""),
                c(cost(m), "cost_usd"),
                c(acceptance(m), "acceptance_rate"),
                c(num(m.quality_mean, 2), "quality_mean"),
                c(num(m.manual_score_mean, 2), "manual_score_mean"),
                c(num(m.eval_score_mean, 2), ""),
                c(format::usd(m.cost_per_quality_point_usd), "cost_per_quality_point_usd"),
                c(format::usd(m.cost_per_acceptable_usd), "cost_per_acceptable_usd"),
            ];
            if verdicts {
                row.push(c(record(m.verdicts), ""));
            }
            if pairwise {
                row.push(c(record(m.pairwise), ""));
            }
            if bt {
                row.push(c(num(m.bradley_terry.map(|b| b.rating), 0), "bt_rating"));
            }
            row
        })
        .collect();
    (head, rows)
}

/// Aligns `rows` under `head`: the first column left-aligned, the others right-aligned.
pub(crate) fn align(head: &[String], rows: &[Vec<String>]) -> String {
    let mut width: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in width.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(&width).enumerate() {
            let pad = " ".repeat(w - cell.chars().count());
            if i == 0 {
                s.push_str(cell);
                s.push_str(&pad);
            } else {
                s.push_str(&pad);
                s.push_str(cell);
            }
            s.push_str("  ");
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(head);
    for row in rows {
        out.push_str(&line(row));
    }
    out
}

/// The terminal table: one row per model, best values marked `*`, then footnotes.
pub fn to_table(report: &Report) -> String {
    let (head, rows) = summary(report);
    let head: Vec<String> = head.iter().map(|h| h.to_string()).collect();
    let rows: Vec<Vec<String>> = rows
        .into_iter()
        .map(|r| {
            r.into_iter()
                .enumerate()
                .map(|(i, c)| {
                    // Model names come from config or a hand-edited file: keep escapes out.
                    let t = if i == 0 { printable(&c.text).replace('\n', " ") } else { c.text };
                    if c.best { format!("{t}*") } else { t }
                })
                .collect()
        })
        .collect();
    let e = &report.environment;
    let mut out = format!(
        "bakeoff report · {} round(s), {} complete · {} model(s) · mode {} · concurrency {} · prices as of {}\n",
        report.cross.rounds,
        report.cross.complete_rounds,
        report.models.len(),
        if e.mode.is_empty() { "?" } else { &e.mode },
        e.concurrency,
        if report.prices_as_of.is_empty() { "?" } else { &report.prices_as_of },
    );
    if report.partial {
        out.push_str("PARTIAL: some rounds have no result for every model.\n");
    }
    out.push('\n');
    out.push_str(&align(&head, &rows));
    let errors: Vec<String> = report
        .models
        .iter()
        .filter(|m| !m.error_kinds.is_empty() || m.cancelled > 0)
        .map(|m| {
            let mut kinds: Vec<String> = m.error_kinds.iter().map(|(k, n)| format!("{k} ×{n}")).collect();
            if m.cancelled > 0 {
                kinds.push(format!("cancelled ×{}", m.cancelled));
            }
            format!("  {}: {}", printable(&m.model), kinds.join(", "))
        })
        .collect();
    if !errors.is_empty() {
        out.push_str("\nerrors by kind (all attempts):\n");
        out.push_str(&errors.join("\n"));
        out.push('\n');
    }
    for a in &report.cross.judge_agreement {
        out.push_str(&format!(
            "\njudge {} vs manual scores: κ = {} (n = {}, agreement {:.0}%)\n",
            printable(&a.judge),
            num(a.kappa, 2),
            a.n,
            a.observed_agreement * 100.0
        ));
    }
    out.push_str("\n* best in column. ");
    if report.models.iter().any(|m| m.tokens_estimated) {
        out.push_str("~ token counts partly estimated locally. ");
    }
    if report.models.iter().any(|m| !m.cost_complete) {
        out.push_str("≥$ lower bound: some prices unknown; $— unknown. ");
    }
    out.push_str("quality 0..1, score 1–5; definitions: --format json or markdown.\n");
    out
}
