//! `bakeoff trend`: one metric per model, run after run, from the history. Each run is rebuilt
//! into its report, so a point is exactly the figure that run's report showed. A change from the
//! previous run is called significant with the paired tests the reports use: per case, the
//! model's value in the two runs (cases both runs have); significant when the bootstrap
//! interval of the mean difference leaves out zero and the sign test agrees (p < 0.05).

use super::{RunFilter, RunRow, Store};
use crate::report::{self, ModelStats, Report, RoundReport};
use anyhow::{Result, bail};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// The figures a trend follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    TtftP50,
    TtftP95,
    LatencyP50,
    LatencyP95,
    TokS,
    Acceptance,
    Quality,
    CostPerAccept,
    ErrorRate,
}

impl std::str::FromStr for Metric {
    type Err = String;
    fn from_str(s: &str) -> Result<Metric, String> {
        Metric::ALL.iter().copied().find(|m| m.name() == s).ok_or_else(|| {
            let names: Vec<&str> = Metric::ALL.iter().map(|m| m.name()).collect();
            format!("unknown metric {s:?}; one of {}", names.join(", "))
        })
    }
}

impl Metric {
    pub const ALL: [Metric; 9] = [
        Metric::TtftP50,
        Metric::TtftP95,
        Metric::LatencyP50,
        Metric::LatencyP95,
        Metric::TokS,
        Metric::Acceptance,
        Metric::Quality,
        Metric::CostPerAccept,
        Metric::ErrorRate,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Metric::TtftP50 => "ttft_p50",
            Metric::TtftP95 => "ttft_p95",
            Metric::LatencyP50 => "latency_p50",
            Metric::LatencyP95 => "latency_p95",
            Metric::TokS => "tok_s",
            Metric::Acceptance => "acceptance",
            Metric::Quality => "quality",
            Metric::CostPerAccept => "cost_per_accept",
            Metric::ErrorRate => "error_rate",
        }
    }

    /// The unit its values are in.
    pub fn unit(self) -> &'static str {
        match self {
            Metric::TtftP50 | Metric::TtftP95 | Metric::LatencyP50 | Metric::LatencyP95 => "ms",
            Metric::TokS => "stream tok/s",
            Metric::Acceptance | Metric::Quality | Metric::ErrorRate => "0–1",
            Metric::CostPerAccept => "USD",
        }
    }

    pub fn higher_is_better(self) -> bool {
        matches!(self, Metric::TokS | Metric::Acceptance | Metric::Quality)
    }

    /// The figure as the run's report has it.
    pub fn of(self, m: &ModelStats) -> Option<f64> {
        match self {
            Metric::TtftP50 => m.ttft_ms.map(|s| s.p50),
            Metric::TtftP95 => m.ttft_ms.map(|s| s.p95),
            Metric::LatencyP50 => m.latency_ms.map(|s| s.p50),
            Metric::LatencyP95 => m.latency_ms.map(|s| s.p95),
            Metric::TokS => m.tokens_per_s_mean,
            Metric::Acceptance => m.acceptance_rate,
            Metric::Quality => m.quality_mean,
            Metric::CostPerAccept => m.cost_per_acceptable_usd,
            Metric::ErrorRate => (m.requests > 0).then(|| m.errors as f64 / m.requests as f64),
        }
    }

    /// What is compared per case between two runs: a timing's median over the case's repeats
    /// (for p50 and p95 alike: whether the model got consistently slower), the mean stream
    /// rate, the share acceptable, mean quality, the case's cost (every attempt), the share of
    /// errors.
    fn per_case(self, responses: &[&report::ModelRound]) -> Option<f64> {
        let ok = || responses.iter().filter_map(|r| r.result.as_ref()).filter(|r| r.status.is_ok());
        let mean = |v: Vec<f64>| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
        match self {
            Metric::TtftP50 | Metric::TtftP95 => {
                report::percentile(&ok().filter_map(|r| r.ttft_ms).collect::<Vec<_>>(), 0.5)
            }
            Metric::LatencyP50 | Metric::LatencyP95 => {
                report::percentile(&ok().filter_map(|r| r.latency_ms).collect::<Vec<_>>(), 0.5)
            }
            Metric::TokS => mean(ok().filter_map(|r| r.tokens_per_s).collect()),
            Metric::Acceptance => {
                mean(responses.iter().filter_map(|r| r.acceptable).map(|a| f64::from(u8::from(a))).collect())
            }
            Metric::Quality => mean(responses.iter().filter_map(|r| r.quality).collect()),
            Metric::CostPerAccept => {
                let attempts = responses.iter().flat_map(|r| r.retries.iter().chain(&r.turns).chain(&r.result));
                attempts.map(|a| a.cost_usd).sum::<Option<f64>>()
            }
            Metric::ErrorRate => mean(
                responses
                    .iter()
                    .filter_map(|r| r.result.as_ref())
                    .map(|r| f64::from(u8::from(!r.status.is_ok())))
                    .collect(),
            ),
        }
    }
}

