//! The engine: one network task per request, stamping every event where the bytes arrive.
//!
//! A [`ModelClient`] owns a connection pool for one model. [`ModelClient::start`] spawns a task
//! that sends the request, reads the body chunk by chunk, feeds the provider's decoder and sends
//! stamped [`StreamEvent`]s. The stamp is taken right after each chunk is read — before decoding
//! and before anything downstream sees it — so a slow UI or a busy channel cannot distort a
//! measurement.
//!
//! Load runs use the same path with two differences that only make the client cheaper: the
//! request is built once ([`ModelClient::prepare`]) and a closed-loop worker may send over its own
//! HTTP/1.1 connection ([`DirectConn`]) instead of the pool.

use crate::config::{ApiKey, ModelSpec};
use crate::event::{EventKind, RequestId, ResponseInfo, StreamEvent};
use crate::provider::{self, ChatRequest, Delta, ErrorKind, Message, RequestError};
use bytes::Bytes;
use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};
use std::pin::Pin;
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
        tools: spec.tools.clone(),
        extra: spec.extra.clone(),
        prompt_cache: spec.prompt_cache,
        schema: spec.schema.clone(),
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
            .user_agent(USER_AGENT)
            // API keys go to the configured origin only: a 3xx is the request's error (see
            // `redirect_error`), never followed — following would send the key to wherever the
            // `Location` points and turn a 301/302 POST into a GET.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| anyhow::anyhow!("cannot build the HTTP client for {}: {e}", spec.name))?;
        let key = spec.api_key();
        let inner = Arc::new(Inner { http, key, connects, connecting: AtomicUsize::new(0), starts: AtomicU64::new(0) });
        Ok(ModelClient { spec, inner })
    }

    pub fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    /// Builds `req` for the wire once: body serialised, URL parsed, headers checked. A request
    /// that cannot be built (missing key, bad header) still runs, and fails as its own error.
    pub fn prepare(&self, req: &ChatRequest) -> Prepared {
        Prepared(self.build(req).map(Arc::new))
    }

    fn build(&self, req: &ChatRequest) -> Result<Wire, RequestError> {
        let spec = &self.spec;
        let key = self.inner.key.as_ref().map_err(|msg| RequestError::new(ErrorKind::MissingKey, msg.clone()))?;
        provider::attach::check(spec.format, &req.messages)
            .map_err(|e| RequestError::new(ErrorKind::Unsupported, e))?;
        let http =
            provider::build_request(spec.format, &spec.base_url, key.as_ref().map(ApiKey::expose), req, &spec.headers);
        // Whatever credential goes on the wire (the key, a configured auth header, a `?key=`)
        // is redacted from everything the server sends back.
        crate::redact::register_request(&http.url, http.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        // The messages name the bad part (URL or header name) but never a header's value.
        let invalid = |what: String| RequestError::new(ErrorKind::Connect, format!("invalid request: {what}"));
        let url = reqwest::Url::parse(&http.url).map_err(|e| invalid(format!("URL {}: {e}", http.url)))?;
        let mut headers = HeaderMap::new();
        for (k, v) in &http.headers {
            let name = HeaderName::from_bytes(k.as_bytes()).map_err(|_| invalid(format!("header name {k:?}")))?;
            let value = HeaderValue::from_str(v).map_err(|_| invalid(format!("value of header {k}")))?;
            headers.append(name, value);
        }
        let origin = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        };
        let mut direct_headers = HeaderMap::with_capacity(headers.len() + 3);
        if let Some(host) = authority(&url) {
            direct_headers.insert(header::HOST, host);
        }
        direct_headers.insert(header::USER_AGENT, HeaderValue::from_static(USER_AGENT));
        direct_headers.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
        for (k, v) in &headers {
            direct_headers.append(k, v.clone());
        }
        let direct = crate::http1::encode_post(&origin, &direct_headers, &http.body);
        // Anthropic's structured output is a forced tool whose input is the answer.
        let answer_tool = req.schema.as_ref().filter(|_| spec.format == provider::WireFormat::Anthropic);
        let answer_tool = answer_tool.map(|s| s.name.clone());
        Ok(Wire { url, headers, body: Bytes::from(http.body), direct, answer_tool })
    }

    /// A connection of its own for one load worker, when the model is reached over plain HTTP
    /// with no proxy configured; `None` otherwise (requests then share the client's pool).
    pub fn direct_conn(&self) -> Option<DirectConn> {
        let url = reqwest::Url::parse(&self.spec.base_url).ok()?;
        let proxied = ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"]
            .iter()
            .any(|v| std::env::var_os(v).is_some_and(|v| !v.is_empty()));
        if url.scheme() != "http" || proxied {
            return None;
        }
        let port = url.port_or_known_default()?;
        // `[::1]` in a URL is `::1` to the resolver.
        let host = url.host_str()?.trim_start_matches('[').trim_end_matches(']').to_string();
        Some(DirectConn {
            host,
            port,
            connect_timeout: self.spec.timeouts.connect,
            connects: self.inner.connects.clone(),
            conn: None,
        })
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
        let prepared = self.prepare(&req);
        tokio::spawn(async move {
            // A closed receiver means nobody is listening any more; nothing to do.
            let mut sink = move |ev| {
                let _ = tx.send(ev);
            };
            run_guarded(&spec, &inner, &prepared, None, id, &mut sink, cancel).await;
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
        let prepared = self.prepare(&req);
        self.run_prepared(id, &prepared, None, cancel, sink).await;
    }

    /// [`Self::run`] for a request prepared once and sent many times (load runs), over `conn`
    /// when given (a worker's own connection), else through the client's pool.
    pub async fn run_prepared(
        &self,
        id: RequestId,
        prepared: &Prepared,
        conn: Option<&mut DirectConn>,
        cancel: CancellationToken,
        mut sink: impl FnMut(StreamEvent) + Send,
    ) {
        run_guarded(&self.spec, &self.inner, prepared, conn, id, &mut sink, cancel).await;
    }
}

/// A request as it goes on the wire, or why it cannot be sent. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Prepared(Result<Arc<Wire>, RequestError>);

#[derive(Debug)]
struct Wire {
    url: reqwest::Url,
    headers: HeaderMap,
    body: Bytes,
    /// For a [`DirectConn`]: the whole HTTP/1.1 request (the same headers plus host, user agent
    /// and accept, which reqwest adds itself), encoded once.
    direct: Bytes,
    /// The tool whose input is the answer (see [`provider::Decoder::answer_in_tool`]).
    answer_tool: Option<String>,
}

/// One HTTP/1.1 connection owned by one load worker, opened on first use and again whenever the
/// server closed it. Like a user with a browser tab: no pool lookup, no sharing — the shortest
/// path from a request to the socket, so the client's own cost stays out of the measurement.
pub struct DirectConn {
    host: String,
    port: u16,
    connect_timeout: std::time::Duration,
    connects: Arc<AtomicU64>,
    conn: Option<crate::http1::Conn>,
}

impl DirectConn {
    async fn connect(&self) -> Result<crate::http1::Conn, (ErrorKind, String)> {
        let what = format!("{}:{}", self.host, self.port);
        let stream = match tokio::time::timeout(
            self.connect_timeout,
            tokio::net::TcpStream::connect((self.host.as_str(), self.port)),
        )
        .await
        {
            Err(_) => return Err((ErrorKind::ConnectTimeout, format!("cannot connect to {what}: timed out"))),
            Ok(Err(e)) => return Err((ErrorKind::Connect, format!("cannot connect to {what}: {e}"))),
            Ok(Ok(s)) => s,
        };
        self.connects.fetch_add(1, Ordering::SeqCst);
        let _ = stream.set_nodelay(true);
        Ok(crate::http1::Conn::new(stream))
    }

    /// Sends `wire`, opening the connection if needed (or if the last response was not read to
    /// its end). Returns the response head, whether this request opened the connection, and the
    /// connection to read the body from. A request the server never answered because a
    /// kept-alive connection had just closed is sent once more on a new one. The connection is
    /// out of `self` while the request is on its way: if this is dropped (timeout, cancel), so is
    /// the connection, which could not carry another request anyway.
    async fn send(
        &mut self,
        wire: &Wire,
    ) -> Result<(crate::http1::Head, bool, &mut crate::http1::Conn), (ErrorKind, String)> {
        let mut fresh = false;
        loop {
            let mut conn = match self.conn.take().filter(|c| c.is_idle()) {
                Some(c) => c,
                None => {
                    fresh = true;
                    self.connect().await?
                }
            };
            match conn.request(&wire.direct).await {
                Ok(head) => return Ok((head, fresh, self.conn.insert(conn))),
                Err(crate::http1::Error::ClosedBeforeResponse) if !fresh => continue,
                Err(e @ crate::http1::Error::Protocol(_)) => {
                    return Err((
                        ErrorKind::Malformed,
                        format!("invalid response from {}:{}: {e}", self.host, self.port),
                    ));
                }
                Err(e) => return Err((ErrorKind::Connect, format!("request failed: {e}"))),
            }
        }
    }
}

/// The `Host` header for `url`: host, and the port when the URL names one.
fn authority(url: &reqwest::Url) -> Option<HeaderValue> {
    let host = url.host_str()?;
    HeaderValue::from_str(&match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    })
    .ok()
}

