//! The aggregate of a load run and its summary document.
//!
//! [`Aggregate`] folds finished [`Record`]s (exact counts, HDR histograms, a per-second timeline
//! and a recent window for the live view). [`Summary`] is the versioned document `--json`
//! prints and `--report` saves; it carries its histograms as buckets, so [`merge`] combines
//! shard summaries exactly (bucket counts add; percentiles are recomputed, never averaged).

use super::hist::{Hist, Stat};
use super::plan::{Arrival, Shard, Slo};
use super::record::{Record, us_of_ms};
use crate::metrics::{Definition, Status};
use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write as _;

/// `kind` of a load summary.
pub const KIND: &str = "bakeoff-load";
/// Bump when a field changes meaning or disappears.
pub const LOAD_REPORT_VERSION: u32 = 1;
/// The live view's recent window.
pub const RECENT_S: f64 = 10.0;

/// Exact counters of a group of requests (all, or one model).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    /// Finished requests of any outcome.
    pub requests: u64,
    pub ok: u64,
    pub errors: u64,
    pub cancelled: u64,
    /// `errors` by kind: `http_<status>`, `rate_limited`, `timeout` kinds, `cut`, `malformed`…
    pub error_kinds: BTreeMap<String, u64>,
    /// Requests meeting every SLO bound (0 without `--slo`).
    pub slo_met: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub tokens_estimated: bool,
    /// Sum of the known costs; `cost_unknown` requests had no price.
    pub cost_known_usd: f64,
    pub cost_unknown: u64,
}

/// The histograms of a group (µs). Service times are from the actual send; response times
/// (open loop only) from the intended send.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Hists {
    pub ttfb_us: Hist,
    pub ttft_us: Hist,
    pub latency_us: Hist,
    pub gap_us: Hist,
    pub ttft_response_us: Hist,
    pub latency_response_us: Hist,
    pub send_delay_us: Hist,
    pub proxy_overhead_us: Hist,
}

impl Hists {
    fn merge(&mut self, o: &Hists) {
        self.ttfb_us.merge(&o.ttfb_us);
        self.ttft_us.merge(&o.ttft_us);
        self.latency_us.merge(&o.latency_us);
        self.gap_us.merge(&o.gap_us);
        self.ttft_response_us.merge(&o.ttft_response_us);
        self.latency_response_us.merge(&o.latency_response_us);
        self.send_delay_us.merge(&o.send_delay_us);
        self.proxy_overhead_us.merge(&o.proxy_overhead_us);
    }
}

/// Counters and histograms of a group.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Group {
    pub counts: Counts,
    pub hists: Hists,
}

impl Group {
    fn add(&mut self, r: &Record) {
        let c = &mut self.counts;
        c.requests += 1;
        match r.status {
            Status::Ok => c.ok += 1,
            Status::Cancelled => c.cancelled += 1,
            Status::Error => {
                c.errors += 1;
                *c.error_kinds.entry(r.error_kind.clone().unwrap_or_else(|| "unknown".into())).or_default() += 1;
            }
        }
        c.slo_met += u64::from(r.slo_met == Some(true));
        c.input_tokens += r.input_tokens;
        c.output_tokens += r.output_tokens;
        c.tokens_estimated |= r.tokens_estimated;
        match r.cost_usd.filter(|v| v.is_finite()) {
            Some(v) => c.cost_known_usd += v,
            None => c.cost_unknown += 1,
        }
        let h = &mut self.hists;
        let rec = |h: &mut Hist, v: Option<f64>| {
            if let Some(v) = v.filter(|v| v.is_finite()) {
                h.record(us_of_ms(v));
            }
        };
        // Send delay and proxy overhead describe every request that was sent; the other
        // timings only successful ones (a fast failure is not a fast answer).
        rec(&mut h.send_delay_us, r.send_delay_ms);
        rec(&mut h.proxy_overhead_us, r.proxy_overhead_ms);
        if r.status.is_ok() {
            rec(&mut h.ttfb_us, r.ttfb_ms);
            rec(&mut h.ttft_us, r.ttft_ms);
            rec(&mut h.latency_us, r.latency_ms);
            rec(&mut h.ttft_response_us, r.ttft_response_ms);
            rec(&mut h.latency_response_us, r.latency_response_ms);
            for g in &r.gaps_us {
                h.gap_us.record(*g);
            }
        }
    }

