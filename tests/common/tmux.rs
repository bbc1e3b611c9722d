//! A private tmux server for end-to-end tests of the real binary: start a command in a detached
//! session of fixed size, type with `send-keys`, read the screen with `capture-pane`.
//!
//! tmux is required (CI installs it); without it a test fails saying so — never passes silently.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_bakeoff");
/// Generous: the debug binary on a loaded 2-core CI machine.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// An isolated environment: no user config, themes or colour preferences; the data dir (journals,
/// reports) under `home`.
pub fn clean_env(home: &Path) -> Vec<(String, String)> {
    let h = home.display().to_string();
    vec![
        ("HOME".into(), h.clone()),
        ("XDG_CONFIG_HOME".into(), format!("{h}/.config")),
        ("XDG_DATA_HOME".into(), format!("{h}/.local/share")),
        ("BAKEOFF_CONFIG".into(), String::new()),
        ("NO_COLOR".into(), String::new()),
    ]
}

pub struct Tmux {
    socket: String,
}

impl Tmux {
    pub fn start(test: &str, w: u16, h: u16, env: &[(String, String)], command: &str) -> Tmux {
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
        args.push(format!("{command}; echo \"EXITED $?\"; sleep 60"));
        let out = t.run(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(out.status.success(), "tmux new-session failed: {}", String::from_utf8_lossy(&out.stderr));
        t
    }

    pub fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux").arg("-L").arg(&self.socket).args(args).output().expect("run tmux")
    }

    pub fn send(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "main"];
        args.extend_from_slice(keys);
        let out = self.run(&args);
        assert!(out.status.success(), "send-keys failed: {}", String::from_utf8_lossy(&out.stderr));
    }

    pub fn type_text(&self, text: &str) {
        self.send(&["-l", text]);
    }

    pub fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "main"]).stdout).into_owned()
    }

    pub fn display(&self, format: &str) -> String {
        String::from_utf8_lossy(&self.run(&["display-message", "-p", "-t", "main", format]).stdout).trim().to_string()
    }

    pub fn wait_for(&self, what: &str, done: impl Fn(&str) -> bool) -> String {
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

/// Starts `bakeoff mock-server` on a free port; killed on drop.
pub struct MockProcess {
    child: Child,
    pub addr: String,
}

impl MockProcess {
    pub fn start() -> MockProcess {
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
        MockProcess { child, addr }
    }
}

impl Drop for MockProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
