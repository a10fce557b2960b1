//! The real `fluxora` binary: configuration errors, structured logs with request ids, graceful
//! SIGTERM, `migrate`, and a restart that keeps data.

use std::time::Duration;

use serde_json::Value;

use crate::binary::{command, Server, PROCESS_TIMEOUT};
use crate::helpers::{valid_body, with, TestDb};

/// Runs `fluxora serve` with `command`'s settings and expects it to refuse its configuration:
/// it exits promptly with code 2. Returns what it printed.
async fn refused_configuration(mut command: tokio::process::Command) -> std::process::Output {
    let output = tokio::time::timeout(PROCESS_TIMEOUT, command.arg("serve").output())
        .await
        .expect("exits promptly")
        .expect("runs");
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    output
}

#[tokio::test]
async fn invalid_configuration_fails_before_binding() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("proc.db");
    let mut serve = command(&format!("sqlite://{}", database.display()));
    serve.env("PORT", "not-a-port").env("LOG_FORMAT", "xml");
    let output = refused_configuration(serve).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("PORT: 'not-a-port' is not a port number"),
        "{stderr}"
    );
    assert!(stderr.contains("LOG_FORMAT"), "{stderr}");
    assert!(output.stdout.is_empty(), "nothing served or logged");
    assert!(!database.exists(), "stopped before touching the database");
}

/// `WORKER_THREADS` sizes the runtime that serves requests (the start-up line reports the
/// runtime's own count); an invalid value fails at boot like any other variable.
#[tokio::test]
async fn worker_threads_size_the_runtime() {
    let db = TestDb::new().await;
    for workers in [1_u64, 3] {
        let server =
            Server::start_with(&db.url(), &[("WORKER_THREADS", &workers.to_string())]).await;
        let listening = server.wait_for_log("fluxora listening").await;
        assert_eq!(listening["worker_threads"], workers, "{listening}");
        let ready = reqwest::get(format!("{}/health/ready", server.base))
            .await
            .unwrap();
        assert_eq!(ready.status(), 200);
        server.terminate().await;
    }
    let mut serve = command(&db.url());
    serve.env("WORKER_THREADS", "0");
    let output = refused_configuration(serve).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("WORKER_THREADS: '0' is not a whole number from 1 to 1024"),
        "{stderr}"
    );
}