/// One run's point of a model's series.
#[derive(Clone, Debug, Serialize)]
pub struct Point {
    pub run: i64,
    pub started_at: String,
    pub value: Option<f64>,
    /// Its 95% interval, where the report has one (batch statistics: TTFT/latency p50,
    /// acceptance, quality, cost per acceptable answer).
    pub ci: Option<report::Interval>,
}

/// How the latest run differs from the one before it.
#[derive(Clone, Debug, Serialize)]
pub struct Change {
    pub from_run: i64,
    pub to_run: i64,
    /// Latest minus previous, and as a share of the previous.
    pub diff: Option<f64>,
    pub relative: Option<f64>,
    /// Cases both runs have.
    pub cases: u64,
    pub mean_case_diff_ci: Option<report::Interval>,
    pub sign_test_p: Option<f64>,
    pub significant: bool,
    /// The change makes the model worse on this metric.
    pub worse: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct Series {
    pub model: String,
    pub points: Vec<Point>,
    pub change: Option<Change>,
}

/// A metric's trend over the runs that matched.
#[derive(Clone, Debug, Serialize)]
pub struct Trend {
    pub metric: Metric,
    pub unit: &'static str,
    /// The case file the runs share (`None`: one-prompt runs and sessions).
    pub cases: Option<String>,
    pub runs: Vec<RunRow>,
    pub series: Vec<Series>,
}

/// The trend of `metric` over the runs `filter` picks. Without a case file in the filter, the
/// runs of the latest run's case file (trends across different case sets compare nothing).
pub fn trend(store: &Store, metric: Metric, filter: &RunFilter, model: Option<&str>) -> Result<Trend> {
    trend_cached(store, metric, filter, model, &mut HashMap::new())
}

/// [`trend`], each run's report built once across calls (`cache`, by run id).
fn trend_cached(
    store: &Store,
    metric: Metric,
    filter: &RunFilter,
    model: Option<&str>,
    cache: &mut HashMap<i64, Report>,
) -> Result<Trend> {
    let mut runs = store.runs(filter)?;
    // Load runs have no per-request figures here; a run that has not answered yet has none.
    runs.retain(|r| r.mode != "load" && r.requests > 0);
    let Some(latest) = runs.last() else { bail!("no runs recorded that match; `bakeoff history` lists them") };
    let cases = latest.cases.clone();
    if filter.cases.is_none() {
        runs.retain(|r| r.cases == cases);
    }
    let mut reports: Vec<(RunRow, Report)> = Vec::new();
    for r in runs {
        let report = match cache.get(&r.id) {
            Some(rep) => rep.clone(),
            None => {
                let session = store.session(r.id)?;
                let opts = report::ReportOptions { generated_at: Some(String::new()), ..Default::default() };
                let rep = report::build(&session, &opts);
                cache.insert(r.id, rep.clone());
                rep
            }
        };
        reports.push((r, report));
    }
    let mut models: Vec<String> = Vec::new();
    for (_, rep) in &reports {
        for m in &rep.models {
            if !models.contains(&m.model) && model.is_none_or(|want| want == m.model) {
                models.push(m.model.clone());
            }
        }
    }
    let series = models
        .iter()
        .map(|name| {
            let points: Vec<Point> = reports
                .iter()
                .filter(|(_, rep)| rep.models.iter().any(|m| &m.model == name))
                .map(|(run, rep)| Point {
                    run: run.id,
                    started_at: run.started_at.clone(),
                    value: rep.models.iter().find(|m| &m.model == name).and_then(|m| metric.of(m)),
                    ci: interval(rep, name, metric),
                })
                .collect();
            let last_two: Vec<&Report> = reports
                .iter()
                .filter(|(_, rep)| rep.models.iter().any(|m| &m.model == name))
                .map(|(_, rep)| rep)
                .rev()
                .take(2)
                .collect();
            let change = match (points.len(), last_two.as_slice()) {
                (2.., [latest, previous]) => {
                    Some(change(metric, name, previous, latest, &points[points.len() - 2], &points[points.len() - 1]))
                }
                _ => None,
            };
            Series { model: name.clone(), points, change }
        })
        .collect();
    Ok(Trend { metric, unit: metric.unit(), cases, runs: reports.into_iter().map(|(r, _)| r).collect(), series })
}

fn interval(rep: &Report, model: &str, metric: Metric) -> Option<report::Interval> {
    let g = &rep.batch.as_ref()?.models.iter().find(|m| m.model == model)?.overall.ci;
    match metric {
        Metric::TtftP50 => g.ttft_p50_ms,
        Metric::LatencyP50 => g.latency_p50_ms,
        Metric::Acceptance => g.acceptance_rate,
        Metric::Quality => g.quality_mean,
        Metric::CostPerAccept => g.cost_per_acceptable_usd,
        _ => None,
    }
}

/// A case's key across runs: its id, else (one-prompt runs, sessions) its last prompt's text.
fn case_key(r: &RoundReport) -> String {
    match &r.case_id {
        Some(id) => format!("case:{id}"),
        None => format!("prompt:{}", r.messages.last().map(|m| m.content.as_str()).unwrap_or_default()),
    }
}

pub(crate) fn per_case(rep: &Report, model: &str, metric: Metric) -> BTreeMap<String, f64> {
    let mut by_case: BTreeMap<String, Vec<&report::ModelRound>> = BTreeMap::new();
    for r in &rep.rounds {
        if let Some(m) = r.responses.iter().find(|m| m.model == model) {
            by_case.entry(case_key(r)).or_default().push(m);
        }
    }
    by_case.into_iter().filter_map(|(k, v)| Some((k, metric.per_case(&v)?))).collect()
}

/// The paired test of per-case differences the reports use.
pub(crate) struct Significance {
    pub significant: bool,
    /// Mean difference.
    pub mean: Option<f64>,
    pub ci: Option<report::Interval>,
    /// The sign test's p (`None` without differences).
    pub p: Option<f64>,
}

/// Significant when the 95% bootstrap interval of the mean difference leaves out zero and the
/// sign test agrees (p < 0.05). `seed_key` makes the bootstrap reproducible per question.
pub(crate) fn significance(diffs: &[f64], seed_key: &str) -> Significance {
    let seed = report::derive_seed(report::DEFAULT_SEED, seed_key);
    let ci = report::paired_bootstrap(diffs, report::BootstrapOptions::default().resamples, seed, 6);
    let sign = report::sign_test(diffs);
    Significance {
        significant: ci.is_some_and(|c| !c.contains(0.0)) && sign.p < 1.0 - report::CONFIDENCE,
        mean: (!diffs.is_empty()).then(|| diffs.iter().sum::<f64>() / diffs.len() as f64),
        ci,
        p: (!diffs.is_empty()).then_some(sign.p),
    }
}

fn change(metric: Metric, model: &str, previous: &Report, latest: &Report, a: &Point, b: &Point) -> Change {
    let (pa, pb) = (per_case(previous, model, metric), per_case(latest, model, metric));
    let diffs: Vec<f64> = pa.iter().filter_map(|(k, va)| Some(pb.get(k)? - va)).collect();
    let sig = significance(&diffs, &format!("trend|{}|{model}|{}|{}", metric.name(), a.run, b.run));
    let diff = a.value.zip(b.value).map(|(x, y)| y - x);
    // The direction of a significant change is the per-case differences' (the figures may round
    // to the same value); otherwise the figures'.
    let direction = if sig.significant { sig.mean } else { diff };
    let worse_dir = direction.is_some_and(|d| if metric.higher_is_better() { d < 0.0 } else { d > 0.0 });
    Change {
        from_run: a.run,
        to_run: b.run,
        diff,
        relative: a.value.zip(diff).filter(|(x, _)| *x != 0.0).map(|(x, d)| d / x.abs()),
        cases: diffs.len() as u64,
        mean_case_diff_ci: sig.ci,
        sign_test_p: sig.p,
        significant: sig.significant,
        worse: worse_dir,
    }
}

/// Eight levels of a sparkline; `·` for a run without a value.
fn sparkline(values: &[Option<f64>]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let known: Vec<f64> = values.iter().flatten().copied().filter(|v| v.is_finite()).collect();
    let (lo, hi) = known.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| (l.min(*v), h.max(*v)));
    values
        .iter()
        .map(|v| match v.filter(|v| v.is_finite()) {
            None => '·',
            Some(_) if hi <= lo => BARS[3],
            Some(v) => BARS[(((v - lo) / (hi - lo)) * 7.0).round().clamp(0.0, 7.0) as usize],
        })
        .collect()
}

