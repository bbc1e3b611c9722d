//! Files an earlier bakeoff wrote still read, and write back byte for byte.
//!
//! `tests/fixtures/v0.1.0/` was written by bakeoff 0.1.0 at commit 05fb454 — before request
//! statuses and evaluator kinds became enums, before the report code was split up — against
//! `bakeoff mock-server`: a case-set run (`journal.jsonl`; `report.json` with its `report.md` and
//! `report.html`: statuses ok and error, every evaluator kind but the judge, tool calls) and a
//! load run (`load.json`, `records.jsonl`; `load.txt` is what `bakeoff report load.json`
//! printed). Nothing in them was edited.

use bakeoff::eval::EvaluatorKind;
use bakeoff::metrics::Status;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v0.1.0").join(name)
}

fn read(name: &str) -> String {
    std::fs::read_to_string(fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn a_journal_reads_and_every_entry_writes_back_identically() {
    let text = read("journal.jsonl");
    for (i, line) in text.lines().enumerate() {
        let entry: bakeoff::session::Entry =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("line {}: {e}", i + 1));
        assert_eq!(serde_json::to_string(&entry).unwrap(), line, "line {}", i + 1);
    }
    let session = bakeoff::session::read(&fixture("journal.jsonl")).unwrap();
    let statuses: Vec<Status> = session.rounds.iter().flat_map(|r| r.results.values().map(|res| res.status)).collect();
    assert!(statuses.contains(&Status::Ok) && statuses.contains(&Status::Error), "{statuses:?}");
    let kinds: Vec<EvaluatorKind> =
        session.rounds.iter().flat_map(|r| r.evals.values().flatten().map(|e| e.kind)).collect();
    for k in [EvaluatorKind::Contains, EvaluatorKind::JsonSchema, EvaluatorKind::Refusal, EvaluatorKind::ToolCall] {
        assert!(kinds.contains(&k), "{k} missing from {kinds:?}");
    }
}

#[test]
fn a_saved_report_reads_and_writes_back_identically() {
    let text = read("report.json");
    let report = bakeoff::report::load(&fixture("report.json")).unwrap();
    assert_eq!(bakeoff::report::to_json(&report), text);
}

/// A saved report still renders, as today's renderer draws it (a verdict, a case matrix and
/// more were added since; `report.md`/`report.html` are what 0.1.0 drew, for comparison). Every
/// model and every round the old rendering named is still there.
#[test]
fn a_saved_report_renders_the_markdown_and_html() {
    let report = bakeoff::report::load(&fixture("report.json")).unwrap();
    let (md, html) = (bakeoff::report::to_markdown(&report), bakeoff::report::to_html(&report));
    for old in [read("report.md"), read("report.html")] {
        for line in old.lines().filter(|l| l.starts_with("### Round") || l.starts_with("#### ")) {
            assert!(md.contains(line), "{line}");
        }
    }
    for m in &report.models {
        assert!(md.contains(&m.model) && html.contains(&m.model), "{}", m.model);
    }
    // `broken` failed every request at $0: failing for free is not the cheapest.
    assert!(md.contains("| broken | 4 | 4 | 0 | 4 |") && !md.contains("**$0**"), "{md}");
    insta::assert_snapshot!("v0_1_0_report_md", md);
    insta::assert_snapshot!("v0_1_0_report_html", html);
}

#[test]
fn the_journal_still_makes_the_report_it_made() {
    let session = bakeoff::session::read(&fixture("journal.jsonl")).unwrap();
    let saved = bakeoff::report::load(&fixture("report.json")).unwrap();
    let mut rebuilt = bakeoff::report::build(&session, &bakeoff::report::ReportOptions::default());
    rebuilt.generated_at = saved.generated_at.clone();
    // The definitions are the building version's documentation (newer metrics add theirs, wording
    // improves), not figures the journal decides; every name of then is still defined.
    for d in &saved.definitions {
        assert!(rebuilt.definitions.iter().any(|r| r.name == d.name), "{} is no longer defined", d.name);
    }
    rebuilt.definitions = saved.definitions.clone();
    // Figures added since, derived from the same rounds: the routing rule over all cases.
    if let Some(b) = rebuilt.batch.as_mut() {
        b.routing_overall = None;
    }
    assert_eq!(bakeoff::report::to_json(&rebuilt), bakeoff::report::to_json(&saved));
}

#[test]
fn a_load_summary_and_its_records_read_and_write_back_identically() {
    let text = read("load.json");
    let summary = bakeoff::load::summary::load(&fixture("load.json")).unwrap();
    assert_eq!(bakeoff::sanitize::to_json_pretty(&summary).unwrap() + "\n", text);
    // `load.txt` is what `bakeoff report load.json` printed then; today's text names its rates
    // (`throughput tok/s`) and is pinned by a snapshot. Every figure of then is still there.
    let text_now = bakeoff::load::summary::render_text(&summary);
    insta::assert_snapshot!("v0_1_0_load_text", text_now);
    for figure in read("load.txt").split_whitespace().filter(|w| w.chars().any(|c| c.is_ascii_digit())) {
        let figure = figure.trim_start_matches('(').trim_end_matches(['/', 's', ')', ',']);
        assert!(text_now.contains(figure), "{figure} is gone from the load table");
    }
    for (i, line) in read("records.jsonl").lines().enumerate() {
        let record: bakeoff::load::record::Record =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("line {}: {e}", i + 1));
        assert_eq!(serde_json::to_string(&record).unwrap(), line, "line {}", i + 1);
    }
}

