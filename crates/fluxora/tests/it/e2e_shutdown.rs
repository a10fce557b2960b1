//! Graceful shutdown of the real binary on SIGTERM: `/health` turns 503 while load balancers drain,
//! the listener then stops accepting, in-flight requests finish within `SHUTDOWN_GRACE_MS` (and are
//! cut after it), workers stop, the process exits 0.

use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::binary::{Server, PROCESS_TIMEOUT};
use crate::helpers::{valid_body, TestDb};

/// Opens a connection and sends a `POST /api/streams` whose body stops halfway: the request is
/// in flight until [`finish`] sends the rest. `Expect: 100-continue` makes the server say when
/// its handler starts reading the body, so the request is known to be in flight (not merely
/// sitting in a socket buffer) before the caller goes on. Returns the connection and the
/// missing bytes.
async fn half_sent_create(base: &str) -> (TcpStream, Vec<u8>) {
    let address = base.trim_start_matches("http://");
    let body = serde_json::to_vec(&valid_body()).unwrap();
    let mut stream = TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST /api/streams HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut interim = Vec::new();
    while !interim.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(PROCESS_TIMEOUT, stream.read(&mut byte))
            .await
            .expect("100 Continue in time")
            .unwrap();
        assert_eq!(read, 1, "connection closed before 100 Continue");
        interim.push(byte[0]);
    }
    assert!(
        interim.starts_with(b"HTTP/1.1 100"),
        "{}",
        String::from_utf8_lossy(&interim)
    );
    let half = body.len() / 2;
    stream.write_all(&body[..half]).await.unwrap();
    stream.flush().await.unwrap();
    (stream, body[half..].to_vec())
}

/// Sends the rest of the body and reads the whole response (the server closes after it).
async fn finish(mut stream: TcpStream, rest: &[u8]) -> String {
    stream.write_all(rest).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(PROCESS_TIMEOUT, stream.read_to_end(&mut response))
        .await
        .expect("response in time")
        .unwrap();
    String::from_utf8_lossy(&response).into_owned()
}

/// Polls `path` on fresh connections until it answers `status` (bounded).
async fn wait_for_status(base: &str, path: &str, status: u16) -> Value {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let deadline = tokio::time::Instant::now() + PROCESS_TIMEOUT;
    loop {
        if let Ok(response) = client.get(format!("{base}{path}")).send().await {
            if response.status() == status {
                return response.json().await.unwrap();
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{path} never answered {status}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn sigterm_drains_then_finishes_in_flight_requests_and_exits_0() {
    let db = TestDb::new().await;
    let server = Server::start_with(
        &db.url(),
        &[
            ("SHUTDOWN_DRAIN_MS", "3000"),
            ("SHUTDOWN_GRACE_MS", "20000"),
        ],
    )
    .await;
    let (in_flight, rest) = half_sent_create(&server.base).await;

    server.sigterm();
    // Draining: health says 503 so load balancers stop routing, yet requests are still served.
    let health = wait_for_status(&server.base, "/health", 503).await;
    assert_eq!(health["status"], "unavailable");
    let ready = reqwest::get(format!("{}/health/ready", server.base))
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    let during_drain = reqwest::Client::new()
        .post(format!("{}/api/streams", server.base))
        .json(&valid_body())
        .send()
        .await
        .unwrap();
    assert_eq!(
        during_drain.status(),
        201,
        "requests are accepted while draining"
    );

    // Then the listener closes: new connections are refused.
    server
        .wait_for_log("shutdown requested; finishing in-flight requests")
        .await;
    let address = server.base.trim_start_matches("http://").to_string();
    let deadline = tokio::time::Instant::now() + PROCESS_TIMEOUT;
    while TcpStream::connect(&address).await.is_ok() {
        assert!(tokio::time::Instant::now() < deadline, "still accepting");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // The request that was in flight when SIGTERM arrived completes.
    let response = finish(in_flight, &rest).await;
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");

    let (exit, log) = server.wait_exit().await;
    assert!(
        exit.success(),
        "exit code 0 after a graceful shutdown, got {exit:?}"
    );
    assert!(log.iter().any(|e| e["message"] == "shutdown complete"));
    assert!(!log.iter().any(|e| e["level"] == "ERROR"), "{log:?}");
}

#[tokio::test]
async fn requests_still_in_flight_after_the_grace_period_are_cut_and_the_process_exits_0() {
    let db = TestDb::new().await;
    let server = Server::start_with(&db.url(), &[("SHUTDOWN_GRACE_MS", "300")]).await;
    let (mut in_flight, _rest) = half_sent_create(&server.base).await;

    server.sigterm();
    let (exit, log) = server.wait_exit().await;
    assert!(exit.success(), "exit code 0, got {exit:?}");
    assert!(log.iter().any(|e| e["level"] == "WARN"
        && e["message"]
            .as_str()
            .is_some_and(|m| m.contains("did not finish within the grace period"))));
    assert!(log.iter().any(|e| e["message"] == "shutdown complete"));
    // The unfinished request got no response: the connection is closed.
    let mut buffer = Vec::new();
    let read = tokio::time::timeout(PROCESS_TIMEOUT, in_flight.read_to_end(&mut buffer))
        .await
        .expect("closed in time");
    assert!(
        read.is_err() || buffer.is_empty(),
        "{}",
        String::from_utf8_lossy(&buffer)
    );
}
