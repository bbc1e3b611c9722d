//! Byte-exact encoding of mock events in the four wire formats (see `/work/shared/PROTOCOLS.md`
//! §1, §3, §4, §5), plus each format's HTTP error envelope.
//!
//! Per-token chunks are built by string concatenation around a pre-serialised prefix (one JSON
//! escape per chunk), because a load test holds many streams open and most chunks differ only in
//! their text. Rare events use `serde_json::json!` for clarity.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde_json::{Value, json};

use super::calls::PlannedCall;
use super::schedule::{Event, FinishReason, Phase, Sent};
use crate::provider::WireFormat;

/// What the encoder needs to know about the request.
#[derive(Clone, Debug)]
pub struct Ctx {
    pub format: WireFormat,
    /// Echoed as the answering model: the script's name (the `;key=value` part is mock plumbing).
    pub model: String,
    /// `chatcmpl-…`, `msg_…` or Gemini's `responseId`.
    pub id: String,
    pub wall_start: SystemTime,
    pub input_tokens: u64,
    /// Of `input_tokens`, read from the prompt cache and written to it (script `cache=1`).
    pub cached_tokens: u64,
    pub cache_write_tokens: u64,
    /// Script `usage=1`.
    pub usage: bool,
    /// OpenAI `stream_options.include_usage`.
    pub include_usage: bool,
    /// Whether this stream has a reasoning phase at all (after the max-tokens cap).
    pub has_reasoning: bool,
    pub ttft: Duration,
    pub tps: f64,
    /// The tool calls this answer makes (see [`super::calls`]).
    pub calls: Vec<PlannedCall>,
}

pub const KEEPALIVE: &[u8] = b": keep-alive\n\n";

/// Turns events into bytes for one stream; keeps the little state some formats need.
pub struct Encoder {
    ctx: Ctx,
    model_json: String,
    /// OpenAI: everything up to and including `"choices":[`.
    prefix: String,
    /// OpenAI: `,"usage":null` when a usage chunk will follow (the documented shape).
    usage_null: &'static str,
    /// Anthropic: the open content block (index, is thinking).
    block: Option<(u32, bool)>,
    /// Gemini: the last text part, held back so it can carry the finish reason.
    pending_last_part: Option<String>,
    /// Responses: the open output item (reasoning or message) and its output index, the next
    /// `sequence_number`, and the open item's text so far (its `.done` events repeat it).
    item: Option<(Phase, u32)>,
    sequence: u64,
    item_text: String,
    /// The tool call being streamed, and (Gemini, Ollama: sent whole) its arguments so far.
    tool_open: Option<u32>,
    tool_args: String,
    /// Anthropic: the next content block's index.
    next_block: u32,
}

