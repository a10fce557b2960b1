//! Recording: HDR histograms of latency per request kind, and counts of errors by status.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::scenario::{RequestKind, ALL_KINDS};

/// The largest latency a histogram holds (one hour, in microseconds); longer values are
/// recorded as this.
pub const MAX_TRACKED_MICROS: u64 = 3_600_000_000;

/// Significant decimal digits of the histograms: values are exact to 0.1 %.
pub const SIGNIFICANT_DIGITS: u8 = 3;

/// A histogram creation or merge failed (impossible with this crate's constant bounds; kept as
/// an error rather than a panic).
#[derive(Debug, thiserror::Error)]
#[error("histogram: {0}")]
pub struct HistogramError(String);

/// How one request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// An HTTP answer with this status (its body fully read).
    Status(u16),
    /// No answer within the timeout.
    Timeout,
    /// The connection could not be made.
    Connect,
    /// Any other transport failure (reset, malformed answer, body read error).
    Io,
}

impl Outcome {
    /// The key under which a failure is counted: the status (`"500"`) or the transport error.
    pub fn key(self) -> String {
        match self {
            Outcome::Status(status) => status.to_string(),
            Outcome::Timeout => "timeout".into(),
            Outcome::Connect => "connect".into(),
            Outcome::Io => "io".into(),
        }
    }

    /// Whether this is the expected answer to `kind`.
    pub fn is_success(self, kind: RequestKind) -> bool {
        self == Outcome::Status(kind.expected_status())
    }
}

/// The recorded requests of one kind.
#[derive(Debug, Clone)]
pub struct KindStats {
    /// Latency in microseconds: from the due time in the open loop, from the send in the closed
    /// loop.
    latency: Histogram<u64>,
    /// Service time in microseconds: from the actual send to the end of the answer.
    service: Histogram<u64>,
    requests: u64,
    errors: BTreeMap<String, u64>,
}

fn histogram() -> Result<Histogram<u64>, HistogramError> {
    Histogram::new_with_bounds(1, MAX_TRACKED_MICROS, SIGNIFICANT_DIGITS)
        .map_err(|e| HistogramError(format!("{e:?}")))
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros())
        .unwrap_or(u64::MAX)
        .clamp(1, MAX_TRACKED_MICROS)
}

impl KindStats {
    /// Empty statistics.
    ///
    /// Errors: [`HistogramError`] (not with the crate's constants).
    pub fn new() -> Result<Self, HistogramError> {
        Ok(KindStats {
            latency: histogram()?,
            service: histogram()?,
            requests: 0,
            errors: BTreeMap::new(),
        })
    }

    /// Records one request of `kind`: its outcome, its latency and its service time.
    pub fn record(
        &mut self,
        kind: RequestKind,
        outcome: Outcome,
        latency: Duration,
        service: Duration,
    ) {
        self.requests += 1;
        if !outcome.is_success(kind) {
            *self.errors.entry(outcome.key()).or_default() += 1;
        }
        self.latency.saturating_record(micros(latency));
        self.service.saturating_record(micros(service));
    }

    /// Adds `other`'s requests to these.
    ///
    /// Errors: [`HistogramError`] (not with the crate's constants).
    pub fn add(&mut self, other: &KindStats) -> Result<(), HistogramError> {
        self.latency
            .add(&other.latency)
            .map_err(|e| HistogramError(format!("{e:?}")))?;
        self.service
            .add(&other.service)
            .map_err(|e| HistogramError(format!("{e:?}")))?;
        self.requests += other.requests;
        for (key, count) in &other.errors {
            *self.errors.entry(key.clone()).or_default() += count;
        }
        Ok(())
    }

    /// Requests recorded.
    pub fn requests(&self) -> u64 {
        self.requests
    }

    /// Failed requests (unexpected status or transport error).
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Failures by status (`"500"`) or transport error (`"timeout"`, `"connect"`, `"io"`).
    pub fn errors(&self) -> &BTreeMap<String, u64> {
        &self.errors
    }

    /// Failed requests / requests; 0 without requests.
    pub fn error_rate(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.error_count() as f64 / self.requests as f64
        }
    }

    /// Percentiles of the latency.
    pub fn latency(&self) -> LatencySummary {
        LatencySummary::of(&self.latency)
    }

    /// Percentiles of the service time.
    pub fn service(&self) -> LatencySummary {
        LatencySummary::of(&self.service)
    }

    /// The latency at `quantile` (0–1).
    pub fn latency_at(&self, quantile: f64) -> Duration {
        if self.latency.is_empty() {
            Duration::ZERO
        } else {
            Duration::from_micros(self.latency.value_at_quantile(quantile))
        }
    }
}

/// Latency percentiles, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Default)]
pub struct LatencySummary {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    #[serde(rename = "p99_9")]
    pub p999: f64,
    /// The largest value.
    pub max: f64,
    /// The mean.
    pub mean: f64,
}

impl LatencySummary {
    /// The percentiles of a histogram of microseconds (all zero when it is empty).
    pub fn of(histogram: &Histogram<u64>) -> Self {
        if histogram.is_empty() {
            return LatencySummary::default();
        }
        let ms = |micros: u64| micros as f64 / 1e3;
        LatencySummary {
            p50: ms(histogram.value_at_quantile(0.50)),
            p90: ms(histogram.value_at_quantile(0.90)),
            p95: ms(histogram.value_at_quantile(0.95)),
            p99: ms(histogram.value_at_quantile(0.99)),
            p999: ms(histogram.value_at_quantile(0.999)),
            max: ms(histogram.max()),
            mean: histogram.mean() / 1e3,
        }
    }
}

/// Statistics of a run, per request kind.
#[derive(Debug, Clone)]
pub struct Recorder {
    kinds: Vec<KindStats>,
}

