//! Batch statistics: bootstrap, sign test, repeats folding, categories, comparisons and routing,
//! on a hand-built batch session (6 cases × 3 repeats × 3 models) and hand-built figures.

use super::inference::{cluster_bootstrap, mean, paired_bootstrap, ratio_bootstrap};
use super::*;
use crate::metrics::Status;
use crate::session::{Entry, RoundStart};

const MODELS: [&str; 3] = ["alpha", "beta", "gamma"];
/// (case id, category).
const CASES: [(&str, Option<&str>); 6] = [
    ("q1", Some("factual")),
    ("q2", Some("factual")),
    ("c1", Some("coding")),
    ("c2", Some("coding")),
    ("x1", None),
    ("x2", None),
];

/// Whether `model`'s answer to case `c` on repeat `r` passes.
fn passes(model: &str, c: usize, r: usize) -> bool {
    match model {
        "alpha" => !(c == 3 && r == 2),
        "beta" => match c {
            0 => r != 1,
            2 => false,
            3 => r == 2,
            _ => true,
        },
        _ => c == 4,
    }
}

fn result(model: &str, c: usize, r: usize) -> RequestResult {
    let (ttft, latency, cost) = match model {
        "alpha" => (100.0, 1000.0, Some(0.001)),
        "beta" => (300.0, 800.0, Some(0.0005)),
        _ => (200.0, 1500.0, (c != 5).then_some(0.0002)),
    };
    let case = CASES[c].0;
    let output = match model {
        // Whitespace differences are not different answers.
        "alpha" => format!("{}answer {case}{}", " ".repeat(r), "\n".repeat(r)),
        "beta" => format!("answer {case} v{}", r % 2),
        _ => "wrong".to_string(),
    };
    RequestResult {
        model: model.into(),
        provider: "openai".into(),
        status: Status::Ok,
        ttft_ms: Some(ttft + 10.0 * c as f64 + r as f64),
        latency_ms: Some(latency + 50.0 * c as f64 + 10.0 * r as f64),
        input_tokens: 100,
        output_tokens: 20,
        tokens_per_s: Some(50.0),
        cost_usd: cost,
        finish_reason: Some("stop".into()),
        content_chunks: 5,
        output,
        ..Default::default()
    }
}

fn batch_entries() -> Vec<Entry> {
    let mut out = vec![Entry::Session {
        version: 1,
        started_at: "2026-11-23T09:00:00Z".into(),
        environment: Environment {
            bakeoff_version: "0.1.0".into(),
            os: "linux-x86_64".into(),
            concurrency: 4,
            connection_reuse: true,
            prices_as_of: "2026-04-30".into(),
            mode: "batch".into(),
            plan: None,
        },
    }];
    let mut round = 0;
    for (c, (id, category)) in CASES.iter().enumerate() {
        for r in 0..3 {
            round += 1;
            out.push(Entry::Round(RoundStart {
                round,
                started_at: format!("2026-11-23T09:{round:02}:00Z"),
                messages: vec![Message::user(format!("case {id}"))],
                models: MODELS.iter().map(|m| m.to_string()).collect(),
                case_id: Some(id.to_string()),
                category: category.map(String::from),
                repeat: Some(r as u32),
                blind: None,
                theme: None,
                turn: None,
                context: Default::default(),
                follow_ups: Vec::new(),
            }));
            for m in MODELS {
                if m == "beta" && c == 2 && r == 0 {
                    // A rate-limited attempt before the final one: its cost counts.
                    let mut failed = result(m, c, r);
                    failed.status = Status::Error;
                    failed.error = Some("429".into());
                    failed.cost_usd = Some(0.0001);
                    failed.output = String::new();
                    out.push(Entry::Result { round, result: Box::new(failed) });
                }
                out.push(Entry::Result { round, result: Box::new(result(m, c, r)) });
                let pass = passes(m, c, r);
                out.push(Entry::Eval {
                    round,
                    model: m.into(),
                    result: EvalResult {
                        name: "contains".into(),
                        kind: crate::eval::EvaluatorKind::Contains,
                        score: Some(if pass { 1.0 } else { 0.0 }),
                        raw_score: None,
                        passed: Some(pass),
                        error: None,
                        detail: None,
                        counts: None,
                        spend: None,
                        votes: Vec::new(),
                    },
                });
            }
        }
    }
    out
}

