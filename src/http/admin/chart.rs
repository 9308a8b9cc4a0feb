//! The chart of failures and lockouts over the last hour and the last day:
//! inline SVG, no script and no external asset. It is drawn from the
//! failure log when there is one (every server's failures), else from what
//! this server recorded ([`Axes::activity`]), so it works in the default
//! configuration; either way it is bounded (24 and 12 bars).

use std::time::{Duration, SystemTime};

use maud::{html, Markup};

use crate::engine::{ActivityCount, Axes};
use crate::store::{AccessFailureLog, AttemptFilter};

const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(24 * 3600);

/// Counts per bucket of the failure log's entries in the `span` before
/// `now`, oldest first.
fn buckets(
    logs: &[AccessFailureLog],
    now: SystemTime,
    span: Duration,
    count: u32,
) -> Vec<ActivityCount> {
    let width = span / count;
    let mut buckets = vec![ActivityCount::default(); count as usize];
    for log in logs {
        let Ok(age) = now.duration_since(log.attempt_time) else {
            continue;
        };
        if age >= span {
            continue;
        }
        let index = count as usize - 1 - (age.as_nanos() / width.as_nanos()) as usize;
        buckets[index].failures += 1;
        buckets[index].lockouts += u64::from(log.locked_out);
    }
    buckets
}

/// One bar chart: a title, its bars, a label at its start.
fn svg(title: &str, bars: &[ActivityCount], start: &str) -> Markup {
    let (width, height) = (480.0_f64, 120.0_f64);
    let bar = width / bars.len() as f64;
    let top = bars.iter().map(|b| b.failures).max().unwrap_or(0).max(1) as f64;
    let failures: u64 = bars.iter().map(|b| b.failures).sum();
    let lockouts: u64 = bars.iter().map(|b| b.lockouts).sum();
    let y = height + 13.0;
    html! {
        figure {
            figcaption { (title) ": " (failures) " failures, " (lockouts) " lockouts" }
            svg xmlns="http://www.w3.org/2000/svg" viewBox={ "0 0 " (width) " " (height + 16.0) }
                width=(width) role="img" aria-label=(title) {
                @for (i, count) in bars.iter().enumerate() {
                    @let x = format!("{:.1}", i as f64 * bar);
                    @let w = format!("{:.1}", (bar - 1.0).max(1.0));
                    @let f = count.failures as f64 / top * height;
                    @let l = count.lockouts as f64 / top * height;
                    rect.failures x=(x) y=(format!("{:.1}", height - f)) width=(w) height=(format!("{f:.1}")) {
                        title { (count.failures) " failures" }
                    }
                    rect.lockouts x=(x) y=(format!("{:.1}", height - l)) width=(w) height=(format!("{l:.1}")) {
                        title { (count.lockouts) " lockouts" }
                    }
                }
                text x="0" y=(y) { (start) }
                text x=(width) y=(y) text-anchor="end" { "now" }
            }
        }
    }
}

/// The charts of the last hour (5-minute bars) and the last day (hourly
/// bars), with where they come from.
pub(super) async fn section(axes: &Axes) -> Markup {
    let now = axes.now();
    let (hour, day, source) = if axes.config().enable_access_failure_log {
        match axes.failure_logs(AttemptFilter::All).await {
            Ok(logs) => (
                buckets(&logs, now, HOUR, 12),
                buckets(&logs, now, DAY, 24),
                "From the failure log.",
            ),
            Err(e) => return html! { p.error { (e.to_string()) } },
        }
    } else {
        let activity = axes.activity();
        (
            activity.counts(now, HOUR, 12),
            activity.counts(now, DAY, 24),
            "Seen by this server since it started; with enable_access_failure_log, every server's.",
        )
    };
    html! {
        (svg("The last hour", &hour, "1 h ago"))
        (svg("The last day", &day, "24 h ago"))
        p { small { (source) } }
    }
}
