//! Google Gemini `streamGenerateContent?alt=sse`: request builder, SSE chunk decoder, error
//! envelope and `RetryInfo` reader.
//!
//! Gemini has no terminal marker: the stream is complete only if a chunk carried a
//! `finishReason` before the connection closed. See PROTOCOLS.md §4 and §9.5.

use super::openai::truthy;
use super::sse::{SseDecoder, SseEvent, SseFraming};
use super::{
    ChatRequest, Delta, ERROR_TEXT_MAX, ErrorKind, HttpRequest, RequestError, Role, ToolCallDelta, Usage, endpoint,
    error_json, merge_extra, note_server_model, one_line, parse_object,
};
use serde_json::{Map, Value, json};

/// `POST {base}/models/{model}:streamGenerateContent?alt=sse`. The key travels only in the
/// `x-goog-api-key` header, so the URL is safe to log.
pub fn build_request(base_url: &str, api_key: Option<&str>, req: &ChatRequest) -> HttpRequest {
    let system: Vec<&str> =
        req.messages.iter().filter(|m| m.role == Role::System).map(|m| m.content.as_str()).collect();
    let contents: Vec<Value> = req
        .messages
        .iter()
        .filter_map(|m| match m.role {
            Role::System => None,
            Role::User => {
                let mut parts: Vec<Value> = m.attachments.iter().map(super::attach::Attachment::gemini).collect();
                if !m.content.is_empty() || parts.is_empty() {
                    parts.push(json!({"text": m.content}));
                }
                Some(json!({"role": "user", "parts": parts}))
            }
            Role::Assistant => {
                let mut parts = Vec::new();
                if !m.content.is_empty() || m.tool_calls.is_empty() {
                    parts.push(json!({"text": m.content}));
                }
                for c in &m.tool_calls {
                    parts.push(json!({"functionCall": {"id": c.id, "name": c.name, "args": c.arguments_object()}}));
                }
                Some(json!({"role": "model", "parts": parts}))
            }
            // A result that is a JSON object goes as is; anything else as `{"content": …}`.
            Role::Tool => {
                let response = serde_json::from_str::<Value>(&m.content)
                    .ok()
                    .filter(Value::is_object)
                    .unwrap_or_else(|| json!({"content": m.content}));
                let mut r = json!({"name": super::tool_name(&req.messages, m), "response": response});
                if let Some(id) = &m.tool_call_id {
                    r["id"] = json!(id);
                }
                Some(json!({"role": "user", "parts": [{"functionResponse": r}]}))
            }
        })
        .collect();
    let mut body = Map::new();
    body.insert("contents".into(), Value::Array(contents));
    if !system.is_empty() {
        body.insert("systemInstruction".into(), json!({"parts": [{"text": system.join("\n\n")}]}));
    }
    let mut config = Map::new();
    if let Some(n) = req.max_tokens {
        config.insert("maxOutputTokens".into(), json!(n));
    }
    if let Some(t) = req.temperature {
        config.insert("temperature".into(), json!(t));
    }
    if let Some(s) = &req.schema {
        s.gemini(&mut config);
    }
    if !config.is_empty() {
        body.insert("generationConfig".into(), Value::Object(config));
    }
    req.tools.gemini(&mut body);
    merge_extra(&mut body, &req.extra);
    let mut headers = Vec::new();
    if let Some(key) = api_key.filter(|k| !k.is_empty()) {
        headers.push(("x-goog-api-key".to_string(), key.to_string()));
    }
    headers.push(("content-type".to_string(), "application/json".to_string()));
    // Accept ids written as the API lists them (`models/gemini-2.5-flash`).
    let model = req.model.strip_prefix("models/").unwrap_or(&req.model);
    HttpRequest {
        url: endpoint(base_url, &format!("models/{model}:streamGenerateContent?alt=sse")),
        headers,
        body: Value::Object(body).to_string().into_bytes(),
    }
}

/// The provider's message from `{"error":{"code","message","status"}}` (often pretty-printed),
/// e.g. `RESOURCE_EXHAUSTED: You exceeded your current quota…`.
pub fn error_message(body: &[u8]) -> Option<String> {
    let v = error_json(body)?;
    let text = error_text(v.get("error")?)?;
    Some(one_line(&text, ERROR_TEXT_MAX))
}

