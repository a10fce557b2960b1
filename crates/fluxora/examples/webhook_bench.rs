//! Webhook delivery benchmark: deliveries/s to a local receiver, and commit-to-delivery latency at
//! a fixed event rate (goals: ≥ 2 000 deliveries/s, p99 < 100 ms at 200 events/s; results in
//! `docs/benchmarks.md`).
//!
//! ```sh
//! [WEBHOOK_CONCURRENCY=32] cargo run --release -p fluxora --example webhook_bench -- \
//!     [DATABASE_URL] [EVENTS] [RATE] [SECONDS]
//! ```
//!
//! Throughput: `EVENTS` events (one delivery each) are queued in the outbox before the service
//! starts; the time from start until the receiver has them all gives deliveries/s. Latency:
//! streams are created through the API at `RATE` per second for `SECONDS`; each delivery's latency
//! is its arrival time at the receiver minus the stream's `createdAt` (the commit, same clock).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use axum::Router;
use fluxora::app::Application;
use fluxora::config::Config;
use fluxora::webhooks::OutboxEvent;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

type Arrivals = Arc<Mutex<Vec<(Value, i64)>>>;

async fn receive(State(arrivals): State<Arrivals>, body: Bytes) -> &'static str {
    let now = chrono::Utc::now().timestamp_millis();
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    arrivals.lock().unwrap().push((parsed, now));
    "{}"
}

fn config(database_url: &str) -> Config {
    let concurrency = std::env::var("WEBHOOK_CONCURRENCY").unwrap_or_else(|_| "32".into());
    let vars = [
        ("WEBHOOK_CONCURRENCY", concurrency.as_str()),
        ("HOST", "127.0.0.1"),
        ("PORT", "0"),
        ("DATABASE_URL", database_url),
        ("ADMIN_TOKEN", "bench-admin-token-0123456789"),
        ("WEBHOOK_SSRF_ALLOWLIST", "127.0.0.1"),
        ("LOG_LEVEL", "warn"),
        // The latency phase creates 200 streams/s from one client IP: above the default limit.
        ("RATE_LIMIT_ENABLED", "false"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    Config::from_vars(&vars).expect("config")
}

fn percentile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = tempfile::tempdir().unwrap();
    let default_url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let database_url = args.get(1).cloned().unwrap_or(default_url);
    let events: usize = args.get(2).and_then(|v| v.parse().ok()).unwrap_or(5000);
    let rate: u64 = args.get(3).and_then(|v| v.parse().ok()).unwrap_or(200);
    let seconds: u64 = args.get(4).and_then(|v| v.parse().ok()).unwrap_or(10);

    // The receiver.
    let arrivals: Arrivals = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let receiver_url = format!("http://{}/hook", listener.local_addr().unwrap());
    let app = Router::new()
        .route("/hook", post(receive))
        .with_state(arrivals.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    // Throughput: queue the events first, through the store, then start the service.
    let database = fluxora::store::open(&config(&database_url).database)
        .await
        .unwrap();
    let store = fluxora::webhooks::repo::WebhookRepository::new(database.clone());
    let now = chrono::Utc::now().timestamp_millis();
    store
        .create_endpoint(&fluxora::webhooks::Endpoint::new(
            receiver_url.clone(),
            Some("bench".into()),
            vec![],
            true,
            fluxora::secret::Secret::new("bench-secret-0123456789abcdef0123"),
            now,
        ))
        .await
        .unwrap();
    for i in 0..events {
        let event = OutboxEvent::new(
            "webhook.test",
            None,
            fluxora::webhooks::event_data(&json!({"n": i})),
            now,
        );
        store.enqueue_event(&event, None).await.unwrap();
    }
    database.close().await;

    let app = Application::build(config(&database_url)).await.unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    let server = tokio::spawn(async move { app.run_until_stopped(token).await.unwrap() });
    let started = Instant::now();
    while arrivals.lock().unwrap().len() < events {
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "drain timed out"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let drain = started.elapsed();
    println!(
        "throughput: {events} deliveries in {:.2} s = {:.0} deliveries/s",
        drain.as_secs_f64(),
        events as f64 / drain.as_secs_f64()
    );
    arrivals.lock().unwrap().clear();

    // Latency at a fixed rate: open loop, one create every 1/rate s.
    let client = reqwest::Client::new();
    let body = json!({
        "sender": "GDZRFKVP6KLHXBBGN2V2CTIXMXHDO4CXSNACORM74XZZ426OVU4YFLBV",
        "recipient": "GBLXWU5HZZ3JZKPYES2C3EWY2ZRIGII6XJP3FCWXDWF5AP55JWVFTKWA",
        "depositAmount": "1000",
        "ratePerSecond": "0.001",
    });
    let total = (rate * seconds) as usize;
    let mut ticker = tokio::time::interval(Duration::from_micros(1_000_000 / rate.max(1)));
    let mut requests = Vec::with_capacity(total);
    for _ in 0..total {
        ticker.tick().await;
        let client = client.clone();
        let url = format!("{base}/api/streams");
        let body = body.clone();
        requests.push(tokio::spawn(async move {
            client
                .post(url)
                .json(&body)
                .send()
                .await
                .map(|r| r.status().as_u16())
        }));
    }
    for request in requests {
        assert_eq!(request.await.unwrap().unwrap(), 201);
    }
    let waited = Instant::now();
    while arrivals.lock().unwrap().len() < total {
        assert!(
            waited.elapsed() < Duration::from_secs(120),
            "latency run timed out"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut latencies: Vec<i64> = arrivals
        .lock()
        .unwrap()
        .iter()
        .filter_map(|(body, arrived)| {
            let created = body["data"]["createdAt"].as_str()?;
            let created = chrono::DateTime::parse_from_rfc3339(created)
                .ok()?
                .timestamp_millis();
            Some(arrived - created)
        })
        .collect();
    latencies.sort_unstable();
    println!(
        "latency at {rate} events/s for {seconds} s ({} deliveries): p50 {} ms, p99 {} ms, max {} ms",
        latencies.len(),
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or(0)
    );
    shutdown.cancel();
    server.await.unwrap();
}
