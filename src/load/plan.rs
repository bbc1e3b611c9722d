//! The load shape as data: closed or open loop, ramp, bounds, shard, SLO — and the pure maths
//! behind them (arrival times, shard shares), so they are tested without a runtime.

use anyhow::{Result, bail};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How requests are paced.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Shape {
    /// `concurrency` workers, each sending its next request when the previous one ends.
    Closed { concurrency: u32 },
    /// Requests start on a schedule of `rate` per second whatever the server does; latency is
    /// also measured from the scheduled (intended) time. `max_in_flight` optionally caps open
    /// requests: a request over the cap waits (and that wait counts in its response time).
    Open { rate: f64, arrival: Arrival, max_in_flight: Option<u32> },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Arrival {
    /// Evenly spaced.
    Constant,
    /// Exponential gaps (a Poisson process), like independent users.
    Poisson,
}

/// `--shard i/N`: this process runs part `i` (0-based) of `N`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Default for Shard {
    fn default() -> Self {
        Shard { index: 0, count: 1 }
    }
}

impl Shard {
    pub fn parse(s: &str) -> Result<Shard> {
        let Some((i, n)) = s.split_once('/') else {
            bail!("--shard {s:?}: expected i/N, e.g. 0/4 (i is 0-based, as JOB_COMPLETION_INDEX)");
        };
        let (Ok(index), Ok(count)) = (i.trim().parse::<u32>(), n.trim().parse::<u32>()) else {
            bail!("--shard {s:?}: i and N must be whole numbers, e.g. 0/4");
        };
        if count == 0 || index >= count {
            bail!("--shard {s:?}: need 0 ≤ i < N (i is 0-based)");
        }
        Ok(Shard { index, count })
    }

    /// This shard's part of `total`: the global indices `index, index+N, index+2N…` below `total`.
    pub fn share(&self, total: u64) -> u64 {
        let (i, n) = (u64::from(self.index), u64::from(self.count));
        total / n + u64::from(i < total % n)
    }

    /// The global request index of this shard's `local`-th request.
    pub fn global(&self, local: u64) -> u64 {
        local * u64::from(self.count) + u64::from(self.index)
    }

    pub fn is_whole(&self) -> bool {
        self.count == 1
    }
}

/// Everything about how a run is shaped and bounded (already divided for this shard).
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub shape: Shape,
    /// Concurrency or rate grows linearly from ~0 to the target over this time.
    pub ramp: Option<Duration>,
    /// This shard's request budget.
    pub requests: Option<u64>,
    pub duration: Option<Duration>,
    /// After `duration`, requests still open may finish for this long, then they are cancelled.
    pub grace: Duration,
    pub shard: Shard,
    pub seed: u64,
    /// Closed-loop workers run on this many threads, each with its own single-threaded runtime;
    /// 0 (the default): on the caller's runtime (work-stealing, one thread per core). Measured
    /// on loopback with the mock on the same 2 cores, the shared runtime was the better default:
    /// 15.5 vs 19.8 µs of client CPU per request, and the server was preempted a tenth as often
    /// (0.02 vs 0.22 times per request), because idle workers park instead of each thread
    /// polling its own sockets.
    pub threads: usize,
}

