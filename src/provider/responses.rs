//! OpenAI Responses API streaming (`POST {base}/responses`; also served by vLLM, Ollama, LiteLLM
//! and OpenRouter): request builder and SSE event decoder. Errors use the Chat Completions
//! envelope ([`super::openai::error_message`]).
//!
//! The stream is a sequence of typed events (`response.created`, `response.output_text.delta`,
//! …, `response.completed`) with no `[DONE]`: `response.completed` (or `response.incomplete`)
//! ends it cleanly, a body that ends before either was cut. Events are dispatched on the JSON
//! `type` (the SSE `event:` name is only a fallback); unknown types are skipped.

use super::openai::{error_text, truthy};
use super::sse::{SseDecoder, SseEvent, SseFraming};
use super::{
    ChatRequest, Delta, ErrorKind, HttpRequest, RequestError, Role, ToolCallDelta, Usage, endpoint, merge_extra,
    note_server_model, one_line, parse_object,
};
use serde_json::{Map, Value, json};

/// `POST {base}/responses`: system turns become `instructions`, the rest `input` messages.
/// `store: false` unless `extra` says otherwise: a benchmark's prompts and answers have no
/// business being kept in the account for later retrieval.
pub fn build_request(base_url: &str, api_key: Option<&str>, req: &ChatRequest) -> HttpRequest {
    let system: Vec<&str> =
        req.messages.iter().filter(|m| m.role == Role::System).map(|m| m.content.as_str()).collect();
    // Calls and results are items of their own: `function_call` and `function_call_output`.
    let mut input: Vec<Value> = Vec::new();
    for m in req.messages.iter().filter(|m| m.role != Role::System) {
        match m.role {
            Role::Tool => input.push(json!({
                "type": "function_call_output",
                "call_id": m.tool_call_id.as_deref().unwrap_or(""),
                "output": m.content,
            })),
            _ => {
                if !m.attachments.is_empty() {
                    let mut parts: Vec<Value> =
                        m.attachments.iter().map(super::attach::Attachment::responses).collect();
                    if !m.content.is_empty() {
                        parts.push(json!({"type": "input_text", "text": m.content}));
                    }
                    input.push(json!({"role": m.role.as_str(), "content": parts}));
                } else if !m.content.is_empty() || m.tool_calls.is_empty() {
                    input.push(json!({"role": m.role.as_str(), "content": m.content}));
                }
                for c in &m.tool_calls {
                    input.push(
                        json!({"type": "function_call", "call_id": c.id, "name": c.name, "arguments": c.arguments}),
                    );
                }
            }
        }
    }
    let mut body = Map::new();
    body.insert("model".into(), json!(req.model));
    if !system.is_empty() {
        body.insert("instructions".into(), json!(system.join("\n\n")));
    }
    body.insert("input".into(), Value::Array(input));
    body.insert("stream".into(), json!(true));
    body.insert("store".into(), json!(false));
    if let Some(n) = req.max_tokens {
        body.insert("max_output_tokens".into(), json!(n));
    }
    if let Some(t) = req.temperature {
        body.insert("temperature".into(), json!(t));
    }
    req.tools.responses(&mut body);
    if let Some(s) = &req.schema {
        s.responses(&mut body);
    }
    merge_extra(&mut body, &req.extra);
    let mut headers = Vec::new();
    if let Some(key) = api_key.filter(|k| !k.is_empty()) {
        headers.push(("authorization".to_string(), format!("Bearer {key}")));
    }
    headers.push(("content-type".to_string(), "application/json".to_string()));
    HttpRequest { url: endpoint(base_url, "responses"), headers, body: Value::Object(body).to_string().into_bytes() }
}

/// One function call item of the response.
struct Call {
    /// `output_index` of its item.
    output: u64,
    /// Its `item.id` (`fc_…`); argument events name the item by it or by `output_index`.
    item: Option<String>,
    /// Argument deltas arrived (else `.done`'s whole arguments are sent).
    streamed: bool,
}

/// Decodes a Responses SSE body.
#[derive(Default)]
pub struct ResponsesDecoder {
    framing: SseFraming,
    model: Option<String>,
    calls: Vec<Call>,
}

