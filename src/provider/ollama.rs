//! Ollama native `/api/chat` streaming: request builder, NDJSON line decoder, error envelope.
//!
//! (Ollama's `/v1` endpoint is OpenAI-compatible and uses the `openai` module.) See PROTOCOLS.md
//! §5.1 and §9.6.

use super::ndjson::NdjsonSplitter;
use super::openai::truthy;
use super::{
    ChatRequest, Decoder, Delta, ERROR_TEXT_MAX, ErrorKind, HttpRequest, RequestError, ToolCallDelta, Usage, endpoint,
    error_json, malformed, merge_extra, one_line,
};
use serde_json::{Map, Value, json};

/// `POST {base}/api/chat` with `stream:true`; limits go in `options`.
pub fn build_request(base_url: &str, api_key: Option<&str>, req: &ChatRequest) -> HttpRequest {
    // Ollama: calls with arguments as objects and no ids; results name their tool.
    let messages: Vec<Value> = req
        .messages
        .iter()
        .map(|m| {
            let mut v = json!({"role": m.role.as_str(), "content": m.content});
            if !m.tool_calls.is_empty() {
                let calls: Vec<Value> = m
                    .tool_calls
                    .iter()
                    .map(|c| json!({"function": {"name": c.name, "arguments": c.arguments_object()}}))
                    .collect();
                v["tool_calls"] = Value::Array(calls);
            }
            if !m.attachments.is_empty() {
                v["images"] = m.attachments.iter().map(super::attach::Attachment::ollama).collect();
            }
            if m.role == super::Role::Tool {
                v["tool_name"] = json!(super::tool_name(&req.messages, m));
            }
            v
        })
        .collect();
    let mut body = Map::new();
    body.insert("model".into(), json!(req.model));
    body.insert("messages".into(), Value::Array(messages));
    body.insert("stream".into(), json!(true));
    let mut options = Map::new();
    if let Some(n) = req.max_tokens {
        options.insert("num_predict".into(), json!(n));
    }
    if let Some(t) = req.temperature {
        options.insert("temperature".into(), json!(t));
    }
    if !options.is_empty() {
        body.insert("options".into(), Value::Object(options));
    }
    // Ollama takes OpenAI's tool shape and has no tool_choice.
    let tools = super::tools::Tools { choice: None, ..req.tools.clone() };
    tools.openai_chat(&mut body);
    if let Some(s) = &req.schema {
        s.ollama(&mut body);
    }
    merge_extra(&mut body, &req.extra);
    let mut headers = Vec::new();
    // Local Ollama needs no key; Ollama cloud takes a bearer token.
    if let Some(key) = api_key.filter(|k| !k.is_empty()) {
        headers.push(("authorization".to_string(), format!("Bearer {key}")));
    }
    headers.push(("content-type".to_string(), "application/json".to_string()));
    HttpRequest { url: endpoint(base_url, "api/chat"), headers, body: Value::Object(body).to_string().into_bytes() }
}

/// The provider's message from `{"error":"..."}`, e.g.
/// `model "x" not found, try pulling it first`.
pub fn error_message(body: &[u8]) -> Option<String> {
    let v = error_json(body)?;
    let text = error_text(v.get("error")?)?;
    Some(one_line(&text, ERROR_TEXT_MAX))
}

/// Ollama sends a string; proxies in front of it may send an OpenAI-style object.
fn error_text(err: &Value) -> Option<String> {
    match err {
        Value::String(s) => Some(s.clone()).filter(|s| !s.trim().is_empty()),
        Value::Object(_) => super::openai::error_text(err),
        _ => None,
    }
}

/// Decodes an `/api/chat` (or `/api/generate`) NDJSON body.
#[derive(Default)]
pub struct OllamaDecoder {
    lines: NdjsonSplitter,
    /// A terminal delta (Finished or Error) was emitted; nothing more follows.
    done: bool,
    /// Tool calls so far.
    calls: usize,
}