/// `STATUS: message` from a Google RPC error object, falling back to the numeric code.
fn error_text(err: &Value) -> Option<String> {
    if let Some(s) = err.as_str() {
        return Some(s.to_string()).filter(|s| !s.trim().is_empty());
    }
    let message = err.get("message").and_then(Value::as_str).unwrap_or("").trim();
    let status = match (err.get("status").and_then(Value::as_str), err.get("code")) {
        (Some(s), _) if !s.is_empty() => Some(s.to_string()),
        (_, Some(Value::Number(n))) => Some(n.to_string()),
        _ => None,
    };
    match (status, message.is_empty()) {
        (None, true) => None,
        (Some(s), true) => Some(s),
        (None, false) => Some(message.to_string()),
        (Some(s), false) => Some(format!("{s}: {message}")),
    }
}

/// Seconds from the `google.rpc.RetryInfo` detail of an error body (`"retryDelay":"34.4s"`).
pub fn retry_delay(body: &[u8]) -> Option<f64> {
    let v = error_json(body)?;
    let details = v.get("error")?.get("details")?.as_array()?;
    details
        .iter()
        .filter(|d| d.get("@type").and_then(Value::as_str).is_some_and(|t| t.ends_with("google.rpc.RetryInfo")))
        .find_map(|d| {
            let s = d.get("retryDelay")?.as_str()?.trim();
            let secs: f64 = s.strip_suffix('s').unwrap_or(s).trim().parse().ok()?;
            (secs.is_finite() && secs >= 0.0).then_some(secs)
        })
}

/// Decodes a Gemini `alt=sse` body.
#[derive(Default)]
pub struct GeminiDecoder {
    framing: SseFraming,
    model: Option<String>,
    finish_reason: Option<String>,
    /// Function calls so far.
    calls: usize,
    /// A call whose arguments are being streamed (`willContinue`), and what arrived of them.
    streaming: bool,
    partial: Option<Value>,
}

/// Applies one `PartialArg` (`{jsonPath, stringValue | numberValue | boolValue | nullValue,
/// willContinue}`) to `args`: a string piece is appended to what the path holds, other values
/// set. Paths are RFC 9535 member and index selectors (`$.a.b[0]`, `$['a b']`).
fn set_partial(args: &mut Value, arg: &Value) {
    let Some(path) = arg.get("jsonPath").and_then(Value::as_str).and_then(json_path) else { return };
    let value = ["stringValue", "numberValue", "boolValue"].iter().find_map(|k| arg.get(*k)).cloned();
    let value = value.or_else(|| arg.get("nullValue").map(|_| Value::Null));
    let Some(value) = value else { return };
    let mut slot = args;
    for seg in &path {
        slot = match seg {
            PathSeg::Key(k) => {
                if !slot.is_object() {
                    *slot = Value::Object(Map::new());
                }
                match slot.as_object_mut() {
                    Some(o) => o.entry(k.clone()).or_insert(Value::Null),
                    None => return,
                }
            }
            PathSeg::Index(i) => {
                if !slot.is_array() {
                    *slot = Value::Array(Vec::new());
                }
                let Some(a) = slot.as_array_mut() else { return };
                // Indexes come from the server: arrays stay within what a real call carries.
                if *i >= MAX_PARTIAL_ITEMS {
                    return;
                }
                if a.len() <= *i {
                    a.resize(i + 1, Value::Null);
                }
                &mut a[*i]
            }
        };
    }
    match (slot, value) {
        (Value::String(s), Value::String(more)) => s.push_str(&more),
        (slot, v) => *slot = v,
    }
}

/// The longest array a streamed argument may build (its items set one index at a time).
const MAX_PARTIAL_ITEMS: usize = 4096;

enum PathSeg {
    Key(String),
    Index(usize),
}

/// `$.a.b[0]['c d']` → segments; `None` for anything else.
fn json_path(p: &str) -> Option<Vec<PathSeg>> {
    let mut rest = p.strip_prefix('$')?;
    let mut out = Vec::new();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            if end == 0 {
                return None;
            }
            out.push(PathSeg::Key(r[..end].to_string()));
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix("['") {
            let end = r.find("']")?;
            out.push(PathSeg::Key(r[..end].to_string()));
            rest = &r[end + 2..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            out.push(PathSeg::Index(r[..end].parse().ok()?));
            rest = &r[end + 1..];
        } else {
            return None;
        }
    }
    Some(out)
}

