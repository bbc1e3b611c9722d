//! The session report: aggregates a recorded [`Session`] into a versioned [`Report`] (per-model
//! figures, per-round details, cross-model statistics), and writes it as JSON, Markdown, a
//! self-contained HTML page or a terminal table. Also `bakeoff report FILE` and
//! `bakeoff report diff OLD NEW`.
//!
//! Every figure is defined in [`definitions`], and those definitions travel inside every report,
//! so a report can be read without the README. Costs are never understated: when any attempt's
//! price is unknown the total is `null`, and the known part is reported separately as a lower
//! bound.

pub mod agreement;
mod batch_stats;
#[cfg(test)]
mod batch_stats_tests;
mod diff;
pub(crate) mod html;
mod inference;
pub(crate) mod markdown;
mod stats;
mod table;
#[cfg(test)]
mod tests;

pub use batch_stats::{
    BatchModel, BatchStats, BootstrapOptions, CaseRepeats, CategoryStats, Comparison, DEFAULT_SEED, GroupIntervals,
    GroupStats, Route, RouteChoice, RoutingBounds, UNCATEGORISED,
};
pub use diff::{DiffOptions, DiffReport, DiffRow, diff};
pub use html::to_html;
pub use inference::{CONFIDENCE, Interval, MIN_CASES, SignTest, derive_seed, paired_bootstrap, percentile, sign_test};
pub use markdown::to_markdown;
pub use stats::{Summary, bradley_terry, cohen_kappa, summarize};
pub use table::{routing_table, to_table};

use crate::eval::EvaluatorKind;
use crate::metrics::{RequestResult, Status};
use crate::provider::Message;
use crate::session::{self, Blind, DEFAULT_ACCEPT_SCORE, Environment, EvalResult, Pairwise, Session, Verdict};
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Report format version; bump when a field changes meaning or disappears.
pub const REPORT_VERSION: u32 = 1;

/// A whole report. Serialised as the `.json` file; the other formats are rendered from it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub report_version: u32,
    /// RFC 3339 UTC.
    pub generated_at: String,
    pub bakeoff_version: String,
    /// The session was interrupted or is still running: some rounds lack a model's result.
    pub partial: bool,
    pub session_started_at: String,
    pub environment: Environment,
    pub prices_as_of: String,
    /// Manual scores at or above this count as acceptable (see `acceptable` in the definitions).
    pub accept_score: u8,
    pub definitions: Vec<Definition>,
    /// In order of first appearance in the session.
    pub models: Vec<ModelStats>,
    pub cross: CrossStats,
    /// Batch statistics (cases, repeats, categories, intervals, comparisons, routing); `null`
    /// when no round belongs to a case. Absent in reports written before it existed.
    #[serde(default)]
    pub batch: Option<BatchStats>,
    pub rounds: Vec<RoundReport>,
}

pub use crate::files::write_atomic;
pub use crate::metrics::Definition;

/// Wins, ties and losses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub wins: u64,
    pub ties: u64,
    pub losses: u64,
}

/// A model's Bradley–Terry fit.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BtRating {
    /// Strengths of all fitted models sum to 1; P(i beats j) = sᵢ ÷ (sᵢ + sⱼ).
    pub strength: f64,
    /// Elo-like: 1500 + 400·log10(sᵢ ÷ geometric mean of all strengths).
    pub rating: f64,
}

/// Everything about one model across the session.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelStats {
    pub model: String,
    pub provider: String,
    /// Rounds the model took part in.
    pub rounds: u64,
    /// Final results (one per round that has one).
    pub responses: u64,
    /// Final results with status `ok`.
    pub ok: u64,
    /// Attempts sent, including retried ones.
    pub requests: u64,
    /// Attempts that were retried (not the final result).
    pub retries: u64,
    /// Attempts with status `error` (final or retried).
    pub errors: u64,
    /// Attempts with status `cancelled`.
    pub cancelled: u64,
    /// `errors` by error kind (`unknown` when none was recorded).
    pub error_kinds: BTreeMap<String, u64>,
    /// The first failed attempt's message, so a report says why, not only how often.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
    pub ttft_ms: Option<Summary>,
    pub latency_ms: Option<Summary>,
    pub tokens_per_s_mean: Option<f64>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Some attempt's token counts were estimated locally.
    pub tokens_estimated: bool,
    /// Total over all attempts; `null` unless every attempt's cost is known.
    pub cost_usd: Option<f64>,
    /// Sum of the known costs: the total when `cost_complete`, else a lower bound.
    pub cost_known_usd: f64,
    pub cost_complete: bool,
    /// Attempts whose cost is unknown (no price).
    pub cost_unknown_requests: u64,
    pub manual_score_mean: Option<f64>,
    pub manual_scored: u64,
    pub eval_score_mean: Option<f64>,
    pub eval_scored: u64,
    pub quality_mean: Option<f64>,
    pub quality_sum: f64,
    /// Responses with a normalised quality (failed ones count, as 0).
    pub quality_known: u64,
    pub acceptable: u64,
    /// Responses whose acceptability is known.
    pub acceptability_known: u64,
    pub acceptance_rate: Option<f64>,
    pub cost_per_quality_point_usd: Option<f64>,
    pub cost_per_acceptable_usd: Option<f64>,
    /// From round verdicts.
    pub verdicts: Record,
    /// From pairwise comparisons.
    pub pairwise: Record,
    pub bradley_terry: Option<BtRating>,
    /// Tool use, when any model in the report called a tool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<ToolStats>,
    /// Prompt-cache use, when the model's provider reported any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<CacheStats>,
    /// Structured output, when the model was asked for a schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub structured: Option<StructuredStats>,
    /// Each reference metric's (ROUGE, BLEU, chrF evaluator's) mean score over the model's
    /// answers, by evaluator name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub reference_metrics: BTreeMap<String, MetricMean>,
    /// What judging this model's answers cost (the judges' own requests), apart from `cost_usd`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval_spend: Option<EvalSpend>,
}

/// Evaluation spend on one model's answers.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EvalSpend {
    /// Judge and embedder requests made for this model's answers.
    pub requests: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub tokens_estimated: bool,
    /// `None` when a judge's or the embedder's price is unknown.
    pub cost_usd: Option<f64>,
    /// Cost per acceptable response counting the evaluation too: (the model's cost + this) ÷
    /// acceptable responses; `cost_per_acceptable_usd` stays the model's own.
    pub cost_per_acceptable_with_eval_usd: Option<f64>,
}

/// A metric's mean over the answers it scored, and for BLEU and chrF the corpus-level figure
/// (the answers' counts summed first, as `sacrebleu.corpus_bleu` / `corpus_chrf`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MetricMean {
    pub mean: f64,
    pub n: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corpus: Option<f64>,
}

/// How often a model's answers fit the structured-output schema they were asked for.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StructuredStats {
    /// Successful final answers to requests that asked for a schema.
    pub checked: u64,
    /// Those whose whole answer is JSON that fits the schema.
    pub valid: u64,
    /// `valid / checked`.
    pub valid_rate: Option<f64>,
    /// What the first answer that did not fit got wrong.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_problem: Option<String>,
}

impl StructuredStats {
    fn response(&mut self, r: &RequestResult) {
        let Some(valid) = r.schema_valid.filter(|_| r.status.is_ok()) else { return };
        self.checked += 1;
        self.valid += u64::from(valid);
        if !valid && self.first_problem.is_none() {
            self.first_problem.clone_from(&r.schema_error);
        }
    }

    fn done(mut self) -> Option<StructuredStats> {
        self.valid_rate =
            (self.checked > 0).then(|| self.valid as f64 / self.checked as f64).and_then(|v| round_to(v, 4));
        (self.checked > 0).then_some(self)
    }
}

/// What a model's prompt cache did over the report's requests.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CacheStats {
    /// Input tokens read from the cache, over all attempts.
    pub cached_input_tokens: u64,
    /// Input tokens written to it (Anthropic).
    pub cache_write_tokens: u64,
    /// Cached share of all input tokens.
    pub hit_share: Option<f64>,
    /// What the cache saved against pricing every input token uncached (negative when writes
    /// cost more than reads saved); `null` when a price was unknown.
    pub saved_usd: Option<f64>,
    /// TTFT of successful final responses to a case's first repeat (cold cache) and to the
    /// repeats after it (warm), when a case set ran with `--repeat`.
    pub ttft_cold_ms: Option<Summary>,
    pub ttft_warm_ms: Option<Summary>,
}

/// Judge versus person on the same responses.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Agreement {
    /// The judge evaluator's name.
    pub judge: String,
    /// Responses both the judge and a person decided.
    pub n: u64,
    pub both_acceptable: u64,
    pub judge_only: u64,
    pub person_only: u64,
    pub neither: u64,
    pub observed_agreement: f64,
    /// `null` when chance agreement is 1 (everyone said the same thing every time).
    pub kappa: Option<f64>,
}

/// How the Bradley–Terry ratings were fitted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BtFit {
    /// Pairwise outcomes used (from verdicts and pairwise comparisons).
    pub comparisons: u64,
    /// Virtual tied games added per pair of models (keeps every strength finite).
    pub prior_ties_per_pair: f64,
    pub iterations: u64,
    pub converged: bool,
    /// Models by rating, best first.
    pub ranking: Vec<String>,
}

