//! Ratings, blind rounds, journal entries, evaluator results, the quit prompt, the summary view,
//! cases and resume — all driven through `App::update`, as the real driver does.

use super::*;
use crate::cases::Case;
use crate::metrics::Status;
use crate::session::{Entry, EvalResult, Verdict};

fn entries(fx: &[Effect]) -> Vec<Entry> {
    fx.iter()
        .filter_map(|f| match f {
            Effect::Journal(e) => Some((**e).clone()),
            _ => None,
        })
        .collect()
}

fn scores(fx: &[Effect]) -> Vec<(String, Option<u8>)> {
    entries(fx)
        .into_iter()
        .filter_map(|e| match e {
            Entry::Score { model, score, .. } => Some((model, score)),
            _ => None,
        })
        .collect()
}

fn eval(name: &str, kind: &str, passed: bool, raw: Option<f64>) -> EvalResult {
    EvalResult {
        name: name.into(),
        kind: serde_json::from_value(serde_json::json!(kind)).unwrap(),
        score: Some(if passed { 1.0 } else { 0.0 }),
        raw_score: raw,
        passed: Some(passed),
        error: None,
        detail: Some(format!("{name} detail")),
        counts: None,
        spend: None,
        votes: Vec::new(),
    }
}

fn case(id: &str, category: &str, messages: Vec<Message>) -> Case {
    Case {
        id: id.into(),
        category: Some(category.into()),
        tags: vec![],
        messages,
        expected: None,
        evaluators: vec![],
        origin: format!("cases.jsonl:{id}"),
        tools: None,
        expected_tool: None,
        ..Default::default()
    }
}

/// Finishes every pane of the current round with a short answer.
fn finish_all(a: &mut App, t0: Instant) -> Vec<Effect> {
    let mut fx = Vec::new();
    for slot in 0..a.panes.len() {
        headers(a, t0, slot, 100);
        ev(a, t0, slot, 200, EventKind::Text(format!("answer {slot}")));
        fx.extend(ev(
            a,
            t0,
            slot,
            300,
            EventKind::Usage(Usage { input_tokens: Some(5), output_tokens: Some(2), ..Default::default() }),
        ));
        fx.extend(ev(a, t0, slot, 300, EventKind::Finished { reason: Some("stop".into()) }));
    }
    fx
}

#[test]
fn scoring_keys_journal_scores_and_show_in_the_pane() {
    let mut a = app(3, 160, 48);
    let t0 = all_done(&mut a);
    assert!(!a.editor_focused);
    let fx = press_all(&mut a, [ch('4')]);
    assert_eq!(scores(&fx), [("swift-mini".to_string(), Some(4))]);
    assert!(screen(&a, 160, 48, t0 + ms(9000)).contains("score ★★★★☆"));
    // Changing it journals a new entry; the session keeps the last.
    let fx = press_all(&mut a, [ch('2')]);
    assert_eq!(scores(&fx), [("swift-mini".to_string(), Some(2))]);
    assert_eq!(a.session.round(1).unwrap().scores["swift-mini"], 2);
    assert!(screen(&a, 160, 48, t0 + ms(9000)).contains("score ★★☆☆☆"));
    let fx = press_all(&mut a, [ch('0')]);
    assert_eq!(scores(&fx), [("swift-mini".to_string(), None)]);
    // Winner, then a tie.
    let fx = press_all(&mut a, [key(KeyCode::Tab), ch('w')]);
    assert_eq!(entries(&fx), [Entry::Verdict { round: 1, verdict: Some(Verdict::Winner("steady-pro".into())) }]);
    assert!(screen(&a, 160, 48, t0 + ms(9000)).contains("★ winner"));
    let fx = press_all(&mut a, [ch('=')]);
    assert_eq!(entries(&fx), [Entry::Verdict { round: 1, verdict: Some(Verdict::Tie) }]);
    assert!(a.unsaved);
    // Each result was journaled as its stream ended.
    let r = a.session.round(1).unwrap();
    assert!(r.is_complete());
    assert_eq!(r.results["swift-mini"].status, Status::Ok);
}