impl GeminiDecoder {
    /// A `functionCall` part: one whole call (name and `args` object), or — Vertex AI with
    /// `streamFunctionCallArguments` — a piece of one: the name with `willContinue`, then parts
    /// whose `partialArgs` set values by JSON path (strings in pieces), until a part without
    /// `willContinue`. A streamed call is sent as its name at once and its arguments, as one
    /// JSON object, when complete.
    fn function_call(&mut self, call: &Value, out: &mut Vec<Delta>) {
        let string = |key: &str| call.get(key).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string);
        let more = call.get("willContinue").and_then(Value::as_bool) == Some(true);
        let name = string("name");
        if let Some(p) = call.get("partialArgs").and_then(Value::as_array) {
            let args = self.partial.get_or_insert_with(|| Value::Object(Map::new()));
            for arg in p {
                set_partial(args, arg);
            }
        }
        // A continuation of the call being streamed (no name of its own).
        if self.streaming && name.is_none() {
            if !more {
                self.finish_partial(out);
            }
            return;
        }
        if self.streaming {
            self.finish_partial(out); // a new call began without closing the last
        }
        if self.calls >= crate::provider::MAX_TOOL_CALLS {
            return;
        }
        let arguments = match call.get("args") {
            Some(v @ Value::Object(_)) => v.to_string(),
            _ => String::new(),
        };
        out.push(Delta::ToolCall(ToolCallDelta { index: self.calls, id: string("id"), name, arguments }));
        self.calls += 1;
        if more {
            self.streaming = true;
        } else if self.partial.is_some() {
            // Name and every partial argument in one part.
            self.streaming = true;
            self.finish_partial(out);
        }
    }

    /// Sends the streamed call's collected arguments.
    fn finish_partial(&mut self, out: &mut Vec<Delta>) {
        self.streaming = false;
        if let (Some(args), Some(index)) = (self.partial.take(), self.calls.checked_sub(1)) {
            out.push(Delta::ToolCall(ToolCallDelta { index, arguments: args.to_string(), ..Default::default() }));
        }
    }

    fn event(&mut self, ev: &SseEvent, at_eof: bool, out: &mut Vec<Delta>) {
        let data = ev.data.trim();
        if data.is_empty() {
            return;
        }
        let Some(chunk) = parse_object(data, "chunk", at_eof, &mut self.framing.done, out) else {
            return;
        };
        if let Some(err) = chunk.get("error").filter(|e| truthy(e)) {
            let text = error_text(err).unwrap_or_else(|| one_line(&err.to_string(), 200));
            self.framing.done = true;
            out.push(Delta::Error(super::in_stream_error(err, &text)));
            return;
        }
        note_server_model(&mut self.model, chunk.get("modelVersion").and_then(Value::as_str), out);
        let candidates = chunk.get("candidates").and_then(Value::as_array);
        // The first candidate is the answer (candidateCount > 1 is not requested).
        let candidate =
            candidates.and_then(|c| c.iter().find(|c| c.get("index").and_then(Value::as_u64).unwrap_or(0) == 0));
        if let Some(candidate) = candidate {
            let parts = candidate.get("content").and_then(|c| c.get("parts")).and_then(Value::as_array);
            for part in parts.into_iter().flatten() {
                if let Some(call) = part.get("functionCall").filter(|c| c.is_object()) {
                    self.function_call(call, out);
                    continue;
                }
                let Some(text) = part.get("text").and_then(Value::as_str) else {
                    continue;
                };
                if text.is_empty() {
                    continue; // e.g. the final thoughtSignature-only part
                }
                if part.get("thought").and_then(Value::as_bool) == Some(true) {
                    out.push(Delta::Reasoning(text.to_string()));
                } else {
                    out.push(Delta::Text(text.to_string()));
                }
            }
            if let Some(r) = candidate.get("finishReason").and_then(Value::as_str) {
                // A streamed call still open at the end has what arrived of its arguments.
                if self.streaming {
                    self.finish_partial(out);
                }
                self.finish_reason = Some(r.to_string());
            }
        }
        if let Some(usage) = chunk.get("usageMetadata").and_then(parse_usage) {
            out.push(Delta::Usage(usage));
        }
        if candidate.is_none() {
            let block = chunk.get("promptFeedback").and_then(|f| f.get("blockReason")).and_then(Value::as_str);
            if let Some(reason) = block {
                self.framing.done = true;
                out.push(Delta::Error(RequestError::new(
                    ErrorKind::Provider,
                    format!("prompt blocked: {}", one_line(reason, 100)),
                )));
            }
        }
    }
}

