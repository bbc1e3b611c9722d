//! Exports for dashboards: every recorded request as CSV or JSON Lines, and each case set's
//! latest run as metrics — OpenMetrics text for files and scrapers, the Prometheus text format
//! for a Pushgateway (the standard route for batch jobs into Prometheus and Grafana).
//!
//! Metric names follow Prometheus conventions: base units (seconds, ratios, USD), `_total` on
//! counters. A figure the run does not have (a price unknown, no acceptability) is left out,
//! never written as 0.

use super::db::vals;
use super::{RunFilter, RunRow, Store};
use crate::report::{self, ModelStats};
use anyhow::Result;
use serde::Serialize;
use std::fmt::Write;

/// One recorded request with its run, as exported.
#[derive(Clone, Debug, Serialize)]
pub struct RequestRow {
    pub run: i64,
    pub run_started_at: String,
    pub label: Option<String>,
    pub cases: Option<String>,
    pub round: i64,
    pub case_id: Option<String>,
    pub category: Option<String>,
    pub repeat: Option<i64>,
    pub model: String,
    pub provider: String,
    pub status: String,
    pub error_kind: Option<String>,
    pub http_status: Option<i64>,
    pub ttfb_ms: Option<f64>,
    pub ttft_ms: Option<f64>,
    pub ttft_answer_ms: Option<f64>,
    pub latency_ms: Option<f64>,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cached_input_tokens: Option<i64>,
    pub tokens_estimated: bool,
    pub tokens_per_s: Option<f64>,
    pub cost_usd: Option<f64>,
    /// An earlier turn of a multi-turn case (its cost counts; its answer is not the case's).
    pub intermediate: bool,
    /// The answer (JSON Lines only; CSV leaves it out).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
}

impl Store {
    /// Every request of the runs `filter` picks, in run and journal order.
    pub fn requests(&self, filter: &RunFilter, with_output: bool) -> Result<Vec<RequestRow>> {
        let mut out = Vec::new();
        self.each_request(filter, with_output, &mut |r| {
            out.push(r);
            Ok(())
        })?;
        Ok(out)
    }

    /// [`Self::requests`] handed over one at a time as the database yields them (an export of a
    /// large history never holds it all).
    pub fn each_request(
        &self,
        filter: &RunFilter,
        with_output: bool,
        each: &mut dyn FnMut(RequestRow) -> Result<()>,
    ) -> Result<()> {
        let runs = self.runs(filter)?;
        for run in &runs {
            self.db.query_each(
                "SELECT q.round, d.case_id, d.category, d.repeat, q.model, q.provider, q.status, q.error_kind, \
                 q.http_status, q.ttfb_ms, q.ttft_ms, q.ttft_answer_ms, q.latency_ms, q.input_tokens, \
                 q.output_tokens, q.cached_input_tokens, q.tokens_estimated, q.tokens_per_s, q.cost_usd, \
                 q.intermediate, q.output \
                 FROM requests q LEFT JOIN rounds d ON d.run_id = q.run_id AND d.round = q.round \
                 WHERE q.run_id = ?1 ORDER BY q.seq",
                vals![run.id],
                &mut |r| {
                    each(RequestRow {
                        run: run.id,
                        run_started_at: run.started_at.clone(),
                        label: run.label.clone(),
                        cases: run.cases.clone(),
                        round: r.int(0)?,
                        case_id: r.opt_text(1)?,
                        category: r.opt_text(2)?,
                        repeat: r.opt_int(3)?,
                        model: r.text(4)?,
                        provider: r.text(5)?,
                        status: r.text(6)?,
                        error_kind: r.opt_text(7)?,
                        http_status: r.opt_int(8)?,
                        ttfb_ms: r.opt_real(9)?,
                        ttft_ms: r.opt_real(10)?,
                        ttft_answer_ms: r.opt_real(11)?,
                        latency_ms: r.opt_real(12)?,
                        input_tokens: r.int(13)?,
                        output_tokens: r.int(14)?,
                        cached_input_tokens: r.opt_int(15)?,
                        tokens_estimated: r.bool(16)?,
                        tokens_per_s: r.opt_real(17)?,
                        cost_usd: r.opt_real(18)?,
                        intermediate: r.bool(19)?,
                        output: if with_output { r.opt_text(20)? } else { None },
                    })
                },
            )?;
        }
        Ok(())
    }
}

/// [`RequestRow`]'s fields but the answer, in order: the CSV header.
const CSV_COLUMNS: [&str; 24] = [
    "run",
    "run_started_at",
    "label",
    "cases",
    "round",
    "case_id",
    "category",
    "repeat",
    "model",
    "provider",
    "status",
    "error_kind",
    "http_status",
    "ttfb_ms",
    "ttft_ms",
    "ttft_answer_ms",
    "latency_ms",
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "tokens_estimated",
    "tokens_per_s",
    "cost_usd",
    "intermediate",
];

