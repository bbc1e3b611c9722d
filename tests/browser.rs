//! The HTML reports as a person sees them: each report kind (a demo case set's batch report, an
//! interactive session's report, a load summary, a trend page) opened in headless Chromium at 1400 and 420 px
//! wide. Fails when the page scrolls sideways, when a chart, table or code block is cut off (a table
//! in its own scrolling wrapper may scroll; the wrapper may not overflow), or when the page does not
//! open with its verdict (batch and session reports) or its headline tiles (load reports).
//!
//! The reports forbid scripts (their Content-Security-Policy), so the measuring script lives in a
//! wrapper page of ours that frames each report; `--dump-dom` prints what it found.
//!
//! Chromium is required (`.ci/run` installs Debian's `chromium` when missing; `BAKEOFF_CHROMIUM`
//! names another binary); without it the test fails saying so — never passes silently.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_bakeoff");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Runs `cmd`, killing it after `limit`: nothing here may hang the test run.
fn run_with_deadline(mut cmd: Command, limit: Duration) -> Output {
    let what = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {what}: {e}"));
    // Drain the pipes on threads so a chatty child cannot block on a full pipe.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = std::io::Read::read_to_end(&mut out, &mut v);
        v
    });
    let err_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = std::io::Read::read_to_end(&mut err, &mut v);
        v
    });
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output { status, stdout: out_t.join().unwrap(), stderr: err_t.join().unwrap() }
}

fn bakeoff(dir: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .current_dir(dir)
        .env("HOME", dir)
        .env("XDG_CONFIG_HOME", dir.join(".config"))
        .env("XDG_DATA_HOME", dir.join(".local/share"))
        .env("BAKEOFF_CONFIG", "")
        .env("NO_COLOR", "1");
    let out = run_with_deadline(cmd, Duration::from_secs(120));
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "bakeoff {args:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn chromium() -> PathBuf {
    if let Some(p) = std::env::var_os("BAKEOFF_CHROMIUM").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"] {
        for dir in std::env::split_paths(&path) {
            let p = dir.join(name);
            if p.is_file() {
                return p;
            }
        }
    }
    panic!(
        "headless Chromium is required to check the HTML reports in a browser (.ci/run installs Debian's \
         `chromium`); install it or set BAKEOFF_CHROMIUM to a Chrome/Chromium binary, and re-run"
    );
}

/// What the wrapper page measured of one report at one width.
#[derive(Debug, serde::Deserialize)]
struct Measured {
    width: f64,
    svgs: u64,
    tables: u64,
    problems: Vec<String>,
}

/// The wrapper: frames `report` at each width and, once everything has loaded, writes what it
/// measured as JSON between markers.
fn wrapper(report: &str, headline: &str) -> String {
    format!(
        r#"<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>
<pre id="result">pending</pre>
<iframe id="wide" src="{report}" style="width:1400px;height:1600px;border:0"></iframe>
<iframe id="narrow" src="{report}" style="width:420px;height:1600px;border:0"></iframe>
<script>
function check(frame) {{
  var d = frame.contentDocument, root = d.documentElement, w = root.clientWidth, out = [];
  if (root.scrollWidth > w + 1) out.push("the page scrolls sideways: " + root.scrollWidth + " px of " + w);
  d.querySelectorAll("svg, table, pre, img, figure").forEach(function (e) {{
    var wrap = e.closest(".scroll"), r = (wrap || e).getBoundingClientRect();
    if (r.right > w + 1 || r.left < -1) {{
      var name = e.tagName.toLowerCase() + (e.getAttribute("aria-label") ? " '" + e.getAttribute("aria-label") + "'" : "");
      out.push(name + (wrap ? " (its scrolling wrapper)" : "") + " is cut off: " + Math.round(r.left) + ".." + Math.round(r.right) + " px of " + w);
    }}
  }});
  d.querySelectorAll("svg").forEach(function (svg) {{
    var box = svg.getBoundingClientRect();
    svg.querySelectorAll("text").forEach(function (t) {{
      var r = t.getBoundingClientRect();
      if (r.width > 0 && (r.right > box.right + 1 || r.left < box.left - 1))
        out.push("chart '" + (svg.getAttribute("aria-label") || "") + "' cuts its text '" + t.textContent + "'");
    }});
  }});
  if (!d.querySelector({headline:?})) out.push("no {headline} at the top of the page");
  return {{width: w, svgs: d.querySelectorAll("svg").length, tables: d.querySelectorAll("table").length, problems: out}};
}}
window.addEventListener("load", function () {{
  var res;
  try {{ res = [check(document.getElementById("wide")), check(document.getElementById("narrow"))]; }}
  catch (e) {{ res = String(e); }}
  document.getElementById("result").textContent = "MEASURED" + JSON.stringify(res) + "END";
}});
</script></body></html>"#
    )
}

