//! Hostile servers against the real binary: credentials stay with their origin, and keys a
//! server echoes back reach no output, file or screen.

mod common;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::Response;
use futures_util::StreamExt;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};

fn bakeoff() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bakeoff"));
    c.env_remove("BAKEOFF_CONFIG")
        .env("XDG_CONFIG_HOME", "/nonexistent-bakeoff-test")
        .env("XDG_DATA_HOME", std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("security-data"))
        .stdin(Stdio::null());
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

/// What a request carried that a careless or hostile server might quote back: every header and
/// the URL.
fn credentials(req: &Request) -> String {
    let mut s = format!("url {}", req.uri());
    for (k, v) in req.headers() {
        s.push_str(&format!(" {k}: {}", v.to_str().unwrap_or("?")));
    }
    s
}

/// A server that quotes the caller's credentials back: in each format's error envelope (401/400),
/// in a request-id header, and — for the model `echo-stream` — inside a streamed answer and its
/// reasoning, with the key split across chunks.
async fn echo_server() -> SocketAddr {
    serve(Router::new().fallback(|req: Request| async move {
        let echoed = credentials(&req);
        let path = req.uri().path().to_string();
        let body = axum::body::to_bytes(req.into_body(), 1 << 20).await.unwrap();
        let json = |status: u16, v: serde_json::Value| {
            Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .header("x-request-id", KEY)
                .body(Body::from(v.to_string()))
                .unwrap()
        };
        if String::from_utf8_lossy(&body).contains("echo-stream") {
            let (a, b) = KEY.split_at(12);
            let chunk = |field: &str, text: &str| {
                let delta = serde_json::json!({"choices":[{"index":0,"delta":{field: text}}], "model": KEY});
                format!("data: {delta}\n\n")
            };
            let events = vec![
                chunk("reasoning_content", &format!("the caller sent {a}")),
                chunk("reasoning_content", &format!("{b}, fine")),
                chunk("content", &format!("Your key is {a}")),
                chunk("content", &format!("{b}. And again: {KEY}")),
                "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n"
                    .into(),
            ];
            let stream = futures_util::stream::iter(events).then(|e| async move {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                Ok::<_, std::convert::Infallible>(axum::body::Bytes::from(e))
            });
            return Response::builder()
                .header("content-type", "text/event-stream")
                .header("x-request-id", KEY)
                .body(Body::from_stream(stream))
                .unwrap();
        }
        let message = format!("Incorrect API key provided. You sent {echoed}");
        if path.ends_with("/chat/completions") {
            json(401, serde_json::json!({"error": {"message": message, "type": "invalid_request_error"}}))
        } else if path.ends_with("/messages") {
            json(
                401,
                serde_json::json!({"type": "error", "error": {"type": "authentication_error", "message": message}}),
            )
        } else if path.starts_with("/v1beta/") {
            json(400, serde_json::json!({"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}}))
        } else {
            // Not an envelope bakeoff knows: the raw body is summarised.
            Response::builder().status(403).header("x-request-id", KEY).body(Body::from(message)).unwrap()
        }
    }))
    .await
}

/// Every file bakeoff wrote under `dir`, recursively.
fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// The secret part of the key: a short known start (`sk-sec-`) may show, the rest never.
fn assert_clean(what: &str, text: &str) {
    assert!(!text.contains(&KEY[7..]), "{what} leaks the key:\n{text}");
    assert!(!text.contains("Zq8X"), "{what} leaks part of the key:\n{text}");
}

/// Keys the server echoes in error bodies, headers and streamed text reach no output, no report,
/// no journal, no load record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_a_server_echoes_are_redacted_everywhere() {
    let addr = echo_server().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), addr);
    let mut body = std::fs::read_to_string(&cfg).unwrap();
    body.push_str(&format!(
        "[[models]]\nname = \"streamer\"\nprovider = \"openai\"\nmodel = \"echo-stream\"\nbase_url = \"http://{addr}/v1\"\napi_key_env = \"BAKEOFF_SEC_KEY\"\n"
    ));
    std::fs::write(&cfg, body).unwrap();
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let cases = dir.path().join("cases.jsonl");
    std::fs::write(&cases, "{\"id\":\"a\",\"prompt\":\"one\"}\n{\"id\":\"b\",\"prompt\":\"two\"}\n").unwrap();

    let runs: Vec<Vec<std::ffi::OsString>> = vec![
        vec!["run".into(), "--prompt".into(), "hi".into()],
        vec!["run".into(), "--prompt".into(), "hi".into(), "--show-output".into()],
        vec!["run".into(), "--prompt".into(), "hi".into(), "--json".into()],
        vec!["run".into(), "--prompt".into(), "hi".into(), "--report".into(), out_dir.join("single").into()],
        vec![
            "run".into(),
            "--cases".into(),
            cases.clone().into(),
            "--journal".into(),
            out_dir.join("j.jsonl").into(),
            "--report".into(),
            out_dir.join("batch").into(),
        ],
        vec![
            "load".into(),
            "--prompt".into(),
            "hi".into(),
            "-n".into(),
            "10".into(),
            "-c".into(),
            "2".into(),
            "--no-tui".into(),
            "--out".into(),
            out_dir.join("load.jsonl").into(),
            "--report".into(),
            out_dir.join("load-summary").into(),
        ],
    ];
    let mut streamed = false;
    for args in runs {
        let mut c = bakeoff();
        c.arg("--config")
            .arg(&cfg)
            .args(&args)
            .env("BAKEOFF_SEC_KEY", KEY)
            .env("XDG_DATA_HOME", dir.path().join("data"));
        let o = output(c).await;
        let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        assert!(o.status.code().is_some_and(|c| c <= 1), "{args:?}: {out}{err}");
        assert_clean(&format!("{args:?} stdout"), &out);
        assert_clean(&format!("{args:?} stderr"), &err);
        streamed |= out.contains("Your key is [redacted]") || out.contains("Your key is sk-sec-[redacted]");
        // The servers' messages still reach the user, minus the key.
        if args[0] == "run" && !args.iter().any(|a| a == "--json") {
            assert!(out.contains("Incorrect API key provided"), "{args:?}: {out}");
        }
    }
    assert!(streamed, "the echoed answer was shown (redacted)");
    let written = files(&out_dir);
    assert!(written.len() >= 8, "reports, journal and load records were written: {written:?}");
    for p in written {
        let text = std::fs::read_to_string(&p).unwrap();
        assert_clean(&p.display().to_string(), &text);
    }
    // The results history holds the echoed answers and errors of every run — redacted.
    let db = dir.path().join("data/bakeoff/history.sqlite");
    let mut bytes = std::fs::read(&db).expect("the runs were recorded");
    bytes.extend(std::fs::read(db.with_extension("sqlite-wal")).unwrap_or_default());
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains("[redacted]"), "the echoed answers are in the history");
    assert_clean("the results history", &text);
}

