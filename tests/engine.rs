//! The engine against the mock server over real loopback HTTP, for all four wire formats:
//! timings against scripted delays, usage and cost, and every fault as that model's own error.

mod common;

use bakeoff::metrics::Phase;
use bakeoff::pricing::{Billable, PriceTable};
use bakeoff::provider::{ErrorKind, WireFormat};
use common::{FORMATS, run, server, spec};
use std::time::Duration;

/// Generous bounds: the scripted delay is a floor (the server waits that long after it received
/// the request), and loopback plus a loaded 2-core CI machine add a little on top.
fn assert_near(what: &str, measured: Option<Duration>, scripted_ms: u64) {
    let m = measured.unwrap_or_else(|| panic!("{what}: not measured"));
    let floor = Duration::from_millis(scripted_ms);
    assert!(m >= floor - Duration::from_millis(2), "{what}: {m:?} is below the scripted {floor:?}");
    assert!(m <= floor + Duration::from_millis(100), "{what}: {m:?} is far above the scripted {floor:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttft_and_ttfb_match_scripted_delays_in_every_format() {
    let server = server().await;
    let specs =
        FORMATS.iter().map(|f| spec(&server, *f, f.as_str(), "timed;ttfb=60;ttft=250;tps=100;tokens=20")).collect();
    let results = run(specs, "How long does light take from the Sun to Earth?").await;
    for (f, m) in FORMATS.iter().zip(&results) {
        let name = f.as_str();
        assert!(matches!(m.phase, Phase::Done { .. }), "{name}: {:?}", m.phase);
        assert_near(&format!("{name} TTFB"), m.ttfb(), 60);
        assert_near(&format!("{name} TTFT"), m.ttft(), 250);
        // 19 more tokens at 100/s after the first.
        assert_near(&format!("{name} latency"), m.latency(), 250 + 190);
        assert_eq!(m.output_tokens(), 20, "{name}: usage output tokens");
        assert!(m.tokens_exact(), "{name}: usage should be reported");
        assert!(m.input_tokens() > 0, "{name}: usage input tokens");
        let tps = m.tokens_per_s(m.end.unwrap()).unwrap();
        assert!((70.0..=110.0).contains(&tps), "{name}: decode rate {tps}");
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_is_priced_from_the_table() {
    let server = server().await;
    let table = PriceTable::builtin();
    let price = table.lookup("openai", "gpt-4o-mini").unwrap();
    let mut specs = Vec::new();
    for f in FORMATS {
        let mut s = spec(&server, f, f.as_str(), "priced;ttft=20;tps=1000;tokens=30");
        s.price = Some(price);
        specs.push(s);
    }
    let results = run(specs, "Price me.").await;
    for (f, m) in FORMATS.iter().zip(&results) {
        let u = m.usage.clone().unwrap_or_else(|| panic!("{}: no usage", f.as_str()));
        let want = price.cost(Billable {
            input: u.input_tokens.unwrap(),
            output: u.output_tokens.unwrap(),
            ..Default::default()
        });
        assert_eq!(m.cost(), Some(want), "{}", f.as_str());
        assert!(want > 0.0);
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reasoning_is_timed_apart_from_the_answer() {
    let server = server().await;
    let specs = FORMATS
        .iter()
        .map(|f| spec(&server, *f, f.as_str(), "thinker;ttft=150;tps=100;reasoning=10;tokens=10"))
        .collect();
    let results = run(specs, "Think first.").await;
    for (f, m) in FORMATS.iter().zip(&results) {
        let name = f.as_str();
        assert!(!m.reasoning.is_empty(), "{name}: reasoning text");
        assert_near(&format!("{name} TTFT"), m.ttft(), 150);
        // The answer starts after 10 reasoning tokens at 100/s.
        assert_near(&format!("{name} TTFT answer"), m.ttft_answer(), 150 + 100);
        assert_eq!(m.output_tokens(), 20, "{name}: reasoning counts as output");
    }
    server.shutdown().await;
}

/// One run with a healthy model and every fault; each fault is that model's own clear error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_is_its_own_models_error_and_the_rest_succeed() {
    let server = server().await;
    // (name, script, expected kind, words the message must contain)
    let faults: &[(&str, &str, ErrorKind, &[&str])] = &[
        ("r429", "f;fault=429;retry_after=3", ErrorKind::RateLimited, &["429", "retry after 3"]),
        ("r500", "f;fault=500", ErrorKind::Http, &["500"]),
        ("inband", "f;ttft=10;tps=500;fault=error@3", ErrorKind::Provider, &[]),
        ("cut", "f;ttft=10;tps=500;fault=cut@3", ErrorKind::Cut, &[]),
        ("bad", "f;ttft=10;tps=500;fault=malformed@3", ErrorKind::Malformed, &[]),
        ("proxy", "f;fault=html502", ErrorKind::Http, &["502", "HTML"]),
    ];
    for format in FORMATS {
        let mut specs = vec![spec(&server, format, "healthy", "ok;ttft=30;tps=500;tokens=10")];
        for (name, script, _, _) in faults {
            specs.push(spec(&server, format, name, script));
        }
        let results = run(specs, "Fault me.").await;
        let fmt = format.as_str();
        assert!(matches!(results[0].phase, Phase::Done { .. }), "{fmt}: healthy model: {:?}", results[0].phase);
        assert_eq!(results[0].text.split_whitespace().count(), 10, "{fmt}: healthy text");
        for ((name, _, kind, words), m) in faults.iter().zip(&results[1..]) {
            let Phase::Failed(e) = &m.phase else { panic!("{fmt}/{name}: expected failure, got {:?}", m.phase) };
            assert_eq!(e.kind, *kind, "{fmt}/{name}: {}", e.message);
            for w in *words {
                assert!(e.message.contains(w), "{fmt}/{name}: {:?} lacks {w:?}", e.message);
            }
            assert!(!e.message.is_empty() && !e.message.contains('\n'), "{fmt}/{name}: {:?}", e.message);
        }
        // What arrived before a mid-stream fault is kept.
        for i in [3usize, 4, 5] {
            assert!(!results[i].text.is_empty(), "{fmt}/{}: partial text kept", faults[i - 1].0);
            assert!(results[i].ttft().is_some(), "{fmt}/{}: TTFT kept", faults[i - 1].0);
        }
        assert_eq!(results[1].phase_error().and_then(|e| e.retry_after_s), Some(3.0), "{fmt}: retry-after");
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_missing_keys_and_refused_connections() {
    let server = server().await;
    let f = WireFormat::OpenAi;
    let mut hang = spec(&server, f, "hang", "h;fault=hang");
    hang.timeouts.first_token = Duration::from_millis(300);
    let mut stall = spec(&server, f, "stall", "s;ttft=10;tps=200;tokens=10;fault=stall@3:5000");
    stall.timeouts.idle = Duration::from_millis(300);
    let mut slow_first = spec(&server, f, "slow", "s;ttft=3000;keepalive=50");
    slow_first.timeouts.first_token = Duration::from_millis(300);
    let mut keyless = spec(&server, f, "keyless", "ok");
    keyless.key = bakeoff::config::KeySource { env: Some("BAKEOFF_TEST_NO_SUCH_KEY_VAR".into()), required: true };
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = listener.local_addr().unwrap();
    drop(listener);
    let mut refused = spec(&server, f, "refused", "ok");
    refused.base_url = format!("http://{closed}/v1");
    let healthy = spec(&server, f, "healthy", "ok;ttft=20;tps=500;tokens=5");

    let started = std::time::Instant::now();
    let results = run(vec![hang, stall, slow_first, keyless, refused, healthy], "Time me out.").await;
    assert!(started.elapsed() < Duration::from_secs(3), "timeouts must fire, not wait for the server");
    let kinds: Vec<Option<ErrorKind>> = results.iter().map(|m| m.phase_error().map(|e| e.kind)).collect();
    assert_eq!(
        kinds,
        vec![
            Some(ErrorKind::FirstTokenTimeout),
            Some(ErrorKind::IdleTimeout),
            Some(ErrorKind::FirstTokenTimeout),
            Some(ErrorKind::MissingKey),
            Some(ErrorKind::Connect),
            None
        ]
    );
    assert!(results[3].phase_error().unwrap().message.contains("BAKEOFF_TEST_NO_SUCH_KEY_VAR"));
    assert!(results[1].text.split_whitespace().count() >= 3, "stalled stream keeps its text");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multibyte_text_survives_every_format_and_connections_are_reused() {
    let server = server().await;
    let specs: Vec<_> =
        FORMATS.iter().map(|f| spec(&server, *f, f.as_str(), "mb;ttft=10;tps=1000;tokens=40;text=multibyte")).collect();
    let clients: Vec<_> = specs.into_iter().map(|s| bakeoff::engine::ModelClient::new(s).unwrap()).collect();
    let msgs = [bakeoff::provider::Message::user("Unicode, please.")];
    let first = bakeoff::headless::run_round(&clients, &msgs, 1, Default::default(), |_, _| {}).await;
    let second = bakeoff::headless::run_round(&clients, &msgs, 2, Default::default(), |_, _| {}).await;
    for (i, (a, b)) in first.iter().zip(&second).enumerate() {
        assert!(a.text.chars().any(|c| c.len_utf8() > 1), "{i}: multibyte text");
        assert!(!a.text.contains('\u{fffd}'), "{i}: no replacement characters");
        assert_eq!(a.response.as_ref().unwrap().fresh_connection, Some(true), "{i}: first request connects");
        assert_eq!(b.response.as_ref().unwrap().fresh_connection, Some(false), "{i}: second request reuses");
    }
    server.shutdown().await;
}

/// One request over a load worker's own connection, folded into metrics.
async fn run_direct(
    client: &bakeoff::engine::ModelClient,
    conn: &mut bakeoff::engine::DirectConn,
    prompt: &str,
) -> bakeoff::metrics::RequestMetrics {
    let req = bakeoff::engine::chat_request(client.spec(), vec![bakeoff::provider::Message::user(prompt)]);
    let prepared = client.prepare(&req);
    let mut m = bakeoff::metrics::RequestMetrics::new(client.spec().price, 5);
    let id = bakeoff::event::RequestId { run: 0, slot: 0 };
    client.run_prepared(id, &prepared, Some(conn), Default::default(), |ev| m.apply(&ev)).await;
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workers_own_connection_measures_like_the_pool_in_every_format() {
    let server = server().await;
    for f in FORMATS {
        let name = f.as_str();
        let client =
            bakeoff::engine::ModelClient::new(spec(&server, f, name, "timed;ttfb=60;ttft=250;tps=100;tokens=20"))
                .unwrap();
        let mut conn = client.direct_conn().expect("plain HTTP without a proxy gets its own connection");
        for round in 0..2 {
            let m = run_direct(&client, &mut conn, "How long does light take from the Sun to Earth?").await;
            assert!(matches!(m.phase, Phase::Done { .. }), "{name}: {:?}", m.phase);
            assert_near(&format!("{name} TTFB"), m.ttfb(), 60);
            assert_near(&format!("{name} TTFT"), m.ttft(), 250);
            assert_near(&format!("{name} latency"), m.latency(), 250 + 190);
            assert_eq!(m.output_tokens(), 20, "{name}: usage output tokens");
            assert!(m.tokens_exact(), "{name}");
            // The body's end is read with the last event, so the connection carries the next request.
            assert_eq!(m.response.as_ref().unwrap().fresh_connection, Some(round == 0), "{name} round {round}");
        }
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workers_own_connection_reports_errors_and_reconnects_after_a_cut() {
    let server = server().await;
    let f = WireFormat::OpenAi;
    let client = |script: &str| bakeoff::engine::ModelClient::new(spec(&server, f, "m", script)).unwrap();

    // A cut stream is that request's error; the next request opens a new connection.
    let cut = client("c;ttft=10;tps=500;tokens=10;fault=cut@3");
    let mut conn = cut.direct_conn().unwrap();
    let m = run_direct(&cut, &mut conn, "cut me").await;
    assert_eq!(m.phase_error().map(|e| e.kind), Some(ErrorKind::Cut), "{:?}", m.phase);
    assert!(!m.text.is_empty(), "text before the cut is kept");
    let ok = client("ok;ttft=10;tps=500;tokens=5");
    let mut conn = ok.direct_conn().unwrap();
    for want_fresh in [true, false] {
        let m = run_direct(&ok, &mut conn, "fine").await;
        assert!(matches!(m.phase, Phase::Done { .. }), "{:?}", m.phase);
        assert_eq!(m.response.as_ref().unwrap().fresh_connection, Some(want_fresh));
    }

    // HTTP errors keep status, message and retry-after.
    let limited = client("f;fault=429;retry_after=3");
    let mut conn = limited.direct_conn().unwrap();
    let m = run_direct(&limited, &mut conn, "429").await;
    let e = m.phase_error().expect("429 fails");
    assert_eq!(e.kind, ErrorKind::RateLimited, "{}", e.message);
    assert_eq!(e.retry_after_s, Some(3.0));

    // A server that closes every connection after one response: each request reconnects.
    let one_shot = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = one_shot.local_addr().unwrap();
    let accepts = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = accepts.clone();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut sock, _)) = one_shot.accept().await {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut buf = vec![0u8; 64 * 1024];
            let _ = sock.read(&mut buf).await;
            let body = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";
            let head =
                format!("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: {}\r\n\r\n", body.len());
            let _ = sock.write_all(format!("{head}{body}").as_bytes()).await;
            let _ = sock.shutdown().await;
        }
    });
    let mut s = spec(&server, f, "closer", "ok");
    s.base_url = format!("http://{addr}/v1");
    let closer = bakeoff::engine::ModelClient::new(s).unwrap();
    let mut conn = closer.direct_conn().unwrap();
    for i in 0..3 {
        let m = run_direct(&closer, &mut conn, "again").await;
        assert!(matches!(m.phase, Phase::Done { .. }), "request {i}: {:?}", m.phase);
        assert_eq!(m.text, "hi");
    }
    assert_eq!(accepts.load(std::sync::atomic::Ordering::SeqCst), 3, "one connection per request");

    // Refused: a connect error naming the address.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = listener.local_addr().unwrap();
    drop(listener);
    let mut s = spec(&server, f, "refused", "ok");
    s.base_url = format!("http://{closed}/v1");
    let refused = bakeoff::engine::ModelClient::new(s).unwrap();
    let mut conn = refused.direct_conn().unwrap();
    let m = run_direct(&refused, &mut conn, "anyone?").await;
    let e = m.phase_error().expect("refused fails");
    assert_eq!(e.kind, ErrorKind::Connect);
    assert!(e.message.contains(&closed.to_string()), "{}", e.message);
    server.shutdown().await;
}

/// `cache=1`: a prompt sent again is read from the mock's prompt cache — reported in each
/// format's own usage fields, priced at the cached rate, and answered sooner. Anthropic caches
/// only at `cache_control` breakpoints, which this request has none of.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_prompt_is_read_from_the_prompt_cache_in_every_format() {
    let server = server().await;
    let specs = || {
        FORMATS
            .iter()
            .map(|f| {
                let mut s = spec(&server, *f, f.as_str(), "cached;cache=1;ttft=300;tps=1000;tokens=5");
                s.price = Some(bakeoff::pricing::Price {
                    cached_input: Some(0.1),
                    ..bakeoff::pricing::Price::per_mtok(1.0, 2.0)
                });
                s
            })
            .collect::<Vec<_>>()
    };
    let prompt = "A long, stable instruction block that every request repeats. ".repeat(20);
    let cold = run(specs(), &prompt).await;
    let warm = run(specs(), &prompt).await;
    for ((f, c), w) in FORMATS.iter().zip(&cold).zip(&warm) {
        let name = f.as_str();
        let cached =
            |m: &bakeoff::metrics::RequestMetrics| m.usage.as_ref().and_then(|u| u.cached_input_tokens).unwrap_or(0);
        assert_eq!(cached(c), 0, "{name}: nothing cached the first time");
        assert_eq!(w.input_tokens(), c.input_tokens(), "{name}: the prompt is the same size");
        match f {
            WireFormat::Anthropic | WireFormat::Ollama => assert_eq!(cached(w), 0, "{name}: no cache read"),
            _ => {
                assert_eq!(cached(w), w.input_tokens(), "{name}: the whole prompt read from the cache");
                assert!(w.cost().unwrap() < c.cost().unwrap(), "{name}: cached input is cheaper");
                // Half the scripted 300 ms when the whole prompt is cached.
                assert_near(&format!("{name} warm TTFT"), w.ttft(), 150);
            }
        }
    }
    server.shutdown().await;
}

/// `cache = true` on an Anthropic model marks breakpoints: the first request writes the prompt to
/// the cache, the next reads it, each in Anthropic's own usage fields.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_cache_breakpoints_write_then_read() {
    let server = server().await;
    let prompt = "A long, stable instruction block that every request repeats. ".repeat(20);
    let model = || {
        let mut s = spec(&server, WireFormat::Anthropic, "claude", "claude;cache=1;ttft=100;tps=1000;tokens=5");
        s.prompt_cache = true;
        vec![s]
    };
    let first = run(model(), &prompt).await.remove(0);
    let second = run(model(), &prompt).await.remove(0);
    let usage = |m: &bakeoff::metrics::RequestMetrics| m.usage.clone().expect("usage");
    let (u1, u2) = (usage(&first), usage(&second));
    assert_eq!(u1.cached_input_tokens.unwrap_or(0), 0);
    assert!(u1.cache_write_tokens.unwrap_or(0) > 0, "{u1:?}");
    assert_eq!(u2.cached_input_tokens, u1.input_tokens, "the whole prompt read back: {u2:?}");
    assert_eq!(u2.input_tokens, u1.input_tokens, "input tokens count the whole prompt either way");
    server.shutdown().await;
}