impl OllamaDecoder {
    fn line(&mut self, line: &str, at_eof: bool, out: &mut Vec<Delta>) {
        let v = match serde_json::from_str::<Value>(line) {
            Ok(v @ Value::Object(_)) => v,
            // An unterminated last line that does not parse was cut mid-write.
            _ if at_eof => return,
            _ => {
                self.done = true;
                out.push(malformed("line", line));
                return;
            }
        };
        if let Some(err) = v.get("error").filter(|e| truthy(e)) {
            let text = error_text(err).unwrap_or_else(|| one_line(&err.to_string(), 200));
            self.done = true;
            out.push(Delta::Error(RequestError::new(ErrorKind::Provider, one_line(&text, ERROR_TEXT_MAX))));
            return;
        }
        // /api/chat nests under `message`; /api/generate uses top-level `thinking`/`response`.
        let message = v.get("message");
        if let Some(t) = str_at(message, "thinking").or(str_at(Some(&v), "thinking")) {
            out.push(Delta::Reasoning(t.to_string()));
        }
        if let Some(t) = str_at(message, "content").or(str_at(Some(&v), "response")) {
            out.push(Delta::Text(t.to_string()));
        }
        // Ollama sends each tool call whole: `{function: {name, arguments: {…}}}`.
        let calls = message.and_then(|m| m.get("tool_calls")).and_then(Value::as_array);
        for call in calls.into_iter().flatten() {
            if self.calls >= crate::provider::MAX_TOOL_CALLS {
                break;
            }
            let function = call.get("function");
            let string = |v: Option<&Value>| v.and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string);
            let arguments = match function.and_then(|f| f.get("arguments")) {
                Some(Value::String(s)) => s.clone(),
                Some(v @ Value::Object(_)) => v.to_string(),
                _ => String::new(),
            };
            out.push(Delta::ToolCall(ToolCallDelta {
                index: self.calls,
                id: string(call.get("id")),
                name: string(function.and_then(|f| f.get("name"))),
                arguments,
            }));
            self.calls += 1;
        }
        if v.get("done").and_then(Value::as_bool) == Some(true) {
            if let Some(model) = str_at(Some(&v), "model") {
                out.push(Delta::ServerModel(model.to_string()));
            }
            let n = |key: &str| v.get(key).and_then(Value::as_u64);
            let usage =
                Usage { input_tokens: n("prompt_eval_count"), output_tokens: n("eval_count"), ..Usage::default() };
            if usage != Usage::default() {
                out.push(Delta::Usage(usage));
            }
            self.done = true;
            let reason = str_at(Some(&v), "done_reason").map(str::to_string);
            out.push(Delta::Finished { reason });
        }
    }
}

impl Decoder for OllamaDecoder {
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<Delta>) {
        if self.done {
            return;
        }
        for line in self.lines.feed(bytes) {
            if self.done {
                break;
            }
            self.line(&line, false, out);
        }
        if self.lines.overflowed() && !self.done {
            self.done = true;
            out.push(Delta::Error(super::event_too_large(self.lines.max)));
        }
    }

    fn limit_events(&mut self, max: usize) {
        self.lines.max = max;
    }

    fn finish(&mut self, out: &mut Vec<Delta>) {
        if self.done {
            return;
        }
        if let Some(line) = self.lines.finish() {
            self.line(&line, true, out);
        }
        if self.done {
            return;
        }
        self.done = true;
        out.push(Delta::Error(RequestError::new(ErrorKind::Cut, "stream ended before the done:true line")));
    }
}

