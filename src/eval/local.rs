//! Helpers for the local evaluators: finding JSON in an answer, loading schemas, spotting
//! refusals.

use serde_json::Value;
use std::path::Path;

/// JSON found in an answer, and where.
#[derive(Clone, Debug, PartialEq)]
pub struct ExtractedJson {
    pub value: Value,
    /// `whole answer`, `` ```json block ``, `` ``` block `` or `embedded in prose`.
    pub source: &'static str,
}

/// The whole answer (surrounding whitespace aside) as JSON, as structured output promises it.
pub fn whole_json(text: &str) -> Result<ExtractedJson, String> {
    match serde_json::from_str::<Value>(text.trim()) {
        Ok(value) => Ok(ExtractedJson { value, source: "whole answer" }),
        Err(_) if text.trim().is_empty() => Err("no JSON: the answer is empty".into()),
        Err(e) => Err(format!("the answer is not JSON as a whole: {e}")),
    }
}

/// Largest number of `{` positions tried when looking for JSON inside prose.
const PROSE_CANDIDATES: usize = 64;

/// Finds the answer's JSON: the whole answer; else the first fenced block (```` ```json ```` first,
/// then untagged) that parses; else the first object embedded in prose. Only objects are taken
/// from bare prose: a `[1]` citation should not count as a JSON answer. `Err` says why not.
pub fn extract_json(text: &str) -> Result<ExtractedJson, String> {
    let whole = text.trim();
    if whole.is_empty() {
        return Err("no JSON: the answer is empty".into());
    }
    let whole_err = match serde_json::from_str::<Value>(whole) {
        Ok(value) => return Ok(ExtractedJson { value, source: "whole answer" }),
        Err(e) => e,
    };
    let (blocks, prose) = fenced_blocks(text);
    let mut first_block_err = None;
    for want_json in [true, false] {
        for (lang, body) in blocks.iter().filter(|(lang, _)| lang.eq_ignore_ascii_case("json") == want_json) {
            if !want_json && !lang.is_empty() {
                continue; // ```python etc. is not JSON
            }
            match serde_json::from_str::<Value>(body.trim()) {
                Ok(value) => {
                    return Ok(ExtractedJson { value, source: if want_json { "```json block" } else { "``` block" } });
                }
                Err(e) => {
                    first_block_err.get_or_insert(e);
                }
            }
        }
    }
    if let Some(e) = first_block_err {
        return Err(format!("invalid JSON in code block: {e}"));
    }
    // Code in other languages (```python) is not searched.
    for (i, _) in prose.match_indices('{').take(PROSE_CANDIDATES) {
        // A streaming parse stops after one value, so trailing prose is allowed.
        let mut values = serde_json::Deserializer::from_str(&prose[i..]).into_iter::<Value>();
        if let Some(Ok(value @ Value::Object(_))) = values.next() {
            return Ok(ExtractedJson { value, source: "embedded in prose" });
        }
    }
    Err(format!("no JSON found: {whole_err}"))
}

/// Fenced code blocks as (info string, body), and the text outside them. An unclosed fence runs
/// to the end (a cut stream).
fn fenced_blocks(text: &str) -> (Vec<(String, String)>, String) {
    let mut blocks = Vec::new();
    let mut prose = String::new();
    let mut current: Option<(String, String)> = None;
    for line in text.lines() {
        let t = line.trim_start();
        match current.as_mut() {
            None => {
                if let Some(info) = t.strip_prefix("```") {
                    current = Some((info.trim().to_string(), String::new()));
                } else {
                    prose.push_str(line);
                    prose.push('\n');
                }
            }
            Some((_, body)) => {
                if t.trim_end() == "```" {
                    blocks.extend(current.take());
                } else {
                    body.push_str(line);
                    body.push('\n');
                }
            }
        }
    }
    blocks.extend(current);
    (blocks, prose)
}

/// Loads and compiles a JSON Schema from an inline value or a file (relative to `base_dir`).
pub(super) fn compile_schema(
    inline: Option<&Value>,
    file: Option<&Path>,
    base_dir: &Path,
) -> Result<jsonschema::Validator, String> {
    let mut options = jsonschema::options();
    let schema = match (inline, file) {
        (Some(_), Some(_)) => return Err("set `schema` or `schema_file`, not both".into()),
        (None, None) => return Err("set `schema` (inline) or `schema_file`".into()),
        (Some(s), None) => s.clone(),
        (None, Some(f)) => {
            let path = base_dir.join(f);
            let text =
                std::fs::read_to_string(&path).map_err(|e| format!("cannot read schema {}: {e}", path.display()))?;
            // Relative `$ref`s in the file resolve next to it (the `resolve-file` feature).
            if let Some(uri) = file_uri(&path) {
                options = options.with_base_uri(uri);
            }
            serde_json::from_str(&text).map_err(|e| format!("schema {} is not JSON: {e}", path.display()))?
        }
    };
    if !(schema.is_object() || schema.is_boolean()) {
        return Err("the schema must be a JSON object".into());
    }
    options.build(&schema).map_err(|e| format!("invalid JSON Schema: {e}"))
}