/// Statistics across models.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CrossStats {
    pub rounds: u64,
    pub complete_rounds: u64,
    /// Present with three or more models and at least one comparison.
    pub bradley_terry: Option<BtFit>,
    pub judge_agreement: Vec<Agreement>,
    /// Each pairwise judge's position bias and spend, over the pairs it judged in both orders.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pair_judges: Vec<PairJudgeStats>,
    /// How two or more judges that scored the same answers agree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge_panel: Option<JudgePanel>,
    /// Each judge model's scores of its own family's answers against everyone else's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub self_preference: Vec<SelfPreference>,
    /// What every evaluator's own requests used over the whole run: the judges and embedder on
    /// each answer and the pairwise judges (`None` when no evaluator made a request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval_spend: Option<crate::eval::Spend>,
    /// Each judge's (and panel's, and panel member's) 1–5 scores against people's, where both
    /// scored the same answers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub human_agreement: Vec<HumanAgreement>,
    /// Column → the model(s) with the best value there (see [`best`]).
    pub best: BTreeMap<String, Vec<String>>,
}

/// Agreement among the judge evaluators that scored the same answers.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct JudgePanel {
    /// The judges (two or more).
    pub judges: Vec<String>,
    /// Answers at least two of them scored: the units of alpha.
    pub answers: u64,
    /// Krippendorff's alpha (interval) over their 1–5 scores.
    pub alpha: Option<f64>,
    /// Answers every judge gave a pass/fail verdict on: the items of Fleiss' kappa.
    pub verdict_answers: u64,
    pub fleiss_kappa: Option<f64>,
}

/// One rater's decided verdict on an answer: name, 1–5 score, pass.
struct Rating {
    rater: String,
    score: Option<f64>,
    passed: Option<bool>,
}

/// The judges that rated one answer: each judge evaluator, or each member of a panel (named
/// `panel/member`), leaving out those that could not decide.
fn ratings(m: &ModelRound) -> Vec<Rating> {
    let mut out = Vec::new();
    for e in m.evals.iter().filter(|e| e.kind == EvaluatorKind::Judge) {
        if e.votes.len() > 1 {
            for v in e.votes.iter().filter(|v| v.error.is_none()) {
                out.push(Rating {
                    rater: crate::eval::member_name(&e.name, &v.judge),
                    score: v.score,
                    passed: v.passed,
                });
            }
        } else if e.error.is_none() {
            out.push(Rating { rater: e.name.clone(), score: e.raw_score, passed: e.passed });
        }
    }
    out
}

/// The judges' agreement over every answer they scored (`None` with fewer than two judges).
fn judge_panel(rounds: &[RoundReport]) -> Option<JudgePanel> {
    let answers: Vec<Vec<Rating>> = rounds.iter().flat_map(|r| &r.responses).map(ratings).collect();
    let judges: std::collections::BTreeSet<String> = answers.iter().flatten().map(|e| e.rater.clone()).collect();
    if judges.len() < 2 {
        return None;
    }
    let units: Vec<Vec<f64>> = answers
        .iter()
        .map(|evals| evals.iter().filter_map(|e| e.score).collect::<Vec<f64>>())
        .filter(|u| u.len() >= 2)
        .collect();
    let items: Vec<Vec<u64>> = answers
        .iter()
        .filter_map(|evals| {
            let verdicts: Vec<bool> = evals.iter().filter_map(|e| e.passed).collect();
            (verdicts.len() == judges.len()).then(|| {
                let passes = verdicts.iter().filter(|p| **p).count() as u64;
                vec![verdicts.len() as u64 - passes, passes]
            })
        })
        .collect();
    Some(JudgePanel {
        judges: judges.into_iter().collect(),
        answers: units.len() as u64,
        alpha: agreement::krippendorff_alpha_interval(&units).and_then(|v| round_to(v, 4)),
        verdict_answers: items.len() as u64,
        fleiss_kappa: agreement::fleiss_kappa(&items).and_then(|v| round_to(v, 4)),
    })
}

/// How one judge's 1–5 scores agree with people's on the answers both scored.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HumanAgreement {
    /// The judge evaluator, a panel (its combined score), or a panel's member (`panel/member`).
    pub judge: String,
    /// Answers both the judge and a person scored.
    pub answers: u64,
    /// Cohen's kappa with quadratic weights on the 1–5 scale (the judge's score rounded to the
    /// nearest whole point, halves up): 1 is perfect agreement, 0 what chance gives.
    pub weighted_kappa: Option<f64>,
    /// Its 95% percentile-bootstrap interval over the answers.
    pub kappa_lo: Option<f64>,
    pub kappa_hi: Option<f64>,
    /// Share of answers given the same (rounded) score, and within one point.
    pub exact: f64,
    pub within_one: f64,
    /// Per judge score: how people scored those answers.
    pub calibration: Vec<Calibration>,
}

/// What people made of the answers a judge gave one score.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub judge_score: u8,
    pub answers: u64,
    pub person_mean: f64,
    /// Share the person found acceptable (scored at or above the report's `accept_score`).
    pub person_accepts: f64,
}

/// A judge's score on the 1–5 scale as a whole point (a panel's mean may fall between).
fn whole_point(score: f64) -> u8 {
    score.round().clamp(1.0, 5.0) as u8
}

fn human_agreement(scored: &BTreeMap<String, Vec<(f64, u8)>>, opts: &ReportOptions) -> Vec<HumanAgreement> {
    scored
        .iter()
        .map(|(judge, pairs)| {
            let whole: Vec<(u8, u8)> = pairs.iter().map(|&(j, p)| (whole_point(j), p)).collect();
            let n = whole.len() as f64;
            let ci = agreement::weighted_kappa_interval(
                &whole,
                opts.bootstrap.resamples,
                derive_seed(opts.bootstrap.seed, &format!("kappa:{judge}")),
            );
            let calibration = (1..=5u8)
                .filter_map(|level| {
                    let people: Vec<u8> = whole.iter().filter(|(j, _)| *j == level).map(|(_, p)| *p).collect();
                    (!people.is_empty()).then(|| Calibration {
                        judge_score: level,
                        answers: people.len() as u64,
                        person_mean: round_to(
                            people.iter().map(|&p| f64::from(p)).sum::<f64>() / people.len() as f64,
                            4,
                        )
                        .unwrap_or(0.0),
                        person_accepts: round_to(
                            people.iter().filter(|&&p| p >= opts.accept_score).count() as f64 / people.len() as f64,
                            4,
                        )
                        .unwrap_or(0.0),
                    })
                })
                .collect();
            HumanAgreement {
                judge: judge.clone(),
                answers: whole.len() as u64,
                weighted_kappa: agreement::weighted_kappa(&whole).and_then(|v| round_to(v, 4)),
                kappa_lo: ci.and_then(|(lo, _)| round_to(lo, 4)),
                kappa_hi: ci.and_then(|(_, hi)| round_to(hi, 4)),
                exact: round_to(whole.iter().filter(|(j, p)| j == p).count() as f64 / n, 4).unwrap_or(0.0),
                within_one: round_to(whole.iter().filter(|(j, p)| j.abs_diff(*p) <= 1).count() as f64 / n, 4)
                    .unwrap_or(0.0),
                calibration,
            }
        })
        .collect()
}

/// The judges-vs-people table, when people scored answers a judge scored.
pub fn human_agreement_rows(r: &Report) -> Option<(Vec<String>, Vec<Vec<String>>)> {
    if r.cross.human_agreement.is_empty() {
        return None;
    }
    let pct = |v: f64| format!("{:.0}%", v * 100.0);
    let rows = r
        .cross
        .human_agreement
        .iter()
        .map(|h| {
            let kappa = match (h.weighted_kappa, h.kappa_lo, h.kappa_hi) {
                (Some(k), Some(lo), Some(hi)) => format!("{k:.3} [{lo:.2}–{hi:.2}]"),
                (Some(k), _, _) => format!("{k:.3}"),
                _ => "—".into(),
            };
            vec![h.judge.clone(), h.answers.to_string(), kappa, pct(h.exact), pct(h.within_one)]
        })
        .collect();
    let head = ["judge", "answers", "weighted κ [95% CI]", "same score", "within 1"];
    Some((head.iter().map(|h| h.to_string()).collect(), rows))
}

/// What the judges-vs-people table means, under it in every format.
pub const HUMAN_AGREEMENT_NOTE: &str = "Each judge's 1–5 scores against a person's on the answers both scored \
     (a panel's combined score and each of its members too; a score between points rounded, halves up): Cohen's \
     kappa with quadratic weights on the 1–5 scale, as scikit-learn computes it (1 is perfect agreement, 0 what \
     chance gives), with a 95% percentile-bootstrap interval over the answers; same score and within one point \
     as shares.";

/// The calibration table: per judge and judge score, how people scored those answers.
pub fn calibration_rows(r: &Report) -> Option<(Vec<String>, Vec<Vec<String>>)> {
    if r.cross.human_agreement.is_empty() {
        return None;
    }
    let rows = r
        .cross
        .human_agreement
        .iter()
        .flat_map(|h| {
            h.calibration.iter().map(|c| {
                vec![
                    h.judge.clone(),
                    c.judge_score.to_string(),
                    c.answers.to_string(),
                    format!("{:.2}", c.person_mean),
                    format!("{:.0}%", c.person_accepts * 100.0),
                ]
            })
        })
        .collect();
    let head = ["judge", "judge score", "answers", "people's mean score", "people accept"];
    Some((head.iter().map(|h| h.to_string()).collect(), rows))
}

/// What the calibration table means, under it in every format.
pub const CALIBRATION_NOTE: &str = "For each score a judge gave (rounded to a whole point), how people scored the \
     same answers: a calibrated judge's 4s are answers people score about 4 and accept.";

