//! What a config or case file says about an evaluator (`kind = "contains"`, …), before it is
//! compiled. It lives below both the config that reads it and the evaluators that run it
//! ([`crate::eval`]), so neither imports the other's layer.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// What an evaluator checks: the `kind` of its spec and of its results, spelled as in config
/// files and journals (`contains`, `json_valid`, `tool_call`, …).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvaluatorKind {
    Contains,
    Equals,
    Regex,
    JsonValid,
    JsonSchema,
    Length,
    Refusal,
    ToolCall,
    NoToolCall,
    Judge,
    Rouge,
    Bleu,
    Chrf,
    Similarity,
    Ttft,
    Latency,
    Cost,
}

impl EvaluatorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EvaluatorKind::Contains => "contains",
            EvaluatorKind::Equals => "equals",
            EvaluatorKind::Regex => "regex",
            EvaluatorKind::JsonValid => "json_valid",
            EvaluatorKind::JsonSchema => "json_schema",
            EvaluatorKind::Length => "length",
            EvaluatorKind::Refusal => "refusal",
            EvaluatorKind::ToolCall => "tool_call",
            EvaluatorKind::NoToolCall => "no_tool_call",
            EvaluatorKind::Judge => "judge",
            EvaluatorKind::Rouge => "rouge",
            EvaluatorKind::Bleu => "bleu",
            EvaluatorKind::Chrf => "chrf",
            EvaluatorKind::Similarity => "similarity",
            EvaluatorKind::Ttft => "ttft",
            EvaluatorKind::Latency => "latency",
            EvaluatorKind::Cost => "cost",
        }
    }
}

impl std::fmt::Display for EvaluatorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl EvaluatorKind {
    /// Scores the answer against the case's reference answers (ROUGE, BLEU, chrF, embedding
    /// similarity).
    pub fn is_reference_metric(self) -> bool {
        matches!(self, EvaluatorKind::Rouge | EvaluatorKind::Bleu | EvaluatorKind::Chrf | EvaluatorKind::Similarity)
    }
}

/// Which ROUGE a `rouge` evaluator computes (F-measure).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum RougeVariant {
    #[serde(rename = "rouge1")]
    Rouge1,
    #[serde(rename = "rouge2")]
    Rouge2,
    #[default]
    #[serde(rename = "rougeL")]
    RougeL,
}

impl RougeVariant {
    pub fn as_str(self) -> &'static str {
        match self {
            RougeVariant::Rouge1 => "rouge1",
            RougeVariant::Rouge2 => "rouge2",
            RougeVariant::RougeL => "rougeL",
        }
    }
}

/// How a judge panel's scores become one verdict.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Aggregate {
    /// The mean score, passed at the threshold.
    #[default]
    Mean,
    /// The median score, passed at the threshold.
    Median,
    /// Passes when more than half the judges that answered pass it; the score is their mean.
    Majority,
}

impl Aggregate {
    pub fn as_str(self) -> &'static str {
        match self {
            Aggregate::Mean => "mean",
            Aggregate::Median => "median",
            Aggregate::Majority => "majority",
        }
    }
}

/// Default pass mark for a judge on its 1–5 scale.
pub const DEFAULT_JUDGE_THRESHOLD: f64 = 4.0;

/// What a refusal evaluator expects the model to do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expect {
    /// Passes when the model answered (no refusal detected).
    #[default]
    Answer,
    /// Passes when the model refused.
    Refuse,
}

