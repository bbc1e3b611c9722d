//! A strict, allocation-free JSON scanner for the few hot shapes a decoder reads on every chunk.
//!
//! It reads a subset of JSON and answers `None` for anything outside it — invalid JSON, but
//! also valid JSON it chooses not to handle (a key with escapes, a number where it wants a
//! `u64` that is not one) — so the caller falls back to `serde_json`, which then decides. What
//! it accepts it reads exactly as `serde_json` would: strings are borrowed when they have no
//! escapes and unescaped by `serde_json` when they do; ignored values are checked to the same
//! grammar (escapes, control characters, number syntax and range, nesting limit), so a
//! malformed chunk is never waved through. Why: decoding the chunk was the largest single cost of a streamed
//! request in the load benchmark, mostly spent walking fields the decoder ignores.

use std::borrow::Cow;

/// `serde_json`'s recursion limit; deeper input goes back to it (and it refuses).
const MAX_DEPTH: usize = 128;

pub struct Scanner<'a> {
    text: &'a str,
    pos: usize,
    depth: usize,
}

impl<'a> Scanner<'a> {
    pub fn new(text: &'a str) -> Self {
        Scanner { text, pos: 0, depth: 0 }
    }

    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes().get(self.pos).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    /// Skips whitespace and consumes `c`.
    fn eat(&mut self, c: u8) -> Option<()> {
        self.ws();
        (self.peek()? == c).then(|| self.pos += 1)
    }

    /// Skips whitespace; the position of the next value.
    pub fn value_start(&mut self) -> usize {
        self.ws();
        self.pos
    }

    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Continues from `pos` (a position this text was scanned to before).
    pub fn seek(&mut self, pos: usize) {
        self.pos = pos;
    }

    /// Skips whitespace; true (and consumed) when the next value is `null`.
    pub fn null(&mut self) -> bool {
        self.ws();
        let yes = self.bytes()[self.pos..].starts_with(b"null");
        if yes {
            self.pos += 4;
        }
        yes
    }

    /// Whitespace, then the end of the text.
    pub fn end(mut self) -> Option<()> {
        self.ws();
        (self.pos == self.text.len()).then_some(())
    }

