//! Incremental Server-Sent Events parser (WHATWG HTML §9.2), sans I/O.
//!
//! Fed raw body chunks split anywhere; yields complete events. Lines are split at the byte level
//! and only complete lines are decoded, so a UTF-8 character split across reads is never mangled.
//! `id:`/`retry:` are ignored: none of the LLM APIs support resuming a stream.

/// One dispatched event. `event` is `None` for the default type (`message`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SseEvent {
    pub event: Option<String>,
    pub data: String,
}

/// What was left when the body ended.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SseEnd {
    /// A final event that lacked its terminating blank line but had data. The spec discards it;
    /// we hand it over so a decoder can salvage a complete JSON chunk.
    pub event: Option<SseEvent>,
    /// True when field lines arrived after the last dispatched event without the blank line that
    /// ends an event (the framing was cut, even if the event could be salvaged).
    pub truncated: bool,
}

const BOM: &[u8] = b"\xef\xbb\xbf";

#[derive(Debug)]
pub struct SseParser {
    /// Bytes of the current, not yet terminated line.
    line: Vec<u8>,
    /// The previous read ended in `\r`: an `\n` starting the next read belongs to it.
    skip_lf: bool,
    /// No line processed yet (a BOM is only stripped there).
    at_start: bool,
    event: Option<String>,
    /// Spec "data buffer": every `data` value followed by `\n`.
    data: String,
    /// A field line was seen since the last blank line.
    pending: bool,
    /// A line or an event grew past `max`: its bytes were dropped and nothing more is parsed.
    overflow: bool,
    /// The largest event read ([`super::MAX_EVENT_BYTES`] unless set).
    pub max: usize,
}

impl Default for SseParser {
    fn default() -> Self {
        SseParser {
            line: Vec::new(),
            skip_lf: false,
            at_start: true,
            event: None,
            data: String::new(),
            pending: false,
            overflow: false,
            max: super::MAX_EVENT_BYTES,
        }
    }
}

impl SseParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Consumes a chunk of body bytes and returns the events it completed, in order.
    #[cfg(test)]
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<SseEvent> {
        let mut out = Vec::new();
        self.feed_with(bytes, |ev| out.push(ev.clone()));
        out
    }

    /// [`Self::feed`], handing each completed event to `on_event` as it completes. The event's
    /// buffer is reused for the next one, so a stream costs no allocation per event.
    pub fn feed_with(&mut self, bytes: &[u8], mut on_event: impl FnMut(&SseEvent)) {
        if self.overflow {
            return;
        }
        let mut rest = bytes;
        if self.skip_lf && !rest.is_empty() {
            self.skip_lf = false;
            if rest[0] == b'\n' {
                rest = &rest[1..];
            }
        }
        while let Some(i) = memchr::memchr2(b'\n', b'\r', rest) {
            if self.overflow || self.line.len() + i > self.max {
                return self.overflowed_now();
            }
            if self.line.is_empty() {
                self.process_line(&rest[..i], &mut on_event);
            } else {
                let mut line = std::mem::take(&mut self.line);
                line.extend_from_slice(&rest[..i]);
                self.process_line(&line, &mut on_event);
                line.clear();
                self.line = line; // keep the allocation for the next long line
            }
            let crlf = rest[i] == b'\r';
            rest = &rest[i + 1..];
            if crlf {
                match rest.first() {
                    Some(b'\n') => rest = &rest[1..],
                    Some(_) => {}
                    None => self.skip_lf = true,
                }
            }
        }
        if self.overflow || self.line.len() + rest.len() > self.max {
            return self.overflowed_now();
        }
        self.line.extend_from_slice(rest);
    }

    /// Whether an event outgrew `max` (the stream cannot be read on).
    pub fn overflowed(&self) -> bool {
        self.overflow
    }

    fn overflowed_now(&mut self) {
        *self = Self { overflow: true, max: self.max, ..Self::default() };
    }

    /// The body ended. Processes an unterminated last line and reports any partial event.
    /// The parser is reset afterwards.
    pub fn finish(&mut self) -> SseEnd {
        let mut out = None;
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            // A complete event can't end here: its blank line would have been a terminator.
            self.process_line(&line, &mut |ev: &SseEvent| out = Some(ev.clone()));
        }
        let truncated = self.pending;
        let event = if self.data.is_empty() {
            None
        } else {
            self.dispatch(&mut |ev: &SseEvent| out = Some(ev.clone()));
            out
        };
        *self = Self { max: self.max, ..Self::default() };
        SseEnd { event, truncated }
    }

    fn process_line(&mut self, mut line: &[u8], on_event: &mut impl FnMut(&SseEvent)) {
        if self.at_start {
            self.at_start = false;
            line = line.strip_prefix(BOM).unwrap_or(line);
        }
        if line.is_empty() {
            self.dispatch(on_event);
            return;
        }
        if line[0] == b':' {
            return; // comment / keep-alive
        }
        let (name, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        self.pending = true;
        match name {
            b"data" if self.data.len() + value.len() >= self.max => self.overflow = true,
            b"data" => {
                // Valid UTF-8 is the norm; checking it first skips the lossy decoder's slower scan.
                match std::str::from_utf8(value) {
                    Ok(s) => self.data.push_str(s),
                    Err(_) => self.data.push_str(&String::from_utf8_lossy(value)),
                }
                self.data.push('\n');
            }
            b"event" => self.event = Some(String::from_utf8_lossy(value).into_owned()),
            _ => {} // id, retry, unknown fields
        }
    }

    fn dispatch(&mut self, on_event: &mut impl FnMut(&SseEvent)) {
        self.pending = false;
        let event = self.event.take().filter(|e| !e.is_empty());
        if self.data.is_empty() {
            return; // e.g. `event: x` alone dispatches nothing
        }
        let mut data = std::mem::take(&mut self.data);
        data.pop(); // the trailing `\n`
        let ev = SseEvent { event, data };
        on_event(&ev);
        self.data = ev.data;
        self.data.clear(); // keeps the allocation for the next event
    }
}

