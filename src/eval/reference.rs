//! Reference-based metrics, each reproducing a published implementation exactly (checked to
//! 1e-6 against values those implementations computed, `tests/fixtures/reference_metrics/`):
//!
//! - ROUGE-1, ROUGE-2, ROUGE-L F-measure as Google's `rouge-score` (0.1.2) computes them with
//!   its default tokenizer (lowercase, anything but `a-z0-9` a separator), without stemming or
//!   with its Porter stemmer ([`super::porter`]), and for several references the one with the
//!   highest F-measure (`score_multi`).
//! - Sentence BLEU as `sacrebleu.sentence_bleu` (2.x) with its defaults: 13a tokenization, n-grams
//!   up to 4, exponential smoothing, effective order, the closest reference length; corpus BLEU
//!   as `corpus_bleu` (the segments' counts summed, no effective order).
//! - chrF2 as `sacrebleu.sentence_chrf` / `corpus_chrf`: character n-grams up to 6 with the
//!   whitespace removed, beta 2, averaged over the orders both sides have; for several references
//!   the one with the best score.
//!
//! Scores are on 0–1 (sacrebleu's 0–100 divided by 100).

pub use crate::evaluator_spec::RougeVariant;
use std::collections::HashMap;
use std::sync::LazyLock;

/// Python's `str.isspace()`: Unicode White_Space plus the four ASCII separators U+001C–U+001F,
/// which `str.split()` also splits on.
fn py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

fn py_split(s: &str) -> impl Iterator<Item = &str> {
    s.split(py_space).filter(|t| !t.is_empty())
}

/// rouge-score's default tokenizer; with `stemmer`, words longer than three letters are
/// Porter-stemmed as its `use_stemmer=True` does.
pub fn rouge_tokens(text: &str, stemmer: bool) -> Vec<String> {
    let lower = text.to_lowercase();
    lower
        .split(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit()))
        .filter(|t| !t.is_empty())
        .map(|t| if stemmer && t.len() > 3 { super::porter::stem(t) } else { t.to_string() })
        .filter(|t| !t.is_empty())
        .collect()
}

fn fmeasure(precision: f64, recall: f64) -> f64 {
    if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 }
}

fn ngram_counts<T: std::hash::Hash + Eq + Clone>(tokens: &[T], n: usize) -> HashMap<&[T], usize> {
    let mut counts = HashMap::new();
    if n > 0 && tokens.len() >= n {
        for w in tokens.windows(n) {
            *counts.entry(w).or_insert(0) += 1;
        }
    }
    counts
}

fn rouge_n(target: &[String], prediction: &[String], n: usize) -> f64 {
    let (t, p) = (ngram_counts(target, n), ngram_counts(prediction, n));
    let overlap: usize = t.iter().map(|(g, c)| (*c).min(p.get(g).copied().unwrap_or(0))).sum();
    let (t_total, p_total): (usize, usize) = (t.values().sum(), p.values().sum());
    fmeasure(overlap as f64 / p_total.max(1) as f64, overlap as f64 / t_total.max(1) as f64)
}

fn lcs_len(a: &[String], b: &[String]) -> usize {
    // One row at a time: the table's last cell is all ROUGE-L needs.
    let mut prev = vec![0usize; b.len() + 1];
    let mut row = vec![0usize; b.len() + 1];
    for x in a {
        for (j, y) in b.iter().enumerate() {
            row[j + 1] = if x == y { prev[j] + 1 } else { prev[j + 1].max(row[j]) };
        }
        std::mem::swap(&mut prev, &mut row);
    }
    prev[b.len()]
}

fn rouge_l(target: &[String], prediction: &[String]) -> f64 {
    if target.is_empty() || prediction.is_empty() {
        return 0.0;
    }
    let lcs = lcs_len(target, prediction) as f64;
    fmeasure(lcs / prediction.len() as f64, lcs / target.len() as f64)
}

/// ROUGE F-measure of `hypothesis` against the best of `references` (0 without references).
pub fn rouge(variant: RougeVariant, hypothesis: &str, references: &[&str]) -> f64 {
    rouge_with(variant, hypothesis, references, false)
}

/// [`rouge`], with rouge-score's Porter stemmer when `stemmer` is set.
pub fn rouge_with(variant: RougeVariant, hypothesis: &str, references: &[&str], stemmer: bool) -> f64 {
    let hyp = rouge_tokens(hypothesis, stemmer);
    references
        .iter()
        .map(|r| {
            let target = rouge_tokens(r, stemmer);
            match variant {
                RougeVariant::Rouge1 => rouge_n(&target, &hyp, 1),
                RougeVariant::Rouge2 => rouge_n(&target, &hyp, 2),
                RougeVariant::RougeL => rouge_l(&target, &hyp),
            }
        })
        .fold(0.0, f64::max)
}

