//! The event loop on tokio's paused clock, drawing on ratatui's `TestBackend`: frames are
//! coalesced, idle costs nothing, queued keys are not starved by streams, quitting is bounded.

use super::*;
use crate::tui::driver::{self, Ctx, FRAME, Inputs, Outcome, QUIT_GRACE};
use std::cell::RefCell;
use std::path::PathBuf;
use tokio::sync::mpsc::{self, UnboundedSender};

/// The loop's far ends: what tests send in, and the screens it drew (one string per frame).
struct Harness {
    events: UnboundedSender<(StreamEvent, Counted)>,
    msgs: UnboundedSender<Msg>,
    stops: UnboundedSender<crate::signals::Stop>,
}

/// A context with no clients (a round's requests fail at once) and no journal.
fn harness(models: usize) -> (Ctx, Inputs, Harness) {
    let (tx_events, rx_events) = mpsc::unbounded_channel();
    let (tx_msgs, rx_msgs) = mpsc::unbounded_channel();
    let (tx_stops, rx_stops) = mpsc::unbounded_channel();
    // Requests' raw events pass straight through (no token counter in these tests).
    let (tx_raw, mut rx_raw) = mpsc::unbounded_channel::<StreamEvent>();
    let forward = tx_events.clone();
    tokio::spawn(async move {
        while let Some(ev) = rx_raw.recv().await {
            let _ = forward.send((ev, Counted::default()));
        }
    });
    let ctx = Ctx::new(
        (0..models).map(|_| Err("no client in this test".to_string())).collect::<Vec<_>>().into(),
        Default::default(),
        (Vec::new(), PathBuf::from(".")),
        (Vec::new(), PathBuf::from(".")),
        None,
        (std::env::temp_dir(), "driver-test".into()),
        tx_msgs.clone(),
        tx_raw,
        Default::default(),
    );
    (
        ctx,
        Inputs { events: rx_events, msgs: rx_msgs, stops: rx_stops },
        Harness { events: tx_events, msgs: tx_msgs, stops: tx_stops },
    )
}

/// Runs the loop with `script` beside it; returns the outcome and every frame's screen.
async fn run(a: &mut App, ctx: &mut Ctx, inputs: Inputs, script: impl Future<Output = ()>) -> (Outcome, Vec<String>) {
    let (w, h) = a.size;
    let term = RefCell::new(Terminal::new(TestBackend::new(w, h)).expect("test backend"));
    let frames = RefCell::new(Vec::new());
    let draw = |app: &App, now: Instant| {
        let mut t = term.borrow_mut();
        t.draw(|f| view::draw(f, app, now)).expect("the test backend draws");
        let buf = t.backend().buffer().clone();
        let text = (0..h).map(|y| (0..w).map(|x| buf[(x, y)].symbol()).collect::<String>() + "\n").collect();
        frames.borrow_mut().push(text);
        Ok(())
    };
    let (out, ()) = tokio::join!(driver::drive(a, ctx, inputs, draw), script);
    (out.expect("the loop ends cleanly"), frames.into_inner())
}

fn text_event(round: u64, slot: usize, text: &str) -> (StreamEvent, Counted) {
    let id = RequestId { run: round, slot };
    (StreamEvent { id, at: Instant::now(), kind: EventKind::Text(text.into()) }, Counted::default())
}

#[test]
fn the_frame_clock_draws_once_per_frame_and_sleeps_when_idle() {
    let t0 = Instant::now();
    let mut c = driver::FrameClock::default();
    assert!(c.should_draw(t0, true), "the first frame at once");
    assert!(!c.should_draw(t0, false), "nothing new, nothing drawn");
    assert_eq!(c.next_wake(t0, false, false), None, "idle: no wakeups");
    c.drew(t0);
    assert!(!c.should_draw(t0 + FRAME / 2, true), "at most one draw per frame");
    assert!(c.should_draw(t0 + FRAME, true));
    assert_eq!(c.next_wake(t0 + ms(5), true, false), Some(t0 + FRAME), "a pending change draws at the next frame");
    assert_eq!(c.next_wake(t0 + ms(5), false, true), Some(t0 + FRAME), "a live clock ticks once per frame");
    assert_eq!(c.next_wake(t0 + ms(5), false, false), None);
}