fn js(s: &str) -> String {
    // Serialising a &str cannot fail.
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

fn sse_data(json: &str) -> String {
    format!("data: {json}\n\n")
}

fn sse_event(name: &str, json: &str) -> String {
    format!("event: {name}\ndata: {json}\n\n")
}

impl Encoder {
    pub fn new(ctx: Ctx) -> Self {
        let model_json = js(&ctx.model);
        let created = ctx.wall_start.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let prefix = format!(
            r#"{{"id":{},"object":"chat.completion.chunk","created":{created},"model":{model_json},"system_fingerprint":"fp_mock","choices":["#,
            js(&ctx.id)
        );
        let usage_null = if ctx.include_usage && ctx.usage { r#","usage":null"# } else { "" };
        Encoder {
            ctx,
            model_json,
            prefix,
            usage_null,
            block: None,
            pending_last_part: None,
            item: None,
            sequence: 0,
            item_text: String::new(),
            tool_open: None,
            tool_args: String::new(),
            next_block: 0,
        }
    }

    /// The bytes for one event (empty when the format sends nothing for it).
    pub fn encode(&mut self, at: Duration, ev: &Event) -> Bytes {
        let s = match self.ctx.format {
            WireFormat::OpenAi => self.openai(ev),
            WireFormat::OpenAiResponses => self.responses(ev),
            WireFormat::Anthropic => self.anthropic(ev),
            WireFormat::Gemini => self.gemini(ev),
            WireFormat::Ollama => self.ollama(at, ev),
        };
        Bytes::from(s)
    }

    /// Call `i`'s id and name.
    fn call(&self, i: u32) -> (String, String) {
        self.ctx.calls.get(i as usize).map(|c| (c.id.clone(), c.name.clone())).unwrap_or_default()
    }

    /// Gemini and Ollama send a call whole: its arguments as a JSON object.
    fn call_args(&self) -> Value {
        serde_json::from_str::<Value>(&self.tool_args).ok().filter(Value::is_object).unwrap_or_else(|| json!({}))
    }

    // ---- OpenAI Chat Completions -------------------------------------------------------------

    fn oa_chunk(&self, choice: &str) -> String {
        sse_data(&format!("{}{choice}]{}}}", self.prefix, self.usage_null))
    }

    fn openai(&mut self, ev: &Event) -> String {
        match ev {
            Event::Open => self.oa_chunk(
                r#"{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}"#,
            ),
            Event::Chunk { phase: Phase::Answer, text, .. } => self.oa_chunk(&format!(
                r#"{{"index":0,"delta":{{"content":{}}},"logprobs":null,"finish_reason":null}}"#,
                js(text)
            )),
            // DeepSeek-style reasoning text (OpenAI itself never streams it, see §1.6).
            Event::Chunk { phase: Phase::Reasoning, text, .. } => self.oa_chunk(&format!(
                r#"{{"index":0,"delta":{{"content":null,"reasoning_content":{}}},"logprobs":null,"finish_reason":null}}"#,
                js(text)
            )),
            Event::Chunk { phase: Phase::Tool(i), text, .. } => {
                let mut out = String::new();
                if self.tool_open != Some(*i) {
                    self.tool_open = Some(*i);
                    let (id, name) = self.call(*i);
                    out.push_str(&self.oa_chunk(&format!(
                        r#"{{"index":0,"delta":{{"tool_calls":[{{"index":{i},"id":{},"type":"function","function":{{"name":{},"arguments":""}}}}]}},"logprobs":null,"finish_reason":null}}"#,
                        js(&id),
                        js(&name)
                    )));
                }
                out.push_str(&self.oa_chunk(&format!(
                    r#"{{"index":0,"delta":{{"tool_calls":[{{"index":{i},"function":{{"arguments":{}}}}}]}},"logprobs":null,"finish_reason":null}}"#,
                    js(text)
                )));
                out
            }
            Event::Malformed => format!("data: {}{{\"index\":0,\"delta\":{{\"content\":\"unterminated\n\n", self.prefix),
            Event::Finish { reason, sent } => {
                let reason = match reason {
                    FinishReason::Stop => "stop",
                    FinishReason::Length => "length",
                    FinishReason::ToolCalls => "tool_calls",
                };
                let mut out = self.oa_chunk(&format!(
                    r#"{{"index":0,"delta":{{}},"logprobs":null,"finish_reason":"{reason}"}}"#
                ));
                if self.ctx.include_usage && self.ctx.usage {
                    let (p, c) = (self.ctx.input_tokens, sent.total());
                    let usage = format!(
                        r#"{{"prompt_tokens":{p},"completion_tokens":{c},"total_tokens":{},"prompt_tokens_details":{{"cached_tokens":{},"audio_tokens":0}},"completion_tokens_details":{{"reasoning_tokens":{},"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}}"#,
                        p + u64::from(c),
                        self.ctx.cached_tokens,
                        sent.reasoning
                    );
                    out.push_str(&sse_data(&format!("{}],\"usage\":{usage}}}", self.prefix)));
                }
                out.push_str("data: [DONE]\n\n");
                out
            }
            Event::Error { .. } => {
                let mut out = sse_data(
                    r#"{"error":{"message":"The server had an error while processing your request. Sorry about that!","type":"server_error","param":null,"code":null}}"#,
                );
                out.push_str("data: [DONE]\n\n");
                out
            }
            Event::Cut | Event::Eof => String::new(),
        }
    }

    // ---- OpenAI Responses ----------------------------------------------------------------------

    /// One event: `type` first and `sequence_number` second, as the API sends them.
    fn re_event(&mut self, kind: &str, rest: &str) -> String {
        let n = self.sequence;
        self.sequence += 1;
        let sep = if rest.is_empty() { "" } else { "," };
        sse_event(kind, &format!(r#"{{"type":"{kind}","sequence_number":{n}{sep}{rest}}}"#))
    }

    /// The `response` object of the lifecycle events.
    fn re_response(&self, status: &str, tail: &str) -> String {
        let created = self.ctx.wall_start.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        format!(
            r#""response":{{"id":{},"object":"response","created_at":{created},"status":"{status}","error":null,"model":{},"output":[],"store":false{tail}}}"#,
            js(&self.ctx.id),
            self.model_json
        )
    }

    fn re_item_id(&self, phase: Phase) -> String {
        let base = self.ctx.id.trim_start_matches("resp_");
        match phase {
            Phase::Reasoning => format!("rs_{base}"),
            Phase::Answer => format!("msg_{base}"),
            Phase::Tool(i) => format!("fc_{base}{i}"),
        }
    }

    fn re_open_item(&mut self, phase: Phase, index: u32) -> String {
        self.item = Some((phase, index));
        self.item_text.clear();
        let id = js(&self.re_item_id(phase));
        if let Phase::Tool(i) = phase {
            let (call_id, name) = self.call(i);
            return self.re_event(
                "response.output_item.added",
                &format!(
                    r#""output_index":{index},"item":{{"id":{id},"type":"function_call","status":"in_progress","arguments":"","call_id":{},"name":{}}}"#,
                    js(&call_id),
                    js(&name)
                ),
            );
        }
        if phase == Phase::Reasoning {
            let mut out = self.re_event(
                "response.output_item.added",
                &format!(r#""output_index":{index},"item":{{"id":{id},"type":"reasoning","summary":[]}}"#),
            );
            out.push_str(&self.re_event(
                "response.reasoning_summary_part.added",
                &format!(
                    r#""item_id":{id},"output_index":{index},"summary_index":0,"part":{{"type":"summary_text","text":""}}"#
                ),
            ));
            out
        } else {
            let mut out = self.re_event(
                "response.output_item.added",
                &format!(
                    r#""output_index":{index},"item":{{"id":{id},"type":"message","status":"in_progress","content":[],"role":"assistant"}}"#
                ),
            );
            out.push_str(&self.re_event(
                "response.content_part.added",
                &format!(
                    r#""item_id":{id},"output_index":{index},"content_index":0,"part":{{"type":"output_text","annotations":[],"text":""}}"#
                ),
            ));
            out
        }
    }

    fn re_close_item(&mut self) -> String {
        let Some((phase, index)) = self.item.take() else { return String::new() };
        let id = js(&self.re_item_id(phase));
        let text = js(&std::mem::take(&mut self.item_text));
        if let Phase::Tool(i) = phase {
            let (call_id, name) = self.call(i);
            let mut out = self.re_event(
                "response.function_call_arguments.done",
                &format!(r#""item_id":{id},"output_index":{index},"arguments":{text}"#),
            );
            out.push_str(&self.re_event(
                "response.output_item.done",
                &format!(
                    r#""output_index":{index},"item":{{"id":{id},"type":"function_call","status":"completed","arguments":{text},"call_id":{},"name":{}}}"#,
                    js(&call_id),
                    js(&name)
                ),
            ));
            return out;
        }
        if phase == Phase::Reasoning {
            let mut out = self.re_event(
                "response.reasoning_summary_text.done",
                &format!(r#""item_id":{id},"output_index":{index},"summary_index":0,"text":{text}"#),
            );
            out.push_str(&self.re_event(
                "response.output_item.done",
                &format!(
                    r#""output_index":{index},"item":{{"id":{id},"type":"reasoning","summary":[{{"type":"summary_text","text":{text}}}]}}"#
                ),
            ));
            out
        } else {
            let mut out = self.re_event(
                "response.output_text.done",
                &format!(r#""item_id":{id},"output_index":{index},"content_index":0,"text":{text}"#),
            );
            out.push_str(&self.re_event(
                "response.output_item.done",
                &format!(
                    r#""output_index":{index},"item":{{"id":{id},"type":"message","status":"completed","content":[{{"type":"output_text","annotations":[],"text":{text}}}],"role":"assistant"}}"#
                ),
            ));
            out
        }
    }

    fn responses(&mut self, ev: &Event) -> String {
        match ev {
            Event::Open => {
                let created = self.re_response("in_progress", r#","usage":null"#);
                let mut out = self.re_event("response.created", &created);
                out.push_str(&self.re_event("response.in_progress", &created));
                // The first item opens with the headers, as the API does; a tool call's with its name.
                if self.ctx.has_reasoning {
                    out.push_str(&self.re_open_item(Phase::Reasoning, 0));
                } else if self.ctx.calls.is_empty() {
                    out.push_str(&self.re_open_item(Phase::Answer, 0));
                }
                out
            }
            Event::Chunk { phase, text, .. } => {
                let mut out = String::new();
                match self.item {
                    Some((open, _)) if open == *phase => {}
                    Some((_, index)) => {
                        out.push_str(&self.re_close_item());
                        out.push_str(&self.re_open_item(*phase, index + 1));
                    }
                    None => out.push_str(&self.re_open_item(*phase, 0)),
                }
                let (_, index) = self.item.unwrap_or((*phase, 0));
                let id = js(&self.re_item_id(*phase));
                self.item_text.push_str(text);
                let (kind, at) = match phase {
                    Phase::Reasoning => ("response.reasoning_summary_text.delta", r#","summary_index":0"#),
                    Phase::Answer => ("response.output_text.delta", r#","content_index":0"#),
                    Phase::Tool(_) => ("response.function_call_arguments.delta", ""),
                };
                out.push_str(
                    &self.re_event(kind, &format!(r#""item_id":{id},"output_index":{index}{at},"delta":{}"#, js(text))),
                );
                out
            }
            Event::Malformed => {
                "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"unterminated\n\n"
                    .into()
            }
            Event::Finish { reason, sent } => {
                let mut out = self.re_close_item();
                let usage = if self.ctx.usage {
                    let (p, c) = (self.ctx.input_tokens, sent.total());
                    format!(
                        r#","usage":{{"input_tokens":{p},"input_tokens_details":{{"cached_tokens":{}}},"output_tokens":{c},"output_tokens_details":{{"reasoning_tokens":{}}},"total_tokens":{}}}"#,
                        self.ctx.cached_tokens,
                        sent.reasoning,
                        p + u64::from(c)
                    )
                } else {
                    r#","usage":null"#.to_string()
                };
                let (kind, status, details) = match reason {
                    FinishReason::Stop | FinishReason::ToolCalls => {
                        ("response.completed", "completed", r#","incomplete_details":null"#)
                    }
                    FinishReason::Length => (
                        "response.incomplete",
                        "incomplete",
                        r#","incomplete_details":{"reason":"max_output_tokens"}"#,
                    ),
                };
                let response = self.re_response(status, &format!("{details}{usage}"));
                out.push_str(&self.re_event(kind, &response));
                out
            }
            Event::Error { .. } => {
                let tail = r#","error":{"code":"server_error","message":"The server had an error while processing your request. Sorry about that!"}"#;
                // The `response` object carries the error; `error: null` in it is replaced.
                let response = self.re_response("failed", "").replace(r#""error":null,"#, "");
                let response = response.trim_end_matches('}').to_string() + tail + "}";
                self.re_event("response.failed", &response)
            }
            Event::Cut | Event::Eof => String::new(),
        }
    }

    // ---- Anthropic Messages ------------------------------------------------------------------

    fn an_block_start(&mut self, index: u32, thinking: bool) -> String {
        self.block = Some((index, thinking));
        self.next_block = index + 1;
        let block = if thinking { r#"{"type":"thinking","thinking":""}"# } else { r#"{"type":"text","text":""}"# };
        sse_event(
            "content_block_start",
            &format!(r#"{{"type":"content_block_start","index":{index},"content_block":{block}}}"#),
        )
    }

    /// Closes the open block (a thinking block gets its signature first).
    fn an_block_stop(&mut self) -> String {
        let Some((index, thinking)) = self.block.take() else {
            return String::new();
        };
        let mut out = String::new();
        if thinking {
            out.push_str(&sse_event(
                "content_block_delta",
                &format!(
                    r#"{{"type":"content_block_delta","index":{index},"delta":{{"type":"signature_delta","signature":"{}"}}}}"#,
                    signature(&self.ctx.id)
                ),
            ));
        }
        out.push_str(&sse_event("content_block_stop", &format!(r#"{{"type":"content_block_stop","index":{index}}}"#)));
        out
    }

    // Long by design: every Anthropic event in the order the API sends them, byte for byte.
    fn anthropic(&mut self, ev: &Event) -> String {
        match ev {
            Event::Open => {
                // Key order as the real API sends it (serde_json's `json!` would sort keys).
                let usage = if self.ctx.usage {
                    format!(
                        r#","usage":{{"input_tokens":{},"cache_creation_input_tokens":{w},"cache_read_input_tokens":{r},"cache_creation":{{"ephemeral_5m_input_tokens":{w},"ephemeral_1h_input_tokens":0}},"output_tokens":1,"service_tier":"standard"}}"#,
                        // Anthropic's input_tokens are those after the last cache breakpoint.
                        self.ctx.input_tokens - self.ctx.cached_tokens - self.ctx.cache_write_tokens,
                        r = self.ctx.cached_tokens,
                        w = self.ctx.cache_write_tokens,
                    )
                } else {
                    String::new()
                };
                let mut out = sse_event(
                    "message_start",
                    &format!(
                        r#"{{"type":"message_start","message":{{"id":{},"type":"message","role":"assistant","content":[],"model":{},"stop_reason":null,"stop_sequence":null{usage}}}}}"#,
                        js(&self.ctx.id),
                        self.model_json
                    ),
                );
                // A tool-only answer starts with its tool_use block, not an empty text block.
                if self.ctx.has_reasoning || self.ctx.calls.is_empty() {
                    out.push_str(&self.an_block_start(0, self.ctx.has_reasoning));
                }
                out.push_str(&sse_event("ping", r#"{"type": "ping"}"#));
                out
            }
            Event::Chunk { phase: Phase::Tool(i), text, .. } => {
                let mut out = String::new();
                if self.tool_open != Some(*i) {
                    self.tool_open = Some(*i);
                    out.push_str(&self.an_block_stop());
                    let index = self.next_block;
                    self.next_block += 1;
                    // Marked as a text block for `an_block_stop` (no signature).
                    self.block = Some((index, false));
                    let (id, name) = self.call(*i);
                    out.push_str(&sse_event(
                        "content_block_start",
                        &format!(
                            r#"{{"type":"content_block_start","index":{index},"content_block":{{"type":"tool_use","id":{},"name":{},"input":{{}}}}}}"#,
                            js(&id),
                            js(&name)
                        ),
                    ));
                    out.push_str(&sse_event(
                        "content_block_delta",
                        &format!(
                            r#"{{"type":"content_block_delta","index":{index},"delta":{{"type":"input_json_delta","partial_json":""}}}}"#
                        ),
                    ));
                }
                let index = self.block.map(|b| b.0).unwrap_or(0);
                out.push_str(&sse_event(
                    "content_block_delta",
                    &format!(
                        r#"{{"type":"content_block_delta","index":{index},"delta":{{"type":"input_json_delta","partial_json":{}}}}}"#,
                        js(text)
                    ),
                ));
                out
            }
            Event::Chunk { phase, text, .. } => {
                let mut out = String::new();
                let thinking = *phase == Phase::Reasoning;
                match self.block {
                    Some((_, open_thinking)) if open_thinking == thinking => {}
                    Some((index, _)) => {
                        out.push_str(&self.an_block_stop());
                        out.push_str(&self.an_block_start(index + 1, thinking));
                    }
                    None => out.push_str(&self.an_block_start(0, thinking)),
                }
                let index = self.block.map(|b| b.0).unwrap_or(0);
                let delta = if thinking {
                    format!(r#"{{"type":"thinking_delta","thinking":{}}}"#, js(text))
                } else {
                    format!(r#"{{"type":"text_delta","text":{}}}"#, js(text))
                };
                out.push_str(&sse_event(
                    "content_block_delta",
                    &format!(r#"{{"type":"content_block_delta","index":{index},"delta":{delta}}}"#),
                ));
                out
            }
            Event::Malformed => {
                let index = self.block.map(|b| b.0).unwrap_or(0);
                format!(
                    "event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":{index},\"delta\":{{\"type\":\"text_delta\",\"text\":\"unterminated\n\n"
                )
            }
            Event::Finish { reason, sent } => {
                let mut out = self.an_block_stop();
                let stop = match reason {
                    FinishReason::Stop => "end_turn",
                    FinishReason::Length => "max_tokens",
                    FinishReason::ToolCalls => "tool_use",
                };
                // Cumulative final usage; the thinking count is the 2026 `output_tokens_details`.
                let usage = match (self.ctx.usage, sent.reasoning) {
                    (false, _) => String::new(),
                    (true, 0) => format!(r#","usage":{{"output_tokens":{}}}"#, sent.total()),
                    (true, r) => format!(
                        r#","usage":{{"output_tokens":{},"output_tokens_details":{{"thinking_tokens":{r}}}}}"#,
                        sent.total()
                    ),
                };
                out.push_str(&sse_event(
                    "message_delta",
                    &format!(
                        r#"{{"type":"message_delta","delta":{{"stop_reason":"{stop}","stop_sequence":null}}{usage}}}"#
                    ),
                ));
                out.push_str(&sse_event("message_stop", r#"{"type":"message_stop"}"#));
                out
            }
            Event::Error { .. } => {
                sse_event("error", r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#)
            }
            Event::Cut | Event::Eof => String::new(),
        }
    }

    // ---- Gemini streamGenerateContent?alt=sse ------------------------------------------------

    fn ge_chunk(&self, parts: &str, finish: Option<&str>, sent: Sent) -> String {
        let finish = finish.map(|f| format!(r#","finishReason":"{f}""#)).unwrap_or_default();
        let usage = if self.ctx.usage {
            let p = self.ctx.input_tokens;
            let thoughts = if self.ctx.has_reasoning {
                format!(r#","thoughtsTokenCount":{}"#, sent.reasoning)
            } else {
                String::new()
            };
            // Present only when something was read from the cache, as the API sends it.
            let cached = match self.ctx.cached_tokens {
                0 => String::new(),
                n => format!(r#","cachedContentTokenCount":{n}"#),
            };
            format!(
                r#","usageMetadata":{{"promptTokenCount":{p},"candidatesTokenCount":{},"totalTokenCount":{}{cached},"promptTokensDetails":[{{"modality":"TEXT","tokenCount":{p}}}]{thoughts}}}"#,
                sent.answer,
                p + u64::from(sent.total())
            )
        } else {
            String::new()
        };
        sse_data(&format!(
            r#"{{"candidates":[{{"content":{{"parts":[{parts}],"role":"model"}}{finish},"index":0}}]{usage},"modelVersion":{},"responseId":{}}}"#,
            self.model_json,
            js(&self.ctx.id)
        ))
    }

    /// Gemini: the call being collected, as a `functionCall` part (and forgets it).
    fn ge_call_part(&mut self) -> Option<String> {
        let i = self.tool_open.take()?;
        let (_, name) = self.call(i);
        let part = format!(r#"{{"functionCall":{{"name":{},"args":{}}}}}"#, js(&name), self.call_args());
        self.tool_args.clear();
        Some(part)
    }

    fn gemini(&mut self, ev: &Event) -> String {
        match ev {
            Event::Open => String::new(),
            Event::Chunk { phase: Phase::Tool(i), text, sent, .. } => {
                // Sent whole, once complete: when the next call starts, or with the finish.
                let mut out = String::new();
                if self.tool_open.is_some_and(|open| open != *i)
                    && let Some(part) = self.ge_call_part()
                {
                    out.push_str(&self.ge_chunk(&part, None, *sent));
                }
                self.tool_open = Some(*i);
                self.tool_args.push_str(text);
                out
            }
            Event::Chunk { phase, text, sent, last } => {
                let part = match phase {
                    Phase::Reasoning => format!(r#"{{"text":{},"thought":true}}"#, js(text)),
                    // (Tool arguments are taken by the arm above.)
                    Phase::Answer | Phase::Tool(_) => format!(r#"{{"text":{}}}"#, js(text)),
                };
                // Without thinking the finish rides on the last text chunk; with thinking a
                // final empty part carries the thought signature (both shapes are recorded).
                if *last && !self.ctx.has_reasoning {
                    // Sent by Finish at the same instant, which knows the reason.
                    self.pending_last_part = Some(part);
                    return String::new();
                }
                self.ge_chunk(&part, None, *sent)
            }
            Event::Malformed => "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"unterminated\n\n".into(),
            Event::Finish { reason, sent } => {
                let reason = match reason {
                    FinishReason::Stop | FinishReason::ToolCalls => "STOP",
                    FinishReason::Length => "MAX_TOKENS",
                };
                let part = if let Some(part) = self.ge_call_part() {
                    part
                } else if let Some(part) = self.pending_last_part.take() {
                    part
                } else if self.ctx.has_reasoning {
                    format!(r#"{{"text":"","thoughtSignature":"{}"}}"#, signature(&self.ctx.id))
                } else {
                    r#"{"text":""}"#.to_string()
                };
                self.ge_chunk(&part, Some(reason), *sent)
            }
            Event::Error { .. } => sse_data(
                r#"{"error":{"code":500,"message":"An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting","status":"INTERNAL"}}"#,
            ),
            Event::Cut | Event::Eof => String::new(),
        }
    }

    // ---- Ollama /api/chat NDJSON -------------------------------------------------------------

    /// Ollama: the call being collected, as a `message.tool_calls` line (and forgets it).
    fn ol_call_line(&mut self, created: &str) -> String {
        let Some(i) = self.tool_open.take() else { return String::new() };
        let (id, name) = self.call(i);
        let line = format!(
            "{{\"model\":{},\"created_at\":{created},\"message\":{{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":[{{\"id\":{},\"function\":{{\"index\":{i},\"name\":{},\"arguments\":{}}}}}]}},\"done\":false}}\n",
            self.model_json,
            js(&id),
            js(&name),
            self.call_args()
        );
        self.tool_args.clear();
        line
    }

    fn ollama(&mut self, at: Duration, ev: &Event) -> String {
        let created = js(&rfc3339(self.ctx.wall_start + at));
        if let Event::Chunk { phase: Phase::Tool(i), text, .. } = ev {
            // Sent whole, once complete: when the next call starts, or before the last line.
            let out =
                if self.tool_open.is_some_and(|open| open != *i) { self.ol_call_line(&created) } else { String::new() };
            self.tool_open = Some(*i);
            self.tool_args.push_str(text);
            return out;
        }
        let pending = if matches!(ev, Event::Finish { .. }) { self.ol_call_line(&created) } else { String::new() };
        let m = &self.model_json;
        let line = match ev {
            Event::Open => String::new(),
            Event::Chunk { phase: Phase::Answer | Phase::Tool(_), text, .. } => format!(
                "{{\"model\":{m},\"created_at\":{created},\"message\":{{\"role\":\"assistant\",\"content\":{}}},\"done\":false}}\n",
                js(text)
            ),
            Event::Chunk { phase: Phase::Reasoning, text, .. } => format!(
                "{{\"model\":{m},\"created_at\":{created},\"message\":{{\"role\":\"assistant\",\"content\":\"\",\"thinking\":{}}},\"done\":false}}\n",
                js(text)
            ),
            Event::Malformed => format!(
                "{{\"model\":{m},\"created_at\":{created},\"message\":{{\"role\":\"assistant\",\"content\":\"unterminated\n"
            ),
            Event::Finish { reason, sent } => {
                let reason = match reason {
                    FinishReason::Stop | FinishReason::ToolCalls => "stop",
                    FinishReason::Length => "length",
                };
                // Durations consistent with the schedule: eval_count / eval_duration = tps, and
                // the wait before the first token split 4:1 into model load and prompt eval.
                let ns = |d: Duration| d.as_nanos() as u64;
                let eval = Duration::from_secs_f64(f64::from(sent.total()) / self.ctx.tps);
                let prompt_eval = self.ctx.ttft / 5;
                let load = self.ctx.ttft - prompt_eval;
                // Counts are omitted with usage=0, as Ollama omits zero/absent metrics.
                let (prompt_count, eval_count) = if self.ctx.usage {
                    (
                        format!(r#","prompt_eval_count":{}"#, self.ctx.input_tokens),
                        format!(r#","eval_count":{}"#, sent.total()),
                    )
                } else {
                    (String::new(), String::new())
                };
                format!(
                    "{{\"model\":{m},\"created_at\":{created},\"message\":{{\"role\":\"assistant\",\"content\":\"\"}},\"done\":true,\"done_reason\":\"{reason}\",\"total_duration\":{},\"load_duration\":{}{prompt_count},\"prompt_eval_duration\":{}{eval_count},\"eval_duration\":{}}}\n",
                    ns(at),
                    ns(load),
                    ns(prompt_eval),
                    ns(eval)
                )
            }
            Event::Error { .. } => {
                "{\"error\":\"an error was encountered while running the model: unexpected EOF\"}\n".into()
            }
            Event::Cut | Event::Eof => String::new(),
        };
        pending + &line
    }
}

/// A stable fake signature (base64 alphabet) for thinking blocks.
fn signature(id: &str) -> String {
    let h = super::text::fnv1a(&[id.as_bytes()]);
    format!("EqQBCkYIBxgCKkBtb2Nr{h:016x}c2lnbmF0dXJl")
}

/// `2026-01-02T03:04:05.123456789Z` (Ollama's `created_at`, Anthropic's rate-limit resets).
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (y, m, day) = crate::format::civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!("{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z", rem / 3600, rem % 3600 / 60, rem % 60, d.subsec_nanos())
}

/// An error answered before any stream, in the format's own envelope.
#[derive(Clone, Debug)]
pub struct ApiError {
    pub status: u16,
    pub message: String,
    /// Sent as `retry-after` (and Gemini's `RetryInfo`).
    pub retry_after_s: Option<u64>,
}

impl ApiError {
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        ApiError { status, message: message.into(), retry_after_s: None }
    }
}

/// `(content-type, body)` for an error in `format`.
pub fn error_body(format: WireFormat, err: &ApiError, request_id: &str) -> (&'static str, String) {
    let status = err.status;
    let body = match format {
        WireFormat::OpenAi | WireFormat::OpenAiResponses => {
            let (kind, code): (&str, Value) = match status {
                401 => ("invalid_request_error", json!("invalid_api_key")),
                404 => ("invalid_request_error", json!("unknown_url")),
                429 => ("requests", json!("rate_limit_exceeded")),
                500..=599 => ("server_error", Value::Null),
                _ => ("invalid_request_error", Value::Null),
            };
            format!(r#"{{"error":{{"message":{},"type":"{kind}","param":null,"code":{code}}}}}"#, js(&err.message))
        }
        WireFormat::Anthropic => {
            let kind = match status {
                401 => "authentication_error",
                403 => "permission_error",
                404 => "not_found_error",
                413 => "request_too_large",
                429 => "rate_limit_error",
                504 => "timeout_error",
                529 => "overloaded_error",
                500..=599 => "api_error",
                _ => "invalid_request_error",
            };
            format!(
                r#"{{"type":"error","error":{{"type":"{kind}","message":{}}},"request_id":{}}}"#,
                js(&err.message),
                js(request_id)
            )
        }
        WireFormat::Gemini => {
            let kind = match status {
                401 => "UNAUTHENTICATED",
                403 => "PERMISSION_DENIED",
                404 => "NOT_FOUND",
                429 => "RESOURCE_EXHAUSTED",
                503 | 529 => "UNAVAILABLE",
                504 => "DEADLINE_EXCEEDED",
                500..=599 => "INTERNAL",
                _ => "INVALID_ARGUMENT",
            };
            let mut e = json!({"error": {"code": status, "message": err.message, "status": kind}});
            // Gemini's retry hint lives in the body; the mock mirrors the retry-after header.
            if let Some(secs) = err.retry_after_s {
                e["error"]["details"] = json!([{
                    "@type": "type.googleapis.com/google.rpc.RetryInfo",
                    "retryDelay": format!("{secs}s")
                }]);
            }
            // The real API pretty-prints error bodies over several lines.
            serde_json::to_string_pretty(&e).unwrap_or_default()
        }
        WireFormat::Ollama => json!({"error": err.message}).to_string(),
    };
    ("application/json", body)
}

/// What an nginx in front of the API answers when the upstream is down.
pub const HTML_502: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000000000Z");
        let t = UNIX_EPOCH + Duration::new(1_709_251_199, 5); // 2024-02-29T23:59:59
        assert_eq!(rfc3339(t), "2024-02-29T23:59:59.000000005Z");
        assert_eq!(rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)), "2000-02-29T00:00:00.000000000Z");
    }

    #[test]
    fn error_envelopes_parse() {
        for f in [WireFormat::OpenAi, WireFormat::Anthropic, WireFormat::Gemini, WireFormat::Ollama] {
            let mut e = ApiError::new(429, "slow down \"now\"");
            e.retry_after_s = Some(2);
            let (_, body) = error_body(f, &e, "req_1");
            let v: Value = serde_json::from_str(&body).unwrap();
            let msg = match f {
                WireFormat::Ollama => &v["error"],
                WireFormat::Anthropic => &v["error"]["message"],
                _ => &v["error"]["message"],
            };
            assert_eq!(msg, "slow down \"now\"", "{f:?}");
        }
    }
}
