use super::*;
use crate::metrics::RequestMetrics;
use crate::provider::Message;
use crate::session::{BatchPlan, PlannedModel, RoundStart};
use db::Backend;

fn result(model: &str, ttft: f64, ok: bool) -> Box<crate::metrics::RequestResult> {
    let mut r = RequestMetrics::new(None, 3).result(model, "openai");
    r.status = if ok { "ok" } else { "error" }.parse().unwrap();
    r.ttft_ms = Some(ttft);
    r.latency_ms = Some(ttft * 4.0);
    r.output_tokens = 20;
    r.cost_usd = Some(0.001);
    r.output = format!("answer of {model}");
    Box::new(r)
}

fn env() -> Environment {
    let mut e = Environment::here("batch", 4, "2026-04-30");
    e.plan = Some(BatchPlan {
        cases: "/tmp/sets/factual.jsonl".into(),
        cases_hash: "fnv1a64:1234".into(),
        models: ["a", "b"]
            .iter()
            .map(|m| PlannedModel {
                name: m.to_string(),
                provider: "openai".into(),
                model: m.to_string(),
                settings: format!("fnv1a64:{m}"),
            })
            .collect(),
        repeat: 1,
        ..Default::default()
    });
    e
}

/// A run's entries: `rounds` cases, models a and b, b slower by `slower` ms.
fn entries(rounds: u64, slower: f64) -> Vec<Entry> {
    let mut out = Vec::new();
    for round in 1..=rounds {
        out.push(Entry::Round(RoundStart {
            round,
            started_at: "2026-12-01T00:00:00Z".into(),
            messages: vec![Message::user(format!("question {round}"))],
            models: vec!["a".into(), "b".into()],
            case_id: Some(format!("case-{round}")),
            category: Some("general".into()),
            repeat: Some(0),
            blind: None,
            theme: None,
            turn: None,
            context: Default::default(),
            follow_ups: Vec::new(),
        }));
        out.push(Entry::Result { round, result: result("a", 100.0 + round as f64, true) });
        out.push(Entry::Result { round, result: result("b", 200.0 + slower + round as f64, round % 5 != 0) });
        out.push(Entry::Score { round, model: "a".into(), score: Some(5) });
    }
    out
}

fn session_of(started_at: &str, entries: &[Entry]) -> Session {
    let mut s = Session::default();
    s.apply(&Entry::Session { version: 1, started_at: started_at.into(), environment: env() });
    for e in entries {
        s.apply(e);
    }
    s
}

fn write_journal(path: &Path, started_at: &str, entries: &[Entry]) {
    let mut text =
        serde_json::to_string(&Entry::Session { version: 1, started_at: started_at.into(), environment: env() })
            .unwrap();
    text.push('\n');
    for e in entries {
        text.push_str(&serde_json::to_string(e).unwrap());
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

/// The store scenarios below, each a test on a history file, and all of them together on
/// PostgreSQL ([`the_store_works_the_same_on_postgresql`]).
macro_rules! store_scenarios {
    ($($test:ident => $scenario:ident),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                let dir = tempfile::tempdir().unwrap();
                $scenario(&Location::File(dir.path().join("h/history.sqlite")), dir.path());
            }
        )*
        type Scenario = fn(&Location, &Path);
        const SCENARIOS: &[(&str, Scenario)] = &[$((stringify!($test), $scenario)),*];
    };
}

store_scenarios! {
    a_recorded_run_lists_and_rebuilds_into_the_same_report => a_recorded_run_lists_and_rebuilds_into_the_same_report_on,
    a_killed_run_is_incomplete_and_keeps_what_finished => a_killed_run_is_incomplete_and_keeps_what_finished_on,
    two_writers_at_once_both_land => two_writers_at_once_both_land_on,
    importing_a_journal_twice_records_it_once => importing_a_journal_twice_records_it_once_on,
    a_trend_marks_a_consistent_slowdown_and_not_noise => a_trend_marks_a_consistent_slowdown_and_not_noise_on,
    alert_rules_fire_on_real_changes_and_not_on_noise => alert_rules_fire_on_real_changes_and_not_on_noise_on,
    the_tui_overview_has_the_models_on_screen_only => the_tui_overview_has_the_models_on_screen_only_on,
}

