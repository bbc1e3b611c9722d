//! Anthropic Messages streaming: request builder, SSE event decoder, error envelope.
//!
//! Events are dispatched on the JSON `type` (the SSE `event:` name is only a fallback), so padded
//! or renamed events still decode. See PROTOCOLS.md §3 and §9.4.

use super::sse::{SseDecoder, SseEvent, SseFraming};
use super::{
    ChatRequest, Delta, ERROR_TEXT_MAX, ErrorKind, HttpRequest, RequestError, Role, ToolCallDelta, Usage, endpoint,
    error_json, merge_extra, note_server_model, one_line, parse_object,
};
use serde_json::{Map, Value, json};

/// Anthropic requires `max_tokens`; used when the request does not set one.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

/// `POST {base}/v1/messages`; system turns go to the top-level `system` string.
pub fn build_request(base_url: &str, api_key: Option<&str>, req: &ChatRequest) -> HttpRequest {
    let system: Vec<&str> =
        req.messages.iter().filter(|m| m.role == Role::System).map(|m| m.content.as_str()).collect();
    let messages: Vec<Value> = req
        .messages
        .iter()
        .filter_map(|m| match m.role {
            Role::System => None,
            Role::User if m.attachments.is_empty() => Some(json!({"role": "user", "content": m.content})),
            Role::User => {
                let mut blocks: Vec<Value> = m.attachments.iter().map(super::attach::Attachment::anthropic).collect();
                if !m.content.is_empty() {
                    blocks.push(json!({"type": "text", "text": m.content}));
                }
                Some(json!({"role": "user", "content": blocks}))
            }
            Role::Assistant if m.tool_calls.is_empty() => Some(json!({"role": "assistant", "content": m.content})),
            Role::Assistant => {
                let mut blocks = Vec::new();
                if !m.content.is_empty() {
                    blocks.push(json!({"type": "text", "text": m.content}));
                }
                for c in &m.tool_calls {
                    blocks.push(json!({"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments_object()}));
                }
                Some(json!({"role": "assistant", "content": blocks}))
            }
            // (The API merges consecutive user turns, so parallel results may come one per turn.)
            Role::Tool => Some(json!({"role": "user", "content": [{
                "type": "tool_result",
                "tool_use_id": m.tool_call_id.as_deref().unwrap_or(""),
                "content": m.content,
            }]})),
        })
        .collect();
    let mut messages = messages;
    let mut body = Map::new();
    body.insert("model".into(), json!(req.model));
    body.insert("max_tokens".into(), json!(req.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS)));
    body.insert("stream".into(), json!(true));
    let system = (!system.is_empty()).then(|| system.join("\n\n"));
    if req.prompt_cache {
        // Breakpoints on the system prompt and the last message: a repeat of the request, or the
        // next turn of its conversation, starts with everything up to them.
        if let Some(s) = &system {
            body.insert("system".into(), json!([{"type": "text", "text": s, "cache_control": {"type": "ephemeral"}}]));
        }
        if let Some(last) = messages.last_mut() {
            mark_cache_breakpoint(last);
        }
    } else if let Some(s) = system {
        body.insert("system".into(), json!(s));
    }
    body.insert("messages".into(), Value::Array(messages));
    if let Some(t) = req.temperature {
        body.insert("temperature".into(), json!(t));
    }
    req.tools.anthropic(&mut body);
    if let Some(s) = &req.schema {
        let thinking = req.extra.get("thinking").and_then(|t| t.get("type")).and_then(Value::as_str);
        s.anthropic(&mut body, thinking.is_some_and(|t| t != "disabled"));
    }
    merge_extra(&mut body, &req.extra);
    let mut headers = Vec::new();
    if let Some(key) = api_key.filter(|k| !k.is_empty()) {
        headers.push(("x-api-key".to_string(), key.to_string()));
    }
    headers.push(("anthropic-version".to_string(), "2023-06-01".to_string()));
    headers.push(("content-type".to_string(), "application/json".to_string()));
    HttpRequest { url: endpoint(base_url, "v1/messages"), headers, body: Value::Object(body).to_string().into_bytes() }
}

/// Puts a cache breakpoint (the default 5-minute `ephemeral` one) on a message's last content
/// block (text content becomes one block; an empty text, which the API refuses as a block, gets
/// none).
fn mark_cache_breakpoint(message: &mut Value) {
    let control = json!({"type": "ephemeral"});
    match message.get_mut("content") {
        Some(Value::String(text)) if !text.is_empty() => {
            let text = std::mem::take(text);
            message["content"] = json!([{"type": "text", "text": text, "cache_control": control}]);
        }
        Some(Value::Array(blocks)) => {
            if let Some(Value::Object(b)) = blocks.last_mut() {
                b.insert("cache_control".into(), control);
            }
        }
        _ => {}
    }
}

/// The provider's message from `{"type":"error","error":{"type","message"}}`, e.g.
/// `rate_limit_error: Number of requests has exceeded your rate limit`.
pub fn error_message(body: &[u8]) -> Option<String> {
    let v = error_json(body)?;
    let text = error_text(v.get("error")?)?;
    Some(one_line(&text, ERROR_TEXT_MAX))
}

/// `type: message` from an Anthropic error object (a bare string is taken as is).
fn error_text(err: &Value) -> Option<String> {
    if let Some(s) = err.as_str() {
        return Some(s.to_string()).filter(|s| !s.trim().is_empty());
    }
    let message = err.get("message").and_then(Value::as_str).unwrap_or("").trim();
    let kind = err.get("type").and_then(Value::as_str).unwrap_or("").trim();
    match (kind.is_empty(), message.is_empty()) {
        (true, true) => None,
        (false, true) => Some(kind.to_string()),
        (true, false) => Some(message.to_string()),
        (false, false) => Some(format!("{kind}: {message}")),
    }
}

/// Raw usage counters as Anthropic reports them, merged across `message_start` and the
/// (cumulative) `message_delta`s.
#[derive(Default)]
struct RawUsage {
    input: Option<u64>,
    cache_write: Option<u64>,
    cache_read: Option<u64>,
    output: Option<u64>,
    thinking: Option<u64>,
}

impl RawUsage {
    /// Fields present in `u` replace what we had (`message_delta` usage is cumulative).
    fn merge(&mut self, u: &Value) {
        let n = |key: &str| u.get(key).and_then(Value::as_u64);
        let set = |slot: &mut Option<u64>, v: Option<u64>| {
            if v.is_some() {
                *slot = v;
            }
        };
        set(&mut self.input, n("input_tokens"));
        set(&mut self.cache_write, n("cache_creation_input_tokens"));
        set(&mut self.cache_read, n("cache_read_input_tokens"));
        set(&mut self.output, n("output_tokens"));
        let thinking = u.get("output_tokens_details").and_then(|d| d.get("thinking_tokens")).and_then(Value::as_u64);
        set(&mut self.thinking, thinking);
    }

    /// Normalised: Anthropic's `input_tokens` excludes cache reads and writes; ours is the whole
    /// prompt.
    fn usage(&self) -> Usage {
        let parts = [self.input, self.cache_write, self.cache_read];
        let input = parts.iter().any(Option::is_some).then(|| parts.iter().flatten().sum());
        Usage {
            input_tokens: input,
            output_tokens: self.output,
            cached_input_tokens: self.cache_read,
            cache_write_tokens: self.cache_write,
            reasoning_tokens: self.thinking,
        }
    }
}

/// Decodes a Messages SSE body.
#[derive(Default)]
pub struct AnthropicDecoder {
    framing: SseFraming,
    usage: RawUsage,
    stop_reason: Option<String>,
    model: Option<String>,
    /// The content block index of each tool call, in the order they began.
    tool_blocks: Vec<u64>,
    /// Structured output: the forced tool whose input is the answer, and its block once begun.
    answer_tool: Option<String>,
    answer_block: Option<u64>,
}

impl AnthropicDecoder {
    fn event(&mut self, ev: &SseEvent, at_eof: bool, out: &mut Vec<Delta>) {
        let data = ev.data.trim();
        if data.is_empty() {
            return;
        }
        let Some(v) = parse_object(data, "event", at_eof, &mut self.framing.done, out) else {
            return;
        };
        let kind = v.get("type").and_then(Value::as_str).or(ev.event.as_deref()).unwrap_or("");
        match kind {
            "message_start" => {
                let Some(message) = v.get("message") else {
                    return;
                };
                note_server_model(&mut self.model, message.get("model").and_then(Value::as_str), out);
                if let Some(u) = message.get("usage").filter(|u| u.is_object()) {
                    self.usage.merge(u);
                    // message_start's output_tokens is provisional (1, or a handful): it is not a
                    // count of this reply, so it must not be shown as exact. message_delta sets it.
                    self.usage.output = None;
                    out.push(Delta::Usage(self.usage.usage()));
                }
            }
            "content_block_start" => {
                let Some(block) = v.get("content_block").filter(|b| b.get("type") == Some(&json!("tool_use"))) else {
                    return;
                };
                let Some(at) = v.get("index").and_then(Value::as_u64) else { return };
                let name = block.get("name").and_then(Value::as_str);
                if self.answer_block.is_none() && name.is_some() && name == self.answer_tool.as_deref() {
                    self.answer_block = Some(at);
                    if let Some(Value::Object(o)) =
                        block.get("input").filter(|i| i.as_object().is_some_and(|o| !o.is_empty()))
                    {
                        out.push(Delta::Text(Value::Object(o.clone()).to_string()));
                    }
                    return;
                }
                if self.tool_blocks.len() >= crate::provider::MAX_TOOL_CALLS {
                    return;
                }
                let index = self.tool_blocks.len();
                self.tool_blocks.push(at);
                let string = |key: &str| block.get(key).and_then(Value::as_str).map(str::to_string);
                // Streaming sends `input: {}` here and the arguments as input_json_delta; a proxy
                // may send them whole here instead.
                let arguments = match block.get("input") {
                    Some(Value::Object(o)) if !o.is_empty() => Value::Object(o.clone()).to_string(),
                    _ => String::new(),
                };
                out.push(Delta::ToolCall(ToolCallDelta { index, id: string("id"), name: string("name"), arguments }));
            }
            "content_block_delta" => {
                let Some(delta) = v.get("delta") else { return };
                if delta.get("type").and_then(Value::as_str) == Some("input_json_delta") {
                    let block = v.get("index").and_then(Value::as_u64);
                    if block.is_some() && block == self.answer_block {
                        if let Some(json) = delta.get("partial_json").and_then(Value::as_str).filter(|j| !j.is_empty())
                        {
                            out.push(Delta::Text(json.to_string()));
                        }
                        return;
                    }
                    let index = self.tool_blocks.iter().position(|&b| Some(b) == block);
                    if let (Some(index), Some(json)) = (index, delta.get("partial_json").and_then(Value::as_str))
                        && !json.is_empty()
                    {
                        out.push(Delta::ToolCall(ToolCallDelta {
                            index,
                            arguments: json.to_string(),
                            ..Default::default()
                        }));
                    }
                    return;
                }
                let (field, text) = match delta.get("type").and_then(Value::as_str) {
                    Some("text_delta") => ("text", true),
                    Some("thinking_delta") => ("thinking", false),
                    // signature, citations and future delta types carry no prose.
                    _ => return,
                };
                if let Some(s) = delta.get(field).and_then(Value::as_str)
                    && !s.is_empty()
                {
                    let s = s.to_string();
                    out.push(if text { Delta::Text(s) } else { Delta::Reasoning(s) });
                }
            }
            "message_delta" => {
                if let Some(r) = v.get("delta").and_then(|d| d.get("stop_reason"))
                    && let Some(r) = r.as_str()
                {
                    self.stop_reason = Some(r.to_string());
                }
                if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
                    self.usage.merge(u);
                    out.push(Delta::Usage(self.usage.usage()));
                }
            }
            "message_stop" => {
                self.framing.done = true;
                out.push(Delta::Finished { reason: self.stop_reason.clone() });
            }
            "error" => {
                let text = v.get("error").and_then(error_text).unwrap_or_else(|| one_line(data, 200));
                self.framing.done = true;
                out.push(Delta::Error(super::in_stream_error(v.get("error").unwrap_or(&Value::Null), &text)));
            }
            // ping, content_block_stop, other blocks' starts and event types added later.
            _ => {}
        }
    }
}

impl SseDecoder for AnthropicDecoder {
    fn framing(&mut self) -> &mut SseFraming {
        &mut self.framing
    }

    fn on_event(&mut self, ev: &SseEvent, at_eof: bool, out: &mut Vec<Delta>) {
        self.event(ev, at_eof, out);
    }

    fn answer_in_tool(&mut self, name: &str) {
        self.answer_tool = Some(name.to_string());
    }

    fn on_end(&mut self, out: &mut Vec<Delta>) {
        // As with OpenAI: a stop_reason means the answer is complete even if message_stop was lost.
        match self.stop_reason.clone() {
            Some(reason) => {
                out.push(Delta::Warning("the stream ended after its stop_reason without message_stop".into()));
                out.push(Delta::Finished { reason: Some(reason) });
            }
            None => out.push(Delta::Error(RequestError::new(ErrorKind::Cut, "stream ended before message_stop"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::{Message, decode_every_split};

    fn decode(body: &[u8]) -> Vec<Delta> {
        decode_every_split::<AnthropicDecoder>(body)
    }

    fn text(s: &str) -> Delta {
        Delta::Text(s.to_string())
    }

    fn reasoning(s: &str) -> Delta {
        Delta::Reasoning(s.to_string())
    }

    fn error_of(d: &Delta) -> &RequestError {
        match d {
            Delta::Error(e) => e,
            other => panic!("not an error: {other:?}"),
        }
    }

    #[test]
    fn thinking_then_text_with_pings_padding_and_cache() {
        let out = decode(include_bytes!("testdata/anthropic_thinking.sse"));
        let start = Usage {
            input_tokens: Some(25 + 100 + 2000),
            // message_start's provisional output count is not passed on.
            output_tokens: None,
            cached_input_tokens: Some(2000),
            cache_write_tokens: Some(100),
            reasoning_tokens: None,
        };
        assert_eq!(
            out,
            vec![
                Delta::ServerModel("claude-sonnet-4-6".into()),
                Delta::Usage(start.clone()),
                reasoning("Let me think"),
                reasoning(" about 東京."),
                text("naïve café"),
                text(" — 東京 🚀"),
                Delta::Usage(Usage { output_tokens: Some(42), reasoning_tokens: Some(30), ..start }),
                Delta::Finished { reason: Some("end_turn".into()) },
            ]
        );
    }

    #[test]
    fn text_then_two_tool_calls_as_recorded() {
        let call = crate::provider::tool_piece;
        let args = |s: &str| call(0, None, None, s);
        let u = |o| Usage { input_tokens: Some(472), output_tokens: o, ..Usage::default() };
        assert_eq!(
            decode(include_bytes!("testdata/anthropic_tools.sse")),
            vec![
                Delta::ServerModel("claude-sonnet-4-5-20250929".into()),
                Delta::Usage(u(None)),
                text("Okay"),
                text(", let's check the weather for San Francisco, CA:"),
                call(0, Some("toolu_01T1x1fJ34qAmk2tNTrN7Up6"), Some("get_weather"), ""),
                args("{\"location\":"),
                args(" \"San"),
                args(" Francisc"),
                args("o,"),
                args(" CA\""),
                args(", "),
                args("\"unit\": \"fah"),
                args("renheit\"}"),
                call(1, Some("toolu_02Ab"), Some("get_time"), ""),
                Delta::Usage(u(Some(89))),
                Delta::Finished { reason: Some("tool_use".into()) },
            ]
        );
    }

    /// A decoder told that the tool `city` carries the answer (structured output).
    #[derive(Default)]
    struct Structured(AnthropicDecoder);

    impl crate::provider::Decoder for Structured {
        fn feed(&mut self, bytes: &[u8], out: &mut Vec<Delta>) {
            crate::provider::Decoder::answer_in_tool(&mut self.0, "city");
            crate::provider::Decoder::feed(&mut self.0, bytes, out);
        }
        fn limit_events(&mut self, max: usize) {
            crate::provider::Decoder::limit_events(&mut self.0, max);
        }
        fn finish(&mut self, out: &mut Vec<Delta>) {
            crate::provider::Decoder::finish(&mut self.0, out);
        }
    }

    #[test]
    fn the_forced_answer_tool_streams_as_text_and_other_tools_stay_calls() {
        let body = br#"event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"a","name":"lookup","input":{}}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"q\":1}"}}

event: content_block_start
data: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"b","name":"city","input":{}}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"city\": "}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"\"Oslo\"}"}}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":9}}

event: message_stop
data: {"type":"message_stop"}

"#;
        let got = decode_every_split::<Structured>(body);
        assert_eq!(
            got,
            vec![
                Delta::ToolCall(ToolCallDelta {
                    index: 0,
                    id: Some("a".into()),
                    name: Some("lookup".into()),
                    ..Default::default()
                }),
                Delta::ToolCall(ToolCallDelta { index: 0, arguments: "{\"q\":1}".into(), ..Default::default() }),
                Delta::Text("{\"city\": ".into()),
                Delta::Text("\"Oslo\"}".into()),
                Delta::Usage(Usage { output_tokens: Some(9), ..Usage::default() }),
                Delta::Finished { reason: Some("tool_use".into()) },
            ]
        );
        // A proxy that sends the input whole in the block's start.
        let whole = br#"data: {"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"b","name":"city","input":{"city":"Oslo"}}}

data: {"type":"message_stop"}

"#;
        assert_eq!(decode_every_split::<Structured>(whole)[0], Delta::Text("{\"city\":\"Oslo\"}".into()));
    }

    #[test]
    fn tool_use_streamed_and_unknown_blocks_ignored() {
        let body = br#"event: message_start
data: {"type":"message_start","message":{"model":"claude-x","usage":{"input_tokens":5,"output_tokens":1}}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"t","name":"f","input":{}}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"a\":1}"}}

event: brand_new_event
data: {"type":"brand_new_event","stuff":[1,2]}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"compaction_delta","content":"zzz"}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"citations_delta","citation":{"cited_text":"q"}}}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":9}}

