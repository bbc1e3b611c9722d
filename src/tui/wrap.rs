//! Incremental word wrapping for streamed text.
//!
//! A pane's text only grows while a model streams, so the wrap index is extended instead of
//! recomputed: every visual line but the last is final (greedy wrapping never revisits a line once
//! something overflowed it), so new text re-wraps from the start of the last line only. The index
//! is rebuilt from scratch only when the width changes. Drawing then slices just the visible lines
//! out of the text, so a pane holding a megabyte scrolls as cheaply as one holding a sentence.

use std::ops::Range;

/// Display width of one character (0 for combining marks, 2 for wide CJK/emoji).
pub fn char_width(c: char) -> usize {
    if c.is_ascii() {
        return usize::from(!c.is_ascii_control());
    }
    let mut buf = [0u8; 4];
    // ratatui measures spans with the same unicode-width rules it draws with.
    ratatui::text::Span::raw(&*c.encode_utf8(&mut buf)).width()
}

/// Display width of a string.
pub fn str_width(s: &str) -> usize {
    s.chars().map(char_width).sum()
}

/// The wrap index of one growing text at one width: byte ranges of its visual lines.
#[derive(Clone, Debug, Default)]
pub struct Wrapped {
    width: usize,
    /// Length of the text the index was built for.
    seen: usize,
    lines: Vec<Range<usize>>,
}

impl Wrapped {
    /// Brings the index up to date with `text` (which has only grown since the last call, unless
    /// it was replaced) at `width` columns.
    pub fn update(&mut self, text: &str, width: usize) {
        let width = width.max(1);
        if width != self.width || text.len() < self.seen {
            self.width = width;
            self.lines.clear();
            self.seen = 0;
        }
        if text.len() == self.seen && !(text.is_empty() && self.lines.is_empty()) {
            return;
        }
        let resume = self.lines.pop().map_or(0, |r| r.start);
        wrap_from(text, resume, width, &mut self.lines);
        self.seen = text.len();
    }

    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Visual line `i` of `text` (the text the index was built for).
    pub fn line<'a>(&self, text: &'a str, i: usize) -> &'a str {
        self.lines.get(i).and_then(|r| text.get(r.clone())).unwrap_or("")
    }
}

/// Wraps `text[start..]` (where `start` begins a visual line) and appends the lines to `out`.
fn wrap_from(text: &str, start: usize, width: usize, out: &mut Vec<Range<usize>>) {
    let mut line_start = start;
    let mut col = 0usize;
    // (end of the line if we break here, start of the next line)
    let mut last_break: Option<(usize, usize)> = None;
    for (off, c) in text[start..].char_indices() {
        let i = start + off;
        if c == '\n' {
            out.push(line_start..i);
            line_start = i + 1;
            col = 0;
            last_break = None;
            continue;
        }
        let w = char_width(c);
        if col + w > width && col > 0 {
            if c == ' ' {
                // Break on this very space; it is swallowed by the line break.
                out.push(line_start..i);
                line_start = i + 1;
                col = 0;
                last_break = None;
                continue;
            }
            match last_break.take() {
                Some((end, next)) => {
                    out.push(line_start..end);
                    line_start = next;
                    col = str_width(&text[next..i]);
                }
                None => {
                    // A word longer than the line: cut it.
                    out.push(line_start..i);
                    line_start = i;
                    col = 0;
                }
            }
        }
        col += w;
        if c == ' ' {
            last_break = Some((i, i + 1));
        }
    }
    out.push(line_start..text.len());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str, width: usize) -> Vec<String> {
        let mut w = Wrapped::default();
        w.update(text, width);
        (0..w.len()).map(|i| w.line(text, i).to_string()).collect()
    }

    #[test]
    fn wraps_at_words_and_cuts_long_words() {
        assert_eq!(lines("the quick brown fox", 10), ["the quick", "brown fox"]);
        assert_eq!(lines("abcdefghijkl", 5), ["abcde", "fghij", "kl"]);
        assert_eq!(lines("a\n\nb", 5), ["a", "", "b"]);
        assert_eq!(lines("", 5), [""]);
        assert_eq!(lines("日本語のテキスト", 6), ["日本語", "のテキ", "スト"]);
        assert_eq!(lines("end\n", 5), ["end", ""]);
    }

    #[test]
    fn incremental_equals_whole() {
        let text = "Lorem ipsum dolor sit amet, consectetur adipiscing elit.\nSed do eiusmod tempor \
                    incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud \
                    exercitationullamcolaborisnisiutaliquipexeacommodo consequat. 日本語 🙂 done";
        for width in [1, 3, 7, 10, 17, 40] {
            let whole = lines(text, width);
            let mut w = Wrapped::default();
            for (i, _) in text.char_indices().step_by(3) {
                w.update(&text[..i], width);
            }
            w.update(text, width);
            let inc: Vec<String> = (0..w.len()).map(|i| w.line(text, i).to_string()).collect();
            assert_eq!(inc, whole, "width {width}");
        }
    }

    #[test]
    fn width_change_rewraps() {
        let text = "one two three four";
        let mut w = Wrapped::default();
        w.update(text, 8);
        assert_eq!(w.len(), 3);
        w.update(text, 100);
        assert_eq!(w.len(), 1);
    }
}
