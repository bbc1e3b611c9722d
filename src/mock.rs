//! The built-in mock LLM server: speaks the four streaming wire formats bakeoff supports, with
//! scripted timing and faults. It is the offline demo backend and the target of the integration
//! tests, so its timing is exact (every chunk is scheduled from the request's arrival).
//!
//! # Routes
//!
//! One server serves all formats (the base URL is what a client is configured with):
//!
//! | Format    | Route                                                          | Base URL            |
//! |-----------|----------------------------------------------------------------|---------------------|
//! | OpenAI    | `POST /v1/chat/completions` (`stream:true` required)           | `http://ADDR/v1`    |
//! | Anthropic | `POST /v1/messages` (`stream:true`, `max_tokens`, `anthropic-version` required) | `http://ADDR` |
//! | Gemini    | `POST /v1beta/models/{model}:streamGenerateContent?alt=sse`    | `http://ADDR/v1beta`|
//! | Ollama    | `POST /api/chat` (NDJSON; `stream:false` is rejected)          | `http://ADDR`       |
//!
//! Embeddings (deterministic vectors, see [`embed`]): `POST /v1/embeddings`,
//! `POST /v1beta/models/{model}:batchEmbedContents`, `POST /api/embed`, at the same base URLs.
//!
//! Every response carries `x-request-id` (Anthropic also `request-id`). A bad request gets a 400
//! in that format's error envelope. Auth headers are accepted and ignored unless the script says
//! `key=required`. The answering model echoed in the stream is the script's NAME.
//!
//! # Scripting
//!
//! The model id carries the script: `NAME;key=value;key=value…`, for example
//! `swift;ttft=200;tps=80;tokens=120` or `flaky;fault=cut@40`. A plain id (`gpt-4o`) runs with
//! every default. Unknown keys, repeated keys (except `fault`) and bad values get a 400 naming
//! the key. Times are integer milliseconds measured from the request's arrival at the server.
//!
//! | Key | Default | Meaning |
//! |-----|---------|---------|
//! | `ttfb=MS` | 20 | Response headers are sent at this offset. |
//! | `ttft=MS` | 150 | First content-bearing chunk (reasoning or text); raised to `ttfb` if lower. Before it, formats send only their token-free preamble: OpenAI's role chunk (`content:""`) and Anthropic's `message_start` + `content_block_start` + `ping`, both at headers time. |
//! | `tps=N` | 50 | Output tokens per second after the first token (may be fractional). Chunk *k* is due at `ttft + (index of its first token)/tps`. |
//! | `tokens=N` | 60 | Visible answer tokens. |
//! | `reasoning=N` | 0 | Reasoning tokens streamed before the answer: OpenAI `delta.reasoning_content` (DeepSeek style), Anthropic thinking block at index 0 (`thinking_delta`…, `signature_delta`) with text at index 1, Gemini `{"text":…,"thought":true}` parts, Ollama `message.thinking`. |
//! | `chunk=N` | 1 | Tokens per chunk (a chunk never mixes reasoning and answer). |
//! | `jitter=F` | 0 | 0.0–1.0: each gap between chunks varies uniformly by ±F×gap. The random sequence is seeded from the model id and the prompt text, so the same request always gets the same timing; `seed=N` overrides the seed. |
//! | `usage=1\|0` | 1 | Whether usage is reported at all (OpenAI additionally needs `stream_options.include_usage:true`, like the real API). |
//! | `text=KIND` | `answer` | `answer`: a deterministic reply that quotes the first 60 characters of the last user message; `lorem`; `multibyte`: ASCII, accented Latin, Greek, Cyrillic, CJK, emoji (4-byte, ZWJ) — and each chunk's bytes are sent as two HTTP body frames split *inside* a multi-byte character; `escape`: text with ANSI/OSC escapes (`\x1b]0;pwned\x07`, `\x1b[2J`, `\x1b[31m`, OSC 8/52, DCS), bidi override, C1 CSI, NUL, DEL, backspace and bell. |
//! | `quality=1..5` | 3 | How the `answer` text reads: 1 terse, repetitive and partly off-topic; 2 generic; 3 plain paragraphs; 4 a numbered list; 5 summary, bullets and caveats. NAME also varies the wording. |
//! | `keepalive=MS` | off | SSE formats: a `: keep-alive` comment every MS between the headers and the first event after them. |
//! | `fault=F` | none | See below. May be repeated (e.g. `fault=stall@5:2000;fault=cut@40`). |
//! | `retry_after=S` | 1 | Seconds in the `retry-after` header of `fault=429` (Gemini also gets `RetryInfo.retryDelay`). |
//! | `fail_first=K` | — | Only the first K requests with this exact model id get the fault(s) (`fault=500` if none is given); later ones succeed. Counted per server. |
//! | `key=required` | optional | Requests without `authorization`, `x-api-key`, `x-goog-api-key` (or Gemini's `?key=`) get 401 in the format's envelope. |
//! | `seed=N` | from request | Jitter seed. |
//! | `overhead=MS` | — | Adds LiteLLM's `x-litellm-overhead-duration-ms: MS` header, as a proxy in front of a model would. |
//! | `tool_calls=auto\|none\|N` | `auto` | When the request offers tools: `auto` calls one when `tool_choice` requires it (the named tool, else the one the prompt mentions, else the first) or when the prompt mentions one (a word of three letters or more shared with a tool's name or description); `N` (1–16) makes N parallel calls, cycling through the tools; `none` never calls. A call replaces the answer text: its arguments (made from the tool's schema — required properties, strings from the prompt's capitalised words, numbers from its digits) stream in pieces of about four bytes like tokens, in each format's shape (Chat `delta.tool_calls`, Responses `function_call` items, Anthropic `tool_use` + `input_json_delta`; Gemini `functionCall` parts and Ollama `tool_calls` whole, once complete), and the finish is `tool_calls` / `tool_use` / `STOP` / `stop`. |
//! | (judge prompts) | — | A last user turn carrying bakeoff's judge markers is answered with the verdict JSON it asks for, graded from the answer's style, the taught answer and the judge's own quality (`src/mock/grader.rs`), so demo models can judge. |
//! | `reply=TEXT` | — | The answer is exactly TEXT, percent-encoded UTF-8 (`%3B` for `;`, `%20` for a space; `+` is literal), split into tokens as below with any trailing whitespace on the last one. Replaces `text`/`quality`; `tokens` is ignored (the reply decides its length; max tokens still caps it). E.g. `judge;reply=%7B%22score%22%3A4%7D` answers `{"score":4}`. |
//!
//! Tokens: one whitespace-delimited word piece with the whitespace before it (`" word"`,
//! `"\n\n1."`). Output tokens reported in usage are exactly the tokens sent (reasoning included,
//! and also reported separately where the format has a field: OpenAI
//! `completion_tokens_details.reasoning_tokens`, Anthropic `output_tokens_details.thinking_tokens`,
//! Gemini `thoughtsTokenCount`). Input tokens are ceil(characters of all message and system text
//! / 4), at least 1. The request's max tokens (`max_completion_tokens`/`max_tokens`,
//! `max_tokens`, `generationConfig.maxOutputTokens`, `options.num_predict`) caps reasoning +
//! answer together; a capped stream finishes with `length` / `max_tokens` / `MAX_TOKENS` /
//! `length`. The stream ends right after the last token (finish chunk, usage, terminator).
//!
//! Faults (`N` counts output tokens sent; "after N tokens" happens when token N+1 would have been
//! sent, and an N past the end means "instead of the normal finish"):
//!
//! | Fault | Effect |
//! |-------|--------|
//! | `429` | At `ttfb`: status 429, `retry-after`, the format's error envelope. |
//! | `500` | At `ttfb`: status 500 with the format's JSON error envelope. |
//! | `529` | At `ttfb`: status 529, Anthropic's `overloaded_error` (other formats: 529 in their own envelope). |
//! | `html502` | At `ttfb`: status 502 with an nginx-style HTML body. |
//! | `hang` | Accept the request and never send headers (the server still shuts down promptly). |
//! | `error@N` | In-stream error after N tokens: OpenAI `data: {"error":{…}}` then `data: [DONE]`; Anthropic `event: error` `overloaded_error` and no `message_stop`; Gemini `data: {"error":{…}}`; Ollama a `{"error":"…"}` line. The body then ends cleanly. |
//! | `cut@N` | After N tokens the connection is closed abruptly (mid chunked body): no terminator, no finish, no usage. |
//! | `eof@N` | After N tokens the HTTP body ends cleanly, but without `[DONE]` / `message_stop` / `finishReason` / `done:true`. |
//! | `malformed@N` | After N tokens one chunk that is not valid JSON, then the stream continues normally. |
//! | `stall@N:MS` | Pause MS after N tokens, then continue (all later chunks shift by MS). |
//! | `badargs` | The first tool call's arguments are cut off half-way (not valid JSON). Chat, Responses and Anthropic only: Gemini and Ollama send arguments as objects. |
//!
//! Limits: at most 100 000 tokens per stream and 24 h for any time value.

