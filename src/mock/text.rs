//! Canned, deterministic text for mock answers and reasoning, cut into "tokens".
//!
//! A token is one whitespace-delimited word piece together with the whitespace before it
//! (`" word"`, `"\n\n1."`); the first token has none. The same model name, quality and prompt
//! always produce the same tokens, so demo panes and test expectations are stable. The quality
//! knob is meant to be *visible*: 1 is terse, repetitive and drifts off-topic, 5 is a structured
//! answer with a summary, bullets and caveats.

use super::script::TextKind;

/// FNV-1a: a stable hash (std's `DefaultHasher` may change between Rust releases).
pub fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in *p {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h ^= 0xff; // separator so ["ab","c"] != ["a","bc"]
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// SplitMix64: tiny, seedable and fixed forever, so jitter and text stay reproducible.
#[derive(Clone, Debug)]
pub struct SplitMix(u64);

impl SplitMix {
    pub fn new(seed: u64) -> Self {
        SplitMix(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in [-1, 1].
    pub fn symmetric(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[(self.next_u64() % items.len() as u64) as usize]
    }
}

/// The prompt as it is quoted in answers: whitespace collapsed, at most 60 characters.
pub fn topic(prompt: &str) -> String {
    let collapsed: String = prompt.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.is_empty() {
        return "your question".into();
    }
    let mut t: String = collapsed.chars().take(60).collect();
    if collapsed.chars().count() > 60 {
        t.push('…');
    }
    t
}

/// A scripted reply as tokens that concatenate to exactly `text` (trailing whitespace joins the
/// last token).
pub fn reply_tokens(text: &str) -> Vec<String> {
    let mut tokens = tokenize(text);
    let used: usize = tokens.iter().map(String::len).sum();
    if used < text.len() {
        match tokens.last_mut() {
            Some(last) => last.push_str(&text[used..]),
            None => tokens.push(text.to_string()),
        }
    }
    tokens
}

/// Splits text into tokens: leading whitespace run + one non-whitespace run.
pub fn tokenize(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    for c in text.chars() {
        if c.is_whitespace() && in_word {
            out.push(std::mem::take(&mut cur));
            in_word = false;
        }
        if !c.is_whitespace() {
            in_word = true;
        }
        cur.push(c);
    }
    if in_word {
        out.push(cur);
    }
    out
}

/// Appends paragraphs from `more` until `text` holds at least `n` tokens, then cuts to `n`.
fn fill(mut text: String, n: usize, mut more: impl FnMut(&mut String)) -> Vec<String> {
    // A word count is cheap and matches `tokenize`'s notion of a token.
    while text.split_whitespace().count() < n {
        let before = text.len();
        more(&mut text);
        if text.len() == before {
            break; // defensive: a generator that adds nothing would loop forever
        }
    }
    let mut toks = tokenize(&text);
    toks.truncate(n);
    toks
}

const OFF_TOPIC: &[&str] = &[
    "Bananas are a good source of potassium.",
    "The weather has been nice lately.",
    "Some people prefer tea.",
    "My favourite number is seven.",
    "Cats sleep most of the day.",
];

const TERSE: &[&str] =
    &["It depends.", "It really depends.", "Hard to say.", "Maybe.", "It depends on many things.", "Yes and no."];

const GENERIC: &[&str] = &[
    "There are a few options here.",
    "Most people pick the simple one.",
    "That usually works fine.",
    "You could also try something else.",
    "It is a common question.",
    "The details matter less than you think.",
    "Results can vary.",
];

const SOLID: &[&str] = &[
    "The key trade-off is between simplicity and control.",
    "Start from the smallest version that works and measure before optimising.",
    "Write down the constraints first, because they decide most of the design.",
    "A short experiment usually answers this faster than a long debate.",
    "Keep the interface narrow so the implementation can change later.",
    "Check the edge cases: empty input, very large input, and failures halfway through.",
    "Prefer the boring, well-tested option unless you have a measured reason not to.",
    "Document the decision and the reason for it next to the code.",
];

const POINTS: &[(&str, &str)] = &[
    ("Clarify the goal.", "Decide what a good result looks like before choosing a method."),
    ("Start simple.", "Build the smallest version that works end to end."),
    ("Measure.", "Collect real numbers instead of relying on intuition."),
    ("Handle failures.", "Plan for timeouts, retries and partial results."),
    ("Iterate.", "Change one thing at a time and compare against the baseline."),
    ("Keep it readable.", "Clear names and short functions pay off quickly."),
    ("Automate checks.", "Tests and linters catch regressions early."),
];

const CAVEATS: &[&str] = &[
    "This is a general answer; your constraints may change the trade-offs.",
    "Numbers from a small test may not hold at production scale.",
    "Newer versions of the tools involved may behave differently.",
];

const LOREM: &[&str] = &[
    "Lorem",
    "ipsum",
    "dolor",
    "sit",
    "amet,",
    "consectetur",
    "adipiscing",
    "elit,",
    "sed",
    "do",
    "eiusmod",
    "tempor",
    "incididunt",
    "ut",
    "labore",
    "et",
    "dolore",
    "magna",
    "aliqua.",
    "Ut",
    "enim",
    "ad",
    "minim",
    "veniam,",
    "quis",
    "nostrud",
    "exercitation",
    "ullamco",
    "laboris",
    "nisi",
    "ut",
    "aliquip",
    "ex",
    "ea",
    "commodo",
    "consequat.",
];

/// Words mixing 1-, 2-, 3- and 4-byte UTF-8 (plus a combining accent and a ZWJ emoji sequence).
const MULTIBYTE: &[&str] = &[
    "Héllo",
    "naïve",
    "café",
    "Zürich",
    "façade",
    "Ærø",
    "東京",
    "日本語のテキスト",
    "中文字符",
    "한국어",
    "😀",
    "🚀rocket",
    "👩‍💻",
    "Ελληνικά",
    "Привет",
    "ℕ≠ℤ",
    "e\u{301}",
    "ok",
    "🎉🎉",
    "naïveté",
    "½",
    "€100",
    "→",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
];

/// Terminal-hostile pieces: OSC title set, clear screen, colours, hyperlinks, bidi override, C1
/// CSI, NUL, DEL, backspaces, bell, DCS. None contains a space, so each stays inside one token.
const ESCAPES: &[&str] = &[
    "\x1b]0;pwned\x07",
    "\x1b[2J",
    "\x1b[31mred\x1b[0m",
    "\x1b[H",
    "bell\x07",
    "back\x08\x08space",
    "\x1b]8;;http://evil.example/\x07link\x1b]8;;\x07",
    "\u{202e}desrever",
    "\u{9b}31mc1",
    "nul\u{0}byte",
    "del\u{7f}",
    "\x1bP+q544e\x1b\\",
    "\x1b[6n",
    "\x1b]52;c;cHduZWQ=\x07",
];

fn intro(prompt: &str) -> String {
    format!("Here is a mock answer to “{}”.", topic(prompt))
}

/// Visible answer tokens.
pub fn answer(kind: TextKind, name: &str, quality: u8, prompt: &str, n: usize) -> Vec<String> {
    let mut rng = SplitMix::new(fnv1a(&[name.as_bytes(), &[quality], prompt.as_bytes()]));
    let topic = topic(prompt);
    match kind {
        TextKind::Lorem => {
            let mut i = 0usize;
            fill(String::new(), n, |t| {
                for _ in 0..LOREM.len() {
                    if !t.is_empty() {
                        t.push(' ');
                    }
                    t.push_str(LOREM[i % LOREM.len()]);
                    i += 1;
                }
            })
        }
        TextKind::Multibyte => fill(intro(prompt), n, |t| {
            for _ in 0..8 {
                t.push(' ');
                t.push_str(rng.pick(MULTIBYTE));
            }
        }),
        TextKind::Escape => fill(intro(prompt), n, |t| {
            t.push(' ');
            t.push_str(rng.pick(ESCAPES));
            t.push_str(" plain");
        }),
        TextKind::Answer => match quality {
            1 => fill(intro(prompt), n, |t| {
                t.push(' ');
                let pool = if rng.next_u64().is_multiple_of(3) { OFF_TOPIC } else { TERSE };
                t.push_str(rng.pick(pool));
            }),
            2 => {
                let start = format!("{} The short version: it depends on your situation.", intro(prompt));
                fill(start, n, |t| {
                    t.push(' ');
                    t.push_str(rng.pick(GENERIC));
                    if rng.next_u64().is_multiple_of(4) {
                        t.push_str(" It depends.");
                    }
                })
            }
            3 => {
                let start = format!("{} When thinking about {topic}, a few things matter most.", intro(prompt));
                let mut sentences = 0;
                fill(start, n, |t| {
                    sentences += 1;
                    // A paragraph break every few sentences keeps it readable.
                    t.push_str(if sentences % 4 == 0 { "\n\n" } else { " " });
                    t.push_str(rng.pick(SOLID));
                })
            }
            4 => {
                let start = format!("{}\n\nThe main points:\n", intro(prompt));
                let mut k = 0;
                fill(start, n, |t| {
                    k += 1;
                    let (head, body) = rng.pick(POINTS);
                    t.push_str(&format!("\n{k}. **{head}** {body}"));
                    if k % 4 == 0 {
                        t.push_str(&format!("\n\nIn short: {}\n", rng.pick(SOLID)));
                    }
                })
            }
            _ => {
                let (head, body) = rng.pick(POINTS);
                let start = format!("{}\n\n**Summary:** {head} {body}\n\n**Details**\n", intro(prompt));
                let mut k = 0;
                fill(start, n, |t| {
                    k += 1;
                    let (head, body) = rng.pick(POINTS);
                    t.push_str(&format!("\n- **{head}** {body} {}", rng.pick(SOLID)));
                    if k % 3 == 0 {
                        t.push_str(&format!("\n\n**Caveat:** {}\n", rng.pick(CAVEATS)));
                    }
                })
            }
        },
    }
}

const THOUGHTS: &[&str] = &[
    "Let me think about what they really need.",
    "First, I should consider the constraints.",
    "Then compare the obvious options.",
    "Wait, there may be an edge case here.",
    "I should check that against the question again.",
    "A structured answer would help.",
    "So the answer should start with the main point.",
];

/// Reasoning ("thinking") tokens.
pub fn reasoning(name: &str, prompt: &str, n: usize) -> Vec<String> {
    let mut rng = SplitMix::new(fnv1a(&[b"reasoning", name.as_bytes(), prompt.as_bytes()]));
    let start = format!("Okay, the user asks about “{}”.", topic(prompt));
    fill(start, n, |t| {
        t.push(' ');
        t.push_str(rng.pick(THOUGHTS));
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenize_keeps_leading_whitespace() {
        assert_eq!(tokenize("a b\n\nc"), vec!["a", " b", "\n\nc"]);
        assert_eq!(tokenize(""), Vec::<String>::new());
    }

    #[test]
    fn answers_are_deterministic_and_exact_length() {
        for kind in [TextKind::Answer, TextKind::Lorem, TextKind::Multibyte, TextKind::Escape] {
            for q in 1..=5 {
                for n in [0, 1, 7, 60, 500] {
                    let a = answer(kind, "m", q, "Why is the sky blue?", n);
                    assert_eq!(a.len(), n, "{kind:?} q{q} n{n}");
                    assert_eq!(a, answer(kind, "m", q, "Why is the sky blue?", n));
                    assert!(a.iter().all(|t| !t.trim().is_empty()));
                }
            }
        }
        assert_eq!(reasoning("m", "p", 33).len(), 33);
    }

    #[test]
    fn answer_quotes_prompt_and_quality_shows() {
        let low = answer(TextKind::Answer, "m", 1, "Why is the sky blue?", 80).concat();
        let high = answer(TextKind::Answer, "m", 5, "Why is the sky blue?", 80).concat();
        assert!(low.starts_with("Here is a mock answer to “Why is the sky blue?”."));
        assert!(high.contains("**Summary:**") && high.contains("\n- "));
        assert!(!low.contains("**"));
        let long = "x".repeat(100);
        assert!(topic(&long).ends_with('…'));
        assert_eq!(topic("  \n "), "your question");
    }

    #[test]
    fn special_texts_have_what_they_promise() {
        let mb = answer(TextKind::Multibyte, "m", 3, "p", 60).concat();
        assert!(mb.chars().any(|c| c.len_utf8() == 4) && mb.chars().any(|c| c.len_utf8() == 3));
        let esc = answer(TextKind::Escape, "m", 3, "p", 60).concat();
        assert!(esc.contains('\x1b') && esc.contains('\x07'));
    }
}