/// The start-up line tells an operator what runs: the version, the database's location (never
/// its password), the indexer and the webhook endpoints; a retired setting is named in a WARN.
#[tokio::test]
async fn the_start_up_line_names_version_database_indexer_and_webhooks() {
    let db = TestDb::new().await;
    let server = Server::start_with(
        &db.url(),
        &[
            ("INDEXER_WORKER_TOKEN", "worker-token-0123456789"),
            ("HORIZON_URL", "https://horizon-testnet.stellar.org"),
        ],
    )
    .await;
    let line = server.wait_for_log("fluxora listening").await;
    assert_eq!(line["version"], env!("CARGO_PKG_VERSION"), "{line}");
    let location = line["database_location"].as_str().unwrap();
    if db.url().starts_with("postgres") {
        assert!(
            location.starts_with("127.0.0.1:5432/fluxora_test_"),
            "{line}"
        );
    } else {
        assert!(db.url().ends_with(location), "{line}");
    }
    assert_eq!(line["indexer"], "push", "{line}");
    assert_eq!(line["webhook_endpoints"], 0, "{line}");
    let warning = server
        .log()
        .into_iter()
        .find(|e| {
            e["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("HORIZON_URL is set but no longer read"))
        })
        .unwrap_or_else(|| panic!("no HORIZON_URL warning in {:?}", server.log()));
    assert_eq!(warning["level"], "WARN", "{warning}");
    server.terminate().await;
}

/// A database that cannot be reached or opened at start-up is reported with where it is and
/// why, and the process exits 1.
#[tokio::test]
async fn an_unreachable_database_is_named_with_its_cause() {
    // A port nothing listens on (just freed).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let missing_dir = dir.path().join("no-such-dir").join("fluxora.db");
    for (url, expected) in [
        (
            format!("postgres://fluxora:hunter2@127.0.0.1:{port}/fluxora"),
            vec![
                format!("could not connect to PostgreSQL at 127.0.0.1:{port} (sslmode=prefer)"),
                "refused".to_string(),
            ],
        ),
        (
            format!("sqlite://{}", missing_dir.display()),
            vec![format!(
                "cannot open the sqlite database at {}",
                missing_dir.display()
            )],
        ),
    ] {
        let output = tokio::time::timeout(PROCESS_TIMEOUT, command(&url).arg("serve").output())
            .await
            .expect("exits promptly")
            .expect("runs");
        assert_eq!(output.status.code(), Some(1), "{output:?}");
        let printed = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        for part in &expected {
            assert!(printed.contains(part.as_str()), "{part:?} in {printed}");
        }
        assert!(!printed.contains("hunter2"), "{printed}");
    }
}

#[tokio::test]
async fn migrate_prepares_the_database_and_exits() {
    let db = TestDb::new().await;
    let output = tokio::time::timeout(PROCESS_TIMEOUT, command(&db.url()).arg("migrate").output())
        .await
        .expect("exits promptly")
        .expect("runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Running it again is a no-op, and the service then starts ready.
    let again = command(&db.url())
        .arg("migrate")
        .output()
        .await
        .expect("runs");
    assert!(again.status.success());
    let server = Server::start(&db.url()).await;
    let ready = reqwest::get(format!("{}/health/ready", server.base))
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    server.terminate().await;
}

#[tokio::test]
async fn logs_are_json_with_the_request_id_and_sigterm_is_graceful() {
    let db = TestDb::new().await;
    let server = Server::start(&db.url()).await;
    let client = reqwest::Client::new();
    let seed = "SBGWKM3CD4IL47QN6X54N6Y33T3JDNVI6AIJ6CD5IM47HG3IG4O36XCU";

    let created = client
        .post(format!("{}/api/streams", server.base))
        .header("x-request-id", "req-create-1")
        .json(&valid_body())
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let stream: Value = created.json().await.unwrap();
    let refused = client
        .post(format!("{}/api/streams", server.base))
        .header("x-request-id", "req-seed-2")
        .json(&with(valid_body(), serde_json::json!({"sender": seed})))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let body = refused.text().await.unwrap();
    assert!(
        !body.contains(seed) && !body.contains(&seed[1..20]),
        "seed echoed: {body}"
    );

    let log = server.terminate().await;
    for entry in &log {
        for field in ["timestamp", "level", "message"] {
            assert!(entry.get(field).is_some(), "{field} missing in {entry}");
        }
    }
    let of_request = |id: &str| -> Vec<&Value> {
        log.iter()
            .filter(|e| e["span"]["request_id"] == id)
            .collect()
    };
    let create_lines = of_request("req-create-1");
    let messages: Vec<&str> = create_lines
        .iter()
        .filter_map(|e| e["message"].as_str())
        .collect();
    assert_eq!(messages, vec!["stream created", "request completed"]);
    for line in &create_lines {
        assert_eq!(line["span"]["method"], "POST");
        assert_eq!(line["span"]["path"], "/api/streams");
    }
    let completed = create_lines[1];
    assert_eq!(completed["status"], 201);
    assert!(completed["latency_ms"].as_f64().is_some());
    assert_eq!(create_lines[0]["stream_id"], stream["id"]);
    // Every line logged inside a request carries its id: none lost it.
    assert!(log
        .iter()
        .filter(|e| e["message"] == "stream created" || e["message"] == "request completed")
        .all(|e| e["span"]["request_id"].is_string()));
    let refused_lines = of_request("req-seed-2");
    assert_eq!(refused_lines.len(), 1);
    // A 4xx line carries its envelope code; a success has none.
    assert_eq!(refused_lines[0]["status"], 400);
    assert_eq!(refused_lines[0]["error_code"], "VALIDATION_ERROR");
    assert!(completed.get("error_code").is_none(), "{completed}");

    let raw = serde_json::to_string(&log).unwrap();
    assert!(
        !raw.contains(seed) && !raw.contains(&seed[1..20]),
        "the seed reached the logs"
    );
    assert!(log.iter().any(|e| e["message"] == "shutdown complete"));
}

#[tokio::test]
async fn a_restarted_binary_serves_what_it_stored() {
    let db = TestDb::new().await;
    let server = Server::start(&db.url()).await;
    let client = reqwest::Client::new();
    let mut ids = Vec::new();
    for _ in 0..5 {
        let response = client
            .post(format!("{}/api/streams", server.base))
            .json(&valid_body())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        ids.push(
            response.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    server.terminate().await;

    let server = Server::start(&db.url()).await;
    for id in &ids {
        let response = client
            .get(format!("{}/api/streams/{id}", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{id}");
    }
    server.terminate().await;
}

/// Runs `fluxora healthcheck` with `PORT` and extra arguments; its exit code and output.
async fn healthcheck(port: &str, args: &[&str]) -> (Option<i32>, String) {
    let output = tokio::process::Command::new(crate::binary::BIN)
        .env_clear()
        .env("PORT", port)
        .arg("healthcheck")
        .args(args)
        .output()
        .await
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code(), text)
}

#[tokio::test]
async fn healthcheck_exits_0_when_ready_and_1_otherwise() {
    let db = TestDb::new().await;
    let server = Server::start(&db.url()).await;
    let port = server.base.rsplit(':').next().unwrap().to_string();

    let (code, text) = healthcheck(&port, &[]).await;
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("/health/ready answered 200"), "{text}");
    let (code, _) = healthcheck(&port, &["--path", "/health/live"]).await;
    assert_eq!(code, Some(0));
    // A non-2xx answer is unhealthy.
    let (code, text) = healthcheck(&port, &["--path", "/no/such/route"]).await;
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("answered 404"), "{text}");

    server.terminate().await;
    // Nothing listening: unhealthy, not a hang.
    let (code, text) = healthcheck(&port, &["--timeout-ms", "2000"]).await;
    assert_eq!(code, Some(1), "{text}");
    assert!(text.starts_with("unhealthy"), "{text}");
    // A bad PORT is a usage error.
    let (code, text) = healthcheck("not-a-port", &[]).await;
    assert_eq!(code, Some(2), "{text}");
}

/// With `LOG_LEVEL=warn`, the lines a request still logs (here the WARN of a 503 while draining)
/// carry its request id, method and path (every log line of a request does).
#[tokio::test]
async fn warn_lines_of_a_request_carry_its_id_at_log_level_warn() {
    let db = TestDb::new().await;
    let server = Server::start_with(
        &db.url(),
        // The start-up line ("fluxora listening") stays at info so the harness finds the port.
        &[
            ("LOG_LEVEL", "warn,fluxora::app=info"),
            ("SHUTDOWN_DRAIN_MS", "3000"),
        ],
    )
    .await;
    server.sigterm();
    let client = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let response = client
            .get(format!("{}/health", server.base))
            .header("x-request-id", "req-drain-1")
            .send()
            .await
            .unwrap();
        if response.status() == 503 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never drained");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (exit, log) = server.wait_exit().await;
    assert!(exit.success(), "{exit:?}");
    let completed: Vec<&Value> = log
        .iter()
        .filter(|e| e["message"] == "request completed" && e["status"] == 503)
        .collect();
    assert!(!completed.is_empty(), "{log:?}");
    for line in completed {
        assert_eq!(line["level"], "WARN");
        assert_eq!(line["span"]["request_id"], "req-drain-1", "{line}");
        assert_eq!(line["span"]["method"], "GET");
        assert_eq!(line["span"]["path"], "/health");
    }
    // No request line at info reached the log.
    assert!(
        !log.iter()
            .any(|e| e["level"] == "INFO" && e["message"] == "request completed"),
        "{log:?}"
    );
}
