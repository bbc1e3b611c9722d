//! Statistics for batch runs (`bakeoff run --cases FILE --repeat N`): repeats folded per case
//! (pass@N, pass^N, distinct answers), per-category figures, bootstrap confidence intervals over
//! cases, paired comparisons between models, and a routing table (cheapest acceptable model per
//! category within bounds).
//!
//! Computed from the report's rounds, so a saved report carries everything needed. A round
//! without a case id counts as a case of its own (`round-N`).

use super::inference::{
    self, Interval, SignTest, cluster_bootstrap, derive_seed, paired_bootstrap, percentile, ratio_bootstrap, sign_test,
};
use super::{ModelStats, RoundReport, round_to, stats};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Cases without a category are reported under this name.
pub const UNCATEGORISED: &str = "uncategorised";

/// Default bootstrap seed, so two reports of the same session agree to the digit.
pub const DEFAULT_SEED: u64 = 0x00BA_4E0F;

/// How the bootstrap intervals are drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootstrapOptions {
    /// Resamples per interval (B).
    pub resamples: usize,
    pub seed: u64,
}

impl Default for BootstrapOptions {
    fn default() -> Self {
        BootstrapOptions { resamples: 2000, seed: DEFAULT_SEED }
    }
}

/// What a model must meet to be routed to.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoutingBounds {
    /// Minimum acceptance rate (0..1) in the category.
    pub min_acceptance: f64,
    /// Maximum TTFT p95 in the category; `None`: no bound.
    pub max_p95_ttft_ms: Option<f64>,
}

impl Default for RoutingBounds {
    fn default() -> Self {
        RoutingBounds { min_acceptance: 0.8, max_p95_ttft_ms: None }
    }
}

/// Everything a batch adds to a report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BatchStats {
    pub cases: u64,
    /// The most repeats any case had (N in pass@N).
    pub max_repeats: u64,
    pub confidence: f64,
    pub bootstrap: BootstrapOptions,
    pub routing_bounds: RoutingBounds,
    /// In report model order.
    pub models: Vec<BatchModel>,
    /// Per case × model, cases in order of first appearance.
    pub repeats: Vec<CaseRepeats>,
    /// Sorted by name, `uncategorised` last.
    pub categories: Vec<CategoryStats>,
    pub comparisons: Vec<Comparison>,
    /// Summary column → models not significantly different from the column's best (`≈`).
    pub tied_with_best: BTreeMap<String, Vec<String>>,
    pub routing: Vec<Route>,
    /// The same rule over all cases (category `all cases`): the overall recommendation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing_overall: Option<Route>,
}

/// One model's repeats of one case.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CaseRepeats {
    pub case_id: String,
    pub category: String,
    pub model: String,
    /// Rounds (repeats) the model took part in.
    pub repeats: u64,
    pub responses: u64,
    pub acceptable: u64,
    pub acceptability_known: u64,
    /// Some repeat was acceptable; `null` when undecided (none acceptable, some unknown).
    pub pass_at_n: Option<bool>,
    /// Every repeat was acceptable; `null` when undecided (none failed, some unknown).
    pub pass_all_n: Option<bool>,
    /// Different successful answers, compared exactly after trimming whitespace.
    pub distinct_answers: u64,
    pub quality_mean: Option<f64>,
}

/// A model across all cases: repeat folding and the overall figures with intervals.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BatchModel {
    pub model: String,
    /// Mean of pass@N over cases where it is decided.
    pub pass_at_n: Option<f64>,
    /// Mean of pass^N over cases where it is decided.
    pub pass_all_n: Option<f64>,
    /// Cases where pass@N ≠ pass^N: sometimes acceptable, sometimes not.
    pub flaky_cases: u64,
    pub flaky: Vec<String>,
    pub overall: GroupStats,
}

