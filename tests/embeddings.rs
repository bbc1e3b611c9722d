//! The embedder and `similarity` evaluators against the mock over loopback: every embeddings
//! API, batching, the per-run cache, spend, failures that are errors (never a pass), and keys
//! that stay with their origin.

mod common;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::Response;
use bakeoff::config::{KeySource, ModelSpec};
use bakeoff::embedder::Embedder;
use bakeoff::eval::{EvaluatorSpec, Graders, compile_all, evaluate_response};
use bakeoff::metrics::{RequestResult, Status};
use bakeoff::pricing::Price;
use bakeoff::provider::embeddings::cosine;
use bakeoff::provider::{Message, WireFormat};
use common::server;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

const PARIS: &str = "The capital of France is Paris.";
const PARIS_AGAIN: &str = "Paris is the capital of France";
const PLANTS: &str = "Photosynthesis turns light into sugar in plant leaves";

fn embed_spec(base_url: &str, format: WireFormat, model: &str) -> ModelSpec {
    let mut m = ModelSpec::new("emb", format.as_str(), format, model, base_url);
    m.price = Some(Price::per_mtok(0.02, 0.0));
    m
}

fn tokens(texts: &[&str]) -> u64 {
    texts.iter().map(|t| t.chars().count().div_ceil(4).max(1) as u64).sum()
}

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

#[tokio::test]
async fn every_embeddings_api_is_read_with_its_usage_and_price() {
    let srv = server().await;
    for format in [WireFormat::OpenAi, WireFormat::Gemini, WireFormat::Ollama] {
        let e = Embedder::new(embed_spec(&srv.base_url(format), format, "text-embedding-3-small")).unwrap();
        let texts = [PARIS, PARIS_AGAIN, PLANTS];
        let (v, usage) = tokio::time::timeout(std::time::Duration::from_secs(20), e.embed(&texts))
            .await
            .expect("answers in time")
            .unwrap_or_else(|err| panic!("{format:?}: {err}"));
        assert_eq!(v.len(), 3);
        assert_eq!(v[0].len(), bakeoff::mock::embed::DEFAULT_DIMENSIONS);
        assert_eq!(&*v[0], &*bakeoff::mock::embed::vector(PARIS, v[0].len()), "{format:?}: the mock's vector");
        assert!(cosine(&v[0], &v[1]) > 0.9 && cosine(&v[0], &v[2]) < 0.3, "{format:?}");
        assert_eq!(usage.requests, 1);
        if format == WireFormat::Gemini {
            // batchEmbedContents reports no usage: estimated, and said so.
            assert!(usage.tokens_estimated);
            assert!(usage.input_tokens > 0);
        } else {
            assert_eq!((usage.input_tokens, usage.tokens_estimated), (tokens(&texts), false), "{format:?}");
        }
        let want = usage.input_tokens as f64 * 0.02 / 1e6;
        assert!((usage.cost_usd.unwrap() - want).abs() < 1e-15, "{format:?}");
    }
    // Without a price the cost is unknown, never 0.
    let mut spec = embed_spec(&srv.base_url(WireFormat::OpenAi), WireFormat::OpenAi, "m");
    spec.price = None;
    let (_, usage) = Embedder::new(spec).unwrap().embed(&[PARIS]).await.unwrap();
    assert_eq!(usage.cost_usd, None);
    // Anthropic has no embeddings API: refused when the embedder is made.
    let e = Embedder::new(embed_spec("http://127.0.0.1:9", WireFormat::Anthropic, "m")).unwrap_err();
    assert!(e.to_string().contains("no embeddings API"), "{e}");
}

