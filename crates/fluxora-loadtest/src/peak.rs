//! Peak finding: raise the open-loop rate step by step until the p99 latency passes a bound or
//! errors appear, then narrow the gap between the last sustainable rate and the first failing one.
//! The search itself is pure ([`PeakSearch`], [`judge`]); the runner measures each step.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use crate::report::Report;
use crate::scenario::Scenario;
use crate::units::trim_float;

/// How the search proceeds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PeakConfig {
    /// The first rate tried (requests per second).
    pub start_rate: f64,
    /// Each step multiplies the rate by this (> 1) until a step fails.
    pub factor: f64,
    /// The search never offers more than this.
    pub max_rate: f64,
    /// Bisection steps between the last sustainable and the first failing rate.
    pub refine_steps: u32,
    /// A step is sustainable only if its p99 latency (from the due time) is at most this.
    pub p99_bound: Duration,
    /// …and its throughput is at least this share of the offered rate.
    pub min_throughput_ratio: f64,
    /// A failing step is run again up to this many times before the rate counts as failed: on
    /// a shared machine one stall of another process can break a p99 bound for a whole step.
    pub retries: u32,
}

impl Default for PeakConfig {
    fn default() -> Self {
        PeakConfig {
            start_rate: 500.0,
            factor: 1.5,
            max_rate: 1_000_000.0,
            refine_steps: 3,
            p99_bound: Duration::from_millis(10),
            min_throughput_ratio: 0.95,
            retries: 1,
        }
    }
}

/// The lowest rate the downward search tries when the start rate already fails.
pub const MIN_RATE: f64 = 1.0;

/// What a step measured, as the search judges it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepMeasure {
    /// The offered rate.
    pub rate: f64,
    /// Requests measured.
    pub requests: u64,
    /// Failed requests.
    pub errors: u64,
    /// Measured requests per second.
    pub throughput: f64,
    /// p99 latency from the due time.
    pub p99: Duration,
}

/// Whether a step's rate is sustainable: no errors, p99 within the bound, and the throughput
/// kept up with the offered rate. `Err` names the first reason it is not.
pub fn judge(config: &PeakConfig, step: &StepMeasure) -> Result<(), String> {
    if step.requests == 0 {
        return Err("no request was measured".into());
    }
    if step.errors > 0 {
        return Err(format!("{} errors", step.errors));
    }
    if step.p99 > config.p99_bound {
        return Err(format!(
            "p99 {} ms > {} ms",
            trim_float(step.p99.as_secs_f64() * 1e3),
            trim_float(config.p99_bound.as_secs_f64() * 1e3)
        ));
    }
    if step.throughput < step.rate * config.min_throughput_ratio {
        return Err(format!(
            "throughput {} req/s < {} % of the offered rate",
            trim_float(step.throughput),
            trim_float(config.min_throughput_ratio * 100.0)
        ));
    }
    Ok(())
}

/// The search's state: the best sustainable rate and the lowest failing one seen so far.
#[derive(Debug, Clone, PartialEq)]
pub struct PeakSearch {
    config: PeakConfig,
    best_pass: Option<f64>,
    lowest_fail: Option<f64>,
    refined: u32,
    /// The rate being retried and how many times it has failed so far.
    failing: Option<(f64, u32)>,
}

/// Rates above 10/s are whole numbers (readable reports); lower ones keep two decimals.
fn round_rate(rate: f64) -> f64 {
    if rate >= 10.0 {
        rate.round()
    } else {
        (rate * 100.0).round() / 100.0
    }
}