fn batch_report() -> Report {
    let mut s = Session::default();
    for e in batch_entries() {
        s.apply(&e);
    }
    let opts = ReportOptions { generated_at: Some("2026-11-23T10:00:00Z".into()), ..ReportOptions::default() };
    let mut r = build(&s, &opts);
    r.bakeoff_version = "test".into();
    r
}

fn close(a: f64, b: f64, tol: f64) {
    assert!((a - b).abs() <= tol, "{a} != {b}");
}

#[test]
fn bootstrap_is_stable_for_a_seed_and_contains_the_estimate() {
    let clusters: Vec<Vec<f64>> = vec![vec![0.2], vec![0.4], vec![0.5], vec![0.9], vec![1.0]];
    let a = cluster_bootstrap(&clusters, mean, 2000, 42, 4).unwrap();
    // Pinned: the same seed and data give this interval, to the digit.
    assert_eq!(a, Interval { estimate: 0.6, lo: 0.34, hi: 0.86, n: 5 });
    assert_eq!(cluster_bootstrap(&clusters, mean, 2000, 42, 4), Some(a));
    assert!(a.contains(a.estimate));
    // Another seed draws other resamples; on five values the interval may coincide, but it must
    // still hold the estimate.
    let b = cluster_bootstrap(&clusters, mean, 2000, 7, 4).unwrap();
    assert!(b.contains(0.6) && b.lo < 0.6 && b.hi > 0.6, "{b:?}");
    // Too few cases: no interval.
    assert_eq!(cluster_bootstrap(&[vec![1.0, 2.0]], mean, 2000, 42, 4), None);
    assert_eq!(cluster_bootstrap(&clusters, mean, 0, 42, 4), None);
}

#[test]
fn bootstrap_narrows_with_more_cases() {
    // Same spread of values, 10 versus 200 cases.
    let data = |n: usize| (0..n).map(|i| vec![(i % 10) as f64 / 10.0]).collect::<Vec<_>>();
    let small = cluster_bootstrap(&data(10), mean, 2000, 1, 4).unwrap();
    let large = cluster_bootstrap(&data(200), mean, 2000, 1, 4).unwrap();
    assert_eq!((small.estimate, large.estimate), (0.45, 0.45));
    let width = |i: Interval| i.hi - i.lo;
    assert!(width(large) * 3.0 < width(small), "{small:?} vs {large:?}");
}

#[test]
fn cluster_bootstrap_keeps_repeats_together() {
    // 10 cases, 5 repeats each; every repeat of a case gives the same answer quality. Resampling the
    // 50 responses as if independent would understate the uncertainty by about √5.
    let clusters: Vec<Vec<f64>> = (0..10).map(|i| vec![if i < 6 { 1.0 } else { 0.0 }; 5]).collect();
    let flat: Vec<Vec<f64>> = clusters.iter().flatten().map(|v| vec![*v]).collect();
    let by_case = cluster_bootstrap(&clusters, mean, 2000, 3, 4).unwrap();
    let by_response = cluster_bootstrap(&flat, mean, 2000, 3, 4).unwrap();
    assert_eq!((by_case.estimate, by_case.n, by_response.n), (0.6, 10, 50));
    let width = |i: Interval| i.hi - i.lo;
    assert!(width(by_case) > 1.8 * width(by_response), "{by_case:?} vs {by_response:?}");
    // Every resample is a mix of whole cases, so the bounds are multiples of 1/10.
    for v in [by_case.lo, by_case.hi] {
        close((v * 10.0).round(), v * 10.0, 1e-9);
    }
}