#[tokio::test]
async fn texts_are_batched_and_each_embedded_once_per_run() {
    let srv = server().await;
    let e = Embedder::new(embed_spec(&srv.base_url(WireFormat::OpenAi), WireFormat::OpenAi, "m")).unwrap();
    let many: Vec<String> = (0..200).map(|i| format!("text number {i}")).collect();
    let refs: Vec<&str> = many.iter().map(String::as_str).collect();
    let (v, usage) = e.embed(&refs).await.unwrap();
    assert_eq!(v.len(), 200);
    assert_eq!((usage.requests, srv.stats().requests()), (3, 3), "96 texts a request");
    assert_eq!(usage.input_tokens, tokens(&refs));
    // Known texts cost nothing more: no request, no spend.
    let (again, usage) = e.embed(&[refs[5], refs[150]]).await.unwrap();
    assert_eq!((usage.requests, usage.input_tokens, usage.cost_usd), (0, 0, Some(0.0)));
    assert_eq!(srv.stats().requests(), 3);
    assert_eq!(&*again[0], &*v[5]);
    // Eight evaluations asking for one new text at once: one request, the others wait for it.
    let asks = (0..8).map(|_| {
        let e = e.clone();
        async move { e.embed(&[PARIS, "text number 7"]).await.unwrap().1.requests }
    });
    let requests: u64 = futures_util::future::join_all(asks).await.into_iter().sum();
    assert_eq!((requests, srv.stats().requests()), (1, 4));
}

#[tokio::test]
async fn a_failed_request_is_an_error_and_asked_again_later() {
    let srv = server().await;
    let e =
        Embedder::new(embed_spec(&srv.base_url(WireFormat::Ollama), WireFormat::Ollama, "e;fail_first=1;fault=500"))
            .unwrap();
    let err = e.embed(&[PARIS]).await.unwrap_err();
    assert!(err.starts_with("embedder emb: 500"), "{err}");
    let (v, _) = e.embed(&[PARIS]).await.expect("not cached: the second try succeeds");
    assert_eq!(v.len(), 1);
    // A key the script requires but the environment lacks: the variable is named.
    let mut spec = embed_spec(&srv.base_url(WireFormat::OpenAi), WireFormat::OpenAi, "m");
    spec.key = KeySource { env: Some("BAKEOFF_TEST_NO_SUCH_EMBED_KEY".into()), required: true };
    let err = Embedder::new(spec).unwrap().embed(&[PARIS]).await.unwrap_err();
    assert!(err.contains("BAKEOFF_TEST_NO_SUCH_EMBED_KEY"), "{err}");
}

