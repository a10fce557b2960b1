//! Running a load: the HTTP client, the preflight and seeding, the closed and open loops, and
//! the peak search.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use reqwest::header::CONTENT_TYPE;
use reqwest::{Client, Url};
use serde_json::Value;

use crate::peak::{judge, PeakConfig, PeakReport, PeakSearch, PeakStep};
use crate::profile::{Profile, Thresholds};
use crate::report::{Mode, Report, RunInfo};
use crate::scenario::{stream_for, RequestKind, Scenario, CREATE_BODY, LIST_LIMIT};
use crate::schedule::{latency_from_due, RateSchedule};
use crate::stats::{HistogramError, Outcome, Recorder};
use crate::units::trim_float;

/// Creates run this many at a time while seeding.
const SEED_CONCURRENCY: usize = 8;

/// Why a run could not be made (as opposed to a run that breached its thresholds).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// An invalid option.
    #[error("{0}")]
    Config(String),
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    /// The service did not answer the preflight request.
    #[error("{url} did not answer: {source}")]
    Unreachable {
        /// The request's URL.
        url: String,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// The service answered the preflight with an unexpected status or shape: the harness and
    /// the API disagree, so a run would only measure errors.
    #[error("unexpected answer from {url}: {problem}")]
    Preflight {
        /// The request's URL.
        url: String,
        /// What was wrong.
        problem: String,
    },
    /// Recording failed.
    #[error(transparent)]
    Histogram(#[from] HistogramError),
    /// A worker task failed.
    #[error("a load worker failed: {0}")]
    Worker(String),
}

/// How the load is offered.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Load {
    /// Closed loop: `vus` virtual users, each sending its next request when the previous one is
    /// answered (no think time).
    Closed {
        /// Virtual users.
        vus: usize,
    },
    /// Open loop: a request due every `1 / rate` seconds, sent by up to `workers` concurrent
    /// workers; latency counts from the due time.
    Open {
        /// Requests per second.
        rate: f64,
        /// The most requests in flight.
        workers: usize,
    },
}

impl Load {
    /// Concurrent requests at most (the connection pool's size).
    pub fn concurrency(self) -> usize {
        match self {
            Load::Closed { vus } => vus,
            Load::Open { workers, .. } => workers,
        }
    }
}

/// One run's parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct RunConfig {
    /// The profile (for the report).
    pub profile: Profile,
    /// What to send.
    pub scenario: Scenario,
    /// How to send it.
    pub load: Load,
    /// The measured time.
    pub duration: Duration,
    /// Unmeasured time before it.
    pub warmup: Duration,
    /// The limits.
    pub thresholds: Thresholds,
}

/// Options of [`Target::prepare`].
#[derive(Debug, Clone, PartialEq)]
pub struct TargetOptions {
    /// The service's base URL (`http://127.0.0.1:3000`).
    pub base_url: String,
    /// The scenario the target will serve (decides what is checked and seeded).
    pub scenario: Scenario,
    /// Streams to create for `list`, `get` and `mixed` (at least 1 for `get` and `mixed`).
    pub seed_streams: usize,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Idle connections kept per host: the most concurrent requests of the runs.
    pub pool_size: usize,
    /// An API key sent as `Authorization: Bearer` on every request (a service with keys refuses
    /// anonymous writes); `None` sends no credential.
    pub api_key: Option<String>,
}

/// A checked service, with its prepared URLs and the ids of the streams to read.
#[derive(Debug, Clone)]
pub struct Target {
    client: Client,
    base_url: String,
    health: Url,
    list: Url,
    create: Url,
    streams: Vec<Url>,
    seeded: usize,
}

fn classify(error: &reqwest::Error) -> Outcome {
    if error.is_timeout() {
        Outcome::Timeout
    } else if error.is_connect() {
        Outcome::Connect
    } else {
        Outcome::Io
    }
}

