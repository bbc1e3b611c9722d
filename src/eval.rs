//! Automated evaluators: checks run on a model's answer, each producing an [`EvalResult`].
//!
//! An [`EvaluatorSpec`] is what a config or case file says (`kind = "contains"`, …). It is
//! compiled once with [`EvaluatorSpec::compile`], which validates regexes, schemas and bounds up
//! front; [`compile_all`] instead turns a bad spec into an evaluator that reports the problem as
//! an `error` on every result, so a broken check can never pass silently.
//!
//! Local kinds (`contains`, `equals`, `regex`, `json_valid`, `json_schema`, `length`, `refusal`)
//! run synchronously with [`evaluate`]. `judge` asks another configured model to grade the answer
//! ([`judge`]) or, with `pairwise = true`, to compare two answers ([`judge_pair`]).
//!
//! ```toml
//! [[evaluators]]
//! kind = "contains"
//! values = ["Paris", "France"]   # or value = "Paris"; any = true for one-of
//! case_insensitive = true
//!
//! [[evaluators]]
//! kind = "json_schema"
//! name = "schema:city"
//! schema_file = "schemas/city.json"   # or schema = { type = "object", required = ["city"] }
//!
//! [[evaluators]]
//! kind = "judge"
//! model = "sonnet"                  # a configured [[models]] name
//! rubric = "Correct, concise, cites the source."
//! threshold = 4                     # pass at score >= 4 on the 1–5 scale
//! ```
//!
//! Failed requests: local evaluators still run on whatever text arrived, so a partial answer's
//! checks are visible; judges are not called for them (it would cost money to grade a fragment)
//! and report an error instead — see [`evaluate_response`]. A failed request is unacceptable
//! regardless (`session::acceptable`).

mod judge;
mod local;
mod porter;
pub mod reference;

pub use judge::{
    JudgeVerdict, PairVerdict, combine_orders, judge, judge_pair, judge_prompt, pair_prompt, parse_judge_reply,
    parse_pair_reply, pick_nonce,
};
pub use local::{ExtractedJson, extract_json, find_refusal};

use crate::engine::ModelClient;
pub use crate::evaluator_spec::{
    Aggregate, DEFAULT_JUDGE_THRESHOLD, EvaluatorKind, EvaluatorSpec, Expect, OneOrMany, RougeVariant,
};
use crate::metrics::RequestResult;
use crate::provider::tools::Tools;
use crate::provider::{Message, ToolCall};
use regex::Regex;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// One evaluator's verdict on one response.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalResult {
    /// The evaluator's name as configured (e.g. `contains`, `schema:invoice`, `judge:sonnet`).
    pub name: String,
    pub kind: EvaluatorKind,
    /// Normalised quality in 0..=1 (pass = 1, fail = 0, judge score s ⇒ (s − 1) / 4). `None` on error.
    pub score: Option<f64>,
    /// The evaluator's own scale, e.g. the judge's 1–5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_score: Option<f64>,
    /// Met its pass threshold. `None` when the evaluator itself failed.
    pub passed: Option<bool>,
    /// Why the evaluator could not decide (invalid regex, unparsable judge reply…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// One line for people: what matched, what was missing, the judge's reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// A corpus-level metric's counts for this answer (BLEU: hypothesis and reference length,
    /// then matched and total n-grams per order; chrF: per order hypothesis, reference and
    /// matched character n-grams), which reports sum into corpus BLEU and chrF per model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counts: Option<Vec<u64>>,
    /// What the evaluator's own model call used (a judge's request): apart from the answering
    /// model's cost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spend: Option<Spend>,
    /// A judge evaluator's judges, each with its own verdict: the one judge, or every member of
    /// a panel (whose aggregate is this result's score).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub votes: Vec<JudgeVote>,
}

/// One judge's verdict on one answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JudgeVote {
    /// The judge model's configured name.
    pub judge: String,
    /// Who made the judge model ([`crate::config::family`]).
    pub family: String,
    /// 1–5; `None` when this judge failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passed: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Tokens and dollars an evaluator's own model calls used.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Spend {
    pub requests: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// `None` when the judge's price is unknown (never counted as 0).
    pub cost_usd: Option<f64>,
    /// Some tokens are estimates (the provider reported no usage).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tokens_estimated: bool,
}

impl Spend {
    /// Nothing spent yet, at a known cost of $0 (what sums start from).
    pub fn none() -> Spend {
        Spend { cost_usd: Some(0.0), ..Spend::default() }
    }

    /// Adds `o`; one unknown cost makes the sum's cost unknown.
    pub fn add(&mut self, o: &Spend) {
        self.requests += o.requests;
        self.input_tokens += o.input_tokens;
        self.output_tokens += o.output_tokens;
        self.tokens_estimated |= o.tokens_estimated;
        self.cost_usd = self.cost_usd.zip(o.cost_usd).map(|(a, b)| a + b);
    }
}

