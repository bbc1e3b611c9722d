//! Helpers shared by the integration tests: a mock server on loopback port 0 and model specs
//! pointing at it.
#![allow(dead_code)]

/// A PostgreSQL server started from the system's binaries (the library's own test helper).
#[path = "../../src/history/pg_server.rs"]
pub mod pg_server;
pub mod tmux;

use bakeoff::config::ModelSpec;
use bakeoff::engine::ModelClient;
use bakeoff::headless::run_round;
use bakeoff::metrics::RequestMetrics;
use bakeoff::mock::MockServer;
use bakeoff::pricing::Price;
use bakeoff::provider::{Message, WireFormat};
use tokio_util::sync::CancellationToken;

pub const FORMATS: [WireFormat; 5] =
    [WireFormat::OpenAi, WireFormat::OpenAiResponses, WireFormat::Anthropic, WireFormat::Gemini, WireFormat::Ollama];

pub async fn server() -> MockServer {
    MockServer::start("127.0.0.1:0".parse().unwrap()).await.expect("mock server starts")
}

/// A model named `name` speaking `format`, scripted by `script` (the mock's model id).
pub fn spec(server: &MockServer, format: WireFormat, name: &str, script: &str) -> ModelSpec {
    let mut m = ModelSpec::new(name, format.as_str(), format, script, &server.base_url(format));
    m.price = Some(Price::per_mtok(1.0, 2.0));
    m
}

pub async fn run(specs: Vec<ModelSpec>, prompt: &str) -> Vec<RequestMetrics> {
    let clients: Vec<ModelClient> = specs.into_iter().map(|s| ModelClient::new(s).unwrap()).collect();
    run_round(&clients, &[Message::user(prompt)], 1, CancellationToken::new(), |_, _| {}).await
}