    fn merge(&mut self, o: &Group) {
        let (c, d) = (&mut self.counts, &o.counts);
        c.requests += d.requests;
        c.ok += d.ok;
        c.errors += d.errors;
        c.cancelled += d.cancelled;
        for (k, v) in &d.error_kinds {
            *c.error_kinds.entry(k.clone()).or_default() += v;
        }
        c.slo_met += d.slo_met;
        c.input_tokens += d.input_tokens;
        c.output_tokens += d.output_tokens;
        c.tokens_estimated |= d.tokens_estimated;
        c.cost_known_usd += d.cost_known_usd;
        c.cost_unknown += d.cost_unknown;
        self.hists.merge(&o.hists);
    }

    /// The group as a summary over `elapsed_s` seconds.
    pub fn summarize(&self, model: Option<&str>, elapsed_s: f64, slo: bool) -> GroupSummary {
        let c = &self.counts;
        let per_s = |n: u64| if elapsed_s > 0.0 { round(n as f64 / elapsed_s, 3) } else { 0.0 };
        let judged = c.ok + c.errors;
        GroupSummary {
            model: model.map(str::to_string),
            counts: Counts { cost_known_usd: round(c.cost_known_usd, 9), ..c.clone() },
            cost_usd: (c.cost_unknown == 0).then(|| round(c.cost_known_usd, 9)),
            requests_per_s: per_s(c.requests),
            ok_per_s: per_s(c.ok),
            output_tokens_per_s: per_s(c.output_tokens),
            goodput: slo.then(|| Goodput {
                met: c.slo_met,
                share: if judged > 0 { round(c.slo_met as f64 / judged as f64, 4) } else { 0.0 },
                per_s: per_s(c.slo_met),
            }),
            ttfb_ms: self.hists.ttfb_us.stat(),
            ttft_ms: self.hists.ttft_us.stat(),
            latency_ms: self.hists.latency_us.stat(),
            gap_ms: self.hists.gap_us.stat(),
            ttft_response_ms: self.hists.ttft_response_us.stat(),
            latency_response_ms: self.hists.latency_response_us.stat(),
            send_delay_ms: self.hists.send_delay_us.stat(),
            proxy_overhead_ms: self.hists.proxy_overhead_us.stat(),
            histograms: self.hists.clone(),
        }
    }

    fn from_summary(g: &GroupSummary) -> Group {
        Group { counts: g.counts.clone(), hists: g.histograms.clone() }
    }
}

fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    let r = (x * f).round() / f;
    if r.is_finite() { r } else { 0.0 }
}

/// Requests meeting every SLO bound.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Goodput {
    pub met: u64,
    /// met ÷ (ok + errors); cancelled requests are not judged.
    pub share: f64,
    /// met ÷ elapsed seconds.
    pub per_s: f64,
}

/// One group in the summary.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupSummary {
    /// `null` for the total over all models.
    pub model: Option<String>,
    #[serde(flatten)]
    pub counts: Counts,
    /// Total cost; `null` when any request's price is unknown (see `cost_known_usd`).
    pub cost_usd: Option<f64>,
    pub requests_per_s: f64,
    pub ok_per_s: f64,
    pub output_tokens_per_s: f64,
    pub goodput: Option<Goodput>,
    pub ttfb_ms: Option<Stat>,
    pub ttft_ms: Option<Stat>,
    pub latency_ms: Option<Stat>,
    pub gap_ms: Option<Stat>,
    pub ttft_response_ms: Option<Stat>,
    pub latency_response_ms: Option<Stat>,
    pub send_delay_ms: Option<Stat>,
    pub proxy_overhead_ms: Option<Stat>,
    pub histograms: Hists,
}

/// Completions in one second of the run (by end time).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tick {
    /// Seconds since the start (this bucket covers [t, t+1)).
    pub t: u64,
    pub ok: u64,
    pub errors: u64,
    pub cancelled: u64,
    pub output_tokens: u64,
}

