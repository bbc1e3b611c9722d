//! Folds one request's stamped events into its metrics, and derives every figure from the stamps.
//!
//! Definitions (also in README and in every report):
//! - **TTFB** = response headers − request sent.
//! - **TTFT** = first non-empty text *or reasoning* delta − sent. A role-only or empty chunk is not
//!   a token. **TTFT (answer)** = first non-empty *visible text* delta − sent.
//! - **Latency** = stream end (terminal marker or EOF) − sent; defined only for successful requests.
//! - **Decode rate** = (output tokens − 1) ÷ (end − first token); undefined below 2 tokens.
//! - **Gaps** = time between consecutive content-bearing chunks (after the first token).
//! - **Cost** = tokens × price; cache hits and writes at their own rates; unknown price ⇒ `None`.
//!
//! Token counts come from the provider's usage when it reports them; otherwise from a local
//! estimate (o200k_base), flagged `tokens_estimated`.

use crate::event::{EventKind, RequestId, ResponseInfo, StreamEvent};
use crate::pricing::{Billable, Price};
use crate::provider::output::OutputSchema;
use crate::provider::{ErrorKind, MAX_TOOL_CALLS, RequestError, ToolCall, ToolCallDelta, Usage};
use crate::tokens;
use serde::Serialize;
use std::collections::HashMap;
use std::time::Duration;
use tokio::time::Instant;

/// One metric definition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Definition {
    pub name: String,
    pub text: String,
}

/// Each result field's definition, as printed with `--json` and in every report.
pub const DEFINITIONS: &[(&str, &str)] = &[
    ("ttfb_ms", "request sent → response headers received"),
    (
        "ttft_ms",
        "request sent → first non-empty text, reasoning or tool-call delta (role-only/empty chunks are not tokens)",
    ),
    ("ttf_tool_ms", "request sent → first tool-call delta that names its function"),
    ("ttft_answer_ms", "request sent → first non-empty visible text delta (after any reasoning)"),
    ("latency_ms", "request sent → end of stream (successful requests only)"),
    (
        "schema_valid",
        "structured output: the whole answer (whitespace aside) is JSON that validates against the JSON Schema asked for \
         (Anthropic: the forced answer tool's input); null when no schema was asked for or the request failed",
    ),
    ("elapsed_ms", "request sent → end, for any outcome (time to failure for errors)"),
    ("tokens_per_s", "(output tokens − 1) ÷ (end − first token)"),
    (
        "input_tokens/output_tokens",
        "from the provider's usage when reported, else o200k_base estimate (tokens_estimated = true)",
    ),
    ("cost_usd", "tokens × price per 1M (cache reads/writes at their own rates); null when the price is unknown"),
    ("gap_mean_ms/gap_p95_ms", "time between consecutive content-bearing chunks"),
];

/// Where a request is in its life.
#[derive(Clone, Debug, PartialEq)]
pub enum Phase {
    /// Not sent yet.
    Waiting,
    /// Sent, no headers yet.
    Connecting,
    /// Headers in, no token yet.
    AwaitingToken,
    Streaming,
    Done {
        finish_reason: Option<String>,
    },
    Failed(RequestError),
    Cancelled,
}

impl Phase {
    pub fn is_finished(&self) -> bool {
        matches!(self, Phase::Done { .. } | Phase::Failed(_) | Phase::Cancelled)
    }

    /// One word for headers and tables.
    pub fn label(&self) -> &'static str {
        match self {
            Phase::Waiting => "waiting",
            Phase::Connecting => "connecting",
            Phase::AwaitingToken => "connected",
            Phase::Streaming => "streaming",
            Phase::Done { .. } => "done",
            Phase::Failed(_) => "error",
            Phase::Cancelled => "cancelled",
        }
    }
}

/// Token estimates for one event, worked out by a [`TokenCounter`] before the event is folded.
/// `None` fields are estimated by the fold itself.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Counted {
    /// A text or reasoning delta's estimate.
    pub delta: Option<u64>,
    /// On the terminal event, without reported output tokens: the whole answer's estimate.
    pub answer: Option<u64>,
    /// On `Sent`: the prompt's estimate (replacing the one the metrics were made with); on the
    /// terminal event, without reported input tokens: the prompt's final estimate.
    pub input: Option<u64>,
}

/// Estimates tokens for a stream of events on a thread of its own, so the thread that folds them
/// (the TUI's, which also draws) never runs the tokenizer: BPE on a large delta or a long answer
/// takes from milliseconds to seconds. Keeps each request's text from `Sent` to its terminal
/// event (which the engine always sends), so what it holds is bounded by the requests in flight.
#[derive(Debug, Default)]
pub struct TokenCounter {
    open: HashMap<RequestId, OpenAnswer>,
    /// Each round's conversation, put here before its requests start ([`Self::prompts`]), and
    /// the prompt estimate of the last round counted.
    prompts: Prompts,
}

/// Conversations by round, shared between whoever starts rounds and the [`TokenCounter`].
pub type Prompts = std::sync::Arc<std::sync::Mutex<HashMap<u64, std::sync::Arc<Vec<crate::provider::Message>>>>>;

#[derive(Debug, Default)]
struct OpenAnswer {
    text: String,
    reasoning: String,
    /// Each tool call's (name, arguments) as [`RequestMetrics`] joins them.
    tools: Vec<(String, String)>,
    /// The round's conversation, for a tokenizer count of the prompt when usage has none.
    prompt: Option<std::sync::Arc<Vec<crate::provider::Message>>>,
    /// The latest usage reported output (input) tokens, so the answer (prompt) need not be
    /// counted.
    usage_counts_output: bool,
    usage_counts_input: bool,
}

impl TokenCounter {
    /// A counter that also estimates each round's prompt (at its requests' `Sent`), from the
    /// conversations put in `prompts` by round before the round starts.
    pub fn with_prompts(prompts: Prompts) -> TokenCounter {
        TokenCounter { prompts, ..TokenCounter::default() }
    }

