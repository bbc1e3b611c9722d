//! STUB — the mock server (API promised to other modules; replaced by the real one).
use crate::provider::WireFormat;
use std::net::SocketAddr;

pub struct MockServer {
    addr: SocketAddr,
    stats: MockStats,
}
#[derive(Default)]
pub struct MockStats;
impl MockStats {
    pub fn requests(&self) -> u64 {
        0
    }
    pub fn in_flight(&self) -> u64 {
        0
    }
    pub fn max_in_flight(&self) -> u64 {
        0
    }
}
impl MockServer {
    pub async fn start(addr: SocketAddr) -> anyhow::Result<MockServer> {
        Ok(MockServer { addr, stats: MockStats })
    }
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    pub fn base_url(&self, format: WireFormat) -> String {
        match format {
            WireFormat::OpenAi => format!("http://{}/v1", self.addr),
            WireFormat::Gemini => format!("http://{}/v1beta", self.addr),
            _ => format!("http://{}", self.addr),
        }
    }
    pub fn stats(&self) -> &MockStats {
        &self.stats
    }
    pub async fn shutdown(self) {}
}
pub struct DemoModel {
    pub name: &'static str,
    pub format: WireFormat,
    pub model_id: &'static str,
    pub input_per_mtok: f64,
    pub output_per_mtok: f64,
    pub blurb: &'static str,
}
pub fn demo_models() -> Vec<DemoModel> {
    vec![]
}
pub async fn serve_until_ctrl_c(_addr: SocketAddr) -> anyhow::Result<()> {
    Ok(())
}
