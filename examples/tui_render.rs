//! Measures TUI frame render time: 8 streaming panes holding ~1 MB of text each, drawn on
//! ratatui's `TestBackend` (no terminal I/O, so this is the cost of our view code alone).
//!
//! Run: `cargo run --release --example tui_render` (optional args: COLUMNS ROWS MB_PER_PANE).
//!
//! Prints the median and worst frame time for (a) steady frames while streaming (each pane gets a
//! new delta between frames, clocks tick), (b) the first frame after a resize (every pane
//! re-wraps its whole text), (c) scrolling a pane through its text, and (d) frames with the
//! summary view (`v`) open over a case-set session of 50 and of 500 rounds × 8 models while a
//! new round streams (its figures are the report's: intervals, bootstraps, Bradley–Terry).

use bakeoff::config::ModelSpec;
use bakeoff::eval::{EvalResult, EvaluatorKind};
use bakeoff::event::{EventKind, RequestId, ResponseInfo, StreamEvent};
use bakeoff::metrics::{RequestResult, Status};
use bakeoff::pricing::Price;
use bakeoff::provider::Message;
use bakeoff::provider::WireFormat;
use bakeoff::session::{Entry, RoundStart};
use bakeoff::tui::app::{App, Effect, Msg, summary_report};
use bakeoff::tui::{theme, view};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::time::{Duration, Instant as StdInstant};
use tokio::time::Instant;

fn spec(i: usize) -> ModelSpec {
    let mut m =
        ModelSpec::new(&format!("model-{i}"), "openai", WireFormat::OpenAi, &format!("m{i}"), "http://127.0.0.1:9/v1");
    m.price = Some(Price::per_mtok(1.0, 2.0));
    m
}

fn stats(mut v: Vec<Duration>) -> String {
    v.sort();
    let med = v[v.len() / 2];
    let max = v[v.len() - 1];
    format!("median {:>8.3} ms   worst {:>8.3} ms   ({} frames)", ms(med), ms(max), v.len())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// An app whose session holds `rounds` finished case rounds of every model (as a resumed case
/// run would), with the summary open and a new round streaming.
fn summary_app(rounds: u64, cols: u16, rows: u16) -> App {
    let panes = 8;
    let (themes, _) = theme::load_all(None);
    let mut app = App::new((0..panes).map(spec).collect(), false, None, themes, 0);
    app.update(Msg::Resize(cols, rows));
    let models: Vec<String> = (0..panes).map(|i| format!("model-{i}")).collect();
    for round in 1..=rounds {
        app.session.apply(&Entry::Round(RoundStart {
            round,
            started_at: "2026-12-06T00:00:00Z".into(),
            messages: vec![Message::user("q")],
            models: models.clone(),
            case_id: Some(format!("case-{}", round % 100)),
            category: Some(format!("cat-{}", round % 5)),
            repeat: Some((round / 100) as u32 + 1),
            blind: None,
            theme: None,
            turn: None,
            context: Default::default(),
            follow_ups: Vec::new(),
        }));
        for (i, m) in models.iter().enumerate() {
            let x = ((round * 7 + i as u64 * 13) % 97) as f64;
            let result = RequestResult {
                model: m.clone(),
                provider: "openai".into(),
                status: Status::Ok,
                ttft_ms: Some(100.0 + 10.0 * i as f64 + x),
                latency_ms: Some(900.0 + 50.0 * i as f64 + 3.0 * x),
                input_tokens: 20,
                output_tokens: 200,
                cost_usd: Some(1e-4 * (i + 1) as f64),
                output: "An answer of a few words.".repeat(8),
                ..Default::default()
            };
            app.session.apply(&Entry::Result { round, result: Box::new(result) });
            let passed = !(round + i as u64).is_multiple_of(3);
            app.session.apply(&Entry::Eval {
                round,
                model: m.clone(),
                result: EvalResult {
                    name: "expected".into(),
                    kind: EvaluatorKind::Contains,
                    score: Some(if passed { 1.0 } else { 0.0 }),
                    raw_score: None,
                    passed: Some(passed),
                    error: None,
                    detail: None,
                    counts: None,
                    spend: None,
                    votes: Vec::new(),
                },
            });
        }
    }
    app.round = rounds;
    for c in "next".chars() {
        app.update(Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)));
    }
    app.update(Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)));
    app.update(Msg::Key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE)));
    // Opening the summary asks for its report; the driver builds it off the UI thread.
    for fx in app.update(Msg::Key(KeyEvent::new(KeyCode::Char('v'), KeyModifiers::NONE))) {
        if let Effect::BuildSummary { key, session } = fx {
            let t = StdInstant::now();
            let report = Box::new(summary_report(&session, key.accept_score));
            eprintln!("summary report of {rounds} rounds built in {:.1} ms (off the UI thread)", ms(t.elapsed()));
            app.update(Msg::SummaryBuilt { key, report });
        }
    }
    assert!(app.summary && app.summary_report().is_some(), "the summary opened");
    app
}

