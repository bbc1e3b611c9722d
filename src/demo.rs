//! The built-in demo: the in-process mock server and the demo models configured against it, so
//! bakeoff works with no keys and no network.

use crate::config::ModelSpec;
use crate::mock::{MockServer, demo_models};
use crate::pricing::Price;

/// Starts the mock server on a free loopback port (on the current tokio runtime).
pub async fn start_server() -> anyhow::Result<MockServer> {
    MockServer::start(std::net::SocketAddr::from(([127, 0, 0, 1], 0))).await
}

/// The demo models, pointed at `server`.
pub fn demo_specs(server: &MockServer) -> Vec<ModelSpec> {
    demo_models()
        .into_iter()
        .map(|d| {
            let provider = format!("demo-{}", d.format.as_str());
            let mut m = ModelSpec::new(d.name, &provider, d.format, d.model_id, &server.base_url(d.format));
            m.price = Some(Price::per_mtok(d.input_per_mtok, d.output_per_mtok));
            m
        })
        .collect()
}

/// The demo models named in `names` (all of them when empty), with an error listing the demo
/// models for a name that is not one.
pub fn pick(server: &MockServer, names: &[String]) -> anyhow::Result<Vec<ModelSpec>> {
    let all = demo_specs(server);
    if names.is_empty() {
        return Ok(all);
    }
    names
        .iter()
        .map(|name| {
            all.iter().find(|m| &m.name == name).cloned().ok_or_else(|| {
                anyhow::anyhow!(
                    "--demo has no model {name:?}; demo models: {}",
                    all.iter().map(|m| m.name.as_str()).collect::<Vec<_>>().join(", ")
                )
            })
        })
        .collect()
}
