//! Tool calls end to end over loopback, in all five formats: tools offered in each format's
//! spelling, the mock's scripted calls streamed back in each format's shape, and the engine's
//! results — names, parsed arguments, TTFT, time to the first tool call, finish reasons.

mod common;

use bakeoff::metrics::{Phase, RequestMetrics};
use bakeoff::provider::WireFormat;
use bakeoff::provider::tools::Tools;
use common::{FORMATS, run, server, spec};
use serde_json::json;

fn tools(choice: Option<&str>) -> Tools {
    let t = json!([
        {"type": "function", "function": {"name": "get_weather", "description": "Current weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}},
        {"type": "function", "function": {"name": "add", "description": "Add two numbers",
            "parameters": {"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
            "required": ["a", "b"]}}}
    ]);
    Tools::parse(Some(&t), choice.map(|c| json!(c)).as_ref()).unwrap()
}

async fn run_with(script: &str, offered: Tools, prompt: &str) -> Vec<(WireFormat, RequestMetrics)> {
    let server = server().await;
    let specs = FORMATS
        .iter()
        .map(|f| {
            let mut s = spec(&server, *f, f.as_str(), script);
            s.tools = offered.clone();
            s
        })
        .collect();
    let results = run(specs, prompt).await;
    server.shutdown().await;
    FORMATS.into_iter().zip(results).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_call_comes_back_named_parsed_and_timed_in_every_format() {
    let out = run_with("agent;ttft=120;tps=200", tools(None), "What is the weather in Paris?").await;
    for (f, m) in &out {
        let name = f.as_str();
        assert!(matches!(m.phase, Phase::Done { .. }), "{name}: {:?}", m.phase);
        let r = m.result(name, name);
        assert_eq!(r.tool_calls.len(), 1, "{name}: {r:?}");
        let c = &r.tool_calls[0];
        assert_eq!(c.name, "get_weather", "{name}");
        assert_eq!(c.arguments, json!({"city": "Paris"}), "{name}: {}", c.arguments_raw);
        assert_eq!(c.arguments_error, None, "{name}");
        assert!(c.id.as_deref().is_some_and(|id| id.starts_with("call_")) || *f == WireFormat::Gemini, "{name}: {c:?}");
        assert!(r.output.is_empty(), "{name}: a tool-only answer: {:?}", r.output);
        // A tool-only answer has a TTFT (the call is its first content) and a time to the tool.
        let ttft = r.ttft_ms.unwrap_or_else(|| panic!("{name}: no TTFT"));
        assert!((115.0..400.0).contains(&ttft), "{name}: TTFT {ttft}");
        let ttf_tool = r.ttf_tool_ms.unwrap_or_else(|| panic!("{name}: no ttf_tool"));
        assert!(ttf_tool >= ttft - 0.001, "{name}: {ttf_tool} before TTFT {ttft}");
        assert!(r.output_tokens > 0, "{name}");
        let want = match f {
            WireFormat::OpenAi | WireFormat::OpenAiResponses => "tool_calls",
            WireFormat::Anthropic => "tool_use",
            WireFormat::Gemini => "STOP",
            WireFormat::Ollama => "stop",
        };
        assert_eq!(r.finish_reason.as_deref(), Some(want), "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_calls_forced_choices_plain_answers_and_bad_arguments() {
    // Two calls at once, in order.
    for (f, m) in run_with("agent;ttft=20;tps=500;tool_calls=2", tools(None), "Add 2 and 3").await {
        let r = m.result(f.as_str(), f.as_str());
        let names: Vec<&str> = r.tool_calls.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["get_weather", "add"], "{f:?}");
        assert_eq!(r.tool_calls[1].arguments, json!({"a": 2, "b": 3}), "{f:?}");
    }
    // Nothing in the prompt asks for a tool: a plain answer; `tool_choice` named: that tool.
    for (f, m) in run_with("agent;ttft=20;tps=500;tokens=5", tools(None), "Tell me a joke").await {
        let r = m.result(f.as_str(), f.as_str());
        assert!(r.tool_calls.is_empty() && !r.output.is_empty() && r.ttf_tool_ms.is_none(), "{f:?}: {r:?}");
    }
    // (Ollama has no tool_choice: it is not sent, and the model picks.)
    for (f, m) in run_with("agent;ttft=20;tps=500", tools(Some("add")), "What is the weather in Oslo?").await {
        let r = m.result(f.as_str(), f.as_str());
        let want = if f == WireFormat::Ollama { "get_weather" } else { "add" };
        assert_eq!(r.tool_calls.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), [want], "{f:?}");
    }
    // Arguments cut off mid-way: kept raw, flagged, and the request is still ok. Gemini and
    // Ollama send arguments as objects, so theirs cannot break.
    for (f, m) in run_with("agent;ttft=20;tps=500;fault=badargs", tools(None), "Weather in Paris?").await {
        let r = m.result(f.as_str(), f.as_str());
        assert_eq!(r.status, bakeoff::metrics::Status::Ok, "{f:?}");
        let c = &r.tool_calls[0];
        match f {
            WireFormat::Gemini | WireFormat::Ollama => assert_eq!(c.arguments_error, None, "{f:?}"),
            _ => {
                assert!(c.arguments_error.as_deref().is_some_and(|e| e.contains("not JSON")), "{f:?}: {c:?}");
                assert!(c.arguments.is_null() && c.arguments_raw.starts_with("{\"city"), "{f:?}: {c:?}");
            }
        }
    }
}

/// The second step of an agent loop: the conversation carries the call and its result, each
/// format gets them in its own shape (the mock rejects a malformed request with a 400), and the
/// model answers in text instead of calling again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_continues_from_a_tool_result_in_every_format() {
    use bakeoff::engine::ModelClient;
    use bakeoff::headless::run_round;
    use bakeoff::provider::{Message, MessageToolCall};
    let server = server().await;
    let clients: Vec<ModelClient> = FORMATS
        .iter()
        .map(|f| {
            let mut s = spec(&server, *f, f.as_str(), "agent;ttft=20;tps=500;tokens=8");
            s.tools = tools(None);
            ModelClient::new(s).unwrap()
        })
        .collect();
    let call =
        MessageToolCall { id: "call_7".into(), name: "get_weather".into(), arguments: r#"{"city": "Paris"}"#.into() };
    let messages = vec![
        Message::user("What is the weather in Paris?"),
        Message { tool_calls: vec![call], ..Message::assistant("") },
        Message { name: Some("get_weather".into()), ..Message::tool("call_7", "18 °C and sunny") },
    ];
    let results = run_round(&clients, &messages, 1, tokio_util::sync::CancellationToken::new(), |_, _| {}).await;
    for (f, m) in FORMATS.iter().zip(&results) {
        let r = m.result(f.as_str(), f.as_str());
        assert_eq!(r.status, bakeoff::metrics::Status::Ok, "{f:?}: {:?}", r.error);
        assert!(r.tool_calls.is_empty() && !r.output.is_empty(), "{f:?}: {r:?}");
    }
    server.shutdown().await;
}