#[tokio::test(start_paused = true)]
async fn fifty_stream_events_cost_one_frame() {
    let mut a = app(2, 100, 30);
    type_str(&mut a, "hello");
    a.update(key(KeyCode::Enter)); // the round's panes wait for events (nothing sent them)
    let (mut ctx, inputs, h) = harness(2);
    let t0 = Instant::now();
    let round = a.round;
    let script = async {
        // Everything queued at once, as a burst from the network tasks.
        for i in 0..50 {
            h.events.send(text_event(round, i % 2, &format!("w{i} "))).unwrap();
        }
        tokio::time::sleep(FRAME * 3).await;
        for slot in 0..2 {
            let id = RequestId { run: round, slot };
            let end = StreamEvent { id, at: Instant::now(), kind: EventKind::Finished { reason: Some("stop".into()) } };
            h.events.send((end, Counted::default())).unwrap();
        }
        tokio::time::sleep(FRAME * 2).await;
        h.stops.send(crate::signals::Stop::Interrupt).unwrap();
    };
    let (out, frames) = run(&mut a, &mut ctx, inputs, script).await;
    assert!(frames.len() >= 2, "{frames:?}");
    assert!(!frames[0].contains("w0"), "the first frame is drawn before the burst is read");
    assert!(frames[1].contains("w48") && frames[1].contains("w49"), "one frame shows the whole burst:\n{}", frames[1]);
    // Frames: the first, the burst, live-clock ticks while both panes stream (one per 33 ms over
    // 99 ms), the end, and nothing after — far from one per event.
    assert!(out.frames <= 7, "{} frames for 50 events", out.frames);
    assert_eq!(out.stop, Some(crate::signals::Stop::Interrupt));
    assert!(Instant::now() - t0 < FRAME * 8, "nothing was live at the stop: no grace wait");
}

#[tokio::test(start_paused = true)]
async fn idle_draws_nothing_and_never_wakes() {
    let mut a = app(2, 100, 30);
    let (mut ctx, inputs, h) = harness(2);
    let script = async {
        tokio::time::sleep(Duration::from_secs(60)).await;
        h.stops.send(crate::signals::Stop::Terminate).unwrap();
    };
    let (out, frames) = run(&mut a, &mut ctx, inputs, script).await;
    assert_eq!(frames.len(), 1, "one first frame, then nothing for a minute");
    assert_eq!(out.wakeups, 1, "the only wakeup is the signal");
    assert_eq!(out.stop, Some(crate::signals::Stop::Terminate));
}

#[tokio::test(start_paused = true)]
async fn a_key_queued_behind_a_burst_lands_in_the_same_frame() {
    let mut a = app(2, 100, 30);
    type_str(&mut a, "hello");
    a.update(key(KeyCode::Enter));
    let (mut ctx, inputs, h) = harness(2);
    let round = a.round;
    for i in 0..50 {
        h.events.send(text_event(round, i % 2, &format!("w{i} "))).unwrap();
    }
    h.msgs.send(key(KeyCode::Esc)).unwrap();
    h.msgs.send(ch('?')).unwrap();
    let script = async {
        tokio::time::sleep(FRAME * 2).await;
        h.stops.send(crate::signals::Stop::Interrupt).unwrap();
    };
    let (_, frames) = run(&mut a, &mut ctx, inputs, script).await;
    assert!(frames.len() >= 2);
    assert!(frames[1].contains("help — keys"), "the help the key opened is in the burst's frame:\n{}", frames[1]);
    assert!(a.panes.iter().any(|p| p.text.contains("w49")), "and the burst was folded before it");
}

#[tokio::test(start_paused = true)]
async fn quit_waits_for_outcomes_at_most_the_grace_period() {
    // Requests that never answer: the loop gives up after the grace period.
    let mut a = app(2, 100, 30);
    type_str(&mut a, "hello");
    a.update(key(KeyCode::Enter));
    let (mut ctx, inputs, h) = harness(2);
    let t0 = Instant::now();
    h.msgs.send(Msg::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL))).unwrap();
    let (out, _) = run(&mut a, &mut ctx, inputs, async {}).await;
    let waited = Instant::now() - t0;
    assert!(waited >= QUIT_GRACE && waited <= QUIT_GRACE + FRAME, "{waited:?}");
    assert_eq!(out.stop, None, "a quit key, not a signal");
    drop(h);

    // Requests whose cancelled outcomes arrive: the loop ends as soon as they are in.
    let mut a = app(2, 100, 30);
    type_str(&mut a, "hello");
    a.update(key(KeyCode::Enter));
    let (mut ctx, inputs, h) = harness(2);
    let round = a.round;
    let t0 = Instant::now();
    h.msgs.send(Msg::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL))).unwrap();
    let script = async {
        tokio::time::sleep(ms(100)).await;
        for slot in 0..2 {
            let id = RequestId { run: round, slot };
            h.events
                .send((StreamEvent { id, at: Instant::now(), kind: EventKind::Cancelled }, Counted::default()))
                .unwrap();
        }
    };
    run(&mut a, &mut ctx, inputs, script).await;
    let waited = Instant::now() - t0;
    assert!(waited >= ms(100) && waited < ms(100) + FRAME * 2, "{waited:?}");
}

