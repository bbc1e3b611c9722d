//! `bakeoff report diff OLD NEW`: per model present in both reports, compares quality
//! (acceptance rate, mean quality), TTFT and latency (p50, p95) and cost per acceptable response;
//! flags regressions beyond thresholds, and an "overtake" when a model other than the previous
//! cheapest per acceptable response is now cheaper than it.

use super::table::{align, ms};
use super::{ModelStats, Report};
use crate::format;
use crate::sanitize::sanitize as printable;
use anyhow::{Result, bail};

/// Regression thresholds.
#[derive(Clone, Debug, PartialEq)]
pub struct DiffOptions {
    /// Percent increase of TTFT p50 or p95 that counts as a regression.
    pub max_ttft_regression_pct: f64,
    /// Percent increase of latency p50 or p95.
    pub max_latency_regression_pct: f64,
    /// Percent increase of cost per acceptable response.
    pub max_cost_regression_pct: f64,
    /// Drop of acceptance rate or mean quality, on their 0–1 scale (0.05 = 5 points).
    pub max_quality_drop: f64,
}

impl Default for DiffOptions {
    fn default() -> Self {
        DiffOptions {
            max_ttft_regression_pct: 20.0,
            max_latency_regression_pct: 20.0,
            max_cost_regression_pct: 10.0,
            max_quality_drop: 0.05,
        }
    }
}

impl DiffOptions {
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("--max-ttft-regression", self.max_ttft_regression_pct),
            ("--max-latency-regression", self.max_latency_regression_pct),
            ("--max-cost-regression", self.max_cost_regression_pct),
            ("--max-quality-drop", self.max_quality_drop),
        ] {
            if !v.is_finite() || v < 0.0 {
                bail!("{name} must be a number ≥ 0, not {v}");
            }
        }
        Ok(())
    }
}

/// One compared figure of one model.
#[derive(Clone, Debug, PartialEq)]
pub struct DiffRow {
    pub model: String,
    pub metric: &'static str,
    pub old: Option<f64>,
    pub new: Option<f64>,
    pub old_text: String,
    pub new_text: String,
    /// `+12.3%` for times and cost, `-0.050` for quality figures; `—` when either side is unknown.
    pub change: String,
    pub regression: bool,
}

/// The comparison.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DiffReport {
    pub rows: Vec<DiffRow>,
    /// One line per regression.
    pub regressions: Vec<String>,
    pub overtakes: Vec<String>,
    /// Models in only one report, different environments, partial reports.
    pub notes: Vec<String>,
}

impl DiffReport {
    pub fn has_regressions(&self) -> bool {
        !self.regressions.is_empty()
    }

    /// A table of every compared figure, then regressions, overtakes and notes.
    pub fn render(&self) -> String {
        let head: Vec<String> = ["model", "metric", "old", "new", "change", "flag"].map(String::from).to_vec();
        let rows: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| {
                vec![
                    printable(&r.model).replace('\n', " "),
                    r.metric.to_string(),
                    r.old_text.clone(),
                    r.new_text.clone(),
                    r.change.clone(),
                    if r.regression { "REGRESSION".into() } else { String::new() },
                ]
            })
            .collect();
        let mut out = if rows.is_empty() { "no model is in both reports\n".to_string() } else { align(&head, &rows) };
        let mut section = |title: &str, lines: &[String]| {
            if !lines.is_empty() {
                out.push_str(&format!("\n{title}:\n"));
                for l in lines {
                    out.push_str(&format!("  {}\n", printable(l)));
                }
            }
        };
        section("regressions", &self.regressions);
        section("overtake", &self.overtakes);
        section("notes", &self.notes);
        if self.regressions.is_empty() {
            out.push_str("\nno regressions beyond the thresholds\n");
        }
        out
    }
}

/// Which direction is worse, and by how much is too much.
enum Rule {
    /// Lower is better; a percent increase above the threshold regresses.
    Pct(f64),
    /// Higher is better; an absolute drop above the threshold regresses.
    Drop(f64),
}

/// Compares two reports model by model.
pub fn diff(old: &Report, new: &Report, opts: &DiffOptions) -> DiffReport {
    let mut d = DiffReport::default();
    let mut both: Vec<(&ModelStats, &ModelStats)> = Vec::new();
    for o in &old.models {
        match new.models.iter().find(|n| n.model == o.model) {
            Some(n) => both.push((o, n)),
            None => d.notes.push(format!("{} is only in the old report", o.model)),
        }
    }
    for n in new.models.iter().filter(|n| !old.models.iter().any(|o| o.model == n.model)) {
        d.notes.push(format!("{} is only in the new report", n.model));
    }
    for &(o, n) in &both {
        for (metric, get, show, rule) in metrics(opts) {
            d.compare(o, n, metric, get, show, rule);
        }
    }
    d.overtake(&both);
    d.conditions(old, new);
    d
}

type Get = fn(&ModelStats) -> Option<f64>;
type Show = fn(&ModelStats) -> String;

