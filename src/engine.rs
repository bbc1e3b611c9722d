//! The engine: one network task per request, stamping every event where the bytes arrive.
//!
//! A [`ModelClient`] owns a connection pool for one model. [`ModelClient::start`] spawns a task
//! that sends the request, reads the body chunk by chunk, feeds the provider's decoder and sends
//! stamped [`StreamEvent`]s. The stamp is taken right after each chunk is read — before decoding
//! and before anything downstream sees it — so a slow UI or a busy channel cannot distort a
//! measurement.

use crate::config::{ApiKey, ModelSpec};
use crate::event::{EventKind, RequestId, ResponseInfo, StreamEvent};
use crate::provider::{self, ChatRequest, Delta, ErrorKind, Message, RequestError};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout_at};
use tokio_util::sync::CancellationToken;

/// Largest error body we read to find the provider's message.
const ERROR_BODY_LIMIT: usize = 64 * 1024;

/// Builds the wire-neutral request for `spec` from a conversation.
pub fn chat_request(spec: &ModelSpec, messages: Vec<Message>) -> ChatRequest {
    ChatRequest {
        model: spec.model.clone(),
        messages,
        max_tokens: spec.max_tokens,
        temperature: spec.temperature,
        extra: spec.extra.clone(),
    }
}

/// Counts new connections made by one client's pool, to tell fresh from reused connections.
#[derive(Clone)]
struct CountConnects(Arc<AtomicU64>);

impl<S> tower_layer::Layer<S> for CountConnects {
    type Service = Counted<S>;
    fn layer(&self, inner: S) -> Counted<S> {
        Counted { inner, count: self.0.clone() }
    }
}

#[derive(Clone)]
struct Counted<S> {
    inner: S,
    count: Arc<AtomicU64>,
}

impl<S: tower_service::Service<R>, R> tower_service::Service<R> for Counted<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }
    fn call(&mut self, req: R) -> Self::Future {
        self.count.fetch_add(1, Ordering::SeqCst);
        self.inner.call(req)
    }
}

/// One model's HTTP client and key.
pub struct ModelClient {
    spec: ModelSpec,
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    key: Result<Option<ApiKey>, String>,
    /// Connections opened by this client's pool.
    connects: Arc<AtomicU64>,
    /// Requests between "sent" and "headers".
    connecting: AtomicUsize,
    /// Requests ever started (to notice overlaps while connecting).
    starts: AtomicU64,
}

impl ModelClient {
    pub fn new(spec: ModelSpec) -> anyhow::Result<ModelClient> {
        let connects = Arc::new(AtomicU64::new(0));
        let http = reqwest::Client::builder()
            .connect_timeout(spec.timeouts.connect)
            .connector_layer(CountConnects(connects.clone()))
            .tcp_nodelay(true)
            .user_agent(concat!("bakeoff/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| anyhow::anyhow!("cannot build the HTTP client for {}: {e}", spec.name))?;
        let key = spec.api_key();
        let inner = Arc::new(Inner { http, key, connects, connecting: AtomicUsize::new(0), starts: AtomicU64::new(0) });
        Ok(ModelClient { spec, inner })
    }

    pub fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    /// Starts one streaming request. Events go to `tx`; cancelling `cancel` closes the
    /// connection and sends [`EventKind::Cancelled`]. Exactly one terminal event
    /// (`Finished`, `Failed`, `Cancelled`) is always sent.
    pub fn start(
        &self,
        id: RequestId,
        req: ChatRequest,
        tx: UnboundedSender<StreamEvent>,
        cancel: CancellationToken,
    ) -> JoinHandle<()> {
        let spec = self.spec.clone();
        let inner = self.inner.clone();
        tokio::spawn(async move {
            // A closed receiver means nobody is listening any more; nothing to do.
            let out = Out::new(id, move |ev| {
                let _ = tx.send(ev);
            });
            run_request(&spec, &inner, req, &out, cancel).await;
        })
    }

    /// Runs one streaming request in the caller's task, handing each stamped event to `sink` the
    /// moment it is stamped (for callers that fold events themselves, such as load runs, this
    /// saves a task and a channel per request). Same events and guarantees as [`Self::start`].
    pub async fn run(
        &self,
        id: RequestId,
        req: ChatRequest,
        cancel: CancellationToken,
        sink: impl FnMut(StreamEvent) + Send,
    ) {
        let out = Out::new(id, sink);
        run_request(&self.spec, &self.inner, req, &out, cancel).await;
    }
}

/// Where a request's stamped events go.
struct Out<'a> {
    id: RequestId,
    // Behind a mutex only so `&Out` can be held across awaits in a `Send` future; never contended.
    sink: std::sync::Mutex<Box<dyn FnMut(StreamEvent) + Send + 'a>>,
}

impl<'a> Out<'a> {
    fn new(id: RequestId, sink: impl FnMut(StreamEvent) + Send + 'a) -> Out<'a> {
        Out { id, sink: std::sync::Mutex::new(Box::new(sink)) }
    }

    fn send(&self, at: Instant, kind: EventKind) {
        let ev = StreamEvent { id: self.id, at, kind };
        (self.sink.lock().unwrap_or_else(|e| e.into_inner()))(ev);
    }
    fn fail(&self, at: Instant, e: RequestError) {
        self.send(at, EventKind::Failed(e));
    }
}

/// Walks an error's source chain into one line ("error sending request: connection refused").
fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        let msg = s.to_string();
        if !parts.iter().any(|p| p.contains(&msg)) {
            parts.push(msg);
        }
        cur = s.source();
    }
    parts.join(": ")
}