impl Recorder {
    /// An empty recorder with one slot per request kind.
    ///
    /// Errors: [`HistogramError`] (not with the crate's constants).
    pub fn new() -> Result<Self, HistogramError> {
        let kinds = ALL_KINDS
            .iter()
            .map(|_| KindStats::new())
            .collect::<Result<_, _>>()?;
        Ok(Recorder { kinds })
    }

    /// Records one request.
    pub fn record(
        &mut self,
        kind: RequestKind,
        outcome: Outcome,
        latency: Duration,
        service: Duration,
    ) {
        if let Some(stats) = self.kinds.get_mut(kind.index()) {
            stats.record(kind, outcome, latency, service);
        }
    }

    /// The statistics of one kind.
    pub fn kind(&self, kind: RequestKind) -> Option<&KindStats> {
        self.kinds.get(kind.index())
    }

    /// Every kind's statistics merged.
    ///
    /// Errors: [`HistogramError`] (not with the crate's constants).
    pub fn total(&self) -> Result<KindStats, HistogramError> {
        let mut total = KindStats::new()?;
        for stats in &self.kinds {
            total.add(stats)?;
        }
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn percentiles_of_a_known_distribution() {
        // 1..=1000 ms, one request each.
        let mut stats = KindStats::new().unwrap();
        for i in 1..=1000u32 {
            stats.record(RequestKind::Get, Outcome::Status(200), MS * i, MS);
        }
        let latency = stats.latency();
        let close = |actual: f64, expected: f64| (actual - expected).abs() <= expected * 0.001;
        assert!(close(latency.p50, 500.0), "{latency:?}");
        assert!(close(latency.p90, 900.0), "{latency:?}");
        assert!(close(latency.p95, 950.0), "{latency:?}");
        assert!(close(latency.p99, 990.0), "{latency:?}");
        assert!(close(latency.p999, 999.0), "{latency:?}");
        assert!(close(latency.max, 1000.0), "{latency:?}");
        assert!(close(latency.mean, 500.5), "{latency:?}");
        assert_eq!(stats.service().p99, 1.0);
        assert_eq!(stats.requests(), 1000);
        assert_eq!(stats.error_count(), 0);
        assert!(close(stats.latency_at(0.99).as_secs_f64() * 1e3, 990.0));
    }

    #[test]
    fn microsecond_resolution_and_clamping() {
        let mut stats = KindStats::new().unwrap();
        stats.record(
            RequestKind::Health,
            Outcome::Status(200),
            Duration::from_micros(250),
            Duration::ZERO,
        );
        assert_eq!(stats.latency().p50, 0.25);
        // Zero is recorded as 1 µs (the histogram's floor), two hours as one hour.
        assert_eq!(stats.service().p50, 0.001);
        stats.record(
            RequestKind::Health,
            Outcome::Timeout,
            Duration::from_secs(7200),
            Duration::from_secs(7200),
        );
        assert!((stats.latency().max - 3_600_000.0).abs() < 3_600.0);
    }

    #[test]
    fn errors_are_counted_by_status_and_transport_failure() {
        let mut stats = KindStats::new().unwrap();
        let record = |stats: &mut KindStats, kind, outcome| stats.record(kind, outcome, MS, MS);
        record(&mut stats, RequestKind::Create, Outcome::Status(201));
        record(&mut stats, RequestKind::Create, Outcome::Status(200)); // create expects 201
        record(&mut stats, RequestKind::Get, Outcome::Status(200));
        record(&mut stats, RequestKind::Get, Outcome::Status(404));
        record(&mut stats, RequestKind::Get, Outcome::Status(503));
        record(&mut stats, RequestKind::Get, Outcome::Status(503));
        record(&mut stats, RequestKind::List, Outcome::Timeout);
        record(&mut stats, RequestKind::List, Outcome::Connect);
        record(&mut stats, RequestKind::List, Outcome::Io);
        record(&mut stats, RequestKind::Health, Outcome::Status(200));
        assert_eq!(stats.requests(), 10);
        assert_eq!(stats.error_count(), 7);
        assert!((stats.error_rate() - 0.7).abs() < 1e-12);
        let errors: Vec<_> = stats
            .errors()
            .iter()
            .map(|(k, v)| (k.as_str(), *v))
            .collect();
        assert_eq!(
            errors,
            [
                ("200", 1),
                ("404", 1),
                ("503", 2),
                ("connect", 1),
                ("io", 1),
                ("timeout", 1)
            ]
        );
    }

    #[test]
    fn an_empty_run_reports_zeros() {
        let stats = KindStats::new().unwrap();
        assert_eq!(stats.latency(), LatencySummary::default());
        assert_eq!(stats.error_rate(), 0.0);
        assert_eq!(stats.latency_at(0.99), Duration::ZERO);
    }

    #[test]
    fn the_recorder_keeps_kinds_apart_and_merges_them() {
        let mut recorder = Recorder::new().unwrap();
        for _ in 0..3 {
            recorder.record(RequestKind::Get, Outcome::Status(200), MS, MS);
        }
        recorder.record(RequestKind::Create, Outcome::Status(500), MS * 40, MS * 40);
        assert_eq!(recorder.kind(RequestKind::Get).unwrap().requests(), 3);
        assert_eq!(recorder.kind(RequestKind::Create).unwrap().error_count(), 1);
        assert_eq!(recorder.kind(RequestKind::Health).unwrap().requests(), 0);
        let total = recorder.total().unwrap();
        assert_eq!(total.requests(), 4);
        assert_eq!(total.errors().get("500"), Some(&1));
        assert!((total.latency().max - 40.0).abs() < 0.05);
        assert!((total.latency().p50 - 1.0).abs() < 0.01);
    }
}
