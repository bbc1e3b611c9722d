//! OpenAI Chat Completions streaming (and the many compatible servers: OpenRouter, Groq, vLLM,
//! DeepSeek, Ollama `/v1`, Azure, LiteLLM…): request builder, SSE chunk decoder, error envelope.
//!
//! See PROTOCOLS.md §1 and §9.2 for the shapes handled here.

use super::json_scan::Scanner;
use super::sse::{SseDecoder, SseEvent, SseFraming};
use super::{
    ChatRequest, Delta, ERROR_TEXT_MAX, ErrorKind, HttpRequest, RequestError, ToolCallDelta, Usage, endpoint,
    error_json, merge_extra, note_server_model, one_line, parse_object, role_content_messages,
};
use serde_json::{Map, Value, json};
use std::borrow::Cow;

/// `POST {base}/chat/completions` with `stream_options.include_usage` so the server reports
/// real token counts in a final chunk.
pub fn build_request(base_url: &str, api_key: Option<&str>, req: &ChatRequest) -> HttpRequest {
    let messages = role_content_messages(&req.messages);
    let mut body = Map::new();
    body.insert("model".into(), json!(req.model));
    body.insert("messages".into(), Value::Array(messages));
    body.insert("stream".into(), json!(true));
    body.insert("stream_options".into(), json!({"include_usage": true}));
    if let Some(n) = req.max_tokens {
        // The legacy name: every compatible server accepts it; `extra` can switch to
        // `max_completion_tokens` for OpenAI reasoning models.
        body.insert("max_tokens".into(), json!(n));
    }
    if let Some(t) = req.temperature {
        body.insert("temperature".into(), json!(t));
    }
    req.tools.openai_chat(&mut body);
    if let Some(s) = &req.schema {
        s.openai_chat(&mut body);
    }
    merge_extra(&mut body, &req.extra);
    let mut headers = Vec::new();
    if let Some(key) = api_key.filter(|k| !k.is_empty()) {
        headers.push(("authorization".to_string(), format!("Bearer {key}")));
    }
    headers.push(("content-type".to_string(), "application/json".to_string()));
    HttpRequest {
        url: endpoint(base_url, "chat/completions"),
        headers,
        body: Value::Object(body).to_string().into_bytes(),
    }
}

/// The provider's message from an OpenAI-style error body, e.g.
/// `invalid_request_error: Incorrect API key provided (invalid_api_key)`.
pub fn error_message(body: &[u8]) -> Option<String> {
    let v = error_json(body)?;
    let text = match v.get("error") {
        Some(err) => error_text(err)?,
        // vLLM and some gateways put the fields at the top level.
        None => error_text(&v)?,
    };
    Some(one_line(&text, ERROR_TEXT_MAX))
}

/// Whether an in-stream `error` value signals an error (the SDKs treat any truthy value so;
/// `null`, `false` and empty values are padding some servers send).
pub(crate) fn truthy(v: &Value) -> bool {
    match v {
        Value::Null | Value::Bool(false) => false,
        Value::String(s) => !s.is_empty(),
        Value::Object(o) => !o.is_empty(),
        Value::Array(a) => !a.is_empty(),
        _ => true,
    }
}

/// `type: message (code)` from an OpenAI error object; a bare string is taken as is.
pub(crate) fn error_text(err: &Value) -> Option<String> {
    if let Some(s) = err.as_str() {
        return Some(s.to_string()).filter(|s| !s.trim().is_empty());
    }
    let message = err.get("message").and_then(Value::as_str).unwrap_or("").trim();
    let kind = err.get("type").and_then(Value::as_str).filter(|s| !s.is_empty());
    let code = match err.get("code") {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    if message.is_empty() && kind.is_none() && code.is_none() {
        return None;
    }
    let mut text = String::new();
    if let Some(kind) = kind {
        text.push_str(kind);
        if !message.is_empty() {
            text.push_str(": ");
        }
    }
    text.push_str(message);
    if let Some(code) = code.filter(|c| Some(c.as_str()) != kind) {
        if text.is_empty() {
            text = code;
        } else {
            text.push_str(&format!(" ({code})"));
        }
    }
    Some(text)
}

/// Decodes a Chat Completions SSE body. Only choice index 0 is the answer (n>1 extras ignored).
#[derive(Default)]
pub struct OpenAiDecoder {
    framing: SseFraming,
    /// Any SSE event arrived (distinguishes an empty body in the cut message).
    saw_event: bool,
    model: Option<String>,
    finish_reason: Option<String>,
    /// The last chunk that can serve as a template for the next ones.
    template: Option<ChunkTemplate>,
    /// Each tool call's id so far (for servers that send calls without an `index`).
    tool_ids: Vec<Option<String>>,
}

/// A plain content chunk (one choice, index 0, only `content` set, no finish reason or usage).
/// Servers resend the same id, model and field layout with every token, so the next chunk is
/// usually these same bytes with another string in the content's place: that is checked with
/// two comparisons and one string scan instead of reading the whole chunk again. Same bytes
/// around a string value mean the same JSON structure, so the chunk means what this one meant
/// with the new content.
struct ChunkTemplate {
    text: String,
    /// The content string's JSON value (quotes included) in `text`.
    content: std::ops::Range<usize>,
    model: Option<String>,
}

impl ChunkTemplate {
    /// The content of `data` when it is this chunk with another string as the content.
    fn content_of<'a>(&self, data: &'a str) -> Option<Cow<'a, str>> {
        let (prefix, suffix) = (&self.text[..self.content.start], &self.text[self.content.end..]);
        if data.len() < prefix.len() + suffix.len() + 2 || !data.starts_with(prefix) || !data.ends_with(suffix) {
            return None;
        }
        let mut s = Scanner::new(&data[..data.len() - suffix.len()]);
        s.seek(prefix.len());
        let content = s.string()?;
        s.end()?;
        Some(content)
    }
}

