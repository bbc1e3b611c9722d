//! `bakeoff report FILE` and `bakeoff report diff OLD NEW` through the real binary: every format
//! on a journal written here, saved reports read back, diff exit statuses (0 no regression,
//! 1 regressions, 2 file errors) and the flags they print.

use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bakeoff(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bakeoff")).args(args).env_remove("BAKEOFF_CONFIG").output().expect("run bakeoff")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn result(model: &str, ttft: f64, cost: Option<f64>) -> serde_json::Value {
    json!({
        "model": model, "provider": "openai", "status": "ok", "error": null, "error_kind": null,
        "http_status": null, "retry_after_s": null, "ttfb_ms": ttft / 2.0, "ttft_ms": ttft,
        "ttft_answer_ms": ttft, "latency_ms": ttft * 10.0, "elapsed_ms": ttft * 10.0,
        "input_tokens": 20, "output_tokens": 40, "reasoning_tokens": null, "cached_input_tokens": null,
        "tokens_estimated": false, "tokens_per_s": 50.0, "cost_usd": cost, "server_cost_usd": null,
        "cost_mismatch": null, "finish_reason": "stop", "content_chunks": 40, "gap_mean_ms": null,
        "gap_p95_ms": null, "longest_stall_ms": null, "server_model": null, "request_id": null,
        "fresh_connection": null, "output": format!("{model} says <script>hi</script>"), "reasoning": null
    })
}

/// A two-round journal for models a, b, c. `ttft_a` scales a's TTFT; `cost_b` is b's cost per request.
fn journal(dir: &Path, name: &str, ttft_a: f64, cost_b: f64) -> PathBuf {
    let mut lines = vec![json!({
        "type": "session", "version": 1, "started_at": "2026-11-22T10:00:00Z",
        "environment": {"bakeoff_version": "0.1.0", "os": "linux-x86_64", "concurrency": 3,
                        "connection_reuse": true, "prices_as_of": "2026-04-30", "mode": "tui"}
    })];
    for round in 1..=2u64 {
        lines.push(json!({
            "type": "round", "round": round, "started_at": "2026-11-22T10:00:01Z",
            "messages": [{"role": "user", "content": "Capital of France?"}], "models": ["a", "b", "c"]
        }));
        let f = round as f64;
        for (model, r) in [
            ("a", result("a", ttft_a * f, Some(0.001))),
            ("b", result("b", 200.0 * f, Some(cost_b))),
            ("c", result("c", 300.0 * f, None)),
        ] {
            lines.push(json!({"type": "result", "round": round, "result": r}));
            let score = match model {
                "a" => 5,
                "b" => 4,
                _ => 2,
            };
            lines.push(json!({"type": "score", "round": round, "model": model, "score": score}));
        }
        lines.push(json!({"type": "verdict", "round": round, "verdict": {"winner": "a"}}));
    }
    let path = dir.join(name);
    let text: String = lines.iter().map(|l| l.to_string() + "\n").collect();
    std::fs::write(&path, text).unwrap();
    path
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn report_prints_every_format_from_a_journal_and_a_saved_report() {
    let dir = tempfile::tempdir().unwrap();
    let j = journal(dir.path(), "s.jsonl", 100.0, 0.002);

    let o = bakeoff(&["report", s(&j)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let table = stdout(&o);
    assert!(table.contains("TTFT p50") && table.contains("$/accept"), "{table}");
    assert!(table.lines().any(|l| l.starts_with("a ") && l.contains("100ms*")), "{table}");
    assert!(table.contains("$—"), "c's unknown price is shown as unknown: {table}");

    let o = bakeoff(&["report", s(&j), "--format", "markdown"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let md = stdout(&o);
    assert!(md.starts_with("# bakeoff report") && md.contains("## Definitions"), "{md}");

    let o = bakeoff(&["report", s(&j), "--format", "html"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let html = stdout(&o);
    assert!(html.contains("<svg") && !html.contains("<script") && html.contains("&lt;script&gt;hi"));

    let o = bakeoff(&["report", s(&j), "--format", "json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["report_version"], 1);
    assert_eq!(v["models"].as_array().unwrap().len(), 3);
    assert_eq!(v["models"][2]["cost_usd"], serde_json::Value::Null);
    assert_eq!(v["models"][0]["verdicts"]["wins"], 2);

    // A saved report reads back the same.
    let saved = dir.path().join("saved.json");
    std::fs::write(&saved, &o.stdout).unwrap();
    let again = bakeoff(&["report", s(&saved), "--format", "json"]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(again.stdout, o.stdout);
}

#[test]
fn diff_exit_status_and_flags() {
    let dir = tempfile::tempdir().unwrap();
    let old = journal(dir.path(), "old.jsonl", 100.0, 0.002);
    // a's TTFT doubles; b becomes cheaper per acceptable response than a.
    let new = journal(dir.path(), "new.jsonl", 200.0, 0.0005);

    let same = bakeoff(&["report", "diff", s(&old), s(&old)]);
    assert_eq!(same.status.code(), Some(0), "{}{}", stdout(&same), stderr(&same));
    assert!(stdout(&same).contains("no regressions"), "{}", stdout(&same));

    let o = bakeoff(&["report", "diff", s(&old), s(&new)]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{}", stderr(&o));
    assert!(out.contains("REGRESSION"), "{out}");
    assert!(out.contains("a: TTFT p50 100ms → 200ms (+100.0%"), "{out}");
    assert!(out.contains("overtake:") && out.contains("b is now cheaper per acceptable response"), "{out}");

    // Thresholds loose enough: exit 0, the overtake is still reported.
    let o = bakeoff(&[
        "report",
        "diff",
        s(&old),
        s(&new),
        "--max-ttft-regression",
        "150",
        "--max-latency-regression",
        "150",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).contains("overtake:"));
}

#[test]
fn missing_or_invalid_files_exit_2_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.json");
    let o = bakeoff(&["report", s(&missing)]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("cannot read") && err.contains("nope.json"), "{err}");

    let j = journal(dir.path(), "s.jsonl", 100.0, 0.002);
    let o = bakeoff(&["report", "diff", s(&j), s(&missing)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("nope.json"));

    let future = dir.path().join("future.json");
    std::fs::write(&future, r#"{"report_version": 7, "models": []}"#).unwrap();
    let o = bakeoff(&["report", s(&future)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("report_version 7 is not supported"), "{}", stderr(&o));

    let o = bakeoff(&["report", s(&j), "--format", "pdf"]);
    assert_eq!(o.status.code(), Some(2), "usage errors exit 2");
}
