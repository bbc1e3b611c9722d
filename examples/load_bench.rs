//! Benchmark of `bakeoff load` itself, over loopback against the mock server.
//!
//! ```text
//! cargo run --release --example load_bench              # every part (~3 min)
//! cargo run --release --example load_bench -- throughput|hold|overhead|overhead1k|hold10k|realistic [ADDR]
//! ```
//!
//! - **throughput**: streamed requests/s at concurrency 64 with 5-token answers sent at once
//!   (`tps=inf`). Workers share the runtime like `bakeoff load` (`THREADS=N`: N threads of their own,
//!   like `--threads N`).
//! - **hold**: 1,000 concurrent streams held ~30 s (a token every 0.5 s); bakeoff's peak RSS and
//!   CPU while holding them.
//! - **overhead**: TTFT measured by bakeoff minus the mock's scripted first-token time
//!   (100 ms), p50/p99 at concurrency 1 and 64. It includes loopback, the mock's timer
//!   resolution (~1 ms) and its scheduling, so it is an upper bound on bakeoff's own cost.
//!
//! - **overhead1k**: the same at concurrency 1,000 ramped up over 5 s (50-token answers at
//!   50 tokens/s, ~900 requests/s, 20 s; `SCRIPT=` another mock script), over the script and over
//!   the mock's own first-token write times (this part's mock runs in process, on its own runtime).
//! - **hold10k**: 10,000 concurrent streams ramped up over 10 s, one token a second for 30 s;
//!   bakeoff's peak RSS and its CPU while all 10,000 are open.
//!
//! - **realistic**: client CPU per request on streams like real ones: 200 concurrent streams of
//!   300-token answers at 60 tokens/s (one token per chunk, first token at 300 ms), 20 s; and a
//!   long-answer case: 4 streams of 20,000-token answers at 5,000 tokens/s, 12 s. Run it with
//!   `HTTP_PROXY=http://unused:9 NO_PROXY=127.0.0.1` to put the load workers on reqwest's pool
//!   (hyper's client connection) instead of their own HTTP/1.1 connections.
//!
//! The mock server runs in a child process (this binary with `--serve`), so the RSS and CPU
//! figures are bakeoff's alone. With ADDR, an already running `bakeoff mock-server` is used.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use bakeoff::config::ModelSpec;
use bakeoff::engine::ModelClient;
use bakeoff::load::{Aggregate, Arrival, MixItem, Monitor, Plan, Shard, Workload, runner};
use bakeoff::provider::{Message, WireFormat};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn spec(addr: &str, script: &str) -> ModelSpec {
    ModelSpec::new("bench", "openai", WireFormat::OpenAi, script, &format!("http://{addr}/v1"))
}

/// (user+system CPU seconds, RSS MiB, peak RSS MiB) of process `pid` ("self" for this one).
fn usage(pid: &str) -> (f64, f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name's closing parenthesis; utime and stime are 14 and 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    let cpu = (ticks(11) + ticks(12)) / 100.0;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    (cpu, kb("VmRSS:"), kb("VmHWM:"))
}

async fn load(addr: &str, script: &str, plan: &Plan, sample: bool) -> (Monitor, f64) {
    load_keeping(addr, script, plan, sample, false).await
}

/// [`load`], keeping every record when `keep`.
async fn load_keeping(addr: &str, script: &str, plan: &Plan, sample: bool, keep: bool) -> (Monitor, f64) {
    let clients = vec![ModelClient::new(spec(addr, script)).expect("client")];
    let work = Arc::new(Workload::new(clients, vec![MixItem::new(None, vec![Message::user("bench")])]));
    let mut mon = Monitor::new(runner::start(work, plan), Aggregate::new(&["bench".into()], None), None);
    if keep {
        mon.keep_records();
    }
    let mut peak_in_flight = 0u64;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut last_print = Instant::now();
    loop {
        tick.tick().await;
        let done = mon.drain();
        let inf = mon.running.live.in_flight.load(std::sync::atomic::Ordering::Relaxed);
        peak_in_flight = peak_in_flight.max(inf);
        if sample && last_print.elapsed() >= Duration::from_secs(5) {
            last_print = Instant::now();
            let (cpu, rss, _) = usage("self");
            eprintln!("  t={:>5.1}s in flight {inf:>5}  rss {rss:>6.1} MiB  cpu {cpu:.2}s", mon.elapsed_s());
        }
        if done {
            break;
        }
    }
    mon.finish();
    (mon, peak_in_flight as f64)
}