impl EvalResult {
    /// A metric without a pass mark (ROUGE, BLEU or chrF without `min`): a score, no verdict.
    pub fn is_score_only(&self) -> bool {
        self.passed.is_none() && self.error.is_none() && self.score.is_some()
    }
}

/// One pairwise comparison between two models' answers in a round.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pairwise {
    pub a: String,
    pub b: String,
    /// `Some(model)` for a win, `None` for a tie.
    pub winner: Option<String>,
    /// `manual` or the judge's name.
    pub by: String,
    /// For judges run in both orders: the two orders disagreed (position bias), scored a tie.
    #[serde(default)]
    pub disagreement: bool,
    /// A judge's verdict in each order, in the positions it saw them: first with `a` shown as
    /// answer A, then with `b` shown as A (for its position-bias statistics).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orders: Option<[PairVerdict; 2]>,
    /// What the judge's two requests used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spend: Option<Spend>,
    /// The judge could not decide this pair (a request failed, a reply did not read): no
    /// verdict, never a tie — kept for what its requests cost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// How a panel's member is named wherever it stands as a rater of its own (pairwise records,
/// agreement and judges-vs-people tables): `panel/member`.
pub fn member_name(panel: &str, judge: &str) -> String {
    format!("{panel}/{judge}")
}

impl Pairwise {
    /// A decided comparison (not a judge's failure).
    pub fn is_decided(&self) -> bool {
        self.error.is_none()
    }
}

/// A compiled evaluator: validated once, cheap to run many times.
#[derive(Clone, Debug)]
pub struct Evaluator {
    name: String,
    kind: EvaluatorKind,
    check: Check,
}

#[derive(Clone, Debug)]
enum Check {
    Contains {
        values: Vec<String>,
        any: bool,
        case_insensitive: bool,
    },
    Equals {
        value: String,
        case_insensitive: bool,
        trim: bool,
    },
    Regex(Regex),
    JsonValid,
    /// The validator, and whether the whole answer must be the JSON.
    JsonSchema(Arc<jsonschema::Validator>, bool),
    Length {
        min_chars: Option<u64>,
        max_chars: Option<u64>,
        min_tokens: Option<u64>,
        max_tokens: Option<u64>,
    },
    Refusal {
        expect: Expect,
        extra: Vec<String>,
    },
    ToolCall {
        /// Empty: any tool.
        tools: Vec<String>,
        args: Option<serde_json::Map<String, serde_json::Value>>,
    },
    NoToolCall,
    /// One judge, or a panel (two or more models) whose scores `aggregate` combines.
    Judge {
        models: Vec<String>,
        aggregate: Aggregate,
        rubric: String,
        threshold: f64,
        pairwise: bool,
    },
    /// A reference metric (ROUGE, BLEU, chrF) against `references`; passes at `min` when set.
    Reference {
        metric: RefMetric,
        min: Option<f64>,
        references: Vec<String>,
    },
    /// Embedding cosine against `references` (by [`Graders::embedder`]); passes at `min`.
    Similarity {
        min: Option<f64>,
        references: Vec<String>,
    },
    /// A bound on the response's own figures (time to first token, latency, cost).
    Limit(Limit, f64),
    /// A spec that failed to compile: every evaluation reports this error.
    Invalid(String),
}

/// Which figure a limit bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Limit {
    TtftMs,
    LatencyMs,
    CostUsd,
}

/// Which reference metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RefMetric {
    /// The variant, and whether words are stemmed.
    Rouge(crate::evaluator_spec::RougeVariant, bool),
    Bleu,
    Chrf,
}

impl EvaluatorSpec {
    /// Validates the spec and prepares it to run. `base_dir` is where relative `schema_file`
    /// paths are resolved (the config or case file's directory).
    pub fn compile(&self, base_dir: &Path) -> Result<Evaluator, String> {
        let check = self.check(base_dir).map_err(|e| format!("evaluator {:?}: {e}", self.name()))?;
        Ok(Evaluator { name: self.name(), kind: self.kind(), check })
    }

    /// Like [`compile`](Self::compile), but a bad spec becomes an evaluator whose every result
    /// carries the error (never a pass).
    pub fn compile_or_invalid(&self, base_dir: &Path) -> Evaluator {
        self.compile(base_dir).unwrap_or_else(|e| Evaluator {
            name: self.name(),
            kind: self.kind(),
            check: Check::Invalid(e),
        })
    }

