//! Text that a regular expression matches, for a mock that knows what a check looks for: a
//! structured answer's `pattern`-constrained strings and the demo's taught answers to regex checks.
//!
//! Deterministic and readable rather than random: the shortest match, spelled with the most
//! ordinary character each class allows (a lowercase letter, a digit, a space). Look-arounds
//! (`^`, `$`, `\b`) add nothing; the caller places the text on a line of its own.

use regex_syntax::hir::{Class, Hir, HirKind};

/// The shortest text `pattern` matches; `None` for a pattern that does not parse or that needs
/// more than a few kilobytes.
pub fn example(pattern: &str) -> Option<String> {
    let hir = regex_syntax::parse(pattern).ok()?;
    let mut out = String::new();
    write(&hir, &mut out, 0)?;
    Some(out)
}

/// The first piece of `text` that `pattern` matches, anchors at its ends dropped so that a
/// whole-value pattern (`^INV-[0-9]{4}$`) finds its value inside a longer text.
pub fn find(pattern: &str, text: &str) -> Option<String> {
    let inner = pattern.strip_prefix('^').unwrap_or(pattern);
    let inner = match inner.strip_suffix('$') {
        Some(s) if !s.ends_with('\\') => s,
        _ => inner,
    };
    let re = regex::RegexBuilder::new(inner).size_limit(1 << 20).build().ok()?;
    re.find(text).map(|m| m.as_str().to_string()).filter(|s| !s.is_empty())
}

/// Characters tried first for a class, in order: what a person would type.
const ORDINARY: &str = "aeiostnrlcdmhpbufgwyvkxjqz0123456789 ABCDEFGHIJKLMNOPQRSTUVWXYZ-_.,:/";
/// Longest example made.
const MAX_LEN: usize = 4096;

fn write(hir: &Hir, out: &mut String, depth: u32) -> Option<()> {
    if depth > 64 || out.len() > MAX_LEN {
        return None;
    }
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => {}
        HirKind::Literal(l) => out.push_str(std::str::from_utf8(&l.0).ok()?),
        HirKind::Class(Class::Unicode(c)) => {
            let contains = |ch: char| c.ranges().iter().any(|r| r.start() <= ch && ch <= r.end());
            let pick = ORDINARY.chars().find(|&ch| contains(ch)).or_else(|| c.ranges().first().map(|r| r.start()))?;
            out.push(pick);
        }
        HirKind::Class(Class::Bytes(c)) => {
            let contains = |b: u8| c.ranges().iter().any(|r| r.start() <= b && b <= r.end());
            let pick = ORDINARY.bytes().find(|&b| contains(b)).or_else(|| c.ranges().first().map(|r| r.start()))?;
            out.push(char::from(pick).is_ascii().then_some(char::from(pick))?);
        }
        HirKind::Repetition(r) => {
            if r.min as usize > MAX_LEN {
                return None;
            }
            for _ in 0..r.min {
                write(&r.sub, out, depth + 1)?;
            }
        }
        HirKind::Capture(c) => write(&c.sub, out, depth + 1)?,
        HirKind::Concat(parts) => {
            for p in parts {
                write(p, out, depth + 1)?;
            }
        }
        // The first branch that can be written.
        HirKind::Alternation(branches) => {
            let mark = out.len();
            let ok = branches.iter().any(|b| {
                out.truncate(mark);
                write(b, out, depth + 1).is_some()
            });
            if !ok {
                return None;
            }
        }
    }
    (out.len() <= MAX_LEN).then_some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_example_matches_its_pattern() {
        // Patterns from the shipped sample cases and schemas.
        for p in [
            r"(?m)^\s*def\s+slugify\s*\(",
            r"\bre\.(sub|compile|split|findall)|isalnum|isascii",
            r"\[\s*'c'\s*,\s*'b'\s*,\s*'a'\s*\]",
            r"(?i)O\(\s*n\s*(\^\s*2|²|\*\*\s*2|\s*\*\s*n|\s*·\s*n)\s*\)",
            r"fn\s+reverse_words\s*(<[^>]*>)?\s*\(\s*s\s*:\s*&(\s*'\w+)?\s*str\s*\)\s*->\s*String",
            r"(?i)HAVING\s+COUNT\s*\(\s*(\*|1|\w+(\.\w+)?)\s*\)\s*>\s*1",
            r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
            r"^INV-[0-9]{4}-[0-9]{4}$",
            r"^#?A-55821-K$",
            r"0\[1-9\]\|1\[(0-2|012)\]",
            r"(?i)\b(2|two)\b",
            r"^\+?[0-9 ()-]{7,}$",
        ] {
            let text = example(p).unwrap_or_else(|| panic!("no example for {p}"));
            let re = regex::Regex::new(p).unwrap();
            assert!(re.is_match(&text), "{p:?} does not match its example {text:?}");
        }
        assert_eq!(example(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$").as_deref(), Some("0000-00-00"));
        assert_eq!(example(r"(?i)which|several").as_deref(), Some("which"));
        assert_eq!(example("a{100000}"), None, "too long");
        assert_eq!(example("("), None, "does not parse");
    }

    #[test]
    fn a_whole_value_pattern_finds_its_value_in_a_text() {
        let text = "INVOICE  #INV-2024-0117\nIssue date: 03/05/2024";
        assert_eq!(find(r"^INV-[0-9]{4}-[0-9]{4}$", text).as_deref(), Some("INV-2024-0117"));
        assert_eq!(find(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", text), None);
        assert_eq!(find(r"^#?A-55821-K$", "order A-55821-K late").as_deref(), Some("A-55821-K"));
    }
}