#[test]
fn scoring_needs_text_but_not_a_finished_stream() {
    let mut a = app(3, 160, 48);
    type_str(&mut a, "hi");
    press(&mut a, [key(KeyCode::Enter)]);
    let fx = press_all(&mut a, [ch('3')]);
    assert!(scores(&fx).is_empty());
    assert!(a.notice.as_deref().unwrap_or("").contains("nothing to rate yet"));
    // While streaming, a slow loser can be scored (and then cancelled).
    let t0 = Instant::now();
    headers(&mut a, t0, 0, 10);
    ev(&mut a, t0, 0, 20, EventKind::Text("partial".into()));
    let fx = press_all(&mut a, [ch('1')]);
    assert_eq!(scores(&fx), [("swift-mini".to_string(), Some(1))]);
    assert_eq!(press(&mut a, [ch('x')]), vec![Effect::Cancel { run: 1, slot: Some(0) }]);
    // The cancelled outcome is journaled too.
    let fx = ev(&mut a, t0, 0, 40, EventKind::Cancelled);
    let e = entries(&fx);
    assert!(matches!(&e[0], Entry::Result { round: 1, result } if result.status == Status::Cancelled), "{e:?}");
}

#[test]
fn note_popup_saves_a_one_line_note() {
    let mut a = app(2, 160, 48);
    let t0 = all_done(&mut a);
    press(&mut a, [ch('n')]);
    assert!(matches!(a.popup, Some(Popup::Note { slot: 0, .. })));
    type_str(&mut a, "rambles");
    let fx = press_all(&mut a, [key(KeyCode::Enter)]);
    assert_eq!(entries(&fx), [Entry::Note { round: 1, model: "swift-mini".into(), text: "rambles".into() }]);
    assert!(a.popup.is_none());
    assert!(screen(&a, 160, 48, t0 + ms(9000)).contains("note: rambles"));
    // Esc leaves it as it was; the editor opens with the note.
    press(&mut a, [ch('n'), ch('!'), key(KeyCode::Esc)]);
    assert_eq!(a.session.round(1).unwrap().notes["swift-mini"], "rambles");
}

#[test]
fn blind_rounds_hide_names_and_cost_until_rated() {
    let mut a = app(3, 160, 48);
    a.seed(7);
    press(&mut a, [key(KeyCode::Tab), ch('b'), ch('i')]);
    assert!(a.blind_next);
    type_str(&mut a, "hi");
    let fx = press_all(&mut a, [key(KeyCode::Enter)]);
    let Some(Effect::StartRound { models, .. }) = fx.iter().find(|f| matches!(f, Effect::StartRound { .. })) else {
        panic!("{fx:?}")
    };
    let mut sorted = models.clone();
    sorted.sort();
    assert_eq!(sorted, [0, 1, 2], "the order is a permutation");
    let Some(Entry::Round(start)) = entries(&fx).into_iter().next() else { panic!() };
    let blind = start.blind.expect("blind recorded");
    assert_eq!(blind.order, start.models);
    assert_eq!(blind.labels[&start.models[0]], "A");
    let t0 = Instant::now();
    finish_all(&mut a, t0);
    let s = screen(&a, 160, 48, t0 + ms(900));
    for n in ["swift-mini", "steady-pro", "slow-large"] {
        assert!(!s.contains(n), "{n} leaks:\n{s}");
    }
    assert!(s.contains("● A ") && s.contains("● B ") && s.contains("● C "), "{s}");
    assert!(!s.contains("$0.0") && s.contains("hidden (blind)"), "costs leak:\n{s}");
    assert!(a.notice.is_none() || !a.notice.as_deref().unwrap_or("").contains("swift"));
    // The summary would name them: refused while hidden.
    press(&mut a, [ch('v')]);
    assert!(!a.summary);
    // Scoring every answer reveals.
    press(&mut a, [ch('5'), key(KeyCode::Tab), ch('3')]);
    assert!(a.hidden());
    press(&mut a, [key(KeyCode::Tab), ch('1')]);
    assert!(!a.hidden());
    let s = screen(&a, 160, 48, t0 + ms(900));
    assert!(s.contains("swift-mini") && s.contains("$0.0"), "{s}");
    // Scores were journaled under the real names.
    let r = a.session.round(1).unwrap();
    assert_eq!(r.scores.len(), 3);
    assert_eq!(r.scores[&start.models[0]], 5);
}

#[test]
fn blind_reveal_by_key_and_by_winner_and_orders_vary() {
    let mut a = app(4, 160, 48);
    a.seed(1);
    a.blind_next = true;
    let mut orders = std::collections::BTreeSet::new();
    for i in 0..6 {
        press(&mut a, [ch('i')]);
        type_str(&mut a, "q");
        let fx = press(&mut a, [key(KeyCode::Enter)]);
        let Some(Effect::StartRound { models, .. }) = fx.last() else { panic!() };
        orders.insert(models.clone());
        let t0 = Instant::now();
        finish_all(&mut a, t0);
        assert!(a.hidden());
        if i % 2 == 0 {
            press(&mut a, [ch('B')]);
        } else {
            press(&mut a, [ch('w')]);
        }
        assert!(!a.hidden());
    }
    assert!(orders.len() > 1, "pane order is shuffled: {orders:?}");
}

