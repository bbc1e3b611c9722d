//! The live view of a load run: a screen on a terminal ([`LiveScreen`], drawn by
//! `tui::load_view`), a progress line on stderr otherwise. Both show a [`Snapshot`] the monitor
//! builds once per frame from the aggregate; no request task ever touches the UI.

use super::runner::{Live, Monitor};
use super::summary::Aggregate;
use crate::format::ms_f64 as ms;
use anyhow::Result;
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Redraw interval of the terminal view (10 fps: plenty for numbers, cheap on 2 cores).
const FRAME: Duration = Duration::from_millis(100);
/// Window for the "now" rates.
const RATE_WINDOW_S: f64 = 2.0;

/// What the view needs besides the aggregate.
#[derive(Clone, Debug)]
pub struct ViewInfo {
    /// "closed loop, concurrency 32 · 4 models".
    pub title: String,
    /// This shard's request budget.
    pub requests: Option<u64>,
    pub duration: Option<Duration>,
    pub open_loop: bool,
}

/// Everything one frame shows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    pub title: String,
    pub elapsed_s: f64,
    pub done: u64,
    pub total: Option<u64>,
    pub duration_s: Option<f64>,
    pub stopping: bool,
    pub rps_now: f64,
    pub rps_mean: f64,
    pub in_flight: u64,
    pub ok: u64,
    pub errors: u64,
    pub cancelled: u64,
    pub error_kinds: Vec<(String, u64)>,
    pub tokens_per_s: f64,
    pub goodput: Option<(u64, f64)>,
    /// (label, p50/p95/p99 in ms).
    pub rows: Vec<(String, Option<[f64; 3]>)>,
    /// Inter-token gap p50 and p99, ms.
    pub itl: Option<[f64; 2]>,
    /// (bin lower bound ms, count).
    pub ttft_bins: Vec<(String, u64)>,
    pub rps_series: Vec<u64>,
    pub err_series: Vec<u64>,
}

/// Recent (elapsed, done, tokens) samples for the "now" rates.
pub struct Rates {
    samples: VecDeque<(f64, u64, u64)>,
}

impl Default for Rates {
    /// Starts with the run's start: nothing done at 0 s.
    fn default() -> Self {
        Rates { samples: VecDeque::from([(0.0, 0, 0)]) }
    }
}

impl Rates {
    /// Adds a sample; returns (completions/s, tokens/s) over the last [`RATE_WINDOW_S`].
    fn push(&mut self, t: f64, done: u64, tokens: u64) -> (f64, f64) {
        self.samples.push_back((t, done, tokens));
        while self.samples.len() > 2 && self.samples[1].0 <= t - RATE_WINDOW_S {
            self.samples.pop_front();
        }
        let (t0, d0, k0) = self.samples[0];
        let dt = t - t0;
        if dt <= 0.0 { (0.0, 0.0) } else { ((done - d0) as f64 / dt, (tokens.saturating_sub(k0)) as f64 / dt) }
    }
}

fn q3(h: &super::hist::Hist) -> Option<[f64; 3]> {
    let q = |q: f64| h.quantile(q).map(|v| v as f64 / 1000.0);
    Some([q(0.5)?, q(0.95)?, q(0.99)?])
}