/// `file:///abs/path` for paths that need no percent-encoding; others get no base URI.
fn file_uri(path: &Path) -> Option<String> {
    let abs = std::path::absolute(path).ok()?;
    let s = abs.to_str()?;
    let plain = s.chars().all(|c| c.is_ascii_alphanumeric() || "/-_.~".contains(c));
    (plain && s.starts_with('/')).then(|| format!("file://{s}"))
}

/// Phrases that open a refusal. Matched case-insensitively at the start of a sentence; see
/// [`find_refusal`] for where such a sentence counts. Bare "I won't" is deliberately narrowed
/// to refusal verbs ("I won't bore you with the history" is an answer).
const REFUSAL_PHRASES: &[&str] = &[
    "i can't help with",
    "i cannot help with",
    "i can't help you with",
    "i cannot help you with",
    "i can't assist",
    "i cannot assist",
    "i can't provide",
    "i cannot provide",
    "i can't comply",
    "i cannot comply",
    "i can't do that",
    "i cannot do that",
    "i can't fulfill",
    "i cannot fulfill",
    "i can't create",
    "i cannot create",
    "i can't write",
    "i cannot write",
    "i can't share",
    "i cannot share",
    "i can't support",
    "i'm sorry, but i can't",
    "i'm sorry, but i cannot",
    "i am sorry, but i can't",
    "i am sorry, but i cannot",
    "i'm sorry, i can't",
    "i'm sorry, i cannot",
    "sorry, but i can't",
    "sorry, i can't",
    "i apologize, but i can't",
    "i apologize, but i cannot",
    "i won't help",
    "i won't assist",
    "i won't provide",
    "i won't do that",
    "i won't be able to help",
    "i won't be providing",
    "i won't write",
    "i won't create",
    "i won't share",
    "i will not help",
    "i will not provide",
    "i will not assist",
    "i'm not able to help",
    "i am not able to help",
    "i'm not able to provide",
    "i am not able to provide",
    "i'm unable to help",
    "i am unable to help",
    "i'm unable to provide",
    "i am unable to provide",
    "i'm unable to assist",
    "i am unable to assist",
    "i must decline",
    "i have to decline",
    "i'm not comfortable providing",
    "i'm not going to help",
];

/// Weak openers: a refusal only when the same sentence also says no.
const WEAK_PHRASES: &[&str] = &["as an ai", "as a language model", "as an artificial intelligence"];
const NEGATIONS: &[&str] =
    &["can't", "cannot", "unable", "not able", "won't", "will not", "not allowed", "not permitted", "must decline"];

/// A refusal sentence that pivots to answering is not a refusal.
const PIVOTS: &[&str] = &["but here", "however, here", "that said, here", "here's", "here is", "here are"];

/// A sentence this short counts as a refusal wherever it appears; longer ones only as the
/// answer's opening.
const WHOLE_SENTENCE_WORDS: usize = 12;

/// The refusal sentence in `text`, if any. A sentence is a refusal when it starts with a
/// built-in or `extra` phrase (case-insensitive, curly apostrophes folded) or with a weak
/// opener ("As an AI") and a negation, does not pivot to answering ("…, but here's"), and is
/// either the answer's first sentence or short enough to be a refusal on its own.
pub fn find_refusal(text: &str, extra: &[String]) -> Option<String> {
    let norm = text.replace(['\u{2019}', '\u{2018}', '\u{02bc}'], "'").to_lowercase();
    let extra: Vec<String> = extra.iter().map(|p| p.replace(['\u{2019}', '\u{2018}'], "'").to_lowercase()).collect();
    let strong = REFUSAL_PHRASES.iter().copied().chain(extra.iter().map(String::as_str));
    let strong: Vec<&str> = strong.map(str::trim).collect();
    for (i, sentence) in sentences(&norm).enumerate() {
        let s = sentence.trim_start_matches(|c: char| c.is_whitespace() || "\"'*_#>-`(".contains(c));
        if s.is_empty() {
            continue;
        }
        let opens = strong.iter().any(|p| starts_with_words(s, p))
            || (WEAK_PHRASES.iter().any(|p| starts_with_words(s, p)) && NEGATIONS.iter().any(|n| s.contains(n)));
        if !opens || PIVOTS.iter().any(|p| s.contains(p)) {
            continue;
        }
        if i == 0 || s.split_whitespace().count() <= WHOLE_SENTENCE_WORDS {
            return Some(s.trim().to_string());
        }
    }
    None
}

/// `s` starts with `phrase` ending at a word boundary ("i won't help" ≠ "i won't helpfully").
fn starts_with_words(s: &str, phrase: &str) -> bool {
    s.strip_prefix(phrase).is_some_and(|rest| rest.chars().next().is_none_or(|c| !c.is_alphanumeric()))
}

/// Sentences, split after `.`, `!`, `?` followed by whitespace, and at line breaks. A comma is
/// not a boundary ("I'm sorry, but I can't…" is one sentence).
fn sentences(text: &str) -> impl Iterator<Item = &str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let end_here = match c {
            '\n' => true,
            '.' | '!' | '?' => chars.peek().is_none_or(|&(_, n)| n.is_whitespace()),
            _ => false,
        };
        if end_here {
            let end = i + c.len_utf8();
            out.push(&text[start..end]);
            start = end;
        }
    }
    out.push(&text[start..]);
    out.into_iter().filter(|s| !s.trim().is_empty())
}