/// A model's figures over a set of cases (all cases, or one category).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupStats {
    pub model: String,
    pub cases: u64,
    pub responses: u64,
    pub acceptable: u64,
    pub acceptability_known: u64,
    pub acceptance_rate: Option<f64>,
    pub quality_mean: Option<f64>,
    pub ttft_p50_ms: Option<f64>,
    pub ttft_p95_ms: Option<f64>,
    pub latency_p50_ms: Option<f64>,
    /// All attempts including failed and retried ones; `null` when any price is unknown.
    pub cost_usd: Option<f64>,
    pub cost_known_usd: f64,
    pub cost_complete: bool,
    pub cost_per_acceptable_usd: Option<f64>,
    pub ci: GroupIntervals,
}

/// 95% intervals by case bootstrap; `null` with fewer than 2 cases that have the figure.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupIntervals {
    pub quality_mean: Option<Interval>,
    pub acceptance_rate: Option<Interval>,
    pub ttft_p50_ms: Option<Interval>,
    pub latency_p50_ms: Option<Interval>,
    pub cost_per_acceptable_usd: Option<Interval>,
}

/// Every model in one category.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CategoryStats {
    pub category: String,
    pub cases: u64,
    pub models: Vec<GroupStats>,
}

/// Two models on the cases both ran.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// `quality`, `acceptance`, `ttft_p50` or `latency_p50` (per-case values; see definitions).
    pub metric: String,
    pub a: String,
    pub b: String,
    /// Cases both have a value for.
    pub n: u64,
    /// Mean over cases of a − b.
    pub mean_diff: Option<f64>,
    /// Paired bootstrap interval of the mean difference.
    pub ci: Option<Interval>,
    pub sign_test: SignTest,
    /// The interval excludes 0 and the sign test agrees (p < 0.05).
    pub significant: bool,
    /// The better model when significant (higher quality/acceptance, lower times).
    pub better: Option<String>,
}

/// The routing decision for one category.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Route {
    pub category: String,
    /// Cheapest per acceptable response among the models meeting the bounds.
    pub choice: Option<RouteChoice>,
    /// The next one meeting the bounds.
    pub fallback: Option<RouteChoice>,
    /// The fallback is not clearly dearer: the cost-per-acceptable intervals overlap (or one is
    /// missing), so the choice is cheapest on this sample but not significantly.
    pub fallback_tied: bool,
    /// When nothing meets the bounds: the model that misses them by least.
    pub closest: Option<RouteChoice>,
    /// Why there is no choice, or what to keep in mind about it.
    pub notes: Vec<String>,
}

/// The figures behind a routing decision.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RouteChoice {
    pub model: String,
    pub cases: u64,
    pub responses: u64,
    pub acceptance_rate: Option<f64>,
    pub acceptance_ci: Option<Interval>,
    /// The interval's lower end also meets `min_acceptance`; `null` without an interval.
    pub acceptance_lo_meets_bound: Option<bool>,
    pub ttft_p95_ms: Option<f64>,
    pub cost_per_acceptable_usd: Option<f64>,
    pub cost_per_acceptable_ci: Option<Interval>,
    /// Cost per acceptable response unknown (some price unknown, or nothing acceptable).
    pub cost_unknown: bool,
}

/// One model's rounds of one case, as collected.
#[derive(Default)]
struct Cell {
    rounds: u64,
    responses: u64,
    acceptable: u64,
    known: u64,
    quality: Vec<f64>,
    ttft: Vec<f64>,
    latency: Vec<f64>,
    answers: BTreeSet<String>,
    cost_known: f64,
    cost_unknown: u64,
}

impl Cell {
    fn pass_at_n(&self) -> Option<bool> {
        if self.acceptable > 0 { Some(true) } else { (self.known > 0 && self.known == self.rounds).then_some(false) }
    }

    fn pass_all_n(&self) -> Option<bool> {
        if self.known > self.acceptable {
            Some(false)
        } else {
            (self.known > 0 && self.known == self.rounds).then_some(true)
        }
    }

