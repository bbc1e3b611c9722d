//! Secret redaction: every API key bakeoff read or sent is replaced by `[redacted]` before any
//! text reaches a record, a file or a screen.
//!
//! Servers echo credentials back (a 401 body quoting `Bearer sk-…`, a proxy error naming the URL
//! with `?key=…`, a mock that streams the prompt's headers). Redacting at the places errors are
//! made is not enough on its own, since the text can also arrive as model output, so the
//! engine's one exit for events (`engine::Out`) passes every server string through [`redact`]
//! (stream text through a [`StreamRedactor`], which also catches a key split across chunks),
//! and error texts are redacted before they are cut short (`provider::one_line`). Everything
//! records, files and screens show of a request comes from those events.
//!
//! The registry is process-wide: a key is registered when it is read from the environment
//! ([`crate::config::ModelSpec::api_key`]) and when a credential header or `key=` query value is
//! put on a request, so one function knows every secret wherever the text was made.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{OnceLock, RwLock};

/// What a secret is replaced by.
pub const REDACTED: &str = "[redacted]";

/// Values shorter than this are not treated as secrets: local servers take placeholder keys
/// such as `EMPTY` or `ollama`, and replacing every `EMPTY` in model output would garble it.
/// Every hosted provider's key is far longer.
pub const MIN_SECRET_LEN: usize = 8;

/// A prefix of a key this long or longer at the end of a stream chunk is held back until the
/// next chunk shows whether the key follows; shorter prefixes (`sk-proj`) reveal nothing.
const HOLD_MIN: usize = 8;

/// Whether any secret is registered: the engine's per-event check, one atomic load (load runs
/// against keyless servers pay nothing else).
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// Whether any secret is registered.
pub fn active() -> bool {
    ACTIVE.load(Ordering::Acquire)
}

fn registry() -> &'static RwLock<Vec<String>> {
    static SECRETS: OnceLock<RwLock<Vec<String>>> = OnceLock::new();
    SECRETS.get_or_init(|| RwLock::new(Vec::new()))
}

/// Registers `secret` (trimmed) so it is redacted from now on. A `Bearer`/`Basic` credential
/// registers its token too, since servers often quote only the token.
pub fn register(secret: &str) {
    let secret = secret.trim();
    for scheme in ["Bearer ", "bearer ", "Basic ", "basic "] {
        if let Some(token) = secret.strip_prefix(scheme) {
            register(token);
        }
    }
    if secret.chars().count() < MIN_SECRET_LEN {
        return;
    }
    // Called for every request built: the common case (known already) takes only a read lock.
    if secrets().iter().any(|s| s == secret) {
        return;
    }
    let mut list = registry().write().unwrap_or_else(|e| e.into_inner());
    if !list.iter().any(|s| s == secret) {
        list.push(secret.to_string());
        // Longest first, so a key that contains another is replaced whole.
        list.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }
    ACTIVE.store(true, Ordering::Release);
}

/// Registers the credentials a request carries: the values of credential headers and the
/// `key`/`api_key`/… query parameters of its URL.
pub fn register_request<'a>(url: &str, headers: impl IntoIterator<Item = (&'a str, &'a str)>) {
    for (name, value) in headers {
        if is_credential_header(name) {
            register(value);
        }
    }
    if let Ok(url) = reqwest::Url::parse(url) {
        for (k, v) in url.query_pairs() {
            if is_credential_param(&k) {
                register(&v);
            }
        }
        if let Some(p) = url.password() {
            register(p);
        }
    }
}

/// Header names whose values are credentials.
fn is_credential_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    matches!(n.as_str(), "authorization" | "proxy-authorization" | "x-api-key" | "x-goog-api-key" | "api-key")
        || n.ends_with("-api-key")
        || n.ends_with("-token")
}

fn is_credential_param(name: &str) -> bool {
    matches!(name.to_ascii_lowercase().as_str(), "key" | "api_key" | "apikey" | "api-key" | "token" | "access_token")
}

fn secrets() -> std::sync::RwLockReadGuard<'static, Vec<String>> {
    registry().read().unwrap_or_else(|e| e.into_inner())
}