/// Text that could act on a terminal: C0 controls but newline, tab and carriage return; DEL and
/// C1 controls; bidi overrides and isolates.
fn hostile_chars(text: &str) -> Vec<(usize, char)> {
    text.char_indices()
        .filter(|&(_, c)| {
            (c.is_control() && !matches!(c, '\n' | '\t' | '\r'))
                || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
        })
        .collect()
}

/// A model answering with escape sequences (mock `text=escape`: OSC title and clipboard, screen
/// clear, C1 CSI, bidi override, NUL, DEL, bell) in every format, and a server whose error
/// message carries them too: nothing written to stdout, stderr or any file holds one raw.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_output_never_reaches_a_terminal_raw() {
    let server = common::server().await;
    let hostile = serve(Router::new().fallback(|| async {
        let message = "bad \u{202e}exe.pdf\u{202c} \u{1b}]0;pwned\u{7} \u{9b}2J \u{1b}]52;c;cm0gLXJmIH4=\u{7}";
        Response::builder()
            .status(400)
            .header("content-type", "application/json")
            .body(Body::from(serde_json::json!({"error": {"message": message}}).to_string()))
            .unwrap()
    }))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = String::new();
    for f in common::FORMATS {
        cfg.push_str(&format!(
            "[[models]]\nname = \"esc-{}\"\nprovider = \"{}\"\nmodel = \"esc;text=escape;ttft=5;tps=2000;tokens=60;reasoning=5\"\nbase_url = \"{}\"\napi_key_env = \"\"\n\n",
            f.as_str(),
            f.as_str(),
            server.base_url(f)
        ));
    }
    cfg.push_str(&format!(
        "[[models]]\nname = \"bad-error\"\nprovider = \"openai\"\nmodel = \"m\"\nbase_url = \"http://{hostile}/v1\"\napi_key_env = \"\"\n"
    ));
    let cfg_path = dir.path().join("bakeoff.toml");
    std::fs::write(&cfg_path, cfg).unwrap();
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let cases = dir.path().join("cases.jsonl");
    std::fs::write(&cases, "{\"id\":\"a\",\"prompt\":\"one\"}\n").unwrap();
    let single = out_dir.join("single");
    let p = |s: &str| std::ffi::OsString::from(s);
    let runs: Vec<Vec<std::ffi::OsString>> = vec![
        vec![p("run"), p("--prompt"), p("hi"), p("--show-output")],
        vec![p("run"), p("--prompt"), p("hi"), p("--json")],
        vec![p("run"), p("--prompt"), p("hi"), p("--report"), single.clone().into()],
        vec![p("report"), single.with_extension("json").into(), p("--format"), p("markdown")],
        vec![p("report"), single.with_extension("json").into(), p("--format"), p("html")],
        vec![p("report"), single.with_extension("json").into(), p("--format"), p("json")],
        vec![p("report"), single.with_extension("json").into()],
        vec![
            p("run"),
            p("--cases"),
            cases.into(),
            p("--journal"),
            out_dir.join("j.jsonl").into(),
            p("--report"),
            out_dir.join("batch").into(),
        ],
        vec![
            p("load"),
            p("--prompt"),
            p("hi"),
            p("-n"),
            p("10"),
            p("-c"),
            p("2"),
            p("--no-tui"),
            p("--out"),
            out_dir.join("load.jsonl").into(),
            p("--report"),
            out_dir.join("load-summary.json").into(),
        ],
    ];
    for args in runs {
        let mut c = bakeoff();
        c.arg("--config").arg(&cfg_path).args(&args);
        let o = output(c).await;
        let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        assert!(o.status.code().is_some_and(|c| c <= 1), "{args:?}: {out}{err}");
        assert_eq!(hostile_chars(&out), vec![], "{args:?} stdout:\n{out}");
        assert_eq!(hostile_chars(&err), vec![], "{args:?} stderr:\n{err}");
        if args.iter().any(|a| a == "--show-output") {
            assert!(out.contains("␛]0;pwned␇") && out.contains("<U+202E>"), "shown, visibly: {out}");
            assert!(out.contains("exe.pdf"), "the error is still shown: {out}");
        }
    }
    let written = files(&out_dir);
    assert!(written.len() >= 8, "{written:?}");
    for p in written {
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(hostile_chars(&text), vec![], "{}", p.display());
    }
    server.shutdown().await;
}

