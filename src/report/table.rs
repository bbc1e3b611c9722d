//! The per-model summary as cells (shared by the terminal, Markdown and HTML writers) and the
//! terminal table itself, in the style of `bakeoff run`'s table (`headless::table`).

use super::{BatchStats, Comparison, GroupStats, Interval, ModelStats, Record, Report, RouteChoice};
use crate::format;
use crate::sanitize::sanitize as printable;
use std::time::Duration;

/// One summary cell: its text, whether it holds the column's best value, and whether it is not
/// significantly different from the best (batch statistics only).
pub(crate) struct Cell {
    pub text: String,
    pub best: bool,
    pub tied: bool,
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
    // Marked only when one model alone is best, and never for a best of zero acceptance or
    // quality (every model at 0% is no winner), nor the lowest cost of a model that never
    // answered (failing for free is not cheap).
    let no_winner = |key: &str, m: &ModelStats| match key {
        "acceptance_rate" => m.acceptance_rate == Some(0.0),
        "quality_mean" => m.quality_mean == Some(0.0),
        "cost_usd" => m.ok == 0,
        _ => false,
    };
    let is_best = |key: &str, m: &ModelStats| {
        report.cross.best.get(key).is_some_and(|v| v.len() == 1 && v[0] == m.model) && !no_winner(key, m)
    };
    let is_tied = |key: &str, m: &ModelStats| {
        report.batch.as_ref().and_then(|b| b.tied_with_best.get(key)).is_some_and(|v| v.contains(&m.model))
    };
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
        "stream tok/s",
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
            let c = |text: String, key: &str| Cell {
                text,
                best: !key.is_empty() && is_best(key, m),
                tied: !key.is_empty() && is_tied(key, m),
            };
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
    align_n(head, rows, 1)
}