fn closed(c: u32, n: Option<u64>, d: Option<Duration>) -> Plan {
    let mut plan =
        Plan::new(Some(c), None, Arrival::Constant, None, n, d, Duration::from_secs(60), Shard::default(), 1)
            .expect("plan");
    plan.threads = std::env::var("THREADS").ok().and_then(|t| t.parse().ok()).unwrap_or(0);
    plan
}

async fn throughput(addr: &str) {
    let plan = closed(64, None, Some(Duration::from_secs(10)));
    let (cpu0, _, _) = usage("self");
    let (mon, _) = load(addr, "tp;ttfb=0;ttft=0;tps=inf;tokens=5", &plan, false).await;
    let (cpu1, _, hwm) = usage("self");
    let c = &mon.agg.total.counts;
    let secs = mon.run_elapsed_s();
    let lat = mon.agg.total.hists.latency_us.stat();
    println!("throughput: concurrency 64, 5-token answers, 10 s");
    println!(
        "  {} ok, {} errors in {secs:.1}s → {:.0} streamed requests/s; latency p50 {:.2}ms p99 {:.2}ms; client CPU {:.0}% of one core, peak RSS {hwm:.0} MiB",
        c.ok,
        c.errors,
        c.ok as f64 / secs,
        lat.map_or(0.0, |s| s.p50),
        lat.map_or(0.0, |s| s.p99),
        (cpu1 - cpu0) / secs * 100.0
    );
}

async fn hold(addr: &str, server_pid: Option<u32>) {
    // First token at 0.5 s, then one every 0.5 s: 60 tokens ≈ 30 s per stream.
    let plan = closed(1000, Some(1000), None);
    let (cpu0, _, _) = usage("self");
    let srv0 = server_pid.map(|p| usage(&p.to_string()).0);
    let t = Instant::now();
    println!("hold: 1,000 concurrent streams, ~30 s each");
    let (mon, peak) = load(addr, "hold;ttfb=100;ttft=500;tps=2;tokens=60", &plan, true).await;
    let secs = t.elapsed().as_secs_f64();
    let (cpu1, _, hwm) = usage("self");
    let c = &mon.agg.total.counts;
    let srv = server_pid.zip(srv0).map(|(p, s0)| (usage(&p.to_string()).0 - s0) / secs * 100.0);
    let ttft = mon.agg.total.hists.ttft_us.stat();
    let gap = mon.agg.total.hists.gap_us.stat();
    println!(
        "  {} ok, {} errors in {secs:.1}s, peak in flight {peak:.0}; bakeoff peak RSS {hwm:.0} MiB, CPU {:.1}% of one core (avg){}",
        c.ok,
        c.errors,
        (cpu1 - cpu0) / secs * 100.0,
        srv.map(|s| format!("; mock server CPU {s:.1}%")).unwrap_or_default()
    );
    println!(
        "  TTFT p50 {:.1}ms p99 {:.1}ms (scripted 500ms); inter-token p50 {:.1}ms p99 {:.1}ms (scripted 500ms)",
        ttft.map_or(0.0, |s| s.p50),
        ttft.map_or(0.0, |s| s.p99),
        gap.map_or(0.0, |s| s.p50),
        gap.map_or(0.0, |s| s.p99)
    );
}

