//! Prometheus `/metrics`: the names are present after traffic, and `METRICS_TOKEN` protects the
//! endpoint.

use serde_json::json;

use crate::e2e_webhooks::{endpoint, spawn, Receiver};
use crate::helpers::{expect_error, TestApp, TestDb};

/// The value of the first sample line that starts with `prefix` (name and labels).
fn sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find(|line| line.starts_with(prefix))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

async fn scrape(app: &TestApp) -> String {
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    response.text().await.unwrap()
}

#[tokio::test]
async fn metrics_cover_requests_pool_indexer_and_deliveries() {
    let receiver = Receiver::start().await;
    let (app, _db) = spawn(&[]).await;
    endpoint(&app, &receiver, json!({})).await;
    let stream = app.create_stream(json!({})).await;
    let id = stream["id"].as_str().unwrap();
    assert_eq!(app.get(&format!("/api/streams/{id}")).await.status(), 200);
    assert_eq!(app.get("/no/such/route").await.status(), 404);
    receiver.wait_processed(1).await;

    // The attempt is recorded after the receiver answered: scrape until it shows.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let text = loop {
        let text = scrape(&app).await;
        let delivered = sample(
            &text,
            r#"fluxora_webhook_attempts_total{outcome="delivered"}"#,
        );
        if delivered.is_some_and(|n| n >= 1.0) || tokio::time::Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };

    // Requests by route template (never the raw id), method and status; latency histogram.
    let get_by_id =
        r#"fluxora_http_requests_total{method="GET",route="/api/streams/{id}",status="200"}"#;
    assert!(sample(&text, get_by_id).is_some_and(|n| n >= 1.0), "{text}");
    let created = r#"fluxora_http_requests_total{method="POST",route="/api/streams",status="201"}"#;
    assert!(sample(&text, created).is_some_and(|n| n >= 1.0), "{text}");
    let unmatched = r#"fluxora_http_requests_total{method="GET",route="unmatched",status="404"}"#;
    assert!(sample(&text, unmatched).is_some_and(|n| n >= 1.0), "{text}");
    assert!(!text.contains(id), "a raw stream id became a label value");
    assert!(text.contains(r#"fluxora_http_request_duration_seconds_bucket{method="GET",route="/api/streams/{id}",le="0.005"}"#), "{text}");

    // Database pool, indexer, outbox and deliveries.
    assert!(
        sample(&text, r#"fluxora_db_pool_connections{state="idle"}"#).is_some(),
        "{text}"
    );
    assert!(sample(&text, r#"fluxora_db_pool_connections{state="in_use"}"#).is_some());
    assert!(sample(&text, "fluxora_db_pool_max_connections").is_some_and(|n| n >= 1.0));
    assert_eq!(
        sample(&text, r#"fluxora_indexer_status{status="not_configured"}"#),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, r#"fluxora_indexer_status{status="healthy"}"#),
        Some(0.0)
    );
    assert_eq!(
        sample(&text, "fluxora_indexer_reorg_in_progress"),
        Some(0.0)
    );
    assert!(
        sample(&text, "fluxora_webhook_outbox_depth").is_some(),
        "{text}"
    );
    assert!(sample(&text, r#"fluxora_webhook_deliveries{status="dead"}"#).is_some());
    assert!(
        sample(
            &text,
            r#"fluxora_webhook_attempts_total{outcome="delivered"}"#
        )
        .is_some_and(|n| n >= 1.0),
        "{text}"
    );
    assert!(text.contains("fluxora_webhook_attempt_duration_seconds_bucket"));
    assert!(text.contains("fluxora_build_info{version="));
    app.stop().await;
}

#[tokio::test]
async fn metrics_token_protects_the_endpoint() {
    let db = TestDb::new().await;
    let token = "metrics-token-0123456789";
    let app = TestApp::spawn_env(&db, &[("METRICS_TOKEN", token)]).await;

    expect_error(app.get("/metrics").await, 401, "UNAUTHORIZED").await;
    let wrong = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth("metrics-token-wrong-value")
        .send()
        .await
        .unwrap();
    expect_error(wrong, 401, "UNAUTHORIZED").await;
    let right = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 200);
    let text = right.text().await.unwrap();
    assert!(text.contains("fluxora_http_requests_total"));
    assert!(!text.contains(token));
    app.stop().await;
}