#[test]
fn evaluator_results_show_in_the_pane() {
    KEEP_EVALS_PENDING.set(true);
    let mut a = app(2, 160, 48);
    type_str(&mut a, "hi");
    press(&mut a, [key(KeyCode::Enter)]);
    let t0 = Instant::now();
    let fx = finish_all(&mut a, t0);
    let evals: Vec<&Effect> = fx.iter().filter(|f| matches!(f, Effect::Evaluate { .. })).collect();
    assert_eq!(evals.len(), 2);
    assert!(fx.iter().any(|f| matches!(f, Effect::RoundDone { round: 1, answers } if answers.len() == 2)));
    assert!(screen(&a, 160, 48, t0 + ms(900)).contains("evaluating…"));
    let results = vec![eval("contains", "contains", true, None), eval("judge", "judge", false, Some(2.0))];
    let fx = a.update(Msg::Evals { round: 1, model: "swift-mini".into(), results });
    assert_eq!(entries(&fx).len(), 2);
    let s = screen(&a, 160, 48, t0 + ms(900));
    assert!(s.contains("✓ contains") && s.contains("✗ judge 2/5") && s.contains("not acceptable"), "{s}");
    let rt = a.rating(0);
    assert_eq!(rt.acceptable, Some(false));
    // Details popup.
    press(&mut a, [ch('d')]);
    assert!(matches!(a.popup, Some(Popup::Details { slot: 0, .. })));
    assert!(screen(&a, 160, 48, t0 + ms(900)).contains("judge detail"));
    KEEP_EVALS_PENDING.set(false);
}

#[test]
fn quit_with_unsaved_ratings_asks_first() {
    let mut a = app(2, 80, 24);
    all_done(&mut a);
    // Nothing rated: q quits at once.
    let mut b = app(1, 80, 24);
    assert_eq!(press(&mut b, [key(KeyCode::Tab), ch('q')]), vec![Effect::Quit]);
    press(&mut a, [ch('4'), ch('q')]);
    assert!(matches!(a.popup, Some(Popup::Quit)));
    press(&mut a, [key(KeyCode::Esc)]);
    assert!(a.popup.is_none());
    // Save and quit: the save first, the quit once it is written.
    let fx = press(&mut a, [ch('q'), ch('s')]);
    let [Effect::SaveReport(s)] = &fx[..] else { panic!("{fx:?}") };
    assert_eq!(s.round(1).unwrap().scores["swift-mini"], 4);
    let fx = a.update(Msg::Saved(Ok(vec!["/r/x.json".into(), "/r/x.md".into(), "/r/x.html".into()])));
    assert_eq!(fx, vec![Effect::Quit]);
    assert!(!a.unsaved);
    assert_eq!(a.notice.as_deref(), Some("report saved: /r/x.{json,md,html}"));
    // A failed save does not quit.
    press(&mut a, [ch('3'), ch('q'), key(KeyCode::Enter)]);
    assert!(a.update(Msg::Saved(Err("disk full".into()))).is_empty());
    assert!(a.notice.as_deref().unwrap_or("").contains("disk full"));
    // Quit without saving.
    assert_eq!(press(&mut a, [ch('q'), ch('q')]), vec![Effect::Quit]);
}

#[test]
fn save_key_sends_the_session() {
    let mut a = app(1, 80, 24);
    all_done(&mut a);
    let fx = press(&mut a, [ch('S')]);
    assert!(matches!(&fx[..], [Effect::SaveReport(s)] if s.rounds.len() == 1));
    let fx = press(&mut a, [ctrl('s')]);
    assert!(matches!(&fx[..], [Effect::SaveReport(_)]));
}

#[test]
fn summary_view_toggles() {
    let mut a = app(3, 80, 24);
    let t0 = all_done(&mut a);
    press(&mut a, [ch('v')]);
    assert!(a.summary);
    let s = screen(&a, 80, 24, t0);
    assert!(s.contains("summary · 1 rounds · 3 models") && s.contains("TTFT p50"), "{s}");
    // Keys other than close do nothing there (q closes rather than quits).
    assert!(press(&mut a, [ch('q')]).is_empty());
    assert!(!a.summary);
    press(&mut a, [ch('v'), key(KeyCode::Esc)]);
    assert!(!a.summary);
}

