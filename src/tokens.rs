//! Token estimates for when a provider does not report usage.
//!
//! Every provider tokenizes differently; we use OpenAI's `o200k_base` for all of them and flag the
//! result as estimated wherever it is shown, so nobody mistakes it for a billed count.

use crate::provider::Message;

/// Tokens in `text` under `o200k_base`. The tokenizer loads once, on first use (~100 ms).
pub fn estimate(text: &str) -> u64 {
    if text.is_empty() {
        return 0;
    }
    tiktoken_rs::o200k_base_singleton().encode_ordinary(text).len() as u64
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

/// Loads the tokenizer now if it is not loaded yet. Called before a request starts, so the load
/// never happens inside a network task, where it would hold up reads and inflate the timings of
/// the first request that streams text.
pub fn warm_up() {
    let _ = tiktoken_rs::o200k_base_singleton();
}

/// Prompt tokens for a message list: content tokens plus OpenAI's documented per-message
/// overhead (3 per message, 3 to prime the reply). Other providers' framing differs slightly;
/// that is why the figure is flagged as an estimate.
pub fn estimate_prompt(messages: &[Message]) -> u64 {
    let content: u64 = messages.iter().map(|m| estimate(&m.content)).sum();
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
}