/// sacrebleu's 13a tokenizer (mteval-v13a), on a segment whose trailing whitespace is removed.
pub fn tokenize_13a(line: &str) -> String {
    static RULES: LazyLock<[(regex::Regex, &str); 4]> = LazyLock::new(|| {
        [
            (regex::Regex::new(r"([\{-\~\[-\` -\&\(-\+\:-\@\/])").unwrap(), " $1 "),
            (regex::Regex::new(r"([^0-9])([\.,])").unwrap(), "$1 $2 "),
            (regex::Regex::new(r"([\.,])([^0-9])").unwrap(), " $1 $2"),
            (regex::Regex::new(r"([0-9])(-)").unwrap(), "$1 $2 "),
        ]
    });
    let mut line = line.replace("<skipped>", "").replace("-\n", "").replace('\n', " ");
    if line.contains('&') {
        line = line.replace("&quot;", "\"").replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">");
    }
    let mut line = format!(" {line} ");
    for (re, with) in RULES.iter() {
        line = re.replace_all(&line, *with).into_owned();
    }
    py_split(&line).collect::<Vec<_>>().join(" ")
}

/// The tokens BLEU counts: `str.rstrip()`, then 13a.
fn bleu_tokens(s: &str) -> Vec<String> {
    let trimmed = s.trim_end_matches(py_space);
    py_split(&tokenize_13a(trimmed)).map(str::to_string).collect()
}

const BLEU_ORDER: usize = 4;

/// One segment's BLEU statistics: hypothesis and (closest) reference length, matched and total
/// n-grams per order.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BleuStats {
    pub hyp_len: usize,
    pub ref_len: usize,
    pub correct: [usize; BLEU_ORDER],
    pub total: [usize; BLEU_ORDER],
}

impl std::ops::AddAssign for BleuStats {
    fn add_assign(&mut self, o: BleuStats) {
        self.hyp_len += o.hyp_len;
        self.ref_len += o.ref_len;
        for n in 0..BLEU_ORDER {
            self.correct[n] += o.correct[n];
            self.total[n] += o.total[n];
        }
    }
}

impl BleuStats {
    /// As a flat list: lengths, then matched, then total n-grams.
    pub fn counts(&self) -> Vec<u64> {
        let mut v = vec![self.hyp_len as u64, self.ref_len as u64];
        v.extend(self.correct.iter().chain(&self.total).map(|&c| c as u64));
        v
    }

    /// From [`Self::counts`]' list (`None` when it is not one).
    pub fn from_counts(c: &[u64]) -> Option<BleuStats> {
        if c.len() != 2 + 2 * BLEU_ORDER {
            return None;
        }
        let mut s = BleuStats { hyp_len: c[0] as usize, ref_len: c[1] as usize, ..Default::default() };
        for n in 0..BLEU_ORDER {
            s.correct[n] = c[2 + n] as usize;
            s.total[n] = c[2 + BLEU_ORDER + n] as usize;
        }
        Some(s)
    }
}

/// The counts sacrebleu's BLEU takes from one hypothesis and its references.
pub fn bleu_stats(hypothesis: &str, references: &[&str]) -> BleuStats {
    let hyp = bleu_tokens(hypothesis);
    let refs: Vec<Vec<String>> = references.iter().map(|r| bleu_tokens(r)).collect();
    // Each n-gram's largest count in any reference.
    let mut max_ref: HashMap<&[String], usize> = HashMap::new();
    for r in &refs {
        for n in 1..=BLEU_ORDER {
            for (g, c) in ngram_counts(r, n) {
                let e = max_ref.entry(g).or_insert(0);
                *e = (*e).max(c);
            }
        }
    }
    let mut stats = BleuStats { hyp_len: hyp.len(), ..Default::default() };
    // The reference length closest to the hypothesis's; the shorter on a tie.
    let mut closest: Option<(usize, usize)> = None;
    for r in &refs {
        let diff = hyp.len().abs_diff(r.len());
        closest = match closest {
            Some((d, l)) if d < diff || (d == diff && l <= r.len()) => Some((d, l)),
            _ => Some((diff, r.len())),
        };
    }
    stats.ref_len = closest.map_or(0, |(_, l)| l);
    for n in 1..=BLEU_ORDER {
        for (g, c) in ngram_counts(&hyp, n) {
            stats.total[n - 1] += c;
            stats.correct[n - 1] += c.min(max_ref.get(g).copied().unwrap_or(0));
        }
    }
    stats
}