/// Runs `cmd` with its standard output already closed by the reader (`bakeoff … | true`).
async fn output_into_closed_pipe(mut cmd: Command) -> Output {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let run = tokio::task::spawn_blocking(move || {
        let mut child = cmd.spawn().expect("bakeoff starts");
        drop(child.stdout.take());
        child.wait_with_output().expect("bakeoff ends")
    });
    tokio::time::timeout(std::time::Duration::from_secs(60), run).await.expect("ends within 60 s").unwrap()
}

/// A reader that went away (`| head -1`) ends output quietly, never with a panic, and the work
/// it was part of still completes (the report is written).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_stdout_is_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("r");
    for args in [
        vec!["run", "--demo", "--prompt", "hi", "--show-output"],
        vec!["run", "--demo", "--prompt", "hi", "--json", "--report", report.to_str().unwrap()],
        vec!["models"],
        vec!["load", "--demo", "--prompt", "hi", "-n", "4", "-c", "2", "--no-tui"],
    ] {
        let mut c = bakeoff();
        c.args(&args);
        let o = output_into_closed_pipe(c).await;
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(matches!(o.status.code(), Some(0 | 141)), "{args:?}: {:?} {err}", o.status);
    }
    assert!(report.with_extension("json").exists(), "the report was still saved");
}

/// Absurd numbers in the config or on the command line are clear errors (exit 2), not panics or
/// runaway allocations.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absurd_numbers_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    for (key, value) in [
        ("total_timeout_s", "1e300"),
        ("total_timeout_s", "1e19"),
        ("first_token_timeout_s", "inf"),
        ("idle_timeout_s", "-1"),
        ("connect_timeout_s", "nan"),
        ("temperature", "nan"),
        ("input_per_mtok", "inf"),
        ("max_event_mib", "0"),
    ] {
        let extra = if key == "input_per_mtok" { "output_per_mtok = 1\n" } else { "" };
        let cfg = dir.path().join("bakeoff.toml");
        std::fs::write(
            &cfg,
            format!("[[models]]\nname = \"m\"\nprovider = \"openai\"\nmodel = \"x\"\n{key} = {value}\n{extra}"),
        )
        .unwrap();
        let mut c = bakeoff();
        c.arg("--config").arg(&cfg).args(["run", "--prompt", "hi"]);
        let o = output(c).await;
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{key} = {value}: {err}");
        assert!(!err.contains("panicked"), "{key} = {value}: {err}");
        assert!(err.contains("bakeoff.toml"), "names the file: {err}");
    }
    for args in [
        vec!["run", "--demo", "--cases", "x.jsonl", "--repeat", "100000000"],
        vec!["run", "--demo", "--cases", "x.jsonl", "--retries", "4294967295"],
        vec!["load", "--demo", "--prompt", "hi", "-c", "4294967295", "-n", "10"],
        vec!["load", "--demo", "--prompt", "hi", "--rate", "1e300", "-n", "10"],
    ] {
        let mut c = bakeoff();
        c.args(&args);
        let o = output(c).await;
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("maximum") || err.contains("not in"), "{args:?}: {err}");
    }
    // More workers than requests: as many workers as requests, done at once.
    let mut c = bakeoff();
    c.args(["load", "--demo", "--prompt", "hi", "-c", "100000", "-n", "3", "--no-tui", "--json"]);
    let o = output(c).await;
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
}