    fn check(&self, base_dir: &Path) -> Result<Check, String> {
        Ok(match self {
            EvaluatorSpec::Contains { value, values, any, case_insensitive, .. } => {
                let all: Vec<String> = value.iter().chain(values).cloned().collect();
                if all.is_empty() {
                    return Err("set `value` or `values`".into());
                }
                if all.iter().any(|v| v.is_empty()) {
                    return Err("a value is empty (it would match anything)".into());
                }
                Check::Contains { values: all, any: *any, case_insensitive: *case_insensitive }
            }
            EvaluatorSpec::Equals { value, case_insensitive, trim, .. } => {
                if value.trim().is_empty() {
                    return Err("`value` is empty".into());
                }
                Check::Equals { value: value.clone(), case_insensitive: *case_insensitive, trim: *trim }
            }
            EvaluatorSpec::Regex { pattern, .. } => {
                if pattern.is_empty() {
                    return Err("`pattern` is empty (it would match anything)".into());
                }
                // The regex crate runs in linear time, so a hostile pattern cannot hang a round.
                Check::Regex(Regex::new(pattern).map_err(|e| format!("invalid regex: {e}"))?)
            }
            EvaluatorSpec::JsonValid { .. } => Check::JsonValid,
            EvaluatorSpec::JsonSchema { schema, schema_file, whole_answer, .. } => Check::JsonSchema(
                Arc::new(local::compile_schema(schema.as_ref(), schema_file.as_deref(), base_dir)?),
                *whole_answer,
            ),
            EvaluatorSpec::Length { min_chars, max_chars, min_tokens, max_tokens, .. } => {
                if [min_chars, max_chars, min_tokens, max_tokens].iter().all(|b| b.is_none()) {
                    return Err("set at least one of min_chars, max_chars, min_tokens, max_tokens".into());
                }
                for (lo, hi, what) in [(min_chars, max_chars, "chars"), (min_tokens, max_tokens, "tokens")] {
                    if let (Some(lo), Some(hi)) = (lo, hi)
                        && lo > hi
                    {
                        return Err(format!("min_{what} ({lo}) is above max_{what} ({hi})"));
                    }
                }
                Check::Length {
                    min_chars: *min_chars,
                    max_chars: *max_chars,
                    min_tokens: *min_tokens,
                    max_tokens: *max_tokens,
                }
            }
            EvaluatorSpec::Refusal { expect, phrases, .. } => {
                if phrases.iter().any(|p| p.trim().is_empty()) {
                    return Err("a refusal phrase is empty".into());
                }
                Check::Refusal { expect: *expect, extra: phrases.clone() }
            }
            EvaluatorSpec::ToolCall { tool, args, .. } => {
                let tools = tool.as_ref().map(OneOrMany::names).unwrap_or_default();
                if tools.iter().any(|t| t.trim().is_empty()) {
                    return Err("a tool name is empty".into());
                }
                let args = match args {
                    None => None,
                    Some(serde_json::Value::Object(o)) => Some(o.clone()),
                    Some(_) => return Err("`args` must be an object (the arguments that must match)".into()),
                };
                Check::ToolCall { tools, args }
            }
            EvaluatorSpec::NoToolCall { .. } => Check::NoToolCall,
            EvaluatorSpec::Judge { model, judges, aggregate, rubric, threshold, pairwise, .. } => {
                let models: Vec<String> = match (model.trim().is_empty(), judges.is_empty()) {
                    (false, true) => vec![model.clone()],
                    (true, false) => {
                        if judges.len() < 2 {
                            return Err("a panel needs two or more `judges` (one judge: `model`)".into());
                        }
                        if judges.iter().any(|j| j.trim().is_empty()) {
                            return Err("a name in `judges` is empty".into());
                        }
                        if let Some(j) = judges.iter().enumerate().find(|(i, j)| judges[..*i].contains(j)) {
                            return Err(format!("judge {:?} is listed twice in `judges`", j.1));
                        }
                        judges.clone()
                    }
                    (false, false) => return Err("set `model` (one judge) or `judges` (a panel), not both".into()),
                    (true, true) => return Err("set `model` (one judge) or `judges` (a panel)".into()),
                };
                if aggregate.is_some() && models.len() == 1 {
                    return Err("`aggregate` combines a panel's scores: name the panel in `judges`".into());
                }
                if rubric.trim().is_empty() {
                    return Err("`rubric` is empty".into());
                }
                let threshold = threshold.unwrap_or(DEFAULT_JUDGE_THRESHOLD);
                if !(1.0..=5.0).contains(&threshold) {
                    return Err(format!("threshold {threshold} is outside the judge's 1–5 scale"));
                }
                Check::Judge {
                    models,
                    aggregate: aggregate.unwrap_or_default(),
                    rubric: rubric.clone(),
                    threshold,
                    pairwise: *pairwise,
                }
            }
            EvaluatorSpec::Rouge { variant, stem, min, references, .. } => {
                reference_check(RefMetric::Rouge(*variant, *stem), *min, references)?
            }
            EvaluatorSpec::Bleu { min, references, .. } => reference_check(RefMetric::Bleu, *min, references)?,
            EvaluatorSpec::Chrf { min, references, .. } => reference_check(RefMetric::Chrf, *min, references)?,
            EvaluatorSpec::Similarity { min, references, .. } => {
                if let Some(m) = min
                    && !(-1.0..=1.0).contains(m)
                {
                    return Err(format!("min {m} is outside cosine similarity's −1 to 1"));
                }
                Check::Similarity { min: *min, references: references.clone() }
            }
            EvaluatorSpec::Ttft { max_ms, .. } => limit_check(Limit::TtftMs, *max_ms)?,
            EvaluatorSpec::Latency { max_ms, .. } => limit_check(Limit::LatencyMs, *max_ms)?,
            EvaluatorSpec::Cost { max_usd, .. } => limit_check(Limit::CostUsd, *max_usd)?,
        })
    }
}