/// Opens `report` (a file in `dir`) at 1400 and 420 px; returns what was measured at each.
fn measure(dir: &Path, report: &str, headline: &str) -> Vec<Measured> {
    let page = dir.join(format!("check-{report}"));
    std::fs::write(&page, wrapper(report, headline)).unwrap();
    let profile = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(chromium());
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        // The wrapper reads its frames: same origin only when file pages may reach each other.
        "--allow-file-access-from-files",
        "--virtual-time-budget=10000",
        "--dump-dom",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()))
    .arg(format!("file://{}", page.display()));
    let out = run_with_deadline(cmd, Duration::from_secs(90));
    let dom = String::from_utf8_lossy(&out.stdout);
    let json = dom.split("MEASURED").nth(1).and_then(|s| s.split("END").next()).unwrap_or_else(|| {
        panic!("Chromium measured nothing ({}): {}", out.status, String::from_utf8_lossy(&out.stderr))
    });
    let json = json.replace("&quot;", "\"").replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">");
    serde_json::from_str(&json).unwrap_or_else(|e| panic!("{report}: {e}: {json}"))
}

fn assert_fits(dir: &Path, report: &str, headline: &str, min_svgs: u64) {
    let measured = measure(dir, report, headline);
    assert_eq!(measured.len(), 2, "{report}");
    for (m, width) in measured.iter().zip([1400, 420]) {
        assert!(m.width > 300.0, "{report} at {width}px: frame measured {} px wide", m.width);
        assert!(m.problems.is_empty(), "{report} at {width}px:\n  {}", m.problems.join("\n  "));
        assert!(m.svgs >= min_svgs, "{report} at {width}px: {} charts, expected at least {min_svgs}", m.svgs);
        assert!(m.tables >= 1, "{report} at {width}px: no table");
    }
}

#[test]
fn every_report_kind_fits_a_wide_and_a_phone_screen_and_opens_with_its_verdict() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // The check must be able to fail: a page wider than a phone, with no verdict, is caught.
    std::fs::write(
        dir.join("too-wide.html"),
        "<!DOCTYPE html><html><body><table><tr><td style=\"min-width:900px\">wide</td></tr></table>\
         <svg width=\"800\" height=\"10\"></svg><svg width=\"100\" height=\"20\" aria-label=\"c\">\
         <text x=\"60\" y=\"15\">cut off here</text></svg></body></html>",
    )
    .unwrap();
    let control = measure(dir, "too-wide.html", ".verdict");
    assert!(control[0].problems.iter().any(|p| p.contains("no .verdict")), "{control:?}");
    assert!(control[1].problems.iter().any(|p| p.contains("table is cut off")), "{control:?}");
    assert!(control[1].problems.iter().any(|p| p.contains("svg is cut off")), "{control:?}");
    assert!(control[1].problems.iter().any(|p| p.contains("scrolls sideways")), "{control:?}");
    assert!(control[0].problems.iter().any(|p| p.contains("cuts its text 'cut off here'")), "{control:?}");

    // A demo case set with categories: verdict per category, matrix, statistics, routing, rounds.
    let cases = format!("{ROOT}/sample-cases/factual.jsonl");
    bakeoff(dir, &["run", "--demo", "--cases", &cases, "--concurrency", "80", "--report", "batch.html"]);
    assert_fits(dir, "batch.html", ".verdict", 5);
    // That run is in the results history: its trend page, headed by the chart and change table.
    let trend = bakeoff(dir, &["trend", "--metric", "ttft_p50", "--format", "html"]);
    std::fs::write(dir.join("trend.html"), &trend.stdout).unwrap();
    assert_fits(dir, "trend.html", "table", 1);

    // An interactive session's report: an earlier version's journal with its rounds' case ids and
    // categories taken away, so each round is a prompt typed by hand.
    let journal = std::fs::read_to_string(format!("{ROOT}/tests/fixtures/v0.1.0/journal.jsonl")).unwrap();
    let mut typed = String::new();
    for line in journal.lines() {
        let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
        if let Some(o) = v.as_object_mut() {
            o.remove("case_id");
            o.remove("category");
            if o.get("type").and_then(|t| t.as_str()) == Some("session") {
                o["environment"]["mode"] = "interactive".into();
                o["environment"].as_object_mut().unwrap().remove("plan");
            }
        }
        typed.push_str(&format!("{v}\n"));
    }
    std::fs::write(dir.join("session.jsonl"), typed).unwrap();
    let session = bakeoff(dir, &["report", "session.jsonl", "--format", "html"]);
    std::fs::write(dir.join("session.html"), &session.stdout).unwrap();
    assert_fits(dir, "session.html", ".verdict", 4);

    // A load run's summary: tiles, histograms and the timeline as charts.
    bakeoff(dir, &["load", "--demo", "--requests", "80", "--concurrency", "80", "--no-tui", "--report", "load.json"]);
    let load = bakeoff(dir, &["report", "load.json", "--format", "html"]);
    std::fs::write(dir.join("load.html"), &load.stdout).unwrap();
    assert_fits(dir, "load.html", ".tiles", 3);
}