event: message_stop
data: {"type":"message_stop"}

"#;
        let u = |o| Usage { input_tokens: Some(5), output_tokens: o, ..Usage::default() };
        assert_eq!(
            decode(body),
            vec![
                Delta::ServerModel("claude-x".into()),
                Delta::Usage(u(None)),
                Delta::ToolCall(ToolCallDelta {
                    index: 0,
                    id: Some("t".into()),
                    name: Some("f".into()),
                    ..Default::default()
                }),
                Delta::ToolCall(ToolCallDelta { index: 0, arguments: "{\"a\":1}".into(), ..Default::default() }),
                Delta::Usage(u(Some(9))),
                Delta::Finished { reason: Some("tool_use".into()) },
            ]
        );
    }

    #[test]
    fn data_type_is_trusted_over_event_name() {
        let body = b"event: ping\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"a\"}}\n\ndata: {\"type\":\"message_stop\"}\n\n";
        assert_eq!(decode(body), vec![text("a"), Delta::Finished { reason: None }]);
        // Without a `type`, the event name is used.
        let body = b"event: message_stop\ndata: {}\n\n";
        assert_eq!(decode(body), vec![Delta::Finished { reason: None }]);
    }

    #[test]
    fn litellm_input_tokens_only_in_message_delta() {
        let body = br#"event: message_start
data: {"type":"message_start","message":{"id":"m","model":"claude-via-litellm","usage":{"output_tokens":0}}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"ok"}}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"input_tokens":12,"output_tokens":3,"cache_read_input_tokens":4}}