const USER_AGENT: &str = concat!("bakeoff/", env!("CARGO_PKG_VERSION"));

/// A response body from either path, read chunk by chunk.
enum Body<'c> {
    Pooled(reqwest::Response),
    /// A load worker's own connection, its response head already read.
    Direct(&'c mut crate::http1::Conn),
}

impl Body<'_> {
    async fn chunk(&mut self) -> Result<Option<Bytes>, String> {
        match self {
            Body::Pooled(r) => r.chunk().await.map_err(|e| describe(&e)),
            Body::Direct(conn) => conn.chunk().await,
        }
    }

    /// After the terminal event (already stamped and sent): reads to the body's end, so the
    /// connection can carry the next request instead of being closed — a new connection would
    /// add its handshake to the next request's TTFB. The end is usually already here: `timeout`
    /// polls the read first and only arms its timer when it has to wait, at most 50 ms.
    async fn finish(&mut self) {
        const TRAIL: std::time::Duration = std::time::Duration::from_millis(50);
        let _ = tokio::time::timeout(TRAIL, async { while let Ok(Some(_)) = self.chunk().await {} }).await;
    }
}

/// Where a request's stamped events go. Every string that came from the server passes through
/// here, so this is where secrets it echoes are redacted ([`crate::redact`]): error messages,
/// request ids and server model names whole, answer and reasoning text as streams (a key split
/// across two chunks is still caught; text ending in a long start of a key waits for the next
/// chunk or the request's end).
struct Out<'a> {
    id: RequestId,
    sink: &'a mut (dyn FnMut(StreamEvent) + Send),
    text: crate::redact::StreamRedactor,
    reasoning: crate::redact::StreamRedactor,
    /// One per tool call, for its arguments.
    tool_args: Vec<crate::redact::StreamRedactor>,
}

