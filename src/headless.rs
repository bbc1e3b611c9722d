//! `bakeoff run`: one prompt to several models at once, measured, printed as a table or JSON.

use crate::batch::Progress;
use crate::config::ModelSpec;
use crate::engine::{ModelClient, chat_request};
use crate::event::RequestId;
use crate::format;
use crate::metrics::{RequestMetrics, RequestResult};
use crate::provider::{Message, ToolCall};
use crate::sanitize;
use crate::session::{self, Entry, Environment, RoundStart, Session};
use crate::tokens;
use serde::Serialize;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Sends `messages` to every client at once and folds each one's events until all have ended.
/// Cancelling `cancel` stops every request (their metrics are kept, marked cancelled).
/// `on_done` is called as each model finishes, with its slot.
pub async fn run_round(
    clients: &[ModelClient],
    messages: &[Message],
    run: u64,
    cancel: CancellationToken,
    mut on_done: impl FnMut(usize, &RequestMetrics),
) -> Vec<RequestMetrics> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    for (slot, client) in clients.iter().enumerate() {
        let req = chat_request(client.spec(), messages.to_vec());
        client.start(RequestId { run, slot }, req, tx.clone(), cancel.child_token());
    }
    drop(tx);
    // Estimated only after the requests are on their way: the first call loads the tokenizer.
    let est_input = tokens::estimate_prompt(messages);
    let mut metrics: Vec<RequestMetrics> =
        clients.iter().map(|c| RequestMetrics::new(c.spec().price, est_input)).collect();
    // Every task sends exactly one terminal event and then drops its sender, so this ends.
    while let Some(ev) = rx.recv().await {
        let m = &mut metrics[ev.id.slot];
        let was_finished = m.phase.is_finished();
        m.apply(&ev);
        if !was_finished && m.phase.is_finished() {
            on_done(ev.id.slot, m);
        }
    }
    metrics
}

/// What `bakeoff run --json` prints.
#[derive(Serialize)]
pub struct RunDocument<'a> {
    pub bakeoff_version: &'static str,
    /// Metric definitions, so the numbers can be read without the README.
    pub definitions: &'static [(&'static str, &'static str)],
    pub prices_as_of: &'a str,
    pub results: &'a [RequestResult],
}

