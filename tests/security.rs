//! Hostile servers against the real binary: credentials stay with their origin, and keys a
//! server echoes back reach no output, file or screen.

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::Response;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};

fn bakeoff() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bakeoff"));
    c.env_remove("BAKEOFF_CONFIG").env("XDG_CONFIG_HOME", "/nonexistent-bakeoff-test").stdin(Stdio::null());
    c
}

/// Runs `cmd` with a deadline, so a hang fails the test instead of stalling the suite.
async fn output(mut cmd: Command) -> Output {
    let run = tokio::task::spawn_blocking(move || cmd.output().expect("bakeoff runs"));
    tokio::time::timeout(std::time::Duration::from_secs(60), run).await.expect("bakeoff ends within 60 s").unwrap()
}

/// Serves `app` on loopback port 0 until the test ends.
async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// The four wire formats, each pointed at `addr`, all reading their key from `BAKEOFF_SEC_KEY`.
fn config(dir: &Path, addr: SocketAddr) -> std::path::PathBuf {
    let mut body = String::new();
    for (name, provider, base) in [
        ("oai", "openai", format!("http://{addr}/v1")),
        ("anth", "anthropic", format!("http://{addr}")),
        ("gem", "gemini", format!("http://{addr}/v1beta")),
        ("oll", "ollama", format!("http://{addr}")),
    ] {
        body.push_str(&format!(
            "[[models]]\nname = \"{name}\"\nprovider = \"{provider}\"\nmodel = \"m\"\nbase_url = \"{base}\"\napi_key_env = \"BAKEOFF_SEC_KEY\"\n\n"
        ));
    }
    let p = dir.join("bakeoff.toml");
    std::fs::write(&p, body).unwrap();
    p
}

const KEY: &str = "sk-sec-test-Zq8XwLm4Tr7Yp2Vb";

/// A 301, 302, 307 or 308 to another origin: no request reaches that origin (so neither the key
/// nor anything else does), and each model's error names where the redirect pointed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_not_followed_in_any_format() {
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = seen.clone();
    let elsewhere = serve(Router::new().fallback(move |req: Request| {
        let log = log.clone();
        async move {
            log.lock().unwrap().push(format!("{} {} {:?}", req.method(), req.uri(), req.headers()));
            "stolen"
        }
    }))
    .await;
    for status in [301u16, 302, 307, 308] {
        let redirector = serve(Router::new().fallback(move |req: Request| async move {
            Response::builder()
                .status(StatusCode::from_u16(status).unwrap())
                .header(header::LOCATION, format!("http://{elsewhere}/moved{}", req.uri()))
                .body(Body::empty())
                .unwrap()
        }))
        .await;
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path(), redirector);
        let mut c = bakeoff();
        c.arg("--config").arg(&cfg).args(["run", "--prompt", "hi"]).env("BAKEOFF_SEC_KEY", KEY);
        let o = output(c).await;
        let out = String::from_utf8_lossy(&o.stdout);
        assert_eq!(o.status.code(), Some(1), "{status}: every model fails: {out}");
        for name in ["oai", "anth", "gem", "oll"] {
            let line = out
                .lines()
                .find(|l| {
                    l.trim_start().starts_with(&format!("{name}: {status} redirect to http://{elsewhere}/moved/"))
                })
                .unwrap_or_else(|| panic!("{status}: {name}'s error names the target: {out}"));
            assert!(line.contains("not followed"), "{line}");
        }
        // The load client's own HTTP/1.1 connections take the same path.
        let records = dir.path().join("load.jsonl");
        let mut c = bakeoff();
        c.arg("--config")
            .arg(&cfg)
            .args(["load", "--prompt", "hi", "-n", "4", "-c", "2", "--no-tui", "--out"])
            .arg(&records);
        c.env("BAKEOFF_SEC_KEY", KEY);
        let o = output(c).await;
        assert!(o.status.code().is_some(), "load ends normally: {}", String::from_utf8_lossy(&o.stderr));
        let records = std::fs::read_to_string(&records).unwrap();
        assert_eq!(records.lines().count(), 4, "{records}");
        for r in records.lines() {
            assert!(r.contains(&format!("{status} redirect to http://{elsewhere}/moved/")), "{r}");
        }
    }
    assert!(seen.lock().unwrap().is_empty(), "requests reached the other origin: {:?}", seen.lock().unwrap());
}
