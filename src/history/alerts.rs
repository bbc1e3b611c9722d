//! Alert rules on the history — "alert when the production model is no longer the best
//! choice, or when one regresses". Each rule is checked on the latest run of a case set:
//!
//! - `best`: another model is significantly better than `primary` on `by` in that run (per case,
//!   the two models' values; the reports' paired test);
//! - `regression`: `model`'s metric is worse than the median of its previous `baseline_runs`
//!   runs by more than `threshold`, and significantly so (per case: the latest value against the
//!   median of the baseline runs' values for that case);
//! - `slo`: the metric crosses `max` (or `min`).
//!
//! A difference the test cannot tell from noise fires nothing.

use super::trend::{Metric, per_case, show, significance};
use super::{RunFilter, RunRow, Store};
use crate::config::{AlertRule, Threshold};
use crate::report::{self, Report};
use anyhow::Result;
use serde::Serialize;
use std::collections::HashMap;

/// A rule that fired.
#[derive(Clone, Debug, Serialize)]
pub struct Alert {
    /// `best`, `regression` or `slo`.
    pub rule: &'static str,
    pub model: String,
    pub metric: &'static str,
    /// The case file of the run it fired on.
    pub cases: Option<String>,
    pub run: i64,
    pub run_started_at: String,
    pub value: Option<f64>,
    /// The baseline median, the primary's value, or the limit.
    pub reference: Option<f64>,
    /// One line for people.
    pub message: String,
}

/// Which runs the rules look at.
pub enum Scope {
    /// The run just made (`bakeoff run`).
    Run(i64),
    /// The latest run of every case set in the history (`bakeoff history check`).
    LatestOfEachCaseSet,
}

/// Reports of runs, built once each.
struct Reports<'a> {
    store: &'a Store,
    built: HashMap<i64, Report>,
}

impl Reports<'_> {
    fn get(&mut self, run: i64) -> Result<&Report> {
        if !self.built.contains_key(&run) {
            let session = self.store.session(run)?;
            let opts = report::ReportOptions { generated_at: Some(String::new()), ..Default::default() };
            self.built.insert(run, report::build(&session, &opts));
        }
        Ok(&self.built[&run])
    }
}

/// Checks `rules` and returns the alerts that fire.
pub fn check(store: &Store, rules: &[AlertRule], scope: Scope) -> Result<Vec<Alert>> {
    let all: Vec<RunRow> = store.runs(&RunFilter::default())?.into_iter().filter(|r| r.mode != "load").collect();
    // The latest run(s) to check, each with the runs of its case set up to it.
    let latest: Vec<&RunRow> = match scope {
        Scope::Run(id) => all.iter().filter(|r| r.id == id).collect(),
        Scope::LatestOfEachCaseSet => super::export::latest_of_each_case_set(&all),
    };
    let mut reports = Reports { store, built: HashMap::new() };
    let mut alerts = Vec::new();
    for run in latest {
        let history: Vec<&RunRow> =
            all.iter().filter(|r| r.cases == run.cases && r.id != run.id && r.started_at <= run.started_at).collect();
        for rule in rules {
            if let Some(want) = rule.cases() {
                let c = run.cases.as_deref().unwrap_or("");
                let name = std::path::Path::new(c).file_name().map(|n| n.to_string_lossy().into_owned());
                if c != want && run.cases_hash.as_deref() != Some(want) && name.as_deref() != Some(want) {
                    continue;
                }
            }
            alerts.extend(check_rule(rule, run, &history, &mut reports)?);
        }
    }
    Ok(alerts)
}

fn alert(
    rule: &'static str,
    model: &str,
    metric: Metric,
    run: &RunRow,
    value: Option<f64>,
    reference: Option<f64>,
    message: String,
) -> Alert {
    Alert {
        rule,
        model: model.to_string(),
        metric: metric.name(),
        cases: run.cases.clone(),
        run: run.id,
        run_started_at: run.started_at.clone(),
        value,
        reference,
        message,
    }
}

