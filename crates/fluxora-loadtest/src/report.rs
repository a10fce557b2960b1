//! The result of a run: throughput, latency percentiles, errors by status, threshold verdicts;
//! printed as text or JSON.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Serialize;

use crate::profile::{Observed, Profile, ThresholdCheck, Thresholds};
use crate::scenario::{RequestKind, Scenario, ALL_KINDS};
use crate::stats::{HistogramError, LatencySummary, Recorder};
use crate::units::{human, trim_float};

/// How requests are sent.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "lowercase", tag = "type")]
pub enum Mode {
    /// Virtual users, each sending its next request when the previous one is answered.
    Closed {
        /// Virtual users.
        vus: usize,
    },
    /// Requests due at a constant rate, whatever the answers; latency from the due time.
    Open {
        /// Requests per second.
        rate: f64,
        /// Workers (the most requests in flight at once).
        workers: usize,
    },
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mode::Closed { vus } => write!(f, "closed loop, {vus} VUs"),
            Mode::Open { rate, workers } => write!(
                f,
                "open loop, {} req/s, up to {workers} in flight",
                trim_float(*rate)
            ),
        }
    }
}

/// What was run (the parts of the report that do not come from the measurements).
#[derive(Debug, Clone, PartialEq)]
pub struct RunInfo {
    /// The service's base URL.
    pub base_url: String,
    /// The profile.
    pub profile: Profile,
    /// The scenario.
    pub scenario: Scenario,
    /// Closed or open loop.
    pub mode: Mode,
    /// The unmeasured start of the run.
    pub warmup: Duration,
    /// Streams created before the run (for the reads), including the preflight's.
    pub seeded_streams: usize,
    /// The limits the run is judged by.
    pub thresholds: Thresholds,
}

/// One request kind's results.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointReport {
    /// The request kind.
    pub kind: RequestKind,
    /// Method and path.
    pub route: &'static str,
    /// Requests measured.
    pub requests: u64,
    /// Failed requests.
    pub errors: u64,
    /// Requests per second over the measured time.
    pub throughput: f64,
    /// Latency percentiles (ms).
    pub latency_ms: LatencySummary,
    /// Failures by status or transport error.
    pub errors_by_status: BTreeMap<String, u64>,
}

/// The result of one run.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The service's base URL.
    pub base_url: String,
    /// The profile.
    pub profile: Profile,
    /// The scenario.
    pub scenario: Scenario,
    /// Closed or open loop.
    pub mode: Mode,
    /// Measured seconds (after the warm-up, until the last answer).
    pub duration_s: f64,
    /// Unmeasured seconds at the start.
    pub warmup_s: f64,
    /// Streams created before the run.
    pub seeded_streams: usize,
    /// Requests measured.
    pub requests: u64,
    /// Failed requests (unexpected status or transport error).
    pub errors: u64,
    /// `errors / requests`.
    pub error_rate: f64,
    /// Requests per second over the measured time.
    pub throughput: f64,
    /// Latency percentiles (ms): from the due time in the open loop (coordinated omission
    /// corrected), from the send in the closed loop.
    pub latency_ms: LatencySummary,
    /// Service time percentiles (ms): from the actual send. Equal to `latencyMs` in the closed
    /// loop; lower in the open loop when requests left late.
    pub service_time_ms: LatencySummary,
    /// Failures by status (`"503"`) or transport error (`"timeout"`, `"connect"`, `"io"`).
    pub errors_by_status: BTreeMap<String, u64>,
    /// Per request kind (those the scenario sends).
    pub endpoints: Vec<EndpointReport>,
    /// The limits.
    pub thresholds: Thresholds,
    /// Each limit's verdict.
    pub checks: Vec<ThresholdCheck>,
    /// Whether every check passed.
    pub passed: bool,
}

fn per_second(count: u64, elapsed: Duration) -> f64 {
    let seconds = elapsed.as_secs_f64();
    if seconds > 0.0 {
        count as f64 / seconds
    } else {
        0.0
    }
}