/// How the run was asked for (totals over all shards) and how it went.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// Wall-clock start, RFC 3339 UTC (the earliest shard's, after a merge).
    pub started_at: String,
    /// A unique id per `bakeoff load` process; a merge lists every run it covers, so the same
    /// run merged twice is caught (empty in summaries from before ids).
    #[serde(default)]
    pub run_ids: Vec<String>,
    /// First send → last completion, seconds (the longest shard's, after a merge).
    pub elapsed_s: f64,
    /// Stopped early (Ctrl-C, `q`) in this or any merged shard.
    pub interrupted: bool,
    pub mode: LoopMode,
    pub concurrency: Option<u32>,
    pub rate: Option<f64>,
    pub arrival: Option<Arrival>,
    pub ramp_s: Option<f64>,
    /// The request budget over all shards.
    pub requests: Option<u64>,
    pub duration_s: Option<f64>,
    pub grace_s: f64,
    /// This run's shard (`{index: 0, count: 1}` for a whole run).
    pub shard: Shard,
    /// Shard indices this summary covers (several after a merge).
    pub shards: Vec<u32>,
    pub models: Vec<String>,
    /// Distinct request bodies (prompt or cases) cycled through.
    pub mix_size: u64,
    pub slo: Option<Slo>,
    /// The price table's date (summaries written before it was recorded have none).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub prices_as_of: String,
}

/// The load summary: `bakeoff load --json`, `--report FILE`, `bakeoff report merge`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Always `bakeoff-load`.
    pub kind: String,
    pub load_report_version: u32,
    pub bakeoff_version: String,
    pub generated_at: String,
    pub run: RunInfo,
    pub definitions: Vec<Definition>,
    pub total: GroupSummary,
    /// Per model, in the order given.
    pub models: Vec<GroupSummary>,
    pub timeline: Vec<Tick>,
    pub warnings: Vec<String>,
}

pub const DEFINITIONS: &[(&str, &str)] = &[
    ("ttfb_ms", "service time: request sent → response headers (successful requests)"),
    ("ttft_ms", "service time: request sent → first non-empty text or reasoning delta (successful requests)"),
    ("latency_ms", "service time: request sent → end of stream (successful requests)"),
    (
        "ttft_response_ms/latency_response_ms",
        "open loop only: from the request's intended (scheduled) start instead of its actual send, so time spent \
         waiting behind a slow server or the in-flight cap counts (coordinated-omission correction)",
    ),
    ("send_delay_ms", "open loop only: intended start → actual send (all sent requests)"),
    ("gap_ms", "inter-token latency: time between consecutive content-bearing chunks of successful requests"),
    ("proxy_overhead_ms", "x-litellm-overhead-duration-ms response header, when present"),
    (
        "percentiles",
        "nearest rank from an HDR histogram of microseconds with 3 significant digits (bucket upper bound, \
         ≤0.1% above the sample, capped at the exact max); mean, min, max and counts are exact. Histograms are \
         stored as [value, count] buckets so summaries of shards merge exactly",
    ),
    ("requests_per_s/ok_per_s/output_tokens_per_s", "count ÷ elapsed_s (first send → last completion)"),
    (
        "goodput",
        "requests meeting every --slo bound (response times in open loop, service times in closed loop; failed \
         requests never meet it): share = met ÷ (ok + errors), per_s = met ÷ elapsed_s",
    ),
    ("error_kinds", "errors by kind: http_<status>, rate_limited, connect, *_timeout, cut, malformed, provider"),
    ("cancelled", "requests stopped by Ctrl-C/q or by the end of --duration plus --grace; not judged by the SLO"),
    ("timeline", "completions per second of the run, by end time"),
];

pub fn definitions() -> Vec<Definition> {
    DEFINITIONS.iter().map(|(n, t)| Definition { name: n.to_string(), text: t.to_string() }).collect()
}

/// (end_s, TTFT ms, latency ms) of one recent success.
type RecentEntry = (f64, Option<f64>, Option<f64>);

/// The running aggregate the monitor folds records into.
pub struct Aggregate {
    pub total: Group,
    pub models: Vec<(String, Group)>,
    pub timeline: Vec<Tick>,
    /// (end_s, TTFT ms, latency ms) service times of successes ending in the last [`RECENT_S`].
    recent: VecDeque<RecentEntry>,
    slo: Option<Slo>,
    /// Latest end time seen, seconds since the start.
    pub last_end_s: f64,
}

impl Aggregate {
    pub fn new(models: &[String], slo: Option<Slo>) -> Aggregate {
        Aggregate {
            total: Group::default(),
            models: models.iter().map(|m| (m.clone(), Group::default())).collect(),
            timeline: Vec::new(),
            recent: VecDeque::new(),
            slo,
            last_end_s: 0.0,
        }
    }