pub mod calls;
pub mod embed;
pub mod example;
mod grader;
mod media;
mod schedule;
mod script;
mod text;
mod wire;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use axum::routing::any;
use bytes::Bytes;
use serde_json::Value;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::provider::WireFormat;
use schedule::Event;
use script::{Fault, Script, TextKind};
use wire::{ApiError, Ctx, Encoder};

/// Request bodies above this are refused (Anthropic's own limit is 32 MB).
const MAX_BODY: usize = 32 * 1024 * 1024;

/// A running mock server. Dropping it stops it too (in the background).
pub struct MockServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: Option<JoinHandle<()>>,
}

/// Counters the tests read.
#[derive(Debug, Default)]
pub struct MockStats {
    requests: AtomicU64,
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
    /// When each request's first token was handed to the connection, by request id (only after
    /// [`MockServer::record_first_tokens`]).
    first_tokens: Mutex<Option<HashMap<String, Duration>>>,
}

/// First tokens recorded at most: a benchmark's worth, never unbounded.
const MAX_FIRST_TOKENS: usize = 1_000_000;

impl MockStats {
    /// Requests received on any route.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }
    /// Requests being handled right now, streams included until their body ends or is dropped.
    pub fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::SeqCst)
    }
    /// The highest `in_flight` seen.
    pub fn max_in_flight(&self) -> u64 {
        self.max_in_flight.load(Ordering::SeqCst)
    }

    /// When the first token of request `request_id` (its `x-request-id`) was handed to the
    /// connection, from the moment the request reached the handler: the server's own TTFT, to
    /// tell a client's overhead from the server's lateness. `None` unless recording.
    pub fn first_token_written(&self, request_id: &str) -> Option<Duration> {
        let recorded = self.first_tokens.lock().unwrap_or_else(|p| p.into_inner());
        recorded.as_ref()?.get(request_id).copied()
    }

    fn first_token(&self, request_id: &str, at: Duration) {
        let mut recorded = self.first_tokens.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(map) = recorded.as_mut()
            && map.len() < MAX_FIRST_TOKENS
        {
            map.insert(request_id.to_string(), at);
        }
    }

    fn begin(self: &Arc<Self>) -> InFlight {
        self.requests.fetch_add(1, Ordering::SeqCst);
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight(self.clone())
    }
}

/// Counts one request as in flight until dropped (with the response body, for streams).
struct InFlight(Arc<MockStats>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

struct Shared {
    stats: Arc<MockStats>,
    /// `fail_first` counters, keyed by the full model id.
    attempts: Mutex<HashMap<String, u64>>,
    next_id: AtomicU64,
    /// Makes ids differ between servers.
    salt: u64,
    shutdown: CancellationToken,
    /// Prompt prefixes sent to `cache=1` models (hashes of API, model id and text so far).
    cached_prefixes: Mutex<std::collections::HashSet<u64>>,
    /// Answers taught with [`MockServer::teach`], by a hash of the prompt.
    known: Mutex<HashMap<u64, Known>>,
}

/// A taught answer and the length limit a knowing answer keeps to.
type Known = (Arc<str>, Option<usize>);

/// `text` cut to at most `max` characters, at the last whitespace before the cut when there is
/// one, trailing whitespace dropped.
fn cut_to(text: &str, max: usize) -> String {
    let Some((end, _)) = text.char_indices().nth(max) else { return text.trim_end().to_string() };
    let head = &text[..end];
    let head = match head.rfind(char::is_whitespace) {
        Some(i) if i > 0 => &head[..i],
        _ => head,
    };
    head.trim_end().to_string()
}

/// Answers a mock server can be taught at most.
const MAX_KNOWN: usize = 100_000;

/// Prefixes the mock's prompt cache holds at most; it starts over when full.
const MAX_CACHED_PREFIXES: usize = 100_000;

/// What a request's prompt found in the mock's prompt cache, in tokens.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct CacheUse {
    read: u64,
    written: u64,
}

