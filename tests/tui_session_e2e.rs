//! End-to-end tests of the TUI's session side, on the real binary inside tmux: the journal
//! survives `kill -9` with the round's results and the scores already given, `--resume` continues
//! it, a saved report's numbers are the journal's, and no file written holds an API key.
//!
//! tmux is required (CI installs it); without it these tests fail saying so — never pass silently.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

mod common;

use common::tmux::{BIN, MockProcess, TIMEOUT, Tmux, clean_env};

fn data_dir(home: &Path) -> PathBuf {
    home.join(".local/share/bakeoff")
}

fn journals(home: &Path) -> Vec<PathBuf> {
    let dir = data_dir(home).join("sessions");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| {
            d.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "jsonl")).collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn entries(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path).unwrap_or_default().lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

fn of_type<'a>(es: &'a [serde_json::Value], t: &str) -> Vec<&'a serde_json::Value> {
    es.iter().filter(|e| e["type"] == t).collect()
}

/// Polls until `done` holds for the journal's entries.
fn wait_journal(path: &Path, what: &str, done: impl Fn(&[serde_json::Value]) -> bool) -> Vec<serde_json::Value> {
    let start = Instant::now();
    loop {
        let es = entries(path);
        if done(&es) {
            return es;
        }
        if start.elapsed() > TIMEOUT {
            panic!("timed out waiting for {what} in {}:\n{es:#?}", path.display());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The bakeoff process under the tmux pane's shell.
fn child_of(pid: &str) -> String {
    let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
    children
        .split_whitespace()
        .next()
        .unwrap_or_else(|| panic!("no child process under the pane's shell {pid}"))
        .to_string()
}

const DEMO: [&str; 4] = ["swift-mini", "steady-pro", "deep-think", "local-llama"];

fn done_count(s: &str) -> usize {
    s.matches("  done ").count()
}

#[test]
fn kill_9_loses_no_round_or_score_and_resume_continues() {
    let home = tempfile::tempdir().expect("tempdir");
    let env = clean_env(home.path());
    let t = Tmux::start("crash", 160, 48, &env, &format!("'{BIN}'"));
    t.wait_for("the TUI to start on the demo", |s| s.contains("demo models"));
    t.type_text("Compare TCP and UDP.");
    t.send(&["Enter"]);
    t.wait_for("every demo pane to finish", |s| done_count(s) >= DEMO.len());
    // Focus is on the first pane after sending: score it 4, the next one 2.
    t.send(&["4"]);
    t.send(&["Tab"]);
    t.send(&["2"]);
    t.wait_for("both scores on screen", |s| s.contains("★★★★☆") && s.contains("★★☆☆☆"));
    let js = journals(home.path());
    assert_eq!(js.len(), 1, "one journal in the data dir: {js:?}");
    let journal = js[0].clone();
    wait_journal(&journal, "both scores", |es| of_type(es, "score").len() >= 2);

    let pid = child_of(&t.display("#{pane_pid}"));
    let killed = Command::new("kill").args(["-9", &pid]).status().expect("run kill");
    assert!(killed.success());
    // The shell's line may land at the screen's last cell and wrap: read it with lines joined.
    let s = t.wait_for("the process to die", |s| s.replace('\n', "").contains("EXITED"));
    assert!(s.replace('\n', "").contains("EXITED 137"), "{s}");

    let es = entries(&journal);
    assert_eq!(of_type(&es, "session").len(), 1);
    assert_eq!(of_type(&es, "round").len(), 1);
    let results = of_type(&es, "result");
    assert_eq!(results.len(), DEMO.len(), "every model's result survived:\n{es:#?}");
    assert!(results.iter().all(|r| r["round"] == 1 && r["result"]["status"] == "ok"));
    let scores: Vec<(String, u64)> = of_type(&es, "score")
        .iter()
        .map(|e| (e["model"].as_str().unwrap_or("").to_string(), e["score"].as_u64().unwrap_or(0)))
        .collect();
    assert_eq!(scores.iter().map(|s| s.1).collect::<Vec<_>>(), [4, 2], "{scores:?}");
    drop(t);

    // Resume: round 1 is there with its scores; the next prompt is round 2 in the same journal.
    let t = Tmux::start("resume", 160, 48, &env, &format!("'{BIN}' --resume"));
    let s = t.wait_for("the resumed session", |s| s.contains("resumed a session of 1 rounds"));
    assert!(s.contains("round 1 ·"), "{s}");
    assert!(s.contains("★★★★☆") && s.contains("★★☆☆☆"), "the last round's scores are shown:\n{s}");
    t.send(&["i"]);
    t.type_text("Now in one sentence.");
    t.send(&["Enter"]);
    t.wait_for("round 2 to finish", |s| s.contains("round 2 ·") && done_count(s) >= DEMO.len());
    // A capture can catch the screen half redrawn (the new round's header over the last round's
    // "done" panes): the journal says for sure when every round-2 result is in.
    wait_journal(&journal, "round 2's results", |es| of_type(es, "result").len() >= 2 * DEMO.len());
    t.send(&["S"]);
    let s = t.wait_for("the report to be saved", |s| s.contains("report saved:"));
    let stem = journal.file_stem().unwrap().to_string_lossy().into_owned();
    let reports = data_dir(home.path()).join("reports");
    for ext in ["json", "md", "html"] {
        assert!(reports.join(format!("{stem}.{ext}")).is_file(), "{stem}.{ext} missing; screen:\n{s}");
    }
    t.send(&["q"]);
    let s = t.wait_for("the program to exit", |s| s.contains("EXITED"));
    assert!(s.contains("EXITED 0"), "{s}");
    // Where the report and the journal are, on the normal screen after the quit.
    let joined = s.replace('\n', "");
    assert!(joined.contains(&format!("{stem}.json")) && s.contains("report saved:"), "{s}");
    assert!(s.contains("session journal:"), "{s}");

    // The report's numbers are the journal's.
    let es = entries(&journal);
    assert_eq!(journals(home.path()).len(), 1, "resume appends to the same journal");
    assert_eq!(of_type(&es, "round").len(), 2);
    assert_eq!(of_type(&es, "result").len(), 2 * DEMO.len());
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(reports.join(format!("{stem}.json"))).unwrap()).unwrap();
    let rounds = report["rounds"].as_array().expect("rounds");
    assert_eq!(rounds.len(), 2);
    for r in of_type(&es, "result") {
        let (round, model) = (r["round"].as_u64().unwrap(), r["result"]["model"].as_str().unwrap());
        let rr = rounds.iter().find(|x| x["round"] == round).expect("round in report");
        let resp = rr["responses"].as_array().unwrap().iter().find(|x| x["model"] == model).expect("model in round");
        assert_eq!(resp["result"]["ttft_ms"], r["result"]["ttft_ms"], "TTFT of {model} in round {round}");
        assert_eq!(resp["result"]["cost_usd"], r["result"]["cost_usd"]);
    }
    for (model, score) in scores {
        let resp = rounds[0]["responses"].as_array().unwrap().iter().find(|x| x["model"] == model.as_str()).unwrap();
        assert_eq!(resp["manual_score"].as_u64(), Some(score), "{model}");
    }
}

fn all_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            all_files(&p, out);
        } else {
            out.push(p);
        }
    }
}

