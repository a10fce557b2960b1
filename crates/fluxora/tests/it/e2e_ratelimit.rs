//! Rate limiting (`docs/operations.md`, "Rate limits") through real HTTP: the GCRA boundary with
//! its envelope and headers, exempt routes, per-IP buckets through `TRUST_PROXY`, limits shared
//! through Redis (127.0.0.1:6379, a test-owned key prefix), the same over TLS (`rediss://`, a
//! `redis-server` this suite starts with a test CA), the local fallback when Redis is
//! unreachable, and `RATE_LIMIT_ENABLED=false`.
//!
//! The per-API-key limit: each key has its own budget, checked after authentication
//! (`each_api_key_has_its_own_budget`).
//!
//! With 60 requests a minute the burst is 6 and one request is earned per second: the 7
//! requests of a boundary test are sent back to back on loopback, far inside that second.

use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::helpers::{expect_error, TestApp, TestDb};

const REDIS_URL: &str = "redis://127.0.0.1:6379";

/// A service on a fresh database with rate limiting on and `env` on top.
async fn spawn(env: &[(&str, &str)]) -> (TestApp, TestDb) {
    let db = TestDb::new().await;
    let mut vars = vec![("RATE_LIMIT_ENABLED", "true")];
    vars.extend_from_slice(env);
    let app = TestApp::spawn_env(&db, &vars).await;
    (app, db)
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .map(|v| v.to_str().expect("ascii header").to_string())
}

fn number(headers: &HeaderMap, name: &str) -> u64 {
    header(headers, name)
        .unwrap_or_else(|| panic!("{name} header missing in {headers:?}"))
        .parse()
        .unwrap_or_else(|_| panic!("{name} is not a number"))
}

/// `GET /` (cheap, no database), optionally as forwarded for `client`.
async fn get_root(app: &TestApp, forwarded_for: Option<&str>) -> reqwest::Response {
    let mut request = app.client.get(app.url("/"));
    if let Some(client) = forwarded_for {
        request = request.header("x-forwarded-for", client);
    }
    request.send().await.expect("request")
}

/// Sends the 6 requests of a 60/min burst and asserts each is allowed with the right headers.
async fn spend_burst(app: &TestApp, forwarded_for: Option<&str>) {
    for expected_remaining in (0..6).rev() {
        let response = get_root(app, forwarded_for).await;
        assert_eq!(response.status(), 200, "within the burst");
        let headers = response.headers();
        assert_eq!(number(headers, "ratelimit-limit"), 60);
        assert_eq!(number(headers, "ratelimit-remaining"), expected_remaining);
        assert!(number(headers, "ratelimit-reset") <= 6);
        assert!(headers.get("retry-after").is_none());
    }
}

/// Asserts a 429 `RATE_LIMITED` envelope with `Retry-After` ≥ 1 and the `RateLimit-*` headers.
async fn expect_limited(response: reqwest::Response) -> Value {
    let headers = response.headers().clone();
    let error = expect_error(response, 429, "RATE_LIMITED").await;
    assert!(number(&headers, "retry-after") >= 1, "Retry-After ≥ 1 s");
    assert_eq!(number(&headers, "ratelimit-limit"), 60);
    assert_eq!(number(&headers, "ratelimit-remaining"), 0);
    assert!(number(&headers, "ratelimit-reset") >= number(&headers, "retry-after"));
    assert_eq!(
        header(&headers, "cache-control").as_deref(),
        Some("no-store")
    );
    error
}

/// Six requests alternating between replicas `a` and `b` spend one burst of six: each answer's
/// `RateLimit-Remaining` counts down across both, so the budget is shared.
async fn spend_one_burst_across(a: &TestApp, b: &TestApp) {
    for (i, expected_remaining) in (0..6).rev().enumerate() {
        let app = if i % 2 == 0 { a } else { b };
        let response = get_root(app, None).await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            number(response.headers(), "ratelimit-remaining"),
            expected_remaining,
            "the budget is shared (request {i})"
        );
    }
}