#[test]
fn ratio_bootstrap_is_unbounded_without_acceptable_responses() {
    let pairs = [(0.002, 2.0), (0.001, 1.0), (0.003, 2.0)];
    let ci = ratio_bootstrap(&pairs, 500, 9, 9).unwrap();
    close(ci.estimate, 0.0012, 1e-12);
    assert!(ci.contains(ci.estimate));
    // Half the cases have nothing acceptable: a quarter of the resamples are unbounded, so the
    // upper end is infinite and there is no interval.
    assert_eq!(ratio_bootstrap(&[(0.001, 0.0), (0.001, 1.0)], 500, 9, 9), None);
    // One such case in twenty: rarely drawn alone, the interval stays finite.
    let mut pairs = vec![(0.001, 1.0); 19];
    pairs.push((0.001, 0.0));
    let ci = ratio_bootstrap(&pairs, 2000, 9, 9).unwrap();
    close(ci.estimate, 0.02 / 19.0, 1e-9);
    assert!(ci.hi.is_finite() && ci.lo >= 0.001, "{ci:?}");
}

#[test]
fn sign_test_matches_hand_computed_binomials() {
    // 9 of 10 positive: 2·(C(10,0) + C(10,1)) ÷ 2¹⁰ = 22 ÷ 1024.
    let d: Vec<f64> = (0..10).map(|i| if i == 0 { -1.0 } else { 0.5 }).collect();
    let s = sign_test(&d);
    assert_eq!((s.positive, s.negative, s.ties), (9, 1, 0));
    close(s.p, 22.0 / 1024.0, 1e-6);
    // 5 of 5: 2 ÷ 32.
    close(sign_test(&[1.0; 5]).p, 0.0625, 1e-12);
    // 2 of 8 negative: 2·(1 + 8 + 28) ÷ 256.
    let d = [1.0, 1.0, 1.0, -1.0, 1.0, 1.0, -2.0, 3.0];
    close(sign_test(&d).p, 74.0 / 256.0, 1e-6);
    // Ties are dropped: 1 vs 2 of 3 ⇒ p capped at 1.
    let s = sign_test(&[1.0, 1.0, 0.0, 0.0, -1.0]);
    assert_eq!((s.ties, s.p), (2, 1.0));
    assert_eq!(sign_test(&[0.0, 0.0]).p, 1.0);
    assert_eq!(sign_test(&[]).p, 1.0);
    // Large n stays finite: 40 of 100 ⇒ p ≈ 0.0569.
    let d: Vec<f64> = (0..100).map(|i| if i < 40 { 1.0 } else { -1.0 }).collect();
    close(sign_test(&d).p, 0.056888, 1e-5);
}

#[test]
fn paired_bootstrap_tells_a_clear_difference_from_noise() {
    let clear: Vec<f64> = (0..20).map(|i| 0.3 + (i % 5) as f64 * 0.02 - 0.04).collect();
    let ci = paired_bootstrap(&clear, 2000, 5, 4).unwrap();
    assert!(ci.lo > 0.0, "{ci:?}");
    assert!(sign_test(&clear).p < 0.05);
    let noise: Vec<f64> =
        (0..20).map(|i| if i % 2 == 0 { 0.1 + i as f64 * 0.01 } else { -0.12 - i as f64 * 0.01 }).collect();
    let ci = paired_bootstrap(&noise, 2000, 5, 4).unwrap();
    assert!(ci.contains(0.0), "{ci:?}");
    assert!(sign_test(&noise).p > 0.5);
}

fn repeats<'a>(b: &'a BatchStats, case: &str, model: &str) -> &'a CaseRepeats {
    b.repeats.iter().find(|c| c.case_id == case && c.model == model).unwrap()
}

