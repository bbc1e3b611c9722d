//! Report tests on a hand-built session whose aggregates were computed by hand.

use super::*;
use crate::provider::ErrorKind;
use crate::session::{Entry, RoundStart};

fn rr(model: &str, status: &str, ttft: Option<f64>, latency: Option<f64>, cost: Option<f64>) -> RequestResult {
    let ok = status == "ok";
    RequestResult {
        model: model.into(),
        provider: "openai".into(),
        status: status.parse().unwrap(),
        error: (!ok).then(|| "boom".into()),
        ttfb_ms: ttft.map(|t| t / 2.0),
        ttft_ms: ttft,
        ttft_answer_ms: ttft,
        latency_ms: latency,
        elapsed_ms: latency.or(Some(50.0)),
        input_tokens: 100,
        output_tokens: if ok { 50 } else { 0 },
        tokens_per_s: ok.then_some(40.0),
        cost_usd: cost,
        finish_reason: ok.then(|| "stop".into()),
        content_chunks: 10,
        output: if ok { format!("answer from {model}") } else { String::new() },
        ..Default::default()
    }
}

fn failed(model: &str, kind: ErrorKind, cost: Option<f64>) -> RequestResult {
    let mut r = rr(model, "error", None, None, cost);
    r.error_kind = Some(kind);
    r
}

fn ev(name: &str, kind: &str, passed: bool, score: f64) -> EvalResult {
    EvalResult {
        name: name.into(),
        kind: serde_json::from_value(serde_json::json!(kind)).unwrap(),
        score: Some(score),
        raw_score: (kind == "judge").then_some(score * 4.0 + 1.0),
        passed: Some(passed),
        error: None,
        detail: Some(format!("{name} said {passed}")),
        counts: None,
        spend: None,
        votes: Vec::new(),
    }
}

const MODELS: [&str; 3] = ["alpha", "beta", "gamma"];

fn start(round: u64, prompt: &str, blind: Option<Blind>) -> Entry {
    Entry::Round(RoundStart {
        round,
        started_at: format!("2026-11-22T10:0{round}:00Z"),
        messages: vec![Message::system("Be brief."), Message::user(prompt)],
        models: MODELS.iter().map(|m| m.to_string()).collect(),
        case_id: (round == 1).then(|| "capital".into()),
        category: (round == 1).then(|| "geo".into()),
        repeat: None,
        blind,
        theme: None,
        turn: None,
        context: Default::default(),
        follow_ups: Vec::new(),
    })
}

fn res(round: u64, r: RequestResult) -> Entry {
    Entry::Result { round, result: Box::new(r) }
}
fn score(round: u64, model: &str, s: u8) -> Entry {
    Entry::Score { round, model: model.into(), score: Some(s) }
}
fn eval(round: u64, model: &str, e: EvalResult) -> Entry {
    Entry::Eval { round, model: model.into(), result: e }
}
fn pair(round: u64, a: &str, b: &str, winner: Option<&str>, by: &str) -> Entry {
    Entry::Pairwise {
        round,
        pair: Pairwise {
            a: a.into(),
            b: b.into(),
            winner: winner.map(String::from),
            by: by.into(),
            disagreement: winner.is_none() && by != "manual",
            orders: None,
            spend: None,
            error: None,
        },
    }
}

/// Three models, four rounds (the last incomplete): a retry, failures, unknown prices, manual
/// scores, verdicts, pairwise comparisons, a judge, and hostile model output.
fn entries() -> Vec<Entry> {
    let mut gamma1 = rr("gamma", "ok", Some(300.0), Some(3000.0), None);
    gamma1.output = "<script>alert('x')</script>\n```\nnot the end of the fence\n```".into();
    gamma1.tokens_estimated = true;
    let blind = Blind {
        labels: [("alpha", "B"), ("beta", "C"), ("gamma", "A")]
            .iter()
            .map(|(m, l)| (m.to_string(), l.to_string()))
            .collect(),
        order: vec!["gamma".into(), "alpha".into(), "beta".into()],
    };
    vec![
        Entry::Session {
            version: 1,
            started_at: "2026-11-22T10:00:00Z".into(),
            environment: Environment {
                bakeoff_version: "0.1.0".into(),
                os: "linux-x86_64".into(),
                concurrency: 3,
                connection_reuse: true,
                prices_as_of: "2026-04-30".into(),
                mode: "tui".into(),
                plan: None,
            },
        },
        start(1, "What is the capital of France?", Some(blind)),
        res(1, rr("alpha", "ok", Some(100.0), Some(1000.0), Some(0.001))),
        res(1, failed("beta", ErrorKind::RateLimited, Some(0.0))),
        res(1, rr("beta", "ok", Some(200.0), Some(2000.0), Some(0.002))),
        res(1, gamma1),
        score(1, "alpha", 5),
        score(1, "beta", 3),
        score(1, "gamma", 4),
        Entry::Note { round: 1, model: "beta".into(), text: "rambles | *a lot*".into() },
        Entry::Verdict { round: 1, verdict: Some(Verdict::Winner("alpha".into())) },
        start(2, "Name three primes.", None),
        res(2, rr("alpha", "ok", Some(200.0), Some(1200.0), Some(0.001))),
        res(2, failed("beta", ErrorKind::Http, Some(0.0005))),
        res(2, rr("gamma", "ok", Some(400.0), Some(2500.0), None)),
        eval(2, "alpha", ev("contains", "contains", true, 1.0)),
        eval(2, "alpha", ev("judge:j", "judge", true, 1.0)),
        eval(2, "gamma", ev("judge:j", "judge", false, 0.25)),
        score(2, "alpha", 4),
        score(2, "gamma", 4),
        Entry::Verdict { round: 2, verdict: Some(Verdict::Tie) },
        pair(2, "alpha", "gamma", Some("alpha"), "manual"),
        start(3, "Summarise this.", None),
        res(3, rr("alpha", "ok", Some(300.0), Some(1400.0), Some(0.001))),
        res(3, rr("beta", "ok", Some(250.0), Some(1800.0), Some(0.002))),
        res(3, rr("gamma", "ok", Some(350.0), Some(2600.0), Some(0.003))),
        eval(3, "alpha", ev("judge:j", "judge", true, 0.75)),
        eval(3, "beta", ev("judge:j", "judge", true, 1.0)),
        eval(3, "gamma", ev("judge:j", "judge", false, 0.0)),
        score(3, "alpha", 2),
        score(3, "beta", 5),
        score(3, "gamma", 1),
        Entry::Verdict { round: 3, verdict: Some(Verdict::Winner("beta".into())) },
        pair(3, "beta", "gamma", None, "judge:j"),
        start(4, "And again.", None),
        res(4, rr("alpha", "ok", Some(400.0), Some(1600.0), Some(0.001))),
    ]
}