impl<'a> Out<'a> {
    fn new(id: RequestId, sink: &'a mut (dyn FnMut(StreamEvent) + Send)) -> Out<'a> {
        Out { id, sink, text: Default::default(), reasoning: Default::default(), tool_args: Vec::new() }
    }

    fn send(&mut self, at: Instant, kind: EventKind) {
        let kind = if crate::redact::active() {
            match self.redacted(at, kind) {
                Some(k) => k,
                None => return,
            }
        } else {
            kind
        };
        (self.sink)(StreamEvent { id: self.id, at, kind });
    }

    fn fail(&mut self, at: Instant, e: RequestError) {
        self.send(at, EventKind::Failed(e));
    }

    /// `kind` with secrets replaced; `None` when all its text is held back for now.
    fn redacted(&mut self, at: Instant, kind: EventKind) -> Option<EventKind> {
        use crate::redact::redact_owned;
        match kind {
            EventKind::Text(s) => Some(self.text.push(&s)).filter(|s| !s.is_empty()).map(EventKind::Text),
            EventKind::Reasoning(s) => {
                Some(self.reasoning.push(&s)).filter(|s| !s.is_empty()).map(EventKind::Reasoning)
            }
            EventKind::ServerModel(m) => Some(EventKind::ServerModel(redact_owned(m))),
            EventKind::ToolCall(mut call) => {
                // Indexes come from the server: a call far out of order is not given memory.
                if call.index < crate::provider::MAX_TOOL_CALLS && self.tool_args.len() <= call.index {
                    self.tool_args.resize_with(call.index + 1, Default::default);
                }
                call.arguments = match self.tool_args.get_mut(call.index) {
                    Some(r) => r.push(&call.arguments),
                    None => redact_owned(call.arguments),
                };
                call.id = call.id.map(redact_owned);
                call.name = call.name.map(redact_owned);
                Some(EventKind::ToolCall(call))
            }
            EventKind::Warning(w) => Some(EventKind::Warning(redact_owned(w))),
            EventKind::Headers(mut info) => {
                info.request_id = info.request_id.map(redact_owned);
                Some(EventKind::Headers(info))
            }
            EventKind::Failed(mut e) => {
                self.flush(at);
                e.message = redact_owned(e.message);
                Some(EventKind::Failed(e))
            }
            k @ (EventKind::Finished { .. } | EventKind::Cancelled) => {
                self.flush(at);
                Some(k)
            }
            k => Some(k),
        }
    }

    /// Before a terminal event: the text held back was not a key after all.
    fn flush(&mut self, at: Instant) {
        let reasoning = Some(self.reasoning.flush()).filter(|s| !s.is_empty()).map(EventKind::Reasoning);
        let text = Some(self.text.flush()).filter(|s| !s.is_empty()).map(EventKind::Text);
        for kind in [reasoning, text].into_iter().flatten() {
            (self.sink)(StreamEvent { id: self.id, at, kind });
        }
        for (index, r) in self.tool_args.iter_mut().enumerate() {
            let arguments = r.flush();
            if !arguments.is_empty() {
                let kind =
                    EventKind::ToolCall(crate::provider::ToolCallDelta { index, arguments, ..Default::default() });
                (self.sink)(StreamEvent { id: self.id, at, kind });
            }
        }
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

/// What sending produced: status, headers, body, and (when known) whether the request opened
/// its connection.
struct Reply<'c> {
    status: u16,
    headers: HeaderMap,
    body: Body<'c>,
    fresh_connection: Option<bool>,
}

/// [`run_request`] with a panic inside it caught at this boundary: it becomes the request's
/// error (unless the request had already ended), so one request's bug fails that model only.
async fn run_guarded(
    spec: &ModelSpec,
    inner: &Inner,
    prepared: &Prepared,
    conn: Option<&mut DirectConn>,
    id: RequestId,
    sink: &mut (dyn FnMut(StreamEvent) + Send),
    cancel: CancellationToken,
) {
    let mut ended = false;
    let mut track = |ev: StreamEvent| {
        ended |= matches!(ev.kind, EventKind::Finished { .. } | EventKind::Failed(_) | EventKind::Cancelled);
        sink(ev);
    };
    let caught =
        crate::panics::guarded(run_request(spec, inner, prepared, conn, &mut Out::new(id, &mut track), cancel)).await;
    if let Err(panic) = caught
        && !ended
    {
        let e =
            RequestError::new(ErrorKind::Internal, format!("internal error (a bakeoff bug, please report): {panic}"));
        Out::new(id, sink).fail(Instant::now(), e);
    }
}

async fn run_request(
    spec: &ModelSpec,
    inner: &Inner,
    prepared: &Prepared,
    conn: Option<&mut DirectConn>,
    out: &mut Out<'_>,
    cancel: CancellationToken,
) {
    let wire = match &prepared.0 {
        Ok(w) => w,
        Err(e) => return out.fail(Instant::now(), e.clone()),
    };
    let t = spec.timeouts;
    let sent = Instant::now();
    out.send(sent, EventKind::Sent);
    let total_deadline = sent + t.total;
    let first_deadline = (sent + t.first_token).min(total_deadline);
    let send = async {
        match conn {
            Some(conn) => conn.send(wire).await.map(|(head, fresh, c)| Reply {
                status: head.status,
                headers: head.headers,
                body: Body::Direct(c),
                fresh_connection: Some(fresh),
            }),
            None => send_pooled(spec, inner, wire).await,
        }
    };
    // One cancellation waiter and one timer for the whole request, not one per read. The timer
    // starts at the earliest deadline the request can have and is only ever moved later (see
    // `expire`): moving a timer earlier wakes the runtime's driver, a syscall per request.
    let cancelled = cancel.cancelled();
    let timer = tokio::time::sleep_until(first_deadline.min(sent + t.idle));
    tokio::pin!(cancelled, timer, send);
    let response = tokio::select! {
        biased;
        _ = &mut cancelled => None,
        r = &mut send => Some(Ok(r)),
        _ = expire(&mut timer, first_deadline) => Some(Err(())),
    };
    let at = Instant::now();
    let Some(response) = response else { return out.send(at, EventKind::Cancelled) };
    let mut reply = match response {
        Err(()) => {
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
        Ok(Err((kind, what))) => return out.fail(at, RequestError::new(kind, what)),
        Ok(Ok(r)) => r,
    };
    let headers = &reply.headers;
    let info = ResponseInfo {
        status: reply.status,
        request_id: request_id(headers),
        header_cost: headers.get("x-litellm-response-cost").and_then(|v| v.to_str().ok()?.trim().parse().ok()),
        proxy_overhead_ms: headers
            .get("x-litellm-overhead-duration-ms")
            .and_then(|v| v.to_str().ok()?.trim().parse().ok()),
        fresh_connection: reply.fresh_connection,
    };
    let retry = retry_after(headers);
    out.send(at, EventKind::Headers(info));

    if (300..400).contains(&reply.status) {
        return out.fail(at, redirect_error(&wire.url, reply.status, headers));
    }
    if !(200..300).contains(&reply.status) {
        let body = read_error_body(&mut reply.body, total_deadline.min(at + t.idle)).await;
        return out.fail(Instant::now(), provider::http_error(spec.format, reply.status, retry, &body));
    }
    let deadlines = Deadlines { first: first_deadline, total: total_deadline };
    stream_body(spec, wire.answer_tool.as_deref(), reply.body, out, cancelled, timer, deadlines).await;
}

/// A 3xx answer: not followed (keys stay with their origin); the error names where it pointed so
/// the user can update `base_url` if the move is genuine.
fn redirect_error(url: &reqwest::Url, status: u16, headers: &HeaderMap) -> RequestError {
    let target = headers.get(header::LOCATION).map(|v| {
        let raw = String::from_utf8_lossy(v.as_bytes());
        url.join(&raw).map_or_else(|_| raw.to_string(), |u| u.to_string())
    });
    let message = match target {
        Some(t) => format!(
            "{status} redirect to {t} not followed: API keys are sent only to the configured base_url (update it if the API moved)"
        ),
        None => format!("{status} redirect without a Location, not followed"),
    };
    RequestError { kind: ErrorKind::Http, message, http_status: Some(status), retry_after_s: None }
}

/// Completes at `deadline`. `timer` is set at or before it: each time it fires early it is
/// re-armed, so a deadline that moves later with every read costs no timer update per read.
async fn expire(timer: &mut Pin<&mut tokio::time::Sleep>, deadline: Instant) {
    loop {
        timer.as_mut().await;
        if Instant::now() >= deadline {
            return;
        }
        timer.as_mut().reset(deadline);
    }
}

struct Deadlines {
    first: Instant,
    total: Instant,
}

/// Sends through the client's shared pool (reqwest: TLS, HTTP/2, proxies).
async fn send_pooled(spec: &ModelSpec, inner: &Inner, wire: &Wire) -> Result<Reply<'static>, (ErrorKind, String)> {
    let mut request = reqwest::Request::new(reqwest::Method::POST, wire.url.clone());
    *request.headers_mut() = wire.headers.clone();
    *request.body_mut() = Some(wire.body.clone().into());
    let start_gen = inner.starts.fetch_add(1, Ordering::SeqCst) + 1;
    let others_connecting = inner.connecting.fetch_add(1, Ordering::SeqCst);
    let connects_before = inner.connects.load(Ordering::SeqCst);
    // Decremented however this future ends: answered here, or dropped on a timeout or cancel.
    struct Connecting<'a>(&'a AtomicUsize);
    impl Drop for Connecting<'_> {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }
    let guard = Connecting(&inner.connecting);
    let result = inner.http.execute(request).await;
    std::mem::forget(guard); // decremented here instead, reading the count in the same step
    let still_connecting = inner.connecting.fetch_sub(1, Ordering::SeqCst) - 1;
    let response = result.map_err(|e| send_error(&spec.base_url, &e))?;
    // Only attributable when no other request of this client was connecting meanwhile.
    let alone = others_connecting == 0 && still_connecting == 0 && inner.starts.load(Ordering::SeqCst) == start_gen;
    let fresh_connection = alone.then(|| inner.connects.load(Ordering::SeqCst) > connects_before);
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    Ok(Reply { status, headers, body: Body::Pooled(response), fresh_connection })
}

/// What went wrong before a response head arrived: connecting, or — once connected — a head
/// that broke HTTP's rules, or a connection that broke before the head.
fn send_error(base_url: &str, e: &reqwest::Error) -> (ErrorKind, String) {
    let what = describe(e);
    if e.is_timeout() {
        (ErrorKind::ConnectTimeout, format!("cannot connect to {base_url}: {what}"))
    } else if e.is_connect() {
        (ErrorKind::Connect, format!("cannot connect to {base_url}: {what}"))
    } else if head_refused(e) {
        // hyper's words for a head it refused ("invalid content-length parsed", "message head
        // is too large"…): the server answered, but not in HTTP.
        (ErrorKind::Malformed, format!("invalid response head from {base_url}: {what}"))
    } else {
        (ErrorKind::Cut, format!("the connection to {base_url} broke before the response head: {what}"))
    }
}

/// Whether hyper refused the response head ("invalid content-length parsed", "message head is
/// too large"…). Only the causes are read: the top message quotes the URL, which could hold any
/// word.
fn head_refused(e: &reqwest::Error) -> bool {
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        let text = c.to_string();
        if ["invalid", "parse", "too large", "too many"].iter().any(|w| text.contains(w)) {
            return true;
        }
        cause = c.source();
    }
    false
}

