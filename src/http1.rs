//! A minimal HTTP/1.1 client connection for closed-loop load workers (`engine::DirectConn`).
//!
//! Why not hyper's client connection, which this replaced: under load a worker sends the same
//! prepared request over and over on its own connection, and hyper's general machinery (a
//! dispatcher, a channel and wakers between it and the body, a `Response` with its header map
//! per request) was the largest part of the client's cost that oha pays too. Here a request is
//! one `write` of bytes built once, the head is parsed with `httparse` (hyper's own parser), and
//! the body is framed in place: `Content-Length`, `chunked` (with extensions and trailers) or
//! read to the end. Everything else — TLS, HTTP/2, proxies, redirects — stays with reqwest,
//! which every other request uses.
//!
//! A response's body data arrives as it is read: whatever one read brought is handed out at
//! once (several small chunks of a `chunked` body together), so the engine stamps it with the
//! moment those bytes arrived.

use bytes::{Buf, Bytes, BytesMut};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Most headers a response may carry, and the longest head and chunk-size line accepted.
const MAX_HEADERS: usize = 100;
const MAX_HEAD: usize = 64 * 1024;
const MAX_LINE: usize = 4096;
const READ_SIZE: usize = 16 * 1024;

/// A response head.
#[derive(Debug)]
pub struct Head {
    pub status: u16,
    pub headers: HeaderMap,
}

/// Why a request failed.
#[derive(Debug, PartialEq)]
pub enum Error {
    /// The connection closed (or reset) before any byte of a response: the server never
    /// answered, so the request may be sent again on a new connection.
    ClosedBeforeResponse,
    /// The response broke HTTP/1.1's rules (a bad head, a lying Content-Length): the server
    /// answered, wrongly.
    Protocol(String),
    /// Anything else, as one line.
    Other(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::ClosedBeforeResponse => f.write_str("the server closed the connection before answering"),
            Error::Protocol(s) | Error::Other(s) => f.write_str(s),
        }
    }
}

/// The body length the Content-Length headers give: digits only (RFC 9110 8.6: no sign, no
/// inner spaces); a list or repeated header must name one value throughout. `None` without one.
fn content_length(values: &[HeaderValue]) -> Result<Option<u64>, Error> {
    let mut length = None;
    for value in values {
        // Each item digits only; all the same number (`5, 05` is one length, as hyper reads it).
        let number =
            |x: &str| Some(x).filter(|x| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit()))?.parse::<u64>().ok();
        let n = value.to_str().ok().and_then(|v| {
            let mut items = v.split(',').map(|x| number(x.trim()));
            let first = items.next()??;
            items.all(|x| x == Some(first)).then_some(first)
        });
        match (n, length) {
            (Some(n), None) => length = Some(n),
            (Some(n), Some(m)) if n == m => {}
            _ => {
                let v = String::from_utf8_lossy(value.as_bytes());
                return Err(Error::Protocol(format!("invalid response header Content-Length: {v:?}")));
            }
        }
    }
    Ok(length)
}

/// How the current response body is delimited, and how far it has been read.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Framing {
    /// No request open, the last body was read to its end: ready for the next request.
    Idle,
    /// `Content-Length`: bytes still to come.
    Length(u64),
    Chunked(Chunk),
    /// Neither: the body ends when the server closes the connection.
    UntilClose,
    /// The body ended (or failed); the connection cannot carry another request.
    Spent,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Chunk {
    /// Expecting a chunk-size line.
    Size,
    /// Inside a chunk's data: bytes still to come.
    Data(u64),
    /// After a chunk's data: expecting CRLF.
    DataEnd,
    /// After the last (zero) chunk: trailer lines until an empty one.
    Trailers,
}

pub struct Conn {
    stream: TcpStream,
    buf: BytesMut,
    framing: Framing,
    /// The server said `Connection: close` (or spoke HTTP/1.0).
    close_after: bool,
}

impl Conn {
    pub fn new(stream: TcpStream) -> Conn {
        Conn { stream, buf: BytesMut::with_capacity(READ_SIZE), framing: Framing::Idle, close_after: false }
    }