/// `s` with every registered secret replaced by [`REDACTED`]; borrowed when nothing matched.
pub fn redact(s: &str) -> Cow<'_, str> {
    if !active() {
        return Cow::Borrowed(s);
    }
    let list = secrets();
    if !list.iter().any(|k| s.contains(k.as_str())) {
        return Cow::Borrowed(s);
    }
    let mut out = s.to_string();
    for k in list.iter() {
        if out.contains(k.as_str()) {
            out = out.replace(k.as_str(), REDACTED);
        }
    }
    Cow::Owned(out)
}

/// [`redact`] into an owned string.
pub fn redact_owned(s: String) -> String {
    match redact(&s) {
        Cow::Borrowed(_) => s,
        Cow::Owned(o) => o,
    }
}

/// Redacts a stream that arrives in pieces, so a key split across two chunks is still caught.
///
/// A chunk ending in a long prefix of a key holds that prefix back until the next chunk (or
/// [`StreamRedactor::flush`]) settles it; a chunk ending in a short prefix is sent, and if the
/// key's rest starts the next chunk, that rest is what gets replaced. Clean text — everything
/// but a few characters per key ever seen in practice — passes through unchanged and unheld.
#[derive(Default, Debug)]
pub struct StreamRedactor {
    /// The last characters already sent, to recognise a key that began in them.
    sent_tail: String,
    /// Text received but not yet sent: a long key prefix at the end of the last chunk.
    held: String,
}

impl StreamRedactor {
    /// Takes the next piece; returns what can be sent now (possibly empty).
    pub fn push(&mut self, piece: &str) -> String {
        let list = secrets();
        if list.is_empty() {
            return piece.to_string();
        }
        let mut pending = std::mem::take(&mut self.held);
        pending.push_str(piece);
        let base = self.sent_tail.len();
        let work = format!("{}{pending}", self.sent_tail);
        let mut out = String::with_capacity(pending.len());
        let mut pos = 0; // in `work`; everything before was handled
        let mut copied = base; // in `work`; start of pending text not yet copied to `out`
        while let Some((at, key)) = earliest_match(&work, pos, &list) {
            let end = at + key.len();
            if end <= base {
                pos = end;
                continue;
            }
            out.push_str(&work[copied..at.max(base)]);
            out.push_str(REDACTED);
            copied = end;
            pos = end;
        }
        // A long prefix of a key at the very end waits for the next piece. The prefix may have
        // begun in text already sent (a short start of it); only the unsent part is held.
        let hold_from = held_suffix(&work, pos, &list).filter(|&h| work.len() - h >= HOLD_MIN).map(|h| h.max(copied));
        let upto = hold_from.unwrap_or(work.len());
        out.push_str(&work[copied..upto]);
        self.held = work[upto..].to_string();
        let longest = list.first().map_or(0, String::len);
        self.sent_tail = tail(&format!("{}{out}", self.sent_tail), longest.saturating_sub(1));
        out
    }

    /// Sends whatever is held (the stream ended, or something else comes next).
    pub fn flush(&mut self) -> String {
        let held = std::mem::take(&mut self.held);
        let out = redact_owned(held);
        self.sent_tail.push_str(&out);
        out
    }

    /// Whether text is held back.
    #[cfg(test)]
    pub fn holding(&self) -> bool {
        !self.held.is_empty()
    }
}

fn earliest_match<'k>(work: &str, from: usize, list: &'k [String]) -> Option<(usize, &'k str)> {
    list.iter().filter_map(|k| work[from..].find(k.as_str()).map(|i| (from + i, k.as_str()))).min_by_key(|&(i, _)| i)
}

/// Start of the longest suffix of `work[from..]` that is a proper prefix of some key. Only the
/// last (longest key − 1) bytes can be one, so a long piece costs no more than a short one.
fn held_suffix(work: &str, from: usize, list: &[String]) -> Option<usize> {
    let longest = list.first().map_or(0, String::len);
    let mut start = work.len().saturating_sub(longest.saturating_sub(1)).max(from);
    while !work.is_char_boundary(start) {
        start += 1;
    }
    let rest = &work[start..];
    rest.char_indices()
        .map(|(i, _)| i)
        .find(|&i| list.iter().any(|k| k.len() > rest.len() - i && k.starts_with(&rest[i..])))
        .map(|i| start + i)
}