fn session() -> Session {
    let mut s = Session::default();
    for e in entries() {
        s.apply(&e);
    }
    s
}

fn opts() -> ReportOptions {
    ReportOptions { generated_at: Some("2026-11-22T12:00:00Z".into()), ..ReportOptions::default() }
}

/// A report with a stable time and version, for snapshots.
fn report() -> Report {
    let mut r = build(&session(), &opts());
    r.bakeoff_version = "test".into();
    r
}

fn model<'a>(r: &'a Report, name: &str) -> &'a ModelStats {
    r.models.iter().find(|m| m.model == name).unwrap()
}

fn close(a: Option<f64>, b: f64) {
    let a = a.unwrap_or_else(|| panic!("expected {b}, got None"));
    assert!((a - b).abs() < 1e-9, "{a} != {b}");
}

#[test]
fn counts_requests_retries_errors_and_rounds() {
    let r = report();
    assert_eq!(r.models.iter().map(|m| m.model.as_str()).collect::<Vec<_>>(), MODELS);
    assert!(r.partial, "round 4 is incomplete");
    assert_eq!((r.cross.rounds, r.cross.complete_rounds), (4, 3));
    let a = model(&r, "alpha");
    assert_eq!((a.rounds, a.responses, a.ok, a.requests, a.retries, a.errors), (4, 4, 4, 4, 0, 0));
    let b = model(&r, "beta");
    assert_eq!((b.rounds, b.responses, b.ok, b.requests, b.retries, b.errors), (4, 3, 2, 4, 1, 2));
    assert_eq!(b.error_kinds, BTreeMap::from([("http".to_string(), 1), ("rate_limited".to_string(), 1)]));
    assert_eq!((b.input_tokens, b.output_tokens), (400, 100));
    let g = model(&r, "gamma");
    assert_eq!((g.rounds, g.responses, g.requests, g.errors), (4, 3, 3, 0));
    assert!(g.tokens_estimated && !a.tokens_estimated);
}

#[test]
fn percentiles_and_means_of_successful_requests() {
    let r = report();
    let a = model(&r, "alpha");
    assert_eq!(a.ttft_ms, Some(Summary { n: 4, mean: 250.0, p50: 200.0, p95: 400.0, p99: 400.0 }));
    assert_eq!(a.latency_ms, Some(Summary { n: 4, mean: 1300.0, p50: 1200.0, p95: 1600.0, p99: 1600.0 }));
    // Failed attempts do not count toward times.
    let b = model(&r, "beta");
    assert_eq!(b.ttft_ms, Some(Summary { n: 2, mean: 225.0, p50: 200.0, p95: 250.0, p99: 250.0 }));
    assert_eq!(b.latency_ms, Some(Summary { n: 2, mean: 1900.0, p50: 1800.0, p95: 2000.0, p99: 2000.0 }));
    assert_eq!(b.tokens_per_s_mean, Some(40.0));
    let g = model(&r, "gamma");
    assert_eq!(g.ttft_ms.map(|s| (s.p50, s.p95)), Some((350.0, 400.0)));
}

#[test]
fn summarize_is_nearest_rank_at_three_significant_digits() {
    let v: Vec<f64> = (1..=100).map(f64::from).collect();
    assert_eq!(summarize(&v), Some(Summary { n: 100, mean: 50.5, p50: 50.0, p95: 95.0, p99: 99.0 }));
    // 212.4 ms sits in a 128 µs bucket; the figure is reported to 3 significant digits.
    assert_eq!(summarize(&[212.4]), Some(Summary { n: 1, mean: 212.4, p50: 212.0, p95: 212.0, p99: 212.0 }));
    // Sub-millisecond values are exact (below 2048 µs every microsecond has its own bucket).
    assert_eq!(summarize(&[0.5, 0.25]).map(|s| (s.p50, s.p99)), Some((0.25, 0.5)));
    assert_eq!(summarize(&[]), None);
    assert_eq!(summarize(&[f64::NAN]), None);
}

#[test]
fn cost_includes_failed_and_retried_attempts_and_never_hides_unknowns() {
    let r = report();
    let a = model(&r, "alpha");
    close(a.cost_usd, 0.004);
    assert!(a.cost_complete);
    // 0.0 (rate-limited retry) + 0.002 + 0.0005 (failed) + 0.002.
    let b = model(&r, "beta");
    close(b.cost_usd, 0.0045);
    // gamma: two attempts without a price, one at 0.003 — no total, only a lower bound.
    let g = model(&r, "gamma");
    assert_eq!(g.cost_usd, None);
    assert!(!g.cost_complete);
    close(Some(g.cost_known_usd), 0.003);
    assert_eq!(g.cost_unknown_requests, 2);
    assert_eq!(g.cost_per_acceptable_usd, None);
    assert_eq!(g.cost_per_quality_point_usd, None);
    assert_eq!(table::cost(g), "≥$0.00300");
    let json = to_json(&r);
    assert!(json.contains("\"cost_usd\": null"), "unknown totals are null in JSON");
}