/// How one judge model scored answers by models of its own family and by the others.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SelfPreference {
    /// The judge model's configured name, and who made it.
    pub judge: String,
    pub family: String,
    /// Answers by models of its family: how many it scored and its mean 1–5 score.
    pub own_answers: u64,
    pub own_mean: Option<f64>,
    pub other_answers: u64,
    pub other_mean: Option<f64>,
    /// `own_mean − other_mean`: above 0, it scores its own family higher. It mixes bias with
    /// real quality differences; `relative` separates them where other judges scored the same
    /// answers.
    pub difference: Option<f64>,
    /// Answers other judges also scored: how much more this judge liked its own family's
    /// answers than the other judges did, minus the same for the rest (a difference in
    /// differences: 0 is no self-preference, whatever the answers' quality). The other judges
    /// counted for an answer are those not of its maker's family.
    pub relative: Option<f64>,
    pub relative_answers: u64,
}

/// Each judge model's self-preference over every answer whose model's family is known.
fn self_preference(rounds: &[RoundReport]) -> Vec<SelfPreference> {
    #[derive(Default)]
    struct Acc {
        family: String,
        own: Vec<f64>,
        other: Vec<f64>,
        // This judge's score minus the other judges' mean, on shared answers.
        own_delta: Vec<f64>,
        other_delta: Vec<f64>,
    }
    let mut by: BTreeMap<String, Acc> = BTreeMap::new();
    for m in rounds.iter().flat_map(|r| &r.responses) {
        let Some(answer_family) = m.result.as_ref().and_then(|r| r.family.as_deref()) else { continue };
        let votes: Vec<&crate::eval::JudgeVote> = m
            .evals
            .iter()
            .filter(|e| e.kind == EvaluatorKind::Judge)
            .flat_map(|e| &e.votes)
            .filter(|v| v.score.is_some() && !v.family.is_empty())
            .collect();
        for (i, v) in votes.iter().enumerate() {
            let Some(score) = v.score else { continue };
            let a = by.entry(v.judge.clone()).or_default();
            a.family.clone_from(&v.family);
            let own = v.family == answer_family;
            if own {
                a.own.push(score)
            } else {
                a.other.push(score)
            }
            let others: Vec<f64> = votes
                .iter()
                .enumerate()
                // Judges of the answer's own family would bring their own preference along.
                .filter(|(j, o)| *j != i && o.judge != v.judge && o.family != answer_family)
                .filter_map(|(_, o)| o.score)
                .collect();
            if !others.is_empty() {
                let delta = score - others.iter().sum::<f64>() / others.len() as f64;
                if own { a.own_delta.push(delta) } else { a.other_delta.push(delta) }
            }
        }
    }
    let mean = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
    by.into_iter()
        .map(|(judge, a)| {
            let (own_mean, other_mean) = (mean(&a.own), mean(&a.other));
            let relative = mean(&a.own_delta).zip(mean(&a.other_delta)).map(|(o, t)| o - t);
            SelfPreference {
                judge,
                family: a.family,
                own_answers: a.own.len() as u64,
                own_mean: own_mean.and_then(|v| round_to(v, 4)),
                other_answers: a.other.len() as u64,
                other_mean: other_mean.and_then(|v| round_to(v, 4)),
                difference: own_mean.zip(other_mean).and_then(|(o, t)| round_to(o - t, 4)),
                relative: relative.and_then(|v| round_to(v, 4)),
                relative_answers: (a.own_delta.len() + a.other_delta.len()) as u64,
            }
        })
        .collect()
}

/// The self-preference table, when a judge scored answers whose makers are known.
pub fn self_preference_rows(r: &Report) -> Option<(Vec<String>, Vec<Vec<String>>)> {
    if r.cross.self_preference.is_empty() {
        return None;
    }
    let num = |v: Option<f64>| v.map_or_else(|| "—".into(), |v| format!("{v:.2}"));
    let signed = |v: Option<f64>| v.map_or_else(|| "—".into(), |v| format!("{v:+.2}"));
    let rows = r
        .cross
        .self_preference
        .iter()
        .map(|s| {
            vec![
                s.judge.clone(),
                s.family.clone(),
                format!("{} (n={})", num(s.own_mean), s.own_answers),
                format!("{} (n={})", num(s.other_mean), s.other_answers),
                signed(s.difference),
                format!("{} (n={})", signed(s.relative), s.relative_answers),
            ]
        })
        .collect();
    let head = ["judge", "family", "own family's answers", "others' answers", "difference", "vs other judges"];
    Some((head.iter().map(|h| h.to_string()).collect(), rows))
}

/// What the self-preference table means, under it in every format.
pub const SELF_PREFERENCE_NOTE: &str = "Each judge model's mean 1–5 score for answers by models of its own family \
     (its maker: openai, anthropic, google, meta, …) and for everyone else's; difference = own − others. That \
     mixes favouritism with real quality differences, so \"vs other judges\" compares on answers other \
     judges also scored (judges of the answer's own family left out): how much more this judge liked its family's \
     answers than they did, minus the same for the other answers — 0 is no self-preference.";

/// The judging tables every format shows when they have rows, in one order: title, header,
/// rows (their first cell a name from outside), and the note that defines them.
pub type ExtraTable = (&'static str, Vec<String>, Vec<Vec<String>>, &'static str);

pub fn judging_tables(r: &Report) -> Vec<ExtraTable> {
    [
        ("Reference metrics (mean, 0–1)", reference_rows(r), REFERENCE_NOTE),
        ("Evaluation spend (apart from the models' cost)", spend_rows(r), SPEND_NOTE),
        ("Pairwise judges (position bias)", pair_judge_rows(r), PAIR_JUDGE_NOTE),
        ("Judge agreement (between judges)", judge_panel_rows(r), JUDGE_PANEL_NOTE),
        ("Judge self-preference (1–5 scores by family)", self_preference_rows(r), SELF_PREFERENCE_NOTE),
        ("Judges vs people (1–5 scores)", human_agreement_rows(r), HUMAN_AGREEMENT_NOTE),
        ("Calibration (judge score → people's)", calibration_rows(r), CALIBRATION_NOTE),
    ]
    .into_iter()
    .filter_map(|(title, t, note)| t.map(|(head, rows)| (title, head, rows, note)))
    .collect()
}

/// The judge-panel row, when two or more judges scored answers.
pub fn judge_panel_rows(r: &Report) -> Option<(Vec<String>, Vec<Vec<String>>)> {
    let p = r.cross.judge_panel.as_ref()?;
    let num = |v: Option<f64>| v.map_or_else(|| "—".into(), |v| format!("{v:.3}"));
    let row = vec![
        p.judges.join(", "),
        p.answers.to_string(),
        num(p.alpha),
        p.verdict_answers.to_string(),
        num(p.fleiss_kappa),
    ];
    let head =
        ["judges", "answers scored by 2+", "Krippendorff α (scores)", "answers all judged", "Fleiss κ (pass/fail)"];
    Some((head.iter().map(|h| h.to_string()).collect(), vec![row]))
}

/// What the judge-panel table means, under it in every format.
pub const JUDGE_PANEL_NOTE: &str = "Agreement between the judges on the same answers: Krippendorff's alpha on \
     their 1–5 scores (interval; 1 is perfect agreement, 0 what chance gives), Fleiss' kappa on their pass/fail \
     verdicts over the answers every judge decided — as the krippendorff and statsmodels packages compute them.";

/// How one pairwise judge decided, from its verdicts in both orders.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PairJudgeStats {
    pub judge: String,
    /// Pairs judged (each in both orders).
    pub pairs: u64,
    /// Order verdicts for the answer shown first, the one shown second, and ties.
    pub first_shown: u64,
    pub second_shown: u64,
    pub ties: u64,
    /// Share of the decided order verdicts that went to the answer shown first: 0.5 is no
    /// position bias.
    pub first_shown_rate: Option<f64>,
    /// Pairs whose two orders disagreed (scored a tie).
    pub disagreements: u64,
    /// Pairs the judge could not decide (a request failed, a reply did not read): no verdict,
    /// their requests still counted.
    #[serde(default)]
    pub failed: u64,
    pub requests: u64,
    /// `None` when the judge's price is unknown.
    pub cost_usd: Option<f64>,
}

/// Each pairwise judge's statistics over the rounds' records that kept both orders.
fn pair_judges<'a>(pairs: impl Iterator<Item = &'a Pairwise>) -> Vec<PairJudgeStats> {
    let mut by: BTreeMap<&str, (PairJudgeStats, crate::eval::Spend)> = BTreeMap::new();
    for p in pairs {
        if p.orders.is_none() && p.is_decided() {
            continue; // a person's verdict
        }
        let (s, spent) = by.entry(&p.by).or_insert_with(|| {
            (PairJudgeStats { judge: p.by.clone(), ..Default::default() }, crate::eval::Spend::none())
        });
        if let Some(sp) = &p.spend {
            spent.add(sp);
        }
        let Some(orders) = &p.orders else {
            s.failed += 1;
            continue;
        };
        s.pairs += 1;
        s.disagreements += u64::from(p.disagreement);
        for v in orders {
            match v {
                crate::eval::PairVerdict::A => s.first_shown += 1,
                crate::eval::PairVerdict::B => s.second_shown += 1,
                crate::eval::PairVerdict::Tie => s.ties += 1,
            }
        }
    }
    by.into_values()
        .map(|(mut s, spent)| {
            let decided = s.first_shown + s.second_shown;
            s.first_shown_rate =
                (decided > 0).then(|| s.first_shown as f64 / decided as f64).and_then(|v| round_to(v, 4));
            s.requests = spent.requests;
            s.cost_usd = spent.cost_usd.and_then(|c| round_to(c, 9));
            s
        })
        .collect()
}

