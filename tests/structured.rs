//! Structured output end to end over loopback, in all five formats: the schema asked for in each
//! format's own field (Anthropic: a forced tool), the mock's schema-following answer streamed
//! back, read as the answer's text (Anthropic's tool input included) and checked.

mod common;

use bakeoff::metrics::Phase;
use bakeoff::provider::output::OutputSchema;
use common::{FORMATS, run, server, spec};
use serde_json::json;

fn city() -> OutputSchema {
    let schema = json!({
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "population": {"type": "integer", "minimum": 0},
            "landmarks": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        },
        "required": ["city", "population", "landmarks"],
        "additionalProperties": false,
    });
    OutputSchema::new(Some("city_facts"), schema, true).unwrap()
}

async fn run_all(script: &str) -> Vec<bakeoff::metrics::RequestResult> {
    let server = server().await;
    let specs = FORMATS
        .iter()
        .map(|f| {
            let mut s = spec(&server, *f, f.as_str(), script);
            s.schema = Some(city());
            s
        })
        .collect();
    let metrics = run(specs, "Tell me about Oslo, population 709000").await;
    server.shutdown().await;
    FORMATS
        .iter()
        .zip(metrics)
        .map(|(f, m)| {
            assert!(matches!(m.phase, Phase::Done { .. }), "{}: {:?}", f.as_str(), m.phase);
            let mut r = m.result(f.as_str(), f.as_str());
            r.check_output(&Default::default(), Some(&city()), 0);
            r
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_format_answers_with_json_that_fits_the_schema() {
    for r in run_all("careful;ttft=80;tps=400;quality=4").await {
        let name = &r.model;
        assert!(r.tool_calls.is_empty(), "{name}: the answer is text, not a tool call: {:?}", r.tool_calls);
        let answer: serde_json::Value =
            serde_json::from_str(&r.output).unwrap_or_else(|e| panic!("{name}: not JSON ({e}): {:?}", r.output));
        assert_eq!(answer["city"], "Oslo", "{name}: {answer}");
        assert_eq!(answer["population"], 709000, "{name}: {answer}");
        assert_eq!(r.schema_valid, Some(true), "{name}: {:?}", r.schema_error);
        // The JSON is the answer: its first piece is the first token.
        let ttft = r.ttft_ms.unwrap_or_else(|| panic!("{name}: no TTFT"));
        assert!((75.0..400.0).contains(&ttft), "{name}: TTFT {ttft}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_that_misses_a_property_is_not_schema_valid() {
    for r in run_all("sloppy;ttft=20;tps=400;quality=1").await {
        let name = &r.model;
        if name == "anthropic" {
            // Anthropic's answer is the forced tool's input, made from the schema as any call is.
            assert_eq!(r.schema_valid, Some(true), "{name}: {:?}", r.schema_error);
            continue;
        }
        assert_eq!(r.schema_valid, Some(false), "{name}: {}", r.output);
        let why = r.schema_error.as_deref().unwrap_or_default();
        assert!(why.contains("population"), "{name}: {why}");
    }
}
