//! Probe of the interactive view as a user runs it: the release binary in a pseudo-terminal of
//! its own (200×50), eight panes streaming at once (two per wire format), against a server that
//! records when it wrote each answer's first token. Measures
//!
//! - **first frame**: process start → the end of the first synchronized frame on the terminal;
//! - **peak RSS** of the TUI after the rounds (`VmHWM`);
//! - **TTFT bias**: bakeoff's TTFT (from its session journal) minus the server's own
//!   (first-token write − request read), and the same for `curl` reading the same streams one at
//!   a time afterwards.
//!
//! ```text
//! cargo build --release && cargo run --release --example tui_probe [-- ROUNDS [no-usage]]
//! ```
//! ROUNDS (default 6, after a warm-up round) × 8 panes are the samples; `BAKEOFF_BIN=PATH` probes
//! another build (e.g. an older one, for a before/after). `no-usage`: the server
//! reports no token usage, so the TUI counts the answers with its tokenizer (the RSS then
//! includes the tokenizer's tables). The panes' first tokens are staggered (150–325 ms) and each
//! streams 50 tokens at 100/s, so later panes' first tokens arrive while earlier ones draw.
//!
//! The server is a small HTTP/1.1 one on threads of this process (not bakeoff's mock), writing
//! the status line, headers and the first token in one `write` and stamping it just before.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const FORMATS: [&str; 4] = ["openai", "anthropic", "gemini", "ollama"];
const TOKENS: usize = 50;
const TOKEN_GAP: Duration = Duration::from_millis(10);

/// One request as the server saw it.
#[derive(Clone, Debug)]
struct Record {
    model: String,
    /// The prompt's tag (`probe3x`, `curl3x`).
    tag: String,
    read: Instant,
    first_write: Instant,
    done: bool,
}

type Log = Arc<Mutex<Vec<Record>>>;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().map(|r| r.parse()).transpose()?.unwrap_or(6);
    let usage = args.next().as_deref() != Some("no-usage");
    let bin = match std::env::var_os("BAKEOFF_BIN") {
        Some(b) => PathBuf::from(b),
        None => std::env::current_exe()?
            .parent()
            .and_then(Path::parent)
            .map(|d| d.join("bakeoff"))
            .filter(|p| p.exists())
            .ok_or_else(|| anyhow::anyhow!("build the binary first: cargo build --release"))?,
    };

    let log = Log::default();
    let addr = serve(log.clone(), usage)?;
    let dir = tempfile::tempdir()?;
    let models = write_config(dir.path(), addr)?;
    let tui = Tui::start(&bin, dir.path())?;
    let first_frame = tui.first_frame(Duration::from_secs(10))?;
    std::thread::sleep(Duration::from_millis(300));
    for round in 0..=rounds {
        let tag = format!("probe{round}x");
        // After a send the panes have the focus: `i` goes back to the editor.
        let keys = if round == 0 { format!("{tag}\r") } else { format!("i{tag}\r") };
        tui.type_bytes(keys.as_bytes())?;
        wait_done(&log, &tag, models.len(), Duration::from_secs(10))?;
        // The last events reach the journal a moment after the server's last write.
        std::thread::sleep(Duration::from_millis(300));
    }
    let rss_kb = tui.peak_rss_kb();
    tui.quit()?;
    let journal = read_journal(&dir.path().join("data/bakeoff/sessions"))?;

    // curl against the same server after the TUI has gone.
    let mut curl = Vec::new();
    for round in 0..=rounds {
        let tag = format!("curl{round}x");
        curl.extend(curl_round(addr, &models, &tag)?.into_iter().map(|(model, ttft)| (model, tag.clone(), ttft)));
    }
    let records = log.lock().unwrap().clone();
    let server_ttft = |model: &str, tag: &str| {
        records.iter().find(|r| r.model == model && r.tag == tag).map(|r| ms(r.first_write - r.read))
    };
    // Round 0 of each is a warm-up (the TUI opens its connections; curl always opens one).
    let bias = |samples: &[(String, String, f64)]| -> Vec<f64> {
        samples
            .iter()
            .filter(|(_, tag, _)| tag != "probe0x" && tag != "curl0x")
            .filter_map(|(model, tag, ttft)| server_ttft(model, tag).map(|s| ttft - s))
            .collect()
    };
    let (mut tui_bias, mut curl_bias) = (bias(&journal), bias(&curl));
    if std::env::var_os("PROBE_VERBOSE").is_some() {
        for (model, tag, ttft) in journal.iter().chain(&curl) {
            if let Some(s) = server_ttft(model, tag) {
                eprintln!("{tag:8} {model:16} ttft {ttft:8.3} server {s:8.3} bias {:+.3}", ttft - s);
            }
        }
    }
    println!("tui_probe: bakeoff TUI, 8 panes (2 × openai, anthropic, gemini, ollama) at 200×50 in a pty");
    println!("first frame on screen: {first_frame:.1} ms after start");
    let usage_note = if usage { "providers report usage" } else { "no usage reported: tokenizer estimates" };
    println!("peak RSS: {:.1} MB ({usage_note})", rss_kb as f64 / 1024.0);
    println!("TTFT − server's (first-token write − request read), ms, {rounds} rounds after a warm-up:");
    let t = Stats::of(&mut tui_bias);
    let c = Stats::of(&mut curl_bias);
    println!("  bakeoff TUI  {t}");
    println!("  curl         {c}");
    println!(
        "  TUI − curl: mean {:+.2} ms (target ≤ 0.5), p99 {:+.2} ms (target ≤ 1.0)",
        t.mean - c.mean,
        t.p99 - c.p99
    );
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

