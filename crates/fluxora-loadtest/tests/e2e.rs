//! The harness against the real service: each scenario is a short smoke run against
//! `fluxora` started in-process (exactly as `fluxora serve` starts it, on a fresh SQLite
//! database and a free port), plus the open loop's exact request count, the peak search, the
//! command's exit codes, and the bare hello server.

// Test code may panic on unexpected results: that is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fluxora::app::Application;
use fluxora::config::Config;
use fluxora_loadtest::peak::PeakConfig;
use fluxora_loadtest::profile::{Profile, Thresholds};
use fluxora_loadtest::report::{Mode, Report};
use fluxora_loadtest::runner::{find_peak, run, Load, RunConfig, Target, TargetOptions};
use fluxora_loadtest::scenario::{RequestKind, Scenario};
use serde_json::Value;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const SMOKE: Duration = Duration::from_secs(1);

/// The service, running until dropped or stopped.
struct Service {
    base: String,
    shutdown: CancellationToken,
    handle: Option<JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Service {
    async fn start() -> Service {
        Self::start_in(tempfile::tempdir().unwrap()).await
    }

    /// The service on a database that already holds an API key (so stream writes need one);
    /// returns the key.
    async fn start_with_key() -> (Service, String) {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::for_database(Self::url_in(&dir));
        let database = fluxora::store::open(&config.database).await.unwrap();
        let keys = fluxora::apikeys::repo::ApiKeyRepository::new(database.clone());
        let new =
            fluxora::apikeys::NewKey::parse("load", &["streams:read", "streams:write"]).unwrap();
        let (issued, _) = fluxora::apikeys::issue(&keys, new).await.unwrap();
        database.close().await;
        (Self::start_in(dir).await, issued.key)
    }

    fn url_in(dir: &tempfile::TempDir) -> String {
        format!("sqlite://{}", dir.path().join("fluxora.db").display())
    }

    async fn start_in(dir: tempfile::TempDir) -> Service {
        let url = Self::url_in(&dir);
        let mut config = Config::for_database(url);
        // The harness measures the service, not its rate limiter.
        config.rate_limit.enabled = false;
        let app = Application::build(config)
            .await
            .expect("the service builds");
        let base = format!("http://127.0.0.1:{}", app.port());
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        let handle = tokio::spawn(async move {
            app.run_until_stopped(token)
                .await
                .expect("the service runs");
        });
        Service {
            base,
            shutdown,
            handle: Some(handle),
            _dir: dir,
        }
    }

    async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(handle) = self.handle.take() {
            handle.await.unwrap();
        }
    }