fn a_recorded_run_lists_and_rebuilds_into_the_same_report_on(db: &Location, dir: &Path) {
    let es = entries(10, 0.0);
    let session = session_of("2026-12-01T10:00:00Z", &es);
    let meta = RunMeta::for_journal(&session, &dir.join("run-batch.jsonl"), Some("week-49".into()));
    let mut rec = Recorder::start(db, &meta, |e| panic!("{e:#}"));
    for e in &es {
        rec.record(e);
    }
    let id = rec.run_id().unwrap();
    rec.finish(false);

    let store = Store::open(db).unwrap();
    let runs = store.runs(&RunFilter::default()).unwrap();
    assert_eq!(runs.len(), 1);
    let r = &runs[0];
    assert_eq!((r.id, r.state, r.requests, r.errors), (id, RunState::Complete, 20, 2));
    assert_eq!(r.models, ["a", "b"]);
    assert_eq!(r.label.as_deref(), Some("week-49"));
    assert_eq!(r.cases_hash.as_deref(), Some("fnv1a64:1234"));
    assert_eq!(r.host, host());
    // Everything a report needs comes back: the same figures as from the session itself.
    let rebuilt = store.session(id).unwrap();
    let opts = crate::report::ReportOptions { generated_at: Some(String::new()), ..Default::default() };
    assert_eq!(
        crate::report::to_json(&crate::report::build(&rebuilt, &opts)),
        crate::report::to_json(&crate::report::build(&session, &opts))
    );
    // Filters.
    let f = |f: RunFilter| store.runs(&f).unwrap().len();
    assert_eq!(f(RunFilter { label: Some("week-49".into()), ..Default::default() }), 1);
    assert_eq!(f(RunFilter { label: Some("other".into()), ..Default::default() }), 0);
    assert_eq!(f(RunFilter { model: Some("b".into()), ..Default::default() }), 1);
    assert_eq!(f(RunFilter { model: Some("c".into()), ..Default::default() }), 0);
    assert_eq!(f(RunFilter { cases: Some("factual.jsonl".into()), ..Default::default() }), 1);
    assert_eq!(f(RunFilter { since: Some("2026-12-02T00:00:00Z".into()), ..Default::default() }), 0);
    let text = render_runs(&runs, &Location::from(db));
    assert!(text.contains("complete") && text.contains("week-49") && text.contains("factual.jsonl"), "{text}");
    assert!(text.contains("20 (2 err)"), "{text}");
}

fn a_killed_run_is_incomplete_and_keeps_what_finished_on(db: &Location, _dir: &Path) {
    let es = entries(4, 0.0);
    let meta = RunMeta::for_journal(&session_of("2026-12-01T10:00:00Z", &es), Path::new("k.jsonl"), None);
    let mut rec = Recorder::start(db, &meta, |e| panic!("{e:#}"));
    for e in &es[..6] {
        rec.record(e);
    }
    let id = rec.run_id().unwrap();
    // While its process lives it is running; a process that is gone (killed) leaves it
    // incomplete, never complete.
    let store = Store::open(db).unwrap();
    assert_eq!(store.runs(&RunFilter::default()).unwrap()[0].state, RunState::Running);
    drop(rec);
    store.db.execute("UPDATE runs SET pid = 999999999 WHERE id = ?1", vals![id]).unwrap();
    let runs = store.runs(&RunFilter::default()).unwrap();
    assert_eq!((runs[0].state, runs[0].requests), (RunState::Incomplete, 3));
    // Another machine's run (a shared history): running while it keeps writing, incomplete once
    // it has been silent for long.
    let recently = crate::session::rfc3339(std::time::SystemTime::now() - std::time::Duration::from_secs(60));
    store
        .db
        .execute("UPDATE runs SET host = 'ci-runner-7', updated_at = ?2 WHERE id = ?1", vals![id, recently])
        .unwrap();
    assert_eq!(store.runs(&RunFilter::default()).unwrap()[0].state, RunState::Running);
    store.db.execute("UPDATE runs SET updated_at = '2026-01-01T00:00:00Z' WHERE id = ?1", vals![id]).unwrap();
    assert_eq!(store.runs(&RunFilter::default()).unwrap()[0].state, RunState::Incomplete);
    // An interrupted run says so.
    let mut rec = Recorder::start(db, &RunMeta::unjournaled(env(), None), |e| panic!("{e:#}"));
    rec.record(&es[0]);
    rec.finish(true);
    assert_eq!(store.runs(&RunFilter::default()).unwrap()[1].state, RunState::Interrupted);
}