/// Builds the frame's snapshot (trims the aggregate's recent window).
pub fn snapshot(
    agg: &mut Aggregate,
    live: &Live,
    info: &ViewInfo,
    elapsed_s: f64,
    stopping: bool,
    rates: &mut Rates,
) -> Snapshot {
    agg.trim_recent(elapsed_s);
    let c = &agg.total.counts;
    let h = &agg.total.hists;
    let (rps_now, tokens_per_s) = rates.push(elapsed_s, c.requests, live.tokens.load(Ordering::Relaxed));
    let (recent_ttft, recent_lat) = agg.recent_percentiles();
    // Labels short enough for the half-width panel at 80 columns; the first word names the metric
    // and rows 0 and 2 are the whole-run TTFT and latency (the progress line uses them). In open
    // loop the coordinated-omission-corrected "response" rows come next: at 24 lines the panel
    // shows five rows, and those matter more there than the last-10 s ones.
    let run = [("TTFT run", q3(&h.ttft_us)), ("latency run", q3(&h.latency_us))];
    let recent = [("TTFT 10s", recent_ttft), ("latency 10s", recent_lat)];
    let rows: Vec<(String, Option<[f64; 3]>)> = if info.open_loop {
        let resp = [("TTFT resp.", q3(&h.ttft_response_us)), ("latency resp.", q3(&h.latency_response_us))];
        [run[0], resp[0], run[1], resp[1], ("send delay", q3(&h.send_delay_us)), recent[0], recent[1]]
            .into_iter()
            .map(|(l, q)| (l.to_string(), q))
            .collect()
    } else {
        [run[0], recent[0], run[1], recent[1]].into_iter().map(|(l, q)| (l.to_string(), q)).collect()
    };
    let itl = match (h.gap_us.quantile(0.5), h.gap_us.quantile(0.99)) {
        (Some(a), Some(b)) => Some([a as f64 / 1000.0, b as f64 / 1000.0]),
        _ => None,
    };
    let ttft_bins = bin_labels(&h.ttft_us.bins(12));
    // The last whole seconds (the current one is still filling).
    let upto = (elapsed_s as usize).min(agg.timeline.len());
    let from = upto.saturating_sub(120);
    let rps_series = agg.timeline[from..upto].iter().map(|t| t.ok + t.errors + t.cancelled).collect();
    let err_series = agg.timeline[from..upto].iter().map(|t| t.errors).collect();
    let judged = c.ok + c.errors;
    Snapshot {
        title: info.title.clone(),
        elapsed_s,
        done: c.requests,
        total: info.requests,
        duration_s: info.duration.map(|d| d.as_secs_f64()),
        stopping,
        rps_now,
        rps_mean: if elapsed_s > 0.0 { c.requests as f64 / elapsed_s } else { 0.0 },
        in_flight: live.in_flight.load(Ordering::Relaxed),
        ok: c.ok,
        errors: c.errors,
        cancelled: c.cancelled,
        error_kinds: c.error_kinds.iter().map(|(k, v)| (k.clone(), *v)).collect(),
        tokens_per_s,
        goodput: agg.has_slo().then(|| (c.slo_met, if judged > 0 { c.slo_met as f64 / judged as f64 } else { 0.0 })),
        rows,
        itl,
        ttft_bins,
        rps_series,
        err_series,
    }
}

/// Progress as a ratio and a label: by requests when bounded by them, else by time.
pub fn progress(s: &Snapshot) -> (f64, String) {
    let by_time = s.duration_s.map(|d| ((s.elapsed_s / d).min(1.0), format!("{:.0}s / {:.0}s", s.elapsed_s, d)));
    let by_count = s.total.map(|t| (s.done as f64 / t.max(1) as f64, format!("{}/{} requests", s.done, t)));
    match (by_count, by_time) {
        // Whichever bound is closer to ending.
        (Some(c), Some(t)) => {
            if c.0 >= t.0 {
                (c.0, format!("{} · {}", c.1, t.1))
            } else {
                (t.0, format!("{} · {}", t.1, c.1))
            }
        }
        (Some(c), None) => (c.0, format!("{} · {:.1}s", c.1, s.elapsed_s)),
        (None, Some(t)) => (t.0, format!("{} · {} done", t.1, s.done)),
        (None, None) => (0.0, format!("{} done", s.done)),
    }
}

/// Histogram bin labels (ms) with as many decimals as the bin width needs to tell bins apart.
fn bin_labels(bins: &[(u64, u64)]) -> Vec<(String, u64)> {
    let width_us = match bins {
        [a, b, ..] => b.0 - a.0,
        _ => 1000,
    };
    let decimals = match width_us {
        w if w >= 1000 => 0,
        w if w >= 100 => 1,
        w if w >= 10 => 2,
        _ => 3,
    };
    // Bins are labelled by their lower bound, so round down.
    let scale = 10f64.powi(decimals as i32);
    bins.iter().map(|(lo, n)| (format!("{:.*}", decimals, (*lo as f64 / 1000.0 * scale).floor() / scale), *n)).collect()
}

/// One progress line for stderr.
pub fn progress_line(s: &Snapshot) -> String {
    let (_, label) = progress(s);
    let q = |i: usize| match s.rows.get(i).and_then(|r| r.1) {
        Some([a, _, c]) => {
            format!("{} p50 {} p99 {}", s.rows[i].0.split_whitespace().next().unwrap_or(""), ms(a), ms(c))
        }
        None => String::new(),
    };
    format!(
        "[{:>6.1}s] {label} · {:.1} req/s (mean {:.1}) · {} in flight · ok {} err {} · {} · {} · throughput {:.0} tok/s",
        s.elapsed_s,
        s.rps_now,
        s.rps_mean,
        s.in_flight,
        s.ok,
        s.errors,
        q(0),
        q(2),
        s.tokens_per_s
    )
}