    pub fn has_slo(&self) -> bool {
        self.slo.is_some()
    }

    /// Folds one record (and fills in its `slo_met`).
    pub fn add(&mut self, r: &mut Record) {
        if let Some(slo) = &self.slo
            && r.status != Status::Cancelled
        {
            r.slo_met = Some(slo.met(r.status.is_ok(), r.ttfb_user_ms(), r.ttft_user_ms(), r.latency_user_ms()));
        }
        self.total.add(r);
        match self.models.iter_mut().find(|(m, _)| *m == r.model) {
            Some((_, g)) => g.add(r),
            None => {
                let mut g = Group::default();
                g.add(r);
                self.models.push((r.model.clone(), g));
            }
        }
        let end = r.end_s.unwrap_or(self.last_end_s).max(0.0);
        self.last_end_s = self.last_end_s.max(end);
        let t = end as u64;
        if self.timeline.len() <= t as usize {
            self.timeline.resize_with(t as usize + 1, Tick::default);
            for (k, tick) in self.timeline.iter_mut().enumerate() {
                tick.t = k as u64;
            }
        }
        let tick = &mut self.timeline[t as usize];
        match r.status {
            Status::Ok => tick.ok += 1,
            Status::Cancelled => tick.cancelled += 1,
            Status::Error => tick.errors += 1,
        }
        tick.output_tokens += r.output_tokens;
        if r.status.is_ok() {
            // Service times, like the run-wide TTFT/latency rows they sit next to.
            self.recent.push_back((end, r.ttft_ms, r.latency_ms));
        }
    }

    /// Drops recent entries older than the window before `now_s`.
    pub fn trim_recent(&mut self, now_s: f64) {
        while self.recent.front().is_some_and(|(t, _, _)| *t < now_s - RECENT_S) {
            self.recent.pop_front();
        }
    }

    /// p50/p95/p99 (ms) of TTFT and latency over the recent window.
    pub fn recent_percentiles(&self) -> (Option<[f64; 3]>, Option<[f64; 3]>) {
        let pick = |f: fn(&RecentEntry) -> Option<f64>| {
            let mut v: Vec<f64> = self.recent.iter().filter_map(f).collect();
            if v.is_empty() {
                return None;
            }
            let mut q = |q: f64| {
                let k = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
                *v.select_nth_unstable_by(k, f64::total_cmp).1
            };
            Some([q(0.50), q(0.95), q(0.99)])
        };
        (pick(|r| r.1), pick(|r| r.2))
    }

    pub fn summary(&self, run: RunInfo, generated_at: String) -> Summary {
        let elapsed = run.elapsed_s;
        let slo = run.slo.is_some();
        Summary {
            kind: KIND.into(),
            load_report_version: LOAD_REPORT_VERSION,
            bakeoff_version: env!("CARGO_PKG_VERSION").into(),
            generated_at,
            definitions: definitions(),
            total: self.total.summarize(None, elapsed, slo),
            models: self.models.iter().map(|(m, g)| g.summarize(Some(m), elapsed, slo)).collect(),
            timeline: self.timeline.clone(),
            warnings: Vec::new(),
            run,
        }
    }
}

/// How requests were started: `closed` (C workers, each starting its next request when one
/// ends) or `open` (R per second whatever the server does). Spelled so in the summary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoopMode {
    Closed,
    Open,
}

/// Whether `path` holds a `bakeoff load` summary (rather than a session report or journal).
pub fn is_load_summary(path: &std::path::Path) -> bool {
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .is_some_and(|v| v.get("kind").and_then(|k| k.as_str()) == Some("bakeoff-load"))
}

/// Reads and checks a saved summary.
pub fn load(path: &std::path::Path) -> Result<Summary> {
    use anyhow::Context;
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let v: serde_json::Value = serde_json::from_str(&text).with_context(|| format!("{}: not JSON", path.display()))?;
    if v.get("kind").and_then(|k| k.as_str()) != Some(KIND) {
        bail!("{}: not a bakeoff load summary (kind is not {KIND:?})", path.display());
    }
    match v.get("load_report_version").and_then(|v| v.as_u64()) {
        Some(n) if n == u64::from(LOAD_REPORT_VERSION) => {}
        other => bail!(
            "{}: load_report_version {} is not supported (this bakeoff reads {LOAD_REPORT_VERSION})",
            path.display(),
            other.map_or("(missing)".to_string(), |n| n.to_string())
        ),
    }
    serde_json::from_value(v).with_context(|| format!("{}: not a valid load summary", path.display()))
}

