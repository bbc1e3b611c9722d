//! The statistics behind a report: percentile summaries (HDR histogram), Bradley–Terry ratings
//! (MM algorithm) and Cohen's κ.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Mean and percentiles of a set of durations in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub n: u64,
    /// Exact arithmetic mean, rounded to the microsecond.
    pub mean: f64,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
}

/// Significant digits the histogram keeps (and the percentiles are reported with).
const SIGFIG: u8 = 3;

/// Summarises millisecond values; `None` when there are none. Percentiles come from an HDR
/// histogram of microseconds at 3 significant digits (nearest rank, bucket upper bound), rounded
/// to 3 significant digits so no figure claims more precision than the histogram has.
pub fn summarize(ms: &[f64]) -> Option<Summary> {
    let values: Vec<f64> = ms.iter().copied().filter(|v| v.is_finite()).map(|v| v.max(0.0)).collect();
    if values.is_empty() {
        return None;
    }
    let mut h = Histogram::<u64>::new(SIGFIG).ok()?;
    for v in &values {
        // Auto-resizing histogram: recording only fails beyond u64 range, which `as` saturates below.
        h.record((v * 1000.0).round() as u64).ok()?;
    }
    let q = |q: f64| sig3(h.value_at_quantile(q)) / 1000.0;
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    Some(Summary {
        n: values.len() as u64,
        mean: (mean * 1000.0).round() / 1000.0,
        p50: q(0.50),
        p95: q(0.95),
        p99: q(0.99),
    })
}

/// `v` rounded to 3 significant digits.
fn sig3(v: u64) -> f64 {
    if v < 1000 {
        return v as f64;
    }
    let scale = 10u64.pow(v.ilog10() - 2);
    ((v + scale / 2) / scale * scale) as f64
}

/// A Bradley–Terry fit.
#[derive(Clone, Debug, PartialEq)]
pub struct BtResult {
    /// Sum to 1.
    pub strengths: Vec<f64>,
    /// 1500 + 400·log10(strength ÷ geometric mean).
    pub ratings: Vec<f64>,
    pub iterations: u64,
    pub converged: bool,
}

/// Fits Bradley–Terry strengths for `n` players from `games` = (i, j, score of i) with score 1
/// (i won), 0.5 (tie) or 0 (j won), using Hunter's MM update
/// sᵢ ← Wᵢ ÷ Σⱼ nᵢⱼ ÷ (sᵢ + sⱼ). `prior` virtual tied games are added for every pair, so every
/// strength stays finite and positive even for an unbeaten or winless player.
pub fn bradley_terry(n: usize, games: &[(usize, usize, f64)], prior: f64) -> BtResult {
    let mut wins = vec![0.0; n];
    let mut count = vec![vec![0.0; n]; n];
    for &(i, j, s) in games {
        if i >= n || j >= n || i == j {
            continue;
        }
        wins[i] += s;
        wins[j] += 1.0 - s;
        count[i][j] += 1.0;
        count[j][i] += 1.0;
    }
    for (i, row) in count.iter_mut().enumerate() {
        for (j, c) in row.iter_mut().enumerate() {
            if i != j {
                *c += prior;
                wins[i] += prior / 2.0;
            }
        }
    }
    let mut s = vec![1.0 / n.max(1) as f64; n];
    let (mut iterations, mut converged) = (0, false);
    while iterations < 10_000 {
        iterations += 1;
        let mut next: Vec<f64> = (0..n)
            .map(|i| {
                let denom: f64 = (0..n).filter(|&j| j != i).map(|j| count[i][j] / (s[i] + s[j])).sum();
                if denom > 0.0 { wins[i] / denom } else { s[i] }
            })
            .collect();
        let total: f64 = next.iter().sum();
        if total > 0.0 {
            next.iter_mut().for_each(|v| *v /= total);
        }
        let change = next.iter().zip(&s).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        s = next;
        if change < 1e-12 {
            converged = true;
            break;
        }
    }
    let log_geo = s.iter().map(|v| v.max(f64::MIN_POSITIVE).log10()).sum::<f64>() / n.max(1) as f64;
    let ratings = s.iter().map(|v| 1500.0 + 400.0 * (v.max(f64::MIN_POSITIVE).log10() - log_geo)).collect();
    BtResult { strengths: s, ratings, iterations, converged }
}

/// Cohen's κ on two raters' yes/no decisions.
#[derive(Clone, Debug, PartialEq)]
pub struct Kappa {
    /// `table[a][b]`: rater 1 said yes (a = 0) or no (1), rater 2 yes (b = 0) or no (1).
    pub table: [[u64; 2]; 2],
    pub observed: f64,
    /// `None` when chance agreement is 1 (or there is no data).
    pub kappa: Option<f64>,
}

/// κ = (pₒ − pₑ) ÷ (1 − pₑ) over `pairs` of (rater 1 yes, rater 2 yes).
pub fn cohen_kappa(pairs: &[(bool, bool)]) -> Kappa {
    let mut t = [[0u64; 2]; 2];
    for &(a, b) in pairs {
        t[usize::from(!a)][usize::from(!b)] += 1;
    }
    let n = pairs.len() as f64;
    if pairs.is_empty() {
        return Kappa { table: t, observed: 0.0, kappa: None };
    }
    let f = |v: u64| v as f64 / n;
    let observed = f(t[0][0]) + f(t[1][1]);
    let expected = f(t[0][0] + t[0][1]) * f(t[0][0] + t[1][0]) + f(t[1][0] + t[1][1]) * f(t[0][1] + t[1][1]);
    let kappa = (expected < 1.0 - 1e-12).then(|| (observed - expected) / (1.0 - expected));
    Kappa { table: t, observed, kappa }
}