#[test]
fn quality_acceptance_and_cost_per_point() {
    let r = report();
    let a = model(&r, "alpha");
    // Scores 5, 4, 2 ⇒ quality 1, 0.75, 0.25; round 4 unscored.
    close(a.manual_score_mean, 3.6667);
    close(a.eval_score_mean, 0.875);
    assert_eq!((a.quality_known, a.quality_sum), (3, 2.0));
    close(a.quality_mean, 0.6667);
    // Round 3: the judge passed it, so it is acceptable despite a manual 2 (evaluators decide).
    assert_eq!((a.acceptable, a.acceptability_known), (3, 3));
    close(a.acceptance_rate, 1.0);
    close(a.cost_per_acceptable_usd, 0.004 / 3.0);
    close(a.cost_per_quality_point_usd, 0.002);
    let b = model(&r, "beta");
    // Scores 3 (0.5), failure (0), 5 (1).
    assert_eq!((b.quality_known, b.quality_sum), (3, 1.5));
    assert_eq!((b.acceptable, b.acceptability_known), (1, 3));
    close(b.acceptance_rate, 0.3333);
    close(b.cost_per_acceptable_usd, 0.0045);
    close(b.cost_per_quality_point_usd, 0.003);
    let g = model(&r, "gamma");
    assert_eq!((g.acceptable, g.acceptability_known), (1, 3));
    let round2 = &r.rounds[1];
    let beta2 = round2.responses.iter().find(|m| m.model == "beta").unwrap();
    assert_eq!((beta2.acceptable, beta2.quality), (Some(false), Some(0.0)));
}

#[test]
fn verdicts_pairwise_and_bradley_terry() {
    let r = report();
    let rec = |w, t, l| Record { wins: w, ties: t, losses: l };
    assert_eq!(model(&r, "alpha").verdicts, rec(1, 1, 1));
    assert_eq!(model(&r, "beta").verdicts, rec(1, 1, 1));
    assert_eq!(model(&r, "gamma").verdicts, rec(0, 1, 2));
    assert_eq!(model(&r, "alpha").pairwise, rec(1, 0, 0));
    assert_eq!(model(&r, "beta").pairwise, rec(0, 1, 0));
    assert_eq!(model(&r, "gamma").pairwise, rec(0, 1, 1));
    let bt = r.cross.bradley_terry.as_ref().unwrap();
    // 2 (round 1) + 3 (tie) + 2 (round 3) + 2 pairwise.
    assert_eq!(bt.comparisons, 9);
    assert!(bt.converged);
    assert_eq!(bt.ranking, ["alpha", "beta", "gamma"]);
    let s: f64 = r.models.iter().map(|m| m.bradley_terry.unwrap().strength).sum();
    assert!((s - 1.0).abs() < 1e-3);
}

