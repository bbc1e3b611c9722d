//! Mergeable HDR histograms that travel as plain data.
//!
//! Every duration of a load run is recorded in microseconds into an [`hdrhistogram`] histogram
//! with 3 significant digits (each value lands in a bucket at most 0.1 % wide). A histogram is
//! saved as a JSON list of `[value, count]` buckets — `value` is the bucket's highest equivalent
//! value — plus the exact count, sum, min and max. Re-recording those buckets rebuilds the very
//! same histogram, so summaries from several shards merge *exactly*: bucket counts add up and
//! the percentiles of the merge are those of one run over all the requests. (Averaging
//! percentiles, the usual shortcut, is simply wrong.) We keep our own JSON shape rather than
//! hdrhistogram's `serialization` feature so a summary stays readable and dependency-free.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Significant digits every load histogram keeps.
pub const SIGFIG: u8 = 3;

/// A latency histogram in microseconds, plus exact count/sum/min/max.
#[derive(Clone, Debug)]
pub struct Hist {
    h: Histogram<u64>,
    sum: u128,
    min: u64,
    max: u64,
}

impl Default for Hist {
    fn default() -> Self {
        Hist::new()
    }
}

impl PartialEq for Hist {
    fn eq(&self, other: &Self) -> bool {
        self.h == other.h && self.sum == other.sum && self.min == other.min && self.max == other.max
    }
}

impl Hist {
    pub fn new() -> Hist {
        // 3 significant digits is within hdrhistogram's 0..=5; with auto-resize `new` cannot fail.
        let h = Histogram::new(SIGFIG).unwrap_or_else(|_| unreachable!("3 significant digits is valid"));
        Hist { h, sum: 0, min: u64::MAX, max: 0 }
    }

    pub fn record(&mut self, us: u64) {
        self.record_n(us, 1);
    }

    fn record_n(&mut self, us: u64, n: u64) {
        if n == 0 {
            return;
        }
        // Auto-resizing: only values beyond hdrhistogram's u64 range fail, which `us` cannot be
        // after the clamp.
        let _ = self.h.record_n(us.min(u64::MAX / 4), n);
        self.sum += u128::from(us) * u128::from(n);
        self.min = self.min.min(us);
        self.max = self.max.max(us);
    }

    pub fn count(&self) -> u64 {
        self.h.len()
    }

    pub fn is_empty(&self) -> bool {
        self.h.is_empty()
    }

    /// Adds every sample of `other`.
    pub fn merge(&mut self, other: &Hist) {
        if other.is_empty() {
            return;
        }
        // Same significant digits on both sides, so this cannot fail.
        let _ = self.h.add(&other.h);
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// Nearest-rank quantile in µs: the bucket's highest equivalent value, capped at the exact max.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        (!self.is_empty()).then(|| self.h.value_at_quantile(q).min(self.max))
    }

    /// Exact mean in µs.
    pub fn mean(&self) -> Option<f64> {
        (!self.is_empty()).then(|| self.sum as f64 / self.count() as f64)
    }

    pub fn min(&self) -> Option<u64> {
        (!self.is_empty()).then_some(self.min)
    }

    pub fn max(&self) -> Option<u64> {
        (!self.is_empty()).then_some(self.max)
    }

    /// Percentile summary in milliseconds; `None` when empty.
    pub fn stat(&self) -> Option<Stat> {
        let ms = |us: u64| us as f64 / 1000.0;
        let q = |q: f64| self.quantile(q).map(ms).unwrap_or(0.0);
        Some(Stat {
            n: self.count(),
            mean: self.mean()?.round() / 1000.0,
            min: ms(self.min()?),
            p50: q(0.50),
            p90: q(0.90),
            p95: q(0.95),
            p99: q(0.99),
            p999: q(0.999),
            max: ms(self.max()?),
        })
    }

    /// `bins` equal-width bins from the minimum to the p99 (the last bin also holds the tail):
    /// (bin lower bound in µs, count). For the live TTFT histogram.
    pub fn bins(&self, bins: usize) -> Vec<(u64, u64)> {
        let (Some(lo), Some(hi)) = (self.min(), self.quantile(0.99)) else { return Vec::new() };
        let bins = bins.max(1);
        let width = (hi.saturating_sub(lo) / bins as u64).max(1);
        let mut out: Vec<(u64, u64)> = (0..bins as u64).map(|i| (lo + i * width, 0)).collect();
        for v in self.h.iter_recorded() {
            let i = ((v.value_iterated_to().saturating_sub(lo)) / width).min(bins as u64 - 1) as usize;
            out[i].1 += v.count_at_value();
        }
        out
    }