fn check_rule(rule: &AlertRule, run: &RunRow, history: &[&RunRow], reports: &mut Reports) -> Result<Vec<Alert>> {
    let Ok(metric) = rule.metric().parse::<Metric>() else { return Ok(Vec::new()) };
    let set = run
        .cases
        .as_deref()
        .and_then(|c| std::path::Path::new(c).file_name())
        .map_or_else(|| "one-prompt runs".to_string(), |n| n.to_string_lossy().into_owned());
    let mut out = Vec::new();
    match rule {
        AlertRule::Slo { model, max, min, .. } => {
            let latest = reports.get(run.id)?;
            for m in latest.models.iter().filter(|m| model.as_ref().is_none_or(|want| *want == m.model)) {
                let Some(v) = metric.of(m) else { continue };
                let crossed = match (max, min) {
                    (Some(hi), _) if v > *hi => Some(("above its max", *hi)),
                    (_, Some(lo)) if v < *lo => Some(("below its min", *lo)),
                    _ => None,
                };
                if let Some((how, limit)) = crossed {
                    let msg = format!(
                        "slo: {} {} is {} on {set} (run {}), {how} {}",
                        m.model,
                        metric.name(),
                        show(metric, Some(v)),
                        run.id,
                        show(metric, Some(limit))
                    );
                    out.push(alert("slo", &m.model, metric, run, Some(v), Some(limit), msg));
                }
            }
        }
        AlertRule::Best { primary, .. } => {
            let latest = reports.get(run.id)?;
            let Some(p) = latest.models.iter().find(|m| &m.model == primary) else { return Ok(out) };
            let base = per_case(latest, primary, metric);
            for m in latest.models.iter().filter(|m| &m.model != primary) {
                let other = per_case(latest, &m.model, metric);
                let diffs: Vec<f64> = other.iter().filter_map(|(k, v)| Some(v - base.get(k)?)).collect();
                let seed_key = format!("best|{}|{primary}|{}|{}", metric.name(), m.model, run.id);
                let sig = significance(&diffs, &seed_key);
                let better = sig.mean.is_some_and(|d| if metric.higher_is_better() { d > 0.0 } else { d < 0.0 });
                if sig.significant && better {
                    let msg = format!(
                        "best: {} is significantly better than {primary} on {} on {set} (run {}): {} against {} over {} cases",
                        m.model,
                        metric.name(),
                        run.id,
                        show(metric, metric.of(m)),
                        show(metric, metric.of(p)),
                        diffs.len()
                    );
                    out.push(alert("best", &m.model, metric, run, metric.of(m), metric.of(p), msg));
                }
            }
        }
        AlertRule::Regression { model, threshold, baseline_runs, .. } => {
            let (now, latest_cases) = {
                let latest = reports.get(run.id)?;
                let now = latest.models.iter().find(|m| &m.model == model).and_then(|m| metric.of(m));
                (now, per_case(latest, model, metric))
            };
            let Some(now) = now else { return Ok(out) };
            // The model's previous runs of this case set, newest first.
            let mut baseline: Vec<(f64, std::collections::BTreeMap<String, f64>)> = Vec::new();
            for r in history.iter().rev() {
                if baseline.len() >= *baseline_runs as usize {
                    break;
                }
                let rep = reports.get(r.id)?;
                if let Some(v) = rep.models.iter().find(|m| &m.model == model).and_then(|m| metric.of(m)) {
                    baseline.push((v, per_case(rep, model, metric)));
                }
            }
            if baseline.is_empty() {
                return Ok(out);
            }
            let base = median(baseline.iter().map(|b| b.0).collect()).unwrap_or(now);
            let worse_by = if metric.higher_is_better() { base - now } else { now - base };
            let limit = match threshold {
                Threshold::Relative(r) => base.abs() * r,
                Threshold::Absolute(a) => *a,
            };
            // Per case: the latest value against the median of the baseline runs' values.
            let diffs: Vec<f64> = latest_cases
                .iter()
                .filter_map(|(k, v)| {
                    let past: Vec<f64> = baseline.iter().filter_map(|b| b.1.get(k).copied()).collect();
                    Some(v - median(past)?)
                })
                .collect();
            let sig = significance(&diffs, &format!("regression|{}|{model}|{}", metric.name(), run.id));
            let worse = sig.mean.is_some_and(|d| if metric.higher_is_better() { d < 0.0 } else { d > 0.0 });
            if worse_by > limit && sig.significant && worse {
                let what = match threshold {
                    Threshold::Relative(r) => format!("{:.0}%", r * 100.0),
                    Threshold::Absolute(_) => show(metric, Some(limit)),
                };
                let msg = format!(
                    "regression: {model} {} is {} on {set} (run {}) against a median of {} over its last {} run(s): worse by more than {what}, significant over {} cases (p={:.3})",
                    metric.name(),
                    show(metric, Some(now)),
                    run.id,
                    show(metric, Some(base)),
                    baseline.len(),
                    diffs.len(),
                    sig.p.unwrap_or(1.0)
                );
                out.push(alert("regression", model, metric, run, Some(now), Some(base), msg));
            }
        }
    }
    Ok(out)
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 })
}