#[test]
fn statuses_and_kinds_keep_their_spelling() {
    for (s, json) in [(Status::Ok, "\"ok\""), (Status::Error, "\"error\""), (Status::Cancelled, "\"cancelled\"")] {
        assert_eq!(serde_json::to_string(&s).unwrap(), json);
        assert_eq!(serde_json::from_str::<Status>(json).unwrap(), s);
        assert_eq!(format!("\"{s}\""), json);
    }
    for (k, json) in [
        (EvaluatorKind::Contains, "contains"),
        (EvaluatorKind::Equals, "equals"),
        (EvaluatorKind::Regex, "regex"),
        (EvaluatorKind::JsonValid, "json_valid"),
        (EvaluatorKind::JsonSchema, "json_schema"),
        (EvaluatorKind::Length, "length"),
        (EvaluatorKind::Refusal, "refusal"),
        (EvaluatorKind::ToolCall, "tool_call"),
        (EvaluatorKind::NoToolCall, "no_tool_call"),
        (EvaluatorKind::Judge, "judge"),
    ] {
        assert_eq!(serde_json::to_string(&k).unwrap(), format!("\"{json}\""));
        assert_eq!(k.as_str(), json);
    }
}

/// `bakeoff report load.json --format html|markdown`: the load summary as a page with its
/// charts, and as Markdown — not the terminal table.
#[test]
fn a_load_summary_renders_as_html_and_markdown() {
    let summary = bakeoff::load::summary::load(&fixture("load.json")).unwrap();
    let html = bakeoff::load::render::render_html(&summary);
    assert!(html.contains("default-src 'none'") && !html.to_lowercase().contains("<script"));
    assert!(html.contains("<title>TTFT (requests per bin"), "the TTFT histogram");
    assert!(html.contains("<title>Latency (requests per bin"), "the latency histogram");
    assert!(html.contains("Successful requests per second") && html.contains("Errors per second"), "the timeline");
    assert!(html.contains("<th>throughput tok/s</th>"), "rates say what they count");
    let md = bakeoff::load::render::render_markdown(&summary);
    assert!(md.starts_with("# bakeoff load report") && md.contains("## Timings") && md.contains("## Over time"));
    assert_ne!(md, bakeoff::load::summary::render_text(&summary));
}