fn with_cases(a: &mut App) {
    a.load_cases(vec![
        case("c1", "factual", vec![Message::user("Capital of France?")]),
        case(
            "c2",
            "chat",
            vec![Message::system("Be terse."), Message::user("Hi"), Message::assistant("Hello"), Message::user("And?")],
        ),
        case("c3", "factual", vec![Message::user("2+2?")]),
    ]);
}

#[test]
fn cases_step_send_and_show_in_the_footer() {
    let mut a = app(2, 160, 48);
    with_cases(&mut a);
    assert_eq!(a.editor.lines(), ["Capital of France?"]);
    assert!(screen(&a, 160, 48, Instant::now()).contains("case 1/3 · factual"));
    press(&mut a, [Msg::Key(KeyEvent::new(KeyCode::F(8), KeyModifiers::NONE))]);
    assert_eq!(a.editor.lines(), ["And?"]);
    // Edit the last user turn and send: the whole conversation goes, with the edit.
    type_str(&mut a, "!");
    let fx = press_all(&mut a, [key(KeyCode::Enter)]);
    let Some(Effect::StartRound { messages, case, .. }) = fx.iter().find(|f| matches!(f, Effect::StartRound { .. }))
    else {
        panic!()
    };
    assert_eq!(*case, Some(1));
    assert_eq!(messages.len(), 4);
    assert_eq!(messages[3].content, "And?!");
    assert_eq!(messages[0], Message::system("Be terse."));
    let Some(Entry::Round(start)) = entries(&fx).into_iter().next() else { panic!() };
    assert_eq!((start.case_id.as_deref(), start.category.as_deref()), (Some("c2"), Some("chat")));
    // In the panes, ] and [ step; they stop at the ends.
    press(&mut a, [ch(']'), ch(']')]);
    assert_eq!(a.case_idx, 2);
    press(&mut a, [ch('['), ch('['), ch('[')]);
    assert_eq!(a.case_idx, 0);
}

#[test]
fn unattended_run_sends_each_case_after_the_previous_round() {
    let mut a = app(2, 160, 48);
    with_cases(&mut a);
    let fx = press(&mut a, [key(KeyCode::Tab), ch('A')]);
    assert!(matches!(&fx[..], [Effect::StartRound { case: Some(0), run: 1, .. }]), "{fx:?}");
    assert!(a.auto);
    let fx = finish_all(&mut a, Instant::now());
    assert!(fx.iter().any(|f| matches!(f, Effect::StartRound { case: Some(1), run: 2, .. })), "{fx:?}");
    let fx = finish_all(&mut a, Instant::now());
    assert!(fx.iter().any(|f| matches!(f, Effect::StartRound { case: Some(2), run: 3, .. })));
    let fx = finish_all(&mut a, Instant::now());
    assert!(!fx.iter().any(|f| matches!(f, Effect::StartRound { .. })));
    assert!(!a.auto);
    assert_eq!(a.session.rounds.len(), 3);
    // Any key stops a run (the round in flight goes on).
    press(&mut a, [ch('['), ch('A')]);
    assert!(a.auto);
    assert!(press(&mut a, [ch('j')]).is_empty());
    assert!(!a.auto);
    let fx = finish_all(&mut a, Instant::now());
    assert!(!fx.iter().any(|f| matches!(f, Effect::StartRound { .. })));
    // Ctrl-C stops the run and goes on to quit, as it does everywhere (not swallowed).
    press(&mut a, [ch('A')]);
    assert!(a.auto);
    let fx = press(&mut a, [ctrl('c')]);
    assert!(!a.auto);
    assert!(a.popup.is_some() || fx.contains(&Effect::Quit), "Ctrl-C quits (or asks to): {fx:?}");
}

#[test]
fn a_new_round_still_journals_the_old_rounds_outcome() {
    let mut a = app(1, 80, 24);
    type_str(&mut a, "hi");
    press(&mut a, [key(KeyCode::Enter)]);
    let t0 = Instant::now();
    headers(&mut a, t0, 0, 10);
    press(&mut a, [ch('r')]);
    assert_eq!(a.round, 2);
    let id = RequestId { run: 1, slot: 0 };
    let fx = a.update(Msg::Stream(StreamEvent { id, at: t0 + ms(50), kind: EventKind::Cancelled }, Counted::default()));
    assert!(matches!(&entries(&fx)[..], [Entry::Result { round: 1, result }] if result.status == Status::Cancelled));
}

