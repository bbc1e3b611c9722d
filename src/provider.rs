//! Wire-format–neutral request and event types, and the sans-I/O provider interface.
//!
//! A provider is two pure functions: build the HTTP request for a [`ChatRequest`], and turn the
//! response body bytes into [`Delta`]s. Neither does I/O or reads a clock; the engine stamps every
//! delta with the instant its bytes arrived (see `engine.rs`).

pub mod anthropic;
pub mod attach;
pub mod embeddings;
#[cfg(test)]
pub(crate) mod fuzz;
pub mod gemini;
mod json_scan;
pub mod ndjson;
pub mod ollama;
pub mod openai;
pub mod output;
pub mod responses;
pub mod sse;
pub mod tools;

use serde::{Deserialize, Serialize};

/// The five wire formats bakeoff speaks. OpenAI-compatible hosts (OpenRouter, Groq, vLLM, …)
/// all use [`WireFormat::OpenAi`] (Chat Completions), several also [`WireFormat::OpenAiResponses`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WireFormat {
    #[serde(rename = "openai")]
    OpenAi,
    /// OpenAI's Responses API (`POST /responses`).
    #[serde(rename = "openai-responses")]
    OpenAiResponses,
    Anthropic,
    Gemini,
    Ollama,
}

impl WireFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            WireFormat::OpenAi => "openai",
            WireFormat::OpenAiResponses => "openai-responses",
            WireFormat::Anthropic => "anthropic",
            WireFormat::Gemini => "gemini",
            WireFormat::Ollama => "ollama",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
    /// A tool's result, answering an assistant turn's call (`tool_call_id`).
    Tool,
}

impl Role {
    /// The wire name (`system`, `user`, `assistant`, `tool`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        }
    }
}

/// One turn of a conversation (OpenAI chat shape): an assistant turn may carry the tool calls
/// it made, a `tool` turn the result of one of them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    /// `null` (an assistant turn that only calls tools) reads as empty.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub content: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<MessageToolCall>,
    /// On a `tool` turn: the call it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// On a `tool` turn: the function's name (filled from the call when not given; Gemini and
    /// Ollama need it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Images and files sent with a user turn, before its text.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<attach::Attachment>,
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

/// A tool call in a conversation's assistant turn. Read in OpenAI's shape (`{id, type:
/// "function", function: {name, arguments}}`, `arguments` a JSON string or object) or flat
/// (`{id, name, arguments}`); written in OpenAI's.
#[derive(Clone, Debug, PartialEq)]
pub struct MessageToolCall {
    pub id: String,
    pub name: String,
    /// The arguments' JSON text.
    pub arguments: String,
}

impl MessageToolCall {
    /// The arguments as a JSON object (`{}` when they are not one).
    pub fn arguments_object(&self) -> serde_json::Value {
        serde_json::from_str::<serde_json::Value>(&self.arguments)
            .ok()
            .filter(serde_json::Value::is_object)
            .unwrap_or_else(|| serde_json::json!({}))
    }
}

impl Serialize for MessageToolCall {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serde_json::json!({"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.arguments}})
            .serialize(s)
    }
}

impl<'de> Deserialize<'de> for MessageToolCall {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let v = serde_json::Value::deserialize(d)?;
        let f = v.get("function").unwrap_or(&v);
        let text = |x: Option<&serde_json::Value>| match x {
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            Some(o @ serde_json::Value::Object(_)) => Some(o.to_string()),
            _ => None,
        };
        let id = text(v.get("id")).ok_or_else(|| D::Error::custom("a tool call needs its \"id\""))?;
        let name = text(f.get("name")).ok_or_else(|| D::Error::custom("a tool call needs the function's \"name\""))?;
        let arguments = text(f.get("arguments")).unwrap_or_else(|| "{}".into());
        Ok(MessageToolCall { id, name, arguments })
    }
}

impl Message {
    fn plain(role: Role, content: String) -> Self {
        Message { role, content, tool_calls: Vec::new(), tool_call_id: None, name: None, attachments: Vec::new() }
    }
    pub fn system(s: impl Into<String>) -> Self {
        Message::plain(Role::System, s.into())
    }
    pub fn user(s: impl Into<String>) -> Self {
        Message::plain(Role::User, s.into())
    }
    pub fn assistant(s: impl Into<String>) -> Self {
        Message::plain(Role::Assistant, s.into())
    }
    /// A tool's result for call `id`.
    pub fn tool(id: impl Into<String>, content: impl Into<String>) -> Self {
        Message { tool_call_id: Some(id.into()), ..Message::plain(Role::Tool, content.into()) }
    }
}

