//! Measures TUI frame render time: 8 streaming panes holding ~1 MB of text each, drawn on
//! ratatui's `TestBackend` (no terminal I/O, so this is the cost of our view code alone).
//!
//! Run: `cargo run --release --example tui_render` (optional args: COLUMNS ROWS MB_PER_PANE).
//!
//! Prints the median and worst frame time for (a) steady frames while streaming (each pane gets a
//! new delta between frames, clocks tick), (b) the first frame after a resize (every pane
//! re-wraps its whole text), and (c) scrolling a pane through its text.

use bakeoff::config::ModelSpec;
use bakeoff::event::{EventKind, RequestId, ResponseInfo, StreamEvent};
use bakeoff::pricing::Price;
use bakeoff::provider::WireFormat;
use bakeoff::tui::app::{App, Msg};
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
    println!("  frame budget at 30 fps   33.333 ms");
}