/// The pairwise-judge table, when a judge compared answers in both orders.
pub fn pair_judge_rows(r: &Report) -> Option<(Vec<String>, Vec<Vec<String>>)> {
    if r.cross.pair_judges.is_empty() {
        return None;
    }
    let rows = r
        .cross
        .pair_judges
        .iter()
        .map(|s| {
            vec![
                s.judge.clone(),
                s.pairs.to_string(),
                s.first_shown_rate.map_or_else(|| "—".into(), |v| format!("{:.0}%", v * 100.0)),
                format!("{}/{}/{}", s.first_shown, s.second_shown, s.ties),
                s.disagreements.to_string(),
                s.failed.to_string(),
                s.requests.to_string(),
                s.cost_usd.map_or_else(|| "$—".into(), |c| format!("${c:.5}")),
            ]
        })
        .collect();
    let head =
        ["judge", "pairs", "prefers shown first", "first/second/tie", "orders disagree", "failed", "requests", "cost"];
    Some((head.iter().map(|h| h.to_string()).collect(), rows))
}

/// What the pairwise-judge table means, under it in every format.
pub const PAIR_JUDGE_NOTE: &str = "Each pair is judged twice with the answers swapped. Prefers shown first: the \
     share of decided verdicts that went to whichever answer was shown first — 50% is no position bias; \
     orders disagree: pairs scored a tie because the two orders picked different answers; failed: pairs it could \
     not decide (a request failed or a reply did not read), no verdict. Requests and cost: all the judge's \
     requests, failed ones too, at its price ($— unknown), apart from the models' cost.";

/// One model in one round.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelRound {
    pub model: String,
    /// The final attempt; `null` when the round never got one.
    pub result: Option<RequestResult>,
    /// Earlier attempts, in order.
    pub retries: Vec<RequestResult>,
    /// A multi-turn case's earlier turns' answers, in order (`result` is the last turn's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub turns: Vec<RequestResult>,
    pub evals: Vec<EvalResult>,
    pub manual_score: Option<u8>,
    pub note: Option<String>,
    pub acceptable: Option<bool>,
    /// Normalised quality in 0..=1.
    pub quality: Option<f64>,
}

/// One round in full.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoundReport {
    pub round: u64,
    pub started_at: String,
    pub case_id: Option<String>,
    pub category: Option<String>,
    pub repeat: Option<u32>,
    /// The turn of a TUI conversation (2 and on): each model was sent its own earlier turns
    /// (the journal's `context`) before `messages`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn: Option<u32>,
    /// A multi-turn case's follow-up prompts (see [`ModelRound::turns`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub follow_ups: Vec<String>,
    pub messages: Vec<Message>,
    pub complete: bool,
    pub blind: Option<Blind>,
    pub verdict: Option<Verdict>,
    pub pairwise: Vec<Pairwise>,
    pub responses: Vec<ModelRound>,
}

/// How to build a report.
#[derive(Clone, Debug)]
pub struct ReportOptions {
    /// Manual scores at or above this are acceptable.
    pub accept_score: u8,
    /// Mark the report partial even if every round is complete (e.g. the run was interrupted).
    pub partial: bool,
    /// Overrides the generation time (stable output for tests); default: now.
    pub generated_at: Option<String>,
    /// Resamples and seed of the batch confidence intervals.
    pub bootstrap: BootstrapOptions,
    /// What a model must meet to be routed to.
    pub routing: RoutingBounds,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            accept_score: DEFAULT_ACCEPT_SCORE,
            partial: false,
            generated_at: None,
            bootstrap: BootstrapOptions::default(),
            routing: RoutingBounds::default(),
        }
    }
}

/// The report's own definitions, added to [`crate::metrics::DEFINITIONS`].
pub const REPORT_DEFINITIONS: &[(&str, &str)] = &[
    ("requests", "attempts sent, including retried ones; retries = attempts that were followed by another attempt"),
    ("errors/error_kinds", "attempts with status error (final or retried), counted by error kind"),
    (
        "ttft_ms/latency_ms mean,p50,p95,p99",
        "over every successful attempt (status ok). mean: arithmetic mean of the exact values. p50/p95/p99: \
         nearest-rank percentile from an HDR histogram (hdrhistogram crate) recording microseconds with 3 \
         significant digits (bucket upper bound, ≤0.1% above the sample), reported rounded to 3 significant digits",
    ),
    ("tokens_per_s_mean", "arithmetic mean of tokens_per_s over successful attempts that have one"),
    (
        "input_tokens/output_tokens (report)",
        "sums over all attempts including failed and retried ones; tokens_estimated = any attempt was estimated",
    ),
    (
        "cost_usd (report)",
        "sum over all attempts, including failed and retried ones. null when any attempt's price is unknown: \
         then cost_complete = false and cost_known_usd is only a lower bound",
    ),
    (
        "acceptable",
        "the request succeeded and, if evaluators ran, all passed (any failure ⇒ not acceptable, an evaluator \
         error ⇒ unknown); with no evaluators a manual score ≥ accept_score decides; otherwise unknown",
    ),
    ("acceptance_rate", "acceptable ÷ responses whose acceptability is known (counts alongside)"),
    (
        "quality (normalised)",
        "per response, 0..1: manual score s ⇒ (s − 1) ÷ 4 if scored, else the mean evaluator score; \
         a failed request counts 0; none of these ⇒ unknown",
    ),
    ("quality_mean", "mean normalised quality over responses where it is known (failed ones count 0)"),
    (
        "cost_per_quality_point_usd",
        "total cost ÷ Σ normalised quality over responses (unscored responses add 0); null when cost is \
         unknown or the sum is 0",
    ),
    (
        "cost_per_acceptable_usd",
        "total cost (including failed requests and retries) ÷ acceptable responses; null when none is \
         acceptable or cost is unknown",
    ),
    (
        "verdicts",
        "round verdicts: the winner gets a win and every other model in the round a loss; a tie is a tie for all",
    ),
    ("pairwise", "pairwise comparisons (manual or judge): win, tie or loss per comparison"),
    (
        "bradley_terry",
        "with ≥3 models: strengths fitted by the MM algorithm (Hunter 2004) from every pairwise outcome \
         (a verdict winner beats each other model in the round; a tied verdict ties every pair; plus pairwise \
         comparisons), ties as half a win each, plus one virtual tie per pair of models as a prior. \
         strength sums to 1; rating = 1500 + 400·log10(strength ÷ geometric mean strength)",
    ),
    (
        "judge_agreement.kappa",
        "Cohen's κ between a judge evaluator (passed) and a person (manual score ≥ accept_score) on the \
         responses both decided, n alongside; κ = (pₒ − pₑ) ÷ (1 − pₑ), null when pₑ = 1",
    ),
    (
        "batch.case",
        "batch statistics exist whenever a round has a result: every round of a case (case_id) is one repeat, \
         and a round without a case id (an interactive prompt) is a case of its own (round-N). category: the case's category, \
         uncategorised when it has none",
    ),
    (
        "pass_at_n / pass_all_n",
        "per case and model over its N repeats: pass@N = some repeat acceptable, pass^N = every repeat \
         acceptable; null when unknown acceptability leaves it undecided. Per model: the mean over cases where \
         it is decided. With N = 1 both equal acceptability",
    ),
    ("distinct_answers", "different answers among a case's successful repeats, exact text after trimming whitespace"),
    ("flaky_cases", "cases where pass@N ≠ pass^N: some repeats acceptable, some not"),
    (
        "batch group figures",
        "per model over all cases (batch.models[].overall) or one category: the figures defined above, \
         restricted to those cases; cost includes failed requests and retries",
    ),
    (
        "ci (confidence interval)",
        "95% percentile bootstrap resampling cases (clusters: all repeats of a case stay together), B = \
         bootstrap.resamples resamples, each interval drawn from a StdRng seeded with bootstrap.seed mixed with \
         FNV-1a of its name (same seed and bakeoff build ⇒ same interval). lo/hi = the ⌊0.025·B⌋+1-th and \
         ⌈0.975·B⌉-th sorted resample statistic. estimate = the statistic on all cases; medians are exact \
         nearest-rank, so they can differ from the HDR p50 by its rounding. n = cases with the figure; null \
         when n < 2. cost_per_acceptable_usd: Σcost ÷ Σacceptable (a resample with nothing \
         acceptable counts as infinite), null when an end of the interval is infinite or a price is unknown",
    ),
    (
        "comparisons",
        "each pair of models (a, b) on the cases both have a value for (n): per-case value = mean quality, \
         acceptance rate, median (nearest-rank p50) TTFT or latency over the case's repeats. mean_diff = mean \
         of a − b; ci = paired bootstrap (resampling cases) of that mean; sign_test = exact two-sided binomial \
         test on the signs, ties dropped, p = min(1, 2·P(X ≤ min(pos, neg))), X ~ Bin(pos + neg, ½)",
    ),
    (
        "significant",
        "the difference's 95% interval excludes 0 and the sign test agrees (p < 0.05); stricter than the \
         interval alone, which is unreliable on a handful of cases. better: the higher quality/acceptance or the \
         lower time, only when significant",
    ),
    (
        "tied_with_best (≈)",
        "for quality, acceptance, TTFT p50 and latency p50: models that are not the column's best but not \
         significantly different from it either (or never compared with it). Cost columns are not tested",
    ),
    (
        "routing",
        "per category: among models with acceptance_rate ≥ routing_bounds.min_acceptance and (when set) TTFT \
         p95 ≤ max_p95_ttft_ms, the lowest cost_per_acceptable_usd is the choice and the next the fallback; a \
         model whose cost per acceptable is unknown ranks after every known one (flagged when chosen). \
         fallback_tied: their cost-per-acceptable intervals overlap (or one is missing), so the choice is not \
         significantly cheaper. acceptance_lo_meets_bound: the acceptance interval's lower end meets the bound \
         too. closest: with no qualifying model, the one with the least shortfall = (min_acceptance − \
         acceptance)⁺ + (TTFT p95 − max) ÷ max ⁺",
    ),
    ("models[].reference_metrics", REFERENCE_NOTE),
    ("models[].eval_spend", SPEND_NOTE),
    ("cross.pair_judges", PAIR_JUDGE_NOTE),
    ("cross.judge_panel", JUDGE_PANEL_NOTE),
    ("cross.self_preference", SELF_PREFERENCE_NOTE),
    ("cross.human_agreement", HUMAN_AGREEMENT_NOTE),
    ("cross.human_agreement[].calibration", CALIBRATION_NOTE),
    (
        "evals[].votes",
        "a judge evaluator's judges, each with its own 1–5 score, verdict, reason or error and the family of its \
         model (one for a single judge; every member for a panel, whose score combines theirs by mean, median or \
         majority over the judges that answered, an error when they are not more than half the panel)",
    ),
    (
        "result.family",
        "who made the answering model (openai, anthropic, google, meta, mistral, …): a router's vendor prefix of \
         the model id, else its name (gpt-, claude, gemini, llama…), else the provider",
    ),
];