/// A non-empty string field of `v`.
fn str_at<'a>(v: Option<&'a Value>, key: &str) -> Option<&'a str> {
    v.and_then(|v| v.get(key)).and_then(Value::as_str).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::{Message, decode_every_split};

    fn decode(body: &[u8]) -> Vec<Delta> {
        decode_every_split::<OllamaDecoder>(body)
    }

    fn text(s: &str) -> Delta {
        Delta::Text(s.to_string())
    }

    fn error_of(d: &Delta) -> &RequestError {
        match d {
            Delta::Error(e) => e,
            other => panic!("not an error: {other:?}"),
        }
    }

    #[test]
    fn tool_calls_come_whole() {
        let body = br#"{"model":"qwen3","created_at":"2025-05-28T19:01:57Z","message":{"role":"assistant","content":"","thinking":"Weather."},"done":false}
{"model":"qwen3","created_at":"2025-05-28T19:01:58Z","message":{"role":"assistant","content":"","tool_calls":[{"id":"call_x1","function":{"index":0,"name":"get_weather","arguments":{"city":"Toronto"}}},{"function":{"index":1,"name":"get_time","arguments":{}}}]},"done":false}
{"model":"qwen3","created_at":"2025-05-28T19:01:58Z","message":{"role":"assistant","content":""},"done_reason":"stop","done":true,"prompt_eval_count":180,"eval_count":31}
"#;
        let call = |index, id, name, arguments| crate::provider::tool_piece(index, id, Some(name), arguments);
        assert_eq!(
            decode(body),
            vec![
                Delta::Reasoning("Weather.".into()),
                call(0, Some("call_x1"), "get_weather", r#"{"city":"Toronto"}"#),
                call(1, None, "get_time", "{}"),
                Delta::ServerModel("qwen3".into()),
                Delta::Usage(Usage { input_tokens: Some(180), output_tokens: Some(31), ..Usage::default() }),
                Delta::Finished { reason: Some("stop".into()) },
            ]
        );
    }

    #[test]
    fn thinking_then_content_then_done_with_metrics() {
        assert_eq!(
            decode(include_bytes!("testdata/ollama_thinking.ndjson")),
            vec![
                Delta::Reasoning("Hmm, ".into()),
                Delta::Reasoning("東京?".into()),
                text("naïve café"),
                text(" — 東京 🚀"),
                Delta::ServerModel("qwen3:8b".into()),
                Delta::Usage(Usage { input_tokens: Some(26), output_tokens: Some(282), ..Usage::default() }),
                Delta::Finished { reason: Some("stop".into()) },
            ]
        );
    }

    #[test]
    fn done_line_with_last_text_and_missing_metrics_no_newline() {
        let body = b"{\"model\":\"llama3.2\",\"message\":{\"role\":\"assistant\",\"content\":\"Hi\"},\"done\":false}\r\n{\"model\":\"llama3.2\",\"message\":{\"role\":\"assistant\",\"content\":\"!\"},\"done\":true,\"done_reason\":\"length\",\"eval_count\":2}";
        assert_eq!(
            decode(body),
            vec![
                text("Hi"),
                text("!"),
                Delta::ServerModel("llama3.2".into()),
                Delta::Usage(Usage { output_tokens: Some(2), ..Usage::default() }),
                Delta::Finished { reason: Some("length".into()) },
            ]
        );
    }

    #[test]
    fn generate_endpoint_shape() {
        let body = b"{\"model\":\"m\",\"response\":\"a\",\"done\":false}\n{\"model\":\"m\",\"thinking\":\"t\",\"response\":\"\",\"done\":false}\n{\"model\":\"m\",\"response\":\"\",\"done\":true}\n";
        assert_eq!(
            decode(body),
            vec![
                text("a"),
                Delta::Reasoning("t".into()),
                Delta::ServerModel("m".into()),
                Delta::Finished { reason: None },
            ]
        );
    }

    #[test]
    fn error_line_mid_stream() {
        let body = b"{\"model\":\"m\",\"message\":{\"content\":\"a\"},\"done\":false}\n{\"error\":\"an error was encountered while running the model: unexpected EOF\"}\n{\"model\":\"m\",\"message\":{\"content\":\"b\"},\"done\":true}\n";
        let out = decode(body);
        assert_eq!(out.len(), 2);
        let e = error_of(&out[1]);
        assert_eq!(e.kind, ErrorKind::Provider);
        assert!(e.message.contains("unexpected EOF"), "{}", e.message);
    }

    #[test]
    fn cut_and_malformed() {
        let out = decode(b"{\"model\":\"m\",\"message\":{\"content\":\"a\"},\"done\":false}\n");
        assert_eq!(out[0], text("a"));
        assert_eq!(error_of(&out[1]).kind, ErrorKind::Cut);
        // Cut halfway through the last line.
        let out = decode(b"{\"model\":\"m\",\"message\":{\"content\":\"a\"},\"done\":false}\n{\"mod");
        assert_eq!(error_of(&out[1]).kind, ErrorKind::Cut);
        let out = decode(b"not json\n{\"done\":true}\n");
        assert_eq!(out.len(), 1);
        assert_eq!(error_of(&out[0]).kind, ErrorKind::Malformed);
        assert!(
            decode(b"")[0] == Delta::Error(RequestError::new(ErrorKind::Cut, "stream ended before the done:true line"))
        );
    }

    #[test]
    fn request_shape() {
        let mut req = ChatRequest {
            model: "qwen3:8b".into(),
            messages: vec![Message::system("Be brief."), Message::user("Hi")],
            max_tokens: Some(256),
            temperature: Some(0.7),
            tools: Default::default(),
            extra: Map::new(),
            prompt_cache: false,
            schema: None,
        };
        req.extra.insert("think".into(), json!(true));
        req.extra.insert("options".into(), json!({"num_ctx": 8192}));
        let http = build_request("http://localhost:11434/", None, &req);
        assert_eq!(http.url, "http://localhost:11434/api/chat");
        assert_eq!(http.headers, vec![("content-type".to_string(), "application/json".to_string())]);
        let body: Value = serde_json::from_slice(&http.body).unwrap();
        assert_eq!(
            body,
            json!({
                "model": "qwen3:8b",
                "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": "Hi"},
                ],
                "stream": true,
                "options": {"num_predict": 256, "temperature": 0.7, "num_ctx": 8192},
                "think": true,
            })
        );
        let http = build_request("https://ollama.com", Some("ok-secret"), &req);
        assert!(!http.url.contains("secret"));
        assert!(http.headers.contains(&("authorization".into(), "Bearer ok-secret".into())));
        let bare = ChatRequest { model: "m".into(), ..ChatRequest::default() };
        let body: Value = serde_json::from_slice(&build_request("http://h", None, &bare).body).unwrap();
        assert!(body.get("options").is_none());
    }

    #[test]
    fn error_messages() {
        let body = br#"{"error":"model \"x\" not found, try pulling it first"}"#;
        assert_eq!(error_message(body).as_deref(), Some("model \"x\" not found, try pulling it first"));
        let body = br#"{"error":{"message":"unauthorized","type":"api_error"}}"#;
        assert_eq!(error_message(body).as_deref(), Some("api_error: unauthorized"));
        assert_eq!(error_message(b"404 page not found"), None);
        assert_eq!(error_message(b""), None);
        assert_eq!(error_message(br#"{"error":""}"#), None);
    }
}