    /// Whether the connection can carry another request (the last body was read to its end and
    /// the server keeps it open).
    pub fn is_idle(&self) -> bool {
        self.framing == Framing::Idle
    }

    /// Reads more bytes into the buffer; 0 at the end of the stream.
    async fn fill(&mut self) -> std::io::Result<usize> {
        self.buf.reserve(READ_SIZE);
        self.stream.read_buf(&mut self.buf).await
    }

    /// Writes `request` (a whole HTTP/1.1 request) and reads the response head.
    pub async fn request(&mut self, request: &[u8]) -> Result<Head, Error> {
        if !self.is_idle() {
            return Err(Error::Other("the connection is not ready for another request".into()));
        }
        self.framing = Framing::Spent;
        if let Err(e) = self.stream.write_all(request).await {
            return Err(match e.kind() {
                std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset => Error::ClosedBeforeResponse,
                _ => Error::Other(format!("cannot send the request: {e}")),
            });
        }
        let mut answered = !self.buf.is_empty();
        loop {
            if let Some(head) = self.parse_head()? {
                return Ok(head);
            }
            if self.buf.len() > MAX_HEAD {
                return Err(Error::Protocol(format!("response head longer than {MAX_HEAD} bytes")));
            }
            match self.fill().await {
                Ok(0) if !answered => return Err(Error::ClosedBeforeResponse),
                Ok(0) => return Err(Error::Other("the connection closed in the middle of the response head".into())),
                Ok(_) => answered = true,
                Err(e) if !answered && e.kind() == std::io::ErrorKind::ConnectionReset => {
                    return Err(Error::ClosedBeforeResponse);
                }
                Err(e) => return Err(Error::Other(format!("cannot read the response: {e}"))),
            }
        }
    }