impl Shared {
    /// Looks the prompt up in the cache (`cache=1`) and adds its prefixes. Anthropic caches only
    /// up to the request's `cache_control` breakpoints, so without any nothing is read or written
    /// there; with them, what was not read is written.
    fn prompt_cache(&self, format: WireFormat, parsed: &Parsed, input_tokens: u64) -> CacheUse {
        let tokens = |chars: usize| (chars.div_ceil(4) as u64).min(input_tokens);
        if format == WireFormat::Anthropic && !parsed.cache_control {
            return CacheUse::default();
        }
        let mut seen = self.cached_prefixes.lock().unwrap_or_else(|p| p.into_inner());
        let hit = parsed.prefixes.iter().rev().find(|(h, _)| seen.contains(h)).map_or(0, |&(_, chars)| chars);
        if seen.len() + parsed.prefixes.len() > MAX_CACHED_PREFIXES {
            seen.clear();
        }
        seen.extend(parsed.prefixes.iter().map(|&(h, _)| h));
        let read = tokens(hit);
        let written = if format == WireFormat::Anthropic { input_tokens - read } else { 0 };
        CacheUse { read, written }
    }
}

impl Shared {
    fn request_id(&self) -> String {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut rng = text::SplitMix::new(self.salt ^ n);
        format!("req_mock{:016x}{:08x}", rng.next_u64(), n)
    }
}

impl MockServer {
    /// Binds (port 0 allowed) and serves on the current tokio runtime until dropped or shut down.
    pub async fn start(addr: SocketAddr) -> anyhow::Result<MockServer> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        // Without TCP_NODELAY, Nagle's algorithm and delayed ACKs hold back back-to-back chunks
        // by ~40 ms — a mock that distorts the timings it exists to script.
        use axum::serve::ListenerExt;
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let salt = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
            ^ u64::from(addr.port());
        let shared = Arc::new(Shared {
            stats: Arc::new(MockStats::default()),
            attempts: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            salt,
            shutdown: CancellationToken::new(),
            cached_prefixes: Mutex::default(),
            known: Mutex::default(),
        });
        let app = router(shared.clone());
        let stop = shared.shutdown.clone();
        let task = tokio::spawn(async move {
            // Graceful shutdown waits for open connections; every stream and `hang` request
            // watches the same token, so they all end as soon as it fires.
            let _ = axum::serve(listener, app).with_graceful_shutdown(stop.cancelled_owned()).await;
        });
        Ok(MockServer { addr, shared, task: Some(task) })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Base URL a client for `format` is configured with.
    pub fn base_url(&self, format: WireFormat) -> String {
        base_url(self.addr, format)
    }

    /// Teaches the server what a good answer to `prompt` (the last user turn) contains. A model
    /// then knows it in proportion to its `quality`: 1 in 5 prompts at quality 1, all at 5
    /// (which prompts, decided by the model's name and the prompt), and starts its answer with it.
    /// The built-in demo teaches the case set it runs, so its models differ as real ones would.
    pub fn teach(&self, prompt: &str, answer: &str) {
        self.teach_within(prompt, answer, None);
    }

    /// [`teach`](Self::teach), and a knowing answer stays within `max_chars` characters (the
    /// case limits its length): the known part first, the usual prose cut to fit.
    pub fn teach_within(&self, prompt: &str, answer: &str, max_chars: Option<usize>) {
        let mut known = self.shared.known.lock().unwrap_or_else(|e| e.into_inner());
        if known.len() < MAX_KNOWN {
            known.insert(text::fnv1a(&[prompt.trim().as_bytes()]), (answer.into(), max_chars));
        }
    }

    pub fn stats(&self) -> &MockStats {
        &self.shared.stats
    }

    /// From now on, notes when each request's first token is written
    /// ([`MockStats::first_token_written`]; up to a million requests).
    pub fn record_first_tokens(&self) {
        self.shared.stats.first_tokens.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert_with(HashMap::new);
    }

    /// Stops accepting, ends every open stream (abruptly) and waits for the server to finish.
    pub async fn shutdown(mut self) {
        self.shared.shutdown.cancel();
        if let Some(mut task) = self.task.take() {
            // Belt and braces: nothing should keep it alive this long, but never hang a test.
            if tokio::time::timeout(Duration::from_secs(5), &mut task).await.is_err() {
                task.abort();
            }
        }
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.shared.shutdown.cancel();
    }
}

/// The base URL a client for `format` uses with a mock server at `addr` (in process or not).
pub fn base_url(addr: SocketAddr, format: WireFormat) -> String {
    match format {
        WireFormat::OpenAi | WireFormat::OpenAiResponses => format!("http://{addr}/v1"),
        WireFormat::Anthropic | WireFormat::Ollama => format!("http://{addr}"),
        WireFormat::Gemini => format!("http://{addr}/v1beta"),
    }
}

/// For `bakeoff mock-server --addr`: start, print the listening address and one base URL per
/// format, serve until Ctrl-C.
pub async fn serve_until_ctrl_c(addr: SocketAddr) -> anyhow::Result<()> {
    let server = MockServer::start(addr).await?;
    let mut banner = format!("mock server listening on http://{}\n", server.addr());
    for f in
        [WireFormat::OpenAi, WireFormat::OpenAiResponses, WireFormat::Anthropic, WireFormat::Gemini, WireFormat::Ollama]
    {
        banner.push_str(&format!("  {:<16} {}\n", f.as_str(), server.base_url(f)));
    }
    // Nobody reading the banner is no reason to stop serving.
    let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), banner.as_bytes());
    tokio::signal::ctrl_c().await?;
    server.shutdown().await;
    Ok(())
}

/// A demo model bakeoff shows with no config.
#[derive(Clone, Debug, PartialEq)]
pub struct DemoModel {
    pub name: &'static str,
    pub format: WireFormat,
    /// The model id to send: carries the mock script.
    pub model_id: &'static str,
    pub input_per_mtok: f64,
    pub output_per_mtok: f64,
    pub blurb: &'static str,
}

/// One demo model per wire format, visibly different in speed, cost and quality. Each finishes
/// within about 4 s.
pub fn demo_models() -> Vec<DemoModel> {
    vec![
        DemoModel {
            name: "swift-mini",
            format: WireFormat::OpenAi,
            model_id: "swift-mini;ttft=180;tps=120;tokens=90;quality=2;jitter=0.3",
            input_per_mtok: 0.15,
            output_per_mtok: 0.60,
            blurb: "Fast and cheap, but terse and a little sloppy (OpenAI format).",
        },
        DemoModel {
            name: "steady-pro",
            format: WireFormat::Anthropic,
            model_id: "steady-pro;ttfb=120;ttft=450;tps=60;tokens=160;quality=4;jitter=0.15",
            input_per_mtok: 3.0,
            output_per_mtok: 15.0,
            blurb: "Slower to start, careful structured answers, pricey (Anthropic format).",
        },
        DemoModel {
            name: "deep-think",
            format: WireFormat::Gemini,
            model_id: "deep-think;ttft=300;tps=80;reasoning=60;tokens=140;chunk=3;quality=5;jitter=0.2",
            input_per_mtok: 1.25,
            output_per_mtok: 10.0,
            blurb: "Thinks first (60 reasoning tokens), then the most thorough answer (Gemini format).",
        },
        DemoModel {
            name: "local-llama",
            format: WireFormat::Ollama,
            model_id: "local-llama;ttfb=650;ttft=700;tps=35;tokens=100;quality=3;jitter=0.1",
            input_per_mtok: 0.0,
            output_per_mtok: 0.0,
            blurb: "Runs locally: slow cold start, modest speed, free (Ollama format).",
        },
    ]
}