/// A 200 answered with one 400 MB line and no event boundary, in every format: each model fails
/// alone with a clear error once 16 MiB are buffered — nothing grows to 400 MB, nothing hangs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_400_mb_line_is_cut_off_with_a_clear_error() {
    let addr = serve(Router::new().fallback(|req: Request| async move {
        let ndjson = req.uri().path().starts_with("/api/");
        let head: &'static [u8] = if ndjson { b"{\"message\":{\"content\":\"" } else { b"data: {\"x\":\"" };
        // Produced as it is read: the client stopping early stops the server too.
        let body = futures_util::stream::iter(0..401).map(move |i| {
            Ok::<_, std::convert::Infallible>(if i == 0 {
                axum::body::Bytes::from_static(head)
            } else {
                axum::body::Bytes::from(vec![b'a'; 1 << 20])
            })
        });
        let kind = if ndjson { "application/x-ndjson" } else { "text/event-stream" };
        Response::builder().header("content-type", kind).body(Body::from_stream(body)).unwrap()
    }))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), addr);
    let mut c = bakeoff();
    c.arg("--config").arg(&cfg).args(["run", "--prompt", "hi"]).env("BAKEOFF_SEC_KEY", KEY);
    let started = std::time::Instant::now();
    let o = output(c).await;
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    for name in ["oai", "anth", "gem", "oll"] {
        let line =
            out.lines().find(|l| l.trim_start().starts_with(&format!("{name}: "))).unwrap_or_else(|| panic!("{out}"));
        assert!(line.contains("larger than 16 MiB"), "{line}");
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(30), "took {:?}", started.elapsed());
}

/// A server that answers every connection with `head` (raw bytes) and closes.
async fn raw_server(head: &'static [u8]) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut buf = vec![0u8; 65536];
                let _ = s.read(&mut buf).await;
                let _ = s.write_all(head).await;
                let _ = s.shutdown().await;
            });
        }
    });
    addr
}

/// Heads that lie are protocol errors naming what is wrong — not "cannot connect" — and both
/// clients (the pooled one of `run`, the load workers' own) apply one Content-Length rule.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lying_heads_are_protocol_errors_in_both_clients() {
    let many: &'static [u8] = Box::leak(
        format!("HTTP/1.1 200 OK\r\n{}\r\n", (0..200).map(|i| format!("x-h{i}: v\r\n")).collect::<String>())
            .into_bytes()
            .into_boxed_slice(),
    );
    for (what, head, says) in [
        ("signed length", &b"HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello"[..], "invalid"),
        ("lengths disagree", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello", "invalid"),
        ("too many headers", many, "invalid response head"),
        ("closed before the head", b"", "broke before the response"),
    ] {
        let addr = raw_server(head).await;
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("bakeoff.toml");
        std::fs::write(
            &cfg,
            // A URL with the words hyper uses for a refused head: they must not decide the kind.
            format!("[[models]]\nname = \"m\"\nprovider = \"openai\"\nmodel = \"x\"\nbase_url = \"http://{addr}/invalid-parse/v1\"\napi_key_env = \"\"\n"),
        )
        .unwrap();
        let mut c = bakeoff();
        c.arg("--config").arg(&cfg).args(["run", "--prompt", "hi", "--json"]);
        let o = output(c).await;
        let doc: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
        let run_error = doc["results"][0]["error"].as_str().unwrap_or_default().to_string();
        let records = dir.path().join("load.jsonl");
        let mut c = bakeoff();
        c.arg("--config")
            .arg(&cfg)
            .args(["load", "--prompt", "hi", "-n", "1", "-c", "1", "--no-tui", "--out"])
            .arg(&records);
        let _ = output(c).await;
        let load: serde_json::Value =
            serde_json::from_str(std::fs::read_to_string(&records).unwrap().lines().next().unwrap()).unwrap();
        let load_error = load["error"].as_str().unwrap_or_default().to_string();
        for (client, e) in [("run", &run_error), ("load", &load_error)] {
            assert!(!e.contains("cannot connect"), "{what}, {client}: {e}");
            if what != "closed before the head" || client == "run" {
                assert!(e.contains(says), "{what}, {client}: {e}");
            }
        }
        if what == "signed length" {
            assert!(load_error.contains("Content-Length: \"+5\""), "names the header and value: {load_error}");
        }
    }
}
