//! End-to-end test of the interactive TUI: runs the real `bakeoff` binary inside a detached tmux
//! session of fixed size, types into it with `send-keys` and reads the screen with
//! `capture-pane`.
//!
//! tmux is required (CI installs it); without it these tests fail with a message saying so — they
//! never pass silently. Each test uses its own tmux server (`tmux -L <unique socket>`), killed on
//! drop even when an assertion fails.

mod common;

use common::tmux::{BIN, MockProcess, Tmux, clean_env};

/// Occurrences of `TTFT ` followed by a digit (a measured TTFT, not `TTFT —`).
fn measured_ttfts(s: &str) -> usize {
    s.match_indices("TTFT ").filter(|(i, _)| s[i + 5..].starts_with(|c: char| c.is_ascii_digit())).count()
}

/// Occurrences of `$` followed by a digit (a known cost).
fn known_costs(s: &str) -> usize {
    s.match_indices('$').filter(|(i, _)| s[i + 1..].starts_with(|c: char| c.is_ascii_digit())).count()
}

#[test]
fn demo_round_shows_metrics_for_every_model() {
    let home = tempfile::tempdir().expect("tempdir");
    let env = clean_env(home.path());
    let t = Tmux::start("demo", 160, 48, &env, &format!("'{BIN}'"));
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

#[test]
fn escape_sequences_in_model_output_do_not_reach_the_terminal() {
    let mock = MockProcess::start();
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
    let t = Tmux::start("escape", 120, 30, &env, &format!("'{BIN}' --config '{}'", config.display()));
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