fn request_id(headers: &reqwest::header::HeaderMap) -> Option<String> {
    ["x-request-id", "request-id", "x-goog-request-id", "x-amzn-requestid", "cf-ray"]
        .iter()
        .find_map(|h| headers.get(*h)?.to_str().ok().map(str::to_string))
}

fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<f64> {
    if let Some(ms) = headers.get("retry-after-ms").and_then(|v| v.to_str().ok()?.trim().parse::<f64>().ok()) {
        return Some(ms / 1000.0);
    }
    let v = headers.get("retry-after")?.to_str().ok()?;
    provider::parse_retry_after(v, std::time::SystemTime::now())
}

async fn run_request(spec: &ModelSpec, inner: &Inner, req: ChatRequest, out: &Out<'_>, cancel: CancellationToken) {
    let key = match &inner.key {
        Ok(k) => k.clone(),
        Err(msg) => return out.fail(Instant::now(), RequestError::new(ErrorKind::MissingKey, msg.clone())),
    };
    let http_req =
        provider::build_request(spec.format, &spec.base_url, key.as_ref().map(ApiKey::expose), &req, &spec.headers);
    let mut builder = inner.http.post(&http_req.url).body(http_req.body);
    for (k, v) in &http_req.headers {
        builder = builder.header(k, v);
    }
    let request = match builder.build() {
        Ok(r) => r,
        // reqwest's message names the bad header or URL but never a header's value.
        Err(e) => {
            return out.fail(
                Instant::now(),
                RequestError::new(ErrorKind::Connect, format!("invalid request: {}", describe(&e))),
            );
        }
    };

    let t = spec.timeouts;
    let start_gen = inner.starts.fetch_add(1, Ordering::SeqCst) + 1;
    let others_connecting = inner.connecting.fetch_add(1, Ordering::SeqCst);
    let connects_before = inner.connects.load(Ordering::SeqCst);
    let sent = Instant::now();
    out.send(sent, EventKind::Sent);
    let total_deadline = sent + t.total;
    let first_deadline = (sent + t.first_token).min(total_deadline);

    let response = tokio::select! {
        biased;
        _ = cancel.cancelled() => None,
        r = timeout_at(first_deadline, inner.http.execute(request)) => Some(r),
    };
    let at = Instant::now();
    let still_connecting = inner.connecting.fetch_sub(1, Ordering::SeqCst) - 1;
    let Some(response) = response else { return out.send(at, EventKind::Cancelled) };
    let response = match response {
        Err(_) => {
            let (kind, what) = if first_deadline == total_deadline {
                (ErrorKind::TotalTimeout, format!("no response within {:.0}s (total_timeout_s)", t.total.as_secs_f64()))
            } else {
                (
                    ErrorKind::FirstTokenTimeout,
                    format!("no response headers within {:.0}s (first_token_timeout_s)", t.first_token.as_secs_f64()),
                )
            };
            return out.fail(at, RequestError::new(kind, what));
        }
        Ok(Err(e)) => {
            let kind = if e.is_timeout() { ErrorKind::ConnectTimeout } else { ErrorKind::Connect };
            return out
                .fail(at, RequestError::new(kind, format!("cannot connect to {}: {}", spec.base_url, describe(&e))));
        }
        Ok(Ok(r)) => r,
    };
    // Only attributable when no other request of this client was connecting meanwhile.
    let alone = others_connecting == 0 && still_connecting == 0 && inner.starts.load(Ordering::SeqCst) == start_gen;
    let fresh_connection = alone.then(|| inner.connects.load(Ordering::SeqCst) > connects_before);
    let status = response.status().as_u16();
    let headers = response.headers();
    let info = ResponseInfo {
        status,
        request_id: request_id(headers),
        header_cost: headers.get("x-litellm-response-cost").and_then(|v| v.to_str().ok()?.trim().parse().ok()),
        proxy_overhead_ms: headers
            .get("x-litellm-overhead-duration-ms")
            .and_then(|v| v.to_str().ok()?.trim().parse().ok()),
        fresh_connection,
    };
    let retry = retry_after(headers);
    out.send(at, EventKind::Headers(info));

    if !response.status().is_success() {
        let body = read_error_body(response, total_deadline.min(at + t.idle)).await;
        return out.fail(Instant::now(), provider::http_error(spec.format, status, retry, &body));
    }
    stream_body(spec, response, out, cancel, first_deadline, total_deadline).await;
}

