//! The chart of failures and lockouts, from the failure log: inline SVG,
//! no script and no external asset.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use crate::engine::Axes;
use crate::store::{AccessFailureLog, AttemptFilter};

/// Counts per bucket: failures, and failures that locked out.
pub(super) fn buckets(
    logs: &[AccessFailureLog],
    now: SystemTime,
    span: Duration,
    count: u32,
) -> Vec<(u64, u64)> {
    let width = span / count;
    let mut buckets = vec![(0, 0); count as usize];
    for log in logs {
        let Ok(age) = now.duration_since(log.attempt_time) else {
            continue;
        };
        if age >= span {
            continue;
        }
        let index = count as usize - 1 - (age.as_nanos() / width.as_nanos()) as usize;
        buckets[index].0 += 1;
        buckets[index].1 += u64::from(log.locked_out);
    }
    buckets
}

/// One bar chart: a title, its buckets, a label each end.
fn svg(title: &str, buckets: &[(u64, u64)], start: &str) -> String {
    let (width, height, bar) = (480.0_f64, 120.0_f64, 480.0 / buckets.len() as f64);
    let top = buckets.iter().map(|b| b.0).max().unwrap_or(0).max(1) as f64;
    let mut svg = format!(
        "<figure><figcaption>{title}: {} failures, {} lockouts</figcaption>\
         <svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{}\" role=img \
         aria-label=\"{title}\">",
        buckets.iter().map(|b| b.0).sum::<u64>(),
        buckets.iter().map(|b| b.1).sum::<u64>(),
        height + 16.0,
    );
    for (i, (failures, lockouts)) in buckets.iter().enumerate() {
        let x = i as f64 * bar;
        let h = *failures as f64 / top * height;
        let l = *lockouts as f64 / top * height;
        let _ = write!(
            svg,
            "<rect class=failures x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"#e8a33d\"><title>{failures} failures</title></rect>\
             <rect class=lockouts x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{l:.1}\" fill=\"#b3261e\"><title>{lockouts} lockouts</title></rect>",
            height - h,
            (bar - 1.0).max(1.0),
            height - l,
            (bar - 1.0).max(1.0),
        );
    }
    let _ = write!(
        svg,
        "<text x=\"0\" y=\"{y}\" font-size=\"11\">{start}</text>\
         <text x=\"{width}\" y=\"{y}\" font-size=\"11\" text-anchor=end>now</text></svg></figure>",
        y = height + 13.0,
    );
    svg
}

/// The charts of the last hour (5-minute bars) and the last day
/// (hourly bars), or a line saying why there is none.
pub(super) async fn section(axes: &Axes) -> String {
    if !axes.config().enable_access_failure_log {
        return "<p>The chart of failures and lockouts needs the failure log \
                (<code>enable_access_failure_log = true</code>).</p>"
            .to_owned();
    }
    let logs = match axes.failure_logs(AttemptFilter::All).await {
        Ok(logs) => logs,
        Err(e) => return format!("<p class=error>{}</p>", super::page::escape(&e.to_string())),
    };
    let now = axes.now();
    let hour = buckets(&logs, now, Duration::from_secs(3600), 12);
    let day = buckets(&logs, now, Duration::from_secs(24 * 3600), 24);
    format!(
        "{}{}",
        svg("The last hour", &hour, "1 h ago"),
        svg("The last day", &day, "24 h ago")
    )
}