async fn read_error_body(body: &mut Body<'_>, deadline: Instant) -> Vec<u8> {
    let mut buf = Vec::new();
    while buf.len() < ERROR_BODY_LIMIT {
        match timeout_at(deadline, body.chunk()).await {
            Ok(Ok(Some(b))) => buf.extend_from_slice(&b),
            _ => break,
        }
    }
    buf.truncate(ERROR_BODY_LIMIT);
    buf
}

async fn stream_body(
    spec: &ModelSpec,
    answer_tool: Option<&str>,
    mut body: Body<'_>,
    out: &mut Out<'_>,
    mut cancelled: std::pin::Pin<&mut tokio_util::sync::WaitForCancellationFuture<'_>>,
    mut timer: std::pin::Pin<&mut tokio::time::Sleep>,
    Deadlines { first: first_deadline, total: total_deadline }: Deadlines,
) {
    let t = spec.timeouts;
    let mut decoder = provider::decoder(spec.format);
    decoder.limit_events(spec.max_event_bytes);
    if let Some(name) = answer_tool {
        decoder.answer_in_tool(name);
    }
    let mut deltas = Vec::new();
    let mut got_token = false;
    let mut last_byte = Instant::now();
    loop {
        // Before the first token only the first-token limit applies (servers may send
        // keep-alives for a long time); afterwards, the idle limit between any two reads.
        let deadline = if got_token { (last_byte + t.idle).min(total_deadline) } else { first_deadline };
        // The timer must never be later than the deadline (rare: a first token after more than
        // idle_timeout_s, or total_timeout_s below idle_timeout_s); earlier is fine.
        if timer.deadline() > deadline {
            timer.as_mut().reset(deadline);
        }
        let read = tokio::select! {
            // Data first: the cancel check (a lock) then only runs when the body must wait, which
            // is also the only time a cancel has anything to interrupt.
            biased;
            r = body.chunk() => Ok(r),
            _ = &mut cancelled => return out.send(Instant::now(), EventKind::Cancelled),
            _ = expire(&mut timer, deadline) => Err(()),
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
                return out.fail(at, RequestError::new(ErrorKind::Cut, format!("connection broke mid-stream: {e}")));
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
            // Terminal event sent; dropping the body closes or returns the connection.
            body.finish().await;
            return;
        }
    }
}