/// Every definition a report embeds: the per-request ones, then the report's.
pub fn definitions() -> Vec<Definition> {
    crate::metrics::DEFINITIONS
        .iter()
        .chain(REPORT_DEFINITIONS)
        .map(|(n, t)| Definition { name: n.to_string(), text: t.to_string() })
        .collect()
}

/// Normalised quality of one response (see the definitions).
pub fn quality(result: &RequestResult, evals: &[EvalResult], manual: Option<u8>) -> Option<f64> {
    if !result.status.is_ok() {
        return Some(0.0);
    }
    if let Some(s) = manual {
        return Some(((f64::from(s) - 1.0) / 4.0).clamp(0.0, 1.0));
    }
    eval_mean(evals)
}

/// Mean of the evaluators' scores that are known.
fn eval_mean(evals: &[EvalResult]) -> Option<f64> {
    let scores: Vec<f64> = evals.iter().filter_map(|e| e.score).filter(|s| s.is_finite()).collect();
    (!scores.is_empty()).then(|| scores.iter().sum::<f64>() / scores.len() as f64)
}

/// `x` rounded to `digits` decimals; `None` for non-finite values (JSON has no NaN).
pub(crate) fn round_to(x: f64, digits: i32) -> Option<f64> {
    let f = 10f64.powi(digits);
    let r = (x * f).round() / f;
    r.is_finite().then_some(r)
}

fn mean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// Per-model running totals while walking the session.
#[derive(Default)]
struct Acc {
    provider: String,
    rounds: u64,
    responses: u64,
    ok: u64,
    requests: u64,
    retries: u64,
    errors: u64,
    cancelled: u64,
    kinds: BTreeMap<String, u64>,
    first_error: Option<String>,
    ttft: Vec<f64>,
    latency: Vec<f64>,
    tps: Vec<f64>,
    input: u64,
    output: u64,
    estimated: bool,
    cost_known: f64,
    cost_unknown: u64,
    manual: Vec<f64>,
    evals: Vec<f64>,
    /// Reference metrics' scores by evaluator name.
    reference_metrics: BTreeMap<String, Vec<f64>>,
    /// The evaluators' own spend (judge and embedder requests) on this model's answers (`None`: none ran).
    eval_spend: Option<crate::eval::Spend>,
    /// BLEU's and chrF's counts summed over the answers, by evaluator name.
    reference_counts: BTreeMap<String, (EvaluatorKind, Vec<u64>)>,
    quality: Vec<f64>,
    acceptable: u64,
    acc_known: u64,
    verdicts: Record,
    pairwise: Record,
    tools: ToolAcc,
    cache: CacheAcc,
    structured: StructuredStats,
}

/// Prompt-cache figures of one model.
#[derive(Default)]
struct CacheAcc {
    cached: u64,
    written: u64,
    /// Some attempt reported cache use.
    used: bool,
    saved: f64,
    saved_unknown: bool,
    cold: Vec<f64>,
    warm: Vec<f64>,
}

impl CacheAcc {
    fn attempt(&mut self, r: &RequestResult) {
        let (cached, written) = (r.cached_input_tokens.unwrap_or(0), r.cache_write_tokens.unwrap_or(0));
        if cached == 0 && written == 0 {
            return;
        }
        self.used = true;
        self.cached += cached;
        self.written += written;
        match r.cache_saved_usd.filter(|s| s.is_finite()) {
            Some(s) => self.saved += s,
            None => self.saved_unknown = true,
        }
    }

    /// A final result's TTFT, as cold (a case's first repeat) or warm (the repeats after it).
    fn response(&mut self, r: &RequestResult, repeat: Option<u32>) {
        let Some(ttft) = r.ttft_ms.filter(|_| r.status.is_ok()) else { return };
        match repeat {
            Some(0) => self.cold.push(ttft),
            Some(_) => self.warm.push(ttft),
            None => {}
        }
    }

    fn stats(&self, input_tokens: u64) -> Option<CacheStats> {
        self.used.then(|| CacheStats {
            cached_input_tokens: self.cached,
            cache_write_tokens: self.written,
            hit_share: (input_tokens > 0)
                .then(|| self.cached as f64 / input_tokens as f64)
                .and_then(|v| round_to(v, 4)),
            saved_usd: (!self.saved_unknown).then_some(self.saved).and_then(|v| round_to(v, 9)),
            ttft_cold_ms: stats::summarize(&self.cold),
            ttft_warm_ms: stats::summarize(&self.warm),
        })
    }
}

/// Tool-call counts over a model's successful final responses.
#[derive(Default)]
struct ToolAcc {
    answers: u64,
    with_calls: u64,
    calls: u64,
    parsed: u64,
    checked: u64,
    valid: u64,
    ttf_tool: Vec<f64>,
}

impl ToolAcc {
    fn response(&mut self, r: &RequestResult) {
        if !r.status.is_ok() {
            return;
        }
        self.answers += 1;
        self.with_calls += u64::from(!r.tool_calls.is_empty());
        self.ttf_tool.extend(r.ttf_tool_ms);
        for c in &r.tool_calls {
            self.calls += 1;
            self.parsed += u64::from(c.arguments_error.is_none());
            if let Some(v) = c.arguments_valid {
                self.checked += 1;
                self.valid += u64::from(v);
            }
        }
    }

    fn stats(&self) -> ToolStats {
        let rate = |n: u64, of: u64| (of > 0).then(|| n as f64 / of as f64).and_then(|v| round_to(v, 4));
        ToolStats {
            answers: self.answers,
            answers_with_calls: self.with_calls,
            calls: self.calls,
            call_rate: rate(self.with_calls, self.answers),
            arguments_parsed: self.parsed,
            parse_rate: rate(self.parsed, self.calls),
            arguments_checked: self.checked,
            arguments_valid: self.valid,
            valid_rate: rate(self.valid, self.checked),
            ttf_tool_ms: stats::summarize(&self.ttf_tool),
        }
    }
}

/// How a model used tools (over its successful final responses).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolStats {
    /// Successful final responses.
    pub answers: u64,
    /// Of those, the ones that called at least one tool.
    pub answers_with_calls: u64,
    pub calls: u64,
    /// `answers_with_calls / answers`.
    pub call_rate: Option<f64>,
    /// Calls whose arguments parse as a JSON object.
    pub arguments_parsed: u64,
    /// `arguments_parsed / calls`.
    pub parse_rate: Option<f64>,
    /// Calls checked against an offered tool's schema, and the ones that fit it.
    pub arguments_checked: u64,
    pub arguments_valid: u64,
    /// `arguments_valid / arguments_checked`.
    pub valid_rate: Option<f64>,
    /// Request sent → first tool-call delta naming its function.
    pub ttf_tool_ms: Option<Summary>,
}

impl Acc {
    fn attempt(&mut self, r: &RequestResult) {
        if self.provider.is_empty() {
            self.provider = r.provider.clone();
        }
        self.requests += 1;
        match r.status {
            Status::Ok => {
                self.ttft.extend(r.ttft_ms);
                self.latency.extend(r.latency_ms);
                self.tps.extend(r.tokens_per_s.filter(|v| v.is_finite()));
            }
            Status::Cancelled => self.cancelled += 1,
            Status::Error => {
                self.errors += 1;
                let kind = r.error_kind.map_or("unknown", |k| k.as_str());
                *self.kinds.entry(kind.to_string()).or_default() += 1;
                if self.first_error.is_none() {
                    self.first_error.clone_from(&r.error);
                }
            }
        }
        self.input += r.input_tokens;
        self.output += r.output_tokens;
        self.estimated |= r.tokens_estimated;
        match r.cost_usd.filter(|c| c.is_finite()) {
            Some(c) => self.cost_known += c,
            None => self.cost_unknown += 1,
        }
    }
}

/// The prompt-cache table (header and one row per model that used a cache), when any did.
pub fn cache_rows(r: &Report) -> Option<(Vec<String>, Vec<Vec<String>>)> {
    let p50 = |s: &Option<Summary>| s.as_ref().map_or_else(|| "—".into(), |s| crate::format::ms_f64(s.p50));
    let rows: Vec<Vec<String>> = r
        .models
        .iter()
        .filter_map(|m| {
            let c = m.cache.as_ref()?;
            Some(vec![
                m.model.clone(),
                crate::format::tokens_short(c.cached_input_tokens),
                c.hit_share.map_or_else(|| "—".into(), |v| format!("{:.0}%", v * 100.0)),
                crate::format::tokens_short(c.cache_write_tokens),
                crate::format::usd_signed(c.saved_usd),
                p50(&c.ttft_cold_ms),
                p50(&c.ttft_warm_ms),
            ])
        })
        .collect();
    if rows.is_empty() {
        return None;
    }
    let head = ["model", "cache hits", "of input", "written", "saved", "TTFT p50 cold", "TTFT p50 warm"];
    Some((head.iter().map(|h| h.to_string()).collect(), rows))
}