fn two_writers_at_once_both_land_on(db: &Location, _dir: &Path) {
    Store::open(db).unwrap();
    let handles: Vec<_> = (0..2)
        .map(|w| {
            let db = db.clone();
            std::thread::spawn(move || {
                let es = entries(25, w as f64);
                let meta = RunMeta::for_journal(
                    &session_of("2026-12-01T10:00:00Z", &es),
                    Path::new(&format!("w{w}.jsonl")),
                    None,
                );
                let mut rec = Recorder::start(db, &meta, |e| panic!("{e:#}"));
                for e in &es {
                    rec.record(e);
                }
                rec.finish(false);
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let runs = Store::open(db).unwrap().runs(&RunFilter::default()).unwrap();
    assert_eq!(runs.len(), 2);
    assert!(runs.iter().all(|r| r.requests == 50 && r.state == RunState::Complete), "{runs:?}");
}

fn importing_a_journal_twice_records_it_once_on(db: &Location, dir: &Path) {
    let journal = dir.join("20261201-100000-001-p1-batch.jsonl");
    let es = entries(6, 0.0);
    write_journal(&journal, "2026-12-01T10:00:00Z", &es);
    let mut store = Store::open(db).unwrap();
    let (id, new) = store.import_journal(&journal).unwrap();
    assert!(new);
    assert_eq!(store.import_journal(&journal).unwrap(), (id, false));
    // The same journal recorded live (its first entry and file name) is found too.
    let copy = dir.join("elsewhere");
    std::fs::create_dir(&copy).unwrap();
    std::fs::copy(&journal, copy.join(journal.file_name().unwrap())).unwrap();
    assert_eq!(store.import_journal(&copy.join(journal.file_name().unwrap())).unwrap(), (id, false));
    let runs = store.runs(&RunFilter::default()).unwrap();
    assert_eq!((runs.len(), runs[0].requests, runs[0].state), (1, 12, RunState::Complete));
    assert!(store.import_journal(&dir.join("missing.jsonl")).is_err());
}

#[test]
fn an_older_schema_is_migrated_and_a_newer_one_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.sqlite");
    {
        // A history written by a bakeoff of schema version 1, with a run in it.
        let conn = db::Sqlite::open(&db, std::time::Duration::from_secs(1)).unwrap();
        let conn: &dyn Backend = &conn;
        schema::migrate_to(conn, 1).unwrap();
        assert_eq!(conn.query_one("PRAGMA user_version", &[]).unwrap().int(0).unwrap(), 1);
        conn.execute(
            "INSERT INTO runs (uid, started_at, status, mode, bakeoff_version, host, environment) \
             VALUES ('old', '2026-10-01T00:00:00Z', 'complete', 'batch', '0.1.0', 'h', ?1)",
            vals![serde_json::to_string(&env()).unwrap()],
        )
        .unwrap();
        assert!(conn.query("SELECT * FROM load_summaries", &[]).is_err(), "version 1 has no load summaries");
    }
    let store = Store::open(&db).unwrap();
    let v = store.db.query_one("PRAGMA user_version", &[]).unwrap().int(0).unwrap();
    assert_eq!(v, schema::VERSION);
    const { assert!(schema::VERSION >= 3) };
    let runs = store.runs(&RunFilter::default()).unwrap();
    assert_eq!((runs.len(), runs[0].started_at.as_str()), (1, "2026-10-01T00:00:00Z"), "its runs are kept");
    assert_eq!(runs[0].requests, 0);
    drop(store);
    // Opening again changes nothing.
    Store::open(&db).unwrap();
    let conn = db::Sqlite::open(&db, std::time::Duration::from_secs(1)).unwrap();
    conn.set_schema_version(schema::VERSION + 1).unwrap();
    drop(conn);
    let err = Store::open(&db).err().unwrap();
    assert!(format!("{err:#}").contains("newer than this bakeoff"), "{err:#}");
}

#[test]
fn since_takes_ages_and_dates() {
    assert_eq!(parse_since("2026-11-01").unwrap(), "2026-11-01T00:00:00Z");
    assert_eq!(parse_since("2026-11-01T12:00:00Z").unwrap(), "2026-11-01T12:00:00Z");
    let day_ago = parse_since("1d").unwrap();
    let now = crate::session::rfc3339(std::time::SystemTime::now());
    assert!(day_ago < now && day_ago.len() == now.len());
    assert!(parse_since("30d").unwrap() < day_ago);
    for bad in ["", "30", "30y", "x1d", "tomorrow", "2026-1-1"] {
        assert!(parse_since(bad).is_err(), "{bad}");
    }
}

#[test]
fn a_history_that_cannot_open_warns_and_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    // A directory where the database file should be.
    let db = dir.path().join("history.sqlite");
    std::fs::create_dir(&db).unwrap();
    let warned = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let w = warned.clone();
    let mut rec = Recorder::start(&db, &RunMeta::unjournaled(env(), None), move |_| {
        w.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    assert!(warned.load(std::sync::atomic::Ordering::SeqCst));
    assert_eq!(rec.run_id(), None);
    rec.record(&entries(1, 0.0)[0]);
    rec.finish(false);
}

/// Records a run of `es` started at `at` in `db`.
fn record_run(db: &Location, at: &str, name: &str, es: &[Entry]) -> i64 {
    let meta = RunMeta::for_journal(&session_of(at, es), Path::new(name), None);
    let mut rec = Recorder::start(db, &meta, |e| panic!("{e:#}"));
    for e in es {
        rec.record(e);
    }
    let id = rec.run_id().unwrap();
    rec.finish(false);
    id
}

fn a_trend_marks_a_consistent_slowdown_and_not_noise_on(db: &Location, _dir: &Path) {
    use trend::{Metric, trend};
    let first = record_run(db, "2026-11-01T06:00:00Z", "w1.jsonl", &entries(20, 0.0));
    // Noise: b's TTFT moves ±5 ms case by case, with no direction.
    let mut noisy = entries(20, 0.0);
    for e in &mut noisy {
        if let Entry::Result { round, result } = e
            && result.model == "b"
        {
            result.ttft_ms = result.ttft_ms.map(|t| t + if *round % 2 == 0 { 5.0 } else { -5.0 });
        }
    }
    let second = record_run(db, "2026-11-08T06:00:00Z", "w2.jsonl", &noisy);
    // b got 80 ms slower on every case.
    let third = record_run(db, "2026-11-15T06:00:00Z", "w3.jsonl", &entries(20, 80.0));
    let store = Store::open(db).unwrap();
    let all = RunFilter::default();

    let t = trend(&store, Metric::TtftP50, &all, None).unwrap();
    assert_eq!(t.runs.iter().map(|r| r.id).collect::<Vec<_>>(), [first, second, third]);
    let b = t.series.iter().find(|s| s.model == "b").unwrap();
    assert_eq!(b.points.len(), 3);
    let c = b.change.as_ref().unwrap();
    // b fails one case in five: those have no TTFT to compare.
    assert_eq!((c.from_run, c.to_run, c.cases), (second, third, 16));
    assert!(c.significant && c.worse, "{c:?}");
    assert!(c.diff.unwrap() > 60.0, "{c:?}");
    let a = t.series.iter().find(|s| s.model == "a").unwrap();
    assert!(!a.change.as_ref().unwrap().significant, "a did not change");
    let html = trend::to_html(&t);
    assert_eq!(html.matches("<polyline").count(), 2, "a line per model");
    assert!(html.contains("default-src 'none'") && !html.to_lowercase().contains("<script"));
    assert!(html.contains("<td class=\"fail\">+"), "the slowdown is marked in the table: {html}");
    let text = trend::render(&t);
    assert!(text.contains("▲ significantly worse"), "{text}");
    assert!(text.contains("~ not significant"), "{text}");

    // Up to the noisy run only: ±5 ms without a direction is not significant.
    store.db.execute("UPDATE runs SET label = 'early' WHERE id IN (?1, ?2)", vals![first, second]).unwrap();
    let early = RunFilter { label: Some("early".into()), ..Default::default() };
    let t = trend(&store, Metric::TtftP50, &early, Some("b")).unwrap();
    assert_eq!(t.series.len(), 1);
    let c = t.series[0].change.as_ref().unwrap();
    assert!(!c.significant, "noise is not a change: {c:?}");
    // Error rate and acceptance come from the same runs; b fails one case in five.
    let t = trend(&store, Metric::ErrorRate, &all, Some("b")).unwrap();
    assert_eq!(t.series[0].points.iter().map(|p| p.value).collect::<Vec<_>>(), [Some(0.2); 3]);
    // No runs: a clear error.
    let none = RunFilter { label: Some("nothing".into()), ..Default::default() };
    assert!(trend(&store, Metric::TtftP50, &none, None).is_err());
}

fn rules(toml_text: &str) -> Vec<crate::config::AlertRule> {
    #[derive(serde::Deserialize)]
    struct F {
        alerts: Vec<crate::config::AlertRule>,
    }
    toml::from_str::<F>(toml_text).unwrap().alerts
}

fn alert_rules_fire_on_real_changes_and_not_on_noise_on(db: &Location, _dir: &Path) {
    use alerts::{Scope, check};
    record_run(db, "2026-11-01T06:00:00Z", "w1.jsonl", &entries(20, 0.0));
    record_run(db, "2026-11-08T06:00:00Z", "w2.jsonl", &entries(20, 2.0));
    let noisy = {
        let mut es = entries(20, 0.0);
        for e in &mut es {
            if let Entry::Result { round, result } = e
                && result.model == "b"
            {
                result.ttft_ms = result.ttft_ms.map(|t| t + if *round % 2 == 0 { 6.0 } else { -6.0 });
            }
        }
        es
    };
    let calm = record_run(db, "2026-11-15T06:00:00Z", "w3.jsonl", &noisy);
    let store = Store::open(db).unwrap();
    let regression = rules(
        "[[alerts]]\nrule = \"regression\"\nmodel = \"b\"\nmetric = \"ttft_p50\"\nthreshold = \"20%\"\nbaseline_runs = 4\n",
    );
    assert!(check(&store, &regression, Scope::Run(calm)).unwrap().is_empty(), "noise fires nothing");

    // b 80 ms slower on every case: past the 20% threshold (of ~210 ms) and significant.
    let slow = record_run(db, "2026-11-22T06:00:00Z", "w4.jsonl", &entries(20, 80.0));
    let fired = check(&store, &regression, Scope::Run(slow)).unwrap();
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!((fired[0].rule, fired[0].model.as_str(), fired[0].run), ("regression", "b", slow));
    assert!(fired[0].message.contains("worse by more than 20%"), "{}", fired[0].message);
    // Significant but within a 50% threshold: nothing.
    let lenient =
        rules("[[alerts]]\nrule = \"regression\"\nmodel = \"b\"\nmetric = \"ttft_p50\"\nthreshold = \"50%\"\n");
    assert!(check(&store, &lenient, Scope::Run(slow)).unwrap().is_empty());
    // An absolute threshold in the metric's unit.
    let absolute = rules("[[alerts]]\nrule = \"regression\"\nmodel = \"b\"\nmetric = \"ttft_p50\"\nthreshold = 50\n");
    assert_eq!(check(&store, &absolute, Scope::Run(slow)).unwrap().len(), 1);

    // best: a answers faster than b on every case.
    let best = rules("[[alerts]]\nrule = \"best\"\nprimary = \"b\"\nby = \"ttft_p50\"\n");
    let fired = check(&store, &best, Scope::LatestOfEachCaseSet).unwrap();
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!((fired[0].rule, fired[0].model.as_str()), ("best", "a"));
    let best_a = rules("[[alerts]]\nrule = \"best\"\nprimary = \"a\"\nby = \"ttft_p50\"\n");
    assert!(check(&store, &best_a, Scope::LatestOfEachCaseSet).unwrap().is_empty(), "a is the best");

    // slo: limits in the metric's unit; one model or all.
    let slo = rules(
        "[[alerts]]\nrule = \"slo\"\nmetric = \"ttft_p50\"\nmax = 250\n\n[[alerts]]\nrule = \"slo\"\nmodel = \"a\"\nmetric = \"error_rate\"\nmax = 0.1\n\n[[alerts]]\nrule = \"slo\"\nmetric = \"acceptance\"\nmin = 0.5\ncases = \"other.jsonl\"\n",
    );
    let fired = check(&store, &slo, Scope::Run(slow)).unwrap();
    assert_eq!(fired.iter().map(|a| (a.rule, a.model.as_str())).collect::<Vec<_>>(), [("slo", "b")], "{fired:?}");
    assert!(fired[0].message.contains("above its max 250ms"), "{}", fired[0].message);
}

fn the_tui_overview_has_the_models_on_screen_only_on(db: &Location, _dir: &Path) {
    let store = Store::open(db).unwrap();
    let none = "none of these models has a run in the results history of the last 90 days";
    assert_eq!(trend::overview(&store, &["b".into()]).unwrap(), none);
    let now = crate::session::rfc3339(std::time::SystemTime::now());
    record_run(db, &now, "w1.jsonl", &entries(10, 0.0));
    let text = trend::overview(&store, &["b".into()]).unwrap();
    assert!(
        text.contains("ttft_p95 (ms)") && text.contains("acceptance") && text.contains("cost_per_accept"),
        "{text}"
    );
    assert!(text.lines().any(|l| l.starts_with("b ")) && !text.lines().any(|l| l.starts_with("a ")), "{text}");
    assert_eq!(trend::overview(&store, &["zeta".into()]).unwrap(), none);
    // A session that has not answered yet (the TUI's own, just started) does not hide the case set.
    let tui = RunMeta::unjournaled(Environment::here("tui", 2, ""), None);
    let mut rec = Recorder::start(db, &tui, |e| panic!("{e:#}"));
    rec.record(&entries(1, 0.0)[0]);
    assert!(trend::overview(&store, &["b".into()]).unwrap().contains("factual.jsonl"));
}

/// Every store test above, on a PostgreSQL server the test starts (one database each), and the
/// schema's migration there.
#[test]
fn the_store_works_the_same_on_postgresql() {
    let Some(server) = super::pg_server::PgServer::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let at = |name: &str| {
        server.create_database(name);
        Location::Postgres(postgres::Target::parse(&server.url(name), true).unwrap())
    };
    for (i, (name, scenario)) in SCENARIOS.iter().enumerate() {
        let work = dir.path().join(name);
        std::fs::create_dir(&work).unwrap();
        scenario(&at(&format!("scenario{i}")), &work);
    }

    // A history of schema version 1 with a run in it is migrated, its run kept; a newer one is
    // refused.
    let old = at("old");
    let Location::Postgres(target) = &old else { unreachable!() };
    {
        let conn = postgres::Postgres::connect(target).unwrap();
        let conn: &dyn Backend = &conn;
        schema::migrate_to(conn, 1).unwrap();
        conn.execute(
            "INSERT INTO runs (uid, started_at, status, mode, bakeoff_version, host, environment) \
             VALUES ('old', '2026-10-01T00:00:00Z', 'complete', 'batch', '0.1.0', 'h', ?1)",
            vals![serde_json::to_string(&env()).unwrap()],
        )
        .unwrap();
        assert!(conn.query("SELECT * FROM load_summaries", &[]).is_err(), "version 1 has no load summaries");
    }
    let store = Store::open(&old).unwrap();
    assert_eq!(store.db.query_one("SELECT version FROM schema_version", &[]).unwrap().int(0).unwrap(), schema::VERSION);
    let runs = store.runs(&RunFilter::default()).unwrap();
    assert_eq!((runs.len(), runs[0].started_at.as_str()), (1, "2026-10-01T00:00:00Z"), "its runs are kept");
    store.db.execute("UPDATE schema_version SET version = ?1", vals![schema::VERSION + 1]).unwrap();
    drop(store);
    let err = Store::open(&old).err().unwrap();
    assert!(format!("{err:#}").contains("newer than this bakeoff"), "{err:#}");
    // The password is in no error and in no name.
    let wrong = Location::Postgres(
        postgres::Target::parse(&server.url("old").replace(&server.password, "not-the-password"), true).unwrap(),
    );
    let err = format!("{:#}", Store::open(&wrong).err().unwrap());
    assert!(err.contains("password authentication failed") && !err.contains("not-the-password"), "{err}");
    assert!(!old.to_string().contains(&server.password), "{old}");
}

/// `sslmode` as libpq means it, against a server with TLS on: `disable` is plain, `prefer` and
/// `require` encrypt without checking the certificate, `verify-full` checks it and connects only
/// with the CA that signed it (`sslrootcert`).
#[test]
fn postgresql_tls_follows_sslmode() {
    let Some(server) = super::pg_server::PgServer::start_with_tls() else { return };
    server.create_database("tls");
    let url =
        |query: &str| format!("postgres://{}:{}@localhost:{}/tls?{query}", server.user, server.password, server.port);
    let encrypted = |query: &str| -> anyhow::Result<bool> {
        let store = Store::open(Location::Postgres(postgres::Target::parse(&url(query), true)?))?;
        store.db.query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[])?.bool(0)
    };
    assert!(!encrypted("sslmode=disable").unwrap());
    assert!(encrypted("sslmode=prefer").unwrap());
    assert!(encrypted("sslmode=require").unwrap(), "require encrypts, and does not check the certificate");
    let err = format!("{:#}", encrypted("sslmode=verify-full").unwrap_err());
    assert!(err.contains("certificate"), "an unknown issuer is refused: {err}");
    let ca = server.ca().display().to_string();
    assert!(encrypted(&format!("sslmode=verify-full&sslrootcert={ca}")).unwrap());
}