impl Target {
    /// Builds the client, checks that the service answers each request of the scenario with the
    /// expected status and shape, and creates the streams the reads need.
    ///
    /// Errors: [`LoadError::Unreachable`] when the service does not answer,
    /// [`LoadError::Preflight`] when it answers unexpectedly, [`LoadError::Config`] for a bad URL.
    pub async fn prepare(options: &TargetOptions) -> Result<Target, LoadError> {
        let base_url = options.base_url.trim_end_matches('/').to_string();
        let base = Url::parse(&format!("{base_url}/"))
            .map_err(|e| LoadError::Config(format!("--base-url {base_url:?}: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(LoadError::Config(format!(
                "--base-url {base_url:?} is not an http:// URL"
            )));
        }
        let join = |path: &str| {
            base.join(path)
                .map_err(|e| LoadError::Config(format!("{base_url}{path}: {e}")))
        };
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(key) = &options.api_key {
            let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {key}"))
                .map_err(|_| {
                    LoadError::Config("--api-key must be printable ASCII (flx_…)".into())
                })?;
            value.set_sensitive(true);
            headers.insert(reqwest::header::AUTHORIZATION, value);
        }
        let client = Client::builder()
            .default_headers(headers)
            .pool_max_idle_per_host(options.pool_size.max(1))
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_nodelay(true)
            .timeout(options.timeout)
            .connect_timeout(options.timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .http1_only()
            .user_agent(concat!("fluxora-loadtest/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(LoadError::Client)?;
        let mut target = Target {
            health: join("health")?,
            list: join(&format!("api/streams?limit={LIST_LIMIT}"))?,
            create: join("api/streams")?,
            streams: Vec::new(),
            seeded: 0,
            client,
            base_url,
        };
        let scenario = options.scenario;
        let kinds = scenario.kinds();
        if kinds.contains(&RequestKind::Health) {
            let body = target.check(target.health.clone(), None, 200).await?;
            if !body["status"].is_string() {
                return Err(target.problem(&target.health, "no \"status\" in the health report"));
            }
        }
        let wanted = if scenario.needs_streams() {
            options.seed_streams
        } else if kinds.contains(&RequestKind::Create) {
            1 // the preflight of the create scenario
        } else {
            0
        };
        if wanted == 0 && kinds.contains(&RequestKind::Get) {
            return Err(LoadError::Config(format!(
                "the {} scenario reads streams: --seed-streams must be at least 1",
                scenario.name()
            )));
        }
        target.seed(wanted).await?;
        if kinds.contains(&RequestKind::List) {
            let body = target.check(target.list.clone(), None, 200).await?;
            let shaped = body["streams"].is_array()
                && body["hasMore"].is_boolean()
                && (body["nextCursor"].is_null() || body["nextCursor"].is_string())
                && body.get("nextCursor").is_some();
            if !shaped {
                return Err(target.problem(
                    &target.list,
                    "not a {\"streams\":[…],\"nextCursor\",\"hasMore\"} page",
                ));
            }
        }
        if let Some(url) = target.streams.first().cloned() {
            let body = target.check(url.clone(), None, 200).await?;
            let id = url.path_segments().and_then(|mut s| s.next_back());
            if body["id"].as_str() != id {
                return Err(target.problem(&url, "the stream's id differs from the requested one"));
            }
        }
        Ok(target)
    }

    /// The base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Streams created by [`Target::prepare`].
    pub fn seeded(&self) -> usize {
        self.seeded
    }

    fn problem(&self, url: &Url, problem: &str) -> LoadError {
        LoadError::Preflight {
            url: url.to_string(),
            problem: problem.to_string(),
        }
    }

    /// Sends one request (a POST of `body` when given), expects `status`, returns the JSON body.
    async fn check(
        &self,
        url: Url,
        body: Option<&'static str>,
        status: u16,
    ) -> Result<Value, LoadError> {
        let request = match body {
            Some(body) => self
                .client
                .post(url.clone())
                .header(CONTENT_TYPE, "application/json")
                .body(body),
            None => self.client.get(url.clone()),
        };
        let unreachable = |source| LoadError::Unreachable {
            url: url.to_string(),
            source,
        };
        let response = request.send().await.map_err(unreachable)?;
        let actual = response.status().as_u16();
        let bytes = response.bytes().await.map_err(unreachable)?;
        if actual != status {
            let text = String::from_utf8_lossy(&bytes);
            let excerpt: String = text.chars().take(300).collect();
            return Err(self.problem(
                &url,
                &format!("status {actual} (expected {status}): {excerpt}"),
            ));
        }
        serde_json::from_slice(&bytes).map_err(|e| self.problem(&url, &format!("not JSON: {e}")))
    }

    /// Creates `count` streams, [`SEED_CONCURRENCY`] at a time, and keeps their URLs.
    async fn seed(&mut self, count: usize) -> Result<(), LoadError> {
        let mut created = 0;
        while created < count {
            let batch = (count - created).min(SEED_CONCURRENCY);
            let mut tasks = tokio::task::JoinSet::new();
            for _ in 0..batch {
                let target = self.clone();
                tasks.spawn(async move {
                    let body = target
                        .check(target.create.clone(), Some(CREATE_BODY), 201)
                        .await?;
                    let id = body["id"]
                        .as_str()
                        .filter(|id| !id.is_empty())
                        .ok_or_else(|| {
                            target.problem(&target.create, "no \"id\" in the created stream")
                        })?;
                    target
                        .create
                        .join(&format!("streams/{id}"))
                        .map_err(|e| target.problem(&target.create, &format!("bad id {id:?}: {e}")))
                });
            }
            while let Some(joined) = tasks.join_next().await {
                let url = joined.map_err(|e| LoadError::Worker(e.to_string()))??;
                self.streams.push(url);
            }
            created += batch;
        }
        self.seeded = created;
        Ok(())
    }

    /// Sends the `index`-th request of a run, of `kind`, and reads the whole answer.
    pub async fn send(&self, kind: RequestKind, index: u64) -> Outcome {
        let request = match kind {
            RequestKind::Health => self.client.get(self.health.clone()),
            RequestKind::List => self.client.get(self.list.clone()),
            RequestKind::Get => match self.streams.get(stream_for(index, self.streams.len())) {
                Some(url) => self.client.get(url.clone()),
                // `prepare` refuses a read scenario without streams.
                None => return Outcome::Io,
            },
            RequestKind::Create => self
                .client
                .post(self.create.clone())
                .header(CONTENT_TYPE, "application/json")
                .body(CREATE_BODY),
        };
        match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                match response.bytes().await {
                    Ok(_) => Outcome::Status(status),
                    Err(error) => classify(&error),
                }
            }
            Err(error) => classify(&error),
        }
    }
}