#[test]
fn repeats_fold_into_pass_at_n_pass_all_n_and_distinct_answers() {
    let r = batch_report();
    let b = r.batch.as_ref().unwrap();
    assert_eq!((b.cases, b.max_repeats), (6, 3));
    assert_eq!(b.repeats.len(), 18);
    let q1 = repeats(b, "q1", "beta");
    assert_eq!((q1.repeats, q1.acceptable, q1.acceptability_known), (3, 2, 3));
    assert_eq!((q1.pass_at_n, q1.pass_all_n, q1.distinct_answers), (Some(true), Some(false), 2));
    assert_eq!(q1.quality_mean, Some(0.6667));
    let a = repeats(b, "q1", "alpha");
    assert_eq!((a.pass_at_n, a.pass_all_n, a.distinct_answers), (Some(true), Some(true), 1));
    let g = repeats(b, "c1", "gamma");
    assert_eq!((g.pass_at_n, g.pass_all_n, g.distinct_answers), (Some(false), Some(false), 1));
    assert_eq!(repeats(b, "x1", "alpha").category, UNCATEGORISED);

    let m = |name: &str| b.models.iter().find(|m| m.model == name).unwrap();
    // alpha: all six cases pass@3, five pass^3 (c2 failed once).
    assert_eq!((m("alpha").pass_at_n, m("alpha").pass_all_n), (Some(1.0), Some(0.8333)));
    assert_eq!(m("alpha").flaky, ["c2"]);
    // beta: pass@3 everywhere but c1; pass^3 on q2, x1, x2.
    assert_eq!((m("beta").pass_at_n, m("beta").pass_all_n), (Some(0.8333), Some(0.5)));
    assert_eq!((m("beta").flaky_cases, m("beta").flaky.clone()), (2, vec!["q1".to_string(), "c2".into()]));
    assert_eq!((m("gamma").pass_at_n, m("gamma").pass_all_n, m("gamma").flaky_cases), (Some(0.1667), Some(0.1667), 0));
}

#[test]
fn undecided_repeats_stay_unknown_and_one_repeat_is_pass_at_1() {
    let mut s = Session::default();
    for e in
        batch_entries().into_iter().filter(|e| !matches!(e, Entry::Eval { round: 2, model, .. } if model == "alpha"))
    {
        s.apply(&e);
    }
    let r = build(&s, &ReportOptions::default());
    let a = repeats(r.batch.as_ref().unwrap(), "q1", "alpha");
    // Repeat 1 has no evaluator and no score: unknown, so pass^3 is undecided, pass@3 still true.
    assert_eq!((a.acceptability_known, a.pass_at_n, a.pass_all_n), (2, Some(true), None));

    // Only the first repeat of each case: pass@1 = pass^1 = acceptability.
    let mut s = Session::default();
    for e in batch_entries() {
        s.apply(&e);
    }
    s.rounds.retain(|r| r.start.repeat == Some(0));
    let r = build(&s, &ReportOptions::default());
    let b = r.batch.unwrap();
    assert_eq!(b.max_repeats, 1);
    assert!(b.models.iter().all(|m| m.pass_at_n == m.pass_all_n && m.flaky_cases == 0));
}

#[test]
fn interactive_sessions_count_each_round_as_a_case() {
    let mut s = Session::default();
    for e in batch_entries() {
        s.apply(&e);
    }
    for r in &mut s.rounds {
        r.start.case_id = None;
    }
    let r = build(&s, &ReportOptions { generated_at: Some(String::new()), ..Default::default() });
    let b = r.batch.as_ref().expect("a session has statistics too");
    assert_eq!(b.cases, s.rounds.len() as u64, "one case per round");
    assert!(b.repeats.iter().all(|c| c.case_id.starts_with("round-") && c.repeats == 1));
    assert!(b.routing_overall.is_some());
    // The session's report opens with a verdict like a case set's.
    assert!(to_markdown(&r).contains("## Verdict"));
    assert!(super::to_html(&r).contains("<ul class=\"verdict\">"));
    // No rounds, no statistics.
    let empty = build(&Session::default(), &ReportOptions::default());
    assert!(empty.batch.is_none());
    assert!(routing_table(&empty).contains("no batch statistics"));
}