/// 10,000 concurrent streams ramped up over 10 s, a token a second for 30 s each: bakeoff's peak
/// RSS, and its CPU while all of them are open (from the moment 10,000 are in flight to the moment
/// the first ends).
async fn hold10k(addr: &str) {
    const N: u32 = 10_000;
    if let Some((now, before)) = bakeoff::fd_limit::raise_to_hard() {
        println!("hold10k: open-file limit {now} (was {before})");
    }
    let mut plan = closed(N, Some(u64::from(N)), None);
    plan.ramp = Some(Duration::from_secs(10));
    let clients = vec![ModelClient::new(spec(addr, "h10k;ttfb=100;ttft=1000;tps=1;tokens=30")).expect("client")];
    let work = Arc::new(Workload::new(clients, vec![MixItem::new(None, vec![Message::user("bench")])]));
    let mut mon = Monitor::new(runner::start(work, &plan), Aggregate::new(&["bench".into()], None), None);
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    let t0 = Instant::now();
    let (mut full_from, mut full_to, mut peak) = (None, None, 0u64);
    loop {
        tick.tick().await;
        let done = mon.drain();
        let inf = mon.running.live.in_flight.load(std::sync::atomic::Ordering::Relaxed);
        peak = peak.max(inf);
        if inf >= u64::from(N) && full_from.is_none() {
            full_from = Some((Instant::now(), usage("self").0));
        }
        if full_from.is_some() && full_to.is_none() && inf < u64::from(N) {
            full_to = Some((Instant::now(), usage("self").0));
        }
        if done {
            break;
        }
    }
    mon.finish();
    let (cpu, _, hwm) = usage("self");
    let c = &mon.agg.total.counts;
    let held = match (full_from, full_to) {
        (Some((t1, c1)), Some((t2, c2))) => {
            let secs = (t2 - t1).as_secs_f64();
            format!("all {N} open for {secs:.1} s at {:.1}% of one core", (c2 - c1) / secs * 100.0)
        }
        _ => format!("never all {N} open at once"),
    };
    let ttft = mon.agg.total.hists.ttft_us.stat();
    println!("hold10k: {N} concurrent streams (--ramp 10s), a token a second, 30 tokens each");
    println!(
        "  {} ok, {} errors in {:.1}s, peak in flight {peak}; {held}; bakeoff peak RSS {hwm:.0} MiB, CPU {:.1}% of one core over the whole run",
        c.ok,
        c.errors,
        t0.elapsed().as_secs_f64(),
        cpu / t0.elapsed().as_secs_f64() * 100.0
    );
    println!(
        "  TTFT p50 {:.1}ms p99 {:.1}ms (scripted 1000ms)",
        ttft.map_or(0.0, |s| s.p50),
        ttft.map_or(0.0, |s| s.p99)
    );
}

/// TTFT overhead at concurrency 1,000, ramped up over 5 s (the first request of each worker opens
/// its connection): 50-token answers at 50 tokens/s, about 900 requests/s for 20 s. The mock runs
/// in this process on a runtime of its own and notes when it wrote each first token, so the
/// overhead is shown both over the script and over the server's own first-token time.
async fn overhead1k() {
    let _ = bakeoff::fd_limit::raise_to_hard();
    let server_rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("rt");
    let server = server_rt
        .spawn(bakeoff::mock::MockServer::start("127.0.0.1:0".parse().expect("addr")))
        .await
        .expect("server task")
        .expect("mock server");
    server.record_first_tokens();
    let addr = server.addr().to_string();
    let mut plan = closed(1000, None, Some(Duration::from_secs(20)));
    plan.ramp = Some(Duration::from_secs(5));
    let script = std::env::var("SCRIPT").unwrap_or_else(|_| "o1k;ttfb=20;ttft=100;tps=50;tokens=50".into());
    let (cpu0, t) = (usage("self").0, Instant::now());
    let (mon, _) = load_keeping(&addr, &script, &plan, false, true).await;
    let cpu = (usage("self").0 - cpu0) / t.elapsed().as_secs_f64() * 100.0;
    let (mut over_script, mut over_server) = (Vec::new(), Vec::new());
    for r in mon.records() {
        let Some(ttft) = r.ttft_ms else { continue };
        over_script.push(ttft - 100.0);
        let written = r.request_id.as_deref().and_then(|id| server.stats().first_token_written(id));
        if let Some(w) = written {
            over_server.push(ttft - w.as_secs_f64() * 1000.0);
        }
    }
    let c = &mon.agg.total.counts;
    println!("overhead1k: TTFT overhead at concurrency 1,000 (--ramp 5s, 20 s), {script}");
    println!("  {} ok, {} errors; client and in-process server together {cpu:.0}% of one core", c.ok, c.errors);
    println!("  measured − scripted 100 ms:         {}", quantiles(&mut over_script));
    println!("  measured − server's own first token: {}", quantiles(&mut over_server));
    server_rt.shutdown_background();
}

