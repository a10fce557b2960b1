//! Load harness for the Fluxora API (results and commands: `docs/benchmarks.md`): the k6 scenarios
//! and profiles of `k6/` in Rust, with an open-loop mode that avoids coordinated omission and a
//! peak search.
//!
//! - [`scenario`]: what is sent (`health`, `list`, `get`, `create`, `mixed`).
//! - [`profile`]: smoke, load, stress and soak, and their thresholds (p95 < 500 ms,
//!   p99 < 1 s, errors < 1 %).
//! - [`schedule`]: the open loop's constant-rate schedule; latency from the due time.
//! - [`stats`]: HDR histograms per request kind, errors by status.
//! - [`report`]: percentiles (p50, p90, p95, p99, p99.9, max), throughput, verdicts; text or
//!   JSON.
//! - [`peak`]: the search for the highest sustainable rate.
//! - [`runner`]: the HTTP side (reqwest on tokio): preflight, seeding, the loops.
//! - [`cli`]: the `fluxora-loadtest` command.
//!
//! Everything but [`runner`] and [`cli`] is pure and unit-tested; the crate's integration tests
//! run every scenario against the real service.
//!
//! ```no_run
//! # async fn example() -> Result<(), fluxora_loadtest::runner::LoadError> {
//! use std::time::Duration;
//! use fluxora_loadtest::profile::Profile;
//! use fluxora_loadtest::runner::{run, Load, RunConfig, Target, TargetOptions};
//! use fluxora_loadtest::scenario::Scenario;
//!
//! let target = Target::prepare(&TargetOptions {
//!     base_url: "http://127.0.0.1:3000".into(),
//!     scenario: Scenario::Get,
//!     seed_streams: 100,
//!     timeout: Duration::from_secs(10),
//!     pool_size: 64,
//!     api_key: None,
//! })
//! .await?;
//! let report = run(&target, &RunConfig {
//!     profile: Profile::Smoke,
//!     scenario: Scenario::Get,
//!     load: Load::Open { rate: 1000.0, workers: 64 },
//!     duration: Duration::from_secs(10),
//!     warmup: Duration::from_secs(1),
//!     thresholds: Profile::Smoke.thresholds(),
//! })
//! .await?;
//! println!("{report}");
//! # Ok(())
//! # }
//! ```

pub mod cli;
pub mod peak;
pub mod profile;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod schedule;
pub mod stats;
pub mod units;
