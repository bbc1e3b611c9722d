//! Stamped events: what the engine's network tasks send out about each request.
//!
//! Every event carries the monotonic instant at which the network task observed it (bytes read
//! from the socket, headers parsed). Consumers — the metrics fold, the TUI, reports — derive every
//! duration from these stamps and never from when *they* received the event.

use crate::provider::{RequestError, ToolCallDelta, Usage};
use tokio::time::Instant;

/// Identifies one request: which round (run) and which model slot in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RequestId {
    pub run: u64,
    /// Index of the model in the run's model list.
    pub slot: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct StreamEvent {
    pub id: RequestId,
    /// When the network task saw this happen.
    pub at: Instant,
    pub kind: EventKind,
}

#[derive(Clone, Debug, PartialEq)]
pub enum EventKind {
    /// Just before the request bytes were handed to the HTTP client. `t_send`.
    Sent,
    /// Status line and headers received (any status; a non-2xx one is followed by `Failed`).
    Headers(ResponseInfo),
    /// A body chunk arrived; `bytes` is its size. Lets the fold see TTFB-to-first-byte and gaps
    /// even when a chunk decodes to nothing visible (keep-alives, role-only chunks).
    Chunk {
        bytes: usize,
    },
    Text(String),
    Reasoning(String),
    /// Cumulative usage; replaces any earlier one.
    Usage(Usage),
    ServerModel(String),
    ServerCost(f64),
    /// Clean end of stream; the provider's finish reason if any.
    Finished {
        reason: Option<String>,
    },
    /// The request failed (what already arrived stays valid).
    Failed(RequestError),
    /// The user (or a shutdown) cancelled the request.
    Cancelled,
    /// Something off that did not spoil the answer (see `Delta::Warning`).
    Warning(String),
    /// A piece of a tool call (see [`ToolCallDelta`]).
    ToolCall(ToolCallDelta),
}

/// What the response headers said about the request and the server.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ResponseInfo {
    pub status: u16,
    /// `x-request-id`, `request-id`, `x-goog-request-id`… whichever the server sent.
    pub request_id: Option<String>,
    /// Cost the server put in a header (LiteLLM `x-litellm-response-cost`), USD.
    pub header_cost: Option<f64>,
    /// A proxy's own overhead from its header (LiteLLM `x-litellm-overhead-duration-ms`), ms.
    pub proxy_overhead_ms: Option<f64>,
    /// `Some(true)` when this request had to open a new connection, `Some(false)` when it reused
    /// a pooled one, `None` when it could not be told (other requests were connecting at once).
    pub fresh_connection: Option<bool>,
}