/// What to ask a model, independent of wire format. `messages` may start with system turns;
/// each encoder moves them to wherever its format wants them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChatRequest {
    /// The provider's model id (e.g. `gpt-4o`, `claude-sonnet-4-6`).
    pub model: String,
    pub messages: Vec<Message>,
    pub max_tokens: Option<u32>,
    pub temperature: Option<f64>,
    /// Functions the model may call, and whether it must.
    pub tools: tools::Tools,
    /// Merged into the top level of the JSON body last, so it can override anything.
    pub extra: serde_json::Map<String, serde_json::Value>,
    /// Mark prompt-cache breakpoints where the format needs them (Anthropic `cache_control` on
    /// the system prompt and the last message); the other formats cache on their own.
    pub prompt_cache: bool,
    /// Structured output: the JSON Schema the answer must follow.
    pub schema: Option<output::OutputSchema>,
}

/// An HTTP request ready to send. Keys travel only in `headers` (never in the URL), so a URL is
/// always safe to show in an error message.
#[derive(Clone, Debug, PartialEq)]
pub struct HttpRequest {
    pub url: String,
    /// Header names are lower-case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Token counts as the provider reported them, normalised:
/// `input_tokens` is the *whole* prompt (cached and cache-written tokens included);
/// `output_tokens` includes reasoning tokens.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    /// Input tokens served from the provider's prompt cache (subset of `input_tokens`).
    pub cached_input_tokens: Option<u64>,
    /// Input tokens written to the prompt cache (subset of `input_tokens`; Anthropic).
    pub cache_write_tokens: Option<u64>,
    /// Reasoning/thinking tokens (subset of `output_tokens`), when reported.
    pub reasoning_tokens: Option<u64>,
}

/// Why a stream failed, as a kind a report can count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The model's API key variable is unset.
    MissingKey,
    /// Could not connect (refused, DNS, TLS).
    Connect,
    /// Non-2xx HTTP status other than 429.
    Http,
    /// HTTP 429.
    RateLimited,
    /// An error object or event inside a 200 stream.
    Provider,
    /// A chunk that is not valid JSON / not the expected shape.
    Malformed,
    /// The body ended before the format's terminator.
    Cut,
    ConnectTimeout,
    FirstTokenTimeout,
    IdleTimeout,
    TotalTimeout,
    /// bakeoff itself failed on this request (a caught panic): a bug, not the server's fault.
    Internal,
    /// The request holds something this model's API cannot take (a PDF for Ollama, an image
    /// over its size limit); never sent.
    Unsupported,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::MissingKey => "missing_key",
            ErrorKind::Connect => "connect",
            ErrorKind::Http => "http",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::Provider => "provider",
            ErrorKind::Malformed => "malformed",
            ErrorKind::Cut => "cut",
            ErrorKind::ConnectTimeout => "connect_timeout",
            ErrorKind::FirstTokenTimeout => "first_token_timeout",
            ErrorKind::IdleTimeout => "idle_timeout",
            ErrorKind::TotalTimeout => "total_timeout",
            ErrorKind::Internal => "internal",
            ErrorKind::Unsupported => "unsupported",
        }
    }
}

/// A request's failure, written for the person reading the pane.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct RequestError {
    pub kind: ErrorKind,
    /// One line for a user: "429 rate limited (retry after 2s): Rate limit reached for …".
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    /// From `Retry-After` / `retry-after-ms` / Gemini `RetryInfo`, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_s: Option<f64>,
}

impl RequestError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        RequestError { kind, message: message.into(), http_status: None, retry_after_s: None }
    }
}

/// One thing a decoder understood in the body, in arrival order. Not yet stamped.
#[derive(Clone, Debug, PartialEq)]
pub enum Delta {
    /// Visible answer text (may be empty only if a format sends empty text; decoders drop empties).
    Text(String),
    /// Reasoning / thinking text.
    Reasoning(String),
    /// The provider's cumulative usage so far. A later `Usage` replaces an earlier one.
    Usage(Usage),
    /// The model id the server says answered.
    ServerModel(String),
    /// A cost the server reported itself (OpenRouter `usage.cost`), USD.
    ServerCost(f64),
    /// The format's terminal marker arrived (`[DONE]`, `message_stop`, Gemini `finishReason`,
    /// Ollama `done:true`). `reason` is the provider's finish/stop reason if it gave one.
    Finished { reason: Option<String> },
    /// The stream reported an error, or could not be decoded. Ends the request.
    Error(RequestError),
    /// Something off that did not spoil the answer, for the record (e.g. the finish reason came
    /// but the stream's end marker did not).
    Warning(String),
    /// A piece of a tool (function) call the model is making.
    ToolCall(ToolCallDelta),
}