#[test]
fn bradley_terry_recovers_a_clear_hierarchy() {
    // Each pair plays three times; the lower index always wins.
    let mut games = Vec::new();
    for i in 0..4 {
        for j in i + 1..4 {
            games.extend([(i, j, 1.0); 3]);
        }
    }
    let fit = bradley_terry(4, &games, 1.0);
    assert!(fit.converged);
    assert!(fit.strengths.windows(2).all(|w| w[0] > w[1]), "{:?}", fit.strengths);
    assert!((fit.strengths.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    // Ratings are centred on 1500 (geometric mean).
    assert!((fit.ratings.iter().sum::<f64>() / 4.0 - 1500.0).abs() < 1e-6);
    // Two players by hand: 3 wins to 1, plus one virtual tie ⇒ W = 3.5 vs 1.5 ⇒ 0.7 / 0.3.
    let fit = bradley_terry(2, &[(0, 1, 1.0), (0, 1, 1.0), (1, 0, 0.0), (0, 1, 0.0)], 1.0);
    assert!((fit.strengths[0] - 0.7).abs() < 1e-9, "{:?}", fit.strengths);
    // All ties ⇒ equal strengths; an unbeaten player stays finite.
    let fit = bradley_terry(3, &[(0, 1, 0.5), (1, 2, 0.5), (0, 2, 0.5)], 1.0);
    assert!(fit.strengths.iter().all(|s| (s - 1.0 / 3.0).abs() < 1e-9));
    let fit = bradley_terry(3, &[(0, 1, 1.0), (0, 2, 1.0), (1, 2, 1.0)], 1.0);
    assert!(fit.strengths.iter().all(|s| s.is_finite() && *s > 0.0));
}

#[test]
fn judge_agreement_kappa() {
    let r = report();
    let a = &r.cross.judge_agreement;
    assert_eq!(a.len(), 1);
    let a = &a[0];
    assert_eq!(a.judge, "judge:j");
    // (judge, person): alpha2 (y,y), gamma2 (n,y), alpha3 (y,n), beta3 (y,y), gamma3 (n,n).
    assert_eq!((a.n, a.both_acceptable, a.judge_only, a.person_only, a.neither), (5, 2, 1, 1, 1));
    // pₒ = 3/5; pₑ = 0.6·0.6 + 0.4·0.4 = 0.52; κ = 0.08 / 0.48.
    assert_eq!(a.observed_agreement, 0.6);
    assert_eq!(a.kappa, Some(0.1667));
    // Everyone always agreeing on one category: κ undefined.
    assert_eq!(cohen_kappa(&[(true, true), (true, true)]).kappa, None);
    let perfect = cohen_kappa(&[(true, true), (false, false)]);
    assert_eq!(perfect.kappa, Some(1.0));
}

#[test]
fn best_per_column_with_ties_and_only_complete_costs() {
    let r = report();
    let b = &r.cross.best;
    assert_eq!(b["ttft_p50_ms"], ["alpha", "beta"]);
    assert_eq!(b["latency_p50_ms"], ["alpha"]);
    // gamma's lower bound ($0.003) is below alpha's total but cannot be called the best.
    assert_eq!(b["cost_usd"], ["alpha"]);
    assert_eq!(b["cost_per_acceptable_usd"], ["alpha"]);
    assert_eq!(b["bt_rating"], ["alpha"]);
}

#[test]
fn round_details_carry_everything() {
    let r = report();
    let r1 = &r.rounds[0];
    assert_eq!(r1.case_id.as_deref(), Some("capital"));
    assert_eq!(r1.blind.as_ref().unwrap().labels["gamma"], "A");
    assert_eq!(r1.verdict, Some(Verdict::Winner("alpha".into())));
    let beta = r1.responses.iter().find(|m| m.model == "beta").unwrap();
    assert_eq!(beta.retries.len(), 1);
    assert_eq!(beta.manual_score, Some(3));
    assert_eq!(beta.note.as_deref(), Some("rambles | *a lot*"));
    assert_eq!(beta.acceptable, Some(false));
    let r4 = &r.rounds[3];
    assert!(!r4.complete);
    assert!(r4.responses.iter().find(|m| m.model == "beta").unwrap().result.is_none());
    assert!(r.definitions.iter().any(|d| d.name == "bradley_terry"));
    assert!(r.definitions.iter().any(|d| d.name == "ttft_ms"), "per-request definitions are embedded too");
}

#[test]
fn golden_json() {
    insta::assert_snapshot!("report_json", to_json(&report()));
}

#[test]
fn golden_markdown() {
    insta::assert_snapshot!("report_markdown", to_markdown(&report()));
}

#[test]
fn golden_table() {
    insta::assert_snapshot!("report_table", to_table(&report()));
}

#[test]
fn markdown_fences_cannot_be_closed_by_output() {
    let md = to_markdown(&report());
    assert!(md.contains("````text\n<script>alert('x')</script>\n```\nnot the end of the fence\n```\n````"), "{md}");
    // Notes are escaped so they cannot break the table or open markup.
    assert!(md.contains("rambles \\| \\*a lot\\*"));
    assert_eq!(markdown::fenced("plain", ""), "```\nplain\n```\n");
}

#[test]
fn html_is_self_contained_and_escaped() {
    let html = to_html(&report());
    assert_eq!(html.matches("<svg").count(), 5, "cost against quality, TTFT, latency, cost and quality charts");
    for title in [
        "Cost (USD, all attempts) against acceptance (0–1)",
        "TTFT p50 and p95, ms",
        "Latency p50 and p95, ms",
        "Total cost (USD, all attempts)",
        "Quality (mean, 0–1)",
    ] {
        assert!(html.contains(&format!("<title>{title}")), "{title}");
    }
    // A whisker from each model's p50 to its p95, every model in its own colour.
    assert!(html.matches("<line ").count() >= 2 * 3, "whiskers");
    assert!(html.contains("fill=\"#4a7bd0\"") && html.contains("fill=\"#e07b39\""));
    assert!(!html.to_lowercase().contains("<script"), "no scripts, and model output is escaped");
    assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
    assert!(!html.contains("http://") && !html.contains("https://"), "no fetches");
    assert!(!html.contains(" src=") && !html.contains("url("));
    assert_eq!(html.matches("href=").count(), html.matches("href=\"#").count(), "links only within the page");
    assert!(html.contains("default-src 'none'"));
    // gamma's cost is a lower bound: drawn lighter and labelled.
    assert!(html.contains("bar partial") && html.contains("≥$0.00300 (some prices unknown)"));
}

#[test]
fn formats_parse() {
    assert_eq!("markdown".parse::<Format>(), Ok(Format::Markdown));
    assert_eq!("HTML".parse::<Format>(), Ok(Format::Html));
    assert!("pdf".parse::<Format>().unwrap_err().contains("table, markdown, json or html"));
}

#[test]
fn write_atomic_replaces_whole_files_and_leaves_no_temp() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("r.json");
    write_atomic(&p, &vec![b'a'; 100_000]).unwrap();
    write_atomic(&p, b"short").unwrap();
    assert_eq!(std::fs::read(&p).unwrap(), b"short");
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, ["r.json"]);
    // A failing rename (the target is a directory) leaves no temporary file behind.
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    assert!(write_atomic(&dir.path().join("sub"), b"x").is_err());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    assert!(write_atomic(&dir.path().join("missing/r.json"), b"x").is_err());
}

#[test]
fn a_killed_saves_temp_file_is_removed_by_the_next_save() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("r.json");
    // Left by a save that was SIGKILLed: a pid that cannot run (above Linux's pid_max).
    let dead = dir.path().join(".r.json.tmp-4294967295-00000000deadbeef");
    // A save in progress in a live process (this one) is left alone.
    let live = dir.path().join(format!(".r.json.tmp-{}-00000000cafef00d", std::process::id()));
    let other = dir.path().join(".q.json.tmp-4294967295-0000000000000001");
    for f in [&dead, &live, &other] {
        std::fs::write(f, b"partial").unwrap();
    }
    write_atomic(&p, b"new").unwrap();
    if std::path::Path::new("/proc/self").exists() {
        assert!(!dead.exists(), "the dead save's temp file is gone");
    }
    assert!(live.exists() && other.exists());
}