    /// Per-case values for paired comparisons.
    fn value(&self, metric: Metric) -> Option<f64> {
        match metric {
            Metric::Quality => inference::mean(&self.quality),
            Metric::Acceptance => (self.known > 0).then(|| self.acceptable as f64 / self.known as f64),
            Metric::Ttft => percentile(&self.ttft, 0.5),
            Metric::Latency => percentile(&self.latency, 0.5),
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Metric {
    Quality,
    Acceptance,
    Ttft,
    Latency,
}

impl Metric {
    const ALL: [Metric; 4] = [Metric::Quality, Metric::Acceptance, Metric::Ttft, Metric::Latency];

    fn name(self) -> &'static str {
        match self {
            Metric::Quality => "quality",
            Metric::Acceptance => "acceptance",
            Metric::Ttft => "ttft_p50",
            Metric::Latency => "latency_p50",
        }
    }

    /// The summary column (see [`super::best`]) this metric tests.
    fn column(self) -> &'static str {
        match self {
            Metric::Quality => "quality_mean",
            Metric::Acceptance => "acceptance_rate",
            Metric::Ttft => "ttft_p50_ms",
            Metric::Latency => "latency_p50_ms",
        }
    }

    fn higher_is_better(self) -> bool {
        matches!(self, Metric::Quality | Metric::Acceptance)
    }

    fn digits(self) -> i32 {
        if self.higher_is_better() { 4 } else { 3 }
    }
}

fn p50(v: &[f64]) -> Option<f64> {
    percentile(v, 0.5)
}

/// Batch statistics for a report's rounds; `None` when there are none. In an interactive
/// session (no case ids) each round is its own case — a distinct prompt, the unit the intervals
/// resample — so a session report has a verdict, a matrix and routing as a case set's has.
pub fn compute(
    rounds: &[RoundReport],
    models: &[ModelStats],
    best: &BTreeMap<String, Vec<String>>,
    bootstrap: BootstrapOptions,
    bounds: RoutingBounds,
) -> Option<BatchStats> {
    if rounds.iter().all(|r| r.responses.is_empty()) {
        return None;
    }
    let grid = Grid::fold(rounds, models.iter().map(|m| m.model.as_str()).collect());
    let mut comparisons = Vec::new();
    for metric in Metric::ALL {
        for a in 0..grid.names.len() {
            for b in a + 1..grid.names.len() {
                comparisons.push(compare(metric, grid.names[a], grid.names[b], &grid.cells, a, b, bootstrap));
            }
        }
    }
    let categories = grid.categories(bootstrap);
    let models_stats = grid.models(bootstrap);
    let all = CategoryStats {
        category: "all cases".into(),
        cases: grid.cases.len() as u64,
        models: models_stats.iter().map(|m| m.overall.clone()).collect(),
    };
    Some(BatchStats {
        cases: grid.cases.len() as u64,
        max_repeats: grid.max_repeats,
        confidence: inference::CONFIDENCE,
        bootstrap,
        routing_bounds: bounds,
        models: models_stats,
        repeats: grid.repeats(),
        tied_with_best: ties(models, best, &comparisons),
        routing: categories.iter().map(|c| route(c, bounds)).collect(),
        routing_overall: Some(route(&all, bounds)),
        categories,
        comparisons,
    })
}

/// Every case × model cell of a batch.
struct Grid<'a> {
    names: Vec<&'a str>,
    /// (case id, category), in order of first appearance; the category of its first round.
    cases: Vec<(String, String)>,
    /// `cells[case][model]`.
    cells: Vec<Vec<Cell>>,
    max_repeats: u64,
}