struct Stats {
    n: usize,
    mean: f64,
    p50: f64,
    p99: f64,
    max: f64,
}

impl Stats {
    fn of(v: &mut [f64]) -> Stats {
        v.sort_by(f64::total_cmp);
        let at = |q: f64| v.get(((v.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or(f64::NAN);
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        Stats { n: v.len(), mean, p50: at(0.5), p99: at(0.99), max: at(1.0) }
    }
}

impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "n={:<3} mean {:+.2}  p50 {:+.2}  p99 {:+.2}  max {:+.2}",
            self.n, self.mean, self.p50, self.p99, self.max
        )
    }
}

/// The models: two per format, first tokens 150, 175, … 325 ms after the request is read.
fn write_config(dir: &Path, addr: SocketAddr) -> anyhow::Result<Vec<(String, &'static str)>> {
    let mut text = String::new();
    let mut models = Vec::new();
    for (i, format) in FORMATS.iter().flat_map(|f| [f, f]).enumerate() {
        let name = format!("{format}-{i}-{}", 150 + 25 * i);
        let base = match *format {
            "openai" => format!("http://{addr}/v1"),
            "gemini" => format!("http://{addr}/v1beta"),
            _ => format!("http://{addr}"),
        };
        text += &format!(
            "[[models]]\nname = \"{name}\"\nprovider = \"{format}\"\nmodel = \"{name}\"\nbase_url = \"{base}\"\n\
             api_key_env = \"\"\ninput_per_mtok = 1.0\noutput_per_mtok = 2.0\n\n"
        );
        models.push((name, *format));
    }
    std::fs::write(dir.join("bakeoff.toml"), text)?;
    Ok(models)
}