/// BLEU (0–1) from counts, exponential smoothing; `effective_order` as sacrebleu's sentence BLEU.
pub fn bleu_from_stats(s: &BleuStats, effective_order: bool) -> f64 {
    let bp = if s.hyp_len < s.ref_len {
        if s.hyp_len > 0 { (1.0 - s.ref_len as f64 / s.hyp_len as f64).exp() } else { 0.0 }
    } else {
        1.0
    };
    if s.correct.iter().all(|&c| c == 0) {
        return 0.0;
    }
    let mut precisions = [0.0f64; BLEU_ORDER];
    let mut smooth = 1.0f64;
    let mut eff_order = BLEU_ORDER;
    for (n, (&correct, &total)) in s.correct.iter().zip(&s.total).enumerate() {
        if total == 0 {
            break;
        }
        if effective_order {
            eff_order = n + 1;
        }
        precisions[n] = if correct == 0 {
            smooth *= 2.0;
            100.0 / (smooth * total as f64)
        } else {
            100.0 * correct as f64 / total as f64
        };
    }
    // sacrebleu's floored log: log(0) is -9999999999.
    let log = |p: f64| if p == 0.0 { -9_999_999_999.0 } else { p.ln() };
    let sum: f64 = precisions[..eff_order].iter().map(|&p| log(p)).sum();
    bp * (sum / eff_order as f64).exp() / 100.0
}

/// Sentence BLEU (0–1) of `hypothesis` against `references`, as `sacrebleu.sentence_bleu`.
pub fn sentence_bleu(hypothesis: &str, references: &[&str]) -> f64 {
    bleu_from_stats(&bleu_stats(hypothesis, references), true)
}

/// Corpus BLEU (0–1) over `(hypothesis, references)` segments, as `sacrebleu.corpus_bleu`.
pub fn corpus_bleu<'a>(segments: impl IntoIterator<Item = (&'a str, Vec<&'a str>)>) -> f64 {
    let mut total = BleuStats::default();
    for (h, refs) in segments {
        total += bleu_stats(h, &refs);
    }
    bleu_from_stats(&total, false)
}

const CHRF_ORDER: usize = 6;
const CHRF_BETA: f64 = 2.0;

/// One segment's chrF statistics: per character order, hypothesis n-grams, reference n-grams
/// and matches.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ChrfStats(pub [[usize; 3]; CHRF_ORDER]);

impl std::ops::AddAssign for ChrfStats {
    fn add_assign(&mut self, o: ChrfStats) {
        for n in 0..CHRF_ORDER {
            for k in 0..3 {
                self.0[n][k] += o.0[n][k];
            }
        }
    }
}

impl ChrfStats {
    /// As a flat list: per order, hypothesis, reference and matched n-grams.
    pub fn counts(&self) -> Vec<u64> {
        self.0.iter().flatten().map(|&c| c as u64).collect()
    }

    /// From [`Self::counts`]' list (`None` when it is not one).
    pub fn from_counts(c: &[u64]) -> Option<ChrfStats> {
        if c.len() != 3 * CHRF_ORDER {
            return None;
        }
        let mut s = ChrfStats::default();
        for (i, v) in c.iter().enumerate() {
            s.0[i / 3][i % 3] = *v as usize;
        }
        Some(s)
    }
}

/// The characters chrF counts: the segment with every (Python) whitespace character removed.
fn chrf_chars(s: &str) -> Vec<char> {
    s.chars().filter(|c| !py_space(*c)).collect()
}

/// The counts sacrebleu's chrF takes from one hypothesis and the best of its references (the
/// one with the highest score; the first on a tie).
pub fn chrf_stats(hypothesis: &str, references: &[&str]) -> ChrfStats {
    let hyp = chrf_chars(hypothesis);
    let hyp_grams: Vec<_> = (1..=CHRF_ORDER).map(|n| ngram_counts(&hyp, n)).collect();
    let mut best: Option<(f64, ChrfStats)> = None;
    for r in references {
        let chars = chrf_chars(r);
        let mut stats = ChrfStats::default();
        for (n, hyp_grams) in hyp_grams.iter().enumerate() {
            let ref_grams = ngram_counts(&chars, n + 1);
            let hyp_count: usize = hyp_grams.values().sum();
            let matched: usize = hyp_grams.iter().map(|(g, c)| (*c).min(ref_grams.get(g).copied().unwrap_or(0))).sum();
            // sacrebleu counts no hypothesis n-grams against a reference that has none.
            let hyp_n = if ref_grams.is_empty() { 0 } else { hyp_count };
            stats.0[n] = [hyp_n, ref_grams.values().sum(), matched];
        }
        let f = chrf_from_stats(&stats);
        if best.as_ref().is_none_or(|(bf, _)| f > *bf) {
            best = Some((f, stats));
        }
    }
    best.map(|(_, s)| s).unwrap_or_default()
}