    /// Every stream, by walking the list's pages.
    async fn count_streams(&self) -> usize {
        let client = reqwest::Client::new();
        let (mut count, mut cursor) = (0, None::<String>);
        loop {
            let mut url = format!("{}/api/streams?limit=100", self.base);
            if let Some(cursor) = &cursor {
                url.push_str(&format!("&cursor={cursor}"));
            }
            let page: Value = client.get(url).send().await.unwrap().json().await.unwrap();
            count += page["streams"].as_array().unwrap().len();
            match page["nextCursor"].as_str() {
                Some(next) if page["hasMore"] == true => cursor = Some(next.to_string()),
                _ => return count,
            }
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn target(base: &str, scenario: Scenario) -> Target {
    Target::prepare(&TargetOptions {
        base_url: base.to_string(),
        scenario,
        seed_streams: 20,
        timeout: Duration::from_secs(10),
        pool_size: 64,
        api_key: None,
    })
    .await
    .expect("preflight")
}

fn closed(scenario: Scenario) -> RunConfig {
    RunConfig {
        profile: Profile::Smoke,
        scenario,
        load: Load::Closed {
            vus: Profile::Smoke.vus(),
        },
        duration: SMOKE,
        warmup: Duration::ZERO,
        thresholds: Thresholds::default(),
    }
}

/// A clean smoke report: no errors, requests on every kind of the scenario, a throughput that
/// matches the count, a measured time close to the duration.
fn assert_clean(report: &Report, scenario: Scenario) {
    assert!(report.passed, "{report}");
    assert_eq!(report.errors, 0, "{report}");
    assert!(report.errors_by_status.is_empty(), "{report}");
    assert!(report.requests >= 20, "too few requests: {report}");
    assert!(
        report.duration_s >= SMOKE.as_secs_f64() && report.duration_s < 3.0,
        "{report}"
    );
    let expected = report.requests as f64 / report.duration_s;
    assert!((report.throughput - expected).abs() < 1e-6, "{report}");
    let kinds: Vec<_> = report.endpoints.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, scenario.kinds());
    assert!(report.endpoints.iter().all(|e| e.requests > 0), "{report}");
    assert_eq!(
        report.endpoints.iter().map(|e| e.requests).sum::<u64>(),
        report.requests
    );
    let l = &report.latency_ms;
    assert!(
        0.0 < l.p50 && l.p50 <= l.p90 && l.p90 <= l.p99 && l.p99 <= l.p999 && l.p999 <= l.max,
        "{report}"
    );
}

async fn smoke(scenario: Scenario) -> (Service, Report) {
    let service = Service::start().await;
    let target = target(&service.base, scenario).await;
    let report = run(&target, &closed(scenario)).await.unwrap();
    assert_clean(&report, scenario);
    assert_eq!(report.mode, Mode::Closed { vus: 5 });
    (service, report)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_smoke() {
    let (service, report) = smoke(Scenario::Health).await;
    assert_eq!(report.seeded_streams, 0);
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_smoke() {
    let (service, report) = smoke(Scenario::List).await;
    assert_eq!(report.seeded_streams, 20);
    assert_eq!(service.count_streams().await, 20);
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_smoke() {
    let (service, report) = smoke(Scenario::Get).await;
    assert_eq!(report.seeded_streams, 20);
    // Reads create nothing.
    assert_eq!(service.count_streams().await, 20);
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_smoke() {
    let (service, report) = smoke(Scenario::Create).await;
    // The preflight's stream and every measured create (all 201) are in the store.
    assert_eq!(report.seeded_streams, 1);
    assert_eq!(
        service.count_streams().await as u64,
        1 + report.requests,
        "{report}"
    );
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_smoke() {
    let (service, report) = smoke(Scenario::Mixed).await;
    let creates = report
        .endpoints
        .iter()
        .find(|e| e.kind == RequestKind::Create)
        .unwrap()
        .requests;
    let gets = report.endpoints[2].requests;
    assert!(gets > creates, "the mix is read-heavy: {report}");
    assert_eq!(
        service.count_streams().await as u64,
        20 + creates,
        "{report}"
    );
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_open_loop_sends_exactly_the_scheduled_requests() {
    let service = Service::start().await;
    let target = target(&service.base, Scenario::Get).await;
    let config = RunConfig {
        load: Load::Open {
            rate: 200.0,
            workers: 16,
        },
        // 250 requests are due; the 50 of the warm-up are not measured.
        warmup: Duration::from_millis(250),
        ..closed(Scenario::Get)
    };
    let report = run(&target, &config).await.unwrap();
    assert_eq!(report.requests, 200, "{report}");
    assert_eq!(report.errors, 0, "{report}");
    assert!(report.passed, "{report}");
    assert_eq!(
        report.mode,
        Mode::Open {
            rate: 200.0,
            workers: 16
        }
    );
    assert!(
        (report.throughput - 200.0).abs() < 20.0,
        "the rate is kept: {report}"
    );
    // Service time never exceeds the latency from the due time.
    assert!(report.service_time_ms.max <= report.latency_ms.max + 0.01);
    assert_eq!(report.warmup_s, 0.25);
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_peak_search_reports_the_sustainable_rate() {
    let service = Service::start().await;
    let target = target(&service.base, Scenario::Get).await;
    let template = RunConfig {
        duration: Duration::from_millis(300),
        ..closed(Scenario::Get)
    };
    let config = PeakConfig {
        start_rate: 50.0,
        factor: 2.0,
        max_rate: 200.0,
        refine_steps: 0,
        // Generous: the test checks the search, not this machine's speed.
        p99_bound: Duration::from_secs(1),
        min_throughput_ratio: 0.9,
        retries: 0,
    };
    let mut seen = vec![];
    let report = find_peak(&target, &template, 8, config, |step| seen.push(step.rate))
        .await
        .unwrap();
    assert_eq!(seen, [50.0, 100.0, 200.0]);
    let rates: Vec<_> = report.steps.iter().map(|s| s.rate).collect();
    assert_eq!(rates, seen);
    assert!(report.steps.iter().all(|s| s.sustainable && s.errors == 0));
    // 300 ms at 50, 100, 200 req/s.
    let counts: Vec<_> = report.steps.iter().map(|s| s.requests).collect();
    assert_eq!(counts, [15, 30, 60]);
    assert_eq!(report.sustainable_rate, Some(200.0));
    assert!(report.reached_max_rate);
    assert!(report.to_string().contains("sustainable rate: 200 req/s"));
    service.stop().await;
}

/// Runs the `fluxora-loadtest` binary to completion.
async fn command(args: Vec<String>) -> (Option<i32>, String, String) {
    tokio::task::spawn_blocking(move || {
        let output = Command::new(env!("CARGO_BIN_EXE_fluxora-loadtest"))
            .args(&args)
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8(output.stdout).unwrap(),
            String::from_utf8(output.stderr).unwrap(),
        )
    })
    .await
    .unwrap()
}

fn argv(base: &str, extra: &[&str]) -> Vec<String> {
    let mut args = vec!["--base-url", base, "--profile", "smoke"];
    args.extend_from_slice(extra);
    args.into_iter().map(String::from).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_exits_0_on_a_pass_and_1_on_a_breach() {
    let service = Service::start().await;
    let common = ["--scenario", "health", "--duration", "500ms", "--json"];
    let (code, stdout, stderr) = command(argv(&service.base, &common)).await;
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["passed"], true);
    assert_eq!(report["errors"], 0);
    assert!(report["requests"].as_u64().unwrap() > 0);
    assert!(report["latencyMs"]["p99_9"].as_f64().unwrap() > 0.0);

    // No request answers in under a microsecond: the p99 threshold is breached.
    let mut breach = common.to_vec();
    breach.extend(["--max-p99", "1us"]);
    let (code, stdout, stderr) = command(argv(&service.base, &breach)).await;
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["passed"], false);
    let p99 = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["metric"] == "p99")
        .unwrap();
    assert_eq!(p99["passed"], false);

    // The text form names the verdict.
    let (code, stdout, _) = command(argv(
        &service.base,
        &[
            "--scenario",
            "get",
            "--rate",
            "100/s",
            "--duration",
            "500ms",
            "--seed-streams",
            "5",
        ],
    ))
    .await;
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.contains("open loop, 100 req/s"), "{stdout}");
    assert!(stdout.contains("PASS"), "{stdout}");
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_key_option_lets_the_harness_write_where_keys_are_required() {
    let (service, key) = Service::start_with_key().await;
    let common = ["--scenario", "create", "--duration", "300ms", "--json"];
    // Without a key the preflight create is refused (401): exit 2, saying why.
    let (code, stdout, stderr) = command(argv(&service.base, &common)).await;
    assert_eq!(code, Some(2), "{stdout}{stderr}");
    assert!(stderr.contains("401"), "{stderr}");
    // With --api-key every request carries it.
    let mut with_key = common.to_vec();
    with_key.extend(["--api-key", key.as_str()]);
    let (code, stdout, stderr) = command(argv(&service.base, &with_key)).await;
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["errors"], 0);
    assert!(
        !stdout.contains(&key) && !stderr.contains(&key),
        "the key is never printed"
    );
    // FLUXORA_API_KEY works the same.
    let output = tokio::task::spawn_blocking({
        let args = argv(&service.base, &common);
        let key = key.clone();
        move || {
            Command::new(env!("CARGO_BIN_EXE_fluxora-loadtest"))
                .args(&args)
                .env("FLUXORA_API_KEY", key)
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_service_exits_2() {
    // A port that was just free: nothing listens there.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let base = format!("http://127.0.0.1:{port}");
    let (code, stdout, stderr) = command(argv(&base, &["--duration", "1s"])).await;
    assert_eq!(code, Some(2), "{stdout}{stderr}");
    assert!(stderr.contains("did not answer"), "{stderr}");
    let (code, _, stderr) = command(argv("ftp://example", &[])).await;
    assert_eq!(code, Some(2), "{stderr}");
}

/// The hello server as a child process, killed when dropped.
struct HelloServer {
    child: Child,
    base: String,
}

impl Drop for HelloServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hello_server_answers_every_scenario() {
    let server = tokio::task::spawn_blocking(|| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_hello-server"))
            .args(["--port", "0"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        // The server prints its address once it is listening.
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line
            .trim()
            .strip_prefix("hello-server listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        HelloServer { child, base }
    })
    .await
    .unwrap();
    let target = target(&server.base, Scenario::Mixed).await;
    let report = run(&target, &closed(Scenario::Mixed)).await.unwrap();
    assert_clean(&report, Scenario::Mixed);
}
