//! Differential test: our HTTP/1.1 response framing against hyper's, on generated responses.
//!
//! Each case is one response (Content-Length, chunked with extensions and trailers, read to the
//! close, after 1xx interim answers, 204/304) — half of them bent: signed, padded, listed or
//! duplicated Content-Lengths, odd chunk sizes, Content-Length beside chunked, HTTP/1.0, a byte
//! of the head flipped, inserted or deleted. A loopback server sends the same bytes to a
//! [`Conn`] and to hyper's client connection; both must accept the response with the same status
//! and body, or both refuse it.
//!
//! `cargo test` runs a few hundred cases; the documented run (README → Development) sets
//! `BAKEOFF_FUZZ_CASES=1000000` and runs in release mode.

use super::*;
use crate::provider::fuzz::{cases, seed};
use http_body_util::BodyExt;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::{Arc, Mutex};

const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nhost: x\r\n\r\n";

type Outcome = Result<(u16, Vec<u8>), String>;

/// Serves `current` to every connection: reads the request head, writes the bytes, closes its
/// side, then drains until the client closes (so no reset cuts what was sent).
async fn server(current: Arc<Mutex<Vec<u8>>>) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let response = current.lock().unwrap().clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut tmp = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut tmp).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&tmp[..n]),
                    }
                }
                let _ = s.write_all(&response).await;
                let _ = s.shutdown().await;
                while let Ok(n) = s.read(&mut tmp).await {
                    if n == 0 {
                        break;
                    }
                }
            });
        }
    });
    addr
}

async fn ours(addr: std::net::SocketAddr) -> Outcome {
    let mut c = Conn::new(TcpStream::connect(addr).await.map_err(|e| e.to_string())?);
    let head = c.request(REQUEST).await.map_err(|e| e.to_string())?;
    let mut body = Vec::new();
    while let Some(b) = c.chunk().await? {
        body.extend_from_slice(&b);
    }
    Ok((head.status, body))
}

async fn hyper_says(addr: std::net::SocketAddr) -> Outcome {
    let io = hyper_util::rt::TokioIo::new(TcpStream::connect(addr).await.map_err(|e| e.to_string())?);
    let (mut send, conn) = hyper::client::conn::http1::handshake(io).await.map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let req = hyper::Request::get("/")
        .header("host", "x")
        .body(http_body_util::Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let resp = send.send_request(req).await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
    Ok((status, body.to_vec()))
}

fn pick<'a>(rng: &mut StdRng, xs: &[&'a str]) -> &'a str {
    xs[rng.random_range(0..xs.len())]
}