impl OpenAiDecoder {
    fn event(&mut self, ev: &SseEvent, at_eof: bool, out: &mut Vec<Delta>) {
        self.saw_event = true;
        let data = ev.data.trim();
        if data.starts_with("[DONE]") {
            self.framing.done = true;
            out.push(Delta::Finished { reason: self.finish_reason.clone() });
            return;
        }
        if data.is_empty() {
            return;
        }
        if !self.scanned_chunk(data, out) {
            self.general_chunk(data, at_eof, out);
        }
    }

    /// The fast path: ordinary chunks are scanned straight into borrowed structs (or, repeating
    /// the last one's layout, read through its template). False for anything else (errors, tool
    /// calls, odd field types, escaped keys): the general path decides every case.
    fn scanned_chunk(&mut self, data: &str, out: &mut Vec<Delta>) -> bool {
        if let Some(t) = &self.template
            && let Some(content) = t.content_of(data)
        {
            note_server_model(&mut self.model, t.model.as_deref(), out);
            if !content.is_empty() {
                out.push(Delta::Text(content.into_owned()));
            }
            return true;
        }
        let Some((chunk, content)) = scan_chunk(data) else { return false };
        self.template = content.filter(|_| is_plain_content(&chunk)).map(|content| ChunkTemplate {
            text: data.to_string(),
            content,
            model: chunk.model.as_deref().map(str::to_string),
        });
        self.fast_chunk(chunk, out);
        true
    }

    /// Reads any chunk through a `serde_json::Value`.
    fn general_chunk(&mut self, data: &str, at_eof: bool, out: &mut Vec<Delta>) {
        let Some(chunk) = parse_object(data, "chunk", at_eof, &mut self.framing.done, out) else {
            return;
        };
        if let Some(err) = chunk.get("error").filter(|e| truthy(e)) {
            let text = error_text(err).unwrap_or_else(|| one_line(&err.to_string(), 200));
            self.framing.done = true;
            out.push(Delta::Error(super::in_stream_error(err, &text)));
            return;
        }
        note_server_model(&mut self.model, chunk.get("model").and_then(Value::as_str), out);
        let choices = chunk.get("choices").and_then(Value::as_array);
        for choice in choices.into_iter().flatten() {
            // A missing index is treated as 0: some minimal servers omit it.
            if choice.get("index").and_then(Value::as_u64).unwrap_or(0) != 0 {
                continue;
            }
            if let Some(delta) = choice.get("delta") {
                // Servers differ on the name; a few send both with the same text, so take one.
                let reasoning = [delta.get("reasoning"), delta.get("reasoning_content")]
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .find(|s| !s.is_empty());
                if let Some(r) = reasoning {
                    out.push(Delta::Reasoning(r.to_string()));
                }
                for key in ["content", "refusal"] {
                    if let Some(t) = delta.get(key).and_then(Value::as_str)
                        && !t.is_empty()
                    {
                        out.push(Delta::Text(t.to_string()));
                    }
                }
                self.tool_calls(delta, out);
            }
            if let Some(r) = choice.get("finish_reason").and_then(Value::as_str) {
                self.finish_reason = Some(r.to_string());
            }
        }
        if let Some(u) = chunk.get("usage").filter(|u| u.is_object()) {
            UsageFields::lenient(u).push(out);
        }
    }
}

impl OpenAiDecoder {
    /// `delta.tool_calls` pieces (merged by `index`), and the legacy `delta.function_call`.
    fn tool_calls(&mut self, delta: &Value, out: &mut Vec<Delta>) {
        let text = |v: Option<&Value>| match v {
            Some(Value::String(s)) => Some(s.clone()),
            // Some servers send the arguments as an object instead of its JSON text.
            Some(v @ (Value::Object(_) | Value::Array(_))) => Some(v.to_string()),
            _ => None,
        };
        let calls = delta.get("tool_calls").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        for call in calls {
            let id = call.get("id").and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string);
            let index = match call.get("index").and_then(Value::as_u64) {
                Some(i) => usize::try_from(i).unwrap_or(usize::MAX),
                // Without an index (a few servers), a new id starts a new call; pieces without
                // one continue the last.
                None => match (&id, self.tool_ids.last()) {
                    (Some(id), Some(last)) if Some(id) != last.as_ref() => self.tool_ids.len(),
                    (_, Some(_)) => self.tool_ids.len() - 1,
                    (_, None) => 0,
                },
            };
            if index == self.tool_ids.len() && index < crate::provider::MAX_TOOL_CALLS {
                self.tool_ids.push(id.clone());
            }
            let function = call.get("function");
            let name = text(function.and_then(|f| f.get("name")));
            let arguments = text(function.and_then(|f| f.get("arguments"))).unwrap_or_default();
            out.push(Delta::ToolCall(ToolCallDelta { index, id, name, arguments }));
        }
        if let Some(f) = delta.get("function_call").filter(|f| f.is_object()) {
            let name = text(f.get("name"));
            let arguments = text(f.get("arguments")).unwrap_or_default();
            out.push(Delta::ToolCall(ToolCallDelta { index: 0, id: None, name, arguments }));
        }
    }
}

/// The common shape of a chunk, borrowed from the event's text where no escapes force a copy.
#[derive(Default)]
struct FastChunk<'a> {
    model: Option<Cow<'a, str>>,
    choices: Option<Vec<FastChoice<'a>>>,
    usage: Option<UsageFields>,
}

#[derive(Default)]
struct FastChoice<'a> {
    index: Option<u64>,
    delta: Option<FastDelta<'a>>,
    finish_reason: Option<Cow<'a, str>>,
}

