//! The real `bakeoff` binary: `run` output and exit codes, config errors, `models`, batch runs,
//! Ctrl-C partial reports, and that API keys never leak into anything written.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn bakeoff() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bakeoff"));
    // Never pick up the developer's own config or data, nor add to their results history.
    c.env_remove("BAKEOFF_CONFIG")
        .env_remove("BAKEOFF_HISTORY_URL")
        .env("XDG_CONFIG_HOME", "/nonexistent-bakeoff-test")
        .env("XDG_DATA_HOME", Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli-data"))
        .stdin(Stdio::null());
    c
}

async fn output(mut cmd: Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output().expect("bakeoff runs")).await.unwrap()
}

fn text(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

fn write_config(dir: &Path, body: &str) -> std::path::PathBuf {
    let p = dir.join("bakeoff.toml");
    std::fs::write(&p, body).unwrap();
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_run_prints_json_with_a_record_per_model() {
    let mut c = bakeoff();
    c.args(["run", "--demo", "--json", "--prompt", "Explain TCP vs UDP in two sentences."]);
    let o = output(c).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let results = doc["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    for r in results {
        for key in [
            "model",
            "provider",
            "status",
            "error",
            "ttfb_ms",
            "ttft_ms",
            "latency_ms",
            "input_tokens",
            "output_tokens",
            "tokens_estimated",
            "tokens_per_s",
            "cost_usd",
            "finish_reason",
            "output",
        ] {
            assert!(r.get(key).is_some(), "missing {key} in {r}");
        }
        assert_eq!(r["status"], "ok");
        assert!(r["ttft_ms"].as_f64().unwrap() >= 150.0, "plausible TTFT: {r}");
        assert!(r["cost_usd"].as_f64().is_some());
        assert_eq!(r["tokens_estimated"], false);
    }
    assert!(doc["definitions"].as_array().is_some_and(|d| !d.is_empty()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_model_exits_1_and_the_others_still_succeed() {
    let server = common::server().await;
    let dir = tempfile::tempdir().unwrap();
    let addr = server.addr();
    let cfg = write_config(
        dir.path(),
        &format!(
            r#"
[[models]]
name = "good"
provider = "openai"
model = "good;ttft=20;tps=500;tokens=6"
base_url = "http://{addr}/v1"
api_key_env = ""
input_per_mtok = 1
output_per_mtok = 2

[[models]]
name = "broken"
provider = "anthropic"
model = "b;fault=500"
base_url = "http://{addr}"
api_key_env = ""

[[models]]
name = "keyless"
provider = "gemini"
model = "k"
base_url = "http://{addr}/v1beta"
api_key_env = "BAKEOFF_TEST_UNSET_KEY"
"#
        ),
    );
    let mut c = bakeoff();
    c.arg("--config").arg(&cfg).args(["run", "--prompt", "hi"]).env_remove("BAKEOFF_TEST_UNSET_KEY");
    let o = output(c).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    let row = |name: &str| out.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("no row {name}: {out}"));
    assert!(row("good").contains(" ok "), "{out}");
    assert!(row("broken").contains("error"), "{out}");
    assert!(out.contains("broken: 500 server error"), "{out}");
    assert!(out.contains("keyless: API key missing: set the environment variable BAKEOFF_TEST_UNSET_KEY"), "{out}");
    assert!(!err.contains("ETA"), "no progress bar when stderr is not a terminal: {err}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_and_config_errors_exit_2_with_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "[[models]]\nname = \"x\"\nprovider = \"opneai\"\n");
    let mut c = bakeoff();
    c.arg("--config").arg(&cfg).args(["run", "--prompt", "hi"]);
    let o = output(c).await;
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2));
    assert!(err.contains("bakeoff.toml:1:1") && err.contains("opneai"), "{err}");

    let mut c = bakeoff();
    c.args(["run", "--models", "nosuch", "--prompt", "hi"]);
    let o = output(c).await;
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("PRESET:MODEL_ID"), "{}", text(&o).1);

    let mut c = bakeoff();
    c.args(["run", "--demo"]);
    let o = output(c).await;
    assert_eq!(o.status.code(), Some(2), "no prompt on an empty stdin");

    let mut c = bakeoff();
    c.args(["run", "--frobnicate"]);
    assert_eq!(output(c).await.status.code(), Some(2));

    // A bad tools file names the file and the position, or the tool and what is wrong.
    let tools = dir.path().join("tools.json");
    std::fs::write(&tools, "[\n  {\"type\": \"function\", \"function\": {\"name\": \"a\"}},\n  oops\n]").unwrap();
    let mut c = bakeoff();
    c.args(["run", "--demo", "--prompt", "hi", "--tools"]).arg(&tools);
    let o = output(c).await;
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains(&format!("{}:3:3", tools.display())), "{err}");
    std::fs::write(&tools, r#"[{"type": "function", "function": {"name": "get weather"}}]"#).unwrap();
    let mut c = bakeoff();
    c.args(["run", "--demo", "--prompt", "hi", "--tools"]).arg(&tools);
    let o = output(c).await;
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("tools[0]: name \"get weather\""), "{}", text(&o).1);

    // A bad report flag is refused before any request is made (no journal is started).
    let journal = dir.path().join("j.jsonl");
    let cases = concat!(env!("CARGO_MANIFEST_DIR"), "/sample-cases/factual.jsonl");
    let mut c = bakeoff();
    c.args(["run", "--demo", "--cases", cases, "--min-acceptance", "2", "--journal"]).arg(&journal);
    let o = output(c).await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o).1);
    assert!(text(&o).1.contains("--min-acceptance must be between 0 and 1"), "{}", text(&o).1);
    assert!(!journal.exists(), "nothing ran");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_lists_key_presence_never_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        "[[models]]\nname = \"gpt\"\nprovider = \"openai\"\nmodel = \"gpt-4o\"\napi_key_env = \"BAKEOFF_TEST_KEY\"\n\n[[models]]\nname = \"claude\"\nprovider = \"anthropic\"\nmodel = \"claude-sonnet-4-6\"\napi_key_env = \"BAKEOFF_TEST_OTHER_KEY\"\n",
    );
    let mut c = bakeoff();
    c.arg("--config")
        .arg(&cfg)
        .arg("models")
        .env("BAKEOFF_TEST_KEY", "sk-test-SECRET-4242")
        .env_remove("BAKEOFF_TEST_OTHER_KEY");
    let o = output(c).await;
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(0));
    assert!(out.contains("present") && out.contains("MISSING (set BAKEOFF_TEST_OTHER_KEY)"), "{out}");
    assert!(out.contains("https://api.openai.com/v1") && out.contains("$2.5/$10 per Mtok"), "{out}");
    assert!(!out.contains("SECRET"), "{out}");
}

