//! A key's verifications over the last 24 hours as a server-drawn SVG: one stacked bar
//! per hour (successes at the bottom, refusals above), a legend, and the same numbers as
//! a table for screen readers and copying. No script; colours are SVG attributes, so
//! the page's Content-Security-Policy (no inline styles) holds.

use chrono::{DateTime, Duration, Utc};
use maud::{html, Markup};

use crate::dto::VerificationAnalytics;

/// Chart size in SVG units: about the card at 1280 px, so its text is not stretched
/// there (it scales to narrower cards; the table below holds the numbers).
const WIDTH: f64 = 1100.0;
const HEIGHT: f64 = 180.0;
const LEFT: f64 = 40.0;
const BOTTOM: f64 = 20.0;

/// Outcomes in stacking order (bottom first), with their label and colour (contrast
/// checked against the white card).
const SERIES: &[(&str, &str, &str)] = &[
    ("valid", "Valid", "#1a7f37"),
    ("rate_limited", "Rate limited", "#9a6700"),
    ("usage_exceeded", "Out of credits", "#bc4c00"),
    ("forbidden", "Forbidden", "#8250df"),
    ("disabled", "Disabled", "#57606a"),
    ("expired", "Expired", "#0969da"),
    ("revoked", "Revoked", "#cf222e"),
    ("unknown", "Unknown", "#24292f"),
];

/// One hour's counts, in [`SERIES`] order.
struct Hour {
    start: DateTime<Utc>,
    counts: Vec<u64>,
}

fn hours(data: &VerificationAnalytics) -> Vec<Hour> {
    let first = hour_of(data.to - Duration::hours(24));
    (0..24)
        .map(|i| {
            let start = first + Duration::hours(i + 1);
            let counts = SERIES
                .iter()
                .map(|(outcome, _, _)| {
                    data.data
                        .iter()
                        .filter(|c| c.at == start && c.outcome == *outcome)
                        .map(|c| c.count)
                        .sum()
                })
                .collect();
            Hour { start, counts }
        })
        .collect()
}

/// The start of the hour holding `at`.
pub(crate) fn hour_of(at: DateTime<Utc>) -> DateTime<Utc> {
    keygate::analytics::Granularity::Hour.start_of(at)
}

/// The chart, its legend and its table.
pub(crate) fn render(data: &VerificationAnalytics) -> Markup {
    let hours = hours(data);
    let totals: Vec<u64> = hours.iter().map(|h| h.counts.iter().sum()).collect();
    let peak = totals.iter().copied().max().unwrap_or(0);
    let all: u64 = totals.iter().sum();
    if all == 0 {
        return html! { p.muted { "No verifications in the last 24 hours." } };
    }
    let plot_w = WIDTH - LEFT;
    let plot_h = HEIGHT - BOTTOM;
    let slot = plot_w / 24.0;
    let scale = plot_h / peak as f64;
    let summary = format!("{all} verifications in the last 24 hours, at most {peak} in one hour");
    // Each bar: x, y, height, colour, tooltip (stacked from the axis up).
    let mut bars: Vec<(f64, f64, f64, &str, String)> = Vec::new();
    for (i, hour) in hours.iter().enumerate() {
        let x = LEFT + slot * i as f64 + 2.0;
        let mut top = plot_h;
        for (j, count) in hour.counts.iter().enumerate() {
            if *count > 0 {
                let h = (*count as f64 * scale).max(1.0);
                top -= h;
                let (_, label, colour) = SERIES[j];
                let tip = format!(
                    "{} UTC: {count} {}",
                    hour.start.format("%H:00"),
                    label.to_lowercase()
                );
                bars.push((x, top, h, colour, tip));
            }
        }
    }
    html! {
        figure.usage {
            svg viewBox=(format!("0 0 {WIDTH} {HEIGHT}")) role="img" aria-labelledby="usage-title" preserveAspectRatio="none" width="100%" height="180" {
                title #usage-title { (summary) }
                line x1=(LEFT) y1=(plot_h) x2=(WIDTH) y2=(plot_h) stroke="#8c959f" stroke-width="1" {}
                text x="0" y="12" font-size="11" fill="#57606a" { (peak) }
                text x="0" y=(plot_h) font-size="11" fill="#57606a" { "0" }
                @for (x, y, h, colour, tip) in &bars {
                    rect x=(format!("{x:.1}")) y=(format!("{y:.1}")) width=(format!("{:.1}", slot - 4.0)) height=(format!("{h:.1}")) fill=(colour) {
                        title { (tip) }
                    }
                }
                @for (i, hour) in hours.iter().enumerate().filter(|(i, _)| i % 3 == 0) {
                    text x=(format!("{:.1}", LEFT + slot * i as f64 + 2.0)) y=(HEIGHT - 4.0) font-size="11" fill="#57606a" { (hour.start.format("%H:00")) }
                }
            }
            figcaption {
                ul.legend {
                    @for (j, (_, label, colour)) in SERIES.iter().enumerate() {
                        @let sum: u64 = hours.iter().map(|h| h.counts[j]).sum();
                        @if sum > 0 {
                            li {
                                svg width="12" height="12" aria-hidden="true" { rect width="12" height="12" fill=(*colour) {} }
                                " " (label) ": " (sum)
                            }
                        }
                    }
                }
            }
            details {
                summary { "The numbers, per hour (UTC)" }
                table {
                    thead { tr { th scope="col" { "Hour" } @for (_, label, _) in SERIES { th scope="col" { (label) } } } }
                    tbody {
                        @for hour in hours.iter().filter(|h| h.counts.iter().any(|c| *c > 0)) {
                            tr {
                                th scope="row" { (hour.start.format("%Y-%m-%d %H:00")) }
                                @for count in &hour.counts { td { (count) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dto::VerificationCountView;

    fn analytics(rows: &[(i64, &str, u64)]) -> VerificationAnalytics {
        let to = DateTime::from_timestamp(1_800_000_000, 0).expect("a time"); // 08:00 UTC
        VerificationAnalytics {
            granularity: "hour".into(),
            from: to - Duration::hours(24),
            to,
            data: rows
                .iter()
                .map(|(hours_ago, outcome, count)| VerificationCountView {
                    key_id: Some("key_x".into()),
                    tenant: Some("acme".into()),
                    env: Some("live".into()),
                    at: hour_of(to) - Duration::hours(*hours_ago),
                    outcome: (*outcome).into(),
                    count: *count,
                })
                .collect(),
        }
    }

    #[test]
    fn draws_one_bar_per_outcome_and_hour_with_the_numbers_beside() {
        let html = render(&analytics(&[
            (0, "valid", 40),
            (0, "rate_limited", 2),
            (5, "valid", 10),
        ]))
        .into_string();
        assert_eq!(html.matches("<rect x=").count(), 3, "{html}");
        assert!(html.contains("52 verifications in the last 24 hours, at most 42 in one hour"));
        assert!(html.contains("Valid: 50") && html.contains("Rate limited: 2"));
        assert!(
            !html.contains("Revoked:"),
            "no legend entry for an empty series"
        );
        assert!(html.contains("<td>40</td>"));
        assert!(!html.contains("style="), "no inline styles under the CSP");
    }

    #[test]
    fn says_so_when_there_is_nothing() {
        let html = render(&analytics(&[])).into_string();
        assert!(html.contains("No verifications"));
        assert!(!html.contains("<svg"));
    }
}