/// Sends decoded deltas stamped `at`; true once a terminal one (finished or error) was sent.
fn emit(out: &mut Out<'_>, at: Instant, deltas: &mut Vec<Delta>, got_token: &mut bool) -> bool {
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
            Delta::Warning(w) => EventKind::Warning(w),
            Delta::ToolCall(c) if c.id.is_none() && !c.is_content() => continue,
            Delta::ToolCall(c) => {
                *got_token |= c.is_content();
                EventKind::ToolCall(c)
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::WireFormat;

    fn client(base_url: &str) -> ModelClient {
        ModelClient::new(ModelSpec::new("m", "openai", WireFormat::OpenAi, "m", base_url)).unwrap()
    }

    #[test]
    fn own_connections_only_for_plain_http() {
        // TLS and HTTP/2 stay with reqwest's pool.
        assert!(client("https://api.openai.com/v1").direct_conn().is_none());
        let c = client("http://127.0.0.1:8080/v1").direct_conn().expect("plain HTTP");
        assert_eq!((c.host.as_str(), c.port), ("127.0.0.1", 8080));
        let url = reqwest::Url::parse("http://127.0.0.1:8080/v1").unwrap();
        assert_eq!(authority(&url).unwrap(), "127.0.0.1:8080");
        let c = client("http://[::1]/v1").direct_conn().expect("IPv6, default port");
        assert_eq!((c.host.as_str(), c.port), ("::1", 80));
        assert_eq!(authority(&reqwest::Url::parse("http://[::1]/v1").unwrap()).unwrap(), "[::1]");
    }

    #[test]
    fn prepared_requests_carry_path_query_and_headers() {
        let mut spec = ModelSpec::new("m", "gemini", WireFormat::Gemini, "gemini-x", "http://127.0.0.1:9/v1beta");
        spec.headers = vec![("X-Team".into(), "evals".into())];
        let c = ModelClient::new(spec).unwrap();
        let p = c.prepare(&chat_request(c.spec(), vec![Message::user("hi")]));
        let wire = p.0.expect("builds");
        let r = std::str::from_utf8(&wire.direct).unwrap();
        let (head, body) = r.split_once("\r\n\r\n").unwrap();
        let lines: Vec<&str> = head.lines().collect();
        assert_eq!(lines[0], "POST /v1beta/models/gemini-x:streamGenerateContent?alt=sse HTTP/1.1");
        for h in ["host: 127.0.0.1:9", "x-team: evals", "accept: */*", &format!("content-length: {}", body.len())] {
            assert!(lines.contains(&h), "{h} in {lines:?}");
        }
        assert!(lines.iter().any(|l| l.starts_with("user-agent: bakeoff/")));
        assert_eq!(body.as_bytes(), &wire.body[..]);
        // A header value that cannot go on the wire fails that request, naming only the header.
        let mut bad = ModelSpec::new("m", "openai", WireFormat::OpenAi, "m", "http://127.0.0.1:9/v1");
        bad.headers = vec![("x-secret".into(), "line\nbreak".into())];
        let c = ModelClient::new(bad).unwrap();
        let e = c.prepare(&chat_request(c.spec(), vec![Message::user("hi")])).0.unwrap_err();
        assert!(e.message.contains("x-secret") && !e.message.contains("break"), "{}", e.message);
    }
}