/// A value in the metric's unit.
pub fn show(metric: Metric, v: Option<f64>) -> String {
    match (metric.unit(), v) {
        (_, None) => "—".into(),
        ("ms", Some(0.0)) => "0ms".into(),
        ("ms", Some(v)) => crate::format::ms_f64(v),
        ("USD", v) => crate::format::usd(v),
        ("0–1", Some(v)) => format!("{:.0}%", v * 100.0),
        (_, Some(v)) => format!("{v:.1}"),
    }
}

/// The terminal table: per model a sparkline over every run, the first, previous and latest
/// values, and the latest change, marked when significant.
pub fn render(t: &Trend) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let cases = t.cases.as_deref().map_or("one-prompt runs and sessions".to_string(), |c| {
        std::path::Path::new(c).file_name().map_or(c.to_string(), |n| n.to_string_lossy().into_owned())
    });
    let _ = writeln!(
        o,
        "{} ({}) · {} · {} run(s) from {} to {}",
        t.metric.name(),
        t.unit,
        crate::sanitize::sanitize(&cases),
        t.runs.len(),
        t.runs.first().map_or("", |r| r.started_at.as_str()),
        t.runs.last().map_or("", |r| r.started_at.as_str()),
    );
    let _ = writeln!(o);
    let name_w = t.series.iter().map(|s| s.model.chars().count()).max().unwrap_or(5).max(5);
    let spark_w = t.runs.len().clamp(5, 40);
    let _ = writeln!(
        o,
        "{:<name_w$}  {:<spark_w$}  {:>9}  {:>9}  {:>9}  change",
        "model", "runs", "first", "previous", "latest"
    );
    for s in &t.series {
        let values: Vec<Option<f64>> = s.points.iter().map(|p| p.value).collect();
        let spark: String = sparkline(&values).chars().rev().take(40).collect::<Vec<_>>().into_iter().rev().collect();
        let n = values.len();
        let prev = if n >= 2 { values[n - 2] } else { None };
        let change = match &s.change {
            None => "— (one run)".to_string(),
            Some(c) => {
                let rel = c.relative.map(|r| format!("{:+.0}%", r * 100.0)).unwrap_or_else(|| "—".into());
                let mark = if !c.significant {
                    format!("~ not significant ({} cases)", c.cases)
                } else if c.worse {
                    format!("▲ significantly worse ({} cases, p={:.3})", c.cases, c.sign_test_p.unwrap_or(1.0))
                } else {
                    format!("▼ significantly better ({} cases, p={:.3})", c.cases, c.sign_test_p.unwrap_or(1.0))
                };
                format!("{rel} {mark}")
            }
        };
        let _ = writeln!(
            o,
            "{:<name_w$}  {:<spark_w$}  {:>9}  {:>9}  {:>9}  {change}",
            crate::sanitize::sanitize(&s.model),
            spark,
            show(t.metric, values.first().copied().flatten()),
            show(t.metric, prev),
            show(t.metric, values.last().copied().flatten()),
        );
    }
    let _ = writeln!(
        o,
        "\nA change is significant when the per-case differences' 95% bootstrap interval leaves out zero \
         and the sign test agrees (p < 0.05), over the cases both runs have."
    );
    o
}

