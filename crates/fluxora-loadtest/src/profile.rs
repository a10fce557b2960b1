//! Load profiles (those of `k6/`, from the prototype) and their pass/fail thresholds.

use std::time::Duration;

use serde::Serialize;

use crate::units::trim_float;

/// A load profile: how many virtual users, for how long, judged by which thresholds.
///
/// | profile | virtual users | default duration |
/// |---|---|---|
/// | `smoke` | 5 | 10 s |
/// | `load` | 50 | 60 s |
/// | `stress` | 200 | 60 s |
/// | `soak` | 30 | 20 min |
///
/// Every profile uses the prototype's thresholds ([`Thresholds::default`]); `--duration`,
/// `--vus` and the `--max-*` flags override the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// 5 virtual users for 10 s: does everything answer, quickly?
    Smoke,
    /// 50 virtual users for 60 s: the expected busy load.
    Load,
    /// 200 virtual users for 60 s: past the expected load.
    Stress,
    /// 30 virtual users for 20 minutes: leaks and slow drifts.
    Soak,
}

impl Profile {
    /// The profile's name, as on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Smoke => "smoke",
            Profile::Load => "load",
            Profile::Stress => "stress",
            Profile::Soak => "soak",
        }
    }

    /// Concurrent virtual users of the closed-loop mode.
    pub fn vus(self) -> usize {
        match self {
            Profile::Smoke => 5,
            Profile::Load => 50,
            Profile::Stress => 200,
            Profile::Soak => 30,
        }
    }

    /// How long the profile runs when `--duration` is not given.
    pub fn default_duration(self) -> Duration {
        match self {
            Profile::Smoke => Duration::from_secs(10),
            Profile::Load | Profile::Stress => Duration::from_secs(60),
            Profile::Soak => Duration::from_secs(20 * 60),
        }
    }

    /// The profile's thresholds (the same for every profile, as in the prototype).
    pub fn thresholds(self) -> Thresholds {
        Thresholds::default()
    }
}

/// Pass/fail limits of a run; a run passes when every limit holds (strictly below).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Thresholds {
    /// 95th percentile latency must be below this.
    #[serde(serialize_with = "serialize_ms", rename = "p95BelowMs")]
    pub p95: Duration,
    /// 99th percentile latency must be below this.
    #[serde(serialize_with = "serialize_ms", rename = "p99BelowMs")]
    pub p99: Duration,
    /// The share of failed requests (0.01 = 1 %) must be below this.
    #[serde(rename = "errorRateBelow")]
    pub error_rate: f64,
}

impl Default for Thresholds {
    /// The prototype's thresholds: p95 < 500 ms, p99 < 1 s, errors < 1 %.
    fn default() -> Self {
        Thresholds {
            p95: Duration::from_millis(500),
            p99: Duration::from_secs(1),
            error_rate: 0.01,
        }
    }
}

fn serialize_ms<S: serde::Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64(value.as_secs_f64() * 1e3)
}

/// The measured values the thresholds judge.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observed {
    /// Requests measured.
    pub requests: u64,
    /// Measured 95th percentile latency.
    pub p95: Duration,
    /// Measured 99th percentile latency.
    pub p99: Duration,
    /// Failed requests / requests (0 when there were none).
    pub error_rate: f64,
}

/// One threshold's verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ThresholdCheck {
    /// What was checked: `requests`, `p95`, `p99` or `errors`.
    pub metric: &'static str,
    /// The limit, readable: `"< 500 ms"`, `"< 1 %"`, `"> 0"`.
    pub limit: String,
    /// The measured value, readable: `"1.23 ms"`, `"0 %"`, `"1234"`.
    pub actual: String,
    /// Whether the limit holds.
    pub passed: bool,
}