#[test]
fn categories_and_costs_including_retries() {
    let r = batch_report();
    let b = r.batch.as_ref().unwrap();
    let names: Vec<&str> = b.categories.iter().map(|c| c.category.as_str()).collect();
    assert_eq!(names, ["coding", "factual", UNCATEGORISED]);
    let coding = &b.categories[0];
    assert_eq!(coding.cases, 2);
    let beta = coding.models.iter().find(|g| g.model == "beta").unwrap();
    // 6 × $0.0005 + the retried attempt's $0.0001, one acceptable response.
    assert_eq!((beta.responses, beta.acceptable, beta.acceptability_known), (6, 1, 6));
    close(beta.cost_usd.unwrap(), 0.0031, 1e-12);
    close(beta.cost_per_acceptable_usd.unwrap(), 0.0031, 1e-12);
    let alpha = coding.models.iter().find(|g| g.model == "alpha").unwrap();
    assert_eq!(alpha.acceptance_rate, Some(0.8333));
    close(alpha.cost_per_acceptable_usd.unwrap(), 0.0012, 1e-12);
    // alpha's TTFT in coding: 120..=122 and 130..=132.
    assert_eq!((alpha.ttft_p50_ms, alpha.ttft_p95_ms), (Some(122.0), Some(132.0)));
    assert_eq!(alpha.latency_p50_ms, Some(1120.0));
    let ci = alpha.ci.acceptance_rate.unwrap();
    assert_eq!((ci.n, ci.estimate), (2, 0.8333));
    assert!(ci.contains(ci.estimate));
    // gamma's price is unknown in x2: its uncategorised cost is only a lower bound.
    let unc = &b.categories[2];
    let gamma = unc.models.iter().find(|g| g.model == "gamma").unwrap();
    assert_eq!((gamma.cost_usd, gamma.cost_complete), (None, false));
    close(gamma.cost_known_usd, 0.0006, 1e-12);
    assert_eq!(gamma.ci.cost_per_acceptable_usd, None);
    // Overall figures agree with the per-model ones.
    for (bm, ms) in b.models.iter().zip(&r.models) {
        assert_eq!(bm.overall.quality_mean, ms.quality_mean);
        assert_eq!(bm.overall.acceptance_rate, ms.acceptance_rate);
        assert_eq!(bm.overall.cost_usd, ms.cost_usd);
        assert_eq!(bm.overall.ci.quality_mean.map(|c| c.estimate), ms.quality_mean);
        assert_eq!(bm.overall.ci.quality_mean.map(|c| c.n), Some(6));
    }
}

#[test]
fn comparisons_and_ties_with_the_best() {
    let r = batch_report();
    let b = r.batch.as_ref().unwrap();
    let cmp = |metric: &str, a: &str, bb: &str| {
        b.comparisons.iter().find(|c| c.metric == metric && c.a == a && c.b == bb).unwrap()
    };
    // alpha beats gamma on quality in all six cases: interval above 0, p = 2 ÷ 64.
    let c = cmp("quality", "alpha", "gamma");
    assert_eq!((c.n, c.sign_test.positive, c.sign_test.ties), (6, 5, 1));
    // x1: both always pass ⇒ a tie, dropped: 5 of 5 ⇒ p = 0.0625, not significant.
    close(c.sign_test.p, 0.0625, 1e-12);
    assert!(!c.significant && c.better.is_none(), "{c:?}");
    // Latency: beta (800 ms) is faster than alpha (1000 ms) in every case.
    let c = cmp("latency_p50", "alpha", "beta");
    assert_eq!(c.mean_diff, Some(200.0));
    assert!(c.significant, "{c:?}");
    assert_eq!(c.better.as_deref(), Some("beta"));
    close(c.sign_test.p, 2.0 / 64.0, 1e-6);
    // TTFT: alpha is faster than gamma by 100 ms everywhere.
    assert_eq!(cmp("ttft_p50", "alpha", "gamma").better.as_deref(), Some("alpha"));
    // The summary's best quality (alpha) is not significantly better than beta or gamma: both ≈.
    assert_eq!(r.cross.best["quality_mean"], ["alpha"]);
    assert_eq!(b.tied_with_best["quality_mean"], ["beta", "gamma"]);
    // Latency: beta is best and significantly faster than both: nobody tied.
    assert_eq!(r.cross.best["latency_p50_ms"], ["beta"]);
    assert!(!b.tied_with_best.contains_key("latency_p50_ms"));
    let table = to_table(&r);
    assert!(table.contains("≈ not significantly different from the best"), "{table}");
}