/// Frames with the summary open while the new round's panes stream (nothing is recorded).
fn summary_frames(rounds: u64, cols: u16, rows: u16) -> Vec<Duration> {
    let mut app = summary_app(rounds, cols, rows);
    let mut term = Terminal::new(TestBackend::new(cols, rows)).expect("test backend");
    let t0 = Instant::now();
    let mut frames = Vec::new();
    for i in 0..30u64 {
        let now = t0 + Duration::from_millis(33 * i);
        for slot in 0..8 {
            let id = RequestId { run: app.round, slot };
            app.update(Msg::Stream(
                StreamEvent { id, at: now, kind: EventKind::Text(format!("t{i} ")) },
                Default::default(),
            ));
        }
        let t = StdInstant::now();
        term.draw(|f| view::draw(f, &app, now)).expect("draw");
        frames.push(t.elapsed());
    }
    frames
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cols: u16 = args.first().and_then(|a| a.parse().ok()).unwrap_or(160);
    let rows: u16 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(48);
    let mb: f64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(1.0);
    let panes = 8;
    let (themes, _) = theme::load_all(None);
    let mut app = App::new((0..panes).map(spec).collect(), false, None, themes, 0);
    app.update(Msg::Resize(cols, rows));
    for c in "benchmark".chars() {
        app.update(Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)));
    }
    app.update(Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)));

    // ~1 MB per pane in 2 KB deltas (a fast model's burst), 10 ms apart.
    let para = "The quick brown fox jumps over the lazy dog; pack my box with five dozen liquor jugs. ";
    let delta: String = para.repeat(2048 / para.len() + 1);
    let n_deltas = ((mb * 1_048_576.0) / delta.len() as f64).ceil() as u64;
    let t0 = Instant::now();
    let setup = StdInstant::now();
    for slot in 0..panes {
        let id = RequestId { run: app.round, slot };
        let send = |app: &mut App, at: Duration, kind| {
            app.update(Msg::Stream(StreamEvent { id, at: t0 + at, kind }, Default::default()))
        };
        send(&mut app, Duration::ZERO, EventKind::Sent);
        send(
            &mut app,
            Duration::from_millis(50),
            EventKind::Headers(ResponseInfo { status: 200, ..Default::default() }),
        );
        for k in 0..n_deltas {
            send(&mut app, Duration::from_millis(100 + 10 * k), EventKind::Text(delta.clone()));
        }
    }
    let bytes: usize = app.panes.iter().map(|p| p.text.len()).sum();
    eprintln!(
        "setup: {panes} panes, {:.1} MB of text in total, {:.1}s to fold the events",
        bytes as f64 / 1_048_576.0,
        setup.elapsed().as_secs_f64()
    );

    let mut term = Terminal::new(TestBackend::new(cols, rows)).expect("test backend");
    let mut now = t0 + Duration::from_millis(100 + 10 * n_deltas);
    // First frame: wraps every pane's whole text once.
    let t = StdInstant::now();
    term.draw(|f| view::draw(f, &app, now)).expect("draw");
    let first = t.elapsed();

    // (a) streaming: one small delta per pane between frames, clock advancing.
    let mut steady = Vec::new();
    for i in 0..300u64 {
        now += Duration::from_millis(33);
        for slot in 0..panes {
            let id = RequestId { run: app.round, slot };
            app.update(Msg::Stream(
                StreamEvent { id, at: now, kind: EventKind::Text(format!("tok{i} ")) },
                Default::default(),
            ));
        }
        let t = StdInstant::now();
        term.draw(|f| view::draw(f, &app, now)).expect("draw");
        steady.push(t.elapsed());
    }

    // (b) resize: every pane re-wraps everything.
    let mut resize = Vec::new();
    for i in 0..10u16 {
        let (w, h) = (cols - 10 * (i % 2), rows);
        app.update(Msg::Resize(w, h));
        term.backend_mut().resize(w, h);
        let t = StdInstant::now();
        term.draw(|f| view::draw(f, &app, now)).expect("draw");
        resize.push(t.elapsed());
    }
    app.update(Msg::Resize(cols, rows));
    term.backend_mut().resize(cols, rows);
    term.draw(|f| view::draw(f, &app, now)).expect("draw");

    // (c) scrolling the focused pane from the top down, a page at a time.
    app.update(Msg::Key(KeyEvent::new(KeyCode::Char('g'), KeyModifiers::NONE)));
    let mut scroll = Vec::new();
    for _ in 0..300 {
        app.update(Msg::Key(KeyEvent::new(KeyCode::PageDown, KeyModifiers::NONE)));
        let t = StdInstant::now();
        term.draw(|f| view::draw(f, &app, now)).expect("draw");
        scroll.push(t.elapsed());
    }

    println!("tui_render: {panes} panes × {mb} MB at {cols}×{rows} (TestBackend)");
    println!("  first frame (wrap all)  {:>8.3} ms", ms(first));
    println!("  streaming frames        {}", stats(steady));
    println!("  resize frames (re-wrap) {}", stats(resize));
    println!("  scrolling frames        {}", stats(scroll));
    for rounds in [50, 500] {
        println!("  summary open, {rounds:>3} rounds {}", stats(summary_frames(rounds, cols, rows)));
    }
    println!("  frame budget at 30 fps   33.333 ms");
}
