//! `bakeoff load` against the mock server on loopback: closed-loop concurrency counted at the
//! server, open-loop rate, coordinated-omission correction, SLO goodput, shard + merge, the
//! JSON schema, interrupts and the CLI. Every run is bounded in requests and time.

mod common;

use bakeoff::config::ModelSpec;
use bakeoff::engine::ModelClient;
use bakeoff::load::record::Record;
use bakeoff::load::summary::{self, RunInfo, Summary};
use bakeoff::load::{Aggregate, Arrival, MixItem, Monitor, Plan, Shard, Slo, Workload, runner};
use bakeoff::provider::{Message, WireFormat};
use common::{server, spec};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

const GRACE: Duration = Duration::from_secs(30);

fn plan(c: Option<u32>, rate: Option<f64>, n: Option<u64>, d: Option<Duration>, shard: Shard) -> Plan {
    Plan::new(c, rate, Arrival::Constant, None, n, d, GRACE, shard, 1).unwrap()
}

async fn run(specs: Vec<ModelSpec>, plan: &Plan, slo: Option<Slo>) -> Monitor {
    let names: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
    let clients = specs.into_iter().map(|s| ModelClient::new(s).unwrap()).collect();
    let work = Arc::new(Workload::new(clients, vec![MixItem::new(None, vec![Message::user("load test")])]));
    let mut mon = Monitor::new(runner::start(work, plan), Aggregate::new(&names, slo), None);
    mon.keep_records();
    mon.run_to_end().await;
    mon
}

fn info(mon: &Monitor, plan: &Plan, slo: Option<Slo>) -> RunInfo {
    let (mode, concurrency, rate) = match plan.shape {
        bakeoff::load::Shape::Closed { concurrency } => {
            (summary::LoopMode::Closed, Some(concurrency * plan.shard.count), None)
        }
        bakeoff::load::Shape::Open { rate, max_in_flight, .. } => {
            (summary::LoopMode::Open, max_in_flight, Some(rate * f64::from(plan.shard.count)))
        }
    };
    RunInfo {
        started_at: "2026-01-01T00:00:00Z".into(),
        run_ids: vec![format!("test-run-shard-{}", plan.shard.index)],
        elapsed_s: mon.run_elapsed_s(),
        interrupted: mon.running.interrupted(),
        mode,
        concurrency,
        rate,
        arrival: rate.map(|_| Arrival::Constant),
        ramp_s: None,
        requests: plan.requests.map(|n| n * u64::from(plan.shard.count)),
        duration_s: plan.duration.map(|d| d.as_secs_f64()),
        grace_s: plan.grace.as_secs_f64(),
        shard: plan.shard,
        shards: vec![plan.shard.index],
        models: mon.agg.models.iter().map(|(m, _)| m.clone()).collect(),
        mix_size: 1,
        slo,
        prices_as_of: String::new(),
    }
}

fn summarize(mon: &Monitor, plan: &Plan, slo: Option<Slo>) -> Summary {
    mon.agg.summary(info(mon, plan, slo), "2026-01-01T00:00:01Z".into())
}

fn validate(doc: &serde_json::Value) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/load-summary.schema.json");
    let schema: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let v = jsonschema::validator_for(&schema).expect("the schema compiles");
    let errors: Vec<String> = v.iter_errors(doc).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "summary does not match its schema:\n{}", errors.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_loop_never_exceeds_concurrency_at_the_server() {
    // On the caller's runtime, and on 3 threads of their own (8 workers split unevenly).
    for threads in [0, 3] {
        closed_loop_holds_concurrency(threads).await;
    }
}