impl Plan {
    /// Checks bounds and shape; divides the budget, concurrency and rate for the shard. Closed
    /// loop starts no more workers than there are requests to send.
    /// `requests`, `concurrency` and `rate` are the totals over all shards.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        concurrency: Option<u32>,
        rate: Option<f64>,
        arrival: Arrival,
        ramp: Option<Duration>,
        requests: Option<u64>,
        duration: Option<Duration>,
        grace: Duration,
        shard: Shard,
        seed: u64,
    ) -> Result<Plan> {
        if requests.is_none() && duration.is_none() {
            bail!("a load run must be bounded: pass --requests N and/or --duration D (e.g. --duration 60s)");
        }
        if requests == Some(0) {
            bail!("--requests must be at least 1");
        }
        if duration.is_some_and(|d| d.is_zero()) {
            bail!("--duration must be positive");
        }
        let n = shard.count;
        let shape = match (concurrency, rate) {
            (None, None) => {
                bail!("choose a load shape: --concurrency C (closed loop) or --rate R requests/s (open loop)")
            }
            (Some(0), _) => bail!("--concurrency must be at least 1"),
            (Some(c), _) if c > MAX_CONCURRENCY => {
                bail!(
                    "--concurrency {c} is above the maximum of {MAX_CONCURRENCY} (shard the load over machines with --shard)"
                )
            }
            (_, Some(r)) if r > MAX_RATE => {
                bail!("--rate {r} is above the maximum of {MAX_RATE} requests/s (shard the load with --shard)")
            }
            (c, Some(r)) => {
                if !(r.is_finite() && r > 0.0) {
                    bail!("--rate must be a positive number of requests per second");
                }
                let cap = match c {
                    Some(c) if c < n => bail!("--concurrency {c} cannot be split over {n} shards"),
                    Some(c) => Some(shard.share(u64::from(c)) as u32),
                    None => None,
                };
                Shape::Open { rate: r / f64::from(n), arrival, max_in_flight: cap }
            }
            (Some(c), None) => {
                if c < n {
                    bail!("--concurrency {c} cannot be split over {n} shards (each needs at least 1)");
                }
                Shape::Closed { concurrency: shard.share(u64::from(c)) as u32 }
            }
        };
        let requests = match requests {
            Some(r) if shard.share(r) == 0 => bail!("--requests {r} is fewer than the {n} shards"),
            Some(r) => Some(shard.share(r)),
            None => None,
        };
        // A worker beyond the request budget would never send anything.
        let shape = match (shape, requests) {
            (Shape::Closed { concurrency }, Some(r)) => {
                Shape::Closed { concurrency: concurrency.min(u32::try_from(r).unwrap_or(u32::MAX)) }
            }
            (shape, _) => shape,
        };
        Ok(Plan { shape, ramp: ramp.filter(|r| !r.is_zero()), requests, duration, grace, shard, seed, threads: 0 })
    }

    /// When closed-loop worker `w` of `c` starts: spread evenly over the ramp.
    pub fn worker_start(&self, w: u32, c: u32) -> Duration {
        match self.ramp {
            Some(r) => r.mul_f64(f64::from(w) / f64::from(c.max(1))),
            None => Duration::ZERO,
        }
    }

    /// The open-loop schedule for this shard (an endless iterator of offsets from the start).
    pub fn arrivals(&self) -> Arrivals {
        let (rate, arrival) = match self.shape {
            Shape::Open { rate, arrival, .. } => (rate, arrival),
            Shape::Closed { .. } => (1.0, Arrival::Constant),
        };
        let seed = self.seed ^ u64::from(self.shard.index).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        Arrivals {
            rate,
            total_rate: rate * f64::from(self.shard.count),
            ramp: self.ramp.map_or(0.0, |r| r.as_secs_f64()),
            arrival,
            shard: self.shard,
            k: 0,
            sum: 0.0,
            rng: StdRng::seed_from_u64(seed),
        }
    }
}

/// Intended start times of an open-loop run, offsets from the run's start.
///
/// The rate ramps linearly from 0 to the target over `ramp`, so the expected number of arrivals
/// by `t` is Λ(t) = R·t²/(2·ramp) during the ramp and R·ramp/2 + R·(t − ramp) after. Constant
/// arrivals put request k at Λ⁻¹(k); Poisson ones at Λ⁻¹(S_k) with S_k a unit-rate Poisson
/// process (time change), which is exact for the time-varying rate too. A constant-rate shard
/// takes every N-th slot of the *whole* schedule, so N shards together send exactly what one
/// machine would (no bursts of N simultaneous requests); Poisson shards are independent
/// processes of rate R/N, whose union is a Poisson process of rate R.
pub struct Arrivals {
    rate: f64,
    total_rate: f64,
    ramp: f64,
    arrival: Arrival,
    shard: Shard,
    k: u64,
    sum: f64,
    rng: StdRng,
}

/// Λ⁻¹(x) for rate `r` and ramp `ramp` seconds.
fn inverse(x: f64, r: f64, ramp: f64) -> f64 {
    let during = r * ramp / 2.0;
    if ramp > 0.0 && x < during { (2.0 * ramp * x / r).sqrt() } else { ramp + (x - during) / r }
}