fn router(shared: Arc<Shared>) -> Router {
    let route = |format: WireFormat| {
        let shared = shared.clone();
        any(move |req: Request| handle(shared.clone(), Some(format), req))
    };
    let embed_route = |format: WireFormat| {
        let shared = shared.clone();
        any(move |req: Request| handle_embed(shared.clone(), format, req))
    };
    let fallback = {
        let shared = shared.clone();
        move |req: Request| handle(shared.clone(), None, req)
    };
    Router::new()
        .route("/v1/chat/completions", route(WireFormat::OpenAi))
        .route("/v1/responses", route(WireFormat::OpenAiResponses))
        .route("/v1/messages", route(WireFormat::Anthropic))
        .route("/v1beta/models/{*rest}", route(WireFormat::Gemini))
        .route("/api/chat", route(WireFormat::Ollama))
        .route("/v1/embeddings", embed_route(WireFormat::OpenAi))
        .route("/api/embed", embed_route(WireFormat::Ollama))
        .fallback(fallback)
}

/// Entry point for embeddings requests: counted and stamped as chat requests are.
async fn handle_embed(shared: Arc<Shared>, format: WireFormat, req: Request) -> Response {
    let start = Instant::now();
    let _guard = shared.stats.begin();
    let request_id = shared.request_id();
    let mut resp = match embed::serve(&shared, format, req, start, &request_id).await {
        Ok(r) | Err(Reply::Done(r)) => r,
        Err(Reply::Api(e)) => error_response(format, &e, &request_id),
    };
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}

/// Entry point for every request: counts it, stamps the request id, answers.
async fn handle(shared: Arc<Shared>, format: Option<WireFormat>, req: Request) -> Response {
    if format == Some(WireFormat::Gemini) && embed::is_embeddings(WireFormat::Gemini, req.uri().path()) {
        return handle_embed(shared, WireFormat::Gemini, req).await;
    }
    // The clock every offset in the script is measured from.
    let start = Instant::now();
    let guard = shared.stats.begin();
    let request_id = shared.request_id();
    let (format, mut resp) = match format {
        Some(format) => {
            let resp = match serve(&shared, format, req, start, guard, &request_id).await {
                Ok(r) | Err(Reply::Done(r)) => r,
                Err(Reply::Api(e)) => error_response(format, &e, &request_id),
            };
            (format, resp)
        }
        None => {
            let path = req.uri().path().to_string();
            let format = guess_format(&path);
            let e = ApiError::new(
                404,
                format!(
                    "mock server has no route {path}; routes: POST /v1/chat/completions, /v1/responses, \
                     /v1/messages, /v1beta/models/{{model}}:streamGenerateContent?alt=sse, /api/chat, \
                     /v1/embeddings, /v1beta/models/{{model}}:batchEmbedContents, /api/embed"
                ),
            );
            (format, error_response(format, &e, &request_id))
        }
    };
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        if format == WireFormat::Anthropic {
            resp.headers_mut().insert("request-id", v.clone());
        }
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}

fn guess_format(path: &str) -> WireFormat {
    if path.starts_with("/v1beta") {
        WireFormat::Gemini
    } else if path.starts_with("/api") {
        WireFormat::Ollama
    } else if path.starts_with("/v1/messages") {
        WireFormat::Anthropic
    } else if path.starts_with("/v1/responses") {
        WireFormat::OpenAiResponses
    } else {
        WireFormat::OpenAi
    }
}

/// Why `serve` stopped early: an error to put in the envelope, or a finished response.
enum Reply {
    Api(ApiError),
    Done(Response),
}

impl From<ApiError> for Reply {
    fn from(e: ApiError) -> Self {
        Reply::Api(e)
    }
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::new(400, message)
}

impl Parsed {
    /// A message's images and files, their tokens counted; a bad one is the request's 400.
    fn media(&mut self, format: WireFormat, message: &Value) -> Result<Vec<media::Media>, ApiError> {
        let found = media::in_message(format, message).map_err(bad)?;
        self.media_tokens += found.iter().map(media::Media::tokens).sum::<u64>();
        Ok(found)
    }
}

/// What the mock needs from a request body, whatever the format.
#[derive(Debug, Default)]
struct Parsed {
    model_id: String,
    /// Characters of all message and system text.
    chars: usize,
    /// Everything, for the jitter seed.
    all_text: String,
    last_user: String,
    max_tokens: Option<u64>,
    include_usage: bool,
    /// The tools offered, read back from the format's own spelling.
    tools: crate::provider::tools::Tools,
    /// The conversation ends with a tool's result: the model answers it instead of calling again.
    after_tool_result: bool,
    /// (hash of the API, the model id and the prompt's text pieces so far, their characters), one per
    /// piece in order: the prefixes a prompt cache could match.
    prefixes: Vec<(u64, usize)>,
    /// Anthropic: the request marks cache breakpoints (`cache_control`).
    cache_control: bool,
    /// Structured output: the JSON Schema the answer must follow, in the format's own field
    /// (Anthropic's is a forced tool, answered as a tool call).
    schema: Option<Value>,
    /// Input tokens of every image and file in the conversation.
    media_tokens: u64,
    /// The images and files of the last user turn.
    last_media: Vec<media::Media>,
    /// User turns in the conversation (a follow-up has two or more).
    user_turns: u32,
    /// The conversation's first user turn (a follow-up's answer recalls it).
    first_user: Option<String>,
}

