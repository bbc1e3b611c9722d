//! Parsing the script a mock model id carries: `NAME;key=value;key=value…`.
//!
//! The grammar and every key are documented on the [`crate::mock`] module; this file only turns
//! the string into a [`Script`] and rejects anything it does not understand, so a typo in a test
//! script fails loudly (400 naming the key) instead of silently running with defaults.

use std::fmt;

/// Hard caps that keep one request from eating the server (the whole stream is pre-serialised).
pub const MAX_TOKENS: u32 = 100_000;
pub const MAX_MS: u64 = 24 * 3600 * 1000;

/// Which canned text the answer streams.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextKind {
    Answer,
    Lorem,
    Multibyte,
    Escape,
}

/// A scripted failure. Positions (`N`) count output tokens (reasoning + answer) already sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// HTTP 429 with `retry-after`.
    RateLimited,
    /// HTTP 500 with the format's JSON error envelope.
    Server,
    /// HTTP 529 (Anthropic's "overloaded").
    Overloaded,
    /// HTTP 502 with an HTML body, like a proxy in front of the API.
    Html502,
    /// Accept the request and never send headers.
    Hang,
    /// In-stream error event after N tokens.
    Error(u32),
    /// Connection closed abruptly (mid chunked body) after N tokens.
    Cut(u32),
    /// HTTP body ends cleanly after N tokens, but without the format's terminator.
    Eof(u32),
    /// One chunk that is not valid JSON after N tokens, then the stream continues.
    Malformed(u32),
    /// Pause for MS milliseconds after N tokens, then continue.
    Stall(u32, u64),
    /// The first tool call's arguments are cut off mid-way (not valid JSON). Only formats that
    /// stream arguments as text can carry it (Chat Completions, Responses, Anthropic).
    BadArgs,
}

/// Whether the model calls tools it is offered (`tool_calls=`; see [`crate::mock::calls`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ToolCalls {
    /// When required, or when the prompt mentions a tool.
    Auto,
    Never,
    /// This many calls whenever any tool is offered.
    Count(u32),
}