impl ResponsesDecoder {
    /// The call an argument event belongs to (by `item_id`, else `output_index`).
    fn call_of(&self, v: &Value) -> Option<usize> {
        self.find_call(v.get("item_id").and_then(Value::as_str), v.get("output_index").and_then(Value::as_u64))
    }

    fn find_call(&self, item: Option<&str>, output: Option<u64>) -> Option<usize> {
        self.calls
            .iter()
            .position(|c| item.is_some() && c.item.as_deref() == item)
            .or_else(|| self.calls.iter().position(|c| Some(c.output) == output))
    }

    /// A function call item began (or, if its start was never seen, ended whole).
    fn call_item(&mut self, v: &Value, item: &Value, out: &mut Vec<Delta>) {
        let output = v.get("output_index").and_then(Value::as_u64).unwrap_or(self.calls.len() as u64);
        let item_id = item.get("id").and_then(Value::as_str).map(str::to_string);
        if let Some(i) = self.find_call(item_id.as_deref(), Some(output)) {
            // Already known: `output_item.done` of a call whose arguments were not streamed.
            if !self.calls[i].streamed
                && let Some(args) = item.get("arguments").and_then(Value::as_str).filter(|a| !a.is_empty())
            {
                self.calls[i].streamed = true;
                out.push(Delta::ToolCall(ToolCallDelta {
                    index: i,
                    arguments: args.to_string(),
                    ..Default::default()
                }));
            }
            return;
        }
        if self.calls.len() >= crate::provider::MAX_TOOL_CALLS {
            return;
        }
        let string = |key: &str| item.get(key).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string);
        let arguments = string("arguments").unwrap_or_default();
        self.calls.push(Call { output, item: item_id, streamed: !arguments.is_empty() });
        out.push(Delta::ToolCall(ToolCallDelta {
            index: self.calls.len() - 1,
            // `call_id` is what a tool result refers to; the item id is internal.
            id: string("call_id").or_else(|| string("id")),
            name: string("name"),
            arguments,
        }));
    }

    /// `response.completed` / `response.incomplete`: usage, then the end.
    fn end(&mut self, response: Option<&Value>, out: &mut Vec<Delta>) {
        if let Some(r) = response {
            note_server_model(&mut self.model, r.get("model").and_then(Value::as_str), out);
            if let Some(u) = r.get("usage").filter(|u| u.is_object()) {
                out.push(Delta::Usage(usage(u)));
            }
        }
        let status = response.and_then(|r| r.get("status")).and_then(Value::as_str).unwrap_or("completed");
        let reason = match status {
            "incomplete" => {
                let why = response
                    .and_then(|r| r.get("incomplete_details"))
                    .and_then(|d| d.get("reason"))
                    .and_then(Value::as_str)
                    .unwrap_or("incomplete");
                match why {
                    "max_output_tokens" => "length".to_string(),
                    other => other.to_string(),
                }
            }
            // As Chat Completions says it: a turn that ends in calls is waiting for their results.
            _ if !self.calls.is_empty() => "tool_calls".to_string(),
            _ => "stop".to_string(),
        };
        self.framing.done = true;
        out.push(Delta::Finished { reason: Some(reason) });
    }

    fn fail(&mut self, err: &Value, fallback: &str, out: &mut Vec<Delta>) {
        let text = error_text(err).unwrap_or_else(|| one_line(fallback, 200));
        self.framing.done = true;
        out.push(Delta::Error(super::in_stream_error(err, &text)));
    }

    fn event(&mut self, ev: &SseEvent, at_eof: bool, out: &mut Vec<Delta>) {
        let data = ev.data.trim();
        // Some servers end with `[DONE]` as Chat Completions does; the end is `response.completed`.
        if data.is_empty() || data.starts_with("[DONE]") {
            return;
        }
        let Some(v) = parse_object(data, "event", at_eof, &mut self.framing.done, out) else {
            return;
        };
        let kind = v.get("type").and_then(Value::as_str).or(ev.event.as_deref()).unwrap_or("");
        let delta = || v.get("delta").and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string);
        match kind {
            "response.created" | "response.in_progress" => {
                let model = v.get("response").and_then(|r| r.get("model")).and_then(Value::as_str);
                note_server_model(&mut self.model, model, out);
            }
            "response.output_text.delta" | "response.refusal.delta" => {
                if let Some(t) = delta() {
                    out.push(Delta::Text(t));
                }
            }
            "response.reasoning_summary_text.delta" | "response.reasoning_text.delta" => {
                if let Some(t) = delta() {
                    out.push(Delta::Reasoning(t));
                }
            }
            "response.output_item.added" | "response.output_item.done" => {
                if let Some(item) = v.get("item").filter(|i| i.get("type") == Some(&json!("function_call"))) {
                    self.call_item(&v, item, out);
                }
            }
            "response.function_call_arguments.delta" => {
                if let (Some(i), Some(args)) = (self.call_of(&v), delta()) {
                    self.calls[i].streamed = true;
                    out.push(Delta::ToolCall(ToolCallDelta { index: i, arguments: args, ..Default::default() }));
                }
            }
            "response.function_call_arguments.done" => {
                let args = v.get("arguments").and_then(Value::as_str).filter(|a| !a.is_empty());
                if let (Some(i), Some(args)) = (self.call_of(&v), args)
                    && !self.calls[i].streamed
                {
                    self.calls[i].streamed = true;
                    out.push(Delta::ToolCall(ToolCallDelta { index: i, arguments: args.into(), ..Default::default() }));
                }
            }
            "response.completed" | "response.incomplete" => self.end(v.get("response"), out),
            "response.failed" => {
                let err = v.get("response").and_then(|r| r.get("error")).filter(|e| truthy(e)).cloned();
                let err = err.unwrap_or_else(|| json!({"message": "the response failed"}));
                self.fail(&err, data, out);
            }
            // `{type: error, code, message}`, or the fields nested under `error`.
            "error" => match v.get("error").filter(|e| truthy(e)) {
                Some(err) => self.fail(&err.clone(), data, out),
                None => self.fail(&v, data, out),
            },
            _ => {}
        }
    }
}