/// A batch where the mock requires a key: the key reaches the server (requests succeed) but no
/// file, stdout or stderr ever contains it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_report_and_journal_never_contain_the_key() {
    let server = common::server().await;
    let addr = server.addr();
    let dir = tempfile::tempdir().unwrap();
    let key = "sk-bakeoff-LEAKCHECK-7e3f9a";
    let cfg = write_config(
        dir.path(),
        &format!(
            "[[models]]\nname = \"locked\"\nprovider = \"openai\"\nmodel = \"l;key=required;ttft=10;tps=500;tokens=5\"\nbase_url = \"http://{addr}/v1\"\napi_key_env = \"BAKEOFF_LEAK_KEY\"\n\n[[models]]\nname = \"locked-a\"\nprovider = \"anthropic\"\nmodel = \"l;key=required;ttft=10;tps=500;tokens=5\"\nbase_url = \"http://{addr}\"\napi_key_env = \"BAKEOFF_LEAK_KEY\"\n\n[[models]]\nname = \"locked-g\"\nprovider = \"gemini\"\nmodel = \"l;key=required;ttft=10;tps=500;tokens=5\"\nbase_url = \"http://{addr}/v1beta\"\napi_key_env = \"BAKEOFF_LEAK_KEY\"\n"
        ),
    );
    let cases = dir.path().join("cases.jsonl");
    std::fs::write(
        &cases,
        "{\"id\":\"a\",\"prompt\":\"one\"}\n{\"id\":\"b\",\"prompt\":\"two\",\"expected\":\"mock\"}\n",
    )
    .unwrap();
    let out_dir = dir.path().join("out");
    let mut c = bakeoff();
    c.arg("--config")
        .arg(&cfg)
        .args(["run", "--cases"])
        .arg(&cases)
        .arg("--journal")
        .arg(out_dir.join("j.jsonl"))
        .arg("--report")
        .arg(out_dir.join("rep"))
        .env("XDG_DATA_HOME", dir.path().join("data"))
        .env("BAKEOFF_LEAK_KEY", key);
    let o = output(c).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(!out.contains(key) && !err.contains(key));
    // The results history recorded the run, and nothing of the key.
    let db = dir.path().join("data/bakeoff/history.sqlite");
    let mut bytes = std::fs::read(&db).unwrap();
    bytes.extend(std::fs::read(db.with_extension("sqlite-wal")).unwrap_or_default());
    assert!(bytes.windows(b"locked-a".len()).any(|w| w == b"locked-a"), "the run is in the history");
    assert!(!bytes.windows(b"LEAKCHECK".len()).any(|w| w == b"LEAKCHECK"), "the history leaks the key");
    let mut files = 0;
    for entry in std::fs::read_dir(&out_dir).unwrap() {
        let p = entry.unwrap().path();
        let body = std::fs::read_to_string(&p).unwrap();
        assert!(!body.contains(key), "{} leaks the key", p.display());
        assert!(!body.contains("LEAKCHECK"), "{} leaks part of the key", p.display());
        files += 1;
    }
    assert_eq!(files, 4, "journal + JSON + Markdown + HTML");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_writes_a_partial_report_and_says_how_to_resume() {
    interrupt_batch_with("INT", 130).await;
}

/// A supervisor's SIGTERM or a closed session's SIGHUP stop a batch the way Ctrl-C does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_and_sighup_write_the_partial_report_too() {
    interrupt_batch_with("TERM", 143).await;
    interrupt_batch_with("HUP", 129).await;
}

