//! Batch runs against the mock server over loopback: concurrency limits counted at the server,
//! retries honouring Retry-After, resume without redoing finished items, Ctrl-C partial reports.

mod common;

use bakeoff::batch::{Batch, BatchOptions, Progress, RetryPolicy};
use bakeoff::cases::Case;
use bakeoff::engine::ModelClient;
use bakeoff::provider::{Message, WireFormat};
use bakeoff::session::Environment;
use bakeoff::session::open_journal;
use common::{server, spec};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

fn cases(n: usize) -> Vec<Case> {
    (0..n)
        .map(|i| Case {
            id: format!("c{i}"),
            category: Some(if i % 2 == 0 { "even" } else { "odd" }.into()),
            tags: vec![],
            messages: vec![Message::user(format!("Question number {i}?"))],
            expected: Some("mock".into()),
            evaluators: vec![],
            origin: format!("test:{i}"),
            tools: None,
            expected_tool: None,
            ..Default::default()
        })
        .collect()
}

fn batch(clients: Vec<ModelClient>, concurrency: usize, per_provider: Option<usize>, repeat: u32) -> Batch {
    Batch {
        clients: clients.into_iter().map(Arc::new).collect(),
        graders: Arc::new(Default::default()),
        evaluators: vec![],
        cases_dir: ".".into(),
        options: BatchOptions {
            repeat,
            concurrency,
            per_provider,
            retry: RetryPolicy { base: Duration::from_millis(50), ..Default::default() },
            system: None,
        },
    }
}

