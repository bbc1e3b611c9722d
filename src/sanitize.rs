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

/// Sanitizes and also folds line breaks into spaces: for one-line places (headers, strips).
pub fn one_line(s: &str) -> String {
    sanitize(s).replace('\n', " ")
}

fn needs_escape(c: char) -> bool {
    (c.is_control() && c != '\n') || is_bidi_control(c)
}

fn is_bidi_control(c: char) -> bool {
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
    fn one_line_folds_newlines() {
        assert_eq!(one_line("a\nb\x1b"), "a b␛");
    }
}
