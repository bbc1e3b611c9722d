//! Human formatting of durations, token rates and money, shared by the table, TUI and reports.

use std::time::Duration;

/// `0.84s`, `12.3s`, `2m05s`.
pub fn secs(s: f64) -> String {
    if !s.is_finite() {
        return "—".into();
    }
    if s < 10.0 {
        format!("{s:.2}s")
    } else if s < 60.0 {
        format!("{s:.1}s")
    } else {
        let m = (s / 60.0).floor();
        format!("{m:.0}m{:02.0}s", s - m * 60.0)
    }
}

/// `212ms` below ten seconds, else seconds.
pub fn ms(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 10.0 { format!("{:.0}ms", s * 1000.0) } else { secs(s) }
}

/// Milliseconds given as a number, with the precision short times need: a local endpoint or a
/// proxy answers in well under 10 ms, where whole milliseconds would show "0ms" or "1ms" for
/// everything (the load view and summary). At most 6 characters below 10 s.
pub fn ms_f64(v: f64) -> String {
    match v.max(0.0) {
        v if v < 1.0 => format!("{:.0}µs", v * 1000.0),
        v if v < 10.0 => format!("{v:.1}ms"),
        v => ms(Duration::from_secs_f64(v / 1000.0)),
    }
}

pub fn opt_ms(d: Option<Duration>) -> String {
    d.map(ms).unwrap_or_else(|| "—".into())
}

/// A score on the judges' 1–5 scale: `4/5`, or `3.67/5` for a panel's mean between points.
pub fn judge_score(score: f64) -> String {
    if score.fract() == 0.0 { format!("{score}/5") } else { format!("{score:.2}/5") }
}

/// Dollars with enough precision to tell cheap calls apart; `—` for unknown (never `$0`).
pub fn usd(v: Option<f64>) -> String {
    let Some(v) = v else { return "$—".into() };
    match v {
        0.0 => "$0".into(),
        v if v < 0.0001 => format!("${v:.6}"),
        v if v < 0.01 => format!("${v:.5}"),
        v if v < 1.0 => format!("${v:.4}"),
        v => format!("${v:.2}"),
    }
}

/// [`usd`] with a sign for a negative amount (money a prompt cache did not save).
pub fn usd_signed(v: Option<f64>) -> String {
    match v {
        Some(v) if v < 0.0 => format!("-{}", usd(Some(-v))),
        v => usd(v),
    }
}

/// A token count in a few characters: `950`, `3.1k`, `12k`, `1.2M`.
pub fn tokens_short(n: u64) -> String {
    match n {
        0..1_000 => n.to_string(),
        1_000..10_000 => format!("{:.1}k", n as f64 / 1e3),
        10_000..1_000_000 => format!("{}k", n / 1_000),
        _ => format!("{:.1}M", n as f64 / 1e6),
    }
}

/// What a request did with the provider's prompt cache: `3.1k hit`, `2.0k written`, both, or
/// `None` when it reported neither.
pub fn cache_use(read: Option<u64>, written: Option<u64>) -> Option<String> {
    let parts: Vec<String> = [(read, "hit"), (written, "written")]
        .into_iter()
        .filter_map(|(n, what)| n.filter(|&n| n > 0).map(|n| format!("{} {what}", tokens_short(n))))
        .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

pub fn rate(v: Option<f64>) -> String {
    match v {
        None => "—".into(),
        Some(v) if v >= 100.0 => format!("{v:.0}/s"),
        Some(v) => format!("{v:.1}/s"),
    }
}

/// Days since 1970-01-01 to (year, month, day) — Howard Hinnant's algorithm.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn judge_scores_show_whole_points_plainly_and_a_mean_to_two_places() {
        assert_eq!(judge_score(4.0), "4/5");
        assert_eq!(judge_score(11.0 / 3.0), "3.67/5");
        assert_eq!(judge_score(3.5), "3.50/5");
    }

    #[test]
    fn token_counts_and_cache_use_read_short() {
        let cases = [(950, "950"), (3_140, "3.1k"), (12_345, "12k"), (1_234_567, "1.2M")];
        for (n, want) in cases {
            assert_eq!(tokens_short(n), want);
        }
        assert_eq!(cache_use(Some(3_140), None).as_deref(), Some("3.1k hit"));
        assert_eq!(cache_use(Some(0), Some(2_000)).as_deref(), Some("2.0k written"));
        assert_eq!(cache_use(Some(10), Some(20)).as_deref(), Some("10 hit, 20 written"));
        assert_eq!(cache_use(Some(0), None), None);
    }

    #[test]
    fn formats() {
        assert_eq!(secs(0.84), "0.84s");
        assert_eq!(secs(12.34), "12.3s");
        assert_eq!(secs(125.0), "2m05s");
        assert_eq!(ms(Duration::from_millis(212)), "212ms");
        assert_eq!(usd(None), "$—");
        assert_eq!(usd(Some(0.0)), "$0");
        assert_eq!(usd(Some(0.00011)), "$0.00011");
        assert_eq!(usd(Some(0.0000123)), "$0.000012");
        assert_eq!(usd(Some(1.5)), "$1.50");
        assert_eq!(rate(Some(61.2)), "61.2/s");
        assert_eq!(rate(None), "—");
    }
}

/// The model that answered, when it is not the one asked for (`gpt-4o` answered by
/// `gpt-4o-2024-08-06`). A mock script id `name;key=value…` asks for `name`.
pub fn served_model<'a>(asked: &str, served: Option<&'a str>) -> Option<&'a str> {
    let asked = asked.split(';').next().unwrap_or(asked);
    served.filter(|s| !s.is_empty() && *s != asked)
}

/// The answer's own TTFT (ms) when reasoning came first: later than the first token by more
/// than a millisecond.
pub fn answer_ttft(ttft: Option<f64>, answer: Option<f64>) -> Option<f64> {
    answer.filter(|a| ttft.is_some_and(|t| a - t > 1.0))
}

/// `$0.0050 billed ≠ $0.0030 ours` when the provider's own cost disagrees with ours.
pub fn billed(ours: Option<f64>, server: Option<f64>, mismatch: Option<bool>) -> Option<String> {
    let server = server.filter(|_| mismatch == Some(true))?;
    Some(format!("{} billed ≠ {} ours", usd(Some(server)), usd(ours)))
}

#[cfg(test)]
mod shown_tests {
    use super::*;

    #[test]
    fn figures_shown_only_when_they_say_something() {
        assert_eq!(served_model("gpt-4o", Some("gpt-4o-2024-08-06")), Some("gpt-4o-2024-08-06"));
        assert_eq!(served_model("gpt-4o", Some("gpt-4o")), None);
        assert_eq!(served_model("swift;ttft=5", Some("swift")), None, "a mock script asks for its name");
        assert_eq!(served_model("m", None), None);
        assert_eq!(answer_ttft(Some(250.0), Some(10_500.0)), Some(10_500.0));
        assert_eq!(answer_ttft(Some(250.0), Some(250.4)), None);
        assert_eq!(billed(Some(0.003), Some(0.005), Some(true)).as_deref(), Some("$0.00500 billed ≠ $0.00300 ours"));
        assert_eq!(billed(Some(0.003), Some(0.003), Some(false)), None);
    }
}
