//! Helpers shared by the integration tests: a mock server on loopback port 0 and model specs
//! pointing at it.
#![allow(dead_code)]

pub mod tmux;

use bakeoff::config::{KeySource, ModelSpec, Timeouts};
use bakeoff::engine::ModelClient;
use bakeoff::headless::run_round;
use bakeoff::metrics::RequestMetrics;
use bakeoff::mock::MockServer;
use bakeoff::pricing::Price;
use bakeoff::provider::{Message, WireFormat};
use tokio_util::sync::CancellationToken;

pub const FORMATS: [WireFormat; 4] =
    [WireFormat::OpenAi, WireFormat::Anthropic, WireFormat::Gemini, WireFormat::Ollama];

pub async fn server() -> MockServer {
    MockServer::start("127.0.0.1:0".parse().unwrap()).await.expect("mock server starts")
}

/// A model named `name` speaking `format`, scripted by `script` (the mock's model id).
pub fn spec(server: &MockServer, format: WireFormat, name: &str, script: &str) -> ModelSpec {
    ModelSpec {
        name: name.to_string(),
        provider: format.as_str().to_string(),
        format,
        model: script.to_string(),
        base_url: server.base_url(format),
        key: KeySource { env: None, required: false },
        price: Some(Price { input: 1.0, output: 2.0, cached_input: None, cache_write: None }),
        max_tokens: None,
        temperature: None,
        extra: serde_json::Map::new(),
        headers: Vec::new(),
        timeouts: Timeouts::default(),
    }
}

pub async fn run(specs: Vec<ModelSpec>, prompt: &str) -> Vec<RequestMetrics> {
    let clients: Vec<ModelClient> = specs.into_iter().map(|s| ModelClient::new(s).unwrap()).collect();
    run_round(&clients, &[Message::user(prompt)], 1, CancellationToken::new(), |_, _| {}).await
}