impl<'a> Grid<'a> {
    fn fold(rounds: &[RoundReport], names: Vec<&'a str>) -> Grid<'a> {
        let mut g = Grid { names, cases: Vec::new(), cells: Vec::new(), max_repeats: 0 };
        for round in rounds {
            let id = round.case_id.clone().unwrap_or_else(|| format!("round-{}", round.round));
            let c = match g.cases.iter().position(|(c, _)| *c == id) {
                Some(c) => c,
                None => {
                    let category = round.category.clone().filter(|c| !c.trim().is_empty());
                    g.cases.push((id, category.unwrap_or_else(|| UNCATEGORISED.to_string())));
                    g.cells.push(g.names.iter().map(|_| Cell::default()).collect());
                    g.cases.len() - 1
                }
            };
            for resp in &round.responses {
                let Some(m) = g.names.iter().position(|n| *n == resp.model) else { continue };
                let cell = &mut g.cells[c][m];
                cell.add(resp);
                g.max_repeats = g.max_repeats.max(cell.rounds);
            }
        }
        g
    }

    fn repeats(&self) -> Vec<CaseRepeats> {
        self.cases
            .iter()
            .zip(&self.cells)
            .flat_map(|((id, cat), row)| {
                row.iter().zip(&self.names).filter(|(cell, _)| cell.rounds > 0).map(|(cell, m)| CaseRepeats {
                    case_id: id.clone(),
                    category: cat.clone(),
                    model: m.to_string(),
                    repeats: cell.rounds,
                    responses: cell.responses,
                    acceptable: cell.acceptable,
                    acceptability_known: cell.known,
                    pass_at_n: cell.pass_at_n(),
                    pass_all_n: cell.pass_all_n(),
                    distinct_answers: cell.answers.len() as u64,
                    quality_mean: inference::mean(&cell.quality).and_then(|q| round_to(q, 4)),
                })
            })
            .collect()
    }

    fn models(&self, bootstrap: BootstrapOptions) -> Vec<BatchModel> {
        let rate = |v: Vec<bool>| {
            (!v.is_empty())
                .then(|| v.iter().filter(|b| **b).count() as f64 / v.len() as f64)
                .and_then(|r| round_to(r, 4))
        };
        self.names
            .iter()
            .enumerate()
            .map(|(m, name)| {
                let mine: Vec<(&(String, String), &Cell)> = self
                    .cases
                    .iter()
                    .zip(&self.cells)
                    .map(|(c, row)| (c, &row[m]))
                    .filter(|(_, cell)| cell.rounds > 0)
                    .collect();
                let flaky: Vec<String> = mine
                    .iter()
                    .filter(|(_, cell)| cell.pass_at_n() == Some(true) && cell.pass_all_n() == Some(false))
                    .map(|((id, _), _)| id.clone())
                    .collect();
                BatchModel {
                    model: name.to_string(),
                    pass_at_n: rate(mine.iter().filter_map(|(_, c)| c.pass_at_n()).collect()),
                    pass_all_n: rate(mine.iter().filter_map(|(_, c)| c.pass_all_n()).collect()),
                    flaky_cases: flaky.len() as u64,
                    flaky,
                    overall: group(name, &self.cells.iter().map(|row| &row[m]).collect::<Vec<_>>(), "*", bootstrap),
                }
            })
            .collect()
    }

    fn categories(&self, bootstrap: BootstrapOptions) -> Vec<CategoryStats> {
        let mut category_names: Vec<&str> = self.cases.iter().map(|(_, c)| c.as_str()).collect();
        category_names.sort_by_key(|c| (*c == UNCATEGORISED, *c));
        category_names.dedup();
        category_names
            .iter()
            .map(|cat| {
                let members: Vec<usize> = (0..self.cases.len()).filter(|&c| self.cases[c].1 == *cat).collect();
                CategoryStats {
                    category: cat.to_string(),
                    cases: members.len() as u64,
                    models: self
                        .names
                        .iter()
                        .enumerate()
                        .filter(|(m, _)| members.iter().any(|&c| self.cells[c][*m].rounds > 0))
                        .map(|(m, name)| {
                            let cells: Vec<&Cell> = members.iter().map(|&c| &self.cells[c][m]).collect();
                            group(name, &cells, cat, bootstrap)
                        })
                        .collect(),
                }
            })
            .collect()
    }
}

impl Cell {
    /// One model's response (with its retries) to one round of this case.
    fn add(&mut self, resp: &super::ModelRound) {
        self.rounds += 1;
        for attempt in resp.retries.iter().chain(&resp.result) {
            match attempt.cost_usd.filter(|c| c.is_finite()) {
                Some(v) => self.cost_known += v,
                None => self.cost_unknown += 1,
            }
        }
        let Some(r) = &resp.result else { return };
        self.responses += 1;
        if let Some(ok) = resp.acceptable {
            self.known += 1;
            self.acceptable += u64::from(ok);
        }
        self.quality.extend(resp.quality);
        if r.status.is_ok() {
            self.ttft.extend(r.ttft_ms.filter(|v| v.is_finite()));
            self.latency.extend(r.latency_ms.filter(|v| v.is_finite()));
            self.answers.insert(r.output.trim().to_string());
        }
    }
}

/// A model's figures over `cells` (one per case, possibly empty).
fn group(model: &str, cells: &[&Cell], scope: &str, bs: BootstrapOptions) -> GroupStats {
    let cells: Vec<&Cell> = cells.iter().copied().filter(|c| c.rounds > 0).collect();
    let pooled = |f: fn(&Cell) -> &Vec<f64>| cells.iter().flat_map(|c| f(c).iter().copied()).collect::<Vec<f64>>();
    let (quality, ttft, latency) = (pooled(|c| &c.quality), pooled(|c| &c.ttft), pooled(|c| &c.latency));
    let acceptable: u64 = cells.iter().map(|c| c.acceptable).sum();
    let known: u64 = cells.iter().map(|c| c.known).sum();
    let cost_known: f64 = cells.iter().map(|c| c.cost_known).sum();
    let cost_complete = cells.iter().all(|c| c.cost_unknown == 0);
    let cost = cost_complete.then_some(cost_known);
    let seed = |metric: &str| derive_seed(bs.seed, &format!("{metric}|{scope}|{model}"));
    let clusters = |f: fn(&Cell) -> Vec<f64>| cells.iter().map(|c| f(c)).collect::<Vec<_>>();
    let accept_clusters = clusters(|c| {
        let mut v = vec![1.0; c.acceptable as usize];
        v.resize(c.known as usize, 0.0);
        v
    });
    let ttft_summary = stats::summarize(&ttft);
    GroupStats {
        model: model.to_string(),
        cases: cells.len() as u64,
        responses: cells.iter().map(|c| c.responses).sum(),
        acceptable,
        acceptability_known: known,
        acceptance_rate: (known > 0).then(|| acceptable as f64 / known as f64).and_then(|r| round_to(r, 4)),
        quality_mean: inference::mean(&quality).and_then(|q| round_to(q, 4)),
        ttft_p50_ms: ttft_summary.map(|s| s.p50),
        ttft_p95_ms: ttft_summary.map(|s| s.p95),
        latency_p50_ms: stats::summarize(&latency).map(|s| s.p50),
        cost_usd: cost.and_then(|c| round_to(c, 9)),
        cost_known_usd: round_to(cost_known, 9).unwrap_or(0.0),
        cost_complete,
        cost_per_acceptable_usd: cost.filter(|_| acceptable > 0).and_then(|c| round_to(c / acceptable as f64, 9)),
        ci: GroupIntervals {
            quality_mean: cluster_bootstrap(
                &clusters(|c| c.quality.clone()),
                inference::mean,
                bs.resamples,
                seed("quality"),
                4,
            ),
            acceptance_rate: cluster_bootstrap(&accept_clusters, inference::mean, bs.resamples, seed("acceptance"), 4),
            ttft_p50_ms: cluster_bootstrap(&clusters(|c| c.ttft.clone()), p50, bs.resamples, seed("ttft_p50"), 3),
            latency_p50_ms: cluster_bootstrap(
                &clusters(|c| c.latency.clone()),
                p50,
                bs.resamples,
                seed("latency_p50"),
                3,
            ),
            cost_per_acceptable_usd: cost_complete
                .then(|| {
                    let pairs: Vec<(f64, f64)> = cells.iter().map(|c| (c.cost_known, c.acceptable as f64)).collect();
                    ratio_bootstrap(&pairs, bs.resamples, seed("cost_per_acceptable"), 9)
                })
                .flatten(),
        },
    }
}

fn compare(
    metric: Metric,
    a: &str,
    b: &str,
    cells: &[Vec<Cell>],
    ia: usize,
    ib: usize,
    bs: BootstrapOptions,
) -> Comparison {
    let diffs: Vec<f64> =
        cells.iter().filter_map(|row| Some(row[ia].value(metric)? - row[ib].value(metric)?)).collect();
    let seed = derive_seed(bs.seed, &format!("compare|{}|{a}|{b}", metric.name()));
    let ci = paired_bootstrap(&diffs, bs.resamples, seed, metric.digits());
    let sign = sign_test(&diffs);
    let significant = ci.is_some_and(|c| !c.contains(0.0)) && sign.p < 1.0 - inference::CONFIDENCE;
    let a_higher = ci.is_some_and(|c| c.lo > 0.0);
    let better = significant.then(|| if a_higher == metric.higher_is_better() { a } else { b }.to_string());
    Comparison {
        metric: metric.name().to_string(),
        a: a.to_string(),
        b: b.to_string(),
        n: diffs.len() as u64,
        mean_diff: inference::mean(&diffs).and_then(|d| round_to(d, metric.digits())),
        ci,
        sign_test: sign,
        significant,
        better,
    }
}

/// For each tested summary column: the models with a value there that are not the best but not
/// significantly worse than (any of) the best either.
fn ties(
    models: &[ModelStats],
    best: &BTreeMap<String, Vec<String>>,
    comparisons: &[Comparison],
) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for metric in Metric::ALL {
        let Some(top) = best.get(metric.column()) else { continue };
        let has_value = |m: &ModelStats| match metric {
            Metric::Quality => m.quality_mean.is_some(),
            Metric::Acceptance => m.acceptance_rate.is_some(),
            Metric::Ttft => m.ttft_ms.is_some(),
            Metric::Latency => m.latency_ms.is_some(),
        };
        let tied: Vec<String> = models
            .iter()
            .filter(|m| has_value(m) && !top.contains(&m.model))
            .filter(|m| {
                top.iter().any(|t| {
                    !comparisons.iter().any(|c| {
                        c.metric == metric.name()
                            && c.significant
                            && ((c.a == *t && c.b == m.model) || (c.b == *t && c.a == m.model))
                    })
                })
            })
            .map(|m| m.model.clone())
            .collect();
        if !tied.is_empty() {
            out.insert(metric.column().to_string(), tied);
        }
    }
    out
}