// Long by design: the request's whole life in order (parse, script, schedule, faults, stream),
// each step a few lines that read the previous step's locals.
async fn serve(
    shared: &Arc<Shared>,
    format: WireFormat,
    req: Request,
    start: Instant,
    guard: InFlight,
    request_id: &str,
) -> Result<Response, Reply> {
    if req.method() != Method::POST {
        return Err(ApiError::new(405, format!("method {} not allowed; use POST", req.method())).into());
    }
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let headers = req.headers().clone();
    let gemini_model = if format == WireFormat::Gemini { Some(gemini_path(&path, &query)?) } else { None };
    let body = axum::body::to_bytes(req.into_body(), MAX_BODY)
        .await
        .map_err(|e| bad(format!("could not read request body: {e}")))?;
    let json: Value = serde_json::from_slice(&body).map_err(|e| bad(format!("request body is not valid JSON: {e}")))?;
    let parsed = parse_body(format, &json, &headers, gemini_model)?;
    let mut script = script::parse(&parsed.model_id).map_err(|e| bad(e.0))?;

    before_answer(shared, format, &mut script, &parsed.model_id, (&headers, &query), start, request_id).await?;
    let token = &shared.shutdown;

    let input_tokens = parsed.chars.div_ceil(4).max(1) as u64 + parsed.media_tokens;
    let cache = if script.cache { shared.prompt_cache(format, &parsed, input_tokens) } else { CacheUse::default() };
    if cache.read > 0 {
        // A cache hit answers sooner: up to half the scripted TTFT, in proportion to the share
        // of the prompt read from the cache (never before the headers).
        let saved = script.ttft_ms as f64 * 0.5 * cache.read as f64 / input_tokens as f64;
        script.ttft_ms = (script.ttft_ms - saved as u64).max(script.ttfb_ms);
    }
    let seed = script.seed.unwrap_or_else(|| text::fnv1a(&[parsed.model_id.as_bytes(), parsed.all_text.as_bytes()]));
    // Gemini and Ollama send arguments as objects, never as text that could be cut.
    let bad_args = script.faults.contains(&Fault::BadArgs)
        && matches!(format, WireFormat::OpenAi | WireFormat::OpenAiResponses | WireFormat::Anthropic);
    let calls = if parsed.after_tool_result {
        Vec::new()
    } else {
        calls::plan(script.tool_calls, &parsed.tools, &parsed.last_user, request_id, bad_args)
    };
    if let Some(schema) = parsed.schema.as_ref().filter(|_| calls.is_empty() && script.reply.is_none()) {
        script.reply = Some(structured_answer(schema, &parsed.last_user, script.quality, seed));
    }
    if calls.is_empty() && script.reply.is_none() && parsed.schema.is_none() && script.text == TextKind::Answer {
        // A judge prompt from bakeoff gets a verdict (see `grader`).
        script.reply = grader::reply(&parsed.last_user, &script.name, script.quality, |prompt| {
            let known = shared.known.lock().unwrap_or_else(|e| e.into_inner());
            known.get(&text::fnv1a(&[prompt.trim().as_bytes()])).map(|(a, _)| a.to_string())
        });
    }
    let known = (calls.is_empty() && script.reply.is_none() && parsed.schema.is_none())
        .then(|| {
            let known = shared.known.lock().unwrap_or_else(|e| e.into_inner());
            known.get(&text::fnv1a(&[parsed.last_user.trim().as_bytes()])).cloned()
        })
        .flatten()
        .filter(|_| {
            text::fnv1a(&[script.name.as_bytes(), parsed.last_user.as_bytes()]) % 5 < u64::from(script.quality)
        });
    if let Some((answer, max_chars)) = known {
        let rest = text::answer(script.text, &script.name, script.quality, &parsed.last_user, script.tokens as usize);
        let mut reply = format!("{answer}\n\n{}", rest.concat());
        if let Some(max) = max_chars {
            // The known part whole, even past the limit; the prose only where it fits.
            reply = if answer.chars().count() >= max { answer.to_string() } else { cut_to(&reply, max) };
        }
        script.reply = Some(reply);
    }
    if (!parsed.last_media.is_empty() || parsed.user_turns >= 2) && calls.is_empty() && script.reply.is_none() {
        // An answer to an image or a document starts by saying what it was shown; a follow-up,
        // which turn of the conversation it answers.
        let rest = text::answer(script.text, &script.name, script.quality, &parsed.last_user, script.tokens as usize);
        let turn = match (&parsed.first_user, parsed.user_turns) {
            (Some(first), n @ 2..) => {
                let first: String = first.chars().take(60).collect();
                format!("(Turn {n} of our conversation; you first said “{}”.) ", first.trim())
            }
            _ => String::new(),
        };
        script.reply = Some(turn + &media::seen(&parsed.last_media) + &rest.concat());
    }
    let sched = schedule::build(&script, &parsed.last_user, parsed.max_tokens, seed, &calls);
    let ctx = Ctx {
        format,
        model: script.name.clone(),
        id: match format {
            WireFormat::OpenAi => format!("chatcmpl-{}", &request_id[8..]),
            WireFormat::OpenAiResponses => format!("resp_{}", &request_id[8..]),
            WireFormat::Anthropic => format!("msg_{}", &request_id[8..]),
            _ => request_id[8..].to_string(),
        },
        wall_start: SystemTime::now() - start.elapsed(),
        input_tokens,
        cached_tokens: cache.read,
        cache_write_tokens: cache.written,
        usage: script.usage,
        include_usage: parsed.include_usage,
        has_reasoning: sched.planned.reasoning > 0,
        ttft: Duration::from_millis(script.ttft_ms),
        tps: script.tps,
        calls,
    };
    let frames = frames(&sched, Encoder::new(ctx), script.text == TextKind::Multibyte);
    let sse = format != WireFormat::Ollama;
    let keepalive = sched.keepalive.filter(|_| sse).map(|(every, until)| (sched.ttfb + every, every, until));
    let body = BodyState {
        start,
        frames: frames.into_iter(),
        next: None,
        keepalive,
        shutdown: token.clone(),
        done: false,
        guard,
        request_id: request_id.to_string(),
    };
    let content_type = if sse { "text/event-stream; charset=utf-8" } else { "application/x-ndjson" };
    let mut resp = Response::new(Body::from_stream(futures_util::stream::unfold(body, next_frame)));
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if matches!(format, WireFormat::OpenAi | WireFormat::OpenAiResponses) {
        h.insert("openai-processing-ms", HeaderValue::from(script.ttfb_ms));
    }
    if let Some(ms) = script.overhead_ms {
        h.insert("x-litellm-overhead-duration-ms", HeaderValue::from(ms));
    }
    Ok(resp)
}

/// A structured answer: JSON made from the schema and the prompt. A sloppy model (`quality` 1
/// always, 2 on every other seed) leaves out the last property of the top object, as models
/// without enforced schemas do, so schema-valid rates differ between demo models.
fn structured_answer(schema: &Value, prompt: &str, quality: u8, seed: u64) -> String {
    let mut answer = calls::value_for(schema, prompt);
    let sloppy = quality <= 1 || (quality == 2 && seed.is_multiple_of(2));
    if sloppy
        && let Value::Object(o) = &mut answer
        && let Some(last) = o.keys().next_back().cloned()
    {
        o.remove(&last);
    }
    serde_json::to_string_pretty(&answer).unwrap_or_default()
}