    /// The estimates [`RequestMetrics::apply_counted`] needs for `ev`. While a request streams
    /// they are rough ([`tokens::rough`]: no tokenizer); when it ends, what its usage did not
    /// report — the answer, the prompt — is counted with the tokenizer, which is loaded only
    /// then. A provider that reports usage never makes this process load it.
    pub fn count(&mut self, ev: &StreamEvent) -> Counted {
        match &ev.kind {
            EventKind::Sent => {
                let prompt = self.prompt(ev.id.run);
                let input = prompt.as_deref().map(|m| tokens::rough_prompt(m));
                self.open.insert(ev.id, OpenAnswer { prompt, ..OpenAnswer::default() });
                Counted { input, ..Counted::default() }
            }
            EventKind::Text(t) | EventKind::Reasoning(t) if !t.is_empty() => {
                if let Some(a) = self.open.get_mut(&ev.id) {
                    let into = if matches!(ev.kind, EventKind::Text(_)) { &mut a.text } else { &mut a.reasoning };
                    into.push_str(t);
                }
                Counted { delta: Some(tokens::rough(t)), ..Counted::default() }
            }
            EventKind::ToolCall(c) if c.is_content() => {
                let name = c.name.as_deref().unwrap_or("");
                if let Some(a) = self.open.get_mut(&ev.id)
                    && c.index < MAX_TOOL_CALLS
                {
                    if a.tools.len() <= c.index {
                        a.tools.resize_with(c.index + 1, Default::default);
                    }
                    let (n, args) = &mut a.tools[c.index];
                    if n != name {
                        n.push_str(name);
                    }
                    args.push_str(&c.arguments);
                }
                Counted { delta: Some(tokens::rough(name) + tokens::rough(&c.arguments)), ..Counted::default() }
            }
            EventKind::Usage(u) => {
                if let Some(a) = self.open.get_mut(&ev.id) {
                    a.usage_counts_output = u.output_tokens.is_some();
                    a.usage_counts_input = u.input_tokens.is_some();
                }
                Counted::default()
            }
            EventKind::Finished { .. } | EventKind::Failed(_) | EventKind::Cancelled => {
                let Some(a) = self.open.remove(&ev.id) else { return Counted::default() };
                let answer = (!a.usage_counts_output).then(|| {
                    let tools: u64 = a.tools.iter().map(|(n, args)| tokens::estimate(n) + tokens::estimate(args)).sum();
                    tokens::estimate(&a.text) + tokens::estimate(&a.reasoning) + tools
                });
                let input = a.prompt.filter(|_| !a.usage_counts_input).map(|m| tokens::estimate_prompt(&m));
                Counted { answer, input, ..Counted::default() }
            }
            _ => Counted::default(),
        }
    }

    /// Requests between `Sent` and their terminal event.
    pub fn open(&self) -> usize {
        self.open.len()
    }

    /// Round `run`'s conversation; earlier rounds' are let go.
    fn prompt(&mut self, run: u64) -> Option<std::sync::Arc<Vec<crate::provider::Message>>> {
        let mut map = self.prompts.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|&r, _| r >= run);
        map.get(&run).cloned()
    }
}

/// Everything known about one request, updated event by event.
#[derive(Clone, Debug)]
pub struct RequestMetrics {
    pub phase: Phase,
    pub sent: Option<Instant>,
    pub headers: Option<Instant>,
    pub first_byte: Option<Instant>,
    pub first_token: Option<Instant>,
    pub first_answer: Option<Instant>,
    pub last_token: Option<Instant>,
    pub end: Option<Instant>,
    pub response: Option<ResponseInfo>,
    pub text: String,
    pub reasoning: String,
    /// Content-bearing chunks (text or reasoning deltas).
    pub content_chunks: u64,
    /// Body chunks as read from the socket.
    pub body_chunks: u64,
    pub body_bytes: u64,
    /// Gaps between consecutive content deltas, in order.
    pub gaps: Vec<Duration>,
    /// The longest of `gaps`, kept as they arrive so a frame never scans them all.
    pub max_gap: Option<Duration>,
    /// Running estimate of output tokens from the deltas seen (used until usage arrives).
    pub est_output_tokens: u64,
    pub est_input_tokens: u64,
    pub usage: Option<Usage>,
    pub server_model: Option<String>,
    pub server_cost: Option<f64>,
    /// The stream's last warning (see [`EventKind::Warning`]).
    pub warning: Option<String>,
    /// (time since first token, estimated tokens) per content delta, for rate sparklines.
    pub token_marks: Vec<(Duration, u32)>,
    /// Tool calls as streamed so far, by their index in the answer.
    pub tool_calls: Vec<ToolCallParts>,
    /// The first tool-call piece that named its function.
    pub first_tool: Option<Instant>,
    price: Option<Price>,
}

/// A tool call being streamed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ToolCallParts {
    pub id: Option<String>,
    pub name: String,
    pub arguments: String,
}

impl ToolCallParts {
    pub fn finish(&self) -> ToolCall {
        ToolCall::new(self.id.clone(), self.name.clone(), self.arguments.clone())
    }
}

impl RequestMetrics {
    /// Metrics for a fold that estimates tokens itself, inline in the network task (`run`,
    /// batches, load runs, judges): the tokenizer is loaded now if it is not yet, before the
    /// request, not at its first text. `est_input_tokens` is the local estimate for the prompt
    /// (used if usage never arrives).
    pub fn new(price: Option<Price>, est_input_tokens: u64) -> Self {
        tokens::warm_up();
        Self::counted_elsewhere(price, est_input_tokens)
    }

    /// Metrics for a fold fed by a [`TokenCounter`] ([`Self::apply_counted`], the TUI's): the
    /// counter estimates, so this never loads the tokenizer — a session whose providers report
    /// usage never does.
    pub fn counted_elsewhere(price: Option<Price>, est_input_tokens: u64) -> Self {
        RequestMetrics {
            phase: Phase::Waiting,
            sent: None,
            headers: None,
            first_byte: None,
            first_token: None,
            first_answer: None,
            last_token: None,
            end: None,
            response: None,
            text: String::new(),
            reasoning: String::new(),
            content_chunks: 0,
            body_chunks: 0,
            body_bytes: 0,
            gaps: Vec::new(),
            max_gap: None,
            est_output_tokens: 0,
            est_input_tokens,
            usage: None,
            server_model: None,
            server_cost: None,
            warning: None,
            token_marks: Vec::new(),
            tool_calls: Vec::new(),
            first_tool: None,
            price,
        }
    }

    /// Folds one event, estimating tokens here when the provider does not report them.
    pub fn apply(&mut self, ev: &StreamEvent) {
        self.fold(ev.at, &ev.kind, Counted::default());
    }

    pub fn apply_kind(&mut self, at: Instant, kind: &EventKind) {
        self.fold(at, kind, Counted::default());
    }