fn limit_check(limit: Limit, max: f64) -> Result<Check, String> {
    if !max.is_finite() || max < 0.0 {
        let field = if limit == Limit::CostUsd { "max_usd" } else { "max_ms" };
        return Err(format!("{field} must be a number of at least 0, not {max}"));
    }
    Ok(Check::Limit(limit, max))
}

fn reference_check(metric: RefMetric, min: Option<f64>, references: &[String]) -> Result<Check, String> {
    if let Some(m) = min
        && !(0.0..=1.0).contains(&m)
    {
        return Err(format!("min {m} is outside the metric's 0–1 scale"));
    }
    Ok(Check::Reference { metric, min, references: references.to_vec() })
}

/// Compiles every spec; bad ones become evaluators that report their error (see
/// [`EvaluatorSpec::compile_or_invalid`]).
pub fn compile_all(specs: &[EvaluatorSpec], base_dir: &Path) -> Vec<Evaluator> {
    specs.iter().map(|s| s.compile_or_invalid(base_dir)).collect()
}

impl Evaluator {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn kind(&self) -> EvaluatorKind {
        self.kind
    }

    /// Needs a model call ([`judge`] / [`judge_pair`]) rather than [`evaluate`].
    pub fn is_judge(&self) -> bool {
        matches!(self.check, Check::Judge { .. })
    }

    /// A judge that compares answers pairwise (run with [`pairwise_all`], not per answer).
    pub fn is_pairwise(&self) -> bool {
        matches!(self.check, Check::Judge { pairwise: true, .. })
    }

    /// The judge models, for judges (one, or a panel's).
    pub fn judge_models(&self) -> &[String] {
        match &self.check {
            Check::Judge { models, .. } => models,
            _ => &[],
        }
    }

    /// The compile error, for an evaluator made from a bad spec.
    pub fn compile_error(&self) -> Option<&str> {
        match &self.check {
            Check::Invalid(e) => Some(e),
            _ => None,
        }
    }

    /// A result saying this evaluator could not decide.
    pub fn error_result(&self, error: impl Into<String>) -> EvalResult {
        EvalResult {
            name: self.name.clone(),
            kind: self.kind,
            score: None,
            raw_score: None,
            passed: None,
            error: Some(error.into()),
            detail: None,
            counts: None,
            spend: None,
            votes: Vec::new(),
        }
    }

    /// A metric's score in 0–1, passed at `min` when there is one (without, a score only:
    /// `passed` stays `None` with no error, and acceptance leaves it out).
    fn scored(&self, score: f64, min: Option<f64>, detail: String, counts: Option<Vec<u64>>) -> EvalResult {
        EvalResult {
            name: self.name.clone(),
            kind: self.kind,
            score: Some(score),
            raw_score: None,
            passed: min.map(|m| score >= m),
            error: None,
            detail: Some(detail),
            counts,
            spend: None,
            votes: Vec::new(),
        }
    }

    fn verdict(&self, passed: bool, detail: String) -> EvalResult {
        EvalResult {
            name: self.name.clone(),
            kind: self.kind,
            score: Some(if passed { 1.0 } else { 0.0 }),
            raw_score: None,
            passed: Some(passed),
            error: None,
            detail: Some(detail),
            counts: None,
            spend: None,
            votes: Vec::new(),
        }
    }
}