impl PeakSearch {
    /// A new search.
    ///
    /// Errors: a message when the start rate is not positive, the factor is not above 1, or the
    /// maximum is below the start.
    pub fn new(config: PeakConfig) -> Result<Self, String> {
        if !(config.start_rate.is_finite() && config.start_rate > 0.0) {
            return Err("--start-rate must be positive".into());
        }
        if !(config.factor.is_finite() && config.factor > 1.0) {
            return Err("--step-factor must be greater than 1".into());
        }
        if config.max_rate.is_nan() || config.max_rate < config.start_rate {
            return Err("--max-rate must be at least --start-rate".into());
        }
        Ok(PeakSearch {
            config,
            best_pass: None,
            lowest_fail: None,
            refined: 0,
            failing: None,
        })
    }

    /// The search's configuration.
    pub fn config(&self) -> &PeakConfig {
        &self.config
    }

    /// The first rate to try.
    pub fn first_rate(&self) -> f64 {
        round_rate(self.config.start_rate)
    }

    /// Takes the verdict of the step at `rate` and returns the next rate to try, or `None` when
    /// the search is over.
    ///
    /// While every step passes, the rate grows by the factor (up to the maximum); if the first
    /// step fails, it shrinks by the factor until one passes. Once a sustainable and a failing
    /// rate are known, each further step tries their midpoint, `refine_steps` times or until
    /// they are within 2 % of each other. A failing rate is first tried again, `retries` times;
    /// a rate counts as sustainable if any of its tries is.
    pub fn next(&mut self, rate: f64, sustainable: bool) -> Option<f64> {
        if !sustainable {
            let failures = match self.failing {
                Some((failing, count)) if failing == rate => count + 1,
                _ => 1,
            };
            if failures <= self.config.retries {
                self.failing = Some((rate, failures));
                return Some(rate);
            }
        }
        self.failing = None;
        if sustainable {
            self.best_pass = Some(self.best_pass.map_or(rate, |best| best.max(rate)));
        } else {
            self.lowest_fail = Some(self.lowest_fail.map_or(rate, |low| low.min(rate)));
        }
        match (self.best_pass, self.lowest_fail) {
            (Some(pass), None) => {
                if pass >= self.config.max_rate {
                    None
                } else {
                    Some(round_rate(
                        (pass * self.config.factor).min(self.config.max_rate),
                    ))
                }
            }
            (None, Some(fail)) => {
                let lower = round_rate(fail / self.config.factor);
                (lower >= MIN_RATE && lower < fail).then_some(lower)
            }
            (Some(pass), Some(fail)) => {
                let midpoint = round_rate((pass + fail) / 2.0);
                let narrow = fail - pass <= pass * 0.02;
                if self.refined >= self.config.refine_steps
                    || narrow
                    || midpoint <= pass
                    || midpoint >= fail
                {
                    None
                } else {
                    self.refined += 1;
                    Some(midpoint)
                }
            }
            (None, None) => None,
        }
    }

    /// The highest sustainable rate found.
    pub fn sustainable(&self) -> Option<f64> {
        self.best_pass
    }
}

/// One measured step of a search.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PeakStep {
    /// The offered rate.
    pub rate: f64,
    /// Requests measured.
    pub requests: u64,
    /// Failed requests.
    pub errors: u64,
    /// Measured requests per second.
    pub throughput: f64,
    /// Median latency from the due time (ms).
    pub p50_ms: f64,
    /// p99 latency from the due time (ms).
    pub p99_ms: f64,
    /// p99 service time (ms).
    pub service_p99_ms: f64,
    /// Largest latency (ms).
    pub max_ms: f64,
    /// Whether the rate is sustainable.
    pub sustainable: bool,
    /// Why not, when it is not.
    pub reason: Option<String>,
}

impl PeakStep {
    /// The step's row, from the step's report and verdict.
    pub fn from_report(rate: f64, report: &Report, verdict: &Result<(), String>) -> Self {
        PeakStep {
            rate,
            requests: report.requests,
            errors: report.errors,
            throughput: report.throughput,
            p50_ms: report.latency_ms.p50,
            p99_ms: report.latency_ms.p99,
            service_p99_ms: report.service_time_ms.p99,
            max_ms: report.latency_ms.max,
            sustainable: verdict.is_ok(),
            reason: verdict.as_ref().err().cloned(),
        }
    }