#[test]
fn resume_restores_rounds_scores_and_cost() {
    let mut a = app(3, 160, 48);
    let t0 = all_done(&mut a);
    press(&mut a, [ch('4'), key(KeyCode::Tab), ch('n')]);
    type_str(&mut a, "ok");
    press(&mut a, [key(KeyCode::Enter)]);
    let cost = a.session_cost().label();
    let session = a.session.clone();
    let mut b = app(3, 160, 48);
    b.restore(session);
    assert_eq!(b.round, 1);
    assert_eq!(b.session_cost().label(), cost);
    assert_eq!(b.panes.len(), 3);
    assert!(b.panes[0].text.starts_with("TCP is"));
    assert_eq!(b.rating(0).score, Some(4));
    assert_eq!(b.rating(1).note.as_deref(), Some("ok"));
    assert_eq!(b.history.len(), 1);
    let s = screen(&b, 160, 48, t0);
    assert!(s.contains("score ★★★★☆") && s.contains("TTFT 200ms") && s.contains("(resumed)"), "{s}");
    // Scores can still change until the next round; numbering continues.
    let fx = press(&mut b, [ch('i')]);
    assert!(fx.is_empty());
    type_str(&mut b, "next");
    let fx = press(&mut b, [key(KeyCode::Enter)]);
    assert!(matches!(&fx[..], [Effect::StartRound { run: 2, .. }]));
}

#[test]
fn resume_keeps_blind_mode_models_and_theme() {
    let mut a = app(3, 160, 48);
    assert!(a.themes.len() > 1, "built-in themes");
    a.theme = 1;
    a.blind_next = true;
    a.selected[2] = false;
    type_str(&mut a, "hi");
    press(&mut a, [key(KeyCode::Enter)]);
    let session = a.session.clone();
    let mut b = app(3, 160, 48);
    assert!(!b.blind_next && b.theme == 0);
    b.restore(session);
    assert!(b.blind_next, "blind rounds stay blind");
    assert_eq!(b.selected, [true, true, false]);
    assert_eq!(b.theme().name, a.theme().name);
}

/// A finished round, scored, with evaluator results.
fn scored_round(a: &mut App) -> Instant {
    let t0 = all_done(a);
    a.update(Msg::Evals {
        round: 1,
        model: "swift-mini".into(),
        results: vec![eval("contains", "contains", true, None), eval("json", "json_valid", true, None)],
    });
    a.update(Msg::Evals {
        round: 1,
        model: "steady-pro".into(),
        results: vec![eval("contains", "contains", true, None), eval("judge:x", "judge", false, Some(2.0))],
    });
    press(a, [ch('4'), ch('w'), key(KeyCode::Tab), ch('2'), ch('n')]);
    type_str(a, "misses the point");
    press(a, [key(KeyCode::Enter)]);
    t0
}

#[test]
fn snapshot_scored_round() {
    let mut a = app(3, 80, 24);
    let t0 = scored_round(&mut a);
    a.notice = None;
    snap!("scored", a, t0 + ms(9000));
}

#[test]
fn snapshot_blind_before_and_after_reveal() {
    let mut a = app(3, 80, 24);
    a.seed(3);
    a.blind_next = true;
    let t0 = all_done(&mut a);
    a.notice = None;
    snap!("blind_hidden", a, t0 + ms(9000));
    press(&mut a, [ch('5'), key(KeyCode::Tab), ch('3'), key(KeyCode::Tab), ch('2')]);
    assert!(!a.hidden());
    snap!("blind_revealed", a, t0 + ms(9000));
}

#[test]
fn snapshot_summary() {
    let mut a = app(3, 80, 24);
    let t0 = scored_round(&mut a);
    press(&mut a, [ch('r')]);
    let t1 = Instant::now();
    for slot in 0..3 {
        headers(&mut a, t1, slot, 120 + 200 * slot as u64);
        let end = stream(&mut a, t1, slot, 300 + 150 * slot as u64, 25, TCP2);
        finish(&mut a, t1, slot, end, Some((28, 20)));
    }
    press(&mut a, [ch('5'), key(KeyCode::Tab), ch('3'), ch('v')]);
    a.notice = None;
    snap!("summary", a, t0);
}