type SharedRecorder = Arc<Mutex<Recorder>>;

fn record(
    recorder: &SharedRecorder,
    kind: RequestKind,
    outcome: Outcome,
    latency: Duration,
    service: Duration,
) {
    // A poisoned lock only means another worker panicked mid-record; the counts stay usable.
    let mut recorder = recorder.lock().unwrap_or_else(PoisonError::into_inner);
    recorder.record(kind, outcome, latency, service);
}

/// Runs `config` against a prepared target and reports.
///
/// Errors: [`LoadError::Config`] for an invalid rate, [`LoadError::Worker`] if a worker task
/// failed.
pub async fn run(target: &Target, config: &RunConfig) -> Result<Report, LoadError> {
    let recorder: SharedRecorder = Arc::new(Mutex::new(Recorder::new()?));
    let target = Arc::new(target.clone());
    let mut tasks = tokio::task::JoinSet::new();
    let start = Instant::now();
    let measure_from = start + config.warmup;
    let mut dispatcher = None;
    let mode = match config.load {
        Load::Closed { vus } => {
            let vus = vus.max(1);
            let deadline = measure_from + config.duration;
            for vu in 0..vus {
                let (target, recorder, scenario) =
                    (target.clone(), recorder.clone(), config.scenario);
                tasks.spawn(async move {
                    let mut index = vu as u64;
                    loop {
                        let sent = Instant::now();
                        if sent >= deadline {
                            break;
                        }
                        let kind = scenario.kind_for(index);
                        let outcome = target.send(kind, index).await;
                        let took = sent.elapsed();
                        if sent >= measure_from {
                            record(&recorder, kind, outcome, took, took);
                        }
                        index += vus as u64;
                    }
                });
            }
            Mode::Closed { vus }
        }
        Load::Open { rate, workers } => {
            let workers = workers.max(1);
            let schedule = RateSchedule::new(rate, config.warmup + config.duration)
                .map_err(LoadError::Config)?;
            // A dedicated thread releases each request at its due time (an OS sleep is precise
            // to tens of microseconds; the runtime's timer only to the millisecond); workers
            // take released requests in order. When every worker is busy, released requests wait
            // in the channel and their wait counts in their latency.
            let (release, released) = tokio::sync::mpsc::unbounded_channel::<(u64, Duration)>();
            let released = Arc::new(tokio::sync::Mutex::new(released));
            for _ in 0..workers {
                let (target, recorder, released, scenario, warmup) = (
                    target.clone(),
                    recorder.clone(),
                    released.clone(),
                    config.scenario,
                    config.warmup,
                );
                tasks.spawn(async move {
                    loop {
                        let next = released.lock().await.recv().await;
                        let Some((index, due)) = next else {
                            break;
                        };
                        let sent = Instant::now();
                        let kind = scenario.kind_for(index);
                        let outcome = target.send(kind, index).await;
                        let done = Instant::now();
                        if due >= warmup {
                            let latency = latency_from_due(due, done.duration_since(start));
                            record(&recorder, kind, outcome, latency, done.duration_since(sent));
                        }
                    }
                });
            }
            dispatcher = Some(
                std::thread::Builder::new()
                    .name("loadtest-dispatch".into())
                    .spawn(move || dispatch(schedule, start, release))
                    .map_err(|e| LoadError::Worker(format!("dispatcher thread: {e}")))?,
            );
            Mode::Open { rate, workers }
        }
    };
    while let Some(joined) = tasks.join_next().await {
        joined.map_err(|e| LoadError::Worker(e.to_string()))?;
    }
    // The workers ended because the dispatcher closed the channel: it has returned.
    if let Some(dispatcher) = dispatcher {
        dispatcher
            .join()
            .map_err(|_| LoadError::Worker("the dispatcher thread panicked".into()))?;
    }
    let measured = Instant::now().saturating_duration_since(measure_from);
    let recorder = recorder.lock().unwrap_or_else(PoisonError::into_inner);
    let info = RunInfo {
        base_url: target.base_url.clone(),
        profile: config.profile,
        scenario: config.scenario,
        mode,
        warmup: config.warmup,
        seeded_streams: target.seeded,
        thresholds: config.thresholds,
    };
    Ok(Report::build(info, &recorder, measured)?)
}