    /// Folds one event whose token estimates a [`TokenCounter`] already worked out elsewhere.
    pub fn apply_counted(&mut self, ev: &StreamEvent, counted: Counted) {
        self.fold(ev.at, &ev.kind, counted);
    }

    fn fold(&mut self, at: Instant, kind: &EventKind, counted: Counted) {
        if self.phase.is_finished() {
            return;
        }
        match kind {
            EventKind::Sent => {
                self.sent = Some(at);
                if let Some(n) = counted.input {
                    self.est_input_tokens = n;
                }
                self.phase = Phase::Connecting;
            }
            EventKind::Headers(info) => {
                self.headers = Some(at);
                self.response = Some(info.clone());
                self.phase = Phase::AwaitingToken;
            }
            EventKind::Chunk { bytes } => {
                self.first_byte.get_or_insert(at);
                self.body_chunks += 1;
                self.body_bytes += *bytes as u64;
            }
            EventKind::Text(t) => {
                if self.content(at, t, counted.delta) {
                    if self.first_answer.is_none() {
                        self.text.reserve(256);
                    }
                    self.first_answer.get_or_insert(at);
                    self.text.push_str(t);
                }
            }
            EventKind::Reasoning(t) => {
                if self.content(at, t, counted.delta) {
                    self.reasoning.push_str(t);
                }
            }
            EventKind::Usage(u) => self.usage = Some(u.clone()),
            EventKind::ServerModel(m) => self.server_model = Some(m.clone()),
            EventKind::ServerCost(c) => self.server_cost = Some(*c),
            EventKind::Warning(w) => self.warning = Some(w.clone()),
            EventKind::ToolCall(c) => self.tool_call(at, c, counted.delta),
            EventKind::Finished { reason } => {
                self.end = Some(at);
                self.phase = Phase::Done { finish_reason: reason.clone() };
                if self.usage.as_ref().and_then(|u| u.output_tokens).is_none() {
                    // A whole-text count is closer than the sum of per-delta counts.
                    self.est_output_tokens = counted.answer.unwrap_or_else(|| {
                        let tools: u64 = self
                            .tool_calls
                            .iter()
                            .map(|c| tokens::estimate(&c.name) + tokens::estimate(&c.arguments))
                            .sum();
                        tokens::estimate(&self.text) + tokens::estimate(&self.reasoning) + tools
                    });
                }
            }
            EventKind::Failed(e) => {
                self.end = Some(at);
                self.phase = Phase::Failed(e.clone());
                self.final_counts(counted);
            }
            EventKind::Cancelled => {
                self.end = Some(at);
                self.phase = Phase::Cancelled;
                self.final_counts(counted);
            }
        }
        if matches!(kind, EventKind::Finished { .. })
            && let Some(n) = counted.input
        {
            self.est_input_tokens = n;
        }
    }

    /// A failed or cancelled request's final estimates, when a counter made them (the inline
    /// fold keeps its per-delta sums).
    fn final_counts(&mut self, counted: Counted) {
        if let Some(n) = counted.answer
            && self.usage.as_ref().and_then(|u| u.output_tokens).is_none()
        {
            self.est_output_tokens = n;
        }
        if let Some(n) = counted.input {
            self.est_input_tokens = n;
        }
    }

    /// Books a content delta; false for empty ones (which are not tokens).
    fn content(&mut self, at: Instant, t: &str, counted: Option<u64>) -> bool {
        if t.is_empty() {
            return false;
        }
        self.content_tokens(at, counted.unwrap_or_else(|| tokens::estimate_delta(t)));
        true
    }

    /// Books a piece of a tool call: its id and name, more arguments; a piece with a name or
    /// arguments is output like text (it starts TTFT, counts tokens and gaps).
    fn tool_call(&mut self, at: Instant, c: &ToolCallDelta, counted: Option<u64>) {
        // The index comes from the server; a call far out of order is not given memory.
        if c.index >= MAX_TOOL_CALLS {
            return;
        }
        if self.tool_calls.len() <= c.index {
            self.tool_calls.resize_with(c.index + 1, ToolCallParts::default);
        }
        let call = &mut self.tool_calls[c.index];
        if call.id.is_none() {
            call.id = c.id.clone().filter(|s| !s.is_empty());
        }
        if let Some(name) = c.name.as_deref().filter(|n| !n.is_empty()) {
            // A name sent again whole is the same name; one sent in pieces is joined.
            if call.name != name {
                call.name.push_str(name);
            }
            self.first_tool.get_or_insert(at);
        }
        call.arguments.push_str(&c.arguments);
        if c.is_content() {
            let n = counted.unwrap_or_else(|| {
                tokens::estimate_delta(c.name.as_deref().unwrap_or("")) + tokens::estimate_delta(&c.arguments)
            });
            self.content_tokens(at, n);
        }
    }

    /// Books `n` estimated output tokens arriving at `at` in one content-bearing delta.
    fn content_tokens(&mut self, at: Instant, n: u64) {
        if let Some(last) = self.last_token {
            let gap = at.saturating_duration_since(last);
            self.gaps.push(gap);
            self.max_gap = self.max_gap.max(Some(gap));
        }
        if self.first_token.is_none() {
            // Room for a short answer at once instead of growing through 8, 16, 32… on every delta.
            self.gaps.reserve(32);
            self.token_marks.reserve(32);
        }
        let first = *self.first_token.get_or_insert(at);
        self.last_token = Some(at);
        self.content_chunks += 1;
        let n = n.max(1);
        self.est_output_tokens += n;
        self.token_marks.push((at.saturating_duration_since(first), n.min(u32::MAX as u64) as u32));
        self.phase = Phase::Streaming;
    }

    /// The error, when the request failed.
    pub fn phase_error(&self) -> Option<&RequestError> {
        match &self.phase {
            Phase::Failed(e) => Some(e),
            _ => None,
        }
    }

    fn since_sent(&self, t: Option<Instant>) -> Option<Duration> {
        Some(t?.saturating_duration_since(self.sent?))
    }

    /// Sent → the first tool-call piece that names its function.
    pub fn ttf_tool(&self) -> Option<Duration> {
        self.since_sent(self.first_tool)
    }

    pub fn ttfb(&self) -> Option<Duration> {
        self.since_sent(self.headers)
    }
    pub fn ttft(&self) -> Option<Duration> {
        self.since_sent(self.first_token)
    }
    pub fn ttft_answer(&self) -> Option<Duration> {
        self.since_sent(self.first_answer)
    }
    /// Sent → end, only for a request that finished cleanly.
    pub fn latency(&self) -> Option<Duration> {
        match self.phase {
            Phase::Done { .. } => self.since_sent(self.end),
            _ => None,
        }
    }
    /// Sent → end (whatever the outcome), or → `now` while running. For the live clock.
    pub fn elapsed(&self, now: Instant) -> Option<Duration> {
        Some(self.end.unwrap_or(now).saturating_duration_since(self.sent?))
    }

