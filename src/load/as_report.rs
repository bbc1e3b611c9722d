//! A `bakeoff load` summary read as a report, so `bakeoff report diff` compares load runs (with
//! each other or with batch runs) on the figures both have: per-model TTFT and latency
//! percentiles, errors, tokens and cost. Quality figures are unknown (`null`): a load run does
//! not score answers. In open loop the times are the response times (from each request's
//! intended start), as the load summary's own per-model rows show them, so a diff sees queueing
//! that service times would hide.

use super::hist::Stat;
use super::summary::{GroupSummary, Summary as LoadSummary};
use crate::report::{CrossStats, ModelStats, REPORT_VERSION, Report, Summary};
use crate::session::{DEFAULT_ACCEPT_SCORE, Environment};

impl LoadSummary {
    /// The load summary's per-model figures as a report. Percentiles are the load summary's own
    /// (HDR, 3 significant digits), not recomputed.
    pub fn to_report(&self) -> Report {
        let s = self;
        let run = &s.run;
        let mode = match run.rate {
            Some(r) => format!("load, open loop at {r} req/s"),
            None => "load, closed loop".to_string(),
        };
        Report {
            report_version: REPORT_VERSION,
            generated_at: s.generated_at.clone(),
            bakeoff_version: s.bakeoff_version.clone(),
            partial: run.interrupted,
            session_started_at: run.started_at.clone(),
            environment: Environment {
                bakeoff_version: s.bakeoff_version.clone(),
                os: String::new(),
                concurrency: run.concurrency.unwrap_or(0) as usize,
                connection_reuse: true,
                prices_as_of: run.prices_as_of.clone(),
                mode,
                plan: None,
            },
            prices_as_of: run.prices_as_of.clone(),
            accept_score: DEFAULT_ACCEPT_SCORE,
            definitions: s.definitions.clone(),
            models: s
                .models
                .iter()
                .filter(|g| g.counts.requests > 0)
                .map(|g| model_stats(g, run.mode == super::summary::LoopMode::Open))
                .collect(),
            cross: CrossStats::default(),
            batch: None,
            rounds: Vec::new(),
        }
    }
}

fn model_stats(g: &GroupSummary, open_loop: bool) -> ModelStats {
    let c = &g.counts;
    let summary = |s: &Option<Stat>| s.map(|s| Summary { n: s.n, mean: s.mean, p50: s.p50, p95: s.p95, p99: s.p99 });
    ModelStats {
        model: g.model.clone().unwrap_or_default(),
        rounds: c.requests,
        responses: c.requests,
        ok: c.ok,
        requests: c.requests,
        errors: c.errors,
        cancelled: c.cancelled,
        error_kinds: c.error_kinds.clone(),
        ttft_ms: summary(if open_loop { &g.ttft_response_ms } else { &g.ttft_ms }),
        latency_ms: summary(if open_loop { &g.latency_response_ms } else { &g.latency_ms }),
        input_tokens: c.input_tokens,
        output_tokens: c.output_tokens,
        tokens_estimated: c.tokens_estimated,
        cost_usd: g.cost_usd,
        cost_known_usd: c.cost_known_usd,
        cost_complete: c.cost_unknown == 0,
        cost_unknown_requests: c.cost_unknown,
        ..ModelStats::default()
    }
}