async fn interrupt_batch_with(signal: &str, status: i32) {
    let server = common::server().await;
    let addr = server.addr();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        &format!(
            "[[models]]\nname = \"slow\"\nprovider = \"ollama\"\nmodel = \"s;ttft=300;tps=20;tokens=10\"\nbase_url = \"http://{addr}\"\n"
        ),
    );
    let cases = dir.path().join("cases.csv");
    let mut csv = String::from("prompt,expected\n");
    for i in 0..30 {
        csv.push_str(&format!("Question {i},mock\n"));
    }
    std::fs::write(&cases, csv).unwrap();
    let mut c = bakeoff();
    c.arg("--config")
        .arg(&cfg)
        .args(["run", "--concurrency", "2", "--cases"])
        .arg(&cases)
        .arg("--journal")
        .arg(dir.path().join("j.jsonl"))
        .arg("--report")
        .arg(dir.path().join("partial"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    // "journal: …" is printed once the Ctrl-C handler is in place.
    let stderr = child.stderr.take().unwrap();
    let (mut lines, first) = tokio::task::spawn_blocking(move || {
        use std::io::BufRead;
        let mut lines = std::io::BufReader::new(stderr).lines();
        let first = lines.next();
        (lines, first)
    })
    .await
    .unwrap();
    assert!(first.is_some_and(|l| l.is_ok_and(|l| l.starts_with("journal:"))));
    // Interrupt once a few results are journaled (generous limit; it normally takes ~1 s).
    let journal = dir.path().join("j.jsonl");
    let results = || std::fs::read_to_string(&journal).map(|j| j.matches(r#""type":"result""#).count()).unwrap_or(0);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while results() < 3 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let killed = Command::new("kill").args([&format!("-{signal}"), &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let (o, err) = tokio::task::spawn_blocking(move || {
        let err: Vec<String> = lines.by_ref().map_while(Result::ok).collect();
        (child.wait_with_output().unwrap(), err.join("\n"))
    })
    .await
    .unwrap();
    assert_eq!(o.status.code(), Some(status), "{signal}: {err}");
    assert!(err.contains("--resume"), "{err}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("partial.json")).unwrap()).unwrap();
    assert_eq!(report["partial"], true);
    let done = report["models"][0]["responses"].as_u64().unwrap();
    assert!((1..30).contains(&done), "some but not all cases ran: {done}");
    server.shutdown().await;
}

/// In a terminal the batch progress bar shows on stderr (the redirected case is checked above:
/// no bar when stderr is not a terminal).
#[test]
fn batch_progress_bar_shows_in_a_terminal() {
    use common::tmux::{BIN, Tmux, clean_env};
    let home = tempfile::tempdir().unwrap();
    let journal = home.path().join("j.jsonl");
    let cases = home.path().join("c.csv");
    let mut csv = String::from("prompt\n");
    for i in 0..12 {
        csv.push_str(&format!("Question {i}\n"));
    }
    std::fs::write(&cases, csv).unwrap();
    let cmd = format!(
        "'{BIN}' run --demo --models local-llama --concurrency 1 --cases '{}' --journal '{}' > /dev/null",
        cases.display(),
        journal.display()
    );
    let t = Tmux::start("progress", 120, 10, &clean_env(home.path()), &cmd);
    let s = t.wait_for("the progress bar", |s| s.contains("ETA") && s.contains("/12"));
    assert!(s.contains("error(s)"), "{s}");
    t.send(&["C-c"]);
    t.wait_for("the run to stop", |s| s.contains("EXITED 130"));
}

/// Runs one shipped sample set headless against the demo models and checks the report has
/// per-category aggregates, confidence intervals and a routing table. Returns the directory of
/// the reports (`r.json`, `r.md`, `r.html`) and the JSON report.
async fn sample_set_runs_end_to_end(file: &str) -> (tempfile::TempDir, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let set = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-cases").join(file);
    let mut c = bakeoff();
    c.args(["run", "--demo", "--concurrency", "32", "--cases"])
        .arg(&set)
        .arg("--journal")
        .arg(dir.path().join("j.jsonl"))
        .arg("--report")
        .arg(dir.path().join("r"));
    let o = output(c).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{file}: {err}");
    assert!(out.contains("routing:"), "{file}: the routing table is printed:\n{out}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("r.json")).unwrap()).unwrap();
    let batch = &report["batch"];
    let categories = batch["categories"].as_array().unwrap();
    assert!(categories.len() >= 2, "{file}: per-category aggregates");
    let routes = batch["routing"].as_array().unwrap();
    assert_eq!(routes.len(), categories.len(), "{file}: a routing row per category");
    let overall = &batch["models"][0]["overall"];
    assert!(overall["ci"]["ttft_p50_ms"]["lo"].as_f64().is_some(), "{file}: confidence intervals: {overall}");
    assert_eq!(report["models"].as_array().unwrap().len(), 4, "{file}: every demo model");
    for name in ["r.md", "r.html"] {
        assert!(dir.path().join(name).exists(), "{file}: {name}");
    }
    (dir, report)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sample_set_factual() {
    sample_set_runs_end_to_end("factual.jsonl").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sample_set_extraction() {
    sample_set_runs_end_to_end("extraction.toml").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sample_set_coding() {
    sample_set_runs_end_to_end("coding.csv").await;
    sample_set_runs_end_to_end("coding.jsonl").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sample_set_hard() {
    sample_set_runs_end_to_end("hard.jsonl").await;
}

/// The tools sample set on the demo: every model calls the tool each case names, with the
/// arguments the case expects (except division and multiplication, where the mock picks the
/// wrong operation), and calls nothing where no tool is wanted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sample_set_tools() {
    let (dir, report) = sample_set_runs_end_to_end("tools.jsonl").await;
    // Per model: 11 of 18 answers call a tool, every call's arguments parse and fit the schema.
    for m in report["models"].as_array().unwrap() {
        let t = &m["tools"];
        assert_eq!((t["answers"].as_u64(), t["answers_with_calls"].as_u64()), (Some(18), Some(11)), "{m}");
        assert_eq!((t["parse_rate"].as_f64(), t["valid_rate"].as_f64()), (Some(1.0), Some(1.0)), "{m}");
        assert!(t["ttf_tool_ms"]["p95"].as_f64().is_some(), "{m}");
    }
    let md = std::fs::read_to_string(dir.path().join("r.md")).unwrap();
    assert!(md.contains("### Tool calls") && md.contains(r#"⚙ get_weather {"city":"Paris"}"#), "{md}");
    let html = std::fs::read_to_string(dir.path().join("r.html")).unwrap();
    assert!(html.contains("<h3>Tool calls</h3>") && html.contains("⚙ calculate"), "the HTML shows calls");
    for round in report["rounds"].as_array().unwrap() {
        let case = round["case_id"].as_str().unwrap();
        for r in round["responses"].as_array().unwrap() {
            let calls = r["result"]["tool_calls"].as_array().map_or(0, Vec::len);
            let passed = r["evals"][0]["passed"].as_bool();
            assert_eq!(r["evals"][0]["name"], "expected_tool", "{case}: {r}");
            if r["evals"][0]["kind"] == "no_tool_call" {
                assert_eq!((calls, passed), (0, Some(true)), "{case}: {r}");
            } else {
                assert_eq!(calls, 1, "{case}: {r}");
                let wrong_op = matches!(case, "calc-divide" | "calc-multiply");
                assert_eq!(passed, Some(!wrong_op), "{case}: {}", r["evals"][0]);
                assert!(r["result"]["ttf_tool_ms"].as_f64().is_some(), "{case}");
            }
        }
    }
}

/// A journal has one writer: a second `--resume` of a journal being written is refused, naming
/// the writer's pid; two batch runs started at once get journals of their own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journal_has_one_writer_and_runs_get_their_own() {
    let server = common::server().await;
    let addr = server.addr();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        &format!(
            "[[models]]\nname = \"slow\"\nprovider = \"openai\"\nmodel = \"s;ttft=200;tps=20;tokens=10\"\nbase_url = \"http://{addr}/v1\"\napi_key_env = \"\"\n"
        ),
    );
    let cases = dir.path().join("cases.csv");
    std::fs::write(&cases, "prompt\none\ntwo\nthree\nfour\nfive\nsix\n").unwrap();
    let journal = dir.path().join("j.jsonl");
    let mut first = bakeoff();
    first
        .arg("--config")
        .arg(&cfg)
        .args(["run", "--concurrency", "1", "--cases"])
        .arg(&cases)
        .arg("--journal")
        .arg(&journal)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = first.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let first_line = tokio::task::spawn_blocking(move || {
        use std::io::BufRead;
        let mut lines = std::io::BufReader::new(stderr).lines();
        let first = lines.next();
        // Keep draining so the run never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        first
    })
    .await
    .unwrap();
    assert!(first_line.is_some_and(|l| l.is_ok_and(|l| l.starts_with("journal:"))));

    let mut second = bakeoff();
    second.arg("--config").arg(&cfg).args(["run", "--cases"]).arg(&cases).arg("--resume").arg(&journal);
    let o = output(second).await;
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains(&format!("being written by another bakeoff process (pid {})", child.id())), "{err}");
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap()).await.unwrap();
    assert_eq!(status.code(), Some(0));
    let j = std::fs::read_to_string(&journal).unwrap();
    assert_eq!(j.matches(r#""type":"result""#).count(), 6, "each case ran once:\n{j}");

    // Two runs started in the same instant, default journal names: both run, each its own file.
    let data = dir.path().join("data");
    let runs: Vec<_> = (0..2)
        .map(|_| {
            let mut c = bakeoff();
            c.arg("--config").arg(&cfg).args(["run", "--cases"]).arg(&cases).env("XDG_DATA_HOME", &data);
            output(c)
        })
        .collect();
    for o in futures_util::future::join_all(runs).await {
        assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
    }
    let journals = std::fs::read_dir(data.join("bakeoff/sessions")).unwrap().count();
    assert_eq!(journals, 2);
    server.shutdown().await;
}

/// `bakeoff run --resume J` alone finishes the planned run (here a demo run with --models,
/// --repeat and --concurrency, which the printed hint does not repeat); flags that contradict
/// the plan, a changed case file, case-set flags without a case set and a missing journal are
/// clear errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_alone_finishes_the_planned_run() {
    let dir = tempfile::tempdir().unwrap();
    let cases = dir.path().join("c.csv");
    let csv = "prompt\none\ntwo\nthree\nfour\nfive\nsix\n";
    std::fs::write(&cases, csv).unwrap();
    let journal = dir.path().join("j.jsonl");
    let mut c = bakeoff();
    c.args(["run", "--demo", "--models", "swift-mini", "--repeat", "2", "--concurrency", "2", "--cases"])
        .arg(&cases)
        .arg("--journal")
        .arg(&journal)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let results = || std::fs::read_to_string(&journal).map(|j| j.matches(r#""type":"result""#).count()).unwrap_or(0);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while results() < 2 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
    let o = tokio::task::spawn_blocking(move || {
        let _ = child.stdout.take();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(130), "{err}");
    let hint = format!("continue with `bakeoff run --resume {}`", journal.display());
    assert!(err.contains(&hint), "{err}");
    assert!(results() < 12, "interrupted before the end");

    let resume = |extra: &[&str]| {
        let mut c = bakeoff();
        c.args(["run", "--resume"]).arg(&journal).args(extra);
        output(c)
    };
    let other = dir.path().join("other.toml");
    std::fs::write(&other, "").unwrap();
    let other = other.display().to_string();
    let other_says = format!("--config {other} contradicts the plan");
    for (extra, says) in [
        (&["--repeat", "3"][..], "--repeat 3 contradicts the plan"),
        (&["--models", "steady-pro"][..], "--models steady-pro contradicts the plan"),
        (&["--concurrency", "8"][..], "--concurrency 8 contradicts the plan"),
        (&["--config", &other][..], &other_says),
    ] {
        let o = resume(extra).await;
        let (_, err) = text(&o);
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {err}");
        assert!(err.contains(says), "{extra:?}: {err}");
    }
    std::fs::write(&cases, "prompt\nsomething else\n").unwrap();
    let o = resume(&[]).await;
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("changed since the run"), "{}", text(&o).1);
    std::fs::write(&cases, csv).unwrap();

    // The hint's command as printed, nothing added: finishes every planned item exactly once.
    let o = resume(&[]).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    let j = std::fs::read_to_string(&journal).unwrap();
    let mut ok = std::collections::HashSet::new();
    for line in j.lines() {
        let e: serde_json::Value = serde_json::from_str(line).unwrap();
        if e["type"] == "result" && e["result"]["status"] == "ok" {
            assert!(ok.insert((e["round"].as_u64(), e["result"]["model"].as_str().map(String::from))), "twice: {e}");
        }
    }
    assert_eq!(ok.len(), 12, "6 cases × 2 repeats, each once");
    assert!(!out.contains("PARTIAL"), "{out}");

    for (args, says) in [
        (vec!["run", "--demo", "--prompt", "hi", "--repeat", "2"], "--repeat applies to case-set runs"),
        (vec!["run", "--demo", "--prompt", "hi", "--strict"], "--strict applies to case-set runs"),
        (vec!["run", "--resume", "/nonexistent/j.jsonl"], "/nonexistent/j.jsonl"),
    ] {
        let mut c = bakeoff();
        c.args(&args);
        let o = output(c).await;
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(text(&o).1.contains(says), "{args:?}: {}", text(&o).1);
    }
}

/// `--pricing FILE` replaces the price table's date with the file's (reports and `--json` say
/// which prices were used).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pricing_file_sets_the_prices_date() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("my-prices.json");
    std::fs::write(&file, r#"{"gpt-4o": {"input_cost_per_token": 0.0000025, "output_cost_per_token": 0.00001}}"#)
        .unwrap();
    let mut c = bakeoff();
    c.arg("--pricing").arg(&file).args(["run", "--demo", "--models", "swift-mini", "--prompt", "hi", "--json"]);
    let o = output(c).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let as_of = doc["prices_as_of"].as_str().unwrap();
    assert!(as_of.ends_with("(my-prices.json)") && as_of.starts_with("20"), "{as_of}");
}

/// Logged OpenAI request bodies run as a case set: the fields bakeoff does not use are named once
/// on stderr and ignored; `--strict` refuses them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logged_request_bodies_run_as_cases_and_strict_refuses_their_extra_fields() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs.jsonl");
    let line = |q: &str| {
        format!(
            r#"{{"model":"gpt-4o","messages":[{{"role":"developer","content":"Be brief."}},{{"role":"user","content":[{{"type":"text","text":"{q}"}}]}}],"temperature":0.3,"max_tokens":200,"metadata":{{"team":"search"}},"user":"u-17"}}"#
        )
    };
    std::fs::write(&logs, format!("{}\n{}\n", line("What is TCP?"), line("What is UDP?"))).unwrap();
    let mut c = bakeoff();
    c.args(["run", "--demo", "--models", "swift-mini", "--cases"])
        .arg(&logs)
        .arg("--journal")
        .arg(dir.path().join("j.jsonl"));
    let o = output(c).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert_eq!(err.matches("ignored field(s)").count(), 1, "one warning for the file: {err}");
    assert!(err.contains("metadata, model, user"), "{err}");
    let journal = std::fs::read_to_string(dir.path().join("j.jsonl")).unwrap();
    assert_eq!(journal.matches(r#""type":"result""#).count(), 2, "{journal}");

    let mut c = bakeoff();
    c.args(["run", "--demo", "--strict", "--cases"]).arg(&logs);
    let o = output(c).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}{err}");
    assert!(err.contains("metadata, model, user") && err.contains("--strict is set"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_sends_an_image_and_a_schema_and_refuses_them_with_a_case_file() {
    let media = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-cases/media");
    let mut c = bakeoff();
    c.args(["run", "--demo", "--json", "-p", "What colour is the square?", "--image"]);
    c.arg(media.join("red-square.png"));
    let o = output(c).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    for r in doc["results"].as_array().unwrap() {
        assert!(r["output"].as_str().unwrap().contains("red square"), "{r}");
    }

    // Structured output from a schema file: every demo model's answer is checked.
    let mut c = bakeoff();
    c.args(["run", "--demo", "-p", "Extract: Maria Lopez, Northwind", "--schema"]);
    c.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-cases/schemas/contact.json"));
    let o = output(c).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(out.lines().next().unwrap().ends_with("schema"), "{out}");

    // A file that is not an image, and --image with a case file: usage errors naming them.
    let mut c = bakeoff();
    c.args(["run", "--demo", "-p", "x", "--image"]);
    c.arg(media.join("invoice.pdf"));
    let o = output(c).await;
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("--image") && text(&o).1.contains("invoice.pdf is a PDF"), "{}", text(&o).1);
    let mut c = bakeoff();
    c.args(["run", "--demo", "--cases", "sample-cases/vision.jsonl", "--image", "x.png"]);
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    let o = output(c).await;
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("--image goes with one prompt"), "{}", text(&o).1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_are_recorded_in_the_history_and_listed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cases = dir.path().join("cases.jsonl");
    std::fs::write(&cases, "{\"id\":\"a\",\"prompt\":\"one\"}\n{\"id\":\"b\",\"prompt\":\"two\"}\n").unwrap();
    let run = |args: &[&str]| {
        let mut c = bakeoff();
        c.args(args).env("XDG_DATA_HOME", &data);
        output(c)
    };
    let o =
        run(&["run", "--demo", "--cases", cases.to_str().unwrap(), "--label", "week-49", "--concurrency", "8"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
    let o = run(&["run", "--demo", "--prompt", "hi"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
    let o = run(&["run", "--demo", "--prompt", "not recorded", "--no-history"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);

    let o = run(&["history", "--json"]).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let runs = doc["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2, "--no-history leaves no trace: {out}");
    assert_eq!(runs[0]["mode"], "batch");
    assert_eq!(runs[0]["label"], "week-49");
    assert_eq!(runs[0]["requests"], 8, "2 cases × 4 demo models");
    assert_eq!(runs[0]["state"], "complete");
    assert_eq!(runs[1]["mode"], "run");
    assert_eq!(runs[1]["requests"], 4);

    let o = run(&["history", "--label", "week-49"]).await;
    let (out, _) = text(&o);
    assert!(out.contains("week-49") && out.contains("cases.jsonl") && out.contains("1 run(s)"), "{out}");
    // The batch journal was recorded live: importing it again skips it.
    let journals: Vec<_> =
        std::fs::read_dir(data.join("bakeoff/sessions")).unwrap().map(|e| e.unwrap().path()).collect();
    let mut args = vec!["history".to_string(), "import".to_string()];
    args.extend(journals.iter().map(|p| p.display().to_string()));
    let o = run(&args.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(out.contains("skipped") && out.contains("already recorded as run 1"), "{out}");
    let o = run(&["history", "--since", "tomorrow"]).await;
    assert_eq!(o.status.code(), Some(2), "a bad --since is a usage error");
    assert!(text(&o).1.contains("--since"), "{}", text(&o).1);
}

/// The README's weekly check: two runs of a case set, the second after the model got slower;
/// `bakeoff trend` shows the change and marks it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trend_marks_a_model_that_got_slower() {
    let server = common::server().await;
    let addr = server.addr();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cases = eight_cases(dir.path());
    for (week, ttft) in [("w1", 20), ("w2", 200)] {
        let cfg = svc_config(dir.path(), addr, ttft, "");
        let mut c = bakeoff();
        c.arg("--config")
            .arg(&cfg)
            .args(["run", "--cases"])
            .arg(&cases)
            .args(["--label", week])
            .env("XDG_DATA_HOME", &data)
            .env("BAKEOFF_TREND_KEY", "sk-test");
        let o = output(c).await;
        assert_eq!(o.status.code(), Some(0), "{}{}", text(&o).0, text(&o).1);
    }
    let mut c = bakeoff();
    c.args(["trend", "--metric", "ttft_p50"]).env("XDG_DATA_HOME", &data);
    let o = output(c).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(out.contains("ttft_p50 (ms) · cases.jsonl · 2 run(s)"), "{out}");
    assert!(out.contains("svc") && out.contains("▲ significantly worse (8 cases"), "{out}");
    let mut c = bakeoff();
    c.args(["trend", "--metric", "ttft_p50", "--json"]).env("XDG_DATA_HOME", &data);
    let doc: serde_json::Value = serde_json::from_str(&text(&output(c).await).0).unwrap();
    let change = &doc["series"][0]["change"];
    assert_eq!(change["significant"], true);
    assert_eq!(change["worse"], true);
    assert!(change["diff"].as_f64().unwrap() > 100.0, "{change}");
    let mut c = bakeoff();
    c.args(["trend", "--metric", "speed"]).env("XDG_DATA_HOME", &data);
    let o = output(c).await;
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("ttft_p50"), "the metrics are named: {}", text(&o).1);
    server.shutdown().await;
}

/// A regression rule fires on the run that made it: the run exits 3, prints the alert and
/// delivers it to both webhooks (the first answers 500 once and gets it on the retry), and the
/// webhook URL — a token in its path — is printed nowhere. `history check --dry-run` shows the
/// bodies without sending.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_regression_alert_exits_3_and_reaches_the_webhooks() {
    let (hook_addr, received) = webhook_receiver(1).await;

    let server = common::server().await;
    let addr = server.addr();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cases = eight_cases(dir.path());
    let alerts = "[[alerts]]\nrule = \"regression\"\nmodel = \"svc\"\nmetric = \"ttft_p50\"\nthreshold = \"20%\"\nbaseline_runs = 4\n\n\
                  [[webhooks]]\nurl_env = \"HOOK_JSON\"\n\n[[webhooks]]\nurl_env = \"HOOK_SLACK\"\nformat = \"slack\"\n";
    let token = "T0KEN-in-the-hook-url-5f2a";
    let run = |ttft: u32| {
        let cfg = svc_config(dir.path(), addr, ttft, alerts);
        let mut c = bakeoff();
        c.arg("--config")
            .arg(&cfg)
            .args(["run", "--cases"])
            .arg(&cases)
            .env("XDG_DATA_HOME", &data)
            .env("BAKEOFF_TREND_KEY", "sk-test")
            .env("HOOK_JSON", format!("http://{hook_addr}/json/{token}"))
            .env("HOOK_SLACK", format!("http://{hook_addr}/slack/{token}"));
        (cfg, output(c))
    };
    for ttft in [20, 22] {
        let o = run(ttft).1.await;
        assert_eq!(o.status.code(), Some(0), "no alert before the slowdown: {}", text(&o).1);
    }
    assert!(received.lock().unwrap().is_empty());
    let (cfg, o) = run(200);
    let o = o.await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(3), "{out}{err}");
    assert!(err.contains("ALERT regression: svc ttft_p50") && err.contains("worse by more than 20%"), "{err}");
    assert!(err.contains("alert sent to $HOOK_JSON") && err.contains("alert sent to $HOOK_SLACK"), "{err}");
    assert!(!out.contains(token) && !err.contains(token), "the webhook URL is never printed");
    {
        let got = received.lock().unwrap();
        assert_eq!(got.len(), 2, "{got:?}");
        let json = got.iter().find(|(p, _)| p.starts_with("/json/")).unwrap();
        assert_eq!(json.1["alerts"][0]["rule"], "regression");
        assert_eq!(json.1["alerts"][0]["model"], "svc");
        let slack = got.iter().find(|(p, _)| p.starts_with("/slack/")).unwrap();
        assert!(slack.1["text"].as_str().unwrap().contains("regression: svc ttft_p50"), "{}", slack.1);
    }
    // The same rule on what is stored, without sending.
    let mut c = bakeoff();
    c.arg("--config")
        .arg(&cfg)
        .args(["history", "check", "--dry-run"])
        .env("XDG_DATA_HOME", &data)
        .env("HOOK_JSON", format!("http://{hook_addr}/json/{token}"));
    let o = output(c).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(3), "{out}{err}");
    assert!(out.contains("ALERT regression") && out.contains("would POST to $HOOK_JSON"), "{out}");
    assert!(out.contains("\"text\": \"bakeoff: 1 alert(s)"), "the Slack body: {out}");
    assert!(!out.contains(token));
    assert_eq!(received.lock().unwrap().len(), 2, "a dry run sends nothing");
    // With the history off the rules cannot be checked: said, not skipped silently.
    let mut c = bakeoff();
    c.arg("--config")
        .arg(&cfg)
        .args(["run", "--no-history", "--cases"])
        .arg(&cases)
        .env("XDG_DATA_HOME", &data)
        .env("BAKEOFF_TREND_KEY", "sk-test");
    let o = output(c).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
    assert!(text(&o).1.contains("the [[alerts]] were not checked"), "{}", text(&o).1);
    server.shutdown().await;
}

/// Dashboards: the history as CSV and JSON Lines, the latest run as OpenMetrics (read back by an
/// independent parser), and a push to a Pushgateway — a loopback receiver that parses the
/// Prometheus text format, and the real `prometheus-pushgateway` when it is installed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_history_exports_for_dashboards_and_pushes_to_a_pushgateway() {
    use std::sync::{Arc, Mutex};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cases = dir.path().join("set \"a\".jsonl");
    std::fs::write(
        &cases,
        "{\"id\":\"a\",\"prompt\":\"one\",\"expected\":\"one\"}\n{\"id\":\"b\",\"prompt\":\"two\"}\n",
    )
    .unwrap();
    // Each push: method, path, content type, body.
    type Pushes = Arc<Mutex<Vec<(String, String, String, String)>>>;
    let pushed: Pushes = Arc::default();
    let app = {
        let pushed = pushed.clone();
        axum::Router::new().fallback(move |req: axum::extract::Request| {
            let pushed = pushed.clone();
            async move {
                let method = req.method().to_string();
                let path = req.uri().path().to_string();
                let ctype =
                    req.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
                let body = axum::body::to_bytes(req.into_body(), 1 << 20).await.unwrap();
                pushed.lock().unwrap().push((method, path, ctype, String::from_utf8(body.to_vec()).unwrap()));
                axum::http::StatusCode::OK
            }
        })
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gw = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let run = |args: Vec<String>| {
        let mut c = bakeoff();
        c.args(args).env("XDG_DATA_HOME", &data);
        output(c)
    };
    let s = |v: &[&str]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    let c = cases.display().to_string();
    let o =
        run(s(&["run", "--demo", "--cases", &c, "--label", "w49", "--push-gateway", &format!("http://{gw}/")])).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
    assert!(text(&o).1.contains("pushed the run's figures to the Pushgateway"), "{}", text(&o).1);
    {
        let got = pushed.lock().unwrap();
        assert_eq!(got.len(), 1);
        let (method, path, ctype, body) = &got[0];
        assert_eq!(method, "PUT");
        assert_eq!(path, "/metrics/job/bakeoff/cases/set%20%22a%22.jsonl", "the case set is the grouping key");
        assert!(ctype.starts_with("text/plain; version=0.0.4"));
        let lines = body.lines().map(|l| Ok(l.to_string()));
        let scrape = prometheus_parse::Scrape::parse(lines).expect("the Prometheus text format parses");
        let names: std::collections::BTreeSet<&str> = scrape.samples.iter().map(|s| s.metric.as_str()).collect();
        for want in [
            "bakeoff_requests_total",
            "bakeoff_ttft_seconds",
            "bakeoff_latency_seconds",
            "bakeoff_acceptance_ratio",
            "bakeoff_run_timestamp_seconds",
        ] {
            assert!(names.contains(want), "{want} in {names:?}");
        }
        let ttft = scrape
            .samples
            .iter()
            .find(|s| {
                s.metric == "bakeoff_ttft_seconds"
                    && s.labels.get("model") == Some("swift-mini")
                    && s.labels.get("quantile") == Some("0.5")
            })
            .unwrap();
        // prometheus-parse keeps a label value's escapes as written; the real Pushgateway below
        // reads them.
        assert_eq!(ttft.labels.get("cases"), Some(r#"set \"a\".jsonl"#), "label values are escaped");
        assert_eq!(ttft.labels.get("label"), Some("w49"));
        let prometheus_parse::Value::Gauge(v) = ttft.value else { panic!("{:?}", ttft.value) };
        assert!((0.1..0.4).contains(&v), "seconds, not milliseconds: {v}");
    }
    let o = run(s(&["run", "--demo", "--prompt", "hi"])).await;
    assert_eq!(o.status.code(), Some(0));

    // CSV: one row per request, with the run's label and case set.
    let o = run(s(&["history", "export", "--format", "csv"])).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
    let mut rdr = csv::Reader::from_reader(o.stdout.as_slice());
    let head = rdr.headers().unwrap().clone();
    for col in ["run", "label", "cases", "case_id", "model", "status", "ttft_ms", "latency_ms", "cost_usd"] {
        assert!(head.iter().any(|h| h == col), "{col} in {head:?}");
    }
    let rows: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 8 + 4, "2 cases × 4 models, then one prompt × 4");
    let label = head.iter().position(|h| h == "label").unwrap();
    assert_eq!(&rows[0][label], "w49");
    // JSON Lines carry the answers too; --since filters.
    let o = run(s(&["history", "export", "--format", "jsonl", "--label", "w49"])).await;
    let lines: Vec<serde_json::Value> = text(&o).0.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 8);
    assert!(lines.iter().all(|l| l["output"].as_str().is_some_and(|o| !o.is_empty())));
    let o = run(s(&["history", "export", "--format", "csv", "--since", "2099-01-01"])).await;
    assert_eq!(csv::Reader::from_reader(o.stdout.as_slice()).records().count(), 0);

    // OpenMetrics: each case set's latest run (the case set and the one-prompt runs).
    let o = run(s(&["history", "export", "--format", "openmetrics"])).await;
    let (om, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(om.ends_with("# EOF\n"), "{om}");
    assert!(
        om.contains("# TYPE bakeoff_requests counter\n") && om.contains("bakeoff_requests_total{job=\"bakeoff\""),
        "{om}"
    );
    let exposition = openmetrics_parser::openmetrics::parse_openmetrics(&om).expect("OpenMetrics parses");
    let acceptance = &exposition.families["bakeoff_acceptance_ratio"];
    assert!(!acceptance.iter_samples().collect::<Vec<_>>().is_empty());
    assert!(om.contains("cases=\"none\""), "the one-prompt runs are a series of their own");

    // The real Pushgateway, when it is installed (CI installs Debian's prometheus-pushgateway).
    match which("prometheus-pushgateway").or_else(|| which("pushgateway")) {
        None => eprintln!("prometheus-pushgateway not found: pushed to the loopback receiver only"),
        Some(bin) => {
            let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let mut child = std::process::Command::new(bin)
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let url = format!("http://127.0.0.1:{port}");
            let client = reqwest::Client::new();
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            while client.get(format!("{url}/-/ready")).send().await.map(|r| !r.status().is_success()).unwrap_or(true) {
                assert!(std::time::Instant::now() < deadline, "the Pushgateway did not start");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let o = run(s(&["history", "export", "--format", "csv", "--push-gateway", &url])).await;
            let metrics = client.get(format!("{url}/metrics")).send().await.unwrap().text().await.unwrap();
            let _ = child.kill();
            let _ = child.wait();
            assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
            assert!(
                metrics.contains("bakeoff_acceptance_ratio{cases=\"set \\\"a\\\".jsonl\",instance=\"\",job=\"bakeoff\",label=\"w49\",model=\"deep-think\"}"),
                "{metrics}"
            );
        }
    }
}

fn which(name: &str) -> Option<std::path::PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?).map(|d| d.join(name)).find(|p| p.is_file())
}

/// `bakeoff load` summaries land in the history (mode load, their request and error counts),
/// an import of the saved summary is recognised, and `--push-gateway` pushes its figures.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_runs_are_recorded_and_pushed() {
    use std::sync::{Arc, Mutex};
    let pushed: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let app = {
        let pushed = pushed.clone();
        axum::Router::new().fallback(move |req: axum::extract::Request| {
            let pushed = pushed.clone();
            async move {
                let path = req.uri().path().to_string();
                let body = axum::body::to_bytes(req.into_body(), 1 << 20).await.unwrap();
                pushed.lock().unwrap().push((path, String::from_utf8(body.to_vec()).unwrap()));
                axum::http::StatusCode::OK
            }
        })
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gw = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let summary = dir.path().join("load.json");
    let mut c = bakeoff();
    c.args(["load", "--demo", "--prompt", "hi", "-n", "12", "-c", "12", "--no-tui", "--label", "peak"])
        .arg("--report")
        .arg(&summary)
        .args(["--push-gateway", &format!("http://{gw}")])
        .env("XDG_DATA_HOME", &data);
    let o = output(c).await;
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("pushed the load run's figures"), "{err}");
    {
        let got = pushed.lock().unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, "/metrics/job/bakeoff/cases/load");
        let scrape = prometheus_parse::Scrape::parse(got[0].1.lines().map(|l| Ok(l.to_string()))).unwrap();
        let total: f64 = scrape
            .samples
            .iter()
            .filter(|s| s.metric == "bakeoff_requests_total")
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Untyped(v) => v,
                _ => 0.0,
            })
            .sum();
        assert_eq!(total, 12.0, "{}", got[0].1);
    }
    let mut c = bakeoff();
    c.args(["history", "--json"]).env("XDG_DATA_HOME", &data);
    let doc: serde_json::Value = serde_json::from_str(&text(&output(c).await).0).unwrap();
    let run = &doc["runs"][0];
    assert_eq!(
        (run["mode"].as_str(), run["requests"].as_u64(), run["label"].as_str()),
        (Some("load"), Some(12), Some("peak"))
    );
    assert_eq!(run["state"], "complete");
    let mut c = bakeoff();
    c.args(["history", "import"]).arg(&summary).env("XDG_DATA_HOME", &data);
    let o = output(c).await;
    assert!(text(&o).0.contains("already recorded as run 1"), "{}{}", text(&o).0, text(&o).1);
    // Trends and alerts leave load runs out: there is nothing to trend yet.
    let mut c = bakeoff();
    c.args(["trend"]).env("XDG_DATA_HOME", &data);
    let o = output(c).await;
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("no runs recorded that match"), "{}", text(&o).1);
}

/// Each POST a webhook receiver got: its path and JSON body.
type Received = std::sync::Arc<std::sync::Mutex<Vec<(String, serde_json::Value)>>>;

/// A loopback webhook receiver; its first `fail_first` POSTs to a path with "json" in it get a
/// 500 (to see the sender retry).
async fn webhook_receiver(fail_first: u32) -> (std::net::SocketAddr, Received) {
    let received: Received = Default::default();
    let failures = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(fail_first));
    let app = {
        let received = received.clone();
        axum::Router::new().fallback(move |req: axum::extract::Request| {
            let (received, failures) = (received.clone(), failures.clone());
            async move {
                let path = req.uri().path().to_string();
                let bytes = axum::body::to_bytes(req.into_body(), 1 << 20).await.unwrap();
                let fail = path.contains("json")
                    && failures
                        .fetch_update(std::sync::atomic::Ordering::SeqCst, std::sync::atomic::Ordering::SeqCst, |n| {
                            n.checked_sub(1)
                        })
                        .is_ok();
                if fail {
                    return axum::http::StatusCode::INTERNAL_SERVER_ERROR;
                }
                received.lock().unwrap().push((path, serde_json::from_slice(&bytes).unwrap()));
                axum::http::StatusCode::OK
            }
        })
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, received)
}

/// Eight plain cases (`c1` … `c8`), enough for a paired test to call a consistent change.
fn eight_cases(dir: &Path) -> std::path::PathBuf {
    let cases = dir.join("cases.jsonl");
    let lines: String = (1..=8).map(|i| format!("{{\"id\":\"c{i}\",\"prompt\":\"question {i}\"}}\n")).collect();
    std::fs::write(&cases, lines).unwrap();
    cases
}

/// A config with one model, `svc`, on the mock at `addr` answering after `ttft` ms (key from
/// `BAKEOFF_TREND_KEY`), followed by `extra`.
fn svc_config(dir: &Path, addr: std::net::SocketAddr, ttft: u32, extra: &str) -> std::path::PathBuf {
    write_config(
        dir,
        &format!(
            "[[models]]\nname = \"svc\"\nprovider = \"openai\"\nmodel = \"s;ttft={ttft};tps=2000;tokens=5\"\nbase_url = \"http://{addr}/v1\"\napi_key_env = \"BAKEOFF_TREND_KEY\"\n\n{extra}"
        ),
    )
}

/// The README's weekly check with the history on PostgreSQL (a server the test starts): three
/// runs of a case set write to `history_url`, the third after the model got slower; `history`
/// lists them, `trend` marks the change, the regression rule exits 3 and reaches the webhook,
/// the OpenMetrics export parses — and no file history appears. The password (from
/// `PGPASSWORD`) is in no output or file; a config or `--db` URL holding one is refused without
/// repeating it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_history_on_postgresql_works_end_to_end() {
    let Some(pg) = common::pg_server::PgServer::start() else { return };
    pg.create_database("weekly");
    let (hook, received) = webhook_receiver(0).await;

    let server = common::server().await;
    let addr = server.addr();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cases = eight_cases(dir.path());
    let config = |ttft: u32, url: &str| {
        write_config(
            dir.path(),
            &format!(
                "history_url = \"{url}\"\n\n[[models]]\nname = \"svc\"\nprovider = \"openai\"\n\
                 model = \"s;ttft={ttft};tps=2000;tokens=5\"\nbase_url = \"http://{addr}/v1\"\n\
                 api_key_env = \"BAKEOFF_TREND_KEY\"\n\n[[alerts]]\nrule = \"regression\"\nmodel = \"svc\"\n\
                 metric = \"ttft_p50\"\nthreshold = \"20%\"\nbaseline_runs = 4\n\n[[webhooks]]\nurl_env = \"HOOK\"\n"
            ),
        )
    };
    let url = pg.url_without_password("weekly");
    let bakeoff_pg = |cfg: &Path| {
        let mut c = bakeoff();
        c.arg("--config")
            .arg(cfg)
            .env("XDG_DATA_HOME", &data)
            .env("PGPASSWORD", &pg.password)
            .env("BAKEOFF_TREND_KEY", "sk-test")
            .env("HOOK", format!("http://{hook}/alert"));
        c
    };
    let mut seen = String::new();
    for (week, ttft) in [("w1", 20), ("w2", 22), ("w3", 200)] {
        let mut c = bakeoff_pg(&config(ttft, &url));
        c.args(["run", "--cases"]).arg(&cases).args(["--label", week]);
        let o = output(c).await;
        let (out, err) = text(&o);
        let want = if week == "w3" { 3 } else { 0 };
        assert_eq!(o.status.code(), Some(want), "{week}: {out}{err}");
        seen += &(out + &err);
    }
    assert!(seen.contains("ALERT regression: svc ttft_p50"), "{seen}");
    assert_eq!(received.lock().unwrap().len(), 1, "the webhook got the alert");
    assert_eq!(received.lock().unwrap()[0].1["alerts"][0]["rule"], "regression");
    let cfg = config(20, &url);
    let command = |args: &[&str]| {
        let mut c = bakeoff_pg(&cfg);
        c.args(args);
        output(c)
    };
    let o = command(&["history", "--json"]).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let runs = doc["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 3, "{out}");
    assert!(runs.iter().all(|r| r["state"] == "complete" && r["requests"] == 8), "{out}");
    assert_eq!(runs[2]["label"], "w3");
    let o = command(&["history"]).await;
    let (out, _) = text(&o);
    let name = url.split('?').next().unwrap();
    assert!(out.contains(&format!("3 run(s) in {name}\n")), "the history is named without its password: {out}");
    seen += &out;
    let o = command(&["trend", "--metric", "ttft_p50"]).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(out.contains("ttft_p50 (ms) · cases.jsonl · 3 run(s)") && out.contains("▲ significantly worse"), "{out}");
    seen += &out;
    let o = command(&["history", "export", "--format", "openmetrics"]).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    openmetrics_parser::openmetrics::parse_openmetrics(&out).expect("the OpenMetrics export parses");
    assert!(out.contains("bakeoff_ttft_seconds"), "{out}");
    seen += &out;
    assert!(!data.join("bakeoff/history.sqlite").exists(), "no file history beside the server");
    assert!(!seen.contains(&pg.password), "the password is printed nowhere");
    for journal in std::fs::read_dir(data.join("bakeoff/sessions")).unwrap() {
        let bytes = std::fs::read(journal.unwrap().path()).unwrap();
        assert!(!String::from_utf8_lossy(&bytes).contains(&pg.password));
    }

    // A password in a file or on a command line is refused, and not repeated.
    let leaky = config(20, &pg.url("weekly"));
    let mut c = bakeoff_pg(&leaky);
    c.arg("history");
    let o = output(c).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}{err}");
    assert!(err.contains("PGPASSWORD") && !err.contains(&pg.password) && !out.contains(&pg.password), "{err}");
    let o = command(&["history", "--db", &pg.url("weekly")]).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}{err}");
    assert!(!err.contains(&pg.password), "{err}");
    // The whole URL in $BAKEOFF_HISTORY_URL may hold it (and wins over the config).
    let mut c = bakeoff();
    c.args(["history", "--json"])
        .env("XDG_DATA_HOME", &data)
        .env("BAKEOFF_HISTORY_URL", pg.url("weekly"))
        .env_remove("PGPASSWORD");
    let o = output(c).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert_eq!(serde_json::from_str::<serde_json::Value>(&out).unwrap()["runs"].as_array().unwrap().len(), 3);
    server.shutdown().await;
}

/// ROUGE, BLEU and chrF in a batch run: every answer scored against its case's references
/// (`reference`, `references`, else `expected`) exactly as the library computes them, the
/// per-model means in the report, and a score without `min` deciding nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_metrics_score_each_answer_against_its_case() {
    use bakeoff::eval::{RougeVariant, reference};
    let dir = tempfile::tempdir().unwrap();
    let cases = dir.path().join("cases.jsonl");
    std::fs::write(
        &cases,
        "{\"id\":\"fr\",\"prompt\":\"Capital of France?\",\"reference\":\"The capital of France is Paris.\"}\n\
         {\"id\":\"tcp\",\"prompt\":\"TCP vs UDP?\",\"references\":[\"TCP is reliable; UDP is not.\",\"UDP is connectionless.\"]}\n\
         {\"id\":\"h2o\",\"prompt\":\"What is water made of?\",\"expected\":\"hydrogen and oxygen\"}\n",
    )
    .unwrap();
    let cfg = write_config(
        dir.path(),
        "[[evaluators]]\nkind = \"rouge\"\n\n[[evaluators]]\nkind = \"rouge\"\nvariant = \"rouge2\"\n\n\
         [[evaluators]]\nkind = \"bleu\"\n\n[[evaluators]]\nkind = \"chrf\"\nmin = 0.05\n",
    );
    let mut c = bakeoff();
    c.arg("--config").arg(&cfg).args(["run", "--demo", "--no-history", "--json", "--cases"]).arg(&cases);
    let o = output(c).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let refs_of = |case: &str| -> Vec<&str> {
        match case {
            "fr" => vec!["The capital of France is Paris."],
            "tcp" => vec!["TCP is reliable; UDP is not.", "UDP is connectionless."],
            _ => vec!["hydrogen and oxygen"],
        }
    };
    let mut checked = 0;
    let mut answers: std::collections::BTreeMap<String, Vec<(String, Vec<&str>)>> = Default::default();
    for round in doc["rounds"].as_array().unwrap() {
        let refs = refs_of(round["case_id"].as_str().unwrap());
        for resp in round["responses"].as_array().unwrap() {
            let answer = resp["result"]["output"].as_str().unwrap();
            answers
                .entry(resp["model"].as_str().unwrap().to_string())
                .or_default()
                .push((answer.to_string(), refs.clone()));
            let evals = resp["evals"].as_array().unwrap();
            let score = |name: &str| evals.iter().find(|e| e["name"] == name).unwrap()["score"].as_f64().unwrap();
            // The same figure (JSON's decimal round trip may move the last bit).
            let same = |a: f64, b: f64| assert!((a - b).abs() < 1e-12, "{a} vs {b}");
            same(score("rougeL"), reference::rouge(RougeVariant::RougeL, answer, &refs));
            same(score("rouge2"), reference::rouge(RougeVariant::Rouge2, answer, &refs));
            same(score("bleu"), reference::sentence_bleu(answer, &refs));
            let chrf = reference::sentence_chrf(answer, &refs);
            same(score("chrf"), chrf);
            let chrf_eval = evals.iter().find(|e| e["name"] == "chrf").unwrap();
            assert_eq!(chrf_eval["passed"], chrf >= 0.05, "min makes it a check");
            let rouge = evals.iter().find(|e| e["name"] == "rougeL").unwrap();
            assert!(rouge["passed"].is_null() && rouge.get("error").is_none(), "a score only: {rouge}");
            checked += 1;
        }
    }
    assert_eq!(checked, 12, "3 cases × 4 demo models");
    for m in doc["models"].as_array().unwrap() {
        let means = &m["reference_metrics"];
        for name in ["rougeL", "rouge2", "bleu", "chrf"] {
            assert_eq!(means[name]["n"], 3, "{}: {means}", m["model"]);
            let v = means[name]["mean"].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&v), "{v}");
        }
        // Corpus BLEU and chrF over the model's answers, as sacrebleu's corpus_bleu/corpus_chrf.
        let segments = || answers[m["model"].as_str().unwrap()].iter().map(|(a, r)| (a.as_str(), r.clone()));
        let corpus = |name: &str| means[name]["corpus"].as_f64().unwrap();
        assert!((corpus("bleu") - reference::corpus_bleu(segments())).abs() < 1e-4, "{means}");
        assert!((corpus("chrf") - reference::corpus_chrf(segments())).abs() < 1e-4, "{means}");
        assert!(means["rougeL"].get("corpus").is_none(), "ROUGE has no corpus figure");
    }
}