    /// Parses a complete head from the buffer (skipping interim 1xx responses), sets the body's
    /// framing and consumes the head; `None` when more bytes are needed.
    fn parse_head(&mut self) -> Result<Option<Head>, Error> {
        loop {
            let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut resp = httparse::Response::new(&mut slots);
            let len = match resp.parse(&self.buf) {
                Ok(httparse::Status::Complete(n)) => n,
                Ok(httparse::Status::Partial) => return Ok(None),
                Err(e) => return Err(Error::Protocol(format!("invalid response head: {e}"))),
            };
            let status = resp.code.unwrap_or(0);
            if !(100..1000).contains(&status) {
                return Err(Error::Protocol(format!("invalid status code {status:03} in the response head")));
            }
            // 204 and 304 have no body whatever the head says: their Content-Length is not read.
            let bodyless = status == 204 || status == 304 || (100..200).contains(&status);
            let http10 = resp.version == Some(0);
            let mut headers = HeaderMap::with_capacity(resp.headers.len());
            let (mut chunked, mut encoded, mut close) = (false, false, http10);
            let mut lengths: Vec<HeaderValue> = Vec::new();
            for h in resp.headers.iter() {
                let name = HeaderName::from_bytes(h.name.as_bytes())
                    .map_err(|_| Error::Protocol(format!("invalid response header name {:?}", h.name)))?;
                let value = HeaderValue::from_bytes(h.value)
                    .map_err(|_| Error::Protocol(format!("invalid value of response header {}", h.name)))?;
                if name == reqwest::header::CONTENT_LENGTH {
                    lengths.push(value.clone());
                } else if name == reqwest::header::TRANSFER_ENCODING {
                    // Only the last coding frames the message.
                    let last = value.to_str().unwrap_or("").rsplit(',').next().unwrap_or("").trim().to_string();
                    chunked = last.eq_ignore_ascii_case("chunked");
                    encoded = true;
                } else if name == reqwest::header::CONNECTION {
                    let v = value.to_str().unwrap_or("");
                    if v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")) {
                        close = true;
                    }
                }
                headers.append(name, value);
            }
            // Content-Length frames the body only when there is one and no transfer coding
            // overrides it (RFC 9112 6.3), so only then must it be valid — as hyper reads it.
            let length = if bodyless || encoded { None } else { content_length(&lengths)? };
            if http10 && encoded {
                // RFC 9112 6.1: framing an HTTP/1.0 message cannot be trusted (hyper refuses it too).
                return Err(Error::Protocol("Transfer-Encoding in an HTTP/1.0 response".into()));
            }
            self.buf.advance(len);
            if (100..200).contains(&status) && status != 101 {
                // An interim response (100 Continue, 103 Early Hints): the real one follows.
                continue;
            }
            self.close_after = close;
            self.framing = if status == 204 || status == 304 {
                Framing::Length(0)
            } else if chunked {
                Framing::Chunked(Chunk::Size)
            } else if let Some(n) = length.filter(|_| !encoded) {
                // With a transfer coding other than chunked the body runs to the close (RFC 9112 6.3).
                Framing::Length(n)
            } else {
                Framing::UntilClose
            };
            self.settle();
            return Ok(Some(Head { status, headers }));
        }
    }

    /// After the body's end: idle if the connection may be reused.
    fn settle(&mut self) {
        if self.framing == Framing::Length(0) || self.framing == Framing::Idle {
            // Bytes beyond the response are not ours to interpret: do not reuse.
            self.framing = if self.close_after || !self.buf.is_empty() { Framing::Spent } else { Framing::Idle };
        }
    }

    /// The next body data (all that has arrived); `None` at the end of the body.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, String> {
        loop {
            let data = self.decode()?;
            if !data.is_empty() {
                return Ok(Some(data));
            }
            if matches!(self.framing, Framing::Idle | Framing::Spent) {
                return Ok(None);
            }
            match self.fill().await {
                Ok(0) if self.framing == Framing::UntilClose => {
                    self.framing = Framing::Spent;
                    return Ok(None);
                }
                Ok(0) => {
                    self.framing = Framing::Spent;
                    return Err("the connection closed before the end of the body".into());
                }
                Ok(_) => {}
                Err(e) => {
                    self.framing = Framing::Spent;
                    return Err(format!("cannot read the body: {e}"));
                }
            }
        }
    }

    /// Takes what the buffer holds of the body; empty when nothing (more) is there yet.
    fn decode(&mut self) -> Result<Bytes, String> {
        match self.framing {
            Framing::Idle | Framing::Spent => Ok(Bytes::new()),
            Framing::UntilClose => Ok(self.buf.split().freeze()),
            Framing::Length(rest) => {
                let n = rest.min(self.buf.len() as u64);
                let data = self.buf.split_to(n as usize).freeze();
                self.framing = Framing::Length(rest - n);
                self.settle();
                Ok(data)
            }
            Framing::Chunked(state) => {
                let r = self.decode_chunked(state);
                if r.is_err() {
                    self.framing = Framing::Spent;
                }
                r
            }
        }
    }

    /// Decodes as many chunks as the buffer holds, copying their data together (one small copy
    /// instead of a buffer handle per chunk).
    fn decode_chunked(&mut self, mut state: Chunk) -> Result<Bytes, String> {
        let mut out = BytesMut::new();
        loop {
            match state {
                Chunk::Size => {
                    let Some(end) = self.line_end()? else { break };
                    let size = chunk_size(&self.buf[..end])?;
                    self.buf.advance(end + 1);
                    state = if size == 0 { Chunk::Trailers } else { Chunk::Data(size) };
                }
                Chunk::Data(rest) => {
                    if self.buf.is_empty() {
                        break;
                    }
                    let n = rest.min(self.buf.len() as u64) as usize;
                    out.extend_from_slice(&self.buf[..n]);
                    self.buf.advance(n);
                    state = if n as u64 == rest { Chunk::DataEnd } else { Chunk::Data(rest - n as u64) };
                }
                Chunk::DataEnd => {
                    if self.buf.len() < 2 {
                        break;
                    }
                    if &self.buf[..2] != b"\r\n" {
                        return Err("chunk data not followed by CRLF".into());
                    }
                    self.buf.advance(2);
                    state = Chunk::Size;
                }
                Chunk::Trailers => {
                    let Some(end) = self.line_end()? else { break };
                    let empty = self.buf[..end].iter().all(|&b| b == b'\r');
                    if !empty && !is_field_line(&self.buf[..end]) {
                        return Err("invalid trailer line after the last chunk".into());
                    }
                    self.buf.advance(end + 1);
                    if empty {
                        self.framing = Framing::Length(0);
                        self.settle();
                        return Ok(out.freeze());
                    }
                }
            }
        }
        self.framing = Framing::Chunked(state);
        Ok(out.freeze())
    }

    /// Where the buffer's first line ends (the index of its `\n`); `None` if incomplete.
    fn line_end(&self) -> Result<Option<usize>, String> {
        match memchr::memchr(b'\n', &self.buf) {
            Some(i) => Ok(Some(i)),
            None if self.buf.len() > MAX_LINE => Err(format!("chunk line longer than {MAX_LINE} bytes")),
            None => Ok(None),
        }
    }
}

