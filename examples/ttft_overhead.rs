//! Benchmark: how far measured TTFT sits above the mock server's scripted TTFT, with 8
//! concurrent streams (two per wire format), over real loopback HTTP.
//!
//! ```text
//! cargo run --release --example ttft_overhead [-- ROUNDS [ADDR]]
//! ```
//! ROUNDS defaults to 25 (200 samples). With ADDR (e.g. 127.0.0.1:8787) it measures against an
//! external `bakeoff mock-server` instead of an in-process one, so client and server do not
//! share a runtime.
//!
//! The overhead is everything bakeoff adds on top of the server's own delay: writing the request,
//! loopback, the server's timer resolution, reading and decoding the first chunk, and stamping it.

use bakeoff::config::ModelSpec;
use bakeoff::engine::ModelClient;
use bakeoff::headless::run_round;
use bakeoff::mock::{MockServer, base_url};
use bakeoff::provider::{Message, WireFormat};
use hdrhistogram::Histogram;
use std::net::SocketAddr;
use std::time::Duration;

const SCRIPTED_TTFT_MS: u64 = 200;
const SCRIPTED_TTFB_MS: u64 = 50;

fn spec(addr: SocketAddr, format: WireFormat, i: usize) -> ModelSpec {
    let script = format!("bench{i};ttfb={SCRIPTED_TTFB_MS};ttft={SCRIPTED_TTFT_MS};tps=100;tokens=30");
    ModelSpec::new(&format!("{}-{i}", format.as_str()), format.as_str(), format, &script, &base_url(addr, format))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let rounds: u64 = args.next().map(|r| r.parse()).transpose()?.unwrap_or(25);
    let external = args.next();
    let server = match &external {
        Some(_) => None,
        None => Some(MockServer::start("127.0.0.1:0".parse()?).await?),
    };
    let addr: SocketAddr = match (&external, &server) {
        (Some(a), _) => a.parse().map_err(|e| anyhow::anyhow!("ADDR {a:?}: {e}"))?,
        (None, Some(s)) => s.addr(),
        (None, None) => unreachable!("a server is started when no ADDR is given"),
    };
    let formats = [WireFormat::OpenAi, WireFormat::Anthropic, WireFormat::Gemini, WireFormat::Ollama];
    let clients: Vec<ModelClient> = formats
        .iter()
        .flat_map(|f| (0..2).map(move |i| (*f, i)))
        .map(|(f, i)| ModelClient::new(spec(addr, f, i)))
        .collect::<anyhow::Result<_>>()?;

    let mut ttft = Histogram::<u64>::new_with_bounds(1, 10_000_000, 3)?;
    let mut ttfb = Histogram::<u64>::new_with_bounds(1, 10_000_000, 3)?;
    let mut errors = 0;
    let messages = [Message::user("Benchmark prompt: say something.")];
    for round in 0..=rounds {
        let results = run_round(&clients, &messages, round, Default::default(), |_, _| {}).await;
        if round == 0 {
            continue; // warm-up: connection setup and tokenizer load are not what we measure
        }
        for m in &results {
            let (Some(a), Some(b)) = (m.ttft(), m.ttfb()) else {
                errors += 1;
                continue;
            };
            let over = |d: Duration, scripted: u64| (d.as_micros() as i64 - scripted as i64 * 1000).max(1) as u64;
            ttft.record(over(a, SCRIPTED_TTFT_MS))?;
            ttfb.record(over(b, SCRIPTED_TTFB_MS))?;
        }
    }
    let ms = |us: u64| us as f64 / 1000.0;
    println!(
        "8 concurrent streams (2 × openai, anthropic, gemini, ollama), {rounds} rounds, {} samples, {errors} errors",
        ttft.len()
    );
    println!("server: {}", if external.is_some() { "external mock-server" } else { "in-process mock server" });
    println!(
        "TTFT measured − scripted ({SCRIPTED_TTFT_MS} ms): median {:.2} ms  p99 {:.2} ms  max {:.2} ms",
        ms(ttft.value_at_quantile(0.5)),
        ms(ttft.value_at_quantile(0.99)),
        ms(ttft.max())
    );
    println!(
        "TTFB measured − scripted ({SCRIPTED_TTFB_MS} ms): median {:.2} ms  p99 {:.2} ms  max {:.2} ms",
        ms(ttfb.value_at_quantile(0.5)),
        ms(ttfb.value_at_quantile(0.99)),
        ms(ttfb.max())
    );
    if let Some(s) = server {
        s.shutdown().await;
    }
    Ok(())
}