/// Combines shard summaries exactly: counts and histogram buckets add, timelines add per second,
/// elapsed is the longest shard's (shards run side by side), and every figure is recomputed
/// from the merged data.
pub fn merge(parts: &[Summary], generated_at: String) -> Result<Summary> {
    let Some(first) = parts.first() else { bail!("nothing to merge") };
    let mut warnings: Vec<String> = parts.iter().flat_map(|p| p.warnings.iter().cloned()).collect();
    let mut ids = BTreeSet::new();
    for id in parts.iter().flat_map(|p| &p.run.run_ids) {
        if !ids.insert(id) {
            bail!("run {id} appears twice: the same load summary (or one merged into another) was given twice");
        }
    }
    let mut shards = BTreeSet::new();
    for p in parts {
        let same = |a: &RunInfo, b: &RunInfo| {
            a.mode == b.mode
                && a.concurrency == b.concurrency
                && a.rate == b.rate
                && a.requests == b.requests
                && a.duration_s == b.duration_s
                && a.slo == b.slo
                && a.shard.count == b.shard.count
        };
        if !same(&p.run, &first.run) {
            warnings.push(format!(
                "runs differ in shape, bounds, SLO or shard count (started {} and {}); merged anyway",
                first.run.started_at, p.run.started_at
            ));
        }
        if p.run.shard.count > 1 {
            for s in &p.run.shards {
                if !shards.insert(*s) {
                    bail!("shard {s}/{} appears twice; merge each shard's summary once", p.run.shard.count);
                }
            }
        }
    }
    let count = first.run.shard.count;
    if count > 1 && shards.len() < count as usize {
        let missing: Vec<String> = (0..count).filter(|i| !shards.contains(i)).map(|i| i.to_string()).collect();
        warnings
            .push(format!("shards {} of {count} are missing: the totals cover part of the load", missing.join(", ")));
    }
    let mut total = Group::default();
    let mut models: Vec<(String, Group)> = Vec::new();
    let mut timeline: Vec<Tick> = Vec::new();
    for p in parts {
        total.merge(&Group::from_summary(&p.total));
        for m in &p.models {
            let name = m.model.clone().unwrap_or_default();
            match models.iter_mut().find(|(n, _)| *n == name) {
                Some((_, g)) => g.merge(&Group::from_summary(m)),
                None => models.push((name, Group::from_summary(m))),
            }
        }
        for t in &p.timeline {
            if timeline.len() <= t.t as usize {
                timeline.resize_with(t.t as usize + 1, Tick::default);
            }
            let x = &mut timeline[t.t as usize];
            x.ok += t.ok;
            x.errors += t.errors;
            x.cancelled += t.cancelled;
            x.output_tokens += t.output_tokens;
        }
    }
    for (k, t) in timeline.iter_mut().enumerate() {
        t.t = k as u64;
    }
    let mut run = first.run.clone();
    run.elapsed_s = parts.iter().map(|p| p.run.elapsed_s).fold(0.0, f64::max);
    run.started_at = parts.iter().map(|p| p.run.started_at.clone()).min().unwrap_or_default();
    run.interrupted = parts.iter().any(|p| p.run.interrupted);
    run.run_ids = ids.into_iter().cloned().collect();
    run.shards = parts.iter().flat_map(|p| p.run.shards.iter().copied()).collect::<BTreeSet<_>>().into_iter().collect();
    run.models = models.iter().map(|(m, _)| m.clone()).collect();
    let agg = Aggregate { total, models, timeline, recent: VecDeque::new(), slo: run.slo.clone(), last_end_s: 0.0 };
    let mut s = agg.summary(run, generated_at);
    warnings.dedup();
    s.warnings = warnings;
    Ok(s)
}

fn fmt_ms(v: f64) -> String {
    crate::format::ms_f64(v)
}

/// The summary for a terminal. Every line fits 80 columns (a remote shell in tmux), model names
/// and huge counts aside.
pub fn render_text(s: &Summary) -> String {
    let mut o = String::new();
    write_run(&mut o, s);
    write_timings(&mut o, &s.total);
    write_models(&mut o, s);
    for w in &s.warnings {
        let _ = writeln!(o, "warning: {w}");
    }
    o
}