/// The dispatcher wakes at most once per quantum: below 1 / quantum requests per second each
/// request is released at its due time; above, the requests due meanwhile are released together
/// (at most one quantum late, and that wait counts in their latency). Waking once per request at
/// high rates would cost the client more CPU than the requests themselves.
pub const RELEASE_QUANTUM: Duration = Duration::from_micros(250);

/// Releases request `i` of `schedule` at `start + offset(i)` (see [`RELEASE_QUANTUM`]), in
/// order, until the span ends or nobody listens any more.
fn dispatch(
    schedule: RateSchedule,
    start: Instant,
    release: tokio::sync::mpsc::UnboundedSender<(u64, Duration)>,
) {
    let mut index = 0;
    loop {
        let now = Instant::now();
        while let Some(due) = schedule.offset(index) {
            if start + due > now {
                break;
            }
            if release.send((index, due)).is_err() {
                return;
            }
            index += 1;
        }
        let Some(next) = schedule.offset(index) else {
            return;
        };
        let wake = (start + next).max(now + RELEASE_QUANTUM);
        std::thread::sleep(wake.saturating_duration_since(Instant::now()));
    }
}

/// Searches the highest sustainable open-loop rate of `template`'s scenario: each step is an
/// open-loop run of `template.duration` (after `template.warmup`) with `workers` workers.
/// `progress` is called with each step as it completes.
///
/// Errors: [`LoadError::Config`] for an invalid search, or any error of [`run`].
pub async fn find_peak(
    target: &Target,
    template: &RunConfig,
    workers: usize,
    config: PeakConfig,
    mut progress: impl FnMut(&PeakStep),
) -> Result<PeakReport, LoadError> {
    let mut search = PeakSearch::new(config).map_err(LoadError::Config)?;
    let mut steps = Vec::new();
    let mut next = Some(search.first_rate());
    while let Some(rate) = next {
        let step_config = RunConfig {
            load: Load::Open { rate, workers },
            ..template.clone()
        };
        let report = run(target, &step_config).await?;
        let verdict = judge(&config, &PeakStep::measure(&report, rate));
        let step = PeakStep::from_report(rate, &report, &verdict);
        progress(&step);
        steps.push(step);
        next = search.next(rate, verdict.is_ok());
    }
    let sustainable_rate = search.sustainable();
    Ok(PeakReport {
        base_url: target.base_url.clone(),
        scenario: template.scenario,
        p99_bound_ms: config.p99_bound.as_secs_f64() * 1e3,
        step_s: template.duration.as_secs_f64(),
        workers,
        reached_max_rate: sustainable_rate.is_some_and(|rate| rate >= config.max_rate),
        sustainable_rate,
        steps,
    })
}

/// One line per peak step, for progress on stderr.
pub fn step_line(step: &PeakStep) -> String {
    format!(
        "  {} req/s: throughput {:.1}, p99 {:.3} ms, errors {} → {}",
        trim_float(step.rate),
        step.throughput,
        step.p99_ms,
        step.errors,
        step.reason.as_deref().unwrap_or("sustainable")
    )
}