/// Runs a local evaluator on `output`. Judges are not local: for them this returns an error
/// result pointing at [`judge`] (never a pass).
pub fn evaluate(ev: &Evaluator, output: &str) -> EvalResult {
    match &ev.check {
        Check::Invalid(e) => ev.error_result(e.clone()),
        Check::Judge { .. } => ev.error_result("a judge needs a model call; run it with eval::judge"),
        Check::Reference { metric, min, references } => {
            if references.is_empty() {
                return ev.error_result(
                    "no reference answer for this case: give it `reference`, `references` or `expected` \
                     (or the evaluator `references`)",
                );
            }
            let refs: Vec<&str> = references.iter().map(String::as_str).collect();
            let (score, counts) = match metric {
                RefMetric::Rouge(v, stem) => (reference::rouge_with(*v, output, &refs, *stem), None),
                RefMetric::Bleu => {
                    let stats = reference::bleu_stats(output, &refs);
                    (reference::bleu_from_stats(&stats, true), Some(stats.counts()))
                }
                RefMetric::Chrf => {
                    let stats = reference::chrf_stats(output, &refs);
                    (reference::chrf_from_stats(&stats), Some(stats.counts()))
                }
            };
            let what = match metric {
                RefMetric::Rouge(v, _) => v.as_str(),
                RefMetric::Bleu => "BLEU",
                RefMetric::Chrf => "chrF2",
            };
            let against = if refs.len() == 1 { String::new() } else { format!(", best of {} references", refs.len()) };
            let bar = min.map(|m| format!(" (min {m})")).unwrap_or_default();
            ev.scored(score, *min, format!("{what} {score:.4}{bar}{against}"), counts)
        }
        Check::ToolCall { .. } | Check::NoToolCall => {
            ev.error_result("a tool-call check needs the response's tool calls; run it with eval::evaluate_result")
        }
        Check::Limit(..) => ev.error_result("a limit needs the response's figures; run it with eval::evaluate_result"),
        Check::Similarity { .. } => {
            ev.error_result("similarity needs the embedder; run it with eval::evaluate_response")
        }
        Check::Contains { values, any, case_insensitive } => {
            let hay = if *case_insensitive { output.to_lowercase() } else { output.to_string() };
            let (found, missing): (Vec<&String>, Vec<&String>) = values.iter().partition(|v| {
                if *case_insensitive { hay.contains(&v.to_lowercase()) } else { hay.contains(v.as_str()) }
            });
            let passed = if *any { !found.is_empty() } else { missing.is_empty() };
            let detail = match (passed, *any) {
                (true, true) => format!("found {}", quote_list(&found)),
                (true, false) => format!("all {} found", values.len()),
                (false, true) => format!("none of {} found", quote_list(&missing)),
                (false, false) => format!("missing {} ({}/{} found)", quote_list(&missing), found.len(), values.len()),
            };
            ev.verdict(passed, detail)
        }
        Check::Equals { value, case_insensitive, trim } => {
            let (got, want) = if *trim { (output.trim(), value.trim()) } else { (output, value.as_str()) };
            let passed = if *case_insensitive { got.to_lowercase() == want.to_lowercase() } else { got == want };
            let detail = if passed {
                "equal".to_string()
            } else {
                format!("expected {:?}, got {:?}", snippet(want, 60), snippet(got, 60))
            };
            ev.verdict(passed, detail)
        }
        Check::Regex(re) => match re.find(output) {
            Some(m) => ev.verdict(true, format!("matched {:?}", snippet(m.as_str(), 60))),
            None => ev.verdict(false, format!("no match for /{}/", re.as_str())),
        },
        Check::JsonValid => match extract_json(output) {
            Ok(found) => ev.verdict(true, format!("valid JSON {} ({})", json_type(&found.value), found.source)),
            Err(e) => ev.verdict(false, e),
        },
        Check::JsonSchema(validator, whole) => {
            match if *whole { local::whole_json(output) } else { extract_json(output) } {
                Err(e) => ev.verdict(false, e),
                Ok(found) => {
                    let errors = crate::provider::output::schema_problems(validator, &found.value, 120);
                    if errors.is_empty() {
                        ev.verdict(true, format!("matches the schema ({})", found.source))
                    } else {
                        ev.verdict(false, format!("schema mismatch: {}", errors.join("; ")))
                    }
                }
            }
        }
        Check::Length { min_chars, max_chars, min_tokens, max_tokens } => {
            let chars = output.chars().count() as u64;
            let mut problems = Vec::new();
            let mut measured = vec![format!("{chars} chars")];
            check_bounds(chars, *min_chars, *max_chars, "chars", &mut problems);
            // Only tokenize when a token bound is set (the tokenizer costs ~100 ms to load).
            if min_tokens.is_some() || max_tokens.is_some() {
                let tokens = crate::tokens::estimate(output);
                measured.push(format!("~{tokens} tokens"));
                check_bounds(tokens, *min_tokens, *max_tokens, "tokens", &mut problems);
            }
            let measured = measured.join(", ");
            if problems.is_empty() {
                ev.verdict(true, format!("{measured}: within bounds"))
            } else {
                ev.verdict(false, format!("{measured}: {}", problems.join(", ")))
            }
        }
        Check::Refusal { expect, extra } => {
            let found = find_refusal(output, extra);
            let refused = found.is_some();
            let passed = refused == (*expect == Expect::Refuse);
            let detail = match found {
                Some(s) => format!("refusal detected: {:?}", snippet(&s, 80)),
                None => "no refusal detected".to_string(),
            };
            ev.verdict(passed, detail)
        }
    }
}