    /// True when the token counts come from the provider's usage.
    pub fn tokens_exact(&self) -> bool {
        self.usage.as_ref().is_some_and(|u| u.output_tokens.is_some())
    }
    pub fn output_tokens(&self) -> u64 {
        self.usage.as_ref().and_then(|u| u.output_tokens).unwrap_or(self.est_output_tokens)
    }
    /// Prompt tokens: the provider's count, else the estimate — 0 for a request that never
    /// reached the model.
    pub fn input_tokens(&self) -> u64 {
        let est = if self.never_billed() { 0 } else { self.est_input_tokens };
        self.usage.as_ref().and_then(|u| u.input_tokens).unwrap_or(est)
    }
    /// Either count estimated? Not for a request that never reached the model: nothing was
    /// generated or billed, so there is nothing to estimate.
    pub fn tokens_estimated(&self) -> bool {
        if self.never_billed() {
            return false;
        }
        let u = self.usage.as_ref();
        u.and_then(|u| u.output_tokens).is_none() || u.and_then(|u| u.input_tokens).is_none()
    }

    /// (output tokens − 1) ÷ (end − first token). While streaming, `now` stands in for the end.
    pub fn tokens_per_s(&self, now: Instant) -> Option<f64> {
        let first = self.first_token?;
        let until = match self.phase {
            Phase::Done { .. } => self.end?,
            Phase::Streaming => now,
            _ => self.last_token?,
        };
        let n = self.output_tokens();
        let secs = until.saturating_duration_since(first).as_secs_f64();
        (n >= 2 && secs > 0.0).then(|| (n - 1) as f64 / secs)
    }

    pub fn gap_mean(&self) -> Option<Duration> {
        (!self.gaps.is_empty()).then(|| self.gaps.iter().sum::<Duration>() / self.gaps.len() as u32)
    }
    /// Nearest-rank p95 of the gaps.
    pub fn gap_p95(&self) -> Option<Duration> {
        if self.gaps.is_empty() {
            return None;
        }
        let mut g = self.gaps.clone();
        g.sort_unstable();
        let rank = ((0.95 * g.len() as f64).ceil() as usize).clamp(1, g.len());
        Some(g[rank - 1])
    }
    /// The longest silence between tokens so far — while streaming, including the current one.
    pub fn longest_stall(&self, now: Instant) -> Option<Duration> {
        let done = self.max_gap;
        let current = match self.phase {
            Phase::Streaming => self.last_token.map(|t| now.saturating_duration_since(t)),
            _ => None,
        };
        done.into_iter().chain(current).max()
    }

    /// Cost in USD from the current token counts; `None` when the price is unknown. A request
    /// that never reached the model — not sent, not connected, or rejected with an HTTP error
    /// status before streaming — costs nothing: providers do not bill rejected requests.
    pub fn cost(&self) -> Option<f64> {
        // Checked first: a request that never reached the model costs nothing, price or not.
        if self.never_billed() {
            return Some(0.0);
        }
        let price = self.price?;
        let u = self.usage.clone().unwrap_or_default();
        Some(price.cost(Billable {
            input: self.input_tokens(),
            output: self.output_tokens(),
            cached: u.cached_input_tokens.unwrap_or(0),
            cache_write: u.cache_write_tokens.unwrap_or(0),
        }))
    }

    /// What the prompt cache saved: the cost had every input token been priced as uncached, less
    /// the cost. Negative when writing to the cache cost more than it saved (Anthropic's writes
    /// cost 1.25× input). `None` without a price or when the provider reported no cache use.
    pub fn cache_saved(&self) -> Option<f64> {
        let u = self.usage.as_ref()?;
        let (cached, written) = (u.cached_input_tokens.unwrap_or(0), u.cache_write_tokens.unwrap_or(0));
        if cached == 0 && written == 0 || self.never_billed() {
            return None;
        }
        let price = self.price?;
        let billable =
            Billable { input: self.input_tokens(), output: self.output_tokens(), cached, cache_write: written };
        let uncached = Billable { cached: 0, cache_write: 0, ..billable };
        Some(price.cost(uncached) - price.cost(billable))
    }

    fn never_billed(&self) -> bool {
        let Phase::Failed(e) = &self.phase else { return false };
        let rejected = self.response.as_ref().is_some_and(|r| !(200..300).contains(&r.status));
        self.sent.is_none()
            || rejected
            || matches!(e.kind, ErrorKind::MissingKey | ErrorKind::Connect | ErrorKind::ConnectTimeout)
    }

    /// Tokens per second in the last `last` buckets of width `bucket` since the first token
    /// (oldest first) — for sparklines. Finds the window by binary search, so a frame costs the
    /// same however long the answer already is.
    pub fn rate_buckets(&self, bucket: Duration, now: Instant, last: usize) -> Vec<u64> {
        let Some(first) = self.first_token else { return Vec::new() };
        let width = bucket.as_nanos().max(1);
        let span = self.end.unwrap_or(now).saturating_duration_since(first).as_nanos();
        let total = (span / width) as usize + 1;
        let n = total.min(last);
        let start = (total - n) as u128 * width;
        let from = self.token_marks.partition_point(|(t, _)| t.as_nanos() < start);
        let mut out = vec![0u64; n];
        for (t, k) in &self.token_marks[from..] {
            let i = (((t.as_nanos() - start) / width) as usize).min(n.saturating_sub(1));
            out[i] += u64::from(*k);
        }
        let per_s = 1.0 / bucket.as_secs_f64();
        out.iter().map(|v| (*v as f64 * per_s).round() as u64).collect()
    }