/// Limits on speed and price count for acceptance: against a model scripted to answer after
/// 300 ms, a case allowing 100 ms fails, one allowing 2 s passes, and a global cost limit on a
/// model without a price is an error (acceptance unknown), never a pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn speed_and_price_limits_count_for_acceptance() {
    let server = common::server().await;
    let dir = tempfile::tempdir().unwrap();
    let cases = dir.path().join("cases.jsonl");
    std::fs::write(
        &cases,
        "{\"id\":\"tight\",\"prompt\":\"a\",\"max_ttft_ms\":100}\n\
         {\"id\":\"loose\",\"prompt\":\"b\",\"max_ttft_ms\":2000,\"max_latency_ms\":5000}\n\
         {\"id\":\"priced\",\"prompt\":\"c\",\"max_cost_usd\":0.01}\n",
    )
    .unwrap();
    let cfg = svc_config(dir.path(), server.addr(), 300, "");
    let mut c = bakeoff();
    c.arg("--config")
        .arg(&cfg)
        .args(["run", "--no-history", "--json", "--cases"])
        .arg(&cases)
        .env("BAKEOFF_TREND_KEY", "sk-test");
    let o = output(c).await;
    let (out, err) = text(&o);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
    let by_case = |id: &str| {
        let round = doc["rounds"].as_array().unwrap().iter().find(|r| r["case_id"] == id).unwrap();
        round["responses"][0].clone()
    };
    let tight = by_case("tight");
    let ttft = tight["result"]["ttft_ms"].as_f64().unwrap();
    assert!(ttft >= 300.0, "scripted delay: {ttft}");
    assert_eq!(tight["evals"][0]["name"], "max_ttft_ms");
    assert_eq!(tight["evals"][0]["passed"], false, "{tight}");
    assert_eq!(tight["acceptable"], false);
    let loose = by_case("loose");
    assert!(loose["evals"].as_array().unwrap().iter().all(|e| e["passed"] == true), "{loose}");
    assert_eq!(loose["acceptable"], true);
    let priced = by_case("priced");
    assert!(priced["evals"][0]["passed"].is_null(), "{priced}");
    assert!(priced["evals"][0]["error"].as_str().unwrap().contains("cost is unknown"), "{priced}");
    assert!(priced["acceptable"].is_null(), "an unknown cost leaves acceptance unknown");
    server.shutdown().await;
}