/// A piece of a streamed tool call. Pieces with the same `index` are one call: the first usually
/// carries its id and name, later ones more of its arguments (JSON text, in pieces split
/// anywhere). Formats that send a call whole (Gemini, Ollama) send one piece per call.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ToolCallDelta {
    /// The call's position in this answer (0, 1, … in the order calls began).
    pub index: usize,
    pub id: Option<String>,
    pub name: Option<String>,
    /// More of the arguments' JSON text (may be empty).
    pub arguments: String,
}

impl ToolCallDelta {
    /// Carries something a person would see (a name or arguments), so it counts as output.
    pub fn is_content(&self) -> bool {
        self.name.as_deref().is_some_and(|n| !n.is_empty()) || !self.arguments.is_empty()
    }
}

/// A tool call as the model made it, after its stream ended.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub name: String,
    /// The arguments parsed as JSON; `null` when they do not parse.
    pub arguments: serde_json::Value,
    /// The arguments exactly as streamed.
    pub arguments_raw: String,
    /// Why the arguments are not a JSON object, when they are not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments_error: Option<String>,
    /// Whether the arguments fit the offered tool's `parameters` schema (`None`: no tools were
    /// known to check against); see [`tools::Tools::check_calls`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments_valid: Option<bool>,
    /// Why they do not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_error: Option<String>,
}

impl ToolCall {
    /// `⚙ get_weather {"city":"Paris"}`: a tool call on one line, its arguments as compact JSON
    /// (as streamed when they do not parse, marked `✗`). Not sanitized: callers sanitize for their sink.
    pub fn one_line(&self) -> String {
        match &self.arguments_error {
            None => format!("⚙ {} {}", self.name, self.arguments),
            Some(e) => format!("⚙ {} {} ✗ {e}", self.name, self.arguments_raw),
        }
    }

    /// `1 call`, `2 calls`, `2 calls ✗args` (some arguments do not parse or do not fit the offered
    /// tool's schema), `—` for none.
    pub fn cell(calls: &[ToolCall]) -> String {
        match calls.len() {
            0 => "—".into(),
            n => {
                let s = if n == 1 { "" } else { "s" };
                let invalid = |c: &ToolCall| c.arguments_error.is_some() || c.arguments_valid == Some(false);
                let bad = if calls.iter().any(invalid) { " ✗args" } else { "" };
                format!("{n} call{s}{bad}")
            }
        }
    }

    /// A finished call from its streamed parts. No arguments at all count as `{}` (a function
    /// without parameters; Anthropic and some OpenAI-compatible servers stream none).
    pub fn new(id: Option<String>, name: String, arguments_raw: String) -> ToolCall {
        let text = if arguments_raw.trim().is_empty() { "{}" } else { arguments_raw.as_str() };
        let (arguments, arguments_error) = match serde_json::from_str::<serde_json::Value>(text) {
            Ok(v @ serde_json::Value::Object(_)) => (v, None),
            Ok(v) => {
                let what = match v {
                    serde_json::Value::Array(_) => "an array",
                    serde_json::Value::String(_) => "a string",
                    serde_json::Value::Number(_) => "a number",
                    serde_json::Value::Bool(_) => "a boolean",
                    _ => "null",
                };
                (v, Some(format!("the arguments are {what}, not a JSON object")))
            }
            Err(e) => (serde_json::Value::Null, Some(format!("the arguments are not JSON: {e}"))),
        };
        ToolCall { id, name, arguments, arguments_raw, arguments_error, arguments_valid: None, schema_error: None }
    }
}

/// Turns a response body into [`Delta`]s. Fed raw network chunks in order; must cope with any
/// split (inside a line, inside a UTF-8 character, between `\r` and `\n`).
pub trait Decoder: Send {
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<Delta>);
    /// Sets the largest stream event read (default [`MAX_EVENT_BYTES`]).
    fn limit_events(&mut self, max: usize);
    /// The body ended. Flushes what is buffered. If the terminal marker never arrived, emits
    /// `Delta::Error` of kind [`ErrorKind::Cut`] (for Gemini: EOF without a `finishReason`).
    fn finish(&mut self, out: &mut Vec<Delta>);
    /// The answer comes as a call to the tool `name` (Anthropic's structured output, a forced
    /// tool): its input is streamed as the answer's text, not as a tool call. Formats with a
    /// structured-output field of their own ignore this.
    fn answer_in_tool(&mut self, _name: &str) {}
}

/// The largest stream event (an SSE event, an NDJSON line) read: a server sending more without
/// an event boundary is cut off with [`event_too_large`] instead of growing a buffer without
/// end. Real events are a few kilobytes; a whole long answer in one event stays far below.
pub const MAX_EVENT_BYTES: usize = 16 << 20;

/// Tool calls one answer may make; pieces of later ones are dropped (their index comes from the
/// server and would otherwise size a vector).
pub const MAX_TOOL_CALLS: usize = 1024;