impl Thresholds {
    /// Judges `observed`: one check per limit, plus "at least one request" (a run that measured
    /// nothing proves nothing and fails).
    pub fn evaluate(&self, observed: &Observed) -> Vec<ThresholdCheck> {
        let ms = |d: Duration| format!("{} ms", trim_float(d.as_secs_f64() * 1e3));
        let percent = |r: f64| format!("{} %", trim_float(r * 100.0));
        vec![
            ThresholdCheck {
                metric: "requests",
                limit: "> 0".into(),
                actual: observed.requests.to_string(),
                passed: observed.requests > 0,
            },
            ThresholdCheck {
                metric: "p95",
                limit: format!("< {}", ms(self.p95)),
                actual: ms(observed.p95),
                passed: observed.p95 < self.p95,
            },
            ThresholdCheck {
                metric: "p99",
                limit: format!("< {}", ms(self.p99)),
                actual: ms(observed.p99),
                passed: observed.p99 < self.p99,
            },
            ThresholdCheck {
                metric: "errors",
                limit: format!("< {}", percent(self.error_rate)),
                actual: percent(observed.error_rate),
                passed: observed.error_rate < self.error_rate,
            },
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observed(p95_ms: u64, p99_ms: u64, error_rate: f64) -> Observed {
        Observed {
            requests: 1000,
            p95: Duration::from_millis(p95_ms),
            p99: Duration::from_millis(p99_ms),
            error_rate,
        }
    }

    fn passed(checks: &[ThresholdCheck]) -> Vec<(&'static str, bool)> {
        checks.iter().map(|c| (c.metric, c.passed)).collect()
    }

    #[test]
    fn the_prototype_thresholds() {
        let t = Thresholds::default();
        assert_eq!(t.p95, Duration::from_millis(500));
        assert_eq!(t.p99, Duration::from_secs(1));
        assert_eq!(t.error_rate, 0.01);
        for profile in [
            Profile::Smoke,
            Profile::Load,
            Profile::Stress,
            Profile::Soak,
        ] {
            assert_eq!(profile.thresholds(), t);
        }
    }

    #[test]
    fn profiles_match_the_prototype() {
        assert_eq!(Profile::Smoke.vus(), 5);
        assert_eq!(Profile::Load.vus(), 50);
        assert_eq!(Profile::Stress.vus(), 200);
        assert_eq!(Profile::Soak.vus(), 30);
        assert_eq!(Profile::Soak.default_duration(), Duration::from_secs(1200));
        assert!(Profile::Smoke.default_duration() < Duration::from_secs(30));
    }

    #[test]
    fn a_fast_clean_run_passes_every_check() {
        let checks = Thresholds::default().evaluate(&observed(3, 5, 0.0));
        assert_eq!(
            passed(&checks),
            [
                ("requests", true),
                ("p95", true),
                ("p99", true),
                ("errors", true)
            ]
        );
        assert_eq!(checks[1].limit, "< 500 ms");
        assert_eq!(checks[1].actual, "3 ms");
        assert_eq!(checks[3].limit, "< 1 %");
    }

    #[test]
    fn limits_are_strict() {
        // Exactly at a limit fails: "p95 < 500 ms", "errors < 1 %".
        let checks = Thresholds::default().evaluate(&observed(500, 1000, 0.01));
        assert_eq!(
            passed(&checks),
            [
                ("requests", true),
                ("p95", false),
                ("p99", false),
                ("errors", false)
            ]
        );
        let checks = Thresholds::default().evaluate(&observed(499, 999, 0.0099));
        assert!(checks.iter().all(|c| c.passed));
    }

    #[test]
    fn each_limit_fails_alone() {
        let t = Thresholds::default();
        assert_eq!(
            passed(&t.evaluate(&observed(600, 700, 0.0)))[1],
            ("p95", false)
        );
        assert_eq!(
            passed(&t.evaluate(&observed(10, 1500, 0.0)))[2],
            ("p99", false)
        );
        let errors = t.evaluate(&observed(10, 20, 0.02));
        assert_eq!(passed(&errors)[3], ("errors", false));
        assert_eq!(errors[3].actual, "2 %");
    }

    #[test]
    fn a_run_without_requests_fails() {
        let mut none = observed(0, 0, 0.0);
        none.requests = 0;
        let checks = Thresholds::default().evaluate(&none);
        assert_eq!(passed(&checks)[0], ("requests", false));
    }
}