/// The compared figures: how each is read, shown, and when a change regresses.
fn metrics(opts: &DiffOptions) -> [(&'static str, Get, Show, Rule); 7] {
    [
        ("acceptance", |m| m.acceptance_rate, |m| super::table::acceptance(m), Rule::Drop(opts.max_quality_drop)),
        ("quality", |m| m.quality_mean, |m| super::table::num(m.quality_mean, 3), Rule::Drop(opts.max_quality_drop)),
        (
            "TTFT p50",
            |m| m.ttft_ms.map(|s| s.p50),
            |m| ms(m.ttft_ms.map(|s| s.p50)),
            Rule::Pct(opts.max_ttft_regression_pct),
        ),
        (
            "TTFT p95",
            |m| m.ttft_ms.map(|s| s.p95),
            |m| ms(m.ttft_ms.map(|s| s.p95)),
            Rule::Pct(opts.max_ttft_regression_pct),
        ),
        (
            "latency p50",
            |m| m.latency_ms.map(|s| s.p50),
            |m| ms(m.latency_ms.map(|s| s.p50)),
            Rule::Pct(opts.max_latency_regression_pct),
        ),
        (
            "latency p95",
            |m| m.latency_ms.map(|s| s.p95),
            |m| ms(m.latency_ms.map(|s| s.p95)),
            Rule::Pct(opts.max_latency_regression_pct),
        ),
        (
            "$/acceptable",
            |m| m.cost_per_acceptable_usd,
            |m| format::usd(m.cost_per_acceptable_usd),
            Rule::Pct(opts.max_cost_regression_pct),
        ),
    ]
}

impl DiffReport {
    /// One figure of one model, old against new.
    fn compare(&mut self, o: &ModelStats, n: &ModelStats, metric: &'static str, get: Get, show: Show, rule: Rule) {
        let (a, b) = (get(o).filter(|v| v.is_finite()), get(n).filter(|v| v.is_finite()));
        let (change, regression, limit) = match (a, b, rule) {
            (Some(a), Some(b), Rule::Pct(max)) => {
                let (change, worse) = if a > 0.0 {
                    let pct = (b - a) / a * 100.0;
                    (format!("{pct:+.1}%"), pct > max + 1e-9)
                } else {
                    // From zero any increase is unbounded.
                    (if b > 0.0 { "+∞%".to_string() } else { "+0.0%".to_string() }, b > 0.0)
                };
                (change, worse, format!("> +{max}%"))
            }
            (Some(a), Some(b), Rule::Drop(max)) => {
                (format!("{:+.3}", b - a), a - b > max + 1e-9, format!("drop > {max}"))
            }
            _ => ("—".to_string(), false, String::new()),
        };
        if regression {
            self.regressions.push(format!("{}: {metric} {} → {} ({change}, limit {limit})", o.model, show(o), show(n)));
        }
        if metric == "$/acceptable" && a.is_some() && b.is_none() {
            self.notes.push(format!("{}: cost per acceptable response is no longer known", o.model));
        }
        self.rows.push(DiffRow {
            model: o.model.clone(),
            metric,
            old: a,
            new: b,
            old_text: show(o),
            new_text: show(n),
            change,
            regression,
        });
    }

    /// Overtake: the previous cheapest per acceptable response is no longer the cheapest.
    fn overtake(&mut self, both: &[(&ModelStats, &ModelStats)]) {
        let cpa = |m: &ModelStats| m.cost_per_acceptable_usd.filter(|v| v.is_finite());
        let old_best = both.iter().filter_map(|(o, n)| cpa(o).map(|v| (*o, *n, v))).min_by(|x, y| x.2.total_cmp(&y.2));
        if let Some((prev_old, prev_new, prev_old_cost)) = old_best {
            let challenger = both
                .iter()
                .filter(|(o, _)| o.model != prev_old.model)
                .filter_map(|(_, n)| cpa(n).map(|v| (*n, v)))
                .filter(|(_, v)| cpa(prev_new).is_none_or(|p| *v < p))
                .min_by(|x, y| x.1.total_cmp(&y.1));
            if let Some((m, v)) = challenger {
                self.overtakes.push(format!(
                    "{} is now cheaper per acceptable response ({}) than the previous best {} (now {}, was {})",
                    m.model,
                    format::usd(Some(v)),
                    prev_old.model,
                    format::usd(cpa(prev_new)),
                    format::usd(Some(prev_old_cost)),
                ));
            }
        }
    }

    /// Notes on what differs besides the models: mode, concurrency, prices, partial reports.
    fn conditions(&mut self, old: &Report, new: &Report) {
        let (eo, en) = (&old.environment, &new.environment);
        if eo.mode != en.mode || eo.concurrency != en.concurrency || eo.connection_reuse != en.connection_reuse {
            self.notes.push(format!(
                "different conditions: old mode {} concurrency {}, new mode {} concurrency {}",
                eo.mode, eo.concurrency, en.mode, en.concurrency
            ));
        }
        if old.prices_as_of != new.prices_as_of {
            self.notes.push(format!("prices as of {} (old) vs {} (new)", old.prices_as_of, new.prices_as_of));
        }
        for (which, r) in [("old", old), ("new", new)] {
            if r.partial {
                self.notes.push(format!("the {which} report is partial"));
            }
        }
    }
}