/// The error for a stream event over `max` bytes.
pub(crate) fn event_too_large(max: usize) -> RequestError {
    RequestError::new(
        ErrorKind::Malformed,
        format!("a stream event is larger than {} MiB without an end; stopped reading (max_event_mib)", max >> 20),
    )
}

/// Builds the HTTP request for `format`. `base_url` has no trailing slash requirement.
pub fn build_request(
    format: WireFormat,
    base_url: &str,
    api_key: Option<&str>,
    req: &ChatRequest,
    extra_headers: &[(String, String)],
) -> HttpRequest {
    let mut http = match format {
        WireFormat::OpenAi => openai::build_request(base_url, api_key, req),
        WireFormat::OpenAiResponses => responses::build_request(base_url, api_key, req),
        WireFormat::Anthropic => anthropic::build_request(base_url, api_key, req),
        WireFormat::Gemini => gemini::build_request(base_url, api_key, req),
        WireFormat::Ollama => ollama::build_request(base_url, api_key, req),
    };
    for (k, v) in extra_headers {
        let k = k.to_ascii_lowercase();
        http.headers.retain(|(name, _)| *name != k);
        http.headers.push((k, v.clone()));
    }
    http
}

pub fn decoder(format: WireFormat) -> Box<dyn Decoder> {
    match format {
        WireFormat::OpenAi => Box::new(openai::OpenAiDecoder::default()),
        WireFormat::OpenAiResponses => Box::new(responses::ResponsesDecoder::default()),
        WireFormat::Anthropic => Box::new(anthropic::AnthropicDecoder::default()),
        WireFormat::Gemini => Box::new(gemini::GeminiDecoder::default()),
        WireFormat::Ollama => Box::new(ollama::OllamaDecoder::default()),
    }
}

/// Turns a non-2xx response into a [`RequestError`] with the provider's own message when the body
/// has one (each format's error envelope is understood; HTML or empty bodies are summarised).
pub fn http_error(format: WireFormat, status: u16, retry_after_s: Option<f64>, body: &[u8]) -> RequestError {
    let provider_message = match format {
        WireFormat::OpenAi | WireFormat::OpenAiResponses => openai::error_message(body),
        WireFormat::Anthropic => anthropic::error_message(body),
        WireFormat::Gemini => gemini::error_message(body),
        WireFormat::Ollama => ollama::error_message(body),
    };
    // Gemini puts its retry hint in the body, not a header.
    let retry_after_s = retry_after_s.or_else(|| match format {
        WireFormat::Gemini => gemini::retry_delay(body),
        _ => None,
    });
    let kind = if status == 429 { ErrorKind::RateLimited } else { ErrorKind::Http };
    let reason = match status {
        400 => "bad request",
        401 => "unauthorized (check the API key)",
        402 => "payment required",
        403 => "forbidden",
        404 => "not found (check the model id and base URL)",
        408 => "request timeout",
        413 => "request too large",
        429 => "rate limited",
        500 => "server error",
        502 => "bad gateway",
        503 => "unavailable",
        504 => "gateway timeout",
        529 => "overloaded",
        _ => "error",
    };
    let mut message = format!("{status} {reason}");
    if let Some(s) = retry_after_s {
        message.push_str(&format!(" (retry after {})", crate::format::secs(s)));
    }
    let detail = provider_message.unwrap_or_else(|| body_summary(body));
    if !detail.is_empty() {
        message.push_str(": ");
        message.push_str(&detail);
    }
    RequestError { kind, message, http_status: Some(status), retry_after_s }
}

/// An error object that arrived inside a 200 stream, as the HTTP status it stands for when it
/// says (Anthropic `overloaded_error` → 529, `rate_limit_error` → 429, `api_error` → 500;
/// Gemini's numeric `code` or `status` such as `RESOURCE_EXHAUSTED`/`UNAVAILABLE`; OpenAI's
/// `server_error`, `rate_limit_exceeded`), so retries treat it like that status: a 529 in the
/// stream is retried as a 529 before it would have been.
pub(crate) fn in_stream_error(err: &serde_json::Value, text: &str) -> RequestError {
    let field = |k: &str| err.get(k).and_then(serde_json::Value::as_str).unwrap_or("");
    let status =
        err.get("code").and_then(serde_json::Value::as_u64).filter(|c| (400..600).contains(c)).map(|c| c as u16).or(
            match (field("type"), field("status"), field("code")) {
                ("overloaded_error", ..) => Some(529),
                ("rate_limit_error" | "rate_limit_exceeded", ..)
                | (_, "RESOURCE_EXHAUSTED", _)
                | (.., "rate_limit_exceeded") => Some(429),
                ("api_error" | "server_error", ..) | (_, "INTERNAL", _) | (.., "server_error") => Some(500),
                (_, "UNAVAILABLE", _) => Some(503),
                _ => None,
            },
        );
    let kind = if status == Some(429) { ErrorKind::RateLimited } else { ErrorKind::Provider };
    RequestError { kind, message: one_line(text, ERROR_TEXT_MAX), http_status: status, retry_after_s: None }
}