event: message_stop
data: {"type":"message_stop"}

"#;
        let out = decode(body);
        assert_eq!(
            out[3],
            Delta::Usage(Usage {
                input_tokens: Some(16),
                output_tokens: Some(3),
                cached_input_tokens: Some(4),
                ..Usage::default()
            })
        );
        assert_eq!(out[4], Delta::Finished { reason: Some("end_turn".into()) });
    }

    #[test]
    fn overloaded_error_event_ends_the_stream() {
        let body = br#"event: message_start
data: {"type":"message_start","message":{"model":"claude-x","usage":{"input_tokens":5,"output_tokens":1}}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"par"}}

event: error
data: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"late"}}

"#;
        let out = decode(body);
        assert_eq!(out.len(), 4);
        assert_eq!(out[2], text("par"));
        let e = error_of(&out[3]);
        assert_eq!(e.kind, ErrorKind::Provider);
        assert_eq!(e.message, "overloaded_error: Overloaded");
        // Counted as the 529 it stands for, so a batch retries it like one.
        assert_eq!(e.http_status, Some(529));
        assert!(crate::batch::RetryPolicy::retryable(e));
    }

    #[test]
    fn stop_reason_without_message_stop_is_complete_with_a_warning() {
        let body = b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"a\"}}\n\n\
event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":1}}\n\n";
        let out = decode(body);
        assert_eq!(out[0], text("a"));
        assert_eq!(out[2], Delta::Warning("the stream ended after its stop_reason without message_stop".into()));
        assert_eq!(out[3], Delta::Finished { reason: Some("end_turn".into()) });
        assert_eq!(out.len(), 4);
    }

    #[test]
    fn cut_stream_and_malformed_event() {
        let body = b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"a\"}}\n\n";
        let out = decode(body);
        assert_eq!(out[0], text("a"));
        let e = error_of(&out[1]);
        assert_eq!(e.kind, ErrorKind::Cut);
        assert_eq!(e.message, "stream ended before message_stop");
        // Cut inside the last event's JSON.
        let out = decode(b"event: message_delta\ndata: {\"type\":\"mess");
        assert_eq!(error_of(&out[0]).kind, ErrorKind::Cut);
        // Garbage in a complete event.
        let out = decode(
            b"event: message_stop\ndata: not json\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
        );
        assert_eq!(out.len(), 1);
        assert_eq!(error_of(&out[0]).kind, ErrorKind::Malformed);
        assert!(error_of(&out[0]).message.contains("not json"));
    }

    #[test]
    fn refusal_with_no_text() {
        let body = br#"event: message_start
data: {"type":"message_start","message":{"model":"claude-x","usage":{"input_tokens":5,"output_tokens":1}}}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"refusal","stop_details":{"type":"refusal"}},"usage":{"output_tokens":0}}