/// The requests as CSV (a header row, then one row per request; no answer text).
pub fn csv(rows: &[RequestRow]) -> Result<String> {
    let mut out = Vec::new();
    write_csv(&mut out, &mut |each| rows.iter().try_for_each(|r| each(r.clone())))?;
    Ok(String::from_utf8(out)?)
}

/// Something that hands every row it has to the function it is given, one at a time (e.g.
/// `|each| store.each_request(&filter, false, each)`).
pub type RowSource<'a> = dyn FnMut(&mut dyn FnMut(RequestRow) -> Result<()>) -> Result<()> + 'a;

/// Rows from `source` as CSV on `out`. Text
/// fields pass the terminal filter: an export is printed, and a case id or label may hold
/// anything.
pub fn write_csv(out: &mut dyn std::io::Write, source: &mut RowSource<'_>) -> Result<()> {
    let clean = |s: String| crate::sanitize::one_line(&s);
    let mut w = ::csv::Writer::from_writer(out);
    let mut any = false;
    source(&mut |r| {
        any = true;
        let row = RequestRow {
            label: r.label.map(clean),
            cases: r.cases.map(clean),
            case_id: r.case_id.map(clean),
            category: r.category.map(clean),
            model: clean(r.model),
            provider: clean(r.provider),
            error_kind: r.error_kind.map(clean),
            output: None,
            ..r
        };
        Ok(w.serialize(row)?)
    })?;
    if !any {
        // The same header an export with rows has (serde writes it from the first row).
        w.write_record(CSV_COLUMNS)?;
    }
    w.flush()?;
    Ok(())
}

/// The requests as JSON Lines, answers included.
pub fn jsonl(rows: &[RequestRow]) -> Result<String> {
    let mut out = Vec::new();
    write_jsonl(&mut out, &mut |each| rows.iter().try_for_each(|r| each(r.clone())))?;
    Ok(String::from_utf8(out)?)
}

/// Rows from `source` as JSON Lines on `out` (control characters written as JSON escapes).
pub fn write_jsonl(out: &mut dyn std::io::Write, source: &mut RowSource<'_>) -> Result<()> {
    source(&mut |r| {
        out.write_all(&crate::sanitize::to_json(&r)?)?;
        out.write_all(b"\n")?;
        Ok(())
    })?;
    Ok(out.flush()?)
}

/// Which text exposition format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// OpenMetrics 1.0 (`# TYPE x counter` for samples `x_total`; ends with `# EOF`).
    OpenMetrics,
    /// Prometheus text format 0.0.4, what a Pushgateway takes.
    Prometheus,
}

/// The latest run of each case set among `runs`.
pub fn latest_of_each_case_set(runs: &[RunRow]) -> Vec<&RunRow> {
    let mut seen: Vec<&Option<String>> = Vec::new();
    let mut out: Vec<&RunRow> = Vec::new();
    for r in runs.iter().rev().filter(|r| r.mode != "load") {
        if !seen.contains(&&r.cases) {
            seen.push(&r.cases);
            out.push(r);
        }
    }
    out.reverse();
    out
}