/// A short, single-line, printable summary of an error body we could not parse.
pub fn body_summary(body: &[u8]) -> String {
    // Redacted before it is cut: a key cut in half would no longer be recognised.
    let lossy = String::from_utf8_lossy(body);
    let text = crate::redact::redact(&lossy);
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let trimmed: String = one_line.chars().filter(|c| !c.is_control()).take(200).collect();
    if trimmed.is_empty() {
        return "empty body".to_string();
    }
    if trimmed.starts_with('<') {
        return format!("non-JSON body ({} bytes, looks like HTML from a proxy)", body.len());
    }
    trimmed
}

/// Parses a `Retry-After` value: seconds (float allowed) or an HTTP-date.
pub fn parse_retry_after(value: &str, now: std::time::SystemTime) -> Option<f64> {
    let v = value.trim();
    if let Ok(s) = v.parse::<f64>() {
        return (s.is_finite() && s >= 0.0).then_some(s);
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(when.duration_since(now).map(|d| d.as_secs_f64()).unwrap_or(0.0))
}

// --- Helpers shared by the four wire-format modules. ---

/// `{base}/{path}`, tolerating a trailing `/` on the configured base URL.
pub(crate) fn endpoint(base_url: &str, path: &str) -> String {
    let base = base_url.trim_end_matches('/');
    format!("{base}/{}", path.trim_start_matches('/'))
}

/// Deep-merges the user's `extra` table into a request body: objects merge key by key, anything
/// else replaces. Applied last so it can override what the encoder chose.
pub(crate) fn merge_extra(
    body: &mut serde_json::Map<String, serde_json::Value>,
    extra: &serde_json::Map<String, serde_json::Value>,
) {
    for (k, v) in extra {
        match (body.get_mut(k), v) {
            (Some(serde_json::Value::Object(dst)), serde_json::Value::Object(src)) => merge_extra(dst, src),
            _ => {
                body.insert(k.clone(), v.clone());
            }
        }
    }
}

/// Makes provider-supplied text safe for a one-line pane: whitespace runs collapsed, control
/// characters dropped, at most `max` characters (an ellipsis marks the cut). Secrets are
/// redacted before the cut, while they are still whole.
pub(crate) fn one_line(text: &str, max: usize) -> String {
    let text = crate::redact::redact(text);
    let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut chars = joined.chars().filter(|c| !c.is_control());
    let mut out: String = chars.by_ref().take(max).collect();
    if chars.next().is_some() {
        out.push('…');
    }
    out
}

/// The error for a stream chunk that should have been JSON and was not.
pub(crate) fn malformed(what: &str, payload: &str) -> Delta {
    Delta::Error(RequestError::new(
        ErrorKind::Malformed,
        format!("malformed {what} (not JSON): {}", one_line(payload, 80)),
    ))
}

/// Parses an error body as JSON, unwrapping the one-element array some gateways wrap it in.
pub(crate) fn error_json(body: &[u8]) -> Option<serde_json::Value> {
    let body = body.strip_prefix(b"\xef\xbb\xbf").unwrap_or(body);
    match serde_json::from_slice::<serde_json::Value>(body).ok()? {
        serde_json::Value::Array(mut items) if !items.is_empty() => Some(items.swap_remove(0)),
        v => Some(v),
    }
}

/// The cap on provider error text shown in a pane.
pub(crate) const ERROR_TEXT_MAX: usize = 300;

/// Test helper: a tool-call piece.
#[cfg(test)]
pub(crate) fn tool_piece(index: usize, id: Option<&str>, name: Option<&str>, arguments: &str) -> Delta {
    Delta::ToolCall(ToolCallDelta {
        index,
        id: id.map(str::to_string),
        name: name.map(str::to_string),
        arguments: arguments.to_string(),
    })
}

/// Test helper: decodes `body` whole, split in two at every byte offset, and as a one-byte drip,
/// asserts all give the same deltas, and returns them.
#[cfg(test)]
pub(crate) fn decode_every_split<D: Decoder + Default>(body: &[u8]) -> Vec<Delta> {
    fn run<D: Decoder + Default>(parts: &[&[u8]]) -> Vec<Delta> {
        let mut d = D::default();
        let mut out = Vec::new();
        for p in parts {
            d.feed(p, &mut out);
        }
        d.finish(&mut out);
        out
    }
    let whole = run::<D>(&[body]);
    for i in 0..=body.len() {
        let (a, b) = body.split_at(i);
        assert_eq!(run::<D>(&[a, b]), whole, "split at byte {i}");
    }
    let drip: Vec<&[u8]> = body.chunks(1).collect();
    assert_eq!(run::<D>(&drip), whole, "one-byte drip");
    whole
}

/// Invariants every decoder keeps whatever the body: no panic, no empty text, and exactly one
/// terminal delta (`Finished` or `Error`), which comes last.
#[cfg(test)]
mod decoder_invariants {
    use super::*;

    const FIXTURES: [(WireFormat, &[u8]); 11] = [
        (WireFormat::OpenAi, include_bytes!("provider/testdata/openai_parallel_tools.sse")),
        (WireFormat::Anthropic, include_bytes!("provider/testdata/anthropic_tools.sse")),
        (WireFormat::OpenAiResponses, include_bytes!("provider/testdata/responses_reasoning.sse")),
        (WireFormat::OpenAiResponses, include_bytes!("provider/testdata/responses_tools.sse")),
        (WireFormat::OpenAi, include_bytes!("provider/testdata/openai_basic.sse")),
        (WireFormat::OpenAi, include_bytes!("provider/testdata/openai_deepseek_reasoning.sse")),
        (WireFormat::OpenAi, include_bytes!("provider/testdata/openai_openrouter.sse")),
        (WireFormat::Anthropic, include_bytes!("provider/testdata/anthropic_thinking.sse")),
        (WireFormat::Gemini, include_bytes!("provider/testdata/gemini_thoughts_crlf.sse")),
        (WireFormat::Ollama, include_bytes!("provider/testdata/ollama_thinking.ndjson")),
        (WireFormat::Ollama, b"{\"error\":\"boom\"}\n"),
    ];

    fn check(format: WireFormat, body: &[u8]) -> Vec<Delta> {
        let mut d = decoder(format);
        let mut out = Vec::new();
        d.feed(body, &mut out);
        d.finish(&mut out);
        d.feed(b"data: {}\n\n{}\n", &mut out);
        d.finish(&mut out);
        let terminal = |x: &Delta| matches!(x, Delta::Finished { .. } | Delta::Error(_));
        assert_eq!(out.iter().filter(|x| terminal(x)).count(), 1, "{format:?} {out:?}");
        assert!(out.last().is_some_and(terminal), "{format:?} {out:?}");
        for x in &out {
            if let Delta::Text(t) | Delta::Reasoning(t) = x {
                assert!(!t.is_empty(), "{format:?} empty text");
            }
        }
        out
    }

    #[test]
    fn every_truncation_of_every_fixture_ends_in_one_terminal() {
        for (format, body) in FIXTURES {
            for n in 0..=body.len() {
                check(format, &body[..n]);
            }
            let full = check(format, body);
            // Complete fixtures end cleanly, except the error one.
            assert_eq!(matches!(full.last(), Some(Delta::Finished { .. })), !body.starts_with(b"{\"error"));
        }
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let alphabet = b"data: {}[]\",:\r\n\xc3\xa9\xff event type choices delta text 0 done true error";
        for len in [0usize, 1, 7, 64, 300, 2000] {
            for _ in 0..20 {
                let body: Vec<u8> = (0..len)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        alphabet[(x % alphabet.len() as u64) as usize]
                    })
                    .collect();
                for format in [WireFormat::OpenAi, WireFormat::Anthropic, WireFormat::Gemini, WireFormat::Ollama] {
                    check(format, &body);
                }
            }
        }
    }
}

