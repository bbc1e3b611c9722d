//! Incremental newline-delimited JSON framing (Ollama's native streaming), sans I/O.
//!
//! Splits raw body chunks into lines at the byte level, decoding only complete lines, so a read
//! that ends inside a UTF-8 character is harmless. Blank lines are skipped and a trailing `\r` is
//! dropped (CRLF tolerated). The last line may lack its `\n`; [`NdjsonSplitter::finish`] returns it.

#[derive(Debug)]
pub struct NdjsonSplitter {
    /// Bytes of the current, not yet terminated line.
    line: Vec<u8>,
    at_start: bool,
    /// A line grew past `max`; nothing more is split.
    overflow: bool,
    /// The longest line read ([`super::MAX_EVENT_BYTES`] unless set).
    pub max: usize,
}

impl Default for NdjsonSplitter {
    fn default() -> Self {
        NdjsonSplitter { line: Vec::new(), at_start: true, overflow: false, max: super::MAX_EVENT_BYTES }
    }
}

impl NdjsonSplitter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Consumes a chunk of body bytes and returns the non-blank lines it completed, in order,
    /// without their terminators.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        let mut rest = bytes;
        while let Some(i) = rest.iter().position(|&b| b == b'\n') {
            if self.overflow || self.line.len() + i > self.max {
                self.overflowed_now();
                return out;
            }
            if self.line.is_empty() {
                self.push_line(&rest[..i], &mut out);
            } else {
                let mut line = std::mem::take(&mut self.line);
                line.extend_from_slice(&rest[..i]);
                self.push_line(&line, &mut out);
                line.clear();
                self.line = line;
            }
            rest = &rest[i + 1..];
        }
        if self.overflow || self.line.len() + rest.len() > self.max {
            self.overflowed_now();
            return out;
        }
        self.line.extend_from_slice(rest);
        out
    }

    /// Whether a line outgrew `max`.
    pub fn overflowed(&self) -> bool {
        self.overflow
    }

    fn overflowed_now(&mut self) {
        *self = Self { overflow: true, max: self.max, ..Self::default() };
    }

    /// The body ended: returns the last line if it had no trailing `\n` and is not blank.
    /// The splitter is reset afterwards.
    pub fn finish(&mut self) -> Option<String> {
        let line = std::mem::take(&mut self.line);
        let mut out = Vec::new();
        self.push_line(&line, &mut out);
        *self = Self { max: self.max, ..Self::default() };
        out.pop()
    }

    fn push_line(&mut self, mut line: &[u8], out: &mut Vec<String>) {
        if self.at_start && !line.is_empty() {
            self.at_start = false;
            line = line.strip_prefix(b"\xef\xbb\xbf").unwrap_or(line);
        }
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        out.push(String::from_utf8_lossy(line).into_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(parts: &[&[u8]]) -> Vec<String> {
        let mut s = NdjsonSplitter::new();
        let mut lines = Vec::new();
        for p in parts {
            lines.extend(s.feed(p));
        }
        lines.extend(s.finish());
        lines
    }

    #[test]
    fn lines_split_anywhere_give_the_same_result() {
        let body = "{\"a\":\"naïve 東京 🚀\"}\r\n\n  \n{\"b\":2}\n{\"c\":3}".as_bytes();
        let whole = split(&[body]);
        assert_eq!(whole, vec!["{\"a\":\"naïve 東京 🚀\"}", "{\"b\":2}", "{\"c\":3}"]);
        for i in 0..=body.len() {
            let (a, b) = body.split_at(i);
            assert_eq!(split(&[a, b]), whole, "split at {i}");
        }
        let drip: Vec<&[u8]> = body.chunks(1).collect();
        assert_eq!(split(&drip), whole);
    }

    #[test]
    fn last_line_without_newline_delivered_at_finish() {
        let mut s = NdjsonSplitter::new();
        assert_eq!(s.feed(b"{\"a\":1}\n{\"done\":"), vec!["{\"a\":1}"]);
        assert_eq!(s.feed(b"true}"), Vec::<String>::new());
        assert_eq!(s.finish().as_deref(), Some("{\"done\":true}"));
        assert_eq!(s.finish(), None);
    }

    #[test]
    fn blank_lines_and_bom_skipped_invalid_utf8_lossy() {
        assert_eq!(split(&[b"\xef\xbb\xbf{}\n\r\n\n"]), vec!["{}"]);
        assert_eq!(split(&[b"a\xffb\n"]), vec!["a\u{fffd}b"]);
        assert!(split(&[b"\n\n  \r\n"]).is_empty());
    }

    #[test]
    fn lines_are_bounded() {
        let mut s = NdjsonSplitter::new();
        let mib = vec![b'{'; 1 << 20];
        for _ in 0..(crate::provider::MAX_EVENT_BYTES >> 20) + 1 {
            assert!(s.feed(&mib).is_empty());
        }
        assert!(s.overflowed());
        assert!(s.feed(b"\n{}\n").is_empty());
    }
}