#[test]
fn snapshot_quit_popup_and_case_footer() {
    let mut a = app(3, 80, 24);
    with_cases(&mut a);
    let t0 = all_done(&mut a);
    press(&mut a, [ch('4'), ch('q')]);
    a.notice = None;
    snap!("quit_popup", a, t0 + ms(9000));
    press(&mut a, [key(KeyCode::Esc), ch(']')]);
    a.notice = None;
    snap!("case_footer", a, t0 + ms(9000));
}

#[test]
fn settling_until_outcomes_and_evaluations_are_journaled() {
    KEEP_EVALS_PENDING.set(true);
    let mut a = app(1, 80, 24);
    assert!(!a.settling());
    type_str(&mut a, "hi");
    press(&mut a, [key(KeyCode::Enter)]);
    assert!(a.settling(), "a request is running");
    finish_all(&mut a, Instant::now());
    assert!(a.settling(), "its evaluation is pending");
    a.update(Msg::Evals { round: 1, model: "swift-mini".into(), results: vec![] });
    assert!(!a.settling());
    KEEP_EVALS_PENDING.set(false);
}

#[test]
fn a_multi_turn_case_goes_on_from_each_models_own_answer() {
    let mut a = app(2, 80, 24);
    let mut c = case("recall", "memory", vec![Message::user("My name is Priya.")]);
    c.turns = vec!["What is my name?".into()];
    a.load_cases(vec![c]);
    let fx = press_all(&mut a, [key(KeyCode::Enter)]);
    assert!(fx.iter().any(|f| matches!(f, Effect::StartRound { case: Some(0), .. })), "{fx:?}");
    let Some(Entry::Round(start)) = entries(&fx).into_iter().next() else { panic!() };
    assert_eq!(start.follow_ups, ["What is my name?"]);
    let t0 = Instant::now();
    // Turn 1 of model 0 ends: journaled as an earlier turn, and the follow-up goes after its answer.
    headers(&mut a, t0, 0, 50);
    stream(&mut a, t0, 0, 60, 5, "Nice to meet you, Priya.");
    let fx = ev(&mut a, t0, 0, 200, EventKind::Finished { reason: Some("stop".into()) });
    let results: Vec<_> = entries(&fx)
        .into_iter()
        .filter_map(|e| match e {
            Entry::Result { result, .. } => Some(result),
            _ => None,
        })
        .collect();
    assert_eq!(results.len(), 1);
    assert!(results[0].intermediate && results[0].turn == Some(1));
    assert!(!fx.iter().any(|f| matches!(f, Effect::Evaluate { .. })), "an earlier turn is not the case's answer");
    let Some(Effect::ContinueTurn { run: 1, slot: 0, model: 0, messages }) =
        fx.iter().find(|f| matches!(f, Effect::ContinueTurn { .. }))
    else {
        panic!("{fx:?}")
    };
    assert_eq!(
        messages,
        &vec![
            Message::user("My name is Priya."),
            Message::assistant("Nice to meet you, Priya."),
            Message::user("What is my name?")
        ]
    );
    assert!(a.panes[0].is_running() && a.panes[0].text.is_empty());
    assert!(screen(&a, 80, 24, t0 + ms(300)).contains("▸ you: What is my name?"));
    // Its second turn ends: the case's answer, evaluated.
    headers(&mut a, t0, 0, 300);
    stream(&mut a, t0, 0, 320, 5, "Your name is Priya.");
    let fx = ev(&mut a, t0, 0, 400, EventKind::Finished { reason: Some("stop".into()) });
    let Some(Entry::Result { result, .. }) = entries(&fx).into_iter().find(|e| matches!(e, Entry::Result { .. }))
    else {
        panic!()
    };
    assert_eq!((result.turn, result.intermediate, result.output.as_str()), (Some(2), false, "Your name is Priya."));
    assert!(fx.iter().any(|f| matches!(f, Effect::Evaluate { .. })));
    // Model 1 fails its first turn: that is its answer to the case, marked where it stopped.
    headers(&mut a, t0, 1, 50);
    let fx = ev(&mut a, t0, 1, 60, EventKind::Failed(RequestError::new(ErrorKind::Http, "500")));
    let Some(Entry::Result { result, .. }) = entries(&fx).into_iter().find(|e| matches!(e, Entry::Result { .. }))
    else {
        panic!()
    };
    assert_eq!(result.turn, Some(1));
    assert!(result.warning.as_deref().unwrap().contains("stopped at turn 1 of 2"));
    let r = a.session.round(1).unwrap();
    assert_eq!(r.turns["swift-mini"].len(), 1);
    assert!(r.is_complete());
}