/// `usageMetadata` is cumulative; output is billed as visible + thought tokens.
fn parse_usage(u: &Value) -> Option<Usage> {
    let n = |key: &str| u.get(key).and_then(Value::as_u64);
    let candidates = n("candidatesTokenCount");
    let thoughts = n("thoughtsTokenCount");
    let output = match (candidates, thoughts) {
        (None, None) => None,
        (c, t) => Some(c.unwrap_or(0) + t.unwrap_or(0)),
    };
    let usage = Usage {
        input_tokens: n("promptTokenCount"),
        output_tokens: output,
        cached_input_tokens: n("cachedContentTokenCount"),
        cache_write_tokens: None,
        reasoning_tokens: thoughts,
    };
    (usage != Usage::default()).then_some(usage)
}

impl SseDecoder for GeminiDecoder {
    fn framing(&mut self) -> &mut SseFraming {
        &mut self.framing
    }

    fn on_event(&mut self, ev: &SseEvent, at_eof: bool, out: &mut Vec<Delta>) {
        self.event(ev, at_eof, out);
    }

    fn on_end(&mut self, out: &mut Vec<Delta>) {
        match self.finish_reason.clone() {
            Some(reason) => out.push(Delta::Finished { reason: Some(reason) }),
            None => out.push(Delta::Error(RequestError::new(ErrorKind::Cut, "stream ended without finishReason"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::{Message, decode_every_split};

    fn decode(body: &[u8]) -> Vec<Delta> {
        decode_every_split::<GeminiDecoder>(body)
    }

    fn text(s: &str) -> Delta {
        Delta::Text(s.to_string())
    }

    fn usage(input: u64, candidates: u64, thoughts: u64) -> Delta {
        Delta::Usage(Usage {
            input_tokens: Some(input),
            output_tokens: Some(candidates + thoughts),
            reasoning_tokens: Some(thoughts),
            ..Usage::default()
        })
    }

    fn error_of(d: &Delta) -> &RequestError {
        match d {
            Delta::Error(e) => e,
            other => panic!("not an error: {other:?}"),
        }
    }

    #[test]
    fn thoughts_then_text_crlf_cumulative_usage() {
        let body = include_bytes!("testdata/gemini_thoughts_crlf.sse");
        assert!(body.windows(4).any(|w| w == b"\r\n\r\n"), "fixture must stay CRLF");
        assert_eq!(
            decode(body),
            vec![
                Delta::ServerModel("gemini-2.5-flash".into()),
                Delta::Reasoning("**Planning** the answer".into()),
                usage(7, 0, 40),
                text("naïve café"),
                usage(7, 3, 94),
                text(" — 東京 🚀"),
                usage(7, 8, 94),
                usage(7, 8, 94),
                Delta::Finished { reason: Some("STOP".into()) },
            ]
        );
    }

    #[test]
    fn clean_eof_vs_truncation() {
        let chunk = br#"data: {"candidates":[{"content":{"parts":[{"text":"a"}],"role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":2,"candidatesTokenCount":1,"totalTokenCount":3}}

"#;
        let out = decode(chunk);
        assert_eq!(out[0], text("a"));
        let e = error_of(&out[2]);
        assert_eq!(e.kind, ErrorKind::Cut);
        assert_eq!(e.message, "stream ended without finishReason");
        // finishReason on the last chunk, which lacks its blank line: salvaged, clean.
        let mut body = chunk.to_vec();
        body.extend_from_slice(br#"data: {"candidates":[{"content":{"parts":[{"text":"","thoughtSignature":"Eq"}],"role":"model"},"finishReason":"MAX_TOKENS","index":0}]}"#);
        let out = decode(&body);
        assert_eq!(out.last(), Some(&Delta::Finished { reason: Some("MAX_TOKENS".into()) }));
        // Cut inside the JSON of the last chunk.
        body.truncate(body.len() - 20);
        let out = decode(&body);
        assert_eq!(error_of(out.last().unwrap()).kind, ErrorKind::Cut);
    }

    #[test]
    fn safety_finish_with_missing_content() {
        let body = br#"data: {"candidates":[{"finishReason":"SAFETY","index":0,"safetyRatings":[{"category":"HARM_CATEGORY_HARASSMENT","probability":"HIGH","blocked":true}]}],"usageMetadata":{"promptTokenCount":5,"totalTokenCount":5},"modelVersion":"gemini-2.5-pro"}

"#;
        assert_eq!(
            decode(body),
            vec![
                Delta::ServerModel("gemini-2.5-pro".into()),
                Delta::Usage(Usage { input_tokens: Some(5), ..Usage::default() }),
                Delta::Finished { reason: Some("SAFETY".into()) },
            ]
        );
    }

    #[test]
    fn streamed_partial_arguments_are_collected_into_one_object() {
        // Vertex AI with streamFunctionCallArguments: name first, then pieces by JSON path.
        let body = br#"data: {"candidates":[{"content":{"parts":[{"functionCall":{"name":"get_weather","willContinue":true}}],"role":"model"},"index":0}]}

data: {"candidates":[{"content":{"parts":[{"functionCall":{"partialArgs":[{"jsonPath":"$.location","stringValue":"Bos","willContinue":true}],"willContinue":true}}],"role":"model"},"index":0}]}

data: {"candidates":[{"content":{"parts":[{"functionCall":{"partialArgs":[{"jsonPath":"$.location","stringValue":"ton, MA"},{"jsonPath":"$.days[0]","numberValue":2},{"jsonPath":"$['metric units']","boolValue":true}],"willContinue":true}}],"role":"model"},"index":0}]}

data: {"candidates":[{"content":{"parts":[{"functionCall":{}}],"role":"model"},"finishReason":"STOP","index":0}]}

"#;
        let out = decode(body);
        let Delta::ToolCall(first) = &out[0] else { panic!("{out:?}") };
        assert_eq!((first.index, first.name.as_deref(), first.arguments.as_str()), (0, Some("get_weather"), ""));
        let Delta::ToolCall(args) = &out[1] else { panic!("{out:?}") };
        assert_eq!(args.index, 0);
        let v: Value = serde_json::from_str(&args.arguments).unwrap();
        assert_eq!(v, json!({"location": "Boston, MA", "days": [2], "metric units": true}));
        assert_eq!(out[2], Delta::Finished { reason: Some("STOP".into()) });
        assert_eq!(out.len(), 3, "{out:?}");
    }

    #[test]
    fn function_call_parts_are_tool_calls() {
        let body = br#"data: {"candidates":[{"content":{"parts":[{"text":"Checking."},{"functionCall":{"name":"get_weather","args":{"city":"Paris"}},"thoughtSignature":"Cq"}],"role":"model"},"index":0}]}

data: {"candidates":[{"content":{"parts":[{"functionCall":{"id":"c2","name":"get_time","args":{}}}],"role":"model"},"finishReason":"STOP","index":0}]}

"#;
        let call = |index, id, name, arguments| crate::provider::tool_piece(index, id, Some(name), arguments);
        assert_eq!(
            decode(body),
            vec![
                Delta::Text("Checking.".into()),
                call(0, None, "get_weather", r#"{"city":"Paris"}"#),
                call(1, Some("c2"), "get_time", "{}"),
                Delta::Finished { reason: Some("STOP".into()) }
            ]
        );
    }

    #[test]
    fn blocked_prompt() {
        let body = br#"data: {"promptFeedback":{"blockReason":"PROHIBITED_CONTENT"},"usageMetadata":{"promptTokenCount":9,"totalTokenCount":9},"modelVersion":"gemini-2.5-flash"}

"#;
        let out = decode(body);
        assert_eq!(out.len(), 3);
        let e = error_of(&out[2]);
        assert_eq!(e.kind, ErrorKind::Provider);
        assert_eq!(e.message, "prompt blocked: PROHIBITED_CONTENT");
    }

    #[test]
    fn error_chunk_mid_stream_and_malformed() {
        let body = br#"data: {"candidates":[{"content":{"parts":[{"text":"a"}]},"index":0}]}

data: {"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}

data: {"candidates":[{"content":{"parts":[{"text":"late"}]},"finishReason":"STOP","index":0}]}

"#;
        let out = decode(body);
        assert_eq!(out.len(), 2);
        let e = error_of(&out[1]);
        assert_eq!(e.kind, ErrorKind::Provider);
        assert!(e.message.contains("UNAVAILABLE: The model is overloaded"), "{}", e.message);
        let out = decode(b"data: {oops\n\n");
        assert_eq!(error_of(&out[0]).kind, ErrorKind::Malformed);
    }

    #[test]
    fn request_shape_key_only_in_header() {
        let mut req = ChatRequest {
            model: "gemini-2.5-flash".into(),
            messages: vec![
                Message::system("Be brief."),
                Message::user("Hi"),
                Message::assistant("Hello"),
                Message::user("Again"),
            ],
            max_tokens: Some(512),
            temperature: Some(0.7),
            tools: Default::default(),
            extra: Map::new(),
            prompt_cache: false,
            schema: None,
        };
        req.extra.insert(
            "generationConfig".into(),
            json!({"thinkingConfig": {"thinkingBudget": 1024, "includeThoughts": true}}),
        );
        let http = build_request("https://generativelanguage.googleapis.com/v1beta/", Some("AIza-secret"), &req);
        assert_eq!(
            http.url,
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
        );
        assert!(!http.url.contains("secret") && !http.url.contains("key="));
        assert_eq!(
            http.headers,
            vec![
                ("x-goog-api-key".to_string(), "AIza-secret".to_string()),
                ("content-type".to_string(), "application/json".to_string()),
            ]
        );
        let body: Value = serde_json::from_slice(&http.body).unwrap();
        assert_eq!(
            body,
            json!({
                "contents": [
                    {"role": "user", "parts": [{"text": "Hi"}]},
                    {"role": "model", "parts": [{"text": "Hello"}]},
                    {"role": "user", "parts": [{"text": "Again"}]},
                ],
                "systemInstruction": {"parts": [{"text": "Be brief."}]},
                "generationConfig": {
                    "maxOutputTokens": 512,
                    "temperature": 0.7,
                    "thinkingConfig": {"thinkingBudget": 1024, "includeThoughts": true},
                },
            })
        );
    }

    #[test]
    fn request_minimal() {
        let req = ChatRequest {
            model: "models/gemini-2.5-pro".into(),
            messages: vec![Message::user("Hi")],
            ..ChatRequest::default()
        };
        let http = build_request("http://127.0.0.1:9/v1beta", None, &req);
        assert_eq!(http.url, "http://127.0.0.1:9/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse");
        assert!(http.headers.iter().all(|(k, _)| k != "x-goog-api-key"));
        let body: Value = serde_json::from_slice(&http.body).unwrap();
        assert_eq!(body, json!({"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]}));
    }

    const QUOTA_BODY: &str = r#"{
  "error": {
    "code": 429,
    "message": "You exceeded your current quota, please check your plan and billing details.\n* Quota exceeded for metric: generativelanguage.googleapis.com/generate_content_free_tier_requests",
    "status": "RESOURCE_EXHAUSTED",
    "details": [
      {
        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
        "violations": [{"quotaMetric": "generate_content_free_tier_requests"}]
      },
      {
        "@type": "type.googleapis.com/google.rpc.RetryInfo",
        "retryDelay": "34.4s"
      }
    ]
  }
}
"#;

    #[test]
    fn error_message_and_retry_delay() {
        let msg = error_message(QUOTA_BODY.as_bytes()).unwrap();
        assert!(msg.starts_with("RESOURCE_EXHAUSTED: You exceeded your current quota"), "{msg}");
        assert!(!msg.contains('\n'));
        assert_eq!(retry_delay(QUOTA_BODY.as_bytes()), Some(34.4));
        let body = br#"{"error":{"code":404,"message":"models/x is not found"}}"#;
        assert_eq!(error_message(body).as_deref(), Some("404: models/x is not found"));
        assert_eq!(retry_delay(body), None);
        let body = br#"[{"error":{"code":400,"message":"bad","status":"INVALID_ARGUMENT"}}]"#;
        assert_eq!(error_message(body).as_deref(), Some("INVALID_ARGUMENT: bad"));
        assert_eq!(error_message(b"<html>oops</html>"), None);
        assert_eq!(error_message(b""), None);
        assert_eq!(retry_delay(b""), None);
        let body = br#"{"error":{"details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"7s"}]}}"#;
        assert_eq!(retry_delay(body), Some(7.0));
    }

    #[test]
    fn http_error_uses_body_retry_delay() {
        let e = crate::provider::http_error(crate::provider::WireFormat::Gemini, 429, None, QUOTA_BODY.as_bytes());
        assert_eq!(e.kind, ErrorKind::RateLimited);
        assert_eq!(e.retry_after_s, Some(34.4));
        assert!(e.message.contains("RESOURCE_EXHAUSTED"), "{}", e.message);
    }
}