#[test]
fn no_written_file_holds_the_api_key() {
    const SECRET: &str = "sk-bakeoff-e2e-5ecret-7f3a9c";
    let mock = MockProcess::start();
    let home = tempfile::tempdir().expect("tempdir");
    let config = home.path().join("bakeoff.toml");
    let text = format!(
        "[[models]]\nname = \"keyed\"\nprovider = \"openai\"\nmodel = \"keyed;key=required;ttft=40;tps=400;tokens=30\"\n\
         base_url = \"http://{0}/v1\"\napi_key_env = \"BAKEOFF_E2E_SECRET\"\ninput_per_mtok = 1.0\noutput_per_mtok = 2.0\n\n\
         [[models]]\nname = \"open\"\nprovider = \"openai\"\nmodel = \"open;ttft=40;tps=400;tokens=30\"\n\
         base_url = \"http://{0}/v1\"\napi_key_env = \"\"\ninput_per_mtok = 1.0\noutput_per_mtok = 2.0\n\n\
         [[evaluators]]\nkind = \"length\"\nmin_chars = 1\n",
        mock.addr
    );
    std::fs::write(&config, text).expect("write config");
    let mut env = clean_env(home.path());
    env.push(("BAKEOFF_E2E_SECRET".into(), SECRET.into()));
    let out = home.path().join("out");
    let cmd = format!("'{BIN}' --config '{}' --out '{}'", config.display(), out.display());
    let t = Tmux::start("secret", 120, 30, &env, &cmd);
    t.wait_for("the TUI to start", |s| s.contains("keyed") && s.contains("open"));
    t.type_text("Say something.");
    t.send(&["Enter"]);
    let s = t.wait_for("both panes to finish", |s| done_count(s) >= 2 || s.contains("error"));
    assert_eq!(done_count(&s), 2, "the keyed model needs its key (401 without it):\n{s}");
    // The configured evaluator ran on each answer as its stream ended.
    let s = t.wait_for("the evaluator line", |s| s.matches("✓ length").count() >= 2);
    assert!(s.contains("acceptable"), "{s}");
    t.send(&["4", "S"]);
    t.wait_for("the report to be saved", |s| s.contains("report saved:"));
    t.send(&["q"]);
    let s = t.wait_for("the program to exit", |s| s.contains("EXITED"));
    assert!(s.contains("EXITED 0"), "{s}");
    assert!(!s.contains(SECRET));

    let mut files = Vec::new();
    all_files(&data_dir(home.path()), &mut files);
    all_files(&out, &mut files);
    let exts: Vec<String> =
        files.iter().filter_map(|p| p.extension().map(|e| e.to_string_lossy().into_owned())).collect();
    for want in ["jsonl", "json", "md", "html"] {
        assert!(exts.iter().any(|e| e == want), "no .{want} file written: {files:?}");
    }
    for f in &files {
        let bytes = std::fs::read(f).expect("read written file");
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(SECRET), "{} holds the API key", f.display());
        assert!(!text.contains("5ecret-7f3a9c"), "{} holds part of the API key", f.display());
    }
}