fn env() -> Environment {
    Environment::here("batch", 3, "test")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_more_than_k_in_flight_and_every_item_runs() {
    let server = server().await;
    let clients = ["a", "b", "c"]
        .iter()
        .map(|n| ModelClient::new(spec(&server, WireFormat::OpenAi, n, "k;ttft=60;tps=400;tokens=8")).unwrap())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let (journal, prior) = open_journal(None, &dir.path().join("j.jsonl"), env()).unwrap();
    let done = Arc::new(AtomicU64::new(0));
    let d = done.clone();
    let b = batch(clients, 3, None, 2);
    let out = b
        .run(&cases(6), journal, &prior, CancellationToken::new(), move |p| {
            if let Progress::Done { .. } = p {
                d.fetch_add(1, Ordering::SeqCst);
            }
        })
        .await
        .unwrap();
    assert_eq!(done.load(Ordering::SeqCst), 6 * 2 * 3);
    assert_eq!(server.stats().requests(), 36);
    assert_eq!(server.stats().max_in_flight(), 3, "the limit was reached but never exceeded");
    assert_eq!(out.session.rounds.len(), 12);
    assert!(out.session.rounds.iter().all(|r| r.is_complete()));
    // The `expected` answer became a contains evaluator; the canned mock answer says "mock".
    let r = &out.session.rounds[0];
    assert_eq!(r.evals["a"][0].name, "expected");
    assert!(!out.interrupted);
    assert_eq!(out.failed, 0);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_provider_limit_applies_across_models_of_one_provider() {
    let server = server().await;
    let clients = ["a", "b"]
        .iter()
        .map(|n| ModelClient::new(spec(&server, WireFormat::OpenAi, n, "p;ttft=80;tps=400;tokens=4")).unwrap())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let (journal, prior) = open_journal(None, &dir.path().join("j.jsonl"), env()).unwrap();
    // Both models share the provider "openai": at most one request at a time between them.
    batch(clients, 8, Some(1), 1).run(&cases(4), journal, &prior, CancellationToken::new(), |_| {}).await.unwrap();
    assert_eq!(server.stats().requests(), 8);
    assert_eq!(server.stats().max_in_flight(), 1);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_honour_retry_after_and_are_journaled() {
    let server = server().await;
    // The first two requests get 429 with Retry-After: 1; the third succeeds.
    let client = ModelClient::new(spec(
        &server,
        WireFormat::Anthropic,
        "flaky",
        "r;fault=429;retry_after=1;fail_first=2;ttft=10;tps=500;tokens=5",
    ))
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (journal, prior) = open_journal(None, &dir.path().join("j.jsonl"), env()).unwrap();
    let waits = Arc::new(Mutex::new(Vec::new()));
    let w = waits.clone();
    let started = Instant::now();
    let out = batch(vec![client], 1, None, 1)
        .run(&cases(1), journal, &prior, CancellationToken::new(), move |p| {
            if let Progress::Retry { wait, .. } = p {
                w.lock().unwrap().push(wait);
            }
        })
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_secs(2), "waited as the server asked");
    assert_eq!(*waits.lock().unwrap(), vec![Duration::from_secs(1), Duration::from_secs(1)]);
    let round = &out.session.rounds[0];
    assert_eq!(round.results["flaky"].status, bakeoff::metrics::Status::Ok);
    assert_eq!(round.retries["flaky"].len(), 2, "every attempt is recorded");
    assert!(round.retries["flaky"].iter().all(|r| r.http_status == Some(429)));
    assert_eq!(server.stats().requests(), 3);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_runs_resume_without_redoing_finished_items() {
    let server = server().await;
    let mk = |server: &bakeoff::mock::MockServer| -> Vec<ModelClient> {
        ["a", "b"]
            .iter()
            .map(|n| ModelClient::new(spec(server, WireFormat::Gemini, n, "s;ttft=150;tps=400;tokens=4")).unwrap())
            .collect()
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.jsonl");
    let (journal, prior) = open_journal(None, &path, env()).unwrap();
    let cancel = CancellationToken::new();
    let c = cancel.clone();
    let finished = Arc::new(AtomicU64::new(0));
    let f = finished.clone();
    // Stop after four items have finished.
    let first = batch(mk(&server), 2, None, 1)
        .run(&cases(8), journal, &prior, cancel, move |p| {
            if let Progress::Done { .. } = p
                && f.fetch_add(1, Ordering::SeqCst) + 1 == 4
            {
                c.cancel();
            }
        })
        .await
        .unwrap();
    assert!(first.interrupted);
    let done_first = first.session.rounds.iter().map(|r| r.results.len() as u64).sum::<u64>();
    assert!((4..16).contains(&done_first), "{done_first}");
    let requests_first = server.stats().requests();

    let (journal, prior) = open_journal(Some(&path), &path, env()).unwrap();
    let skipped = Arc::new(AtomicU64::new(u64::MAX));
    let s = skipped.clone();
    let second = batch(mk(&server), 2, None, 1)
        .run(&cases(8), journal, &prior, CancellationToken::new(), move |p| {
            if let Progress::Start { skipped, .. } = p {
                s.store(skipped, Ordering::SeqCst);
            }
        })
        .await
        .unwrap();
    assert_eq!(skipped.load(Ordering::SeqCst), done_first);
    assert_eq!(server.stats().requests() - requests_first, 16 - done_first, "only unfinished items ran");
    assert_eq!(second.session.rounds.len(), 8, "resumed items land in their original rounds");
    assert!(second.session.rounds.iter().all(|r| r.is_complete()));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_turn_case_goes_on_from_each_models_own_answers() {
    let server = server().await;
    let clients = [
        (WireFormat::OpenAi, "chat", "t;ttft=5;tps=900;tokens=6"),
        (WireFormat::Anthropic, "claude", "u;ttft=5;tps=900;tokens=6"),
        (WireFormat::Gemini, "mute", "m;ttft=5;tokens=0"),
    ]
    .iter()
    .map(|(f, n, script)| ModelClient::new(spec(&server, *f, n, script)).unwrap())
    .collect();
    let case = Case {
        id: "recall".into(),
        messages: vec![Message::user("My name is Priya.")],
        turns: vec!["Say it back.".into(), "Once more, in capitals.".into()],
        ..Default::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.jsonl");
    let (journal, prior) = open_journal(None, &path, env()).unwrap();
    let out = batch(clients, 3, None, 1).run(&[case], journal, &prior, CancellationToken::new(), |_| {}).await.unwrap();
    // Three turns for the two that answered; the one with an empty answer stopped after its first.
    assert_eq!(server.stats().requests(), 7);
    let round = &out.session.rounds[0];
    assert_eq!(round.start.follow_ups.len(), 2);
    for m in ["chat", "claude"] {
        let fin = &round.results[m];
        assert_eq!(fin.turn, Some(3), "{m}");
        assert!(!fin.intermediate);
        assert!(
            fin.output.starts_with("(Turn 3 of our conversation; you first said “My name is Priya.”.)"),
            "{m}: {}",
            fin.output
        );
        let earlier: Vec<Option<u32>> = round.turns[m].iter().map(|t| t.turn).collect();
        assert_eq!(earlier, [Some(1), Some(2)], "{m}");
        assert!(round.turns[m].iter().all(|t| t.intermediate && t.status.is_ok()));
        assert!(!round.retries.contains_key(m), "earlier turns are not retries");
    }
    let mute = &round.results["mute"];
    assert_eq!(mute.turn, Some(1));
    assert!(mute.warning.as_deref().unwrap().contains("stopped at turn 1 of 3: its answer was empty"), "{mute:?}");
    // The journal on disk reads back the same way, and the report counts every turn's request.
    let reread = bakeoff::session::read(&path).unwrap();
    assert_eq!(reread.rounds[0].turns, round.turns);
    let report = bakeoff::report::build(&reread, &Default::default());
    let chat = report.models.iter().find(|m| m.model == "chat").unwrap();
    assert_eq!((chat.requests, chat.retries, chat.responses), (3, 0, 1));
    let md = bakeoff::report::to_markdown(&report);
    assert!(
        md.contains("**user, turn 3**") && md.contains("Turn 1 answer") && md.contains("Turn 3 answer (the case's)")
    );
    server.shutdown().await;
}

/// Pairwise judging runs in batch runs as in the TUI: once every model answered a round, each
/// pair is judged in both orders and journaled (the report counts them); a judge whose reply
/// does not read is reported as a warning, never dropped or turned into a verdict.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pairwise_judges_compare_every_pair_of_a_rounds_answers() {
    let server = server().await;
    let clients = ["a", "b", "c"]
        .iter()
        .map(|n| ModelClient::new(spec(&server, WireFormat::OpenAi, n, "k;ttft=20;tps=800;tokens=6")).unwrap())
        .collect();
    let pct = |s: &str| -> String {
        s.bytes()
            .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
            .collect()
    };
    let judge = |name: &str, reply: &str| {
        let script = format!("judge;ttft=5;tps=2000;reply={}", pct(reply));
        (name.to_string(), ModelClient::new(spec(&server, WireFormat::OpenAi, name, &script)).unwrap())
    };
    let mut b = batch(clients, 3, None, 1);
    b.graders = Arc::new(bakeoff::eval::Graders {
        judges: HashMap::from([
            judge("fair", r#"{"winner":"tie","reason":"equally good"}"#),
            judge("broken", "I like the first one"),
        ]),
        embedder: None,
    });
    b.evaluators = vec![
        toml::from_str("kind = \"judge\"\nname = \"pair\"\nmodel = \"fair\"\nrubric = \"Better?\"\npairwise = true")
            .unwrap(),
        toml::from_str("kind = \"judge\"\nname = \"bad\"\nmodel = \"broken\"\nrubric = \"Better?\"\npairwise = true")
            .unwrap(),
    ];
    let dir = tempfile::tempdir().unwrap();
    let (journal, prior) = open_journal(None, &dir.path().join("j.jsonl"), env()).unwrap();
    let warnings = Arc::new(Mutex::new(Vec::new()));
    let w = warnings.clone();
    let out = b
        .run(&cases(2), journal, &prior, CancellationToken::new(), move |p| {
            if let Progress::Warning(text) = p {
                w.lock().unwrap().push(text);
            }
        })
        .await
        .unwrap();
    for round in &out.session.rounds {
        let pairs: Vec<_> = round.pairwise.iter().filter(|p| p.by == "pair").collect();
        assert_eq!(pairs.len(), 3, "a–b, a–c, b–c: {:?}", round.pairwise);
        assert!(pairs.iter().all(|p| p.winner.is_none() && !p.disagreement), "{pairs:?}");
        // An unreadable reply is no verdict: a record with the error, its requests counted.
        let bad: Vec<_> = round.pairwise.iter().filter(|p| p.by == "bad").collect();
        assert_eq!(bad.len(), 3);
        assert!(bad.iter().all(|p| p.winner.is_none() && p.error.is_some() && p.orders.is_none()), "{bad:?}");
    }
    let warnings = warnings.lock().unwrap();
    assert_eq!(warnings.len(), 2 * 3, "one per pair per case: {warnings:?}");
    assert!(warnings[0].contains("pairwise judging") && warnings[0].contains("not understood"), "{warnings:?}");
    let report = bakeoff::report::build(&out.session, &Default::default());
    let a = report.models.iter().find(|m| m.model == "a").unwrap();
    assert_eq!((a.pairwise.wins, a.pairwise.ties, a.pairwise.losses), (0, 4, 0), "two rivals × two cases");
    // The judges' statistics: 6 pairs, both orders a tie, no position preference to measure; the
    // broken judge decided none, and its 12 requests are still counted.
    let stats = &report.cross.pair_judges;
    assert_eq!(stats.len(), 2, "{stats:?}");
    let s = stats.iter().find(|s| s.judge == "pair").unwrap();
    assert_eq!((s.pairs, s.ties, s.first_shown_rate, s.disagreements, s.failed), (6, 12, None, 0, 0));
    assert_eq!(s.requests, 12, "two requests per pair");
    let bad = stats.iter().find(|s| s.judge == "bad").unwrap();
    assert_eq!((bad.pairs, bad.failed, bad.requests), (0, 6, 12));
    // The whole run's evaluation spend: both judges' 24 requests, failed ones too.
    assert_eq!(report.cross.eval_spend.as_ref().map(|s| s.requests), Some(24));
}