/// The framing state every SSE decoder carries: the parser, and whether a terminal delta was
/// emitted (after which nothing more is decoded).
#[derive(Debug, Default)]
pub struct SseFraming {
    pub parser: SseParser,
    pub done: bool,
}

/// A decoder whose body is an SSE stream. It handles one event at a time; feeding the framing,
/// stopping after a terminal delta and the end-of-body rule are shared (the blanket
/// [`Decoder`](super::Decoder) impl below).
pub trait SseDecoder: Send {
    fn framing(&mut self) -> &mut SseFraming;
    /// Decodes one event. `at_eof`: it is a final event salvaged without its blank line.
    fn on_event(&mut self, ev: &SseEvent, at_eof: bool, out: &mut Vec<super::Delta>);
    /// The body ended without a terminal delta: emit the format's `Finished` or `Cut` error.
    fn on_end(&mut self, out: &mut Vec<super::Delta>);
    /// See [`super::Decoder::answer_in_tool`].
    fn answer_in_tool(&mut self, _name: &str) {}
}

impl<T: SseDecoder> super::Decoder for T {
    fn answer_in_tool(&mut self, name: &str) {
        SseDecoder::answer_in_tool(self, name);
    }

    fn feed(&mut self, bytes: &[u8], out: &mut Vec<super::Delta>) {
        if self.framing().done {
            return;
        }
        // Out of `self` for the call, so the callback may borrow the decoder.
        let mut parser = std::mem::take(&mut self.framing().parser);
        parser.feed_with(bytes, |ev| {
            if !self.framing().done {
                self.on_event(ev, false, out);
            }
        });
        if parser.overflowed() && !self.framing().done {
            self.framing().done = true;
            out.push(super::Delta::Error(super::event_too_large(parser.max)));
        }
        self.framing().parser = parser;
    }

    fn limit_events(&mut self, max: usize) {
        self.framing().parser.max = max;
    }