#[test]
fn routing_on_the_batch() {
    let r = batch_report();
    let b = r.batch.as_ref().unwrap();
    let route = |cat: &str| b.routing.iter().find(|r| r.category == cat).unwrap();
    let coding = route("coding");
    assert_eq!(coding.choice.as_ref().map(|c| c.model.as_str()), Some("alpha"));
    assert!(coding.fallback.is_none());
    let factual = route("factual");
    // beta: 5/6 acceptable at $0.0006 each beats alpha at $0.001.
    assert_eq!(factual.choice.as_ref().map(|c| c.model.as_str()), Some("beta"));
    assert_eq!(factual.fallback.as_ref().map(|c| c.model.as_str()), Some("alpha"));
    let text = routing_table(&r);
    assert!(text.starts_with("routing: per category the cheapest model per acceptable response with acceptance ≥ 80%"));
    assert!(text.contains("seed 12209679"), "{text}");
}

fn g(model: &str, acc: f64, cost: Option<f64>, p95: f64, cost_ci: Option<(f64, f64)>) -> GroupStats {
    GroupStats {
        model: model.into(),
        cases: 10,
        responses: 30,
        acceptable: (acc * 30.0).round() as u64,
        acceptability_known: 30,
        acceptance_rate: Some(acc),
        quality_mean: Some(acc),
        ttft_p50_ms: Some(p95 / 2.0),
        ttft_p95_ms: Some(p95),
        latency_p50_ms: Some(1000.0),
        cost_usd: cost.map(|c| c * 30.0),
        cost_known_usd: 0.0,
        cost_complete: cost.is_some(),
        cost_per_acceptable_usd: cost,
        ci: GroupIntervals {
            acceptance_rate: Some(Interval { estimate: acc, lo: acc - 0.1, hi: (acc + 0.1).min(1.0), n: 10 }),
            cost_per_acceptable_usd: cost_ci.zip(cost).map(|((lo, hi), e)| Interval { estimate: e, lo, hi, n: 10 }),
            ..GroupIntervals::default()
        },
    }
}

fn category() -> CategoryStats {
    CategoryStats {
        category: "mixed".into(),
        cases: 10,
        models: vec![
            g("a", 0.9, Some(0.002), 500.0, Some((0.0015, 0.0025))),
            g("b", 0.95, Some(0.001), 2000.0, Some((0.0008, 0.0021))),
            g("c", 0.7, Some(0.0005), 300.0, Some((0.0004, 0.0007))),
            g("d", 0.85, Some(0.003), 400.0, Some((0.0028, 0.0035))),
            g("e", 0.99, None, 300.0, None),
        ],
    }
}

fn picks(r: &Route) -> (Option<&str>, Option<&str>) {
    (r.choice.as_ref().map(|c| c.model.as_str()), r.fallback.as_ref().map(|c| c.model.as_str()))
}

#[test]
fn routing_picks_the_cheapest_acceptable_within_bounds() {
    let cat = category();
    // c is cheapest but under 80% acceptance; b is the cheapest that qualifies, a next.
    let r = batch_stats::route(&cat, RoutingBounds::default());
    assert_eq!(picks(&r), (Some("b"), Some("a")));
    // Their cost intervals overlap: the fallback is tied, and the notes say so.
    assert!(r.fallback_tied);
    assert!(r.notes.iter().any(|n| n.starts_with("b ≈ a")), "{:?}", r.notes);
    let choice = r.choice.as_ref().unwrap();
    assert_eq!((choice.acceptance_rate, choice.ttft_p95_ms, choice.cost_unknown), (Some(0.95), Some(2000.0), false));
    // b's acceptance interval reaches 0.85 ≥ 0.8: confidently above the bound.
    assert_eq!(choice.acceptance_lo_meets_bound, Some(true));

    // A TTFT p95 bound of 1 s rules b out: a, then d; their intervals do not overlap.
    let r = batch_stats::route(&cat, RoutingBounds { min_acceptance: 0.8, max_p95_ttft_ms: Some(1000.0) });
    assert_eq!(picks(&r), (Some("a"), Some("d")));
    assert!(!r.fallback_tied && r.notes.is_empty(), "{:?}", r.notes);
    // With a 0.85 bound a still qualifies on its 0.9, but its interval's lower end (0.8) does not: noted.
    let r = batch_stats::route(&cat, RoutingBounds { min_acceptance: 0.85, max_p95_ttft_ms: Some(1000.0) });
    assert_eq!(picks(&r), (Some("a"), Some("d")));
    assert!(r.notes.iter().any(|n| n.contains("interval reaches below")), "{:?}", r.notes);

    // Unknown cost is never cheapest: e ranks after every known cost…
    let r = batch_stats::route(&cat, RoutingBounds { min_acceptance: 0.95, max_p95_ttft_ms: None });
    assert_eq!(picks(&r), (Some("b"), Some("e")));
    assert!(!r.fallback_tied);
    // …and is chosen only when nothing with a known cost qualifies, flagged.
    let r = batch_stats::route(&cat, RoutingBounds { min_acceptance: 0.98, max_p95_ttft_ms: None });
    assert_eq!(picks(&r), (Some("e"), None));
    assert!(r.choice.as_ref().unwrap().cost_unknown);
    assert!(r.notes[0].contains("chosen only because no model with a known cost"), "{:?}", r.notes);

    // Nothing qualifies: no choice, the closest is named.
    let r = batch_stats::route(&cat, RoutingBounds { min_acceptance: 0.9, max_p95_ttft_ms: Some(100.0) });
    assert_eq!(picks(&r), (None, None));
    // Shortfalls: a 4, b 19, c 2.2, d 3.05, e 2 ⇒ e.
    assert_eq!(r.closest.as_ref().map(|c| c.model.as_str()), Some("e"));
    assert!(r.notes[0].starts_with("no model meets the bounds; closest: e (acceptance 99%, TTFT p95 300ms)"));
}