async fn read_error_body(mut response: reqwest::Response, deadline: Instant) -> Vec<u8> {
    let mut body = Vec::new();
    while body.len() < ERROR_BODY_LIMIT {
        match timeout_at(deadline, response.chunk()).await {
            Ok(Ok(Some(b))) => body.extend_from_slice(&b),
            _ => break,
        }
    }
    body.truncate(ERROR_BODY_LIMIT);
    body
}

async fn stream_body(
    spec: &ModelSpec,
    mut response: reqwest::Response,
    out: &Out<'_>,
    cancel: CancellationToken,
    first_deadline: Instant,
    total_deadline: Instant,
) {
    let t = spec.timeouts;
    let mut decoder = provider::decoder(spec.format);
    let mut deltas = Vec::new();
    let mut got_token = false;
    let mut last_byte = Instant::now();
    loop {
        // Before the first token only the first-token limit applies (servers may send
        // keep-alives for a long time); afterwards, the idle limit between any two reads.
        let deadline = if got_token { (last_byte + t.idle).min(total_deadline) } else { first_deadline };
        let read = tokio::select! {
            biased;
            _ = cancel.cancelled() => return out.send(Instant::now(), EventKind::Cancelled),
            r = timeout_at(deadline, response.chunk()) => r,
        };
        let at = Instant::now();
        let chunk = match read {
            Err(_) => {
                let e = if deadline == total_deadline {
                    RequestError::new(
                        ErrorKind::TotalTimeout,
                        format!("request took longer than {:.0}s (total_timeout_s)", t.total.as_secs_f64()),
                    )
                } else if got_token {
                    RequestError::new(
                        ErrorKind::IdleTimeout,
                        format!("no data for {:.0}s mid-stream (idle_timeout_s)", t.idle.as_secs_f64()),
                    )
                } else {
                    RequestError::new(
                        ErrorKind::FirstTokenTimeout,
                        format!("no token within {:.0}s (first_token_timeout_s)", t.first_token.as_secs_f64()),
                    )
                };
                return out.fail(at, e);
            }
            Ok(Err(e)) => {
                return out.fail(
                    at,
                    RequestError::new(ErrorKind::Cut, format!("connection broke mid-stream: {}", describe(&e))),
                );
            }
            Ok(Ok(None)) => {
                decoder.finish(&mut deltas);
                if !emit(out, at, &mut deltas, &mut got_token) {
                    out.fail(at, RequestError::new(ErrorKind::Cut, "stream ended without its end marker"));
                }
                return;
            }
            Ok(Ok(Some(bytes))) => bytes,
        };
        last_byte = at;
        out.send(at, EventKind::Chunk { bytes: chunk.len() });
        decoder.feed(&chunk, &mut deltas);
        if emit(out, at, &mut deltas, &mut got_token) {
            // Terminal event sent; dropping the response closes or returns the connection.
            return;
        }
    }
}

/// Sends decoded deltas stamped `at`; true once a terminal one (finished or error) was sent.
fn emit(out: &Out<'_>, at: Instant, deltas: &mut Vec<Delta>, got_token: &mut bool) -> bool {
    for d in deltas.drain(..) {
        let kind = match d {
            Delta::Text(s) | Delta::Reasoning(s) if s.is_empty() => continue,
            Delta::Text(s) => {
                *got_token = true;
                EventKind::Text(s)
            }
            Delta::Reasoning(s) => {
                *got_token = true;
                EventKind::Reasoning(s)
            }
            Delta::Usage(u) => EventKind::Usage(u),
            Delta::ServerModel(m) => EventKind::ServerModel(m),
            Delta::ServerCost(c) => EventKind::ServerCost(c),
            Delta::Finished { reason } => {
                out.send(at, EventKind::Finished { reason });
                return true;
            }
            Delta::Error(e) => {
                out.fail(at, e);
                return true;
            }
        };
        out.send(at, kind);
    }
    false
}