impl Report {
    /// Builds the report of a run from its recorded requests and its measured time.
    ///
    /// Errors: [`HistogramError`] (not with the crate's constants).
    pub fn build(
        info: RunInfo,
        recorder: &Recorder,
        measured: Duration,
    ) -> Result<Report, HistogramError> {
        let total = recorder.total()?;
        let kinds = info.scenario.kinds();
        let endpoints = ALL_KINDS
            .iter()
            .filter(|kind| kinds.contains(kind))
            .filter_map(|&kind| {
                let stats = recorder.kind(kind)?;
                Some(EndpointReport {
                    kind,
                    route: kind.route(),
                    requests: stats.requests(),
                    errors: stats.error_count(),
                    throughput: per_second(stats.requests(), measured),
                    latency_ms: stats.latency(),
                    errors_by_status: stats.errors().clone(),
                })
            })
            .collect();
        let checks = info.thresholds.evaluate(&Observed {
            requests: total.requests(),
            p95: total.latency_at(0.95),
            p99: total.latency_at(0.99),
            error_rate: total.error_rate(),
        });
        Ok(Report {
            base_url: info.base_url,
            profile: info.profile,
            scenario: info.scenario,
            mode: info.mode,
            duration_s: measured.as_secs_f64(),
            warmup_s: info.warmup.as_secs_f64(),
            seeded_streams: info.seeded_streams,
            requests: total.requests(),
            errors: total.error_count(),
            error_rate: total.error_rate(),
            throughput: per_second(total.requests(), measured),
            latency_ms: total.latency(),
            service_time_ms: total.service(),
            errors_by_status: total.errors().clone(),
            endpoints,
            thresholds: info.thresholds,
            passed: checks.iter().all(|c| c.passed),
            checks,
        })
    }
}

/// `0.412`, `12.3`, `1234`: three significant-ish digits for a table of milliseconds.
fn ms(value: f64) -> String {
    if value < 10.0 {
        format!("{value:.3}")
    } else if value < 100.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.1}")
    }
}

fn latency_row(f: &mut fmt::Formatter<'_>, label: &str, l: &LatencySummary) -> fmt::Result {
    writeln!(
        f,
        "  {label:<14} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        ms(l.p50),
        ms(l.p90),
        ms(l.p95),
        ms(l.p99),
        ms(l.p999),
        ms(l.max)
    )
}

