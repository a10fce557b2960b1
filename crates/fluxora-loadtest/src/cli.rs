//! The command line: `fluxora-loadtest --base-url URL --profile smoke|load|stress|soak
//! [--scenario health|list|get|create|mixed] [--rate R/s] [--duration 30s] [--json]`, plus the
//! peak search (`--find-peak`).
//!
//! Exit codes: 0 every threshold holds (or a sustainable rate was found), 1 a threshold is
//! breached (or no rate was sustainable), 2 usage error or the service could not be measured
//! (unreachable, or an answer that does not match the API).

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use crate::peak::PeakConfig;
use crate::profile::{Profile, Thresholds};
use crate::runner::{find_peak, run, step_line, Load, LoadError, RunConfig, Target, TargetOptions};
use crate::scenario::Scenario;
use crate::units::{human, parse_duration, parse_rate};

/// The default measured time of each peak-search step.
pub const DEFAULT_STEP: Duration = Duration::from_secs(5);

/// The fewest open-loop workers (requests in flight) when `--connections` is not given.
pub const MIN_OPEN_WORKERS: usize = 64;

/// Load harness for the Fluxora API.
///
/// Closed loop by default: the profile's virtual users each send a request, wait for the answer,
/// and send the next. With --rate, an open loop: requests are due at fixed intervals whatever the
/// answers, and latency counts from the due time, so a slow server cannot hide its slow periods
/// (no coordinated omission). Latencies go into HDR histograms (microseconds, 3 significant
/// digits). Exit codes: 0 pass, 1 a threshold is breached, 2 usage error or the service could not
/// be measured.
#[derive(Debug, Clone, Parser)]
#[command(name = "fluxora-loadtest", version, about, long_about)]
pub struct Args {
    /// The service's base URL.
    #[arg(long, value_name = "URL")]
    pub base_url: String,

    /// Virtual users, default duration and thresholds: smoke 5 VUs 10s, load 50 VUs 60s, stress
    /// 200 VUs 60s, soak 30 VUs 20m; all: p95 < 500ms, p99 < 1s, errors < 1%.
    #[arg(long, value_enum)]
    pub profile: Profile,

    /// What to send (mixed: 10% health, 20% list, 60% get, 10% create).
    #[arg(long, value_enum, default_value = "mixed")]
    pub scenario: Scenario,

    /// Open loop at this constant rate (500, 500/s, 1200/m) instead of closed-loop virtual users.
    #[arg(long, value_name = "R/s", value_parser = parse_rate, conflicts_with = "find_peak")]
    pub rate: Option<f64>,

    /// Measured time (30s, 500ms, 2m); default: the profile's. With --find-peak, per step
    /// (default 5s).
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,

    /// Unmeasured time before the measured duration (connections open, caches warm).
    #[arg(long, value_parser = parse_duration, default_value = "0s")]
    pub warmup: Duration,

    /// Closed loop: virtual users (default: the profile's).
    #[arg(long, value_name = "N")]
    pub vus: Option<usize>,

    /// Open loop and --find-peak: the most requests in flight, one connection each (default: the
    /// profile's VUs, at least 64).
    #[arg(long, value_name = "N")]
    pub connections: Option<usize>,

    /// An API key (`flx_…`) sent as `Authorization: Bearer` on every request, for a service whose
    /// stream API needs one (`fluxora keys create --name load --scope streams:read --scope
    /// streams:write`). Read from FLUXORA_API_KEY when not given; never printed.
    #[arg(
        long,
        env = "FLUXORA_API_KEY",
        value_name = "KEY",
        hide_env_values = true
    )]
    pub api_key: Option<String>,

    /// Per-request timeout; a request that takes longer counts as an error ("timeout").
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    pub timeout: Duration,

    /// Streams created before a list, get or mixed run (the reads pick among them).
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub seed_streams: usize,

    /// Client runtime threads. One (the default) is the cheapest client, which matters most when
    /// it shares the machine with the server; use more for a closed loop from a big client.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub threads: usize,

    /// Override the profile's p95 threshold (e.g. 50ms).
    #[arg(long, value_parser = parse_duration)]
    pub max_p95: Option<Duration>,

    /// Override the profile's p99 threshold (e.g. 100ms).
    #[arg(long, value_parser = parse_duration)]
    pub max_p99: Option<Duration>,

    /// Override the profile's error-rate threshold (a fraction: 0.01 = 1%).
    #[arg(long, value_name = "FRACTION")]
    pub max_error_rate: Option<f64>,

    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,

    /// Find the highest sustainable open-loop rate: raise it by --step-factor from --start-rate
    /// until the p99 passes --p99-bound or errors appear, then bisect --refine times.
    #[arg(long)]
    pub find_peak: bool,

    /// --find-peak: the first rate tried.
    #[arg(long, value_name = "R/s", value_parser = parse_rate, default_value = "500")]
    pub start_rate: f64,

    /// --find-peak: each step multiplies the rate by this.
    #[arg(long, value_name = "FACTOR", default_value_t = 1.5)]
    pub step_factor: f64,

    /// --find-peak: never offer more than this.
    #[arg(long, value_name = "R/s", value_parser = parse_rate, default_value = "1000000")]
    pub max_rate: f64,

    /// --find-peak: a rate is sustainable only with a p99 (from the due time) up to this.
    #[arg(long, value_parser = parse_duration, default_value = "10ms")]
    pub p99_bound: Duration,

    /// --find-peak: bisection steps between the last sustainable and the first failing rate.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub refine: u32,

    /// --find-peak: run a failing step again up to N times before its rate counts as failed
    /// (a stall of another process can break a p99 bound for one step).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub retries: u32,
}