/// The trend as one self-contained HTML page: a line per model (the reports' colours), its 95%
/// interval as a band where the runs' reports have one, the change table under it. No scripts,
/// no external resources (the same Content-Security-Policy as the reports).
pub fn to_html(t: &Trend) -> String {
    use crate::report::html::{CSS, PALETTE, chart_open, esc};
    use std::fmt::Write;
    let mut o = String::new();
    let title = format!("bakeoff trend: {} ({})", t.metric.name(), t.unit);
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>{CSS}</style></head><body>\n<h1>{}</h1>\n",
        esc(&title),
        esc(&title)
    );
    let cases = t.cases.as_deref().unwrap_or("one-prompt runs and sessions");
    let _ = writeln!(
        o,
        "<p>{} · {} run(s) from {} to {}</p>",
        esc(cases),
        t.runs.len(),
        esc(t.runs.first().map_or("", |r| r.started_at.as_str())),
        esc(t.runs.last().map_or("", |r| r.started_at.as_str()))
    );
    // The chart: runs across (in order), the metric up; bands under lines.
    let (w, h, left, top, bottom, right) = (640.0, 240.0, 70.0, 24.0, 40.0, 150.0);
    let n = t.runs.len().max(1);
    let x = |i: usize| if n == 1 { left + w / 2.0 } else { left + i as f64 / (n - 1) as f64 * w };
    let index = |run: i64| t.runs.iter().position(|r| r.id == run).unwrap_or(0);
    let values: Vec<f64> = t
        .series
        .iter()
        .flat_map(|s| s.points.iter().flat_map(|p| [p.value, p.ci.map(|c| c.lo), p.ci.map(|c| c.hi)]))
        .flatten()
        .filter(|v| v.is_finite())
        .collect();
    let (lo, hi) = values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| (l.min(*v), h.max(*v)));
    let (lo, hi) = if lo.is_finite() { (lo.min(0.0), if hi > lo { hi } else { lo + 1.0 }) } else { (0.0, 1.0) };
    let y = |v: f64| top + (1.0 - (v - lo) / (hi - lo)) * h;
    let mut svg = chart_open(
        &format!("{} per run ({}), band: 95% interval", t.metric.name(), t.unit),
        left + w + right,
        top + h + bottom,
    );
    let _ = write!(
        svg,
        "<line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{b}\" stroke=\"#8c959f\"/><line x1=\"{left}\" y1=\"{b}\" \
         x2=\"{r}\" y2=\"{b}\" stroke=\"#8c959f\"/><text x=\"4\" y=\"{}\">{}</text><text x=\"4\" y=\"{b}\">{}</text>",
        top + 10.0,
        esc(&show(t.metric, Some(hi))),
        esc(&show(t.metric, Some(lo))),
        b = top + h,
        r = left + w,
    );
    for (i, run) in t.runs.iter().enumerate() {
        let _ =
            write!(svg, "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">#{}</text>", x(i), top + h + 16.0, run.id);
    }
    for (k, s) in t.series.iter().enumerate() {
        let color = PALETTE[k % PALETTE.len()];
        let band: Vec<(f64, f64, f64)> =
            s.points.iter().filter_map(|p| p.ci.map(|c| (x(index(p.run)), y(c.lo), y(c.hi)))).collect();
        if band.len() >= 2 {
            let upper: Vec<String> = band.iter().map(|(bx, _, hy)| format!("{bx:.1},{hy:.1}")).collect();
            let lower: Vec<String> = band.iter().rev().map(|(bx, ly, _)| format!("{bx:.1},{ly:.1}")).collect();
            let _ = write!(
                svg,
                "<polygon points=\"{} {}\" fill=\"{color}\" fill-opacity=\"0.15\" stroke=\"none\"/>",
                upper.join(" "),
                lower.join(" ")
            );
        }
        let pts: Vec<(f64, f64, &Point)> = s
            .points
            .iter()
            .filter_map(|p| p.value.filter(|v| v.is_finite()).map(|v| (x(index(p.run)), y(v), p)))
            .collect();
        if pts.len() >= 2 {
            let line: Vec<String> = pts.iter().map(|(px, py, _)| format!("{px:.1},{py:.1}")).collect();
            let _ = write!(
                svg,
                "<polyline points=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"/>",
                line.join(" ")
            );
        }
        for (px, py, p) in &pts {
            let _ = write!(
                svg,
                "<circle cx=\"{px:.1}\" cy=\"{py:.1}\" r=\"3.5\" fill=\"{color}\"><title>{}: {} (run {}, {})</title></circle>",
                esc(&s.model),
                esc(&show(t.metric, p.value)),
                p.run,
                esc(&p.started_at)
            );
        }
        if let Some((px, py, _)) = pts.last() {
            let name: String = s.model.chars().take(18).collect();
            let _ =
                write!(svg, "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"{color}\">{}</text>", px + 8.0, py + 4.0, esc(&name));
        }
    }
    svg.push_str("</svg></figure>");
    let _ = writeln!(o, "<div class=\"charts\">{svg}</div>");
    o.push_str("<h2>Latest change</h2>\n<div class=\"scroll\"><table><thead><tr><th>model</th><th>first</th><th>previous</th><th>latest</th><th>change</th></tr></thead><tbody>\n");
    for s in &t.series {
        let vals: Vec<Option<f64>> = s.points.iter().map(|p| p.value).collect();
        let prev = if vals.len() >= 2 { vals[vals.len() - 2] } else { None };
        let change = match &s.change {
            None => "— (one run)".to_string(),
            Some(c) => {
                let rel = c.relative.map(|r| format!("{:+.0}%", r * 100.0)).unwrap_or_else(|| "—".into());
                let what = match (c.significant, c.worse) {
                    (false, _) => format!("not significant ({} cases)", c.cases),
                    (true, true) => {
                        format!("▲ significantly worse ({} cases, p={:.3})", c.cases, c.sign_test_p.unwrap_or(1.0))
                    }
                    (true, false) => {
                        format!("▼ significantly better ({} cases, p={:.3})", c.cases, c.sign_test_p.unwrap_or(1.0))
                    }
                };
                format!("{rel} {what}")
            }
        };
        let class = match &s.change {
            Some(c) if c.significant && c.worse => " class=\"fail\"",
            Some(c) if c.significant => " class=\"pass\"",
            _ => "",
        };
        let _ = writeln!(
            o,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td{class}>{}</td></tr>",
            esc(&s.model),
            esc(&show(t.metric, vals.first().copied().flatten())),
            esc(&show(t.metric, prev)),
            esc(&show(t.metric, vals.last().copied().flatten())),
            esc(&change)
        );
    }
    o.push_str(
        "</tbody></table></div>\n<p>A change is significant when the per-case differences' 95% bootstrap interval \
         leaves out zero and the sign test agrees (p &lt; 0.05), over the cases both runs have.</p>\n</body></html>\n",
    );
    o
}