/// `models/{model}:streamGenerateContent` with `alt=sse`; returns the (percent-decoded) model.
fn gemini_path(path: &str, query: &str) -> Result<String, ApiError> {
    let rest = path.strip_prefix("/v1beta/models/").unwrap_or(path);
    let (model, action) = rest.rsplit_once(':').ok_or_else(|| {
        ApiError::new(404, format!("no method in {path}; expected models/{{model}}:streamGenerateContent"))
    })?;
    if action != "streamGenerateContent" {
        return Err(bad(format!("the mock server only implements :streamGenerateContent?alt=sse (got :{action})")));
    }
    if !query.split('&').any(|kv| kv == "alt=sse") {
        return Err(bad("missing ?alt=sse: without it streamGenerateContent streams one JSON array instead of \
             server-sent events, which bakeoff does not read (and this mock does not produce)"));
    }
    let model = percent_decode(model).ok_or_else(|| bad("model in the URL is not valid percent-encoded UTF-8"))?;
    Ok(model)
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn has_key(headers: &HeaderMap, query: &str) -> bool {
    let header_set =
        ["authorization", "x-api-key", "x-goog-api-key"].iter().any(|h| headers.get(*h).is_some_and(|v| !v.is_empty()));
    header_set || query.split('&').any(|kv| kv.starts_with("key=") && kv.len() > 4)
}

/// Text of a content value: a string, or an array of parts/blocks with `text`.
fn content_text(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(parts) => {
            for p in parts {
                if let Some(t) = p.get("text").and_then(Value::as_str) {
                    out.push(t.to_string());
                } else if let Value::String(s) = p {
                    out.push(s.clone());
                }
            }
        }
        _ => {}
    }
}

fn opt_u64(v: Option<&Value>, name: &str) -> Result<Option<u64>, ApiError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| bad(format!("{name}: expected a non-negative integer, got {v}"))),
    }
}

// Long by design: one arm per request field of each wire format, read in the order the formats
// document them; splitting it would scatter one table over several functions.
fn parse_body(
    format: WireFormat,
    json: &Value,
    headers: &HeaderMap,
    gemini_model: Option<String>,
) -> Result<Parsed, ApiError> {
    if !json.is_object() {
        return Err(bad("request body must be a JSON object"));
    }
    let mut p = Parsed::default();
    let mut texts: Vec<String> = Vec::new();
    let model = |json: &Value| -> Result<String, ApiError> {
        match json.get("model").and_then(Value::as_str) {
            Some(m) if !m.is_empty() => Ok(m.to_string()),
            _ => Err(bad("model: field required (a non-empty string)")),
        }
    };
    let stream_true = json.get("stream").and_then(Value::as_bool) == Some(true);
    match format {
        WireFormat::OpenAi | WireFormat::Anthropic | WireFormat::Ollama => {
            p.model_id = model(json)?;
            if format == WireFormat::Anthropic {
                if headers.get("anthropic-version").is_none() {
                    return Err(bad("anthropic-version: header is required"));
                }
                if let Some(system) = json.get("system") {
                    content_text(system, &mut texts);
                }
            }
            if format == WireFormat::Ollama {
                if json.get("stream").and_then(Value::as_bool) == Some(false) {
                    return Err(bad("the mock server only streams; omit stream or set it to true"));
                }
            } else if !stream_true {
                return Err(bad("the mock server only streams; set \"stream\": true"));
            }
            let messages = json
                .get("messages")
                .and_then(Value::as_array)
                .ok_or_else(|| bad("messages: field required (an array)"))?;
            for m in messages {
                let mut these = Vec::new();
                if let Some(c) = m.get("content") {
                    content_text(c, &mut these);
                }
                let seen = p.media(format, m)?;
                if m.get("role").and_then(Value::as_str) == Some("user") {
                    p.last_user = these.join("\n");
                    p.user_turns += 1;
                    p.first_user.get_or_insert_with(|| p.last_user.clone());
                    p.last_media = seen;
                }
                texts.extend(these);
            }
            match format {
                WireFormat::OpenAi => {
                    p.max_tokens = match opt_u64(json.get("max_completion_tokens"), "max_completion_tokens")? {
                        Some(n) => Some(n),
                        None => opt_u64(json.get("max_tokens"), "max_tokens")?,
                    };
                    p.include_usage =
                        json.pointer("/stream_options/include_usage").and_then(Value::as_bool).unwrap_or(false);
                }
                WireFormat::Anthropic => {
                    p.max_tokens = Some(
                        opt_u64(json.get("max_tokens"), "max_tokens")?
                            .ok_or_else(|| bad("max_tokens: Field required"))?,
                    );
                }
                _ => {
                    // num_predict < 0 means "no limit" in Ollama.
                    p.max_tokens = match json.pointer("/options/num_predict") {
                        None | Some(Value::Null) => None,
                        Some(v) => match v.as_i64() {
                            Some(n) if n < 0 => None,
                            Some(n) => Some(n as u64),
                            None => return Err(bad(format!("options.num_predict: expected an integer, got {v}"))),
                        },
                    };
                }
            }
        }
        WireFormat::OpenAiResponses => {
            p.model_id = model(json)?;
            if !stream_true {
                return Err(bad("the mock server only streams; set \"stream\": true"));
            }
            if let Some(i) = json.get("instructions") {
                content_text(i, &mut texts);
            }
            // `input` is a string (one user message) or a list of items.
            match json.get("input") {
                Some(Value::String(s)) => {
                    p.last_user = s.clone();
                    p.user_turns = 1;
                    texts.push(s.clone());
                }
                Some(Value::Array(items)) => {
                    for item in items {
                        let mut these = Vec::new();
                        if let Some(c) = item.get("content") {
                            content_text(c, &mut these);
                        }
                        let seen = p.media(format, item)?;
                        if item.get("role").and_then(Value::as_str) == Some("user") {
                            p.last_user = these.join("\n");
                            p.user_turns += 1;
                            p.first_user.get_or_insert_with(|| p.last_user.clone());
                            p.last_media = seen;
                        }
                        texts.extend(these);
                    }
                }
                _ => return Err(bad("input: field required (a string or an array of items)")),
            }
            p.max_tokens = opt_u64(json.get("max_output_tokens"), "max_output_tokens")?;
            // Responses always reports usage in `response.completed`.
            p.include_usage = true;
        }
        WireFormat::Gemini => {
            p.model_id = gemini_model.unwrap_or_default();
            if let Some(parts) = json.pointer("/systemInstruction/parts") {
                content_text(parts, &mut texts);
            }
            let contents = json
                .get("contents")
                .and_then(Value::as_array)
                .ok_or_else(|| bad("contents: field required (an array)"))?;
            for c in contents {
                let mut these = Vec::new();
                if let Some(parts) = c.get("parts") {
                    content_text(parts, &mut these);
                }
                let seen = p.media(format, c)?;
                // Gemini's role defaults to user.
                if c.get("role").and_then(Value::as_str).unwrap_or("user") == "user" {
                    p.last_user = these.join("\n");
                    p.user_turns += 1;
                    p.first_user.get_or_insert_with(|| p.last_user.clone());
                    p.last_media = seen;
                }
                texts.extend(these);
            }
            p.max_tokens = opt_u64(json.pointer("/generationConfig/maxOutputTokens"), "maxOutputTokens")?;
        }
    }
    p.tools = request_tools(format, json)?;
    p.after_tool_result = ends_with_tool_result(format, json);
    // Tool definitions are part of the prompt a real API bills.
    let tool_chars = if p.tools.tools.is_empty() { 0 } else { json.get("tools").map_or(0, |t| t.to_string().len()) };
    p.chars = texts.iter().map(|t| t.chars().count()).sum::<usize>() + tool_chars;
    let mut chars = 0;
    // Per API and model, as a provider's cache is.
    let mut hash = text::fnv1a(&[format.as_str().as_bytes(), p.model_id.as_bytes()]);
    for t in &texts {
        chars += t.chars().count();
        hash = text::fnv1a(&[&hash.to_le_bytes(), t.as_bytes()]);
        p.prefixes.push((hash, chars));
    }
    p.cache_control = format == WireFormat::Anthropic && names_field(json, "cache_control");
    p.schema = requested_schema(format, json);
    p.all_text = texts.join("\n");
    Ok(p)
}