fn yes() -> bool {
    true
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// One evaluator as written in TOML (`[[evaluators]]`) or JSON, tagged by `kind`.
///
/// Every kind takes an optional `name` (default: the kind, or `judge:<model>`). Unknown fields are
/// rejected so a typo (`case_insensitve`) cannot silently change a check.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum EvaluatorSpec {
    /// The answer contains `value`, or all (`any = false`) / any of `values`.
    Contains {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        values: Vec<String>,
        #[serde(default, skip_serializing_if = "is_false")]
        any: bool,
        #[serde(default, skip_serializing_if = "is_false")]
        case_insensitive: bool,
    },
    /// The whole answer equals `value` (trimmed on both sides unless `trim = false`).
    Equals {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        value: String,
        #[serde(default, skip_serializing_if = "is_false")]
        case_insensitive: bool,
        #[serde(default = "yes")]
        trim: bool,
    },
    /// `pattern` matches anywhere in the answer (Rust `regex` syntax; `(?i)` for case).
    Regex {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        pattern: String,
    },
    /// The answer is JSON, alone or in a fenced block (prose around it allowed).
    JsonValid {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
    /// The answer's JSON (found as for `json_valid`, or the whole answer with `whole_answer`)
    /// validates against a JSON Schema, given inline (`schema`) or as a file (`schema_file`,
    /// relative to the config/case file).
    JsonSchema {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        schema: Option<serde_json::Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        schema_file: Option<PathBuf>,
        /// The whole answer (whitespace aside) must be the JSON, as structured output promises:
        /// no prose or code fence around it.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        whole_answer: bool,
    },
    /// Bounds on the answer's length in characters and/or estimated tokens (inclusive).
    Length {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min_chars: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_chars: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min_tokens: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_tokens: Option<u64>,
    },
    /// Detects a refusal; passes when the outcome matches `expect`. `phrases` extend the
    /// built-in list.
    Refusal {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(default)]
        expect: Expect,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        phrases: Vec<String>,
    },
    /// The answer calls a tool (one of `tool`, when given) with arguments that parse, validate
    /// against that tool's `parameters` schema, and contain `args` (strings compared
    /// case-insensitively).
    ToolCall {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tool: Option<OneOrMany>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        args: Option<serde_json::Value>,
    },
    /// The answer calls no tool.
    NoToolCall {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
    /// Another configured model grades the answer 1–5 against `rubric` (passes at
    /// `threshold`, default 4), or with `pairwise = true` compares answers two at a time. A
    /// panel names several (`judges`) instead of one (`model`) and combines their scores by
    /// `aggregate`, each judge's own score and reason kept.
    Judge {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        model: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        judges: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        aggregate: Option<Aggregate>,
        rubric: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        threshold: Option<f64>,
        #[serde(default, skip_serializing_if = "is_false")]
        pairwise: bool,
    },
    /// ROUGE F-measure (0–1) of the answer against the reference answers, as Google's
    /// rouge-score computes it (`variant`: rouge1, rouge2, rougeL — the default); the best of
    /// several references. With `min`, passes at or above it; without, a score only.
    Rouge {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(default)]
        variant: RougeVariant,
        /// Porter-stem words longer than three letters first (rouge-score's `use_stemmer`).
        #[serde(default, skip_serializing_if = "is_false")]
        stem: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<f64>,
        /// The reference answers; when empty, the case's (`references`, `reference`,
        /// `expected`, `ideal`).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        references: Vec<String>,
    },
    /// Sentence BLEU (0–1) as sacrebleu computes it (13a, exponential smoothing).
    Bleu {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<f64>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        references: Vec<String>,
    },
    /// Sentence chrF2 (0–1) as sacrebleu computes it.
    Chrf {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<f64>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        references: Vec<String>,
    },
    /// Cosine similarity of the answer's embedding to the reference answers' (the best of
    /// several), by the config's `embedder`. With `min` (−1 to 1), passes at or above it.
    Similarity {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<f64>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        references: Vec<String>,
    },
    /// The answer's time to first token is at most `max_ms`.
    Ttft {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        max_ms: f64,
    },
    /// The answer's latency (request sent → last byte) is at most `max_ms`.
    Latency {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        max_ms: f64,
    },
    /// The answer's request cost at most `max_usd` (an unknown price is an error, never a pass).
    Cost {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        max_usd: f64,
    },
}