#[derive(Default)]
struct FastDelta<'a> {
    content: Option<Cow<'a, str>>,
    refusal: Option<Cow<'a, str>>,
    reasoning: Option<Cow<'a, str>>,
    reasoning_content: Option<Cow<'a, str>>,
}

/// The usage object's fields we read. The fast path scans it (any other field type sends the
/// chunk down the general path, which reads it field by field with [`Self::lenient`]); both map
/// it to deltas with [`Self::push`].
#[derive(Default)]
struct UsageFields {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    prompt_cache_hit_tokens: Option<u64>,
    prompt_tokens_details: Option<PromptDetails>,
    completion_tokens_details: Option<CompletionDetails>,
    cost: Option<f64>,
}

#[derive(Default)]
struct PromptDetails {
    cached_tokens: Option<u64>,
    cache_write_tokens: Option<u64>,
}

#[derive(Default)]
struct CompletionDetails {
    reasoning_tokens: Option<u64>,
}

/// Reads a chunk in the common shape with [`Scanner`]; `None` (the general path decides) for
/// anything else, including an `error` field. What it accepts it reads as the general path does
/// (tested on every mutation of a corpus in `scanner_reads_chunks_as_the_general_path_does`).
/// Also returns where the content string of choice 0 is, when the chunk has exactly one of each
/// key on the way to it (so a template cannot pick a content that a later duplicate overrides).
fn scan_chunk(data: &str) -> Option<(FastChunk<'_>, Option<std::ops::Range<usize>>)> {
    let mut s = Scanner::new(data);
    let mut chunk = FastChunk::default();
    let mut content = Spans::default();
    let mut seen = [false; 3];
    s.object(|s, key| {
        let once = |k: usize, seen: &mut [bool; 3], content: &mut Spans| {
            content.unique &= !std::mem::replace(&mut seen[k], true);
        };
        match key {
            "model" => {
                once(0, &mut seen, &mut content);
                chunk.model = s.opt_string()?;
            }
            "choices" => {
                once(1, &mut seen, &mut content);
                if !s.null() {
                    let mut choices = Vec::with_capacity(1);
                    s.array(|s| {
                        choices.push(scan_choice(s, &mut content)?);
                        Some(())
                    })?;
                    chunk.choices = Some(choices);
                }
            }
            "usage" => {
                once(2, &mut seen, &mut content);
                if !s.null() {
                    chunk.usage = Some(scan_usage(s)?);
                }
            }
            "error" => return None,
            _ => s.skip()?,
        }
        Some(())
    })?;
    s.end()?;
    let span = content.span.filter(|_| content.unique);
    Some((chunk, span))
}

/// Where content strings were seen while scanning a chunk.
struct Spans {
    span: Option<std::ops::Range<usize>>,
    /// No key on the way to the content (and the content itself) appeared twice.
    unique: bool,
}

impl Default for Spans {
    fn default() -> Self {
        Spans { span: None, unique: true }
    }
}

/// A chunk a [`ChunkTemplate`] can stand for: one choice 0 whose delta has only `content`.
fn is_plain_content(chunk: &FastChunk<'_>) -> bool {
    let empty = |v: &Option<Cow<'_, str>>| v.as_deref().is_none_or(str::is_empty);
    match chunk.choices.as_deref() {
        Some([c]) => {
            c.index.unwrap_or(0) == 0
                && c.finish_reason.is_none()
                && chunk.usage.is_none()
                && c.delta.as_ref().is_some_and(|d| {
                    d.content.is_some() && empty(&d.refusal) && empty(&d.reasoning) && empty(&d.reasoning_content)
                })
        }
        _ => false,
    }
}

fn scan_choice<'a>(s: &mut Scanner<'a>, spans: &mut Spans) -> Option<FastChoice<'a>> {
    let mut c = FastChoice::default();
    let mut delta_seen = false;
    s.object(|s, key| {
        match key {
            "index" => c.index = s.opt_u64()?,
            "finish_reason" => c.finish_reason = s.opt_string()?,
            "delta" => {
                spans.unique &= !std::mem::replace(&mut delta_seen, true);
                if s.null() {
                    c.delta = None;
                    return Some(());
                }
                let mut d = FastDelta::default();
                s.object(|s, key| {
                    match key {
                        "content" => {
                            let start = s.value_start();
                            d.content = s.opt_string()?;
                            // A second content (or a second choice's) makes the chunk no template.
                            spans.unique &= spans.span.is_none();
                            spans.span = d.content.is_some().then(|| start..s.pos());
                        }
                        "refusal" => d.refusal = s.opt_string()?,
                        "reasoning" => d.reasoning = s.opt_string()?,
                        "reasoning_content" => d.reasoning_content = s.opt_string()?,
                        // Tool calls are read by the general path.
                        "tool_calls" | "function_call" => {
                            if !s.null() {
                                return None;
                            }
                        }
                        _ => s.skip()?,
                    }
                    Some(())
                })?;
                c.delta = Some(d);
            }
            _ => s.skip()?,
        }
        Some(())
    })?;
    Some(c)
}