/// Records the model id the server reports and emits it when it is new or changed.
pub(crate) fn note_server_model(current: &mut Option<String>, reported: Option<&str>, out: &mut Vec<Delta>) {
    if let Some(model) = reported.filter(|m| !m.is_empty())
        && current.as_deref() != Some(model)
    {
        *current = Some(model.to_string());
        out.push(Delta::ServerModel(model.to_string()));
    }
}

/// Parses one event's payload as a JSON object. A payload that is not one ends the stream with a
/// `Malformed` error — unless the body already ended (`at_eof`): a half-written final event means
/// the connection was cut, which the decoder reports as such.
pub(crate) fn parse_object(
    data: &str,
    what: &str,
    at_eof: bool,
    done: &mut bool,
    out: &mut Vec<Delta>,
) -> Option<serde_json::Value> {
    match serde_json::from_str::<serde_json::Value>(data) {
        Ok(v @ serde_json::Value::Object(_)) => Some(v),
        _ if at_eof => None,
        _ => {
            *done = true;
            out.push(malformed(what, data));
            None
        }
    }
}

/// OpenAI-shaped `[{role, content}]` messages (OpenAI chat and Ollama use the same shape).
pub(crate) fn role_content_messages(messages: &[Message]) -> Vec<serde_json::Value> {
    messages
        .iter()
        .map(|m| {
            let mut v = serde_json::json!({"role": m.role.as_str(), "content": m.content});
            if !m.attachments.is_empty() {
                let mut parts: Vec<serde_json::Value> =
                    m.attachments.iter().map(attach::Attachment::openai_chat).collect();
                if !m.content.is_empty() {
                    parts.push(serde_json::json!({"type": "text", "text": m.content}));
                }
                v["content"] = serde_json::Value::Array(parts);
            }
            if !m.tool_calls.is_empty() {
                v["tool_calls"] = serde_json::json!(m.tool_calls);
                if m.content.is_empty() {
                    v["content"] = serde_json::Value::Null;
                }
            }
            if let Some(id) = &m.tool_call_id {
                v["tool_call_id"] = serde_json::json!(id);
            }
            v
        })
        .collect()
}