    /// The measurement the search judges.
    pub fn measure(report: &Report, rate: f64) -> StepMeasure {
        StepMeasure {
            rate,
            requests: report.requests,
            errors: report.errors,
            throughput: report.throughput,
            p99: Duration::from_secs_f64(report.latency_ms.p99 / 1e3),
        }
    }
}

/// The result of a peak search.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PeakReport {
    /// The service's base URL.
    pub base_url: String,
    /// The scenario.
    pub scenario: Scenario,
    /// The p99 bound (ms).
    pub p99_bound_ms: f64,
    /// Measured seconds per step.
    pub step_s: f64,
    /// Workers (the most requests in flight).
    pub workers: usize,
    /// Every step, in the order run.
    pub steps: Vec<PeakStep>,
    /// The highest sustainable rate, if any.
    pub sustainable_rate: Option<f64>,
    /// Whether the search stopped at `--max-rate` without failing.
    pub reached_max_rate: bool,
}

impl fmt::Display for PeakReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "fluxora-loadtest: peak search, {} scenario against {} (open loop, {} s per step, up to {} in flight, p99 bound {} ms)",
            self.scenario.name(),
            self.base_url,
            trim_float(self.step_s),
            self.workers,
            trim_float(self.p99_bound_ms)
        )?;
        writeln!(
            f,
            "  {:>10} {:>11} {:>8} {:>7} {:>9} {:>9} {:>11} {:>9}  verdict",
            "rate/s",
            "throughput",
            "requests",
            "errors",
            "p50 ms",
            "p99 ms",
            "svc p99 ms",
            "max ms"
        )?;
        for step in &self.steps {
            writeln!(
                f,
                "  {:>10} {:>11.1} {:>8} {:>7} {:>9.3} {:>9.3} {:>11.3} {:>9.2}  {}",
                trim_float(step.rate),
                step.throughput,
                step.requests,
                step.errors,
                step.p50_ms,
                step.p99_ms,
                step.service_p99_ms,
                step.max_ms,
                step.reason.as_deref().unwrap_or("sustainable")
            )?;
        }
        match self.sustainable_rate {
            Some(rate) if self.reached_max_rate => write!(
                f,
                "sustainable rate: {} req/s (the --max-rate; the peak may be higher)",
                trim_float(rate)
            ),
            Some(rate) => write!(f, "sustainable rate: {} req/s", trim_float(rate)),
            None => write!(f, "no sustainable rate found"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> PeakConfig {
        PeakConfig {
            start_rate: 1000.0,
            factor: 2.0,
            max_rate: 100_000.0,
            refine_steps: 3,
            p99_bound: Duration::from_millis(5),
            min_throughput_ratio: 0.95,
            retries: 0,
        }
    }

    /// Runs a search against a server that sustains exactly `capacity` req/s.
    fn search(config: PeakConfig, capacity: f64) -> (Vec<f64>, Option<f64>) {
        let mut search = PeakSearch::new(config).unwrap();
        let mut rates = vec![];
        let mut next = Some(search.first_rate());
        while let Some(rate) = next {
            rates.push(rate);
            assert!(rates.len() < 100, "the search does not end: {rates:?}");
            next = search.next(rate, rate <= capacity);
        }
        (rates, search.sustainable())
    }

    #[test]
    fn grows_until_a_failure_then_bisects() {
        let (rates, best) = search(config(), 5000.0);
        assert_eq!(
            rates,
            [1000.0, 2000.0, 4000.0, 8000.0, 6000.0, 5000.0, 5500.0]
        );
        assert_eq!(best, Some(5000.0));
    }

    #[test]
    fn stops_at_the_maximum_rate() {
        let mut c = config();
        c.max_rate = 3000.0;
        let (rates, best) = search(c, 1e9);
        assert_eq!(rates, [1000.0, 2000.0, 3000.0]);
        assert_eq!(best, Some(3000.0));
    }

    #[test]
    fn searches_downward_when_the_start_fails() {
        let (rates, best) = search(config(), 300.0);
        // 1000 fails, 500 fails, 250 passes; then bisect 250..500.
        assert_eq!(rates, [1000.0, 500.0, 250.0, 375.0, 313.0, 282.0]);
        assert_eq!(best, Some(282.0));
    }

    #[test]
    fn nothing_sustainable() {
        let (rates, best) = search(config(), 0.0);
        assert_eq!(rates.last(), Some(&1.0));
        assert!(rates.iter().all(|&r| r >= MIN_RATE));
        assert_eq!(best, None);
    }

    #[test]
    fn no_refinement_when_asked() {
        let mut c = config();
        c.refine_steps = 0;
        let (rates, best) = search(c, 5000.0);
        assert_eq!(rates, [1000.0, 2000.0, 4000.0, 8000.0]);
        assert_eq!(best, Some(4000.0));
    }

    #[test]
    fn refinement_stops_when_the_gap_is_small() {
        let mut c = config();
        c.factor = 1.01;
        c.refine_steps = 10;
        let (rates, best) = search(c, 1015.0);
        assert_eq!(rates, [1000.0, 1010.0, 1020.0]);
        assert_eq!(best, Some(1010.0));
    }

    #[test]
    fn a_failing_rate_is_retried_before_it_counts() {
        let mut c = config();
        c.retries = 1;
        c.refine_steps = 0;
        let mut s = PeakSearch::new(c).unwrap();
        // 2000 fails once (a stall elsewhere), then passes on its retry: the search goes on.
        assert_eq!(s.next(1000.0, true), Some(2000.0));
        assert_eq!(s.next(2000.0, false), Some(2000.0));
        assert_eq!(s.next(2000.0, true), Some(4000.0));
        // 4000 fails twice: it has failed.
        assert_eq!(s.next(4000.0, false), Some(4000.0));
        assert_eq!(s.next(4000.0, false), None);
        assert_eq!(s.sustainable(), Some(2000.0));

        // With the default (one retry), a steady capacity costs one extra step per failing rate.
        let mut c = config();
        c.retries = 1;
        let (rates, best) = search(c, 5000.0);
        assert_eq!(
            rates,
            [1000.0, 2000.0, 4000.0, 8000.0, 8000.0, 6000.0, 6000.0, 5000.0, 5500.0, 5500.0]
        );
        assert_eq!(best, Some(5000.0));
    }

    #[test]
    fn bad_configurations_are_refused() {
        let mut c = config();
        c.factor = 1.0;
        assert!(PeakSearch::new(c).is_err());
        let mut c = config();
        c.start_rate = 0.0;
        assert!(PeakSearch::new(c).is_err());
        let mut c = config();
        c.max_rate = 10.0;
        assert!(PeakSearch::new(c).is_err());
    }

    #[test]
    fn the_verdict_of_a_step() {
        let c = config();
        let good = StepMeasure {
            rate: 1000.0,
            requests: 5000,
            errors: 0,
            throughput: 998.0,
            p99: Duration::from_micros(4900),
        };
        assert_eq!(judge(&c, &good), Ok(()));
        assert_eq!(
            judge(&c, &StepMeasure { errors: 3, ..good }),
            Err("3 errors".into())
        );
        assert_eq!(
            judge(
                &c,
                &StepMeasure {
                    p99: Duration::from_micros(5100),
                    ..good
                }
            ),
            Err("p99 5.1 ms > 5 ms".into())
        );
        assert!(judge(
            &c,
            &StepMeasure {
                throughput: 900.0,
                ..good
            }
        )
        .unwrap_err()
        .starts_with("throughput 900 req/s"));
        assert!(judge(
            &c,
            &StepMeasure {
                requests: 0,
                ..good
            }
        )
        .is_err());
    }
}