/// The results table for a terminal. Estimated token counts carry `~`; unknown values `—`.
pub fn table(specs: &[ModelSpec], results: &[RequestResult]) -> String {
    let mut headers = vec!["model", "status", "TTFB", "TTFT", "latency", "out tok", "stream tok/s", "cost"];
    // Tool calls get a column (calls and time to the first) when any answer made one.
    let tools = results.iter().any(|r| !r.tool_calls.is_empty());
    if tools {
        headers.extend(["tools", "TTF tool"]);
    }
    // The prompt cache gets a column when any provider reported using it.
    let cache = |r: &RequestResult| format::cache_use(r.cached_input_tokens, r.cache_write_tokens);
    let cached = results.iter().any(|r| cache(r).is_some());
    if cached {
        headers.push("cache");
    }
    // Structured output gets a column when a schema was asked for.
    let structured = results.iter().any(|r| r.schema_valid.is_some());
    if structured {
        headers.push("schema");
    }
    let ms = |v: Option<f64>| v.map(|v| format::ms(Duration::from_secs_f64(v / 1000.0))).unwrap_or_else(|| "—".into());
    let mut rows: Vec<Vec<String>> = Vec::new();
    for (i, r) in results.iter().enumerate() {
        let tok = if r.tokens_estimated { format!("~{}", r.output_tokens) } else { r.output_tokens.to_string() };
        let cost = match r.cost_usd {
            Some(c) if r.tokens_estimated => format!("~{}", format::usd(Some(c))),
            c => format::usd(c),
        };
        // The provider's own cost, when it disagrees with ours.
        let cost = format::billed(r.cost_usd, r.server_cost_usd, r.cost_mismatch).unwrap_or(cost);
        // The model that answered, when not the one asked for.
        let asked = specs.get(i).map_or(r.model.as_str(), |s| s.model.as_str());
        let model = match format::served_model(asked, r.server_model.as_deref()) {
            Some(served) => format!("{} → {}", r.model, sanitize::one_line(served)),
            None => r.model.clone(),
        };
        // The answer's own first token, when reasoning came first.
        let ttft = match format::answer_ttft(r.ttft_ms, r.ttft_answer_ms) {
            Some(a) => format!("{} · answer {}", ms(r.ttft_ms), ms(Some(a))),
            None => ms(r.ttft_ms),
        };
        let mut row = vec![
            model,
            r.status.to_string(),
            ms(r.ttfb_ms),
            ttft,
            ms(r.latency_ms),
            tok,
            r.tokens_per_s.map(|v| format!("{v:.1}")).unwrap_or_else(|| "—".into()),
            cost,
        ];
        if tools {
            row.extend([ToolCall::cell(&r.tool_calls), ms(r.ttf_tool_ms)]);
        }
        if cached {
            row.push(cache(r).unwrap_or_else(|| "—".into()));
        }
        if structured {
            row.push(match r.schema_valid {
                Some(true) => "valid".into(),
                Some(false) => "INVALID".into(),
                None => "—".into(),
            });
        }
        rows.push(row);
    }
    let mut width: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in width.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut s = String::new();
        for (i, (cell, &w)) in cells.iter().zip(&width).enumerate() {
            let pad = w - cell.chars().count();
            if i < 2 {
                s.push_str(cell);
                s.push_str(&" ".repeat(pad));
            } else {
                s.push_str(&" ".repeat(pad));
                s.push_str(cell);
            }
            s.push_str("  ");
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(&headers.iter().map(|h| h.to_string()).collect::<Vec<_>>());
    for row in &rows {
        out.push_str(&line(row));
    }
    let errors: Vec<String> = results
        .iter()
        .filter_map(|r| Some(format!("  {}: {}", r.model, sanitize::one_line(r.error.as_deref()?))))
        .chain(
            results
                .iter()
                .filter_map(|r| Some(format!("  {}: warning: {}", r.model, sanitize::one_line(r.warning.as_deref()?)))),
        )
        .chain(results.iter().filter_map(|r| {
            Some(format!("  {}: not the schema: {}", r.model, sanitize::one_line(r.schema_error.as_deref()?)))
        }))
        .collect();
    if !errors.is_empty() {
        out.push('\n');
        out.push_str(&errors.join("\n"));
        out.push('\n');
    }
    if results.iter().any(|r| r.tokens_estimated) {
        out.push_str("\n~ estimated: the provider reported no usage; tokens counted locally (o200k_base).\n");
    }
    if results.iter().any(|r| r.cost_usd.is_none()) && specs.iter().any(|s| s.price.is_none()) {
        out.push_str("$— price unknown: set input_per_mtok/output_per_mtok in the config or pass --pricing.\n");
    }
    out
}

/// A one-round session from a `bakeoff run` of one prompt, so it gets the same report as the TUI.
pub fn single_round_session(
    specs: &[ModelSpec],
    messages: &[Message],
    results: &[RequestResult],
    environment: Environment,
) -> Session {
    let mut s = Session::default();
    for e in single_round_entries(specs, messages, results, environment) {
        s.apply(&e);
    }
    s
}

/// The journal entries of one round asked now: the session, the round, each model's result
/// (what the results history records of a `bakeoff run` of one prompt).
pub fn single_round_entries(
    specs: &[ModelSpec],
    messages: &[Message],
    results: &[RequestResult],
    environment: Environment,
) -> Vec<Entry> {
    let started_at = session::rfc3339(std::time::SystemTime::now());
    let mut entries =
        vec![Entry::Session { version: session::JOURNAL_VERSION, started_at: started_at.clone(), environment }];
    entries.push(Entry::Round(RoundStart {
        round: 1,
        started_at,
        messages: messages.to_vec(),
        models: specs.iter().map(|m| m.name.clone()).collect(),
        case_id: None,
        category: None,
        repeat: None,
        blind: None,
        theme: None,
        turn: None,
        context: Default::default(),
        follow_ups: Vec::new(),
    }));
    entries.extend(results.iter().map(|r| Entry::Result { round: 1, result: Box::new(r.clone()) }));
    entries
}

/// The batch progress bar on stderr (indicatif): done/total, rate, ETA and errors so far.
/// Hidden when stderr is not a terminal, so redirected output stays clean.
#[derive(Clone)]
pub struct BatchProgress {
    bar: indicatif::ProgressBar,
    errors: Arc<AtomicU64>,
    retries: Arc<AtomicU64>,
}

impl BatchProgress {
    pub fn new(visible: bool) -> BatchProgress {
        let target = if visible {
            indicatif::ProgressDrawTarget::stderr_with_hz(10)
        } else {
            indicatif::ProgressDrawTarget::hidden()
        };
        let bar = indicatif::ProgressBar::with_draw_target(Some(0), target);
        let style = indicatif::ProgressStyle::with_template(
            "{bar:30} {pos}/{len} · {per_sec} · ETA {eta} · {elapsed_precise} {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
        bar.set_style(style);
        BatchProgress { bar, errors: Arc::default(), retries: Arc::default() }
    }

    pub fn update(&self, p: &Progress) {
        match p {
            Progress::Start { total, skipped } => {
                self.bar.set_length(*total);
                if *skipped > 0 {
                    self.bar.println(format!("resuming: {skipped} item(s) already done"));
                }
            }
            Progress::Done { ok, .. } => {
                if !ok {
                    self.errors.fetch_add(1, Ordering::Relaxed);
                }
                self.bar.inc(1);
            }
            Progress::Retry { model, case, attempt, wait } => {
                self.retries.fetch_add(1, Ordering::Relaxed);
                self.bar.println(format!(
                    "retry {attempt} of {model} on case {case} in {}",
                    format::secs(wait.as_secs_f64())
                ));
            }
            Progress::Warning(text) => self.bar.println(format!("warning: {text}")),
        }
        let (e, r) = (self.errors.load(Ordering::Relaxed), self.retries.load(Ordering::Relaxed));
        self.bar.set_message(format!("· {e} error(s) · {r} retr{}", if r == 1 { "y" } else { "ies" }));
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(model: &str, status: &str) -> RequestResult {
        RequestResult {
            model: model.into(),
            provider: "openai".into(),
            status: status.parse().unwrap(),
            error: (status == "error").then(|| "429 rate limited (retry after 1s)".into()),
            ttfb_ms: Some(20.0),
            ttft_ms: Some(212.4),
            ttft_answer_ms: Some(212.4),
            latency_ms: (status == "ok").then_some(1840.0),
            elapsed_ms: Some(1840.0),
            input_tokens: 10,
            output_tokens: 96,
            tokens_estimated: status != "ok",
            tokens_per_s: Some(61.04),
            cost_usd: (status == "ok").then_some(0.00011),
            content_chunks: 96,
            ..Default::default()
        }
    }

    #[test]
    fn table_marks_estimates_unknowns_and_errors() {
        let t = table(&[], &[result("swift-mini", "ok"), result("flaky", "error")]);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].starts_with("model") && lines[0].contains("TTFT"), "{t}");
        assert!(lines[1].contains("212ms") && lines[1].contains("1840ms") && lines[1].contains("$0.00011"), "{t}");
        assert!(lines[2].contains("~96") && lines[2].contains("$—"), "{t}");
        assert!(t.contains("flaky: 429 rate limited"), "{t}");
        assert!(t.contains("~ estimated"), "{t}");
        assert!(!lines[0].contains("cache"), "no cache column when no provider reported one: {t}");
        let mut hit = result("cached", "ok");
        hit.cached_input_tokens = Some(3_140);
        let t = table(&[], &[hit, result("swift-mini", "ok")]);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].ends_with("cache"), "{t}");
        assert!(lines[1].ends_with("3.1k hit") && lines[2].ends_with("—"), "{t}");
        assert!(!lines[0].contains("schema"), "no schema column without a schema: {t}");

        let mut valid = result("strict", "ok");
        valid.schema_valid = Some(true);
        let mut invalid = result("loose", "ok");
        invalid.schema_valid = Some(false);
        invalid.schema_error = Some("at /: \"city\" is a required property".into());
        let t = table(&[], &[valid, invalid, result("flaky", "error")]);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].ends_with("schema"), "{t}");
        assert!(lines[1].ends_with("valid") && lines[2].ends_with("INVALID") && lines[3].ends_with("—"), "{t}");
        assert!(t.contains("loose: not the schema: at /: \"city\" is a required property"), "{t}");

        // What a provider said beyond the answer: the served model, the answer's own TTFT after
        // reasoning, a bill that disagrees with ours.
        let spec = ModelSpec::new("gpt", "openai", crate::provider::WireFormat::OpenAi, "gpt-4o", "http://x");
        let mut r = result("gpt", "ok");
        r.server_model = Some("gpt-4o-2024-08-06".into());
        r.ttft_answer_ms = Some(10_500.0);
        r.server_cost_usd = Some(0.005);
        r.cost_mismatch = Some(true);
        let t = table(&[spec], &[r]);
        assert!(t.contains("gpt → gpt-4o-2024-08-06"), "{t}");
        assert!(t.contains("212ms · answer 10.5s"), "{t}");
        assert!(t.contains("$0.00500 billed ≠ $0.00011 ours"), "{t}");
    }
}