fn errors_text(errors: &BTreeMap<String, u64>) -> String {
    if errors.is_empty() {
        "none".to_string()
    } else {
        errors
            .iter()
            .map(|(key, count)| format!("{key}: {count}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "fluxora-loadtest: {} profile, {} scenario, {} against {}",
            self.profile.name(),
            self.scenario.name(),
            self.mode,
            self.base_url
        )?;
        let warmup = if self.warmup_s > 0.0 {
            format!(
                " after a {} warm-up",
                human(Duration::from_secs_f64(self.warmup_s))
            )
        } else {
            String::new()
        };
        writeln!(
            f,
            "  measured {}{warmup}; {} streams created before the run",
            human(Duration::from_secs_f64(self.duration_s)),
            self.seeded_streams
        )?;
        writeln!(
            f,
            "  requests {} ({} errors, {} %), throughput {} req/s",
            self.requests,
            self.errors,
            trim_float(self.error_rate * 100.0),
            format_args!("{:.1}", self.throughput)
        )?;
        writeln!(f)?;
        writeln!(
            f,
            "  {:<14} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "latency (ms)", "p50", "p90", "p95", "p99", "p99.9", "max"
        )?;
        let label = match self.mode {
            Mode::Open { .. } => "from due time",
            Mode::Closed { .. } => "all",
        };
        latency_row(f, label, &self.latency_ms)?;
        if let Mode::Open { .. } = self.mode {
            latency_row(f, "service time", &self.service_time_ms)?;
        }
        if self.endpoints.len() > 1 {
            for endpoint in &self.endpoints {
                latency_row(f, endpoint.kind.name(), &endpoint.latency_ms)?;
            }
            writeln!(f)?;
            for endpoint in &self.endpoints {
                writeln!(
                    f,
                    "  {:<26} {:>8} requests {:>9.1} req/s  errors: {}",
                    endpoint.route,
                    endpoint.requests,
                    endpoint.throughput,
                    errors_text(&endpoint.errors_by_status)
                )?;
            }
        }
        writeln!(f)?;
        writeln!(
            f,
            "  errors by status: {}",
            errors_text(&self.errors_by_status)
        )?;
        for check in &self.checks {
            writeln!(
                f,
                "  threshold {:<8} {:<10} actual {:<12} {}",
                check.metric,
                check.limit,
                check.actual,
                if check.passed { "ok" } else { "FAILED" }
            )?;
        }
        write!(
            f,
            "{}",
            if self.passed {
                "PASS: every threshold holds"
            } else {
                "FAIL: a threshold is breached"
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Outcome;

    const MS: Duration = Duration::from_millis(1);

    fn info(scenario: Scenario, mode: Mode) -> RunInfo {
        RunInfo {
            base_url: "http://127.0.0.1:3000".into(),
            profile: Profile::Smoke,
            scenario,
            mode,
            warmup: Duration::ZERO,
            seeded_streams: 50,
            thresholds: Thresholds::default(),
        }
    }

    #[test]
    fn a_clean_run() {
        let mut recorder = Recorder::new().unwrap();
        for i in 0..200u32 {
            recorder.record(RequestKind::Get, Outcome::Status(200), MS * (1 + i % 4), MS);
        }
        let report = Report::build(
            info(Scenario::Get, Mode::Closed { vus: 5 }),
            &recorder,
            Duration::from_secs(2),
        )
        .unwrap();
        assert_eq!(report.requests, 200);
        assert_eq!(report.errors, 0);
        assert_eq!(report.throughput, 100.0);
        assert!(report.passed);
        assert_eq!(report.endpoints.len(), 1);
        assert_eq!(report.endpoints[0].route, "GET /api/streams/{id}");
        assert!((report.latency_ms.p50 - 2.0).abs() < 0.01);
        let text = report.to_string();
        assert!(text.contains("smoke profile, get scenario, closed loop, 5 VUs"));
        assert!(text.contains("throughput 100.0 req/s"));
        assert!(text.contains("errors by status: none"));
        assert!(text.ends_with("PASS: every threshold holds"));
    }

    #[test]
    fn errors_fail_the_run_and_are_reported_by_status() {
        let mut recorder = Recorder::new().unwrap();
        for i in 0..100u32 {
            let kind = if i % 2 == 0 {
                RequestKind::Create
            } else {
                RequestKind::List
            };
            let outcome = match i {
                0 => Outcome::Status(503),
                1 => Outcome::Timeout,
                _ => Outcome::Status(kind.expected_status()),
            };
            recorder.record(kind, outcome, MS, MS);
        }
        let report = Report::build(
            info(
                Scenario::Mixed,
                Mode::Open {
                    rate: 50.0,
                    workers: 64,
                },
            ),
            &recorder,
            Duration::from_secs(2),
        )
        .unwrap();
        assert_eq!(report.errors, 2);
        assert!((report.error_rate - 0.02).abs() < 1e-12);
        assert!(!report.passed);
        assert_eq!(report.checks[3].metric, "errors");
        assert!(!report.checks[3].passed);
        assert_eq!(
            report.errors_by_status,
            BTreeMap::from([("503".to_string(), 1), ("timeout".to_string(), 1)])
        );
        // The mix lists every kind, in order, even those without requests.
        let kinds: Vec<_> = report.endpoints.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, ALL_KINDS);
        assert_eq!(report.endpoints[3].errors_by_status.get("503"), Some(&1));
        let text = report.to_string();
        assert!(text.contains("open loop, 50 req/s, up to 64 in flight"));
        assert!(text.contains("service time"));
        assert!(text.contains("errors by status: 503: 1, timeout: 1"));
        assert!(text.contains("FAILED"));
        assert!(text.ends_with("FAIL: a threshold is breached"));
    }

    #[test]
    fn slow_runs_fail_on_latency() {
        let mut recorder = Recorder::new().unwrap();
        for _ in 0..98 {
            recorder.record(RequestKind::Health, Outcome::Status(200), MS, MS);
        }
        for _ in 0..2 {
            recorder.record(RequestKind::Health, Outcome::Status(200), MS * 1500, MS);
        }
        let report = Report::build(
            info(Scenario::Health, Mode::Closed { vus: 5 }),
            &recorder,
            Duration::from_secs(1),
        )
        .unwrap();
        let verdicts: Vec<_> = report.checks.iter().map(|c| (c.metric, c.passed)).collect();
        assert_eq!(
            verdicts,
            [
                ("requests", true),
                ("p95", true),
                ("p99", false),
                ("errors", true)
            ]
        );
        assert!(!report.passed);
    }

    #[test]
    fn the_json_form() {
        let mut recorder = Recorder::new().unwrap();
        recorder.record(RequestKind::Create, Outcome::Status(201), MS, MS);
        let report = Report::build(
            info(
                Scenario::Create,
                Mode::Open {
                    rate: 10.0,
                    workers: 64,
                },
            ),
            &recorder,
            Duration::from_millis(100),
        )
        .unwrap();
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["profile"], "smoke");
        assert_eq!(json["scenario"], "create");
        assert_eq!(json["mode"]["type"], "open");
        assert_eq!(json["mode"]["rate"], 10.0);
        assert_eq!(json["requests"], 1);
        assert_eq!(json["throughput"], 10.0);
        assert_eq!(json["latencyMs"]["p99_9"], 1.0);
        assert_eq!(json["thresholds"]["p95BelowMs"], 500.0);
        assert_eq!(json["thresholds"]["errorRateBelow"], 0.01);
        assert_eq!(json["endpoints"][0]["kind"], "create");
        assert_eq!(json["passed"], true);
        assert!(json["errorsByStatus"].as_object().unwrap().is_empty());
    }
}