#[tokio::test]
async fn the_key_stays_with_its_origin_and_out_of_errors() {
    const KEY: &str = "sk-embed-test-Qm3Xr9Lw2Zp7";
    // SAFETY: set once in this test binary, read by the embedder below; no other test reads it.
    unsafe { std::env::set_var("BAKEOFF_TEST_EMBED_KEY", KEY) };
    let keyed = |base: String| {
        let mut s = embed_spec(&base, WireFormat::OpenAi, "m");
        s.key = KeySource { env: Some("BAKEOFF_TEST_EMBED_KEY".into()), required: true };
        s
    };
    // A server that quotes the credential back in its error.
    let echo = serve(Router::new().fallback(|req: Request| async move {
        let auth = req.headers().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        Response::builder()
            .status(StatusCode::UNAUTHORIZED)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(format!(r#"{{"error":{{"message":"bad key {auth}"}}}}"#)))
            .unwrap()
    }))
    .await;
    let err = Embedder::new(keyed(format!("http://{echo}/v1"))).unwrap().embed(&[PARIS]).await.unwrap_err();
    assert!(err.contains("401") && !err.contains(KEY), "{err}");
    // A redirect to another origin is not followed: nothing reaches it.
    let seen: Arc<Mutex<u32>> = Arc::default();
    let count = seen.clone();
    let elsewhere = serve(Router::new().fallback(move || {
        let count = count.clone();
        async move {
            *count.lock().unwrap() += 1;
            "stolen"
        }
    }))
    .await;
    let redirector = serve(Router::new().fallback(move |req: Request| async move {
        Response::builder()
            .status(StatusCode::TEMPORARY_REDIRECT)
            .header(header::LOCATION, format!("http://{elsewhere}{}", req.uri()))
            .body(Body::empty())
            .unwrap()
    }))
    .await;
    let err = Embedder::new(keyed(format!("http://{redirector}/v1"))).unwrap().embed(&[PARIS]).await.unwrap_err();
    assert!(err.contains("307 redirect not followed"), "{err}");
    assert_eq!(*seen.lock().unwrap(), 0);
}

fn similarity_evaluators() -> Vec<bakeoff::eval::Evaluator> {
    let specs: Vec<EvaluatorSpec> = vec![
        toml::from_str(&format!("kind = \"similarity\"\nmin = 0.8\nreferences = [\"{PLANTS}\", \"{PARIS}\"]")).unwrap(),
        toml::from_str("kind = \"similarity\"\nname = \"sim-score\"\nreferences = [\"Paris.\"]").unwrap(),
    ];
    compile_all(&specs, Path::new("."))
}

fn answer(text: &str) -> RequestResult {
    RequestResult { status: Status::Ok, output: text.into(), ..Default::default() }
}

#[tokio::test]
async fn similarity_scores_answers_against_the_nearest_reference() {
    let srv = server().await;
    let evs = similarity_evaluators();
    let graders = Graders {
        judges: Default::default(),
        embedder: Some(Embedder::new(embed_spec(&srv.base_url(WireFormat::OpenAi), WireFormat::OpenAi, "m")).unwrap()),
    };
    let conv = [Message::user("Capital of France?")];
    let tools = Default::default();
    let close = evaluate_response(&evs, &graders, &conv, &tools, &answer(PARIS_AGAIN)).await;
    let want = cosine(&bakeoff::mock::embed::vector(PARIS_AGAIN, 256), &bakeoff::mock::embed::vector(PARIS, 256));
    assert_eq!(close[0].passed, Some(true), "{:?}", close[0]);
    assert!((close[0].raw_score.unwrap() - want).abs() < 1e-6, "the best of two references");
    assert!(close[0].detail.as_deref().unwrap().contains("best of 2 references"), "{:?}", close[0].detail);
    let spend = close[0].spend.as_ref().expect("the embedder's spend is kept");
    assert_eq!(spend.requests, 1);
    assert!(spend.cost_usd.unwrap() > 0.0);
    // Without `min`: a score only, no verdict.
    assert!(close[1].is_score_only(), "{:?}", close[1]);

    let far =
        evaluate_response(&evs, &graders, &conv, &tools, &answer("Bananas are yellow and rich in potassium")).await;
    assert_eq!(far[0].passed, Some(false), "{:?}", far[0]);
    assert!(far[0].score.unwrap() < 0.5);
    // An empty answer scores 0 without a request.
    let before = srv.stats().requests();
    let empty = evaluate_response(&evs, &graders, &conv, &tools, &answer("  ")).await;
    assert_eq!((empty[0].score, empty[0].passed), (Some(0.0), Some(false)));
    assert_eq!(srv.stats().requests(), before);
    // A failed request is not embedded: an error, not a score.
    let mut failed = answer(PARIS);
    failed.status = Status::Error;
    let r = evaluate_response(&evs, &graders, &conv, &tools, &failed).await;
    assert!(r[0].error.as_deref().unwrap().contains("not judged"));
}

#[tokio::test]
async fn without_a_working_embedder_similarity_is_an_error_never_a_pass() {
    let srv = server().await;
    let evs = similarity_evaluators();
    let conv = [Message::user("Capital of France?")];
    let none = Graders::default();
    let r = evaluate_response(&evs, &none, &conv, &Default::default(), &answer(PARIS)).await;
    assert_eq!(r[0].passed, None);
    assert!(r[0].error.as_deref().unwrap().contains("no embedder configured"), "{:?}", r[0]);
    let failing = Graders {
        judges: Default::default(),
        embedder: Some(
            Embedder::new(embed_spec(&srv.base_url(WireFormat::Gemini), WireFormat::Gemini, "down;fault=429")).unwrap(),
        ),
    };
    let r = evaluate_response(&evs, &failing, &conv, &Default::default(), &answer(PARIS)).await;
    assert_eq!((r[0].passed, r[0].score), (None, None));
    assert!(r[0].error.as_deref().unwrap().contains("429"), "{:?}", r[0]);
}