/// The structured-output table (header and one row per model asked for a schema), when any was.
pub fn structured_rows(r: &Report) -> Option<(Vec<String>, Vec<Vec<String>>)> {
    let rows: Vec<Vec<String>> = r
        .models
        .iter()
        .filter_map(|m| {
            let s = m.structured.as_ref()?;
            let rate = s.valid_rate.map_or_else(|| "—".into(), |v| format!("{:.0}%", v * 100.0));
            Some(vec![
                m.model.clone(),
                format!("{rate} ({}/{})", s.valid, s.checked),
                s.first_problem.as_deref().map_or_else(|| "—".into(), crate::sanitize::one_line),
            ])
        })
        .collect();
    if rows.is_empty() {
        return None;
    }
    let head = ["model", "schema-valid", "first problem"];
    Some((head.iter().map(|h| h.to_string()).collect(), rows))
}

/// The evaluation-spend table (the judges' requests, tokens and cost per model judged, and cost
/// per acceptable response without and with them), when any evaluator called a model.
/// Every evaluator request of the run: per answer (judges, embedder) and pairwise.
fn eval_spend_total(rounds: &[RoundReport]) -> Option<crate::eval::Spend> {
    let mut total: Option<crate::eval::Spend> = None;
    for r in rounds {
        let per_answer = r.responses.iter().flat_map(|m| m.evals.iter().filter_map(|e| e.spend.as_ref()));
        for s in per_answer.chain(r.pairwise.iter().filter_map(|p| p.spend.as_ref())) {
            total.get_or_insert_with(crate::eval::Spend::none).add(s);
        }
    }
    if let Some(t) = &mut total {
        t.cost_usd = t.cost_usd.and_then(|c| round_to(c, 9));
    }
    total
}

pub fn spend_rows(r: &Report) -> Option<(Vec<String>, Vec<Vec<String>>)> {
    if r.models.iter().all(|m| m.eval_spend.is_none()) && r.cross.eval_spend.is_none() {
        return None;
    }
    let usd = |v: Option<f64>| v.map_or_else(|| "$—".into(), |c| format!("${c:.5}"));
    let rows = r
        .models
        .iter()
        .map(|m| match &m.eval_spend {
            None => {
                vec![m.model.clone(), "0".into(), "—".into(), "$0".into(), usd(m.cost_per_acceptable_usd), "—".into()]
            }
            Some(s) => vec![
                m.model.clone(),
                s.requests.to_string(),
                format!("{}{}/{}", if s.tokens_estimated { "~" } else { "" }, s.input_tokens, s.output_tokens),
                usd(s.cost_usd),
                usd(m.cost_per_acceptable_usd),
                usd(s.cost_per_acceptable_with_eval_usd),
            ],
        })
        .chain(r.cross.eval_spend.iter().map(|s| {
            vec![
                "whole run (pairwise too)".into(),
                s.requests.to_string(),
                format!("{}{}/{}", if s.tokens_estimated { "~" } else { "" }, s.input_tokens, s.output_tokens),
                usd(s.cost_usd),
                String::new(),
                String::new(),
            ]
        }))
        .collect();
    let head = ["model judged", "eval requests", "eval in/out tok", "eval cost", "$/accept", "$/accept + eval"];
    Some((head.iter().map(|h| h.to_string()).collect(), rows))
}

/// What the evaluation-spend table means, under it in every format.
pub const SPEND_NOTE: &str = "Evaluation spend: the judges' and the embedder's own requests on each model's \
     answers, at their prices ($— when a judge has none; ~ when tokens are estimates); the whole run's row adds the \
     pairwise judges' requests (a pair belongs to two models). It is not in the model's cost: $/accept is the \
     model's own spend per acceptable response, $/accept + eval adds what judging its answers cost.";

/// Corpus BLEU or chrF from summed counts.
fn corpus_metric(kind: EvaluatorKind, counts: &[u64]) -> Option<f64> {
    use crate::eval::reference;
    let v = match kind {
        EvaluatorKind::Bleu => reference::bleu_from_stats(&reference::BleuStats::from_counts(counts)?, false),
        EvaluatorKind::Chrf => reference::chrf_from_stats(&reference::ChrfStats::from_counts(counts)?),
        _ => return None,
    };
    round_to(v, 4)
}

/// The reference-metric table (model, then each metric's mean), when any evaluator computed one.
pub fn reference_rows(r: &Report) -> Option<(Vec<String>, Vec<Vec<String>>)> {
    let names: std::collections::BTreeSet<&String> = r.models.iter().flat_map(|m| m.reference_metrics.keys()).collect();
    if names.is_empty() {
        return None;
    }
    let rows = r
        .models
        .iter()
        .map(|m| {
            let mut row = vec![m.model.clone()];
            row.extend(names.iter().map(|n| {
                m.reference_metrics.get(*n).map_or_else(
                    || "—".into(),
                    |s| match s.corpus {
                        Some(c) => format!("{:.3} (n={}) · corpus {c:.3}", s.mean, s.n),
                        None => format!("{:.3} (n={})", s.mean, s.n),
                    },
                )
            }));
            row
        })
        .collect();
    let mut head = vec!["model".to_string()];
    head.extend(names.iter().map(|n| crate::sanitize::one_line(n)));
    Some((head, rows))
}

/// What the reference-metric table means, under it in every format.
pub const REFERENCE_NOTE: &str = "Mean over the answers scored, 0–1, against each case's reference answers (the \
     best of several): ROUGE F-measure as rouge-score computes it, sentence BLEU and chrF2 as sacrebleu does, \
     similarity the embedding cosine (clamped to 0–1). \
     Corpus: BLEU and chrF over all the model's answers at once (their counts summed, as sacrebleu's corpus_bleu \
     and corpus_chrf) — README › Evaluators.";

/// What the structured-output table means, under it in every format.
pub const STRUCTURED_NOTE: &str = "Over successful answers to requests that asked for a JSON Schema (structured \
     output): schema-valid means the whole answer, whitespace aside, is JSON that validates against the schema. \
     Anthropic's answer is the input of the forced answer tool.";

/// What the cache table's columns mean, under it in every format.
pub const CACHE_NOTE: &str = "Cache hits and writes are input tokens the provider reported reading from and writing to \
     its prompt cache. Saved: the cost had every input token been priced uncached, less the cost (negative when writes \
     cost more than reads saved). Cold: TTFT of each case's first repeat; warm: of the repeats after it.";

/// The tool-use table (header and one row per model), when any model called a tool.
pub fn tool_rows(r: &Report) -> Option<(Vec<String>, Vec<Vec<String>>)> {
    let pct = |v: Option<f64>| v.map_or_else(|| "—".into(), |v| format!("{:.0}%", v * 100.0));
    let ms = |v: Option<f64>| v.map_or_else(|| "—".into(), crate::format::ms_f64);
    let rows: Vec<Vec<String>> = r
        .models
        .iter()
        .filter_map(|m| {
            let t = m.tools.as_ref()?;
            Some(vec![
                m.model.clone(),
                format!("{} ({}/{})", pct(t.call_rate), t.answers_with_calls, t.answers),
                t.calls.to_string(),
                format!("{} ({}/{})", pct(t.parse_rate), t.arguments_parsed, t.calls),
                match t.valid_rate {
                    Some(v) => format!("{} ({}/{})", pct(Some(v)), t.arguments_valid, t.arguments_checked),
                    None => "—".into(),
                },
                ms(t.ttf_tool_ms.as_ref().map(|s| s.p50)),
                ms(t.ttf_tool_ms.as_ref().map(|s| s.p95)),
            ])
        })
        .collect();
    if rows.is_empty() {
        return None;
    }
    let head = [
        "model",
        "answers calling a tool",
        "calls",
        "arguments parse",
        "arguments fit the schema",
        "TTF tool p50",
        "TTF tool p95",
    ];
    Some((head.iter().map(|h| h.to_string()).collect(), rows))
}

impl Report {
    /// The rounds as a person reads them: by round number, which for a case set is case order
    /// then repeat (the journal has them in the order they started, which concurrency mixes).
    pub fn rounds_in_order(&self) -> Vec<&RoundReport> {
        let mut rounds: Vec<&RoundReport> = self.rounds.iter().collect();
        rounds.sort_by_key(|r| r.round);
        rounds
    }
}