/// The run's shape, counts, tokens, cost, errors and SLO.
/// The run's shape in words: `closed loop, concurrency 50`, `open loop, 20 req/s poisson, max 64
/// in flight, ramp 10s, shards [0, 1] of 2`.
pub(crate) fn run_shape(r: &RunInfo) -> String {
    let mut shape = match r.mode {
        LoopMode::Closed => format!("closed loop, concurrency {}", r.concurrency.unwrap_or(0)),
        LoopMode::Open => {
            let arrival = match r.arrival {
                Some(Arrival::Poisson) => "poisson",
                _ => "constant",
            };
            let cap = r.concurrency.map(|c| format!(", max {c} in flight")).unwrap_or_default();
            format!("open loop, {} req/s {arrival}{cap}", r.rate.unwrap_or(0.0))
        }
    };
    if let Some(ramp) = r.ramp_s {
        let _ = write!(shape, ", ramp {}", crate::format::secs(ramp));
    }
    if r.shard.count > 1 {
        let _ = write!(shape, ", shards {:?} of {}", r.shards, r.shard.count);
    }
    shape
}

fn write_run(o: &mut String, s: &Summary) {
    let r = &s.run;
    let _ = writeln!(o, "bakeoff load — {}", run_shape(r));
    let _ = writeln!(o, "{} model(s), {} request bodies", r.models.len(), r.mix_size);
    let t = &s.total;
    let c = &t.counts;
    let _ = writeln!(
        o,
        "elapsed {}{}   {:.1} req/s   ok {:.1}/s",
        crate::format::secs(r.elapsed_s),
        if r.interrupted { " (interrupted)" } else { "" },
        t.requests_per_s,
        t.ok_per_s
    );
    let _ = writeln!(o, "requests {} (ok {}, errors {}, cancelled {})", c.requests, c.ok, c.errors, c.cancelled);
    let est = if c.tokens_estimated { "~" } else { "" };
    let _ = writeln!(
        o,
        "tokens: {est}{} out (throughput {:.1} tok/s), {est}{} in   cost {}",
        c.output_tokens,
        t.output_tokens_per_s,
        c.input_tokens,
        match t.cost_usd {
            Some(v) => crate::format::usd(Some(v)),
            None =>
                format!("≥{} ({} requests without a price)", crate::format::usd(Some(c.cost_known_usd)), c.cost_unknown),
        }
    );
    if !c.error_kinds.is_empty() {
        let kinds: Vec<String> = c.error_kinds.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let _ = writeln!(o, "errors: {}", kinds.join(", "));
    }
    if let (Some(slo), Some(g)) = (&r.slo, &t.goodput) {
        let _ = writeln!(
            o,
            "SLO {}: {}/{} met ({:.1}%), goodput {:.2} req/s",
            slo.describe(),
            g.met,
            c.ok + c.errors,
            g.share * 100.0,
            g.per_s
        );
    }
}

/// Percentiles of every timing over all requests.
fn write_timings(o: &mut String, t: &GroupSummary) {
    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "{:<21} {:>7} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6}",
        "", "n", "mean", "p50", "p90", "p95", "p99", "max"
    );
    let rows: [(&str, &Option<Stat>); 8] = [
        ("TTFB", &t.ttfb_ms),
        ("TTFT", &t.ttft_ms),
        ("TTFT from intended", &t.ttft_response_ms),
        ("latency", &t.latency_ms),
        ("latency from intended", &t.latency_response_ms),
        ("send delay", &t.send_delay_ms),
        ("inter-token gap", &t.gap_ms),
        ("proxy overhead", &t.proxy_overhead_ms),
    ];
    for (name, st) in rows {
        if let Some(st) = st {
            let _ = writeln!(
                o,
                "{:<21} {:>7} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6}",
                name,
                st.n,
                fmt_ms(st.mean),
                fmt_ms(st.p50),
                fmt_ms(st.p90),
                fmt_ms(st.p95),
                fmt_ms(st.p99),
                fmt_ms(st.max)
            );
        }
    }
}