event: message_stop
data: {"type":"message_stop"}
"#;
        // Also: the last event lacks its blank line and is salvaged.
        let out = decode(body);
        assert_eq!(out.last(), Some(&Delta::Finished { reason: Some("refusal".into()) }));
        assert_eq!(out[2], Delta::Usage(Usage { input_tokens: Some(5), output_tokens: Some(0), ..Usage::default() }));
    }

    #[test]
    fn request_shape() {
        let mut req = ChatRequest {
            model: "claude-sonnet-4-6".into(),
            messages: vec![
                Message::system("Be brief."),
                Message::system("Use English."),
                Message::user("Hi"),
                Message::assistant("Hello"),
                Message::user("Again"),
            ],
            max_tokens: None,
            temperature: Some(0.2),
            tools: Default::default(),
            extra: Map::new(),
            prompt_cache: false,
            schema: None,
        };
        req.extra.insert("thinking".into(), json!({"type": "enabled", "budget_tokens": 2048}));
        let http = build_request("https://api.anthropic.com/", Some("sk-ant-secret"), &req);
        assert_eq!(http.url, "https://api.anthropic.com/v1/messages");
        assert!(!http.url.contains("secret"));
        assert_eq!(
            http.headers,
            vec![
                ("x-api-key".to_string(), "sk-ant-secret".to_string()),
                ("anthropic-version".to_string(), "2023-06-01".to_string()),
                ("content-type".to_string(), "application/json".to_string()),
            ]
        );
        let body: Value = serde_json::from_slice(&http.body).unwrap();
        assert_eq!(
            body,
            json!({
                "model": "claude-sonnet-4-6",
                "max_tokens": 4096,
                "stream": true,
                "system": "Be brief.\n\nUse English.",
                "messages": [
                    {"role": "user", "content": "Hi"},
                    {"role": "assistant", "content": "Hello"},
                    {"role": "user", "content": "Again"},
                ],
                "temperature": 0.2,
                "thinking": {"type": "enabled", "budget_tokens": 2048},
            })
        );
    }

    #[test]
    fn prompt_cache_marks_the_system_prompt_and_the_last_message() {
        let ephemeral = json!({"type": "ephemeral"});
        let mut req = ChatRequest {
            model: "m".into(),
            messages: vec![
                Message::system("Be brief."),
                Message::user("Hi"),
                Message::assistant("Hello"),
                Message::user("Again"),
            ],
            prompt_cache: true,
            schema: None,
            ..ChatRequest::default()
        };
        let body = |req: &ChatRequest| -> Value {
            serde_json::from_slice(&build_request("http://x", None, req).body).unwrap()
        };
        let b = body(&req);
        assert_eq!(b["system"], json!([{"type": "text", "text": "Be brief.", "cache_control": ephemeral}]));
        assert_eq!(b["messages"][0], json!({"role": "user", "content": "Hi"}), "only the last message is marked");
        assert_eq!(
            b["messages"][2],
            json!({"role": "user", "content": [{"type": "text", "text": "Again", "cache_control": ephemeral}]})
        );
        // A tool's result as the last message: its block carries the breakpoint.
        let mut call = Message::assistant("");
        call.tool_calls.push(crate::provider::MessageToolCall {
            id: "t1".into(),
            name: "f".into(),
            arguments: "{}".into(),
        });
        let mut result = Message::user("42");
        result.role = Role::Tool;
        result.tool_call_id = Some("t1".into());
        req.messages = vec![Message::user("Call f"), call, result];
        let b = body(&req);
        assert_eq!(b["messages"][2]["content"][0]["type"], "tool_result");
        assert_eq!(b["messages"][2]["content"][0]["cache_control"], ephemeral);
        assert!(b.get("system").is_none());
        // Off: the plain shapes.
        req.prompt_cache = false;
        assert!(!body(&req).to_string().contains("cache_control"));
    }

    #[test]
    fn request_without_system_or_key() {
        let req = ChatRequest {
            model: "m".into(),
            messages: vec![Message::user("Hi")],
            max_tokens: Some(100),
            ..ChatRequest::default()
        };
        let http = build_request("http://localhost:4000", None, &req);
        assert!(http.headers.iter().all(|(k, _)| k != "x-api-key" && k != "authorization"));
        let body: Value = serde_json::from_slice(&http.body).unwrap();
        assert!(body.get("system").is_none());
        assert!(body.get("temperature").is_none());
        assert_eq!(body["max_tokens"], 100);
    }

    #[test]
    fn error_messages() {
        let body = br#"{"type":"error","error":{"type":"rate_limit_error","message":"Number of requests has exceeded your rate limit"},"request_id":"req_1"}"#;
        assert_eq!(
            error_message(body).as_deref(),
            Some("rate_limit_error: Number of requests has exceeded your rate limit")
        );
        let body =
            b"{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Over\\nloaded\\u001b[0m\"}}";
        assert_eq!(error_message(body).as_deref(), Some("overloaded_error: Over loaded[0m"));
        assert_eq!(error_message(b"<html>502</html>"), None);
        assert_eq!(error_message(b""), None);
        assert_eq!(error_message(br#"{"type":"error"}"#), None);
    }
}