/// What the TUI's history view shows: the trends of TTFT p95, acceptance and cost per
/// acceptable answer over the last 90 days, for `models` only.
pub fn overview(store: &Store, models: &[String]) -> Result<String> {
    let mut filter = RunFilter { since: Some(super::parse_since("90d")?), ..Default::default() };
    let runs: Vec<RunRow> = store
        .runs(&filter)?
        .into_iter()
        .filter(|r| r.mode != "load" && r.requests > 0 && r.models.iter().any(|m| models.contains(m)))
        .collect();
    if runs.is_empty() {
        return Ok("none of these models has a run in the results history of the last 90 days".into());
    }
    // The case set these models ran last (a trend over one set's cases), else their one-prompt
    // runs and sessions.
    filter.cases = runs.iter().rev().find_map(|r| r.cases.clone());
    let mut out = String::new();
    let mut cache = HashMap::new();
    for metric in [Metric::TtftP95, Metric::Acceptance, Metric::CostPerAccept] {
        let mut t = trend_cached(store, metric, &filter, None, &mut cache)?;
        t.series.retain(|s| models.contains(&s.model));
        if !t.series.is_empty() {
            // The table without its closing explanation, said once at the end.
            let text = render(&t);
            out.push_str(text.split("\nA change is significant").next().unwrap_or(&text).trim_end());
            out.push_str("\n\n");
        }
    }
    out.push_str("▲/▼: a significant change from the previous run (per case: bootstrap interval and sign test).");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparklines_scale_to_the_series() {
        assert_eq!(sparkline(&[Some(1.0), Some(2.0), None, Some(8.0)]), "▁▂·█");
        assert_eq!(sparkline(&[Some(5.0), Some(5.0)]), "▄▄");
        assert_eq!(sparkline(&[]), "");
    }

    #[test]
    fn alert_rules_name_the_same_metrics() {
        let names: Vec<&str> = Metric::ALL.iter().map(|m| m.name()).collect();
        assert_eq!(names, crate::config::ALERT_METRICS);
    }

    #[test]
    fn metrics_parse_by_name() {
        for m in Metric::ALL {
            assert_eq!(m.name().parse::<Metric>(), Ok(m));
        }
        assert!("ttft".parse::<Metric>().unwrap_err().contains("ttft_p50"));
    }
}