fn wait_done(log: &Log, tag: &str, n: usize, limit: Duration) -> anyhow::Result<()> {
    let until = Instant::now() + limit;
    while log.lock().unwrap().iter().filter(|r| r.tag == tag && r.done).count() < n {
        anyhow::ensure!(Instant::now() < until, "round {tag}: not every stream ended within {limit:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

/// (model, prompt tag, TTFT ms) of every result in the session journal.
fn read_journal(dir: &Path) -> anyhow::Result<Vec<(String, String, f64)>> {
    let path = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .ok_or_else(|| anyhow::anyhow!("no session journal in {}", dir.display()))?;
    let mut tags = HashMap::new();
    let mut out = Vec::new();
    for line in std::fs::read_to_string(path)?.lines() {
        let v: serde_json::Value = serde_json::from_str(line)?;
        let round = v["round"].as_u64();
        match v["type"].as_str() {
            Some("round") => {
                let prompt = v["messages"][0]["content"].as_str().unwrap_or_default();
                tags.insert(round, tag_of(prompt.as_bytes()));
            }
            Some("result") => {
                let r = &v["result"];
                if let (Some(model), Some(ttft), Some(tag)) =
                    (r["model"].as_str(), r["ttft_ms"].as_f64(), tags.get(&round))
                {
                    out.push((model.to_string(), tag.clone(), ttft));
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

/// One round of plain curls, one model after the other (curl's best case: nothing else runs while
/// it waits): (model, TTFT ms) from curl's own timers — first response byte − request about to be
/// sent (the server writes headers and first token together).
fn curl_round(addr: SocketAddr, models: &[(String, &str)], tag: &str) -> anyhow::Result<Vec<(String, f64)>> {
    let mut out = Vec::new();
    for (name, format) in models {
        let (path, body) = match *format {
            "openai" => ("/v1/chat/completions".to_string(), chat_body(name, tag, "\"stream\":true,")),
            "anthropic" => ("/v1/messages".to_string(), chat_body(name, tag, "\"stream\":true,\"max_tokens\":100,")),
            "ollama" => ("/api/chat".to_string(), chat_body(name, tag, "\"stream\":true,")),
            _ => (
                format!("/v1beta/models/{name}:streamGenerateContent?alt=sse"),
                format!(r#"{{"contents":[{{"role":"user","parts":[{{"text":"{tag}"}}]}}]}}"#),
            ),
        };
        let output = Command::new("curl")
            .args(["-sS", "-N", "-o", "/dev/null", "-w", "%{time_pretransfer} %{time_starttransfer}"])
            .args(["-H", "content-type: application/json", "-d", &body, &format!("http://{addr}{path}")])
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| anyhow::anyhow!("cannot run curl: {e}"))?;
        let text = String::from_utf8(output.stdout)?;
        let t: Vec<f64> = text.split_whitespace().filter_map(|s| s.parse().ok()).collect();
        if let [pre, start] = t[..] {
            out.push((name.clone(), (start - pre) * 1000.0));
        }
    }
    Ok(out)
}

fn chat_body(model: &str, tag: &str, extra: &str) -> String {
    format!(r#"{{"model":"{model}",{extra}"messages":[{{"role":"user","content":"{tag}"}}]}}"#)
}

/// The TUI in a pseudo-terminal; a thread drains its output and notes the first frame's end.
struct Tui {
    child: std::process::Child,
    master: std::fs::File,
    first_frame: Arc<Mutex<Option<Instant>>>,
    started: Instant,
}

impl Tui {
    fn start(bin: &Path, home: &Path) -> anyhow::Result<Tui> {
        use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
        let master: OwnedFd = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY)?;
        grantpt(&master)?;
        unlockpt(&master)?;
        let name = ptsname(&master, Vec::new())?;
        let winsize = rustix::termios::Winsize { ws_row: 50, ws_col: 200, ws_xpixel: 0, ws_ypixel: 0 };
        rustix::termios::tcsetwinsize(master.as_fd(), winsize)?;
        let slave = std::fs::OpenOptions::new().read(true).write(true).open(PathBuf::from(name.to_str()?))?;
        let data = home.join("data");
        let started = Instant::now();
        let child = Command::new(bin)
            .arg("--config")
            .arg(home.join("bakeoff.toml"))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("TERM", "xterm-256color")
            .env("HOME", home)
            .env("XDG_DATA_HOME", &data)
            .env("XDG_CONFIG_HOME", home.join("config"))
            .stdin(slave.try_clone()?)
            .stdout(slave.try_clone()?)
            .stderr(slave)
            .spawn()?;
        let master = std::fs::File::from(master);
        let first_frame = Arc::new(Mutex::new(None));
        let (mut reader, seen) = (master.try_clone()?, first_frame.clone());
        std::thread::spawn(move || {
            // The end of a synchronized update: the first one is the first whole frame.
            const END: &[u8] = b"\x1b[?2026l";
            let (mut buf, mut tail) = (vec![0u8; 1 << 16], Vec::new());
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let mut seen = seen.lock().unwrap();
                if seen.is_none() {
                    tail.extend_from_slice(&buf[..n]);
                    if tail.windows(END.len()).any(|w| w == END) {
                        *seen = Some(Instant::now());
                    }
                    let keep = tail.len().saturating_sub(END.len());
                    tail.drain(..keep);
                }
            }
        });
        Ok(Tui { child, master, first_frame, started })
    }

    fn first_frame(&self, limit: Duration) -> anyhow::Result<f64> {
        let until = Instant::now() + limit;
        loop {
            if let Some(t) = *self.first_frame.lock().unwrap() {
                return Ok(ms(t - self.started));
            }
            anyhow::ensure!(Instant::now() < until, "no frame on the terminal within {limit:?}");
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    fn type_bytes(&self, bytes: &[u8]) -> anyhow::Result<()> {
        (&self.master).write_all(bytes)?;
        Ok(())
    }

    fn peak_rss_kb(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap_or_default();
        line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).unwrap_or(0)
    }

    /// Ctrl-C quits the TUI; killed if it has not exited within 5 s.
    fn quit(mut self) -> anyhow::Result<()> {
        self.type_bytes(b"\x03")?;
        let until = Instant::now() + Duration::from_secs(5);
        while self.child.try_wait()?.is_none() {
            if Instant::now() > until {
                self.child.kill()?;
                anyhow::bail!("the TUI did not exit within 5 s of Ctrl-C");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }
}

impl Drop for Tui {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the recording server; answers every format's streaming route.
fn serve(log: Log, usage: bool) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let log = log.clone();
            std::thread::spawn(move || {
                let _ = stream.set_nodelay(true);
                let _ = connection(stream, &log, usage);
            });
        }
    });
    Ok(addr)
}

/// Serves requests on one kept-alive connection until the client closes it.
fn connection(stream: TcpStream, log: &Log, usage: bool) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
        let mut length = 0;
        loop {
            line.clear();
            reader.read_line(&mut line)?;
            if line.trim().is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        let read = Instant::now();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let format = if path.starts_with("/v1/chat") {
            "openai"
        } else if path.starts_with("/v1/messages") {
            "anthropic"
        } else if path.starts_with("/v1beta") {
            "gemini"
        } else {
            "ollama"
        };
        let model = match format {
            "gemini" => path.split("models/").nth(1).and_then(|p| p.split(':').next()).unwrap_or("").to_string(),
            _ => json["model"].as_str().unwrap_or("").to_string(),
        };
        let tag = tag_of(&body);
        let delay: u64 = model.rsplit('-').next().and_then(|d| d.parse().ok()).unwrap_or(100);
        std::thread::sleep((read + Duration::from_millis(delay)).saturating_duration_since(Instant::now()));
        let events = answer(format, &model, usage);
        let content_type = if format == "ollama" { "application/x-ndjson" } else { "text/event-stream" };
        let head = format!("HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ntransfer-encoding: chunked\r\n\r\n");
        let mut first = head.into_bytes();
        first.extend_from_slice(&chunk(&events[0]));
        let first_write = Instant::now();
        out.write_all(&first)?;
        let index = {
            let mut log = log.lock().unwrap();
            log.push(Record { model, tag, read, first_write, done: false });
            log.len() - 1
        };
        for (i, e) in events[1..].iter().enumerate() {
            if i + 1 < TOKENS {
                std::thread::sleep(
                    (first_write + TOKEN_GAP * (i as u32 + 1)).saturating_duration_since(Instant::now()),
                );
            }
            out.write_all(&chunk(e))?;
        }
        out.write_all(b"0\r\n\r\n")?;
        log.lock().unwrap()[index].done = true;
    }
}

/// The prompt's tag: `probe…` or `curl…` up to the first character that is not a letter or digit.
fn tag_of(body: &[u8]) -> String {
    let at = body.windows(5).position(|w| w == b"probe").or_else(|| body.windows(4).position(|w| w == b"curl"));
    at.map(|i| body[i..].iter().take_while(|b| b.is_ascii_alphanumeric()).map(|&b| b as char).collect())
        .unwrap_or_default()
}

fn chunk(data: &str) -> Vec<u8> {
    format!("{:x}\r\n{data}\r\n", data.len()).into_bytes()
}

/// The streamed answer as the format's events; the first event carries the first token.
fn answer(format: &str, model: &str, usage: bool) -> Vec<String> {
    let token = |i: usize| format!("word{i} ");
    let mut events = Vec::new();
    match format {
        "openai" => {
            for i in 0..TOKENS {
                events.push(format!(
                    "data: {{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":\"{model}\",\
                     \"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{}\"}},\"finish_reason\":null}}]}}\n\n",
                    token(i)
                ));
            }
            events.push(format!(
                "data: {{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":\"{model}\",\
                 \"choices\":[{{\"index\":0,\"delta\":{{}},\"finish_reason\":\"stop\"}}]}}\n\n"
            ));
            if usage {
                events.push(format!(
                    "data: {{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":\"{model}\",\
                     \"choices\":[],\"usage\":{{\"prompt_tokens\":9,\"completion_tokens\":{TOKENS},\"total_tokens\":{}}}}}\n\n",
                    TOKENS + 9
                ));
            }
            events.push("data: [DONE]\n\n".into());
        }
        "anthropic" => {
            let input = if usage { ",\"usage\":{\"input_tokens\":9,\"output_tokens\":1}" } else { "" };
            for i in 0..TOKENS {
                let delta = format!(
                    "event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\
                     \"delta\":{{\"type\":\"text_delta\",\"text\":\"{}\"}}}}\n\n",
                    token(i)
                );
                if i == 0 {
                    events.push(format!(
                        "event: message_start\ndata: {{\"type\":\"message_start\",\"message\":{{\"id\":\"msg_1\",\
                         \"type\":\"message\",\"role\":\"assistant\",\"model\":\"{model}\",\"content\":[],\
                         \"stop_reason\":null{input}}}}}\n\nevent: content_block_start\ndata: {{\"type\":\
                         \"content_block_start\",\"index\":0,\"content_block\":{{\"type\":\"text\",\"text\":\"\"}}}}\n\n{delta}"
                    ));
                } else {
                    events.push(delta);
                }
            }
            let output = if usage { format!(",\"usage\":{{\"output_tokens\":{TOKENS}}}") } else { String::new() };
            events.push(format!(
                "event: content_block_stop\ndata: {{\"type\":\"content_block_stop\",\"index\":0}}\n\n\
                 event: message_delta\ndata: {{\"type\":\"message_delta\",\"delta\":{{\"stop_reason\":\"end_turn\",\
                 \"stop_sequence\":null}}{output}}}\n\nevent: message_stop\ndata: {{\"type\":\"message_stop\"}}\n\n"
            ));
        }
        "gemini" => {
            for i in 0..TOKENS {
                let last = i + 1 == TOKENS;
                let finish = if last { ",\"finishReason\":\"STOP\"" } else { "" };
                let meta = if last && usage {
                    format!(
                        ",\"usageMetadata\":{{\"promptTokenCount\":9,\"candidatesTokenCount\":{TOKENS},\"totalTokenCount\":{}}}",
                        TOKENS + 9
                    )
                } else {
                    String::new()
                };
                events.push(format!(
                    "data: {{\"candidates\":[{{\"content\":{{\"parts\":[{{\"text\":\"{}\"}}],\"role\":\"model\"}},\
                     \"index\":0{finish}}}]{meta},\"modelVersion\":\"{model}\"}}\r\n\r\n",
                    token(i)
                ));
            }
        }
        _ => {
            for i in 0..TOKENS {
                events.push(format!(
                    "{{\"model\":\"{model}\",\"created_at\":\"2026-12-06T00:00:00Z\",\"message\":{{\"role\":\"assistant\",\
                     \"content\":\"{}\"}},\"done\":false}}\n",
                    token(i)
                ));
            }
            let counts =
                if usage { format!(",\"prompt_eval_count\":9,\"eval_count\":{TOKENS}") } else { String::new() };
            events.push(format!(
                "{{\"model\":\"{model}\",\"created_at\":\"2026-12-06T00:00:00Z\",\"message\":{{\"role\":\"assistant\",\
                 \"content\":\"\"}},\"done\":true,\"done_reason\":\"stop\"{counts}}}\n"
            ));
        }
    }
    events
}