fn scan_usage(s: &mut Scanner<'_>) -> Option<UsageFields> {
    let mut u = UsageFields::default();
    s.object(|s, key| {
        match key {
            "prompt_tokens" => u.prompt_tokens = s.opt_u64()?,
            "completion_tokens" => u.completion_tokens = s.opt_u64()?,
            "prompt_cache_hit_tokens" => u.prompt_cache_hit_tokens = s.opt_u64()?,
            "cost" => u.cost = s.opt_f64()?,
            "prompt_tokens_details" if s.null() => u.prompt_tokens_details = None,
            "prompt_tokens_details" => {
                let mut d = PromptDetails::default();
                s.object(|s, key| {
                    match key {
                        "cached_tokens" => d.cached_tokens = s.opt_u64()?,
                        "cache_write_tokens" => d.cache_write_tokens = s.opt_u64()?,
                        _ => s.skip()?,
                    }
                    Some(())
                })?;
                u.prompt_tokens_details = Some(d);
            }
            "completion_tokens_details" if s.null() => u.completion_tokens_details = None,
            "completion_tokens_details" => {
                let mut d = CompletionDetails::default();
                s.object(|s, key| {
                    match key {
                        "reasoning_tokens" => d.reasoning_tokens = s.opt_u64()?,
                        _ => s.skip()?,
                    }
                    Some(())
                })?;
                u.completion_tokens_details = Some(d);
            }
            _ => s.skip()?,
        }
        Some(())
    })?;
    Some(u)
}

impl OpenAiDecoder {
    /// The same decisions as the general path, for a chunk in the common shape.
    fn fast_chunk(&mut self, chunk: FastChunk<'_>, out: &mut Vec<Delta>) {
        note_server_model(&mut self.model, chunk.model.as_deref(), out);
        for choice in chunk.choices.into_iter().flatten() {
            if choice.index.unwrap_or(0) != 0 {
                continue;
            }
            if let Some(delta) = choice.delta {
                let reasoning =
                    [delta.reasoning, delta.reasoning_content].into_iter().flatten().find(|s| !s.is_empty());
                if let Some(r) = reasoning {
                    out.push(Delta::Reasoning(r.into_owned()));
                }
                for t in [delta.content, delta.refusal].into_iter().flatten() {
                    if !t.is_empty() {
                        out.push(Delta::Text(t.into_owned()));
                    }
                }
            }
            if let Some(r) = choice.finish_reason {
                self.finish_reason = Some(r.into_owned());
            }
        }
        if let Some(u) = chunk.usage {
            u.push(out);
        }
    }
}

impl UsageFields {
    /// Reads a usage object whatever its field types: a field that is not a number is absent.
    fn lenient(u: &Value) -> UsageFields {
        let n = |v: Option<&Value>| v.and_then(Value::as_u64);
        let prompt = u.get("prompt_tokens_details");
        UsageFields {
            prompt_tokens: n(u.get("prompt_tokens")),
            completion_tokens: n(u.get("completion_tokens")),
            prompt_cache_hit_tokens: n(u.get("prompt_cache_hit_tokens")),
            prompt_tokens_details: prompt.map(|d| PromptDetails {
                cached_tokens: n(d.get("cached_tokens")),
                cache_write_tokens: n(d.get("cache_write_tokens")),
            }),
            completion_tokens_details: u
                .get("completion_tokens_details")
                .map(|d| CompletionDetails { reasoning_tokens: n(d.get("reasoning_tokens")) }),
            cost: u.get("cost").and_then(Value::as_f64),
        }
    }

    fn push(self, out: &mut Vec<Delta>) {
        let prompt = self.prompt_tokens_details.as_ref();
        let usage = Usage {
            input_tokens: self.prompt_tokens,
            output_tokens: self.completion_tokens,
            // DeepSeek reports cache hits under its own name.
            cached_input_tokens: prompt.and_then(|d| d.cached_tokens).or(self.prompt_cache_hit_tokens),
            cache_write_tokens: prompt.and_then(|d| d.cache_write_tokens),
            reasoning_tokens: self.completion_tokens_details.and_then(|d| d.reasoning_tokens),
        };
        if usage != Usage::default() {
            out.push(Delta::Usage(usage));
        }
        if let Some(cost) = self.cost {
            out.push(Delta::ServerCost(cost));
        }
    }
}

impl SseDecoder for OpenAiDecoder {
    fn framing(&mut self) -> &mut SseFraming {
        &mut self.framing
    }

    fn on_event(&mut self, ev: &SseEvent, at_eof: bool, out: &mut Vec<Delta>) {
        self.event(ev, at_eof, out);
    }