#[test]
fn readers_never_see_a_partial_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("r.md");
    let (a, b) = (vec![b'a'; 1 << 20], vec![b'b'; 300_000]);
    write_atomic(&p, &a).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (p, a, b, stop) = (p.clone(), a.clone(), b.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut reads = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let got = std::fs::read(&p).unwrap();
                assert!(got == a || got == b, "partial read of {} bytes", got.len());
                reads += 1;
            }
            reads
        })
    };
    for i in 0..40 {
        write_atomic(&p, if i % 2 == 0 { &b } else { &a }).unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(reader.join().unwrap() > 0);
}

#[test]
fn save_writes_three_files_that_load_back() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("reports");
    let r = report();
    let paths = save(&r, &out, "s1").unwrap();
    let names: Vec<String> = paths.iter().map(|p| p.file_name().unwrap().to_string_lossy().into()).collect();
    assert_eq!(names, ["s1.json", "s1.md", "s1.html"]);
    assert_eq!(load(&paths[0]).unwrap(), r);
    assert!(save(&r, &paths[0], "x").is_err(), "a file is not a directory");
}

#[test]
fn load_replays_journals_and_rejects_bad_reports_with_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("s.jsonl");
    let lines: Vec<String> = entries().iter().map(|e| serde_json::to_string(e).unwrap()).collect();
    std::fs::write(&journal, lines.join("\n") + "\n").unwrap();
    let from_journal = load(&journal).unwrap();
    assert_eq!(from_journal.models, report().models);

    let bad = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        load(&p).unwrap_err().to_string()
    };
    let e = bad("v2.json", r#"{"report_version": 2}"#);
    assert!(e.contains("v2.json") && e.contains("report_version 2 is not supported"), "{e}");
    let e = bad("x.json", "not json");
    assert!(e.contains("x.json") && e.contains("neither a bakeoff report"), "{e}");
    let e = bad("y.json", r#"{"hello": 1}"#);
    assert!(e.contains("no report_version"), "{e}");
    let mut v: serde_json::Value = serde_json::from_str(&to_json(&report())).unwrap();
    v["models"][0]["requests"] = serde_json::json!("many");
    let e = bad("edited.json", &v.to_string());
    assert!(e.contains("edited.json") && e.contains("not a valid version-1 report"), "{e}");
    let e = load(&dir.path().join("nope.json")).unwrap_err().to_string();
    assert!(e.contains("cannot read") && e.contains("nope.json"), "{e}");
}

#[test]
fn diff_flags_regressions_and_overtakes() {
    let old = report();
    let same = diff(&old, &old, &DiffOptions::default());
    assert!(!same.has_regressions() && same.overtakes.is_empty(), "{}", same.render());
    assert_eq!(same.rows.len(), 3 * 7);

    let mut new = old.clone();
    let edit = |r: &mut Report, name: &str, f: &dyn Fn(&mut ModelStats)| {
        f(r.models.iter_mut().find(|m| m.model == name).unwrap())
    };
    edit(&mut new, "alpha", &|a| {
        a.ttft_ms.as_mut().unwrap().p50 = 250.0; // +25 % > 20 %
        a.latency_ms.as_mut().unwrap().p95 = 1900.0; // +18.75 %: within
    });
    edit(&mut new, "beta", &|b| b.cost_per_acceptable_usd = Some(0.001)); // cheaper than alpha's 0.00133
    edit(&mut new, "gamma", &|g| g.acceptance_rate = Some(0.25)); // −0.083 > 0.05
    let d = diff(&old, &new, &DiffOptions::default());
    assert_eq!(d.regressions.len(), 2, "{}", d.render());
    assert!(d.regressions[0].starts_with("alpha: TTFT p50 200ms → 250ms (+25.0%"), "{:?}", d.regressions);
    assert!(d.regressions[1].starts_with("gamma: acceptance"), "{:?}", d.regressions);
    assert_eq!(d.overtakes.len(), 1);
    assert!(
        d.overtakes[0]
            .starts_with("beta is now cheaper per acceptable response ($0.00100) than the previous best alpha")
    );
    let text = d.render();
    assert!(text.contains("REGRESSION") && text.contains("overtake:"), "{text}");
    // Looser thresholds: no regression.
    let loose = DiffOptions { max_ttft_regression_pct: 30.0, max_quality_drop: 0.1, ..DiffOptions::default() };
    assert!(!diff(&old, &new, &loose).has_regressions());
    assert!(DiffOptions { max_cost_regression_pct: -1.0, ..DiffOptions::default() }.validate().is_err());
}

#[test]
fn prompt_cache_hits_savings_and_cold_against_warm_ttft() {
    // One case, three repeats: the first cold (written to the cache), the next two read from it.
    let mut s = Session::default();
    let cached = |ttft: f64, read: u64, written: u64, saved: f64| {
        let mut r = rr("alpha", "ok", Some(ttft), Some(900.0), Some(0.001));
        r.input_tokens = 1000;
        r.cached_input_tokens = Some(read);
        r.cache_write_tokens = Some(written).filter(|w| *w > 0);
        r.cache_saved_usd = Some(saved);
        r
    };
    for (round, r) in [
        (1, cached(400.0, 0, 1000, -0.00025)),
        (2, cached(200.0, 1000, 0, 0.0009)),
        (3, cached(220.0, 1000, 0, 0.0009)),
    ] {
        let Entry::Round(mut start) = start(round, "Q", None) else { unreachable!() };
        start.models = vec!["alpha".into(), "beta".into()];
        start.case_id = Some("c".into());
        start.repeat = Some(round as u32 - 1);
        s.apply(&Entry::Round(start));
        s.apply(&res(round, r));
        s.apply(&res(round, rr("beta", "ok", Some(300.0), Some(900.0), Some(0.001))));
    }
    let r = build(&s, &opts());
    let c = model(&r, "alpha").cache.as_ref().expect("alpha used the cache");
    assert_eq!((c.cached_input_tokens, c.cache_write_tokens), (2000, 1000));
    close(c.hit_share, 0.6667);
    close(c.saved_usd, 0.00155);
    assert_eq!(c.ttft_cold_ms.as_ref().map(|s| (s.n, s.p50)), Some((1, 400.0)));
    assert_eq!(c.ttft_warm_ms.as_ref().map(|s| s.n), Some(2));
    assert!(model(&r, "beta").cache.is_none(), "no cache reported, no cache figures");
    let (head, rows) = cache_rows(&r).unwrap();
    assert_eq!(head[0], "model");
    assert_eq!(rows, vec![vec!["alpha", "2.0k", "67%", "1.0k", "$0.00155", "400ms", "200ms"]]);
    for text in [to_markdown(&r), to_html(&r), to_table(&r)] {
        assert!(text.contains("rompt cache") && text.contains("$0.00155"), "{text}");
    }
    // A report without cache use has no cache section.
    assert!(cache_rows(&report()).is_none());
    assert!(!to_markdown(&report()).contains("Prompt cache"));
}

#[test]
fn schema_valid_rate_per_model_with_the_first_problem() {
    let mut s = Session::default();
    let answer = |model: &str, valid: Option<bool>, status: &str| {
        let mut r = rr(model, status, Some(200.0), Some(900.0), Some(0.001));
        r.schema_valid = valid;
        r.schema_error = (valid == Some(false)).then(|| "at /: \"city\" is a required property".to_string());
        r
    };
    for (round, (a, b)) in [
        (1, (answer("alpha", Some(true), "ok"), answer("beta", Some(false), "ok"))),
        (2, (answer("alpha", Some(true), "ok"), answer("beta", Some(true), "ok"))),
        // A failed request is not an answer: it does not count either way.
        (3, (answer("alpha", Some(true), "ok"), answer("beta", None, "error"))),
    ] {
        s.apply(&start(round, "Q", None));
        s.apply(&res(round, a));
        s.apply(&res(round, b));
    }
    let r = build(&s, &opts());
    let alpha = model(&r, "alpha").structured.clone().unwrap();
    assert_eq!((alpha.checked, alpha.valid, alpha.valid_rate), (3, 3, Some(1.0)));
    let beta = model(&r, "beta").structured.clone().unwrap();
    assert_eq!((beta.checked, beta.valid, beta.valid_rate), (2, 1, Some(0.5)));
    assert_eq!(beta.first_problem.as_deref(), Some("at /: \"city\" is a required property"));
    let (_, rows) = structured_rows(&r).unwrap();
    assert_eq!(rows[1], vec!["beta", "50% (1/2)", "at /: \"city\" is a required property"]);
    for text in [to_markdown(&r), to_html(&r), to_table(&r)] {
        assert!(text.contains("tructured output") && text.contains("50% (1/2)"), "{text}");
    }
    assert!(structured_rows(&report()).is_none(), "no schema asked for, no section");
}

/// The judges' own spend is summed per model judged, kept apart from the model's cost, and a
/// second cost per acceptable response adds it; one unpriced judge request makes it unknown.
#[test]
fn evaluation_spend_is_apart_from_the_models_cost() {
    let spend = |cost: Option<f64>| crate::eval::Spend {
        requests: 1,
        input_tokens: 100,
        output_tokens: 10,
        cost_usd: cost,
        tokens_estimated: false,
    };
    let mut s = Session::default();
    for mut e in entries() {
        if let Entry::Eval { model, result, .. } = &mut e
            && result.kind == EvaluatorKind::Judge
        {
            result.spend = Some(spend(if model == "gamma" { None } else { Some(0.001) }));
        }
        s.apply(&e);
    }
    let r = build(&s, &opts());
    let plain = report();
    let a = model(&r, "alpha");
    assert_eq!(a.cost_usd, model(&plain, "alpha").cost_usd, "the model's own cost is unchanged");
    assert_eq!(a.cost_per_acceptable_usd, model(&plain, "alpha").cost_per_acceptable_usd);
    let sp = a.eval_spend.as_ref().unwrap();
    assert_eq!((sp.requests, sp.input_tokens, sp.output_tokens), (2, 200, 20), "alpha was judged in rounds 2 and 3");
    close(sp.cost_usd, 0.002);
    // (0.004 own + 0.002 judging) over 3 acceptable answers.
    close(sp.cost_per_acceptable_with_eval_usd, 0.006 / 3.0);
    let g = model(&r, "gamma").eval_spend.as_ref().unwrap();
    assert_eq!((g.cost_usd, g.cost_per_acceptable_with_eval_usd), (None, None), "unpriced judge: unknown");
    let (head, rows) = crate::report::spend_rows(&r).unwrap();
    assert_eq!(head[5], "$/accept + eval");
    assert!(rows.iter().any(|row| row[0] == "gamma" && row[3] == "$—"), "{rows:?}");
    // The whole run: every judged answer's request; gamma's unpriced judge makes the cost unknown.
    let total = r.cross.eval_spend.as_ref().unwrap();
    let judged: u64 = r.models.iter().filter_map(|m| m.eval_spend.as_ref()).map(|s| s.requests).sum();
    assert_eq!((total.requests, total.cost_usd), (judged, None));
    assert_eq!(rows.last().unwrap()[0], "whole run (pairwise too)");
    assert!(report().cross.eval_spend.is_none(), "no evaluator requests, no total");
    assert!(crate::report::spend_rows(&plain).is_none(), "no judge spend, no table");
}

/// A judge that always prefers the answer shown first shows a 100% position preference and
/// every pair's orders disagreeing; a fair one shows none; one unpriced request makes the cost
/// unknown.
#[test]
fn pairwise_judges_show_their_position_bias() {
    use crate::eval::PairVerdict::{A, B, Tie};
    let pair = |by: &str, first, second, cost: Option<f64>| {
        let mut p = crate::eval::combine_orders("x", "y", first, second, by);
        p.spend = Some(crate::eval::Spend {
            requests: 2,
            input_tokens: 50,
            output_tokens: 8,
            cost_usd: cost,
            tokens_estimated: false,
        });
        p
    };
    let pairs = [
        pair("biased", A, A, Some(0.001)),
        pair("biased", A, A, Some(0.001)),
        pair("fair", A, B, Some(0.002)),
        pair("fair", B, A, None),
        pair("fair", Tie, Tie, Some(0.002)),
    ];
    let manual = Pairwise {
        a: "x".into(),
        b: "y".into(),
        winner: None,
        by: "manual".into(),
        disagreement: false,
        orders: None,
        spend: None,
        error: None,
    };
    // A pair the biased judge could not decide: no verdict, its two requests still spent.
    let mut failed = pair("biased", A, A, Some(0.001));
    (failed.orders, failed.winner, failed.disagreement) = (None, None, false);
    failed.error = Some("judge reply not understood: maybe".into());
    let stats = pair_judges(pairs.iter().chain([&manual, &failed]));
    assert_eq!(stats.len(), 2, "a person's verdicts are not a judge's: {stats:?}");
    let biased = stats.iter().find(|s| s.judge == "biased").unwrap();
    assert_eq!((biased.pairs, biased.first_shown, biased.second_shown, biased.disagreements), (2, 4, 0, 2));
    assert_eq!(biased.first_shown_rate, Some(1.0));
    assert_eq!((biased.failed, biased.requests, biased.cost_usd), (1, 6, Some(0.003)));
    // …and no outcome for the models either.
    let mut s = Session::default();
    s.apply(&start(1, "q", None));
    s.apply(&Entry::Pairwise { round: 1, pair: Pairwise { a: "alpha".into(), b: "beta".into(), ..failed.clone() } });
    let r = build(&s, &opts());
    assert!(r.models.iter().all(|m| m.pairwise == Record::default()), "a failure is not a tie");
    assert_eq!(r.cross.pair_judges[0].failed, 1);
    let fair = stats.iter().find(|s| s.judge == "fair").unwrap();
    assert_eq!((fair.first_shown, fair.second_shown, fair.ties, fair.disagreements), (2, 2, 2, 0));
    assert_eq!(fair.first_shown_rate, Some(0.5));
    assert_eq!(fair.cost_usd, None, "one unpriced request: unknown");
}

/// Two judges on the same answers: the report measures how they agree (alpha on their scores,
/// Fleiss' kappa on their verdicts over the answers both decided); one judge alone, nothing.
#[test]
fn a_judge_panel_reports_agreement_between_its_judges() {
    assert!(report().cross.judge_panel.is_none(), "one judge is no panel");
    let mut s = Session::default();
    let mut units = Vec::new();
    for e in entries() {
        s.apply(&e);
        if let Entry::Eval { round, model, result } = &e
            && result.kind == EvaluatorKind::Judge
        {
            // A second judge one point harsher, passing only at 5.
            let raw = result.raw_score.unwrap();
            let harsh = (raw - 1.0).max(1.0);
            let mut second = result.clone();
            second.name = "judge:k".into();
            second.raw_score = Some(harsh);
            second.score = Some((harsh - 1.0) / 4.0);
            second.passed = Some(harsh >= 5.0);
            s.apply(&Entry::Eval { round: *round, model: model.clone(), result: second });
            units.push(vec![raw, harsh]);
        }
    }
    let r = build(&s, &opts());
    let p = r.cross.judge_panel.as_ref().unwrap();
    assert_eq!(p.judges, ["judge:j", "judge:k"]);
    assert_eq!(p.answers, units.len() as u64);
    close(p.alpha, agreement::krippendorff_alpha_interval(&units).unwrap());
    assert_eq!(p.verdict_answers, units.len() as u64);
    assert!(p.fleiss_kappa.is_some());
    let (head, rows) = judge_panel_rows(&r).unwrap();
    assert_eq!((head.len(), rows[0][0].as_str()), (5, "judge:j, judge:k"));
}

/// A three-judge panel on two models' answers, constructed so the figures are known: `gpt`
/// (openai) gives its own family's answers 5 and the other's 3, `claude` (anthropic) and
/// `gemini` (google) give every answer 4. Absolute: gpt +2, claude 0 (4 vs 4), gemini has no
/// own-family answers. Against the judges not of the answer's family: gpt's openai answers
/// +1 over claude and gemini's 4, its anthropic answers −1 below gemini's 4 → +2; claude's
/// anthropic answers are 4 against gpt's 3 and gemini's 4 (+0.5), its openai answers 4 against
/// gemini's 4 (0) → +0.5. The panel's members are also the raters of the agreement table.
#[test]
fn self_preference_compares_a_judges_own_family_with_the_rest() {
    use crate::eval::JudgeVote;
    let vote = |judge: &str, family: &str, score: f64| JudgeVote {
        judge: judge.into(),
        family: family.into(),
        score: Some(score),
        passed: Some(score >= 4.0),
        reason: None,
        error: None,
    };
    let mut s = Session::default();
    for round in 1..=2u64 {
        s.apply(&start(round, "q", None));
        for (model, family) in [("alpha", "openai"), ("beta", "anthropic"), ("gamma", "google")] {
            let mut r = rr(model, "ok", Some(100.0), Some(500.0), Some(0.001));
            r.family = Some(family.into());
            s.apply(&res(round, r));
            if model == "gamma" {
                continue; // only two models judged
            }
            let own_gpt = if family == "openai" { 5.0 } else { 3.0 };
            let mut panel = ev("panel:gpt+claude+gemini", "judge", true, 0.0);
            panel.votes =
                vec![vote("gpt", "openai", own_gpt), vote("claude", "anthropic", 4.0), vote("gemini", "google", 4.0)];
            s.apply(&eval(round, model, panel));
        }
    }
    let r = build(&s, &opts());
    let sp = &r.cross.self_preference;
    let get = |j: &str| sp.iter().find(|p| p.judge == j).unwrap();
    let gpt = get("gpt");
    assert_eq!((gpt.family.as_str(), gpt.own_answers, gpt.other_answers), ("openai", 2, 2));
    assert_eq!((gpt.own_mean, gpt.other_mean, gpt.difference), (Some(5.0), Some(3.0), Some(2.0)));
    assert_eq!((gpt.relative, gpt.relative_answers), (Some(2.0), 4));
    let claude = get("claude");
    assert_eq!((claude.difference, claude.relative), (Some(0.0), Some(0.5)));
    let gemini = get("gemini");
    assert_eq!((gemini.own_answers, gemini.own_mean, gemini.difference, gemini.relative), (0, None, None, None));
    let (head, rows) = self_preference_rows(&r).unwrap();
    assert_eq!(head[4], "difference");
    assert_eq!(rows[2], ["gpt", "openai", "5.00 (n=2)", "3.00 (n=2)", "+2.00", "+2.00 (n=4)"]);
    // Each member of the panel is a rater of the agreement table.
    let p = r.cross.judge_panel.as_ref().unwrap();
    assert_eq!(
        p.judges,
        ["panel:gpt+claude+gemini/claude", "panel:gpt+claude+gemini/gemini", "panel:gpt+claude+gemini/gpt"]
    );
    assert_eq!(p.answers, 4);
    assert!(report().cross.self_preference.is_empty(), "no families known, no table");
}

/// Judges against people on constructed scores: one judge scoring exactly as the person did
/// (κ = 1, every calibration row on the diagonal), a panel whose member `b` scores a point above
/// the person (capped at 5), and the panel's combined score (the mean of `a` = the person and
/// `b`, halfway between points, rounded up to `b`'s).
#[test]
fn judges_are_compared_with_people_by_weighted_kappa_and_calibration() {
    use crate::eval::JudgeVote;
    let vote = |judge: &str, score: f64| JudgeVote {
        judge: judge.into(),
        family: "openai".into(),
        score: Some(score),
        passed: Some(score >= 4.0),
        reason: None,
        error: None,
    };
    let mut s = Session::default();
    let mut b_pairs = Vec::new();
    for round in 1..=4u64 {
        s.apply(&start(round, "q", None));
        for (i, model) in MODELS.iter().enumerate() {
            let person = ((round as usize + i) % 5 + 1) as u8;
            s.apply(&res(round, rr(model, "ok", Some(100.0), Some(500.0), Some(0.001))));
            s.apply(&score(round, model, person));
            let p = f64::from(person);
            let mut exact = ev("exact", "judge", p >= 4.0, (p - 1.0) / 4.0);
            exact.raw_score = Some(p);
            s.apply(&eval(round, model, exact));
            let b = (p + 1.0).min(5.0);
            let mut panel = ev("panel", "judge", true, 0.0);
            panel.raw_score = Some((p + b) / 2.0);
            panel.votes = vec![vote("a", p), vote("b", b)];
            s.apply(&eval(round, model, panel));
            b_pairs.push((b as u8, person));
        }
    }
    let r = build(&s, &opts());
    let h = &r.cross.human_agreement;
    let names: Vec<&str> = h.iter().map(|x| x.judge.as_str()).collect();
    assert_eq!(names, ["exact", "panel", "panel/a", "panel/b"]);
    let exact = &h[0];
    assert_eq!((exact.answers, exact.weighted_kappa, exact.exact, exact.within_one), (12, Some(1.0), 1.0, 1.0));
    assert_eq!((exact.kappa_lo, exact.kappa_hi), (Some(1.0), Some(1.0)));
    for c in &exact.calibration {
        assert_eq!(c.person_mean, f64::from(c.judge_score), "on the diagonal");
        assert_eq!(c.person_accepts, if c.judge_score >= 4 { 1.0 } else { 0.0 });
    }
    let b = &h[3];
    let want = agreement::weighted_kappa(&b_pairs).unwrap();
    assert_eq!(b.weighted_kappa, round_to(want, 4), "rounded to four places");
    assert!(b.kappa_lo.unwrap() <= b.weighted_kappa.unwrap() && b.weighted_kappa.unwrap() <= b.kappa_hi.unwrap());
    assert_eq!(b.within_one, 1.0);
    assert!(b.exact < 1.0);
    assert_eq!(h[1].weighted_kappa, b.weighted_kappa, "the panel's halfway score rounds up to b's");
    let (head, rows) = human_agreement_rows(&r).unwrap();
    assert_eq!(head[2], "weighted κ [95% CI]");
    assert_eq!(rows[0], ["exact", "12", "1.000 [1.00–1.00]", "100%", "100%"]);
    let (_, cal) = calibration_rows(&r).unwrap();
    assert_eq!(cal[0][..2], ["exact".to_string(), "1".to_string()]);
    assert!(report().cross.human_agreement.iter().all(|x| x.answers > 0));
}