impl Iterator for Arrivals {
    type Item = Duration;
    fn next(&mut self) -> Option<Duration> {
        let t = match self.arrival {
            Arrival::Constant => {
                let slot = self.shard.global(self.k) as f64;
                inverse(slot, self.total_rate, self.ramp)
            }
            Arrival::Poisson => {
                let u: f64 = self.rng.random();
                self.sum += -(1.0 - u).ln();
                inverse(self.sum, self.rate, self.ramp)
            }
        };
        self.k += 1;
        Some(Duration::from_secs_f64(t.max(0.0)))
    }
}

/// Parses `500ms`, `1.5s`, `2m`, `1h`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let (num, mult) = if let Some(n) = t.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = t.strip_suffix('h') {
        (n, 3600.0)
    } else {
        (t, 1.0)
    };
    match num.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 && v * mult < 1e9 => Ok(Duration::from_secs_f64(v * mult)),
        _ => Err(format!("{s:?} is not a duration; use e.g. 500ms, 30s, 2m")),
    }
}

/// Most closed-loop workers (or open-loop requests in flight) one process runs: each holds a
/// connection, and a machine's descriptors and ports run out long before this.
pub const MAX_CONCURRENCY: u32 = 100_000;
/// Highest open-loop rate one process schedules, requests per second.
pub const MAX_RATE: f64 = 1_000_000.0;

/// Service-level bounds a request must all meet to count as good.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Slo {
    pub ttfb_ms: Option<f64>,
    pub ttft_ms: Option<f64>,
    pub latency_ms: Option<f64>,
}