/// Runs a local evaluator on a finished response: tool-call checks on its calls (against the
/// tools `offered`), the others on its text.
pub fn evaluate_result(ev: &Evaluator, result: &RequestResult, offered: &Tools) -> EvalResult {
    match &ev.check {
        Check::NoToolCall => match result.tool_calls.as_slice() {
            [] => ev.verdict(true, "no tool called".into()),
            calls => ev.verdict(false, format!("called {}", call_names(calls))),
        },
        Check::ToolCall { tools, args } => tool_call_verdict(ev, tools, args.as_ref(), &result.tool_calls, offered),
        Check::Limit(limit, max) => limit_verdict(ev, *limit, *max, result),
        _ => evaluate(ev, &result.output),
    }
}

/// A limit on the response's TTFT, latency or cost. A figure the response does not have (no
/// first token, an unknown price) is an error: never a pass.
fn limit_verdict(ev: &Evaluator, limit: Limit, max: f64, r: &RequestResult) -> EvalResult {
    let (value, what, missing) = match limit {
        Limit::TtftMs => (r.ttft_ms, "TTFT", "no first token arrived"),
        Limit::LatencyMs => (r.latency_ms, "latency", "the response has no latency (it did not finish)"),
        Limit::CostUsd => (r.cost_usd, "cost", "the cost is unknown (no price for this model)"),
    };
    let Some(v) = value else { return ev.error_result(missing) };
    let shown = |x: f64| if limit == Limit::CostUsd { format!("${x:.6}") } else { format!("{x:.0} ms") };
    let passed = v <= max;
    let rel = if passed { "≤" } else { ">" };
    ev.verdict(passed, format!("{what} {} {rel} {}", shown(v), shown(max)))
}

fn call_names(calls: &[ToolCall]) -> String {
    calls.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
}

/// The best of the answer's calls to a wanted tool: passes when one has arguments that parse,
/// fit the offered tool's schema and contain `args`; else says what the closest one got wrong.
fn tool_call_verdict(
    ev: &Evaluator,
    wanted: &[String],
    args: Option<&serde_json::Map<String, serde_json::Value>>,
    calls: &[ToolCall],
    offered: &Tools,
) -> EvalResult {
    if calls.is_empty() {
        let what = if wanted.is_empty() { "a tool".to_string() } else { wanted.join(" or ") };
        return ev.verdict(false, format!("no tool called (expected {what})"));
    }
    let candidates: Vec<&ToolCall> = calls.iter().filter(|c| wanted.is_empty() || wanted.contains(&c.name)).collect();
    if candidates.is_empty() {
        return ev.verdict(false, format!("called {}, not {}", call_names(calls), wanted.join(" or ")));
    }
    let mut problem = String::new();
    for c in candidates {
        match call_problem(c, args, offered) {
            None => {
                let shown = snippet(&c.arguments.to_string(), 80);
                return ev.verdict(true, format!("called {} {shown}", c.name));
            }
            Some(p) if problem.is_empty() => problem = format!("{}: {p}", c.name),
            Some(_) => {}
        }
    }
    ev.verdict(false, problem)
}

/// What is wrong with one call, if anything.
fn call_problem(
    c: &ToolCall,
    args: Option<&serde_json::Map<String, serde_json::Value>>,
    offered: &Tools,
) -> Option<String> {
    if let Some(p) = offered.call_problem(c) {
        // Arguments that do not parse are quoted, so the detail shows what came.
        return Some(match &c.arguments_error {
            Some(_) => format!("{p} ({})", snippet(&c.arguments_raw, 60)),
            None => p,
        });
    }
    for (key, want) in args.into_iter().flatten() {
        let got = c.arguments.get(key);
        let same = match (want, got) {
            (serde_json::Value::String(w), Some(serde_json::Value::String(g))) => {
                w.trim().to_lowercase() == g.trim().to_lowercase()
            }
            (w, Some(g)) => w == g,
            (_, None) => false,
        };
        if !same {
            let got = got.map_or("nothing".to_string(), |g| snippet(&g.to_string(), 40));
            return Some(format!("{key}: expected {}, got {got}", snippet(&want.to_string(), 40)));
        }
    }
    None
}