/// Builds the report for a session.
pub fn build(session: &Session, opts: &ReportOptions) -> Report {
    let mut fold = Fold::new(session);
    let rounds: Vec<RoundReport> = session.rounds.iter().map(|r| fold.round(r, opts)).collect();
    let mut models: Vec<ModelStats> = fold.names.iter().zip(&fold.acc).map(|(name, a)| model_stats(name, a)).collect();
    // Every model gets tool figures once any called a tool: never calling is a figure too.
    if fold.acc.iter().any(|a| a.tools.calls > 0) {
        for (m, a) in models.iter_mut().zip(&fold.acc) {
            m.tools = Some(a.tools.stats());
        }
    }
    let bt_fit = bradley_terry_fit(&fold.names, &fold.outcomes, &mut models);
    let complete_rounds = rounds.iter().filter(|r| r.complete).count() as u64;
    let mut report = Report {
        report_version: REPORT_VERSION,
        generated_at: opts.generated_at.clone().unwrap_or_else(|| session::rfc3339(std::time::SystemTime::now())),
        bakeoff_version: env!("CARGO_PKG_VERSION").to_string(),
        partial: opts.partial || complete_rounds < rounds.len() as u64,
        session_started_at: session.started_at.clone(),
        environment: session.environment.clone(),
        prices_as_of: session.environment.prices_as_of.clone(),
        accept_score: opts.accept_score,
        definitions: definitions(),
        models,
        cross: CrossStats {
            rounds: rounds.len() as u64,
            complete_rounds,
            bradley_terry: bt_fit,
            judge_agreement: judge_agreement(fold.judged),
            human_agreement: human_agreement(&fold.scored, opts),
            pair_judges: pair_judges(rounds.iter().flat_map(|r| &r.pairwise)),
            judge_panel: judge_panel(&rounds),
            self_preference: self_preference(&rounds),
            eval_spend: eval_spend_total(&rounds),
            best: BTreeMap::new(),
        },
        batch: None,
        rounds,
    };
    report.cross.best = best(&report.models);
    report.batch =
        batch_stats::compute(&report.rounds, &report.models, &report.cross.best, opts.bootstrap, opts.routing);
    report
}

/// The session folded round by round into per-model accumulators.
struct Fold {
    /// Models in order of first appearance.
    names: Vec<String>,
    acc: Vec<Acc>,
    /// (i, j, score of i): 1 = i won, 0.5 = tie.
    outcomes: Vec<(usize, usize, f64)>,
    /// judge name → (judge passed, person accepts) per response.
    judged: BTreeMap<String, Vec<(bool, bool)>>,
    /// judge (evaluator, panel, or panel member) → (its 1–5 score, the person's) per response.
    scored: BTreeMap<String, Vec<(f64, u8)>>,
}

impl Fold {
    fn new(session: &Session) -> Fold {
        let mut names: Vec<String> = Vec::new();
        for r in &session.rounds {
            for m in r.start.models.iter().chain(r.results.keys()) {
                if !names.contains(m) {
                    names.push(m.clone());
                }
            }
        }
        let acc = names.iter().map(|_| Acc::default()).collect();
        Fold { names, acc, outcomes: Vec::new(), judged: BTreeMap::new(), scored: BTreeMap::new() }
    }

    fn index(&self, m: &str) -> Option<usize> {
        self.names.iter().position(|n| n == m)
    }

    fn round(&mut self, round: &session::Round, opts: &ReportOptions) -> RoundReport {
        let mut in_round: Vec<String> = round.start.models.clone();
        for m in round.results.keys() {
            if !in_round.contains(m) {
                in_round.push(m.clone());
            }
        }
        let responses = in_round.iter().filter_map(|m| self.response(round, m, opts)).collect();
        let members: Vec<usize> = in_round.iter().filter_map(|m| self.index(m)).collect();
        self.verdict(round.verdict.as_ref(), &members);
        for p in &round.pairwise {
            self.pairwise(p);
        }
        RoundReport {
            round: round.start.round,
            started_at: round.start.started_at.clone(),
            case_id: round.start.case_id.clone(),
            category: round.start.category.clone(),
            repeat: round.start.repeat,
            turn: round.start.turn,
            follow_ups: round.start.follow_ups.clone(),
            messages: round.start.messages.clone(),
            complete: round.is_complete(),
            blind: round.start.blind.clone(),
            verdict: round.verdict.clone(),
            pairwise: round.pairwise.clone(),
            responses,
        }
    }

    /// One model's part of a round: its attempts, scores and verdicts counted.
    fn response(&mut self, round: &session::Round, m: &str, opts: &ReportOptions) -> Option<ModelRound> {
        let i = self.index(m)?;
        let a = &mut self.acc[i];
        a.rounds += 1;
        let retries = round.retries.get(m).cloned().unwrap_or_default();
        let evals = round.evals.get(m).cloned().unwrap_or_default();
        let manual = round.scores.get(m).copied();
        let result = round.results.get(m).cloned();
        let turns = round.turns.get(m).cloned().unwrap_or_default();
        // Every request counts: earlier turns' and failed attempts' time, tokens and cost too.
        for r in turns.iter().chain(&retries).chain(&result) {
            a.attempt(r);
            a.cache.attempt(r);
        }
        if let Some(r) = &result {
            a.cache.response(r, round.start.repeat);
        }
        a.retries += retries.len() as u64;
        if let Some(s) = manual {
            a.manual.push(f64::from(s));
        }
        if let Some(e) = eval_mean(&evals) {
            a.evals.push(e);
        }
        for s in evals.iter().filter_map(|e| e.spend.as_ref()) {
            a.eval_spend.get_or_insert_with(crate::eval::Spend::none).add(s);
        }
        for e in evals.iter().filter(|e| e.kind.is_reference_metric()) {
            if let Some(s) = e.score {
                a.reference_metrics.entry(e.name.clone()).or_default().push(s);
            }
            if let Some(c) = &e.counts {
                let (_, sum) = a.reference_counts.entry(e.name.clone()).or_insert_with(|| (e.kind, vec![0; c.len()]));
                if sum.len() == c.len() {
                    sum.iter_mut().zip(c).for_each(|(s, v)| *s += v);
                }
            }
        }
        let (acceptable, q) = match &result {
            Some(r) => {
                a.responses += 1;
                a.ok += u64::from(r.status.is_ok());
                a.tools.response(r);
                a.structured.response(r);
                (session::acceptable(r, &evals, manual, opts.accept_score), quality(r, &evals, manual))
            }
            None => (None, None),
        };
        if let Some(ok) = acceptable {
            a.acc_known += 1;
            a.acceptable += u64::from(ok);
        }
        a.quality.extend(q);
        if let Some(s) = manual {
            for e in evals.iter().filter(|e| e.kind == EvaluatorKind::Judge) {
                if let Some(p) = e.passed {
                    self.judged.entry(e.name.clone()).or_default().push((p, s >= opts.accept_score));
                }
                if let Some(j) = e.raw_score {
                    self.scored.entry(e.name.clone()).or_default().push((j, s));
                }
                // A panel's members, each on its own.
                for v in e.votes.iter().filter(|_| e.votes.len() > 1) {
                    if let Some(j) = v.score {
                        self.scored.entry(crate::eval::member_name(&e.name, &v.judge)).or_default().push((j, s));
                    }
                }
            }
        }
        Some(ModelRound {
            model: m.to_string(),
            result,
            retries,
            turns,
            evals,
            manual_score: manual,
            note: round.notes.get(m).cloned(),
            acceptable,
            quality: q.and_then(|q| round_to(q, 4)),
        })
    }

    /// A person's verdict on a round among its `members`.
    fn verdict(&mut self, verdict: Option<&Verdict>, members: &[usize]) {
        match verdict {
            Some(Verdict::Winner(w)) => {
                if let Some(wi) = self.index(w).filter(|wi| members.contains(wi)) {
                    for &o in members.iter().filter(|&&o| o != wi) {
                        self.outcomes.push((wi, o, 1.0));
                        self.acc[o].verdicts.losses += 1;
                    }
                    self.acc[wi].verdicts.wins += 1;
                }
            }
            Some(Verdict::Tie) => {
                for (k, &i) in members.iter().enumerate() {
                    self.acc[i].verdicts.ties += 1;
                    for &j in &members[k + 1..] {
                        self.outcomes.push((i, j, 0.5));
                    }
                }
            }
            None => {}
        }
    }

    /// A pairwise comparison (by a person or a judge); a judge's failure is no outcome.
    fn pairwise(&mut self, p: &Pairwise) {
        if !p.is_decided() {
            return;
        }
        let (Some(a), Some(b)) = (self.index(&p.a), self.index(&p.b)) else { return };
        if a == b {
            return;
        }
        match p.winner.as_deref() {
            None => {
                self.outcomes.push((a, b, 0.5));
                self.acc[a].pairwise.ties += 1;
                self.acc[b].pairwise.ties += 1;
            }
            Some(w) if w == p.a || w == p.b => {
                let (win, lose) = if w == p.a { (a, b) } else { (b, a) };
                self.outcomes.push((win, lose, 1.0));
                self.acc[win].pairwise.wins += 1;
                self.acc[lose].pairwise.losses += 1;
            }
            Some(_) => {} // names a model outside the pair: ignore rather than guess
        }
    }
}

/// Bradley–Terry over the models that were compared at least once (with three or more models);
/// sets each compared model's rating.
fn bradley_terry_fit(names: &[String], outcomes: &[(usize, usize, f64)], models: &mut [ModelStats]) -> Option<BtFit> {
    if names.len() < 3 || outcomes.is_empty() {
        return None;
    }
    let mut compared: Vec<usize> = outcomes.iter().flat_map(|&(i, j, _)| [i, j]).collect();
    compared.sort_unstable();
    compared.dedup();
    let local = |g: usize| compared.iter().position(|&c| c == g).unwrap_or(0);
    let games: Vec<(usize, usize, f64)> = outcomes.iter().map(|&(i, j, s)| (local(i), local(j), s)).collect();
    let fit = stats::bradley_terry(compared.len(), &games, 1.0);
    for (k, &g) in compared.iter().enumerate() {
        models[g].bradley_terry = Some(BtRating {
            strength: round_to(fit.strengths[k], 4).unwrap_or(0.0),
            rating: round_to(fit.ratings[k], 1).unwrap_or(1500.0),
        });
    }
    let mut ranking: Vec<usize> = compared.clone();
    ranking.sort_by(|&x, &y| fit.ratings[local(y)].total_cmp(&fit.ratings[local(x)]));
    Some(BtFit {
        comparisons: outcomes.len() as u64,
        prior_ties_per_pair: 1.0,
        iterations: fit.iterations,
        converged: fit.converged,
        ranking: ranking.iter().map(|&g| names[g].clone()).collect(),
    })
}

