//! Tests that must run in a process of their own (process-wide switches, a tokenizer other tests
//! may have loaded): the parent runs one `#[ignore]`d test of this binary in a child.

/// Runs the ignored test `name` (its full path) in a child process of this test binary; returns
/// its standard output, failing the calling test when the child failed.
pub fn run_ignored(name: &str) -> String {
    let out = std::process::Command::new(std::env::current_exe().expect("the test binary's path"))
        .args(["--exact", name, "--ignored", "--nocapture", "--test-threads", "1"])
        .output()
        .expect("the test binary runs again");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{name} failed in its child process:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("1 passed"), "{name} did not run in the child (renamed?):\n{stdout}");
    stdout
}
