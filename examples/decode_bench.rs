//! How long decoding one streamed answer takes (no network). By default the mock server's
//! 5-token OpenAI answer (recorded from `bakeoff mock-server`, model `tp;ttfb=0;ttft=0;tps=inf;tokens=5`);
//! or any OpenAI SSE body given as a file.
//!
//! ```text
//! cargo run --release --example decode_bench [-- BODY.sse]
//! ```
use bakeoff::provider::{WireFormat, decoder};
use std::time::Instant;

fn main() {
    let body = match std::env::args().nth(1) {
        Some(path) => std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}")),
        None => include_bytes!("../src/provider/testdata/openai_mock_5_tokens.sse").to_vec(),
    };
    // This VM's speed varies from second to second: many short rounds, report the fastest
    // and the median.
    let n = 20_000;
    let mut out = Vec::new();
    let mut rounds: Vec<f64> = (0..40)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..n {
                let mut d = decoder(WireFormat::OpenAi);
                out.clear();
                d.feed(&body, &mut out);
                d.finish(&mut out);
            }
            t.elapsed().as_secs_f64() * 1e6 / n as f64
        })
        .collect();
    rounds.sort_by(f64::total_cmp);
    println!(
        "{} bytes → {} deltas: fastest {:.2} µs per body, median {:.2} µs",
        body.len(),
        out.len(),
        rounds[0],
        rounds[rounds.len() / 2]
    );
}
