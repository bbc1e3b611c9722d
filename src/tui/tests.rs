//! Tests of the TUI state machine and views: keys and synthetic stamped events go through the
//! same `App::update` the real app uses; screens are rendered on `TestBackend` at a fixed `now`
//! and compared with committed insta snapshots.

use super::app::{App, Effect, Msg, Popup};
use super::layout::Arrangement;
use super::pane_state::Scroll;
use super::theme;
use super::view;
use crate::config::ModelSpec;
use crate::event::{EventKind, RequestId, ResponseInfo, StreamEvent};
use crate::metrics::Counted;
use crate::pricing::Price;
use crate::provider::{ErrorKind, Message, RequestError, Usage, WireFormat};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseEvent, MouseEventKind};
use std::time::Duration;
use tokio::time::Instant;

pub(crate) fn spec(name: &str, price: Option<(f64, f64)>) -> ModelSpec {
    let mut m = ModelSpec::new(name, "openai", WireFormat::OpenAi, &format!("{name}-model"), "http://127.0.0.1:9/v1");
    m.price = price.map(|(input, output)| Price::per_mtok(input, output));
    m
}

const NAMES: [&str; 8] = ["swift-mini", "steady-pro", "slow-large", "think-deep", "e5", "f6", "g7", "h8"];

fn app(n: usize, w: u16, h: u16) -> App {
    // As after the binary's start-up warm-up: the app's first prompt figure is then made.
    crate::tokens::warm_up();
    let models = NAMES[..n].iter().map(|m| spec(m, Some((0.15, 0.60)))).collect();
    let (themes, _) = theme::load_all(None);
    let mut a = App::new(models, true, None, themes, 0);
    a.update(Msg::Resize(w, h));
    a
}

fn key(code: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(code, KeyModifiers::NONE))
}
fn ch(c: char) -> Msg {
    key(KeyCode::Char(c))
}
fn ctrl(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
}
/// The effects of `msgs`, without journal entries (tests of those use `press_all`).
fn press(a: &mut App, msgs: impl IntoIterator<Item = Msg>) -> Vec<Effect> {
    press_all(a, msgs).into_iter().filter(|e| !matches!(e, Effect::Journal(_))).collect()
}
/// Feeds `msgs` and returns the effects, carrying out summary builds as the driver would.
fn press_all(a: &mut App, msgs: impl IntoIterator<Item = Msg>) -> Vec<Effect> {
    let mut out = Vec::new();
    for m in msgs {
        for fx in a.update(m) {
            match fx {
                Effect::BuildSummary { key, session } => {
                    let report = Box::new(crate::tui::app::summary_report(&session, key.accept_score));
                    out.extend(a.update(Msg::SummaryBuilt { key, report }));
                }
                other => out.push(other),
            }
        }
    }
    out
}
fn type_str(a: &mut App, s: &str) {
    for c in s.chars() {
        a.update(ch(c));
    }
}
fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