    fn on_end(&mut self, out: &mut Vec<Delta>) {
        // Lenient: a finish_reason means the answer is complete even if `[DONE]` was lost.
        if self.finish_reason.is_some() {
            out.push(Delta::Warning("the stream ended after its finish_reason without [DONE]".into()));
            out.push(Delta::Finished { reason: self.finish_reason.clone() });
        } else {
            let why = if self.saw_event { "" } else { " (no events in the body)" };
            out.push(Delta::Error(RequestError::new(
                ErrorKind::Cut,
                format!("stream ended before [DONE] without a finish_reason{why}"),
            )));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::{Decoder, Message, decode_every_split};

    fn decode(body: &[u8]) -> Vec<Delta> {
        decode_every_split::<OpenAiDecoder>(body)
    }

    fn text(s: &str) -> Delta {
        Delta::Text(s.to_string())
    }

    fn reasoning(s: &str) -> Delta {
        Delta::Reasoning(s.to_string())
    }

    fn model(s: &str) -> Delta {
        Delta::ServerModel(s.to_string())
    }

    fn finished(r: &str) -> Delta {
        Delta::Finished { reason: Some(r.to_string()) }
    }

    fn usage(input: u64, output: u64) -> Usage {
        Usage { input_tokens: Some(input), output_tokens: Some(output), ..Usage::default() }
    }

    fn error_kind(d: &Delta) -> Option<(ErrorKind, &str)> {
        match d {
            Delta::Error(e) => Some((e.kind, e.message.as_str())),
            _ => None,
        }
    }

    #[test]
    fn usage_reads_the_same_on_the_fast_and_the_general_path() {
        let usage = r#""usage":{"prompt_tokens":10,"completion_tokens":7,"prompt_tokens_details":{"cached_tokens":4,"cache_write_tokens":2},"completion_tokens_details":{"reasoning_tokens":3}"#;
        let want = Usage {
            input_tokens: Some(10),
            output_tokens: Some(7),
            cached_input_tokens: Some(4),
            cache_write_tokens: Some(2),
            reasoning_tokens: Some(3),
        };
        // `"cost":0.5` fits the fast path; a string cost sends the chunk down the general path,
        // which keeps every number it can read and drops only the cost.
        for (cost, server_cost) in [("0.5", Some(0.5)), (r#""0.5""#, None)] {
            let body = format!("data: {{\"choices\":[],{usage},\"cost\":{cost}}}}}\n\ndata: [DONE]\n\n");
            let got = decode(body.as_bytes());
            assert!(got.contains(&Delta::Usage(want.clone())), "cost {cost}: {got:?}");
            assert_eq!(got.contains(&Delta::ServerCost(0.5)), server_cost.is_some(), "cost {cost}: {got:?}");
        }
        // DeepSeek's name for cache hits, on both paths (a string count forces the general one).
        let deepseek = r#"data: {"choices":[],"usage":{"prompt_tokens":10,"prompt_cache_hit_tokens":6}}

data: {"choices":[],"usage":{"prompt_tokens":10,"prompt_cache_hit_tokens":6,"completion_tokens":"x"}}

data: [DONE]

"#;
        let cached: Vec<_> = decode(deepseek.as_bytes()).into_iter().filter(|d| matches!(d, Delta::Usage(_))).collect();
        let u = Usage { input_tokens: Some(10), cached_input_tokens: Some(6), ..Default::default() };
        assert_eq!(cached, vec![Delta::Usage(u.clone()), Delta::Usage(u)]);
    }

    /// Every chunk of the recorded streams and the mock, plus odd but valid shapes.
    fn chunk_corpus() -> Vec<String> {
        let mut chunks: Vec<String> = [
            include_str!("testdata/openai_basic.sse"),
            include_str!("testdata/openai_deepseek_reasoning.sse"),
            include_str!("testdata/openai_openrouter.sse"),
            include_str!("testdata/openai_parallel_tools.sse"),
        ]
        .iter()
        .flat_map(|body| body.lines())
        .filter_map(|l| l.strip_prefix("data:").map(str::trim))
        .filter(|d| d.starts_with('{'))
        .map(str::to_string)
        .collect();
        chunks.extend(
            [
                r#"{"id":"c","object":"chat.completion.chunk","created":1795399793,"model":"tp","system_fingerprint":"fp_mock","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}"#,
                r#"{"id":"c","model":"tp","choices":[],"usage":{"prompt_tokens":2,"completion_tokens":5,"total_tokens":7,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0}}}"#,
                r#" { "choices" : [ { "delta" : { "content" : "a\n\"b\"\u00e9\ud83d\ude00" } , "index" : 0 } ] } "#,
                r#"{"choices":[{"index":1,"delta":{"content":"other"}},{"index":0,"delta":{"reasoning":"r","reasoning_content":"r"}}]}"#,
                r#"{"choices":[{"index":0,"delta":{"content":"x","content":"y"}}]}"#,
                r#"{"choices":[{"index":0,"delta":null,"finish_reason":"length"}],"usage":{"cost":0.00012,"prompt_cache_hit_tokens":3,"prompt_tokens_details":null}}"#,
                r#"{"choices":null,"model":null,"usage":{"prompt_tokens":1.0,"completion_tokens":-1}}"#,
                r#"{"choices":[{"index":0,"delta":{"content":"x"},"logprobs":{"content":[{"token":"x","logprob":-0.1,"bytes":[120],"top_logprobs":[]}]}}]}"#,
                r#"{"error":null,"choices":[{"index":0,"delta":{"content":"x"}}]}"#,
                r#"{"choices":[{"index":0,"delta":{"content":"x"}}],"extra":[1,{"a":[true,false,null,-0.5e-3]}]}"#,
                r#"{"choices":[{"index":0,"delta":{"content":"x","tool_calls":null,"function_call":null}}]}"#,
                r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get_weather","arguments":""}}]}}]}"#,
                r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\": \"Par"}}]}}]}"#,
            ]
            .map(str::to_string),
        );
        chunks
    }

    /// Chunks decoded by a fresh decoder, with or without the scanner and templates (the
    /// general path alone is called directly: the shipped decoder has no switch for it).
    fn decode_chunks(chunks: &[&str], general_only: bool) -> Vec<Delta> {
        let mut d = OpenAiDecoder::default();
        let mut out = Vec::new();
        for c in chunks {
            let data = c.trim();
            if general_only && !data.is_empty() && !data.starts_with("[DONE]") {
                d.general_chunk(data, false, &mut out);
            } else {
                d.feed(format!("data: {c}\n\n").as_bytes(), &mut out);
            }
        }
        out
    }

    #[test]
    fn scanner_reads_chunks_as_the_general_path_does() {
        let corpus = chunk_corpus();
        let (mut scanned, mut templated, mut cases) = (0, 0, 0);
        for chunk in &corpus {
            // Left to the general path on purpose: an `error` field, a token count that is not a
            // whole number.
            let general = chunk.contains(r#""error""#) || chunk.contains("1.0") || chunk.contains(r#""tool_calls":["#);
            assert_eq!(scan_chunk(chunk).is_some(), !general, "{chunk}");
            // The chunk itself, then every truncation, deletion and a few substitutions at every
            // byte: whatever the scanner accepts must decode exactly as the general path decodes it.
            let b = chunk.as_bytes();
            let mut variants = vec![chunk.clone()];
            for i in 0..b.len() {
                variants.push(String::from_utf8_lossy(&b[..i]).into_owned());
                variants.push(String::from_utf8_lossy(&[&b[..i], &b[i + 1..]].concat()).into_owned());
                for c in [b'"', b'\\', b'}', b'[', b',', b':', b'0', b'e', b' ', 1] {
                    variants.push(String::from_utf8_lossy(&[&b[..i], &[c], &b[i + 1..]].concat()).into_owned());
                }
            }
            for v in &variants {
                cases += 1;
                scanned += usize::from(scan_chunk(v.trim()).is_some());
                assert_eq!(decode_chunks(&[v], false), decode_chunks(&[v], true), "{v}");
                // After the chunk itself, which may have become a template for the variant.
                templated += usize::from(
                    OpenAiDecoder::default().template_after(chunk).is_some_and(|t| t.content_of(v.trim()).is_some()),
                );
                assert_eq!(decode_chunks(&[chunk, v], false), decode_chunks(&[chunk, v], true), "{chunk}\n{v}");
            }
        }
        // Many variants break the chunk, many (inside strings) do not: both sides are exercised.
        assert!(scanned > cases / 4 && scanned < cases * 3 / 4, "{scanned} of {cases}");
        // Only variants that change nothing but the content string fit the template.
        assert!(templated > 500 && templated < scanned, "{templated} of {cases}");
    }

    #[test]
    fn a_template_stands_only_for_plain_content_chunks() {
        let plain = r#"{"id":"c1","model":"m","choices":[{"index":0,"delta":{"content":"a"},"finish_reason":null}],"usage":null}"#;
        let t = OpenAiDecoder::default().template_after(plain).expect("a plain content chunk is a template");
        let next = plain.replace(r#""a""#, r#""b\n""#);
        assert_eq!(t.content_of(&next).as_deref(), Some("b\n"));
        assert_eq!(t.content_of(&plain.replace(r#""a""#, "null")), None);
        assert_eq!(t.content_of(&plain.replace(r#""a""#, r#""a","x":"y""#)), None);
        assert_eq!(t.content_of(&plain.replace("c1", "c2")), None);
        for not_plain in [
            plain.replace("null}]", r#""stop"}]"#),
            plain.replace(r#""content":"a""#, r#""content":"a","reasoning":"r""#),
            plain.replace(r#""usage":null"#, r#""usage":{"prompt_tokens":1}"#),
            plain.replace(r#"}],"#, r#"},{"index":1,"delta":{}}],"#),
            plain.replace(r#""content":"a""#, r#""content":"a","content":"b""#),
            plain.replace(r#""usage":null"#, r#""usage":null,"choices":[]"#),
        ] {
            assert!(OpenAiDecoder::default().template_after(&not_plain).is_none(), "{not_plain}");
        }
    }

    impl OpenAiDecoder {
        /// The template this decoder keeps after decoding `chunk`.
        fn template_after(mut self, chunk: &str) -> Option<ChunkTemplate> {
            self.feed(format!("data: {chunk}\n\n").as_bytes(), &mut Vec::new());
            self.template
        }
    }

    #[test]
    fn recorded_gpt4o_stream() {
        let out = decode(include_bytes!("testdata/openai_basic.sse"));
        assert_eq!(
            out,
            vec![
                model("gpt-4o-2024-08-06"),
                text("naïve café"),
                text(" — 東京 🚀"),
                text("!"),
                Delta::Usage(Usage { cached_input_tokens: Some(0), reasoning_tokens: Some(0), ..usage(14, 30) }),
                finished("stop"),
            ]
        );
    }

    use crate::provider::tool_piece as tool;

    #[test]
    fn parallel_tool_calls_merged_by_index() {
        let out = decode(include_bytes!("testdata/openai_parallel_tools.sse"));
        assert_eq!(
            out,
            vec![
                model("gpt-4o-2024-08-06"),
                tool(0, Some("call_W1"), Some("get_weather"), ""),
                tool(0, None, None, r#"{"ci"#),
                tool(0, None, None, r#"ty": "Par"#),
                tool(0, None, None, r#"is 東京"}"#),
                tool(1, Some("call_T2"), Some("get_time"), ""),
                tool(1, None, None, r#"{"tz": "CET"}"#),
                Delta::Usage(Usage { cached_input_tokens: Some(0), reasoning_tokens: Some(0), ..usage(82, 49) }),
                finished("tool_calls"),
            ]
        );
    }

    #[test]
    fn tool_calls_without_index_legacy_function_call_and_object_arguments() {
        let chunks = [
            r#"{"choices":[{"delta":{"tool_calls":[{"id":"a","function":{"name":"f","arguments":{"x":1}}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"id":"b","function":{"name":"g","arguments":"{"}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"function":{"arguments":"}"}}]}}]}"#,
            r#"{"choices":[{"delta":{"function_call":{"name":"old","arguments":"{}"}}}]}"#,
        ];
        assert_eq!(
            decode_chunks(&chunks, false),
            vec![
                tool(0, Some("a"), Some("f"), r#"{"x":1}"#),
                tool(1, Some("b"), Some("g"), "{"),
                tool(1, None, None, "}"),
                tool(0, None, Some("old"), "{}"),
            ]
        );
    }

    #[test]
    fn deepseek_reasoning_content_then_content() {
        let out = decode(include_bytes!("testdata/openai_deepseek_reasoning.sse"));
        assert_eq!(
            out,
            vec![
                model("deepseek-reasoner"),
                reasoning("Okay, the user"),
                reasoning(" wants 東京."),
                text("東京"),
                text(" 🚀"),
                Delta::Usage(Usage { cached_input_tokens: Some(0), reasoning_tokens: Some(12), ..usage(10, 20) }),
                finished("stop"),
            ]
        );
    }

    #[test]
    fn openrouter_keepalives_reasoning_field_and_cost() {
        let out = decode(include_bytes!("testdata/openai_openrouter.sse"));
        assert_eq!(
            out,
            vec![
                model("anthropic/claude-sonnet-4.6"),
                reasoning("Thinking…"),
                text("Hi"),
                Delta::Usage(Usage {
                    cached_input_tokens: Some(4),
                    cache_write_tokens: Some(2),
                    reasoning_tokens: Some(3),
                    ..usage(9, 5)
                }),
                Delta::ServerCost(0.000123),
                finished("stop"),
            ]
        );
    }

    #[test]
    fn both_reasoning_fields_count_once() {
        let body = b"data: {\"choices\":[{\"index\":0,\"delta\":{\"reasoning\":\"r\",\"reasoning_content\":\"r\"}}]}\n\ndata: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";
        assert_eq!(decode(body), vec![reasoning("r"), finished("stop")]);
    }

    #[test]
    fn azure_prompt_filter_first_chunk_and_obfuscation() {
        let body = br#"data: {"choices":[],"created":0,"id":"","model":"","object":"","prompt_filter_results":[{"prompt_index":0,"content_filter_results":{"hate":{"filtered":false,"severity":"safe"}}}]}

data: {"choices":[{"content_filter_results":{},"delta":{"content":"","role":"assistant"},"finish_reason":null,"index":0,"logprobs":null}],"created":1,"id":"c","model":"gpt-4o-2024-11-20","object":"chat.completion.chunk","obfuscation":"x9Q"}

data: {"choices":[{"delta":{"content":"Hi"},"finish_reason":null,"index":0}],"model":"gpt-4o-2024-11-20","obfuscation":"Zk"}

data: {"choices":[{"delta":{},"finish_reason":"stop","index":0}],"model":"gpt-4o-2024-11-20","usage":null}

data: [DONE]

"#;
        assert_eq!(decode(body), vec![model("gpt-4o-2024-11-20"), text("Hi"), finished("stop")]);
    }

    #[test]
    fn n2_only_index_0_is_the_answer() {
        let body = br#"data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}

data: {"choices":[{"index":1,"delta":{"role":"assistant","content":""}}]}

data: {"choices":[{"index":1,"delta":{"content":"other"}}]}

data: {"choices":[{"index":0,"delta":{"content":"main"}}]}

data: {"choices":[{"index":0,"delta":{},"finish_reason":"length"}]}

data: {"choices":[{"index":1,"delta":{},"finish_reason":"stop"}]}

data: [DONE]

"#;
        assert_eq!(decode(body), vec![text("main"), finished("length")]);
    }

    #[test]
    fn refusal_deltas_are_text() {
        let body = br#"data: {"choices":[{"index":0,"delta":{"role":"assistant","content":null,"refusal":null}}]}

data: {"choices":[{"index":0,"delta":{"refusal":"I can't help"}}]}

data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}

data: [DONE]

"#;
        assert_eq!(decode(body), vec![text("I can't help"), finished("stop")]);
    }

    #[test]
    fn vllm_continuous_usage_is_emitted_every_chunk() {
        let body = br#"data: {"model":"m","choices":[{"index":0,"delta":{"content":"a"}}],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}

data: {"model":"m","choices":[{"index":0,"delta":{"content":"b"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}

data: {"model":"m","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}

data: [DONE]

"#;
        assert_eq!(
            decode(body),
            vec![
                model("m"),
                text("a"),
                Delta::Usage(usage(5, 1)),
                text("b"),
                Delta::Usage(usage(5, 2)),
                Delta::Usage(usage(5, 2)),
                finished("stop"),
            ]
        );
    }

    #[test]
    fn usage_attached_to_last_choice_chunk_and_model_change() {
        let body = br#"data: {"model":"a","choices":[{"index":0,"delta":{"content":"x"}}]}

data: {"model":"b","choices":[{"index":0,"delta":{"content":"y"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":2}}

data: [DONE]

"#;
        assert_eq!(
            decode(body),
            vec![model("a"), text("x"), model("b"), text("y"), Delta::Usage(usage(3, 2)), finished("stop"),]
        );
    }

    #[test]
    fn empty_and_null_content_mid_stream_is_not_text() {
        let body = br#"data: {"choices":[{"index":0,"delta":{"content":"a"}}],"usage":null}

data: {"choices":[{"index":0,"delta":{"content":""}}],"usage":null}

data: {"choices":[{"index":0,"delta":{"content":null}}]}

data: {"choices":[{"index":0,"delta":{"content":"b"},"finish_reason":null}]}

data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{}}

data: [DONE]

"#;
        assert_eq!(decode(body), vec![text("a"), text("b"), finished("stop")]);
    }

    #[test]
    fn error_object_in_200_stream_then_nothing_more() {
        let body = br#"data: {"choices":[{"index":0,"delta":{"content":"a"}}]}

data: {"error":{"message":"The server had an error while processing your request.","type":"server_error","param":null,"code":null}}

data: {"choices":[{"index":0,"delta":{"content":"late"}}]}

data: [DONE]

"#;
        let out = decode(body);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0], text("a"));
        let (kind, msg) = error_kind(&out[1]).unwrap();
        assert_eq!(kind, ErrorKind::Provider);
        assert!(msg.contains("server_error: The server had an error"), "{msg}");
    }

    #[test]
    fn falsy_error_fields_are_not_errors() {
        let body = br#"data: {"error":null,"choices":[{"index":0,"delta":{"content":"a"}}]}

data: {"error":false,"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}

data: {"error":{},"choices":[]}

data: [DONE]

"#;
        assert_eq!(decode(body), vec![text("a"), finished("stop")]);
    }

    #[test]
    fn malformed_chunk_is_reported_with_its_start() {
        let body = b"data: {\"choices\":[]}\n\ndata: <html>Bad Gateway</html> and a lot more text that goes on and on and on and on beyond eighty chars\n\ndata: [DONE]\n\n";
        let out = decode(body);
        assert_eq!(out.len(), 1);
        let (kind, msg) = error_kind(&out[0]).unwrap();
        assert_eq!(kind, ErrorKind::Malformed);
        assert!(msg.contains("<html>Bad Gateway</html>"), "{msg}");
        assert!(!msg.contains("beyond eighty"), "{msg}");
    }

    #[test]
    fn cut_streams() {
        // Cut mid-answer: no finish_reason, no [DONE].
        let out = decode(b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\n");
        assert_eq!(out[0], text("a"));
        let (kind, msg) = error_kind(&out[1]).unwrap();
        assert_eq!(kind, ErrorKind::Cut);
        assert!(msg.starts_with("stream ended before [DONE]"), "{msg}");
        // Cut in the middle of an event's JSON: cut, not malformed.
        let out = decode(b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\ndata: {\"choi");
        assert_eq!(error_kind(&out[1]).unwrap().0, ErrorKind::Cut);
        // Empty body.
        let out = decode(b"");
        assert!(error_kind(&out[0]).unwrap().1.contains("no events"));
        // finish_reason seen but [DONE] (and usage) lost: the answer is complete, with a warning.
        let out = decode(b"data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n");
        let warning = Delta::Warning("the stream ended after its finish_reason without [DONE]".into());
        assert_eq!(out, vec![warning, finished("stop")]);
    }

    #[test]
    fn done_without_trailing_blank_line_is_salvaged() {
        let out = decode(b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\ndata: [DONE]");
        assert_eq!(out, vec![text("a"), Delta::Finished { reason: None }]);
    }

    #[test]
    fn nothing_after_done() {
        let out = decode(b"data: [DONE]\n\ndata: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\n");
        assert_eq!(out, vec![Delta::Finished { reason: None }]);
    }

    #[test]
    fn request_shape() {
        let mut req = ChatRequest {
            model: "gpt-4o".into(),
            messages: vec![
                Message::system("Be brief."),
                Message::user("Hi"),
                Message::assistant("Hello"),
                Message::user("Again"),
            ],
            max_tokens: Some(256),
            temperature: Some(0.5),
            tools: Default::default(),
            extra: Map::new(),
            prompt_cache: false,
            schema: None,
        };
        req.extra.insert("top_p".into(), json!(0.9));
        req.extra.insert("stream_options".into(), json!({"include_obfuscation": false}));
        let http = build_request("https://api.openai.com/v1/", Some("sk-secret"), &req);
        assert_eq!(http.url, "https://api.openai.com/v1/chat/completions");
        assert!(!http.url.contains("sk-secret"));
        assert_eq!(
            http.headers,
            vec![
                ("authorization".to_string(), "Bearer sk-secret".to_string()),
                ("content-type".to_string(), "application/json".to_string()),
            ]
        );
        let body: Value = serde_json::from_slice(&http.body).unwrap();
        assert_eq!(
            body,
            json!({
                "model": "gpt-4o",
                "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": "Hi"},
                    {"role": "assistant", "content": "Hello"},
                    {"role": "user", "content": "Again"},
                ],
                "stream": true,
                "stream_options": {"include_usage": true, "include_obfuscation": false},
                "max_tokens": 256,
                "temperature": 0.5,
                "top_p": 0.9,
            })
        );
    }

    #[test]
    fn request_without_key_or_options() {
        let req = ChatRequest { model: "llama3".into(), messages: vec![Message::user("Hi")], ..ChatRequest::default() };
        let http = build_request("http://localhost:8000/v1", None, &req);
        assert_eq!(http.url, "http://localhost:8000/v1/chat/completions");
        assert!(http.headers.iter().all(|(k, _)| k != "authorization"));
        let body: Value = serde_json::from_slice(&http.body).unwrap();
        assert!(body.get("max_tokens").is_none());
        assert!(body.get("temperature").is_none());
        // An empty key is no key.
        let http = build_request("http://h/v1", Some(""), &req);
        assert!(http.headers.iter().all(|(k, _)| k != "authorization"));
    }

    #[test]
    fn error_messages() {
        let body = br#"{"error":{"message":"Incorrect API key provided: sk-***.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#;
        assert_eq!(
            error_message(body).as_deref(),
            Some("invalid_request_error: Incorrect API key provided: sk-***. (invalid_api_key)")
        );
        let body = br#"{"error":{"message":"You exceeded your current quota.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#;
        assert_eq!(error_message(body).as_deref(), Some("insufficient_quota: You exceeded your current quota."));
        // vLLM: fields at the top level, numeric code.
        let body = br#"{"object":"error","message":"The model `x` does not exist.","type":"NotFoundError","param":null,"code":404}"#;
        assert_eq!(error_message(body).as_deref(), Some("NotFoundError: The model `x` does not exist. (404)"));
        // Wrapped in an array (Gemini's compat endpoint), multi-line, control characters.
        let body = b"[{\"error\":{\"message\":\"line one\\nline\\ttwo\\u0007\",\"code\":400}}]";
        assert_eq!(error_message(body).as_deref(), Some("line one line two (400)"));
        let long = format!(r#"{{"error":{{"message":"{}"}}}}"#, "x".repeat(1000));
        assert!(error_message(long.as_bytes()).unwrap().chars().count() <= ERROR_TEXT_MAX + 1);
        assert_eq!(error_message(b"<html><body>502 Bad Gateway</body></html>"), None);
        assert_eq!(error_message(b""), None);
        assert_eq!(error_message(b"{}"), None);
        assert_eq!(error_message(br#"{"error":"plain string"}"#).as_deref(), Some("plain string"));
    }
}