/// The size on a chunk-size line (`1a`, `1a;ext=x`, with optional spaces and CR).
/// A trailer line must be a header field: `name: value` with a token name (as hyper reads it).
fn is_field_line(line: &[u8]) -> bool {
    let tchar = |b: &u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(b);
    line.iter().position(|&b| b == b':').is_some_and(|i| i > 0 && line[..i].iter().all(tchar))
}

fn chunk_size(line: &[u8]) -> Result<u64, String> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let hex = line.split(|&b| b == b';').next().unwrap_or(&[]);
    // Whitespace may follow the digits (before `;` or the line end), never lead them (as hyper).
    let hex = std::str::from_utf8(hex).map_err(|_| "invalid chunk size".to_string())?.trim_end_matches([' ', '\t']);
    if hex.is_empty() || hex.len() > 16 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("invalid chunk size {hex:?}"));
    }
    u64::from_str_radix(hex, 16).map_err(|_| format!("invalid chunk size {hex:?}"))
}

/// The bytes of a POST request: request line, `headers` (which must include `host`) with the
/// body's `content-length`, and the body.
pub fn encode_post(target: &str, headers: &HeaderMap, body: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(256 + body.len());
    out.extend_from_slice(b"POST ");
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in headers {
        if name == reqwest::header::CONTENT_LENGTH || name == reqwest::header::TRANSFER_ENCODING {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(body);
    Bytes::from(out)
}

#[cfg(test)]
mod agree;

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A connection to a loopback server that answers each request with the next of `replies`
    /// (written in one piece), then closes.
    async fn serve(replies: Vec<&'static [u8]>) -> Conn {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            for reply in replies {
                // One read is enough for the small requests of these tests.
                if s.read(&mut buf).await.unwrap_or(0) == 0 {
                    return;
                }
                s.write_all(reply).await.unwrap();
            }
        });
        Conn::new(TcpStream::connect(addr).await.unwrap())
    }

    const REQUEST: &[u8] = b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n";

    async fn body(c: &mut Conn) -> Result<Vec<u8>, String> {
        let mut all = Vec::new();
        while let Some(d) = c.chunk().await? {
            all.extend_from_slice(&d);
        }
        Ok(all)
    }

    #[tokio::test]
    async fn chunked_bodies_with_extensions_and_trailers_then_reuse() {
        let mut c = serve(vec![
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nx-request-id: r1\r\n\r\n5;ext=1\r\nhello\r\n1 \r\n \r\n6\r\nworld!\r\n0\r\nx-trailer: t\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nabc",
        ])
        .await;
        let head = c.request(REQUEST).await.unwrap();
        assert_eq!(head.status, 200);
        assert_eq!(head.headers["x-request-id"], "r1");
        assert_eq!(body(&mut c).await.unwrap(), b"hello world!");
        assert!(c.is_idle(), "a body read to its end leaves the connection ready");
        assert_eq!(c.request(REQUEST).await.unwrap().status, 200);
        assert_eq!(body(&mut c).await.unwrap(), b"abc");
        assert!(c.is_idle());
        // The server closed after its replies: the next request learns it before any answer.
        assert_eq!(c.request(REQUEST).await.unwrap_err(), Error::ClosedBeforeResponse);
    }

    #[tokio::test]
    async fn chunked_decoding_is_the_same_at_every_split() {
        let wire: &[u8] = b"3\r\nabc\r\n10;x=\"y\"\r\n0123456789abcdef\r\n1\r\n\n\r\n0\r\nt: 1\r\n\r\n";
        let mut c = serve(vec![]).await;
        for cut in 0..=wire.len() {
            c.buf.clear();
            c.framing = Framing::Chunked(Chunk::Size);
            c.close_after = false;
            let mut got = Vec::new();
            c.buf.extend_from_slice(&wire[..cut]);
            got.extend_from_slice(&c.decode().unwrap());
            // Byte by byte after the cut: every state boundary is crossed with a partial buffer.
            for &byte in &wire[cut..] {
                c.buf.extend_from_slice(&[byte]);
                got.extend_from_slice(&c.decode().unwrap());
            }
            assert_eq!(got, b"abc0123456789abcdef\n", "cut at {cut}");
            assert!(c.is_idle(), "cut at {cut}: {:?}", c.framing);
        }
    }

    #[tokio::test]
    async fn other_framings_and_interim_responses() {
        let mut c = serve(vec![
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
            b"HTTP/1.1 429 Too Many Requests\r\nretry-after: 2\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}",
        ])
        .await;
        let head = c.request(REQUEST).await.unwrap();
        assert_eq!(head.status, 204);
        assert_eq!(body(&mut c).await.unwrap(), b"");
        assert!(c.is_idle());
        let head = c.request(REQUEST).await.unwrap();
        assert_eq!((head.status, &head.headers["retry-after"]), (429, &HeaderValue::from_static("2")));
        assert_eq!(body(&mut c).await.unwrap(), b"{}");
        assert!(!c.is_idle(), "Connection: close");

        let mut c = serve(vec![b"HTTP/1.1 200 OK\r\n\r\nto the end"]).await;
        c.request(REQUEST).await.unwrap();
        assert_eq!(body(&mut c).await.unwrap(), b"to the end");
        assert!(!c.is_idle(), "a body read to the close cannot be followed by another request");

        // A transfer coding other than chunked: the body runs to the close, whatever the length says.
        let mut c = serve(vec![b"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\ncontent-length: 3\r\n\r\nabcdef"]).await;
        c.request(REQUEST).await.unwrap();
        assert_eq!(body(&mut c).await.unwrap(), b"abcdef");
        assert!(!c.is_idle());
    }

    #[tokio::test]
    async fn broken_responses_are_errors_and_spend_the_connection() {
        for (reply, why) in [
            (&b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n"[..], "invalid chunk size"),
            (b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nabX\r\n", "not followed by CRLF"),
            (b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort", "closed before the end"),
            (b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nab", "closed before the end"),
        ] {
            let mut c = serve(vec![reply]).await;
            c.request(REQUEST).await.unwrap();
            let err = body(&mut c).await.unwrap_err();
            assert!(err.contains(why), "{err}");
            assert!(!c.is_idle());
        }
        let mut c = serve(vec![b"HTTP/1.1 200 OK\r\ncontent-length: x\r\n\r\n"]).await;
        assert!(matches!(c.request(REQUEST).await, Err(Error::Protocol(e)) if e.contains("Content-Length")));
        let mut c = serve(vec![b"NOT HTTP\r\n\r\n"]).await;
        assert!(matches!(c.request(REQUEST).await, Err(Error::Protocol(e)) if e.contains("invalid response head")));
    }

    #[test]
    fn posts_are_encoded_once_with_their_length() {
        let mut h = HeaderMap::new();
        h.insert("host", HeaderValue::from_static("127.0.0.1:8787"));
        h.insert("content-type", HeaderValue::from_static("application/json"));
        h.insert("content-length", HeaderValue::from_static("999"));
        let bytes = encode_post("/v1/chat/completions", &h, b"{}");
        assert_eq!(
            &bytes[..],
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1:8787\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"
        );
    }
}