#[test]
fn golden_batch_json() {
    let r = batch_report();
    insta::assert_snapshot!("batch_json", serde_json::to_string_pretty(&r.batch).unwrap());
}

#[test]
fn golden_batch_markdown() {
    insta::assert_snapshot!("batch_markdown", to_markdown(&batch_report()));
}

#[test]
fn golden_batch_table() {
    let r = batch_report();
    insta::assert_snapshot!("batch_table", to_table(&r) + "\n" + &routing_table(&r));
}

#[test]
fn batch_report_round_trips_through_json_and_old_reports_still_load() {
    let r = batch_report();
    let back: Report = serde_json::from_str(&to_json(&r)).unwrap();
    assert_eq!(back, r);
    // A report written before batch statistics existed has no `batch` field.
    let mut v: serde_json::Value = serde_json::from_str(&to_json(&r)).unwrap();
    v.as_object_mut().unwrap().remove("batch");
    let old: Report = serde_json::from_value(v).unwrap();
    assert!(old.batch.is_none());
}

#[test]
fn the_verdict_warns_when_nothing_passed() {
    // The same batch with every evaluator failing.
    let mut s = Session::default();
    for e in batch_entries() {
        let e = match e {
            Entry::Eval { round, model, mut result } => {
                result.passed = Some(false);
                result.score = Some(0.0);
                Entry::Eval { round, model, result }
            }
            e => e,
        };
        s.apply(&e);
    }
    let r = build(&s, &ReportOptions { generated_at: Some(String::new()), ..Default::default() });
    let lines = super::table::verdict(r.batch.as_ref().unwrap());
    assert_eq!(lines[0].scope, "nothing passed");
    assert!(lines.iter().all(|l| l.warn), "no recommendation anywhere");
    let md = to_markdown(&r);
    assert!(md.contains("## Verdict\n\n- ⚠ **nothing passed**"), "{md}");
    assert!(!md.contains("**0% (0/"), "a best of zero is not highlighted");
}

#[test]
fn html_charts_bracket_each_p50_with_its_interval() {
    let r = batch_report();
    let html = super::to_html(&r);
    assert!(html.contains("<title>TTFT p50 and p95, ms (bracket: 95% CI of p50)</title>"), "{html}");
    // One bracket per model with an interval on each of the TTFT and latency charts.
    let with_ci = r.batch.as_ref().unwrap().models.iter().filter(|m| m.overall.ci.ttft_p50_ms.is_some()).count();
    assert!(with_ci >= 2);
    assert!(html.matches("stroke-width=\"2\"").count() >= 2 * with_ci);
    // The interval is written next to the bar, as the figures say: alpha's TTFT p50 122 ms [102–142].
    assert!(html.contains("122ms [102ms–142ms] · p95 152ms"), "{html}");
}