/// Aligns `rows` under `head`: the first `left` columns left-aligned, the others right-aligned.
pub(crate) fn align_n(head: &[String], rows: &[Vec<String>], left: usize) -> String {
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
            if i < left {
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
                    if c.best {
                        format!("{t}*")
                    } else if c.tied {
                        format!("{t}≈")
                    } else {
                        t
                    }
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
    // Extra per-model tables; their first cell is a model name, from outside.
    let judging = super::judging_tables(report)
        .into_iter()
        .map(|(title, head, rows, _)| (title.to_lowercase(), Some((head, rows))));
    for (title, table) in [
        ("tool calls (successful answers)".to_string(), super::tool_rows(report)),
        ("prompt cache".to_string(), super::cache_rows(report)),
        ("structured output (successful answers)".to_string(), super::structured_rows(report)),
    ]
    .into_iter()
    .chain(judging)
    {
        let Some((head, mut rows)) = table else { continue };
        for r in &mut rows {
            r[0] = printable(&r[0]).replace('\n', " ");
        }
        out.push_str(&format!("\n{title}:\n"));
        out.push_str(&align(&head, &rows));
    }
    let errors: Vec<String> = report
        .models
        .iter()
        .filter(|m| !m.error_kinds.is_empty() || m.cancelled > 0)
        .map(|m| {
            let mut kinds: Vec<String> = m.error_kinds.iter().map(|(k, n)| format!("{k} ×{n}")).collect();
            if m.cancelled > 0 {
                kinds.push(format!("cancelled ×{}", m.cancelled));
            }
            let mut line = format!("  {}: {}", printable(&m.model), kinds.join(", "));
            if let Some(e) = &m.first_error {
                line.push_str(&format!("\n      first: {}", printable_line(e)));
            }
            line
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
    if let Some(b) = &report.batch {
        out.push_str(&batch_sections(b));
    }
    out.push_str("\n* best in column. ");
    if report.batch.as_ref().is_some_and(|b| !b.tied_with_best.is_empty()) {
        out.push_str("≈ not significantly different from the best. ");
    }
    if report.batch.is_some() {
        out.push_str("routing: ≈ fallback not significantly dearer; $— (!) cost unknown, ranked after known costs. ");
    }
    if report.models.iter().any(|m| m.tokens_estimated) {
        out.push_str("~ token counts partly estimated locally. ");
    }
    if report.models.iter().any(|m| !m.cost_complete) {
        out.push_str("≥$ lower bound: some prices unknown; $— unknown. ");
    }
    out.push_str("quality 0..1, score 1–5; definitions: --format json or markdown.\n");
    out
}

/// `83% [67–100%]`: a rate with its interval; `—` when unknown.
pub(crate) fn pct_ci(v: Option<f64>, ci: Option<Interval>) -> String {
    let Some(v) = v else { return "—".into() };
    match ci {
        Some(c) => format!("{:.0}% [{:.0}–{:.0}%]", v * 100.0, c.lo * 100.0, c.hi * 100.0),
        None => format!("{:.0}%", v * 100.0),
    }
}

/// `0.67 [0.50–0.83]`.
pub(crate) fn num_ci(v: Option<f64>, ci: Option<Interval>, decimals: usize) -> String {
    let Some(v) = v else { return "—".into() };
    match ci {
        Some(c) => format!("{v:.decimals$} [{:.decimals$}–{:.decimals$}]", c.lo, c.hi),
        None => format!("{v:.decimals$}"),
    }
}

/// `200ms [150ms–300ms]`.
pub(crate) fn ms_ci(v: Option<f64>, ci: Option<Interval>) -> String {
    match (v, ci) {
        (None, _) => "—".into(),
        (Some(v), Some(c)) => format!("{} [{}–{}]", ms(Some(v)), ms(Some(c.lo)), ms(Some(c.hi))),
        (Some(v), None) => ms(Some(v)),
    }
}

/// Group cost: exact, `≥$x` lower bound, or `$—`.
pub(crate) fn group_cost(g: &GroupStats) -> String {
    match g.cost_usd {
        Some(c) => format::usd(Some(c)),
        None if g.cost_known_usd > 0.0 => format!("≥{}", format::usd(Some(g.cost_known_usd))),
        None => format::usd(None),
    }
}

/// The interval method in one line.
pub(crate) fn ci_method(b: &BatchStats) -> String {
    format!(
        "{:.0}% CI: percentile bootstrap over cases, B = {}, seed {}",
        b.confidence * 100.0,
        b.bootstrap.resamples,
        b.bootstrap.seed
    )
}

/// Per model over all cases: repeat folding and the main figures with intervals.
pub(crate) fn batch_model_rows(b: &BatchStats, clean: fn(&str) -> String) -> (Vec<String>, Vec<Vec<String>>) {
    let n = b.max_repeats;
    let head = ["model", "cases", &format!("pass@{n}"), &format!("pass^{n}"), "flaky"]
        .into_iter()
        .map(String::from)
        .chain(["quality [95% CI]", "accept [95% CI]", "TTFT p50 [95% CI]", "lat p50 [95% CI]"].map(String::from))
        .collect();
    let rows = b
        .models
        .iter()
        .map(|m| {
            let g = &m.overall;
            vec![
                clean(&m.model),
                g.cases.to_string(),
                pct_ci(m.pass_at_n, None),
                pct_ci(m.pass_all_n, None),
                m.flaky_cases.to_string(),
                num_ci(g.quality_mean, g.ci.quality_mean, 2),
                pct_ci(g.acceptance_rate, g.ci.acceptance_rate),
                ms_ci(g.ttft_p50_ms, g.ci.ttft_p50_ms),
                ms_ci(g.latency_p50_ms, g.ci.latency_p50_ms),
            ]
        })
        .collect();
    (head, rows)
}

/// Per category × model; the category named on its first row only.
pub(crate) fn category_rows(b: &BatchStats, clean: fn(&str) -> String) -> (Vec<String>, Vec<Vec<String>>) {
    let head = [
        "category",
        "model",
        "cases",
        "resp",
        "accept [95% CI]",
        "quality",
        "TTFT p50",
        "TTFT p95",
        "lat p50",
        "cost",
        "$/accept",
    ]
    .map(String::from)
    .to_vec();
    let mut rows = Vec::new();
    for c in &b.categories {
        for (i, g) in c.models.iter().enumerate() {
            rows.push(vec![
                if i == 0 { clean(&c.category) } else { String::new() },
                clean(&g.model),
                g.cases.to_string(),
                g.responses.to_string(),
                pct_ci(g.acceptance_rate, g.ci.acceptance_rate),
                num(g.quality_mean, 2),
                ms(g.ttft_p50_ms),
                ms(g.ttft_p95_ms),
                ms(g.latency_p50_ms),
                group_cost(g),
                format::usd(g.cost_per_acceptable_usd),
            ]);
        }
    }
    (head, rows)
}

/// `a − b on quality: +0.250 [0.100, 0.400], n = 10, sign test p = 0.0215 → a better`.
pub(crate) fn comparison_line(c: &Comparison, clean: fn(&str) -> String) -> String {
    let decimals = if c.metric == "quality" || c.metric == "acceptance" { 3 } else { 1 };
    let unit = if decimals == 1 { "ms" } else { "" };
    let diff = match (c.mean_diff, c.ci) {
        (Some(d), Some(ci)) => format!("{d:+.decimals$}{unit} [{:.decimals$}, {:.decimals$}]", ci.lo, ci.hi),
        (Some(d), None) => format!("{d:+.decimals$}{unit}"),
        (None, _) => "no shared cases".into(),
    };
    let verdict = match &c.better {
        Some(w) => format!("{} better", clean(w)),
        None => "≈ not significant".into(),
    };
    format!(
        "{} − {} on {}: {diff}, n = {}, sign test p = {:.4} → {verdict}",
        clean(&c.a),
        clean(&c.b),
        c.metric,
        c.n,
        c.sign_test.p
    )
}

/// The routing table's header line (bounds) and rows; notes per category follow the table.
pub(crate) fn routing_rows(b: &BatchStats, clean: fn(&str) -> String) -> (String, Vec<String>, Vec<Vec<String>>) {
    let bounds = &b.routing_bounds;
    let title = format!(
        "routing: per category the cheapest model per acceptable response with acceptance ≥ {:.0}%{}",
        bounds.min_acceptance * 100.0,
        bounds.max_p95_ttft_ms.map_or_else(String::new, |t| format!(" and TTFT p95 ≤ {}", ms(Some(t))))
    );
    let head = [
        "category",
        "route to",
        "accept [95% CI]",
        "TTFT p95",
        "$/accept",
        "cases",
        "fallback",
        "accept [95% CI]",
        "TTFT p95",
        "$/accept",
    ]
    .map(String::from)
    .to_vec();
    let side = |c: Option<&RouteChoice>, mark: &str| match c {
        Some(c) => vec![
            format!("{}{mark}", clean(&c.model)),
            pct_ci(c.acceptance_rate, c.acceptance_ci),
            ms(c.ttft_p95_ms),
            if c.cost_unknown { "$— (!)".into() } else { format::usd(c.cost_per_acceptable_usd) },
        ],
        None => vec!["—".into(), String::new(), String::new(), String::new()],
    };
    let rows = b
        .routing
        .iter()
        .map(|r| {
            let mut row = vec![clean(&r.category)];
            match &r.choice {
                Some(c) => {
                    row.extend(side(Some(c), ""));
                    row.push(c.cases.to_string());
                }
                None => {
                    let mut none = side(None, "");
                    none[0] = "none".into();
                    row.extend(none);
                    row.push(String::new());
                }
            }
            row.extend(side(r.fallback.as_ref(), if r.fallback_tied { " ≈" } else { "" }));
            row
        })
        .collect();
    (title, head, rows)
}

/// The routing table as plain text, for the end of a batch on the terminal.
pub fn routing_table(report: &Report) -> String {
    let Some(b) = &report.batch else {
        return "routing: no batch statistics (no round belongs to a case)\n".into();
    };
    let mut out = routing_table_body(b);
    out.push_str(&format!(
        "\n≈ fallback not significantly dearer (intervals overlap). $— (!) cost per acceptable unknown: chosen only \
         when no known-cost model qualifies (it ranks after every known cost). {}.\n",
        ci_method(b)
    ));
    out
}

/// Terminal-safe single line.
fn printable_line(s: &str) -> String {
    printable(s).replace(['\n', '\t'], " ")
}

/// The batch sections of the terminal table.
fn batch_sections(b: &BatchStats) -> String {
    let mut out =
        format!("\nper model over {} case(s), up to {} repeat(s) each · {}\n\n", b.cases, b.max_repeats, ci_method(b));
    let (head, rows) = batch_model_rows(b, printable_line);
    out.push_str(&align(&head, &rows));
    out.push_str("\nper category:\n\n");
    let (head, rows) = category_rows(b, printable_line);
    out.push_str(&align_n(&head, &rows, 2));
    let significant: Vec<&Comparison> = b.comparisons.iter().filter(|c| c.significant).collect();
    out.push_str(&format!(
        "\npairwise differences: {} of {} significant (95% interval excludes 0 and sign test p < 0.05)\n",
        significant.len(),
        b.comparisons.len()
    ));
    for c in significant {
        out.push_str(&format!("  {}\n", comparison_line(c, printable_line)));
    }
    out.push('\n');
    out.push_str(&routing_table_body(b));
    out
}

/// `routing_table` without its own footnote, for inside `to_table`.
fn routing_table_body(b: &BatchStats) -> String {
    let (title, head, rows) = routing_rows(b, printable_line);
    let mut out = format!("{title}\n\n");
    out.push_str(&align(&head, &rows));
    for r in &b.routing {
        for n in &r.notes {
            out.push_str(&format!("  {}: {}\n", printable_line(&r.category), printable_line(n)));
        }
    }
    out
}

/// One line of a report's verdict: what it is about, what it says, and whether it warns.
pub(crate) struct VerdictLine {
    pub scope: String,
    pub text: String,
    pub warn: bool,
}

/// The verdict a batch report opens with: the routing rule's choice over all cases and per
/// category, with its figures and whether the runner-up is significantly dearer; a warning
/// where no model meets the bounds, and one when nothing passed at all.
pub(crate) fn verdict(b: &BatchStats) -> Vec<VerdictLine> {
    let mut out = Vec::new();
    let known = b.models.iter().any(|m| m.overall.acceptability_known > 0);
    if known && b.models.iter().all(|m| m.overall.acceptable == 0) {
        out.push(VerdictLine {
            scope: "nothing passed".into(),
            text: "no model gave an acceptable answer to any case: check the evaluators and the expected answers \
                   before choosing on cost or speed"
                .into(),
            warn: true,
        });
    }
    let bounds = &b.routing_bounds;
    let rule = format!(
        "acceptance ≥ {:.0}%{}",
        bounds.min_acceptance * 100.0,
        bounds.max_p95_ttft_ms.map_or_else(String::new, |t| format!(", TTFT p95 ≤ {}", ms(Some(t))))
    );
    let usd = |c: &RouteChoice| {
        if c.cost_unknown { "$— (price unknown)".to_string() } else { format::usd(c.cost_per_acceptable_usd) }
    };
    // Over all cases only when there is more than one category (else it repeats the one line).
    let overall = b.routing_overall.iter().filter(|_| b.routing.len() > 1);
    for r in overall.chain(&b.routing) {
        let line = match &r.choice {
            Some(c) => {
                let mut text = format!(
                    "{} — acceptance {}, {} per acceptable answer, TTFT p95 {}",
                    c.model,
                    pct_ci(c.acceptance_rate, c.acceptance_ci),
                    usd(c),
                    ms(c.ttft_p95_ms)
                );
                match &r.fallback {
                    Some(f) => {
                        let how = if c.cost_unknown || f.cost_unknown {
                            "not comparable on cost (a price is unknown)"
                        } else if r.fallback_tied {
                            "not significantly dearer (the cost intervals overlap): either will do"
                        } else {
                            "significantly dearer"
                        };
                        text.push_str(&format!(
                            "; runner-up {} ({} per acceptable, acceptance {}) is {how}",
                            f.model,
                            usd(f),
                            pct_ci(f.acceptance_rate, None)
                        ));
                    }
                    None => text.push_str(&format!("; no other model meets {rule}")),
                }
                for n in r.notes.iter().filter(|n| !n.contains(" ≈ ")) {
                    text.push_str(&format!(". Note: {n}"));
                }
                VerdictLine { scope: r.category.clone(), text, warn: false }
            }
            None => VerdictLine {
                scope: r.category.clone(),
                text: format!("no recommendation: {} (the bar is {rule})", r.notes.join("; ")),
                warn: true,
            },
        };
        out.push(line);
    }
    out
}
