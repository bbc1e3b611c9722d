//! Inference for batch runs: percentile bootstrap confidence intervals that resample whole cases
//! (clusters, so the repeats of a case stay together), the paired bootstrap of per-case
//! differences, and the exact two-sided sign test.
//!
//! Every bootstrap draws from its own `StdRng` seeded from the report's seed and a stable key
//! (see [`derive_seed`]), so adding a model or a category does not shift any other interval.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// Confidence level of every interval in a report.
pub const CONFIDENCE: f64 = 0.95;

/// Fewer cases than this: no interval (`null`).
pub const MIN_CASES: usize = 2;

/// A point estimate with its 95% percentile-bootstrap interval over `n` cases.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub estimate: f64,
    pub lo: f64,
    pub hi: f64,
    /// Cases (clusters) the interval rests on.
    pub n: u64,
}

impl Interval {
    /// The interval contains `x`.
    pub fn contains(&self, x: f64) -> bool {
        self.lo <= x && x <= self.hi
    }

    /// The two intervals share at least one point.
    pub fn overlaps(&self, other: &Interval) -> bool {
        self.lo <= other.hi && other.lo <= self.hi
    }

    fn rounded(self, digits: i32) -> Option<Interval> {
        Some(Interval {
            estimate: super::round_to(self.estimate, digits)?,
            lo: super::round_to(self.lo, digits)?,
            hi: super::round_to(self.hi, digits)?,
            n: self.n,
        })
    }
}

/// A seed for one named bootstrap: FNV-1a of `key` mixed into `seed`. FNV rather than the std
/// hasher because its output is fixed forever, and reports must reproduce.
pub fn derive_seed(seed: u64, key: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^ seed
}

/// Nearest-rank percentile (the smallest value with at least `q` of the values at or below it),
/// the same rule the HDR summaries use, on exact values. `None` when empty.
pub fn percentile(values: &[f64], q: f64) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    let (_, x, _) = v.select_nth_unstable_by(rank - 1, f64::total_cmp);
    Some(*x)
}

pub fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// Lower and upper percentile of sorted bootstrap statistics: ranks ⌊α/2·B⌋ and ⌈(1−α/2)·B⌉
/// (1-based ranks +1 and as is), i.e. 51st and 1950th of 2000.
pub(super) fn bounds(sorted: &[f64]) -> Option<(f64, f64)> {
    let b = sorted.len();
    if b == 0 {
        return None;
    }
    let alpha = 1.0 - CONFIDENCE;
    let lo = ((alpha / 2.0 * b as f64).floor() as usize).min(b - 1);
    let hi = (((1.0 - alpha / 2.0) * b as f64).ceil() as usize).clamp(1, b) - 1;
    Some((sorted[lo], sorted[hi]))
}

/// Percentile bootstrap over clusters: each resample draws `clusters.len()` clusters with
/// replacement and applies `stat` to the pooled values of the drawn clusters. Clusters without
/// values are left out beforehand (they carry no information about the statistic). `None` with
/// fewer than [`MIN_CASES`] clusters, no resamples, or a statistic that is not finite.
pub fn cluster_bootstrap(
    clusters: &[Vec<f64>],
    stat: fn(&[f64]) -> Option<f64>,
    resamples: usize,
    seed: u64,
    digits: i32,
) -> Option<Interval> {
    let clusters: Vec<&Vec<f64>> = clusters.iter().filter(|c| !c.is_empty()).collect();
    if clusters.len() < MIN_CASES || resamples == 0 {
        return None;
    }
    let pooled: Vec<f64> = clusters.iter().flat_map(|c| c.iter().copied()).collect();
    let estimate = stat(&pooled)?;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut stats = Vec::with_capacity(resamples);
    let mut pool = Vec::with_capacity(pooled.len() * 2);
    for _ in 0..resamples {
        pool.clear();
        for _ in 0..clusters.len() {
            pool.extend_from_slice(clusters[rng.random_range(0..clusters.len())]);
        }
        stats.push(stat(&pool)?);
    }
    stats.sort_by(f64::total_cmp);
    let (lo, hi) = bounds(&stats)?;
    Interval { estimate, lo, hi, n: clusters.len() as u64 }.rounded(digits)
}

/// Percentile bootstrap of a ratio Σnum ÷ Σden over clusters of (num, den) pairs, e.g. cost per
/// acceptable response. A resample with Σden = 0 counts as +∞ (paying for nothing acceptable);
/// `None` as [`cluster_bootstrap`], and when that puts an end of the interval at infinity.
pub fn ratio_bootstrap(clusters: &[(f64, f64)], resamples: usize, seed: u64, digits: i32) -> Option<Interval> {
    if clusters.len() < MIN_CASES || resamples == 0 {
        return None;
    }
    let ratio = |num: f64, den: f64| if den > 0.0 { num / den } else { f64::INFINITY };
    let (num, den) = clusters.iter().fold((0.0, 0.0), |a, c| (a.0 + c.0, a.1 + c.1));
    let estimate = ratio(num, den);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut stats = Vec::with_capacity(resamples);
    for _ in 0..resamples {
        let (mut n, mut d) = (0.0, 0.0);
        for _ in 0..clusters.len() {
            let c = clusters[rng.random_range(0..clusters.len())];
            n += c.0;
            d += c.1;
        }
        stats.push(ratio(n, d));
    }
    stats.sort_by(f64::total_cmp);
    let (lo, hi) = bounds(&stats)?;
    // `rounded` refuses non-finite values: an unbounded interval is reported as none.
    Interval { estimate, lo, hi, n: clusters.len() as u64 }.rounded(digits)
}

/// Paired bootstrap of the mean of per-case differences: resamples the cases (each difference
/// already pairs the two models on one case).
pub fn paired_bootstrap(diffs: &[f64], resamples: usize, seed: u64, digits: i32) -> Option<Interval> {
    let clusters: Vec<Vec<f64>> = diffs.iter().map(|d| vec![*d]).collect();
    cluster_bootstrap(&clusters, mean, resamples, seed, digits)
}

/// The exact two-sided sign test.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SignTest {
    /// Differences above zero.
    pub positive: u64,
    pub negative: u64,
    /// Exactly zero: dropped from the test.
    pub ties: u64,
    /// P(at least as lopsided | no difference) = min(1, 2·P(X ≤ min(pos, neg))), X ~ Bin(pos+neg, ½);
    /// 1 when every difference is a tie.
    pub p: f64,
}

/// Sign test on differences (ties dropped).
pub fn sign_test(diffs: &[f64]) -> SignTest {
    let positive = diffs.iter().filter(|d| **d > 0.0).count() as u64;
    let negative = diffs.iter().filter(|d| **d < 0.0).count() as u64;
    let ties = diffs.len() as u64 - positive - negative;
    let n = positive + negative;
    let k = positive.min(negative);
    // Σᵢ₌₀ᵏ C(n, i) ÷ 2ⁿ in log space, so large n neither overflows nor underflows early.
    let ln2n = n as f64 * std::f64::consts::LN_2;
    let mut ln_c = 0.0;
    let mut tail = 0.0;
    for i in 0..=k {
        if i > 0 {
            ln_c += ((n - i + 1) as f64).ln() - (i as f64).ln();
        }
        tail += (ln_c - ln2n).exp();
    }
    let p = if n == 0 { 1.0 } else { (2.0 * tail).min(1.0) };
    SignTest { positive, negative, ties, p: super::round_to(p, 6).unwrap_or(1.0) }
}