    /// The raw extent of the string starting at the current `"`: (start of contents, end of
    /// contents, whether it has escapes). Validates escapes and rejects control characters.
    fn string_extent(&mut self) -> Option<(usize, usize, bool)> {
        self.ws();
        if self.peek()? != b'"' {
            return None;
        }
        let b = self.bytes();
        let start = self.pos + 1;
        let mut i = start;
        let mut escaped = false;
        loop {
            // Jump to the next quote or backslash; what lies between must have no control character.
            let next = i + memchr::memchr2(b'"', b'\\', &b[i..])?;
            if b[i..next].iter().fold(false, |bad, &c| bad | (c < 0x20)) {
                return None;
            }
            i = next;
            match b[i] {
                b'"' => break,
                b'\\' => {
                    escaped = true;
                    match *b.get(i + 1)? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => i += 2,
                        b'u' => {
                            b.get(i + 2..i + 6).filter(|h| h.iter().all(u8::is_ascii_hexdigit))?;
                            i += 6;
                        }
                        _ => return None,
                    }
                }
                _ => unreachable!("memchr2 stops only at a quote or a backslash"),
            }
        }
        self.pos = i + 1;
        Some((start, i, escaped))
    }

    /// A string value, borrowed unless it has escapes.
    pub fn string(&mut self) -> Option<Cow<'a, str>> {
        let (start, end, escaped) = self.string_extent()?;
        if !escaped {
            return Some(Cow::Borrowed(&self.text[start..end]));
        }
        // Escapes (including \u surrogate pairs) are decoded by serde_json itself.
        serde_json::from_str::<String>(&self.text[start - 1..=end]).ok().map(Cow::Owned)
    }

    /// `null` or a string.
    pub fn opt_string(&mut self) -> Option<Option<Cow<'a, str>>> {
        if self.null() { Some(None) } else { self.string().map(Some) }
    }

    /// The extent of a JSON number at the current position (strict grammar).
    fn number_extent(&mut self) -> Option<&'a str> {
        self.ws();
        let b = self.bytes();
        let start = self.pos;
        let mut i = start;
        let digits = |i: &mut usize| {
            let s = *i;
            while b.get(*i).is_some_and(u8::is_ascii_digit) {
                *i += 1;
            }
            *i > s
        };
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        match b.get(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => {
                digits(&mut i);
            }
            _ => return None,
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            if !digits(&mut i) {
                return None;
            }
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            if !digits(&mut i) {
                return None;
            }
        }
        self.pos = i;
        Some(&self.text[start..i])
    }

    /// `null` or a whole number that fits a `u64`; any other number is left to serde.
    pub fn opt_u64(&mut self) -> Option<Option<u64>> {
        if self.null() {
            return Some(None);
        }
        let n = self.number_extent()?;
        if !n.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        n.parse().ok().map(Some)
    }

    /// `null` or any number, converted by serde_json (so it rounds exactly as serde does).
    pub fn opt_f64(&mut self) -> Option<Option<f64>> {
        if self.null() {
            return Some(None);
        }
        let n = self.number_extent()?;
        serde_json::from_str::<f64>(n).ok().map(Some)
    }

    /// An object: `field` is called with each key (keys with escapes go back to serde) and must
    /// consume its value.
    pub fn object(&mut self, mut field: impl FnMut(&mut Self, &'a str) -> Option<()>) -> Option<()> {
        self.sequence(b'{', b'}', |s| {
            let (start, end, escaped) = s.string_extent()?;
            if escaped {
                return None;
            }
            s.eat(b':')?;
            let text = s.text;
            field(s, &text[start..end])
        })
    }

    /// An array: `item` is called for each element and must consume it.
    pub fn array(&mut self, item: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.sequence(b'[', b']', item)
    }

    /// `open`, elements separated by commas (none after the last), `close`.
    fn sequence(&mut self, open: u8, close: u8, mut element: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.eat(open)?;
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return None;
        }
        self.ws();
        if self.peek()? != close {
            loop {
                element(self)?;
                self.ws();
                match self.peek()? {
                    b',' => self.pos += 1,
                    c if c == close => break,
                    _ => return None,
                }
            }
        }
        self.pos += 1;
        self.depth -= 1;
        Some(())
    }

    /// Any value, checked and skipped.
    pub fn skip(&mut self) -> Option<()> {
        self.ws();
        match self.peek()? {
            // Decoded when it has escapes: serde refuses a lone surrogate even in a field it ignores.
            b'"' => self.string().map(|_| ()),
            b'{' => self.object(|s, _| s.skip()),
            b'[' => self.array(|s| s.skip()),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => {
                // serde_json reads numbers into f64 when they do not fit an integer, and refuses
                // those beyond f64's range: so does the scanner.
                let n = self.number_extent()?;
                let short_integer = n.len() <= 18 && n.bytes().all(|c| c.is_ascii_digit() || c == b'-');
                (short_integer || n.parse::<f64>().is_ok_and(f64::is_finite)).then_some(())
            }
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        self.bytes()[self.pos..].starts_with(word).then(|| self.pos += word.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Skips one whole document; Some only when it is valid JSON.
    fn skips(text: &str) -> bool {
        let mut s = Scanner::new(text);
        s.skip().is_some() && s.end().is_some()
    }

    #[test]
    fn accepts_exactly_what_serde_accepts_on_a_corpus() {
        let docs = [
            r#"{}"#,
            r#"[]"#,
            r#" {"a" : [1, -2.5e+3, 0, 0.0, true, false, null, "x\"y\\u00e9\n"], "b": {"c": {}}} "#,
            r#"{"a":01}"#,
            r#"{"a":1.}"#,
            r#"{"a":-}"#,
            r#"{"a":.5}"#,
            r#"{"a":1e}"#,
            r#"{"a":1e400}"#,
            r#"{"a":-1.5e308}"#,
            r#"{"a":123456789012345678901234567890}"#,
            r#"{"a":"\q"}"#,
            r#"{"a":"\u12"}"#,
            r#"{"a":"\ud800"}"#,
            r#"{"a":"\ud83d\ude00"}"#,
            "{\"a\":\"tab\there\"}",
            r#"{"a":tru}"#,
            r#"{"a":nullx}"#,
            r#"{"a":1,}"#,
            r#"{"a":1 "b":2}"#,
            r#"[1,]"#,
            r#"{"a":[1,2}"#,
            r#"{"a":1}}"#,
            r#"{"a" 1}"#,
            r#"{a:1}"#,
            r#""#,
            r#"   "#,
            r#""unterminated"#,
        ];
        for d in docs {
            // The general path reads chunks into `Value`, which is also what the scanner must match.
            let serde_ok = serde_json::from_str::<serde_json::Value>(d).is_ok();
            assert_eq!(skips(d), serde_ok, "{d:?}");
        }
    }

    #[test]
    fn nesting_beyond_serdes_limit_goes_back_to_serde() {
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert!(!skips(&deep));
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(skips(&ok));
    }

    #[test]
    fn strings_borrow_without_escapes_and_unescape_like_serde() {
        let mut s = Scanner::new(r#""plain" "a\nb\u00e9\ud83d\ude00\"" "\ud800" null"#);
        assert!(matches!(s.string(), Some(Cow::Borrowed("plain"))));
        assert_eq!(s.string().as_deref(), Some("a\nbé😀\""));
        // A lone surrogate: serde refuses, so the scanner does too.
        assert_eq!(s.string(), None);
        let mut s = Scanner::new("null 12 1.5 18446744073709551616");
        assert_eq!(s.opt_u64(), Some(None));
        assert_eq!(s.opt_u64(), Some(Some(12)));
        // Not a whole number, or too large: back to serde.
        assert_eq!(s.opt_u64(), None);
        let mut s = Scanner::new("1.5 7 null -2e-3");
        assert_eq!(s.opt_f64(), Some(Some(1.5)));
        assert_eq!(s.opt_f64(), Some(Some(7.0)));
        assert_eq!(s.opt_f64(), Some(None));
        assert_eq!(s.opt_f64(), Some(Some(-0.002)));
    }

    #[test]
    fn keys_with_escapes_go_back_to_serde() {
        let mut s = Scanner::new(r#"{"con\u0074ent":"x"}"#);
        assert_eq!(s.object(|s, _| s.skip()), None);
    }
}