/// The structured-output schema a request asks for: Chat `response_format` (json_schema),
/// Responses `text.format`, Gemini `generationConfig.responseSchema` (or `responseJsonSchema`),
/// Ollama `format` (an object; `"json"` asks for any JSON object).
fn requested_schema(format: WireFormat, json: &Value) -> Option<Value> {
    fn json_schema(v: Option<&Value>) -> Option<&Value> {
        v.filter(|f| f.get("type").and_then(Value::as_str) == Some("json_schema"))
    }
    match format {
        WireFormat::OpenAi => {
            json_schema(json.get("response_format")).and_then(|f| f.pointer("/json_schema/schema")).cloned()
        }
        WireFormat::OpenAiResponses => json_schema(json.pointer("/text/format")).and_then(|f| f.get("schema")).cloned(),
        WireFormat::Gemini => {
            let config = json.get("generationConfig")?;
            config.get("responseJsonSchema").or_else(|| config.get("responseSchema")).cloned()
        }
        WireFormat::Ollama => match json.get("format") {
            Some(s @ Value::Object(_)) => Some(s.clone()),
            Some(Value::String(s)) if s == "json" => Some(serde_json::json!({"type": "object"})),
            _ => None,
        },
        WireFormat::Anthropic => None,
    }
}

/// Whether `key` names a field anywhere in `v` (without writing the body out again; the JSON
/// parser's depth limit bounds the recursion).
fn names_field(v: &Value, key: &str) -> bool {
    match v {
        Value::Object(o) => o.contains_key(key) || o.values().any(|v| names_field(v, key)),
        Value::Array(a) => a.iter().any(|v| names_field(v, key)),
        _ => false,
    }
}

/// Whether the request's conversation ends with a tool's result, in the format's own shape.
fn ends_with_tool_result(format: WireFormat, json: &Value) -> bool {
    let last = |key: &str| json.get(key).and_then(Value::as_array).and_then(|a| a.last());
    let has = |parts: Option<&Value>, key: &str, value: Option<&str>| {
        parts.and_then(Value::as_array).is_some_and(|ps| {
            ps.iter().any(|p| match value {
                Some(v) => p.get(key).and_then(Value::as_str) == Some(v),
                None => p.get(key).is_some(),
            })
        })
    };
    match format {
        WireFormat::OpenAi | WireFormat::Ollama => {
            last("messages").and_then(|m| m.get("role")).and_then(Value::as_str) == Some("tool")
        }
        WireFormat::OpenAiResponses => {
            last("input").and_then(|m| m.get("type")).and_then(Value::as_str) == Some("function_call_output")
        }
        WireFormat::Anthropic => has(last("messages").and_then(|m| m.get("content")), "type", Some("tool_result")),
        WireFormat::Gemini => has(last("contents").and_then(|c| c.get("parts")), "functionResponse", None),
    }
}

/// The tools a request offers, each format's spelling read back into one (a bad definition is
/// the 400 a real API would answer).
fn request_tools(format: WireFormat, json: &Value) -> Result<crate::provider::tools::Tools, ApiError> {
    use crate::provider::tools::Tools;
    let (tools, choice) = match format {
        WireFormat::Gemini => {
            let decls: Vec<Value> = json
                .get("tools")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|t| t.get("functionDeclarations").and_then(Value::as_array))
                .flatten()
                .cloned()
                .collect();
            let config = json.pointer("/toolConfig/functionCallingConfig");
            let choice = match config.and_then(|c| c.get("mode")).and_then(Value::as_str) {
                Some("NONE") => Some(serde_json::json!("none")),
                Some("ANY") => match config.and_then(|c| c.pointer("/allowedFunctionNames/0")) {
                    Some(name) => Some(name.clone()),
                    None => Some(serde_json::json!("required")),
                },
                Some("AUTO") => Some(serde_json::json!("auto")),
                _ => None,
            };
            ((!decls.is_empty()).then_some(Value::Array(decls)), choice)
        }
        WireFormat::Anthropic => {
            let choice = json.get("tool_choice").map(|c| match c.get("type").and_then(Value::as_str) {
                Some("any") => serde_json::json!("required"),
                Some("tool") => c.get("name").cloned().unwrap_or(Value::Null),
                Some(t) => serde_json::json!(t),
                None => Value::Null,
            });
            (json.get("tools").cloned(), choice)
        }
        _ => (json.get("tools").cloned(), json.get("tool_choice").cloned()),
    };
    Tools::parse(tools.as_ref(), choice.as_ref()).map_err(bad)
}

/// What every route does before it answers, by the script: the key check, `fail_first`, the
/// wait for `ttfb` and a fault that comes before any body.
async fn before_answer(
    shared: &Arc<Shared>,
    format: WireFormat,
    script: &mut Script,
    model_id: &str,
    (headers, query): (&HeaderMap, &str),
    start: Instant,
    request_id: &str,
) -> Result<(), Reply> {
    if script.key_required && !has_key(headers, query) {
        return Err(ApiError::new(
            401,
            "missing API key: the mock script says key=required (send authorization, x-api-key or x-goog-api-key)",
        )
        .into());
    }
    // fail_first: only the first K requests with this model id get the faults.
    if let Some(k) = script.fail_first {
        let n = {
            let mut attempts = shared.attempts.lock().unwrap_or_else(|p| p.into_inner());
            let n = attempts.entry(model_id.to_string()).or_insert(0);
            *n += 1;
            *n
        };
        if n > k {
            script.faults.clear();
        }
    }
    let token = &shared.shutdown;
    if !sleep_until(start + Duration::from_millis(script.ttfb_ms), token).await {
        return Err(ApiError::new(503, "mock server is shutting down").into());
    }
    if let Some(fault) = script.faults.iter().copied().find(|f| f.is_pre_stream()) {
        return Err(pre_stream_fault(format, fault, script, request_id, token).await);
    }
    Ok(())
}