    /// The buckets as data.
    pub fn to_data(&self) -> HistData {
        HistData {
            unit: "us".into(),
            significant_digits: SIGFIG,
            count: self.count(),
            sum: self.sum.min(u128::from(u64::MAX)) as u64,
            min: self.min().unwrap_or(0),
            max: self.max().unwrap_or(0),
            buckets: self.h.iter_recorded().map(|v| [v.value_iterated_to(), v.count_at_value()]).collect(),
        }
    }

    /// Rebuilds a histogram from its data, checking that it is consistent.
    pub fn from_data(d: &HistData) -> Result<Hist, String> {
        if d.unit != "us" {
            return Err(format!("histogram unit {:?} is not \"us\"", d.unit));
        }
        if d.significant_digits != SIGFIG {
            return Err(format!(
                "histogram has {} significant digits; this bakeoff merges only {SIGFIG}",
                d.significant_digits
            ));
        }
        let mut h = Histogram::new(SIGFIG).map_err(|e| e.to_string())?;
        let mut n = 0u64;
        for [v, c] in &d.buckets {
            h.record_n(*v, *c).map_err(|e| format!("bucket {v}: {e}"))?;
            n = n.checked_add(*c).ok_or("bucket counts overflow")?;
        }
        if n != d.count {
            return Err(format!("histogram count {} does not match its buckets ({n})", d.count));
        }
        if n > 0 && (d.min > d.max || h.lowest_equivalent(d.max) != h.lowest_equivalent(h.max())) {
            return Err("histogram min/max do not match its buckets".into());
        }
        Ok(Hist { h, sum: u128::from(d.sum), min: if n == 0 { u64::MAX } else { d.min }, max: d.max })
    }
}

/// A histogram as saved in a summary.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistData {
    /// Always `us` (microseconds).
    pub unit: String,
    pub significant_digits: u8,
    pub count: u64,
    /// Exact sum of the samples.
    pub sum: u64,
    pub min: u64,
    pub max: u64,
    /// `[highest equivalent value, count]` per non-empty bucket, ascending.
    pub buckets: Vec<[u64; 2]>,
}

impl Serialize for Hist {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_data().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Hist {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let data = HistData::deserialize(d)?;
        Hist::from_data(&data).map_err(serde::de::Error::custom)
    }
}

/// Percentiles of one metric, in milliseconds (µs resolution). Quantiles are nearest-rank from
/// the histogram (bucket upper bound, ≤ 0.1 % above the sample, capped at the exact max); mean,
/// min and max are exact.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stat {
    pub n: u64,
    pub mean: f64,
    pub min: f64,
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_merges_exactly() {
        let mut all = Hist::new();
        let mut parts = [Hist::new(), Hist::new(), Hist::new()];
        let mut x: u64 = 12345;
        for i in 0..20_000u64 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let v = (x >> 40) % 5_000_000 + i % 7;
            all.record(v);
            parts[(i % 3) as usize].record(v);
        }
        let mut merged = Hist::new();
        for p in &parts {
            let json = serde_json::to_string(p).unwrap();
            let back: Hist = serde_json::from_str(&json).unwrap();
            assert_eq!(&back, p);
            merged.merge(&back);
        }
        assert_eq!(merged, all);
        assert_eq!(merged.stat(), all.stat());
        let s = all.stat().unwrap();
        assert_eq!(s.n, 20_000);
        assert!(s.min <= s.p50 && s.p50 <= s.p99 && s.p99 <= s.max);
    }

    #[test]
    fn quantiles_are_within_precision() {
        let mut h = Hist::new();
        for v in 1..=1000u64 {
            h.record(v * 1000);
        }
        let p50 = h.quantile(0.5).unwrap() as f64;
        assert!((p50 - 500_000.0).abs() / 500_000.0 <= 0.001, "{p50}");
        assert_eq!(h.quantile(1.0), Some(1_000_000));
        assert_eq!(h.mean(), Some(500_500.0));
        let bins = h.bins(10);
        assert_eq!(bins.len(), 10);
        assert_eq!(bins.iter().map(|b| b.1).sum::<u64>(), 1000);
    }

    #[test]
    fn rejects_inconsistent_data() {
        let mut h = Hist::new();
        h.record(10);
        let mut d = h.to_data();
        d.count = 2;
        assert!(Hist::from_data(&d).unwrap_err().contains("count"));
        let mut d = h.to_data();
        d.significant_digits = 2;
        assert!(Hist::from_data(&d).is_err());
        let empty = Hist::from_data(&Hist::new().to_data()).unwrap();
        assert!(empty.stat().is_none());
    }
}