/// The name of the function the `tool` turn `m` answers: its own, else the call's with its id
/// in an earlier assistant turn.
pub(crate) fn tool_name<'a>(messages: &'a [Message], m: &'a Message) -> &'a str {
    if let Some(n) = &m.name {
        return n;
    }
    let id = m.tool_call_id.as_deref();
    messages.iter().flat_map(|a| &a.tool_calls).find(|c| Some(c.id.as_str()) == id).map_or("", |c| c.name.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000);
        assert_eq!(parse_retry_after("2", now), Some(2.0));
        assert_eq!(parse_retry_after(" 1.5 ", now), Some(1.5));
        assert_eq!(parse_retry_after("-1", now), None);
        let later = httpdate::fmt_http_date(now + std::time::Duration::from_secs(30));
        assert_eq!(parse_retry_after(&later, now), Some(30.0));
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn body_summary_handles_html_and_empty() {
        assert_eq!(body_summary(b""), "empty body");
        assert!(body_summary(b"<html><body>502</body></html>").contains("HTML"));
        assert_eq!(body_summary(b"plain\n text\x1b"), "plain text");
    }
}

/// A conversation with a tool call and its result, as each format spells it.
#[cfg(test)]
mod conversation_tests {
    use super::*;
    use serde_json::{Value, json};