/// Sleeps until `deadline`; false if the server is shutting down.
async fn sleep_until(deadline: Instant, token: &CancellationToken) -> bool {
    if token.is_cancelled() {
        return false;
    }
    if Instant::now() >= deadline {
        return true; // already due: don't touch the timer wheel
    }
    tokio::select! {
        _ = tokio::time::sleep_until(deadline) => true,
        _ = token.cancelled() => false,
    }
}

async fn pre_stream_fault(
    format: WireFormat,
    fault: Fault,
    script: &Script,
    request_id: &str,
    token: &CancellationToken,
) -> Reply {
    match fault {
        Fault::RateLimited => {
            let secs = script.retry_after_s;
            let mut e = ApiError::new(
                429,
                format!("Rate limit reached for requests (mock fault=429). Please try again in {secs}s."),
            );
            e.retry_after_s = Some(secs);
            let mut resp = error_response(format, &e, request_id);
            let h = resp.headers_mut();
            h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
            match format {
                WireFormat::OpenAi => {
                    h.insert("x-ratelimit-remaining-requests", HeaderValue::from_static("0"));
                    if let Ok(v) = HeaderValue::from_str(&format!("{secs}s")) {
                        h.insert("x-ratelimit-reset-requests", v);
                    }
                }
                WireFormat::Anthropic => {
                    h.insert("anthropic-ratelimit-requests-remaining", HeaderValue::from_static("0"));
                    let reset = wire::rfc3339(SystemTime::now() + Duration::from_secs(secs));
                    if let Ok(v) = HeaderValue::from_str(&reset) {
                        h.insert("anthropic-ratelimit-requests-reset", v);
                    }
                }
                _ => {}
            }
            Reply::Done(resp)
        }
        Fault::Server => {
            Reply::Api(ApiError::new(500, "The server had an error while processing your request (mock fault=500)."))
        }
        Fault::Overloaded => Reply::Api(ApiError::new(529, "Overloaded")),
        Fault::Html502 => {
            let mut resp = Response::new(Body::from(wire::HTML_502));
            *resp.status_mut() = StatusCode::BAD_GATEWAY;
            resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
            Reply::Done(resp)
        }
        _ => {
            // Hang: no headers until the server shuts down; then the connection is dropped.
            token.cancelled().await;
            let mut resp = Response::new(Body::from_stream(futures_util::stream::once(async {
                Err::<Bytes, _>(std::io::Error::other("mock server shutting down"))
            })));
            *resp.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            Reply::Done(resp)
        }
    }
}

fn error_response(format: WireFormat, e: &ApiError, request_id: &str) -> Response {
    let (content_type, body) = wire::error_body(format, e, request_id);
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// One write of the response body, due at `at` after the request arrived.
struct Frame {
    at: Duration,
    out: Out,
    /// The frame that carries the stream's first token.
    first_token: bool,
}

enum Out {
    Data(Bytes),
    /// Close the connection mid-body.
    Abort,
}

/// Pre-serialises the whole stream.
fn frames(sched: &schedule::Schedule, mut enc: Encoder, split_multibyte: bool) -> Vec<Frame> {
    let mut frames = Vec::with_capacity(sched.events.len() + 1);
    let mut seen_token = false;
    for (at, ev) in &sched.events {
        let at = *at;
        match ev {
            Event::Cut => {
                frames.push(Frame { at, out: Out::Abort, first_token: false });
                break;
            }
            Event::Eof => break,
            _ => {}
        }
        let bytes = enc.encode(at, ev);
        if bytes.is_empty() {
            continue;
        }
        // Two body frames split inside a multi-byte character: hyper sends each as its own
        // chunk and clients read them separately, so decoders must buffer partial UTF-8.
        let split = if split_multibyte && matches!(ev, Event::Chunk { .. } | Event::Finish { .. }) {
            bytes.iter().position(|b| *b >= 0xC0).map(|i| i + 1)
        } else {
            None
        };
        let first_token = !seen_token && matches!(ev, Event::Chunk { .. });
        seen_token |= first_token;
        match split {
            Some(i) if i < bytes.len() => {
                frames.push(Frame { at, out: Out::Data(bytes.slice(..i)), first_token });
                frames.push(Frame { at, out: Out::Data(bytes.slice(i..)), first_token: false });
            }
            _ => frames.push(Frame { at, out: Out::Data(bytes), first_token }),
        }
    }
    frames
}

/// The response body of one stream: walks the pre-serialised frames on the request's clock.
struct BodyState {
    start: Instant,
    frames: std::vec::IntoIter<Frame>,
    next: Option<Frame>,
    /// (next due, every, until) for SSE keep-alive comments.
    keepalive: Option<(Duration, Duration, Duration)>,
    shutdown: CancellationToken,
    done: bool,
    /// Counts the stream as in flight, and is where its first token's time is noted.
    guard: InFlight,
    request_id: String,
}

type Item = Result<Bytes, std::io::Error>;

async fn next_frame(mut b: BodyState) -> Option<(Item, BodyState)> {
    if b.done {
        return None;
    }
    let frame = b.next.take().or_else(|| b.frames.next())?;
    if let Some((due, every, until)) = b.keepalive
        && due < until
        && due < frame.at
    {
        b.next = Some(frame);
        b.keepalive = Some((due + every, every, until));
        if !sleep_until(b.start + due, &b.shutdown).await {
            b.done = true;
            return Some((Err(std::io::Error::other("mock server shutting down")), b));
        }
        return Some((Ok(Bytes::from_static(wire::KEEPALIVE)), b));
    }
    if !sleep_until(b.start + frame.at, &b.shutdown).await {
        b.done = true;
        return Some((Err(std::io::Error::other("mock server shutting down")), b));
    }
    if frame.first_token {
        b.guard.0.first_token(&b.request_id, b.start.elapsed());
    }
    match frame.out {
        Out::Data(bytes) => Some((Ok(bytes), b)),
        Out::Abort => {
            // An error from the body makes hyper drop the connection without the final chunk,
            // discarding anything still buffered: yield once so hyper flushes the N tokens first.
            tokio::task::yield_now().await;
            b.done = true;
            Some((Err(std::io::Error::new(std::io::ErrorKind::ConnectionAborted, "mock fault: cut")), b))
        }
    }
}

#[cfg(test)]
mod tests;
