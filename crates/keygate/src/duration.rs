//! Human durations: `30s`, `15m`, `24h`, `90d`.

use chrono::Duration;

/// Parses `<n><unit>` with unit `s`, `m`, `h`, `d` (or `w`), e.g. `24h`, `90d`, `0s`.
///
/// ```
/// use chrono::Duration;
/// assert_eq!(keygate::duration::parse_duration("24h"), Ok(Duration::hours(24)));
/// assert_eq!(keygate::duration::parse_duration("90d"), Ok(Duration::days(90)));
/// assert!(keygate::duration::parse_duration("1 hour").is_err());
/// ```
pub fn parse_duration(input: &str) -> Result<Duration, String> {
    let err = || {
        format!(
            "invalid duration {:?}: use a number and s, m, h, d or w (e.g. 30s, 24h, 90d)",
            input.chars().take(32).collect::<String>()
        )
    };
    let s = input.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(err)?;
    let (n, unit) = s.split_at(split);
    let n: i64 = n.parse().map_err(|_| err())?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return Err(err()),
    };
    n.checked_mul(secs)
        .filter(|s| *s <= 100 * 365 * 86_400)
        .map(Duration::seconds)
        .ok_or_else(err)
}

/// Formats a duration the way [`parse_duration`] reads it, in the largest exact unit.
///
/// ```
/// assert_eq!(keygate::duration::format_duration(chrono::Duration::hours(48)), "2d");
/// assert_eq!(keygate::duration::format_duration(chrono::Duration::seconds(90)), "90s");
/// ```
pub fn format_duration(d: Duration) -> String {
    let secs = d.num_seconds();
    for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60)] {
        if secs != 0 && secs % size == 0 {
            return format!("{}{unit}", secs / size);
        }
    }
    format!("{secs}s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects() {
        for s in ["30s", "15m", "24h", "90d", "0s"] {
            let d = parse_duration(s).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }
        for bad in [
            "",
            "h",
            "10",
            "-5m",
            "5 m",
            "1.5h",
            "10y",
            "99999999999999d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }
}
