//! Generated-input tests of the four decoders, with serde_json as the oracle.
//!
//! Every case builds a stream the way a server would — chunk objects serialised by serde_json,
//! random answer text (escapes, quotes, controls, every UTF-8 width, U+2028), random line endings
//! and, for SSE, JSON spread over several `data:` lines — and checks that the decoder returns
//! exactly the text serde put in, however the body is split into reads. A mutated copy (bytes
//! flipped, inserted, deleted) must decode to the same deltas however it is split, never panic,
//! and end in exactly one terminal delta.
//!
//! `cargo test` runs a few thousand cases; the documented run (README → Development) sets
//! `BAKEOFF_FUZZ_CASES=1000000` and runs in release mode.

use super::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

/// Cases per format: `BAKEOFF_FUZZ_CASES`, else a number that keeps `cargo test` quick.
pub(crate) fn cases(default: usize) -> usize {
    std::env::var("BAKEOFF_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A seed per run, printed on failure: `BAKEOFF_FUZZ_SEED` repeats a run.
pub(crate) fn seed() -> u64 {
    std::env::var("BAKEOFF_FUZZ_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or_else(rand::random)
}

const PIECES: &[&str] = &[
    "the",
    " answer",
    " is",
    "\n\n",
    "1.",
    " é",
    "東京",
    "🚀",
    "👩\u{200d}💻",
    "\"quoted\"",
    "back\\slash",
    "\t",
    "\u{1}",
    "\u{1b}[31m",
    "\u{2028}",
    "\u{7f}",
    "}",
    "{",
    "]",
    "data: ",
    "\r",
    "[DONE]",
    " ",
    "ü",
    "\u{fffd}",
];

fn text(rng: &mut StdRng) -> String {
    let n = rng.random_range(1..6);
    (0..n).map(|_| PIECES[rng.random_range(0..PIECES.len())]).collect()
}

/// `value` as SSE: one `data:` line, or (sometimes) pretty-printed over several — SSE joins
/// them with `\n`, which JSON reads as whitespace.
fn sse_event(rng: &mut StdRng, event: Option<&str>, value: &serde_json::Value, eol: &str) -> String {
    let mut out = String::new();
    if let Some(e) = event {
        out.push_str(&format!("event: {e}{eol}"));
    }
    let text = if rng.random_bool(0.1) { serde_json::to_string_pretty(value) } else { serde_json::to_string(value) };
    for line in text.unwrap_or_default().lines() {
        out.push_str(&format!("data: {line}{eol}"));
    }
    out.push_str(eol);
    out
}

/// A complete stream in `format` whose answer is `parts` concatenated.
fn body(rng: &mut StdRng, format: WireFormat, parts: &[String]) -> Vec<u8> {
    let eol = ["\n", "\r\n", "\r"][rng.random_range(0..3)];
    let mut b = String::new();
    match format {
        WireFormat::OpenAi => {
            for p in parts {
                let c = json!({"id":"c","object":"chat.completion.chunk","created":1,"model":"m",
                    "choices":[{"index":0,"delta":{"content":p},"finish_reason":null}]});
                b.push_str(&sse_event(rng, None, &c, eol));
            }
            let end = json!({"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],
                "usage":{"prompt_tokens":3,"completion_tokens":parts.len(),"total_tokens":3 + parts.len()}});
            b.push_str(&sse_event(rng, None, &end, eol));
            b.push_str(&format!("data: [DONE]{eol}{eol}"));
        }
        WireFormat::OpenAiResponses => {
            let created = json!({"type":"response.created","sequence_number":0,
                "response":{"id":"r","object":"response","status":"in_progress","model":"m","output":[]}});
            b.push_str(&sse_event(rng, Some("response.created"), &created, eol));
            for (i, p) in parts.iter().enumerate() {
                let d = json!({"type":"response.output_text.delta","sequence_number":i + 1,"item_id":"msg",
                    "output_index":0,"content_index":0,"delta":p});
                b.push_str(&sse_event(rng, Some("response.output_text.delta"), &d, eol));
            }
            let done = json!({"type":"response.completed","sequence_number":parts.len() + 1,
                "response":{"id":"r","object":"response","status":"completed","model":"m",
                "usage":{"input_tokens":3,"output_tokens":parts.len(),"total_tokens":3 + parts.len()}}});
            b.push_str(&sse_event(rng, Some("response.completed"), &done, eol));
        }
        WireFormat::Anthropic => {
            let start = json!({"type":"message_start","message":{"model":"claude","usage":{"input_tokens":3,"output_tokens":1}}});
            b.push_str(&sse_event(rng, Some("message_start"), &start, eol));
            for p in parts {
                let d = json!({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":p}});
                b.push_str(&sse_event(rng, Some("content_block_delta"), &d, eol));
            }
            let md = json!({"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":parts.len()}});
            b.push_str(&sse_event(rng, Some("message_delta"), &md, eol));
            b.push_str(&sse_event(rng, Some("message_stop"), &json!({"type":"message_stop"}), eol));
        }
        WireFormat::Gemini => {
            for (i, p) in parts.iter().enumerate() {
                let mut c = json!({"candidates":[{"content":{"parts":[{"text":p}],"role":"model"},"index":0}]});
                if i + 1 == parts.len() {
                    c["candidates"][0]["finishReason"] = json!("STOP");
                    c["usageMetadata"] = json!({"promptTokenCount":3,"candidatesTokenCount":parts.len()});
                }
                b.push_str(&sse_event(rng, None, &c, eol));
            }
        }
        WireFormat::Ollama => {
            let eol = if eol == "\r" { "\n" } else { eol };
            for p in parts {
                let l = json!({"model":"m","message":{"role":"assistant","content":p},"done":false});
                b.push_str(&format!("{l}{eol}"));
            }
            let end = json!({"model":"m","message":{"role":"assistant","content":""},"done":true,
                "done_reason":"stop","prompt_eval_count":3,"eval_count":parts.len()});
            b.push_str(&format!("{end}{eol}"));
        }
    }
    b.into_bytes()
}

/// Decodes `body` fed in the pieces `cuts` make of it.
fn decode_split(format: WireFormat, body: &[u8], cuts: &[usize]) -> Vec<Delta> {
    let mut d = decoder(format);
    let mut out = Vec::new();
    let mut at = 0;
    for &c in cuts {
        d.feed(&body[at..c], &mut out);
        at = c;
    }
    d.feed(&body[at..], &mut out);
    d.finish(&mut out);
    out
}

fn random_cuts(rng: &mut StdRng, len: usize) -> Vec<usize> {
    let mut cuts: Vec<usize> = (0..rng.random_range(0..6)).map(|_| rng.random_range(0..=len)).collect();
    cuts.sort_unstable();
    cuts
}

fn mutate(rng: &mut StdRng, body: &mut Vec<u8>) {
    const BYTES: &[u8] = b"\"\\{}[]:,\n\r \x00\xff\xc3\xe6data: 0e9-";
    for _ in 0..rng.random_range(1..5) {
        if body.is_empty() {
            body.push(b'{');
        }
        let i = rng.random_range(0..body.len());
        let b = if rng.random_bool(0.5) { BYTES[rng.random_range(0..BYTES.len())] } else { rng.random() };
        match rng.random_range(0..3) {
            0 => body[i] = b,
            1 => body.insert(i, b),
            _ => {
                body.remove(i);
            }
        }
    }
}

fn terminal(d: &Delta) -> bool {
    matches!(d, Delta::Finished { .. } | Delta::Error(_))
}

fn run(format: WireFormat, n: usize) {
    let seed = seed();
    let mut rng = StdRng::seed_from_u64(seed);
    for case in 0..n {
        let parts: Vec<String> = (0..rng.random_range(1..8)).map(|_| text(&mut rng)).collect();
        let want: String = parts.concat();
        let b = body(&mut rng, format, &parts);
        let cuts = random_cuts(&mut rng, b.len());
        let out = decode_split(format, &b, &cuts);
        let got: String =
            out.iter().filter_map(|d| if let Delta::Text(t) = d { Some(t.as_str()) } else { None }).collect();
        let ctx = || {
            format!("{format:?} case {case} (BAKEOFF_FUZZ_SEED={seed}) cuts {cuts:?}\n{}", String::from_utf8_lossy(&b))
        };
        assert_eq!(got, want, "text differs from what serde encoded: {}", ctx());
        assert!(matches!(out.last(), Some(Delta::Finished { .. })), "{out:?} {}", ctx());
        assert!(!out.iter().any(|d| matches!(d, Delta::Error(_))), "{out:?} {}", ctx());

        let mut bad = b.clone();
        mutate(&mut rng, &mut bad);
        let whole = decode_split(format, &bad, &[]);
        let cuts = random_cuts(&mut rng, bad.len());
        let split = decode_split(format, &bad, &cuts);
        let ctx = || {
            format!(
                "{format:?} mutated case {case} (BAKEOFF_FUZZ_SEED={seed}) cuts {cuts:?}\n{:?}",
                String::from_utf8_lossy(&bad)
            )
        };
        assert_eq!(split, whole, "reads split differently: {}", ctx());
        assert_eq!(whole.iter().filter(|d| terminal(d)).count(), 1, "{whole:?} {}", ctx());
        assert!(whole.last().is_some_and(terminal), "{whole:?} {}", ctx());
    }
}

#[test]
fn openai_decodes_what_serde_encoded() {
    run(WireFormat::OpenAi, cases(3000));
}

#[test]
fn responses_decodes_what_serde_encoded() {
    run(WireFormat::OpenAiResponses, cases(3000));
}

#[test]
fn anthropic_decodes_what_serde_encoded() {
    run(WireFormat::Anthropic, cases(3000));
}

#[test]
fn gemini_decodes_what_serde_encoded() {
    run(WireFormat::Gemini, cases(3000));
}

#[test]
fn ollama_decodes_what_serde_encoded() {
    run(WireFormat::Ollama, cases(3000));
}