fn check_bounds(n: u64, min: Option<u64>, max: Option<u64>, unit: &str, problems: &mut Vec<String>) {
    if let Some(min) = min.filter(|&m| n < m) {
        problems.push(format!("below min_{unit} {min}"));
    }
    if let Some(max) = max.filter(|&m| n > m) {
        problems.push(format!("above max_{unit} {max}"));
    }
}

fn json_type(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Object(_) => "object",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Null => "null",
    }
}

fn quote_list(items: &[&String]) -> String {
    items.iter().map(|s| format!("{:?}", snippet(s, 40))).collect::<Vec<_>>().join(", ")
}

/// At most `max` characters of `s` on one line, with `…` when cut.
pub(crate) fn snippet(s: &str, max: usize) -> String {
    let one_line: String = s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if one_line.chars().count() <= max { one_line } else { one_line.chars().take(max).collect::<String>() + "…" }
}

/// The models evaluators call: judges by their configured name, and the embedder that
/// `similarity` evaluators use.
#[derive(Default)]
pub struct Graders {
    pub judges: HashMap<String, ModelClient>,
    pub embedder: Option<crate::embedder::Embedder>,
}

/// Runs every non-pairwise evaluator on a finished request: local ones at once (tool-call
/// checks against the tools `offered`), judges and similarity concurrently; results in the
/// evaluators' order. A judge whose model has no client in `graders` yields an error result
/// naming the model; pairwise judges are skipped (see [`pairwise_all`]). A request that did not
/// succeed still gets its local checks on the partial answer, but its judges and embeddings are
/// not asked for (error result "not judged").
pub async fn evaluate_response(
    evaluators: &[Evaluator],
    graders: &Graders,
    conversation: &[Message],
    offered: &Tools,
    result: &RequestResult,
) -> Vec<EvalResult> {
    let ok = result.status.is_ok();
    let runs = evaluators.iter().filter(|e| !e.is_pairwise()).map(|ev| async move {
        match &ev.check {
            Check::Judge { .. } | Check::Similarity { .. } if !ok => {
                ev.error_result(format!("not judged: the request ended with status {}", result.status))
            }
            Check::Similarity { min, references } => {
                similarity(ev, graders.embedder.as_ref(), *min, references, &result.output).await
            }
            Check::Judge { models, aggregate, rubric, threshold, .. } => {
                let asks = models.iter().map(|model| async move {
                    match graders.judges.get(model) {
                        Some(client) => judge(client, rubric, conversation, &result.output, *threshold).await,
                        None => {
                            let mut r = ev.error_result(format!("judge model {model:?} is not available"));
                            r.votes = vec![JudgeVote {
                                judge: model.clone(),
                                family: String::new(),
                                score: None,
                                passed: None,
                                reason: None,
                                error: r.error.clone(),
                            }];
                            r
                        }
                    }
                });
                let results = futures_util::future::join_all(asks).await;
                let mut r = match <[EvalResult; 1]>::try_from(results) {
                    Ok([one]) => one,
                    Err(many) => panel_verdict(ev, *aggregate, *threshold, many),
                };
                r.name = ev.name.clone();
                r
            }
            _ => evaluate_result(ev, result, offered),
        }
    });
    futures_util::future::join_all(runs).await
}

/// A panel's verdict from its judges' results: their scores combined by `aggregate` when more
/// than half of them answered (else an error: a panel reduced to a minority is not the panel
/// asked for), every judge's vote kept, their spend summed.
fn panel_verdict(ev: &Evaluator, aggregate: Aggregate, threshold: f64, results: Vec<EvalResult>) -> EvalResult {
    let n = results.len();
    let mut spend: Option<Spend> = None;
    for s in results.iter().filter_map(|r| r.spend.as_ref()) {
        spend.get_or_insert_with(Spend::none).add(s);
    }
    let votes: Vec<JudgeVote> = results.iter().flat_map(|r| r.votes.iter().cloned()).collect();
    let mut scores: Vec<f64> = votes.iter().filter_map(|v| v.score).collect();
    let mut r = if scores.len() * 2 <= n {
        let first = votes.iter().find_map(|v| v.error.as_ref().map(|e| format!("{}: {e}", v.judge)));
        ev.error_result(format!(
            "only {} of {n} judges answered{}",
            scores.len(),
            first.map(|e| format!(" ({e})")).unwrap_or_default()
        ))
    } else {
        scores.sort_by(f64::total_cmp);
        let mean = scores.iter().sum::<f64>() / scores.len() as f64;
        let median = match scores.len() {
            k if k % 2 == 1 => scores[k / 2],
            k => (scores[k / 2 - 1] + scores[k / 2]) / 2.0,
        };
        let passes = votes.iter().filter(|v| v.passed == Some(true)).count();
        let (value, passed, how) = match aggregate {
            Aggregate::Mean => (mean, mean >= threshold, format!("mean {mean:.2}")),
            Aggregate::Median => (median, median >= threshold, format!("median {median:.2}")),
            Aggregate::Majority => {
                (mean, passes * 2 > scores.len(), format!("{passes} of {} pass (mean {mean:.2})", scores.len()))
            }
        };
        let each: Vec<String> = votes
            .iter()
            .map(|v| match v.score {
                Some(s) => format!("{} {s}", v.judge),
                None => format!("{} failed", v.judge),
            })
            .collect();
        let mut r = ev.scored((value - 1.0) / 4.0, None, format!("{how} · {}", each.join(", ")), None);
        r.raw_score = Some(value);
        r.passed = Some(passed);
        r
    };
    r.votes = votes;
    r.spend = spend;
    r
}