/// A round in flight with one quick and one slow model; returns the tmux session, the journal
/// and the bakeoff pid once the quick model is done and the slow one still streams.
fn round_in_flight(test: &str, home: &Path, mock: &MockProcess) -> (Tmux, PathBuf, String) {
    let config = home.join("bakeoff.toml");
    let text = format!(
        "[[models]]\nname = \"quick\"\nprovider = \"openai\"\nmodel = \"quick;ttft=30;tps=500;tokens=10\"\n\
         base_url = \"http://{0}/v1\"\napi_key_env = \"\"\n\n\
         [[models]]\nname = \"slow\"\nprovider = \"anthropic\"\nmodel = \"slow;ttft=50;tps=4;tokens=400\"\n\
         base_url = \"http://{0}\"\napi_key_env = \"\"\n",
        mock.addr
    );
    std::fs::write(&config, text).expect("write config");
    let env = clean_env(home);
    let t = Tmux::start(test, 120, 30, &env, &format!("'{BIN}' --config '{}'", config.display()));
    t.wait_for("the TUI to start", |s| s.contains("quick") && s.contains("slow"));
    t.type_text("Take your time.");
    t.send(&["Enter"]);
    t.wait_for("the quick model to finish", |s| done_count(s) == 1);
    let js = journals(home);
    assert_eq!(js.len(), 1, "{js:?}");
    let pid = child_of(&t.display("#{pane_pid}"));
    (t, js[0].clone(), pid)
}

/// Both results of the interrupted round are journaled: the quick one ok, the slow one cancelled
/// with the text it had streamed.
fn assert_round_journaled(journal: &Path) {
    let es = wait_journal(journal, "both results", |es| of_type(es, "result").len() >= 2);
    let status = |m: &str| {
        of_type(&es, "result").iter().find(|r| r["result"]["model"] == m).map(|r| r["result"]["status"].clone())
    };
    assert_eq!(status("quick"), Some("ok".into()), "{es:#?}");
    assert_eq!(status("slow"), Some("cancelled".into()), "{es:#?}");
}

#[test]
fn sigterm_and_sighup_journal_the_round_and_leave_a_working_terminal() {
    let mock = MockProcess::start();

    // SIGTERM: like Ctrl-C — cancelled, journaled, terminal restored, exit 143.
    let home = tempfile::tempdir().expect("tempdir");
    let (t, journal, pid) = round_in_flight("sigterm", home.path(), &mock);
    assert!(Command::new("kill").args(["-TERM", &pid]).status().expect("run kill").success());
    let s = t.wait_for("the process to exit", |s| s.replace('\n', "").contains("EXITED"));
    // The shell's line on the normal screen, starting a line of its own: the alternate screen
    // was left and output post-processing (raw mode off) is back.
    assert!(s.lines().any(|l| l.starts_with("EXITED 143")), "{s}");
    assert!(!s.contains("Take your time"), "the TUI's screen is gone:\n{s}");
    assert_eq!(t.display("#{alternate_on}"), "0");
    assert_round_journaled(&journal);
    drop(t);

    // SIGHUP from the terminal going away (tmux kill-session): the journal is still complete.
    let home = tempfile::tempdir().expect("tempdir");
    let (t, journal, pid) = round_in_flight("sighup", home.path(), &mock);
    let killed = t.run(&["kill-session", "-t", "main"]);
    assert!(killed.status.success());
    assert_round_journaled(&journal);
    let start = Instant::now();
    while std::path::Path::new(&format!("/proc/{pid}")).exists() {
        assert!(start.elapsed() < TIMEOUT, "bakeoff still runs after SIGHUP");
        std::thread::sleep(Duration::from_millis(100));
    }
}
