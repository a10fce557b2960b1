//! The `axum` extractor through a real server on 127.0.0.1:0, with a real HTTP client.

use std::sync::Arc;

use axum::extract::{FromRef, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use fluxora_webhooks::axum::{VerifiedWebhook, WebhookRejection};
use fluxora_webhooks::{Claim, DeliveryDedup, FixedClock, InMemoryDedup, Rejection, Verifier};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::*;

#[derive(Clone)]
struct AppState {
    verifier: Verifier,
    dedup: Arc<InMemoryDedup>,
}

impl FromRef<AppState> for Verifier {
    fn from_ref(state: &AppState) -> Verifier {
        state.verifier.clone()
    }
}

/// Hands back what the handler received.
async fn echo(webhook: VerifiedWebhook) -> Json<Value> {
    Json(json!({
        "deliveryId": webhook.delivery.delivery_id,
        "event": webhook.delivery.event,
        "timestamp": webhook.delivery.timestamp,
        "length": webhook.body.len(),
        "body": String::from_utf8_lossy(&webhook.body[..webhook.body.len().min(64)]),
    }))
}

/// The documented dedup pattern: claim, act, complete or release. A body containing `fail`
/// makes the business action fail.
async fn process(State(state): State<AppState>, webhook: VerifiedWebhook) -> Response {
    let lease = match webhook.delivery.claim(state.dedup.as_ref()).await {
        Ok(Claim::Claimed(lease)) => lease,
        Ok(Claim::Duplicate(reason)) => {
            return WebhookRejection::from(Rejection::DuplicateDelivery { reason }).into_response()
        }
        Err(_) => return axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response(),
    };
    if webhook.body.windows(4).any(|w| w == b"fail") {
        state.dedup.release(&lease).await.unwrap();
        return axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    state.dedup.complete(&lease).await.unwrap();
    Json(json!({"processed": webhook.delivery.delivery_id})).into_response()
}

/// Starts the app with `verifier` on 127.0.0.1:0; returns its base URL.
async fn serve(verifier: Verifier) -> String {
    let state = AppState {
        verifier,
        dedup: Arc::new(InMemoryDedup::new().with_clock(FixedClock(TIMESTAMP))),
    };
    let app = Router::new()
        .route("/echo", post(echo))
        .route("/process", post(process))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}")
}

async fn post_to(url: &str, headers: &[(String, Vec<u8>)], body: Vec<u8>) -> (u16, Value) {
    let mut request = reqwest::Client::new().post(url).body(body);
    for (name, value) in headers {
        request = request.header(name.as_str(), value.as_slice());
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|value| value.to_str().unwrap().to_string());
    let text = response.text().await.unwrap();
    if !text.is_empty() {
        assert_eq!(
            content_type.as_deref(),
            Some("application/json"),
            "status {status}"
        );
    }
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    };
    (status, value)
}

/// Asserts an error answer is exactly `{"error": code, "message": non-empty}`.
fn assert_error(answer: &(u16, Value), status: u16, code: &str) {
    assert_eq!(answer.0, status, "{:?}", answer.1);
    let object = answer.1.as_object().unwrap();
    assert_eq!(object.len(), 2, "{object:?}");
    assert_eq!(object["error"], code);
    assert!(!object["message"].as_str().unwrap().is_empty());
    assert!(!object["message"].as_str().unwrap().contains(SECRET));
}

