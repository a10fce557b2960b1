//! Bounded logging of refusals (`docs/operations.md`, "Logs"): requests refused by a rate limit
//! (429) and connections closed by the connection caps or the header/idle timeouts are not
//! logged one line each — a flood from one client would write a line per attempt — but counted
//! here and logged as one summary line per [`SUMMARY_INTERVAL`] (and at shutdown): the total and
//! the [`TOP_N`] largest (client, route, reason) counts.
//!
//! Memory is bounded: at most [`MAX_TRACKED`] distinct (client, route, reason) keys are kept per
//! interval; refusals of further keys are counted in the total (and as `other`) only.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// How often the summary line is written (when anything was refused).
pub const SUMMARY_INTERVAL: Duration = Duration::from_secs(10);
/// How many (client, route, reason) entries the summary line names, largest first.
pub const TOP_N: usize = 10;
/// Most distinct (client, route, reason) keys counted per interval.
pub const MAX_TRACKED: usize = 4096;

/// What was refused, as named in the summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reason {
    /// 429 from the per-IP or per-key rate limit.
    RateLimited,
    /// A new connection closed at once: `HTTP_MAX_CONNECTIONS` reached.
    ConnectionCapTotal,
    /// A new connection closed at once: `HTTP_MAX_CONNECTIONS_PER_IP` reached for its peer.
    ConnectionCapPerIp,
    /// A connection closed: its request head did not arrive within `HTTP_HEADER_READ_TIMEOUT_MS`.
    HeaderReadTimeout,
    /// A kept-alive connection closed after `HTTP_KEEPALIVE_IDLE_TIMEOUT_MS` without a request.
    IdleTimeout,
}

impl Reason {
    /// The reason's name in the summary line and in metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::RateLimited => "rate_limited",
            Reason::ConnectionCapTotal => "connection_cap_total",
            Reason::ConnectionCapPerIp => "connection_cap_per_ip",
            Reason::HeaderReadTimeout => "header_read_timeout",
            Reason::IdleTimeout => "idle_timeout",
        }
    }

    /// Whether the summary is a WARN (refusals of service) rather than an INFO (idle
    /// housekeeping).
    fn is_warning(self) -> bool {
        !matches!(self, Reason::IdleTimeout)
    }
}

#[derive(Default)]
struct Counts {
    by_key: HashMap<(String, String, Reason), u64>,
    total: u64,
    untracked: u64,
    warning: bool,
}

static COUNTS: LazyLock<Mutex<Counts>> = LazyLock::new(|| Mutex::new(Counts::default()));

/// Counts one refusal of `client` (e.g. `ip:203.0.113.7`, `key:<id>`) on `route` (e.g.
/// `POST /api/streams`, or `-` for a connection) for `reason`. Constant time; never logs.
pub fn record(client: &str, route: &str, reason: Reason) {
    let Ok(mut counts) = COUNTS.lock() else {
        return;
    };
    counts.total += 1;
    counts.warning |= reason.is_warning();
    let key = (client.to_owned(), route.to_owned(), reason);
    if let Some(count) = counts.by_key.get_mut(&key) {
        *count += 1;
    } else if counts.by_key.len() < MAX_TRACKED {
        counts.by_key.insert(key, 1);
    } else {
        counts.untracked += 1;
    }
}

/// One summary: the total, how many distinct keys, and the largest entries, largest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Refusals since the last summary.
    pub total: u64,
    /// Distinct (client, route, reason) keys counted.
    pub distinct: usize,
    /// Refusals of keys beyond [`MAX_TRACKED`].
    pub untracked: u64,
    /// `client route reason ×count` entries, largest first, at most [`TOP_N`], joined by `; `.
    pub top: String,
    /// Whether any refusal of service (not only idle timeouts) is in it.
    pub warning: bool,
}

/// Takes the counts since the last call (resetting them); `None` when nothing was refused.
pub fn take() -> Option<Summary> {
    let counts = {
        let Ok(mut counts) = COUNTS.lock() else {
            return None;
        };
        std::mem::take(&mut *counts)
    };
    if counts.total == 0 {
        return None;
    }
    let distinct = counts.by_key.len();
    let mut entries: Vec<_> = counts.by_key.into_iter().collect();
    entries.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let top = entries
        .iter()
        .take(TOP_N)
        .map(|((client, route, reason), count)| {
            format!("{client} {route} {} ×{count}", reason.as_str())
        })
        .collect::<Vec<_>>()
        .join("; ");
    Some(Summary {
        total: counts.total,
        distinct,
        untracked: counts.untracked,
        top,
        warning: counts.warning,
    })
}

/// Writes the summary of the counts since the last one, if anything was refused.
pub fn log_summary(interval: Duration) {
    let Some(summary) = take() else {
        return;
    };
    let interval_ms = u64::try_from(interval.as_millis()).unwrap_or(u64::MAX);
    if summary.warning {
        tracing::warn!(
            refused = summary.total,
            distinct = summary.distinct,
            untracked = summary.untracked,
            interval_ms,
            top = %summary.top,
            "requests and connections refused (summary)"
        );
    } else {
        tracing::info!(
            refused = summary.total,
            distinct = summary.distinct,
            untracked = summary.untracked,
            interval_ms,
            top = %summary.top,
            "requests and connections refused (summary)"
        );
    }
}

/// Writes a summary every [`SUMMARY_INTERVAL`] until `shutdown`, then a last one.
pub async fn run(shutdown: CancellationToken) {
    let mut ticker = tokio::time::interval(SUMMARY_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = ticker.tick() => log_summary(SUMMARY_INTERVAL),
        }
    }
    log_summary(SUMMARY_INTERVAL);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_summarised_largest_first_and_reset() {
        // Other tests of this process may record too: look for our own clients only.
        for _ in 0..5 {
            record("ip:192.0.2.250", "GET /api/streams", Reason::RateLimited);
        }
        record("ip:192.0.2.251", "-", Reason::ConnectionCapPerIp);
        let summary = take().expect("something was refused");
        assert!(summary.total >= 6);
        assert!(summary.warning);
        assert!(
            summary
                .top
                .contains("ip:192.0.2.250 GET /api/streams rate_limited ×5"),
            "{}",
            summary.top
        );
        let first = summary.top.find("192.0.2.250").unwrap_or(usize::MAX);
        let second = summary.top.find("192.0.2.251").unwrap_or(0);
        assert!(first < second, "{}", summary.top);
        assert!(take().is_none_or(|s| !s.top.contains("192.0.2.25")));
    }
}
