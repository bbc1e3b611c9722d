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