#[tokio::test(start_paused = true)]
async fn a_round_whose_clients_cannot_start_fails_in_its_panes() {
    // Keys through the loop: the round starts (execute → start_round), each request fails at once.
    let mut a = app(2, 100, 30);
    let (mut ctx, inputs, h) = harness(2);
    for c in "hi".chars() {
        h.msgs.send(ch(c)).unwrap();
    }
    h.msgs.send(key(KeyCode::Enter)).unwrap();
    let script = async {
        tokio::time::sleep(FRAME * 3).await;
        h.stops.send(crate::signals::Stop::Interrupt).unwrap();
    };
    let (_, frames) = run(&mut a, &mut ctx, inputs, script).await;
    assert!(a.panes.iter().all(|p| p.error.as_deref().is_some_and(|e| e.contains("no client in this test"))));
    assert!(frames.last().is_some_and(|f| f.contains("no client in this test")), "{frames:?}");
}

/// A round's requests run on the runtime given with `run_requests_on` (the TUI's own for
/// requests), not on the one that draws and evaluates.
#[test]
fn a_rounds_requests_run_on_the_requests_runtime() {
    let ui = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("ui runtime");
    let requests = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    ui.block_on(async {
        // On the UI's runtime, which is not polled while the counts are read.
        let server = crate::mock::MockServer::start("127.0.0.1:0".parse().unwrap()).await.expect("mock");
        let (mut ctx, _inputs, _h) = harness(0);
        let spec = crate::config::ModelSpec::new(
            "slow",
            "openai",
            crate::provider::WireFormat::OpenAi,
            "slow;ttfb=30000",
            &server.base_url(crate::provider::WireFormat::OpenAi),
        );
        ctx.clients = vec![crate::engine::ModelClient::new(spec).map_err(|e| e.to_string())].into();
        ctx.run_requests_on(requests.handle().clone());
        let (before_ui, before_requests) = (alive(&tokio::runtime::Handle::current()), alive(requests.handle()));
        let mut a = app(1, 80, 24);
        let round = Effect::StartRound {
            run: 1,
            models: vec![0],
            messages: vec![Message::user("hi")],
            case: None,
            context: vec![],
        };
        driver::execute(round, &mut a, &mut ctx, &mut Default::default());
        assert_eq!(alive(&tokio::runtime::Handle::current()), before_ui, "nothing new on the UI's runtime");
        // (and, racing with this check, the connection task its client may spawn beside it)
        assert!(alive(requests.handle()) > before_requests, "the request's task is on the requests' runtime");
        driver::execute(Effect::Quit, &mut a, &mut ctx, &mut Default::default());
    });
    requests.shutdown_background();
}

fn alive(rt: &tokio::runtime::Handle) -> usize {
    rt.metrics().num_alive_tasks()
}

#[test]
fn clients_built_in_the_background_are_there_at_first_use_in_order() {
    let specs: Vec<crate::config::ModelSpec> = ["a", "b", "c"]
        .iter()
        .map(|n| {
            crate::config::ModelSpec::new(n, "openai", crate::provider::WireFormat::OpenAi, n, "http://127.0.0.1:9/v1")
        })
        .collect();
    let mut clients = driver::Clients::build_in_background(specs);
    let names: Vec<String> =
        clients.ready().iter().map(|c| c.as_ref().map(|c| c.spec().name.clone()).unwrap_or_default()).collect();
    assert_eq!(names, ["a", "b", "c"]);
    assert!(matches!(clients, driver::Clients::Ready(_)), "joined once, kept");
    assert_eq!(clients.ready().len(), 3);
}