fn choice(g: &GroupStats, bounds: RoutingBounds) -> RouteChoice {
    RouteChoice {
        model: g.model.clone(),
        cases: g.cases,
        responses: g.responses,
        acceptance_rate: g.acceptance_rate,
        acceptance_ci: g.ci.acceptance_rate,
        acceptance_lo_meets_bound: g.ci.acceptance_rate.map(|c| c.lo >= bounds.min_acceptance),
        ttft_p95_ms: g.ttft_p95_ms,
        cost_per_acceptable_usd: g.cost_per_acceptable_usd,
        cost_per_acceptable_ci: g.ci.cost_per_acceptable_usd,
        cost_unknown: g.cost_per_acceptable_usd.is_none(),
    }
}

/// How far a model misses the bounds: the acceptance shortfall plus the relative TTFT excess
/// (unknown figures miss fully). 0 means it meets them.
fn shortfall(g: &GroupStats, bounds: RoutingBounds) -> f64 {
    let acc = (bounds.min_acceptance - g.acceptance_rate.unwrap_or(0.0)).max(0.0);
    let ttft = match bounds.max_p95_ttft_ms {
        None => 0.0,
        Some(max) => match g.ttft_p95_ms {
            Some(p) if max > 0.0 => ((p - max) / max).max(0.0),
            Some(p) => f64::from(u8::from(p > max)),
            None => 1.0,
        },
    };
    acc + ttft
}