    fn conversation() -> Vec<Message> {
        let call = MessageToolCall {
            id: "call_1".into(),
            name: "get_weather".into(),
            arguments: r#"{"city":"Paris"}"#.into(),
        };
        vec![
            Message::system("Use tools."),
            Message::user("Weather in Paris?"),
            Message { tool_calls: vec![call], ..Message::assistant("") },
            Message { name: Some("get_weather".into()), ..Message::tool("call_1", r#"{"temp_c":18}"#) },
        ]
    }

    fn body(format: WireFormat) -> Value {
        let req = ChatRequest { model: "m".into(), messages: conversation(), ..ChatRequest::default() };
        serde_json::from_slice(&build_request(format, "http://x", None, &req, &[]).body).unwrap()
    }

    #[test]
    fn each_format_spells_calls_and_results_its_own_way() {
        let oa = body(WireFormat::OpenAi);
        assert_eq!(
            oa["messages"][2],
            json!({"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
                "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]})
        );
        assert_eq!(oa["messages"][3], json!({"role": "tool", "content": "{\"temp_c\":18}", "tool_call_id": "call_1"}));

        let re = body(WireFormat::OpenAiResponses);
        assert_eq!(
            re["input"],
            json!([
                {"role": "user", "content": "Weather in Paris?"},
                {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}"},
                {"type": "function_call_output", "call_id": "call_1", "output": "{\"temp_c\":18}"}
            ])
        );

        let an = body(WireFormat::Anthropic);
        assert_eq!(
            an["messages"][1],
            json!({"role": "assistant", "content": [{"type": "tool_use", "id": "call_1", "name": "get_weather",
                "input": {"city": "Paris"}}]})
        );
        assert_eq!(
            an["messages"][2],
            json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": "{\"temp_c\":18}"}]})
        );

        let ge = body(WireFormat::Gemini);
        assert_eq!(
            ge["contents"][1],
            json!({"role": "model", "parts": [{"functionCall": {"id": "call_1", "name": "get_weather", "args": {"city": "Paris"}}}]})
        );
        assert_eq!(
            ge["contents"][2],
            json!({"role": "user", "parts": [{"functionResponse": {"id": "call_1", "name": "get_weather",
                "response": {"temp_c": 18}}}]})
        );

        let ol = body(WireFormat::Ollama);
        assert_eq!(
            ol["messages"][2],
            json!({"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]})
        );
        assert_eq!(
            ol["messages"][3],
            json!({"role": "tool", "content": "{\"temp_c\":18}", "tool_name": "get_weather"})
        );
    }

    #[test]
    fn openai_shaped_logs_read_and_write_back() {
        let line = r#"{"role":"assistant","content":null,"tool_calls":[{"id":"c9","type":"function","function":{"name":"f","arguments":{"a":1}}}]}"#;
        let m: Message = serde_json::from_str(line).unwrap();
        assert_eq!((m.content.as_str(), m.tool_calls[0].arguments.as_str()), ("", r#"{"a":1}"#));
        let back: Message = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
        assert_eq!(back, m);
        let plain = serde_json::to_string(&Message::user("hi")).unwrap();
        assert_eq!(plain, r#"{"role":"user","content":"hi"}"#, "journals of plain turns are unchanged");
        assert!(
            serde_json::from_str::<Message>(r#"{"role":"assistant","tool_calls":[{"function":{"name":"f"}}]}"#)
                .is_err()
        );
    }
}

/// The whole JSON body each format gets for production-shaped requests, as snapshots: a
/// structured-output schema (Anthropic: the forced tool), and a schema next to tools with prompt
/// caching on. Reviewed field by field against each API's reference when they change.
#[cfg(test)]
mod request_snapshots {
    use super::*;
    use serde_json::json;

    fn request(with_tools: bool) -> ChatRequest {
        let schema = json!({
            "type": "object",
            "properties": {"city": {"type": "string"}, "population": {"type": ["integer", "null"]}},
            "required": ["city", "population"],
            "additionalProperties": false,
        });
        let tools = json!([{"type": "function", "function": {"name": "lookup", "description": "Look a city up",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}}}]);
        ChatRequest {
            model: "m".into(),
            messages: vec![Message::system("Answer in JSON."), Message::user("Tell me about Oslo.")],
            max_tokens: Some(200),
            temperature: Some(0.0),
            tools: if with_tools { tools::Tools::parse(Some(&tools), None).unwrap() } else { Default::default() },
            extra: serde_json::Map::new(),
            prompt_cache: with_tools,
            schema: Some(output::OutputSchema::new(Some("city_facts"), schema, true).unwrap()),
        }
    }

    fn body(format: WireFormat, req: &ChatRequest) -> String {
        let http = build_request(format, "http://h", None, req, &[]);
        let v: serde_json::Value = serde_json::from_slice(&http.body).unwrap();
        format!("POST {}\n{}", http.url, serde_json::to_string_pretty(&v).unwrap())
    }

    #[test]
    fn structured_output() {
        for f in [
            WireFormat::OpenAi,
            WireFormat::OpenAiResponses,
            WireFormat::Anthropic,
            WireFormat::Gemini,
            WireFormat::Ollama,
        ] {
            insta::assert_snapshot!(format!("structured_{}", f.as_str()), body(f, &request(false)));
        }
    }

    #[test]
    fn images_and_files() {
        let dir = tempfile::tempdir().unwrap();
        let (png, pdf) = (dir.path().join("dot.png"), dir.path().join("memo.pdf"));
        std::fs::write(&png, attach::tests::PNG).unwrap();
        std::fs::write(&pdf, "%PDF-1.4\n%%EOF\n").unwrap();
        let user = Message {
            attachments: vec![
                attach::Attachment::from_file(&png, true).unwrap(),
                attach::Attachment::from_url("https://example.com/chart.png", true).unwrap(),
            ],
            ..Message::user("Describe both.")
        };
        let with_pdf = Message {
            attachments: vec![attach::Attachment::from_file(&pdf, false).unwrap()],
            ..Message::user("Summarise.")
        };
        for f in [WireFormat::OpenAi, WireFormat::OpenAiResponses, WireFormat::Anthropic, WireFormat::Gemini] {
            let req = ChatRequest {
                model: "m".into(),
                messages: vec![user.clone(), Message::assistant("A dot and a chart."), with_pdf.clone()],
                ..ChatRequest::default()
            };
            insta::assert_snapshot!(format!("attachments_{}", f.as_str()), body(f, &req));
        }
        // Ollama takes images as data only (URLs and PDFs are refused before sending, see
        // attach::check).
        let ollama_user = Message { attachments: vec![user.attachments[0].clone()], ..user };
        let req = ChatRequest { model: "m".into(), messages: vec![ollama_user], ..ChatRequest::default() };
        insta::assert_snapshot!("attachments_ollama", body(WireFormat::Ollama, &req));
    }

    #[test]
    fn structured_output_with_tools_and_prompt_cache() {
        for f in [WireFormat::OpenAi, WireFormat::Anthropic] {
            insta::assert_snapshot!(format!("structured_tools_cache_{}", f.as_str()), body(f, &request(true)));
        }
    }
}