impl Args {
    /// The thresholds: the profile's, with the `--max-*` overrides.
    ///
    /// Errors: a message for an error rate outside 0–1.
    pub fn thresholds(&self) -> Result<Thresholds, String> {
        let mut thresholds = self.profile.thresholds();
        if let Some(p95) = self.max_p95 {
            thresholds.p95 = p95;
        }
        if let Some(p99) = self.max_p99 {
            thresholds.p99 = p99;
        }
        if let Some(rate) = self.max_error_rate {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!(
                    "--max-error-rate is a fraction between 0 and 1 (0.01 = 1 %), not {rate}"
                ));
            }
            thresholds.error_rate = rate;
        }
        Ok(thresholds)
    }

    /// Open-loop workers: `--connections`, or the profile's VUs with at least
    /// [`MIN_OPEN_WORKERS`].
    pub fn open_workers(&self) -> usize {
        self.connections
            .unwrap_or_else(|| self.profile.vus().max(MIN_OPEN_WORKERS))
            .max(1)
    }

    /// The run's load: open loop with `--rate`, else the profile's (or `--vus`) virtual users.
    pub fn load(&self) -> Load {
        match self.rate {
            Some(rate) => Load::Open {
                rate,
                workers: self.open_workers(),
            },
            None => Load::Closed {
                vus: self.vus.unwrap_or_else(|| self.profile.vus()).max(1),
            },
        }
    }

    /// The run's parameters (with `--find-peak`, the template of each step).
    ///
    /// Errors: a message for an invalid threshold.
    pub fn run_config(&self) -> Result<RunConfig, String> {
        let default = if self.find_peak {
            DEFAULT_STEP
        } else {
            self.profile.default_duration()
        };
        Ok(RunConfig {
            profile: self.profile,
            scenario: self.scenario,
            load: self.load(),
            duration: self.duration.unwrap_or(default),
            warmup: self.warmup,
            thresholds: self.thresholds()?,
        })
    }

    /// The peak search's parameters.
    pub fn peak_config(&self) -> PeakConfig {
        PeakConfig {
            start_rate: self.start_rate,
            factor: self.step_factor,
            max_rate: self.max_rate,
            refine_steps: self.refine,
            p99_bound: self.p99_bound,
            retries: self.retries,
            ..PeakConfig::default()
        }
    }
}

/// Runs the command: prepares the target, runs (or searches the peak), prints the report, and
/// returns the exit code.
pub async fn execute(args: Args) -> ExitCode {
    match try_execute(&args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(error) => {
            eprintln!("fluxora-loadtest: {error}");
            ExitCode::from(2)
        }
    }
}

async fn try_execute(args: &Args) -> Result<bool, LoadError> {
    let config = args.run_config().map_err(LoadError::Config)?;
    if config.duration.is_zero() {
        return Err(LoadError::Config("--duration must be positive".into()));
    }
    let pool_size = if args.find_peak {
        args.open_workers()
    } else {
        config.load.concurrency()
    };
    let target = Target::prepare(&TargetOptions {
        base_url: args.base_url.clone(),
        scenario: args.scenario,
        seed_streams: args.seed_streams,
        timeout: args.timeout,
        pool_size,
        api_key: args.api_key.clone(),
    })
    .await?;
    if args.find_peak {
        eprintln!(
            "fluxora-loadtest: peak search on {} ({} per step)",
            args.scenario.name(),
            human(config.duration)
        );
        let report = find_peak(
            &target,
            &config,
            args.open_workers(),
            args.peak_config(),
            |step| eprintln!("{}", step_line(step)),
        )
        .await?;
        print(args.json, &report, &report.to_string());
        return Ok(report.sustainable_rate.is_some());
    }
    let report = run(&target, &config).await?;
    print(args.json, &report, &report.to_string());
    Ok(report.passed)
}