#[tokio::test]
async fn a_verified_delivery_reaches_the_handler_with_its_raw_bytes() {
    let base = serve(verifier()).await;
    let answer = post_to(
        &format!("{base}/echo"),
        &signed(DELIVERY_ID, TIMESTAMP, BODY),
        BODY.to_vec(),
    )
    .await;
    assert_eq!(answer.0, 200);
    assert_eq!(
        answer.1,
        json!({"deliveryId": DELIVERY_ID, "event": "stream.updated", "timestamp": TIMESTAMP,
               "length": BODY.len(), "body": r#"{"event":"stream.updated"}"#})
    );
    // Verification happens on bytes, before any JSON parsing: a body that is not JSON at all
    // verifies and reaches the handler untouched.
    let raw = b"not json {{{ \x00\xff".to_vec();
    let answer = post_to(
        &format!("{base}/echo"),
        &signed("dlv_raw", TIMESTAMP, &raw),
        raw.clone(),
    )
    .await;
    assert_eq!(answer.0, 200);
    assert_eq!(answer.1["length"], raw.len());
}

#[tokio::test]
async fn failures_answer_the_code_and_status_of_the_table() {
    let base = serve(verifier()).await;
    let url = format!("{base}/echo");
    let good = || signed(DELIVERY_ID, TIMESTAMP, BODY);
    let unconfigured = serve(Verifier::unconfigured()).await;
    assert_error(
        &post_to(&format!("{unconfigured}/echo"), &good(), BODY.to_vec()).await,
        500,
        "missing_secret",
    );
    for (headers, status, code) in [
        (
            without(good(), "x-fluxora-delivery-id"),
            401,
            "missing_delivery_id",
        ),
        (
            without(good(), "x-fluxora-timestamp"),
            401,
            "missing_timestamp",
        ),
        (
            without(good(), "x-fluxora-signature"),
            401,
            "missing_signature",
        ),
        (
            with(good(), "x-fluxora-timestamp", b"-1"),
            400,
            "invalid_timestamp",
        ),
        (
            signed(DELIVERY_ID, TIMESTAMP - 301, BODY),
            401,
            "timestamp_outside_tolerance",
        ),
        (
            with(good(), "x-fluxora-signature", &b"0".repeat(64)),
            401,
            "signature_mismatch",
        ),
    ] {
        assert_error(&post_to(&url, &headers, BODY.to_vec()).await, status, code);
    }
    // The signature does not cover another body.
    assert_error(
        &post_to(&url, &good(), br#"{"event": "stream.updated"}"#.to_vec()).await,
        401,
        "signature_mismatch",
    );
}

#[tokio::test]
async fn bodies_up_to_262_144_bytes_are_read_and_larger_ones_refused() {
    let base = serve(verifier()).await;
    let url = format!("{base}/echo");
    let at_limit = vec![b'a'; 262_144];
    let answer = post_to(
        &url,
        &signed(DELIVERY_ID, TIMESTAMP, &at_limit),
        at_limit.clone(),
    )
    .await;
    assert_eq!(answer.0, 200);
    assert_eq!(answer.1["length"], 262_144);

    let over = vec![b'a'; 262_145];
    assert_error(
        &post_to(&url, &signed(DELIVERY_ID, TIMESTAMP, &over), over.clone()).await,
        413,
        "payload_too_large",
    );
    // Headers are checked first: a large unsigned body is refused before it is read.
    assert_error(
        &post_to(
            &url,
            &without(signed(DELIVERY_ID, TIMESTAMP, &over), "x-fluxora-signature"),
            over,
        )
        .await,
        401,
        "missing_signature",
    );
}

/// A chunked body (no Content-Length) is counted as it arrives.
#[tokio::test]
async fn chunked_bodies_are_limited_too() {
    let base = serve(verifier()).await;
    let address = base.trim_start_matches("http://").to_string();
    let send = |chunks: Vec<Vec<u8>>| {
        let address = address.clone();
        async move {
            let body: Vec<u8> = chunks.concat();
            let signature = fluxora_webhooks::sign(SECRET.as_bytes(), TIMESTAMP, &body);
            let mut request = format!(
                "POST /echo HTTP/1.1\r\nHost: {address}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\
                 x-fluxora-delivery-id: {DELIVERY_ID}\r\nx-fluxora-timestamp: {TIMESTAMP}\r\nx-fluxora-signature: {signature}\r\n\r\n"
            )
            .into_bytes();
            for chunk in &chunks {
                request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                request.extend_from_slice(chunk);
                request.extend_from_slice(b"\r\n");
            }
            request.extend_from_slice(b"0\r\n\r\n");
            let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
            stream.write_all(&request).await.unwrap();
            let mut response = Vec::new();
            let _ = stream.read_to_end(&mut response).await;
            String::from_utf8_lossy(&response).to_string()
        }
    };
    let response = send(vec![vec![b'a'; 131_072], vec![b'b'; 131_072]]).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let response = send(vec![vec![b'a'; 131_072], vec![b'b'; 131_073]]).await;
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(
        response.contains(r#""error":"payload_too_large""#),
        "{response}"
    );
}

/// Deduplication in the handler: claim, act, complete on success or release on failure.
#[tokio::test]
async fn the_handler_dedups_and_only_successes_are_remembered() {
    let base = serve(verifier()).await;
    let url = format!("{base}/process");
    let first = signed(DELIVERY_ID, TIMESTAMP, BODY);
    assert_eq!(post_to(&url, &first, BODY.to_vec()).await.0, 200);
    // The same delivery again (the sender's retry after a lost 200): 409 duplicate.
    let retry = signed(DELIVERY_ID, TIMESTAMP + 1, BODY);
    assert_error(
        &post_to(&url, &retry, BODY.to_vec()).await,
        409,
        "duplicate_delivery",
    );
    // The same signed request replayed under a fresh id: 409 too.
    let replay = with(first, "x-fluxora-delivery-id", b"dlv_fresh");
    assert_error(
        &post_to(&url, &replay, BODY.to_vec()).await,
        409,
        "duplicate_delivery",
    );

    // A failing business action is released, so the retry processes it.
    let failing = br#"{"event":"stream.updated","fail":true}"#;
    let answer = post_to(&url, &signed("dlv_2", TIMESTAMP, failing), failing.to_vec()).await;
    assert_eq!(answer.0, 500);
    let ok_body = br#"{"event":"stream.updated"}   "#;
    let answer = post_to(
        &url,
        &signed("dlv_2", TIMESTAMP + 5, ok_body),
        ok_body.to_vec(),
    )
    .await;
    assert_eq!(answer, (200, json!({"processed": "dlv_2"})));
}
