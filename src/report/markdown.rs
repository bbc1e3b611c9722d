//! The Markdown report: a summary table per model (best values in bold), cross-model figures,
//! per-round sections with every model's answer in a fenced block, and the definitions.
//!
//! Model output is untrusted: it goes into fences longer than any backtick run inside it, and
//! every other piece of text is escaped so it cannot open HTML or break the table.

use super::table::{
    batch_model_rows, ci_method, comparison_line, group_cost, ms, ms_ci, num, num_ci, pct_ci, routing_rows, summary,
};
use super::{BatchStats, ModelRound, Report, RoundReport};
use crate::format;
use crate::session::Verdict;
use std::fmt::Write;

/// Text for a Markdown paragraph or table cell: HTML and Markdown punctuation escaped, one line.
pub(crate) fn inline(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\n' | '\r' => out.push(' '),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '#' | '~' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {}
            c if crate::sanitize::is_bidi_control(c) => out.push_str(&format!("&lt;U+{:04X}&gt;", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// A fenced code block that `text` cannot close: the fence is one backtick longer than the
/// longest backtick run in it (CommonMark), and at least three.
pub(crate) fn fenced(text: &str, info: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat((longest + 1).max(3));
    // Controls, escape sequences and bidi overrides become visible stand-ins: a fence stops
    // Markdown, not a terminal that `cat`s the file.
    let body = crate::sanitize::document(text);
    let body = body.trim_end_matches('\n');
    format!("{fence}{info}\n{body}\n{fence}\n")
}

pub fn to_markdown(r: &Report) -> String {
    let mut o = String::new();
    write_header(&mut o, r);
    if let Some(b) = &r.batch {
        let _ = writeln!(o, "## Verdict\n");
        for l in super::table::verdict(b) {
            let warn = if l.warn { "⚠ " } else { "" };
            let _ = writeln!(o, "- {warn}**{}**: {}", inline(&l.scope), inline(&l.text));
        }
        let _ = writeln!(
            o,
            "\nThe choice per category is the cheapest model per acceptable answer among those that meet the bounds \
             (see Routing).\n"
        );
    }
    write_summary(&mut o, r);
    write_tools(&mut o, r);
    if let Some((head, rows)) = super::cache_rows(r) {
        let _ = writeln!(o, "### Prompt cache\n");
        table(&mut o, &head, &rows, 1);
        let _ = writeln!(o, "\n{}\n", super::CACHE_NOTE);
    }
    for (title, head, rows, note) in super::judging_tables(r) {
        let _ = writeln!(o, "### {title}\n");
        table(&mut o, &head, &rows, 1);
        let _ = writeln!(o, "\n{note}\n");
    }
    if let Some((head, rows)) = super::structured_rows(r) {
        let _ = writeln!(o, "### Structured output\n");
        table(&mut o, &head, &rows, 1);
        let _ = writeln!(o, "\n{}\n", super::STRUCTURED_NOTE);
    }
    write_errors_and_unknown_prices(&mut o, r);
    write_comparisons(&mut o, r);
    if let Some(b) = &r.batch {
        write_batch(&mut o, b);
    }
    let _ = writeln!(o, "## Rounds\n");
    for round in r.rounds_in_order() {
        write_round(&mut o, round);
    }
    let _ = writeln!(o, "## Definitions\n");
    for d in &r.definitions {
        let _ = writeln!(o, "- **{}**: {}", inline(&d.name), inline(&d.text));
    }
    o
}

/// Title, partial-report banner and where the figures come from.
fn write_header(o: &mut String, r: &Report) {
    let _ = writeln!(o, "# bakeoff report\n");
    if r.partial {
        let _ = writeln!(o, "> **Partial report**: some rounds have no result for every model.\n");
    }
    let e = &r.environment;
    let _ = writeln!(
        o,
        "- generated: {} by bakeoff {} (report version {})\n- session started: {}\n- environment: mode {}, {}, \
         concurrency {}, connection reuse {}, recorded by bakeoff {}\n- prices as of: {}\n- rounds: {} ({} complete); \
         acceptable manual score ≥ {}\n",
        inline(&r.generated_at),
        inline(&r.bakeoff_version),
        r.report_version,
        inline(&r.session_started_at),
        inline(&e.mode),
        inline(&e.os),
        e.concurrency,
        e.connection_reuse,
        inline(&e.bakeoff_version),
        inline(&r.prices_as_of),
        r.cross.rounds,
        r.cross.complete_rounds,
        r.accept_score,
    );
}

/// The per-model table, best in column in bold.
fn write_summary(o: &mut String, r: &Report) {
    let _ = writeln!(o, "## Summary\n");
    let (head, rows) = summary(r);
    let _ = writeln!(o, "| {} |", head.join(" | "));
    let _ = writeln!(
        o,
        "|{}",
        head.iter().enumerate().map(|(i, _)| if i == 0 { "---|" } else { "---:|" }).collect::<String>()
    );
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .map(|c| match (c.best, c.tied) {
                (true, _) => format!("**{}**", inline(&c.text)),
                (false, true) => format!("≈ {}", inline(&c.text)),
                _ => inline(&c.text),
            })
            .collect();
        let _ = writeln!(o, "| {} |", cells.join(" | "));
    }
    let tie_note = if r.batch.as_ref().is_some_and(|b| !b.tied_with_best.is_empty()) {
        "≈: not significantly different from the best (see Batch statistics). "
    } else {
        ""
    };
    let _ = writeln!(
        o,
        "\nBold: best in column. {tie_note}Times are p50/p95 of successful requests; cost covers every attempt including \
         failed and retried ones; `≥$` is a lower bound (some prices unknown), `$—` unknown; `~` estimated tokens.\n"
    );
}

/// Tool-call figures, once any model called a tool.
fn write_tools(o: &mut String, r: &Report) {
    if let Some((head, rows)) = super::tool_rows(r) {
        let _ = writeln!(o, "### Tool calls\n");
        table(o, &head, &rows, 1);
        let _ = writeln!(
            o,
            "\nOver successful answers. Arguments parse: a JSON object; fit the schema: valid against the offered \
             tool's `parameters` (a call to a tool not offered does not fit). TTF tool: request sent → the first \
             tool-call delta naming its function.\n"
        );
    }
}

/// Errors by kind and models whose prices are unknown.
fn write_errors_and_unknown_prices(o: &mut String, r: &Report) {
    let errs: Vec<&super::ModelStats> =
        r.models.iter().filter(|m| !m.error_kinds.is_empty() || m.cancelled > 0).collect();
    if !errs.is_empty() {
        let _ = writeln!(o, "### Errors by kind (all attempts)\n");
        for m in errs {
            let mut kinds: Vec<String> = m.error_kinds.iter().map(|(k, n)| format!("{} ×{n}", inline(k))).collect();
            if m.cancelled > 0 {
                kinds.push(format!("cancelled ×{}", m.cancelled));
            }
            let first = m.first_error.as_deref().map(|e| format!(" — first: {}", inline(e))).unwrap_or_default();
            let _ = writeln!(o, "- {}: {}{first}", inline(&m.model), kinds.join(", "));
        }
        o.push('\n');
    }
    let unknown: Vec<String> = r
        .models
        .iter()
        .filter(|m| !m.cost_complete)
        .map(|m| format!("{} ({} of {} requests)", inline(&m.model), m.cost_unknown_requests, m.requests))
        .collect();
    if !unknown.is_empty() {
        let _ = writeln!(o, "Unknown prices: {}. Their totals are lower bounds.\n", unknown.join(", "));
    }
}

/// Bradley–Terry ratings and judge–person agreement.
fn write_comparisons(o: &mut String, r: &Report) {
    if let Some(bt) = &r.cross.bradley_terry {
        let _ = writeln!(
            o,
            "### Bradley–Terry\n\nFrom {} pairwise outcomes ({} iterations{}): {}.\n",
            bt.comparisons,
            bt.iterations,
            if bt.converged { "" } else { ", not converged" },
            bt.ranking
                .iter()
                .filter_map(|n| r.models.iter().find(|m| &m.model == n))
                .map(|m| format!(
                    "{} {} (strength {})",
                    inline(&m.model),
                    num(m.bradley_terry.map(|b| b.rating), 0),
                    num(m.bradley_terry.map(|b| b.strength), 3)
                ))
                .collect::<Vec<_>>()
                .join(" › ")
        );
    }
    if !r.cross.judge_agreement.is_empty() {
        let _ = writeln!(o, "### Judge vs manual scores\n");
        let _ = writeln!(o, "| judge | n | κ | agreement | both acceptable | judge only | person only | neither |");
        let _ = writeln!(o, "|---|---:|---:|---:|---:|---:|---:|---:|");
        for a in &r.cross.judge_agreement {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {:.0}% | {} | {} | {} | {} |",
                inline(&a.judge),
                a.n,
                num(a.kappa, 2),
                a.observed_agreement * 100.0,
                a.both_acceptable,
                a.judge_only,
                a.person_only,
                a.neither
            );
        }
        o.push('\n');
    }
}

fn write_round(o: &mut String, round: &RoundReport) {
    let mut title = format!("### Round {}", round.round);
    if let Some(c) = &round.case_id {
        let _ = write!(title, " · case {}", inline(c));
    }
    if let Some(c) = &round.category {
        let _ = write!(title, " · {}", inline(c));
    }
    if let Some(n) = round.repeat {
        let _ = write!(title, " · repeat {n}");
    }
    if let Some(n) = round.turn {
        let _ = write!(title, " · turn {n} (each model after its own earlier turns)");
    }
    let _ = writeln!(o, "{title}\n");
    let _ = write!(o, "Started {}", inline(&round.started_at));
    if !round.complete {
        o.push_str(" · **incomplete**");
    }
    o.push_str("\n\n");
    for m in &round.messages {
        let role = m.role.as_str();
        let attached: Vec<String> = m.attachments.iter().map(|a| inline(&a.label())).collect();
        let attached = if attached.is_empty() { String::new() } else { format!(" {}", attached.join(" ")) };
        let _ = writeln!(o, "**{}**:{attached}\n\n{}", inline(role), fenced(&m.content, "text"));
    }
    for (i, f) in round.follow_ups.iter().enumerate() {
        let _ = writeln!(o, "**user, turn {}** (after the model's own answer):\n\n{}", i + 2, fenced(f, "text"));
    }
    if let Some(b) = &round.blind {
        let shown: Vec<String> = b.shown().map(|(label, m)| format!("{} = {}", inline(label), inline(m))).collect();
        let _ = writeln!(o, "Blind round; shown as {}.\n", shown.join(", "));
    }
    match &round.verdict {
        Some(Verdict::Winner(w)) => {
            let _ = writeln!(o, "Verdict: **{}** won.\n", inline(w));
        }
        Some(Verdict::Tie) => {
            let _ = writeln!(o, "Verdict: tie.\n");
        }
        None => {}
    }
    for p in &round.pairwise {
        let outcome = match &p.winner {
            _ if !p.is_decided() => format!("not judged: {}", inline(p.error.as_deref().unwrap_or_default())),
            Some(w) => format!("{} won", inline(w)),
            None if p.disagreement => "tie (the two orders disagreed)".into(),
            None => "tie".into(),
        };
        let _ = writeln!(o, "- {} vs {}: {} (by {})", inline(&p.a), inline(&p.b), outcome, inline(&p.by));
    }
    if !round.pairwise.is_empty() {
        o.push('\n');
    }
    for resp in &round.responses {
        write_response(o, resp);
    }
}

fn write_response(o: &mut String, m: &ModelRound) {
    let _ = writeln!(o, "#### {}\n", inline(&m.model));
    let Some(res) = &m.result else {
        let _ = writeln!(o, "No result.\n");
        return;
    };
    let cost = match res.cost_usd {
        Some(c) => format::usd(Some(c)),
        None => "$— (price unknown)".into(),
    };
    // Escaped: a pair of bare tildes is strikethrough in GitHub Markdown.
    let est = if res.tokens_estimated { "\\~" } else { "" };
    let answer = format::answer_ttft(res.ttft_ms, res.ttft_answer_ms).map(|a| format!(" · answer {}", ms(Some(a))));
    let cost = format::billed(res.cost_usd, res.server_cost_usd, res.cost_mismatch).unwrap_or(cost);
    let cached = res.cached_input_tokens.filter(|c| *c > 0).map(|c| format!(" ({c} cached)")).unwrap_or_default();
    let _ = writeln!(
        o,
        "- status: {}{}\n- TTFT {}{} · latency {} · {} tok/s · tokens {est}{} in{cached} / {est}{} out · cost {}",
        inline(res.status.as_str()),
        res.error.as_deref().or(res.warning.as_deref()).map(|e| format!(" ({})", inline(e))).unwrap_or_default(),
        ms(res.ttft_ms),
        answer.unwrap_or_default(),
        ms(res.latency_ms),
        num(res.tokens_per_s, 1),
        res.input_tokens,
        res.output_tokens,
        inline(&cost),
    );
    if let Some(served) = res.server_model.as_deref().filter(|s| !s.is_empty() && *s != m.model) {
        let _ = writeln!(o, "- answered by: {}", inline(served));
    }
    if !m.retries.is_empty() {
        let tries: Vec<String> = m
            .retries
            .iter()
            .map(|t| {
                let kind = t.error_kind.map_or_else(|| inline(t.status.as_str()), |k| k.as_str().to_string());
                format!("{kind} ({})", format::usd(t.cost_usd))
            })
            .collect();
        let _ = writeln!(o, "- earlier attempts: {}", tries.join(", "));
    }
    let accept = match m.acceptable {
        Some(true) => "yes",
        Some(false) => "no",
        None => "unknown",
    };
    let _ = writeln!(
        o,
        "- manual score: {} · quality: {} · acceptable: {accept}",
        m.manual_score.map_or_else(|| "—".into(), |s| format!("{s}/5")),
        num(m.quality, 2),
    );
    for e in &m.evals {
        let verdict = match e.passed {
            Some(true) => "pass",
            Some(false) => "fail",
            None if e.is_score_only() => "scored",
            None => "error",
        };
        let mut line =
            format!("- eval {} ({}): {verdict}, score {}", inline(&e.name), inline(e.kind.as_str()), num(e.score, 2));
        if let Some(d) = e.detail.as_deref().or(e.error.as_deref()) {
            let _ = write!(line, " — {}", inline(d));
        }
        let _ = writeln!(o, "{line}");
    }
    if let Some(n) = &m.note {
        let _ = writeln!(o, "- note: {}", inline(n));
    }
    o.push('\n');
    for t in &m.turns {
        let _ = writeln!(
            o,
            "Turn {} answer (TTFT {} · cost {}):\n\n{}",
            t.turn.unwrap_or(0),
            ms(t.ttft_ms),
            format::usd(t.cost_usd),
            fenced(&t.output, "text")
        );
    }
    if let Some(turn) = res.turn.filter(|_| !m.turns.is_empty()) {
        let _ = writeln!(o, "Turn {turn} answer (the case's):\n");
    }
    if let Some(reasoning) = &res.reasoning {
        let _ = writeln!(o, "Reasoning:\n\n{}", fenced(reasoning, "text"));
    }
    if res.output.is_empty() && res.tool_calls.is_empty() {
        let _ = writeln!(o, "(no output)\n");
    } else if !res.output.is_empty() {
        let _ = writeln!(o, "{}", fenced(&res.output, "text"));
    }
    if !res.tool_calls.is_empty() {
        let calls: Vec<String> = res.tool_calls.iter().map(call_line).collect();
        let _ = writeln!(o, "Tool calls:\n\n{}", fenced(&calls.join("\n"), "text"));
        if let Some(t) = res.ttf_tool_ms {
            let _ = writeln!(o, "TTF tool {}.\n", ms(Some(t)));
        }
    }
}

/// A call on one line, with what is wrong with its arguments.
pub(super) fn call_line(c: &crate::provider::ToolCall) -> String {
    let mut line = c.one_line();
    if let (None, Some(e)) = (&c.arguments_error, &c.schema_error) {
        line.push_str(&format!(" ✗ {e}"));
    }
    line
}

/// A Markdown table, the first `left` columns left-aligned; every cell is escaped here.
fn table(o: &mut String, head: &[String], rows: &[Vec<String>], left: usize) {
    let esc = |cells: &[String]| cells.iter().map(|c| inline(c)).collect::<Vec<_>>().join(" | ");
    let _ = writeln!(o, "| {} |", esc(head));
    let _ = writeln!(o, "|{}{}", "---|".repeat(left), "---:|".repeat(head.len().saturating_sub(left)));
    for row in rows {
        let _ = writeln!(o, "| {} |", esc(row));
    }
    o.push('\n');
}

fn write_batch(o: &mut String, b: &BatchStats) {
    let _ = writeln!(
        o,
        "## Batch statistics\n\n{} case(s), up to {} repeat(s) each. {}; `—` or no interval with fewer than 2 \
         cases.\n",
        b.cases,
        b.max_repeats,
        ci_method(b)
    );
    let _ = writeln!(o, "### Per model\n");
    let (head, rows) = batch_model_rows(b, str::to_string);
    table(o, &head, &rows, 1);
    write_repeats(o, b);
    write_categories(o, b);
    write_pairwise_and_routing(o, b);
}

/// Each case × model's repeats: pass@n, pass^n, distinct answers; the flaky cases.
fn write_repeats(o: &mut String, b: &BatchStats) {
    let _ = writeln!(o, "### Repeats per case\n");
    let n = b.max_repeats;
    let head: Vec<String> = ["case", "category", "model", "repeats", "acceptable", &format!("pass@{n}")]
        .into_iter()
        .chain([format!("pass^{n}").as_str(), "distinct answers", "quality"])
        .map(String::from)
        .collect();
    let yes = |v: Option<bool>| match v {
        Some(true) => "yes",
        Some(false) => "no",
        None => "?",
    };
    let rows: Vec<Vec<String>> = b
        .repeats
        .iter()
        .map(|c| {
            vec![
                c.case_id.clone(),
                c.category.clone(),
                c.model.clone(),
                c.repeats.to_string(),
                format!("{}/{}", c.acceptable, c.acceptability_known),
                yes(c.pass_at_n).into(),
                yes(c.pass_all_n).into(),
                c.distinct_answers.to_string(),
                num(c.quality_mean, 2),
            ]
        })
        .collect();
    table(o, &head, &rows, 3);
    let flaky: Vec<String> = b
        .models
        .iter()
        .filter(|m| m.flaky_cases > 0)
        .map(|m| format!("{} ({})", inline(&m.model), m.flaky.iter().map(|c| inline(c)).collect::<Vec<_>>().join(", ")))
        .collect();
    if !flaky.is_empty() {
        let _ = writeln!(o, "Flaky (pass@{n} ≠ pass^{n}): {}.\n", flaky.join("; "));
    }
}

/// Each category × model with intervals.
fn write_categories(o: &mut String, b: &BatchStats) {
    let _ = writeln!(o, "### Per category\n");
    let head: Vec<String> = [
        "category",
        "model",
        "cases",
        "resp",
        "accept [95% CI]",
        "quality [95% CI]",
        "TTFT p50 [95% CI]",
        "TTFT p95",
        "lat p50 [95% CI]",
        "cost",
        "$/accept",
    ]
    .map(String::from)
    .to_vec();
    let mut rows = Vec::new();
    for c in &b.categories {
        for g in &c.models {
            rows.push(vec![
                c.category.clone(),
                g.model.clone(),
                g.cases.to_string(),
                g.responses.to_string(),
                pct_ci(g.acceptance_rate, g.ci.acceptance_rate),
                num_ci(g.quality_mean, g.ci.quality_mean, 2),
                ms_ci(g.ttft_p50_ms, g.ci.ttft_p50_ms),
                ms(g.ttft_p95_ms),
                ms_ci(g.latency_p50_ms, g.ci.latency_p50_ms),
                group_cost(g),
                crate::format::usd(g.cost_per_acceptable_usd),
            ]);
        }
    }
    table(o, &head, &rows, 2);
}

/// Paired comparisons, then the routing rule's choice per category.
fn write_pairwise_and_routing(o: &mut String, b: &BatchStats) {
    let _ = writeln!(
        o,
        "### Pairwise comparisons\n\nPer-case differences a − b on the cases both ran; significant when the 95% \
         interval excludes 0 and the sign test agrees (p < 0.05). Not significant ⇒ treat the two as tied (≈).\n"
    );
    for c in &b.comparisons {
        let _ = writeln!(o, "- {}", comparison_line(c, inline));
    }
    o.push('\n');

    let (title, head, rows) = routing_rows(b, str::to_string);
    let _ = writeln!(o, "### Routing\n\n{}.\n", inline(&title));
    table(o, &head, &rows, 2);
    let mut notes = false;
    for r in &b.routing {
        for n in &r.notes {
            let _ = writeln!(o, "- {}: {}", inline(&r.category), inline(n));
            notes = true;
        }
    }
    if notes {
        o.push('\n');
    }
    let _ = writeln!(
        o,
        "≈ after the fallback: not significantly dearer than the choice (cost-per-acceptable intervals overlap). \
         `$— (!)`: cost per acceptable response unknown; such a model ranks after every known cost and is chosen \
         only when no known-cost model qualifies.\n"
    );
}