/// The last `max` bytes of `s`, cut at a character boundary.
fn tail(s: &str, max: usize) -> String {
    let mut start = s.len().saturating_sub(max);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    s[start..].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    // The registry is process-wide; each test uses its own keys so tests can run in parallel.

    #[test]
    fn registered_keys_are_replaced_everywhere() {
        register("sk-unit-aaaaaaaaaaaaaaaa");
        let s = "401: invalid key sk-unit-aaaaaaaaaaaaaaaa (Bearer sk-unit-aaaaaaaaaaaaaaaa)";
        assert_eq!(redact(s), "401: invalid key [redacted] (Bearer [redacted])");
        assert!(matches!(redact("nothing here"), Cow::Borrowed(_)));
    }

    #[test]
    fn short_placeholders_are_not_secrets() {
        register("EMPTY");
        register("Bearer ollama");
        assert_eq!(redact("EMPTY ollama"), "EMPTY ollama");
    }

    #[test]
    fn bearer_tokens_and_query_keys_from_requests() {
        register_request(
            "https://g.example/v1/models/x:stream?alt=sse&key=AIzaUnitQueryKey123",
            [("Authorization", "Bearer tok-unit-bearer-999"), ("X-Team", "evals-team-name")],
        );
        assert_eq!(
            redact("tok-unit-bearer-999 AIzaUnitQueryKey123 evals-team-name"),
            "[redacted] [redacted] evals-team-name"
        );
    }

    /// `got` with any short start of `key` just before a `[redacted]` removed: a prefix below
    /// `HOLD_MIN` bytes at a chunk's end is sent before the rest of the key is seen.
    fn without_sent_prefixes(got: &str, key: &str) -> String {
        let mut s = got.to_string();
        for n in (1..HOLD_MIN).rev() {
            s = s.replace(&format!("{}{REDACTED}", &key[..n]), REDACTED);
        }
        s
    }

    #[test]
    fn stream_redaction_catches_keys_split_anywhere() {
        let key = "sk-split-0123456789abcdef";
        register(key);
        let text = format!("before {key} middle sk-split-01 not a key, and {key}é");
        let want = redact(&text).into_owned();
        assert_eq!(want, "before [redacted] middle sk-split-01 not a key, and [redacted]é");
        for i in 0..=text.len() {
            for j in i..=text.len() {
                if !(text.is_char_boundary(i) && text.is_char_boundary(j)) {
                    continue;
                }
                let mut r = StreamRedactor::default();
                let mut got = r.push(&text[..i]);
                got += &r.push(&text[i..j]);
                got += &r.push(&text[j..]);
                got += &r.flush();
                // At most HOLD_MIN - 1 bytes of a key's start ever show, and nothing else changes.
                assert!(!got.contains(&key[HOLD_MIN..]), "split at {i},{j}: {got}");
                assert_eq!(without_sent_prefixes(&got, key), want, "split at {i},{j}");
            }
        }
    }

    #[test]
    fn a_short_sent_start_does_not_let_the_next_piece_through() {
        let key = "sk-short-start-9f8e7d6c5b4a";
        register(key);
        let mut r = StreamRedactor::default();
        let mut got = r.push("key: sk-shor"); // 7 bytes of the key: sent
        got += &r.push("t-start-9f8e"); // continues it: held, not sent
        assert!(r.holding());
        got += &r.push("7d6c5b4a end");
        got += &r.flush();
        assert_eq!(got, "key: sk-shor[redacted] end");
    }

    #[test]
    fn multibyte_text_near_a_key_prefix_does_not_panic() {
        register("sk-mb-ééééééééé-0123");
        let mut r = StreamRedactor::default();
        let mut got = String::new();
        for piece in ["日本語", "sk-mb-éé", "éé", "ééééé-01", "23 🙂", "sk-mb-é"] {
            got += &r.push(piece);
        }
        got += &r.flush();
        assert_eq!(got, "日本語[redacted] 🙂sk-mb-é");
    }

    #[test]
    fn clean_streams_pass_through_unheld() {
        register("sk-clean-zzzzzzzzzzzz");
        let mut r = StreamRedactor::default();
        for piece in ["Hello", ", wörld — ", "sk-", "no"] {
            assert_eq!(r.push(piece), piece);
            assert!(!r.holding());
        }
        // A long key prefix is held, then released when it turns out not to be the key.
        assert_eq!(r.push(" sk-clean-zz"), " ");
        assert!(r.holding());
        assert_eq!(r.push("top"), "sk-clean-zztop");
        assert_eq!(r.push(" sk-clean-zzzz"), " ");
        assert_eq!(r.flush(), "sk-clean-zzzz");
    }
}