/// One response, valid or bent.
fn response(rng: &mut StdRng) -> Vec<u8> {
    let status = pick(rng, &["200 OK", "201 Created", "400 Bad Request", "404 Not Found", "429 Too Many", "500 Oops"]);
    let body: Vec<u8> = (0..rng.random_range(0..40)).map(|_| rng.random_range(b' '..=b'~')).collect();
    let len = body.len().to_string();
    let bent = rng.random_bool(0.5);
    let mut head = String::new();
    if rng.random_bool(0.1) {
        head.push_str(pick(rng, &["HTTP/1.1 100 Continue\r\n\r\n", "HTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n"]));
    }
    let version = if bent && rng.random_bool(0.1) { "HTTP/1.0" } else { "HTTP/1.1" };
    head.push_str(&format!("{version} {status}\r\ncontent-type: text/event-stream\r\n"));
    let mut payload = Vec::new();
    match rng.random_range(0..4) {
        0 => {
            let cl = if bent {
                let odd = [
                    format!("+{len}"),
                    format!(" {len} "),
                    format!("{len}, {len}"),
                    format!("0{len}"),
                    "-1".to_string(),
                    "99999999999999999999999".to_string(),
                    format!("{len} {len}"),
                    format!("{}", body.len() + 3),
                ];
                odd[rng.random_range(0..odd.len())].clone()
            } else {
                len.clone()
            };
            head.push_str(&format!("content-length: {cl}\r\n"));
            if bent && rng.random_bool(0.3) {
                let other = pick(rng, &["0", "1", "5", "40"]);
                head.push_str(&format!(
                    "content-length: {}\r\n",
                    if rng.random_bool(0.5) { len.as_str() } else { other }
                ));
            }
            payload.extend_from_slice(&body);
        }
        1 => {
            head.push_str("transfer-encoding: chunked\r\n");
            if bent && rng.random_bool(0.2) {
                head.push_str(&format!("content-length: {len}\r\n"));
            }
            let size = rng.random_range(1..8);
            for part in body.chunks(size) {
                let line = if bent && rng.random_bool(0.2) {
                    pick(rng, &["0x5", "+5", "5 ", "005", "fffffffffffffffff", "g", "5;ext=1"]).to_string()
                } else if rng.random_bool(0.3) {
                    format!("{:x};name=value", part.len())
                } else {
                    format!("{:X}", part.len())
                };
                payload.extend_from_slice(format!("{line}\r\n").as_bytes());
                payload.extend_from_slice(part);
                payload.extend_from_slice(b"\r\n");
            }
            payload.extend_from_slice(if rng.random_bool(0.3) { b"0\r\nx-trailer: 1\r\n\r\n" } else { b"0\r\n\r\n" });
        }
        // No length: the body runs to the close.
        2 => payload.extend_from_slice(&body),
        _ => {
            let status = pick(rng, &["204 No Content", "304 Not Modified"]);
            head = format!("HTTP/1.1 {status}\r\n");
            if rng.random_bool(0.5) {
                head.push_str("content-length: 0\r\n");
            }
        }
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    if bent && rng.random_bool(0.3) {
        // A byte of the head (not its final blank line) flipped, inserted or deleted.
        let i = rng.random_range(0..out.len() - 2);
        let b = [b':', b' ', b'\r', b'\n', b'\0', b'\x7f', b'\xff', b'a', b'0'][rng.random_range(0..9)];
        match rng.random_range(0..3) {
            0 => out[i] = b,
            1 => out.insert(i, b),
            _ => {
                out.remove(i);
            }
        }
    }
    out.extend_from_slice(&payload);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn framing_agrees_with_hyper() {
    let (n, seed) = (cases(300), seed());
    let mut rng = StdRng::seed_from_u64(seed);
    let current = Arc::new(Mutex::new(Vec::new()));
    let addr = server(current.clone()).await;
    let deadline = std::time::Duration::from_secs(5);
    let mut disagree = Vec::new();
    let mut accepted = 0;
    for case in 0..n {
        let bytes = response(&mut rng);
        *current.lock().unwrap() = bytes.clone();
        let a = tokio::time::timeout(deadline, ours(addr)).await.unwrap_or_else(|_| Err("hang".into()));
        let b = tokio::time::timeout(deadline, hyper_says(addr)).await.unwrap_or_else(|_| Err("hang".into()));
        let same = match (&a, &b) {
            (Ok(x), Ok(y)) => x == y,
            (Err(x), _) | (_, Err(x)) if x == "hang" => false,
            (Err(_), Err(_)) => true,
            _ => false,
        };
        accepted += usize::from(a.is_ok() && same);
        if !same {
            disagree
                .push(format!("case {case}: {:?}\n  ours:  {a:?}\n  hyper: {b:?}", String::from_utf8_lossy(&bytes)));
        }
    }
    assert!(
        disagree.is_empty(),
        "{} of {n} cases read differently (BAKEOFF_FUZZ_SEED={seed}):\n{}",
        disagree.len(),
        disagree.iter().take(12).cloned().collect::<Vec<_>>().join("\n")
    );
    assert!(accepted > n / 4, "the generator still makes mostly valid responses ({accepted} of {n})");
}
