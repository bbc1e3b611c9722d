//! Terminal-safety filter for text that came from outside (model output, error messages, server
//! model names).
//!
//! A model can emit anything, including `ESC ] 0 ; title BEL` (sets the window title), cursor
//! movement or a clear-screen. None of it may reach the terminal: every control character is
//! turned into a visible stand-in *before* the text is stored for display, so no later code path
//! can forget it. What survives is plain printable text plus `\n`.
//!
//! - C0 controls (U+0000–U+001F) become their Control Pictures glyph (`ESC` → `␛`), except `\n`
//!   (kept), `\t` (expanded to spaces) and `\r` (dropped: `\r\n` is a line end, a bare `\r` would
//!   move the cursor).
//! - DEL becomes `␡`; C1 controls (U+0080–U+009F, e.g. the one-byte CSI U+009B) become `\x9b`.
//! - Bidi embedding/override/isolate controls (the "Trojan Source" characters) become `<U+202E>`
//!   so they cannot reorder what is shown around them.
//!
//! The filter works per character, so it gives the same result however a stream is split into
//! chunks.
//!
//! Files get the same treatment in their own syntax, since they are `cat`ed and `less`ed too:
//! Markdown through [`document`] (like [`sanitize`], but tabs kept), HTML through its escaper
//! (`report::html`), and JSON through [`to_json`]/[`to_json_pretty`]/[`write_json`], which
//! write C1 controls and bidi controls as `\u` escapes (serde already escapes C0): the same
//! value to any JSON reader, inert in a terminal.

use serde::Serialize;
use std::io;

/// Spaces a tab expands to. Fixed (not column-aware) so chunk boundaries cannot change the result.
pub const TAB_WIDTH: usize = 4;

/// Returns `s` with every control character made visible or removed (see module docs).
pub fn sanitize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    push_sanitized(&mut out, s);
    out
}

/// Appends the sanitized form of `s` to `out` (no allocation when `s` is already clean).
pub fn push_sanitized(out: &mut String, s: &str) {
    if !s.chars().any(needs_escape) {
        out.push_str(s);
        return;
    }
    for c in s.chars() {
        push_char(out, c);
    }
}

/// Text for a document (Markdown, HTML `<pre>`): like [`sanitize`], but tabs stay tabs.
pub fn document(s: &str) -> String {
    if !s.chars().any(needs_escape) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\t' => out.push('\t'),
            c => push_char(&mut out, c),
        }
    }
    out
}

/// The visible stand-in for a character [`sanitize`] replaces (`None` for one it keeps).
pub fn stand_in(c: char) -> Option<String> {
    match c {
        '\n' | '\t' | '\r' => None,
        c if needs_escape(c) => {
            let mut s = String::new();
            push_char(&mut s, c);
            Some(s)
        }
        _ => None,
    }
}

/// Sanitizes and also folds line breaks into spaces: for one-line places (headers, strips).
pub fn one_line(s: &str) -> String {
    sanitize(s).replace('\n', " ")
}

fn needs_escape(c: char) -> bool {
    (c.is_control() && c != '\n') || is_bidi_control(c)
}

/// Bidi embedding, override and isolate controls: they reorder the text shown around them.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn push_char(out: &mut String, c: char) {
    match c {
        '\n' => out.push('\n'),
        '\t' => out.extend(std::iter::repeat_n(' ', TAB_WIDTH)),
        '\r' => {}
        // Control Pictures block mirrors C0 one to one: U+2400 + code.
        '\u{0}'..='\u{1f}' => out.push(char::from_u32(0x2400 + c as u32).unwrap_or('�')),
        '\u{7f}' => out.push('␡'),
        '\u{80}'..='\u{9f}' => out.push_str(&format!("\\x{:02x}", c as u32)),
        c if is_bidi_control(c) => out.push_str(&format!("<U+{:04X}>", c as u32)),
        c => out.push(c),
    }
}

/// Characters a JSON writer must `\u`-escape on top of serde's own (C0, `"`, `\\`).
fn json_unsafe(c: char) -> bool {
    ('\u{7f}'..='\u{9f}').contains(&c) || is_bidi_control(c)
}

/// Wraps a serde_json formatter so string contents never carry C1 or bidi controls raw.
struct SafeStrings<F>(F);

impl<F: serde_json::ser::Formatter> serde_json::ser::Formatter for SafeStrings<F> {
    fn write_string_fragment<W: ?Sized + io::Write>(&mut self, w: &mut W, fragment: &str) -> io::Result<()> {
        let mut rest = fragment;
        while let Some(i) = rest.find(json_unsafe) {
            w.write_all(&rest.as_bytes()[..i])?;
            let c = rest[i..].chars().next().unwrap_or_default();
            write!(w, "\\u{:04x}", c as u32)?;
            rest = &rest[i + c.len_utf8()..];
        }
        w.write_all(rest.as_bytes())
    }
    // The layout is the wrapped formatter's.
    fn begin_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + io::Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + io::Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn end_object_key<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object_key(w)
    }
    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object_value(w)
    }
}