impl Slo {
    /// `ttft=500ms,latency=10s` (keys: ttfb, ttft, latency).
    pub fn parse(s: &str) -> Result<Slo> {
        let mut slo = Slo::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((k, v)) = part.split_once('=') else {
                bail!("--slo {part:?}: expected KEY=DURATION, e.g. ttft=500ms,latency=10s");
            };
            let d = parse_duration(v).map_err(|e| anyhow::anyhow!("--slo {k}: {e}"))?;
            let ms = Some(d.as_secs_f64() * 1000.0);
            let slot = match k.trim() {
                "ttfb" => &mut slo.ttfb_ms,
                "ttft" => &mut slo.ttft_ms,
                "latency" => &mut slo.latency_ms,
                other => bail!("--slo: unknown bound {other:?}; use ttfb, ttft, latency"),
            };
            if slot.is_some() {
                bail!("--slo: {k} is given twice");
            }
            *slot = ms;
        }
        if slo == Slo::default() {
            bail!("--slo is empty; e.g. --slo ttft=500ms,latency=10s");
        }
        Ok(slo)
    }

    /// Whether a finished request met every bound. Times are the request's *response* times
    /// (from the intended send) when it has them, else its service times. Failed ⇒ false.
    pub fn met(&self, ok: bool, ttfb_ms: Option<f64>, ttft_ms: Option<f64>, latency_ms: Option<f64>) -> bool {
        let within = |bound: Option<f64>, v: Option<f64>| bound.is_none_or(|b| v.is_some_and(|v| v <= b));
        ok && within(self.ttfb_ms, ttfb_ms) && within(self.ttft_ms, ttft_ms) && within(self.latency_ms, latency_ms)
    }

    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        for (k, v) in [("ttfb", self.ttfb_ms), ("ttft", self.ttft_ms), ("latency", self.latency_ms)] {
            if let Some(v) = v {
                parts.push(format!("{k}≤{}", crate::format::ms(Duration::from_secs_f64(v / 1000.0))));
            }
        }
        parts.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(c: Option<u32>, r: Option<f64>, n: Option<u64>, d: Option<u64>, shard: &str) -> Result<Plan> {
        Plan::new(
            c,
            r,
            Arrival::Constant,
            None,
            n,
            d.map(Duration::from_secs),
            Duration::from_secs(1),
            Shard::parse(shard)?,
            7,
        )
    }

    #[test]
    fn bounds_and_shapes_are_checked() {
        assert!(plan(Some(4), None, None, None, "0/1").unwrap_err().to_string().contains("bounded"));
        assert!(plan(None, None, Some(5), None, "0/1").unwrap_err().to_string().contains("shape"));
        assert!(plan(Some(0), None, Some(5), None, "0/1").is_err());
        assert!(plan(None, Some(-1.0), Some(5), None, "0/1").is_err());
        assert!(Shard::parse("4/4").is_err() && Shard::parse("x").is_err() && Shard::parse("1/0").is_err());
        let p = plan(Some(2), Some(10.0), Some(5), None, "0/1").unwrap();
        assert_eq!(p.shape, Shape::Open { rate: 10.0, arrival: Arrival::Constant, max_in_flight: Some(2) });
    }

    #[test]
    fn shards_split_budget_concurrency_and_rate() {
        let shares: Vec<u64> = (0..3).map(|i| Shard { index: i, count: 3 }.share(10)).collect();
        assert_eq!(shares, vec![4, 3, 3]);
        let p = plan(Some(10), None, Some(10), None, "2/3").unwrap();
        assert_eq!(p.requests, Some(3));
        assert_eq!(p.shape, Shape::Closed { concurrency: 3 });
        let p = plan(None, Some(30.0), None, Some(5), "1/3").unwrap();
        assert!(matches!(p.shape, Shape::Open { rate, .. } if (rate - 10.0).abs() < 1e-9));
        // Shards' global indices partition 0..N.
        let mut all: Vec<u64> = (0..3)
            .flat_map(|i| {
                let s = Shard { index: i, count: 3 };
                (0..s.share(10)).map(move |k| s.global(k))
            })
            .collect();
        all.sort();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        assert!(plan(Some(2), None, Some(10), None, "0/3").is_err());
    }

    #[test]
    fn constant_arrivals_interleave_across_shards() {
        let one: Vec<Duration> = plan(None, Some(100.0), Some(6), None, "0/1").unwrap().arrivals().take(6).collect();
        assert_eq!(one[1], Duration::from_millis(10));
        let a: Vec<Duration> = plan(None, Some(100.0), Some(6), None, "0/2").unwrap().arrivals().take(3).collect();
        let b: Vec<Duration> = plan(None, Some(100.0), Some(6), None, "1/2").unwrap().arrivals().take(3).collect();
        let mut both = [a, b].concat();
        both.sort();
        assert_eq!(both, one);
    }

    #[test]
    fn ramp_and_poisson_hit_the_rate() {
        // Ramp 10 s to 100/s: 500 arrivals during the ramp, then 100/s.
        let mut p = plan(None, Some(100.0), None, Some(60), "0/1").unwrap();
        p.ramp = Some(Duration::from_secs(10));
        let ts: Vec<f64> = p.arrivals().take(1501).map(|d| d.as_secs_f64()).collect();
        assert!((ts[500] - 10.0).abs() < 1e-6, "{}", ts[500]);
        assert!((ts[1500] - 20.0).abs() < 1e-6, "{}", ts[1500]);
        assert!(ts[125] > 4.9 && ts[125] < 5.1, "quarter of the ramp's arrivals by half-time: {}", ts[125]);
        let mut p = plan(None, Some(200.0), None, Some(60), "0/1").unwrap();
        p.shape = Shape::Open { rate: 200.0, arrival: Arrival::Poisson, max_in_flight: None };
        let n = p.arrivals().take_while(|d| d.as_secs_f64() < 50.0).count();
        assert!((9_500..=10_500).contains(&n), "{n}");
    }

    #[test]
    fn durations_and_slos_parse() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("fast").is_err() && parse_duration("-1s").is_err());
        let s = Slo::parse("ttft=500ms, latency=10s").unwrap();
        assert_eq!((s.ttft_ms, s.latency_ms, s.ttfb_ms), (Some(500.0), Some(10_000.0), None));
        assert!(s.met(true, None, Some(499.0), Some(10_000.0)));
        assert!(!s.met(true, None, Some(501.0), Some(1.0)));
        assert!(!s.met(false, None, Some(1.0), Some(1.0)));
        assert!(!s.met(true, None, None, Some(1.0)));
        assert!(Slo::parse("tps=3").is_err() && Slo::parse("ttft=1s,ttft=2s").is_err() && Slo::parse("").is_err());
        assert_eq!(s.describe(), "ttft≤500ms latency≤10.0s");
    }
}