    fn finish(&mut self, out: &mut Vec<super::Delta>) {
        if self.framing().done {
            return;
        }
        if let Some(ev) = self.framing().parser.finish().event {
            self.on_event(&ev, true, out);
        }
        if self.framing().done {
            return;
        }
        self.framing().done = true;
        self.on_end(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(event: Option<&str>, data: &str) -> SseEvent {
        SseEvent { event: event.map(str::to_string), data: data.to_string() }
    }

    /// Parses `parts` in order and returns all events plus the end state.
    fn parse(parts: &[&[u8]]) -> (Vec<SseEvent>, SseEnd) {
        let mut p = SseParser::new();
        let mut events = Vec::new();
        for part in parts {
            events.extend(p.feed(part));
        }
        (events, p.finish())
    }

    /// Parses `body` whole, split at every offset and as a drip; all must agree.
    fn parse_every_split(body: &[u8]) -> (Vec<SseEvent>, SseEnd) {
        let whole = parse(&[body]);
        for i in 0..=body.len() {
            let (a, b) = body.split_at(i);
            assert_eq!(parse(&[a, b]), whole, "split at {i}");
        }
        let drip: Vec<&[u8]> = body.chunks(1).collect();
        assert_eq!(parse(&drip), whole, "drip");
        whole
    }

    #[test]
    fn basic_events_lf() {
        let (events, end) = parse_every_split(b"data: a\n\ndata: b\n\n");
        assert_eq!(events, vec![ev(None, "a"), ev(None, "b")]);
        assert_eq!(end, SseEnd::default());
    }

    #[test]
    fn crlf_cr_and_mixed_endings() {
        let want = vec![ev(None, "1"), ev(Some("x"), "2"), ev(None, "3"), ev(None, "4")];
        let bodies: [&[u8]; 4] = [
            b"data: 1\r\n\r\nevent: x\r\ndata: 2\r\n\r\ndata: 3\r\n\r\ndata: 4\r\n\r\n",
            b"data: 1\r\revent: x\rdata: 2\r\rdata: 3\r\rdata: 4\r\r",
            b"data: 1\n\nevent: x\ndata: 2\n\ndata: 3\n\ndata: 4\n\n",
            b"data: 1\r\n\revent: x\ndata: 2\r\r\ndata: 3\n\r\ndata: 4\r\n\n",
        ];
        for body in bodies {
            let (events, end) = parse_every_split(body);
            assert_eq!(events, want, "{:?}", String::from_utf8_lossy(body));
            assert!(!end.truncated);
        }
    }

    #[test]
    fn cr_then_lf_in_next_read_is_one_terminator() {
        let (events, _) = parse(&[b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"]);
        assert_eq!(events, vec![ev(None, "a\nb")]);
        // An empty read between `\r` and `\n` must not lose the pairing.
        let (events, _) = parse(&[b"data: a\r", b"", b"\n\r", b"", b"\n"]);
        assert_eq!(events, vec![ev(None, "a")]);
    }

    #[test]
    fn leading_bom_stripped_once() {
        let (events, _) = parse_every_split(b"\xef\xbb\xbfdata: a\n\ndata: \xef\xbb\xbfb\n\n");
        assert_eq!(events, vec![ev(None, "a"), ev(None, "\u{feff}b")]);
        // Without the strip the first field would be named "\u{feff}data" and be ignored.
        let (events, _) = parse(&[b"\xef", b"\xbb", b"\xbf", b"data:x\n\n"]);
        assert_eq!(events, vec![ev(None, "x")]);
    }

    #[test]
    fn comments_and_keepalives_ignored() {
        let body = b": keep-alive\n:\n: OPENROUTER PROCESSING\n\ndata: a\n: mid-event comment\ndata: b\n\n";
        let (events, end) = parse_every_split(body);
        assert_eq!(events, vec![ev(None, "a\nb")]);
        assert!(!end.truncated);
    }

    #[test]
    fn data_space_rules() {
        let (events, _) = parse_every_split(b"data:x\n\ndata: x\n\ndata:  x\n\ndata\n\ndata:\n\n");
        assert_eq!(events, vec![ev(None, "x"), ev(None, "x"), ev(None, " x"), ev(None, ""), ev(None, "")]);
    }

    #[test]
    fn multi_line_data_joined_with_newline() {
        let (events, _) = parse_every_split(b"data: {\"a\":\ndata: 1}\ndata:\n\n");
        assert_eq!(events, vec![ev(None, "{\"a\":\n1}\n")]);
    }

    #[test]
    fn event_without_data_dispatches_nothing_and_resets_type() {
        let (events, _) = parse_every_split(b"event: ping\n\ndata: a\n\nevent:\ndata: b\n\n");
        assert_eq!(events, vec![ev(None, "a"), ev(None, "b")]);
    }

    #[test]
    fn unknown_fields_id_and_retry_ignored() {
        let body = b"id: 7\nretry: 1000\nfoo: bar\nnocolon\nevent: message_start\ndata: z\n\n";
        let (events, _) = parse_every_split(body);
        assert_eq!(events, vec![ev(Some("message_start"), "z")]);
        // Field names are case-sensitive.
        let (events, _) = parse(&[b"DATA: a\nData: b\n\n"]);
        assert!(events.is_empty());
    }

    #[test]
    fn multibyte_utf8_split_anywhere() {
        let body = "data: naïve café — 東京 🚀\n\n".as_bytes();
        let (events, _) = parse_every_split(body);
        assert_eq!(events, vec![ev(None, "naïve café — 東京 🚀")]);
    }

    #[test]
    fn invalid_utf8_is_lossy_not_a_panic() {
        let (events, _) = parse(&[b"data: a\xff\xfeb\n\nevent: \xc3\n\n"]);
        assert_eq!(events, vec![ev(None, "a\u{fffd}\u{fffd}b")]);
    }

    #[test]
    fn very_long_line_in_many_reads() {
        let payload = "x".repeat(2 << 20);
        let body = format!("data: {payload}\n\n");
        let mut p = SseParser::new();
        let mut events = Vec::new();
        for chunk in body.as_bytes().chunks(1000) {
            events.extend(p.feed(chunk));
        }
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].data.len(), payload.len());
        assert!(!p.finish().truncated);
    }

    #[test]
    fn eof_without_blank_line_is_salvaged_and_flagged() {
        let (events, end) = parse_every_split(b"data: a\n\ndata: {\"b\":1}\n");
        assert_eq!(events, vec![ev(None, "a")]);
        assert_eq!(end, SseEnd { event: Some(ev(None, "{\"b\":1}")), truncated: true });
        // No trailing newline at all.
        let (_, end) = parse(&[b"event: e\ndata: last"]);
        assert_eq!(end, SseEnd { event: Some(ev(Some("e"), "last")), truncated: true });
    }

    #[test]
    fn eof_with_fields_but_no_data_is_truncated_without_event() {
        let (_, end) = parse(&[b"data: a\n\nevent: ping\n"]);
        assert_eq!(end, SseEnd { event: None, truncated: true });
    }

    #[test]
    fn eof_after_comment_or_cleanly_is_not_truncated() {
        assert_eq!(parse(&[b"data: a\n\n: bye"]).1, SseEnd::default());
        assert_eq!(parse(&[b""]).1, SseEnd::default());
        assert_eq!(parse(&[b"data: a\r\n\r"]).1, SseEnd::default());
    }

    #[test]
    fn parser_is_reusable_after_finish() {
        let mut p = SseParser::new();
        p.feed(b"data: half");
        assert!(p.finish().truncated);
        assert_eq!(p.feed(b"\xef\xbb\xbfdata: b\n\n"), vec![ev(None, "b")]);
    }

    #[test]
    fn events_are_bounded() {
        let max = crate::provider::MAX_EVENT_BYTES;
        // A line with no end, fed 1 MiB at a time: stops at the bound and stays stopped.
        let mut p = SseParser::new();
        let mib = vec![b'a'; 1 << 20];
        p.feed(b"data: ");
        for _ in 0..(max >> 20) + 1 {
            assert!(p.feed(&mib).is_empty());
        }
        assert!(p.overflowed());
        assert!(p.feed(b"\n\ndata: x\n\n").is_empty(), "nothing is parsed after an overflow");
        // Many short data lines without the blank line that ends an event.
        let mut p = SseParser::new();
        let lines = b"data: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n".repeat(1 << 14);
        for _ in 0..(max / lines.len()) + 3 {
            p.feed(&lines);
        }
        assert!(p.overflowed());
        // An event just under the bound is read whole.
        let mut p = SseParser::new();
        let big = "x".repeat(max - 16);
        let evs = p.feed(format!("data: {big}\n\n").as_bytes());
        assert_eq!(evs.len(), 1);
        assert!(!p.overflowed());
    }

    #[test]
    fn an_overflow_is_the_streams_error() {
        use crate::provider::{Decoder, Delta, ErrorKind};
        let mut d = crate::provider::openai::OpenAiDecoder::default();
        let mut out = Vec::new();
        d.feed(b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}]}\n\ndata: ", &mut out);
        let chunk = vec![b'z'; 1 << 20];
        for _ in 0..17 {
            d.feed(&chunk, &mut out);
        }
        assert!(matches!(&out[0], Delta::Text(t) if t == "hi"));
        assert!(
            matches!(&out[1], Delta::Error(e) if e.kind == ErrorKind::Malformed && e.message.contains("16 MiB")),
            "{out:?}"
        );
        assert_eq!(out.len(), 2);
        // The bound is a model's setting (max_event_mib); it holds across a whole stream.
        let mut d = crate::provider::openai::OpenAiDecoder::default();
        d.limit_events(1 << 20);
        let mut out = Vec::new();
        d.feed(b"data: ", &mut out);
        d.feed(&chunk, &mut out);
        d.feed(&chunk, &mut out);
        assert!(matches!(&out[..], [Delta::Error(e)] if e.message.contains("larger than 1 MiB")), "{out:?}");
        let mut d = crate::provider::ollama::OllamaDecoder::default();
        d.limit_events(1 << 20);
        let mut out = Vec::new();
        d.feed(&chunk, &mut out);
        d.feed(&chunk, &mut out);
        assert!(matches!(&out[..], [Delta::Error(e)] if e.message.contains("larger than 1 MiB")), "{out:?}");
    }
}