async fn closed_loop_holds_concurrency(threads: usize) {
    let srv = server().await;
    let s = spec(&srv, WireFormat::OpenAi, "c", "c;ttfb=5;ttft=30;tps=500;tokens=10");
    let mut p = plan(Some(8), None, Some(64), None, Shard::default());
    p.threads = threads;
    let mon = run(vec![s], &p, None).await;
    assert_eq!(mon.agg.total.counts.ok, 64, "{:?}", mon.agg.total.counts);
    assert_eq!(srv.stats().requests(), 64);
    assert_eq!(srv.stats().max_in_flight(), 8, "the server saw more (or fewer) than 8 requests at once");
    let mut idx: Vec<u64> = mon.records().iter().map(|r| r.i).collect();
    idx.sort();
    assert_eq!(idx, (0..64).collect::<Vec<_>>());
    let doc = summarize(&mon, &p, None);
    assert!(doc.total.ttft_response_ms.is_none(), "closed loop has no intended times");
    validate(&serde_json::to_value(&doc).unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_holds_its_rate() {
    let srv = server().await;
    let s = spec(&srv, WireFormat::OpenAi, "o", "o;ttfb=1;ttft=5;tps=1000;tokens=3");
    let p = plan(None, Some(50.0), None, Some(Duration::from_secs(5)), Shard::default());
    let t = Instant::now();
    let mon = run(vec![s], &p, None).await;
    assert!(t.elapsed() < Duration::from_secs(8));
    let c = &mon.agg.total.counts;
    assert_eq!((c.requests, c.ok), (250, 250), "{c:?}");
    assert_eq!(srv.stats().requests(), 250);
    let mut sent: Vec<f64> = mon.records().iter().filter_map(|r| r.sent_s).collect();
    sent.sort_by(f64::total_cmp);
    let achieved = (sent.len() - 1) as f64 / (sent[sent.len() - 1] - sent[0]);
    assert!((achieved - 50.0).abs() / 50.0 < 0.05, "achieved {achieved:.2} req/s, target 50");
    // The dispatcher keeps to the schedule: every request is sent close to its intended time.
    let delay = mon.agg.total.hists.send_delay_us.quantile(0.99).unwrap();
    assert!(delay < 20_000, "p99 send delay {delay} µs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coordinated_omission_shows_when_the_server_falls_behind() {
    let srv = server().await;
    // Capacity: 2 in flight × (1 / 0.2 s) = 10 req/s; offered: 20 req/s for 2 s.
    let s = spec(&srv, WireFormat::OpenAi, "slow", "slow;ttfb=5;ttft=200;tps=1000;tokens=2");
    let p = plan(Some(2), Some(20.0), None, Some(Duration::from_secs(2)), Shard::default());
    let mon = run(vec![s], &p, None).await;
    assert!(srv.stats().max_in_flight() <= 2);
    let h = &mon.agg.total.hists;
    assert_eq!(h.ttft_us.count(), 40);
    let service = h.ttft_us.quantile(0.5).unwrap();
    let response = h.ttft_response_us.quantile(0.5).unwrap();
    let response_p99 = h.ttft_response_us.quantile(0.99).unwrap();
    assert!(service < 300_000, "service TTFT p50 {service} µs should stay near the scripted 200 ms");
    assert!(response > 2 * service, "response TTFT p50 {response} µs should include the queue (service {service})");
    assert!(response_p99 > 1_500_000, "the last requests waited ~2 s: p99 {response_p99} µs");
    assert!(h.latency_response_us.quantile(0.99).unwrap() > h.latency_us.quantile(0.99).unwrap() + 1_000_000);
    let doc = summarize(&mon, &p, None);
    assert!(summary::render_text(&doc).contains("TTFT from intended"));
    validate(&serde_json::to_value(&doc).unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slo_goodput_on_a_scripted_mix() {
    let srv = server().await;
    let specs = vec![
        spec(&srv, WireFormat::OpenAi, "fast", "fast;ttfb=5;ttft=40;tps=500;tokens=10;overhead=7"),
        spec(&srv, WireFormat::Anthropic, "slow", "slow;ttfb=5;ttft=400;tps=500;tokens=10"),
        spec(&srv, WireFormat::Gemini, "bad", "bad;fault=500"),
    ];
    let slo = Slo::parse("ttft=200ms,latency=2s").unwrap();
    let p = plan(Some(3), None, Some(30), None, Shard::default());
    let mon = run(specs, &p, Some(slo.clone())).await;
    let doc = summarize(&mon, &p, Some(slo));
    let g = doc.total.goodput.unwrap();
    assert_eq!((g.met, doc.total.counts.ok, doc.total.counts.errors), (10, 20, 10));
    assert_eq!(g.share, 0.3333, "met ÷ (ok + errors)");
    assert_eq!(doc.total.counts.error_kinds.get("http_500"), Some(&10));
    let by_model: Vec<(String, u64)> =
        doc.models.iter().map(|m| (m.model.clone().unwrap(), m.goodput.unwrap().met)).collect();
    assert_eq!(by_model, vec![("fast".into(), 10), ("slow".into(), 0), ("bad".into(), 0)]);
    assert!(mon.records().iter().all(|r| r.slo_met == Some(r.model == "fast")));
    // The proxy's own overhead header is reported as its own percentiles.
    let overhead = doc.models[0].proxy_overhead_ms.as_ref().expect("proxy overhead percentiles");
    assert_eq!((overhead.n, overhead.p50), (10, 7.0));
    assert!(doc.models[1].proxy_overhead_ms.is_none());
    validate(&serde_json::to_value(&doc).unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shards_merge_to_the_same_percentiles_as_one_run() {
    let srv = server().await;
    let mk = || {
        vec![
            spec(&srv, WireFormat::OpenAi, "a", "a;ttft=40;tps=300;tokens=8;jitter=0.5"),
            spec(&srv, WireFormat::Ollama, "b", "b;ttft=60;tps=200;tokens=6;jitter=0.5"),
        ]
    };
    let slo = Some(Slo::parse("ttft=55ms").unwrap());
    let mut parts = Vec::new();
    let mut records: Vec<Record> = Vec::new();
    for i in 0..2 {
        let p = plan(Some(4), None, Some(24), None, Shard { index: i, count: 2 });
        let mon = run(mk(), &p, slo.clone()).await;
        records.extend(mon.records().iter().cloned());
        let json = serde_json::to_string(&summarize(&mon, &p, slo.clone())).unwrap();
        parts.push(serde_json::from_str::<Summary>(&json).unwrap());
    }
    let mut idx: Vec<u64> = records.iter().map(|r| r.i).collect();
    idx.sort();
    assert_eq!(idx, (0..24).collect::<Vec<_>>(), "the shards split the budget exactly");
    let merged = summary::merge(&parts, "now".into()).unwrap();
    let mut one = Aggregate::new(&["a".into(), "b".into()], slo.clone());
    for r in &records {
        one.add(&mut r.clone());
    }
    let p = plan(Some(4), None, Some(24), None, Shard::default());
    let whole = one.summary(RunInfo { elapsed_s: merged.run.elapsed_s, ..info_like(&merged.run, &p) }, "now".into());
    assert_eq!(merged.total.histograms, whole.total.histograms);
    for (m, w) in [(&merged.total, &whole.total), (&merged.models[0], &whole.models[0])] {
        assert_eq!(m.ttft_ms, w.ttft_ms);
        assert_eq!(m.latency_ms, w.latency_ms);
        assert_eq!(m.gap_ms, w.gap_ms);
        assert_eq!(m.ttfb_ms, w.ttfb_ms);
        assert_eq!(m.counts, w.counts);
        assert_eq!(m.goodput, w.goodput);
    }
    assert_eq!(merged.run.shards, vec![0, 1]);
    assert!(merged.warnings.is_empty(), "{:?}", merged.warnings);
    validate(&serde_json::to_value(&merged).unwrap());
}

fn info_like(run: &RunInfo, p: &Plan) -> RunInfo {
    RunInfo { shard: p.shard, shards: vec![0], ..run.clone() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupt_cancels_open_requests_and_still_summarises() {
    for threads in [0, 2] {
        interrupt_cancels(threads).await;
    }
}

async fn interrupt_cancels(threads: usize) {
    let srv = server().await;
    let s = spec(&srv, WireFormat::OpenAi, "long", "long;ttft=50;tps=5;tokens=100");
    let mut p = plan(Some(4), None, Some(100), None, Shard::default());
    p.threads = threads;
    let clients = vec![ModelClient::new(s).unwrap()];
    let work = Arc::new(Workload::new(clients, vec![MixItem::new(None, vec![Message::user("x")])]));
    let running = runner::start(work, &p);
    let intr = running.interrupter();
    let mut mon = Monitor::new(running, Aggregate::new(&["long".into()], None), None);
    let t = Instant::now();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        intr.interrupt();
    });
    mon.run_to_end().await;
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    let c = &mon.agg.total.counts;
    assert_eq!((c.requests, c.cancelled), (4, 4), "{c:?}");
    assert!(mon.running.interrupted());
    let doc = summarize(&mon, &p, None);
    assert!(doc.run.interrupted);
    // The server lets go of every stream.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(srv.stats().in_flight(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duration_stops_starting_and_grace_cancels_stragglers() {
    let srv = server().await;
    let s = spec(&srv, WireFormat::OpenAi, "long", "long;ttft=50;tps=5;tokens=100");
    let mut p = plan(Some(2), None, None, Some(Duration::from_secs(1)), Shard::default());
    p.grace = Duration::from_millis(500);
    let t = Instant::now();
    let mon = run(vec![s], &p, None).await;
    let took = t.elapsed();
    assert!(took >= Duration::from_millis(1400) && took < Duration::from_secs(3), "{took:?}");
    let c = &mon.agg.total.counts;
    assert_eq!((c.requests, c.cancelled), (2, 2), "{c:?}");
    assert!(!mon.running.interrupted());
}

fn bakeoff(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_bakeoff"))
        .args(args)
        .env_remove("BAKEOFF_CONFIG")
        .env("XDG_DATA_HOME", std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("load-data"))
        .output()
        .expect("run bakeoff")
}

#[test]
fn cli_refuses_unbounded_runs_and_bad_shapes() {
    for (args, want) in [
        (&["load", "--demo", "--concurrency", "4"][..], "bounded"),
        (&["load", "--demo", "--requests", "4"][..], "--concurrency"),
        (&["load", "--demo", "-c", "4", "-n", "4", "--shard", "2/2"][..], "0 ≤ i < N"),
        (&["load", "--demo", "-c", "4", "-n", "4", "--slo", "speed=1s"][..], "unknown bound"),
        (&["load", "--demo", "-c", "4", "--duration", "soon"][..], "not a duration"),
    ] {
        let o = bakeoff(args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
}

#[test]
fn cli_demo_run_writes_json_per_request_lines_and_a_report() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("req.jsonl");
    let report = dir.path().join("load.json");
    let o = bakeoff(&[
        "load",
        "--demo",
        "--models",
        "swift-mini",
        "-c",
        "4",
        "-n",
        "8",
        "--json",
        "--slo",
        "ttft=2s",
        "--out",
        out.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    validate(&doc);
    assert_eq!(doc["total"]["ok"], 8);
    assert_eq!(doc["total"]["goodput"]["met"], 8);
    let lines: Vec<serde_json::Value> =
        std::fs::read_to_string(&out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 8);
    assert!(lines.iter().all(|l| l["status"] == "ok" && l["ttft_ms"].as_f64().unwrap() > 100.0));
    let saved: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(saved, doc);
    let shown = bakeoff(&["load", "show", report.to_str().unwrap()]);
    assert_eq!(shown.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&shown.stdout).contains("requests 8 (ok 8"));
    let merged = bakeoff(&["report", "merge", report.to_str().unwrap(), "--json"]);
    assert_eq!(merged.status.code(), Some(0));
    let m: serde_json::Value = serde_json::from_slice(&merged.stdout).unwrap();
    assert_eq!(m["total"]["ttft_ms"], doc["total"]["ttft_ms"]);
    // The same run twice is not twice the load.
    let twice = bakeoff(&["report", "merge", report.to_str().unwrap(), report.to_str().unwrap()]);
    assert_eq!(twice.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&twice.stderr).contains("appears twice"),
        "{}",
        String::from_utf8_lossy(&twice.stderr)
    );
    // `report diff` reads load summaries: the same run against itself compares and regresses nowhere.
    let d = bakeoff(&["report", "diff", report.to_str().unwrap(), report.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&d.stdout);
    assert_eq!(d.status.code(), Some(0), "{text}{}", String::from_utf8_lossy(&d.stderr));
    assert!(text.contains("swift-mini") && text.contains("TTFT p50") && text.contains("+0.0%"), "{text}");
    let bad = bakeoff(&["load", "show", out.to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(2));
}

/// A soft open-file limit below what the run needs is raised to the hard limit at start: 300
/// workers against the in-process demo server hold ~600 sockets, under a soft limit of 256.
#[test]
fn a_low_soft_open_file_limit_is_raised_to_the_hard_one() {
    let hard = Command::new("sh").args(["-c", "ulimit -Hn"]).output().expect("run sh");
    let hard = String::from_utf8_lossy(&hard.stdout).trim().to_string();
    if hard != "unlimited" && hard.parse::<u64>().is_ok_and(|h| h < 1024) {
        eprintln!("skipped: the hard open-file limit here is {hard}, below what this test needs (1024)");
        return;
    }
    let script = format!(
        "ulimit -Sn 256 && exec timeout 120 {} load --demo --models swift-mini -c 300 -n 300 --no-tui --json",
        env!("CARGO_BIN_EXE_bakeoff")
    );
    let out = Command::new("sh").args(["-c", &script]).output().expect("run bakeoff load");
    let doc: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let total = &doc["total"];
    assert_eq!((total["ok"].as_u64(), total["errors"].as_u64()), (Some(300), Some(0)), "{}", total["error_kinds"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(doc["warnings"], serde_json::json!([]), "enough descriptors: nothing to warn about");

    // A hard limit below the need: said before the run and kept in the summary.
    let script = format!(
        "ulimit -n 256 && exec timeout 120 {} load --demo --models swift-mini -c 150 -n 150 --no-tui --json",
        env!("CARGO_BIN_EXE_bakeoff")
    );
    let out = Command::new("sh").args(["-c", &script]).output().expect("run bakeoff load");
    let doc: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let said = doc["warnings"][0].as_str().unwrap_or_default().to_string();
    assert!(said.contains("open-file limit is 256") && said.contains("364"), "{doc}");
    assert!(String::from_utf8_lossy(&out.stderr).contains(&said));
}
