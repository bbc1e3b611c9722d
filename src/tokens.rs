//! Token estimates for when a provider does not report usage.
//!
//! Every provider tokenizes differently; we use OpenAI's `o200k_base` for all of them and flag the
//! result as estimated wherever it is shown, so nobody mistakes it for a billed count.

use crate::provider::Message;

/// Letters and digits in a row beyond which a run is counted by its length instead of by BPE.
/// Real words are far shorter; a run this long is base64, a hash or a hostile stream, where BPE
/// costs ~10× more per byte than on prose (a 10 MB run took seconds) for a count nobody bills.
pub const LONG_RUN: usize = 1000;

/// Tokens in `text` under `o200k_base`; runs of more than [`LONG_RUN`] letters and digits are
/// counted as one token per 4 bytes (OpenAI's rule of thumb). The tokenizer loads once, on first
/// use (~100 ms).
pub fn estimate(text: &str) -> u64 {
    if text.is_empty() {
        return 0;
    }
    let bpe = tiktoken_rs::o200k_base_singleton();
    LOADED.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut total = 0u64;
    let mut counted = 0; // `text[..counted]` is counted
    for (start, end) in long_runs(text) {
        total += bpe.encode_ordinary(&text[counted..start]).len() as u64;
        total += (end - start).div_ceil(4) as u64;
        counted = end;
    }
    total + bpe.encode_ordinary(&text[counted..]).len() as u64
}

/// Byte ranges of the runs of more than [`LONG_RUN`] alphanumeric characters in `text`.
fn long_runs(text: &str) -> Vec<(usize, usize)> {
    let mut runs = Vec::new();
    let (mut start, mut chars) = (0, 0);
    for (i, c) in text.char_indices() {
        if c.is_alphanumeric() {
            if chars == 0 {
                start = i;
            }
            chars += 1;
        } else {
            if chars > LONG_RUN {
                runs.push((start, i));
            }
            chars = 0;
        }
    }
    if chars > LONG_RUN {
        runs.push((start, text.len()));
    }
    runs
}

/// [`estimate`] for one streamed delta. Deltas are mostly a word or two and the same ones recur
/// (" the", " is", "\n\n"), so short ones are remembered per thread: the count is identical and
/// costs a hash lookup instead of a regex split and BPE merge (a tenth of the client's CPU per
/// request in a loopback load run).
pub fn estimate_delta(text: &str) -> u64 {
    const SHORT: usize = 24;
    const ENTRIES: usize = 16 * 1024;
    thread_local! {
        static SEEN: std::cell::RefCell<std::collections::HashMap<Box<str>, u64>> = Default::default();
    }
    if text.len() > SHORT {
        return estimate(text);
    }
    SEEN.with_borrow_mut(|seen| {
        if let Some(n) = seen.get(text) {
            return *n;
        }
        let n = estimate(text);
        if seen.len() >= ENTRIES {
            seen.clear(); // bounded memory; the common deltas come back at once
        }
        seen.insert(text.into(), n);
        n
    })
}

/// A rough count without the tokenizer: one token per 4 bytes, at least one for any text. For
/// live figures that the provider's usage (or, without usage, a tokenizer count at the end)
/// replaces: the TUI streams without loading the tokenizer's tables (tens of MB).
pub fn rough(text: &str) -> u64 {
    if text.is_empty() { 0 } else { text.len().div_ceil(4).max(1) as u64 }
}

/// [`estimate_prompt`] with [`rough`] counts.
pub fn rough_prompt(messages: &[Message]) -> u64 {
    let content: u64 = messages
        .iter()
        .map(|m| rough(&m.content) + m.tool_calls.iter().map(|c| rough(&c.name) + rough(&c.arguments)).sum::<u64>())
        .sum();
    content + 3 * messages.len() as u64 + 3
}

/// Loads the tokenizer now if it is not loaded yet. Called before a request starts, so the load
/// never happens inside a network task, where it would hold up reads and inflate the timings of
/// the first request that streams text.
pub fn warm_up() {
    let _ = tiktoken_rs::o200k_base_singleton();
    LOADED.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// Set once the tokenizer has loaded (by [`warm_up`] or a first estimate).
static LOADED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether an estimate now costs only the count, not the tokenizer's load (~100 ms, more in a
/// debug build). Code on the UI thread estimates only then: a load in progress on the warm-up
/// thread would block it.
pub fn ready() -> bool {
    LOADED.load(std::sync::atomic::Ordering::Relaxed)
}

/// Prompt tokens for a message list: content tokens plus OpenAI's documented per-message
/// overhead (3 per message, 3 to prime the reply). Other providers' framing differs slightly;
/// that is why the figure is flagged as an estimate.
pub fn estimate_prompt(messages: &[Message]) -> u64 {
    let content: u64 = messages
        .iter()
        .map(|m| {
            let calls: u64 = m.tool_calls.iter().map(|c| estimate(&c.name) + estimate(&c.arguments)).sum();
            estimate(&m.content) + calls
        })
        .sum();
    content + 3 * messages.len() as u64 + 3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_plausibly() {
        assert_eq!(estimate(""), 0);
        let n = estimate("The quick brown fox jumps over the lazy dog.");
        assert!((8..=12).contains(&n), "{n}");
        // Multi-byte text must not panic and counts at least one token per CJK run.
        assert!(estimate("東京 café 🚀") >= 3);
        assert_eq!(estimate_prompt(&[Message::user("hi")]), estimate("hi") + 6);
        for t in [" the", "東京", "", "a much longer delta than the cache keeps around"] {
            assert_eq!(estimate_delta(t), estimate(t), "{t:?}");
            assert_eq!(estimate_delta(t), estimate(t), "{t:?}, remembered");
        }
    }

    #[test]
    fn long_runs_are_counted_by_length() {
        // Prose and a run at the limit go through BPE as before.
        let word = "a".repeat(LONG_RUN);
        let bpe = tiktoken_rs::o200k_base_singleton();
        assert_eq!(estimate(&word), bpe.encode_ordinary(&word).len() as u64);
        // A 10 MB run: by length (BPE would have said one token per 8 bytes, after seconds).
        let run = "b".repeat(10 << 20);
        assert_eq!(estimate(&format!("Here: {run} done")), estimate("Here: ") + (10 << 20) / 4 + estimate(" done"));
        assert_eq!(long_runs(&format!("x {run}")), vec![(2, 2 + (10 << 20))]);
    }
}