/// Responses usage: `input_tokens` (cached ones included), `output_tokens` (reasoning included).
fn usage(u: &Value) -> Usage {
    let n = |v: Option<&Value>| v.and_then(Value::as_u64);
    Usage {
        input_tokens: n(u.get("input_tokens")),
        output_tokens: n(u.get("output_tokens")),
        cached_input_tokens: n(u.get("input_tokens_details").and_then(|d| d.get("cached_tokens"))),
        cache_write_tokens: None,
        reasoning_tokens: n(u.get("output_tokens_details").and_then(|d| d.get("reasoning_tokens"))),
    }
}

impl SseDecoder for ResponsesDecoder {
    fn framing(&mut self) -> &mut SseFraming {
        &mut self.framing
    }

    fn on_event(&mut self, ev: &SseEvent, at_eof: bool, out: &mut Vec<Delta>) {
        self.event(ev, at_eof, out);
    }

    fn on_end(&mut self, out: &mut Vec<Delta>) {
        out.push(Delta::Error(RequestError::new(ErrorKind::Cut, "stream ended before response.completed")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::{Message, decode_every_split};

    fn decode(body: &[u8]) -> Vec<Delta> {
        decode_every_split::<ResponsesDecoder>(body)
    }

    use crate::provider::tool_piece as call;

    #[test]
    fn reasoning_summary_text_and_usage_as_recorded() {
        assert_eq!(
            decode(include_bytes!("testdata/responses_reasoning.sse")),
            vec![
                Delta::ServerModel("o4-mini-2025-04-16".into()),
                Delta::Reasoning("**Answering a simple question**".into()),
                Delta::Reasoning("\n\nThe user asks 東京?".into()),
                Delta::Text("Tokyo".into()),
                Delta::Text(" — 東京 🚀".into()),
                Delta::Usage(Usage {
                    input_tokens: Some(1520),
                    output_tokens: Some(211),
                    cached_input_tokens: Some(1408),
                    cache_write_tokens: None,
                    reasoning_tokens: Some(192),
                }),
                Delta::Finished { reason: Some("stop".into()) },
            ]
        );
    }

    #[test]
    fn function_calls_stream_their_arguments() {
        assert_eq!(
            decode(include_bytes!("testdata/responses_tools.sse")),
            vec![
                Delta::ServerModel("gpt-4.1-2025-04-14".into()),
                call(0, Some("call_w7"), Some("get_weather"), ""),
                call(0, None, None, "{\"location\":"),
                call(0, None, None, "\"Paris, France\"}"),
                call(1, Some("call_t2"), Some("get_time"), ""),
                call(1, None, None, "{\"tz\":\"CET\"}"),
                Delta::Usage(Usage {
                    input_tokens: Some(291),
                    output_tokens: Some(41),
                    cached_input_tokens: Some(0),
                    cache_write_tokens: None,
                    reasoning_tokens: Some(0),
                }),
                Delta::Finished { reason: Some("tool_calls".into()) },
            ]
        );
    }

    #[test]
    fn incomplete_failed_error_cut_and_unknown_events() {
        let incomplete = br#"data: {"type":"response.output_text.delta","item_id":"m","output_index":0,"content_index":0,"delta":"Hi"}

data: {"type":"response.incomplete","response":{"status":"incomplete","incomplete_details":{"reason":"max_output_tokens"},"usage":{"input_tokens":3,"output_tokens":16}}}

"#;
        let out = decode(incomplete);
        assert_eq!(out.last(), Some(&Delta::Finished { reason: Some("length".into()) }));

        let failed = br#"event: response.failed
data: {"type":"response.failed","response":{"status":"failed","error":{"code":"server_error","message":"The model failed."}}}

"#;
        let out = decode(failed);
        let Some(Delta::Error(e)) = out.last() else { panic!("{out:?}") };
        assert_eq!((e.kind, e.http_status), (ErrorKind::Provider, Some(500)));
        assert!(e.message.contains("The model failed."), "{}", e.message);

        let error = br#"data: {"type":"response.future_thing","x":1}

data: {"type":"error","code":"rate_limit_exceeded","message":"Slow down","param":null,"sequence_number":3}

"#;
        let out = decode(error);
        let Some(Delta::Error(e)) = out.last() else { panic!("{out:?}") };
        assert_eq!((e.kind, e.http_status), (ErrorKind::RateLimited, Some(429)));
        assert_eq!(out.len(), 1, "unknown events are skipped: {out:?}");

        let cut = br#"data: {"type":"response.output_text.delta","delta":"Hi"}

"#;
        let out = decode(cut);
        let Some(Delta::Error(e)) = out.last() else { panic!("{out:?}") };
        assert_eq!(e.kind, ErrorKind::Cut);
        assert!(e.message.contains("response.completed"), "{}", e.message);
    }

    #[test]
    fn request_shape() {
        let mut extra = Map::new();
        extra.insert("reasoning".into(), json!({"effort": "low", "summary": "auto"}));
        let req = ChatRequest {
            model: "gpt-5-mini".into(),
            messages: vec![
                Message::system("Be brief."),
                Message::user("Hi"),
                Message::assistant("Hello"),
                Message::user("Again"),
            ],
            max_tokens: Some(64),
            temperature: Some(0.2),
            tools: Default::default(),
            extra,
            prompt_cache: false,
            schema: None,
        };
        let http = build_request("https://api.openai.com/v1/", Some("sk-x"), &req);
        assert_eq!(http.url, "https://api.openai.com/v1/responses");
        assert!(http.headers.contains(&("authorization".into(), "Bearer sk-x".into())));
        let body: Value = serde_json::from_slice(&http.body).unwrap();
        assert_eq!(
            body,
            json!({
                "model": "gpt-5-mini",
                "instructions": "Be brief.",
                "input": [
                    {"role": "user", "content": "Hi"},
                    {"role": "assistant", "content": "Hello"},
                    {"role": "user", "content": "Again"}
                ],
                "stream": true,
                "store": false,
                "max_output_tokens": 64,
                "temperature": 0.2,
                "reasoning": {"effort": "low", "summary": "auto"}
            })
        );
    }
}