/// Prints the report on stdout (a closed pipe is not an error worth a panic).
fn print(json: bool, value: &impl serde::Serialize, text: &str) {
    use std::io::Write;
    let output = if json {
        match serde_json::to_string_pretty(value) {
            Ok(json) => json,
            Err(error) => {
                eprintln!("fluxora-loadtest: JSON: {error}");
                return;
            }
        }
    } else {
        text.to_string()
    };
    let _ = writeln!(std::io::stdout().lock(), "{output}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(extra: &[&str]) -> Result<Args, clap::Error> {
        let mut argv = vec![
            "fluxora-loadtest",
            "--base-url",
            "http://127.0.0.1:3000",
            "--profile",
            "smoke",
        ];
        argv.extend_from_slice(extra);
        Args::try_parse_from(argv)
    }

    #[test]
    fn defaults_are_the_profiles() {
        let args = parse(&[]).unwrap();
        let config = args.run_config().unwrap();
        assert_eq!(config.scenario, Scenario::Mixed);
        assert_eq!(config.load, Load::Closed { vus: 5 });
        assert_eq!(config.duration, Duration::from_secs(10));
        assert_eq!(config.thresholds, Thresholds::default());
        assert!(!args.json && !args.find_peak);
    }

    #[test]
    fn the_documented_command_line() {
        let args = parse(&[
            "--scenario",
            "get",
            "--rate",
            "800/s",
            "--duration",
            "30s",
            "--json",
        ])
        .unwrap();
        let config = args.run_config().unwrap();
        assert_eq!(config.scenario, Scenario::Get);
        assert_eq!(
            config.load,
            Load::Open {
                rate: 800.0,
                workers: 64
            }
        );
        assert_eq!(config.duration, Duration::from_secs(30));
        assert!(args.json);
        let stress = Args::try_parse_from([
            "fluxora-loadtest",
            "--base-url",
            "http://x",
            "--profile",
            "stress",
            "--rate",
            "100",
        ])
        .unwrap();
        assert_eq!(
            stress.load(),
            Load::Open {
                rate: 100.0,
                workers: 200
            }
        );
    }

    #[test]
    fn overrides() {
        let args = parse(&[
            "--vus",
            "3",
            "--max-p95",
            "20ms",
            "--max-p99",
            "50ms",
            "--max-error-rate",
            "0",
        ])
        .unwrap();
        let config = args.run_config().unwrap();
        assert_eq!(config.load, Load::Closed { vus: 3 });
        assert_eq!(config.thresholds.p95, Duration::from_millis(20));
        assert_eq!(config.thresholds.p99, Duration::from_millis(50));
        assert_eq!(config.thresholds.error_rate, 0.0);
        let bad = parse(&["--max-error-rate", "5"]).unwrap();
        assert!(bad.run_config().is_err());
    }

    #[test]
    fn peak_search_options() {
        let args = parse(&[
            "--find-peak",
            "--start-rate",
            "1000",
            "--p99-bound",
            "5ms",
            "--connections",
            "32",
        ])
        .unwrap();
        let config = args.run_config().unwrap();
        assert_eq!(config.duration, DEFAULT_STEP);
        let peak = args.peak_config();
        assert_eq!(peak.start_rate, 1000.0);
        assert_eq!(peak.p99_bound, Duration::from_millis(5));
        assert_eq!(peak.factor, 1.5);
        assert_eq!(peak.refine_steps, 3);
        assert_eq!(peak.retries, 1);
        assert_eq!(args.open_workers(), 32);
        // A fixed rate and a search exclude each other.
        assert!(parse(&["--find-peak", "--rate", "100"]).is_err());
    }

    #[test]
    fn usage_errors() {
        assert!(parse(&["--profile", "huge"]).is_err());
        assert!(parse(&["--scenario", "delete"]).is_err());
        assert!(parse(&["--rate", "0"]).is_err());
        assert!(parse(&["--duration", "soon"]).is_err());
        assert!(Args::try_parse_from(["fluxora-loadtest", "--profile", "smoke"]).is_err());
    }
}
