//! End-to-end test of the interactive TUI: runs the real `bakeoff` binary inside a detached tmux
//! session of fixed size, types into it with `send-keys` and reads the screen with
//! `capture-pane`.
//!
//! tmux is required (CI installs it); without it these tests fail with a message saying so — they
//! never pass silently. Each test uses its own tmux server (`tmux -L <unique socket>`), killed on
//! drop even when an assertion fails.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_bakeoff");
/// Generous: the debug binary on a loaded 2-core CI machine.
const TIMEOUT: Duration = Duration::from_secs(20);

struct Tmux {
    socket: String,
}

impl Tmux {
    /// Starts `command` in a detached session `w`×`h` on a private tmux server.
    fn start(test: &str, w: u16, h: u16, env: &[(&str, &str)], command: &str) -> Tmux {
        match Command::new("tmux").arg("-V").output() {
            Ok(o) if o.status.success() => {}
            _ => panic!("tmux is required for the TUI end-to-end tests (CI installs it); install tmux and re-run"),
        }
        let t = Tmux { socket: format!("bakeoff-e2e-{}-{test}", std::process::id()) };
        let (w, h) = (w.to_string(), h.to_string());
        let mut args: Vec<String> =
            ["new-session", "-d", "-s", "main", "-x", &w, "-y", &h].iter().map(|s| s.to_string()).collect();
        for (k, v) in env {
            args.push("-e".into());
            args.push(format!("{k}={v}"));
        }
        // Keep the pane after the program exits so its exit status can be read.
        args.push(format!("{command}; echo \"EXITED $?\"; sleep 60"));
        let out = t.run(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(out.status.success(), "tmux new-session failed: {}", String::from_utf8_lossy(&out.stderr));
        t
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux").arg("-L").arg(&self.socket).args(args).output().expect("run tmux")
    }

    fn send(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "main"];
        args.extend_from_slice(keys);
        let out = self.run(&args);
        assert!(out.status.success(), "send-keys failed: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Types literal text (no key-name interpretation).
    fn type_text(&self, text: &str) {
        self.send(&["-l", text]);
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "main"]).stdout).into_owned()
    }

    fn display(&self, format: &str) -> String {
        String::from_utf8_lossy(&self.run(&["display-message", "-p", "-t", "main", format]).stdout).trim().to_string()
    }

    /// Polls the screen until `done` holds; panics with the last screen on timeout.
    fn wait_for(&self, what: &str, done: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if done(&s) {
                return s;
            }
            if start.elapsed() > TIMEOUT {
                panic!("timed out after {TIMEOUT:?} waiting for {what}; screen:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

/// Occurrences of `TTFT ` followed by a digit (a measured TTFT, not `TTFT —`).
fn measured_ttfts(s: &str) -> usize {
    s.match_indices("TTFT ").filter(|(i, _)| s[i + 5..].starts_with(|c: char| c.is_ascii_digit())).count()
}

/// Occurrences of `$` followed by a digit (a known cost).
fn known_costs(s: &str) -> usize {
    s.match_indices('$').filter(|(i, _)| s[i + 1..].starts_with(|c: char| c.is_ascii_digit())).count()
}

/// An isolated environment: no user config, no themes, no colour preferences.
fn clean_env(home: &Path) -> Vec<(String, String)> {
    let h = home.display().to_string();
    vec![
        ("HOME".into(), h.clone()),
        ("XDG_CONFIG_HOME".into(), format!("{h}/.config")),
        ("BAKEOFF_CONFIG".into(), String::new()),
        ("NO_COLOR".into(), String::new()),
    ]
}

fn env_refs(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

#[test]
fn demo_round_shows_metrics_for_every_model() {
    let home = tempfile::tempdir().expect("tempdir");
    let env = clean_env(home.path());
    let t = Tmux::start("demo", 160, 48, &env_refs(&env), &format!("'{BIN}'"));
    let idle = t.wait_for("the TUI to start on the demo", |s| s.contains("demo models") && s.contains("prompt"));
    let names = ["swift-mini", "steady-pro", "deep-think", "local-llama"];
    for n in names {
        assert!(idle.contains(n), "demo model {n} has no pane:\n{idle}");
    }
    assert!(idle.contains("README › Configure"), "the status bar says how to configure real models:\n{idle}");

    // Alt-Enter arrives from tmux as Esc followed by Enter: it must insert a newline, not send.
    t.type_text("Compare TCP and UDP.");
    t.send(&["Escape", "Enter"]);
    t.type_text("Two sentences.");
    let s = t.wait_for("a two-line prompt", |s| s.contains("│Two sentences.") || s.contains("│ Two sentences."));
    assert!(s.contains("Compare TCP and UDP."), "{s}");
    assert!(s.contains("round 0"), "Esc Enter must not send:\n{s}");

    t.send(&["Enter"]);
    let s = t.wait_for("every demo pane to finish with TTFT and cost", |s| {
        measured_ttfts(s) >= names.len() && s.matches("  done ").count() >= names.len()
    });
    // One known cost per pane plus the session total in the footer.
    assert!(known_costs(&s) > names.len(), "every pane shows a cost:\n{s}");
    assert!(s.matches("total ").count() >= names.len(), "finished panes show total latency:\n{s}");
    assert!(s.contains("round 1"), "{s}");

    // q in the panes quits and restores the terminal; the shell line then shows the exit status.
    t.send(&["q"]);
    let s = t.wait_for("the program to exit", |s| s.contains("EXITED"));
    assert!(s.contains("EXITED 0"), "{s}");
    assert_eq!(t.display("#{alternate_on}"), "0", "alternate screen left on quit");
}

/// Starts `bakeoff mock-server` on a free port; killed on drop.
struct MockServer {
    child: Child,
    addr: String,
}

impl MockServer {
    fn start() -> MockServer {
        let mut child = Command::new(BIN)
            .args(["mock-server", "--addr", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start bakeoff mock-server");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let _ = reader.read_line(&mut line);
        // Keep draining: the server prints more, and a closed pipe would make it exit.
        std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
        let Some(addr) = line.trim().strip_prefix("mock server listening on http://").map(str::to_string) else {
            let _ = child.kill();
            panic!("unexpected first line from bakeoff mock-server: {line:?}");
        };
        MockServer { child, addr }
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn escape_sequences_in_model_output_do_not_reach_the_terminal() {
    let mock = MockServer::start();
    let home = tempfile::tempdir().expect("tempdir");
    let config = home.path().join("bakeoff.toml");
    let model = |name: &str, script: &str| {
        format!(
            "[[models]]\nname = \"{name}\"\nprovider = \"openai\"\nmodel = \"{name};{script}\"\n\
             base_url = \"http://{}/v1\"\napi_key_env = \"\"\ninput_per_mtok = 1.0\noutput_per_mtok = 2.0\n\n",
            mock.addr
        )
    };
    let text = model("escaper", "text=escape;ttft=50;tps=300;tokens=80") + &model("plain", "ttft=50;tps=300;tokens=30");
    std::fs::write(&config, text).expect("write config");
    let env = clean_env(home.path());
    let t = Tmux::start("escape", 120, 30, &env_refs(&env), &format!("'{BIN}' --config '{}'", config.display()));
    t.wait_for("the TUI to start", |s| s.contains("escaper") && s.contains("plain"));
    let title_before = t.display("#{pane_title}");
    t.type_text("show me escapes");
    t.send(&["Enter"]);
    let s = t.wait_for("both panes to finish", |s| s.matches("  done ").count() >= 2 || s.contains("error"));
    assert_eq!(s.matches("  done ").count(), 2, "both models finish:\n{s}");
    // The escapes are shown as visible stand-ins instead of being obeyed.
    assert!(s.contains('␛'), "escape characters are shown visibly:\n{s}");
    // Nothing moved or cleared the screen: the status bar is still on the first line, the
    // footer on the last, and the other model's pane is intact.
    let lines: Vec<&str> = s.lines().collect();
    assert!(lines.first().is_some_and(|l| l.starts_with(" bakeoff")), "status bar moved:\n{s}");
    assert!(s.contains("session"), "footer gone:\n{s}");
    assert!(measured_ttfts(&s) >= 2, "{s}");
    // The terminal's state was not changed behind our back.
    let title_after = t.display("#{pane_title}");
    assert_eq!(title_after, title_before, "the pane title was changed by model output");
    assert!(!title_after.contains("pwned"));
    assert_eq!(t.display("#{alternate_on}"), "1", "still on the alternate screen");
    let buffers = String::from_utf8_lossy(&t.run(&["list-buffers"]).stdout).into_owned();
    assert!(!buffers.contains("pwned"), "OSC 52 reached tmux's clipboard: {buffers}");
    t.send(&["C-c"]);
    let s = t.wait_for("the program to exit on Ctrl-C", |s| s.contains("EXITED"));
    assert!(s.contains("EXITED 0"), "{s}");
}