    /// The record `bakeoff run --json` prints and reports store.
    pub fn result(&self, model: &str, provider: &str) -> RequestResult {
        let ms = |d: Option<Duration>| d.map(|d| (d.as_secs_f64() * 1e6).round() / 1e3);
        let (status, error, error_kind, http_status, retry_after_s) = match &self.phase {
            Phase::Done { .. } => (Status::Ok, None, None, None, None),
            Phase::Failed(e) => (Status::Error, Some(e.message.clone()), Some(e.kind), e.http_status, e.retry_after_s),
            Phase::Cancelled => (Status::Cancelled, Some("cancelled".to_string()), None, None, None),
            _ => (Status::Error, Some("did not finish".to_string()), None, None, None),
        };
        let cost = self.cost();
        let cost_mismatch = match (cost, self.server_cost) {
            (Some(ours), Some(theirs)) => Some((ours - theirs).abs() > 1e-6_f64.max(0.02 * theirs.abs())),
            _ => None,
        };
        let info = self.response.clone().unwrap_or_default();
        RequestResult {
            model: model.to_string(),
            provider: provider.to_string(),
            status,
            error,
            error_kind,
            http_status,
            retry_after_s,
            ttfb_ms: ms(self.ttfb()),
            ttft_ms: ms(self.ttft()),
            ttft_answer_ms: ms(self.ttft_answer()),
            latency_ms: ms(self.latency()),
            elapsed_ms: ms(self.end.and_then(|e| Some(e.saturating_duration_since(self.sent?)))),
            input_tokens: self.input_tokens(),
            output_tokens: self.output_tokens(),
            reasoning_tokens: self.usage.as_ref().and_then(|u| u.reasoning_tokens),
            cached_input_tokens: self.usage.as_ref().and_then(|u| u.cached_input_tokens),
            cache_write_tokens: self.usage.as_ref().and_then(|u| u.cache_write_tokens),
            cache_saved_usd: self.cache_saved(),
            tokens_estimated: self.tokens_estimated(),
            tokens_per_s: self.end.and_then(|e| self.tokens_per_s(e)).map(|v| (v * 100.0).round() / 100.0),
            cost_usd: cost,
            server_cost_usd: self.server_cost.or(info.header_cost),
            cost_mismatch,
            finish_reason: match &self.phase {
                Phase::Done { finish_reason } => finish_reason.clone(),
                _ => None,
            },
            content_chunks: self.content_chunks,
            gap_mean_ms: ms(self.gap_mean()),
            gap_p95_ms: ms(self.gap_p95()),
            longest_stall_ms: ms(self.max_gap),
            server_model: self.server_model.clone(),
            warning: self.warning.clone(),
            request_id: info.request_id,
            fresh_connection: info.fresh_connection,
            output: self.text.clone(),
            reasoning: (!self.reasoning.is_empty()).then(|| self.reasoning.clone()),
            tool_calls: self
                .tool_calls
                .iter()
                .filter(|c| !c.name.is_empty() || !c.arguments.is_empty())
                .map(ToolCallParts::finish)
                .collect(),
            ttf_tool_ms: ms(self.ttf_tool()),
            schema_valid: None,
            schema_error: None,
            turn: None,
            intermediate: false,
            family: None,
        }
    }
}

/// How a request ended. Spelled `ok`, `error`, `cancelled` in every JSON document and journal.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The stream ended normally.
    Ok,
    /// It failed: an HTTP error, a provider error, a timeout, a cut stream. (The default: a
    /// result nobody finished is not a success.)
    #[default]
    Error,
    /// Stopped on purpose (a cancel key, Ctrl-C, a deadline of the run).
    Cancelled,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Error => "error",
            Status::Cancelled => "cancelled",
        }
    }

    pub fn is_ok(self) -> bool {
        self == Status::Ok
    }
}

