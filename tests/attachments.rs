//! Images and files end to end over loopback, in all five formats: each format's own parts sent
//! (the mock checks them as the real API would: base64 of a type it takes), image tokens in the
//! usage, the answer about what was shown; what a format cannot take fails as that model's own
//! error, before anything is sent.

mod common;

use bakeoff::engine::ModelClient;
use bakeoff::headless::run_round;
use bakeoff::metrics::{Phase, RequestMetrics};
use bakeoff::provider::attach::Attachment;
use bakeoff::provider::{ErrorKind, Message, WireFormat};
use common::{FORMATS, server, spec};
use std::path::Path;
use tokio_util::sync::CancellationToken;

fn media(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-cases/media").join(name)
}

async fn ask(message: Message) -> Vec<(WireFormat, RequestMetrics)> {
    let server = server().await;
    let clients: Vec<ModelClient> = FORMATS
        .iter()
        .map(|f| ModelClient::new(spec(&server, *f, f.as_str(), "eyes;ttft=20;tps=500;tokens=12")).unwrap())
        .collect();
    let out = run_round(&clients, &[message], 1, CancellationToken::new(), |_, _| {}).await;
    server.shutdown().await;
    FORMATS.into_iter().zip(out).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_goes_in_every_formats_own_part_and_is_counted() {
    let image = Attachment::from_file(&media("red-square.png"), true).unwrap();
    let with_image = ask(Message { attachments: vec![image], ..Message::user("What colour is the square?") }).await;
    let text_only = ask(Message::user("What colour is the square?")).await;
    for ((f, m), (_, plain)) in with_image.iter().zip(&text_only) {
        let name = f.as_str();
        assert!(matches!(m.phase, Phase::Done { .. }), "{name}: {:?}", m.phase);
        let r = m.result(name, name);
        assert!(r.output.starts_with("The image shows a red square"), "{name}: {}", r.output);
        // The image's tokens are in the provider's usage, not estimated.
        let p = plain.result(name, name);
        assert!(!r.tokens_estimated, "{name}");
        assert!(r.input_tokens >= p.input_tokens + 85, "{name}: {} vs {}", r.input_tokens, p.input_tokens);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pdf_is_read_where_the_format_takes_one_and_refused_by_ollama() {
    let pdf = Attachment::from_file(&media("invoice.pdf"), false).unwrap();
    let out = ask(Message { attachments: vec![pdf], ..Message::user("What is the total?") }).await;
    for (f, m) in &out {
        let r = m.result(f.as_str(), f.as_str());
        if *f == WireFormat::Ollama {
            assert_eq!(r.error_kind, Some(ErrorKind::Unsupported), "{r:?}");
            assert!(r.error.as_deref().unwrap().contains("images only, not invoice.pdf"), "{:?}", r.error);
            assert_eq!(r.ttfb_ms, None, "never sent");
            continue;
        }
        assert!(r.output.contains("42.50 EUR"), "{}: {}", f.as_str(), r.output);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_url_is_passed_on_except_where_only_data_goes() {
    let url = Attachment::from_url("https://example.com/cat.png", true).unwrap();
    let out = ask(Message { attachments: vec![url], ..Message::user("What is this?") }).await;
    for (f, m) in &out {
        let r = m.result(f.as_str(), f.as_str());
        match f {
            WireFormat::Ollama => assert_eq!(r.error_kind, Some(ErrorKind::Unsupported), "{r:?}"),
            _ => assert!(r.output.starts_with("The image shows an image from a URL"), "{}: {}", f.as_str(), r.output),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follow_up_is_answered_as_the_conversations_turn() {
    let server = server().await;
    let clients: Vec<ModelClient> = FORMATS
        .iter()
        .map(|f| ModelClient::new(spec(&server, *f, f.as_str(), "talk;ttft=10;tps=500;tokens=6")).unwrap())
        .collect();
    let conversation = [Message::user("Name a prime."), Message::assistant("Two."), Message::user("And the next?")];
    let out = run_round(&clients, &conversation, 1, CancellationToken::new(), |_, _| {}).await;
    server.shutdown().await;
    for (f, m) in FORMATS.iter().zip(out) {
        let r = m.result(f.as_str(), f.as_str());
        assert!(
            r.output.starts_with("(Turn 2 of our conversation; you first said “Name a prime.”.)"),
            "{}: {}",
            f.as_str(),
            r.output
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taught_answer_is_known_in_proportion_to_quality() {
    let server = server().await;
    let prompts: Vec<String> = (0..40).map(|i| format!("Question number {i}?")).collect();
    for p in &prompts {
        server.teach(p, "KNOWN-ANSWER");
    }
    let mut knew = Vec::new();
    for quality in [1, 5] {
        let client = ModelClient::new(spec(
            &server,
            WireFormat::OpenAi,
            "m",
            &format!("q{quality};ttft=1;tps=2000;tokens=4;quality={quality}"),
        ))
        .unwrap();
        let mut n = 0;
        for p in &prompts {
            let out = run_round(
                std::slice::from_ref(&client),
                &[Message::user(p.clone())],
                1,
                CancellationToken::new(),
                |_, _| {},
            )
            .await;
            n += usize::from(out[0].result("m", "m").output.starts_with("KNOWN-ANSWER"));
        }
        knew.push(n);
    }
    server.shutdown().await;
    assert_eq!(knew[1], 40, "quality 5 knows every taught answer");
    assert!((2..=16).contains(&knew[0]), "quality 1 knows about one in five: {}", knew[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taught_answer_keeps_within_the_cases_length_limit() {
    let server = server().await;
    server.teach_within("Capital of Australia?", "Canberra", Some(40));
    server.teach_within("Spell it out.", "A known answer longer than its limit", Some(10));
    let client =
        ModelClient::new(spec(&server, WireFormat::OpenAi, "m", "q5;ttft=1;tps=2000;tokens=60;quality=5")).unwrap();
    let mut outputs = Vec::new();
    for p in ["Capital of Australia?", "Spell it out."] {
        let out =
            run_round(std::slice::from_ref(&client), &[Message::user(p)], 1, CancellationToken::new(), |_, _| {}).await;
        outputs.push(out[0].result("m", "m").output.clone());
    }
    server.shutdown().await;
    assert!(outputs[0].starts_with("Canberra") && outputs[0].chars().count() <= 40, "{:?}", outputs[0]);
    assert!(outputs[0].len() > "Canberra".len(), "prose fills the room left: {:?}", outputs[0]);
    assert_eq!(outputs[1], "A known answer longer than its limit", "the known part is never cut");
}