/// One metric family: name (without `_total`), type, help, samples (labels, value).
struct Family {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
    samples: Vec<(Vec<(&'static str, String)>, f64)>,
}

/// What names a run's series besides the model: its case set, its `--label`, its start.
#[derive(Clone, Debug)]
pub struct RunLabels {
    pub cases: String,
    pub label: String,
    pub started_at: String,
}

impl RunLabels {
    pub fn of(run: &RunRow) -> RunLabels {
        RunLabels {
            cases: case_set_name(run),
            label: run.label.clone().unwrap_or_default(),
            started_at: run.started_at.clone(),
        }
    }
}

/// The figures of `runs` (each a case set's latest) as metric text. `job` adds a `job` label
/// (a Pushgateway takes it from its URL instead).
pub fn metrics(store: &Store, runs: &[&RunRow], dialect: Dialect, job: Option<&str>) -> Result<String> {
    let mut built = Vec::new();
    for run in runs {
        let session = store.session(run.id)?;
        let opts = report::ReportOptions { generated_at: Some(String::new()), ..Default::default() };
        built.push((RunLabels::of(run), report::build(&session, &opts)));
    }
    let items: Vec<(RunLabels, &report::Report)> = built.iter().map(|(l, r)| (l.clone(), r)).collect();
    Ok(metrics_text(&items, dialect, job))
}

/// The figures of each report as metric text.
pub fn metrics_text(items: &[(RunLabels, &report::Report)], dialect: Dialect, job: Option<&str>) -> String {
    let mut families = vec![
        Family {
            name: "bakeoff_requests",
            kind: "counter",
            help: "Requests sent in the run, retries included.",
            samples: vec![],
        },
        Family {
            name: "bakeoff_errors",
            kind: "counter",
            help: "Failed requests in the run, by error kind.",
            samples: vec![],
        },
        Family {
            name: "bakeoff_ttft_seconds",
            kind: "gauge",
            help: "Time to first token of successful requests, by quantile.",
            samples: vec![],
        },
        Family {
            name: "bakeoff_latency_seconds",
            kind: "gauge",
            help: "Request latency of successful requests, by quantile.",
            samples: vec![],
        },
        Family {
            name: "bakeoff_stream_tokens_per_second",
            kind: "gauge",
            help: "Mean decode rate of one request's stream.",
            samples: vec![],
        },
        Family {
            name: "bakeoff_request_cost_usd",
            kind: "counter",
            help: "Cost of every attempt in USD (left out when a price is unknown).",
            samples: vec![],
        },
        Family {
            name: "bakeoff_acceptance_ratio",
            kind: "gauge",
            help: "Share of answers judged acceptable.",
            samples: vec![],
        },
        Family {
            name: "bakeoff_quality_ratio",
            kind: "gauge",
            help: "Mean normalised quality (0 to 1).",
            samples: vec![],
        },
        Family {
            name: "bakeoff_cost_per_acceptable_usd",
            kind: "gauge",
            help: "Cost per acceptable answer in USD.",
            samples: vec![],
        },
        Family {
            name: "bakeoff_run_timestamp_seconds",
            kind: "gauge",
            help: "When the run started (Unix time).",
            samples: vec![],
        },
    ];
    for (run, rep) in items {
        let mut base: Vec<(&'static str, String)> = Vec::new();
        if let Some(j) = job {
            base.push(("job", j.to_string()));
        }
        base.push(("cases", run.cases.clone()));
        base.push(("label", run.label.clone()));
        if let Some(t) = unix_seconds(&run.started_at) {
            families[9].samples.push((base.clone(), t));
        }
        for m in &rep.models {
            model_samples(&mut families, &base, m);
        }
    }
    let mut o = String::new();
    for f in &families {
        if f.samples.is_empty() {
            continue;
        }
        let counter = f.kind == "counter";
        let (family, sample) = match (dialect, counter) {
            (Dialect::OpenMetrics, true) => (f.name.to_string(), format!("{}_total", f.name)),
            (Dialect::Prometheus, true) => (format!("{}_total", f.name), format!("{}_total", f.name)),
            _ => (f.name.to_string(), f.name.to_string()),
        };
        let _ = writeln!(o, "# HELP {family} {}", f.help);
        let _ = writeln!(o, "# TYPE {family} {}", f.kind);
        for (labels, v) in &f.samples {
            let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v))).collect();
            let _ = writeln!(o, "{sample}{{{}}} {}", labels.join(","), number(*v));
        }
    }
    if dialect == Dialect::OpenMetrics {
        o.push_str("# EOF\n");
    }
    o
}