/// How often each judge agreed with the person on the same responses (Cohen's κ).
fn judge_agreement(judged: BTreeMap<String, Vec<(bool, bool)>>) -> Vec<Agreement> {
    judged
        .into_iter()
        .map(|(judge, pairs)| {
            let k = stats::cohen_kappa(&pairs);
            Agreement {
                judge,
                n: pairs.len() as u64,
                both_acceptable: k.table[0][0],
                judge_only: k.table[0][1],
                person_only: k.table[1][0],
                neither: k.table[1][1],
                observed_agreement: round_to(k.observed, 4).unwrap_or(0.0),
                kappa: k.kappa.and_then(|v| round_to(v, 4)),
            }
        })
        .collect()
}

fn model_stats(name: &str, a: &Acc) -> ModelStats {
    let cost = (a.cost_unknown == 0).then_some(a.cost_known);
    let quality_sum: f64 = a.quality.iter().sum();
    ModelStats {
        model: name.to_string(),
        provider: a.provider.clone(),
        rounds: a.rounds,
        responses: a.responses,
        ok: a.ok,
        requests: a.requests,
        retries: a.retries,
        errors: a.errors,
        cancelled: a.cancelled,
        error_kinds: a.kinds.clone(),
        first_error: a.first_error.clone(),
        ttft_ms: stats::summarize(&a.ttft),
        latency_ms: stats::summarize(&a.latency),
        tokens_per_s_mean: mean(&a.tps).and_then(|v| round_to(v, 2)),
        input_tokens: a.input,
        output_tokens: a.output,
        tokens_estimated: a.estimated,
        cost_usd: cost.and_then(|c| round_to(c, 9)),
        cost_known_usd: round_to(a.cost_known, 9).unwrap_or(0.0),
        cost_complete: a.cost_unknown == 0,
        cost_unknown_requests: a.cost_unknown,
        manual_score_mean: mean(&a.manual).and_then(|v| round_to(v, 4)),
        manual_scored: a.manual.len() as u64,
        eval_score_mean: mean(&a.evals).and_then(|v| round_to(v, 4)),
        eval_scored: a.evals.len() as u64,
        reference_metrics: a
            .reference_metrics
            .iter()
            .filter_map(|(k, v)| {
                let corpus = a.reference_counts.get(k).and_then(|(kind, c)| corpus_metric(*kind, c));
                Some((k.clone(), MetricMean { mean: round_to(mean(v)?, 4)?, n: v.len() as u64, corpus }))
            })
            .collect(),
        eval_spend: a.eval_spend.as_ref().map(|spent| {
            let eval_cost = spent.cost_usd;
            EvalSpend {
                requests: spent.requests,
                input_tokens: spent.input_tokens,
                output_tokens: spent.output_tokens,
                tokens_estimated: spent.tokens_estimated,
                cost_usd: eval_cost.and_then(|c| round_to(c, 9)),
                cost_per_acceptable_with_eval_usd: cost
                    .zip(eval_cost)
                    .filter(|_| a.acceptable > 0)
                    .and_then(|(c, e)| round_to((c + e) / a.acceptable as f64, 9)),
            }
        }),
        quality_mean: mean(&a.quality).and_then(|v| round_to(v, 4)),
        quality_sum: round_to(quality_sum, 4).unwrap_or(0.0),
        quality_known: a.quality.len() as u64,
        acceptable: a.acceptable,
        acceptability_known: a.acc_known,
        acceptance_rate: (a.acc_known > 0)
            .then(|| a.acceptable as f64 / a.acc_known as f64)
            .and_then(|v| round_to(v, 4)),
        cost_per_quality_point_usd: cost.filter(|_| quality_sum > 0.0).and_then(|c| round_to(c / quality_sum, 9)),
        cost_per_acceptable_usd: cost.filter(|_| a.acceptable > 0).and_then(|c| round_to(c / a.acceptable as f64, 9)),
        verdicts: a.verdicts,
        pairwise: a.pairwise,
        bradley_terry: None,
        tools: None,
        cache: a.cache.stats(a.input),
        structured: a.structured.clone().done(),
    }
}

/// Best model(s) per column. Lower is better for times and costs (only complete costs compete),
/// higher for the rest. Columns nobody has a value for are left out.
pub fn best(models: &[ModelStats]) -> BTreeMap<String, Vec<String>> {
    type Get = fn(&ModelStats) -> Option<f64>;
    let columns: [(&str, Get, bool); 10] = [
        ("ttft_p50_ms", |m| m.ttft_ms.as_ref().map(|s| s.p50), true),
        ("latency_p50_ms", |m| m.latency_ms.as_ref().map(|s| s.p50), true),
        ("tokens_per_s_mean", |m| m.tokens_per_s_mean, false),
        ("cost_usd", |m| m.cost_usd, true),
        ("acceptance_rate", |m| m.acceptance_rate, false),
        ("quality_mean", |m| m.quality_mean, false),
        ("manual_score_mean", |m| m.manual_score_mean, false),
        ("cost_per_quality_point_usd", |m| m.cost_per_quality_point_usd, true),
        ("cost_per_acceptable_usd", |m| m.cost_per_acceptable_usd, true),
        ("bt_rating", |m| m.bradley_terry.map(|b| b.rating), false),
    ];
    let mut out = BTreeMap::new();
    for (name, get, lower) in columns {
        let vals: Vec<(&str, f64)> =
            models.iter().filter_map(|m| get(m).filter(|v| v.is_finite()).map(|v| (m.model.as_str(), v))).collect();
        let pick =
            if lower { vals.iter().map(|v| v.1).reduce(f64::min) } else { vals.iter().map(|v| v.1).reduce(f64::max) };
        if let Some(b) = pick {
            out.insert(name.to_string(), vals.iter().filter(|v| v.1 == b).map(|v| v.0.to_string()).collect());
        }
    }
    out
}

/// Output formats of `bakeoff report`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    #[default]
    Table,
    Markdown,
    Json,
    Html,
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "table" => Ok(Format::Table),
            "markdown" | "md" => Ok(Format::Markdown),
            "json" => Ok(Format::Json),
            "html" => Ok(Format::Html),
            _ => Err(format!("unknown format {s:?}; use table, markdown, json or html")),
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Table => "table",
            Format::Markdown => "markdown",
            Format::Json => "json",
            Format::Html => "html",
        })
    }
}

/// Pretty JSON with a trailing newline.
pub fn to_json(report: &Report) -> String {
    // Serialising plain data with string keys cannot fail.
    crate::sanitize::to_json_pretty(report).unwrap_or_default() + "\n"
}

/// The report in one format.
pub fn render(report: &Report, format: Format) -> String {
    match format {
        Format::Table => to_table(report),
        Format::Markdown => to_markdown(report),
        Format::Json => to_json(report),
        Format::Html => to_html(report),
    }
}

/// Reads a saved report (`.json`) or replays a session journal (`.jsonl`, or any file whose first
/// line is a journal entry) and builds its report. (A `bakeoff load` summary is a document of its
/// own: `bakeoff report` reads it with `load::summary::load` and its `to_report`.)
pub fn load(path: &Path) -> Result<Report> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let is_journal = path.extension().is_some_and(|e| e == "jsonl")
        || text
            .lines()
            .find(|l| !l.trim().is_empty())
            .is_some_and(|l| serde_json::from_str::<session::Entry>(l).is_ok());
    if is_journal {
        let s = session::read(path)?;
        if s.rounds.is_empty() {
            bail!("{}: the session journal has no rounds", path.display());
        }
        return Ok(build(&s, &ReportOptions::default()));
    }
    let value: serde_json::Value = serde_json::from_str(&text).with_context(|| {
        format!("{}: neither a bakeoff report (JSON) nor a session journal (JSON Lines)", path.display())
    })?;
    if value.get("kind").and_then(|k| k.as_str()) == Some("bakeoff-load") {
        // Read by `bakeoff report` (the face), which knows load summaries; this module does not.
        bail!("{}: a bakeoff load summary, not a report: show or compare it with `bakeoff report`", path.display());
    }
    match value.get("report_version").map(|v| v.as_u64()) {
        None => bail!("{}: not a bakeoff report (no report_version)", path.display()),
        Some(Some(v)) if v == u64::from(REPORT_VERSION) => {}
        Some(v) => bail!(
            "{}: report_version {} is not supported (this bakeoff reads version {REPORT_VERSION})",
            path.display(),
            v.map_or_else(|| "(not a number)".to_string(), |v| v.to_string())
        ),
    }
    serde_json::from_value(value).with_context(|| format!("{}: not a valid version-1 report", path.display()))
}

/// Writes `<stem>.json`, `<stem>.md` and `<stem>.html` into directory `dir` (created if missing),
/// each atomically. Returns the paths written.
pub fn save(report: &Report, dir: &Path, stem: &str) -> Result<Vec<PathBuf>> {
    if dir.is_file() {
        bail!("{}: is a file; give a directory for the report", dir.display());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut paths = Vec::new();
    for (ext, body) in [("json", to_json(report)), ("md", to_markdown(report)), ("html", to_html(report))] {
        let p = dir.join(format!("{stem}.{ext}"));
        write_atomic(&p, body.as_bytes())?;
        paths.push(p);
    }
    Ok(paths)
}