/// One row per model, when there are several.
fn write_models(o: &mut String, s: &Summary) {
    let r = &s.run;
    if s.models.len() > 1 {
        let _ = writeln!(o);
        let _ = writeln!(
            o,
            "{:<14} {:>7} {:>6} {:>8} {:>8} {:>8} {:>8} {:>8} {:>16}",
            "model", "req", "err", "req/s", "TTFT p50", "TTFT p99", "lat p50", "lat p99", "throughput tok/s"
        );
        for m in &s.models {
            let p = |st: &Option<Stat>, f: fn(&Stat) -> f64| st.as_ref().map(|s| fmt_ms(f(s))).unwrap_or("—".into());
            let ttft = if m.ttft_response_ms.is_some() { &m.ttft_response_ms } else { &m.ttft_ms };
            let lat = if m.latency_response_ms.is_some() { &m.latency_response_ms } else { &m.latency_ms };
            let _ = writeln!(
                o,
                "{:<14} {:>7} {:>6} {:>8.1} {:>8} {:>8} {:>8} {:>8} {:>16.0}",
                m.model.as_deref().unwrap_or(""),
                m.counts.requests,
                m.counts.errors,
                m.requests_per_s,
                p(ttft, |s| s.p50),
                p(ttft, |s| s.p99),
                p(lat, |s| s.p50),
                p(lat, |s| s.p99),
                m.output_tokens_per_s
            );
        }
        if r.mode == LoopMode::Open {
            let _ = writeln!(o, "(per-model TTFT and latency are measured from the intended start)");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn rec(i: u64, model: &str, status: &str, ttft: f64, latency: f64) -> Record {
        Record {
            i,
            model: model.into(),
            case: None,
            status: status.parse().unwrap(),
            error_kind: (status == "error").then(|| "http_500".into()),
            error: None,
            http_status: None,
            intended_s: Some(i as f64 * 0.1),
            sent_s: Some(i as f64 * 0.1),
            end_s: Some(i as f64 * 0.1 + latency / 1000.0),
            ttfb_ms: Some(ttft / 2.0),
            ttft_ms: Some(ttft),
            latency_ms: (status == "ok").then_some(latency),
            elapsed_ms: Some(latency),
            ttft_response_ms: Some(ttft + 1.0),
            latency_response_ms: (status == "ok").then_some(latency + 1.0),
            send_delay_ms: Some(1.0),
            input_tokens: 10,
            output_tokens: 20,
            tokens_estimated: false,
            tokens_per_s: None,
            cost_usd: Some(0.001),
            proxy_overhead_ms: None,
            slo_met: None,
            request_id: None,
            gaps_us: vec![1000 + i, 2000],
        }
    }

    fn run_info(shard: Shard) -> RunInfo {
        RunInfo {
            started_at: "2026-01-01T00:00:00Z".into(),
            run_ids: vec![format!("test-{}", shard.index)],
            elapsed_s: 10.0,
            interrupted: false,
            mode: LoopMode::Open,
            concurrency: None,
            rate: Some(10.0),
            arrival: Some(Arrival::Constant),
            ramp_s: None,
            requests: Some(100),
            duration_s: None,
            grace_s: 30.0,
            shard,
            shards: vec![shard.index],
            models: vec!["a".into(), "b".into()],
            mix_size: 1,
            slo: Some(Slo { ttfb_ms: None, ttft_ms: Some(300.0), latency_ms: None }),
            prices_as_of: String::new(),
        }
    }

    #[test]
    fn shard_summaries_merge_to_the_whole() {
        let records: Vec<Record> = (0..100)
            .map(|i| {
                let status = if i % 17 == 0 { "error" } else { "ok" };
                rec(i, if i % 2 == 0 { "a" } else { "b" }, status, 100.0 + (i * 37 % 400) as f64, 900.0 + i as f64)
            })
            .collect();
        let slo = Some(Slo { ttfb_ms: None, ttft_ms: Some(300.0), latency_ms: None });
        let models = vec!["a".to_string(), "b".to_string()];
        let mut whole = Aggregate::new(&models, slo.clone());
        for r in &records {
            whole.add(&mut r.clone());
        }
        let whole = whole.summary(run_info(Shard::default()), "now".into());
        let parts: Vec<Summary> = (0..3)
            .map(|k| {
                let shard = Shard { index: k, count: 3 };
                let mut a = Aggregate::new(&models, slo.clone());
                for r in records.iter().filter(|r| r.i % 3 == u64::from(k)) {
                    a.add(&mut r.clone());
                }
                // Through JSON, as the files would go.
                let s = a.summary(run_info(shard), "now".into());
                serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap()
            })
            .collect();
        let merged = merge(&parts, "now".into()).unwrap();
        assert_eq!(merged.total.histograms, whole.total.histograms);
        assert_eq!(merged.total.ttft_ms, whole.total.ttft_ms);
        assert_eq!(merged.total.latency_response_ms, whole.total.latency_response_ms);
        assert_eq!(merged.total.gap_ms, whole.total.gap_ms);
        assert_eq!(merged.total.goodput, whole.total.goodput);
        assert_eq!(merged.total.counts.error_kinds, whole.total.counts.error_kinds);
        assert_eq!(merged.models[1].ttft_ms, whole.models[1].ttft_ms);
        assert_eq!(merged.timeline, whole.timeline);
        assert_eq!(merged.run.shards, vec![0, 1, 2]);
        assert!(merged.warnings.is_empty(), "{:?}", merged.warnings);
        // Missing and duplicated shards are noticed.
        let m = merge(&parts[..2], "now".into()).unwrap();
        assert!(m.warnings[0].contains("missing"), "{:?}", m.warnings);
        assert!(merge(&[parts[0].clone(), parts[0].clone()], "now".into()).is_err());
        let text = render_text(&merged);
        assert!(text.contains("SLO ttft≤300ms") && text.contains("TTFT from intended"), "{text}");
    }

    #[test]
    fn load_summaries_diff_as_reports() {
        let models = vec!["a".to_string(), "b".to_string()];
        let summary_with = |slow_b: f64| {
            let mut agg = Aggregate::new(&models, None);
            for i in 0..40 {
                let (model, k) = if i % 2 == 0 { ("a", 1.0) } else { ("b", slow_b) };
                agg.add(&mut rec(i, model, "ok", 200.0 * k, 1000.0 * k));
            }
            let info =
                RunInfo { prices_as_of: "2026-04-30".into(), concurrency: Some(8), ..run_info(Shard::default()) };
            agg.summary(info, "now".into())
        };
        let dir = tempfile::tempdir().unwrap();
        let (old, new) = (dir.path().join("old.json"), dir.path().join("new.json"));
        std::fs::write(&old, serde_json::to_string(&summary_with(1.0)).unwrap()).unwrap();
        std::fs::write(&new, serde_json::to_string(&summary_with(1.5)).unwrap()).unwrap();
        let (old, new) = (load(&old).unwrap().to_report(), load(&new).unwrap().to_report());
        assert_eq!(old.models.len(), 2);
        // The price table's date and the concurrency travel with the summary.
        assert_eq!((old.prices_as_of.as_str(), old.environment.concurrency), ("2026-04-30", 8));
        assert_eq!((old.models[0].requests, old.models[0].ok, old.models[0].output_tokens), (20, 20, 400));
        // Open loop: the response times (intended start; the fixture adds 1 ms to each).
        assert_eq!(old.models[0].ttft_ms.unwrap().p50, 201.0);
        assert_eq!(old.models[0].acceptance_rate, None);
        let d = crate::report::diff(&old, &new, &crate::report::DiffOptions::default());
        let flagged: Vec<(&str, &str)> =
            d.rows.iter().filter(|r| r.regression).map(|r| (r.model.as_str(), r.metric)).collect();
        assert_eq!(
            flagged,
            [("b", "TTFT p50"), ("b", "TTFT p95"), ("b", "latency p50"), ("b", "latency p95")],
            "{}",
            d.render()
        );
    }

    #[test]
    fn slo_goodput_counts_only_judged_requests() {
        let mut a = Aggregate::new(&["a".into()], Some(Slo { ttfb_ms: None, ttft_ms: Some(200.0), latency_ms: None }));
        for (i, (status, ttft)) in
            [("ok", 100.0), ("ok", 300.0), ("error", 50.0), ("cancelled", 10.0)].iter().enumerate()
        {
            a.add(&mut rec(i as u64, "a", status, *ttft, 500.0));
        }
        let s = a.summary(run_info(Shard::default()), "now".into());
        let g = s.total.goodput.unwrap();
        assert_eq!(g.met, 1);
        assert_eq!(g.share, round(1.0 / 3.0, 4));
        assert_eq!(s.total.counts.cancelled, 1);
        let (ttft, _) = a.recent_percentiles();
        assert_eq!(ttft, Some([100.0, 300.0, 300.0]));
    }
}