/// Writes `value` as compact JSON, terminal-safe (see module docs).
pub fn write_json<W: io::Write, T: Serialize + ?Sized>(w: W, value: &T) -> serde_json::Result<()> {
    value.serialize(&mut serde_json::Serializer::with_formatter(w, SafeStrings(serde_json::ser::CompactFormatter)))
}

/// Writes `value` as indented JSON, terminal-safe.
pub fn write_json_pretty<W: io::Write, T: Serialize + ?Sized>(w: W, value: &T) -> serde_json::Result<()> {
    let f = SafeStrings(serde_json::ser::PrettyFormatter::new());
    value.serialize(&mut serde_json::Serializer::with_formatter(w, f))
}

/// Compact, terminal-safe JSON.
pub fn to_json<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<Vec<u8>> {
    let mut out = Vec::new();
    write_json(&mut out, value)?;
    Ok(out)
}

/// Indented, terminal-safe JSON.
pub fn to_json_pretty<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<String> {
    let mut out = Vec::new();
    write_json_pretty(&mut out, value)?;
    // Only whole UTF-8 strings and ASCII escapes were written.
    String::from_utf8(out).map_err(|e| serde::ser::Error::custom(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_text_is_unchanged() {
        let s = "Hello, wörld — 日本語 🙂\nsecond line";
        assert_eq!(sanitize(s), s);
    }

    #[test]
    fn escape_sequences_become_visible() {
        // Set-title OSC, CSI clear screen, cursor home.
        let s = "a\x1b]0;pwned\x07b\x1b[2J\x1b[Hc";
        let out = sanitize(s);
        assert_eq!(out, "a␛]0;pwned␇b␛[2J␛[Hc");
        assert!(!out.chars().any(|c| c.is_control()));
    }

    #[test]
    fn c1_del_bidi_tab_and_cr() {
        assert_eq!(sanitize("x\u{9b}31m\u{7f}"), "x\\x9b31m␡");
        assert_eq!(sanitize("abc\u{202E}def"), "abc<U+202E>def");
        assert_eq!(sanitize("a\tb"), "a    b");
        assert_eq!(sanitize("one\r\ntwo\rthree"), "one\ntwothree");
        assert_eq!(sanitize("\0"), "␀");
    }

    #[test]
    fn split_anywhere_gives_same_result() {
        let s = "pre\x1b[31mred\x1b[0m\tpost\u{202E}x";
        let whole = sanitize(s);
        for (i, _) in s.char_indices() {
            let mut out = String::new();
            push_sanitized(&mut out, &s[..i]);
            push_sanitized(&mut out, &s[i..]);
            assert_eq!(out, whole);
        }
    }

    #[test]
    fn documents_keep_tabs_and_lines() {
        assert_eq!(document("a\tb\nc\x1b[2J\u{9b}\u{202e}"), "a\tb\nc␛[2J\\x9b<U+202E>");
        assert_eq!(stand_in('\u{1b}').as_deref(), Some("␛"));
        assert_eq!(stand_in('a'), None);
    }

    #[test]
    fn json_escapes_c1_and_bidi_and_reads_back_the_same() {
        let v = serde_json::json!({"k\u{202e}": ["a\u{9b}31m\u{1b}]0;t\u{7}", "\u{2066}x\u{2069}", "日本 🙂"]});
        for text in [String::from_utf8(to_json(&v).unwrap()).unwrap(), to_json_pretty(&v).unwrap()] {
            assert!(!text.chars().any(|c| c.is_control() && c != '\n' || is_bidi_control(c)), "{text:?}");
            assert!(text.contains("\\u009b") && text.contains("\\u202e") && text.contains("日本 🙂"), "{text}");
            assert_eq!(serde_json::from_str::<serde_json::Value>(&text).unwrap(), v);
        }
        assert_eq!(
            to_json_pretty(&v).unwrap(),
            serde_json::to_string_pretty(&v)
                .unwrap()
                .replace('\u{9b}', "\\u009b")
                .replace('\u{202e}', "\\u202e")
                .replace('\u{2066}', "\\u2066")
                .replace('\u{2069}', "\\u2069")
        );
    }

    #[test]
    fn one_line_folds_newlines() {
        assert_eq!(one_line("a\nb\x1b"), "a b␛");
    }
}