/// The judging sample on the demo, as the README shows it (three of its cases): a three-judge
/// panel with each judge's vote, pairwise judges with the sloppy one's position bias, agreement
/// among the panel's members, self-preference per judge by family, embedding similarity and the
/// other reference metrics per model, and evaluation spend apart from the models' cost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_judging_sample_reports_panels_bias_agreement_and_similarity_on_the_demo() {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-cases");
    let all = std::fs::read_to_string(root.join("summaries.jsonl")).unwrap();
    let cases = dir.path().join("three.jsonl");
    std::fs::write(&cases, all.lines().take(3).collect::<Vec<_>>().join("\n")).unwrap();
    let mut c = bakeoff();
    c.arg("--config").arg(root.join("judging.toml")).args(["run", "--demo", "--no-history", "--cases"]).arg(&cases);
    c.arg("--journal").arg(dir.path().join("j.jsonl")).arg("--report").arg(dir.path().join("r"));
    let o = tokio::time::timeout(Duration::from_secs(240), output(c)).await.expect("the run ends within 4 minutes");
    let (out, err) = text(&o);
    assert!(o.status.code().is_some(), "{err}");
    for table in
        ["reference metrics", "evaluation spend", "pairwise judges", "judge agreement", "judge self-preference"]
    {
        assert!(out.contains(table), "{table} is printed:\n{out}");
    }
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("r.json")).unwrap()).unwrap();
    for m in r["models"].as_array().unwrap() {
        let sim = &m["reference_metrics"]["similarity"];
        assert_eq!(sim["n"], 3, "{m}");
        assert!(sim["mean"].as_f64().is_some_and(|v| v > 0.0 && v <= 1.0), "{sim}");
        for metric in ["rougeL", "bleu", "chrf"] {
            assert_eq!(m["reference_metrics"][metric]["n"], 3, "{metric}: {m}");
        }
        let spend = &m["eval_spend"];
        assert!(spend["requests"].as_u64().unwrap() >= 9, "three judges and the embedder per answer: {spend}");
        assert!(spend["cost_usd"].as_f64().unwrap() > 0.0);
    }
    let answer = &r["rounds"][0]["responses"][0];
    let panel = answer["evals"].as_array().unwrap().iter().find(|e| e["name"] == "panel").unwrap();
    assert_eq!(panel["votes"].as_array().unwrap().len(), 3, "{panel}");
    assert!(answer["result"]["family"].is_string());
    let cross = &r["cross"];
    let pair_judges = cross["pair_judges"].as_array().unwrap();
    assert_eq!(pair_judges.len(), 3);
    let sloppy = pair_judges.iter().find(|p| p["judge"] == "pairs/swift-mini").unwrap();
    assert!(sloppy["first_shown_rate"].as_f64().unwrap() > 0.6, "the sloppy judge's position bias: {sloppy}");
    assert!(cross["judge_panel"]["alpha"].as_f64().is_some(), "{}", cross["judge_panel"]);
    assert_eq!(cross["judge_panel"]["judges"].as_array().unwrap().len(), 3);
    let families: Vec<&str> =
        cross["self_preference"].as_array().unwrap().iter().map(|s| s["family"].as_str().unwrap()).collect();
    assert_eq!(families, ["google", "anthropic", "openai"], "deep-think, steady-pro, swift-mini");
    assert!(cross["self_preference"][0]["own_answers"].as_u64().unwrap() == 3);
}