impl Fault {
    /// Faults answered with a non-2xx status (or no response) instead of a stream.
    pub fn is_pre_stream(self) -> bool {
        matches!(self, Fault::RateLimited | Fault::Server | Fault::Overloaded | Fault::Html502 | Fault::Hang)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Script {
    /// The model name: the part before the first `;`.
    pub name: String,
    pub ttfb_ms: u64,
    /// Already raised to at least `ttfb_ms`.
    pub ttft_ms: u64,
    pub tps: f64,
    pub tokens: u32,
    pub reasoning: u32,
    pub chunk: u32,
    pub jitter: f64,
    pub usage: bool,
    /// `cache=1`: a prompt cache — a prefix this model was sent before is served from it.
    pub cache: bool,
    pub text: TextKind,
    pub quality: u8,
    pub keepalive_ms: Option<u64>,
    pub faults: Vec<Fault>,
    pub retry_after_s: u64,
    pub fail_first: Option<u64>,
    pub key_required: bool,
    pub seed: Option<u64>,
    /// `reply=…`: the exact answer text (decoded), replacing the generated one.
    pub reply: Option<String>,
    /// `overhead=MS`: reply with LiteLLM's `x-litellm-overhead-duration-ms` header (a proxy's own time).
    pub overhead_ms: Option<u64>,
    pub tool_calls: ToolCalls,
}

impl Default for Script {
    fn default() -> Self {
        Script {
            name: "mock".into(),
            ttfb_ms: 20,
            ttft_ms: 150,
            tps: 50.0,
            tokens: 60,
            reasoning: 0,
            chunk: 1,
            jitter: 0.0,
            usage: true,
            cache: false,
            text: TextKind::Answer,
            quality: 3,
            keepalive_ms: None,
            faults: Vec::new(),
            retry_after_s: 1,
            fail_first: None,
            key_required: false,
            seed: None,
            reply: None,
            overhead_ms: None,
            tool_calls: ToolCalls::Auto,
        }
    }
}

/// Why a script was rejected; the message is shown to the client in a 400.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptError(pub String);

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ScriptError {}

fn err(msg: impl Into<String>) -> ScriptError {
    ScriptError(msg.into())
}

fn num<T: std::str::FromStr>(key: &str, v: &str) -> Result<T, ScriptError> {
    v.trim().parse().map_err(|_| err(format!("mock script key `{key}`: `{v}` is not a valid number")))
}

fn ms(key: &str, v: &str) -> Result<u64, ScriptError> {
    let n: u64 = num(key, v)?;
    if n > MAX_MS {
        return Err(err(format!("mock script key `{key}`: {n} ms is more than {MAX_MS}")));
    }
    Ok(n)
}

fn count(key: &str, v: &str) -> Result<u32, ScriptError> {
    let n: u32 = num(key, v)?;
    if n > MAX_TOKENS {
        return Err(err(format!("mock script key `{key}`: {n} is more than {MAX_TOKENS}")));
    }
    Ok(n)
}

fn parse_fault(v: &str) -> Result<Fault, ScriptError> {
    let bad = || {
        err(format!(
            "mock script key `fault`: unknown fault `{v}` (expected 429, 500, 529, html502, hang, \
             badargs, error@N, cut@N, eof@N, malformed@N or stall@N:MS)"
        ))
    };
    Ok(match v {
        "429" => Fault::RateLimited,
        "500" => Fault::Server,
        "529" => Fault::Overloaded,
        "html502" => Fault::Html502,
        "hang" => Fault::Hang,
        "badargs" => Fault::BadArgs,
        _ => {
            let (kind, arg) = v.split_once('@').ok_or_else(bad)?;
            match kind {
                "error" => Fault::Error(count("fault", arg)?),
                "cut" => Fault::Cut(count("fault", arg)?),
                "eof" => Fault::Eof(count("fault", arg)?),
                "malformed" => Fault::Malformed(count("fault", arg)?),
                "stall" => {
                    let (n, pause) = arg.split_once(':').ok_or_else(bad)?;
                    Fault::Stall(count("fault", n)?, ms("fault", pause)?)
                }
                _ => return Err(bad()),
            }
        }
    })
}

/// Parses a model id. A plain id without `;` is a valid script with every default.
// Long by design: one arm per script key, the same table as README's.
pub fn parse(model_id: &str) -> Result<Script, ScriptError> {
    let mut parts = model_id.split(';');
    let mut s = Script::default();
    let name = parts.next().unwrap_or_default().trim();
    if !name.is_empty() {
        s.name = name.to_string();
    }
    let mut seen: Vec<&str> = Vec::new();
    for part in parts {
        let part = part.trim();
        if part.is_empty() {
            continue; // tolerate `a;;b` and a trailing `;`
        }
        let (key, value) =
            part.split_once('=').ok_or_else(|| err(format!("mock script entry `{part}` is not key=value")))?;
        let (key, value) = (key.trim(), value.trim());
        // `fault` may repeat (e.g. a stall and then a cut); any other repeat is a typo.
        if key != "fault" && seen.contains(&key) {
            return Err(err(format!("mock script key `{key}` is given twice")));
        }
        seen.push(key);
        match key {
            "ttfb" => s.ttfb_ms = ms(key, value)?,
            "ttft" => s.ttft_ms = ms(key, value)?,
            // `inf`: every token is due with the first (a whole short answer in one write), so
            // throughput benchmarks measure the client, not the server's timer resolution.
            "tps" if value == "inf" => s.tps = f64::INFINITY,
            "tps" => {
                let tps: f64 = num(key, value)?;
                if !(tps.is_finite() && tps > 0.0 && tps <= 1_000_000.0) {
                    return Err(err(format!("mock script key `tps`: {value} must be > 0 (or inf)")));
                }
                s.tps = tps;
            }
            "tokens" => s.tokens = count(key, value)?,
            "reasoning" => s.reasoning = count(key, value)?,
            "chunk" => {
                s.chunk = count(key, value)?;
                if s.chunk == 0 {
                    return Err(err("mock script key `chunk` must be at least 1"));
                }
            }
            "jitter" => {
                let j: f64 = num(key, value)?;
                if !(0.0..=1.0).contains(&j) {
                    return Err(err(format!("mock script key `jitter`: {value} is not in 0.0–1.0")));
                }
                s.jitter = j;
            }
            "usage" => {
                s.usage = match value {
                    "1" | "true" => true,
                    "0" | "false" => false,
                    _ => return Err(err(format!("mock script key `usage`: `{value}` is not 1 or 0"))),
                }
            }
            "cache" => {
                s.cache = match value {
                    "1" | "true" => true,
                    "0" | "false" => false,
                    _ => return Err(err(format!("mock script key `cache`: `{value}` is not 1 or 0"))),
                }
            }
            "text" => {
                s.text = match value {
                    "answer" => TextKind::Answer,
                    "lorem" => TextKind::Lorem,
                    "multibyte" => TextKind::Multibyte,
                    "escape" => TextKind::Escape,
                    _ => {
                        return Err(err(format!(
                            "mock script key `text`: `{value}` is not answer, lorem, multibyte or escape"
                        )));
                    }
                }
            }
            "quality" => {
                let q: u8 = num(key, value)?;
                if !(1..=5).contains(&q) {
                    return Err(err(format!("mock script key `quality`: {value} is not in 1–5")));
                }
                s.quality = q;
            }
            "keepalive" => {
                let k = ms(key, value)?;
                s.keepalive_ms = (k > 0).then_some(k);
            }
            "fault" => s.faults.push(parse_fault(value)?),
            "retry_after" => s.retry_after_s = num(key, value)?,
            "fail_first" => s.fail_first = Some(num(key, value)?),
            "key" => {
                s.key_required = match value {
                    "required" => true,
                    "optional" | "none" => false,
                    _ => return Err(err(format!("mock script key `key`: `{value}` is not `required`"))),
                }
            }
            "seed" => s.seed = Some(num(key, value)?),
            "overhead" => s.overhead_ms = Some(num(key, value)?),
            "tool_calls" => {
                s.tool_calls = match value {
                    "auto" => ToolCalls::Auto,
                    "none" => ToolCalls::Never,
                    n => match n.parse::<u32>() {
                        Ok(n @ 1..=16) => ToolCalls::Count(n),
                        _ => return Err(err("mock script key `tool_calls`: use auto, none or a count from 1 to 16")),
                    },
                }
            }
            "reply" => {
                let text = super::percent_decode(value)
                    .ok_or_else(|| err("mock script key `reply`: not valid percent-encoded UTF-8"))?;
                if super::text::tokenize(&text).len() > MAX_TOKENS as usize {
                    return Err(err(format!("mock script key `reply`: more than {MAX_TOKENS} tokens")));
                }
                s.reply = Some(text);
            }
            _ => {
                return Err(err(format!(
                    "unknown mock script key `{key}` (known: ttfb, ttft, tps, tokens, reasoning, chunk, \
                     jitter, usage, text, quality, keepalive, fault, retry_after, fail_first, key, seed, reply, \
                     overhead)"
                )));
            }
        }
    }
    s.ttft_ms = s.ttft_ms.max(s.ttfb_ms);
    // `fail_first` alone means "fail with a 500 first".
    if s.fail_first.is_some() && s.faults.is_empty() {
        s.faults.push(Fault::Server);
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_id_gets_defaults() {
        let s = parse("gpt-4o").unwrap();
        assert_eq!(s.name, "gpt-4o");
        assert_eq!((s.ttfb_ms, s.ttft_ms, s.tokens, s.chunk), (20, 150, 60, 1));
        assert!(s.usage && s.faults.is_empty());
    }

    #[test]
    fn keys_parse() {
        let s = parse("swift;ttft=200;tps=80;tokens=120;reasoning=5;chunk=3;jitter=0.2;usage=0;text=lorem;quality=5;keepalive=50;retry_after=3;key=required;seed=7;").unwrap();
        assert_eq!(s.name, "swift");
        assert_eq!(s.ttft_ms, 200);
        assert_eq!(s.tps, 80.0);
        assert_eq!((s.tokens, s.reasoning, s.chunk), (120, 5, 3));
        assert_eq!(s.text, TextKind::Lorem);
        assert!(!s.usage && s.key_required);
        assert_eq!((s.quality, s.keepalive_ms, s.retry_after_s, s.seed), (5, Some(50), 3, Some(7)));
    }

    #[test]
    fn faults_parse_and_repeat() {
        let s = parse("f;fault=stall@3:250;fault=cut@40").unwrap();
        assert_eq!(s.faults, vec![Fault::Stall(3, 250), Fault::Cut(40)]);
        for (v, f) in [
            ("429", Fault::RateLimited),
            ("500", Fault::Server),
            ("529", Fault::Overloaded),
            ("html502", Fault::Html502),
            ("hang", Fault::Hang),
            ("error@0", Fault::Error(0)),
            ("eof@2", Fault::Eof(2)),
            ("malformed@9", Fault::Malformed(9)),
        ] {
            assert_eq!(parse(&format!("m;fault={v}")).unwrap().faults, vec![f]);
        }
        assert_eq!(parse("m;fail_first=2").unwrap().faults, vec![Fault::Server]);
    }

    #[test]
    fn reply_is_percent_decoded() {
        let s = parse("judge;reply=%7B%22score%22%3A4%7D%20caf%C3%A9;tokens=3").unwrap();
        assert_eq!(s.reply.as_deref(), Some("{\"score\":4} café"));
        assert_eq!(parse("m;reply=a=b").unwrap().reply.as_deref(), Some("a=b"));
        assert!(parse("m;reply=%ZZ").is_err());
        assert!(parse("m;reply=%C3").is_err(), "a cut UTF-8 sequence");
        assert!(parse("m;reply=a;reply=b").is_err());
    }

    #[test]
    fn ttft_never_before_ttfb() {
        assert_eq!(parse("m;ttfb=300").unwrap().ttft_ms, 300);
        assert_eq!(parse("m;ttfb=300;ttft=100").unwrap().ttft_ms, 300);
    }

    #[test]
    fn rejects_bad_input() {
        let e = parse("m;speed=3").unwrap_err();
        assert!(e.0.contains("`speed`"), "{e}");
        assert!(parse("m;tps=0").is_err());
        assert_eq!(parse("m;tps=inf").unwrap().tps, f64::INFINITY);
        assert!(parse("m;tokens=x").is_err());
        assert!(parse("m;chunk=0").is_err());
        assert!(parse("m;jitter=2").is_err());
        assert!(parse("m;quality=9").is_err());
        assert!(parse("m;fault=boom").is_err());
        assert!(parse("m;fault=stall@3").is_err());
        assert!(parse("m;ttft").is_err());
        assert!(parse("m;tokens=1;tokens=2").is_err());
        assert!(parse("m;tokens=999999999").is_err());
    }
}
