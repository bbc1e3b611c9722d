//! One finished request of a load run as data: what `--out` writes (one JSON line each) and what
//! the aggregate folds. Built by the request's own task from its stamped events, so every time
//! in it was taken where the bytes arrived.

use crate::metrics::{Phase, RequestMetrics, Status};
use crate::provider::ErrorKind;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::time::Instant;

/// One request's outcome. Times are milliseconds with microsecond resolution; `*_s` fields are
/// seconds since the run's start (monotonic clock). `null` = not measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Global request index (the same across shards: shard i of N runs i, i+N, i+2N…).
    pub i: u64,
    pub model: String,
    /// Case id from `--cases` (none for `--prompt`).
    pub case: Option<String>,
    pub status: Status,
    /// `http_500`, `rate_limited`, `cut`, `first_token_timeout`, `malformed`… (see summary).
    pub error_kind: Option<String>,
    pub error: Option<String>,
    pub http_status: Option<u16>,
    /// Open loop: when the request was scheduled to start.
    pub intended_s: Option<f64>,
    /// When the request was handed to the HTTP client.
    pub sent_s: Option<f64>,
    pub end_s: Option<f64>,
    /// Sent → headers / first token / end (service times).
    pub ttfb_ms: Option<f64>,
    pub ttft_ms: Option<f64>,
    /// Only for `ok` requests.
    pub latency_ms: Option<f64>,
    /// Sent → end for any outcome.
    pub elapsed_ms: Option<f64>,
    /// Open loop: intended → first token / end (response times, corrected for coordinated omission).
    pub ttft_response_ms: Option<f64>,
    pub latency_response_ms: Option<f64>,
    /// Open loop: intended → sent.
    pub send_delay_ms: Option<f64>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub tokens_estimated: bool,
    pub tokens_per_s: Option<f64>,
    pub cost_usd: Option<f64>,
    /// `x-litellm-overhead-duration-ms`, when the engine surfaces it.
    pub proxy_overhead_ms: Option<f64>,
    /// Whether the request met every `--slo` bound (absent without `--slo`).
    pub slo_met: Option<bool>,
    pub request_id: Option<String>,
    /// Gaps between content chunks in µs — folded into the gap histogram, not written out.
    #[serde(skip)]
    pub gaps_us: Vec<u64>,
}

/// µs, rounded from the nanosecond duration.
pub fn micros(d: Duration) -> u64 {
    ((d.as_nanos() + 500) / 1000).min(u128::from(u64::MAX)) as u64
}

fn ms(d: Duration) -> f64 {
    micros(d) as f64 / 1000.0
}

/// Milliseconds back to whole µs (exact for values written by `ms`).
pub fn us_of_ms(ms: f64) -> u64 {
    (ms * 1000.0).round().max(0.0) as u64
}

/// `http_<status>` for HTTP errors (the status says more than "http"), else the kind's name.
pub fn error_key(kind: Option<ErrorKind>, http_status: Option<u16>) -> String {
    match (kind, http_status) {
        (Some(ErrorKind::Http), Some(s)) => format!("http_{s}"),
        (Some(k), _) => k.as_str().to_string(),
        (None, Some(s)) => format!("http_{s}"),
        (None, None) => "unknown".to_string(),
    }
}

/// What the request task knows besides its metrics.
pub struct Context<'a> {
    pub i: u64,
    pub model: &'a str,
    pub case: Option<&'a str>,
    pub start: Instant,
    pub intended: Option<Instant>,
}

impl Record {
    pub fn from_metrics(m: &RequestMetrics, cx: &Context<'_>) -> Record {
        let since = |t: Option<Instant>| t.map(|t| t.saturating_duration_since(cx.start).as_secs_f64());
        let from_intended = |t: Option<Instant>| Some(ms(t?.saturating_duration_since(cx.intended?)));
        let (status, error_kind, error, http_status) = match &m.phase {
            Phase::Done { .. } => (Status::Ok, None, None, None),
            Phase::Failed(e) => {
                (Status::Error, Some(error_key(Some(e.kind), e.http_status)), Some(e.message.clone()), e.http_status)
            }
            Phase::Cancelled => (Status::Cancelled, None, None, None),
            _ => (Status::Error, Some("unknown".to_string()), Some("did not finish".to_string()), None),
        };
        let ok = status.is_ok();
        let http_status = http_status.or(m.response.as_ref().map(|r| r.status).filter(|s| *s >= 400));
        Record {
            i: cx.i,
            model: cx.model.to_string(),
            case: cx.case.map(str::to_string),
            status,
            error_kind,
            error,
            http_status,
            intended_s: since(cx.intended),
            sent_s: since(m.sent),
            end_s: since(m.end),
            ttfb_ms: m.ttfb().map(ms),
            ttft_ms: m.ttft().map(ms),
            latency_ms: m.latency().map(ms),
            elapsed_ms: m.sent.and_then(|s| Some(ms(m.end?.saturating_duration_since(s)))),
            ttft_response_ms: from_intended(m.first_token),
            latency_response_ms: if ok { from_intended(m.end) } else { None },
            send_delay_ms: from_intended(m.sent),
            input_tokens: m.input_tokens(),
            output_tokens: m.output_tokens(),
            tokens_estimated: m.tokens_estimated(),
            tokens_per_s: m.end.and_then(|e| m.tokens_per_s(e)).map(|v| (v * 100.0).round() / 100.0),
            cost_usd: m.cost(),
            proxy_overhead_ms: proxy_overhead_ms(m),
            slo_met: None,
            request_id: m.response.as_ref().and_then(|r| r.request_id.clone()),
            gaps_us: m.gaps.iter().map(|g| micros(*g)).collect(),
        }
    }

    /// TTFT for SLOs and the live view: the response time when there is one (open loop), else
    /// the service time.
    pub fn ttft_user_ms(&self) -> Option<f64> {
        self.ttft_response_ms.or(self.ttft_ms)
    }

    pub fn latency_user_ms(&self) -> Option<f64> {
        self.latency_response_ms.or(self.latency_ms)
    }

    pub fn ttfb_user_ms(&self) -> Option<f64> {
        match (self.ttfb_ms, self.send_delay_ms) {
            (Some(t), Some(d)) => Some(t + d),
            (t, _) => t,
        }
    }
}

/// The LiteLLM proxy's own overhead, from its `x-litellm-overhead-duration-ms` header.
fn proxy_overhead_ms(m: &RequestMetrics) -> Option<f64> {
    m.response.as_ref()?.proxy_overhead_ms
}