thread_local! {
    /// Set by tests that answer `Evaluate` effects themselves.
    static KEEP_EVALS_PENDING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Feeds one stamped event for `slot` of the current round. Like the driver with no evaluators
/// configured, it answers each `Evaluate` at once.
fn ev(a: &mut App, t0: Instant, slot: usize, at_ms: u64, kind: EventKind) -> Vec<Effect> {
    let id = RequestId { run: a.round, slot };
    let fx = a.update(Msg::Stream(StreamEvent { id, at: t0 + ms(at_ms), kind }, Counted::default()));
    for f in &fx {
        if let Effect::Evaluate { round, result } = f
            && !KEEP_EVALS_PENDING.get()
        {
            a.update(Msg::Evals { round: *round, model: result.model.clone(), results: vec![] });
        }
    }
    fx
}

fn headers(a: &mut App, t0: Instant, slot: usize, at_ms: u64) {
    ev(a, t0, slot, 0, EventKind::Sent);
    ev(a, t0, slot, at_ms, EventKind::Headers(ResponseInfo { status: 200, ..Default::default() }));
}

/// Streams `text` word by word from `start` ms, one word every `every` ms.
fn stream(a: &mut App, t0: Instant, slot: usize, start: u64, every: u64, text: &str) -> u64 {
    let mut t = start;
    for w in text.split_inclusive(' ') {
        ev(a, t0, slot, t, EventKind::Text(w.to_string()));
        t += every;
    }
    t
}

fn finish(a: &mut App, t0: Instant, slot: usize, at_ms: u64, usage: Option<(u64, u64)>) {
    if let Some((i, o)) = usage {
        let u = Usage { input_tokens: Some(i), output_tokens: Some(o), ..Default::default() };
        ev(a, t0, slot, at_ms, EventKind::Usage(u));
    }
    ev(a, t0, slot, at_ms, EventKind::Finished { reason: Some("stop".into()) });
}

fn screen(a: &App, w: u16, h: u16, now: Instant) -> String {
    let mut term = Terminal::new(TestBackend::new(w, h)).expect("test backend");
    term.draw(|f| view::draw(f, a, now)).expect("draw");
    let buf = term.backend().buffer();
    let mut out = String::new();
    for y in 0..h {
        for x in 0..w {
            out.push_str(buf[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

const TCP: &str = "TCP is connection-oriented: it sets up a session, orders packets, resends lost ones and \
                   controls congestion. UDP just sends datagrams with no guarantees, so it is lighter and \
                   faster for real-time traffic.";
const TCP2: &str = "TCP establishes a connection and guarantees ordered, reliable delivery using \
                    acknowledgements and retransmission, which adds overhead.";

/// Sends a prompt and plays a round: slot 0 done (usage), 1 streaming with reasoning, 2 connecting,
/// 3.. waiting for headers. Returns the base instant.
fn mid_round(a: &mut App) -> Instant {
    type_str(a, "Explain the difference between TCP and UDP in two sentences.");
    a.update(key(KeyCode::Enter));
    let t0 = Instant::now();
    headers(a, t0, 0, 150);
    let end = stream(a, t0, 0, 212, 40, TCP);
    finish(a, t0, 0, end + 20, Some((28, 41)));
    headers(a, t0, 1, 300);
    ev(a, t0, 1, 390, EventKind::Reasoning("The user wants a short contrast of TCP and UDP.".into()));
    stream(a, t0, 1, 488, 35, TCP2);
    ev(a, t0, 2, 0, EventKind::Sent);
    for slot in 3..a.panes.len() {
        headers(a, t0, slot, 200);
    }
    t0
}

fn all_done(a: &mut App) -> Instant {
    type_str(a, "Explain the difference between TCP and UDP in two sentences.");
    a.update(key(KeyCode::Enter));
    let t0 = Instant::now();
    for slot in 0..a.panes.len() {
        headers(a, t0, slot, 100 + 50 * slot as u64);
        let end =
            stream(a, t0, slot, 200 + 90 * slot as u64, 30 + 10 * slot as u64, if slot % 2 == 0 { TCP } else { TCP2 });
        // Odd slots never report usage: their counts and cost stay estimates.
        finish(a, t0, slot, end + 15, (slot % 2 == 0).then_some((28, 41)));
    }
    t0
}

fn with_error(a: &mut App) -> Instant {
    let t0 = mid_round(a);
    let mut e = RequestError::new(
        ErrorKind::RateLimited,
        "429 rate limited (retry after 1.00s): Rate limit reached for requests per minute",
    );
    e.http_status = Some(429);
    e.retry_after_s = Some(1.0);
    ev(a, t0, 2, 320, EventKind::Headers(ResponseInfo { status: 429, ..Default::default() }));
    ev(a, t0, 2, 330, EventKind::Failed(e));
    t0
}

macro_rules! snap {
    ($name:expr, $app:expr, $now:expr) => {
        for (w, h) in [(80u16, 24u16), (160, 48)] {
            $app.update(Msg::Resize(w, h));
            insta::assert_snapshot!(format!("{}_{w}x{h}", $name), screen(&$app, w, h, $now));
        }
    };
}

#[test]
fn snapshot_idle() {
    let mut a = app(3, 80, 24);
    let now = Instant::now();
    snap!("idle", a, now);
}

#[test]
fn snapshot_mid_stream() {
    let mut a = app(3, 80, 24);
    let t0 = mid_round(&mut a);
    snap!("mid_stream", a, t0 + ms(1210));
}

#[test]
fn snapshot_finished() {
    let mut a = app(3, 80, 24);
    let t0 = all_done(&mut a);
    snap!("finished", a, t0 + ms(9000));
}

/// A piece of tool call `index` for `slot`.
fn tool_piece(a: &mut App, t0: Instant, slot: usize, at_ms: u64, index: usize, name: Option<&str>, args: &str) {
    let c = crate::provider::ToolCallDelta {
        index,
        id: name.map(|n| format!("call_{n}")),
        name: name.map(str::to_string),
        arguments: args.to_string(),
    };
    ev(a, t0, slot, at_ms, EventKind::ToolCall(c));
}

/// Slot 0 finished with a short text and a tool call (pretty-printed) plus one whose arguments do
/// not parse; slot 1 still streaming a call's arguments.
#[test]
fn snapshot_tool_calls() {
    let mut a = app(2, 80, 24);
    type_str(&mut a, "What's the weather in Paris?");
    a.update(key(KeyCode::Enter));
    let t0 = Instant::now();
    headers(&mut a, t0, 0, 120);
    ev(&mut a, t0, 0, 180, EventKind::Text("Let me check.".into()));
    tool_piece(&mut a, t0, 0, 212, 0, Some("get_weather"), "");
    tool_piece(&mut a, t0, 0, 240, 0, None, r#"{"city": "Pa"#);
    tool_piece(&mut a, t0, 0, 260, 0, None, r#"ris", "unit": "c"}"#);
    tool_piece(&mut a, t0, 0, 300, 1, Some("get_time"), r#"{"tz": "#);
    finish(&mut a, t0, 0, 320, Some((80, 30)));
    headers(&mut a, t0, 1, 150);
    tool_piece(&mut a, t0, 1, 390, 0, Some("get_weather"), "");
    tool_piece(&mut a, t0, 1, 420, 0, None, r#"{"city": "Par"#);
    assert!(a.panes[1].tools.starts_with("⚙ get_weather {\"city\": \"Par"), "{}", a.panes[1].tools);
    let r = a.panes[0].metrics.as_ref().unwrap().result("swift-mini", "openai");
    assert_eq!(r.tool_calls.len(), 2);
    assert!(r.tool_calls[1].arguments_error.is_some());
    snap!("tool_calls", a, t0 + ms(600));
}

/// A finished call whose arguments parse but do not fit the offered tool's schema is marked in
/// the pane, as in the reports.
#[test]
fn the_pane_marks_arguments_that_do_not_fit_the_schema() {
    let tools = serde_json::json!([{"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]);
    let mut a = app(2, 80, 24);
    for m in &mut a.models {
        m.tools = crate::provider::tools::Tools::parse(Some(&tools), None).unwrap();
    }
    type_str(&mut a, "Weather?");
    a.update(key(KeyCode::Enter));
    let t0 = Instant::now();
    for (slot, args) in [(0, r#"{"city": 3}"#), (1, r#"{"city": "Paris"}"#)] {
        headers(&mut a, t0, slot, 100);
        tool_piece(&mut a, t0, slot, 150, 0, Some("get_weather"), args);
        finish(&mut a, t0, slot, 200, Some((10, 5)));
    }
    assert!(a.panes[0].tools.starts_with("⚙ get_weather ✗ "), "{}", a.panes[0].tools);
    assert!(a.panes[1].tools.starts_with("⚙ get_weather\n"), "{}", a.panes[1].tools);
}

/// The summary (`v`) shows tool use once a model called a tool: answers calling one, calls with
/// arguments that parse, time to the first call — the other model's 0 of 1 too.
#[test]
fn the_summary_shows_tool_use() {
    let mut a = app(2, 160, 48);
    type_str(&mut a, "Weather in Paris?");
    a.update(key(KeyCode::Enter));
    let t0 = Instant::now();
    headers(&mut a, t0, 0, 100);
    tool_piece(&mut a, t0, 0, 180, 0, Some("get_weather"), r#"{"city": "Paris"}"#);
    finish(&mut a, t0, 0, 200, Some((20, 8)));
    headers(&mut a, t0, 1, 100);
    stream(&mut a, t0, 1, 150, 10, "It is sunny.");
    finish(&mut a, t0, 1, 300, Some((20, 4)));
    press(&mut a, [ch('v')]);
    let s = screen(&a, 160, 48, t0 + ms(400));
    assert!(s.contains("tools") && s.contains("args ok") && s.contains("TTF tool"), "{s}");
    let row = |name: &str| s.lines().find(|l| l.contains(name) && l.contains('/')).unwrap_or_default().to_string();
    assert!(row("swift-mini").contains("1/1") && row("swift-mini").contains("180ms"), "{s}");
    assert!(row("steady-pro").contains("0/1"), "{s}");
}

#[test]
fn the_summary_shows_the_prompt_cache() {
    let mut a = app(2, 160, 48);
    type_str(&mut a, "Summarise the policy.");
    a.update(key(KeyCode::Enter));
    let t0 = Instant::now();
    for slot in 0..2 {
        headers(&mut a, t0, slot, 100);
        stream(&mut a, t0, slot, 150, 10, "Short answer.");
    }
    let cached = Usage {
        input_tokens: Some(2_000),
        output_tokens: Some(2),
        cached_input_tokens: Some(1_000),
        ..Default::default()
    };
    ev(&mut a, t0, 0, 200, EventKind::Usage(cached));
    ev(&mut a, t0, 0, 200, EventKind::Finished { reason: Some("stop".into()) });
    finish(&mut a, t0, 1, 300, Some((2_000, 2)));
    press(&mut a, [ch('v')]);
    let s = screen(&a, 160, 48, t0 + ms(400));
    assert!(s.contains("cache") && s.contains("saved"), "{s}");
    let row = |name: &str| s.lines().find(|l| l.contains(name) && l.contains('$')).unwrap_or_default().to_string();
    assert!(row("swift-mini").contains("50%"), "{s}");
    assert!(!row("steady-pro").contains('%'), "no cache reported, no share: {s}");
}

#[test]
fn the_summary_shows_schema_validity() {
    let mut a = app(2, 160, 48);
    let schema = serde_json::json!({"type": "object", "required": ["city"]});
    a.models[0].schema = Some(crate::provider::output::OutputSchema::new(Some("city"), schema.clone(), true).unwrap());
    a.models[1].schema = Some(crate::provider::output::OutputSchema::new(Some("city"), schema, true).unwrap());
    type_str(&mut a, "Which city?");
    a.update(key(KeyCode::Enter));
    let t0 = Instant::now();
    headers(&mut a, t0, 0, 100);
    stream(&mut a, t0, 0, 150, 10, "{\"city\": \"Oslo\"}");
    finish(&mut a, t0, 0, 300, Some((20, 5)));
    headers(&mut a, t0, 1, 100);
    stream(&mut a, t0, 1, 150, 10, "Oslo, I think.");
    finish(&mut a, t0, 1, 300, Some((20, 5)));
    let r = a.session.round(1).unwrap();
    assert_eq!(r.results["swift-mini"].schema_valid, Some(true));
    assert_eq!(r.results["steady-pro"].schema_valid, Some(false));
    press(&mut a, [ch('v')]);
    let s = screen(&a, 160, 48, t0 + ms(400));
    assert!(s.contains("schema"), "{s}");
    let row = |name: &str| s.lines().find(|l| l.contains(name) && l.contains('$')).unwrap_or_default().to_string();
    assert!(row("swift-mini").contains("1/1") && row("steady-pro").contains("0/1"), "{s}");
}

/// The summary lists the report's judging tables under its charts: here reference metrics and
/// evaluation spend from a ROUGE score and a judge's verdict with its request's cost.
#[test]
fn the_summary_shows_the_judging_tables() {
    let mut a = app(2, 160, 60);
    type_str(&mut a, "Capital of France?");
    a.update(key(KeyCode::Enter));
    let t0 = Instant::now();
    for slot in 0..2 {
        headers(&mut a, t0, slot, 100);
        stream(&mut a, t0, slot, 150, 10, "Paris.");
        finish(&mut a, t0, slot, 300, Some((20, 2)));
    }
    let eval = |name: &str, kind: crate::eval::EvaluatorKind, score: f64| crate::eval::EvalResult {
        name: name.into(),
        kind,
        score: Some(score),
        raw_score: None,
        passed: None,
        error: None,
        detail: None,
        counts: None,
        spend: (kind == crate::eval::EvaluatorKind::Judge).then_some(crate::eval::Spend {
            requests: 1,
            input_tokens: 300,
            output_tokens: 20,
            cost_usd: Some(0.0042),
            tokens_estimated: false,
        }),
        votes: Vec::new(),
    };
    for model in ["swift-mini", "steady-pro"] {
        let results = vec![
            eval("rougeL", crate::eval::EvaluatorKind::Rouge, 0.5),
            eval("judge:j", crate::eval::EvaluatorKind::Judge, 1.0),
        ];
        a.update(Msg::Evals { round: 1, model: model.into(), results });
    }
    press(&mut a, [ch('v')]);
    let s = screen(&a, 160, 60, t0 + ms(400));
    assert!(s.contains("reference metrics") && s.contains("evaluation spend"), "{s}");
    assert!(s.lines().any(|l| l.contains("swift-mini") && l.contains("0.500 (n=1)")), "{s}");
    assert!(s.lines().any(|l| l.contains("steady-pro") && l.contains("$0.00420")), "{s}");
}

#[test]
fn snapshot_error_pane() {
    let mut a = app(3, 80, 24);
    let t0 = with_error(&mut a);
    snap!("error", a, t0 + ms(1210));
}

#[test]
fn snapshot_help_overlay() {
    let mut a = app(3, 80, 24);
    a.update(Msg::Key(KeyEvent::new(KeyCode::F(1), KeyModifiers::NONE)));
    assert!(matches!(a.popup, Some(Popup::Help { .. })));
    let now = Instant::now();
    snap!("help", a, now);
}

#[test]
fn snapshot_narrow_four_models() {
    let mut a = app(4, 80, 24);
    let t0 = mid_round(&mut a);
    assert_eq!(a.layout(ratatui::layout::Rect::new(0, 0, 80, 24)).arrangement, Arrangement::Strips);
    snap!("narrow4", a, t0 + ms(1210));
}

#[test]
fn snapshot_picker_and_eight_panes() {
    let mut a = app(8, 160, 48);
    let t0 = mid_round(&mut a);
    a.update(Msg::Resize(160, 48));
    insta::assert_snapshot!("eight_160x48", screen(&a, 160, 48, t0 + ms(1210)));
    a.update(ch('m'));
    insta::assert_snapshot!("picker_80x24", screen(&a, 80, 24, t0 + ms(1210)));
}

#[test]
fn send_starts_a_round_with_the_prompt() {
    let mut a = app(3, 80, 24);
    assert!(press(&mut a, [key(KeyCode::Enter)]).is_empty(), "empty prompt is not sent");
    assert_eq!(a.notice.as_deref(), Some("type a prompt first"));
    type_str(&mut a, "hello");
    let fx = press(&mut a, [key(KeyCode::Enter)]);
    assert_eq!(
        fx,
        vec![Effect::StartRound {
            run: 1,
            models: vec![0, 1, 2],
            messages: vec![Message::user("hello")],
            case: None,
            context: vec![]
        }]
    );
    assert_eq!(a.round, 1);
    assert!(!a.editor_focused, "focus moves to the panes after sending");
    assert!(a.editor.is_empty());
    assert_eq!(a.panes.len(), 3);
    assert!(a.panes.iter().all(|p| p.metrics.is_some()));
    // Letters are commands now: `i` goes back to the editor and types nothing.
    press(&mut a, [ch('i')]);
    assert!(a.editor_focused && a.editor.is_empty());
}

#[test]
fn system_prompt_is_edited_and_sent() {
    let mut a = app(2, 80, 24);
    press(&mut a, [Msg::Key(KeyEvent::new(KeyCode::F(2), KeyModifiers::NONE))]);
    assert!(matches!(a.popup, Some(Popup::System(_))));
    type_str(&mut a, "Be terse.");
    press(&mut a, [key(KeyCode::Enter)]);
    assert_eq!(a.system.as_deref(), Some("Be terse."));
    type_str(&mut a, "hi");
    let fx = press(&mut a, [key(KeyCode::Enter)]);
    let Effect::StartRound { messages, .. } = &fx[0] else { panic!("{fx:?}") };
    assert_eq!(messages, &vec![Message::system("Be terse."), Message::user("hi")]);
}

#[test]
fn newline_keys_do_not_send() {
    let mut a = app(2, 80, 24);
    type_str(&mut a, "a");
    let fx = press(&mut a, [Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::ALT)), ch('b'), ctrl('j'), ch('c')]);
    assert!(fx.is_empty());
    assert_eq!(a.editor.lines(), ["a", "b", "c"]);
    let fx = press(&mut a, [key(KeyCode::Enter)]);
    assert!(matches!(&fx[0], Effect::StartRound { messages, .. } if messages[0].content == "a\nb\nc"));
}

#[test]
fn cancel_all_and_focused() {
    let mut a = app(3, 80, 24);
    type_str(&mut a, "hello");
    press(&mut a, [key(KeyCode::Enter)]);
    let t0 = Instant::now();
    for s in 0..3 {
        ev(&mut a, t0, s, 0, EventKind::Sent);
    }
    assert_eq!(press(&mut a, [ch('x')]), vec![Effect::Cancel { run: 1, slot: Some(0) }]);
    assert_eq!(press(&mut a, [key(KeyCode::Tab), ctrl('x')]), vec![Effect::Cancel { run: 1, slot: Some(1) }]);
    assert_eq!(press(&mut a, [key(KeyCode::Esc)]), vec![Effect::Cancel { run: 1, slot: None }]);
    // The pane changes only when the engine reports the cancellation.
    ev(&mut a, t0, 1, 500, EventKind::Cancelled);
    assert_eq!(a.panes[1].phase().map(|p| p.label()), Some("cancelled"));
    assert_eq!(press(&mut a, [ch('x')]), vec![]);
    // In the editor, Esc cancels too; when nothing runs it just leaves the editor.
    press(&mut a, [ch('i')]);
    assert_eq!(press(&mut a, [key(KeyCode::Esc)]), vec![Effect::Cancel { run: 1, slot: None }]);
    for s in [0, 2] {
        ev(&mut a, t0, s, 600, EventKind::Cancelled);
    }
    assert!(press(&mut a, [key(KeyCode::Esc)]).is_empty());
    assert!(!a.editor_focused);
    // Quit cancels what is left.
    assert_eq!(press(&mut a, [ch('q')]), vec![Effect::Quit]);
}

#[test]
fn quit_from_editor_with_ctrl_c_cancels_first() {
    let mut a = app(1, 80, 24);
    type_str(&mut a, "q");
    assert_eq!(a.editor.lines(), ["q"], "q types in the editor");
    press(&mut a, [key(KeyCode::Enter)]);
    ev(&mut a, Instant::now(), 0, 0, EventKind::Sent);
    press(&mut a, [ch('i')]);
    assert_eq!(press(&mut a, [ctrl('c')]), vec![Effect::Cancel { run: 1, slot: None }, Effect::Quit]);
}

#[test]
fn focus_cycles_through_editor_and_panes() {
    let mut a = app(3, 160, 48);
    assert!(a.editor_focused);
    let mut seen = Vec::new();
    for _ in 0..4 {
        a.update(key(KeyCode::Tab));
        seen.push(if a.editor_focused { None } else { Some(a.pane_focus) });
    }
    assert_eq!(seen, [Some(0), Some(1), Some(2), None]);
    a.update(key(KeyCode::BackTab));
    assert_eq!((a.editor_focused, a.pane_focus), (false, 2));
}

#[test]
fn zoom_toggles_full_screen_pane() {
    let mut a = app(3, 160, 48);
    press(&mut a, [key(KeyCode::Tab), key(KeyCode::Tab), ch('z')]);
    let scr = a.layout(ratatui::layout::Rect::new(0, 0, 160, 48));
    assert_eq!(scr.arrangement, Arrangement::Zoom);
    assert_eq!(scr.panes.len(), 1);
    assert_eq!(scr.panes[0].0, 1);
    assert!(scr.editor.is_empty());
    press(&mut a, [ch('z')]);
    assert_eq!(a.layout(ratatui::layout::Rect::new(0, 0, 160, 48)).panes.len(), 3);
}

#[test]
fn scrolling_pins_and_follows() {
    let mut a = app(1, 80, 24);
    type_str(&mut a, "long");
    press(&mut a, [key(KeyCode::Enter)]);
    let t0 = Instant::now();
    headers(&mut a, t0, 0, 10);
    let long: String = (0..200).map(|i| format!("line {i}\n")).collect();
    ev(&mut a, t0, 0, 20, EventKind::Text(long));
    assert_eq!(a.panes[0].scroll, Scroll::Follow);
    press(&mut a, [ch('k')]);
    let Scroll::At(top) = a.panes[0].scroll else { panic!("pinned") };
    // New text does not move a pinned view.
    ev(&mut a, t0, 0, 30, EventKind::Text("more\n".into()));
    assert_eq!(a.panes[0].scroll, Scroll::At(top));
    press(&mut a, [key(KeyCode::PageUp)]);
    let Scroll::At(top2) = a.panes[0].scroll else { panic!() };
    assert!(top2 < top);
    press(&mut a, [ch('g')]);
    assert_eq!(a.panes[0].scroll, Scroll::At(0));
    press(&mut a, [ch('j'), key(KeyCode::PageDown)]);
    assert!(matches!(a.panes[0].scroll, Scroll::At(n) if n > 1));
    press(&mut a, [key(KeyCode::End)]);
    assert_eq!(a.panes[0].scroll, Scroll::Follow);
    let s = screen(&a, 80, 24, t0 + ms(40));
    assert!(s.contains("more"), "{s}");
    press(&mut a, [ch('g')]);
    let s = screen(&a, 80, 24, t0 + ms(40));
    assert!(s.contains("line 0 ") || s.contains("line 0\n") || s.contains("line 0 │"), "{s}");
}

#[test]
fn mouse_wheel_scrolls_only_when_enabled() {
    let mut a = app(1, 80, 24);
    type_str(&mut a, "x");
    press(&mut a, [key(KeyCode::Enter)]);
    let t0 = Instant::now();
    headers(&mut a, t0, 0, 10);
    ev(&mut a, t0, 0, 20, EventKind::Text("l\n".repeat(100)));
    let wheel =
        Msg::Mouse(MouseEvent { kind: MouseEventKind::ScrollUp, column: 10, row: 12, modifiers: KeyModifiers::NONE });
    a.update(wheel.clone());
    assert_eq!(a.panes[0].scroll, Scroll::Follow);
    a.mouse = true;
    a.update(wheel);
    assert!(matches!(a.panes[0].scroll, Scroll::At(_)));
}

#[test]
fn resize_to_tiny_sizes_never_panics() {
    let mut a = app(4, 80, 24);
    let t0 = with_error(&mut a);
    for (w, h) in [(20, 5), (1, 1), (0, 0), (2, 3), (30, 8), (10, 40), (200, 2)] {
        a.update(Msg::Resize(w, h));
        let _ = screen(&a, w.max(1), h.max(1), t0 + ms(900));
        a.update(ch('z'));
        let _ = screen(&a, w.max(1), h.max(1), t0 + ms(900));
        a.update(ch('?'));
        let _ = screen(&a, w.max(1), h.max(1), t0 + ms(900));
        a.update(key(KeyCode::Esc));
        press(&mut a, [ch('k'), key(KeyCode::PageDown)]);
    }
    let s = screen(&a, 20, 5, t0);
    assert_eq!(s.lines().count(), 5);
}

#[test]
fn model_picker_selects_the_next_round() {
    let mut a = app(3, 80, 24);
    press(&mut a, [Msg::Key(KeyEvent::new(KeyCode::F(3), KeyModifiers::NONE))]);
    assert!(matches!(a.popup, Some(Popup::Picker { .. })));
    press(&mut a, [key(KeyCode::Down), ch(' '), key(KeyCode::Enter)]);
    assert_eq!(a.selected, [true, false, true]);
    assert_eq!(a.panes.len(), 2, "before the first round the panes follow the selection");
    // All unchecked is refused.
    press(&mut a, [key(KeyCode::F(3)), ch('a'), ch('a')]);
    press(&mut a, [key(KeyCode::Enter)]);
    assert!(a.popup.is_some());
    assert_eq!(a.notice.as_deref(), Some("select at least one model"));
    press(&mut a, [key(KeyCode::Esc)]);
    assert_eq!(a.selected, [true, false, true]);
    type_str(&mut a, "hi");
    let fx = press(&mut a, [key(KeyCode::Enter)]);
    assert!(matches!(&fx[0], Effect::StartRound { models, .. } if models == &vec![0, 2]));
}

#[test]
fn history_browses_previous_prompts_and_keeps_the_draft() {
    let mut a = app(1, 80, 24);
    for p in ["one", "two"] {
        type_str(&mut a, p);
        press(&mut a, [key(KeyCode::Enter), ch('i')]);
    }
    type_str(&mut a, "dra");
    press(&mut a, [key(KeyCode::Up)]);
    assert_eq!(a.editor.lines(), ["two"]);
    press(&mut a, [key(KeyCode::Up), key(KeyCode::Up)]);
    assert_eq!(a.editor.lines(), ["one"]);
    press(&mut a, [ctrl('n')]);
    assert_eq!(a.editor.lines(), ["two"]);
    press(&mut a, [key(KeyCode::Down)]);
    assert_eq!(a.editor.lines(), ["dra"]);
}

#[test]
fn rerun_repeats_the_last_prompt() {
    let mut a = app(2, 80, 24);
    assert!(press(&mut a, [key(KeyCode::Tab), ch('r')]).is_empty());
    press(&mut a, [ch('i')]);
    type_str(&mut a, "again");
    press(&mut a, [key(KeyCode::Enter)]);
    // Round 1 is still running (no terminal event yet): it is cancelled first.
    let fx = press(&mut a, [ch('r')]);
    assert_eq!(fx[0], Effect::Cancel { run: 1, slot: None });
    assert_eq!(
        fx[1..],
        [Effect::StartRound {
            run: 2,
            models: vec![0, 1],
            messages: vec![Message::user("again")],
            case: None,
            context: vec![]
        }]
    );
}

#[test]
fn theme_cycles_with_t_and_f4() {
    let mut a = app(1, 80, 24);
    let names: Vec<String> = a.themes.iter().map(|t| t.name.clone()).collect();
    press(&mut a, [key(KeyCode::F(4))]);
    assert_eq!(a.theme().name, names[1]);
    press(&mut a, [key(KeyCode::Tab), ch('t'), ch('t'), ch('t')]);
    assert_eq!(a.theme().name, names[0]);
}

#[test]
fn stale_events_are_ignored_and_reasoning_folds() {
    let mut a = app(1, 80, 24);
    type_str(&mut a, "x");
    press(&mut a, [key(KeyCode::Enter)]);
    let t0 = Instant::now();
    headers(&mut a, t0, 0, 10);
    ev(&mut a, t0, 0, 20, EventKind::Reasoning("thinking hard".into()));
    press(&mut a, [ch('r')]); // round 2
    a.update(Msg::Stream(
        StreamEvent { id: RequestId { run: 1, slot: 0 }, at: t0, kind: EventKind::Text("old".into()) },
        Counted::default(),
    ));
    assert!(a.panes[0].text.is_empty());
    ev(&mut a, t0, 0, 0, EventKind::Sent);
    ev(&mut a, t0, 0, 20, EventKind::Reasoning("thinking hard".into()));
    ev(&mut a, t0, 0, 30, EventKind::Text("answer".into()));
    assert!(screen(&a, 80, 24, t0 + ms(40)).contains("thinking hard"));
    press(&mut a, [ch('e')]);
    let s = screen(&a, 80, 24, t0 + ms(40));
    assert!(!s.contains("thinking hard") && s.contains("reasoning · 1 lines folded"), "{s}");
}

#[test]
fn model_output_cannot_reach_the_terminal_raw() {
    let mut a = app(1, 80, 24);
    type_str(&mut a, "x");
    press(&mut a, [key(KeyCode::Enter)]);
    let t0 = Instant::now();
    headers(&mut a, t0, 0, 10);
    ev(&mut a, t0, 0, 20, EventKind::Text("hi\x1b]0;pwned\x07 \x1b[2J\u{9b}1m".into()));
    ev(&mut a, t0, 0, 25, EventKind::ServerModel("evil\x1b[31m".into()));
    ev(&mut a, t0, 0, 30, EventKind::Failed(RequestError::new(ErrorKind::Provider, "bad\x1b[H")));
    assert!(a.panes[0].text.contains("␛]0;pwned␇"));
    assert_eq!(a.panes[0].error.as_deref(), Some("bad␛[H"));
    assert_eq!(a.panes[0].server_model.as_deref(), Some("evil␛[31m"));
    // Pasted text is cleaned too.
    press(&mut a, [ch('i')]);
    a.update(Msg::Paste("p\x1b[2J".into()));
    assert_eq!(a.editor.lines(), ["p␛[2J"]);
    let s = screen(&a, 80, 24, t0 + ms(40));
    assert!(!s.chars().any(|c| c.is_control() && c != '\n'), "{s:?}");
}

#[test]
fn session_cost_is_a_lower_bound_when_a_price_is_unknown() {
    let models = vec![spec("priced", Some((1.0, 2.0))), spec("unpriced", None)];
    crate::tokens::warm_up(); // as the binary does at start-up: the app's prompt figure is made
    let mut a = App::new(models, false, None, theme::load_all(None).0, 0);
    assert_eq!(a.session_cost().label(), "$0");
    type_str(&mut a, "x");
    press(&mut a, [key(KeyCode::Enter)]);
    let t0 = Instant::now();
    headers(&mut a, t0, 1, 10);
    assert_eq!(a.session_cost().label(), "$0", "nothing came back yet: nothing known to be billed");
    ev(&mut a, t0, 1, 15, EventKind::Text("hi".into()));
    assert_eq!(a.session_cost().label(), "$—");
    headers(&mut a, t0, 0, 10);
    finish(&mut a, t0, 0, 20, Some((1000, 1000)));
    assert_eq!(a.session_cost().label(), "≥$0.00300");
    // Carried over into the next round.
    press(&mut a, [ch('r')]);
    assert_eq!(a.session_cost().label(), "≥$0.00300");
}

#[test]
fn session_cost_counts_ended_requests_like_the_report() {
    use crate::provider::{ErrorKind, RequestError};
    let models = vec![spec("timeout", Some((1.0, 2.0))), spec("refused", None)];
    crate::tokens::warm_up(); // as the binary does at start-up: the app's prompt figure is made
    let mut a = App::new(models, false, None, theme::load_all(None).0, 0);
    type_str(&mut a, "x");
    press(&mut a, [key(KeyCode::Enter)]);
    let t0 = Instant::now();
    // Accepted, then no token before the first-token limit: its prompt was sent to the model,
    // so it is billed (estimated) — the report counts the same attempt.
    headers(&mut a, t0, 0, 10);
    assert_eq!(a.session_cost().label(), "$0", "still waiting: nothing known yet");
    let timeout = RequestError::new(ErrorKind::FirstTokenTimeout, "no token");
    ev(&mut a, t0, 0, 50, EventKind::Failed(timeout));
    let m = a.panes[0].metrics.as_ref().unwrap();
    let want = m.cost().unwrap();
    assert!(want > 0.0);
    assert_eq!(a.session_cost().known, want);
    assert!(a.session_cost().label().starts_with('~'), "{}", a.session_cost().label());
    // Never reached the model: $0 even without a price, not an unknown.
    ev(&mut a, t0, 1, 0, EventKind::Failed(RequestError::new(ErrorKind::Connect, "refused")));
    let sum = a.session_cost();
    assert_eq!((sum.known, sum.unknown, sum.requests), (want, false, 2));
}

#[test]
fn ticks_only_mark_dirty_while_a_clock_runs() {
    let mut a = app(1, 80, 24);
    a.dirty = false;
    a.update(Msg::Tick);
    assert!(!a.dirty);
    type_str(&mut a, "x");
    press(&mut a, [key(KeyCode::Enter)]);
    ev(&mut a, Instant::now(), 0, 0, EventKind::Sent);
    a.dirty = false;
    a.update(Msg::Tick);
    assert!(a.dirty);
}

#[test]
fn key_table_for_readme() {
    let md = super::keymap::markdown();
    assert!(md.contains("| `Enter` | send the prompt"));
    if std::env::var_os("BAKEOFF_PRINT_KEYS").is_some() {
        println!("{md}");
    }
    // The README's key table is this table, so the docs cannot drift from the keymap.
    let readme = include_str!("../../README.md");
    let block = readme
        .split("<!-- keys:start -->")
        .nth(1)
        .and_then(|rest| rest.split("<!-- keys:end -->").next())
        .expect("README has a keys:start/keys:end block");
    assert_eq!(
        block.trim(),
        md.trim(),
        "README key table is out of date: regenerate with BAKEOFF_PRINT_KEYS=1 cargo test --lib key_table_for_readme -- --nocapture"
    );
}

#[test]
fn narrow_panes_flow_metrics_instead_of_cutting_them() {
    let mut a = app(1, 80, 24);
    let t0 = all_done(&mut a);
    let m = a.panes[0].metrics.as_ref().expect("metrics");
    let th = a.theme().clone();
    let text = |w: usize| -> Vec<String> {
        super::view::pane_metrics(m, &th, t0 + ms(9000), w)
            .iter()
            .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
            .collect()
    };
    assert_eq!(text(80), ["TTFT 200ms  total 1.18s  41 tok  41.0/s", "$0.000029 ✓usage  ███▇  stall 30ms"]);
    let narrow = text(28);
    assert!(narrow.iter().all(|l| super::wrap::str_width(l) <= 28), "{narrow:?}");
    let joined = narrow.join(" ");
    for part in ["TTFT 200ms", "total 1.18s", "41 tok", "41.0/s", "$0.000029 ✓"] {
        assert!(joined.contains(part), "{part} missing from {narrow:?}");
    }
}

mod driver;
mod rating;

/// The summary's report is built off the UI thread when the summary opens and when an entry is
/// recorded while it is open — never per stream event or frame — with one build in flight.
#[test]
fn the_summary_report_is_asked_for_on_open_and_on_records_only() {
    let builds = |fx: Vec<Effect>| -> Vec<(crate::tui::app::SummaryKey, Box<crate::session::Session>)> {
        fx.into_iter()
            .filter_map(|e| match e {
                Effect::BuildSummary { key, session } => Some((key, session)),
                _ => None,
            })
            .collect()
    };
    let land = |a: &mut App, (key, session): (crate::tui::app::SummaryKey, Box<crate::session::Session>)| {
        let report = Box::new(crate::tui::app::summary_report(&session, key.accept_score));
        a.update(Msg::SummaryBuilt { key, report });
    };
    let mut a = app(2, 100, 30);
    let t0 = all_done(&mut a);
    let mut asked = builds(a.update(ch('v')));
    assert_eq!(asked.len(), 1, "opening asks once");
    assert!(screen(&a, 100, 30, t0).contains("building the summary"));
    assert!(builds(a.update(Msg::Tick)).is_empty(), "one build in flight");
    land(&mut a, asked.remove(0));
    assert!(screen(&a, 100, 30, t0).contains("summary · 1 rounds · 2 models "));
    assert!(builds(a.update(Msg::Tick)).is_empty(), "fresh: nothing to build");

    // A new round streams under the open summary: no builds until an answer is recorded.
    press(&mut a, [ch('v')]);
    type_str(&mut a, "again");
    a.update(key(KeyCode::Enter));
    a.update(key(KeyCode::Esc));
    let mut asked = builds(a.update(ch('v')));
    assert_eq!(asked.len(), 1, "the session changed (a round started) since the last build");
    land(&mut a, asked.remove(0));
    let t1 = Instant::now();
    let mut fx = Vec::new();
    for slot in 0..2 {
        fx.extend(ev(&mut a, t1, slot, 0, EventKind::Sent));
        fx.extend(ev(&mut a, t1, slot, 50, EventKind::Headers(ResponseInfo { status: 200, ..Default::default() })));
    }
    for i in 0..50u64 {
        fx.extend(ev(&mut a, t1, 0, 60 + i, EventKind::Text("w ".into())));
    }
    assert!(builds(fx).is_empty(), "stream events never rebuild the report");
    let shown = a.summary_report().map(|(r, _)| r.cross.rounds);
    let asked = builds(ev(&mut a, t1, 0, 200, EventKind::Finished { reason: Some("stop".into()) }));
    assert_eq!(asked.len(), 1, "a recorded answer asks for a new report");
    assert!(builds(ev(&mut a, t1, 1, 210, EventKind::Text("x ".into()))).is_empty(), "one build in flight");
    assert_eq!(a.summary_report().map(|(r, _)| r.cross.rounds), shown, "the shown report stays until a build lands");
    assert!(a.summary_report().is_some_and(|(_, stale)| stale));
    assert!(screen(&a, 100, 30, t1 + ms(300)).contains("updating"));
}

#[test]
fn attach_shows_above_the_prompt_and_goes_with_it() {
    let mut a = app(2, 80, 24);
    let png = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-cases/media/red-square.png");
    type_str(&mut a, &format!(":attach {}", png.display()));
    assert!(press(&mut a, [key(KeyCode::Enter)]).is_empty(), "a command alone sends nothing");
    assert!(a.editor.is_empty(), "the command leaves the editor");
    assert_eq!(a.attachments.len(), 1);
    assert!(a.notice.as_deref().unwrap().starts_with("attached [image red-square.png 203 B]"), "{:?}", a.notice);
    type_str(&mut a, "What colour is the square?");
    let now = Instant::now();
    insta::assert_snapshot!("attachment_80x24", screen(&a, 80, 24, now));
    let fx = press(&mut a, [key(KeyCode::Enter)]);
    let Effect::StartRound { messages, .. } = &fx[0] else { panic!("{fx:?}") };
    assert_eq!(messages[0].content, "What colour is the square?");
    assert_eq!(messages[0].attachments.len(), 1);
    assert!(a.attachments.is_empty(), "they went with that prompt");

    // A file that is not an image or PDF is refused, naming it; :detach drops what was attached.
    press(&mut a, [ch('i')]);
    type_str(&mut a, ":attach Cargo.toml");
    press(&mut a, [key(KeyCode::Enter)]);
    assert!(a.notice.as_deref().unwrap().contains("Cargo.toml"), "{:?}", a.notice);
    assert!(a.attachments.is_empty());
    type_str(&mut a, &format!(":attach {}", png.display()));
    press(&mut a, [key(KeyCode::Enter)]);
    type_str(&mut a, ":detach");
    press(&mut a, [key(KeyCode::Enter)]);
    assert!(a.attachments.is_empty());
}

/// Plays a round to its end: every pane answers `answers[slot]` (an empty answer fails).
fn answer_round(a: &mut App, prompt: &str, answers: &[&str]) -> (Vec<Effect>, Instant) {
    if !a.editor_focused {
        press(a, [ch('i')]);
    }
    type_str(a, prompt);
    let fx = press(a, [key(KeyCode::Enter)]);
    let t0 = Instant::now();
    for (slot, text) in answers.iter().enumerate() {
        headers(a, t0, slot, 50);
        if text.is_empty() {
            ev(a, t0, slot, 60, EventKind::Failed(RequestError::new(ErrorKind::Http, "500 server error")));
        } else {
            let end = stream(a, t0, slot, 100, 10, text);
            finish(a, t0, slot, end, Some((10, 5)));
        }
    }
    (fx, t0)
}

#[test]
fn a_follow_up_continues_each_models_own_conversation() {
    let mut a = app(2, 80, 24);
    answer_round(&mut a, "Name a prime.", &["Two.", ""]);
    let (fx, t0) = answer_round(&mut a, "And the next one?", &["Three.", "Five."]);
    let Effect::StartRound { messages, context, .. } = &fx[0] else { panic!("{fx:?}") };
    assert_eq!(messages, &vec![Message::user("And the next one?")]);
    // Model 0 gets its own earlier answer; model 1 failed turn 1, so it starts afresh.
    assert_eq!(context, &vec![vec![Message::user("Name a prime."), Message::assistant("Two.")], vec![]]);
    assert_eq!(a.round_turn, 2);
    let Some(r) = a.session.round(2) else { panic!() };
    assert_eq!(r.start.turn, Some(2));
    assert_eq!(r.start.context.keys().collect::<Vec<_>>(), ["swift-mini"], "only models with earlier turns");
    insta::assert_snapshot!("second_turn_80x24", screen(&a, 80, 24, t0 + ms(500)));

    // A re-run asks the same turn again, not a third one.
    let fx = press(&mut a, [ch('r')]);
    let Effect::StartRound { context, .. } = &fx[0] else { panic!("{fx:?}") };
    assert_eq!(context[0].len(), 2);
    assert_eq!(a.round_turn, 2);

    // N starts over: the next prompt goes alone.
    press(&mut a, [key(KeyCode::Esc), ch('N')]);
    assert_eq!(a.notice.as_deref(), Some("new conversation: the next prompt starts afresh"));
    let (fx, _) = answer_round(&mut a, "Fresh question", &["ok", "ok"]);
    let Some(Effect::StartRound { context, .. }) = fx.iter().find(|f| matches!(f, Effect::StartRound { .. })) else {
        panic!("{fx:?}")
    };
    assert!(context.is_empty());
    assert_eq!(a.round_turn, 1);
}

#[test]
fn resume_restores_the_conversation() {
    let mut a = app(2, 80, 24);
    answer_round(&mut a, "Name a prime.", &["Two.", "Two!"]);
    answer_round(&mut a, "And the next one?", &["Three.", ""]);
    let report = crate::report::build(&a.session, &Default::default());
    assert_eq!(report.rounds.iter().map(|r| r.turn).collect::<Vec<_>>(), [None, Some(2)]);
    assert!(crate::report::to_markdown(&report).contains("### Round 2 · turn 2"));
    assert!(crate::report::to_html(&report).contains("Round 2 · turn 2"));
    let mut b = app(2, 80, 24);
    b.restore(a.session.clone());
    assert_eq!(b.conversation, a.conversation);
    assert_eq!(b.conversation.turns, 2);
    assert_eq!(b.conversation.context(1).len(), 2, "model 1's failed second turn is not in it");
    let (fx, _) = answer_round(&mut b, "And after that?", &["Five.", "Three."]);
    let Effect::StartRound { context, .. } = &fx[0] else { panic!("{fx:?}") };
    assert_eq!(context[0].len(), 4);
    assert_eq!(b.round_turn, 3);
}

#[test]
fn resume_reads_a_conversations_attachments_again() {
    let mut a = app(1, 80, 24);
    let png = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-cases/media/red-square.png");
    type_str(&mut a, &format!(":attach {}", png.display()));
    press(&mut a, [key(KeyCode::Enter)]);
    answer_round(&mut a, "What colour?", &["Red."]);
    // Through the journal's JSON, as --resume reads it: the bytes are not there, the path is.
    let line = serde_json::to_string(&a.session.rounds[0].start).unwrap();
    assert!(line.contains("red-square.png") && !line.contains("iVBOR"), "{line}");
    let start: crate::session::RoundStart = serde_json::from_str(&line).unwrap();
    assert!(start.messages[0].attachments[0].data.is_none());
    let mut session = a.session.clone();
    session.rounds[0].start = start;
    let mut b = app(1, 80, 24);
    b.restore(session);
    let sent = &b.conversation.context(0)[0].attachments[0];
    assert!(sent.data.is_some(), "read again from its file");
    assert_eq!(crate::provider::attach::check(crate::provider::WireFormat::OpenAi, &b.conversation.context(0)), Ok(()));
}

#[test]
fn history_view_asks_for_the_models_on_screen_and_shows_their_trends() {
    let mut a = app(3, 100, 30);
    press(&mut a, [key(KeyCode::Tab)]);
    let fx = press(&mut a, [ch('H')]);
    let models: Vec<String> = NAMES[..3].iter().map(|m| m.to_string()).collect();
    assert!(
        fx.iter().any(|e| matches!(e, Effect::LoadHistory { models: m } if *m == models)),
        "the models on screen are asked for"
    );
    let now = Instant::now();
    assert!(screen(&a, 100, 30, now).contains("reading the results history…"));
    a.update(Msg::HistoryLoaded(Ok(
        "ttft_p95 (ms) · factual.jsonl · 2 run(s)\nswift-mini  █▁  +12% ▲ significantly worse\x1b[31m".into(),
    )));
    let s = screen(&a, 100, 30, now);
    assert!(s.contains("history · these models run after run"), "{s}");
    assert!(s.contains("▲ significantly worse") && !s.contains('\x1b'), "shown, and terminal-safe: {s}");
    // Any other key closes it; an error is said plainly.
    press(&mut a, [ch('x')]);
    assert!(a.popup.is_none());
    press(&mut a, [ch('H')]);
    a.update(Msg::HistoryLoaded(Err("the results history is off for this session".into())));
    assert!(screen(&a, 100, 30, now).contains("the results history is off"));
}