fn model_samples(families: &mut [Family], base: &[(&'static str, String)], m: &ModelStats) {
    let with = |extra: &[(&'static str, String)]| {
        let mut l = base.to_vec();
        l.push(("model", m.model.clone()));
        l.extend_from_slice(extra);
        l
    };
    families[0].samples.push((with(&[]), m.requests as f64));
    for (kind, n) in &m.error_kinds {
        families[1].samples.push((with(&[("kind", kind.clone())]), *n as f64));
    }
    for (i, s) in [(2, m.ttft_ms), (3, m.latency_ms)] {
        if let Some(s) = s {
            for (q, v) in [("0.5", s.p50), ("0.95", s.p95), ("0.99", s.p99)] {
                families[i].samples.push((with(&[("quantile", q.to_string())]), v / 1000.0));
            }
        }
    }
    let optional = [
        (4, m.tokens_per_s_mean),
        (5, m.cost_usd),
        (6, m.acceptance_rate),
        (7, m.quality_mean),
        (8, m.cost_per_acceptable_usd),
    ];
    for (i, v) in optional {
        if let Some(v) = v.filter(|v| v.is_finite()) {
            families[i].samples.push((with(&[]), v));
        }
    }
}

/// The case set's file name (what a dashboard shows), or `none` for one-prompt runs.
pub fn case_set_name(run: &RunRow) -> String {
    run.cases
        .as_deref()
        .map(|c| std::path::Path::new(c).file_name().map_or(c.to_string(), |n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "none".into())
}

/// A label value escaped for the text formats: backslash, double quote, newline — after the
/// terminal filter, since an export is printed and a label may hold any character.
fn escape(v: &str) -> String {
    crate::sanitize::sanitize(v).replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 { format!("{v:.0}") } else { format!("{v}") }
}

/// `2026-12-06T18:05:42Z` as Unix seconds.
fn unix_seconds(rfc3339: &str) -> Option<f64> {
    let b = rfc3339.as_bytes();
    if b.len() < 19 {
        return None;
    }
    let n = |r: std::ops::Range<usize>| rfc3339.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (n(0..4)?, n(5..7)?, n(8..10)?);
    let (h, mi, s) = (n(11..13)?, n(14..16)?, n(17..19)?);
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if mo > 2 { mo - 3 } else { mo + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + h * 3600 + mi * 60 + s) as f64)
}

/// Pushes `text` (Prometheus text format) to the Pushgateway at `base`, replacing the group
/// `job/<job>/cases/<set>`. The URL may carry credentials: it is registered for redaction and
/// never printed.
pub async fn push(base: &str, job: &str, cases: &str, text: String) -> Result<(), String> {
    crate::redact::register(base.trim());
    let url = format!(
        "{}/metrics/job/{}/cases/{}",
        base.trim().trim_end_matches('/'),
        path_segment(job),
        path_segment(cases)
    );
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| format!("cannot make an HTTP client: {e}"))?;
    let r = client
        .put(&url)
        .header("content-type", "text/plain; version=0.0.4")
        .body(text)
        .send()
        .await
        .map_err(|e| crate::redact::redact_owned(e.without_url().to_string()))?;
    if r.status().is_success() {
        Ok(())
    } else {
        let status = r.status().as_u16();
        let body = r.text().await.unwrap_or_default();
        Err(crate::redact::redact_owned(format!("HTTP {status}: {}", crate::sanitize::one_line(body.trim()))))
    }
}

/// A grouping-key value as one URL path segment (percent-encoded; `@base64` is not needed for
/// the values we send, which are never empty).
fn path_segment(v: &str) -> String {
    let v = if v.is_empty() { "none" } else { v };
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_export_has_the_same_header() {
        let row = RequestRow {
            run: 1,
            run_started_at: "t".into(),
            label: None,
            cases: None,
            round: 1,
            case_id: None,
            category: None,
            repeat: None,
            model: "m".into(),
            provider: "p".into(),
            status: "ok".into(),
            error_kind: None,
            http_status: None,
            ttfb_ms: None,
            ttft_ms: None,
            ttft_answer_ms: None,
            latency_ms: None,
            input_tokens: 0,
            output_tokens: 0,
            cached_input_tokens: None,
            tokens_estimated: false,
            tokens_per_s: None,
            cost_usd: None,
            intermediate: false,
            output: Some("not in CSV".into()),
        };
        let full = csv(std::slice::from_ref(&row)).unwrap();
        assert_eq!(csv(&[]).unwrap().lines().next(), full.lines().next());
        assert!(!full.contains("not in CSV"));

        // An export is printed: a label, case id or model name holding terminal controls comes
        // out inert, in CSV, JSON Lines and the exposition formats alike.
        let hostile = RequestRow {
            label: Some("w49\u{1b}]0;pwned\u{7}".into()),
            case_id: Some("c\u{9b}2J".into()),
            model: "m\u{1b}[31m".into(),
            output: Some("\u{1b}[2J".into()),
            ..row
        };
        let raw = |t: &str| t.chars().any(|c| c.is_control() && c != '\n' && c != '\r');
        let text = csv(std::slice::from_ref(&hostile)).unwrap();
        assert!(!raw(&text) && text.contains("w49␛]0;pwned␇"), "{text:?}");
        let text = jsonl(&[hostile]).unwrap();
        assert!(!raw(&text), "{text:?}");
        assert!(!raw(&escape("w49\u{1b}]0;pwned\u{7}\u{9b}")));
    }

    #[test]
    fn times_and_values_read_as_exposition_wants() {
        assert_eq!(unix_seconds("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(unix_seconds("2026-12-06T18:05:42Z"), Some(1_796_580_342.0));
        assert_eq!(unix_seconds("garbage"), None);
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(number(3.0), "3");
        assert_eq!(number(0.25), "0.25");
        assert_eq!(path_segment("factual.jsonl"), "factual.jsonl");
        assert_eq!(path_segment("a b/c"), "a%20b%2Fc");
    }
}