/// A tool name, or several that all count.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn names(&self) -> Vec<String> {
        match self {
            OneOrMany::One(n) => vec![n.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

impl EvaluatorSpec {
    /// The `kind` tag.
    pub fn kind(&self) -> EvaluatorKind {
        match self {
            EvaluatorSpec::Contains { .. } => EvaluatorKind::Contains,
            EvaluatorSpec::Equals { .. } => EvaluatorKind::Equals,
            EvaluatorSpec::Regex { .. } => EvaluatorKind::Regex,
            EvaluatorSpec::JsonValid { .. } => EvaluatorKind::JsonValid,
            EvaluatorSpec::JsonSchema { .. } => EvaluatorKind::JsonSchema,
            EvaluatorSpec::Length { .. } => EvaluatorKind::Length,
            EvaluatorSpec::Refusal { .. } => EvaluatorKind::Refusal,
            EvaluatorSpec::ToolCall { .. } => EvaluatorKind::ToolCall,
            EvaluatorSpec::NoToolCall { .. } => EvaluatorKind::NoToolCall,
            EvaluatorSpec::Judge { .. } => EvaluatorKind::Judge,
            EvaluatorSpec::Rouge { .. } => EvaluatorKind::Rouge,
            EvaluatorSpec::Bleu { .. } => EvaluatorKind::Bleu,
            EvaluatorSpec::Chrf { .. } => EvaluatorKind::Chrf,
            EvaluatorSpec::Similarity { .. } => EvaluatorKind::Similarity,
            EvaluatorSpec::Ttft { .. } => EvaluatorKind::Ttft,
            EvaluatorSpec::Latency { .. } => EvaluatorKind::Latency,
            EvaluatorSpec::Cost { .. } => EvaluatorKind::Cost,
        }
    }

    /// The configured name, else the kind (`judge:<model>` for judges).
    pub fn name(&self) -> String {
        let (name, judge_model) = match self {
            EvaluatorSpec::Contains { name, .. }
            | EvaluatorSpec::Equals { name, .. }
            | EvaluatorSpec::Regex { name, .. }
            | EvaluatorSpec::JsonValid { name }
            | EvaluatorSpec::JsonSchema { name, .. }
            | EvaluatorSpec::Length { name, .. }
            | EvaluatorSpec::Refusal { name, .. }
            | EvaluatorSpec::ToolCall { name, .. }
            | EvaluatorSpec::NoToolCall { name }
            | EvaluatorSpec::Bleu { name, .. }
            | EvaluatorSpec::Chrf { name, .. }
            | EvaluatorSpec::Similarity { name, .. }
            | EvaluatorSpec::Ttft { name, .. }
            | EvaluatorSpec::Latency { name, .. }
            | EvaluatorSpec::Cost { name, .. } => (name, None),
            EvaluatorSpec::Judge { name, model, judges, .. } => {
                if let Some(n) = name.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
                    return n.to_string();
                }
                if model.trim().is_empty() && !judges.is_empty() {
                    return format!("panel:{}", judges.join("+"));
                }
                (name, Some(model))
            }
            EvaluatorSpec::Rouge { name, variant, .. } => {
                if let Some(n) = name.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
                    return n.to_string();
                }
                return variant.as_str().to_string();
            }
        };
        match (name.as_deref().map(str::trim).filter(|n| !n.is_empty()), judge_model) {
            (Some(n), _) => n.to_string(),
            (None, Some(m)) => format!("judge:{m}"),
            (None, None) => self.kind().as_str().to_string(),
        }
    }

    /// A reference metric's own references (empty: the case's), to fill in per case.
    pub fn references_mut(&mut self) -> Option<&mut Vec<String>> {
        match self {
            EvaluatorSpec::Rouge { references, .. }
            | EvaluatorSpec::Bleu { references, .. }
            | EvaluatorSpec::Chrf { references, .. }
            | EvaluatorSpec::Similarity { references, .. } => Some(references),
            _ => None,
        }
    }

    /// The judge models this spec needs: its `model`, or its panel's `judges`.
    pub fn judge_models(&self) -> Vec<&str> {
        match self {
            EvaluatorSpec::Judge { model, judges, .. } => std::iter::once(model.as_str())
                .chain(judges.iter().map(String::as_str))
                .filter(|m| !m.trim().is_empty())
                .collect(),
            _ => Vec::new(),
        }
    }
}