/// Sentence chrF2 (0–1), as `sacrebleu.sentence_chrf`.
pub fn sentence_chrf(hypothesis: &str, references: &[&str]) -> f64 {
    chrf_from_stats(&chrf_stats(hypothesis, references))
}

/// Corpus chrF2 (0–1) over `(hypothesis, references)` segments, as `sacrebleu.corpus_chrf`.
pub fn corpus_chrf<'a>(segments: impl IntoIterator<Item = (&'a str, Vec<&'a str>)>) -> f64 {
    let mut total = ChrfStats::default();
    for (h, refs) in segments {
        total += chrf_stats(h, &refs);
    }
    chrf_from_stats(&total)
}

/// chrF (0–1) from counts, as sacrebleu without epsilon smoothing.
pub fn chrf_from_stats(s: &ChrfStats) -> f64 {
    const EPS: f64 = 1e-16;
    let factor = CHRF_BETA * CHRF_BETA;
    let (mut avg_prec, mut avg_rec, mut effective) = (0.0, 0.0, 0usize);
    for &[n_hyp, n_ref, n_match] in &s.0 {
        let prec = if n_hyp > 0 { n_match as f64 / n_hyp as f64 } else { EPS };
        let rec = if n_ref > 0 { n_match as f64 / n_ref as f64 } else { EPS };
        if n_hyp > 0 && n_ref > 0 {
            avg_prec += prec;
            avg_rec += rec;
            effective += 1;
        }
    }
    if effective == 0 {
        return 0.0;
    }
    avg_prec /= effective as f64;
    avg_rec /= effective as f64;
    if avg_prec + avg_rec == 0.0 {
        return 0.0;
    }
    (1.0 + factor) * avg_prec * avg_rec / (factor * avg_prec + avg_rec)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every pair of the shipped corpus scores as sacrebleu 2.6.0 and rouge-score 0.1.2 scored it
    /// (`tests/fixtures/reference_metrics/generate.py` wrote their values).
    #[test]
    fn scores_agree_with_the_reference_implementations() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/reference_metrics/cases.jsonl");
        let text = std::fs::read_to_string(path).unwrap();
        let close = |ours: f64, theirs: &serde_json::Value, what: &str| {
            let theirs = theirs.as_f64().unwrap();
            assert!((ours - theirs).abs() < 1e-6, "{what}: ours {ours}, reference {theirs}");
        };
        let mut pairs = 0;
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            if let Some(corpus) = v["corpus"].as_array() {
                let segments = || {
                    corpus.iter().map(|s| {
                        (
                            s["hyp"].as_str().unwrap(),
                            s["refs"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect(),
                        )
                    })
                };
                close(corpus_bleu(segments()), &v["corpus_bleu"], "corpus BLEU");
                close(corpus_chrf(segments()), &v["corpus_chrf"], "corpus chrF");
                continue;
            }
            let hyp = v["hyp"].as_str().unwrap();
            let refs: Vec<&str> = v["refs"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
            let what = |m: &str| format!("{m} of {hyp:?} against {refs:?}");
            close(sentence_bleu(hyp, &refs), &v["bleu"], &what("BLEU"));
            close(sentence_chrf(hyp, &refs), &v["chrf"], &what("chrF"));
            for variant in [RougeVariant::Rouge1, RougeVariant::Rouge2, RougeVariant::RougeL] {
                close(rouge(variant, hyp, &refs), &v["rouge"][variant.as_str()], &what(variant.as_str()));
                let stemmed = rouge_with(variant, hyp, &refs, true);
                close(stemmed, &v["rouge_stemmed"][variant.as_str()], &what(&format!("stemmed {}", variant.as_str())));
            }
            pairs += 1;
        }
        assert!(pairs >= 40, "the corpus is all there: {pairs}");
    }

    #[test]
    fn tokenizers_split_as_the_references_do() {
        assert_eq!(tokenize_13a("Pi is 3.14, and 1,000 is a thousand."), "Pi is 3.14 , and 1,000 is a thousand .");
        assert_eq!(tokenize_13a("Tom &amp; Jerry (2019-2020)"), "Tom & Jerry ( 2019 - 2020 )");
        assert_eq!(rouge_tokens("State-of-the-Art, 95%!", false), ["state", "of", "the", "art", "95"]);
        assert_eq!(rouge_tokens("Running runners ran", true), ["run", "runner", "ran"]);
        assert_eq!(py_split("a\u{1c}b c").collect::<Vec<_>>(), ["a", "b", "c"]);
    }
}