impl std::str::FromStr for Status {
    type Err = String;
    fn from_str(s: &str) -> Result<Status, String> {
        match s {
            "ok" => Ok(Status::Ok),
            "error" => Ok(Status::Error),
            "cancelled" => Ok(Status::Cancelled),
            other => Err(format!("{other:?} is not a status (ok, error, cancelled)")),
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One request's outcome as data. Durations in milliseconds (3 decimals); `null` = not measured.
/// (`Default` is for test fixtures; [`RequestMetrics::result`] sets every field.)
#[derive(Clone, Debug, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct RequestResult {
    pub model: String,
    pub provider: String,
    pub status: Status,
    pub error: Option<String>,
    pub error_kind: Option<ErrorKind>,
    pub http_status: Option<u16>,
    pub retry_after_s: Option<f64>,
    pub ttfb_ms: Option<f64>,
    pub ttft_ms: Option<f64>,
    pub ttft_answer_ms: Option<f64>,
    /// Only for `ok` requests.
    pub latency_ms: Option<f64>,
    /// Sent → end for any outcome (time to failure for errors).
    pub elapsed_ms: Option<f64>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub reasoning_tokens: Option<u64>,
    pub cached_input_tokens: Option<u64>,
    /// Input tokens written to the prompt cache (Anthropic), when reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_tokens: Option<u64>,
    /// What the prompt cache saved on this request ([`RequestMetrics::cache_saved`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_saved_usd: Option<f64>,
    pub tokens_estimated: bool,
    pub tokens_per_s: Option<f64>,
    pub cost_usd: Option<f64>,
    /// Cost the provider reported itself (OpenRouter `usage.cost`, LiteLLM header).
    pub server_cost_usd: Option<f64>,
    /// Our cost differs from the server's by more than 2 %.
    pub cost_mismatch: Option<bool>,
    pub finish_reason: Option<String>,
    pub content_chunks: u64,
    pub gap_mean_ms: Option<f64>,
    pub gap_p95_ms: Option<f64>,
    pub longest_stall_ms: Option<f64>,
    pub server_model: Option<String>,
    /// Something off that did not spoil the answer (e.g. `[DONE]`/`message_stop` missing after
    /// the finish reason).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    pub request_id: Option<String>,
    pub fresh_connection: Option<bool>,
    pub output: String,
    pub reasoning: Option<String>,
    /// The tool calls the answer made, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// Sent → the first tool-call piece that named its function.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttf_tool_ms: Option<f64>,
    /// Structured output: whether the whole answer is JSON that fits the schema asked for
    /// (`None`: no schema, or no finished answer). See [`RequestResult::check_output`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_valid: Option<bool>,
    /// What does not fit, when it does not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_error: Option<String>,
    /// A multi-turn case's turn this answers (1 = the first prompt); `None` for one-turn cases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn: Option<u32>,
    /// An earlier turn's answer, which the conversation went on from (the case's final answer
    /// is the last turn's).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub intermediate: bool,
    /// Who made the model ([`crate::config::family`]), set by whoever knows its id: reports
    /// compare each judge's scores of its own family's answers with the others'.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
}

impl RequestResult {
    /// Checks the answer against what its request asked for: tool calls against the tools
    /// offered, and — for a finished answer — the text against the structured-output schema.
    /// `attachments`: images and files the prompt carried, which a local token estimate cannot
    /// count (said in the warning when tokens were estimated).
    pub fn check_output(
        &mut self,
        tools: &crate::provider::tools::Tools,
        schema: Option<&OutputSchema>,
        attachments: usize,
    ) {
        if self.tokens_estimated && attachments > 0 {
            let note = format!(
                "input tokens estimated from the text only: the {attachments} image(s)/file(s) are not counted (the \
                 provider reported no usage)"
            );
            self.warning = Some(match self.warning.take() {
                Some(w) => format!("{w}; {note}"),
                None => note,
            });
        }
        tools.check_calls(&mut self.tool_calls);
        let Some(schema) = schema.filter(|_| self.status == Status::Ok) else { return };
        let verdict = schema.check(&self.output);
        self.schema_valid = Some(verdict.is_ok());
        self.schema_error = verdict.err();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::RequestId;

    fn ev(at: Instant, kind: EventKind) -> StreamEvent {
        StreamEvent { id: RequestId { run: 1, slot: 0 }, at, kind }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn derives_definitions_from_stamps() {
        let t0 = Instant::now();
        let price = Price { input: 1.0, output: 2.0, cached_input: None, cache_write: None };
        let mut m = RequestMetrics::new(Some(price), 10);
        m.apply(&ev(t0, EventKind::Sent));
        m.apply(&ev(t0 + ms(50), EventKind::Headers(ResponseInfo { status: 200, ..Default::default() })));
        // Role-only chunk: bytes but no token.
        m.apply(&ev(t0 + ms(51), EventKind::Chunk { bytes: 80 }));
        m.apply(&ev(t0 + ms(51), EventKind::Text(String::new())));
        assert_eq!(m.ttft(), None);
        m.apply(&ev(t0 + ms(200), EventKind::Reasoning("thinking".into())));
        m.apply(&ev(t0 + ms(300), EventKind::Text("Hello".into())));
        m.apply(&ev(t0 + ms(400), EventKind::Text(" world".into())));
        m.apply(&ev(t0 + ms(700), EventKind::Text("!".into())));
        assert_eq!(m.phase, Phase::Streaming);
        assert_eq!(m.longest_stall(t0 + ms(1000)), Some(ms(300)));
        m.apply(&ev(
            t0 + ms(710),
            EventKind::Usage(Usage { input_tokens: Some(1000), output_tokens: Some(11), ..Default::default() }),
        ));
        m.apply(&ev(t0 + ms(800), EventKind::Finished { reason: Some("stop".into()) }));
        assert_eq!(m.ttfb(), Some(ms(50)));
        assert_eq!(m.ttft(), Some(ms(200)));
        assert_eq!(m.ttft_answer(), Some(ms(300)));
        assert_eq!(m.latency(), Some(ms(800)));
        assert_eq!(m.gaps, vec![ms(100), ms(100), ms(300)]);
        assert_eq!(m.gap_p95(), Some(ms(300)));
        assert_eq!(m.gap_mean(), Some(ms(500) / 3));
        assert!(m.tokens_exact() && !m.tokens_estimated());
        // (11 − 1) tokens over 0.6 s from first token to end.
        let tps = m.tokens_per_s(t0 + ms(5000)).unwrap();
        assert!((tps - 10.0 / 0.6).abs() < 1e-9, "{tps}");
        let cost = m.cost().unwrap();
        assert!((cost - (1000.0 * 1.0 + 11.0 * 2.0) / 1e6).abs() < 1e-15);
        let r = m.result("x", "openai");
        assert_eq!(r.status, Status::Ok);
        assert_eq!(r.ttft_ms, Some(200.0));
        assert_eq!(r.latency_ms, Some(800.0));
        assert_eq!(r.output, "Hello world!");
        assert_eq!(r.reasoning.as_deref(), Some("thinking"));
        assert_eq!(r.finish_reason.as_deref(), Some("stop"));
    }

    #[test]
    fn a_tool_only_answer_has_ttft_ttf_tool_and_parsed_calls() {
        let t0 = Instant::now();
        let piece = |index, id: Option<&str>, name: Option<&str>, args: &str| {
            EventKind::ToolCall(ToolCallDelta {
                index,
                id: id.map(str::to_string),
                name: name.map(str::to_string),
                arguments: args.to_string(),
            })
        };
        let mut m = RequestMetrics::new(None, 3);
        let mut counted = RequestMetrics::new(None, 3);
        let mut counter = TokenCounter::default();
        let events = [
            (0, EventKind::Sent),
            (40, EventKind::Headers(ResponseInfo { status: 200, ..Default::default() })),
            // An id-only piece is not output yet.
            (90, piece(0, Some("call_1"), None, "")),
            (120, piece(0, None, Some("get_weather"), "")),
            (150, piece(0, None, None, r#"{"city": "Par"#)),
            (180, piece(0, None, None, r#"is"}"#)),
            (200, piece(1, Some("call_2"), Some("get_weather"), r#"{"city": 3"#)),
            (230, piece(2, None, Some("lookup"), r#""just a string""#)),
            (260, EventKind::Finished { reason: Some("tool_calls".into()) }),
        ];
        for (at, kind) in events {
            let e = ev(t0 + ms(at), kind);
            m.apply(&e);
            counted.apply_counted(&e, counter.count(&e));
        }
        assert_eq!(m.ttft(), Some(ms(120)), "a named tool call is the first token");
        assert_eq!(m.ttf_tool(), Some(ms(120)));
        assert_eq!(m.ttft_answer(), None, "no visible text");
        assert!(m.tokens_estimated() && m.output_tokens() >= 5, "{}", m.output_tokens());
        assert!(m.tokens_per_s(t0 + ms(260)).is_some());
        assert_eq!(counted.output_tokens(), m.output_tokens());
        let r = m.result("x", "openai");
        assert_eq!(r.status, Status::Ok);
        assert_eq!(r.ttf_tool_ms, Some(120.0));
        assert_eq!(r.tool_calls.len(), 3);
        let c = &r.tool_calls[0];
        assert_eq!((c.id.as_deref(), c.name.as_str()), (Some("call_1"), "get_weather"));
        assert_eq!(c.arguments, serde_json::json!({"city": "Paris"}));
        assert_eq!(c.arguments_raw, r#"{"city": "Paris"}"#);
        assert_eq!(c.arguments_error, None);
        assert_eq!(r.tool_calls[1].arguments, serde_json::Value::Null);
        assert!(r.tool_calls[1].arguments_error.as_deref().unwrap().contains("not JSON"));
        assert!(r.tool_calls[2].arguments_error.as_deref().unwrap().contains("a string, not a JSON object"));
        // Written and read back (journals) unchanged.
        let back: RequestResult = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back, r);
    }

    /// In a child process: the test process has the tokenizer loaded by other tests.
    #[test]
    fn a_counted_fold_with_usage_never_loads_the_tokenizer() {
        let text = crate::child_test::run_ignored("metrics::tests::child_folds_a_usage_reporting_stream");
        assert!(text.contains("with usage: loaded false"), "{text}");
        assert!(text.contains("without usage: loaded true"), "the check can see a load: {text}");
    }

    #[test]
    #[ignore = "run by a_counted_fold_with_usage_never_loads_the_tokenizer in a child process"]
    fn child_folds_a_usage_reporting_stream() {
        let t0 = Instant::now();
        let prompts = Prompts::default();
        prompts.lock().unwrap().insert(0, std::sync::Arc::new(vec![crate::provider::Message::user("Hi there")]));
        let mut counter = TokenCounter::with_prompts(prompts);
        let usage = Usage { input_tokens: Some(3), output_tokens: Some(4), ..Default::default() };
        let with = [EventKind::Sent, EventKind::Text("Hello, ".into()), EventKind::Text("world".into())];
        let ends = [EventKind::Usage(usage), EventKind::Finished { reason: Some("stop".into()) }];
        let mut m = RequestMetrics::counted_elsewhere(None, 0);
        for (i, kind) in with.iter().chain(&ends).cloned().enumerate() {
            let e = ev(t0 + ms(i as u64), kind);
            m.apply_counted(&e, counter.count(&e));
        }
        assert_eq!((m.output_tokens(), m.tokens_estimated()), (4, false));
        println!("with usage: loaded {}", tokens::ready());
        let mut m = RequestMetrics::counted_elsewhere(None, 0);
        for (i, kind) in with.into_iter().chain([EventKind::Finished { reason: None }]).enumerate() {
            let e = ev(t0 + ms(i as u64), kind);
            m.apply_counted(&e, counter.count(&e));
        }
        println!("without usage: loaded {}", tokens::ready());
    }

    #[test]
    fn counted_elsewhere_folds_to_the_same_metrics_and_uses_the_counts_given() {
        let t0 = Instant::now();
        let usage = Usage { output_tokens: Some(7), ..Default::default() };
        let streams: Vec<Vec<EventKind>> = vec![
            // No usage: the whole answer is counted at the end.
            vec![
                EventKind::Sent,
                EventKind::Reasoning("Let me think about it".into()),
                EventKind::Text("Hello".into()),
                EventKind::Text(String::new()),
                EventKind::Text(" wonderful world, ".into()),
                EventKind::Text("東京 🚀 ".repeat(20)),
                EventKind::Finished { reason: Some("stop".into()) },
            ],
            // Usage with output tokens: no whole-answer count needed.
            vec![
                EventKind::Sent,
                EventKind::Text("Hi".into()),
                EventKind::Usage(usage),
                EventKind::Finished { reason: None },
            ],
            vec![EventKind::Sent, EventKind::Text("Hi".into()), EventKind::Cancelled],
        ];
        let mut counter = TokenCounter::default();
        for kinds in streams {
            let (mut inline, mut counted) = (RequestMetrics::new(None, 3), RequestMetrics::new(None, 3));
            for (i, kind) in kinds.into_iter().enumerate() {
                let e = ev(t0 + ms(10 * i as u64), kind);
                inline.apply(&e);
                counted.apply_counted(&e, counter.count(&e));
            }
            // Live counts are rough (no tokenizer while streaming); the final ones agree.
            assert_eq!(counted.output_tokens(), inline.output_tokens());
            assert_eq!(counted.token_marks.len(), inline.token_marks.len(), "the same deltas are tokens");
            assert_eq!(counted.tokens_estimated(), inline.tokens_estimated());
            assert_eq!(counter.open(), 0, "a finished request's text is let go");
        }
        let rough = counter.count(&ev(t0, EventKind::Text("東京 🚀 wonderful".into())));
        assert_eq!(rough.delta, Some(tokens::rough("東京 🚀 wonderful")));
        // With the round's conversation, the prompt is estimated there too, once per round.
        let prompts = Prompts::default();
        let messages = vec![crate::provider::Message::user("How far is the Moon?")];
        prompts.lock().unwrap().insert(7, std::sync::Arc::new(messages.clone()));
        let mut counter = TokenCounter::with_prompts(prompts.clone());
        let sent = StreamEvent { id: RequestId { run: 7, slot: 1 }, at: t0, kind: EventKind::Sent };
        let c = counter.count(&sent);
        assert_eq!(c.input, Some(tokens::rough_prompt(&messages)), "roughly while streaming");
        let mut m = RequestMetrics::new(None, 0);
        m.apply_counted(&sent, c);
        assert_eq!(m.est_input_tokens, tokens::rough_prompt(&messages));
        // Without usage, the end brings the tokenizer's count of the prompt and the answer.
        let end = StreamEvent { kind: EventKind::Finished { reason: None }, ..sent.clone() };
        let c = counter.count(&end);
        assert_eq!((c.input, c.answer), (Some(tokens::estimate_prompt(&messages)), Some(0)));
        m.apply_counted(&end, c);
        assert_eq!(m.est_input_tokens, tokens::estimate_prompt(&messages));
        // With usage for both, nothing is counted at the end: the tokenizer is not needed.
        let usage = Usage { input_tokens: Some(5), output_tokens: Some(6), ..Default::default() };
        counter.count(&sent);
        counter.count(&StreamEvent { kind: EventKind::Usage(usage), ..sent.clone() });
        assert_eq!(counter.count(&end), Counted::default());
        prompts.lock().unwrap().insert(8, std::sync::Arc::new(messages));
        counter.count(&StreamEvent { id: RequestId { run: 8, slot: 0 }, ..sent.clone() });
        assert!(!prompts.lock().unwrap().contains_key(&7), "earlier rounds are let go");
        // The fold takes the counter's figures as they are.
        let mut m = RequestMetrics::new(None, 3);
        m.apply(&ev(t0, EventKind::Sent));
        m.apply_counted(
            &ev(t0 + ms(1), EventKind::Text("x".into())),
            Counted { delta: Some(40), ..Counted::default() },
        );
        assert_eq!(m.output_tokens(), 40);
        m.apply_counted(
            &ev(t0 + ms(2), EventKind::Finished { reason: None }),
            Counted { answer: Some(9), ..Counted::default() },
        );
        assert_eq!(m.output_tokens(), 9);
    }

    #[test]
    fn no_usage_means_flagged_estimate_and_unknown_price_means_no_cost() {
        let t0 = Instant::now();
        let mut m = RequestMetrics::new(None, 12);
        m.apply(&ev(t0, EventKind::Sent));
        m.apply(&ev(t0 + ms(10), EventKind::Text("The quick brown fox".into())));
        m.apply(&ev(t0 + ms(20), EventKind::Finished { reason: None }));
        assert!(m.tokens_estimated());
        assert_eq!(m.output_tokens(), tokens::estimate("The quick brown fox"));
        assert_eq!(m.input_tokens(), 12);
        assert_eq!(m.cost(), None);
        let r = m.result("x", "openai");
        assert!(r.tokens_estimated);
        assert_eq!(r.cost_usd, None);
    }

    #[test]
    fn failure_keeps_ttft_but_has_no_latency() {
        let t0 = Instant::now();
        let mut m = RequestMetrics::new(None, 1);
        m.apply(&ev(t0, EventKind::Sent));
        m.apply(&ev(t0 + ms(100), EventKind::Text("partial".into())));
        m.apply(&ev(t0 + ms(150), EventKind::Failed(RequestError::new(ErrorKind::Cut, "stream cut"))));
        // Events after the end are ignored.
        m.apply(&ev(t0 + ms(160), EventKind::Text("late".into())));
        assert_eq!(m.ttft(), Some(ms(100)));
        assert_eq!(m.latency(), None);
        assert_eq!(m.elapsed(t0 + ms(999)), Some(ms(150)));
        let r = m.result("x", "openai");
        assert_eq!(r.status, Status::Error);
        assert_eq!(r.error_kind, Some(ErrorKind::Cut));
        assert_eq!(r.output, "partial");
        assert_eq!(r.latency_ms, None);
        assert_eq!(r.elapsed_ms, Some(150.0));
    }

    #[test]
    fn rejected_or_unsent_requests_cost_nothing_but_cut_ones_do() {
        let price = Some(Price { input: 1.0, output: 1.0, cached_input: None, cache_write: None });
        let t0 = Instant::now();
        let mut missing_key = RequestMetrics::new(price, 100);
        missing_key.apply(&ev(t0, EventKind::Failed(RequestError::new(ErrorKind::MissingKey, "set X"))));
        assert_eq!(missing_key.cost(), Some(0.0));
        assert!(!missing_key.tokens_estimated(), "nothing to estimate for a request never sent");
        let mut rejected = RequestMetrics::new(price, 100);
        rejected.apply(&ev(t0, EventKind::Sent));
        rejected.apply(&ev(t0, EventKind::Headers(ResponseInfo { status: 429, ..Default::default() })));
        rejected.apply(&ev(t0, EventKind::Failed(RequestError::new(ErrorKind::RateLimited, "429"))));
        assert_eq!(rejected.cost(), Some(0.0));
        let mut cut = RequestMetrics::new(price, 100);
        cut.apply(&ev(t0, EventKind::Sent));
        cut.apply(&ev(t0, EventKind::Headers(ResponseInfo { status: 200, ..Default::default() })));
        cut.apply(&ev(t0, EventKind::Text("partial answer".into())));
        cut.apply(&ev(t0, EventKind::Failed(RequestError::new(ErrorKind::Cut, "cut"))));
        assert!(cut.cost().unwrap() > 100.0 / 1e6, "the prompt and the partial answer were billed");
    }

    #[test]
    fn one_token_has_no_rate_and_cache_tokens_are_priced() {
        let t0 = Instant::now();
        let price = Price { input: 10.0, output: 0.0, cached_input: Some(1.0), cache_write: None };
        let mut m = RequestMetrics::new(Some(price), 0);
        m.apply(&ev(t0, EventKind::Sent));
        m.apply(&ev(t0 + ms(10), EventKind::Text("Hi".into())));
        m.apply(&ev(
            t0 + ms(11),
            EventKind::Usage(Usage {
                input_tokens: Some(100),
                output_tokens: Some(1),
                cached_input_tokens: Some(40),
                ..Default::default()
            }),
        ));
        m.apply(&ev(t0 + ms(12), EventKind::Finished { reason: None }));
        assert_eq!(m.tokens_per_s(t0 + ms(12)), None);
        assert!((m.cost().unwrap() - (60.0 * 10.0 + 40.0 * 1.0) / 1e6).abs() < 1e-15);
    }

    #[test]
    fn server_cost_mismatch_is_flagged() {
        let t0 = Instant::now();
        let price = Price { input: 1.0, output: 1.0, cached_input: None, cache_write: None };
        let mut m = RequestMetrics::new(Some(price), 0);
        m.apply(&ev(t0, EventKind::Sent));
        m.apply(&ev(
            t0,
            EventKind::Usage(Usage { input_tokens: Some(1_000_000), output_tokens: Some(0), ..Default::default() }),
        ));
        m.apply(&ev(t0, EventKind::ServerCost(1.0)));
        m.apply(&ev(t0, EventKind::Finished { reason: None }));
        assert_eq!(m.result("x", "y").cost_mismatch, Some(false));
        m.server_cost = Some(2.0);
        assert_eq!(m.result("x", "y").cost_mismatch, Some(true));
    }

    #[test]
    fn rate_buckets_spread_tokens() {
        let t0 = Instant::now();
        let mut m = RequestMetrics::new(None, 0);
        m.apply(&ev(t0, EventKind::Sent));
        for i in 0..10 {
            m.apply(&ev(t0 + ms(100 + i * 50), EventKind::Text(" a".into())));
        }
        // Tokens at 100, 150, …, 550 ms; first token at 100 ms; 250 ms buckets.
        let b = m.rate_buckets(ms(250), t0 + ms(600), 100);
        assert_eq!(b.iter().sum::<u64>(), 10 * 4);
        // Buckets from the first token: [100, 350), [350, 600), and the one `now` is in.
        assert_eq!(b, vec![20, 20, 0]);
        assert_eq!(m.rate_buckets(ms(250), t0 + ms(600), 2), vec![20, 0]);
        assert_eq!(m.max_gap, Some(ms(50)));
    }
}