/// The answer's embedding cosine to the nearest reference. An empty answer scores 0 without a
/// request; no embedder, no reference or a failed request is an error, never a score.
async fn similarity(
    ev: &Evaluator,
    embedder: Option<&crate::embedder::Embedder>,
    min: Option<f64>,
    references: &[String],
    output: &str,
) -> EvalResult {
    if references.is_empty() {
        return ev.error_result(
            "no reference answer for this case: give it `reference`, `references` or `expected` \
             (or the evaluator `references`)",
        );
    }
    let Some(embedder) = embedder else {
        return ev.error_result(
            "no embedder configured: set `embedder = \"openai:text-embedding-3-small\"` (or a [[models]] name) \
             in the config",
        );
    };
    if output.trim().is_empty() {
        return ev.scored(0.0, min, "empty answer: similarity 0".into(), None);
    }
    let mut texts: Vec<&str> = vec![output];
    texts.extend(references.iter().map(String::as_str).filter(|r| !r.trim().is_empty()));
    let (vectors, usage) = match embedder.embed(&texts).await {
        Ok(v) => v,
        Err(e) => return ev.error_result(e),
    };
    let Some((answer, refs)) = vectors.split_first() else {
        return ev.error_result("the embedder returned no vectors");
    };
    let cos = refs.iter().map(|r| crate::provider::embeddings::cosine(answer, r)).fold(f64::NEG_INFINITY, f64::max);
    if !cos.is_finite() {
        return ev.error_result("no reference answer to compare with");
    }
    let against = if refs.len() == 1 { String::new() } else { format!(", best of {} references", refs.len()) };
    let bar = min.map(|m| format!(" (min {m})")).unwrap_or_default();
    // The 0–1 score every evaluator shares; the cosine itself is the raw score.
    let mut r = ev.scored(
        cos.clamp(0.0, 1.0),
        None,
        format!("cosine {cos:.4}{bar}{against} by {}", embedder.spec().name),
        None,
    );
    r.passed = min.map(|m| cos >= m);
    r.raw_score = Some(cos);
    r.spend = Some(Spend {
        requests: usage.requests,
        input_tokens: usage.input_tokens,
        output_tokens: 0,
        cost_usd: usage.cost_usd,
        tokens_estimated: usage.tokens_estimated,
    });
    r
}

/// Runs every pairwise judge over every pair of `answers` (model name, text), all concurrently.
/// Each item is the pair's record — a verdict, or the judge's failure with what it spent
/// ([`Pairwise::error`]) — or, when the judge has no client, why nothing was asked.
pub async fn pairwise_all(
    evaluators: &[Evaluator],
    graders: &Graders,
    conversation: &[Message],
    answers: &[(String, String)],
) -> Vec<Result<Pairwise, String>> {
    let mut runs = Vec::new();
    for ev in evaluators.iter().filter(|e| e.is_pairwise()) {
        let Check::Judge { models, rubric, .. } = &ev.check else { continue };
        for model in models {
            // A panel's members each judge every pair, recorded apart (`panel/member`) so each
            // has its own position-bias figures.
            let by = if models.len() == 1 { ev.name.clone() } else { member_name(&ev.name, model) };
            for (i, a) in answers.iter().enumerate() {
                for b in &answers[i + 1..] {
                    let by = by.clone();
                    runs.push(async move {
                        let client = graders
                            .judges
                            .get(model)
                            .ok_or_else(|| format!("{by}: judge model {model:?} is not available"))?;
                        let mut p = judge_pair(client, rubric, conversation, (&a.0, &a.1), (&b.0, &b.1)).await;
                        if let Some(e) = &mut p.error {
                            *e = format!("{by}: {e}");
                        }
                        p.by = by;
                        Ok(p)
                    });
                }
            }
        }
    }
    futures_util::future::join_all(runs).await
}

#[cfg(test)]
mod tests;