#[tokio::test]
async fn the_seventh_rapid_request_is_refused_with_the_envelope_and_headers() {
    let (app, _db) = spawn(&[("RATE_LIMIT_IP_PER_MINUTE", "60")]).await;
    spend_burst(&app, None).await;
    let error = expect_limited(get_root(&app, None).await).await;
    assert!(
        error["message"].as_str().unwrap().contains("retry after"),
        "{error}"
    );
    // Every route but the exempt ones counts: a write is refused too, before its body is read.
    let refused = app
        .client
        .post(app.url("/api/streams"))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    expect_limited(refused).await;
    app.stop().await;
}

#[tokio::test]
async fn health_and_metrics_are_exempt() {
    let (app, _db) = spawn(&[("RATE_LIMIT_IP_PER_MINUTE", "60")]).await;
    spend_burst(&app, None).await;
    expect_limited(get_root(&app, None).await).await;
    for path in ["/health", "/health/live", "/health/ready", "/metrics"] {
        for _ in 0..3 {
            let response = app.get(path).await;
            assert_ne!(response.status(), 429, "{path} is exempt");
            assert!(
                response.headers().get("ratelimit-limit").is_none(),
                "{path} carries no RateLimit headers"
            );
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn the_default_limit_is_600_a_minute_with_a_burst_of_60() {
    let (app, _db) = spawn(&[]).await;
    let response = get_root(&app, None).await;
    assert_eq!(response.status(), 200);
    assert_eq!(number(response.headers(), "ratelimit-limit"), 600);
    assert_eq!(number(response.headers(), "ratelimit-remaining"), 59);
    app.stop().await;
}

#[tokio::test]
async fn clients_behind_a_trusted_proxy_have_their_own_buckets() {
    let (app, _db) = spawn(&[
        ("RATE_LIMIT_IP_PER_MINUTE", "60"),
        ("TRUST_PROXY", "127.0.0.1"),
    ])
    .await;
    spend_burst(&app, Some("203.0.113.1")).await;
    expect_limited(get_root(&app, Some("203.0.113.1")).await).await;
    // Another client behind the same proxy, and the proxy itself, are not affected.
    let other = get_root(&app, Some("203.0.113.2")).await;
    assert_eq!(other.status(), 200);
    assert_eq!(number(other.headers(), "ratelimit-remaining"), 5);
    let direct = get_root(&app, None).await;
    assert_eq!(direct.status(), 200);
    assert_eq!(number(direct.headers(), "ratelimit-remaining"), 5);
    // A client cannot escape by prepending a spoofed address: the rightmost untrusted entry
    // counts.
    expect_limited(get_root(&app, Some("198.51.100.9, 203.0.113.1")).await).await;
    // Garbage stops the walk at the last trusted hop (the proxy's own bucket).
    let garbage = get_root(&app, Some("203.0.113.1, not-an-ip")).await;
    assert_eq!(garbage.status(), 200);
    assert_eq!(number(garbage.headers(), "ratelimit-remaining"), 4);
    app.stop().await;
}

#[tokio::test]
async fn forwarded_for_is_ignored_when_the_peer_is_not_trusted() {
    let (app, _db) = spawn(&[
        ("RATE_LIMIT_IP_PER_MINUTE", "60"),
        ("TRUST_PROXY", "10.0.0.1"),
    ])
    .await;
    spend_burst(&app, Some("203.0.113.1")).await;
    // A new forwarded address does not buy a new budget: the peer (127.0.0.1) is the client.
    expect_limited(get_root(&app, Some("203.0.113.2")).await).await;
    expect_limited(get_root(&app, None).await).await;
    app.stop().await;
}

#[tokio::test]
async fn disabled_limits_never_refuse() {
    let (app, _db) = spawn(&[
        ("RATE_LIMIT_ENABLED", "false"),
        ("RATE_LIMIT_IP_PER_MINUTE", "60"),
    ])
    .await;
    for _ in 0..20 {
        let response = get_root(&app, None).await;
        assert_eq!(response.status(), 200);
        assert!(response.headers().get("ratelimit-limit").is_none());
    }
    app.stop().await;
}

/// Every key under `prefix`.
async fn redis_keys(redis: &mut redis::aio::MultiplexedConnection, prefix: &str) -> Vec<String> {
    redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(redis)
        .await
        .expect("KEYS")
}

#[tokio::test]
async fn two_replicas_share_one_budget_through_redis() {
    let client = redis::Client::open(REDIS_URL).unwrap();
    let mut redis = client
        .get_multiplexed_async_connection()
        .await
        .expect("Redis at 127.0.0.1:6379 is needed for this test");
    let prefix = format!("fluxora:test:{}:", uuid::Uuid::now_v7().simple());
    let env = [
        ("RATE_LIMIT_IP_PER_MINUTE", "60"),
        ("REDIS_URL", REDIS_URL),
        ("RATE_LIMIT_REDIS_PREFIX", prefix.as_str()),
        // Generous, so a busy machine never falls back to local limits mid-test.
        ("RATE_LIMIT_REDIS_TIMEOUT_MS", "2000"),
    ];
    let (a, _db_a) = spawn(&env).await;
    let (b, _db_b) = spawn(&env).await;

    spend_one_burst_across(&a, &b).await;
    expect_limited(get_root(&a, None).await).await;
    expect_limited(get_root(&b, None).await).await;

    let keys = redis_keys(&mut redis, &prefix).await;
    assert_eq!(keys, vec![format!("{prefix}ip:127.0.0.1")]);
    let ttl: i64 = redis::cmd("PTTL")
        .arg(&keys[0])
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(ttl > 0, "bucket keys expire by themselves (PTTL {ttl})");
    let _: i64 = redis::cmd("DEL")
        .arg(&keys)
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(redis_keys(&mut redis, &prefix).await.is_empty());
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn unreachable_redis_falls_back_to_local_limits() {
    let (app, _db) = spawn(&[
        ("RATE_LIMIT_IP_PER_MINUTE", "60"),
        ("REDIS_URL", "redis://127.0.0.1:1"),
    ])
    .await;
    // Requests are served, and limited by this process alone.
    spend_burst(&app, None).await;
    expect_limited(get_root(&app, None).await).await;
    app.stop().await;
}

#[tokio::test]
async fn each_api_key_has_its_own_budget() {
    use crate::e2e_auth::{create_key, key_of, ADMIN};
    let (app, _db) = spawn(&[
        ("ADMIN_TOKEN", ADMIN),
        ("RATE_LIMIT_IP_PER_MINUTE", "100000"),
        ("RATE_LIMIT_KEY_PER_MINUTE", "60"),
    ])
    .await;
    let first = key_of(&create_key(&app, "first", &["streams:read"]).await);
    let second = key_of(&create_key(&app, "second", &["streams:read"]).await);
    let read = |key: String| {
        let request = app.client.get(app.url("/api/streams")).bearer_auth(key);
        async move { request.send().await.expect("request") }
    };
    for expected_remaining in (0..6).rev() {
        let response = read(first.clone()).await;
        assert_eq!(response.status(), 200);
        assert_eq!(number(response.headers(), "ratelimit-limit"), 60);
        assert_eq!(
            number(response.headers(), "ratelimit-remaining"),
            expected_remaining
        );
    }
    let refused = read(first.clone()).await;
    assert!(number(refused.headers(), "retry-after") >= 1);
    expect_error(refused, 429, "RATE_LIMITED").await;
    // Another key, from the same IP, still has its whole burst.
    let other = read(second).await;
    assert_eq!(other.status(), 200);
    assert_eq!(number(other.headers(), "ratelimit-remaining"), 5);
    // Anonymous requests have only the (high) IP limit.
    assert_eq!(app.get("/api/streams").await.status(), 200);
    // The refusal is counted for /metrics.
    let metrics = app.get("/metrics").await.text().await.expect("metrics");
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with(r#"fluxora_rate_limited_total{limiter="key"}"#)),
        "{metrics}"
    );
    app.stop().await;
}

/// A `redis-server` this test owns, accepting TLS only (`--port 0 --tls-port PORT`) with a
/// certificate for 127.0.0.1 signed by `ca`; killed when dropped.
struct TlsRedis {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl TlsRedis {
    fn start(ca: &crate::pki::TestCa) -> TlsRedis {
        let cert = ca.issue("redis", &["127.0.0.1", "localhost"]);
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                "0",
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args(["--tls-port", &port.to_string()])
            .arg("--tls-cert-file")
            .arg(&cert.cert_file)
            .arg("--tls-key-file")
            .arg(&cert.key_file)
            .arg("--tls-ca-cert-file")
            .arg(&ca.ca_file)
            .args(["--tls-auth-clients", "no"])
            .arg("--dir")
            .arg(dir.path())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server (with TLS) must be installed");
        let redis = TlsRedis {
            child,
            port,
            _dir: dir,
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server --tls-port {port} never listened"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        redis
    }

    fn url(&self) -> String {
        format!("rediss://127.0.0.1:{}", self.port)
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn limits_are_shared_through_redis_over_tls_with_a_custom_ca() {
    let ca = crate::pki::TestCa::new("Fluxora test CA");
    let redis_server = TlsRedis::start(&ca);
    let ca_file = ca.ca_file.display().to_string();
    let url = redis_server.url();
    let env = [
        ("RATE_LIMIT_IP_PER_MINUTE", "60"),
        ("REDIS_URL", url.as_str()),
        ("REDIS_CA_FILE", ca_file.as_str()),
        ("RATE_LIMIT_REDIS_TIMEOUT_MS", "2000"),
    ];
    let (a, _db_a) = spawn(&env).await;
    let (b, _db_b) = spawn(&env).await;
    spend_one_burst_across(&a, &b).await;
    expect_limited(get_root(&a, None).await).await;

    // The bucket is in that Redis (read over TLS with the same CA).
    let client = redis::Client::build_with_tls(
        url.as_str(),
        redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(std::fs::read(&ca.ca_file).unwrap()),
        },
    )
    .unwrap();
    let mut redis = client.get_multiplexed_async_connection().await.unwrap();
    let keys = redis_keys(&mut redis, "fluxora:rl:").await;
    assert_eq!(keys, vec!["fluxora:rl:ip:127.0.0.1".to_string()]);
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn an_untrusted_redis_certificate_stops_the_start() {
    let ca = crate::pki::TestCa::new("Fluxora test CA");
    let other_ca = crate::pki::TestCa::new("Some other CA");
    let redis_server = TlsRedis::start(&ca);
    let other_ca_file = other_ca.ca_file.display().to_string();
    let url = redis_server.url();
    let db = TestDb::new().await;
    // Another CA, then the platform's roots (which do not hold the test CA).
    for extra in [vec![("REDIS_CA_FILE", other_ca_file.as_str())], vec![]] {
        let mut vars: std::collections::HashMap<String, String> = [
            ("HOST", "127.0.0.1".to_string()),
            ("PORT", "0".to_string()),
            ("DATABASE_URL", db.url()),
            ("RATE_LIMIT_ENABLED", "true".to_string()),
            ("REDIS_URL", url.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        for (name, value) in &extra {
            vars.insert(name.to_string(), value.to_string());
        }
        let config = fluxora::config::Config::from_vars(&vars).unwrap();
        let error = match fluxora::app::Application::build(config).await {
            Ok(_) => panic!("the service started with an untrusted Redis certificate"),
            Err(error) => error.to_string(),
        };
        assert!(
            error.contains(&format!("TLS to Redis at 127.0.0.1:{}", redis_server.port)),
            "{error}"
        );
        assert!(error.contains("UnknownIssuer"), "{error}");
    }
}