/// n, p50, p99 and max of `v` (ms).
fn quantiles(v: &mut [f64]) -> String {
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v.get(((v.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or(f64::NAN);
    format!("n={} p50 {:.2}ms p99 {:.2}ms max {:.2}ms", v.len(), at(0.5), at(0.99), at(1.0))
}

async fn overhead(addr: &str) {
    println!("overhead: measured TTFT − scripted 100 ms (includes loopback and the mock's timer)");
    for (c, n) in [(1u32, 200u64), (64, 1280)] {
        let plan = closed(c, Some(n), None);
        let (mon, _) = load(addr, "ovh;ttfb=20;ttft=100;tps=1000;tokens=5", &plan, false).await;
        let h = &mon.agg.total.hists.ttft_us;
        let q = |q: f64| h.quantile(q).map_or(f64::NAN, |v| (v as f64 - 100_000.0) / 1000.0);
        println!(
            "  concurrency {c:>2}: n={} overhead p50 {:.2}ms p99 {:.2}ms max {:.2}ms",
            h.count(),
            q(0.5),
            q(0.99),
            h.max().map_or(f64::NAN, |v| (v as f64 - 100_000.0) / 1000.0)
        );
    }
}

/// Starts this binary as the mock server in a child process; returns it and its address.
/// Client CPU per request (ms) and share of one core over a closed-loop run of `script`.
async fn cpu_per_request(addr: &str, label: &str, script: &str, concurrency: u32, secs: u64) {
    let plan = closed(concurrency, None, Some(Duration::from_secs(secs)));
    let (cpu0, _, _) = usage("self");
    let t = Instant::now();
    let (mon, _) = load(addr, script, &plan, false).await;
    let wall = t.elapsed().as_secs_f64();
    let (cpu1, _, hwm) = usage("self");
    let c = &mon.agg.total.counts;
    let cpu = cpu1 - cpu0;
    println!(
        "  {label}: {} ok, {} errors, {} output tokens in {wall:.1}s; client CPU {cpu:.2}s = {:.3} ms per request, {:.1} µs per token, {:.1}% of one core; peak RSS {hwm:.0} MiB",
        c.ok,
        c.errors,
        c.output_tokens,
        cpu * 1e3 / c.ok.max(1) as f64,
        cpu * 1e6 / c.output_tokens.max(1) as f64,
        cpu / wall * 100.0
    );
}

async fn realistic(addr: &str) {
    let pooled = std::env::var_os("HTTP_PROXY").is_some();
    println!(
        "realistic: client CPU per request ({})",
        if pooled { "reqwest's pool: hyper's client connection" } else { "load workers' own HTTP/1.1 connections" }
    );
    cpu_per_request(addr, "200 streams × 300 tokens at 60 tok/s", "real;ttfb=100;ttft=300;tps=60;tokens=300", 200, 20)
        .await;
    cpu_per_request(
        addr,
        "4 streams × 20,000 tokens at 5,000 tok/s",
        "long;ttfb=50;ttft=100;tps=5000;tokens=20000",
        4,
        12,
    )
    .await;
}

fn spawn_server() -> (Child, String) {
    let exe = std::env::current_exe().expect("own path");
    let mut child =
        Command::new(exe).arg("--serve").stdout(Stdio::piped()).stdin(Stdio::piped()).spawn().expect("spawn server");
    let mut line = String::new();
    let out = child.stdout.take().expect("stdout");
    BufReader::new(out).read_line(&mut line).expect("server address");
    (child, line.trim().to_string())
}

fn serve() {
    // Up to 10,000 connections at once (hold10k).
    let _ = bakeoff::fd_limit::raise_to_hard();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let srv = bakeoff::mock::MockServer::start("127.0.0.1:0".parse().expect("addr")).await.expect("mock server");
        println!("{}", srv.addr());
        // Serve until the parent closes our stdin.
        let _ = tokio::task::spawn_blocking(|| std::io::copy(&mut std::io::stdin(), &mut std::io::sink())).await;
        srv.shutdown().await;
    });
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--serve") {
        return serve();
    }
    let what = args.first().cloned().unwrap_or_else(|| "all".into());
    let (child, addr) = match args.get(1) {
        Some(a) => (None, a.clone()),
        None => {
            let (c, a) = spawn_server();
            (Some(c), a)
        }
    };
    let pid = child.as_ref().map(Child::id);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        if what == "all" || what == "throughput" {
            throughput(&addr).await;
        }
        if what == "all" || what == "overhead" {
            overhead(&addr).await;
        }
        if what == "all" || what == "realistic" {
            realistic(&addr).await;
        }
        if what == "all" || what == "hold" {
            hold(&addr, pid).await;
        }
        if what == "all" || what == "overhead1k" {
            overhead1k().await;
        }
        if what == "all" || what == "hold10k" {
            hold10k(&addr).await;
        }
    });
    if let Some(mut c) = child {
        drop(c.stdin.take());
        let _ = c.wait();
    }
}