fn meets(g: &GroupStats, bounds: RoutingBounds) -> bool {
    g.acceptance_rate.is_some_and(|a| a >= bounds.min_acceptance)
        && bounds.max_p95_ttft_ms.is_none_or(|max| g.ttft_p95_ms.is_some_and(|p| p <= max))
}

pub(super) fn route(cat: &CategoryStats, bounds: RoutingBounds) -> Route {
    let usd = |v: Option<f64>| crate::format::usd(v);
    // Known costs first, cheapest first; unknown costs can never be cheapest.
    let order = |x: &&GroupStats, y: &&GroupStats| {
        let key = |g: &GroupStats| (g.cost_per_acceptable_usd.is_none(), g.cost_per_acceptable_usd.unwrap_or(0.0));
        let (kx, ky) = (key(x), key(y));
        kx.0.cmp(&ky.0)
            .then(kx.1.total_cmp(&ky.1))
            .then(y.acceptance_rate.unwrap_or(0.0).total_cmp(&x.acceptance_rate.unwrap_or(0.0)))
    };
    let mut ok: Vec<&GroupStats> = cat.models.iter().filter(|g| meets(g, bounds)).collect();
    ok.sort_by(order);
    let mut r = Route {
        category: cat.category.clone(),
        choice: ok.first().map(|g| choice(g, bounds)),
        fallback: ok.get(1).map(|g| choice(g, bounds)),
        fallback_tied: false,
        closest: None,
        notes: Vec::new(),
    };
    match (&r.choice, &r.fallback) {
        (None, _) => {
            let closest = cat
                .models
                .iter()
                .min_by(|x, y| shortfall(x, bounds).total_cmp(&shortfall(y, bounds)).then(order(x, y)));
            r.closest = closest.map(|g| choice(g, bounds));
            r.notes.push(match closest {
                Some(g) => format!(
                    "no model meets the bounds; closest: {} (acceptance {}, TTFT p95 {})",
                    g.model,
                    g.acceptance_rate.map_or_else(|| "unknown".into(), |a| format!("{:.0}%", a * 100.0)),
                    super::table::ms(g.ttft_p95_ms)
                ),
                None => "no model ran in this category".into(),
            });
        }
        (Some(c), f) => {
            if c.cost_unknown {
                r.notes.push(format!(
                    "{}: cost per acceptable response unknown; chosen only because no model with a known cost \
                     meets the bounds",
                    c.model
                ));
            }
            if c.acceptance_lo_meets_bound == Some(false) {
                r.notes.push(format!(
                    "{}: acceptance meets {:.0}% on this sample, but its 95% interval reaches below it",
                    c.model,
                    bounds.min_acceptance * 100.0
                ));
            }
            if let Some(f) = f
                && !c.cost_unknown
                && !f.cost_unknown
            {
                r.fallback_tied = match (c.cost_per_acceptable_ci, f.cost_per_acceptable_ci) {
                    (Some(x), Some(y)) => x.overlaps(&y),
                    _ => true,
                };
                if r.fallback_tied {
                    r.notes.push(format!(
                        "{} ≈ {}: {} vs {} per acceptable response is not a significant difference",
                        c.model,
                        f.model,
                        usd(c.cost_per_acceptable_usd),
                        usd(f.cost_per_acceptable_usd)
                    ));
                }
            }
        }
    }
    r
}