/// A terminal that shows a load run live. The caller supplies it (the face passes the TUI's
/// load screen): this module folds and builds snapshots, and never touches a terminal itself.
pub trait LiveScreen {
    /// Draws one frame. An error means the terminal went away.
    fn draw(&mut self, snapshot: &Snapshot) -> std::io::Result<()>;
}

/// The live view until every request has reported: a snapshot drawn every [`FRAME`]. If the
/// screen fails, folding goes on to the end so the summary is still complete.
pub async fn run_live(mon: &mut Monitor, info: &ViewInfo, screen: &mut dyn LiveScreen) -> Result<()> {
    let mut rates = Rates::default();
    let mut tick = tokio::time::interval(FRAME);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        let done = mon.drain();
        let elapsed = mon.elapsed_s();
        let stopping = mon.running.stopping();
        let snap = snapshot(&mut mon.agg, &mon.running.live, info, elapsed, stopping, &mut rates);
        if let Err(e) = screen.draw(&snap) {
            mon.run_to_end().await;
            return Err(e.into());
        }
        if done {
            return Ok(());
        }
    }
}

/// Without a terminal: fold continuously, a progress line on stderr every couple of seconds.
pub async fn run_plain(mon: &mut Monitor, info: &ViewInfo, quiet: bool) {
    let mut rates = Rates::default();
    let mut next_line = super::runner::PROGRESS_EVERY.as_secs_f64();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        let done = mon.drain();
        let elapsed = mon.elapsed_s();
        if done {
            break;
        }
        if elapsed >= next_line {
            next_line = elapsed + super::runner::PROGRESS_EVERY.as_secs_f64();
            let stopping = mon.running.stopping();
            let snap = snapshot(&mut mon.agg, &mon.running.live, info, elapsed, stopping, &mut rates);
            if !quiet {
                eprintln!("{}", progress_line(&snap));
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #[test]
    fn short_times_keep_their_precision() {
        assert_eq!([super::ms(0.0423), super::ms(1.37), super::ms(182.4)], ["42µs", "1.4ms", "182ms"]);
        let labels = |bins: &[(u64, u64)]| super::bin_labels(bins).into_iter().map(|(l, _)| l).collect::<Vec<_>>();
        // 0.4 ms bins from 0.25 ms: "0 0 0 1 1 …" before.
        assert_eq!(labels(&[(250, 1), (650, 2), (1050, 3)]), ["0.2", "0.6", "1.0"]);
        assert_eq!(labels(&[(180_000, 1), (200_000, 2)]), ["180", "200"]);
        assert_eq!(labels(&[(1500, 1), (2500, 1)]), ["1", "2"]);
        assert_eq!(labels(&[(40, 1), (45, 1)]), ["0.040", "0.045"]);
    }

    use super::*;

    pub(crate) fn snap() -> Snapshot {
        Snapshot {
            title: "closed loop, concurrency 32 · 4 models".into(),
            elapsed_s: 12.3,
            done: 245,
            total: Some(500),
            rps_now: 21.3,
            rps_mean: 19.9,
            in_flight: 32,
            ok: 240,
            errors: 5,
            error_kinds: vec![("http_500".into(), 3), ("cut".into(), 2)],
            tokens_per_s: 2345.0,
            rows: vec![("TTFT      run".into(), Some([182.0, 230.0, 250.0])), ("latency   run".into(), None)],
            itl: Some([12.0, 40.0]),
            ttft_bins: vec![("180".into(), 10), ("200".into(), 30)],
            rps_series: vec![1, 5, 20, 22],
            err_series: vec![0, 0, 1, 0],
            ..Snapshot::default()
        }
    }

    #[test]
    fn progress_line_reads_well() {
        let l = progress_line(&snap());
        assert!(
            l.contains("245/500 requests") && l.contains("TTFT p50 182ms p99 250ms") && l.contains("32 in flight"),
            "{l}"
        );
        let mut s = snap();
        s.total = None;
        s.duration_s = Some(60.0);
        assert!(progress_line(&s).contains("12s / 60s"), "{}", progress_line(&s));
    }

    #[test]
    fn rates_use_a_sliding_window() {
        let mut r = Rates::default();
        r.push(1.0, 10, 100);
        let (rps, tps) = r.push(2.0, 30, 300);
        assert_eq!((rps, tps), (15.0, 150.0));
        let (rps, _) = r.push(4.0, 30, 300);
        assert_eq!(rps, 0.0);
    }
}
